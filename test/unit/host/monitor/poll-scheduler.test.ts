/**
 * The scheduler never waits without a bound: a route that ignores its abort signal, a close that
 * never ends, a discovery that never comes back. Each fake below holds a promise pending for good;
 * the scheduler must end the cycle (and stop) anyway, with the VM failed as a timeout. The test
 * timeouts only turn a regression into a failure instead of a hung run.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AgentRoute } from '../../../../src/host/agent-route';
import { QgaConnectionError } from '../../../../src/host/client-errors';
import { PollScheduler, type SchedulerOptions } from '../../../../src/host/monitor/poll-scheduler';
import type { DiscoveryFs } from '../../../../src/host/monitor/targets';

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

/** Sockets that exist only in this listing; the routes to them are fakes. */
function listing(names: string[]): DiscoveryFs & { hang: boolean } {
  const fs = {
    hang: false,
    readdir: async (dir: string) => (fs.hang ? never<string[]>() : dir === '/fleet' ? names : []),
    isSocket: async () => true,
  };
  return fs;
}

function scheduler(opts: Partial<SchedulerOptions> & Pick<SchedulerOptions, 'makeRoute' | 'fs'>): PollScheduler {
  return new PollScheduler({
    socketGlobs: ['/fleet/*.agent'], libvirtDomains: [], intervalSeconds: 1, concurrency: 2, vmTimeoutSeconds: 0.2,
    maxBackoffSeconds: 8, excludeInterface: /^lo$/, excludeDisk: /^$/, osInfoEvery: 10, abandonGraceMs: 100, ...opts,
  });
}

async function timed<T>(work: Promise<T>): Promise<[T, number]> {
  const t0 = Date.now();
  const value = await work;
  return [value, Date.now() - t0];
}

describe('nothing in a cycle waits without a bound', { timeout: 10_000 }, () => {
  test('a route that never answers and ignores the abort: the slot gives up after budget + grace', async () => {
    const routes: { aborted: boolean }[] = [];
    const s = scheduler({
      fs: listing(['stuck.agent', 'other.agent']),
      makeRoute: (target): AgentRoute => {
        const seen = { aborted: false };
        routes.push(seen);
        return {
          target: target.vm,
          exchange: (_req, options) => {
            options.signal?.addEventListener('abort', () => (seen.aborted = true));
            return target.vm === 'stuck' ? never() : Promise.reject(new QgaConnectionError('refused', 'ECONNREFUSED'));
          },
          close: async () => undefined,
        };
      },
    });
    const [report, ms] = await timed(s.runCycle());
    assert.deepEqual(report.failed, ['other', 'stuck']);
    assert.ok(ms < 1500, `the cycle took ${ms} ms; budget 200 + grace 100`);
    const stuck = s.vms.get('stuck')!;
    assert.equal(stuck.lastError!.reason, 'timeout');
    assert.match(stuck.lastError!.message, /no complete poll within 0.2 s .*did not give up/);
    assert.equal(s.vms.get('other')!.lastError!.reason, 'connection');
    assert.ok(routes.some((r) => r.aborted), 'the route was told to stop');
    await s.stop();
  });

  test('stop() while a route ignores the abort: the cycle still ends', async () => {
    const s = scheduler({ fs: listing(['stuck.agent']), vmTimeoutSeconds: 60, makeRoute: (t) => ({ target: t.vm, exchange: () => never(), close: async () => undefined }) });
    const cycle = s.runCycle();
    await new Promise((r) => setTimeout(r, 50));
    const [, stopMs] = await timed(s.stop());
    const [report, ms] = await timed(cycle);
    assert.ok(stopMs + ms < 1500, `stop ${stopMs} ms, then the cycle ${ms} ms`);
    assert.deepEqual(report.failed, ['stuck']);
  });

  test('a close that never ends: neither the cycle nor stop() waits for it beyond its grace', async () => {
    let closes = 0;
    const s = scheduler({
      fs: listing(['a.agent', 'b.agent']),
      closeGraceMs: 50,
      makeRoute: (t) => ({
        target: t.vm,
        exchange: () => Promise.reject(new QgaConnectionError('refused', 'ECONNREFUSED')),
        close: () => {
          closes++;
          return never();
        },
      }),
    });
    const [report, ms] = await timed(s.runCycle());
    assert.deepEqual(report.failed, ['a', 'b']);
    assert.ok(ms < 500, `cycle ${ms} ms`);
    const [, stopMs] = await timed(s.stop());
    assert.equal(closes, 2);
    assert.ok(stopMs < 1000, `stop() took ${stopMs} ms; close grace 50 + 100`);
  });

  test('a discovery that never comes back: the cycle goes on with the VMs it knew, and says why', async () => {
    const fs = listing(['a.agent']);
    let polls = 0;
    const s = scheduler({
      fs,
      discoveryTimeoutMs: 200,
      makeRoute: (t) => ({
        target: t.vm,
        exchange: () => {
          polls++;
          return Promise.reject(new QgaConnectionError('refused', 'ECONNREFUSED'));
        },
        close: async () => undefined,
      }),
    });
    const r1 = await s.runCycle();
    assert.deepEqual(r1.polled, ['a']);
    fs.hang = true;
    const [r2, ms] = await timed(s.runCycle());
    assert.ok(ms < 1000, `cycle ${ms} ms`);
    assert.deepEqual(r2.polled, ['a'], 'a failed once, so it is due again, and it was not forgotten');
    assert.match(r2.discoveryProblems.join('\n'), /discovery did not finish within 200 ms/);
    assert.equal(polls, 2);
    assert.ok(s.vms.has('a'));
    await s.stop();
  });
});
