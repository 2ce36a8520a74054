/* The node daemon's pods: the descriptors of a directory (node/pod.h),
 * watched with inotify, each pod set up when its descriptor appears and
 * torn down when it goes: the eBPF datapath attached to the pod's cgroup and
 * network namespace (an instance per pod, bpf/datapath.h), the pod's
 * identity checked, and a leaf cgroup under the pod's bound to its network
 * namespace so skiff's listening sockets there run the pod's programs
 * (proxy/netns.h). node/node_config.c turns the pods into listeners and
 * clusters.
 *
 * A pod that cannot be served (a bad descriptor, an identity that does not
 * load or names another service account, a namespace already taken) is
 * logged and left out; the others go on. A datapath that will not attach is
 * a warning: the pod is still served on its ports, without capture. Main
 * thread only.
 *
 * With xds_identity (node mode with ADS), the control plane's workloads
 * (Istio's WDS, xds/translate_workload.h) of this node complete the
 * descriptors: a descriptor then needs only uid and netns
 * (pod_parse_partial). The workload with the descriptor's uid, or else
 * with its IP, gives the pod's name, namespace, service account, trust
 * domain and IP, over what the descriptor says; the certificates of that
 * identity are then CERTS_DIR/<namespace>/<service account>/{cert,key,
 * ca}.pem unless the descriptor names its own. A pod without a whole
 * identity waits (logged once), as does a workload without a descriptor:
 * only the CNI knows a pod's network namespace. */
#ifndef SKIFF_NODE_POD_REGISTRY_H
#define SKIFF_NODE_POD_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpf/datapath.h"
#include "node/pod.h"

/* Pods one daemon serves at most; descriptors beyond are logged and left. */
#define POD_REGISTRY_MAX 512

/* The leaf cgroup made under each pod's cgroup for skiff's listeners. */
#define POD_LEAF_CGROUP "skiff-node"

struct xds_workload;

struct node_opts {
	const char *pods_dir;            /* the descriptors */
	bool xds_identity;               /* identities from xDS workloads, above */
	const char *node_name;           /* only workloads on this node are used */
	const char *certs_dir;           /* identities' certificates [/var/run/skiff/certs] */
	const char *cgroup_root;         /* where to look for a pod's cgroup by uid when
					  * its descriptor names none (NULL: the cgroup2
					  * mount) */
	const char *access_log;          /* every pod's access log [/dev/stdout] */
	bool bpf;                        /* attach the datapath to each pod */
	struct bpf_attach_opts bpf_opts; /* per pod; instance is the prefix of
					  * the pods' instance names ["node"] */
};

struct pod_registry;

/* Opens the registry on o->pods_dir (which must exist) and starts watching
 * it; no pod is read yet. `o` must outlive the registry. Returns 0 and
 * *out, or -errno with err set. */
int pod_registry_open(const struct node_opts *o, struct pod_registry **out, char *err,
		      size_t errlen);

/* The inotify descriptor to poll for changes to the directory. */
int pod_registry_fd(const struct pod_registry *r);

/* Reads what the directory holds now (draining pending inotify events),
 * tears down pods whose descriptor went or changed and sets up new ones.
 * Returns the number of pods added plus removed (0: nothing to publish). */
int pod_registry_refresh(struct pod_registry *r);

/* Replaces the workloads from the control plane with those of v whose node
 * is o->node_name (copied). Takes effect at the next refresh. Returns 0,
 * or -ENOMEM with err (the previous ones kept). */
int pod_registry_set_workloads(struct pod_registry *r, const struct xds_workload *v, size_t n,
			       char *err, size_t errlen);

/* The pods being served, in descriptor file name order. */
size_t pod_registry_count(const struct pod_registry *r);
const struct pod *pod_registry_pod(const struct pod_registry *r, size_t i);

/* The options the registry was opened with. */
const struct node_opts *pod_registry_opts(const struct pod_registry *r);

/* Ages closed flows out of each pod's per-flow map (bpf_datapath_gc). */
void pod_registry_gc(struct pod_registry *r, uint64_t linger_ns);

/* Tears every pod down (detaches its datapath, removes the leaf cgroup)
 * and frees the registry. NULL is a no-op. */
void pod_registry_close(struct pod_registry *r);

#endif
