import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  assembleIfaddrs,
  deviceOfLabel,
  guestNetworkInterfaces,
  hardwareAddressText,
  netmaskPrefix,
  parseFibTrieLocalAddresses,
  parseIfInet6,
  parseIpv6,
  type IfaddrsEntry,
} from '../../../../src/platform/linux/network-interfaces';
import type { GuestNetworkInterfaceStat } from '../../../../src/platform/linux/proc-net-dev';
import { parseProcNetRoute } from '../../../../src/platform/linux/proc-net-route';
import { readFixture } from './fixture';

const stat = (n: number): GuestNetworkInterfaceStat => ({
  'rx-bytes': BigInt(n),
  'rx-packets': 1n,
  'rx-errs': 0n,
  'rx-dropped': 0n,
  'tx-bytes': 2n,
  'tx-packets': 3n,
  'tx-errs': 0n,
  'tx-dropped': 0n,
});

describe('guestNetworkInterfaces (qemu-ga over getifaddrs entries)', () => {
  it('groups by name in first-seen order, labels becoming interfaces of their own', () => {
    const entries: IfaddrsEntry[] = [
      { name: 'lo', family: 'link' },
      { name: 'eth0', family: 'link' },
      { name: 'ifb0', family: 'link' },
      { name: 'lo', family: 'ipv4', address: '127.0.0.1', prefix: 8 },
      { name: 'eth0', family: 'ipv4', address: '192.0.2.2', prefix: 24 },
      { name: 'eth0:1', family: 'ipv4', address: '198.51.100.1', prefix: 24 },
      { name: 'eth0', family: 'ipv6', address: 'fe80::1', prefix: 64 },
      { name: 'noprefix', family: 'ipv4', address: '10.0.0.1' },
    ];
    const macs: Record<string, string> = { lo: '00:00:00:00:00:00', eth0: '02:fc:00:00:00:01', ifb0: '52:89:fd:1f:6d:84' };
    const asked: string[] = [];
    const statsAsked: string[] = [];
    const result = guestNetworkInterfaces(
      entries,
      (name) => {
        asked.push(name);
        return macs[deviceOfLabel(name)];
      },
      (name) => {
        statsAsked.push(name);
        return name === 'eth0:1' ? undefined : stat(name.length);
      },
    );
    assert.deepEqual(result, [
      { name: 'lo', 'hardware-address': '00:00:00:00:00:00', 'ip-addresses': [{ 'ip-address': '127.0.0.1', 'ip-address-type': 'ipv4', prefix: 8 }], statistics: stat(2) },
      {
        name: 'eth0',
        'hardware-address': '02:fc:00:00:00:01',
        'ip-addresses': [
          { 'ip-address': '192.0.2.2', 'ip-address-type': 'ipv4', prefix: 24 },
          { 'ip-address': 'fe80::1', 'ip-address-type': 'ipv6', prefix: 64 },
        ],
        statistics: stat(4),
      },
      { name: 'ifb0', 'hardware-address': '52:89:fd:1f:6d:84' },
      { name: 'eth0:1', 'hardware-address': '02:fc:00:00:00:01', 'ip-addresses': [{ 'ip-address': '198.51.100.1', 'ip-address-type': 'ipv4', prefix: 24 }] },
      // no netmask from getifaddrs: qemu-ga leaves the zeroed prefix; no MAC: the member is left out
      { name: 'noprefix', 'ip-addresses': [{ 'ip-address': '10.0.0.1', 'ip-address-type': 'ipv4', prefix: 0 }], statistics: stat(8) },
    ]);
    // the MAC is asked once an interface has one; again for every entry while it has none
    assert.deepEqual(asked, ['lo', 'eth0', 'ifb0', 'eth0:1', 'noprefix']);
    // statistics at the first address only, and again while /proc/net/dev did not have the name
    assert.deepEqual(statsAsked, ['lo', 'eth0', 'eth0:1', 'noprefix']);
  });

  it('gives nothing for no entries', () => {
    assert.deepEqual(guestNetworkInterfaces([], () => undefined, () => undefined), []);
  });
});

describe('hardwareAddressText', () => {
  it('prints the first six bytes, zero-padded, like SIOCGIFHWADDR + %02x', () => {
    assert.equal(hardwareAddressText('02:FC:00:00:00:01\n'), '02:fc:00:00:00:01');
    assert.equal(hardwareAddressText('\n'), '00:00:00:00:00:00', 'tun: addr_len 0');
    assert.equal(hardwareAddressText('0a:00:00:01\n'), '0a:00:00:01:00:00', 'ipip: 4-byte address');
    assert.equal(
      hardwareAddressText('80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0b:9f:71\n'),
      '80:00:02:08:fe:80',
      'InfiniBand: 20 bytes',
    );
    assert.equal(hardwareAddressText('garbage'), null);
  });

  it('maps a label to its device as the kernel does for the ioctl', () => {
    assert.equal(deviceOfLabel('eth0:1'), 'eth0');
    assert.equal(deviceOfLabel('eth0:a:b'), 'eth0');
    assert.equal(deviceOfLabel('eth0'), 'eth0');
  });
});

describe('address text helpers', () => {
  it('parses IPv6 text, including :: and an embedded dotted quad', () => {
    assert.deepEqual([...parseIpv6('::1')!], [...new Array(15).fill(0), 1]);
    assert.deepEqual([...parseIpv6('fe80::1%eth0')!].slice(0, 2), [0xfe, 0x80]);
    assert.deepEqual([...parseIpv6('::ffff:192.0.2.1')!].slice(10), [0xff, 0xff, 192, 0, 2, 1]);
    assert.deepEqual([...parseIpv6('1:2:3:4:5:6:7:8')!].slice(14), [0, 8]);
    for (const bad of ['1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', ':::', '1:2:3:4:5:6:7', 'g::']) assert.equal(parseIpv6(bad), null, bad);
  });

  it('counts netmask bits', () => {
    assert.equal(netmaskPrefix('255.255.255.0'), 24);
    assert.equal(netmaskPrefix('255.255.255.255'), 32);
    assert.equal(netmaskPrefix('0.0.0.0'), 0);
    assert.equal(netmaskPrefix('ffff:ffff:ffff:ffff::'), 64);
    assert.equal(netmaskPrefix('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), 128);
    assert.equal(netmaskPrefix('nonsense'), null);
  });
});

describe('procfs readers', () => {
  it('reads /proc/net/if_inet6 into glibc address text', () => {
    const rows = parseIfInet6(readFixture('net-namespace/proc-net-if_inet6.txt'));
    assert.equal(rows.length, 9);
    assert.deepEqual(rows[0], { address: '2001:db8::5', ifindex: 4, prefix: 64, scope: 0, flags: 0x82, device: 'va' });
    assert.deepEqual(rows[2], { address: '::1', ifindex: 1, prefix: 128, scope: 0x10, flags: 0x80, device: 'lo' });
    assert.deepEqual(rows[3]?.prefix, 48);
  });

  it('lists the LOCAL /32 leaves of /proc/net/fib_trie, down interfaces included', () => {
    assert.deepEqual(parseFibTrieLocalAddresses(readFixture('net-namespace/proc-net-fib_trie.txt')).sort(), [
      '10.1.0.5',
      '10.1.0.6',
      '10.2.0.1',
      '10.20.0.1',
      '10.20.0.2',
      '10.21.0.1',
      '10.3.0.1',
      '10.4.0.1',
      '10.5.5.5',
      '10.7.0.1',
      '127.0.0.1',
      '172.17.0.1',
      '192.168.7.1',
    ]);
  });
});

describe('assembleIfaddrs', () => {
  const links = readFixture('net-namespace/sys-class-net.txt')
    .trim()
    .split('\n')
    .map((line) => {
      const [name, ifindex] = line.split(' ');
      return { name: name!, ifindex: Number(ifindex) };
    });
  const sources = {
    links,
    nodeInterfaces: JSON.parse(readFixture('net-namespace/node-network-interfaces.json')),
    ifInet6: parseIfInet6(readFixture('net-namespace/proc-net-if_inet6.txt')),
    fibLocalAddresses: parseFibTrieLocalAddresses(readFixture('net-namespace/proc-net-fib_trie.txt')),
    ipv4Routes: parseProcNetRoute(readFixture('net-namespace/proc-net-route.txt')),
  };

  it('lists links by ifindex, then IPv4, then IPv6, each interface from one source', () => {
    const entries = assembleIfaddrs(sources);
    assert.deepEqual(
      entries.filter((e) => e.family === 'link').map((e) => e.name),
      ['lo', 'br0', 'vb', 'va', 'xifb', 'tun5', 'vx', 'nc1', 'nc0'],
    );
    const firstIpv6 = entries.findIndex((e) => e.family === 'ipv6');
    assert.ok(entries.slice(firstIpv6).every((e) => e.family === 'ipv6'));
    const of = (name: string) => entries.filter((e) => e.name === name && e.family !== 'link').map((e) => `${e.address}/${e.prefix}`);
    // running: exactly what getifaddrs said, in its order
    assert.deepEqual(of('va'), ['10.1.0.5/24', '10.3.0.1/32', '10.4.0.1/24', '10.1.0.6/24', '2001:db8:1::5/48', '2001:db8::5/64', 'fe80::10d8:7ff:feee:c123/64']);
    assert.deepEqual(of('va:a'), ['10.2.0.1/16']);
    // up without carrier: attributed through its connected route; /32 without a route is missed
    assert.deepEqual(of('nc0'), ['10.20.0.1/24', '10.20.0.2/24', '2001:db8:20::1/64']);
    // administratively down: no route, so no IPv4 (the documented blind spot)
    assert.deepEqual(of('xifb'), []);
    assert.deepEqual(of('tun5'), []);
  });

  it('orders if_inet6 addresses of one interface by scope, widest first', () => {
    const entries = assembleIfaddrs({
      links: [{ name: 'd0', ifindex: 5 }],
      nodeInterfaces: {},
      ifInet6: parseIfInet6(
        [
          'fe800000000000000000000000000001 05 40 20 80       d0',
          'fec00000000000000000000000000001 05 40 40 80       d0',
          '20010db8000000000000000000000001 05 40 00 80       d0',
        ].join('\n'),
      ),
      fibLocalAddresses: [],
      ipv4Routes: [],
    });
    assert.deepEqual(entries.filter((e) => e.family === 'ipv6').map((e) => e.address), ['2001:db8::1', 'fec0::1', 'fe80::1']);
  });

  it('does not attribute an address two interfaces could own, nor through gateway or default routes', () => {
    const routes = parseProcNetRoute(
      [
        'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
        'a0\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0',
        'b0\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0',
        'c0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0',
        'd0\t0000A8C0\t0100A8C0\t0003\t0\t0\t0\t0000FFFF\t0\t0\t0',
      ].join('\n'),
    );
    const entries = assembleIfaddrs({
      links: ['a0', 'b0', 'c0', 'd0'].map((name, i) => ({ name, ifindex: i + 2 })),
      nodeInterfaces: {},
      ifInet6: [],
      fibLocalAddresses: ['10.1.1.1', '172.16.0.1', '192.168.5.5'],
      ipv4Routes: routes,
    });
    assert.deepEqual(entries.filter((e) => e.family !== 'link'), []);
  });

  it("rewrites Node's IPv6 text the way glibc's inet_ntop writes it", () => {
    const entries = assembleIfaddrs({
      links: [{ name: 'x', ifindex: 2 }],
      nodeInterfaces: { x: [{ address: '::0.0.0.2', netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', family: 'IPv6' }] },
      ifInet6: [],
      fibLocalAddresses: [],
      ipv4Routes: [],
    });
    assert.deepEqual(entries[1], { name: 'x', family: 'ipv6', address: '::2', prefix: 128 });
  });
});
