/* Tests xds/translate_workload.c: Istio Address messages built here are
 * translated, or refused with the whole message a NACK would carry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xds/resources.h"
#include "xds/translate_workload.h"

typedef Istio__Workload__Address Address;
typedef Istio__Workload__Workload Workload;
typedef Istio__Workload__Service Service;

#define B(s) ((ProtobufCBinaryData){sizeof(s) - 1, (uint8_t *)(s)})
#define UID "7d0c1a3e-4b1f-4f0e-9a55-0b6f2d1c9e21"

static const uint8_t V4[4] = {10, 244, 1, 7};
static const uint8_t V6[16] = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7};

struct fx {
	Address a;
	Workload w;
	ProtobufCBinaryData addrs[XDS_WORKLOAD_MAX_ADDRESSES + 1];
	struct xds_workload out;
	char err[512];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	istio__workload__address__init(&f->a);
	istio__workload__workload__init(&f->w);
	f->a.type_case = ISTIO__WORKLOAD__ADDRESS__TYPE_WORKLOAD;
	f->a.workload = &f->w;
	f->w.uid = B(UID);
	f->w.name = B("web-0");
	f->w.namespace_ = B("shop");
	f->w.service_account = B("web");
	f->w.trust_domain = B("cluster.local");
	f->w.node = B("node-1.example");
	f->addrs[0] = (ProtobufCBinaryData){4, (uint8_t *)V4};
	f->addrs[1] = (ProtobufCBinaryData){16, (uint8_t *)V6};
	f->w.addresses = f->addrs;
	f->w.n_addresses = 2;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	xds_workload_clear(&f->out);
	free(f);
	return 0;
}

static int translate(struct fx *f)
{
	xds_workload_clear(&f->out);
	f->err[0] = '\0';
	return xds_translate_address(&f->a, &f->out, f->err, sizeof(f->err));
}

static void refused(struct fx *f, const char *want)
{
	assert_int_equal(translate(f), -EINVAL);
	assert_string_equal(f->err, want);
	assert_null(f->out.uid); /* left zeroed */
	assert_null(f->out.name);
}

static void test_workload(void **state)
{
	struct fx *f = *state;
	assert_int_equal(translate(f), 1);
	assert_string_equal(f->out.uid, UID);
	assert_string_equal(f->out.name, "web-0");
	assert_string_equal(f->out.namespace, "shop");
	assert_string_equal(f->out.service_account, "web");
	assert_string_equal(f->out.trust_domain, "cluster.local");
	assert_string_equal(f->out.node, "node-1.example");
	assert_int_equal(f->out.n_addresses, 2);
	assert_string_equal(f->out.addresses[0], "10.244.1.7");
	assert_string_equal(f->out.addresses[1], "fd00::7");
}

static void test_defaults(void **state)
{
	struct fx *f = *state;
	f->w.service_account = B("");
	f->w.trust_domain = B("");
	f->w.node = B("");
	f->w.n_addresses = 0;
	assert_int_equal(translate(f), 1);
	assert_string_equal(f->out.service_account, "default");
	assert_null(f->out.trust_domain);
	assert_null(f->out.node);
	assert_int_equal(f->out.n_addresses, 0);
}

/* A service is not the node daemon's business: skipped, not refused. */
static void test_service_skipped(void **state)
{
	struct fx *f = *state;
	Service s = ISTIO__WORKLOAD__SERVICE__INIT;
	s.namespace_ = B("shop");
	s.hostname = B("web.shop.svc.cluster.local");
	f->a.type_case = ISTIO__WORKLOAD__ADDRESS__TYPE_SERVICE;
	f->a.service = &s;
	assert_int_equal(translate(f), 0);
	assert_null(f->out.uid);
	char *name = NULL;
	assert_int_equal(xds_address_name(&f->a, &name, f->err, sizeof(f->err)), 0);
	assert_string_equal(name, "shop/web.shop.svc.cluster.local");
	free(name);
}

static void test_empty_address(void **state)
{
	struct fx *f = *state;
	f->a.type_case = ISTIO__WORKLOAD__ADDRESS__TYPE__NOT_SET;
	refused(f, "address: neither a workload nor a service");
	char *name = NULL;
	assert_int_equal(xds_address_name(&f->a, &name, f->err, sizeof(f->err)), -EINVAL);
	assert_null(name);
}

static void test_name_is_uid(void **state)
{
	struct fx *f = *state;
	char *name = NULL;
	assert_int_equal(xds_address_name(&f->a, &name, f->err, sizeof(f->err)), 0);
	assert_string_equal(name, UID);
	free(name);
	f->w.uid = B("a\0b");
	assert_int_equal(xds_address_name(&f->a, &name, f->err, sizeof(f->err)), -EINVAL);
	assert_string_equal(f->err,
			    "address: workload: uid: must be UTF-8 without a NUL, not empty");
}

static void test_uid(void **state)
{
	struct fx *f = *state;
	f->w.uid = B("");
	refused(f, "workload \"shop/web-0\": uid: missing");
	/* istiod's "cluster//Pod/ns/name" form is taken as it is */
	f->w.uid = B("Kubernetes//Pod/shop/web-0");
	assert_int_equal(translate(f), 1);
	assert_string_equal(f->out.uid, "Kubernetes//Pod/shop/web-0");
	f->w.uid = B("Kubernetes//Pod/shop/web 0");
	refused(f, "workload \"Kubernetes//Pod/shop/web 0\": uid: \"Kubernetes//Pod/shop/web 0\": "
		   "expected a pod's metadata.uid or istiod's cluster//Pod/namespace/name "
		   "([A-Za-z0-9._/-], at most 512)");
	static char long_uid[514];
	memset(long_uid, 'a', 513);
	f->w.uid = (ProtobufCBinaryData){ 513, (uint8_t *)long_uid };
	assert_int_equal(translate(f), -EINVAL);
}

static void test_names(void **state)
{
	struct fx *f = *state;
	f->w.name = B("Web");
	refused(f, "workload \"" UID "\": name: \"Web\": expected a DNS-1123 subdomain");
	f->w.name = B("");
	refused(f, "workload \"" UID "\": name: missing");
	f->w.name = B("web-0");
	f->w.namespace_ = B("shop.eu");
	refused(f, "workload \"" UID "\": namespace: \"shop.eu\": expected a DNS-1123 label");
	f->w.namespace_ = B("");
	refused(f, "workload \"" UID "\": namespace: missing");
	f->w.namespace_ = B("shop");
	f->w.service_account = B("web..x");
	refused(f,
		"workload \"" UID "\": service_account: \"web..x\": expected a DNS-1123 subdomain");
	f->w.service_account = B("web\0x");
	refused(f,
		"workload \"" UID "\": service_account: \"web?x\": expected a DNS-1123 subdomain");
	f->w.service_account = B("web");
	f->w.node = B("-node");
	refused(f, "workload \"" UID "\": node: \"-node\": expected a DNS-1123 subdomain");
	f->w.node = B("node");
	f->w.trust_domain = B("Cluster.Local");
	refused(f, "workload \"" UID "\": trust_domain: \"Cluster.Local\": expected a SPIFFE trust "
		   "domain ([a-z0-9._-], at most 255)");
}

static void test_addresses(void **state)
{
	struct fx *f = *state;
	f->addrs[1] = (ProtobufCBinaryData){5, (uint8_t *)V6};
	refused(f, "workload \"" UID "\": addresses[1]: 5 bytes, expected 4 (IPv4) or 16 (IPv6)");
	f->addrs[1] = (ProtobufCBinaryData){0, NULL};
	refused(f, "workload \"" UID "\": addresses[1]: 0 bytes, expected 4 (IPv4) or 16 (IPv6)");
	for (int i = 0; i <= XDS_WORKLOAD_MAX_ADDRESSES; i++)
		f->addrs[i] = (ProtobufCBinaryData){4, (uint8_t *)V4};
	f->w.n_addresses = XDS_WORKLOAD_MAX_ADDRESSES + 1;
	refused(f, "workload \"" UID "\": addresses: 9, at most 8");
	f->w.n_addresses = XDS_WORKLOAD_MAX_ADDRESSES;
	assert_int_equal(translate(f), 1);
}

/* Packed and decoded as the ADS client does: the wire form round-trips
 * (bytes fields are what Istio's strings are on the wire). */
static void test_wire(void **state)
{
	struct fx *f = *state;
	size_t len = istio__workload__address__get_packed_size(&f->a);
	uint8_t *buf = malloc(len);
	istio__workload__address__pack(&f->a, buf);
	struct xds_decoder d;
	xds_decoder_init(&d, 0);
	ProtobufCMessage *msg = NULL;
	assert_int_equal(xds_decode(&d, &istio__workload__address__descriptor, buf, len, &msg,
				    f->err, sizeof(f->err)),
			 0);
	assert_int_equal(
	    xds_translate_address((const Address *)msg, &f->out, f->err, sizeof(f->err)), 1);
	assert_string_equal(f->out.addresses[1], "fd00::7");
	xds_decoder_free(&d, msg);
	free(buf);
}

static void write_seed(const char *dir, const char *name, const Address *a)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	size_t len = istio__workload__address__get_packed_size(a);
	uint8_t *buf = malloc(len ? len : 1);
	istio__workload__address__pack(a, buf);
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(buf, 1, len, fp), len);
	fclose(fp);
	free(buf);
}

/* With WORKLOAD_FUZZ_CORPUS=<dir>, writes the seeds of
 * test/fuzz/corpus/workload/. */
static void test_write_corpus(void **state)
{
	struct fx *f = *state;
	const char *dir = getenv("WORKLOAD_FUZZ_CORPUS");
	if (!dir)
		skip();
	write_seed(dir, "workload", &f->a);
	f->w.service_account = B("");
	f->w.trust_domain = B("");
	f->w.n_addresses = 1;
	write_seed(dir, "workload_minimal", &f->a);
	f->addrs[0] = (ProtobufCBinaryData){3, (uint8_t *)V4};
	write_seed(dir, "bad_address", &f->a);
	Service s = ISTIO__WORKLOAD__SERVICE__INIT;
	s.namespace_ = B("shop");
	s.hostname = B("web.shop.svc.cluster.local");
	f->a.type_case = ISTIO__WORKLOAD__ADDRESS__TYPE_SERVICE;
	f->a.service = &s;
	write_seed(dir, "service", &f->a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_workload, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_service_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_address, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_name_is_uid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_addresses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wire, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_corpus, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
