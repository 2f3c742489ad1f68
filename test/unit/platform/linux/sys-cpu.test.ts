import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseCpuList } from '../../../../src/platform/linux/sys-cpu';
import { readFixture } from './fixture';

describe('parseCpuList', () => {
  it('reads the captured /sys/devices/system/cpu/online ("0-1", and nproc says 2)', () => {
    assert.deepEqual(parseCpuList(readFixture('sys-cpu-online.txt')), [0, 1]);
  });

  it('expands ranges and singles, sorted and unique', () => {
    assert.deepEqual(parseCpuList('0-3,5\n'), [0, 1, 2, 3, 5]);
    assert.deepEqual(parseCpuList('8,0-2,1'), [0, 1, 2, 8]);
    assert.deepEqual(parseCpuList('7'), [7]);
    assert.deepEqual(parseCpuList('4-4'), [4]);
  });

  it('gives [] for an empty list', () => {
    assert.deepEqual(parseCpuList('\n'), []);
    assert.deepEqual(parseCpuList(''), []);
  });

  it('gives null for anything else', () => {
    for (const bad of ['a', '1-', '-1', '3-1', '1,,2', '1 2', '0-65536', '1.5']) {
      assert.equal(parseCpuList(bad), null, bad);
    }
  });
});
