/**
 * qemu-ga's command line and config file, turned into one validated AgentConfig (reference §3.1,
 * §3.2). Pure: argv, the environment and the file reader come in, and the outcome says what to run
 * or what to print and with which exit status. main.ts only carries it out.
 *
 * The steps are upstream's (qga/main.c, 10.2), in its order:
 * 1. A first getopt pass looks only for -c/--config (the last one wins) and ignores errors.
 * 2. The config file is loaded: -c's path (must exist), else $QGA_CONF, else
 *    /etc/qemu/qemu-ga.conf (both may be missing). Any other failure is fatal.
 * 3. A second pass applies the options in order over the file's values: scalars replace, -v -d -r
 *    -D switch on, block/allow lists append. It stops at the first of: a getopt error (exit 1 with
 *    the hint line), -h, -V, -b help or -a help (exit 0). So a broken config file is reported
 *    before an unknown option, and even -h needs a readable config.
 * 4. Socket activation (LISTEN_PID/LISTEN_FDS) replaces method and path.
 * 5. A missing path gets the method's default, or is an error for the listening methods.
 * 6. -D prints the settings and exits 0, before the method is checked (qemu-ga checks it only when
 *    opening the channel, so `-D -m tcp -p x` dumps `method=tcp`).
 * 7. The method must be one of the four.
 *
 * Deliberate differences from upstream 10.2:
 * - getopt errors are printed once. Upstream's first pass prints them too, so they appear twice.
 * - An unsupported method is rejected here, before state directory, log file or pidfile are
 *   touched, and even with -r (10.2 would retry it forever). The texts are upstream's.
 * - Start-up diagnostics are `critical: <msg>` / `warning: <msg>` lines (qemu-ga's log format
 *   without the timestamp) rather than GLib's `** (process:PID): CRITICAL **: time: <msg>`.
 * - Our extensions: repeated -p, a comma list in the config key `path`, --freeze-timeout and the
 *   config key freeze-timeout. The extension option never takes part in abbreviation matching, so
 *   every prefix qemu-ga accepts (e.g. `--f` for --fsfreeze-hook) still works.
 */
import {
  AgentConfig,
  ChannelMethod,
  DEFAULT_CHANNEL_PATHS,
  DEFAULT_CONFIG_PATH,
  DEFAULT_FSFREEZE_HOOK,
  DEFAULT_METHOD,
  DEFAULT_PIDFILE,
  DEFAULT_STATEDIR,
  FIRST_SOCKET_ACTIVATION_FD,
  isChannelMethod,
  MAX_FREEZE_TIMEOUT_SECONDS,
} from './agent-config';
import { loadConfigFile, ReadConfigFile, splitRpcList } from './config-file';
import { DumpableSettings, renderDumpConf } from './dump-conf';
import { OptionSpec, scanOptions } from './getopt';
import { formatStartupLine, StartupLevel, StartupMessages } from './messages';
import { renderUsage } from './usage';

export type { ReadConfigFile } from './config-file';

/** Family of the socket systemd passed as fd 3. */
export type ListenSocketFamily = 'unix' | 'vsock' | 'other';

export interface ParseContext {
  /** Our package version, for -V and --help. */
  readonly ownVersion: string;
  /** The qemu-ga release whose behaviour we follow, e.g. '10.2.0'. */
  readonly qemuCompatVersion: string;
  /** Every command name in registration order, for -b help / -a help. */
  readonly commandNames: readonly string[];
  /**
   * For socket activation: our pid (LISTEN_PID must equal it) and a probe of a passed fd's socket
   * family. Without both, LISTEN_FDS is not looked at.
   */
  readonly pid?: number;
  readonly listenSocketFamily?: (fd: number) => ListenSocketFamily;
}

export type Environment = Readonly<Record<string, string | undefined>>;

export type CommandLineOutcome =
  | {
      readonly kind: 'run';
      readonly config: AgentConfig;
      /** Warnings already formatted as lines, to be written to stderr before starting. */
      readonly stderr: string;
    }
  | {
      readonly kind: 'exit';
      readonly code: 0 | 1;
      readonly stdout: string;
      readonly stderr: string;
    };

export const COMMAND_LINE_OPTIONS: readonly OptionSpec[] = [
  // Upstream's table order: glibc lists ambiguous candidates in this order.
  { id: 'help', short: 'h', long: 'help', argument: 'none' },
  { id: 'version', short: 'V', long: 'version', argument: 'none' },
  { id: 'config', short: 'c', long: 'config', argument: 'required' },
  { id: 'dump-conf', short: 'D', long: 'dump-conf', argument: 'none' },
  { id: 'logfile', short: 'l', long: 'logfile', argument: 'required' },
  { id: 'pidfile', short: 'f', long: 'pidfile', argument: 'required' },
  { id: 'fsfreeze-hook', short: 'F', long: 'fsfreeze-hook', argument: 'optional' },
  { id: 'verbose', short: 'v', long: 'verbose', argument: 'none' },
  { id: 'method', short: 'm', long: 'method', argument: 'required' },
  { id: 'path', short: 'p', long: 'path', argument: 'required' },
  { id: 'daemonize', short: 'd', long: 'daemonize', argument: 'none' },
  { id: 'block-rpcs', short: 'b', long: 'block-rpcs', argument: 'required' },
  { id: 'allow-rpcs', short: 'a', long: 'allow-rpcs', argument: 'required' },
  { id: 'statedir', short: 't', long: 'statedir', argument: 'required' },
  { id: 'retry-path', short: 'r', long: 'retry-path', argument: 'none' },
  // -s is Windows' service control; a Linux qemu-ga accepts it in the short option string, takes
  // its argument and ignores it, while --service does not exist.
  { id: 'service', short: 's', argument: 'required' },
  { id: 'freeze-timeout', long: 'freeze-timeout', argument: 'required', abbreviable: false },
];

/** qemu-ga's is_help_option. */
const isHelpRequest = (value: string): boolean => value === 'help' || value === '?';

interface Settings {
  daemonize: boolean;
  method: string;
  paths: string[];
  logfile: string | undefined;
  pidfile: string;
  fsfreezeHook: string | undefined;
  statedir: string;
  verbose: boolean;
  retryPath: boolean;
  blockRpcs: string[];
  allowRpcs: string[];
  freezeTimeoutSeconds: number;
  dumpConf: boolean;
}

export function parseCommandLine(
  argv: readonly string[],
  env: Environment,
  readFile: ReadConfigFile,
  context: ParseContext,
): CommandLineOutcome {
  const program = argv[0] ?? 'qga-ts';
  let stderr = '';
  const say = (level: StartupLevel, message: string): void => {
    stderr += formatStartupLine(level, message);
  };
  const exit = (code: 0 | 1, stdout = ''): CommandLineOutcome => ({ kind: 'exit', code, stdout, stderr });
  const fail = (...messages: string[]): CommandLineOutcome => {
    for (const message of messages) say('critical', message);
    return exit(1);
  };

  const { events } = scanOptions(argv, COMMAND_LINE_OPTIONS, { posixlyCorrect: env.POSIXLY_CORRECT !== undefined });

  // Pass 1: where the config file is.
  let configPath = env.QGA_CONF ?? DEFAULT_CONFIG_PATH;
  let configRequired = false;
  for (const event of events) {
    if (event.kind === 'option' && event.id === 'config') {
      configPath = event.argument as string;
      configRequired = true;
    }
  }

  const settings: Settings = {
    daemonize: false,
    method: DEFAULT_METHOD,
    paths: [],
    logfile: undefined,
    pidfile: DEFAULT_PIDFILE,
    fsfreezeHook: undefined,
    statedir: DEFAULT_STATEDIR,
    verbose: false,
    retryPath: false,
    blockRpcs: [],
    allowRpcs: [],
    freezeTimeoutSeconds: 0,
    dumpConf: false,
  };

  const loaded = loadConfigFile(configPath, configRequired, readFile);
  if (loaded.kind !== 'absent') {
    for (const warning of loaded.warnings) say('warning', warning);
  }
  if (loaded.kind === 'failed') return fail(loaded.message);
  if (loaded.kind === 'loaded') {
    const file = loaded.values;
    settings.daemonize = file.daemonize ?? settings.daemonize;
    settings.method = file.method ?? settings.method;
    settings.paths = file.paths !== undefined ? [...file.paths] : settings.paths;
    settings.logfile = file.logfile ?? settings.logfile;
    settings.pidfile = file.pidfile ?? settings.pidfile;
    settings.fsfreezeHook = file.fsfreezeHook ?? settings.fsfreezeHook;
    settings.statedir = file.statedir ?? settings.statedir;
    settings.verbose = file.verbose ?? settings.verbose;
    settings.retryPath = file.retryPath ?? settings.retryPath;
    settings.blockRpcs.push(...file.blockRpcs);
    settings.allowRpcs.push(...file.allowRpcs);
    settings.freezeTimeoutSeconds = file.freezeTimeoutSeconds ?? settings.freezeTimeoutSeconds;
  }

  // Pass 2: everything else, in order.
  let pathsFromCommandLine = false;
  for (const event of events) {
    if (event.kind === 'error') {
      stderr += `${event.message}\n`;
      return exit(1, `${StartupMessages.unknownOptionHint(program)}\n`);
    }
    const argument = event.argument;
    switch (event.id) {
      case 'help':
        return exit(0, renderUsage(program, context.ownVersion, context.qemuCompatVersion));
      case 'version':
        return exit(0, `${StartupMessages.version(context.ownVersion, context.qemuCompatVersion)}\n`);
      case 'config':
      case 'service':
        break;
      case 'dump-conf':
        settings.dumpConf = true;
        break;
      case 'logfile':
        settings.logfile = argument as string;
        break;
      case 'pidfile':
        settings.pidfile = argument as string;
        break;
      case 'fsfreeze-hook':
        settings.fsfreezeHook = argument ?? DEFAULT_FSFREEZE_HOOK;
        break;
      case 'verbose':
        settings.verbose = true;
        break;
      case 'method':
        settings.method = argument as string;
        break;
      case 'path':
        // The first -p replaces the file's paths exactly as qemu-ga's single -p does; further ones
        // add channels (our extension).
        if (!pathsFromCommandLine) settings.paths = [];
        pathsFromCommandLine = true;
        settings.paths.push(argument as string);
        break;
      case 'daemonize':
        settings.daemonize = true;
        break;
      case 'block-rpcs':
      case 'allow-rpcs': {
        const list = argument as string;
        if (isHelpRequest(list)) {
          return exit(0, context.commandNames.map((name) => `${name}\n`).join(''));
        }
        const target = event.id === 'block-rpcs' ? settings.blockRpcs : settings.allowRpcs;
        target.push(...splitRpcList(list));
        break;
      }
      case 'statedir':
        settings.statedir = argument as string;
        break;
      case 'retry-path':
        settings.retryPath = true;
        break;
      case 'freeze-timeout': {
        const seconds = parseFreezeTimeout(argument as string);
        if (seconds === undefined) return fail(StartupMessages.invalidFreezeTimeout(argument as string));
        settings.freezeTimeoutSeconds = seconds;
        break;
      }
      default:
        throw new Error(`option table and parser disagree about '${event.id}'`);
    }
  }

  const activation = detectSocketActivation(env, context);
  let socketActivationFd: number | undefined;
  if (activation.kind === 'error') return fail(activation.message);
  if (activation.kind === 'activated') {
    settings.method = activation.method;
    settings.paths = [];
    socketActivationFd = FIRST_SOCKET_ACTIVATION_FD;
  } else if (settings.paths.length === 0) {
    const defaultPath = isChannelMethod(settings.method)
      ? DEFAULT_CHANNEL_PATHS[settings.method]
      : undefined;
    if (defaultPath === undefined) return fail(StartupMessages.pathRequired);
    settings.paths = [defaultPath];
  }

  if (settings.dumpConf) {
    const dumpable: DumpableSettings = settings;
    return exit(0, renderDumpConf(dumpable));
  }

  const method = settings.method;
  if (!isChannelMethod(method)) {
    return fail(
      StartupMessages.unsupportedMethod(method),
      StartupMessages.channelInitFailed,
      StartupMessages.agentInitFailed,
    );
  }

  const config: AgentConfig = Object.freeze({
    daemonize: settings.daemonize,
    method: method satisfies ChannelMethod,
    paths: Object.freeze([...settings.paths]),
    ...(socketActivationFd !== undefined && { socketActivationFd }),
    ...(settings.logfile !== undefined && { logfile: settings.logfile }),
    pidfile: settings.pidfile,
    ...(settings.fsfreezeHook !== undefined && { fsfreezeHook: settings.fsfreezeHook }),
    statedir: settings.statedir,
    verbose: settings.verbose,
    retryPath: settings.retryPath,
    blockRpcs: Object.freeze([...settings.blockRpcs]),
    allowRpcs: Object.freeze([...settings.allowRpcs]),
    freezeTimeoutSeconds: settings.freezeTimeoutSeconds,
    dumpConf: false,
    configPath,
  });
  return { kind: 'run', config, stderr };
}

/** Digits only (no sign, no spaces), within a C int like the config key. */
function parseFreezeTimeout(text: string): number | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const seconds = Number(text);
  return seconds <= MAX_FREEZE_TIMEOUT_SECONDS ? seconds : undefined;
}

type SocketActivation =
  | { readonly kind: 'none' }
  | { readonly kind: 'activated'; readonly method: ChannelMethod }
  | { readonly kind: 'error'; readonly message: string };

/** qemu-ga's check_socket_activation plus the family check main() does after it. */
function detectSocketActivation(env: Environment, context: ParseContext): SocketActivation {
  const probe = context.listenSocketFamily;
  if (context.pid === undefined || probe === undefined) return { kind: 'none' };
  const listenPid = parseUnsigned(env.LISTEN_PID);
  if (listenPid === undefined || listenPid !== context.pid) return { kind: 'none' };
  const count = parseUnsigned(env.LISTEN_FDS);
  if (count === undefined || count === 0) return { kind: 'none' };
  if (count > 1) return { kind: 'error', message: StartupMessages.tooManyListenSockets };
  switch (probe(FIRST_SOCKET_ACTIVATION_FD)) {
    case 'unix':
      return { kind: 'activated', method: 'unix-listen' };
    case 'vsock':
      return { kind: 'activated', method: 'vsock-listen' };
    default:
      return { kind: 'error', message: StartupMessages.unsupportedListenFd };
  }
}

/** qemu_strtoul with no end pointer: optional leading whitespace, then decimal digits to the end. */
function parseUnsigned(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const match = /^[ \t\n\v\f\r]*\+?([0-9]+)$/.exec(text);
  return match === null ? undefined : Number(match[1]);
}
