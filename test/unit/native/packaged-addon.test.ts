import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { parseMountInfo } from '../../../src/platform/linux/mountinfo';
import {
  NATIVE_ASSET_KEY,
  contentAddressedName,
  extractionDirectories,
  loadAgentNativeHelper,
  locateEmbeddedAddon,
  mountHolding,
  mountRefusal,
  packagedNativeCandidates,
  type SeaAssets,
} from '../../../src/native/packaged-addon';
import { BUILT_ADDON, builtSkip } from './native-test-support';

const ROOT_ONLY_MOUNTINFO = '26 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-packaged-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function listing(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).sort() : [];
}

const fakeSea = (assets: Record<string, Uint8Array>): SeaAssets => ({
  isSea: () => true,
  getAsset: (key) => {
    const data = assets[key];
    if (data === undefined) throw new Error(`no asset ${key}`);
    return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
  },
});

/** A dlopen that accepts any file and yields a binding-shaped export (for hosts without the build). */
function fakeDlopen(loaded: string[]) {
  const fn = () => Promise.resolve();
  return (module: { exports: unknown }, file: string) => {
    loaded.push(file);
    module.exports = {
      abiVersion: 3,
      POLL_READABLE: 1,
      POLL_WRITABLE: 2,
      POLL_DISCONNECT: 4,
      EAGAIN: 11,
      EINTR: 4,
      ...Object.fromEntries(
        ['statvfs', 'fsfreeze', 'fsthaw', 'fstrim', 'settimeofday', 'rtcRead', 'rtcSetFromSystem', 'rtcReadToSystem', 'vsockListen', 'vsockAccept', 'watchFd', 'getloadavg', 'sysconfClkTck', 'readInto', 'writeBytes', 'writeLatin1', 'setV8Flags'].map(
          (n) => [n, fn],
        ),
      ),
    };
  };
}

test('packaged copies: next to the binary, then <prefix>/lib/qga-ts, then /usr/lib/qga-ts', () => {
  assert.deepEqual(packagedNativeCandidates('/usr/sbin/qga-ts'), ['/usr/sbin/qga_native.node', '/usr/lib/qga-ts/qga_native.node']);
  assert.deepEqual(packagedNativeCandidates('/opt/qga/bin/qga-ts'), [
    '/opt/qga/bin/qga_native.node',
    '/opt/qga/lib/qga-ts/qga_native.node',
    '/usr/lib/qga-ts/qga_native.node',
  ]);
});

test('extraction directories: /var/lib/qga-ts for root, XDG_RUNTIME_DIR, /run, a private tmp dir; never HOME', () => {
  assert.deepEqual(extractionDirectories(0, { HOME: '/root' }, '/tmp'), ['/var/lib/qga-ts', '/run/qga-ts', '/tmp/qga-ts-0']);
  assert.deepEqual(extractionDirectories(0, { XDG_RUNTIME_DIR: '/run/user/0' }, '/tmp'), [
    '/var/lib/qga-ts',
    '/run/user/0/qga-ts',
    '/run/qga-ts',
    '/tmp/qga-ts-0',
  ]);
  assert.deepEqual(extractionDirectories(1000, { XDG_RUNTIME_DIR: '/run/user/1000', HOME: '/home/u' }, '/var/tmp'), [
    '/run/user/1000/qga-ts',
    '/var/tmp/qga-ts-1000',
  ]);
  // A relative XDG_RUNTIME_DIR is invalid by the spec and ignored.
  assert.deepEqual(extractionDirectories(1000, { XDG_RUNTIME_DIR: 'run' }, '/tmp'), ['/tmp/qga-ts-1000']);
});

test('content-addressed names carry the full sha256', () => {
  assert.equal(contentAddressedName('qga_native.node', 'ab'.repeat(32)), `qga_native-${'ab'.repeat(32)}.node`);
  assert.equal(contentAddressedName('blob', 'cd'), 'blob-cd.node');
});

const SAMPLE_MOUNTINFO = [
  '26 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
  '30 26 0:25 / /run rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,size=1616k,mode=755',
  '31 30 0:26 / /run/user/1000 rw,nosuid,nodev,relatime - tmpfs tmpfs rw,size=808k,mode=700',
  '32 26 0:27 / /tmp rw,nosuid,nodev,noexec - tmpfs tmpfs rw',
  '33 26 254:1 / /usr ro,relatime - ext4 /dev/vdb ro',
  '34 26 254:2 / /var rw,relatime - ext4 /dev/vdc rw',
  '35 34 254:3 / /var rw,relatime - xfs /dev/vdd ro',
  '36 26 0:28 / /with\\040space rw - tmpfs tmpfs rw',
].join('\n');

test('the mount holding a path: longest prefix on a path boundary, the top of a stack wins', () => {
  const mounts = parseMountInfo(SAMPLE_MOUNTINFO);
  const at = (p: string) => mountHolding(p, mounts)?.mountId;
  assert.equal(at('/var/lib/qga-ts'), 35);
  assert.equal(at('/run/qga-ts'), 30);
  assert.equal(at('/run/user/1000/qga-ts'), 31);
  assert.equal(at('/running/x'), 26);
  assert.equal(at('/tmp'), 32);
  assert.equal(at('/with space/x'), 36);
  assert.equal(at('/'), 26);
  assert.equal(mountHolding('/x', []), undefined);
});

test('noexec refuses code; ro (per mount or per superblock) refuses writing only', () => {
  const mounts = parseMountInfo(SAMPLE_MOUNTINFO);
  assert.equal(mountRefusal(mountHolding('/run/qga-ts', mounts), false), '/run is mounted noexec');
  assert.equal(mountRefusal(mountHolding('/tmp/qga-ts-0', mounts), false), '/tmp is mounted noexec');
  assert.equal(mountRefusal(mountHolding('/run/user/1000/qga-ts', mounts), true), null);
  assert.equal(mountRefusal(mountHolding('/usr/lib/qga-ts', mounts), false), null);
  assert.equal(mountRefusal(mountHolding('/usr/lib/qga-ts', mounts), true), '/usr is mounted read-only');
  assert.equal(mountRefusal(mountHolding('/var/lib/qga-ts', mounts), true), '/var is mounted read-only');
  assert.equal(mountRefusal(undefined, false), 'no mount found in /proc/self/mountinfo');
});

test('extracts once, then reuses the verified copy without writing anything', (t) => {
  const base = tempDir(t);
  const dir = path.join(base, 'extract');
  const data = new Uint8Array(Buffer.from('pretend this is an ELF shared object'));
  const uid = process.getuid!();
  const opts = { allowWrite: true, directories: [dir], uid, pid: 4242, mountInfo: ROOT_ONLY_MOUNTINFO };

  const first = locateEmbeddedAddon('qga_native.node', data, opts);
  assert.ok(first.path !== null);
  assert.equal(first.written, true);
  assert.match(path.basename(first.path), /^qga_native-[0-9a-f]{64}\.node$/);
  assert.deepEqual(listing(dir), [path.basename(first.path)], 'no temp file is left behind');
  assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
  assert.equal(fs.statSync(first.path).mode & 0o777, 0o444);
  const before = fs.statSync(first.path);

  // The restart-while-frozen case: writing forbidden, the existing copy is still found.
  const again = locateEmbeddedAddon('qga_native.node', data, { ...opts, allowWrite: false });
  assert.deepEqual(again, { path: first.path, written: false });
  const after = fs.statSync(first.path);
  assert.equal(after.mtimeMs, before.mtimeMs);
  assert.equal(after.ino, before.ino);
  assert.deepEqual(listing(dir), [path.basename(first.path)]);
});

test('the name comes from the digest recorded at build time; the bytes decide whether a copy is reused', (t) => {
  const dir = path.join(tempDir(t), 'extract');
  const data = new Uint8Array(Buffer.from('recorded digest case'));
  const digest = createHash('sha256').update(data).digest('hex');
  const opts = { allowWrite: true, directories: [dir], uid: process.getuid!(), pid: 2, mountInfo: ROOT_ONLY_MOUNTINFO };
  const first = locateEmbeddedAddon('qga_native.node', data, { ...opts, sha256: digest });
  assert.ok(first.path !== null);
  assert.equal(path.basename(first.path), `qga_native-${digest}.node`);
  // The same name computed here (no recorded digest) finds the same copy without writing.
  assert.deepEqual(locateEmbeddedAddon('qga_native.node', data, { ...opts, allowWrite: false }), { path: first.path, written: false });
  // Other bytes under that recorded name are refused: a wrong digest cannot smuggle in a file.
  const other = new Uint8Array(Buffer.from('different bytes, same claimed digest'));
  const refused = locateEmbeddedAddon('qga_native.node', other, { ...opts, allowWrite: false, sha256: digest });
  assert.ok(refused.path === null && refused.reasons.some((r) => r.includes('content does not match its name')));
});

test('a copy whose bytes do not match its name is not reused, and is replaced when writing is allowed', (t) => {
  const dir = path.join(tempDir(t), 'extract');
  const data = new Uint8Array(Buffer.from('the real bytes'));
  const uid = process.getuid!();
  const opts = { allowWrite: true, directories: [dir], uid, pid: 1, mountInfo: ROOT_ONLY_MOUNTINFO };
  const first = locateEmbeddedAddon('qga_native.node', data, opts);
  assert.ok(first.path !== null);
  fs.chmodSync(first.path, 0o644);
  fs.writeFileSync(first.path, 'tampered');
  fs.chmodSync(first.path, 0o444);

  const frozen = locateEmbeddedAddon('qga_native.node', data, { ...opts, allowWrite: false });
  assert.equal(frozen.path, null);
  assert.ok(frozen.path === null && frozen.reasons.some((r) => r.includes('content does not match its name')));
  assert.ok(frozen.path === null && frozen.reasons.some((r) => r.includes('filesystems may be frozen')));

  const fixed = locateEmbeddedAddon('qga_native.node', data, opts);
  assert.deepEqual(fixed, { path: first.path, written: true });
  assert.equal(fs.readFileSync(first.path, 'utf8'), 'the real bytes');
});

test('directories that others could write, symlinks and noexec mounts are skipped for the next one', (t) => {
  const base = tempDir(t);
  const shared = path.join(base, 'shared');
  fs.mkdirSync(shared);
  fs.chmodSync(shared, 0o777);
  const real = path.join(base, 'real');
  fs.mkdirSync(real, { mode: 0o700 });
  const link = path.join(base, 'link');
  fs.symlinkSync(real, link);
  const noexec = path.join(base, 'noexec');
  fs.mkdirSync(noexec, { mode: 0o700 });
  const good = path.join(base, 'good');
  const mountInfo = `${ROOT_ONLY_MOUNTINFO}40 26 0:50 / ${fs.realpathSync(base)}/noexec rw,nosuid,nodev,noexec - tmpfs tmpfs rw\n`;
  const data = new Uint8Array([1, 2, 3]);
  const result = locateEmbeddedAddon('qga_native.node', data, {
    allowWrite: true,
    directories: [shared, link, noexec, good],
    uid: process.getuid!(),
    pid: 7,
    mountInfo,
  });
  assert.ok(result.path !== null, JSON.stringify(result));
  assert.equal(path.dirname(result.path), good);
  assert.deepEqual(listing(shared), []);
  assert.deepEqual(listing(real), []);
  assert.deepEqual(listing(noexec), [], 'nothing is written on a noexec mount');
});

test('every reason is reported when no directory works', (t) => {
  const base = tempDir(t);
  const mountInfo = `${ROOT_ONLY_MOUNTINFO}40 26 0:50 / ${fs.realpathSync(base)} rw,noexec - tmpfs tmpfs rw\n`;
  const result = locateEmbeddedAddon('qga_native.node', new Uint8Array([9]), {
    allowWrite: true,
    directories: [path.join(base, 'a'), path.join(base, 'b')],
    uid: process.getuid!(),
    pid: 7,
    mountInfo,
  });
  assert.equal(result.path, null);
  assert.ok(result.path === null);
  assert.equal(result.reasons.length, 2);
  assert.match(result.reasons[0]!, /a: .* is mounted noexec$/);
});

test('not a single executable: the checkout candidates, nothing extracted', () => {
  const loaded: string[] = [];
  const result = loadAgentNativeHelper({
    allowExtraction: true,
    sea: null,
    checkoutCandidates: [BUILT_ADDON],
    extractionDirs: ['/nonexistent/must-not-be-used'],
    dlopen: fs.existsSync(BUILT_ADDON) ? undefined : fakeDlopen(loaded),
  } as Parameters<typeof loadAgentNativeHelper>[0]);
  if (fs.existsSync(BUILT_ADDON)) {
    assert.ok(result.available);
    assert.equal(result.loadedFrom, BUILT_ADDON);
  }
});

test('inside the executable a packaged copy wins over the embedded asset', (t) => {
  const base = tempDir(t);
  const packaged = path.join(base, 'qga_native.node');
  fs.writeFileSync(packaged, 'packaged');
  const loaded: string[] = [];
  const result = loadAgentNativeHelper({
    allowExtraction: true,
    sea: fakeSea({ [NATIVE_ASSET_KEY]: new Uint8Array([1]) }),
    packagedCandidates: [path.join(base, 'missing.node'), packaged],
    extractionDirs: [path.join(base, 'extract')],
    mountInfo: () => ROOT_ONLY_MOUNTINFO,
    dlopen: fakeDlopen(loaded),
  });
  assert.ok(result.available);
  assert.equal(result.loadedFrom, packaged);
  assert.deepEqual(loaded, [packaged]);
  assert.equal(fs.existsSync(path.join(base, 'extract')), false);
});

test('inside the executable without a packaged copy the asset is extracted, then reused', (t) => {
  const base = tempDir(t);
  const extract = path.join(base, 'extract');
  const loaded: string[] = [];
  const infos: string[] = [];
  const opts = {
    sea: fakeSea({ [NATIVE_ASSET_KEY]: new Uint8Array(Buffer.from('addon bytes')) }),
    packagedCandidates: [path.join(base, 'none.node')],
    extractionDirs: [extract],
    mountInfo: () => ROOT_ONLY_MOUNTINFO,
    dlopen: fakeDlopen(loaded),
    logger: { warn: (m: string) => assert.fail(m), info: (m: string) => void infos.push(m) },
  };
  const first = loadAgentNativeHelper({ ...opts, allowExtraction: true });
  assert.ok(first.available);
  assert.equal(path.dirname(first.loadedFrom), extract);
  assert.equal(infos.length, 1);
  const second = loadAgentNativeHelper({ ...opts, allowExtraction: false });
  assert.ok(second.available);
  assert.equal(second.loadedFrom, first.loadedFrom);
  assert.equal(infos.length, 1, 'a reuse is not an extraction');
});

test('when nothing works: NativeUnavailable, one warning naming every reason and the disabled commands', (t) => {
  const base = tempDir(t);
  const warnings: string[] = [];
  const noAsset = loadAgentNativeHelper({
    allowExtraction: true,
    sea: fakeSea({}),
    packagedCandidates: [path.join(base, 'none.node')],
    extractionDirs: [path.join(base, 'x')],
    mountInfo: () => ROOT_ONLY_MOUNTINFO,
    logger: { warn: (m) => void warnings.push(m) },
  });
  assert.ok(!noAsset.available);
  assert.match(noAsset.reason, /none\.node: not found; no embedded qga_native\.node asset: no asset qga_native\.node/);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^native helper unavailable \(.*\); disabled commands: guest-get-statvfs, guest-fsfreeze-freeze,/);

  const frozen = loadAgentNativeHelper({
    allowExtraction: false,
    sea: fakeSea({ [NATIVE_ASSET_KEY]: new Uint8Array([5]) }),
    packagedCandidates: [],
    extractionDirs: [path.join(base, 'y')],
    mountInfo: () => ROOT_ONLY_MOUNTINFO,
  });
  assert.ok(!frozen.available);
  assert.match(frozen.reason, /extracting is not allowed now \(filesystems may be frozen\)/);
  assert.equal(fs.existsSync(path.join(base, 'y')), false);

  const notElf = loadAgentNativeHelper({
    allowExtraction: true,
    sea: fakeSea({ [NATIVE_ASSET_KEY]: new Uint8Array(Buffer.from('not an ELF file at all')) }),
    packagedCandidates: [],
    extractionDirs: [path.join(base, 'z')],
    mountInfo: () => ROOT_ONLY_MOUNTINFO,
  });
  assert.ok(!notElf.available);
  assert.match(notElf.reason, /qga_native-[0-9a-f]{64}\.node: .*(invalid ELF header|file too short)/);
});

test('the built addon extracted from an embedded asset really loads and works', { skip: builtSkip }, async (t) => {
  const base = tempDir(t);
  const result = loadAgentNativeHelper({
    allowExtraction: true,
    sea: fakeSea({ [NATIVE_ASSET_KEY]: new Uint8Array(fs.readFileSync(BUILT_ADDON)) }),
    packagedCandidates: [],
    extractionDirs: [path.join(base, 'extract')],
  });
  assert.ok(result.available, !result.available ? result.reason : '');
  assert.notEqual(result.loadedFrom, BUILT_ADDON);
  assert.ok((await result.statvfs('/')).f_bsize > 0n);
});

function canMountTmpfs(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('mount', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test(
  'a real noexec tmpfs: dlopen fails there, and the locator, reading /proc/self/mountinfo, skips it',
  { skip: builtSkip || (canMountTmpfs() ? false : 'needs root and mount(8) for a scratch tmpfs') },
  () => {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-packaged-'));
    const mnt = path.join(base, 'noexec');
    fs.mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'noexec,size=4m,mode=700', 'qga-packaged-test', mnt]);
    try {
      // The premise: a copy on a noexec mount cannot be mapped.
      const copy = path.join(mnt, 'copy.node');
      fs.copyFileSync(BUILT_ADDON, copy);
      assert.throws(() => process.dlopen({ exports: {} }, copy), /failed to map segment|Operation not permitted/);

      const fallback = path.join(base, 'fallback');
      const result = loadAgentNativeHelper({
        allowExtraction: true,
        sea: fakeSea({ [NATIVE_ASSET_KEY]: new Uint8Array(fs.readFileSync(BUILT_ADDON)) }),
        packagedCandidates: [],
        extractionDirs: [path.join(mnt, 'qga-ts'), fallback],
      });
      assert.ok(result.available, !result.available ? result.reason : '');
      assert.equal(path.dirname(result.loadedFrom), fallback);
      assert.equal(fs.existsSync(path.join(mnt, 'qga-ts')), false);
    } finally {
      // Lazy: the failed dlopen above can leave the mount busy for a moment.
      execFileSync('umount', ['-l', mnt]);
      fs.rmSync(base, { recursive: true, force: true });
    }
  },
);
