/* The node daemon's configuration: for every pod of the registry, the two
 * listeners and two clusters a sidecar of that pod would have, each opened
 * in the pod's network namespace and speaking mTLS with the pod's own
 * identity.
 *
 *   pod|NS/NAME|virtualOutbound  127.0.0.1:15001 in the pod, original
 *       destination (the capture's), tcp_proxy to
 *   pod|NS/NAME|outbound         ORIGINAL_DST over mTLS (ALPN skiff-tcp) with
 *       the pod's certificate, connecting from the pod's namespace (so from
 *       the pod's IP); the peer must be of the pod's trust domain.
 *   pod|NS/NAME|virtualInbound   POD_IP:15006 in the pod (sk_lookup steers
 *       the pod's ports there), strict mTLS with the pod's certificate, the
 *       client's certificate required, tcp_proxy to
 *   pod|NS/NAME|inbound          ORIGINAL_DST from 127.0.0.6 inside the pod:
 *       the app on the port the peer dialled.
 *
 * Every tcp_proxy writes its access log to the node's access log, where
 * listener_name says which pod and downstream_peer_uri_san who called. */
#ifndef SKIFF_NODE_NODE_CONFIG_H
#define SKIFF_NODE_NODE_CONFIG_H

#include <stddef.h>

#include "node/pod_registry.h"
#include "proxy/config.h"

/* Adds the listeners and clusters of every pod of reg to snap, a snapshot
 * being built (config_source's dynamic hook). Returns 0, or -ENOMEM with
 * err set. */
int node_config_add(struct snapshot *snap, const struct pod_registry *reg, char *err,
		    size_t errlen);

/* Removes the listeners of snap that would open in the node's own network
 * namespace (no netns): for the embedded default bootstrap, whose sidecar
 * listeners make no sense on a node. */
void node_config_drop_host_listeners(struct snapshot *snap);

#endif
