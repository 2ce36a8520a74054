/* One HTTP request through the proxy: route it, pick an endpoint, run the
 * attempt (and retries) through http_up.c, relay the response through
 * http_down.c, then count and log it. See http_internal.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/ssl.h>

#include "certs/tls_context.h"
#include "proxy/access_log.h"
#include "proxy/breakers.h"
#include "proxy/http_config.h"
#include "proxy/http_internal.h"
#include "proxy/istio_metrics.h"
#include "proxy/lb.h"
#include "proxy/log.h"
#include "proxy/retry_backoff.h"
#include "proxy/router.h"
#include "proxy/snapshot.h"

/* A fast generator for request ids and weighted picks; one per thread. */
static _Thread_local uint64_t rng_state;

static uint64_t rng_next(void)
{
	if (!rng_state) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		rng_state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)&ts;
		rng_state |= 1;
	}
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t unix_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct http_stream *http_stream_new(struct http_down *d)
{
	struct http_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->down = d;
	s->start_ms = s->last_active_ms = d->w->loop.now_ms;
	s->idle_timeout_ms = d->hcm->stream_idle_timeout_ms;
	if (d->hcm->request_timeout_ms)
		s->request_deadline_ms = s->start_ms + d->hcm->request_timeout_ms;
	s->host = -1;
	s->flags = "-";
	http_head_init(&s->req);
	http_head_init(&s->req_trailers);
	http_head_init(&s->resp);
	http_head_init(&s->resp_trailers);
	list_init(&s->wait_link);
	list_init(&s->backoff_link);
	list_init(&s->up_link);
	s->ws = d->w->snap;
	s->ws->sessions++;
	list_add_tail(&d->streams, &s->down_link);
	d->n_streams++;
	return s;
}

/* Envoy's x-request-id: a random UUID (version 4). */
/* A UUID v4 (RFC 9562 §5.4) as Envoy generates x-request-id; by hand, as
 * snprintf costs more than the rest of the request head's edits. */
static void make_request_id(char out[40])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[16];
	uint64_t a = rng_next(), b = rng_next();
	memcpy(r, &a, 8);
	memcpy(r + 8, &b, 8);
	r[6] = (uint8_t)((r[6] & 0x0f) | 0x40); /* version 4 */
	r[8] = (uint8_t)((r[8] & 0x3f) | 0x80); /* variant 10 */
	char *p = out;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = hex[r[i] >> 4];
		*p++ = hex[r[i] & 15];
	}
	*p = '\0';
}

static const char *status_reason(uint16_t status)
{
	switch (status) {
	case 200: return "OK";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

const char *http_status_reason(uint16_t status)
{
	return status_reason(status);
}

static void count_status(struct stats_scope *scope, uint16_t status)
{
	if (!scope || status < 100 || status > 599)
		return;
	static const enum stats_counter by_class[] = { STAT_RQ_1XX, STAT_RQ_2XX, STAT_RQ_3XX,
						       STAT_RQ_4XX, STAT_RQ_5XX };
	stats_add(scope, by_class[status / 100 - 1], 1);
}

/* Releases what the attempt holds in the cluster's circuit breakers. */
static void release_breakers(struct http_stream *s)
{
	if (!s->rt)
		return;
	if (s->counted_active) {
		breaker_release(s->cluster->stats_id, BREAKER_REQUESTS);
		s->counted_active = false;
		if (s->host >= 0 && (size_t)s->host < s->rt->n_hosts &&
		    s->rt->hosts[s->host].active_requests)
			s->rt->hosts[s->host].active_requests--;
	}
	if (s->counted_retry) {
		breaker_release(s->cluster->stats_id, BREAKER_RETRIES);
		s->counted_retry = false;
	}
}

/* Takes s out of what it waits in for its next attempt: a pool's queue for
 * a connection, or the worker's list of retry back-offs. */
static void stop_waiting(struct http_stream *s)
{
	http_up_unwait(s);
	if (list_linked(&s->backoff_link))
		list_del(&s->backoff_link);
}

void http_stream_local_reply(struct http_stream *s, uint16_t status, const char *flags,
			     const char *details, const char *body)
{
	struct http_down *d = s->down;
	if (s->up)
		http_up_detach(s, true);
	stop_waiting(s);
	release_breakers(s);
	s->flags = flags ? flags : "-";
	s->details = details;
	if (s->resp_head_sent) {
		/* Too late for a reply: the client already has a head. */
		s->reset = true;
		s->phase = PHASE_DONE;
		http_down_stream_abort(s);
		return;
	}
	http_head_clear(&s->resp);
	http_head_clear(&s->resp_trailers);
	bodyq_free(&s->respq, &d->w->bufs);
	s->resp.status = status;
	s->local_reply = true;
	size_t blen = body ? strlen(body) : 0;
	char len[24];
	snprintf(len, sizeof(len), "%zu", blen);
	if (http_head_add(&s->resp, "content-length", 14, len, strlen(len)) < 0 ||
	    (blen && http_head_add(&s->resp, "content-type", 12, "text/plain", 10) < 0) ||
	    (blen && bodyq_append(&s->respq, &d->w->bufs, body, blen) < 0)) {
		s->reset = true;
		s->phase = PHASE_DONE;
		http_down_stream_abort(s);
		return;
	}
	if (s->route && s->vh)
		router_edit_response(s->rc, s->vh, s->route, &s->resp);
	s->resp_bytes = blen;
	s->resp_end = true;
	s->resp_head_ready = true;
	s->phase = PHASE_RESPONDING;
	http_down_response_ready(s);
}

/* The route configuration this stream routes with: the HCM's inline one,
 * or the RDS one of that name in the newest snapshot this worker has (new
 * routes apply to new requests on existing connections). *current says
 * whether it lives in s->ws's snapshot (its cluster pointers are good). */
static const struct route_config *route_config_of(struct http_stream *s, bool *current)
{
	const struct http_conn_manager_config *hcm = s->down->hcm;
	const struct snapshot *snap = s->ws->snap;
	*current = s->down->ws == s->ws;
	if (!hcm->rds_name)
		return hcm->route_config;
	for (size_t i = 0; i < snap->n_route_configs; i++)
		if (strcmp(snap->route_configs[i].name, hcm->rds_name) == 0) {
			*current = true;
			return &snap->route_configs[i];
		}
	return hcm->route_config; /* as resolved when the listener was linked */
}

static void start_attempt(struct http_stream *s);

static bool retry_allowed(struct http_stream *s, uint32_t cls)
{
	const struct route *r = s->route;
	if (!r || !(r->retry.retry_on & cls) || s->attempts > r->retry.num_retries)
		return false;
	if (s->resp_head_sent || s->reset || !s->replayable || !s->req_end)
		return false;
	/* The stream's own retry, if this attempt is one, is about to end:
	 * only the others' count against the limit. */
	uint32_t id = s->cluster->stats_id;
	uint32_t others = breaker_count(id, BREAKER_RETRIES) - (s->counted_retry ? 1u : 0u);
	if (others >= circuit_breakers_retry_limit(&s->cluster->breakers,
						   breaker_count(id, BREAKER_REQUESTS))) {
		stats_add(stats_scope(s->down->w->index, s->cluster->stats_id), STAT_RQ_RETRY_OVERFLOW,
			  1);
		return false;
	}
	return true;
}

/* Puts the kept request body back for another attempt. */
static int rewind_request(struct http_stream *s)
{
	struct buf_pool *pool = &s->down->w->bufs;
	bodyq_free(&s->reqq, pool);
	for (struct buf *b = s->replay.head; b; b = b->next_free)
		if (bodyq_append(&s->reqq, pool, b->data + b->start, buf_len(b)) < 0)
			return -ENOMEM;
	s->req_sent_end = false;
	return 0;
}

static bool retry(struct http_stream *s)
{
	if (rewind_request(s) < 0)
		return false;
	struct stats_scope *cs = stats_scope(s->down->w->index, s->cluster->stats_id);
	stats_add(cs, STAT_RQ_RETRY, 1);
	release_breakers(s);
	/* Checked against the limit by retry_allowed just before: another
	 * worker's retry in between may take it one past, as in Envoy. */
	breaker_add(s->cluster->stats_id, BREAKER_RETRIES);
	s->counted_retry = true;
	http_head_clear(&s->resp);
	http_head_clear(&s->resp_trailers);
	bodyq_free(&s->respq, &s->down->w->bufs);
	s->resp_end = false;
	/* Not at once: the jittered wait keeps many clients' retries from
	 * hitting a struggling upstream together. */
	struct worker *w = s->down->w;
	s->try_deadline_ms = 0;
	s->retry_at_ms =
	    w->loop.now_ms + retry_back_off_ms(&s->route->retry, s->attempts, lb_random(s->rt));
	s->phase = PHASE_BACKOFF;
	stats_add(cs, STAT_RQ_RETRY_BACKOFF, 1);
	http_worker_backoff_add(w, s);
	return true;
}

void http_stream_backoff_done(struct http_stream *s)
{
	start_attempt(s);
}

static enum outlier_result outlier_class(uint16_t status)
{
	if (status == 502 || status == 503 || status == 504)
		return OUTLIER_GATEWAY_FAILURE;
	if (status >= 500)
		return OUTLIER_5XX;
	return OUTLIER_SUCCESS;
}

static void report_outlier(struct http_stream *s, enum outlier_result r)
{
	host_health_attempt(s->cluster, s->host, r, s->down->w->loop.now_ms, s->down->w->index);
}

void http_stream_upstream_failed(struct http_stream *s, const char *flag, const char *details)
{
	if (s->phase == PHASE_DONE)
		return;
	if (s->up)
		http_up_detach(s, true);
	bool timeout = strcmp(flag, "UT") == 0;
	if (s->phase != PHASE_BACKOFF) /* else no attempt is out: its host failed already */
		report_outlier(s, OUTLIER_CONNECT_FAILURE);
	uint32_t cls = strcmp(flag, "UF") == 0 ? RETRY_CONNECT_FAILURE | RETRY_5XX | RETRY_GATEWAY_ERROR
		       : timeout		? RETRY_5XX | RETRY_GATEWAY_ERROR
						: RETRY_RESET | RETRY_5XX | RETRY_GATEWAY_ERROR;
	if (strcmp(flag, "URS") == 0)
		cls = RETRY_REFUSED_STREAM | RETRY_RESET;
	if (retry_allowed(s, cls) && retry(s))
		return;
	if (s->route && s->route->retry.retry_on && s->attempts > s->route->retry.num_retries &&
	    s->attempts > 1)
		flag = strcmp(flag, "UT") == 0 ? "UT" : "URX";
	uint16_t status = timeout ? 504 : strcmp(flag, "UO") == 0 ? 503 : 503;
	if (strcmp(flag, "UPE") == 0)
		status = 502;
	const char *body = timeout ? "upstream request timeout"
			   : status == 502 ? "upstream protocol error"
					   : "upstream connect error or disconnect/reset before headers";
	http_stream_local_reply(s, status, flag, details, body);
}

static void reset_stream(struct http_stream *s, const char *flags, const char *details,
			 bool reset_upstream)
{
	if (s->phase == PHASE_DONE)
		return;
	s->flags = flags;
	s->details = details;
	if (s->up)
		http_up_detach(s, reset_upstream);
	stop_waiting(s);
	release_breakers(s);
	s->reset = true;
	s->phase = PHASE_DONE;
	http_down_stream_abort(s);
}

void http_stream_reset(struct http_stream *s, const char *flags, const char *details)
{
	reset_stream(s, flags, details, true);
}

void http_stream_upstream_reset(struct http_stream *s)
{
	/* The upstream ended its side already: nothing to reset there. */
	reset_stream(s, "UR", "upstream_reset_after_response_started", false);
}

static bool retriable_status(const struct http_stream *s, uint16_t status)
{
	const struct retry_policy *p = &s->route->retry;
	if ((p->retry_on & RETRY_5XX) && status >= 500)
		return true;
	if ((p->retry_on & RETRY_GATEWAY_ERROR) && (status == 502 || status == 503 || status == 504))
		return true;
	if (p->retry_on & RETRY_RETRIABLE_STATUS)
		for (size_t i = 0; i < p->n_retriable_status_codes; i++)
			if (p->retriable_status_codes[i] == status)
				return true;
	return false;
}

/* Headers that belong to one hop (RFC 9110 §7.6.1) and never cross us. */
static void strip_hop_by_hop(struct http_head *h)
{
	const struct http_field *c = http_head_get(h, "connection");
	if (c) {
		/* Fields the Connection header names are hop-by-hop too. */
		char list[256];
		size_t n = c->value.len < sizeof(list) - 1 ? c->value.len : sizeof(list) - 1;
		memcpy(list, c->value.p, n);
		list[n] = '\0';
		char *save = NULL;
		for (char *tok = strtok_r(list, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
			for (char *p = tok; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p + 32);
			if (strcmp(tok, "te") != 0)
				http_head_remove(h, tok);
		}
	}
	static const char *const hop[] = { "connection", "keep-alive", "proxy-connection",
					   "transfer-encoding", "upgrade", "http2-settings" };
	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		http_head_remove(h, hop[i]);
}

void http_stream_response_head(struct http_stream *s)
{
	if (s->phase == PHASE_DONE)
		return;
	uint16_t status = s->resp.status;
	http_stream_touch(s);
	if (s->first_byte_ms == 0)
		s->first_byte_ms = s->down->w->loop.now_ms;
	report_outlier(s, outlier_class(status));
	if (s->route && s->route->retry.retry_on && retriable_status(s, status)) {
		if (retry_allowed(s, RETRY_5XX | RETRY_GATEWAY_ERROR | RETRY_RETRIABLE_STATUS)) {
			http_up_detach(s, true);
			if (retry(s))
				return;
		}
		if (s->attempts > s->route->retry.num_retries)
			s->flags = "URX"; /* Envoy: the retry limit was what stopped it */
	}
	count_status(stats_scope(s->down->w->index, s->cluster->stats_id), status);
	if (!s->upgrade || status != 101)
		strip_hop_by_hop(&s->resp);
	if (s->route)
		router_edit_response(s->rc, s->vh, s->route, &s->resp);
	if (s->set_cookie) /* as Envoy's router: on the upstream's response only */
		http_head_add(&s->resp, "set-cookie", 10, s->set_cookie, strlen(s->set_cookie));
	s->resp_head_ready = true;
	s->phase = PHASE_RESPONDING;
	s->try_deadline_ms = 0;
	http_down_response_ready(s);
}

void http_stream_response_data(struct http_stream *s)
{
	if (s->phase == PHASE_DONE)
		return;
	http_stream_touch(s);
	if (s->resp_end) {
		/* The upstream is done with us: nothing more to time out. */
		s->deadline_ms = 0;
		release_breakers(s);
	}
	http_down_response_ready(s);
}

void http_stream_upstream_attached(struct http_stream *s)
{
	s->phase = PHASE_UPSTREAM;
	/* Counted once a connection takes the request, as Envoy's
	 * upstream_rq_total: a failed connect sent no request. */
	stats_add(stats_scope(s->down->w->index, s->cluster->stats_id), STAT_RQ_TOTAL, 1);
	const char *peer = s->up ? s->up->peer_id : NULL;
	if (peer && (!s->up_peer || strcmp(s->up_peer, peer) != 0)) {
		free(s->up_peer);
		s->up_peer = strdup(peer); /* the connection may go before the log line */
	}
}

static bool tried_before(const struct http_stream *s, int host)
{
	uint32_t n = s->n_tried < STREAM_TRIED_HOSTS ? s->n_tried : STREAM_TRIED_HOSTS;
	for (uint32_t i = 0; i < n; i++)
		if (s->tried_hosts[i] == host)
			return true;
	return false;
}

/* lb_pick, picked again up to host_selection_retry_max_attempts times
 * (default 1) while it gives a host this request already tried, when the
 * route's retries avoid previous hosts; the last pick stands, as in Envoy
 * (a one-host cluster, a ring's run of one host). */
static int pick_host(struct http_stream *s, bool has_hash, uint64_t hash)
{
	uint64_t now = s->down->w->loop.now_ms;
	int host = lb_pick(s->rt, now, has_hash, hash);
	const struct retry_policy *p = s->route ? &s->route->retry : NULL;
	if (!p || !p->previous_hosts || host < 0)
		return host;
	uint32_t again = p->host_selection_max_attempts ? p->host_selection_max_attempts : 1;
	for (uint32_t i = 0; i < again && tried_before(s, host); i++)
		host = lb_pick_again(s->rt, now, has_hash, hash, i + 1);
	s->tried_hosts[s->n_tried++ % STREAM_TRIED_HOSTS] = host;
	return host;
}

/* Picks an endpoint and starts an attempt on it. */
static void start_attempt(struct http_stream *s)
{
	struct worker *w = s->down->w;
	const struct cluster *c = s->cluster;
	struct cluster_rt *rt = s->rt;
	int host = -1;
	if (c->type == CLUSTER_ORIGINAL_DST) {
		/* The host is where the client was going. A client that dialled
		 * the listener itself has no such place: forwarding would loop
		 * back here (tcp_proxy refuses it the same way). */
		if (!(s->dst = http_down_original_dst(s->down))) {
			stats_add(s->down->lstats, STAT_NO_DESTINATION, 1);
			return http_stream_local_reply(s, 503, "UH", "no_original_destination",
						       "no original destination");
		}
	} else {
		uint64_t hash = 0;
		struct hash_context hc = { &s->down->peer, &s->down->local, NULL };
		bool has_hash = s->route && router_request_hash(s->route, &s->req, &hc, &hash) == 0;
		if (hc.set_cookie) { /* each attempt makes the same one */
			free(s->set_cookie);
			s->set_cookie = hc.set_cookie;
		}
		if (c->n_endpoints == 0 || (host = pick_host(s, has_hash, hash)) < 0) {
			stats_add(stats_scope(w->index, c->stats_id), STAT_RQ_NO_HEALTHY, 1);
			return http_stream_local_reply(s, 503, "UH", "no_healthy_upstream",
						       "no healthy upstream");
		}
	}
	/* After the pick, as Envoy's connection pool counts a request once
	 * the router has a host for it. */
	if (!breaker_acquire(c->stats_id, BREAKER_REQUESTS, c->breakers.max_requests)) {
		stats_add(stats_scope(w->index, c->stats_id), STAT_RQ_PENDING_OVERFLOW, 1);
		return http_stream_local_reply(s, 503, "UO", "upstream_max_requests_overflow",
					       "upstream connect error or disconnect/reset before headers. reset reason: overflow");
	}
	s->host = host;
	s->attempts++;
	if (host >= 0)
		rt->hosts[host].active_requests++;
	s->counted_active = true;
	s->upstream_start_ms = w->loop.now_ms;
	uint32_t per_try = s->route ? s->route->retry.per_try_timeout_ms : 0;
	s->try_deadline_ms = per_try ? w->loop.now_ms + per_try : 0;
	s->phase = PHASE_WAIT_UPSTREAM;
	const char *flag = http_up_start(s, (size_t)host);
	if (flag) {
		if (strcmp(flag, "UO") == 0)
			return http_stream_local_reply(s, 503, "UO", "upstream_max_pending_overflow",
						       "upstream connect error or disconnect/reset before headers. reset reason: overflow");
		return http_stream_upstream_failed(s, flag, "upstream_connect_failed");
	}
}

static int add_forwarding_headers(struct http_stream *s)
{
	struct http_down *d = s->down;
	const char *proto = d->s.t.ssl ? "https" : "http";
	if (!s->req.scheme.p && http_head_set_pseudo(&s->req, &s->req.scheme, proto, strlen(proto)) < 0)
		return -ENOMEM;
	if (http_head_set(&s->req, "x-forwarded-proto", proto, strlen(proto)) < 0)
		return -ENOMEM;
	const struct http_field *rid = http_head_get(&s->req, "x-request-id");
	if (rid) {
		size_t n = rid->value.len < sizeof(s->request_id) - 1 ? rid->value.len
								     : sizeof(s->request_id) - 1;
		memcpy(s->request_id, rid->value.p, n);
		s->request_id[n] = '\0';
	} else if (d->hcm->generate_request_id) {
		make_request_id(s->request_id);
		if (http_head_add(&s->req, "x-request-id", 12, s->request_id, strlen(s->request_id)) < 0)
			return -ENOMEM;
	}
	/* The peer's identity, as Envoy's forward_client_cert_details
	 * SANITIZE_SET puts it: the app learns who called, and a client cannot
	 * claim an identity it does not have. */
	http_head_remove(&s->req, "x-forwarded-client-cert");
	if (d->peer_id) {
		char xfcc[300];
		int n = snprintf(xfcc, sizeof(xfcc), "URI=%s", d->peer_id);
		if (n > 0 && (size_t)n < sizeof(xfcc) &&
		    http_head_add(&s->req, "x-forwarded-client-cert", 23, xfcc, (size_t)n) < 0)
			return -ENOMEM;
	}
	return 0;
}

void http_stream_request_head(struct http_stream *s)
{
	struct http_down *d = s->down;
	struct worker *w = d->w;
	if (s->phase != PHASE_REQUEST_HEAD)
		return; /* answered already (a timeout while the head came in) */
	s->req_head_done = true;
	http_stream_touch(s);
	stats_add(d->lstats, STAT_RQ_TOTAL, 1);
	s->orig_path = s->req.path.p ? strdup(s->req.path.p) : NULL;
	if (s->upgrade) {
		/* Upgrade is hop-by-hop, but the next hop must be asked for the
		 * same protocol: keep its value for the upstream request. */
		const struct http_field *up = http_head_get(&s->req, "upgrade");
		s->upgrade_proto = up ? strdup(up->value.p) : NULL;
		if (!s->upgrade_proto)
			s->upgrade = false;
	}
	s->deadline_ms = 0;
	if (add_forwarding_headers(s) < 0)
		return http_stream_local_reply(s, 503, "-", "out_of_memory", NULL);
	bool current;
	s->rc = route_config_of(s, &current);
	if (!s->rc || !(s->vh = router_vhost(s->rc, &s->req)) ||
	    !(s->route = router_route(s->vh, &s->req))) {
		stats_add(d->lstats, STAT_RQ_NO_ROUTE, 1);
		return http_stream_local_reply(s, 404, "NR", "route_not_found", NULL);
	}
	const struct route *r = s->route;
	const struct http_conn_manager_config *hcm = d->hcm;
	if ((s->upgrade && !(hcm->upgrade_websocket && s->upgrade_proto &&
			     strcasecmp(s->upgrade_proto, "websocket") == 0)) ||
	    (s->connect && !hcm->upgrade_connect)) {
		/* An upgrade the listener was not configured for (Envoy's
		 * upgrade_configs): refused, as Envoy does. */
		s->upgrade = s->connect = false;
		return http_stream_local_reply(s, 403, "-", "upgrade_failed", NULL);
	}
	if (r->kind == ROUTE_DIRECT_RESPONSE)
		return http_stream_local_reply(s, r->direct_status, "-", "direct_response",
					       r->direct_body);
	if (r->kind == ROUTE_REDIRECT) {
		char *loc = router_redirect_location(r, &s->req);
		if (!loc)
			return http_stream_local_reply(s, 503, "-", "out_of_memory", NULL);
		http_stream_local_reply(s, r->redirect_code, "-", "direct_response", NULL);
		if (!s->reset && http_head_add(&s->resp, "location", 8, loc, strlen(loc)) < 0)
			s->reset = true;
		free(loc);
		return;
	}
	s->cluster = router_pick_cluster(r, (uint32_t)rng_next(), &s->cluster_name);
	if (!current && s->cluster_name)
		/* A route of an older snapshot: its cluster as it is now. */
		s->cluster = snapshot_find_cluster(s->ws->snap, s->cluster_name);
	if (!s->cluster) {
		stats_add(d->lstats, STAT_RQ_NO_CLUSTER, 1);
		return http_stream_local_reply(s, 503, "NC", "cluster_not_found", NULL);
	}
	if (router_edit_request(s->rc, s->vh, r, &s->req) < 0)
		return http_stream_local_reply(s, 503, "-", "out_of_memory", NULL);
	strip_hop_by_hop(&s->req);
	s->rt = cluster_rt_get(&w->clusters, s->cluster);
	if (!s->rt)
		return http_stream_local_reply(s, 503, "-", "out_of_memory", NULL);
	s->replayable = r->retry.retry_on != 0 && !s->upgrade && !s->connect;
	if (r->has_idle_timeout) /* 0s: no idle timeout on this route */
		s->idle_timeout_ms = r->idle_timeout_ms;
	if (r->timeout_ms && !s->upgrade && !s->connect)
		s->deadline_ms = w->loop.now_ms + r->timeout_ms;
	start_attempt(s);
}

void http_stream_request_data(struct http_stream *s)
{
	http_stream_touch(s);
	if (s->up && s->phase != PHASE_DONE)
		http_up_request_ready(s);
}

void http_stream_downstream_reset(struct http_stream *s)
{
	if (s->phase == PHASE_DONE)
		return;
	s->reset = true;
	if (strcmp(s->flags, "-") == 0)
		s->flags = "DC";
	if (!s->details)
		s->details = "downstream_remote_disconnect";
	if (s->up)
		http_up_detach(s, true);
	stop_waiting(s);
	release_breakers(s);
	s->phase = PHASE_DONE;
}

enum stream_timeout http_stream_due_timeout(const struct http_stream *s, uint64_t now)
{
	if (s->phase == PHASE_DONE || s->resp_sent_end)
		return STREAM_TIMEOUT_NONE;
	/* Envoy disarms request_timeout once the request is whole or the
	 * response has begun (an upgrade's 101 included). */
	if (s->request_deadline_ms && now >= s->request_deadline_ms && !s->req_end &&
	    !s->resp_head_ready)
		return STREAM_TIMEOUT_REQUEST;
	bool upstream_owes = s->phase == PHASE_WAIT_UPSTREAM || s->phase == PHASE_UPSTREAM ||
			     s->phase == PHASE_BACKOFF ||
			     (s->phase == PHASE_RESPONDING && !s->resp_end && !s->local_reply);
	if (upstream_owes && s->deadline_ms && now >= s->deadline_ms)
		return STREAM_TIMEOUT_ROUTE;
	if (upstream_owes && s->try_deadline_ms && now >= s->try_deadline_ms && !s->resp_head_ready)
		return STREAM_TIMEOUT_PER_TRY;
	if (s->idle_timeout_ms && now - s->last_active_ms >= s->idle_timeout_ms)
		return STREAM_TIMEOUT_IDLE;
	return STREAM_TIMEOUT_NONE;
}

/* Ends s for a timeout of the downstream side: a local reply, or a reset
 * when a reply can no longer be given. */
static void end_on_timeout(struct http_stream *s, uint16_t status, const char *flags,
			   const char *details, const char *body)
{
	struct http_down *d = s->down;
	if (!s->req_head_done) {
		/* Counted and logged like any request that got an answer. */
		s->req_head_done = true;
		stats_add(d->lstats, STAT_RQ_TOTAL, 1);
		if (d->proto == HTTP_PROTO_H2)
			/* nghttp2 answers no stream whose header block is unfinished */
			return http_stream_reset(s, flags, details);
	}
	if (s->local_reply)
		/* Its own answer is what did not move: another would not either. */
		return http_stream_reset(s, flags, details);
	if (d->proto == HTTP_PROTO_H1 && !s->req_end)
		/* The rest of the request will not be read: say the connection
		 * ends with this answer (RFC 9110 §15.5.9). */
		d->h1_close = true;
	http_stream_local_reply(s, status, flags, details, body);
}

bool http_stream_check_timeouts(struct http_stream *s, uint64_t now)
{
	struct http_down *d = s->down;
	switch (http_stream_due_timeout(s, now)) {
	case STREAM_TIMEOUT_NONE:
		return true;
	case STREAM_TIMEOUT_REQUEST:
		/* Envoy's request_timeout: 408, no response flag. */
		stats_add(d->lstats, STAT_RQ_TIMEOUT, 1);
		end_on_timeout(s, 408, "-", "request_overall_timeout", "request timeout");
		return false;
	case STREAM_TIMEOUT_ROUTE:
		stats_add(stats_scope(d->w->index, s->cluster->stats_id), STAT_RQ_TIMEOUT, 1);
		if (s->resp_head_sent) {
			http_stream_reset(s, "UT", "upstream_response_timeout");
			return false;
		}
		s->replayable = false; /* no retry after the route's own timeout */
		http_stream_upstream_failed(s, "UT", "upstream_response_timeout");
		return false;
	case STREAM_TIMEOUT_PER_TRY:
		stats_add(stats_scope(d->w->index, s->cluster->stats_id), STAT_RQ_PER_TRY_TIMEOUT, 1);
		s->try_deadline_ms = 0;
		http_stream_upstream_failed(s, "UT", "upstream_per_try_timeout");
		return false;
	case STREAM_TIMEOUT_IDLE:
		/* Envoy: 504 once the whole request is in (the wait is on the
		 * upstream), 408 before; a reset once the response has begun. */
		stats_add(d->lstats, STAT_RQ_IDLE_TIMEOUT, 1);
		end_on_timeout(s, s->req_end ? 504 : 408, "SI", "stream_idle_timeout", "stream timeout");
		return false;
	}
	return true;
}

static bool is_grpc(const struct http_head *req)
{
	const struct http_field *ct = http_head_get(req, "content-type");
	return ct && ct->value.len >= 16 && strncmp(ct->value.p, "application/grpc", 16) == 0;
}

static const char *our_identity(const struct http_stream *s, bool inbound)
{
	const struct tls_config *tls = inbound ? s->down->chain->tls : s->cluster ? s->cluster->tls : NULL;
	return tls && tls->identity ? tls->identity->spiffe_id : NULL;
}

static void account(struct http_stream *s)
{
	struct http_down *d = s->down;
	struct worker *w = d->w;
	uint16_t code = s->resp_head_sent ? s->resp.status : 0;
	count_status(d->lstats, code);
	if (s->reset)
		stats_add(d->lstats, STAT_RQ_RESET, 1);
	bool inbound = d->listener->direction == DIRECTION_INBOUND;
	const struct http_field *gs = http_head_get(&s->resp_trailers, "grpc-status");
	if (!gs)
		gs = http_head_get(&s->resp, "grpc-status");
	const char *upstream_peer = s->up_peer;
	struct istio_http_labels l = {
		.inbound = inbound,
		.source_principal = inbound ? d->peer_id : our_identity(s, false),
		.destination_principal = inbound ? our_identity(s, true) : upstream_peer,
		.destination_service = s->cluster_name,
		.mutual_tls = inbound ? d->peer_id != NULL : upstream_peer != NULL,
		.request_protocol = is_grpc(&s->req) ? "grpc" : "http",
		.response_code = code,
		.grpc_status = gs ? gs->value.p : NULL,
		.response_flags = s->flags,
	};
	uint64_t duration = w->loop.now_ms - s->start_ms;
	istio_request_done(w->index, &l, duration, s->req_bytes, s->resp_bytes);
	const char *path = d->hcm->access_log.path;
	if (!path)
		return;
	const struct http_field *ua = http_head_get(&s->req, "user-agent");
	const struct http_field *xff = http_head_get(&s->req, "x-forwarded-for");
	struct http_request_record rec = {
		.connection_id = d->id,
		.start_unix_ms = unix_ms() - duration,
		.duration_ms = duration,
		.upstream_service_time_ms = s->first_byte_ms && !s->local_reply
						    ? s->first_byte_ms - s->upstream_start_ms
						    : UINT64_MAX,
		.bytes_received = s->req_bytes,
		.bytes_sent = s->resp_bytes,
		.method = s->req.method.p,
		.path = s->orig_path,
		.authority = s->req.authority.p,
		.protocol = d->proto == HTTP_PROTO_H2 ? "HTTP/2" : s->h1_version_10 ? "HTTP/1.0" : "HTTP/1.1",
		.user_agent = ua ? ua->value.p : NULL,
		.request_id = s->request_id[0] ? s->request_id : NULL,
		.x_forwarded_for = xff ? xff->value.p : NULL,
		.response_code = code,
		.response_flags = s->flags,
		.response_code_details = s->details ? s->details : s->local_reply ? "local_reply" : "via_upstream",
		.listener = d->listener->name,
		.route_name = s->route ? s->route->name : NULL,
		.cluster = s->cluster_name,
		.upstream_host = s->dst && s->attempts ? s->dst
				 : s->host >= 0 && s->cluster && (size_t)s->host < s->cluster->n_endpoints
					 ? &s->cluster->endpoints[s->host].addr
					 : NULL,
		.downstream_remote = &d->peer,
		.downstream_local = &d->local,
		.peer_principal = d->peer_id,
		.upstream_peer_principal = upstream_peer,
		.attempts = s->attempts,
	};
	access_log_http(&w->logs, access_log_open(&w->logs, path), &rec);
}

void http_stream_finish(struct http_stream *s)
{
	struct http_down *d = s->down;
	struct buf_pool *pool = &d->w->bufs;
	if (s->up)
		http_up_detach(s, !s->resp_end);
	stop_waiting(s);
	release_breakers(s);
	if (s->req_head_done && !s->logged) {
		s->logged = true;
		account(s);
	}
	list_del(&s->down_link);
	d->n_streams--;
	bodyq_free(&s->reqq, pool);
	bodyq_free(&s->replay, pool);
	bodyq_free(&s->respq, pool);
	http_head_clear(&s->req);
	http_head_clear(&s->req_trailers);
	http_head_clear(&s->resp);
	http_head_clear(&s->resp_trailers);
	free(s->orig_path);
	free(s->upgrade_proto);
	free(s->up_peer);
	free(s->set_cookie);
	worker_snap_release(d->w, s->ws);
	free(s);
}
