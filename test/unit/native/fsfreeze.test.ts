/**
 * FIFREEZE / FITHAW / FITRIM, only ever on filesystems these tests mount themselves (a loop-mounted
 * ext4 image and a private tmpfs, both under a qga-native- temp dir). See native-test-support.ts.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { isNativeErrnoError } from '../../../src/native/native-helper';
import {
  FIXTURES,
  LOOP_EXT4,
  SCRATCH_TMPFS,
  assertOwnScratchMount,
  builtSkip,
  helper,
  loopSkip,
  sleep,
  withLoopExt4,
  withScratchTmpfs,
} from './native-test-support';

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return once(child, 'exit').then(([code, signal]) => ({ code, signal }));
}

async function freeze(mnt: string): Promise<void> {
  assertOwnScratchMount(mnt, LOOP_EXT4);
  await helper().fsfreeze(mnt);
}

test('fsfreeze blocks writers until fsthaw, and a second freeze is EBUSY', { skip: loopSkip }, () =>
  withLoopExt4(async (mnt) => {
    const native = helper();
    const target = path.join(mnt, 'f');
    await freeze(mnt);

    // The shell blocks in open(O_CREAT|O_TRUNC) -> sb_start_write, uninterruptibly; the timeout
    // is only a backstop so a broken thaw cannot leave a process behind for ever.
    const writer = spawn('timeout', ['30', 'sh', '-c', `echo x > '${target}' && sync`], { stdio: 'ignore' });
    try {
      await sleep(1500);
      assert.equal(writer.exitCode, null, 'the write finished although the filesystem is frozen');
      assert.equal(fs.existsSync(target), false);

      await assert.rejects(freeze(mnt), (e: unknown) => {
        assert.ok(isNativeErrnoError(e));
        assert.equal(e.code, 'EBUSY');
        assert.equal(e.syscall, 'FIFREEZE');
        assert.equal(e.path, mnt);
        return true;
      });
      assert.equal(writer.exitCode, null);
    } finally {
      await native.fsthaw(mnt);
    }

    const exit = await Promise.race([exitOf(writer), sleep(10_000).then(() => 'still blocked' as const)]);
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.equal(fs.readFileSync(target, 'utf8'), 'x\n');

    // Thawing a filesystem that is not frozen is EINVAL; qemu-ga's thaw loop stops on it.
    await assert.rejects(native.fsthaw(mnt), { code: 'EINVAL', syscall: 'FITHAW', errno: 22 });
  }),
);

test('timers keep running while a FIFREEZE is pending on the thread pool', { skip: loopSkip }, (t) =>
  withLoopExt4(async (mnt) => {
    const native = helper();
    // Holds sb_start_write (a splice waiting for pipe data), so freeze_super() must wait for it.
    const holder = spawn('python3', [path.join(FIXTURES, 'hold-write-protection.py'), path.join(mnt, 'held')], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let holderOutput = '';
    holder.stdout!.setEncoding('utf8').on('data', (s: string) => (holderOutput += s));
    try {
      while (!holderOutput.includes('ready')) {
        if (holder.exitCode !== null) throw new Error(`holder exited early: ${holder.exitCode}`);
        await sleep(20);
      }
      await sleep(300); // let it get from print() into splice()

      let ticks = 0;
      const timer = setInterval(() => ticks++, 10);
      let settled = false;
      const started = process.hrtime.bigint();
      assertOwnScratchMount(mnt, LOOP_EXT4);
      const pending = native.fsfreeze(mnt).finally(() => (settled = true));
      const callMs = Number(process.hrtime.bigint() - started) / 1e6;

      await sleep(600);
      const settledBeforeRelease = settled;
      const ticksWhilePending = ticks;
      holder.stdin!.end('x');
      await pending;
      clearInterval(timer);

      assert.ok(callMs < 100, `fsfreeze() itself took ${callMs} ms; it must only queue work`);
      if (settledBeforeRelease) {
        t.skip('this kernel did not hold FIFREEZE behind a splice writer, so nothing was pending');
        return;
      }
      assert.ok(ticksWhilePending >= 20, `only ${ticksWhilePending} timer ticks in 600 ms while FIFREEZE was pending`);
      t.diagnostic(`${ticksWhilePending} timer ticks while FIFREEZE was pending; fsfreeze() returned in ${callMs.toFixed(2)} ms`);
      assert.deepEqual(await exitOf(holder), { code: 0, signal: null });
      assert.match(holderOutput, /released/);
    } finally {
      // Thaw first: a holder still in splice() cannot finish before the freeze does.
      holder.stdin!.end('x');
      await native.fsthaw(mnt).catch(() => undefined);
      if (holder.exitCode === null) await exitOf(holder);
    }
  }),
);

test('fstrim trims the scratch ext4 and reports bytes and minimum', { skip: loopSkip }, () =>
  withLoopExt4(async (mnt) => {
    const native = helper();
    fs.writeFileSync(path.join(mnt, 'data'), Buffer.alloc(4 << 20, 1));
    fs.rmSync(path.join(mnt, 'data'));

    assertOwnScratchMount(mnt, LOOP_EXT4);
    const first = await native.fstrim(mnt);
    assert.equal(typeof first.trimmed, 'bigint');
    assert.equal(typeof first.minimum, 'bigint');
    assert.ok(first.trimmed > 0n, `trimmed ${first.trimmed}`);

    assertOwnScratchMount(mnt, LOOP_EXT4);
    const withMinimum = await native.fstrim(mnt, 1024 * 1024);
    assert.ok(withMinimum.minimum >= 1024n * 1024n, `minimum ${withMinimum.minimum}`);
    assert.ok(withMinimum.trimmed >= 0n);
  }),
);

test('fsfreeze and fstrim of a filesystem without support: EOPNOTSUPP and ENOTTY', { skip: loopSkip }, () =>
  withScratchTmpfs(async (mnt) => {
    const native = helper();
    assertOwnScratchMount(mnt, SCRATCH_TMPFS);
    // qemu-ga skips EOPNOTSUPP mounts when freezing and says "trim not supported" for ENOTTY.
    await assert.rejects(native.fsfreeze(mnt), { code: 'EOPNOTSUPP', errno: 95, syscall: 'FIFREEZE' });
    assertOwnScratchMount(mnt, SCRATCH_TMPFS);
    await assert.rejects(native.fstrim(mnt), { code: 'ENOTTY', syscall: 'FITRIM' });
  }),
);

test('fsfreeze, fsthaw and fstrim of a missing path fail in open() without touching any filesystem', { skip: builtSkip }, async () => {
  const native = helper();
  const missing = `/nonexistent-qga-native-${process.pid}`;
  for (const call of [native.fsfreeze, native.fsthaw, native.fstrim]) {
    await assert.rejects(call(missing), { code: 'ENOENT', syscall: 'open', path: missing });
  }
  assert.throws(() => native.fstrim(missing, -1), { name: 'RangeError' });
  assert.throws(() => native.fstrim(missing, 2n ** 64n), { name: 'RangeError' });
  assert.throws(() => native.fsfreeze('/tmp\0'), { code: 'ERR_INVALID_ARG_VALUE' });
});
