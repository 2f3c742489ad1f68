/** `qga-monitor`: parse settings, start the service, stop cleanly on SIGTERM/SIGINT. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { QGA_TS_VERSION } from '../../version';
import { cycleDocument } from './cycle-document';
import { buildMonitorConfig, MONITOR_USAGE, MonitorConfigError, parseMonitorArgs } from './monitor-config';
import { createLogger, startMonitor } from './monitor-service';

export async function monitorMain(argv: string[]): Promise<number> {
  let config;
  try {
    const args = parseMonitorArgs(argv);
    if (args.help) {
      process.stdout.write(MONITOR_USAGE);
      return 0;
    }
    if (args.version) {
      process.stdout.write(`qga-monitor (qga-ts) ${QGA_TS_VERSION}\n`);
      return 0;
    }
    let text: string | null = null;
    if (args.configFile !== undefined) {
      try {
        text = fs.readFileSync(args.configFile, 'utf8');
      } catch (e) {
        throw new MonitorConfigError(`cannot read ${args.configFile}: ${(e as Error).message}`);
      }
    }
    config = buildMonitorConfig(text, args);
  } catch (e) {
    if (e instanceof MonitorConfigError) {
      process.stderr.write(`qga-monitor: ${e.message}\n`);
      return 2;
    }
    throw e;
  }

  if (config.once) {
    const monitor = await startMonitor({ ...config, listen: null, pushUrl: null }, { processMetrics: false });
    const report = await monitor.runCycle();
    await monitor.stop();
    process.stdout.write(cycleDocument(monitor.scheduler, report, os.hostname(), config.intervalSeconds) + '\n');
    return 0;
  }

  const log = createLogger(config.logLevel);
  const monitor = await startMonitor(config, { logger: log });
  log.info({ globs: config.socketGlobs, interval: config.intervalSeconds, push: config.pushUrl ?? undefined }, 'qga-monitor started');
  monitor.startTimer();
  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      log.info(`${sig}: stopping`);
      process.removeListener('SIGTERM', onSignal);
      process.removeListener('SIGINT', onSignal);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await monitor.stop();
  return 0;
}
