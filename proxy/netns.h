/* Sockets inside another network namespace, for the node shape: one skiff
 * serves every pod of a node, and opens each pod's listening and upstream
 * sockets in that pod's network namespace (as Istio's ztunnel does). A
 * socket keeps the namespace it was created in for its whole life, so only
 * its creation needs to happen there.
 *
 * Upstream sockets are created on the calling thread: setns(CLONE_NEWNET)
 * into the pod, socket(), setns back. Listening sockets of a namespace that
 * has a cgroup bound to it (netns_bind_cgroup) are created by a short-lived
 * helper process that first joins that cgroup: a socket belongs to the
 * cgroup of the task that created it (accepted sockets to their listener's),
 * and the pod's BPF programs (SO_ORIGINAL_DST from cgroup/getsockopt, the
 * sk_lookup registration and sockmap acceleration from sockops) only run for
 * sockets of the pod's cgroup. Upstream sockets stay in skiff's own cgroup,
 * so the pod's connect() capture never sees them.
 *
 * Needs CAP_SYS_ADMIN (setns), which the node daemon has. */
#ifndef SKIFF_PROXY_NETNS_H
#define SKIFF_PROXY_NETNS_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/config.h"

/* Bound on netns_bind_cgroup() entries: far above a node's pod limit. */
#define NETNS_BINDINGS_MAX 1024

/* A socket(domain, type, 0) created in the network namespace at path `netns`
 * (a /proc/PID/ns/net or /var/run/netns/NAME file); NULL: in the caller's.
 * Returns the fd, or -errno (-ENOENT: the namespace is gone). Any thread. */
int netns_socket(const char *netns, int domain, int type);

/* listener_open() (proxy/listener.h) in the network namespace `netns`
 * (NULL: the caller's), through a helper process in the namespace's bound
 * cgroup when it has one. Returns the fd, or -errno with err naming the
 * namespace and the step that failed. Any thread. */
int netns_listener_open(const char *netns, const struct sock_addr *addr, bool reuseport, char *err,
			size_t errlen);

/* Listening sockets opened in `netns` from now on belong to the cgroup v2
 * directory `cgroup` (a leaf: the helper process joins it). Replaces an
 * earlier binding. Returns 0, -ENOSPC past NETNS_BINDINGS_MAX, -ENOMEM. */
int netns_bind_cgroup(const char *netns, const char *cgroup);

/* Forgets the binding of `netns`, if any. */
void netns_unbind_cgroup(const char *netns);

#endif
