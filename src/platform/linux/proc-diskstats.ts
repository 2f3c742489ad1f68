import type * as Wire from '../../generated/qga-types';
import { scanfInteger, scanfTokens, type ScanfIntegerConversion } from './scanf-integer';

/**
 * GuestDiskStats as the schema declares it (wire names; derived from the generated type so a
 * renamed member breaks the build), with every member an exact uint64.
 */
export type GuestDiskStats = { [K in keyof Wire.GuestDiskStats]?: bigint };

/** GuestDiskStatsInfo, wire names. */
export interface GuestDiskStatsInfo {
  name: string;
  major: bigint;
  minor: bigint;
  stats: GuestDiskStats;
}

/**
 * The C types qemu-ga scans the 17 value columns into: the tick and queue columns the kernel
 * prints as `unsigned int` are `%u`, the others `%lu`.
 */
const VALUE_CONVERSIONS: ScanfIntegerConversion[] = [
  '%lu', '%lu', '%lu', '%lu', // read ios, merges (old: sectors), sectors (old: write ios), ticks (old: write sectors)
  '%lu', '%lu', '%lu', '%u', // write ios, merges, sectors, ticks
  '%u', '%u', '%u', // ios in progress, total ticks, weighted ticks
  '%lu', '%lu', '%lu', '%u', // discard ios, merges, sectors, ticks
  '%lu', '%u', // flush ios, ticks
];

/**
 * /proc/diskstats → one entry per device line, qemu-ga's way. The number of fields read (major,
 * minor and name count as three) decides which stats are filled:
 * - fewer than 7: the line is skipped;
 * - exactly 7: the pre-2.6.25 partition format, `read-ios read-sectors write-ios write-sectors`;
 * - 8 to 13: the device is listed with empty stats;
 * - 14 or more: read/write ios, merges, sectors and ticks, plus ios-pgr, total-ticks, weight-ticks;
 * - 18 or more: also the four discard fields; 20: also flush-ios and flush-ticks.
 */
export function parseProcDiskstats(text: string): GuestDiskStatsInfo[] {
  const devices: GuestDiskStatsInfo[] = [];
  for (const line of text.split('\n')) {
    const tokens = scanfTokens(line);
    if (tokens.length < 3) continue;
    const major = scanfInteger(tokens[0] as string, '%u');
    const minor = major === null ? null : scanfInteger(tokens[1] as string, '%u');
    if (major === null || minor === null) continue;
    const values: bigint[] = [];
    for (let i = 0; i < VALUE_CONVERSIONS.length; i++) {
      const token = tokens[3 + i];
      if (token === undefined) break;
      const value = scanfInteger(token, VALUE_CONVERSIONS[i] as ScanfIntegerConversion);
      if (value === null) break;
      values.push(value);
    }
    const fields = 3 + values.length;
    if (fields < 7) continue;

    const v = (i: number): bigint => values[i] as bigint;
    const stats: GuestDiskStats = {};
    if (fields === 7) {
      stats['read-ios'] = v(0);
      stats['read-sectors'] = v(1);
      stats['write-ios'] = v(2);
      stats['write-sectors'] = v(3);
    }
    if (fields >= 14) {
      stats['read-ios'] = v(0);
      stats['read-merges'] = v(1);
      stats['read-sectors'] = v(2);
      stats['read-ticks'] = v(3);
      stats['write-ios'] = v(4);
      stats['write-merges'] = v(5);
      stats['write-sectors'] = v(6);
      stats['write-ticks'] = v(7);
      stats['ios-pgr'] = v(8);
      stats['total-ticks'] = v(9);
      stats['weight-ticks'] = v(10);
    }
    if (fields >= 18) {
      stats['discard-ios'] = v(11);
      stats['discard-merges'] = v(12);
      stats['discard-sectors'] = v(13);
      stats['discard-ticks'] = v(14);
    }
    if (fields >= 20) {
      stats['flush-ios'] = v(15);
      stats['flush-ticks'] = v(16);
    }
    devices.push({ name: tokens[2] as string, major, minor, stats });
  }
  return devices;
}
