/* A pod descriptor: what the node daemon (`skiff run --node`) needs to serve
 * one pod of its node, written by the CNI plugin or the kubelet-facing
 * helper as one small file per pod in the pods directory. JSON or YAML, a
 * flat mapping of strings:
 *
 *   {"uid": "7d0c1a3e-4b1f-4f0e-9a55-0b6f2d1c9e21", "name": "web-0",
 *    "namespace": "shop", "service_account": "web",
 *    "netns": "/var/run/netns/cni-1234", "ip": "10.244.1.7",
 *    "cgroup": "/sys/fs/cgroup/kubepods.slice/...pod7d0c1a3e_....slice",
 *    "cert": "/var/run/skiff/certs/web-0/cert.pem",
 *    "key": "/var/run/skiff/certs/web-0/key.pem",
 *    "ca": "/var/run/skiff/certs/web-0/ca.pem"}
 *
 * The file is untrusted input (anyone who can write the directory can ask
 * for a pod): every field is checked, unknown fields are refused.
 *
 * With identities from the control plane (Istio's workloads, node mode with
 * ADS), a descriptor may say less: pod_parse_partial. */
#ifndef SKIFF_NODE_POD_H
#define SKIFF_NODE_POD_H

#include <stdbool.h>
#include <stddef.h>

/* Descriptor files larger than this are refused. */
#define POD_DESC_MAX_BYTES (64u << 10)

struct pod {
	char *uid;             /* metadata.uid: [0-9a-f-]{1,48} */
	char *name;            /* metadata.name: a DNS-1123 subdomain */
	char *namespace;       /* metadata.namespace: a DNS-1123 label */
	char *service_account; /* spec.serviceAccountName ["default"] */
	char *netns;           /* the pod's network namespace file (absolute) */
	char *cgroup;          /* the pod's cgroup v2 directory (absolute), or
				* NULL: found by uid under the node's cgroup root */
	char *ip;              /* the pod's IP literal, or NULL */
	char *cert;            /* the pod's X.509-SVID, key and trust bundle */
	char *key;
	char *ca;
	char *trust_domain; /* never in a descriptor: from the pod's workload
			     * (xDS), or NULL: not checked */
};

/* Parses `len` bytes at `text` (named `source` in messages) into *out.
 * Returns 0 with *out owning its strings, or -EINVAL (-ENOMEM) with *out
 * zeroed and a one-line "SOURCE:LINE: field: reason" in err. */
int pod_parse(const char *text, size_t len, const char *source, struct pod *out, char *err,
	      size_t errlen);

/* As pod_parse, for a node whose control plane sends the pods' identities:
 * only uid and netns are required; name and namespace come together or not
 * at all, as do cert, key and ca; service_account defaults to "default"
 * only beside a name. What is missing, xDS fills in (node/pod_registry.h).
 * Returns as pod_parse. */
int pod_parse_partial(const char *text, size_t len, const char *source, struct pod *out, char *err,
		      size_t errlen);

/* True when p names a whole identity: name, namespace, service account
 * and the certificate files. */
bool pod_has_identity(const struct pod *p);

/* Copies src into *dst. Returns 0, or -ENOMEM with *dst zeroed. */
int pod_copy(struct pod *dst, const struct pod *src);

/* Frees what *p owns and zeroes it. */
void pod_clear(struct pod *p);

/* True when both describe the same pod with the same settings. */
bool pod_equal(const struct pod *a, const struct pod *b);

/* Kubernetes' DNS-1123 label (max 63, no dots) or subdomain (max 253,
 * dots between labels): lower-case alphanumerics and '-', `n` bytes at s.
 * Descriptors and xDS workloads are checked alike with it, so the same pod
 * passes both ways in. */
bool pod_dns_name_ok(const char *s, size_t n, size_t max, bool dots);

/* The SPIFFE id path the pod's certificate must carry (Istio's
 * "/ns/<namespace>/sa/<service account>"), into buf. */
void pod_spiffe_path(const struct pod *p, char *buf, size_t len);

#endif
