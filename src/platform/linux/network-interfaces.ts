/**
 * guest-network-get-interfaces without netlink.
 *
 * qemu-ga walks getifaddrs(3): first one AF_PACKET entry per link (every interface, up or down,
 * with or without addresses, in the kernel's link-dump order, i.e. ascending ifindex), then every
 * IPv4 address (named by its label, so `eth0:1` aliases become interfaces of their own), then every
 * IPv6 address. Each entry's name selects (or appends) an interface; the MAC comes from
 * SIOCGIFHWADDR, the prefix is the popcount of the netmask, and the /proc/net/dev counters are
 * attached when the interface gets its first address.
 *
 * Node has no netlink and no SIOCGIFHWADDR, so the same entry list is assembled here from what Linux
 * exposes as files plus libuv's getifaddrs wrapper:
 * - links: /sys/class/net/<name>/ifindex, sorted (the kernel's dump order);
 * - MAC: /sys/class/net/<name>/address (see hardwareAddressText);
 * - addresses of interfaces that are up and running: os.networkInterfaces(), which is getifaddrs
 *   filtered to IFF_UP|IFF_RUNNING, in getifaddrs order, labels included — exact;
 * - IPv6 addresses of the other interfaces: /proc/net/if_inet6 (address, prefix, scope), exact
 *   except for the order among addresses of one scope, which the file does not keep (the kernel
 *   lists global before site before link-local, newest first within a scope);
 * - IPv4 addresses of the other interfaces: nothing in /proc or /sys names them. /proc/net/fib_trie
 *   lists every local address (LOCAL /32 entries, also those of down interfaces) without its
 *   interface; an address is attributed when exactly one non-running interface has a connected
 *   route (/proc/net/route: no gateway, non-zero mask) whose subnet holds it, with that route's
 *   mask as the prefix. That covers an up interface without carrier (an unplugged NIC, an empty
 *   docker0 bridge on older kernels). Addresses on interfaces that are administratively down have
 *   no such route and are not reported, nor are labels of non-running interfaces — closing that gap
 *   needs getifaddrs from the native helper, which can feed guestNetworkInterfaces() unchanged.
 */
import { ipv6ToText } from './ip-address-text';
import type { GuestNetworkInterfaceStat } from './proc-net-dev';
import type { GuestNetworkRoute } from './proc-net-route';

/** One getifaddrs(3) entry, reduced to what qemu-ga uses. */
export interface IfaddrsEntry {
  /** the interface name, or the address label for IPv4 */
  name: string;
  family: 'link' | 'ipv4' | 'ipv6';
  /** inet_ntop text; absent for links */
  address?: string;
  /** popcount of the netmask; absent when getifaddrs gave no netmask */
  prefix?: number;
}

export interface GuestIpAddress {
  'ip-address': string;
  'ip-address-type': 'ipv4' | 'ipv6';
  prefix: number;
}

/** GuestNetworkInterface, members in schema order. */
export interface GuestNetworkInterface {
  name: string;
  'hardware-address'?: string;
  'ip-addresses'?: GuestIpAddress[];
  statistics?: GuestNetworkInterfaceStat;
}

/**
 * qemu-ga's loop over the getifaddrs entries. `hardwareAddress` answers SIOCGIFHWADDR for a name
 * (undefined when the ioctl fails) and is asked again for every entry of an interface until it
 * answers; `statistics` is asked once, at the interface's first address.
 */
export function guestNetworkInterfaces(
  entries: readonly IfaddrsEntry[],
  hardwareAddress: (name: string) => string | undefined,
  statistics: (name: string) => GuestNetworkInterfaceStat | undefined,
): GuestNetworkInterface[] {
  interface Building {
    name: string;
    hardwareAddress?: string;
    addresses?: GuestIpAddress[];
    statistics?: GuestNetworkInterfaceStat;
  }
  const interfaces: Building[] = [];
  const byName = new Map<string, Building>();
  for (const entry of entries) {
    let info = byName.get(entry.name);
    if (info === undefined) {
      info = { name: entry.name };
      byName.set(entry.name, info);
      interfaces.push(info);
    }
    if (info.hardwareAddress === undefined) info.hardwareAddress = hardwareAddress(entry.name);
    if (entry.family === 'link' || entry.address === undefined) continue;
    (info.addresses ??= []).push({
      'ip-address': entry.address,
      'ip-address-type': entry.family,
      prefix: entry.prefix ?? 0,
    });
    if (info.statistics === undefined) info.statistics = statistics(entry.name);
  }
  return interfaces.map((info) => {
    const out: GuestNetworkInterface = { name: info.name };
    if (info.hardwareAddress !== undefined) out['hardware-address'] = info.hardwareAddress;
    if (info.addresses !== undefined) out['ip-addresses'] = info.addresses;
    if (info.statistics !== undefined) out.statistics = info.statistics;
    return out;
  });
}

/** The interface SIOCGIFHWADDR asks about: the kernel cuts an alias label at its first colon. */
export function deviceOfLabel(name: string): string {
  const colon = name.indexOf(':');
  return colon >= 0 ? name.slice(0, colon) : name;
}

/**
 * /sys/class/net/<dev>/address → qemu-ga's MAC text. The file holds the device's addr_len bytes
 * as colon-separated hex (empty for a tun device); SIOCGIFHWADDR hands over the same bytes
 * zero-padded, and qemu-ga prints the first six, so a tun device reads 00:00:00:00:00:00 and an
 * InfiniBand port the first six of its twenty. Null when the file is not in that format.
 */
export function hardwareAddressText(addressFile: string): string | null {
  const text = addressFile.trim();
  const bytes = text === '' ? [] : text.split(':');
  if (!bytes.every((b) => /^[0-9a-fA-F]{1,2}$/.test(b))) return null;
  const six = bytes.slice(0, 6).map((b) => b.toLowerCase().padStart(2, '0'));
  while (six.length < 6) six.push('00');
  return six.join(':');
}

/** popcount of a netmask given as text (IPv4 dotted quad or IPv6), as qemu-ga computes prefixes. */
export function netmaskPrefix(netmask: string): number | null {
  const bytes = netmask.includes(':') ? parseIpv6(netmask) : parseIpv4(netmask);
  if (bytes === null) return null;
  let bits = 0;
  for (const b of bytes) for (let v = b; v !== 0; v >>= 1) bits += v & 1;
  return bits;
}

export function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^[0-9]{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return Uint8Array.from(parts.map(Number));
}

/** RFC 4291 text (with `::` and an optional trailing dotted quad) → 16 bytes. */
export function parseIpv6(text: string): Uint8Array | null {
  const percent = text.indexOf('%');
  const body = percent >= 0 ? text.slice(0, percent) : text;
  const halves = body.split('::');
  if (halves.length > 2) return null;
  const groupsOf = (part: string): number[] | null => {
    if (part === '') return [];
    const pieces = part.split(':');
    const groups: number[] = [];
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i] as string;
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (v4 === null) return null;
        groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(piece)) {
        groups.push(parseInt(piece, 16));
      } else {
        return null;
      }
    }
    return groups;
  };
  const head = groupsOf(halves[0] as string);
  const tail = halves.length === 2 ? groupsOf(halves[1] as string) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** One line of /proc/net/if_inet6. */
export interface IfInet6Address {
  address: string;
  ifindex: number;
  prefix: number;
  /** IPV6_ADDR_* scope bits: 0x00 global, 0x10 host, 0x20 link, 0x40 site */
  scope: number;
  flags: number;
  device: string;
}

/** `<32 hex> <ifindex> <prefix> <scope> <flags> <device>`, all numbers in hex. */
export function parseIfInet6(text: string): IfInet6Address[] {
  const addresses: IfInet6Address[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*([0-9a-fA-F]{32})\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+([0-9a-fA-F]+)\s+(\S+)\s*$/.exec(line);
    if (m === null) continue;
    addresses.push({
      address: ipv6ToText(Uint8Array.from(Buffer.from(m[1] as string, 'hex'))),
      ifindex: parseInt(m[2] as string, 16),
      prefix: parseInt(m[3] as string, 16),
      scope: parseInt(m[4] as string, 16),
      flags: parseInt(m[5] as string, 16),
      device: m[6] as string,
    });
  }
  return addresses;
}

/** The kernel keeps each device's IPv6 list ordered by scope, widest first. */
function scopeRank(scope: number): number {
  switch (scope & 0xf0) {
    case 0x00:
      return 0; // global
    case 0x40:
      return 1; // site
    case 0x20:
      return 2; // link
    default:
      return 3; // host / loopback
  }
}

/** Every address /proc/net/fib_trie lists as a `/32 host LOCAL` leaf (each table, deduplicated). */
export function parseFibTrieLocalAddresses(text: string): string[] {
  const found = new Set<string>();
  let leaf: string | null = null;
  for (const line of text.split('\n')) {
    const leafMatch = /^\s*\|--\s+([0-9.]+)\s*$/.exec(line);
    if (leafMatch !== null) {
      leaf = leafMatch[1] as string;
      continue;
    }
    if (/^\s*\+--/.test(line) || /^\S/.test(line)) {
      leaf = null;
      continue;
    }
    const alias = /^\s*\/(\d+)\s+\S+\s+(\S+)/.exec(line);
    if (alias !== null && leaf !== null && alias[1] === '32' && alias[2] === 'LOCAL') found.add(leaf);
  }
  return [...found];
}

/** A link as /sys/class/net describes it. */
export interface SysfsLink {
  name: string;
  ifindex: number;
}

/** One os.networkInterfaces() address (the members used here). */
export interface NodeInterfaceAddress {
  address: string;
  netmask: string;
  family: string | number;
}

export interface IfaddrsSources {
  links: readonly SysfsLink[];
  /** os.networkInterfaces(): getifaddrs filtered to up-and-running interfaces */
  nodeInterfaces: Readonly<Record<string, readonly NodeInterfaceAddress[] | undefined>>;
  ifInet6: readonly IfInet6Address[];
  fibLocalAddresses: readonly string[];
  ipv4Routes: readonly GuestNetworkRoute[];
}

const RTF_UP = 0x1n;
const RTF_GATEWAY = 0x2n;

const ipv4Number = (bytes: Uint8Array): number => ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0;

function familyOf(a: NodeInterfaceAddress): 'ipv4' | 'ipv6' | null {
  if (a.family === 'IPv4' || a.family === 4) return 'ipv4';
  if (a.family === 'IPv6' || a.family === 6) return 'ipv6';
  return null;
}

/** Node's text → glibc inet_ntop text (libuv's differs for `::a.b.c.d`-like addresses). */
function normaliseAddress(family: 'ipv4' | 'ipv6', address: string): string | null {
  if (family === 'ipv4') return parseIpv4(address) === null ? null : address;
  const bytes = parseIpv6(address);
  return bytes === null ? null : ipv6ToText(bytes);
}

/** IPv4 addresses of non-running interfaces, attributed through their connected routes. */
function attributeIpv4(sources: IfaddrsSources, covered: ReadonlySet<string>, nodeIpv4: ReadonlySet<string>): IfaddrsEntry[] {
  const linkNames = new Set(sources.links.map((l) => l.name));
  const routes = sources.ipv4Routes.flatMap((r) => {
    const flags = r.flags ?? 0n;
    if ((flags & RTF_UP) === 0n || (flags & RTF_GATEWAY) !== 0n) return [];
    if (r.gateway !== '0.0.0.0' || r.mask === undefined || r.mask === '0.0.0.0') return [];
    if (covered.has(r.iface) || !linkNames.has(r.iface)) return [];
    const destination = parseIpv4(r.destination);
    const mask = parseIpv4(r.mask);
    if (destination === null || mask === null) return [];
    return [{ iface: r.iface, network: ipv4Number(destination), mask: ipv4Number(mask), prefix: netmaskPrefix(r.mask)! }];
  });
  const found: Array<IfaddrsEntry & { sortKey: number }> = [];
  for (const address of sources.fibLocalAddresses) {
    if (nodeIpv4.has(address)) continue;
    const bytes = parseIpv4(address);
    if (bytes === null) continue;
    const n = ipv4Number(bytes);
    const matches = routes.filter((r) => ((n & r.mask) >>> 0) === r.network);
    if (matches.length === 0) continue;
    const longest = Math.max(...matches.map((m) => m.prefix));
    const best = new Set(matches.filter((m) => m.prefix === longest).map((m) => m.iface));
    if (best.size !== 1) continue;
    found.push({ name: [...best][0] as string, family: 'ipv4', address, prefix: longest, sortKey: n });
  }
  found.sort((a, b) => a.sortKey - b.sortKey);
  return found.map(({ sortKey: _sortKey, ...entry }) => entry);
}

/** The getifaddrs entry list, assembled from the sources described in the module comment. */
export function assembleIfaddrs(sources: IfaddrsSources): IfaddrsEntry[] {
  const entries: IfaddrsEntry[] = [...sources.links]
    .sort((a, b) => a.ifindex - b.ifindex)
    .map((l) => ({ name: l.name, family: 'link' as const }));

  const nodeEntries: Record<'ipv4' | 'ipv6', IfaddrsEntry[]> = { ipv4: [], ipv6: [] };
  const covered = new Set<string>();
  const nodeIpv4 = new Set<string>();
  for (const [name, addresses] of Object.entries(sources.nodeInterfaces)) {
    for (const a of addresses ?? []) {
      const family = familyOf(a);
      if (family === null) continue;
      const address = normaliseAddress(family, a.address);
      if (address === null) continue;
      covered.add(deviceOfLabel(name));
      if (family === 'ipv4') nodeIpv4.add(address);
      const prefix = netmaskPrefix(a.netmask);
      nodeEntries[family].push(prefix === null ? { name, family, address } : { name, family, address, prefix });
    }
  }

  const ipv6Rest = sources.ifInet6
    .filter((a) => !covered.has(a.device))
    .map((a, index) => ({ a, index }))
    .sort((x, y) => x.a.ifindex - y.a.ifindex || scopeRank(x.a.scope) - scopeRank(y.a.scope) || x.index - y.index)
    .map(({ a }): IfaddrsEntry => ({ name: a.device, family: 'ipv6', address: a.address, prefix: a.prefix }));

  entries.push(...nodeEntries.ipv4, ...attributeIpv4(sources, covered, nodeIpv4));
  entries.push(...nodeEntries.ipv6, ...ipv6Rest);
  return entries;
}
