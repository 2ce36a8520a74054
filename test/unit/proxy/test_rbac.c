/* Tests proxy/rbac.c: Envoy's network RBAC semantics, table-driven. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "proxy/rbac.h"

#define WEB "spiffe://cluster.local/ns/default/sa/web"
#define DB "spiffe://cluster.local/ns/default/sa/db"

static struct rbac_principal web = { .principal_name = WEB };
static struct rbac_principal anyone = { .any = true };
static struct rbac_permission port_8080 = { .destination_port = 8080 };
static struct rbac_permission any_port = { .any = true };

static struct rbac_policy web_on_8080 = {
	.name = "web-8080",
	.permissions = &port_8080, .n_permissions = 1,
	.principals = &web, .n_principals = 1,
};
static struct rbac_policy anyone_anywhere = {
	.name = "open",
	.permissions = &any_port, .n_permissions = 1,
	.principals = &anyone, .n_principals = 1,
};

struct verdict_case {
	const char *what;
	enum rbac_action action;
	struct rbac_policy *policy; /* NULL: no policies */
	const char *principal;
	uint16_t port;
	bool allowed;
	const char *decided_by;
};

static const struct verdict_case cases[] = {
	{ "allow: the named principal on its port", RBAC_ALLOW, &web_on_8080, WEB, 8080, true, "web-8080" },
	{ "allow: another principal", RBAC_ALLOW, &web_on_8080, DB, 8080, false, NULL },
	{ "allow: the principal on another port", RBAC_ALLOW, &web_on_8080, WEB, 9090, false, NULL },
	{ "allow: plaintext peer has no principal", RBAC_ALLOW, &web_on_8080, NULL, 8080, false, NULL },
	{ "allow: any matches plaintext too", RBAC_ALLOW, &anyone_anywhere, NULL, 1, true, "open" },
	{ "allow with no policies denies all", RBAC_ALLOW, NULL, WEB, 8080, false, NULL },
	{ "deny: the named principal", RBAC_DENY, &web_on_8080, WEB, 8080, false, "web-8080" },
	{ "deny: others pass", RBAC_DENY, &web_on_8080, DB, 8080, true, NULL },
	{ "deny with no policies allows all", RBAC_DENY, NULL, NULL, 8080, true, NULL },
};

static void test_verdicts(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct verdict_case *c = &cases[i];
		struct rbac_config rules = { .action = c->action, .policies = c->policy,
					     .n_policies = c->policy ? 1 : 0 };
		const char *by = "unset";
		bool allowed = rbac_allows(&rules, c->principal, c->port, &by);
		if (allowed != c->allowed)
			fail_msg("%s: got %s", c->what, allowed ? "allowed" : "denied");
		if (c->decided_by ? !by || strcmp(by, c->decided_by) != 0 : by != NULL)
			fail_msg("%s: decided by %s", c->what, by ? by : "(none)");
	}
}

static void test_principal_compare_is_exact(void **state)
{
	(void)state;
	struct rbac_config rules = { .action = RBAC_ALLOW, .policies = &web_on_8080, .n_policies = 1 };
	const char *by;
	assert_false(rbac_allows(&rules, WEB "x", 8080, &by));
	assert_false(rbac_allows(&rules, "spiffe://cluster.local/ns/default/sa/we", 8080, &by));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verdicts),
		cmocka_unit_test(test_principal_compare_is_exact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
