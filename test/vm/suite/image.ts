// The image of the real-VM command suite: build-image.sh's base WITHOUT node, a root overlay with
// the shipped single executable at its installed paths, and the small payload (payload/run,
// payload/control.sh). Nothing of the checkout but dist/qga-ts and its helper goes in.
//
//   /usr/sbin/qga-ts                    dist/qga-ts, as built by `npm run package`
//   /usr/lib/qga-ts/qga_native.node     dist/sea/qga_native.node: the packaged copy, so the agent
//                                       never extracts (a restart while frozen must not write)
//   every library `ldd` lists for both, at the path ldd gives (and the loader)
//   /etc/qemu/fsfreeze-hook             init/fsfreeze-hook (the shipped hook)
//   /etc/qemu/fsfreeze-hook.d/…, /usr/sbin/chpasswd    from suite/rootfs/
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildImage, vmSourceDir, type BuiltImage } from '../vm';

export function repositoryRoot(): string {
  return path.resolve(vmSourceDir(), '..', '..');
}

/** dist/qga-ts, or the build QGA_VM_SUITE_AGENT names (its helper is then <dir>/sea/qga_native.node). */
export function shippedAgentPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env['QGA_VM_SUITE_AGENT'] ?? path.join(repositoryRoot(), 'dist', 'qga-ts'));
}

function packagedHelperPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(path.dirname(shippedAgentPath(env)), 'sea', 'qga_native.node');
}

/** Why the shipped executable cannot go into the image, or undefined. */
export function shippedAgentProblem(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!fs.existsSync(shippedAgentPath(env))) return `${shippedAgentPath(env)} is missing (build it with \`npm run package\`)`;
  if (!fs.existsSync(packagedHelperPath(env))) return `${packagedHelperPath(env)} is missing (\`npm run package\` writes it)`;
  return undefined;
}

/** Libraries `ldd` lists for a binary (resolved paths), and its loader. */
export function sharedLibraries(binary: string): string[] {
  const out = execFileSync('ldd', [binary], { encoding: 'utf8' });
  const libraries = new Set<string>();
  for (const line of out.split('\n')) {
    const resolved = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (resolved) libraries.add(resolved[1]!);
  }
  return [...libraries];
}

function copyInto(root: string, target: string, source: string): void {
  const destination = path.join(root, target);
  fs.mkdirSync(path.dirname(destination), { recursive: true });
  fs.copyFileSync(source, destination);
  fs.chmodSync(destination, fs.statSync(source).mode & 0o777);
}

function copyTree(from: string, to: string): void {
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const destination = path.join(to, entry.name);
    if (entry.isDirectory()) {
      fs.mkdirSync(destination, { recursive: true });
      copyTree(source, destination);
    } else if (entry.isFile()) {
      copyInto(to, entry.name, source);
    }
  }
}

/** Writes the root overlay under `dir` (replacing what was there) and returns `dir`. */
export function assembleRootOverlay(dir: string): string {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  copyInto(dir, 'usr/sbin/qga-ts', shippedAgentPath());
  copyInto(dir, 'usr/lib/qga-ts/qga_native.node', packagedHelperPath());
  for (const library of new Set([...sharedLibraries(shippedAgentPath()), ...sharedLibraries(packagedHelperPath())])) {
    copyInto(dir, library, library);
  }
  copyInto(dir, 'etc/qemu/fsfreeze-hook', path.join(repositoryRoot(), 'init', 'fsfreeze-hook'));
  copyTree(path.join(vmSourceDir(), 'suite', 'rootfs'), dir);
  // cpio keeps these modes; the overlay's directories land on the base image's ones.
  for (const sub of ['etc', 'etc/qemu', 'usr', 'usr/sbin', 'usr/lib']) fs.chmodSync(path.join(dir, sub), 0o755);
  return dir;
}

/** build-image.sh with the suite's options: no node in the base, virtio_net, the root overlay. */
export function buildSuiteImage(workRoot: string): Promise<BuiltImage> {
  const overlay = assembleRootOverlay(path.join(workRoot, 'suite-root'));
  return buildImage(path.join(vmSourceDir(), 'suite', 'payload'), {
    ...process.env,
    QGA_VM_NO_NODE: '1',
    QGA_VM_EXTRA_MODULES: 'virtio_net',
    QGA_VM_ROOT_OVERLAY: overlay,
  });
}
