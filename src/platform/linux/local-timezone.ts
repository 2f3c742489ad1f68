/**
 * The guest's local time zone the way qemu-ga sees it: GLib's g_time_zone_new_local() (2.74, the
 * version Debian 12's qemu-ga links), rebuilt from the TZ variable, TZif files and POSIX rules,
 * without spawning `date` and without Intl (whose abbreviations come from CLDR, not from the zone).
 *
 * Resolution, in GLib's order:
 * 1. TZ set: a constant offset first (`UTC`, `Z`, `+05:30`, `5`…; the abbreviation is the TZ text
 *    itself), then a POSIX rule string (posix-tz.ts), then a zone file: an absolute path, or a name
 *    under $TZDIR (default /usr/share/zoneinfo), with one leading `:` dropped.
 * 2. TZ unset: /etc/localtime, but only when GLib can name the zone: /etc/localtime is a symlink
 *    whose target is a regular file, or it is a regular file and /var/db/zoneinfo or /etc/timezone
 *    exists. Otherwise GLib does not even open /etc/localtime.
 * 3. Anything that fails gives UTC (abbreviation "UTC", offset 0).
 *
 * Within a zone file, an instant before the first transition takes the first non-daylight type
 * (GLib's rule; RFC 8536 would take type 0), an instant after the last transition follows the
 * footer's POSIX rule when there is one, and otherwise the last transition's type.
 */
import { parseConstantOffset, parsePosixTz, posixTzAt, type PosixTz, type ZoneInterval } from './posix-tz';
import { parseTzif, type TzifData } from './tzif';

export type { ZoneInterval } from './posix-tz';

/** The file-system calls the resolution needs; errors are thrown (any error means "not there"). */
export interface TimezoneFileAccess {
  readFile(path: string): Promise<Buffer>;
  /** readlink(2); throws with code EINVAL when the path is not a symlink */
  readLink(path: string): Promise<string>;
  /** lstat(2) reduced to the question GLib asks */
  isRegularFileNoFollow(path: string): Promise<boolean>;
  exists(path: string): Promise<boolean>;
}

export type LocalZone =
  | { kind: 'constant'; interval: ZoneInterval }
  | { kind: 'rule'; rule: PosixTz }
  | { kind: 'tzif'; data: TzifData; footer: PosixTz | null };

export const UTC_ZONE: LocalZone = { kind: 'constant', interval: { offset: 0, abbreviation: 'UTC', isDst: false } };

const DEFAULT_TZDIR = '/usr/share/zoneinfo';
const LOCALTIME = '/etc/localtime';

function zoneFromTzif(bytes: Buffer): LocalZone | null {
  const data = parseTzif(bytes);
  if (data === null) return null;
  const footer = data.footer !== null && data.footer !== '' ? parsePosixTz(data.footer) : null;
  return { kind: 'tzif', data, footer };
}

async function loadZoneFile(path: string, io: TimezoneFileAccess): Promise<LocalZone | null> {
  try {
    return zoneFromTzif(await io.readFile(path));
  } catch {
    return null;
  }
}

/** GLib's zone_identifier_unix, reduced to "would GLib go on to open /etc/localtime?". */
async function localtimeIsNamed(io: TimezoneFileAccess): Promise<boolean> {
  let target: string;
  try {
    target = await io.readLink(LOCALTIME);
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'EINVAL') return false;
    return (await io.exists('/var/db/zoneinfo')) || (await io.exists('/etc/timezone'));
  }
  const absolute = target.startsWith('/') ? target : `/etc/${target}`;
  try {
    if (await io.isRegularFileNoFollow(absolute)) return true;
  } catch {
    return false;
  }
  // A symlink to a symlink (toolbox containers): GLib names the zone from /etc/timezone instead.
  return (await io.exists('/var/db/zoneinfo')) || (await io.exists('/etc/timezone'));
}

/**
 * The zone GLib would build for TZ (undefined when unset) and TZDIR. Never throws: every failure
 * ends in UTC, as in GLib.
 */
export async function resolveLocalZone(
  tz: string | undefined,
  tzdir: string | undefined,
  io: TimezoneFileAccess,
): Promise<LocalZone> {
  if (tz === undefined) {
    if (!(await localtimeIsNamed(io))) return UTC_ZONE;
    return (await loadZoneFile(LOCALTIME, io)) ?? UTC_ZONE;
  }
  const offset = parseConstantOffset(tz);
  if (offset !== null) return { kind: 'constant', interval: { offset, abbreviation: tz, isDst: false } };
  const rule = parsePosixTz(tz);
  if (rule !== null) return { kind: 'rule', rule };
  const name = tz.startsWith(':') ? tz.slice(1) : tz;
  const dir = tzdir ?? DEFAULT_TZDIR;
  const path = name.startsWith('/') ? name : `${dir}/${name}`;
  return (await loadZoneFile(path, io)) ?? UTC_ZONE;
}

/** g_time_zone_find_interval (UTC) + the interval's offset, abbreviation and daylight flag. */
export function zoneIntervalAt(zone: LocalZone, utcSeconds: number): ZoneInterval {
  switch (zone.kind) {
    case 'constant':
      return zone.interval;
    case 'rule':
      return posixTzAt(zone.rule, utcSeconds);
    case 'tzif': {
      const { transitions, transitionTypes, types } = zone.data;
      const typeAt = (i: number): ZoneInterval => {
        const t = types[i]!;
        return { offset: t.utOffset, abbreviation: t.abbreviation, isDst: t.isDst };
      };
      if (transitions.length === 0 || utcSeconds < transitions[0]!) {
        if (transitions.length === 0 && zone.footer !== null) return posixTzAt(zone.footer, utcSeconds);
        const standard = types.findIndex((t) => !t.isDst);
        return typeAt(standard >= 0 ? standard : 0);
      }
      const last = transitions.length - 1;
      if (utcSeconds >= transitions[last]! && zone.footer !== null) return posixTzAt(zone.footer, utcSeconds);
      let low = 0;
      let high = last;
      while (low < high) {
        const mid = (low + high + 1) >> 1;
        if (transitions[mid]! <= utcSeconds) low = mid;
        else high = mid - 1;
      }
      return typeAt(transitionTypes[low]!);
    }
  }
}
