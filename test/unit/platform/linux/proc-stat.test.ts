import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseProcStat } from '../../../../src/platform/linux/proc-stat';
import { readFixture } from './fixture';

describe('parseProcStat', () => {
  it('reads the captured /proc/stat with CLK_TCK 100 (ticks × 10 = ms, worked by hand)', () => {
    // cpu0 1862 0 1958 24046 24 0 60 0 0 0
    // cpu1 2870 0 2487 22236 283 0 86 0 0 0
    assert.deepEqual(parseProcStat(readFixture('proc-stat.txt'), 100), [
      { type: 'linux', cpu: 0, user: 18620n, nice: 0n, system: 19580n, idle: 240460n, iowait: 240n, irq: 0n, softirq: 600n, steal: 0n, guest: 0n, guestnice: 0n },
      { type: 'linux', cpu: 1, user: 28700n, nice: 0n, system: 24870n, idle: 222360n, iowait: 2830n, irq: 0n, softirq: 860n, steal: 0n, guest: 0n, guestnice: 0n },
    ]);
  });

  it('divides as unsigned 64-bit integers, truncating', () => {
    const [cpu] = parseProcStat('cpu3 1 2 3 7\n', 300);
    // 1000/300 = 3, 2000/300 = 6, 3000/300 = 10, 7000/300 = 23
    assert.deepEqual(cpu, { type: 'linux', cpu: 3, user: 3n, nice: 6n, system: 10n, idle: 23n });
    // 18446744073709551615 * 1000 wraps to 18446744073709550616 before dividing by 100
    const [big] = parseProcStat('cpu0 18446744073709551615 0 0 0\n', 100);
    assert.equal(big?.user, 184467440737095506n);
  });

  it('adds optional members by column count exactly as qemu-ga', () => {
    const keysFor = (columns: number): string[] => {
      const values = Array.from({ length: columns }, (_, i) => String(i + 1)).join(' ');
      const [entry] = parseProcStat(`cpu0 ${values}\n`, 100);
      return Object.keys(entry ?? {}).slice(6);
    };
    assert.deepEqual(keysFor(4), []);
    assert.deepEqual(keysFor(5), ['iowait']);
    assert.deepEqual(keysFor(6), ['iowait', 'irq', 'softirq']);
    assert.deepEqual(keysFor(7), ['iowait', 'irq', 'softirq']);
    assert.deepEqual(keysFor(8), ['iowait', 'irq', 'softirq', 'steal']);
    assert.deepEqual(keysFor(9), ['iowait', 'irq', 'softirq', 'steal', 'guest']);
    assert.deepEqual(keysFor(10), ['iowait', 'irq', 'softirq', 'steal', 'guest', 'guestnice']);
    assert.deepEqual(keysFor(11), ['iowait', 'irq', 'softirq', 'steal', 'guest', 'guestnice']);
    const [seven] = parseProcStat('cpu0 1 2 3 4 5 6 7\n', 100);
    assert.equal(seven?.softirq, 70n);
    const [six] = parseProcStat('cpu0 1 2 3 4 5 6\n', 100);
    assert.equal(six?.softirq, 0n); // uninitialised in qemu-ga; 0 here
  });

  it('skips the aggregate line and non-cpu lines', () => {
    const text = 'cpu  9 9 9 9\nintr 1 2 3 4 5\nctxt 5\n\ncpu12 1 1 1 1\nsoftirq 1 2 3 4\n';
    assert.deepEqual(parseProcStat(text, 100).map((c) => c.cpu), [12]);
  });

  it('stops at the first cpuN line with fewer than four columns', () => {
    const text = 'cpu0 1 1 1 1\ncpu1 1 1 1\ncpu2 1 1 1 1\n';
    assert.deepEqual(parseProcStat(text, 100).map((c) => c.cpu), [0]);
  });

  it('numbers the CPU with atoi on the name suffix', () => {
    assert.deepEqual(parseProcStat('cpufoo 1 1 1 1\ncpu7x 1 1 1 1\n', 100).map((c) => c.cpu), [0, 7]);
  });

  it('accepts a bigint CLK_TCK and rejects a non-positive one', () => {
    assert.equal(parseProcStat('cpu0 1 0 0 0\n', 1000n)[0]?.user, 1n);
    assert.throws(() => parseProcStat('', 0), RangeError);
  });
});
