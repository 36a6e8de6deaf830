// SPDX-License-Identifier: MIT
/*
 * Prebuilt responses: exact bytes of the default 200, every response parsed
 * back (status line, headers, Content-Length against the body), HEAD versus
 * GET, Connection variants, the Date format and its refresh across two
 * generations, filler bodies inline and out of line, and the head of an
 * echoed body (--echo-body) exactly, in every variant.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "http_response.h"

/* 2015-10-21 07:28:00 UTC, a Wednesday. */
#define T0 ((time_t)1445412480)

struct parsed {
	int code;
	char reason[64];
	char date[HTTP_DATE_LEN + 1];
	char connection[32]; /* "" when absent */
	char allow[32];
	long content_length;
	int nheaders;
	size_t head_len; /* through the empty line */
	size_t body_len; /* bytes after the head in data */
};

/* A strict little response reader: CRLF lines, "Name: value", one empty line. */
static void parse_response(const char *data, size_t len, struct parsed *out)
{
	const char *p = data, *end = data + len, *eol;

	memset(out, 0, sizeof(*out));
	out->content_length = -1;
	eol = memmem(p, end - p, "\r\n", 2);
	assert_non_null(eol);
	assert_int_equal(sscanf(p, "HTTP/1.1 %3d ", &out->code), 1);
	assert_true(p[12] == ' ');
	assert_true(eol - (p + 13) < (long)sizeof(out->reason));
	memcpy(out->reason, p + 13, eol - (p + 13));
	p = eol + 2;
	for (;;) {
		const char *colon;
		size_t nlen, vlen;
		const char *v;

		eol = memmem(p, end - p, "\r\n", 2);
		assert_non_null(eol);
		if (eol == p) {
			p += 2;
			break;
		}
		colon = memchr(p, ':', eol - p);
		assert_non_null(colon);
		assert_true(colon[1] == ' ');
		nlen = colon - p;
		v = colon + 2;
		vlen = eol - v;
		out->nheaders++;
		if (nlen == 4 && !memcmp(p, "Date", 4)) {
			assert_int_equal(vlen, HTTP_DATE_LEN);
			memcpy(out->date, v, vlen);
		} else if (nlen == 10 && !memcmp(p, "Connection", 10)) {
			assert_true(vlen < sizeof(out->connection));
			memcpy(out->connection, v, vlen);
		} else if (nlen == 5 && !memcmp(p, "Allow", 5)) {
			memcpy(out->allow, v, vlen);
		} else if (nlen == 14 && !memcmp(p, "Content-Length", 14)) {
			char num[24] = {0};

			memcpy(num, v, vlen < 23 ? vlen : 23);
			out->content_length = strtol(num, NULL, 10);
		} else if (nlen == 6 && !memcmp(p, "Server", 6)) {
			assert_true(vlen == 6 && !memcmp(v, "ringer", 6));
		} else if (nlen == 12 && !memcmp(p, "Content-Type", 12)) {
			assert_true(vlen == 10 && !memcmp(v, "text/plain", 10));
		} else {
			fail_msg("unexpected header %.*s", (int)nlen, p);
		}
		p = eol + 2;
	}
	out->head_len = p - data;
	out->body_len = end - p;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT", checked position by position. */
static void assert_imf_fixdate(const char *d)
{
	static const char *const days = "Mon,Tue,Wed,Thu,Fri,Sat,Sun,";
	static const char *const months = "JanFebMarAprMayJunJulAugSepOctNovDec";
	char day[5] = {0}, mon[4] = {0};
	int dd, yyyy, hh, mm, ss, n = 0;

	assert_int_equal(strlen(d), HTTP_DATE_LEN);
	memcpy(day, d, 4);
	assert_non_null(strstr(days, day));
	memcpy(mon, d + 8, 3);
	assert_non_null(strstr(months, mon));
	assert_int_equal(
		sscanf(d + 4, " %2d %*3s %4d %2d:%2d:%2d GMT%n", &dd, &yyyy, &hh, &mm, &ss, &n), 5);
	assert_int_equal(n, HTTP_DATE_LEN - 4);
	assert_true(d[4] == ' ' && d[7] == ' ' && d[11] == ' ' && d[16] == ' ');
	assert_true(d[19] == ':' && d[22] == ':' && d[25] == ' ');
	assert_true(dd >= 1 && dd <= 31 && hh < 24 && mm < 60 && ss < 61);
}

static void default_ok_exact(void **state)
{
	struct http_responses r;
	struct http_resp resp;
	char want[512];
	int n;

	(void)state;
	assert_int_equal(http_responses_init(&r, NULL, 0, T0), 0);
	resp = http_response_get(&r, HTTP_RESP_OK, true, 1);
	n = snprintf(want, sizeof(want),
		     "HTTP/1.1 200 OK\r\n"
		     "Server: ringer\r\n"
		     "Date: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
		     "Content-Type: text/plain\r\n"
		     "Content-Length: 13\r\n"
		     "\r\n"
		     "Hello, World!");
	assert_int_equal(resp.len, n);
	assert_memory_equal(resp.data, want, n);
	assert_null(resp.body);
	assert_int_equal(resp.body_len, 0);
	assert_false(resp.close);
	http_responses_free(&r);
	assert_null(r.buf[0]);
}

/* Every (kind, keep-alive, version) parses back to a consistent response. */
static void all_responses_parse(void **state)
{
	static const int code[HTTP_RESP_KIND_COUNT] = {
		[HTTP_RESP_OK] = 200,
		[HTTP_RESP_OK_HEAD] = 200,
		[HTTP_RESP_NOT_ALLOWED] = 405,
		[HTTP_RESP_NOT_ALLOWED_HEAD] = 405,
		[HTTP_RESP_BAD_REQUEST] = 400,
		[HTTP_RESP_URI_TOO_LONG] = 414,
		[HTTP_RESP_HEADERS_TOO_LARGE] = 431,
		[HTTP_RESP_NOT_IMPLEMENTED] = 501,
		[HTTP_RESP_VERSION] = 505,
		[HTTP_RESP_TIMEOUT] = 408,
	};
	struct http_responses r;

	(void)state;
	assert_int_equal(http_responses_init(&r, NULL, 0, T0), 0);
	for (int k = 0; k < HTTP_RESP_KIND_COUNT; k++) {
		for (int ka = 0; ka <= 1; ka++) {
			for (unsigned minor = 0; minor <= 1; minor++) {
				struct http_resp resp = http_response_get(&r, k, ka, minor);
				bool closes = !ka || (code[k] >= 400 && code[k] != 405);
				const char *want_conn = closes	? "close"
							: minor ? ""
								: "keep-alive";
				struct parsed p;

				parse_response(resp.data, resp.len, &p);
				assert_int_equal(p.code, code[k]);
				assert_int_equal(resp.close, closes);
				assert_string_equal(p.connection, want_conn);
				assert_imf_fixdate(p.date);
				assert_string_equal(p.date, "Wed, 21 Oct 2015 07:28:00 GMT");
				if (k == HTTP_RESP_OK_HEAD) {
					assert_int_equal(p.body_len, 0);
					assert_int_equal(p.content_length, 13);
				} else if (k == HTTP_RESP_NOT_ALLOWED_HEAD) {
					/* The GET's 405 headers, its Content-Length too, no body. */
					assert_int_equal(p.body_len, 0);
					assert_int_equal(p.content_length, 19);
				} else {
					assert_int_equal(p.body_len, p.content_length);
				}
				if (code[k] == 405)
					assert_string_equal(p.allow, "GET, HEAD");
				else
					assert_string_equal(p.allow, "");
				if (k == HTTP_RESP_OK)
					assert_memory_equal(resp.data + p.head_len, "Hello, World!",
							    13);
			}
		}
	}
	assert_int_equal(http_response_kind_for_status(400), HTTP_RESP_BAD_REQUEST);
	assert_int_equal(http_response_kind_for_status(414), HTTP_RESP_URI_TOO_LONG);
	assert_int_equal(http_response_kind_for_status(431), HTTP_RESP_HEADERS_TOO_LARGE);
	assert_int_equal(http_response_kind_for_status(501), HTTP_RESP_NOT_IMPLEMENTED);
	assert_int_equal(http_response_kind_for_status(505), HTTP_RESP_VERSION);
	assert_int_equal(http_response_kind_for_status(408), HTTP_RESP_TIMEOUT);
	assert_int_equal(http_response_kind_for_status(405), HTTP_RESP_NOT_ALLOWED);
	assert_int_equal(http_response_kind_for_status(200), HTTP_RESP_OK);
	assert_int_equal(http_response_kind_for_status(500), HTTP_RESP_BAD_REQUEST);
	/* Out-of-range kinds answer 400 rather than read out of bounds. */
	assert_true(http_response_get(&r, HTTP_RESP_KIND_COUNT, true, 1).close);
	http_responses_free(&r);
}

static void head_matches_get(void **state)
{
	struct http_responses r;

	(void)state;
	assert_int_equal(http_responses_init(&r, "custom body text\n", 17, T0), 0);
	for (int ka = 0; ka <= 1; ka++) {
		struct http_resp get = http_response_get(&r, HTTP_RESP_OK, ka, 1);
		struct http_resp head = http_response_get(&r, HTTP_RESP_OK_HEAD, ka, 1);
		struct parsed pg, ph;

		parse_response(get.data, get.len, &pg);
		parse_response(head.data, head.len, &ph);
		assert_int_equal(pg.content_length, 17);
		assert_int_equal(ph.content_length, 17);
		assert_int_equal(ph.body_len, 0);
		/* Same headers, byte for byte: GET is HEAD plus the body. */
		assert_int_equal(get.len, head.len + 17);
		assert_memory_equal(get.data, head.data, head.len);
		assert_memory_equal(get.data + head.len, "custom body text\n", 17);
	}
	http_responses_free(&r);
}

static void date_format(void **state)
{
	char d[HTTP_DATE_LEN + 1] = {0};

	(void)state;
	http_format_date(d, 0);
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT");
	http_format_date(d, 784111777);
	assert_string_equal(d, "Sun, 06 Nov 1994 08:49:37 GMT"); /* RFC 9110's example */
	http_format_date(d, 951782400);
	assert_string_equal(d, "Tue, 29 Feb 2000 00:00:00 GMT");
	http_format_date(d, 4102444799);
	assert_string_equal(d, "Thu, 31 Dec 2099 23:59:59 GMT");
	for (time_t t = T0; t < T0 + 400 * 86400; t += 86400 + 3607) {
		http_format_date(d, t);
		assert_imf_fixdate(d);
	}
}

static void date_refresh(void **state)
{
	struct http_responses r;
	struct http_resp a, b, c;
	struct parsed p;
	char before[512];

	(void)state;
	assert_int_equal(http_responses_init(&r, NULL, 0, T0), 0);
	a = http_response_get(&r, HTTP_RESP_OK, true, 1);
	memcpy(before, a.data, a.len);

	/* Same second: nothing changes. */
	assert_int_equal(http_response_set_date(&r, T0), 0);
	assert_ptr_equal(http_response_get(&r, HTTP_RESP_OK, true, 1).data, a.data);

	/* A later second: every response shows it, from the other generation. */
	assert_int_equal(http_response_set_date(&r, T0 + 61), 0);
	for (int k = 0; k < HTTP_RESP_KIND_COUNT; k++) {
		for (int ka = 0; ka <= 1; ka++) {
			b = http_response_get(&r, k, ka, 0);
			parse_response(b.data, b.len, &p);
			assert_string_equal(p.date, "Wed, 21 Oct 2015 07:29:01 GMT");
		}
	}
	b = http_response_get(&r, HTTP_RESP_OK, true, 1);
	assert_int_not_equal(b.gen, a.gen);
	assert_int_equal(b.len, a.len);
	/* The response a send took a second ago is untouched. */
	assert_memory_equal(a.data, before, a.len);

	/* A held generation is not rewritten: the refresh waits. */
	http_response_hold(&r, a.gen);
	assert_int_equal(http_response_set_date(&r, T0 + 62), -EBUSY);
	assert_memory_equal(a.data, before, a.len);
	c = http_response_get(&r, HTTP_RESP_OK, true, 1);
	assert_ptr_equal(c.data, b.data);
	http_response_release(&r, a.gen);
	assert_int_equal(http_response_set_date(&r, T0 + 62), 0);
	c = http_response_get(&r, HTTP_RESP_OK, true, 1);
	assert_ptr_equal(c.data, a.data);
	parse_response(c.data, c.len, &p);
	assert_string_equal(p.date, "Wed, 21 Oct 2015 07:29:02 GMT");
	/* Releasing more than held does not wrap. */
	http_response_release(&r, 0);
	http_response_release(&r, 1);
	assert_int_equal(http_response_set_date(&r, T0 + 63), 0);

	/*
	 * A hold that never ends (a peer that does not read) delays the refresh
	 * by HTTP_RESPONSE_HOLD_MAX_SEC at most; then the held generation is
	 * rewritten anyway, and the wait starts afresh for the next hold.
	 */
	b = http_response_get(&r, HTTP_RESP_OK, true, 1);
	http_response_hold(&r, b.gen ^ 1);
	for (int i = 0; i < HTTP_RESPONSE_HOLD_MAX_SEC; i++)
		assert_int_equal(http_response_set_date(&r, T0 + 64 + i), -EBUSY);
	assert_int_equal(r.forced, 0);
	assert_int_equal(http_response_set_date(&r, T0 + 64 + HTTP_RESPONSE_HOLD_MAX_SEC), 0);
	assert_int_equal(r.forced, 1);
	c = http_response_get(&r, HTTP_RESP_OK, true, 1);
	assert_int_equal(c.gen, b.gen ^ 1);
	parse_response(c.data, c.len, &p);
	assert_string_equal(p.date, "Wed, 21 Oct 2015 07:29:09 GMT");
	http_response_hold(&r, b.gen);
	assert_int_equal(http_response_set_date(&r, T0 + 70), -EBUSY);
	http_response_release(&r, b.gen);
	http_response_release(&r, b.gen ^ 1);
	assert_int_equal(http_response_set_date(&r, T0 + 71), 0);
	assert_int_equal(r.forced, 1);
	http_responses_free(&r);
}

static void check_filler(size_t n)
{
	struct http_responses r;
	struct http_resp resp, head;
	struct parsed p;
	const char *body;

	assert_int_equal(http_responses_init(&r, NULL, n, T0), 0);
	resp = http_response_get(&r, HTTP_RESP_OK, true, 1);
	parse_response(resp.data, resp.len, &p);
	assert_int_equal(p.content_length, n);
	if (n <= HTTP_RESPONSE_INLINE_MAX) {
		assert_int_equal(resp.body_len, 0);
		assert_int_equal(p.body_len, n);
		body = resp.data + p.head_len;
	} else {
		/* Out of line: data is the head alone, the body is the second piece. */
		assert_int_equal(p.body_len, 0);
		assert_int_equal(resp.body_len, n);
		body = resp.body;
	}
	for (size_t i = 0; i < n; i++)
		if (body[i] < 0x20 || body[i] > 0x7e)
			fail_msg("filler byte %zu is %d", i, body[i]);
	head = http_response_get(&r, HTTP_RESP_OK_HEAD, true, 1);
	assert_int_equal(head.body_len, 0);
	parse_response(head.data, head.len, &p);
	assert_int_equal(p.content_length, n);
	assert_int_equal(p.body_len, 0);
	/* Error responses keep their own small bodies. */
	resp = http_response_get(&r, HTTP_RESP_BAD_REQUEST, false, 1);
	assert_int_equal(resp.body_len, 0);
	parse_response(resp.data, resp.len, &p);
	assert_int_equal(p.body_len, p.content_length);
	http_responses_free(&r);
}

static void filler_bodies(void **state)
{
	(void)state;
	check_filler(1);
	check_filler(1000);
	check_filler(HTTP_RESPONSE_INLINE_MAX);
	check_filler(HTTP_RESPONSE_INLINE_MAX + 1);
	check_filler(1 << 20);
}

static void custom_and_empty_bodies(void **state)
{
	struct http_responses r;
	struct http_resp resp;
	struct parsed p;
	static char big[HTTP_RESPONSE_INLINE_MAX + 10];

	(void)state;
	assert_int_equal(http_responses_init(&r, "", 0, T0), 0);
	resp = http_response_get(&r, HTTP_RESP_OK, true, 1);
	parse_response(resp.data, resp.len, &p);
	assert_int_equal(p.content_length, 0);
	assert_int_equal(p.body_len, 0);
	http_responses_free(&r);

	memset(big, 'z', sizeof(big));
	assert_int_equal(http_responses_init(&r, big, sizeof(big), T0), 0);
	resp = http_response_get(&r, HTTP_RESP_OK, false, 0);
	assert_true(resp.close);
	assert_int_equal(resp.body_len, sizeof(big));
	assert_memory_equal(resp.body, big, sizeof(big));
	parse_response(resp.data, resp.len, &p);
	assert_int_equal(p.content_length, sizeof(big));
	assert_string_equal(p.connection, "close");
	http_responses_free(&r);
	http_responses_free(&r); /* idempotent */

	assert_int_equal(http_responses_init(&r, big, (size_t)UINT32_MAX, T0), -EINVAL);
}

static void echo_head_exact(void **state)
{
	static const struct {
		bool chunked;
		uint64_t length;
		bool keep;
		unsigned minor;
		const char *want;
	} cases[] = {
		{false, 0, true, 1, "Content-Length: 0\r\n"},
		{false, 1, true, 1, "Content-Length: 1\r\n"},
		{false, 8388608, true, 0, "Content-Length: 8388608\r\nConnection: keep-alive\r\n"},
		{false, UINT64_MAX, false, 1,
		 "Content-Length: 18446744073709551615\r\nConnection: close\r\n"},
		{true, 0, true, 1, "Transfer-Encoding: chunked\r\n"},
		{true, 0, false, 1, "Transfer-Encoding: chunked\r\nConnection: close\r\n"},
	};
	struct http_responses r;
	char out[HTTP_ECHO_HEAD_MAX], want[512];

	(void)state;
	assert_int_equal(http_responses_init(&r, NULL, 0, T0), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = snprintf(want, sizeof(want),
				 "HTTP/1.1 200 OK\r\n"
				 "Server: ringer\r\n"
				 "Date: Wed, 21 Oct 2015 07:28:00 GMT\r\n"
				 "Content-Type: application/octet-stream\r\n"
				 "%s\r\n",
				 cases[i].want);
		uint32_t len = http_response_echo_head(&r, out, cases[i].chunked, cases[i].length,
						       cases[i].keep, cases[i].minor);

		assert_int_equal(len, n);
		assert_memory_equal(out, want, n);
	}
	/* The Date follows the current generation. */
	assert_int_equal(http_response_set_date(&r, T0 + 1), 0);
	http_response_echo_head(&r, out, false, 5, true, 1);
	assert_non_null(memmem(out, HTTP_ECHO_HEAD_MAX, "Date: Wed, 21 Oct 2015 07:28:01 GMT", 35));
	/* A head made earlier is brought up to date, and nothing else changes. */
	assert_int_equal(http_response_set_date(&r, T0 + 2), 0);
	memcpy(want, out, HTTP_ECHO_HEAD_MAX);
	http_response_echo_date(&r, out);
	assert_non_null(memmem(out, HTTP_ECHO_HEAD_MAX, "Date: Wed, 21 Oct 2015 07:28:02 GMT", 35));
	assert_int_equal(memcmp(out, want, 39), 0);
	assert_int_equal(memcmp(out + 39 + HTTP_DATE_LEN, want + 39 + HTTP_DATE_LEN, 80), 0);
	http_responses_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(default_ok_exact),
		cmocka_unit_test(all_responses_parse),
		cmocka_unit_test(head_matches_get),
		cmocka_unit_test(date_format),
		cmocka_unit_test(date_refresh),
		cmocka_unit_test(filler_bodies),
		cmocka_unit_test(custom_and_empty_bodies),
		cmocka_unit_test(echo_head_exact),
	};

	return cmocka_run_group_tests_name("http_response", tests, NULL, NULL);
}
