/**
 * glibc utmp/utmpx records (the x86-64 layout, identical for 32- and 64-bit programs thanks to
 * __WORDSIZE_TIME64_COMPAT32) and qemu-ga's guest-get-users rule built on them.
 *
 * Layout, 384 bytes, little-endian:
 *   0 ut_type int16 (+2 padding)  4 ut_pid int32     8 ut_line[32]   40 ut_id[4]
 *  44 ut_user[32]                76 ut_host[256]   332 ut_exit {int16 termination, int16 exit}
 * 336 ut_session int32          340 ut_tv {int32 tv_sec, int32 tv_usec}
 * 348 ut_addr_v6 int32[4]       364 reserved[20]
 */
export const UTMP_RECORD_SIZE = 384;

export const UtmpType = {
  EMPTY: 0,
  RUN_LVL: 1,
  BOOT_TIME: 2,
  NEW_TIME: 3,
  OLD_TIME: 4,
  INIT_PROCESS: 5,
  LOGIN_PROCESS: 6,
  USER_PROCESS: 7,
  DEAD_PROCESS: 8,
  ACCOUNTING: 9,
} as const;

export interface UtmpRecord {
  type: number;
  pid: number;
  line: string;
  id: string;
  user: string;
  host: string;
  exitTermination: number;
  exitStatus: number;
  session: number;
  tvSec: number;
  tvUsec: number;
  /** ut_addr_v6 as 16 bytes in network order (an IPv4 address uses only the first 4). */
  addrV6: Uint8Array;
}

/** GuestUser, wire names (`domain` is Windows-only and never set on Linux). */
export interface GuestUser {
  user: string;
  'login-time': number;
}

/** The fixed-size char arrays are not NUL-terminated when full; a full field is used whole. */
function fixedString(buf: Buffer, offset: number, size: number): string {
  const field = buf.subarray(offset, offset + size);
  const nul = field.indexOf(0);
  return (nul >= 0 ? field.subarray(0, nul) : field).toString('utf8');
}

/** Every complete record of a utmp/wtmp file, in file order; a trailing partial record is ignored. */
export function parseUtmp(buf: Buffer): UtmpRecord[] {
  const records: UtmpRecord[] = [];
  for (let at = 0; at + UTMP_RECORD_SIZE <= buf.length; at += UTMP_RECORD_SIZE) {
    records.push({
      type: buf.readInt16LE(at),
      pid: buf.readInt32LE(at + 4),
      line: fixedString(buf, at + 8, 32),
      id: fixedString(buf, at + 40, 4),
      user: fixedString(buf, at + 44, 32),
      host: fixedString(buf, at + 76, 256),
      exitTermination: buf.readInt16LE(at + 332),
      exitStatus: buf.readInt16LE(at + 334),
      session: buf.readInt32LE(at + 336),
      tvSec: buf.readInt32LE(at + 340),
      tvUsec: buf.readInt32LE(at + 344),
      addrV6: Uint8Array.from(buf.subarray(at + 348, at + 364)),
    });
  }
  return records;
}

/**
 * qemu-ga's guest-get-users over utmpx: only USER_PROCESS records count; each user name appears
 * once, in the order of its first record, with the earliest login-time = tv_sec + tv_usec / 1e6
 * over all its records.
 */
export function guestUsersFromUtmp(records: readonly UtmpRecord[]): GuestUser[] {
  const users = new Map<string, GuestUser>();
  for (const record of records) {
    if (record.type !== UtmpType.USER_PROCESS) continue;
    const loginTime = record.tvSec + record.tvUsec / 1e6;
    const known = users.get(record.user);
    if (known === undefined) users.set(record.user, { user: record.user, 'login-time': loginTime });
    else if (loginTime < known['login-time']) known['login-time'] = loginTime;
  }
  return [...users.values()];
}
