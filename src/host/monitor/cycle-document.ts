/**
 * The JSON document of one poll cycle, as pushed to the monitoring platform and printed by
 * `qga-monitor --once`. Figures are in bytes and seconds; counters are exact integers; rates are
 * per second over the time between this VM's last two polls. docs/monitoring.md shows an example.
 */
import { QGA_TS_VERSION } from '../../version';
import { usePercent } from '../filesystem-usage';
import { formatJson } from '../json-text';
import type { CycleReport, PollScheduler, VmState } from './poll-scheduler';
import { targetAddress } from './targets';

function vmDocument(scheduler: PollScheduler, vm: VmState): Record<string, unknown> {
  const base = { vm: vm.target.vm, route: vm.target.route, target: targetAddress(vm.target) };
  if (vm.lastOutcome === 'skipped') {
    return { ...base, ok: false, skipped: true, backoff_seconds: scheduler.backoffSeconds(vm), error: vm.lastError ?? undefined };
  }
  if (!vm.up || !vm.sample) {
    return { ...base, ok: false, poll_seconds: vm.lastPollSeconds, error: vm.lastError ? { reason: vm.lastError.reason, message: vm.lastError.message } : undefined };
  }
  const s = vm.sample;
  const r = vm.rates;
  return {
    ...base,
    ok: true,
    time: new Date(s.time).toISOString(),
    poll_seconds: vm.lastPollSeconds,
    agent_version: s.agentVersion,
    frozen: s.frozen ?? undefined,
    os: s.os ? { id: s.os.id, version_id: s.os.versionId, pretty_name: s.os.prettyName, kernel_release: s.os.kernelRelease, hostname: s.os.hostname } : undefined,
    filesystems: s.filesystems?.map((u) => ({
      mountpoint: u.mountpoint,
      device: u.device,
      type: u.fstype,
      size_bytes: u.sizeBytes ?? undefined,
      used_bytes: u.usedBytes ?? undefined,
      avail_bytes: u.availBytes ?? undefined,
      use_percent: usePercent(u) ?? undefined,
      files: u.files ?? undefined,
      files_free: u.filesFree ?? undefined,
    })),
    memory: s.memory
      ? {
          total_bytes: s.memory.total,
          free_bytes: s.memory.free,
          available_bytes: s.memory.available,
          buffers_bytes: s.memory.buffers,
          cached_bytes: s.memory.cached,
          swap_total_bytes: s.memory['swap-total'],
          swap_free_bytes: s.memory['swap-free'],
        }
      : undefined,
    cpu: s.cpu
      ? {
          count: s.cpu.count,
          usage_ratio: r?.cpuUsageRatio ?? undefined,
          seconds_total: Object.fromEntries(Object.entries(s.cpu.modesMs).map(([m, ms]) => [m, Number(ms) / 1000])),
        }
      : undefined,
    disks: s.disks?.map((d) => {
      const rate = r?.disks.get(d.device);
      return {
        device: d.device,
        read_bytes_total: d.stats['read-sectors'] === undefined ? undefined : d.stats['read-sectors'] * 512n,
        written_bytes_total: d.stats['write-sectors'] === undefined ? undefined : d.stats['write-sectors'] * 512n,
        reads_total: d.stats['read-ios'],
        writes_total: d.stats['write-ios'],
        read_bytes_per_second: rate?.readBytesPerSecond,
        write_bytes_per_second: rate?.writeBytesPerSecond,
        reads_per_second: rate?.readsPerSecond,
        writes_per_second: rate?.writesPerSecond,
      };
    }),
    interfaces: s.interfaces?.map((i) => {
      const rate = r?.interfaces.get(i.name);
      return {
        interface: i.name,
        rx_bytes_total: i.stats['rx-bytes'],
        tx_bytes_total: i.stats['tx-bytes'],
        rx_packets_total: i.stats['rx-packets'],
        tx_packets_total: i.stats['tx-packets'],
        rx_errors_total: i.stats['rx-errs'],
        tx_errors_total: i.stats['tx-errs'],
        rx_bytes_per_second: rate?.rxBytesPerSecond,
        tx_bytes_per_second: rate?.txBytesPerSecond,
        rx_packets_per_second: rate?.rxPacketsPerSecond,
        tx_packets_per_second: rate?.txPacketsPerSecond,
      };
    }),
    load: s.load ? { load1: s.load.load1m, load5: s.load.load5m, load15: s.load.load15m } : undefined,
    unavailable: Object.entries(s.available).filter(([, ok]) => !ok).map(([c]) => c),
    errors: s.collectorErrors.length > 0 ? s.collectorErrors : undefined,
  };
}

export function cycleDocument(scheduler: PollScheduler, report: CycleReport, hostname: string, intervalSeconds: number): string {
  return formatJson({
    monitor: { host: hostname, version: QGA_TS_VERSION },
    cycle: report.cycle,
    time: new Date(report.finished).toISOString(),
    interval_seconds: intervalSeconds,
    cycle_seconds: (report.finished - report.started) / 1000,
    vms: [...scheduler.vms.values()].map((vm) => vmDocument(scheduler, vm)),
  });
}
