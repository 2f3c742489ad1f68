/*
 * qga_native: the few Linux syscalls Node lacks (statvfs, FIFREEZE/FITHAW/FITRIM, settimeofday,
 * RTC ioctls, AF_VSOCK, fd readiness) and a read(2)/write(2) that returns errno instead of
 * throwing, exposed through plain Node-API. Everything that can block
 * (filesystem and RTC calls) runs as napi async work on the libuv thread pool and settles a
 * Promise; errors carry .code (errno name), .errno (positive errno) and .syscall.
 */
#ifndef QGA_NATIVE_H
#define QGA_NATIVE_H

#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/statvfs.h>
#include <linux/fs.h>

/* Bumped whenever the exported surface changes, so the TS facade can refuse a stale build. */
#define QN_ABI_VERSION 3

/* -- errors -------------------------------------------------------------------------------- */

/* An Error whose message reads like Node's fs errors, e.g.
 * "ENOENT: No such file or directory, statvfs '/nope'". path may be NULL. */
napi_value qn_errno_error(napi_env env, int err, const char *syscall, const char *path);
void qn_throw_errno(napi_env env, int err, const char *syscall, const char *path);
const char *qn_errno_name(int err);

/* -- argument parsing: each returns false after throwing a TypeError/RangeError ------------- */

bool qn_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv);
/* A non-empty string without embedded NUL (a NUL would silently select another path). */
bool qn_get_path(napi_env env, napi_value v, const char *name, char **out);
bool qn_get_u64(napi_env env, napi_value v, const char *name, uint64_t *out);
bool qn_get_i64(napi_env env, napi_value v, const char *name, int64_t *out);
bool qn_get_u32(napi_env env, napi_value v, const char *name, uint32_t *out);
bool qn_get_int_range(napi_env env, napi_value v, const char *name, int64_t min, int64_t max,
                      int64_t *out);
bool qn_is_undefined(napi_env env, napi_value v);

/* -- results --------------------------------------------------------------------------------- */

napi_status qn_set_u64(napi_env env, napi_value obj, const char *key, uint64_t value);
napi_status qn_set_u32(napi_env env, napi_value obj, const char *key, uint32_t value);
napi_status qn_set_double(napi_env env, napi_value obj, const char *key, double value);
napi_status qn_set_string(napi_env env, napi_value obj, const char *key, const char *value);

/* -- async work -------------------------------------------------------------------------------- */

typedef struct qn_async qn_async;
/* Runs on a pool thread: no napi calls. Sets a->err / a->syscall on failure. */
typedef void (*qn_exec_fn)(qn_async *a);
/* Runs on the JS thread when a->err == 0; builds the resolution value. */
typedef napi_status (*qn_result_fn)(napi_env env, qn_async *a, napi_value *out);

struct qn_async {
  napi_async_work work;
  napi_deferred deferred;
  qn_exec_fn exec;
  qn_result_fn result; /* NULL: resolve with undefined */
  char *path;          /* owned; freed after completion */
  uint64_t u64_in;
  int err;
  const char *syscall; /* static string */
  union {
    struct statvfs sv;
    struct fstrim_range range;
    int64_t seconds;
  } out;
};

/* Takes ownership of a (heap-allocated, path heap or NULL). Returns the Promise, or NULL after
 * throwing (a is then freed). */
napi_value qn_queue(napi_env env, const char *name, qn_async *a);
qn_async *qn_async_new(qn_exec_fn exec, qn_result_fn result);
void qn_async_free(qn_async *a);

/* -- per-area export registration ------------------------------------------------------------- */

napi_status qn_export(napi_env env, napi_value exports, const char *name, napi_callback fn);
napi_status qn_init_fs(napi_env env, napi_value exports);
napi_status qn_init_time(napi_env env, napi_value exports);
napi_status qn_init_vsock(napi_env env, napi_value exports);
napi_status qn_init_fd_watch(napi_env env, napi_value exports);
napi_status qn_init_fd_io(napi_env env, napi_value exports);
napi_status qn_init_sysinfo(napi_env env, napi_value exports);
napi_status qn_init_v8_flags(napi_env env, napi_value exports);

#endif
