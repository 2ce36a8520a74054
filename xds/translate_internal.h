/* Internals of the xDS translators (translate.c: listeners, clusters,
 * endpoints, secrets; translate_http.c: route configurations and the
 * http_connection_manager): the walk's context and the readers they share
 * (translate_util.c). Not for use outside xds/translate*.c. */
#ifndef SKIFF_XDS_TRANSLATE_INTERNAL_H
#define SKIFF_XDS_TRANSLATE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envoy/config/accesslog/v3/accesslog.pb-c.h"
#include "envoy/config/listener/v3/listener_components.pb-c.h"
#include "envoy/config/core/v3/protocol.pb-c.h"
#include "envoy/config/route/v3/route.pb-c.h"
#include "google/protobuf/duration.pb-c.h"
#include "proxy/config.h"
#include "proxy/field_path.h"
#include "xds/resources.h"

/* One resource's walk: every error message names its kind and name and the
 * path of the field at fault. */
struct tctx {
	char *err;
	size_t errlen;
	const char *kind; /* "listener", "cluster", ... */
	char name[XDS_SHOWN_MAX];
	struct field_path path; /* inside the resource */
};

/* Starts the walk of resource `kind` "`name`"; err gets the messages. */
void tx_begin(struct tctx *c, const char *kind, const ProtobufCBinaryData *name, char *err,
	      size_t errlen);

/* Writes `KIND "NAME": path: message` into c->err; returns -EINVAL. */
int tx_fail(struct tctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "KIND "NAME": out of memory"; returns -ENOMEM. */
int tx_nomem(struct tctx *c);

/* Appends to the path (a format, "[3]"; or a field name, with the dot);
 * both return the length tx_pop restores. */
size_t tx_push(struct tctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t tx_field(struct tctx *c, const char *name);
void tx_pop(struct tctx *c, size_t old);

/* Refuses a message with fields the subset does not declare, naming the
 * first by number: where ignoring one would let through more than Envoy. */
int tx_refuse_unknown(struct tctx *c, const ProtobufCMessage *m, const char *supported);

/* bytes -> a new C string at *out (the old one freed). Empty is absent in
 * proto3: "required" when `required`, else *out is left as it is. Text must
 * be UTF-8 without a NUL. tx_text_field does it at path `.name`. */
int tx_read_text(struct tctx *c, const ProtobufCBinaryData *b, bool required, char **out);
int tx_text_field(struct tctx *c, const char *name, const ProtobufCBinaryData *b, bool required,
		  char **out);
bool tx_bytes_are(const ProtobufCBinaryData *b, const char *s);

/* google.protobuf.Duration -> milliseconds (at most UINT32_MAX). */
int tx_read_duration(struct tctx *c, const Google__Protobuf__Duration *d, uint32_t *ms);
/* The same at path `.name`, when d is set (else *ms is left as it is);
 * `positive`: 0 is refused. */
int tx_duration_field(struct tctx *c, const char *name, const Google__Protobuf__Duration *d,
		      bool positive, uint32_t *ms);

/* "a, b, c" of a NULL-terminated list, cut to len. */
void tx_list_names(char *buf, size_t len, const char *const *names);

/* *out = the index in `allowed` (NULL-terminated) of enum value v's name;
 * a value skiff does not serve and a number no version has are told apart. */
int tx_read_enum(struct tctx *c, const ProtobufCEnumDescriptor *ed, int v,
		 const char *const *allowed, int *out);

/* "unsupported type URL "..." (supported: ...)" for an Any. */
int tx_unsupported_type(struct tctx *c, const Google__Protobuf__Any *any, const char *const *types);

/* Unpacks an Any known to hold `desc` into *out (free with d). */
int tx_unpack(struct tctx *c, struct xds_decoder *d, const Google__Protobuf__Any *any,
	      const ProtobufCMessageDescriptor *desc, void *out);

/* access_log of a filter (tcp_proxy, http_connection_manager): at most
 * one, a FileAccessLog with a path. */
int tx_read_access_log(struct tctx *c, struct xds_decoder *d,
		       Envoy__Config__Accesslog__V3__AccessLog *const *logs, size_t n,
		       struct access_log_config *out);

/* The http_connection_manager filter in its typed_config (the path names
 * the typed_config) -> a new *out, owned by the caller from the start.
 * Route names (rds) are left for the assembler; an inline route_config is
 * translated and prepared (router_prepare). translate_http.c. */
int tx_read_http_conn_manager(struct tctx *c, struct xds_decoder *d,
			      const Google__Protobuf__Any *any,
			      struct http_conn_manager_config **out);

/* http2_protocol_options into limits already at their defaults. */
int tx_read_http2_options(struct tctx *c, const Envoy__Config__Core__V3__Http2ProtocolOptions *pb,
			  struct http2_limits *out);

#endif
