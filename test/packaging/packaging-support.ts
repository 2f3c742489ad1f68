/**
 * Shared by the packaging tests: where the built artefacts are, whether tools exist, and how to run
 * something as an unprivileged user so that tests run as root do not write into /var/lib.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoPath } from '../support/repo';

export const SEA_BINARY = repoPath('dist', 'qga-ts');
export const BUILT_ADDON = repoPath('build', 'Release', 'qga_native.node');
/** The helper as embedded in dist/qga-ts and shipped in the .deb (stripped by build-sea.ts). */
export const SHIPPED_ADDON = repoPath('dist', 'sea', 'qga_native.node');
export const PACKAGE_VERSION = (JSON.parse(fs.readFileSync(repoPath('package.json'), 'utf8')) as { version: string }).version;

/**
 * A skip reason when dist/qga-ts was not built, or false. Under CI a missing executable is a
 * failure, not a skip: .ci/run runs `npm run package` before the tests.
 */
export function seaSkip(): string | false {
  if (fs.existsSync(SEA_BINARY)) return false;
  if (process.env['CI'] === 'true') throw new Error(`${SEA_BINARY} is missing under CI: .ci/run must run npm run package first`);
  return 'dist/qga-ts is not built (run npm run package)';
}

export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

export const isRoot = (): boolean => process.getuid?.() === 0;

export const NOBODY = { uid: 65534, gid: 65534 };

/** Runs a program as nobody when we are root (setpriv), else as ourselves. */
export function runUnprivileged(
  file: string,
  args: readonly string[],
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): SpawnSyncReturns<string> {
  const [cmd, argv] = isRoot()
    ? ['setpriv', ['--reuid', String(NOBODY.uid), '--regid', String(NOBODY.gid), '--clear-groups', '--', file, ...args]]
    : [file, [...args]];
  return spawnSync(cmd, argv, {
    cwd: opts.cwd ?? '/',
    env: opts.env ?? {},
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60_000,
  });
}

/** A directory the unprivileged user owns, mode 0700 (an XDG_RUNTIME_DIR stand-in). */
export function privateDirFor(parent: string, name: string): string {
  const dir = path.join(parent, name);
  fs.mkdirSync(dir, { mode: 0o700 });
  if (isRoot()) fs.chownSync(dir, NOBODY.uid, NOBODY.gid);
  return dir;
}

/** The highest symbol version with this prefix (GLIBC_, GLIBCXX_, CXXABI_) that a file needs. */
export function maxSymbolVersion(file: string, prefix: string): string | null {
  const out = spawnSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (out.status !== 0) throw new Error(`objdump -T ${file}: ${out.stderr}`);
  const versions = [...out.stdout.matchAll(new RegExp(`\\b${prefix}([0-9][0-9.]*)\\b`, 'g'))].map((m) => m[1]!.replace(/\.$/, ''));
  if (versions.length === 0) return null;
  return versions.sort(compareVersions).at(-1)!;
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
