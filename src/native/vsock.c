/* AF_VSOCK listen/accept. Node cannot create vsock sockets, and net.Server/net.Socket refuse a
 * vsock fd (libuv's uv_guess_handle() only knows AF_INET/AF_INET6/AF_UNIX and answers
 * UNKNOWN, so net throws ERR_INVALID_FD_TYPE / EINVAL). The sockets are therefore non-blocking
 * and driven from JS with watchFd() (fd_watch.c) plus fs.readSync/fs.writeSync. */
#include "qga_native.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
/* linux/vm_sockets.h needs struct sockaddr from sys/socket.h first */
#include <linux/vm_sockets.h>

static napi_value make_endpoint(napi_env env, int fd, const struct sockaddr_vm *addr) {
  napi_value obj;
  napi_create_object(env, &obj);
  napi_value js_fd;
  napi_create_int32(env, fd, &js_fd);
  napi_set_named_property(env, obj, "fd", js_fd);
  qn_set_u32(env, obj, "cid", addr->svm_cid);
  qn_set_u32(env, obj, "port", addr->svm_port);
  return obj;
}

/* vsockListen(cid, port, backlog) -> {fd, cid, port}: the bound address, so port -1
 * (VMADDR_PORT_ANY, passed as 4294967295) reveals the port the kernel chose. */
static napi_value js_vsock_listen(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  uint32_t cid, port;
  int64_t backlog;
  if (!qn_args(env, info, 3, argv) || !qn_get_u32(env, argv[0], "cid", &cid) ||
      !qn_get_u32(env, argv[1], "port", &port) ||
      !qn_get_int_range(env, argv[2], "backlog", 0, 65535, &backlog)) {
    return NULL;
  }

  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    qn_throw_errno(env, errno, "socket", NULL);
    return NULL;
  }
  struct sockaddr_vm addr;
  memset(&addr, 0, sizeof addr);
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = cid;
  addr.svm_port = port;
  const char *failed = NULL;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    failed = "bind";
  } else if (listen(fd, (int)backlog) != 0) {
    failed = "listen";
  } else {
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) failed = "getsockname";
  }
  if (failed != NULL) {
    int saved = errno;
    close(fd);
    qn_throw_errno(env, saved, failed, NULL);
    return NULL;
  }
  return make_endpoint(env, fd, &addr);
}

/* vsockAccept(listenFd) -> {fd, cid, port} | null. Never blocks: null means no connection is
 * waiting (EAGAIN), or one was aborted before we got to it; wait for readability and retry. */
static napi_value js_vsock_accept(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int64_t listen_fd;
  if (!qn_args(env, info, 1, argv) ||
      !qn_get_int_range(env, argv[0], "fd", 0, INT32_MAX, &listen_fd)) {
    return NULL;
  }
  struct sockaddr_vm addr;
  socklen_t len;
  int fd;
  do {
    memset(&addr, 0, sizeof addr);
    len = sizeof addr;
    fd = accept4((int)listen_fd, (struct sockaddr *)&addr, &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED) {
      napi_value null_value;
      napi_get_null(env, &null_value);
      return null_value;
    }
    qn_throw_errno(env, errno, "accept4", NULL);
    return NULL;
  }
  return make_endpoint(env, fd, &addr);
}

napi_status qn_init_vsock(napi_env env, napi_value exports) {
  napi_status s = qn_export(env, exports, "vsockListen", js_vsock_listen);
  if (s == napi_ok) s = qn_export(env, exports, "vsockAccept", js_vsock_accept);
  return s;
}
