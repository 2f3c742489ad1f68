/**
 * Keeps one channel serving its session, and owns `-r/--retry-path` for it (upstream 10.2: when
 * the channel cannot be opened, or dies with an error, wait 5 s and open it again, for ever).
 *
 * Several channels (-p given more than once) each get a supervisor; they share nothing but the
 * dispatcher and agent state behind their sessions. Policy, decided for several ports:
 *  - without -r every channel must open at start-up, or the agent exits 1 (one -p: exactly
 *    qemu-ga); a channel that fails later stops the whole agent, as qemu-ga stops on a read error;
 *  - with -r a channel that cannot be opened is retried every 5 s in the background while the
 *    others serve, and a channel that fails is closed and re-opened 5 s later. So one agent with
 *    -r serves every port that is present and picks up the others when they appear.
 */
import type { AgentLogger } from '../logging/agent-logger';
import type { Channel } from './channel';
import { realSchedule, type Schedule } from './schedule';

/** QGA_RETRY_INTERVAL */
export const RETRY_INTERVAL_MS = 5000;

/** What the supervisor feeds: the channel's ChannelSession. */
export interface SupervisedSession {
  reset(): void;
  receive(chunk: Uint8Array): void;
  whenIdle(cb: () => void): void;
}

export interface ChannelSupervisorOptions {
  channel: Channel;
  session: SupervisedSession;
  retry: boolean;
  logger: AgentLogger;
  /** A channel failed and -r is off: the agent must stop. */
  onFatal(error: Error): void;
  retryIntervalMs?: number;
  schedule?: Schedule;
}

export type StartOutcome = 'open' | 'retrying' | 'failed';

export class ChannelSupervisor {
  private readonly schedule: Schedule;
  private readonly interval: number;
  private cancelRetry: (() => void) | null = null;
  private stopped = false;
  private isOpen = false;
  /** bumped on every open attempt, so events of a closed incarnation are ignored */
  private incarnation = 0;
  /** the error of the last failed open attempt, for the caller's message */
  lastError: Error | null = null;

  constructor(private readonly opts: ChannelSupervisorOptions) {
    this.schedule = opts.schedule ?? realSchedule;
    this.interval = opts.retryIntervalMs ?? RETRY_INTERVAL_MS;
  }

  get channel(): Channel {
    return this.opts.channel;
  }

  get open(): boolean {
    return this.isOpen;
  }

  /** The first open attempt; with -r a failure schedules retries and reports 'retrying'. */
  async start(): Promise<StartOutcome> {
    if (await this.tryOpen()) return 'open';
    if (!this.opts.retry) return 'failed';
    this.scheduleRetry();
    return 'retrying';
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.cancelRetry?.();
    this.cancelRetry = null;
    this.incarnation++;
    this.isOpen = false;
    await this.opts.channel.close();
  }

  private async tryOpen(): Promise<boolean> {
    const { channel, session, logger } = this.opts;
    const incarnation = ++this.incarnation;
    const current = (): boolean => incarnation === this.incarnation && !this.stopped;
    try {
      await channel.open({
        onConnect: () => {
          if (current()) session.reset();
        },
        onData: (chunk) => {
          if (current()) session.receive(chunk);
        },
        onInputEnd: (done) => {
          if (current()) session.whenIdle(done);
        },
        onDisconnect: (reason) => {
          if (current()) logger.debug({ channel: channel.description }, reason);
        },
        onFailure: (error) => {
          if (current()) void this.failed(error);
        },
      });
    } catch (e) {
      this.lastError = e instanceof Error ? e : new Error(String(e));
      logger.error({ channel: channel.description }, this.lastError.message);
      return false;
    }
    if (this.stopped) {
      await channel.close();
      return false;
    }
    this.isOpen = true;
    this.lastError = null;
    logger.info({ channel: channel.description }, 'channel open');
    return true;
  }

  private async failed(error: Error): Promise<void> {
    const { channel, session, logger } = this.opts;
    this.isOpen = false;
    this.incarnation++;
    try {
      await channel.close();
    } catch (e) {
      logger.warn({ channel: channel.description }, `closing the failed channel: ${(e as Error).message}`);
    }
    // Whatever the broken channel left half-parsed or unanswered is gone with it.
    session.reset();
    if (this.stopped) return;
    if (!this.opts.retry) {
      this.opts.onFatal(error);
      return;
    }
    logger.warn({ channel: channel.description }, `channel failed (${error.message}); re-opening in ${this.interval / 1000} s`);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.stopped || this.cancelRetry !== null) return;
    this.cancelRetry = this.schedule(this.interval, () => {
      this.cancelRetry = null;
      if (this.stopped) return;
      void this.tryOpen().then((ok) => {
        if (!ok) this.scheduleRetry();
      });
    });
  }
}
