/* Listening sockets for configured listeners. */
#ifndef SKIFF_PROXY_LISTENER_H
#define SKIFF_PROXY_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/config.h"

#define LISTENER_BACKLOG 4096

/* A non-blocking listening TCP socket bound to addr. With reuseport, each
 * worker can hold its own socket on the same address; without, a second
 * process on the address fails with EADDRINUSE, which the admin socket uses
 * to keep two skiffs from silently sharing ports. Returns the fd, or -errno
 * with err naming what failed. */
int listener_open(const struct sock_addr *addr, bool reuseport, char *err, size_t errlen);

#endif
