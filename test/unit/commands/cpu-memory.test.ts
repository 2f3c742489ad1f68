/**
 * The processor and memory-block commands over fake sysfs trees. Every error text and every
 * set-vcpus / set-memory-blocks outcome below was also produced by Debian's qemu-ga 7.2 on the same
 * tree (bind-mounted over /sys/devices/system in a private mount namespace).
 */
import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { createCpuMemoryHandlers, defaultCpuMemoryDeps, type CpuMemoryDeps } from '../../../src/commands/cpu-memory';
import type { CommandContext } from '../../../src/dispatch/command-context';
import { createInjector } from '../../support/inject';
import { FakeSysfs } from './fake-sysfs';
import { readFixture } from '../platform/linux/fixture';

const ctx = {} as CommandContext;

function depsFor(sysfs: FakeSysfs, extra: Partial<CpuMemoryDeps> = {}): CpuMemoryDeps {
  return {
    open: (p, flags) => sysfs.open(p, flags),
    listDirectory: (p) => sysfs.listDirectory(p),
    readFile: async (p) => {
      const content = sysfs.content(p);
      if (content === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return Buffer.from(content);
    },
    clkTck: () => 100,
    loadAverage: () => [0.5, 0.25, 0.125],
    errnoNumber: (code) => (os.constants.errno as Record<string, number | undefined>)[code],
    ...extra,
  };
}

const CPU = '/sys/devices/system/cpu';
const MEM = '/sys/devices/system/memory';

/** cpu0 has no online file (not hot-pluggable), as on x86. */
function cpuTree(): FakeSysfs {
  return new FakeSysfs({
    [`${CPU}/cpu1/online`]: '1\n',
    [`${CPU}/cpu0`]: null,
    [`${CPU}/cpufreq`]: null,
    [`${CPU}/cpu2/online`]: '0\n',
    [`${CPU}/online`]: '0-1\n',
    [`${CPU}/cpuidle`]: null,
    [`${CPU}/cpu10/online`]: '1\n',
  });
}

async function reply(handlers: object, request: string): Promise<string> {
  const inj = createInjector({ handlers });
  return inj.text(request);
}

describe('guest-get-vcpus', () => {
  it('lists cpuN entries in readdir order; no online file means online and not offlinable', async () => {
    const h = createCpuMemoryHandlers(depsFor(cpuTree()));
    assert.equal(
      await reply(h, '{"execute":"guest-get-vcpus"}'),
      '{"return": [{"online": true, "can-offline": true, "logical-id": 1}, {"online": true, "can-offline": false, "logical-id": 0}, ' +
        '{"online": false, "can-offline": true, "logical-id": 2}, {"online": true, "can-offline": true, "logical-id": 10}]}\n',
    );
  });

  it('fails as a whole when one CPU cannot be read', async () => {
    const tree = cpuTree();
    tree.file(`${CPU}/cpu6/online`, { content: '' });
    await assert.rejects(async () => createCpuMemoryHandlers(depsFor(tree))['guest-get-vcpus']({}, ctx), {
      desc: 'pread("/sys/devices/system/cpu/cpu6//online"): unexpected EOF',
    });
    const tree2 = cpuTree();
    tree2.file(`${CPU}/cpu7/online`, { content: '1', readError: 'EIO' });
    await assert.rejects(async () => createCpuMemoryHandlers(depsFor(tree2))['guest-get-vcpus']({}, ctx), {
      desc: 'pread("/sys/devices/system/cpu/cpu7//online"): Input/output error',
    });
    const tree3 = cpuTree();
    tree3.file(`${CPU}/cpu8/online`, { content: '1', openError: 'EACCES' });
    await assert.rejects(async () => createCpuMemoryHandlers(depsFor(tree3))['guest-get-vcpus']({}, ctx), {
      desc: 'open("/sys/devices/system/cpu/cpu8//online"): Permission denied',
    });
  });

  it('reports a CPU directory it cannot list', async () => {
    await assert.rejects(async () => createCpuMemoryHandlers(depsFor(new FakeSysfs()))['guest-get-vcpus']({}, ctx), {
      desc: 'failed to list entries: /sys/devices/system/cpu: No such file or directory',
    });
  });
});

describe('guest-set-vcpus', () => {
  const set = async (tree: FakeSysfs, vcpus: Array<[number, boolean]>) =>
    createCpuMemoryHandlers(depsFor(tree))['guest-set-vcpus'](
      { vcpus: vcpus.map(([id, online]) => ({ 'logical-id': BigInt(id), online })) },
      ctx,
    );

  it('writes 0/1 only where the state differs and counts the entries', async () => {
    const tree = cpuTree();
    assert.equal(await set(tree, [[1, false], [2, true], [10, true], [0, true]]), 4);
    assert.deepEqual(tree.writes, [
      { path: `${CPU}/cpu1/online`, data: '0' },
      { path: `${CPU}/cpu2/online`, data: '1' },
    ]);
    assert.equal(tree.content(`${CPU}/cpu1/online`), '0\n');
    // the online file is opened read-write even when nothing needs writing
    assert.ok(tree.opens.some((o) => o.path === `${CPU}/cpu10/online` && o.flags === constants.O_RDWR));
  });

  it('answers an error only when the first entry fails, and otherwise the count before the failure', async () => {
    const tree = cpuTree();
    await assert.rejects(async () => set(tree, [[0, false]]), { desc: "logical processor #0 can't be offlined" });
    assert.equal(await set(tree, [[2, true], [0, false], [1, false]]), 1);
    assert.deepEqual(tree.writes, [{ path: `${CPU}/cpu2/online`, data: '1' }], 'nothing after the failure');
    assert.equal(await set(tree, []), 0);
  });

  it('names the failing call and path', async () => {
    await assert.rejects(async () => set(cpuTree(), [[9, true]]), { desc: 'open("/sys/devices/system/cpu/cpu9/"): No such file or directory' });
    await assert.rejects(async () => set(cpuTree(), [[-1, true]]), { desc: 'open("/sys/devices/system/cpu/cpu-1/"): No such file or directory' });
    const tree = cpuTree();
    tree.dir(`${CPU}/cpu4/online`);
    await assert.rejects(async () => set(tree, [[4, true]]), { desc: 'open("/sys/devices/system/cpu/cpu4//online"): Is a directory' });
    tree.file(`${CPU}/cpu5/online`, { content: '1', writeError: 'EBUSY' });
    await assert.rejects(async () => set(tree, [[5, false]]), { desc: 'pwrite("/sys/devices/system/cpu/cpu5//online"): Device or resource busy' });
    tree.file(`${CPU}/cpu6/online`, { content: '' });
    await assert.rejects(async () => set(tree, [[6, true]]), { desc: 'pread("/sys/devices/system/cpu/cpu6//online"): unexpected EOF' });
  });

  it('gives the wire replies qemu-ga gives', async () => {
    const h = createCpuMemoryHandlers(depsFor(cpuTree()));
    const inj = createInjector({ handlers: h });
    assert.equal(await inj.text('{"execute":"guest-set-vcpus","arguments":{"vcpus":[]}}'), '{"return": 0}\n');
    assert.equal(
      await inj.text('{"execute":"guest-set-vcpus","arguments":{"vcpus":[{"logical-id":0,"online":false}]}}'),
      '{"error": {"class": "GenericError", "desc": "logical processor #0 can\'t be offlined"}}\n',
    );
  });

  it('works on a real directory tree', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-cpu-'));
    try {
      fs.mkdirSync(`${root}${CPU}/cpu0`, { recursive: true });
      fs.mkdirSync(`${root}${CPU}/cpu1`);
      fs.writeFileSync(`${root}${CPU}/cpu1/online`, '1\n');
      const h = createCpuMemoryHandlers(defaultCpuMemoryDeps({ available: false, reason: 'test' }, root));
      assert.equal(await h['guest-set-vcpus']({ vcpus: [{ 'logical-id': 1n, online: false }] }, ctx), 1);
      assert.equal(fs.readFileSync(`${root}${CPU}/cpu1/online`, 'utf8'), '0\n');
      const vcpus = await h['guest-get-vcpus']({}, ctx);
      assert.deepEqual(
        [...vcpus].sort((a, b) => Number(a['logical-id']) - Number(b['logical-id'])),
        [
          { 'logical-id': 0n, online: true, 'can-offline': false },
          { 'logical-id': 1n, online: false, 'can-offline': true },
        ],
      );
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

function memoryTree(): FakeSysfs {
  return new FakeSysfs({
    [`${MEM}/block_size_bytes`]: '8000000\n',
    [`${MEM}/memory2/state`]: 'online\n',
    [`${MEM}/memory0/state`]: 'online\n',
    [`${MEM}/memory0/removable`]: '1\n',
    [`${MEM}/memory1/state`]: 'offline\n',
    [`${MEM}/memory1/removable`]: '0\n',
    [`${MEM}/memoryX`]: 'a file, not a block\n',
    [`${MEM}/power`]: null,
    [`${MEM}/memory3`]: null,
  });
}

describe('guest-get-memory-blocks', () => {
  it('lists memoryN directories in readdir order', async () => {
    const h = createCpuMemoryHandlers(depsFor(memoryTree()));
    assert.equal(
      await reply(h, '{"execute":"guest-get-memory-blocks"}'),
      '{"return": [{"online": true, "can-offline": false, "phys-index": 2}, {"online": true, "can-offline": true, "phys-index": 0}, ' +
        '{"online": false, "can-offline": false, "phys-index": 1}, {"online": true, "can-offline": false, "phys-index": 3}]}\n',
    );
  });

  it('reads memory_foo as block 0, as strtoul does', async () => {
    const tree = memoryTree();
    tree.dir(`${MEM}/memory_foo`);
    const blocks = await createCpuMemoryHandlers(depsFor(tree))['guest-get-memory-blocks']({}, ctx);
    assert.deepEqual(blocks.map((b) => b['phys-index']), [2n, 0n, 1n, 3n, 0n]);
  });

  it('answers [] without a memory directory, and an error for an empty one', async () => {
    assert.deepEqual(await createCpuMemoryHandlers(depsFor(new FakeSysfs()))['guest-get-memory-blocks']({}, ctx), []);
    const empty = new FakeSysfs({ [`${MEM}/block_size_bytes`]: '8000000\n', [`${MEM}/power`]: null });
    await assert.rejects(async () => createCpuMemoryHandlers(depsFor(empty))['guest-get-memory-blocks']({}, ctx), {
      desc: 'guest reported zero memory blocks!',
    });
    const denied = memoryTree();
    denied.listError[MEM] = 'EACCES';
    await assert.rejects(async () => createCpuMemoryHandlers(depsFor(denied))['guest-get-memory-blocks']({}, ctx), {
      desc: 'Can\'t open directory"/sys/devices/system/memory/": Permission denied',
    });
  });

  it('fails on unreadable state or removable files, naming the file alone', async () => {
    const eof = memoryTree();
    eof.file(`${MEM}/memory0/removable`, { content: '' });
    await assert.rejects(async () => createCpuMemoryHandlers(depsFor(eof))['guest-get-memory-blocks']({}, ctx), {
      desc: 'pread sysfs file "removable": unexpected EOF',
    });
    const state = memoryTree();
    state.file(`${MEM}/memory2/state`, { content: '', readError: 'EIO' });
    await assert.rejects(async () => createCpuMemoryHandlers(depsFor(state))['guest-get-memory-blocks']({}, ctx), {
      desc: 'pread sysfs file "state": Input/output error',
    });
    const open = memoryTree();
    open.file(`${MEM}/memory2/state`, { content: 'online', openError: 'EACCES' });
    await assert.rejects(async () => createCpuMemoryHandlers(depsFor(open))['guest-get-memory-blocks']({}, ctx), {
      desc: 'open sysfs file "state": Permission denied',
    });
  });
});

describe('guest-set-memory-blocks', () => {
  it('answers one response per block, with errno values where qemu-ga sets them', async () => {
    const tree = memoryTree();
    tree.dir(`${MEM}/memory7/state`);
    const h = createCpuMemoryHandlers(depsFor(tree));
    const request = {
      execute: 'guest-set-memory-blocks',
      arguments: {
        'mem-blks': [
          { 'phys-index': 0, online: true }, // already online: success, nothing written
          { 'phys-index': 1, online: true }, // written
          { 'phys-index': 0, online: false }, // written
          { 'phys-index': 99, online: true }, // no such block
          { 'phys-index': 3, online: false }, // no state file: cannot offline
          { 'phys-index': 3, online: true }, // no state file, want online: "success" with errno 2
          { 'phys-index': 7, online: true }, // state is a directory
        ],
      },
    };
    assert.equal(
      await reply(h, JSON.stringify(request)),
      '{"return": [{"response": "success", "phys-index": 0}, {"response": "success", "phys-index": 1}, {"response": "success", "phys-index": 0}, ' +
        '{"response": "not-found", "error-code": 2, "phys-index": 99}, {"response": "operation-not-supported", "error-code": 2, "phys-index": 3}, ' +
        '{"response": "success", "error-code": 2, "phys-index": 3}, {"response": "operation-failed", "error-code": 21, "phys-index": 7}]}\n',
    );
  });

  it('writes online/offline into the state file', async () => {
    const tree = memoryTree();
    const h = createCpuMemoryHandlers(depsFor(tree));
    await h['guest-set-memory-blocks']({ 'mem-blks': [{ 'phys-index': 1n, online: true }, { 'phys-index': 0n, online: false }] }, ctx);
    assert.deepEqual(tree.writes, [
      { path: `${MEM}/memory1/state`, data: 'online' },
      { path: `${MEM}/memory0/state`, data: 'offline' },
    ]);
  });

  it('reports failed writes and unreadable states as operation-failed with errno', async () => {
    const tree = memoryTree();
    tree.file(`${MEM}/memory1/state`, { content: 'offline\n', writeError: 'EBUSY' });
    tree.file(`${MEM}/memory5/state`, { content: '' });
    const h = createCpuMemoryHandlers(depsFor(tree));
    assert.deepEqual(await h['guest-set-memory-blocks']({ 'mem-blks': [{ 'phys-index': 1n, online: true }, { 'phys-index': 5n, online: true }] }, ctx), [
      { 'phys-index': 1n, response: 'operation-failed', 'error-code': 16 },
      // an empty state file: qemu-ga's errno is still the 0 it set before the read
      { 'phys-index': 5n, response: 'operation-failed', 'error-code': 0 },
    ]);
  });

  it('prints a huge phys-index as the signed number qemu-ga uses in the path', async () => {
    const tree = memoryTree();
    const opened: string[] = [];
    const h = createCpuMemoryHandlers(depsFor(tree, { open: (p, f) => (opened.push(p), tree.open(p, f)) }));
    const [r] = await h['guest-set-memory-blocks']({ 'mem-blks': [{ 'phys-index': 18446744073709551615n, online: true }] }, ctx);
    assert.deepEqual(r, { 'phys-index': 18446744073709551615n, response: 'not-found', 'error-code': 2 });
    assert.ok(opened.includes(`${MEM}/memory-1/`));
  });

  it('answers operation-not-supported without a memory directory, and [] for no blocks', async () => {
    const h = createCpuMemoryHandlers(depsFor(new FakeSysfs()));
    assert.deepEqual(await h['guest-set-memory-blocks']({ 'mem-blks': [{ 'phys-index': 5n, online: true }] }, ctx), [
      { 'phys-index': 5n, response: 'operation-not-supported', 'error-code': 2 },
    ]);
    assert.deepEqual(await h['guest-set-memory-blocks']({ 'mem-blks': [] }, ctx), []);
  });
});

describe('guest-get-memory-block-info', () => {
  it('reads the hex block size', async () => {
    assert.equal(await reply(createCpuMemoryHandlers(depsFor(memoryTree())), '{"execute":"guest-get-memory-block-info"}'), '{"return": {"size": 134217728}}\n');
  });

  it('names the failing open or read', async () => {
    await assert.rejects(async () => createCpuMemoryHandlers(depsFor(new FakeSysfs()))['guest-get-memory-block-info']({}, ctx), {
      desc: 'open("/sys/devices/system/memory/"): No such file or directory',
    });
    const empty = new FakeSysfs({ [`${MEM}/block_size_bytes`]: '' });
    await assert.rejects(async () => createCpuMemoryHandlers(depsFor(empty))['guest-get-memory-block-info']({}, ctx), {
      desc: 'pread sysfs file "block_size_bytes": unexpected EOF',
    });
    const dir = new FakeSysfs({ [`${MEM}/block_size_bytes`]: null });
    await assert.rejects(async () => createCpuMemoryHandlers(depsFor(dir))['guest-get-memory-block-info']({}, ctx), {
      desc: 'pread sysfs file "block_size_bytes": Is a directory',
    });
  });
});

describe('guest-get-cpustats', () => {
  it('converts /proc/stat ticks to milliseconds with CLK_TCK, members in schema order', async () => {
    const tree = new FakeSysfs({ '/proc/stat': readFixture('proc-stat.txt') });
    const text = await reply(createCpuMemoryHandlers(depsFor(tree)), '{"execute":"guest-get-cpustats"}');
    assert.ok(
      text.startsWith(
        '{"return": [{"cpu": 0, "guestnice": 0, "idle": 240460, "steal": 0, "iowait": 240, "system": 19580, "guest": 0, "nice": 0, "irq": 0, "type": "linux", "user": 18620, "softirq": 600}, ',
      ),
      text,
    );
    const stats = await createCpuMemoryHandlers(depsFor(tree, { clkTck: () => 1000 }))['guest-get-cpustats']({}, ctx);
    assert.deepEqual(Object.keys(stats[0]!), ['type', 'cpu', 'user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal', 'guest', 'guestnice']);
    assert.equal(stats[0]!.user, 1862n);
  });

  it('reports an unreadable /proc/stat', async () => {
    await assert.rejects(async () => createCpuMemoryHandlers(depsFor(new FakeSysfs()))['guest-get-cpustats']({}, ctx), {
      desc: 'open("/proc/stat"): No such file or directory',
    });
  });
});

describe('guest-get-load', () => {
  it('returns the three load averages', async () => {
    assert.equal(
      await reply(createCpuMemoryHandlers(depsFor(new FakeSysfs())), '{"execute":"guest-get-load"}'),
      '{"return": {"load15m": 0.125, "load5m": 0.25, "load1m": 0.5}}\n',
    );
  });

  it("reports getloadavg's errno", async () => {
    const failing = depsFor(new FakeSysfs(), {
      loadAverage: () => {
        throw Object.assign(new Error('getloadavg failed'), { code: 'ENOENT', errno: 2, syscall: 'getloadavg' });
      },
    });
    assert.throws(() => createCpuMemoryHandlers(failing)['guest-get-load']({}, ctx), { desc: 'cannot query load average: No such file or directory' });
  });

  it('falls back to os.loadavg without the native helper', () => {
    const loads = defaultCpuMemoryDeps({ available: false, reason: 'test' }).loadAverage();
    assert.equal(loads.length, 3);
    assert.ok(loads.every((l) => typeof l === 'number' && l >= 0));
  });
});
