/**
 * Filesystem usage from what an agent offers: guest-get-statvfs (a qga-ts extension) when it has
 * it, exact and with inode counts; otherwise the used/total figures of guest-get-fsinfo, which
 * every qemu-ga since 3.0 reports. Shared by `qga-client df` and the monitor.
 */
import type { GuestFileSystemStatisticsReply, GuestFilesystemInfoReply } from '../generated/qga-client';

export interface FilesystemUsage {
  mountpoint: string;
  /** the kernel's name of the device (vda1, dm-0), as guest-get-fsinfo reports it */
  device: string;
  fstype: string;
  /** every byte of the filesystem (df's Size) */
  sizeBytes: bigint | null;
  usedBytes: bigint | null;
  /** what an unprivileged user may still use (df's Avail) */
  availBytes: bigint | null;
  /** free including the root reserve (statvfs only) */
  freeBytes: bigint | null;
  files: bigint | null;
  filesFree: bigint | null;
  readOnly: boolean | null;
  source: 'statvfs' | 'fsinfo';
}

const ST_RDONLY = 1n;

export function usageFromStatvfs(fs: GuestFilesystemInfoReply, st: GuestFileSystemStatisticsReply): FilesystemUsage {
  const unit = st.f_frsize > 0n ? st.f_frsize : st.f_bsize;
  return {
    mountpoint: fs.mountpoint,
    device: fs.name,
    fstype: fs.type,
    sizeBytes: st.f_blocks * unit,
    usedBytes: (st.f_blocks - st.f_bfree) * unit,
    availBytes: st.f_bavail * unit,
    freeBytes: st.f_bfree * unit,
    files: st.f_files,
    filesFree: st.f_ffree,
    readOnly: (st.f_flag & ST_RDONLY) !== 0n,
    source: 'statvfs',
  };
}

export function usageFromFsinfo(fs: GuestFilesystemInfoReply): FilesystemUsage {
  const used = fs['used-bytes'] ?? null;
  const total = fs['total-bytes'] ?? null;
  // total-bytes is used + available-to-users; the privileged total (9.1+) is the real size.
  const size = fs['total-bytes-privileged'] ?? total;
  return {
    mountpoint: fs.mountpoint,
    device: fs.name,
    fstype: fs.type,
    sizeBytes: size,
    usedBytes: used,
    availBytes: used !== null && total !== null ? total - used : null,
    freeBytes: used !== null && size !== null && fs['total-bytes-privileged'] !== undefined ? size - used : null,
    files: null,
    filesFree: null,
    readOnly: null,
    source: 'fsinfo',
  };
}

/** df's Use%: used / (used + avail), rounded up. */
export function usePercent(u: FilesystemUsage): number | null {
  if (u.usedBytes === null || u.availBytes === null) return null;
  const denom = u.usedBytes + u.availBytes;
  if (denom === 0n) return null;
  return Number((u.usedBytes * 100n + denom - 1n) / denom);
}

/** df -h: powers of 1024, rounded up, one decimal below 10. */
export function humanBytes(n: bigint | null): string {
  if (n === null) return '-';
  const units = ['', 'K', 'M', 'G', 'T', 'P', 'E'];
  let value = Number(n);
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  if (i === 0) return String(n);
  const shown = value < 10 ? Math.ceil(value * 10) / 10 : Math.ceil(value);
  if (shown >= 1024 && i < units.length - 1) return `1.0${units[i + 1]}`;
  return `${value < 10 ? shown.toFixed(1) : shown}${units[i]}`;
}
