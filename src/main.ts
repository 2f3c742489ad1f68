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
import { createFsfreezeGroup, defaultFsfreezeDeps, FROZEN_MARKER_NAME } from './commands/fsfreeze';
import type { CommandRunner } from './commands/run-command';
import type { StdioFile } from './commands/stdio-file';
import { HandleTable } from './state/handle-table';
import type { NativeHelper } from './native/native-helper';
import { loadAgentNativeHelper } from './native/packaged-addon';
import { loadPersistentState } from './state/persistent-state';
import { ProcessTable } from './state/process-table';
import type { AgentServices } from './dispatch/command-context';
import { Dispatcher } from './dispatch/dispatcher';
import { QGA_COMMANDS } from './generated/qga-commands';
import { createAgentLogger, type LoggerControl } from './logging/agent-logger';
import { ChannelSession } from './protocol/channel-session';
import { AgentState } from './state/agent-state';
import type { Channel } from './transport/channel';
import { createActivatedChannel, createChannel } from './transport';
import { ChannelSupervisor, RETRY_INTERVAL_MS } from './transport/channel-supervisor';
import { StartupMessages } from './config/messages';
import { probeSocketFamily as probeSocketFamilyFromProc, type SocketFamily } from './platform/linux/socket-family';
import { daemonChildReady, isDaemonChild, runDaemonParent } from './daemonize';
import { tieringFlagsFromEnv } from './runtime/jit-tiering';
import { QEMU_GA_COMPAT_VERSION, QGA_TS_VERSION } from './version';

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
  // Like qemu-ga: children (hooks, guest-exec) must not think the socket was passed to them.
  delete process.env['LISTEN_FDS'];
  delete process.env['LISTEN_PID'];
  if (parsed.kind === 'exit') {
    if (parsed.stdout) process.stdout.write(parsed.stdout);
    if (parsed.stderr) process.stderr.write(parsed.stderr);
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

  // Never extract the addon while frozen: that would write to a frozen filesystem.
  const native = loadAgentNativeHelper({ allowExtraction: !startFrozen, logger: { warn: (m) => logger.warn(m), info: (m) => logger.info(m) } });
  let persistent;
  try {
    persistent = await loadPersistentState({ statedir: config.statedir, frozen: startFrozen });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 1;
  }
  const fileHandles = new HandleTable<StdioFile>(persistent);
  const runCommand = deferredCommandRunner();
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

  // Channels: one supervisor (and one session: parser, sync state, write queue) per channel;
  // every session shares the dispatcher and the agent state. See channel-supervisor.ts for -r.
  const channelDeps = { logger, native };
  let planned: Channel[];
  try {
    planned =
      config.socketActivationFd !== undefined
        ? [createActivatedChannel(config.method === 'vsock-listen' ? 'vsock-listen' : 'unix-listen', config.socketActivationFd, channelDeps)]
        : config.paths.map((p) => createChannel(config.method, p, channelDeps));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${StartupMessages.channelInitFailed}\n`);
    return 1;
  }
  let stopAgent: (why: string, code: number) => void = () => undefined;
  const supervisors = planned.map(
    (channel) =>
      new ChannelSupervisor({
        channel,
        session: new ChannelSession(dispatcher, channel, logger),
        retry: config.retryPath,
        logger,
        onFatal: (error) => stopAgent(`channel ${channel.description} failed: ${error.message}`, 1),
      }),
  );
  const outcomes = await Promise.all(supervisors.map((s) => s.start()));
  if (outcomes.includes('failed')) {
    for (const s of supervisors) {
      if (s.lastError !== null) process.stderr.write(`${s.lastError.message}\n`);
    }
    process.stderr.write(`${StartupMessages.channelInitFailed}\n`);
    await Promise.all(supervisors.map((s) => s.close()));
    return 1;
  }
  const channels = supervisors.map((s) => s.channel);
  const waiting = supervisors.filter((s) => !s.open).map((s) => s.channel.description);
  if (waiting.length > 0) logger.warn({ channels: waiting }, `channels not available yet; retrying every ${RETRY_INTERVAL_MS / 1000} s`);
  logger.info({ channels: channels.map((c) => c.description) }, 'guest agent running');
  // After start-up, so that only the request path is optimized earlier (runtime/jit-tiering.ts).
  const tiering = tieringFlagsFromEnv(process.env);
  if ('error' in tiering) logger.warn(tiering.error);
  else if (tiering.flags.length > 0) setV8Flags(tiering.flags, native.available ? native : null);

  if (isDaemonChild(process.env)) {
    if (!writePidfile(config.pidfile)) return 1;
    daemonChildReady();
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = (code: number) => {
      if (stopping) return;
      stopping = true;
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      void Promise.all(supervisors.map((s) => s.close()))
        .then(() => fsfreeze.cleanup(state))
        .then(() => fileHandles.closeAll())
        .catch((e: unknown) => logger.error({ err: e }, 'cleanup at exit failed'))
        .finally(() => {
          if (isDaemonChild(process.env)) removePidfile(config.pidfile);
          resolve(code);
        });
    };
    const stop = (signal: string) => {
      if (state.frozen) {
        // qemu-ga refuses to exit while filesystems are frozen: nobody would thaw them.
        logger.warn(`${signal} ignored: filesystems are frozen`);
        return;
      }
      logger.info(`${signal} received, exiting`);
      shutdown(0);
    };
    // A channel error without -r stops the agent, as in qemu-ga (whose exit status is then 0;
    // ours is 1 so that Restart=on-failure units restart it). The cleanup thaws if frozen.
    stopAgent = (why, code) => {
      logger.error(why);
      process.stderr.write(`${why}\n`);
      shutdown(code);
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}

/**
 * qemu-ga's ga_run_command, built at its first use (a hook, a password, a shutdown): it needs
 * child_process, net and crypto, which an agent that is only polled never loads.
 */
function deferredCommandRunner(): CommandRunner {
  let runner: CommandRunner | null = null;
  return (argv, input, action) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    runner ??= (require('./commands/run-command') as typeof import('./commands/run-command')).createCommandRunner();
    return runner(argv, input, action);
  };
}

/** Through the addon when it can (node:v8 would load Node's stream stack for this one call). */
function setV8Flags(flags: readonly string[], native: Pick<NativeHelper, 'setV8Flags'> | null): void {
  for (const flag of flags) {
    if (native?.setV8Flags(flag) !== true) (require('node:v8') as typeof import('node:v8')).setFlagsFromString(flag);
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

/** systemd socket activation: fd 3 must be a unix or vsock socket (see socket-family.ts). */
function probeSocketFamily(fd: number): SocketFamily {
  try {
    if (!fs.fstatSync(fd).isSocket()) return 'other';
  } catch {
    return 'other';
  }
  return probeSocketFamilyFromProc(fd, {
    readlink: (p) => fs.readlinkSync(p),
    readTable: (p) => {
      try {
        return fs.readFileSync(p, 'utf8');
      } catch {
        return undefined;
      }
    },
  });
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
