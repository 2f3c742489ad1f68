/**
 * guest-file-open / close / read / write / seek / flush (reference §2.3, §2.4, §4.1).
 *
 * Opening follows qemu-ga's safe_open_or_create: the fopen mode picks the open(2) flags, always
 * with O_NOCTTY | O_NONBLOCK (libuv adds O_CLOEXEC to every open), so a fifo cannot hang the
 * agent. A mode that may create the file first tries O_EXCL; when that creates it, the file gets
 * mode 0666 whatever the umask, and when the file exists it is opened again without O_CREAT (its
 * mode untouched). The handle number is committed to <statedir>/qga.state before it is returned.
 * How reads, writes and seeks behave is in stdio-file.ts.
 *
 * Every handle command is disabled while filesystems are frozen: the dispatcher sees to that.
 */
import * as fs from 'node:fs';
import type { QgaCommandHandlers } from '../generated/qga-commands';
import type { GuestFileWhenceArg } from '../generated/qga-types';
import { Errors } from '../protocol/errors';
import { decodeQemuBase64 } from '../protocol/qemu-base64';
import { HandleTable, type HandleNumberSource } from '../state/handle-table';
import { PersistentStateWriteError } from '../state/persistent-state';
import { StdioFile, type FileIo, type FileKind, type FileStatus, type Whence } from './stdio-file';

export type { FileIo } from './stdio-file';

/** The agent's table of open guest files. */
export type FileHandleTable = HandleTable<StdioFile>;

export function createFileHandleTable(numbers: HandleNumberSource): FileHandleTable {
  return new HandleTable<StdioFile>(numbers);
}

export interface FileDeps {
  /** made once by the composition root and shared by every channel; closeAll() at exit */
  handles: FileHandleTable;
  io: FileIo;
}

export function defaultFileDeps(handles: FileHandleTable): FileDeps {
  return { handles, io: defaultFileIo() };
}

/** QGA_READ_COUNT_DEFAULT */
export const FILE_READ_COUNT_DEFAULT = 4096n;
/** GUEST_FILE_READ_COUNT_MAX: 48 MiB */
export const FILE_READ_COUNT_MAX = 48n * 1024n * 1024n;
/** DEFAULT_NEW_FILE_MODE */
const NEW_FILE_MODE = 0o666;

const { O_RDONLY, O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NOCTTY, O_NONBLOCK } = fs.constants;
/** O_ACCMODE, which Node does not export */
const ACCESS_MODE_MASK = 3;

/** The fopen modes qemu-ga accepts, matched exactly, and their open(2) flags. */
export const FILE_OPEN_MODES: ReadonlyMap<string, number> = new Map([
  ['r', O_RDONLY],
  ['rb', O_RDONLY],
  ['w', O_WRONLY | O_CREAT | O_TRUNC],
  ['wb', O_WRONLY | O_CREAT | O_TRUNC],
  ['a', O_WRONLY | O_CREAT | O_APPEND],
  ['ab', O_WRONLY | O_CREAT | O_APPEND],
  ['r+', O_RDWR],
  ['rb+', O_RDWR],
  ['r+b', O_RDWR],
  ['w+', O_RDWR | O_CREAT | O_TRUNC],
  ['wb+', O_RDWR | O_CREAT | O_TRUNC],
  ['w+b', O_RDWR | O_CREAT | O_TRUNC],
  ['a+', O_RDWR | O_CREAT | O_APPEND],
  ['ab+', O_RDWR | O_CREAT | O_APPEND],
  ['a+b', O_RDWR | O_CREAT | O_APPEND],
]);

/** The flags of the first open(2) for a mode, before the O_EXCL attempt; undefined if invalid. */
export function openFlagsForMode(mode: string): number | undefined {
  const base = FILE_OPEN_MODES.get(mode);
  return base === undefined ? undefined : base | O_NOCTTY | O_NONBLOCK;
}

/**
 * The bytes qemu-ga would pass to open(2): its strings are modified UTF-8, where U+0000 (which
 * JSON can carry as \u0000) is the pair C0 80 rather than a terminator.
 */
export function pathBytes(path: string): Buffer {
  if (!path.includes('\0')) return Buffer.from(path, 'utf8');
  const nul = Buffer.from([0xc0, 0x80]);
  const parts: Buffer[] = [];
  path.split('\0').forEach((part, i) => {
    if (i > 0) parts.push(nul);
    parts.push(Buffer.from(part, 'utf8'));
  });
  return Buffer.concat(parts);
}

/** safe_open_or_create + fdopen: the open file, or qemu-ga's error. */
export async function openGuestFile(io: FileIo, path: string, mode: string): Promise<StdioFile> {
  const flags = openFlagsForMode(mode);
  if (flags === undefined) throw Errors.fileOpenModeInvalid(mode);
  const target = pathBytes(path);
  let fd: number;
  let created = false;
  try {
    if (flags & O_CREAT) {
      try {
        fd = await io.open(target, flags | O_EXCL, 0);
        created = true;
      } catch (e) {
        if ((e as { code?: unknown }).code !== 'EEXIST') throw e;
        fd = await io.open(target, flags & ~O_CREAT, 0);
      }
    } else {
      fd = await io.open(target, flags, 0);
    }
  } catch (e) {
    throw Errors.fileOpenFailed(path, mode, e);
  }
  if (created) {
    try {
      await io.fchmod(fd, NEW_FILE_MODE);
    } catch (e) {
      await io.close(fd).catch(() => undefined);
      await io.unlink(target).catch(() => undefined);
      throw Errors.fileSetPermissionFailed(path, mode, e);
    }
  }
  // glibc stats the descriptor lazily and falls back to defaults when it cannot.
  const status = await io.fstat(fd).catch(() => null);
  const access = flags & ACCESS_MODE_MASK;
  return new StdioFile({
    fd,
    io,
    readable: access === O_RDONLY || access === O_RDWR,
    writable: access === O_WRONLY || access === O_RDWR,
    append: (flags & O_APPEND) !== 0,
    status,
  });
}

function whenceCode(whence: GuestFileWhenceArg): Whence {
  switch (whence) {
    case 'set':
    case 0n:
      return 0;
    case 'cur':
    case 1n:
      return 1;
    case 'end':
    case 2n:
      return 2;
    default:
      throw Errors.fileWhenceInvalid(whence);
  }
}

export type FileHandlers = Pick<
  QgaCommandHandlers,
  'guest-file-open' | 'guest-file-close' | 'guest-file-read' | 'guest-file-write' | 'guest-file-seek' | 'guest-file-flush'
>;

export function createFileHandlers(deps: FileDeps): FileHandlers {
  const { handles, io } = deps;
  return {
    'guest-file-open': async (args, ctx) => {
      const mode = args.mode ?? 'r';
      const file = await openGuestFile(io, args.path, mode);
      try {
        const handle = await handles.add(file);
        ctx.log.debug({ path: args.path, mode, handle }, 'guest-file-open');
        return handle;
      } catch (e) {
        await file.close().catch(() => undefined);
        if (e instanceof PersistentStateWriteError) {
          ctx.log.error({ err: e.cause, file: e.file }, 'failed to write persistent state');
          throw Errors.persistentStateCommitFailed();
        }
        throw e;
      }
    },

    'guest-file-close': async (args, ctx) => {
      const file = handles.take(args.handle);
      ctx.log.debug({ handle: args.handle }, 'guest-file-close');
      await file.close();
    },

    'guest-file-read': async (args) => {
      const file = handles.get(args.handle);
      const count = args.count ?? FILE_READ_COUNT_DEFAULT;
      if (count < 0n || count > FILE_READ_COUNT_MAX) throw Errors.invalidArgumentValue(count, 'count');
      const { data, eof } = await file.read(Number(count));
      // One buffer, encoded once: a 48 MiB read never holds a second copy of the bytes.
      return { count: data.length, 'buf-b64': data.length > 0 ? data.toString('base64') : '', eof };
    },

    'guest-file-write': async (args) => {
      const file = handles.get(args.handle);
      const count = await file.write(() => {
        const text = args['buf-b64'];
        // qemu keeps U+0000 as C0 80, which is not a base64 character (qemu-ga 7.2 rejects "QUJD\u0000").
        if (text.includes('\0')) throw Errors.base64Invalid();
        const data = decodeQemuBase64(text);
        if (args.count === undefined) return data;
        if (args.count < 0n || args.count > BigInt(data.length)) throw Errors.invalidArgumentValue(args.count, 'count');
        return data.subarray(0, Number(args.count));
      });
      return { count, eof: false };
    },

    'guest-file-seek': async (args) => {
      const file = handles.get(args.handle);
      const position = await file.seek(args.offset, whenceCode(args.whence));
      return { position, eof: false };
    },

    'guest-file-flush': async (args) => {
      await handles.get(args.handle).flush();
    },
  } satisfies FileHandlers;
}

// ---------------------------------------------------------------------------------------------
// The real system calls

function kindOf(stats: fs.BigIntStats): FileKind {
  if (stats.isFile()) return 'file';
  if (stats.isDirectory()) return 'directory';
  if (stats.isFIFO()) return 'fifo';
  if (stats.isSocket()) return 'socket';
  if (stats.isCharacterDevice()) return 'char';
  if (stats.isBlockDevice()) return 'block';
  return 'other';
}

/** Linux's dev_t encoding (glibc gnu_dev_major / gnu_dev_minor). */
export function deviceNumbers(rdev: bigint): { major: bigint; minor: bigint } {
  return {
    major: ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn),
    minor: (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn),
  };
}

function callback<T>(resolve: (v: T) => void, reject: (e: unknown) => void) {
  return (err: NodeJS.ErrnoException | null, value: T) => (err ? reject(err) : resolve(value));
}

export function defaultFileIo(): FileIo {
  return {
    open: (path, flags, mode) => new Promise((res, rej) => fs.open(path, flags, mode, callback(res, rej))),
    fchmod: (fd, mode) => new Promise((res, rej) => fs.fchmod(fd, mode, (err) => (err ? rej(err) : res()))),
    fstat: (fd) =>
      new Promise((res, rej) =>
        fs.fstat(fd, { bigint: true }, (err, stats) =>
          err
            ? rej(err)
            : res({ kind: kindOf(stats), size: stats.size, blockSize: Number(stats.blksize), rdev: stats.rdev } satisfies FileStatus),
        ),
      ),
    read: (fd, buffer, offset, length, position) =>
      new Promise((res, rej) => fs.read(fd, buffer, offset, length, position, callback(res, rej))),
    write: (fd, buffer, offset, length, position) =>
      new Promise((res, rej) => fs.write(fd, buffer, offset, length, position, callback(res, rej))),
    close: (fd) => new Promise((res, rej) => fs.close(fd, (err) => (err ? rej(err) : res()))),
    unlink: (path) => fs.promises.unlink(path),
    blockDeviceSize: async (rdev) => {
      const { major, minor } = deviceNumbers(rdev);
      const sectors = await fs.promises.readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
      return BigInt(sectors.trim()) * 512n;
    },
  };
}
