// SPDX-License-Identifier: MIT
/*
 * The HTTP proxy's head rewriting (src/proto/http_head.c) on request heads
 * the request parser accepts. The input's first byte chooses the options
 * (forwarding style, TLS, framing, the client's address family, a Via name
 * or none); the rest is fed to http_parser.c, and what it refuses, or what
 * does not end its head, is skipped. For each head it accepts:
 *
 *  - http_head_request_info() takes it and agrees with the parser (method,
 *    version, keep-alive); its pointers lie inside the head;
 *  - the rewritten head parses again, with a fresh parser, as exactly one
 *    complete request head, of the same method, HTTP/1.1, framed as asked
 *    (unless the rewrite's additions put it over a parser limit, and then
 *    only that limit's error);
 *  - no hop-by-hop field survives (Connection and Upgrade only as the
 *    upgrade's pair, a framing field only as asked, never Keep-Alive, TE,
 *    Trailer, Expect, Proxy-*, nor a field a Connection line named), and
 *    every other field of the client's is there, byte for byte, in order;
 *  - one byte less than the size needed is -ENOSPC, the size needed fits.
 *
 * The same head is also matched against a fixed route table (the winner's
 * prefix must begin the path), and an input that starts like a response is
 * rewritten as one for the sanitizers and the -ENOSPC bound.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "http_head.h"
#include "http_parser.h"

#define OUT_MAX (64 * 1024)

static char out[OUT_MAX];

static unsigned char lc(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c | 0x20 : c;
}

static bool name_is(const char *s, size_t n, const char *w)
{
	size_t wl = strlen(w);

	if (n != wl)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lc((unsigned char)s[i]) != (unsigned char)w[i])
			return false;
	return true;
}

/* One field line of a head: name, value trimmed of OWS, the line's end. */
struct line {
	const char *name, *value, *next;
	size_t name_len, value_len;
};

/* The line at p (up to end): 1 a field, 0 the empty line, -1 neither. */
static int field_at(const char *p, const char *end, struct line *l)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p)), *e, *colon, *v;

	if (!nl)
		return -1;
	l->next = nl + 1;
	e = nl > p && nl[-1] == '\r' ? nl - 1 : nl;
	if (e == p)
		return 0;
	colon = memchr(p, ':', (size_t)(e - p));
	if (!colon)
		return -1;
	v = colon + 1;
	while (v < e && (*v == ' ' || *v == '\t'))
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	l->name = p;
	l->name_len = (size_t)(colon - p);
	l->value = v;
	l->value_len = (size_t)(e - v);
	return 1;
}

/* Past the start line, leading empty lines skipped. */
static const char *after_start_line(const char *p, const char *end)
{
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	p = memchr(p, '\n', (size_t)(end - p));
	FUZZ_CHECK(p);
	return p + 1;
}

/* Some Connection line of the head, from p on, lists name among its tokens. */
static bool named(const char *p, const char *end, const char *name, size_t name_len)
{
	struct line l;

	while (field_at(p, end, &l) == 1) {
		p = l.next;
		if (!name_is(l.name, l.name_len, "connection"))
			continue;
		/* Tokens split at commas and whitespace, as http_parser.c splits them. */
		for (const char *t = l.value, *ve = l.value + l.value_len; t < ve;) {
			const char *te = t;
			size_t i = 0;

			while (te < ve && *te != ',' && *te != ' ' && *te != '\t')
				te++;
			if ((size_t)(te - t) == name_len) {
				while (i < name_len &&
				       lc((unsigned char)t[i]) == lc((unsigned char)name[i]))
					i++;
				if (i == name_len)
					return true;
			}
			t = te + 1;
		}
	}
	return false;
}

/* Written by the proxy itself (and checked apart): never the client's copy. */
static bool ours(const struct line *l, enum http_fwd_style style)
{
	static const char *const always[] = {
		"host", "via", "connection", "upgrade", "content-length", "transfer-encoding"};

	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		if (name_is(l->name, l->name_len, always[i]))
			return true;
	if (style == HTTP_FWD_X)
		return name_is(l->name, l->name_len, "x-forwarded-for") ||
		       name_is(l->name, l->name_len, "x-forwarded-proto") ||
		       name_is(l->name, l->name_len, "x-forwarded-host");
	if (style == HTTP_FWD_RFC7239)
		return name_is(l->name, l->name_len, "forwarded");
	return false;
}

static bool hop_by_hop(const struct line *l)
{
	return name_is(l->name, l->name_len, "keep-alive") || name_is(l->name, l->name_len, "te") ||
	       name_is(l->name, l->name_len, "trailer") ||
	       name_is(l->name, l->name_len, "expect") ||
	       (l->name_len > 6 && name_is(l->name, 6, "proxy-"));
}

/*
 * The output's field lines against the input's: nothing hop-by-hop, the
 * framing and the upgrade pair exactly as asked, and each of the client's
 * end-to-end fields, byte for byte, in order.
 */
static void check_fields(const char *in, const char *in_end, const char *o, const char *o_end,
			 const struct http_req_info *ri, enum http_fwd_style style,
			 enum http_framing fr)
{
	const char *ip = after_start_line(in, in_end), *op = after_start_line(o, o_end);
	unsigned cl = 0, te = 0, conn = 0, upg = 0, host = 0;
	struct line l, m;
	int r;

	while ((r = field_at(op, o_end, &l)) == 1) {
		op = l.next;
		FUZZ_CHECK(!hop_by_hop(&l));
		/* No field the client's Connection named, but those the proxy writes itself. */
		FUZZ_CHECK(ours(&l, style) || !named(ip, in_end, l.name, l.name_len));
		cl += name_is(l.name, l.name_len, "content-length");
		te += name_is(l.name, l.name_len, "transfer-encoding");
		host += name_is(l.name, l.name_len, "host");
		if (name_is(l.name, l.name_len, "connection")) {
			conn++;
			FUZZ_CHECK(l.value_len == 7 && !memcmp(l.value, "upgrade", 7));
		}
		upg += name_is(l.name, l.name_len, "upgrade");
		/* The client's end-to-end fields: the next one must be this one. */
	}
	FUZZ_CHECK(r == 0 && l.next == o_end);
	FUZZ_CHECK(cl == (fr == HTTP_FRAME_LENGTH));
	FUZZ_CHECK(te == (fr == HTTP_FRAME_CHUNKED));
	FUZZ_CHECK(host == 1);
	FUZZ_CHECK(conn == ri->upgrade && upg <= ri->upgrade);
	/* An upgrade's Upgrade goes on, whatever else Connection names. */
	for (const char *q = after_start_line(in, in_end); field_at(q, in_end, &l) == 1; q = l.next)
		if (name_is(l.name, l.name_len, "upgrade") && l.value_len)
			FUZZ_CHECK(upg == ri->upgrade);

	/* Every client field that is end to end, in order, exactly. */
	op = after_start_line(o, o_end);
	while ((r = field_at(ip, in_end, &l)) == 1) {
		ip = l.next;
		if (ours(&l, style) || hop_by_hop(&l) ||
		    named(after_start_line(in, in_end), in_end, l.name, l.name_len))
			continue;
		for (;;) {
			FUZZ_CHECK(field_at(op, o_end, &m) == 1);
			op = m.next;
			if (m.name_len == l.name_len && !memcmp(m.name, l.name, l.name_len) &&
			    m.value_len == l.value_len && !memcmp(m.value, l.value, l.value_len))
				break;
		}
	}
}

/* Fields and header bytes of a head, for the parser's limits. */
static void head_size(const char *o, const char *end, unsigned *fields, size_t *bytes)
{
	const char *p = after_start_line(o, end);
	struct line l;

	*bytes = (size_t)(end - p);
	*fields = 0;
	while (field_at(p, end, &l) == 1) {
		p = l.next;
		(*fields)++;
	}
}

static void reparse(const char *o, size_t n, const struct http_request *req, enum http_framing fr,
		    uint64_t length)
{
	struct http_parser p;
	struct http_request q;
	enum http_event ev;
	unsigned fields;
	size_t bytes;
	ssize_t r;

	http_parser_init(&p);
	r = http_parse_event(&p, o, n, &q, &ev);
	head_size(o, o + n, &fields, &bytes);
	if (fields > HTTP_MAX_HEADERS || bytes > HTTP_MAX_HEADER_BYTES) {
		/* The proxy's own fields took it over a limit: that error, or none. */
		FUZZ_CHECK(r > 0 || r == -HTTP_ERR_TOO_MANY_HEADERS ||
			   r == -HTTP_ERR_HEADERS_TOO_LARGE);
		if (r < 0)
			return;
	}
	FUZZ_CHECK(r == (ssize_t)n);
	FUZZ_CHECK(ev == (fr == HTTP_FRAME_NONE || (fr == HTTP_FRAME_LENGTH && !length)
				  ? HTTP_EV_COMPLETE
				  : HTTP_EV_HEAD));
	FUZZ_CHECK(q.method == req->method && q.minor == 1 && q.keep_alive);
	FUZZ_CHECK(q.chunked == (fr == HTTP_FRAME_CHUNKED));
	FUZZ_CHECK(q.has_body == (fr != HTTP_FRAME_NONE));
	FUZZ_CHECK(q.content_length == (fr == HTTP_FRAME_LENGTH ? length : 0));
	FUZZ_CHECK(q.expect_continue == false);
}

static void inside(const char *p, size_t n, const char *head, size_t len)
{
	FUZZ_CHECK(p >= head && p + n <= head + len);
}

static void check_info(const char *head, size_t len, const struct http_request *req,
		       struct http_req_info *ri)
{
	if (http_head_request_info(head, len, ri)) {
		/* Only for an absolute-form authority that could not be a Host. */
		const char *t = head;

		while (*t == '\r' || *t == '\n')
			t++;
		t = memchr(t, ' ', len - (size_t)(t - head));
		FUZZ_CHECK(t && ri->target == NULL);
		FUZZ_CHECK(name_is(t + 1, 7, "http://") || name_is(t + 1, 8, "https://"));
		return;
	}
	FUZZ_CHECK(ri->method == req->method && ri->minor == req->minor);
	FUZZ_CHECK(ri->keep_alive == req->keep_alive);
	FUZZ_CHECK(!ri->websocket || ri->upgrade);
	FUZZ_CHECK(!ri->upgrade || ri->minor == 1);
	if (ri->target_len > 1 || ri->target[0] != '/')
		inside(ri->target, ri->target_len, head, len);
	if (ri->path_len > 1 || ri->path[0] != '/')
		inside(ri->path, ri->path_len, head, len);
	FUZZ_CHECK(ri->path_len <= ri->target_len || ri->target[0] == '?');
	if (ri->host_full) {
		inside(ri->host_full, ri->host_full_len, head, len);
		FUZZ_CHECK(ri->host == ri->host_full && ri->host_len <= ri->host_full_len);
	} else {
		FUZZ_CHECK(req->minor == 0 && !ri->host_len);
	}
}

static void routes(const struct http_req_info *ri)
{
	static struct config_route table[8];
	static unsigned n;
	static const char *const spec[] = {
		"=any",
		"/a=a",
		"/api/=api",
		"localhost=lh",
		"localhost/a=lha",
		"*.example.com=w",
		"*.b.example.com/x=wbx",
		"[::1]/=v6",
	};
	char err[128];
	int i;

	if (!n) {
		for (unsigned k = 0; k < sizeof(spec) / sizeof(spec[0]); k++)
			FUZZ_CHECK(http_route_parse(spec[k], &table[n++], err, sizeof(err)) == 0);
	}
	i = http_route_match(table, n, ri->host, ri->host_len, ri->path, ri->path_len);
	FUZZ_CHECK(i >= 0 && (unsigned)i < n); /* "=any" takes everything */
	FUZZ_CHECK(strlen(table[i].prefix) <= ri->path_len &&
		   !memcmp(table[i].prefix, ri->path, strlen(table[i].prefix)));
}

static void response(const char *head, size_t len, uint8_t flags)
{
	struct http_resp_opts o = {flags & 1,
				   !!(flags & 2),
				   !!(flags & 4),
				   (enum http_framing)((flags >> 3) % 5),
				   (uint64_t)flags << 20,
				   flags & 0x80 ? NULL : "ringer"};
	ssize_t need = http_head_rewrite_response(head, len, &o, out, sizeof(out));
	int status = http_head_status(head, len);

	FUZZ_CHECK(status == -EINVAL || (status >= 100 && status <= 999));
	if (need == -EINVAL)
		return;
	FUZZ_CHECK(need > 0 && status > 0);
	FUZZ_CHECK(http_head_status(out, (size_t)need) == status);
	FUZZ_CHECK(http_head_rewrite_response(head, len, &o, out, (size_t)need - 1) == -ENOSPC);
	FUZZ_CHECK(http_head_rewrite_response(head, len, &o, out, (size_t)need) == need);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum http_fwd_style styles[] = {HTTP_FWD_X, HTTP_FWD_RFC7239, HTTP_FWD_NONE,
						     HTTP_FWD_X};
	struct http_parser p;
	struct http_request req;
	struct http_req_info ri;
	struct http_fwd fwd;
	enum http_event ev;
	enum http_framing fr;
	uint64_t length;
	const char *head;
	char *copy;
	ssize_t n, need;
	uint8_t flags;

	if (size < 2)
		return 0;
	flags = data[0];
	/* The head alone, in a buffer of its own size: a read past it is caught. */
	copy = malloc(size - 1);
	FUZZ_CHECK(copy);
	memcpy(copy, data + 1, size - 1);
	if (size > 6 && !memcmp(copy, "HTTP/", 5))
		response(copy, size - 1, flags);

	http_parser_init(&p);
	n = http_parse_event(&p, copy, size - 1, &req, &ev);
	if (n <= 0 || (ev != HTTP_EV_COMPLETE && ev != HTTP_EV_HEAD))
		goto out;
	head = copy;
	check_info(head, (size_t)n, &req, &ri);
	if (!ri.target)
		goto out;
	routes(&ri);

	fwd.client_ip = flags & 0x20 ? "2001:db8::7" : "192.0.2.7";
	fwd.tls = flags & 4;
	fwd.style = styles[flags & 3];
	fwd.via_name = flags & 0x40 ? NULL : "ringer";
	switch ((flags >> 3) & 3) {
	case 0: /* as the client framed it */
		fr = req.chunked ? HTTP_FRAME_CHUNKED
				 : (req.has_body ? HTTP_FRAME_LENGTH : HTTP_FRAME_NONE);
		length = req.content_length;
		break;
	case 1:
		fr = HTTP_FRAME_NONE;
		length = 0;
		break;
	case 2:
		fr = HTTP_FRAME_LENGTH;
		length = flags & 0x80 ? UINT64_MAX : (uint64_t)size;
		break;
	default:
		fr = HTTP_FRAME_CHUNKED;
		length = 0;
		break;
	}
	need = http_head_rewrite_request(head, (size_t)n, &ri, &fwd, fr, length, out, sizeof(out));
	FUZZ_CHECK(need > 0);
	reparse(out, (size_t)need, &req, fr, length);
	check_fields(head, head + n, out, out + need, &ri, fwd.style, fr);
	FUZZ_CHECK(http_head_rewrite_request(head, (size_t)n, &ri, &fwd, fr, length, out,
					     (size_t)need - 1) == -ENOSPC);
	FUZZ_CHECK(http_head_rewrite_request(head, (size_t)n, &ri, &fwd, fr, length, out,
					     (size_t)need) == need);
out:
	free(copy);
	return 0;
}
