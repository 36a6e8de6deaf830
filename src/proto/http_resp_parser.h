/* SPDX-License-Identifier: MIT */
#ifndef RINGER_HTTP_RESP_PARSER_H
#define RINGER_HTTP_RESP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A streaming HTTP/1.x RESPONSE parser, shared by the load generator (which
 * only needs to know where each response ends) and the HTTP proxy (which
 * forwards what it parses, so it needs the head's framing and the body's
 * bytes). Pure: it never allocates and never rescans, resumes at any byte,
 * and all it remembers between buffers is struct http_rparser. Body bytes
 * are passed over in bulk, never looked at.
 *
 * Only the caller knows which request a response answers, so each call says
 * whether that request was a HEAD (its response has no body, whatever its
 * headers say). Two ways to drive the one state machine:
 *
 *   The feed API (ringer-load): http_rparser_feed() consumes bytes until a
 *   response ends, skipping interim 1xx heads and the body itself:
 *
 *	while (len) {
 *		size_t used;
 *		int r = http_rparser_feed(&p, buf, len, head_req, &used);
 *		if (r < 0)
 *			malformed (-EBADMSG) or oversized head (-EMSGSIZE): close;
 *		buf += used, len -= used;
 *		if (r == HTTP_RP_DONE)
 *			one response ended: p.status, http_rparser_close(&p);
 *	}
 *
 *   The event API (the proxy): http_rparse_event() stops at each event and
 *   returns the bytes consumed up to it (see enum http_rp_event):
 *
 *	for (;;) {
 *		enum http_rp_event ev;
 *		ssize_t n = http_rparse_event(&p, buf, len, head_req, &ev);
 *		if (n < 0)
 *			malformed: close (the error is sticky until init);
 *		forward buf[0..n) as framing (head, chunk lines, trailers);
 *		buf += n, len -= n;
 *		if (ev == HTTP_RP_NONE)
 *			break;                  (len is 0 now: receive more)
 *		if (ev == HTTP_RP_HEAD)
 *			look at p.status, p.chunked, p.length, ...;
 *		if (ev == HTTP_RP_DATA) {
 *			k = min(len, http_rparser_data_left(&p));
 *			forward buf[0..k) as body bytes;
 *			http_rparser_take_data(&p, k), buf += k, len -= k;
 *			if (!len)
 *				break;          (receive more, then call again)
 *		}
 *		if (ev == HTTP_RP_END)
 *			the response is whole; the next one starts here
 *			(after a 101's: the upgraded protocol's bytes);
 *	}
 *
 *   When the server closes the connection, http_rparser_eof() says whether
 *   that ended a response (a body delimited by the close) or cut one short.
 *
 * Framing (RFC 9112 section 6.3, in this order): a response to HEAD, a 1xx,
 * a 204 and a 304 have no body; a 101 ends the HTTP exchange (what follows
 * belongs to the upgraded protocol); Transfer-Encoding whose last coding is
 * chunked is chunked; Transfer-Encoding whose last coding is something else
 * runs to the close (rule 4); then Content-Length; else to the close.
 *
 * Grammar accepted. It is strict, because the proxy forwards what it parses
 * and must agree with the client about where a response ends (response
 * splitting and smuggling); everything nginx, HAProxy, Python's http.server
 * and the like send passes:
 *   - Lines end in CRLF or a bare LF; a CR not followed by LF is -EBADMSG.
 *   - status-line = "HTTP/1." DIGIT SP 3DIGIT (100..999), then SP and a
 *     reason phrase (SP, HTAB, visible bytes, obs-text) or the line end.
 *   - A field name is a non-empty token right before its colon. A field
 *     value may hold SP, HTAB, visible bytes and obs-text; NUL, DEL and every
 *     other control byte is -EBADMSG. A line starting with SP or HTAB
 *     (obs-fold) is -EBADMSG. Trailer fields follow the same rules.
 *   - Content-Length: a list of 1*DIGIT elements, OWS around each (24
 *     bytes at most each, leading zeros included), all the same value, at
 *     most UINT64_MAX; repeated fields must agree too. Anything else
 *     (empty, a sign, different values, an overflow) is -EBADMSG.
 *   - Transfer-Encoding: a list of codings (token, optional ;parameters
 *     without quotes, 24 bytes at most each); chunked twice, an empty
 *     list, a DQUOTE, a longer element, or a Transfer-Encoding in an
 *     HTTP/1.0 response is -EBADMSG.
 *     Content-Length together with Transfer-Encoding is -EBADMSG.
 *   - Connection: a token list; "close" and "keep-alive" (any case) count.
 *   - Chunks: chunk-size = 1*HEXDIG (below 2^60), then chunk-ext exactly as
 *     RFC 9112 7.1.1 (BWS ";" BWS token [BWS "=" BWS token/quoted-string]),
 *     then the line end; CRLF (or LF) after the data; the trailer section.
 *   - Limits (-EMSGSIZE): a line over HTTP_RP_LINE_MAX bytes (its LF not
 *     counted), a head or trailer section over HTTP_RP_HEAD_MAX.
 *
 * Errors are sticky: every later call returns the same one until
 * http_rparser_init().
 */

#define HTTP_RP_LINE_MAX  8192	/* one status, header, chunk or trailer line */
#define HTTP_RP_HEAD_MAX  65536 /* the whole head; the whole trailer section */
#define HTTP_RP_NAME_MAX  20	/* longest header name acted on, plus slack */
#define HTTP_RP_VALUE_MAX 24	/* one element of a list (a length, a coding, a token) */

/* The feed API's results. */
enum {
	HTTP_RP_MORE = 0, /* all input used, the response is not complete yet */
	HTTP_RP_DONE = 1, /* a response ended; *used says where */
};

/*
 * Parser state; the fields below "describe the response" are the caller's
 * to read after a HEAD event (or a DONE/END), the rest are the parser's.
 * Zeroed is not a valid state: call http_rparser_init().
 */
struct http_rparser {
	/* Describe the response (valid from its HEAD event until the next call after END). */
	uint64_t length; /* Content-Length, when has_length */
	uint16_t status;
	uint8_t minor;	      /* HTTP/1.minor */
	bool chunked;	      /* Transfer-Encoding ends in chunked */
	bool has_length;      /* a Content-Length was given */
	bool until_eof;	      /* the body runs to the end of the connection */
	bool no_body;	      /* HEAD request, 1xx, 204, 304: no body whatever the headers */
	bool conn_close;      /* Connection: close */
	bool conn_keep_alive; /* Connection: keep-alive */
	bool upgrade;	      /* 101: what follows belongs to the upgraded protocol */
	/* The parser's own. */
	bool head;	   /* the response answers a HEAD (set by each call) */
	bool te;	   /* a Transfer-Encoding field was seen */
	bool seen_chunked; /* one of its codings was chunked */
	bool trailer;	   /* the header states are reading a chunked body's trailers */
	bool interim;	   /* a 1xx interim head came: a final one is owed */
	bool cr;	   /* the last byte was a CR: an LF must follow */
	uint8_t state;
	uint8_t sub; /* a chunk extension's state; elements of the current field line */
	uint8_t hdr; /* which header the current line is */
	uint8_t err; /* the sticky error's errno, 0 if none */
	uint8_t name_len;
	uint8_t value_len;
	uint32_t line_len;
	uint32_t head_len;
	uint64_t remaining; /* body or chunk bytes left; the chunk size being read */
	char name[HTTP_RP_NAME_MAX];
	char value[HTTP_RP_VALUE_MAX];
};

/* One in each ringer-load connection and proxy exchange, copied whole on a memo hit. */
_Static_assert(sizeof(struct http_rparser) <= 96, "the parser stays small");

void http_rparser_init(struct http_rparser *p);

/*
 * The feed API. Parses buf[0..len). head_req: the response in progress (the
 * next one to end) answers a HEAD request. A call returns at most one
 * response, so the caller passes the flag of the request the next response
 * answers and moves on after each DONE. Returns HTTP_RP_DONE when a
 * response ended after *used bytes (the fields and http_rparser_close()
 * describe it until the next call, which starts the next response),
 * HTTP_RP_MORE when all of buf was used, or -EBADMSG for a malformed
 * response, -EMSGSIZE for an oversized head. Interim 1xx heads are skipped;
 * a 101 is a response of its own (http_rparser_close() is then true: what
 * follows is not HTTP).
 */
int http_rparser_feed(struct http_rparser *p, const uint8_t *buf, size_t len, bool head_req,
		      size_t *used);

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
#define HTTP_RP_MEMO_MAX 256

struct http_rparser_memo {
	uint32_t len; /* bytes of the head; 0: empty */
	bool head;
	struct http_rparser after; /* the parser just after the head */
	uint8_t bytes[HTTP_RP_MEMO_MAX];
};

static inline void http_rparser_memo_init(struct http_rparser_memo *m)
{
	m->len = 0;
}

/* http_rparser_feed() with a memo (NULL: none); the results are the same with or without. */
int http_rparser_feed_memo(struct http_rparser *p, struct http_rparser_memo *m, const uint8_t *buf,
			   size_t len, bool head_req, size_t *used);

/*
 * The event API: the same parser, stopping at each of these.
 */
enum http_rp_event {
	HTTP_RP_NONE, /* all len bytes consumed, nothing to report */
	HTTP_RP_HEAD, /* a response head ended (interim 1xx too) */
	HTTP_RP_DATA, /* body bytes follow: http_rparser_data_left() of them */
	HTTP_RP_END,  /* the response (its body, a chunked body's trailers) ended */
};

/*
 * Returns the bytes consumed up to the event (>= 0), or a negative errno
 * (-EBADMSG malformed, -EMSGSIZE head over HTTP_RP_HEAD_MAX), sticky until init.
 * head_req: the request this response answers was a HEAD.
 * HEAD: p->status, p->minor, p->chunked, p->has_length, p->length (uint64_t
 *   Content-Length), p->until_eof (close-delimited), p->no_body (HEAD request,
 *   1xx, 204, 304), p->conn_close, p->conn_keep_alive, p->upgrade (status 101)
 *   describe it. A 1xx other than 101 is an interim head: after it the parser
 *   waits for the next head of the same response (no DATA/END for it). For a
 *   final head, DATA and/or END follow. A 101 is followed by END at once with 0
 *   bytes consumed; what follows it belongs to the tunnel, not to the parser.
 *   A body-less final head (no_body, or Content-Length: 0) gives END next, with
 *   0 bytes consumed.
 * DATA: the next http_rparser_data_left() bytes of input are body bytes exactly
 *   as they are (Content-Length bytes, or one chunk's data with its framing
 *   already consumed; for until_eof, UINT64_MAX). The caller passes over the ones
 *   it has with http_rparser_take_data(p, n) (from this buffer or later ones)
 *   and calls again after them; a call while data is left returns DATA again,
 *   consuming nothing.
 * END: the parser is ready for the next response on the connection.
 */
ssize_t http_rparse_event(struct http_rparser *p, const uint8_t *buf, size_t len, bool head_req,
			  enum http_rp_event *ev);

/*
 * Body bytes that follow now, without framing: nonzero only inside a body
 * or a chunk's data (so from the HEAD event of a response with a
 * Content-Length body on, before its DATA event comes).
 */
uint64_t http_rparser_data_left(const struct http_rparser *p);

/* n of them (n <= http_rparser_data_left()) were passed over by the caller. */
void http_rparser_take_data(struct http_rparser *p, uint64_t n);

/*
 * The server closed the connection. Returns HTTP_RP_DONE (1, the END of the
 * response) when that ends a body delimited by the close (or a response
 * whose END had not been reported yet), 0 when no response was in progress,
 * and -EPIPE when a response was cut short (a final head owed after a 1xx
 * counts).
 */
int http_rparser_eof(struct http_rparser *p);

/*
 * After DONE/END (or HEAD): the connection will not carry another response:
 * Connection: close, a close-delimited body, HTTP/1.0 without keep-alive,
 * or a 101.
 */
bool http_rparser_close(const struct http_rparser *p);

#endif
