// SPDX-License-Identifier: MIT
/*
 * ringer-load's HTTP response parser (src/load/http_client.c) on any bytes:
 * no read outside the piece it is given, never more used than given, and
 * the same responses and verdict whether the input comes whole, a byte at
 * a time, or in pieces of sizes drawn from the input; the end of the
 * connection then ends it the same way too. Every third response is read
 * as the answer to a HEAD request (no body whatever its headers say). With
 * a memo of the last head (fresh, or warm from earlier inputs) every result
 * is the same as without.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "http_client.h"

#define MAX_RESPS 256

struct outcome {
	unsigned n;
	uint16_t status[MAX_RESPS];
	bool close[MAX_RESPS];
	int err; /* 0, or the negative error that ended the input */
	int eof; /* http_resp_eof() after the last byte, when no error came first */
};

static void run(const uint8_t *data, size_t size,
		size_t (*piece)(const uint8_t *, size_t, unsigned), struct http_resp_memo *memo,
		struct outcome *o)
{
	struct http_resp p;
	size_t off = 0;
	unsigned i = 0;

	memset(o, 0, sizeof(*o));
	http_resp_init(&p);
	while (off < size && !o->err) {
		size_t len = piece(data, size, i++), pos = 0;
		uint8_t *buf;

		if (!len || len > size - off)
			len = size - off;
		buf = malloc(len);
		FUZZ_CHECK(buf);
		memcpy(buf, data + off, len);
		while (pos < len) {
			size_t used = SIZE_MAX;
			/* Every third response answers a HEAD: the same in every split. */
			int r = http_resp_feed_memo(&p, memo, buf + pos, len - pos, o->n % 3 == 2,
						    &used);

			if (r < 0) {
				FUZZ_CHECK(r == -EBADMSG || r == -EMSGSIZE);
				o->err = r;
				break;
			}
			FUZZ_CHECK(used <= len - pos);
			if (r == HTTP_RESP_MORE) {
				FUZZ_CHECK(used == len - pos);
				break;
			}
			FUZZ_CHECK(r == HTTP_RESP_DONE);
			FUZZ_CHECK(p.status >= 100 && p.status <= 999);
			if (o->n < MAX_RESPS) {
				o->status[o->n] = p.status;
				o->close[o->n] = http_resp_close(&p);
			}
			o->n++;
			pos += used;
		}
		free(buf);
		off += len;
	}
	if (!o->err) {
		o->eof = http_resp_eof(&p);
		FUZZ_CHECK(o->eof == 0 || o->eof == HTTP_RESP_DONE || o->eof == -EPIPE);
	}
}

static void same(const struct outcome *a, const struct outcome *b)
{
	FUZZ_CHECK(a->n == b->n);
	for (unsigned i = 0; i < a->n && i < MAX_RESPS; i++) {
		FUZZ_CHECK(a->status[i] == b->status[i]);
		FUZZ_CHECK(a->close[i] == b->close[i]);
	}
	FUZZ_CHECK(a->err == b->err);
	FUZZ_CHECK(a->eof == b->eof);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct outcome a, b;
	/* warm: whatever earlier inputs left in it; the memo never changes a result. */
	static struct http_resp_memo warm;
	struct http_resp_memo fresh;

	run(data, size, fuzz_whole, NULL, &a);
	run(data, size, fuzz_drawn, NULL, &b);
	same(&a, &b);
	http_resp_memo_init(&fresh);
	run(data, size, fuzz_whole, &fresh, &b);
	same(&a, &b);
	run(data, size, fuzz_drawn, &fresh, &b);
	same(&a, &b);
	run(data, size, fuzz_drawn, &warm, &b);
	same(&a, &b);
	if (size <= 4096) {
		run(data, size, fuzz_bytewise, NULL, &b);
		same(&a, &b);
	}
	return 0;
}
