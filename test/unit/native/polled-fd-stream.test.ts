/**
 * watchFd and PolledFdStream over FIFOs: like a vsock connection, a FIFO fd opened with O_NONBLOCK
 * is unknown to libuv, reads and writes can hit EAGAIN, and closing the far end gives EOF.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { POLL_READABLE, POLL_WRITABLE, type FdEventCallback, type FdWatcher } from '../../../src/native/native-helper';
import { PolledFdStream, type FdIo } from '../../../src/native/polled-fd-stream';
import { builtSkip, helper } from './native-test-support';

const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;

async function withFifo(fn: (readFd: number, writeFd: number) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-fifo-'));
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  // Read end first: a non-blocking O_WRONLY open fails ENXIO while nobody has it open for reading.
  const readFd = fs.openSync(fifo, O_RDONLY | O_NONBLOCK);
  const writeFd = fs.openSync(fifo, O_WRONLY | O_NONBLOCK);
  try {
    await fn(readFd, writeFd);
  } finally {
    for (const fd of [readFd, writeFd]) {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed by a stream that owned it
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('watchFd reports readability on the event loop, and update(0) pauses it', { skip: builtSkip }, () =>
  withFifo(async (readFd, writeFd) => {
    const native = helper();
    const seen: Array<[number, number]> = [];
    let wake: () => void = () => undefined;
    const watcher = native.watchFd(readFd, POLL_READABLE, (errno, events) => {
      seen.push([errno, events]);
      watcher.update(0); // level-triggered: pause until the test drains the FIFO
      // Runs inside napi_make_callback, so this microtask drains before the loop continues.
      void Promise.resolve().then(() => wake());
    });
    try {
      const woke = new Promise<void>((resolve) => (wake = resolve));
      fs.writeSync(writeFd, 'ping');
      await woke;
      assert.deepEqual(seen, [[0, POLL_READABLE]]);
      assert.equal(watcher.fd, readFd);
      await new Promise((resolve) => setTimeout(resolve, 30));
      assert.equal(seen.length, 1, 'a paused watcher must stay quiet although data is waiting');
    } finally {
      watcher.close();
    }
  }),
);

test('watchFd in edge mode: one call per wake-up, quiet while the condition merely holds, wake-ups kept while paused', { skip: builtSkip }, () =>
  withFifo(async (readFd, writeFd) => {
    const native = helper();
    const seen: number[] = [];
    let wake: () => void = () => undefined;
    const watcher = native.watchFd(readFd, POLL_READABLE, (errno, events) => {
      assert.equal(errno, 0);
      seen.push(events);
      void Promise.resolve().then(() => wake());
    }, true);
    const nextCall = () => new Promise<void>((resolve) => (wake = resolve));
    const settle = () => new Promise((resolve) => setTimeout(resolve, 40));
    try {
      let called = nextCall();
      fs.writeSync(writeFd, 'a');
      await called;
      await settle();
      // level-triggered, unread data would call again and again
      assert.equal(seen.length, 1, 'unread data is one wake-up, not a stream of calls');
      assert.ok(seen[0]! & POLL_READABLE);
      called = nextCall();
      fs.writeSync(writeFd, 'b');
      await called;
      await settle();
      assert.equal(seen.length, 2, 'a second write is a second wake-up');
      watcher.update(0);
      fs.writeSync(writeFd, 'c');
      await settle();
      assert.equal(seen.length, 2, 'paused');
      called = nextCall();
      watcher.update(POLL_READABLE);
      await called;
      assert.equal(seen.length, 3, 'the wake-up during the pause is reported on resuming');
      const buffer = Buffer.alloc(8);
      assert.equal(native.readInto(readFd, buffer), 3);
      await settle();
      assert.equal(seen.length, 3, 'reading is no wake-up');
    } finally {
      watcher.close();
    }
  }),
);

test('watchFd of a closed fd fails in uv_poll_init', { skip: builtSkip }, () => {
  const fd = fs.openSync('/dev/null', 'r');
  fs.closeSync(fd);
  assert.throws(() => helper().watchFd(fd, POLL_READABLE, () => undefined), { code: 'EBADF', syscall: 'uv_poll_init' });
  assert.throws(() => helper().watchFd(0, 64, () => undefined), { name: 'RangeError' });
  assert.throws(() => helper().watchFd(0, POLL_READABLE, 'x' as unknown as FdEventCallback), { name: 'TypeError' });
  // (a number far above any open fd: a just-closed one would be reused by epoll_create1 itself)
  assert.throws(() => helper().watchFd(999_999, POLL_READABLE, () => undefined, true), { code: 'EBADF', syscall: 'epoll_ctl' });
});

test('PolledFdStream carries 1 MiB through a FIFO, through EAGAIN both ways, then EOF', { skip: builtSkip }, () =>
  withFifo(async (readFd, writeFd) => {
    const native = helper();
    const reader = new PolledFdStream({ native, fd: readFd, readSize: 8192 });
    const writer = new PolledFdStream({ native, fd: writeFd });
    const payload = randomBytes(1 << 20); // 16x the FIFO's 64 KiB buffer
    const chunks: Buffer[] = [];
    reader.on('data', (c: Buffer) => chunks.push(c));
    const ended = once(reader, 'end');
    const closed = once(reader, 'close'); // listen now: close follows end within the same tick queue

    writer.end(payload, () => writer.destroy()); // closing the write end is what makes EOF
    await ended;
    assert.ok(Buffer.concat(chunks).equals(payload));
    await closed;
    assert.throws(() => fs.fstatSync(readFd), { code: 'EBADF' }, 'the stream owns and closes its fd');
  }),
);

/** A watchFd stand-in that lets a test fire readiness by hand. */
function fakeNative() {
  const watchers: Array<{ events: number; closed: boolean; fire: (events: number, errno?: number) => void }> = [];
  const native = {
    watchFd(fd: number, events: number, onEvent: FdEventCallback): FdWatcher {
      const state = { events, closed: false, fire: (ev: number, errno = 0) => onEvent(errno, ev) };
      watchers.push(state);
      return {
        fd,
        update: (ev: number) => void (state.events = ev),
        close: () => void (state.closed = true),
      };
    },
    // Not called: the tests pass their own io.
    readInto: () => assert.fail('readInto'),
    writeBytes: () => assert.fail('writeBytes'),
  };
  return { native, watchers };
}

const errnoError = (code: string) => Object.assign(new Error(code), { code });

test('PolledFdStream: a read error destroys the stream with that error and closes the fd', async () => {
  const { native, watchers } = fakeNative();
  const closed: number[] = [];
  let reads = 0;
  const io: FdIo = {
    read: () => {
      reads++;
      return -(reads === 1 ? os.constants.errno.EAGAIN : os.constants.errno.ECONNRESET);
    },
    write: () => 0,
    close: (fd) => void closed.push(fd),
  };
  const stream = new PolledFdStream({ native, fd: 77, io });
  stream.resume();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(watchers[0]!.events, POLL_READABLE, 'EAGAIN arms the readable watch');
  watchers[0]!.fire(POLL_READABLE);
  const [error] = (await once(stream, 'error')) as [NodeJS.ErrnoException];
  assert.equal(error.code, 'ECONNRESET');
  assert.equal(error.syscall, 'read');
  assert.deepEqual(closed, [77]);
  assert.equal(watchers[0]!.closed, true);
});

test('PolledFdStream: an io in Node fs convention (errno errors thrown) works too', async () => {
  const { native, watchers } = fakeNative();
  let reads = 0;
  const io: FdIo = {
    read: (_fd, buffer) => {
      reads++;
      if (reads === 1) throw errnoError('EAGAIN');
      if (reads === 2) return buffer.write('hi');
      throw errnoError('EIO');
    },
    write: () => 0,
    close: () => undefined,
  };
  const stream = new PolledFdStream({ native, fd: 78, io });
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString()));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(watchers[0]!.events, POLL_READABLE);
  watchers[0]!.fire(POLL_READABLE);
  const [error] = (await once(stream, 'error')) as [NodeJS.ErrnoException];
  assert.deepEqual(chunks, ['hi']);
  assert.equal(error.code, 'EIO');
});

test('PolledFdStream: a write waits for POLL_WRITABLE after EAGAIN, and a poll error destroys', async () => {
  const { native, watchers } = fakeNative();
  const written: string[] = [];
  let full = true;
  const io: FdIo = {
    read: () => -os.constants.errno.EAGAIN,
    write: (_fd, data) => {
      if (full) return -os.constants.errno.EAGAIN;
      written.push(Buffer.from(data).toString());
      return data.length;
    },
    close: () => undefined,
  };
  const stream = new PolledFdStream({ native, fd: 5, io });
  let done = false;
  stream.write('hello', () => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(done, false);
  assert.equal(watchers[0]!.events, POLL_WRITABLE);
  full = false;
  watchers[0]!.fire(POLL_WRITABLE);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(done, true);
  assert.deepEqual(written, ['hello']);
  assert.equal(watchers[0]!.events, 0, 'nothing left to wait for');

  watchers[0]!.fire(0, os.constants.errno.EBADF);
  const [error] = (await once(stream, 'error')) as [NodeJS.ErrnoException];
  assert.equal(error.code, 'EBADF');
  assert.equal(error.syscall, 'poll');
});
