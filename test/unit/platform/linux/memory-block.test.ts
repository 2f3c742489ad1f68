import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseMemoryBlockSize } from '../../../../src/platform/linux/memory-block';
import { readFixture } from './fixture';

describe('parseMemoryBlockSize', () => {
  it('reads the captured block_size_bytes: 8000000 hex = 134217728 (qemu-ga 7.2 answered the same, reference §6.2)', () => {
    assert.equal(parseMemoryBlockSize(readFixture('block_size_bytes.txt')), 134217728n);
  });

  it('follows strtol(buf, NULL, 16)', () => {
    assert.equal(parseMemoryBlockSize('80000000\n'), 2147483648n);
    assert.equal(parseMemoryBlockSize('  0x10'), 16n);
    assert.equal(parseMemoryBlockSize('0xg'), 0n);
    assert.equal(parseMemoryBlockSize('1000zz'), 4096n);
    assert.equal(parseMemoryBlockSize(''), 0n);
    assert.equal(parseMemoryBlockSize('garbage'), 0n);
    assert.equal(parseMemoryBlockSize('-1'), 18446744073709551615n);
    assert.equal(parseMemoryBlockSize('ffffffffffffffffff'), 9223372036854775807n);
  });

  it('looks at the first 20 bytes only, like qemu-ga\'s buffer', () => {
    assert.equal(parseMemoryBlockSize(`${' '.repeat(19)}1`), 1n);
    assert.equal(parseMemoryBlockSize(`${' '.repeat(20)}1`), 0n);
  });
});
