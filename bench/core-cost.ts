/**
 * Per-request cost of the protocol core, in-process: requests as a host sends them (one request
 * per chunk) go through the real virtio-serial read path (VirtioSerialChannel with a fake fd and
 * a fake poller), the channel supervisor, the session, lexer, dispatcher, handlers and encoder,
 * and the reply through the channel's write queue to a fake write(2).
 *
 * Why in-process: under QEMU TCG every native microsecond of CPU work becomes tens of
 * microseconds, so the VM round trip (test/vm/agent.test.ts) is decided by instructions and
 * allocations per request, which this measures without a VM and without the host's noise.
 *
 *   node dist/bench/core-cost.js [--mode sync|delimited|ping|time|all] [--n N] [--path virtio|session|transport]
 *   node dist/bench/core-cost.js --instructions      # valgrind (callgrind): instructions/request
 *   node dist/bench/core-cost.js --instructions --node-flag --no-opt   # before TurboFan (early requests)
 *   node dist/bench/core-cost.js --profile           # sampled self time by function
 *
 * Instructions: perf counters are not available on this machine, so the figure comes from two
 * callgrind runs with different request counts (same warm-up); their difference divided by the
 * difference in requests cancels start-up and warm-up. Node runs with --single-threaded so that
 * concurrent compiler and GC threads do not move the total from run to run, with --predictable
 * (no time-based heuristics) and fixed hash and random seeds: repeated runs agree within 0.1 %.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHandlers } from '../src/commands';
import type { AgentServices } from '../src/dispatch/command-context';
import { Dispatcher } from '../src/dispatch/dispatcher';
import { createAgentLogger, type AgentLogger } from '../src/logging/agent-logger';
import { POLL_READABLE, type FdEventCallback } from '../src/native/native-helper';
import { ChannelSession } from '../src/protocol/channel-session';
import { AgentState } from '../src/state/agent-state';
import { ChannelSupervisor, type SupervisedSession } from '../src/transport/channel-supervisor';
import { VirtioSerialChannel, type VirtioPortIo } from '../src/transport/virtio-serial';
import { testHandlerDeps } from '../test/support/inject';

export const MODES = ['sync', 'delimited', 'ping', 'time'] as const;
export type Mode = (typeof MODES)[number];

/** Distinct requests per mode, cycled, so ids vary as a host's do (libvirt: 13-digit ids). */
const RING = 256;
const FIRST_ID = 1_732_578_000_000;

export function requestsFor(mode: Mode): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < RING; i++) {
    const id = FIRST_ID + i;
    switch (mode) {
      case 'sync':
        out.push(Buffer.from(`{"execute":"guest-sync","arguments":{"id":${id}}}`));
        break;
      case 'delimited':
        // libvirt and qemu-ga's own tools resynchronise with 0xFF first.
        out.push(Buffer.concat([Buffer.from([0xff]), Buffer.from(`{"execute":"guest-sync-delimited","arguments":{"id":${id}}}`)]));
        break;
      case 'ping':
        out.push(Buffer.from('{"execute":"guest-ping"}'));
        break;
      case 'time':
        out.push(Buffer.from('{"execute":"guest-get-time"}'));
        break;
    }
  }
  return out;
}

export function expectedReply(mode: Mode, index: number): string | null {
  const id = FIRST_ID + (index % RING);
  if (mode === 'sync') return `{"return": ${id}}\n`;
  // qemu-ga answers the 0xFF itself with a parse error, then the delimited reply.
  if (mode === 'delimited') return `{"error": {"class": "GenericError", "desc": "JSON parse error, stray '\\uFFFD'"}}\n\xff{"return": ${id}}\n`;
  if (mode === 'ping') return '{"return": {}}\n';
  return null; // the time varies
}

/** What one request in, one reply out looks like to the harness. */
export interface CoreRig {
  /** feed one chunk; the reply is written before this returns when the handler is synchronous */
  send(chunk: Buffer): void;
  /** the last reply written (latin1) */
  lastReply(): string;
  replies(): number;
  close(): Promise<void>;
}

function makeDispatcher(logger: AgentLogger): Dispatcher {
  const dispatcher = new Dispatcher({ handlers: createHandlers(testHandlerDeps(logger)), blockRpcs: [], allowRpcs: [], logger });
  const services: AgentServices = {
    state: new AgentState({ frozen: false }),
    compatVersion: '10.2.0',
    clock: { nowNs: () => BigInt(Date.now()) * 1_000_000n },
    commandInfo: () => dispatcher.commandInfo(),
  };
  dispatcher.attach(services);
  return dispatcher;
}

/**
 * The agent as main.ts builds it for one virtio-serial port, with the port's fd and poller faked:
 * `send` makes the next read(2) return the chunk and fires the READABLE event.
 *
 * `transportOnly` puts a responder that writes the expected reply (precomputed) in place of the
 * session, like test/vm/agent/transport-echo.js: the port mechanism's own share of the cost.
 */
export async function virtioRig(verbose = false, transportOnly?: Mode): Promise<CoreRig> {
  const { logger } = createAgentLogger({ verbose, sink: { write: () => undefined } });
  let incoming: Buffer | null = null;
  let last: Uint8Array | string = '';
  let count = 0;
  let onEvent: FdEventCallback = () => undefined;
  const again = Object.assign(new Error('EAGAIN'), { code: 'EAGAIN' });
  const io: VirtioPortIo = {
    open: () => 42,
    read: (_fd, buffer) => {
      if (incoming === null) throw again;
      buffer.set(incoming);
      const n = incoming.length;
      incoming = null;
      return n;
    },
    write: (_fd, data) => {
      last = data;
      count++;
      return data.length;
    },
    // as systemVirtioPortIo: small replies are written as strings
    writeLatin1: (_fd, text) => {
      last = text;
      count++;
      return text.length;
    },
    close: () => undefined,
  };
  const channel = new VirtioSerialChannel({
    path: '/dev/virtio-ports/org.qemu.guest_agent.0',
    logger,
    io,
    portsIo: { exists: () => true, readdir: () => [], readFile: () => '' },
    native: {
      watchFd: (fd, _events, cb) => {
        onEvent = cb;
        return { fd, update: () => undefined, close: () => undefined };
      },
    },
    schedule: () => () => undefined,
  });
  const session = transportOnly === undefined ? new ChannelSession(makeDispatcher(logger), channel, logger) : echoSession(channel, transportOnly);
  const supervisor = new ChannelSupervisor({ channel, session, retry: false, logger, onFatal: (e) => { throw e; } });
  if ((await supervisor.start()) !== 'open') throw new Error('fake channel did not open');
  return {
    send(chunk) {
      incoming = chunk;
      onEvent(0, POLL_READABLE);
    },
    lastReply: () => (typeof last === 'string' ? last : Buffer.from(last).toString('latin1')),
    replies: () => count,
    close: () => supervisor.close(),
  };
}

function echoSession(channel: VirtioSerialChannel, mode: Mode): SupervisedSession {
  const answers = Array.from({ length: RING }, (_, i) => expectedReply(mode, i) ?? '{"return": 0}\n');
  let next = 0;
  return {
    reset: () => undefined,
    receive: () => channel.write(answers[next++ % RING]!),
    whenIdle: (cb) => cb(),
  };
}

/** Session, dispatcher and encoder only: the transport left out. */
export function sessionRig(verbose = false): CoreRig {
  const { logger } = createAgentLogger({ verbose, sink: { write: () => undefined } });
  const dispatcher = makeDispatcher(logger);
  let last = '';
  let count = 0;
  const session = new ChannelSession(dispatcher, { write: (b) => ((last = b), count++), pauseInput() {}, resumeInput() {} }, logger);
  return {
    send: (chunk) => session.receive(chunk),
    lastReply: () => last,
    replies: () => count,
    close: async () => undefined,
  };
}

/** Every mode's handler is synchronous, so each reply is written before send() returns. */
function drive(rig: CoreRig, requests: Buffer[], n: number): void {
  const ring = requests.length;
  const first = rig.replies();
  for (let i = first; i < first + n; i++) rig.send(requests[i % ring]!);
}

function check(rig: CoreRig, mode: Mode, sent: number): void {
  if (rig.replies() !== sent) throw new Error(`${mode}: ${sent} requests sent, ${rig.replies()} replies written`);
  const want = expectedReply(mode, sent - 1);
  const got = rig.lastReply();
  if (want !== null ? got !== want : !/^\{"return": \d+\}\n$/.test(got)) throw new Error(`${mode}: unexpected reply ${JSON.stringify(got)}`);
}

interface Options {
  modes: Mode[];
  n: number;
  warmup: number;
  path: 'virtio' | 'session' | 'transport';
  verbose: boolean;
  instructions: boolean;
  profile: boolean;
  quiet: boolean;
  /** extra node flags for the callgrind runs, e.g. --no-opt (how the code runs before V8 optimizes it) */
  nodeFlags: string[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = { modes: [...MODES], n: 200_000, warmup: 20_000, path: 'virtio', verbose: false, instructions: false, profile: false, quiet: false, nodeFlags: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--mode') {
      const m = next();
      o.modes = m === 'all' ? [...MODES] : m.split(',').map((x) => {
        if (!(MODES as readonly string[]).includes(x)) throw new Error(`unknown mode ${x}`);
        return x as Mode;
      });
    } else if (a === '--n') o.n = Number(next());
    else if (a === '--warmup') o.warmup = Number(next());
    else if (a === '--path') {
      const p = next();
      if (p !== 'virtio' && p !== 'session' && p !== 'transport') throw new Error(`unknown path ${p}`);
      o.path = p;
    } else if (a === '--verbose') o.verbose = true;
    else if (a === '--instructions') o.instructions = true;
    else if (a === '--profile') o.profile = true;
    else if (a === '--quiet') o.quiet = true;
    else if (a === '--node-flag') o.nodeFlags.push(next());
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

async function makeRig(o: Options, mode: Mode): Promise<CoreRig> {
  if (o.path === 'transport') return virtioRig(o.verbose, mode);
  return o.path === 'virtio' ? virtioRig(o.verbose) : sessionRig(o.verbose);
}

/** ns per request: the median of 5 timed batches after the warm-up. */
async function timeMode(o: Options, mode: Mode): Promise<number> {
  const rig = await makeRig(o, mode);
  const requests = requestsFor(mode);
  drive(rig, requests, o.warmup);
  const batches: number[] = [];
  const batch = Math.max(1, Math.floor(o.n / 5));
  for (let b = 0; b < 5; b++) {
    const t0 = process.hrtime.bigint();
    drive(rig, requests, batch);
    batches.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  check(rig, mode, o.warmup + 5 * batch);
  await rig.close();
  batches.sort((a, b) => a - b);
  return batches[2]!;
}

/** The process valgrind runs: warm-up plus n requests, nothing printed. */
async function countOnly(o: Options, mode: Mode): Promise<void> {
  const rig = await makeRig(o, mode);
  const requests = requestsFor(mode);
  drive(rig, requests, o.warmup + o.n);
  check(rig, mode, o.warmup + o.n);
  await rig.close();
}

function callgrindTotal(mode: Mode, o: Options, n: number): number {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'core-cost-')), 'callgrind.out');
  const args = [
    '--tool=callgrind', `--callgrind-out-file=${out}`, '--smc-check=all-non-file',
    process.execPath, '--single-threaded', '--predictable', '--hash-seed=1', '--random-seed=1', ...o.nodeFlags, __filename,
    '--quiet', '--mode', mode, '--path', o.path, '--n', String(n), '--warmup', String(o.warmup), ...(o.verbose ? ['--verbose'] : []),
  ];
  const r = spawnSync('valgrind', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`valgrind failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const m = /Collected : (\d+)/.exec(r.stderr);
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  if (!m) throw new Error(`no total in valgrind's output: ${r.stderr.slice(-2000)}`);
  return Number(m[1]);
}

function instructionsPerRequest(o: Options, mode: Mode): number {
  const small = o.n;
  const large = 2 * o.n;
  const a = callgrindTotal(mode, o, small);
  const b = callgrindTotal(mode, o, large);
  return (b - a) / (large - small);
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** Sampled self time by function over n requests, top entries, as percentages. */
async function profileMode(o: Options, mode: Mode): Promise<string[]> {
  const rig = await makeRig(o, mode);
  const requests = requestsFor(mode);
  drive(rig, requests, o.warmup);
  const session = new inspector.Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session.post(method, params ?? {}, (err, res) => (err ? reject(err) : resolve(res))));
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 50 });
  await post('Profiler.start');
  drive(rig, requests, o.n);
  const { profile } = (await post('Profiler.stop')) as { profile: { nodes: ProfileNode[] } };
  session.disconnect();
  await rig.close();
  const byFunction = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (hits === 0) continue;
    const f = node.callFrame;
    const where = f.url === '' ? '' : ` ${path.relative(process.cwd(), f.url.replace(/^file:\/\//, ''))}:${f.lineNumber + 1}`;
    const key = `${f.functionName || '(anonymous)'}${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
    total += hits;
  }
  return [...byFunction.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 25)
    .map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)} %  ${k}`);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (o.quiet) {
    for (const mode of o.modes) await countOnly(o, mode);
    return;
  }
  console.log(`# core cost: path=${o.path} node=${process.version} load=${os.loadavg().map((x) => x.toFixed(2)).join(' ')}${o.verbose ? ' verbose' : ''}`);
  for (const mode of o.modes) {
    if (o.profile) {
      console.log(`## ${mode}: self time, ${o.n} requests`);
      for (const line of await profileMode(o, mode)) console.log(line);
    } else if (o.instructions) {
      const flags = o.nodeFlags.length > 0 ? `, ${o.nodeFlags.join(' ')}` : '';
      console.log(`${mode.padEnd(10)} ${instructionsPerRequest(o, mode).toFixed(0)} instructions/request (callgrind, n=${o.n} vs ${2 * o.n}${flags})`);
    } else {
      console.log(`${mode.padEnd(10)} ${(await timeMode(o, mode)).toFixed(0)} ns/request`);
    }
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
