/**
 * The client library: typed calls to a guest agent over any route.
 *
 *   const client = QgaClient.overSocket('/var/lib/libvirt/qemu/test.agent');
 *   const fs = await client.guestGetFsinfo();          // validated GuestFilesystemInfoReply[]
 *   await client.guestGetStatvfs({ path: '/' });       // integers may be numbers or bigints
 *   await client.close();
 *
 * Before anything is sent, the arguments go through the agent's own generated validator, so a
 * bad call fails locally with qemu-ga's text (QgaArgumentError). Replies are checked against the
 * generated reply validator on receipt (ReplyValidationError). An `error` reply becomes a
 * QgaRemoteError carrying qemu's class and desc. Commands without success response (shutdown,
 * suspend) resolve when the agent stays silent or the connection closes. The socket route
 * reconnects and resyncs by itself when a call finds the connection gone or out of step.
 */
import { validateArguments } from '../dispatch/argument-validation';
import { bindTypedCalls, QGA_CLIENT_COMMANDS, type QgaCallSignatures, type QgaClientCommandName, type QgaTypedCalls } from '../generated/qga-client';
import { isJsonObject, newJsonObject, type JsonObject, type JsonValue } from '../protocol/json-value';
import type { AgentRoute } from './agent-route';
import { QgaArgumentError, QgaProtocolError, QgaRemoteError } from './client-errors';
import { parseJsonText } from './json-text';
import { validateReply } from './reply-validation';
import { SocketRoute, type SocketRouteOptions } from './socket-route';
import type { CallOptions } from './typed-call';

export interface QgaClientOptions {
  /** default per-call reply timeout in ms (default 10000) */
  callTimeoutMs?: number;
}

/** Plain numbers that are integers become exact bigints; the generated validators work on bigints. */
export function toExactIntegers(value: unknown): unknown {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toExactIntegers);
  if (typeof value === 'object' && value !== null) {
    const out = newJsonObject();
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toExactIntegers(v) as JsonValue;
    return out;
  }
  return value;
}

function remoteErrorOf(command: string, error: JsonValue | undefined): QgaRemoteError {
  const e = isJsonObject(error) ? error : newJsonObject();
  const cls = typeof e['class'] === 'string' ? e['class'] : 'GenericError';
  const desc = typeof e['desc'] === 'string' ? e['desc'] : 'the agent reported an error without a description';
  return new QgaRemoteError(command, cls, desc);
}

export interface QgaClient extends QgaTypedCalls {}

export class QgaClient {
  readonly route: AgentRoute;
  private readonly callTimeoutMs: number;

  constructor(route: AgentRoute, options: QgaClientOptions = {}) {
    this.route = route;
    this.callTimeoutMs = options.callTimeoutMs ?? 10_000;
    Object.assign(this, bindTypedCalls((command, args, opts) => this.invoke(command, args, opts)));
  }

  /** A client for the agent behind a unix socket; it connects on the first call. */
  static overSocket(path: string, options: QgaClientOptions & SocketRouteOptions = {}): QgaClient {
    return new QgaClient(new SocketRoute(path, options), options);
  }

  /** Call a command by name; the same as its typed method. */
  call<K extends QgaClientCommandName>(
    command: K,
    args?: QgaCallSignatures[K]['args'],
    options?: CallOptions,
  ): Promise<QgaCallSignatures[K]['reply']> {
    return this.invoke(command, args, options) as Promise<QgaCallSignatures[K]['reply']>;
  }

  /** Validate, send, wait, check the reply. */
  async invoke(command: string, args: object | undefined, options: CallOptions | undefined): Promise<unknown> {
    const spec = (QGA_CLIENT_COMMANDS as Record<string, (typeof QGA_CLIENT_COMMANDS)[QgaClientCommandName] | undefined>)[command];
    if (!spec) throw new QgaArgumentError(command, `The command ${command} has not been found`);
    const checked = validateArguments(spec.validateArguments, toExactIntegers(args ?? {}));
    if (!checked.ok) throw new QgaArgumentError(command, checked.error.desc);
    const request: JsonObject = newJsonObject();
    request['execute'] = command;
    const argObject = checked.value as JsonObject;
    if (Object.keys(argObject).length > 0) request['arguments'] = argObject;
    const reply = await this.route.exchange(request, {
      timeoutMs: options?.timeoutMs ?? this.callTimeoutMs,
      expectReply: spec.successResponse,
      tagWithId: true,
      signal: options?.signal,
    });
    if (reply === null) return undefined;
    if ('error' in reply) throw remoteErrorOf(command, reply['error']);
    if (!('return' in reply)) throw new QgaProtocolError(`${command}: the reply has neither "return" nor "error"`);
    return validateReply(command, spec.validateReply, reply['return']);
  }

  /**
   * Raw mode: send any request object (or JSON text) as it is, and resolve with the whole reply
   * object; null when a command without success response stayed silent. No validation either way.
   */
  async raw(request: JsonValue | string, options: CallOptions & { expectReply?: boolean } = {}): Promise<JsonObject | null> {
    const value = typeof request === 'string' ? parseJsonText(request) : request;
    if (!isJsonObject(value)) throw new QgaArgumentError('raw', 'QMP input must be a JSON object');
    const name = typeof value['execute'] === 'string' ? value['execute'] : '';
    const known = (QGA_CLIENT_COMMANDS as Record<string, { successResponse: boolean } | undefined>)[name];
    return this.route.exchange(value, {
      timeoutMs: options.timeoutMs ?? this.callTimeoutMs,
      expectReply: options.expectReply ?? known?.successResponse ?? true,
      tagWithId: false,
      signal: options.signal,
    });
  }

  close(): Promise<void> {
    return this.route.close();
  }
}
