/* An epoll event loop, one per thread. Sockets are registered once,
 * edge-triggered, for everything they may ever want; the owner remembers
 * readiness itself, so the data path makes no epoll_ctl calls. */
#ifndef SKIFF_PROXY_LOOP_H
#define SKIFF_PROXY_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct io;
typedef void (*io_cb)(struct io *io, uint32_t events);

/* Embedded in whatever owns the fd; cb gets the io back. */
struct io {
	int fd;
	io_cb cb;
};

struct loop {
	int epfd;
	uint64_t now_ms; /* loop_now_ms() as of the last wake-up */
};

/* Returns 0 or -errno. */
int loop_init(struct loop *loop);
void loop_close(struct loop *loop);

/* Registers io for events (EPOLLIN, EPOLLOUT, EPOLLET...). 0 or -errno. */
int loop_add(struct loop *loop, struct io *io, uint32_t events);
void loop_del(struct loop *loop, struct io *io);

/* Waits up to timeout_ms (-1: forever), updates now_ms, and calls the
 * callbacks of ready fds. Returns the number dispatched, or -errno (EINTR is 0). */
int loop_run_once(struct loop *loop, int timeout_ms);

/* Monotonic milliseconds, coarse (a few ms): good for timeouts. */
uint64_t loop_now_ms(void);

#endif
