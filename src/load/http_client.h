/* SPDX-License-Identifier: MIT */
#ifndef RINGER_HTTP_CLIENT_H
#define RINGER_HTTP_CLIENT_H

/*
 * A streaming HTTP/1.x response parser for the load generator: feed it the
 * bytes as they arrive, in pieces of any size, and it says where each
 * response ends. It never allocates and never rescans: every byte is looked
 * at once, body bytes are skipped in bulk, and the little it must remember
 * across pieces (a header name, a short value) lives in the struct.
 *
 * Framing follows RFC 9112 section 6.3: 1xx responses are skipped; a
 * response to HEAD, a 204 and a 304 have no body whatever their headers
 * say; then Transfer-Encoding: chunked, then Content-Length, else the body
 * runs to the end of the connection. Only the caller knows which request a
 * response answers, so it says at each call whether that is a HEAD.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_RESP_LINE_MAX  8192  /* one status or header line */
#define HTTP_RESP_HEAD_MAX  65536 /* the whole head */
#define HTTP_RESP_NAME_MAX  20	  /* longest header name we care about, plus slack */
#define HTTP_RESP_VALUE_MAX 64

enum http_resp_result {
	HTTP_RESP_MORE = 0, /* all input used, the response is not complete yet */
	HTTP_RESP_DONE = 1, /* a response ended; *used says where */
};

struct http_resp {
	uint8_t state;
	uint8_t hdr; /* which header the current line is (enum in http_client.c) */
	uint8_t name_len;
	uint8_t value_len;
	uint16_t status;
	uint8_t minor; /* HTTP/1.minor */
	bool chunked;
	bool has_length;
	bool conn_close;
	bool conn_keep_alive;
	bool until_eof; /* body delimited by the end of the connection */
	bool head;	/* the response being parsed answers a HEAD (set by each feed) */
	uint32_t line_len;
	uint32_t head_len;
	uint64_t remaining; /* body or chunk bytes still to skip */
	char name[HTTP_RESP_NAME_MAX];
	char value[HTTP_RESP_VALUE_MAX];
};

void http_resp_init(struct http_resp *p);

/*
 * Parses buf[0..len). head: the response in progress (the next one to end)
 * answers a HEAD request, so it ends with its head. A call returns at most
 * one response, so the caller passes the flag of the request the next
 * response answers and moves on after each DONE. Returns HTTP_RESP_DONE
 * when a response ended after *used bytes (status and http_resp_close()
 * describe it until the next call, which starts the next response),
 * HTTP_RESP_MORE when all of buf was used, or -EBADMSG for a malformed
 * response, -EMSGSIZE for an oversized head.
 */
int http_resp_feed(struct http_resp *p, const uint8_t *buf, size_t len, bool head, size_t *used);

/*
 * A memo of the last response head parsed whole out of one piece. Servers
 * answer a benchmark with the same head over and over (all but the Date,
 * which turns once a second), and the parser's state after a head is a
 * function of the head's bytes and of whether it answers a HEAD. So a
 * response whose first bytes equal the memo's head takes the memo's state
 * after one memcmp instead of a byte-by-byte walk; anything else is parsed
 * as usual and becomes the memo. One memo serves every connection of a
 * thread.
 */
#define HTTP_RESP_MEMO_MAX 256

struct http_resp_memo {
	uint32_t len; /* bytes of the head; 0: empty */
	bool head;
	struct http_resp after; /* the parser just after the head */
	uint8_t bytes[HTTP_RESP_MEMO_MAX];
};

static inline void http_resp_memo_init(struct http_resp_memo *m)
{
	m->len = 0;
}

/* http_resp_feed() with a memo (NULL: none); the results are the same with or without. */
int http_resp_feed_memo(struct http_resp *p, struct http_resp_memo *m, const uint8_t *buf,
			size_t len, bool head, size_t *used);

/*
 * The peer closed the connection. Returns HTTP_RESP_DONE when that ends a
 * body delimited by the close, 0 when no response was in progress, and
 * -EPIPE when a response was cut short.
 */
int http_resp_eof(struct http_resp *p);

/* After DONE: the server will close the connection after this response. */
bool http_resp_close(const struct http_resp *p);

#endif
