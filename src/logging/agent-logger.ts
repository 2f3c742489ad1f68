/**
 * pino, writing synchronously to stderr or to the `-l` file, never to a channel. The log file is
 * opened lazily on the first line, and `suspend()` drops every line without touching the disk:
 * while filesystems are frozen a write to the log could block the agent forever.
 *
 * pino itself is loaded on the first record that passes the level, not at start-up: at the
 * default level (warn) a healthy agent never logs, and loading pino (with its stream, worker and
 * redaction modules) is a tenth of the single executable's start-up. Below the level a call costs
 * one comparison; child loggers are plain objects until one of them writes.
 */
import * as fs from 'node:fs';
import type * as Pino from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** pino's calling convention: a message, or an object of fields and then a message. */
export type LogMethod = (fieldsOrMessage: object | string, message?: string) => void;

/** The logging surface the agent uses (a subset of pino's, with the same calling convention). */
export interface AgentLogger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
  child(bindings: Record<string, unknown>): AgentLogger;
  isLevelEnabled(level: LogLevel): boolean;
}

export interface LogSink {
  write(line: string): void;
}

export interface LoggerControl {
  readonly logger: AgentLogger;
  /** stop (true) or resume (false) every write of the logger */
  suspend(suspended: boolean): void;
}

export interface LoggerOptions {
  logfile?: string | undefined;
  verbose: boolean;
  /** for tests: where lines go instead of stderr / the file */
  sink?: LogSink;
}

/** pino's numbers for the levels we use. */
const LEVEL_VALUES: Readonly<Record<LogLevel, number>> = { debug: 20, info: 30, warn: 40, error: 50 };

class SuspendableSink implements LogSink {
  suspended = false;
  private fd: number | null = null;

  constructor(private readonly logfile: string | undefined) {}

  write(line: string): void {
    if (this.suspended) return;
    try {
      if (this.fd === null) this.fd = this.logfile ? fs.openSync(this.logfile, 'a', 0o640) : 2;
      fs.writeSync(this.fd, line);
    } catch {
      // A log line that cannot be written must never take the agent down.
    }
  }
}

/** A logger whose pino instance is made (from its parent's) only when it first writes. */
class DeferredLogger implements AgentLogger {
  private made: Pino.Logger | null = null;

  constructor(
    private readonly threshold: number,
    private readonly make: () => Pino.Logger,
  ) {}

  private target(): Pino.Logger {
    this.made ??= this.make();
    return this.made;
  }

  isLevelEnabled(level: LogLevel): boolean {
    return LEVEL_VALUES[level] >= this.threshold;
  }

  child(bindings: Record<string, unknown>): AgentLogger {
    return new DeferredLogger(this.threshold, () => this.target().child(bindings));
  }

  readonly debug: LogMethod = (f, m) => this.write('debug', f, m);
  readonly info: LogMethod = (f, m) => this.write('info', f, m);
  readonly warn: LogMethod = (f, m) => this.write('warn', f, m);
  readonly error: LogMethod = (f, m) => this.write('error', f, m);

  private write(level: LogLevel, fieldsOrMessage: object | string, message: string | undefined): void {
    if (LEVEL_VALUES[level] < this.threshold) return;
    const target = this.target();
    if (typeof fieldsOrMessage === 'string') target[level](fieldsOrMessage);
    else target[level](fieldsOrMessage, message);
  }
}

export function createAgentLogger(opts: LoggerOptions): LoggerControl {
  const own = opts.sink ? null : new SuspendableSink(opts.logfile);
  let suspended = false;
  const target: LogSink = opts.sink
    ? { write: (line) => (suspended ? undefined : opts.sink!.write(line)) }
    : own!;
  const level: LogLevel = opts.verbose ? 'debug' : 'warn';
  const makePino = (): Pino.Logger => {
    // Deliberately a require at first use (see the header); bundlers keep it lazy too.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { pino } = require('pino') as typeof Pino;
    return pino(
      {
        level,
        base: { name: 'qga-ts' },
        // Never let payloads reach the log, even if someone logs a whole argument object.
        redact: { paths: ['args["buf-b64"]', 'args["input-data"]', 'args.password', 'args.keys'], censor: '[redacted]' },
      },
      target,
    );
  };
  return {
    logger: new DeferredLogger(LEVEL_VALUES[level], makePino),
    suspend(s: boolean) {
      suspended = s;
      if (own) own.suspended = s;
    },
  };
}
