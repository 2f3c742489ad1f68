/**
 * One request, start to finish: envelope → lookup → enabled gate → generated validation →
 * handler → encoded reply. The gate is the only place that decides whether a command may run:
 * block/allow lists, the freeze allow-list, commands whose handler is not written yet, and
 * commands whose native support is missing.
 */
import { QGA_COMMANDS, type QgaCommandName, type QgaCommandSpec } from '../generated/qga-commands';
import type { AgentLogger } from '../logging/agent-logger';
import { Errors, QgaError, toQgaError } from '../protocol/errors';
import type { JsonValue } from '../protocol/json-value';
import { KnownStrings, PROTOCOL_STRINGS } from '../protocol/known-strings';
import { readEnvelope } from '../protocol/request-envelope';
import { encodeError, encodeReturn } from '../protocol/response-encoder';
import type { AgentServices, CommandContext, CommandInfo, SessionControl } from './command-context';
import { isUnavailable, type HandlerTable } from './handler-table';

/** While frozen only these run (qemu-ga's hard-coded list, reference §4.2). */
export const FREEZE_ALLOWED: ReadonlySet<string> = new Set([
  'guest-ping', 'guest-info', 'guest-sync', 'guest-sync-delimited', 'guest-fsfreeze-status', 'guest-fsfreeze-thaw',
]);

export interface DispatcherOptions {
  handlers: HandlerTable;
  blockRpcs: readonly string[];
  allowRpcs: readonly string[];
  /** commands that cannot run on this system (e.g. the native helper did not load), with why */
  unavailable?: ReadonlyMap<string, string>;
  logger: AgentLogger;
}

/** A reply line, or null when a command without success-response succeeded. */
export type Reply = string | null;

type AnyHandler = (args: unknown, ctx: CommandContext) => unknown;

/**
 * Everything the gate needs about one command, decided once: the lists and the handler table do
 * not change while the agent runs, so a request costs one lookup here plus the freeze check.
 */
interface CommandEntry {
  readonly spec: QgaCommandSpec;
  readonly handler: AnyHandler;
  /** neither unavailable nor excluded by the allow/block lists */
  readonly listedEnabled: boolean;
  readonly freezeAllowed: boolean;
}

export class Dispatcher {
  private readonly commands = new Map<string, CommandEntry>();
  private readonly unavailable: ReadonlyMap<string, string>;
  private readonly logger: AgentLogger;
  private services: AgentServices | null = null;
  /** the envelope's member names and every command name, for the sessions' lexers */
  readonly knownStrings: KnownStrings;

  constructor(opts: DispatcherOptions) {
    const blocked = new Set(opts.blockRpcs);
    const allowed = opts.allowRpcs.length > 0 ? new Set(opts.allowRpcs) : null;
    const unavailable = new Map(opts.unavailable ?? []);
    for (const spec of QGA_COMMANDS) {
      const h = opts.handlers[spec.name];
      if (isUnavailable(h)) unavailable.set(spec.name, h.reason);
    }
    for (const spec of QGA_COMMANDS) {
      const name = spec.name;
      this.commands.set(name, {
        spec,
        handler: opts.handlers[name as QgaCommandName] as unknown as AnyHandler,
        // reference §4.4: allow list, then block list
        listedEnabled: !unavailable.has(name) && (allowed === null || allowed.has(name)) && !blocked.has(name),
        freezeAllowed: FREEZE_ALLOWED.has(name),
      });
    }
    this.unavailable = unavailable;
    this.logger = opts.logger;
    this.knownStrings = new KnownStrings([...PROTOCOL_STRINGS, ...this.commands.keys()]);
  }

  /** The services handlers see; set once by the composition root (they need commandInfo()). */
  attach(services: AgentServices): void {
    this.services = services;
  }

  /** reference §4.4: allow list, then block list, then the freeze allow-list (freeze beats all). */
  isEnabled(name: string): boolean {
    const entry = this.commands.get(name);
    return entry !== undefined && this.entryEnabled(entry);
  }

  private entryEnabled(entry: CommandEntry): boolean {
    return entry.listedEnabled && (entry.freezeAllowed || !this.services?.state.frozen);
  }

  commandInfo(): CommandInfo[] {
    return QGA_COMMANDS.map((s) => ({ name: s.name, enabled: this.isEnabled(s.name), successResponse: s.successResponse }));
  }

  unavailableReasons(): ReadonlyMap<string, string> {
    return this.unavailable;
  }

  /**
   * Handle one parsed request. Synchronous handlers produce their reply synchronously, so a burst
   * of pipelined requests is answered without a trip through the event loop per request.
   */
  dispatch(request: JsonValue, session: SessionControl): Reply | Promise<Reply> {
    const env = readEnvelope(request);
    if (!env.ok) return encodeError(env.error, env.id);
    const { execute: name, id } = env;
    const entry = this.commands.get(name);
    if (entry === undefined) return encodeError(Errors.commandNotFound(name), id);
    if (!this.entryEnabled(entry)) return encodeError(Errors.commandDisabled(name), id);
    const spec = entry.spec;

    let args: unknown = env.args;
    const fast = env.args !== undefined && spec.fastArguments ? spec.fastArguments(env.args) : null;
    if (fast !== null) {
      args = fast;
    } else if (spec.requiresArguments || (env.args !== undefined && hasMembers(env.args))) {
      const v = spec.checkArguments(env.args ?? {});
      if (!v.ok) return encodeError(v.error, id);
      args = v.value;
    } else {
      args = {};
    }

    // Below info (the default level is warn) there is no per-request logger and no clock read.
    const logging = this.logger.isLevelEnabled('info');
    const log = logging ? this.logger.child({ cmd: name, id: loggableId(id) }) : this.logger;
    const started = logging ? process.hrtime.bigint() : 0n;
    const ctx: CommandContext = { agent: this.services!, session, log };
    let result: unknown;
    try {
      result = entry.handler(args, ctx);
    } catch (e) {
      return this.fail(e, spec, id, log, started);
    }
    if (result instanceof Promise) {
      return result.then(
        (value) => this.succeed(value, spec, id, log, started),
        (e: unknown) => this.fail(e, spec, id, log, started),
      );
    }
    return this.succeed(result, spec, id, log, started);
  }

  private succeed(value: unknown, spec: QgaCommandSpec, id: JsonValue | undefined, log: AgentLogger, started: bigint): Reply {
    if (log !== this.logger) log.info({ ms: elapsedMs(started) }, `${spec.name} called`);
    if (!spec.successResponse) return null;
    return encodeReturn(spec.returnsValue ? value : undefined, id);
  }

  private fail(e: unknown, spec: QgaCommandSpec, id: JsonValue | undefined, log: AgentLogger, started: bigint): Reply {
    const err: QgaError = toQgaError(e);
    if (!(e instanceof QgaError)) {
      // Not one of ours: a bug or an unexpected system error. Keep the stack for whoever debugs it.
      this.logger.error({ cmd: spec.name, err: e }, 'command failed unexpectedly');
    }
    if (log !== this.logger) log.info({ ms: elapsedMs(started), error: err.desc }, `${spec.name} failed`);
    return encodeError(err, id);
  }
}

function hasMembers(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

function elapsedMs(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** ids are client data but small and useful for correlating; bigints become strings for pino. */
function loggableId(id: JsonValue | undefined): unknown {
  if (typeof id === 'bigint') return id.toString();
  if (id === undefined || typeof id !== 'object') return id;
  return '[object]';
}
