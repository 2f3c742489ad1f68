// Assembles the payload directory that puts the REAL agent into the test VM:
//   run, stat-loop.sh          from test/vm/agent/
//   qga-ts/bin/qga-ts          the checkout's entry script
//   qga-ts/dist/src/           the compiled agent (npm run build first)
//   qga-ts/build/Release/qga_native.node
//   qga-ts/node_modules/       the production dependencies only (npm ls --omit=dev)
//   qemu-ga/qemu-ga, qemu-ga/lib/   Debian's qemu-ga with every library ldd lists and the loader,
//                              started as lib/ld-linux-x86-64.so.2 --library-path lib qemu-ga
// The image's node and its libraries come from build-image.sh's base archive.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { vmSourceDir } from './vm';

export const QEMU_GA_BINARY = '/usr/sbin/qemu-ga';

export function repoRoot(): string {
  return path.resolve(vmSourceDir(), '..', '..');
}

/** Why the real agent cannot be put into the VM, or undefined. */
export function agentPayloadProblem(): string | undefined {
  const root = repoRoot();
  if (!fs.existsSync(path.join(root, 'dist', 'src', 'main.js'))) return 'the agent is not built (npm run build): dist/src/main.js missing';
  if (!fs.existsSync(path.join(root, 'build', 'Release', 'qga_native.node'))) return 'the native helper is not built: build/Release/qga_native.node missing';
  return undefined;
}

function copyTree(from: string, to: string, skip: (rel: string) => boolean = () => false, rel = ''): void {
  const stat = fs.lstatSync(from);
  if (skip(rel)) return;
  if (stat.isSymbolicLink()) {
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.symlinkSync(fs.readlinkSync(from), to);
  } else if (stat.isDirectory()) {
    fs.mkdirSync(to, { recursive: true });
    for (const entry of fs.readdirSync(from).sort()) copyTree(path.join(from, entry), path.join(to, entry), skip, rel === '' ? entry : `${rel}/${entry}`);
  } else if (stat.isFile()) {
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(from, to);
    fs.chmodSync(to, stat.mode & 0o777);
  }
}

function productionPackages(root: string): string[] {
  let out: string;
  try {
    out = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (e) {
    // npm ls exits non-zero on extraneous/missing packages but still prints the tree
    out = String((e as { stdout?: unknown }).stdout ?? '');
  }
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && l !== root && l.startsWith(path.join(root, 'node_modules')));
}

/** Libraries `ldd` lists for a binary, and its loader. */
function sharedLibraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    const direct = /^\s*(\/\S+)\s+\(/.exec(line);
    if (arrow) libs.push(arrow[1]!);
    else if (direct) libs.push(direct[1]!);
  }
  return libs;
}

export interface AgentPayload {
  dir: string;
  /** false when /usr/sbin/qemu-ga is not installed: the reference comparison is skipped */
  withQemuGa: boolean;
}

/**
 * Builds the payload under `workRoot` (replacing an older one) and returns its directory. The
 * agent's own files (bin/, dist/src/, build/Release/, package.json) come from `appRoot`, by
 * default this checkout (bench/vm-rtt.ts passes a saved build); node_modules from the checkout.
 */
export function assembleAgentPayload(workRoot: string, appRoot: string = repoRoot()): AgentPayload {
  const root = repoRoot();
  const dir = path.join(workRoot, 'agent-payload');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  copyTree(path.join(vmSourceDir(), 'agent'), dir);

  const app = path.join(dir, 'qga-ts');
  copyTree(path.join(appRoot, 'bin', 'qga-ts'), path.join(app, 'bin', 'qga-ts'));
  copyTree(path.join(appRoot, 'dist', 'src'), path.join(app, 'dist', 'src'));
  copyTree(path.join(appRoot, 'build', 'Release', 'qga_native.node'), path.join(app, 'build', 'Release', 'qga_native.node'));
  copyTree(path.join(appRoot, 'package.json'), path.join(app, 'package.json'));
  const modules = path.join(root, 'node_modules');
  // serialport ships prebuilt addons for a dozen platforms; the guest is linux-x64 glibc.
  const foreignPrebuild = (rel: string): boolean => /(^|\/)prebuilds\/(?!linux-x64($|\/))/.test(rel);
  for (const pkg of productionPackages(root)) {
    const rel = path.relative(modules, pkg);
    const target = path.join(app, 'node_modules', rel);
    // Copy the package itself, not nested node_modules (those are listed on their own).
    copyTree(pkg, target, (inner) => inner === 'node_modules' || foreignPrebuild(inner));
  }

  const withQemuGa = fs.existsSync(QEMU_GA_BINARY);
  if (withQemuGa) {
    const lib = path.join(dir, 'qemu-ga', 'lib');
    fs.mkdirSync(lib, { recursive: true });
    fs.copyFileSync(QEMU_GA_BINARY, path.join(dir, 'qemu-ga', 'qemu-ga'));
    fs.chmodSync(path.join(dir, 'qemu-ga', 'qemu-ga'), 0o755);
    for (const library of sharedLibraries(QEMU_GA_BINARY)) {
      const name = path.basename(library);
      const target = path.join(lib, /^ld-linux/.test(name) ? 'ld-linux-x86-64.so.2' : name);
      fs.copyFileSync(fs.realpathSync(library), target);
      fs.chmodSync(target, 0o755);
    }
  }
  return { dir, withQemuGa };
}
