// SPDX-License-Identifier: MIT
/*
 * Prebuilt HTTP responses. Everything is formatted once, in
 * http_responses_init(); afterwards the only writes are the 29-byte Date
 * values, once a second, into the spare of two buffer generations (the
 * header explains why two, and how a caller keeps a slow send safe).
 *
 * Layout of each generation (both identical but for the Date bytes):
 *
 *	[OK keep-1.1][OK keep-1.0][OK close][HEAD keep-1.1]...[505 close]
 *
 * where each entry is status line + headers (+ body when inline). The
 * offsets, lengths and Date positions are the same in both generations, so
 * one table serves both.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_response.h"

static const char default_body[] = "Hello, World!";

static const struct {
	short code;
	bool closing_only; /* errors: the connection is closed after them */
	bool no_body;	   /* HEAD: the headers of the OK response, no body */
	const char *reason;
	const char *body; /* NULL: the configured body */
} kinds[HTTP_RESP_KIND_COUNT] = {
	[HTTP_RESP_OK] = {200, false, false, "OK", NULL},
	[HTTP_RESP_OK_HEAD] = {200, false, true, "OK", NULL},
	[HTTP_RESP_NOT_ALLOWED] = {405, false, false, "Method Not Allowed", "Method Not Allowed\n"},
	[HTTP_RESP_NOT_ALLOWED_HEAD] = {405, false, true, "Method Not Allowed",
					"Method Not Allowed\n"},
	[HTTP_RESP_BAD_REQUEST] = {400, true, false, "Bad Request", "Bad Request\n"},
	[HTTP_RESP_URI_TOO_LONG] = {414, true, false, "URI Too Long", "URI Too Long\n"},
	[HTTP_RESP_HEADERS_TOO_LARGE] = {431, true, false, "Request Header Fields Too Large",
					 "Request Header Fields Too Large\n"},
	[HTTP_RESP_NOT_IMPLEMENTED] = {501, true, false, "Not Implemented", "Not Implemented\n"},
	[HTTP_RESP_VERSION] = {505, true, false, "HTTP Version Not Supported",
			       "HTTP Version Not Supported\n"},
	[HTTP_RESP_TIMEOUT] = {408, true, false, "Request Timeout", "Request Timeout\n"},
};

static const char *const conn_header[HTTP_CONN_COUNT] = {
	[HTTP_CONN_KEEP_11] = "",
	[HTTP_CONN_KEEP_10] = "Connection: keep-alive\r\n",
	[HTTP_CONN_CLOSE] = "Connection: close\r\n",
};

/* Room for the longest status line and headers; checked when formatting. */
#define HEAD_MAX 384

static void put_digits(char *out, unsigned v, int n)
{
	while (n--) {
		out[n] = (char)('0' + v % 10);
		v /= 10;
	}
}

void http_format_date(char out[HTTP_DATE_LEN], time_t now)
{
	static const char days[7][3] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][3] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;

	/*
	 * gmtime_r() reads no time zone and takes no lock, and the fields are
	 * placed by hand, so no locale is involved. A year outside 0..9999 does
	 * not fit IMF-fixdate; such a clock shows the epoch instead.
	 */
	if (!gmtime_r(&now, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
		now = 0;
		gmtime_r(&now, &tm);
	}
	/* "Sun, 06 Nov 1994 08:49:37 GMT" */
	memcpy(out, days[tm.tm_wday % 7], 3);
	memcpy(out + 3, ", ", 2);
	put_digits(out + 5, (unsigned)tm.tm_mday, 2);
	out[7] = ' ';
	memcpy(out + 8, months[tm.tm_mon % 12], 3);
	out[11] = ' ';
	put_digits(out + 12, (unsigned)(tm.tm_year + 1900), 4);
	out[16] = ' ';
	put_digits(out + 17, (unsigned)tm.tm_hour, 2);
	out[19] = ':';
	put_digits(out + 20, (unsigned)tm.tm_min, 2);
	out[22] = ':';
	put_digits(out + 23, (unsigned)tm.tm_sec, 2);
	memcpy(out + 25, " GMT", 4);
}

/* Whether the body of kind k is stored after its headers. */
static bool body_inline(const struct http_responses *r, enum http_resp_kind k)
{
	return !kinds[k].no_body && (kinds[k].body || !r->body);
}

/*
 * Formats the status line and headers of (k, c) into head; returns their
 * length and the offset of the Date value, or -1 if HEAD_MAX is too small.
 */
static int format_head(char head[HEAD_MAX], enum http_resp_kind k, enum http_resp_conn c,
		       size_t body_len, const char date[HTTP_DATE_LEN], const char *allow,
		       uint32_t *date_off)
{
	int n, m;

	n = snprintf(head, HEAD_MAX, "HTTP/1.1 %d %s\r\nServer: ringer\r\nDate: ", kinds[k].code,
		     kinds[k].reason);
	if (n < 0 || n >= HEAD_MAX)
		return -1;
	*date_off = (uint32_t)n;
	m = snprintf(head + n, HEAD_MAX - n,
		     "%.*s\r\n%s%s%sContent-Type: text/plain\r\nContent-Length: %zu\r\n%s\r\n",
		     HTTP_DATE_LEN, date, kinds[k].code == 405 ? "Allow: " : "",
		     kinds[k].code == 405 ? allow : "", kinds[k].code == 405 ? "\r\n" : "",
		     body_len, conn_header[c]);
	if (m < 0 || m >= HEAD_MAX - n)
		return -1;
	return n + m;
}

/* Lays out (or, with out NULL, sizes) one generation; returns its size or -EINVAL. */
static ssize_t lay_out(struct http_responses *r, char *out, const char *body, size_t body_len,
		       const char date[HTTP_DATE_LEN])
{
	size_t off = 0;

	for (int k = 0; k < HTTP_RESP_KIND_COUNT; k++) {
		const char *kb = kinds[k].body ? kinds[k].body : body;
		size_t kb_len = kinds[k].body ? strlen(kinds[k].body) : body_len;

		for (int c = 0; c < HTTP_CONN_COUNT; c++) {
			char head[HEAD_MAX];
			uint32_t date_off;
			size_t len;
			int n;

			if (kinds[k].closing_only && c != HTTP_CONN_CLOSE)
				continue;
			n = format_head(head, k, c, kb_len, date, r->allow, &date_off);
			if (n < 0)
				return -EINVAL;
			len = (size_t)n + (body_inline(r, k) ? kb_len : 0);
			if (out) {
				memcpy(out + off, head, (size_t)n);
				if (body_inline(r, k))
					memcpy(out + off + n, kb, kb_len);
				r->ent[k][c].off = (uint32_t)off;
				r->ent[k][c].len = (uint32_t)len;
				r->ent[k][c].date_off = (uint32_t)off + date_off;
			}
			off += len;
		}
		/* Errors answer keep-alive requests with their closing variant too. */
		if (out && kinds[k].closing_only) {
			r->ent[k][HTTP_CONN_KEEP_11] = r->ent[k][HTTP_CONN_CLOSE];
			r->ent[k][HTTP_CONN_KEEP_10] = r->ent[k][HTTP_CONN_CLOSE];
		}
	}
	return (ssize_t)off;
}

int http_responses_init(struct http_responses *r, const char *body, size_t body_len, time_t now)
{
	return http_responses_init_allow(r, body, body_len, now, NULL);
}

int http_responses_init_allow(struct http_responses *r, const char *body, size_t body_len,
			      time_t now, const char *allow)
{
	char date[HTTP_DATE_LEN];
	char *filler = NULL;
	ssize_t size;
	int ret = -ENOMEM;

	memset(r, 0, sizeof(*r));
	snprintf(r->allow, sizeof(r->allow), "%s", allow ? allow : "GET, HEAD");
	if (body_len > UINT32_MAX - HEAD_MAX)
		return -EINVAL;
	if (!body && !body_len) {
		body = default_body;
		body_len = sizeof(default_body) - 1;
	} else if (!body) {
		/* Printable filler, so a dump of the response stays readable. */
		filler = malloc(body_len);
		if (!filler)
			return -ENOMEM;
		for (size_t i = 0; i < body_len; i++)
			filler[i] = (char)('a' + i % 26);
		body = filler;
	}
	if (body_len > HTTP_RESPONSE_INLINE_MAX) {
		/* Stored once, apart: the filler already is such a copy. */
		r->body = filler ? filler : malloc(body_len);
		if (!r->body)
			goto out_free_filler;
		if (!filler)
			memcpy(r->body, body, body_len);
		filler = NULL;
		r->body_len = (uint32_t)body_len;
	}

	http_format_date(date, now);
	size = lay_out(r, NULL, body, body_len, date);
	if (size < 0) {
		ret = (int)size;
		goto out_free_body;
	}
	r->buf_size = (size_t)size;
	for (int g = 0; g < 2; g++) {
		r->buf[g] = malloc(r->buf_size);
		if (!r->buf[g])
			goto out_free_bufs;
		lay_out(r, r->buf[g], body, body_len, date);
	}
	r->date_sec = (int64_t)now;
	free(filler);
	return 0;

out_free_bufs:
	free(r->buf[0]);
	r->buf[0] = NULL;
out_free_body:
	free(r->body);
	r->body = NULL;
out_free_filler:
	free(filler);
	return ret;
}

void http_responses_free(struct http_responses *r)
{
	free(r->buf[0]);
	free(r->buf[1]);
	free(r->body);
	r->buf[0] = NULL;
	r->buf[1] = NULL;
	r->body = NULL;
}

struct http_resp http_response_get(const struct http_responses *r, enum http_resp_kind kind,
				   bool keep_alive, unsigned minor)
{
	return http_response_get_gen(r, kind, keep_alive, minor, r->cur);
}

struct http_resp http_response_get_gen(const struct http_responses *r, enum http_resp_kind kind,
				       bool keep_alive, unsigned minor, unsigned gen)
{
	enum http_resp_conn c;
	struct http_resp resp;

	if ((unsigned)kind >= HTTP_RESP_KIND_COUNT)
		kind = HTTP_RESP_BAD_REQUEST;
	if (!keep_alive || kinds[kind].closing_only)
		c = HTTP_CONN_CLOSE;
	else
		c = minor ? HTTP_CONN_KEEP_11 : HTTP_CONN_KEEP_10;
	gen &= 1;
	resp.data = r->buf[gen] + r->ent[kind][c].off;
	resp.len = r->ent[kind][c].len;
	resp.body = NULL;
	resp.body_len = 0;
	if (kind == HTTP_RESP_OK && r->body) {
		resp.body = r->body;
		resp.body_len = r->body_len;
	}
	resp.gen = (uint8_t)gen;
	resp.close = c == HTTP_CONN_CLOSE;
	return resp;
}

static char *put(char *out, const char *s, size_t n)
{
	memcpy(out, s, n);
	return out + n;
}

#define PUT(out, lit) put(out, lit, sizeof(lit) - 1)

#define ECHO_DATE_AT "HTTP/1.1 200 OK\r\nServer: ringer\r\nDate: "

uint32_t http_response_echo_head(const struct http_responses *r, char *out, bool chunked,
				 uint64_t length, bool keep_alive, unsigned minor)
{
	enum http_resp_conn c = !keep_alive ? HTTP_CONN_CLOSE
				: minor	    ? HTTP_CONN_KEEP_11
					    : HTTP_CONN_KEEP_10;
	char digits[20];
	int nd = 0;
	char *p = out;

	/* Formatted by hand, as the Date is: a few copies, no printf on the hot path. */
	p = PUT(p, ECHO_DATE_AT);
	p = put(p, r->buf[r->cur] + r->ent[HTTP_RESP_OK][HTTP_CONN_KEEP_11].date_off,
		HTTP_DATE_LEN);
	p = PUT(p, "\r\nContent-Type: application/octet-stream\r\n");
	if (chunked) {
		p = PUT(p, "Transfer-Encoding: chunked\r\n");
	} else {
		p = PUT(p, "Content-Length: ");
		do {
			digits[nd++] = (char)('0' + length % 10);
			length /= 10;
		} while (length);
		while (nd)
			*p++ = digits[--nd];
		p = PUT(p, "\r\n");
	}
	p = put(p, conn_header[c], strlen(conn_header[c]));
	p = PUT(p, "\r\n");
	return (uint32_t)(p - out);
}

void http_response_echo_date(const struct http_responses *r, char *head)
{
	memcpy(head + sizeof(ECHO_DATE_AT) - 1,
	       r->buf[r->cur] + r->ent[HTTP_RESP_OK][HTTP_CONN_KEEP_11].date_off, HTTP_DATE_LEN);
}

enum http_resp_kind http_response_kind_for_status(int status)
{
	for (int k = 0; k < HTTP_RESP_KIND_COUNT; k++)
		if (kinds[k].code == status && !kinds[k].no_body)
			return k;
	return HTTP_RESP_BAD_REQUEST;
}

int http_response_set_date(struct http_responses *r, time_t now)
{
	unsigned spare = r->cur ^ 1;
	char date[HTTP_DATE_LEN];

	if ((int64_t)now == r->date_sec)
		return 0;
	if (r->holds[spare]) {
		/* A clock stepped back restarts the wait rather than extending it. */
		if (!r->busy_since || (int64_t)now < r->busy_since)
			r->busy_since = (int64_t)now;
		if ((int64_t)now - r->busy_since < HTTP_RESPONSE_HOLD_MAX_SEC)
			return -EBUSY;
		/* Held by sends stuck that long: their peers do not read (see the header). */
		r->forced++;
	}
	r->busy_since = 0;
	http_format_date(date, now);
	/* Aliased error entries are written twice over; harmless. */
	for (int k = 0; k < HTTP_RESP_KIND_COUNT; k++)
		for (int c = 0; c < HTTP_CONN_COUNT; c++)
			memcpy(r->buf[spare] + r->ent[k][c].date_off, date, HTTP_DATE_LEN);
	r->cur = (uint8_t)spare;
	r->date_sec = (int64_t)now;
	return 0;
}

void http_response_hold(struct http_responses *r, unsigned gen)
{
	r->holds[gen & 1]++;
}

void http_response_release(struct http_responses *r, unsigned gen)
{
	if (r->holds[gen & 1])
		r->holds[gen & 1]--;
}
