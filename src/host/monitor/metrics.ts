/**
 * The Prometheus view of the monitor's state, built at scrape time from the latest samples with
 * prom-client (a registry of our own, no global one). Names follow Prometheus conventions and
 * node_exporter where a counterpart exists: base units (bytes, seconds), `_total` for counters,
 * `_ratio` for 0..1, one label per dimension (vm, mountpoint, device, fstype, interface, mode).
 * Guest counters are exported as counters; rate() turns them into rates (the push JSON carries
 * rates computed by the monitor). A VM whose last poll failed keeps only qga_up and its error and
 * timing series, so stale figures are never exported as current.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { GuestDiskStatsReply, GuestNetworkInterfaceStatReply } from '../../generated/qga-client';
import { QGA_TS_VERSION } from '../../version';
import type { PushStats } from './push';
import type { CycleReport, PollScheduler, VmState } from './poll-scheduler';
import { MONITOR_COMMANDS } from './guest-sample';

export interface MetricsSource {
  scheduler: PollScheduler;
  push(): PushStats | null;
}

type Labels = Record<string, string>;
type Row = [Labels, number | bigint | null | undefined];

interface Definition {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  labels: readonly string[];
  rows(source: MetricsSource): Iterable<Row>;
}

function* perVm(source: MetricsSource, rows: (vm: VmState) => Iterable<Row>): Iterable<Row> {
  for (const vm of source.scheduler.vms.values()) yield* rows(vm);
}

/** Rows of a figure every successful sample may carry. */
function sampled(rows: (vm: VmState, s: NonNullable<VmState['sample']>) => Iterable<Row>) {
  return (source: MetricsSource) => perVm(source, (vm) => (vm.sample ? rows(vm, vm.sample) : []));
}

const vmLabel = (vm: VmState): Labels => ({ vm: vm.target.vm });
const seconds = (ms: bigint | undefined): number | undefined => (ms === undefined ? undefined : Number(ms) / 1000);

const FS_LABELS = ['vm', 'mountpoint', 'device', 'fstype'] as const;
function filesystemRows(pick: (u: import('../filesystem-usage').FilesystemUsage) => bigint | number | null) {
  return sampled(function* (vm, s) {
    for (const u of s.filesystems ?? []) yield [{ vm: vm.target.vm, mountpoint: u.mountpoint, device: u.device, fstype: u.fstype }, pick(u)];
  });
}

function memoryRow(key: keyof NonNullable<NonNullable<VmState['sample']>['memory']>) {
  return sampled(function* (vm, s) {
    if (s.memory) yield [vmLabel(vm), s.memory[key]];
  });
}

function diskRows(pick: (st: GuestDiskStatsReply) => number | bigint | undefined) {
  return sampled(function* (vm, s) {
    for (const d of s.disks ?? []) yield [{ vm: vm.target.vm, device: d.device }, pick(d.stats)];
  });
}

function netRows(key: keyof GuestNetworkInterfaceStatReply) {
  return sampled(function* (vm, s) {
    for (const i of s.interfaces ?? []) yield [{ vm: vm.target.vm, interface: i.name }, i.stats[key]];
  });
}

const lastReport = (source: MetricsSource): CycleReport | null => source.scheduler.lastReport;

export const METRIC_DEFINITIONS: readonly Definition[] = [
  // ---- the monitor itself ----
  { name: 'qga_monitor_build_info', help: 'Version of qga-monitor (always 1).', type: 'gauge', labels: ['version'], rows: () => [[{ version: QGA_TS_VERSION }, 1]] },
  { name: 'qga_monitor_vms', help: 'VMs found at the last cycle.', type: 'gauge', labels: [], rows: (src) => [[{}, src.scheduler.vms.size]] },
  { name: 'qga_monitor_cycles_total', help: 'Poll cycles run.', type: 'counter', labels: [], rows: (src) => [[{}, src.scheduler.cycle]] },
  {
    name: 'qga_monitor_cycle_duration_seconds', help: 'Wall time of the last poll cycle.', type: 'gauge', labels: [],
    rows: (src) => { const r = lastReport(src); return r ? [[{}, (r.finished - r.started) / 1000]] : []; },
  },
  {
    name: 'qga_monitor_last_cycle_timestamp_seconds', help: 'When the last poll cycle ended (Unix time).', type: 'gauge', labels: [],
    rows: (src) => { const r = lastReport(src); return r ? [[{}, r.finished / 1000]] : []; },
  },
  {
    name: 'qga_monitor_push_total', help: 'Push deliveries by result (ok, failed: will be retried or spooled, rejected: dropped on a 4xx).', type: 'counter', labels: ['result'],
    rows: (src) => { const p = src.push(); return p ? [[{ result: 'ok' }, p.ok], [{ result: 'failed' }, p.failed], [{ result: 'rejected' }, p.rejected]] : []; },
  },
  { name: 'qga_monitor_push_spool_documents', help: 'Push documents waiting in the on-disk spool.', type: 'gauge', labels: [], rows: (src) => { const p = src.push(); return p ? [[{}, p.spoolDocuments]] : []; } },
  { name: 'qga_monitor_push_spool_bytes', help: 'Bytes waiting in the on-disk spool.', type: 'gauge', labels: [], rows: (src) => { const p = src.push(); return p ? [[{}, p.spoolBytes]] : []; } },
  { name: 'qga_monitor_push_dropped_total', help: 'Push documents dropped because the spool was full.', type: 'counter', labels: [], rows: (src) => { const p = src.push(); return p ? [[{}, p.dropped]] : []; } },

  // ---- per VM: the poll ----
  { name: 'qga_up', help: '1 when the last poll of the VM\'s agent succeeded.', type: 'gauge', labels: ['vm'], rows: (src) => perVm(src, (vm) => [[vmLabel(vm), vm.up ? 1 : 0]]) },
  { name: 'qga_poll_duration_seconds', help: 'Wall time of the last poll of the VM.', type: 'gauge', labels: ['vm'], rows: (src) => perVm(src, (vm) => [[vmLabel(vm), vm.lastPollSeconds]]) },
  {
    name: 'qga_poll_errors_total', help: 'Failed polls by reason (timeout, connection, protocol, remote, reply, internal).', type: 'counter', labels: ['vm', 'reason'],
    rows: (src) => perVm(src, (vm) => [...vm.pollErrors].map(([reason, n]): Row => [{ vm: vm.target.vm, reason }, n])),
  },
  {
    name: 'qga_poll_backoff_seconds', help: 'How long a failing VM is left alone before the next try (0: polled every cycle).', type: 'gauge', labels: ['vm'],
    rows: (src) => perVm(src, (vm) => [[vmLabel(vm), src.scheduler.backoffSeconds(vm)]]),
  },
  {
    name: 'qga_last_success_timestamp_seconds', help: 'When the VM was last polled successfully (Unix time).', type: 'gauge', labels: ['vm'],
    rows: (src) => perVm(src, (vm) => [[vmLabel(vm), vm.lastSuccessTime === null ? null : vm.lastSuccessTime / 1000]]),
  },
  {
    name: 'qga_collector_errors_total', help: 'Commands that failed on their own (the rest of the poll went on).', type: 'counter', labels: ['vm', 'command'],
    rows: (src) => perVm(src, (vm) => [...vm.collectorErrors].map(([command, n]): Row => [{ vm: vm.target.vm, command }, n])),
  },
  {
    name: 'qga_agent_info', help: 'The agent\'s version and how it is reached (always 1).', type: 'gauge', labels: ['vm', 'version', 'route'],
    rows: sampled((vm, s) => [[{ vm: vm.target.vm, version: s.agentVersion, route: vm.target.route }, 1]]),
  },
  {
    name: 'qga_command_available', help: '1 when the guest\'s agent answers the command, 0 when it does not offer it (unknown, disabled, or frozen).', type: 'gauge', labels: ['vm', 'command'],
    rows: sampled(function* (vm, s) {
      for (const c of MONITOR_COMMANDS) if (s.available[c] !== undefined) yield [{ vm: vm.target.vm, command: c }, s.available[c] ? 1 : 0];
    }),
  },
  { name: 'qga_guest_frozen', help: '1 while the guest\'s filesystems are frozen.', type: 'gauge', labels: ['vm'], rows: sampled((vm, s) => (s.frozen === null ? [] : [[vmLabel(vm), s.frozen ? 1 : 0]])) },
  {
    name: 'qga_guest_os_info', help: 'The guest\'s operating system (always 1).', type: 'gauge', labels: ['vm', 'id', 'version_id', 'pretty_name', 'kernel_release', 'hostname'],
    rows: sampled((vm, s) =>
      s.os === null ? [] : [[{ vm: vm.target.vm, id: s.os.id ?? '', version_id: s.os.versionId ?? '', pretty_name: s.os.prettyName ?? '', kernel_release: s.os.kernelRelease ?? '', hostname: s.os.hostname ?? '' }, 1]],
    ),
  },

  // ---- filesystems ----
  { name: 'qga_filesystem_size_bytes', help: 'Filesystem size.', type: 'gauge', labels: FS_LABELS, rows: filesystemRows((u) => u.sizeBytes) },
  { name: 'qga_filesystem_used_bytes', help: 'Space in use.', type: 'gauge', labels: FS_LABELS, rows: filesystemRows((u) => u.usedBytes) },
  { name: 'qga_filesystem_avail_bytes', help: 'Space available to unprivileged users.', type: 'gauge', labels: FS_LABELS, rows: filesystemRows((u) => u.availBytes) },
  { name: 'qga_filesystem_free_bytes', help: 'Free space including the root reserve (needs guest-get-statvfs or qemu-ga >= 9.1).', type: 'gauge', labels: FS_LABELS, rows: filesystemRows((u) => u.freeBytes) },
  {
    name: 'qga_filesystem_use_ratio', help: 'Used share as df computes it: used / (used + avail).', type: 'gauge', labels: FS_LABELS,
    rows: filesystemRows((u) => (u.usedBytes === null || u.availBytes === null || u.usedBytes + u.availBytes === 0n ? null : Number(u.usedBytes) / Number(u.usedBytes + u.availBytes))),
  },
  { name: 'qga_filesystem_files', help: 'Inodes (guest-get-statvfs only).', type: 'gauge', labels: FS_LABELS, rows: filesystemRows((u) => u.files) },
  { name: 'qga_filesystem_files_free', help: 'Free inodes (guest-get-statvfs only).', type: 'gauge', labels: FS_LABELS, rows: filesystemRows((u) => u.filesFree) },
  { name: 'qga_filesystem_readonly', help: '1 when mounted read-only (guest-get-statvfs only).', type: 'gauge', labels: FS_LABELS, rows: filesystemRows((u) => (u.readOnly === null ? null : u.readOnly ? 1 : 0)) },

  // ---- memory (guest-get-memory-stats) ----
  { name: 'qga_memory_total_bytes', help: 'Usable RAM (MemTotal).', type: 'gauge', labels: ['vm'], rows: memoryRow('total') },
  { name: 'qga_memory_free_bytes', help: 'Unused RAM (MemFree).', type: 'gauge', labels: ['vm'], rows: memoryRow('free') },
  { name: 'qga_memory_available_bytes', help: 'RAM available for new work without swapping (MemAvailable).', type: 'gauge', labels: ['vm'], rows: memoryRow('available') },
  { name: 'qga_memory_buffers_bytes', help: 'Block device buffers (Buffers).', type: 'gauge', labels: ['vm'], rows: memoryRow('buffers') },
  { name: 'qga_memory_cached_bytes', help: 'Page cache (Cached).', type: 'gauge', labels: ['vm'], rows: memoryRow('cached') },
  { name: 'qga_memory_swap_total_bytes', help: 'Swap space (SwapTotal).', type: 'gauge', labels: ['vm'], rows: memoryRow('swap-total') },
  { name: 'qga_memory_swap_free_bytes', help: 'Unused swap space (SwapFree).', type: 'gauge', labels: ['vm'], rows: memoryRow('swap-free') },

  // ---- CPU (guest-get-cpustats, summed over CPUs) ----
  { name: 'qga_cpu_count', help: 'Logical CPUs the guest reports.', type: 'gauge', labels: ['vm'], rows: sampled((vm, s) => (s.cpu ? [[vmLabel(vm), s.cpu.count]] : [])) },
  {
    name: 'qga_cpu_seconds_total', help: 'CPU time spent in each mode, summed over all CPUs.', type: 'counter', labels: ['vm', 'mode'],
    rows: sampled(function* (vm, s) {
      for (const [mode, ms] of Object.entries(s.cpu?.modesMs ?? {})) yield [{ vm: vm.target.vm, mode }, seconds(ms)];
    }),
  },
  {
    name: 'qga_cpu_usage_ratio', help: 'Busy share of all CPU time between the last two polls (0..1).', type: 'gauge', labels: ['vm'],
    rows: (src) => perVm(src, (vm) => (vm.sample && vm.rates?.cpuUsageRatio != null ? [[vmLabel(vm), vm.rates.cpuUsageRatio]] : [])),
  },

  // ---- disk I/O (guest-get-diskstats) ----
  { name: 'qga_disk_read_bytes_total', help: 'Bytes read.', type: 'counter', labels: ['vm', 'device'], rows: diskRows((st) => (st['read-sectors'] === undefined ? undefined : st['read-sectors'] * 512n)) },
  { name: 'qga_disk_written_bytes_total', help: 'Bytes written.', type: 'counter', labels: ['vm', 'device'], rows: diskRows((st) => (st['write-sectors'] === undefined ? undefined : st['write-sectors'] * 512n)) },
  { name: 'qga_disk_reads_completed_total', help: 'Reads completed.', type: 'counter', labels: ['vm', 'device'], rows: diskRows((st) => st['read-ios']) },
  { name: 'qga_disk_writes_completed_total', help: 'Writes completed.', type: 'counter', labels: ['vm', 'device'], rows: diskRows((st) => st['write-ios']) },
  { name: 'qga_disk_read_time_seconds_total', help: 'Time spent reading.', type: 'counter', labels: ['vm', 'device'], rows: diskRows((st) => seconds(st['read-ticks'])) },
  { name: 'qga_disk_write_time_seconds_total', help: 'Time spent writing.', type: 'counter', labels: ['vm', 'device'], rows: diskRows((st) => seconds(st['write-ticks'])) },
  { name: 'qga_disk_io_time_seconds_total', help: 'Time the device had I/O in flight.', type: 'counter', labels: ['vm', 'device'], rows: diskRows((st) => seconds(st['total-ticks'])) },
  { name: 'qga_disk_io_now', help: 'I/Os in progress.', type: 'gauge', labels: ['vm', 'device'], rows: diskRows((st) => st['ios-pgr']) },

  // ---- network (guest-network-get-interfaces statistics) ----
  { name: 'qga_network_receive_bytes_total', help: 'Bytes received.', type: 'counter', labels: ['vm', 'interface'], rows: netRows('rx-bytes') },
  { name: 'qga_network_transmit_bytes_total', help: 'Bytes sent.', type: 'counter', labels: ['vm', 'interface'], rows: netRows('tx-bytes') },
  { name: 'qga_network_receive_packets_total', help: 'Packets received.', type: 'counter', labels: ['vm', 'interface'], rows: netRows('rx-packets') },
  { name: 'qga_network_transmit_packets_total', help: 'Packets sent.', type: 'counter', labels: ['vm', 'interface'], rows: netRows('tx-packets') },
  { name: 'qga_network_receive_errs_total', help: 'Receive errors.', type: 'counter', labels: ['vm', 'interface'], rows: netRows('rx-errs') },
  { name: 'qga_network_transmit_errs_total', help: 'Transmit errors.', type: 'counter', labels: ['vm', 'interface'], rows: netRows('tx-errs') },
  { name: 'qga_network_receive_drop_total', help: 'Received packets dropped.', type: 'counter', labels: ['vm', 'interface'], rows: netRows('rx-dropped') },
  { name: 'qga_network_transmit_drop_total', help: 'Packets to send dropped.', type: 'counter', labels: ['vm', 'interface'], rows: netRows('tx-dropped') },

  // ---- load (guest-get-load) ----
  { name: 'qga_load1', help: '1-minute load average.', type: 'gauge', labels: ['vm'], rows: sampled((vm, s) => (s.load ? [[vmLabel(vm), s.load.load1m]] : [])) },
  { name: 'qga_load5', help: '5-minute load average.', type: 'gauge', labels: ['vm'], rows: sampled((vm, s) => (s.load ? [[vmLabel(vm), s.load.load5m]] : [])) },
  { name: 'qga_load15', help: '15-minute load average.', type: 'gauge', labels: ['vm'], rows: sampled((vm, s) => (s.load ? [[vmLabel(vm), s.load.load15m]] : [])) },
];

/** A registry whose metrics are filled from `source` at every scrape, plus the process's own. */
export function createMonitorRegistry(source: MetricsSource, options: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  for (const d of METRIC_DEFINITIONS) {
    const fill = (set: (labels: Labels, value: number) => void) => {
      for (const [labels, value] of d.rows(source)) {
        if (value === null || value === undefined) continue;
        set(labels, typeof value === 'bigint' ? Number(value) : value);
      }
    };
    if (d.type === 'gauge') {
      new Gauge({
        name: d.name, help: d.help, labelNames: [...d.labels], registers: [registry],
        collect() {
          this.reset();
          fill((labels, v) => this.set(labels, v));
        },
      });
    } else {
      new Counter({
        name: d.name, help: d.help, labelNames: [...d.labels], registers: [registry],
        collect() {
          this.reset();
          fill((labels, v) => this.inc(labels, v));
        },
      });
    }
  }
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
  return registry;
}
