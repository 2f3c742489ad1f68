/**
 * readInto / writeBytes / writeLatin1 on real fds (FIFOs: a pipe whose ends this test opens with
 * O_NONBLOCK): byte counts, end of stream, and every failure as a negative errno, never thrown.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { EAGAIN, EINTR } from '../../../src/native/native-helper';
import { builtSkip, helper } from './native-test-support';

const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;
const E = os.constants.errno;
/** Linux's default pipe capacity */
const PIPE_BYTES = 64 * 1024;

interface Fifo {
  readFd: number;
  writeFd: number;
  /** closes one end early; the cleanup then leaves it alone */
  close(which: 'read' | 'write'): void;
}

function withFifo(fn: (fifo: Fifo) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-fdio-'));
  const file = path.join(dir, 'fifo');
  execFileSync('mkfifo', [file]);
  // Read end first: a non-blocking O_WRONLY open fails ENXIO while nobody reads.
  const readFd = fs.openSync(file, O_RDONLY | O_NONBLOCK);
  const writeFd = fs.openSync(file, O_WRONLY | O_NONBLOCK);
  const open = new Set([readFd, writeFd]);
  const close = (fd: number) => {
    if (open.delete(fd)) fs.closeSync(fd);
  };
  try {
    fn({ readFd, writeFd, close: (which) => close(which === 'read' ? readFd : writeFd) });
  } finally {
    for (const fd of [...open]) close(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Everything in the pipe now (reads until EAGAIN). */
function drain(fd: number): Buffer {
  const chunks: Buffer[] = [];
  const buffer = Buffer.alloc(PIPE_BYTES);
  for (;;) {
    const n = helper().readInto(fd, buffer);
    if (n === -EAGAIN) return Buffer.concat(chunks);
    assert.ok(n > 0, `read gave ${n}`);
    chunks.push(Buffer.from(buffer.subarray(0, n)));
  }
}

/** Every latin1 char, then `length` more cycling through them. */
const latin1Text = (length: number) => Array.from({ length }, (_, i) => String.fromCharCode(i % 256)).join('');
const latin1Bytes = (length: number) => Buffer.from(Array.from({ length }, (_, i) => i % 256));

test('the facade agrees with os.constants on the errno values it tests for', () => {
  assert.equal(EAGAIN, E.EAGAIN);
  assert.equal(EINTR, E.EINTR);
});

test('readInto: -EAGAIN on an empty pipe, bytes when there are some, 0 once the writer is gone', { skip: builtSkip }, () =>
  withFifo(({ readFd, writeFd, close }) => {
    const native = helper();
    const buffer = Buffer.alloc(16);
    for (let i = 0; i < 1000; i++) assert.equal(native.readInto(readFd, buffer), -E.EAGAIN);
    assert.equal(native.writeBytes(writeFd, Buffer.from('hello')), 5);
    assert.equal(native.readInto(readFd, buffer), 5);
    assert.equal(buffer.subarray(0, 5).toString(), 'hello');
    assert.equal(native.readInto(readFd, buffer), -E.EAGAIN);
    native.writeBytes(writeFd, Buffer.from('tail'));
    close('write');
    assert.equal(native.readInto(readFd, buffer), 4, 'what was written before the close still comes');
    assert.equal(native.readInto(readFd, buffer), 0);
  }),
);

test('readInto fills a view at its own offset, at most its length', { skip: builtSkip }, () =>
  withFifo(({ readFd, writeFd }) => {
    const native = helper();
    native.writeBytes(writeFd, Buffer.from('abcdef'));
    const backing = Buffer.alloc(8, '.');
    assert.equal(native.readInto(readFd, backing.subarray(2, 5)), 3);
    assert.equal(backing.toString(), '..abc...');
    // a plain Uint8Array works as well as a Buffer
    const plain = new Uint8Array(8);
    assert.equal(native.readInto(readFd, plain), 3);
    assert.equal(Buffer.from(plain.subarray(0, 3)).toString(), 'def');
  }),
);

test('writeLatin1 writes each char as one byte, 0x00-0xFF exactly, short and long strings', { skip: builtSkip }, () =>
  withFifo(({ readFd, writeFd }) => {
    const native = helper();
    assert.equal(native.writeLatin1(writeFd, ''), 0);
    // 16 KiB is where the addon's stack buffer ends: below, at and above it.
    for (const length of [1, 256, 16383, 16384, 16385, 40000]) {
      assert.equal(native.writeLatin1(writeFd, latin1Text(length)), length);
      assert.deepEqual(drain(readFd), latin1Bytes(length), `length ${length}`);
    }
    // A string built by concatenation (a V8 cons string) as the reply encoder makes them.
    const parts = ['{"return": ', String(1_732_578_000_123), '}\n'];
    const reply = '\xff' + parts.join('');
    assert.equal(native.writeLatin1(writeFd, reply), reply.length);
    assert.deepEqual(drain(readFd), Buffer.from(reply, 'latin1'));
  }),
);

test('a string longer than the pipe is short-written, then -EAGAIN; the rest follows once drained', { skip: builtSkip }, () =>
  withFifo(({ readFd, writeFd }) => {
    const native = helper();
    const length = 3 * PIPE_BYTES + 123;
    const text = latin1Text(length);
    const got: Buffer[] = [];
    let offset = native.writeLatin1(writeFd, text);
    assert.ok(offset > 0 && offset < length, `short write, got ${offset}`);
    assert.equal(native.writeLatin1(writeFd, text.slice(offset)), -E.EAGAIN);
    while (offset < length) {
      got.push(drain(readFd));
      const n = native.writeLatin1(writeFd, text.slice(offset));
      assert.ok(n > 0, `after draining, write gave ${n}`);
      offset += n;
    }
    got.push(drain(readFd));
    assert.deepEqual(Buffer.concat(got), latin1Bytes(length));
  }),
);

test('writeBytes: a full pipe gives a short write then -EAGAIN; views write only their bytes', { skip: builtSkip }, () =>
  withFifo(({ readFd, writeFd }) => {
    const native = helper();
    const big = Buffer.alloc(PIPE_BYTES + 10, 'z');
    assert.equal(native.writeBytes(writeFd, big), PIPE_BYTES);
    assert.equal(native.writeBytes(writeFd, big), -E.EAGAIN);
    assert.equal(drain(readFd).length, PIPE_BYTES);
    const backing = new Uint8Array([1, 2, 3, 4, 5]);
    assert.equal(native.writeBytes(writeFd, backing.subarray(1, 3)), 2);
    assert.deepEqual(drain(readFd), Buffer.from([2, 3]));
  }),
);

test('no reader: writes give -EPIPE (Node ignores SIGPIPE), nothing is thrown', { skip: builtSkip }, () =>
  withFifo(({ writeFd, close }) => {
    const native = helper();
    close('read');
    assert.equal(native.writeBytes(writeFd, Buffer.from('x')), -E.EPIPE);
    assert.equal(native.writeLatin1(writeFd, 'x'), -E.EPIPE);
    assert.equal(native.writeLatin1(writeFd, 'y'.repeat(20000)), -E.EPIPE, 'the heap-copy path too');
  }),
);

test('closed fds and wrong directions give -EBADF, a directory -EISDIR', { skip: builtSkip }, () =>
  withFifo(({ readFd, writeFd }) => {
    const native = helper();
    const buffer = Buffer.alloc(4);
    assert.equal(native.writeBytes(readFd, buffer), -E.EBADF, 'the read end is not writable');
    assert.equal(native.readInto(writeFd, buffer), -E.EBADF, 'the write end is not readable');
    const stale = fs.openSync('/dev/null', 'r');
    fs.closeSync(stale);
    assert.equal(native.readInto(stale, buffer), -E.EBADF);
    assert.equal(native.writeBytes(stale, buffer), -E.EBADF);
    assert.equal(native.writeLatin1(stale, 'x'), -E.EBADF);
    const dir = fs.openSync(os.tmpdir(), 'r');
    try {
      assert.equal(native.readInto(dir, buffer), -E.EISDIR);
    } finally {
      fs.closeSync(dir);
    }
  }),
);

test('argument mistakes throw TypeError / RangeError before any syscall', { skip: builtSkip }, () => {
  const native = helper();
  const buffer = Buffer.alloc(4);
  const call = (fn: string, ...args: unknown[]) => () => (native as unknown as Record<string, (...a: unknown[]) => unknown>)[fn]!(...args);
  assert.throws(call('readInto', '3', buffer), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(call('readInto', -1, buffer), { name: 'RangeError' });
  assert.throws(call('readInto', 1.5, buffer), { name: 'RangeError' });
  assert.throws(call('readInto', 2 ** 31, buffer), { name: 'RangeError' });
  assert.throws(call('readInto', 0, 'text'), { name: 'TypeError', message: /Buffer or Uint8Array/ });
  assert.throws(call('readInto', 0, new Uint16Array(2)), { name: 'TypeError' });
  assert.throws(call('readInto', 0, new ArrayBuffer(2)), { name: 'TypeError' });
  assert.throws(call('readInto', 0), { name: 'TypeError', code: 'ERR_MISSING_ARGS' });
  assert.throws(call('writeBytes', 1, 'text'), { name: 'TypeError' });
  assert.throws(call('writeBytes', null, buffer), { name: 'TypeError' });
  assert.throws(call('writeLatin1', 1, buffer), { name: 'TypeError', message: /of type string/ });
  assert.throws(call('writeLatin1', 1), { name: 'TypeError', code: 'ERR_MISSING_ARGS' });
  assert.throws(call('writeLatin1', Number.NaN, 'x'), { name: 'RangeError' });
});
