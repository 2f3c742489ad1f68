// A real host client against the real agent (issue #6 part 5): libvirt's virsh drives qga-ts in a
// transient QEMU/TCG domain, over the channel libvirt itself wires up. If libvirt accepts every
// reply and the values are the ones the guest really has, libvirt cannot tell qga-ts from qemu-ga.
//
// Setup: a private libvirtd + virtlogd (test/vm/virsh/libvirtd.sh: own mount namespace, state and
// config under test/vm/work/virsh/daemon, no systemd needed), `virsh create` of
// test/vm/virsh/domain.xml (type qemu = TCG, direct kernel boot of build-image.sh's kernel and
// initramfs, virtio channel org.qemu.guest_agent.0, ext4 data disk, virtio NIC, console to a file).
// The payload (test/vm/virsh/guest/run) runs dist/qga-ts, or without it the checkout's agent under
// node; under CI=true a missing dist/qga-ts fails the test. Other missing prerequisites (root,
// libvirtd/virsh/virtlogd, QEMU, busybox-static, a kernel) skip it with the reason, or fail with
// QGA_VM_REQUIRED=1.
//
// Ground truth comes from the guest itself, not from the agent's reports: console lines the payload
// prints before the agent starts, programs run through guest-exec (busybox `ip`, `stat -f`,
// `date`, /sys), the host file behind the data disk (for fstrim), QEMU's exit (for shutdown).
// Every virsh command's output goes to test/vm/work/virsh-results.json.
//
//   npx tsx --test test/vm/virsh.test.ts          (root; ~1.5 min with a cached image)
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildImage, makeExt4Image, vmPrerequisiteProblem, vmSourceDir } from './vm';
import {
  assembleVirshPayload,
  expandCpuList,
  findAgentBuild,
  libvirtPrerequisiteProblem,
  parseFacts,
  parseKeyValues,
  parseTable,
  qemuEmulator,
  renderDomainXml,
  startLibvirtd,
  virsh,
  virshDir,
  virshOk,
  type AgentBuild,
  type Libvirtd,
} from './virsh/virsh';

const DOMAIN = 'qga-virsh-test';
const MAC = '52:54:00:51:9a:01';
const DISK_SERIAL = 'QGADATA01';
const TEST_USER = 'qgatest';

const agentBuild = findAgentBuild();
const problem = agentBuild.problem ?? vmPrerequisiteProblem() ?? libvirtPrerequisiteProblem();
const mustFail = agentBuild.mustFail === true || (problem !== undefined && process.env['QGA_VM_REQUIRED'] === '1');

const workDir = path.join(vmSourceDir(), 'work', 'virsh');
const results: { timings: Record<string, number>; agent?: string; commands: Array<{ command: string; ms: number; output: string }> } = {
  timings: {},
  commands: [],
};

interface Guest {
  libvirtd: Libvirtd;
  consoleLog: string;
  dataDisk: string;
  facts: Map<string, string[]>;
}

let guest: Guest | undefined;

function g(): Guest {
  if (guest === undefined) throw new Error('the domain did not start');
  return guest;
}

/** virsh that must succeed; the output is recorded for the report. */
async function run(args: string[], timeoutMs = 60_000): Promise<string> {
  const started = Date.now();
  const stdout = await virshOk(g().libvirtd.uri, args, timeoutMs);
  results.commands.push({ command: `virsh ${args.join(' ')}`, ms: Date.now() - started, output: stdout.trim() });
  return stdout;
}

async function agentCommand(command: Record<string, unknown>): Promise<unknown> {
  const out = await virshOk(g().libvirtd.uri, ['qemu-agent-command', DOMAIN, JSON.stringify(command)]);
  return (JSON.parse(out) as { return: unknown }).return;
}

/** Runs a shell command in the guest through guest-exec and waits for it. */
async function guestShell(script: string, timeoutMs = 30_000): Promise<{ exitcode: number; out: string; err: string }> {
  const { pid } = (await agentCommand({
    execute: 'guest-exec',
    arguments: { path: '/bin/sh', arg: ['-c', script], 'capture-output': true },
  })) as { pid: number };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = (await agentCommand({ execute: 'guest-exec-status', arguments: { pid } })) as {
      exited: boolean;
      exitcode?: number;
      'out-data'?: string;
      'err-data'?: string;
    };
    if (status.exited) {
      return {
        exitcode: status.exitcode ?? -1,
        out: Buffer.from(status['out-data'] ?? '', 'base64').toString(),
        err: Buffer.from(status['err-data'] ?? '', 'base64').toString(),
      };
    }
    if (Date.now() > deadline) throw new Error(`guest command did not finish: ${script}`);
    await sleep(200);
  }
}

async function guestOut(script: string): Promise<string> {
  const result = await guestShell(script);
  assert.equal(result.exitcode, 0, `guest: ${script}: ${result.err}`);
  return result.out.trim();
}

/** The guest's addresses as "name proto address/prefix" from busybox `ip -o addr`. */
async function guestAddresses(): Promise<Set<string>> {
  const out = await guestOut("ip -o addr show | awk '{ print $2, $3, $4 }'");
  return new Set(out.split('\n').map((line) => line.replace(/ inet6 /, ' ipv6 ').replace(/ inet /, ' ipv4 ')));
}

function allocatedBytes(file: string): number {
  return fs.statSync(file).blocks * 512;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitForAgent(uri: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const ping = await virsh(uri, ['qemu-agent-command', DOMAIN, '{"execute":"guest-ping"}', '--timeout', '5'], 30_000);
    if (ping.status === 0) return;
    last = ping.stderr.trim();
    await sleep(500);
  }
  throw new Error(`the agent did not answer libvirt within ${timeoutMs} ms: ${last}`);
}

describe('virsh drives qga-ts through libvirt', { skip: mustFail ? false : problem, timeout: 600_000 }, () => {
  if (mustFail) {
    it('has its prerequisites', () => assert.fail(problem ?? 'prerequisite missing'));
    return;
  }

  before(async () => {
    const t0 = Date.now();
    fs.mkdirSync(workDir, { recursive: true });
    // The daemons' sockets live in <dir>/run/libvirt; AF_UNIX paths end at 107 bytes, so a checkout
    // deep in the file system gets its daemon directory in /tmp instead.
    let daemonDir = path.join(workDir, 'daemon');
    if (Buffer.byteLength(path.join(daemonDir, 'run', 'libvirt', 'virtlogd-admin-sock')) > 107) {
      daemonDir = path.join('/tmp', `qga-virsh-${process.getuid?.() ?? 0}`);
    }
    const libvirtd = await startLibvirtd(daemonDir);
    results.timings['libvirtdStartMs'] = Date.now() - t0;
    // A domain left over from an interrupted run would hold the sockets and the disk.
    await virsh(libvirtd.uri, ['destroy', DOMAIN]);

    const t1 = Date.now();
    const build = agentBuild.build as AgentBuild;
    results.agent = build.kind;
    // The kernel tree (for virtio_net) comes from build-image.sh; the stand-in payload is cheap.
    const standin = await buildImage(path.join(vmSourceDir(), 'standin'));
    const payload = assembleVirshPayload(workDir, standin.kernel, build);
    const image = await buildImage(payload);
    const dataDisk = path.join(workDir, 'data.img');
    await makeExt4Image(dataDisk, 64);
    results.timings['imageMs'] = Date.now() - t1;

    const consoleLog = path.join(workDir, 'console.log');
    fs.rmSync(consoleLog, { force: true });
    const agentSocket = path.join(workDir, 'qga.sock');
    if (Buffer.byteLength(agentSocket) > 107) throw new Error(`socket path too long for AF_UNIX: ${agentSocket}`);
    const xml = renderDomainXml(fs.readFileSync(path.join(virshDir(), 'domain.xml'), 'utf8'), {
      NAME: DOMAIN,
      KERNEL: image.kernel,
      INITRD: image.initrd,
      EMULATOR: qemuEmulator(),
      DATA_DISK: dataDisk,
      DISK_SERIAL,
      MAC,
      AGENT_SOCKET: agentSocket,
      CONSOLE_LOG: consoleLog,
    });
    const xmlFile = path.join(workDir, 'domain.xml');
    fs.writeFileSync(xmlFile, xml);
    guest = { libvirtd, consoleLog, dataDisk, facts: new Map() };

    const t2 = Date.now();
    await run(['create', xmlFile]);
    await waitForAgent(libvirtd.uri, 180_000);
    results.timings['createToAgentMs'] = Date.now() - t2;
    guest.facts = parseFacts(fs.readFileSync(consoleLog, 'latin1'));
    assert.ok(guest.facts.has('hostname'), 'the payload printed its facts');
  });

  after(async () => {
    if (guest !== undefined) {
      await virsh(guest.libvirtd.uri, ['destroy', DOMAIN]);
      if (fs.existsSync(guest.consoleLog)) fs.copyFileSync(guest.consoleLog, path.join(vmSourceDir(), 'work', 'virsh-last-console.log'));
      await guest.libvirtd.stop();
    }
    fs.writeFileSync(path.join(vmSourceDir(), 'work', 'virsh-results.json'), JSON.stringify(results, null, 2) + '\n');
  });

  it('qemu-agent-command guest-info: the agent lists every command virsh uses below, enabled', async () => {
    const out = await run(['qemu-agent-command', DOMAIN, '{"execute":"guest-info"}']);
    const info = (JSON.parse(out) as { return: { version: string; supported_commands: Array<{ name: string; enabled: boolean }> } }).return;
    assert.match(info.version, /^\d+\.\d+\.\d+$/);
    const enabled = new Set(info.supported_commands.filter((c) => c.enabled).map((c) => c.name));
    for (const name of [
      'guest-sync', 'guest-ping', 'guest-info', 'guest-get-osinfo', 'guest-get-timezone', 'guest-get-host-name',
      'guest-get-users', 'guest-get-fsinfo', 'guest-get-disks', 'guest-network-get-interfaces', 'guest-get-time',
      'guest-set-time', 'guest-get-vcpus', 'guest-set-vcpus', 'guest-fsfreeze-freeze', 'guest-fsfreeze-thaw',
      'guest-fsfreeze-status', 'guest-fstrim', 'guest-set-user-password', 'guest-shutdown', 'guest-exec',
    ]) {
      assert.ok(enabled.has(name), `${name} enabled`);
    }
  });

  it('guestinfo (all groups) reports what the guest has', async () => {
    const info = parseKeyValues(await run(['guestinfo', DOMAIN]));
    const osRelease = await guestOut('. /etc/os-release; echo "$ID|$NAME|$PRETTY_NAME|$VERSION_ID"; uname -r; uname -v; uname -m; hostname');
    const [release, kernelRelease, kernelVersion, machine, hostname] = osRelease.split('\n');
    const [id, name, prettyName, versionId] = release!.split('|');
    assert.equal(info.get('os.id'), id);
    assert.equal(info.get('os.name'), name);
    assert.equal(info.get('os.pretty-name'), prettyName);
    assert.equal(info.get('os.version-id'), versionId);
    assert.equal(info.get('os.kernel-release'), kernelRelease);
    assert.equal(info.get('os.kernel-release'), g().facts.get('kernel-release')?.[0]);
    assert.equal(info.get('os.kernel-version'), kernelVersion);
    assert.equal(info.get('os.machine'), machine);
    assert.equal(info.get('hostname'), hostname);
    assert.equal(info.get('hostname'), 'qga-virsh-guest');
    // No /etc/localtime in the image: UTC.
    assert.equal(info.get('timezone.name'), 'UTC');
    assert.equal(info.get('timezone.offset'), '0');
    // Nobody is logged in to the busybox guest.
    assert.equal(info.get('user.count'), '0');

    // The ext4 data disk: libvirt matched the agent's PCI address to the domain's <disk> (alias vda).
    assert.equal(info.get('fs.count'), '1');
    assert.equal(info.get('fs.0.mountpoint'), '/mnt/data');
    assert.equal(info.get('fs.0.fstype'), 'ext4');
    assert.equal(info.get('fs.0.name'), 'vda');
    assert.equal(info.get('fs.0.disk.count'), '1');
    assert.equal(info.get('fs.0.disk.0.alias'), 'vda');
    assert.equal(info.get('fs.0.disk.0.device'), '/dev/vda');
    const [bsize, blocks, free, avail] = (await guestOut("stat -f -c '%S %b %f %a' /mnt/data")).split(' ').map(Number);
    assert.equal(Number(info.get('fs.0.used-bytes')), (blocks! - free!) * bsize!);
    assert.equal(Number(info.get('fs.0.total-bytes')), (blocks! - free! + avail!) * bsize!);
    assert.equal(info.get('disk.count'), '1');
    assert.equal(info.get('disk.0.name'), '/dev/vda');
    assert.equal(info.get('disk.0.partition'), 'no');
    assert.equal(info.get('disk.0.alias'), 'vda');

    // Interfaces: every address the guest has, and nothing else.
    const reported = new Set<string>();
    const count = Number(info.get('if.count'));
    assert.ok(count >= 2);
    for (let i = 0; i < count; i++) {
      const ifName = info.get(`if.${i}.name`)!;
      const hw = await guestOut(`cat /sys/class/net/${ifName}/address`);
      assert.equal(info.get(`if.${i}.hwaddr`), hw, `${ifName} hardware address`);
      for (let a = 0; a < Number(info.get(`if.${i}.addr.count`)); a++) {
        reported.add(`${ifName} ${info.get(`if.${i}.addr.${a}.type`)} ${info.get(`if.${i}.addr.${a}.addr`)}/${info.get(`if.${i}.addr.${a}.prefix`)}`);
      }
    }
    assert.deepEqual([...reported].sort(), [...(await guestAddresses())].sort());
  });

  it('domfsinfo maps the mounted ext4 disk to the domain disk vda', async () => {
    const rows = parseTable(await run(['domfsinfo', DOMAIN]));
    const [device, fstype] = g().facts.get('data-fs')![0]!.split(',');
    assert.equal(device, '/dev/vda');
    assert.deepEqual(rows, [['/mnt/data', 'vda', fstype!, 'vda']]);
  });

  it('domifaddr --source agent lists the NIC with the MAC from the domain XML and every guest address', async () => {
    const rows = parseTable(await run(['domifaddr', DOMAIN, '--source', 'agent']));
    const listed = new Set<string>();
    let current = '';
    for (const [name, mac, protocol, address] of rows) {
      if (name !== '-') {
        current = name!;
        const hw = await guestOut(`cat /sys/class/net/${name}/address`);
        assert.equal(mac, hw);
      }
      listed.add(`${current} ${protocol} ${address}`);
    }
    assert.ok(listed.has('eth0 ipv4 192.0.2.15/24'));
    assert.ok(listed.has('eth0 ipv4 198.51.100.7/25'));
    assert.ok(rows.some((row) => row[0] === 'eth0' && row[1] === MAC));
    assert.deepEqual([...listed].sort(), [...(await guestAddresses())].sort());
  });

  it('domhostname --source agent', async () => {
    const name = (await run(['domhostname', DOMAIN, '--source', 'agent'])).trim();
    assert.equal(name, await guestOut('hostname'));
  });

  it('domtime: get, set to a given time, set to now, sync from the RTC', async () => {
    const before = Number(await guestOut('date +%s'));
    const got = Number(/^Time: (\d+)$/m.exec(await run(['domtime', DOMAIN]))?.[1]);
    const after = Number(await guestOut('date +%s'));
    assert.ok(before <= got && got <= after, `guest time ${got} between ${before} and ${after}`);

    const target = 1_900_000_000;
    await run(['domtime', DOMAIN, '--time', String(target)]);
    const guestNow = Number(await guestOut('date +%s'));
    assert.ok(guestNow >= target && guestNow < target + 60, `guest clock ${guestNow} ≈ ${target}`);
    const readBack = Number(/^Time: (\d+)$/m.exec(await run(['domtime', DOMAIN]))?.[1]);
    assert.ok(readBack >= target && readBack < target + 60);

    await run(['domtime', DOMAIN, '--now']);
    const host = Math.floor(Date.now() / 1000);
    const synced = Number(await guestOut('date +%s'));
    assert.ok(Math.abs(synced - host) <= 15, `guest clock ${synced} ≈ host ${host} after --now`);

    // --sync: guest-set-time without a time; the agent sets the clock from the RTC, which the
    // agent wrote (hwclock -w) when --now set the time.
    await run(['domtime', DOMAIN, '--sync']);
    const afterSync = Number(/^Time: (\d+)$/m.exec(await run(['domtime', DOMAIN]))?.[1]);
    assert.ok(Math.abs(afterSync - Math.floor(Date.now() / 1000)) <= 15, `after --sync ${afterSync}`);
  });

  it('guestvcpus: list, take cpu1 offline, bring it back', async () => {
    const listed = parseKeyValues(await run(['guestvcpus', DOMAIN]));
    assert.deepEqual(expandCpuList(listed.get('vcpus')!), [0, 1]);
    assert.deepEqual(expandCpuList(listed.get('online')!), expandCpuList(await guestOut('cat /sys/devices/system/cpu/online')));
    // cpu0 has no "online" file in the guest: it cannot be offlined.
    assert.deepEqual(expandCpuList(listed.get('offlinable')!), [1]);

    await run(['guestvcpus', DOMAIN, '--cpulist', '1', '--disable']);
    assert.equal(await guestOut('cat /sys/devices/system/cpu/cpu1/online'), '0');
    assert.equal(await guestOut('cat /sys/devices/system/cpu/online'), '0');
    assert.equal(parseKeyValues(await run(['guestvcpus', DOMAIN])).get('online'), '0');

    await run(['guestvcpus', DOMAIN, '--cpulist', '1', '--enable']);
    assert.equal(await guestOut('cat /sys/devices/system/cpu/cpu1/online'), '1');
    assert.equal(parseKeyValues(await run(['guestvcpus', DOMAIN])).get('online'), '0-1');
  });

  it('domfsfreeze / domfsthaw: a real freeze holds a write until the thaw', async () => {
    // Started before the freeze, writes after 3 s: it must block until the thaw 8 s later.
    await agentCommand({
      execute: 'guest-exec',
      arguments: {
        path: '/bin/sh',
        arg: ['-c', 'date +%s > /run/fw.start; sleep 3; echo x > /mnt/data/written-while-frozen; date +%s > /run/fw.done'],
      },
    });
    assert.match(await run(['domfsfreeze', DOMAIN]), /^Froze 1 filesystem\(s\)$/m);
    assert.equal(await agentCommand({ execute: 'guest-fsfreeze-status' }), 'frozen');
    await sleep(8_000);
    assert.equal(await agentCommand({ execute: 'guest-fsfreeze-status' }), 'frozen');
    assert.match(await run(['domfsthaw', DOMAIN]), /^Thawed 1 filesystem\(s\)$/m);
    assert.equal(await agentCommand({ execute: 'guest-fsfreeze-status' }), 'thawed');
    const deadline = Date.now() + 20_000;
    while ((await guestShell('test -s /run/fw.done')).exitcode !== 0) {
      assert.ok(Date.now() < deadline, 'the blocked write finished after the thaw');
      await sleep(300);
    }
    const [start, done] = (await guestOut('cat /run/fw.start /run/fw.done')).split('\n').map(Number);
    assert.ok(done! - start! >= 7, `the write waited for the thaw (${done! - start!} s after its start)`);
    assert.equal(await guestOut('cat /mnt/data/written-while-frozen'), 'x');
  });

  it('domfstrim: freed blocks are discarded down to the host file', async () => {
    await guestOut('dd if=/dev/urandom of=/mnt/data/junk bs=1M count=16 2>/dev/null && sync && rm /mnt/data/junk && sync');
    const beforeTrim = allocatedBytes(g().dataDisk);
    await run(['domfstrim', DOMAIN]);
    const afterTrim = allocatedBytes(g().dataDisk);
    assert.ok(beforeTrim - afterTrim >= 8 * 1024 * 1024, `host allocation ${beforeTrim} -> ${afterTrim}`);
    results.commands.push({ command: '(host) data.img allocated bytes before/after domfstrim', ms: 0, output: `${beforeTrim} -> ${afterTrim}` });
  });

  it('set-user-password, plain and --encrypted, reaches chpasswd', async () => {
    assert.match(await run(['set-user-password', DOMAIN, TEST_USER, 'S3cret pass']), /Password set successfully for qgatest/);
    const crypted = '$6$qgasalt$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ';
    assert.match(await run(['set-user-password', DOMAIN, '--encrypted', TEST_USER, crypted]), /Password set successfully/);
    const record = await guestOut('cat /run/chpasswd.record');
    assert.deepEqual(record.split('\n'), [`args= input=${TEST_USER}:S3cret pass`, `args=-e input=${TEST_USER}:${crypted}`]);
  });

  it('shutdown --mode agent powers the guest off', async () => {
    const started = Date.now();
    assert.match(await run(['shutdown', DOMAIN, '--mode', 'agent']), /is being shutdown/);
    const deadline = Date.now() + 90_000;
    for (;;) {
      const names = await virshOk(g().libvirtd.uri, ['list', '--all', '--name']);
      if (!names.split('\n').includes(DOMAIN)) break;
      assert.ok(Date.now() < deadline, 'the domain went away');
      await sleep(500);
    }
    results.timings['shutdownMs'] = Date.now() - started;
    const consoleText = fs.readFileSync(g().consoleLog, 'latin1');
    assert.match(consoleText, /qga-vm: poweroff now/);
    assert.match(consoleText, /reboot: Power down/);
  });
});
