/* watchFd: fd readiness on Node's own event loop, for fds Node cannot wrap (AF_VSOCK).
 *
 * A uv_poll_t on the loop Node-API hands us; the JS callback runs through napi_make_callback so
 * microtasks and nextTicks drain as after any other I/O callback. The watcher stays alive (and
 * keeps the loop alive) until close(), the same ownership model as a net.Server.
 *
 * Edge mode (watchFd(fd, events, cb, true)): the fd goes into a private epoll instance with
 * EPOLLET, and libuv polls that instance instead. The callback then runs once per wake-up of the
 * fd's wait queue, not for as long as a condition holds. A virtio-serial port with no host
 * reports POLLHUP for ever (level-triggered: a busy loop), but its driver wakes the queue only when
 * the host connects, sends or disconnects: watched this way, an absent host costs nothing until
 * something happens (test/vm/PORT-BEHAVIOUR.md). The epoll instance keeps collecting while
 * paused, so a wake-up during a pause is reported when watching resumes. */
#include "qga_native.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <uv.h>

typedef struct fd_watch {
  napi_env env;
  uv_poll_t *poll; /* NULL once closed */
  napi_ref callback;
  napi_ref self;
  napi_async_context context;
  int fd;
  int epfd; /* edge mode: the private epoll instance libuv polls; -1 otherwise */
} fd_watch;

static void free_poll_handle(uv_handle_t *handle) {
  free(handle);
}

static void close_poll(fd_watch *w) {
  w->poll->data = NULL;
  uv_close((uv_handle_t *)w->poll, free_poll_handle);
  w->poll = NULL;
  if (w->epfd >= 0) {
    close(w->epfd);
    w->epfd = -1;
  }
}

static void on_env_teardown(void *arg) {
  fd_watch *w = arg;
  /* Node-API releases the references itself at teardown; only the libuv handle is ours. */
  if (w->poll != NULL) close_poll(w);
}

static void release_watch(fd_watch *w) {
  if (w->poll == NULL) return;
  napi_env env = w->env;
  close_poll(w);
  napi_remove_env_cleanup_hook(env, on_env_teardown, w);
  napi_async_destroy(env, w->context);
  napi_delete_reference(env, w->callback);
  napi_delete_reference(env, w->self);
}

static void finalize_watch(napi_env env, void *data, void *hint) {
  (void)hint;
  fd_watch *w = data;
  if (w->poll != NULL) {
    /* Only reachable at env teardown (an open watcher holds a strong reference to itself). */
    close_poll(w);
    napi_remove_env_cleanup_hook(env, on_env_teardown, w);
  }
  free(w);
}

/* Edge mode: what the private epoll instance collected since the last call, as uv_poll bits;
 * 0 when nothing (a wake-up already reported). */
static int drain_edges(fd_watch *w, int *status) {
  struct epoll_event ev[4];
  int got = 0, n;
  while ((n = epoll_wait(w->epfd, ev, 4, 0)) > 0) {
    for (int i = 0; i < n; i++) {
      uint32_t e = ev[i].events;
      if (e & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)) got |= UV_READABLE;
      if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) got |= UV_WRITABLE;
      if (e & EPOLLRDHUP) got |= UV_DISCONNECT;
    }
    if (n < 4) break;
  }
  if (n < 0 && errno != EINTR) *status = -errno;
  return got;
}

static void on_poll(uv_poll_t *handle, int status, int events) {
  fd_watch *w = handle->data;
  if (w == NULL) return;
  if (w->epfd >= 0 && status == 0) {
    events = drain_edges(w, &status);
    if (events == 0 && status == 0) return;
  }
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;

  /* recv lives in this scope, so the wrapper (and w) cannot be collected during the call even
   * if the callback closes the watcher. w is not touched after the call. */
  napi_value recv, cb, argv[2], result;
  napi_get_reference_value(env, w->self, &recv);
  napi_get_reference_value(env, w->callback, &cb);
  napi_create_int32(env, status < 0 ? -status : 0, &argv[0]);
  napi_create_int32(env, status < 0 ? 0 : events, &argv[1]);
  napi_status s = napi_make_callback(env, w->context, recv, cb, 2, argv, &result);

  bool pending = false;
  if (s != napi_ok && napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
}

static fd_watch *unwrap_this(napi_env env, napi_callback_info info, size_t want,
                             napi_value *argv) {
  size_t argc = want;
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "ERR_INVALID_THIS", "not an fd watcher");
    return NULL;
  }
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  for (size_t i = argc; i < want; i++) argv[i] = undefined;
  return data;
}

static bool apply_events(napi_env env, fd_watch *w, int64_t events) {
  /* in edge mode libuv watches the epoll instance, which only ever becomes readable */
  int want = w->epfd >= 0 ? UV_READABLE : (int)events;
  int rc = events == 0 ? uv_poll_stop(w->poll) : uv_poll_start(w->poll, want, on_poll);
  if (rc != 0) {
    qn_throw_errno(env, -rc, events == 0 ? "uv_poll_stop" : "uv_poll_start", NULL);
    return false;
  }
  return true;
}

#define QN_POLL_EVENT_MASK (UV_READABLE | UV_WRITABLE | UV_DISCONNECT | UV_PRIORITIZED)

/* watcher.update(events): 0 pauses; otherwise the bitmask to wait for. */
static napi_value js_watch_update(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int64_t events;
  fd_watch *w = unwrap_this(env, info, 1, argv);
  if (w == NULL) return NULL;
  if (!qn_get_int_range(env, argv[0], "events", 0, QN_POLL_EVENT_MASK, &events)) return NULL;
  if (w->poll == NULL) {
    napi_throw_error(env, "ERR_FD_WATCH_CLOSED", "the fd watcher is closed");
    return NULL;
  }
  if (!apply_events(env, w, events)) return NULL;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

/* watcher.close(): idempotent; the fd itself stays open and belongs to the caller. */
static napi_value js_watch_close(napi_env env, napi_callback_info info) {
  fd_watch *w = unwrap_this(env, info, 0, NULL);
  if (w == NULL) return NULL;
  release_watch(w);
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

/* watchFd(fd, events, callback(errno, events), edge?) -> {update(events), close()} */
static napi_value js_watch_fd(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  int64_t fd, events;
  size_t argc = 4;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  bool edge = false;
  if (argc >= 4) {
    napi_valuetype et;
    napi_typeof(env, argv[3], &et);
    if (et == napi_boolean) {
      napi_get_value_bool(env, argv[3], &edge);
    } else if (et != napi_undefined) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "The \"edge\" argument must be of type boolean");
      return NULL;
    }
  }
  if (!qn_args(env, info, 3, argv) || !qn_get_int_range(env, argv[0], "fd", 0, INT32_MAX, &fd) ||
      !qn_get_int_range(env, argv[1], "events", 0, QN_POLL_EVENT_MASK, &events)) {
    return NULL;
  }
  napi_valuetype t;
  napi_typeof(env, argv[2], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "The \"callback\" argument must be of type function");
    return NULL;
  }

  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, NULL, "no libuv loop");
    return NULL;
  }
  fd_watch *w = calloc(1, sizeof *w);
  uv_poll_t *poll = calloc(1, sizeof *poll);
  if (w == NULL || poll == NULL) {
    free(w);
    free(poll);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  int epfd = -1;
  if (edge) {
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data = {.fd = (int)fd}};
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, (int)fd, &ev) != 0) {
      int err = errno;
      if (epfd >= 0) close(epfd);
      free(w);
      free(poll);
      qn_throw_errno(env, err, epfd < 0 ? "epoll_create1" : "epoll_ctl", NULL);
      return NULL;
    }
  }
  int rc = uv_poll_init(loop, poll, edge ? epfd : (int)fd);
  if (rc != 0) {
    /* uv_poll_init failing leaves nothing registered with the loop. */
    if (epfd >= 0) close(epfd);
    free(w);
    free(poll);
    qn_throw_errno(env, -rc, "uv_poll_init", NULL);
    return NULL;
  }
  w->env = env;
  w->fd = (int)fd;
  w->epfd = epfd;
  w->poll = poll;
  poll->data = w;

  napi_value obj, update_fn, close_fn, name;
  napi_create_object(env, &obj);
  napi_create_function(env, "update", NAPI_AUTO_LENGTH, js_watch_update, NULL, &update_fn);
  napi_create_function(env, "close", NAPI_AUTO_LENGTH, js_watch_close, NULL, &close_fn);
  napi_set_named_property(env, obj, "update", update_fn);
  napi_set_named_property(env, obj, "close", close_fn);
  napi_value js_fd;
  napi_create_int32(env, (int32_t)fd, &js_fd);
  napi_set_named_property(env, obj, "fd", js_fd);

  if (napi_wrap(env, obj, w, finalize_watch, NULL, NULL) != napi_ok) {
    close_poll(w);
    free(w);
    napi_throw_error(env, NULL, "wrapping the fd watcher failed");
    return NULL;
  }
  napi_create_reference(env, argv[2], 1, &w->callback);
  napi_create_reference(env, obj, 1, &w->self);
  napi_create_string_utf8(env, "qga_native.watchFd", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, obj, name, &w->context);
  napi_add_env_cleanup_hook(env, on_env_teardown, w);

  if (events != 0 && !apply_events(env, w, events)) {
    release_watch(w);
    return NULL;
  }
  return obj;
}

static napi_value make_int(napi_env env, int value) {
  napi_value v;
  napi_create_int32(env, value, &v);
  return v;
}

napi_status qn_init_fd_watch(napi_env env, napi_value exports) {
  napi_status s = qn_export(env, exports, "watchFd", js_watch_fd);
  if (s == napi_ok) s = napi_set_named_property(env, exports, "POLL_READABLE", make_int(env, UV_READABLE));
  if (s == napi_ok) s = napi_set_named_property(env, exports, "POLL_WRITABLE", make_int(env, UV_WRITABLE));
  if (s == napi_ok) s = napi_set_named_property(env, exports, "POLL_DISCONNECT", make_int(env, UV_DISCONNECT));
  return s;
}
