/**
 * The built agent on several channels at once, -r, socket activation's family check, and
 * isa-serial on a pty pair (socat). virtio-serial needs a VM: test/vm/agent.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import * as net from 'node:net';
import { loadNativeHelper, VMADDR_CID_ANY, VMADDR_PORT_ANY } from '../../src/native/native-helper';
import { makeTempDir, QGA_TS_BIN, RawClient, startAgent, type RunningAgent } from '../support/agent-process';
import { repoPath } from '../support/repo';

/** qemu-ga answers a 0xFF outside a JSON text with this before resynchronising. */
const STRAY = `{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\\uFFFD'"}}\n`;

const running: RunningAgent[] = [];
const children: ChildProcess[] = [];
after(async () => {
  for (const a of running) await a.stop('SIGKILL');
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

async function agent(opts: Parameters<typeof startAgent>[0]) {
  const a = await startAgent(opts);
  running.push(a);
  return a;
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('several channels in one agent', () => {
  test('two unix-listen paths: each its own session, one shared agent state', async () => {
    const dir = makeTempDir();
    const a = path.join(dir, 'a.sock');
    const b = path.join(dir, 'b.sock');
    const ag = await agent({ args: ['-m', 'unix-listen', '-p', a, '-p', b, '-t', dir], noWait: true });
    await waitFor(() => fs.existsSync(a) && fs.existsSync(b), 10000, 'both sockets');
    const ca = await RawClient.connect(a);
    const cb = await RawClient.connect(b);
    // a partial request on one channel does not disturb the other's parser
    ca.send('{"execute":"guest-sync","arguments":');
    assert.equal(await cb.request('{"execute":"guest-sync","arguments":{"id":2}}'), '{"return": 2}\n');
    assert.equal(await ca.request('{"id":1}}'), '{"return": 1}\n');
    // sync-delimited state is per channel
    // (0xFF outside a JSON text is itself answered with a stray-byte error, as qemu-ga does)
    cb.send(Buffer.from([0xff]));
    assert.equal(await cb.request('{"execute":"guest-sync-delimited","arguments":{"id":3}}', 2), STRAY + '\xff{"return": 3}\n');
    assert.equal(await ca.request('{"execute":"guest-ping"}'), '{"return": {}}\n');
    // a file handle opened through one channel is used and closed through the other
    const file = path.join(dir, 'shared.txt');
    const opened = await ca.request(JSON.stringify({ execute: 'guest-file-open', arguments: { path: file, mode: 'w' } }));
    const handle = Number(/"return": (\d+)/.exec(opened)?.[1]);
    assert.ok(handle > 0, opened);
    const data = Buffer.from('via b').toString('base64');
    assert.match(await cb.request(JSON.stringify({ execute: 'guest-file-write', arguments: { handle, 'buf-b64': data } })), /"count": 5/);
    assert.equal(await cb.request(JSON.stringify({ execute: 'guest-file-close', arguments: { handle } })), '{"return": {}}\n');
    assert.equal(fs.readFileSync(file, 'utf8'), 'via b');
    assert.match(await ca.request(JSON.stringify({ execute: 'guest-file-close', arguments: { handle } })), /handle '\d+' has not been found/);
    assert.equal(await cb.request('{"execute":"guest-fsfreeze-status"}'), '{"return": "thawed"}\n');
    ca.close();
    cb.close();
    assert.equal(await ag.stop(), 0);
  });

  test('the config key path takes a comma list', async () => {
    const dir = makeTempDir();
    const a = path.join(dir, 'a.sock');
    const b = path.join(dir, 'b.sock');
    await agent({ args: ['-t', dir], conf: `[general]\nmethod=unix-listen\npath=${a},${b}\n`, noWait: true });
    await waitFor(() => fs.existsSync(a) && fs.existsSync(b), 10000, 'both sockets');
    const cb = await RawClient.connect(b);
    assert.equal(await cb.request('{"execute":"guest-ping"}'), '{"return": {}}\n');
    cb.close();
  });

  test('without -r a channel that cannot be opened stops the agent at start-up', async () => {
    const dir = makeTempDir();
    const ag = await agent({ args: ['-m', 'unix-listen', '-p', path.join(dir, 'a.sock'), '-p', path.join(dir, 'missing', 'b.sock'), '-t', dir], noWait: true });
    assert.equal(await ag.exited(), 1);
    assert.match(ag.stderr(), /cannot listen on .*missing\/b\.sock/);
    assert.match(ag.stderr(), /failed to initialize guest agent channel/);
  });

  test('with -r the present channels serve while a missing one is retried every 5 s', { timeout: 30000 }, async () => {
    const dir = makeTempDir();
    const a = path.join(dir, 'a.sock');
    const later = path.join(dir, 'later');
    const b = path.join(later, 'b.sock');
    await agent({ args: ['-m', 'unix-listen', '-r', '-p', a, '-p', b, '-t', dir], noWait: true });
    await waitFor(() => fs.existsSync(a), 10000, 'the first socket');
    const ca = await RawClient.connect(a);
    assert.equal(await ca.request('{"execute":"guest-ping"}'), '{"return": {}}\n');
    fs.mkdirSync(later);
    const start = Date.now();
    await waitFor(() => fs.existsSync(b), 7000, 'the retried socket');
    assert.ok(Date.now() - start < 6500);
    const cb = await RawClient.connect(b);
    assert.equal(await cb.request('{"execute":"guest-ping"}'), '{"return": {}}\n');
    ca.close();
    cb.close();
  });
});

describe('start-up errors of the guest methods', () => {
  test('virtio-serial on a missing port names it', async () => {
    const dir = makeTempDir();
    const ag = await agent({ args: ['-m', 'virtio-serial', '-p', '/dev/virtio-ports/org.example.none', '-t', dir], noWait: true });
    assert.equal(await ag.exited(), 1);
    assert.match(ag.stderr(), /error opening channel '\/dev\/virtio-ports\/org\.example\.none': No such file or directory \(no virtio-serial port named org\.example\.none/);
  });

  test('vsock-listen with a malformed address', async () => {
    const dir = makeTempDir();
    const ag = await agent({ args: ['-m', 'vsock-listen', '-p', 'nonsense', '-t', dir], noWait: true });
    assert.equal(await ag.exited(), 1);
    assert.match(ag.stderr(), /invalid vsock address 'nonsense': expected <cid>:<port>/);
  });
});

/**
 * systemd's protocol by hand: the listening socket as fd 3, LISTEN_FDS=1 and LISTEN_PID = the
 * agent's own pid (a shell sets it to $$, then execs the agent in its place).
 */
function spawnActivated(listenFd: number, dir: string): { proc: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const proc = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -v -t "$1"', QGA_TS_BIN, dir], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', QGA_CONF: path.join(dir, 'none.conf') },
    stdio: ['ignore', 'ignore', 'pipe', listenFd],
  });
  children.push(proc);
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return { proc, stderr: () => err, exited };
}

const fdOf = (server: net.Server): number => (server as unknown as { _handle: { fd: number } })._handle.fd;

describe('systemd socket activation (one fd, family decides the method)', () => {
  const activateMissing = spawnSync('systemd-socket-activate', ['--version'], { stdio: 'ignore' }).status !== 0;
  test('a unix socket is served with unix-listen, whatever -m says', { skip: activateMissing ? 'systemd-socket-activate is not installed' : false }, async () => {
    // systemd-socket-activate starts the agent at the first connection, with the socket as fd 3.
    const dir = makeTempDir();
    const sock = path.join(dir, 'act.sock');
    const proc = spawn('systemd-socket-activate', ['-l', sock, '-E', `QGA_CONF=${path.join(dir, 'none.conf')}`, QGA_TS_BIN, '-m', 'isa-serial', '-v', '-t', dir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(proc);
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => fs.existsSync(sock), 5000, 'the activation socket');
      const c = await RawClient.connect(sock);
      assert.equal(await c.request('{"execute":"guest-ping"}', 1), '{"return": {}}\n');
      c.close();
      assert.match(err, /"channels":\["unix-listen:fd 3"\]/);
    } finally {
      proc.kill('SIGTERM');
      assert.equal(await exited, 0);
    }
  });

  test('a TCP socket is refused as qemu-ga refuses it', async () => {
    const dir = makeTempDir();
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const agentProc = spawnActivated(fdOf(server), dir);
    server.close();
    assert.equal(await agentProc.exited, 1);
    assert.match(agentProc.stderr(), /unsupported listen fd type/);
  });

  const native = loadNativeHelper({ candidates: [repoPath('build', 'Release', 'qga_native.node')] });
  let vsockProblem: string | false = native.available ? false : `native helper not built: ${native.reason}`;
  let vsockFd = -1;
  if (native.available) {
    try {
      vsockFd = native.vsockListen(VMADDR_CID_ANY, VMADDR_PORT_ANY, 1).fd;
    } catch (e) {
      vsockProblem = `this kernel offers no AF_VSOCK listener: ${(e as Error).message}`;
    }
  }
  test('a vsock socket is served with vsock-listen', { skip: vsockProblem }, async () => {
    const dir = makeTempDir();
    const agentProc = spawnActivated(vsockFd, dir);
    try {
      await waitFor(() => agentProc.stderr().includes('guest agent running'), 15000, 'the agent to start');
      assert.match(agentProc.stderr(), /"channels":\["vsock-listen:fd 3"\]/);
    } finally {
      fs.closeSync(vsockFd);
      agentProc.proc.kill('SIGTERM');
      assert.equal(await agentProc.exited, 0);
    }
  });
});

const socatMissing = spawnSync('socat', ['-V'], { stdio: 'ignore' }).status !== 0;

/** socat's pty pair, with stable link names; resolves once both links exist. */
async function ptyPair(dir: string): Promise<ChildProcess> {
  const a = path.join(dir, 'ptyA');
  const b = path.join(dir, 'ptyB');
  fs.rmSync(a, { force: true });
  fs.rmSync(b, { force: true });
  const socat = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' });
  children.push(socat);
  await waitFor(() => fs.existsSync(a) && fs.existsSync(b), 5000, 'socat pty links');
  return socat;
}

/** The host end of the pty pair, through serialport like the agent's end. */
async function openHostEnd(p: string) {
  const { SerialPort } = require('serialport') as typeof import('serialport');
  const port = new SerialPort({ path: p, baudRate: 38400, autoOpen: false, lock: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  let buffered = Buffer.alloc(0);
  port.on('data', (d: Buffer) => (buffered = Buffer.concat([buffered, d])));
  port.on('error', () => undefined);
  return {
    /** The agent flushes its input when it opens the line (as qemu-ga): ping until it answers. */
    async waitForAgent(timeoutMs = 15000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (!buffered.includes(0x0a)) {
        if (Date.now() > deadline) throw new Error('the agent never answered on the pty');
        port.write('{"execute":"guest-ping"}');
        await new Promise((r) => setTimeout(r, 300));
      }
      await new Promise((r) => setTimeout(r, 300));
      buffered = Buffer.alloc(0);
    },
    async request(text: string | Buffer, lines = 1, timeoutMs = 5000): Promise<string> {
      port.write(text);
      await waitFor(() => buffered.toString('latin1').split('\n').length > lines, timeoutMs, 'reply over the pty');
      const out = buffered.toString('latin1');
      buffered = Buffer.alloc(0);
      return out;
    },
    close: () => new Promise<void>((r) => (port.isOpen ? port.close(() => r()) : r())),
  };
}

describe('isa-serial on a pty pair', { skip: socatMissing ? 'socat is not installed' : false }, () => {
  test('raw line: requests, 0xFF sync-delimited, and a second agent is refused', async () => {
    const dir = makeTempDir();
    await ptyPair(dir);
    await agent({ args: ['-m', 'isa-serial', '-p', path.join(dir, 'ptyA'), '-t', dir], noWait: true });
    const host = await openHostEnd(path.join(dir, 'ptyB'));
    try {
      await host.waitForAgent();
      assert.equal(await host.request('{"execute":"guest-ping"}'), '{"return": {}}\n');
      const delimited = await host.request(Buffer.concat([Buffer.from([0xff]), Buffer.from('{"execute":"guest-sync-delimited","arguments":{"id":77}}')]), 2);
      assert.equal(delimited, STRAY + '\xff{"return": 77}\n', 'bytes ≥ 0x80 cross the line unchanged (raw, 8 bits)');
      assert.equal(await host.request('{"execute":"guest-sync","arguments":{"id":5}}\r\n'), '{"return": 5}\n', 'no CR/LF translation');
      const second = await agent({ args: ['-m', 'isa-serial', '-p', path.join(dir, 'ptyA'), '-t', dir], noWait: true });
      assert.equal(await second.exited(), 1);
      assert.match(second.stderr(), /another agent has the port open/);
    } finally {
      await host.close();
    }
  });

  test('the line going away stops the agent without -r, and is re-opened with -r', { timeout: 40000 }, async () => {
    const dir = makeTempDir();
    let socat = await ptyPair(dir);
    const plain = await agent({ args: ['-m', 'isa-serial', '-p', path.join(dir, 'ptyA'), '-t', dir], noWait: true });
    let host = await openHostEnd(path.join(dir, 'ptyB'));
    await host.waitForAgent();
    await host.close();
    socat.kill('SIGTERM');
    assert.equal(await plain.exited(), 1);
    assert.match(plain.stderr(), /error reading channel/);

    socat = await ptyPair(dir);
    const retrying = await agent({ args: ['-m', 'isa-serial', '-r', '-p', path.join(dir, 'ptyA'), '-t', dir], noWait: true });
    host = await openHostEnd(path.join(dir, 'ptyB'));
    await host.waitForAgent();
    await host.close();
    socat.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(retrying.proc.exitCode, null, 'still running');
    socat = await ptyPair(dir);
    host = await openHostEnd(path.join(dir, 'ptyB'));
    try {
      await host.waitForAgent(12000);
      assert.equal(await host.request('{"execute":"guest-sync","arguments":{"id":9}}'), '{"return": 9}\n');
    } finally {
      await host.close();
      socat.kill('SIGTERM');
    }
  });
});
