/**
 * qga-monitor against a fleet on loopback unix sockets: real qga-ts processes (bin/qga-ts,
 * QGA_E2E_REAL_AGENTS of them, 20 by default: each is a Node process, and the machine has two
 * cores), real qemu-ga 7.2 processes, and fakes, healthy and misbehaving (hung, frozen,
 * disconnecting, garbage-writing, stale leftovers, an old agent), 50 VMs or more in all.
 * /metrics is scraped over HTTP and read with a real Prometheus text parser; pushes go to a local
 * HTTP receiver that goes down for one cycle (spooled, then delivered in order).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildMonitorConfig, parseMonitorArgs } from '../../../src/host/monitor/monitor-config';
import { startMonitor, type RunningMonitor } from '../../../src/host/monitor/monitor-service';
import { QEMU_GA_BIN, QGA_TS_BIN, qemuGaAvailable, startAgent, type RunningAgent } from '../../support/agent-process';
import { repoPath } from '../../support/repo';
import { FakeAgent, type FakeBehaviour } from './fake-agent';
import { parseExposition, sampleValue, type PrometheusFamily } from './prometheus-text';

const built = fs.existsSync(repoPath('dist', 'src', 'main.js')) && fs.existsSync(repoPath('dist', 'src', 'host', 'monitor', 'monitor-cli.js'));
const REAL_QGA_TS = built ? Number(process.env['QGA_E2E_REAL_AGENTS'] ?? 20) : 0;
const REAL_QEMU_GA = qemuGaAvailable() ? 5 : 0;
const MISBEHAVING: FakeBehaviour[] = ['hung', 'hung', 'frozen', 'frozen', 'disconnecting', 'disconnecting', 'garbage', 'garbage', 'stale', 'old'];
const TOTAL = Math.max(55, REAL_QGA_TS + REAL_QEMU_GA + MISBEHAVING.length + 5);
const HEALTHY_FAKES = TOTAL - REAL_QGA_TS - REAL_QEMU_GA - MISBEHAVING.length;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-fleet-'));
const fleet = path.join(dir, 'fleet');
fs.mkdirSync(fleet);
const agents: RunningAgent[] = [];
const fakes: FakeAgent[] = [];
const expected = new Map<string, 'qga-ts' | 'qemu-ga' | FakeBehaviour>();

interface Receiver {
  url: string;
  docs: { cycle: number; vms: { vm: string; ok: boolean; [k: string]: unknown }[] }[];
  down: boolean;
  close(): Promise<void>;
}
let receiver: Receiver;
let monitor: RunningMonitor;

before(async () => {
  const starts: Promise<void>[] = [];
  for (let i = 0; i < REAL_QGA_TS; i++) {
    starts.push(startAgent({ binary: QGA_TS_BIN }).then((a) => {
      agents.push(a);
      fs.symlinkSync(a.socket, path.join(fleet, `qgats-${i}.agent`));
      expected.set(`qgats-${i}`, 'qga-ts');
    }));
  }
  for (let i = 0; i < REAL_QEMU_GA; i++) {
    starts.push(startAgent({ binary: QEMU_GA_BIN }).then((a) => {
      agents.push(a);
      fs.symlinkSync(a.socket, path.join(fleet, `qemuga-${i}.agent`));
      expected.set(`qemuga-${i}`, 'qemu-ga');
    }));
  }
  const behaviours: FakeBehaviour[] = [...MISBEHAVING, ...Array<FakeBehaviour>(HEALTHY_FAKES).fill('normal')];
  behaviours.forEach((b, i) => {
    const name = `fake-${b}-${i}`;
    expected.set(name, b);
    starts.push(FakeAgent.listen(path.join(fleet, `${name}.agent`), { behaviour: b, index: i }).then((f) => void fakes.push(f)));
  });
  await Promise.all(starts);

  const docs: Receiver['docs'] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (receiver.down) return void res.writeHead(503).end();
      docs.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  receiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/vm-metrics`,
    docs,
    down: false,
    close: () => new Promise((r) => server.close(() => r())),
  };
  const config = buildMonitorConfig(
    null,
    parseMonitorArgs([
      '--socket-glob', path.join(fleet, '*.agent'),
      '--listen', '127.0.0.1:0',
      '--push', receiver.url,
      '--spool-dir', path.join(dir, 'spool'),
      '--concurrency', '8',
      '--timeout', '3',
      '--log-level', 'silent',
    ]),
  );
  monitor = await startMonitor(config, { pushRetryDelayMs: 10 });
});

after(async () => {
  await monitor?.stop();
  await receiver?.close();
  await Promise.all(fakes.map((f) => f.close()));
  await Promise.all(agents.map((a) => a.stop('SIGKILL')));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function scrape(): Promise<Map<string, PrometheusFamily>> {
  const a = monitor.address()!;
  const res = await fetch(`http://127.0.0.1:${a.port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

describe(`qga-monitor over ${TOTAL} agents (${REAL_QGA_TS} qga-ts, ${REAL_QEMU_GA} qemu-ga, ${MISBEHAVING.length} misbehaving fakes, ${HEALTHY_FAKES} healthy fakes)`, () => {
  test('one cycle: every healthy guest up, the misbehaving ones failed alone and quickly', async () => {
    assert.ok(expected.size >= 50);
    const report = await monitor.runCycle();
    const seconds = (report.finished - report.started) / 1000;
    assert.equal(report.polled.length, TOTAL);
    assert.deepEqual(report.failed, [...expected].filter(([, k]) => ['hung', 'disconnecting', 'garbage'].includes(k)).map(([vm]) => vm).sort());
    // two hung guests cost one 3 s budget each, in parallel with everything else
    assert.ok(seconds < 20, `cycle took ${seconds} s`);

    const m = await scrape();
    assert.equal(sampleValue(m, 'qga_monitor_vms'), TOTAL);
    for (const [vm, kind] of expected) {
      const up = sampleValue(m, 'qga_up', { vm });
      if (['hung', 'disconnecting', 'garbage'].includes(kind)) {
        assert.equal(up, 0, vm);
        const reason = kind === 'hung' ? 'timeout' : kind === 'garbage' ? 'protocol' : 'connection';
        assert.equal(sampleValue(m, 'qga_poll_errors_total', { vm, reason }), 1, `${vm} ${reason}`);
        assert.equal(sampleValue(m, 'qga_filesystem_size_bytes', { vm }), undefined);
        continue;
      }
      assert.equal(up, 1, vm);
      if (kind === 'frozen') {
        assert.equal(sampleValue(m, 'qga_guest_frozen', { vm }), 1);
        assert.equal(sampleValue(m, 'qga_filesystem_size_bytes', { vm }), undefined, 'a frozen guest is not asked for what it refuses');
        continue;
      }
      assert.equal(sampleValue(m, 'qga_guest_frozen', { vm }), 0, vm);
      assert.ok(sampleValue(m, 'qga_filesystem_size_bytes', { vm, mountpoint: '/' })! > 0, `${vm} has /`);
      assert.ok(sampleValue(m, 'qga_cpu_seconds_total', { vm, mode: 'user' })! > 0, `${vm} cpu`);
      if (kind === 'qga-ts' || kind === 'normal' || kind === 'stale') {
        assert.ok(sampleValue(m, 'qga_memory_total_bytes', { vm })! > 0, `${vm} memory`);
        assert.ok(sampleValue(m, 'qga_filesystem_files', { vm, mountpoint: '/' })! > 0, `${vm} inodes from statvfs`);
        assert.ok(sampleValue(m, 'qga_load1', { vm })! >= 0, `${vm} load`);
      }
      if (kind === 'qemu-ga' || kind === 'old') {
        assert.equal(sampleValue(m, 'qga_memory_total_bytes', { vm }), undefined);
        assert.equal(sampleValue(m, 'qga_command_available', { vm, command: 'guest-get-memory-stats' }), 0, `${vm}: not available, not an error`);
        assert.equal(sampleValue(m, 'qga_collector_errors_total', { vm }), undefined);
      }
    }
    // the real agents report this machine's root filesystem: compare with the host's own statfs
    const root = fs.statfsSync('/');
    for (const [vm, kind] of expected) {
      if (kind !== 'qga-ts') continue;
      assert.equal(sampleValue(m, 'qga_filesystem_size_bytes', { vm, mountpoint: '/' }), root.blocks * root.bsize, vm);
    }
    assert.ok(sampleValue(m, 'process_resident_memory_bytes')! > 0, 'the monitor reports on itself');
    assert.equal(receiver.docs.length, 1);
    assert.equal(receiver.docs[0]!.vms.length, TOTAL);
    assert.equal(receiver.docs[0]!.vms.filter((v) => v.ok).length, TOTAL - 6);
  });

  test('a receiver outage: the cycle is spooled, then delivered before the next one; rates appear', async () => {
    receiver.down = true;
    await monitor.runCycle();
    assert.equal(receiver.docs.length, 1);
    assert.equal(monitor.pusher!.stats.spoolDocuments, 1);
    let m = await scrape();
    assert.equal(sampleValue(m, 'qga_monitor_push_spool_documents'), 1);
    receiver.down = false;
    const r3 = await monitor.runCycle();
    assert.deepEqual(receiver.docs.map((d) => d.cycle), [1, 2, 3]);
    assert.equal(monitor.pusher!.stats.spoolDocuments, 0);
    // cycle 3: hung, disconnecting and garbage failed twice and now sit one cycle out
    assert.equal(r3.skipped.length, 6);
    const doc = receiver.docs[2]!;
    const healthy = doc.vms.find((v) => v.vm === `fake-normal-${MISBEHAVING.length}`) as unknown as { cpu: { usage_ratio: number }; interfaces: { interface: string; rx_bytes_per_second: number }[] };
    assert.ok(healthy.cpu.usage_ratio > 0 && healthy.cpu.usage_ratio < 1);
    assert.ok(healthy.interfaces[0]!.rx_bytes_per_second > 0);
    assert.ok(doc.vms.some((v) => v['skipped'] === true));
    m = await scrape();
    assert.equal(sampleValue(m, 'qga_monitor_push_total', { result: 'ok' }), 3);
    const health = await (await fetch(`http://127.0.0.1:${monitor.address()!.port}/healthz`)).json() as { status: string; vms: number; failing: unknown[] };
    assert.equal(health.status, 'ok');
    assert.equal(health.vms, TOTAL);
    assert.equal(health.failing.length, 6);
  });

  test('bin/qga-monitor --once prints one cycle as JSON', { skip: built ? false : 'not built' }, async () => {
    // Not spawnSync: the fakes live in this process and must keep answering.
    const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const args = [repoPath('bin', 'qga-monitor'), '--once', '--socket-glob', path.join(fleet, 'q*.agent'), '--socket-glob', path.join(fleet, 'fake-frozen-*.agent'), '--log-level', 'silent'];
      execFile(process.execPath, args, { encoding: 'utf8', timeout: 60000 }, (err, stdout, stderr) => resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
    });
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { vms: { vm: string; ok: boolean; frozen?: boolean }[] };
    assert.equal(doc.vms.length, REAL_QGA_TS + REAL_QEMU_GA + 2);
    assert.deepEqual(doc.vms.filter((v) => !v.ok), []);
    assert.ok(doc.vms.filter((v) => v.frozen).length === 2);
  });
});
