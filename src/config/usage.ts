/**
 * The --help text. It covers what qemu-ga's --help covers (every option, its default) in our own
 * words, and then our extensions, the config keys and the environment.
 */
import {
  DEFAULT_CHANNEL_PATHS,
  DEFAULT_CONFIG_PATH,
  DEFAULT_FSFREEZE_HOOK,
  DEFAULT_PIDFILE,
  DEFAULT_STATEDIR,
} from './agent-config';
import { StartupMessages } from './messages';

export function renderUsage(program: string, ownVersion: string, qemuCompatVersion: string): string {
  const virtioPath = DEFAULT_CHANNEL_PATHS['virtio-serial'] as string;
  const serialPath = DEFAULT_CHANNEL_PATHS['isa-serial'] as string;
  return `Usage: ${program} [-m <method> -p <path>] [<options>]
${StartupMessages.version(ownVersion, qemuCompatVersion)}
Serves the QEMU Guest Agent protocol to the host over a virtio-serial port,
a serial line or a listening socket.

Options (a long option's value may follow '=' or come as the next word):
  -c, --config=PATH      read settings from PATH instead of the default
                         ${DEFAULT_CONFIG_PATH} (or $QGA_CONF when set);
                         a file named here must exist
  -m, --method=METHOD    channel type: virtio-serial (the default),
                         isa-serial, unix-listen or vsock-listen
  -p, --path=PATH        device or socket of the channel. The default is
                         ${virtioPath}
                         for virtio-serial and ${serialPath} for isa-serial;
                         unix-listen and vsock-listen have none. A vsock
                         address is written <cid>:<port>
  -l, --logfile=PATH     append the log to PATH instead of writing to stderr
  -f, --pidfile=PATH     pid file written when daemonized
                         (default ${DEFAULT_PIDFILE})
  -F, --fsfreeze-hook[=PATH]
                         run a script with the argument 'freeze' or 'thaw'
                         around filesystem freezes (the script defaults to
                         ${DEFAULT_FSFREEZE_HOOK}). A PATH must be attached:
                         -F/path/to/hook or --fsfreeze-hook=/path/to/hook
  -t, --statedir=DIR     existing directory for persistent state
                         (default ${DEFAULT_STATEDIR})
  -v, --verbose          log messages of every level, not only errors
  -V, --version          print the version and exit
  -d, --daemonize        detach and run in the background
  -b, --block-rpcs=LIST  disable the commands in a comma-separated LIST
                         (no spaces); may be repeated, lists add up;
                         --block-rpcs=help lists every command
  -a, --allow-rpcs=LIST  enable only the commands in a comma-separated LIST
                         (no spaces); may be repeated; a blocked command
                         stays blocked; --allow-rpcs=help lists every command
  -D, --dump-conf        print the effective settings as a config file, exit
  -r, --retry-path       when the channel cannot be opened or fails, try again
                         every 5 seconds instead of exiting
  -h, --help             print this help and exit

qga-ts extensions (qemu-ga does not have these):
  -p PATH, given more than once
                         serve several channels of the same method from one
                         agent; the config key 'path' may likewise hold
                         several paths separated by commas. A single -p
                         replaces the config file's paths, as in qemu-ga.
      --freeze-timeout=SECONDS
                         thaw by itself when filesystems have stayed frozen
                         this long; 0 (the default) never does. Config key:
                         freeze-timeout. Write this option's name in full.

Config file: group [general], keys daemon, method, path, logfile, pidfile,
fsfreeze-hook, statedir, verbose, retry-path, block-rpcs, allow-rpcs and
freeze-timeout ('blacklist' is still read, as an old name for block-rpcs).
Options given here override the file; block and allow lists add up.

Environment: QGA_CONF names the config file; QGA_OS_RELEASE names the
os-release file read by guest-get-osinfo; LISTEN_FDS and LISTEN_PID hand
over a listening socket (systemd socket activation), replacing -m and -p;
QGA_TS_V8_TIERING=default keeps V8's own optimization thresholds (by
default the agent lowers them once started, so that its request path is
optimized within its first requests).
`;
}
