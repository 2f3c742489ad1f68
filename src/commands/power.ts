/**
 * guest-shutdown and guest-suspend-disk / -ram / -hybrid (reference §2.3; upstream 10.2
 * qga/commands-posix.c and qga/commands-linux.c). None of them writes a reply on success; the
 * dispatcher knows that from the schema, the handlers just return.
 *
 * guest-shutdown: powerdown (default), halt or reboot. Upstream 10.2 runs /sbin/poweroff,
 * /sbin/halt or /sbin/reboot with no arguments when that file exists (stat() says regular file;
 * the reference's "access(X_OK)" is not what the merged patch does), else
 * `/sbin/shutdown -h -P|-H|-r +0 "hypervisor initiated shutdown"`, through ga_run_command with the
 * action "shutdown".
 *
 * guest-suspend-*: systemd (`systemctl status <unit>` exits 1..3 when the unit exists, then
 * `systemctl hibernate|suspend|hybrid-sleep`), then pm-utils (`pm-is-supported --<mode>` exits 0,
 * then pm-hibernate|pm-suspend|pm-suspend-hybrid), then /sys/power/state (its first 31 bytes name
 * `disk` or `mem`; write the word). The helpers run like GLib's g_spawn_sync with all stdio on
 * /dev/null; a program that is not found counts as "not supported", a status is WEXITSTATUS of the
 * wait status (so a helper killed by a signal reads as 0). A failure of one strategy moves on to
 * the next.
 *
 * One deliberate difference: upstream ends silently (no reply, as on success) when systemd or
 * pm-utils claimed the mode, failed to enter it, and sysfs does not offer it; here the failure of
 * the last strategy that was tried is reported instead.
 */
import * as childProcess from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import type { QgaCommandHandlers } from '../generated/qga-commands';
import { Errors, QgaError } from '../protocol/errors';
import {
  GLIB_DEFAULT_PATH,
  createCommandRunner,
  spawnProgram,
  type CommandRunner,
  type ProgramSearchFs,
  type SpawnFunction,
} from './run-command';

export const SYS_POWER_STATE = '/sys/power/state';

export type SuspendMode = 'disk' | 'ram' | 'hybrid';

export interface PowerDeps {
  /** ga_run_command (shutdown) */
  runCommand: CommandRunner;
  /**
   * qemu-ga's run_process_child: run argv[0] (searched in the agent's PATH) with all stdio on
   * /dev/null and resolve with WEXITSTATUS of its wait status, -1 when the program is not found;
   * reject with the QgaError of any other spawn failure.
   */
  runForStatus(argv: readonly string[]): Promise<number>;
  /** stat() succeeds and says regular file */
  isRegularFile(path: string): Promise<boolean>;
  /** up to the first 31 bytes of /sys/power/state, or null when it cannot be opened or read */
  readPowerState(): Promise<Buffer | null>;
  /** open(/sys/power/state, O_WRONLY) + write(word); rejects with an errno error */
  writePowerState(word: string): Promise<void>;
}

/** run_process_child over Node: g_spawn_sync's PATH search and its error text. */
export function createStatusRunner(
  opts: { spawn?: SpawnFunction; searchPath?: () => string; searchFs?: ProgramSearchFs } = {},
): (argv: readonly string[]) => Promise<number> {
  const spawn = opts.spawn ?? childProcess.spawn;
  const searchPath = opts.searchPath ?? (() => process.env.PATH ?? GLIB_DEFAULT_PATH);
  return async (argv) => {
    const file = argv[0] ?? '';
    const spawned = await spawnProgram(spawn, { file, args: argv.slice(1), searchPath: searchPath(), stdio: 'ignore' }, opts.searchFs);
    if ('errorCode' in spawned) {
      if (spawned.errorCode === 'ENOENT') return -1;
      throw Errors.suspendSpawnFailed(Errors.execChildFailed(file, spawned.errorCode).desc);
    }
    return new Promise((resolve) => {
      spawned.child.once('exit', (code) => resolve(code ?? 0));
    });
  };
}

export function defaultPowerDeps(runCommand: CommandRunner = createCommandRunner()): PowerDeps {
  return {
    runCommand,
    runForStatus: createStatusRunner(),
    isRegularFile: async (path) => {
      try {
        return (await fsp.stat(path)).isFile();
      } catch {
        return false;
      }
    },
    readPowerState: async () => {
      let handle: fsp.FileHandle | null = null;
      try {
        handle = await fsp.open(SYS_POWER_STATE, fsConstants.O_RDONLY);
        const buf = Buffer.alloc(31);
        const { bytesRead } = await handle.read(buf, 0, buf.length, null);
        return bytesRead > 0 ? buf.subarray(0, bytesRead) : null;
      } catch {
        return null;
      } finally {
        await handle?.close().catch(() => undefined);
      }
    },
    writePowerState: async (word) => {
      const handle = await fsp.open(SYS_POWER_STATE, fsConstants.O_WRONLY);
      try {
        await handle.write(word);
      } finally {
        await handle.close().catch(() => undefined);
      }
    },
  };
}

const SHUTDOWN_PROGRAMS: Record<string, { flag: string; program: string }> = {
  powerdown: { flag: '-P', program: '/sbin/poweroff' },
  halt: { flag: '-H', program: '/sbin/halt' },
  reboot: { flag: '-r', program: '/sbin/reboot' },
};

const SYSTEMD_UNIT: Record<SuspendMode, string> = {
  disk: 'systemd-hibernate',
  ram: 'systemd-suspend',
  hybrid: 'systemd-hybrid-sleep',
};
const SYSTEMCTL_VERB: Record<SuspendMode, string> = { disk: 'hibernate', ram: 'suspend', hybrid: 'hybrid-sleep' };
const PM_IS_SUPPORTED_ARG: Record<SuspendMode, string> = { disk: '--hibernate', ram: '--suspend', hybrid: '--suspend-hybrid' };
const PM_PROGRAM: Record<SuspendMode, string> = { disk: 'pm-hibernate', ram: 'pm-suspend', hybrid: 'pm-suspend-hybrid' };
const SYSFS_WORD: Record<SuspendMode, string | null> = { disk: 'disk', ram: 'mem', hybrid: null };

export function createPowerHandlers(deps: PowerDeps) {
  /** A helper's status as qemu-ga judges a command that should enter the mode. */
  const runSuspendHelper = async (argv: string[], label: string): Promise<void> => {
    const status = await deps.runForStatus(argv);
    if (status === 0) return;
    if (status === -1) throw Errors.suspendHelperNotFound(label);
    throw Errors.suspendHelperExitStatus(label, status);
  };

  const systemdSupports = async (mode: SuspendMode): Promise<boolean> => {
    // LSB status codes: 1..3 mean the unit exists (3 = not running), 4 that it does not.
    const status = await deps.runForStatus(['systemctl', 'status', SYSTEMD_UNIT[mode]]).catch(() => -1);
    return status > 0 && status < 4;
  };

  const pmutilsSupports = async (mode: SuspendMode): Promise<boolean> => {
    const status = await deps.runForStatus(['pm-is-supported', PM_IS_SUPPORTED_ARG[mode]]).catch(() => -1);
    return status === 0;
  };

  const sysfsSupports = async (mode: SuspendMode): Promise<boolean> => {
    const word = SYSFS_WORD[mode];
    if (word === null) throw Errors.suspendModeUnknown();
    const head = await deps.readPowerState();
    if (head === null || head.length === 0) return false;
    const nul = head.indexOf(0);
    return (nul >= 0 ? head.subarray(0, nul) : head).toString('latin1').includes(word);
  };

  const suspend = async (mode: SuspendMode): Promise<void> => {
    let supported = false;
    let lastFailure: QgaError | null = null;

    if (await systemdSupports(mode)) {
      supported = true;
      const verb = SYSTEMCTL_VERB[mode];
      try {
        return await runSuspendHelper(['systemctl', verb], `systemctl ${verb}`);
      } catch (e) {
        lastFailure = asQgaError(e);
      }
    }

    if (await pmutilsSupports(mode)) {
      supported = true;
      try {
        return await runSuspendHelper([PM_PROGRAM[mode]], PM_PROGRAM[mode]);
      } catch (e) {
        lastFailure = asQgaError(e);
      }
    }

    let sysfsError: QgaError | null = null;
    let sysfsOffers = false;
    try {
      sysfsOffers = await sysfsSupports(mode);
    } catch (e) {
      sysfsError = asQgaError(e);
    }
    if (sysfsOffers) {
      supported = true;
      try {
        await deps.writePowerState(SYSFS_WORD[mode]!);
        return;
      } catch (e) {
        sysfsError = Errors.suspendStateWriteFailed(SYS_POWER_STATE, e);
      }
    }

    if (!supported) throw Errors.suspendNotSupported();
    throw sysfsError ?? lastFailure ?? Errors.suspendNotSupported();
  };

  return {
    'guest-shutdown': async (args, ctx) => {
      const mode = args.mode ?? 'powerdown';
      if (!Object.hasOwn(SHUTDOWN_PROGRAMS, mode)) throw Errors.shutdownModeInvalid();
      const choice = SHUTDOWN_PROGRAMS[mode]!;
      ctx.log.info({ mode }, 'guest-shutdown called');
      const argv = (await deps.isRegularFile(choice.program))
        ? [choice.program]
        : ['/sbin/shutdown', '-h', choice.flag, '+0', 'hypervisor initiated shutdown'];
      await deps.runCommand(argv, null, 'shutdown');
    },
    'guest-suspend-disk': async (_args, ctx) => {
      ctx.log.info('guest-suspend-disk called');
      await suspend('disk');
    },
    'guest-suspend-ram': async (_args, ctx) => {
      ctx.log.info('guest-suspend-ram called');
      await suspend('ram');
    },
    'guest-suspend-hybrid': async (_args, ctx) => {
      ctx.log.info('guest-suspend-hybrid called');
      await suspend('hybrid');
    },
  } satisfies Pick<QgaCommandHandlers, 'guest-shutdown' | 'guest-suspend-disk' | 'guest-suspend-ram' | 'guest-suspend-hybrid'>;
}

function asQgaError(e: unknown): QgaError {
  return e instanceof QgaError ? e : Errors.generic(e instanceof Error ? e.message : String(e));
}
