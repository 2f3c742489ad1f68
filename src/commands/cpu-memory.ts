/**
 * Processors and memory: guest-get-vcpus, guest-set-vcpus, guest-get-memory-blocks,
 * guest-set-memory-blocks, guest-get-memory-block-info, guest-get-cpustats, guest-get-load.
 *
 * Everything goes through sysfs/procfs files opened with the same flags qemu-ga uses, so the error
 * texts (which name the call and the path) and the errno values in memory-block responses come out
 * the same. Directories are listed in readdir order (not sorted), as qemu-ga lists them.
 */
import { constants as fsConstants } from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import type { QgaCommandHandlers } from '../generated/qga-commands';
import type { GuestCpuStats, GuestLogicalProcessor, GuestMemoryBlock, GuestMemoryBlockResponse } from '../generated/qga-types';
import { isNativeErrnoError, type NativeHelper, type NativeUnavailable } from '../native/native-helper';
import { Errors } from '../protocol/errors';
import { parseMemoryBlockSize } from '../platform/linux/memory-block';
import { parseProcStat } from '../platform/linux/proc-stat';

const { O_RDONLY, O_WRONLY, O_RDWR, O_DIRECTORY } = fsConstants;

export const CPU_DIR = '/sys/devices/system/cpu';
export const MEMORY_DIR = '/sys/devices/system/memory/';
export const PROC_STAT = '/proc/stat';

/** The part of fs.promises.FileHandle the handlers use (positional reads and writes). */
export interface SysfsFileHandle {
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  write(buffer: Buffer, offset: number, length: number, position: number): Promise<{ bytesWritten: number }>;
  close(): Promise<void>;
}

export interface DirectoryEntry {
  name: string;
  /** d_type is DT_DIR */
  isDirectory: boolean;
}

export interface CpuMemoryDeps {
  /** open(2) with these flags; rejects with a Node errno error (`code`). */
  open(path: string, flags: number): Promise<SysfsFileHandle>;
  /** opendir + readdir: entries in the order the kernel returns them, without `.` and `..`. */
  listDirectory(path: string): Promise<DirectoryEntry[]>;
  readFile(path: string): Promise<Buffer>;
  /** sysconf(_SC_CLK_TCK) */
  clkTck(): number;
  /** getloadavg(3); throws an errno error when it fails */
  loadAverage(): readonly [number, number, number];
  /** errno code name → number, for memory-block error-code */
  errnoNumber(code: string): number | undefined;
}

/**
 * The real system. `root` prefixes every path (tests point it at a fake tree; the error texts
 * always name the real paths, as qemu-ga's do).
 */
export function defaultCpuMemoryDeps(native: NativeHelper | NativeUnavailable, root = ''): CpuMemoryDeps {
  return {
    open: (path, flags) => fsp.open(root + path, flags),
    listDirectory: async (path) => {
      const dir = await fsp.opendir(root + path);
      const entries: DirectoryEntry[] = [];
      for await (const entry of dir) entries.push({ name: entry.name, isDirectory: entry.isDirectory() });
      return entries;
    },
    readFile: (path) => fsp.readFile(root + path),
    clkTck: () => (native.available ? native.clkTck() : 100),
    loadAverage: () => {
      if (native.available) return native.getloadavg();
      const [a, b, c] = os.loadavg();
      return [a ?? 0, b ?? 0, c ?? 0];
    },
    errnoNumber: (code) => (os.constants.errno as Record<string, number | undefined>)[code],
  };
}

const codeOf = (e: unknown): string | undefined => {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
};

/** sscanf(name, "cpu%ld", &id): "cpu", optional whitespace and sign, decimal digits. */
function cpuNumber(name: string): bigint | null {
  const m = /^cpu[ \t\n\v\f\r]*([+-]?[0-9]+)/.exec(name);
  if (m === null) return null;
  let v = BigInt(m[1] as string);
  const max = (1n << 63n) - 1n;
  if (v > max) v = max;
  if (v < -max - 1n) v = -max - 1n;
  return v;
}

/** strtoul(name + 6, NULL, 10) for "memoryN" directory names. */
function memoryBlockNumber(name: string): bigint {
  const m = /^[ \t\n\v\f\r]*([+-]?)([0-9]+)/.exec(name.slice(6));
  if (m === null) return 0n;
  const magnitude = BigInt(m[2] as string);
  const max = (1n << 64n) - 1n;
  if (magnitude > max) return max;
  return m[1] === '-' ? BigInt.asUintN(64, -magnitude) : magnitude;
}

async function closeQuietly(handle: SysfsFileHandle): Promise<void> {
  try {
    await handle.close();
  } catch {
    // close(2) on sysfs does not fail in a way qemu-ga reports (it asserts success).
  }
}

/** open(path, O_RDONLY | O_DIRECTORY) and close: qemu-ga opens each per-item directory first. */
async function openDirectory(deps: CpuMemoryDeps, path: string): Promise<void> {
  const handle = await deps.open(path, O_RDONLY | O_DIRECTORY);
  await closeQuietly(handle);
}

type VcpuOutcome = { ok: true; online: boolean; canOffline: boolean } | { ok: false; error: Error };

/**
 * qemu-ga's transfer_vcpu. Reading (`want` undefined): the state of cpuN. Writing: make cpuN
 * online/offline through its `online` file, writing only when the state differs.
 */
async function transferVcpu(deps: CpuMemoryDeps, id: bigint, want?: boolean): Promise<VcpuOutcome> {
  const dir = `${CPU_DIR}/cpu${id}/`;
  const online = `${dir}/online`;
  try {
    await openDirectory(deps, dir);
  } catch (e) {
    return { ok: false, error: Errors.syscallOnPathFailed('open', dir, e) };
  }
  let handle: SysfsFileHandle;
  try {
    handle = await deps.open(`${dir}online`, want === undefined ? O_RDONLY : O_RDWR);
  } catch (e) {
    if (codeOf(e) !== 'ENOENT') return { ok: false, error: Errors.syscallOnPathFailed('open', online, e) };
    // No online file: the CPU cannot be hot-unplugged (typically cpu0); re-onlining "succeeds".
    if (want === false) return { ok: false, error: Errors.vcpuCannotOffline(id) };
    return { ok: true, online: true, canOffline: false };
  }
  try {
    const byte = Buffer.alloc(1);
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(byte, 0, 1, 0));
    } catch (e) {
      return { ok: false, error: Errors.syscallOnPathFailed('pread', online, e) };
    }
    if (bytesRead === 0) return { ok: false, error: Errors.syscallOnPathEof('pread', online) };
    const isOnline = byte[0] !== 0x30;
    if (want !== undefined && want !== isOnline) {
      try {
        await handle.write(Buffer.from(want ? '1' : '0'), 0, 1, 0);
      } catch (e) {
        return { ok: false, error: Errors.syscallOnPathFailed('pwrite', online, e) };
      }
    }
    return { ok: true, online: want ?? isOnline, canOffline: true };
  } finally {
    await closeQuietly(handle);
  }
}

/** ga_read_sysfs_file: up to `size` bytes of <dir>/<name>; errors name the file alone. */
async function readSysfsFile(
  deps: CpuMemoryDeps,
  dir: string,
  name: string,
  size: number,
): Promise<{ ok: true; data: Buffer } | { ok: false; error: Error; code: string | undefined }> {
  let handle: SysfsFileHandle;
  try {
    handle = await deps.open(dir + name, O_RDONLY);
  } catch (e) {
    return { ok: false, error: Errors.sysfsFileFailed('open', name, e), code: codeOf(e) };
  }
  try {
    const buf = Buffer.alloc(size);
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(buf, 0, size, 0));
    } catch (e) {
      return { ok: false, error: Errors.sysfsFileFailed('pread', name, e), code: codeOf(e) };
    }
    // qemu-ga had set errno to 0 before the open, and a short read leaves it there.
    if (bytesRead === 0) return { ok: false, error: Errors.sysfsFileEof(name), code: undefined };
    return { ok: true, data: buf.subarray(0, bytesRead) };
  } finally {
    await closeQuietly(handle);
  }
}

const startsWithOnline = (state: Buffer): boolean => state.subarray(0, 6).toString('latin1') === 'online';

/** qemu-ga prints the uint64 phys-index with PRId64. */
const memoryBlockDir = (index: bigint): string => `${MEMORY_DIR}memory${BigInt.asIntN(64, index)}/`;

async function readMemoryBlock(deps: CpuMemoryDeps, index: bigint): Promise<GuestMemoryBlock> {
  const dir = memoryBlockDir(index);
  try {
    await openDirectory(deps, dir);
  } catch (e) {
    throw Errors.syscallOnPathFailed('open', dir, e);
  }
  const state = await readSysfsFile(deps, dir, 'state', 10);
  if (!state.ok) {
    // A kernel without the state file: the block is online for good.
    if (state.code === 'ENOENT') return { 'phys-index': index, online: true, 'can-offline': false };
    throw state.error;
  }
  const removable = await readSysfsFile(deps, dir, 'removable', 1);
  let canOffline: boolean;
  if (removable.ok) canOffline = removable.data[0] !== 0x30;
  else if (removable.code === 'ENOENT') canOffline = false;
  else throw removable.error;
  return { 'phys-index': index, online: startsWithOnline(state.data), 'can-offline': canOffline };
}

/** qemu-ga's transfer_memory_block in the writing direction: one response per requested block. */
async function setMemoryBlock(deps: CpuMemoryDeps, index: bigint, online: boolean): Promise<GuestMemoryBlockResponse> {
  const errno = (code: string | undefined): number => (code === undefined ? 0 : deps.errnoNumber(code) ?? 0);
  // The enum's first value: what qemu-ga reports when it sets an error code but no response.
  const failure = (response: GuestMemoryBlockResponse['response'], code: string | undefined): GuestMemoryBlockResponse => ({
    'phys-index': index,
    response,
    'error-code': errno(code),
  });
  try {
    await openDirectory(deps, MEMORY_DIR);
  } catch (e) {
    return failure(codeOf(e) === 'ENOENT' ? 'operation-not-supported' : 'success', codeOf(e));
  }
  const dir = memoryBlockDir(index);
  try {
    await openDirectory(deps, dir);
  } catch (e) {
    return failure(codeOf(e) === 'ENOENT' ? 'not-found' : 'operation-failed', codeOf(e));
  }
  const state = await readSysfsFile(deps, dir, 'state', 10);
  if (!state.ok) {
    if (state.code === 'ENOENT') return failure(online ? 'success' : 'operation-not-supported', state.code);
    return failure('operation-failed', state.code);
  }
  if (startsWithOnline(state.data) !== online) {
    const text = online ? 'online' : 'offline';
    let handle: SysfsFileHandle;
    try {
      handle = await deps.open(`${dir}state`, O_WRONLY);
    } catch (e) {
      return failure('operation-failed', codeOf(e));
    }
    try {
      await handle.write(Buffer.from(text), 0, text.length, 0);
    } catch (e) {
      return failure('operation-failed', codeOf(e));
    } finally {
      await closeQuietly(handle);
    }
  }
  return { 'phys-index': index, response: 'success' };
}

/**
 * Reads for many sysfs entries, a batch at a time: a large guest has thousands of memory blocks,
 * and one-by-one async reads would take seconds. Results keep the input order, so the first
 * failure in that order is still the one reported, as in qemu-ga's sequential loop.
 */
async function mapInBatches<T, R>(items: readonly T[], fn: (item: T) => Promise<R>, batch = 32): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = [];
  for (let i = 0; i < items.length; i += batch) {
    results.push(...(await Promise.allSettled(items.slice(i, i + batch).map(fn))));
  }
  return results;
}

function valuesOrFirstError<R>(results: PromiseSettledResult<R>[]): R[] {
  return results.map((r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  });
}

/** Schema member order for GuestCpuStats (the union's `type` first). */
function cpuStatsInSchemaOrder(s: ReturnType<typeof parseProcStat>[number]): GuestCpuStats {
  const out: GuestCpuStats = { type: 'linux', cpu: s.cpu, user: s.user, nice: s.nice, system: s.system, idle: s.idle };
  if (s.iowait !== undefined) out.iowait = s.iowait;
  if (s.irq !== undefined) out.irq = s.irq;
  if (s.softirq !== undefined) out.softirq = s.softirq;
  if (s.steal !== undefined) out.steal = s.steal;
  if (s.guest !== undefined) out.guest = s.guest;
  if (s.guestnice !== undefined) out.guestnice = s.guestnice;
  return out;
}

export type CpuMemoryHandlers = Pick<
  QgaCommandHandlers,
  | 'guest-get-vcpus'
  | 'guest-set-vcpus'
  | 'guest-get-memory-blocks'
  | 'guest-set-memory-blocks'
  | 'guest-get-memory-block-info'
  | 'guest-get-cpustats'
  | 'guest-get-load'
>;

export function createCpuMemoryHandlers(deps: CpuMemoryDeps): CpuMemoryHandlers {
  return {
    'guest-get-vcpus': async () => {
      let entries: DirectoryEntry[];
      try {
        entries = await deps.listDirectory(CPU_DIR);
      } catch (e) {
        throw Errors.listEntriesFailed(CPU_DIR, e);
      }
      const ids = entries.map((e) => cpuNumber(e.name)).filter((id): id is bigint => id !== null);
      const read = async (id: bigint): Promise<GuestLogicalProcessor> => {
        const outcome = await transferVcpu(deps, id);
        if (!outcome.ok) throw outcome.error;
        return { 'logical-id': id, online: outcome.online, 'can-offline': outcome.canOffline };
      };
      return valuesOrFirstError(await mapInBatches(ids, read));
    },

    // The count of entries done before the first failure; only a failure of the very first entry
    // is an error reply (upstream's semantics: the caller learns how far it got).
    'guest-set-vcpus': async (args) => {
      let processed = 0;
      for (const vcpu of args.vcpus) {
        const outcome = await transferVcpu(deps, vcpu['logical-id'], vcpu.online);
        if (!outcome.ok) {
          if (processed === 0) throw outcome.error;
          break;
        }
        processed++;
      }
      return processed;
    },

    'guest-get-memory-blocks': async () => {
      let entries: DirectoryEntry[];
      try {
        entries = await deps.listDirectory(MEMORY_DIR);
      } catch (e) {
        // No memory hotplug in this kernel: nothing to list.
        if (codeOf(e) === 'ENOENT') return [];
        throw Errors.memoryDirectoryFailed(e);
      }
      const indexes = entries.filter((e) => e.name.startsWith('memory') && e.isDirectory).map((e) => memoryBlockNumber(e.name));
      if (indexes.length === 0) throw Errors.zeroMemoryBlocks();
      return valuesOrFirstError(await mapInBatches(indexes, (index) => readMemoryBlock(deps, index)));
    },

    'guest-set-memory-blocks': async (args) => {
      const responses: GuestMemoryBlockResponse[] = [];
      for (const block of args['mem-blks']) responses.push(await setMemoryBlock(deps, block['phys-index'], block.online));
      return responses;
    },

    'guest-get-memory-block-info': async () => {
      try {
        await openDirectory(deps, MEMORY_DIR);
      } catch (e) {
        throw Errors.syscallOnPathFailed('open', MEMORY_DIR, e);
      }
      const size = await readSysfsFile(deps, MEMORY_DIR, 'block_size_bytes', 20);
      if (!size.ok) throw size.error;
      return { size: parseMemoryBlockSize(size.data.toString('latin1')) };
    },

    'guest-get-cpustats': async () => {
      let text: string;
      try {
        text = (await deps.readFile(PROC_STAT)).toString('latin1');
      } catch (e) {
        throw Errors.openCallFailed(PROC_STAT, e);
      }
      return parseProcStat(text, deps.clkTck()).map(cpuStatsInSchemaOrder);
    },

    'guest-get-load': () => {
      let loads: readonly [number, number, number];
      try {
        loads = deps.loadAverage();
      } catch (e) {
        throw Errors.loadAverageFailed(isNativeErrnoError(e) ? e.code : e);
      }
      return { load1m: loads[0], load5m: loads[1], load15m: loads[2] };
    },
  } satisfies CpuMemoryHandlers;
}
