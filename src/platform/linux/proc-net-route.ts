import { ipv4ToText, ipv6ToText } from './ip-address-text';
import { scanfInteger, scanfTokens, type ScanfIntegerConversion } from './scanf-integer';

/** GuestNetworkRoute, wire names. Integers that fit an int are numbers; `flags` is uint64. */
export interface GuestNetworkRoute {
  iface: string;
  destination: string;
  metric: number;
  version: 4 | 6;
  gateway?: string;
  mask?: string;
  irtt?: number;
  flags?: bigint;
  refcnt?: number;
  use?: number;
  window?: number;
  mtu?: number;
  desprefixlen?: string;
  source?: string;
  srcprefixlen?: string;
  nexthop?: string;
}

/** Converts tokens with one sscanf conversion each; null when any of them fails. */
function scanColumns(tokens: string[], conversions: ScanfIntegerConversion[]): bigint[] | null {
  const values: bigint[] = [];
  for (let i = 0; i < conversions.length; i++) {
    const token = tokens[i];
    if (token === undefined) return null;
    const value = scanfInteger(token, conversions[i] as ScanfIntegerConversion);
    if (value === null) return null;
    values.push(value);
  }
  return values;
}

/** The kernel prints IPv4 addresses as the in-memory (little-endian) u32: 010200C0 is 192.0.2.1. */
function littleEndianHexToIpv4(value: bigint): string {
  const n = Number(value);
  return ipv4ToText(Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24));
}

/**
 * /proc/net/route → IPv4 routes. The first line is skipped whatever it holds (the header); each
 * other line is `%s %X %X %x %d %d %d %X %d %d %d`: Iface Destination Gateway Flags RefCnt Use
 * Metric Mask MTU Window IRTT. A line where any column fails to convert is skipped.
 */
export function parseProcNetRoute(text: string): GuestNetworkRoute[] {
  const routes: GuestNetworkRoute[] = [];
  const lines = text.split('\n');
  for (const line of lines.slice(1)) {
    const tokens = scanfTokens(line);
    const iface = tokens[0];
    if (iface === undefined) continue;
    const v = scanColumns(tokens.slice(1), ['%x', '%x', '%x', '%d', '%d', '%d', '%x', '%d', '%d', '%d']);
    if (v === null) continue;
    const [destination, gateway, flags, refcnt, use, metric, mask, mtu, window, irtt] = v as [
      bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint, bigint,
    ];
    routes.push({
      iface,
      destination: littleEndianHexToIpv4(destination),
      gateway: littleEndianHexToIpv4(gateway),
      mask: littleEndianHexToIpv4(mask),
      metric: Number(metric),
      flags,
      refcnt: Number(refcnt),
      use: Number(use),
      mtu: Number(mtu),
      window: Number(window),
      irtt: Number(irtt),
      version: 4,
    });
  }
  return routes;
}

/** 32 hex digits → inet_ntop text, or null if the field is not 16 hex bytes. */
function hexToIpv6(hex: string): string | null {
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) return null;
  return ipv6ToText(Uint8Array.from(Buffer.from(hex, 'hex')));
}

/**
 * /proc/net/ipv6_route → IPv6 routes. No header. Each line is
 * `%32s %x %32s %x %32s %x %x %x %x %s`: destination, its prefix length, source, its prefix
 * length, next hop, metric, refcnt, use, flags, device.
 *
 * qemu-ga reads the last four hex columns into C `int`s, so a value with the top bit set comes
 * out negative: the `lo` reject route with metric ffffffff reports metric -1, and flags 80200001
 * (a sign-extended int stored into the uint64 `flags`) reports 18446744071564165121. That is what
 * the real agent answers, so it is kept. The prefix lengths are also hex in the file and are
 * reported as decimal strings ("40" → "64").
 */
export function parseProcNetIpv6Route(text: string): GuestNetworkRoute[] {
  const routes: GuestNetworkRoute[] = [];
  for (const line of text.split('\n')) {
    const tokens = scanfTokens(line);
    if (tokens.length < 10) continue;
    const [destinationHex, desPrefix, sourceHex, srcPrefix, nexthopHex] = tokens as [
      string, string, string, string, string,
    ];
    const iface = tokens[9] as string;
    const prefixes = scanColumns([desPrefix, srcPrefix], ['%x', '%x']);
    const counters = scanColumns(tokens.slice(5, 9), ['%x', '%x', '%x', '%x']);
    if (prefixes === null || counters === null) continue;
    const asInt = (v: bigint): bigint => BigInt.asIntN(32, v);
    const [metric, refcnt, use, flags] = counters.map(asInt) as [bigint, bigint, bigint, bigint];

    const destination = hexToIpv6(destinationHex);
    if (destination === null) continue;
    const route: GuestNetworkRoute = {
      iface,
      destination,
      desprefixlen: asInt(prefixes[0] as bigint).toString(),
      srcprefixlen: asInt(prefixes[1] as bigint).toString(),
      metric: Number(metric),
      flags: BigInt.asUintN(64, flags),
      refcnt: Number(refcnt),
      use: Number(use),
      version: 6,
    };
    const source = hexToIpv6(sourceHex);
    if (source !== null) route.source = source;
    const nexthop = hexToIpv6(nexthopHex);
    if (nexthop !== null) route.nexthop = nexthop;
    routes.push(route);
  }
  return routes;
}
