/* SPIFFE ids: see spiffe.h. */
#include "certs/spiffe.h"

#include <stdint.h>
#include <string.h>

#include <openssl/x509v3.h>

/* SPIFFE-ID standard, 2.1: trust domain names use lowercase letters,
 * digits, dots, dashes and underscores only. That alone rules out ports
 * (':'), userinfo ('@'), percent-encoding and uppercase. */
static bool td_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* 2.2: path segments use letters of both cases, digits, dots, dashes and
 * underscores; '?', '#', '%' and NUL are thereby refused. */
static bool path_char_ok(unsigned char c)
{
	return td_char_ok(c) || (c >= 'A' && c <= 'Z');
}

enum spiffe_err spiffe_trust_domain_check(const char *td, size_t len)
{
	if (len == 0)
		return SPIFFE_ERR_TD_EMPTY;
	if (len > SPIFFE_TRUST_DOMAIN_MAX)
		return SPIFFE_ERR_TD_TOO_LONG;
	for (size_t i = 0; i < len; i++)
		if (!td_char_ok((unsigned char)td[i]))
			return SPIFFE_ERR_TD_CHAR;
	return SPIFFE_OK;
}

static enum spiffe_err path_check(const char *p, size_t len)
{
	size_t i = 0;

	/* Each turn reads one "/segment"; the path is empty or starts with '/'
	 * because the trust domain ends at the first '/'. */
	while (i < len) {
		size_t seg = ++i;

		while (i < len && p[i] != '/') {
			if (!path_char_ok((unsigned char)p[i]))
				return SPIFFE_ERR_PATH_CHAR;
			i++;
		}
		size_t seg_len = i - seg;

		if (seg_len == 0)
			return SPIFFE_ERR_PATH_EMPTY_SEG;
		if ((seg_len == 1 && p[seg] == '.') ||
		    (seg_len == 2 && p[seg] == '.' && p[seg + 1] == '.'))
			return SPIFFE_ERR_PATH_DOT_SEG;
	}
	return SPIFFE_OK;
}

enum spiffe_err spiffe_id_parse(const char *s, size_t len, struct spiffe_id *out)
{
	if (len == 0)
		return SPIFFE_ERR_EMPTY;
	if (len > SPIFFE_ID_MAX)
		return SPIFFE_ERR_TOO_LONG;
	/* The scheme is matched exactly: "SPIFFE://" is refused like every
	 * other SPIFFE library does, so two spellings never name one id. */
	if (len < SPIFFE_SCHEME_LEN || memcmp(s, SPIFFE_SCHEME, SPIFFE_SCHEME_LEN) != 0)
		return SPIFFE_ERR_SCHEME;

	const char *td = s + SPIFFE_SCHEME_LEN;
	size_t rest = len - SPIFFE_SCHEME_LEN;
	const char *slash = memchr(td, '/', rest);
	size_t td_len = slash ? (size_t)(slash - td) : rest;
	enum spiffe_err err = spiffe_trust_domain_check(td, td_len);

	if (err != SPIFFE_OK)
		return err;
	err = path_check(td + td_len, rest - td_len);
	if (err != SPIFFE_OK)
		return err;
	*out = (struct spiffe_id){
	    .str = s,
	    .len = len,
	    .td = td,
	    .td_len = td_len,
	    .path = td + td_len,
	    .path_len = rest - td_len,
	};
	return SPIFFE_OK;
}

enum spiffe_err spiffe_workload_id_parse(const char *s, size_t len, struct spiffe_id *out)
{
	enum spiffe_err err = spiffe_id_parse(s, len, out);
	return err == SPIFFE_OK && out->path_len == 0 ? SPIFFE_ERR_NO_PATH : err;
}

bool spiffe_id_equal(const struct spiffe_id *id, const char *expected, size_t len)
{
	return id->len == len && memcmp(id->str, expected, len) == 0;
}

bool spiffe_id_in_trust_domain(const struct spiffe_id *id, const char *td, size_t len)
{
	return id->td_len == len && memcmp(id->td, td, len) == 0;
}

/* X509-SVID 4.1 and 4.3: a leaf is not a CA, signs (digitalSignature) and
 * cannot sign certificates or CRLs. */
static enum spiffe_err leaf_constraints_check(X509 *leaf)
{
	/* X509_check_ca() caches the extensions; a certificate whose
	 * extensions failed to decode is flagged invalid rather than read as
	 * "no extensions". */
	if (X509_check_ca(leaf) != 0)
		return SPIFFE_ERR_CERT_IS_CA;
	if (X509_get_extension_flags(leaf) & EXFLAG_INVALID)
		return SPIFFE_ERR_CERT_BAD_EXT;
	if (!(X509_get_extension_flags(leaf) & EXFLAG_KUSAGE))
		return SPIFFE_ERR_CERT_KEY_USAGE;

	uint32_t ku = X509_get_key_usage(leaf);

	if (!(ku & KU_DIGITAL_SIGNATURE) || (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)))
		return SPIFFE_ERR_CERT_KEY_USAGE;
	return SPIFFE_OK;
}

/* Finds the one GEN_URI name among `names`; other name types are allowed
 * (X509-SVID 2), a second URI is not. */
static enum spiffe_err single_uri(const GENERAL_NAMES *names, const ASN1_IA5STRING **uri)
{
	*uri = NULL;
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);

		if (gn->type != GEN_URI)
			continue;
		if (*uri)
			return SPIFFE_ERR_CERT_MANY_URIS;
		*uri = gn->d.uniformResourceIdentifier;
	}
	return *uri ? SPIFFE_OK : SPIFFE_ERR_CERT_NO_URI;
}

enum spiffe_err spiffe_id_from_x509(X509 *leaf, char *buf, size_t buflen, size_t *len)
{
	enum spiffe_err err = leaf_constraints_check(leaf);

	if (err != SPIFFE_OK)
		return err;

	int crit = 0;
	GENERAL_NAMES *names = X509_get_ext_d2i(leaf, NID_subject_alt_name, &crit, NULL);

	if (!names) {
		/* -1: no SAN extension; -2: more than one (ambiguous, refused);
		 * otherwise the extension did not decode. */
		return crit == -1 ? SPIFFE_ERR_CERT_NO_URI : SPIFFE_ERR_CERT_BAD_EXT;
	}

	const ASN1_IA5STRING *uri;
	struct spiffe_id id;

	err = single_uri(names, &uri);
	if (err == SPIFFE_OK) {
		/* The bytes of the ASN.1 string, never a C string: a NUL inside
		 * fails the character rules instead of cutting the id short. */
		err = spiffe_workload_id_parse((const char *)ASN1_STRING_get0_data(uri),
					       (size_t)ASN1_STRING_length(uri), &id);
	}
	if (err == SPIFFE_OK && id.len >= buflen)
		err = SPIFFE_ERR_TOO_LONG;
	if (err == SPIFFE_OK) {
		memcpy(buf, id.str, id.len);
		buf[id.len] = '\0';
		*len = id.len;
	}
	GENERAL_NAMES_free(names);
	return err;
}

const char *spiffe_strerror(enum spiffe_err err)
{
	switch (err) {
	case SPIFFE_OK:
		return "ok";
	case SPIFFE_ERR_EMPTY:
		return "empty SPIFFE id";
	case SPIFFE_ERR_TOO_LONG:
		return "SPIFFE id longer than 2048 bytes";
	case SPIFFE_ERR_SCHEME:
		return "SPIFFE id does not start with spiffe://";
	case SPIFFE_ERR_TD_EMPTY:
		return "empty trust domain";
	case SPIFFE_ERR_TD_TOO_LONG:
		return "trust domain longer than 255 bytes";
	case SPIFFE_ERR_TD_CHAR:
		return "trust domain has a character outside [a-z0-9._-] (port, userinfo, "
		       "uppercase?)";
	case SPIFFE_ERR_PATH_CHAR:
		return "path has a character outside [A-Za-z0-9._-] (query, fragment, "
		       "percent-encoding?)";
	case SPIFFE_ERR_PATH_EMPTY_SEG:
		return "path has an empty segment or a trailing slash";
	case SPIFFE_ERR_PATH_DOT_SEG:
		return "path has a . or .. segment";
	case SPIFFE_ERR_NO_PATH:
		return "workload SPIFFE id has no path";
	case SPIFFE_ERR_CERT_BAD_EXT:
		return "certificate extensions are malformed or duplicated";
	case SPIFFE_ERR_CERT_NO_URI:
		return "certificate has no URI SAN";
	case SPIFFE_ERR_CERT_MANY_URIS:
		return "certificate has more than one URI SAN";
	case SPIFFE_ERR_CERT_IS_CA:
		return "leaf certificate is a CA";
	case SPIFFE_ERR_CERT_KEY_USAGE:
		return "leaf keyUsage lacks digitalSignature or allows certificate/CRL signing";
	}
	return "unknown SPIFFE error";
}
