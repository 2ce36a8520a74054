/* Helpers the xDS translators share (translate.c, translate_http.c): the
 * walk's context (resource kind, name, field path) that every message is
 * written from, and readers of the scalar and extension fields common to
 * every resource. Each returns 0, or -EINVAL / -ENOMEM with the message in
 * the context's err (tx_fail's form). */
#include "xds/translate_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy/extensions/access_loggers/file/v3/file.pb-c.h"

#define FILE_LOG_TYPE XDS_TYPE_URL_PREFIX "envoy.extensions.access_loggers.file.v3.FileAccessLog"

/* ---- messages and paths ------------------------------------------------ */

/* Writes `KIND "NAME": path: message` into c->err; returns -EINVAL. */
int tx_fail(struct tctx *c, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->errlen)
		snprintf(c->err, c->errlen, "%s \"%s\": %s%s%s", c->kind, c->name, c->path.s,
			 c->path.len ? ": " : "", msg);
	return -EINVAL;
}

int tx_nomem(struct tctx *c)
{
	if (c->errlen)
		snprintf(c->err, c->errlen, "%s \"%s\": out of memory", c->kind, c->name);
	return -ENOMEM;
}

/* Appends to the path; returns the length tx_pop() restores. */
size_t tx_push(struct tctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t old = field_path_vpush(&c->path, fmt, ap);
	va_end(ap);
	return old;
}

size_t tx_field(struct tctx *c, const char *name)
{
	return tx_push(c, "%s%s", c->path.len ? "." : "", name);
}

void tx_pop(struct tctx *c, size_t old)
{
	field_path_pop(&c->path, old);
}

void tx_begin(struct tctx *c, const char *kind, const ProtobufCBinaryData *name, char *err,
	      size_t errlen)
{
	*c = (struct tctx){.err = err, .errlen = errlen, .kind = kind};
	xds_shown(name->data, name->len, c->name);
	if (errlen)
		err[0] = '\0';
}

/* A field's sub-message the subset does not declare arrives as an unknown
 * field; where ignoring it would let more through than Envoy does, it is
 * refused, named by its number. */
int tx_refuse_unknown(struct tctx *c, const ProtobufCMessage *m, const char *supported)
{
	if (m->n_unknown_fields)
		return tx_fail(c, "field %u is not supported by skiff (supported: %s)",
			       m->unknown_fields[0].tag, supported);
	return 0;
}

/* ---- scalars ----------------------------------------------------------- */

/* bytes -> a new C string at *out. Empty is absent in proto3: "required"
 * when `required`, else *out stays NULL. */
int tx_read_text(struct tctx *c, const ProtobufCBinaryData *b, bool required, char **out)
{
	if (!b->len)
		return required ? tx_fail(c, "required") : 0;
	if (!xds_text_valid(b->data, b->len))
		return tx_fail(c, "must be UTF-8 without a NUL character");
	char *s = malloc(b->len + 1);
	if (!s)
		return tx_nomem(c);
	memcpy(s, b->data, b->len);
	s[b->len] = '\0';
	free(*out);
	*out = s;
	return 0;
}

int tx_text_field(struct tctx *c, const char *name, const ProtobufCBinaryData *b, bool required,
		  char **out)
{
	size_t old = tx_field(c, name);
	int err = tx_read_text(c, b, required, out);
	if (!err)
		tx_pop(c, old);
	return err;
}

bool tx_bytes_are(const ProtobufCBinaryData *b, const char *s)
{
	size_t len = strlen(s);
	return b->len == len && (!len || memcmp(b->data, s, len) == 0);
}

/* google.protobuf.Duration -> milliseconds, as duration_parse() bounds it. */
int tx_read_duration(struct tctx *c, const Google__Protobuf__Duration *d, uint32_t *ms)
{
	if (d->seconds < 0 || d->nanos < 0 || d->nanos > 999999999)
		return tx_fail(c, "expected a duration of 0s or more (seconds >= 0, nanos in "
				  "0..999999999)");
	uint64_t v = d->seconds > UINT32_MAX
			 ? UINT64_MAX
			 : (uint64_t)d->seconds * 1000 + (uint64_t)d->nanos / 1000000;
	if (v > UINT32_MAX)
		return tx_fail(c, "duration too long (at most 4294967.295s)");
	*ms = (uint32_t)v;
	return 0;
}

int tx_duration_field(struct tctx *c, const char *name, const Google__Protobuf__Duration *d,
		      bool positive, uint32_t *ms)
{
	if (!d)
		return 0;
	size_t old = tx_field(c, name);
	int err = tx_read_duration(c, d, ms);
	if (!err && positive && !*ms)
		err = tx_fail(c, "must be at least 1ms");
	if (!err)
		tx_pop(c, old);
	return err;
}

void tx_list_names(char *buf, size_t len, const char *const *names)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; names[i] && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", names[i]);
}

/* Sets *out to the index in `allowed` (NULL-terminated) of the name of enum
 * value `v`. Values Envoy knows but skiff does not serve, and numbers no
 * version of the enum has, are told apart. */
int tx_read_enum(struct tctx *c, const ProtobufCEnumDescriptor *ed, int v,
		 const char *const *allowed, int *out)
{
	char names[160];
	tx_list_names(names, sizeof(names), allowed);
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(ed, v);
	if (!ev)
		return tx_fail(c, "expected one of %s, got %d", names, v);
	for (int i = 0; allowed[i]; i++) {
		if (strcmp(ev->name, allowed[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	return tx_fail(c, "not supported by skiff: %s (supported: %s)", ev->name, names);
}

int tx_unsupported_type(struct tctx *c, const Google__Protobuf__Any *any, const char *const *types)
{
	char list[512], buf[XDS_SHOWN_MAX];
	const char *url = any->type_url ? any->type_url : "";
	tx_list_names(list, sizeof(list), types);
	return tx_fail(c, "unsupported type URL \"%s\" (supported: %s)",
		       xds_shown(url, strlen(url), buf), list);
}

/* Unpacks a typed_config already known to hold `desc`; the path names the
 * typed_config. */
int tx_unpack(struct tctx *c, struct xds_decoder *d, const Google__Protobuf__Any *any,
	      const ProtobufCMessageDescriptor *desc, void *out)
{
	char why[200];
	int err = xds_decode_any(d, any, desc, out, why, sizeof(why));
	if (err == -EINVAL || err == -EMSGSIZE)
		return tx_fail(c, "%s", why);
	return err;
}

/* ---- extensions shared by filters --------------------------------------- */

int tx_read_access_log(struct tctx *c, struct xds_decoder *d,
		       Envoy__Config__Accesslog__V3__AccessLog *const *logs, size_t n,
		       struct access_log_config *out)
{
	static const char *const types[] = {FILE_LOG_TYPE, NULL};
	if (!n)
		return 0;
	size_t old = tx_field(c, "access_log");
	if (n > 1)
		return tx_fail(c, "expected at most one access log (skiff supports one), got %zu",
			       n);
	tx_push(c, "[0].typed_config");
	const Google__Protobuf__Any *any = logs[0]->typed_config;
	if (!any)
		return tx_fail(c, "required");
	if (!xds_type_url_is(
		any->type_url,
		&envoy__extensions__access_loggers__file__v3__file_access_log__descriptor))
		return tx_unsupported_type(c, any, types);
	Envoy__Extensions__AccessLoggers__File__V3__FileAccessLog *log = NULL;
	int err = tx_unpack(
	    c, d, any, &envoy__extensions__access_loggers__file__v3__file_access_log__descriptor,
	    &log);
	if (!err)
		err = tx_text_field(c, "path", &log->path, true, &out->path);
	xds_decoder_free(d, log);
	if (!err)
		tx_pop(c, old);
	return err;
}
