/**
 * One poll of one guest: what the monitor asks, in what order, and what it keeps.
 *
 * The agent is asked for guest-info first and only the commands it lists as enabled are sent
 * (what oVirt VDSM and KubeVirt do): commands that do not exist in this agent, are blocked, are
 * not written yet, or are turned off while the guest is frozen are simply "not available from
 * this guest". A command that still answers CommandNotFound (the guest froze in between) counts
 * the same. A command that fails otherwise, or whose reply does not match the schema, costs only
 * its own figures (a collector error); a timeout, a lost connection or garbage on the stream
 * ends the poll, because nothing more can be trusted on that connection.
 */
import type { QgaClient } from '../agent-client';
import type {
  GuestDiskStatsReply,
  GuestLoadAverageReply,
  GuestMemoryStatsReply,
  GuestNetworkInterfaceStatReply,
} from '../../generated/qga-client';
import { QgaRemoteError, ReplyValidationError } from '../client-errors';
import { usageFromFsinfo, usageFromStatvfs, type FilesystemUsage } from '../filesystem-usage';
import type { CallOptions } from '../typed-call';

/** The commands the monitor may send, in the order it sends them. */
export const MONITOR_COMMANDS = [
  'guest-fsfreeze-status',
  'guest-get-fsinfo',
  'guest-get-statvfs',
  'guest-get-memory-stats',
  'guest-get-cpustats',
  'guest-get-diskstats',
  'guest-network-get-interfaces',
  'guest-get-load',
  'guest-get-osinfo',
  'guest-get-host-name',
] as const;
export type MonitorCommand = (typeof MONITOR_COMMANDS)[number];

export interface CpuTotals {
  /** logical CPUs reported */
  count: number;
  /** milliseconds per mode, summed over all CPUs */
  modesMs: Record<string, bigint>;
}

export interface OsDescription {
  id?: string | undefined;
  versionId?: string | undefined;
  prettyName?: string | undefined;
  kernelRelease?: string | undefined;
  hostname?: string | undefined;
}

export interface GuestSample {
  /** host clock, ms since the epoch, when the poll finished */
  time: number;
  agentVersion: string;
  frozen: boolean | null;
  /** for each monitor command: sent and answered (true), or not available from this guest (false) */
  available: Partial<Record<MonitorCommand, boolean>>;
  filesystems: FilesystemUsage[] | null;
  memory: GuestMemoryStatsReply | null;
  cpu: CpuTotals | null;
  disks: { device: string; stats: GuestDiskStatsReply }[] | null;
  interfaces: { name: string; stats: GuestNetworkInterfaceStatReply }[] | null;
  load: GuestLoadAverageReply | null;
  os: OsDescription | null;
  /** commands that failed on their own, without ending the poll */
  collectorErrors: { command: MonitorCommand; message: string }[];
}

export interface PollOptions {
  signal: AbortSignal;
  /** reply timeout for each call */
  callTimeoutMs: number;
  /** also ask for the OS description and host name (they rarely change) */
  includeOs: boolean;
  /** interfaces whose counters are not wanted (default: ^lo$) */
  excludeInterface: RegExp;
  /** block devices whose counters are not wanted (partitions, loop, ram, ...) */
  excludeDisk: RegExp;
  now(): number;
}

/** node_exporter's default: whole disks only, no ram/loop/fd devices. */
export const DEFAULT_DISK_EXCLUDE = /^(z?ram|loop|fd|(h|s|v|xv)d[a-z]+|nvme\d+n\d+p|mmcblk\d+p)\d+$/;
export const DEFAULT_INTERFACE_EXCLUDE = /^lo$/;

export async function pollGuest(client: QgaClient, opts: PollOptions): Promise<GuestSample> {
  const call: CallOptions = { timeoutMs: opts.callTimeoutMs, signal: opts.signal };
  const info = await client.guestInfo(call);
  const enabled = new Set(info.supported_commands.filter((c) => c.enabled).map((c) => c.name));
  const sample: GuestSample = {
    time: 0,
    agentVersion: info.version,
    frozen: null,
    available: {},
    filesystems: null,
    memory: null,
    cpu: null,
    disks: null,
    interfaces: null,
    load: null,
    os: null,
    collectorErrors: [],
  };

  /** Runs one command if the agent offers it; null when it is not available or failed on its own. */
  const ask = async <T>(command: MonitorCommand, run: () => Promise<T>): Promise<T | null> => {
    if (!enabled.has(command)) {
      sample.available[command] ??= false;
      return null;
    }
    try {
      const r = await run();
      sample.available[command] = true;
      return r;
    } catch (e) {
      if (e instanceof QgaRemoteError && e.commandUnavailable) {
        sample.available[command] = false;
        if (e.refusedWhileFrozen) sample.frozen = true;
        return null;
      }
      if (e instanceof QgaRemoteError || e instanceof ReplyValidationError) {
        sample.available[command] = true;
        sample.collectorErrors.push({ command, message: e.message });
        return null;
      }
      throw e;
    }
  };

  const status = await ask('guest-fsfreeze-status', () => client.guestFsfreezeStatus(call));
  if (status !== null) sample.frozen = status === 'frozen';

  const fsinfo = await ask('guest-get-fsinfo', () => client.guestGetFsinfo(call));
  if (fsinfo !== null) {
    const usage: FilesystemUsage[] = [];
    // qemu-ga lists the newest mount first; keep mount order.
    for (const fs of fsinfo.slice().reverse()) {
      const st = await ask('guest-get-statvfs', () => client.guestGetStatvfs({ path: fs.mountpoint }, call));
      usage.push(st !== null ? usageFromStatvfs(fs, st) : usageFromFsinfo(fs));
    }
    sample.filesystems = usage;
  }

  sample.memory = await ask('guest-get-memory-stats', () => client.guestGetMemoryStats(call));

  const cpus = await ask('guest-get-cpustats', () => client.guestGetCpustats(call));
  if (cpus !== null) {
    const modesMs: Record<string, bigint> = {};
    for (const c of cpus) {
      for (const [mode, v] of Object.entries(c)) {
        if (mode === 'type' || mode === 'cpu' || typeof v !== 'bigint') continue;
        modesMs[mode] = (modesMs[mode] ?? 0n) + v;
      }
    }
    sample.cpu = { count: cpus.length, modesMs };
  }

  const disks = await ask('guest-get-diskstats', () => client.guestGetDiskstats(call));
  if (disks !== null) sample.disks = disks.filter((d) => !opts.excludeDisk.test(d.name)).map((d) => ({ device: d.name, stats: d.stats }));

  const ifs = await ask('guest-network-get-interfaces', () => client.guestNetworkGetInterfaces(call));
  if (ifs !== null) {
    sample.interfaces = ifs
      .filter((i) => !opts.excludeInterface.test(i.name) && i.statistics !== undefined)
      .map((i) => ({ name: i.name, stats: i.statistics! }));
  }

  sample.load = await ask('guest-get-load', () => client.guestGetLoad(call));

  if (opts.includeOs) {
    const os = await ask('guest-get-osinfo', () => client.guestGetOsinfo(call));
    const host = await ask('guest-get-host-name', () => client.guestGetHostName(call));
    if (os !== null || host !== null) {
      sample.os = {
        id: os?.id,
        versionId: os?.['version-id'],
        prettyName: os?.['pretty-name'],
        kernelRelease: os?.['kernel-release'],
        hostname: host?.['host-name'],
      };
    }
  }
  sample.time = opts.now();
  return sample;
}

export interface Rates {
  seconds: number;
  /** busy share of all CPU time, 0..1 */
  cpuUsageRatio: number | null;
  disks: Map<string, { readBytesPerSecond: number; writeBytesPerSecond: number; readsPerSecond: number; writesPerSecond: number }>;
  interfaces: Map<string, { rxBytesPerSecond: number; txBytesPerSecond: number; rxPacketsPerSecond: number; txPacketsPerSecond: number }>;
}

/** A counter's growth per second; null when it went backwards (the guest rebooted) or is missing. */
function perSecond(now: bigint | undefined, before: bigint | undefined, seconds: number): number | null {
  if (now === undefined || before === undefined || now < before) return null;
  return Number(now - before) / seconds;
}

const IDLE_MODES = ['idle', 'iowait'];
// guest and guestnice are already counted in user and nice.
const NOT_IN_TOTAL = ['guest', 'guestnice'];

/** Rates between two samples of the same guest. */
export function ratesBetween(prev: GuestSample, cur: GuestSample): Rates | null {
  const seconds = (cur.time - prev.time) / 1000;
  if (!(seconds > 0)) return null;
  const rates: Rates = { seconds, cpuUsageRatio: null, disks: new Map(), interfaces: new Map() };
  if (prev.cpu && cur.cpu) {
    let total = 0n;
    let idle = 0n;
    let backwards = false;
    for (const [mode, v] of Object.entries(cur.cpu.modesMs)) {
      if (NOT_IN_TOTAL.includes(mode)) continue;
      const d = v - (prev.cpu.modesMs[mode] ?? 0n);
      if (d < 0n) backwards = true;
      total += d;
      if (IDLE_MODES.includes(mode)) idle += d;
    }
    if (!backwards && total > 0n) rates.cpuUsageRatio = Math.min(1, Math.max(0, 1 - Number(idle) / Number(total)));
  }
  const prevDisks = new Map((prev.disks ?? []).map((d) => [d.device, d.stats]));
  for (const d of cur.disks ?? []) {
    const p = prevDisks.get(d.device);
    if (!p) continue;
    const rs = perSecond(d.stats['read-sectors'], p['read-sectors'], seconds);
    const ws = perSecond(d.stats['write-sectors'], p['write-sectors'], seconds);
    const ri = perSecond(d.stats['read-ios'], p['read-ios'], seconds);
    const wi = perSecond(d.stats['write-ios'], p['write-ios'], seconds);
    if (rs === null || ws === null || ri === null || wi === null) continue;
    // /proc/diskstats counts 512-byte sectors whatever the device's sector size.
    rates.disks.set(d.device, { readBytesPerSecond: rs * 512, writeBytesPerSecond: ws * 512, readsPerSecond: ri, writesPerSecond: wi });
  }
  const prevIfs = new Map((prev.interfaces ?? []).map((i) => [i.name, i.stats]));
  for (const i of cur.interfaces ?? []) {
    const p = prevIfs.get(i.name);
    if (!p) continue;
    const rx = perSecond(i.stats['rx-bytes'], p['rx-bytes'], seconds);
    const tx = perSecond(i.stats['tx-bytes'], p['tx-bytes'], seconds);
    const rp = perSecond(i.stats['rx-packets'], p['rx-packets'], seconds);
    const tp = perSecond(i.stats['tx-packets'], p['tx-packets'], seconds);
    if (rx === null || tx === null || rp === null || tp === null) continue;
    rates.interfaces.set(i.name, { rxBytesPerSecond: rx, txBytesPerSecond: tx, rxPacketsPerSecond: rp, txPacketsPerSecond: tp });
  }
  return rates;
}
