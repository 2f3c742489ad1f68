/**
 * guest-fstrim: FITRIM on every mount of the freeze mount list, each result on its own
 * (reference §2.3). A mount that cannot be trimmed gets an `error` text instead of failing the
 * command. The per-path texts are result data, not error replies, so they live here.
 */
import type { QgaCommandHandlers } from '../generated/qga-commands';
import type { GuestFilesystemTrimResult } from '../generated/qga-types';
import type { NativeHelper } from '../native/native-helper';
import { isNativeErrnoError } from '../native/native-helper';
import { strerror } from '../protocol/errors';
import { defaultMountTableSource, loadMountList, type MountTableSource } from './mount-list';

export interface FstrimDeps {
  native: Pick<NativeHelper, 'fstrim'>;
  mountTable: MountTableSource;
}

/** Needs the native helper; without it the lead reports guest-fstrim disabled. */
export function defaultFstrimDeps(native: NativeHelper): FstrimDeps {
  return { native, mountTable: defaultMountTableSource() };
}

/** qemu-ga's per-path text for a failed open or FITRIM. */
export function trimFailureText(err: unknown): string {
  if (isNativeErrnoError(err) && err.syscall === 'open') return `failed to open: ${strerror(err)}`;
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ENOTTY' || code === 'EOPNOTSUPP') return 'trim not supported';
  return `failed to trim: ${strerror(err)}`;
}

export function createFstrimHandlers(deps: FstrimDeps) {
  return {
    'guest-fstrim': async (args) => {
      const mounts = await loadMountList(deps.mountTable);
      // qemu-ga stores minlen in a __u64, so a negative minimum wraps around.
      const minimum = BigInt.asUintN(64, args.minimum ?? 0n);
      const paths: GuestFilesystemTrimResult[] = [];
      // Trimmed in mount order; each result is prepended, so the reply lists the newest mount first.
      for (const mount of mounts) {
        try {
          const r = await deps.native.fstrim(mount.mountPoint, minimum);
          paths.unshift({ path: mount.mountPoint, trimmed: r.trimmed, minimum: r.minimum });
        } catch (e) {
          paths.unshift({ path: mount.mountPoint, error: trimFailureText(e) });
        }
      }
      return { paths };
    },
  } satisfies Pick<QgaCommandHandlers, 'guest-fstrim'>;
}
