// SPDX-License-Identifier: MIT
/*
 * ringer-load's requests beyond one GET (--method, --header, --body,
 * --body-file, --requests-file, --expect-status) against ringer --mode http,
 * whose counters say what arrived, and against nginx, whose access log says
 * each request's method, status, length and X-Ringer-Test header.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "load_harness.h"

static char dir[64];
/* The servers of the test running: a failed assertion leaves them to stop_servers(). */
static struct proc srv;
static struct nginx ngx;

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/ringer-test-load-requests-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

static int stop_servers(void **state)
{
	(void)state;
	if (srv.pid > 0)
		proc_stop(&srv, SIGKILL, 1000);
	if (ngx.p.pid > 0)
		nginx_stop(&ngx);
	memset(&srv, 0, sizeof(srv));
	memset(&ngx, 0, sizeof(ngx));
	return 0;
}

/*
 * nginx, the independent peer: a machine without it skips (saying so), but an
 * nginx that is there and does not start is a failure.
 */
static void start_nginx(void)
{
	int r = nginx_start(&ngx);

	if (r == -ENOENT) {
		nginx_stop(&ngx);
		print_message("skip: /usr/sbin/nginx is not installed (package nginx-light)\n");
		skip();
	}
	if (r)
		fail_msg("nginx did not start: %s; its stderr: %s", strerror(-r), ngx.p.err);
}

/* SIGTERM, then ringer's exit check (status 0, illegal and stale 0, no sanitizer report). */
static int ringer_stop_checked(struct proc *p)
{
	return ringer_stop(p, SIGTERM, 10000, 0);
}

/* A path in the test's directory (the last 4 stay valid). */
static const char *in_dir(const char *name)
{
	static char path[4][128];
	static unsigned k;
	char *p = path[k++ % 4];

	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	return p;
}

static void write_file(const char *name, const void *data, size_t len)
{
	FILE *f = fopen(in_dir(name), "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void write_text(const char *name, const char *text)
{
	write_file(name, text, strlen(text));
}

/* 64 KiB of a pattern with line ends and every byte value in it. */
static void write_body_64k(void)
{
	static uint8_t body[65536];

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 31 + i / 251);
	write_file("body64k.bin", body, sizeof(body));
}

/* ringer --mode http on an ephemeral port, with more flags (NULL-terminated). */
static void ringer_start(struct proc *p, ...)
{
	/* Not --quiet: proc_stat() reads the counters SIGUSR2 prints. */
	char *argv[16] = {(char *)harness_bin("RINGER_BIN"),
			  "--mode",
			  "http",
			  "--listen",
			  "127.0.0.1:0",
			  "--shards",
			  "1"};
	int argc = 7;
	va_list ap;

	va_start(ap, p);
	while (argc < 15 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	assert_int_equal(proc_start(p, argv, true, 10000), 0);
}

static const char *target_of(int port)
{
	static char t[32];

	snprintf(t, sizeof(t), "127.0.0.1:%d", port);
	return t;
}

/* A POST's head as ringer-load sends it with a body of len bytes. */
static size_t post_head_len(const char *target, const char *extra, size_t len)
{
	char head[256];

	return (size_t)snprintf(head, sizeof(head),
				"POST / HTTP/1.1\r\nHost: %s\r\n%sContent-Length: %zu\r\n\r\n",
				target, extra, len);
}

/* The bodies reach ringer whole: its byte count is what ringer-load says it sent. */
static void post_bodies_reach_ringer(void **state)
{
	static char body[1025];
	long long req0, in0;
	struct load_run r;
	const char *t;

	(void)state;
	ringer_start(&srv, NULL);
	t = target_of(srv.port);
	memset(body, 'b', 1024);
	write_body_64k();
	req0 = proc_stat(&srv, "requests");
	in0 = proc_stat(&srv, "bytes_in");
	load_run(&r, 30000, "--target", t, "--method", "POST", "--body", body, "--requests", "2000",
		 "-c", "4", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "2xx"), 2000);
	assert_int_equal(json_num(r.p.out, "total"), 0);
	assert_int_equal(json_num(r.p.out, "body_bytes"), 1024);
	assert_int_equal(json_num(r.p.out, "bytes_tx"), 2000 * (post_head_len(t, "", 1024) + 1024));
	assert_non_null(strstr(r.p.out, "\"method\":\"POST\""));
	assert_int_equal(proc_stat(&srv, "requests") - req0, 2000);
	assert_int_equal(proc_stat(&srv, "bytes_in") - in0, json_num(r.p.out, "bytes_tx"));

	/* 64 KiB bodies, pipelined 4 deep: each batch is one send of 4 whole requests. */
	req0 = proc_stat(&srv, "requests");
	in0 = proc_stat(&srv, "bytes_in");
	load_run(&r, 30000, "--target", t, "--method", "POST", "--body-file", in_dir("body64k.bin"),
		 "--requests", "400", "-c", "4", "--pipeline", "4", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "2xx"), 400);
	assert_int_equal(json_num(r.p.out, "total"), 0);
	assert_int_equal(json_num(r.p.out, "bytes_tx"),
			 400 * (post_head_len(t, "", 65536) + 65536));
	assert_int_equal(proc_stat(&srv, "requests") - req0, 400);
	assert_int_equal(proc_stat(&srv, "bytes_in") - in0, json_num(r.p.out, "bytes_tx"));
	assert_int_equal(ringer_stop_checked(&srv), 0);
}

/* A HEAD's response has a Content-Length and no body: pipelined, none may be misread. */
static void head_pipelined(void **state)
{
	struct load_run r;

	(void)state;
	ringer_start(&srv, NULL);
	load_run(&r, 30000, "--target", target_of(srv.port), "--method", "HEAD", "--pipeline", "8",
		 "-c", "4", "--requests", "8000", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "2xx"), 8000);
	assert_int_equal(json_num(r.p.out, "total"), 0);
	assert_int_equal(proc_stat(&srv, "requests"), 8000);
	assert_int_equal(ringer_stop_checked(&srv), 0);
}

static const char lines_file[] = "# GET, HEAD and POST, cycled\n"
				 "GET /\n"
				 "HEAD /head\n"
				 "\n"
				 "POST /post body64k.bin\n"
				 "PUT /put small.txt   # a comment\n";

static const char raw_file[] = "GET /raw HTTP/1.1\n"
			       "Host: raw.example\n"
			       "X-Ringer-Test: raw\n"
			       "\n"
			       "HEAD /raw HTTP/1.1\r\n"
			       "Host: raw.example\r\n"
			       "X-Ringer-Test: raw\r\n"
			       "\r\n"
			       "POST / HTTP/1.1\n"
			       "Host: raw.example\n"
			       "X-Ringer-Test: raw\n"
			       "Content-Length: 12\n"
			       "\n"
			       "hello\nworld\n"
			       "\n"
			       "DELETE / HTTP/1.0\n"
			       "Connection: keep-alive\n"
			       "X-Ringer-Test: raw\n"
			       "\n";

static void write_request_files(void)
{
	write_body_64k();
	write_text("small.txt", "small body");
	write_text("lines.txt", lines_file);
	write_text("raw.http", raw_file);
}

/* Both formats, methods mixed, pipelined 8 deep over 4 connections: all answered in order. */
static void requests_files_against_ringer(void **state)
{
	static const char *const files[] = {"lines.txt", "raw.http"};
	struct load_run r;

	(void)state;
	write_request_files();
	ringer_start(&srv, NULL);
	for (size_t i = 0; i < 2; i++) {
		long long req0 = proc_stat(&srv, "requests"), in0 = proc_stat(&srv, "bytes_in");

		load_run(&r, 30000, "--target", target_of(srv.port), "--requests-file",
			 in_dir(files[i]), "--pipeline", "8", "-c", "4", "--requests", "8000",
			 "--json", NULL);
		assert_int_equal(r.status, 0);
		assert_int_equal(json_num(r.p.out, "2xx"), 8000);
		assert_int_equal(json_num(r.p.out, "mismatch"), 0);
		assert_int_equal(json_num(r.p.out, "total"), 0);
		assert_int_equal(json_num(r.p.out, "request_count"), 4);
		assert_int_equal(json_num(r.p.out, "body_bytes"), i ? 12 : 65536 + 10);
		assert_non_null(strstr(r.p.out, i ? "\"requests_format\":\"raw\""
						  : "\"requests_format\":\"lines\""));
		assert_int_equal(proc_stat(&srv, "requests") - req0, 8000);
		assert_int_equal(proc_stat(&srv, "bytes_in") - in0, json_num(r.p.out, "bytes_tx"));
	}
	assert_int_equal(ringer_stop_checked(&srv), 0);
}

/* ringer --methods GET answers POST with 405: unexpected when 200 is expected, fine when 405 is. */
static void expect_status_against_methods(void **state)
{
	struct load_run r;
	const char *t;

	(void)state;
	ringer_start(&srv, "--methods", "GET", NULL);
	t = target_of(srv.port);
	load_run(&r, 30000, "--target", t, "--method", "POST", "--body", "x", "--expect-status",
		 "200", "--requests", "500", "-c", "2", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "requests"), 500);
	assert_int_equal(json_num(r.p.out, "total"), 500);
	assert_int_equal(json_num(r.p.out, "unexpected_status"), 500);
	assert_int_equal(json_num(r.p.out, "4xx"), 500);
	assert_non_null(strstr(r.p.out, "\"expect_status\":[200]"));
	assert_null(strstr(r.p.out, "non_2xx"));
	load_run(&r, 30000, "--target", t, "--method", "POST", "--expect-status", "200,405",
		 "--requests", "500", "-c", "2", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "total"), 0);
	/* Without --expect-status a 405 is a non-2xx; GET is answered 200. */
	load_run(&r, 30000, "--target", t, "--method", "DELETE", "--requests", "500", "--json",
		 NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "non_2xx"), 500);
	load_run(&r, 30000, "--target", t, "--expect-status", "200", "--requests", "500", "--json",
		 NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "total"), 0);
	assert_int_equal(ringer_stop_checked(&srv), 0);
}

/* A --header arrives: a Host ringer refuses (400, RFC 9112 3.2) shows it replaced the default. */
static void host_header_replaces_the_default(void **state)
{
	struct load_run r;
	const char *t;

	(void)state;
	ringer_start(&srv, NULL);
	t = target_of(srv.port);
	load_run(&r, 30000, "--target", t, "--header", "Host: not a host", "--requests", "50", "-c",
		 "2", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "4xx"), 50);
	assert_int_equal(json_num(r.p.out, "non_2xx"), 50);
	load_run(&r, 30000, "--target", t, "--header", "Host: example.com", "--requests", "50",
		 "--json", NULL);
	assert_int_equal(json_num(r.p.out, "2xx"), 50);
	assert_int_equal(json_num(r.p.out, "total"), 0);
	assert_int_equal(ringer_stop_checked(&srv), 0);
}

/* Bad flags and files: one line that names the flag or the file and line, exit status 2. */
static void bad_values_exit_2(void **state)
{
	struct load_run r;
	const char *t;

	(void)state;
	ringer_start(&srv, NULL);
	t = target_of(srv.port);
	write_text("short.http", "POST / HTTP/1.1\nHost: x\nContent-Length: 3\n\nlonger\n");
	load_run(&r, 10000, "--target", t, "--requests-file", in_dir("short.http"), NULL);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.p.err, "short.http:5: bytes after the body"));
	write_text("bad.txt", "GET /\nG@T /x\n");
	load_run(&r, 10000, "--target", t, "--requests-file", in_dir("bad.txt"), NULL);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.p.err, "bad.txt:2: method 'G@T': not a method"));
	load_run(&r, 10000, "--target", t, "--requests-file", in_dir("none.txt"), NULL);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.p.err, "--requests-file "));
	load_run(&r, 10000, "--target", t, "--body-file", in_dir("none.bin"), NULL);
	assert_int_equal(r.status, 2);
	load_run(&r, 10000, "--target", t, "--method", "G T", NULL);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.p.err, "--method: 'G T'"));
	load_run(&r, 10000, "--target", t, "--header", "X-Bad", NULL);
	assert_int_equal(r.status, 2);
	load_run(&r, 10000, "--target", t, "--expect-status", "2000", NULL);
	assert_int_equal(r.status, 2);
	assert_int_equal(ringer_stop_checked(&srv), 0);
}

/*
 * nginx logs each request's method, length and X-Ringer-Test header; /upload
 * reads the whole body, so the length counts it.
 */
static void nginx_sees_bodies_and_headers(void **state)
{
	static char body[1025];
	char want[128];
	struct load_run r;
	const char *t;

	(void)state;
	start_nginx();
	t = target_of(ngx.port);
	memset(body, 'n', 1024);
	write_body_64k();
	load_run(&r, 30000, "--target", t, "--method", "POST", "--path", "/upload", "--body", body,
		 "--header", "X-Ringer-Test: one-k", "--requests", "300", "-c", "4", "--json",
		 NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "2xx"), 300);
	snprintf(want, sizeof(want), "POST /upload 200 %zu \"one-k\"",
		 post_head_len(t, "X-Ringer-Test: one-k\r\n", 1024) + 1024 + strlen("upload"));
	assert_int_equal(nginx_log_lines(&ngx, want), 300);
	load_run(&r, 30000, "--target", t, "--method", "POST", "--path", "/upload", "--body-file",
		 in_dir("body64k.bin"), "-H", "X-Ringer-Test: sixty-four-k", "--pipeline", "4",
		 "--requests", "200", "-c", "2", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "2xx"), 200);
	snprintf(want, sizeof(want), "POST /upload 200 %zu \"sixty-four-k\"",
		 post_head_len(t, "X-Ringer-Test: sixty-four-k\r\n", 65536) + 65536 +
			 strlen("upload"));
	assert_int_equal(nginx_log_lines(&ngx, want), 200);
	nginx_stop(&ngx);
}

/*
 * One connection sends the list in order, so nginx logs each request of it
 * the same number of times, HEAD and the rest, for both formats.
 */
static void nginx_requests_files(void **state)
{
	struct load_run r;

	(void)state;
	start_nginx();
	write_request_files();
	write_text("nginx.txt", "GET /\nHEAD /\nPOST / body64k.bin\nDELETE /\n");
	load_run(&r, 30000, "--target", target_of(ngx.port), "--requests-file", in_dir("nginx.txt"),
		 "-H", "X-Ringer-Test: lines", "--pipeline", "8", "-c", "1", "--requests", "800",
		 "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "2xx"), 800);
	assert_int_equal(json_num(r.p.out, "total"), 0);
	assert_int_equal(nginx_log_lines(&ngx, "GET / 200"), 200);
	assert_int_equal(nginx_log_lines(&ngx, "HEAD / 200"), 200);
	assert_int_equal(nginx_log_lines(&ngx, "POST / 200"), 200);
	assert_int_equal(nginx_log_lines(&ngx, "DELETE / 200"), 200);
	assert_int_equal(nginx_log_lines(&ngx, "\"lines\""), 800);
	/* The raw file's /raw is a 404 here: HEAD's without a body, and counted, not misread. */
	load_run(&r, 30000, "--target", target_of(ngx.port), "--requests-file", in_dir("raw.http"),
		 "--pipeline", "8", "-c", "1", "--requests", "800", "--json", NULL);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_num(r.p.out, "requests"), 800);
	assert_int_equal(json_num(r.p.out, "mismatch"), 0);
	assert_int_equal(json_num(r.p.out, "2xx"), 400);
	assert_int_equal(json_num(r.p.out, "4xx"), 400);
	assert_int_equal(json_num(r.p.out, "non_2xx"), 400);
	assert_int_equal(nginx_log_lines(&ngx, "HEAD /raw 404"), 200);
	assert_int_equal(nginx_log_lines(&ngx, "DELETE / 200"), 400);
	assert_int_equal(nginx_log_lines(&ngx, "\"raw\""), 800);
	nginx_stop(&ngx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(post_bodies_reach_ringer, stop_servers),
		cmocka_unit_test_teardown(head_pipelined, stop_servers),
		cmocka_unit_test_teardown(requests_files_against_ringer, stop_servers),
		cmocka_unit_test_teardown(expect_status_against_methods, stop_servers),
		cmocka_unit_test_teardown(host_header_replaces_the_default, stop_servers),
		cmocka_unit_test_teardown(bad_values_exit_2, stop_servers),
		cmocka_unit_test_teardown(nginx_sees_bodies_and_headers, stop_servers),
		cmocka_unit_test_teardown(nginx_requests_files, stop_servers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
