// SPDX-License-Identifier: MIT
/*
 * ringer-load against an echo server we did not write into ringer: a small
 * python server that counts what it saw and can corrupt a byte on request.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "load_harness.h"

static void target(char *buf, size_t len, const char *host, int port)
{
	if (strchr(host, ':'))
		snprintf(buf, len, "[%s]:%d", host, port);
	else
		snprintf(buf, len, "%s:%d", host, port);
}

/* Every byte the client counts went through the server, and nothing else did. */
static void counts_agree_with_the_server(void **state)
{
	struct load_run r;
	struct proc srv;
	long long bytes, conns;
	char t[64];

	(void)state;
	assert_int_equal(echo_server_start(&srv, "127.0.0.1", NULL), 0);
	target(t, sizeof(t), "127.0.0.1", srv.port);
	load_run(&r, 30000, "--mode", "echo", "--target", t, "--requests", "3000", "-c", "3",
		 "--size", "100", "--pipeline", "2", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "requests"), 3000);
	assert_int_equal(json_num(r.p.out, "total"), 0);
	assert_int_equal(json_num(r.p.out, "bytes_rx"), 300000);
	assert_int_equal(echo_server_stop(&srv, &bytes, &conns), 0);
	assert_int_equal(bytes, 300000);
	/* Three load connections and the one that checks the target answers. */
	assert_int_equal(conns, 4);
}

static void a_corrupted_byte_fails_the_run(void **state)
{
	struct load_run r;
	struct proc srv;
	long long bytes, conns;
	char t[64];

	(void)state;
	assert_int_equal(echo_server_start(&srv, "127.0.0.1", "--corrupt-at", "5000", NULL), 0);
	target(t, sizeof(t), "127.0.0.1", srv.port);
	load_run(&r, 30000, "--mode", "echo", "--target", t, "--requests", "2000", "-c", "2",
		 "--size", "64", "--json", NULL);
	assert_int_equal(r.status, 3);
	assert_true(json_num(r.p.out, "mismatch") >= 1);
	assert_non_null(strstr(r.p.err, "failed verification"));
	echo_server_stop(&srv, &bytes, &conns);
}

static void churn_reconnects_every_k_requests(void **state)
{
	struct load_run r;
	struct proc srv;
	long long bytes, conns;
	char t[64];

	(void)state;
	assert_int_equal(echo_server_start(&srv, "127.0.0.1", NULL), 0);
	target(t, sizeof(t), "127.0.0.1", srv.port);
	load_run(&r, 30000, "--mode", "echo", "--target", t, "--requests", "500", "-c", "2",
		 "--churn", "10", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "requests"), 500);
	assert_true(json_num(r.p.out, "connects") >= 50);
	assert_int_equal(echo_server_stop(&srv, &bytes, &conns), 0);
	assert_true(conns >= 51);
	assert_int_equal(bytes, 500 * 64);
}

static void ipv6_and_threads(void **state)
{
	struct load_run r;
	struct proc srv;
	long long bytes, conns;
	char t[64];

	(void)state;
	if (ipv6_loopback()) {
		print_message("skip: no IPv6 on loopback here ([::1]: %s)\n",
			      strerror(-ipv6_loopback()));
		skip();
	}
	/* With [::1] there, a server that does not start is a failure. */
	assert_int_equal(echo_server_start(&srv, "::1", NULL), 0);
	target(t, sizeof(t), "::1", srv.port);
	load_run(&r, 30000, "--mode", "echo", "--target", t, "--requests", "1001", "-c", "4",
		 "--threads", "2", "--size", "1k", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "requests"), 1001);
	assert_int_equal(echo_server_stop(&srv, &bytes, &conns), 0);
	assert_int_equal(bytes, 1001 * 1024);
}

/*
 * The open loop sends at the asked rate, not as fast as the server answers:
 * 3,000 requests at 1,500/s take the schedule's 2 s, and every one is answered.
 */
static void open_loop_holds_its_rate(void **state)
{
	struct load_run r;
	struct proc srv;
	long long bytes, conns;
	char t[64];

	(void)state;
	assert_int_equal(echo_server_start(&srv, "127.0.0.1", NULL), 0);
	target(t, sizeof(t), "127.0.0.1", srv.port);
	load_run(&r, 30000, "--mode", "echo", "--target", t, "--rate", "1500", "--requests", "3000",
		 "-c", "6", "--json", NULL);
	assert_true(open_loop_kept(&r, 3000, 1500));
	assert_int_equal(echo_server_stop(&srv, &bytes, &conns), 0);
	/* The server saw exactly what was sent: the quota, nothing more. */
	assert_int_equal(bytes, 3000 * 64);
}

static void stops_by_itself(void **state)
{
	struct load_run r;
	struct proc srv;
	long long bytes, conns;
	char t[64];

	(void)state;
	assert_int_equal(echo_server_start(&srv, "127.0.0.1", NULL), 0);
	target(t, sizeof(t), "127.0.0.1", srv.port);
	load_run(&r, 20000, "--mode", "echo", "--target", t, "--duration", "1", "--warmup", "500ms",
		 "-c", "2", "--pipeline", "8", NULL);
	assert_int_equal(r.status, 0);
	assert_true(r.ms < 5000);
	assert_non_null(strstr(r.p.out, "Value     Percentile TotalCount 1/(1-Percentile)"));
	assert_non_null(strstr(r.p.out, "#[Mean    ="));
	echo_server_stop(&srv, &bytes, &conns);
}

static void bad_flags_exit_2(void **state)
{
	static const char *const bad[][4] = {
		{"--bogus", NULL},
		{"--target", NULL},
		{"--target", "nowhere", NULL},
		{"--target", "127.0.0.1:0", NULL},
		{"--target", "127.0.0.1:9", "--connections", "0"},
		{"--target", "127.0.0.1:9", "--mode", "ftp"},
		{"--target", "127.0.0.1:9", "--duration", "soon"},
		{"--target", "127.0.0.1:9", "--rate", "-5"},
		{"--target", "127.0.0.1:9", "--cpus", "3-1"},
		{"--target", "127.0.0.1:9", "--size", "10"},
	};
	struct load_run r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		load_run(&r, 5000, bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
		assert_int_equal(r.status, 2);
		assert_non_null(strstr(r.p.err, "ringer-load: "));
	}
	load_run(&r, 5000, "--help", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.p.out, "--pipeline"));
}

static void unreachable_target_is_a_clear_error(void **state)
{
	struct load_run r;
	char t[64];

	(void)state;
	target(t, sizeof(t), "127.0.0.1", free_port());
	load_run(&r, 10000, "--target", t, "--duration", "30", NULL);
	assert_int_equal(r.status, 1);
	assert_true(r.ms < 5000);
	assert_non_null(strstr(r.p.err, "cannot connect"));
}

/*
 * A listener that never accepts, with a backlog of one: the check that the
 * target answers fills it, the kernel drops every later SYN, and each of the
 * load's connects runs into --connect-timeout. Those count as timeouts, not
 * connect errors, and the run gives up after the connect plus response
 * timeouts with nothing answered.
 */
static void connect_timeouts_count_as_timeouts(void **state)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	struct load_run r;
	char t[64];
	int fd;

	(void)state;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 0), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	target(t, sizeof(t), "127.0.0.1", ntohs(sa.sin_port));
	load_run(&r, 10000, "--mode", "echo", "--target", t, "--duration", "5", "-c", "4",
		 "--connect-timeout", "200ms", "--timeout", "500ms", "--json", NULL);
	close(fd);
	assert_int_equal(r.status, 1);
	assert_true(r.ms < 5000);
	assert_int_equal(json_num(r.p.out, "requests"), 0);
	assert_true(json_num(r.p.out, "timeout") >= 4);
	assert_int_equal(json_num(r.p.out, "connect"), 0);
	assert_non_null(strstr(r.p.err, "no connection or response"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counts_agree_with_the_server),
		cmocka_unit_test(a_corrupted_byte_fails_the_run),
		cmocka_unit_test(churn_reconnects_every_k_requests),
		cmocka_unit_test(ipv6_and_threads),
		cmocka_unit_test(open_loop_holds_its_rate),
		cmocka_unit_test(stops_by_itself),
		cmocka_unit_test(bad_flags_exit_2),
		cmocka_unit_test(unreachable_target_is_a_clear_error),
		cmocka_unit_test(connect_timeouts_count_as_timeouts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
