/**
 * guest-exec and guest-exec-status (reference §4.3): start a program without waiting for it,
 * collect its output in the background, and report its end once.
 *
 * As qemu-ga (GLib g_spawn_async_with_pipes with SEARCH_PATH | SEARCH_PATH_FROM_ENVP): argv is
 * [path] + arg with argv[0] exactly as given; a name without a slash is searched in the PATH of
 * `env` when that has one, else in the agent's PATH; `env` replaces the whole environment; stdin
 * is the decoded input-data through a pipe, written without blocking and then closed, or
 * /dev/null; the child's SIGPIPE is the default (Node's libuv resets every signal in the child);
 * nothing else happens in the child (no setsid, as upstream). A spawn failure is this command's
 * error, with GLib's text.
 *
 * capture-output: false/"none" sends stdout and stderr to /dev/null; true/"separated" captures
 * both; "stdout" captures stdout and sends stderr to /dev/null, "stderr" the reverse (the
 * documented intent; see reference §4.3 for what GLib really does there); "merged" gives stdout
 * and stderr one shared channel whose data is out-data.
 */
import * as childProcess from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { Readable } from 'node:stream';
import type { QgaCommandHandlers } from '../generated/qga-commands';
import type { GuestExecCaptureOutputArg, GuestExecCaptureOutputMode } from '../generated/qga-types';
import { Errors } from '../protocol/errors';
import { decodeQemuBase64 } from '../protocol/qemu-base64';
import type { ExecProcess, ProcessTable } from '../state/process-table';
import {
  GLIB_DEFAULT_PATH,
  errnoCode,
  isForkError,
  openMergedOutput,
  spawnProgram,
  type MergedOutput,
  type ProgramSearchFs,
  type SpawnFunction,
} from './run-command';

export interface ExecDeps {
  /** the agent's one process table (main.ts makes it) */
  processTable: ProcessTable;
  spawn: SpawnFunction;
  /** the agent's own PATH, searched when `env` has none */
  agentPath: () => string | undefined;
  /** the shared stdout+stderr channel of "merged" */
  openMergedOutput: () => Promise<MergedOutput>;
  /** stat/access for the PATH search; the real file system when absent */
  searchFs?: ProgramSearchFs;
}

export function defaultExecDeps(processTable: ProcessTable): ExecDeps {
  return {
    processTable,
    spawn: childProcess.spawn,
    agentPath: () => process.env.PATH,
    openMergedOutput,
  };
}

export function createExecHandlers(deps: ExecDeps) {
  return {
    'guest-exec-status': (args) => {
      const status = deps.processTable.status(args.pid);
      if (status === null) throw Errors.execPidNotFound(args.pid);
      return status;
    },

    'guest-exec': async (args, ctx) => {
      const input = args['input-data'] !== undefined ? decodeQemuBase64(args['input-data']) : null;
      const mode = captureMode(args['capture-output']);
      const env = args.env !== undefined ? environmentFromList(args.env) : undefined;
      const searchPath = env?.PATH ?? deps.agentPath() ?? GLIB_DEFAULT_PATH;

      let merged: MergedOutput | null = null;
      if (mode === 'merged') {
        try {
          merged = await deps.openMergedOutput();
        } catch (e) {
          throw Errors.execPipeFailed(errnoCode(e));
        }
      }
      const stdout = merged ? merged.writer : mode === 'separated' || mode === 'stdout' ? 'pipe' : 'ignore';
      const stderr = merged ? merged.writer : mode === 'separated' || mode === 'stderr' ? 'pipe' : 'ignore';

      const spawned = await spawnProgram(
        deps.spawn,
        {
          file: args.path,
          args: args.arg ?? [],
          searchPath,
          ...(env ? { env } : {}),
          stdio: [input ? 'pipe' : 'ignore', stdout, stderr],
        },
        deps.searchFs,
      );
      // The child holds its own copy of the shared channel; ours would hide its EOF.
      merged?.writer.destroy();
      if ('errorCode' in spawned) {
        merged?.reader.destroy();
        throw isForkError(spawned.errorCode) ? Errors.execForkFailed(spawned.errorCode) : Errors.execChildFailed(args.path, spawned.errorCode);
      }
      const child = spawned.child;
      const pid = child.pid!;
      const proc = deps.processTable.register(pid, {
        out: mode === 'separated' || mode === 'stdout' || mode === 'merged',
        err: mode === 'separated' || mode === 'stderr',
      });

      child.once('exit', (code, signal) =>
        proc.setExited({ code, signal: signal === null ? null : (osConstants.signals[signal] ?? null) }),
      );
      if (merged) collect(merged.reader, proc, 'out');
      else {
        if (child.stdout) collect(child.stdout, proc, 'out');
        if (child.stderr) collect(child.stderr, proc, 'err');
      }
      if (input && child.stdin) {
        // A child that exits without reading its input is no error of guest-exec's.
        child.stdin.on('error', () => undefined);
        child.stdin.end(input);
      }
      ctx.log.info({ pid, path: args.path, capture: mode }, 'guest-exec started a process');
      return { pid };
    },
  } satisfies Pick<QgaCommandHandlers, 'guest-exec' | 'guest-exec-status'>;
}

/** Feed a captured stream into the table entry until EOF (or an error, which ends it as well). */
function collect(stream: Readable, proc: ExecProcess, which: 'out' | 'err'): void {
  const append = which === 'out' ? (c: Buffer) => proc.appendOut(c) : (c: Buffer) => proc.appendErr(c);
  const close = which === 'out' ? () => proc.closeOut() : () => proc.closeErr();
  stream.on('data', append);
  stream.once('end', close);
  stream.once('close', close);
  stream.on('error', () => {
    close();
    stream.destroy();
  });
  stream.resume();
}

/** capture-output as qemu-ga ≥ 8.1 reads it: absent = none, a bool = separated or none. */
export function captureMode(arg: GuestExecCaptureOutputArg | undefined): GuestExecCaptureOutputMode {
  if (arg === undefined) return 'none';
  if (typeof arg === 'boolean') return arg ? 'separated' : 'none';
  return arg;
}

/**
 * `env` as Node wants it. execve would get the list as it is; Node needs NAME=value pairs, so an
 * entry without "=" is left out, and for a repeated name the first one counts, as getenv() would
 * find it first.
 */
export function environmentFromList(list: readonly string[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = Object.create(null) as NodeJS.ProcessEnv;
  for (const entry of list) {
    const eq = entry.indexOf('=');
    if (eq <= 0) continue;
    const name = entry.slice(0, eq);
    if (!(name in env)) env[name] = entry.slice(eq + 1);
  }
  return env;
}
