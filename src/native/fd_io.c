/* readInto / writeBytes / writeLatin1: one read(2) or write(2) on a non-blocking fd, for the
 * channels' hot path.
 *
 * Why not fs.readSync / fs.writeSync: under QEMU's TCG every JS call costs, and Node's wrappers
 * validate each argument in JS and throw a new Error for every EAGAIN (an idle port, a full
 * host buffer). Here a syscall failure is a return value: the byte count, or a negative errno
 * (-EAGAIN, -EINTR, -EPIPE, ...). Only argument mistakes throw (TypeError/RangeError), as
 * everywhere in this addon.
 *
 * Counts are capped at 0x7ffff000 bytes, what Linux moves in one call anyway, so every result
 * fits an int32 (a small integer in V8, no heap number). */
#include "qga_native.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define QN_MAX_IO_BYTES 0x7ffff000u
/* Replies this short (nearly all of them) are copied to the stack; longer ones to the heap. */
#define QN_LATIN1_STACK_BYTES 16384

static bool get_fd(napi_env env, napi_value v, int *out) {
  double d;
  /* napi_get_value_double fails for anything that is not a number: one call checks both. */
  if (napi_get_value_double(env, v, &d) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"fd\" argument must be of type number");
    return false;
  }
  if (!(d >= 0 && d <= INT32_MAX) || d != trunc(d)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "The value of \"fd\" is out of range. It must be >= 0 and <= 2147483647");
    return false;
  }
  *out = (int)d;
  return true;
}

/* A Buffer or any Uint8Array; the pointer already includes the view's byteOffset. */
static bool get_bytes(napi_env env, napi_value v, const char *name, void **data, size_t *length) {
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) != napi_ok ||
      type != napi_uint8_array) {
    char msg[96];
    snprintf(msg, sizeof msg, "The \"%s\" argument must be a Buffer or Uint8Array", name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  if (*length > QN_MAX_IO_BYTES) *length = QN_MAX_IO_BYTES;
  return true;
}

static napi_value result_of(napi_env env, ssize_t n) {
  napi_value out;
  napi_create_int32(env, n < 0 ? -errno : (int32_t)n, &out);
  return out;
}

/* The (fd, buffer) arguments of readInto and writeBytes; false with a JS exception pending. */
static bool fd_and_buffer(napi_env env, napi_callback_info info, const char *usage, int *fd, void **data,
                          size_t *length) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc < 2) {
    char message[96];
    snprintf(message, sizeof message, "%s takes two arguments", usage);
    napi_throw_type_error(env, "ERR_MISSING_ARGS", message);
    return false;
  }
  return get_fd(env, argv[0], fd) && get_bytes(env, argv[1], "buffer", data, length);
}

/* readInto(fd, buffer) -> bytes read, 0 at end of stream, or -errno */
static napi_value js_read_into(napi_env env, napi_callback_info info) {
  int fd;
  void *data = NULL;
  size_t length = 0;
  if (!fd_and_buffer(env, info, "readInto(fd, buffer)", &fd, &data, &length)) return NULL;
  return result_of(env, read(fd, data, length));
}

/* writeBytes(fd, buffer) -> bytes written or -errno */
static napi_value js_write_bytes(napi_env env, napi_callback_info info) {
  int fd;
  void *data = NULL;
  size_t length = 0;
  if (!fd_and_buffer(env, info, "writeBytes(fd, buffer)", &fd, &data, &length)) return NULL;
  return result_of(env, write(fd, data, length));
}

/* writeLatin1(fd, text) -> bytes written or -errno. Each char is one byte (its low 8 bits: the
 * callers only pass latin1 text, e.g. JSON with 0xFF delimiters). */
static napi_value js_write_latin1(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int fd;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "writeLatin1(fd, text) takes two arguments");
    return NULL;
  }
  if (!get_fd(env, argv[0], &fd)) return NULL;

  /* One copy into the stack buffer; only when it comes back full is the string measured and
   * copied whole (the size argument includes the NUL napi always appends). */
  char stack[QN_LATIN1_STACK_BYTES + 1];
  size_t copied = 0;
  if (napi_get_value_string_latin1(env, argv[1], stack, sizeof stack, &copied) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"text\" argument must be of type string");
    return NULL;
  }
  if (copied < QN_LATIN1_STACK_BYTES) return result_of(env, write(fd, stack, copied));

  size_t length = 0;
  napi_get_value_string_latin1(env, argv[1], NULL, 0, &length);
  if (length > QN_MAX_IO_BYTES) length = QN_MAX_IO_BYTES;
  char *heap = malloc(length + 1);
  if (heap == NULL) return result_of(env, (errno = ENOMEM, -1));
  napi_get_value_string_latin1(env, argv[1], heap, length + 1, &copied);
  ssize_t n = write(fd, heap, copied);
  int saved = errno;
  free(heap);
  errno = saved;
  return result_of(env, n);
}

static napi_status export_int(napi_env env, napi_value exports, const char *name, int value) {
  napi_value v;
  napi_status s = napi_create_int32(env, value, &v);
  return s != napi_ok ? s : napi_set_named_property(env, exports, name, v);
}

napi_status qn_init_fd_io(napi_env env, napi_value exports) {
  napi_status s = qn_export(env, exports, "readInto", js_read_into);
  if (s == napi_ok) s = qn_export(env, exports, "writeBytes", js_write_bytes);
  if (s == napi_ok) s = qn_export(env, exports, "writeLatin1", js_write_latin1);
  /* The facade compares these with the constants it tests results against. */
  if (s == napi_ok) s = export_int(env, exports, "EAGAIN", EAGAIN);
  if (s == napi_ok) s = export_int(env, exports, "EINTR", EINTR);
  return s;
}
