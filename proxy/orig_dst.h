/* Recovering where a captured connection was going.
 *
 * iptables REDIRECT and skiff's cgroup/getsockopt BPF program both answer
 * getsockopt(SO_ORIGINAL_DST); sk_lookup steering and TPROXY keep the
 * original address as the socket's local address instead. */
#ifndef SKIFF_PROXY_ORIG_DST_H
#define SKIFF_PROXY_ORIG_DST_H

#include <stdbool.h>

#include "proxy/config.h"

/* Fills *out with the original destination of accepted socket fd, which
 * arrived on a listener bound to listen_addr. Tries SO_ORIGINAL_DST when
 * use_original_dst, then the socket's local address. Returns 0, or -ENOENT
 * when the only answer is the listener itself (a client that dialled the
 * proxy port directly: forwarding would loop), or -errno. */
int orig_dst_get(int fd, const struct sock_addr *listen_addr, bool use_original_dst,
		 struct sock_addr *out);

#endif
