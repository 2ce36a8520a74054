/* IP literals plus a port, as config and logs spell them ("10.0.0.1:80",
 * "[::1]:80"). No name resolution: the data plane never blocks on DNS. */
#ifndef SKIFF_PROXY_SOCK_ADDR_H
#define SKIFF_PROXY_SOCK_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proxy/config.h"

/* Longest sock_addr_format output, NUL included: "[" v6 "]:" 65535. */
#define SOCK_ADDR_STRLEN 56

/* Fills *out from an IPv4 or IPv6 literal and a port. Returns 0; -EINVAL if
 * `ip` is not an IP literal (names, scope ids, spaces); -ERANGE if port >
 * 65535. *out is untouched on error. */
int sock_addr_parse(const char *ip, uint32_t port, struct sock_addr *out);

/* Writes "1.2.3.4:80" or "[::1]:80" into buf (always NUL-terminated when len
 * > 0; SOCK_ADDR_STRLEN is always enough). Returns buf. */
char *sock_addr_format(const struct sock_addr *addr, char *buf, size_t len);

/* Writes only the IP ("1.2.3.4", "::1") into buf; returns buf. */
char *sock_addr_format_ip(const struct sock_addr *addr, char *buf, size_t len);

/* The port in host order. */
uint16_t sock_addr_port(const struct sock_addr *addr);

/* True when both are the same family, IP and port. */
bool sock_addr_equal(const struct sock_addr *a, const struct sock_addr *b);

#endif
