// SPDX-License-Identifier: MIT
/*
 * What ringer-load sends (src/load/request.c): the bytes of a request made
 * from the flags, both formats of a requests file with every refusal said
 * at the right line, and the repeated list that keeps every pipelined run
 * contiguous.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "request.h"

static char dir[64];

static int setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/ringer-test-request-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

static void write_file(const char *name, const void *data, size_t len)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Request i of a set, as a NUL-terminated string (the tests' requests hold no NUL). */
static const char *req(const struct request_set *s, uint32_t i)
{
	static char out[4096];
	uint32_t len;
	const uint8_t *p = request_run(s, i, 1, &len);

	assert_true(len < sizeof(out));
	memcpy(out, p, len);
	out[len] = 0;
	return out;
}

static const struct request_extra no_extra = {.host = "example.com"};

static int parse(struct request_set *s, const char *text, char *err)
{
	request_set_init(s);
	return request_parse(s, text, strlen(text), "reqs.txt", dir, &no_extra, err, 256);
}

static void built_from_flags(void **state)
{
	const char *headers[] = {"X-Test: 1", "Accept:  */*"};
	struct request_extra x = {.host = "127.0.0.1:8080", .headers = headers, .n_headers = 2};
	const char *own[] = {"host: other"};
	struct request_set s;
	char err[256];

	(void)state;
	request_set_init(&s);
	assert_int_equal(request_set_add(&s, "GET", 3, "/", 1, &no_extra, NULL, 0), 0);
	assert_int_equal(
		request_set_add(&s, "POST", 4, "/up?a=1", 7, &x, (const uint8_t *)"hey", 3), 0);
	assert_int_equal(request_set_add(&s, "HEAD", 4, "/h", 2, &no_extra, (const uint8_t *)"", 0),
			 0);
	x.headers = own;
	x.n_headers = 1;
	assert_int_equal(request_set_add(&s, "PURGE", 5, "/p", 2, &x, NULL, 0), 0);
	assert_int_equal(request_set_finish(&s, 1, err, sizeof(err)), 0);
	assert_int_equal(s.n, 4);
	assert_string_equal(req(&s, 0), "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
	assert_string_equal(req(&s, 1),
			    "POST /up?a=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
			    "X-Test: 1\r\nAccept:  */*\r\nContent-Length: 3\r\n\r\nhey");
	/* An empty body is still a body: Content-Length: 0. */
	assert_string_equal(req(&s, 2),
			    "HEAD /h HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n");
	/* A Host among the headers replaces the default one. */
	assert_string_equal(req(&s, 3), "PURGE /p HTTP/1.1\r\nhost: other\r\n\r\n");
	assert_false(s.head[0] || s.head[1] || s.head[3]);
	assert_true(s.head[2]);
	assert_int_equal(s.body_bytes, 3);
	assert_false(s.raw);
	request_set_free(&s);
}

/*
 * Every run of up to window requests from every index is the requests in
 * cycle order, in one piece; the memory is one pass plus at most window - 1
 * of the longest request.
 */
static void every_pipelined_run_is_contiguous(void **state)
{
	static const uint32_t counts[] = {1, 2, 3, 7, 16};
	static const uint32_t windows[] = {1, 2, 3, 8, 17, 64};
	char err[256];

	(void)state;
	for (size_t a = 0; a < sizeof(counts) / sizeof(counts[0]); a++) {
		for (size_t b = 0; b < sizeof(windows) / sizeof(windows[0]); b++) {
			uint32_t r = counts[a], w = windows[b];
			char path[32], body[64];
			struct request_set s;
			size_t longest = 0, pass;

			request_set_init(&s);
			for (uint32_t i = 0; i < r; i++) {
				/* Lengths differ, so a wrong offset shows. */
				snprintf(path, sizeof(path), "/%u", i * 37);
				memset(body, 'a' + (int)i % 26, i % 5 * 3);
				assert_int_equal(request_set_add(&s, "POST", 4, path, strlen(path),
								 &no_extra, (uint8_t *)body,
								 i % 5 * 3),
						 0);
				if (s.off[i + 1] - s.off[i] > longest)
					longest = s.off[i + 1] - s.off[i];
			}
			pass = s.len;
			assert_int_equal(request_set_finish(&s, w, err, sizeof(err)), 0);
			assert_true(s.cap <= pass + (w - 1) * longest);
			for (uint32_t i = 0; i < r; i++) {
				for (uint32_t n = 1; n <= w; n++) {
					uint32_t len, want = 0;
					const uint8_t *p = request_run(&s, i, n, &len);

					for (uint32_t k = 0; k < n; k++) {
						uint32_t j = (i + k) % r, l;
						const uint8_t *q = request_run(&s, j, 1, &l);

						assert_true(p + want + l <= s.buf + s.cap);
						assert_memory_equal(p + want, q, l);
						want += l;
					}
					assert_int_equal(len, want);
				}
			}
			request_set_free(&s);
		}
	}
}

static void memory_is_bounded(void **state)
{
	size_t big = 1u << 20;
	uint8_t *body = calloc(1, big);
	struct request_set s;
	char err[256];

	(void)state;
	assert_non_null(body);
	request_set_init(&s);
	assert_int_equal(request_set_add(&s, "POST", 4, "/", 1, &no_extra, body, big), 0);
	/* 1 MiB repeated for a pipeline of 1024 is over the 256 MiB cap. */
	assert_int_equal(request_set_finish(&s, 1024, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "--pipeline 1024"));
	assert_int_equal(request_set_finish(&s, 200, err, sizeof(err)), 0);
	request_set_free(&s);
	free(body);
}

static void lines_format(void **state)
{
	const char *headers[] = {"X-Req: yes"};
	struct request_extra x = {.host = "h", .headers = headers, .n_headers = 1};
	char full[512], err[256];
	struct request_set s;

	(void)state;
	write_file("body.bin", "a\0b\r\n", 5);
	snprintf(full, sizeof(full),
		 "# a comment, then a blank line\n"
		 "\n"
		 "GET /\n"
		 "  HEAD\t/head   # a trailing comment\r\n"
		 "POST /post body.bin\n"
		 "PUT /abs %s/body.bin\n"
		 "OPTIONS *\n"
		 "DELETE /last",
		 dir);
	request_set_init(&s);
	assert_int_equal(
		request_parse(&s, full, strlen(full), "reqs.txt", dir, &x, err, sizeof(err)), 0);
	assert_int_equal(s.n, 6);
	assert_false(s.raw);
	assert_string_equal(req(&s, 0), "GET / HTTP/1.1\r\nHost: h\r\nX-Req: yes\r\n\r\n");
	assert_string_equal(req(&s, 1), "HEAD /head HTTP/1.1\r\nHost: h\r\nX-Req: yes\r\n\r\n");
	assert_true(s.head[1]);
	{
		static const char want[] = "POST /post HTTP/1.1\r\nHost: h\r\nX-Req: yes\r\n"
					   "Content-Length: 5\r\n\r\na\0b\r\n";
		uint32_t len;
		const uint8_t *p = request_run(&s, 2, 1, &len);

		assert_int_equal(len, sizeof(want) - 1);
		assert_memory_equal(p, want, len);
	}
	assert_non_null(strstr(req(&s, 3), "PUT /abs HTTP/1.1\r\n"));
	assert_string_equal(req(&s, 4), "OPTIONS * HTTP/1.1\r\nHost: h\r\nX-Req: yes\r\n\r\n");
	assert_string_equal(req(&s, 5), "DELETE /last HTTP/1.1\r\nHost: h\r\nX-Req: yes\r\n\r\n");
	assert_int_equal(s.body_bytes, 10);
	request_set_free(&s);
}

struct refusal {
	const char *text;
	const char *err; /* the start of the message */
};

static void refuse_all(const struct refusal *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct request_set s;
		char err[256] = "";
		int ret = parse(&s, r[i].text, err);

		if (ret != -EINVAL || strncmp(err, r[i].err, strlen(r[i].err)))
			fail_msg("case %zu: got %d '%s', want '%s...'", i, ret, err, r[i].err);
		assert_null(strchr(err, '\n'));
		request_set_free(&s);
	}
}

static void lines_format_refusals(void **state)
{
	static const struct refusal r[] = {
		{"GET /\nGET\n", "reqs.txt:2: expected METHOD PATH [BODY-FILE]"},
		{"GET / a b\n", "reqs.txt:1: expected METHOD PATH [BODY-FILE]"},
		{"\n\nG(T /\n", "reqs.txt:3: method 'G(T': not a method"},
		{"CONNECT /\n", "reqs.txt:1: method 'CONNECT': CONNECT opens a tunnel"},
		{"GET x\n", "reqs.txt:1: a path must start with /"},
		{"GET *\n", "reqs.txt:1: a path must start with /"},
		{"GET / HTTP/2\n", "reqs.txt:1: 'HTTP/2' is a version, not a BODY-FILE"},
		{"GET / HTTP/1.1 \n", "reqs.txt:1: 'HTTP/1.1' is a version"},
		{"# only comments\n\n   \n", "reqs.txt: no request in it"},
		{"", "reqs.txt: no request in it"},
		{"POST / missing.bin\n", "reqs.txt:1: body file /tmp/ringer-test-request-"},
	};

	(void)state;
	refuse_all(r, sizeof(r) / sizeof(r[0]));
}

static void raw_format(void **state)
{
	/* LF line ends by hand, a CRLF one, comments and blank lines between requests. */
	const char text[] = "# raw requests\n"
			    "\n"
			    "GET /a HTTP/1.1\n"
			    "Host: x\n"
			    "\n"
			    "HEAD /b HTTP/1.1\r\n"
			    "Host: x\r\n"
			    "Content-Length: 0\r\n"
			    "\r\n"
			    "\n"
			    "\n"
			    "POST /c HTTP/1.1\n"
			    "Host: x\n"
			    "content-length: 7\n"
			    "\n"
			    "ab\ncd\n\n"
			    "# the next one has a body without a line end after it\n"
			    "PUT /d HTTP/1.0\n"
			    "Content-Length:  3 \n"
			    "\n"
			    "xyz\n"
			    "\n"
			    "DELETE /e HTTP/1.1\n"
			    "Host: x\n"
			    "Content-Length: 2\n"
			    "\n"
			    "\0\xff";
	const char *headers[] = {"X-Not: applied"};
	struct request_extra x = {.host = "not-used", .headers = headers, .n_headers = 1};
	struct request_set s;
	char err[256];
	uint32_t len;

	(void)state;
	request_set_init(&s);
	assert_int_equal(
		request_parse(&s, text, sizeof(text) - 1, "raw.http", dir, &x, err, sizeof(err)),
		0);
	assert_true(s.raw);
	assert_int_equal(s.n, 5);
	assert_string_equal(req(&s, 0), "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_string_equal(req(&s, 1), "HEAD /b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
	/* Line ends inside a body are its bytes: they stay as they are. */
	assert_string_equal(req(&s, 2),
			    "POST /c HTTP/1.1\r\nHost: x\r\ncontent-length: 7\r\n\r\nab\ncd\n\n");
	assert_string_equal(req(&s, 3), "PUT /d HTTP/1.0\r\nContent-Length:  3 \r\n\r\nxyz");
	request_run(&s, 4, 1, &len);
	assert_int_equal(len,
			 strlen("DELETE /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n") + 2);
	assert_memory_equal(request_run(&s, 4, 1, &len) + len - 2, "\0\xff", 2);
	assert_false(s.head[0] || s.head[2] || s.head[3] || s.head[4]);
	assert_true(s.head[1]);
	assert_int_equal(s.body_bytes, 12);
	request_set_free(&s);
}

static void raw_format_refusals(void **state)
{
	static const struct refusal r[] = {
		/* Content-Length longer than what follows: the request's line. */
		{"GET / HTTP/1.1\nHost: x\n\n"
		 "POST / HTTP/1.1\nHost: x\nContent-Length: 10\n\nshort\n",
		 "raw.http:4: Content-Length 10, but only 6 bytes follow the head"},
		/* Shorter than the body: the bytes after it, at their line. */
		{"POST / HTTP/1.1\nHost: x\nContent-Length: 3\n\nlonger\n",
		 "raw.http:5: bytes after the body of the request at line 1"},
		{"POST / HTTP/1.1\nHost: x\nContent-Length: 3\n\nabc\nmore body\n",
		 "raw.http:6: expected a request line METHOD TARGET HTTP/1.1 (or is the body"},
		{"GET / HTTP/1.1\n\n", "raw.http:1: an HTTP/1.1 request needs a Host header"},
		{"GET / HTTP/1.1\nHost: a\nHost: b\n\n", "raw.http:1: two Host headers"},
		{"GET / HTTP/1.1\nHost: a\nBad Name: v\n\n", "raw.http:3: malformed header line"},
		{"GET / HTTP/1.1\nHost: a\nNoColon\n\n", "raw.http:3: malformed header line"},
		{"GET / HTTP/1.1\nHost: a\nX: a\n b\n\n", "raw.http:4: a header line starts with"},
		{"GET / HTTP/1.1\nHost: a\nX: a\rb\n\n",
		 "raw.http:3: a header value holds a control"},
		{"GET / HTTP/1.1\nHost: a\nContent-Length: 1x\n\n",
		 "raw.http:3: Content-Length is not a number"},
		{"GET / HTTP/1.1\nHost: a\nContent-Length: 1\nContent-Length: 1\n\nx",
		 "raw.http:4: a second Content-Length"},
		{"POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n",
		 "raw.http:3: Transfer-Encoding"},
		{"GET / HTTP/1.1\nHost: a\n", "raw.http:1: the request's head has no empty line"},
		{"GET  / HTTP/1.1\nHost: a\n\n", "raw.http:1: malformed request line: a path"},
		{"GET /a b HTTP/1.1\nHost: a\n\n", "raw.http:1: malformed request line: a path"},
		{"G:T / HTTP/1.1\nHost: a\n\n", "raw.http:1: malformed request line: the method"},
		{"CONNECT / HTTP/1.1\nHost: a\n\n", "raw.http:1: CONNECT opens a tunnel"},
		{"\n# c\nGET / HTTP/1.1\nHost: a\n\nGET / HTTP/1.1\n\n",
		 "raw.http:6: an HTTP/1.1 request needs a Host"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		struct request_set s;
		char err[256] = "";
		int ret;

		request_set_init(&s);
		ret = request_parse(&s, r[i].text, strlen(r[i].text), "raw.http", dir, &no_extra,
				    err, sizeof(err));
		if (ret != -EINVAL || strncmp(err, r[i].err, strlen(r[i].err)))
			fail_msg("case %zu: got %d '%s', want '%s...'", i, ret, err, r[i].err);
		request_set_free(&s);
	}
}

static void checks(void **state)
{
	(void)state;
	assert_null(request_method_check("GET", 3));
	assert_null(request_method_check("M-SEARCH", 8));
	assert_null(request_method_check("get", 3));
	assert_non_null(request_method_check("", 0));
	assert_non_null(request_method_check("GE T", 4));
	assert_non_null(request_method_check("GET\r", 4));
	assert_non_null(request_method_check("CONNECT", 7));
	assert_null(request_header_check("X-A: b"));
	assert_null(request_header_check("X-A:"));
	assert_null(request_header_check("X-A:\tb c\x80"));
	assert_non_null(request_header_check(": b"));
	assert_non_null(request_header_check("X A: b"));
	assert_non_null(request_header_check("X-A b"));
	assert_non_null(request_header_check("X-A: b\r\nInjected: 1"));
	assert_non_null(request_header_check("X-A: b\n"));
	assert_non_null(request_header_check("Content-Length: 5"));
	assert_non_null(request_header_check("transfer-encoding: chunked"));
	assert_true(request_header_is_host("HOST: a"));
	assert_false(request_header_is_host("Hostname: a"));
	assert_null(request_target_check("GET", 3, "/a?b#c", 6));
	assert_null(request_target_check("OPTIONS", 7, "*", 1));
	assert_non_null(request_target_check("GET", 3, "*", 1));
	assert_non_null(request_target_check("GET", 3, "/a b", 4));
	assert_non_null(request_target_check("GET", 3, "/a\x7f", 3));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(built_from_flags),
		cmocka_unit_test(every_pipelined_run_is_contiguous),
		cmocka_unit_test(memory_is_bounded),
		cmocka_unit_test(lines_format),
		cmocka_unit_test(lines_format_refusals),
		cmocka_unit_test(raw_format),
		cmocka_unit_test(raw_format_refusals),
		cmocka_unit_test(checks),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
