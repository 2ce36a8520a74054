/* Cross-field configuration rules; see config_rules.h. */
#include "proxy/config_rules.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char *const field_paths[] = {
	[CHAIN_FIELD_NAME] = "name",
	[CHAIN_FIELD_MATCH] = "filter_chain_match",
	[CHAIN_FIELD_TRANSPORT_SOCKET] = "transport_socket",
	[CHAIN_FIELD_TRANSPORT_PROTOCOL] = "filter_chain_match.transport_protocol",
};

static int violation(struct config_violation *v, size_t chain, enum chain_field field,
		     const char *reason)
{
	v->chain = chain;
	v->field = field;
	snprintf(v->path, sizeof(v->path), "filter_chains[%zu].%s", chain, field_paths[field]);
	snprintf(v->reason, sizeof(v->reason), "%s", reason);
	return -EINVAL;
}

int config_check_chains(const struct listener *l, bool has_tls_inspector,
			struct config_violation *v)
{
	size_t n_tls = 0, tls_at = 0;
	for (size_t i = 0; i < l->n_chains; i++) {
		if (l->chains[i].match == CHAIN_MATCH_TLS) {
			n_tls++;
			tls_at = i;
		}
	}
	if (l->n_chains == 2 && l->chains[0].name && l->chains[1].name &&
	    strcmp(l->chains[0].name, l->chains[1].name) == 0) {
		char why[160];
		snprintf(why, sizeof(why), "duplicate name \"%s\" (also filter_chains[0])",
			 l->chains[1].name);
		return violation(v, 1, CHAIN_FIELD_NAME, why);
	}
	if (l->n_chains == 2 && n_tls != 1)
		return violation(v, 1, CHAIN_FIELD_MATCH,
				 "with two filter chains, one must match transport_protocol tls and "
				 "the other raw_buffer or nothing");
	if (l->n_chains == 2 && l->chains[1 - tls_at].tls)
		return violation(v, 1 - tls_at, CHAIN_FIELD_TRANSPORT_SOCKET,
				 "must be absent on the plaintext chain beside a transport_protocol "
				 "tls chain");
	if (n_tls && !has_tls_inspector)
		return violation(v, tls_at, CHAIN_FIELD_TRANSPORT_PROTOCOL,
				 "needs the " TLS_INSPECTOR_FILTER " listener filter");
	return 0;
}
