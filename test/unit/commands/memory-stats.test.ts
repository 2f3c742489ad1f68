import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { describe, test } from 'node:test';
import { createMemoryStatsHandlers, defaultMemoryStatsDeps, PROC_MEMINFO } from '../../../src/commands/memory-stats';
import type { CommandContext } from '../../../src/dispatch/command-context';
import { qdictOrder } from '../../../src/protocol/qdict-order';
import { createInjector } from '../../support/inject';
import { readFixture } from '../platform/linux/fixture';

const ctx = {} as CommandContext;
const MEMBERS = ['total', 'free', 'available', 'buffers', 'cached', 'swap-total', 'swap-free'] as const;

/** The handler's answer, always as a promise (a handler may also answer synchronously). */
const stats = async (h: ReturnType<typeof handlersReading>) => h['guest-get-memory-stats']({}, ctx);

function handlersReading(text: string | Error) {
  return createMemoryStatsHandlers({
    meminfoPath: '/proc/meminfo',
    readTextFile: async (p) => {
      assert.equal(p, '/proc/meminfo');
      if (text instanceof Error) throw text;
      return text;
    },
  });
}

describe('guest-get-memory-stats', () => {
  test('the captured /proc/meminfo: every figure in bytes (kB × 1024), in schema member order', async () => {
    const r = await handlersReading(readFixture('proc-meminfo.txt'))['guest-get-memory-stats']({}, ctx);
    assert.deepEqual(r, {
      total: 24683620n * 1024n,
      free: 24253152n * 1024n,
      available: 24339692n * 1024n,
      buffers: 14320n * 1024n,
      cached: 258772n * 1024n,
      'swap-total': 0n,
      'swap-free': 0n,
    });
    assert.deepEqual(Object.keys(r), [...MEMBERS]);
  });

  test('on the wire: exact integers, QDict member order, id echoed', async () => {
    const inj = createInjector({ handlers: handlersReading(readFixture('proc-meminfo.txt')) });
    const reply = await inj.text('{"execute":"guest-get-memory-stats","id":3}');
    const values: Record<string, bigint> = {
      total: 25276026880n, free: 24835227648n, available: 24923844608n, buffers: 14663680n, cached: 264982528n, 'swap-total': 0n, 'swap-free': 0n,
    };
    const body = qdictOrder([...MEMBERS]).map((m) => `"${m}": ${values[m]}`).join(', ');
    assert.equal(reply, `{"return": {${body}}, "id": 3}\n`);
  });

  test('an old kernel without MemAvailable: the member is left out, not zero', async () => {
    const r = await handlersReading('MemTotal: 1024 kB\nMemFree: 512 kB\nBuffers: 1 kB\nCached: 2 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n')['guest-get-memory-stats']({}, ctx);
    assert.equal('available' in r && r.available !== undefined, false);
    const inj = createInjector({ handlers: handlersReading('MemTotal: 1 kB\nMemFree: 1 kB\n') });
    assert.equal(await inj.text('{"execute":"guest-get-memory-stats"}'), `{"return": {${qdictOrder(['total', 'free']).map((m) => `"${m}": 1024`).join(', ')}}}\n`);
  });

  test('arguments are refused like any argument-less command', async () => {
    const inj = createInjector({ handlers: handlersReading('MemTotal: 1 kB\nMemFree: 1 kB\n') });
    assert.equal(
      await inj.text('{"execute":"guest-get-memory-stats","arguments":{"x":1}}'),
      `{"error": {"class": "GenericError", "desc": "Parameter 'x' is unexpected"}}\n`,
    );
  });

  test('an unreadable /proc/meminfo: the open text with strerror', async () => {
    const err = Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    await assert.rejects(stats(handlersReading(err)), {
      errorClass: 'GenericError',
      desc: 'open("/proc/meminfo"): No such file or directory',
    });
  });

  test('MemTotal or MemFree missing is an error that names the field', async () => {
    await assert.rejects(stats(handlersReading('MemFree: 1 kB\n')), { desc: '/proc/meminfo does not report MemTotal' });
    await assert.rejects(stats(handlersReading('MemTotal: 1 kB\n')), { desc: '/proc/meminfo does not report MemFree' });
  });

  test('the real /proc/meminfo of this machine, through the default deps', { skip: fs.existsSync(PROC_MEMINFO) ? false : 'no /proc/meminfo' }, async () => {
    const r = await createMemoryStatsHandlers(defaultMemoryStatsDeps())['guest-get-memory-stats']({}, ctx);
    const total = BigInt(r.total);
    assert.ok(total > 0n && BigInt(r.free) <= total);
    assert.ok(r.available !== undefined && BigInt(r.available) <= total);
    assert.equal(total % 1024n, 0n);
  });
});
