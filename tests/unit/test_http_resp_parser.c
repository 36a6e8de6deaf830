// SPDX-License-Identifier: MIT
/*
 * The response parser, both of its APIs. Input sits at the very end of a
 * page followed by an inaccessible one, so any read past what was handed in
 * faults. Every case is fed whole, in pieces of 1..8, 16, 32, ... bytes,
 * and (the event API) in two pieces split at every byte; each way must give
 * the same events, and the feed API must find the same responses ending at
 * the same bytes as the event API.
 */
#include <errno.h>
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

#include "http_resp_parser.h"

/* A string literal and its length (NULs included). */
#define R(s) s, sizeof(s) - 1

#define MAX_RESPS 16

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

/* ---- the feed API ------------------------------------------------------------------------- */

struct outcome {
	int responses;
	uint16_t status[MAX_RESPS];
	bool close[MAX_RESPS];
	size_t end[MAX_RESPS]; /* offset just past each response */
	int error;
};

/*
 * Feeds s in pieces of at most step bytes (0: one piece), collecting each
 * response; bit i of head says response i answers a HEAD request. A 101
 * ends the input's HTTP: what follows is not parsed.
 */
static struct outcome feed_memo(const char *s, size_t len, size_t step, bool eof, unsigned head,
				struct http_rparser_memo *memo)
{
	size_t off = 0;
	struct http_rparser p;
	struct outcome o;

	memset(&o, 0, sizeof(o));
	http_rparser_init(&p);
	while (off < len) {
		size_t piece = step && len - off > step ? step : len - off;
		const uint8_t *buf = guarded(s + off, piece);
		size_t pos = 0;

		while (pos < piece) {
			size_t used = 0;
			int r = http_rparser_feed_memo(&p, memo, buf + pos, piece - pos,
						       (head >> o.responses) & 1, &used);

			assert_true(used <= piece - pos);
			if (r < 0) {
				o.error = r;
				return o;
			}
			pos += used;
			if (r == HTTP_RP_DONE) {
				assert_true(o.responses < MAX_RESPS);
				o.status[o.responses] = p.status;
				o.close[o.responses] = http_rparser_close(&p);
				o.end[o.responses++] = off + pos;
				if (p.upgrade)
					return o;
			}
		}
		off += piece;
	}
	if (eof) {
		int r = http_rparser_eof(&p);

		if (r < 0)
			o.error = r;
		else if (r == HTTP_RP_DONE) {
			o.status[o.responses] = p.status;
			o.close[o.responses] = http_rparser_close(&p);
			o.end[o.responses++] = len;
		}
	}
	return o;
}

static void same_outcome(const struct outcome *a, const struct outcome *b)
{
	assert_int_equal(a->responses, b->responses);
	assert_int_equal(a->error, b->error);
	for (int i = 0; i < a->responses && i < MAX_RESPS; i++) {
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
static struct outcome feed_head(const char *s, size_t len, size_t step, bool eof, unsigned head)
{
	static struct http_rparser_memo warm;
	struct http_rparser_memo fresh;
	struct outcome a, b, c;

	http_rparser_memo_init(&fresh);
	a = feed_memo(s, len, step, eof, head, NULL);
	b = feed_memo(s, len, step, eof, head, &fresh);
	c = feed_memo(s, len, step, eof, head, &warm);
	same_outcome(&a, &b);
	same_outcome(&a, &c);
	return a;
}

/* The same result whole, in pieces of every size up to 8 and then of powers of two. */
static struct outcome feed_all_ways_len(const char *s, size_t len, bool eof, unsigned head)
{
	struct outcome whole = feed_head(s, len, 0, eof, head), o;

	for (size_t step = 1; step <= len; step = step < 8 ? step + 1 : step * 2) {
		o = feed_head(s, len, step, eof, head);
		same_outcome(&o, &whole);
	}
	return whole;
}

static struct outcome feed_all_ways_head(const char *s, bool eof, unsigned head)
{
	return feed_all_ways_len(s, strlen(s), eof, head);
}

static struct outcome feed_all_ways(const char *s, bool eof)
{
	return feed_all_ways_head(s, eof, 0);
}

/* ---- the event API ------------------------------------------------------------------------ */

/*
 * What the event API reported, as text: "H<status> <flags>|" for a head,
 * "D<body bytes>" for the data of one response (bytes outside printable
 * ASCII as \xNN, however many DATA events brought them), "E|" for an end.
 */
struct events {
	char log[8192];
	size_t log_len;
	int ends;
	size_t end[MAX_RESPS]; /* offset just past each END */
	int error;
	bool in_data;
};

static void log_add(struct events *e, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(e->log + e->log_len, sizeof(e->log) - e->log_len, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < sizeof(e->log) - e->log_len);
	e->log_len += (size_t)n;
}

static void log_head(struct events *e, const struct http_rparser *p)
{
	log_add(e, "H%u", p->status);
	if (p->chunked)
		log_add(e, " chunked");
	if (p->has_length)
		log_add(e, " len=%llu", (unsigned long long)p->length);
	if (p->until_eof)
		log_add(e, " eof");
	if (p->no_body)
		log_add(e, " nobody");
	if (p->upgrade)
		log_add(e, " upgrade");
	if (p->conn_keep_alive)
		log_add(e, " ka");
	if (http_rparser_close(p))
		log_add(e, " close");
	log_add(e, "|");
	e->in_data = false;
}

static void log_data(struct events *e, const uint8_t *b, size_t n)
{
	if (!e->in_data)
		log_add(e, "D");
	e->in_data = true;
	for (size_t i = 0; i < n; i++)
		log_add(e, b[i] >= 0x20 && b[i] < 0x7f ? "%c" : "\\x%02x", b[i]);
}

/*
 * Runs the event API over one piece; false once the input's HTTP is over
 * (an error, or a 101's END: what follows belongs to the upgraded protocol).
 */
static bool events_piece(struct http_rparser *p, struct events *e, const uint8_t *buf, size_t len,
			 size_t off, unsigned head)
{
	size_t pos = 0;

	for (;;) {
		enum http_rp_event ev = (enum http_rp_event)99;
		ssize_t n = http_rparse_event(p, buf + pos, len - pos, (head >> e->ends) & 1, &ev);
		uint64_t left;

		if (n < 0) {
			e->error = (int)n;
			return false;
		}
		assert_true((size_t)n <= len - pos);
		pos += (size_t)n;
		switch (ev) {
		case HTTP_RP_NONE:
			assert_int_equal(pos, len);
			assert_int_equal(http_rparser_data_left(p), 0);
			return true;
		case HTTP_RP_HEAD:
			log_head(e, p);
			break;
		case HTTP_RP_DATA:
			left = http_rparser_data_left(p);
			assert_true(left > 0);
			if (left > len - pos)
				left = len - pos;
			if (!left)
				return true;
			log_data(e, buf + pos, (size_t)left);
			http_rparser_take_data(p, left);
			pos += (size_t)left;
			break;
		case HTTP_RP_END:
			assert_true(e->ends < MAX_RESPS);
			assert_int_equal(http_rparser_data_left(p), 0);
			log_add(e, e->in_data ? "|E|" : "E|");
			e->in_data = false;
			e->end[e->ends++] = off + pos;
			if (p->upgrade)
				return false;
			break;
		default:
			fail_msg("event %d", ev);
		}
	}
}

/* The event API over s cut at the offsets in cuts[] (ascending, ncuts of them). */
static void events_cut(const char *s, size_t len, const size_t *cuts, size_t ncuts, bool eof,
		       unsigned head, struct events *e)
{
	struct http_rparser p;
	size_t off = 0;
	bool more = true;

	memset(e, 0, sizeof(*e));
	http_rparser_init(&p);
	for (size_t k = 0; k <= ncuts && more; k++) {
		size_t to = k < ncuts ? cuts[k] : len;

		more = events_piece(&p, e, guarded(s + off, to - off), to - off, off, head);
		off = to;
	}
	if (more && eof) {
		int r = http_rparser_eof(&p);

		if (r < 0) {
			e->error = r;
		} else if (r == HTTP_RP_DONE) {
			log_add(e, e->in_data ? "|E|" : "E|");
			e->end[e->ends++] = len;
		}
	}
}

static void same_events(const struct events *a, const struct events *b)
{
	assert_string_equal(a->log, b->log);
	assert_int_equal(a->error, b->error);
	assert_int_equal(a->ends, b->ends);
	for (int i = 0; i < a->ends; i++)
		assert_int_equal(a->end[i], b->end[i]);
}

/*
 * s through the event API whole, byte by byte, in pieces of 2..8, 16, ...
 * bytes, and (up to 600 bytes) in two pieces split at every byte, all the
 * same; and through the feed API with the same responses ending at the
 * same bytes and the same verdict. Returns the events of the whole.
 */
static struct events *events_all_ways(const char *s, size_t len, bool eof, unsigned head)
{
	static struct events whole, o;
	static size_t cuts[16384];
	struct outcome f;

	assert_true(len <= sizeof(cuts) / sizeof(cuts[0]));
	events_cut(s, len, NULL, 0, eof, head, &whole);
	for (size_t step = 1; step < len; step = step < 8 ? step + 1 : step * 2) {
		size_t n = 0;

		for (size_t at = step; at < len; at += step)
			cuts[n++] = at;
		events_cut(s, len, cuts, n, eof, head, &o);
		same_events(&o, &whole);
	}
	for (size_t at = 1; at < len && len <= 600; at++) {
		events_cut(s, len, &at, 1, eof, head, &o);
		same_events(&o, &whole);
	}
	f = feed_all_ways_len(s, len, eof, head);
	assert_int_equal(f.error, whole.error);
	assert_int_equal(f.responses, whole.ends);
	for (int i = 0; i < f.responses; i++)
		assert_int_equal(f.end[i], whole.end[i]);
	return &whole;
}

/* ---- the cases ---------------------------------------------------------------------------- */

/* Well-formed exchanges and what the event API must report for each. */
static const struct good {
	const char *what;
	const char *s;
	size_t len;
	unsigned head; /* bit i: response i answers a HEAD */
	bool eof;      /* the server closes after the last byte */
	const char *log;
} goods[] = {
	{"Content-Length", R("HTTP/1.1 200 OK\r\nServer: x\r\nContent-Length: 5\r\n\r\nhello"), 0,
	 false, "H200 len=5|Dhello|E|"},
	{"chunked with extensions and trailers",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
	   "5;name=value\r\nhello\r\n"
	   "1A ; a = \"q\\\"x;,\" ;b;c=d\r\nabcdefghijklmnopqrstuvwxyz\r\n"
	   "0\r\nX-Trailer: yes\r\nContent-Length: 99\r\n\r\n"),
	 0, false, "H200 chunked|Dhelloabcdefghijklmnopqrstuvwxyz|E|"},
	{"chunked, bare LF line ends, upper-case hex",
	 R("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n00B\nhello world\n0\n\n"), 0, false,
	 "H200 chunked|Dhello world|E|"},
	{"until EOF", R("HTTP/1.1 200 OK\r\n\r\nall of this"), 0, true,
	 "H200 eof close|Dall of this|E|"},
	{"a last coding other than chunked: until EOF, chunks and all",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"), 0, true,
	 "H200 eof close|D0\\x0d\\x0a\\x0d\\x0a|E|"},
	{"HEAD: the length is the GET's", R("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"), 1,
	 false, "H200 len=5 nobody|E|"},
	{"HEAD, chunked", R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), 1, false,
	 "H200 chunked nobody|E|"},
	{"HEAD, neither: not until EOF", R("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"), 1, true,
	 "H200 nobody|E|"},
	{"interim 100 and 103, then 200",
	 R("HTTP/1.1 100 Continue\r\n\r\n"
	   "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
	   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
	 0, false, "H100 nobody|H103 nobody|H200 len=2|Dok|E|"},
	{"101: END at once, the rest is the tunnel's",
	 R("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	   "\x81\x05hello"),
	 0, false, "H101 nobody upgrade close|E|"},
	{"204 and 304 with a Content-Length",
	 R("HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n"
	   "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"),
	 0, false, "H204 len=10 nobody|E|H304 len=5 nobody|E|"},
	{"pipelined, back to back",
	 R("HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc"
	   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n"
	   "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
	   "HTTP/1.1 503 Busy\r\nCONTENT-LENGTH:   2  \r\nConnection: x, Close\r\n\r\nzz"),
	 0, false, "H200 len=3|Dabc|E|H200 chunked|Dde|E|H404 len=0|E|H503 len=2 close|Dzz|E|"},
	{"HEAD between GETs",
	 R("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nab"
	   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
	   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\ncd"),
	 2, false, "H200 len=2|Dab|E|H200 len=2 nobody|E|H200 len=2|Dcd|E|"},
	{"the same length repeated, and as a list",
	 R("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\nContent-Length:5\r\n\r\nhello"), 0, false,
	 "H200 len=5|Dhello|E|"},
	{"the largest length", R("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n"),
	 1, false, "H200 len=18446744073709551615 nobody|E|"},
	{"codings over two lines, any case",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: , Chunked\r\n\r\n"
	   "1\r\nx\r\n0\r\n\r\n"),
	 0, false, "H200 chunked|Dx|E|"},
	{"HTTP/1.0 keep-alive",
	 R("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"), 0, false,
	 "H200 len=0 ka|E|"},
	{"HTTP/1.0 closes", R("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"), 0, false,
	 "H200 len=1 close|Dx|E|"},
	{"no reason phrase; a reason with HTAB and obs-text",
	 R("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"
	   "HTTP/1.1 299 O\tK \xe9\r\nX: \xff\t\r\nContent-Length: 0\r\n\r\n"),
	 0, false, "H200 len=0|E|H200 len=0|E|H299 len=0|E|"},
	{"NUL, CR and DEL in a body are just bytes",
	 R("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n\0\r\x7f"), 0, false,
	 "H200 len=3|D\\x00\\x0d\\x7f|E|"},
	/* Captured from the servers, Date and all. */
	{"nginx 1.22, a static file",
	 R("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 23:54:10 GMT\r\n"
	   "Content-Type: text/plain\r\nContent-Length: 11\r\n"
	   "Last-Modified: Mon, 07 Dec 2026 23:54:09 GMT\r\nConnection: keep-alive\r\n"
	   "ETag: \"6b174721-b\"\r\nAccept-Ranges: bytes\r\n\r\nhello file\n"),
	 0, false, "H200 len=11 ka|Dhello file\\x0a|E|"},
	{"nginx 1.22, gzip, chunked (its chunk shortened)",
	 R("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 23:54:11 GMT\r\n"
	   "Content-Type: text/plain\r\nLast-Modified: Mon, 07 Dec 2026 23:54:09 GMT\r\n"
	   "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n"
	   "ETag: W/\"6b174721-fd5\"\r\nContent-Encoding: gzip\r\n\r\n"
	   "5\r\n\x1f\x8b\x08\x00\x00\r\n0\r\n\r\n"),
	 0, false, "H200 chunked ka|D\\x1f\\x8b\\x08\\x00\\x00|E|"},
	{"nginx 1.22, return, 204, 304, HEAD",
	 R("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 23:54:13 GMT\r\n"
	   "Content-Type: text/plain\r\nContent-Length: 17\r\nConnection: keep-alive\r\n\r\n"
	   "hello from nginx\n"
	   "HTTP/1.1 204 No Content\r\nServer: nginx/1.22.1\r\n"
	   "Date: Mon, 07 Dec 2026 23:54:14 GMT\r\nConnection: keep-alive\r\n\r\n"
	   "HTTP/1.1 304 Not Modified\r\nServer: nginx/1.22.1\r\n"
	   "Date: Mon, 07 Dec 2026 23:54:25 GMT\r\n"
	   "Last-Modified: Mon, 07 Dec 2026 23:54:09 GMT\r\nConnection: keep-alive\r\n"
	   "ETag: \"6b174721-b\"\r\n\r\n"
	   "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 23:54:16 GMT\r\n"
	   "Content-Type: text/plain\r\nContent-Length: 11\r\n"
	   "Last-Modified: Mon, 07 Dec 2026 23:54:09 GMT\r\nConnection: keep-alive\r\n"
	   "ETag: \"6b174721-b\"\r\nAccept-Ranges: bytes\r\n\r\n"),
	 8, false,
	 "H200 len=17 ka|Dhello from nginx\\x0a|E|H204 nobody ka|E|H304 nobody ka|E|"
	 "H200 len=11 nobody ka|E|"},
	{"nginx 1.22, 404 and close",
	 R("HTTP/1.1 404 Not Found\r\nServer: nginx/1.22.1\r\nDate: Mon, 07 Dec 2026 23:54:16 "
	   "GMT\r\n"
	   "Content-Type: text/html\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"
	   "<html>\r\n<h"),
	 0, true, "H404 len=10 close|D<html>\\x0d\\x0a<h|E|"},
	{"Python 3.11 http.server: a file, HEAD, 404",
	 R("HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.7\r\n"
	   "Date: Mon, 07 Dec 2026 23:54:19 GMT\r\nContent-type: text/plain\r\n"
	   "Content-Length: 11\r\nLast-Modified: Mon, 07 Dec 2026 23:54:09 GMT\r\n\r\n"
	   "hello file\n"
	   "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.7\r\n"
	   "Date: Mon, 07 Dec 2026 23:54:19 GMT\r\nContent-type: text/plain\r\n"
	   "Content-Length: 11\r\nLast-Modified: Mon, 07 Dec 2026 23:54:09 GMT\r\n\r\n"
	   "HTTP/1.0 404 File not found\r\nServer: SimpleHTTP/0.6 Python/3.11.7\r\n"
	   "Date: Mon, 07 Dec 2026 23:54:19 GMT\r\nConnection: close\r\n"
	   "Content-Type: text/html;charset=utf-8\r\nContent-Length: 16\r\n\r\n"
	   "<!DOCTYPE HTML>\n"),
	 2, true,
	 "H200 len=11 close|Dhello file\\x0a|E|H200 len=11 nobody close|E|"
	 "H404 len=16 close|D<!DOCTYPE HTML>\\x0a|E|"},
	{"HAProxy 2.6: http-request return, and 503",
	 R("HTTP/1.1 200 OK\r\ncontent-length: 15\r\ncontent-type: text/plain\r\n\r\n"
	   "ok from haproxy"
	   "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 8\r\ncache-control: no-cache\r\n"
	   "content-type: text/html\r\n\r\n<html>\n\n"),
	 0, false, "H200 len=15|Dok from haproxy|E|H503 len=8|D<html>\\x0a\\x0a|E|"},
};

/* Every well-formed case's events, every way it can be cut, and the feed API agreeing. */
static void event_sequences(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
		const struct good *g = &goods[i];
		struct events *e;

		print_message("%s\n", g->what);
		e = events_all_ways(g->s, g->len, g->eof, g->head);
		assert_int_equal(e->error, 0);
		assert_string_equal(e->log, g->log);
	}
}

/* A 101's END consumes nothing after the head: the tunnel's bytes are the caller's. */
static void upgrade_stops_at_its_head(void **state)
{
	static const char r[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nGARBAGE";
	struct http_rparser p;
	enum http_rp_event ev;
	ssize_t n;

	(void)state;
	http_rparser_init(&p);
	n = http_rparse_event(&p, (const uint8_t *)r, sizeof(r) - 1, false, &ev);
	assert_int_equal(ev, HTTP_RP_HEAD);
	assert_int_equal(n, sizeof(r) - 1 - strlen("GARBAGE"));
	assert_true(p.upgrade && http_rparser_close(&p));
	n = http_rparse_event(&p, (const uint8_t *)r + n, strlen("GARBAGE"), false, &ev);
	assert_int_equal(ev, HTTP_RP_END);
	assert_int_equal(n, 0);
}

/* DATA again, consuming nothing, until the caller has taken the bytes; then END with 0. */
static void data_until_taken(void **state)
{
	static const char r[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	const uint8_t *b = (const uint8_t *)r;
	size_t head = sizeof(r) - 1 - 5;
	struct http_rparser p;
	enum http_rp_event ev;

	(void)state;
	http_rparser_init(&p);
	assert_int_equal(http_rparse_event(&p, b, sizeof(r) - 1, false, &ev), head);
	assert_int_equal(ev, HTTP_RP_HEAD);
	assert_int_equal(http_rparse_event(&p, b + head, 5, false, &ev), 0);
	assert_int_equal(ev, HTTP_RP_DATA);
	assert_int_equal(http_rparser_data_left(&p), 5);
	assert_int_equal(http_rparse_event(&p, b + head, 5, false, &ev), 0);
	assert_int_equal(ev, HTTP_RP_DATA);
	http_rparser_take_data(&p, 2);
	assert_int_equal(http_rparser_data_left(&p), 3);
	assert_int_equal(http_rparse_event(&p, b + head + 2, 0, false, &ev), 0);
	assert_int_equal(ev, HTTP_RP_DATA);
	http_rparser_take_data(&p, 3);
	assert_int_equal(http_rparser_data_left(&p), 0);
	assert_int_equal(http_rparse_event(&p, b + head + 5, 0, false, &ev), 0);
	assert_int_equal(ev, HTTP_RP_END);
	assert_int_equal(p.status, 200); /* still described until the next call */
	assert_int_equal(http_rparse_event(&p, b, 0, false, &ev), 0);
	assert_int_equal(ev, HTTP_RP_NONE);
}

/* Each rule refusing, through both APIs, every way the input can be cut. */
static const struct bad {
	const char *what;
	const char *s;
	size_t len;
	int error;
} bads[] = {
	/* The status line. */
	{"HTTP/2", R("HTTP/2.0 200 OK\r\n\r\n"), -EBADMSG},
	{"lower-case protocol", R("http/1.1 200 OK\r\n\r\n"), -EBADMSG},
	{"a letter for the minor", R("HTTP/1.x 200 OK\r\n\r\n"), -EBADMSG},
	{"two spaces", R("HTTP/1.1  200 OK\r\n\r\n"), -EBADMSG},
	{"a two-digit status", R("HTTP/1.1 20 OK\r\n\r\n"), -EBADMSG},
	{"a four-digit status", R("HTTP/1.1 2000 OK\r\n\r\n"), -EBADMSG},
	{"a status below 100", R("HTTP/1.1 099 OK\r\n\r\n"), -EBADMSG},
	{"no space before the reason", R("HTTP/1.1 200OK\r\n\r\n"), -EBADMSG},
	{"a control byte in the reason", R("HTTP/1.1 200 O\x01K\r\n\r\n"), -EBADMSG},
	{"a bare CR in the reason", R("HTTP/1.1 200 O\rK\r\n\r\n"), -EBADMSG},
	{"a bare CR after the status", R("HTTP/1.1 200\r\r\n\r\n"), -EBADMSG},
	{"an empty line first", R("\r\nHTTP/1.1 200 OK\r\n\r\n"), -EBADMSG},
	/* Field lines. */
	{"obs-fold", R("HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n"), -EBADMSG},
	{"obs-fold of a framing field", R("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\t5\r\n\r\n"),
	 -EBADMSG},
	{"obs-fold on the first line", R("HTTP/1.1 200 OK\r\n X: a\r\n\r\n"), -EBADMSG},
	{"no name", R("HTTP/1.1 200 OK\r\n: no name\r\n\r\n"), -EBADMSG},
	{"no colon", R("HTTP/1.1 200 OK\r\nno colon\r\n\r\n"), -EBADMSG},
	{"a space before the colon", R("HTTP/1.1 200 OK\r\nServer : x\r\n\r\n"), -EBADMSG},
	{"a space in the name", R("HTTP/1.1 200 OK\r\nX Y: z\r\n\r\n"), -EBADMSG},
	{"a delimiter in the name", R("HTTP/1.1 200 OK\r\nX(Y): z\r\n\r\n"), -EBADMSG},
	{"NUL in a name", R("HTTP/1.1 200 OK\r\nX\0Y: z\r\n\r\n"), -EBADMSG},
	{"NUL in a value", R("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n"), -EBADMSG},
	{"NUL in a framing value", R("HTTP/1.1 200 OK\r\nContent-Length: 1\0\r\n\r\n"), -EBADMSG},
	{"a bare CR in a value", R("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"), -EBADMSG},
	{"CR CR LF", R("HTTP/1.1 200 OK\r\nX: a\r\r\n\r\n"), -EBADMSG},
	{"a bare CR as a line", R("HTTP/1.1 200 OK\r\n\rX"), -EBADMSG},
	{"a control byte in a value", R("HTTP/1.1 200 OK\r\nX: a\x1b[0m\r\n\r\n"), -EBADMSG},
	{"DEL in a value", R("HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n"), -EBADMSG},
	{"a vertical tab in Connection", R("HTTP/1.1 200 OK\r\nConnection: \x0b\r\n\r\n"),
	 -EBADMSG},
	/* Content-Length. */
	{"not a number", R("HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n"), -EBADMSG},
	{"empty", R("HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n"), -EBADMSG},
	{"a sign", R("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n"), -EBADMSG},
	{"negative", R("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), -EBADMSG},
	{"hex", R("HTTP/1.1 200 OK\r\nContent-Length: 0x5\r\n\r\n"), -EBADMSG},
	{"two numbers", R("HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\n"), -EBADMSG},
	{"repeated, different",
	 R("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), -EBADMSG},
	{"a list, different", R("HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n"), -EBADMSG},
	{"a list with an empty element", R("HTTP/1.1 200 OK\r\nContent-Length: 5,\r\n\r\n"),
	 -EBADMSG},
	{"overflowing", R("HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n"),
	 -EBADMSG},
	{"far overflowing", R("HTTP/1.1 200 OK\r\nContent-Length: 9999999999999999999999\r\n\r\n"),
	 -EBADMSG},
	/* Transfer-Encoding. */
	{"with Content-Length",
	 R("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), -EBADMSG},
	{"with Content-Length after",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), -EBADMSG},
	{"with Content-Length, not chunked",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n"), -EBADMSG},
	{"chunked twice", R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
	 -EBADMSG},
	{"chunked twice over two lines",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
	 -EBADMSG},
	{"no coding", R("HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\n"), -EBADMSG},
	{"only commas", R("HTTP/1.1 200 OK\r\nTransfer-Encoding: , ,\r\n\r\n"), -EBADMSG},
	{"a quoted parameter", R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;q=\"1\"\r\n\r\n"),
	 -EBADMSG},
	{"not a token", R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chun/ked\r\n\r\n"), -EBADMSG},
	{"an element too long to judge",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked                    ;x=y\r\n\r\n"),
	 -EBADMSG},
	{"in HTTP/1.0", R("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
	 -EBADMSG},
	/* Chunks. */
	{"a size that is not hex", R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
	 -EBADMSG},
	{"no size", R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n"), -EBADMSG},
	{"a signed size", R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n"),
	 -EBADMSG},
	{"a size over 2^60",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n"), -EBADMSG},
	{"data longer than the size",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n"), -EBADMSG},
	{"no line end after the data",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\r\n"), -EBADMSG},
	{"BWS and nothing", R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\n"),
	 -EBADMSG},
	{"no extension name", R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\n"),
	 -EBADMSG},
	{"no extension name before =",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;=x\r\n"), -EBADMSG},
	{"no extension value", R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\r\n"),
	 -EBADMSG},
	{"two extension names", R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a b\r\n"),
	 -EBADMSG},
	{"two extension values",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b c\r\n"), -EBADMSG},
	{"an open quote", R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\r\n"),
	 -EBADMSG},
	{"text after a quote",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"b\"c\r\n"), -EBADMSG},
	{"a control byte in a quote",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"\x01\"\r\n"), -EBADMSG},
	{"a bare CR in an extension",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\rb\r\n"), -EBADMSG},
	{"a delimiter for a name",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;@\r\n"), -EBADMSG},
	{"a trailer without a colon",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX y\r\n\r\n"), -EBADMSG},
	{"a trailer folded",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n z\r\n\r\n"),
	 -EBADMSG},
	{"NUL in a trailer",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: \0\r\n\r\n"), -EBADMSG},
	{"a bare CR ending the trailers",
	 R("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\rX"), -EBADMSG},
};

static void validation_refuses(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
		const struct bad *b = &bads[i];
		struct events *e;

		print_message("%s\n", b->what);
		e = events_all_ways(b->s, b->len, false, 0);
		assert_int_equal(e->error, b->error);
		/* Nothing of it was reported as a whole response. */
		assert_int_equal(e->ends, 0);
	}
}

/* An error stays until init: the next call returns it, whatever it is given. */
static void errors_are_sticky(void **state)
{
	static const char bad[] =
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
	static const char good[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	struct http_rparser p;
	enum http_rp_event ev;
	size_t used;

	(void)state;
	http_rparser_init(&p);
	assert_int_equal(http_rparse_event(&p, (const uint8_t *)bad, sizeof(bad) - 1, false, &ev),
			 -EBADMSG);
	assert_int_equal(http_rparse_event(&p, (const uint8_t *)good, sizeof(good) - 1, false, &ev),
			 -EBADMSG);
	assert_int_equal(
		http_rparser_feed(&p, (const uint8_t *)good, sizeof(good) - 1, false, &used),
		-EBADMSG);
	assert_int_equal(http_rparser_data_left(&p), 0);
	http_rparser_init(&p);
	assert_int_equal(
		http_rparser_feed(&p, (const uint8_t *)good, sizeof(good) - 1, false, &used),
		HTTP_RP_DONE);
	assert_int_equal(used, sizeof(good) - 1);
}

/* ---- the feed API's own cases (ringer-load's) --------------------------------------------- */

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
	/* Tokens, not substrings: "closed" and "not-close" are not close. */
	o = feed_all_ways("HTTP/1.1 200 OK\r\nConnection: closed, not-close\r\nContent-Length: "
			  "0\r\n\r\n",
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
	assert_true(o.close[0]);
	/* A body cut short by EOF is an error. */
	o = feed_all_ways("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true);
	assert_int_equal(o.error, -EPIPE);
	/* So is a head cut short, or the final head owed after an interim one. */
	o = feed_all_ways("HTTP/1.1 200 OK\r\nContent-", true);
	assert_int_equal(o.error, -EPIPE);
	o = feed_all_ways("HTTP/1.1 100 Continue\r\n\r\n", true);
	assert_int_equal(o.error, -EPIPE);
	/* EOF between responses is not. */
	o = feed_all_ways("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true);
	assert_int_equal(o.error, 0);
	assert_int_equal(o.responses, 1);
}

/* The event API's EOF: a pending END, a close-delimited body, a response cut short. */
static void event_eof(void **state)
{
	static const char cl0[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	static const char eof[] = "HTTP/1.1 200 OK\r\n\r\nbody";
	struct http_rparser p;
	enum http_rp_event ev;

	(void)state;
	http_rparser_init(&p);
	assert_int_equal(http_rparser_eof(&p), 0);
	/* The head reported, its END not yet: the close ends it. */
	assert_int_equal(http_rparse_event(&p, (const uint8_t *)cl0, sizeof(cl0) - 1, false, &ev),
			 sizeof(cl0) - 1);
	assert_int_equal(ev, HTTP_RP_HEAD);
	assert_int_equal(http_rparser_eof(&p), HTTP_RP_DONE);
	assert_int_equal(http_rparser_eof(&p), 0);
	http_rparser_init(&p);
	assert_int_equal(http_rparse_event(&p, (const uint8_t *)eof, sizeof(eof) - 1, false, &ev),
			 sizeof(eof) - 1 - 4);
	assert_true(p.until_eof);
	assert_int_equal(http_rparse_event(&p, (const uint8_t *)eof, 0, false, &ev), 0);
	assert_int_equal(ev, HTTP_RP_DATA);
	assert_int_equal(http_rparser_data_left(&p), UINT64_MAX);
	http_rparser_take_data(&p, 4);
	assert_int_equal(http_rparser_data_left(&p), UINT64_MAX);
	assert_int_equal(http_rparser_eof(&p), HTTP_RP_DONE);
	http_rparser_init(&p);
	assert_int_equal(http_rparse_event(&p, (const uint8_t *)cl0, 10, false, &ev), 10);
	assert_int_equal(ev, HTTP_RP_NONE);
	assert_int_equal(http_rparser_eof(&p), -EPIPE);
}

/* A head with one field line of n value bytes. */
static const char *long_line(size_t n, const char *rest)
{
	static char big[HTTP_RP_LINE_MAX + 64];
	size_t at = strlen("HTTP/1.1 200 OK\r\nX: ");

	assert_true(at + n + strlen(rest) < sizeof(big));
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", at);
	memset(big + at, 'a', n);
	strcpy(big + at + n, rest);
	return big;
}

static void oversized_head(void **state)
{
	const char *s = long_line(HTTP_RP_LINE_MAX, "\r\n\r\n");
	struct outcome o;

	(void)state;
	o = feed_head(s, strlen(s), 0, false, 0);
	assert_int_equal(o.error, -EMSGSIZE);
	o = feed_head(s, strlen(s), 1000, false, 0);
	assert_int_equal(o.error, -EMSGSIZE);
	/* A line exactly at the limit (CR counted, LF not) passes, one byte over does not. */
	s = long_line(HTTP_RP_LINE_MAX - 4, "\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(events_all_ways(s, strlen(s), false, 0)->error, 0);
	s = long_line(HTTP_RP_LINE_MAX - 3, "\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(events_all_ways(s, strlen(s), false, 0)->error, -EMSGSIZE);
}

/* The head and the trailer section each count against HTTP_RP_HEAD_MAX. */
static void oversized_sections(void **state)
{
	static const char *const starts[] = {
		"HTTP/1.1 200 OK\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n",
	};
	size_t cap = HTTP_RP_HEAD_MAX + 2 * HTTP_RP_LINE_MAX;
	char *s = malloc(cap);

	(void)state;
	assert_non_null(s);
	for (size_t k = 0; k < 2; k++) {
		size_t len = strlen(starts[k]);
		struct outcome o;

		memcpy(s, starts[k], len);
		while (len < HTTP_RP_HEAD_MAX + 100) {
			memcpy(s + len, "X: ", 3);
			memset(s + len + 3, 'v', 4000);
			memcpy(s + len + 4003, "\r\n", 2);
			len += 4005;
		}
		memcpy(s + len, "\r\n", 2);
		len += 2;
		o = feed_head(s, len, 0, false, 0);
		assert_int_equal(o.error, -EMSGSIZE);
		o = feed_head(s, len, 777, false, 0);
		assert_int_equal(o.error, -EMSGSIZE);
	}
	/* Each has a budget of its own: a head and trailers of 40 KiB each pass. */
	{
		static const char mid[] = "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n";
		size_t len = 17;

		memcpy(s, "HTTP/1.1 200 OK\r\n", 17);
		for (int k = 0; k < 2; k++) {
			for (int l = 0; l < 10; l++) {
				memcpy(s + len, "X: ", 3);
				memset(s + len + 3, 'v', 4000);
				memcpy(s + len + 4003, "\r\n", 2);
				len += 4005;
			}
			if (!k) {
				memcpy(s + len, mid, sizeof(mid) - 1);
				len += sizeof(mid) - 1;
			}
		}
		memcpy(s + len, "\r\n", 2);
		len += 2;
		assert_int_equal(feed_head(s, len, 0, false, 0).error, 0);
		assert_int_equal(feed_head(s, len, 0, false, 0).responses, 1);
		assert_int_equal(feed_head(s, len, 999, false, 0).error, 0);
	}
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(event_sequences),
		cmocka_unit_test(upgrade_stops_at_its_head),
		cmocka_unit_test(data_until_taken),
		cmocka_unit_test(validation_refuses),
		cmocka_unit_test(errors_are_sticky),
		cmocka_unit_test(content_length),
		cmocka_unit_test(pipelined_responses_end_where_they_end),
		cmocka_unit_test(chunked_with_extensions_and_trailers),
		cmocka_unit_test(no_body_statuses_and_interim_responses),
		cmocka_unit_test(head_responses_have_no_body),
		cmocka_unit_test(connection_close_and_http10),
		cmocka_unit_test(body_until_eof),
		cmocka_unit_test(event_eof),
		cmocka_unit_test(oversized_head),
		cmocka_unit_test(oversized_sections),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
