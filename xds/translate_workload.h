/* Istio's workload API (xds/api/istio/workload/workload.proto, the
 * `type.googleapis.com/istio.workload.Address` resources ztunnel reads) ->
 * the identity the node daemon gives a pod: who it is (uid, name,
 * namespace, service account, trust domain), where (its IPs) and on which
 * node it runs. The network namespace is not in it: only the CNI knows that
 * (node/pod.h).
 *
 * Validation is strict, as for a pod descriptor (node/pod.c): these fields
 * become listener names, SPIFFE ids and certificate paths. Messages are one
 * line, `workload "UID": field: reason`, what a NACK's error_detail says. */
#ifndef SKIFF_XDS_TRANSLATE_WORKLOAD_H
#define SKIFF_XDS_TRANSLATE_WORKLOAD_H

#include <arpa/inet.h>
#include <stddef.h>

#include "istio/workload/workload.pb-c.h"

#define XDS_TYPE_WORKLOAD "type.googleapis.com/istio.workload.Address"

/* Addresses one workload may have (Istio sends one per family). */
#define XDS_WORKLOAD_MAX_ADDRESSES 8

struct xds_workload {
	char *uid;             /* the pod's metadata.uid: [0-9a-f-]{1,48} */
	char *name;            /* DNS-1123 subdomain */
	char *namespace;       /* DNS-1123 label */
	char *service_account; /* DNS-1123 subdomain ["default"] */
	char *trust_domain;    /* SPIFFE trust domain, or NULL: the mesh's default */
	char *node;            /* the node it runs on (DNS-1123 subdomain), or NULL */
	char addresses[XDS_WORKLOAD_MAX_ADDRESSES][INET6_ADDRSTRLEN]; /* IP literals */
	size_t n_addresses;
};

/* The resource name of an Address, as Istio keys them: a workload's uid, a
 * service's "namespace/hostname". Returns 0 with *out malloc'd; -EINVAL
 * with err when it has none or it is not UTF-8 without a NUL; -ENOMEM. */
int xds_address_name(const Istio__Workload__Address *a, char **out, char *err, size_t errlen);

/* Translates an Address. Returns 1 with *out owning its strings when it is a
 * workload; 0 (out zeroed) for a service, which the node daemon does not
 * use; -EINVAL with err when the workload is invalid or the Address holds
 * neither; -ENOMEM. */
int xds_translate_address(const Istio__Workload__Address *a, struct xds_workload *out, char *err,
			  size_t errlen);

/* Frees what *w owns and zeroes it. */
void xds_workload_clear(struct xds_workload *w);

#endif
