/**
 * Real FIFREEZE / FITHAW / FITRIM through the command handlers, on a loop-mounted ext4 image these
 * tests create (root only). SAFETY: the mount table the handlers see is INJECTED and holds exactly
 * the scratch mount's own mountinfo line, and the native helper they get refuses any other path,
 * so no bug in the mount-list code can reach this machine's filesystems.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { createDiskHandlers, defaultDiskDeps } from '../../../src/commands/disk';
import { createFsfreezeGroup, fileMarker, FROZEN_MARKER_NAME, realTimers } from '../../../src/commands/fsfreeze';
import { createFstrimHandlers } from '../../../src/commands/fstrim';
import type { MountTableSource } from '../../../src/commands/mount-list';
import { createAgentLogger } from '../../../src/logging/agent-logger';
import type { NativeHelper } from '../../../src/native/native-helper';
import { decodeMountName } from '../../../src/platform/linux/mountinfo';
import { createInjector, type Injector } from '../../support/inject';
import { assertOwnScratchMount, helper, LOOP_EXT4, loopSkip, sleep, withLoopExt4 } from '../native/native-test-support';
import { FakeHook } from './fake-filesystems';

/** The scratch mount's own line of /proc/self/mountinfo, and nothing else. */
function scratchMountTable(mnt: string): MountTableSource {
  assertOwnScratchMount(mnt, LOOP_EXT4);
  const real = fs.realpathSync(mnt);
  const lines = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => decodeMountName(l.split(' ')[4] ?? '') === real);
  assert.equal(lines.length, 1, `exactly one mountinfo line for ${real}`);
  assert.match(lines[0]!, / - ext4 \/dev\/loop\d+ /);
  const text = `${lines[0]}\n`;
  return {
    readMountInfo: async () => text,
    readMounts: async () => Promise.reject(new Error('not used')),
    statDev: () => ({ kind: 'other' }),
  };
}

/** The real helper, but only for the scratch mount. */
function guardedNative(mnt: string): Pick<NativeHelper, 'fsfreeze' | 'fsthaw' | 'fstrim' | 'statvfs'> {
  const native = helper();
  const real = fs.realpathSync(mnt);
  const guard = (p: string) => {
    if (p !== real) throw new Error(`SAFETY: refusing ${p}; only ${real} may be frozen or trimmed`);
    assertOwnScratchMount(p, LOOP_EXT4);
  };
  return {
    fsfreeze: async (p) => (guard(p), native.fsfreeze(p)),
    fsthaw: async (p) => (guard(p), native.fsthaw(p)),
    fstrim: async (p, m) => (guard(p), native.fstrim(p, m)),
    statvfs: (p) => native.statvfs(p),
  };
}

function freezeSetup(mnt: string, statedir: string, freezeTimeoutMs = 0, frozen = false) {
  const hook = new FakeHook();
  const { logger } = createAgentLogger({ verbose: false, sink: { write() {} } });
  const group = createFsfreezeGroup({
    native: guardedNative(mnt),
    mountTable: scratchMountTable(mnt),
    hookPath: '/etc/qemu/fsfreeze-hook',
    runCommand: hook.run,
    marker: fileMarker(path.join(statedir, FROZEN_MARKER_NAME)),
    freezeTimeoutMs,
    timers: realTimers,
    log: logger,
  });
  const inj = createInjector({ handlers: group.handlers, frozen });
  group.start(inj.state);
  return { group, inj, hook };
}

async function request(inj: Injector, line: string): Promise<string> {
  let out = await inj.text(line);
  const deadline = Date.now() + 10000;
  while (!out.endsWith('\n') && Date.now() < deadline) {
    await sleep(5);
    out += await inj.text('');
  }
  return out;
}

/** A shell that writes into the mount; it blocks while the filesystem is frozen. */
function writer(file: string): ChildProcess {
  return spawn('timeout', ['30', 'sh', '-c', `echo x > '${file}'`], { stdio: 'ignore' });
}

async function finishes(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null) return true;
  return Promise.race([once(child, 'exit').then(() => true), sleep(ms).then(() => false)]);
}

function tempStatedir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'qga-loop-state-'));
}

describe('freeze and thaw a real loop-mounted ext4 (mount table injected)', { skip: loopSkip }, () => {
  it('freeze blocks writers and sets the marker; thaw releases them', () =>
    withLoopExt4(async (mnt) => {
      const statedir = tempStatedir();
      const marker = path.join(statedir, FROZEN_MARKER_NAME);
      const { inj, hook } = freezeSetup(mnt, statedir);
      let w: ChildProcess | undefined;
      try {
        assert.equal(await request(inj, '{"execute":"guest-fsfreeze-freeze"}'), '{"return": 1}\n');
        assert.equal(fs.existsSync(marker), true);
        w = writer(path.join(mnt, 'f'));
        assert.equal(await finishes(w, 1000), false, 'a write finished on a frozen filesystem');
        assert.equal(await request(inj, '{"execute":"guest-fsfreeze-status"}'), '{"return": "frozen"}\n');
        assert.equal(
          await request(inj, '{"execute":"guest-get-fsinfo"}'),
          '{"error": {"class": "CommandNotFound", "desc": "Command guest-get-fsinfo has been disabled: the command is not allowed"}}\n',
        );
        assert.equal(await request(inj, '{"execute":"guest-fsfreeze-thaw"}'), '{"return": 1}\n');
        assert.equal(await finishes(w, 10000), true, 'the write did not finish after the thaw');
        assert.equal(fs.readFileSync(path.join(mnt, 'f'), 'utf8'), 'x\n');
        assert.equal(fs.existsSync(marker), false);
        assert.deepEqual(hook.calls.map((c) => c[1]), ['freeze', 'thaw']);
        // nothing frozen any more: thaw counts 0
        assert.equal(await request(inj, '{"execute":"guest-fsfreeze-thaw"}'), '{"return": 0}\n');
      } finally {
        await helper().fsthaw(mnt).catch(() => undefined);
        if (w && w.exitCode === null) await once(w, 'exit');
        fs.rmSync(statedir, { recursive: true, force: true });
      }
    }));

  it('freeze-list of the scratch mount and "/": only the scratch mount exists for the handlers', () =>
    withLoopExt4(async (mnt) => {
      const statedir = tempStatedir();
      const { inj } = freezeSetup(mnt, statedir);
      try {
        const list = JSON.stringify({ execute: 'guest-fsfreeze-freeze-list', arguments: { mountpoints: ['/', fs.realpathSync(mnt)] } });
        assert.equal(await request(inj, list), '{"return": 1}\n');
        assert.equal(await request(inj, '{"execute":"guest-fsfreeze-thaw"}'), '{"return": 1}\n');
      } finally {
        await helper().fsthaw(mnt).catch(() => undefined);
        fs.rmSync(statedir, { recursive: true, force: true });
      }
    }));

  it('an agent restarted while frozen comes up frozen and can thaw', () =>
    withLoopExt4(async (mnt) => {
      const statedir = tempStatedir();
      const marker = path.join(statedir, FROZEN_MARKER_NAME);
      try {
        const first = freezeSetup(mnt, statedir);
        assert.equal(await request(first.inj, '{"execute":"guest-fsfreeze-freeze"}'), '{"return": 1}\n');
        // the first agent "dies" here without thawing
        const second = freezeSetup(mnt, statedir, 0, fs.existsSync(marker));
        assert.equal(await request(second.inj, '{"execute":"guest-fsfreeze-status"}'), '{"return": "frozen"}\n');
        assert.equal(await request(second.inj, '{"execute":"guest-fsfreeze-thaw"}'), '{"return": 1}\n');
        assert.equal(fs.existsSync(marker), false);
        fs.writeFileSync(path.join(mnt, 'after'), 'ok'); // would hang if still frozen
      } finally {
        await helper().fsthaw(mnt).catch(() => undefined);
        fs.rmSync(statedir, { recursive: true, force: true });
      }
    }));

  it('the watchdog thaws a real freeze nobody thaws', () =>
    withLoopExt4(async (mnt) => {
      const statedir = tempStatedir();
      const { inj } = freezeSetup(mnt, statedir, 1500);
      let w: ChildProcess | undefined;
      try {
        assert.equal(await request(inj, '{"execute":"guest-fsfreeze-freeze"}'), '{"return": 1}\n');
        w = writer(path.join(mnt, 'g'));
        assert.equal(await finishes(w, 500), false, 'the write finished while frozen');
        assert.equal(await finishes(w, 10000), true, 'the watchdog did not thaw');
        // the filesystem thaws first; the agent state follows once the marker is gone
        for (let i = 0; i < 200 && inj.state.frozen; i++) await sleep(10);
        assert.equal(inj.state.frozen, false);
        assert.equal(await request(inj, '{"execute":"guest-fsfreeze-status"}'), '{"return": "thawed"}\n');
      } finally {
        await helper().fsthaw(mnt).catch(() => undefined);
        if (w && w.exitCode === null) await once(w, 'exit');
        fs.rmSync(statedir, { recursive: true, force: true });
      }
    }));
});

describe('fstrim and fsinfo on a real loop-mounted ext4 (mount table injected)', { skip: loopSkip }, () => {
  it('guest-fstrim trims it', () =>
    withLoopExt4(async (mnt) => {
      fs.writeFileSync(path.join(mnt, 'data'), Buffer.alloc(4 << 20, 1));
      fs.rmSync(path.join(mnt, 'data'));
      const inj = createInjector({ handlers: createFstrimHandlers({ native: guardedNative(mnt), mountTable: scratchMountTable(mnt) }) });
      const reply = JSON.parse(await request(inj, '{"execute":"guest-fstrim"}')) as { return: { paths: { path: string; trimmed: number; minimum: number }[] } };
      assert.equal(reply.return.paths.length, 1);
      assert.equal(reply.return.paths[0]!.path, fs.realpathSync(mnt));
      assert.ok(reply.return.paths[0]!.trimmed > 0);
      assert.equal(typeof reply.return.paths[0]!.minimum, 'number');
    }));

  it('guest-get-fsinfo describes it: loop name, no disk, statvfs sizes', () =>
    withLoopExt4(async (mnt) => {
      const native = helper();
      const inj = createInjector({ handlers: createDiskHandlers({ ...defaultDiskDeps(native), mountTable: scratchMountTable(mnt) }) });
      const reply = JSON.parse(await request(inj, '{"execute":"guest-get-fsinfo"}')) as { return: Record<string, unknown>[] };
      const st = await native.statvfs(mnt);
      const entry = reply.return[0]!;
      assert.match(entry['name'] as string, /^loop\d+$/);
      assert.equal(entry['mountpoint'], fs.realpathSync(mnt));
      assert.equal(entry['type'], 'ext4');
      assert.deepEqual(entry['disk'], []);
      assert.equal(entry['total-bytes-privileged'], Number(st.f_blocks * st.f_frsize));
      assert.equal(entry['used-bytes'], Number((st.f_blocks - st.f_bfree) * st.f_frsize));
      assert.equal(entry['total-bytes'], Number((st.f_blocks - st.f_bfree + st.f_bavail) * st.f_frsize));
    }));
});
