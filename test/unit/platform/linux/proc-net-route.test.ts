import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseProcNetIpv6Route, parseProcNetRoute } from '../../../../src/platform/linux/proc-net-route';
import { readFixture } from './fixture';

describe('parseProcNetRoute (IPv4)', () => {
  // `ip route` on the capture machine: "default via 192.0.2.1 dev eth0" and
  // "192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2".
  it('reads the captured /proc/net/route', () => {
    assert.deepEqual(parseProcNetRoute(readFixture('proc-net-route.txt')), [
      {
        iface: 'eth0',
        destination: '0.0.0.0',
        gateway: '192.0.2.1',
        mask: '0.0.0.0',
        metric: 0,
        flags: 3n, // RTF_UP | RTF_GATEWAY
        refcnt: 0,
        use: 0,
        mtu: 0,
        window: 0,
        irtt: 0,
        version: 4,
      },
      {
        iface: 'eth0',
        destination: '192.0.2.0',
        gateway: '0.0.0.0',
        mask: '255.255.255.0',
        metric: 0,
        flags: 1n,
        refcnt: 0,
        use: 0,
        mtu: 0,
        window: 0,
        irtt: 0,
        version: 4,
      },
    ]);
  });

  it('maps each column to its field (field order: Iface Dest Gw Flags RefCnt Use Metric Mask MTU Window IRTT)', () => {
    const text = 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n' +
      'wlan0\t0001A8C0\tFE01A8C0\t0007\t2\t3\t600\t00FFFFFF\t1500\t64\t9\n';
    assert.deepEqual(parseProcNetRoute(text), [
      {
        iface: 'wlan0',
        destination: '192.168.1.0',
        gateway: '192.168.1.254',
        mask: '255.255.255.0',
        metric: 600,
        flags: 7n,
        refcnt: 2,
        use: 3,
        mtu: 1500,
        window: 64,
        irtt: 9,
        version: 4,
      },
    ]);
  });

  it('skips the first line whatever it holds, and lines that do not convert', () => {
    const row = 'eth0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0';
    assert.equal(parseProcNetRoute(`${row}\n${row}\n`).length, 1);
    assert.equal(parseProcNetRoute(`header\n${row.replace('0001', 'zz')}\n\n`).length, 0);
    assert.equal(parseProcNetRoute('header\neth0\t00000000\n').length, 0);
    assert.deepEqual(parseProcNetRoute(''), []);
  });
});

describe('parseProcNetIpv6Route', () => {
  // `ip -6 route show table all` on the capture machine lists fd00::/64 and fe80::/64 (metric
  // 256), default via fd00::1 (metric 1024), local ::1, fd00::2, fe80::fc:ff:fe00:1 (metric 0)
  // and multicast ff00::/8 (metric 256); the last line is the kernel's null entry on lo,
  // which `ip` hides.
  it('reads the captured /proc/net/ipv6_route', () => {
    const routes = parseProcNetIpv6Route(readFixture('proc-net-ipv6_route.txt'));
    const summary = routes.map((r) => [r.iface, `${r.destination}/${r.desprefixlen}`, r.nexthop, r.metric]);
    assert.deepEqual(summary, [
      ['eth0', 'fd00::/64', '::', 256],
      ['eth0', 'fe80::/64', '::', 256],
      ['eth0', '::/0', 'fd00::1', 1024],
      ['lo', '::1/128', '::', 0],
      ['eth0', 'fd00::2/128', '::', 0],
      ['eth0', 'fe80::fc:ff:fe00:1/128', '::', 0],
      ['eth0', 'ff00::/8', '::', 256],
      ['lo', '::/0', '::', -1],
    ]);
    assert.deepEqual(routes[2], {
      iface: 'eth0',
      destination: '::',
      desprefixlen: '0',
      source: '::',
      srcprefixlen: '0',
      nexthop: 'fd00::1',
      metric: 1024,
      flags: 3n,
      refcnt: 2,
      use: 0,
      version: 6,
    });
  });

  it('reproduces qemu-ga reading the hex columns into C ints', () => {
    const routes = parseProcNetIpv6Route(readFixture('proc-net-ipv6_route.txt'));
    // 80200001 as an int is -2145386495; stored into the uint64 flags it becomes 2^64 - 2145386495.
    assert.equal(routes[3]?.flags, 18446744071564165121n);
    // ffffffff as an int is -1.
    assert.equal(routes[7]?.metric, -1);
    assert.equal(routes[7]?.flags, 0x00200200n);
  });

  it('writes prefix lengths as decimal strings and maps every column', () => {
    const line =
      '20010db8000000000000000000000000 30 fd000000000000000000000000000000 08 ' +
      'fe800000000000000000000000000001 0000000a 00000005 00000007 00000003 ens3\n';
    assert.deepEqual(parseProcNetIpv6Route(line), [
      {
        iface: 'ens3',
        destination: '2001:db8::',
        desprefixlen: '48',
        source: 'fd00::',
        srcprefixlen: '8',
        nexthop: 'fe80::1',
        metric: 10,
        refcnt: 5,
        use: 7,
        flags: 3n,
        version: 6,
      },
    ]);
  });

  it('skips a line whose destination is not 16 hex bytes, and drops a bad source or next hop', () => {
    const zeros = '00000000000000000000000000000000';
    const tail = '00000000 00000001 00000000 00000001 eth0';
    assert.deepEqual(parseProcNetIpv6Route(`${zeros.slice(2)} 00 ${zeros} 00 ${zeros} ${tail}\n`), []);
    const [route] = parseProcNetIpv6Route(`${zeros} 00 ${'x'.repeat(32)} 00 ${zeros} ${tail}\n`);
    assert.equal(route?.source, undefined);
    assert.equal(route?.nexthop, '::');
    assert.deepEqual(parseProcNetIpv6Route(`${zeros} 00 ${zeros} 00 ${zeros} 00000000 00000001\n`), []);
  });
});
