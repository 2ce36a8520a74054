/* Tests proxy/h2_limits.c against real nghttp2 sessions: one of ours (made
 * with h2_options_new and h2_submit_settings) and a plain nghttp2 peer,
 * wired back to back in memory. What the peer receives is what a real
 * client or server would see: our SETTINGS values, our connection window,
 * and window returned only when we consume bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "h2_features.h"
#include "proxy/h2_limits.h"
#include "proxy/http_config.h"

#define MAX_IV 16

/* What one session saw of the other. */
struct side {
	nghttp2_session *s;
	nghttp2_settings_entry iv[MAX_IV]; /* the last non-ACK SETTINGS received */
	size_t niv;
	unsigned settings_frames;
	bool goaway;
	uint32_t goaway_error;
	uint64_t data_bytes; /* DATA payload received */
	int32_t last_stream;
};

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
	(void)s;
	struct side *me = user;
	if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK)) {
		me->settings_frames++;
		me->niv = f->settings.niv < MAX_IV ? f->settings.niv : MAX_IV;
		if (me->niv)
			memcpy(me->iv, f->settings.iv, me->niv * sizeof(me->iv[0]));
	} else if (f->hd.type == NGHTTP2_GOAWAY) {
		me->goaway = true;
		me->goaway_error = f->goaway.error_code;
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *user)
{
	(void)s;
	(void)flags;
	(void)data;
	struct side *me = user;
	me->data_bytes += len;
	me->last_stream = id;
	return 0;
}

static nghttp2_session_callbacks *callbacks(void)
{
	nghttp2_session_callbacks *cb;
	assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	return cb;
}

/* Our session, made the way http_down.c (server) and http_up.c (client)
 * make theirs. */
static void ours_new(struct side *me, const struct http2_limits *l, bool server)
{
	nghttp2_option *opt;
	assert_int_equal(h2_options_new(&opt, l), 0);
	nghttp2_session_callbacks *cb = callbacks();
	int rc = server ? nghttp2_session_server_new2(&me->s, cb, me, opt)
			: nghttp2_session_client_new2(&me->s, cb, me, opt);
	assert_int_equal(rc, 0);
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	assert_int_equal(h2_submit_settings(me->s, l, server), 0);
}

/* A peer with nghttp2's defaults, announcing empty SETTINGS. */
static void peer_new(struct side *me, bool server)
{
	nghttp2_session_callbacks *cb = callbacks();
	int rc = server ? nghttp2_session_server_new(&me->s, cb, me)
			: nghttp2_session_client_new(&me->s, cb, me);
	assert_int_equal(rc, 0);
	nghttp2_session_callbacks_del(cb);
	assert_int_equal(nghttp2_submit_settings(me->s, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

/* Moves what from has to send into to; returns the bytes moved. */
static size_t flow(struct side *from, struct side *to)
{
	size_t moved = 0;
	for (;;) {
		const uint8_t *p;
		ssize_t n = nghttp2_session_mem_send(from->s, &p);
		assert_true(n >= 0);
		if (n == 0)
			return moved;
		ssize_t r = nghttp2_session_mem_recv(to->s, p, (size_t)n);
		assert_int_equal(r, n);
		moved += (size_t)n;
	}
}

/* Exchanges frames until neither side has anything left to say. */
static void pump(struct side *a, struct side *b)
{
	for (int i = 0; i < 100; i++)
		if (flow(a, b) + flow(b, a) == 0)
			return;
	fail_msg("the sessions never went quiet");
}

static uint32_t received(const struct side *me, int32_t id, bool *found)
{
	*found = false;
	for (size_t i = 0; i < me->niv; i++)
		if (me->iv[i].settings_id == id) {
			*found = true;
			return me->iv[i].value;
		}
	return 0;
}

static void test_limits(struct http2_limits *l)
{
	http2_limits_default(l);
	/* Values that are nobody's default, so a dropped entry shows. */
	l->max_concurrent_streams = 7;
	l->initial_stream_window_size = 300000;
	l->initial_connection_window_size = 262144;
	l->max_header_list_bytes = 12345;
}

static void sides_free(struct side *a, struct side *b)
{
	nghttp2_session_del(a->s);
	nghttp2_session_del(b->s);
}

static void test_server_settings_reach_the_client(void **state)
{
	(void)state;
	struct http2_limits l;
	test_limits(&l);
	struct side srv = {0}, cli = {0};
	ours_new(&srv, &l, true);
	peer_new(&cli, false);
	pump(&cli, &srv);

	assert_int_equal(cli.settings_frames, 1);
	assert_int_equal(cli.niv, 3);
	bool found;
	assert_int_equal(received(&cli, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, &found), 7);
	assert_true(found);
	assert_int_equal(received(&cli, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, &found), 300000);
	assert_true(found);
	assert_int_equal(received(&cli, NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, &found), 12345);
	assert_true(found);
	/* ENABLE_PUSH is a client's setting (RFC 9113 §6.5.2). */
	received(&cli, NGHTTP2_SETTINGS_ENABLE_PUSH, &found);
	assert_false(found);
	assert_int_equal(
	    nghttp2_session_get_remote_settings(cli.s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 7);
	assert_int_equal(
	    nghttp2_session_get_remote_settings(cli.s, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE),
	    300000);

	/* The connection window: what the client may send us before any
	 * WINDOW_UPDATE, and what we believe we offered. */
	assert_int_equal(nghttp2_session_get_remote_window_size(cli.s), 262144);
	assert_int_equal(nghttp2_session_get_local_window_size(srv.s), 262144);
	/* The client acknowledged: the values are now in force on our side. */
	assert_int_equal(
	    nghttp2_session_get_local_settings(srv.s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS), 7);
	assert_int_equal(
	    nghttp2_session_get_local_settings(srv.s, NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE),
	    12345);
	assert_false(cli.goaway);
	assert_false(srv.goaway);
	sides_free(&srv, &cli);
}

static void test_client_settings_reach_the_server(void **state)
{
	(void)state;
	struct http2_limits l;
	test_limits(&l);
	l.initial_connection_window_size = 8u << 20;
	struct side cli = {0}, srv = {0};
	ours_new(&cli, &l, false);
	peer_new(&srv, true);
	pump(&cli, &srv);

	assert_int_equal(srv.settings_frames, 1);
	assert_int_equal(srv.niv, 4);
	bool found;
	assert_int_equal(received(&srv, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, &found), 7);
	assert_true(found);
	assert_int_equal(received(&srv, NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, &found), 300000);
	assert_true(found);
	assert_int_equal(received(&srv, NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, &found), 12345);
	assert_true(found);
	/* No server push toward the proxy. */
	assert_int_equal(received(&srv, NGHTTP2_SETTINGS_ENABLE_PUSH, &found), 0);
	assert_true(found);
	assert_int_equal(nghttp2_session_get_remote_settings(srv.s, NGHTTP2_SETTINGS_ENABLE_PUSH),
			 0);
	assert_int_equal(nghttp2_session_get_remote_window_size(srv.s), 8 << 20);
	assert_int_equal(nghttp2_session_get_local_window_size(cli.s), 8 << 20);
	assert_false(srv.goaway);
	sides_free(&cli, &srv);
}

struct body {
	size_t len, off;
};

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *user)
{
	(void)s;
	(void)id;
	(void)user;
	struct body *b = src->ptr;
	size_t n = b->len - b->off < len ? b->len - b->off : len;
	memset(buf, 'x', n);
	b->off += n;
	if (b->off == b->len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* The request body is received but not consumed: no WINDOW_UPDATE goes
 * back, so the client's windows stay spent (nghttp2 on its own would have
 * returned them, as more than half of each was used). Consuming the bytes
 * returns both the stream's and the connection's window. */
static void test_window_returns_only_when_consumed(void **state)
{
	(void)state;
	enum { BODY = 200000 };
	struct http2_limits l;
	test_limits(&l);
	struct side srv = {0}, cli = {0};
	ours_new(&srv, &l, true);
	peer_new(&cli, false);
	pump(&cli, &srv);

	const nghttp2_nv req[] = {
#define NV(n, v) {(uint8_t *)n, (uint8_t *)v, sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE}
	    NV(":method", "POST"),
	    NV(":scheme", "http"),
	    NV(":authority", "svc"),
	    NV(":path", "/upload"),
#undef NV
	};
	struct body b = {.len = BODY};
	nghttp2_data_provider prd = {.source.ptr = &b, .read_callback = read_body};
	int32_t id =
	    nghttp2_submit_request(cli.s, NULL, req, sizeof(req) / sizeof(req[0]), &prd, NULL);
	assert_true(id > 0);
	pump(&cli, &srv);

	assert_int_equal(srv.data_bytes, BODY);
	assert_int_equal(srv.last_stream, id);
	assert_int_equal(nghttp2_session_get_remote_window_size(cli.s), 262144 - BODY);
	assert_int_equal(nghttp2_session_get_stream_remote_window_size(cli.s, id), 300000 - BODY);

	/* Half the bytes taken is less than half of either window (150000 of
	 * the stream's, 131072 of the connection's): nghttp2 still holds the
	 * update back, so small reads do not cost a frame each. */
	assert_int_equal(nghttp2_session_consume(srv.s, id, BODY / 2), 0);
	pump(&cli, &srv);
	assert_int_equal(nghttp2_session_get_remote_window_size(cli.s), 262144 - BODY);

	assert_int_equal(nghttp2_session_consume(srv.s, id, BODY / 2), 0);
	pump(&cli, &srv);
	assert_int_equal(nghttp2_session_get_remote_window_size(cli.s), 262144);
	assert_int_equal(nghttp2_session_get_stream_remote_window_size(cli.s, id), 300000);
	assert_false(cli.goaway);
	sides_free(&srv, &cli);
}

#ifdef HAVE_NGHTTP2_MAX_SETTINGS
/* A SETTINGS frame with more entries than max_settings ends the connection
 * (a CPU flood otherwise: each entry is work, and the frame can be 16 KiB). */
static void test_too_many_settings_end_the_connection(void **state)
{
	(void)state;
	struct http2_limits l;
	test_limits(&l);
	l.max_settings = 2;
	struct side srv = {0}, cli = {0};
	ours_new(&srv, &l, true);
	nghttp2_session_callbacks *cb = callbacks();
	assert_int_equal(nghttp2_session_client_new(&cli.s, cb, &cli), 0);
	nghttp2_session_callbacks_del(cb);
	nghttp2_settings_entry iv[] = {
	    {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 4096},
	    {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
	    {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 16384},
	};
	assert_int_equal(nghttp2_submit_settings(cli.s, NGHTTP2_FLAG_NONE, iv, 3), 0);
	/* The magic and the SETTINGS; the frame's length alone is judged. */
	assert_true(flow(&cli, &srv) > 24);
	flow(&srv, &cli);
	assert_true(cli.goaway);
	assert_int_equal(cli.goaway_error, NGHTTP2_ENHANCE_YOUR_CALM);
	assert_false(nghttp2_session_want_read(srv.s));
	sides_free(&srv, &cli);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_server_settings_reach_the_client),
	    cmocka_unit_test(test_client_settings_reach_the_server),
	    cmocka_unit_test(test_window_returns_only_when_consumed),
#ifdef HAVE_NGHTTP2_MAX_SETTINGS
	    cmocka_unit_test(test_too_many_settings_end_the_connection),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
