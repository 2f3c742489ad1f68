import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ipv4ToText, ipv6ToText } from '../../../../src/platform/linux/ip-address-text';

const v6 = (hex: string): string => ipv6ToText(Uint8Array.from(Buffer.from(hex, 'hex')));

// Every expected string below is glibc's own inet_ntop output, obtained on this machine with
// python3 -c 'import socket; print(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(HEX)))'
// (CPython calls the C library's inet_ntop).
const GLIBC_CASES: Array<[string, string]> = [
  ['00000000000000000000000000000000', '::'],
  ['00000000000000000000000000000001', '::1'],
  ['00000000000000000000000000000002', '::2'],
  ['00000000000000000000000000000100', '::100'],
  ['0000000000000000000000000000ffff', '::ffff'],
  ['0000000000000000000000000000fffe', '::fffe'],
  ['000000000000000000000000c0000201', '::192.0.2.1'],
  ['00000000000000000000000000010000', '::0.1.0.0'],
  ['0000000000000000000000000a000001', '::10.0.0.1'],
  ['000000000000000000000000ffffffff', '::255.255.255.255'],
  ['00000000000000000000ffffc0000201', '::ffff:192.0.2.1'],
  ['00000000000000000000ffff00000000', '::ffff:0.0.0.0'],
  ['00000000000000000000ffff01020304', '::ffff:1.2.3.4'],
  ['00000000000000000000fffec0000201', '::fffe:c000:201'],
  ['0000000000000000ffff0000c0000201', '::ffff:0:c000:201'],
  ['0000000000000000000000010000ffff', '::1:0:ffff'],
  ['00000000000000000000000100000001', '::1:0:1'],
  ['0000000000000001000000000000000f', '::1:0:0:0:f'],
  ['fe800000000000000000000000000000', 'fe80::'],
  ['fe8000000000000000fc00fffe000001', 'fe80::fc:ff:fe00:1'],
  ['fd000000000000000000000000000001', 'fd00::1'],
  ['ff000000000000000000000000000000', 'ff00::'],
  ['00010000000000000000000000000000', '1::'],
  ['0001000000000000000000000000000a', '1::a'],
  ['20010db8000000000000000000000000', '2001:db8::'],
  ['20010db8000100000000000000000000', '2001:db8:1::'],
  ['20010db8000000010000000000000001', '2001:db8:0:1::1'],
  ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
  ['20010db8000000000000000100000000', '2001:db8::1:0:0'],
  ['20010db8000100010001000100010001', '2001:db8:1:1:1:1:1:1'],
  ['20010db8aaaabbbbccccddddeeeeffff', '2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff'],
];

describe('ipv6ToText', () => {
  for (const [hex, text] of GLIBC_CASES) {
    it(`${hex} → ${text}`, () => assert.equal(v6(hex), text));
  }

  it('rejects a wrong length', () => {
    assert.throws(() => ipv6ToText(new Uint8Array(4)), RangeError);
  });
});

describe('ipv4ToText', () => {
  it('writes a dotted quad', () => {
    assert.equal(ipv4ToText(Uint8Array.of(192, 0, 2, 1)), '192.0.2.1');
    assert.equal(ipv4ToText(Uint8Array.of(255, 255, 255, 0)), '255.255.255.0');
  });
  it('rejects a wrong length', () => {
    assert.throws(() => ipv4ToText(new Uint8Array(16)), RangeError);
  });
});
