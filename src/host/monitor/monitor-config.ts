/**
 * qga-monitor's settings: built-in defaults, then the config file (`--config FILE`, a GLib
 * key file like qemu-ga.conf, group [monitor], lists separated by `;`), then the command line.
 * Everything is validated here, once.
 */
import { parseKeyFile, type KeyFile } from '../../config/keyfile';

export interface MonitorConfig {
  socketGlobs: string[];
  intervalSeconds: number;
  /** null: no HTTP endpoint */
  listen: { host: string; port: number } | null;
  pushUrl: string | null;
  pushHeaders: [string, string][];
  spoolDir: string;
  spoolMaxBytes: number;
  concurrency: number;
  /** the whole poll of one VM, in seconds */
  vmTimeoutSeconds: number;
  maxBackoffSeconds: number;
  libvirtDomains: 'all' | string[];
  libvirtUri: string | undefined;
  virsh: string;
  excludeInterface: string;
  excludeDisk: string;
  /** ask for OS name and host name every N polls of a VM */
  osInfoEvery: number;
  logLevel: string;
  /** one cycle, print it as JSON on stdout, exit */
  once: boolean;
}

export const DEFAULT_LISTEN = '127.0.0.1:9797';

export function defaultMonitorConfig(): MonitorConfig {
  return {
    socketGlobs: [],
    intervalSeconds: 60,
    listen: parseListen(DEFAULT_LISTEN),
    pushUrl: null,
    pushHeaders: [],
    spoolDir: '/var/lib/qga-monitor/spool',
    spoolMaxBytes: 64 * 1024 * 1024,
    concurrency: 16,
    vmTimeoutSeconds: 10,
    maxBackoffSeconds: 900,
    libvirtDomains: [],
    libvirtUri: undefined,
    virsh: 'virsh',
    excludeInterface: '^lo$',
    excludeDisk: '^(z?ram|loop|fd|(h|s|v|xv)d[a-z]+|nvme\\d+n\\d+p|mmcblk\\d+p)\\d+$',
    osInfoEvery: 10,
    logLevel: 'info',
    once: false,
  };
}

/** The globs used when neither the config file nor the command line names any. */
export const DEFAULT_SOCKET_GLOBS = ['/var/lib/libvirt/qemu/*.agent'];

export class MonitorConfigError extends Error {}

export const MONITOR_USAGE = `Usage: qga-monitor [options]

Polls guest agents (qga-ts or qemu-ga) of the VMs on this host and exposes their disk, memory,
CPU, disk I/O, network and load figures as Prometheus metrics, and/or pushes them as JSON.

  --config FILE          read settings from FILE (key file, group [monitor]; see docs/monitoring.md)
  --socket-glob GLOB     agent sockets to poll; repeatable (default ${DEFAULT_SOCKET_GLOBS.join(', ')})
  --interval SECONDS     time between polls of every VM (default 60)
  --listen HOST:PORT     serve /metrics and /healthz there (default ${DEFAULT_LISTEN}; "none" turns it off)
  --push URL             POST every poll cycle as JSON to URL
  --push-header 'N: V'   extra header for the push (e.g. Authorization); repeatable
  --spool-dir DIR        where undelivered pushes wait (default /var/lib/qga-monitor/spool)
  --spool-max-mb N       bound of that spool; the oldest documents go first (default 64)
  --concurrency N        VMs polled at the same time (default 16)
  --timeout SECONDS      budget for the whole poll of one VM (default 10)
  --max-backoff SECONDS  longest pause before retrying a failing VM (default 900)
  --libvirt              also poll running libvirt domains that have no socket of their own,
                         through \`virsh qemu-agent-command\`
  --libvirt-domain NAME  poll this libvirt domain through virsh; repeatable
  --libvirt-uri URI      libvirt connection URI (e.g. qemu:///system)
  --virsh PATH           the virsh program (default virsh)
  --log-level LEVEL      fatal, error, warn, info, debug (default info)
  --once                 poll once, print the cycle as JSON on stdout, exit
  -h, --help             this text
  -V, --version          print the version
`;

export function parseListen(text: string): { host: string; port: number } | null {
  if (text === 'none' || text === '') return null;
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text);
  if (!m) throw new MonitorConfigError(`listen address must be HOST:PORT, got '${text}'`);
  const port = Number(m[3]);
  if (port > 65535) throw new MonitorConfigError(`port out of range in '${text}'`);
  return { host: m[1] ?? (m[2] === '' ? '0.0.0.0' : m[2]!), port };
}

function positive(name: string, text: string, integer = false): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new MonitorConfigError(`${name} must be a positive ${integer ? 'integer' : 'number'}, got '${text}'`);
  }
  return n;
}

function header(text: string): [string, string] {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new MonitorConfigError(`push header must look like 'Name: value', got '${text}'`);
  return [text.slice(0, colon).trim(), text.slice(colon + 1).trim()];
}

function splitList(text: string): string[] {
  return text.split(';').map((s) => s.trim()).filter((s) => s !== '');
}

/** Applies one setting by its name (the long option without dashes, which is also the key-file key). */
function apply(config: MonitorConfig, key: string, value: string, lists: { fresh: Set<string> }): void {
  // A list given in a later layer replaces the earlier layer's list rather than adding to it.
  const list = <T>(current: T[], items: T[]): T[] => {
    if (!lists.fresh.has(key)) {
      lists.fresh.add(key);
      return items;
    }
    return [...current, ...items];
  };
  switch (key) {
    case 'socket-glob':
      config.socketGlobs = list(config.socketGlobs, splitList(value));
      break;
    case 'interval':
      config.intervalSeconds = positive(key, value);
      break;
    case 'listen':
      config.listen = parseListen(value);
      break;
    case 'push':
      config.pushUrl = value === '' || value === 'none' ? null : value;
      if (config.pushUrl !== null && !/^https?:\/\//.test(config.pushUrl)) throw new MonitorConfigError(`push URL must be http:// or https://, got '${value}'`);
      break;
    case 'push-header':
      config.pushHeaders = list(config.pushHeaders, splitList(value).map(header));
      break;
    case 'spool-dir':
      config.spoolDir = value;
      break;
    case 'spool-max-mb':
      config.spoolMaxBytes = Math.round(positive(key, value) * 1024 * 1024);
      break;
    case 'concurrency':
      config.concurrency = positive(key, value, true);
      break;
    case 'timeout':
      config.vmTimeoutSeconds = positive(key, value);
      break;
    case 'max-backoff':
      config.maxBackoffSeconds = positive(key, value);
      break;
    case 'libvirt':
      if (['true', '1', 'yes', ''].includes(value)) config.libvirtDomains = 'all';
      else if (!['false', '0', 'no'].includes(value)) throw new MonitorConfigError(`libvirt must be true or false, got '${value}'`);
      break;
    case 'libvirt-domain':
    case 'libvirt-domains':
      if (config.libvirtDomains !== 'all') config.libvirtDomains = list(config.libvirtDomains, splitList(value));
      break;
    case 'libvirt-uri':
      config.libvirtUri = value === '' ? undefined : value;
      break;
    case 'virsh':
      config.virsh = value;
      break;
    case 'exclude-interface':
      config.excludeInterface = regexpText(key, value);
      break;
    case 'exclude-disk':
      config.excludeDisk = regexpText(key, value);
      break;
    case 'os-info-every':
      config.osInfoEvery = positive(key, value, true);
      break;
    case 'log-level':
      if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(value)) throw new MonitorConfigError(`unknown log level '${value}'`);
      config.logLevel = value;
      break;
    case 'once':
      config.once = true;
      break;
    default:
      throw new MonitorConfigError(`unknown setting '${key}'`);
  }
}

function regexpText(key: string, value: string): string {
  try {
    new RegExp(value);
  } catch (e) {
    throw new MonitorConfigError(`${key}: invalid regular expression: ${(e as Error).message}`);
  }
  return value;
}

const FLAGS_WITHOUT_VALUE = new Set(['libvirt', 'once']);

export interface ParsedMonitorArgs {
  settings: [key: string, value: string][];
  configFile: string | undefined;
  help: boolean;
  version: boolean;
}

export function parseMonitorArgs(argv: readonly string[]): ParsedMonitorArgs {
  const out: ParsedMonitorArgs = { settings: [], configFile: undefined, help: false, version: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') {
      out.help = true;
      continue;
    }
    if (arg === '-V' || arg === '--version') {
      out.version = true;
      continue;
    }
    if (!arg.startsWith('--')) throw new MonitorConfigError(`unexpected argument '${arg}'`);
    const eq = arg.indexOf('=');
    const key = eq > 0 ? arg.slice(2, eq) : arg.slice(2);
    let value: string;
    if (FLAGS_WITHOUT_VALUE.has(key)) {
      value = eq > 0 ? arg.slice(eq + 1) : 'true';
    } else if (eq > 0) {
      value = arg.slice(eq + 1);
    } else {
      const next = argv[++i];
      if (next === undefined) throw new MonitorConfigError(`option --${key} needs a value`);
      value = next;
    }
    if (key === 'config') out.configFile = value;
    else out.settings.push([key, value]);
  }
  return out;
}

/** The [monitor] group of a key file as settings. */
export function settingsFromKeyFile(kf: KeyFile): [string, string][] {
  const group = 'monitor';
  if (!kf.hasGroup(group)) throw new MonitorConfigError('the config file has no [monitor] group');
  return kf.keyNames(group).map((k) => [k, kf.getString(group, k)]);
}

/** defaults ← config file ← command line */
export function buildMonitorConfig(fileText: string | null, args: ParsedMonitorArgs): MonitorConfig {
  const config = defaultMonitorConfig();
  if (fileText !== null) {
    let kf: KeyFile;
    try {
      kf = parseKeyFile(fileText);
    } catch (e) {
      throw new MonitorConfigError(`config file: ${(e as Error).message}`);
    }
    const lists = { fresh: new Set<string>() };
    for (const [k, v] of settingsFromKeyFile(kf)) {
      try {
        apply(config, k, v, lists);
      } catch (e) {
        throw new MonitorConfigError(`config file: ${(e as Error).message}`);
      }
    }
  }
  const lists = { fresh: new Set<string>() };
  for (const [k, v] of args.settings) apply(config, k, v, lists);
  if (config.socketGlobs.length === 0) config.socketGlobs = [...DEFAULT_SOCKET_GLOBS];
  if (config.vmTimeoutSeconds > config.intervalSeconds) config.vmTimeoutSeconds = config.intervalSeconds;
  return config;
}
