/* What crosses the kernel/user boundary of skiff's BPF datapath: the key and
 * value types of every map userspace reads or writes, the counter reasons,
 * and the pin paths. Included by the BPF programs (after vmlinux.h) and by
 * userspace (bpf/loader.c, bpf/flows.c, tests). Only fixed-width fields;
 * userspace checks the sizes with _Static_assert (bpf/datapath.h), so a
 * change here that breaks the layout fails the build, not a running node. */
#ifndef SKIFF_BPF_ABI_H
#define SKIFF_BPF_ABI_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* Pins: /sys/fs/bpf/skiff/<instance>/{flows,counters,...} and
 * /sys/fs/bpf/skiff/<instance>/links/<program>. Instance names are
 * [A-Za-z0-9_-]{1,63} (bpffs refuses dots) (checked by the loader: they become paths). */
#define SKIFF_BPFFS           "/sys/fs/bpf"
#define SKIFF_PIN_ROOT        SKIFF_BPFFS "/skiff"
#define SKIFF_INSTANCE_MAX    64
#define SKIFF_DEFAULT_INSTANCE "default"

#define SKIFF_AF_INET  2
#define SKIFF_AF_INET6 10
#define SKIFF_IPPROTO_TCP 6

/* Getsockopt names answered by the cgroup/getsockopt program: the same
 * numbers netfilter uses, so proxies written for iptables work unchanged. */
#define SKIFF_SOL_IP             0
#define SKIFF_SOL_IPV6           41
#define SKIFF_SO_ORIGINAL_DST    80 /* SOL_IP */
#define SKIFF_IP6T_SO_ORIGINAL_DST 80 /* SOL_IPV6 */

/* Defaults shared with `skiff run` (DESIGN.md: Istio's well-known ports). */
#define SKIFF_DEFAULT_PROXY_UID      1337
#define SKIFF_DEFAULT_OUTBOUND_PORT  15001
#define SKIFF_DEFAULT_INBOUND_PORT   15006
/* Source address of the proxy's connections to the local application; the
 * sk_lookup program never steers them (they would loop). */
#define SKIFF_PASSTHROUGH_IP4        "127.0.0.6"

/* Bounds of the maps (every map has one; behaviour when full is stated at
 * the map's definition in bpf/skiff_maps.bpf.h). */
#define SKIFF_FLOWS_MAX          65536
#define SKIFF_ORIG_DST_MAX       65536
#define SKIFF_SOCKHASH_MAX       65536
#define SKIFF_EXCLUDED_PORTS_MAX 256
#define SKIFF_CIDRS_MAX          256
/* Slots for the inbound listener's sockets (one per SO_REUSEPORT member, by
 * socket cookie; collisions only overwrite an equivalent member). */
#define SKIFF_INBOUND_SLOTS      16

/* One TCP connection seen from one end: `s` is the local side, `d` the
 * remote. Addresses in network byte order; IPv4 in the first 4 bytes (the
 * rest zero), IPv4-mapped IPv6 addresses are folded to IPv4 so both ends of
 * a dual-stack connection agree. Ports in host byte order. Flow keys are
 * oriented client (connect side) -> server. */
struct skiff_tuple {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 family; /* SKIFF_AF_INET or SKIFF_AF_INET6 */
	__u8 proto;  /* SKIFF_IPPROTO_TCP */
	__u8 pad[2];
};

/* What a flow is (skiff_flow.kind). Append only: shown by `skiff flows`. */
enum skiff_flow_kind {
	SKIFF_FLOW_OUTBOUND = 1, /* app -> outbound listener, captured by connect() */
	SKIFF_FLOW_INBOUND = 2,  /* peer -> inbound listener, steered by sk_lookup */
	SKIFF_FLOW_UPSTREAM = 3, /* the proxy's own connection to a remote peer */
	SKIFF_FLOW_LOCAL = 4,    /* proxy (127.0.0.6) -> local application */
};

/* skiff_flow.flags */
#define SKIFF_FLOW_F_ACCEL_CLIENT 0x01 /* client socket is in the sockhash */
#define SKIFF_FLOW_F_ACCEL_SERVER 0x02 /* server socket is in the sockhash */
#define SKIFF_FLOW_F_FALLBACK_C2S 0x04 /* c2s redirect stopped: TCP from here on */
#define SKIFF_FLOW_F_FALLBACK_S2C 0x08
#define SKIFF_FLOW_F_CLOSED       0x10

/* Value of the `flows` map. Bytes are payload bytes: those through the TCP
 * stack (the owning socket's counters, less SYN and FIN) plus those moved by
 * sk_msg redirect. Messages are sendmsg() calls seen by sk_msg when the flow
 * is accelerated, data segments otherwise. The TCP part is refreshed on each
 * RTT sample and at close. Times are CLOCK_MONOTONIC ns (bpf_ktime_get_ns). */
struct skiff_flow {
	__u64 start_ns;
	__u64 last_ns;
	__u64 closed_ns;     /* 0 while open; closed flows age out after a linger */
	__u64 cgroup_id;
	__u64 bytes_c2s;
	__u64 bytes_s2c;
	__u64 msgs_c2s;
	__u64 msgs_s2c;
	__u64 redir_bytes_c2s;
	__u64 redir_bytes_s2c;
	/* Bytes redirected in one direction since the other direction last
	 * sent: the bound on what sk_msg may leave queued at a reader. */
	__u64 unanswered_c2s;
	__u64 unanswered_s2c;
	__u32 retrans;       /* total retransmits (sockops) */
	__u32 srtt_us;       /* smoothed RTT, microseconds (sockops) */
	__u8 orig_daddr[16]; /* original destination (outbound/inbound) */
	__u16 orig_dport;
	__u8 kind;           /* enum skiff_flow_kind */
	__u8 pad;
	__u32 flags;         /* SKIFF_FLOW_F_* (32 bits: updated atomically) */
};

/* Key of the excluded/included CIDR tries: IPv4 ranges are stored as
 * IPv4-mapped IPv6 (::ffff:a.b.c.d/96+n), so one trie serves both families. */
struct skiff_cidr_key {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Original destination recorded for the proxy-side socket of a captured
 * connection (map `orig_dst`, keyed by that socket's own tuple). */
struct skiff_orig_dst {
	__u8 addr[16];
	__u16 port;   /* host order */
	__u8 family;
	__u8 kind;    /* enum skiff_flow_kind */
};

/* The settings an instance was attached with (map `settings`, one entry):
 * what `skiff bpf status` shows and what a second attach compares against. */
#define SKIFF_CFG_SOCKMAP 0x1
#define SKIFF_CFG_IPV6    0x2
struct skiff_config {
	char cgroup_path[256];
	char netns_path[256];
	__u64 cgroup_id;
	__u64 netns_ino;
	__u64 attached_unix_s;
	__u64 redirect_window;
	__u32 proxy_uid;
	__u16 outbound_port;
	__u16 inbound_port;
	__u32 flags;   /* SKIFF_CFG_* */
	__u32 pad;
};

/* Every verdict and every fallback has a counter (per-CPU array `counters`,
 * indexed by enum skiff_counter). X(name, label, help). Append only: the
 * labels are what `skiff bpf status` and dashboards show. */
#define SKIFF_COUNTERS(X) \
	X(CONNECT_CAPTURED, "connect_captured", "connect() rewritten to the outbound listener") \
	X(CONNECT_PROXY_UID, "connect_proxy_uid", "connect() by the proxy's uid, not captured") \
	X(CONNECT_NOT_TCP, "connect_not_tcp", "connect() on a non-TCP socket") \
	X(CONNECT_LOOPBACK, "connect_loopback", "loopback destination, not captured") \
	X(CONNECT_PROXY_PORT, "connect_proxy_port", "destination is a proxy listener port") \
	X(CONNECT_EXCLUDED_PORT, "connect_excluded_port", "excluded outbound port") \
	X(CONNECT_EXCLUDED_CIDR, "connect_excluded_cidr", "destination in an excluded range") \
	X(CONNECT_NOT_INCLUDED, "connect_not_included", "destination outside the included ranges") \
	X(CONNECT_IPV6_OFF, "connect_ipv6_off", "IPv6 destination, IPv6 capture off") \
	X(CONNECT_NO_STORAGE, "connect_no_storage", "no socket storage to record the destination: not captured") \
	X(ORIG_DST_RECORD_FAIL, "orig_dst_record_fail", "orig_dst map update failed") \
	X(GETSOCKOPT_ANSWERED, "getsockopt_answered", "SO_ORIGINAL_DST answered from the map") \
	X(GETSOCKOPT_MISS, "getsockopt_miss", "SO_ORIGINAL_DST asked for an unknown connection") \
	X(GETSOCKOPT_SHORT_BUF, "getsockopt_short_buf", "SO_ORIGINAL_DST buffer too small") \
	X(LOOKUP_STEERED, "lookup_steered", "inbound SYN steered to the inbound listener") \
	X(LOOKUP_EXCLUDED_PORT, "lookup_excluded_port", "inbound to an excluded port") \
	X(LOOKUP_FROM_PROXY, "lookup_from_proxy", "inbound from the proxy (127.0.0.6)") \
	X(LOOKUP_LOOPBACK, "lookup_loopback", "inbound to a loopback address") \
	X(LOOKUP_NO_LISTENER, "lookup_no_listener", "no inbound listener registered: refused") \
	X(LOOKUP_ASSIGN_FAIL, "lookup_assign_fail", "sk_assign failed: refused") \
	X(LOOKUP_IPV6_OFF, "lookup_ipv6_off", "IPv6 inbound, IPv6 capture off") \
	X(SOCKHASH_ADDED, "sockhash_added", "socket added to the sockhash") \
	X(SOCKHASH_ADD_FAIL, "sockhash_add_fail", "sockhash update failed: flow not accelerated") \
	X(MSG_REDIRECTED, "msg_redirected", "sendmsg() redirected to the peer socket") \
	X(MSG_NO_PEER, "msg_no_peer", "peer socket not in the sockhash: TCP for this direction") \
	X(MSG_WINDOW_FALLBACK, "msg_window_fallback", "unanswered bytes over the window: TCP for this direction") \
	X(MSG_PASSED, "msg_passed", "sendmsg() through TCP after a fallback") \
	X(MSG_NO_FLOW, "msg_no_flow", "no flow entry to bound the redirect: TCP") \
	X(FLOW_CREATED, "flow_created", "flow entry created") \
	X(FLOW_DROPPED, "flow_dropped", "flows map full: flow not recorded") \
	X(FLOW_AGED, "flow_aged", "closed flow removed to make room") \
	X(SOCK_STORAGE_FAIL, "sock_storage_fail", "socket storage allocation failed") \
	X(LISTENER_REGISTERED, "listener_registered", "inbound listener socket registered at listen()") \
	X(LISTENER_REGISTER_FAIL, "listener_register_fail", "inbound listener socket could not be registered")

enum skiff_counter {
#define SKIFF_X_ENUM(name, label, help) SKIFF_CNT_##name,
	SKIFF_COUNTERS(SKIFF_X_ENUM)
#undef SKIFF_X_ENUM
	SKIFF_CNT__COUNT
};

#endif
