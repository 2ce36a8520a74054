/* Helpers every hook family shares: counters, addresses and tuples, and the
 * flow table (create with sweep-on-full, snapshot of socket counters). BPF
 * side only; everything is always_inline so each hook stays one program. */
#ifndef SKIFF_BPF_CORE_H
#define SKIFF_BPF_CORE_H

#include "bpf/skiff_maps.bpf.h"
#include <bpf/bpf_endian.h>

#ifndef SOCK_STREAM
#define SOCK_STREAM 1
#endif
/* vmlinux.h carries no errno macros. */
#define E2BIG  7
#define EEXIST 17

/* 127.0.0.1 and 127.0.0.6 in network byte order. */
#define SKIFF_LOOPBACK4    bpf_htonl(0x7f000001)
#define SKIFF_PASSTHROUGH4 bpf_htonl(0x7f000006)

static __always_inline void count(enum skiff_counter c)
{
	__u32 key = c;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (v)
		*v += 1; /* per-CPU: no atomics needed */
}

static __always_inline void addr_set4(__u8 out[16], __u32 ip4)
{
	__builtin_memset(out, 0, 16);
	__builtin_memcpy(out, &ip4, 4);
}

/* Stores an IPv6 address, folding IPv4-mapped ones (::ffff:a.b.c.d) to IPv4
 * so a dual-stack socket and its IPv4 peer agree on the tuple. Returns the
 * family the address was stored as. */
static __always_inline __u8 addr_set6(__u8 out[16], __u32 a0, __u32 a1, __u32 a2, __u32 a3)
{
	if (a0 == 0 && a1 == 0 && a2 == bpf_htonl(0xffff)) {
		addr_set4(out, a3);
		return SKIFF_AF_INET;
	}
	__builtin_memcpy(out, &a0, 4);
	__builtin_memcpy(out + 4, &a1, 4);
	__builtin_memcpy(out + 8, &a2, 4);
	__builtin_memcpy(out + 12, &a3, 4);
	return SKIFF_AF_INET6;
}

static __always_inline __u32 addr_ip4(const __u8 addr[16])
{
	__u32 ip4;

	__builtin_memcpy(&ip4, addr, 4);
	return ip4;
}

static __always_inline bool addr_is_loopback(__u8 family, const __u8 addr[16])
{
	if (family == SKIFF_AF_INET)
		return addr[0] == 127;
	for (int i = 0; i < 15; i++)
		if (addr[i])
			return false;
	return addr[15] == 1;
}

/* The LPM key of an address: IPv4 as ::ffff:a.b.c.d (see skiff_cidr_key). */
static __always_inline void cidr_key_of(struct skiff_cidr_key *k, __u8 family, const __u8 addr[16])
{
	k->prefixlen = 128;
	if (family == SKIFF_AF_INET) {
		__builtin_memset(k->addr, 0, 10);
		k->addr[10] = 0xff;
		k->addr[11] = 0xff;
		__builtin_memcpy(k->addr + 12, addr, 4);
	} else {
		__builtin_memcpy(k->addr, addr, 16);
	}
}

static __always_inline void tuple_reverse(struct skiff_tuple *out, const struct skiff_tuple *in)
{
	__builtin_memcpy(out->saddr, in->daddr, 16);
	__builtin_memcpy(out->daddr, in->saddr, 16);
	out->sport = in->dport;
	out->dport = in->sport;
	out->family = in->family;
	out->proto = in->proto;
	out->pad[0] = 0;
	out->pad[1] = 0;
}

/* A socket's own tuple from the sockops or sk_msg context, which share the
 * field layout. Their remote_port holds the network-order port shifted left
 * by 16 (a UAPI quirk): bpf_ntohl gives the host-order port. Returns false
 * for families other than IPv4/IPv6. */
#define tuple_from_sock_ctx(t, ctx)                                                      \
	({                                                                               \
		bool ok_ = true;                                                         \
		__builtin_memset((t), 0, sizeof(*(t)));                                  \
		(t)->proto = SKIFF_IPPROTO_TCP;                                          \
		(t)->sport = (__u16)(ctx)->local_port;                                   \
		(t)->dport = (__u16)bpf_ntohl((ctx)->remote_port);                       \
		if ((ctx)->family == SKIFF_AF_INET) {                                    \
			(t)->family = SKIFF_AF_INET;                                     \
			addr_set4((t)->saddr, (ctx)->local_ip4);                         \
			addr_set4((t)->daddr, (ctx)->remote_ip4);                        \
		} else if ((ctx)->family == SKIFF_AF_INET6) {                            \
			(t)->family = addr_set6((t)->saddr, (ctx)->local_ip6[0],         \
						(ctx)->local_ip6[1], (ctx)->local_ip6[2],\
						(ctx)->local_ip6[3]);                    \
			addr_set6((t)->daddr, (ctx)->remote_ip6[0], (ctx)->remote_ip6[1],\
				  (ctx)->remote_ip6[2], (ctx)->remote_ip6[3]);           \
		} else {                                                                 \
			ok_ = false;                                                     \
		}                                                                        \
		ok_;                                                                     \
	})

struct sweep_ctx {
	__u64 now;
	/* A flag, not a count: the verifier walks the callback until its
	 * state repeats, which a counter never does. */
	__u32 freed;
};

/* Removes closed flows older than the linger; called only when the table
 * is full, so its O(n) cost is paid rarely and never by a table with room. */
static long flow_sweep_one(void *map, struct skiff_tuple *key, struct skiff_flow *f,
			   struct sweep_ctx *sc)
{
	if (f->closed_ns && sc->now - f->closed_ns > cfg_flow_linger_ns) {
		if (bpf_map_delete_elem(map, key) == 0) {
			sc->freed = 1;
			count(SKIFF_CNT_FLOW_AGED);
		}
	}
	return 0;
}

/* Creates the flow entry `key` (client -> server) and returns it, or the
 * open one already there; an entry left by a closed flow with the same
 * tuple (a reused port) is replaced. NULL when the table is full even after
 * a sweep (counted as FLOW_DROPPED: the flow then runs untracked and
 * unaccelerated). */
static __always_inline struct skiff_flow *flow_create(const struct skiff_tuple *key, __u8 kind,
						      __u8 orig_family, const __u8 orig_addr[16],
						      __u16 orig_port, __u64 cgroup_id)
{
	struct skiff_flow f = {};
	struct skiff_flow *cur;
	long err;

	cur = bpf_map_lookup_elem(&flows, key);
	if (cur && !cur->closed_ns)
		return cur;
	f.start_ns = bpf_ktime_get_ns();
	f.last_ns = f.start_ns;
	f.cgroup_id = cgroup_id ? cgroup_id : cfg_cgroup_id;
	f.kind = kind;
	__builtin_memcpy(f.orig_daddr, orig_addr, 16);
	f.orig_dport = orig_port;
	(void)orig_family; /* the key's family; kept for a future v4->v6 NAT */
	err = bpf_map_update_elem(&flows, key, &f, cur ? BPF_ANY : BPF_NOEXIST);
	if (err == -E2BIG) {
		struct sweep_ctx sc = { .now = f.start_ns };

		bpf_for_each_map_elem(&flows, flow_sweep_one, &sc, 0);
		err = sc.freed ? bpf_map_update_elem(&flows, key, &f, BPF_NOEXIST) : -E2BIG;
	}
	if (err && err != -EEXIST) {
		count(SKIFF_CNT_FLOW_DROPPED);
		return NULL;
	}
	if (!err)
		count(SKIFF_CNT_FLOW_CREATED);
	return bpf_map_lookup_elem(&flows, key);
}

#endif
