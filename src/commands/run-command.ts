/**
 * Running helper programs: qemu-ga's ga_run_command (guest-shutdown, guest-set-user-password, the
 * fsfreeze hook, ...), and the two pieces guest-exec shares with it: the program search that
 * execvp/g_spawn do, and a channel that stdout and stderr can both write into.
 *
 * ga_run_command (qemu >= 9.1): the child gets its own session (setsid), stdin from the given
 * string through a pipe or from /dev/null, stdout and stderr both into one pipe; the parent writes
 * the input, reads all output, waits, and turns a failure into one of the texts of reference §2.3.
 * A program that cannot be executed is reported the way upstream's child reports it: the
 * perror() line `failed to exec '<prog>': <strerror>\n` as the output of a run that exited 1.
 */
import * as childProcess from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { constants as fsConstants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import type { Writable } from 'node:stream';
import { Errors, strerror } from '../protocol/errors';

export type SpawnFunction = typeof childProcess.spawn;

/** glibc execvp's search path when PATH is unset (confstr(_CS_PATH)). */
export const LIBC_DEFAULT_PATH = '/bin:/usr/bin';
/** GLib g_spawn's search path when neither environment has PATH; "." last, as GLib puts it. */
export const GLIB_DEFAULT_PATH = '/bin:/usr/bin:.';

// ---------------------------------------------------------------------------------------------
// Program search

/** The two file-system questions the search asks; injectable for tests. */
export interface ProgramSearchFs {
  stat(path: string): Promise<{ isFile(): boolean }>;
  access(path: string, mode: number): Promise<void>;
}

const realSearchFs: ProgramSearchFs = { stat: (p) => fsp.stat(p), access: (p, m) => fsp.access(p, m) };

export type ProgramLookup = { path: string } | { errorCode: string };

/** errno values on which execvp and g_spawn move on to the next PATH entry. */
const TRY_NEXT = new Set(['ENOENT', 'ENOTDIR', 'ESTALE', 'ENODEV', 'ETIMEDOUT']);

/**
 * execvp's walk over PATH, answered with stat/access instead of trying execve on each entry: a
 * name with a slash is used as it is; otherwise the first regular, executable file wins; an empty
 * PATH element means the current directory; if nothing runs, EACCES when some entry existed but
 * could not be executed, else ENOENT.
 */
export async function searchProgram(file: string, searchPath: string, fs: ProgramSearchFs = realSearchFs): Promise<ProgramLookup> {
  if (file === '') return { errorCode: 'ENOENT' };
  if (file.includes('/')) return { path: file };
  let sawEacces = false;
  for (const dir of searchPath.split(':')) {
    // Node would search PATH again for a bare name, so the current directory is spelled "./".
    const candidate = dir === '' ? `./${file}` : `${dir.replace(/\/+$/, '')}/${file}`;
    let isFile: boolean;
    try {
      isFile = (await fs.stat(candidate)).isFile();
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'EACCES') sawEacces = true;
      else if (!TRY_NEXT.has(code)) return { errorCode: code };
      continue;
    }
    try {
      if (!isFile) throw Object.assign(new Error('not a regular file'), { code: 'EACCES' });
      await fs.access(candidate, fsConstants.X_OK);
      return { path: candidate };
    } catch {
      sawEacces = true;
    }
  }
  return { errorCode: sawEacces ? 'EACCES' : 'ENOENT' };
}

// ---------------------------------------------------------------------------------------------
// Spawning

export interface SpawnRequest {
  /** argv[0] as the caller gave it: what the child sees and what error messages name */
  file: string;
  args: readonly string[];
  /** PATH to search for a name without a slash */
  searchPath: string;
  /** the whole environment; the agent's when absent */
  env?: NodeJS.ProcessEnv;
  stdio: childProcess.StdioOptions;
  /** setsid() in the child */
  detached?: boolean;
}

export type SpawnOutcome = { child: childProcess.ChildProcess } | { errorCode: string };

/** Errors that come from fork() rather than from exec(). */
const FORK_ERRORS = new Set(['EAGAIN', 'ENOMEM']);

export function isForkError(code: string): boolean {
  return FORK_ERRORS.has(code);
}

/**
 * Search, then spawn. Like execvp and g_spawn, a file the kernel does not recognise (ENOEXEC) is
 * run again as a /bin/sh script. Resolves with the child, or with the errno code of a failure
 * (Node reports some synchronously, some as an 'error' event; both end up here).
 */
export async function spawnProgram(
  spawn: SpawnFunction,
  req: SpawnRequest,
  searchFs: ProgramSearchFs = realSearchFs,
): Promise<SpawnOutcome> {
  const found = await searchProgram(req.file, req.searchPath, searchFs);
  if ('errorCode' in found) return found;
  const first = await spawnOnce(spawn, found.path, req.args, req.file, req);
  if ('errorCode' in first && first.errorCode === 'ENOEXEC') {
    return spawnOnce(spawn, '/bin/sh', [found.path, ...req.args], '/bin/sh', req);
  }
  return first;
}

async function spawnOnce(
  spawn: SpawnFunction,
  file: string,
  args: readonly string[],
  argv0: string,
  req: SpawnRequest,
): Promise<SpawnOutcome> {
  let child: childProcess.ChildProcess;
  try {
    child = spawn(file, [...args], {
      argv0,
      stdio: req.stdio,
      detached: req.detached ?? false,
      ...(req.env ? { env: req.env } : {}),
    });
  } catch (e) {
    return { errorCode: errnoCode(e) };
  }
  if (child.pid === undefined) {
    const [err] = (await once(child, 'error')) as [unknown];
    child.stdin?.destroy();
    child.stdout?.destroy();
    child.stderr?.destroy();
    return { errorCode: errnoCode(err) };
  }
  // Later 'error' events (a failed kill, a broken stdio stream) must not crash the agent.
  child.on('error', () => undefined);
  return { child };
}

export function errnoCode(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

// ---------------------------------------------------------------------------------------------
// One channel for stdout and stderr

/**
 * Two connected sockets: the child gets `writer` as both stdout and stderr (so their order is
 * kept, as with qemu-ga's dup2), the agent reads `reader`. Node offers neither pipe(2) nor
 * socketpair(2) to JavaScript, but its own child stdio "pipes" are AF_UNIX socket pairs too, so a
 * child sees the same kind of fd either way.
 *
 * The pair is made through a listener on a random Linux abstract-namespace name, which touches no
 * file system (nothing blocks while filesystems are frozen). Any local process could connect to
 * that name, so the agent's own connection proves itself with a random token before it is used.
 * The reader comes back paused: attach listeners, then resume() it.
 */
export interface MergedOutput {
  writer: net.Socket;
  reader: net.Socket;
}

const TOKEN_BYTES = 16;
const PAIR_TIMEOUT_MS = 5000;

export function openMergedOutput(): Promise<MergedOutput> {
  return new Promise((resolve, reject) => {
    const token = randomBytes(TOKEN_BYTES);
    const name = `\0qga-ts-${randomBytes(16).toString('hex')}`;
    let writer: net.Socket | null = null;
    let settled = false;
    const finish = (err: Error | null, reader?: net.Socket) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      server.close();
      if (err || !reader || !writer) {
        writer?.destroy();
        reader?.destroy();
        reject(err ?? new Error('socket pair not established'));
        return;
      }
      resolve({ writer, reader });
    };
    const timer = setTimeout(() => finish(new Error('socket pair timed out')), PAIR_TIMEOUT_MS);
    const server = net.createServer({ pauseOnConnect: false }, (conn) => {
      let got = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        got = Buffer.concat([got, chunk]);
        if (got.length < TOKEN_BYTES) return;
        conn.off('data', onData);
        conn.pause();
        if (got.length === TOKEN_BYTES && got.equals(token) && !settled) finish(null, conn);
        else conn.destroy();
      };
      conn.on('data', onData);
      conn.on('error', () => conn.destroy());
    });
    server.on('error', (e) => finish(e));
    server.listen(name, () => {
      const w = net.connect(name, () => w.write(token));
      w.on('error', (e) => finish(e));
      writer = w;
    });
  });
}

// ---------------------------------------------------------------------------------------------
// ga_run_command

/**
 * Run argv[0] (searched in the agent's PATH) with argv, `input` on stdin (or /dev/null when null)
 * and stdout+stderr captured together; resolve with the exit status (0) or throw the qemu-ga error
 * for the failure. `action` completes "child process has failed to <action>".
 */
export type CommandRunner = (argv: readonly string[], input: Buffer | string | null, action: string) => Promise<number>;

export interface CommandRunnerOptions {
  spawn?: SpawnFunction;
  /** the agent's PATH (execvp's default when unset) */
  searchPath?: () => string;
  openMergedOutput?: () => Promise<MergedOutput>;
  searchFs?: ProgramSearchFs;
  /**
   * How long to keep reading after the program has exited. Upstream reads to EOF before waiting,
   * so a daemon that inherits the pipe hangs qemu-ga for good; here output arriving later than
   * this is dropped and the result is decided on what was read.
   */
  outputGraceMs?: number;
}

/** Output kept for the error text; upstream keeps all of it, which only ends up in one message. */
const MAX_RUN_OUTPUT = 1024 * 1024;

export function createCommandRunner(opts: CommandRunnerOptions = {}): CommandRunner {
  const spawn = opts.spawn ?? childProcess.spawn;
  const searchPath = opts.searchPath ?? (() => process.env.PATH ?? LIBC_DEFAULT_PATH);
  const openOutput = opts.openMergedOutput ?? openMergedOutput;
  const graceMs = opts.outputGraceMs ?? 5000;

  return async (argv, input, action) => {
    const file = argv[0] ?? '';
    let out: MergedOutput;
    try {
      out = await openOutput();
    } catch {
      throw Errors.cannotCreatePipe();
    }
    const spawned = await spawnProgram(
      spawn,
      {
        file,
        args: argv.slice(1),
        searchPath: searchPath(),
        stdio: [input === null ? 'ignore' : 'pipe', out.writer, out.writer],
        detached: true,
      },
      opts.searchFs,
    );
    // The child has its own copies now; ours would keep the reader from ever seeing EOF.
    out.writer.destroy();
    if ('errorCode' in spawned) {
      out.reader.destroy();
      if (isForkError(spawned.errorCode)) throw Errors.childProcessCreateFailed(spawned.errorCode);
      throw Errors.childProcessFailed(action, `failed to exec '${file}': ${strerror(spawned.errorCode)}\n`);
    }
    const child = spawned.child;

    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const stdinDone = input === null ? Promise.resolve(null) : writeAll(child.stdin!, input);
    const collected = collectOutput(out.reader);

    const [stdinError, status] = await Promise.all([stdinDone, exited]);
    const output = await Promise.race([collected.done, delay(graceMs).then(() => collected.stop())]);
    out.reader.destroy();

    if (stdinError) throw Errors.childStdinWriteFailed(action, stdinError);
    if (output.error) throw Errors.childOutputReadFailed(action, output.error);
    const text = outputText(output.data);
    if (status.code === null) throw Errors.childProcessAbnormal(text);
    if (status.code !== 0) {
      throw text.length > 0 ? Errors.childProcessFailed(action, text) : Errors.childProcessExitStatus(action, status.code);
    }
    return 0;
  };
}

function writeAll(stream: Writable, data: Buffer | string): Promise<unknown> {
  return new Promise((resolve) => {
    let failed: unknown = null;
    stream.on('error', (e: unknown) => {
      failed ??= e;
      resolve(failed);
    });
    stream.end(typeof data === 'string' ? Buffer.from(data, 'utf8') : data, () => resolve(failed));
  });
}

interface CollectedOutput {
  data: Buffer;
  error: unknown;
}

function collectOutput(reader: net.Socket): { done: Promise<CollectedOutput>; stop: () => CollectedOutput } {
  const chunks: Buffer[] = [];
  let size = 0;
  let error: unknown = null;
  const snapshot = (): CollectedOutput => ({ data: Buffer.concat(chunks, size), error });
  const done = new Promise<CollectedOutput>((resolve) => {
    reader.on('data', (chunk: Buffer) => {
      const room = MAX_RUN_OUTPUT - size;
      if (room <= 0) return;
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      chunks.push(part);
      size += part.length;
    });
    reader.on('end', () => resolve(snapshot()));
    reader.on('error', (e) => {
      error = e;
      resolve(snapshot());
    });
    reader.on('close', () => resolve(snapshot()));
    reader.resume();
  });
  return { done, stop: snapshot };
}

/** The output as upstream prints it with %s: up to the first NUL byte. */
function outputText(data: Buffer): string {
  const nul = data.indexOf(0);
  return (nul >= 0 ? data.subarray(0, nul) : data).toString('utf8');
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
