/* Unit tests of deploy/webhook.c's review: reading JSON through libyaml
 * (the quirks it rewrites or refuses), the JSON patch, the response, and
 * the 400s. The HTTPS server is tested end to end by
 * test/integration/deploy/test_webhook.py. Includes the .c to reach the
 * JSON helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "deploy/webhook.c"

#define REVIEW_HEAD                                                                                \
	"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":"        \
	"{\"uid\":\"u-1\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"          \
	"\"namespace\":\"shop\",\"operation\":\"CREATE\",\"object\":"
#define REVIEW_TAIL "}}"

static const struct inject_opts opts = {.image = "skiff:test"};

/* The review of `pod` (JSON text) answered; the answer's JSON is checked to
 * be one line. */
static int answer(const char *pod, struct webhook_answer *a)
{
	char *body = NULL;
	int rc;

	assert_true(asprintf(&body, REVIEW_HEAD "%s" REVIEW_TAIL, pod) > 0);
	rc = webhook_review(body, strlen(body), &opts, a);
	free(body);
	if (rc == 0) {
		assert_non_null(a->json);
		assert_int_equal(strlen(a->json), a->json_len);
		assert_ptr_equal(strchr(a->json, '\n'), a->json + a->json_len - 1);
	} else {
		assert_null(a->json);
		assert_null(strchr(a->message, '\n'));
	}
	return rc;
}

/* The patch of a->json, decoded, into buf. */
static void decoded_patch(const struct webhook_answer *a, char *buf, size_t len)
{
	const char *p = strstr(a->json, "\"patch\":\"");
	const char *end;
	int n;

	assert_non_null(p);
	p += 9;
	end = strchr(p, '"');
	assert_true((size_t)(end - p) / 4 * 3 < len);
	n = EVP_DecodeBlock((unsigned char *)buf, (const unsigned char *)p, (int)(end - p));
	assert_true(n > 0);
	while (n > 0 && buf[n - 1] == '\0')
		n--; /* EVP_DecodeBlock keeps the padding's zero bytes */
	buf[n] = '\0';
}

static void test_injects_with_whole_member_patch(void **state)
{
	struct webhook_answer a;
	char patch[16384];

	(void)state;
	assert_int_equal(
	    answer("{\"metadata\":{\"name\":\"web\",\"annotations\":{\"a\":\"b\"}},"
		   "\"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"app:1\"}]}}",
		   &a),
	    0);
	assert_int_equal(a.outcome, WEBHOOK_INJECTED);
	assert_string_equal(a.uid, "u-1");
	assert_string_equal(a.what, "shop/web");
	assert_non_null(strstr(a.json, "\"response\":{\"uid\":\"u-1\",\"allowed\":true,"
				       "\"patchType\":\"JSONPatch\",\"patch\":\""));
	decoded_patch(&a, patch, sizeof(patch));
	/* Annotations replaced whole, keeping the pod's own; the new members
	 * added; numbers and booleans unquoted, strings quoted. */
	assert_non_null(strstr(patch,
			       "[{\"op\":\"add\",\"path\":\"/metadata/annotations\",\"value\":"
			       "{\"a\":\"b\",\"skiff.io/status\":\"injected\"}},"
			       "{\"op\":\"add\",\"path\":\"/spec/initContainers\",\"value\":"
			       "[{\"name\":\"skiff-init\",\"image\":\"skiff:test\","));
	assert_non_null(strstr(patch, "\"containerPort\":15090,"));
	assert_non_null(strstr(patch, "\"runAsNonRoot\":true,"));
	assert_non_null(strstr(patch, "\"restartPolicy\":\"Always\","));
	assert_non_null(strstr(patch, "\"cpu\":\"50m\""));
	assert_non_null(strstr(patch, "{\"op\":\"add\",\"path\":\"/spec/volumes\",\"value\":[{"));
	assert_null(strstr(patch, "/spec/containers"));
	free(a.json);
}

static void test_generated_name_and_no_metadata(void **state)
{
	struct webhook_answer a;
	char patch[16384];

	(void)state;
	assert_int_equal(
	    answer("{\"metadata\":{\"generateName\":\"web-\"},\"spec\":{\"containers\":"
		   "[{\"name\":\"app\"}]}}",
		   &a),
	    0);
	assert_string_equal(a.what, "shop/web-*");
	free(a.json);
	/* No metadata at all: the whole of it is added. */
	assert_int_equal(answer("{\"spec\":{\"containers\":[{\"name\":\"app\"}]}}", &a), 0);
	decoded_patch(&a, patch, sizeof(patch));
	assert_non_null(strstr(patch, "{\"op\":\"add\",\"path\":\"/metadata\",\"value\":"
				      "{\"annotations\":{\"skiff.io/status\":\"injected\"}}}"));
	free(a.json);
}

static void test_left_alone(void **state)
{
	static const char *const pods[] = {
	    "{\"metadata\":{\"annotations\":{\"skiff.io/inject\":\"false\"}},"
	    "\"spec\":{\"containers\":[{\"name\":\"app\"}]}}",
	    "{\"metadata\":{\"annotations\":{\"skiff.io/status\":\"injected\"}},"
	    "\"spec\":{\"containers\":[{\"name\":\"app\"}]}}",
	    "{\"spec\":{\"hostNetwork\":true,\"containers\":[{\"name\":\"app\"}]}}",
	};
	static const char head[] =
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":"
	    "\"AdmissionReview\",\"response\":{\"uid\":\"u-1\",\"allowed\":true";
	struct webhook_answer a;

	(void)state;
	for (size_t i = 0; i < sizeof(pods) / sizeof(pods[0]); i++) {
		assert_int_equal(answer(pods[i], &a), 0);
		assert_int_equal(a.outcome, WEBHOOK_UNCHANGED);
		assert_null(strstr(a.json, "patch"));
		assert_true(strncmp(a.json, head, strlen(head)) == 0);
		if (i == 2)
			assert_non_null(strstr(a.json,
					       "\"warnings\":[\"skiff: admission request: "
					       "document 1 (Pod): spec.hostNetwork is true"));
		else
			assert_null(strstr(a.json, "warnings"));
		free(a.json);
	}
}

static void test_not_injected_with_warning(void **state)
{
	struct webhook_answer a;

	(void)state;
	assert_int_equal(
	    answer(
		"{\"metadata\":{\"name\":\"w\",\"annotations\":{\"skiff.io/proxyCPU\":\"lots\"}},"
		"\"spec\":{\"containers\":[{\"name\":\"app\"}]}}",
		&a),
	    0);
	assert_int_equal(a.outcome, WEBHOOK_NOT_INJECTED);
	assert_null(strstr(a.json, "patch"));
	assert_non_null(strstr(a.json,
			       "\"warnings\":[\"skiff: not injected: admission request: "
			       "document 1 (Pod w): metadata.annotations.skiff.io/proxyCPU:"));
	free(a.json);
	/* No containers: not a pod skiff can inject, but not a bad review. */
	assert_int_equal(answer("{\"spec\":{}}", &a), 0);
	assert_int_equal(a.outcome, WEBHOOK_NOT_INJECTED);
	free(a.json);
}

static void test_ignored(void **state)
{
	static const char *const bodies[] = {
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":"
	    "{\"uid\":\"x\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
	    "\"operation\":\"UPDATE\",\"object\":{\"spec\":{\"containers\":[]}}}}",
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":"
	    "{\"uid\":\"x\",\"kind\":{\"group\":\"apps\",\"version\":\"v1\",\"kind\":\"Pod\"},"
	    "\"operation\":\"CREATE\",\"object\":{}}}",
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":"
	    "{\"uid\":\"x\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
	    "\"subResource\":\"ephemeralcontainers\",\"operation\":\"CREATE\",\"object\":{}}}",
	};
	struct webhook_answer a;

	(void)state;
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		assert_int_equal(webhook_review(bodies[i], strlen(bodies[i]), &opts, &a), 0);
		assert_int_equal(a.outcome, WEBHOOK_IGNORED);
		assert_non_null(strstr(a.json, "{\"uid\":\"x\",\"allowed\":true}}"));
		free(a.json);
	}
}

/* Body, start of the 400 message. */
static const char *const bad[][2] = {
    {"", "not a JSON object"},
    {"  [1]", "not a JSON object"},
    {"{", "not JSON: line 2 column 1: did not find expected node content"},
    {"{\"a\":1} x", "not JSON: line 1 column 9: more after the object"},
    {"{\"a\":1}\n---\n{}", "not JSON: more than one document"},
    {"{\"a\": yes}", "not JSON: line 1 column 7: expected a string in double quotes"},
    {"{\"a\": 'x'}", "not JSON: line 1 column 7: unexpected character 0x27"},
    {"{\"a\": 01}", "not JSON: line 1 column 7: expected a string"},
    {"{a: 1}", "not JSON: line 1 column 2: expected a key in double quotes"},
    {"{\"a\": &x [1], \"b\": *x}", "not JSON: line 1 column 7: unexpected character 0x26"},
    {"{\"a\": !!str 1}", "not JSON: line 1 column 7: unexpected character 0x21"},
    {"{\"a\": 1 # c\n}", "not JSON: line 1 column 9: unexpected character 0x23"},
    {"{\"a\": [1]}\n\n \x01", "not JSON: line 3 column 2: unexpected character 0x01"},
    {"{\"a\": \"\\ud800\"}", "not JSON: line 1 column 10: found invalid Unicode"},
    {"{}", "apiVersion: expected \"admission.k8s.io/v1\""},
    {"{\"apiVersion\":\"admission.k8s.io/v1\"}", "kind: expected \"AdmissionReview\""},
    {"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}",
     "request: expected an object"},
    {"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}}",
     "request.uid: expected a string"},
    {"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":"
     "{\"uid\":42}}",
     "request.uid: expected a string"},
    {"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":"
     "{\"uid\":\"x\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
     "\"operation\":\"CREATE\",\"object\":[]}}",
     "request.object: expected the Pod"},
    {"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":"
     "{\"uid\":\"x\",\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
     "\"operation\":\"CREATE\",\"object\":null}}",
     "request.object: expected the Pod"},
};

static void test_bad_requests(void **state)
{
	struct webhook_answer a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = webhook_review(bad[i][0], strlen(bad[i][0]), &opts, &a);

		if (rc != -EINVAL || strncmp(a.message, bad[i][1], strlen(bad[i][1])) != 0)
			fail_msg("%s: rc %d, message \"%s\", want \"%s\"", bad[i][0], rc, a.message,
				 bad[i][1]);
		assert_int_equal(a.outcome, WEBHOOK_BAD_REQUEST);
		assert_null(a.json);
	}
}

static void test_too_deep_and_too_large(void **state)
{
	size_t n = 2000, len = n * 5 + 1 + n;
	char *body = malloc(len + 1), *w = body;
	struct webhook_answer a;

	(void)state;
	for (size_t i = 0; i < n; i++)
		w += sprintf(w, "{\"a\":");
	*w++ = '1';
	memset(w, '}', n);
	w[n] = '\0';
	assert_int_equal(webhook_review(body, len, &opts, &a), -EINVAL);
	assert_non_null(strstr(a.message, "nested too deep"));
	assert_int_equal(webhook_review(body, WEBHOOK_MAX_BODY + 1, &opts, &a), -EFBIG);
	assert_int_equal(a.outcome, WEBHOOK_TOO_LARGE);
	free(body);
}

static void test_uid_is_echoed_escaped(void **state)
{
	static const char body[] =
	    "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":"
	    "{\"uid\":\"a\\\"b\\n\\u0001\\\\\",\"operation\":\"DELETE\"}}";
	struct webhook_answer a;

	(void)state;
	assert_int_equal(webhook_review(body, sizeof(body) - 1, &opts, &a), 0);
	assert_non_null(strstr(a.json, "{\"uid\":\"a\\\"b\\n\\u0001\\\\\",\"allowed\":true}"));
	assert_string_equal(a.uid, "a?b??\\"); /* for a log line */
	free(a.json);
}

/* What libyaml would read differently from JSON is rewritten first. */
static void test_json_rewrite(void **state)
{
	static const char *const cases[][2] = {
	    {" \t\n{\"a\":\"x\"}", "{\"a\":\"x\"}"},
	    {"{\"e\":\"\\ud83d\\udea2\"}", "{\"e\":\"\\U0001f6a2\"}"},
	    {"{\"e\":\"\\\\ud83d\\\\udea2\"}", "{\"e\":\"\\\\ud83d\\\\udea2\"}"},
	    {"{\"e\":\"\xc2\x85|\xe2\x80\xa8|\xe2\x80\xa9|\xc2\x9f|\xef\xbf\xbe|\x7f\"}",
	     "{\"e\":\"\\N|\\L|\\P|\\x9f|\\uFFFE|\\x7f\"}"},
	    {"{\"q\\\"\xe2\x80\xa8\":2}", "{\"q\\\"\\L\":2}"},
	};
	char err[128], *out;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
		    json_rewrite(cases[i][0], strlen(cases[i][0]), &out, &len, err, sizeof(err)),
		    0);
		assert_string_equal(out, cases[i][1]);
		assert_int_equal(strlen(out), len);
		free(out);
	}
}

/* Values come back as they went in: escapes, non-ASCII, numbers. */
static void test_values_round_trip(void **state)
{
	static const char pod[] =
	    "{\"metadata\":{\"annotations\":{\"n\":\"caf\\u00e9 \\ud83d\\udea2 \\u2028\\t\\/\","
	    "\"raw\":\"\xe2\x80\xa8\xc2\x85\x7f\xef\xbf\xbf\"}},\"spec\":{\"containers\":[{"
	    "\"name\":\"app\"}]}}";
	struct webhook_answer a;
	char patch[16384];

	(void)state;
	assert_int_equal(answer(pod, &a), 0);
	decoded_patch(&a, patch, sizeof(patch));
	assert_non_null(strstr(patch, "\"n\":\"caf\xc3\xa9 \xf0\x9f\x9a\xa2 \xe2\x80\xa8\\t/\","
				      "\"raw\":\"\xe2\x80\xa8\xc2\x85\\u007f\xef\xbf\xbf\""));
	free(a.json);
}

static void test_json_number(void **state)
{
	static const char *const yes[] = {"0", "-0", "12", "1.5", "-1.5e3", "1E+2", "0.0e-1"};
	static const char *const no[] = {"",   "-",   "01", "1.",    ".5",
					 "1e", "0x1", "+1", "1_000", ".inf"};

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(json_number(yes[i], strlen(yes[i])));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(json_number(no[i], strlen(no[i])));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_injects_with_whole_member_patch),
	    cmocka_unit_test(test_generated_name_and_no_metadata),
	    cmocka_unit_test(test_left_alone),
	    cmocka_unit_test(test_not_injected_with_warning),
	    cmocka_unit_test(test_ignored),
	    cmocka_unit_test(test_bad_requests),
	    cmocka_unit_test(test_too_deep_and_too_large),
	    cmocka_unit_test(test_uid_is_echoed_escaped),
	    cmocka_unit_test(test_json_rewrite),
	    cmocka_unit_test(test_values_round_trip),
	    cmocka_unit_test(test_json_number),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
