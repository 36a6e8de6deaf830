// SPDX-License-Identifier: MIT
/*
 * The response parser: a byte-at-a-time state machine for heads, chunk
 * lines and trailers, bulk skips for bodies and chunk data, and a fast path
 * for whole header lines that frame nothing.
 *
 *   PROTO -> MINOR -> SP -> CODE -> REASON -> HDR_START <-----------------+
 *                                              |  (name) HDR_NAME ->      |
 *                                              |         HDR_VALUE -------+
 *                                              v (empty line: end_head)
 *        1xx: INTERIM (HEAD event) -> PROTO;  101, HEAD, 204, 304: END
 *        chunked: CHUNK_SIZE -> [CHUNK_EXT] -> CHUNK_DATA -> CHUNK_END ->
 *                 CHUNK_SIZE ... size 0 -> HDR_START (trailer) -> END
 *        Content-Length: BODY -> END       neither: BODY_EOF to the close
 *   END -> DONE (the END event or the feed's DONE was returned; the next
 *   call starts the next response).
 *
 * The feed API and the event API run the same loop (run()); the feed one
 * does not stop at heads and skips body bytes itself. A CR anywhere in a
 * line must be followed by LF; that is checked once, in run(), so step()
 * sees each line end as a bare LF.
 */
#include "http_resp_parser.h"

#include <errno.h>
#include <string.h>

enum {
	/* A head or a trailer section: bytes count against HTTP_RP_HEAD_MAX. */
	S_PROTO,
	S_MINOR,
	S_SP,
	S_CODE,
	S_REASON,
	S_HDR_START,
	S_HDR_NAME,
	S_HDR_VALUE,
	/* A chunked body's framing lines. */
	S_CHUNK_SIZE,
	S_CHUNK_EXT,
	S_CHUNK_END,
	/* Body bytes, never looked at. */
	S_BODY,
	S_BODY_EOF,
	S_CHUNK_DATA,
	/* Between responses. */
	S_INTERIM, /* an interim head ended: the next call starts its final head */
	S_END,	   /* the response ended; END (or DONE) not reported yet */
	S_DONE,	   /* reported; the fields still describe it until the next call */
};

/* The sub-states of a chunk extension (RFC 9112 7.1.1), in p->sub. */
enum {
	X_SEMI,	   /* after the size and BWS: ";" must come */
	X_NAME0,   /* after ";": BWS, then a name */
	X_NAME,	   /* in the name */
	X_EQ,	   /* after the name and BWS: "=" or ";" */
	X_VAL0,	   /* after "=": BWS, then a token or a quoted string */
	X_TOKEN,   /* in a token value */
	X_QUOTED,  /* in a quoted string */
	X_QPAIR,   /* after a backslash in it */
	X_AFTER_Q, /* right after the closing quote */
	X_BWS,	   /* BWS after a value: ";" must come */
};

enum {
	H_OTHER,
	H_LENGTH,
	H_TE,
	H_CONNECTION,
};

/* Byte classes: 1 tchar (RFC 9110 5.6.2), 2 a field value's byte (VCHAR, obs-text, SP, HTAB). */
#define C_TOKEN 1
#define C_VALUE 2

static const uint8_t cls[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, /* HTAB */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* */
	2, 3, 2, 3, 3, 3, 3, 3, 2, 2, 3, 3, 2, 3, 3, 2, /* SP ! " # ... / */
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, /* 0-9 : ; < = > ? */
	2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* @ A-O */
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 3, 3, /* P-Z [ \ ] ^ _ */
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, /* ` a-o */
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 3, 2, 3, 0, /* p-z { | } ~ DEL */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* obs-text */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* */
};

static const char proto[] = "HTTP/1.";

void http_rparser_init(struct http_rparser *p)
{
	memset(p, 0, sizeof(*p));
	p->state = S_PROTO;
}

/* After an interim head: the final head of the same response comes next. */
static void restart(struct http_rparser *p)
{
	http_rparser_init(p);
	p->interim = true;
}

bool http_rparser_close(const struct http_rparser *p)
{
	if (p->conn_close || p->until_eof || p->upgrade)
		return true;
	return p->minor == 0 && !p->conn_keep_alive;
}

static bool ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static char lower(uint8_t c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

static int hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (uint8_t)lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static void end_name(struct http_rparser *p)
{
	static const struct {
		const char *name;
		uint8_t hdr;
	} known[] = {
		{"content-length", H_LENGTH},
		{"transfer-encoding", H_TE},
		{"connection", H_CONNECTION},
	};

	p->hdr = H_OTHER;
	if (!p->trailer) /* framing fields in trailers mean nothing (RFC 9110 6.5.1) */
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			if (p->name_len == strlen(known[i].name) &&
			    !memcmp(p->name, known[i].name, p->name_len))
				p->hdr = known[i].hdr;
	p->value_len = 0;
	p->sub = 0; /* elements of the field's list seen on this line */
}

/* A Content-Length element: 1*DIGIT, the same as any before it. */
static int length_elem(struct http_rparser *p, size_t n)
{
	uint64_t v = 0;

	if (!n || n > HTTP_RP_VALUE_MAX)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		uint64_t d = (uint64_t)(p->value[i] - '0');

		if (p->value[i] < '0' || p->value[i] > '9' || v > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		v = v * 10 + d;
	}
	/* Differing lengths are a smuggling vector: refuse them. */
	if (p->has_length && p->length != v)
		return -EBADMSG;
	p->has_length = true;
	p->length = v;
	return 0;
}

/*
 * A transfer coding: token [parameters]. Only its name matters, and only
 * whether it is chunked, which must come once (and last, or the body runs
 * to the close).
 */
static int coding_elem(struct http_rparser *p, size_t n)
{
	size_t k = 0;
	bool chunked;

	if (n > HTTP_RP_VALUE_MAX)
		return -EBADMSG;
	while (k < n && p->value[k] != ';')
		k++;
	while (k && ows((uint8_t)p->value[k - 1]))
		k--;
	if (!k)
		return -EBADMSG;
	for (size_t i = 0; i < k; i++)
		if (!(cls[(uint8_t)p->value[i]] & C_TOKEN))
			return -EBADMSG;
	chunked = k == 7 && !memcmp(p->value, "chunked", 7);
	if (chunked && p->seen_chunked)
		return -EBADMSG; /* RFC 9112 7: never applied twice */
	p->seen_chunked |= chunked;
	p->chunked = chunked; /* so far the last coding */
	return 0;
}

/* One element of a list-valued field ended (at a comma or the line's end). */
static int end_elem(struct http_rparser *p)
{
	size_t n = p->value_len;

	p->value_len = 0;
	if (n <= HTTP_RP_VALUE_MAX)
		while (n && ows((uint8_t)p->value[n - 1]))
			n--;
	if (p->hdr == H_LENGTH)
		return length_elem(p, n);
	if (!n)
		return 0; /* empty list elements are ignored (RFC 9110 5.6.1) */
	if (p->sub < UINT8_MAX)
		p->sub++;
	if (p->hdr == H_TE) {
		p->te = true;
		return coding_elem(p, n);
	}
	if (n == 5 && !memcmp(p->value, "close", 5))
		p->conn_close = true;
	if (n == 10 && !memcmp(p->value, "keep-alive", 10))
		p->conn_keep_alive = true;
	return 0;
}

/* A byte of a field we act on: lists split at commas, OWS around elements. */
static int value_byte(struct http_rparser *p, uint8_t c)
{
	if (c == ',')
		return end_elem(p);
	/* Leading OWS, and OWS past the buffer: an element that long is one anyway. */
	if (ows(c) && (!p->value_len || p->value_len >= HTTP_RP_VALUE_MAX))
		return 0;
	if (c == '"' && p->hdr == H_TE)
		return -EBADMSG; /* quoted parameters could hide a comma: none are in use */
	if (p->value_len < HTTP_RP_VALUE_MAX)
		p->value[p->value_len] = lower(c);
	if (p->value_len < UINT8_MAX)
		p->value_len++;
	return 0;
}

/* A header line ended. */
static int end_value(struct http_rparser *p)
{
	int ret;

	if (p->hdr == H_OTHER)
		return 0;
	ret = end_elem(p);
	if (ret)
		return ret;
	if (p->hdr == H_TE && !p->sub) {
		p->te = true;
		return -EBADMSG; /* Transfer-Encoding with no coding */
	}
	return 0;
}

/* The empty line after the headers: decide how the body is framed (RFC 9112 6.3). */
static int end_head(struct http_rparser *p)
{
	/* Both, or chunked in HTTP/1.0: the framing cannot be trusted (RFC 9112 6.1, 6.3). */
	if (p->te && (p->has_length || p->minor == 0))
		return -EBADMSG;
	if (p->status < 200 && p->status != 101) {
		/* An interim response (100 Continue, 103 Early Hints): the real one follows. */
		p->no_body = true;
		p->state = S_INTERIM;
	} else if (p->status == 101) {
		p->upgrade = true;
		p->no_body = true;
		p->state = S_END;
	} else if (p->head || p->status == 204 || p->status == 304) {
		p->no_body = true;
		p->state = S_END;
	} else if (p->te && p->chunked) {
		p->remaining = 0;
		p->name_len = 0; /* counts the chunk size's digits from here */
		p->state = S_CHUNK_SIZE;
	} else if (p->has_length && !p->te) {
		p->remaining = p->length;
		p->state = p->length ? S_BODY : S_END;
	} else {
		/* Neither, or a last coding other than chunked (rule 4): to the close. */
		p->until_eof = true;
		p->state = S_BODY_EOF;
	}
	return 0;
}

/* A chunk-size line ended: its data, or the trailer section after the last chunk. */
static void end_chunk_line(struct http_rparser *p)
{
	p->name_len = 0;
	if (p->remaining) {
		p->state = S_CHUNK_DATA;
		return;
	}
	p->trailer = true;
	p->head_len = 0;
	p->state = S_HDR_START;
}

/* One byte of a chunk extension: BWS ";" BWS name [BWS "=" BWS (token / quoted-string)]. */
static int chunk_ext(struct http_rparser *p, uint8_t c)
{
	bool tok = cls[c] & C_TOKEN;

	switch (p->sub) {
	case X_SEMI:
	case X_BWS:
		if (ows(c))
			return 0;
		break;
	case X_NAME0:
		if (ows(c))
			return 0;
		if (tok) {
			p->sub = X_NAME;
			return 0;
		}
		return -EBADMSG;
	case X_NAME:
	case X_TOKEN:
		if (tok)
			return 0;
		if (c == '\n') {
			end_chunk_line(p);
			return 0;
		}
		if (ows(c)) {
			p->sub = p->sub == X_NAME ? X_EQ : X_BWS;
			return 0;
		}
		if (c == '=' && p->sub == X_NAME) {
			p->sub = X_VAL0;
			return 0;
		}
		break;
	case X_EQ:
		if (ows(c))
			return 0;
		if (c == '=') {
			p->sub = X_VAL0;
			return 0;
		}
		break;
	case X_VAL0:
		if (ows(c))
			return 0;
		if (c == '"')
			p->sub = X_QUOTED;
		else if (tok)
			p->sub = X_TOKEN;
		else
			return -EBADMSG;
		return 0;
	case X_QUOTED:
		if (c == '"')
			p->sub = X_AFTER_Q;
		else if (c == '\\')
			p->sub = X_QPAIR;
		else if (!(cls[c] & C_VALUE))
			return -EBADMSG;
		return 0;
	case X_QPAIR:
		if (!(cls[c] & C_VALUE))
			return -EBADMSG;
		p->sub = X_QUOTED;
		return 0;
	case X_AFTER_Q:
		if (c == '\n') {
			end_chunk_line(p);
			return 0;
		}
		if (ows(c)) {
			p->sub = X_BWS;
			return 0;
		}
		break;
	}
	if (c == ';') {
		p->sub = X_NAME0;
		return 0;
	}
	return -EBADMSG;
}

/* One byte of a head, a trailer or a chunk's framing, never a CR. Returns 0 or -errno. */
static inline __attribute__((always_inline)) int step(struct http_rparser *p, uint8_t c)
{
	switch (p->state) {
	case S_PROTO:
		if (c != (uint8_t)proto[p->name_len])
			return -EBADMSG;
		if (++p->name_len == sizeof(proto) - 1)
			p->state = S_MINOR;
		return 0;
	case S_MINOR:
		if (c < '0' || c > '9')
			return -EBADMSG;
		p->minor = (uint8_t)(c - '0');
		p->state = S_SP;
		return 0;
	case S_SP:
		if (c != ' ')
			return -EBADMSG;
		p->name_len = 0;
		p->state = S_CODE;
		return 0;
	case S_CODE:
		if (p->name_len == 3) {
			if (c != ' ' && c != '\n')
				return -EBADMSG;
			p->state = c == '\n' ? S_HDR_START : S_REASON;
			return 0;
		}
		if (c < '0' || c > '9')
			return -EBADMSG;
		p->status = (uint16_t)(p->status * 10 + (c - '0'));
		p->name_len++;
		if (p->name_len == 3 && p->status < 100)
			return -EBADMSG;
		return 0;
	case S_REASON:
		if (c == '\n')
			p->state = S_HDR_START;
		else if (!(cls[c] & C_VALUE))
			return -EBADMSG;
		return 0;
	case S_HDR_START:
		if (c == '\n') {
			if (!p->trailer)
				return end_head(p);
			p->state = S_END;
			return 0;
		}
		/* A name is a token: this refuses obs-fold (SP, HTAB) and ":" first too. */
		if (!(cls[c] & C_TOKEN))
			return -EBADMSG;
		p->name_len = 0;
		p->state = S_HDR_NAME;
		/* fall through */
	case S_HDR_NAME:
		if (c == ':') {
			end_name(p);
			p->state = S_HDR_VALUE;
			return 0;
		}
		if (!(cls[c] & C_TOKEN))
			return -EBADMSG;
		if (p->name_len < HTTP_RP_NAME_MAX)
			p->name[p->name_len] = lower(c);
		if (p->name_len < UINT8_MAX)
			p->name_len++;
		return 0;
	case S_HDR_VALUE:
		if (c == '\n') {
			p->state = S_HDR_START;
			return end_value(p);
		}
		if (!(cls[c] & C_VALUE))
			return -EBADMSG;
		return p->hdr == H_OTHER ? 0 : value_byte(p, c);
	case S_CHUNK_SIZE: {
		int h = hex(c);

		if (h >= 0) {
			if (p->remaining >> 56)
				return -EBADMSG;
			p->remaining = p->remaining * 16 + (uint64_t)h;
			p->name_len = 1;
			return 0;
		}
		if (!p->name_len)
			return -EBADMSG;
		if (c == '\n') {
			end_chunk_line(p);
			return 0;
		}
		if (c != ';' && !ows(c))
			return -EBADMSG;
		p->sub = c == ';' ? X_NAME0 : X_SEMI;
		p->state = S_CHUNK_EXT;
		return 0;
	}
	case S_CHUNK_EXT:
		return chunk_ext(p, c);
	case S_CHUNK_END:
		if (c != '\n')
			return -EBADMSG;
		p->remaining = 0;
		p->name_len = 0;
		p->state = S_CHUNK_SIZE;
		return 0;
	}
	return -EBADMSG;
}

/*
 * The fast path for a line that is whole in the buffer and that no state
 * depends on: the reason phrase, or a field we do not act on (Server, Date,
 * Content-Type, every trailer field, ...). It is checked with a table and
 * skipped in one go instead of byte steps. Returns the bytes skipped, 0 to
 * take the byte path (which also finds any error in the line, at the same
 * byte as if the line had come in pieces), or -EMSGSIZE.
 */
static inline __attribute__((always_inline)) ssize_t skip_line(struct http_rparser *p,
							       const uint8_t *buf, size_t len)
{
	const uint8_t *lf;
	size_t n, end, k = 0;

	if (p->cr || (p->state != S_REASON && p->state != S_HDR_START))
		return 0;
	lf = memchr(buf, '\n', len);
	if (!lf)
		return 0;
	n = (size_t)(lf - buf) + 1;
	end = n - 1;
	if (end && buf[end - 1] == '\r')
		end--;
	if (p->state == S_HDR_START) {
		/* Empty lines, malformed names and the fields that frame the body: byte path. */
		while (k < end && (cls[buf[k]] & C_TOKEN))
			k++;
		if (!k || k == end || buf[k] != ':')
			return 0;
		if (!p->trailer && (k == 10 || k == 14 || k == 17))
			return 0;
		k++;
	}
	for (; k < end; k++)
		if (!(cls[buf[k]] & C_VALUE))
			return 0;
	if (p->line_len + n - 1 > HTTP_RP_LINE_MAX || p->head_len + n > HTTP_RP_HEAD_MAX)
		return -EMSGSIZE;
	p->head_len += (uint32_t)n;
	p->line_len = 0;
	p->state = S_HDR_START;
	return (ssize_t)n;
}

/* Nothing of the current response has been read: a head may start here. */
static bool fresh(const struct http_rparser *p)
{
	return p->state == S_PROTO && !p->name_len && !p->head_len;
}

static ssize_t fail(struct http_rparser *p, int err)
{
	p->err = (uint8_t)-err;
	return err;
}

/*
 * The one loop under both APIs: parses buf[0..len) until an event, and
 * returns the bytes consumed up to it. events: stop at HEAD and DATA (the
 * event API); else interim heads restart the parser and body bytes are
 * skipped here, so only END stops it (the feed API). m: the feed's memo.
 * Inlined into each API, so each gets its own loop with events a constant;
 * step() and skip_line() are inlined into both too, as they were into the
 * one loop before (called out of line, per byte, they cost 45% more).
 */
static inline __attribute__((always_inline)) ssize_t run(struct http_rparser *p,
							 struct http_rparser_memo *m,
							 const uint8_t *buf, size_t len, bool head,
							 bool events, enum http_rp_event *ev)
{
	size_t i = 0, start = SIZE_MAX; /* start: where a head began in buf */
	ssize_t ret;

	if (p->err)
		return -(ssize_t)p->err;
	if (p->state == S_DONE)
		http_rparser_init(p);
	p->head = head;
	for (;;) {
		switch (p->state) {
		case S_END:
			p->state = S_DONE;
			*ev = HTTP_RP_END;
			return (ssize_t)i;
		case S_INTERIM:
			restart(p);
			p->head = head;
			break;
		case S_BODY:
		case S_CHUNK_DATA:
			if (events) {
				*ev = HTTP_RP_DATA;
				return (ssize_t)i;
			}
			if (i == len)
				goto out;
			if (len - i < p->remaining) {
				p->remaining -= len - i;
				i = len;
				goto out;
			}
			i += (size_t)p->remaining;
			p->remaining = 0;
			p->state = p->state == S_BODY ? S_END : S_CHUNK_END;
			continue;
		case S_BODY_EOF:
			if (events) {
				*ev = HTTP_RP_DATA;
				return (ssize_t)i;
			}
			i = len;
			goto out;
		}
		if (i == len)
			break;
		if (m && fresh(p)) {
			if (m->len && m->head == head && len - i >= m->len &&
			    !memcmp(buf + i, m->bytes, m->len)) {
				*p = m->after;
				i += m->len;
				continue;
			}
			start = i;
		}
		if ((ret = skip_line(p, buf + i, len - i)) != 0) {
			if (ret < 0)
				return fail(p, (int)ret);
			i += (size_t)ret;
		} else {
			uint8_t s = p->state;
			uint8_t c = buf[i++];

			if (c == '\n')
				p->line_len = 0;
			else if (++p->line_len > HTTP_RP_LINE_MAX)
				return fail(p, -EMSGSIZE);
			if (s <= S_HDR_VALUE && ++p->head_len > HTTP_RP_HEAD_MAX)
				return fail(p, -EMSGSIZE);
			if (c == '\r') {
				if (p->cr)
					return fail(p, -EBADMSG);
				p->cr = true;
				continue;
			}
			if (p->cr) {
				if (c != '\n')
					return fail(p, -EBADMSG);
				p->cr = false;
			}
			ret = step(p, c);
			if (ret)
				return fail(p, (int)ret);
			if (s <= S_HDR_VALUE && p->state > S_HDR_VALUE && !p->trailer) {
				/* A final head read whole from buf: the new memo. */
				if (m && p->state != S_INTERIM && start != SIZE_MAX &&
				    i - start <= HTTP_RP_MEMO_MAX) {
					m->len = (uint32_t)(i - start);
					m->head = head;
					m->after = *p;
					memcpy(m->bytes, buf + start, m->len);
				}
				if (events) {
					*ev = HTTP_RP_HEAD;
					return (ssize_t)i;
				}
			}
		}
	}
out:
	*ev = HTTP_RP_NONE;
	return (ssize_t)i;
}

int http_rparser_feed_memo(struct http_rparser *p, struct http_rparser_memo *m, const uint8_t *buf,
			   size_t len, bool head_req, size_t *used)
{
	enum http_rp_event ev = HTTP_RP_NONE;
	ssize_t n = run(p, m, buf, len, head_req, false, &ev);

	if (n < 0)
		return (int)n;
	*used = (size_t)n;
	return ev == HTTP_RP_END ? HTTP_RP_DONE : HTTP_RP_MORE;
}

int http_rparser_feed(struct http_rparser *p, const uint8_t *buf, size_t len, bool head_req,
		      size_t *used)
{
	return http_rparser_feed_memo(p, NULL, buf, len, head_req, used);
}

ssize_t http_rparse_event(struct http_rparser *p, const uint8_t *buf, size_t len, bool head_req,
			  enum http_rp_event *ev)
{
	return run(p, NULL, buf, len, head_req, true, ev);
}

uint64_t http_rparser_data_left(const struct http_rparser *p)
{
	if (p->err)
		return 0;
	if (p->state == S_BODY || p->state == S_CHUNK_DATA)
		return p->remaining;
	return p->state == S_BODY_EOF ? UINT64_MAX : 0;
}

void http_rparser_take_data(struct http_rparser *p, uint64_t n)
{
	if (p->err || (p->state != S_BODY && p->state != S_CHUNK_DATA))
		return;
	p->remaining -= n < p->remaining ? n : p->remaining;
	if (!p->remaining)
		p->state = p->state == S_BODY ? S_END : S_CHUNK_END;
}

int http_rparser_eof(struct http_rparser *p)
{
	if (p->err)
		return -(int)p->err;
	if (p->state == S_BODY_EOF || p->state == S_END) {
		p->state = S_DONE;
		return HTTP_RP_DONE;
	}
	if (p->state == S_DONE || (fresh(p) && !p->interim))
		return 0;
	return -EPIPE;
}
