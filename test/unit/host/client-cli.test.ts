/** qga-client's commands against a fake agent on a unix socket, with captured stdout/stderr. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { clientMain, type ClientCliIo } from '../../../src/host/client-cli';
import type { CommandResult } from '../../../src/host/libvirt-route';
import { isJsonObject, type JsonObject, type JsonValue } from '../../../src/protocol/json-value';
import { encodeJson } from '../../../src/protocol/json-writer';
import { StreamLexer } from '../../../src/protocol/stream-lexer';
import { FakeAgent } from '../../e2e/host/fake-agent';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-client-cli-'));
let fake: FakeAgent;
let old: FakeAgent;
before(async () => {
  fake = await FakeAgent.listen(path.join(dir, 'vm.agent'));
  old = await FakeAgent.listen(path.join(dir, 'old.agent'), { behaviour: 'old' });
});
after(async () => {
  await fake.close();
  await old.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function io(overrides: Partial<ClientCliIo> = {}) {
  const out: Buffer[] = [];
  let err = '';
  const value: ClientCliIo = {
    stdout: (d) => void out.push(Buffer.from(d)),
    stderr: (t) => void (err += t),
    readFile: async (p) => fs.readFileSync(p),
    readStdin: async () => '',
    run: async () => ({ code: 127, stdout: '', stderr: 'no virsh in unit tests' }),
    now: () => Date.now(),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    ...overrides,
  };
  return { io: value, out: () => Buffer.concat(out).toString('utf8'), err: () => err };
}

async function run(args: string[], overrides: Partial<ClientCliIo> = {}) {
  const c = io(overrides);
  const code = await clientMain(args, c.io);
  return { code, out: c.out(), err: c.err() };
}

describe('qga-client', () => {
  test('ping, info, and --json', async () => {
    assert.deepEqual(await run(['--socket', fake.path, 'ping']), { code: 0, out: 'ok\n', err: '' });
    const info = await run(['--socket', fake.path, 'info']);
    assert.equal(info.code, 0);
    assert.match(info.out, /^version: fake-1.0\nCOMMAND +ENABLED +SUCCESS-RESPONSE\n/);
    assert.match(info.out, /guest-shutdown +yes +no\n/);
    const json = await run(['--socket', fake.path, '--json', 'info']);
    assert.equal(JSON.parse(json.out).version, 'fake-1.0');
  });

  test('df: a df -h table from fsinfo + statvfs, in mount order', async () => {
    const r = await run(['--socket', fake.path, 'df']);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trimEnd().split('\n');
    assert.match(lines[0]!, /^Filesystem +Type +Size +Used +Avail +Use% +Mounted on$/);
    assert.match(lines[1]!, /^vda1 +ext4 +20G +\S+ +\S+ +\d+% +\/$/);
    assert.match(lines[2]!, /^vdb +xfs +400G +100G +300G +25% +\/data$/);
    const json = JSON.parse((await run(['--socket', fake.path, '--json', 'df'])).out);
    assert.equal(json[1].source, 'statvfs');
    assert.equal(json[1].sizeBytes, 400 * 1024 ** 3);
  });

  test('df against an agent without guest-get-statvfs falls back to fsinfo figures', async () => {
    const r = await run(['--socket', old.path, '--json', 'df']);
    assert.equal(r.code, 0, r.err);
    const json = JSON.parse(r.out);
    assert.deepEqual(json.map((u: { source: string }) => u.source), ['fsinfo', 'fsinfo']);
  });

  test('statvfs, memory, time, osinfo, ifconfig, fsinfo, fsfreeze status', async () => {
    assert.match((await run(['--socket', fake.path, 'statvfs', '/'])).out, /^f_bsize: 4096\n.*f_fsid: 13940728729374423703\n/s);
    assert.match((await run(['--socket', fake.path, 'memory'])).out, /Mem: +4\.0G/);
    assert.match((await run(['--socket', fake.path, 'time'])).out, /^\d{4}-\d\d-\d\dT.*Z \(\d+ ns; guest - host ≈ -?\d+ ms\)\n$/);
    assert.match((await run(['--socket', fake.path, 'osinfo'])).out, /pretty-name: Debian GNU\/Linux 12 \(bookworm\)/);
    const ifc = await run(['--socket', fake.path, 'ifconfig']);
    assert.match(ifc.out, /^lo: ether 00:00:00:00:00:00\n    inet 127\.0\.0\.1\/8\n    RX \d+ packets/);
    assert.match((await run(['--socket', fake.path, 'fsinfo'])).out, /\/data +vdb +xfs +100G +400G +virtio:\/dev\/vdb/);
    assert.equal((await run(['--socket', fake.path, 'fsfreeze', 'status'])).out, 'thawed\n');
  });

  test('errors: stderr and a non-zero status; usage errors exit 2', async () => {
    const mem = await run(['--socket', old.path, 'memory']);
    assert.deepEqual(mem, { code: 1, out: '', err: 'qga-client: guest-get-memory-stats failed: The command guest-get-memory-stats has not been found (CommandNotFound)\n' });
    const missing = await run(['--socket', path.join(dir, 'nope.agent'), 'ping']);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /^qga-client: cannot connect to .*nope\.agent: no such socket\n$/);
    assert.equal((await run(['ping'])).code, 2);
    assert.equal((await run(['--socket', fake.path, 'frobnicate'])).code, 2);
    assert.equal((await run(['--socket', fake.path, 'statvfs'])).code, 2);
    assert.equal((await run(['--bogus'])).code, 2);
    assert.match((await run(['--help'])).out, /^Usage: qga-client/);
  });

  test('raw: the whole reply, exit 1 for an error reply', async () => {
    const r = await run(['--socket', fake.path, 'raw', '{"execute":"guest-get-host-name","id":5}']);
    assert.deepEqual(r, { code: 0, out: '{"return":{"host-name":"guest-0"},"id":5}\n', err: '' });
    const e = await run(['--socket', fake.path, 'raw', '{"execute":"guest-nope"}']);
    assert.equal(e.code, 1);
    assert.match(e.out, /"class":"CommandNotFound"/);
    const stdin = await run(['--socket', fake.path, 'raw', '-'], { readStdin: async () => '{"execute":"guest-ping"}' });
    assert.equal(stdin.out, '{"return":{}}\n');
  });
});

/** A scripted agent for exec, cat and put (file handles and a process table in a few lines). */
async function fileAndExecAgent(p: string) {
  const files = new Map<bigint, { path: string; data: Buffer; pos: number }>();
  const written = new Map<string, Buffer>();
  let nextHandle = 1000n;
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    const lexer = new StreamLexer((item) => {
      if (item.kind !== 'value' || !isJsonObject(item.value)) return;
      const v = item.value;
      const args = (v['arguments'] ?? {}) as JsonObject;
      const reply = (r: JsonValue) => s.write(encodeJson({ return: r, id: v['id'] }) + '\n');
      switch (v['execute']) {
        case 'guest-sync-delimited':
          return s.write(Buffer.concat([Buffer.from([0xff]), Buffer.from(`{"return": ${String(args['id'])}}\n`)]));
        case 'guest-exec':
          return reply({ pid: 42n });
        case 'guest-exec-status':
          return reply({ exited: true, exitcode: 3n, 'out-data': Buffer.from('hello\n').toString('base64'), 'err-data': Buffer.from('oops\n').toString('base64') });
        case 'guest-file-open': {
          const h = nextHandle++;
          files.set(h, { path: args['path'] as string, data: Buffer.from('0123456789'.repeat(300_000)), pos: 0 });
          return reply(h);
        }
        case 'guest-file-read': {
          const f = files.get(args['handle'] as bigint)!;
          const chunk = f.data.subarray(f.pos, f.pos + Number(args['count']));
          f.pos += chunk.length;
          return reply({ count: BigInt(chunk.length), 'buf-b64': chunk.toString('base64'), eof: f.pos >= f.data.length });
        }
        case 'guest-file-write': {
          const f = files.get(args['handle'] as bigint)!;
          const data = Buffer.from(args['buf-b64'] as string, 'base64');
          written.set(f.path, Buffer.concat([written.get(f.path) ?? Buffer.alloc(0), data]));
          return reply({ count: BigInt(data.length), eof: false });
        }
        case 'guest-file-close':
          files.delete(args['handle'] as bigint);
          return reply({});
        default:
          return s.write(encodeJson({ id: v['id'], error: { class: 'CommandNotFound', desc: 'no' } }) + '\n');
      }
    });
    s.on('data', (d: Buffer) => lexer.feed(d));
  });
  await new Promise<void>((r) => server.listen(p, r));
  return { written, files, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('qga-client exec, cat, put', () => {
  test('exec prints the output and exits with the guest\'s status', async () => {
    const agent = await fileAndExecAgent(path.join(dir, 'exec.sock'));
    const r = await run(['--socket', path.join(dir, 'exec.sock'), 'exec', '/bin/sh', '-c', 'echo hello; echo oops >&2; exit 3']);
    assert.deepEqual(r, { code: 3, out: 'hello\n', err: 'oops\n' });
    await agent.close();
  });

  test('cat streams a 3 MB file in chunks and closes the handle; put writes one', async () => {
    const agent = await fileAndExecAgent(path.join(dir, 'files.sock'));
    const r = await run(['--socket', path.join(dir, 'files.sock'), 'cat', '/var/log/big']);
    assert.equal(r.code, 0);
    assert.equal(r.out.length, 3_000_000);
    assert.equal(agent.files.size, 0, 'handle closed');
    const local = path.join(dir, 'local.bin');
    fs.writeFileSync(local, Buffer.alloc(2_500_000, 7));
    const put = await run(['--socket', path.join(dir, 'files.sock'), 'put', local, '/tmp/remote.bin']);
    assert.equal(put.code, 0, put.err);
    assert.equal(put.out, `${local} -> /tmp/remote.bin: 2500000 bytes\n`);
    assert.ok(agent.written.get('/tmp/remote.bin')!.equals(Buffer.alloc(2_500_000, 7)));
    await agent.close();
  });
});

describe('qga-client --domain', () => {
  const xml = (channels: string) => `<domain type='kvm'><name>web1</name><devices>${channels}</devices></domain>`;
  const monitorChannel = (p: string) => `<channel type='unix'><source mode='bind' path='${p}'/><target type='virtio' name='com.163.spice.0'/></channel>`;
  const libvirtChannel = `<channel type='unix'><source mode='bind' path='/run/libvirt/qemu/channel/1-web1/org.qemu.guest_agent.0'/><target type='virtio' name='org.qemu.guest_agent.0' state='connected'/></channel>`;

  test('a domain with the monitoring channel: its socket is used', async () => {
    const calls: string[][] = [];
    const r = await run(['--domain', 'web1', '--connect', 'qemu:///system', 'ping'], {
      run: async (argv): Promise<CommandResult> => {
        calls.push([...argv]);
        return { code: 0, stdout: xml(libvirtChannel + monitorChannel(fake.path)), stderr: '' };
      },
    });
    assert.deepEqual(r, { code: 0, out: 'ok\n', err: '' });
    assert.deepEqual(calls, [['virsh', '-c', 'qemu:///system', 'dumpxml', 'web1']]);
  });

  test('a domain with only libvirt\'s channel: through virsh qemu-agent-command --timeout', async () => {
    const calls: string[][] = [];
    const r = await run(['--domain', 'web1', '--timeout', '7', 'time'], {
      run: async (argv): Promise<CommandResult> => {
        calls.push([...argv]);
        if (argv[1] === 'dumpxml') return { code: 0, stdout: xml(libvirtChannel), stderr: '' };
        return { code: 0, stdout: '{"return":1795000000123456789}\n', stderr: '' };
      },
    });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^2026-/);
    assert.deepEqual(calls[1], ['virsh', 'qemu-agent-command', 'web1', '{"execute": "guest-get-time"}', '--timeout', '7']);
  });
});
