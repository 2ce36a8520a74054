/* node/pod.c: pod descriptors, the node daemon's untrusted input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node/pod.h"

#define GOOD_JSON                                                                                  \
	"{\"uid\": \"7d0c1a3e-4b1f-4f0e-9a55-0b6f2d1c9e21\", \"name\": \"web-0\",\n"               \
	" \"namespace\": \"shop\", \"service_account\": \"web\",\n"                                \
	" \"netns\": \"/var/run/netns/cni-1234\", \"ip\": \"10.244.1.7\",\n"                       \
	" \"cgroup\": \"/sys/fs/cgroup/kubepods/pod7d0c1a3e\",\n"                                  \
	" \"cert\": \"/certs/web/cert.pem\", \"key\": \"/certs/web/key.pem\",\n"                   \
	" \"ca\": \"/certs/web/ca.pem\"}\n"

static int parse(const char *text, struct pod *p, char *err, size_t errlen)
{
	return pod_parse(text, strlen(text), "pod.json", p, err, errlen);
}

static void test_json_descriptor(void **state)
{
	struct pod p;
	char err[256] = "";
	(void)state;
	assert_int_equal(parse(GOOD_JSON, &p, err, sizeof(err)), 0);
	assert_string_equal(p.uid, "7d0c1a3e-4b1f-4f0e-9a55-0b6f2d1c9e21");
	assert_string_equal(p.name, "web-0");
	assert_string_equal(p.namespace, "shop");
	assert_string_equal(p.service_account, "web");
	assert_string_equal(p.netns, "/var/run/netns/cni-1234");
	assert_string_equal(p.ip, "10.244.1.7");
	assert_string_equal(p.ca, "/certs/web/ca.pem");
	char path[128];
	pod_spiffe_path(&p, path, sizeof(path));
	assert_string_equal(path, "/ns/shop/sa/web");
	pod_clear(&p);
	assert_null(p.uid);
}

static void test_yaml_descriptor_defaults(void **state)
{
	struct pod p, q;
	char err[256] = "";
	(void)state;
	const char *yaml = "uid: abc-1\nname: a\nnamespace: default\nnetns: /proc/42/ns/net\n"
			   "cert: /c/cert.pem\nkey: /c/key.pem\nca: /c/ca.pem\n";
	assert_int_equal(parse(yaml, &p, err, sizeof(err)), 0);
	assert_string_equal(p.service_account, "default");
	assert_null(p.cgroup);
	assert_null(p.ip);
	assert_int_equal(parse(yaml, &q, err, sizeof(err)), 0);
	assert_true(pod_equal(&p, &q));
	free(q.netns);
	q.netns = strdup("/proc/43/ns/net");
	assert_false(pod_equal(&p, &q));
	pod_clear(&p);
	pod_clear(&q);
}

/* Each case: a change to the good descriptor, and what the error names. */
static void test_refused(void **state)
{
	static const struct {
		const char *text;
		const char *want; /* substring of the error */
	} cases[] = {
	    {"", "expected a mapping"},
	    {"[1, 2]", "expected a mapping"},
	    {"{\"uid\": \"a\"", "pod.json:"},
	    {"{\"uid\": \"A-B\"}", "uid: expected the pod's metadata.uid"},
	    {"{\"uid\": \"a\", \"uid\": \"b\"}", "uid: given twice"},
	    {"{\"uid\": \"a\", \"colour\": \"red\"}", "colour: unknown field"},
	    {"{\"uid\": [\"a\"]}", "uid: expected a string"},
	    {"{\"uid\": \"a\", \"name\": \"Web\"}", "name: expected a DNS-1123 subdomain"},
	    {"{\"uid\": \"a\", \"namespace\": \"a.b\"}", "namespace: expected a DNS-1123 label"},
	    {"{\"uid\": \"a\", \"netns\": \"relative/path\"}", "netns: expected an absolute path"},
	    {"{\"uid\": \"a\", \"netns\": \"/var/run/../../etc/x\"}",
	     "netns: expected an absolute"},
	    {"{\"uid\": \"a\", \"cert\": \"/a b\"}", "cert: expected an absolute path"},
	    {"{\"uid\": \"a\", \"ip\": \"10.0.0.256\"}", "ip: expected an IPv4 or IPv6 literal"},
	    {"{\"uid\": \"a\", \"netns\": \"/x\\u0000y\"}", "netns: NUL byte"},
	    {"{\"uid\": \"a\", \"name\": \"a\", \"namespace\": \"b\"}", "netns: missing"},
	    {"{\"uid\": \"a\",\n \"name\": \"a\",\n \"namespace\": \"b\",\n \"bad\": 1}",
	     "pod.json:4: bad"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pod p;
		char err[256] = "";
		assert_int_equal(parse(cases[i].text, &p, err, sizeof(err)), -EINVAL);
		if (!strstr(err, cases[i].want))
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, err, cases[i].want);
		assert_null(p.uid);
		assert_null(strchr(err, '\n'));
	}
}

static void test_size_bound(void **state)
{
	struct pod p;
	char err[256];
	(void)state;
	assert_int_equal(
	    pod_parse(GOOD_JSON, POD_DESC_MAX_BYTES + 1, "big.json", &p, err, sizeof(err)),
	    -EINVAL);
	assert_non_null(strstr(err, "larger than"));
}

/* With identities from xDS: uid and netns suffice; halves of an identity
 * or of a certificate set are refused; the strict parser still wants all. */
static void test_partial_descriptor(void **state)
{
	struct pod p, q;
	char err[256] = "";
	(void)state;
	const char *min = "{\"uid\": \"abc-1\", \"netns\": \"/run/netns/a\", "
			  "\"cgroup\": \"/sys/fs/cgroup/a\"}";
	assert_int_equal(pod_parse_partial(min, strlen(min), "a.json", &p, err, sizeof(err)), 0);
	assert_string_equal(p.uid, "abc-1");
	assert_null(p.name);
	assert_null(p.service_account);
	assert_null(p.cert);
	assert_false(pod_has_identity(&p));
	assert_int_equal(pod_copy(&q, &p), 0);
	assert_true(pod_equal(&p, &q));
	q.trust_domain = strdup("cluster.local");
	assert_false(pod_equal(&p, &q));
	pod_clear(&q);
	pod_clear(&p);
	assert_int_equal(parse(min, &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "pod.json:1: name: missing");

	static const struct {
		const char *text, *err;
	} bad[] = {
	    {"{\"netns\": \"/run/netns/a\"}", "a.json:1: uid: missing"},
	    {"{\"uid\": \"a\"}", "a.json:1: netns: missing"},
	    {"{\"uid\": \"a\", \"netns\": \"/n\", \"name\": \"x\"}",
	     "a.json:1: namespace: missing (name and namespace go together)"},
	    {"{\"uid\": \"a\", \"netns\": \"/n\", \"cert\": \"/c\", \"key\": \"/k\"}",
	     "a.json:1: ca: missing (cert, key and ca go together)"},
	    {"{\"uid\": \"a\", \"netns\": \"/n\", \"pod\": \"x\"}", "a.json:1: pod: unknown field"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pod_parse_partial(bad[i].text, strlen(bad[i].text), "a.json", &p,
						   err, sizeof(err)),
				 -EINVAL);
		assert_string_equal(err, bad[i].err);
	}
	const char *named = "{\"uid\": \"a\", \"netns\": \"/n\", \"name\": \"x\", "
			    "\"namespace\": \"y\"}";
	assert_int_equal(pod_parse_partial(named, strlen(named), "a.json", &p, err, sizeof(err)), 0);
	assert_string_equal(p.service_account, "default");
	pod_clear(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_descriptor),
	    cmocka_unit_test(test_yaml_descriptor_defaults),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_size_bound),
	    cmocka_unit_test(test_partial_descriptor),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
