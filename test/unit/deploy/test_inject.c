/* Unit tests of deploy/inject.c: what is added where, what is left alone,
 * idempotence, and the messages for input that cannot be injected. The
 * golden corpus (test/integration/deploy) covers whole manifests. Includes
 * the .c to reach the annotation checkers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "deploy/inject.c"

struct result {
	int rc;
	char *out;
	struct inject_counts counts;
	char err[512];
};

static struct result run(const char *in)
{
	struct inject_opts o = {.source = "t.yaml"};
	struct result r = {0};
	size_t len;

	r.rc = inject_yaml(in, strlen(in), &o, &r.out, &len, &r.counts, r.err, sizeof(r.err));
	if (r.rc == 0)
		assert_int_equal(strlen(r.out), len);
	else
		assert_null(r.out);
	return r;
}

/* Injects `in`, checks the output holds each of `want` (NULL-terminated),
 * and that injecting the output again gives the same bytes. */
static void check_injects(const char *in, unsigned injected, const char *const *want)
{
	struct result r = run(in), again;

	assert_int_equal(r.rc, 0);
	assert_int_equal(r.counts.injected, injected);
	for (; want && *want; want++)
		if (!strstr(r.out, *want))
			fail_msg("missing \"%s\" in:\n%s", *want, r.out);
	again = run(r.out);
	assert_int_equal(again.rc, 0);
	assert_int_equal(again.counts.injected, 0);
	assert_int_equal(again.counts.already_injected, injected);
	assert_string_equal(again.out, r.out);
	free(r.out);
	free(again.out);
}

static void test_pod_gets_sidecar_first(void **state)
{
	(void)state;
	static const char *const want[] = {
	    "initContainers:\n  - name: skiff-init\n",
	    "  - name: skiff-proxy\n    image: skiff:latest\n    restartPolicy: Always\n",
	    "  - name: skiff-proxy",
	    "  - name: db-wait",
	    "skiff.io/status: injected",
	    "secretName: skiff-certs-default",
	    NULL};
	const char *in = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n"
			 "  initContainers:\n  - name: db-wait\n    image: busybox\n"
			 "  containers:\n  - name: app\n    image: app\n";
	struct result r = run(in);

	assert_int_equal(r.rc, 0);
	/* ours before the pod's own init containers */
	assert_true(strstr(r.out, "skiff-proxy") < strstr(r.out, "db-wait"));
	free(r.out);
	check_injects(in, 1, want);
}

static void test_every_workload_kind(void **state)
{
	(void)state;
	static const char *const kinds[] = {"Deployment", "StatefulSet",           "DaemonSet",
					    "ReplicaSet", "ReplicationController", "Job"};
	char in[512];

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		snprintf(in, sizeof(in),
			 "kind: %s\nmetadata: {name: w}\nspec:\n  template:\n    spec:\n"
			 "      containers: [{name: a, image: b}]\n",
			 kinds[i]);
		check_injects(in, 1, NULL);
	}
	check_injects("kind: CronJob\nspec:\n  jobTemplate:\n    spec:\n      template:\n"
		      "        spec: {containers: [{name: a, image: b}]}\n",
		      1, NULL);
	check_injects("kind: List\nitems:\n- kind: Pod\n  spec: {containers: [{name: a}]}\n"
		      "- kind: ConfigMap\n- kind: DeploymentList\n  items:\n  - kind: Deployment\n"
		      "    spec: {template: {spec: {containers: [{name: a}]}}}\n",
		      2, NULL);
}

static void test_annotations_become_flags(void **state)
{
	(void)state;
	static const char *const want[] = {
	    "- --exclude-outbound-ports\n        - \"5432,6379\"\n",
	    "- --exclude-inbound-ports\n        - \"15020,15021,15090,9000\"\n",
	    "- --include-cidrs\n        - \"10.0.0.0/8,fd00::/8\"\n",
	    "- --exclude-cidrs\n        - \"10.96.0.1/32\"\n",
	    "cpu: \"200m\"",
	    "memory: \"1Gi\"",
	    "limits:\n            memory: \"2Gi\"",
	    "secretName: skiff-certs-web",
	    "keep: me",
	    NULL};
	check_injects("kind: Deployment\nspec:\n  template:\n    metadata:\n      annotations:\n"
		      "        keep: me\n"
		      "        skiff.io/excludeOutboundPorts: \"5432, 6379\"\n"
		      "        skiff.io/excludeInboundPorts: \"9000\"\n"
		      "        skiff.io/includeOutboundIPRanges: 10.0.0.0/8,fd00::/8\n"
		      "        skiff.io/excludeOutboundIPRanges: 10.96.0.1/32\n"
		      "        skiff.io/proxyCPU: 200m\n        skiff.io/proxyMemory: 1Gi\n"
		      "        skiff.io/proxyMemoryLimit: 2Gi\n"
		      "    spec:\n      serviceAccountName: web\n      containers: [{name: a}]\n",
		      1, want);
	/* "*" is every range, which is attach's default: no flag */
	struct result r =
	    run("kind: Pod\nmetadata: {annotations: {skiff.io/includeOutboundIPRanges: "
		"'*'}}\nspec: {containers: [{name: a}]}\n");
	assert_int_equal(r.rc, 0);
	assert_null(strstr(r.out, "--include-cidrs"));
	free(r.out);
}

static void test_left_alone(void **state)
{
	(void)state;
	static const char *const cases[] = {
	    "kind: Pod\nmetadata: {annotations: {skiff.io/inject: 'false'}}\n"
	    "spec: {containers: [{name: a}]}\n",
	    "kind: Pod\nspec: {hostNetwork: true, containers: [{name: a}]}\n",
	    "kind: Service\nspec: {ports: [{port: 80}]}\n",
	    "just a scalar\n",
	    "- a\n- list\n",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r = run(cases[i]);
		assert_int_equal(r.rc, 0);
		assert_string_equal(r.out, cases[i]);
		assert_int_equal(r.counts.injected, 0);
		free(r.out);
	}
}

static void test_errors_name_document_and_path(void **state)
{
	(void)state;
	static const struct {
		const char *in, *err;
	} cases[] = {
	    {"kind: Pod\nspec: [\n", "t.yaml:3:1: "},
	    {"kind: Service\n---\nkind: Deployment\nmetadata: {name: w}\nspec: {}\n",
	     "t.yaml: document 2 (Deployment w): spec.template: missing"},
	    {"kind: Pod\nmetadata: {name: p}\nspec: {containers: {}}\n",
	     "t.yaml: document 1 (Pod p): spec.containers: expected a sequence"},
	    {"kind: Deployment\nspec: {template: {metadata: {annotations: "
	     "{skiff.io/excludeOutboundPorts: '80,x'}}, spec: {containers: []}}}\n",
	     "spec.template.metadata.annotations.skiff.io/excludeOutboundPorts: expected"},
	    {"kind: Pod\nmetadata: {annotations: {skiff.io/inject: maybe}}\n"
	     "spec: {containers: []}\n",
	     "metadata.annotations.skiff.io/inject: expected \"true\" or \"false\""},
	    {"kind: Pod\nmetadata: {annotations: {skiff.io/excludeOutboundIPRanges: 10.0.0.0/33}}\n"
	     "spec: {containers: []}\n",
	     "excludeOutboundIPRanges: expected"},
	    {"kind: Pod\nspec: {containers: [], volumes: [{name: skiff-certs}]}\n",
	     "spec.volumes: a volume is already named skiff-certs"},
	    {"kind: Pod\nspec: {containers: [], serviceAccountName: 'Bad Name'}\n",
	     "spec.serviceAccountName: expected a service account name"},
	    {"kind: Pod\nmetadata: {name: \"a\\nb\"}\nspec: {containers: []}\n"
	     "---\nkind: Pod\nmetadata: {name: \"a\\nb\"}\nspec: 3\n",
	     "document 2 (Pod a?b): spec: expected a mapping"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct result r = run(cases[i].in);
		assert_int_equal(r.rc, -EINVAL);
		if (!strstr(r.err, cases[i].err))
			fail_msg("case %zu: \"%s\" does not contain \"%s\"", i, r.err,
				 cases[i].err);
		assert_null(strchr(r.err, '\n'));
	}
}

static void test_deep_nesting_refused(void **state)
{
	(void)state;
	size_t n = 5000;
	char *in = malloc(2 * n + 2);

	memset(in, '[', n);
	memset(in + n, ']', n);
	strcpy(in + 2 * n, "\n");
	struct result r = run(in);
	assert_int_equal(r.rc, -EINVAL);
	assert_non_null(strstr(r.err, "nested deeper"));
	free(in);
}

static void test_checkers(void **state)
{
	(void)state;
	assert_true(quantity_ok("100m") && quantity_ok("1.5Gi") && quantity_ok("1e3") &&
		    quantity_ok("2") && quantity_ok(".5"));
	assert_false(quantity_ok("") || quantity_ok("m") || quantity_ok("1x") ||
		     quantity_ok("1e") || quantity_ok("1Mi "));
	assert_true(cidr_ok("10.0.0.0/8") && cidr_ok("::/0") && cidr_ok("fd00::/128"));
	assert_false(cidr_ok("10.0.0.0") || cidr_ok("10.0.0.0/33") || cidr_ok("x/8") ||
		     cidr_ok("10.0.0.0/") || cidr_ok("fd00::/129"));
	assert_true(port_ok("1") && port_ok("65535"));
	assert_false(port_ok("0") || port_ok("65536") || port_ok("") || port_ok("-1"));
	assert_true(inject_image_ok("registry.example.com:5000/skiff@sha256:abc"));
	assert_false(inject_image_ok("a b") || inject_image_ok("\"x\"") || inject_image_ok("-x") ||
		     inject_image_ok(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pod_gets_sidecar_first),
	    cmocka_unit_test(test_every_workload_kind),
	    cmocka_unit_test(test_annotations_become_flags),
	    cmocka_unit_test(test_left_alone),
	    cmocka_unit_test(test_errors_name_document_and_path),
	    cmocka_unit_test(test_deep_nesting_refused),
	    cmocka_unit_test(test_checkers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
