// SPDX-License-Identifier: MIT
/*
 * A streaming HTTP/1.x request parser. The header explains the contract;
 * this file is the state machine behind it.
 *
 *   START --> METHOD --> TARGET_START --> TARGET --> VERSION --> LINE_LF
 *     ^  (empty lines skipped)                          |           |
 *     |                                                 v           v
 *     |          +------------------------------- HDR_START <-------+
 *     |          |             ^        ^            |   \
 *     |          v             |        |            |    \ empty line
 *     |      HDR_NAME ---> value states  HDR_LF      |     (HDR_END_LF)
 *     |                   (HDR_VALUE, CL_*, LIST_*)  |        |
 *     |                                              v        v
 *     |        DONE <----------- BODY <----------- headers_done()
 *     |         ^                                     |
 *     |         |  trailers (HDR_* with F_TRAILER)    v
 *     |         +----------- CHUNK_SIZE_START -> CHUNK_SIZE -> CHUNK_EXT
 *     |                           ^                   |  CHUNK_LF
 *     |                           |                   v
 *     |                      CHUNK_DATA_CR/LF <- CHUNK_DATA
 *     +-- http_parse() returns at DONE and the parser starts over.
 *
 * Each state handler runs as far as it can within the buffer (a word-at-a-
 * time scan for the long runs: target and field values) and returns to the
 * loop only when the state changes or the buffer ends, so a resumed call
 * picks up exactly where the last one stopped. Bytes consumed are charged,
 * after each step, to the limit of the group the step's state belongs to
 * (request line, header section, chunk-size line), which is how limits are
 * exact to the byte without per-byte counting.
 *
 * Only five field names are interpreted (Connection, Content-Length,
 * Transfer-Encoding, Host, Expect) and four tokens in their values (close,
 * keep-alive, chunked, 100-continue), plus the methods GET, HEAD, POST, PUT, DELETE, PATCH and OPTIONS. They are matched while the bytes
 * stream past, with a bit mask of the candidate words still alive and a
 * position: no byte of a name or token is ever needed twice.
 */
#include <string.h>

#include "http_parser.h"

/* As in the kernel: a case that continues into the next one says so. */
#define fallthrough __attribute__((__fallthrough__))

enum state {
	S_START,
	S_START_LF,
	S_METHOD,
	S_TARGET_START,
	S_TARGET,
	S_VERSION,
	S_LINE_LF,
	S_HDR_START,
	S_HDR_NAME,
	S_HDR_VALUE,
	S_CL_PRE,
	S_CL_DIGITS,
	S_CL_POST,
	S_LIST_SEP,
	S_LIST_TOKEN,
	S_HOST,
	S_HOST_POST,
	S_HDR_LF,
	S_HDR_END_LF,
	S_BODY,
	S_CHUNK_SIZE_START,
	S_CHUNK_SIZE,
	S_CHUNK_EXT,
	S_CHUNK_LF,
	S_CHUNK_DATA,
	S_CHUNK_DATA_CR,
	S_CHUNK_DATA_LF,
	S_DONE,
	S_ERROR,
	S_COUNT,
};

enum flag {
	F_CLOSE = 1u << 0,	     /* Connection: close */
	F_KEEP_ALIVE = 1u << 1,	     /* Connection: keep-alive */
	F_CL = 1u << 2,		     /* a Content-Length was seen; its value is in length */
	F_CL_DIGIT = 1u << 3,	     /* the Content-Length being read has a digit */
	F_TE = 1u << 4,		     /* a Transfer-Encoding was seen */
	F_TE_ONE = 1u << 5,	     /* ... with at least one coding */
	F_TE_MANY = 1u << 6,	     /* ... with more than one coding */
	F_TE_LAST_CHUNKED = 1u << 7, /* ... the last of which is chunked */
	F_CHUNKED = 1u << 8,	     /* the body is being decoded as chunked */
	F_TRAILER = 1u << 9,	     /* the field lines are a chunked body's trailers */
	F_HOST = 1u << 10,	     /* a Host field was seen */
	F_CONTINUE = 1u << 11,	     /* Expect: 100-continue */
};

/* Limit groups: the bytes of a step count against the limit of its state's group. */
enum group {
	G_NONE,
	G_LINE,
	G_HEADER,
	G_CHUNK,
};

static const unsigned char state_group[S_COUNT] = {
	[S_START] = G_LINE,	   [S_START_LF] = G_LINE,
	[S_METHOD] = G_LINE,	   [S_TARGET_START] = G_LINE,
	[S_TARGET] = G_LINE,	   [S_VERSION] = G_LINE,
	[S_LINE_LF] = G_LINE,	   [S_HDR_START] = G_HEADER,
	[S_HDR_NAME] = G_HEADER,   [S_HDR_VALUE] = G_HEADER,
	[S_CL_PRE] = G_HEADER,	   [S_CL_DIGITS] = G_HEADER,
	[S_CL_POST] = G_HEADER,	   [S_LIST_SEP] = G_HEADER,
	[S_LIST_TOKEN] = G_HEADER, [S_HOST] = G_HEADER,
	[S_HOST_POST] = G_HEADER,  [S_HDR_LF] = G_HEADER,
	[S_HDR_END_LF] = G_HEADER, [S_CHUNK_SIZE_START] = G_CHUNK,
	[S_CHUNK_SIZE] = G_CHUNK,  [S_CHUNK_EXT] = G_CHUNK,
	[S_CHUNK_LF] = G_CHUNK,
};

/*
 * The words matched on the fly, one bit each. Field names and value tokens
 * are compared lower-cased; methods are case-sensitive (RFC 9110 9.1).
 */
enum word {
	W_CONNECTION,
	W_CONTENT_LENGTH,
	W_TRANSFER_ENCODING,
	W_HOST,
	W_EXPECT,
	W_CLOSE,
	W_KEEP_ALIVE,
	W_CHUNKED,
	W_100_CONTINUE,
	W_GET,
	W_HEAD,
	W_POST,
	W_PUT,
	W_DELETE,
	W_PATCH,
	W_OPTIONS,
	W_COUNT,
};

static const struct {
	char s[18]; /* inline, not a pointer: one load less per byte matched */
	unsigned char len;
} words[W_COUNT] = {
	[W_CONNECTION] = {"connection", 10},
	[W_CONTENT_LENGTH] = {"content-length", 14},
	[W_TRANSFER_ENCODING] = {"transfer-encoding", 17},
	[W_HOST] = {"host", 4},
	[W_EXPECT] = {"expect", 6},
	[W_CLOSE] = {"close", 5},
	[W_KEEP_ALIVE] = {"keep-alive", 10},
	[W_CHUNKED] = {"chunked", 7},
	[W_100_CONTINUE] = {"100-continue", 12},
	[W_GET] = {"GET", 3},
	[W_HEAD] = {"HEAD", 4},
	[W_POST] = {"POST", 4},
	[W_PUT] = {"PUT", 3},
	[W_DELETE] = {"DELETE", 6},
	[W_PATCH] = {"PATCH", 5},
	[W_OPTIONS] = {"OPTIONS", 7},
};

#define BIT(w) (1u << (w))
#define NAME_WORDS                                                                            \
	(BIT(W_CONNECTION) | BIT(W_CONTENT_LENGTH) | BIT(W_TRANSFER_ENCODING) | BIT(W_HOST) | \
	 BIT(W_EXPECT))
#define CONN_WORDS (BIT(W_CLOSE) | BIT(W_KEEP_ALIVE))
#define TE_WORDS   BIT(W_CHUNKED)
#define EXP_WORDS  BIT(W_100_CONTINUE)
#define METH_WORDS                                                                            \
	(BIT(W_GET) | BIT(W_HEAD) | BIT(W_POST) | BIT(W_PUT) | BIT(W_DELETE) | BIT(W_PATCH) | \
	 BIT(W_OPTIONS))

_Static_assert(W_COUNT <= 16, "candidate masks are 16 bits");

/* Which field's value is being read (p->field after the colon). */
enum field {
	FIELD_OTHER,
	FIELD_CONNECTION,
	FIELD_CONTENT_LENGTH,
	FIELD_TRANSFER_ENCODING,
	FIELD_HOST,
	FIELD_EXPECT,
};

/* tchar of RFC 9110 5.6.2: the bytes of methods and field names. */
static const unsigned char tchar[256] = {
	['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
	['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
	['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
	['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
	['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
	['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
	['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
	['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
	['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
	['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/*
 * The bytes of a Host value (RFC 9110 7.2, RFC 3986 3.2.2): uri-host [":" port],
 * where uri-host is a reg-name (unreserved, pct-encoded, sub-delims) or an
 * IP literal in brackets. Userinfo ('@'), paths, queries, fragments,
 * backslashes, quotes, controls and obs-text are not part of a host.
 */
static const unsigned char hostchar[256] = {
	['!'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1, ['*'] = 1,
	['+'] = 1, [','] = 1, ['-'] = 1, ['.'] = 1, [':'] = 1,	[';'] = 1, ['='] = 1, ['['] = 1,
	[']'] = 1, ['_'] = 1, ['~'] = 1, ['0'] = 1, ['1'] = 1,	['2'] = 1, ['3'] = 1, ['4'] = 1,
	['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,	['A'] = 1, ['B'] = 1, ['C'] = 1,
	['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,	['I'] = 1, ['J'] = 1, ['K'] = 1,
	['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,	['Q'] = 1, ['R'] = 1, ['S'] = 1,
	['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,	['Y'] = 1, ['Z'] = 1, ['a'] = 1,
	['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,	['g'] = 1, ['h'] = 1, ['i'] = 1,
	['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,	['o'] = 1, ['p'] = 1, ['q'] = 1,
	['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,	['w'] = 1, ['x'] = 1, ['y'] = 1,
	['z'] = 1,
};

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

/* Drops the candidates whose byte at position idx is not c. */
static uint16_t match_step(uint16_t mask, unsigned char idx, unsigned char c)
{
	for (unsigned m = mask; m; m &= m - 1) {
		unsigned w = (unsigned)__builtin_ctz(m);

		if (idx >= words[w].len || words[w].s[idx] != c)
			mask &= ~BIT(w);
	}
	return mask;
}

/* The candidate that matched completely after idx bytes, as a bit, or 0. */
static uint16_t match_end(uint16_t mask, unsigned char idx)
{
	for (unsigned w = 0; w < W_COUNT; w++)
		if ((mask & BIT(w)) && words[w].len == idx)
			return BIT(w);
	return 0;
}

/*
 * Word-at-a-time scans for the long runs. haslt() is nonzero iff some byte of
 * x is below n (n <= 128; from "Bit Twiddling Hacks"); the exact byte is then
 * found bytewise, so only whole in-bounds words are ever loaded.
 */
#define ONES	      0x0101010101010101ull
#define HIGHS	      0x8080808080808080ull
#define haslt(x, n)   (((x)-ONES * (n)) & ~(x)&HIGHS)
#define haszero(x)    (((x)-ONES) & ~(x)&HIGHS)
#define hasbyte(x, b) haszero((x) ^ (ONES * (b)))

static uint64_t load8(const unsigned char *b)
{
	uint64_t x;

	memcpy(&x, b, sizeof(x));
	return x;
}

/* First byte at or after pos that is not a request-target byte (> 0x20, not DEL). */
static size_t scan_target(const unsigned char *b, size_t pos, size_t len)
{
	for (;;) {
		while (len - pos >= 8) {
			uint64_t x = load8(b + pos);

			if (haslt(x, 0x21) | hasbyte(x, 0x7f))
				break;
			pos += 8;
		}
		for (size_t stop = len - pos > 8 ? pos + 8 : len; pos < stop; pos++)
			if (b[pos] <= 0x20 || b[pos] == 0x7f)
				return pos;
		if (pos == len)
			return pos;
	}
}

/* First byte at or after pos that may not appear in a field value: a CTL other than HTAB. */
static size_t scan_value(const unsigned char *b, size_t pos, size_t len)
{
	for (;;) {
		while (len - pos >= 8) {
			uint64_t x = load8(b + pos);

			if (haslt(x, 0x20) | hasbyte(x, 0x7f))
				break;
			pos += 8;
		}
		for (size_t stop = len - pos > 8 ? pos + 8 : len; pos < stop; pos++)
			if ((b[pos] < 0x20 && b[pos] != '\t') || b[pos] == 0x7f)
				return pos;
		if (pos == len)
			return pos;
	}
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static ssize_t fail(struct http_parser *p, enum http_error err)
{
	p->state = S_ERROR;
	p->field = (uint8_t)err;
	return -(ssize_t)err;
}

void http_parser_init(struct http_parser *p)
{
	memset(p, 0, sizeof(*p));
}

bool http_parser_idle(const struct http_parser *p)
{
	return p->state == S_START && p->count == 0;
}

bool http_parser_in_head(const struct http_parser *p)
{
	return !http_parser_idle(p) && p->state < S_BODY;
}

/* The request line ended: check the version, get ready for field lines. */
static enum http_error line_done(struct http_parser *p)
{
	/* p->field holds the major version while the request line is read. */
	if (p->field != 1 || p->minor > 1)
		return HTTP_ERR_VERSION;
	p->field = FIELD_OTHER;
	p->state = S_HDR_START;
	return HTTP_ERR_NONE;
}

/* A Connection or Transfer-Encoding token ended. */
static void token_done(struct http_parser *p)
{
	uint16_t m = match_end(p->mask, p->idx);

	if (p->field == FIELD_CONNECTION) {
		if (m == BIT(W_CLOSE))
			p->flags |= F_CLOSE;
		else if (m == BIT(W_KEEP_ALIVE))
			p->flags |= F_KEEP_ALIVE;
	} else if (p->field == FIELD_EXPECT) {
		if (m == BIT(W_100_CONTINUE))
			p->flags |= F_CONTINUE;
	} else if (m == BIT(W_CHUNKED)) {
		p->flags |= F_TE_LAST_CHUNKED;
	} else {
		p->flags &= ~F_TE_LAST_CHUNKED;
	}
}

/* A field value ended at CR or LF; lf says which, and so the next state. */
static enum http_error value_done(struct http_parser *p, bool lf)
{
	if (p->field == FIELD_CONTENT_LENGTH) {
		if (!(p->flags & F_CL_DIGIT))
			return HTTP_ERR_BAD_LENGTH;
		if ((p->flags & F_CL) && p->length != p->remaining)
			return HTTP_ERR_BAD_LENGTH;
		p->length = p->remaining;
		p->remaining = 0;
		p->flags = (p->flags | F_CL) & ~F_CL_DIGIT;
	}
	p->field = FIELD_OTHER;
	p->state = lf ? S_HDR_START : S_HDR_LF;
	return HTTP_ERR_NONE;
}

/*
 * The empty line after the field lines: decide how the body is framed
 * (RFC 9112 6.3), or finish the request after its trailers.
 */
static enum http_error headers_done(struct http_parser *p)
{
	if (p->flags & F_TRAILER) {
		p->state = S_DONE;
		return HTTP_ERR_NONE;
	}
	/* RFC 9112 3.2: an HTTP/1.1 request without Host is 400 (1.0 predates it). */
	if (p->minor && !(p->flags & F_HOST))
		return HTTP_ERR_BAD_HOST;
	if (p->flags & F_TE) {
		if (p->minor == 0 || (p->flags & F_CL) || !(p->flags & F_TE_LAST_CHUNKED))
			return HTTP_ERR_BAD_FRAMING;
		if (p->flags & F_TE_MANY)
			return HTTP_ERR_NOT_IMPLEMENTED;
		p->flags |= F_CHUNKED;
		p->remaining = 0;
		p->state = S_CHUNK_SIZE_START;
	} else if ((p->flags & F_CL) && p->length) {
		p->remaining = p->length;
		p->state = S_BODY;
	} else {
		p->state = S_DONE;
	}
	return HTTP_ERR_NONE;
}

/* The colon after a field name: pick the value state for the field. */
static enum http_error name_done(struct http_parser *p)
{
	uint16_t m = (p->flags & F_TRAILER) ? 0 : match_end(p->mask, p->idx);

	p->mask = 0;
	p->idx = 0;
	if (m == BIT(W_CONNECTION)) {
		p->field = FIELD_CONNECTION;
		p->state = S_LIST_SEP;
	} else if (m == BIT(W_TRANSFER_ENCODING)) {
		p->field = FIELD_TRANSFER_ENCODING;
		p->flags |= F_TE;
		p->state = S_LIST_SEP;
	} else if (m == BIT(W_CONTENT_LENGTH)) {
		p->field = FIELD_CONTENT_LENGTH;
		p->remaining = 0;
		p->state = S_CL_PRE;
	} else if (m == BIT(W_EXPECT)) {
		p->field = FIELD_EXPECT;
		p->state = S_LIST_SEP;
	} else if (m == BIT(W_HOST)) {
		/* RFC 9112 3.2: more than one Host field line is 400. */
		if (p->flags & F_HOST)
			return HTTP_ERR_BAD_HOST;
		p->flags |= F_HOST;
		p->field = FIELD_HOST;
		p->idx = 0; /* counts the leading whitespace's end: 1 once the host began */
		p->state = S_HOST;
	} else {
		p->field = FIELD_OTHER;
		p->state = S_HDR_VALUE;
	}
	return HTTP_ERR_NONE;
}

/*
 * A chunk-size line ended: its data follows, or after the last (empty)
 * chunk, the trailer section, read as field lines but not interpreted.
 */
static void chunk_line_done(struct http_parser *p)
{
	if (p->remaining) {
		p->state = S_CHUNK_DATA;
		return;
	}
	p->flags |= F_TRAILER;
	p->headers = 0;
	p->state = S_HDR_START;
}

/*
 * One step of the state machine from b[*pos]: consume what belongs to the
 * current state, possibly change state. Returns an error or HTTP_ERR_NONE.
 * *tstart and *path_len record a request-target seen within this call.
 */
static enum http_error step(struct http_parser *p, const unsigned char *b, size_t *posp, size_t len,
			    size_t *tstart, size_t *path_len)
{
	size_t pos = *posp;
	unsigned char c = b[pos];
	enum http_error err = HTTP_ERR_NONE;

	switch (p->state) {
	/*
	 * Where one state leads to the next on the common path, its case falls
	 * through into the next one instead of going round the dispatch loop.
	 */
	case S_START_LF:
		if (c != '\n')
			return HTTP_ERR_BAD_REQUEST;
		p->state = S_START;
		pos++;
		break;
	case S_START:
		/* RFC 9112 2.2: ignore empty lines before the request line. */
		if (c == '\r') {
			p->state = S_START_LF;
			pos++;
			break;
		} else if (c == '\n') {
			pos++;
			break;
		}
		p->mask = METH_WORDS;
		p->idx = 0;
		p->state = S_METHOD;
		fallthrough;
	case S_METHOD: {
		uint16_t mask = p->mask;
		unsigned char idx = p->idx;

		/* The common case whole, when it lies in this buffer. */
		if (idx == 0 && len - pos >= 4 && !memcmp(b + pos, "GET ", 4)) {
			pos += 3;
			idx = 3;
			mask = BIT(W_GET);
		}
		for (; pos < len; pos++) {
			c = b[pos];
			if (!tchar[c])
				break;
			if (mask)
				mask = match_step(mask, idx, c);
			if (idx < UINT8_MAX)
				idx++;
		}
		p->mask = mask;
		p->idx = idx;
		if (pos == len)
			break;
		if (c != ' ' || idx == 0)
			return HTTP_ERR_BAD_REQUEST;
		{
			uint16_t m = match_end(mask, idx);

			/* The method words are W_GET.. in enum http_method's order. */
			p->method = m ? (uint8_t)(__builtin_ctz(m) - W_GET) : HTTP_METHOD_OTHER;
		}
		p->state = S_TARGET_START;
		if (++pos == len)
			break;
		c = b[pos];
	}
		fallthrough;
	case S_TARGET_START:
		if (c <= 0x20 || c == 0x7f)
			return HTTP_ERR_BAD_REQUEST;
		*tstart = pos;
		p->state = S_TARGET;
		fallthrough;
	case S_TARGET:
		pos = scan_target(b, pos, len);
		if (pos == len)
			break;
		if (b[pos] != ' ')
			return HTTP_ERR_BAD_REQUEST;
		if (*tstart != SIZE_MAX)
			*path_len = pos - *tstart;
		p->idx = 0;
		p->state = S_VERSION;
		pos++;
		break;
	case S_VERSION:
		/* "HTTP/" DIGIT "." DIGIT, then the line end; idx is the position. */
		if (p->idx == 0 && len - pos >= 8 && !memcmp(b + pos, "HTTP/1.", 7) &&
		    (b[pos + 7] == '0' || b[pos + 7] == '1')) {
			p->field = 1;
			p->minor = b[pos + 7] - '0';
			p->idx = 8;
			pos += 8;
		}
		for (; pos < len; pos++, p->idx++) {
			c = b[pos];
			if (p->idx < 5) {
				if (c != "HTTP/"[p->idx])
					return HTTP_ERR_BAD_REQUEST;
			} else if (p->idx == 5 || p->idx == 7) {
				if (c < '0' || c > '9')
					return HTTP_ERR_BAD_REQUEST;
				if (p->idx == 5)
					p->field = c - '0';
				else
					p->minor = c - '0';
			} else if (p->idx == 6) {
				if (c != '.')
					return HTTP_ERR_BAD_REQUEST;
			} else {
				break;
			}
		}
		if (pos == len)
			break;
		if (c == '\r' && len - pos >= 2 && b[pos + 1] == '\n') {
			pos++;
			err = line_done(p);
		} else if (c == '\r') {
			p->state = S_LINE_LF;
		} else if (c == '\n') {
			err = line_done(p);
		} else {
			return HTTP_ERR_BAD_REQUEST;
		}
		pos++;
		break;
	case S_LINE_LF:
		if (c != '\n')
			return HTTP_ERR_BAD_REQUEST;
		err = line_done(p);
		pos++;
		break;
	case S_HDR_START:
		if (c == '\r' && len - pos >= 2 && b[pos + 1] == '\n') {
			err = headers_done(p);
			pos += 2;
			break;
		} else if (c == '\r') {
			p->state = S_HDR_END_LF;
			pos++;
			break;
		} else if (c == '\n') {
			err = headers_done(p);
			pos++;
			break;
		} else if (c == ' ' || c == '\t') {
			/* obs-fold (RFC 9112 5.2), or whitespace before the first field */
			return HTTP_ERR_BAD_REQUEST;
		}
		if (p->headers >= HTTP_MAX_HEADERS)
			return HTTP_ERR_TOO_MANY_HEADERS;
		p->headers++;
		p->mask = NAME_WORDS;
		p->idx = 0;
		p->state = S_HDR_NAME;
		fallthrough;
	case S_HDR_NAME: {
		uint16_t mask = p->mask;
		unsigned char idx = p->idx;

		for (; pos < len; pos++) {
			c = b[pos];
			if (!tchar[c])
				break;
			/* Once no candidate is left, idx (> 0) stays put. */
			if (mask) {
				mask = match_step(mask, idx, lower(c));
				idx++;
			}
		}
		p->mask = mask;
		p->idx = idx;
		if (pos == len)
			break;
		if (c != ':' || idx == 0)
			return HTTP_ERR_BAD_REQUEST;
		err = name_done(p);
		pos++;
		break;
	}
	case S_HOST:
		/* OWS, then host bytes; whitespace after them must run to the line end. */
		for (; pos < len; pos++) {
			c = b[pos];
			if (hostchar[c])
				p->idx = 1;
			else if ((c != ' ' && c != '\t') || p->idx)
				break; /* (leading whitespace is skipped) */
		}
		if (pos == len)
			break;
		if (c == ' ' || c == '\t') {
			p->state = S_HOST_POST;
		} else if (c == '\r' || c == '\n') {
			err = value_done(p, c == '\n');
			pos++;
		} else {
			return HTTP_ERR_BAD_HOST;
		}
		break;
	case S_HOST_POST:
		while (pos < len && (b[pos] == ' ' || b[pos] == '\t'))
			pos++;
		if (pos == len)
			break;
		c = b[pos];
		if (c != '\r' && c != '\n')
			return HTTP_ERR_BAD_HOST;
		err = value_done(p, c == '\n');
		pos++;
		break;
	case S_HDR_VALUE:
		pos = scan_value(b, pos, len);
		if (pos == len)
			break;
		if (b[pos] != '\r' && b[pos] != '\n')
			return HTTP_ERR_BAD_REQUEST;
		if (b[pos] == '\r' && len - pos >= 2 && b[pos + 1] == '\n')
			pos++;
		err = value_done(p, b[pos] == '\n');
		pos++;
		break;
	case S_CL_PRE:
	case S_CL_POST:
		while (pos < len && (b[pos] == ' ' || b[pos] == '\t'))
			pos++;
		if (pos == len)
			break;
		c = b[pos];
		if (c == '\r' || c == '\n') {
			err = value_done(p, c == '\n');
			pos++;
		} else if (p->state == S_CL_PRE && c >= '0' && c <= '9') {
			p->state = S_CL_DIGITS;
		} else {
			return HTTP_ERR_BAD_LENGTH;
		}
		break;
	case S_CL_DIGITS:
		for (; pos < len && b[pos] >= '0' && b[pos] <= '9'; pos++) {
			unsigned d = b[pos] - '0';

			if (p->remaining > (UINT64_MAX - d) / 10)
				return HTTP_ERR_BAD_LENGTH;
			p->remaining = p->remaining * 10 + d;
			p->flags |= F_CL_DIGIT;
		}
		if (pos == len)
			break;
		c = b[pos];
		if (c == '\r' || c == '\n') {
			err = value_done(p, c == '\n');
			pos++;
		} else if (c == ' ' || c == '\t') {
			p->state = S_CL_POST;
		} else {
			return HTTP_ERR_BAD_LENGTH;
		}
		break;
	case S_LIST_SEP:
		while (pos < len && (b[pos] == ' ' || b[pos] == '\t' || b[pos] == ','))
			pos++;
		if (pos == len)
			break;
		c = b[pos];
		if (c == '\r' || c == '\n') {
			err = value_done(p, c == '\n');
			pos++;
			break;
		}
		if (p->field == FIELD_TRANSFER_ENCODING)
			p->flags |= (p->flags & F_TE_ONE) ? F_TE_MANY : F_TE_ONE;
		p->mask = p->field == FIELD_CONNECTION ? CONN_WORDS
			  : p->field == FIELD_EXPECT   ? EXP_WORDS
						       : TE_WORDS;
		p->idx = 0;
		p->state = S_LIST_TOKEN;
		break;
	case S_LIST_TOKEN:
		for (; pos < len; pos++) {
			c = b[pos];
			if (c == ' ' || c == '\t' || c == ',' || c < 0x20 || c == 0x7f)
				break;
			if (p->mask) {
				p->mask = match_step(p->mask, p->idx, lower(c));
				p->idx++;
			}
		}
		if (pos == len)
			break;
		if (c == '\r' || c == '\n') {
			token_done(p);
			err = value_done(p, c == '\n');
			pos++;
		} else if (c == ' ' || c == '\t' || c == ',') {
			token_done(p);
			p->state = S_LIST_SEP;
		} else {
			return HTTP_ERR_BAD_REQUEST;
		}
		break;
	case S_HDR_LF:
		if (c != '\n')
			return HTTP_ERR_BAD_REQUEST;
		p->state = S_HDR_START;
		pos++;
		break;
	case S_HDR_END_LF:
		if (c != '\n')
			return HTTP_ERR_BAD_REQUEST;
		err = headers_done(p);
		pos++;
		break;
	case S_BODY:
	case S_CHUNK_DATA: {
		size_t n = len - pos;

		if (n > p->remaining)
			n = (size_t)p->remaining;
		pos += n;
		p->remaining -= n;
		if (!p->remaining)
			p->state = p->state == S_BODY ? S_DONE : S_CHUNK_DATA_CR;
		break;
	}
	case S_CHUNK_SIZE_START:
		if (hexval(c) < 0)
			return HTTP_ERR_BAD_CHUNK;
		p->remaining = 0;
		p->state = S_CHUNK_SIZE;
		break;
	case S_CHUNK_SIZE:
		for (; pos < len; pos++) {
			int v = hexval(b[pos]);

			if (v < 0)
				break;
			if (p->remaining >> 60)
				return HTTP_ERR_BAD_CHUNK;
			p->remaining = (p->remaining << 4) | (unsigned)v;
		}
		if (pos == len)
			break;
		c = b[pos];
		if (c == ';' || c == ' ' || c == '\t') {
			/* chunk-ext (with BWS): skipped uninterpreted */
			p->state = S_CHUNK_EXT;
			break;
		}
		if (c == '\r')
			p->state = S_CHUNK_LF;
		else if (c == '\n')
			chunk_line_done(p);
		else
			return HTTP_ERR_BAD_CHUNK;
		pos++;
		break;
	case S_CHUNK_EXT:
		pos = scan_value(b, pos, len);
		if (pos == len)
			break;
		if (b[pos] == '\r')
			p->state = S_CHUNK_LF;
		else if (b[pos] == '\n')
			chunk_line_done(p);
		else
			return HTTP_ERR_BAD_CHUNK;
		pos++;
		break;
	case S_CHUNK_LF:
		if (c != '\n')
			return HTTP_ERR_BAD_CHUNK;
		chunk_line_done(p);
		pos++;
		break;
	case S_CHUNK_DATA_CR:
		if (c == '\r')
			p->state = S_CHUNK_DATA_LF;
		else if (c == '\n')
			p->state = S_CHUNK_SIZE_START;
		else
			return HTTP_ERR_BAD_CHUNK;
		pos++;
		break;
	case S_CHUNK_DATA_LF:
		if (c != '\n')
			return HTTP_ERR_BAD_CHUNK;
		p->state = S_CHUNK_SIZE_START;
		pos++;
		break;
	default:
		return HTTP_ERR_BAD_REQUEST;
	}
	*posp = pos;
	return err;
}

/* Charges n bytes of a step in state s to its group's limit. */
static enum http_error charge(struct http_parser *p, enum state s, size_t n)
{
	static const struct {
		uint32_t max;
		uint8_t err;
	} limits[] = {
		[G_LINE] = {HTTP_MAX_REQUEST_LINE, HTTP_ERR_LINE_TOO_LONG},
		[G_HEADER] = {HTTP_MAX_HEADER_BYTES, HTTP_ERR_HEADERS_TOO_LARGE},
		[G_CHUNK] = {HTTP_MAX_CHUNK_LINE, HTTP_ERR_BAD_CHUNK},
	};
	unsigned g = state_group[s];

	if (g == G_NONE)
		return HTTP_ERR_NONE;
	if (n > limits[g].max - p->count)
		return (enum http_error)limits[g].err;
	p->count += (uint32_t)n;
	if (state_group[p->state] != g)
		p->count = 0;
	return HTTP_ERR_NONE;
}

/* What a request that ended (or whose head ended) looks like to the caller. */
static void fill_request(const struct http_parser *p, struct http_request *out, const char *path,
			 size_t path_len)
{
	out->method = p->method;
	out->minor = p->minor;
	out->keep_alive = !(p->flags & F_CLOSE) && (p->minor || (p->flags & F_KEEP_ALIVE));
	out->chunked = p->flags & F_CHUNKED;
	out->has_body = p->flags & (F_CL | F_CHUNKED);
	/* RFC 9110 10.1.1: an HTTP/1.0 request's expectation is ignored. */
	out->expect_continue = p->minor && (p->flags & F_CONTINUE);
	out->content_length = (p->flags & F_CL) ? p->length : 0;
	out->path = path;
	out->path_len = (uint32_t)path_len;
}

ssize_t http_parse(struct http_parser *p, const char *buf, size_t len, struct http_request *out)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t pos = 0, tstart = SIZE_MAX, path_len = 0;

	if (p->state == S_ERROR)
		return -(ssize_t)p->field;
	while (pos < len) {
		enum state s = p->state;
		unsigned g = state_group[s];
		size_t from = pos;
		enum http_error err;

		/* Steps within one limit group are charged together. */
		do {
			err = step(p, b, &pos, len, &tstart, &path_len);
		} while (!err && g != G_NONE && pos < len && state_group[p->state] == g);
		if (!err)
			err = charge(p, s, pos - from);
		if (err)
			return fail(p, err);
		if (p->state == S_DONE)
			goto done;
	}
	return 0;

done:
	fill_request(p, out, path_len ? buf + tstart : NULL, path_len);
	http_parser_init(p);
	return (ssize_t)pos;
}

static bool in_data(const struct http_parser *p)
{
	return p->state == S_BODY || p->state == S_CHUNK_DATA;
}

/*
 * http_parse() with stops: the loop is the same, but it never steps into
 * body data (the caller passes over it with http_parser_take_data()), and
 * it returns where a head ends as well as where a request does.
 */
ssize_t http_parse_event(struct http_parser *p, const char *buf, size_t len,
			 struct http_request *out, enum http_event *ev)
{
	const unsigned char *b = (const unsigned char *)buf;
	size_t pos = 0, tstart = SIZE_MAX, path_len = 0;

	*ev = HTTP_EV_NONE;
	if (p->state == S_ERROR)
		return -(ssize_t)p->field;
	if (p->state == S_DONE) {
		/* The last data byte of a Content-Length body was taken. */
		fill_request(p, out, NULL, 0);
		http_parser_init(p);
		*ev = HTTP_EV_END;
		return 0;
	}
	while (pos < len) {
		enum state s = p->state;
		unsigned g = state_group[s];
		size_t from = pos;
		enum http_error err;

		if (in_data(p)) {
			*ev = HTTP_EV_DATA;
			return (ssize_t)pos;
		}
		do {
			err = step(p, b, &pos, len, &tstart, &path_len);
		} while (!err && g != G_NONE && pos < len && state_group[p->state] == g);
		if (!err)
			err = charge(p, s, pos - from);
		if (err)
			return fail(p, err);
		if (p->state == S_DONE) {
			/* A head without body bytes, or a chunked body's trailers, ended. */
			*ev = (p->flags & F_TRAILER) ? HTTP_EV_END : HTTP_EV_COMPLETE;
			fill_request(p, out, path_len ? buf + tstart : NULL, path_len);
			http_parser_init(p);
			return (ssize_t)pos;
		}
		if (g == G_HEADER && state_group[p->state] != G_HEADER && !(p->flags & F_TRAILER)) {
			/* The head ended and a body follows. */
			*ev = HTTP_EV_HEAD;
			fill_request(p, out, path_len ? buf + tstart : NULL, path_len);
			return (ssize_t)pos;
		}
	}
	if (in_data(p))
		*ev = HTTP_EV_DATA;
	return (ssize_t)pos;
}

uint64_t http_parser_data_left(const struct http_parser *p)
{
	return in_data(p) ? p->remaining : 0;
}

void http_parser_take_data(struct http_parser *p, uint64_t n)
{
	if (!in_data(p) || n > p->remaining)
		return;
	p->remaining -= n;
	if (!p->remaining)
		p->state = p->state == S_BODY ? S_DONE : S_CHUNK_DATA_CR;
}

_Static_assert(W_OPTIONS - W_GET == HTTP_METHOD_OPTIONS, "method words follow enum http_method");

const char *http_method_name(enum http_method m)
{
	static const char *const names[HTTP_METHOD_COUNT] = {
		[HTTP_METHOD_GET] = "GET",	   [HTTP_METHOD_HEAD] = "HEAD",
		[HTTP_METHOD_POST] = "POST",	   [HTTP_METHOD_PUT] = "PUT",
		[HTTP_METHOD_DELETE] = "DELETE",   [HTTP_METHOD_PATCH] = "PATCH",
		[HTTP_METHOD_OPTIONS] = "OPTIONS", [HTTP_METHOD_OTHER] = "OTHER",
	};

	return (unsigned)m < HTTP_METHOD_COUNT ? names[m] : "OTHER";
}

int http_error_status(enum http_error err)
{
	static const short status[HTTP_ERR_COUNT] = {
		[HTTP_ERR_NONE] = 500,
		[HTTP_ERR_BAD_REQUEST] = 400,
		[HTTP_ERR_BAD_LENGTH] = 400,
		[HTTP_ERR_BAD_FRAMING] = 400,
		[HTTP_ERR_BAD_CHUNK] = 400,
		[HTTP_ERR_BAD_HOST] = 400,
		[HTTP_ERR_LINE_TOO_LONG] = 414,
		[HTTP_ERR_TOO_MANY_HEADERS] = 431,
		[HTTP_ERR_HEADERS_TOO_LARGE] = 431,
		[HTTP_ERR_NOT_IMPLEMENTED] = 501,
		[HTTP_ERR_VERSION] = 505,
	};

	if ((unsigned)err >= HTTP_ERR_COUNT)
		return 500;
	return status[err];
}

const char *http_error_name(enum http_error err)
{
	static const char *const names[HTTP_ERR_COUNT] = {
		[HTTP_ERR_NONE] = "none",
		[HTTP_ERR_BAD_REQUEST] = "bad request",
		[HTTP_ERR_BAD_LENGTH] = "bad content-length",
		[HTTP_ERR_BAD_FRAMING] = "bad framing",
		[HTTP_ERR_BAD_CHUNK] = "bad chunk",
		[HTTP_ERR_BAD_HOST] = "missing, repeated or invalid host",
		[HTTP_ERR_LINE_TOO_LONG] = "request line too long",
		[HTTP_ERR_TOO_MANY_HEADERS] = "too many headers",
		[HTTP_ERR_HEADERS_TOO_LARGE] = "headers too large",
		[HTTP_ERR_NOT_IMPLEMENTED] = "transfer coding not implemented",
		[HTTP_ERR_VERSION] = "http version not supported",
	};

	if ((unsigned)err >= HTTP_ERR_COUNT)
		return "?";
	return names[err];
}
