/* sk_msg: bytes an application or the proxy writes on an app<->proxy
 * connection go straight into the peer socket's receive queue (egress
 * redirect with BPF_F_INGRESS), skipping the loopback TCP stack.
 *
 * Why the fallbacks are sticky: the reader drains redirected messages before
 * its TCP receive queue, so once a direction has sent anything through TCP,
 * redirecting again could deliver later bytes first. A direction therefore
 * goes TCP-only for good on the first miss.
 *
 * Why a window: the kernel charges redirected bytes to the reader without
 * checking its receive buffer, so a writer faster than its reader could
 * queue without limit. The program cannot see the reader consume, so it
 * bounds what it could have queued: bytes sent one way since the other way
 * last sent (a reply means the request was read). Over `cfg_redirect_window`
 * the direction falls back to TCP, whose flow control bounds it. Request/
 * response traffic stays accelerated; one-way bulk transfers fall back, which
 * is also where sk_msg is slower than TCP. */
#include "bpf/skiff_core.bpf.h"

/* Stops redirecting this socket's direction; `reason` says why. */
static __always_inline int redirect_stop(struct skiff_sock *st, struct skiff_flow *f, bool c2s,
					 enum skiff_counter reason)
{
	st->flags |= SKIFF_SOCK_NO_REDIR;
	if (f)
		__sync_fetch_and_or(&f->flags, c2s ? SKIFF_FLOW_F_FALLBACK_C2S
						   : SKIFF_FLOW_F_FALLBACK_S2C);
	count(reason);
	return SK_PASS;
}

SEC("sk_msg")
int skiff_msg(struct sk_msg_md *msg)
{
	struct skiff_tuple own, peer, key;
	struct skiff_sock *st;
	struct skiff_flow *f;
	__u64 size = msg->size, *mine, *theirs;
	struct bpf_sock *sk = msg->sk; /* read once, see sockops.bpf.c */
	bool c2s;

	if (!sk || !tuple_from_sock_ctx(&own, msg))
		return SK_PASS;
	st = bpf_sk_storage_get(&sock_state, sk, 0, 0);
	if (!st) {
		count(SKIFF_CNT_MSG_NO_FLOW);
		return SK_PASS;
	}
	c2s = !(st->flags & SKIFF_SOCK_SERVER);
	tuple_reverse(&peer, &own);
	key = c2s ? own : peer;
	f = bpf_map_lookup_elem(&flows, &key);
	if (f) {
		__sync_fetch_and_add(c2s ? &f->msgs_c2s : &f->msgs_s2c, 1);
		f->last_ns = bpf_ktime_get_ns();
	}
	if (st->flags & SKIFF_SOCK_NO_REDIR) {
		count(SKIFF_CNT_MSG_PASSED);
		return SK_PASS;
	}
	if (!f)
		return redirect_stop(st, f, c2s, SKIFF_CNT_MSG_NO_FLOW);

	mine = c2s ? &f->unanswered_c2s : &f->unanswered_s2c;
	theirs = c2s ? &f->unanswered_s2c : &f->unanswered_c2s;
	*theirs = 0;
	if (*mine + size > cfg_redirect_window)
		return redirect_stop(st, f, c2s, SKIFF_CNT_MSG_WINDOW_FALLBACK);
	if (bpf_msg_redirect_hash(msg, &sockhash, &peer, BPF_F_INGRESS) != SK_PASS)
		return redirect_stop(st, f, c2s, SKIFF_CNT_MSG_NO_PEER);

	__sync_fetch_and_add(mine, size);
	__sync_fetch_and_add(c2s ? &f->redir_bytes_c2s : &f->redir_bytes_s2c, size);
	__sync_fetch_and_add(c2s ? &f->bytes_c2s : &f->bytes_s2c, size);
	count(SKIFF_CNT_MSG_REDIRECTED);
	return SK_PASS;
}
