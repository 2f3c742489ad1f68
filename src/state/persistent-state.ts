/**
 * `<statedir>/qga.state`: what qemu-ga keeps across restarts, a GLib keyfile holding the counter
 * that numbers file handles (reference §4.1):
 *
 *     [global]
 *     fd_counter=1000
 *
 * The counter starts at 1000. Each open takes its value as the handle, increments it, and writes
 * the file again before the handle is handed out, so a handle is never reused, not even by a
 * restarted agent. A failed write fails the open, but the counter stays incremented, as in
 * qemu-ga (the next open skips that number).
 *
 * Reading follows qemu-ga: the file is read with GLib's keyfile rules, and `fd_counter` with
 * g_key_file_get_integer, so a value that is not a C int reads as 0 (observed with qemu-ga 7.2:
 * `fd_counter=abc` and `fd_counter=9223372036854775806` both give handle 0 next). Writing always
 * produces a fresh file with just that one group, as g_key_file_to_data of a new keyfile does.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { KeyFileError, parseKeyFile } from '../config/keyfile';
import { strerror } from '../protocol/errors';

export const PERSISTENT_STATE_FILE = 'qga.state';
/** QGA_PSTATE_DEFAULT_FD_COUNTER */
export const DEFAULT_FD_COUNTER = 1000n;
/** qemu-ga aborts rather than let the counter reach INT64_MAX; we refuse the open instead. */
const FD_COUNTER_LIMIT = (1n << 63n) - 1n;

/** The system calls the state file needs; tests inject failures. */
export interface StateFileIo {
  /** Rejects with an ENOENT error when the file does not exist. */
  readFile(file: string): Promise<Buffer>;
  /** open(O_WRONLY|O_CREAT|O_EXCL, mode): the umask applies, as for GLib's temp file. */
  createExclusive(file: string, mode: number): Promise<number>;
  writeAll(fd: number, data: Buffer): Promise<void>;
  fsync(fd: number): Promise<void>;
  close(fd: number): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
  /** A fresh suffix for the temp file next to the state file. */
  tempSuffix(): string;
}

const fsOpen = promisify(fs.open);
const fsWrite = promisify(fs.write);
const fsFsync = promisify(fs.fsync);
const fsClose = promisify(fs.close);
// The callback API, not fs.promises: that module is not otherwise loaded at start-up, when the
// first start writes the file.
const fsRename = promisify(fs.rename);
const fsUnlink = promisify(fs.unlink);

export function defaultStateFileIo(): StateFileIo {
  return {
    // Read once at start-up, before the first reply: a synchronous read of a 25-byte file is
    // cheaper than starting the thread pool on the critical path.
    readFile: async (file) => fs.readFileSync(file),
    createExclusive: (file, mode) =>
      fsOpen(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode),
    writeAll: async (fd, data) => {
      for (let done = 0; done < data.length; ) {
        const { bytesWritten } = await fsWrite(fd, data, done, data.length - done, null);
        done += bytesWritten;
      }
    },
    fsync: (fd) => fsFsync(fd),
    close: (fd) => fsClose(fd),
    rename: (from, to) => fsRename(from, to),
    unlink: (file) => fsUnlink(file),
    // Only needs to differ from a leftover of an earlier run (O_EXCL refuses a clash, the state
    // directory is root's): no need to load node:crypto at start-up for it.
    tempSuffix: () => Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0'),
  };
}

/** The exact bytes qemu-ga writes (g_key_file_to_data): 25 bytes for the default counter. */
export function formatPersistentState(fdCounter: bigint): string {
  return `[global]\nfd_counter=${fdCounter}\n`;
}

/**
 * The counter in a state file's content. Throws KeyFileError where GLib refuses to load the
 * file; a missing key means the default, an unreadable value 0 (g_key_file_get_integer's answer).
 */
export function parsePersistentState(data: Uint8Array): { fdCounter: bigint } {
  const keyfile = parseKeyFile(data);
  if (!keyfile.hasKey('global', 'fd_counter')) return { fdCounter: DEFAULT_FD_COUNTER };
  try {
    return { fdCounter: BigInt(keyfile.getInteger('global', 'fd_counter')) };
  } catch (e) {
    if (e instanceof KeyFileError) return { fdCounter: 0n };
    throw e;
  }
}

/** The state file could not be written, so no handle may be handed out. */
export class PersistentStateWriteError extends Error {
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    super(`failed to write persistent state to ${file}: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'PersistentStateWriteError';
  }
}

/** The agent cannot start with this state directory (qemu-ga exits with "failed to load persistent state"). */
export class PersistentStateLoadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PersistentStateLoadError';
  }
}

export interface PersistentStateOptions {
  file: string;
  fdCounter: bigint;
  io: StateFileIo;
}

export class PersistentState {
  readonly file: string;
  private counter: bigint;
  private readonly io: StateFileIo;
  /** Writes run one after another, so the last one to land holds the highest counter. */
  private writes: Promise<void> = Promise.resolve();

  constructor(opts: PersistentStateOptions) {
    this.file = opts.file;
    this.counter = opts.fdCounter;
    this.io = opts.io;
  }

  /** The next handle to hand out. */
  get fdCounter(): bigint {
    return this.counter;
  }

  /**
   * Takes the next handle and commits the incremented counter to disk before returning it.
   * Rejects with PersistentStateWriteError when the file could not be replaced.
   */
  async allocateFileHandle(): Promise<bigint> {
    const handle = this.counter;
    if (handle >= FD_COUNTER_LIMIT - 1n) {
      throw new PersistentStateWriteError(this.file, new Error('file handle counter exhausted'));
    }
    this.counter = handle + 1n;
    await this.commit();
    return handle;
  }

  /** Writes the current counter: temp file, fsync, rename over the old file. */
  commit(): Promise<void> {
    const run = this.writes.then(() => this.replaceFile(Buffer.from(formatPersistentState(this.counter), 'latin1')));
    this.writes = run.catch(() => undefined);
    return run;
  }

  private async replaceFile(content: Buffer): Promise<void> {
    const io = this.io;
    const temp = `${this.file}.${io.tempSuffix()}`;
    let fd: number;
    try {
      fd = await io.createExclusive(temp, 0o666);
    } catch (e) {
      throw new PersistentStateWriteError(this.file, e);
    }
    try {
      try {
        await io.writeAll(fd, content);
        await io.fsync(fd);
      } finally {
        await io.close(fd);
      }
      await io.rename(temp, this.file);
    } catch (e) {
      await io.unlink(temp).catch(() => undefined);
      throw new PersistentStateWriteError(this.file, e);
    }
  }
}

export interface LoadPersistentStateOptions {
  statedir: string;
  /** the agent starts frozen: a missing file is not created (the write could block forever) */
  frozen: boolean;
  io?: StateFileIo;
}

/** qemu-ga's read_persistent_state, run once at start-up. */
export async function loadPersistentState(opts: LoadPersistentStateOptions): Promise<PersistentState> {
  const io = opts.io ?? defaultStateFileIo();
  const file = path.join(opts.statedir, PERSISTENT_STATE_FILE);
  let data: Buffer;
  try {
    data = await io.readFile(file);
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'ENOENT') {
      throw new PersistentStateLoadError(`unable to access state file at path ${file}: ${strerror(e)}`);
    }
    // Written now rather than at the first open, so a bad state directory shows at start-up.
    const state = new PersistentState({ file, fdCounter: DEFAULT_FD_COUNTER, io });
    if (!opts.frozen) {
      try {
        await state.commit();
      } catch (writeError) {
        throw new PersistentStateLoadError(
          `unable to create state file at path ${file}: ${(writeError as Error).message}`,
        );
      }
    }
    return state;
  }
  try {
    return new PersistentState({ file, fdCounter: parsePersistentState(data).fdCounter, io });
  } catch (e) {
    if (e instanceof KeyFileError) {
      throw new PersistentStateLoadError(`error loading persistent state from path: ${file}, ${e.message}`);
    }
    throw e;
  }
}
