/**
 * guest-get-fsinfo, guest-get-disks and guest-get-diskstats of this machine, from Debian's
 * qemu-ga 7.2 and from our handlers with their real (default) I/O. All three commands only read.
 *
 * Expected differences, each from qga-reference.md §7 or a deliberate choice:
 * - fsinfo `total-bytes-privileged` exists since 9.1, so only we send it;
 * - fsinfo `used-bytes` / `total-bytes` move between two calls on a live filesystem, so they are
 *   compared loosely;
 * - 7.2 lists every mount of a device (bind mounts); 10.x, and we, only the first;
 * - loop devices come and go while other tests run, so they are left out of the comparison.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDiskHandlers, defaultDiskDeps } from '../../../src/commands/disk';
import { defaultNativeCandidates, loadNativeHelper } from '../../../src/native/native-helper';
import { QEMU_GA_BIN, qemuGaAvailable, RawClient, startAgent, type RunningAgent } from '../../support/agent-process';
import { createInjector, type Injector } from '../../support/inject';

const skip = qemuGaAvailable() ? false : `Debian's qemu-ga is not installed (${QEMU_GA_BIN})`;

type Json = Record<string, unknown>;

async function ours(inj: Injector, command: string): Promise<Json[]> {
  let out = await inj.text(`{"execute":"${command}"}`);
  const deadline = Date.now() + 10000;
  while (!out.endsWith('\n') && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
    out += await inj.text('');
  }
  return (JSON.parse(out) as { return: Json[] }).return;
}

async function theirs(client: RawClient, command: string): Promise<Json[]> {
  return (JSON.parse(await client.request(`{"execute":"${command}"}\n`)) as { return: Json[] }).return;
}

const notLoop = (name: unknown) => !/^(\/dev\/)?loop\d+/.test(String(name));

describe('disk commands compared with qemu-ga 7.2 on this machine', { skip }, () => {
  let agent: RunningAgent;
  let client: RawClient;
  let inj: Injector;

  before(async () => {
    agent = await startAgent({ binary: QEMU_GA_BIN, conf: '' });
    client = await RawClient.connect(agent.socket);
    const native = loadNativeHelper({ candidates: defaultNativeCandidates(`${__dirname}/../../../src/native`) });
    inj = createInjector({ handlers: createDiskHandlers(defaultDiskDeps(native)) });
  });
  after(async () => {
    client?.close();
    await agent?.stop();
  });

  it('guest-get-fsinfo: same entries, plus total-bytes-privileged', async () => {
    const [a, b] = await Promise.all([ours(inj, 'guest-get-fsinfo'), theirs(client, 'guest-get-fsinfo')]);
    // 7.2 repeats a device for each of its mounts; keep the first mount (the last in reply order)
    const seen = new Set<unknown>();
    const theirsDeduped = [...b].reverse().filter((f) => !seen.has(f['name']) && seen.add(f['name'])).reverse();
    const strip = (f: Json) => {
      const { ['used-bytes']: _u, ['total-bytes']: _t, ['total-bytes-privileged']: _p, ...rest } = f;
      return rest;
    };
    assert.deepEqual(a.filter((f) => notLoop(f['name'])).map(strip), theirsDeduped.filter((f) => notLoop(f['name'])).map(strip));
    for (const f of a) {
      assert.equal(typeof f['total-bytes-privileged'], 'number');
      const other = b.find((g) => g['mountpoint'] === f['mountpoint']);
      if (other === undefined || !notLoop(f['name'])) continue;
      assert.equal('total-bytes-privileged' in other, false, '7.2 predates total-bytes-privileged');
      // a live root filesystem changes a little between the two calls
      assert.ok(Math.abs(Number(f['used-bytes']) - Number(other['used-bytes'])) < 256 * 1024 * 1024);
      assert.ok(Math.abs(Number(f['total-bytes']) - Number(other['total-bytes'])) < 256 * 1024 * 1024);
    }
  });

  it('guest-get-disks: identical', async () => {
    const [a, b] = await Promise.all([ours(inj, 'guest-get-disks'), theirs(client, 'guest-get-disks')]);
    assert.deepEqual(
      a.filter((d) => notLoop(d['name'])),
      b.filter((d) => notLoop(d['name'])),
    );
  });

  it('guest-get-diskstats: same devices and fields', async () => {
    const [a, b] = await Promise.all([ours(inj, 'guest-get-diskstats'), theirs(client, 'guest-get-diskstats')]);
    const shape = (list: Json[]) =>
      list
        .filter((d) => notLoop(d['name']))
        .map((d) => [d['name'], d['major'], d['minor'], Object.keys(d['stats'] as Json).sort()]);
    assert.deepEqual(shape(a), shape(b));
  });
});
