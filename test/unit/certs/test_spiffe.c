/* certs/spiffe.c: the SPIFFE-ID rules, and reading the id of an X.509-SVID. */
#include "test/unit/certs/helpers.h"

#include "certs/spiffe.h"

struct id_case {
	const char *desc;
	const char *id;
	size_t len; /* 0: strlen(id) */
	enum spiffe_err want;
};

static const struct id_case id_cases[] = {
    {"workload id", "spiffe://example.org/ns/default/sa/web", 0, SPIFFE_OK},
    {"trust domain id (no path)", "spiffe://example.org", 0, SPIFFE_OK},
    {"all allowed characters", "spiffe://a-b_c.0/A-Z_a.z-09", 0, SPIFFE_OK},
    {"dots inside a segment", "spiffe://example.org/.well/..b/c..", 0, SPIFFE_OK},
    {"empty", "", 0, SPIFFE_ERR_EMPTY},
    {"other scheme", "https://example.org/x", 0, SPIFFE_ERR_SCHEME},
    {"uppercase scheme", "SPIFFE://example.org/x", 0, SPIFFE_ERR_SCHEME},
    {"one slash", "spiffe:/example.org/x", 0, SPIFFE_ERR_SCHEME},
    {"scheme only", "spiffe://", 0, SPIFFE_ERR_TD_EMPTY},
    {"no trust domain", "spiffe:///ns/x", 0, SPIFFE_ERR_TD_EMPTY},
    {"uppercase trust domain", "spiffe://Example.org/x", 0, SPIFFE_ERR_TD_CHAR},
    {"port", "spiffe://example.org:8443/x", 0, SPIFFE_ERR_TD_CHAR},
    {"userinfo", "spiffe://user@example.org/x", 0, SPIFFE_ERR_TD_CHAR},
    {"query without path", "spiffe://example.org?x=1", 0, SPIFFE_ERR_TD_CHAR},
    {"space in trust domain", "spiffe://exa mple.org/x", 0, SPIFFE_ERR_TD_CHAR},
    {"percent in trust domain", "spiffe://exa%41mple.org/x", 0, SPIFFE_ERR_TD_CHAR},
    {"query", "spiffe://example.org/x?y=1", 0, SPIFFE_ERR_PATH_CHAR},
    {"fragment", "spiffe://example.org/x#y", 0, SPIFFE_ERR_PATH_CHAR},
    {"percent-encoding", "spiffe://example.org/a%2Fb", 0, SPIFFE_ERR_PATH_CHAR},
    {"space in path", "spiffe://example.org/a b", 0, SPIFFE_ERR_PATH_CHAR},
    {"trailing slash only", "spiffe://example.org/", 0, SPIFFE_ERR_PATH_EMPTY_SEG},
    {"trailing slash", "spiffe://example.org/ns/", 0, SPIFFE_ERR_PATH_EMPTY_SEG},
    {"double slash", "spiffe://example.org//ns", 0, SPIFFE_ERR_PATH_EMPTY_SEG},
    {"dot segment", "spiffe://example.org/./ns", 0, SPIFFE_ERR_PATH_DOT_SEG},
    {"dot-dot segment", "spiffe://example.org/ns/..", 0, SPIFFE_ERR_PATH_DOT_SEG},
    /* Bytes after a NUL must count, not vanish. */
    {"NUL in path", "spiffe://example.org/a\0b", 23, SPIFFE_ERR_PATH_CHAR},
    {"NUL in trust domain", "spiffe://exa\0mple.org/x", 23, SPIFFE_ERR_TD_CHAR},
    {"NUL at the end", "spiffe://example.org/a\0", 23, SPIFFE_ERR_PATH_CHAR},
};

static void test_id_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(id_cases) / sizeof(id_cases[0]); i++) {
		const struct id_case *tc = &id_cases[i];
		size_t len = tc->len ? tc->len : strlen(tc->id);
		struct spiffe_id id;
		enum spiffe_err got = spiffe_id_parse(tc->id, len, &id);

		if (got != tc->want)
			fail_msg("%s: got \"%s\", want \"%s\"", tc->desc, spiffe_strerror(got),
				 spiffe_strerror(tc->want));
	}
}

static void test_id_parts(void **state)
{
	const char *s = "spiffe://example.org/ns/default/sa/web";
	struct spiffe_id id;

	(void)state;
	assert_int_equal(spiffe_id_parse(s, strlen(s), &id), SPIFFE_OK);
	assert_int_equal(id.td_len, strlen("example.org"));
	assert_memory_equal(id.td, "example.org", id.td_len);
	assert_int_equal(id.path_len, strlen("/ns/default/sa/web"));
	assert_memory_equal(id.path, "/ns/default/sa/web", id.path_len);
}

static void test_length_limits(void **state)
{
	char buf[SPIFFE_ID_MAX + 2];
	struct spiffe_id id;

	(void)state;
	/* spiffe://t/xxxx... of exactly 2048 bytes, then one more. */
	memcpy(buf, "spiffe://t/", 11);
	memset(buf + 11, 'x', sizeof(buf) - 11);
	assert_int_equal(spiffe_id_parse(buf, SPIFFE_ID_MAX, &id), SPIFFE_OK);
	assert_int_equal(spiffe_id_parse(buf, SPIFFE_ID_MAX + 1, &id), SPIFFE_ERR_TOO_LONG);

	/* A trust domain of 255 bytes, then 256. */
	memcpy(buf, "spiffe://", 9);
	memset(buf + 9, 'a', 256);
	buf[9 + 255] = '/';
	buf[9 + 256] = 'x';
	assert_int_equal(spiffe_id_parse(buf, 9 + 257, &id), SPIFFE_OK);
	buf[9 + 255] = 'a';
	buf[9 + 256] = '/';
	buf[9 + 257] = 'x';
	assert_int_equal(spiffe_id_parse(buf, 9 + 258, &id), SPIFFE_ERR_TD_TOO_LONG);
	assert_int_equal(spiffe_trust_domain_check(buf + 9, 255), SPIFFE_OK);
	assert_int_equal(spiffe_trust_domain_check(buf + 9, 256), SPIFFE_ERR_TD_TOO_LONG);
	assert_int_equal(spiffe_trust_domain_check("", 0), SPIFFE_ERR_TD_EMPTY);
	assert_int_equal(spiffe_trust_domain_check("example.org:80", 14), SPIFFE_ERR_TD_CHAR);
}

static void test_matching(void **state)
{
	const char *s = "spiffe://example.org/ns/a/sa/b";
	const char *evil = "spiffe://example.org.evil.com/ns/a/sa/b";
	struct spiffe_id id, eid;

	(void)state;
	assert_int_equal(spiffe_id_parse(s, strlen(s), &id), SPIFFE_OK);
	assert_true(spiffe_id_equal(&id, s, strlen(s)));
	/* Neither a prefix nor an extension of the expected id matches. */
	assert_false(spiffe_id_equal(&id, "spiffe://example.org/ns/a/sa/bb", 31));
	assert_false(spiffe_id_equal(&id, s, strlen(s) - 1));
	assert_true(spiffe_id_in_trust_domain(&id, "example.org", 11));
	assert_false(spiffe_id_in_trust_domain(&id, "example.or", 10));
	assert_int_equal(spiffe_id_parse(evil, strlen(evil), &eid), SPIFFE_OK);
	assert_false(spiffe_id_in_trust_domain(&eid, "example.org", 11));
}

/* ---- X.509-SVIDs ---- */

static struct test_ca ca;
static EVP_PKEY *leaf_key;

static int setup(void **state)
{
	(void)state;
	test_ca_new(&ca, "spiffe test CA");
	leaf_key = dev_ca_keygen();
	return leaf_key ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	test_ca_free(&ca);
	EVP_PKEY_free(leaf_key);
	return 0;
}

static enum spiffe_err id_of(const struct dev_ca_san *sans, size_t n, bool is_ca, char *buf,
			     size_t buflen)
{
	X509 *x = test_cert(&ca, leaf_key, is_ca, sans, n, -60, HOUR);
	size_t len = 0;
	enum spiffe_err err = spiffe_id_from_x509(x, buf, buflen, &len);

	if (err == SPIFFE_OK)
		assert_int_equal(len, strlen(buf));
	X509_free(x);
	return err;
}

#define URI(s)                                                                                     \
	{                                                                                          \
		GEN_URI, s, sizeof(s) - 1                                                          \
	}
#define DNS(s)                                                                                     \
	{                                                                                          \
		GEN_DNS, s, sizeof(s) - 1                                                          \
	}

static void test_x509_good(void **state)
{
	struct dev_ca_san one[] = {URI("spiffe://example.org/ns/default/sa/web")};
	struct dev_ca_san with_dns[] = {DNS("web.default.svc"),
					URI("spiffe://example.org/ns/default/sa/web")};
	char buf[SPIFFE_ID_MAX + 1];

	(void)state;
	assert_int_equal(id_of(one, 1, false, buf, sizeof(buf)), SPIFFE_OK);
	assert_string_equal(buf, "spiffe://example.org/ns/default/sa/web");
	/* Other SAN types beside the one URI are allowed (X509-SVID 2). */
	assert_int_equal(id_of(with_dns, 2, false, buf, sizeof(buf)), SPIFFE_OK);
	assert_string_equal(buf, "spiffe://example.org/ns/default/sa/web");
	/* The caller's buffer too small for the id: refused, not cut. */
	assert_int_equal(id_of(one, 1, false, buf, 10), SPIFFE_ERR_TOO_LONG);
}

static void test_x509_bad(void **state)
{
	struct dev_ca_san two[] = {URI("spiffe://example.org/a"), URI("spiffe://example.org/b")};
	struct dev_ca_san dns_only[] = {DNS("web.default.svc")};
	/* "spiffe://example.org/web\0.evil" read as a C string would be a
	 * valid id; read as the ASN.1 bytes it is not. */
	struct dev_ca_san nul[] = {URI("spiffe://example.org/web\0.evil")};
	struct dev_ca_san https[] = {URI("https://example.org/web")};
	struct dev_ca_san no_path[] = {URI("spiffe://example.org")};
	struct dev_ca_san good[] = {URI("spiffe://example.org/web")};
	char buf[SPIFFE_ID_MAX + 1];

	(void)state;
	assert_int_equal(id_of(NULL, 0, false, buf, sizeof(buf)), SPIFFE_ERR_CERT_NO_URI);
	assert_int_equal(id_of(dns_only, 1, false, buf, sizeof(buf)), SPIFFE_ERR_CERT_NO_URI);
	assert_int_equal(id_of(two, 2, false, buf, sizeof(buf)), SPIFFE_ERR_CERT_MANY_URIS);
	assert_int_equal(id_of(nul, 1, false, buf, sizeof(buf)), SPIFFE_ERR_PATH_CHAR);
	assert_int_equal(id_of(https, 1, false, buf, sizeof(buf)), SPIFFE_ERR_SCHEME);
	assert_int_equal(id_of(no_path, 1, false, buf, sizeof(buf)), SPIFFE_ERR_NO_PATH);
	/* A CA certificate is never a workload's identity. */
	assert_int_equal(id_of(good, 1, true, buf, sizeof(buf)), SPIFFE_ERR_CERT_IS_CA);
}

/* A leaf without basicConstraints and keyUsage (what `openssl req` makes
 * by default): not an X.509-SVID. */
static void test_x509_no_key_usage(void **state)
{
	X509 *x = X509_new();
	char buf[SPIFFE_ID_MAX + 1];
	size_t len;

	(void)state;
	assert_non_null(x);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_set_issuer_name(x, X509_get_subject_name(ca.cert));
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), HOUR);
	X509_set_pubkey(x, leaf_key);

	X509_EXTENSION *ext =
	    X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "URI:spiffe://example.org/web");

	assert_non_null(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, ca.key, EVP_sha256()) > 0);
	assert_int_equal(spiffe_id_from_x509(x, buf, sizeof(buf), &len), SPIFFE_ERR_CERT_KEY_USAGE);
	X509_free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_id_table),          cmocka_unit_test(test_id_parts),
	    cmocka_unit_test(test_length_limits),     cmocka_unit_test(test_matching),
	    cmocka_unit_test(test_x509_good),         cmocka_unit_test(test_x509_bad),
	    cmocka_unit_test(test_x509_no_key_usage),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
