/* HTTP configuration defaults; see http_config.h. */
#include "proxy/http_config.h"

void http2_limits_default(struct http2_limits *l)
{
	*l = (struct http2_limits){
		.max_concurrent_streams = 100,
		.initial_stream_window_size = 1u << 20,
		.initial_connection_window_size = 4u << 20,
		.max_header_list_bytes = 60u << 10,
		.max_headers_count = 100,
		.max_outbound_frames = 10000,
		.max_outbound_control_frames = 1000,
		.max_consecutive_empty_frames = 1,
		.stream_reset_burst = 1000,
		.stream_reset_rate = 33,
		.max_continuations = 8,
		.max_settings = 32,
		.max_server_resets = 100,
	};
}

void http_conn_manager_defaults(struct http_conn_manager_config *h)
{
	h->codec = HTTP_CODEC_AUTO;
	h->max_request_headers_kb = 60;
	h->max_headers_count = 100;
	h->idle_timeout_ms = 3600000;
	h->stream_idle_timeout_ms = 300000;
	h->request_timeout_ms = 0;
	h->drain_timeout_ms = 5000;
	h->generate_request_id = true;
	http2_limits_default(&h->http2);
}

void http_conn_manager_finish(struct http_conn_manager_config *h)
{
	h->http2.max_header_list_bytes = h->max_request_headers_kb * 1024u;
	h->http2.max_headers_count = h->max_headers_count;
}

uint32_t circuit_breakers_retry_limit(const struct circuit_breakers *b, uint32_t active_requests)
{
	if (!b->has_retry_budget)
		return b->max_retries;
	double budget = b->retry_budget_percent * active_requests / 100.0;
	return budget > b->min_retry_concurrency ? (uint32_t)budget : b->min_retry_concurrency;
}

void cluster_http_defaults(struct cluster *c)
{
	c->protocol = UPSTREAM_HTTP1;
	http2_limits_default(&c->http2);
	c->breakers = (struct circuit_breakers){
		.max_connections = 1024,
		.max_pending_requests = 1024,
		.max_requests = 1024,
		.max_retries = 3,
		.retry_budget_percent = 20.0,
		.min_retry_concurrency = 3,
	};
	c->outlier = (struct outlier_detection){
		.enabled = false,
		.consecutive_5xx = 5,
		.consecutive_gateway_failure = 5,
		.interval_ms = 10000,
		.base_ejection_time_ms = 30000,
		.max_ejection_time_ms = 300000,
		.max_ejection_percent = 10,
	};
	c->ring_hash_min_size = 1024;
	c->maglev_table_size = 65537;
	c->max_requests_per_connection = 0;
	c->idle_timeout_ms = 3600000;
}

void route_defaults(struct route *r)
{
	r->match.kind = PATH_PREFIX;
	r->match.case_sensitive = true;
	r->timeout_ms = HTTP_ROUTE_TIMEOUT_MS;
	r->retry.num_retries = 1;
	r->redirect_code = HTTP_REDIRECT_CODE;
}
