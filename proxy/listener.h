/* Listening sockets for configured listeners. */
#ifndef SKIFF_PROXY_LISTENER_H
#define SKIFF_PROXY_LISTENER_H

#include <stddef.h>

#include "proxy/config.h"

#define LISTENER_BACKLOG 4096

/* A non-blocking listening TCP socket bound to addr with SO_REUSEPORT, so
 * each worker can hold its own on the same address. Returns the fd, or
 * -errno with err naming what failed. */
int listener_open(const struct sock_addr *addr, char *err, size_t errlen);

#endif
