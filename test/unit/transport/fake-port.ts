/**
 * A virtio-serial port as test/vm/PORT-BEHAVIOUR.md measured it, in memory: with no host a read
 * gives 0 and a write EAGAIN; with a host an idle read gives EAGAIN, writes go into a kernel
 * buffer of limited size (short writes, then EAGAIN). Results follow the native helper's
 * convention: bytes, or a negative errno (nothing thrown). Plus a fake uv_poll watcher whose
 * events the test fires, and a fake clock.
 */
import * as os from 'node:os';
import type { FdEventCallback, FdWatcher } from '../../../src/native/native-helper';
import type { VirtioPortIo } from '../../../src/transport/virtio-serial';
import type { Schedule } from '../../../src/transport/schedule';

export const errno = (code: string): Error => Object.assign(new Error(code), { code });
/** -errno, as readInto/writeBytes/writeLatin1 return it */
export const failed = (code: keyof typeof os.constants.errno): number => -os.constants.errno[code];

export class FakePort implements VirtioPortIo {
  hostConnected = false;
  /** bytes the host sent that the guest has not read */
  incoming: Buffer[] = [];
  /** what reached the host */
  received: Buffer[] = [];
  /** bytes the kernel/QEMU accepts before EAGAIN while the host does not read */
  capacity = Number.POSITIVE_INFINITY;
  buffered = 0;
  reads = 0;
  writes = 0;
  /** writes that came through writeLatin1 (counted in `writes` too) */
  stringWrites = 0;
  openFlags: number | undefined;
  openedPath: string | undefined;
  openError: Error | undefined;
  /** the next reads / writes return this (a negative errno, see `failed`) */
  readResult: number | undefined;
  writeResult: number | undefined;
  /** the next reads throw this instead (an io in Node's fs convention) */
  readThrows: Error | undefined;
  closed = false;

  open(p: string, flags: number): number {
    if (this.openError) throw this.openError;
    this.openedPath = p;
    this.openFlags = flags;
    return 42;
  }

  read(_fd: number, buffer: Buffer): number {
    this.reads++;
    if (this.readThrows) throw this.readThrows;
    if (this.readResult !== undefined) return this.readResult;
    const head = this.incoming[0];
    if (head !== undefined) {
      const n = Math.min(head.length, buffer.length);
      head.copy(buffer, 0, 0, n);
      if (n === head.length) this.incoming.shift();
      else this.incoming[0] = head.subarray(n);
      return n;
    }
    if (!this.hostConnected) return 0;
    return failed('EAGAIN');
  }

  write(_fd: number, data: Uint8Array): number {
    this.writes++;
    if (this.writeResult !== undefined) return this.writeResult;
    if (!this.hostConnected) return failed('EAGAIN');
    const room = this.capacity - this.buffered;
    if (room <= 0) return failed('EAGAIN');
    const n = Math.min(room, data.length);
    this.received.push(Buffer.from(data.subarray(0, n)));
    if (this.capacity !== Number.POSITIVE_INFINITY) this.buffered += n;
    return n;
  }

  /** as systemVirtioPortIo: the same kernel behaviour for a latin1 string's bytes */
  writeLatin1(fd: number, text: string): number {
    this.stringWrites++;
    return this.write(fd, Buffer.from(text, 'latin1'));
  }

  close(): void {
    this.closed = true;
  }

  /** the host reads everything in the buffer */
  hostDrains(): void {
    this.buffered = 0;
  }

  text(): string {
    return Buffer.concat(this.received).toString('latin1');
  }
}

export class FakeWatcher implements FdWatcher {
  events = 0;
  updates: number[] = [];
  closed = false;
  constructor(
    readonly fd: number,
    private readonly cb: FdEventCallback,
  ) {}
  update(events: number): void {
    if (this.closed) throw new Error('update on a closed watcher');
    this.events = events;
    this.updates.push(events);
  }
  close(): void {
    this.closed = true;
    this.events = 0;
  }
  /** uv_poll would call back with `ready` if it overlaps what is watched */
  /** watchFd's edge mode: the fake does not model edges, the test fires each wake-up itself */
  edge = false;
  fire(ready: number, err = 0): boolean {
    if (this.closed) return false;
    if (err === 0 && (ready & this.events) === 0) return false;
    this.cb(err, err === 0 ? ready & this.events : 0);
    return true;
  }
}

export class FakeNative {
  watchers: FakeWatcher[] = [];
  /** watchFd in edge mode throws this (a kernel without it, say) */
  edgeError: Error | undefined;
  watchFd(fd: number, events: number, cb: FdEventCallback, edge = false): FakeWatcher {
    if (edge && this.edgeError !== undefined) throw this.edgeError;
    const w = new FakeWatcher(fd, cb);
    w.edge = edge;
    if (events !== 0) w.update(events);
    this.watchers.push(w);
    return w;
  }
  get last(): FakeWatcher {
    const w = this.watchers[this.watchers.length - 1];
    if (w === undefined) throw new Error('no watcher');
    return w;
  }
}

export class FakeClock {
  now = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 0;
  readonly schedule: Schedule = (ms, fn) => {
    const id = this.nextId++;
    this.timers.push({ at: this.now + ms, fn, id });
    return () => {
      this.timers = this.timers.filter((t) => t.id !== id);
    };
  };
  get pending(): number {
    return this.timers.length;
  }
  /** Runs every timer due within `ms`, in time order. */
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.id - b.id);
      const next = this.timers[0];
      if (next === undefined || next.at > end) break;
      this.timers.shift();
      this.now = next.at;
      next.fn();
    }
    this.now = end;
  }
}
