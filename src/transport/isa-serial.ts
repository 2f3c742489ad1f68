/**
 * `-m isa-serial` (default path /dev/ttyS0): a serial line, through the `serialport` package.
 *
 * qemu-ga opens the tty O_RDWR|O_NOCTTY|O_NONBLOCK|O_CLOEXEC and puts it in raw mode at 38400
 * baud, VMIN=1 VTIME=0 (reference §3.3). serialport's Linux binding does the same open and sets
 * raw mode (c_lflag = 0, c_oflag = 0, no software or hardware flow control, VMIN=1 VTIME=0) with
 * the 8N1 and speed we pass; it also takes an exclusive flock, so a second agent on the same line
 * is refused instead of stealing half the bytes. Its reads are non-blocking and wait on its own
 * uv_poll watcher, so no thread-pool thread is parked on an idle line.
 *
 * A serial line is one permanent "host connection". When the line goes away (a read or write
 * error, e.g. EIO on a pty whose other side closed) the channel has failed: the agent stops, or
 * with -r re-opens it every 5 s. (qemu-ga closes the channel at EOF and then idles for ever.)
 */
import type { AgentLogger } from '../logging/agent-logger';
import type { Channel, ChannelEvents } from './channel';

/** qemu-ga's speed (B38400) and framing. */
export const ISA_SERIAL_SETTINGS = { baudRate: 38400, dataBits: 8, stopBits: 1, parity: 'none' } as const;

/** The part of serialport's SerialPort this channel uses. */
export interface SerialLine {
  open(callback: (error: Error | null) => void): void;
  close(callback?: (error: Error | null) => void): void;
  /** false when the write buffer is above its high-water mark: wait for 'drain' */
  write(data: Buffer): boolean;
  pause(): unknown;
  resume(): unknown;
  readonly isOpen: boolean;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'drain', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'close', listener: (error?: Error | null) => void): unknown;
  removeAllListeners(): unknown;
}

export type SerialLineFactory = (path: string) => SerialLine;

/** serialport is loaded only when isa-serial is used: the other methods never need its addon. */
export function serialportFactory(): SerialLineFactory {
  let SerialPort: new (options: Record<string, unknown>) => SerialLine;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    ({ SerialPort } = require('serialport') as { SerialPort: typeof SerialPort });
  } catch (e) {
    throw new Error(`isa-serial needs the serialport package, which cannot be loaded: ${(e as Error).message}`);
  }
  return (path) =>
    new SerialPort({
      path,
      ...ISA_SERIAL_SETTINGS,
      rtscts: false,
      xon: false,
      xoff: false,
      xany: false,
      hupcl: false,
      lock: true,
      autoOpen: false,
    });
}

export interface IsaSerialOptions {
  path: string;
  logger: AgentLogger;
  /** injected for tests; default: serialport */
  factory?: SerialLineFactory;
}

export class IsaSerialChannel implements Channel {
  readonly description: string;
  private line: SerialLine | null = null;
  private events: ChannelEvents | null = null;
  private inputPaused = false;
  private writeBlocked = false;

  constructor(private readonly opts: IsaSerialOptions) {
    this.description = `isa-serial:${opts.path}`;
  }

  async open(events: ChannelEvents): Promise<void> {
    const factory = this.opts.factory ?? serialportFactory();
    const line = factory(this.opts.path);
    await new Promise<void>((resolve, reject) => {
      line.open((error) => {
        if (error === null || error === undefined) resolve();
        else reject(new Error(openFailureText(this.opts.path, error)));
      });
    });
    this.line = line;
    this.events = events;
    this.writeBlocked = false;
    line.on('data', (chunk) => this.events?.onData(chunk));
    line.on('drain', () => {
      this.writeBlocked = false;
      if (!this.inputPaused) line.resume();
    });
    line.on('error', (error) => this.opts.logger.warn({ channel: this.description }, `serial line error: ${error.message}`));
    line.on('close', (error) => {
      if (this.line !== line) return; // our own close()
      this.line = null;
      const current = this.events;
      const reason = error ? `serial line closed: ${error.message}` : 'serial line closed';
      this.opts.logger.error({ channel: this.description }, reason);
      current?.onDisconnect(reason);
      current?.onFailure?.(new Error(`error reading channel '${this.opts.path}': ${error ? error.message : 'closed'}`));
    });
    events.onConnect();
    if (this.inputPaused) line.pause();
  }

  write(data: string): void {
    const line = this.line;
    if (line === null || !line.isOpen) return;
    // A line nobody drains (flow control, a pty whose reader sleeps) must not make us buffer
    // without bound: stop reading requests until the port drains.
    if (!line.write(Buffer.from(data, 'latin1'))) {
      this.writeBlocked = true;
      line.pause();
    }
  }

  pauseInput(): void {
    this.inputPaused = true;
    this.line?.pause();
  }

  resumeInput(): void {
    this.inputPaused = false;
    if (!this.writeBlocked) this.line?.resume();
  }

  async close(): Promise<void> {
    const line = this.line;
    this.line = null;
    this.events = null;
    if (line === null) return;
    line.removeAllListeners();
    line.on('error', () => undefined);
    if (!line.isOpen) return;
    await new Promise<void>((resolve) => line.close(() => resolve()));
  }
}

function openFailureText(path: string, error: Error): string {
  const message = error.message;
  // serialport's texts: "Error: No such file or directory, cannot open /dev/ttyS9",
  // "Error Resource temporarily unavailable Cannot lock port".
  if (/cannot lock port/i.test(message)) return `error opening channel '${path}': ${message} (another agent has the port open)`;
  return `error opening channel '${path}': ${message.replace(/^Error:?\s*/, '')}`;
}
