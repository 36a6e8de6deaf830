// SPDX-License-Identifier: MIT
/*
 * The PROXY protocol receiver and writers: valid version 1 and 2 headers of
 * every kind, whole, split in two at every offset and fed a byte at a time
 * (the client's bytes after them left alone); every truncation (need more,
 * and how much); the length caps at and one past their boundary; early
 * refusal of input that is no PROXY header, at the very byte that proves
 * it; malformed headers of both versions; and the writers, alone and
 * through the receiver. Every buffer handed to the parser is first copied
 * so that it ends right at a PROT_NONE page: a read past the end faults.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "ringer/proxy_proto.h"

#define GUARD_AREA (128 * 1024)

static uint8_t *guard_base; /* GUARD_AREA readable bytes, then a PROT_NONE page */

static int guard_setup(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *m = mmap(NULL, GUARD_AREA + page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	(void)state;
	if (m == MAP_FAILED)
		return -1;
	if (mprotect(m + GUARD_AREA, page, PROT_NONE))
		return -1;
	guard_base = m;
	return 0;
}

static int guard_teardown(void **state)
{
	(void)state;
	munmap(guard_base, GUARD_AREA + sysconf(_SC_PAGESIZE));
	return 0;
}

/* Copies n bytes so that they end right at the guard page. */
static const uint8_t *against_guard(const void *s, size_t n)
{
	uint8_t *dst = guard_base + GUARD_AREA - n;

	assert_true(n <= GUARD_AREA);
	memmove(dst, s, n);
	return dst;
}

struct outcome {
	ssize_t err;   /* 0, or the negative error */
	bool done;     /* a header was reported */
	size_t used;   /* bytes consumed in all (the header's length when done) */
	size_t fed;    /* bytes handed over when the verdict came */
	size_t last_n; /* what the completing call returned */
	size_t tail;   /* bytes of the completing piece left to the caller */
	struct proxy_proto_result res;
};

/*
 * Feeds in[0..len) as pieces cut at the ascending offsets, stopping at the
 * first verdict. While the header is incomplete, proxy_proto_need() must
 * stay at least 1 and never promise more than the bytes actually left of
 * the header (checked by the callers that know the header's length).
 */
static void feed_cuts(const void *in, size_t len, const size_t *cuts, size_t ncuts, size_t max_len,
		      struct outcome *o)
{
	const uint8_t *src = in;
	struct proxy_proto_parser p;
	size_t start = 0;

	memset(o, 0, sizeof(*o));
	proxy_proto_parser_init(&p, max_len);
	assert_true(proxy_proto_need(&p) >= 1);
	for (size_t k = 0; k <= ncuts; k++) {
		size_t end = k < ncuts ? cuts[k] : len;
		const uint8_t *buf = against_guard(src + start, end - start);
		ssize_t n = proxy_proto_parse(&p, buf, end - start, &o->res);

		o->fed = end;
		if (n < 0) {
			o->err = n;
			assert_int_equal(proxy_proto_need(&p), 0);
			/* The error is sticky. */
			assert_int_equal(proxy_proto_parse(&p, buf, end - start, &o->res), n);
			return;
		}
		if (n > 0) {
			assert_true((size_t)n <= end - start);
			o->done = true;
			o->used += (size_t)n;
			o->last_n = (size_t)n;
			o->tail = end - start - (size_t)n;
			assert_int_equal(o->res.header_len, o->used);
			assert_int_equal(proxy_proto_need(&p), 0);
			return;
		}
		o->used += end - start;
		assert_true(proxy_proto_need(&p) >= 1);
		start = end;
	}
}

static void feed(const void *in, size_t len, size_t max_len, struct outcome *o)
{
	feed_cuts(in, len, NULL, 0, max_len, o);
}

static void feed_bytewise(const void *in, size_t len, size_t max_len, struct outcome *o)
{
	size_t *cuts = malloc(len * sizeof(*cuts) + 1);

	assert_non_null(cuts);
	for (size_t i = 1; i < len; i++)
		cuts[i - 1] = i;
	feed_cuts(in, len, cuts, len ? len - 1 : 0, max_len, o);
	free(cuts);
}

static void same_outcome(const struct outcome *a, const struct outcome *b)
{
	assert_int_equal(a->err, b->err);
	assert_int_equal(a->done, b->done);
	if (a->done) {
		assert_int_equal(a->used, b->used);
		/* fill_result() zeroes the whole struct first, so bytes compare. */
		assert_memory_equal(&a->res, &b->res, sizeof(a->res));
	}
}

/*
 * Whole, split in two at every offset, and byte by byte: the same verdict,
 * the same result, and the bytes after the header left to the caller.
 */
static void check_splits(const void *in, size_t len, size_t max_len, const struct outcome *whole)
{
	struct outcome o;

	for (size_t i = 0; i <= len; i++) {
		feed_cuts(in, len, &i, 1, max_len, &o);
		same_outcome(whole, &o);
		/* Whatever of the completing piece is past the header is left. */
		if (o.done)
			assert_int_equal(o.tail, o.fed - o.used);
	}
	feed_bytewise(in, len, max_len, &o);
	same_outcome(whole, &o);
}

/* Every proper prefix of a complete header needs more, and need() is a true lower bound. */
static void check_prefixes(const void *in, size_t hlen, size_t max_len, bool v2)
{
	for (size_t i = 0; i < hlen; i++) {
		struct proxy_proto_parser p;
		struct proxy_proto_result r;
		size_t need;

		proxy_proto_parser_init(&p, max_len);
		assert_int_equal(proxy_proto_parse(&p, against_guard(in, i), i, &r), 0);
		need = proxy_proto_need(&p);
		assert_true(need >= 1 && need <= hlen - i);
		/* Version 2 knows exactly, once the fixed part is in. */
		if (v2 && i >= PROXY_PROTO_V2_HDR_LEN)
			assert_int_equal(need, hlen - i);
	}
}

static const char client_data[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

/*
 * A complete header followed by the client's first request: parsed whole,
 * at every split and byte by byte, leaving the request alone; each
 * truncation needs more. Returns the result of the whole feed.
 */
static struct proxy_proto_result accept_header(const void *hdr, size_t hlen, size_t max_len)
{
	uint8_t in[1024];
	size_t len = hlen + sizeof(client_data) - 1;
	struct outcome o;

	assert_true(len <= sizeof(in));
	memcpy(in, hdr, hlen);
	memcpy(in + hlen, client_data, sizeof(client_data) - 1);
	feed(in, len, max_len, &o);
	assert_int_equal(o.err, 0);
	assert_true(o.done);
	assert_int_equal(o.used, hlen);
	assert_int_equal(o.last_n, hlen);
	assert_int_equal(o.res.header_len, hlen);
	check_splits(in, len, max_len, &o);
	check_prefixes(in, hlen, max_len, hlen >= 12 && !memcmp(hdr, "\r\n\r\n", 4));
	/* And the header alone, ending the buffer. */
	feed(hdr, hlen, max_len, &o);
	assert_true(o.done);
	assert_int_equal(o.tail, 0);
	return o.res;
}

static ssize_t refuse(const void *in, size_t len, size_t max_len, size_t *fail_at)
{
	struct outcome o;

	feed(in, len, max_len, &o);
	check_splits(in, len, max_len, &o);
	/* Byte by byte tells at which byte the verdict came. */
	feed_bytewise(in, len, max_len, &o);
	if (fail_at)
		*fail_at = o.fed;
	return o.err;
}

static ssize_t refuse_str(const char *s, size_t *fail_at)
{
	return refuse(s, strlen(s), PROXY_PROTO_MAX_LEN, fail_at);
}

/* ---- expected addresses ---- */

static void expect_addr(const struct sockaddr_storage *ss, socklen_t len, int family,
			const char *text, unsigned port)
{
	if (family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		struct in_addr want;

		assert_int_equal(len, sizeof(*sin));
		assert_int_equal(sin->sin_family, AF_INET);
		assert_int_equal(inet_pton(AF_INET, text, &want), 1);
		assert_memory_equal(&sin->sin_addr, &want, 4);
		assert_int_equal(ntohs(sin->sin_port), port);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		struct in6_addr want;

		assert_int_equal(len, sizeof(*sin6));
		assert_int_equal(sin6->sin6_family, AF_INET6);
		assert_int_equal(inet_pton(AF_INET6, text, &want), 1);
		assert_memory_equal(&sin6->sin6_addr, &want, 16);
		assert_int_equal(ntohs(sin6->sin6_port), port);
		assert_int_equal(sin6->sin6_flowinfo, 0);
		assert_int_equal(sin6->sin6_scope_id, 0);
	}
}

static void expect_no_addr(const struct proxy_proto_result *r)
{
	static const struct sockaddr_storage zero;

	assert_int_equal(r->family, AF_UNSPEC);
	assert_int_equal(r->src_len, 0);
	assert_int_equal(r->dst_len, 0);
	assert_memory_equal(&r->src, &zero, sizeof(zero));
	assert_memory_equal(&r->dst, &zero, sizeof(zero));
}

/* ---- version 1 ---- */

static void v1_valid(void **state)
{
	static const struct {
		const char *line;
		int family;
		const char *src, *dst;
		unsigned sport, dport;
	} cases[] = {
		{"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n", AF_INET, "192.168.0.1",
		 "192.168.0.11", 56324, 443},
		{"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n", AF_INET,
		 "255.255.255.255", "255.255.255.255", 65535, 65535},
		{"PROXY TCP4 0.0.0.0 10.0.0.1 0 0\r\n", AF_INET, "0.0.0.0", "10.0.0.1", 0, 0},
		{"PROXY TCP6 2001:db8::1 2001:db8::2 1234 80\r\n", AF_INET6, "2001:db8::1",
		 "2001:db8::2", 1234, 80},
		{"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
		 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
		 AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
		 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 65535},
		{"PROXY TCP6 :: ::1 1 2\r\n", AF_INET6, "::", "::1", 1, 2},
		{"PROXY TCP6 FE80::ABCD:0001 fe80::abcd:1 10 20\r\n", AF_INET6, "fe80::abcd:1",
		 "fe80::abcd:1", 10, 20},
		/* HAProxy writes an IPv4 side of a TCP6 line this way; it stays IPv6. */
		{"PROXY TCP6 ::ffff:192.0.2.1 2001:db8::2 4000 443\r\n", AF_INET6,
		 "::ffff:192.0.2.1", "2001:db8::2", 4000, 443},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct proxy_proto_result r =
			accept_header(cases[i].line, strlen(cases[i].line), PROXY_PROTO_MAX_LEN);

		assert_int_equal(r.version, 1);
		assert_int_equal(r.command, PROXY_PROTO_CMD_PROXY);
		assert_int_equal(r.family, cases[i].family);
		assert_int_equal(r.v2_fam, 0);
		expect_addr(&r.src, r.src_len, cases[i].family, cases[i].src, cases[i].sport);
		expect_addr(&r.dst, r.dst_len, cases[i].family, cases[i].dst, cases[i].dport);
	}
}

static void v1_unknown(void **state)
{
	static const char *const lines[] = {
		"PROXY UNKNOWN\r\n",
		"PROXY UNKNOWN \r\n",
		"PROXY UNKNOWN ffff:f::f:ffff ffff:f::f:ffff 65535 65535\r\n",
		"PROXY UNKNOWN anything \x01\x7f\xff at  all\r\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct proxy_proto_result r =
			accept_header(lines[i], strlen(lines[i]), PROXY_PROTO_MAX_LEN);

		assert_int_equal(r.version, 1);
		assert_int_equal(r.command, PROXY_PROTO_CMD_PROXY);
		expect_no_addr(&r);
	}
}

/* Every IPv6 text form RFC 4291 allows, and what it does not. */
static void v1_ipv6_text(void **state)
{
	static const char *const good[] = {
		"::",
		"::1",
		"1::",
		"1:2:3:4:5:6:7:8",
		"1:2:3:4:5:6:7::",
		"::2:3:4:5:6:7:8",
		"1:2:3::6:7:8",
		"0001:0002:0003:0004:0005:0006:0007:0008",
		"ABCD:ef01::",
		"::ffff:1.2.3.4",
		"::1.2.3.4",
		"1:2:3:4:5:6:1.2.3.4",
		"1::6:255.255.255.255",
		"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
	};
	static const char *const bad[] = {
		":::",
		":",
		"1:",
		":1",
		":1::",
		"1:2:3:4:5:6:7",
		"1:2:3:4:5:6:7:8:9",
		"1:2:3:4:5:6:7:8::",
		"::1:2:3:4:5:6:7:8",
		"1::2::3",
		"12345::",
		"g::",
		"1.2.3.4",
		"::1.2.3",
		"::1.2.3.4:5",
		"::1.2.3.04",
		"::256.1.1.1",
		"1:2:3:4:5:6:7:1.2.3.4",
		"1:2:3:4:5:6:7:8.",
		"::ffff:1.2.3.4.5",
		"ffff:ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
	};
	char line[160];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct proxy_proto_result r;
		int n = snprintf(line, sizeof(line), "PROXY TCP6 %s ::1 1 2\r\n", good[i]);

		r = accept_header(line, (size_t)n, PROXY_PROTO_MAX_LEN);
		expect_addr(&r.src, r.src_len, AF_INET6, good[i], 1);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t at;
		int n = snprintf(line, sizeof(line), "PROXY TCP6 %s ::1 1 2\r\n", bad[i]);

		assert_int_equal(refuse(line, (size_t)n, PROXY_PROTO_MAX_LEN, &at),
				 -PROXY_PROTO_ERR_MALFORMED);
		/* Refused by the end of the field at the latest: at its space. */
		assert_true(at <= 11 + strlen(bad[i]) + 1);
	}
}

static void v1_malformed(void **state)
{
	static const char *const lines[] = {
		"PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8  1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1  2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8\r\n",
		"PROXY TCP4\r\n",
		"PROXY TCP4 \r\n",
		"PROXY\r\n",
		"PROXY \r\n",
		"PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY\tTCP4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP44 1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY UNKNOWNX\r\n",
		"PROXY UNKNOWN x\ny\r\n",
		"PROXY UNKNOWN\n",
		"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
		"PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1..2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP4 .1.2.3 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4. 5.6.7.8 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8888 1 2\r\n",
		"PROXY TCP4 0x1.2.3.4 5.6.7.8 1 2\r\n",
		"PROXY TCP4 ::1 5.6.7.8 1 2\r\n",
		"PROXY TCP6 1.2.3.4 ::1 1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 00 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 0x2\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 extra\r\n",
	};
	static const char nul[] = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\0\r\n";

	(void)state;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		assert_int_equal(refuse_str(lines[i], NULL), -PROXY_PROTO_ERR_MALFORMED);
	assert_int_equal(refuse(nul, sizeof(nul) - 1, PROXY_PROTO_MAX_LEN, NULL),
			 -PROXY_PROTO_ERR_MALFORMED);
}

/* Malformed fields are refused when the byte or the delimiter that proves it arrives. */
static void v1_refused_early(void **state)
{
	static const struct {
		const char *line;
		size_t at;
	} cases[] = {
		{"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", 21}, /* the space after 256 */
		{"PROXY TCP4 1.2.3.4x", 19},		      /* 'x' */
		{"PROXY TCP4 1.2.3.4 5.6.7.8 01", 29},	      /* the '1' after a lone 0 */
		{"PROXY TCP4 1.2.3.4 5.6.7.8 123456", 33},    /* the sixth digit */
		{"PROXY TCP4 1.2.3.4 5.6.7.8 65536 ", 33},    /* the space after it */
		{"PROXY TCX", 9},
		{"PROXY tcp4", 7},
		{"PROXY  ", 7},
		{"PROXYX", 6},
		{"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", 32},
		{"PROXY TCP4 1234567890123456", 27}, /* 16 bytes: longer than a dotted quad */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t at;

		assert_int_equal(refuse_str(cases[i].line, &at), -PROXY_PROTO_ERR_MALFORMED);
		assert_int_equal(at, cases[i].at);
	}
}

static void v1_too_long(void **state)
{
	char line[256];
	struct proxy_proto_result r;
	size_t at;
	int n;

	(void)state;
	/* 107 bytes with the CRLF: the longest line accepted. */
	memcpy(line, "PROXY UNKNOWN ", 14);
	memset(line + 14, 'x', 91);
	memcpy(line + 14 + 91, "\r\n", 2);
	r = accept_header(line, PROXY_PROTO_V1_MAX_LEN, PROXY_PROTO_MAX_LEN);
	assert_int_equal(r.header_len, PROXY_PROTO_V1_MAX_LEN);

	/* 108: refused at the 107th byte, which leaves no room for the LF. */
	memset(line + 14, 'x', 92);
	memcpy(line + 14 + 92, "\r\n", 2);
	assert_int_equal(refuse(line, 108, PROXY_PROTO_MAX_LEN, &at), -PROXY_PROTO_ERR_TOO_LONG);
	assert_int_equal(at, PROXY_PROTO_V1_MAX_LEN);

	/* No CRLF at all. */
	memset(line + 14, 'x', 200);
	assert_int_equal(refuse(line, 214, PROXY_PROTO_MAX_LEN, &at), -PROXY_PROTO_ERR_TOO_LONG);
	assert_int_equal(at, PROXY_PROTO_V1_MAX_LEN);

	/* TCP6 with dotted tails: every field in range, the line over 107. */
	n = snprintf(line, sizeof(line), "PROXY TCP6 %s %s 65535 65535\r\n",
		     "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
		     "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	assert_int_equal(refuse(line, (size_t)n, PROXY_PROTO_MAX_LEN, &at),
			 -PROXY_PROTO_ERR_TOO_LONG);
	assert_int_equal(at, PROXY_PROTO_V1_MAX_LEN);

	/* A caller's cap below 107 caps version 1 too. */
	n = snprintf(line, sizeof(line), "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
	accept_header(line, (size_t)n, (size_t)n);
	assert_int_equal(refuse(line, (size_t)n, (size_t)n - 1, &at), -PROXY_PROTO_ERR_TOO_LONG);
	assert_int_equal(at, (size_t)n - 1);
}

/* ---- version 2 ---- */

static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* A version 2 header: signature, the two bytes, the length, then body. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const void *body, size_t len)
{
	memcpy(out, sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(len >> 8);
	out[15] = (uint8_t)len;
	if (len)
		memcpy(out + 16, body, len);
	return 16 + len;
}

static const uint8_t inet_block[12] = {192, 0, 2, 1, 198, 51, 100, 7, 0xdb, 0xc4, 0x01, 0xbb};
static const uint8_t inet6_block[36] = {0x20, 0x01, 0x0d, 0xb8, 0,    0,    0, 0, 0, 0, 0, 0, 0, 0,
					0,    1,    0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0,
					0,    0,    0,	  2,	0x30, 0x39, 0, 80};
/* ALPN "h2", AUTHORITY "example.com", NOOP empty, a custom type with 300 bytes. */
static size_t tlvs(uint8_t *out)
{
	size_t n = 0;

	memcpy(out + n, "\x01\x00\x02h2", 5);
	n += 5;
	memcpy(out + n,
	       "\x02\x00\x0b"
	       "example.com",
	       14);
	n += 14;
	memcpy(out + n, "\x04\x00\x00", 3);
	n += 3;
	memcpy(out + n, "\xe0\x01\x2c", 3);
	n += 3;
	memset(out + n, 0xab, 300);
	return n + 300;
}

static void v2_proxy_inet(void **state)
{
	uint8_t hdr[600], body[512];
	struct proxy_proto_result r;
	size_t n;

	(void)state;
	n = v2(hdr, 0x21, 0x11, inet_block, sizeof(inet_block));
	r = accept_header(hdr, n, PROXY_PROTO_MAX_LEN);
	assert_int_equal(r.version, 2);
	assert_int_equal(r.command, PROXY_PROTO_CMD_PROXY);
	assert_int_equal(r.family, AF_INET);
	assert_int_equal(r.v2_fam, 0x11);
	expect_addr(&r.src, r.src_len, AF_INET, "192.0.2.1", 56260);
	expect_addr(&r.dst, r.dst_len, AF_INET, "198.51.100.7", 443);

	/* With TLVs after the addresses. */
	memcpy(body, inet_block, 12);
	n = v2(hdr, 0x21, 0x11, body, 12 + tlvs(body + 12));
	r = accept_header(hdr, n, PROXY_PROTO_MAX_LEN);
	assert_int_equal(r.header_len, 16 + 12 + 325);
	expect_addr(&r.src, r.src_len, AF_INET, "192.0.2.1", 56260);
	expect_addr(&r.dst, r.dst_len, AF_INET, "198.51.100.7", 443);
}

static void v2_proxy_inet6(void **state)
{
	uint8_t hdr[600], body[512];
	struct proxy_proto_result r;
	size_t n;

	(void)state;
	n = v2(hdr, 0x21, 0x21, inet6_block, sizeof(inet6_block));
	r = accept_header(hdr, n, PROXY_PROTO_MAX_LEN);
	assert_int_equal(r.family, AF_INET6);
	assert_int_equal(r.v2_fam, 0x21);
	expect_addr(&r.src, r.src_len, AF_INET6, "2001:db8::1", 12345);
	expect_addr(&r.dst, r.dst_len, AF_INET6, "2001:db8::2", 80);

	memcpy(body, inet6_block, 36);
	n = v2(hdr, 0x21, 0x21, body, 36 + tlvs(body + 36));
	r = accept_header(hdr, n, PROXY_PROTO_MAX_LEN);
	assert_int_equal(r.header_len, 16 + 36 + 325);
	expect_addr(&r.src, r.src_len, AF_INET6, "2001:db8::1", 12345);
	expect_addr(&r.dst, r.dst_len, AF_INET6, "2001:db8::2", 80);
}

/* LOCAL, UNIX, UNSPEC and UDP: accepted without an address. */
static void v2_no_address(void **state)
{
	static const struct {
		uint8_t ver_cmd, fam;
		size_t block; /* address bytes before the TLVs */
	} cases[] = {
		{0x20, 0x00, 0},   /* LOCAL, as senders write it */
		{0x20, 0x11, 12},  /* LOCAL with addresses: ignored */
		{0x20, 0x21, 36},  /* ... IPv6 */
		{0x21, 0x00, 0},   /* PROXY UNSPEC */
		{0x21, 0x31, 216}, /* UNIX stream */
		{0x21, 0x32, 216}, /* UNIX datagram */
		{0x21, 0x12, 12},  /* UDP over IPv4 */
		{0x21, 0x22, 36},  /* UDP over IPv6 */
	};
	uint8_t hdr[1024], body[800];

	(void)state;
	memset(body, 0x5a, sizeof(body));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int with_tlvs = 0; with_tlvs < 2; with_tlvs++) {
			size_t len = cases[i].block, n;
			struct proxy_proto_result r;

			if (with_tlvs)
				len += tlvs(body + len);
			n = v2(hdr, cases[i].ver_cmd, cases[i].fam, body, len);
			r = accept_header(hdr, n, PROXY_PROTO_MAX_LEN);
			assert_int_equal(r.version, 2);
			assert_int_equal(r.command, cases[i].ver_cmd & 0xf);
			assert_int_equal(r.v2_fam, cases[i].fam);
			assert_int_equal(r.header_len, n);
			expect_no_addr(&r);
			memset(body, 0x5a, sizeof(body));
		}
	}
}

/* LOCAL ignores the family, so a block that does not fit is skipped unchecked. */
static void v2_local_ignores_family(void **state)
{
	uint8_t hdr[64], body[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	struct proxy_proto_result r;
	size_t n;

	(void)state;
	n = v2(hdr, 0x20, 0x11, NULL, 0); /* TCP4 named, no block sent */
	r = accept_header(hdr, n, PROXY_PROTO_MAX_LEN);
	expect_no_addr(&r);
	n = v2(hdr, 0x20, 0xff, body, 2); /* no such family: 2 bytes that are no TLV */
	r = accept_header(hdr, n, PROXY_PROTO_MAX_LEN);
	assert_int_equal(r.command, PROXY_PROTO_CMD_LOCAL);
	assert_int_equal(r.header_len, 18);
	expect_no_addr(&r);
	n = v2(hdr, 0x20, 0x21, body, 8); /* IPv6 named, 8 bytes: no room for its block */
	r = accept_header(hdr, n, PROXY_PROTO_MAX_LEN);
	assert_int_equal(r.header_len, 24);
	expect_no_addr(&r);
}

static void v2_malformed(void **state)
{
	static const struct {
		uint8_t ver_cmd, fam;
		size_t len;
		size_t at; /* refused after this many bytes */
	} cases[] = {
		{0x11, 0x11, 12, 13}, /* version 1 in a version 2 header */
		{0x31, 0x11, 12, 13}, /* version 3 */
		{0x01, 0x11, 12, 13},
		{0x22, 0x11, 12, 13}, /* command 2 */
		{0x2f, 0x11, 12, 13},
		{0x21, 0x41, 12, 14}, /* family 4 */
		{0x21, 0x13, 12, 14}, /* transport 3 */
		{0x21, 0x01, 12, 14}, /* UNSPEC with STREAM: not a listed combination */
		{0x21, 0x10, 12, 14}, /* INET with UNSPEC */
		{0x21, 0x11, 11, 16}, /* a block longer than the length */
		{0x21, 0x21, 35, 16},
		{0x21, 0x31, 215, 16},
		{0x21, 0x11, 13, 28}, /* one stray byte: no room for a TLV */
		{0x21, 0x11, 14, 28}, /* two */
		{0x21, 0x00, 1, 16},
		{0x20, 0x00, 2, 16}, /* LOCAL UNSPEC: the length is TLVs, and 2 bytes are none */
	};
	uint8_t hdr[512], body[300];

	(void)state;
	memset(body, 0, sizeof(body));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = v2(hdr, cases[i].ver_cmd, cases[i].fam, body, cases[i].len), at;

		assert_int_equal(refuse(hdr, n, PROXY_PROTO_MAX_LEN, &at),
				 -PROXY_PROTO_ERR_MALFORMED);
		assert_int_equal(at, cases[i].at);
	}
}

static void v2_bad_tlvs(void **state)
{
	uint8_t hdr[512], body[300];
	size_t n, at;

	(void)state;
	memcpy(body, inet_block, 12);
	/* A TLV whose value runs past the length: refused at its length's low byte. */
	memcpy(body + 12, "\x01\x00\x05h2", 5);
	n = v2(hdr, 0x21, 0x11, body, 17);
	assert_int_equal(refuse(hdr, n, PROXY_PROTO_MAX_LEN, &at), -PROXY_PROTO_ERR_MALFORMED);
	assert_int_equal(at, 16 + 12 + 3);
	/* A good TLV, then one byte short of a head. */
	memcpy(body + 12, "\x01\x00\x02h2\x04\x00", 7);
	n = v2(hdr, 0x21, 0x11, body, 19);
	assert_int_equal(refuse(hdr, n, PROXY_PROTO_MAX_LEN, &at), -PROXY_PROTO_ERR_MALFORMED);
	assert_int_equal(at, 16 + 12 + 5);
	/* A length of 0xffff in a TLV. */
	memcpy(body + 12, "\x05\xff\xff", 3);
	n = v2(hdr, 0x21, 0x11, body, 15 + 20);
	assert_int_equal(refuse(hdr, n, PROXY_PROTO_MAX_LEN, &at), -PROXY_PROTO_ERR_MALFORMED);
	assert_int_equal(at, 16 + 12 + 3);
	/* A TLV ending exactly at the end, empty value last: fine. */
	memcpy(body + 12, "\x01\x00\x02h2\x04\x00\x00", 8);
	n = v2(hdr, 0x21, 0x11, body, 20);
	accept_header(hdr, n, PROXY_PROTO_MAX_LEN);
}

static void v2_too_long(void **state)
{
	uint8_t *hdr = malloc(PROXY_PROTO_V2_MAX_LEN), *body = calloc(1, 65535);
	struct proxy_proto_result r;
	struct outcome o;
	size_t n, at;

	(void)state;
	assert_non_null(hdr);
	assert_non_null(body);
	memcpy(body, inet_block, 12);
	/* At the cap: a NOOP TLV fills 512 bytes exactly. */
	body[12] = 0x04;
	body[13] = (512 - 16 - 12 - 3) >> 8;
	body[14] = (512 - 16 - 12 - 3) & 0xff;
	n = v2(hdr, 0x21, 0x11, body, 512 - 16);
	r = accept_header(hdr, n, 512);
	assert_int_equal(r.header_len, 512);
	/* One past it: refused as soon as the length field is in. */
	body[14]++;
	n = v2(hdr, 0x21, 0x11, body, 512 - 16 + 1);
	assert_int_equal(refuse(hdr, n, 512, &at), -PROXY_PROTO_ERR_TOO_LONG);
	assert_int_equal(at, 16);
	assert_int_equal(refuse(hdr, 16, 512, &at), -PROXY_PROTO_ERR_TOO_LONG);

	/* The protocol's own maximum, with no cap: 65535 bytes of TLVs. */
	body[0] = 0x04;
	body[1] = (65535 - 3) >> 8;
	body[2] = (65535 - 3) & 0xff;
	n = v2(hdr, 0x20, 0x00, body, 65535);
	feed(hdr, n, SIZE_MAX, &o);
	assert_true(o.done);
	assert_int_equal(o.used, PROXY_PROTO_V2_MAX_LEN);
	feed(hdr, n, PROXY_PROTO_V2_MAX_LEN - 1, &o);
	assert_int_equal(o.err, -PROXY_PROTO_ERR_TOO_LONG);
	free(body);
	free(hdr);
}

/* ---- neither version ---- */

static void not_proxy(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		size_t at; /* the byte that rules out both signatures, counted from 1 */
	} cases[] = {
		{"GET / HTTP/1.1\r\n\r\n", 18, 1},
		{"SSH-2.0-OpenSSH_9.2\r\n", 21, 1},
		{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11, 1}, /* TLS ClientHello */
		{"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 32, 1},
		{"\0\0\0\0", 4, 1},
		{"P", 1, 0}, /* a prefix: no verdict yet */
		{"PROXY", 5, 0},
		{"PRO\r\n", 5, 4},
		{"PROXX TCP4", 10, 5},
		{"PROX", 4, 0},
		{"\r\n", 2, 0},
		{"\r\nGET / HTTP/1.1", 16, 3},
		{"\r\n\r\n\r\n", 6, 5},
		{"\r\n\r\n\0\r\nQUIT", 11, 0},
		{"\r\n\r\n\0\r\nQUIT\r", 12, 12},
		{"\r\n\r\n\0\r\nQUIX\n!!!!", 16, 11},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t at;
		ssize_t err = refuse(cases[i].in, cases[i].len, PROXY_PROTO_MAX_LEN, &at);

		if (!cases[i].at) {
			assert_int_equal(err, 0);
			continue;
		}
		assert_int_equal(err, -PROXY_PROTO_ERR_NOT_PROXY);
		assert_int_equal(at, cases[i].at);
	}
}

/* ---- writers ---- */

static struct sockaddr_in sin4(const char *a, unsigned port)
{
	struct sockaddr_in s = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

	assert_int_equal(inet_pton(AF_INET, a, &s.sin_addr), 1);
	return s;
}

static struct sockaddr_in6 sin6(const char *a, unsigned port)
{
	struct sockaddr_in6 s = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};

	assert_int_equal(inet_pton(AF_INET6, a, &s.sin6_addr), 1);
	return s;
}

static void write_v1_text(void **state)
{
	static const struct {
		const char *src, *dst;
		unsigned sport, dport;
		const char *line;
	} cases[] = {
		{"192.168.0.1", "192.168.0.11", 56324, 443,
		 "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"},
		{"0.0.0.0", "255.255.255.255", 0, 65535,
		 "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"},
		{"2001:db8::1", "::1", 1, 65535, "PROXY TCP6 2001:db8::1 ::1 1 65535\r\n"},
		{"::", "1::", 1, 2, "PROXY TCP6 :: 1:: 1 2\r\n"},
		{"2001:db8:0:1:1:1:1:1", "2001:0:0:1:0:0:0:1", 1, 2,
		 "PROXY TCP6 2001:db8:0:1:1:1:1:1 2001:0:0:1::1 1 2\r\n"},
		{"1:0:0:2:0:0:3:4", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, 2,
		 "PROXY TCP6 1::2:0:0:3:4 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 1 2\r\n"},
		{"FE80::ABCD:0001", "0:0:0:0:0:0:0:1", 1, 2, "PROXY TCP6 fe80::abcd:1 ::1 1 2\r\n"},
		/* Both mapped: TCP4, as HAProxy does. */
		{"::ffff:192.0.2.1", "::ffff:198.51.100.7", 4000, 443,
		 "PROXY TCP4 192.0.2.1 198.51.100.7 4000 443\r\n"},
		/* One mapped: TCP6, the mapped side in hex. */
		{"::ffff:192.0.2.1", "2001:db8::2", 4000, 443,
		 "PROXY TCP6 ::ffff:c000:201 2001:db8::2 4000 443\r\n"},
	};
	char buf[PROXY_PROTO_V1_MAX_LEN];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_in6 s, d;
		struct sockaddr_in s4, d4;
		const struct sockaddr *sp = (const struct sockaddr *)&s;
		const struct sockaddr *dp = (const struct sockaddr *)&d;
		size_t len = strlen(cases[i].line);

		if (strchr(cases[i].src, ':')) {
			s = sin6(cases[i].src, cases[i].sport);
			d = sin6(cases[i].dst, cases[i].dport);
		} else {
			s4 = sin4(cases[i].src, cases[i].sport);
			d4 = sin4(cases[i].dst, cases[i].dport);
			sp = (const struct sockaddr *)&s4;
			dp = (const struct sockaddr *)&d4;
		}
		assert_int_equal(proxy_proto_write_v1(buf, sizeof(buf), sp, dp), len);
		assert_memory_equal(buf, cases[i].line, len);
		/* Exactly enough room is enough; one byte less is -ENOSPC. */
		assert_int_equal(proxy_proto_write_v1(buf, len, sp, dp), len);
		assert_int_equal(proxy_proto_write_v1(buf, len - 1, sp, dp), -ENOSPC);
	}
	assert_int_equal(proxy_proto_write_v1(buf, sizeof(buf), NULL, NULL), 15);
	assert_memory_equal(buf, "PROXY UNKNOWN\r\n", 15);
	assert_int_equal(proxy_proto_write_v1(buf, 14, NULL, NULL), -ENOSPC);
}

/* The client's TLS facts appended as TLVs: the bytes, the length, and our own parser's verdict. */
static void append_ssl_tlvs(void **state)
{
	struct sockaddr_in s = sin4("192.0.2.1", 56260), d = sin4("198.51.100.7", 443);
	struct proxy_proto_ssl ssl = {
		.version = "TLSv1.3",
		.cipher = "TLS_AES_128_GCM_SHA256",
		.sni = "a.test",
		.cn = "client1",
		.cert = true,
		.cert_verified = true,
	};
	static const uint8_t tail[] = {
		0x02, 0x00, 0x06, 'a',	0x2e, 't',  'e',  's',	't', /* AUTHORITY "a.test" */
		0x20, 0x00, 0x32, 0x03, 0x00, 0x00, 0x00, 0x00, /* SSL: client SSL|CERT_CONN, verify 0 */
		0x21, 0x00, 0x07, 'T',	'L',  'S',  'v',  '1',	'.', '3', 0x23, 0x00,
		0x16, 'T',  'L',  'S',	'_',  'A',  'E',  'S',	'_', '1', '2',	'8',
		'_',  'G',  'C',  'M',	'_',  'S',  'H',  'A',	'2', '5', '6',	0x22,
		0x00, 0x07, 'c',  'l',	'i',  'e',  'n',  't',	'1',
	};
	uint8_t buf[256];
	struct outcome o;
	int n = proxy_proto_write_v2(buf, sizeof(buf), (struct sockaddr *)&s,
				     (struct sockaddr *)&d),
	    m;

	(void)state;
	assert_int_equal(n, 28);
	assert_int_equal(proxy_proto_append_ssl(buf, (size_t)n + sizeof(tail) - 1, (size_t)n, &ssl),
			 -ENOSPC);
	m = proxy_proto_append_ssl(buf, sizeof(buf), (size_t)n, &ssl);
	assert_int_equal(m, n + (int)sizeof(tail));
	assert_memory_equal(buf + n, tail, sizeof(tail));
	assert_int_equal((buf[14] << 8) | buf[15], m - 16);
	feed(buf, (size_t)m, PROXY_PROTO_MAX_LEN, &o);
	assert_int_equal(o.err, 0);
	assert_true(o.done);
	assert_int_equal(o.used, (size_t)m);
	/* Without a verified certificate: no CN, verify nonzero, the CERT_CONN bit as presented. */
	ssl.cert_verified = false;
	n = proxy_proto_write_v2(buf, sizeof(buf), (struct sockaddr *)&s, (struct sockaddr *)&d);
	m = proxy_proto_append_ssl(buf, sizeof(buf), (size_t)n, &ssl);
	assert_int_equal(m, n + (int)sizeof(tail) - 10);
	assert_int_equal(buf[n + 9 + 3], 0x03);
	assert_int_equal(buf[n + 9 + 7], 0x01);
}

static void write_v2_bytes(void **state)
{
	struct sockaddr_in s = sin4("192.0.2.1", 56260), d = sin4("198.51.100.7", 443);
	struct sockaddr_in6 s6 = sin6("2001:db8::1", 12345), d6 = sin6("2001:db8::2", 80);
	uint8_t buf[64], want[64];
	size_t n;

	(void)state;
	n = v2(want, 0x21, 0x11, inet_block, 12);
	assert_int_equal(proxy_proto_write_v2(buf, sizeof(buf), (struct sockaddr *)&s,
					      (struct sockaddr *)&d),
			 n);
	assert_memory_equal(buf, want, n);
	assert_int_equal(
		proxy_proto_write_v2(buf, n - 1, (struct sockaddr *)&s, (struct sockaddr *)&d),
		-ENOSPC);
	n = v2(want, 0x21, 0x21, inet6_block, 36);
	assert_int_equal(proxy_proto_write_v2(buf, sizeof(buf), (struct sockaddr *)&s6,
					      (struct sockaddr *)&d6),
			 n);
	assert_memory_equal(buf, want, n);
	assert_int_equal(
		proxy_proto_write_v2(buf, n, (struct sockaddr *)&s6, (struct sockaddr *)&d6), n);
	assert_int_equal(
		proxy_proto_write_v2(buf, n - 1, (struct sockaddr *)&s6, (struct sockaddr *)&d6),
		-ENOSPC);
	n = v2(want, 0x20, 0x00, NULL, 0);
	assert_int_equal(proxy_proto_write_v2(buf, sizeof(buf), NULL, NULL), n);
	assert_memory_equal(buf, want, n);
	assert_int_equal(proxy_proto_write_v2(buf, 15, NULL, NULL), -ENOSPC);
}

static void write_errors(void **state)
{
	struct sockaddr_in s = sin4("192.0.2.1", 1);
	struct sockaddr_un u = {.sun_family = AF_UNIX};
	char buf[PROXY_PROTO_V1_MAX_LEN];

	(void)state;
	assert_int_equal(proxy_proto_write_v1(buf, sizeof(buf), (struct sockaddr *)&s, NULL),
			 -EINVAL);
	assert_int_equal(proxy_proto_write_v2(buf, sizeof(buf), (struct sockaddr *)&s, NULL),
			 -EINVAL);
	assert_int_equal(proxy_proto_write_v1(buf, sizeof(buf), (struct sockaddr *)&u,
					      (struct sockaddr *)&s),
			 -EAFNOSUPPORT);
	assert_int_equal(proxy_proto_write_v2(buf, sizeof(buf), (struct sockaddr *)&s,
					      (struct sockaddr *)&u),
			 -EAFNOSUPPORT);
}

/* Writer, then receiver: the same endpoints come back (mapped pairs as IPv4). */
static void round_trips(void **state)
{
	static const struct {
		const char *src, *dst;
		int family; /* what the header carries */
		const char *want_src, *want_dst;
	} cases[] = {
		{"192.0.2.1", "198.51.100.7", AF_INET, "192.0.2.1", "198.51.100.7"},
		{"2001:db8::1", "2001:db8::2", AF_INET6, "2001:db8::1", "2001:db8::2"},
		{"::ffff:192.0.2.1", "::ffff:198.51.100.7", AF_INET, "192.0.2.1", "198.51.100.7"},
		{"::ffff:192.0.2.1", "2001:db8::2", AF_INET6, "::ffff:192.0.2.1", "2001:db8::2"},
		{"192.0.2.1", "2001:db8::2", AF_INET6, "::ffff:192.0.2.1", "2001:db8::2"},
		{"192.0.2.1", "::ffff:198.51.100.7", AF_INET, "192.0.2.1", "198.51.100.7"},
		{"::", "::1", AF_INET6, "::", "::1"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "1:2:3:4:5:6:7:8", AF_INET6,
		 "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "1:2:3:4:5:6:7:8"},
	};
	static const unsigned ports[][2] = {{0, 0}, {1, 65535}, {56324, 443}};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t k = 0; k < 3; k++) {
			struct sockaddr_storage s, d;
			uint8_t buf[PROXY_PROTO_V1_MAX_LEN];
			unsigned sp = ports[k][0], dp = ports[k][1];

			if (strchr(cases[i].src, ':'))
				*(struct sockaddr_in6 *)&s = sin6(cases[i].src, sp);
			else
				*(struct sockaddr_in *)&s = sin4(cases[i].src, sp);
			if (strchr(cases[i].dst, ':'))
				*(struct sockaddr_in6 *)&d = sin6(cases[i].dst, dp);
			else
				*(struct sockaddr_in *)&d = sin4(cases[i].dst, dp);
			for (int version = 1; version <= 2; version++) {
				int n = version == 1
						? proxy_proto_write_v1((char *)buf, sizeof(buf),
								       (struct sockaddr *)&s,
								       (struct sockaddr *)&d)
						: proxy_proto_write_v2(buf, sizeof(buf),
								       (struct sockaddr *)&s,
								       (struct sockaddr *)&d);
				struct proxy_proto_result r;

				assert_true(n > 0);
				r = accept_header(buf, (size_t)n, PROXY_PROTO_MAX_LEN);
				assert_int_equal(r.version, version);
				assert_int_equal(r.command, PROXY_PROTO_CMD_PROXY);
				assert_int_equal(r.family, cases[i].family);
				expect_addr(&r.src, r.src_len, cases[i].family, cases[i].want_src,
					    sp);
				expect_addr(&r.dst, r.dst_len, cases[i].family, cases[i].want_dst,
					    dp);
			}
		}
	}
}

static void round_trip_local(void **state)
{
	uint8_t buf[PROXY_PROTO_V1_MAX_LEN];
	struct proxy_proto_result r;
	int n;

	(void)state;
	n = proxy_proto_write_v1((char *)buf, sizeof(buf), NULL, NULL);
	r = accept_header(buf, (size_t)n, PROXY_PROTO_MAX_LEN);
	assert_int_equal(r.version, 1);
	expect_no_addr(&r);
	n = proxy_proto_write_v2(buf, sizeof(buf), NULL, NULL);
	r = accept_header(buf, (size_t)n, PROXY_PROTO_MAX_LEN);
	assert_int_equal(r.version, 2);
	assert_int_equal(r.command, PROXY_PROTO_CMD_LOCAL);
	expect_no_addr(&r);
}

/* ---- the rest of the contract ---- */

static void edges(void **state)
{
	static const char line[] = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nhello";
	struct proxy_proto_parser p;
	struct proxy_proto_result r;

	(void)state;
	proxy_proto_parser_init(&p, PROXY_PROTO_MAX_LEN);
	assert_int_equal(proxy_proto_need(&p), 15);
	assert_int_equal(proxy_proto_parse(&p, "", 0, &r), 0);
	assert_int_equal(proxy_proto_parse(&p, line, 10, &r), 0);
	assert_int_equal(proxy_proto_need(&p), 5);
	assert_int_equal(proxy_proto_parse(&p, line + 10, 20, &r), 0);
	assert_int_equal(proxy_proto_need(&p), 1);
	/* The header's last 2 bytes, then the client's 5 left alone. */
	assert_int_equal(proxy_proto_parse(&p, line + 30, 7, &r), 2);
	assert_int_equal(r.header_len, 32);
	assert_int_equal(proxy_proto_need(&p), 0);

	/* Errors are sticky, whatever comes next. */
	proxy_proto_parser_init(&p, PROXY_PROTO_MAX_LEN);
	assert_int_equal(proxy_proto_parse(&p, "X", 1, &r), -PROXY_PROTO_ERR_NOT_PROXY);
	assert_int_equal(proxy_proto_parse(&p, line, sizeof(line) - 1, &r),
			 -PROXY_PROTO_ERR_NOT_PROXY);
	assert_int_equal(proxy_proto_parse(&p, "", 0, &r), -PROXY_PROTO_ERR_NOT_PROXY);

	/* Re-initialised, the same parser reads a header again. */
	proxy_proto_parser_init(&p, PROXY_PROTO_MAX_LEN);
	assert_int_equal(proxy_proto_parse(&p, line, sizeof(line) - 1, &r), 32);

	assert_string_equal(proxy_proto_error_name(PROXY_PROTO_ERR_NOT_PROXY),
			    "not a PROXY header");
	assert_string_equal(proxy_proto_error_name(PROXY_PROTO_ERR_MALFORMED), "malformed");
	assert_string_equal(proxy_proto_error_name(PROXY_PROTO_ERR_TOO_LONG), "too long");
	assert_string_equal(proxy_proto_error_name(PROXY_PROTO_ERR_COUNT), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(v1_valid),
		cmocka_unit_test(v1_unknown),
		cmocka_unit_test(v1_ipv6_text),
		cmocka_unit_test(v1_malformed),
		cmocka_unit_test(v1_refused_early),
		cmocka_unit_test(v1_too_long),
		cmocka_unit_test(v2_proxy_inet),
		cmocka_unit_test(v2_proxy_inet6),
		cmocka_unit_test(v2_no_address),
		cmocka_unit_test(v2_local_ignores_family),
		cmocka_unit_test(v2_malformed),
		cmocka_unit_test(v2_bad_tlvs),
		cmocka_unit_test(v2_too_long),
		cmocka_unit_test(not_proxy),
		cmocka_unit_test(write_v1_text),
		cmocka_unit_test(write_v2_bytes),
		cmocka_unit_test(append_ssl_tlvs),
		cmocka_unit_test(write_errors),
		cmocka_unit_test(round_trips),
		cmocka_unit_test(round_trip_local),
		cmocka_unit_test(edges),
	};

	return cmocka_run_group_tests_name("proxy_proto", tests, guard_setup, guard_teardown);
}
