/* The BPF datapath as userspace sees it: attach an instance (connect capture,
 * SO_ORIGINAL_DST, sk_lookup inbound steering, sockops + sk_msg acceleration,
 * per-flow metrics) to a pod's cgroup and network namespace, pin it under
 * /sys/fs/bpf/skiff/<instance>, find it again, detach it. bpf/loader.c owns
 * the skeleton; everything shared with the kernel side is in skiff_abi.h.
 *
 * BPF is an accelerator, not the policy (HARDENING.md): callers treat a
 * failed attach as "run without it", never as a reason to skip mTLS. */
#ifndef SKIFF_BPF_DATAPATH_H
#define SKIFF_BPF_DATAPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/skiff_abi.h"

_Static_assert(sizeof(struct skiff_tuple) == 40, "skiff_tuple layout");
_Static_assert(sizeof(struct skiff_flow) == 128, "skiff_flow layout");
_Static_assert(sizeof(struct skiff_cidr_key) == 20, "skiff_cidr_key layout");
_Static_assert(sizeof(struct skiff_orig_dst) == 20, "skiff_orig_dst layout");
_Static_assert(sizeof(struct skiff_config) == 560, "skiff_config layout");

/* How an instance is attached. bpf_attach_opts_init() fills the defaults;
 * NULL strings mean "the default" as stated per field. Lists are
 * comma-separated, as in Istio's annotations
 * (traffic.sidecar.istio.io/excludeOutboundPorts: "5432,6379"). */
struct bpf_attach_opts {
	const char *instance;      /* NULL: "default"; [A-Za-z0-9_-]{1,63} (bpffs refuses dots) */
	const char *cgroup_path;   /* NULL: the caller's cgroup; absolute, or
				    * relative to the cgroup v2 mount */
	const char *netns_path;    /* NULL: /proc/self/ns/net */
	uint32_t proxy_uid;        /* 1337: its connections are never captured */
	uint16_t outbound_port;    /* 15001 */
	uint16_t inbound_port;     /* 15006 */
	bool sockmap;              /* sockhash + sk_msg acceleration (off: see
				    * docs/bpf.md before turning it on) */
	bool ipv6;                 /* capture native IPv6 too (off): the proxy
				    * must then listen on [::1] and [::] */
	uint64_t redirect_window;  /* 0: 1 MiB; see bpf/redirect.bpf.c */
	const char *exclude_outbound_ports; /* e.g. "5432,6379" */
	const char *exclude_inbound_ports;  /* NULL: "15020,15021,15090" */
	const char *exclude_cidrs;          /* e.g. "10.96.0.1/32,fd00::/8" */
	const char *include_cidrs;          /* NULL or "*": everything */
};

struct bpf_datapath;

/* Fills `o` with the defaults above. */
void bpf_attach_opts_init(struct bpf_attach_opts *o);

/* Attaches an instance and pins it. Idempotent: when the instance is already
 * attached with the same cgroup, netns, uid, ports and switches, the
 * exclusion maps are updated in place (no reload) and the returned handle
 * does not own the instance; with different settings it fails with -EEXIST.
 * Leftovers of an interrupted attach are removed first. On success *out is a
 * handle the caller frees with bpf_datapath_detach(). Returns 0 or -errno,
 * with a message naming the missing piece (capability, kernel feature,
 * cgroup v2, ...) in `err`. */
int bpf_datapath_attach(const struct bpf_attach_opts *opts, struct bpf_datapath **out, char *err,
			size_t errlen);

/* Opens an instance attached by someone else (the `skiff bpf attach` init
 * step) without owning it. Returns 0, -ENOENT when not attached, or -errno. */
int bpf_datapath_open(const char *instance, struct bpf_datapath **out, char *err, size_t errlen);

/* Frees the handle. If this handle attached the instance, detaches it and
 * removes its pins; an adopted instance stays attached. NULL is a no-op. */
void bpf_datapath_detach(struct bpf_datapath *dp);

/* Whether this handle attached the instance (false: it adopted one that was
 * already attached, with the same settings). */
bool bpf_datapath_is_owner(const struct bpf_datapath *dp);

/* Frees the handle and leaves the instance attached, whoever attached it
 * (what `skiff bpf attach` does before it exits). NULL is a no-op. */
void bpf_datapath_close(struct bpf_datapath *dp);

/* Tells sk_lookup which socket is the inbound listener. Only needed when the
 * proxy runs outside the instance's cgroup (node daemon): inside it, the
 * sockops program registers any socket that listens on the inbound port by
 * itself. With SO_REUSEPORT one member is enough: the kernel spreads
 * connections over the group. While no listener is registered, inbound
 * connections to captured ports are refused (fail closed, as iptables
 * REDIRECT with no proxy). Returns 0 or -errno (-EOPNOTSUPP: not a TCP
 * listening socket). */
int bpf_datapath_set_inbound_socket(struct bpf_datapath *dp, int listen_fd);

/* Sums the per-CPU reason counters into out[SKIFF_CNT__COUNT]. 0 or -errno. */
int bpf_datapath_counters(struct bpf_datapath *dp, uint64_t out[SKIFF_CNT__COUNT]);

/* Deletes closed flows older than `linger_ns` (the kernel side does the same
 * only when the table is full). Returns how many were deleted, or -errno.
 * `skiff run` may call it every few seconds. */
int bpf_datapath_gc(struct bpf_datapath *dp, uint64_t linger_ns);

/* Detaches and unpins instance `instance` (NULL: "default") whoever attached
 * it: links are detached even if another process still holds them. Returns
 * 0, -ENOENT when it was not attached (nothing to do), or -errno. */
int bpf_datapath_detach_instance(const char *instance, char *err, size_t errlen);

/* The label and help text of counter `c` (skiff_abi.h), or NULL. */
const char *bpf_counter_label(unsigned c);
const char *bpf_counter_help(unsigned c);

/* Checks an instance name ([A-Za-z0-9_-]{1,63} (bpffs refuses dots)). */
bool bpf_instance_name_ok(const char *name);

/* Writes the pin directory of `instance` into buf. 0, or -ENAMETOOLONG. */
int bpf_instance_dir(const char *instance, char *buf, size_t len);

/* The mount point of the first `fstype` mount in /proc/mounts (and at
 * want_dir, when not NULL) into out. Returns 0, -ENOENT or -errno. */
int bpf_find_mount(const char *fstype, const char *want_dir, char *out, size_t len);

#endif
