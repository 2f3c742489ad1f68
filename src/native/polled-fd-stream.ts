/**
 * A Duplex over a non-blocking fd that Node cannot wrap itself, driven by the addon's watchFd
 * (uv_poll on Node's loop) and plain read(2)/write(2) through fs.readSync/fs.writeSync.
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
import { POLL_READABLE, POLL_WRITABLE, type FdWatcher, type NativeHelper } from './native-helper';

/** The syscalls used, injected so error paths can be tested without a real fd. */
export interface FdIo {
  /** Bytes read; 0 at end of stream; throws an error with code EAGAIN when nothing is ready. */
  read(fd: number, buffer: Buffer): number;
  /** Bytes written; throws EAGAIN when the socket buffer is full. */
  write(fd: number, data: Uint8Array): number;
  close(fd: number): void;
}

export const systemFdIo: FdIo = {
  read: (fd, buffer) => fs.readSync(fd, buffer, 0, buffer.length, null),
  write: (fd, data) => fs.writeSync(fd, data, 0, data.length, null),
  close: (fd) => fs.closeSync(fd),
};

function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? (e as { code?: unknown }).code as string | undefined : undefined;
}

const wouldBlock = (e: unknown): boolean => {
  const code = errnoCode(e);
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
};

interface PendingWrite {
  data: Uint8Array;
  callback: (error?: Error | null) => void;
}

export interface PolledFdStreamOptions {
  native: Pick<NativeHelper, 'watchFd'>;
  fd: number;
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
    this.io = opts.io ?? systemFdIo;
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
      if (wouldBlock(e)) {
        this.wantRead = true;
        this.syncWatch();
        return;
      }
      this.destroy(e as Error);
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
    try {
      while (pending.data.length > 0) {
        const n = this.io.write(this.fd, pending.data);
        pending.data = pending.data.subarray(n);
      }
    } catch (e) {
      if (wouldBlock(e)) {
        this.syncWatch();
        return;
      }
      this.pendingWrite = null;
      this.syncWatch();
      pending.callback(e as Error);
      return;
    }
    this.pendingWrite = null;
    this.syncWatch();
    pending.callback();
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
