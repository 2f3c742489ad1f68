/* settimeofday and the RTC: what guest-set-time needs without depending on /sbin/hwclock.
 *
 * The RTC is treated as UTC, which is what QEMU/KVM guests get by default (-rtc base=utc) and
 * what systemd assumes unless /etc/adjtime says LOCAL. A guest whose RTC keeps local time needs
 * hwclock (which reads /etc/adjtime); the facade documents this. */
#include "qga_native.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/rtc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* time_t is 64-bit on every target this agent is built for; the check keeps a 32-bit build honest. */
static bool fits_time_t(int64_t seconds) {
  return (int64_t)(time_t)seconds == seconds;
}

/* settimeofday(seconds, microseconds): synchronous, it never blocks. */
static napi_value js_settimeofday(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int64_t seconds, micros;
  if (!qn_args(env, info, 2, argv)) return NULL;
  if (!qn_get_i64(env, argv[0], "seconds", &seconds)) return NULL;
  if (seconds < 0 || !fits_time_t(seconds)) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "The value of \"seconds\" is out of range. It must be >= 0 and fit time_t");
    return NULL;
  }
  if (!qn_get_int_range(env, argv[1], "microseconds", 0, 999999, &micros)) return NULL;

  struct timeval tv = {.tv_sec = (time_t)seconds, .tv_usec = (suseconds_t)micros};
  if (settimeofday(&tv, NULL) != 0) {
    qn_throw_errno(env, errno, "settimeofday", NULL);
    return NULL;
  }
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

/* -- RTC ------------------------------------------------------------------------------------------ */

static int open_rtc(qn_async *a) {
  int fd = open(a->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    a->err = errno;
    a->syscall = "open";
  }
  return fd;
}

/* Reads the RTC as UTC into a->out.seconds. Returns false with a->err set on failure. */
static bool read_rtc_seconds(qn_async *a) {
  int fd = open_rtc(a);
  if (fd < 0) return false;
  struct rtc_time rt;
  memset(&rt, 0, sizeof rt);
  int rc = ioctl(fd, RTC_RD_TIME, &rt);
  int saved = errno;
  close(fd);
  if (rc != 0) {
    a->err = saved;
    a->syscall = "RTC_RD_TIME";
    return false;
  }
  struct tm tm = {
      .tm_sec = rt.tm_sec,
      .tm_min = rt.tm_min,
      .tm_hour = rt.tm_hour,
      .tm_mday = rt.tm_mday,
      .tm_mon = rt.tm_mon,
      .tm_year = rt.tm_year,
      .tm_isdst = 0,
  };
  errno = 0;
  time_t t = timegm(&tm);
  if (t == (time_t)-1 && errno != 0) {
    a->err = errno;
    a->syscall = "timegm";
    return false;
  }
  a->out.seconds = (int64_t)t;
  return true;
}

static void exec_rtc_read(qn_async *a) {
  read_rtc_seconds(a);
}

/* hwclock -s: system time := RTC (whole seconds). */
static void exec_rtc_to_system(qn_async *a) {
  if (!read_rtc_seconds(a)) return;
  struct timeval tv = {.tv_sec = (time_t)a->out.seconds, .tv_usec = 0};
  if (settimeofday(&tv, NULL) != 0) {
    a->err = errno;
    a->syscall = "settimeofday";
  }
}

/* hwclock -w: RTC := system time. The RTC only holds whole seconds, so wait for the next second
 * boundary and write that second; otherwise the RTC would lag by up to a second. */
static void exec_system_to_rtc(qn_async *a) {
  int fd = open_rtc(a);
  if (fd < 0) return;

  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct timespec wait = {.tv_sec = 0, .tv_nsec = 1000000000L - now.tv_nsec};
  while (nanosleep(&wait, &wait) != 0 && errno == EINTR) {
  }
  clock_gettime(CLOCK_REALTIME, &now);
  /* Round, so a wake-up a few microseconds early still names the second we waited for. */
  time_t t = now.tv_sec + (now.tv_nsec >= 500000000L ? 1 : 0);

  struct tm tm;
  if (gmtime_r(&t, &tm) == NULL) {
    a->err = EOVERFLOW;
    a->syscall = "gmtime_r";
    close(fd);
    return;
  }
  struct rtc_time rt = {
      .tm_sec = tm.tm_sec,
      .tm_min = tm.tm_min,
      .tm_hour = tm.tm_hour,
      .tm_mday = tm.tm_mday,
      .tm_mon = tm.tm_mon,
      .tm_year = tm.tm_year,
      .tm_wday = tm.tm_wday,
      .tm_yday = tm.tm_yday,
      .tm_isdst = 0,
  };
  if (ioctl(fd, RTC_SET_TIME, &rt) != 0) {
    a->err = errno;
    a->syscall = "RTC_SET_TIME";
  }
  a->out.seconds = (int64_t)t;
  close(fd);
}

static napi_status result_seconds(napi_env env, qn_async *a, napi_value *out) {
  return napi_create_int64(env, a->out.seconds, out);
}

static napi_value queue_rtc(napi_env env, napi_callback_info info, const char *name,
                            qn_exec_fn exec) {
  napi_value argv[1];
  char *device;
  if (!qn_args(env, info, 1, argv) || !qn_get_path(env, argv[0], "device", &device)) return NULL;
  qn_async *a = qn_async_new(exec, result_seconds);
  if (a == NULL) {
    free(device);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  a->path = device;
  return qn_queue(env, name, a);
}

/* rtcRead(device) -> Promise<number>: RTC as UTC seconds since the epoch; touches nothing. */
static napi_value js_rtc_read(napi_env env, napi_callback_info info) {
  return queue_rtc(env, info, "qga_native.rtcRead", exec_rtc_read);
}

/* rtcReadToSystem(device) -> Promise<number>: the seconds the system clock was set to. */
static napi_value js_rtc_read_to_system(napi_env env, napi_callback_info info) {
  return queue_rtc(env, info, "qga_native.rtcReadToSystem", exec_rtc_to_system);
}

/* rtcSetFromSystem(device) -> Promise<number>: the seconds written to the RTC. */
static napi_value js_rtc_set_from_system(napi_env env, napi_callback_info info) {
  return queue_rtc(env, info, "qga_native.rtcSetFromSystem", exec_system_to_rtc);
}

napi_status qn_init_time(napi_env env, napi_value exports) {
  napi_status s = qn_export(env, exports, "settimeofday", js_settimeofday);
  if (s == napi_ok) s = qn_export(env, exports, "rtcRead", js_rtc_read);
  if (s == napi_ok) s = qn_export(env, exports, "rtcReadToSystem", js_rtc_read_to_system);
  if (s == napi_ok) s = qn_export(env, exports, "rtcSetFromSystem", js_rtc_set_from_system);
  return s;
}
