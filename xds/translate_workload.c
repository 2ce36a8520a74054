/* Istio workloads -> node identities; see translate_workload.h. */
#include "xds/translate_workload.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "node/pod.h"
#include "xds/resources.h"

static bool dns_name_ok(const ProtobufCBinaryData *b, size_t max, bool dots)
{
	return pod_dns_name_ok((const char *)b->data, b->len, max, dots);
}

static bool charset_ok(const ProtobufCBinaryData *b, size_t max, const char *set)
{
	if (b->len == 0 || b->len > max)
		return false;
	for (size_t i = 0; i < b->len; i++)
		if (!b->data[i] || !strchr(set, b->data[i]))
			return false;
	return true;
}

enum check { CHECK_UID, CHECK_SUBDOMAIN, CHECK_LABEL, CHECK_TRUST_DOMAIN };

static const char *check_value(enum check c, const ProtobufCBinaryData *b)
{
	switch (c) {
	case CHECK_UID:
		/* A pod's metadata.uid, or istiod's "<cluster>//Pod/<ns>/<name>":
		 * only compared, never put in a path or a pin name. */
		return charset_ok(b, 48, "0123456789abcdef-") ||
				       charset_ok(b, 512,
						  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
						  "0123456789-._/")
			   ? NULL
			   : "expected a pod's metadata.uid or istiod's cluster//Pod/namespace/name "
			     "([A-Za-z0-9._/-], at most 512)";
	case CHECK_SUBDOMAIN:
		return dns_name_ok(b, 253, true) ? NULL : "expected a DNS-1123 subdomain";
	case CHECK_LABEL:
		return dns_name_ok(b, 63, false) ? NULL : "expected a DNS-1123 label";
	case CHECK_TRUST_DOMAIN:
		/* The SPIFFE spec's trust domain characters. */
		return charset_ok(b, 255, "abcdefghijklmnopqrstuvwxyz0123456789.-_")
			   ? NULL
			   : "expected a SPIFFE trust domain ([a-z0-9._-], at most 255)";
	}
	return "unknown check";
}

static char *dup_bytes(const ProtobufCBinaryData *b)
{
	char *s = malloc(b->len + 1);
	if (s) {
		memcpy(s, b->data, b->len);
		s[b->len] = '\0';
	}
	return s;
}

/* Checks one field (absent: `dflt`, or NULL when it is required and not
 * `optional`) into *out. Returns 0, -EINVAL with err, -ENOMEM. */
static int take(const ProtobufCBinaryData *b, enum check c, const char *field, bool optional,
		const char *dflt, const char *uid, char **out, char *err, size_t errlen)
{
	if (b->len == 0) {
		if (!dflt && optional)
			return 0;
		if (!dflt) {
			snprintf(err, errlen, "workload \"%s\": %s: missing", uid, field);
			return -EINVAL;
		}
		return (*out = strdup(dflt)) ? 0 : -ENOMEM;
	}
	const char *why = check_value(c, b);
	if (why) {
		char shown[XDS_SHOWN_MAX];
		snprintf(err, errlen, "workload \"%s\": %s: \"%s\": %s", uid, field,
			 xds_shown(b->data, b->len, shown), why);
		return -EINVAL;
	}
	return (*out = dup_bytes(b)) ? 0 : -ENOMEM;
}

static int take_addresses(const Istio__Workload__Workload *w, struct xds_workload *out, char *err,
			  size_t errlen)
{
	if (w->n_addresses > XDS_WORKLOAD_MAX_ADDRESSES) {
		snprintf(err, errlen, "workload \"%s\": addresses: %zu, at most %d", out->uid,
			 w->n_addresses, XDS_WORKLOAD_MAX_ADDRESSES);
		return -EINVAL;
	}
	for (size_t i = 0; i < w->n_addresses; i++) {
		const ProtobufCBinaryData *a = &w->addresses[i];
		if (a->len != 4 && a->len != 16) {
			snprintf(err, errlen,
				 "workload \"%s\": addresses[%zu]: %zu bytes, expected 4 (IPv4) or "
				 "16 (IPv6)",
				 out->uid, i, a->len);
			return -EINVAL;
		}
		inet_ntop(a->len == 4 ? AF_INET : AF_INET6, a->data, out->addresses[i],
			  sizeof(out->addresses[i]));
	}
	out->n_addresses = w->n_addresses;
	return 0;
}

static int translate_workload(const Istio__Workload__Workload *w, struct xds_workload *out,
			      char *err, size_t errlen)
{
	char shown[XDS_SHOWN_MAX];
	const char *uid = xds_shown(w->uid.data, w->uid.len, shown);
	if (!w->uid.len) {
		char ns[XDS_SHOWN_MAX], name[XDS_SHOWN_MAX];
		snprintf(err, errlen, "workload \"%s/%s\": uid: missing",
			 xds_shown(w->namespace_.data, w->namespace_.len, ns),
			 xds_shown(w->name.data, w->name.len, name));
		return -EINVAL;
	}
	char *u = NULL;
	int rc = take(&w->uid, CHECK_UID, "uid", false, NULL, uid, &u, err, errlen);
	out->uid = u;
	if (rc == 0)
		rc = take(&w->name, CHECK_SUBDOMAIN, "name", false, NULL, uid, &out->name, err,
			  errlen);
	if (rc == 0)
		rc = take(&w->namespace_, CHECK_LABEL, "namespace", false, NULL, uid,
			  &out->namespace, err, errlen);
	if (rc == 0)
		rc = take(&w->service_account, CHECK_SUBDOMAIN, "service_account", false, "default",
			  uid, &out->service_account, err, errlen);
	if (rc == 0)
		rc = take(&w->trust_domain, CHECK_TRUST_DOMAIN, "trust_domain", true, NULL, uid,
			  &out->trust_domain, err, errlen);
	if (rc == 0)
		rc = take(&w->node, CHECK_SUBDOMAIN, "node", true, NULL, uid, &out->node, err,
			  errlen);
	if (rc == 0)
		rc = take_addresses(w, out, err, errlen);
	if (rc == -ENOMEM)
		snprintf(err, errlen, "workload \"%s\": out of memory", uid);
	return rc;
}

int xds_translate_address(const Istio__Workload__Address *a, struct xds_workload *out, char *err,
			  size_t errlen)
{
	memset(out, 0, sizeof(*out));
	switch (a->type_case) {
	case ISTIO__WORKLOAD__ADDRESS__TYPE_SERVICE:
		return 0;
	case ISTIO__WORKLOAD__ADDRESS__TYPE_WORKLOAD:
		break;
	default:
		snprintf(err, errlen, "address: neither a workload nor a service");
		return -EINVAL;
	}
	int rc = translate_workload(a->workload, out, err, errlen);
	if (rc < 0) {
		xds_workload_clear(out);
		return rc;
	}
	return 1;
}

int xds_address_name(const Istio__Workload__Address *a, char **out, char *err, size_t errlen)
{
	const ProtobufCBinaryData *parts[2] = {NULL, NULL};
	const char *what;
	if (a->type_case == ISTIO__WORKLOAD__ADDRESS__TYPE_WORKLOAD) {
		parts[0] = &a->workload->uid;
		what = "workload: uid";
	} else if (a->type_case == ISTIO__WORKLOAD__ADDRESS__TYPE_SERVICE) {
		parts[0] = &a->service->namespace_;
		parts[1] = &a->service->hostname;
		what = "service: namespace and hostname";
	} else {
		snprintf(err, errlen, "address: neither a workload nor a service");
		return -EINVAL;
	}
	for (int i = 0; i < 2 && parts[i]; i++) {
		if (!parts[i]->len || !xds_text_valid(parts[i]->data, parts[i]->len)) {
			snprintf(err, errlen, "address: %s: must be UTF-8 without a NUL, not empty",
				 what);
			return -EINVAL;
		}
	}
	size_t len = parts[0]->len + (parts[1] ? 1 + parts[1]->len : 0);
	char *s = malloc(len + 1);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(s, parts[0]->data, parts[0]->len);
	if (parts[1]) {
		s[parts[0]->len] = '/';
		memcpy(s + parts[0]->len + 1, parts[1]->data, parts[1]->len);
	}
	s[len] = '\0';
	*out = s;
	return 0;
}

void xds_workload_clear(struct xds_workload *w)
{
	free(w->uid);
	free(w->name);
	free(w->namespace);
	free(w->service_account);
	free(w->trust_domain);
	free(w->node);
	memset(w, 0, sizeof(*w));
}
