/**
 * qga-monitor against a fleet on loopback unix sockets: real qga-ts processes (bin/qga-ts,
 * QGA_E2E_REAL_AGENTS of them, 20 by default: each is a Node process, and the machine has two
 * cores; each gets QGA_E2E_AGENT_START_TIMEOUT_MS, 60000 by default, to listen), real qemu-ga
 * 7.2 processes, and fakes, healthy and misbehaving (hung, frozen, disconnecting,
 * garbage-writing, stale leftovers, an old agent), 50 VMs or more in all.
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
import type { CycleReport } from '../../../src/host/monitor/poll-scheduler';
import { settleWithin } from '../../../src/host/monitor/settle-within';
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

/**
 * Every await below ends: a hang fails with a message (and the suite's timeout is only a
 * backstop). The machine may be loaded by QEMU VMs and a parallel test file, so the bounds are
 * generous; the agents start a few at a time, each with its own deadline, rather than twenty-five
 * Node processes fighting for two cores at once.
 */
const AGENT_START_TIMEOUT_MS = Number(process.env['QGA_E2E_AGENT_START_TIMEOUT_MS'] ?? 60_000);
const AGENT_START_CONCURRENCY = 4;
const CYCLE_BOUND_MS = 90_000;
const HTTP_BOUND_MS = 15_000;
const TEST_TIMEOUT_MS = 4 * 60_000;
const SUITE_TIMEOUT_MS = 12 * 60_000;

function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  return settleWithin(work, ms, () => new Error(`${what} did not finish within ${ms / 1000} s`));
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-fleet-'));
const fleet = path.join(dir, 'fleet');
fs.mkdirSync(fleet);
const agents: RunningAgent[] = [];
const fakes: FakeAgent[] = [];
const expected = new Map<string, 'qga-ts' | 'qemu-ga' | FakeBehaviour>();
/** set by after(): an agent that finishes starting later is stopped at once, not leaked */
let shuttingDown = false;
let startup: Promise<void> = Promise.resolve();

interface Receiver {
  url: string;
  docs: { cycle: number; vms: { vm: string; ok: boolean; [k: string]: unknown }[] }[];
  down: boolean;
  close(): Promise<void>;
}
let receiver: Receiver | undefined;
let monitor: RunningMonitor | undefined;

/**
 * Start the real agents, AGENT_START_CONCURRENCY at a time. Every agent is in `agents` as soon as
 * it listens (startAgent kills one that does not), so after() can stop all of them whatever
 * happened; after the first failure no more are started, and the failure is thrown once the
 * starts in flight have ended.
 */
async function startRealAgents(): Promise<void> {
  const jobs: { binary: string; name: string; kind: 'qga-ts' | 'qemu-ga' }[] = [];
  for (let i = 0; i < REAL_QGA_TS; i++) jobs.push({ binary: QGA_TS_BIN, name: `qgats-${i}`, kind: 'qga-ts' });
  for (let i = 0; i < REAL_QEMU_GA; i++) jobs.push({ binary: QEMU_GA_BIN, name: `qemuga-${i}`, kind: 'qemu-ga' });
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length && failures.length === 0 && !shuttingDown) {
      const job = jobs[next++]!;
      const t0 = Date.now();
      try {
        const a = await startAgent({ binary: job.binary, startTimeoutMs: AGENT_START_TIMEOUT_MS });
        agents.push(a);
        if (shuttingDown) return;
        fs.symlinkSync(a.socket, path.join(fleet, `${job.name}.agent`));
        expected.set(job.name, job.kind);
      } catch (e) {
        failures.push(`${job.name} (${job.kind}) after ${Date.now() - t0} ms: ${(e as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(AGENT_START_CONCURRENCY, jobs.length) }, worker));
  if (failures.length > 0) throw new Error(`real agents did not start: ${failures.join('; ')}`);
}

before(async () => {
  startup = startRealAgents();
  startup.catch(() => undefined); // awaited below and in after(); not an unhandled rejection meanwhile
  const behaviours: FakeBehaviour[] = [...MISBEHAVING, ...Array<FakeBehaviour>(HEALTHY_FAKES).fill('normal')];
  const fakeStarts = behaviours.map((b, i) => {
    const name = `fake-${b}-${i}`;
    expected.set(name, b);
    return FakeAgent.listen(path.join(fleet, `${name}.agent`), { behaviour: b, index: i }).then(async (f) => {
      fakes.push(f);
      if (shuttingDown) await f.close();
    });
  });
  await within(30_000, 'starting the fakes', Promise.all(fakeStarts));
  // startRealAgents bounds itself: each start has its deadline, and no new one begins after a failure.
  await startup;

  const docs: Receiver['docs'] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (receiver!.down) return void res.writeHead(503).end();
      docs.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  receiver = {
    url: '',
    docs,
    down: false,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
  await within(HTTP_BOUND_MS, 'the receiver listening', new Promise<void>((r) => server.listen(0, '127.0.0.1', r)));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/vm-metrics`;
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
  monitor = await within(HTTP_BOUND_MS, 'starting the monitor', startMonitor(config, { pushRetryDelayMs: 10 }));
}, { timeout: SUITE_TIMEOUT_MS });

after(async () => {
  shuttingDown = true;
  // Each step is bounded and runs whatever happened before it: a leaked agent or server would
  // keep this process alive after the last test, and the runner waiting for it forever.
  const problems: string[] = [];
  const step = async (ms: number, what: string, work: () => Promise<unknown>) => {
    try {
      await within(ms, what, work());
    } catch (e) {
      problems.push((e as Error).message);
    }
  };
  await step(AGENT_START_TIMEOUT_MS + 10_000, 'agent start-up', () => startup.catch(() => undefined));
  await step(60_000, 'stopping the monitor', async () => monitor?.stop());
  await step(HTTP_BOUND_MS, 'closing the receiver', async () => receiver?.close());
  await step(HTTP_BOUND_MS, 'closing the fakes', () => Promise.all(fakes.map((f) => f.close())));
  await step(30_000, 'stopping the agents', () => Promise.all(agents.map((a) => a.stop('SIGKILL'))));
  for (const a of agents) fs.rmSync(a.dir, { recursive: true, force: true });
  fs.rmSync(dir, { recursive: true, force: true });
  if (problems.length > 0) throw new Error(`cleanup: ${problems.join('; ')}`);
}, { timeout: 5 * 60_000 });

async function scrape(): Promise<Map<string, PrometheusFamily>> {
  const a = monitor!.address()!;
  const text = await within(HTTP_BOUND_MS, 'scraping /metrics', (async () => {
    const res = await fetch(`http://127.0.0.1:${a.port}/metrics`, { signal: AbortSignal.timeout(HTTP_BOUND_MS) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return res.text();
  })());
  return parseExposition(text);
}

function runCycle(): Promise<CycleReport> {
  return within(CYCLE_BOUND_MS, `monitor cycle ${monitor!.scheduler.cycle + 1}`, monitor!.runCycle());
}

describe(`qga-monitor over ${TOTAL} agents (${REAL_QGA_TS} qga-ts, ${REAL_QEMU_GA} qemu-ga, ${MISBEHAVING.length} misbehaving fakes, ${HEALTHY_FAKES} healthy fakes)`, { timeout: SUITE_TIMEOUT_MS }, () => {
  test('one cycle: every healthy guest up, the misbehaving ones failed alone and quickly', { timeout: TEST_TIMEOUT_MS }, async () => {
    assert.ok(expected.size >= 50);
    const report = await runCycle();
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
    assert.equal(receiver!.docs.length, 1);
    assert.equal(receiver!.docs[0]!.vms.length, TOTAL);
    assert.equal(receiver!.docs[0]!.vms.filter((v) => v.ok).length, TOTAL - 6);
  });

  test('a receiver outage: the cycle is spooled, then delivered before the next one; rates appear', { timeout: TEST_TIMEOUT_MS }, async () => {
    receiver!.down = true;
    await runCycle();
    assert.equal(receiver!.docs.length, 1);
    assert.equal(monitor!.pusher!.stats.spoolDocuments, 1);
    let m = await scrape();
    assert.equal(sampleValue(m, 'qga_monitor_push_spool_documents'), 1);
    receiver!.down = false;
    const r3 = await runCycle();
    assert.deepEqual(receiver!.docs.map((d) => d.cycle), [1, 2, 3]);
    assert.equal(monitor!.pusher!.stats.spoolDocuments, 0);
    // cycle 3: hung, disconnecting and garbage failed twice and now sit one cycle out
    assert.equal(r3.skipped.length, 6);
    const doc = receiver!.docs[2]!;
    const healthy = doc.vms.find((v) => v.vm === `fake-normal-${MISBEHAVING.length}`) as unknown as { cpu: { usage_ratio: number }; interfaces: { interface: string; rx_bytes_per_second: number }[] };
    assert.ok(healthy.cpu.usage_ratio > 0 && healthy.cpu.usage_ratio < 1);
    assert.ok(healthy.interfaces[0]!.rx_bytes_per_second > 0);
    assert.ok(doc.vms.some((v) => v['skipped'] === true));
    m = await scrape();
    assert.equal(sampleValue(m, 'qga_monitor_push_total', { result: 'ok' }), 3);
    const health = await within(HTTP_BOUND_MS, 'reading /healthz', (async () => {
      const res = await fetch(`http://127.0.0.1:${monitor!.address()!.port}/healthz`, { signal: AbortSignal.timeout(HTTP_BOUND_MS) });
      return (await res.json()) as { status: string; vms: number; failing: unknown[] };
    })());
    assert.equal(health.status, 'ok');
    assert.equal(health.vms, TOTAL);
    assert.equal(health.failing.length, 6);
  });

  test('bin/qga-monitor --once prints one cycle as JSON', { skip: built ? false : 'not built', timeout: TEST_TIMEOUT_MS }, async () => {
    // Not spawnSync: the fakes live in this process and must keep answering.
    // execFile's own timeout kills the child; within() also covers output pipes that stay open.
    const r = await within(CYCLE_BOUND_MS, 'bin/qga-monitor --once', new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const args = [repoPath('bin', 'qga-monitor'), '--once', '--socket-glob', path.join(fleet, 'q*.agent'), '--socket-glob', path.join(fleet, 'fake-frozen-*.agent'), '--log-level', 'silent'];
      execFile(process.execPath, args, { encoding: 'utf8', timeout: 60000, killSignal: 'SIGKILL' }, (err, stdout, stderr) => resolve({ status: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr }));
    }));
    assert.equal(r.status, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { vms: { vm: string; ok: boolean; frozen?: boolean }[] };
    assert.equal(doc.vms.length, REAL_QGA_TS + REAL_QEMU_GA + 2);
    assert.deepEqual(doc.vms.filter((v) => !v.ok), []);
    assert.ok(doc.vms.filter((v) => v.frozen).length === 2);
  });
});
