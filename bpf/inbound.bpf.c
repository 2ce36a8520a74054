/* Inbound capture: an sk_lookup program on the pod's network namespace
 * hands SYNs for the application's ports to the proxy's inbound listener
 * (15006), keeping the original local address, so the accepted socket's
 * getsockname() is the address the peer dialled. The proxy's own
 * connections to the application (from 127.0.0.6), loopback traffic and
 * excluded ports are left to the normal lookup. */
#include "bpf/skiff_core.bpf.h"

/* What a lookup carries, in the form inbound_decide() reads. */
struct inbound_req {
	__u8 family;
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;  /* host order */
	__u16 remote_port; /* host order */
};

/* LOOKUP_STEERED, or the reason the lookup is left alone. */
static __always_inline enum skiff_counter inbound_decide(const struct inbound_req *r)
{
	__u16 port = r->local_port;

	if (r->family == SKIFF_AF_INET && addr_ip4(r->remote_addr) == SKIFF_PASSTHROUGH4)
		return SKIFF_CNT_LOOKUP_FROM_PROXY;
	if (addr_is_loopback(r->family, r->local_addr))
		return SKIFF_CNT_LOOKUP_LOOPBACK;
	if (r->family == SKIFF_AF_INET6 && !cfg_capture_ipv6)
		return SKIFF_CNT_LOOKUP_IPV6_OFF;
	/* The proxy's listeners take their own connections directly: steering
	 * the outbound port inbound would loop through the proxy twice. */
	if (port == cfg_outbound_port || port == cfg_inbound_port ||
	    bpf_map_lookup_elem(&excluded_ports_in, &port))
		return SKIFF_CNT_LOOKUP_EXCLUDED_PORT;
	return SKIFF_CNT_LOOKUP_STEERED;
}

/* Records the original destination for SO_ORIGINAL_DST on the accepted
 * socket, keyed by that socket's own tuple (local = the dialled address). */
static __always_inline void inbound_record(const struct inbound_req *r)
{
	struct skiff_orig_dst od = {};
	struct skiff_tuple t = {};

	__builtin_memcpy(t.saddr, r->local_addr, 16);
	__builtin_memcpy(t.daddr, r->remote_addr, 16);
	t.sport = r->local_port;
	t.dport = r->remote_port;
	t.family = r->family;
	t.proto = SKIFF_IPPROTO_TCP;
	__builtin_memcpy(od.addr, r->local_addr, 16);
	od.port = r->local_port;
	od.family = r->family;
	od.kind = SKIFF_FLOW_INBOUND;
	if (bpf_map_update_elem(&orig_dst, &t, &od, BPF_ANY))
		count(SKIFF_CNT_ORIG_DST_RECORD_FAIL);
}

SEC("sk_lookup")
int skiff_lookup(struct bpf_sk_lookup *ctx)
{
	enum skiff_counter verdict;
	struct inbound_req r = {};
	struct bpf_sock *sk = NULL;
	__u32 start;
	long err;

	if (ctx->protocol != SKIFF_IPPROTO_TCP)
		return SK_PASS;
	if (ctx->family == SKIFF_AF_INET) {
		r.family = SKIFF_AF_INET;
		addr_set4(r.local_addr, ctx->local_ip4);
		addr_set4(r.remote_addr, ctx->remote_ip4);
	} else {
		r.family = addr_set6(r.local_addr, ctx->local_ip6[0], ctx->local_ip6[1],
				     ctx->local_ip6[2], ctx->local_ip6[3]);
		addr_set6(r.remote_addr, ctx->remote_ip6[0], ctx->remote_ip6[1],
			  ctx->remote_ip6[2], ctx->remote_ip6[3]);
	}
	r.local_port = (__u16)ctx->local_port;
	r.remote_port = bpf_ntohs(ctx->remote_port);

	verdict = inbound_decide(&r);
	if (verdict != SKIFF_CNT_LOOKUP_STEERED) {
		count(verdict);
		return SK_PASS;
	}
	/* Fail closed, as iptables REDIRECT does: with no proxy listening the
	 * application must not be reached around mTLS and authorization. */
	start = r.remote_port;
	for (__u32 i = 0; i < SKIFF_INBOUND_SLOTS; i++) {
		__u32 slot = (start + i) & (SKIFF_INBOUND_SLOTS - 1);

		sk = bpf_map_lookup_elem(&inbound_listener, &slot);
		if (sk)
			break;
	}
	if (!sk) {
		count(SKIFF_CNT_LOOKUP_NO_LISTENER);
		return SK_DROP;
	}
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (err) {
		count(SKIFF_CNT_LOOKUP_ASSIGN_FAIL);
		return SK_DROP;
	}
	inbound_record(&r);
	count(SKIFF_CNT_LOOKUP_STEERED);
	return SK_PASS;
}
