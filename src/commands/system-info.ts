/**
 * Facts about the guest system: guest-get-host-name, guest-get-osinfo, guest-get-timezone,
 * guest-get-users.
 */
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import type { QgaCommandHandlers } from '../generated/qga-commands';
import type { GuestOSInfo, GuestUser } from '../generated/qga-types';
import { guestUsersFromLogindSessions, parseLogindSession, type LogindSession } from '../platform/linux/logind-sessions';
import { resolveLocalZone, zoneIntervalAt, type TimezoneFileAccess } from '../platform/linux/local-timezone';
import { parseOsRelease, type GuestOsReleaseInfo } from '../platform/linux/os-release';
import { guestUsersFromUtmp, parseUtmp } from '../platform/linux/utmp';

/** glibc's _PATH_UTMPX, what getutxent(3) reads. */
export const UTMP_PATH = '/var/run/utmp';
export const LOGIND_SESSIONS_DIR = '/run/systemd/sessions';
export const OS_RELEASE_PATHS = ['/etc/os-release', '/usr/lib/os-release'] as const;

export interface SystemInfoDeps {
  /** gethostname(2); throws when it fails */
  hostname(): string;
  /** uname(2) */
  uname(): { release: string; version: string; machine: string };
  /** the agent's environment, read at call time like g_getenv (QGA_OS_RELEASE, TZ, TZDIR) */
  env(name: string): string | undefined;
  readFile(path: string): Promise<Buffer>;
  /** entries of a directory with d_type, in readdir order */
  listDirectory(path: string): Promise<Array<{ name: string; isFile: boolean }>>;
  timezoneFiles: TimezoneFileAccess;
}

export function defaultSystemInfoDeps(): SystemInfoDeps {
  return {
    hostname: () => os.hostname(),
    uname: () => ({ release: os.release(), version: os.version(), machine: os.machine() }),
    env: (name) => process.env[name],
    readFile: (path) => fsp.readFile(path),
    listDirectory: async (path) => {
      const entries: Array<{ name: string; isFile: boolean }> = [];
      for await (const entry of await fsp.opendir(path)) entries.push({ name: entry.name, isFile: entry.isFile() });
      return entries;
    },
    timezoneFiles: {
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
    },
  };
}

const codeOf = (e: unknown): unknown => (e as { code?: unknown } | null)?.code;

/** One os-release file as qemu-ga takes it: unreadable, not UTF-8 or not a key file → null. */
async function readOsRelease(deps: SystemInfoDeps, path: string): Promise<GuestOsReleaseInfo | null> {
  try {
    return parseOsRelease(await deps.readFile(path));
  } catch {
    return null;
  }
}

/**
 * Beyond qemu-ga: systems without utmp (systemd 255+ builds, Debian 13) still know who is logged in
 * through logind's session files; see logind-sessions.ts for the rule. Files ending in `.ref` are
 * FIFOs logind holds open, and reading one would block, so only regular files are read.
 */
async function usersFromLogind(deps: SystemInfoDeps): Promise<GuestUser[]> {
  let entries: Array<{ name: string; isFile: boolean }>;
  try {
    entries = await deps.listDirectory(LOGIND_SESSIONS_DIR);
  } catch {
    return [];
  }
  const sessions: LogindSession[] = [];
  for (const entry of entries) {
    if (!entry.isFile || entry.name.endsWith('.ref') || entry.name.startsWith('.')) continue;
    try {
      sessions.push(parseLogindSession((await deps.readFile(`${LOGIND_SESSIONS_DIR}/${entry.name}`)).toString('utf8')));
    } catch {
      // A session that ended while we listed the directory.
    }
  }
  return guestUsersFromLogindSessions(sessions);
}

export type SystemInfoHandlers = Pick<
  QgaCommandHandlers,
  'guest-get-host-name' | 'guest-get-osinfo' | 'guest-get-timezone' | 'guest-get-users'
>;

export function createSystemInfoHandlers(deps: SystemInfoDeps): SystemInfoHandlers {
  return {
    // gethostname(2) every time (upstream avoids GLib's cached g_get_host_name), "localhost" if it fails.
    'guest-get-host-name': () => {
      let name: string;
      try {
        name = deps.hostname();
      } catch {
        name = 'localhost';
      }
      return { 'host-name': name };
    },

    'guest-get-osinfo': async () => {
      const kernel = deps.uname();
      const override = deps.env('QGA_OS_RELEASE');
      let release: GuestOsReleaseInfo | null = null;
      if (override !== undefined) {
        release = await readOsRelease(deps, override);
      } else {
        for (const path of OS_RELEASE_PATHS) {
          release = await readOsRelease(deps, path);
          if (release !== null) break;
        }
      }
      const info: GuestOSInfo = {
        'kernel-release': kernel.release,
        'kernel-version': kernel.version,
        machine: kernel.machine,
      };
      for (const key of ['id', 'name', 'pretty-name', 'version', 'version-id', 'variant', 'variant-id'] as const) {
        const value = release?.[key];
        if (value !== undefined) info[key] = value;
      }
      return info;
    },

    'guest-get-timezone': async (_args, ctx) => {
      const zone = await resolveLocalZone(deps.env('TZ'), deps.env('TZDIR'), deps.timezoneFiles);
      // g_get_real_time() / G_USEC_PER_SEC: whole seconds, rounded toward zero.
      const now = Number(ctx.agent.clock.nowNs() / 1_000_000_000n);
      const interval = zoneIntervalAt(zone, now);
      return { zone: interval.abbreviation, offset: interval.offset };
    },

    'guest-get-users': async () => {
      let utmp: Buffer;
      try {
        utmp = await deps.readFile(UTMP_PATH);
      } catch (e) {
        // getutxent finds nothing when utmp cannot be read; only a missing file means the system
        // does not keep utmp at all, and then logind knows the sessions.
        return codeOf(e) === 'ENOENT' ? usersFromLogind(deps) : [];
      }
      return guestUsersFromUtmp(parseUtmp(utmp));
    },
  } satisfies SystemInfoHandlers;
}
