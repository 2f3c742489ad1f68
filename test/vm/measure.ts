// Boot-to-init time, round-trip latency through both ports and host reconnect behaviour of the
// test VM with the stand-in payload. Prints one JSON report.
//
//   npx tsx test/vm/measure.ts [--runs N]
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { buildImage, connectWithRetry, LineReader, startVm, vmSourceDir } from './vm';

const PORTS = ['com.163.spice.0', 'org.qemu.guest_agent.0'];

function stats(values: number[]): Record<string, number> {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const round = (v: number): number => Math.round(v * 100) / 100;
  return { n: sorted.length, min: round(sorted[0]!), median: round(at(0.5)), p90: round(at(0.9)), max: round(sorted[sorted.length - 1]!) };
}

async function roundTrip(socket: net.Socket, reader: LineReader, port: string, text: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  socket.write(`${text}\n`);
  const line = await reader.next(10_000);
  if (line !== `${port}: ${text}`) throw new Error(`expected "${port}: ${text}", got ${JSON.stringify(line)}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function measureOnce(run: number): Promise<Record<string, unknown>> {
  const source = vmSourceDir();
  const buildStart = Date.now();
  const image = await buildImage(path.join(source, 'standin'));
  const buildMs = Date.now() - buildStart;
  const t0 = Date.now();
  const vm = await startVm({ ...image, workDir: path.join(source, 'work', `measure-${run}`), ports: PORTS.map((name) => ({ name })) });
  try {
    const initLine = await vm.console.waitFor(/^qga-vm: init started/, 60_000);
    const initMs = Date.now() - t0;
    const readyLine = await vm.waitForReady(60_000);
    const readyMs = Date.now() - t0;
    await vm.console.waitFor('standin: echoing', 60_000);
    const payloadMs = Date.now() - t0;

    const rtt: Record<string, Record<string, number>> = {};
    for (const port of PORTS) {
      const socket = await connectWithRetry(vm.ports.get(port)!, 5_000);
      const reader = new LineReader(socket);
      await roundTrip(socket, reader, port, 'warmup');
      const samples: number[] = [];
      for (let i = 0; i < 200; i++) samples.push(await roundTrip(socket, reader, port, `m${i}`));
      rtt[port] = stats(samples);
      socket.destroy();
    }

    // Host disconnect/reconnect: first echo on each new connection.
    const port = 'org.qemu.guest_agent.0';
    const cycles: number[] = [];
    for (let i = 0; i < 20; i++) {
      const c0 = process.hrtime.bigint();
      const socket = await connectWithRetry(vm.ports.get(port)!, 5_000);
      const reader = new LineReader(socket);
      await roundTrip(socket, reader, port, `cycle${i}`);
      socket.destroy();
      cycles.push(Number(process.hrtime.bigint() - c0) / 1e6);
    }

    const respawnStart = Date.now();
    const fromLine = vm.console.lineCount;
    const killer = await connectWithRetry(vm.ports.get(port)!, 5_000);
    killer.write('!exit\n');
    await vm.console.waitFor('standin: echoing', 30_000, fromLine);
    const respawnMs = Date.now() - respawnStart;
    killer.destroy();

    const stopStart = Date.now();
    const exit = await vm.stop(30_000);
    const stopMs = Date.now() - stopStart;
    return {
      buildMs,
      qemuSpawnToInitMs: initMs,
      guestUptimeAtInit: initLine.replace(/.*uptime=/, ''),
      qemuSpawnToReadyMs: readyMs,
      guestUptimeAtReady: readyLine.replace(/.*uptime=/, ''),
      qemuSpawnToPayloadListeningMs: payloadMs,
      roundTripMs: rtt,
      reconnectCycleMs: stats(cycles),
      payloadRespawnMs: respawnMs,
      powerdownToExitMs: stopMs,
      exit,
      powerButtonSeen: vm.console.all().some((line) => line.includes('qga-vm: power button')),
    };
  } finally {
    await vm.stop(10_000);
  }
}

async function main(): Promise<void> {
  const runsIndex = process.argv.indexOf('--runs');
  const runs = runsIndex > 0 ? Number(process.argv[runsIndex + 1]) : 1;
  const reports = [];
  for (let run = 0; run < runs; run++) reports.push(await measureOnce(run));
  const text = JSON.stringify(reports, null, 2);
  fs.mkdirSync(path.join(vmSourceDir(), 'work'), { recursive: true });
  fs.writeFileSync(path.join(vmSourceDir(), 'work', 'measure.json'), `${text}\n`);
  console.log(text);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
