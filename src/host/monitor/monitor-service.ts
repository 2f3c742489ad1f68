/**
 * qga-monitor as a service: the composition root of the monitor (config → logger → scheduler →
 * metrics registry → HTTP endpoint → pusher) and its timer. `startMonitor` is what the CLI runs
 * and what tests drive in-process.
 */
import * as http from 'node:http';
import * as os from 'node:os';
import pino from 'pino';
import type { Registry } from 'prom-client';
import type { RunCommand } from '../libvirt-route';
import { cycleDocument } from './cycle-document';
import { createMonitorRegistry } from './metrics';
import type { MonitorConfig } from './monitor-config';
import { PollScheduler, type CycleReport, type SchedulerOptions } from './poll-scheduler';
import { Pusher } from './push';

export interface MonitorDeps {
  logger?: pino.Logger;
  run?: RunCommand;
  now?: () => number;
  hostname?: string;
  /** tests: wrap or replace routes */
  makeRoute?: SchedulerOptions['makeRoute'];
  /** tests: no process metrics, which are slow to collect and irrelevant there */
  processMetrics?: boolean;
  fetch?: typeof fetch;
  pushRetryDelayMs?: number;
  /** per push request, answer included (default: the Pusher's 10 s) */
  pushRequestTimeoutMs?: number;
}

export interface RunningMonitor {
  readonly scheduler: PollScheduler;
  readonly registry: Registry;
  readonly pusher: Pusher | null;
  /** where /metrics is served, once listening */
  address(): { host: string; port: number } | null;
  /** run one cycle now (the timer keeps its own rhythm); resolves after its push was handed over */
  runCycle(): Promise<CycleReport>;
  /** start the timer: a cycle now, then every interval */
  startTimer(): void;
  stop(): Promise<void>;
}

/** ms a scrape in progress gets to finish at shutdown before its connection is cut */
const SERVER_CLOSE_GRACE_MS = 1000;

/**
 * server.close() waits for every connection to end, and a scraper that opened one and sent half a
 * request (or nothing) would hold the shutdown until Node's request timeout, minutes later.
 */
function closeServer(server: http.Server, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const cut = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearTimeout(cut);
      resolve();
    });
    server.closeIdleConnections();
  });
}

export function createLogger(level: string): pino.Logger {
  return pino({ level, base: { name: 'qga-monitor' } }, pino.destination({ fd: 2, sync: true }));
}

export async function startMonitor(config: MonitorConfig, deps: MonitorDeps = {}): Promise<RunningMonitor> {
  const log = deps.logger ?? createLogger(config.logLevel);
  const hostname = deps.hostname ?? os.hostname();
  const scheduler = new PollScheduler({
    socketGlobs: config.socketGlobs,
    libvirtDomains: config.libvirtDomains,
    libvirtUri: config.libvirtUri,
    virsh: config.virsh,
    intervalSeconds: config.intervalSeconds,
    concurrency: config.concurrency,
    vmTimeoutSeconds: config.vmTimeoutSeconds,
    maxBackoffSeconds: config.maxBackoffSeconds,
    excludeInterface: new RegExp(config.excludeInterface),
    excludeDisk: new RegExp(config.excludeDisk),
    osInfoEvery: config.osInfoEvery,
    run: deps.run,
    now: deps.now,
    makeRoute: deps.makeRoute,
    onVmChange: (vm, change) => {
      if (change.up) log.info({ vm }, 'agent answers');
      else log.warn({ vm, reason: change.reason }, `poll failed: ${change.message}`);
    },
  });
  const pusher = config.pushUrl
    ? new Pusher({
        url: config.pushUrl,
        headers: config.pushHeaders,
        spoolDir: config.spoolDir,
        spoolMaxBytes: config.spoolMaxBytes,
        fetch: deps.fetch,
        retryDelayMs: deps.pushRetryDelayMs,
        requestTimeoutMs: deps.pushRequestTimeoutMs,
        log: (level, message) => log[level](message),
      })
    : null;
  const registry = createMonitorRegistry({ scheduler, push: () => pusher?.stats ?? null }, { processMetrics: deps.processMetrics });

  let server: http.Server | null = null;
  if (config.listen) {
    server = http.createServer((req, res) => {
      void serve(req, res);
    });
    const serve = async (req: http.IncomingMessage, res: http.ServerResponse) => {
      const url = (req.url ?? '/').split('?')[0];
      try {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res.writeHead(405, { allow: 'GET, HEAD' }).end();
        } else if (url === '/metrics') {
          const body = await registry.metrics();
          res.writeHead(200, { 'content-type': registry.contentType }).end(req.method === 'HEAD' ? undefined : body);
        } else if (url === '/healthz') {
          const r = scheduler.lastReport;
          const stale = r !== null && Date.now() - r.finished > 3 * config.intervalSeconds * 1000;
          const vms = [...scheduler.vms.values()];
          const body = JSON.stringify({
            status: stale ? 'stale' : r ? 'ok' : 'starting',
            cycle: scheduler.cycle,
            last_cycle_end: r ? new Date(r.finished).toISOString() : null,
            vms: vms.length,
            vms_up: vms.filter((v) => v.up).length,
            failing: vms.filter((v) => !v.up && v.lastError).map((v) => ({ vm: v.target.vm, reason: v.lastError!.reason, message: v.lastError!.message })),
          });
          res.writeHead(stale ? 503 : 200, { 'content-type': 'application/json' }).end(body);
        } else if (url === '/') {
          res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('qga-monitor: /metrics (Prometheus), /healthz (JSON)\n');
        } else {
          res.writeHead(404).end();
        }
      } catch (e) {
        log.error({ err: e }, 'serving a request failed');
        if (!res.headersSent) res.writeHead(500);
        res.end();
      }
    };
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(config.listen!.port, config.listen!.host, () => {
        server!.removeListener('error', reject);
        resolve();
      });
    });
    const a = server.address();
    log.info({ listen: typeof a === 'object' && a ? `${a.address}:${a.port}` : a }, 'serving /metrics');
  }

  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  let cycleRunning: Promise<CycleReport> | null = null;

  const runCycle = async (): Promise<CycleReport> => {
    const report = await scheduler.runCycle();
    for (const p of report.discoveryProblems) log.warn(p);
    log.debug({ cycle: report.cycle, polled: report.polled.length, failed: report.failed.length, skipped: report.skipped.length, ms: report.finished - report.started }, 'cycle done');
    if (pusher) {
      const doc = cycleDocument(scheduler, report, hostname, config.intervalSeconds);
      await pusher.submit(doc).catch((e: Error) => log.error(`push: ${e.message}`));
    }
    return report;
  };

  const tick = () => {
    if (stopped) return;
    const started = Date.now();
    cycleRunning = runCycle().catch((e: Error) => {
      log.error({ err: e }, 'poll cycle failed');
      return null as unknown as CycleReport;
    });
    void cycleRunning.then(() => {
      cycleRunning = null;
      if (stopped) return;
      // Keep the rhythm; a cycle that overran starts the next one at once.
      const wait = Math.max(0, started + config.intervalSeconds * 1000 - Date.now());
      timer = setTimeout(tick, wait);
    });
  };

  return {
    scheduler,
    registry,
    pusher,
    address: () => {
      const a = server?.address();
      return a && typeof a === 'object' ? { host: a.address, port: a.port } : null;
    },
    runCycle,
    startTimer: () => tick(),
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await scheduler.stop();
      await cycleRunning;
      await pusher?.idle();
      if (server) await closeServer(server, SERVER_CLOSE_GRACE_MS);
    },
  };
}
