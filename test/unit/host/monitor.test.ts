/** qga-monitor's parts: settings, discovery, rates, push with spool, the scheduler and its metrics. */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import type { GuestSample } from '../../../src/host/monitor/guest-sample';
import { ratesBetween } from '../../../src/host/monitor/guest-sample';
import { createMonitorRegistry } from '../../../src/host/monitor/metrics';
import { buildMonitorConfig, MonitorConfigError, parseListen, parseMonitorArgs } from '../../../src/host/monitor/monitor-config';
import { PollScheduler } from '../../../src/host/monitor/poll-scheduler';
import { Pusher } from '../../../src/host/monitor/push';
import { discoverTargets, expandSocketGlob, vmNameFromSocket } from '../../../src/host/monitor/targets';
import { FakeAgent, type FakeBehaviour } from '../../e2e/host/fake-agent';
import { parseExposition, sampleValue } from '../../e2e/host/prometheus-text';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-monitor-unit-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('settings', () => {
  test('defaults, then the config file, then the command line', () => {
    const file = '[monitor]\nsocket-glob=/a/*.agent;/b/*.sock\ninterval=30\nlisten=0.0.0.0:9100\npush=http://collector:8080/in\npush-header=Authorization: Bearer x\nconcurrency=4\n';
    const c = buildMonitorConfig(file, parseMonitorArgs(['--interval', '15', '--socket-glob', '/c/*.agent', '--socket-glob=/d/*.agent', '--libvirt']));
    assert.deepEqual(c.socketGlobs, ['/c/*.agent', '/d/*.agent'], 'a list on the command line replaces the file\'s');
    assert.equal(c.intervalSeconds, 15);
    assert.deepEqual(c.listen, { host: '0.0.0.0', port: 9100 });
    assert.equal(c.pushUrl, 'http://collector:8080/in');
    assert.deepEqual(c.pushHeaders, [['Authorization', 'Bearer x']]);
    assert.equal(c.concurrency, 4);
    assert.equal(c.libvirtDomains, 'all');
    const d = buildMonitorConfig(null, parseMonitorArgs([]));
    assert.deepEqual(d.socketGlobs, ['/var/lib/libvirt/qemu/*.agent']);
    assert.equal(d.intervalSeconds, 60);
    assert.deepEqual(d.listen, { host: '127.0.0.1', port: 9797 });
    assert.equal(d.pushUrl, null);
  });

  test('bad settings are refused with a message', () => {
    const bad = (argv: string[], file: string | null = null) => assert.throws(() => buildMonitorConfig(file, parseMonitorArgs(argv)), MonitorConfigError);
    bad(['--interval', '0']);
    bad(['--interval']);
    bad(['--listen', 'nowhere']);
    bad(['--push', 'ftp://x']);
    bad(['--frobnicate', '1']);
    bad(['--exclude-disk', '(']);
    bad([], '[other]\nx=1\n');
    bad([], '[monitor]\ninterval=-5\n');
    assert.deepEqual(parseListen('[::1]:9797'), { host: '::1', port: 9797 });
    assert.equal(parseListen('none'), null);
  });
});

describe('discovery', () => {
  test('a VM is named after its socket', () => {
    assert.equal(vmNameFromSocket('/var/lib/libvirt/qemu/test.agent'), 'test');
    assert.equal(vmNameFromSocket('/run/qemu-server/100.qga'), '100');
    assert.equal(vmNameFromSocket('/x/plain'), 'plain');
  });

  test('globs find sockets only, in every matching directory', async () => {
    const root = path.join(dir, 'glob');
    fs.mkdirSync(path.join(root, 'h1'), { recursive: true });
    fs.mkdirSync(path.join(root, 'h2'), { recursive: true });
    const servers: net.Server[] = [];
    for (const p of ['h1/a.agent', 'h1/b.agent', 'h2/c.agent', 'h2/.hidden.agent']) {
      const s = net.createServer();
      await new Promise<void>((r) => s.listen(path.join(root, p), r));
      servers.push(s);
    }
    fs.writeFileSync(path.join(root, 'h1/not-a-socket.agent'), '');
    assert.deepEqual((await expandSocketGlob(path.join(root, 'h?/*.agent'))).map((p) => path.relative(root, p)), ['h1/a.agent', 'h1/b.agent', 'h2/c.agent']);
    const { targets } = await discoverTargets({ socketGlobs: [path.join(root, 'h1/*.agent'), path.join(root, 'h2/[c]*.agent')], libvirtDomains: [] });
    assert.deepEqual(targets.map((t) => t.vm), ['a', 'b', 'c']);
    servers.forEach((s) => s.close());
  });

  test('libvirt domains without a socket of their own are reached through virsh', async () => {
    const { targets } = await discoverTargets({
      socketGlobs: [],
      libvirtDomains: 'all',
      run: async (argv) => {
        assert.deepEqual(argv, ['virsh', 'list', '--name', '--state-running']);
        return { code: 0, stdout: 'web1\nweb2\n\n', stderr: '' };
      },
    });
    assert.deepEqual(targets, [{ vm: 'web1', route: 'libvirt', domain: 'web1' }, { vm: 'web2', route: 'libvirt', domain: 'web2' }]);
  });
});

describe('rates', () => {
  const sample = (time: number, cpu: Record<string, bigint>, rx: bigint, sectors: bigint): GuestSample => ({
    time, agentVersion: 'x', frozen: false, available: {}, filesystems: null, memory: null, load: null, os: null, collectorErrors: [],
    cpu: { count: 2, modesMs: cpu },
    disks: [{ device: 'vda', stats: { 'read-sectors': sectors, 'write-sectors': sectors * 2n, 'read-ios': 10n, 'write-ios': 20n } }],
    interfaces: [{ name: 'eth0', stats: { 'rx-bytes': rx, 'rx-packets': 1n, 'rx-errs': 0n, 'rx-dropped': 0n, 'tx-bytes': 0n, 'tx-packets': 0n, 'tx-errs': 0n, 'tx-dropped': 0n } }],
  });

  test('CPU busy share, disk and network bytes per second', () => {
    const a = sample(0, { user: 1000n, system: 0n, idle: 1000n, iowait: 0n, guest: 500n }, 1000n, 100n);
    const b = sample(10_000, { user: 4000n, system: 1000n, idle: 5000n, iowait: 1000n, guest: 9000n }, 11_000n, 300n);
    const r = ratesBetween(a, b)!;
    assert.equal(r.seconds, 10);
    assert.equal(r.cpuUsageRatio, 4000 / 9000, 'busy 4000 of 9000 ms; guest time is already in user');
    assert.deepEqual(r.disks.get('vda'), { readBytesPerSecond: 200 * 512 / 10, writeBytesPerSecond: 400 * 512 / 10, readsPerSecond: 0, writesPerSecond: 0 });
    assert.equal(r.interfaces.get('eth0')!.rxBytesPerSecond, 1000);
  });

  test('a counter that went backwards (the guest rebooted) gives no rate', () => {
    const a = sample(0, { user: 5000n, idle: 5000n }, 5000n, 500n);
    const b = sample(10_000, { user: 10n, idle: 10n }, 10n, 10n);
    const r = ratesBetween(a, b)!;
    assert.equal(r.cpuUsageRatio, null);
    assert.equal(r.disks.size, 0);
    assert.equal(r.interfaces.size, 0);
  });
});

/** A receiver that can be taken down and brought back. */
async function receiver() {
  const got: unknown[] = [];
  let status = 200;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (status === 200) got.push(JSON.parse(body));
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return { url: `http://127.0.0.1:${port}/push`, got, setStatus: (s: number) => (status = s), close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('push', () => {
  test('an outage: documents are spooled, then delivered oldest first', async () => {
    const rx = await receiver();
    const spoolDir = path.join(dir, 'spool1');
    const pusher = new Pusher({ url: rx.url, spoolDir, spoolMaxBytes: 1 << 20, retryDelayMs: 1 });
    await pusher.submit('{"n":1}');
    rx.setStatus(503);
    await pusher.submit('{"n":2}');
    await pusher.submit('{"n":3}');
    assert.equal(fs.readdirSync(spoolDir).length, 2);
    assert.equal(pusher.stats.spoolDocuments, 2);
    assert.equal(pusher.stats.failed, 3 + 1, 'three tries for n=2; n=3 found the spool undeliverable after one');
    rx.setStatus(200);
    await pusher.submit('{"n":4}');
    assert.deepEqual(rx.got, [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
    assert.deepEqual(fs.readdirSync(spoolDir), []);
    assert.equal(pusher.stats.ok, 4);
    await rx.close();
  });

  test('the spool survives a restart, is bounded (oldest dropped), and a 4xx drops the document', async () => {
    const rx = await receiver();
    const spoolDir = path.join(dir, 'spool2');
    rx.setStatus(500);
    const first = new Pusher({ url: rx.url, spoolDir, spoolMaxBytes: 50, attempts: 1 });
    for (let i = 0; i < 6; i++) await first.submit(`{"n":${i},"pad":"xxxxxxx"}`);
    assert.ok(first.stats.dropped >= 3);
    assert.ok(first.stats.spoolBytes <= 50);
    rx.setStatus(200);
    const second = new Pusher({ url: rx.url, spoolDir, spoolMaxBytes: 50, attempts: 1 });
    await second.submit('{"n":99}');
    assert.deepEqual(rx.got.map((d) => (d as { n: number }).n), [4, 5, 99], 'the newest survived, in order');
    rx.setStatus(400);
    await second.submit('{"n":100}');
    assert.equal(second.stats.rejected, 1);
    assert.deepEqual(fs.readdirSync(spoolDir), []);
    await rx.close();
  });
});

describe('scheduler and metrics', () => {
  test('a cycle over well and badly behaved agents; back-off; the exposition parses', async () => {
    const root = path.join(dir, 'fleet');
    fs.mkdirSync(root);
    const kinds: FakeBehaviour[] = ['normal', 'normal', 'hung', 'frozen', 'disconnecting', 'garbage', 'old', 'stale'];
    const fakes = await Promise.all(kinds.map((k, i) => FakeAgent.listen(path.join(root, `${k}${i}.agent`), { behaviour: k, index: i })));
    const scheduler = new PollScheduler({
      socketGlobs: [path.join(root, '*.agent')], libvirtDomains: [], intervalSeconds: 1, concurrency: 4, vmTimeoutSeconds: 0.5,
      maxBackoffSeconds: 8, excludeInterface: /^lo$/, excludeDisk: /^vda\d+$/, osInfoEvery: 10,
    });
    try {
      const r1 = await scheduler.runCycle();
      assert.deepEqual(r1.failed, ['disconnecting4', 'garbage5', 'hung2']);
      assert.ok(r1.finished - r1.started < 2000, 'the hung agent costs one budget, not more');
      const r2 = await scheduler.runCycle();
      assert.deepEqual(r2.skipped, [], 'after one failure a VM is tried again at the next cycle');
      assert.equal(scheduler.backoffSeconds(scheduler.vms.get('hung2')!), 1, 'one interval of extra wait');
      const r3 = await scheduler.runCycle();
      assert.deepEqual(r3.skipped.sort(), ['disconnecting4', 'garbage5', 'hung2'], 'after two it sits one cycle out');

      const registry = createMonitorRegistry({ scheduler, push: () => null }, { processMetrics: false });
      const families = parseExposition(await registry.metrics());
      assert.equal(families.get('qga_up')!.type, 'GAUGE');
      assert.equal(families.get('qga_cpu_seconds_total')!.type, 'COUNTER');
      assert.equal(sampleValue(families, 'qga_up', { vm: 'normal0' }), 1);
      assert.equal(sampleValue(families, 'qga_up', { vm: 'hung2' }), 0);
      assert.equal(sampleValue(families, 'qga_poll_errors_total', { vm: 'garbage5', reason: 'protocol' }), 2);
      assert.equal(sampleValue(families, 'qga_poll_errors_total', { vm: 'disconnecting4', reason: 'connection' }), 2);
      assert.equal(sampleValue(families, 'qga_filesystem_size_bytes', { vm: 'normal0', mountpoint: '/data', device: 'vdb', fstype: 'xfs' }), 400 * 1024 ** 3);
      assert.equal(sampleValue(families, 'qga_memory_total_bytes', { vm: 'normal1' }), 4 * 1024 ** 3);
      assert.equal(sampleValue(families, 'qga_memory_total_bytes', { vm: 'old6' }), undefined, 'qemu-ga 7.2 has no memory stats');
      assert.equal(sampleValue(families, 'qga_command_available', { vm: 'old6', command: 'guest-get-memory-stats' }), 0);
      assert.equal(sampleValue(families, 'qga_guest_frozen', { vm: 'frozen3' }), 1);
      assert.equal(sampleValue(families, 'qga_filesystem_size_bytes', { vm: 'frozen3' }), undefined, 'a frozen guest refuses fsinfo: skipped');
      assert.ok(sampleValue(families, 'qga_cpu_usage_ratio', { vm: 'normal0' })! > 0);
      assert.equal(sampleValue(families, 'qga_network_receive_bytes_total', { vm: 'normal0', interface: 'lo' }), undefined, 'lo is excluded');
      assert.ok(sampleValue(families, 'qga_disk_read_bytes_total', { vm: 'stale7', device: 'vda' })! > 0);
      assert.equal(sampleValue(families, 'qga_disk_read_bytes_total', { vm: 'stale7', device: 'vda1' }), undefined, 'partitions excluded');
      assert.equal(sampleValue(families, 'qga_poll_backoff_seconds', { vm: 'hung2' }), 0, 'polled again at the next cycle');
    } finally {
      await scheduler.stop();
      await Promise.all(fakes.map((f) => f.close()));
    }
  });
});
