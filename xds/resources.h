/* xDS resources on the wire: the type URLs skiff subscribes to, and bounded
 * protobuf decoding of responses and of the google.protobuf.Any messages
 * inside them (protobuf-c, from the subsets in xds/api/).
 *
 * Every decode goes through a struct xds_decoder, which refuses an encoded
 * message over its size limit and stops protobuf-c from allocating more
 * than a fixed multiple of it: an empty repeated sub-message is two bytes on
 * the wire and a hundred in memory, so the wire size alone bounds nothing. */
#ifndef SKIFF_XDS_RESOURCES_H
#define SKIFF_XDS_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "google/protobuf/any.pb-c.h"

#define XDS_TYPE_URL_PREFIX "type.googleapis.com/"
#define XDS_TYPE_LISTENER XDS_TYPE_URL_PREFIX "envoy.config.listener.v3.Listener"
#define XDS_TYPE_ROUTE XDS_TYPE_URL_PREFIX "envoy.config.route.v3.RouteConfiguration"
#define XDS_TYPE_CLUSTER XDS_TYPE_URL_PREFIX "envoy.config.cluster.v3.Cluster"
#define XDS_TYPE_ENDPOINTS XDS_TYPE_URL_PREFIX "envoy.config.endpoint.v3.ClusterLoadAssignment"
#define XDS_TYPE_SECRET XDS_TYPE_URL_PREFIX "envoy.extensions.transport_sockets.tls.v3.Secret"

/* HARDENING.md: the largest message accepted from the control plane. */
#define XDS_MAX_MESSAGE (4u << 20)
/* Bytes of decoded messages a decoder may hold at once, per byte of
 * max_message. Real resources take 3-6 times their wire size. */
#define XDS_DECODED_FACTOR 16u

/* A budget for protobuf-c's allocations. Messages decoded with one decoder
 * must be freed with it (xds_decoder_free) while it lives; it holds no
 * memory itself, so it may live on the stack. */
struct xds_decoder {
	ProtobufCAllocator alloc; /* protobuf-c calls these with this decoder */
	size_t max_message;       /* largest encoded message accepted */
	size_t limit;             /* bytes all live decoded messages may take */
	size_t used;
	bool over; /* an allocation was refused for the limit */
};

/* Sets up `d` for encoded messages of at most `max_message` bytes (0:
 * XDS_MAX_MESSAGE). */
void xds_decoder_init(struct xds_decoder *d, size_t max_message);

/* Decodes buf[0..len) as a message of type `desc`. Returns 0 and sets *out
 * (free it with xds_decoder_free); -EMSGSIZE over max_message or over the
 * memory limit, -EINVAL when the bytes are not such a message, with a
 * one-line reason in `err` ("DiscoveryResponse: ..."). */
int xds_decode(struct xds_decoder *d, const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
	       size_t len, ProtobufCMessage **out, char *err, size_t errlen);

/* Unpacks `any`, which must hold a `desc` (xds_type_url_is). Returns as
 * xds_decode; a type URL naming another message is -EINVAL "type URL "..."
 * is not <full name>". */
int xds_decode_any(struct xds_decoder *d, const Google__Protobuf__Any *any,
		   const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out, char *err,
		   size_t errlen);

/* Frees a message decoded with `d` and returns its memory to the budget.
 * NULL is a no-op. */
void xds_decoder_free(struct xds_decoder *d, void *msg);

/* True when `type_url` names `desc`: its last '/'-separated part is the
 * message's full name, as protobuf and Envoy compare them (the host part is
 * not checked). NULL is false. */
bool xds_type_url_is(const char *type_url, const ProtobufCMessageDescriptor *desc);

/* The message type of the resources of xDS type `type_url` (one of the
 * XDS_TYPE_* five), or NULL when skiff does not subscribe to that type. */
const ProtobufCMessageDescriptor *xds_resource_descriptor(const char *type_url);

/* The name of a decoded resource of one of the five types (field 1 in each:
 * name, or cluster_name for a ClusterLoadAssignment), copied into a new
 * string owned by the caller. Returns 0; -EINVAL when it is empty, holds a
 * NUL or is not UTF-8 (err says which); -ENOMEM. */
int xds_resource_name(const ProtobufCMessage *msg, char **out, char *err, size_t errlen);

/* Writes `s[0..len)` into buf for a one-line message: printable ASCII kept,
 * anything else '?', cut with "..." past 96 bytes. Returns buf, which must
 * hold XDS_SHOWN_MAX bytes. */
#define XDS_SHOWN_MAX 100
const char *xds_shown(const void *s, size_t len, char buf[XDS_SHOWN_MAX]);

/* True when s[0..len) is UTF-8 without a NUL: what skiff accepts as a
 * name, a path or an id from the control plane. */
bool xds_text_valid(const uint8_t *s, size_t len);

#endif
