/**
 * guest-network-get-interfaces and guest-network-get-route. How the interface list is put together
 * without netlink is explained in platform/linux/network-interfaces.ts.
 */
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import type { QgaCommandHandlers } from '../generated/qga-commands';
import type { GuestNetworkRoute } from '../generated/qga-types';
import { Errors } from '../protocol/errors';
import {
  assembleIfaddrs,
  deviceOfLabel,
  guestNetworkInterfaces,
  hardwareAddressText,
  parseFibTrieLocalAddresses,
  parseIfInet6,
  type IfaddrsEntry,
  type NodeInterfaceAddress,
  type SysfsLink,
} from '../platform/linux/network-interfaces';
import { parseProcNetDev, type GuestNetworkInterfaceStat } from '../platform/linux/proc-net-dev';
import { parseProcNetIpv6Route, parseProcNetRoute, type GuestNetworkRoute as ParsedRoute } from '../platform/linux/proc-net-route';

export const SYS_CLASS_NET = '/sys/class/net';
export const PROC_NET_DEV = '/proc/net/dev';
export const PROC_NET_ROUTE = '/proc/net/route';
export const PROC_NET_IPV6_ROUTE = '/proc/net/ipv6_route';
export const PROC_NET_IF_INET6 = '/proc/net/if_inet6';
export const PROC_NET_FIB_TRIE = '/proc/net/fib_trie';

export interface NetworkDeps {
  readFile(path: string): Promise<Buffer>;
  /** names in a directory */
  listDirectory(path: string): Promise<string[]>;
  /** os.networkInterfaces(): libuv's getifaddrs, limited to up-and-running interfaces */
  networkInterfaces(): Record<string, readonly NodeInterfaceAddress[] | undefined>;
  /**
   * An exact getifaddrs(3) (e.g. from the native helper) when there is one; it replaces the
   * assembled list and its blind spots.
   */
  getifaddrs?: () => Promise<IfaddrsEntry[]>;
}

export function defaultNetworkDeps(): NetworkDeps {
  return {
    readFile: (path) => fsp.readFile(path),
    listDirectory: (path) => fsp.readdir(path),
    networkInterfaces: () => os.networkInterfaces(),
  };
}

async function readText(deps: NetworkDeps, path: string): Promise<string | null> {
  try {
    return (await deps.readFile(path)).toString('latin1');
  } catch {
    return null;
  }
}

async function sysfsLinks(deps: NetworkDeps): Promise<SysfsLink[]> {
  let names: string[];
  try {
    names = await deps.listDirectory(SYS_CLASS_NET);
  } catch {
    return [];
  }
  const links: SysfsLink[] = [];
  for (const name of names) {
    // Not every entry is a device (bonding_masters is a file): a device has an ifindex.
    const text = await readText(deps, `${SYS_CLASS_NET}/${name}/ifindex`);
    if (text === null || !/^\s*\d+\s*$/.test(text)) continue;
    links.push({ name, ifindex: Number(text.trim()) });
  }
  return links;
}

async function assembledIfaddrs(deps: NetworkDeps): Promise<IfaddrsEntry[]> {
  let nodeInterfaces: Record<string, readonly NodeInterfaceAddress[] | undefined>;
  try {
    nodeInterfaces = deps.networkInterfaces();
  } catch {
    nodeInterfaces = {};
  }
  const [links, ifInet6, fibTrie, route] = await Promise.all([
    sysfsLinks(deps),
    readText(deps, PROC_NET_IF_INET6),
    readText(deps, PROC_NET_FIB_TRIE),
    readText(deps, PROC_NET_ROUTE),
  ]);
  return assembleIfaddrs({
    links,
    nodeInterfaces,
    ifInet6: ifInet6 === null ? [] : parseIfInet6(ifInet6),
    fibLocalAddresses: fibTrie === null ? [] : parseFibTrieLocalAddresses(fibTrie),
    ipv4Routes: route === null ? [] : parseProcNetRoute(route),
  });
}

const OPTIONAL_ROUTE_MEMBERS = [
  'gateway', 'mask', 'irtt', 'flags', 'refcnt', 'use', 'window', 'mtu', 'desprefixlen', 'source', 'srcprefixlen', 'nexthop',
] as const;

/** Schema member order for a route (the parser builds IPv4 and IPv6 entries in other orders). */
function routeInSchemaOrder(r: ParsedRoute): GuestNetworkRoute {
  const out: Record<string, unknown> = { iface: r.iface, destination: r.destination, metric: r.metric };
  for (const key of OPTIONAL_ROUTE_MEMBERS) if (r[key] !== undefined) out[key] = r[key];
  out['version'] = r.version;
  return out as unknown as GuestNetworkRoute;
}

export type NetworkHandlers = Pick<
  QgaCommandHandlers,
  'guest-network-get-interfaces' | 'guest-network-get-route'
>;

export function createNetworkHandlers(deps: NetworkDeps): NetworkHandlers {
  return {
    'guest-network-get-interfaces': async () => {
      const entries = deps.getifaddrs ? await deps.getifaddrs() : await assembledIfaddrs(deps);

      const macs = new Map<string, string | undefined>();
      for (const device of new Set(entries.map((e) => deviceOfLabel(e.name)))) {
        const text = await readText(deps, `${SYS_CLASS_NET}/${device}/address`);
        macs.set(device, text === null ? undefined : hardwareAddressText(text) ?? undefined);
      }
      // qemu-ga reads /proc/net/dev at each interface's first address; one read serves them all.
      const devText = await readText(deps, PROC_NET_DEV);
      const stats: Map<string, GuestNetworkInterfaceStat> = devText === null ? new Map() : parseProcNetDev(devText);

      return guestNetworkInterfaces(
        entries,
        (name) => macs.get(deviceOfLabel(name)),
        (name) => stats.get(name),
      );
    },

    // Both files are read; the first one that cannot be opened makes the error (upstream sets the
    // error, goes on with the other file, and then answers with the error alone).
    'guest-network-get-route': async () => {
      const texts: string[] = [];
      let failure: Error | null = null;
      for (const path of [PROC_NET_ROUTE, PROC_NET_IPV6_ROUTE]) {
        try {
          texts.push((await deps.readFile(path)).toString('latin1'));
        } catch (e) {
          failure ??= Errors.openCallFailed(path, e);
          texts.push('');
        }
      }
      if (failure !== null) throw failure;
      return [...parseProcNetRoute(texts[0] as string), ...parseProcNetIpv6Route(texts[1] as string)].map(routeInSchemaOrder);
    },
  } satisfies NetworkHandlers;
}
