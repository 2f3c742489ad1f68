/**
 * One open guest file, behaving as qemu-ga's `FILE *` (glibc stdio over an O_NONBLOCK fd) does as
 * seen from the host, without a FILE: Node has no lseek, so the position is kept here and the I/O
 * uses pread/pwrite at it; writes go through a userspace buffer that mirrors glibc's.
 *
 * What the host can observe, and so what is reproduced (all checked against qemu-ga 7.2):
 * - Writes are buffered in a buffer of min(st_blksize, 8192) bytes and reach the kernel in
 *   glibc's pattern: fill the free space, then flush, write whole buffer-sized blocks directly,
 *   keep the tail. So 13 bytes stay invisible to other readers until flush/seek/read/close, and
 *   13 + 5000 + 10000 bytes show up as 0, 4096, 12288 bytes on disk.
 * - A read after a write flushes first; a write after a read resyncs the position (qemu-ga's
 *   fseek(0, SEEK_CUR)), which on a fifo fails with "Illegal seek".
 * - Append modes write at the end of the file whatever the position; after such a write the
 *   position is the end of the file. "a" and "a+" start at position 0.
 * - `eof` is true only for a read that stopped at the end of the file: qemu-ga calls clearerr()
 *   after every command, so the flag never survives into the next one, and writes and seeks
 *   always report false.
 * - A failed flush drops the buffered bytes (glibc resets its buffer either way).
 * - Errors carry qemu-ga's text for the command that hit them: a seek that must flush and cannot
 *   says "failed to seek file: No space left on device".
 *
 * Fifos and sockets have no position: they use read(2)/write(2) and every seek fails with ESPIPE,
 * as lseek does. Character devices start with pread/pwrite and fall back to that mode when the
 * device answers ESPIPE (ttys). Deliberate differences from qemu-ga:
 * - A non-blocking read that gets EAGAIN after some bytes returns those bytes (eof false).
 *   qemu-ga's fread reports "failed to read file: Resource temporarily unavailable" and the bytes
 *   are lost. With nothing read, the error is the same as qemu-ga's.
 * - Seeking is computed here, so the limits lseek would apply per filesystem (ext4 refuses
 *   offsets past its 16 TiB maximum file size with EINVAL) are not; a read there returns 0 bytes
 *   and a write fails instead. Only negative results and results past INT64_MAX give EINVAL.
 *   Writes beyond 2^53 bytes fail with EFBIG (Node's positions are doubles).
 * - SEEK_END uses st_size (block devices: their size from sysfs), so /dev/null reports the
 *   offset rather than 0, and directories their st_size rather than ext4's INT64_MAX.
 * - A close whose flush fails still closes the descriptor and forgets the handle (qemu-ga keeps
 *   a handle to the FILE it has just freed).
 * - ttys are not line-buffered.
 *
 * Operations on one file run one at a time, in call order, even when requests for the same
 * handle arrive through different channels.
 */
import type { QgaError } from '../protocol/errors';
import { Errors } from '../protocol/errors';

export type FileKind = 'file' | 'directory' | 'fifo' | 'socket' | 'char' | 'block' | 'other';

export interface FileStatus {
  kind: FileKind;
  size: bigint;
  /** st_blksize; 0 when unknown */
  blockSize: number;
  /** st_rdev, for the size of a block device */
  rdev: bigint;
}

/** The system calls behind a guest file; the default is Node's fs, tests inject failures. */
export interface FileIo {
  open(path: Buffer, flags: number, mode: number): Promise<number>;
  fchmod(fd: number, mode: number): Promise<void>;
  fstat(fd: number): Promise<FileStatus>;
  /** pread at `position`, or read(2) at the descriptor's own offset when it is null */
  read(fd: number, buffer: Buffer, offset: number, length: number, position: bigint | null): Promise<number>;
  /** pwrite at `position`, or write(2) when it is null (O_APPEND: the kernel appends) */
  write(fd: number, buffer: Uint8Array, offset: number, length: number, position: number | null): Promise<number>;
  close(fd: number): Promise<void>;
  unlink(path: Buffer): Promise<void>;
  /** bytes of the block device with this st_rdev */
  blockDeviceSize(rdev: bigint): Promise<bigint>;
}

/** SEEK_SET, SEEK_CUR, SEEK_END */
export type Whence = 0 | 1 | 2;

export interface ReadResult {
  data: Buffer;
  eof: boolean;
}

export interface StdioFileOptions {
  fd: number;
  io: FileIo;
  readable: boolean;
  writable: boolean;
  append: boolean;
  /** null when fstat failed: glibc then assumes a regular file with an 8 KiB buffer */
  status: FileStatus | null;
}

/** glibc's BUFSIZ: the buffer size unless st_blksize is smaller. */
const STDIO_BUFSIZ = 8192;
const INT64_MAX = (1n << 63n) - 1n;
const MAX_WRITE_POSITION = BigInt(Number.MAX_SAFE_INTEGER);
const EMPTY = Buffer.alloc(0);

/** qemu-ga's GuestFileHandle.state: what the last successful command did. */
type Direction = 'none' | 'reading' | 'writing';

const errnoCode = (e: unknown): unknown => (e as { code?: unknown } | null)?.code;

export class StdioFile {
  private fd: number | null;
  private readonly io: FileIo;
  private readonly readable: boolean;
  private readonly writable: boolean;
  private readonly append: boolean;
  private readonly kind: FileKind;
  private readonly rdev: bigint;
  private readonly bufferSize: number;
  /** false: read(2)/write(2) at the descriptor's offset (fifos, sockets, ttys) */
  private positional: boolean;
  /** Where the kernel-side position is; null after an append until someone needs it (end of file). */
  private offset: bigint | null = 0n;
  private pending: Buffer | null = null;
  private pendingLength = 0;
  /**
   * glibc has room in its buffer only once a write has gone through its overflow path; after an
   * open, a seek or a read the first write finds no room, writes whole blocks directly and keeps
   * the rest. This flag is that state.
   */
  private putting = false;
  private direction: Direction = 'none';
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: StdioFileOptions) {
    this.fd = opts.fd;
    this.io = opts.io;
    this.readable = opts.readable;
    this.writable = opts.writable;
    this.append = opts.append;
    this.kind = opts.status?.kind ?? 'other';
    this.rdev = opts.status?.rdev ?? 0n;
    const blockSize = opts.status?.blockSize ?? 0;
    this.bufferSize = blockSize > 0 && blockSize < STDIO_BUFSIZ ? blockSize : STDIO_BUFSIZ;
    this.positional = this.kind !== 'fifo' && this.kind !== 'socket';
  }

  /** fread(count) after the flush qemu-ga does when the last command wrote. */
  read(count: number): Promise<ReadResult> {
    return this.serialized(async () => {
      const fd = this.openFd(Errors.fileReadFailed);
      if (this.direction === 'writing') {
        await this.flushPending(Errors.fileFlushFailed);
        this.direction = 'none';
      }
      if (count === 0) {
        this.direction = 'reading';
        return { data: EMPTY, eof: false };
      }
      if (!this.readable) throw Errors.fileReadFailed('EBADF');
      const data = Buffer.allocUnsafe(count);
      let got = 0;
      let eof = false;
      const start = this.positional ? await this.resolveOffset(Errors.fileReadFailed) : 0n;
      try {
        while (got < count) {
          const n = await this.readOnce(fd, data, got, count - got, start + BigInt(got));
          if (n === 0) {
            eof = true;
            break;
          }
          got += n;
        }
      } catch (e) {
        // Deliberate: what a non-blocking stream already gave is returned, not lost as in qemu-ga.
        const keepWhatArrived = !this.positional && errnoCode(e) === 'EAGAIN' && got > 0;
        if (!keepWhatArrived) {
          if (this.positional) this.offset = start + BigInt(got);
          throw Errors.fileReadFailed(e);
        }
      }
      if (this.positional) this.offset = start + BigInt(got);
      this.direction = 'reading';
      this.putting = false;
      return { data: got === count ? data : data.subarray(0, got), eof };
    });
  }

  /**
   * fwrite of what `produce` returns. `produce` runs after the resync a write following a read
   * needs, because qemu-ga decodes (and checks) the data only after that fseek.
   */
  write(produce: () => Uint8Array): Promise<number> {
    return this.serialized(async () => {
      this.openFd(Errors.fileWriteFailed);
      if (this.direction === 'reading') {
        if (!this.positional) throw Errors.fileSeekFailed('ESPIPE');
        this.direction = 'none';
        this.putting = false;
      }
      const data = produce();
      if (data.length === 0) {
        this.direction = 'writing';
        return 0;
      }
      if (!this.writable) throw Errors.fileWriteFailed('EBADF');
      await this.bufferedWrite(data);
      this.direction = 'writing';
      return data.length;
    });
  }

  /** fseek + ftell: the new position. */
  seek(offset: bigint, whence: Whence): Promise<bigint> {
    return this.serialized(async () => {
      this.openFd(Errors.fileSeekFailed);
      await this.flushPending(Errors.fileSeekFailed);
      if (!this.positional) {
        // qemu-ga: "file is non-seekable, stdio shouldn't be buffering anyways"
        this.direction = 'none';
        throw Errors.fileSeekFailed('ESPIPE');
      }
      let base: bigint;
      if (whence === 0) base = 0n;
      else if (whence === 1) base = await this.resolveOffset(Errors.fileSeekFailed);
      else base = await this.endOfFile(Errors.fileSeekFailed);
      const target = base + offset;
      if (target < 0n || target > INT64_MAX) throw Errors.fileSeekFailed('EINVAL');
      this.offset = target;
      this.direction = 'none';
      this.putting = false;
      return target;
    });
  }

  /** fflush: buffered bytes to the kernel (no fsync, as in qemu-ga). */
  flush(): Promise<void> {
    return this.serialized(async () => {
      this.openFd(Errors.fileFlushFailed);
      await this.flushPending(Errors.fileFlushFailed);
      this.direction = 'none';
    });
  }

  /** fclose: flush, then close the descriptor even when the flush failed. */
  close(): Promise<void> {
    return this.serialized(async () => {
      const fd = this.openFd(Errors.fileCloseFailed);
      let failure: QgaError | null = null;
      try {
        await this.flushPending(Errors.fileCloseFailed);
      } catch (e) {
        failure = e as QgaError;
      }
      this.fd = null;
      this.pending = null;
      try {
        await this.io.close(fd);
      } catch (e) {
        failure ??= Errors.fileCloseFailed(e);
      }
      if (failure !== null) throw failure;
    });
  }

  private serialized<R>(op: () => Promise<R>): Promise<R> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** A command queued behind a close of the same handle must not touch a reused descriptor. */
  private openFd(fail: (err: unknown) => QgaError): number {
    if (this.fd === null) throw fail('EBADF');
    return this.fd;
  }

  private async resolveOffset(fail: (err: unknown) => QgaError): Promise<bigint> {
    if (this.offset !== null) return this.offset;
    try {
      this.offset = (await this.io.fstat(this.fd as number)).size;
    } catch (e) {
      throw fail(e);
    }
    return this.offset;
  }

  private async endOfFile(fail: (err: unknown) => QgaError): Promise<bigint> {
    try {
      if (this.kind === 'block') return await this.io.blockDeviceSize(this.rdev);
      return (await this.io.fstat(this.fd as number)).size;
    } catch (e) {
      throw fail(e);
    }
  }

  private async readOnce(fd: number, data: Buffer, at: number, length: number, position: bigint): Promise<number> {
    if (!this.positional) return this.io.read(fd, data, at, length, null);
    try {
      return await this.io.read(fd, data, at, length, position);
    } catch (e) {
      if (!this.fallBackToStream(e)) throw e;
      return this.io.read(fd, data, at, length, null);
    }
  }

  /** A character device that refuses positioned I/O (a tty) is a stream from now on. */
  private fallBackToStream(e: unknown): boolean {
    if (this.kind !== 'char' || errnoCode(e) !== 'ESPIPE') return false;
    this.positional = false;
    return true;
  }

  /** glibc's _IO_new_file_xsputn. */
  private async bufferedWrite(data: Uint8Array): Promise<void> {
    const capacity = this.bufferSize;
    const room = this.putting ? capacity - this.pendingLength : 0;
    const filled = Math.min(room, data.length);
    if (filled > 0) {
      this.pendingBuffer().set(data.subarray(0, filled), this.pendingLength);
      this.pendingLength += filled;
    }
    const rest = data.length - filled;
    if (rest === 0) return;
    await this.flushPending(Errors.fileWriteFailed);
    this.putting = true;
    const direct = capacity >= 128 ? rest - (rest % capacity) : rest;
    if (direct > 0) await this.writeOut(data.subarray(filled, filled + direct), Errors.fileWriteFailed);
    const tail = data.subarray(filled + direct);
    if (tail.length > 0) {
      this.pendingBuffer().set(tail, 0);
      this.pendingLength = tail.length;
    }
  }

  private pendingBuffer(): Buffer {
    this.pending ??= Buffer.allocUnsafe(this.bufferSize);
    return this.pending;
  }

  private async flushPending(fail: (err: unknown) => QgaError): Promise<void> {
    if (this.pendingLength === 0 || this.pending === null) return;
    const length = this.pendingLength;
    // glibc empties its buffer whether or not the write succeeds.
    this.pendingLength = 0;
    await this.writeOut(this.pending.subarray(0, length), fail);
  }

  /** _IO_new_file_write: everything, or an error after whatever went through. */
  private async writeOut(data: Uint8Array, fail: (err: unknown) => QgaError): Promise<void> {
    const fd = this.fd as number;
    let written = 0;
    try {
      while (written < data.length) {
        written += await this.writeOnce(fd, data, written);
      }
    } catch (e) {
      this.advanceAfterWrite(written);
      throw fail(e);
    }
    this.advanceAfterWrite(written);
  }

  private async writeOnce(fd: number, data: Uint8Array, at: number): Promise<number> {
    const length = data.length - at;
    if (!this.positional || this.append) return this.io.write(fd, data, at, length, null);
    const position = (this.offset as bigint) + BigInt(at);
    if (position + BigInt(length) > INT64_MAX) throw Object.assign(new Error('EINVAL'), { code: 'EINVAL' });
    if (position + BigInt(length) > MAX_WRITE_POSITION) throw Object.assign(new Error('EFBIG'), { code: 'EFBIG' });
    try {
      return await this.io.write(fd, data, at, length, Number(position));
    } catch (e) {
      if (!this.fallBackToStream(e)) throw e;
      return this.io.write(fd, data, at, length, null);
    }
  }

  private advanceAfterWrite(written: number): void {
    if (!this.positional) return;
    // After an O_APPEND write the kernel's offset is the end of the file (glibc: _IO_pos_BAD).
    if (this.append) this.offset = null;
    else this.offset = (this.offset as bigint) + BigInt(written);
  }
}
