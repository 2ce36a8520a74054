/* Tests proxy/orig_dst.c on real loopback sockets: without NAT there is no
 * SO_ORIGINAL_DST answer, so the local address is the original destination
 * (the sk_lookup/TPROXY case) unless it is the listener itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/orig_dst.h"
#include "proxy/sock_addr.h"

struct pair {
	int listen_fd, client_fd, accepted_fd;
	struct sock_addr listen_addr;
};

static void open_pair(struct pair *p, const char *bind_ip, const char *dial_ip)
{
	struct sock_addr bind_addr;
	assert_int_equal(sock_addr_parse(bind_ip, 0, &bind_addr), 0);
	p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(p->listen_fd, (struct sockaddr *)&bind_addr.ss, bind_addr.len), 0);
	assert_int_equal(listen(p->listen_fd, 1), 0);
	p->listen_addr.len = sizeof(p->listen_addr.ss);
	getsockname(p->listen_fd, (struct sockaddr *)&p->listen_addr.ss, &p->listen_addr.len);
	struct sock_addr dial;
	assert_int_equal(sock_addr_parse(dial_ip, sock_addr_port(&p->listen_addr), &dial), 0);
	p->client_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(p->client_fd, (struct sockaddr *)&dial.ss, dial.len), 0);
	p->accepted_fd = accept(p->listen_fd, NULL, NULL);
	assert_true(p->accepted_fd >= 0);
}

static void close_pair(struct pair *p)
{
	close(p->accepted_fd);
	close(p->client_fd);
	close(p->listen_fd);
}

static void test_direct_dial_of_specific_listener_is_refused(void **state)
{
	(void)state;
	struct pair p;
	open_pair(&p, "127.0.0.1", "127.0.0.1");
	struct sock_addr out;
	assert_int_equal(orig_dst_get(p.accepted_fd, &p.listen_addr, true, &out), -ENOENT);
	assert_int_equal(orig_dst_get(p.accepted_fd, &p.listen_addr, false, &out), -ENOENT);
	close_pair(&p);
}

static void test_direct_dial_of_wildcard_listener_is_refused(void **state)
{
	(void)state;
	struct pair p;
	open_pair(&p, "0.0.0.0", "127.0.0.3");
	struct sock_addr out;
	assert_int_equal(orig_dst_get(p.accepted_fd, &p.listen_addr, true, &out), -ENOENT);
	close_pair(&p);
}

static void test_local_address_is_destination_when_not_the_listener(void **state)
{
	(void)state;
	/* As under sk_lookup: the socket's local address is where the client was
	 * going, and it is not the address the listener was bound to. */
	struct pair p;
	open_pair(&p, "0.0.0.0", "127.0.0.5");
	struct sock_addr pretend_listener, out;
	assert_int_equal(sock_addr_parse("0.0.0.0", 15006, &pretend_listener), 0);
	assert_int_equal(orig_dst_get(p.accepted_fd, &pretend_listener, true, &out), 0);
	struct sock_addr expected;
	assert_int_equal(sock_addr_parse("127.0.0.5", sock_addr_port(&p.listen_addr), &expected), 0);
	assert_true(sock_addr_equal(&out, &expected));
	close_pair(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct_dial_of_specific_listener_is_refused),
		cmocka_unit_test(test_direct_dial_of_wildcard_listener_is_refused),
		cmocka_unit_test(test_local_address_is_destination_when_not_the_listener),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
