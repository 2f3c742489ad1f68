/**
 * `-m virtio-serial` (the default): the guest end of a virtio-serial port, e.g.
 * /dev/virtio-ports/org.qemu.guest_agent.0.
 *
 * The port is a character device that Node cannot wrap (net.Socket and tty.ReadStream refuse it)
 * and that behaves like nothing else (test/vm/PORT-BEHAVIOUR.md, measured in a VM):
 *  - with no host connected, read(2) returns 0 at once and poll(2) reports POLLIN|POLLHUP
 *    forever, so any readiness watcher spins; it is not end of stream: once a host connects, the
 *    same fd reads and writes again;
 *  - closing the fd discards what the kernel already received, and a second open fails EBUSY;
 *  - with a host connected, an idle O_NONBLOCK read gives EAGAIN; writes without a host give
 *    EAGAIN, and short writes happen when the host reads slowly.
 *
 * Mechanism: the fd is opened once, O_RDWR|O_NONBLOCK|O_CLOEXEC, and kept for the life of the
 * process. Readiness comes from the native helper's uv_poll watcher on Node's own loop; reads and
 * writes are plain non-blocking read(2)/write(2) (on an O_NONBLOCK fd they return or fail at once,
 * so they never stall the loop, and no thread-pool thread is ever parked on the port: a pool read
 * on a silent port holds its thread until data comes and makes process.exit() hang). They are the
 * native helper's readInto/writeBytes/writeLatin1, which return -errno instead of throwing. Under
 * TCG instructions are what count: a request's read plus its reply's write cost about 14,000
 * user-space instructions through fs.readSync/fs.writeSync before V8 optimizes them (7,000
 * after), 2,300 (1,700) through the helper; an EAGAIN thrown by fs.readSync about 54,000, one
 * returned by readInto 1,400 (callgrind, Node 24).
 *
 * Host presence is read from what read(2) says: data or EAGAIN means a host is connected, 0 means
 * none is. While no host is connected the port's readiness is not watched (it would spin);
 * instead the agent (edgeWake) waits for the port's next wake-up: the driver wakes it when a host
 * connects, sends or leaves (the SIGIOs of PORT-BEHAVIOUR.md), and watchFd's edge mode reports
 * each wake-up once, so an absent host costs nothing and a new one is seen at once; one read a
 * second remains as a safety net. Without edgeWake one read is tried every 100 ms (qemu-ga
 * sleeps the same 100 ms after a 0 read), about 10 wake-ups a second. While a host is connected
 * the port is watched for READABLE, and for WRITABLE only while replies wait.
 *
 * Host connections are tracked for the log and for the write side only: data or EAGAIN means a
 * host is there, a 0 read that it is gone. They do NOT reset the session, and replies waiting to
 * be written are kept for the next host (both as qemu-ga). Measured in the VM: the guest can
 * read a new host's first request before the driver has processed the control message that
 * says this host connected (the data and control virtqueues are handled separately), so a 0
 * read then a "connect" does not reliably separate two hosts; resetting the parser or dropping
 * queued replies at that boundary lost the new host's first reply in about one run in three of
 * 50 reconnect cycles. A host is expected to start with 0xFF + guest-sync-delimited, which
 * resynchronises the parser and lets it skip any stale reply (libvirt does this). The queue is
 * bounded (64 MiB, oldest unsent replies dropped first), and while no host is connected no write
 * is attempted and WRITABLE is not watched (it would spin).
 */
// Imported: Node's global `Buffer` is a getter, called on every use in hot code.
import { Buffer } from 'node:buffer';
import * as fs from 'node:fs';
import { getSystemErrorName } from 'node:util';
import type { AgentLogger } from '../logging/agent-logger';
import {
  EAGAIN,
  EINTR,
  fdSyscallError,
  POLL_READABLE,
  POLL_WRITABLE,
  type FdSyscalls,
  type FdWatcher,
  type NativeHelper,
} from '../native/native-helper';
import { nativeFdIo, type FdIo } from '../native/polled-fd-stream';
import { listSysfsPorts, portNameOf, resolveVirtioPort, type VirtioPortsIo } from '../platform/linux/virtio-ports';
import { strerror } from '../protocol/errors';
import type { Channel, ChannelEvents } from './channel';
import { DEFAULT_WRITE_QUEUE_LIMIT, errnoCode, FdWriteQueue, isWouldBlock } from './fd-write-queue';
import { realSchedule, type Schedule } from './schedule';

/** qemu-ga's pause after a 0 read (no host) before looking again. */
export const HOST_PROBE_INTERVAL_MS = 100;
/**
 * With `edgeWake`, the pause between looks when nothing wakes the port: a safety net only (the
 * driver wakes the port when a host connects, sends or leaves; see the header).
 */
export const EDGE_FALLBACK_PROBE_MS = 1000;
/** Stop reading requests while this many reply bytes wait for a slow host. */
export const DEFAULT_WRITE_HIGH_WATER = 1024 * 1024;
const READ_SIZE = 64 * 1024;
/**
 * O_RDWR|O_NONBLOCK|O_CLOEXEC, as qemu-ga (which also sets O_ASYNC; nothing here uses SIGIO).
 * Node 20 does not export O_CLOEXEC, but libuv sets it on every open anyway.
 */
export const PORT_OPEN_FLAGS =
  fs.constants.O_RDWR | fs.constants.O_NONBLOCK | ((fs.constants as { O_CLOEXEC?: number }).O_CLOEXEC ?? 0);
/** Reads per readiness event before yielding to the rest of the loop (the other ports). */
const MAX_READS_PER_EVENT = 16;

/**
 * The port's syscalls. read, write and writeLatin1 return bytes or a negative errno (FdIo, and
 * FdSyscalls: read 0 = no host, -EAGAIN = host there but idle, or buffer full); open throws.
 */
export interface VirtioPortIo extends FdIo {
  open(path: string, flags: number): number;
  /** write(2) of a latin1 string's bytes (see FdWriter); without it replies become Buffers */
  writeLatin1?(fd: number, text: string): number;
}

/** The real port: Node's openSync/closeSync, the native helper's calls for everything per request. */
export function systemVirtioPortIo(native: FdSyscalls): VirtioPortIo {
  return {
    ...nativeFdIo(native),
    open: (p, flags) => fs.openSync(p, flags),
    writeLatin1: native.writeLatin1,
  };
}

export const systemVirtioPortsIo: VirtioPortsIo = {
  exists: (p) => fs.existsSync(p),
  readdir: (d) => fs.readdirSync(d),
  readFile: (f) => fs.readFileSync(f, 'utf8'),
};

interface VirtioSerialCommonOptions {
  path: string;
  logger: AgentLogger;
  portsIo?: VirtioPortsIo;
  schedule?: Schedule;
  /** wall clock in ms, to align probes (default Date.now) */
  now?: () => number;
  probeIntervalMs?: number;
  /**
   * Wait for an absent host on the port's wake-ups (watchFd's edge mode) instead of looking every
   * probeIntervalMs; the agent sets it, the unit tests of the probing path do not.
   */
  edgeWake?: boolean;
  writeQueueLimit?: number;
  writeHighWater?: number;
}

/** Reads and writes go through `io` when given (tests, benchmarks), else through the native helper. */
export type VirtioSerialOptions = VirtioSerialCommonOptions &
  ({ native: Pick<NativeHelper, 'watchFd' | keyof FdSyscalls>; io?: VirtioPortIo } | { native: Pick<NativeHelper, 'watchFd'>; io: VirtioPortIo });

type Read = Buffer | 'eof' | 'again' | 'failed';

export class VirtioSerialChannel implements Channel {
  readonly description: string;
  private readonly io: VirtioPortIo;
  private readonly schedule: Schedule;
  private readonly now: () => number;
  private readonly probeIntervalMs: number;
  private readonly writeHighWater: number;
  private readonly readBuffer = Buffer.allocUnsafe(READ_SIZE);
  private fd = -1;
  private watcher: FdWatcher | null = null;
  private watched = 0;
  /** edgeWake's watcher; null without edgeWake or when edge mode failed (then: probing) */
  private wakeWatcher: FdWatcher | null = null;
  private wakeArmed = false;
  private queue: FdWriteQueue | null = null;
  private events: ChannelEvents | null = null;
  private hostConnected = false;
  private inputPaused = false;
  /** data read by a probe while the session did not want input; delivered on resume */
  private held: Buffer | null = null;
  private cancelWait: (() => void) | null = null;
  private broken = false;

  constructor(private readonly opts: VirtioSerialOptions) {
    this.description = `virtio-serial:${opts.path}`;
    // Without io the options' type guarantees the native calls.
    this.io = opts.io ?? systemVirtioPortIo(opts.native as Pick<NativeHelper, keyof FdSyscalls>);
    this.schedule = opts.schedule ?? realSchedule;
    this.now = opts.now ?? Date.now;
    this.probeIntervalMs = opts.probeIntervalMs ?? HOST_PROBE_INTERVAL_MS;
    this.writeHighWater = opts.writeHighWater ?? DEFAULT_WRITE_HIGH_WATER;
  }

  /** true while a host is known to be connected (for tests and logs) */
  get connected(): boolean {
    return this.hostConnected;
  }

  /** host connections seen since open (for tests and logs) */
  connections = 0;

  async open(events: ChannelEvents): Promise<void> {
    if (this.fd >= 0) throw new Error(`channel ${this.opts.path} is already open`);
    const portsIo = this.opts.portsIo ?? systemVirtioPortsIo;
    const resolved = resolveVirtioPort(this.opts.path, portsIo);
    let fd: number;
    try {
      fd = this.io.open(resolved.device, PORT_OPEN_FLAGS);
    } catch (e) {
      throw new Error(openFailureMessage(this.opts.path, e, portsIo));
    }
    if (resolved.viaSysfs) {
      this.opts.logger.info({ channel: this.description, device: resolved.device }, `${this.opts.path} has no link (no udev?); using ${resolved.device}, named so in sysfs`);
    }
    let watcher: FdWatcher;
    try {
      watcher = this.opts.native.watchFd(fd, 0, (errno, ready) => this.onReady(errno, ready));
    } catch (e) {
      this.io.close(fd);
      throw new Error(`cannot watch channel '${this.opts.path}': ${(e as Error).message}`);
    }
    let wakeWatcher: FdWatcher | null = null;
    if (this.opts.edgeWake === true) {
      try {
        wakeWatcher = this.opts.native.watchFd(fd, 0, () => this.onWake(), true);
      } catch (e) {
        this.opts.logger.warn({ channel: this.description }, `waiting for the host by probing every ${this.probeIntervalMs} ms: ${(e as Error).message}`);
      }
    }
    this.fd = fd;
    this.watcher = watcher;
    this.watched = 0;
    this.wakeWatcher = wakeWatcher;
    this.wakeArmed = false;
    this.events = events;
    this.broken = false;
    this.hostConnected = false;
    this.held = null;
    this.queue = new FdWriteQueue(fd, this.io, this.opts.writeQueueLimit ?? DEFAULT_WRITE_QUEUE_LIMIT, (bytes, replies) =>
      this.opts.logger.warn({ channel: this.description, bytes, replies }, 'host is not reading: oldest unsent replies dropped'),
    );
    this.probe();
  }

  write(data: string): void {
    const queue = this.queue;
    if (queue === null || this.broken) return;
    queue.enqueue(data);
    // Without a host the write would only fail EAGAIN; the reply waits for the next one.
    if (this.hostConnected && this.cancelWait === null && this.flush() === 'failed') return;
    this.updateWatch();
  }

  pauseInput(): void {
    this.inputPaused = true;
    this.updateWatch();
  }

  resumeInput(): void {
    this.inputPaused = false;
    const held = this.held;
    if (held !== null && this.events !== null) {
      this.held = null;
      this.events.onData(held);
    }
    this.updateWatch();
  }

  async close(): Promise<void> {
    this.stopWaiting();
    this.watcher?.close();
    this.watcher = null;
    this.wakeWatcher?.close();
    this.wakeWatcher = null;
    if (this.fd >= 0) {
      try {
        this.io.close(this.fd);
      } catch {
        // closing is best effort; the fd is gone either way
      }
    }
    this.fd = -1;
    this.queue = null;
    this.events = null;
    this.hostConnected = false;
    this.held = null;
    this.inputPaused = false;
  }

  private wantRead(): boolean {
    return (
      this.hostConnected &&
      !this.inputPaused &&
      this.held === null &&
      this.cancelWait === null &&
      (this.queue?.pendingBytes ?? 0) < this.writeHighWater
    );
  }

  private updateWatch(): void {
    const watcher = this.watcher;
    if (watcher === null || this.broken) return;
    let wanted = 0;
    if (this.hostConnected && this.cancelWait === null) {
      if (this.wantRead()) wanted |= POLL_READABLE;
      if (this.queue !== null && !this.queue.empty) wanted |= POLL_WRITABLE;
    }
    if (wanted === this.watched) return;
    this.watched = wanted;
    watcher.update(wanted);
  }

  /**
   * Nothing is watched for about `probeIntervalMs`; then the port is looked at again. The wake-up
   * is put on a multiple of the interval on the clock, so the probes of several ports (and of
   * several agents) fall into one event-loop wake-up instead of one each.
   */
  private waitThenProbe(): void {
    if (this.cancelWait === null) {
      const interval = this.wakeWatcher !== null ? EDGE_FALLBACK_PROBE_MS : this.probeIntervalMs;
      this.armWake(true);
      let delay = interval - (this.now() % interval);
      if (delay < interval / 4) delay += interval;
      this.cancelWait = this.schedule(delay, () => {
        this.cancelWait = null;
        this.armWake(false);
        this.probe();
      });
    }
    this.updateWatch();
  }

  private stopWaiting(): void {
    this.cancelWait?.();
    this.cancelWait = null;
    this.armWake(false);
  }

  private armWake(on: boolean): void {
    const w = this.wakeWatcher;
    if (w === null || this.wakeArmed === on) return;
    this.wakeArmed = on;
    w.update(on ? POLL_READABLE : 0);
  }

  /** The port was woken (a host came, sent or left) while we waited: look now. */
  private onWake(): void {
    if (this.cancelWait === null || this.fd < 0 || this.broken) return;
    this.stopWaiting();
    this.probe();
  }

  /** One look at the port: is a host there, and did it send anything? */
  private probe(): void {
    if (this.fd < 0 || this.broken) return;
    if (this.held === null && (!this.hostConnected || !this.inputPaused)) {
      const got = this.readOnce();
      if (got === 'failed') return;
      if (got === 'eof') {
        this.hostLeft();
        this.waitThenProbe();
        return;
      }
      this.hostArrived();
      if (got !== 'again') this.deliver(got);
      if (this.fd < 0 || this.broken) return;
    }
    if (this.hostConnected && this.queue !== null && !this.queue.empty && this.flush() === 'failed') return;
    this.updateWatch();
  }

  private onReady(errno: number, ready: number): void {
    if (this.fd < 0 || this.broken) return;
    if (errno !== 0) {
      this.fail(Object.assign(new Error(`poll failed`), { code: errnoName(errno) }), 'poll');
      return;
    }
    if (ready & POLL_WRITABLE && this.queue !== null && !this.queue.empty) {
      const before = this.queue.pendingBytes;
      const outcome = this.flush();
      if (outcome === 'failed') return;
      if (outcome === 'blocked' && this.queue.pendingBytes === before) {
        // "Writable" but nothing went: the hang-up poll reports for a host that left (libuv
        // folds POLLHUP into whatever is watched). Find out by reading, never by spinning.
        this.checkStalledHost();
        return;
      }
    }
    if (ready & POLL_READABLE && this.wantRead()) this.readAvailable();
    this.updateWatch();
  }

  private readAvailable(): void {
    for (let i = 0; i < MAX_READS_PER_EVENT && this.wantRead(); i++) {
      const got = this.readOnce();
      if (got === 'failed') return;
      if (got === 'again') {
        // Readable without data: as qemu-ga does on EAGAIN, wait 100 ms rather than trust a
        // readiness that may be level-triggered.
        if (i === 0) this.waitThenProbe();
        return;
      }
      if (got === 'eof') {
        this.hostLeft();
        this.waitThenProbe();
        return;
      }
      this.hostArrived();
      this.deliver(got);
      // A short read emptied what the port held: do not read again just to collect an EAGAIN
      // (a syscall and a JS-to-C call per request, expensive under emulation); the
      // level-triggered watcher fires again if more arrived meanwhile.
      if (got.length < READ_SIZE) return;
    }
  }

  private checkStalledHost(): void {
    if (this.held === null) {
      const got = this.readOnce();
      if (got === 'failed') return;
      if (got === 'eof') {
        this.hostLeft();
      } else if (got !== 'again') {
        this.deliver(got);
      }
    }
    this.waitThenProbe();
  }

  private readOnce(): Read {
    let n: number;
    try {
      n = this.io.read(this.fd, this.readBuffer);
    } catch (e) {
      // An io in Node's fs convention (errno errors thrown): same meaning.
      if (isWouldBlock(e) || errnoCode(e) === 'EINTR') return 'again';
      this.fail(e, 'read');
      return 'failed';
    }
    // A view, not a copy: the session consumes it before the next read (ChannelEvents.onData).
    if (n > 0) return this.readBuffer.subarray(0, n);
    if (n === 0) return 'eof';
    if (n === -EAGAIN || n === -EINTR) return 'again';
    this.fail(fdSyscallError(n, 'read'), 'read');
    return 'failed';
  }

  private deliver(chunk: Buffer): void {
    if (this.inputPaused || this.events === null) {
      this.held = this.held === null ? Buffer.from(chunk) : Buffer.concat([this.held, chunk]);
      return;
    }
    this.events.onData(chunk);
  }

  private flush(): 'drained' | 'blocked' | 'failed' {
    const queue = this.queue;
    if (queue === null) return 'drained';
    try {
      return queue.flush().drained ? 'drained' : 'blocked';
    } catch (e) {
      this.fail(e, 'write');
      return 'failed';
    }
  }

  /** Log only: see the header for why the session is not told. */
  private hostArrived(): void {
    if (this.hostConnected) return;
    this.hostConnected = true;
    this.connections++;
    this.opts.logger.debug({ channel: this.description, pending: this.queue?.pendingBytes ?? 0 }, 'host connected');
  }

  private hostLeft(): void {
    if (!this.hostConnected) return;
    this.hostConnected = false;
    this.opts.logger.debug({ channel: this.description, pending: this.queue?.pendingBytes ?? 0 }, 'host disconnected');
  }

  private fail(e: unknown, op: 'read' | 'write' | 'poll'): void {
    if (this.broken) return;
    this.broken = true;
    this.stopWaiting();
    this.watched = 0;
    try {
      this.watcher?.update(0);
    } catch {
      // the watcher may already be unusable; close() disposes of it
    }
    this.queue?.clear();
    const verb = op === 'read' ? 'reading' : op === 'write' ? 'writing to' : 'polling';
    const error = new Error(`error ${verb} channel '${this.opts.path}': ${strerror(e)}`);
    this.opts.logger.error({ channel: this.description, code: errnoCode(e) }, error.message);
    this.events?.onFailure?.(error);
  }
}

/** The watcher reports positive errno values; getSystemErrorName wants libuv's negative ones. */
function errnoName(errno: number): string {
  try {
    return getSystemErrorName(-errno);
  } catch {
    return `errno ${errno}`;
  }
}

/** qemu-ga's "error opening channel" text, with a hint for the two usual causes. */
export function openFailureMessage(portPath: string, e: unknown, portsIo: Pick<VirtioPortsIo, 'readdir' | 'readFile'>): string {
  const base = `error opening channel '${portPath}': ${strerror(e)}`;
  const code = errnoCode(e);
  if (code === 'EBUSY') return `${base} (another agent has the port open: is qemu-ga or another qga-ts running?)`;
  if (code === 'ENOENT') {
    const name = portNameOf(portPath);
    if (name !== undefined) {
      const names = listSysfsPorts(portsIo).map((p) => p.name);
      const known = names.length > 0 ? `the guest has ${names.join(', ')}` : 'the guest has no named virtio-serial port';
      return `${base} (no virtio-serial port named ${name}: ${known})`;
    }
  }
  return base;
}
