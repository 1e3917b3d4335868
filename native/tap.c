/*
 * virtbus tap opener: the one thing Node cannot do itself (ioctl TUNSETIFF).
 *
 * openTap(name, netnsPath|null, exclusive) opens /dev/net/tun, optionally inside another
 * network namespace, and binds it to tap `name`. The fd is close-on-exec: the agent hands
 * it to QEMU explicitly (spawn's stdio dup2 clears the flag on the child's copy only).
 *
 * The namespace switch uses setns(2) on the calling thread only and switches back before
 * returning; a tun file's namespace is fixed when /dev/net/tun is opened.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <node_api.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static napi_value fail(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  char code[32];
  snprintf(code, sizeof code, "E%d", err);
  napi_throw_error(env, code, msg);
  return NULL;
}

/* Opens /dev/net/tun in the namespace at nspath (NULL: the current one). */
static int open_tun_in(const char *nspath, int *err) {
  int orig = -1, target = -1, fd = -1;
  if (nspath != NULL) {
    orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    target = open(nspath, O_RDONLY | O_CLOEXEC);
    if (orig < 0 || target < 0 || setns(target, CLONE_NEWNET) != 0) {
      *err = errno;
      if (orig >= 0) close(orig);
      if (target >= 0) close(target);
      return -1;
    }
  }
  fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  *err = errno;
  if (nspath != NULL) {
    /* Switching back cannot reasonably fail; if it does, the thread must not go on. */
    if (setns(orig, CLONE_NEWNET) != 0) abort();
    close(orig);
    close(target);
  }
  return fd;
}

static napi_value open_tap(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ + 1] = {0}, nspath[512] = {0};
  size_t len = 0;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok || len == 0 || len >= IFNAMSIZ) {
    napi_throw_type_error(env, NULL, "openTap(name, netnsPath|null, exclusive): bad name");
    return NULL;
  }
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  int use_ns = t == napi_string;
  if (use_ns && napi_get_value_string_utf8(env, argv[1], nspath, sizeof nspath, &len) != napi_ok) return NULL;
  bool excl = false;
  napi_get_value_bool(env, argv[2], &excl);

  int err = 0;
  int fd = open_tun_in(use_ns ? nspath : NULL, &err);
  if (fd < 0) return fail(env, "open /dev/net/tun", err);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  /* IFF_TUN_EXCL: fail with EBUSY when the device already exists (never adopt a stranger's tap). */
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (excl ? IFF_TUN_EXCL : 0);
  memcpy(ifr.ifr_name, name, strlen(name));
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
    err = errno;
    close(fd);
    return fail(env, "TUNSETIFF", err);
  }
  napi_value out, vfd, vname;
  napi_create_object(env, &out);
  napi_create_int32(env, fd, &vfd);
  napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &vname);
  napi_set_named_property(env, out, "fd", vfd);
  napi_set_named_property(env, out, "name", vname);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "openTap", NAPI_AUTO_LENGTH, open_tap, NULL, &fn);
  napi_set_named_property(env, exports, "openTap", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
