import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FdWriteQueue } from '../../../src/transport/fd-write-queue';
import { errno } from './fake-port';

function sink(accept: number[]) {
  const out: Buffer[] = [];
  return {
    out,
    write: (_fd: number, data: Uint8Array) => {
      const n = accept.shift();
      if (n === undefined || n < 0) throw errno(n === -2 ? 'EPIPE' : 'EAGAIN');
      out.push(Buffer.from(data.subarray(0, n)));
      return Math.min(n, data.length);
    },
  };
}

describe('FdWriteQueue', () => {
  test('short writes continue where they stopped; EAGAIN leaves the rest queued', () => {
    const io = sink([3, 2, -1, 100, 100]);
    const q = new FdWriteQueue(1, io);
    q.enqueue(Buffer.from('hello'));
    q.enqueue(Buffer.from('world'));
    assert.deepEqual(q.flush(), { written: 5, drained: false });
    assert.equal(q.pendingBytes, 5);
    assert.deepEqual(q.flush(), { written: 5, drained: true });
    assert.equal(Buffer.concat(io.out).toString(), 'helloworld');
    assert.equal(q.empty, true);
  });

  test('other errors are thrown with the queue intact', () => {
    const q = new FdWriteQueue(1, sink([-2]));
    q.enqueue(Buffer.from('x'));
    assert.throws(() => q.flush(), { code: 'EPIPE' });
    assert.equal(q.pendingBytes, 1);
  });

  test('over the limit: oldest whole replies go, the partly written one and the newest stay', () => {
    const drops: [number, number][] = [];
    const io = sink([2, -1, 1000, 1000]);
    const q = new FdWriteQueue(1, io, 10, (b, r) => drops.push([b, r]));
    q.enqueue(Buffer.from('AAAA'));
    q.flush(); // 'AA' out, 'AA' pending
    q.enqueue(Buffer.from('BBBB'));
    q.enqueue(Buffer.from('CCCC')); // 2 + 4 + 4 = 10: fits
    assert.deepEqual(drops, []);
    q.enqueue(Buffer.from('DDDDDDDDDDDD')); // way over: B and C dropped, D kept
    assert.deepEqual(drops, [[8, 2]]);
    q.flush();
    assert.equal(Buffer.concat(io.out).toString(), 'AAAADDDDDDDDDDDD');
  });

  test('clear() reports what it dropped', () => {
    const q = new FdWriteQueue(1, sink([]));
    q.enqueue(Buffer.from('abc'));
    assert.equal(q.clear(), 3);
    assert.equal(q.empty, true);
  });
});
