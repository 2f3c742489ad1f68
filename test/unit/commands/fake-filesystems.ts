/**
 * Test doubles for the filesystem commands: a fake native helper whose FIFREEZE / FITHAW / FITRIM
 * act on an in-memory set of mounts (and record every call), a mount table made of fake
 * mountinfo text, and a hook runner that records its calls.
 */
import type { MountTableSource } from '../../../src/commands/mount-list';
import type { FstrimResult, NativeErrnoError } from '../../../src/native/native-helper';
import type { DevStat } from '../../../src/platform/linux/mountinfo';

const ERRNO: Record<string, number> = { ENOENT: 2, EIO: 5, EACCES: 13, EBUSY: 16, EINVAL: 22, ENOTTY: 25, EROFS: 30, EOPNOTSUPP: 95 };

export function errnoError(code: string, syscall: string, path: string): NativeErrnoError {
  return Object.assign(new Error(`${code}: ${syscall} ${path}`), { code, errno: ERRNO[code] ?? 1, syscall, path });
}

/** Per mount point: make the next call fail (or wait) instead of acting. */
export interface MountBehaviour {
  freezeError?: { code: string; syscall?: string };
  thawError?: { code: string; syscall?: string };
  trimError?: { code: string; syscall?: string };
  trimmed?: bigint;
  /** FIFREEZE waits until release() is called (a writer holding the superblock). */
  freezeGate?: { promise: Promise<void>; release(): void };
}

export function gate(): { promise: Promise<void>; release(): void } {
  let release!: () => void;
  const promise = new Promise<void>((r) => (release = r));
  return { promise, release };
}

export class FakeFilesystems {
  /** mount point → how many FIFREEZEs are outstanding (the kernel allows one; tests may force more) */
  readonly frozen = new Map<string, number>();
  readonly calls: string[] = [];
  readonly behaviour = new Map<string, MountBehaviour>();
  /** called at the start of each fsfreeze / fsthaw, to look at the world at that moment */
  onCall?: (call: string) => void;

  private fail(err: { code: string; syscall?: string } | undefined, syscall: string, path: string): void {
    if (err) throw errnoError(err.code, err.syscall ?? syscall, path);
  }

  readonly fsfreeze = async (path: string): Promise<void> => {
    this.calls.push(`freeze ${path}`);
    this.onCall?.(`freeze ${path}`);
    const b = this.behaviour.get(path);
    if (b?.freezeGate) await b.freezeGate.promise;
    this.fail(b?.freezeError, 'FIFREEZE', path);
    if ((this.frozen.get(path) ?? 0) > 0) throw errnoError('EBUSY', 'FIFREEZE', path);
    this.frozen.set(path, 1);
  };

  readonly fsthaw = async (path: string): Promise<void> => {
    this.calls.push(`thaw ${path}`);
    this.onCall?.(`thaw ${path}`);
    this.fail(this.behaviour.get(path)?.thawError, 'FITHAW', path);
    const n = this.frozen.get(path) ?? 0;
    if (n === 0) throw errnoError('EINVAL', 'FITHAW', path);
    if (n === 1) this.frozen.delete(path);
    else this.frozen.set(path, n - 1);
  };

  readonly fstrim = async (path: string, minimum?: bigint | number): Promise<FstrimResult> => {
    this.calls.push(`trim ${path} ${minimum ?? 0}`);
    const b = this.behaviour.get(path);
    this.fail(b?.trimError, 'FITRIM', path);
    return { trimmed: b?.trimmed ?? 4096n, minimum: BigInt(minimum ?? 0) };
  };

  frozenMounts(): string[] {
    return [...this.frozen.keys()].sort();
  }
}

/** A mountinfo line for a block device mount (id, parent, major:minor, mount point, type, source). */
export function mountinfoLine(id: number, majmin: string, mountPoint: string, fsType: string, source: string): string {
  return `${id} 1 ${majmin} / ${mountPoint} rw,relatime shared:${id} - ${fsType} ${source} rw`;
}

/**
 * / (vda), /boot (vda1), /home (vdb), a bind mount of /home (skipped: same device), proc and a
 * tmpfs (skipped: major 0). Freeze order is therefore /home, /boot, /.
 */
export const STANDARD_MOUNTINFO = [
  mountinfoLine(21, '254:0', '/', 'ext4', '/dev/vda'),
  mountinfoLine(22, '0:21', '/proc', 'proc', 'proc'),
  mountinfoLine(23, '254:1', '/boot', 'ext4', '/dev/vda1'),
  mountinfoLine(24, '254:16', '/home', 'xfs', '/dev/vdb'),
  mountinfoLine(25, '254:16', '/srv/home', 'xfs', '/dev/vdb'),
  mountinfoLine(26, '0:30', '/tmp', 'tmpfs', 'tmpfs'),
  '',
].join('\n');

export function fakeMountTable(
  mountinfo: string | Error,
  mounts: string | Error = new Error('not used'),
  devices: Record<string, DevStat> = {},
): MountTableSource & { reads: number } {
  const table = {
    reads: 0,
    readMountInfo: async () => {
      table.reads++;
      if (mountinfo instanceof Error) throw mountinfo;
      return mountinfo;
    },
    readMounts: async () => {
      if (mounts instanceof Error) throw mounts;
      return mounts;
    },
    statDev: (source: string): DevStat => devices[source] ?? { kind: 'other' },
  };
  return table;
}

/** ga_run_command stand-in: records argv, and throws what `failures` holds for that hook argument. */
export class FakeHook {
  readonly calls: string[][] = [];
  failures: Partial<Record<string, Error>> = {};
  onRun?: (argv: readonly string[]) => void;

  readonly run = async (argv: readonly string[], _input: null, action: string): Promise<number> => {
    this.calls.push([...argv]);
    this.actions.push(action);
    this.onRun?.(argv);
    const failure = this.failures[argv[1] as string];
    if (failure) throw failure;
    return 0;
  };

  readonly actions: string[] = [];
}
