/**
 * The write side of a non-blocking fd that Node cannot wrap (a virtio-serial port, a vsock
 * connection): replies are queued and written with write(2) as far as the kernel takes them;
 * what is left waits for the fd to become writable. Nothing here ever blocks the event loop.
 *
 * The queue is bounded. Past `limitBytes` the oldest replies that have not started to go out are
 * dropped (a host that stopped reading but keeps its end open would otherwise grow it without
 * end); a reply already partly written is always finished, so the host never sees half a reply
 * followed by the start of another.
 */
import { Buffer } from 'node:buffer';
import { EAGAIN, EINTR, fdSyscallError } from '../native/native-helper';
import type { FdIo } from '../native/polled-fd-stream';

/** 64 MiB: more than one maximal guest-file-read reply (48 MiB of data is 64 MiB of base64). */
export const DEFAULT_WRITE_QUEUE_LIMIT = 64 * 1024 * 1024;

/**
 * Replies up to this size stay strings and are written with writeLatin1 (no Buffer per reply).
 * Longer ones become a Buffer once: a short write of a string would encode its rest again on
 * every attempt.
 */
export const MAX_STRING_CHUNK = 64 * 1024;

/**
 * The writes the queue makes; writeLatin1 (optional) writes a latin1 string's bytes. Both return
 * the bytes written or a negative errno (FdSyscalls, the native helper's writeBytes and
 * writeLatin1); a writer in Node's fs convention, which throws errno errors instead, works too.
 */
export interface FdWriter extends Pick<FdIo, 'write'> {
  writeLatin1?(fd: number, text: string): number;
}

export function errnoCode(e: unknown): string | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const code = (e as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

export const isWouldBlock = (e: unknown): boolean => {
  const code = errnoCode(e);
  return code === 'EAGAIN' || code === 'EWOULDBLOCK';
};

export interface FlushResult {
  /** bytes the kernel took in this call */
  written: number;
  /** true when the queue is now empty */
  drained: boolean;
}

export class FdWriteQueue {
  /** strings are latin1 (one char per byte) and at most MAX_STRING_CHUNK long */
  private chunks: (Buffer | string)[] = [];
  /** bytes of chunks[0] already written */
  private offset = 0;
  private bytes = 0;

  constructor(
    private readonly fd: number,
    private readonly io: FdWriter,
    private readonly limitBytes: number = DEFAULT_WRITE_QUEUE_LIMIT,
    /** told how many bytes (and whole replies) were dropped to stay under the limit */
    private readonly onDrop: (bytes: number, replies: number) => void = () => undefined,
  ) {}

  /** bytes still to write */
  get pendingBytes(): number {
    return this.bytes;
  }

  get empty(): boolean {
    return this.bytes === 0;
  }

  /** `data`: bytes, or a latin1 string (one char per byte). */
  enqueue(data: Buffer | string): void {
    if (data.length === 0) return;
    if (typeof data === 'string' && (data.length > MAX_STRING_CHUNK || this.io.writeLatin1 === undefined)) {
      data = Buffer.from(data, 'latin1');
    }
    this.chunks.push(data);
    this.bytes += data.length;
    this.enforceLimit();
  }

  /**
   * Writes as much as the kernel accepts now. EAGAIN (or EINTR: the fd's readiness brings the
   * next attempt) ends the attempt quietly; any other error is thrown (the channel is then
   * broken) with the queue left as it was.
   */
  flush(): FlushResult {
    let written = 0;
    while (this.chunks.length > 0) {
      const head = this.chunks[0]!;
      let n: number;
      try {
        n =
          typeof head === 'string'
            ? this.io.writeLatin1!(this.fd, this.offset === 0 ? head : head.slice(this.offset))
            : this.io.write(this.fd, this.offset === 0 ? head : head.subarray(this.offset));
      } catch (e) {
        if (isWouldBlock(e)) return { written, drained: false };
        throw e;
      }
      if (n < 0) {
        if (n === -EAGAIN || n === -EINTR) return { written, drained: false };
        throw fdSyscallError(n, 'write');
      }
      written += n;
      this.bytes -= n;
      this.offset += n;
      if (this.offset >= head.length) {
        this.chunks.shift();
        this.offset = 0;
      } else if (n === 0) {
        // write(2) returning 0 for a non-empty buffer: treat like a full buffer, never spin.
        return { written, drained: false };
      }
    }
    return { written, drained: true };
  }

  /** Forgets everything not yet written; returns the bytes dropped. */
  clear(): number {
    const dropped = this.bytes;
    this.chunks = [];
    this.offset = 0;
    this.bytes = 0;
    return dropped;
  }

  private enforceLimit(): void {
    if (this.bytes <= this.limitBytes) return;
    // Index 0 may be partly written: keep it. Keep the newest reply too, whatever its size.
    const first = this.offset > 0 ? 1 : 0;
    let dropBytes = 0;
    let dropCount = 0;
    while (this.bytes - dropBytes > this.limitBytes && first + dropCount < this.chunks.length - 1) {
      dropBytes += this.chunks[first + dropCount]!.length;
      dropCount++;
    }
    if (dropCount === 0) return;
    this.chunks.splice(first, dropCount);
    this.bytes -= dropBytes;
    this.onDrop(dropBytes, dropCount);
  }
}
