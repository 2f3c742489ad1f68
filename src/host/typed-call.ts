/**
 * The shapes shared by the generated typed calls (src/generated/qga-client.ts) and the client
 * that carries them out (agent-client.ts).
 */
import type { ZodTypeAny } from 'zod';

/** Per-call settings. */
export interface CallOptions {
  /** how long to wait for the reply, in milliseconds (default: the client's callTimeoutMs) */
  timeoutMs?: number;
  /** abort the call (and the connection it is using) */
  signal?: AbortSignal;
}

/**
 * Arguments as a caller writes them: every integer may be a plain number or a bigint (the
 * generated argument types, made for the agent side, say bigint). Numbers are turned into exact
 * bigints before validation; a fractional number where an integer belongs is refused.
 */
export type LooseIntegers<T> = T extends bigint
  ? number | bigint
  : T extends readonly (infer U)[]
    ? LooseIntegers<U>[]
    : T extends object
      ? { [K in keyof T]: LooseIntegers<T[K]> }
      : T;

/** What the client needs to know about a command to call it. */
export interface ClientCommandSpec {
  /** false for commands that write nothing when they succeed (shutdown, suspend) */
  readonly successResponse: boolean;
  /** the generated argument validator (the agent's own), run before anything is sent */
  readonly validateArguments: ZodTypeAny;
  /** the generated reply validator, run on the `return` value when it arrives */
  readonly validateReply: ZodTypeAny;
}

/** Carries out one typed call: validate, send, wait, validate the reply. */
export type TypedInvoke = (command: string, args: object | undefined, options: CallOptions | undefined) => Promise<unknown>;
