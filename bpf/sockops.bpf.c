/* sockops: the connection lifecycle. It moves a captured socket's original
 * destination into `orig_dst` once the source port exists, puts both ends of
 * app<->proxy connections into the sockhash (the sk_msg program in
 * redirect.bpf.c then moves their bytes socket to socket), creates the flow
 * entries and keeps their TCP counters, RTT and retransmits current, and
 * marks flows closed so they can age out. It also registers the proxy's
 * inbound listener for sk_lookup when it starts listening. */
#include "bpf/skiff_core.bpf.h"

#define CB_FLAGS (BPF_SOCK_OPS_STATE_CB_FLAG | BPF_SOCK_OPS_RTT_CB_FLAG | \
		  BPF_SOCK_OPS_RETRANS_CB_FLAG)

/* The flow key a socket's counters belong to: its own tuple on the client
 * side, the reversed one on the server side (keys are client -> server). */
static __always_inline void flow_key_of(struct skiff_tuple *key, const struct skiff_tuple *own,
					const struct skiff_sock *st)
{
	if (st->flags & SKIFF_SOCK_SERVER)
		tuple_reverse(key, own);
	else
		*key = *own;
}

/* Copies the owning socket's TCP counters into its flow. Bytes are TCP
 * bytes plus what sk_msg redirected (which TCP never saw). The kernel's
 * counters are in sequence space: an active socket's bytes_acked includes
 * its SYN, and either counter includes a FIN once one went that way
 * (`fin_out`, `fin_in`: 0 or 1, known at close). */
static __always_inline void flow_snapshot(struct bpf_sock_ops *skops, const struct skiff_tuple *own,
					  const struct skiff_sock *st, __u32 fin_out, __u32 fin_in)
{
	struct skiff_tuple key;
	struct skiff_flow *f;
	__u64 out, in, seq_out;
	__u32 segs_out, segs_in;

	flow_key_of(&key, own, st);
	f = bpf_map_lookup_elem(&flows, &key);
	if (!f)
		return;
	out = skops->bytes_acked;
	in = skops->bytes_received;
	seq_out = fin_out + ((st->flags & SKIFF_SOCK_SERVER) ? 0 : 1);
	out = out > seq_out ? out - seq_out : 0;
	in = in > fin_in ? in - fin_in : 0;
	segs_out = skops->data_segs_out;
	segs_in = skops->data_segs_in;
	if (st->flags & SKIFF_SOCK_SERVER) {
		f->bytes_c2s = in + f->redir_bytes_c2s;
		f->bytes_s2c = out + f->redir_bytes_s2c;
	} else {
		f->bytes_c2s = out + f->redir_bytes_c2s;
		f->bytes_s2c = in + f->redir_bytes_s2c;
	}
	/* Accelerated flows count sendmsg() calls in sk_msg instead. */
	if (!(f->flags & (SKIFF_FLOW_F_ACCEL_CLIENT | SKIFF_FLOW_F_ACCEL_SERVER))) {
		f->msgs_c2s = (st->flags & SKIFF_SOCK_SERVER) ? segs_in : segs_out;
		f->msgs_s2c = (st->flags & SKIFF_SOCK_SERVER) ? segs_out : segs_in;
	}
	f->retrans = skops->total_retrans;
	f->srtt_us = skops->srtt_us >> 3; /* the kernel keeps it in us << 3 */
	f->last_ns = bpf_ktime_get_ns();
}

/* Adds the socket to the sockhash under its own tuple and marks the flow.
 * Only when acceleration is on and the flow is tracked: an untracked flow
 * has nowhere to keep its redirect window, so it stays on TCP. */
static __always_inline void accel_add(struct bpf_sock_ops *skops, const struct skiff_tuple *own,
				      struct skiff_flow *f, bool server)
{
	if (!cfg_accelerate || !f)
		return;
	if (bpf_sock_hash_update(skops, &sockhash, (void *)own, BPF_NOEXIST)) {
		count(SKIFF_CNT_SOCKHASH_ADD_FAIL);
		return;
	}
	count(SKIFF_CNT_SOCKHASH_ADDED);
	__sync_fetch_and_or(&f->flags, server ? SKIFF_FLOW_F_ACCEL_SERVER : SKIFF_FLOW_F_ACCEL_CLIENT);
}

/* Before the SYN of a captured socket: the source port now exists, so the
 * proxy-side tuple (reverse of ours) is known. */
static __always_inline void on_connect(struct bpf_sock_ops *skops, struct bpf_sock *sk,
					const struct skiff_tuple *own)
{
	struct skiff_orig_dst od = {};
	struct skiff_tuple key;
	struct skiff_sock *st;

	st = bpf_sk_storage_get(&sock_state, sk, 0, 0);
	if (!st || !(st->flags & SKIFF_SOCK_CAPTURED))
		return;
	tuple_reverse(&key, own);
	__builtin_memcpy(od.addr, st->orig_daddr, 16);
	od.port = st->orig_dport;
	od.family = st->orig_family;
	od.kind = SKIFF_FLOW_OUTBOUND;
	if (bpf_map_update_elem(&orig_dst, &key, &od, BPF_ANY))
		count(SKIFF_CNT_ORIG_DST_RECORD_FAIL);
	if (flow_create(own, SKIFF_FLOW_OUTBOUND, st->orig_family, st->orig_daddr,
			st->orig_dport, st->cgroup_id))
		st->flags |= SKIFF_SOCK_OWNER | SKIFF_SOCK_CLIENT;
	bpf_sock_ops_cb_flags_set(skops, CB_FLAGS);
}

static __always_inline void on_active_established(struct bpf_sock_ops *skops, struct bpf_sock *sk,
					const struct skiff_tuple *own)
{
	struct skiff_sock *st;
	struct skiff_flow *f;

	st = bpf_sk_storage_get(&sock_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		count(SKIFF_CNT_SOCK_STORAGE_FAIL);
		return;
	}
	if (st->flags & SKIFF_SOCK_CAPTURED) {
		/* app -> outbound listener: flow made at connect time */
		accel_add(skops, own, bpf_map_lookup_elem(&flows, own), false);
		return;
	}
	if (own->family == SKIFF_AF_INET && addr_ip4(own->saddr) == SKIFF_PASSTHROUGH4) {
		/* proxy (127.0.0.6) -> local application */
		f = flow_create(own, SKIFF_FLOW_LOCAL, own->family, own->daddr, own->dport, 0);
	} else if ((st->flags & SKIFF_SOCK_PROXY) && !addr_is_loopback(own->family, own->daddr)) {
		f = flow_create(own, SKIFF_FLOW_UPSTREAM, own->family, own->daddr, own->dport,
				st->cgroup_id);
	} else {
		return;
	}
	if (!f)
		return;
	st->flags |= SKIFF_SOCK_OWNER | SKIFF_SOCK_CLIENT;
	bpf_sock_ops_cb_flags_set(skops, CB_FLAGS);
	if (f->kind == SKIFF_FLOW_LOCAL)
		accel_add(skops, own, f, false);
}

static __always_inline void on_passive_established(struct bpf_sock_ops *skops, struct bpf_sock *sk,
					const struct skiff_tuple *own)
{
	struct skiff_tuple key;
	struct skiff_orig_dst *od;
	struct skiff_sock *st;
	struct skiff_flow *f;
	bool from_app, to_app;

	tuple_reverse(&key, own);
	/* proxy's outbound listener accepting a captured app connection */
	from_app = own->sport == cfg_outbound_port && addr_is_loopback(own->family, own->daddr);
	/* application accepting the proxy's 127.0.0.6 connection */
	to_app = own->family == SKIFF_AF_INET && addr_ip4(own->daddr) == SKIFF_PASSTHROUGH4;
	od = from_app || to_app ? NULL : bpf_map_lookup_elem(&orig_dst, own);
	if (!from_app && !to_app && (!od || od->kind != SKIFF_FLOW_INBOUND))
		return;

	st = bpf_sk_storage_get(&sock_state, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		count(SKIFF_CNT_SOCK_STORAGE_FAIL);
		return;
	}
	st->flags |= SKIFF_SOCK_SERVER;
	/* STATE_CB at least: closing the proxy side deletes its orig_dst. */
	bpf_sock_ops_cb_flags_set(skops, CB_FLAGS);
	if (od) {
		/* peer -> inbound listener, steered by sk_lookup */
		if (flow_create(&key, SKIFF_FLOW_INBOUND, od->family, od->addr, od->port, 0))
			st->flags |= SKIFF_SOCK_OWNER;
		return;
	}
	f = bpf_map_lookup_elem(&flows, &key);
	accel_add(skops, own, f, true);
}

static __always_inline void on_progress(struct bpf_sock_ops *skops, struct bpf_sock *sk,
					const struct skiff_tuple *own)
{
	struct skiff_sock *st;

	st = bpf_sk_storage_get(&sock_state, sk, 0, 0);
	if (st && (st->flags & SKIFF_SOCK_OWNER))
		flow_snapshot(skops, own, st, 0, 0);
}

static __always_inline void on_close(struct bpf_sock_ops *skops, struct bpf_sock *sk,
					const struct skiff_tuple *own, __u32 old_state)
{
	/* Which FINs the sequence counters hold, from the state closed from:
	 * FIN_WAIT2, CLOSING and LAST_ACK end an orderly close (both FINs
	 * sent and acknowledged); CLOSE_WAIT received one and then aborted. */
	bool orderly = old_state == BPF_TCP_FIN_WAIT2 || old_state == BPF_TCP_CLOSING ||
		       old_state == BPF_TCP_LAST_ACK;
	__u32 fin_in = orderly || old_state == BPF_TCP_CLOSE_WAIT;
	struct skiff_tuple key;
	struct skiff_sock *st;
	struct skiff_flow *f;

	/* Only proxy-side sockets have entries under their own tuple. The
	 * app side never deletes: the proxy may accept after the app closed. */
	bpf_map_delete_elem(&orig_dst, own);
	st = bpf_sk_storage_get(&sock_state, sk, 0, 0);
	if (!st || !(st->flags & SKIFF_SOCK_OWNER))
		return;
	flow_snapshot(skops, own, st, orderly, fin_in);
	flow_key_of(&key, own, st);
	f = bpf_map_lookup_elem(&flows, &key);
	if (f) {
		f->closed_ns = bpf_ktime_get_ns();
		__sync_fetch_and_or(&f->flags, SKIFF_FLOW_F_CLOSED);
	}
}

/* A socket of the cgroup starts listening: if it is on the inbound port it
 * is (a member of) the proxy's inbound listener, which sk_lookup needs. */
static __always_inline void on_listen(struct bpf_sock_ops *skops, const struct skiff_tuple *own)
{
	__u32 slot;

	if (own->sport != cfg_inbound_port)
		return;
	slot = (__u32)bpf_get_socket_cookie(skops) & (SKIFF_INBOUND_SLOTS - 1);
	if (bpf_sock_map_update(skops, &inbound_listener, &slot, BPF_ANY))
		count(SKIFF_CNT_LISTENER_REGISTER_FAIL);
	else
		count(SKIFF_CNT_LISTENER_REGISTERED);
}

SEC("sockops")
int skiff_sockops(struct bpf_sock_ops *skops)
{
	struct skiff_tuple own;
	struct bpf_sock *sk;
	__u32 op = skops->op;

	if (op != BPF_SOCK_OPS_TCP_CONNECT_CB && op != BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB &&
	    op != BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB && op != BPF_SOCK_OPS_RTT_CB &&
	    op != BPF_SOCK_OPS_RETRANS_CB && op != BPF_SOCK_OPS_STATE_CB &&
	    op != BPF_SOCK_OPS_TCP_LISTEN_CB)
		return 1;
	/* Read the socket pointer once: the verifier rejects a ctx pointer the
	 * compiler has offset and kept for a second load. */
	sk = skops->sk;
	if (!sk || !tuple_from_sock_ctx(&own, skops))
		return 1;
	switch (op) {
	case BPF_SOCK_OPS_TCP_CONNECT_CB:
		on_connect(skops, sk, &own);
		break;
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		on_active_established(skops, sk, &own);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		on_passive_established(skops, sk, &own);
		break;
	case BPF_SOCK_OPS_RTT_CB:
	case BPF_SOCK_OPS_RETRANS_CB:
		on_progress(skops, sk, &own);
		break;
	case BPF_SOCK_OPS_TCP_LISTEN_CB:
		on_listen(skops, &own);
		break;
	case BPF_SOCK_OPS_STATE_CB:
		if (skops->args[1] == BPF_TCP_CLOSE)
			on_close(skops, sk, &own, skops->args[0]);
		break;
	}
	return 1;
}
