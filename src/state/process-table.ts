/**
 * The processes started by guest-exec, until guest-exec-status has reported their end (reference
 * §4.3). One table per agent, made in main.ts and shared by every channel, as qemu-ga's is.
 *
 * A process counts as exited once it has been reaped AND every captured stream has reached EOF, so
 * a grandchild that keeps the pipe open keeps it "running". The first status that reports the end
 * hands over the output and forgets the process.
 *
 * Beyond qemu-ga, whose table grows without limit: finished processes whose status nobody has
 * collected are bounded. At most `maxFinished` of them (1024 by default) are kept, and their
 * captured output together at most `maxFinishedBytes` (512 MiB by default; a single process can
 * hold 2 x 16 MiB); beyond either bound the oldest finished entry is dropped with a warning in the
 * log, and a later status for its pid answers that the pid does not exist. The newest finished
 * entry is never dropped for the byte bound. Running processes are never dropped.
 */
import type { GuestExecStatus } from '../generated/qga-types';

/** Output kept per stream; later output is read and thrown away (qemu's GUEST_EXEC_MAX_OUTPUT). */
export const GUEST_EXEC_MAX_OUTPUT = 16 * 1024 * 1024;
export const DEFAULT_MAX_FINISHED = 1024;
export const DEFAULT_MAX_FINISHED_BYTES = 512 * 1024 * 1024;

/** One captured stream of a process. */
export class CapturedOutput {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private cut = false;
  private eof = false;

  constructor(private readonly limit: number = GUEST_EXEC_MAX_OUTPUT) {}

  get length(): number {
    return this.size;
  }

  get truncated(): boolean {
    return this.cut;
  }

  get closed(): boolean {
    return this.eof;
  }

  append(chunk: Buffer): void {
    if (this.eof || chunk.length === 0) return;
    const room = this.limit - this.size;
    if (chunk.length > room) this.cut = true;
    if (room <= 0) return;
    const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
    // A short read is a slice of a 64 KiB read buffer: copy it, so that many small reads cannot
    // pin far more memory than the output they hold.
    const kept = part.length * 2 < part.buffer.byteLength ? Buffer.from(part) : part;
    this.chunks.push(kept);
    this.size += kept.length;
  }

  close(): void {
    if (this.eof) return;
    // qemu-ga marks the stream truncated when its watch fires on a full buffer, and at EOF it
    // always fires once more: output of exactly 16 MiB is therefore reported as truncated.
    if (this.size >= this.limit) this.cut = true;
    this.eof = true;
  }

  data(): Buffer {
    return Buffer.concat(this.chunks, this.size);
  }
}

/** How a process ended: exactly one of the two is a number. */
export interface ExitInfo {
  code: number | null;
  signal: number | null;
}

export interface CaptureStreams {
  out: boolean;
  err: boolean;
}

/** A process in the table. The exec command feeds it; the table reads it. */
export class ExecProcess {
  readonly out: CapturedOutput | null;
  readonly err: CapturedOutput | null;
  private exitInfo: ExitInfo | null = null;
  private announced = false;

  constructor(
    readonly pid: number,
    capture: CaptureStreams,
    private readonly onFinished: (p: ExecProcess) => void,
    limit: number = GUEST_EXEC_MAX_OUTPUT,
  ) {
    this.out = capture.out ? new CapturedOutput(limit) : null;
    this.err = capture.err ? new CapturedOutput(limit) : null;
  }

  /** The child has been reaped. */
  setExited(info: ExitInfo): void {
    if (this.exitInfo) return;
    this.exitInfo = info;
    this.checkFinished();
  }

  appendOut(chunk: Buffer): void {
    this.out?.append(chunk);
  }

  appendErr(chunk: Buffer): void {
    this.err?.append(chunk);
  }

  closeOut(): void {
    this.out?.close();
    this.checkFinished();
  }

  closeErr(): void {
    this.err?.close();
    this.checkFinished();
  }

  get exit(): ExitInfo | null {
    return this.exitInfo;
  }

  get finished(): boolean {
    return this.exitInfo !== null && (this.out?.closed ?? true) && (this.err?.closed ?? true);
  }

  /** Bytes of output held. */
  get retainedBytes(): number {
    return (this.out?.length ?? 0) + (this.err?.length ?? 0);
  }

  private checkFinished(): void {
    if (this.announced || !this.finished) return;
    this.announced = true;
    this.onFinished(this);
  }
}

export interface ProcessTableOptions {
  maxFinished?: number;
  maxFinishedBytes?: number;
  /** per-stream output cap; tests lower it */
  outputLimit?: number;
  /** where the eviction warning goes (a pino logger fits) */
  logger?: { warn(obj: object, msg: string): void };
}

export class ProcessTable {
  /** pid → processes with that pid, oldest first (a pid can be reused once its owner is reaped) */
  private readonly byPid = new Map<number, ExecProcess[]>();
  /** finished, not yet collected, in the order they finished */
  private readonly finishedOrder = new Set<ExecProcess>();
  private finishedBytes = 0;
  private readonly maxFinished: number;
  private readonly maxFinishedBytes: number;
  private readonly outputLimit: number;

  constructor(private readonly opts: ProcessTableOptions = {}) {
    this.maxFinished = opts.maxFinished ?? DEFAULT_MAX_FINISHED;
    this.maxFinishedBytes = opts.maxFinishedBytes ?? DEFAULT_MAX_FINISHED_BYTES;
    this.outputLimit = opts.outputLimit ?? GUEST_EXEC_MAX_OUTPUT;
  }

  /** Add a freshly spawned process. */
  register(pid: number, capture: CaptureStreams): ExecProcess {
    const proc = new ExecProcess(pid, capture, (p) => this.noteFinished(p), this.outputLimit);
    const list = this.byPid.get(pid);
    if (list) list.push(proc);
    else this.byPid.set(pid, [proc]);
    return proc;
  }

  /**
   * guest-exec-status: null for an unknown pid; `{exited: false}` while running; otherwise the
   * end with any output, and the process is forgotten.
   */
  status(pid: bigint | number): GuestExecStatus | null {
    const key = typeof pid === 'bigint' ? toSafeNumber(pid) : pid;
    if (key === null) return null;
    const proc = this.byPid.get(key)?.[0];
    if (!proc) return null;
    if (!proc.finished) return { exited: false };
    this.remove(proc);
    return describeEnd(proc);
  }

  /** processes in the table, running and finished */
  get size(): number {
    let n = 0;
    for (const list of this.byPid.values()) n += list.length;
    return n;
  }

  get finishedCount(): number {
    return this.finishedOrder.size;
  }

  private noteFinished(proc: ExecProcess): void {
    if (!this.isListed(proc)) return;
    this.finishedOrder.add(proc);
    this.finishedBytes += proc.retainedBytes;
    while (
      this.finishedOrder.size > this.maxFinished ||
      (this.finishedBytes > this.maxFinishedBytes && this.finishedOrder.size > 1)
    ) {
      const oldest = this.finishedOrder.values().next().value as ExecProcess;
      this.remove(oldest);
      this.opts.logger?.warn(
        { pid: oldest.pid, bytes: oldest.retainedBytes, uncollected: this.finishedOrder.size },
        'guest-exec: dropped a finished process whose status was never collected (too many uncollected processes)',
      );
    }
  }

  private isListed(proc: ExecProcess): boolean {
    return this.byPid.get(proc.pid)?.includes(proc) ?? false;
  }

  private remove(proc: ExecProcess): void {
    const list = this.byPid.get(proc.pid);
    if (list) {
      const i = list.indexOf(proc);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byPid.delete(proc.pid);
    }
    if (this.finishedOrder.delete(proc)) this.finishedBytes -= proc.retainedBytes;
  }
}

/** The reply members in schema order; out-/err-data only for a stream that produced bytes. */
function describeEnd(proc: ExecProcess): GuestExecStatus {
  const status: GuestExecStatus = { exited: true };
  const exit = proc.exit!;
  if (exit.code !== null) status.exitcode = exit.code;
  else if (exit.signal !== null) status.signal = exit.signal;
  const out = proc.out && proc.out.length > 0 ? proc.out : null;
  const err = proc.err && proc.err.length > 0 ? proc.err : null;
  if (out) status['out-data'] = out.data().toString('base64');
  if (err) status['err-data'] = err.data().toString('base64');
  if (out) status['out-truncated'] = out.truncated;
  if (err) status['err-truncated'] = err.truncated;
  return status;
}

function toSafeNumber(n: bigint): number | null {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : null;
}
