/* IP literal + port <-> struct sock_addr; see sock_addr.h. */
#include "proxy/sock_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

int sock_addr_parse(const char *ip, uint32_t port, struct sock_addr *out)
{
	struct sock_addr a;
	memset(&a, 0, sizeof(a));
	if (!ip)
		return -EINVAL;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a.ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.ss;
	/* inet_pton(AF_INET) takes only dotted quads, so "10.1" or "0x7f.1"
	 * (which inet_aton would accept) are refused as they are in Envoy. */
	if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		a.len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		a.len = sizeof(*in6);
	} else {
		return -EINVAL;
	}
	if (port > 65535)
		return -ERANGE;
	if (a.ss.ss_family == AF_INET)
		in4->sin_port = htons((uint16_t)port);
	else
		in6->sin6_port = htons((uint16_t)port);
	*out = a;
	return 0;
}

char *sock_addr_format_ip(const struct sock_addr *addr, char *buf, size_t len)
{
	const void *src = NULL;
	if (addr->ss.ss_family == AF_INET)
		src = &((const struct sockaddr_in *)&addr->ss)->sin_addr;
	else if (addr->ss.ss_family == AF_INET6)
		src = &((const struct sockaddr_in6 *)&addr->ss)->sin6_addr;
	if (len > 0 && (!src || !inet_ntop(addr->ss.ss_family, src, buf, (socklen_t)len)))
		snprintf(buf, len, "%s", src ? "?" : "(none)");
	return buf;
}

uint16_t sock_addr_port(const struct sock_addr *addr)
{
	if (addr->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&addr->ss)->sin_port);
	if (addr->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&addr->ss)->sin6_port);
	return 0;
}

char *sock_addr_format(const struct sock_addr *addr, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	sock_addr_format_ip(addr, ip, sizeof(ip));
	if (addr->ss.ss_family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", ip, sock_addr_port(addr));
	else
		snprintf(buf, len, "%s:%u", ip, sock_addr_port(addr));
	return buf;
}

bool sock_addr_equal(const struct sock_addr *a, const struct sock_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}
