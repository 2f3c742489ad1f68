import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseMeminfo } from '../../../../src/platform/linux/meminfo';
import { readFixture } from './fixture';

describe('parseMeminfo', () => {
  const info = parseMeminfo(readFixture('proc-meminfo.txt'));

  it('converts every kB line of the captured /proc/meminfo to bytes (kB × 1024, by hand)', () => {
    assert.equal(Object.keys(info).length, 53);
    assert.equal(info.MemTotal, 24683620n * 1024n); // "MemTotal:       24683620 kB"
    assert.equal(info.MemFree, 24253152n * 1024n);
    assert.equal(info.Hugepagesize, 2048n * 1024n);
    assert.equal(info.DirectMap2M, 25137152n * 1024n);
    assert.equal(info['Active(anon)'] !== undefined, true);
  });

  it('keeps unit-less counts as they are', () => {
    assert.equal(info.HugePages_Total, 0n);
    assert.equal(parseMeminfo('HugePages_Total:     512\n').HugePages_Total, 512n);
  });

  it('ignores lines that are not `Name: number [kB]`, and has no prototype', () => {
    const parsed = parseMeminfo('Bogus line\nX: abc kB\nY: 1 MB\nconstructor: 1 kB\n');
    assert.deepEqual(Object.keys(parsed), ['constructor']);
    assert.equal(parsed.constructor, 1024n);
    assert.equal(Object.getPrototypeOf(parsed), null);
  });

  it('keeps 64-bit exact values', () => {
    assert.equal(parseMeminfo('VmallocTotal:   34359738367 kB\n').VmallocTotal, 35184372087808n);
  });
});
