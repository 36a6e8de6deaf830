// SPDX-License-Identifier: MIT
/*
 * The requests ringer-load sends: building them, parsing the two formats of
 * a requests file, and repeating the start of the list so that any
 * pipelined run is contiguous (request.h).
 */
#include "request.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

void request_set_init(struct request_set *s)
{
	memset(s, 0, sizeof(*s));
}

void request_set_free(struct request_set *s)
{
	free(s->buf);
	free(s->off);
	free(s->head);
	request_set_init(s);
}

/* ---- what is a method, a target, a header ------------------------------------------------- */

/* tchar of RFC 9110 section 5.6.2: the bytes of methods and field names. */
static bool tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A field value's bytes (RFC 9110 section 5.5): visible, obs-text, SP and HTAB. */
static bool value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static size_t token_len(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && tchar((unsigned char)s[i]))
		i++;
	return i;
}

static bool is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && !memcmp(s, word, len);
}

static bool is_nocase(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && !strncasecmp(s, word, len);
}

const char *request_method_check(const char *m, size_t len)
{
	if (!len || token_len(m, len) != len)
		return "not a method (an RFC 9110 token such as GET, POST or PURGE)";
	if (is(m, len, "CONNECT"))
		return "CONNECT opens a tunnel, not a request and response to measure";
	return NULL;
}

const char *request_target_check(const char *method, size_t method_len, const char *t, size_t len)
{
	if (len == 1 && t[0] == '*' && is(method, method_len, "OPTIONS"))
		return NULL;
	if (!len || t[0] != '/')
		return "a path must start with / (or be * for OPTIONS)";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)t[i] <= 0x20 || t[i] == 0x7f)
			return "a path holds no spaces or control characters";
	return NULL;
}

const char *request_header_check(const char *h)
{
	size_t n = token_len(h, strlen(h));

	if (!n || h[n] != ':')
		return "not Name: value (the name a token, then a colon)";
	for (const char *v = h + n + 1; *v; v++)
		if (!value_char((unsigned char)*v))
			return "the value holds a control character (CR, LF, ...)";
	if (is_nocase(h, n, "content-length") || is_nocase(h, n, "transfer-encoding"))
		return "ringer-load frames the body itself (Content-Length from --body or "
		       "--body-file)";
	return NULL;
}

bool request_header_is_host(const char *h)
{
	return !strncasecmp(h, "host:", 5);
}

/* ---- building ------------------------------------------------------------------------------ */

/* Room for one more request in off and head, and for more bytes in buf. */
static int reserve(struct request_set *s, size_t more)
{
	size_t cap = s->cap ? s->cap : 4096;

	if (s->n >= REQUEST_MAX_COUNT || more > REQUEST_MAX_BYTES - s->len)
		return -E2BIG;
	if (s->n + 2 > s->cap_n) {
		uint32_t n = s->cap_n ? s->cap_n * 2 : 64;
		size_t *off = realloc(s->off, n * sizeof(*off));
		uint8_t *head;

		if (!off)
			return -ENOMEM;
		s->off = off;
		head = realloc(s->head, n);
		if (!head)
			return -ENOMEM;
		s->head = head;
		s->cap_n = n;
		s->off[s->n] = s->len;
	}
	while (cap < s->len + more)
		cap *= 2;
	if (cap != s->cap) {
		uint8_t *buf = realloc(s->buf, cap);

		if (!buf)
			return -ENOMEM;
		s->buf = buf;
		s->cap = cap;
	}
	return 0;
}

/* Appends bytes reserve() made room for. */
static void put(struct request_set *s, const void *p, size_t n)
{
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

static void put_str(struct request_set *s, const char *str)
{
	put(s, str, strlen(str));
}

/* The request whose bytes were just put is whole. */
static void end_request(struct request_set *s, bool head, size_t body_len)
{
	s->head[s->n] = head;
	s->n++;
	s->off[s->n] = s->len;
	s->body_bytes += body_len;
}

static bool is_head(const char *method, size_t len)
{
	return is(method, len, "HEAD");
}

int request_set_add(struct request_set *s, const char *method, size_t method_len,
		    const char *target, size_t target_len, const struct request_extra *x,
		    const uint8_t *body, size_t body_len)
{
	bool own_host = false;
	char length[48] = "";
	size_t need;
	int ret;

	if (body_len > REQUEST_MAX_BYTES)
		return -E2BIG;
	need = method_len + 1 + target_len + sizeof(" HTTP/1.1\r\n") - 1 + 2;
	for (unsigned i = 0; i < x->n_headers; i++) {
		own_host |= request_header_is_host(x->headers[i]);
		need += strlen(x->headers[i]) + 2;
	}
	if (!own_host && x->host)
		need += sizeof("Host: \r\n") - 1 + strlen(x->host);
	if (body) {
		snprintf(length, sizeof(length), "Content-Length: %zu\r\n", body_len);
		need += strlen(length) + body_len;
	}
	ret = reserve(s, need);
	if (ret)
		return ret;
	put(s, method, method_len);
	put(s, " ", 1);
	put(s, target, target_len);
	put_str(s, " HTTP/1.1\r\n");
	if (!own_host && x->host) {
		put_str(s, "Host: ");
		put_str(s, x->host);
		put_str(s, "\r\n");
	}
	for (unsigned i = 0; i < x->n_headers; i++) {
		put_str(s, x->headers[i]);
		put_str(s, "\r\n");
	}
	put_str(s, length);
	put_str(s, "\r\n");
	if (body_len)
		put(s, body, body_len);
	end_request(s, is_head(method, method_len), body_len);
	return 0;
}

int request_set_finish(struct request_set *s, uint32_t window, char *err, size_t err_len)
{
	size_t total = s->len, *off;
	uint64_t k_end;
	uint8_t *buf;

	if (!s->n) {
		snprintf(err, err_len, "no request to send");
		return -EINVAL;
	}
	k_end = (uint64_t)s->n + window - 1;
	for (uint64_t k = s->n; k < k_end; k++) {
		uint32_t i = (uint32_t)(k % s->n);

		total += s->off[i + 1] - s->off[i];
		if (total > REQUEST_MAX_BYTES) {
			snprintf(err, err_len,
				 "the requests repeated for --pipeline %u exceed %u MiB: lower "
				 "--pipeline or shorten the requests",
				 window, REQUEST_MAX_BYTES >> 20);
			return -E2BIG;
		}
	}
	buf = realloc(s->buf, total ? total : 1);
	off = buf ? realloc(s->off, (k_end + 1) * sizeof(*off)) : NULL;
	if (buf)
		s->buf = buf;
	if (off)
		s->off = off;
	if (!buf || !off) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	/* Request k of the run after the list is request k mod n again. */
	for (uint64_t k = s->n; k < k_end; k++) {
		uint32_t i = (uint32_t)(k % s->n);
		size_t len = s->off[i + 1] - s->off[i];

		memcpy(s->buf + s->off[k], s->buf + s->off[i], len);
		s->off[k + 1] = s->off[k] + len;
	}
	s->cap = total;
	s->window = window;
	return 0;
}

/* ---- reading a requests file --------------------------------------------------------------- */

struct cursor {
	const char *t; /* the file's text */
	size_t len;
	const char *name;
	char *err;
	size_t err_len;
};

__attribute__((format(printf, 3, 4))) static int fail(const struct cursor *c, unsigned line,
						      const char *fmt, ...)
{
	size_t n;
	va_list ap;

	snprintf(c->err, c->err_len, "%s:%u: ", c->name, line);
	n = strlen(c->err);
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->err_len - n, fmt, ap);
	va_end(ap);
	/* Messages quote the file: a control byte in it must not reach the terminal. */
	for (char *p = c->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return -EINVAL;
}

/* A building failure, said where it happened. */
static int fail_build(const struct cursor *c, unsigned line, int ret)
{
	if (ret == -ENOMEM) {
		fail(c, line, "out of memory");
		return -ENOMEM;
	}
	return fail(c, line, "over %u requests or %u MiB of them", REQUEST_MAX_COUNT,
		    REQUEST_MAX_BYTES >> 20);
}

/* The line from pos: its end (before CR LF or LF) in *end; returns where the next starts. */
static size_t line_at(const struct cursor *c, size_t pos, size_t *end)
{
	const char *nl = memchr(c->t + pos, '\n', c->len - pos);
	size_t e = nl ? (size_t)(nl - c->t) : c->len;

	*end = e > pos && c->t[e - 1] == '\r' ? e - 1 : e;
	return nl ? e + 1 : c->len;
}

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

/* Blank or a '#' comment: skipped between requests in both formats. */
static bool skippable(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i == n || s[i] == '#';
}

static bool request_line(const char *s, size_t n)
{
	return n > 9 && (!memcmp(s + n - 9, " HTTP/1.1", 9) || !memcmp(s + n - 9, " HTTP/1.0", 9));
}

/* ---- the lines format ---------------------------------------------------------------------- */

static int line_body(const struct cursor *c, unsigned line, const char *dir, const char *f,
		     size_t n, uint8_t **body, size_t *body_len)
{
	char path[4096];
	int ret;

	if (n >= 5 && !memcmp(f, "HTTP/", 5))
		return fail(c, line,
			    "'%.*s' is a version, not a BODY-FILE: a raw request line ends in "
			    "exactly \" HTTP/1.1\" or \" HTTP/1.0\"",
			    (int)(n > 16 ? 16 : n), f);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)f[i] < 0x20 || f[i] == 0x7f)
			return fail(c, line, "the BODY-FILE name holds a control character");
	if (f[0] == '/')
		ret = snprintf(path, sizeof(path), "%.*s", (int)n, f);
	else
		ret = snprintf(path, sizeof(path), "%s/%.*s", dir, (int)n, f);
	if (ret < 0 || (size_t)ret >= sizeof(path))
		return fail(c, line, "the BODY-FILE name is too long");
	ret = request_read_file(path, REQUEST_MAX_BODY, body, body_len);
	if (ret == -EFBIG)
		return fail(c, line, "body file %s: larger than %u MiB", path,
			    REQUEST_MAX_BODY >> 20);
	if (ret)
		return fail(c, line, "body file %s: %s", path, strerror(-ret));
	return 0;
}

/* One request a line: METHOD PATH [BODY-FILE], a '#' field starting a comment. */
static int parse_lines(struct request_set *s, const struct cursor *c, const char *dir,
		       const struct request_extra *x)
{
	unsigned line = 1;

	for (size_t pos = 0, next, end; pos < c->len; pos = next, line++) {
		const char *field[4];
		size_t flen[4], nf = 0, i;
		const char *why;
		uint8_t *body = NULL;
		size_t body_len = 0;
		int ret;

		next = line_at(c, pos, &end);
		for (i = pos; i < end && nf < 4;) {
			size_t j = i;

			while (j < end && c->t[j] != ' ' && c->t[j] != '\t')
				j++;
			if (j > i) {
				if (c->t[i] == '#')
					break;
				field[nf] = c->t + i;
				flen[nf++] = j - i;
			}
			i = j + 1;
		}
		if (!nf)
			continue;
		if (nf < 2 || nf > 3)
			return fail(c, line, "expected METHOD PATH [BODY-FILE]");
		why = request_method_check(field[0], flen[0]);
		if (why)
			return fail(c, line, "method '%.*s': %s",
				    (int)(flen[0] > 32 ? 32 : flen[0]), field[0], why);
		why = request_target_check(field[0], flen[0], field[1], flen[1]);
		if (why)
			return fail(c, line, "%s", why);
		if (nf == 3) {
			ret = line_body(c, line, dir, field[2], flen[2], &body, &body_len);
			if (ret)
				return ret;
		}
		ret = request_set_add(s, field[0], flen[0], field[1], flen[1], x, body, body_len);
		free(body);
		if (ret)
			return fail_build(c, line, ret);
	}
	return 0;
}

/* ---- the raw format ------------------------------------------------------------------------ */

/*
 * One raw request from *pos (its request line), checked, then appended with
 * CRLF line ends in its head and its body as it is. *pos and *line move past
 * it: past the body and the rest of the body's last line, which must be
 * blank.
 */
static int raw_request(struct request_set *s, const struct cursor *c, size_t *pos, unsigned *line)
{
	const char *t = c->t;
	size_t start = *pos, p, next, end, m, head_end, body_end, nl = 1;
	unsigned first = *line, ln = *line, hosts = 0;
	bool has_length = false, http11;
	uint64_t length = 0;
	const char *why;
	int ret;

	next = line_at(c, start, &end);
	if (!request_line(t + start, end - start))
		return fail(c, first, "expected a request line METHOD TARGET HTTP/1.1%s",
			    s->n ? " (or is the body before it longer than its Content-Length?)"
				 : "");
	http11 = t[end - 1] == '1';
	m = start + token_len(t + start, end - start);
	if (m == start || t[m] != ' ')
		return fail(c, first, "malformed request line: the method is not a token");
	why = request_method_check(t + start, m - start);
	if (why)
		return fail(c, first, "%s", why);
	why = request_target_check(t + start, m - start, t + m + 1, end - 9 - (m + 1));
	if (why)
		return fail(c, first, "malformed request line: %s", why);
	/* The header lines, up to the empty line (ln is its number when the loop ends). */
	for (p = next, ln++;; p = next, ln++, nl++) {
		size_t n;

		if (p >= c->len)
			return fail(c, first, "the request's head has no empty line after it");
		next = line_at(c, p, &end);
		if (end == p)
			break;
		if (t[p] == ' ' || t[p] == '\t')
			return fail(c, ln, "a header line starts with a space (obsolete folding)");
		n = p + token_len(t + p, end - p);
		if (n == p || n == end || t[n] != ':')
			return fail(c, ln, "malformed header line (expected Name: value)");
		for (size_t i = n + 1; i < end; i++)
			if (!value_char((unsigned char)t[i]))
				return fail(c, ln, "a header value holds a control character");
		if (is_nocase(t + p, n - p, "host")) {
			hosts++;
		} else if (is_nocase(t + p, n - p, "transfer-encoding")) {
			return fail(c, ln,
				    "Transfer-Encoding: a requests file gives each body by "
				    "Content-Length");
		} else if (is_nocase(t + p, n - p, "content-length")) {
			size_t i = n + 1, digits = 0;

			if (has_length)
				return fail(c, ln, "a second Content-Length");
			while (i < end && (t[i] == ' ' || t[i] == '\t'))
				i++;
			for (; i < end && t[i] >= '0' && t[i] <= '9' && digits < 19; i++, digits++)
				length = length * 10 + (uint64_t)(t[i] - '0');
			if (!digits || !blank(t + i, end - i))
				return fail(c, ln, "Content-Length is not a number");
			has_length = true;
		}
	}
	head_end = next;
	if (hosts > 1)
		return fail(c, first, "two Host headers");
	if (!hosts && http11)
		return fail(c, first, "an HTTP/1.1 request needs a Host header");
	if (length > c->len - head_end)
		return fail(c, first, "Content-Length %llu, but only %zu bytes follow the head",
			    (unsigned long long)length, c->len - head_end);
	body_end = head_end + (size_t)length;
	/* Each line of the head may gain a CR. */
	ret = reserve(s, (head_end - start) + nl + 1 + (size_t)length);
	if (ret)
		return fail_build(c, first, ret);
	for (p = start; p < head_end; p = next) {
		next = line_at(c, p, &end);
		put(s, t + p, end - p);
		put(s, "\r\n", 2);
	}
	put(s, t + head_end, (size_t)length);
	end_request(s, is_head(t + start, m - start), (size_t)length);
	/* Where the body ends: the line after the empty one, plus the body's own line ends. */
	ln++;
	for (const char *q = t + head_end; (q = memchr(q, '\n', (size_t)(t + body_end - q))); q++)
		ln++;
	p = body_end;
	/* A body that does not end its line leaves the rest of that line, which must be blank. */
	if (length && t[p - 1] != '\n' && p < c->len) {
		next = line_at(c, p, &end);
		if (!blank(t + p, end - p))
			return fail(c, ln,
				    "bytes after the body of the request at line %u: is its "
				    "Content-Length (%llu) short of the body?",
				    first, (unsigned long long)length);
		p = next;
		ln++;
	}
	*pos = p;
	*line = ln;
	return 0;
}

/* Past blank and '#' lines from *pos. */
static void skip_lines(const struct cursor *c, size_t *pos, unsigned *line)
{
	size_t next, end;

	for (; *pos < c->len; *pos = next, (*line)++) {
		next = line_at(c, *pos, &end);
		if (!skippable(c->t + *pos, end - *pos))
			return;
	}
}

int request_parse(struct request_set *s, const char *text, size_t len, const char *name,
		  const char *dir, const struct request_extra *x, char *err, size_t err_len)
{
	struct cursor c = {.t = text, .len = len, .name = name, .err = err, .err_len = err_len};
	uint32_t before = s->n;
	unsigned line = 1;
	size_t pos = 0, end;
	int ret = 0;

	/* The first line that says something tells the format. */
	skip_lines(&c, &pos, &line);
	end = pos;
	if (pos < len)
		line_at(&c, pos, &end);
	if (request_line(text + pos, end - pos)) {
		s->raw = true;
		while (!ret && pos < len) {
			ret = raw_request(s, &c, &pos, &line);
			skip_lines(&c, &pos, &line);
		}
	} else {
		ret = parse_lines(s, &c, dir, x);
	}
	if (ret)
		return ret;
	if (s->n == before) {
		snprintf(err, err_len, "%s: no request in it", name);
		return -EINVAL;
	}
	return 0;
}

int request_read_file(const char *path, size_t max, uint8_t **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;
	size_t cap = 4096, n = 0;
	uint8_t *buf;

	if (fd < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto out_close;
	}
	/* Read to the end rather than trust a size: pipes and /proc files have none. */
	for (;;) {
		ssize_t r;

		if (n > max) {
			ret = -EFBIG;
			break;
		}
		if (cap - n < 2) {
			uint8_t *more = realloc(buf, cap * 2);

			if (!more) {
				ret = -ENOMEM;
				break;
			}
			buf = more;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			break;
		}
		if (!r)
			break;
		n += (size_t)r;
	}
	if (ret) {
		free(buf);
		goto out_close;
	}
	buf[n] = 0;
	*data = buf;
	*len = n;
out_close:
	close(fd);
	return ret;
}
