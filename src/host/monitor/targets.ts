/**
 * Which VMs to poll, found again at every cycle: unix sockets matching the configured globs (the
 * dedicated monitoring channel, `/var/lib/libvirt/qemu/<vm>.agent` in the original design), plus,
 * when asked, running libvirt domains reached through `virsh qemu-agent-command`.
 *
 * A socket's VM is named after its file: `test.agent` → `test`, `100.qga` → `100`. A libvirt
 * domain is named by its domain name. When a domain also has a matching socket, the socket wins
 * (it does not disturb libvirt's own connection).
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { runCommand, virshArgv, type RunCommand } from '../libvirt-route';

export type Target = { vm: string; route: 'socket'; path: string } | { vm: string; route: 'libvirt'; domain: string };

export function targetAddress(t: Target): string {
  return t.route === 'socket' ? t.path : `libvirt:${t.domain}`;
}

/** `test.agent` → `test`; a name without extension stays as it is. */
export function vmNameFromSocket(socketPath: string): string {
  const base = path.basename(socketPath);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/** A shell-style pattern for one path component: * ? and [...] classes. */
function componentRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let body = pattern.slice(i + 1, end);
        if (body.startsWith('!')) body = '^' + body.slice(1);
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

const hasMagic = (s: string) => /[*?[]/.test(s);

export interface DiscoveryFs {
  readdir(dir: string): Promise<string[]>;
  isSocket(p: string): Promise<boolean>;
}

export const realDiscoveryFs: DiscoveryFs = {
  readdir: (dir) => fsp.readdir(dir),
  isSocket: async (p) => (await fsp.stat(p)).isSocket(),
};

/** Every existing unix socket matching an absolute (or cwd-relative) glob, sorted. */
export async function expandSocketGlob(glob: string, fs: DiscoveryFs = realDiscoveryFs): Promise<string[]> {
  const absolute = path.resolve(glob);
  const parts = absolute.split('/').filter((p) => p !== '');
  let candidates = ['/'];
  for (const part of parts) {
    const next: string[] = [];
    for (const base of candidates) {
      if (!hasMagic(part)) {
        next.push(path.join(base, part));
        continue;
      }
      const re = componentRegExp(part);
      let names: string[];
      try {
        names = await fs.readdir(base);
      } catch {
        continue;
      }
      // A leading dot must be matched explicitly, as in the shell.
      for (const n of names) if (re.test(n) && (!n.startsWith('.') || part.startsWith('.'))) next.push(path.join(base, n));
    }
    candidates = next;
  }
  const sockets: string[] = [];
  for (const c of candidates) {
    try {
      if (await fs.isSocket(c)) sockets.push(c);
    } catch {
      // vanished or unreadable: not a target this cycle
    }
  }
  return sockets.sort();
}

export interface DiscoveryOptions {
  socketGlobs: readonly string[];
  /** 'all' running domains, a list of names, or none */
  libvirtDomains: 'all' | readonly string[];
  libvirtUri?: string | undefined;
  virsh?: string | undefined;
  run?: RunCommand;
  fs?: DiscoveryFs;
}

export async function listRunningDomains(opts: DiscoveryOptions): Promise<string[]> {
  const run = opts.run ?? runCommand;
  const argv = virshArgv({ virsh: opts.virsh, uri: opts.libvirtUri }, 'list', '--name', '--state-running');
  const r = await run(argv, { timeoutMs: 15000 });
  if (r.spawnError || r.code !== 0) throw new Error(`${argv.join(' ')}: ${r.spawnError ?? r.stderr.trim()}`);
  return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/** The VMs to poll this cycle; the first target found for a VM name wins. */
export async function discoverTargets(opts: DiscoveryOptions): Promise<{ targets: Target[]; problems: string[] }> {
  const byName = new Map<string, Target>();
  const problems: string[] = [];
  for (const glob of opts.socketGlobs) {
    for (const p of await expandSocketGlob(glob, opts.fs)) {
      const vm = vmNameFromSocket(p);
      const seen = byName.get(vm);
      if (!seen) byName.set(vm, { vm, route: 'socket', path: p });
      else if (targetAddress(seen) !== p) problems.push(`two sockets for VM '${vm}': ${targetAddress(seen)} and ${p}; using the first`);
    }
  }
  if (opts.libvirtDomains === 'all' || opts.libvirtDomains.length > 0) {
    let domains: readonly string[] = [];
    try {
      domains = opts.libvirtDomains === 'all' ? await listRunningDomains(opts) : opts.libvirtDomains;
    } catch (e) {
      problems.push(`cannot list libvirt domains: ${(e as Error).message}`);
    }
    for (const d of domains) if (!byName.has(d)) byName.set(d, { vm: d, route: 'libvirt', domain: d });
  }
  return { targets: [...byName.values()].sort((a, b) => a.vm.localeCompare(b.vm)), problems };
}
