// SPDX-License-Identifier: MIT
/*
 * ringer-load against ringer itself. Every mode named here is one ringer
 * has: a ringer that does not start is a failure, and each one stopped
 * passes the harness's exit check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <cmocka.h>

#include "load_harness.h"

/* The ringer of the test running: a failed assertion leaves it to stop_srv(). */
static struct proc srv;

static int stop_srv(void **state)
{
	(void)state;
	if (srv.pid > 0)
		proc_stop(&srv, SIGKILL, 1000);
	return 0;
}

/* Starts ringer in mode on an ephemeral port, or fails the test. */
static void ringer_start(struct proc *p, const char *mode)
{
	char *argv[] = {(char *)harness_bin("RINGER_BIN"),
			"--mode",
			(char *)mode,
			"--listen",
			"127.0.0.1:0",
			"--shards",
			"1",
			"--quiet",
			NULL};
	int r = proc_start(p, argv, true, 10000);

	if (r) {
		proc_stop(p, SIGKILL, 1000);
		fail_msg("ringer --mode %s did not start (%s): %s", mode, strerror(-r), p->err);
	}
}

static const char *target(const struct proc *p)
{
	static char t[32];

	snprintf(t, sizeof(t), "127.0.0.1:%d", p->port);
	return t;
}

static void echo_pipelined_bytes_verified(void **state)
{
	struct load_run r;

	(void)state;
	ringer_start(&srv, "echo");
	load_run(&r, 30000, "--mode", "echo", "--target", target(&srv), "--requests", "20000", "-c",
		 "8", "--pipeline", "8", "--size", "300", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "requests"), 20000);
	assert_int_equal(json_num(r.p.out, "total"), 0);
	/* The client's own load: a share of its cores, and whether it was the limit. */
	assert_true(json_num(r.p.out, "busy") > 0 && json_num(r.p.out, "busy") <= 1.5);
	assert_non_null(strstr(r.p.out, "\"client_bound\":"));
	assert_int_equal(ringer_stop(&srv, SIGTERM, 10000, 0), 0);
}

static void echo_large_messages_and_churn(void **state)
{
	struct load_run r;

	(void)state;
	ringer_start(&srv, "echo");
	/* Messages larger than one receive buffer on either side. */
	load_run(&r, 30000, "--mode", "echo", "--target", target(&srv), "--requests", "300", "-c",
		 "3", "--size", "100k", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "requests"), 300);
	/* The accept/close path: a new connection every 5 requests. */
	load_run(&r, 30000, "--mode", "echo", "--target", target(&srv), "--requests", "1000", "-c",
		 "4", "--churn", "5", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "total"), 0);
	assert_true(json_num(r.p.out, "connects") >= 200);
	assert_int_equal(ringer_stop(&srv, SIGTERM, 10000, 0), 0);
}

/* 10,000 requests at 5,000/s: the schedule's 2 s, every one answered. */
static void echo_open_loop_rate(void **state)
{
	struct load_run r;

	(void)state;
	ringer_start(&srv, "echo");
	load_run(&r, 30000, "--mode", "echo", "--target", target(&srv), "--rate", "5000",
		 "--requests", "10000", "-c", "10", "--json", NULL);
	assert_true(open_loop_kept(&r, 10000, 5000));
	assert_int_equal(ringer_stop(&srv, SIGTERM, 10000, 0), 0);
}

static void http_keep_alive_and_pipelined(void **state)
{
	struct load_run r;

	(void)state;
	ringer_start(&srv, "http");
	load_run(&r, 30000, "--target", target(&srv), "--requests", "5000", "-c", "4", "--json",
		 NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "2xx"), 5000);
	load_run(&r, 30000, "--target", target(&srv), "--requests", "16000", "-c", "4",
		 "--pipeline", "16", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "2xx"), 16000);
	assert_int_equal(ringer_stop(&srv, SIGTERM, 10000, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(echo_pipelined_bytes_verified, stop_srv),
		cmocka_unit_test_teardown(echo_large_messages_and_churn, stop_srv),
		cmocka_unit_test_teardown(echo_open_loop_rate, stop_srv),
		cmocka_unit_test_teardown(http_keep_alive_and_pipelined, stop_srv),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
