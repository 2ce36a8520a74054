/* Outbound capture without iptables: cgroup/connect4 and connect6 rewrite an
 * application's connect() to the outbound listener and remember where it was
 * going (socket storage; sockops moves it to `orig_dst` once the source port
 * is known), and cgroup/getsockopt answers SO_ORIGINAL_DST from `orig_dst`
 * so any proxy sees what iptables REDIRECT would have told it. */
#include "bpf/skiff_core.bpf.h"

/* What connect() asked for, in the form capture_decide() reads. */
struct capture_req {
	__u32 uid;
	__u8 family;
	__u8 addr[16];
	__u16 port; /* host order */
};

/* The capture decision, free of any context: CONNECT_CAPTURED, or the
 * reason the connection goes direct. Exclusions are maps, so they change
 * without reloading. */
static __always_inline enum skiff_counter capture_decide(const struct capture_req *r)
{
	struct skiff_cidr_key k;
	__u16 port = r->port;

	if (r->uid == cfg_proxy_uid)
		return SKIFF_CNT_CONNECT_PROXY_UID;
	if (port == cfg_outbound_port || port == cfg_inbound_port)
		return SKIFF_CNT_CONNECT_PROXY_PORT;
	if (addr_is_loopback(r->family, r->addr))
		return SKIFF_CNT_CONNECT_LOOPBACK;
	if (r->family == SKIFF_AF_INET6 && !cfg_capture_ipv6)
		return SKIFF_CNT_CONNECT_IPV6_OFF;
	if (bpf_map_lookup_elem(&excluded_ports_out, &port))
		return SKIFF_CNT_CONNECT_EXCLUDED_PORT;
	cidr_key_of(&k, r->family, r->addr);
	if (!bpf_map_lookup_elem(&included_cidrs, &k))
		return SKIFF_CNT_CONNECT_NOT_INCLUDED;
	if (bpf_map_lookup_elem(&excluded_cidrs, &k))
		return SKIFF_CNT_CONNECT_EXCLUDED_CIDR;
	return SKIFF_CNT_CONNECT_CAPTURED;
}

/* Runs the decision and records it on the socket. Returns true when the
 * caller must rewrite the destination to the outbound listener. */
static __always_inline bool capture_connect(struct bpf_sock_addr *ctx, const struct capture_req *r)
{
	enum skiff_counter verdict = capture_decide(r);
	struct bpf_sock *sk = ctx->sk;
	struct skiff_sock *st;

	if (verdict != SKIFF_CNT_CONNECT_CAPTURED && verdict != SKIFF_CNT_CONNECT_PROXY_UID) {
		count(verdict);
		return false;
	}
	if (!sk) {
		count(SKIFF_CNT_CONNECT_NO_STORAGE);
		return false;
	}
	st = bpf_sk_storage_get(&sock_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		/* Without the recorded destination the proxy could not route
		 * the connection: leave it direct rather than break it. */
		count(verdict == SKIFF_CNT_CONNECT_CAPTURED ? SKIFF_CNT_CONNECT_NO_STORAGE
							    : SKIFF_CNT_SOCK_STORAGE_FAIL);
		return false;
	}
	st->cgroup_id = bpf_get_current_cgroup_id();
	count(verdict);
	if (verdict == SKIFF_CNT_CONNECT_PROXY_UID) {
		st->flags |= SKIFF_SOCK_PROXY; /* its flow is tracked as UPSTREAM */
		return false;
	}
	__builtin_memcpy(st->orig_daddr, r->addr, 16);
	st->orig_dport = r->port;
	st->orig_family = r->family;
	st->flags |= SKIFF_SOCK_CAPTURED;
	return true;
}

SEC("cgroup/connect4")
int skiff_connect4(struct bpf_sock_addr *ctx)
{
	struct capture_req r = {};

	if (ctx->type != SOCK_STREAM || ctx->protocol != SKIFF_IPPROTO_TCP) {
		count(SKIFF_CNT_CONNECT_NOT_TCP);
		return 1;
	}
	r.uid = (__u32)bpf_get_current_uid_gid();
	r.family = SKIFF_AF_INET;
	addr_set4(r.addr, ctx->user_ip4);
	r.port = bpf_ntohs((__u16)ctx->user_port);
	if (capture_connect(ctx, &r)) {
		ctx->user_ip4 = SKIFF_LOOPBACK4;
		ctx->user_port = bpf_htons(cfg_outbound_port);
	}
	return 1;
}

SEC("cgroup/connect6")
int skiff_connect6(struct bpf_sock_addr *ctx)
{
	struct capture_req r = {};

	if (ctx->type != SOCK_STREAM || ctx->protocol != SKIFF_IPPROTO_TCP) {
		count(SKIFF_CNT_CONNECT_NOT_TCP);
		return 1;
	}
	r.uid = (__u32)bpf_get_current_uid_gid();
	r.family = addr_set6(r.addr, ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
			     ctx->user_ip6[3]);
	r.port = bpf_ntohs((__u16)ctx->user_port);
	if (capture_connect(ctx, &r)) {
		/* A dual-stack socket reaching IPv4 goes to ::ffff:127.0.0.1,
		 * which is the IPv4 listener; native IPv6 needs the proxy to
		 * listen on [::1] (capture_ipv6). */
		ctx->user_ip6[0] = 0;
		ctx->user_ip6[1] = 0;
		if (r.family == SKIFF_AF_INET) {
			ctx->user_ip6[2] = bpf_htonl(0xffff);
			ctx->user_ip6[3] = SKIFF_LOOPBACK4;
		} else {
			ctx->user_ip6[2] = 0;
			ctx->user_ip6[3] = bpf_htonl(1);
		}
		ctx->user_port = bpf_htons(cfg_outbound_port);
	}
	return 1;
}

/* struct sockaddr_in / sockaddr_in6 as the kernel lays them out. */
struct sin4 {
	__u16 family;
	__u16 port;
	__u32 addr;
	__u8 zero[8];
};

struct sin6 {
	__u16 family;
	__u16 port;
	__u32 flowinfo;
	__u8 addr[16];
	__u32 scope_id;
};

/* The tuple of the socket getsockopt() was called on. bpf_sock has src_port
 * in host order and dst_port in network order. */
static __always_inline bool tuple_from_bpf_sock(struct skiff_tuple *t, struct bpf_sock *sk)
{
	__builtin_memset(t, 0, sizeof(*t));
	t->proto = SKIFF_IPPROTO_TCP;
	t->sport = (__u16)sk->src_port;
	t->dport = bpf_ntohs(sk->dst_port);
	if (sk->family == SKIFF_AF_INET) {
		t->family = SKIFF_AF_INET;
		addr_set4(t->saddr, sk->src_ip4);
		addr_set4(t->daddr, sk->dst_ip4);
		return true;
	}
	if (sk->family == SKIFF_AF_INET6) {
		t->family = addr_set6(t->saddr, sk->src_ip6[0], sk->src_ip6[1], sk->src_ip6[2],
				      sk->src_ip6[3]);
		addr_set6(t->daddr, sk->dst_ip6[0], sk->dst_ip6[1], sk->dst_ip6[2], sk->dst_ip6[3]);
		return true;
	}
	return false;
}

SEC("cgroup/getsockopt")
int skiff_getsockopt(struct bpf_sockopt *ctx)
{
	struct skiff_orig_dst *od;
	struct skiff_tuple t;
	struct bpf_sock *sk;
	void *end;

	/* Every getsockopt() of the cgroup passes here: leave fast. */
	if (ctx->optname != SKIFF_SO_ORIGINAL_DST)
		return 1;
	if (ctx->level != SKIFF_SOL_IP && ctx->level != SKIFF_SOL_IPV6)
		return 1;
	sk = ctx->sk;
	if (!sk || !tuple_from_bpf_sock(&t, sk))
		return 1;
	od = bpf_map_lookup_elem(&orig_dst, &t);
	if (!od) {
		count(SKIFF_CNT_GETSOCKOPT_MISS);
		return 1; /* the kernel's own answer (netfilter's, or an error) */
	}
	end = ctx->optval_end;
	if (ctx->level == SKIFF_SOL_IP) {
		struct sin4 *sin = ctx->optval;

		if (od->family != SKIFF_AF_INET)
			return 1;
		if ((void *)(sin + 1) > end) {
			count(SKIFF_CNT_GETSOCKOPT_SHORT_BUF);
			return 1;
		}
		sin->family = SKIFF_AF_INET;
		sin->port = bpf_htons(od->port);
		sin->addr = addr_ip4(od->addr);
		__builtin_memset(sin->zero, 0, sizeof(sin->zero));
		ctx->optlen = sizeof(*sin);
	} else {
		struct sin6 *sin6 = ctx->optval;

		if ((void *)(sin6 + 1) > end) {
			count(SKIFF_CNT_GETSOCKOPT_SHORT_BUF);
			return 1;
		}
		sin6->family = SKIFF_AF_INET6;
		sin6->port = bpf_htons(od->port);
		sin6->flowinfo = 0;
		sin6->scope_id = 0;
		if (od->family == SKIFF_AF_INET) {
			__builtin_memset(sin6->addr, 0, 10);
			sin6->addr[10] = 0xff;
			sin6->addr[11] = 0xff;
			__builtin_memcpy(sin6->addr + 12, od->addr, 4);
		} else {
			__builtin_memcpy(sin6->addr, od->addr, 16);
		}
		ctx->optlen = sizeof(*sin6);
	}
	ctx->retval = 0;
	count(SKIFF_CNT_GETSOCKOPT_ANSWERED);
	return 1;
}
