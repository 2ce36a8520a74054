/* Helpers shared by certs/: see internal.h. */
#include "certs/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>

void certs_err(char *err, size_t errlen, const char *fmt, ...)
{
	unsigned long e = ERR_get_error();

	ERR_clear_error();
	if (!err || errlen == 0)
		return;

	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (e != 0 && n >= 0 && (size_t)n + 3 < errlen) {
		char ossl[256];

		ERR_error_string_n(e, ossl, sizeof(ossl));
		snprintf(err + n, errlen - (size_t)n, " (%s)", ossl);
	}
}

BIO *certs_read_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		certs_err(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}

	struct stat st;
	BIO *bio = NULL;
	char *buf = NULL;

	if (fstat(fd, &st) < 0) {
		certs_err(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CERTS_FILE_MAX) {
		certs_err(err, errlen, "%s: not a regular file of at most %d bytes", path,
			  CERTS_FILE_MAX);
		goto out;
	}
	/* One byte more than the limit, so a file that grew since fstat()
	 * is noticed rather than cut. */
	buf = OPENSSL_malloc(CERTS_FILE_MAX + 1);
	if (!buf) {
		certs_err(err, errlen, "%s: out of memory", path);
		goto out;
	}

	size_t len = 0;

	for (;;) {
		ssize_t r = read(fd, buf + len, CERTS_FILE_MAX + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			certs_err(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > CERTS_FILE_MAX) {
			certs_err(err, errlen, "%s: larger than %d bytes", path, CERTS_FILE_MAX);
			goto out;
		}
	}
	bio = BIO_new(BIO_s_mem());
	if (!bio || BIO_write(bio, buf, (int)len) != (int)len) {
		BIO_free(bio);
		bio = NULL;
		certs_err(err, errlen, "%s: out of memory", path);
	}
out:
	OPENSSL_clear_free(buf, CERTS_FILE_MAX + 1);
	close(fd);
	return bio;
}
