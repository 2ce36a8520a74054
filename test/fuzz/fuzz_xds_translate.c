/* libFuzzer target for xDS decoding and translation (xds/resources.c,
 * xds/translate.c): the input is decoded as a DiscoveryResponse and as a
 * DeltaDiscoveryResponse, and every resource in it is unpacked by its type
 * URL and translated: listeners (with http_connection_managers and their
 * inline routes), clusters, endpoints, secrets, route configurations (RDS,
 * regexes compiled). Any bytes must give results or one-line errors,
 * never a crash, a leak or an unbounded run. Seeds: packed responses
 * written by test/unit/xds/test_translate.c (docs/xds.md says how). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/service/discovery/v3/discovery.pb-c.h"
#include "xds/resources.h"
#include "xds/translate.h"

static void check_message(const char *err, size_t len)
{
	if (memchr(err, '\n', strnlen(err, len)))
		__builtin_trap(); /* messages are one line, whatever the input */
}

static void translate(const ProtobufCMessage *msg)
{
	char err[512] = "";
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	if (d == &envoy__config__listener__v3__listener__descriptor) {
		struct listener l;
		struct xds_listener_refs refs;
		if (xds_translate_listener((const void *)msg, &l, &refs, err, sizeof(err)) == 0) {
			xds_listener_clear(&l);
			xds_listener_refs_clear(&refs);
		}
	} else if (d == &envoy__config__cluster__v3__cluster__descriptor) {
		struct cluster c;
		struct xds_cluster_refs refs;
		if (xds_translate_cluster((const void *)msg, &c, &refs, err, sizeof(err)) == 0) {
			xds_cluster_clear(&c);
			xds_cluster_refs_clear(&refs);
		}
	} else if (d == &envoy__config__endpoint__v3__cluster_load_assignment__descriptor) {
		struct endpoint *eps = NULL;
		size_t n = 0;
		if (xds_translate_endpoints((const void *)msg, &eps, &n, err, sizeof(err)) == 0)
			free(eps);
	} else if (d == &envoy__extensions__transport_sockets__tls__v3__secret__descriptor) {
		struct xds_secret s;
		if (xds_translate_secret((const void *)msg, &s, err, sizeof(err)) == 0)
			xds_secret_clear(&s);
	} else {
		struct route_config rc;
		if (xds_translate_route_config((const void *)msg, &rc, err, sizeof(err)) == 0)
			xds_route_config_clear(&rc);
	}
	check_message(err, sizeof(err));
}

static void resource(struct xds_decoder *dec, const Google__Protobuf__Any *any)
{
	char err[512] = "", *name = NULL;
	ProtobufCMessage *msg = NULL;
	const ProtobufCMessageDescriptor *desc =
	    any ? xds_resource_descriptor(any->type_url) : NULL;
	if (!desc || xds_decode_any(dec, any, desc, &msg, err, sizeof(err)) != 0) {
		check_message(err, sizeof(err));
		return;
	}
	if (xds_resource_name(msg, &name, err, sizeof(err)) == 0)
		free(name);
	check_message(err, sizeof(err));
	translate(msg);
	xds_decoder_free(dec, msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct xds_decoder dec;
	char err[512] = "";
	ProtobufCMessage *msg = NULL;
	/* A small limit so the fuzzer also reaches the memory budget. */
	xds_decoder_init(&dec, 64 * 1024);

	if (xds_decode(&dec, &envoy__service__discovery__v3__discovery_response__descriptor, data,
		       size, &msg, err, sizeof(err)) == 0) {
		Envoy__Service__Discovery__V3__DiscoveryResponse *r = (void *)msg;
		for (size_t i = 0; i < r->n_resources; i++)
			resource(&dec, r->resources[i]);
		xds_decoder_free(&dec, msg);
	}
	check_message(err, sizeof(err));

	if (xds_decode(&dec, &envoy__service__discovery__v3__delta_discovery_response__descriptor,
		       data, size, &msg, err, sizeof(err)) == 0) {
		Envoy__Service__Discovery__V3__DeltaDiscoveryResponse *r = (void *)msg;
		for (size_t i = 0; i < r->n_resources; i++)
			resource(&dec, r->resources[i]->resource);
		xds_decoder_free(&dec, msg);
	}
	check_message(err, sizeof(err));
	if (dec.used)
		__builtin_trap(); /* every decoded block given back */
	return 0;
}
