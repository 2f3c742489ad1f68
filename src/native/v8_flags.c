/* setV8Flags(flags): v8::V8::SetFlagsFromString, without loading node:v8.
 *
 * node:v8's setFlagsFromString makes the same call, but requiring node:v8 loads Node's stream
 * stack and heap utilities with it (about 25 modules: 10-15 ms and 2.4 MB natively, ten times the
 * time under emulation) for one call at start-up (src/runtime/jit-tiering.ts).
 *
 * V8's API is C++ and this addon stays C on Node-API, so the function is looked up at run time by
 * its mangled name in the running executable: node, and single executables built from it, export
 * V8's API for addons. Its signature, static void SetFlagsFromString(const char *), has not
 * changed in V8's history. When the symbol is not there the call returns false and the caller
 * falls back to node:v8; nothing is linked against it, so the addon loads either way. */
#include "qga_native.h"

#include <dlfcn.h>

/* glibc 2.34 moved dlsym from libdl into libc under a new symbol version; binding to the old one,
 * which every glibc since 2.2.5 provides (in libdl before 2.34, as a compatibility symbol in libc
 * after), keeps the addon within the .deb's glibc floor (2.28). binding.gyp links libdl for it. */
__asm__(".symver dlsym, dlsym@GLIBC_2.2.5");

#define QN_V8_FLAGS_MAX 1024

typedef void (*qn_set_flags_fn)(const char *flags);

static napi_value js_set_v8_flags(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!qn_args(env, info, 1, argv)) return NULL;
  char flags[QN_V8_FLAGS_MAX];
  size_t length = 0;
  if (napi_get_value_string_utf8(env, argv[0], flags, sizeof flags, &length) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"flags\" argument must be of type string");
    return NULL;
  }
  if (length >= sizeof flags - 1) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "The \"flags\" argument is too long");
    return NULL;
  }
  qn_set_flags_fn set_flags = (qn_set_flags_fn)dlsym(RTLD_DEFAULT, "_ZN2v82V818SetFlagsFromStringEPKc");
  if (set_flags != NULL) set_flags(flags);
  napi_value result;
  napi_get_boolean(env, set_flags != NULL, &result);
  return result;
}

napi_status qn_init_v8_flags(napi_env env, napi_value exports) {
  return qn_export(env, exports, "setV8Flags", js_set_v8_flags);
}
