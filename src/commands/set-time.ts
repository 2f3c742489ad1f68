/**
 * guest-set-time. With `time`: validate, settimeofday(2), then copy the system time into the RTC;
 * without: copy the RTC into the system time.
 *
 * Upstream runs `/sbin/hwclock -w` / `-s` through ga_run_command. Many cloud images no longer ship
 * util-linux's hwclock, and there upstream fails after the clock was already set; when
 * /sbin/hwclock is not executable this agent uses the native helper's RTC ioctls instead (the same
 * RTC_SET_TIME / RTC_RD_TIME + settimeofday that hwclock does for an RTC kept in UTC). An RTC kept
 * in local time (/etc/adjtime says LOCAL) needs hwclock's knowledge of the zone, so that case is
 * refused with its own error rather than written wrong.
 */
import * as fsp from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import type { QgaCommandHandlers } from '../generated/qga-commands';
import { DEFAULT_RTC_DEVICE, isNativeErrnoError, type NativeHelper } from '../native/native-helper';
import { Errors } from '../protocol/errors';
import { resolveLocalZone, zoneIntervalAt, type TimezoneFileAccess } from '../platform/linux/local-timezone';
import { createCommandRunner, type CommandRunner } from './run-command';

export const HWCLOCK = '/sbin/hwclock';
export const ADJTIME = '/etc/adjtime';
/** ga_run_command's action for both directions (upstream uses the same words for -s). */
export const HWCLOCK_ACTION = 'set hardware clock to system time';

export interface SetTimeDeps {
  /** settimeofday(2); throws an errno error */
  setTimeOfDay(seconds: bigint, microseconds: number): void;
  /** system time → RTC (hwclock -w for a UTC RTC) */
  rtcSetFromSystem(): Promise<unknown>;
  /** RTC → system time (hwclock -s for a UTC RTC) */
  rtcReadToSystem(): Promise<unknown>;
  /** access(path, X_OK) */
  isExecutable(path: string): Promise<boolean>;
  runCommand: CommandRunner;
  readFile(path: string): Promise<Buffer>;
  /** The local calendar year of a time_t, as g_date_set_time_t (localtime) sees it. */
  localYear(seconds: bigint): Promise<number>;
  /** width of time_t: 64, or 32 on old 32-bit ABIs (armhf, i386 before 64-bit time) */
  timeTBits: 32 | 64;
}

export function localYearFromZone(env: NodeJS.ProcessEnv, files: TimezoneFileAccess): (seconds: bigint) => Promise<number> {
  return async (seconds) => {
    const zone = await resolveLocalZone(env['TZ'], env['TZDIR'], files);
    const utc = Number(seconds);
    const local = utc + zoneIntervalAt(zone, utc).offset;
    return new Date(local * 1000).getUTCFullYear();
  };
}

export function defaultSetTimeDeps(native: NativeHelper): SetTimeDeps {
  const files: TimezoneFileAccess = {
    readFile: (path) => fsp.readFile(path),
    readLink: (path) => fsp.readlink(path),
    isRegularFileNoFollow: async (path) => (await fsp.lstat(path)).isFile(),
    exists: async (path) => {
      try {
        await fsp.access(path);
        return true;
      } catch {
        return false;
      }
    },
  };
  return {
    setTimeOfDay: (seconds, microseconds) => native.setTimeOfDay(seconds, microseconds),
    rtcSetFromSystem: () => native.rtcSetFromSystem(),
    rtcReadToSystem: () => native.rtcReadToSystem(),
    isExecutable: async (path) => {
      try {
        await fsp.access(path, fsConstants.X_OK);
        return true;
      } catch {
        return false;
      }
    },
    runCommand: createCommandRunner(),
    readFile: (path) => fsp.readFile(path),
    localYear: localYearFromZone(process.env, files),
    timeTBits: process.arch === 'arm' || process.arch === 'ia32' ? 32 : 64,
  };
}

/** The third line of /etc/adjtime names the RTC's time scale; hwclock assumes UTC without it. */
async function rtcKeepsLocalTime(deps: SetTimeDeps): Promise<boolean> {
  try {
    const lines = (await deps.readFile(ADJTIME)).toString('latin1').split('\n');
    return lines[2]?.trim() === 'LOCAL';
  } catch {
    return false;
  }
}

async function syncHardwareClock(deps: SetTimeDeps, toRtc: boolean): Promise<void> {
  if (await deps.isExecutable(HWCLOCK)) {
    await deps.runCommand([HWCLOCK, toRtc ? '-w' : '-s'], null, HWCLOCK_ACTION);
    return;
  }
  if (await rtcKeepsLocalTime(deps)) throw Errors.hardwareClockLocalTime(HWCLOCK_ACTION);
  try {
    await (toRtc ? deps.rtcSetFromSystem() : deps.rtcReadToSystem());
  } catch (e) {
    if (!isNativeErrnoError(e)) throw e;
    const device = e.syscall === 'settimeofday' ? undefined : e.path ?? DEFAULT_RTC_DEVICE;
    throw Errors.hardwareClockFailed(HWCLOCK_ACTION, e.syscall, device, e.code);
  }
}

export type SetTimeHandlers = Pick<
  QgaCommandHandlers,
  'guest-set-time'
>;

export function createSetTimeHandlers(deps: SetTimeDeps): SetTimeHandlers {
  return {
    'guest-set-time': async (args) => {
      const ns = args.time;
      if (ns !== undefined) {
        // C division: both quotient and remainder round toward zero, as BigInt's do.
        const seconds = ns / 1_000_000_000n;
        const microseconds = (ns % 1_000_000_000n) / 1000n;
        if (BigInt.asIntN(deps.timeTBits, seconds) !== seconds) throw Errors.timeTooLarge(ns);
        const year = await deps.localYear(seconds);
        if (year < 1970 || year >= 2070) throw Errors.invalidTime();
        // The kernel refuses a negative timeval with EINVAL (even without CAP_SYS_TIME); the native
        // helper refuses it before the call, so the kernel's answer is given here.
        if (seconds < 0n || microseconds < 0n) throw Errors.setTimeFailed('EINVAL');
        try {
          deps.setTimeOfDay(seconds, Number(microseconds));
        } catch (e) {
          throw Errors.setTimeFailed(e);
        }
      }
      await syncHardwareClock(deps, ns !== undefined);
    },
  } satisfies SetTimeHandlers;
}
