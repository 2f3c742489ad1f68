/**
 * qga-monitor benchmark: the wall time of one poll cycle, and the monitor's CPU time and RSS, for
 * a fleet of 50 VMs (real bin/qga-ts processes) and one of 200 (lightweight protocol-speaking
 * fakes from test/e2e/host/fake-agent.ts, served by a child process so that their CPU is not
 * counted as the monitor's). The monitor runs in this process with its default concurrency (16)
 * and per-VM budget (10 s), as the service would; a cycle sends ~10 commands per VM.
 *
 *   node dist/bench/monitor.js [--real 50] [--fakes 200] [--cycles 5] [--json]
 *
 * Targets from issue #7: a 200-VM cycle well under the 60 s interval, RSS under 150 MB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildMonitorConfig, parseMonitorArgs } from '../src/host/monitor/monitor-config';
import { startMonitor } from '../src/host/monitor/monitor-service';
import { FakeAgent } from '../test/e2e/host/fake-agent';
import { repoPath } from '../test/support/repo';

interface Result {
  fleet: string;
  vms: number;
  up: number;
  firstCycleMs: number;
  medianCycleMs: number;
  cpuMsPerCycle: number;
  scrapeMs: number;
  metricsBytes: number;
  rssMb: number;
  maxRssMb: number;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** `--farm N DIR`: serve N fake agents as DIR/fake-<i>.agent until stdin closes. */
async function farm(count: number, dir: string): Promise<void> {
  const fakes = await Promise.all(Array.from({ length: count }, (_, i) => FakeAgent.listen(path.join(dir, `fake-${i}.agent`), { index: i })));
  process.stdout.write('ready\n');
  process.stdin.resume();
  await new Promise((r) => process.stdin.once('end', r));
  await Promise.all(fakes.map((f) => f.close()));
  process.exit(0);
}

function waitForLine(proc: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(line)) resolve();
    });
    proc.once('exit', (code) => reject(new Error(`child exited with ${code} before '${line}'`)));
  });
}

async function startRealAgents(count: number, dir: string): Promise<ChildProcess[]> {
  const procs: ChildProcess[] = [];
  const conf = path.join(dir, 'none.conf');
  fs.writeFileSync(conf, '');
  // Start them a few at a time: each is a Node process starting up on a two-core machine.
  for (let i = 0; i < count; i += 5) {
    const batch = Array.from({ length: Math.min(5, count - i) }, (_, k) => {
      const n = i + k;
      const state = path.join(dir, `state-${n}`);
      fs.mkdirSync(state);
      const sock = path.join(dir, `qgats-${n}.agent`);
      const p = spawn(repoPath('bin', 'qga-ts'), ['-m', 'unix-listen', '-p', sock, '-t', state], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', QGA_CONF: conf }, stdio: 'ignore' });
      procs.push(p);
      return sock;
    });
    for (const sock of batch) {
      const deadline = Date.now() + 30000;
      while (!fs.existsSync(sock)) {
        if (Date.now() > deadline) throw new Error(`agent did not create ${sock}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }
  return procs;
}

async function measure(fleet: string, glob: string, vms: number, cycles: number): Promise<Result> {
  const config = buildMonitorConfig(null, parseMonitorArgs(['--socket-glob', glob, '--listen', 'none', '--log-level', 'silent']));
  const monitor = await startMonitor(config, { processMetrics: false });
  const durations: number[] = [];
  const cpu: number[] = [];
  let up = 0;
  for (let c = 0; c < cycles; c++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const report = await monitor.runCycle();
    durations.push(performance.now() - t0);
    const used = process.cpuUsage(cpu0);
    cpu.push((used.user + used.system) / 1000);
    up = report.polled.length - report.failed.length;
    if (report.polled.length !== vms) throw new Error(`${fleet}: polled ${report.polled.length} of ${vms}`);
  }
  const s0 = performance.now();
  const text = await monitor.registry.metrics();
  const scrapeMs = performance.now() - s0;
  await monitor.stop();
  global.gc?.();
  const warm = durations.slice(1).sort((a, b) => a - b);
  const warmCpu = cpu.slice(1).sort((a, b) => a - b);
  return {
    fleet,
    vms,
    up,
    firstCycleMs: Math.round(durations[0]!),
    medianCycleMs: Math.round(warm[Math.floor(warm.length / 2)] ?? durations[0]!),
    cpuMsPerCycle: Math.round(warmCpu[Math.floor(warmCpu.length / 2)] ?? cpu[0]!),
    scrapeMs: Math.round(scrapeMs),
    metricsBytes: text.length,
    rssMb: Math.round(process.memoryUsage().rss / 1048576),
    maxRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

async function main(): Promise<void> {
  const farmAt = process.argv.indexOf('--farm');
  if (farmAt >= 0) return farm(Number(process.argv[farmAt + 1]), process.argv[farmAt + 2]!);
  const realCount = arg('real', 50);
  const fakeCount = arg('fakes', 200);
  const cycles = Math.max(2, arg('cycles', 5));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qga-bench-monitor-'));
  const results: Result[] = [];
  let real: ChildProcess[] = [];
  let farmProc: ChildProcess | null = null;
  try {
    if (realCount > 0 && fs.existsSync(repoPath('dist', 'src', 'main.js'))) {
      const realDir = path.join(dir, 'real');
      fs.mkdirSync(realDir);
      real = await startRealAgents(realCount, realDir);
      results.push(await measure(`${realCount} real qga-ts`, path.join(realDir, '*.agent'), realCount, cycles));
      real.forEach((p) => p.kill('SIGTERM'));
      real = [];
    }
    if (fakeCount > 0) {
      const fakeDir = path.join(dir, 'fakes');
      fs.mkdirSync(fakeDir);
      farmProc = spawn(process.execPath, [...process.execArgv, __filename, '--farm', String(fakeCount), fakeDir], { stdio: ['pipe', 'pipe', 'inherit'] });
      await waitForLine(farmProc, 'ready');
      results.push(await measure(`${fakeCount} fakes`, path.join(fakeDir, '*.agent'), fakeCount, cycles));
    }
  } finally {
    real.forEach((p) => p.kill('SIGTERM'));
    farmProc?.stdin?.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify(results, null, 2) + '\n');
    return;
  }
  process.stdout.write(`qga-monitor, one poll cycle (${os.cpus().length} CPUs, Node ${process.version}, ${cycles} cycles each; median of the warm ones)\n`);
  const rows = [['fleet', 'up', 'first cycle', 'cycle', 'CPU/cycle', 'scrape', '/metrics', 'RSS', 'max RSS']];
  for (const r of results) {
    rows.push([r.fleet, `${r.up}/${r.vms}`, `${r.firstCycleMs} ms`, `${r.medianCycleMs} ms`, `${r.cpuMsPerCycle} ms`, `${r.scrapeMs} ms`, `${Math.round(r.metricsBytes / 1024)} KiB`, `${r.rssMb} MB`, `${r.maxRssMb} MB`]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  for (const row of rows) process.stdout.write(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ') + '\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`bench/monitor: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
});
