/* Every map and every tunable of skiff's BPF datapath, defined once. Each
 * bpf/<hook>.bpf.c includes this header; the definitions are __weak and
 * identical, so the static link (`bpftool gen object`) keeps one copy and
 * every program of the linked object shares it. BPF side only. */
#ifndef SKIFF_BPF_MAPS_H
#define SKIFF_BPF_MAPS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpf/skiff_abi.h"

/* sk_storage, sockhash redirect and sk_lookup need a GPL-compatible program. */
char LICENSE[] SEC("license") __weak = "GPL";

/* Tunables, set by the loader through the skeleton before load. */
const volatile __u32 cfg_proxy_uid __weak = SKIFF_DEFAULT_PROXY_UID;
const volatile __u16 cfg_outbound_port __weak = SKIFF_DEFAULT_OUTBOUND_PORT;
const volatile __u16 cfg_inbound_port __weak = SKIFF_DEFAULT_INBOUND_PORT;
const volatile __u8 cfg_accelerate __weak = 0;   /* sockhash + sk_msg */
const volatile __u8 cfg_capture_ipv6 __weak = 0; /* native IPv6 (not v4-mapped) */
const volatile __u64 cfg_redirect_window __weak = 1 << 20;
const volatile __u64 cfg_flow_linger_ns __weak = 30ULL * 1000000000ULL;
const volatile __u64 cfg_cgroup_id __weak = 0;   /* the attach cgroup */

/* Per-reason counters (enum skiff_counter); per-CPU, summed when read. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SKIFF_CNT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps") __weak;

/* One entry per captured or accelerated flow, keyed client -> server. Full:
 * closed flows past their linger are swept, then the insert is counted as
 * FLOW_DROPPED and the flow runs untracked (and unaccelerated). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SKIFF_FLOWS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct skiff_tuple);
	__type(value, struct skiff_flow);
} flows SEC(".maps") __weak;

/* Original destination per proxy-side socket tuple, read by getsockopt.
 * Deleted when the proxy-side socket closes; LRU so connections the proxy
 * never accepted cannot fill it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SKIFF_ORIG_DST_MAX);
	__type(key, struct skiff_tuple);
	__type(value, struct skiff_orig_dst);
} orig_dst SEC(".maps") __weak;

/* Per-socket state: from connect() to sockops, and the redirect role. */
struct skiff_sock {
	__u8 orig_daddr[16];
	__u16 orig_dport;
	__u8 orig_family;
	__u8 flags; /* SKIFF_SOCK_* */
	__u64 cgroup_id;
};
#define SKIFF_SOCK_CAPTURED 0x01 /* app socket rewritten by connect() */
#define SKIFF_SOCK_PROXY    0x02 /* socket of the proxy's uid */
#define SKIFF_SOCK_CLIENT   0x04 /* connect side of an accelerated flow */
#define SKIFF_SOCK_SERVER   0x08 /* accept side of an accelerated flow */
#define SKIFF_SOCK_NO_REDIR 0x10 /* sticky: this socket sends through TCP */
#define SKIFF_SOCK_OWNER    0x20 /* its TCP counters feed the flow entry */

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct skiff_sock);
} sock_state SEC(".maps") __weak;

/* Both ends of app<->proxy connections, keyed by each socket's own tuple;
 * sk_msg redirects to the entry under the reversed tuple. Sockets leave it
 * when they close. Full: SOCKHASH_ADD_FAIL, the flow stays on TCP. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, SKIFF_SOCKHASH_MAX);
	__type(key, struct skiff_tuple);
	__type(value, __u64);
} sockhash SEC(".maps") __weak;

/* The proxy's inbound listening sockets for sk_lookup, in slot
 * cookie % SKIFF_INBOUND_SLOTS. sockops fills it when a socket of the cgroup
 * listens on the inbound port, so the proxy needs no privilege (and an
 * unmodified proxy works); a node daemon outside the pod's cgroup registers
 * its socket through bpf_datapath_set_inbound_socket(). Any member of an
 * SO_REUSEPORT group will do: the kernel runs reuseport selection within the
 * group after sk_assign. A closed socket leaves the map by itself. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, SKIFF_INBOUND_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} inbound_listener SEC(".maps") __weak;

/* Exclusions, changed at run time by `skiff bpf attach` without reloading.
 * Ports in host order; value unused (presence is the answer). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SKIFF_EXCLUDED_PORTS_MAX);
	__type(key, __u16);
	__type(value, __u8);
} excluded_ports_out SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SKIFF_EXCLUDED_PORTS_MAX);
	__type(key, __u16);
	__type(value, __u8);
} excluded_ports_in SEC(".maps") __weak;

/* Outbound destinations are captured when they match `included_cidrs`
 * (the loader puts ::/0 there for "everything") and not `excluded_cidrs`. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SKIFF_CIDRS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct skiff_cidr_key);
	__type(value, __u8);
} excluded_cidrs SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SKIFF_CIDRS_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct skiff_cidr_key);
	__type(value, __u8);
} included_cidrs SEC(".maps") __weak;

/* The settings this instance was attached with; written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct skiff_config);
} settings SEC(".maps") __weak;

#endif
