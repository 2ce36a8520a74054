/* Sockets in other network namespaces; see netns.h. */
#include "proxy/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxy/listener.h"
#include "proxy/log.h"
#include "proxy/sock_addr.h"

struct binding {
	char *netns;
	char *cgroup;
};

static pthread_mutex_t bindings_lock = PTHREAD_MUTEX_INITIALIZER;
static struct binding bindings[NETNS_BINDINGS_MAX];
static size_t n_bindings;

/* The thread's own namespace, to come back to: opened on first use, while
 * the thread is still at home, and kept for the thread's life (workers live
 * as long as the process). */
static __thread int home_fd = -1;

static int open_netns(const char *netns)
{
	int fd = open(netns, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Moves the calling thread into netns. 0 or -errno (the thread stays home). */
static int enter(const char *netns)
{
	if (home_fd < 0 && (home_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) < 0)
		return -errno;
	int fd = open_netns(netns);
	if (fd < 0)
		return fd;
	int rc = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static void leave(void)
{
	/* Returning to a namespace held open cannot fail short of a kernel
	 * bug; a worker left in a pod's namespace would open every later
	 * socket there, so this is the one place skiff stops rather than go on
	 * with a broken invariant. */
	if (setns(home_fd, CLONE_NEWNET) < 0) {
		log_error("setns back to the node's network namespace: %s", strerror(errno));
		abort();
	}
}

int netns_socket(const char *netns, int domain, int type)
{
	if (!netns) {
		int fd = socket(domain, type, 0);
		return fd < 0 ? -errno : fd;
	}
	int rc = enter(netns);
	if (rc < 0)
		return rc;
	int fd = socket(domain, type, 0);
	rc = fd < 0 ? -errno : fd;
	leave();
	return rc;
}

/* The cgroup bound to netns, copied into out; false when there is none. */
static bool bound_cgroup(const char *netns, char *out, size_t len)
{
	bool found = false;
	pthread_mutex_lock(&bindings_lock);
	for (size_t i = 0; i < n_bindings && !found; i++)
		if (strcmp(bindings[i].netns, netns) == 0)
			found = snprintf(out, len, "%s", bindings[i].cgroup) < (int)len;
	pthread_mutex_unlock(&bindings_lock);
	return found;
}

int netns_bind_cgroup(const char *netns, const char *cgroup)
{
	char *ns = strdup(netns), *cg = strdup(cgroup);
	int rc = 0;
	if (!ns || !cg) {
		free(ns);
		free(cg);
		return -ENOMEM;
	}
	netns_unbind_cgroup(netns);
	pthread_mutex_lock(&bindings_lock);
	if (n_bindings == NETNS_BINDINGS_MAX)
		rc = -ENOSPC;
	else
		bindings[n_bindings++] = (struct binding){ns, cg};
	pthread_mutex_unlock(&bindings_lock);
	if (rc) {
		free(ns);
		free(cg);
	}
	return rc;
}

void netns_unbind_cgroup(const char *netns)
{
	pthread_mutex_lock(&bindings_lock);
	for (size_t i = 0; i < n_bindings; i++) {
		if (strcmp(bindings[i].netns, netns) != 0)
			continue;
		free(bindings[i].netns);
		free(bindings[i].cgroup);
		bindings[i] = bindings[--n_bindings];
		break;
	}
	pthread_mutex_unlock(&bindings_lock);
}

/* What the helper process reports: the errno of the step that failed. */
enum helper_step { STEP_OK, STEP_CGROUP, STEP_SETNS, STEP_SOCKET };

struct helper_reply {
	int step; /* enum helper_step */
	int err;
};

static const char *const step_names[] = {"", "joining the cgroup", "setns", "socket"};

/* The helper process: joins the cgroup, then the namespace (in that order:
 * cgroup.procs is a file of this mount namespace, which setns(CLONE_NEWNET)
 * leaves alone, but a pod's own view would not have it), creates the socket
 * and passes it back. Only system calls between fork() and _exit(): the
 * parent has other threads, whose locks the child may have copied held. */
static void helper_main(int chan, int procs_fd, int ns_fd, int domain)
{
	struct helper_reply r = {STEP_OK, 0};
	int fd = -1;
	if (write(procs_fd, "0", 1) != 1)
		r = (struct helper_reply){STEP_CGROUP, errno};
	else if (setns(ns_fd, CLONE_NEWNET) < 0)
		r = (struct helper_reply){STEP_SETNS, errno};
	else if ((fd = socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		r = (struct helper_reply){STEP_SOCKET, errno};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = {&r, sizeof(r)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (fd >= 0) {
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	_exit(sendmsg(chan, &msg, MSG_NOSIGNAL) < 0 ? 1 : 0);
}

/* Receives the helper's reply: the socket's fd, or -errno with err set. */
static int helper_receive(int chan, const char *netns, char *err, size_t errlen)
{
	struct helper_reply r = {STEP_SOCKET, EIO};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = {&r, sizeof(r)};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf)};
	ssize_t n;
	do
		n = recvmsg(chan, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	int fd = -1;
	struct cmsghdr *c = n == (ssize_t)sizeof(r) ? CMSG_FIRSTHDR(&msg) : NULL;
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (fd >= 0 && r.step == STEP_OK)
		return fd;
	if (fd >= 0)
		close(fd);
	if (n != (ssize_t)sizeof(r))
		r = (struct helper_reply){STEP_SOCKET, EIO}; /* the helper died */
	int step = r.step > STEP_OK && r.step <= STEP_SOCKET ? r.step : STEP_SOCKET;
	snprintf(err, errlen, "netns %s: %s: %s", netns, step_names[step], strerror(r.err));
	return r.err > 0 ? -r.err : -EIO;
}

/* A socket of `domain` created in netns by a helper process in cgroup. */
static int helper_socket(const char *netns, const char *cgroup, int domain, char *err,
			 size_t errlen)
{
	char procs[PATH_MAX + 16];
	int chan[2] = {-1, -1}, rc;
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cgroup);
	int procs_fd = open(procs, O_WRONLY | O_CLOEXEC);
	int ns_fd = open_netns(netns);
	if (procs_fd < 0 || ns_fd < 0) {
		rc = procs_fd < 0 ? -errno : ns_fd;
		snprintf(err, errlen, "%s: %s", procs_fd < 0 ? procs : netns, strerror(-rc));
		goto out;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan) < 0) {
		rc = -errno;
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		goto out;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(chan[0]);
		helper_main(chan[1], procs_fd, ns_fd, domain);
	}
	if (pid < 0) {
		rc = -errno;
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto out;
	}
	close(chan[1]);
	chan[1] = -1;
	rc = helper_receive(chan[0], netns, err, errlen);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
out:
	for (int i = 0; i < 2; i++)
		if (chan[i] >= 0)
			close(chan[i]);
	if (procs_fd >= 0)
		close(procs_fd);
	if (ns_fd >= 0)
		close(ns_fd);
	return rc;
}

/* What listener_open does after socket(): the same options, the same
 * backlog, so a listener behaves alike in any namespace. Takes fd. */
static int bind_listen(int fd, const struct sock_addr *addr, bool reuseport, const char *netns,
		       char *err, size_t errlen)
{
	int one = 1;
	const char *step = "setsockopt";
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0))
		goto fail;
	step = "bind";
	if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0)
		goto fail;
	step = "listen";
	if (listen(fd, LISTENER_BACKLOG) < 0)
		goto fail;
	return fd;
fail:;
	int e = errno;
	char where[SOCK_ADDR_STRLEN];
	snprintf(err, errlen, "netns %s: %s: %s: %s", netns,
		 sock_addr_format(addr, where, sizeof(where)), step, strerror(e));
	close(fd);
	return -e;
}

int netns_listener_open(const char *netns, const struct sock_addr *addr, bool reuseport, char *err,
			size_t errlen)
{
	if (!netns)
		return listener_open(addr, reuseport, err, errlen);
	char cgroup[PATH_MAX];
	int fd;
	if (bound_cgroup(netns, cgroup, sizeof(cgroup))) {
		fd = helper_socket(netns, cgroup, addr->ss.ss_family, err, errlen);
	} else {
		fd = netns_socket(netns, addr->ss.ss_family,
				  SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			snprintf(err, errlen, "netns %s: %s", netns, strerror(-fd));
	}
	return fd < 0 ? fd : bind_listen(fd, addr, reuseport, netns, err, errlen);
}
