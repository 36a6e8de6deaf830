// SPDX-License-Identifier: MIT
/* ringer-load against nginx: what it counts is what nginx logged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "load_harness.h"

static struct nginx ngx;

static int setup(void **state)
{
	(void)state;
	return nginx_start(&ngx);
}

static int teardown(void **state)
{
	(void)state;
	nginx_stop(&ngx);
	return 0;
}

static const char *target(void)
{
	static char t[32];

	snprintf(t, sizeof(t), "127.0.0.1:%d", ngx.port);
	return t;
}

static void counts_agree_with_the_access_log(void **state)
{
	long before = nginx_requests(&ngx);
	struct load_run r;

	(void)state;
	load_run(&r, 30000, "--target", target(), "--requests", "2000", "-c", "4", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "requests"), 2000);
	assert_int_equal(json_num(r.p.out, "2xx"), 2000);
	assert_int_equal(json_num(r.p.out, "total"), 0);
	assert_int_equal(nginx_requests_reach(&ngx, before + 2000, 5000) - before, 2000);
}

static void pipelined_and_threaded(void **state)
{
	long before = nginx_requests(&ngx);
	struct load_run r;

	(void)state;
	load_run(&r, 30000, "--target", target(), "--requests", "3200", "-c", "4", "--threads", "2",
		 "--pipeline", "16", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "requests"), 3200);
	assert_int_equal(nginx_requests_reach(&ngx, before + 3200, 5000) - before, 3200);
}

static void non_2xx_are_counted(void **state)
{
	long before = nginx_requests(&ngx);
	struct load_run r;

	(void)state;
	load_run(&r, 30000, "--target", target(), "--path", "/missing", "--requests", "100",
		 "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "4xx"), 100);
	assert_int_equal(json_num(r.p.out, "non_2xx"), 100);
	assert_int_equal(nginx_requests_reach(&ngx, before + 100, 5000) - before, 100);
}

/* nginx closes every 5th response here ("Connection: close"): not an error, a reconnect. */
static void server_side_close_reconnects(void **state)
{
	long before = nginx_requests(&ngx);
	struct load_run r;

	(void)state;
	load_run(&r, 30000, "--target", target(), "--path", "/short", "--requests", "100", "-c",
		 "2", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "requests"), 100);
	assert_int_equal(json_num(r.p.out, "total"), 0);
	assert_true(json_num(r.p.out, "connects") >= 20);
	assert_int_equal(nginx_requests_reach(&ngx, before + 100, 5000) - before, 100);
}

/* 6,000 requests at 3,000/s: the schedule's 2 s; nginx answered each one, and no more. */
static void open_loop_holds_its_rate(void **state)
{
	long before = nginx_requests(&ngx);
	struct load_run r;

	(void)state;
	load_run(&r, 30000, "--target", target(), "--rate", "3000", "--requests", "6000", "-c", "8",
		 "--json", NULL);
	assert_true(open_loop_kept(&r, 6000, 3000));
	assert_int_equal(nginx_requests_reach(&ngx, before + 6000, 5000) - before, 6000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counts_agree_with_the_access_log),
		cmocka_unit_test(pipelined_and_threaded),
		cmocka_unit_test(non_2xx_are_counted),
		cmocka_unit_test(server_side_close_reconnects),
		cmocka_unit_test(open_loop_holds_its_rate),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
