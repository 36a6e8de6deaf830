// SPDX-License-Identifier: MIT
/*
 * The HTTP request parser (src/proto/http_parser.c) on any bytes:
 *
 *  - nothing it does reads outside the buffer it is given (the sanitizers
 *    watch every byte), it never consumes more than it was given, and a
 *    path it reports lies inside that buffer;
 *  - it resumes at any byte: the input fed whole, one byte at a time, and
 *    in pieces of sizes drawn from the input itself, yields the same
 *    requests and the same verdict. Where the input is both over a limit
 *    and malformed past it, the error may be either (http_parser.h says
 *    so); anything else must match exactly;
 *  - http_parse_event() (--echo-body's parser) agrees with http_parse() on
 *    the requests and the verdict, reports a head before every request
 *    with a body, and its data adds up to each Content-Length.
 */
#include <string.h>

#include "fuzz.h"
#include "http_parser.h"

#define MAX_REQS 256

struct outcome {
	unsigned n;
	struct http_request req[MAX_REQS];
	ssize_t err; /* 0, or the negative error that ended the input */
};

static bool limit_error(ssize_t err)
{
	return err == -HTTP_ERR_LINE_TOO_LONG || err == -HTTP_ERR_TOO_MANY_HEADERS ||
	       err == -HTTP_ERR_HEADERS_TOO_LARGE || err == -HTTP_ERR_BAD_CHUNK;
}

/* Feeds data in pieces: piece(i) gives the size of the i-th (0: the rest). */
static void run(const uint8_t *data, size_t size,
		size_t (*piece)(const uint8_t *, size_t, unsigned), struct outcome *o)
{
	struct http_parser p;
	size_t off = 0;
	unsigned i = 0;

	memset(o, 0, sizeof(*o));
	http_parser_init(&p);
	while (off < size && !o->err) {
		size_t len = piece(data, size, i++), pos = 0;
		char *buf;

		if (!len || len > size - off)
			len = size - off;
		/* A piece of its own, exactly its size: a read past it is caught. */
		buf = malloc(len);
		FUZZ_CHECK(buf);
		memcpy(buf, data + off, len);
		while (pos < len) {
			struct http_request q;
			ssize_t n = http_parse(&p, buf + pos, len - pos, &q);

			if (n < 0) {
				o->err = n;
				FUZZ_CHECK(n > -HTTP_ERR_COUNT);
				FUZZ_CHECK(http_error_status((enum http_error) - n) >= 400);
				/* Sticky until init. */
				FUZZ_CHECK(http_parse(&p, buf, len, &q) == n);
				break;
			}
			if (n == 0)
				break;
			FUZZ_CHECK((size_t)n <= len - pos);
			FUZZ_CHECK(http_parser_idle(&p));
			if (q.path) {
				FUZZ_CHECK(q.path >= buf + pos &&
					   q.path + q.path_len <= buf + pos + n);
				FUZZ_CHECK(q.path_len > 0 && q.path_len < HTTP_MAX_REQUEST_LINE);
			}
			FUZZ_CHECK(q.method <= HTTP_METHOD_OTHER && q.minor <= 1);
			if (o->n < MAX_REQS)
				o->req[o->n] = q;
			o->n++;
			pos += (size_t)n;
		}
		free(buf);
		off += len;
	}
}

/* The same through http_parse_event(), body data passed over as each piece has it. */
static void run_events(const uint8_t *data, size_t size,
		       size_t (*piece)(const uint8_t *, size_t, unsigned), struct outcome *o)
{
	struct http_parser p;
	struct http_request head = {0};
	uint64_t body = 0;
	bool in_body = false;
	size_t off = 0;
	unsigned i = 0;

	memset(o, 0, sizeof(*o));
	http_parser_init(&p);
	while (off < size && !o->err) {
		size_t len = piece(data, size, i++), pos = 0;
		char *buf;

		if (!len || len > size - off)
			len = size - off;
		buf = malloc(len);
		FUZZ_CHECK(buf);
		memcpy(buf, data + off, len);
		for (;;) {
			struct http_request q;
			enum http_event ev;
			ssize_t n = http_parse_event(&p, buf + pos, len - pos, &q, &ev);
			uint64_t take;

			if (n < 0) {
				o->err = n;
				FUZZ_CHECK(http_parse_event(&p, buf, len, &q, &ev) == n);
				break;
			}
			FUZZ_CHECK((size_t)n <= len - pos);
			pos += (size_t)n;
			if (ev == HTTP_EV_NONE) {
				FUZZ_CHECK(pos == len);
				break;
			}
			if (ev == HTTP_EV_HEAD) {
				FUZZ_CHECK(!in_body && q.has_body);
				head = q;
				in_body = true;
				body = 0;
				continue;
			}
			if (ev == HTTP_EV_DATA) {
				FUZZ_CHECK(in_body && http_parser_data_left(&p) > 0);
				take = len - pos;
				if (take > http_parser_data_left(&p))
					take = http_parser_data_left(&p);
				http_parser_take_data(&p, take);
				pos += (size_t)take;
				body += take;
				if (!take)
					break;
				continue;
			}
			FUZZ_CHECK(ev == HTTP_EV_END ? in_body : !in_body);
			FUZZ_CHECK(http_parser_idle(&p));
			if (ev == HTTP_EV_END) {
				FUZZ_CHECK(q.content_length == head.content_length &&
					   q.chunked == head.chunked && q.method == head.method);
				FUZZ_CHECK(q.chunked || body == q.content_length);
			}
			if (o->n < MAX_REQS)
				o->req[o->n] = q;
			o->n++;
			in_body = false;
		}
		free(buf);
		off += len;
	}
}

static void same(const struct outcome *a, const struct outcome *b)
{
	FUZZ_CHECK(a->n == b->n);
	for (unsigned i = 0; i < a->n && i < MAX_REQS; i++) {
		FUZZ_CHECK(a->req[i].method == b->req[i].method);
		FUZZ_CHECK(a->req[i].minor == b->req[i].minor);
		FUZZ_CHECK(a->req[i].keep_alive == b->req[i].keep_alive);
		FUZZ_CHECK(a->req[i].chunked == b->req[i].chunked);
		FUZZ_CHECK(a->req[i].content_length == b->req[i].content_length);
		FUZZ_CHECK(a->req[i].has_body == b->req[i].has_body);
		FUZZ_CHECK(a->req[i].expect_continue == b->req[i].expect_continue);
	}
	FUZZ_CHECK(!a->err == !b->err);
	FUZZ_CHECK(a->err == b->err || (limit_error(a->err) || limit_error(b->err)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct outcome a, b;

	run(data, size, fuzz_whole, &a);
	run(data, size, fuzz_drawn, &b);
	same(&a, &b);
	if (size <= 4096) {
		run(data, size, fuzz_bytewise, &b);
		same(&a, &b);
	}
	run_events(data, size, fuzz_drawn, &b);
	same(&a, &b);
	return 0;
}
