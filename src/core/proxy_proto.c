// SPDX-License-Identifier: MIT
/*
 * The PROXY protocol receiver and writers. The header explains the
 * contract; this file is the state machine behind it.
 *
 *   START --'P'--> V1_SIG --"PROXY "--> V1_PROTO --"UNKNOWN" SP--> V1_UNKNOWN --CR---+
 *     |                                   |   |                                       |
 *     |            +--"TCP4"|"TCP6" SP----+   +--"UNKNOWN" CR-----------------------+ |
 *     |            v                                                                v v
 *     |         V1_SRC --SP--> V1_DST --SP--> V1_SPORT --SP--> V1_DPORT --CR----> V1_LF -LF-> DONE
 *     |
 *     +--CR--> V2_SIG --12 bytes--> V2_FIXED (ver/cmd, fam, 16-bit length)
 *     |                                 |
 *     other byte: NOT_PROXY             v
 *                                   V2_ADDR (the address block, when there is one)
 *                                       |
 *                                       v
 *                     +----------> after_block() --nothing left--> DONE
 *                     |                 | 3 bytes or more left
 *                     |                 v
 *               V2_TLV_VALUE <----- V2_TLV_HEAD (type, 16-bit length)
 *               (skipped)
 *
 * Version 1 goes a byte at a time: the line is at most 107 bytes and each
 * byte is judged as it arrives, so garbage is refused at the byte that
 * proves it. Only the field being read is kept (field[]); it is decoded
 * when its delimiter arrives, into addr[] in the layout of version 2's
 * address blocks, so both versions end in the same fill_result().
 *
 * Version 2 goes a byte at a time through its 16 fixed bytes, then in runs:
 * the address block (its first 36 bytes kept when they hold addresses we
 * use), then each TLV's 3-byte head a byte at a time and its value as one
 * skipped run. Nothing but addr[] is stored, so the cap on the length
 * bounds time, not memory.
 */
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "ringer/proxy_proto.h"

enum state {
	S_START,
	S_V1_SIG,
	S_V1_PROTO,
	S_V1_UNKNOWN,
	S_V1_SRC,
	S_V1_DST,
	S_V1_SPORT,
	S_V1_DPORT,
	S_V1_LF,
	S_V2_SIG,
	S_V2_FIXED,
	S_V2_ADDR,
	S_V2_TLV_HEAD,
	S_V2_TLV_VALUE,
	S_DONE,
	S_ERROR,
};

static const char v1_sig[] = "PROXY ";
#define V1_SIG_MATCH 5	/* a mismatch within "PROXY" is NOT_PROXY, at the space MALFORMED */
#define V1_MIN_LEN   15 /* "PROXY UNKNOWN\r\n" */

static const uint8_t v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
#define V2_TCP4	     0x11
#define V2_TCP6	     0x21
#define V2_ADDR_KEEP 36 /* the largest block whose addresses we use: TCP over IPv6 */

/* Longest text of each v1 field: dotted quad, IPv6 with a dotted tail, port. */
#define V1_IPV4_MAX 15
#define V1_IPV6_MAX 45
#define V1_PORT_MAX 5

_Static_assert(sizeof(((struct proxy_proto_parser *)0)->field) >= V1_IPV6_MAX, "field fits");
_Static_assert(sizeof(((struct proxy_proto_parser *)0)->addr) == V2_ADDR_KEEP, "addr fits");

/*
 * The family/transport bytes the specification lists, with the size of
 * their address block; -1 for the others.
 */
static int v2_block_size(uint8_t fam)
{
	switch (fam) {
	case 0x00:
		return 0;
	case 0x11:
	case 0x12:
		return 12;
	case 0x21:
	case 0x22:
		return 36;
	case 0x31:
	case 0x32:
		return 216;
	default:
		return -1;
	}
}

/* The size of one address in a block: src, dst, sport, dport lie at 0, a, 2a, 2a + 2. */
static size_t addr_size(int family)
{
	return family == AF_INET ? 4 : 16;
}

void proxy_proto_parser_init(struct proxy_proto_parser *p, size_t max_len)
{
	memset(p, 0, sizeof(*p));
	p->state = S_START;
	p->family = AF_UNSPEC;
	p->max_len = max_len > PROXY_PROTO_V2_MAX_LEN ? PROXY_PROTO_V2_MAX_LEN : (uint32_t)max_len;
}

static ssize_t fail(struct proxy_proto_parser *p, enum proxy_proto_error err)
{
	p->state = S_ERROR;
	p->err = (uint8_t)err;
	return -(ssize_t)err;
}

/* ---- version 1 fields ---- */

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(uint8_t c)
{
	if (is_digit(c))
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A decimal without leading zeros, at most max; the whole of s[0..n). */
static bool parse_decimal(const char *s, size_t n, unsigned max, unsigned *out)
{
	unsigned v = 0;

	if (!n || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit((uint8_t)s[i]))
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

/* Exactly four decimal octets 0..255, no leading zeros, single dots. */
static bool parse_ipv4(const char *s, size_t n, uint8_t out[4])
{
	size_t start = 0;

	for (int i = 0; i < 4; i++) {
		size_t end = start;
		unsigned v;

		while (end < n && s[end] != '.')
			end++;
		if (end - start > 3 || !parse_decimal(s + start, end - start, 255, &v))
			return false;
		out[i] = (uint8_t)v;
		if (i < 3 && end == n)
			return false;
		start = end + 1;
	}
	return start == n + 1;
}

/*
 * RFC 4291 section 2.2 text: eight groups of 1 to 4 hex digits, one "::"
 * standing for one or more zero groups, and optionally a dotted quad as the
 * last 32 bits.
 */
static bool parse_ipv6(const char *s, size_t n, uint8_t out[16])
{
	uint16_t w[8];
	int nw = 0, gap = -1;
	size_t i = 0;

	if (n >= 2 && s[0] == ':' && s[1] == ':') {
		gap = 0;
		i = 2;
	}
	while (i < n) {
		size_t start = i;
		unsigned v = 0;
		int h;

		while (i < n && i - start < 5 && (h = hex_value((uint8_t)s[i])) >= 0) {
			v = v << 4 | (unsigned)h;
			i++;
		}
		if (i < n && s[i] == '.') {
			uint8_t q[4];

			/* The dotted tail: two groups, and the end of the text. */
			if (nw > 6 || !parse_ipv4(s + start, n - start, q))
				return false;
			w[nw++] = (uint16_t)(q[0] << 8 | q[1]);
			w[nw++] = (uint16_t)(q[2] << 8 | q[3]);
			break;
		}
		if (i == start || i - start > 4 || nw == 8)
			return false;
		w[nw++] = (uint16_t)v;
		if (i == n)
			break;
		if (s[i++] != ':' || i == n)
			return false;
		if (s[i] == ':') {
			if (gap >= 0)
				return false;
			gap = nw;
			i++;
		}
	}
	if (gap < 0 ? nw != 8 : nw > 7)
		return false;
	memset(out, 0, 16);
	for (int k = 0; k < nw; k++) {
		int at = gap >= 0 && k >= gap ? k + 8 - nw : k;

		out[2 * at] = (uint8_t)(w[k] >> 8);
		out[2 * at + 1] = (uint8_t)w[k];
	}
	return true;
}

/* The bytes a field may hold, and how many, by state and family. */
static bool field_byte_ok(const struct proxy_proto_parser *p, uint8_t c)
{
	if (p->state == S_V1_SPORT || p->state == S_V1_DPORT)
		/* No leading zero: a second digit after a lone 0 is wrong already. */
		return is_digit(c) && p->flen < V1_PORT_MAX &&
		       !(p->flen == 1 && p->field[0] == '0');
	if (p->family == AF_INET)
		return (is_digit(c) || c == '.') && p->flen < V1_IPV4_MAX;
	return (hex_value(c) >= 0 || c == ':' || c == '.') && p->flen < V1_IPV6_MAX;
}

/* A field's delimiter arrived: decode it into addr[] and move to the next. */
static bool field_end(struct proxy_proto_parser *p)
{
	size_t asz = addr_size(p->family);
	uint8_t *a = p->addr;
	unsigned port;

	switch (p->state) {
	case S_V1_SRC:
	case S_V1_DST:
		a += p->state == S_V1_SRC ? 0 : asz;
		if (p->family == AF_INET ? !parse_ipv4(p->field, p->flen, a)
					 : !parse_ipv6(p->field, p->flen, a))
			return false;
		break;
	default:
		if (!parse_decimal(p->field, p->flen, 65535, &port))
			return false;
		a += 2 * asz + (p->state == S_V1_SPORT ? 0 : 2);
		a[0] = (uint8_t)(port >> 8);
		a[1] = (uint8_t)port;
		break;
	}
	p->state = p->state == S_V1_DPORT ? S_V1_LF : p->state + 1;
	p->flen = 0;
	return true;
}

static const char *const v1_protos[] = {"TCP4", "TCP6", "UNKNOWN"};
static const uint8_t v1_proto_family[] = {AF_INET, AF_INET6, AF_UNSPEC};

/* The protocol word, matched as it comes; SP or CR ends it. */
static bool v1_proto_byte(struct proxy_proto_parser *p, uint8_t c)
{
	if (c == ' ' || c == '\r') {
		for (size_t i = 0; i < 3; i++) {
			if (strlen(v1_protos[i]) != p->flen ||
			    memcmp(v1_protos[i], p->field, p->flen))
				continue;
			p->family = v1_proto_family[i];
			p->flen = 0;
			if (p->family != AF_UNSPEC)
				p->state = c == ' ' ? S_V1_SRC : S_ERROR;
			else
				p->state = c == ' ' ? S_V1_UNKNOWN : S_V1_LF;
			return p->state != S_ERROR;
		}
		return false;
	}
	if (p->flen == 7)
		return false;
	p->field[p->flen++] = (char)c;
	for (size_t i = 0; i < 3; i++)
		if (strlen(v1_protos[i]) >= p->flen && !memcmp(v1_protos[i], p->field, p->flen))
			return true;
	return false;
}

/* One byte of a version 1 line (the byte at p->pos - 1). */
static ssize_t v1_byte(struct proxy_proto_parser *p, uint8_t c)
{
	uint32_t at = p->pos - 1;
	bool ok = true;

	switch (p->state) {
	case S_V1_SIG:
		if (c != (uint8_t)v1_sig[at])
			return fail(p, at < V1_SIG_MATCH ? PROXY_PROTO_ERR_NOT_PROXY
							 : PROXY_PROTO_ERR_MALFORMED);
		if (at == sizeof(v1_sig) - 2)
			p->state = S_V1_PROTO;
		break;
	case S_V1_PROTO:
		ok = v1_proto_byte(p, c);
		break;
	case S_V1_UNKNOWN:
		if (c == '\r')
			p->state = S_V1_LF;
		ok = c != '\n';
		break;
	case S_V1_LF:
		p->state = S_DONE;
		ok = c == '\n';
		break;
	default: /* the four address and port fields */
		if (c == (p->state == S_V1_DPORT ? '\r' : ' '))
			ok = field_end(p);
		else if ((ok = field_byte_ok(p, c)))
			p->field[p->flen++] = (char)c;
		break;
	}
	if (!ok)
		return fail(p, PROXY_PROTO_ERR_MALFORMED);
	/* A line that has used up its bytes without its LF can only get longer. */
	if (p->state != S_DONE &&
	    p->pos >= (p->max_len < PROXY_PROTO_V1_MAX_LEN ? p->max_len : PROXY_PROTO_V1_MAX_LEN))
		return fail(p, PROXY_PROTO_ERR_TOO_LONG);
	return 1;
}

/* ---- version 2 ---- */

/*
 * The address block (or the whole length, for a LOCAL header of no known
 * layout) is over: what is left up to the total must be whole TLVs.
 */
static ssize_t after_block(struct proxy_proto_parser *p)
{
	uint32_t rest = p->total - p->pos;

	if (!rest || p->skip_all) {
		p->state = S_DONE;
		return 0;
	}
	if (rest < 3)
		return fail(p, PROXY_PROTO_ERR_MALFORMED);
	p->state = S_V2_TLV_HEAD;
	p->tlv_pos = 0;
	return 0;
}

/* The length field is in: the total, the cap, and the address block's size. */
static ssize_t v2_length(struct proxy_proto_parser *p)
{
	int block = v2_block_size(p->fam);
	uint32_t len = p->total;

	p->total = PROXY_PROTO_V2_HDR_LEN + len;
	if (p->total > p->max_len)
		return fail(p, PROXY_PROTO_ERR_TOO_LONG);
	if (p->command == PROXY_PROTO_CMD_LOCAL) {
		/* The family is ignored: its block is skipped if it is one we know and fits. */
		if (block < 0 || (uint32_t)block > len) {
			block = (int)len;
			p->skip_all = true;
		}
	} else if ((uint32_t)block > len) {
		return fail(p, PROXY_PROTO_ERR_MALFORMED);
	} else if (p->fam == V2_TCP4 || p->fam == V2_TCP6) {
		p->family = p->fam == V2_TCP4 ? AF_INET : AF_INET6;
	}
	p->block = (uint16_t)block;
	p->left = (uint32_t)block;
	if (block) {
		p->state = S_V2_ADDR;
		return 0;
	}
	return after_block(p);
}

/* One of the first 16 bytes (the byte at p->pos - 1). */
static ssize_t v2_byte(struct proxy_proto_parser *p, uint8_t c)
{
	uint32_t at = p->pos - 1;

	if (p->state == S_V2_SIG) {
		if (c != v2_sig[at])
			return fail(p, PROXY_PROTO_ERR_NOT_PROXY);
		if (at == sizeof(v2_sig) - 1)
			p->state = S_V2_FIXED;
		return 1;
	}
	switch (at) {
	case 12: /* version and command */
		if (c >> 4 != 2 || (c & 0xf) > V2_CMD_PROXY)
			return fail(p, PROXY_PROTO_ERR_MALFORMED);
		p->command = c & 0xf;
		break;
	case 13: /* family and transport */
		if (p->command == PROXY_PROTO_CMD_PROXY && v2_block_size(c) < 0)
			return fail(p, PROXY_PROTO_ERR_MALFORMED);
		p->fam = c;
		break;
	case 14:
		p->total = (uint32_t)c << 8;
		break;
	default:
		p->total |= c;
		if (v2_length(p) < 0)
			return -(ssize_t)p->err;
		break;
	}
	return 1;
}

/* A run of the address block: its first bytes are kept when they hold addresses. */
static ssize_t v2_addr(struct proxy_proto_parser *p, const uint8_t *s, size_t len)
{
	size_t n = len < p->left ? len : p->left;
	size_t off = p->block - p->left;

	if (p->family != AF_UNSPEC && off < V2_ADDR_KEEP)
		memcpy(p->addr + off, s, n < V2_ADDR_KEEP - off ? n : V2_ADDR_KEEP - off);
	p->left -= (uint32_t)n;
	p->pos += (uint32_t)n;
	if (!p->left && after_block(p) < 0)
		return -(ssize_t)p->err;
	return (ssize_t)n;
}

/* A TLV's head: type, then the value's 16-bit length, which must fit in the total. */
static ssize_t v2_tlv_head(struct proxy_proto_parser *p, uint8_t c)
{
	switch (p->tlv_pos++) {
	case 0:
		break; /* the type: any, none is interpreted */
	case 1:
		p->left = (uint32_t)c << 8;
		break;
	default:
		p->left |= c;
		if (p->left > p->total - p->pos)
			return fail(p, PROXY_PROTO_ERR_MALFORMED);
		if (!p->left && after_block(p) < 0)
			return -(ssize_t)p->err;
		if (p->left)
			p->state = S_V2_TLV_VALUE;
		break;
	}
	return 1;
}

static ssize_t v2_tlv_value(struct proxy_proto_parser *p, size_t len)
{
	size_t n = len < p->left ? len : p->left;

	p->left -= (uint32_t)n;
	p->pos += (uint32_t)n;
	if (!p->left && after_block(p) < 0)
		return -(ssize_t)p->err;
	return (ssize_t)n;
}

/* The first byte picks the version. */
static ssize_t start_byte(struct proxy_proto_parser *p, uint8_t c)
{
	if (c == (uint8_t)v1_sig[0]) {
		p->version = 1;
		p->state = S_V1_SIG;
		return 1;
	}
	if (c == v2_sig[0]) {
		p->version = 2;
		p->state = S_V2_SIG;
		return 1;
	}
	return fail(p, PROXY_PROTO_ERR_NOT_PROXY);
}

/* One step: consumes at least one byte of s[0..len), or fails. */
static ssize_t step(struct proxy_proto_parser *p, const uint8_t *s, size_t len)
{
	switch (p->state) {
	case S_V2_ADDR:
		return v2_addr(p, s, len);
	case S_V2_TLV_VALUE:
		return v2_tlv_value(p, len);
	default:
		break;
	}
	/* The byte-at-a-time states: pos counts the byte before it is judged. */
	p->pos++;
	switch (p->state) {
	case S_START:
		return start_byte(p, s[0]);
	case S_V2_SIG:
	case S_V2_FIXED:
		return v2_byte(p, s[0]);
	case S_V2_TLV_HEAD:
		return v2_tlv_head(p, s[0]);
	default:
		return v1_byte(p, s[0]);
	}
}

static void fill_addr(struct sockaddr_storage *ss, socklen_t *sl, int family, const uint8_t *addr,
		      const uint8_t *port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in sin = {.sin_family = AF_INET};

		memcpy(&sin.sin_addr, addr, 4);
		memcpy(&sin.sin_port, port, 2);
		memcpy(ss, &sin, sizeof(sin));
		*sl = sizeof(sin);
	} else {
		struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};

		memcpy(&sin6.sin6_addr, addr, 16);
		memcpy(&sin6.sin6_port, port, 2);
		memcpy(ss, &sin6, sizeof(sin6));
		*sl = sizeof(sin6);
	}
}

static void fill_result(const struct proxy_proto_parser *p, struct proxy_proto_result *out)
{
	size_t asz = addr_size(p->family);

	memset(out, 0, sizeof(*out));
	out->header_len = p->pos;
	out->version = p->version;
	out->command = p->version == 1 ? PROXY_PROTO_CMD_PROXY : p->command;
	out->family = p->family;
	out->v2_fam = p->version == 2 ? p->fam : 0;
	if (p->family == AF_UNSPEC)
		return;
	fill_addr(&out->src, &out->src_len, p->family, p->addr, p->addr + 2 * asz);
	fill_addr(&out->dst, &out->dst_len, p->family, p->addr + asz, p->addr + 2 * asz + 2);
}

ssize_t proxy_proto_parse(struct proxy_proto_parser *p, const void *buf, size_t len,
			  struct proxy_proto_result *out)
{
	const uint8_t *s = buf;
	size_t off = 0;

	assert(p->state != S_DONE);
	if (p->state == S_ERROR)
		return -(ssize_t)p->err;
	while (off < len && p->state != S_DONE) {
		ssize_t n = step(p, s + off, len - off);

		if (n < 0)
			return n;
		off += (size_t)n;
	}
	if (p->state != S_DONE)
		return 0;
	fill_result(p, out);
	return (ssize_t)off;
}

size_t proxy_proto_need(const struct proxy_proto_parser *p)
{
	switch (p->state) {
	case S_DONE:
	case S_ERROR:
		return 0;
	case S_START:
		return V1_MIN_LEN;
	default:
		break;
	}
	if (p->version == 2)
		return p->pos < PROXY_PROTO_V2_HDR_LEN ? PROXY_PROTO_V2_HDR_LEN - p->pos
						       : p->total - p->pos;
	return p->pos < V1_MIN_LEN ? V1_MIN_LEN - p->pos : 1;
}

const char *proxy_proto_error_name(enum proxy_proto_error err)
{
	static const char *const names[PROXY_PROTO_ERR_COUNT] = {
		[PROXY_PROTO_ERR_NONE] = "none",
		[PROXY_PROTO_ERR_NOT_PROXY] = "not a PROXY header",
		[PROXY_PROTO_ERR_MALFORMED] = "malformed",
		[PROXY_PROTO_ERR_TOO_LONG] = "too long",
	};

	return (unsigned)err < PROXY_PROTO_ERR_COUNT ? names[err] : "unknown";
}

/* ---- writers ---- */

/* The endpoints as the header will carry them. */
struct endpoints {
	int family; /* AF_INET: the first 4 bytes of src and dst hold the addresses */
	uint8_t src[16], dst[16];
	uint8_t sport[2], dport[2];
};

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Any address as 16 bytes of IPv6 (IPv4 mapped), its port in network order. */
static int as_ipv6(const struct sockaddr *sa, uint8_t addr[16], uint8_t port[2])
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		memcpy(addr, v4_mapped_prefix, 12);
		memcpy(addr + 12, &sin->sin_addr, 4);
		memcpy(port, &sin->sin_port, 2);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

		memcpy(addr, &sin6->sin6_addr, 16);
		memcpy(port, &sin6->sin6_port, 2);
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* Both sides IPv4 or IPv4-mapped: AF_INET (as HAProxy does); otherwise AF_INET6. */
static int endpoints_get(const struct sockaddr *src, const struct sockaddr *dst,
			 struct endpoints *e)
{
	int ret;

	if (!dst)
		return -EINVAL;
	ret = as_ipv6(src, e->src, e->sport);
	if (!ret)
		ret = as_ipv6(dst, e->dst, e->dport);
	if (ret)
		return ret;
	e->family = AF_INET6;
	if (!memcmp(e->src, v4_mapped_prefix, 12) && !memcmp(e->dst, v4_mapped_prefix, 12)) {
		e->family = AF_INET;
		memmove(e->src, e->src + 12, 4);
		memmove(e->dst, e->dst + 12, 4);
	}
	return 0;
}

static char *put_decimal(char *o, unsigned v)
{
	char tmp[10];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*o++ = tmp[--n];
	return o;
}

static char *put_ipv4(char *o, const uint8_t a[4])
{
	for (int i = 0; i < 4; i++) {
		if (i)
			*o++ = '.';
		o = put_decimal(o, a[i]);
	}
	return o;
}

/* RFC 5952: lowercase, no leading zeros, the first longest run of 2+ zero groups as "::". */
static char *put_ipv6(char *o, const uint8_t a[16])
{
	static const char hex[] = "0123456789abcdef";
	uint16_t w[8];
	int best = -1, best_len = 1;

	for (int i = 0; i < 8; i++)
		w[i] = (uint16_t)(a[2 * i] << 8 | a[2 * i + 1]);
	for (int i = 0; i < 8;) {
		int j = i;

		while (j < 8 && !w[j])
			j++;
		if (j - i > best_len) {
			best = i;
			best_len = j - i;
		}
		i = j > i ? j : i + 1;
	}
	for (int i = 0; i < 8; i++) {
		int shift = 12;

		if (i == best) {
			*o++ = ':';
			*o++ = ':';
			i += best_len - 1;
			continue;
		}
		if (i && i != best + best_len)
			*o++ = ':';
		while (shift && !(w[i] >> shift & 0xf))
			shift -= 4;
		for (; shift >= 0; shift -= 4)
			*o++ = hex[w[i] >> shift & 0xf];
	}
	return o;
}

int proxy_proto_write_v1(char *buf, size_t cap, const struct sockaddr *src,
			 const struct sockaddr *dst)
{
	char line[PROXY_PROTO_V1_MAX_LEN], *o = line;
	struct endpoints e;
	int ret;

	if (!src) {
		static const char unknown[] = "PROXY UNKNOWN\r\n";

		if (cap < sizeof(unknown) - 1)
			return -ENOSPC;
		memcpy(buf, unknown, sizeof(unknown) - 1);
		return (int)sizeof(unknown) - 1;
	}
	ret = endpoints_get(src, dst, &e);
	if (ret)
		return ret;
	memcpy(o, e.family == AF_INET ? "PROXY TCP4 " : "PROXY TCP6 ", 11);
	o += 11;
	o = e.family == AF_INET ? put_ipv4(o, e.src) : put_ipv6(o, e.src);
	*o++ = ' ';
	o = e.family == AF_INET ? put_ipv4(o, e.dst) : put_ipv6(o, e.dst);
	*o++ = ' ';
	o = put_decimal(o, (unsigned)(e.sport[0] << 8 | e.sport[1]));
	*o++ = ' ';
	o = put_decimal(o, (unsigned)(e.dport[0] << 8 | e.dport[1]));
	*o++ = '\r';
	*o++ = '\n';
	if (cap < (size_t)(o - line))
		return -ENOSPC;
	memcpy(buf, line, (size_t)(o - line));
	return (int)(o - line);
}

int proxy_proto_write_v2(void *buf, size_t cap, const struct sockaddr *src,
			 const struct sockaddr *dst)
{
	uint8_t hdr[PROXY_PROTO_V2_HDR_LEN + V2_ADDR_KEEP], *o = hdr + PROXY_PROTO_V2_HDR_LEN;
	struct endpoints e;
	size_t asz, n;
	int ret;

	memcpy(hdr, v2_sig, sizeof(v2_sig));
	hdr[12] = 0x20 | (src ? V2_CMD_PROXY : V2_CMD_LOCAL);
	hdr[13] = 0x00;
	if (src) {
		ret = endpoints_get(src, dst, &e);
		if (ret)
			return ret;
		asz = addr_size(e.family);
		hdr[13] = e.family == AF_INET ? V2_TCP4 : V2_TCP6;
		memcpy(o, e.src, asz);
		memcpy(o + asz, e.dst, asz);
		memcpy(o + 2 * asz, e.sport, 2);
		memcpy(o + 2 * asz + 2, e.dport, 2);
		o += 2 * asz + 4;
	}
	n = (size_t)(o - hdr);
	hdr[14] = 0;
	hdr[15] = (uint8_t)(n - PROXY_PROTO_V2_HDR_LEN);
	if (cap < n)
		return -ENOSPC;
	memcpy(buf, hdr, n);
	return (int)n;
}

/* ---- TLS facts as v2 TLVs ------------------------------------------------------------- */

#define PP2_TYPE_AUTHORITY	0x02
#define PP2_TYPE_SSL		0x20
#define PP2_SUBTYPE_SSL_VERSION 0x21
#define PP2_SUBTYPE_SSL_CN	0x22
#define PP2_SUBTYPE_SSL_CIPHER	0x23
#define PP2_CLIENT_SSL		0x01
#define PP2_CLIENT_CERT_CONN	0x02

/* One TLV of type with len bytes of value at o; returns the bytes written. */
static size_t tlv_put(uint8_t *o, uint8_t type, const void *value, size_t len)
{
	o[0] = type;
	o[1] = (uint8_t)(len >> 8);
	o[2] = (uint8_t)len;
	memcpy(o + 3, value, len);
	return 3 + len;
}

static size_t str_len(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	return n > 255 ? 255 : n;
}

int proxy_proto_append_ssl(void *buf, size_t cap, size_t len, const struct proxy_proto_ssl *ssl)
{
	size_t ver = str_len(ssl->version), cip = str_len(ssl->cipher), sni = str_len(ssl->sni);
	size_t cn = ssl->cert_verified ? str_len(ssl->cn) : 0;
	size_t inner = 5 + (ver ? 3 + ver : 0) + (cip ? 3 + cip : 0) + (cn ? 3 + cn : 0);
	size_t add = (sni ? 3 + sni : 0) + 3 + inner, body;
	uint8_t *h = buf, *o = h + len, client = PP2_CLIENT_SSL;
	uint32_t verify = ssl->cert && ssl->cert_verified ? 0 : 1;

	if (len < PROXY_PROTO_V2_HDR_LEN || len + add > cap || len + add > 0xffff)
		return -ENOSPC;
	if (sni)
		o += tlv_put(o, PP2_TYPE_AUTHORITY, ssl->sni, sni);
	o[0] = PP2_TYPE_SSL;
	o[1] = (uint8_t)(inner >> 8);
	o[2] = (uint8_t)inner;
	if (ssl->cert)
		client |= PP2_CLIENT_CERT_CONN;
	o[3] = client;
	/* verify: 0 when a certificate was presented and verified (big-endian). */
	o[4] = (uint8_t)(verify >> 24);
	o[5] = (uint8_t)(verify >> 16);
	o[6] = (uint8_t)(verify >> 8);
	o[7] = (uint8_t)verify;
	o += 8;
	if (ver)
		o += tlv_put(o, PP2_SUBTYPE_SSL_VERSION, ssl->version, ver);
	if (cip)
		o += tlv_put(o, PP2_SUBTYPE_SSL_CIPHER, ssl->cipher, cip);
	if (cn)
		o += tlv_put(o, PP2_SUBTYPE_SSL_CN, ssl->cn, cn);
	len = (size_t)(o - h);
	body = len - PROXY_PROTO_V2_HDR_LEN;
	h[14] = (uint8_t)(body >> 8);
	h[15] = (uint8_t)body;
	return (int)len;
}
