// The host end of an agent port for test/vm/debian-guest.test.ts: guest-sync-delimited with the
// 0xFF resynchronisation (so whatever an earlier agent or an earlier request left behind is
// skipped), one request at a time, and guest-exec.
import * as net from 'node:net';
import { connectWithRetry } from '../vm';

export class GuestChannel {
  private buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  private closed = false;
  private nextId = 5000 + Math.floor(Math.random() * 1_000_000);

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  static async connect(socketPath: string): Promise<GuestChannel> {
    return new GuestChannel(await connectWithRetry(socketPath, 10_000));
  }

  close(): void {
    this.socket.destroy();
  }

  private async waitFor<T>(take: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = take();
      if (got !== undefined) return got;
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /**
   * Sends 0xFF + guest-sync-delimited every `retryMs` until one of them is answered, then one more
   * so that replies to the earlier ones are consumed: afterwards requests and replies pair up.
   * Resolves with the time the first answer took.
   */
  async sync(timeoutMs: number, retryMs = 3_000): Promise<number> {
    const started = Date.now();
    const sent = new Set<number>();
    const deadline = started + timeoutMs;
    let answered: number | undefined;
    while (answered === undefined) {
      if (Date.now() > deadline) throw new Error(`no guest-sync-delimited reply within ${timeoutMs} ms`);
      const id = this.sendSync();
      sent.add(id);
      try {
        answered = await this.waitFor(() => this.takeSyncReply(sent), Math.min(retryMs, Math.max(1, deadline - Date.now())), 'sync reply');
      } catch (error) {
        if (this.closed) throw error;
      }
    }
    const firstReplyMs = Date.now() - started;
    const last = this.sendSync();
    await this.waitFor(() => this.takeSyncReply(new Set([last])), 30_000, `sync reply ${last}`);
    return firstReplyMs;
  }

  private sendSync(): number {
    const id = this.nextId++;
    const request = JSON.stringify({ execute: 'guest-sync-delimited', arguments: { id } });
    this.socket.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(request)]));
    return id;
  }

  /** Consumes input up to the first 0xFF-prefixed reply carrying one of `ids`. */
  private takeSyncReply(ids: Set<number>): number | undefined {
    for (;;) {
      const marker = this.buffer.indexOf(0xff);
      if (marker < 0) {
        this.buffer = Buffer.alloc(0);
        return undefined;
      }
      const newline = this.buffer.indexOf(0x0a, marker);
      if (newline < 0) {
        this.buffer = this.buffer.subarray(marker);
        return undefined;
      }
      const text = this.buffer.subarray(marker + 1, newline).toString();
      this.buffer = this.buffer.subarray(newline + 1);
      try {
        const value = (JSON.parse(text) as { return?: unknown }).return;
        if (typeof value === 'number' && ids.has(value)) return value;
      } catch {
        // a fragment from before a restart: skip it
      }
    }
  }

  /** Writes a request without waiting (for requests whose reply may never come). */
  send(execute: string, args?: Record<string, unknown>): void {
    this.socket.write(JSON.stringify(args === undefined ? { execute } : { execute, arguments: args }));
  }

  async request(execute: string, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<unknown> {
    this.send(execute, args);
    const line = await this.waitFor(
      () => {
        const newline = this.buffer.indexOf(0x0a);
        if (newline < 0) return undefined;
        const text = this.buffer.subarray(0, newline).toString();
        this.buffer = this.buffer.subarray(newline + 1);
        return text;
      },
      timeoutMs,
      `reply to ${execute}`,
    );
    const reply = JSON.parse(line) as { return?: unknown; error?: { class: string; desc: string } };
    if (reply.error !== undefined) throw new Error(`${execute}: ${reply.error.class}: ${reply.error.desc}`);
    return reply.return;
  }

  /** Runs a shell command in the guest (guest-exec) and returns its exit code and output. */
  async shell(script: string, timeoutMs = 60_000): Promise<{ exitcode: number; out: string; err: string }> {
    const { pid } = (await this.request('guest-exec', { path: '/bin/sh', arg: ['-c', script], 'capture-output': true })) as { pid: number };
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = (await this.request('guest-exec-status', { pid })) as {
        exited: boolean;
        exitcode?: number;
        'out-data'?: string;
        'err-data'?: string;
      };
      if (status.exited) {
        return {
          exitcode: status.exitcode ?? -1,
          out: Buffer.from(status['out-data'] ?? '', 'base64').toString(),
          err: Buffer.from(status['err-data'] ?? '', 'base64').toString(),
        };
      }
      if (Date.now() > deadline) throw new Error(`guest command did not finish within ${timeoutMs} ms: ${script}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
