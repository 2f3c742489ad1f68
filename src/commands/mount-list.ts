/**
 * The mount list qemu-ga's build_fs_mount_list produces, shared by the freeze, trim and fsinfo
 * commands: /proc/self/mountinfo, or /proc/self/mounts when mountinfo cannot be opened, filtered
 * with the upstream 10.x rules in platform/linux/mountinfo.ts. The reads are injected so tests
 * (and, above all, tests that really freeze something) decide exactly which mounts exist.
 */
import * as fs from 'node:fs';
import {
  freezableMounts,
  freezableMountsFromMtab,
  parseMountInfo,
  parseMtab,
  type DevStat,
  type FsMount,
  type StatDev,
} from '../platform/linux/mountinfo';
import { Errors } from '../protocol/errors';

export const PROC_MOUNTINFO = '/proc/self/mountinfo';
export const PROC_MOUNTS = '/proc/self/mounts';

export interface MountTableSource {
  /** The text of /proc/self/mountinfo; rejects when it cannot be opened. */
  readMountInfo(): Promise<string>;
  /** The text of /proc/self/mounts; rejects when it cannot be opened. */
  readMounts(): Promise<string>;
  /** stat(2) of a mount source (btrfs devices, mtab sources). */
  statDev: StatDev;
}

/** Mounts in mount order; callers reverse it where qemu-ga does. */
export async function loadMountList(source: MountTableSource): Promise<FsMount[]> {
  let mountinfo: string;
  try {
    mountinfo = await source.readMountInfo();
  } catch {
    let mtab: string;
    try {
      mtab = await source.readMounts();
    } catch {
      throw Errors.mtabOpenFailed(PROC_MOUNTS);
    }
    return freezableMountsFromMtab(parseMtab(mtab), source.statDev);
  }
  return freezableMounts(parseMountInfo(mountinfo), source.statDev);
}

/** Linux's dev_t layout (glibc's gnu_dev_major / gnu_dev_minor). */
export function splitDevT(rdev: bigint): { major: number; minor: number } {
  const major = Number(((rdev >> 8n) & 0xfffn) | (BigInt.asUintN(32, rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | (BigInt.asUintN(32, rdev >> 12n) & ~0xffn));
  return { major, minor };
}

export function statDevice(source: string): DevStat {
  try {
    // Synchronous on purpose: sources are device nodes on devtmpfs, and the filter that calls it
    // is synchronous. A stat never blocks on a frozen filesystem (it writes nothing).
    const st = fs.statSync(source, { bigint: true });
    if (st.isDirectory()) return { kind: 'directory' };
    if (st.isBlockDevice()) return { kind: 'block', ...splitDevT(st.rdev) };
    return { kind: 'other' };
  } catch {
    return { kind: 'other' };
  }
}

export function defaultMountTableSource(): MountTableSource {
  return {
    readMountInfo: () => fs.promises.readFile(PROC_MOUNTINFO, 'utf8'),
    readMounts: () => fs.promises.readFile(PROC_MOUNTS, 'utf8'),
    statDev: statDevice,
  };
}
