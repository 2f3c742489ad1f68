/**
 * Every push try ends within requestTimeoutMs, whatever the receiver or the fetch does: a fetch
 * that never settles (and ignores its abort signal), an answer whose body never ends, a real
 * receiver that takes the request and never answers. The document is spooled, never lost, and
 * the cycle that handed it over goes on.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { Pusher } from '../../../../src/host/monitor/push';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-push-bounds-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;

const never = <T>(): Promise<T> => new Promise<T>(() => undefined);

async function timed<T>(work: Promise<T>): Promise<[T, number]> {
  const t0 = Date.now();
  const value = await work;
  return [value, Date.now() - t0];
}

function pusher(fetchImpl: typeof fetch | undefined, url = 'http://127.0.0.1:9/push'): { p: Pusher; spoolDir: string } {
  const spoolDir = path.join(dir, `spool${n++}`);
  return { p: new Pusher({ url, spoolDir, spoolMaxBytes: 1 << 20, attempts: 2, retryDelayMs: 1, requestTimeoutMs: 150, fetch: fetchImpl }), spoolDir };
}

describe('a push try always ends', { timeout: 10_000 }, () => {
  test('a fetch that never settles and ignores its abort: each try is given up on in time, the document spooled', async () => {
    let aborted = 0;
    const { p, spoolDir } = pusher(((_url: string, init: RequestInit) => {
      init.signal?.addEventListener('abort', () => aborted++);
      return never<Response>();
    }) as typeof fetch);
    const [, ms] = await timed(p.submit('{"n":1}'));
    assert.ok(ms < 1500, `submit took ${ms} ms; two tries of 150 ms`);
    assert.equal(p.stats.failed, 2);
    assert.equal(aborted, 2, 'each request was aborted at its deadline');
    assert.deepEqual(fs.readdirSync(spoolDir).length, 1);
    await p.idle();
  });

  test('an answer whose body never ends: the try is given up on too', async () => {
    const { p, spoolDir } = pusher((async () => ({ ok: true, status: 200, arrayBuffer: () => never<ArrayBuffer>() }) as unknown as Response) as typeof fetch);
    const [, ms] = await timed(p.submit('{"n":2}'));
    assert.ok(ms < 1500, `submit took ${ms} ms`);
    assert.equal(p.stats.ok, 0);
    assert.equal(p.stats.failed, 2);
    assert.equal(fs.readdirSync(spoolDir).length, 1);
  });

  test('a real receiver that takes the request and never answers', async () => {
    const held: http.ServerResponse[] = [];
    const server = http.createServer((req, res) => {
      req.resume();
      held.push(res); // never answered
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { p, spoolDir } = pusher(undefined, `http://127.0.0.1:${(server.address() as AddressInfo).port}/push`);
      const [, ms] = await timed(p.submit('{"n":3}'));
      assert.ok(ms < 2000, `submit took ${ms} ms`);
      assert.equal(p.stats.failed, 2);
      assert.equal(fs.readdirSync(spoolDir).length, 1);
    } finally {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
    }
  });
});
