// SPDX-License-Identifier: MIT
/*
 * The PROXY protocol receiver and writers (src/proto/proxy_proto.c) on any
 * bytes, taken as the first bytes of a connection:
 *
 *  - nothing reads outside the piece it is given (each piece is a heap
 *    copy of exactly its size, watched by the sanitizers), and no call
 *    consumes more than it was given;
 *  - the input fed whole, one byte at a time, and in pieces of sizes drawn
 *    from the input itself, gives the same verdict, the same header length
 *    and the same result, addresses included;
 *  - a refusal as "not a PROXY header" comes exactly at the first byte that
 *    matches neither signature, and never while one still matches;
 *  - while incomplete, proxy_proto_need() is at least 1 and never more than
 *    what the header turns out to need (exactly that for version 2 once
 *    its fixed part is in);
 *  - a parsed header written again by the writer of its version parses
 *    back to the same endpoints (IPv4-mapped pairs come back as IPv4), and
 *    so do endpoints made of the input's own bytes.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "fuzz.h"
#include "ringer/proxy_proto.h"

/* A small cap, so that "too long" is within the fuzzer's reach. */
#define CAP 512

static const uint8_t v1_sig[5] = {'P', 'R', 'O', 'X', 'Y'};
static const uint8_t v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

struct outcome {
	ssize_t err;	 /* 0, or the negative error */
	bool done;	 /* a header was reported */
	size_t used;	 /* the header's length, when done */
	size_t fed;	 /* bytes handed over when the verdict came */
	size_t promise;	 /* the most fed + need() said while incomplete */
	bool v2_exact;	 /* some need() came after a v2 header's fixed part */
	size_t v2_ended; /* ... and fed + need() there */
	struct proxy_proto_result res;
};

static void check_result(const uint8_t *data, size_t used, const struct proxy_proto_result *r)
{
	FUZZ_CHECK(r->header_len == used);
	FUZZ_CHECK(r->command <= PROXY_PROTO_CMD_PROXY);
	if (r->version == 1) {
		FUZZ_CHECK(used <= PROXY_PROTO_V1_MAX_LEN && used >= 15);
		FUZZ_CHECK(data[used - 2] == '\r' && data[used - 1] == '\n');
		FUZZ_CHECK(r->command == PROXY_PROTO_CMD_PROXY && r->v2_fam == 0);
	} else {
		FUZZ_CHECK(r->version == 2);
		FUZZ_CHECK(used <= CAP);
		FUZZ_CHECK(used == PROXY_PROTO_V2_HDR_LEN + (size_t)(data[14] << 8 | data[15]));
		FUZZ_CHECK(r->v2_fam == data[13]);
	}
	if (r->family == AF_INET) {
		FUZZ_CHECK(r->src_len == sizeof(struct sockaddr_in) && r->src.ss_family == AF_INET);
		FUZZ_CHECK(r->dst_len == sizeof(struct sockaddr_in) && r->dst.ss_family == AF_INET);
	} else if (r->family == AF_INET6) {
		FUZZ_CHECK(r->src_len == sizeof(struct sockaddr_in6) &&
			   r->src.ss_family == AF_INET6);
		FUZZ_CHECK(r->dst_len == sizeof(struct sockaddr_in6) &&
			   r->dst.ss_family == AF_INET6);
	} else {
		FUZZ_CHECK(r->family == AF_UNSPEC && !r->src_len && !r->dst_len);
	}
}

/* Feeds data in pieces: piece(i) gives the size of the i-th (0: the rest). */
static void run(const uint8_t *data, size_t size,
		size_t (*piece)(const uint8_t *, size_t, unsigned), struct outcome *o)
{
	struct proxy_proto_parser p;
	size_t off = 0;
	unsigned i = 0;

	memset(o, 0, sizeof(*o));
	proxy_proto_parser_init(&p, CAP);
	while (off < size) {
		size_t len = piece(data, size, i++), need;
		struct proxy_proto_result r;
		uint8_t *buf;
		ssize_t n;

		if (!len || len > size - off)
			len = size - off;
		/* A piece of its own, exactly its size: a read past it is caught. */
		buf = malloc(len);
		FUZZ_CHECK(buf);
		memcpy(buf, data + off, len);
		n = proxy_proto_parse(&p, buf, len, &r);
		o->fed = off + len;
		if (n < 0) {
			o->err = n;
			FUZZ_CHECK(n > -PROXY_PROTO_ERR_COUNT);
			FUZZ_CHECK(proxy_proto_need(&p) == 0);
			/* Sticky. */
			FUZZ_CHECK(proxy_proto_parse(&p, buf, len, &r) == n);
			free(buf);
			return;
		}
		free(buf);
		if (n > 0) {
			FUZZ_CHECK((size_t)n <= len);
			o->done = true;
			o->used = off + (size_t)n;
			o->res = r;
			FUZZ_CHECK(proxy_proto_need(&p) == 0);
			check_result(data, o->used, &r);
			return;
		}
		off += len;
		need = proxy_proto_need(&p);
		FUZZ_CHECK(need >= 1);
		if (off + need > o->promise)
			o->promise = off + need;
		if (data[0] == v2_sig[0] && off >= PROXY_PROTO_V2_HDR_LEN) {
			FUZZ_CHECK(!o->v2_exact || o->v2_ended == off + need);
			o->v2_exact = true;
			o->v2_ended = off + need;
		}
	}
}

static void same(const struct outcome *a, const struct outcome *b)
{
	FUZZ_CHECK(a->err == b->err);
	FUZZ_CHECK(a->done == b->done);
	if (a->done) {
		FUZZ_CHECK(a->used == b->used);
		/* The result is zeroed before it is filled: bytes compare. */
		FUZZ_CHECK(!memcmp(&a->res, &b->res, sizeof(a->res)));
	}
}

/* need() promised no more than the header took. */
static void check_promises(const struct outcome *o)
{
	if (!o->done)
		return;
	FUZZ_CHECK(o->promise <= o->used);
	if (o->v2_exact)
		FUZZ_CHECK(o->v2_ended == o->used);
}

/*
 * Fed a byte at a time, the verdict "not a PROXY header" comes exactly with
 * the first byte that leaves neither signature matching.
 */
static void check_early_refusal(const uint8_t *data, size_t size, const struct outcome *bytes)
{
	size_t k;

	for (k = 0; k < size; k++) {
		bool v1 = k < sizeof(v1_sig) && data[k] == v1_sig[k] && !memcmp(data, v1_sig, k);
		bool v2 = k < sizeof(v2_sig) && data[k] == v2_sig[k] && !memcmp(data, v2_sig, k);

		if (!v1 && !v2)
			break;
		/* A signature matched whole: what follows can be wrong, but not "not PROXY". */
		if ((v1 && k == sizeof(v1_sig) - 1) || (v2 && k == sizeof(v2_sig) - 1)) {
			FUZZ_CHECK(bytes->err != -PROXY_PROTO_ERR_NOT_PROXY);
			return;
		}
	}
	if (k == size) {
		FUZZ_CHECK(!bytes->err && !bytes->done);
		return;
	}
	FUZZ_CHECK(bytes->err == -PROXY_PROTO_ERR_NOT_PROXY);
	FUZZ_CHECK(bytes->fed == k + 1);
}

/* ---- writer -> receiver ---- */

static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* An endpoint as IPv6 bytes (IPv4 mapped) and a port, for comparing. */
static void canonical(const struct sockaddr_storage *ss, uint8_t out[18])
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		memcpy(out, mapped_prefix, 12);
		memcpy(out + 12, &sin->sin_addr, 4);
		memcpy(out + 16, &sin->sin_port, 2);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		FUZZ_CHECK(ss->ss_family == AF_INET6);
		memcpy(out, &sin6->sin6_addr, 16);
		memcpy(out + 16, &sin6->sin6_port, 2);
	}
}

/* Writes src -> dst (NULL: the sender's own connection) and parses it back. */
static void write_and_parse(int version, const struct sockaddr_storage *src,
			    const struct sockaddr_storage *dst)
{
	uint8_t out[PROXY_PROTO_V1_MAX_LEN], *buf;
	const struct sockaddr *s = (const struct sockaddr *)src;
	const struct sockaddr *d = (const struct sockaddr *)dst;
	struct proxy_proto_parser p;
	struct proxy_proto_result r;
	uint8_t a[18], b[18], c[18], e[18];
	int n = version == 1 ? proxy_proto_write_v1((char *)out, sizeof(out), s, d)
			     : proxy_proto_write_v2(out, sizeof(out), s, d);

	FUZZ_CHECK(n > 0 && n <= (version == 1 ? 104 : 52));
	/* One byte short is refused, and leaves nothing behind. */
	FUZZ_CHECK((version == 1 ? proxy_proto_write_v1((char *)out, (size_t)n - 1, s, d)
				 : proxy_proto_write_v2(out, (size_t)n - 1, s, d)) == -ENOSPC);
	n = version == 1 ? proxy_proto_write_v1((char *)out, sizeof(out), s, d)
			 : proxy_proto_write_v2(out, sizeof(out), s, d);
	buf = malloc((size_t)n);
	FUZZ_CHECK(buf);
	memcpy(buf, out, (size_t)n);
	proxy_proto_parser_init(&p, CAP);
	FUZZ_CHECK(proxy_proto_parse(&p, buf, (size_t)n, &r) == n);
	free(buf);
	FUZZ_CHECK(r.version == version && r.header_len == (uint32_t)n);
	if (!src) {
		FUZZ_CHECK(r.family == AF_UNSPEC && !r.src_len && !r.dst_len);
		FUZZ_CHECK(r.command ==
			   (version == 1 ? PROXY_PROTO_CMD_PROXY : PROXY_PROTO_CMD_LOCAL));
		return;
	}
	canonical(src, a);
	canonical(dst, b);
	canonical(&r.src, c);
	canonical(&r.dst, e);
	FUZZ_CHECK(!memcmp(a, c, 18) && !memcmp(b, e, 18));
	/* IPv4 on the wire exactly when both sides are IPv4 or mapped. */
	FUZZ_CHECK((r.family == AF_INET) ==
		   (!memcmp(a, mapped_prefix, 12) && !memcmp(b, mapped_prefix, 12)));
}

static void round_trip(const struct proxy_proto_result *r)
{
	if (r->family == AF_UNSPEC)
		write_and_parse(r->version, NULL, NULL);
	else
		write_and_parse(r->version, &r->src, &r->dst);
}

/* Endpoints from raw bytes: the writers' own coverage, beyond what parses. */
static void endpoint_from(const uint8_t *d, int kind, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};

	memset(ss, 0, sizeof(*ss));
	if (kind == 0) {
		struct sockaddr_in sin = {.sin_family = AF_INET};

		memcpy(&sin.sin_addr, d, 4);
		memcpy(&sin.sin_port, d + 16, 2);
		memcpy(ss, &sin, sizeof(sin));
		return;
	}
	memcpy(&sin6.sin6_addr, d, 16);
	if (kind == 2) /* mapped */
		memcpy(&sin6.sin6_addr, mapped_prefix, 12);
	if (kind == 3) /* runs of zeros, for "::" */
		for (int i = 0; i < 8; i++)
			if (d[17] >> i & 1)
				sin6.sin6_addr.s6_addr[2 * i] = sin6.sin6_addr.s6_addr[2 * i + 1] =
					0;
	memcpy(&sin6.sin6_port, d + 16, 2);
	memcpy(ss, &sin6, sizeof(sin6));
}

static void raw_endpoints(const uint8_t *data, size_t size)
{
	struct sockaddr_storage s, d;

	if (size < 37)
		return;
	endpoint_from(data + 1, data[0] & 3, &s);
	endpoint_from(data + 19, data[0] >> 2 & 3, &d);
	write_and_parse(1, &s, &d);
	write_and_parse(2, &s, &d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct outcome a, b;

	run(data, size, fuzz_whole, &a);
	check_promises(&a);
	run(data, size, fuzz_drawn, &b);
	same(&a, &b);
	check_promises(&b);
	run(data, size, fuzz_bytewise, &b);
	same(&a, &b);
	check_promises(&b);
	check_early_refusal(data, size, &b);
	if (a.done)
		round_trip(&a.res);
	raw_endpoints(data, size);
	return 0;
}
