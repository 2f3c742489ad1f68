/**
 * The handler map type, and the one explicit marker for a command whose handler cannot run:
 * either because its real implementation belongs to a later piece of work, or because it is not
 * supported on this system. The dispatcher reports such commands disabled in guest-info and
 * answers them with the disabled error; nothing pretends to work.
 */
import type { QgaCommandHandlers } from '../generated/qga-commands';

const UNAVAILABLE = Symbol('qga.unavailable');

export interface Unavailable {
  readonly [UNAVAILABLE]: true;
  readonly reason: string;
}

export function unavailable(reason: string): Unavailable {
  return { [UNAVAILABLE]: true, reason };
}

export function isUnavailable(h: unknown): h is Unavailable {
  return typeof h === 'object' && h !== null && UNAVAILABLE in h;
}

export type HandlerTable = { readonly [K in keyof QgaCommandHandlers]: QgaCommandHandlers[K] | Unavailable };
