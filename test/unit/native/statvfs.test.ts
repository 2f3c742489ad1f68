import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { isNativeErrnoError, type StatvfsResult } from '../../../src/native/native-helper';
import { builtSkip, helper } from './native-test-support';

/** GNU `stat -f` fields in the order %S %s %b %f %a %c %d %i %l. */
function statFs(p: string): string[] {
  return execFileSync('stat', ['-f', '-c', '%S %s %b %f %a %c %d %i %l', p], { encoding: 'utf8' }).trim().split(' ');
}

/**
 * coreutils prints the fsid from statfs()'s two 32-bit words, val[0] first (high); glibc's
 * statvfs() packs them the other way round: f_fsid = val[0] | val[1] << 32.
 */
function fsidFromStatHex(hex: string): bigint {
  const padded = hex.padStart(16, '0');
  const val0 = BigInt('0x' + padded.slice(0, 8));
  const val1 = BigInt('0x' + padded.slice(8));
  return val0 | (val1 << 32n);
}

function asStatFields(r: StatvfsResult): string[] {
  return [
    r.f_frsize.toString(),
    r.f_bsize.toString(),
    r.f_blocks.toString(),
    r.f_bfree.toString(),
    r.f_bavail.toString(),
    r.f_files.toString(),
    r.f_ffree.toString(),
    '', // fsid compared separately
    r.f_namemax.toString(),
  ];
}

/** ST_* bits statvfs() derives from the mount's own (per-mount, "VFS") options. */
const ST_BITS: Record<string, bigint> = {
  ro: 1n,
  nosuid: 2n,
  nodev: 4n,
  noexec: 8n,
  sync: 16n,
  mand: 64n,
  noatime: 1024n,
  nodiratime: 2048n,
  relatime: 4096n,
  nosymfollow: 8192n,
};

function expectedFlags(p: string): bigint {
  const options = execFileSync('findmnt', ['-n', '-o', 'VFS-OPTIONS', '-T', p], { encoding: 'utf8' }).trim().split(',');
  return options.reduce((bits, o) => bits | (ST_BITS[o] ?? 0n), 0n);
}

/** Free counts move while other processes write; retry until `stat -f` is stable around our call. */
async function compareWithStat(p: string): Promise<void> {
  const native = helper();
  for (let attempt = 0; ; attempt++) {
    const before = statFs(p);
    const r = await native.statvfs(p);
    const after = statFs(p);
    if (before.join(' ') !== after.join(' ') && attempt < 10) continue;

    const mine = asStatFields(r);
    for (const [i, name] of ['%S f_frsize', '%s f_bsize', '%b f_blocks', '%f f_bfree', '%a f_bavail', '%c f_files', '%d f_ffree', '', '%l f_namemax'].entries()) {
      if (name === '') continue;
      assert.equal(mine[i], after[i], `${p}: ${name}`);
    }
    assert.equal(r.f_fsid, fsidFromStatHex(after[7]!), `${p}: %i f_fsid`);
    // Linux has no separate count of inodes reserved for root.
    assert.equal(r.f_favail, r.f_ffree, `${p}: f_favail`);
    assert.equal(r.f_flag, expectedFlags(p), `${p}: f_flag vs findmnt VFS-OPTIONS`);
    for (const [key, value] of Object.entries(r)) assert.equal(typeof value, 'bigint', key);
    assert.equal(Object.keys(r).length, 11);
    return;
  }
}

test('statvfs matches GNU stat -f', { skip: builtSkip }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-statvfs-'));
  try {
    for (const p of ['/', os.tmpdir(), dir, '/proc', '/dev']) {
      await t.test(p === dir ? 'a temp dir' : p, () => compareWithStat(p));
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('statvfs of a missing path rejects ENOENT with errno, syscall and path', { skip: builtSkip }, async () => {
  const missing = path.join(os.tmpdir(), `qga-statvfs-missing-${process.pid}`, 'x');
  await assert.rejects(helper().statvfs(missing), (e: unknown) => {
    assert.ok(isNativeErrnoError(e));
    assert.equal(e.code, 'ENOENT');
    assert.equal(e.errno, os.constants.errno.ENOENT);
    assert.equal(e.syscall, 'statvfs');
    assert.equal(e.path, missing);
    assert.equal(e.message, `ENOENT: No such file or directory, statvfs '${missing}'`);
    return true;
  });
});

test('statvfs through a regular file used as a directory rejects ENOTDIR', { skip: builtSkip }, async () => {
  const file = path.join(os.tmpdir(), `qga-statvfs-file-${process.pid}`);
  fs.writeFileSync(file, '');
  try {
    await assert.rejects(helper().statvfs(path.join(file, 'x')), { code: 'ENOTDIR', syscall: 'statvfs' });
  } finally {
    fs.rmSync(file);
  }
});

test('statvfs rejects bad paths before any syscall', { skip: builtSkip }, () => {
  const native = helper();
  assert.throws(() => native.statvfs(42 as unknown as string), { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
  assert.throws(() => native.statvfs(''), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
  // A NUL would otherwise cut the path short and silently select another filesystem.
  assert.throws(() => native.statvfs('/tmp\0/x'), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
});

test('many statvfs calls run concurrently on the thread pool', { skip: builtSkip }, async () => {
  const results = await Promise.all(Array.from({ length: 64 }, () => helper().statvfs('/')));
  for (const r of results) assert.equal(r.f_fsid, results[0]!.f_fsid);
});
