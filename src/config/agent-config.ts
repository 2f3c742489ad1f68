/**
 * The validated settings the agent runs with, and qemu-ga's defaults (Linux build, confdir
 * /etc/qemu, localstatedir /var; reference §3.1–§3.3).
 */

export const CHANNEL_METHODS = ['virtio-serial', 'isa-serial', 'unix-listen', 'vsock-listen'] as const;
export type ChannelMethod = (typeof CHANNEL_METHODS)[number];

export const isChannelMethod = (value: string): value is ChannelMethod =>
  (CHANNEL_METHODS as readonly string[]).includes(value);

export const DEFAULT_CONFIG_PATH = '/etc/qemu/qemu-ga.conf';
export const DEFAULT_METHOD: ChannelMethod = 'virtio-serial';
export const DEFAULT_PIDFILE = '/var/run/qemu-ga.pid';
export const DEFAULT_STATEDIR = '/var/run';
/** What a bare -F / --fsfreeze-hook enables. The config file has no such shorthand. */
export const DEFAULT_FSFREEZE_HOOK = '/etc/qemu/fsfreeze-hook';
/** Methods with a default device; the listening ones need an explicit path. */
export const DEFAULT_CHANNEL_PATHS: Readonly<Partial<Record<ChannelMethod, string>>> = {
  'virtio-serial': '/dev/virtio-ports/org.qemu.guest_agent.0',
  'isa-serial': '/dev/ttyS0',
};
/** The only group of qemu-ga.conf that is read. */
export const CONFIG_GROUP = 'general';
/** systemd hands the first (and, for us, only) listening socket over as fd 3. */
export const FIRST_SOCKET_ACTIVATION_FD = 3;
/** Upper bound of --freeze-timeout: a C int, like every integer GLib reads from a key file. */
export const MAX_FREEZE_TIMEOUT_SECONDS = 2147483647;

export interface AgentConfig {
  /** -d / daemon: fork, write the pidfile, detach. */
  readonly daemonize: boolean;
  readonly method: ChannelMethod;
  /**
   * Channels to serve, all of `method`. One entry unless the user repeated -p or listed several in
   * the config key `path` (a qga-ts extension). Empty only under socket activation. An entry may be
   * the empty string if the user said so (qemu-ga passes that on too, and the open then fails).
   */
  readonly paths: readonly string[];
  /** Set when systemd passed the listening socket: serve that fd, `paths` is empty. */
  readonly socketActivationFd?: number;
  /** Log file (opened for append); undefined means stderr. */
  readonly logfile?: string;
  readonly pidfile: string;
  /** Hook script run around freeze/thaw; undefined means no hook runs. */
  readonly fsfreezeHook?: string;
  readonly statedir: string;
  /** Log every level instead of only error and critical. */
  readonly verbose: boolean;
  /** Re-open the channel every 5 s when it cannot be opened or fails. */
  readonly retryPath: boolean;
  /**
   * Block and allow lists exactly as accumulated (order, duplicates, empty names kept, as qemu-ga
   * keeps them; unknown names are meant to be ignored). An allow list is in force only when
   * `allowRpcs` is non-empty: `-a ''` adds nothing, `-a ,` adds two empty names and so allows
   * nothing. A blocked name stays blocked even if allowed.
   */
  readonly blockRpcs: readonly string[];
  readonly allowRpcs: readonly string[];
  /**
   * qga-ts extension: thaw automatically after this many seconds frozen; 0 disables. Up to
   * MAX_FREEZE_TIMEOUT_SECONDS, which exceeds what one setTimeout can wait (2^31-1 ms), so the
   * watchdog must wait in steps.
   */
  readonly freezeTimeoutSeconds: number;
  /** -D was given. Always false in a 'run' outcome: parseCommandLine answers -D itself. */
  readonly dumpConf: boolean;
  /** The config file consulted (it may not have existed, if it was the default one). */
  readonly configPath: string;
}
