/* nghttp2 limits; see h2_limits.h. */
#include "proxy/h2_limits.h"

#include <errno.h>

#include "h2_features.h"

int h2_options_new(nghttp2_option **out, const struct http2_limits *l)
{
	nghttp2_option *o;
	if (nghttp2_option_new(&o) != 0)
		return -ENOMEM;
	nghttp2_option_set_no_auto_window_update(o, 1);
	/* Control frames queued toward a peer that does not read (PING and
	 * SETTINGS floods answered with ACKs nobody takes, RST_STREAMs): past
	 * the limit nghttp2_session_mem_recv fails with NGHTTP2_ERR_FLOODED. */
	nghttp2_option_set_max_outbound_ack(o, l->max_outbound_control_frames);
	nghttp2_option_set_max_send_header_block_length(o, 64 * 1024);
	nghttp2_option_set_max_deflate_dynamic_table_size(o, 4096);
#ifdef HAVE_NGHTTP2_STREAM_RESET_RATE_LIMIT
	nghttp2_option_set_stream_reset_rate_limit(o, l->stream_reset_burst, l->stream_reset_rate);
#endif
#ifdef HAVE_NGHTTP2_MAX_CONTINUATIONS
	nghttp2_option_set_max_continuations(o, l->max_continuations);
#endif
#ifdef HAVE_NGHTTP2_MAX_SETTINGS
	nghttp2_option_set_max_settings(o, l->max_settings);
#endif
	*out = o;
	return 0;
}

int h2_submit_settings(nghttp2_session *h2, const struct http2_limits *l, bool server)
{
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, l->max_concurrent_streams },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, l->initial_stream_window_size },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, l->max_header_list_bytes },
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
	};
	/* A server must not send ENABLE_PUSH... it may, but only 0 is allowed
	 * from a client to mean "do not push"; a server sending it is legal
	 * yet pointless, so only clients do. */
	int rv = nghttp2_submit_settings(h2, NGHTTP2_FLAG_NONE, iv, server ? 3 : 4);
	if (rv)
		return rv;
	return nghttp2_session_set_local_window_size(h2, NGHTTP2_FLAG_NONE, 0,
						     (int32_t)l->initial_connection_window_size);
}
