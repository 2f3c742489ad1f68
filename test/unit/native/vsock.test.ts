/**
 * AF_VSOCK listening. This machine has no vsock peer (no loopback transport, no host listener), so
 * connections are not exercised here; the VM suite does that. What is pinned down: the listener
 * itself, and that Node's net module cannot take the fd (the reason watchFd + PolledFdStream exist).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { test } from 'node:test';
import { POLL_READABLE, VMADDR_CID_ANY, VMADDR_PORT_ANY, type VsockEndpoint } from '../../../src/native/native-helper';
import { builtSkip, helper } from './native-test-support';

function probeVsock(): string | false {
  if (builtSkip) return builtSkip;
  try {
    fs.closeSync(helper().vsockListen(VMADDR_CID_ANY, VMADDR_PORT_ANY, 1).fd);
    return false;
  } catch (e) {
    return `AF_VSOCK unavailable: ${(e as Error).message}`;
  }
}

const vsockSkip = probeVsock();

function withListener(fn: (l: VsockEndpoint) => Promise<void> | void): Promise<void> {
  const listener = helper().vsockListen(VMADDR_CID_ANY, VMADDR_PORT_ANY, 1);
  return Promise.resolve()
    .then(() => fn(listener))
    .finally(() => fs.closeSync(listener.fd));
}

test('vsockListen binds, listens and reports the port the kernel chose', { skip: vsockSkip }, () =>
  withListener((l) => {
    assert.ok(Number.isInteger(l.fd) && l.fd > 2);
    assert.equal(l.cid, VMADDR_CID_ANY);
    assert.ok(l.port !== VMADDR_PORT_ANY && l.port > 0, String(l.port));
    // Nothing is connecting: accept reports "nothing yet" instead of blocking or throwing.
    assert.equal(helper().vsockAccept(l.fd), null);
  }),
);

test('a second listener on the same port fails EADDRINUSE in bind', { skip: vsockSkip }, () =>
  withListener((l) => {
    assert.throws(() => helper().vsockListen(VMADDR_CID_ANY, l.port, 1), {
      code: 'EADDRINUSE',
      syscall: 'bind',
      errno: 98,
    });
  }),
);

test('net.Server and net.Socket refuse a vsock fd (libuv sees an UNKNOWN handle)', { skip: vsockSkip }, () =>
  withListener(async (l) => {
    assert.throws(() => new net.Socket({ fd: l.fd }), { code: 'ERR_INVALID_FD_TYPE' });
    const server = new net.Server();
    server.listen({ fd: l.fd });
    const [error] = (await once(server, 'error')) as [NodeJS.ErrnoException];
    assert.equal(error.code, 'EINVAL');
    assert.equal(error.syscall, 'listen');
  }),
);

test('a vsock listener can be watched for readiness on the event loop and closed', { skip: vsockSkip }, () =>
  withListener(async (l) => {
    const events: number[] = [];
    const watcher = helper().watchFd(l.fd, POLL_READABLE, (_errno, ev) => events.push(ev));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(events, []); // nobody connected
    watcher.close();
    watcher.close();
    assert.throws(() => watcher.update(POLL_READABLE), { code: 'ERR_FD_WATCH_CLOSED' });
  }),
);

test('vsock arguments are checked', { skip: builtSkip }, () => {
  const native = helper();
  assert.throws(() => native.vsockListen(-2, 1024, 1), { name: 'RangeError' });
  assert.throws(() => native.vsockListen(VMADDR_CID_ANY, 2 ** 32, 1), { name: 'RangeError' });
  assert.throws(() => native.vsockListen(VMADDR_CID_ANY, 1024, -1), { name: 'RangeError' });
  assert.throws(() => native.vsockAccept(-1), { name: 'RangeError' });
  assert.throws(() => native.vsockAccept('3' as unknown as number), { name: 'TypeError' });
});

test('vsockAccept of something that is not a socket throws ENOTSOCK', { skip: builtSkip }, () => {
  const fd = fs.openSync('/dev/null', 'r');
  try {
    assert.throws(() => helper().vsockAccept(fd), { code: 'ENOTSOCK', syscall: 'accept4' });
  } finally {
    fs.closeSync(fd);
  }
});
