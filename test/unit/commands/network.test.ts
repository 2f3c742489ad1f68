import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createNetworkHandlers, type NetworkDeps } from '../../../src/commands/network';
import type { CommandContext } from '../../../src/dispatch/command-context';
import type { IfaddrsEntry } from '../../../src/platform/linux/network-interfaces';
import { createInjector } from '../../support/inject';
import { readFixture } from '../platform/linux/fixture';

const ctx = {} as CommandContext;
const enoent = (p: string) => Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });

/**
 * The network namespace captured in test/fixtures/linux/net-namespace: lo; br0 (bridge, up);
 * va/vb (veth, up, va with a label va:a, a /32, a noprefixroute and a secondary address); xifb (ifb,
 * down, 192.168.7.1/24); tun5 (tun, down, no MAC, 10.7.0.1/24); vx (vxlan, down, no address);
 * nc0/nc1 (veth, nc0 up without carrier: 10.20.0.1/24, 10.20.0.2/24, 10.21.0.1/32, 2001:db8:20::1/64).
 */
function namespaceDeps(overrides: Partial<NetworkDeps> = {}): NetworkDeps {
  const dir = 'net-namespace';
  const files: Record<string, string> = {
    '/proc/net/dev': readFixture(`${dir}/proc-net-dev.txt`),
    '/proc/net/route': readFixture(`${dir}/proc-net-route.txt`),
    '/proc/net/ipv6_route': readFixture(`${dir}/proc-net-ipv6_route.txt`),
    '/proc/net/if_inet6': readFixture(`${dir}/proc-net-if_inet6.txt`),
    '/proc/net/fib_trie': readFixture(`${dir}/proc-net-fib_trie.txt`),
    '/sys/class/net/bonding_masters': 'not a device\n',
  };
  const names = ['bonding_masters'];
  for (const line of readFixture(`${dir}/sys-class-net.txt`).trim().split('\n')) {
    const [name, ifindex, address] = line.split(' ');
    names.push(name!);
    files[`/sys/class/net/${name}/ifindex`] = `${ifindex}\n`;
    files[`/sys/class/net/${name}/address`] = `${address ?? ''}\n`;
  }
  return {
    readFile: async (p) => {
      if (files[p] === undefined) throw enoent(p);
      return Buffer.from(files[p]!);
    },
    listDirectory: async (p) => {
      if (p !== '/sys/class/net') throw enoent(p);
      return names;
    },
    networkInterfaces: () => JSON.parse(readFixture(`${dir}/node-network-interfaces.json`)),
    ...overrides,
  };
}

type Reply = { return: Array<{ name: string; 'ip-addresses'?: Array<{ 'ip-address': string; prefix: number }>; statistics?: unknown }> };

describe('guest-network-get-interfaces', () => {
  it("matches qemu-ga 7.2's reply for the same namespace, except where Node cannot see", async () => {
    const inj = createInjector({ handlers: createNetworkHandlers(namespaceDeps()) });
    const ours = (await inj.text('{"execute":"guest-network-get-interfaces"}')).trimEnd();
    const theirs = JSON.parse(readFixture('net-namespace/qemu-ga-7.2-reply.txt')) as Reply;
    // The known blind spots, applied to qemu-ga's answer:
    for (const iface of theirs.return) {
      // IPv4 addresses of interfaces that are administratively down (nothing in /proc names them)
      if (iface.name === 'xifb' || iface.name === 'tun5') {
        delete iface['ip-addresses'];
        delete iface.statistics;
      }
      // a /32 on an interface without carrier has no connected route to attribute it by, and the
      // attributed addresses come in numeric order (the kernel lists secondaries last)
      if (iface.name === 'nc0') {
        iface['ip-addresses'] = iface['ip-addresses']!.filter((a) => a['ip-address'] !== '10.21.0.1');
      }
    }
    // Same counters: the fixture's /proc/net/dev was read moments after qemu-ga's.
    const strip = (r: Reply) => JSON.stringify(r.return.map((i) => ({ ...i, statistics: i.statistics === undefined ? 'none' : 'some' })));
    assert.equal(strip(JSON.parse(ours) as Reply), strip(theirs));
    // and byte-identical wire formatting for an interface both see the same way
    assert.ok(ours.includes('{"name": "vx", "hardware-address": "02:d2:1a:4b:49:0b"}'), ours);
    assert.ok(ours.includes('{"name": "tun5", "hardware-address": "00:00:00:00:00:00"}'), ours);
  });

  it('uses an exact getifaddrs when one is given', async () => {
    const entries: IfaddrsEntry[] = [
      { name: 'lo', family: 'link' },
      { name: 'xifb', family: 'link' },
      { name: 'xifb', family: 'ipv4', address: '192.168.7.1', prefix: 24 },
    ];
    const result = await createNetworkHandlers(namespaceDeps({ getifaddrs: async () => entries }))['guest-network-get-interfaces']({}, ctx);
    assert.deepEqual(
      result.map((i) => [i.name, i['hardware-address'], i['ip-addresses']?.map((a) => a['ip-address']), i.statistics !== undefined]),
      [
        ['lo', '00:00:00:00:00:00', undefined, false],
        ['xifb', '72:75:9f:2a:59:30', ['192.168.7.1'], true],
      ],
    );
  });

  it('still answers when /proc and /sys are unreadable (Node alone)', async () => {
    const deps: NetworkDeps = {
      readFile: async (p) => {
        throw enoent(p);
      },
      listDirectory: async (p) => {
        throw enoent(p);
      },
      networkInterfaces: () => ({ lo: [{ address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4' }] }),
    };
    assert.deepEqual(await createNetworkHandlers(deps)['guest-network-get-interfaces']({}, ctx), [
      { name: 'lo', 'ip-addresses': [{ 'ip-address': '127.0.0.1', 'ip-address-type': 'ipv4', prefix: 8 }] },
    ]);
  });
});

describe('guest-network-get-route', () => {
  it('lists /proc/net/route then /proc/net/ipv6_route, members in wire order', async () => {
    const inj = createInjector({ handlers: createNetworkHandlers(namespaceDeps()) });
    const text = await inj.text('{"execute":"guest-network-get-route"}');
    assert.ok(
      text.startsWith(
        '{"return": [{"flags": 1, "metric": 0, "refcnt": 0, "window": 0, "version": 4, "iface": "va", "destination": "10.1.0.0", "irtt": 0, "gateway": "0.0.0.0", "use": 0, "mtu": 0, "mask": "255.255.255.0"}, ',
      ),
      text,
    );
    assert.ok(
      text.includes(
        '{"flags": 1, "source": "::", "metric": 256, "refcnt": 3, "version": 6, "nexthop": "::", "iface": "va", "destination": "2001:db8::", "desprefixlen": "64", "srcprefixlen": "0", "use": 0}',
      ),
      text,
    );
    const routes = await createNetworkHandlers(namespaceDeps())['guest-network-get-route']({}, ctx);
    assert.deepEqual(Object.keys(routes[0]!), ['iface', 'destination', 'metric', 'gateway', 'mask', 'irtt', 'flags', 'refcnt', 'use', 'window', 'mtu', 'version']);
    const v6 = routes.find((r) => r.version === 6)!;
    assert.deepEqual(Object.keys(v6), ['iface', 'destination', 'metric', 'flags', 'refcnt', 'use', 'desprefixlen', 'source', 'srcprefixlen', 'nexthop', 'version']);
    assert.equal(routes.filter((r) => r.version === 4).length, 5);
  });

  it('answers open("<file>"): <strerror> for the first file it cannot read', async () => {
    const without = (missing: string[]) =>
      namespaceDeps({
        readFile: async (p) => {
          if (missing.includes(p)) throw Object.assign(new Error('x'), { code: p.includes('ipv6') ? 'ENOENT' : 'EACCES' });
          return Buffer.from('');
        },
      });
    await assert.rejects(async () => createNetworkHandlers(without(['/proc/net/ipv6_route']))['guest-network-get-route']({}, ctx), {
      desc: 'open("/proc/net/ipv6_route"): No such file or directory',
    });
    await assert.rejects(async () => createNetworkHandlers(without(['/proc/net/route', '/proc/net/ipv6_route']))['guest-network-get-route']({}, ctx), {
      desc: 'open("/proc/net/route"): Permission denied',
    });
  });
});
