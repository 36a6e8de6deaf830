// SPDX-License-Identifier: MIT
/*
 * Head rewriting and routing for the HTTP reverse proxy. The header says
 * what each function promises; this file is how.
 *
 * A rewrite reads the head once: the start line, then each field line,
 * whose name is classified (a switch on its length, then one
 * case-insensitive compare) and whose place is noted in a small array of
 * spans on the stack (HTTP_MAX_HEADERS of them: the parser admits no more).
 * Writing follows from the spans alone, because whether a field goes
 * through is known only once the whole head has been seen: a Connection
 * line may name a field that came before it. The common head (Connection:
 * keep-alive or close, naming nothing else) never compares a name twice.
 */
#include <errno.h>
#include <string.h>

#include "http_head.h"
#include "ringer/cli.h"

/* What a field is to the proxy. */
enum kind {
	K_OTHER, /* end to end: copied unless Connection names it */
	K_HOST,
	K_CONNECTION,
	K_KEEP_ALIVE,
	K_TE,
	K_TRAILER,
	K_TRANSFER_ENCODING,
	K_CONTENT_LENGTH,
	K_UPGRADE,
	K_PROXY, /* Proxy-Connection, Proxy-Authorization, any Proxy-* */
	K_EXPECT,
	K_XFF,
	K_XF_PROTO,
	K_XF_HOST,
	K_FORWARDED,
	K_VIA,
	K_COUNT,
};

/* One field line: name and value (trimmed of OWS) as offsets into the head. */
struct span {
	uint32_t name;
	uint32_t value;
	uint32_t value_len;
	uint16_t name_len;
	uint8_t kind;
};

/* What the Connection lines of a head said. */
struct conn_tokens {
	bool close;   /* "close" among the tokens */
	bool keep;    /* "keep-alive" */
	bool upgrade; /* "upgrade" */
	bool named;   /* any other token (but "te"): a field that must not pass */
};

/* A head read once: its fields and its Connection tokens. */
struct fields {
	struct span f[HTTP_MAX_HEADERS];
	unsigned n;
	unsigned seen; /* bit per kind present */
	struct conn_tokens conn;
};

static inline unsigned char lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

/* s (n bytes, any case) equals the lowercase word w of n bytes. */
static bool eq_lower(const char *s, const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != (unsigned char)w[i])
			return false;
	return true;
}

static bool eq_nocase(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

#define IS(s, n, w) ((n) == sizeof(w) - 1 && eq_lower(s, w, sizeof(w) - 1))

/* The kind of a field by its name: a switch on the length, then one compare. */
static enum kind classify(const char *s, size_t n)
{
	if (n > 6 && lower((unsigned char)s[0]) == 'p' && eq_lower(s, "proxy-", 6))
		return K_PROXY;
	switch (n) {
	case 2:
		return IS(s, n, "te") ? K_TE : K_OTHER;
	case 3:
		return IS(s, n, "via") ? K_VIA : K_OTHER;
	case 4:
		return IS(s, n, "host") ? K_HOST : K_OTHER;
	case 6:
		return IS(s, n, "expect") ? K_EXPECT : K_OTHER;
	case 7:
		if (lower((unsigned char)s[0]) == 't')
			return IS(s, n, "trailer") ? K_TRAILER : K_OTHER;
		return IS(s, n, "upgrade") ? K_UPGRADE : K_OTHER;
	case 9:
		return IS(s, n, "forwarded") ? K_FORWARDED : K_OTHER;
	case 10:
		if (lower((unsigned char)s[0]) == 'c')
			return IS(s, n, "connection") ? K_CONNECTION : K_OTHER;
		return IS(s, n, "keep-alive") ? K_KEEP_ALIVE : K_OTHER;
	case 14:
		return IS(s, n, "content-length") ? K_CONTENT_LENGTH : K_OTHER;
	case 15:
		return IS(s, n, "x-forwarded-for") ? K_XFF : K_OTHER;
	case 16:
		return IS(s, n, "x-forwarded-host") ? K_XF_HOST : K_OTHER;
	case 17:
		if (lower((unsigned char)s[0]) == 't')
			return IS(s, n, "transfer-encoding") ? K_TRANSFER_ENCODING : K_OTHER;
		return IS(s, n, "x-forwarded-proto") ? K_XF_PROTO : K_OTHER;
	default:
		return K_OTHER;
	}
}

static inline bool ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Walks a token list from *p to end: returns the next token in *tok,
 * *tok_len, or false at the end. Tokens are split at commas and at
 * whitespace, as http_parser.c splits them, so that the proxy and the
 * parser never disagree on what a Connection line says ("a b" is two
 * tokens to both, though no valid list holds it).
 */
static bool next_token(const char **p, const char *end, const char **tok, size_t *tok_len)
{
	const char *s = *p, *e;

	while (s < end && (ows(*s) || *s == ','))
		s++;
	for (e = s; e < end && !ows(*e) && *e != ','; e++)
		;
	*p = e;
	*tok = s;
	*tok_len = (size_t)(e - s);
	return e > s;
}

/* The tokens of one Connection value, added to *ct. */
static void connection_tokens(struct conn_tokens *ct, const char *v, size_t n)
{
	const char *p = v, *end = v + n, *t;
	size_t tl;

	while (next_token(&p, end, &t, &tl)) {
		if (IS(t, tl, "close"))
			ct->close = true;
		else if (IS(t, tl, "keep-alive"))
			ct->keep = true;
		else if (IS(t, tl, "upgrade"))
			ct->upgrade = true;
		else if (!IS(t, tl, "te"))
			ct->named = true;
	}
}

/*
 * The line from *p: its bytes without the line end in *line, *line_len; *p
 * moves past the line end. False when no line end is left.
 */
static bool next_line(const char **p, const char *end, const char **line, size_t *line_len)
{
	const char *s = *p, *nl = memchr(s, '\n', (size_t)(end - s));

	if (!nl)
		return false;
	*line = s;
	*line_len = (size_t)(nl - s) - (nl > s && nl[-1] == '\r');
	*p = nl + 1;
	return true;
}

/*
 * Reads the field lines from p (just after the start line) through the
 * final empty line into *fs. Returns 0, or -EINVAL for a head that is not
 * one.
 */
static int read_fields(const char *head, const char *p, const char *end, struct fields *fs)
{
	const char *line;
	size_t ll;

	fs->n = 0;
	fs->seen = 0;
	fs->conn = (struct conn_tokens){false, false, false, false};
	if ((size_t)(end - head) > UINT32_MAX)
		return -EINVAL;
	while (next_line(&p, end, &line, &ll)) {
		const char *colon, *v, *ve;
		struct span *f;

		if (!ll)
			return 0;
		colon = memchr(line, ':', ll);
		if (!colon || colon == line || fs->n == HTTP_MAX_HEADERS ||
		    (size_t)(colon - line) > UINT16_MAX)
			return -EINVAL;
		v = colon + 1;
		ve = line + ll;
		while (v < ve && ows(*v))
			v++;
		while (ve > v && ows(ve[-1]))
			ve--;
		f = &fs->f[fs->n++];
		f->name = (uint32_t)(line - head);
		f->name_len = (uint16_t)(colon - line);
		f->value = (uint32_t)(v - head);
		f->value_len = (uint32_t)(ve - v);
		f->kind = (uint8_t)classify(line, f->name_len);
		fs->seen |= 1u << f->kind;
		if (f->kind == K_CONNECTION)
			connection_tokens(&fs->conn, v, f->value_len);
	}
	return -EINVAL; /* no final empty line */
}

/*
 * A Connection line of the head names the field f (RFC 9110 7.6.1). Only
 * asked when some token is not one the proxy knows, so rarely.
 */
static bool named_by_connection(const char *head, const struct fields *fs, const struct span *f)
{
	if (!fs->conn.named)
		return false;
	for (unsigned i = 0; i < fs->n; i++) {
		const char *p, *end, *t;
		size_t tl;

		if (fs->f[i].kind != K_CONNECTION)
			continue;
		p = head + fs->f[i].value;
		end = p + fs->f[i].value_len;
		while (next_token(&p, end, &t, &tl))
			if (tl == f->name_len && eq_nocase(t, head + f->name, tl))
				return true;
	}
	return false;
}

/* Output with one bounds check per piece; full once anything did not fit. */
struct out {
	char *p, *end;
	bool full;
};

static inline void put(struct out *o, const void *s, size_t n)
{
	if ((size_t)(o->end - o->p) < n) {
		o->full = true;
		return;
	}
	memcpy(o->p, s, n);
	o->p += n;
}

#define PUT(o, lit) put(o, lit, sizeof(lit) - 1)

static void put_u64(struct out *o, uint64_t v)
{
	char buf[20], *e = buf + sizeof(buf), *s = e;

	do {
		*--s = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(o, s, (size_t)(e - s));
}

/* A field line exactly as received, name through value (OWS trimmed), CRLF-ended. */
static void put_line(struct out *o, const char *head, const struct span *f)
{
	if (!f->value_len) /* without the OWS that was all there was */
		put(o, head + f->name, (size_t)f->name_len + 1);
	else
		put(o, head + f->name, (size_t)(f->value + f->value_len - f->name));
	PUT(o, "\r\n");
}

/*
 * The values of every kept field of kind k, in order, joined by ", " after
 * name; returns whether any was written (the caller adds its own after).
 * Fields a Connection line names are not kept, but for Upgrade, which an
 * upgrade's "Connection: upgrade" names by design.
 */
static bool put_merged(struct out *o, const char *head, const struct fields *fs, enum kind k,
		       const char *name, size_t name_len)
{
	bool any = false;

	if (!(fs->seen & (1u << k)))
		return false;
	for (unsigned i = 0; i < fs->n; i++) {
		const struct span *f = &fs->f[i];

		if (f->kind != k || !f->value_len)
			continue;
		if (k != K_UPGRADE && named_by_connection(head, fs, f))
			continue;
		if (any)
			PUT(o, ", ");
		else
			put(o, name, name_len);
		put(o, head + f->value, f->value_len);
		any = true;
	}
	return any;
}

/* "Via: <theirs>, 1.minor NAME" */
static void put_via(struct out *o, const char *head, const struct fields *fs, unsigned minor,
		    const char *name)
{
	if (!name || !*name) {
		/* No Via of ours: theirs goes through, merged all the same. */
		if (put_merged(o, head, fs, K_VIA, "Via: ", 5))
			PUT(o, "\r\n");
		return;
	}
	if (put_merged(o, head, fs, K_VIA, "Via: ", 5))
		PUT(o, ", ");
	else
		PUT(o, "Via: ");
	put(o, minor ? "1.1 " : "1.0 ", 4);
	put(o, name, strlen(name));
	PUT(o, "\r\n");
}

static void put_framing(struct out *o, enum http_framing fr, uint64_t length)
{
	if (fr == HTTP_FRAME_LENGTH) {
		PUT(o, "Content-Length: ");
		put_u64(o, length);
		PUT(o, "\r\n");
	} else if (fr == HTTP_FRAME_CHUNKED) {
		PUT(o, "Transfer-Encoding: chunked\r\n");
	}
}

/* "Upgrade: <values>" for an upgrade (a client or upstream with no value gets none). */
static void put_upgrade(struct out *o, const char *head, const struct fields *fs)
{
	PUT(o, "Connection: upgrade\r\n");
	if (put_merged(o, head, fs, K_UPGRADE, "Upgrade: ", 9))
		PUT(o, "\r\n");
}

/* RFC 7230's tchar: what a token (an unquoted Forwarded value) may hold. */
static bool tchar(unsigned char c)
{
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		return true;
	if (c >= '0' && c <= '9')
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c);
}

/* A Forwarded value (RFC 7239 4): a token as is, anything else a quoted-string. */
static void put_fwd_value(struct out *o, const char *s, size_t n, bool v6)
{
	size_t i;

	for (i = 0; i < n && !v6; i++)
		if (!tchar((unsigned char)s[i]))
			break;
	if (i == n && !v6 && n) {
		put(o, s, n);
		return;
	}
	put(o, v6 ? "\"[" : "\"", v6 ? 2 : 1);
	for (i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			PUT(o, "\\");
		put(o, s + i, 1);
	}
	put(o, v6 ? "]\"" : "\"", v6 ? 2 : 1);
}

static void put_forwarded(struct out *o, const char *head, const struct fields *fs,
			  const struct http_req_info *ri, const struct http_fwd *fwd)
{
	const char *ip = fwd->client_ip ? fwd->client_ip : "unknown";
	size_t ipl = strlen(ip);

	if (put_merged(o, head, fs, K_FORWARDED, "Forwarded: ", 11))
		PUT(o, ", for=");
	else
		PUT(o, "Forwarded: for=");
	put_fwd_value(o, ip, ipl, memchr(ip, ':', ipl) != NULL);
	if (fwd->tls)
		PUT(o, ";proto=https");
	else
		PUT(o, ";proto=http");
	if (ri->host_full && ri->host_full_len) {
		PUT(o, ";host=");
		put_fwd_value(o, ri->host_full, ri->host_full_len, false);
	}
	PUT(o, "\r\n");
}

static void put_x_forwarded(struct out *o, const char *head, const struct fields *fs,
			    const struct http_req_info *ri, const struct http_fwd *fwd)
{
	const char *ip = fwd->client_ip ? fwd->client_ip : "unknown";

	if (put_merged(o, head, fs, K_XFF, "X-Forwarded-For: ", 17))
		PUT(o, ", ");
	else
		PUT(o, "X-Forwarded-For: ");
	put(o, ip, strlen(ip));
	if (fwd->tls)
		PUT(o, "\r\nX-Forwarded-Proto: https\r\n");
	else
		PUT(o, "\r\nX-Forwarded-Proto: http\r\n");
	if (ri->host_full && ri->host_full_len) {
		PUT(o, "X-Forwarded-Host: ");
		put(o, ri->host_full, ri->host_full_len);
		PUT(o, "\r\n");
	}
}

static enum http_method method_of(const char *s, size_t n)
{
	switch (n) {
	case 3:
		if (!memcmp(s, "GET", 3))
			return HTTP_METHOD_GET;
		if (!memcmp(s, "PUT", 3))
			return HTTP_METHOD_PUT;
		break;
	case 4:
		if (!memcmp(s, "HEAD", 4))
			return HTTP_METHOD_HEAD;
		if (!memcmp(s, "POST", 4))
			return HTTP_METHOD_POST;
		break;
	case 5:
		if (!memcmp(s, "PATCH", 5))
			return HTTP_METHOD_PATCH;
		break;
	case 6:
		if (!memcmp(s, "DELETE", 6))
			return HTTP_METHOD_DELETE;
		break;
	case 7:
		if (!memcmp(s, "OPTIONS", 7))
			return HTTP_METHOD_OPTIONS;
		break;
	}
	return HTTP_METHOD_OTHER;
}

/* Empty lines before a start line are skipped, as the parser does (RFC 9112 2.2). */
static const char *skip_empty_lines(const char *p, const char *end)
{
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	return p;
}

/*
 * The request line from p: method, target and minor version; *p moves past
 * it. Returns 0 or -EINVAL.
 */
static int request_line(const char **p, const char *end, const char **method, size_t *method_len,
			const char **target, size_t *target_len, uint8_t *minor)
{
	const char *line, *sp1, *sp2;
	size_t ll;

	*p = skip_empty_lines(*p, end);
	if (!next_line(p, end, &line, &ll))
		return -EINVAL;
	sp1 = memchr(line, ' ', ll);
	if (!sp1 || sp1 == line)
		return -EINVAL;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(line + ll - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1 || line + ll - sp2 != 9 || memcmp(sp2 + 1, "HTTP/1.", 7) ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return -EINVAL;
	*method = line;
	*method_len = (size_t)(sp1 - line);
	*target = sp1 + 1;
	*target_len = (size_t)(sp2 - sp1 - 1);
	*minor = (uint8_t)(sp2[8] - '0');
	return 0;
}

/* host[:port] without its port; brackets kept around an IPv6 literal. */
static size_t host_without_port(const char *h, size_t n)
{
	const char *c;

	if (n && h[0] == '[') {
		c = memchr(h, ']', n);
		return c ? (size_t)(c - h) + 1 : n;
	}
	c = memchr(h, ':', n);
	return c ? (size_t)(c - h) : n;
}

/*
 * The bytes of a Host value, as http_parser.c admits them (RFC 3986 3.2.2):
 * uri-host [":" port], a reg-name (unreserved, pct-encoded, sub-delims) or
 * an IP literal in brackets.
 */
static bool hostchar(unsigned char c)
{
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
		return true;
	if (c >= '0' && c <= '9')
		return true;
	return c && strchr("!$%&'()*+,-.:;=[]_~", c);
}

/*
 * An absolute-form target ("http://authority/path?query", RFC 9112 3.2.2):
 * its authority replaces Host, its path and query are the target passed
 * on. Returns 1 for one, 0 for another form, -EINVAL for an authority that
 * would not be a valid Host (userinfo included: RFC 9110 4.2.4 has it
 * treated as an error).
 */
static int absolute_form(struct http_req_info *ri, const char *t, size_t n)
{
	const char *a, *e;
	size_t skip;

	if (n >= 7 && eq_lower(t, "http://", 7))
		skip = 7;
	else if (n >= 8 && eq_lower(t, "https://", 8))
		skip = 8;
	else
		return 0;
	a = t + skip;
	for (e = a; e < t + n && *e != '/' && *e != '?' && *e != '#'; e++)
		if (!hostchar((unsigned char)*e))
			return -EINVAL;
	ri->host_full = a;
	ri->host_full_len = (uint32_t)(e - a);
	if (e == t + n || *e == '#') {
		ri->target = "/";
		ri->target_len = 1;
	} else {
		ri->target = e;
		ri->target_len = (uint32_t)(t + n - e);
	}
	return 1;
}

int http_head_request_info(const char *head, size_t len, struct http_req_info *out)
{
	const char *p = head, *end = head + len, *method, *target, *line;
	size_t method_len, target_len, ll;
	struct conn_tokens ct = {false, false, false, false};
	bool upgrade = false, websocket = false;
	int abs, ret;

	memset(out, 0, sizeof(*out));
	if (len > UINT32_MAX)
		return -EINVAL;
	ret = request_line(&p, end, &method, &method_len, &target, &target_len, &out->minor);
	if (ret)
		return ret;
	out->method = (uint8_t)method_of(method, method_len);
	abs = absolute_form(out, target, target_len);
	if (abs < 0)
		return abs;
	if (!abs) {
		out->target = target;
		out->target_len = (uint32_t)target_len;
	}
	for (;;) {
		const char *colon, *v, *ve;
		enum kind k;

		if (!next_line(&p, end, &line, &ll))
			return -EINVAL;
		if (!ll)
			break;
		colon = memchr(line, ':', ll);
		if (!colon || colon == line)
			return -EINVAL;
		k = classify(line, (size_t)(colon - line));
		if (k != K_HOST && k != K_CONNECTION && k != K_UPGRADE)
			continue;
		v = colon + 1;
		ve = line + ll;
		while (v < ve && ows(*v))
			v++;
		while (ve > v && ows(ve[-1]))
			ve--;
		if (k == K_HOST && !abs) {
			out->host_full = v;
			out->host_full_len = (uint32_t)(ve - v);
		} else if (k == K_CONNECTION) {
			connection_tokens(&ct, v, (size_t)(ve - v));
		} else if (k == K_UPGRADE) {
			const char *q = v, *t;
			size_t tl;

			upgrade = true;
			while (next_token(&q, ve, &t, &tl)) {
				const char *slash = memchr(t, '/', tl);

				if (slash)
					tl = (size_t)(slash - t);
				if (IS(t, tl, "websocket"))
					websocket = true;
			}
		}
	}
	if (out->host_full) {
		out->host = out->host_full;
		out->host_len = (uint32_t)host_without_port(out->host_full, out->host_full_len);
	}
	{
		const char *q = memchr(out->target, '?', out->target_len);

		out->path = out->target;
		out->path_len = q ? (uint32_t)(q - out->target) : out->target_len;
		if (!out->path_len) {
			out->path = "/";
			out->path_len = 1;
		}
	}
	out->upgrade = out->minor == 1 && upgrade && ct.upgrade;
	out->websocket = out->upgrade && websocket;
	out->keep_alive = out->minor == 1 ? !ct.close : ct.keep && !ct.close;
	return 0;
}

ssize_t http_head_rewrite_request(const char *head, size_t len, const struct http_req_info *ri,
				  const struct http_fwd *fwd, enum http_framing fr, uint64_t length,
				  char *out, size_t cap)
{
	struct fields fs;
	struct out o = {out, out + cap, false};
	const char *p = head, *end = head + len, *method, *target;
	size_t method_len, target_len;
	uint8_t minor;
	int ret;

	if (fr != HTTP_FRAME_NONE && fr != HTTP_FRAME_LENGTH && fr != HTTP_FRAME_CHUNKED)
		return -EINVAL;
	ret = request_line(&p, end, &method, &method_len, &target, &target_len, &minor);
	if (ret)
		return ret;
	ret = read_fields(head, p, end, &fs);
	if (ret)
		return ret;

	put(&o, method, method_len);
	PUT(&o, " ");
	if (ri->target_len && ri->target[0] == '?')
		PUT(&o, "/");
	put(&o, ri->target, ri->target_len);
	PUT(&o, " HTTP/1.1\r\n");
	/* HTTP/1.1 needs a Host: an empty one when the client had none (RFC 9112 3.2). */
	PUT(&o, "Host: ");
	if (ri->host_full)
		put(&o, ri->host_full, ri->host_full_len);
	PUT(&o, "\r\n");
	for (unsigned i = 0; i < fs.n; i++) {
		const struct span *f = &fs.f[i];
		bool pass;

		switch (f->kind) {
		case K_OTHER:
			pass = true;
			break;
		/* What the style does not manage goes through as any other field. */
		case K_XFF:
		case K_XF_PROTO:
		case K_XF_HOST:
			pass = fwd->style != HTTP_FWD_X;
			break;
		case K_FORWARDED:
			pass = fwd->style != HTTP_FWD_RFC7239;
			break;
		default: /* hop-by-hop, Host (written above), Via (merged below) */
			pass = false;
			break;
		}
		if (pass && !named_by_connection(head, &fs, f))
			put_line(&o, head, f);
	}
	if (fwd->style == HTTP_FWD_X)
		put_x_forwarded(&o, head, &fs, ri, fwd);
	else if (fwd->style == HTTP_FWD_RFC7239)
		put_forwarded(&o, head, &fs, ri, fwd);
	put_via(&o, head, &fs, ri->minor, fwd->via_name);
	put_framing(&o, fr, length);
	if (ri->upgrade)
		put_upgrade(&o, head, &fs);
	PUT(&o, "\r\n");
	return o.full ? -ENOSPC : (ssize_t)(o.p - out);
}

/*
 * The status line: "HTTP/1.x SSS[ reason]". Returns the code and sets the
 * reason (possibly empty) and minor, or -EINVAL; *p moves past the line.
 */
static int status_line(const char **p, const char *end, const char **reason, size_t *reason_len,
		       unsigned *minor)
{
	const char *s;
	size_t ll;
	int code;

	*p = skip_empty_lines(*p, end);
	if (!next_line(p, end, &s, &ll))
		return -EINVAL;
	if (ll < 12 || memcmp(s, "HTTP/1.", 7) || (s[7] != '0' && s[7] != '1') || s[8] != ' ')
		return -EINVAL;
	for (int i = 9; i < 12; i++)
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
	code = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	if (code < 100 || (ll > 12 && s[12] != ' '))
		return -EINVAL;
	*minor = (unsigned)(s[7] - '0');
	*reason = ll > 12 ? s + 13 : s + 12;
	*reason_len = ll > 12 ? ll - 13 : 0;
	return code;
}

int http_head_status(const char *head, size_t len)
{
	const char *p = head, *reason;
	size_t rl;
	unsigned minor;

	return status_line(&p, head + len, &reason, &rl, &minor);
}

ssize_t http_head_rewrite_response(const char *head, size_t len, const struct http_resp_opts *o,
				   char *out, size_t cap)
{
	struct fields fs;
	struct out w = {out, out + cap, false};
	const char *p = head, *end = head + len, *reason;
	size_t reason_len;
	unsigned minor;
	bool length_kept = false;
	int code, ret;

	code = status_line(&p, end, &reason, &reason_len, &minor);
	if (code < 0)
		return code;
	ret = read_fields(head, p, end, &fs);
	if (ret)
		return ret;

	PUT(&w, "HTTP/1.1 ");
	put_u64(&w, (uint64_t)code);
	PUT(&w, " ");
	put(&w, reason, reason_len);
	PUT(&w, "\r\n");
	for (unsigned i = 0; i < fs.n; i++) {
		const struct span *f = &fs.f[i];

		switch (f->kind) {
		case K_OTHER:
		case K_HOST:
		case K_XFF:
		case K_XF_PROTO:
		case K_XF_HOST:
		case K_FORWARDED:
			if (!named_by_connection(head, &fs, f))
				put_line(&w, head, f);
			break;
		case K_CONTENT_LENGTH:
			/* A HEAD's or 304's length says what a GET would have had. */
			if (o->fr == HTTP_FRAME_KEEP && !length_kept) {
				put_line(&w, head, f);
				length_kept = true;
			}
			break;
		default: /* hop-by-hop, Via (merged below) */
			break;
		}
	}
	put_via(&w, head, &fs, minor, o->via_name);
	put_framing(&w, o->fr, o->length);
	if (o->upgrade)
		put_upgrade(&w, head, &fs);
	else if (!o->keep_alive)
		PUT(&w, "Connection: close\r\n");
	else if (o->client_minor == 0)
		PUT(&w, "Connection: keep-alive\r\n");
	PUT(&w, "\r\n");
	return w.full ? -ENOSPC : (ssize_t)(w.p - out);
}

/* Routing. */

/* host without a trailing dot. */
static size_t without_dot(const char *h, size_t n)
{
	return n && h[n - 1] == '.' ? n - 1 : n;
}

int http_route_match(const struct config_route *routes, unsigned n, const char *host,
		     size_t host_len, const char *path, size_t path_len)
{
	int best = -1;
	unsigned best_tier = 0;
	size_t best_suffix = 0, best_prefix = 0;

	host_len = without_dot(host, host ? host_without_port(host, host_len) : 0);
	for (unsigned i = 0; i < n; i++) {
		const struct config_route *r = &routes[i];
		size_t hl = without_dot(r->host, strnlen(r->host, sizeof(r->host)));
		size_t pl = strnlen(r->prefix, sizeof(r->prefix));
		size_t suffix = 0;
		unsigned tier;

		if (pl && (pl > path_len || memcmp(path, r->prefix, pl)))
			continue;
		if (!hl) {
			tier = 1;
		} else if (hl > 2 && r->host[0] == '*' && r->host[1] == '.') {
			suffix = hl - 1; /* ".example.com" */
			if (host_len <= suffix ||
			    !eq_nocase(host + host_len - suffix, r->host + 1, suffix))
				continue;
			tier = 2;
		} else if (hl == host_len && eq_nocase(host, r->host, hl)) {
			tier = 3;
		} else {
			continue;
		}
		if (tier > best_tier ||
		    (tier == best_tier &&
		     (suffix > best_suffix || (suffix == best_suffix && pl > best_prefix)))) {
			best = (int)i;
			best_tier = tier;
			best_suffix = suffix;
			best_prefix = pl;
		}
	}
	return best;
}

static bool label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* A route's host, lowercased into r->host: a name, "*.name" or "[v6]". */
static int route_host(const char *s, const char *h, size_t n, struct config_route *r, char *err,
		      size_t err_len)
{
	size_t i = 0, label = 0;

	if (n && h[0] == '[') {
		if (h[n - 1] != ']' || n < 4)
			return cli_fail(err, err_len,
					"--route: '%s': an IPv6 host is [ADDRESS] (no port)", s);
		for (i = 1; i + 1 < n; i++) {
			char c = (char)lower((unsigned char)h[i]);

			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' ||
			      c == '.'))
				return cli_fail(err, err_len,
						"--route: '%s': '%.*s' is not an IPv6 address", s,
						(int)n, h);
		}
	} else {
		if (n > 1 && h[n - 1] == '.')
			n--; /* the root's dot */
		if (n >= 2 && h[0] == '*' && h[1] == '.')
			i = 2;
		if (i == n)
			return cli_fail(err, err_len, "--route: '%s': '*.' needs a domain after it",
					s);
		for (; i < n; i++) {
			char c = (char)lower((unsigned char)h[i]);

			if (c == '.' && label) {
				label = 0;
				continue;
			}
			if (c == ':')
				return cli_fail(err, err_len,
						"--route: '%s': a route's host has no port (any "
						"port is routed alike)",
						s);
			if (!label_char(c))
				return cli_fail(
					err, err_len,
					"--route: '%s': '%.*s' is not a host name (letters, "
					"digits, '-', dots between labels, or *.DOMAIN)",
					s, (int)n, h);
			label++;
		}
		if (!label)
			return cli_fail(err, err_len,
					"--route: '%s': '%.*s' ends in an empty label", s, (int)n,
					h);
	}
	if (n >= sizeof(r->host))
		return cli_fail(err, err_len, "--route: '%s': the host is over %zu bytes", s,
				sizeof(r->host) - 1);
	for (i = 0; i < n; i++)
		r->host[i] = (char)lower((unsigned char)h[i]);
	r->host[n] = '\0';
	return 0;
}

int http_route_parse(const char *s, struct config_route *r, char *err, size_t err_len)
{
	const char *eq = strrchr(s, '='), *slash, *g;
	size_t hl, pl, gl;
	int ret;

	memset(r, 0, sizeof(*r));
	if (!eq)
		return cli_fail(err, err_len, "--route: '%s' is not [HOST][/PREFIX]=GROUP", s);
	slash = memchr(s, '/', (size_t)(eq - s));
	hl = (size_t)((slash ? slash : eq) - s);
	pl = slash ? (size_t)(eq - slash) : 0;
	g = eq + 1;
	gl = strlen(g);
	if (hl) {
		ret = route_host(s, s, hl, r, err, err_len);
		if (ret)
			return ret;
	}
	if (pl >= sizeof(r->prefix))
		return cli_fail(err, err_len, "--route: '%s': the prefix is over %zu bytes", s,
				sizeof(r->prefix) - 1);
	for (size_t i = 0; i < pl; i++) {
		unsigned char c = (unsigned char)slash[i];

		if (c <= 0x20 || c == 0x7f || c == '?' || c == '#')
			return cli_fail(err, err_len,
					"--route: '%s': a path prefix holds no space, control "
					"byte, '?' or '#'",
					s);
	}
	memcpy(r->prefix, slash ? slash : "", pl);
	r->prefix[pl] = '\0';
	if (gl >= sizeof(r->group))
		return cli_fail(err, err_len, "--route: '%s': a group's name is under %zu bytes", s,
				sizeof(r->group));
	for (size_t i = 0; i < gl; i++) {
		char c = g[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return cli_fail(err, err_len,
					"--route: '%s': '%s' is not a group's name "
					"([A-Za-z0-9._-])",
					s, g);
	}
	memcpy(r->group, g, gl + 1);
	return 0;
}
