import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FdWriteQueue, MAX_STRING_CHUNK } from '../../../src/transport/fd-write-queue';
import { errno, failed } from './fake-port';

/** A writer taking `accept[i]` bytes at the i-th call; -1 = EAGAIN, -2 = EPIPE, as -errno results. */
function sink(accept: number[]) {
  const out: Buffer[] = [];
  return {
    out,
    write: (_fd: number, data: Uint8Array) => {
      const n = accept.shift();
      if (n === undefined || n === -1) return failed('EAGAIN');
      if (n === -2) return failed('EPIPE');
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
    assert.throws(() => q.flush(), { code: 'EPIPE', errno: 32, syscall: 'write', message: 'EPIPE: write failed' });
    assert.equal(q.pendingBytes, 1);
  });

  test('EINTR ends the attempt like EAGAIN; the next flush goes on', () => {
    const results = [2, failed('EINTR'), 100];
    const out: Buffer[] = [];
    const q = new FdWriteQueue(1, {
      write: (_fd, data) => {
        const n = results.shift()!;
        if (n > 0) out.push(Buffer.from(data.subarray(0, n)));
        return n < 0 ? n : Math.min(n, data.length);
      },
    });
    q.enqueue(Buffer.from('abcd'));
    assert.deepEqual(q.flush(), { written: 2, drained: false });
    assert.deepEqual(q.flush(), { written: 2, drained: true });
    assert.equal(Buffer.concat(out).toString(), 'abcd');
  });

  test('a writer in Node fs convention (throws errno errors) works too', () => {
    let calls = 0;
    const q = new FdWriteQueue(1, {
      write: (_fd, data) => {
        calls++;
        if (calls === 1) throw errno('EAGAIN');
        if (calls === 2) return 1;
        if (calls === 3) throw errno('ECONNRESET');
        return data.length;
      },
    });
    q.enqueue(Buffer.from('xy'));
    assert.deepEqual(q.flush(), { written: 0, drained: false });
    assert.throws(() => q.flush(), { code: 'ECONNRESET' });
    assert.equal(q.pendingBytes, 1);
    assert.deepEqual(q.flush(), { written: 1, drained: true });
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

  test('small string replies go to writeLatin1, a short write continues from the right char', () => {
    const io = sink([3, -1, 100]);
    const strings: string[] = [];
    const q = new FdWriteQueue(1, {
      write: io.write,
      writeLatin1: (fd, text) => {
        strings.push(text);
        return io.write(fd, Buffer.from(text, 'latin1'));
      },
    });
    q.enqueue('\xffhello');
    assert.deepEqual(q.flush(), { written: 3, drained: false });
    assert.deepEqual(q.flush(), { written: 3, drained: true });
    assert.deepEqual(strings, ['\xffhello', 'llo', 'llo']); // the second try met EAGAIN
    assert.deepEqual(Buffer.concat(io.out), Buffer.from('\xffhello', 'latin1'));
  });

  test('strings become Buffers when the writer has no writeLatin1, or when they are long', () => {
    const io = sink([100, MAX_STRING_CHUNK + 1]);
    const q = new FdWriteQueue(1, io);
    q.enqueue('\xffa');
    q.flush();
    assert.deepEqual(Buffer.concat(io.out), Buffer.from([0xff, 0x61]));
    const big = 'b'.repeat(MAX_STRING_CHUNK + 1);
    let viaString = 0;
    const q2 = new FdWriteQueue(1, { write: io.write, writeLatin1: () => ++viaString });
    q2.enqueue(big);
    assert.deepEqual(q2.flush(), { written: MAX_STRING_CHUNK + 1, drained: true });
    assert.equal(viaString, 0);
  });

  test('clear() reports what it dropped', () => {
    const q = new FdWriteQueue(1, sink([]));
    q.enqueue(Buffer.from('abc'));
    assert.equal(q.clear(), 3);
    assert.equal(q.empty, true);
  });
});
