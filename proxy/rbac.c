/* Network RBAC evaluation; see rbac.h. */
#include "proxy/rbac.h"

#include <stddef.h>
#include <string.h>

static bool principal_matches(const struct rbac_principal *p, const char *principal)
{
	if (p->any)
		return true;
	return principal && strcmp(p->principal_name, principal) == 0;
}

static bool permission_matches(const struct rbac_permission *p, uint16_t dst_port)
{
	return p->any || p->destination_port == dst_port;
}

/* A policy matches when one of its permissions and one of its principals
 * do, as in Envoy. */
static bool policy_matches(const struct rbac_policy *pol, const char *principal, uint16_t port)
{
	bool permitted = false, identified = false;
	for (size_t i = 0; i < pol->n_permissions && !permitted; i++)
		permitted = permission_matches(&pol->permissions[i], port);
	for (size_t i = 0; i < pol->n_principals && !identified; i++)
		identified = principal_matches(&pol->principals[i], principal);
	return permitted && identified;
}

bool rbac_allows(const struct rbac_config *rules, const char *principal, uint16_t dst_port,
		 const char **policy)
{
	*policy = NULL;
	for (size_t i = 0; i < rules->n_policies; i++) {
		if (policy_matches(&rules->policies[i], principal, dst_port)) {
			*policy = rules->policies[i].name;
			return rules->action == RBAC_ALLOW;
		}
	}
	return rules->action == RBAC_DENY;
}
