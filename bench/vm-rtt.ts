/**
 * guest-sync round trip through real virtio-serial ports, qga-ts next to Debian's qemu-ga in one
 * VM (QEMU under TCG), with several builds or node flags of qga-ts side by side, each agent
 * restarted for every cycle so that every cycle measures fresh processes.
 *
 * test/vm/agent.test.ts measures one agent once per boot, after its functional checks; this lab
 * answers "is change X faster than Y in the guest" with many fresh-agent samples in one boot,
 * the rounds interleaved across all agents (in a rotating order) so host load hits them alike.
 *
 *   npm run build && npx tsx bench/vm-rtt.ts --snapshot base        # freeze this build as "base"
 *   npx tsx bench/vm-rtt.ts --variant base --variant base:--max-lazy [--variant other=base:FLAGS]
 *        [--warmup 20] [--rounds 300] [--cycles 4] [--echo] [--mixed N] [--fixed-order] [--settle S]
 *        [--fork-loop]
 *
 * A variant is NAME[=SNAPSHOT][:ITEM,ITEM...], each item a node flag or an environment variable
 * (NAME=VALUE, `+` in VALUE for a space) for the agent, or IDLE_PORT (a second port that no host
 * connects to, as test/vm/agent.test.ts's agent has); snapshots live in bench/.work/variants/.
 * --echo adds test/vm/agent/transport-echo.js (the channel with a trivial responder) from the
 * first variant's build. --mixed N sends each agent N requests of assorted kinds (info, time,
 * osinfo, users, exec of /bin/true, errors...) before the warm-up; --fixed-order keeps one order in every round;
 * --settle S waits S seconds (default 2) between the restart and the first measured round;
 * --fork-loop runs `sleep 1` in a loop in the guest, as the VM test's paused console stat loop.
 * Prints one line per cycle and the median over cycles of each agent's
 * p25 / median and of its ratio to qemu-ga in the same cycle. Run with node_modules/.bin first on
 * PATH (npx does it): the image carries that node (Node 24, the shipped binary's).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { assembleAgentPayload, repoRoot } from '../test/vm/agent-payload';
import { buildImage, connectWithRetry, startVm, vmPrerequisiteProblem, type Vm } from '../test/vm/vm';

const WORK = path.join(__dirname, '.work');
const SNAPSHOTS = path.join(WORK, 'variants');

interface Variant {
  name: string;
  snapshot: string;
  nodeFlags: string[];
}

interface Options {
  variants: Variant[];
  echo: boolean;
  /** mixed requests each agent serves before the warm-up (as test/vm/agent.test.ts's agent has) */
  mixed: number;
  fixedOrder: boolean;
  /** seconds between the restart and the measurement (default 2) */
  settle: number;
  /** a shell loop in the guest that runs `sleep 1` for ever (test/vm/agent/stat-loop.sh while paused) */
  forkLoop: boolean;
  warmup: number;
  rounds: number;
  cycles: number;
}

function snapshot(name: string): void {
  const root = repoRoot();
  const dir = path.join(SNAPSHOTS, name);
  fs.rmSync(dir, { recursive: true, force: true });
  for (const rel of ['bin/qga-ts', 'dist/src', 'build/Release/qga_native.node', 'package.json']) {
    fs.cpSync(path.join(root, rel), path.join(dir, rel), { recursive: true });
  }
  console.log(`snapshot ${name}: ${dir}`);
}

function parseVariant(spec: string): Variant {
  const m = /^([\w.-]+)(?:=([\w.-]+))?(?::(.*))?$/.exec(spec);
  if (!m) throw new Error(`bad variant ${spec}: NAME[=SNAPSHOT][:FLAG,FLAG]`);
  const snap = m[2] ?? m[1]!;
  if (!fs.existsSync(path.join(SNAPSHOTS, snap, 'dist', 'src', 'main.js'))) throw new Error(`no snapshot ${snap} (--snapshot ${snap} first)`);
  return { name: m[1]!, snapshot: snap, nodeFlags: m[3] ? m[3].split(',').filter((f) => f !== '') : [] };
}

function parseArgs(argv: string[]): Options | 'done' {
  const o: Options = { variants: [], echo: false, mixed: 0, fixedOrder: false, settle: 2, forkLoop: false, warmup: 20, rounds: 300, cycles: 4 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--snapshot') {
      snapshot(value());
      return 'done';
    } else if (a === '--variant') o.variants.push(parseVariant(value()));
    else if (a === '--echo') o.echo = true;
    else if (a === '--mixed') o.mixed = Number(value());
    else if (a === '--fixed-order') o.fixedOrder = true;
    else if (a === '--settle') o.settle = Number(value());
    else if (a === '--fork-loop') o.forkLoop = true;
    else if (a === '--warmup') o.warmup = Number(value());
    else if (a === '--rounds') o.rounds = Number(value());
    else if (a === '--cycles') o.cycles = Number(value());
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.variants.length === 0) throw new Error('give at least one --variant');
  if (new Set(o.variants.map((v) => v.name)).size !== o.variants.length) throw new Error('variant names must differ');
  return o;
}

const portOf = (name: string): string => `lab.${name}`;
const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The guest side: every agent in a restart loop, its pid in /run/lab/NAME.pid. */
function guestScript(o: Options): string {
  const lines = [
    '#!/bin/sh',
    '# generated by bench/vm-rtt.ts',
    'P=/opt/payload',
    'mkdir -p /run/lab',
    'loop() {',
    '    name=$1; shift',
    '    mkdir -p "/run/lab/$name.state"',
    '    ( while true; do',
    '        QGA_CONF=/nonexistent.conf "$@" &',
    '        echo $! > "/run/lab/$name.pid"',
    '        wait $!',
    '      done ) &',
    '}',
    'loop qemu-ga "$P/qemu-ga/lib/ld-linux-x86-64.so.2" --library-path "$P/qemu-ga/lib" "$P/qemu-ga/qemu-ga" -m virtio-serial -p /dev/virtio-ports/lab.qemu-ga -t /run/lab/qemu-ga.state',
  ];
  for (const v of o.variants) {
    // NAME=VALUE items are the agent's environment, the others node flags
    const isEnv = (f: string): boolean => /^[A-Z][A-Z0-9_]*=/.test(f);
    // IDLE_PORT: a second -p whose host end nobody connects (the agent probes it every 100 ms)
    const idlePort = v.nodeFlags.includes('IDLE_PORT') ? ` -p /dev/virtio-ports/${portOf(`${v.name}.idle`)}` : '';
    const env = v.nodeFlags.filter(isEnv).map((f) => `env ${shellQuote(f.replace(/\+/g, ' '))} `).join('');
    const flags = v.nodeFlags.filter((f) => !isEnv(f) && f !== 'IDLE_PORT').map(shellQuote).join(' ');
    lines.push(
      `loop ${v.name} ${env}/usr/bin/node ${flags} "$P/variants/${v.snapshot}/bin/qga-ts" -m virtio-serial -p /dev/virtio-ports/${portOf(v.name)}${idlePort} -t /run/lab/${v.name}.state`,
    );
  }
  if (o.echo) {
    lines.push(`loop echo /usr/bin/node "$P/transport-echo.js" /dev/virtio-ports/${portOf('echo')}`);
  }
  if (o.forkLoop) lines.push('( while true; do sleep 1; done ) &');
  lines.push('echo "lab: agents started"', 'wait');
  return `${lines.join('\n')}\n`;
}

/** Raw bytes on one port's host socket: requests out, newline-ended replies in. */
class End {
  private buffer = '';
  private waiter: (() => void) | null = null;
  readonly samples: number[] = [];

  private constructor(
    readonly name: string,
    private readonly socket: net.Socket,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('latin1');
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  static async connect(vm: Vm, name: string): Promise<End> {
    return new End(name, await connectWithRetry(vm.ports.get(portOf(name))!, 10_000));
  }

  private async line(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.buffer.indexOf('\n');
      if (nl >= 0) {
        const text = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        return text;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no reply within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = null;
    }
  }

  /** 0xFF + guest-sync-delimited until the agent (maybe still starting) answers. */
  async sync(id: number, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      this.buffer = '';
      this.socket.write(Buffer.from(`\xff{"execute":"guest-sync-delimited","arguments":{"id":${id}}}`, 'latin1'));
      try {
        for (;;) {
          const line = await this.line(2000);
          if (line.endsWith(`{"return": ${id}}`)) return;
        }
      } catch {
        // not up yet: ask again
      }
    }
    throw new Error(`${this.name}: no guest-sync-delimited reply within ${timeoutMs} ms`);
  }

  async roundTrip(id: number): Promise<number> {
    const start = process.hrtime.bigint();
    this.socket.write(`{"execute":"guest-sync","arguments":{"id":${id}}}`);
    let line = await this.line(30_000);
    // late answers to sync's earlier attempts (the stray 0xFF's error, a delimited reply)
    while (line.startsWith('\xff') || line.includes(`stray '\\uFFFD'`)) line = await this.line(30_000);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (line !== `{"return": ${id}}`) throw new Error(`${this.name}: unexpected reply ${JSON.stringify(line)}`);
    return ms;
  }

  async call(request: object): Promise<string> {
    this.socket.write(JSON.stringify(request));
    return this.line(30_000);
  }

  discardInput(): void {
    this.buffer = '';
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Requests of several kinds, errors included, as a monitored agent sees them (the only side effect: /bin/true runs). */
const MIXED: object[] = [
  { execute: 'guest-info' },
  { execute: 'guest-ping' },
  { execute: 'guest-get-time' },
  { execute: 'guest-get-osinfo' },
  { execute: 'guest-get-host-name' },
  { execute: 'guest-get-timezone' },
  { execute: 'guest-get-users' },
  { execute: 'guest-get-load' },
  { execute: 'guest-no-such-command' },
  { execute: 'guest-sync', arguments: { id: 'not a number' } },
  { execute: 'guest-get-vcpus' },
  { execute: 'guest-network-get-interfaces' },
  { execute: 'guest-get-fsinfo' },
  { execute: 'guest-exec', arguments: { path: '/bin/true' } },
  { execute: 'guest-get-memory-block-info' },
];

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const median = (values: number[]): number => percentile(values, 50);
const fmt = (v: number): string => v.toFixed(3);

async function main(): Promise<void> {
  const parsed = parseArgs(process.argv.slice(2));
  if (parsed === 'done') return;
  const o = parsed;
  const problem = vmPrerequisiteProblem();
  if (problem !== undefined) throw new Error(`cannot boot the VM: ${problem}`);

  // The payload's own qga-ts (which transport-echo.js loads) is the first variant's build.
  const payload = assembleAgentPayload(path.join(WORK, 'vm-rtt'), path.join(SNAPSHOTS, o.variants[0]!.snapshot));
  if (!payload.withQemuGa) throw new Error('/usr/sbin/qemu-ga is not installed (apt-get install qemu-guest-agent)');
  for (const snap of new Set(o.variants.map((v) => v.snapshot))) {
    const to = path.join(payload.dir, 'variants', snap);
    fs.cpSync(path.join(SNAPSHOTS, snap), to, { recursive: true });
    fs.symlinkSync('../../qga-ts/node_modules', path.join(to, 'node_modules'));
  }
  fs.writeFileSync(path.join(payload.dir, 'run'), guestScript(o), { mode: 0o755 });

  const image = await buildImage(payload.dir);
  const names = ['qemu-ga', ...o.variants.map((v) => v.name), ...(o.echo ? ['echo'] : [])];
  const idlePorts = o.variants.filter((v) => v.nodeFlags.includes('IDLE_PORT')).map((v) => ({ name: portOf(`${v.name}.idle`) }));
  const vm = await startVm({ ...image, workDir: path.join(WORK, 'vm-rtt', 'vm'), ports: [...names.map((n) => ({ name: portOf(n) })), ...idlePorts] });
  const summary = new Map<string, { p25: number[]; median: number[]; ratio25: number[]; ratio50: number[] }>();
  for (const n of names) summary.set(n, { p25: [], median: [], ratio25: [], ratio50: [] });
  let id = 1;
  try {
    await vm.waitForReady(120_000);
    await vm.console.waitFor('lab: agents started', 120_000);
    const ends = await Promise.all(names.map((n) => End.connect(vm, n)));
    const byName = new Map(ends.map((e) => [e.name, e]));
    const qemuGa = byName.get('qemu-ga')!;
    await qemuGa.sync(id++);
    console.log(`VM up; ${names.join(', ')}; warm-up ${o.warmup}, rounds ${o.rounds}, cycles ${o.cycles}, host node ${process.version}`);
    for (let cycle = 0; cycle < o.cycles; cycle++) {
      if (cycle > 0) {
        // Fresh processes: qemu-ga kills every agent but itself; their loops start new ones.
        const pids = names.filter((n) => n !== 'qemu-ga').map((n) => `/run/lab/${n}.pid`).join(' ');
        const reply = await qemuGa.call({ execute: 'guest-exec', arguments: { path: '/bin/sh', arg: ['-c', `kill $(cat ${pids})`] } });
        if (!reply.includes('"pid"')) throw new Error(`guest-exec kill failed: ${reply}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      const t0 = Date.now();
      for (const e of ends) await e.sync(id++);
      // drop late replies to earlier sync attempts (an agent still starting answers them all)
      await new Promise((r) => setTimeout(r, 500));
      for (const e of ends) e.discardInput();
      const startedMs = Date.now() - t0;
      // let start-up work (lazy loads, compiles) settle the same way for every agent
      await new Promise((r) => setTimeout(r, o.settle * 1000));
      for (const e of ends) {
        if (e.name === 'echo') continue;
        for (let i = 0; i < o.mixed; i++) await e.call(MIXED[i % MIXED.length]!);
      }
      for (const e of ends) e.samples.length = 0;
      for (let i = 0; i < o.warmup + o.rounds; i++) {
        for (let k = 0; k < ends.length; k++) {
          const e = ends[o.fixedOrder ? k : (i + k) % ends.length]!;
          const ms = await e.roundTrip(id++);
          if (i >= o.warmup) e.samples.push(ms);
        }
      }
      const ref25 = percentile(qemuGa.samples, 25);
      const ref50 = median(qemuGa.samples);
      const parts: string[] = [];
      for (const e of ends) {
        const s = summary.get(e.name)!;
        const p25 = percentile(e.samples, 25);
        const p50 = median(e.samples);
        s.p25.push(p25);
        s.median.push(p50);
        s.ratio25.push(p25 / ref25);
        s.ratio50.push(p50 / ref50);
        parts.push(`${e.name} ${fmt(p25)}/${fmt(p50)}${e === qemuGa ? '' : ` (${(p25 / ref25).toFixed(2)}x)`}`);
      }
      console.log(`cycle ${cycle + 1} (all answering ${startedMs} ms after the restart): ${parts.join('; ')}`);
    }
    for (const e of ends) e.close();
    console.log('\nmedian over cycles, ms p25 / median, ratio to qemu-ga p25 / median (min-max of p25 ratio):');
    for (const n of names) {
      const s = summary.get(n)!;
      const range = `${Math.min(...s.ratio25).toFixed(2)}-${Math.max(...s.ratio25).toFixed(2)}`;
      console.log(`  ${n.padEnd(10)} ${fmt(median(s.p25))} / ${fmt(median(s.median))}   ${median(s.ratio25).toFixed(2)} / ${median(s.ratio50).toFixed(2)}   (${range})`);
    }
    for (const v of o.variants) console.log(`  ${v.name}: build ${v.snapshot}, node flags: ${v.nodeFlags.join(' ') || 'none'}`);
  } finally {
    await vm.stop(30_000);
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exitCode = 1;
});
