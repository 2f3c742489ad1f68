/**
 * Side-by-side benchmark: Debian's qemu-ga and qga-ts on unix-listen, one client, one run.
 * Measures start-up to the first sync reply (with bare `node -e 0` as the floor), idle RSS,
 * sequential ping round trip and pipelined pings per second, and reports ratios.
 *
 *   node dist/bench/run.js [--quick] [--write bench/RESULTS.md]
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const REPO = findRoot(__dirname);
const QEMU_GA = '/usr/sbin/qemu-ga';
const QGA_TS = path.join(REPO, 'bin', 'qga-ts');

function findRoot(start: string): string {
  let dir = start;
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

interface Agent {
  name: string;
  argv: string[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
}

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-bench-'));
  fs.mkdirSync(path.join(d, 'state'));
  return d;
}

function connect(sock: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(sock);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves when `count` newlines have arrived on the socket. */
function awaitLines(s: net.Socket, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const onData = (d: Buffer) => {
      for (const b of d) if (b === 0x0a) seen++;
      if (seen >= count) {
        s.off('data', onData);
        resolve();
      }
    };
    s.on('data', onData);
  });
}

async function startAgent(agent: Agent) {
  const dir = tempDir();
  const sock = path.join(dir, 'qga.sock');
  const t0 = process.hrtime.bigint();
  const proc = spawn(agent.argv[0]!, [...agent.argv.slice(1), '-m', 'unix-listen', '-p', sock, '-t', path.join(dir, 'state')], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', QGA_CONF: path.join(dir, 'none.conf') },
    stdio: 'ignore',
  });
  let s: net.Socket | null = null;
  for (;;) {
    try {
      s = await connect(sock);
      break;
    } catch {
      await new Promise((r) => setImmediate(r));
    }
    if (Number(process.hrtime.bigint() - t0) > 20e9) throw new Error(`${agent.name} did not start`);
  }
  const lines = awaitLines(s, 1);
  s.write('{"execute":"guest-sync","arguments":{"id":1}}');
  await lines;
  const startupMs = Number(process.hrtime.bigint() - t0) / 1e6;
  return { proc, sock, socket: s, dir, startupMs };
}

function rssKb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
}

async function measure(agent: Agent, quick: boolean) {
  const startups: number[] = [];
  const runs = quick ? 3 : 7;
  for (let i = 0; i < runs; i++) {
    const a = await startAgent(agent);
    startups.push(a.startupMs);
    a.socket.destroy();
    a.proc.kill('SIGKILL');
    fs.rmSync(a.dir, { recursive: true, force: true });
  }
  const a = await startAgent(agent);
  await new Promise((r) => setTimeout(r, 500));
  const idleRss = rssKb(a.proc.pid!);

  // sequential round trips
  const rtts: number[] = [];
  const n = quick ? 500 : 3000;
  for (let i = 0; i < n; i++) {
    const t = process.hrtime.bigint();
    const done = awaitLines(a.socket, 1);
    a.socket.write('{"execute":"guest-ping"}');
    await done;
    rtts.push(Number(process.hrtime.bigint() - t) / 1e3);
  }

  // pipelined: many pings in large writes
  const total = quick ? 20000 : 100000;
  const batch = Buffer.from('{"execute":"guest-ping"}'.repeat(1000));
  const t = process.hrtime.bigint();
  const all = awaitLines(a.socket, total);
  for (let i = 0; i < total / 1000; i++) a.socket.write(batch);
  await all;
  const pipelinedPerSec = total / (Number(process.hrtime.bigint() - t) / 1e9);
  const rssAfter = rssKb(a.proc.pid!);
  a.socket.destroy();
  a.proc.kill('SIGKILL');
  fs.rmSync(a.dir, { recursive: true, force: true });
  return { startupMs: median(startups), idleRssKb: idleRss, rttUs: median(rtts), rttP99Us: percentile(rtts, 0.99), pipelinedPerSec, rssAfterKb: rssAfter };
}

function bareNode() {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = process.hrtime.bigint();
    spawnSync(process.execPath, ['-e', '0']);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  return new Promise<{ startupMs: number; rssKb: number }>((resolve) =>
    setTimeout(() => {
      const rss = rssKb(p.pid!);
      p.kill('SIGKILL');
      resolve({ startupMs: median(times), rssKb: rss });
    }, 500),
  );
}

async function main() {
  const quick = process.argv.includes('--quick');
  const writeIdx = process.argv.indexOf('--write');
  if (!fs.existsSync(QEMU_GA)) {
    console.log(`benchmark skipped: ${QEMU_GA} is not installed (apt-get install qemu-guest-agent)`);
    return;
  }
  const node = await bareNode();
  const qemu = await measure({ name: 'qemu-ga', argv: [QEMU_GA] }, quick);
  const ours = await measure({ name: 'qga-ts', argv: [process.execPath, QGA_TS] }, quick);
  const f = (x: number, d = 1) => x.toFixed(d);
  const rows = [
    ['start-up to first sync reply (ms)', f(qemu.startupMs), f(ours.startupMs), f(ours.startupMs / qemu.startupMs, 2), `bare node -e 0: ${f(node.startupMs)} ms`],
    ['idle RSS (MB)', f(qemu.idleRssKb / 1024), f(ours.idleRssKb / 1024), f(ours.idleRssKb / qemu.idleRssKb, 2), `bare node: ${f(node.rssKb / 1024)} MB`],
    ['ping round trip, median (µs)', f(qemu.rttUs), f(ours.rttUs), f(ours.rttUs / qemu.rttUs, 2), 'target ≤ 1.2×'],
    ['ping round trip, p99 (µs)', f(qemu.rttP99Us), f(ours.rttP99Us), f(ours.rttP99Us / qemu.rttP99Us, 2), ''],
    ['pipelined pings per second', f(qemu.pipelinedPerSec, 0), f(ours.pipelinedPerSec, 0), f(ours.pipelinedPerSec / qemu.pipelinedPerSec, 2), 'target ≥ 1.5×'],
    ['RSS after the run (MB)', f(qemu.rssAfterKb / 1024), f(ours.rssAfterKb / 1024), f(ours.rssAfterKb / qemu.rssAfterKb, 2), ''],
  ];
  const table =
    `| metric | qemu-ga 7.2 | qga-ts | ratio (qga-ts / qemu-ga) | note |\n|---|---|---|---|---|\n` +
    rows.map((r) => `| ${r.join(' | ')} |`).join('\n') +
    '\n';
  const header = `Run ${new Date().toISOString()} on ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}${quick ? ' (--quick)' : ''}.\n\n`;
  process.stdout.write(header + table);
  if (writeIdx > 0) {
    const out = process.argv[writeIdx + 1] ?? path.join(REPO, 'bench', 'RESULTS.md');
    fs.writeFileSync(out, `# Benchmark results\n\nProduced by \`npm run bench\` (bench/run.ts): both agents on unix-listen, one client.\n\n${header}${table}`);
  }
}

void main();
