// Boots the VM with the port probe (test/vm/probe/) and plays the host side of each experiment.
// Results: console lines "PROBE <name> <json>", collected into test/vm/work/port-probe/results.json.
// The findings are written up by hand in test/vm/PORT-BEHAVIOUR.md.
//
//   npx tsx test/vm/port-probe.ts        (needs gcc for the static vport-probe helper)
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { buildImage, connectWithRetry, LineReader, startVm, vmSourceDir } from './vm';

interface HostPortState {
  socket: net.Socket | undefined;
  data: string;
  events: string[];
  connectedAt: number;
}

interface ControlRequest {
  id: number;
  action: string;
  port: string;
  data?: string;
  delayMs?: number;
  lengthOnly?: boolean;
  results?: unknown;
}

function nodeIncludeDir(): string {
  const candidates = [
    path.join(path.dirname(path.dirname(process.execPath)), 'include', 'node'),
    '/usr/include/node',
  ];
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'node_api.h')));
  if (found === undefined) throw new Error(`node headers not found in ${candidates.join(', ')}`);
  return found;
}

async function main(): Promise<void> {
  const source = vmSourceDir();
  const work = path.join(source, 'work', 'port-probe');
  const payload = path.join(work, 'payload');
  fs.rmSync(payload, { recursive: true, force: true });
  fs.mkdirSync(payload, { recursive: true });
  execFileSync('gcc', ['-static', '-O2', '-Wall', '-o', path.join(payload, 'vport-probe'),
    path.join(source, 'probe', 'vport-probe.c')]);
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wall', `-I${nodeIncludeDir()}`, '-o',
    path.join(payload, 'uv-poll-probe.node'), path.join(source, 'probe', 'uv-poll-probe.c')]);
  fs.copyFileSync(path.join(source, 'probe', 'port-probe.js'), path.join(payload, 'port-probe.js'));
  fs.writeFileSync(path.join(payload, 'run'),
    '#!/bin/sh\n[ -e /tmp/probe-ran ] && exec sleep 3600\ntouch /tmp/probe-ran\nexec node /opt/payload/port-probe.js\n',
    { mode: 0o755 });

  const image = await buildImage(payload);
  const vm = await startVm({
    ...image,
    workDir: path.join(work, 'vm'),
    ports: [{ name: 'com.163.spice.0' }, { name: 'org.qemu.guest_agent.0' }, { name: 'probe.control' }],
  });
  vm.console.onLine((line) => {
    if (/^(PROBE|qga-vm:)/.test(line)) console.log(`console: ${line}`);
  });
  const t0 = Date.now();
  const hostPorts = new Map<string, HostPortState>();
  const stamp = (): string => `${Date.now() - t0}ms`;

  const control = await connectWithRetry(vm.ports.get('probe.control')!, 10_000);
  const reader = new LineReader(control);
  let results: unknown;
  for (;;) {
    const line = await reader.next(120_000);
    if (line === undefined) throw new Error('control port closed');
    const request = JSON.parse(line) as ControlRequest;
    let state = hostPorts.get(request.port);
    if (state === undefined) {
      state = { socket: undefined, data: '', events: [], connectedAt: 0 };
      hostPorts.set(request.port, state);
    }
    const reply: Record<string, unknown> = { id: request.id };
    switch (request.action) {
      case 'hello':
        break;
      case 'connect': {
        const socket = await connectWithRetry(vm.ports.get(request.port)!, 5_000);
        const current = state;
        current.socket = socket;
        current.connectedAt = Date.now();
        socket.on('data', (chunk: Buffer) => {
          current.data += chunk.toString();
        });
        socket.on('end', () => current.events.push(`end@+${Date.now() - current.connectedAt}ms`));
        socket.on('close', () => current.events.push(`close@+${Date.now() - current.connectedAt}ms`));
        socket.on('error', (error) => current.events.push(`error:${error.message}`));
        break;
      }
      case 'disconnect':
        state.socket?.destroy();
        state.socket = undefined;
        await new Promise((resolve) => setTimeout(resolve, 50));
        break;
      case 'send': {
        const socket = state.socket;
        if (request.delayMs === undefined) socket?.write(request.data ?? '');
        else setTimeout(() => socket?.write(request.data ?? ''), request.delayMs);
        break;
      }
      case 'pause':
        state.socket?.pause();
        break;
      case 'resume':
        state.socket?.resume();
        break;
      case 'received':
        if (request.lengthOnly !== true) reply['data'] = state.data;
        reply['length'] = Buffer.byteLength(state.data);
        reply['events'] = state.events;
        state.data = '';
        state.events = [];
        break;
      case 'done':
        results = request.results;
        break;
      default:
        reply['error'] = `unknown action ${request.action}`;
    }
    console.log(`${stamp()} host ${request.action} ${request.port}${request.data ? ` ${JSON.stringify(request.data)}` : ''}`);
    control.write(`${JSON.stringify(reply)}\n`);
    if (request.action === 'done') break;
  }
  const exit = await vm.waitExit(30_000).catch(() => vm.stop());
  fs.writeFileSync(path.join(work, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log('exit', exit);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
