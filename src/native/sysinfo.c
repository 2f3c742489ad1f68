/* getloadavg(3) and sysconf(_SC_CLK_TCK): cheap and non-blocking, so synchronous. */
#include "qga_native.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* getloadavg() -> [1 min, 5 min, 15 min] */
static napi_value js_getloadavg(napi_env env, napi_callback_info info) {
  (void)info;
  double loads[3];
  errno = 0;
  if (getloadavg(loads, 3) != 3) {
    /* glibc reads /proc/loadavg; errno explains a failed open, otherwise call it EIO. */
    qn_throw_errno(env, errno != 0 ? errno : EIO, "getloadavg", NULL);
    return NULL;
  }
  napi_value array;
  napi_create_array_with_length(env, 3, &array);
  for (uint32_t i = 0; i < 3; i++) {
    napi_value v;
    napi_create_double(env, loads[i], &v);
    napi_set_element(env, array, i, v);
  }
  return array;
}

/* sysconfClkTck() -> clock ticks per second (the unit of /proc/stat times) */
static napi_value js_sysconf_clk_tck(napi_env env, napi_callback_info info) {
  (void)info;
  errno = 0;
  long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) {
    qn_throw_errno(env, errno != 0 ? errno : EINVAL, "sysconf", NULL);
    return NULL;
  }
  napi_value v;
  napi_create_int64(env, ticks, &v);
  return v;
}

napi_status qn_init_sysinfo(napi_env env, napi_value exports) {
  napi_status s = qn_export(env, exports, "getloadavg", js_getloadavg);
  if (s == napi_ok) s = qn_export(env, exports, "sysconfClkTck", js_sysconf_clk_tck);
  return s;
}
