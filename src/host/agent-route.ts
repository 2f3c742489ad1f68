/**
 * A route is one way of reaching an agent: its own unix socket (socket-route.ts) or libvirt's
 * connection through `virsh qemu-agent-command` (libvirt-route.ts). The client above it deals in
 * whole request and reply objects; the route deals with getting them there and back.
 */
import type { JsonObject } from '../protocol/json-value';

export interface ExchangeOptions {
  /** how long to wait for the reply, in ms */
  timeoutMs: number;
  /**
   * false for commands that write nothing when they succeed (guest-shutdown, guest-suspend-*):
   * the exchange ends when nothing arrives within noReplyWindowMs or the connection closes, and
   * resolves with null.
   */
  expectReply: boolean;
  /** false in raw mode: send the request exactly as given, without an `id` of our own */
  tagWithId: boolean;
  signal?: AbortSignal | undefined;
}

export interface AgentRoute {
  /** what this route reaches, for messages: a socket path or `libvirt:<domain>` */
  readonly target: string;
  /**
   * Send one request object and resolve with the whole reply object (`return` or `error`), or
   * null for a command without success response that stayed silent. Rejects with the
   * QgaClientError subclasses.
   */
  exchange(request: JsonObject, options: ExchangeOptions): Promise<JsonObject | null>;
  /** Finish the conversation politely (see socket-route.ts); later exchanges reconnect. */
  close(): Promise<void>;
}
