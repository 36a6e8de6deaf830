/* SPDX-License-Identifier: MIT */
#ifndef RINGER_PROXY_PROTO_H
#define RINGER_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/*
 * HAProxy's PROXY protocol, versions 1 and 2 (doc/proxy-protocol.txt of
 * HAProxy 2.8): a pure receiver that never allocates, and two writers.
 *
 * The receiver is fed the first bytes of a connection, as they arrive, in
 * pieces split anywhere. It keeps what it needs in struct proxy_proto_parser
 * (no earlier buffer is needed again, so a received buffer can be recycled
 * right after the call) and never guesses: a header is reported only once
 * its last byte has arrived, and it is reported whole or not at all. Input
 * that cannot become a valid header is refused at the first byte that
 * proves it, so a server can drop a client that does not speak the
 * protocol without waiting for more.
 *
 * Calling convention, for each received buffer until the header is done:
 *
 *	ssize_t n = proxy_proto_parse(&pp, buf, len, &res);
 *	if (n < 0)
 *		close: -n is an enum proxy_proto_error (log proxy_proto_error_name());
 *	else if (n == 0)
 *		all len bytes belong to the header, which is not complete yet:
 *		recycle buf and receive at least proxy_proto_need(&pp) more bytes;
 *	else
 *		the header ended after n bytes of this buf: use res, and hand
 *		buf + n, len - n (the client's own data, possibly empty) on;
 *
 * Return values of proxy_proto_parse():
 *   > 0  the header is complete; it ended after that many bytes of this
 *        buffer (res.header_len counts it over every call). *out is filled.
 *        The parser has done its job: calling it again is a bug (asserted)
 *        until proxy_proto_parser_init().
 *   0    all len bytes were consumed and the header is not complete yet
 *        (len == 0 also returns 0). *out is untouched.
 *   < 0  -enum proxy_proto_error. Sticky: every further call returns it.
 *
 * A caller that keeps the bytes contiguous may instead re-initialise the
 * parser and pass the whole prefix received so far each time.
 *
 * Which version: the first byte decides ('P' for version 1, CR for version
 * 2; any other byte is PROXY_PROTO_ERR_NOT_PROXY at once). Mismatches within
 * "PROXY" or within the 12-byte version 2 signature are NOT_PROXY; anything
 * wrong after them is MALFORMED (or TOO_LONG).
 *
 * Version 1, strictly: "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP sport
 * SP dport CRLF, or "PROXY" SP "UNKNOWN" followed by anything but CR and LF
 * up to CRLF. Exactly one space between fields, nothing before CRLF; a CR
 * or LF anywhere but in the final CRLF is MALFORMED. TCP4 addresses are
 * dotted quads without leading zeros; TCP6 addresses are RFC 4291 text (1 to
 * 4 hex digits a group, either case, one "::" for one or more zero groups,
 * and the dotted-quad tail for the last 32 bits, which HAProxy itself emits
 * for IPv4-mapped addresses). Ports are 0..65535 without leading zeros.
 * Each field is checked as soon as its delimiter arrives. A line is at most
 * PROXY_PROTO_V1_MAX_LEN bytes, CRLF included (and at most max_len): once
 * that many bytes have come without the CRLF, the answer is TOO_LONG.
 *
 * Version 2: the signature, then version 2 and command LOCAL (0) or PROXY
 * (1), then the family/transport byte, the 16-bit length, the address block
 * and TLVs up to 16 + length bytes. A total over the caller's max_len is
 * TOO_LONG, said as soon as the length field is in.
 *   PROXY: the family/transport byte must be one of the seven the
 *     specification lists: UNSPEC (0x00, no address block), TCP or UDP
 *     over IPv4 (0x11, 0x12: 12 bytes), over IPv6 (0x21, 0x22: 36 bytes) or
 *     UNIX stream or datagram (0x31, 0x32: 216 bytes); anything else, or a
 *     length too short for the block, is MALFORMED. Only TCP over IPv4 and
 *     IPv6 give addresses; the others are accepted without one (the
 *     specification's fallback to UNSPEC for what a receiver does not use).
 *   LOCAL: the family is ignored, as the specification says. When it is
 *     one of the seven and its block fits in the length, the block is
 *     skipped as such; otherwise the whole length is skipped unchecked.
 * Whatever follows the address block must be whole TLVs (type, 16-bit
 * length, value) ending exactly at 16 + length; they are skipped, not
 * interpreted (PP2_TYPE_CRC32C is not verified, PP2_TYPE_SSL sub-TLVs are
 * not walked).
 *
 * Addresses are used only when res.family is AF_INET or AF_INET6: version 1
 * UNKNOWN, version 2 LOCAL and the address-less version 2 cases all give
 * AF_UNSPEC, and the connection's own addresses apply. An IPv4-mapped IPv6
 * address is reported as sent (AF_INET6).
 */

/* Version 1 line, CRLF included; a buffer this long also fits anything the writers produce. */
#define PROXY_PROTO_V1_MAX_LEN 107
/* Version 2: the fixed part, and the whole header at most. */
#define PROXY_PROTO_V2_HDR_LEN 16
#define PROXY_PROTO_V2_MAX_LEN (16 + 65535)
/*
 * A cap for proxy_proto_parser_init(): room for the largest address block
 * (216) and a few kilobytes of TLVs (AWS, GCP and HAProxy's SSL TLVs take
 * tens to hundreds of bytes). TLVs are skipped, not stored, so a larger cap
 * costs no memory, only how long a peer may keep a connection in its header.
 */
#define PROXY_PROTO_MAX_LEN 4096

enum proxy_proto_error {
	PROXY_PROTO_ERR_NONE = 0,
	PROXY_PROTO_ERR_NOT_PROXY, /* the first bytes match neither signature */
	PROXY_PROTO_ERR_MALFORMED, /* a signature matched, what follows is invalid */
	PROXY_PROTO_ERR_TOO_LONG,  /* v1 line over 107 bytes, or header over max_len */
	PROXY_PROTO_ERR_COUNT,
};

enum proxy_proto_command {
	PROXY_PROTO_CMD_LOCAL = 0, /* v2 LOCAL: the proxy's own connection (health check) */
	PROXY_PROTO_CMD_PROXY = 1, /* relayed for a client (v1 is always this, UNKNOWN too) */
};

/*
 * Parser state between buffers. Opaque: fields are for proxy_proto.c only.
 * Set up by proxy_proto_parser_init() (not by zeroing: it holds the cap).
 */
struct proxy_proto_parser {
	uint32_t pos;	  /* header bytes consumed so far */
	uint32_t total;	  /* v2: 16 + the length field, once read */
	uint32_t max_len; /* the caller's cap */
	uint32_t left;	  /* v2: bytes left of the address block or TLV value */
	uint16_t block;	  /* v2: size of the address block */
	uint8_t state;
	uint8_t err;	  /* enum proxy_proto_error, once in error */
	uint8_t version;  /* 1 or 2 once the first byte is in */
	uint8_t command;  /* enum proxy_proto_command */
	uint8_t fam;	  /* v2: the family/transport byte */
	uint8_t family;	  /* AF_INET, AF_INET6 or AF_UNSPEC: what addr holds */
	uint8_t flen;	  /* v1: bytes in field */
	uint8_t tlv_pos;  /* v2: bytes of the current TLV's 3-byte head */
	bool skip_all;	  /* v2 LOCAL with no known layout: length skipped unchecked */
	uint8_t addr[36]; /* src, dst, sport, dport as in v2's blocks (network order) */
	char field[45];	  /* v1: the field being read (longest: IPv6 with a dotted tail) */
};

_Static_assert(sizeof(struct proxy_proto_parser) <= 128, "kept beside a connection");

/* One complete header. */
struct proxy_proto_result {
	struct sockaddr_storage src; /* the client, as the proxy saw it */
	struct sockaddr_storage dst; /* the address the client connected to */
	socklen_t src_len;	     /* sizeof(struct sockaddr_in or _in6); 0 without addresses */
	socklen_t dst_len;
	uint32_t header_len; /* bytes of the whole header, over every call */
	uint8_t version;     /* 1 or 2 */
	uint8_t command;     /* enum proxy_proto_command */
	uint8_t family;	     /* AF_INET, AF_INET6, or AF_UNSPEC: no address to use */
	uint8_t v2_fam;	     /* v2: the family/transport byte as sent (for logs); v1: 0 */
};

/*
 * Ready for a new connection. max_len caps a version 2 header, fixed part
 * included (PROXY_PROTO_MAX_LEN is a sensible value; values above
 * PROXY_PROTO_V2_MAX_LEN mean no cap); it also caps a version 1 line below
 * 107 bytes if smaller.
 */
void proxy_proto_parser_init(struct proxy_proto_parser *p, size_t max_len);

/* See the calling convention above. out must not be NULL. */
ssize_t proxy_proto_parse(struct proxy_proto_parser *p, const void *buf, size_t len,
			  struct proxy_proto_result *out);

/*
 * While the header is incomplete, the fewest bytes that can complete it
 * (at least 1): exact for version 2 once its 16 fixed bytes are in, a lower
 * bound otherwise (the shortest version 1 line is 15 bytes). 0 once the
 * header is complete or refused.
 */
size_t proxy_proto_need(const struct proxy_proto_parser *p);

/* "not a PROXY header", "malformed", "too long"; for logs and stats. */
const char *proxy_proto_error_name(enum proxy_proto_error err);

/*
 * The writers: the header for a connection from src to dst, in buf, which
 * holds cap bytes (PROXY_PROTO_V1_MAX_LEN always suffices: at most 104 bytes
 * for version 1, 52 for version 2). Return the bytes written (no NUL) or:
 *   -ENOSPC        cap is too small (nothing written)
 *   -EAFNOSUPPORT  src or dst is neither AF_INET nor AF_INET6
 *   -EINVAL        dst is NULL while src is not
 * src == NULL writes the header for a connection of the sender's own (dst
 * ignored): "PROXY UNKNOWN\r\n" for version 1, LOCAL with family UNSPEC and
 * no address for version 2. When src and dst are both IPv4 or IPv4-mapped
 * IPv6, the header says TCP4 / AF_INET with the IPv4 addresses (as HAProxy
 * does); otherwise TCP6 / AF_INET6, an IPv4 side written IPv4-mapped. No
 * TLV is written. Version 1 IPv6 text is RFC 5952's (lowercase, longest
 * zero run as "::", all hex: no dotted tail).
 */
int proxy_proto_write_v1(char *buf, size_t cap, const struct sockaddr *src,
			 const struct sockaddr *dst);
int proxy_proto_write_v2(void *buf, size_t cap, const struct sockaddr *src,
			 const struct sockaddr *dst);

/*
 * What the client's TLS connection was, for a v2 header's TLVs (HAProxy's
 * send-proxy-v2-ssl-cn): PP2_TYPE_AUTHORITY with the SNI name, and
 * PP2_TYPE_SSL with the client bits, the verify result and the version,
 * cipher and client certificate CN sub-TLVs. Strings may be NULL or empty.
 */
struct proxy_proto_ssl {
	const char *version; /* "TLSv1.3" */
	const char *cipher;  /* "TLS_AES_128_GCM_SHA256" */
	const char *sni;
	const char *cn; /* the client certificate's CN (with cert_verified) */
	bool cert;	/* the client presented a certificate */
	bool cert_verified;
};

/*
 * Appends those TLVs to the v2 header of len bytes in buf (proxy_proto_
 * write_v2's) and fixes its length. Returns the new length, or -ENOSPC
 * (nothing changed) when cap is too small.
 */
int proxy_proto_append_ssl(void *buf, size_t cap, size_t len, const struct proxy_proto_ssl *ssl);

#endif
