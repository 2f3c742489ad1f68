/* Module entry, errno errors, argument parsing and the shared async-work runner. */
#include "qga_native.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -- errno names ---------------------------------------------------------------------------- */

/* Aliases (EWOULDBLOCK, ENOTSUP, EDEADLOCK) share a value with an earlier entry; the first entry
 * for a value wins, so the table lists the names qemu-ga's code and Linux man pages use. */
static const struct {
  int value;
  const char *name;
} errno_names[] = {
#define E(x) {x, #x}
    E(EPERM),        E(ENOENT),          E(ESRCH),        E(EINTR),        E(EIO),
    E(ENXIO),        E(E2BIG),           E(ENOEXEC),      E(EBADF),        E(ECHILD),
    E(EAGAIN),       E(ENOMEM),          E(EACCES),       E(EFAULT),       E(ENOTBLK),
    E(EBUSY),        E(EEXIST),          E(EXDEV),        E(ENODEV),       E(ENOTDIR),
    E(EISDIR),       E(EINVAL),          E(ENFILE),       E(EMFILE),       E(ENOTTY),
    E(ETXTBSY),      E(EFBIG),           E(ENOSPC),       E(ESPIPE),       E(EROFS),
    E(EMLINK),       E(EPIPE),           E(EDOM),         E(ERANGE),       E(EDEADLK),
    E(ENAMETOOLONG), E(ENOLCK),          E(ENOSYS),       E(ENOTEMPTY),    E(ELOOP),
    E(ENOMSG),       E(EIDRM),           E(ENOSTR),       E(ENODATA),      E(ETIME),
    E(ENOSR),        E(EREMOTE),         E(ENOLINK),      E(EPROTO),       E(EMULTIHOP),
    E(EBADMSG),      E(EOVERFLOW),       E(EILSEQ),       E(EUSERS),       E(ENOTSOCK),
    E(EDESTADDRREQ), E(EMSGSIZE),        E(EPROTOTYPE),   E(ENOPROTOOPT),  E(EPROTONOSUPPORT),
    E(ESOCKTNOSUPPORT), E(EOPNOTSUPP),   E(EPFNOSUPPORT), E(EAFNOSUPPORT), E(EADDRINUSE),
    E(EADDRNOTAVAIL), E(ENETDOWN),       E(ENETUNREACH),  E(ENETRESET),    E(ECONNABORTED),
    E(ECONNRESET),   E(ENOBUFS),         E(EISCONN),      E(ENOTCONN),     E(ESHUTDOWN),
    E(ETOOMANYREFS), E(ETIMEDOUT),       E(ECONNREFUSED), E(EHOSTDOWN),    E(EHOSTUNREACH),
    E(EALREADY),     E(EINPROGRESS),     E(ESTALE),       E(EDQUOT),       E(ECANCELED),
    E(EOWNERDEAD),   E(ENOTRECOVERABLE),
#ifdef ENOMEDIUM
    E(ENOMEDIUM),    E(EMEDIUMTYPE),
#endif
#ifdef EUCLEAN
    E(EUCLEAN),
#endif
#ifdef ERFKILL
    E(ERFKILL),
#endif
#ifdef EHWPOISON
    E(EHWPOISON),
#endif
#undef E
};

const char *qn_errno_name(int err) {
  for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++) {
    if (errno_names[i].value == err) return errno_names[i].name;
  }
  return "UNKNOWN";
}

napi_value qn_errno_error(napi_env env, int err, const char *syscall, const char *path) {
  char text_buf[256];
  /* GNU strerror_r: returns a pointer that may or may not be text_buf. */
  const char *text = strerror_r(err, text_buf, sizeof text_buf);
  const char *code = qn_errno_name(err);

  /* Fixed size: a path longer than PATH_MAX is truncated in the message, never overflowed. */
  char msg[4096 + 512];
  if (path != NULL) {
    snprintf(msg, sizeof msg, "%s: %s, %s '%s'", code, text, syscall, path);
  } else {
    snprintf(msg, sizeof msg, "%s: %s, %s", code, text, syscall);
  }

  napi_value js_code, js_msg, error, js_errno, js_syscall;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &js_code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &js_msg);
  napi_create_error(env, js_code, js_msg, &error);
  napi_create_int32(env, err, &js_errno);
  napi_set_named_property(env, error, "errno", js_errno);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &js_syscall);
  napi_set_named_property(env, error, "syscall", js_syscall);
  if (path != NULL) qn_set_string(env, error, "path", path);
  return error;
}

void qn_throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  napi_throw(env, qn_errno_error(env, err, syscall, path));
}

/* -- arguments ------------------------------------------------------------------------------- */

static void throw_type(napi_env env, const char *name, const char *expected) {
  char msg[160];
  snprintf(msg, sizeof msg, "The \"%s\" argument must be %s", name, expected);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
}

static void throw_range(napi_env env, const char *name, const char *expected) {
  char msg[200];
  snprintf(msg, sizeof msg, "The value of \"%s\" is out of range. It must be %s", name, expected);
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
}

bool qn_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  for (size_t i = argc; i < want; i++) argv[i] = undefined;
  return true;
}

bool qn_is_undefined(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && t == napi_undefined;
}

bool qn_get_path(napi_env env, napi_value v, const char *name, char **out) {
  napi_valuetype t;
  size_t len = 0, copied = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
    throw_type(env, name, "of type string");
    return false;
  }
  napi_get_value_string_utf8(env, v, NULL, 0, &len);
  char *buf = malloc(len + 1);
  if (buf == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return false;
  }
  napi_get_value_string_utf8(env, v, buf, len + 1, &copied);
  if (copied == 0 || strlen(buf) != copied) {
    free(buf);
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE",
                          copied == 0 ? "The path must not be empty"
                                      : "The path must not contain null bytes");
    return false;
  }
  *out = buf;
  return true;
}

/* Numbers must be integral and within the exactly representable double range. */
static bool number_as_i64(napi_env env, napi_value v, const char *name, int64_t *out) {
  double d;
  napi_get_value_double(env, v, &d);
  if (!isfinite(d) || d != trunc(d) || d > 9007199254740991.0 || d < -9007199254740991.0) {
    throw_range(env, name, "an integer");
    return false;
  }
  *out = (int64_t)d;
  return true;
}

bool qn_get_i64(napi_env env, napi_value v, const char *name, int64_t *out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_bigint) {
    bool lossless = false;
    napi_get_value_bigint_int64(env, v, out, &lossless);
    if (!lossless) {
      throw_range(env, name, "a signed 64-bit integer");
      return false;
    }
    return true;
  }
  if (t == napi_number) return number_as_i64(env, v, name, out);
  throw_type(env, name, "of type bigint or number");
  return false;
}

bool qn_get_u64(napi_env env, napi_value v, const char *name, uint64_t *out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_bigint) {
    bool lossless = false;
    napi_get_value_bigint_uint64(env, v, out, &lossless);
    if (!lossless) {
      throw_range(env, name, ">= 0 and < 2 ** 64");
      return false;
    }
    return true;
  }
  if (t == napi_number) {
    int64_t i;
    if (!number_as_i64(env, v, name, &i)) return false;
    if (i < 0) {
      throw_range(env, name, ">= 0");
      return false;
    }
    *out = (uint64_t)i;
    return true;
  }
  throw_type(env, name, "of type bigint or number");
  return false;
}

bool qn_get_int_range(napi_env env, napi_value v, const char *name, int64_t min, int64_t max,
                      int64_t *out) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t != napi_number) {
    throw_type(env, name, "of type number");
    return false;
  }
  int64_t i;
  if (!number_as_i64(env, v, name, &i)) return false;
  if (i < min || i > max) {
    char expected[96];
    snprintf(expected, sizeof expected, ">= %" PRId64 " and <= %" PRId64, min, max);
    throw_range(env, name, expected);
    return false;
  }
  *out = i;
  return true;
}

bool qn_get_u32(napi_env env, napi_value v, const char *name, uint32_t *out) {
  int64_t i;
  if (!qn_get_int_range(env, v, name, 0, UINT32_MAX, &i)) return false;
  *out = (uint32_t)i;
  return true;
}

/* -- results --------------------------------------------------------------------------------- */

napi_status qn_set_u64(napi_env env, napi_value obj, const char *key, uint64_t value) {
  napi_value v;
  napi_status s = napi_create_bigint_uint64(env, value, &v);
  return s != napi_ok ? s : napi_set_named_property(env, obj, key, v);
}

napi_status qn_set_u32(napi_env env, napi_value obj, const char *key, uint32_t value) {
  napi_value v;
  napi_status s = napi_create_uint32(env, value, &v);
  return s != napi_ok ? s : napi_set_named_property(env, obj, key, v);
}

napi_status qn_set_double(napi_env env, napi_value obj, const char *key, double value) {
  napi_value v;
  napi_status s = napi_create_double(env, value, &v);
  return s != napi_ok ? s : napi_set_named_property(env, obj, key, v);
}

napi_status qn_set_string(napi_env env, napi_value obj, const char *key, const char *value) {
  napi_value v;
  napi_status s = napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v);
  return s != napi_ok ? s : napi_set_named_property(env, obj, key, v);
}

/* -- async work -------------------------------------------------------------------------------- */

qn_async *qn_async_new(qn_exec_fn exec, qn_result_fn result) {
  qn_async *a = calloc(1, sizeof *a);
  if (a != NULL) {
    a->exec = exec;
    a->result = result;
  }
  return a;
}

void qn_async_free(qn_async *a) {
  if (a == NULL) return;
  free(a->path);
  free(a);
}

static void async_execute(napi_env env, void *data) {
  (void)env; /* must not be used off the JS thread */
  qn_async *a = data;
  a->exec(a);
}

static void async_complete(napi_env env, napi_status status, void *data) {
  qn_async *a = data;
  napi_value value = NULL;

  if (status != napi_ok) {
    napi_value msg;
    napi_create_string_utf8(env, "native work was cancelled", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &value);
    napi_reject_deferred(env, a->deferred, value);
  } else if (a->err != 0) {
    value = qn_errno_error(env, a->err, a->syscall, a->path);
    napi_reject_deferred(env, a->deferred, value);
  } else if (a->result == NULL) {
    napi_get_undefined(env, &value);
    napi_resolve_deferred(env, a->deferred, value);
  } else if (a->result(env, a, &value) == napi_ok) {
    napi_resolve_deferred(env, a->deferred, value);
  } else {
    napi_value msg;
    napi_create_string_utf8(env, "building the native result failed", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &value);
    napi_reject_deferred(env, a->deferred, value);
  }
  napi_delete_async_work(env, a->work);
  qn_async_free(a);
}

napi_value qn_queue(napi_env env, const char *name, qn_async *a) {
  napi_value promise, resource_name;
  if (napi_create_promise(env, &a->deferred, &promise) != napi_ok) goto fail;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  if (napi_create_async_work(env, NULL, resource_name, async_execute, async_complete, a,
                             &a->work) != napi_ok) {
    goto fail_settle;
  }
  if (napi_queue_async_work(env, a->work) != napi_ok) {
    napi_delete_async_work(env, a->work);
    goto fail_settle;
  }
  return promise;

fail_settle: {
  /* The promise exists but nobody will see it; settle it so the deferred is released. */
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  napi_resolve_deferred(env, a->deferred, undefined);
}
fail:
  qn_async_free(a);
  napi_throw_error(env, NULL, "could not queue native work");
  return NULL;
}

/* -- module ----------------------------------------------------------------------------------- */

napi_status qn_export(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value f;
  napi_status s = napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f);
  return s != napi_ok ? s : napi_set_named_property(env, exports, name, f);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value abi;
  napi_create_uint32(env, QN_ABI_VERSION, &abi);
  napi_set_named_property(env, exports, "abiVersion", abi);

  if (qn_init_fs(env, exports) != napi_ok || qn_init_time(env, exports) != napi_ok ||
      qn_init_vsock(env, exports) != napi_ok || qn_init_fd_watch(env, exports) != napi_ok ||
      qn_init_fd_io(env, exports) != napi_ok || qn_init_sysinfo(env, exports) != napi_ok ||
      qn_init_v8_flags(env, exports) != napi_ok) {
    napi_throw_error(env, NULL, "qga_native: registering exports failed");
    return NULL;
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
