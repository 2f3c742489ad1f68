/**
 * guest-get-fsinfo, guest-get-disks and guest-get-diskstats: read-only views of the guest's
 * filesystems and block devices (reference §2.3). The sysfs rules live in
 * platform/linux/sysfs-block.ts; this file adds the mount list, the sizes and the error texts.
 *
 * Beyond qemu-ga, for hosts that poll this every few seconds: statvfs of one mount that hangs (a
 * dead iSCSI disk, say) leaves only that mount's sizes out after `statvfsTimeoutMs` instead of
 * stalling the reply, and a later poll waits on the same pending call instead of stacking another
 * blocked thread; a device whose sysfs entry cannot be read loses only its `disk` entry instead of
 * failing the whole command.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { QgaCommandHandlers } from '../generated/qga-commands';
import type { GuestDiskAddress, GuestFilesystemInfo } from '../generated/qga-types';
import type { NativeHelper, NativeUnavailable } from '../native/native-helper';
import { parseProcDiskstats } from '../platform/linux/proc-diskstats';
import {
  collectDeviceDisks,
  createSysfsReader,
  listGuestDisks,
  SYS_BLOCK,
  SysBlockUnreadable,
  UDEV_DATA_DIR,
  type NvmeSmartReader,
  type SysfsBlockSource,
  type SysfsReader,
} from '../platform/linux/sysfs-block';
import type { FsMount } from '../platform/linux/mountinfo';
import { Errors } from '../protocol/errors';
import type { AgentLogger } from '../logging/agent-logger';
import { defaultMountTableSource, loadMountList, type MountTableSource } from './mount-list';

export const PROC_DISKSTATS = '/proc/diskstats';
/** Long enough for any healthy disk, short enough that a poller's own timeout is not hit. */
export const DEFAULT_STATVFS_TIMEOUT_MS = 5000;

/** The statvfs(3) members the fsinfo sizes are computed from. */
export interface FilesystemSizes {
  f_frsize: bigint;
  f_blocks: bigint;
  f_bfree: bigint;
  f_bavail: bigint;
}

export interface DiskDeps {
  mountTable: MountTableSource;
  /** /sys and /run/udev */
  sysfs: SysfsReader;
  udevDataDir: string;
  statvfs(path: string): Promise<FilesystemSizes>;
  /** Per mount; 0 waits for ever, as qemu-ga does. */
  statvfsTimeoutMs: number;
  readDiskstats(): Promise<string>;
  /** NVMe SMART for guest-get-disks; without it `smart` is left out. */
  readNvmeSmart?: NvmeSmartReader;
}

/** statvfs through the native helper when it loaded, else statfs(2) through node:fs. */
export function defaultDiskDeps(native: NativeHelper | NativeUnavailable): DiskDeps {
  return {
    mountTable: defaultMountTableSource(),
    sysfs: createSysfsReader(),
    udevDataDir: UDEV_DATA_DIR,
    statvfs: native.available ? (p) => native.statvfs(p) : statfsSizes,
    statvfsTimeoutMs: DEFAULT_STATVFS_TIMEOUT_MS,
    readDiskstats: () => fs.promises.readFile(PROC_DISKSTATS, 'utf8'),
  };
}

/** statfs(2) has no f_frsize in Node; Linux's statvfs takes it from f_bsize unless set apart. */
async function statfsSizes(p: string): Promise<FilesystemSizes> {
  const st = await fs.promises.statfs(p, { bigint: true });
  return { f_frsize: st.bsize, f_blocks: st.blocks, f_bfree: st.bfree, f_bavail: st.bavail };
}

const u64 = (v: bigint) => BigInt.asUintN(64, v);

/** qemu-ga's arithmetic, in unsigned long like its C. */
export function filesystemUsage(s: FilesystemSizes): { used: bigint; total: bigint; totalPrivileged: bigint } {
  const usedBlocks = u64(s.f_blocks - s.f_bfree);
  return {
    used: u64(usedBlocks * s.f_frsize),
    total: u64(u64(usedBlocks + s.f_bavail) * s.f_frsize),
    totalPrivileged: u64(s.f_blocks * s.f_frsize),
  };
}

export function createDiskHandlers(deps: DiskDeps) {
  // Owned by this handler group, not the module: statvfs calls still running, by mount point.
  const pendingStatvfs = new Map<string, Promise<FilesystemSizes>>();

  function statvfsOnce(mountpoint: string): Promise<FilesystemSizes> {
    let call = pendingStatvfs.get(mountpoint);
    if (call === undefined) {
      call = deps.statvfs(mountpoint);
      pendingStatvfs.set(mountpoint, call);
      const done = () => void pendingStatvfs.delete(mountpoint);
      call.then(done, done);
    }
    return call;
  }

  async function sizesOf(mountpoint: string, log: AgentLogger): Promise<FilesystemSizes | undefined> {
    const call = statvfsOnce(mountpoint);
    if (deps.statvfsTimeoutMs <= 0) return call.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), deps.statvfsTimeoutMs);
      timer.unref();
    });
    try {
      const result = await Promise.race([call, timedOut]);
      if (result === 'timeout') {
        log.warn({ mountpoint }, `statvfs did not answer within ${deps.statvfsTimeoutMs} ms; sizes left out`);
        return undefined;
      }
      return result;
    } catch {
      return undefined; // qemu-ga leaves the sizes out when statvfs fails
    } finally {
      clearTimeout(timer);
    }
  }

  function sysfsSource(log: AgentLogger): SysfsBlockSource {
    return {
      reader: deps.sysfs,
      udevDataDir: deps.udevDataDir,
      onProblem: (what, err) => log.debug({ err }, what),
    };
  }

  async function filesystemInfo(mount: FsMount, log: AgentLogger): Promise<GuestFilesystemInfo> {
    const devpath = `/sys/dev/block/${mount.major}:${mount.minor}`;
    const [device, sizes] = await Promise.all([
      collectDeviceDisks(sysfsSource(log), devpath),
      sizesOf(mount.mountPoint, log),
    ]);
    const usage = sizes === undefined ? undefined : filesystemUsage(sizes);
    const disk: GuestDiskAddress[] = device.disks;
    return {
      name: device.name ?? path.posix.basename(devpath),
      mountpoint: mount.mountPoint,
      type: mount.fsType,
      ...(usage !== undefined && {
        'used-bytes': usage.used,
        'total-bytes': usage.total,
        'total-bytes-privileged': usage.totalPrivileged,
      }),
      disk,
    };
  }

  return {
    'guest-get-fsinfo': async (_args, ctx) => {
      const mounts = await loadMountList(deps.mountTable);
      const infos = await Promise.all(mounts.map((m) => filesystemInfo(m, ctx.log)));
      return infos.reverse(); // newest mount first, as qemu-ga prepends
    },

    'guest-get-disks': async (_args, ctx) => {
      try {
        return await listGuestDisks(sysfsSource(ctx.log), deps.readNvmeSmart);
      } catch (e) {
        throw e instanceof SysBlockUnreadable ? Errors.cannotOpenDirectory(SYS_BLOCK, e.reason) : e;
      }
    },

    'guest-get-diskstats': async () => {
      let text: string;
      try {
        text = await deps.readDiskstats();
      } catch (e) {
        throw Errors.openCallFailed(PROC_DISKSTATS, e);
      }
      return parseProcDiskstats(text);
    },
  } satisfies Pick<QgaCommandHandlers, 'guest-get-fsinfo' | 'guest-get-disks' | 'guest-get-diskstats'>;
}
