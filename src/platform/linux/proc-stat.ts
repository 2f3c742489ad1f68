import { scanfInteger, scanfTokens } from './scanf-integer';

/** GuestCpuStats for type `linux`, wire names; every time is in milliseconds. */
export interface GuestLinuxCpuStats {
  type: 'linux';
  cpu: number;
  user: bigint;
  nice: bigint;
  system: bigint;
  idle: bigint;
  iowait?: bigint;
  irq?: bigint;
  softirq?: bigint;
  steal?: bigint;
  guest?: bigint;
  guestnice?: bigint;
}

/** atoi: optional sign and leading digits, 0 when there are none, narrowed to int. */
function atoi(text: string): number {
  const match = /^[ \t\n\v\f\r]*([+-]?[0-9]+)/.exec(text);
  return match === null ? 0 : Number(BigInt.asIntN(32, BigInt(match[1] as string)));
}

/**
 * /proc/stat → one entry per `cpuN` line (the aggregate `cpu` line is skipped), qemu-ga's way:
 * up to ten `%lu` columns are read; each becomes `value * 1000 / clkTck` in unsigned 64-bit
 * arithmetic (so the product wraps before the integer division, as in C). Which optional members
 * appear depends on how many columns were read: iowait from 5, irq and softirq from 6, steal from
 * 8, guest from 9, guestnice from 10. A `cpuN` line with fewer than 4 columns stops the whole
 * scan, so later CPUs are not reported (qemu-ga breaks out of its loop there).
 *
 * With exactly 6 columns qemu-ga reports softirq from an uninitialised variable; this parser
 * reports 0 for it. No kernel since 2.6.0 prints fewer than 7 columns.
 */
export function parseProcStat(text: string, clkTck: number | bigint): GuestLinuxCpuStats[] {
  const ticksPerSecond = BigInt(clkTck);
  if (ticksPerSecond <= 0n) throw new RangeError('clkTck must be positive');
  const toMs = (ticks: bigint): bigint => BigInt.asUintN(64, ticks * 1000n) / ticksPerSecond;

  const stats: GuestLinuxCpuStats[] = [];
  for (const line of text.split('\n')) {
    const tokens = scanfTokens(line);
    const name = tokens[0];
    if (name === undefined || !name.startsWith('cpu') || name === 'cpu') continue;
    const columns: bigint[] = [];
    for (const token of tokens.slice(1, 11)) {
      const value = scanfInteger(token, '%lu');
      if (value === null) break;
      columns.push(value);
    }
    if (columns.length < 4) break;
    const ms = (i: number): bigint => toMs(columns[i] ?? 0n);
    const entry: GuestLinuxCpuStats = {
      type: 'linux',
      cpu: atoi(name.slice(3)),
      user: ms(0),
      nice: ms(1),
      system: ms(2),
      idle: ms(3),
    };
    if (columns.length > 4) entry.iowait = ms(4);
    if (columns.length > 5) {
      entry.irq = ms(5);
      entry.softirq = ms(6);
    }
    if (columns.length > 7) entry.steal = ms(7);
    if (columns.length > 8) entry.guest = ms(8);
    if (columns.length > 9) entry.guestnice = ms(9);
    stats.push(entry);
  }
  return stats;
}
