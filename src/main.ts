/**
 * Composition root, and nothing else: config → logger → state → dispatcher → transports →
 * sessions. Every object is made here and passed down; no module keeps state of its own.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AgentConfig } from './config/agent-config';
import { parseCommandLine } from './config/cli';
import { readConfigFileFromDisk } from './config/read-config-file';
import { createHandlers } from './commands';
import { createFileHandleTable } from './commands/file';
import { createFsfreezeGroup, defaultFsfreezeDeps, FROZEN_MARKER_NAME } from './commands/fsfreeze';
import { createCommandRunner } from './commands/run-command';
import { defaultNativeCandidates, loadNativeHelper, type NativeHelper } from './native/native-helper';
import { loadPersistentState } from './state/persistent-state';
import { ProcessTable } from './state/process-table';
import type { AgentServices } from './dispatch/command-context';
import { Dispatcher } from './dispatch/dispatcher';
import { QGA_COMMANDS } from './generated/qga-commands';
import { createAgentLogger, type LoggerControl } from './logging/agent-logger';
import { ChannelSession } from './protocol/channel-session';
import { AgentState } from './state/agent-state';
import type { Channel } from './transport/channel';
import { createChannel } from './transport';
import { UnixListenChannel } from './transport/unix-listen';
import { daemonChildReady, isDaemonChild, runDaemonParent } from './daemonize';
import { QEMU_GA_COMPAT_VERSION, QGA_TS_VERSION } from './version';

const RETRY_INTERVAL_MS = 5000;

export async function main(argv: readonly string[]): Promise<number> {
  // libuv's pool (default 4 threads) runs FIFREEZE/FITHAW, statvfs and file I/O; a few calls stuck
  // on a frozen or hung filesystem must not starve the thaw. Read by libuv at its first use.
  process.env['UV_THREADPOOL_SIZE'] ??= '16';
  const parsed = parseCommandLine([path.basename(argv[0] ?? 'qga-ts'), ...argv.slice(1)], process.env, readConfigFileFromDisk, {
    ownVersion: QGA_TS_VERSION,
    qemuCompatVersion: QEMU_GA_COMPAT_VERSION,
    commandNames: QGA_COMMANDS.map((c) => c.name),
    pid: process.pid,
    listenSocketFamily: probeSocketFamily,
  });
  if (parsed.kind === 'exit') {
    if (parsed.stdout) process.stdout.write(parsed.stdout);
    if (parsed.stderr) process.stderr.write(parsed.stderr);
  // Like qemu-ga: children (hooks, guest-exec) must not think the socket was passed to them.
  delete process.env['LISTEN_FDS'];
  delete process.env['LISTEN_PID'];
    return parsed.code;
  }
  if (parsed.stderr) process.stderr.write(parsed.stderr);
  const config = parsed.config;
  if (config.daemonize && !isDaemonChild(process.env)) return runDaemonParent(argv, process.env);
  return runAgent(config);
}

async function runAgent(config: AgentConfig): Promise<number> {
  const logs = createAgentLogger({ logfile: config.logfile, verbose: config.verbose });
  const logger = logs.logger;

  if (!isDirectory(config.statedir)) {
    process.stderr.write(`state directory ${config.statedir} does not exist\n`);
    return 1;
  }
  const frozenMarker = path.join(config.statedir, FROZEN_MARKER_NAME);
  const startFrozen = fs.existsSync(frozenMarker);
  if (startFrozen) {
    logger.warn('previous instance appears to have exited with frozen filesystems; deferring logging and disabling non-fsfreeze-safe commands');
  }
  const state = new AgentState({ frozen: startFrozen });
  setLoggingForFrozen(logs, state.frozen);
  state.onFrozenChange((frozen) => setLoggingForFrozen(logs, frozen));

  const native = loadNativeHelper({ candidates: defaultNativeCandidates(), logger: { warn: (m) => logger.warn(m) } });
  let persistent;
  try {
    persistent = await loadPersistentState({ statedir: config.statedir, frozen: startFrozen });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
  const fileHandles = createFileHandleTable(persistent);
  const runCommand = createCommandRunner();
  const fsfreeze = createFsfreezeGroup(
    defaultFsfreezeDeps({
      native: native.available ? native : nativeFreezeUnavailable(native.reason),
      statedir: config.statedir,
      hookPath: config.fsfreezeHook,
      runCommand,
      freezeTimeoutSeconds: config.freezeTimeoutSeconds,
      logger,
    }),
  );

  const dispatcher = new Dispatcher({
    handlers: createHandlers({ native, fileHandles, fsfreeze, processTable: new ProcessTable({ logger }), runCommand }),
    blockRpcs: config.blockRpcs,
    allowRpcs: config.allowRpcs,
    logger,
  });
  for (const [name, reason] of dispatcher.unavailableReasons()) logger.debug({ cmd: name }, `command disabled: ${reason}`);
  const services: AgentServices = {
    state,
    compatVersion: QEMU_GA_COMPAT_VERSION,
    clock: { nowNs: () => BigInt(Date.now()) * 1_000_000n },
    commandInfo: () => dispatcher.commandInfo(),
  };
  dispatcher.attach(services);
  fsfreeze.start(state);

  const channels: Channel[] = [];
  let planned: Channel[];
  try {
    planned =
      config.socketActivationFd !== undefined
        ? [new UnixListenChannel({ path: `fd ${config.socketActivationFd}`, listenFd: config.socketActivationFd, logger })]
        : config.paths.map((p) => createChannel(config.method, p, logger));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
  for (const channel of planned) {
    const session = new ChannelSession(dispatcher, channel, logger);
    const opened = await openWithRetry(channel, session, config.retryPath, logger);
    if (!opened) {
      process.stderr.write(`failed to initialize guest agent channel ${channel.description}\n`);
      await Promise.all(channels.map((c) => c.close()));
      return 1;
    }
    channels.push(channel);
  }
  logger.info({ channels: channels.map((c) => c.description) }, 'guest agent running');

  if (isDaemonChild(process.env)) {
    if (!writePidfile(config.pidfile)) return 1;
    daemonChildReady();
  }

  return new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      if (state.frozen) {
        // qemu-ga refuses to exit while filesystems are frozen: nobody would thaw them.
        logger.warn(`${signal} ignored: filesystems are frozen`);
        return;
      }
      logger.info(`${signal} received, exiting`);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      void Promise.all(channels.map((c) => c.close()))
        .then(() => fsfreeze.cleanup(state))
        .then(() => fileHandles.closeAll())
        .catch((e: unknown) => logger.error({ err: e }, 'cleanup at exit failed'))
        .finally(() => {
        if (isDaemonChild(process.env)) removePidfile(config.pidfile);
        resolve(0);
      });
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}

async function openWithRetry(channel: Channel, session: ChannelSession, retry: boolean, logger: LoggerControl['logger']): Promise<boolean> {
  for (;;) {
    try {
      await channel.open({
        onConnect: () => session.reset(),
        onData: (chunk) => session.receive(chunk),
        onInputEnd: (done) => session.whenIdle(done),
        onDisconnect: (reason) => logger.debug({ channel: channel.description }, reason),
      });
      return true;
    } catch (e) {
      logger.error({ channel: channel.description }, (e as Error).message);
      if (!retry) {
        process.stderr.write(`${(e as Error).message}\n`);
        return false;
      }
      await new Promise((r) => setTimeout(r, RETRY_INTERVAL_MS));
    }
  }
}

/** Stands in for the helper when it did not load: thaw can then still clear a stale frozen state. */
function nativeFreezeUnavailable(reason: string): Pick<NativeHelper, 'fsfreeze' | 'fsthaw'> {
  const fail = () => Promise.reject(Object.assign(new Error(`native helper unavailable: ${reason}`), { code: 'ENOSYS', errno: 38, syscall: 'FITHAW' }));
  return { fsfreeze: fail, fsthaw: fail };
}

function setLoggingForFrozen(logs: LoggerControl, frozen: boolean): void {
  // Nothing may touch a disk while filesystems are frozen; that includes our own log file.
  logs.suspend(frozen);
}

/** systemd socket activation: fd 3 must be a socket; we serve unix sockets on it. */
function probeSocketFamily(fd: number): 'unix' | 'vsock' | 'other' {
  try {
    return fs.fstatSync(fd).isSocket() ? 'unix' : 'other';
  } catch {
    return 'other';
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function writePidfile(pidfile: string): boolean {
  try {
    fs.writeFileSync(pidfile, `${process.pid}\n`, { mode: 0o644 });
    return true;
  } catch (e) {
    process.stderr.write(`failed to create pidfile ${pidfile}: ${(e as Error).message}\n`);
    return false;
  }
}

function removePidfile(pidfile: string): void {
  try {
    fs.unlinkSync(pidfile);
  } catch {
    // already gone
  }
}

if (require.main === module) {
  main(process.argv.slice(1)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`qga-ts: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}
