/* Bounded protobuf decoding of xDS resources; see resources.h. */
#include "xds/resources.h"

#include <errno.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/config/cluster/v3/cluster.pb-c.h"
#include "envoy/config/endpoint/v3/endpoint.pb-c.h"
#include "envoy/config/listener/v3/listener.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb-c.h"

/* Each block carries its size in front, so a free can give it back to the
 * budget; the header keeps the block aligned for any type. */
struct block {
	alignas(max_align_t) size_t size;
};

static void *budget_alloc(void *data, size_t size)
{
	struct xds_decoder *d = data;
	size_t total = size + sizeof(struct block);
	if (total < size || total > d->limit - d->used) {
		d->over = true;
		return NULL;
	}
	struct block *b = malloc(total);
	if (!b)
		return NULL;
	b->size = total;
	d->used += total;
	return b + 1;
}

static void budget_free(void *data, void *ptr)
{
	struct xds_decoder *d = data;
	if (!ptr)
		return;
	struct block *b = (struct block *)ptr - 1;
	d->used -= b->size;
	free(b);
}

void xds_decoder_init(struct xds_decoder *d, size_t max_message)
{
	if (!max_message)
		max_message = XDS_MAX_MESSAGE;
	*d = (struct xds_decoder){
	    .alloc = {.alloc = budget_alloc, .free = budget_free, .allocator_data = d},
	    .max_message = max_message,
	    .limit = max_message * XDS_DECODED_FACTOR,
	};
}

static void say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (!errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int xds_decode(struct xds_decoder *d, const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
	       size_t len, ProtobufCMessage **out, char *err, size_t errlen)
{
	if (len > d->max_message) {
		say(err, errlen, "%s: message too large: %zu bytes (at most %zu)", desc->short_name,
		    len, d->max_message);
		return -EMSGSIZE;
	}
	d->over = false;
	ProtobufCMessage *msg = protobuf_c_message_unpack(desc, &d->alloc, len, buf);
	if (!msg && d->over) {
		say(err, errlen, "%s: message too large: decoding it takes more than %zu bytes",
		    desc->short_name, d->limit);
		return -EMSGSIZE;
	}
	if (!msg) {
		/* protobuf-c says no more than this; out of memory looks the same */
		say(err, errlen, "%s: not a valid protobuf message", desc->short_name);
		return -EINVAL;
	}
	*out = msg;
	return 0;
}

bool xds_type_url_is(const char *type_url, const ProtobufCMessageDescriptor *desc)
{
	if (!type_url)
		return false;
	const char *slash = strrchr(type_url, '/');
	return strcmp(slash ? slash + 1 : type_url, desc->name) == 0;
}

int xds_decode_any(struct xds_decoder *d, const Google__Protobuf__Any *any,
		   const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out, char *err,
		   size_t errlen)
{
	if (!xds_type_url_is(any->type_url, desc)) {
		char buf[XDS_SHOWN_MAX];
		const char *url = any->type_url ? any->type_url : "";
		say(err, errlen, "type URL \"%s\" is not %s", xds_shown(url, strlen(url), buf),
		    desc->name);
		return -EINVAL;
	}
	return xds_decode(d, desc, any->value.data, any->value.len, out, err, errlen);
}

void xds_decoder_free(struct xds_decoder *d, void *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, &d->alloc);
}

static const struct {
	const char *type_url;
	const ProtobufCMessageDescriptor *desc;
} resource_types[] = {
    {XDS_TYPE_LISTENER, &envoy__config__listener__v3__listener__descriptor},
    {XDS_TYPE_ROUTE, &envoy__config__route__v3__route_configuration__descriptor},
    {XDS_TYPE_CLUSTER, &envoy__config__cluster__v3__cluster__descriptor},
    {XDS_TYPE_ENDPOINTS, &envoy__config__endpoint__v3__cluster_load_assignment__descriptor},
    {XDS_TYPE_SECRET, &envoy__extensions__transport_sockets__tls__v3__secret__descriptor},
};

const ProtobufCMessageDescriptor *xds_resource_descriptor(const char *type_url)
{
	for (size_t i = 0; type_url && i < sizeof(resource_types) / sizeof(resource_types[0]); i++)
		if (strcmp(type_url, resource_types[i].type_url) == 0)
			return resource_types[i].desc;
	return NULL;
}

int xds_resource_name(const ProtobufCMessage *msg, char **out, char *err, size_t errlen)
{
	/* Field 1, declared bytes in all five subsets (xds/api/README.md). */
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(msg->descriptor, 1);
	if (!f || f->type != PROTOBUF_C_TYPE_BYTES || f->label != PROTOBUF_C_LABEL_NONE) {
		say(err, errlen, "%s: not an xDS resource", msg->descriptor->short_name);
		return -EINVAL;
	}
	const ProtobufCBinaryData *b = (const void *)((const char *)msg + f->offset);
	if (!b->len) {
		say(err, errlen, "%s: %s: must not be empty", msg->descriptor->short_name, f->name);
		return -EINVAL;
	}
	if (!xds_text_valid(b->data, b->len)) {
		char buf[XDS_SHOWN_MAX];
		say(err, errlen, "%s \"%s\": %s: must be UTF-8 without a NUL character",
		    msg->descriptor->short_name, xds_shown(b->data, b->len, buf), f->name);
		return -EINVAL;
	}
	char *s = malloc(b->len + 1);
	if (!s) {
		say(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(s, b->data, b->len);
	s[b->len] = '\0';
	*out = s;
	return 0;
}

const char *xds_shown(const void *s, size_t len, char buf[XDS_SHOWN_MAX])
{
	const unsigned char *p = s;
	size_t i;
	for (i = 0; i < len && i < XDS_SHOWN_MAX - 4; i++)
		buf[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	strcpy(buf + i, len > XDS_SHOWN_MAX - 4 ? "..." : "");
	return buf;
}

/* RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF. */
bool xds_text_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint8_t c = s[i];
		size_t n;
		uint32_t cp;
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07;
		else
			return false;
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}
