/**
 * Shared by the guest-file tests: an agent-like setup in a temp dir (state dir, handle table,
 * handlers), short-hands for the six commands, and a FileIo that records calls and fails on demand.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createFileHandleTable, createFileHandlers, defaultFileIo, type FileHandleTable } from '../../../src/commands/file';
import type { FileIo } from '../../../src/commands/stdio-file';
import type { CommandContext } from '../../../src/dispatch/command-context';
import { createAgentLogger } from '../../../src/logging/agent-logger';
import { loadPersistentState, type PersistentState } from '../../../src/state/persistent-state';

export interface IoCall {
  name: keyof FileIo;
  args: unknown[];
}

export interface RecordingIo {
  io: FileIo;
  calls: IoCall[];
  /** the next call of `name` (or every one, with `always`) rejects with this errno code */
  failNext(name: keyof FileIo, code: string, always?: boolean): void;
}

export function recordingIo(real: FileIo = defaultFileIo()): RecordingIo {
  const calls: IoCall[] = [];
  const failures = new Map<keyof FileIo, { code: string; always: boolean }>();
  const io = {} as Record<keyof FileIo, unknown>;
  for (const name of Object.keys(real) as (keyof FileIo)[]) {
    io[name] = async (...args: unknown[]) => {
      calls.push({ name, args });
      const failure = failures.get(name);
      if (failure !== undefined) {
        if (!failure.always) failures.delete(name);
        throw Object.assign(new Error(`${name}: ${failure.code}`), { code: failure.code });
      }
      return (real[name] as (...a: unknown[]) => Promise<unknown>)(...args);
    };
  }
  return {
    io: io as unknown as FileIo,
    calls,
    failNext: (name, code, always = false) => void failures.set(name, { code, always }),
  };
}

// verbose, so the handlers' debug lines (bigint handles included) are really formatted
const { logger } = createAgentLogger({ verbose: true, sink: { write: () => undefined } });
export const ctx = { log: logger } as unknown as CommandContext;

export interface FileSetup {
  dir: string;
  statedir: string;
  state: PersistentState;
  handles: FileHandleTable;
  handlers: ReturnType<typeof createFileHandlers>;
  file(name: string): string;
  open(path: string, mode?: string): Promise<bigint>;
  read(handle: bigint, count?: bigint): Promise<{ count: number; 'buf-b64': string; eof: boolean }>;
  readBytes(handle: bigint, count?: bigint): Promise<Buffer>;
  write(handle: bigint, data: string | Buffer, count?: bigint): Promise<{ count: number; eof: boolean }>;
  writeB64(handle: bigint, b64: string, count?: bigint): Promise<{ count: number; eof: boolean }>;
  seek(handle: bigint, offset: bigint, whence: bigint | 'set' | 'cur' | 'end'): Promise<{ position: bigint; eof: boolean }>;
  flush(handle: bigint): Promise<void>;
  close(handle: bigint): Promise<void>;
  cleanup(): Promise<void>;
}

export async function setupFiles(opts: { io?: FileIo } = {}): Promise<FileSetup> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-file-'));
  const statedir = path.join(dir, 'state');
  fs.mkdirSync(statedir);
  const state = await loadPersistentState({ statedir, frozen: false });
  const handles = createFileHandleTable(state);
  const handlers = createFileHandlers({ handles, io: opts.io ?? defaultFileIo() });
  const write = async (handle: bigint, b64: string, count?: bigint) => {
    const r = await handlers['guest-file-write']({ handle, 'buf-b64': b64, ...(count === undefined ? {} : { count }) }, ctx);
    return { count: Number(r.count), eof: r.eof };
  };
  const read = async (handle: bigint, count?: bigint) => {
    const r = await handlers['guest-file-read']({ handle, ...(count === undefined ? {} : { count }) }, ctx);
    return { count: Number(r.count), 'buf-b64': r['buf-b64'], eof: r.eof };
  };
  return {
    dir,
    statedir,
    state,
    handles,
    handlers,
    file: (name) => path.join(dir, name),
    open: async (p, mode) => BigInt(await handlers['guest-file-open']({ path: p, ...(mode === undefined ? {} : { mode }) }, ctx)),
    read,
    readBytes: async (handle, count) => Buffer.from((await read(handle, count))['buf-b64'], 'base64'),
    write: (handle, data, count) => write(handle, Buffer.from(data).toString('base64'), count),
    writeB64: write,
    seek: async (handle, offset, whence) => {
      const r = await handlers['guest-file-seek']({ handle, offset, whence }, ctx);
      return { position: BigInt(r.position), eof: r.eof };
    },
    flush: async (handle) => handlers['guest-file-flush']({ handle }, ctx),
    close: async (handle) => handlers['guest-file-close']({ handle }, ctx),
    cleanup: async () => {
      await handles.closeAll();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The size of a file as another process sees it. */
export const sizeOnDisk = (p: string): number => fs.statSync(p).size;
