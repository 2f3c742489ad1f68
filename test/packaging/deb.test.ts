/**
 * The .deb from packaging/build-deb.sh: its control data and contents, lintian when installed, and
 * install / take-over / remove / purge with dpkg into throwaway roots (never this machine's /).
 * Maintainer scripts run chroot-less with DPKG_ROOT set, which is exactly the case in which they
 * must leave the running system alone.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { before, test } from 'node:test';
import { repoPath } from '../support/repo';
import { PACKAGE_VERSION, SHIPPED_ADDON, hasTool, seaSkip } from './packaging-support';

const skipBuild = hasTool('dpkg-deb') ? seaSkip() : 'dpkg-deb not installed';
const skipInstall = skipBuild || (hasTool('dpkg') ? false : 'dpkg not installed');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-deb-'));
process.on('exit', () => fs.rmSync(work, { recursive: true, force: true }));
let deb = '';

before(() => {
  if (skipBuild) return;
  // gzip: the test's time matters more than the file's size here.
  execFileSync('sh', [repoPath('packaging', 'build-deb.sh'), '--no-sea-build', '--compress=gzip', `--out=${work}`], { stdio: 'pipe' });
  deb = path.join(work, `qga-ts_${PACKAGE_VERSION.replaceAll('-', '~')}_amd64.deb`);
});

function field(name: string): string {
  return execFileSync('dpkg-deb', ['-f', deb, name], { encoding: 'utf8' }).trim();
}

test('control: drop-in for qemu-guest-agent, version from package.json, glibc floor in Depends', { skip: skipBuild }, () => {
  assert.equal(field('Package'), 'qga-ts');
  assert.equal(field('Version'), PACKAGE_VERSION.replaceAll('-', '~'));
  assert.equal(field('Architecture'), 'amd64');
  assert.equal(field('Provides'), 'qemu-guest-agent');
  assert.equal(field('Conflicts'), 'qemu-guest-agent');
  assert.equal(field('Replaces'), 'qemu-guest-agent');
  assert.equal(field('Depends'), 'libc6 (>= 2.28), libgcc-s1 (>= 3.4) | libgcc1 (>= 1:3.4), libstdc++6 (>= 7)');
  const info = execFileSync('dpkg-deb', ['-I', deb], { encoding: 'utf8' });
  for (const script of ['preinst', 'postinst', 'prerm', 'postrm', 'conffiles', 'md5sums']) assert.match(info, new RegExp(`\\b${script}\\b`));
  const conffiles = execFileSync('dpkg-deb', ['--info', deb, 'conffiles'], { encoding: 'utf8' });
  assert.deepEqual(conffiles.trim().split('\n'), ['/etc/qemu/qemu-ga.conf', '/etc/qemu/fsfreeze-hook']);
});

test('contents: binary, helper, unit, rule, conf, hook and its directory, docs', { skip: skipBuild }, () => {
  const listing = execFileSync('dpkg-deb', ['-c', deb], { encoding: 'utf8' });
  const entries = new Map(
    listing
      .trim()
      .split('\n')
      .map((line) => {
        const cols = line.split(/\s+/);
        return [cols.slice(5).join(' ').replace(/^\./, ''), cols[0]!] as const;
      }),
  );
  const expect: Record<string, string> = {
    '/usr/sbin/qga-ts': '-rwxr-xr-x',
    '/usr/lib/qga-ts/qga_native.node': '-rw-r--r--',
    '/lib/systemd/system/qga-ts.service': '-rw-r--r--',
    '/lib/udev/rules.d/60-qga-ts.rules': '-rw-r--r--',
    '/etc/qemu/qemu-ga.conf': '-rw-r--r--',
    '/etc/qemu/fsfreeze-hook': '-rwxr-xr-x',
    '/etc/qemu/fsfreeze-hook.d/': 'drwxr-xr-x',
    '/var/lib/qga-ts/': 'drwx------',
    '/usr/share/doc/qga-ts/copyright': '-rw-r--r--',
    '/usr/share/doc/qga-ts/examples/qga-ts.openrc': '-rw-r--r--',
    '/usr/share/doc/qga-ts/examples/qga-ts.sysvinit': '-rw-r--r--',
  };
  for (const [file, mode] of Object.entries(expect)) assert.equal(entries.get(file), mode, `${file} in:\n${listing}`);
  assert.ok(listing.trim().split('\n').every((l) => l.includes(' root/root ')), 'every file is root-owned');
});

test('lintian reports no errors or warnings beyond the documented overrides', {
  skip: skipBuild || (hasTool('lintian') ? false : 'lintian not installed'),
}, () => {
  const run = spawnSync('lintian', ['--tag-display-limit', '0', deb], { encoding: 'utf8' });
  const findings = run.stdout.split('\n').filter((l) => /^[EW]: /.test(l));
  assert.deepEqual(findings, []);
});

/** An empty dpkg database in a fresh directory, knowing the libraries the package depends on. */
function throwawayRoot(): string {
  const root = fs.mkdtempSync(path.join(work, 'root-'));
  const admin = path.join(root, 'var', 'lib', 'dpkg');
  for (const d of ['info', 'updates', 'triggers']) fs.mkdirSync(path.join(admin, d), { recursive: true });
  const stub = (pkg: string, version: string) =>
    `Package: ${pkg}\nStatus: install ok installed\nPriority: optional\nSection: libs\nMaintainer: test <test@invalid>\nArchitecture: amd64\nVersion: ${version}\nDescription: stand-in\n\n`;
  fs.writeFileSync(path.join(admin, 'status'), stub('libc6', '2.36-9') + stub('libgcc-s1', '12.2.0-14') + stub('libstdc++6', '12.2.0-14'));
  for (const pkg of ['libc6', 'libgcc-s1', 'libstdc++6']) fs.writeFileSync(path.join(admin, 'info', `${pkg}.list`), '');
  fs.writeFileSync(path.join(admin, 'available'), '');
  return root;
}

function dpkg(root: string, ...args: string[]): string {
  const run = spawnSync('dpkg', [`--root=${root}`, '--force-not-root', '--force-script-chrootless', `--log=${path.join(work, 'dpkg.log')}`, ...args], {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  assert.equal(run.status, 0, `dpkg ${args.join(' ')}:\n${run.stdout}\n${run.stderr}`);
  return run.stdout + run.stderr;
}

function status(root: string, pkg: string): string {
  const run = spawnSync('dpkg-query', [`--admindir=${path.join(root, 'var', 'lib', 'dpkg')}`, '-W', '-f=${db:Status-Abbrev}', pkg], { encoding: 'utf8' });
  return run.status === 0 ? run.stdout.trim() : 'unknown';
}

/** Everything under root except dpkg's own database (and the directories holding it). */
function leftovers(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of fs.readdirSync(dir)) {
      const full = path.join(dir, name);
      const rel = path.relative(root, full);
      if (rel === path.join('var', 'lib', 'dpkg')) continue;
      found.push(rel);
      if (fs.lstatSync(full).isDirectory()) walk(full);
    }
  };
  walk(root);
  return found.filter((f) => !['var', path.join('var', 'lib')].includes(f)).sort();
}

test('install, run the installed executable, remove, purge: nothing is left behind', { skip: skipInstall }, () => {
  const root = throwawayRoot();
  const before = leftovers(root);
  dpkg(root, '-i', deb);
  assert.equal(status(root, 'qga-ts'), 'ii');
  assert.equal(fs.readFileSync(path.join(root, 'etc', 'qemu', 'qemu-ga.conf'), 'utf8'), fs.readFileSync(repoPath('init', 'qemu-ga.conf.example'), 'utf8'));
  assert.deepEqual(fs.readFileSync(path.join(root, 'usr', 'lib', 'qga-ts', 'qga_native.node')), fs.readFileSync(SHIPPED_ADDON));

  // The installed executable finds the packaged helper relative to itself (<prefix>/lib/qga-ts).
  const check = JSON.parse(execFileSync(path.join(root, 'usr', 'sbin', 'qga-ts'), ['self-check'], { env: {}, cwd: '/', encoding: 'utf8' })) as {
    native: { loadedFrom?: string };
  };
  assert.equal(check.native.loadedFrom, path.join(root, 'usr', 'lib', 'qga-ts', 'qga_native.node'));
  assert.deepEqual(fs.readdirSync(path.join(root, 'var', 'lib', 'qga-ts')), []);

  // Remove keeps the conffiles (dpkg's rule); the agent's runtime files are simulated.
  fs.writeFileSync(path.join(root, 'var', 'lib', 'qga-ts', 'qga_native-0123.node'), 'x');
  fs.mkdirSync(path.join(root, 'var', 'log'), { recursive: true });
  fs.writeFileSync(path.join(root, 'var', 'log', 'qga-fsfreeze-hook.log'), 'hook ran\n');
  dpkg(root, '--remove', 'qga-ts');
  assert.equal(status(root, 'qga-ts'), 'rc');
  assert.ok(!fs.existsSync(path.join(root, 'usr', 'sbin', 'qga-ts')));
  assert.ok(fs.existsSync(path.join(root, 'etc', 'qemu', 'qemu-ga.conf')));

  dpkg(root, '--purge', 'qga-ts');
  assert.match(status(root, 'qga-ts'), /^(un|unknown)$/);
  const after = leftovers(root).filter((f) => f !== path.join('var', 'log'));
  assert.deepEqual(after, before);
});

/** A stand-in for Debian's qemu-guest-agent with the same conffile and files that matter. */
function fakeQemuGuestAgentDeb(): string {
  const stage = fs.mkdtempSync(path.join(work, 'qemu-guest-agent-'));
  const put = (rel: string, content: string, mode = 0o644) => {
    fs.mkdirSync(path.dirname(path.join(stage, rel)), { recursive: true });
    fs.writeFileSync(path.join(stage, rel), content, { mode });
  };
  put('etc/qemu/fsfreeze-hook', '#!/bin/sh\n# Debian qemu-guest-agent hook stand-in\n', 0o755);
  fs.mkdirSync(path.join(stage, 'etc', 'qemu', 'fsfreeze-hook.d'), { recursive: true });
  put('usr/sbin/qemu-ga', '#!/bin/sh\n', 0o755);
  put('lib/udev/rules.d/60-qemu-guest-agent.rules', 'SUBSYSTEM=="virtio-ports", ATTR{name}=="org.qemu.guest_agent.0", TAG+="systemd"\n');
  put('lib/systemd/system/qemu-guest-agent.service', '[Unit]\nDescription=stand-in\n');
  put('DEBIAN/conffiles', '/etc/qemu/fsfreeze-hook\n');
  put(
    'DEBIAN/control',
    'Package: qemu-guest-agent\nVersion: 1:7.2+dfsg-7+deb12u18\nArchitecture: amd64\nMaintainer: test <test@invalid>\nDescription: stand-in for Debian qemu-guest-agent\n test\n',
  );
  const out = path.join(work, 'qemu-guest-agent-standin.deb');
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '-b', stage, out], { stdio: 'ignore' });
  return out;
}

test('replaces an installed qemu-guest-agent: takes over /etc/qemu/fsfreeze-hook, keeps the admin qemu-ga.conf', { skip: skipInstall }, () => {
  const root = throwawayRoot();
  dpkg(root, '-i', fakeQemuGuestAgentDeb());
  assert.equal(status(root, 'qemu-guest-agent'), 'ii');
  const adminConf = '[general]\nblock-rpcs=guest-exec\n';
  fs.writeFileSync(path.join(root, 'etc', 'qemu', 'qemu-ga.conf'), adminConf);
  fs.writeFileSync(path.join(root, 'etc', 'qemu', 'fsfreeze-hook.d', '10-db'), '#!/bin/sh\n', { mode: 0o755 });

  const out = dpkg(root, '-i', deb);
  assert.match(out, /will remove qemu-guest-agent in favour of qga-ts/);
  // Removed with its conffiles kept (config-files state; the selection may stay "install").
  assert.match(status(root, 'qemu-guest-agent'), /^[ir]c$/);
  assert.equal(status(root, 'qga-ts'), 'ii');
  // The unmodified conffile of the replaced package becomes ours, silently (no prompt).
  assert.equal(fs.readFileSync(path.join(root, 'etc', 'qemu', 'fsfreeze-hook'), 'utf8'), fs.readFileSync(repoPath('init', 'fsfreeze-hook'), 'utf8'));
  assert.equal(fs.readFileSync(path.join(root, 'etc', 'qemu', 'qemu-ga.conf'), 'utf8'), adminConf);
  assert.ok(!fs.existsSync(path.join(root, 'etc', 'qemu', 'qemu-ga.conf.qga-ts-saved')));
  assert.ok(!fs.existsSync(path.join(root, 'usr', 'sbin', 'qemu-ga')));
  assert.ok(!fs.existsSync(path.join(root, 'lib', 'udev', 'rules.d', '60-qemu-guest-agent.rules')));

  // Purging what is left of qemu-guest-agent must not take our hook with it.
  dpkg(root, '--purge', 'qemu-guest-agent');
  assert.ok(fs.existsSync(path.join(root, 'etc', 'qemu', 'fsfreeze-hook')));
  const owner = spawnSync('dpkg-query', [`--admindir=${path.join(root, 'var', 'lib', 'dpkg')}`, '-S', '/etc/qemu/fsfreeze-hook'], { encoding: 'utf8' });
  assert.match(owner.stdout, /^qga-ts: \/etc\/qemu\/fsfreeze-hook$/m);

  // Purging qga-ts leaves only what the admin made (their hook script), never our files.
  dpkg(root, '--purge', 'qga-ts');
  assert.deepEqual(leftovers(root), ['etc', 'etc/qemu', 'etc/qemu/fsfreeze-hook.d', 'etc/qemu/fsfreeze-hook.d/10-db']);
});
