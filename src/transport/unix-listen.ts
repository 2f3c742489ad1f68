/**
 * `-m unix-listen`: a listening unix socket serving one client at a time, as qemu-ga does.
 * Clients that connect while another is served wait (their bytes are not read) until it leaves.
 * Unlike qemu-ga, a client that resets the connection or leaves with an unread reply never stops
 * the agent, and each new client starts with a clean parser (the session resets).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { AgentLogger } from '../logging/agent-logger';
import type { Channel, ChannelEvents } from './channel';

/** Connections held back while another client is served; more than this are refused. */
const MAX_WAITING = 32;

export interface UnixListenOptions {
  path: string;
  logger: AgentLogger;
  /** an already-listening fd from systemd socket activation, instead of creating `path` */
  listenFd?: number;
}

export class UnixListenChannel implements Channel {
  readonly description: string;
  private server: net.Server | null = null;
  private active: net.Socket | null = null;
  private readonly waiting: net.Socket[] = [];
  private events: ChannelEvents | null = null;
  private inputPaused = false;
  private writeBlocked = false;

  constructor(private readonly opts: UnixListenOptions) {
    this.description = `unix-listen:${opts.listenFd !== undefined ? `fd ${opts.listenFd}` : opts.path}`;
  }

  async open(events: ChannelEvents): Promise<void> {
    this.events = events;
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => this.onConnection(s));
    this.server = server;
    if (this.opts.listenFd === undefined) {
      try {
        fs.unlinkSync(this.opts.path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot remove stale socket ${this.opts.path}: ${(e as Error).message}`);
      }
    }
    await new Promise<void>((resolve, reject) => {
      const onError = (e: Error) => reject(new Error(`cannot listen on ${this.opts.path}: ${e.message}`));
      server.once('error', onError);
      const done = () => {
        server.off('error', onError);
        server.on('error', (e) => this.opts.logger.error({ err: e }, 'listening socket error'));
        resolve();
      };
      if (this.opts.listenFd !== undefined) server.listen({ fd: this.opts.listenFd }, done);
      else server.listen({ path: this.opts.path }, done);
    });
  }

  private onConnection(socket: net.Socket): void {
    socket.on('error', (e: NodeJS.ErrnoException) => {
      // ECONNRESET and EPIPE end this client only; the agent keeps serving.
      this.opts.logger.warn({ code: e.code }, `client connection error: ${e.message}`);
    });
    if (this.active) {
      if (this.waiting.length >= MAX_WAITING) {
        socket.destroy();
        return;
      }
      this.waiting.push(socket);
      socket.once('close', () => {
        const i = this.waiting.indexOf(socket);
        if (i >= 0) this.waiting.splice(i, 1);
      });
      return;
    }
    this.serve(socket);
  }

  private serve(socket: net.Socket): void {
    this.active = socket;
    this.writeBlocked = false;
    socket.removeAllListeners('close');
    socket.on('data', (chunk: Buffer) => this.events?.onData(chunk));
    // `echo req | socat - UNIX-CONNECT:…` shuts its side down right after the request: answer
    // everything first, then close ours.
    socket.on('end', () => this.events?.onInputEnd(() => socket.end()));
    socket.on('drain', () => {
      this.writeBlocked = false;
      if (!this.inputPaused) socket.resume();
    });
    socket.once('close', () => {
      if (this.active !== socket) return;
      this.active = null;
      this.events?.onDisconnect('client closed the connection');
      const next = this.waiting.shift();
      if (next && !next.destroyed) this.serve(next);
    });
    this.events?.onConnect();
    if (!this.inputPaused) socket.resume();
  }

  write(data: string): void {
    const s = this.active;
    if (!s || s.destroyed) return;
    // A client that does not read its replies must not make us buffer without bound: stop
    // reading its requests until the socket drains.
    if (!s.write(data, 'latin1')) {
      this.writeBlocked = true;
      s.pause();
    }
  }

  pauseInput(): void {
    this.inputPaused = true;
    this.active?.pause();
  }

  resumeInput(): void {
    this.inputPaused = false;
    if (!this.writeBlocked) this.active?.resume();
  }

  async close(): Promise<void> {
    for (const s of this.waiting.splice(0)) s.destroy();
    this.active?.destroy();
    this.active = null;
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
