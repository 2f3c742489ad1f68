/**
 * The service around the scheduler ends what it starts: a push receiver that never answers does
 * not stop the timer's rhythm, and a scraper holding a half-sent request does not hold stop().
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { buildMonitorConfig, parseMonitorArgs } from '../../../../src/host/monitor/monitor-config';
import { startMonitor } from '../../../../src/host/monitor/monitor-service';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-monitor-service-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);
const silent = { processMetrics: false } as const;

function config(extra: string[]) {
  return buildMonitorConfig(null, parseMonitorArgs(['--socket-glob', path.join(dir, 'none', '*.agent'), '--log-level', 'silent', ...extra]));
}

async function timed<T>(work: Promise<T>): Promise<[T, number]> {
  const t0 = Date.now();
  const value = await work;
  return [value, Date.now() - t0];
}

describe('the service never waits without a bound', { timeout: 15_000 }, () => {
  test('a push that never gets an answer: the cycle ends, the timer keeps its rhythm, stop() ends', async () => {
    const m = await startMonitor(config(['--listen', 'none', '--push', 'http://127.0.0.1:9/in', '--spool-dir', path.join(dir, 'spool'), '--interval', '0.2']), {
      ...silent,
      fetch: (() => never<Response>()) as typeof fetch,
      pushRetryDelayMs: 1,
      pushRequestTimeoutMs: 100,
    });
    const [, ms] = await timed(m.runCycle());
    assert.ok(ms < 1500, `a cycle with a silent receiver took ${ms} ms (three tries of 100 ms)`);
    assert.equal(m.pusher!.stats.spoolDocuments, 1);
    m.startTimer();
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(m.scheduler.cycle >= 3, `the timer went on: cycle ${m.scheduler.cycle}`);
    const [, stopMs] = await timed(m.stop());
    assert.ok(stopMs < 2000, `stop() took ${stopMs} ms`);
  });

  test('a scraper that sent half a request: stop() cuts it after a grace, not after Node\'s request timeout', async () => {
    const m = await startMonitor(config(['--listen', '127.0.0.1:0']), silent);
    const port = m.address()!.port;
    const scraper = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => scraper.once('connect', () => r()));
    scraper.on('error', () => undefined);
    scraper.write('GET /metrics HTTP/1.1\r\nHost: x\r\n'); // the headers never end
    const closed = new Promise<void>((r) => scraper.once('close', () => r()));
    await new Promise((r) => setTimeout(r, 100));
    const [, ms] = await timed(m.stop());
    assert.ok(ms < 3000, `stop() took ${ms} ms`);
    await closed;
  });
});
