/**
 * guest-get-statvfs, the extension that first appeared as a NetEase patch to qemu-ga 1.5: the
 * statvfs(3) figures of the filesystem holding a path, all eleven exact and unsigned (f_fsid
 * often exceeds INT64_MAX). Node has no statvfs (fs.statfs lacks f_frsize, f_favail, f_fsid,
 * f_flag, f_namemax), so this needs the native helper; without it the composition root marks the
 * command disabled.
 */
import type { QgaCommandHandlers } from '../generated/qga-commands';
import type { NativeHelper } from '../native/native-helper';
import { Errors } from '../protocol/errors';

export interface StatvfsDeps {
  native: Pick<NativeHelper, 'statvfs'>;
}

export function defaultStatvfsDeps(native: NativeHelper): StatvfsDeps {
  return { native };
}

export type StatvfsHandlers = Pick<QgaCommandHandlers, 'guest-get-statvfs'>;

export function createStatvfsHandlers(deps: StatvfsDeps): StatvfsHandlers {
  return {
    'guest-get-statvfs': async (args) => {
      // statvfs("") fails with ENOENT; the helper refuses it (and NUL bytes) before the syscall.
      // qemu would pass \u0000 as C0 80, a name that in practice does not exist either.
      if (args.path === '' || args.path.includes('\0')) throw Errors.withErrno('Failed to get statvfs', 'ENOENT');
      let st;
      try {
        st = await deps.native.statvfs(args.path);
      } catch (e) {
        // the patch's error_setg_errno(errp, errno, "Failed to get statvfs")
        throw Errors.withErrno('Failed to get statvfs', e);
      }
      return {
        f_bsize: st.f_bsize,
        f_frsize: st.f_frsize,
        f_blocks: st.f_blocks,
        f_bfree: st.f_bfree,
        f_bavail: st.f_bavail,
        f_files: st.f_files,
        f_ffree: st.f_ffree,
        f_favail: st.f_favail,
        f_fsid: st.f_fsid,
        f_flag: st.f_flag,
        f_namemax: st.f_namemax,
      };
    },
  } satisfies StatvfsHandlers;
}
