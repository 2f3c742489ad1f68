import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { createAgentLogger } from '../../../src/logging/agent-logger';
import { POLL_READABLE, POLL_WRITABLE } from '../../../src/native/native-helper';
import type { ChannelEvents } from '../../../src/transport/channel';
import { EDGE_FALLBACK_PROBE_MS, HOST_PROBE_INTERVAL_MS, VirtioSerialChannel } from '../../../src/transport/virtio-serial';
import type { VirtioPortsIo } from '../../../src/platform/linux/virtio-ports';
import { builtSkip, helper } from '../native/native-test-support';
import { errno, failed, FakeClock, FakeNative, FakePort } from './fake-port';

interface Recorded {
  log: string[];
  data: Buffer[];
  connects: number;
  disconnects: string[];
  failures: Error[];
}

const noSysfs: VirtioPortsIo = {
  exists: () => true,
  readdir: () => [],
  readFile: () => '',
};

function setup(opts: { writeQueueLimit?: number; writeHighWater?: number; portsIo?: VirtioPortsIo; path?: string; edgeWake?: boolean } = {}) {
  const port = new FakePort();
  const native = new FakeNative();
  const clock = new FakeClock();
  const rec: Recorded = { log: [], data: [], connects: 0, disconnects: [], failures: [] };
  const { logger } = createAgentLogger({ verbose: true, sink: { write: (l) => rec.log.push(l) } });
  const channel = new VirtioSerialChannel({
    path: opts.path ?? '/dev/virtio-ports/org.qemu.guest_agent.0',
    logger,
    native,
    io: port,
    portsIo: opts.portsIo ?? noSysfs,
    schedule: clock.schedule,
    now: () => clock.now,
    ...(opts.writeQueueLimit !== undefined && { writeQueueLimit: opts.writeQueueLimit }),
    ...(opts.writeHighWater !== undefined && { writeHighWater: opts.writeHighWater }),
    ...(opts.edgeWake !== undefined && { edgeWake: opts.edgeWake }),
  });
  const events: ChannelEvents = {
    onConnect: () => rec.connects++,
    // a copy: the chunk is only valid during the call
    onData: (c) => rec.data.push(Buffer.from(c)),
    onInputEnd: (done) => done(),
    onDisconnect: (r) => rec.disconnects.push(r),
    onFailure: (e) => rec.failures.push(e),
  };
  return { port, native, clock, rec, channel, events, logger };
}

const received = (rec: Recorded) => Buffer.concat(rec.data).toString();

describe('virtio-serial channel waiting on the port\'s wake-ups (edgeWake, as the agent runs it)', () => {
  test('no host: nothing read until the port is woken (or the 1 s safety net); a wake-up finds the new host at once', async () => {
    const { port, native, clock, rec, channel, events } = setup({ edgeWake: true });
    await channel.open(events);
    const [main, wake] = native.watchers;
    assert.ok(main !== undefined && wake !== undefined && wake.edge && !main.edge);
    assert.equal(port.reads, 1);
    assert.equal(main.events, 0, 'the level-triggered watcher stays off without a host (POLLHUP would spin)');
    assert.equal(wake.events, POLL_READABLE, 'waiting for a wake-up');
    clock.advance(EDGE_FALLBACK_PROBE_MS - 300);
    assert.equal(port.reads, 1, 'no 100 ms probing');
    // the host connects: the driver wakes the port
    port.hostConnected = true;
    port.incoming.push(Buffer.from('{"execute":"guest-ping"}'));
    assert.ok(wake.fire(POLL_WRITABLE | POLL_READABLE));
    assert.equal(channel.connected, true);
    assert.equal(received(rec), '{"execute":"guest-ping"}');
    assert.equal(wake.events, 0, 'not watched while a host is connected: its traffic goes through the main watcher');
    assert.equal(main.events, POLL_READABLE);
    assert.equal(clock.pending, 0, 'the safety-net timer is gone');
    // the host leaves: READABLE then a 0 read, and the wait for a wake-up starts again
    port.hostConnected = false;
    main.fire(POLL_READABLE);
    assert.equal(channel.connected, false);
    assert.equal(wake.events, POLL_READABLE);
    assert.equal(main.events, 0);
    await channel.close();
    assert.equal(wake.closed, true);
    assert.equal(main.closed, true);
    assert.equal(clock.pending, 0);
  });

  test('the safety net: with no wake-up at all, one read a second', async () => {
    const { port, native, clock, channel, events } = setup({ edgeWake: true });
    await channel.open(events);
    clock.advance(10 * EDGE_FALLBACK_PROBE_MS);
    assert.ok(port.reads >= 9 && port.reads <= 12, `${port.reads} reads in 10 s`);
    port.hostConnected = true;
    clock.advance(EDGE_FALLBACK_PROBE_MS + 1);
    assert.equal(channel.connected, true, 'a host whose wake-up was missed is still found');
    assert.equal(native.watchers[1]!.events, 0);
    await channel.close();
  });

  test('a wake-up that finds nothing new (still no host) just waits again', async () => {
    const { port, native, clock, channel, events } = setup({ edgeWake: true });
    await channel.open(events);
    const wake = native.watchers[1]!;
    for (let i = 0; i < 5; i++) assert.ok(wake.fire(POLL_READABLE));
    assert.equal(port.reads, 6, 'one read per wake-up, never a loop');
    assert.equal(wake.events, POLL_READABLE);
    assert.equal(clock.pending, 1);
    await channel.close();
  });

  test('without edge mode (watchFd refuses it) the channel probes every 100 ms, and says so', async () => {
    const { port, native, clock, rec, channel, events } = setup({ edgeWake: true });
    native.edgeError = Object.assign(new Error('epoll_create1: EMFILE'), { code: 'EMFILE' });
    await channel.open(events);
    assert.equal(native.watchers.length, 1);
    clock.advance(10 * HOST_PROBE_INTERVAL_MS);
    assert.equal(port.reads, 11);
    assert.ok(rec.log.some((l) => l.includes('probing every 100 ms') && l.includes('EMFILE')), rec.log.join('\n'));
    await channel.close();
  });
});

describe('virtio-serial channel', () => {
  test('opens O_RDWR|O_NONBLOCK once; with no host it reads once per 100 ms and watches nothing', async () => {
    const { port, native, clock, channel, events } = setup();
    await channel.open(events);
    assert.equal(port.openFlags! & 3 /* O_ACCMODE */, fs.constants.O_RDWR);
    assert.ok(port.openFlags! & fs.constants.O_NONBLOCK);
    assert.equal(port.reads, 1);
    assert.equal(native.last.events, 0, 'nothing watched while no host: POLLHUP would spin');
    clock.advance(10 * HOST_PROBE_INTERVAL_MS);
    assert.equal(port.reads, 11, 'one read per interval, no busy loop');
    assert.equal(native.last.events, 0);
    assert.equal(channel.connections, 0);
    assert.equal(port.closed, false);
    await channel.close();
    assert.equal(port.closed, true);
    assert.equal(native.last.closed, true);
    assert.equal(clock.pending, 0, 'no timer left behind');
  });

  test('a host that connects is seen at the next probe (EAGAIN), then data arrives through READABLE', async () => {
    const { port, native, clock, rec, channel, events } = setup();
    await channel.open(events);
    port.hostConnected = true;
    clock.advance(HOST_PROBE_INTERVAL_MS);
    assert.equal(channel.connected, true);
    assert.equal(native.last.events, POLL_READABLE);
    assert.equal(clock.pending, 0, 'no probing while a host is connected');
    port.incoming.push(Buffer.from('{"execute":"guest-ping"}'));
    assert.ok(native.last.fire(POLL_READABLE));
    assert.equal(received(rec), '{"execute":"guest-ping"}');
    assert.equal(rec.connects, 0, 'host connections never reset the session (qemu-ga keeps its parser too)');
  });

  test('a host already connected with data at open: delivered at once', async () => {
    const { port, native, rec, channel, events } = setup();
    port.hostConnected = true;
    port.incoming.push(Buffer.from('abc'));
    await channel.open(events);
    assert.equal(channel.connected, true);
    assert.equal(received(rec), 'abc');
    assert.equal(native.last.events, POLL_READABLE);
  });

  test('data a host sent and left behind is read, then the 0 read ends the connection', async () => {
    const { port, native, clock, rec, channel, events } = setup();
    await channel.open(events);
    port.incoming.push(Buffer.from('left behind'));
    clock.advance(HOST_PROBE_INTERVAL_MS);
    assert.equal(channel.connected, true);
    assert.equal(received(rec), 'left behind');
    native.last.fire(POLL_READABLE);
    assert.equal(channel.connected, false);
    assert.deepEqual(rec.disconnects, [], 'the session is not told');
    assert.equal(native.last.events, 0);
  });

  test('disconnect: a 0 read stops watching and probing resumes; unsent replies wait for the next host', async () => {
    const { port, native, clock, channel, events } = setup();
    port.hostConnected = true;
    await channel.open(events);
    port.capacity = 4;
    channel.write('0123456789');
    assert.equal(port.text(), '0123');
    assert.equal(native.last.events, POLL_READABLE | POLL_WRITABLE);
    port.hostConnected = false;
    native.last.fire(POLL_READABLE);
    assert.equal(channel.connected, false);
    assert.equal(native.last.events, 0, 'no WRITABLE watch without a host: it would spin');
    const writes = port.writes;
    // a reply produced while no host is connected is queued without a syscall
    channel.write('late');
    assert.equal(port.writes, writes);
    // reconnect: what waited goes out first, in order (the host resyncs with 0xFF + sync-delimited)
    port.hostConnected = true;
    port.hostDrains();
    port.capacity = Number.POSITIVE_INFINITY;
    clock.advance(HOST_PROBE_INTERVAL_MS);
    assert.equal(channel.connections, 2);
    channel.write('new');
    assert.equal(port.text(), '0123456789latenew');
  });

  test("a new host's data read before its connect is known: the reply is not lost", async () => {
    // The driver can deliver a new host's bytes while it still says no host is connected; the
    // write then fails EAGAIN and the next read gives 0. The reply must survive that.
    const { port, native, clock, rec, channel, events } = setup();
    port.hostConnected = true;
    await channel.open(events);
    port.hostConnected = false;
    port.incoming.push(Buffer.from('\xff{"execute":"guest-sync-delimited","arguments":{"id":1}}'));
    native.last.fire(POLL_READABLE);
    channel.write('\xff{"return": 1}\n');
    native.last.fire(POLL_READABLE | POLL_WRITABLE);
    assert.equal(channel.connected, false);
    port.hostConnected = true;
    clock.advance(HOST_PROBE_INTERVAL_MS);
    assert.equal(port.text(), '\xff{"return": 1}\n');
    assert.equal(rec.connects, 0);
  });

  test('50 disconnect/reconnect cycles: one connect and one disconnect each, no timer or watcher leak', async () => {
    const { port, native, clock, rec, channel, events } = setup();
    await channel.open(events);
    for (let i = 0; i < 50; i++) {
      port.hostConnected = true;
      clock.advance(HOST_PROBE_INTERVAL_MS);
      port.incoming.push(Buffer.from(`r${i};`));
      native.last.fire(POLL_READABLE);
      channel.write(`a${i};`);
      port.hostConnected = false;
      native.last.fire(POLL_READABLE);
      clock.advance(3 * HOST_PROBE_INTERVAL_MS);
    }
    assert.equal(channel.connections, 50);
    assert.equal(native.watchers.length, 1, 'one watcher for the life of the channel');
    assert.equal(clock.pending, 1, 'exactly one probe timer while no host');
    assert.equal(port.text(), Array.from({ length: 50 }, (_, i) => `a${i};`).join(''));
    assert.equal(received(rec), Array.from({ length: 50 }, (_, i) => `r${i};`).join(''));
  });

  test('short writes and EAGAIN: the rest waits for WRITABLE, in order; WRITABLE unwatched once drained', async () => {
    const { port, native, channel, events } = setup();
    port.hostConnected = true;
    await channel.open(events);
    port.capacity = 5;
    channel.write('hello ');
    channel.write('world\n');
    assert.equal(port.text(), 'hello');
    assert.ok(native.last.events & POLL_WRITABLE);
    port.hostDrains();
    native.last.fire(POLL_WRITABLE);
    port.hostDrains();
    native.last.fire(POLL_WRITABLE);
    port.hostDrains();
    native.last.fire(POLL_WRITABLE);
    assert.equal(port.text(), 'hello world\n');
    assert.equal(native.last.events, POLL_READABLE);
    // small replies go out as strings, without a Buffer each
    assert.equal(port.stringWrites, port.writes);
  });

  test('WRITABLE without progress (the hang-up of a vanished host) is checked by a read, never spun on', async () => {
    const { port, native, clock, rec, channel, events } = setup();
    port.hostConnected = true;
    await channel.open(events);
    port.capacity = 0;
    channel.write('reply');
    port.hostConnected = false;
    const reads = port.reads;
    native.last.fire(POLL_WRITABLE);
    assert.equal(port.reads, reads + 1);
    assert.equal(channel.connected, false);
    assert.equal(native.last.events, 0);
    assert.equal(clock.pending, 1);
    assert.equal(rec.failures.length, 0);
  });

  test('a host that stops reading: input stops at the high-water mark, the queue is bounded, oldest replies dropped with a warning', async () => {
    const { port, native, rec, channel, events } = setup({ writeQueueLimit: 120, writeHighWater: 50 });
    port.hostConnected = true;
    await channel.open(events);
    port.capacity = 10;
    channel.write('a'.repeat(40));
    assert.equal(native.last.events, POLL_READABLE | POLL_WRITABLE);
    channel.write('b'.repeat(40));
    assert.equal(native.last.events, POLL_WRITABLE, 'no more requests read while 70 bytes wait');
    channel.write('c'.repeat(40));
    channel.write('d'.repeat(40));
    assert.ok(rec.log.some((l) => l.includes('oldest unsent replies dropped')));
    // the partly written 'a' reply is finished; 'b' was dropped; 'c' and 'd' follow
    port.capacity = Number.POSITIVE_INFINITY;
    native.last.fire(POLL_WRITABLE);
    assert.equal(port.text(), 'a'.repeat(40) + 'c'.repeat(40) + 'd'.repeat(40));
    assert.equal(native.last.events, POLL_READABLE);
  });

  test('pauseInput stops reading; data a probe reads meanwhile is held and delivered on resume', async () => {
    const { port, native, clock, rec, channel, events } = setup();
    await channel.open(events);
    channel.pauseInput();
    port.incoming.push(Buffer.from('queued'));
    clock.advance(HOST_PROBE_INTERVAL_MS);
    assert.equal(channel.connected, true);
    assert.equal(rec.data.length, 0);
    assert.equal(native.last.events, 0);
    port.incoming.push(Buffer.from('more'));
    channel.resumeInput();
    assert.equal(received(rec), 'queued');
    assert.equal(native.last.events, POLL_READABLE);
    native.last.fire(POLL_READABLE);
    assert.equal(received(rec), 'queuedmore');
  });

  test('probes of several ports line up on multiples of the interval', async () => {
    const a = setup();
    const times: number[] = [];
    const b = new VirtioSerialChannel({
      path: '/dev/virtio-ports/b',
      logger: a.logger,
      native: a.native,
      io: Object.assign(new FakePort(), { read: () => (times.push(a.clock.now), 0) }),
      portsIo: noSysfs,
      schedule: a.clock.schedule,
      now: () => a.clock.now,
    });
    a.clock.advance(37);
    await a.channel.open(a.events);
    a.clock.advance(20);
    await b.open(a.events);
    a.clock.advance(1000);
    assert.deepEqual(times.slice(0, 4), [57, 100, 200, 300]);
    assert.equal(a.port.reads, 11, 'a: at 37, then 100, 200, ... 1000');
  });

  test('READABLE with nothing to read backs off 100 ms instead of trusting the level-triggered readiness', async () => {
    const { port, native, clock, channel, events } = setup();
    port.hostConnected = true;
    await channel.open(events);
    native.last.fire(POLL_READABLE);
    assert.equal(native.last.events, 0);
    assert.equal(clock.pending, 1);
    clock.advance(HOST_PROBE_INTERVAL_MS);
    assert.equal(native.last.events, POLL_READABLE);
  });

  test('a read error fails the channel (the agent stops, or re-opens with -r)', async () => {
    const { port, native, rec, channel, events } = setup();
    port.hostConnected = true;
    await channel.open(events);
    port.readResult = failed('EIO');
    port.incoming.push(Buffer.from('x'));
    native.last.fire(POLL_READABLE);
    assert.equal(rec.failures.length, 1);
    assert.equal(rec.failures[0]!.message, "error reading channel '/dev/virtio-ports/org.qemu.guest_agent.0': Input/output error");
    assert.ok(rec.log.some((l) => l.includes('"code":"EIO"')), 'the errno name is logged');
    assert.equal(native.last.events, 0);
    channel.write('ignored');
    assert.equal(port.text(), '');
  });

  test('EINTR from a read is "try again", not a failure', async () => {
    const { port, native, clock, rec, channel, events } = setup();
    port.hostConnected = true;
    await channel.open(events);
    port.readResult = failed('EINTR');
    native.last.fire(POLL_READABLE);
    assert.deepEqual(rec.failures, []);
    assert.equal(native.last.events, 0, 'waits 100 ms as after EAGAIN');
    port.readResult = undefined;
    port.incoming.push(Buffer.from('{}'));
    clock.advance(HOST_PROBE_INTERVAL_MS);
    assert.equal(received(rec), '{}');
  });

  test('an io that throws errno errors (Node fs convention) is understood too', async () => {
    const { port, native, rec, channel, events } = setup();
    port.hostConnected = true;
    port.readThrows = errno('EAGAIN');
    await channel.open(events);
    assert.equal(channel.connected, true, 'EAGAIN: a host is there');
    port.readThrows = undefined;
    port.incoming.push(Buffer.from('{}'));
    native.last.fire(POLL_READABLE);
    assert.equal(received(rec), '{}');
    port.readThrows = errno('EIO');
    native.last.fire(POLL_READABLE);
    assert.match(rec.failures[0]!.message, /^error reading channel '.*': Input\/output error$/);
  });

  test('a write error fails the channel', async () => {
    const { port, rec, channel, events } = setup();
    port.hostConnected = true;
    await channel.open(events);
    port.writeResult = failed('ENODEV');
    channel.write('x');
    assert.match(rec.failures[0]!.message, /^error writing to channel '.*': No such device$/);
    assert.ok(rec.log.some((l) => l.includes('"code":"ENODEV"')));
  });

  test('EBUSY names the likely cause', async () => {
    const { port, channel, events } = setup();
    port.openError = errno('EBUSY');
    await assert.rejects(channel.open(events), {
      message:
        "error opening channel '/dev/virtio-ports/org.qemu.guest_agent.0': Device or resource busy (another agent has the port open: is qemu-ga or another qga-ts running?)",
    });
  });

  test('a missing link is resolved through /sys/class/virtio-ports/*/name', async () => {
    const sysfs: Record<string, string> = {
      '/sys/class/virtio-ports/vport0p1/name': 'com.163.spice.0\n',
      '/sys/class/virtio-ports/vport0p2/name': 'org.qemu.guest_agent.0\n',
    };
    const portsIo: VirtioPortsIo = {
      exists: (p) => p === '/dev/vport0p1' || p === '/dev/vport0p2',
      readdir: () => ['vport0p2', 'vport0p1'],
      readFile: (f) => {
        const t = sysfs[f];
        if (t === undefined) throw errno('ENOENT');
        return t;
      },
    };
    const { port, rec, channel, events } = setup({ portsIo });
    await channel.open(events);
    assert.equal(port.openedPath, '/dev/vport0p2');
    assert.ok(rec.log.some((l) => l.includes('using /dev/vport0p2')));
  });

  test('no such port: the message lists the ports the guest has', async () => {
    const portsIo: VirtioPortsIo = {
      exists: () => false,
      readdir: () => ['vport0p1'],
      readFile: () => 'com.163.spice.0\n',
    };
    const { port, channel, events } = setup({ portsIo });
    port.openError = errno('ENOENT');
    await assert.rejects(channel.open(events), {
      message:
        "error opening channel '/dev/virtio-ports/org.qemu.guest_agent.0': No such file or directory (no virtio-serial port named org.qemu.guest_agent.0: the guest has com.163.spice.0)",
    });
    assert.equal(port.openedPath, undefined);
  });
});

test('on a real fd, through the native helper: bytes in, latin1 replies out exactly', { skip: builtSkip }, async () => {
  // A FIFO opened O_RDWR is its own host: what the channel writes it reads back.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-virtio-'));
  const fifo = path.join(dir, 'port');
  execFileSync('mkfifo', [fifo]);
  const data: Buffer[] = [];
  let arrived: () => void = () => undefined;
  const { logger } = createAgentLogger({ verbose: false, sink: { write: () => undefined } });
  const channel = new VirtioSerialChannel({ path: fifo, logger, native: helper() });
  let writeFd = -1;
  const next = () => new Promise<void>((resolve) => (arrived = resolve));
  try {
    await channel.open({
      onConnect: () => undefined,
      onData: (c) => {
        data.push(Buffer.from(c));
        arrived();
      },
      onInputEnd: (done) => done(),
      onDisconnect: () => undefined,
      onFailure: (e) => assert.fail(e),
    });
    assert.equal(channel.connected, true, 'EAGAIN from the real read: a host is there');
    // Only now: a non-blocking O_WRONLY open of a FIFO fails ENXIO while nobody has it open to read.
    writeFd = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    let got = next();
    fs.writeSync(writeFd, '{"execute":"guest-ping"}');
    await got;
    assert.equal(Buffer.concat(data).toString(), '{"execute":"guest-ping"}');
    data.length = 0;
    got = next();
    const reply = '\xff{"return": {"a": "\xe9\x80"}}\n';
    channel.write(reply);
    await got;
    assert.deepEqual(Buffer.concat(data), Buffer.from(reply, 'latin1'));
  } finally {
    await channel.close();
    if (writeFd >= 0) fs.closeSync(writeFd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
