/* Minimal N-API addon for port-probe.js: a uv_poll_t on Node's loop, to see what libuv's poll
 * watcher reports for a virtio-serial fd. Probe-only: no care for lifetimes beyond the probe.
 *   const w = addon.watch(fd, events, (status, events) => {}); w.update(events); w.stop();
 * Built by port-probe.ts: gcc -shared -fPIC -I/usr/include/node -o uv-poll-probe.node */
#include <node_api.h>
#include <stdlib.h>
#include <uv.h>

typedef struct {
  napi_env env;
  napi_ref cb;
  uv_poll_t poll;
} watch_t;

static void on_poll(uv_poll_t *h, int status, int events) {
  watch_t *w = h->data;
  napi_handle_scope scope;
  napi_open_handle_scope(w->env, &scope);
  napi_value cb, global, argv[2], result;
  napi_get_reference_value(w->env, w->cb, &cb);
  napi_get_global(w->env, &global);
  napi_create_int32(w->env, status, &argv[0]);
  napi_create_int32(w->env, events, &argv[1]);
  napi_call_function(w->env, global, cb, 2, argv, &result);
  napi_close_handle_scope(w->env, scope);
}

static watch_t *this_watch(napi_env env, napi_callback_info info, napi_value *arg) {
  size_t argc = 1;
  napi_value self;
  void *data;
  napi_get_cb_info(env, info, &argc, arg, &self, NULL);
  napi_unwrap(env, self, &data);
  return data;
}

static napi_value js_update(napi_env env, napi_callback_info info) {
  napi_value arg;
  int32_t events;
  watch_t *w = this_watch(env, info, &arg);
  napi_get_value_int32(env, arg, &events);
  if (events == 0) uv_poll_stop(&w->poll);
  else uv_poll_start(&w->poll, events, on_poll);
  return NULL;
}

static napi_value js_stop(napi_env env, napi_callback_info info) {
  napi_value arg;
  watch_t *w = this_watch(env, info, &arg);
  uv_poll_stop(&w->poll);
  return NULL;
}

static napi_value js_watch(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], obj, fn;
  int32_t fd, events;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_get_value_int32(env, argv[0], &fd);
  napi_get_value_int32(env, argv[1], &events);
  watch_t *w = calloc(1, sizeof *w);
  w->env = env;
  napi_create_reference(env, argv[2], 1, &w->cb);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  int rc = uv_poll_init(loop, &w->poll, fd);
  if (rc != 0) {
    napi_throw_error(env, NULL, uv_strerror(rc));
    return NULL;
  }
  w->poll.data = w;
  if (events != 0) uv_poll_start(&w->poll, events, on_poll);
  napi_create_object(env, &obj);
  napi_wrap(env, obj, w, NULL, NULL, NULL);
  napi_create_function(env, "update", NAPI_AUTO_LENGTH, js_update, NULL, &fn);
  napi_set_named_property(env, obj, "update", fn);
  napi_create_function(env, "stop", NAPI_AUTO_LENGTH, js_stop, NULL, &fn);
  napi_set_named_property(env, obj, "stop", fn);
  return obj;
}

NAPI_MODULE_INIT() {
  napi_value fn, v;
  napi_create_function(env, "watch", NAPI_AUTO_LENGTH, js_watch, NULL, &fn);
  napi_set_named_property(env, exports, "watch", fn);
  napi_create_int32(env, UV_READABLE, &v);
  napi_set_named_property(env, exports, "READABLE", v);
  napi_create_int32(env, UV_WRITABLE, &v);
  napi_set_named_property(env, exports, "WRITABLE", v);
  napi_create_int32(env, UV_DISCONNECT, &v);
  napi_set_named_property(env, exports, "DISCONNECT", v);
  return exports;
}
