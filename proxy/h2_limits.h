/* nghttp2 sessions with skiff's HTTP/2 limits: the SETTINGS we announce
 * and the flood protections HARDENING.md asks for, the same for the server
 * side (downstream) and the client side (upstream). */
#ifndef SKIFF_PROXY_H2_LIMITS_H
#define SKIFF_PROXY_H2_LIMITS_H

#include <nghttp2/nghttp2.h>

#include "proxy/config.h"

/* An nghttp2_option with l's limits and manual window updates (the proxy
 * returns window only as the other side takes bytes). Returns 0 or
 * -ENOMEM; the caller frees it with nghttp2_option_del. */
int h2_options_new(nghttp2_option **out, const struct http2_limits *l);

/* Queues our SETTINGS (max concurrent streams, windows, header list size,
 * no server push) and the connection window. Returns 0 or an nghttp2 error. */
int h2_submit_settings(nghttp2_session *h2, const struct http2_limits *l, bool server);

#endif
