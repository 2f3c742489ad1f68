/**
 * Shared by the native tests: locating the built addon, and scratch filesystems that are ours to
 * freeze and trim. SAFETY: FIFREEZE/FITRIM act on whatever filesystem holds the path, so every
 * freeze or trim in these tests goes through assertOwnScratchMount first; if a mount silently
 * failed, the path would be a plain directory on / and a freeze would stop this machine.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadNativeHelper, type NativeHelper } from '../../../src/native/native-helper';

/** The checkout root, found from here whether the tests run from test/ (tsx) or dist/test/ (tsc). */
export function findRepoRoot(from: string = __dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && JSON.parse(fs.readFileSync(manifest, 'utf8')).name === 'qga-ts') return dir;
    if (path.dirname(dir) === dir) throw new Error(`no qga-ts package.json above ${from}`);
  }
}

export const REPO_ROOT = findRepoRoot();
export const BUILT_ADDON = path.join(REPO_ROOT, 'build', 'Release', 'qga_native.node');
export const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures', 'native');

const loaded = loadNativeHelper({ candidates: [BUILT_ADDON] });

/** The built helper, or a skip reason for node:test. */
export const builtHelper: NativeHelper | undefined = loaded.available ? loaded : undefined;
export const builtSkip: string | false = loaded.available
  ? false
  : `build/Release/qga_native.node not usable (run node-gyp rebuild): ${loaded.reason}`;

/** The helper for a test that already checked builtSkip. */
export function helper(): NativeHelper {
  if (builtHelper === undefined) throw new Error(String(builtSkip));
  return builtHelper;
}

function commandWorks(file: string, args: string[]): boolean {
  try {
    execFileSync(file, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Scratch mounts need root, a free loop device and mkfs.ext4. */
export const loopSkip: string | false =
  builtSkip ||
  (process.getuid?.() === 0 && fs.existsSync('/dev/loop-control') && commandWorks('losetup', ['-f']) &&
  commandWorks('mkfs.ext4', ['-V'])
    ? false
    : 'needs root and a loop device');

interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
}

/** Mount points in /proc/self/mountinfo ("\040"-style escapes decoded). */
function mountEntries(): MountEntry[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      const [before, after] = line.split(' - ');
      const fields = before!.split(' ');
      const [fsType, source] = after!.split(' ');
      return { mountPoint: unescape(fields[4]!), fsType: fsType!, source: unescape(source!) };
    });
}

/** Throws unless mnt is, right now, the top mount of a filesystem these tests created. */
export function assertOwnScratchMount(mnt: string, expect: { fsType: string; source: RegExp }): void {
  const real = fs.realpathSync(mnt);
  if (!real.startsWith(fs.realpathSync(os.tmpdir()) + path.sep) || !path.basename(path.dirname(real)).startsWith('qga-native-')) {
    throw new Error(`SAFETY: ${real} is not inside a qga-native- scratch directory`);
  }
  const entries = mountEntries().filter((e) => e.mountPoint === real);
  const top = entries[entries.length - 1];
  if (top === undefined || top.fsType !== expect.fsType || !expect.source.test(top.source)) {
    throw new Error(`SAFETY: ${real} is not a ${expect.fsType} scratch mount (${JSON.stringify(top)})`);
  }
  if (fs.statSync(real).dev === fs.statSync(path.dirname(real)).dev) {
    throw new Error(`SAFETY: ${real} is on the same device as its parent`);
  }
}

export const LOOP_EXT4 = { fsType: 'ext4', source: /^\/dev\/loop\d+$/ };
export const SCRATCH_TMPFS = { fsType: 'tmpfs', source: /^qga-native-test$/ };

/** Runs fn with a fresh loop-mounted 64 MiB ext4; always thaws, unmounts and deletes it. */
export async function withLoopExt4(fn: (mnt: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-native-'));
  const img = path.join(dir, 'img');
  const mnt = path.join(dir, 'mnt');
  fs.mkdirSync(mnt);
  let mounted = false;
  try {
    execFileSync('truncate', ['-s', '64M', img]);
    execFileSync('mkfs.ext4', ['-q', img]);
    execFileSync('mount', ['-o', 'loop', img, mnt]);
    mounted = true;
    assertOwnScratchMount(mnt, LOOP_EXT4);
    await fn(mnt);
  } finally {
    if (mounted) {
      // A test that failed while frozen must not leave the filesystem frozen (umount would hang).
      try {
        assertOwnScratchMount(mnt, LOOP_EXT4);
        execFileSync('fsfreeze', ['-u', mnt], { stdio: 'ignore' });
      } catch {
        // EINVAL: not frozen, the normal case.
      }
      execFileSync('umount', [mnt]);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs fn with a small tmpfs of our own: a filesystem without FIFREEZE or FITRIM support. */
export async function withScratchTmpfs(fn: (mnt: string) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-native-'));
  const mnt = path.join(dir, 'tmpfs');
  fs.mkdirSync(mnt);
  let mounted = false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'qga-native-test', mnt]);
    mounted = true;
    assertOwnScratchMount(mnt, SCRATCH_TMPFS);
    await fn(mnt);
  } finally {
    if (mounted) execFileSync('umount', [mnt]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
