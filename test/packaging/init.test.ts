/**
 * init/: the systemd unit, the udev rule, the sysvinit and OpenRC scripts and the example config.
 * Checked with the real tools where this machine has them (systemd-analyze; udevadm only when
 * installed or named by QGA_TS_UDEVADM), else skipped with the reason. Nothing here touches the
 * running system: systemd-analyze gets its own root, udevadm runs in a private mount namespace
 * with tmpfs over /sys, /dev and /run.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { repoPath } from '../support/repo';
import { SEA_BINARY, hasTool, isRoot } from './packaging-support';

const UNIT = repoPath('init', 'qga-ts.service');
const RULES = repoPath('init', 'qga-ts.rules');
const SYSVINIT = repoPath('init', 'qga-ts.sysvinit');
const OPENRC = repoPath('init', 'qga-ts.openrc');
const CONF_EXAMPLE = repoPath('init', 'qemu-ga.conf.example');
const PORTS = ['/dev/virtio-ports/org.qemu.guest_agent.0', '/dev/virtio-ports/com.163.spice.0'];
const DEVICE_UNITS = ['dev-virtio\\x2dports-org.qemu.guest_agent.0.device', 'dev-virtio\\x2dports-com.163.spice.0.device'];

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-init-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** key → values of one section of a unit file (continuation lines are not used in ours). */
function unitSection(text: string, section: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#') || line === '') continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = header[1]!;
      continue;
    }
    if (current !== section) continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1)]);
  }
  return out;
}

/** The agent to try command lines on: the single executable, else the checkout's bin/qga-ts. */
function agentCommand(): string | null {
  if (fs.existsSync(SEA_BINARY)) return SEA_BINARY;
  return fs.existsSync(repoPath('dist', 'src', 'main.js')) ? repoPath('bin', 'qga-ts') : null;
}

test('the unit: started by the port devices, never by multi-user.target, restarted always, one process for both ports', () => {
  const text = fs.readFileSync(UNIT, 'utf8');
  const unit = unitSection(text, 'Unit');
  const service = unitSection(text, 'Service');
  const install = unitSection(text, 'Install');
  assert.deepEqual(unit.get('ConditionPathExists'), PORTS.map((p) => `|${p}`));
  assert.deepEqual(unit.get('After'), [DEVICE_UNITS.join(' ')]);
  assert.deepEqual(unit.get('StopWhenUnneeded'), ['yes']);
  assert.deepEqual(service.get('Restart'), ['always']);
  assert.deepEqual(service.get('ExecStart'), [
    `/usr/sbin/qga-ts --method=virtio-serial ${PORTS.map((p) => `--path=${p}`).join(' ')} --retry-path`,
  ]);
  assert.deepEqual(install.get('WantedBy'), [DEVICE_UNITS.join(' ')]);
  const settings = text.split('\n').filter((l) => !l.startsWith('#'));
  assert.ok(!settings.some((l) => l.includes('multi-user.target')));
});

test('the unit passes systemd-analyze verify', {
  skip: hasTool('systemd-analyze') && fs.existsSync('/lib/systemd/system/sysinit.target') ? false : 'systemd-analyze or the systemd units are not installed',
}, (t) => {
  // A root of its own: the real /usr/sbin/qga-ts must exist for verify, and this machine's must not be touched.
  const root = tempDir(t);
  fs.mkdirSync(path.join(root, 'usr', 'sbin'), { recursive: true });
  fs.mkdirSync(path.join(root, 'lib', 'systemd'), { recursive: true });
  fs.cpSync('/lib/systemd/system', path.join(root, 'lib', 'systemd', 'system'), { recursive: true, verbatimSymlinks: true });
  fs.writeFileSync(path.join(root, 'usr', 'sbin', 'qga-ts'), '#!/bin/sh\n', { mode: 0o755 });
  fs.copyFileSync(UNIT, path.join(root, 'lib', 'systemd', 'system', 'qga-ts.service'));
  const run = spawnSync('systemd-analyze', ['verify', `--root=${root}`, 'qga-ts.service'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stderr.trim(), '');

  // The check is real: a broken copy fails it.
  fs.writeFileSync(path.join(root, 'lib', 'systemd', 'system', 'qga-ts.service'), fs.readFileSync(UNIT, 'utf8').replace('/usr/sbin/qga-ts', '/usr/sbin/qga-missing'));
  const broken = spawnSync('systemd-analyze', ['verify', `--root=${root}`, 'qga-ts.service'], { encoding: 'utf8' });
  assert.notEqual(broken.status, 0);
});

test('the unit command line is accepted by the agent: both ports, virtio-serial, retry', { skip: agentCommand() === null ? 'neither dist/qga-ts nor the checkout build exists' : false }, () => {
  const text = fs.readFileSync(UNIT, 'utf8');
  const args = unitSection(text, 'Service').get('ExecStart')![0]!.split(' ').slice(1);
  const dump = execFileSync(agentCommand()!, [...args, '-D'], { env: { QGA_CONF: '/nonexistent/qemu-ga.conf' }, encoding: 'utf8' });
  assert.match(dump, /^method=virtio-serial$/m);
  assert.match(dump, new RegExp(`^path=${PORTS.join(',')}$`, 'm'));
  assert.match(dump, /^retry-path=true$/m);
});

test('the udev rule: both port names want qga-ts.service, nothing else matches', () => {
  const rules = fs
    .readFileSync(RULES, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'));
  assert.deepEqual(rules, [
    'SUBSYSTEM=="virtio-ports", ATTR{name}=="org.qemu.guest_agent.0", TAG+="systemd", ENV{SYSTEMD_WANTS}+="qga-ts.service"',
    'SUBSYSTEM=="virtio-ports", ATTR{name}=="com.163.spice.0", TAG+="systemd", ENV{SYSTEMD_WANTS}+="qga-ts.service"',
  ]);
});

const UDEVADM = process.env['QGA_TS_UDEVADM'] ?? (hasTool('udevadm') ? 'udevadm' : null);

test('udevadm test: a simulated port of each name gets SYSTEMD_WANTS=qga-ts.service', {
  skip:
    UDEVADM === null
      ? 'udevadm not installed (set QGA_TS_UDEVADM to an extracted one, see packaging/README.md)'
      : !isRoot() || !hasTool('unshare')
        ? 'needs root and unshare(1) for a private mount namespace'
        : false,
}, (t) => {
  const dir = tempDir(t);
  const script = path.join(dir, 'simulate.sh');
  // Everything udevadm test writes (/dev/char links, /run/udev/data) lands in tmpfs mounts that
  // exist only inside this namespace.
  fs.writeFileSync(
    script,
    `set -e
mount --make-rprivate /
mount -t tmpfs qga-test-sys /sys
mount -t tmpfs qga-test-dev /dev
mount -t tmpfs qga-test-run /run
dev=/sys/devices/pci0000:00/0000:00:05.0/virtio3/virtio-ports/vport3p1
mkdir -p /sys/class/virtio-ports "$dev" /run/udev/rules.d
printf 'MAJOR=245\\nMINOR=1\\nDEVNAME=vport3p1\\n' > "$dev/uevent"
printf '%s\\n' "$1" > "$dev/name"
echo 245:1 > "$dev/dev"
ln -s ../../../../../../class/virtio-ports "$dev/subsystem"
cp "$2" /run/udev/rules.d/60-qga-ts.rules
SYSTEMD_DEVICE_VERIFY_SYSFS=0 "$3" test --action=add "$dev" 2>&1
`,
  );
  const wants = (name: string): string => {
    const out = execFileSync('unshare', ['-m', 'sh', script, name, RULES, UDEVADM!], { encoding: 'utf8' });
    assert.match(out, /Reading rules file: \/run\/udev\/rules\.d\/60-qga-ts\.rules/);
    assert.doesNotMatch(out, /60-qga-ts\.rules:\d+ .*(Invalid|invalid|error)/);
    return /^SYSTEMD_WANTS=(.*)$/m.exec(out)?.[1] ?? '';
  };
  assert.ok(wants('org.qemu.guest_agent.0').split(' ').includes('qga-ts.service'));
  assert.ok(wants('com.163.spice.0').split(' ').includes('qga-ts.service'));
  assert.ok(!wants('org.example.other.0').split(' ').includes('qga-ts.service'));
});

test('sysvinit: exits 0 and starts nothing when no port is present; status says not running', { skip: hasTool('start-stop-daemon') ? false : 'start-stop-daemon not installed' }, (t) => {
  const dir = tempDir(t);
  const daemon = path.join(dir, 'qga-ts');
  const marker = path.join(dir, 'started');
  fs.writeFileSync(daemon, `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, 'default'), `QGA_TS_PORTS="${dir}/no-such-port ${dir}/nor-this"\n`);
  const script = path.join(dir, 'init');
  fs.writeFileSync(
    script,
    fs
      .readFileSync(SYSVINIT, 'utf8')
      .replace(/^DAEMON=.*$/m, `DAEMON=${daemon}`)
      .replace(/^PIDFILE=.*$/m, `PIDFILE=${dir}/pid`)
      .replaceAll('/etc/default/qga-ts', `${dir}/default`),
    { mode: 0o755 },
  );
  const start = spawnSync('sh', [script, 'start'], { encoding: 'utf8' });
  assert.equal(start.status, 0, start.stderr);
  assert.match(start.stdout, /no agent port present/);
  assert.equal(fs.existsSync(marker), false);
  const status = spawnSync('sh', [script, 'status'], { encoding: 'utf8' });
  assert.equal(status.status, 3);
  const stop = spawnSync('sh', [script, 'stop'], { encoding: 'utf8' });
  assert.equal(stop.status, 0, stop.stderr);
  const bad = spawnSync('sh', [script, 'frobnicate'], { encoding: 'utf8' });
  assert.equal(bad.status, 3);
});

test('sysvinit and OpenRC scripts are valid sh', () => {
  for (const file of [SYSVINIT, OPENRC]) {
    const run = spawnSync('sh', ['-n', file], { encoding: 'utf8' });
    assert.equal(run.status, 0, `${file}: ${run.stderr}`);
  }
});

test('the example config documents every key the agent reads, and parses with each key set', { skip: agentCommand() === null ? 'neither dist/qga-ts nor the checkout build exists' : false }, (t) => {
  const text = fs.readFileSync(CONF_EXAMPLE, 'utf8');
  const keys = ['daemon', 'method', 'path', 'logfile', 'pidfile', 'fsfreeze-hook', 'statedir', 'verbose', 'retry-path', 'block-rpcs', 'blacklist', 'allow-rpcs', 'freeze-timeout'];
  for (const key of keys) assert.match(text, new RegExp(`^#${key}=`, 'm'), `key ${key} is not documented`);

  const asShipped = execFileSync(agentCommand()!, ['-D'], { env: { QGA_CONF: CONF_EXAMPLE }, encoding: 'utf8' });
  assert.match(asShipped, /^\[general\]$/m);
  // Every commented default, uncommented (blacklist would replace block-rpcs, so it is left out).
  const dir = tempDir(t);
  const uncommented = path.join(dir, 'qemu-ga.conf');
  fs.writeFileSync(uncommented, text.replace(/^#([a-z-]+=)/gm, '$1').replace(/^blacklist=.*$/m, ''));
  const all = spawnSync(agentCommand()!, ['-D'], { env: { QGA_CONF: uncommented }, encoding: 'utf8' });
  assert.equal(all.status, 0, all.stderr);
  assert.equal(all.stderr, '');
  assert.match(all.stdout, /^fsfreeze-hook=\/etc\/qemu\/fsfreeze-hook$/m);
});
