/**
 * Everything a host-side call can fail with. One base class, so callers can tell "the agent said
 * no" (QgaRemoteError, with qemu's class and desc) from "we never got a usable answer" (timeout,
 * connection, protocol) and from "we refused to send it" (QgaArgumentError).
 */

export type ClientErrorKind = 'remote' | 'timeout' | 'connection' | 'protocol' | 'argument' | 'reply' | 'aborted';

export abstract class QgaClientError extends Error {
  abstract readonly kind: ClientErrorKind;
}

/** The agent answered `{"error": {"class": …, "desc": …}}`. */
export class QgaRemoteError extends QgaClientError {
  readonly kind = 'remote' as const;
  readonly errorClass: string;
  readonly desc: string;
  readonly command: string;

  constructor(command: string, errorClass: string, desc: string) {
    super(`${command}: ${desc} (${errorClass})`);
    this.name = 'QgaRemoteError';
    this.command = command;
    this.errorClass = errorClass;
    this.desc = desc;
  }

  /**
   * The command does not exist in this agent or is turned off (block list, freeze, not built):
   * qemu-ga uses CommandNotFound for all of these, and libvirt treats the class (and
   * CommandDisabled, which some agents use) as "not supported" rather than as a failure.
   */
  get commandUnavailable(): boolean {
    return this.errorClass === 'CommandNotFound' || this.errorClass === 'CommandDisabled';
  }

  /** Turned off because the guest's filesystems are frozen (qemu-ga 7.2's wording). */
  get refusedWhileFrozen(): boolean {
    return this.commandUnavailable && this.desc.includes('frozen');
  }
}

export type TimeoutPhase = 'connect' | 'sync' | 'reply';

export class QgaTimeoutError extends QgaClientError {
  readonly kind = 'timeout' as const;
  readonly phase: TimeoutPhase;
  readonly timeoutMs: number;

  constructor(what: string, phase: TimeoutPhase, timeoutMs: number, hint = '') {
    super(`${what}: no ${phase === 'reply' ? 'reply' : phase === 'sync' ? 'sync reply' : 'connection'} within ${timeoutMs} ms${hint ? ` (${hint})` : ''}`);
    this.name = 'QgaTimeoutError';
    this.phase = phase;
    this.timeoutMs = timeoutMs;
  }
}

/** Could not connect, or the connection went away before the reply. `code` is the errno name when there is one. */
export class QgaConnectionError extends QgaClientError {
  readonly kind = 'connection' as const;
  readonly code: string | undefined;

  constructor(message: string, code?: string) {
    super(message);
    this.name = 'QgaConnectionError';
    this.code = code;
  }
}

/** The agent sent something that is not a QGA reply (garbage, a stray 0xFF, an unknown object). */
export class QgaProtocolError extends QgaClientError {
  readonly kind = 'protocol' as const;

  constructor(message: string) {
    super(message);
    this.name = 'QgaProtocolError';
  }
}

/** The arguments did not pass the command's schema validator, so nothing was sent. `desc` is qemu-ga's own text. */
export class QgaArgumentError extends QgaClientError {
  readonly kind = 'argument' as const;
  readonly command: string;
  readonly desc: string;

  constructor(command: string, desc: string) {
    super(`${command}: ${desc}`);
    this.name = 'QgaArgumentError';
    this.command = command;
    this.desc = desc;
  }
}

/** A reply that does not match the schema. `value` is what arrived, for callers that want it anyway. */
export class ReplyValidationError extends QgaClientError {
  readonly kind = 'reply' as const;
  readonly command: string;
  readonly problems: readonly string[];
  readonly value: unknown;

  constructor(command: string, problems: readonly string[], value: unknown) {
    const shown = problems.slice(0, 3).join('; ');
    super(`${command}: the agent's reply does not match the schema: ${shown}${problems.length > 3 ? ` (and ${problems.length - 3} more)` : ''}`);
    this.name = 'ReplyValidationError';
    this.command = command;
    this.problems = problems;
    this.value = value;
  }
}

export class QgaAbortedError extends QgaClientError {
  readonly kind = 'aborted' as const;

  constructor(what: string) {
    super(`${what}: aborted`);
    this.name = 'QgaAbortedError';
  }
}
