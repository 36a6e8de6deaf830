/* SPDX-License-Identifier: MIT */
#ifndef RINGER_HTTP_RESPONSE_H
#define RINGER_HTTP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Every response the HTTP mode sends, built once at startup (one set per
 * shard, used by that shard's thread only). The hot path picks a prebuilt
 * response with http_response_get(): no formatting, no allocation.
 *
 * Each response is
 *
 *	HTTP/1.1 <code> <reason>\r\n
 *	Server: ringer\r\n
 *	Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n
 *	[Allow: GET, HEAD\r\n]                  (405 only)
 *	Content-Type: text/plain\r\n
 *	Content-Length: <n>\r\n
 *	[Connection: keep-alive | close\r\n]
 *	\r\n
 *	<body>                                  (not for HEAD)
 *
 * The status line says HTTP/1.1 to HTTP/1.0 clients too (RFC 9110 2.5: a
 * server sends its own highest conformant version). Three variants differ
 * only in the Connection header: kept alive for HTTP/1.1 (none), kept alive
 * for HTTP/1.0 ("keep-alive", which 1.0 needs), and closing ("close").
 * Error responses (400, 414, 431, 501, 505) exist only as closing.
 *
 * Date refresh: the Date value sits at an offset recorded at build time, and
 * http_response_set_date() rewrites those 29 bytes in place. A send may
 * still be reading a response when the next second comes, so the bytes it
 * reads must not change under it: there are two generations of buffers. A
 * refresh writes the spare generation and then makes it current, so the
 * buffer a send just took stays untouched until the refresh after next, at
 * least a second later. For sends that can outlive that (a slow reader, a
 * resumed short send), the caller brackets each send with
 * http_response_hold()/http_response_release(); a refresh then refuses
 * (-EBUSY, date unchanged) to rewrite a generation that still has a send
 * holding it, and the caller simply tries again next tick.
 *
 * A send to a peer that never reads never completes, so a hold can last
 * forever, and with it the Date of every other connection would stop. So a
 * refresh waits for a held generation only HTTP_RESPONSE_HOLD_MAX_SEC
 * seconds and then rewrites it anyway: the sends still holding it have made
 * no progress for that long, and the worst they can see is a Date that
 * mixes two seconds. Only the 29 Date bytes change; nothing moves or is
 * freed, so this is never a memory hazard.
 */
#define HTTP_RESPONSE_HOLD_MAX_SEC 5

/* The kinds of response. */
enum http_resp_kind {
	HTTP_RESP_OK,		     /* 200 to GET, with the body */
	HTTP_RESP_OK_HEAD,	     /* 200 to HEAD: same headers (Content-Length too), no body */
	HTTP_RESP_NOT_ALLOWED,	     /* 405 with Allow: GET, HEAD */
	HTTP_RESP_NOT_ALLOWED_HEAD,  /* 405 to HEAD: same headers, no body (RFC 9110 9.3.2) */
	HTTP_RESP_BAD_REQUEST,	     /* 400, closing */
	HTTP_RESP_URI_TOO_LONG,	     /* 414, closing */
	HTTP_RESP_HEADERS_TOO_LARGE, /* 431, closing */
	HTTP_RESP_NOT_IMPLEMENTED,   /* 501, closing */
	HTTP_RESP_VERSION,	     /* 505, closing */
	HTTP_RESP_TIMEOUT,	     /* 408: the header section did not arrive in time, closing */
	HTTP_RESP_KIND_COUNT,
};

/* Connection header variants; internal, but sizes struct http_responses. */
enum http_resp_conn {
	HTTP_CONN_KEEP_11, /* keep-alive, HTTP/1.1: no Connection header */
	HTTP_CONN_KEEP_10, /* keep-alive, HTTP/1.0: Connection: keep-alive */
	HTTP_CONN_CLOSE,   /* Connection: close */
	HTTP_CONN_COUNT,
};

/*
 * Bodies up to this size are stored after each response's headers so that
 * one (data, len) is the whole response. A larger body is stored once and
 * returned as a second piece, so six copies of it are not made.
 */
#define HTTP_RESPONSE_INLINE_MAX (64 * 1024)

#define HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/*
 * What to send: data[0..len), then body[0..body_len) when body_len is not 0
 * (only for an OK response whose body exceeds HTTP_RESPONSE_INLINE_MAX).
 * gen is the buffer generation, for http_response_hold()/release(). close
 * says the connection must be closed once this response is sent.
 */
struct http_resp {
	const char *data;
	const char *body;
	uint32_t len;
	uint32_t body_len;
	uint8_t gen;
	bool close;
};

/* All fields are private to http_response.c. */
struct http_responses {
	char *buf[2]; /* the two generations, each buf_size bytes */
	char *body;   /* an out-of-line body, or NULL */
	size_t buf_size;
	uint32_t body_len;  /* out-of-line body length */
	uint32_t holds[2];  /* sends in flight per generation */
	int64_t date_sec;   /* the second the current generation's Date shows */
	int64_t busy_since; /* when a refresh was first refused for a hold, or 0 */
	uint64_t forced;    /* refreshes that rewrote a generation still held */
	uint8_t cur;	    /* current generation */
	char allow[96];	    /* the 405's Allow value */
	struct {
		uint32_t off;	   /* start of the response in buf[gen] */
		uint32_t len;	   /* its length */
		uint32_t date_off; /* where its Date value starts */
	} ent[HTTP_RESP_KIND_COUNT][HTTP_CONN_COUNT];
};

/*
 * Builds every response. body: the OK body (body_len bytes), or NULL for
 * body_len bytes of printable filler; NULL with body_len 0 is the default
 * "Hello, World!". now is the time for the first Date. Returns 0, -ENOMEM,
 * or -EINVAL for a body above 4 GiB. On failure nothing needs freeing.
 */
int http_responses_init(struct http_responses *r, const char *body, size_t body_len, time_t now);
/* The same, with the 405's Allow value (NULL: "GET, HEAD"). */
int http_responses_init_allow(struct http_responses *r, const char *body, size_t body_len,
			      time_t now, const char *allow);

void http_responses_free(struct http_responses *r);

/*
 * The response of a kind for a request that wants keep_alive, of HTTP/1.minor.
 * Error kinds ignore keep_alive: they always close. No formatting, no state.
 */
struct http_resp http_response_get(const struct http_responses *r, enum http_resp_kind kind,
				   bool keep_alive, unsigned minor);

/*
 * The same from a given generation: a send that resumes (a short send, or the
 * body after the head) must keep reading the generation it holds.
 */
struct http_resp http_response_get_gen(const struct http_responses *r, enum http_resp_kind kind,
				       bool keep_alive, unsigned minor, unsigned gen);

/*
 * The head of a 200 that carries the request's own body back (--echo-body):
 * the OK response's status line, Server and Date, then Content-Type:
 * application/octet-stream, Content-Length: length or (chunked)
 * Transfer-Encoding: chunked, and the Connection header as the prebuilt
 * responses have it. Written to out, which has HTTP_ECHO_HEAD_MAX bytes;
 * returns its length. The Date is the current generation's.
 */
#define HTTP_ECHO_HEAD_MAX 224

uint32_t http_response_echo_head(const struct http_responses *r, char *out, bool chunked,
				 uint64_t length, bool keep_alive, unsigned minor);
/* Makes a head from http_response_echo_head() show the current Date (it may have waited). */
void http_response_echo_date(const struct http_responses *r, char *head);

/* The kind answering an HTTP status from http_error_status(): 400, 414, 431, 501, 505. */
enum http_resp_kind http_response_kind_for_status(int status);

/*
 * Makes the Date of every response show now (in whole seconds; a call
 * within the same second does nothing). Returns 0, or -EBUSY when the spare
 * generation is still held by a send: nothing changed, call again later.
 * After HTTP_RESPONSE_HOLD_MAX_SEC seconds of refusals it rewrites the held
 * generation regardless (see above) and returns 0.
 */
int http_response_set_date(struct http_responses *r, time_t now);

/* A send of a response of generation gen is in flight / has completed. */
void http_response_hold(struct http_responses *r, unsigned gen);
void http_response_release(struct http_responses *r, unsigned gen);

/* Formats now as an IMF-fixdate (RFC 9110 5.6.7) into out[HTTP_DATE_LEN]; no NUL. */
void http_format_date(char out[HTTP_DATE_LEN], time_t now);

#endif
