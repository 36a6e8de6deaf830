/* SPDX-License-Identifier: MIT */
#ifndef RINGER_HTTP_PARSER_H
#define RINGER_HTTP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * A streaming HTTP/1.x request parser: pure, never allocates, and resumes at
 * any byte. The server receives into provided buffers and recycles each one
 * right after parsing it, so no earlier byte is ever available again: all
 * that survives between calls is struct http_parser (32 bytes, inside each
 * connection). Nothing already accepted is scanned twice.
 *
 * Calling convention, for one received buffer (pipelined requests included):
 *
 *	size_t off = 0;
 *	while (off < len) {
 *		struct http_request req;
 *		ssize_t n = http_parse(&c->parser, buf + off, len - off, &req);
 *		if (n < 0) {
 *			send the error response for http_error_status(-n), then close;
 *			break;
 *		}
 *		if (n == 0)
 *			break;          (all of it consumed, request incomplete)
 *		off += n;               (one request complete: respond to req)
 *		if (!req.keep_alive)
 *			break;          (respond, then close; ignore the rest)
 *	}
 *	recycle buf;
 *
 * Return values of http_parse():
 *   > 0  one request is complete; that many bytes were consumed, ending
 *        exactly after the request (its body included). *out is filled.
 *        The parser is ready for the next request.
 *   0    all len bytes were consumed and no request is complete yet: feed
 *        the next buffer. *out is untouched. (len == 0 also returns 0.)
 *   < 0  -enum http_error. The input is not a request we will serve; the
 *        error is sticky (every further call returns it) until
 *        http_parser_init(). Answer with http_error_status() and close.
 *
 * Request bodies are consumed and discarded by the parser itself (by
 * Content-Length, or by decoding Transfer-Encoding: chunked, extensions and
 * trailers included), so a request is reported only once its body has
 * passed; the caller never sees body bytes. (http_parse_event() below is
 * the same parser for a caller that does want them.)
 *
 * Grammar accepted (RFC 9112, with the choices below):
 *   - Lines end in CRLF; a bare LF is tolerated as a line end (as nginx
 *     does), a CR not followed by LF is an error. Empty lines before a
 *     request line are skipped (RFC 9112 section 2.2).
 *   - request-line = method SP request-target SP HTTP-version: exactly one
 *     space each; method is a case-sensitive token; the target is any run
 *     of bytes above 0x20 except DEL (bytes >= 0x80 are let through); the
 *     version is "HTTP/" DIGIT "." DIGIT. HTTP/1.0 and HTTP/1.1 are served;
 *     any other well-formed version is HTTP_ERR_VERSION (505).
 *   - Field names are tokens (a control character, space or other
 *     delimiter before the colon is 400), matched case-insensitively.
 *     Field values may hold visible bytes, obs-text, SP and HTAB; any other
 *     control byte is 400. A line starting with SP or HTAB (obs-fold) is 400.
 *   - Connection is a comma-separated token list, tokens case-insensitive:
 *     "close" wins over "keep-alive"; other tokens (Upgrade, ...) are ignored.
 *     HTTP/1.1 keeps alive unless "close"; HTTP/1.0 closes unless
 *     "keep-alive".
 *   - Content-Length: OWS 1*DIGIT OWS, no lists, at most UINT64_MAX;
 *     repeated headers must carry the same value.
 *   - Transfer-Encoding: exactly "chunked" is decoded and discarded. A
 *     list whose last coding is not chunked, or Transfer-Encoding in an
 *     HTTP/1.0 request, is 400 (framing cannot be trusted, RFC 9112 6.1 and
 *     6.3); other codings before chunked are 501. Content-Length together
 *     with Transfer-Encoding is 400.
 *   - Host (RFC 9112 3.2): an HTTP/1.1 request without one, any request
 *     with two, or one whose value is not uri-host [":" port] (reg-name
 *     bytes, pct-encoded, or an IP literal in brackets; empty is allowed)
 *     is 400.
 *   - Expect is a token list; "100-continue" (any case) is reported for
 *     HTTP/1.1 requests, other expectations are ignored. No header other
 *     than these five is interpreted.
 */

/* Limits. Each is inclusive: a request exactly at a limit is served. */
#define HTTP_MAX_REQUEST_LINE 8192  /* request line bytes, line end included */
#define HTTP_MAX_HEADERS      100   /* field lines in the header section */
#define HTTP_MAX_HEADER_BYTES 16384 /* header section bytes, final empty line included */
#define HTTP_MAX_CHUNK_LINE   4096  /* chunk-size line with extensions, line end included */

enum http_method {
	HTTP_METHOD_GET,
	HTTP_METHOD_HEAD,
	HTTP_METHOD_POST,
	HTTP_METHOD_PUT,
	HTTP_METHOD_DELETE,
	HTTP_METHOD_PATCH,
	HTTP_METHOD_OPTIONS,
	HTTP_METHOD_OTHER, /* any other valid token (CONNECT, TRACE, M-SEARCH, ...) */
	HTTP_METHOD_COUNT,
};

/* The method's name ("OTHER" for the rest). */
const char *http_method_name(enum http_method m);

/*
 * Why a request was refused. The trailer fields of a chunked body count
 * against HTTP_MAX_HEADERS and HTTP_MAX_HEADER_BYTES afresh. Limits are
 * checked on the bytes of each run scanned, so input that is both over a
 * limit and malformed past it may get either error depending on where the
 * buffers split it; both close the connection.
 */
enum http_error {
	HTTP_ERR_NONE = 0,
	HTTP_ERR_BAD_REQUEST,	   /* 400: malformed request line or header */
	HTTP_ERR_BAD_LENGTH,	   /* 400: Content-Length malformed, overflowing or conflicting */
	HTTP_ERR_BAD_FRAMING,	   /* 400: Content-Length with Transfer-Encoding, bad coding list */
	HTTP_ERR_BAD_CHUNK,	   /* 400: malformed chunked body */
	HTTP_ERR_BAD_HOST,	   /* 400: Host missing (HTTP/1.1), repeated or invalid */
	HTTP_ERR_LINE_TOO_LONG,	   /* 414: request line over HTTP_MAX_REQUEST_LINE */
	HTTP_ERR_TOO_MANY_HEADERS, /* 431: over HTTP_MAX_HEADERS field lines */
	HTTP_ERR_HEADERS_TOO_LARGE, /* 431: header section over HTTP_MAX_HEADER_BYTES */
	HTTP_ERR_NOT_IMPLEMENTED,   /* 501: a transfer coding other than chunked */
	HTTP_ERR_VERSION,	    /* 505: HTTP version other than 1.0 and 1.1 */
	HTTP_ERR_COUNT,
};

/*
 * Parser state between buffers. Opaque: fields are for http_parser.c only.
 * Zeroed (or http_parser_init()) is the state before a first request.
 */
struct http_parser {
	uint64_t length;    /* Content-Length once seen */
	uint64_t remaining; /* body bytes or chunk bytes left; number being parsed */
	uint32_t count;	    /* bytes of the current line group, checked against a limit */
	uint16_t flags;
	uint8_t state;
	uint8_t method;	 /* enum http_method */
	uint8_t minor;	 /* HTTP/1.minor */
	uint8_t headers; /* field lines so far (saturates above the limit) */
	uint8_t field;	 /* known field whose value is being read */
	uint16_t mask;	 /* candidate words still matching the current token */
	uint8_t idx;	 /* position in the token being matched */
};

_Static_assert(sizeof(struct http_parser) <= 48, "the parser lives inside struct conn");

/*
 * One complete request. path points into the buffer passed to the
 * http_parse() call that returned it, and is valid only until that buffer
 * is recycled. It is NULL (and path_len 0) when the request-target did not
 * lie wholly within that call's buffer: split across buffers, or received
 * in an earlier buffer than the one that completed the request (headers or
 * a body followed in later buffers).
 */
struct http_request {
	const char *path;
	uint32_t path_len;
	uint8_t method; /* enum http_method */
	uint8_t minor;	/* 0 or 1 */
	bool keep_alive;
	bool chunked; /* the body was chunked (and has been discarded) */
	/*
	 * The request carries a body, framed by Content-Length (0 included) or
	 * chunked (RFC 9112 6.1: their presence, not the length, says so).
	 */
	bool has_body;
	bool expect_continue;	 /* HTTP/1.1 with Expect: 100-continue (RFC 9110 10.1.1) */
	uint64_t content_length; /* 0 when absent */
};

void http_parser_init(struct http_parser *p);

/* See the calling convention above. out must not be NULL. */
ssize_t http_parse(struct http_parser *p, const char *buf, size_t len, struct http_request *out);

/*
 * The same parser for a caller that wants the body's bytes (the HTTP mode's
 * --echo-body): http_parse_event() stops at each of these and says which
 * in *ev, returning the bytes it consumed up to there (or < 0: -enum
 * http_error, sticky, as for http_parse()).
 *
 *   HTTP_EV_NONE      all len bytes were consumed, nothing to report yet.
 *   HTTP_EV_COMPLETE  a request without body bytes (no body, or
 *                     Content-Length: 0) is complete, as http_parse() > 0:
 *                     *out is filled and the parser is ready for the next.
 *   HTTP_EV_HEAD      the head of a request with a body ended; *out is
 *                     filled (has_body, chunked, content_length). DATA and
 *                     END follow. Calling http_parse() instead from here on
 *                     discards the body and returns the request at its end.
 *   HTTP_EV_DATA      body bytes come next, exactly as they are in the input
 *                     (Content-Length bytes, or a chunk's data; framing was
 *                     consumed before it): http_parser_data_left() of them.
 *                     The caller passes over those it has with
 *                     http_parser_take_data(), from this buffer or later
 *                     ones, and calls again after them. A call made here
 *                     returns DATA again at once, consuming nothing.
 *   HTTP_EV_END       the body (and a chunked body's trailers) ended: the
 *                     request is complete, *out is filled as for
 *                     http_parse() (its path NULL), the parser is ready for
 *                     the next. After the last data byte of a
 *                     Content-Length body this comes with 0 bytes consumed,
 *                     len 0 included.
 *
 * Once data has been taken, stay with http_parse_event() until END: only it
 * reports a request whose last byte the caller took.
 *
 * So a body is never copied or buffered by the parser: the caller sees
 * where its bytes are and what they amount to, and skips the framing.
 */
enum http_event {
	HTTP_EV_NONE,
	HTTP_EV_COMPLETE,
	HTTP_EV_HEAD,
	HTTP_EV_DATA,
	HTTP_EV_END,
};

ssize_t http_parse_event(struct http_parser *p, const char *buf, size_t len,
			 struct http_request *out, enum http_event *ev);
/* Body bytes that follow now, without framing: nonzero only where DATA was reported. */
uint64_t http_parser_data_left(const struct http_parser *p);
/* n of them (n <= http_parser_data_left()) were passed over by the caller. */
void http_parser_take_data(struct http_parser *p, uint64_t n);

/* True while the parser is between requests (nothing of a next one seen). */
bool http_parser_idle(const struct http_parser *p);
/* True while a request has begun and its header section has not ended (a timeout's span). */
bool http_parser_in_head(const struct http_parser *p);

/* The HTTP status to answer an error with: 400, 414, 431, 501 or 505 (500 if unknown). */
int http_error_status(enum http_error err);

/* "bad request", "line too long", ...; for logs and stats. */
const char *http_error_name(enum http_error err);

#endif
