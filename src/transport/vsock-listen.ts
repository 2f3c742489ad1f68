/**
 * `-m vsock-listen -p <cid>:<port>`: a listening AF_VSOCK socket serving one client at a time,
 * like unix-listen (reference §1.6, §3.3). Node's net module refuses vsock fds, so the native
 * helper creates and accepts the sockets and its uv_poll watcher says when they are ready; reads
 * and writes are non-blocking read(2)/write(2).
 *
 * As with unix-listen in qga-ts: while a client is served the listener is not watched (later
 * clients wait in the backlog); a client that resets or leaves with an unread reply ends only
 * its own connection; each client starts with a clean parser; a client that half-closes gets
 * every reply before its connection is closed.
 */
import type { AgentLogger } from '../logging/agent-logger';
import {
  EAGAIN,
  EINTR,
  fdSyscallError,
  POLL_READABLE,
  POLL_WRITABLE,
  VMADDR_CID_ANY,
  type FdWatcher,
  type NativeHelper,
  type NativeUnavailable,
} from '../native/native-helper';
import { nativeFdIo, systemFdIo, type FdIo } from '../native/polled-fd-stream';
import { strerror } from '../protocol/errors';
import type { Channel, ChannelEvents } from './channel';
import { DEFAULT_WRITE_QUEUE_LIMIT, errnoCode, FdWriteQueue, isWouldBlock } from './fd-write-queue';
import { DEFAULT_WRITE_HIGH_WATER } from './virtio-serial';

const READ_SIZE = 64 * 1024;
const MAX_READS_PER_EVENT = 16;

export interface VsockAddress {
  cid: number;
  port: number;
}

const U32_MAX = 0xffffffff;

/**
 * `<cid>:<port>`, both unsigned 32-bit decimals (qemu-ga prefixes `vsock:` and hands it to QEMU's
 * socket address parser). `-1` is accepted for either, meaning "any" (VMADDR_CID_ANY / PORT_ANY).
 */
export function parseVsockAddress(text: string): VsockAddress | undefined {
  const m = /^(-1|[0-9]+):(-1|[0-9]+)$/.exec(text);
  if (m === null) return undefined;
  const value = (s: string): number | undefined => {
    if (s === '-1') return U32_MAX;
    const n = Number(s);
    return Number.isSafeInteger(n) && n <= U32_MAX ? n : undefined;
  };
  const cid = value(m[1]!);
  const port = value(m[2]!);
  return cid === undefined || port === undefined ? undefined : { cid, port };
}

export interface VsockListenOptions {
  /** `<cid>:<port>`, or a label when `listenFd` is given */
  path: string;
  logger: AgentLogger;
  native: NativeHelper | NativeUnavailable;
  /** an already-listening vsock fd from systemd socket activation */
  listenFd?: number;
  io?: FdIo;
}

export class VsockListenChannel implements Channel {
  readonly description: string;
  private listenFd = -1;
  private ownsListenFd = false;
  private listenWatcher: FdWatcher | null = null;
  private active: VsockConnection | null = null;
  private events: ChannelEvents | null = null;
  private inputPaused = false;

  constructor(private readonly opts: VsockListenOptions) {
    this.description = `vsock-listen:${opts.listenFd !== undefined ? `fd ${opts.listenFd}` : opts.path}`;
  }

  async open(events: ChannelEvents): Promise<void> {
    const native = this.opts.native;
    if (!native.available) {
      throw new Error(`vsock-listen needs the native helper for AF_VSOCK, which is unavailable: ${native.reason}`);
    }
    let fd: number;
    if (this.opts.listenFd !== undefined) {
      fd = this.opts.listenFd;
    } else {
      const address = parseVsockAddress(this.opts.path);
      if (address === undefined) throw new Error(`invalid vsock address '${this.opts.path}': expected <cid>:<port>`);
      try {
        fd = native.vsockListen(address.cid, address.port, 1).fd;
      } catch (e) {
        const hint = errnoCode(e) === 'EADDRNOTAVAIL' && address.cid !== VMADDR_CID_ANY ? ' (is that the guest\'s own CID? -1 listens on any)' : '';
        throw new Error(`failed to listen on vsock ${this.opts.path}: ${strerror(e)}${hint}`);
      }
      this.ownsListenFd = true;
    }
    this.listenFd = fd;
    this.events = events;
    try {
      this.listenWatcher = native.watchFd(fd, POLL_READABLE, (errno) => this.onListenReady(native, errno));
    } catch (e) {
      this.closeListenFd();
      throw new Error(`cannot watch vsock listener: ${(e as Error).message}`);
    }
  }

  private onListenReady(native: NativeHelper, errno: number): void {
    if (this.listenFd < 0 || this.active !== null) return;
    if (errno !== 0) {
      this.opts.logger.error({ channel: this.description, errno }, 'polling the vsock listener failed');
      this.listenWatcher?.update(0);
      this.events?.onFailure?.(new Error(`error polling vsock listener ${this.opts.path}`));
      return;
    }
    // One accept per readiness event: a socket-activated listener may be blocking, and readiness
    // promises one connection only.
    let conn;
    try {
      conn = native.vsockAccept(this.listenFd);
    } catch (e) {
      this.opts.logger.warn({ channel: this.description, code: errnoCode(e) }, `accept failed: ${(e as Error).message}`);
      return;
    }
    if (conn === null) return;
    this.listenWatcher?.update(0);
    this.opts.logger.debug({ channel: this.description, peerCid: conn.cid, peerPort: conn.port }, 'client connected');
    this.serve(native, conn.fd);
  }

  private serve(native: NativeHelper, fd: number): void {
    const events = this.events;
    if (events === null) return;
    let connection: VsockConnection;
    try {
      connection = new VsockConnection(fd, native, this.opts.io ?? nativeFdIo(native), this.opts.logger, {
        onData: (chunk) => this.events?.onData(chunk),
        onInputEnd: (done) => this.events?.onInputEnd(done),
        onClosed: (reason) => this.connectionClosed(connection, reason),
      });
    } catch (e) {
      this.opts.logger.warn({ channel: this.description }, `cannot serve client: ${(e as Error).message}`);
      (this.opts.io ?? nativeFdIo(native)).close(fd);
      this.listenWatcher?.update(POLL_READABLE);
      return;
    }
    this.active = connection;
    events.onConnect();
    if (this.inputPaused) connection.pauseInput();
    connection.start();
  }

  private connectionClosed(connection: VsockConnection, reason: string): void {
    if (this.active !== connection) return;
    this.active = null;
    this.events?.onDisconnect(reason);
    if (this.listenFd >= 0) this.listenWatcher?.update(POLL_READABLE);
  }

  write(data: string): void {
    this.active?.write(data);
  }

  pauseInput(): void {
    this.inputPaused = true;
    this.active?.pauseInput();
  }

  resumeInput(): void {
    this.inputPaused = false;
    this.active?.resumeInput();
  }

  async close(): Promise<void> {
    const active = this.active;
    this.active = null;
    active?.destroy();
    this.listenWatcher?.close();
    this.listenWatcher = null;
    this.closeListenFd();
    this.events = null;
  }

  private closeListenFd(): void {
    if (this.listenFd >= 0 && this.ownsListenFd) {
      try {
        (this.opts.io ?? systemFdIo).close(this.listenFd);
      } catch {
        // best effort
      }
    }
    this.listenFd = -1;
    this.ownsListenFd = false;
  }
}

interface ConnectionEvents {
  onData(chunk: Buffer): void;
  onInputEnd(done: () => void): void;
  onClosed(reason: string): void;
}

/** One accepted vsock client: non-blocking reads and a bounded write queue. Owns its fd. */
class VsockConnection {
  private readonly watcher: FdWatcher;
  private readonly queue: FdWriteQueue;
  private readonly readBuffer = Buffer.allocUnsafe(READ_SIZE);
  private watched = 0;
  private inputPaused = false;
  private inputEnded = false;
  /** the session answered everything after the client's EOF: close once written */
  private closeWhenDrained = false;
  private closed = false;

  constructor(
    private readonly fd: number,
    native: NativeHelper,
    private readonly io: FdIo,
    private readonly logger: AgentLogger,
    private readonly events: ConnectionEvents,
  ) {
    this.queue = new FdWriteQueue(fd, io, DEFAULT_WRITE_QUEUE_LIMIT, (bytes, replies) =>
      logger.warn({ bytes, replies }, 'vsock client is not reading: oldest unsent replies dropped'),
    );
    this.watcher = native.watchFd(fd, 0, (errno, ready) => this.onReady(errno, ready));
  }

  start(): void {
    this.updateWatch();
  }

  write(data: string): void {
    if (this.closed) return;
    this.queue.enqueue(data);
    this.flush();
  }

  pauseInput(): void {
    this.inputPaused = true;
    this.updateWatch();
  }

  resumeInput(): void {
    this.inputPaused = false;
    this.updateWatch();
  }

  destroy(): void {
    this.finish(null);
  }

  private updateWatch(): void {
    if (this.closed) return;
    let wanted = 0;
    if (!this.inputEnded && !this.inputPaused && this.queue.pendingBytes < DEFAULT_WRITE_HIGH_WATER) wanted |= POLL_READABLE;
    if (!this.queue.empty) wanted |= POLL_WRITABLE;
    if (wanted === this.watched) return;
    this.watched = wanted;
    this.watcher.update(wanted);
  }

  private onReady(errno: number, ready: number): void {
    if (this.closed) return;
    if (errno !== 0) {
      this.finish(`polling the client failed (errno ${errno})`);
      return;
    }
    if (ready & POLL_WRITABLE) this.flush();
    if (this.closed) return;
    if (ready & POLL_READABLE) this.readAvailable();
    this.updateWatch();
  }

  private readAvailable(): void {
    for (let i = 0; i < MAX_READS_PER_EVENT && !this.closed && !this.inputEnded && !this.inputPaused; i++) {
      let n: number;
      try {
        n = this.io.read(this.fd, this.readBuffer);
      } catch (e) {
        // an io in Node's fs convention (errno errors thrown)
        if (isWouldBlock(e) || errnoCode(e) === 'EINTR') return;
        this.logger.warn({ code: errnoCode(e) }, `vsock client connection error: ${strerror(e)}`);
        this.finish('client connection error');
        return;
      }
      if (n < 0) {
        // FdSyscalls' convention (nativeFdIo): -errno, nothing thrown
        if (n === -EAGAIN || n === -EINTR) return;
        const e = fdSyscallError(n, 'read');
        this.logger.warn({ code: e.code }, `vsock client connection error: ${strerror(e)}`);
        this.finish('client connection error');
        return;
      }
      if (n === 0) {
        this.inputEnded = true;
        this.updateWatch();
        // Answer everything the client sent before closing our side.
        this.events.onInputEnd(() => {
          this.closeWhenDrained = true;
          if (this.queue.empty) this.finish('client closed the connection');
        });
        return;
      }
      this.events.onData(Buffer.from(this.readBuffer.subarray(0, n)));
    }
  }

  private flush(): void {
    if (this.closed) return;
    try {
      this.queue.flush();
    } catch (e) {
      // EPIPE / ECONNRESET: the client is gone; only this connection ends.
      this.logger.warn({ code: errnoCode(e) }, `vsock client connection error: ${strerror(e)}`);
      this.finish('client connection error');
      return;
    }
    if (this.queue.empty && this.closeWhenDrained) {
      this.finish('client closed the connection');
      return;
    }
    this.updateWatch();
  }

  private finish(reason: string | null): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.clear();
    this.watcher.close();
    try {
      this.io.close(this.fd);
    } catch {
      // best effort
    }
    if (reason !== null) this.events.onClosed(reason);
  }
}
