/* libFuzzer target for Istio workloads from the control plane
 * (xds/translate_workload.c): any bytes, decoded as an Address the way the
 * ADS client decodes one, must give a resource name and a workload, a
 * skipped service or a one-line refusal; never a crash, a leak or a
 * workload that breaks the rules its users rely on. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xds/resources.h"
#include "xds/translate_workload.h"

static void one_line(const char *err, size_t len)
{
	if (memchr(err, '\n', strnlen(err, len)))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xds_decoder d;
	ProtobufCMessage *msg = NULL;
	char err[512];
	xds_decoder_init(&d, 1u << 20);
	if (xds_decode(&d, &istio__workload__address__descriptor, data, size, &msg, err,
		       sizeof(err)) < 0)
		return 0;
	const Istio__Workload__Address *a = (const Istio__Workload__Address *)msg;
	char *name = NULL;
	if (xds_address_name(a, &name, err, sizeof(err)) < 0)
		one_line(err, sizeof(err));
	free(name);
	struct xds_workload w;
	int rc = xds_translate_address(a, &w, err, sizeof(err));
	if (rc == 1) {
		if (!w.uid || !w.name || !w.namespace || !w.service_account ||
		    w.n_addresses > XDS_WORKLOAD_MAX_ADDRESSES || strchr(w.name, '/') ||
		    strchr(w.namespace, '/') || strchr(w.service_account, '/'))
			__builtin_trap(); /* these become paths and SPIFFE ids */
		xds_workload_clear(&w);
	} else if (rc < 0) {
		one_line(err, sizeof(err));
	}
	xds_decoder_free(&d, msg);
	return 0;
}
