/* SPIFFE ids: parsing and validating `spiffe://<trust-domain>/<path>` under
 * the rules of the SPIFFE-ID standard, and reading the one id an X.509-SVID
 * carries in its URI SAN (X509-SVID standard, sections 2, 4 and 5).
 *
 * Every function takes length-delimited bytes: ids come off the wire inside
 * ASN.1 strings that may hold a NUL, and a NUL must make an id invalid, never
 * shorten it. */
#ifndef SKIFF_CERTS_SPIFFE_H
#define SKIFF_CERTS_SPIFFE_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

#define SPIFFE_SCHEME "spiffe://"
#define SPIFFE_SCHEME_LEN 9
/* The standard's limits: 2048 bytes for the whole id, 255 for the trust
 * domain. */
#define SPIFFE_ID_MAX 2048
#define SPIFFE_TRUST_DOMAIN_MAX 255

/* Why an id or a certificate was refused. Append only: the names appear in
 * logs and counters. */
enum spiffe_err {
	SPIFFE_OK = 0,
	SPIFFE_ERR_EMPTY,          /* zero-length id */
	SPIFFE_ERR_TOO_LONG,       /* id over SPIFFE_ID_MAX bytes */
	SPIFFE_ERR_SCHEME,         /* does not start with "spiffe://" */
	SPIFFE_ERR_TD_EMPTY,       /* "spiffe://" or "spiffe:///x" */
	SPIFFE_ERR_TD_TOO_LONG,    /* trust domain over 255 bytes */
	SPIFFE_ERR_TD_CHAR,        /* trust domain byte outside [a-z0-9._-]:
				    * uppercase, port, userinfo, NUL, ... */
	SPIFFE_ERR_PATH_CHAR,      /* path byte outside [A-Za-z0-9._-]:
				    * query, fragment, percent-encoding, NUL */
	SPIFFE_ERR_PATH_EMPTY_SEG, /* "//" or a trailing "/" */
	SPIFFE_ERR_PATH_DOT_SEG,   /* a "." or ".." segment */
	SPIFFE_ERR_NO_PATH,        /* a leaf SVID's id must have a path */
	SPIFFE_ERR_CERT_BAD_EXT,   /* unparsable or duplicate extensions */
	SPIFFE_ERR_CERT_NO_URI,    /* no URI SAN */
	SPIFFE_ERR_CERT_MANY_URIS, /* more than one URI SAN */
	SPIFFE_ERR_CERT_IS_CA,     /* leaf with CA=true (or a self-signed v1) */
	SPIFFE_ERR_CERT_KEY_USAGE, /* leaf without digitalSignature, or with
				    * keyCertSign / cRLSign */
};

/* A parsed id: a view into the caller's bytes, which must outlive it. */
struct spiffe_id {
	const char *str; /* the whole id, not NUL-terminated */
	size_t len;
	const char *td; /* the trust domain, inside str */
	size_t td_len;
	const char *path; /* "" or "/seg/seg", inside str */
	size_t path_len;
};

/* Parses `len` bytes at `s` as a SPIFFE id. Returns SPIFFE_OK and fills
 * `out`, or the first rule broken. An empty path ("spiffe://td") is valid
 * here: it names the trust domain itself. */
enum spiffe_err spiffe_id_parse(const char *s, size_t len, struct spiffe_id *out);

/* As spiffe_id_parse, for the id of a workload (an X.509-SVID's, or one a
 * peer's must equal): the path may not be empty (SPIFFE_ERR_NO_PATH). */
enum spiffe_err spiffe_workload_id_parse(const char *s, size_t len, struct spiffe_id *out);

/* Checks a bare trust domain name ("example.org"). Returns SPIFFE_OK or the
 * rule broken. */
enum spiffe_err spiffe_trust_domain_check(const char *td, size_t len);

/* True when `id` is exactly the `len` bytes at `expected` (byte compare,
 * no normalisation: the standard makes ids case-sensitive in the path and
 * lowercase-only in the trust domain, so equal ids are equal bytes). */
bool spiffe_id_equal(const struct spiffe_id *id, const char *expected, size_t len);

/* True when `id` belongs to trust domain `td` (`len` bytes). */
bool spiffe_id_in_trust_domain(const struct spiffe_id *id, const char *td, size_t len);

/* Reads the SPIFFE id of the leaf X.509-SVID `leaf` and checks the leaf
 * rules: exactly one URI SAN (other SAN types are allowed), which is a valid
 * id with a path; CA=false; keyUsage with digitalSignature and without
 * keyCertSign/cRLSign. On SPIFFE_OK copies the id into `buf` (`buflen` >
 * SPIFFE_ID_MAX is always enough), NUL-terminates it and stores its length
 * in `*len`. Does not verify the chain: callers do that first. */
enum spiffe_err spiffe_id_from_x509(X509 *leaf, char *buf, size_t buflen, size_t *len);

/* A short English reason for `err`, for logs ("URI SAN count is not 1"). */
const char *spiffe_strerror(enum spiffe_err err);

#endif
