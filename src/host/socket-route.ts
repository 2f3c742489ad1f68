/**
 * Talking to an agent over a unix stream socket: a QEMU chardev (`-chardev socket,server=on`), a
 * libvirt channel's socket, or an agent in unix-listen mode.
 *
 * The stream has no framing and may carry leftovers of an earlier client: a reply it never read,
 * half a request the agent is still parsing. So every connection starts with the sync qemu-ga's
 * documentation prescribes: send 0xFF (the agent drops any partial request; qemu-ga answers that
 * byte with a parse error), then `guest-sync-delimited` with a random id, and throw away every
 * byte until a 0xFF that is followed by `{"return": <our id>}`. A 0xFF followed by another id is
 * an earlier client's sync and is skipped too. After that the stream is ours:
 *
 * - one request at a time (the agent answers in order anyway), each tagged with an `id` that
 *   qemu-ga echoes, so a late reply to a call that timed out is recognised and dropped;
 * - a reply without `id` is taken as the answer to the request in flight (agents that do not
 *   echo ids), `event`/`QMP` objects are ignored as libvirt does;
 * - anything else (bytes that are not JSON, a stray 0xFF, an object that is not a reply) means the
 *   stream cannot be trusted: the call fails and the connection is dropped;
 * - after a timeout or an abort the next call syncs again before it sends anything.
 *
 * Closing: the agent may still be writing to us. qemu-ga (7.2 at least) exits when a client
 * closes with unread data, because the kernel then answers its next read with ECONNRESET. So a
 * close half-closes our side first and keeps reading until the agent closes its side (or a grace
 * period ends), and only then destroys the socket.
 */
import { randomInt } from 'node:crypto';
import * as net from 'node:net';
import { encodeJson } from '../protocol/json-writer';
import { isJsonObject, type JsonObject, type JsonValue } from '../protocol/json-value';
import { StreamLexer, type StreamItem } from '../protocol/stream-lexer';
import type { AgentRoute, ExchangeOptions } from './agent-route';
import { QgaAbortedError, QgaConnectionError, QgaProtocolError, QgaTimeoutError } from './client-errors';

export interface SocketRouteOptions {
  /** ms to wait for connect() (default 3000) */
  connectTimeoutMs?: number;
  /** ms to wait for the sync reply (default 5000) */
  syncTimeoutMs?: number;
  /** ms of silence after which a command without success response counts as done (default 1000) */
  noReplyWindowMs?: number;
  /** ms to wait for the agent to close its side when we close (default 500) */
  closeGraceMs?: number;
  /** connection attempts per call before giving up (default 1); waits reconnectDelayMs, doubling, between them */
  connectAttempts?: number;
  reconnectDelayMs?: number;
  /** the sync id; random by default */
  syncId?: () => bigint;
  /** opens the stream; net.createConnection by default (tests pass in-memory duplexes) */
  connect?: (path: string) => net.Socket;
  /** what happened on the wire, for logs and tests */
  onEvent?: (event: SocketRouteEvent) => void;
}

export type SocketRouteEvent =
  | { type: 'connected'; path: string }
  | { type: 'synced'; path: string; syncId: bigint; discardedBytes: number }
  | { type: 'stale-reply'; path: string; reply: JsonObject }
  | { type: 'protocol-error'; path: string; message: string }
  | { type: 'closed'; path: string };

const DEFAULTS = {
  connectTimeoutMs: 3000,
  syncTimeoutMs: 5000,
  noReplyWindowMs: 1000,
  closeGraceMs: 500,
  connectAttempts: 1,
  reconnectDelayMs: 200,
};

/** Ids up to 2^48 stay exact in every JSON reader, even ones that parse numbers as doubles. */
const randomSyncId = (): bigint => BigInt(randomInt(1, 2 ** 48 - 1));

type ConnectionState = 'syncing' | 'ready' | 'desynced' | 'closed';

interface Pending {
  id: JsonValue | undefined;
  resolve(reply: JsonObject | null): void;
  reject(e: Error): void;
}

interface SyncWait {
  id: bigint;
  /** a 0xFF has been seen and the value after it not yet judged */
  afterDelimiter: boolean;
  discarded: number;
  resolve(): void;
  reject(e: Error): void;
}

/** Deep equality of JSON trees (ids may be any JSON value in raw mode). */
function sameJson(a: JsonValue | undefined, b: JsonValue | undefined): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || a === undefined || b === undefined) return false;
  if (typeof a === 'bigint' || typeof a === 'number') return Number(a) === Number(b) && String(a) === String(b);
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]));
  if (typeof a === 'object' && typeof b === 'object' && !Array.isArray(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => k in b && sameJson(a[k], b[k]));
  }
  return false;
}

function connectionHint(code: string | undefined): string {
  switch (code) {
    case 'ENOENT':
      return 'no such socket';
    case 'ECONNREFUSED':
      return 'nothing is listening on it';
    case 'EACCES':
      return 'permission denied';
    default:
      return code ?? 'connection failed';
  }
}

/** One connection's life: sync, then request/reply pairs. */
class Connection {
  state: ConnectionState = 'syncing';
  private readonly lexer: StreamLexer;
  private sync: SyncWait | null = null;
  private pending: Pending | null = null;
  private closeWaiters: (() => void)[] = [];
  private socketClosed = false;

  constructor(
    readonly path: string,
    private readonly socket: net.Socket,
    private readonly emitEvent: (e: SocketRouteEvent) => void,
  ) {
    this.lexer = new StreamLexer((item) => this.onItem(item));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined); // 'close' follows and carries the outcome
    socket.on('close', () => this.onClose());
  }

  get usable(): boolean {
    return this.state !== 'closed' && !this.socketClosed;
  }

  /** 0xFF, guest-sync-delimited with a fresh id, then wait for the delimited reply carrying it. */
  syncWith(id: bigint, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
    this.state = 'syncing';
    this.pending = null;
    return new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.sync = null;
      };
      const onAbort = () => {
        cleanup();
        this.state = 'desynced';
        reject(new QgaAbortedError(`sync with ${this.path}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        this.state = 'desynced';
        reject(new QgaTimeoutError(`sync with ${this.path}`, 'sync', timeoutMs, 'is an agent running behind this socket, and is no other client holding it?'));
      }, timeoutMs);
      this.sync = {
        id,
        afterDelimiter: false,
        discarded: 0,
        resolve: () => {
          const discarded = this.sync?.discarded ?? 0;
          cleanup();
          this.state = 'ready';
          this.emitEvent({ type: 'synced', path: this.path, syncId: id, discardedBytes: discarded });
          resolve();
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(`{"execute": "guest-sync-delimited", "arguments": {"id": ${id}}}\n`, 'latin1')]));
    });
  }

  /** Send one request and wait for its reply (or, for a command without reply, for silence). */
  request(text: string, id: JsonValue | undefined, opts: ExchangeOptions, noReplyWindowMs: number, what: string): Promise<JsonObject | null> {
    return new Promise<JsonObject | null>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        if (this.pending === pending) this.pending = null;
      };
      const onAbort = () => {
        cleanup();
        this.state = 'desynced';
        reject(new QgaAbortedError(what));
      };
      const wait = opts.expectReply ? opts.timeoutMs : noReplyWindowMs;
      const timer = setTimeout(() => {
        cleanup();
        // A reply may still come: the next call syncs first, which throws it away.
        this.state = 'desynced';
        if (opts.expectReply) reject(new QgaTimeoutError(what, 'reply', wait));
        else resolve(null);
      }, wait);
      const pending: Pending = {
        id,
        resolve: (reply) => {
          cleanup();
          resolve(reply);
        },
        reject: (e) => {
          cleanup();
          reject(e);
        },
      };
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending = pending;
      // Gone already: the caller turns null into "closed before replying" when a reply was due.
      if (!this.usable) return pending.resolve(null);
      this.write(Buffer.from(text, 'latin1'));
    });
  }

  private write(data: Buffer): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(data);
  }

  private onData(chunk: Buffer): void {
    let rest = chunk;
    while (rest.length > 0 && this.state !== 'closed') {
      const sync = this.sync;
      if (this.state === 'syncing' && sync) {
        if (!sync.afterDelimiter) {
          const at = rest.indexOf(0xff);
          if (at < 0) {
            sync.discarded += rest.length;
            return;
          }
          sync.discarded += at + 1;
          rest = rest.subarray(at + 1);
          this.lexer.reset();
          sync.afterDelimiter = true;
          continue;
        }
        // Lex up to the next 0xFF; whatever completes first decides whether this is our reply.
        const at = rest.indexOf(0xff);
        const piece = at < 0 ? rest : rest.subarray(0, at);
        rest = at < 0 ? Buffer.alloc(0) : rest.subarray(at);
        this.lexer.feed(piece);
        if (this.sync === sync && at >= 0) sync.afterDelimiter = false;
        continue;
      }
      if (this.state === 'syncing') return; // between a failed sync and the next: nothing to read for
      this.lexer.feed(rest);
      return;
    }
  }

  private onItem(item: StreamItem): void {
    const sync = this.sync;
    if (this.state === 'syncing') {
      if (!sync || !sync.afterDelimiter) return;
      const v = item.kind === 'value' ? item.value : null;
      if (isJsonObject(v) && typeof v['return'] === 'bigint' && v['return'] === sync.id) {
        sync.resolve();
      } else {
        sync.afterDelimiter = false; // an earlier client's sync, or noise: wait for the next 0xFF
      }
      return;
    }
    if (this.state === 'closed') return;
    if (item.kind === 'error') return this.protocolFailure(`the agent sent bytes that are not JSON (${item.error.desc})`);
    const v = item.value;
    if (!isJsonObject(v)) return this.protocolFailure(`the agent sent a JSON ${Array.isArray(v) ? 'array' : typeof v} instead of a reply object`);
    if ('event' in v || 'QMP' in v) return;
    if (!('return' in v) && !('error' in v)) return this.protocolFailure(`the agent sent an object that is not a reply: ${encodeJson(v).slice(0, 200)}`);
    const p = this.pending;
    if (!p) {
      // A late reply to a call that gave up (libvirt calls it a "delayed reply").
      this.emitEvent({ type: 'stale-reply', path: this.path, reply: v });
      return;
    }
    if ('id' in v && p.id !== undefined && !sameJson(v['id'], p.id)) {
      this.emitEvent({ type: 'stale-reply', path: this.path, reply: v });
      return;
    }
    p.resolve(v);
  }

  private protocolFailure(message: string): void {
    this.emitEvent({ type: 'protocol-error', path: this.path, message });
    const e = new QgaProtocolError(`${this.path}: ${message}`);
    this.state = 'closed';
    this.pending?.reject(e);
    this.sync?.reject(e);
    this.socket.destroy();
  }

  private onClose(): void {
    this.socketClosed = true;
    const wasClosing = this.state === 'closed';
    this.state = 'closed';
    this.emitEvent({ type: 'closed', path: this.path });
    this.sync?.reject(new QgaConnectionError(`${this.path}: the agent closed the connection during sync`, 'ECLOSED'));
    const p = this.pending;
    if (p) {
      // For shutdown/suspend a closed connection is what success usually looks like.
      if (!wasClosing) p.resolve(null);
    }
    this.closeWaiters.splice(0).forEach((w) => w());
  }

  /** Half-close, keep reading until the agent closes too (or graceMs passes), then destroy. */
  async close(graceMs: number): Promise<void> {
    if (this.socketClosed) return;
    this.state = 'closed';
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, graceMs);
      this.closeWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.end();
    });
    this.socket.destroy();
  }

  destroy(): void {
    this.state = 'closed';
    this.socket.destroy();
  }
}

export class SocketRoute implements AgentRoute {
  readonly target: string;
  private readonly opts: Required<Omit<SocketRouteOptions, 'onEvent'>> & Pick<SocketRouteOptions, 'onEvent'>;
  private conn: Connection | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private nextRequest = 1;
  private readonly idPrefix = `qga-ts-${randomInt(0, 2 ** 31).toString(36)}`;

  constructor(readonly path: string, options: SocketRouteOptions = {}) {
    this.target = path;
    this.opts = {
      ...DEFAULTS,
      syncId: randomSyncId,
      connect: (p) => net.createConnection({ path: p }),
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    } as typeof this.opts;
  }

  exchange(request: JsonObject, options: ExchangeOptions): Promise<JsonObject | null> {
    const run = this.queue.then(() => this.exchangeNow(request, options));
    this.queue = run.catch(() => undefined);
    return run;
  }

  close(): Promise<void> {
    const run = this.queue.then(async () => {
      const c = this.conn;
      this.conn = null;
      await c?.close(this.opts.closeGraceMs);
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private emit(e: SocketRouteEvent): void {
    this.opts.onEvent?.(e);
  }

  private async exchangeNow(request: JsonObject, options: ExchangeOptions): Promise<JsonObject | null> {
    const command = typeof request['execute'] === 'string' ? request['execute'] : 'request';
    const what = `${command} on ${this.path}`;
    if (options.signal?.aborted) throw new QgaAbortedError(what);
    const conn = await this.readyConnection(options.signal);
    let id: JsonValue | undefined = request['id'];
    let body = request;
    if (options.tagWithId && id === undefined) {
      id = `${this.idPrefix}-${this.nextRequest++}`;
      body = { ...request, id };
    }
    try {
      const reply = await conn.request(encodeJson(body) + '\n', id, options, this.opts.noReplyWindowMs, what);
      if (reply === null && options.expectReply) {
        throw new QgaConnectionError(`${what}: the agent closed the connection before replying`, 'ECLOSED');
      }
      return reply;
    } finally {
      if (!conn.usable && this.conn === conn) this.conn = null;
    }
  }

  /** The current connection if it is in step, else a resync or a new connection and a sync. */
  private async readyConnection(signal: AbortSignal | undefined): Promise<Connection> {
    const existing = this.conn;
    if (existing && existing.usable && existing.state === 'ready') return existing;
    if (existing && existing.usable && existing.state === 'desynced') {
      try {
        await existing.syncWith(this.opts.syncId(), this.opts.syncTimeoutMs, signal);
        return existing;
      } catch (e) {
        existing.destroy();
        this.conn = null;
        throw e;
      }
    }
    existing?.destroy();
    this.conn = null;
    const conn = await this.connectWithRetries(signal);
    try {
      await conn.syncWith(this.opts.syncId(), this.opts.syncTimeoutMs, signal);
    } catch (e) {
      // Not in step: a polite close would wait for an agent that is not talking to us.
      conn.destroy();
      throw e;
    }
    this.conn = conn;
    return conn;
  }

  private async connectWithRetries(signal: AbortSignal | undefined): Promise<Connection> {
    let delay = this.opts.reconnectDelayMs;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.connectOnce(signal);
      } catch (e) {
        if (attempt >= this.opts.connectAttempts || e instanceof QgaAbortedError) throw e;
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
    }
  }

  private connectOnce(signal: AbortSignal | undefined): Promise<Connection> {
    return new Promise<Connection>((resolve, reject) => {
      const socket = this.opts.connect(this.path);
      const finish = (e: Error | null) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.removeListener('connect', onConnect);
        socket.removeListener('error', onError);
        if (e) {
          socket.destroy();
          reject(e);
        } else {
          const conn = new Connection(this.path, socket, (ev) => this.emit(ev));
          this.emit({ type: 'connected', path: this.path });
          resolve(conn);
        }
      };
      const onConnect = () => finish(null);
      const onError = (e: NodeJS.ErrnoException) =>
        finish(new QgaConnectionError(`cannot connect to ${this.path}: ${connectionHint(e.code)}`, e.code));
      const onAbort = () => finish(new QgaAbortedError(`connect to ${this.path}`));
      const timer = setTimeout(
        () => finish(new QgaTimeoutError(`connect to ${this.path}`, 'connect', this.opts.connectTimeoutMs)),
        this.opts.connectTimeoutMs,
      );
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', onConnect);
      socket.once('error', onError);
    });
  }
}
