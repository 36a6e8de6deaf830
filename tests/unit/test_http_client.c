// SPDX-License-Identifier: MIT
/*
 * The response parser. Input sits at the very end of a page followed by an
 * inaccessible one, so any read past what was handed in faults; every
 * well-formed case is also fed in every two-piece split and byte by byte.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "http_client.h"

static uint8_t *guard_base;
static size_t page;

static int setup(void **state)
{
	(void)state;
	page = (size_t)sysconf(_SC_PAGESIZE);
	guard_base =
		mmap(NULL, 32 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (guard_base == MAP_FAILED)
		return -1;
	return mprotect(guard_base + 31 * page, page, PROT_NONE);
}

static int teardown(void **state)
{
	(void)state;
	munmap(guard_base, 32 * page);
	return 0;
}

/* A copy of s ending right at the guard page. */
static const uint8_t *guarded(const void *s, size_t len)
{
	uint8_t *p = guard_base + 31 * page - len;

	assert_true(len <= 31 * page);
	memcpy(p, s, len);
	return p;
}

struct outcome {
	int responses;
	uint16_t status[8];
	bool close[8];
	size_t end[8]; /* offset just past each response */
	int error;
};

/*
 * Feeds buf in pieces of at most step bytes (0: one piece), collecting each
 * response; bit i of head says response i answers a HEAD request.
 */
static struct outcome feed_memo(const char *s, size_t step, bool eof, unsigned head,
				struct http_resp_memo *memo)
{
	size_t len = strlen(s), off = 0;
	struct http_resp p;
	struct outcome o;

	memset(&o, 0, sizeof(o));
	http_resp_init(&p);
	while (off < len) {
		size_t piece = step && len - off > step ? step : len - off;
		const uint8_t *buf = guarded(s + off, piece);
		size_t pos = 0;

		while (pos < piece) {
			size_t used = 0;
			int r = http_resp_feed_memo(&p, memo, buf + pos, piece - pos,
						    (head >> o.responses) & 1, &used);

			assert_true(used <= piece - pos);
			if (r < 0) {
				o.error = r;
				return o;
			}
			pos += used;
			if (r == HTTP_RESP_DONE) {
				o.status[o.responses] = p.status;
				o.close[o.responses] = http_resp_close(&p);
				o.end[o.responses++] = off + pos;
			}
		}
		off += piece;
	}
	if (eof) {
		int r = http_resp_eof(&p);

		if (r < 0)
			o.error = r;
		else if (r == HTTP_RESP_DONE)
			o.end[o.responses++] = len, o.status[o.responses - 1] = p.status;
	}
	return o;
}

static void same_outcome(const struct outcome *a, const struct outcome *b)
{
	assert_int_equal(a->responses, b->responses);
	assert_int_equal(a->error, b->error);
	for (int i = 0; i < a->responses && i < 8; i++) {
		assert_int_equal(a->status[i], b->status[i]);
		assert_int_equal(a->close[i], b->close[i]);
		assert_int_equal(a->end[i], b->end[i]);
	}
}

/*
 * Every input is read three ways: without a memo, with a fresh one (warmed by
 * the input's own earlier responses) and with the one every earlier call of
 * the program left behind. All three must agree.
 */
static struct outcome feed_head(const char *s, size_t step, bool eof, unsigned head)
{
	static struct http_resp_memo warm;
	struct http_resp_memo fresh;
	struct outcome a, b, c;

	http_resp_memo_init(&fresh);
	a = feed_memo(s, step, eof, head, NULL);
	b = feed_memo(s, step, eof, head, &fresh);
	c = feed_memo(s, step, eof, head, &warm);
	same_outcome(&a, &b);
	same_outcome(&a, &c);
	return a;
}

static struct outcome feed(const char *s, size_t step, bool eof)
{
	return feed_head(s, step, eof, 0);
}

/* The same result whole, in every two-piece split, and byte by byte. */
static struct outcome feed_all_ways_head(const char *s, bool eof, unsigned head)
{
	struct outcome whole = feed_head(s, 0, eof, head), o;
	size_t len = strlen(s);

	for (size_t step = 1; step <= len; step = step < 8 ? step + 1 : step * 2) {
		o = feed_head(s, step, eof, head);
		assert_int_equal(o.error, whole.error);
		assert_int_equal(o.responses, whole.responses);
		for (int i = 0; i < o.responses; i++) {
			assert_int_equal(o.status[i], whole.status[i]);
			assert_int_equal(o.end[i], whole.end[i]);
		}
	}
	return whole;
}

static struct outcome feed_all_ways(const char *s, bool eof)
{
	return feed_all_ways_head(s, eof, 0);
}

static void content_length(void **state)
{
	const char *r = "HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 5\r\n\r\nhello";
	struct outcome o;

	(void)state;
	o = feed_all_ways(r, false);
	assert_int_equal(o.error, 0);
	assert_int_equal(o.responses, 1);
	assert_int_equal(o.status[0], 200);
	assert_false(o.close[0]);
	assert_int_equal(o.end[0], strlen(r));
}

static void pipelined_responses_end_where_they_end(void **state)
{
	const char *r = "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc"
			"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
			"HTTP/1.1 503 Busy\r\nCONTENT-LENGTH:   2  \r\n\r\nzz";
	struct outcome o;

	(void)state;
	o = feed_all_ways(r, false);
	assert_int_equal(o.responses, 3);
	assert_int_equal(o.status[0], 200);
	assert_int_equal(o.status[1], 404);
	assert_int_equal(o.status[2], 503);
	assert_int_equal(o.end[0], strlen("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc"));
	assert_int_equal(o.end[2], strlen(r));
}

static void chunked_with_extensions_and_trailers(void **state)
{
	const char *r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
			"5;name=value\r\nhello\r\n"
			"1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
			"0\r\nX-Trailer: yes\r\n\r\n"
			"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
	struct outcome o;

	(void)state;
	o = feed_all_ways(r, false);
	assert_int_equal(o.error, 0);
	assert_int_equal(o.responses, 2);
	assert_int_equal(o.end[1], strlen(r));
}

static void no_body_statuses_and_interim_responses(void **state)
{
	const char *r = "HTTP/1.1 100 Continue\r\n\r\n"
			"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
			"HTTP/1.1 304 Not Modified\r\n\r\n";
	struct outcome o;

	(void)state;
	o = feed_all_ways(r, false);
	assert_int_equal(o.responses, 2);
	assert_int_equal(o.status[0], 204);
	assert_int_equal(o.status[1], 304);
}

/*
 * A response to HEAD ends with its head: its Content-Length (or chunked
 * coding) describes the body a GET would have had. Pipelined behind and
 * ahead of GETs, each response ends where it ends.
 */
static void head_responses_have_no_body(void **state)
{
	const char *get = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	const char *head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
	const char *head_chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	const char *head_bare = "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n";
	const char *interim = "HTTP/1.1 100 Continue\r\n\r\n";
	char all[512];
	struct outcome o;

	(void)state;
	/* GET, HEAD, HEAD (chunked), GET, HEAD (no length: not until EOF), 100 + HEAD */
	snprintf(all, sizeof(all), "%s%s%s%s%s%s%s", get, head, head_chunked, get, head_bare,
		 interim, head);
	o = feed_all_ways_head(all, false, 0x36);
	assert_int_equal(o.error, 0);
	assert_int_equal(o.responses, 6);
	assert_int_equal(o.end[0], strlen(get));
	assert_int_equal(o.end[1], strlen(get) + strlen(head));
	assert_int_equal(o.end[2], strlen(get) + strlen(head) + strlen(head_chunked));
	assert_int_equal(o.end[5], strlen(all));
	for (int i = 0; i < 6; i++) {
		assert_int_equal(o.status[i], 200);
		assert_false(o.close[i]);
	}
	/* The same bytes read as answers to GETs: the HEAD's head swallows the next response. */
	o = feed_all_ways_head(all, false, 0);
	assert_true(o.responses != 6 || o.error);
	/* A HEAD answered with a close is still a whole response, and EOF after it is clean. */
	o = feed_all_ways_head("HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: "
			       "9\r\n\r\n",
			       true, 1);
	assert_int_equal(o.error, 0);
	assert_int_equal(o.responses, 1);
	assert_int_equal(o.status[0], 404);
	assert_true(o.close[0]);
}

static void connection_close_and_http10(void **state)
{
	struct outcome o;

	(void)state;
	o = feed_all_ways("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
			  false);
	assert_true(o.close[0]);
	o = feed_all_ways("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false);
	assert_true(o.close[0]);
	o = feed_all_ways("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
			  false);
	assert_false(o.close[0]);
	/* LF-only line ends are accepted, as most clients do. */
	o = feed_all_ways("HTTP/1.1 200 OK\nContent-Length: 1\n\nx", false);
	assert_int_equal(o.responses, 1);
}

static void body_until_eof(void **state)
{
	struct outcome o;

	(void)state;
	o = feed_all_ways("HTTP/1.1 200 OK\r\n\r\nall of this is body", true);
	assert_int_equal(o.error, 0);
	assert_int_equal(o.responses, 1);
	assert_true(o.close[0] || o.responses == 1);
	/* A body cut short by EOF is an error. */
	o = feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 0, true);
	assert_int_equal(o.error, -EPIPE);
	/* EOF between responses is not. */
	o = feed("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, true);
	assert_int_equal(o.error, 0);
	assert_int_equal(o.responses, 1);
}

static void malformed(void **state)
{
	static const char *const bad[] = {
		"HTTP/2.0 200 OK\r\n\r\n",
		"HTTX/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/1.1 099 OK\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999999\r\n\r\n",
		"HTTP/1.1 200 OK\r\n: no name\r\n\r\n",
		"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
		"HTTP/1.1 200 OK\r\n\rX",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct outcome o = feed_all_ways(bad[i], false);

		assert_int_equal(o.error, -EBADMSG);
	}
}

static void oversized_head(void **state)
{
	static char big[HTTP_RESP_LINE_MAX + 64];
	struct outcome o;

	(void)state;
	strcpy(big, "HTTP/1.1 200 OK\r\nX: ");
	memset(big + strlen(big), 'a', HTTP_RESP_LINE_MAX);
	strcat(big, "\r\n\r\n");
	o = feed(big, 0, false);
	assert_int_equal(o.error, -EMSGSIZE);
	o = feed(big, 1000, false);
	assert_int_equal(o.error, -EMSGSIZE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(content_length),
		cmocka_unit_test(pipelined_responses_end_where_they_end),
		cmocka_unit_test(chunked_with_extensions_and_trailers),
		cmocka_unit_test(no_body_statuses_and_interim_responses),
		cmocka_unit_test(head_responses_have_no_body),
		cmocka_unit_test(connection_close_and_http10),
		cmocka_unit_test(body_until_eof),
		cmocka_unit_test(malformed),
		cmocka_unit_test(oversized_head),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
