/**
 * A Duplex over a non-blocking fd that Node cannot wrap itself, driven by the addon's watchFd
 * (uv_poll on Node's loop) and plain read(2)/write(2) through the addon's readInto/writeBytes,
 * which return errno rather than throw (no Error object for each EAGAIN).
 *
 * Why: net.Socket and net.Server refuse AF_VSOCK fds (libuv's uv_guess_handle answers UNKNOWN, so
 * `new net.Socket({fd})` throws ERR_INVALID_FD_TYPE and `server.listen({fd})` fails EINVAL). The
 * vsock-listen transport accepts with NativeHelper.vsockAccept and wraps each connection in this.
 *
 * The fd must be O_NONBLOCK (vsockAccept's are): a blocking fd would stall the event loop in read.
 * The stream owns the fd and closes it on destroy.
 */
import * as fs from 'node:fs';
import { Duplex } from 'node:stream';
import { getSystemErrorName } from 'node:util';
import {
  EAGAIN,
  EINTR,
  fdSyscallError,
  POLL_READABLE,
  POLL_WRITABLE,
  type FdSyscalls,
  type FdWatcher,
  type NativeHelper,
} from './native-helper';

/**
 * The syscalls used, injected so error paths can be tested without a real fd.
 *
 * read and write return a byte count (read: 0 at end of stream) or a negative errno, -EAGAIN
 * when nothing is ready (FdSyscalls' convention, nativeFdIo). An implementation may instead
 * throw errno errors as Node's fs.readSync/writeSync do (systemFdIo); users handle both.
 */
export interface FdIo {
  read(fd: number, buffer: Buffer): number;
  write(fd: number, data: Uint8Array): number;
  close(fd: number): void;
}

/** The native helper's errno-returning calls: what the channels use on their hot path. */
export function nativeFdIo(native: Pick<FdSyscalls, 'readInto' | 'writeBytes'>): FdIo {
  return {
    // The addon's functions themselves (they do not use `this`): no wrapper call per request.
    read: native.readInto,
    write: native.writeBytes,
    close: (fd) => fs.closeSync(fd),
  };
}

/**
 * Node's fs calls, which throw an Error for every EAGAIN. For users not yet on nativeFdIo
 * (vsock-listen's connections) and for tests.
 */
export const systemFdIo: FdIo = {
  read: (fd, buffer) => fs.readSync(fd, buffer, 0, buffer.length, null),
  write: (fd, data) => fs.writeSync(fd, data, 0, data.length, null),
  close: (fd) => fs.closeSync(fd),
};

function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? (e as { code?: unknown }).code as string | undefined : undefined;
}

/** A thrown errno error (an io in fs' convention) as the negative result FdSyscalls would give. */
function thrownAsResult(e: unknown): number | undefined {
  const code = errnoCode(e);
  if (code === 'EAGAIN' || code === 'EWOULDBLOCK') return -EAGAIN;
  if (code === 'EINTR') return -EINTR;
  return undefined;
}

/** Not ready now; the watcher says when to try again. */
const notReady = (n: number): boolean => n === -EAGAIN || n === -EINTR;

interface PendingWrite {
  data: Uint8Array;
  callback: (error?: Error | null) => void;
}

export interface PolledFdStreamOptions {
  native: Pick<NativeHelper, 'watchFd' | 'readInto' | 'writeBytes'>;
  fd: number;
  /** default: nativeFdIo(native) */
  io?: FdIo;
  /** Bytes per read(2); default 64 KiB. */
  readSize?: number;
}

export class PolledFdStream extends Duplex {
  readonly fd: number;
  private readonly io: FdIo;
  private readonly readSize: number;
  private readonly watcher: FdWatcher;
  private watchedEvents = 0;
  private wantRead = false;
  private pendingWrite: PendingWrite | null = null;
  private fdClosed = false;

  constructor(opts: PolledFdStreamOptions) {
    super({ allowHalfOpen: false });
    this.fd = opts.fd;
    this.io = opts.io ?? nativeFdIo(opts.native);
    this.readSize = opts.readSize ?? 64 * 1024;
    this.watcher = opts.native.watchFd(opts.fd, 0, (errno, events) => this.onReady(errno, events));
  }

  override _read(): void {
    this.readOnce();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.pendingWrite = { data: chunk, callback };
    this.flushPendingWrite();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const pending = this.pendingWrite;
    this.pendingWrite = null;
    let closeError: Error | null = null;
    if (!this.fdClosed) {
      this.fdClosed = true;
      this.watcher.close();
      try {
        this.io.close(this.fd);
      } catch (e) {
        closeError = e as Error;
      }
    }
    pending?.callback(error ?? new Error('stream destroyed before the write completed'));
    callback(error ?? closeError);
  }

  private readOnce(): void {
    if (this.fdClosed) return;
    const buffer = Buffer.allocUnsafe(this.readSize);
    let n: number;
    try {
      n = this.io.read(this.fd, buffer);
    } catch (e) {
      const result = thrownAsResult(e);
      if (result === undefined) {
        this.destroy(e as Error);
        return;
      }
      n = result;
    }
    if (n < 0) {
      if (notReady(n)) {
        this.wantRead = true;
        this.syncWatch();
      } else {
        this.destroy(fdSyscallError(n, 'read'));
      }
      return;
    }
    this.wantRead = false;
    this.syncWatch();
    if (n === 0) {
      this.push(null);
    } else {
      // push() asks for more via _read while below the high-water mark.
      this.push(buffer.subarray(0, n));
    }
  }

  private flushPendingWrite(): void {
    const pending = this.pendingWrite;
    if (pending === null || this.fdClosed) return;
    let failure: Error | null = null;
    while (pending.data.length > 0) {
      let n: number;
      try {
        n = this.io.write(this.fd, pending.data);
      } catch (e) {
        const result = thrownAsResult(e);
        if (result === undefined) {
          failure = e as Error;
          break;
        }
        n = result;
      }
      if (notReady(n)) {
        this.syncWatch();
        return;
      }
      if (n < 0) {
        failure = fdSyscallError(n, 'write');
        break;
      }
      pending.data = pending.data.subarray(n);
    }
    this.pendingWrite = null;
    this.syncWatch();
    if (failure !== null) pending.callback(failure);
    else pending.callback();
  }

  private syncWatch(): void {
    if (this.fdClosed) return;
    const events = (this.wantRead ? POLL_READABLE : 0) | (this.pendingWrite !== null ? POLL_WRITABLE : 0);
    if (events !== this.watchedEvents) {
      this.watchedEvents = events;
      this.watcher.update(events);
    }
  }

  private onReady(errno: number, events: number): void {
    if (this.fdClosed) return;
    if (errno !== 0) {
      const code = getSystemErrorName(-errno);
      const error = Object.assign(new Error(`${code}: polling fd ${this.fd} failed`), { code, errno, syscall: 'poll' });
      this.destroy(error);
      return;
    }
    // Hang-up and error conditions arrive as readable/writable; the read or write then reports them.
    if (events & POLL_WRITABLE) this.flushPendingWrite();
    if (events & POLL_READABLE && this.wantRead) this.readOnce();
  }
}
