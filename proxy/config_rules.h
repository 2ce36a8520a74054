/* Rules a configuration must keep whichever source it comes from (bootstrap
 * YAML or xDS): the readers check syntax and types, then ask these for the
 * rules between fields. A violation names the field relative to the
 * listener and the reason; each reader puts its own location in front. */
#ifndef SKIFF_PROXY_CONFIG_RULES_H
#define SKIFF_PROXY_CONFIG_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "proxy/config.h"

#define TLS_INSPECTOR_FILTER "envoy.filters.listener.tls_inspector"

/* Which field of filter_chains[chain] a violation is about. */
enum chain_field {
	CHAIN_FIELD_NAME,
	CHAIN_FIELD_MATCH,              /* filter_chain_match */
	CHAIN_FIELD_TRANSPORT_SOCKET,
	CHAIN_FIELD_TRANSPORT_PROTOCOL, /* filter_chain_match.transport_protocol */
};

struct config_violation {
	size_t chain;
	enum chain_field field;
	char path[96];    /* "filter_chains[1].name" */
	char reason[160];
};

/* The rules between a listener's chains. Two chains are Istio's permissive
 * mode: the tls_inspector reads the first bytes, a TLS ClientHello picks the
 * tls chain and anything else the other, so that one is plaintext. Returns
 * 0, or -EINVAL with *v filled. */
int config_check_chains(const struct listener *l, bool has_tls_inspector,
			struct config_violation *v);

#endif
