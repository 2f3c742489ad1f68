/**
 * pino, writing synchronously to stderr or to the `-l` file, never to a channel. The log file is
 * opened lazily on the first line, and `suspend()` drops every line without touching the disk:
 * while filesystems are frozen a write to the log could block the agent forever.
 */
import * as fs from 'node:fs';
import pino from 'pino';

export type AgentLogger = pino.Logger;

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

export function createAgentLogger(opts: LoggerOptions): LoggerControl {
  const own = opts.sink ? null : new SuspendableSink(opts.logfile);
  let suspended = false;
  const target: LogSink = opts.sink
    ? { write: (line) => (suspended ? undefined : opts.sink!.write(line)) }
    : own!;
  const logger = pino(
    {
      level: opts.verbose ? 'debug' : 'warn',
      base: { name: 'qga-ts' },
      // Never let payloads reach the log, even if someone logs a whole argument object.
      redact: { paths: ['args["buf-b64"]', 'args["input-data"]', 'args.password', 'args.keys'], censor: '[redacted]' },
    },
    target,
  );
  return {
    logger,
    suspend(s: boolean) {
      suspended = s;
      if (own) own.suspended = s;
    },
  };
}
