import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseProcDiskstats } from '../../../../src/platform/linux/proc-diskstats';
import { readFixture } from './fixture';

const zeros = {
  'read-ios': 0n, 'read-merges': 0n, 'read-sectors': 0n, 'read-ticks': 0n,
  'write-ios': 0n, 'write-merges': 0n, 'write-sectors': 0n, 'write-ticks': 0n,
  'ios-pgr': 0n, 'total-ticks': 0n, 'weight-ticks': 0n,
  'discard-ios': 0n, 'discard-merges': 0n, 'discard-sectors': 0n, 'discard-ticks': 0n,
  'flush-ios': 0n, 'flush-ticks': 0n,
};

describe('parseProcDiskstats', () => {
  it('reads the captured /proc/diskstats (20-field lines)', () => {
    const devices = parseProcDiskstats(readFixture('proc-diskstats.txt'));
    assert.deepEqual(devices.map((d) => [d.name, d.major, d.minor]), [
      ['loop0', 7n, 0n], ['loop1', 7n, 1n], ['loop2', 7n, 2n], ['loop3', 7n, 3n],
      ['loop4', 7n, 4n], ['loop5', 7n, 5n], ['loop6', 7n, 6n], ['loop7', 7n, 7n],
      ['vda', 254n, 0n], ['zram0', 253n, 0n],
    ]);
    assert.deepEqual(devices[0]?.stats, zeros);
    // 254 0 vda 30177 7384 1568130 8203 5430 7850 723480 1961 0 5196 11080 3573 115 84200 694 958 220
    assert.deepEqual(devices[8]?.stats, {
      'read-ios': 30177n, 'read-merges': 7384n, 'read-sectors': 1568130n, 'read-ticks': 8203n,
      'write-ios': 5430n, 'write-merges': 7850n, 'write-sectors': 723480n, 'write-ticks': 1961n,
      'ios-pgr': 0n, 'total-ticks': 5196n, 'weight-ticks': 11080n,
      'discard-ios': 3573n, 'discard-merges': 115n, 'discard-sectors': 84200n, 'discard-ticks': 694n,
      'flush-ios': 958n, 'flush-ticks': 220n,
    });
  });

  it('reads the old 7-field partition format as ios and sectors', () => {
    assert.deepEqual(parseProcDiskstats('   3    1 hda1 35486 38030 38030 38030\n'), [
      { name: 'hda1', major: 3n, minor: 1n, stats: { 'read-ios': 35486n, 'read-sectors': 38030n, 'write-ios': 38030n, 'write-sectors': 38030n } },
    ]);
  });

  it('fills only the 14-field set for pre-4.18 kernels', () => {
    const [dev] = parseProcDiskstats('8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n');
    assert.deepEqual(dev?.stats, {
      'read-ios': 1n, 'read-merges': 2n, 'read-sectors': 3n, 'read-ticks': 4n,
      'write-ios': 5n, 'write-merges': 6n, 'write-sectors': 7n, 'write-ticks': 8n,
      'ios-pgr': 9n, 'total-ticks': 10n, 'weight-ticks': 11n,
    });
  });

  it('adds discard at 18 fields and flush at 20', () => {
    const values = (n: number): string => Array.from({ length: n }, (_, i) => String(i + 1)).join(' ');
    const [d18] = parseProcDiskstats(`8 0 sda ${values(15)}\n`);
    assert.deepEqual(
      [d18?.stats['discard-ios'], d18?.stats['discard-merges'], d18?.stats['discard-sectors'], d18?.stats['discard-ticks'], d18?.stats['flush-ios']],
      [12n, 13n, 14n, 15n, undefined],
    );
    const [d19] = parseProcDiskstats(`8 0 sda ${values(16)}\n`);
    assert.equal(d19?.stats['flush-ios'], undefined);
    const [d20] = parseProcDiskstats(`8 0 sda ${values(17)}\n`);
    assert.deepEqual([d20?.stats['flush-ios'], d20?.stats['flush-ticks']], [16n, 17n]);
  });

  it('lists 8..13-field lines with empty stats and skips shorter ones', () => {
    assert.deepEqual(parseProcDiskstats('8 0 sda 1 2 3 4 5\n'), [{ name: 'sda', major: 8n, minor: 0n, stats: {} }]);
    assert.deepEqual(parseProcDiskstats('8 0 sda 1 2 3\n8 0\nx y z 1 2 3 4\n\n'), []);
  });

  it('stops counting at the first column that is not a number', () => {
    assert.deepEqual(parseProcDiskstats('8 0 sda 1 2 3 4 x 6 7 8 9 10 11\n')[0]?.stats, {
      'read-ios': 1n, 'read-sectors': 2n, 'write-ios': 3n, 'write-sectors': 4n,
    });
  });

  it('keeps unsigned long counters beyond 32 bits', () => {
    const [dev] = parseProcDiskstats('259 0 nvme0n1 4294967296 0 0 0 0 0 0 0 0 0 0\n');
    assert.equal(dev?.stats['read-ios'], 4294967296n);
  });
});
