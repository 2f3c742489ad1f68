import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { scanfInteger, scanfTokens } from '../../../../src/platform/linux/scanf-integer';

// Expected values are what glibc stores, worked out from C's conversion rules
// (strtoul/strtol on a 64-bit long, then a cast to the destination type).
describe('scanfInteger', () => {
  it('reads plain decimal and hex tokens', () => {
    assert.equal(scanfInteger('0', '%d'), 0n);
    assert.equal(scanfInteger('1024', '%u'), 1024n);
    assert.equal(scanfInteger('00000400', '%x'), 1024n);
    assert.equal(scanfInteger('C0000201', '%x'), 0xc0000201n);
    assert.equal(scanfInteger('0x1f', '%x'), 31n);
    assert.equal(scanfInteger('18446744073709551615', '%lu'), 18446744073709551615n);
  });

  it('narrows like the C cast into int / unsigned int', () => {
    assert.equal(scanfInteger('4294967295', '%d'), -1n); // strtol fits, (int) wraps
    assert.equal(scanfInteger('4294967296', '%u'), 0n);
    assert.equal(scanfInteger('-1', '%u'), 4294967295n);
    assert.equal(scanfInteger('-1', '%lu'), 18446744073709551615n);
    assert.equal(scanfInteger('ffffffff', '%x'), 4294967295n); // the caller reinterprets for an int
  });

  it('saturates out-of-range values like strtol/strtoul', () => {
    assert.equal(scanfInteger('99999999999999999999', '%lld'), 9223372036854775807n);
    assert.equal(scanfInteger('-99999999999999999999', '%lld'), -9223372036854775808n);
    assert.equal(scanfInteger('99999999999999999999', '%lu'), 18446744073709551615n);
    assert.equal(scanfInteger('-99999999999999999999', '%lu'), 18446744073709551615n);
  });

  it('fails on tokens that are not numbers', () => {
    assert.equal(scanfInteger('', '%d'), null);
    assert.equal(scanfInteger('abc', '%u'), null);
    assert.equal(scanfInteger('12g', '%x'), null);
    assert.equal(scanfInteger('0x', '%x'), null);
    assert.equal(scanfInteger('1.5', '%lu'), null);
  });
});

describe('scanfTokens', () => {
  it('splits on any run of C whitespace', () => {
    assert.deepEqual(scanfTokens('  a\tb \v c\r\n'), ['a', 'b', 'c']);
    assert.deepEqual(scanfTokens(''), []);
  });
});
