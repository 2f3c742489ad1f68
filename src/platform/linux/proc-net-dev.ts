import { scanfInteger, scanfTokens } from './scanf-integer';

/** GuestNetworkInterfaceStat, wire names. */
export interface GuestNetworkInterfaceStat {
  'rx-bytes': bigint;
  'rx-packets': bigint;
  'rx-errs': bigint;
  'rx-dropped': bigint;
  'tx-bytes': bigint;
  'tx-packets': bigint;
  'tx-errs': bigint;
  'tx-dropped': bigint;
}

/**
 * /proc/net/dev → interface name → the eight counters qemu-ga reports.
 *
 * qemu-ga's rules: a line is left-trimmed, the name is everything before the first `:` (so
 * `eth0:123` with no space works), and the line counts only if exactly sixteen `%lld` numbers
 * follow; the receive columns are 1–4 and the transmit columns 9–12. The first line for a name
 * wins. `%lld` clamps at 2^63-1, which the wire then carries as that uint64.
 */
export function parseProcNetDev(text: string): Map<string, GuestNetworkInterfaceStat> {
  const stats = new Map<string, GuestNetworkInterfaceStat>();
  for (const rawLine of text.split('\n')) {
    // g_strchug: GLib's ASCII whitespace has no \v.
    const line = rawLine.replace(/^[ \t\n\f\r]+/, '');
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon);
    if (stats.has(name)) continue;
    const tokens = scanfTokens(line.slice(colon + 1));
    if (tokens.length < 16) continue;
    const columns: bigint[] = [];
    for (const token of tokens.slice(0, 16)) {
      const value = scanfInteger(token, '%lld');
      if (value === null) break;
      columns.push(BigInt.asUintN(64, value));
    }
    if (columns.length !== 16) continue;
    const c = (i: number): bigint => columns[i] as bigint;
    stats.set(name, {
      'rx-bytes': c(0),
      'rx-packets': c(1),
      'rx-errs': c(2),
      'rx-dropped': c(3),
      'tx-bytes': c(8),
      'tx-packets': c(9),
      'tx-errs': c(10),
      'tx-dropped': c(11),
    });
  }
  return stats;
}
