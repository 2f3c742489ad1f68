import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseProcNetDev } from '../../../../src/platform/linux/proc-net-dev';
import { readFixture } from './fixture';

const stat = (rx: bigint[], tx: bigint[]) => ({
  'rx-bytes': rx[0],
  'rx-packets': rx[1],
  'rx-errs': rx[2],
  'rx-dropped': rx[3],
  'tx-bytes': tx[0],
  'tx-packets': tx[1],
  'tx-errs': tx[2],
  'tx-dropped': tx[3],
});

describe('parseProcNetDev', () => {
  it('reads the captured /proc/net/dev (columns read off the file by hand)', () => {
    const stats = parseProcNetDev(readFixture('proc-net-dev.txt'));
    assert.deepEqual([...stats.keys()], ['lo', 'ifb0', 'ifb1', 'eth0']);
    assert.deepEqual(stats.get('lo'), stat([3193n, 29n, 0n, 0n], [3193n, 29n, 0n, 0n]));
    assert.deepEqual(stats.get('ifb0'), stat([0n, 0n, 0n, 0n], [0n, 0n, 0n, 0n]));
    assert.deepEqual(stats.get('eth0'), stat([112553006n, 3862n, 0n, 0n], [230019n, 2651n, 0n, 0n]));
  });

  it('takes receive columns 1-4 and transmit columns 9-12, skipping fifo/frame/compressed/multicast', () => {
    const text = 'eth1: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n';
    assert.deepEqual(parseProcNetDev(text).get('eth1'), stat([1n, 2n, 3n, 4n], [9n, 10n, 11n, 12n]));
  });

  it('accepts a counter glued to the colon (wide counters, long names)', () => {
    const text = 'enp0s31f6:18446744073709551 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n';
    assert.equal(parseProcNetDev(text).get('enp0s31f6')?.['rx-bytes'], 18446744073709551n);
  });

  it('needs all sixteen numbers; a short or garbled line is ignored', () => {
    const text = [
      'short: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15',
      'bad: 1 2 3 x 5 6 7 8 9 10 11 12 13 14 15 16',
      'ok: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17',
    ].join('\n');
    const stats = parseProcNetDev(text);
    assert.deepEqual([...stats.keys()], ['ok']);
  });

  it('keeps the first valid line for a name, and skips header and blank lines', () => {
    const text = [
      'Inter-|   Receive',
      ' face |bytes',
      '',
      'dup: 1 0 0 0 0 0 0 0 2 0 0 0 0 0 0 0',
      'dup: 7 0 0 0 0 0 0 0 8 0 0 0 0 0 0 0',
    ].join('\n');
    const stats = parseProcNetDev(text);
    assert.equal(stats.size, 1);
    assert.equal(stats.get('dup')?.['rx-bytes'], 1n);
    assert.equal(stats.get('dup')?.['tx-bytes'], 2n);
  });

  it('uses %lld semantics: values past 2^63-1 clamp', () => {
    const text = 'big: 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n';
    assert.equal(parseProcNetDev(text).get('big')?.['rx-bytes'], 9223372036854775807n);
  });

  it('names keep inner characters and lose only leading whitespace', () => {
    const stats = parseProcNetDev('  veth-a.10: 5 0 0 0 0 0 0 0 6 0 0 0 0 0 0 0\n');
    assert.deepEqual([...stats.keys()], ['veth-a.10']);
  });
});
