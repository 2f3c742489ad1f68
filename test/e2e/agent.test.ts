/**
 * The built agent, spawned through bin/qga-ts on unix-listen, each test with its own temp state
 * dir and QGA_CONF. Replies are compared byte for byte.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { QGA_COMMANDS } from '../../src/generated/qga-commands';
import { QGA_TS_BIN, RawClient, makeTempDir, runOnce, startAgent, type RunningAgent } from '../support/agent-process';

const running: RunningAgent[] = [];
async function agent(opts: Parameters<typeof startAgent>[0] = {}) {
  const a = await startAgent(opts);
  running.push(a);
  return a;
}
after(async () => {
  for (const a of running) await a.stop('SIGKILL');
});

describe('protocol over a real socket', () => {
  test('ping, sync, two requests in one write, id echo, then SIGTERM exits 0', async () => {
    const a = await agent();
    const c = await RawClient.connect(a.socket);
    assert.equal(await c.request('{"execute":"guest-ping"}\n'), '{"return": {}}\n');
    assert.equal(await c.request('{"execute":"guest-sync","arguments":{"id":123456789}}'), '{"return": 123456789}\n');
    assert.equal(await c.request('{"execute":"guest-ping"}{"execute":"guest-sync","arguments":{"id":5}}', 2), '{"return": {}}\n{"return": 5}\n');
    assert.equal(await c.request("{'execute':'guest-ping','id':{'x':[1,2]}}"), '{"return": {}, "id": {"x": [1, 2]}}\n');
    c.close();
    assert.equal(await a.stop(), 0);
  });

  test('0xFF + guest-sync-delimited resynchronises after a partial request', async () => {
    const a = await agent();
    const c = await RawClient.connect(a.socket);
    c.send('{"execute":"guest-ping"');
    c.send('{"execute":"guest-sync-delimited","arguments":{"id":4}}');
    assert.equal((await c.readFor(150)).length, 0, 'still inside the unfinished object: no reply');
    c.send(Buffer.from([0xff]));
    c.send('{"execute":"guest-sync-delimited","arguments":{"id":5}}');
    const out = await c.readLines(2);
    // The partial request plus the unprefixed sync-delimited left the parser inside an object;
    // 0xFF discards it: one stray error, then the delimited reply.
    assert.equal(out.toString('latin1'), `{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\\uFFFD'"}}\n\xff{"return": 5}\n`);
    c.close();
  });

  test('a client that leaves with an unread reply, or resets, does not stop the agent', async () => {
    const a = await agent();
    for (let i = 0; i < 5; i++) {
      const c = await RawClient.connect(a.socket);
      // Leaving with the request unanswered (and, on the agent's side, a reply written into a
      // closed socket: EPIPE / ECONNRESET) must only end this client.
      c.send('{"execute":"guest-info"}{"execute":"guest-info"}');
      if (i % 2 === 0) c.socket.destroy();
      else c.close();
    }
    await new Promise((r) => setTimeout(r, 200));
    const c = await RawClient.connect(a.socket);
    assert.equal(await c.request('{"execute":"guest-ping"}'), '{"return": {}}\n');
    c.close();
    assert.equal(a.proc.exitCode, null);
  });

  test('a client that half-closes after its request still gets every reply (echo … | socat)', async () => {
    const a = await agent();
    const c = await RawClient.connect(a.socket);
    c.send('{"execute":"guest-get-statvfs","arguments":{"path":"/"}}{"execute":"guest-sync","arguments":{"id":7}}');
    c.socket.end();
    const out = (await c.readLines(2)).toString();
    assert.match(out, /^\{"return": \{"f_bsize": \d+, .*\}\}\n\{"return": 7\}\n$/);
  });

  test('one client at a time: a second client is answered after the first leaves', async () => {
    const a = await agent();
    const c1 = await RawClient.connect(a.socket);
    assert.equal(await c1.request('{"execute":"guest-ping","id":"c1"}'), '{"return": {}, "id": "c1"}\n');
    const c2 = await RawClient.connect(a.socket);
    c2.send('{"execute":"guest-ping","id":"c2"}');
    assert.equal((await c2.readFor(300)).length, 0, 'c2 waits while c1 is connected');
    c1.close();
    assert.equal((await c2.readLines(1)).toString(), '{"return": {}, "id": "c2"}\n');
    c2.close();
  });

  test('each new client starts with a clean parser (qemu-ga would carry the partial request over)', async () => {
    const a = await agent();
    const c1 = await RawClient.connect(a.socket);
    c1.send('{"execute":"guest-ping"');
    await new Promise((r) => setTimeout(r, 50));
    c1.close();
    const c2 = await RawClient.connect(a.socket);
    assert.equal(await c2.request('{"execute":"guest-sync","arguments":{"id":1}}'), '{"return": 1}\n');
    c2.close();
  });

  test('garbage streams keep memory bounded and the agent answering', async () => {
    const a = await agent();
    const c = await RawClient.connect(a.socket);
    const junk = Buffer.alloc(1 << 20, '[');
    c.send(junk);
    const out = await c.readLines(1);
    assert.match(out.toString(), /JSON nesting depth limit exceeded/);
    c.send(Buffer.from([0xff]));
    c.send('{"execute":"guest-sync-delimited","arguments":{"id":9}}');
    const tail = (await c.readFor(1500)).toString('latin1');
    assert.ok(tail.endsWith('\xff{"return": 9}\n'), tail.slice(-200));
    c.close();
  });
});

describe('command line and config', () => {
  test('-V names us and the qemu-ga level', () => {
    const r = runOnce(QGA_TS_BIN, ['-V']);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /qga-ts 0\.1\.0.*10\.2\.0/);
  });

  test('--help lists the options; -b help lists the commands in registration order', () => {
    const h = runOnce(QGA_TS_BIN, ['--help']);
    assert.equal(h.status, 0);
    for (const opt of ['--method', '--path', '--statedir', '--block-rpcs', '--allow-rpcs', '--config', '--dump-conf', '--retry-path', '--fsfreeze-hook']) {
      assert.ok(h.stdout.includes(opt), opt);
    }
    const b = runOnce(QGA_TS_BIN, ['-b', 'help']);
    assert.equal(b.status, 0);
    const names = b.stdout.trim().split('\n');
    assert.equal(names[0], 'guest-sync-delimited');
    assert.deepEqual(names, QGA_COMMANDS.map((c) => c.name));
  });

  test('bad flags and bad config files exit non-zero with one clear line', () => {
    const bad = runOnce(QGA_TS_BIN, ['--no-such-flag']);
    assert.equal(bad.status, 1);
    const dir = makeTempDir();
    const conf = path.join(dir, 'bad.conf');
    fs.writeFileSync(conf, '[general]\ndaemon=maybe\n');
    const r = runOnce(QGA_TS_BIN, ['-D'], { QGA_CONF: conf });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /error loading configuration from path: .*bad\.conf/);
    const m = runOnce(QGA_TS_BIN, ['-m', 'carrier-pigeon', '-p', '/x'], { QGA_CONF: path.join(dir, 'none') });
    assert.equal(m.status, 1);
    assert.match(m.stderr + m.stdout, /unsupported channel method\/type: carrier-pigeon/);
    const p = runOnce(QGA_TS_BIN, ['-m', 'unix-listen'], { QGA_CONF: path.join(dir, 'none') });
    assert.equal(p.status, 1);
    assert.match(p.stderr + p.stdout, /must specify a path for this channel/);
  });

  test('-D dumps the upstream /qga/config scenario with nothing on stderr', () => {
    const dir = makeTempDir();
    const conf = path.join(dir, 'test-qga-config');
    fs.writeFileSync(
      conf,
      '[general]\ndaemon=false\nmethod=virtio-serial\npath=/path/to/org.qemu.guest_agent.0\npidfile=/var/foo/qemu-ga.pid\nstatedir=/var/state\nverbose=true\nblock-rpcs=guest-ping;guest-get-time\n',
    );
    const r = runOnce(QGA_TS_BIN, ['-D'], { QGA_CONF: conf });
    assert.equal(r.status, 0);
    assert.equal(r.stderr, '');
    assert.ok(r.stdout.startsWith('[general]\n'));
    for (const line of ['daemon=false', 'method=virtio-serial', 'path=/path/to/org.qemu.guest_agent.0', 'pidfile=/var/foo/qemu-ga.pid', 'statedir=/var/state', 'verbose=true', 'block-rpcs=guest-ping;guest-get-time']) {
      assert.ok(r.stdout.split('\n').includes(line), line);
    }
  });

  test('-b and -a from the command line and the config file', async () => {
    const a = await agent({
      conf: '[general]\nallow-rpcs=guest-ping,guest-get-time,guest-info,guest-sync\n',
    });
    const b = await agent({ extraArgs: ['-b', 'guest-ping,guest-get-time'] });
    const ca = await RawClient.connect(a.socket);
    assert.equal(await ca.request('{"execute":"guest-ping"}'), '{"return": {}}\n');
    assert.match(await ca.request('{"execute":"guest-fsfreeze-status"}'), /Command guest-fsfreeze-status has been disabled/);
    ca.close();
    const cb = await RawClient.connect(b.socket);
    assert.equal(await cb.request('{"execute":"guest-ping"}'), '{"error": {"class": "CommandNotFound", "desc": "Command guest-ping has been disabled: the command is not allowed"}}\n');
    assert.equal(await cb.request('{"execute":"guest-sync","arguments":{"id":3}}'), '{"return": 3}\n');
    cb.close();
  });
});

describe('frozen state and signals', () => {
  test('an agent started with qga.state.isfrozen is frozen: six commands enabled, SIGTERM ignored', async () => {
    const a = await agent({ statedirFiles: { 'qga.state.isfrozen': '' } });
    const c = await RawClient.connect(a.socket);
    const info = await c.request('{"execute":"guest-info"}');
    const enabled = [...info.matchAll(/\{"enabled": true, "name": "([^"]+)"/g)].map((m) => m[1]).sort();
    assert.deepEqual(enabled, ['guest-fsfreeze-status', 'guest-fsfreeze-thaw', 'guest-info', 'guest-ping', 'guest-sync', 'guest-sync-delimited']);
    assert.equal(await c.request('{"execute":"guest-fsfreeze-status"}'), '{"return": "frozen"}\n');
    assert.match(await c.request('{"execute":"guest-get-time"}'), /Command guest-get-time has been disabled/);
    a.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(a.proc.exitCode, null, 'SIGTERM is ignored while frozen');
    assert.equal(await c.request('{"execute":"guest-ping"}'), '{"return": {}}\n');
    c.close();
    await a.stop('SIGKILL');
  });

  test('-d daemonizes: the parent exits 0 once the socket listens, the pidfile names the daemon', async () => {
    const dir = makeTempDir();
    fs.mkdirSync(path.join(dir, 'state'));
    const sock = path.join(dir, 'd.sock');
    const pidfile = path.join(dir, 'qga.pid');
    const r = runOnce(QGA_TS_BIN, ['-d', '-m', 'unix-listen', '-p', sock, '-t', path.join(dir, 'state'), '-f', pidfile], { QGA_CONF: path.join(dir, 'none') });
    assert.equal(r.status, 0, r.stderr);
    const pid = Number(fs.readFileSync(pidfile, 'utf8').trim());
    assert.ok(pid > 0);
    const c = await RawClient.connect(sock);
    assert.equal(await c.request('{"execute":"guest-ping"}'), '{"return": {}}\n');
    c.close();
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 50 && fs.existsSync(pidfile); i++) await new Promise((res) => setTimeout(res, 100));
    assert.ok(!fs.existsSync(pidfile), 'the pidfile is removed at exit');
  });

  test('-d reports a start-up failure with a non-zero exit', () => {
    const dir = makeTempDir();
    const r = runOnce(QGA_TS_BIN, ['-d', '-m', 'unix-listen', '-p', path.join(dir, 'no', 'such', 'dir.sock'), '-t', dir], { QGA_CONF: path.join(dir, 'none') });
    assert.equal(r.status, 1);
  });
});
