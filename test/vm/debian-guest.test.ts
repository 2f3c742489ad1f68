// A real guest OS (issue #6 part 6): a minimal Debian (debootstrap minbase + systemd + udev +
// Debian's kernel and initramfs-tools initrd) with the qga-ts .deb installed by dpkg inside it,
// booted under QEMU/TCG with root on virtio-blk and both agent ports. Nothing in the guest starts
// the agent by hand: the test shows that
//   - udev (60-qga-ts.rules) and systemd start qga-ts.service when the ports appear: guest-sync
//     answers over the host socket, on both ports, from one process;
//   - the unit was pulled in by the port's device unit, not by multi-user.target;
//   - after `kill -9` of the agent (sent through the agent's own guest-exec) systemd restarts it:
//     a new pid answers;
//   - guest-shutdown powers the systemd guest off.
// The image is built by test/vm/debian/build-image.sh and cached (test/vm/.cache/debian, or
// $QGA_VM_CACHE/debian) per .deb hash and package list; the first build downloads ~200 MB of
// packages and takes minutes. Timings go to test/vm/work/debian-results.json.
//
// QGA_DEBIAN_DEB=<path> tests another .deb.
// Prerequisites, skipped with the reason when missing: root, debootstrap, qemu-system-x86_64,
// mkfs.ext4, dist/qga-ts and dist/qga-ts_<version>_amd64.deb (npm run package:deb). Under CI=true a
// missing dist/qga-ts or .deb fails; QGA_VM_REQUIRED=1 makes every missing prerequisite fail.
//
//   npx tsx --test test/vm/debian-guest.test.ts
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GuestChannel } from './debian/guest-channel';
import { startVm, vmSourceDir, type Vm } from './vm';

const AGENT_PORT = 'org.qemu.guest_agent.0';
const SPICE_PORT = 'com.163.spice.0';
const BOOT_TO_SYNC_TIMEOUT_MS = 240_000;

const repoRoot = path.resolve(vmSourceDir(), '..', '..');
const workDir = path.join(vmSourceDir(), 'work', 'debian');
const results: Record<string, unknown> = {};

/** The .deb under test: $QGA_DEBIAN_DEB, else what `npm run package:deb` wrote. */
function debPath(): string {
  const override = process.env['QGA_DEBIAN_DEB'];
  if (override !== undefined && override !== '') return path.resolve(override);
  const version = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version.replace(/-/g, '~');
  return path.join(repoRoot, 'dist', `qga-ts_${version}_amd64.deb`);
}

/**
 * Why the test cannot run. A missing dist/qga-ts or .deb fails under CI=true (CI must test the
 * shipped files); with QGA_VM_REQUIRED=1 every missing prerequisite fails.
 */
function prerequisiteProblem(): { problem?: string; mustFail: boolean } {
  const runs = (command: string, args: string[]): boolean => spawnSync(command, args, { stdio: 'ignore' }).status === 0;
  const required = process.env['QGA_VM_REQUIRED'] === '1';
  const shipped = ((): string | undefined => {
    if (!fs.existsSync(path.join(repoRoot, 'dist', 'qga-ts'))) return 'dist/qga-ts is missing (npm run package)';
    if (!fs.existsSync(debPath())) return `${debPath()} is missing (npm run package:deb)`;
    return undefined;
  })();
  if (shipped !== undefined) return { problem: shipped, mustFail: process.env['CI'] === 'true' || required };
  const problem = ((): string | undefined => {
    if (process.getuid?.() !== 0) return 'building the image needs root (debootstrap, chroot)';
    if (!runs('debootstrap', ['--version'])) return 'debootstrap not installed (apt: debootstrap)';
    if (!runs('qemu-system-x86_64', ['--version'])) return 'qemu-system-x86_64 not installed (apt: qemu-system-x86)';
    if (!runs('mkfs.ext4', ['-V'])) return 'mkfs.ext4 not installed (apt: e2fsprogs)';
    return undefined;
  })();
  return { problem, mustFail: problem !== undefined && required };
}

interface DebianImage {
  image: string;
  kernel: string;
  initrd: string;
  base: string;
  imageBuild: string;
}

function buildDebianImage(deb: string): Promise<DebianImage> {
  const script = path.join(vmSourceDir(), 'debian', 'build-image.sh');
  return new Promise((resolve, reject) => {
    // A cold build (debootstrap) takes minutes; its progress is kept for when it fails.
    execFile('bash', [script, deb], { maxBuffer: 256 * 1024 * 1024, timeout: 1_800_000 }, (error, stdout, stderr) => {
      fs.writeFileSync(path.join(workDir, 'build.log'), stderr);
      if (error) {
        reject(new Error(`debian/build-image.sh failed: ${error.message}\n${stderr.slice(-4000)}`));
        return;
      }
      const value = (key: string): string => {
        const found = new RegExp(`^${key}=(.*)$`, 'm').exec(stdout)?.[1];
        if (found === undefined) throw new Error(`build-image.sh printed no ${key}=:\n${stdout}`);
        return found;
      };
      resolve({ image: value('IMAGE'), kernel: value('KERNEL'), initrd: value('INITRD'), base: value('BASE'), imageBuild: value('IMAGE_BUILD') });
    });
  });
}

const { problem, mustFail } = prerequisiteProblem();

describe('a real Debian guest starts qga-ts from udev and systemd', { skip: mustFail ? false : problem, timeout: 1_800_000 }, () => {
  if (mustFail) {
    it('has its prerequisites', () => assert.fail(problem));
    return;
  }

  let vm: Vm | undefined;
  let channel: GuestChannel | undefined;
  let bootStarted = 0;

  const agentChannel = (): GuestChannel => {
    if (channel === undefined) throw new Error('no channel to the agent');
    return channel;
  };
  const guestOut = async (script: string): Promise<string> => {
    const result = await agentChannel().shell(script);
    assert.equal(result.exitcode, 0, `guest: ${script}: ${result.err}`);
    return result.out.trim();
  };
  const unitProperties = async (): Promise<Map<string, string>> => {
    const out = await guestOut('systemctl show -p ActiveState,SubState,MainPID,NRestarts,WantedBy,After,LoadState qga-ts.service');
    return new Map(out.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as [string, string]));
  };

  before(async () => {
    fs.mkdirSync(workDir, { recursive: true });
    const started = Date.now();
    const image = await buildDebianImage(debPath());
    results['imageMs'] = Date.now() - started;
    results['base'] = image.base;
    results['imageBuild'] = image.imageBuild;

    bootStarted = Date.now();
    vm = await startVm({
      kernel: image.kernel,
      initrd: image.initrd,
      workDir,
      ports: [{ name: SPICE_PORT }, { name: AGENT_PORT }],
      // snapshot=on: the guest's writes go to a temporary overlay, the cached image stays pristine.
      extraArgs: ['-drive', `file=${image.image},if=virtio,format=raw,snapshot=on,cache=unsafe`],
      append: 'root=/dev/vda rw systemd.show_status=1',
    });
  });

  after(async () => {
    channel?.close();
    if (vm !== undefined) {
      await vm.stop(60_000);
      fs.copyFileSync(vm.serialLog, path.join(vmSourceDir(), 'work', 'debian-last-console.log'));
    }
    fs.writeFileSync(path.join(vmSourceDir(), 'work', 'debian-results.json'), JSON.stringify(results, null, 2) + '\n');
  });

  it('udev and systemd start qga-ts.service when the port appears: guest-sync answers with no manual start', async () => {
    channel = await GuestChannel.connect(vm!.ports.get(AGENT_PORT)!);
    try {
      await channel.sync(BOOT_TO_SYNC_TIMEOUT_MS);
    } catch (error) {
      throw new Error(`${(error as Error).message}\nconsole:\n${vm!.console.tail(60)}`);
    }
    results['bootToFirstSyncMs'] = Date.now() - bootStarted;

    const unit = await unitProperties();
    results['unit'] = Object.fromEntries(unit);
    assert.equal(unit.get('LoadState'), 'loaded');
    assert.equal(unit.get('ActiveState'), 'active');
    assert.equal(unit.get('SubState'), 'running');
    // Pulled in by the port's device unit (udev's SYSTEMD_WANTS), and by nothing else. systemd
    // names device units after their sysfs path; /dev/virtio-ports/<name> is an alias of the same unit.
    // systemctl quotes names with a backslash in them and doubles the backslash.
    const wantedBy = unit.get('WantedBy')!.split(' ').filter((u) => u !== '').map((u) => u.replace(/^"|"$/g, '').replace(/\\\\/g, '\\'));
    const agentDeviceUnit = await guestOut(
      "systemd-escape --path --suffix=device \"$(systemctl show -P SysFSPath 'dev-virtio\\x2dports-org.qemu.guest_agent.0.device')\"",
    );
    results['agentDeviceUnit'] = agentDeviceUnit;
    assert.ok(wantedBy.includes(agentDeviceUnit), `WantedBy=${unit.get('WantedBy')} includes ${agentDeviceUnit}`);
    assert.ok(wantedBy.every((u) => u.endsWith('.device')), `only device units want it: ${unit.get('WantedBy')}`);
    assert.notEqual(await guestOut('systemctl is-enabled qga-ts.service || true'), 'enabled');
    assert.notEqual((await agentChannel().shell('test -e /etc/systemd/system/multi-user.target.wants/qga-ts.service')).exitcode, 0);
    const device = await guestOut("systemctl show -p ActiveState,SysFSPath 'dev-virtio\\x2dports-org.qemu.guest_agent.0.device'");
    assert.match(device, /ActiveState=active/);
    results['agentDevice'] = device;

    const pids = (await guestOut('pidof qga-ts')).split(/\s+/);
    assert.equal(pids.length, 1, 'one agent process');
    assert.equal(unit.get('MainPID'), pids[0]);
    assert.equal(await guestOut('readlink -f /proc/$(pidof qga-ts)/exe'), '/usr/sbin/qga-ts');
    results['dpkg'] = await guestOut("dpkg-query -W -f='${Package} ${Version} ${Status}' qga-ts");
    assert.match(results['dpkg'] as string, /^qga-ts \S+ install ok installed$/);
    // The .deb's helper copy is found next to the binary's prefix: nothing is extracted.
    const selfCheck = JSON.parse(await guestOut('/usr/sbin/qga-ts self-check')) as { native: { available: boolean; loadedFrom?: string } };
    results['selfCheckNative'] = selfCheck.native;
    assert.deepEqual(selfCheck.native, { available: true, loadedFrom: '/usr/lib/qga-ts/qga_native.node' });
    results['journal'] = await guestOut('journalctl -b --no-pager -o short-monotonic -u qga-ts.service | tail -n 20');
    results['osRelease'] = (await agentChannel().request('guest-get-osinfo')) as unknown;
  });

  it('the same process serves the second port (com.163.spice.0)', async () => {
    const spice = await GuestChannel.connect(vm!.ports.get(SPICE_PORT)!);
    try {
      await spice.sync(60_000);
      const { pid } = (await spice.request('guest-exec', { path: '/bin/sh', arg: ['-c', 'true'] })) as { pid: number };
      assert.ok(pid > 0);
      assert.equal((await unitProperties()).get('MainPID'), await guestOut('pidof qga-ts'));
    } finally {
      spice.close();
    }
  });

  it('after kill -9 of the agent systemd restarts it, and a new pid answers', async () => {
    const before = await unitProperties();
    const oldPid = await guestOut('pidof qga-ts');
    // The reply may never come: the process that would send it is the one being killed.
    const consoleMark = vm!.console.lineCount;
    agentChannel().send('guest-exec', { path: '/bin/sh', arg: ['-c', `kill -9 ${oldPid}`] });
    const killed = Date.now();
    // The journal goes to the console (see build-image.sh): wait for systemd to see the death, so
    // that the old agent cannot be the one answering below.
    await vm!.console.waitFor(/qga-ts\.service: Main process exited, code=killed, status=9\/KILL/, 60_000, consoleMark);
    agentChannel().close();
    channel = undefined;
    let newPid = '';
    const deadline = Date.now() + 120_000;
    while (newPid === '' || newPid === oldPid) {
      assert.ok(Date.now() < deadline, 'a restarted agent answered within 120 s');
      channel?.close();
      try {
        channel = await GuestChannel.connect(vm!.ports.get(AGENT_PORT)!);
        await channel.sync(10_000, 1_000);
        newPid = await guestOut('pidof qga-ts');
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    results['killToSyncMs'] = Date.now() - killed;

    assert.notEqual(newPid, oldPid);
    const after = await unitProperties();
    results['unitAfterKill'] = Object.fromEntries(after);
    assert.equal(after.get('ActiveState'), 'active');
    assert.equal(after.get('MainPID'), newPid);
    assert.equal(Number(after.get('NRestarts')), Number(before.get('NRestarts')) + 1);
    results['journalAfterKill'] = await guestOut('journalctl -b --no-pager -o short-monotonic -u qga-ts.service | tail -n 8');
  });

  it('guest-shutdown powers the Debian guest off', async () => {
    agentChannel().send('guest-shutdown');
    const started = Date.now();
    const exit = await vm!.waitExit(180_000);
    results['shutdownMs'] = Date.now() - started;
    assert.equal(exit.shutdownReason, 'guest-shutdown');
  });
});
