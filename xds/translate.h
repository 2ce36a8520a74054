/* xDS resources (decoded protobuf, xds/api/) -> the snapshot types of
 * proxy/config.h, one resource at a time, under the rules the bootstrap
 * reader applies to the same fields (proxy/bootstrap.c). Checks across
 * resources (names unique, tcp_proxy clusters and SDS secrets resolved,
 * addresses distinct) belong to whoever assembles the snapshot.
 *
 * Messages are one line: `listener "x": filter_chains[0].filters[1].
 * typed_config: unsupported type URL "..." (supported: ...)`, the resource
 * kind and name, the field path, the reason: what a NACK's error_detail
 * carries.
 *
 * On success the out-structs own malloc'd strings and arrays exactly as
 * proxy/snapshot.c frees them, so a translated listener or cluster can be
 * moved into a snapshot's arrays as is. On error they are left zeroed. */
#ifndef SKIFF_XDS_TRANSLATE_H
#define SKIFF_XDS_TRANSLATE_H

#include <stddef.h>
#include <stdint.h>

#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb-c.h"
#include "proxy/config.h"

/* SDS secrets a TLS context names instead of carrying files; NULL where it
 * carries them (then tls_config has the file names). The assembler resolves
 * them to Secrets (xds_translate_secret) and fills the tls_config's files,
 * and the client subscribes to them. */
struct xds_tls_refs {
	char *cert_secret; /* tls_certificate_sds_secret_configs[0].name */
	char *ca_secret;   /* validation_context_sds_secret_config.name, or
			    * combined_validation_context's */
};

/* What a listener refers to by name, beyond its tcp_proxy clusters (which
 * are in chains[i].tcp_proxy.cluster_name, cluster pointer NULL). */
struct xds_listener_refs {
	struct xds_tls_refs chains[LISTENER_MAX_CHAINS];
};

struct xds_cluster_refs {
	/* An EDS cluster's ClusterLoadAssignment: eds_cluster_config.
	 * service_name, else the cluster's name. NULL for other types. */
	char *eds_service_name;
	struct xds_tls_refs tls;
};

/* A certificate, key or bundle from a Secret: a file to read, or the PEM
 * itself (inline_bytes / inline_string). Exactly one is set. */
struct xds_data {
	char *filename;
	uint8_t *pem; /* not NUL-terminated */
	size_t pem_len;
};

enum xds_secret_kind {
	XDS_SECRET_TLS_CERTIFICATE,    /* cert_chain + private_key */
	XDS_SECRET_VALIDATION_CONTEXT, /* trusted_ca */
};

struct xds_secret {
	char *name;
	enum xds_secret_kind kind;
	struct xds_data cert_chain;
	struct xds_data private_key;
	struct xds_data trusted_ca;
};

/* Listener -> *out (cluster pointers NULL) and *refs. The listener must
 * carry filter chains of [rbac,] then tcp_proxy or http_connection_manager,
 * over plaintext or TLS, as in docs/xds.md. An http_connection_manager with
 * rds names its route configuration in chains[i].http->rds_name (for the
 * assembler to subscribe to and resolve); an inline one is translated and
 * prepared like an RDS one. Returns 0; -EINVAL with the reason in `err`; -ENOMEM. */
int xds_translate_listener(const Envoy__Config__Listener__V3__Listener *pb, struct listener *out,
			   struct xds_listener_refs *refs, char *err, size_t errlen);

/* Cluster of type STATIC, ORIGINAL_DST or EDS -> *out and *refs. An EDS
 * cluster comes out as CLUSTER_STATIC with no endpoints and
 * refs->eds_service_name set: its endpoints are those of that
 * ClusterLoadAssignment (xds_translate_endpoints), and it may have none.
 * Returns as xds_translate_listener. */
int xds_translate_cluster(const Envoy__Config__Cluster__V3__Cluster *pb, struct cluster *out,
			  struct xds_cluster_refs *refs, char *err, size_t errlen);

/* ClusterLoadAssignment -> a malloc'd array of its usable endpoints (health
 * UNKNOWN, HEALTHY or DEGRADED, as Envoy routes to) in *out, *n of them
 * (*out NULL when none). Returns as xds_translate_listener. */
int xds_translate_endpoints(const Envoy__Config__Endpoint__V3__ClusterLoadAssignment *pb,
			    struct endpoint **out, size_t *n, char *err, size_t errlen);

/* Secret holding a tls_certificate or a validation_context -> *out.
 * Returns as xds_translate_listener. */
int xds_translate_secret(const Envoy__Extensions__TransportSockets__Tls__V3__Secret *pb,
			 struct xds_secret *out, char *err, size_t errlen);

/* RouteConfiguration -> *out, its regexes compiled (router_prepare): a
 * pattern that does not compile is an error naming the route configuration
 * and the field ("route_configuration "r": virtual_hosts[0].routes[2].match.
 * safe_regex.regex: ..."). Routes name clusters (cluster pointers NULL,
 * resolved by snapshot_link). Free a result not moved into a snapshot with
 * xds_route_config_clear. Returns as xds_translate_listener. */
int xds_translate_route_config(const Envoy__Config__Route__V3__RouteConfiguration *pb,
			       struct route_config *out, char *err, size_t errlen);

/* Free what a translation filled and zero the struct; for results that are
 * dropped instead of moved into a snapshot. tls_config's ctx and identity
 * are never set by translation; when the assembler set them, they go too
 * (snapshot_*_clear). */
void xds_listener_clear(struct listener *l);
void xds_cluster_clear(struct cluster *c);
void xds_listener_refs_clear(struct xds_listener_refs *r);
void xds_cluster_refs_clear(struct xds_cluster_refs *r);
void xds_secret_clear(struct xds_secret *s);
void xds_route_config_clear(struct route_config *rc);

#endif
