/* Authorization of a connection by Envoy's network RBAC rules: who the peer
 * is (its SPIFFE id from mTLS) and which port it was going to. */
#ifndef SKIFF_PROXY_RBAC_H
#define SKIFF_PROXY_RBAC_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/config.h"

/* Whether rules let a connection through. principal is the peer's SPIFFE id
 * or NULL for a plaintext peer (which only `any` principals match).
 * *policy is set to the name of the policy that decided, or NULL when none
 * matched (an ALLOW with no match denies, a DENY with no match allows). */
bool rbac_allows(const struct rbac_config *rules, const char *principal, uint16_t dst_port,
		 const char **policy);

#endif
