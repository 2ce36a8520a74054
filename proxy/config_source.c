/* Snapshots from the bootstrap, rebuilt on certificate rotation; see
 * config_source.h. */
#include "proxy/config_source.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certs/tls_context.h"
#include "certs/watch.h"
#include "proxy/list.h"
#include "proxy/bootstrap.h"
#include "proxy/log.h"
#include "proxy/snapshot.h"
#include "proxy/tls_setup.h"

#define MAX_WATCHES 16
#define BOOTSTRAP_MAX_BYTES (16u << 20)
#define TICKET_ROTATION_MS (60u * 60u * 1000u)

struct watch {
	struct io io;
	struct cert_watch *cw;
	char cert_path[PATH_MAX]; /* identifies the set */
};

static char *text;           /* the bootstrap, as read at start-up */
static size_t text_len;
static char *source_name;
static struct tls_ticket_keys *tickets;
static uint64_t tickets_rotated_ms;
static struct watch watches[MAX_WATCHES];
static unsigned n_watches;
static void (*publish_fn)(struct snapshot *snap);
static struct loop *watch_loop;
static config_source_dynamic_fn dynamic_fn;
static void *dynamic_arg;

static int read_text(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > BOOTSTRAP_MAX_BYTES) {
		snprintf(err, errlen, "%s: %s", path,
			 S_ISREG(st.st_mode) ? "larger than 16 MiB" : "not a regular file");
		close(fd);
		return -EINVAL;
	}
	text = malloc((size_t)st.st_size + 1);
	size_t got = 0;
	while (text && got < (size_t)st.st_size) {
		ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (!text || got != (size_t)st.st_size) {
		snprintf(err, errlen, "%s: %s", path, text ? "short read" : "out of memory");
		return -EIO;
	}
	text_len = got;
	return 0;
}

void config_source_set_dynamic(config_source_dynamic_fn fn, void *arg)
{
	dynamic_fn = fn;
	dynamic_arg = arg;
}

struct snapshot *config_source_build(char *err, size_t errlen)
{
	struct snapshot *snap = NULL;
	if (bootstrap_load_string(source_name, text, text_len, &snap, err, errlen) < 0)
		return NULL;
	char why[512];
	if ((dynamic_fn && dynamic_fn(snap, why, sizeof(why), dynamic_arg) < 0) ||
	    snapshot_link(snap, why, sizeof(why)) < 0 ||
	    tls_setup_snapshot(snap, tickets, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s", why);
		snapshot_unref(snap);
		return NULL;
	}
	return snap;
}

struct snapshot *config_source_load(const char *path, char *err, size_t errlen)
{
	source_name = strdup(path ? path : "<embedded>");
	if (!source_name) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (path) {
		if (read_text(path, err, errlen) < 0)
			return NULL;
	} else {
		text_len = strlen(bootstrap_default_yaml);
		text = strdup(bootstrap_default_yaml);
	}
	tickets = tls_ticket_keys_new();
	if (!text || !tickets) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	tickets_rotated_ms = loop_now_ms();
	return config_source_build(err, errlen);
}

static void on_rotated(struct tls_identity *id, const char *err, void *arg)
{
	struct watch *w = arg;
	if (!id) {
		log_error("certificate rotation refused, keeping the current one: %s", err);
		return;
	}
	log_info("certificate %s changed: serial %s, valid until %ld", w->cert_path, id->serial,
		 (long)id->not_after);
	tls_identity_unref(id); /* the rebuild loads the files whole again */
	char why[512];
	struct snapshot *snap = config_source_build(why, sizeof(why));
	if (!snap) {
		log_error("certificate rotation: %s; keeping the current configuration", why);
		return;
	}
	publish_fn(snap);
}

static void on_watch_event(struct io *io, uint32_t events)
{
	(void)events;
	struct watch *w = container_of(io, struct watch, io);
	cert_watch_handle(w->cw);
}

struct watch_ctx {
	int rc;
	char *err;
	size_t errlen;
};

/* Starts a watch for the files of tls unless one covers them already. A
 * watch covers one directory holding a certificate, key and bundle. */
static void watch_tls(const struct tls_config *tls, void *arg)
{
	struct watch_ctx *ctx = arg;
	if (ctx->rc)
		return;
	for (unsigned i = 0; i < n_watches; i++)
		if (strcmp(watches[i].cert_path, tls->cert_chain_file) == 0)
			return;
	if (n_watches == MAX_WATCHES) {
		snprintf(ctx->err, ctx->errlen, "more than %d certificate sets", MAX_WATCHES);
		ctx->rc = -ENOSPC;
		return;
	}
	char cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX], dir[PATH_MAX];
	snprintf(cert, sizeof(cert), "%s", tls->cert_chain_file);
	snprintf(key, sizeof(key), "%s", tls->private_key_file);
	snprintf(ca, sizeof(ca), "%s", tls->trusted_ca_file);
	snprintf(dir, sizeof(dir), "%s", tls->cert_chain_file);
	const char *d = dirname(dir);
	char kdir[PATH_MAX], cdir[PATH_MAX];
	snprintf(kdir, sizeof(kdir), "%s", key);
	snprintf(cdir, sizeof(cdir), "%s", ca);
	if (strcmp(dirname(kdir), d) != 0 || strcmp(dirname(cdir), d) != 0) {
		snprintf(ctx->err, ctx->errlen,
			 "%s: certificate, key and trusted CA must share a directory to be rotated",
			 tls->cert_chain_file);
		ctx->rc = -EINVAL;
		return;
	}
	struct cert_watch_files files = { basename(cert), basename(key), basename(ca) };
	struct watch *w = &watches[n_watches];
	snprintf(w->cert_path, sizeof(w->cert_path), "%s", tls->cert_chain_file);
	ctx->rc = cert_watch_new(d, &files, on_rotated, w, &w->cw, ctx->err, ctx->errlen);
	if (ctx->rc)
		return;
	w->io = (struct io){ .fd = cert_watch_fd(w->cw), .cb = on_watch_event };
	ctx->rc = loop_add(watch_loop, &w->io, EPOLLIN);
	if (ctx->rc) {
		snprintf(ctx->err, ctx->errlen, "epoll: %s", strerror(-ctx->rc));
		cert_watch_free(w->cw);
		return;
	}
	n_watches++;
}

int config_source_watch(struct loop *loop, const struct snapshot *snap,
			void (*publish)(struct snapshot *snap), char *err, size_t errlen)
{
	watch_loop = loop;
	publish_fn = publish;
	struct watch_ctx ctx = { 0, err, errlen };
	tls_setup_each(snap, watch_tls, &ctx);
	return ctx.rc;
}

void config_source_tick(void)
{
	uint64_t now = loop_now_ms();
	if (!tickets || now - tickets_rotated_ms < TICKET_ROTATION_MS)
		return;
	tickets_rotated_ms = now;
	if (tls_ticket_keys_rotate(tickets) < 0)
		log_warn("session ticket key rotation failed; keeping the current key");
}

void config_source_close(struct loop *loop)
{
	for (unsigned i = 0; i < n_watches; i++) {
		loop_del(loop, &watches[i].io);
		cert_watch_free(watches[i].cw);
	}
	n_watches = 0;
	tls_ticket_keys_unref(tickets);
	tickets = NULL;
	free(text);
	text = NULL;
	free(source_name);
	source_name = NULL;
}
