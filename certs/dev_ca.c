/* The development CA: see dev_ca.h. */
#include "certs/dev_ca.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "certs/internal.h"
#include "certs/spiffe.h"

EVP_PKEY *dev_ca_keygen(void)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* 128 random bits, well above the 64 the CA/Browser baseline asks for, so
 * two certificates issued within the same second never share a serial. */
static int set_random_serial(X509 *x)
{
	unsigned char raw[16];
	BIGNUM *bn = NULL;
	int ok = 0;

	do {
		if (RAND_bytes(raw, sizeof(raw)) != 1)
			return 0;
		BN_free(bn);
		bn = BN_bin2bn(raw, sizeof(raw), NULL);
		if (!bn)
			return 0;
	} while (BN_is_zero(bn));

	ASN1_INTEGER *serial = BN_to_ASN1_INTEGER(bn, NULL);

	if (serial)
		ok = X509_set_serialNumber(x, serial);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return ok;
}

static int add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = ext && X509_add_ext(x, ext, -1);

	X509_EXTENSION_free(ext);
	return ok;
}

/* The SAN is built from raw bytes rather than a config string so tests can
 * put in what a config string cannot express (a NUL). RFC 5280 4.2.1.6: with
 * an empty subject the SAN must be critical. */
static int add_sans(X509 *x, const struct dev_ca_san *sans, size_t n)
{
	GENERAL_NAMES *names = GENERAL_NAMES_new();
	int ok = names != NULL;

	for (size_t i = 0; ok && i < n; i++) {
		GENERAL_NAME *gn = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();

		ok = gn && s && (sans[i].type == GEN_URI || sans[i].type == GEN_DNS) &&
		     ASN1_STRING_set(s, sans[i].value, (int)sans[i].len);
		if (ok) {
			GENERAL_NAME_set0_value(gn, sans[i].type, s);
			s = NULL;
			ok = sk_GENERAL_NAME_push(names, gn) > 0;
			if (ok)
				gn = NULL;
		}
		ASN1_IA5STRING_free(s);
		GENERAL_NAME_free(gn);
	}

	int crit = X509_NAME_entry_count(X509_get_subject_name(x)) == 0;

	ok = ok && X509_add1_ext_i2d(x, NID_subject_alt_name, names, crit, X509V3_ADD_DEFAULT) == 1;
	GENERAL_NAMES_free(names);
	return ok;
}

static int add_extensions(X509 *x, X509 *issuer, const struct dev_ca_cert_opts *opts)
{
	X509V3_CTX ctx;

	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if (!add_conf_ext(x, &ctx, NID_basic_constraints,
			  opts->is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE") ||
	    !add_conf_ext(x, &ctx, NID_key_usage,
			  opts->is_ca ? "critical,keyCertSign,cRLSign"
				      : "critical,digitalSignature") ||
	    !add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash"))
		return 0;
	if (!opts->is_ca && !add_conf_ext(x, &ctx, NID_ext_key_usage, "serverAuth,clientAuth"))
		return 0;
	/* A self-signed root needs no authorityKeyIdentifier (RFC 5280
	 * 4.2.1.1); every certificate below one gets it, for path building. */
	if (issuer && !add_conf_ext(x, &ctx, NID_authority_key_identifier, "keyid:always"))
		return 0;
	if (opts->n_sans > 0 && !add_sans(x, opts->sans, opts->n_sans))
		return 0;
	return 1;
}

X509 *dev_ca_sign(const struct dev_ca_cert_opts *opts, EVP_PKEY *subject_key, X509 *issuer,
		  EVP_PKEY *issuer_key, char *err, size_t errlen)
{
	X509 *x = X509_new();
	X509_NAME *name;

	if (!x || !X509_set_version(x, X509_VERSION_3) || !set_random_serial(x))
		goto fail;
	name = X509_get_subject_name(x);
	if (opts->common_name &&
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)opts->common_name, -1, -1, 0))
		goto fail;
	if (!X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name) ||
	    !ASN1_TIME_set(X509_getm_notBefore(x), opts->not_before) ||
	    !ASN1_TIME_set(X509_getm_notAfter(x), opts->not_after) ||
	    !X509_set_pubkey(x, subject_key) || !add_extensions(x, issuer, opts))
		goto fail;
	if (X509_sign(x, issuer ? issuer_key : subject_key, EVP_sha256()) <= 0)
		goto fail;
	return x;
fail:
	certs_err(err, errlen, "building the certificate failed");
	X509_free(x);
	return NULL;
}

typedef int (*pem_emit_fn)(BIO *bio, const void *arg, size_t n);

static int emit_certs(BIO *bio, const void *arg, size_t n)
{
	X509 *const *certs = arg;

	for (size_t i = 0; i < n; i++)
		if (!PEM_write_bio_X509(bio, certs[i]))
			return 0;
	return 1;
}

static int emit_key(BIO *bio, const void *arg, size_t n)
{
	(void)n;
	return PEM_write_bio_PrivateKey(bio, (EVP_PKEY *)arg, NULL, NULL, 0, NULL, NULL);
}

/* Writes through a mkstemp() file beside `path`, then rename(): readers see
 * the old file or the new one, never a partial one, and O_EXCL creation
 * means a planted symlink cannot redirect the write. */
static int write_atomic(const char *path, mode_t mode, pem_emit_fn emit, const void *arg, size_t n,
			char *err, size_t errlen)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
		certs_err(err, errlen, "%s: path too long", path);
		return -1;
	}

	int fd = mkstemp(tmp);

	if (fd < 0) {
		certs_err(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}

	FILE *f = fdopen(fd, "w");
	BIO *bio = f ? BIO_new_fp(f, BIO_NOCLOSE) : NULL;
	int ok = bio && fchmod(fd, mode) == 0 && emit(bio, arg, n) && BIO_flush(bio) == 1 &&
		 fflush(f) == 0 && fsync(fd) == 0;

	BIO_free(bio);
	if (f)
		ok = (fclose(f) == 0) && ok;
	else
		close(fd);
	if (ok && rename(tmp, path) == 0)
		return 0;
	certs_err(err, errlen, "%s: write failed: %s", path, strerror(errno));
	unlink(tmp);
	return -1;
}

int dev_ca_write_certs(const char *path, X509 *const *certs, size_t n, char *err, size_t errlen)
{
	return write_atomic(path, 0644, emit_certs, certs, n, err, errlen);
}

int dev_ca_write_key(const char *path, EVP_PKEY *key, char *err, size_t errlen)
{
	return write_atomic(path, 0600, emit_key, key, 1, err, errlen);
}

static int mkdir_one(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	errno = ENOTDIR;
	return -1;
}

/* mkdir -p, each new directory 0700: they hold private keys. */
static int make_dir(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	int rc = 0;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
		certs_err(err, errlen, "%s: path too long", dir);
		return -1;
	}
	for (char *p = path + 1; rc == 0 && *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		rc = mkdir_one(path);
		*p = '/';
	}
	if (rc == 0)
		rc = mkdir_one(path);
	if (rc < 0)
		certs_err(err, errlen, "%s: cannot create directory: %s", dir, strerror(errno));
	return rc;
}

static int join(char *out, size_t outlen, const char *dir, const char *file, char *err,
		size_t errlen)
{
	if (snprintf(out, outlen, "%s/%s", dir, file) < (int)outlen)
		return 0;
	certs_err(err, errlen, "%s: path too long", dir);
	return -1;
}

int dev_ca_create(const char *dir, const char *trust_domain, time_t not_before, time_t not_after,
		  char *err, size_t errlen)
{
	size_t td_len = strlen(trust_domain);
	enum spiffe_err serr = spiffe_trust_domain_check(trust_domain, td_len);

	if (serr != SPIFFE_OK) {
		certs_err(err, errlen, "trust domain \"%s\": %s", trust_domain,
			  spiffe_strerror(serr));
		return -1;
	}

	char td_id[SPIFFE_SCHEME_LEN + SPIFFE_TRUST_DOMAIN_MAX + 1];
	int td_id_len = snprintf(td_id, sizeof(td_id), SPIFFE_SCHEME "%s", trust_domain);
	struct dev_ca_san san = {GEN_URI, td_id, (size_t)td_id_len};
	struct dev_ca_cert_opts opts = {
	    .is_ca = true,
	    .common_name = "skiff dev CA",
	    .sans = &san,
	    .n_sans = 1,
	    .not_before = not_before,
	    .not_after = not_after,
	};
	char cert_path[PATH_MAX], key_path[PATH_MAX];
	EVP_PKEY *key = NULL;
	X509 *ca = NULL;
	int ret = -1;

	if (make_dir(dir, err, errlen) < 0 ||
	    join(cert_path, sizeof(cert_path), dir, DEV_CA_CERT_FILE, err, errlen) < 0 ||
	    join(key_path, sizeof(key_path), dir, DEV_CA_KEY_FILE, err, errlen) < 0)
		return -1;
	key = dev_ca_keygen();
	if (!key) {
		certs_err(err, errlen, "generating the CA key failed");
		return -1;
	}
	ca = dev_ca_sign(&opts, key, NULL, NULL, err, errlen);
	/* The key first: a ca.pem never exists without its key. */
	if (ca && dev_ca_write_key(key_path, key, err, errlen) == 0 &&
	    dev_ca_write_certs(cert_path, &ca, 1, err, errlen) == 0)
		ret = 0;
	X509_free(ca);
	EVP_PKEY_free(key);
	return ret;
}

/* Copies into `td` the trust domain a dev CA was made for, from its URI SAN,
 * and returns its length: 0 when the CA has none (a CA made elsewhere),
 * which disables the check. */
static size_t ca_trust_domain(X509 *ca, char td[SPIFFE_TRUST_DOMAIN_MAX])
{
	GENERAL_NAMES *names = X509_get_ext_d2i(ca, NID_subject_alt_name, NULL, NULL);
	size_t len = 0;

	for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		struct spiffe_id id;

		if (gn->type != GEN_URI ||
		    spiffe_id_parse(
			(const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier),
			(size_t)ASN1_STRING_length(gn->d.uniformResourceIdentifier),
			&id) != SPIFFE_OK)
			continue;
		memcpy(td, id.td, id.td_len);
		len = id.td_len;
		break;
	}
	GENERAL_NAMES_free(names);
	return len;
}

static int load_ca(const char *ca_dir, X509 **ca, EVP_PKEY **key, char *err, size_t errlen)
{
	char cert_path[PATH_MAX], key_path[PATH_MAX];
	BIO *bio;

	*ca = NULL;
	*key = NULL;
	if (join(cert_path, sizeof(cert_path), ca_dir, DEV_CA_CERT_FILE, err, errlen) < 0 ||
	    join(key_path, sizeof(key_path), ca_dir, DEV_CA_KEY_FILE, err, errlen) < 0)
		return -1;
	bio = certs_read_file(cert_path, err, errlen);
	if (!bio)
		return -1;
	*ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!*ca) {
		certs_err(err, errlen, "%s: no PEM certificate", cert_path);
		return -1;
	}
	bio = certs_read_file(key_path, err, errlen);
	if (!bio)
		return -1;
	*key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!*key) {
		certs_err(err, errlen, "%s: no PEM private key", key_path);
		return -1;
	}
	if (X509_check_ca(*ca) == 0) {
		certs_err(err, errlen, "%s: not a CA certificate", cert_path);
		return -1;
	}
	if (X509_check_private_key(*ca, *key) != 1) {
		certs_err(err, errlen, "%s does not match %s", key_path, cert_path);
		return -1;
	}
	return 0;
}

int dev_ca_issue(const char *ca_dir, const char *spiffe_id, time_t not_before, time_t not_after,
		 const char *out_dir, char *err, size_t errlen)
{
	struct spiffe_id id;
	enum spiffe_err serr = spiffe_workload_id_parse(spiffe_id, strlen(spiffe_id), &id);

	if (serr != SPIFFE_OK) {
		certs_err(err, errlen, "SPIFFE id \"%s\": %s", spiffe_id, spiffe_strerror(serr));
		return -1;
	}

	char cert_path[PATH_MAX], key_path[PATH_MAX], bundle_path[PATH_MAX];
	X509 *ca, *leaf = NULL;
	EVP_PKEY *ca_key, *key = NULL;
	int ret = -1;

	if (load_ca(ca_dir, &ca, &ca_key, err, errlen) < 0)
		goto out;

	char td[SPIFFE_TRUST_DOMAIN_MAX];
	size_t td_len = ca_trust_domain(ca, td);

	if (td_len > 0 && !spiffe_id_in_trust_domain(&id, td, td_len)) {
		certs_err(err, errlen, "SPIFFE id \"%s\" is outside the CA's trust domain %.*s",
			  spiffe_id, (int)td_len, td);
		goto out;
	}
	if (make_dir(out_dir, err, errlen) < 0 ||
	    join(cert_path, sizeof(cert_path), out_dir, DEV_CA_LEAF_CERT_FILE, err, errlen) < 0 ||
	    join(key_path, sizeof(key_path), out_dir, DEV_CA_LEAF_KEY_FILE, err, errlen) < 0 ||
	    join(bundle_path, sizeof(bundle_path), out_dir, DEV_CA_BUNDLE_FILE, err, errlen) < 0)
		goto out;
	key = dev_ca_keygen();
	if (!key) {
		certs_err(err, errlen, "generating the workload key failed");
		goto out;
	}

	struct dev_ca_san san = {GEN_URI, spiffe_id, id.len};
	struct dev_ca_cert_opts opts = {
	    .sans = &san,
	    .n_sans = 1,
	    .not_before = not_before,
	    .not_after = not_after,
	};

	leaf = dev_ca_sign(&opts, key, ca, ca_key, err, errlen);
	/* Bundle, key, then certificate: a watcher reloading between two
	 * renames sees a key that does not match yet and keeps the old
	 * identity; the last rename completes the set. */
	if (leaf && dev_ca_write_certs(bundle_path, &ca, 1, err, errlen) == 0 &&
	    dev_ca_write_key(key_path, key, err, errlen) == 0 &&
	    dev_ca_write_certs(cert_path, &leaf, 1, err, errlen) == 0)
		ret = 0;
out:
	X509_free(leaf);
	EVP_PKEY_free(key);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return ret;
}
