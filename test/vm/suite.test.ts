// The real-VM command suite: the SHIPPED single executable dist/qga-ts (not the checkout) inside a
// busybox initramfs under QEMU/TCG, driven over /dev/virtio-ports/com.163.spice.0 with the host
// client library, each command's effect checked from inside the guest. One main boot runs the
// commands in order and ends with guest-shutdown; a second, short boot with `qga.noports` (no
// /dev/virtio-ports links) shows the sysfs fallback on both ports. See test/vm/suite/README.md.
//
//   npm run package && npx tsx --test test/vm/suite.test.ts
//
// Skips, with the reason, when QEMU, busybox-static, cpio, mke2fs, a kernel or dist/qga-ts is
// missing. QGA_VM_REQUIRED=1 turns a missing VM prerequisite into a failure; CI=true (or
// QGA_VM_REQUIRED=1) does the same for a missing dist/qga-ts, which CI builds.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { QgaClient } from '../../src/host/agent-client';
import { QgaRemoteError } from '../../src/host/client-errors';
import type { SocketRouteEvent } from '../../src/host/socket-route';
import { QGA_COMMANDS } from '../../src/generated/qga-commands';
import { connectWithRetry, makeExt4Image, startVm, vmPrerequisiteProblem, vmSourceDir, type Vm } from './vm';
import { buildSuiteImage, shippedAgentProblem } from './suite/image';
import { commandSerialArgs, GuestShell } from './suite/guest-shell';

const SPICE = 'com.163.spice.0';
const AGENT = 'org.qemu.guest_agent.0';
const PORTS = [{ name: SPICE }, { name: AGENT }];
const MAC = '52:54:00:12:34:56';
const TEST_USER = 'qgatest';
/** qemu-ga's freeze allow-list: all that guest-info may show enabled while frozen. */
const FREEZE_ALLOWED = [
  'guest-fsfreeze-status',
  'guest-fsfreeze-thaw',
  'guest-info',
  'guest-ping',
  'guest-sync',
  'guest-sync-delimited',
];

const vmProblem = vmPrerequisiteProblem();
const agentProblem = shippedAgentProblem();
const vmRequired = process.env['QGA_VM_REQUIRED'] === '1';
const agentRequired = vmRequired || process.env['CI'] === 'true';
const skipReason =
  vmProblem !== undefined && !vmRequired ? vmProblem : agentProblem !== undefined && !agentRequired ? agentProblem : undefined;

/** Milliseconds per phase, written to test/vm/work/suite-timings.json (summarised in RESULTS.md). */
const timings: Record<string, number> = {};

function timed(name: string, body: () => Promise<void>, timeoutMs = 60_000): void {
  it(name, { timeout: timeoutMs }, async () => {
    const start = Date.now();
    try {
      await body();
    } finally {
      timings[name] = Date.now() - start;
    }
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const b64 = (data: string | Buffer) => Buffer.from(data).toString('base64');
const unb64 = (text: string | undefined) => Buffer.from(text ?? '', 'base64');

function openClient(socketPath: string, syncs: SocketRouteEvent[] = []): QgaClient {
  // TCG is slow, and the agent may still be starting: generous sync and call timeouts.
  return QgaClient.overSocket(socketPath, {
    syncTimeoutMs: 30_000,
    callTimeoutMs: 30_000,
    onEvent: (event) => {
      if (event.type === 'synced') syncs.push(event);
    },
  });
}

interface ExecOutcome {
  exitcode: number | undefined;
  signal: number | undefined;
  out: string;
  err: string;
  /** stdout as bytes, for binary content */
  outBytes: Buffer;
}

/** guest-exec with captured output, then guest-exec-status until it has exited. */
async function execInGuest(client: QgaClient, file: string, args: string[], input?: string, timeoutMs = 20_000): Promise<ExecOutcome> {
  const { pid } = await client.guestExec({
    path: file,
    arg: args,
    'capture-output': true,
    ...(input === undefined ? {} : { 'input-data': b64(input) }),
  });
  return waitExec(client, Number(pid), timeoutMs);
}

async function waitExec(client: QgaClient, pid: number, timeoutMs = 20_000): Promise<ExecOutcome> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await client.guestExecStatus({ pid });
    if (status.exited) {
      return {
        exitcode: status.exitcode === undefined ? undefined : Number(status.exitcode),
        signal: status.signal === undefined ? undefined : Number(status.signal),
        out: unb64(status['out-data']).toString('utf8'),
        err: unb64(status['err-data']).toString('utf8'),
        outBytes: unb64(status['out-data']),
      };
    }
    if (Date.now() > deadline) throw new Error(`guest process ${pid} still running after ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Runs a shell command through guest-exec; fails unless it exits 0; resolves with stdout. */
async function guestSh(client: QgaClient, script: string): Promise<string> {
  const result = await execInGuest(client, '/bin/sh', ['-c', script]);
  assert.equal(result.exitcode, 0, `guest-exec sh -c ${JSON.stringify(script)}: ${result.err}`);
  return result.out;
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(200);
  }
}

async function rejectsDisabled(call: Promise<unknown>, command: string): Promise<void> {
  await assert.rejects(call, (error: unknown) => {
    assert.ok(error instanceof QgaRemoteError, String(error));
    assert.equal(error.errorClass, 'CommandNotFound');
    assert.match(error.desc, new RegExp(`^Command ${command} has been disabled`));
    return true;
  });
}

/** One guest-sync-delimited on a bare socket: the reply must be 0xFF, then `{"return": id}`. */
async function rawSyncDelimited(socketPath: string, id: number): Promise<Buffer> {
  const socket = await connectWithRetry(socketPath, 10_000);
  try {
    const received: Buffer[] = [];
    const reply = new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no sync reply within 30 s: ${Buffer.concat(received).toString('latin1')}`)), 30_000);
      socket.on('data', (chunk: Buffer) => {
        received.push(chunk);
        const all = Buffer.concat(received);
        if (all.includes(0x0a)) {
          clearTimeout(timer);
          resolve(all);
        }
      });
    });
    socket.write(`{"execute": "guest-sync-delimited", "arguments": {"id": ${id}}}\n`);
    return await reply;
  } finally {
    socket.end();
    socket.destroy();
  }
}

/** statvfs's f_flag bits for the options of a /proc/mounts line. */
function statvfsFlagsOf(options: string[]): number {
  const bits: Record<string, number> = { ro: 1, nosuid: 2, nodev: 4, noexec: 8, sync: 16, mand: 64, noatime: 1024, nodiratime: 2048, relatime: 4096 };
  return options.reduce((flags, option) => flags | (bits[option] ?? 0), 0);
}

describe('real-VM command suite: the shipped dist/qga-ts in a QEMU guest', { skip: skipReason ?? false }, () => {
  let vm: Vm | undefined;
  let shell: GuestShell | undefined;
  let client: QgaClient | undefined;
  let workRoot = '';
  let workDir = '';
  const syncs: SocketRouteEvent[] = [];
  let bootStart = 0;
  let selfCheck: Record<string, unknown> = {};

  before(
    async () => {
      if (vmProblem !== undefined) throw new Error(`QGA_VM_REQUIRED=1 but: ${vmProblem}`);
      if (agentProblem !== undefined) throw new Error(`CI=true but: ${agentProblem}`);
      workRoot = path.join(vmSourceDir(), 'work');
      workDir = path.join(workRoot, `suite-${process.pid}`);
      fs.mkdirSync(workDir, { recursive: true });
      let start = Date.now();
      const image = await buildSuiteImage(workRoot);
      timings['build image (cached base, overlay, payload)'] = Date.now() - start;
      start = Date.now();
      const dataDisk = path.join(workDir, 'data.img');
      await makeExt4Image(dataDisk, 64);
      timings['make 64 MiB ext4 data disk'] = Date.now() - start;
      bootStart = Date.now();
      vm = await startVm({
        ...image,
        workDir,
        dataDisk,
        ports: PORTS,
        extraArgs: [
          ...commandSerialArgs(path.join(workDir, 'ctl.sock')),
          // romfile= keeps iPXE out of the boot; the suite gives eth0 a static address.
          '-netdev', 'user,id=n0',
          '-device', `virtio-net-pci,netdev=n0,romfile=,mac=${MAC}`,
        ],
      });
      await vm.waitForReady(120_000);
      timings['boot: QEMU start to init ready'] = Date.now() - bootStart;
      await vm.console.waitFor('qga-suite: control ready', 60_000);
      shell = await GuestShell.connect(path.join(workDir, 'ctl.sock'));
      await vm.console.waitFor('qga-suite: agent start 1', 60_000);
      timings['boot: QEMU start to agent exec'] = Date.now() - bootStart;
      client = openClient(vm.ports.get(SPICE)!, syncs);
    },
    { timeout: 240_000 },
  );

  after(async () => {
    await client?.close().catch(() => undefined);
    shell?.close();
    if (vm !== undefined) {
      await vm.stop(20_000);
      fs.copyFileSync(vm.serialLog, path.join(workRoot, 'suite-last-console.log'));
    }
    if (workDir !== '') fs.rmSync(workDir, { recursive: true, force: true });
    if (workRoot !== '') {
      fs.writeFileSync(path.join(workRoot, 'suite-timings.json'), `${JSON.stringify(timings, null, 2)}\n`);
      process.stdout.write(`# suite timings (ms): ${JSON.stringify(timings)}\n`);
    }
  });

  timed('guest-sync-delimited answers with 0xFF then the id (bare socket)', async () => {
    const start = Date.now();
    const reply = await rawSyncDelimited(vm!.ports.get(SPICE)!, 4_242_424);
    timings['first reply after agent exec (sync-delimited)'] = Date.now() - bootStart - timings['boot: QEMU start to agent exec']!;
    assert.equal(reply[0], 0xff, `reply ${reply.toString('latin1')}`);
    assert.equal(reply.subarray(1).toString('latin1'), '{"return": 4242424}\n');
    assert.ok(Date.now() - start < 30_000);
  });

  timed('qga-ts self-check in the guest: single executable, packaged helper, nothing extracted', async () => {
    selfCheck = JSON.parse(await shell!.check('/usr/sbin/qga-ts self-check', 60_000)) as Record<string, unknown>;
    assert.equal(selfCheck['singleExecutable'], true);
    assert.equal(selfCheck['execPath'], '/usr/sbin/qga-ts');
    assert.deepEqual(selfCheck['native'], { available: true, loadedFrom: '/usr/lib/qga-ts/qga_native.node' });
    // No node and no checkout in the image: the agent is the single file alone.
    assert.notEqual((await shell!.run('ls /usr/bin/node /usr/local/bin/node')).status, 0);
    assert.equal((await shell!.run('test -e /var/lib/qga-ts')).status, 1, 'nothing was extracted');
  });

  timed('guest-ping and guest-info: every command enabled', async () => {
    assert.equal(await client!.guestPing(), undefined);
    assert.equal(syncs.length, 1, 'the client synced (0xFF + guest-sync-delimited) before its first call');
    const info = await client!.guestInfo();
    assert.equal(info.version, selfCheck['qemuGaCompat']);
    const names = info.supported_commands.map((c) => c.name);
    assert.deepEqual([...names].sort(), QGA_COMMANDS.map((c) => c.name).sort());
    assert.deepEqual(info.supported_commands.filter((c) => !c.enabled).map((c) => c.name), []);
    const silent = info.supported_commands.filter((c) => !c['success-response']).map((c) => c.name).sort();
    assert.deepEqual(silent, ['guest-shutdown', 'guest-suspend-disk', 'guest-suspend-hybrid', 'guest-suspend-ram']);
  });

  timed('guest-get-statvfs of /mnt/data equals the guest\'s own stat -f', async () => {
    const mine = await client!.guestGetStatvfs({ path: '/mnt/data' });
    const theirs = (await shell!.check("stat -f -c '%s %S %b %f %a %c %d %l %i' /mnt/data")).trim().split(' ');
    const [bsize, frsize, blocks, bfree, bavail, files, ffree, namemax, fsidHex] = theirs;
    assert.equal(BigInt(mine.f_bsize), BigInt(bsize!));
    assert.equal(BigInt(mine.f_frsize), BigInt(frsize!));
    assert.equal(BigInt(mine.f_blocks), BigInt(blocks!));
    assert.equal(BigInt(mine.f_bfree), BigInt(bfree!));
    assert.equal(BigInt(mine.f_bavail), BigInt(bavail!));
    assert.equal(BigInt(mine.f_files), BigInt(files!));
    assert.equal(BigInt(mine.f_ffree), BigInt(ffree!));
    assert.equal(BigInt(mine.f_favail), BigInt(ffree!), 'ext4: f_favail = f_ffree');
    assert.equal(BigInt(mine.f_namemax), BigInt(namemax!));
    // busybox prints statfs's two fsid words the other way round from glibc's statvfs f_fsid.
    const fsid = BigInt(`0x${fsidHex!}`);
    const swapped = ((fsid & 0xffffffffn) << 32n) | (fsid >> 32n);
    assert.equal(BigInt(mine.f_fsid), swapped);
    const mountLine = (await shell!.check("grep ' /mnt/data ' /proc/mounts")).trim().split(' ');
    assert.equal(mountLine[2], 'ext4');
    assert.equal(Number(mine.f_flag), statvfsFlagsOf(mountLine[3]!.split(',')));
    assert.equal(Number(mine.f_blocks) * Number(mine.f_frsize), Number((await shell!.check('df -B1 /mnt/data | tail -n1')).trim().split(/\s+/)[1]));
  });

  timed('guest-file-*: host writes, guest reads; guest writes, host reads', async () => {
    const content = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from('qga-ts file write\n')]);
    const handle = await client!.guestFileOpen({ path: '/mnt/data/host.bin', mode: 'w' });
    const written = await client!.guestFileWrite({ handle, 'buf-b64': b64(content) });
    assert.equal(Number(written.count), content.length);
    await client!.guestFileFlush({ handle });
    await client!.guestFileClose({ handle });
    const cat = await execInGuest(client!, 'cat', ['/mnt/data/host.bin']);
    assert.equal(cat.exitcode, 0);
    assert.deepEqual(cat.outBytes, content);

    await guestSh(client!, "printf 'line one\\nline two\\n' > /mnt/data/guest.txt");
    const reader = await client!.guestFileOpen({ path: '/mnt/data/guest.txt' });
    const whole = await client!.guestFileRead({ handle: reader, count: 4096 });
    assert.equal(unb64(whole['buf-b64']).toString(), 'line one\nline two\n');
    assert.equal(Number(whole.count), 18);
    assert.equal(whole.eof, true);
    const seek = await client!.guestFileSeek({ handle: reader, offset: 5, whence: 'set' });
    assert.equal(Number(seek.position), 5);
    const part = await client!.guestFileRead({ handle: reader, count: 3 });
    assert.equal(unb64(part['buf-b64']).toString(), 'one');
    await client!.guestFileClose({ handle: reader });

    const appender = await client!.guestFileOpen({ path: '/mnt/data/guest.txt', mode: 'a' });
    await client!.guestFileWrite({ handle: appender, 'buf-b64': b64('line three\n') });
    await client!.guestFileClose({ handle: appender });
    assert.equal(await guestSh(client!, 'cat /mnt/data/guest.txt'), 'line one\nline two\nline three\n');
  });

  timed('freeze-all: frozen, a write to the data disk blocks, thaw lets it finish', async () => {
    // The writer starts now (guest-exec is disabled once frozen) and waits for a gate on /run.
    const { pid } = await client!.guestExec({
      path: '/bin/sh',
      arg: ['-c', 'while [ ! -e /run/suite/gate ]; do sleep 0.05; done; : > /run/suite/writing; echo x > /mnt/data/frozen-write; : > /run/suite/written'],
    });
    let frozen = false;
    try {
      const start = Date.now();
      assert.equal(Number(await client!.guestFsfreezeFreeze()), 1, 'one filesystem: /mnt/data (rootfs, tmpfs and proc have no block device)');
      frozen = true;
      timings['guest-fsfreeze-freeze call'] = Date.now() - start;
      assert.equal(await client!.guestFsfreezeStatus(), 'frozen');
      assert.equal((await shell!.check('test -e /run/qga/qga.state.isfrozen && echo marker')).trim(), 'marker');
      await rejectsDisabled(client!.guestExecStatus({ pid }), 'guest-exec-status');
      await rejectsDisabled(client!.guestFileOpen({ path: '/mnt/data/nope' }), 'guest-file-open');

      await shell!.check('touch /run/suite/gate');
      await waitFor('the writer reached its write', async () => (await shell!.run('test -e /run/suite/writing')).status === 0, 10_000);
      await sleep(1500);
      assert.equal((await shell!.run('test -e /run/suite/written')).status, 1, 'the write did not complete while frozen');
      assert.match(await shell!.check(`grep State /proc/${pid}/status`), /State:\s+D \(disk sleep\)/);

      const thawStart = Date.now();
      assert.equal(Number(await client!.guestFsfreezeThaw()), 1);
      frozen = false;
      timings['guest-fsfreeze-thaw call'] = Date.now() - thawStart;
    } finally {
      if (frozen) await client!.guestFsfreezeThaw().catch(() => undefined);
    }
    assert.equal(await client!.guestFsfreezeStatus(), 'thawed');
    const writer = await waitExec(client!, Number(pid));
    assert.equal(writer.exitcode, 0);
    assert.equal(await shell!.check('cat /mnt/data/frozen-write'), 'x\n');
    assert.equal((await shell!.run('test -e /run/qga/qga.state.isfrozen')).status, 1, 'thaw removed the marker');
    // The shipped hook ran the .d script on both transitions.
    const hookCalls = (await shell!.check('cat /run/suite/hook-calls')).trim().split('\n').map((line) => line.split(' ')[0]);
    assert.deepEqual(hookCalls, ['freeze', 'thaw']);
  });

  timed('freeze, kill -9 the agent: the restarted agent reports frozen, then thaws', async () => {
    assert.equal(Number(await client!.guestFsfreezeFreeze()), 1);
    const fromLine = vm!.console.lineCount;
    const killedAt = Date.now();
    try {
      await shell!.check('kill -9 $(cat /run/suite/agent.pid)');
      await vm!.console.waitFor(/^qga-vm: payload exited status=137/, 15_000, fromLine);
      await vm!.console.waitFor('qga-suite: agent start 2', 15_000, fromLine);
      await client!.close();
      client = openClient(vm!.ports.get(SPICE)!, syncs);
      assert.equal(await client.guestFsfreezeStatus(), 'frozen');
      timings['kill -9 to the new agent answering'] = Date.now() - killedAt;
      const info = await client.guestInfo();
      assert.deepEqual(info.supported_commands.filter((c) => c.enabled).map((c) => c.name).sort(), FREEZE_ALLOWED);
      await rejectsDisabled(client.guestGetTime(), 'guest-get-time');
      // It loaded the packaged helper without writing anywhere (nothing may be written while frozen).
      assert.equal((await shell!.run('test -e /var/lib/qga-ts')).status, 1);
    } finally {
      assert.equal(Number(await client!.guestFsfreezeThaw()), 1, 'the new agent thawed /mnt/data');
    }
    assert.equal(await client!.guestFsfreezeStatus(), 'thawed');
    assert.equal(await guestSh(client!, 'echo after > /mnt/data/after-restart && cat /mnt/data/after-restart'), 'after\n');
    const hookCalls = (await shell!.check('cat /run/suite/hook-calls')).trim().split('\n').map((line) => line.split(' ')[0]);
    assert.deepEqual(hookCalls, ['freeze', 'thaw', 'freeze', 'thaw']);
  });

  timed('guest-set-vcpus takes cpu1 offline and back online', async () => {
    const cpuOnline = async () => (await shell!.check('cat /sys/devices/system/cpu/cpu1/online')).trim();
    // Listed in readdir order, as qemu-ga does (cpu1 may come first).
    const cpu1 = async () => (await client!.guestGetVcpus()).find((p) => Number(p['logical-id']) === 1)!;
    const before = await client!.guestGetVcpus();
    assert.deepEqual(before.map((p) => [Number(p['logical-id']), p.online]).sort(), [[0, true], [1, true]]);
    assert.equal((await cpu1())['can-offline'], true);
    assert.equal(Number(await client!.guestSetVcpus({ vcpus: [{ 'logical-id': 1, online: false }] })), 1);
    assert.equal(await cpuOnline(), '0');
    assert.equal((await cpu1()).online, false);
    assert.equal((await shell!.check('cat /sys/devices/system/cpu/online')).trim(), '0');
    assert.equal(Number(await client!.guestSetVcpus({ vcpus: [{ 'logical-id': 1, online: true }] })), 1);
    assert.equal(await cpuOnline(), '1');
    assert.equal((await cpu1()).online, true);
    assert.equal((await shell!.check('cat /sys/devices/system/cpu/online')).trim(), '0-1');
  });

  timed('guest-set-time sets the clock and the RTC, and restores them', async () => {
    const target = 1_893_456_000n; // 2030-01-01T00:00:00Z
    await client!.guestSetTime({ time: target * 1_000_000_000n });
    const got = BigInt(await client!.guestGetTime());
    assert.ok(got >= target * 1_000_000_000n && got < (target + 60n) * 1_000_000_000n, `guest-get-time ${got}`);
    const guestDate = BigInt((await shell!.check('date -u +%s')).trim());
    assert.ok(guestDate >= target && guestDate < target + 60n, `date ${guestDate}`);
    const rtc = BigInt((await shell!.check('cat /sys/class/rtc/rtc0/since_epoch')).trim());
    assert.ok(rtc >= target - 1n && rtc < target + 60n, `the RTC follows (hwclock -w): ${rtc}`);

    await client!.guestSetTime({ time: BigInt(Date.now()) * 1_000_000n });
    const hostNow = BigInt(Date.now()) * 1_000_000n;
    const restored = BigInt(await client!.guestGetTime());
    const skew = restored > hostNow ? restored - hostNow : hostNow - restored;
    assert.ok(skew < 10_000_000_000n, `guest clock restored (off by ${skew} ns)`);
    const rtcRestored = Number((await shell!.check('cat /sys/class/rtc/rtc0/since_epoch')).trim());
    assert.ok(Math.abs(rtcRestored - Date.now() / 1000) < 10, `RTC restored: ${rtcRestored}`);
  });

  timed('guest-network-get-interfaces: lo and eth0 as the guest sees them', async () => {
    const interfaces = await client!.guestNetworkGetInterfaces();
    const names = interfaces.map((i) => i.name).sort();
    assert.deepEqual(names, (await shell!.check('ls /sys/class/net')).trim().split(/\s+/).sort());
    const lo = interfaces.find((i) => i.name === 'lo')!;
    assert.equal(lo['hardware-address'], '00:00:00:00:00:00');
    const loAddresses = (lo['ip-addresses'] ?? []).map((a) => `${a['ip-address-type']} ${a['ip-address']}/${a.prefix}`);
    assert.ok(loAddresses.includes('ipv4 127.0.0.1/8'), loAddresses.join());
    assert.ok(loAddresses.includes('ipv6 ::1/128'), loAddresses.join());
    const eth0 = interfaces.find((i) => i.name === 'eth0');
    assert.ok(eth0, `eth0 in ${names.join()}`);
    assert.equal(eth0['hardware-address'], MAC);
    assert.equal(eth0['hardware-address'], (await shell!.check('cat /sys/class/net/eth0/address')).trim());
    const ethAddresses = (eth0['ip-addresses'] ?? []).map((a) => `${a['ip-address-type']} ${a['ip-address']}/${a.prefix}`);
    assert.ok(ethAddresses.includes('ipv4 10.0.2.15/24'), ethAddresses.join());
    assert.ok(eth0.statistics !== undefined, 'an interface with addresses has statistics');
    const rxBytes = Number((await shell!.check('cat /sys/class/net/eth0/statistics/rx_bytes')).trim());
    assert.ok(Number(eth0.statistics['rx-bytes']) <= rxBytes);
  });

  timed('guest-exec: exit code, stdout, stderr, stdin, environment', async () => {
    const { exitcode, signal, out, err } = await execInGuest(client!, '/bin/sh', ['-c', 'echo out; echo err >&2; exit 3']);
    assert.deepEqual({ exitcode, signal, out, err }, { exitcode: 3, signal: undefined, out: 'out\n', err: 'err\n' });
    const piped = await execInGuest(client!, 'cat', [], 'fed through stdin\n');
    assert.equal(piped.out, 'fed through stdin\n');
    const { pid } = await client!.guestExec({ path: '/bin/sh', arg: ['-c', 'echo "$QGA_SUITE"'], env: ['QGA_SUITE=env works'], 'capture-output': true });
    assert.equal((await waitExec(client!, Number(pid))).out, 'env works\n');
    const killed = await execInGuest(client!, '/bin/sh', ['-c', 'kill -9 $$']);
    assert.equal(killed.signal, 9);
  });

  timed('guest-set-user-password for a test user (chpasswd stand-in)', async () => {
    const shadowField = async () => (await shell!.check(`grep '^${TEST_USER}:' /etc/shadow`)).split(':')[1]!;
    await shell!.check('rm -f /run/suite/chpasswd.log');
    await client!.guestSetUserPassword({ username: TEST_USER, password: b64('S3cret pass'), crypted: false });
    const hashed = await shadowField();
    const salt = /^\$6\$([^$]+)\$/.exec(hashed)?.[1];
    assert.ok(salt !== undefined, `a SHA-512 hash in /etc/shadow: ${hashed}`);
    assert.equal((await shell!.check(`mkpasswd -m sha512 -S '${salt}' 'S3cret pass'`)).trim(), hashed);

    const crypted = '$6$abcdefgh$KQeXafAQAaOoKTevphVU215RvJdgzyfASRasIOuh12hO8u0r1bGW92ZnTmC9IjsiQ8VPiTXBiZF49dFL1U4wX/';
    await client!.guestSetUserPassword({ username: TEST_USER, password: b64(crypted), crypted: true });
    assert.equal(await shadowField(), crypted);

    await assert.rejects(client!.guestSetUserPassword({ username: 'nosuchuser', password: b64('x'), crypted: false }), QgaRemoteError);
    const record = (await shell!.check('cat /run/suite/chpasswd.log')).trim().split('\n');
    assert.deepEqual(record, ['argv:', `user:${TEST_USER}`, 'status:0', 'argv:-e', `user:${TEST_USER}`, 'status:0', 'argv:', 'user:nosuchuser', 'status:1']);
  });

  timed('disks, filesystems, memory, CPU and disk statistics', async () => {
    const disks = await client!.guestGetDisks();
    const vda = disks.find((d) => d.name === '/dev/vda');
    assert.ok(vda, JSON.stringify(disks, (_, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)));
    assert.equal(vda.partition, false);
    assert.equal(vda.address?.['bus-type'], 'virtio');

    const statFigures = (await shell!.check("stat -f -c '%S %b %f %a' /mnt/data")).trim().split(' ').map(Number);
    const [frsize, blocks, bfree, bavail] = statFigures as [number, number, number, number];
    const filesystems = await client!.guestGetFsinfo();
    const data = filesystems.find((f) => f.mountpoint === '/mnt/data');
    assert.ok(data, filesystems.map((f) => f.mountpoint).join());
    assert.equal(data.type, 'ext4');
    assert.equal(data.name, 'vda');
    assert.equal(Number(data['used-bytes']), (blocks - bfree) * frsize);
    assert.equal(Number(data['total-bytes']), (blocks - bfree + bavail) * frsize);
    assert.equal(Number(data['total-bytes-privileged']), blocks * frsize);
    assert.equal(data.disk[0]?.dev, '/dev/vda');
    assert.equal(data.disk[0]?.['bus-type'], 'virtio');

    const blockFiles = (await shell!.check('ls -d /sys/devices/system/memory/memory*')).trim().split(/\s+/);
    const blockIndexes = blockFiles.map((f) => Number(/memory(\d+)$/.exec(f)![1])).sort((a, b) => a - b);
    const memoryBlocks = await client!.guestGetMemoryBlocks();
    assert.deepEqual(memoryBlocks.map((b) => Number(b['phys-index'])).sort((a, b) => a - b), blockIndexes);
    const blockSize = parseInt((await shell!.check('cat /sys/devices/system/memory/block_size_bytes')).trim(), 16);
    assert.equal(Number((await client!.guestGetMemoryBlockInfo()).size), blockSize);

    const memTotalKiB = Number(/MemTotal:\s+(\d+) kB/.exec(await shell!.check('cat /proc/meminfo'))![1]);
    const memory = await client!.guestGetMemoryStats();
    assert.equal(Number(memory.total), memTotalKiB * 1024);
    assert.ok(Number(memory.free) > 0 && Number(memory.free) < Number(memory.total));

    const cpus = await client!.guestGetCpustats();
    assert.deepEqual(cpus.map((c) => [c.type, Number(c.cpu)]), [['linux', 0], ['linux', 1]]);
    assert.ok(cpus.every((c) => Number(c.idle) > 0));

    const diskStats = await client!.guestGetDiskstats();
    const vdaStats = diskStats.find((d) => d.name === 'vda');
    assert.ok(vdaStats, diskStats.map((d) => d.name).join());
    assert.equal(`${Number(vdaStats.major)}:${Number(vdaStats.minor)}`, (await shell!.check('cat /sys/block/vda/dev')).trim());
    assert.ok(Number(vdaStats.stats['write-ios']) > 0, 'the suite wrote to vda');
  });

  timed('guest-shutdown (last): no reply, QEMU ends with a guest shutdown', async () => {
    const start = Date.now();
    assert.equal(await client!.guestShutdown(), undefined);
    const exit = await vm!.waitExit(60_000);
    timings['guest-shutdown to QEMU exit'] = Date.now() - start;
    assert.equal(exit.shutdownReason, 'guest-shutdown');
    assert.equal(exit.code, 0);
    assert.ok(vm!.qmp.receivedEvents().some((e) => e.event === 'SHUTDOWN'));
    assert.ok(vm!.console.all().some((line) => /^qga-vm: poweroff\b.* -> poweroff/.test(line)), 'the agent ran /sbin/poweroff');
    timings['main boot: QEMU start to exit'] = Date.now() - bootStart;
  });
});

describe('real-VM command suite: no /dev/virtio-ports links (sysfs fallback)', { skip: skipReason ?? false }, () => {
  let vm: Vm | undefined;
  let workRoot = '';
  let workDir = '';

  before(
    async () => {
      if (vmProblem !== undefined) throw new Error(`QGA_VM_REQUIRED=1 but: ${vmProblem}`);
      if (agentProblem !== undefined) throw new Error(`CI=true but: ${agentProblem}`);
      workRoot = path.join(vmSourceDir(), 'work');
      workDir = path.join(workRoot, `suite-np-${process.pid}`);
      const image = await buildSuiteImage(workRoot);
      const start = Date.now();
      vm = await startVm({ ...image, workDir, ports: PORTS, append: 'qga.noports' });
      await vm.waitForReady(120_000);
      await vm.console.waitFor('qga-suite: agent start 1', 60_000);
      timings['noports boot: QEMU start to agent exec'] = Date.now() - start;
    },
    { timeout: 240_000 },
  );

  after(async () => {
    if (vm !== undefined) {
      await vm.stop(20_000);
      fs.copyFileSync(vm.serialLog, path.join(workRoot, 'suite-noports-last-console.log'));
    }
    if (workDir !== '') fs.rmSync(workDir, { recursive: true, force: true });
    if (workRoot !== '') fs.writeFileSync(path.join(workRoot, 'suite-timings.json'), `${JSON.stringify(timings, null, 2)}\n`);
  });

  timed('sync and ping on both ports, found through /sys/class/virtio-ports', async () => {
    for (const port of [SPICE, AGENT]) {
      const syncs: SocketRouteEvent[] = [];
      const portClient = openClient(vm!.ports.get(port)!, syncs);
      try {
        assert.equal(await portClient.guestPing(), undefined, port);
        assert.equal(syncs.length, 1, `${port}: synced`);
      } finally {
        await portClient.close();
      }
    }
    const agent = openClient(vm!.ports.get(AGENT)!);
    try {
      assert.equal((await execInGuest(agent, 'test', ['-e', '/dev/virtio-ports'])).exitcode, 1, 'no /dev/virtio-ports in this boot');
      const names = await guestSh(agent, 'cat /sys/class/virtio-ports/*/name');
      assert.deepEqual(names.trim().split('\n').sort(), [SPICE, AGENT].sort());
      const start = Date.now();
      await agent.guestShutdown();
      const exit = await vm!.waitExit(60_000);
      timings['noports: guest-shutdown to QEMU exit'] = Date.now() - start;
      assert.equal(exit.shutdownReason, 'guest-shutdown');
    } finally {
      await agent.close();
    }
  });
});
