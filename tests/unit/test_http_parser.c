// SPDX-License-Identifier: MIT
/*
 * The HTTP request parser against whole requests, every split of them across
 * buffers, byte-by-byte feeding, pipelined batches, each error class and each
 * limit at and one past its boundary. Every buffer handed to the parser is
 * first copied so that it ends right at a PROT_NONE page: a read past the end
 * of the input faults instead of passing unnoticed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "http_parser.h"

#define GUARD_AREA (256 * 1024)
#define MAX_REQS   64

static char *guard_base; /* GUARD_AREA readable bytes, then a PROT_NONE page */

static int guard_setup(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, GUARD_AREA + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	(void)state;
	if (m == MAP_FAILED)
		return -1;
	if (mprotect(m + GUARD_AREA, page, PROT_NONE))
		return -1;
	guard_base = m;
	return 0;
}

static int guard_teardown(void **state)
{
	(void)state;
	munmap(guard_base, GUARD_AREA + sysconf(_SC_PAGESIZE));
	return 0;
}

/* Copies n bytes so that they end right at the guard page. */
static const char *against_guard(const char *s, size_t n)
{
	char *dst = guard_base + GUARD_AREA - n;

	assert_true(n <= GUARD_AREA);
	memmove(dst, s, n);
	return dst;
}

struct result {
	int n;	     /* requests completed */
	ssize_t err; /* 0, or the negative error that stopped parsing */
	size_t used; /* bytes consumed in total */
	struct http_request req[MAX_REQS];
	char path[MAX_REQS][64]; /* copy of req[i].path when present */
	/* http_parse_event() only: each request's body bytes, counted and hashed */
	uint64_t body_len[MAX_REQS];
	uint64_t body_hash[MAX_REQS];
	char body[MAX_REQS][64]; /* its first bytes */
	int heads;		 /* HEAD events */
};

/*
 * Feeds in[0..len) as buffers cut at the given ascending offsets, the way the
 * server does: loop over each buffer until it is consumed, then "recycle" it.
 */
static void feed_cuts(const char *in, size_t len, const size_t *cuts, size_t ncuts,
		      struct result *r)
{
	struct http_parser p;
	size_t start = 0;

	memset(r, 0, sizeof(*r));
	http_parser_init(&p);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		const char *buf = against_guard(in + start, end - start);
		size_t off = 0, blen = end - start;

		while (off < blen) {
			struct http_request req;
			ssize_t n = http_parse(&p, buf + off, blen - off, &req);

			if (n < 0) {
				r->err = n;
				/* The error is sticky. */
				assert_int_equal(http_parse(&p, buf, blen, &req), n);
				return;
			}
			if (n == 0) {
				r->used += blen - off;
				break;
			}
			assert_true((size_t)n <= blen - off);
			assert_true(r->n < MAX_REQS);
			if (req.path) {
				assert_true(req.path >= buf + off &&
					    req.path + req.path_len <= buf + off + n);
				/* Long paths are compared by their first bytes. */
				memcpy(r->path[r->n], req.path,
				       req.path_len < sizeof(r->path[0]) ? req.path_len
									 : sizeof(r->path[0]) - 1);
			}
			r->req[r->n++] = req;
			off += n;
			r->used += n;
		}
		start = end;
	}
}

/* FNV-1a over body bytes, continued from h. */
static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h;
}

/*
 * The same feeding through http_parse_event(), as --echo-body uses it: body
 * bytes are passed over with http_parser_take_data() (as many as this
 * buffer has) and recorded for the request they belong to. A request
 * counts when it is complete (COMPLETE or END), as http_parse() counts it.
 */
static void feed_cuts_ev(const char *in, size_t len, const size_t *cuts, size_t ncuts,
			 struct result *r)
{
	struct http_parser p;
	struct http_request head = {0};
	size_t start = 0, head_k = 0;
	bool in_body = false;

	memset(r, 0, sizeof(*r));
	r->body_hash[0] = 0xcbf29ce484222325ull;
	http_parser_init(&p);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		const char *buf = against_guard(in + start, end - start);
		size_t off = 0, blen = end - start;

		for (;;) {
			struct http_request req;
			enum http_event ev;
			ssize_t n = http_parse_event(&p, buf + off, blen - off, &req, &ev);
			size_t take;

			if (n < 0) {
				r->err = n;
				assert_int_equal(http_parse_event(&p, buf, blen, &req, &ev), n);
				return;
			}
			assert_true((size_t)n <= blen - off);
			off += (size_t)n;
			r->used += (size_t)n;
			switch (ev) {
			case HTTP_EV_NONE:
				assert_int_equal(off, blen);
				break;
			case HTTP_EV_HEAD:
				assert_false(in_body);
				assert_true(req.has_body);
				assert_true(req.chunked || req.content_length > 0);
				if (req.path)
					assert_true(req.path >= buf && req.path < buf + off);
				head = req;
				head_k = k;
				in_body = true;
				r->heads++;
				continue;
			case HTTP_EV_DATA:
				assert_true(in_body);
				assert_true(http_parser_data_left(&p) > 0);
				take = blen - off;
				if (take > http_parser_data_left(&p))
					take = (size_t)http_parser_data_left(&p);
				assert_true(r->n < MAX_REQS);
				if (r->body_len[r->n] < sizeof(r->body[0]) - 1) {
					size_t room = sizeof(r->body[0]) - 1 - r->body_len[r->n];

					memcpy(r->body[r->n] + r->body_len[r->n], buf + off,
					       take < room ? take : room);
				}
				r->body_hash[r->n] = fnv(r->body_hash[r->n], buf + off, take);
				r->body_len[r->n] += take;
				http_parser_take_data(&p, take);
				off += take;
				r->used += take;
				if (!take)
					break; /* the data is in the next buffer */
				continue;
			case HTTP_EV_COMPLETE:
			case HTTP_EV_END:
				assert_true(ev == HTTP_EV_END ? in_body : !in_body);
				assert_true(http_parser_idle(&p));
				assert_true(r->n < MAX_REQS);
				if (ev == HTTP_EV_END) {
					/* The head said what the end says. */
					assert_int_equal(head.method, req.method);
					assert_int_equal(head.content_length, req.content_length);
					assert_int_equal(head.chunked, req.chunked);
					assert_int_equal(head.keep_alive, req.keep_alive);
					assert_null(req.path);
					if (!head.chunked)
						assert_int_equal(r->body_len[r->n],
								 req.content_length);
					/* As http_parse(): a path only when all of it was in this buffer. */
					req.path = head_k == k ? head.path : NULL;
					req.path_len = req.path ? head.path_len : 0;
				}
				if (req.path)
					memcpy(r->path[r->n], req.path,
					       req.path_len < sizeof(r->path[0])
						       ? req.path_len
						       : sizeof(r->path[0]) - 1);
				r->req[r->n++] = req;
				if (r->n < MAX_REQS)
					r->body_hash[r->n] = 0xcbf29ce484222325ull;
				in_body = false;
				continue;
			}
			break;
		}
		start = end;
	}
}

static void feed(const char *in, size_t len, struct result *r)
{
	feed_cuts(in, len, NULL, 0, r);
}

static void same_result(const struct result *a, const struct result *b)
{
	assert_int_equal(a->err, b->err);
	assert_int_equal(a->n, b->n);
	if (!a->err)
		assert_int_equal(a->used, b->used);
	for (int i = 0; i < a->n; i++) {
		assert_int_equal(a->req[i].method, b->req[i].method);
		assert_int_equal(a->req[i].minor, b->req[i].minor);
		assert_int_equal(a->req[i].keep_alive, b->req[i].keep_alive);
		assert_int_equal(a->req[i].chunked, b->req[i].chunked);
		assert_int_equal(a->req[i].content_length, b->req[i].content_length);
		assert_int_equal(a->req[i].has_body, b->req[i].has_body);
		assert_int_equal(a->req[i].expect_continue, b->req[i].expect_continue);
		/* A split request may lack its path; when present it is the same. */
		if (a->req[i].path && b->req[i].path)
			assert_string_equal(a->path[i], b->path[i]);
	}
}

static void same_bodies(const struct result *a, const struct result *b)
{
	assert_int_equal(a->heads, b->heads);
	for (int i = 0; i < a->n; i++) {
		assert_int_equal(a->body_len[i], b->body_len[i]);
		assert_int_equal(a->body_hash[i], b->body_hash[i]);
	}
}

/*
 * Whole, every two-way split (at stride), and byte by byte give one answer,
 * through http_parse() and through http_parse_event() alike; the event
 * parser also finds the same body bytes however the input is cut.
 */
static void check_splits(const char *in, size_t len, size_t stride, const struct result *whole)
{
	struct result *r = malloc(sizeof(*r));
	struct result *ev_whole = malloc(sizeof(*ev_whole));
	size_t *cuts = malloc(len * sizeof(*cuts));

	assert_non_null(r);
	assert_non_null(ev_whole);
	assert_non_null(cuts);
	feed_cuts_ev(in, len, NULL, 0, ev_whole);
	same_result(whole, ev_whole);
	for (size_t i = 0; i <= len; i += stride) {
		feed_cuts(in, len, &i, 1, r);
		same_result(whole, r);
		feed_cuts_ev(in, len, &i, 1, r);
		same_result(whole, r);
		same_bodies(ev_whole, r);
	}
	for (size_t i = 1; i < len; i++)
		cuts[i - 1] = i;
	feed_cuts(in, len, cuts, len ? len - 1 : 0, r);
	same_result(whole, r);
	feed_cuts_ev(in, len, cuts, len ? len - 1 : 0, r);
	same_result(whole, r);
	same_bodies(ev_whole, r);
	free(cuts);
	free(ev_whole);
	free(r);
}

static ssize_t parse_err(const char *s)
{
	struct result r;

	feed(s, strlen(s), &r);
	check_splits(s, strlen(s), 1, &r);
	return r.err;
}

static const char wrk_req[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";
static const char curl_req[] = "GET /index.html HTTP/1.1\r\n"
			       "Host: localhost:8080\r\n"
			       "User-Agent: curl/7.88.1\r\n"
			       "Accept: */*\r\n"
			       "\r\n";
static const char browser_req[] =
	"GET /a/b/c.html?q=1&r=%20x HTTP/1.1\r\n"
	"Host: www.example.com\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0\r\n"
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8\r\n"
	"Accept-Language: en-US,en;q=0.5\r\n"
	"Accept-Encoding: gzip, deflate, br\r\n"
	"Referer: https://www.example.com/\r\n"
	"Connection: keep-alive\r\n"
	"Cookie: a=b; c=d; session=0123456789abcdef0123456789abcdef\r\n"
	"Upgrade-Insecure-Requests: 1\r\n"
	"Sec-Fetch-Dest: document\r\n"
	"Sec-Fetch-Mode: navigate\r\n"
	"Sec-Fetch-Site: same-origin\r\n"
	"If-None-Match: \"abc\"\r\n"
	"Cache-Control: max-age=0\r\n"
	"X-Tab:\tvalue\twith tabs \r\n"
	"X-Obs-Text: caf\xc3\xa9\r\n"
	"\r\n";

static void one_request(const char *s, struct http_request *out)
{
	struct result r;

	feed(s, strlen(s), &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.used, strlen(s));
	*out = r.req[0];
	check_splits(s, strlen(s), 1, &r);
}

static void valid_requests(void **state)
{
	struct http_request q;
	struct result r;

	(void)state;
	assert_int_equal(sizeof(struct http_parser), 32);

	feed(wrk_req, strlen(wrk_req), &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.req[0].method, HTTP_METHOD_GET);
	assert_int_equal(r.req[0].minor, 1);
	assert_true(r.req[0].keep_alive);
	assert_false(r.req[0].chunked);
	assert_int_equal(r.req[0].content_length, 0);
	assert_string_equal(r.path[0], "/");
	assert_int_equal(r.req[0].path_len, 1);

	one_request(curl_req, &q);
	assert_int_equal(q.method, HTTP_METHOD_GET);
	assert_true(q.keep_alive);

	feed(browser_req, strlen(browser_req), &r);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.path[0], "/a/b/c.html?q=1&r=%20x");
	check_splits(browser_req, strlen(browser_req), 1, &r);

	one_request("HEAD /x HTTP/1.0\r\n\r\n", &q);
	assert_int_equal(q.method, HTTP_METHOD_HEAD);
	assert_int_equal(q.minor, 0);
	assert_false(q.keep_alive);

	/* Bare LF is tolerated as a line end, empty lines before a request skipped. */
	one_request("\r\n\nGET /lf HTTP/1.1\nHost: x\n\n", &q);
	assert_int_equal(q.method, HTTP_METHOD_GET);
	assert_true(q.keep_alive);
	one_request("GET * HTTP/1.1\r\nHost: x\r\nX-Empty:\r\nX-Spaces:   \r\n\r\n", &q);
}

static void methods(void **state)
{
	static const struct {
		const char *req;
		int method;
	} cases[] = {
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_GET},
		{"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_HEAD},
		{"POST / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_POST},
		{"PUT / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_PUT},
		{"DELETE / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_DELETE},
		{"PATCH / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_PATCH},
		{"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_OPTIONS},
		{"POSTS / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_OTHER},
		{"PU / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_OTHER},
		{"OPTION / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_OTHER},
		{"CONNECT x:1 HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_OTHER},
		{"get / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_OTHER},
		{"GETX / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_OTHER},
		{"GE / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_OTHER},
		{"HEA / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_OTHER},
		{"HEADS / HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_OTHER},
		{"M-SEARCH * HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_METHOD_OTHER},
	};
	struct http_request q;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		one_request(cases[i].req, &q);
		assert_int_equal(q.method, cases[i].method);
	}
	assert_string_equal(http_method_name(HTTP_METHOD_PATCH), "PATCH");
	assert_string_equal(http_method_name(HTTP_METHOD_OTHER), "OTHER");
}

static void keep_alive(void **state)
{
	static const struct {
		const char *req;
		bool ka;
	} cases[] = {
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: x\r\nconnection: CLOSE\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: x\r\nCONNECTION:close\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: x\r\nConnection: Keep-Alive, Upgrade\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade,close,te\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: x\r\nConnection: closed\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: x\r\nConnection: x-close\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: x\r\nX-Connection: close\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: x\r\nConnectio: close\r\n\r\n", true},
		{"GET / HTTP/1.1\r\nHost: x\r\nConnection: \r\n\r\n", true},
		{"GET / HTTP/1.0\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
		{"GET / HTTP/1.0\r\nConnection: KEEP-ALIVE \r\n\r\n", true},
		{"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: keep-alived\r\n\r\n", false},
		{"GET / HTTP/1.0\r\nConnection: upgrade\r\nConnection: keep-alive\r\n\r\n", true},
	};
	struct http_request q;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		one_request(cases[i].req, &q);
		if (q.keep_alive != cases[i].ka)
			fail_msg("%s: keep_alive %d", cases[i].req, q.keep_alive);
	}
}

static void versions(void **state)
{
	(void)state;
	assert_int_equal(parse_err("GET / HTTP/2.0\r\n\r\n"), -HTTP_ERR_VERSION);
	assert_int_equal(parse_err("GET / HTTP/1.2\r\n\r\n"), -HTTP_ERR_VERSION);
	assert_int_equal(parse_err("GET / HTTP/0.9\r\n\r\n"), -HTTP_ERR_VERSION);
	assert_int_equal(parse_err("GET / HTTP/3.0\r\nHost: x\r\n\r\n"), -HTTP_ERR_VERSION);
	assert_int_equal(parse_err("GET / HTTP/1.1x\r\n\r\n"), -HTTP_ERR_BAD_REQUEST);
	assert_int_equal(parse_err("GET / HTTP/1.1 \r\n\r\n"), -HTTP_ERR_BAD_REQUEST);
	assert_int_equal(parse_err("GET / HTTP/11.1\r\n\r\n"), -HTTP_ERR_BAD_REQUEST);
	assert_int_equal(parse_err("GET / HTTP/1\r\n\r\n"), -HTTP_ERR_BAD_REQUEST);
	assert_int_equal(parse_err("GET / http/1.1\r\n\r\n"), -HTTP_ERR_BAD_REQUEST);
	assert_int_equal(parse_err("GET / HTTP/1,1\r\n\r\n"), -HTTP_ERR_BAD_REQUEST);
	assert_int_equal(parse_err("GET /\r\n\r\n"), -HTTP_ERR_BAD_REQUEST);
	assert_int_equal(parse_err("GET / HTTP/1.1\rX\n\r\n"), -HTTP_ERR_BAD_REQUEST);
}

static void malformed(void **state)
{
	static const char *const bad[] = {
		"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /  HTTP/1.1\r\nHost: x\r\n\r\n",
		" GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /\tHTTP/1.1\r\nHost: x\r\n\r\n",
		"G(T / HTTP/1.1\r\nHost: x\r\n\r\n",
		"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a\x7f HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
		"\rGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nHo\x01st: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nHo st: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nHo\"st: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nHost\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n\tb\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n Host: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\rX",
		"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7f\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: clo\x01se\r\n\r\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_err(bad[i]) != -HTTP_ERR_BAD_REQUEST)
			fail_msg("case %zu accepted or wrong error: %zd", i, parse_err(bad[i]));

	/* NUL in a value, which strlen() cannot carry. */
	static const char nul[] = "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n";
	struct result r;

	feed(nul, sizeof(nul) - 1, &r);
	assert_int_equal(r.err, -HTTP_ERR_BAD_REQUEST);
}

static void content_length(void **state)
{
	static const char *const bad[] = {
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5a\r\n\r\nhello",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1,1\r\n\r\nx",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551616\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: "
		"6\r\n\r\nhello!",
	};
	struct http_request q;
	struct result r;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_err(bad[i]) != -HTTP_ERR_BAD_LENGTH)
			fail_msg("case %zu: %zd", i, parse_err(bad[i]));

	one_request("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", &q);
	assert_int_equal(q.method, HTTP_METHOD_POST);
	assert_int_equal(q.content_length, 5);
	one_request("POST / HTTP/1.1\r\nHost: x\r\ncontent-length:\t 5 \t\r\nContent-Length: "
		    "005\r\n\r\nhello",
		    &q);
	assert_int_equal(q.content_length, 5);
	one_request("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", &q);
	assert_int_equal(q.content_length, 0);

	/* The largest length is accepted, and its body is then consumed forever. */
	const char *huge =
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\nabc";
	feed(huge, strlen(huge), &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.used, strlen(huge));
}

/* A body with Content-Length followed by a pipelined request, split anywhere. */
static void body_split_anywhere(void **state)
{
	char in[4096];
	struct result r;
	int len;

	(void)state;
	len = snprintf(in, sizeof(in),
		       "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n%0300d"
		       "GET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		       7);
	feed(in, len, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.req[0].content_length, 300);
	assert_true(r.req[0].keep_alive);
	assert_string_equal(r.path[0], "/upload");
	assert_string_equal(r.path[1], "/next");
	assert_false(r.req[1].keep_alive);
	check_splits(in, len, 1, &r);

	/* Three-way splits around the body's start and end. */
	for (size_t i = 40; i < 80; i++) {
		for (size_t j = i; j < (size_t)len; j += 13) {
			size_t cuts[2] = {i, j};
			struct result r2;

			feed_cuts(in, len, cuts, 2, &r2);
			same_result(&r, &r2);
		}
	}
}

static void pipelined(void **state)
{
	char in[4096];
	size_t len = 0, ends[16];
	struct result r;

	(void)state;
	for (int i = 0; i < 16; i++) {
		len += (size_t)snprintf(in + len, sizeof(in) - len, "%s", wrk_req);
		ends[i] = len;
	}
	feed(in, len, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 16);
	assert_int_equal(r.used, len);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(r.req[i].method, HTTP_METHOD_GET);
		assert_true(r.req[i].keep_alive);
		assert_string_equal(r.path[i], "/");
	}
	check_splits(in, len, 1, &r);

	/* The return values step exactly over each request. */
	struct http_parser p;
	struct http_request q;
	size_t off = 0;

	http_parser_init(&p);
	for (int i = 0; i < 16; i++) {
		ssize_t n = http_parse(&p, in + off, len - off, &q);

		assert_int_equal(off + n, ends[i]);
		off += n;
		assert_true(http_parser_idle(&p));
	}

	/* A mixed batch: GET, HEAD, POST with a body, chunked, HTTP/1.0. */
	static const char mixed[] =
		"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
		"HEAD /2 HTTP/1.1\r\nHost: a\r\n\r\n"
		"POST /3 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"
		"PUT /4 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3\r\nabc\r\n0\r\n\r\n"
		"GET /5 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
		"GET /6 HTTP/1.1\r\nHost: x\r\n\r\n";
	feed(mixed, sizeof(mixed) - 1, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 6);
	assert_int_equal(r.req[1].method, HTTP_METHOD_HEAD);
	assert_int_equal(r.req[2].method, HTTP_METHOD_POST);
	assert_int_equal(r.req[2].content_length, 4);
	assert_true(r.req[3].chunked);
	assert_int_equal(r.req[4].minor, 0);
	assert_true(r.req[4].keep_alive);
	for (int i = 0; i < 6; i++) {
		char want[8];

		snprintf(want, sizeof(want), "/%d", i + 1);
		assert_string_equal(r.path[i], want);
	}
	check_splits(mixed, sizeof(mixed) - 1, 1, &r);
}

static void chunked(void **state)
{
	static const char ok[] = "POST /c HTTP/1.1\r\n"
				 "Host: x\r\n"
				 "Transfer-Encoding: chunked\r\n"
				 "\r\n"
				 "5\r\nhello\r\n"
				 "1A;name=value;quoted=\"a b\"\r\nabcdefghijklmnopqrstuvwxyz\r\n"
				 "0000a \t; ext\r\n0123456789\r\n"
				 "0\r\n"
				 "Trailer-One: 1\r\n"
				 "Content-Length: 99\r\n"
				 "\r\n"
				 "GET /after HTTP/1.1\r\nHost: x\r\n\r\n";
	struct http_request q;
	struct result r;

	(void)state;
	feed(ok, sizeof(ok) - 1, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 2);
	assert_true(r.req[0].chunked);
	assert_int_equal(r.req[0].content_length, 0);
	assert_string_equal(r.path[1], "/after");
	check_splits(ok, sizeof(ok) - 1, 1, &r);

	one_request("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked \r\n\r\n0\r\n\r\n",
		    &q);
	assert_true(q.chunked);
	one_request("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\n\n1\nx\n0\n\n", &q);
	assert_true(q.chunked);

	assert_int_equal(
		parse_err("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
		-HTTP_ERR_NOT_IMPLEMENTED);
	assert_int_equal(parse_err("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n"),
			 -HTTP_ERR_NOT_IMPLEMENTED);
	assert_int_equal(
		parse_err("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
		-HTTP_ERR_BAD_FRAMING);
	assert_int_equal(parse_err("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
			 -HTTP_ERR_BAD_FRAMING);
	assert_int_equal(
		parse_err("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunkedx\r\n\r\n"),
		-HTTP_ERR_BAD_FRAMING);
	assert_int_equal(parse_err("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n"),
			 -HTTP_ERR_BAD_FRAMING);
	assert_int_equal(parse_err("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
				   "Content-Length: 5\r\n\r\n"),
			 -HTTP_ERR_BAD_FRAMING);
	assert_int_equal(parse_err("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
				   "Transfer-Encoding: chunked\r\n\r\n"),
			 -HTTP_ERR_BAD_FRAMING);
	assert_int_equal(parse_err("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
			 -HTTP_ERR_BAD_FRAMING);

	static const char *const bad[] = {
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\rX",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\rX",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a\x01\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
		"chunked\r\n\r\n10000000000000000\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_err(bad[i]) != -HTTP_ERR_BAD_CHUNK)
			fail_msg("case %zu: %zd", i, parse_err(bad[i]));
	/* Trailers follow field-line rules. */
	assert_int_equal(
		parse_err("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: "
			  "1\r\n x\r\n\r\n"),
		-HTTP_ERR_BAD_REQUEST);
	/* The largest chunk size is accepted (and then its data never ends). */
	struct result big;
	const char *s = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
			"chunked\r\n\r\nffffffffffffffff\r\nab";

	feed(s, strlen(s), &big);
	assert_int_equal(big.err, 0);
	assert_int_equal(big.n, 0);
}

/*
 * http_parse_event(): the events in order, the body bytes as they were sent
 * (de-chunked), Content-Length: 0 as a complete request with a body, and
 * http_parse() taking over after a head to discard the body.
 */
static void body_events(void **state)
{
	static const char chunked[] =
		"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\nhello\r\n1A;name=value\r\nabcdefghijklmnopqrstuvwxyz\r\n"
		"0000a \t; ext\r\n0123456789\r\n0\r\nT: 1\r\n\r\n";
	static const char reqs[] = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
				   "PUT /b HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
				   "GET /c HTTP/1.1\r\nHost: x\r\n\r\n";
	struct http_parser p;
	struct http_request q;
	enum http_event ev;
	struct result r;
	ssize_t n;

	(void)state;
	feed_cuts_ev(chunked, sizeof(chunked) - 1, NULL, 0, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.heads, 1);
	assert_int_equal(r.body_len[0], 41);
	assert_string_equal(r.body[0], "helloabcdefghijklmnopqrstuvwxyz0123456789");
	assert_true(r.req[0].chunked && r.req[0].has_body);

	feed_cuts_ev(reqs, sizeof(reqs) - 1, NULL, 0, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.heads, 1);
	assert_string_equal(r.body[0], "abc");
	assert_true(r.req[1].has_body);
	assert_int_equal(r.req[1].content_length, 0);
	assert_int_equal(r.body_len[1], 0);
	assert_false(r.req[2].has_body);
	check_splits(reqs, sizeof(reqs) - 1, 1, &r);

	/* Step by step: HEAD, DATA, the data taken, END with nothing consumed. */
	http_parser_init(&p);
	n = http_parse_event(&p, reqs, sizeof(reqs) - 1, &q, &ev);
	assert_int_equal(ev, HTTP_EV_HEAD);
	assert_int_equal(n, 48);
	assert_int_equal(q.content_length, 3);
	assert_int_equal(q.path_len, 2);
	assert_memory_equal(q.path, "/a", 2);
	assert_int_equal(http_parse_event(&p, reqs + n, sizeof(reqs) - 1 - (size_t)n, &q, &ev), 0);
	assert_int_equal(ev, HTTP_EV_DATA);
	assert_int_equal(http_parser_data_left(&p), 3);
	http_parser_take_data(&p, 2);
	assert_int_equal(http_parser_data_left(&p), 1);
	assert_int_equal(http_parse_event(&p, NULL, 0, &q, &ev), 0);
	assert_int_equal(ev, HTTP_EV_DATA);
	http_parser_take_data(&p, 1);
	assert_int_equal(http_parser_data_left(&p), 0);
	assert_int_equal(http_parse_event(&p, NULL, 0, &q, &ev), 0);
	assert_int_equal(ev, HTTP_EV_END);
	assert_true(http_parser_idle(&p));
	assert_int_equal(q.method, HTTP_METHOD_POST);
	assert_int_equal(q.content_length, 3);

	/* After a head, http_parse() discards the body and returns the request. */
	http_parser_init(&p);
	n = http_parse_event(&p, chunked, sizeof(chunked) - 1, &q, &ev);
	assert_int_equal(ev, HTTP_EV_HEAD);
	assert_int_equal(http_parse(&p, chunked + n, sizeof(chunked) - 1 - (size_t)n, &q),
			 (ssize_t)(sizeof(chunked) - 1) - n);
	assert_true(q.chunked);
	assert_true(http_parser_idle(&p));

	/* A malformed chunk after data: the error comes where the parser finds it. */
	http_parser_init(&p);
	{
		static const char bad[] = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
					  "chunked\r\n\r\n3\r\nabcX";

		n = http_parse_event(&p, bad, sizeof(bad) - 1, &q, &ev);
		assert_int_equal(ev, HTTP_EV_HEAD);
		n += http_parse_event(&p, bad + n, sizeof(bad) - 1 - (size_t)n, &q, &ev);
		assert_int_equal(ev, HTTP_EV_DATA);
		http_parser_take_data(&p, 3);
		assert_int_equal(http_parse_event(&p, bad + n + 3, 1, &q, &ev),
				 -HTTP_ERR_BAD_CHUNK);
	}
}

/* Expect: 100-continue is reported for HTTP/1.1 only, matched as a token in any case. */
static void expect_continue(void **state)
{
	static const struct {
		const char *req;
		bool want;
	} cases[] = {
		{"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
		 true},
		{"PUT / HTTP/1.1\r\nHost: x\r\nexpect:100-Continue \r\n\r\n", true},
		{"PUT / HTTP/1.1\r\nHost: x\r\nExpect: x, 100-continue\r\n\r\n", true},
		{"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continued\r\n\r\n", false},
		{"PUT / HTTP/1.1\r\nHost: x\r\nExpectation: 100-continue\r\n\r\n", false},
		{"PUT / HTTP/1.1\r\nHost: x\r\nX: 100-continue\r\n\r\n", false},
		{"PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false},
	};
	struct http_request q;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		one_request(cases[i].req, &q);
		if (q.expect_continue != cases[i].want)
			fail_msg("case %zu: %d", i, q.expect_continue);
	}
}

/* A path is given only when the target lay in the buffer that completed the request. */
static void path_pointers(void **state)
{
	struct result r;
	size_t cut;

	(void)state;
	cut = 6; /* inside "/index.html" */
	feed_cuts(curl_req, strlen(curl_req), &cut, 1, &r);
	assert_int_equal(r.n, 1);
	assert_null(r.req[0].path);
	assert_int_equal(r.req[0].path_len, 0);

	cut = 30; /* in the headers: the target's buffer was recycled */
	feed_cuts(curl_req, strlen(curl_req), &cut, 1, &r);
	assert_null(r.req[0].path);

	cut = 4; /* right before the target */
	feed_cuts(curl_req, strlen(curl_req), &cut, 1, &r);
	assert_non_null(r.req[0].path);
	assert_string_equal(r.path[0], "/index.html");
}

/* Builds a request line of exactly n bytes, CRLF included. */
static size_t request_line(char *buf, size_t n)
{
	size_t target = n - strlen("GET  HTTP/1.1\r\n");

	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', target - 1);
	memcpy(buf + 4 + target, " HTTP/1.1\r\n", 11);
	return n;
}

static void limit_request_line(void **state)
{
	static char in[HTTP_MAX_REQUEST_LINE + 64];
	struct result r, rs;
	size_t len;

	(void)state;
	len = request_line(in, HTTP_MAX_REQUEST_LINE);
	memcpy(in + len, "Host: x\r\n\r\n", 11);
	feed(in, len + 11, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.req[0].path_len, HTTP_MAX_REQUEST_LINE - strlen("GET  HTTP/1.1\r\n"));
	check_splits(in, len + 11, 97, &r);

	len = request_line(in, HTTP_MAX_REQUEST_LINE + 1);
	memcpy(in + len, "Host: x\r\n\r\n", 11);
	feed(in, len + 11, &r);
	assert_int_equal(r.err, -HTTP_ERR_LINE_TOO_LONG);
	check_splits(in, len + 11, 97, &r);

	/* The limit fires before the line ends: no need to wait for the rest. */
	memset(in, 'a', sizeof(in));
	memcpy(in, "GET /", 5);
	feed(in, HTTP_MAX_REQUEST_LINE + 1, &rs);
	assert_int_equal(rs.err, -HTTP_ERR_LINE_TOO_LONG);
	feed(in, HTTP_MAX_REQUEST_LINE, &rs);
	assert_int_equal(rs.err, 0);
	assert_int_equal(rs.used, HTTP_MAX_REQUEST_LINE);
}

static void limit_header_count(void **state)
{
	static char in[8192];
	struct result r;
	size_t len;

	(void)state;
	for (int extra = 0; extra <= 1; extra++) {
		len = (size_t)sprintf(in, "GET / HTTP/1.1\r\nHost: x\r\n");
		for (int i = 1; i < HTTP_MAX_HEADERS + extra; i++) /* Host is the first */
			len += (size_t)sprintf(in + len, "X-%d: %d\r\n", i, i);
		len += (size_t)sprintf(in + len, "\r\n");
		feed(in, len, &r);
		if (!extra) {
			assert_int_equal(r.err, 0);
			assert_int_equal(r.n, 1);
		} else {
			assert_int_equal(r.err, -HTTP_ERR_TOO_MANY_HEADERS);
		}
		check_splits(in, len, 31, &r);
	}

	/* Trailers have their own count. */
	len = (size_t)sprintf(
		in, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
	for (int i = 0; i < HTTP_MAX_HEADERS + 1; i++)
		len += (size_t)sprintf(in + len, "T: %d\r\n", i);
	len += (size_t)sprintf(in + len, "\r\n");
	feed(in, len, &r);
	assert_int_equal(r.err, -HTTP_ERR_TOO_MANY_HEADERS);
}

/* A header section of exactly n bytes (final empty line included). */
static size_t header_section(char *buf, size_t n)
{
	size_t len = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: x\r\n");
	size_t fill = n - 2 - strlen("Host: x\r\nX: \r\n");

	len += (size_t)sprintf(buf + len, "X: ");
	memset(buf + len, 'v', fill);
	len += fill;
	len += (size_t)sprintf(buf + len, "\r\n\r\n");
	return len;
}

static void limit_header_bytes(void **state)
{
	static char in[HTTP_MAX_HEADER_BYTES + 128];
	struct result r;
	size_t len;

	(void)state;
	len = header_section(in, HTTP_MAX_HEADER_BYTES);
	feed(in, len, &r);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.n, 1);
	check_splits(in, len, 211, &r);

	len = header_section(in, HTTP_MAX_HEADER_BYTES + 1);
	feed(in, len, &r);
	assert_int_equal(r.err, -HTTP_ERR_HEADERS_TOO_LARGE);
	check_splits(in, len, 211, &r);

	/* With bare LF line ends the count is of bytes actually sent. */
	len = header_section(in, HTTP_MAX_HEADER_BYTES);
	in[len - 3] = '\n';
	in[len - 2] = '\n';
	feed(in, len - 1, &r); /* one byte shorter than the limit: fine */
	assert_int_equal(r.err, 0);
}

static void limit_chunk_line(void **state)
{
	static char in[HTTP_MAX_CHUNK_LINE + 256];
	struct result r;
	size_t len, ext;

	(void)state;
	for (int extra = 0; extra <= 1; extra++) {
		len = (size_t)sprintf(
			in, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;");
		ext = HTTP_MAX_CHUNK_LINE + extra - strlen("1;\r\n");
		memset(in + len, 'e', ext);
		len += ext;
		len += (size_t)sprintf(in + len, "\r\nx\r\n0\r\n\r\n");
		feed(in, len, &r);
		assert_int_equal(r.err, extra ? -HTTP_ERR_BAD_CHUNK : 0);
		assert_int_equal(r.n, !extra);
		check_splits(in, len, 67, &r);
	}
}

/* RFC 9112 3.2: Host missing (HTTP/1.1), repeated or invalid is 400. */
static void host_rules(void **state)
{
	static const char *const good[] = {
		"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
		"GET / HTTP/1.1\r\nHOST: 127.0.0.1\r\n\r\n",
		"GET / HTTP/1.1\r\nhost: [::1]:8080\r\n\r\n",
		"GET / HTTP/1.1\r\nHost:\r\n\r\n",
		"GET / HTTP/1.1\r\nHost:   \r\n\r\n",
		"GET / HTTP/1.1\r\nHost: \t x.y \t\r\n\r\n",
		"GET / HTTP/1.1\r\nHost:x\n\n",
		"GET / HTTP/1.1\r\nHost: a%20b.example\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a,b;c=d!$&'()*+~_\r\n\r\n", /* sub-delims are reg-name bytes */
		"GET / HTTP/1.1\r\nX-Host: a\r\nHosts: b\r\nHost: c\r\nHos: d\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nHost: "
		"t\r\n\r\n",
	};
	static const char *const bad[] = {
		"GET / HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nX: y\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nhost: a\r\nX: y\r\nHOST: b\r\n\r\n",
		"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a?x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a#x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: \"a\"\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: <a>\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n",
	};
	struct http_request q;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (parse_err(good[i]) != 0)
			fail_msg("good case %zu refused: %zd", i, parse_err(good[i]));
		one_request(good[i], &q);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse_err(bad[i]) != -HTTP_ERR_BAD_HOST)
			fail_msg("bad case %zu accepted or wrong error: %zd", i, parse_err(bad[i]));
	assert_int_equal(http_error_status(HTTP_ERR_BAD_HOST), 400);
}

static void errors_map_to_status(void **state)
{
	static const int want[HTTP_ERR_COUNT] = {
		[HTTP_ERR_NONE] = 500,
		[HTTP_ERR_BAD_REQUEST] = 400,
		[HTTP_ERR_BAD_LENGTH] = 400,
		[HTTP_ERR_BAD_FRAMING] = 400,
		[HTTP_ERR_BAD_CHUNK] = 400,
		[HTTP_ERR_BAD_HOST] = 400,
		[HTTP_ERR_LINE_TOO_LONG] = 414,
		[HTTP_ERR_TOO_MANY_HEADERS] = 431,
		[HTTP_ERR_HEADERS_TOO_LARGE] = 431,
		[HTTP_ERR_NOT_IMPLEMENTED] = 501,
		[HTTP_ERR_VERSION] = 505,
	};

	(void)state;
	for (int e = 0; e < HTTP_ERR_COUNT; e++) {
		assert_int_equal(http_error_status(e), want[e]);
		assert_string_not_equal(http_error_name(e), "?");
	}
	assert_int_equal(http_error_status(HTTP_ERR_COUNT), 500);
	assert_string_equal(http_error_name(HTTP_ERR_COUNT), "?");
}

/* Zero-length input, and resuming after a request ends exactly at a buffer end. */
static void edges(void **state)
{
	struct http_parser p;
	struct http_request q;
	const char *buf;

	(void)state;
	http_parser_init(&p);
	assert_true(http_parser_idle(&p));
	assert_int_equal(http_parse(&p, "", 0, &q), 0);
	buf = against_guard(wrk_req, 10);
	assert_int_equal(http_parse(&p, buf, 10, &q), 0);
	assert_false(http_parser_idle(&p));
	buf = against_guard(wrk_req + 10, strlen(wrk_req) - 10);
	assert_int_equal(http_parse(&p, buf, strlen(wrk_req) - 10, &q), strlen(wrk_req) - 10);
	assert_true(http_parser_idle(&p));
	assert_null(q.path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_requests),
		cmocka_unit_test(methods),
		cmocka_unit_test(keep_alive),
		cmocka_unit_test(versions),
		cmocka_unit_test(malformed),
		cmocka_unit_test(content_length),
		cmocka_unit_test(body_split_anywhere),
		cmocka_unit_test(pipelined),
		cmocka_unit_test(chunked),
		cmocka_unit_test(body_events),
		cmocka_unit_test(expect_continue),
		cmocka_unit_test(path_pointers),
		cmocka_unit_test(limit_request_line),
		cmocka_unit_test(limit_header_count),
		cmocka_unit_test(limit_header_bytes),
		cmocka_unit_test(limit_chunk_line),
		cmocka_unit_test(host_rules),
		cmocka_unit_test(errors_map_to_status),
		cmocka_unit_test(edges),
	};

	return cmocka_run_group_tests_name("http_parser", tests, guard_setup, guard_teardown);
}
