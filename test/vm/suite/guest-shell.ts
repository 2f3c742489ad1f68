// Host side of the suite's command reader (payload/control.sh) on the guest's second serial port:
// QEMU connects ttyS1 to a unix socket (`-serial unix:PATH,server=on,wait=off`), we write
// "<id> <command>\n" and wait for "@@<id> <status> <base64 output>\n". One command at a time.
import type * as net from 'node:net';
import { connectWithRetry } from '../vm';

export interface ShellResult {
  status: number;
  output: string;
}

/** QEMU options that give the guest a ttyS1 on `socketPath`, keeping ttyS0 on QEMU's stdout. */
export function commandSerialArgs(socketPath: string): string[] {
  // An explicit -serial replaces -nographic's default one, so ttyS0 (the console the harness reads
  // from stdout) is named again first.
  return ['-serial', 'stdio', '-serial', `unix:${socketPath},server=on,wait=off`];
}

export class GuestShell {
  private buffer = '';
  private nextId = 1;
  private waiter: { id: string; resolve: (r: ShellResult) => void; reject: (e: Error) => void } | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => this.onData(text));
    socket.on('error', () => undefined);
    socket.on('close', () => this.waiter?.reject(new Error('guest shell connection closed')));
  }

  static async connect(socketPath: string, timeoutMs = 10_000): Promise<GuestShell> {
    return new GuestShell(await connectWithRetry(socketPath, timeoutMs));
  }

  /** Runs `command` with `sh -c` in the guest; resolves with its exit status and output. */
  run(command: string, timeoutMs = 15_000): Promise<ShellResult> {
    if (command.includes('\n')) throw new Error('guest shell commands are single lines');
    if (this.waiter !== undefined) throw new Error('guest shell: one command at a time');
    const id = `c${this.nextId++}`;
    return new Promise<ShellResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`guest shell: no answer to ${JSON.stringify(command)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = {
        id,
        resolve: (result) => {
          clearTimeout(timer);
          this.waiter = undefined;
          resolve(result);
        },
        reject: (error) => {
          clearTimeout(timer);
          this.waiter = undefined;
          reject(error);
        },
      };
      this.socket.write(`${id} ${command}\n`);
    });
  }

  /** Like run, but a non-zero status is an error; resolves with the output. */
  async check(command: string, timeoutMs?: number): Promise<string> {
    const result = await this.run(command, timeoutMs);
    if (result.status !== 0) throw new Error(`guest: ${command} exited ${result.status}: ${result.output}`);
    return result.output;
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(text: string): void {
    this.buffer += text;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).replace(/\r$/, '');
      this.buffer = this.buffer.slice(newline + 1);
      const answer = /^@@(\S+) (\d+) ?(\S*)$/.exec(line);
      if (answer === null || this.waiter === undefined || answer[1] !== this.waiter.id) continue;
      this.waiter.resolve({ status: Number(answer[2]), output: Buffer.from(answer[3] ?? '', 'base64').toString('utf8') });
    }
  }
}
