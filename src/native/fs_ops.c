/* statvfs, FIFREEZE, FITHAW, FITRIM: each may block (a hung NFS server, a freeze waiting for
 * writers to drain, a long discard), so each runs on the thread pool. */
#include "qga_native.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* -- statvfs(path) ------------------------------------------------------------------------------ */

static void exec_statvfs(qn_async *a) {
  if (statvfs(a->path, &a->out.sv) != 0) {
    a->err = errno;
    a->syscall = "statvfs";
  }
}

static napi_status result_statvfs(napi_env env, qn_async *a, napi_value *out) {
  const struct statvfs *sv = &a->out.sv;
  napi_status s = napi_create_object(env, out);
  if (s == napi_ok) s = qn_set_u64(env, *out, "f_bsize", sv->f_bsize);
  if (s == napi_ok) s = qn_set_u64(env, *out, "f_frsize", sv->f_frsize);
  if (s == napi_ok) s = qn_set_u64(env, *out, "f_blocks", sv->f_blocks);
  if (s == napi_ok) s = qn_set_u64(env, *out, "f_bfree", sv->f_bfree);
  if (s == napi_ok) s = qn_set_u64(env, *out, "f_bavail", sv->f_bavail);
  if (s == napi_ok) s = qn_set_u64(env, *out, "f_files", sv->f_files);
  if (s == napi_ok) s = qn_set_u64(env, *out, "f_ffree", sv->f_ffree);
  if (s == napi_ok) s = qn_set_u64(env, *out, "f_favail", sv->f_favail);
  if (s == napi_ok) s = qn_set_u64(env, *out, "f_fsid", sv->f_fsid);
  if (s == napi_ok) s = qn_set_u64(env, *out, "f_flag", sv->f_flag);
  if (s == napi_ok) s = qn_set_u64(env, *out, "f_namemax", sv->f_namemax);
  return s;
}

/* -- open(dir, O_RDONLY) + ioctl, as qemu-ga does ---------------------------------------------- */

/* O_NONBLOCK | O_NOCTTY only matter if the path is not a directory: a FIFO must not park a pool
 * thread forever in open(), a tty must not become our controlling terminal. */
static int open_for_ioctl(qn_async *a) {
  int fd = open(a->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    a->err = errno;
    a->syscall = "open";
  }
  return fd;
}

static void exec_fifreeze(qn_async *a) {
  int fd = open_for_ioctl(a);
  if (fd < 0) return;
  if (ioctl(fd, FIFREEZE, 0) != 0) {
    a->err = errno;
    a->syscall = "FIFREEZE";
  }
  close(fd);
}

static void exec_fithaw(qn_async *a) {
  int fd = open_for_ioctl(a);
  if (fd < 0) return;
  if (ioctl(fd, FITHAW, 0) != 0) {
    a->err = errno;
    a->syscall = "FITHAW";
  }
  close(fd);
}

static void exec_fitrim(qn_async *a) {
  int fd = open_for_ioctl(a);
  if (fd < 0) return;
  a->out.range.start = 0;
  a->out.range.len = ULLONG_MAX;
  a->out.range.minlen = a->u64_in;
  if (ioctl(fd, FITRIM, &a->out.range) != 0) {
    a->err = errno;
    a->syscall = "FITRIM";
  }
  close(fd);
}

/* The kernel rewrites len to the bytes trimmed and may raise minlen to the device's discard
 * granularity; qemu-ga reports both values as they come back. */
static napi_status result_fitrim(napi_env env, qn_async *a, napi_value *out) {
  napi_status s = napi_create_object(env, out);
  if (s == napi_ok) s = qn_set_u64(env, *out, "trimmed", a->out.range.len);
  if (s == napi_ok) s = qn_set_u64(env, *out, "minimum", a->out.range.minlen);
  return s;
}

/* -- JS entry points ---------------------------------------------------------------------------- */

static napi_value queue_path_op(napi_env env, napi_callback_info info, const char *name,
                                qn_exec_fn exec, qn_result_fn result) {
  napi_value argv[1];
  char *path;
  if (!qn_args(env, info, 1, argv) || !qn_get_path(env, argv[0], "path", &path)) return NULL;
  qn_async *a = qn_async_new(exec, result);
  if (a == NULL) {
    free(path);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  a->path = path;
  return qn_queue(env, name, a);
}

static napi_value js_statvfs(napi_env env, napi_callback_info info) {
  return queue_path_op(env, info, "qga_native.statvfs", exec_statvfs, result_statvfs);
}

static napi_value js_fsfreeze(napi_env env, napi_callback_info info) {
  return queue_path_op(env, info, "qga_native.fsfreeze", exec_fifreeze, NULL);
}

static napi_value js_fsthaw(napi_env env, napi_callback_info info) {
  return queue_path_op(env, info, "qga_native.fsthaw", exec_fithaw, NULL);
}

/* fstrim(path, minimum?) where minimum is a bigint or number, default 0 */
static napi_value js_fstrim(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  char *path;
  uint64_t minimum = 0;
  if (!qn_args(env, info, 2, argv)) return NULL;
  if (!qn_is_undefined(env, argv[1]) && !qn_get_u64(env, argv[1], "minimum", &minimum)) {
    return NULL;
  }
  if (!qn_get_path(env, argv[0], "path", &path)) return NULL;
  qn_async *a = qn_async_new(exec_fitrim, result_fitrim);
  if (a == NULL) {
    free(path);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  a->path = path;
  a->u64_in = minimum;
  return qn_queue(env, "qga_native.fstrim", a);
}

napi_status qn_init_fs(napi_env env, napi_value exports) {
  napi_status s = qn_export(env, exports, "statvfs", js_statvfs);
  if (s == napi_ok) s = qn_export(env, exports, "fsfreeze", js_fsfreeze);
  if (s == napi_ok) s = qn_export(env, exports, "fsthaw", js_fsthaw);
  if (s == napi_ok) s = qn_export(env, exports, "fstrim", js_fstrim);
  return s;
}
