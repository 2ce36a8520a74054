/* Listening sockets; see listener.h. */
#include "proxy/listener.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/sock_addr.h"

int listener_open(const struct sock_addr *addr, bool reuseport, char *err, size_t errlen)
{
	char where[64];
	sock_addr_format(addr, where, sizeof(where));
	int fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: socket: %s", where, strerror(e));
		return -e;
	}
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
	snprintf(err, errlen, "%s: %s: %s", where, step, strerror(e));
	close(fd);
	return -e;
}
