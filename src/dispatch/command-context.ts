/**
 * What a command handler receives besides its typed arguments. Handlers never see raw JSON, zod
 * or the transport: system I/O comes in through `agent` so tests can inject fakes.
 */
import type { AgentLogger } from '../logging/agent-logger';
import type { AgentState } from '../state/agent-state';

export interface CommandInfo {
  name: string;
  enabled: boolean;
  successResponse: boolean;
}

/** The per-channel controls a command may use (guest-sync-delimited). */
export interface SessionControl {
  /** Prefix the next response written on this channel with 0xFF. */
  delimitNextResponse(): void;
}

/** Wall clock, injectable for tests. */
export interface Clock {
  /** nanoseconds since the epoch */
  nowNs(): bigint;
}

/** Shared by every channel of one agent process. */
export interface AgentServices {
  readonly state: AgentState;
  readonly clock: Clock;
  /** qemu-ga version level whose command set we implement, reported by guest-info */
  readonly compatVersion: string;
  /** every registered command with its current enabled flag, in registration order */
  commandInfo(): CommandInfo[];
}

export interface CommandContext {
  readonly agent: AgentServices;
  readonly session: SessionControl;
  readonly log: AgentLogger;
}

export type CommandHandler<A, R> = (args: A, ctx: CommandContext) => R | Promise<R>;
