/* Original destination recovery; see orig_dst.h. */
#include "proxy/orig_dst.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>

/* From linux/netfilter_ipv4.h and linux/netfilter_ipv6/ip6_tables.h, which
 * clash with the libc headers. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

static uint16_t port_of(const struct sock_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_port;
	return ((const struct sockaddr_in6 *)&a->ss)->sin6_port;
}

static bool is_any(const struct sock_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
}

static bool same_host(const struct sock_addr *a, const struct sock_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)&b->ss)->sin_addr.s_addr;
	return memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
		      &((const struct sockaddr_in6 *)&b->ss)->sin6_addr, sizeof(struct in6_addr)) == 0;
}

static bool is_listener_itself(const struct sock_addr *dst, const struct sock_addr *listen_addr)
{
	return port_of(dst) == port_of(listen_addr) &&
	       (is_any(listen_addr) || same_host(dst, listen_addr));
}

static int query_original_dst(int fd, int family, struct sock_addr *out)
{
	out->len = sizeof(out->ss);
	int rc = family == AF_INET6
		? getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &out->ss, &out->len)
		: getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &out->ss, &out->len);
	return rc < 0 ? -errno : 0;
}

int orig_dst_get(int fd, const struct sock_addr *listen_addr, bool use_original_dst,
		 struct sock_addr *out)
{
	struct sock_addr local = { .len = sizeof(local.ss) };
	if (getsockname(fd, (struct sockaddr *)&local.ss, &local.len) < 0)
		return -errno;
	if (use_original_dst && query_original_dst(fd, local.ss.ss_family, out) == 0 &&
	    !is_listener_itself(out, listen_addr))
		return 0;
	if (is_listener_itself(&local, listen_addr))
		return -ENOENT;
	*out = local;
	return 0;
}
