// SPDX-License-Identifier: MIT
/*
 * The listener ringer creates: SO_REUSEPORT so shards can share a port, and
 * TCP_NODELAY, which Linux copies to every accepted socket. ringer's own
 * sockets are direct descriptors that take no getsockopt, so this checks
 * the inheritance on a plain accept of the same listener.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringer/config.h"
#include "ringer/sock.h"

static int getopt_int(int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
	return v;
}

static void accepted_sockets_inherit_nodelay(void **state)
{
	struct net_addr a, bound;
	socklen_t len = sizeof(bound.ss);
	int lfd, second, cfd, afd;

	(void)state;
	assert_int_equal(net_addr_parse("127.0.0.1:0", &a), 0);
	lfd = sock_listen(&a, 16);
	assert_true(lfd >= 0);
	assert_int_equal(getopt_int(lfd, IPPROTO_TCP, TCP_NODELAY), 1);
	assert_int_equal(getopt_int(lfd, SOL_SOCKET, SO_REUSEPORT), 1);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&bound.ss, &len), 0);
	bound.len = len;

	/* A second shard's listener joins the same port (closed again, so accept below is sure). */
	second = sock_listen(&bound, 16);
	assert_true(second >= 0);
	close(second);

	cfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&bound.ss, bound.len), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(getopt_int(afd, IPPROTO_TCP, TCP_NODELAY), 1);
	close(afd);
	close(cfd);
	close(lfd);
}

/* Keepalive set on the listener reaches every accepted socket (direct descriptors take no setsockopt). */
static void accepted_sockets_inherit_keepalive(void **state)
{
	struct net_addr a;
	socklen_t len = sizeof(a.ss);
	int lfd, cfd, afd;

	(void)state;
	assert_int_equal(net_addr_parse("127.0.0.1:0", &a), 0);
	lfd = sock_listen(&a, 16);
	assert_true(lfd >= 0);
	assert_int_equal(sock_keepalive(lfd, 45, 7, 3), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a.ss, &len), 0);
	a.len = len;
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&a.ss, a.len), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(getopt_int(afd, SOL_SOCKET, SO_KEEPALIVE), 1);
	assert_int_equal(getopt_int(afd, IPPROTO_TCP, TCP_KEEPIDLE), 45);
	assert_int_equal(getopt_int(afd, IPPROTO_TCP, TCP_KEEPINTVL), 7);
	assert_int_equal(getopt_int(afd, IPPROTO_TCP, TCP_KEEPCNT), 3);
	close(afd);
	close(cfd);
	close(lfd);
}

/* So does TCP_USER_TIMEOUT: a black-holed client is reset like a black-holed upstream. */
static void accepted_sockets_inherit_user_timeout(void **state)
{
	struct net_addr a;
	socklen_t len = sizeof(a.ss);
	int lfd, cfd, afd;

	(void)state;
	assert_int_equal(net_addr_parse("127.0.0.1:0", &a), 0);
	lfd = sock_listen(&a, 16);
	assert_true(lfd >= 0);
	assert_int_equal(sock_user_timeout(lfd, 2500), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&a.ss, &len), 0);
	a.len = len;
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&a.ss, a.len), 0);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(getopt_int(afd, IPPROTO_TCP, TCP_USER_TIMEOUT), 2500);
	close(afd);
	close(cfd);
	close(lfd);
}

static void bind_conflict_is_an_error(void **state)
{
	struct net_addr a;
	int other;

	(void)state;
	/* A port held by a socket without SO_REUSEPORT cannot be joined. */
	other = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(net_addr_parse("127.0.0.1:0", &a), 0);
	assert_int_equal(bind(other, (struct sockaddr *)&a.ss, a.len), 0);
	assert_int_equal(listen(other, 1), 0);
	a.len = sizeof(a.ss);
	assert_int_equal(getsockname(other, (struct sockaddr *)&a.ss, &a.len), 0);
	assert_true(sock_listen(&a, 16) < 0);
	close(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepted_sockets_inherit_nodelay),
		cmocka_unit_test(accepted_sockets_inherit_keepalive),
		cmocka_unit_test(accepted_sockets_inherit_user_timeout),
		cmocka_unit_test(bind_conflict_is_an_error),
	};

	return cmocka_run_group_tests_name("listen", tests, NULL, NULL);
}
