/* Reloading the workload identity on file changes: see watch.h. */
#include "certs/watch.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "certs/dev_ca.h"

/* Every way a file in the directory can come to hold new bytes: rewritten
 * in place (CLOSE_WRITE), renamed or symlinked in (MOVED_TO, CREATE), its
 * permissions fixed (ATTRIB); and the directory itself going away, which
 * ends the watch (DELETE_SELF, MOVE_SELF) and is re-armed on the next
 * reload. */
#define WATCH_MASK                                                                                 \
	(IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_DELETE_SELF |       \
	 IN_MOVE_SELF)

struct cert_watch {
	int epfd;  /* the fd handed out: inotify + timer */
	int ino;   /* inotify instance */
	int wd;    /* watch on dir, or -1 after the directory went away */
	int timer; /* timerfd: the settle delay */
	char dir[PATH_MAX];
	char cert[PATH_MAX], key[PATH_MAX], bundle[PATH_MAX];
	cert_watch_cb cb;
	void *arg;
	struct tls_identity *id;
};

static int join(char *out, const char *dir, const char *name)
{
	return snprintf(out, PATH_MAX, "%s/%s", dir, name) < PATH_MAX ? 0 : -ENAMETOOLONG;
}

static int epoll_add(int epfd, int fd)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

void cert_watch_free(struct cert_watch *w)
{
	if (!w)
		return;
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->ino >= 0)
		close(w->ino);
	if (w->timer >= 0)
		close(w->timer);
	tls_identity_unref(w->id);
	free(w);
}

int cert_watch_new(const char *dir, const struct cert_watch_files *files, cert_watch_cb cb,
		   void *arg, struct cert_watch **out, char *err, size_t errlen)
{
	struct cert_watch *w = calloc(1, sizeof(*w));
	int rc;

	if (!w)
		return -ENOMEM;
	w->epfd = w->ino = w->timer = w->wd = -1;
	w->cb = cb;
	w->arg = arg;
	rc = snprintf(w->dir, sizeof(w->dir), "%s", dir) < (int)sizeof(w->dir) ? 0 : -ENAMETOOLONG;
	if (rc == 0)
		rc = join(w->cert, dir, files && files->cert ? files->cert : DEV_CA_LEAF_CERT_FILE);
	if (rc == 0)
		rc = join(w->key, dir, files && files->key ? files->key : DEV_CA_LEAF_KEY_FILE);
	if (rc == 0)
		rc = join(w->bundle, dir,
			  files && files->bundle ? files->bundle : DEV_CA_BUNDLE_FILE);
	if (rc < 0) {
		snprintf(err, errlen, "%s: path too long", dir);
		goto fail;
	}
	/* Watch first, then load: a change landing between the two is seen
	 * as an event instead of being lost. */
	w->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	w->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->ino < 0 || w->timer < 0 || w->epfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "watching %s: %s", dir, strerror(errno));
		goto fail;
	}
	w->wd = inotify_add_watch(w->ino, dir, WATCH_MASK);
	if (w->wd < 0) {
		rc = -errno;
		snprintf(err, errlen, "watching %s: %s", dir, strerror(errno));
		goto fail;
	}
	rc = epoll_add(w->epfd, w->ino);
	if (rc == 0)
		rc = epoll_add(w->epfd, w->timer);
	if (rc < 0) {
		snprintf(err, errlen, "watching %s: %s", dir, strerror(-rc));
		goto fail;
	}
	rc = tls_identity_load(w->cert, w->key, w->bundle, &w->id, err, errlen);
	if (rc < 0)
		goto fail;
	*out = w;
	return 0;
fail:
	cert_watch_free(w);
	return rc;
}

int cert_watch_fd(const struct cert_watch *w)
{
	return w->epfd;
}

struct tls_identity *cert_watch_identity(const struct cert_watch *w)
{
	return w->id;
}

/* Drains the inotify queue; returns whether anything happened. */
static bool drain_events(struct cert_watch *w)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;
	ssize_t n;

	while ((n = read(w->ino, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;

			if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
				w->wd = -1;
			any = true;
			p += sizeof(*ev) + ev->len;
		}
	}
	return any;
}

static void arm_settle_timer(struct cert_watch *w)
{
	struct itimerspec its = {
	    .it_value = {.tv_sec = CERT_WATCH_SETTLE_MS / 1000,
			 .tv_nsec = (CERT_WATCH_SETTLE_MS % 1000) * 1000000L},
	};

	timerfd_settime(w->timer, 0, &its, NULL);
}

static bool timer_expired(struct cert_watch *w)
{
	uint64_t ticks;

	return read(w->timer, &ticks, sizeof(ticks)) == (ssize_t)sizeof(ticks);
}

static int reload(struct cert_watch *w)
{
	struct tls_identity *id = NULL;
	char err[512] = "";

	/* A directory that was replaced (not just its contents) needs a new
	 * watch; if it is not back yet, the load below fails and says so. */
	if (w->wd < 0)
		w->wd = inotify_add_watch(w->ino, w->dir, WATCH_MASK);
	if (tls_identity_load(w->cert, w->key, w->bundle, &id, err, sizeof(err)) < 0) {
		if (w->cb)
			w->cb(NULL, err, w->arg);
		return -EINVAL;
	}
	tls_identity_unref(w->id);
	w->id = id;
	if (w->cb) {
		tls_identity_ref(id);
		w->cb(id, NULL, w->arg);
	}
	return 1;
}

int cert_watch_handle(struct cert_watch *w)
{
	/* New events push the reload back: the writer is not done yet. */
	if (drain_events(w)) {
		timer_expired(w);
		arm_settle_timer(w);
		return 0;
	}
	return timer_expired(w) ? reload(w) : 0;
}
