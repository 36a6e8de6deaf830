/* SPDX-License-Identifier: MIT */
#ifndef RINGER_LOAD_REQUEST_H
#define RINGER_LOAD_REQUEST_H

/*
 * The requests ringer-load sends in HTTP mode, built once before the run:
 * one request from the flags (--method, --path, --host, --header, --body),
 * or a list from a requests file in one of two formats, told apart by the
 * first line that is neither blank nor a '#' comment:
 *
 *   lines  One request a line: METHOD PATH [BODY-FILE]. Blank lines and
 *          '#' comments are skipped; BODY-FILE is relative to the requests
 *          file's directory and goes with a Content-Length. Host (--host,
 *          else the target) and every --header are added to each request.
 *   raw    HTTP/1.1 or HTTP/1.0 requests as they go on the wire: a line
 *          ending in " HTTP/1.1" (or " HTTP/1.0") starts a request, header
 *          lines follow, then an empty line and exactly Content-Length bytes
 *          of body. Blank lines and '#' lines may separate requests. Each is
 *          parsed (request line, header lines, Host, Content-Length against
 *          the bytes present) and sent as written, except that line ends in
 *          the head become CRLF (files written by hand often have bare LFs).
 *
 * Requests are cycled: a connection sends them in order from where it
 * starts. A pipelined batch of up to `window` consecutive requests must go
 * out as one send with no copy at send time, so the buffer holds the list
 * followed by its first window - 1 requests again (wrapping round as often
 * as needed when the list is shorter): every run of up to window requests
 * that starts at any index is then contiguous. That costs one pass of the
 * list plus at most window - 1 times its longest request, capped at
 * REQUEST_MAX_BYTES.
 *
 * A pure module apart from request_read_file() and the BODY-FILEs of the
 * lines format: everything else takes bytes and returns bytes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REQUEST_MAX_BYTES (256u << 20) /* the built buffer, repetitions included */
#define REQUEST_MAX_BODY  (64u << 20)  /* one --body, --body-file or BODY-FILE */
#define REQUEST_MAX_COUNT (1u << 20)   /* requests in a list */

struct request_set {
	uint8_t *buf;	     /* the list, then its first window - 1 requests again */
	size_t *off;	     /* off[k]: where the k-th request of buf starts; off[k + 1] its end */
	uint8_t *head;	     /* head[i]: request i is a HEAD, so its response has no body */
	uint32_t n;	     /* requests in the list */
	uint32_t window;     /* longest contiguous run, once finished (the pipeline) */
	size_t len;	     /* bytes of one pass of the list */
	uint64_t body_bytes; /* body bytes in one pass of the list */
	bool raw;	     /* read from a raw requests file */
	size_t cap;	     /* while building: bytes allocated in buf */
	uint32_t cap_n;	     /* while building: requests room in off and head */
};

/* What --host and --header add to a request made from the flags or a line. */
struct request_extra {
	const char *host;	    /* Host's value, unless one of the headers is Host */
	const char *const *headers; /* "Name: value", each passed by request_header_check() */
	unsigned n_headers;
};

void request_set_init(struct request_set *s);
void request_set_free(struct request_set *s);

/*
 * Appends "METHOD TARGET HTTP/1.1", Host, the extra headers and, when body
 * is not NULL, Content-Length and the body (an empty body still gets its
 * Content-Length: 0). Returns 0, -ENOMEM, or -E2BIG past REQUEST_MAX_BYTES
 * or REQUEST_MAX_COUNT.
 */
int request_set_add(struct request_set *s, const char *method, size_t method_len,
		    const char *target, size_t target_len, const struct request_extra *x,
		    const uint8_t *body, size_t body_len);

/*
 * Parses the text of a requests file (either format) and appends its
 * requests to s. name is the file as the user named it, for messages; dir
 * is where BODY-FILEs are found. Returns 0, or -EINVAL with one line
 * "name:line: why" in err (-ENOMEM: "out of memory").
 */
int request_parse(struct request_set *s, const char *text, size_t len, const char *name,
		  const char *dir, const struct request_extra *x, char *err, size_t err_len);

/*
 * Makes every run of up to window requests contiguous (see above). Returns
 * 0, or -E2BIG / -ENOMEM (and -EINVAL for an empty set) with a line in err.
 */
int request_set_finish(struct request_set *s, uint32_t window, char *err, size_t err_len);

/* The n requests from index i (i < s->n, 1 <= n <= s->window) as one piece of memory. */
static inline const uint8_t *request_run(const struct request_set *s, uint32_t i, uint32_t n,
					 uint32_t *len)
{
	*len = (uint32_t)(s->off[i + n] - s->off[i]);
	return s->buf + s->off[i];
}

/*
 * Checks a method: an RFC 9110 token, and not CONNECT (its 2xx turns the
 * connection into a tunnel, not a response to measure). NULL when fine,
 * else why not.
 */
const char *request_method_check(const char *m, size_t len);

/* Checks a request target for method: origin-form "/..." (or "*" for OPTIONS). */
const char *request_target_check(const char *method, size_t method_len, const char *t, size_t len);

/*
 * Checks a --header "Name: value": a token, a colon, a value of visible
 * bytes, spaces and tabs. Content-Length and Transfer-Encoding are refused:
 * ringer-load frames the body itself. NULL when fine, else why not.
 */
const char *request_header_check(const char *h);

/* True when h ("Name: value") is a Host header. */
bool request_header_is_host(const char *h);

/*
 * Reads the whole file at path, at most max bytes, into a malloc'd buffer
 * with a NUL after the data. Returns 0, -errno, or -EFBIG when larger.
 */
int request_read_file(const char *path, size_t max, uint8_t **data, size_t *len);

#endif
