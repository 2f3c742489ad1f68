// Real-VM harness check: builds (or reuses) the test image with the stand-in payload, boots it
// under QEMU/TCG and drives both virtio-serial ports from the host.
//
// Skips with the reason when QEMU, busybox-static, cpio or a kernel is unavailable. Set
// QGA_VM_REQUIRED=1 (CI) to turn such a skip into a failure.
//
//   npx tsx --test test/vm/harness.test.ts
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildImage,
  connectWithRetry,
  LineReader,
  makeExt4Image,
  startVm,
  vmPrerequisiteProblem,
  vmSourceDir,
  type Vm,
} from './vm';

const SPICE = 'com.163.spice.0';
const AGENT = 'org.qemu.guest_agent.0';
const PAYLOAD_LISTENING = 'standin: echoing';

const problem = vmPrerequisiteProblem();
const required = process.env['QGA_VM_REQUIRED'] === '1';

interface HostEnd {
  socket: net.Socket;
  reader: LineReader;
}

async function connect(vm: Vm, port: string): Promise<HostEnd> {
  const socket = await connectWithRetry(vm.ports.get(port)!, 5_000);
  return { socket, reader: new LineReader(socket) };
}

async function assertEcho(end: HostEnd, port: string, text: string): Promise<void> {
  end.socket.write(`${text}\n`);
  assert.equal(await end.reader.next(15_000), `${port}: ${text}`);
}

describe('real VM harness (QEMU/TCG, stand-in payload)', { skip: required ? false : (problem ?? false) }, () => {
  let vm: Vm | undefined;
  let workDir = '';

  before(
    async () => {
      if (problem !== undefined) throw new Error(`QGA_VM_REQUIRED=1 but: ${problem}`);
      const source = vmSourceDir();
      const image = await buildImage(path.join(source, 'standin'));
      workDir = path.join(source, 'work', `harness-${process.pid}`);
      const dataDisk = path.join(workDir, 'data.img');
      fs.mkdirSync(workDir, { recursive: true });
      await makeExt4Image(dataDisk, 64);
      vm = await startVm({ ...image, workDir, dataDisk, ports: [{ name: SPICE }, { name: AGENT }] });
      await vm.waitForReady(60_000);
      await vm.console.waitFor(PAYLOAD_LISTENING, 30_000);
    },
    { timeout: 100_000 },
  );

  after(async () => {
    if (vm === undefined) return;
    await vm.stop(20_000);
    // Keep the last console for post-mortems; drop the sockets and the directory.
    fs.copyFileSync(vm.serialLog, path.join(path.dirname(workDir), 'harness-last-console.log'));
    fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('echoes on both ports, each on its own', async () => {
    const spice = await connect(vm!, SPICE);
    const agent = await connect(vm!, AGENT);
    await assertEcho(spice, SPICE, 'hello spice');
    await assertEcho(agent, AGENT, 'hello agent');
    await assertEcho(spice, SPICE, 'again spice');
    spice.socket.destroy();
    agent.socket.destroy();
  });

  it('mounted the ext4 data disk on /mnt/data', () => {
    assert.ok(vm!.console.all().includes('qga-vm: data disk mounted on /mnt/data'), vm!.console.tail());
  });

  it('keeps both ports working across 20 host disconnect/reconnect cycles', async () => {
    const spice = await connect(vm!, SPICE);
    for (let cycle = 0; cycle < 20; cycle++) {
      const agent = await connect(vm!, AGENT);
      await assertEcho(agent, AGENT, `cycle ${cycle}`);
      agent.socket.destroy();
    }
    // The other port's connection lived through all of it.
    await assertEcho(spice, SPICE, 'spice after cycles');
    spice.socket.destroy();
  });

  it('restarts the payload when it exits', async () => {
    const fromLine = vm!.console.lineCount;
    const agent = await connect(vm!, AGENT);
    agent.socket.write('!exit\n');
    await vm!.console.waitFor(/^qga-vm: payload exited/, 15_000, fromLine);
    await vm!.console.waitFor(PAYLOAD_LISTENING, 30_000, fromLine);
    await assertEcho(agent, AGENT, 'after respawn');
    agent.socket.destroy();
  });

  it('powers off on the ACPI power button (QMP system_powerdown)', async () => {
    const exit = await vm!.stop(30_000);
    assert.equal(exit.shutdownReason, 'guest-shutdown');
    assert.equal(exit.code, 0);
    assert.ok(vm!.console.all().some((line) => line.startsWith('qga-vm: power button')), 'acpid saw the button');
  });
});
