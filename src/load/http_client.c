// SPDX-License-Identifier: MIT
/*
 * The response parser: a byte-at-a-time state machine for the head, bulk
 * skips for bodies and chunk data.
 *
 *   PROTO -> MINOR -> SP -> CODE -> REASON -> HDR_START <-----------------+
 *                                              |  (name) HDR_NAME ->      |
 *                                              |         HDR_VALUE -------+
 *                                              v (empty line)
 *                     1xx: back to PROTO; HEAD, 204, 304: DONE
 *                     chunked: CHUNK_SIZE -> [CHUNK_EXT] -> CHUNK_DATA ->
 *                              CHUNK_END -> CHUNK_SIZE ... size 0 ->
 *                              TRAILER_START <-> TRAILER_LINE -> DONE
 *                     Content-Length: BODY -> DONE
 *                     neither: BODY_EOF until the connection ends
 */
#include "http_client.h"

#include <errno.h>
#include <string.h>
#include <sys/types.h>

enum {
	S_PROTO,
	S_MINOR,
	S_SP,
	S_CODE,
	S_REASON,
	S_HDR_START,
	S_HDR_NAME,
	S_HDR_VALUE,
	S_HEAD_LF,
	S_BODY,
	S_BODY_EOF,
	S_CHUNK_SIZE,
	S_CHUNK_EXT,
	S_CHUNK_DATA,
	S_CHUNK_END,
	S_TRAILER_START,
	S_TRAILER_LINE,
	S_DONE,
};

enum {
	H_OTHER,
	H_LENGTH,
	H_TE,
	H_CONNECTION,
};

static const char proto[] = "HTTP/1.";

void http_resp_init(struct http_resp *p)
{
	memset(p, 0, sizeof(*p));
	p->state = S_PROTO;
}

bool http_resp_close(const struct http_resp *p)
{
	if (p->conn_close || p->until_eof)
		return true;
	return p->minor == 0 && !p->conn_keep_alive;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static int hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (uint8_t)lower((char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool value_has(const struct http_resp *p, const char *tok)
{
	return memmem(p->value, p->value_len, tok, strlen(tok)) != NULL;
}

static void end_name(struct http_resp *p)
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
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (p->name_len == strlen(known[i].name) &&
		    !memcmp(p->name, known[i].name, p->name_len))
			p->hdr = known[i].hdr;
	p->value_len = 0;
}

/* A header line ended: act on the headers that frame the body. */
static int end_value(struct http_resp *p)
{
	uint64_t v = 0;

	while (p->value_len &&
	       (p->value[p->value_len - 1] == ' ' || p->value[p->value_len - 1] == '\t'))
		p->value_len--;
	switch (p->hdr) {
	case H_LENGTH:
		if (!p->value_len || p->value_len > 18)
			return -EBADMSG;
		for (unsigned i = 0; i < p->value_len; i++) {
			if (p->value[i] < '0' || p->value[i] > '9')
				return -EBADMSG;
			v = v * 10 + (uint64_t)(p->value[i] - '0');
		}
		/* Differing repeated lengths are a smuggling vector: refuse them. */
		if (p->has_length && p->remaining != v)
			return -EBADMSG;
		p->has_length = true;
		p->remaining = v;
		break;
	case H_TE:
		p->chunked =
			p->value_len >= 7 && !memcmp(p->value + p->value_len - 7, "chunked", 7);
		break;
	case H_CONNECTION:
		if (value_has(p, "close"))
			p->conn_close = true;
		if (value_has(p, "keep-alive"))
			p->conn_keep_alive = true;
		break;
	}
	return 0;
}

/* The empty line after the headers: decide how the body is framed. */
static void end_head(struct http_resp *p)
{
	if (p->status < 200) {
		/* An interim response (100 Continue, 103 Early Hints): the real one follows. */
		bool head = p->head;

		http_resp_init(p);
		p->head = head;
		return;
	}
	if (p->head || p->status == 204 || p->status == 304) {
		p->state = S_DONE;
	} else if (p->chunked) {
		p->remaining = 0;
		p->name_len = 0; /* counts the chunk size's digits from here */
		p->state = S_CHUNK_SIZE;
	} else if (p->has_length) {
		p->state = p->remaining ? S_BODY : S_DONE;
	} else {
		p->until_eof = true;
		p->state = S_BODY_EOF;
	}
}

static bool head_state(uint8_t s)
{
	return s <= S_HEAD_LF || s == S_CHUNK_SIZE || s == S_CHUNK_EXT || s >= S_TRAILER_START;
}

/* One byte of the head or of a chunk's framing. Returns 0 or -errno. */
static int step(struct http_resp *p, uint8_t c)
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
			if (c != ' ' && c != '\r' && c != '\n')
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
		return 0;
	case S_HDR_START:
		if (c == '\r') {
			p->state = S_HEAD_LF;
			return 0;
		}
		if (c == '\n') {
			end_head(p);
			return 0;
		}
		if (c == ':' || c == ' ' || c == '\t')
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
		if (c == '\r' || c == '\n')
			return -EBADMSG;
		if (p->name_len < HTTP_RESP_NAME_MAX)
			p->name[p->name_len] = lower((char)c);
		if (p->name_len < UINT8_MAX)
			p->name_len++;
		return 0;
	case S_HDR_VALUE:
		if (c == '\n') {
			p->state = S_HDR_START;
			return end_value(p);
		}
		if (c == '\r' || ((c == ' ' || c == '\t') && !p->value_len))
			return 0;
		if (p->hdr == H_OTHER)
			return 0;
		if (p->value_len == HTTP_RESP_VALUE_MAX)
			return p->hdr == H_LENGTH ? -EBADMSG : 0;
		p->value[p->value_len++] = lower((char)c);
		return 0;
	case S_HEAD_LF:
		if (c != '\n')
			return -EBADMSG;
		end_head(p);
		return 0;
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
			p->name_len = 0;
			p->state = p->remaining ? S_CHUNK_DATA : S_TRAILER_START;
			return 0;
		}
		/* Chunk extensions (and the CR) are skipped to the end of the line. */
		p->state = S_CHUNK_EXT;
		return 0;
	}
	case S_CHUNK_EXT:
		if (c == '\n') {
			p->name_len = 0;
			p->state = p->remaining ? S_CHUNK_DATA : S_TRAILER_START;
		}
		return 0;
	case S_CHUNK_END:
		if (c == '\r')
			return 0;
		if (c != '\n')
			return -EBADMSG;
		p->remaining = 0;
		p->state = S_CHUNK_SIZE;
		return 0;
	case S_TRAILER_START:
		if (c == '\n') {
			p->state = S_DONE;
			return 0;
		}
		if (c != '\r')
			p->state = S_TRAILER_LINE;
		return 0;
	case S_TRAILER_LINE:
		if (c == '\n')
			p->state = S_TRAILER_START;
		return 0;
	}
	return -EBADMSG;
}

/*
 * The fast path for a line that is whole in the buffer and that no state
 * depends on: the reason phrase, or a header we do not act on (Server, Date,
 * Content-Type, ...). It is skipped with one memchr instead of byte steps.
 * Returns the bytes skipped, 0 to take the byte path, or -errno.
 */
static ssize_t skip_line(struct http_resp *p, const uint8_t *buf, size_t len)
{
	const uint8_t *lf, *colon;
	size_t n, name;

	if (p->state != S_REASON && p->state != S_HDR_START)
		return 0;
	lf = memchr(buf, '\n', len);
	if (!lf)
		return 0;
	n = (size_t)(lf - buf) + 1;
	if (p->line_len + n > HTTP_RESP_LINE_MAX || p->head_len + n > HTTP_RESP_HEAD_MAX)
		return -EMSGSIZE;
	if (p->state == S_HDR_START) {
		/* Empty lines, malformed names and the headers that frame the body: byte path. */
		if (buf[0] == '\r' || buf[0] == '\n' || buf[0] == ':' || buf[0] == ' ' ||
		    buf[0] == '\t')
			return 0;
		colon = memchr(buf, ':', n);
		if (!colon)
			return 0;
		name = (size_t)(colon - buf);
		if (memchr(buf, '\r', name) || name == 14 || name == 17 || name == 10)
			return 0;
	}
	p->head_len += (uint32_t)n;
	p->line_len = 0;
	p->state = S_HDR_START;
	return (ssize_t)n;
}

/* Nothing of the current response has been read: a head may start here. */
static bool fresh(const struct http_resp *p)
{
	return p->state == S_PROTO && !p->name_len && !p->head_len;
}

int http_resp_feed_memo(struct http_resp *p, struct http_resp_memo *m, const uint8_t *buf,
			size_t len, bool head, size_t *used)
{
	size_t i = 0, start = SIZE_MAX; /* start: where a head began in buf */
	int ret;

	if (p->state == S_DONE)
		http_resp_init(p);
	p->head = head;
	while (i < len) {
		if (m && fresh(p)) {
			if (m->len && m->head == head && len - i >= m->len &&
			    !memcmp(buf + i, m->bytes, m->len)) {
				*p = m->after;
				i += m->len;
				if (p->state == S_DONE)
					break;
				continue;
			}
			start = i;
		}
		if (p->state == S_BODY || p->state == S_CHUNK_DATA) {
			size_t n = len - i < p->remaining ? len - i : (size_t)p->remaining;

			i += n;
			p->remaining -= n;
			if (!p->remaining)
				p->state = p->state == S_BODY ? S_DONE : S_CHUNK_END;
		} else if (p->state == S_BODY_EOF) {
			i = len;
		} else if ((ret = (int)skip_line(p, buf + i, len - i)) != 0) {
			if (ret < 0)
				return ret;
			i += (size_t)ret;
		} else {
			uint8_t s = p->state;
			uint8_t c = buf[i++];

			if (head_state(s)) {
				if (c == '\n')
					p->line_len = 0;
				else if (++p->line_len > HTTP_RESP_LINE_MAX)
					return -EMSGSIZE;
				if (s <= S_HEAD_LF && ++p->head_len > HTTP_RESP_HEAD_MAX)
					return -EMSGSIZE;
			}
			ret = step(p, c);
			if (ret)
				return ret;
			/* A head read whole from buf (not an interim 1xx one): the new memo. */
			if (m && s <= S_HEAD_LF && p->state > S_HEAD_LF && start != SIZE_MAX &&
			    i - start <= HTTP_RESP_MEMO_MAX) {
				m->len = (uint32_t)(i - start);
				m->head = head;
				m->after = *p;
				memcpy(m->bytes, buf + start, m->len);
			}
		}
		if (p->state == S_DONE)
			break;
	}
	*used = i;
	return p->state == S_DONE ? HTTP_RESP_DONE : HTTP_RESP_MORE;
}

int http_resp_feed(struct http_resp *p, const uint8_t *buf, size_t len, bool head, size_t *used)
{
	return http_resp_feed_memo(p, NULL, buf, len, head, used);
}

int http_resp_eof(struct http_resp *p)
{
	if (p->state == S_BODY_EOF) {
		p->state = S_DONE;
		return HTTP_RESP_DONE;
	}
	if (p->state == S_DONE || (p->state == S_PROTO && p->name_len == 0))
		return 0;
	return -EPIPE;
}
