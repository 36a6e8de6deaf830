/* SPDX-License-Identifier: MIT */
#ifndef RINGER_HTTP_HEAD_H
#define RINGER_HTTP_HEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "http_parser.h"   /* enum http_method */
#include "ringer/config.h" /* struct config_route */

/*
 * What the HTTP reverse proxy (--mode http-proxy) does to a message head on
 * its way through, and where a request goes: pure functions on one
 * contiguous head, request (or status) line through the final empty line.
 * They never allocate, do no I/O and read each head once, front to back;
 * output goes to the caller's buffer.
 *
 * The heads they take were validated first: a request head by
 * http_parser.c (one Host at most, framing rules enforced, no obs-fold), a
 * response head by the proxy's response parser. Lines may end in CRLF or in
 * a bare LF; what these functions write always ends lines in CRLF. A head
 * that is not even a head (no start line, no final empty line, a field line
 * without a colon, more than HTTP_MAX_HEADERS field lines) is -EINVAL, never
 * a read past len.
 *
 * Hop-by-hop fields (RFC 9110 7.6.1), which never cross the proxy in either
 * direction: Connection and every field its tokens name, Keep-Alive, TE,
 * Trailer, Transfer-Encoding, Content-Length (the proxy frames the body
 * itself), Upgrade (but for an upgrade), Proxy-Connection and every other
 * Proxy-* field, and Expect (the proxy answers 100-continue itself). Names
 * are matched case-insensitively.
 */

enum http_framing {
	HTTP_FRAME_NONE,    /* no body (no framing header at all) */
	HTTP_FRAME_LENGTH,  /* Content-Length: length */
	HTTP_FRAME_CHUNKED, /* Transfer-Encoding: chunked */
	HTTP_FRAME_CLOSE,   /* response only: the body runs to the close (no framing header) */
	HTTP_FRAME_KEEP, /* response only: keep the upstream's Content-Length as it is (HEAD, 304) */
};

/* Which fields tell the upstream who the client is (--forwarded). */
enum http_fwd_style {
	HTTP_FWD_X,	  /* X-Forwarded-For (appended), X-Forwarded-Proto, X-Forwarded-Host */
	HTTP_FWD_RFC7239, /* Forwarded: for=...;proto=...;host=... (appended) */
	HTTP_FWD_NONE,	  /* neither added; the client's pass through as they are */
};

/*
 * What the proxy needs to know of a request head. Every pointer points into
 * the head given to http_head_request_info() (or at a constant string), so
 * it lives as long as that buffer.
 */
struct http_req_info {
	/*
	 * origin-form: "/path?query". An absolute-form target
	 * "http://host:port/p?q" is given as "/p?q" ("http://host" as "/", and
	 * "http://host?q" as "?q", which http_head_rewrite_request() sends as
	 * "/?q"); "*" as "*"; any other form (CONNECT's authority-form) as sent.
	 */
	const char *target;
	uint32_t target_len;
	const char *path; /* target up to '?' (for routing) */
	uint32_t path_len;
	/*
	 * Host without its port (the authority's host for absolute-form, RFC
	 * 9112 3.2.2; brackets kept for IPv6 literals); len 0 if none or empty.
	 */
	const char *host;
	uint32_t host_len;
	/* Host as sent, port included (X-Forwarded-Host); NULL when there is no Host at all. */
	const char *host_full;
	uint32_t host_full_len;
	uint8_t method; /* enum http_method */
	uint8_t minor;	/* 0 or 1 */
	bool upgrade;	/* an Upgrade header AND "upgrade" among the Connection tokens (HTTP/1.1) */
	bool websocket; /* ... and "websocket" (any case) among the Upgrade protocols */
	bool keep_alive; /* the client keeps the connection (1.1 unless close; 1.0 only with keep-alive) */
};

/*
 * Fills *out from a complete, valid request head. Returns 0 or -EINVAL: not
 * a head, or an absolute-form target whose authority could not be a Host
 * (userinfo, bytes a host cannot hold), which the proxy answers with 400.
 */
int http_head_request_info(const char *head, size_t len, struct http_req_info *out);

/* Who the client is, for X-Forwarded-* or Forwarded, and the proxy's name for Via. */
struct http_fwd {
	const char *client_ip; /* no port, IPv6 without brackets; NULL: "unknown" */
	bool tls;	       /* the client spoke TLS to us: proto=https */
	enum http_fwd_style style;
	const char *via_name; /* the pseudonym in Via, e.g. "ringer"; NULL or "": no Via added */
};

/*
 * The upstream's request head, into out (cap bytes):
 *
 *	METHOD TARGET HTTP/1.1            (ri->target, origin-form)
 *	Host: ri->host_full               (empty when ri->host_full is NULL: an
 *	                                   HTTP/1.0 request without Host goes on
 *	                                   as HTTP/1.1, which needs one, RFC
 *	                                   9112 3.2)
 *	the client's fields in their order, minus the hop-by-hop ones and the
 *	client's Host, and minus those merged or replaced below:
 *	HTTP_FWD_X:
 *	  X-Forwarded-For: the client's values (all its lines merged), then client_ip
 *	  X-Forwarded-Proto: http | https (the client's dropped)
 *	  X-Forwarded-Host: host_full (the client's dropped; none without a Host)
 *	HTTP_FWD_RFC7239:
 *	  Forwarded: the client's values, then for=IP;proto=http;host=HOST, with
 *	  RFC 7239's quoting ("[v6]" quoted, a host quoted when it holds a
 *	  character a token cannot, such as ':'; no host= without a Host)
 *	Via: the client's values, then "1.0 NAME" or "1.1 NAME" by ri->minor
 *	Content-Length: length | Transfer-Encoding: chunked | nothing, by fr
 *	Connection: upgrade + Upgrade: the client's value(s), for ri->upgrade
 *	(empty line)
 *
 * The upstream connection is kept alive whatever the client said (no
 * Connection field but for an upgrade): keeping the client's connection is
 * the proxy's business, not the upstream's. fr is NONE, LENGTH or CHUNKED
 * (the others: -EINVAL). Returns the bytes written, -ENOSPC when cap is too
 * small (out then holds nothing useful), or -EINVAL.
 */
ssize_t http_head_rewrite_request(const char *head, size_t len, const struct http_req_info *ri,
				  const struct http_fwd *fwd, enum http_framing fr, uint64_t length,
				  char *out, size_t cap);

/* What the proxy needs to know of a response head (validated by the response parser). */
struct http_resp_opts {
	unsigned client_minor; /* the client's HTTP/1.minor */
	bool keep_alive;       /* the client connection stays open after this response */
	bool upgrade;	       /* a 101 to an upgrade: keep "Connection: upgrade" and Upgrade */
	enum http_framing fr;
	uint64_t length;      /* for HTTP_FRAME_LENGTH */
	const char *via_name; /* NULL or "": no Via added */
};

/*
 * The client's response head, into out (cap bytes):
 *
 *	HTTP/1.1 SSS REASON               (the upstream's code and reason)
 *	the upstream's fields in their order, minus the hop-by-hop ones
 *	(its first Content-Length kept for HTTP_FRAME_KEEP alone) and Via
 *	Via: the upstream's values, then "1.x NAME" by the UPSTREAM's version
 *	Content-Length: length | Transfer-Encoding: chunked | nothing, by fr
 *	Connection: upgrade + Upgrade: the upstream's value(s), for upgrade; else
 *	Connection: close, when !keep_alive; else
 *	Connection: keep-alive, when client_minor == 0
 *	(empty line)
 *
 * The caller picks fr for the client: HTTP_FRAME_CHUNKED only for an
 * HTTP/1.1 client, HTTP_FRAME_CLOSE with !keep_alive. Returns the bytes
 * written, -ENOSPC when cap is too small, or -EINVAL.
 */
ssize_t http_head_rewrite_response(const char *head, size_t len, const struct http_resp_opts *o,
				   char *out, size_t cap);

/* The status code of a response head ("HTTP/1.x SSS ..."), 100..999, or -EINVAL. */
int http_head_status(const char *head, size_t len);

/*
 * Routing (--route [HOST][/PATH-PREFIX]=GROUP). A route's host is "" (any
 * host), a name ("example.com") or a wildcard ("*.example.com": one or more
 * labels before ".example.com", not example.com itself); its prefix is ""
 * (any path) or starts with '/' and is a plain string prefix of the path, as
 * nginx's `location /prefix` is ("/api" takes "/api", "/apix" and
 * "/api/v1"; "/api/" does not take "/api").
 *
 * Given the request's host (its port, if any, is ignored; matched
 * case-insensitively; a trailing dot ignored) and path, the routes that take
 * both are ranked: those whose host equals the request's first (longest
 * prefix wins), then wildcard-host ones (longest suffix, then longest
 * prefix), then those with no host (longest prefix). Ties: the first given.
 * So a request whose host has routes, none of whose prefixes fit its path,
 * falls through to the wildcard and then the any-host routes. Returns the
 * index of the winner, or -1 (no route: the proxy answers 404).
 */
int http_route_match(const struct config_route *routes, unsigned n, const char *host,
		     size_t host_len, const char *path, size_t path_len);

/*
 * Parses one --route value into *r: "[HOST][/PREFIX]=GROUP" (split at the
 * last '='). HOST is a DNS name (lowercased, a trailing dot dropped), a
 * "*." wildcard or a bracketed IPv6 literal, with no port; PREFIX starts
 * with '/' and holds no '?', '#', space or control byte; GROUP is a group's
 * name ([A-Za-z0-9._-], under 32 bytes) or empty for the default group.
 * Returns 0, or -EINVAL with a one-line message in err.
 */
int http_route_parse(const char *s, struct config_route *r, char *err, size_t err_len);

#endif
