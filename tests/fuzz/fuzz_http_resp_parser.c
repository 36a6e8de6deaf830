// SPDX-License-Identifier: MIT
/*
 * The HTTP response parser (src/proto/http_resp_parser.c) on any bytes,
 * through both of its APIs: no read outside the piece it is given, never
 * more consumed than given, and the same responses ending at the same bytes
 * with the same verdict whether the input comes whole, a byte at a time, or
 * in pieces of sizes drawn from the input; the end of the connection then
 * ends it the same way too. Every third response is read as the answer to a
 * HEAD request (no body whatever its headers say). With a memo of the last
 * head (fresh, or warm from earlier inputs) every feed result is the same
 * as without. The event API must agree with the feed API on where each
 * response ends, and its events must make sense: DATA only after a final
 * head, exactly Content-Length bytes of it, END only after a final head.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "http_resp_parser.h"

#define MAX_RESPS 256

struct outcome {
	unsigned n;
	uint16_t status[MAX_RESPS];
	bool close[MAX_RESPS];
	size_t end[MAX_RESPS]; /* offset just past each response */
	int err;	       /* 0, or the negative error that ended the input */
	int eof;       /* http_rparser_eof() after the last byte, when no error came first */
	bool upgraded; /* a 101 ended the HTTP part of the input */
};

static void got(struct outcome *o, const struct http_rparser *p, size_t end)
{
	FUZZ_CHECK(p->status >= 100 && p->status <= 999);
	if (o->n < MAX_RESPS) {
		o->status[o->n] = p->status;
		o->close[o->n] = http_rparser_close(p);
		o->end[o->n] = end;
	}
	o->n++;
}

static uint8_t *piece_copy(const uint8_t *data, size_t len)
{
	uint8_t *buf = malloc(len ? len : 1);

	FUZZ_CHECK(buf);
	memcpy(buf, data, len);
	return buf;
}

static void feed(const uint8_t *data, size_t size,
		 size_t (*piece)(const uint8_t *, size_t, unsigned), struct http_rparser_memo *memo,
		 struct outcome *o)
{
	struct http_rparser p;
	size_t off = 0;
	unsigned i = 0;

	memset(o, 0, sizeof(*o));
	http_rparser_init(&p);
	while (off < size && !o->err && !o->upgraded) {
		size_t len = piece(data, size, i++), pos = 0;
		uint8_t *buf;

		if (!len || len > size - off)
			len = size - off;
		buf = piece_copy(data + off, len);
		while (pos < len) {
			size_t used = SIZE_MAX;
			/* Every third response answers a HEAD: the same in every split. */
			int r = http_rparser_feed_memo(&p, memo, buf + pos, len - pos,
						       o->n % 3 == 2, &used);

			if (r < 0) {
				FUZZ_CHECK(r == -EBADMSG || r == -EMSGSIZE);
				o->err = r;
				break;
			}
			FUZZ_CHECK(used <= len - pos);
			if (r == HTTP_RP_MORE) {
				FUZZ_CHECK(used == len - pos);
				break;
			}
			FUZZ_CHECK(r == HTTP_RP_DONE);
			pos += used;
			got(o, &p, off + pos);
			if (p.upgrade) {
				o->upgraded = true;
				break;
			}
		}
		free(buf);
		off += len;
	}
	if (!o->err && !o->upgraded) {
		o->eof = http_rparser_eof(&p);
		FUZZ_CHECK(o->eof == 0 || o->eof == HTTP_RP_DONE || o->eof == -EPIPE);
		if (o->eof == HTTP_RP_DONE)
			got(o, &p, size);
	}
}

/* The event API over the same input: see the calling convention in the header. */
static void events(const uint8_t *data, size_t size,
		   size_t (*piece)(const uint8_t *, size_t, unsigned), struct outcome *o)
{
	struct http_rparser p;
	size_t off = 0;
	unsigned i = 0;
	bool final = false; /* a final head was reported and its END not yet */
	uint64_t body = 0;  /* data bytes of the current response */

	memset(o, 0, sizeof(*o));
	http_rparser_init(&p);
	while (off < size && !o->err && !o->upgraded) {
		size_t len = piece(data, size, i++), pos = 0;
		uint8_t *buf;

		if (!len || len > size - off)
			len = size - off;
		buf = piece_copy(data + off, len);
		for (;;) {
			enum http_rp_event ev;
			ssize_t n = http_rparse_event(&p, buf + pos, len - pos, o->n % 3 == 2, &ev);
			uint64_t left;

			if (n < 0) {
				FUZZ_CHECK(n == -EBADMSG || n == -EMSGSIZE);
				o->err = (int)n;
				break;
			}
			FUZZ_CHECK((size_t)n <= len - pos);
			pos += (size_t)n;
			if (ev == HTTP_RP_NONE) {
				FUZZ_CHECK(pos == len);
				break;
			}
			if (ev == HTTP_RP_HEAD) {
				FUZZ_CHECK(!final);
				FUZZ_CHECK(p.status >= 100 && p.status <= 999);
				/* At most one framing; none for a body-less response. */
				FUZZ_CHECK(p.chunked + p.until_eof <= 1);
				FUZZ_CHECK(!p.no_body || !p.until_eof);
				FUZZ_CHECK(p.upgrade == (p.status == 101));
				FUZZ_CHECK(p.status >= 200 || p.no_body);
				final = p.status >= 200 || p.status == 101;
				body = 0;
				continue;
			}
			FUZZ_CHECK(final);
			if (ev == HTTP_RP_DATA) {
				FUZZ_CHECK(!p.no_body);
				left = http_rparser_data_left(&p);
				FUZZ_CHECK(left > 0);
				FUZZ_CHECK(!p.until_eof || left == UINT64_MAX);
				if (left > len - pos)
					left = len - pos;
				if (!left)
					break;
				http_rparser_take_data(&p, left);
				pos += (size_t)left;
				body += left;
				continue;
			}
			FUZZ_CHECK(ev == HTTP_RP_END);
			FUZZ_CHECK(!p.until_eof);
			FUZZ_CHECK(!p.no_body || body == 0);
			FUZZ_CHECK(p.no_body || !p.has_length || p.chunked || body == p.length);
			final = false;
			got(o, &p, off + pos);
			if (p.upgrade) {
				o->upgraded = true;
				break;
			}
		}
		free(buf);
		off += len;
	}
	if (!o->err && !o->upgraded) {
		o->eof = http_rparser_eof(&p);
		FUZZ_CHECK(o->eof == 0 || o->eof == HTTP_RP_DONE || o->eof == -EPIPE);
		FUZZ_CHECK(o->eof != HTTP_RP_DONE || final);
		if (o->eof == HTTP_RP_DONE)
			got(o, &p, size);
	}
}

static void same(const struct outcome *a, const struct outcome *b)
{
	FUZZ_CHECK(a->n == b->n);
	for (unsigned i = 0; i < a->n && i < MAX_RESPS; i++) {
		FUZZ_CHECK(a->status[i] == b->status[i]);
		FUZZ_CHECK(a->close[i] == b->close[i]);
		FUZZ_CHECK(a->end[i] == b->end[i]);
	}
	FUZZ_CHECK(a->err == b->err);
	FUZZ_CHECK(a->eof == b->eof);
	FUZZ_CHECK(a->upgraded == b->upgraded);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct outcome a, b;
	/* warm: whatever earlier inputs left in it; the memo never changes a result. */
	static struct http_rparser_memo warm;
	struct http_rparser_memo fresh;

	feed(data, size, fuzz_whole, NULL, &a);
	feed(data, size, fuzz_drawn, NULL, &b);
	same(&a, &b);
	http_rparser_memo_init(&fresh);
	feed(data, size, fuzz_whole, &fresh, &b);
	same(&a, &b);
	feed(data, size, fuzz_drawn, &fresh, &b);
	same(&a, &b);
	feed(data, size, fuzz_drawn, &warm, &b);
	same(&a, &b);
	events(data, size, fuzz_whole, &b);
	same(&a, &b);
	events(data, size, fuzz_drawn, &b);
	same(&a, &b);
	if (size <= 4096) {
		feed(data, size, fuzz_bytewise, NULL, &b);
		same(&a, &b);
		events(data, size, fuzz_bytewise, &b);
		same(&a, &b);
	}
	return 0;
}
