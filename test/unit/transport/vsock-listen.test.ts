import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync } from 'node:fs';
import { describe, test } from 'node:test';
import { createAgentLogger } from '../../../src/logging/agent-logger';
import { loadNativeHelper, POLL_READABLE, POLL_WRITABLE, type NativeHelper } from '../../../src/native/native-helper';
import type { FdIo } from '../../../src/native/polled-fd-stream';
import type { ChannelEvents } from '../../../src/transport/channel';
import { parseVsockAddress, VsockListenChannel } from '../../../src/transport/vsock-listen';
import { repoPath } from '../../support/repo';
import { errno, FakeNative } from './fake-port';

/** One fake socket per fd: what the client sent, whether it shut down its side, what it got. */
class FakeSockets implements FdIo {
  incoming = new Map<number, Buffer[]>();
  eof = new Set<number>();
  reset = new Set<number>();
  sent = new Map<number, string>();
  closed: number[] = [];
  read(fd: number, buffer: Buffer): number {
    if (this.reset.has(fd)) throw errno('ECONNRESET');
    const queue = this.incoming.get(fd) ?? [];
    const head = queue.shift();
    if (head !== undefined) {
      head.copy(buffer);
      return head.length;
    }
    if (this.eof.has(fd)) return 0;
    throw errno('EAGAIN');
  }
  write(fd: number, data: Uint8Array): number {
    this.sent.set(fd, (this.sent.get(fd) ?? '') + Buffer.from(data).toString());
    return data.length;
  }
  close(fd: number): void {
    this.closed.push(fd);
  }
  push(fd: number, text: string): void {
    this.incoming.set(fd, [...(this.incoming.get(fd) ?? []), Buffer.from(text)]);
  }
}

function setup() {
  const fake = new FakeNative();
  const sockets = new FakeSockets();
  const pendingAccepts: number[] = [];
  const native = {
    available: true,
    loadedFrom: 'fake',
    vsockListen: (cid: number, port: number) => ({ fd: 10, cid, port }),
    vsockAccept: () => {
      const fd = pendingAccepts.shift();
      return fd === undefined ? null : { fd, cid: 3, port: 1000 + fd };
    },
    watchFd: (fd: number, events: number, cb: (e: number, r: number) => void) => fake.watchFd(fd, events, cb),
  } as unknown as NativeHelper;
  const { logger } = createAgentLogger({ verbose: false, sink: { write: () => undefined } });
  const channel = new VsockListenChannel({ path: '-1:4000', logger, native, io: sockets });
  const log: string[] = [];
  let pendingDone: (() => void) | null = null;
  const events: ChannelEvents = {
    onConnect: () => log.push('connect'),
    onData: (c) => log.push(`data:${c.toString()}`),
    onInputEnd: (done) => {
      log.push('input-end');
      pendingDone = done;
    },
    onDisconnect: (r) => log.push(`disconnect:${r}`),
  };
  const watcherOf = (fd: number) => fake.watchers.find((w) => w.fd === fd && !w.closed)!;
  return { fake, sockets, pendingAccepts, channel, events, log, watcherOf, done: () => pendingDone?.() };
}

describe('vsock-listen channel', () => {
  test('parseVsockAddress', () => {
    assert.deepEqual(parseVsockAddress('3:1234'), { cid: 3, port: 1234 });
    assert.deepEqual(parseVsockAddress('-1:-1'), { cid: 0xffffffff, port: 0xffffffff });
    assert.deepEqual(parseVsockAddress('4294967295:0'), { cid: 0xffffffff, port: 0 });
    for (const bad of ['', '3', '3:', ':3', 'vsock:3:4', '3:4:5', '4294967296:1', 'a:1', ' 3:4']) assert.equal(parseVsockAddress(bad), undefined, bad);
  });

  test('one client at a time; a half-closed client gets its reply before the connection closes', async () => {
    const { sockets, pendingAccepts, channel, events, log, watcherOf, done } = setup();
    await channel.open(events);
    const listener = watcherOf(10);
    assert.equal(listener.events, POLL_READABLE);
    pendingAccepts.push(20, 21);
    listener.fire(POLL_READABLE);
    assert.equal(listener.events, 0, 'the listener is not watched while a client is served');
    assert.deepEqual(log, ['connect']);
    const client = watcherOf(20);
    sockets.push(20, '{"execute":"guest-ping"}');
    sockets.eof.add(20);
    client.fire(POLL_READABLE);
    assert.deepEqual(log, ['connect', 'data:{"execute":"guest-ping"}', 'input-end']);
    channel.write('{"return": {}}\n');
    done();
    assert.equal(sockets.sent.get(20), '{"return": {}}\n');
    assert.deepEqual(sockets.closed, [20]);
    assert.equal(log.at(-1), 'disconnect:client closed the connection');
    assert.equal(listener.events, POLL_READABLE, 'accepting again');
    listener.fire(POLL_READABLE);
    assert.equal(log.filter((l) => l === 'connect').length, 2);
    assert.ok(watcherOf(21));
    await channel.close();
    assert.deepEqual(sockets.closed, [20, 21, 10]);
  });

  test('a reset client ends only its connection; a slow one is waited for with WRITABLE', async () => {
    const { sockets, pendingAccepts, channel, events, log, watcherOf } = setup();
    await channel.open(events);
    pendingAccepts.push(20);
    watcherOf(10).fire(POLL_READABLE);
    const write = sockets.write.bind(sockets);
    let room = 3;
    sockets.write = (fd, data) => {
      if (room === 0) throw errno('EAGAIN');
      const n = Math.min(room, data.length);
      room -= n;
      return write(fd, data.subarray(0, n));
    };
    channel.write('hello');
    assert.equal(sockets.sent.get(20), 'hel');
    assert.ok(watcherOf(20).events & POLL_WRITABLE);
    room = 100;
    watcherOf(20).fire(POLL_WRITABLE);
    assert.equal(sockets.sent.get(20), 'hello');
    assert.equal(watcherOf(20).events, POLL_READABLE);
    sockets.reset.add(20);
    watcherOf(20).fire(POLL_READABLE);
    assert.equal(log.at(-1), 'disconnect:client connection error');
    assert.equal(watcherOf(10).events, POLL_READABLE);
  });

  test('without the native helper: a clear start-up error', async () => {
    const { logger } = createAgentLogger({ verbose: false, sink: { write: () => undefined } });
    const channel = new VsockListenChannel({ path: '3:4', logger, native: { available: false, reason: 'not built' } });
    await assert.rejects(channel.open(setup().events), { message: 'vsock-listen needs the native helper for AF_VSOCK, which is unavailable: not built' });
  });

  test('bad address and bind errors are reported with the address', async () => {
    const { events } = setup();
    const { logger } = createAgentLogger({ verbose: false, sink: { write: () => undefined } });
    const native = { available: true, vsockListen: () => { throw errno('EADDRNOTAVAIL'); } } as unknown as NativeHelper;
    await assert.rejects(new VsockListenChannel({ path: 'x', logger, native }).open(events), { message: "invalid vsock address 'x': expected <cid>:<port>" });
    await assert.rejects(new VsockListenChannel({ path: '7:4', logger, native }).open(events), {
      message: "failed to listen on vsock 7:4: Cannot assign requested address (is that the guest's own CID? -1 listens on any)",
    });
  });
});

// A real round trip needs a vsock transport that can connect to itself: the loopback CID (1,
// VMADDR_CID_LOCAL) comes with the vsock_loopback module. python3 plays the client (Node cannot
// connect AF_VSOCK sockets).
const native = loadNativeHelper({ candidates: [repoPath('build', 'Release', 'qga_native.node')] });
function loopbackProblem(): string | false {
  if (!native.available) return `native helper not built: ${native.reason}`;
  try {
    closeSync(native.vsockListen(1, 0xffffffff, 1).fd);
  } catch (e) {
    return `no vsock loopback on this kernel (modprobe vsock_loopback): listening on CID 1 gives ${(e as { code?: string }).code ?? (e as Error).message}`;
  }
  if (spawnSync('python3', ['-c', 'import socket; socket.AF_VSOCK'], { stdio: 'ignore' }).status !== 0) return 'python3 with AF_VSOCK is needed as the client';
  return false;
}

test('vsock-listen round trip on the loopback CID', { skip: loopbackProblem() }, async () => {
  if (!native.available) return;
  const { logger } = createAgentLogger({ verbose: false, sink: { write: () => undefined } });
  // Let the kernel pick the port: listen through the channel with port -1, then read it back.
  const listened: number[] = [];
  const realListen = native.vsockListen.bind(native);
  const recording = { ...native, vsockListen: (cid: number, port: number, backlog: number) => {
    const r = realListen(cid, port, backlog);
    listened.push(r.port);
    return r;
  } };
  const ch = new VsockListenChannel({ path: '1:-1', logger, native: recording });
  let received = '';
  await ch.open({
    onConnect: () => undefined,
    onData: (c) => {
      received += c.toString();
      if (received.includes('}')) ch.write('{"return": {}}\n');
    },
    onInputEnd: (done) => done(),
    onDisconnect: () => undefined,
  });
  const script = `import socket,sys\ns=socket.socket(socket.AF_VSOCK,socket.SOCK_STREAM)\ns.settimeout(5)\ns.connect((1,${listened[0]}))\ns.sendall(b'{"execute":"guest-ping"}')\nsys.stdout.write(s.recv(100).decode())`;
  const child = spawn('python3', ['-c', script]);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.once('exit', r));
  await ch.close();
  assert.equal(out, '{"return": {}}\n');
});
