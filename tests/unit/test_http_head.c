// SPDX-License-Identifier: MIT
/*
 * The HTTP proxy's head rewriting and routing (src/proto/http_head.c):
 * what a request head tells the proxy, every field the rewrite removes,
 * merges, replaces or adds in each direction, exact output for whole heads,
 * -ENOSPC at every size below the one needed, the route ranking and the
 * route syntax. Every head is first copied so that it ends right at a
 * PROT_NONE page: a read past its end faults instead of passing unnoticed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "http_head.h"

#define GUARD_AREA (64 * 1024)
#define OUT_MAX	   8192

static char *guard_base; /* GUARD_AREA readable bytes, then a PROT_NONE page */

static int guard_setup(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, GUARD_AREA + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

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

/* The head, copied to end right at the guard page (valid until the next call). */
static const char *at_guard(const char *s)
{
	size_t n = strlen(s);
	char *dst = guard_base + GUARD_AREA - n;

	assert_true(n <= GUARD_AREA);
	memmove(dst, s, n);
	return dst;
}

static const struct http_fwd fwd_x = {"192.0.2.7", false, HTTP_FWD_X, "ringer"};
static const struct http_fwd fwd_7239 = {"192.0.2.7", false, HTTP_FWD_RFC7239, "ringer"};
static const struct http_fwd fwd_none = {"192.0.2.7", false, HTTP_FWD_NONE, "ringer"};

static char out[OUT_MAX];

/* Rewrites a request head (info taken from it) and compares the whole output. */
static void check_req(const char *head, const struct http_fwd *fwd, enum http_framing fr,
		      uint64_t length, const char *want)
{
	struct http_req_info ri;
	const char *h = at_guard(head);
	size_t len = strlen(head);
	ssize_t n;

	assert_int_equal(http_head_request_info(h, len, &ri), 0);
	n = http_head_rewrite_request(h, len, &ri, fwd, fr, length, out, sizeof(out) - 1);
	assert_true(n > 0);
	out[n] = '\0';
	assert_string_equal(out, want);
}

static void check_resp(const char *head, const struct http_resp_opts *o, const char *want)
{
	const char *h = at_guard(head);
	ssize_t n = http_head_rewrite_response(h, strlen(head), o, out, sizeof(out) - 1);

	assert_true(n > 0);
	out[n] = '\0';
	assert_string_equal(out, want);
}

static void expect_field(const struct http_req_info *ri, const char *p, uint32_t n, const char *s)
{
	(void)ri;
	assert_non_null(p);
	assert_int_equal(n, strlen(s));
	assert_memory_equal(p, s, n);
}

static void info(const char *head, struct http_req_info *ri)
{
	assert_int_equal(http_head_request_info(at_guard(head), strlen(head), ri), 0);
}

static void request_info(void **state)
{
	struct http_req_info ri;

	(void)state;
	info("GET /a/b?x=1 HTTP/1.1\r\nHost: Example.com:8080\r\nAccept: */*\r\n\r\n", &ri);
	expect_field(&ri, ri.target, ri.target_len, "/a/b?x=1");
	expect_field(&ri, ri.path, ri.path_len, "/a/b");
	expect_field(&ri, ri.host, ri.host_len, "Example.com");
	expect_field(&ri, ri.host_full, ri.host_full_len, "Example.com:8080");
	assert_int_equal(ri.method, HTTP_METHOD_GET);
	assert_int_equal(ri.minor, 1);
	assert_true(ri.keep_alive);
	assert_false(ri.upgrade);
	assert_false(ri.websocket);

	/* Each method the parser knows by name, and another. */
	info("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", &ri);
	assert_int_equal(ri.method, HTTP_METHOD_HEAD);
	info("POST / HTTP/1.1\r\nHost: a\r\n\r\n", &ri);
	assert_int_equal(ri.method, HTTP_METHOD_POST);
	info("PUT / HTTP/1.1\r\nHost: a\r\n\r\n", &ri);
	assert_int_equal(ri.method, HTTP_METHOD_PUT);
	info("DELETE / HTTP/1.1\r\nHost: a\r\n\r\n", &ri);
	assert_int_equal(ri.method, HTTP_METHOD_DELETE);
	info("PATCH / HTTP/1.1\r\nHost: a\r\n\r\n", &ri);
	assert_int_equal(ri.method, HTTP_METHOD_PATCH);
	info("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &ri);
	assert_int_equal(ri.method, HTTP_METHOD_OPTIONS);
	expect_field(&ri, ri.target, ri.target_len, "*");
	expect_field(&ri, ri.path, ri.path_len, "*");
	info("PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n", &ri);
	assert_int_equal(ri.method, HTTP_METHOD_OTHER);
	info("get / HTTP/1.1\r\nHost: a\r\n\r\n", &ri); /* methods are case-sensitive */
	assert_int_equal(ri.method, HTTP_METHOD_OTHER);

	/* IPv6 literal: brackets kept, port gone. An empty Host is there, but empty. */
	info("GET / HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n", &ri);
	expect_field(&ri, ri.host, ri.host_len, "[2001:db8::1]");
	expect_field(&ri, ri.host_full, ri.host_full_len, "[2001:db8::1]:8443");
	info("GET / HTTP/1.1\r\nHost:\r\n\r\n", &ri);
	assert_non_null(ri.host_full);
	assert_int_equal(ri.host_full_len, 0);
	assert_int_equal(ri.host_len, 0);
	/* OWS around the value is not part of it; the Host line may come anywhere. */
	info("GET / HTTP/1.1\r\nA: b\r\nhOsT: \t h:1 \t\r\n\r\n", &ri);
	expect_field(&ri, ri.host_full, ri.host_full_len, "h:1");
	expect_field(&ri, ri.host, ri.host_len, "h");

	/* HTTP/1.0 without Host: no host at all. */
	info("GET /x HTTP/1.0\r\n\r\n", &ri);
	assert_int_equal(ri.minor, 0);
	assert_null(ri.host_full);
	assert_int_equal(ri.host_len, 0);
	assert_false(ri.keep_alive);
}

static void request_info_absolute_form(void **state)
{
	struct http_req_info ri;

	(void)state;
	/* The authority replaces Host (RFC 9112 3.2.2). */
	info("GET http://A.example:8080/p/q?r=1 HTTP/1.1\r\nHost: other\r\n\r\n", &ri);
	expect_field(&ri, ri.target, ri.target_len, "/p/q?r=1");
	expect_field(&ri, ri.path, ri.path_len, "/p/q");
	expect_field(&ri, ri.host, ri.host_len, "A.example");
	expect_field(&ri, ri.host_full, ri.host_full_len, "A.example:8080");
	info("GET HTTPS://b.example HTTP/1.1\r\nHost: b.example\r\n\r\n", &ri);
	expect_field(&ri, ri.target, ri.target_len, "/");
	expect_field(&ri, ri.path, ri.path_len, "/");
	expect_field(&ri, ri.host_full, ri.host_full_len, "b.example");
	info("GET http://c.example?x HTTP/1.1\r\nHost: c.example\r\n\r\n", &ri);
	expect_field(&ri, ri.target, ri.target_len, "?x");
	expect_field(&ri, ri.path, ri.path_len, "/");
	info("GET http://[::1]:81/ HTTP/1.0\r\n\r\n", &ri);
	expect_field(&ri, ri.host, ri.host_len, "[::1]");
	expect_field(&ri, ri.host_full, ri.host_full_len, "[::1]:81");
	expect_field(&ri, ri.target, ri.target_len, "/");
	/* Not a scheme we know: the target as sent. */
	info("GET ftp://x/ HTTP/1.1\r\nHost: h\r\n\r\n", &ri);
	expect_field(&ri, ri.target, ri.target_len, "ftp://x/");
	expect_field(&ri, ri.host_full, ri.host_full_len, "h");
	/* An authority that could not be a Host: userinfo (RFC 9110 4.2.4), other bytes. */
	static const char *const bad[] = {
		"GET http://user:pw@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n",
		"GET http://a\"b/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET http://a{b}/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET https://a\\b HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET http://a\x80"
		"b?x HTTP/1.1\r\nHost: a\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(http_head_request_info(at_guard(bad[i]), strlen(bad[i]), &ri),
				 -EINVAL);
	info("GET http:///p HTTP/1.1\r\nHost: a\r\n\r\n", &ri); /* empty: an empty Host */
	expect_field(&ri, ri.host_full, ri.host_full_len, "");
	expect_field(&ri, ri.target, ri.target_len, "/p");
	/* CONNECT's authority-form as sent. */
	info("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", &ri);
	expect_field(&ri, ri.target, ri.target_len, "h:443");
	assert_int_equal(ri.method, HTTP_METHOD_OTHER);
}

static void request_info_keep_alive(void **state)
{
	struct http_req_info ri;

	(void)state;
	info("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &ri);
	assert_false(ri.keep_alive);
	info("GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive\r\n\r\n", &ri);
	assert_true(ri.keep_alive);
	info("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, CLOSE\r\n\r\n", &ri);
	assert_false(ri.keep_alive);
	info("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: foo,close\r\n\r\n",
	     &ri);
	assert_false(ri.keep_alive);
	info("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &ri);
	assert_true(ri.keep_alive);
	info("GET / HTTP/1.0\r\nConnection: foo\r\nConnection: KEEP-ALIVE\r\n\r\n", &ri);
	assert_true(ri.keep_alive);
	info("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &ri);
	assert_false(ri.keep_alive);
	info("GET / HTTP/1.0\r\nKeep-Alive: timeout=5\r\n\r\n", &ri);
	assert_false(ri.keep_alive);
	/* A token is a whole list element, not a substring. */
	info("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed, x-close\r\n\r\n", &ri);
	assert_true(ri.keep_alive);
}

static void request_info_upgrade(void **state)
{
	struct http_req_info ri;

	(void)state;
	info("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
	     &ri);
	assert_true(ri.upgrade);
	assert_true(ri.websocket);
	info("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, UPGRADE\r\nupgrade: "
	     "WebSocket\r\n\r\n",
	     &ri);
	assert_true(ri.upgrade);
	assert_true(ri.websocket);
	/* Connection split over two lines still names upgrade. */
	info("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nUpgrade: h2c\r\nConnection: "
	     "upgrade\r\n\r\n",
	     &ri);
	assert_true(ri.upgrade);
	assert_false(ri.websocket);
	/* Upgrade without the Connection token, or the token without Upgrade: neither. */
	info("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", &ri);
	assert_false(ri.upgrade);
	assert_false(ri.websocket);
	info("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n", &ri);
	assert_false(ri.upgrade);
	/* HTTP/1.0: Upgrade is ignored (RFC 9110 7.8). */
	info("GET / HTTP/1.0\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", &ri);
	assert_false(ri.upgrade);
	assert_false(ri.websocket);
	/* A list of protocols holding websocket. */
	info("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: foo/2, websocket\r\nConnection: "
	     "upgrade\r\n\r\n",
	     &ri);
	assert_true(ri.websocket);
	info("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websockets\r\nConnection: upgrade\r\n\r\n",
	     &ri);
	assert_true(ri.upgrade);
	assert_false(ri.websocket);
}

static void request_info_bare_lf_and_invalid(void **state)
{
	struct http_req_info ri;
	const char *h;

	(void)state;
	info("\r\n\nGET /x HTTP/1.1\nHost: h:1\nConnection: close\n\n", &ri);
	expect_field(&ri, ri.target, ri.target_len, "/x");
	expect_field(&ri, ri.host_full, ri.host_full_len, "h:1");
	assert_false(ri.keep_alive);

	static const char *const bad[] = {
		"",
		"GET / HTTP/1.1\r\nHost: a\r\n",     /* no final empty line */
		"GET / HTTP/1.1\r\nHost: a\r\n\r",   /* nor here */
		"GET / HTTP/1.1\r\nHost a\r\n\r\n",  /* no colon */
		"GET / HTTP/1.1\r\n: a\r\n\r\n",     /* no name */
		"GET /HTTP/1.1\r\nHost: a\r\n\r\n",  /* one space */
		"GET / HTTP/2.0\r\nHost: a\r\n\r\n", /* not 1.x */
		"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
		" / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET  HTTP/1.1\r\nHost: a\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		h = at_guard(bad[i]);
		assert_int_equal(http_head_request_info(h, strlen(bad[i]), &ri), -EINVAL);
	}
}

static void request_removes_hop_by_hop(void **state)
{
	(void)state;
	/* Every hop-by-hop field, in the case browsers send and in others. */
	check_req("POST /up HTTP/1.1\r\n"
		  "Host: h\r\n"
		  "Connection: keep-alive\r\n"
		  "Keep-Alive: timeout=5\r\n"
		  "TE: trailers\r\n"
		  "Trailer: X-Sum\r\n"
		  "Transfer-Encoding: chunked\r\n"
		  "Content-Length: 10\r\n"
		  "Upgrade: websocket\r\n"
		  "Proxy-Connection: keep-alive\r\n"
		  "Proxy-Authorization: Basic eA==\r\n"
		  "Expect: 100-continue\r\n"
		  "Accept: */*\r\n"
		  "\r\n",
		  &fwd_x, HTTP_FRAME_LENGTH, 10,
		  "POST /up HTTP/1.1\r\n"
		  "Host: h\r\n"
		  "Accept: */*\r\n"
		  "X-Forwarded-For: 192.0.2.7\r\n"
		  "X-Forwarded-Proto: http\r\n"
		  "X-Forwarded-Host: h\r\n"
		  "Via: 1.1 ringer\r\n"
		  "Content-Length: 10\r\n"
		  "\r\n");
	check_req("GET / HTTP/1.1\r\n"
		  "CONNECTION: KEEP-ALIVE\r\n"
		  "keep-alive: 5\r\n"
		  "tE: x\r\n"
		  "tRAILER: y\r\n"
		  "content-LENGTH: 0\r\n"
		  "UPGRADE: h2c\r\n"
		  "proxy-connection: close\r\n"
		  "PROXY-Foo: 1\r\n"
		  "eXpEcT: 100-continue\r\n"
		  "hOST: h\r\n"
		  "\r\n",
		  &fwd_none, HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\n"
		  "Host: h\r\n"
		  "Via: 1.1 ringer\r\n"
		  "\r\n");
	/* Names that only look like hop-by-hop ones go through. */
	check_req("GET / HTTP/1.1\r\n"
		  "Host: h\r\n"
		  "Proxy: x\r\n"
		  "Proxyx-A: x\r\n"
		  "X-Proxy-Connection: x\r\n"
		  "Tee: x\r\n"
		  "Trailers: x\r\n"
		  "Connections: x\r\n"
		  "Keep-Alive2: x\r\n"
		  "Upgrades: x\r\n"
		  "Content-Lengths: x\r\n"
		  "Transfer-Encodings: x\r\n"
		  "Expects: x\r\n"
		  "Hosts: x\r\n"
		  "\r\n",
		  &fwd_none, HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\n"
		  "Host: h\r\n"
		  "Proxy: x\r\n"
		  "Proxyx-A: x\r\n"
		  "X-Proxy-Connection: x\r\n"
		  "Tee: x\r\n"
		  "Trailers: x\r\n"
		  "Connections: x\r\n"
		  "Keep-Alive2: x\r\n"
		  "Upgrades: x\r\n"
		  "Content-Lengths: x\r\n"
		  "Transfer-Encodings: x\r\n"
		  "Expects: x\r\n"
		  "Hosts: x\r\n"
		  "Via: 1.1 ringer\r\n"
		  "\r\n");
}

static void request_removes_fields_connection_names(void **state)
{
	(void)state;
	/* Named before and after the Connection line, any case, several tokens. */
	check_req("GET / HTTP/1.1\r\n"
		  "Host: h\r\n"
		  "X-Before: 1\r\n"
		  "X-Kept: 2\r\n"
		  "Connection: x-before ,  X-AFTER,,x-third\r\n"
		  "X-After: 3\r\n"
		  "x-third: 4\r\n"
		  "X-Aft: 5\r\n"
		  "X-After-More: 6\r\n"
		  "\r\n",
		  &fwd_none, HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\n"
		  "Host: h\r\n"
		  "X-Kept: 2\r\n"
		  "X-Aft: 5\r\n"
		  "X-After-More: 6\r\n"
		  "Via: 1.1 ringer\r\n"
		  "\r\n");
	/* Several Connection lines, each naming fields. */
	check_req("GET / HTTP/1.1\r\n"
		  "Host: h\r\n"
		  "Connection: A\r\n"
		  "A: 1\r\n"
		  "B: 2\r\n"
		  "C: 3\r\n"
		  "Connection: keep-alive\r\n"
		  "Connection: b\r\n"
		  "\r\n",
		  &fwd_none, HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\n"
		  "Host: h\r\n"
		  "C: 3\r\n"
		  "Via: 1.1 ringer\r\n"
		  "\r\n");
	/* Fields the proxy merges, named by Connection: the client's are dropped, ours stay. */
	check_req("GET / HTTP/1.1\r\n"
		  "Host: h\r\n"
		  "X-Forwarded-For: 10.0.0.1\r\n"
		  "Via: 1.1 other\r\n"
		  "Connection: X-Forwarded-For, via\r\n"
		  "\r\n",
		  &fwd_x, HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\n"
		  "Host: h\r\n"
		  "X-Forwarded-For: 192.0.2.7\r\n"
		  "X-Forwarded-Proto: http\r\n"
		  "X-Forwarded-Host: h\r\n"
		  "Via: 1.1 ringer\r\n"
		  "\r\n");
}

static void request_x_forwarded(void **state)
{
	struct http_fwd tls = fwd_x;

	(void)state;
	/* Every X-Forwarded-For line merged in order, then the client; Proto and Host replaced. */
	check_req("GET /p HTTP/1.1\r\n"
		  "x-forwarded-for: 203.0.113.1\r\n"
		  "Host: www.example.com:8080\r\n"
		  "X-Forwarded-Proto: https\r\n"
		  "X-Forwarded-For:  198.51.100.2, 2001:db8::9 \r\n"
		  "X-Forwarded-Host: evil.example\r\n"
		  "X-Forwarded-For:\r\n"
		  "Cookie: a=b\r\n"
		  "\r\n",
		  &fwd_x, HTTP_FRAME_NONE, 0,
		  "GET /p HTTP/1.1\r\n"
		  "Host: www.example.com:8080\r\n"
		  "Cookie: a=b\r\n"
		  "X-Forwarded-For: 203.0.113.1, 198.51.100.2, 2001:db8::9, 192.0.2.7\r\n"
		  "X-Forwarded-Proto: http\r\n"
		  "X-Forwarded-Host: www.example.com:8080\r\n"
		  "Via: 1.1 ringer\r\n"
		  "\r\n");
	tls.tls = true;
	tls.client_ip = "2001:db8::1";
	check_req("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &tls, HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\n"
		  "Host: h\r\n"
		  "X-Forwarded-For: 2001:db8::1\r\n"
		  "X-Forwarded-Proto: https\r\n"
		  "X-Forwarded-Host: h\r\n"
		  "Via: 1.1 ringer\r\n"
		  "\r\n");
	/* In the X style a client's Forwarded is just another field. */
	check_req("GET / HTTP/1.1\r\nForwarded: for=1.2.3.4\r\nHost: h\r\n\r\n", &fwd_x,
		  HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\n"
		  "Host: h\r\n"
		  "Forwarded: for=1.2.3.4\r\n"
		  "X-Forwarded-For: 192.0.2.7\r\n"
		  "X-Forwarded-Proto: http\r\n"
		  "X-Forwarded-Host: h\r\n"
		  "Via: 1.1 ringer\r\n"
		  "\r\n");
	/* No style: the client's fields as they were, none added. */
	check_req("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: "
		  "https\r\nX-Forwarded-Host: x\r\nForwarded: for=a\r\n\r\n",
		  &fwd_none, HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: "
		  "https\r\nX-Forwarded-Host: x\r\nForwarded: for=a\r\nVia: 1.1 ringer\r\n\r\n");
}

static void request_forwarded_rfc7239(void **state)
{
	struct http_fwd f = fwd_7239;

	(void)state;
	/* IPv4 and a plain host: tokens, unquoted. */
	check_req("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", &f, HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\n"
		  "Host: example.com\r\n"
		  "Forwarded: for=192.0.2.7;proto=http;host=example.com\r\n"
		  "Via: 1.1 ringer\r\n"
		  "\r\n");
	/* IPv6 in brackets and quotes; host:port quoted; the client's values first. */
	f.client_ip = "2001:db8:cafe::17";
	f.tls = true;
	check_req("GET / HTTP/1.1\r\n"
		  "Forwarded: for=198.51.100.17;by=203.0.113.60\r\n"
		  "Host: example.com:8443\r\n"
		  "Forwarded: for=\"[2001:db8::2]\"\r\n"
		  "X-Forwarded-For: 10.1.1.1\r\n"
		  "\r\n",
		  &f, HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\n"
		  "Host: example.com:8443\r\n"
		  "X-Forwarded-For: 10.1.1.1\r\n"
		  "Forwarded: for=198.51.100.17;by=203.0.113.60, for=\"[2001:db8::2]\", "
		  "for=\"[2001:db8:cafe::17]\";proto=https;host=\"example.com:8443\"\r\n"
		  "Via: 1.1 ringer\r\n"
		  "\r\n");
	/* An IPv6 literal host is quoted too; no Host, no host=. */
	f.client_ip = "127.0.0.1";
	f.tls = false;
	check_req("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n", &f, HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\n"
		  "Host: [::1]\r\n"
		  "Forwarded: for=127.0.0.1;proto=http;host=\"[::1]\"\r\n"
		  "Via: 1.1 ringer\r\n"
		  "\r\n");
	check_req("GET / HTTP/1.0\r\n\r\n", &f, HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\n"
		  "Host: \r\n"
		  "Forwarded: for=127.0.0.1;proto=http\r\n"
		  "Via: 1.0 ringer\r\n"
		  "\r\n");
	/* No client address known: "unknown" (RFC 7239 6.4). */
	f.client_ip = NULL;
	check_req("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &f, HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\n"
		  "Host: a\r\n"
		  "Forwarded: for=unknown;proto=http;host=a\r\n"
		  "Via: 1.1 ringer\r\n"
		  "\r\n");
}

static void request_via_target_host(void **state)
{
	struct http_fwd f = fwd_none;

	(void)state;
	/* The client's Via lines merged, ours by the client's version. */
	check_req("GET / HTTP/1.0\r\nVia: 1.0 fred\r\nHost: h\r\nVIA: 1.1 p.example (x)\r\n\r\n",
		  &fwd_none, HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.0 fred, 1.1 p.example (x), 1.0 "
		  "ringer\r\n\r\n");
	/* No name: no Via of ours, the client's merged all the same. */
	f.via_name = NULL;
	check_req("GET / HTTP/1.1\r\nVia: 1.0 a\r\nHost: h\r\nVia: 1.0 b\r\n\r\n", &f,
		  HTTP_FRAME_NONE, 0, "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.0 a, 1.0 b\r\n\r\n");
	f.via_name = "";
	check_req("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &f, HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	/* Absolute-form: origin-form target, the authority as Host. */
	check_req("GET http://a.example:8080/x?y=1 HTTP/1.1\r\nHost: b.example\r\n\r\n", &fwd_x,
		  HTTP_FRAME_NONE, 0,
		  "GET /x?y=1 HTTP/1.1\r\n"
		  "Host: a.example:8080\r\n"
		  "X-Forwarded-For: 192.0.2.7\r\n"
		  "X-Forwarded-Proto: http\r\n"
		  "X-Forwarded-Host: a.example:8080\r\n"
		  "Via: 1.1 ringer\r\n"
		  "\r\n");
	check_req("GET http://a.example?q HTTP/1.1\r\nHost: a.example\r\n\r\n", &fwd_none,
		  HTTP_FRAME_NONE, 0,
		  "GET /?q HTTP/1.1\r\nHost: a.example\r\nVia: 1.1 ringer\r\n\r\n");
	check_req("GET http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", &fwd_none,
		  HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\nHost: a.example\r\nVia: 1.1 ringer\r\n\r\n");
	/*
	 * HTTP/1.0 without Host: the upstream gets HTTP/1.1, so an empty Host
	 * (RFC 9112 3.2), and no X-Forwarded-Host.
	 */
	check_req("GET /old HTTP/1.0\r\nUser-Agent: w\r\n\r\n", &fwd_x, HTTP_FRAME_NONE, 0,
		  "GET /old HTTP/1.1\r\n"
		  "Host: \r\n"
		  "User-Agent: w\r\n"
		  "X-Forwarded-For: 192.0.2.7\r\n"
		  "X-Forwarded-Proto: http\r\n"
		  "Via: 1.0 ringer\r\n"
		  "\r\n");
	/* An empty Host stays (HTTP/1.1 needs one), X-Forwarded-Host does not come. */
	check_req("GET / HTTP/1.1\r\nHost:\r\n\r\n", &fwd_x, HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\n"
		  "Host: \r\n"
		  "X-Forwarded-For: 192.0.2.7\r\n"
		  "X-Forwarded-Proto: http\r\n"
		  "Via: 1.1 ringer\r\n"
		  "\r\n");
}

static void request_upgrade_and_framing(void **state)
{
	static const char ws[] = "GET /chat HTTP/1.1\r\n"
				 "Host: h\r\n"
				 "Upgrade: websocket\r\n"
				 "Connection: Upgrade\r\n"
				 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				 "Sec-WebSocket-Version: 13\r\n"
				 "\r\n";
	struct http_req_info ri;
	const char *h;
	ssize_t n;

	(void)state;
	check_req(ws, &fwd_none, HTTP_FRAME_NONE, 0,
		  "GET /chat HTTP/1.1\r\n"
		  "Host: h\r\n"
		  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		  "Sec-WebSocket-Version: 13\r\n"
		  "Via: 1.1 ringer\r\n"
		  "Connection: upgrade\r\n"
		  "Upgrade: websocket\r\n"
		  "\r\n");
	/* Connection naming other fields too: they go, Upgrade stays. */
	check_req("GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nX-Hop: 1\r\n"
		  "Connection: X-Hop, Upgrade\r\n\r\n",
		  &fwd_none, HTTP_FRAME_NONE, 0,
		  "GET /chat HTTP/1.1\r\nHost: h\r\nVia: 1.1 ringer\r\nConnection: "
		  "upgrade\r\nUpgrade: websocket\r\n\r\n");
	/* Upgrade without the Connection token is not one: removed. */
	check_req("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", &fwd_none,
		  HTTP_FRAME_NONE, 0, "GET / HTTP/1.1\r\nHost: h\r\nVia: 1.1 ringer\r\n\r\n");
	/* The caller says it is not an upgrade: removed all the same. */
	h = at_guard(ws);
	assert_int_equal(http_head_request_info(h, strlen(ws), &ri), 0);
	ri.upgrade = false;
	n = http_head_rewrite_request(h, strlen(ws), &ri, &fwd_none, HTTP_FRAME_NONE, 0, out,
				      sizeof(out) - 1);
	assert_true(n > 0);
	out[n] = '\0';
	assert_string_equal(out, "GET /chat HTTP/1.1\r\n"
				 "Host: h\r\n"
				 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				 "Sec-WebSocket-Version: 13\r\n"
				 "Via: 1.1 ringer\r\n"
				 "\r\n");

	/* Framing: chunked, a length (0 and the largest), none; a response's kinds refused. */
	check_req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &fwd_none,
		  HTTP_FRAME_CHUNKED, 0,
		  "POST / HTTP/1.1\r\nHost: h\r\nVia: 1.1 ringer\r\nTransfer-Encoding: "
		  "chunked\r\n\r\n");
	check_req("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &fwd_none,
		  HTTP_FRAME_LENGTH, 18446744073709551615ull,
		  "POST / HTTP/1.1\r\nHost: h\r\nVia: 1.1 ringer\r\nContent-Length: "
		  "18446744073709551615\r\n\r\n");
	check_req("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", &fwd_none,
		  HTTP_FRAME_LENGTH, 0,
		  "POST / HTTP/1.1\r\nHost: h\r\nVia: 1.1 ringer\r\nContent-Length: 0\r\n\r\n");
	h = at_guard("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
	assert_int_equal(http_head_request_info(h, 27, &ri), 0);
	assert_int_equal(http_head_rewrite_request(h, 27, &ri, &fwd_none, HTTP_FRAME_KEEP, 0, out,
						   sizeof(out)),
			 -EINVAL);
	assert_int_equal(http_head_rewrite_request(h, 27, &ri, &fwd_none, HTTP_FRAME_CLOSE, 0, out,
						   sizeof(out)),
			 -EINVAL);
	/* Not a head. */
	h = at_guard("GET / HTTP/1.1\r\nHost: h\r\n");
	assert_int_equal(http_head_rewrite_request(h, 25, &ri, &fwd_none, HTTP_FRAME_NONE, 0, out,
						   sizeof(out)),
			 -EINVAL);
}

static void request_bare_lf(void **state)
{
	(void)state;
	/* Bare LF line ends in, CRLF out; trailing OWS of a value dropped. */
	check_req("\nPUT /f HTTP/1.1\nHost: h\nX-A: 1 \t\nConnection: x-a, keep-alive\nX-B:2\n\n",
		  &fwd_x, HTTP_FRAME_LENGTH, 3,
		  "PUT /f HTTP/1.1\r\n"
		  "Host: h\r\n"
		  "X-B:2\r\n"
		  "X-Forwarded-For: 192.0.2.7\r\n"
		  "X-Forwarded-Proto: http\r\n"
		  "X-Forwarded-Host: h\r\n"
		  "Via: 1.1 ringer\r\n"
		  "Content-Length: 3\r\n"
		  "\r\n");
	check_req("GET / HTTP/1.1\r\nHost: h\nA: b\r\n\n", &fwd_none, HTTP_FRAME_NONE, 0,
		  "GET / HTTP/1.1\r\nHost: h\r\nA: b\r\nVia: 1.1 ringer\r\n\r\n");
}

static const struct http_resp_opts keep11 = {1, true, false, HTTP_FRAME_LENGTH, 5, "ringer"};

static void response_rules(void **state)
{
	struct http_resp_opts o = keep11;

	(void)state;
	/* LENGTH: the upstream's length and every hop-by-hop field go, ours comes. */
	check_resp("HTTP/1.1 200 OK\r\n"
		   "Content-Type: text/plain\r\n"
		   "Content-Length: 5\r\n"
		   "Connection: keep-alive, X-Secret\r\n"
		   "Keep-Alive: timeout=5\r\n"
		   "X-Secret: s\r\n"
		   "Proxy-Authenticate: Basic\r\n"
		   "Trailer: X-Sum\r\n"
		   "TE: trailers\r\n"
		   "Upgrade: h2c\r\n"
		   "Set-Cookie: a=1\r\n"
		   "Set-Cookie: b=2\r\n"
		   "\r\n",
		   &o,
		   "HTTP/1.1 200 OK\r\n"
		   "Content-Type: text/plain\r\n"
		   "Set-Cookie: a=1\r\n"
		   "Set-Cookie: b=2\r\n"
		   "Via: 1.1 ringer\r\n"
		   "Content-Length: 5\r\n"
		   "\r\n");
	/* CHUNKED: the upstream's chunked framing replaced by ours, in place. */
	o.fr = HTTP_FRAME_CHUNKED;
	check_resp(
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n", &o,
		"HTTP/1.1 200 OK\r\nX: y\r\nVia: 1.1 ringer\r\nTransfer-Encoding: chunked\r\n\r\n");
	/* A length from the upstream re-framed as chunked. */
	check_resp("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", &o,
		   "HTTP/1.1 200 OK\r\nVia: 1.1 ringer\r\nTransfer-Encoding: chunked\r\n\r\n");
	/* KEEP (HEAD, 304): the upstream's first Content-Length as it is, TE gone. */
	o.fr = HTTP_FRAME_KEEP;
	check_resp("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nContent-Length: 1234\r\nETag: "
		   "\"e\"\r\nTransfer-Encoding: chunked\r\n\r\n",
		   &o,
		   "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\nETag: \"e\"\r\nVia: 1.1 "
		   "ringer\r\n\r\n");
	check_resp("HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\n\r\n", &o,
		   "HTTP/1.1 304 Not Modified\r\nETag: \"e\"\r\nVia: 1.1 ringer\r\n\r\n");
	/* CLOSE: no framing field, Connection: close. */
	o.fr = HTTP_FRAME_CLOSE;
	o.keep_alive = false;
	check_resp(
		"HTTP/1.0 200 OK\r\nServer: old\r\n\r\n", &o,
		"HTTP/1.1 200 OK\r\nServer: old\r\nVia: 1.0 ringer\r\nConnection: close\r\n\r\n");
	/* NONE (204) to a 1.1 client kept alive: nothing about the connection. */
	o.fr = HTTP_FRAME_NONE;
	o.keep_alive = true;
	check_resp("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", &o,
		   "HTTP/1.1 204 No Content\r\nVia: 1.1 ringer\r\n\r\n");
	/* A 1.0 client kept alive is told so; one that is not, close. */
	o.client_minor = 0;
	o.fr = HTTP_FRAME_LENGTH;
	o.length = 2;
	check_resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", &o,
		   "HTTP/1.1 200 OK\r\nVia: 1.1 ringer\r\nContent-Length: 2\r\nConnection: "
		   "keep-alive\r\n\r\n");
	o.keep_alive = false;
	check_resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", &o,
		   "HTTP/1.1 200 OK\r\nVia: 1.1 ringer\r\nContent-Length: 2\r\nConnection: "
		   "close\r\n\r\n");
	o.client_minor = 1;
	check_resp("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", &o,
		   "HTTP/1.1 200 OK\r\nVia: 1.1 ringer\r\nContent-Length: 2\r\nConnection: "
		   "close\r\n\r\n");
}

static void response_via_status_upgrade(void **state)
{
	struct http_resp_opts o = keep11;
	const char *h;

	(void)state;
	/* The upstream's Via lines merged; ours by the upstream's version; no name, none. */
	check_resp("HTTP/1.0 200 OK\r\nVia: 1.1 cache\r\nA: b\r\nvia: 1.0 edge\r\n\r\n", &o,
		   "HTTP/1.1 200 OK\r\nA: b\r\nVia: 1.1 cache, 1.0 edge, 1.0 ringer\r\n"
		   "Content-Length: 5\r\n\r\n");
	o.via_name = NULL;
	check_resp("HTTP/1.1 200 OK\r\n\r\n", &o, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
	o.via_name = "ringer";
	/* Reasons: several words, empty with its space, absent; bare LF ends. */
	check_resp("HTTP/1.1 404 Not Found Here\r\n\r\n", &o,
		   "HTTP/1.1 404 Not Found Here\r\nVia: 1.1 ringer\r\nContent-Length: 5\r\n\r\n");
	check_resp("HTTP/1.1 200 \r\n\r\n", &o,
		   "HTTP/1.1 200 \r\nVia: 1.1 ringer\r\nContent-Length: 5\r\n\r\n");
	check_resp("HTTP/1.1 299\nX: 1\n\n", &o,
		   "HTTP/1.1 299 \r\nX: 1\r\nVia: 1.1 ringer\r\nContent-Length: 5\r\n\r\n");
	/* A 101 to an upgrade: Connection: upgrade and the upstream's Upgrade kept. */
	o.upgrade = true;
	o.fr = HTTP_FRAME_NONE;
	check_resp("HTTP/1.1 101 Switching Protocols\r\n"
		   "Upgrade: websocket\r\n"
		   "Connection: Upgrade\r\n"
		   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		   "\r\n",
		   &o,
		   "HTTP/1.1 101 Switching Protocols\r\n"
		   "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
		   "Via: 1.1 ringer\r\n"
		   "Connection: upgrade\r\n"
		   "Upgrade: websocket\r\n"
		   "\r\n");
	check_resp("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade, x-a\r\nX-A: 1\r\n"
		   "Upgrade: websocket\r\n\r\n",
		   &o,
		   "HTTP/1.1 101 Switching Protocols\r\nVia: 1.1 ringer\r\nConnection: "
		   "upgrade\r\nUpgrade: websocket\r\n\r\n");
	/* Not an upgrade: Upgrade gone (426's or a 200's). */
	o.upgrade = false;
	check_resp("HTTP/1.1 426 Upgrade Required\r\nUpgrade: TLS/1.3\r\n\r\n", &o,
		   "HTTP/1.1 426 Upgrade Required\r\nVia: 1.1 ringer\r\n\r\n");

	assert_int_equal(http_head_status("HTTP/1.1 200 OK\r\n\r\n", 19), 200);
	assert_int_equal(http_head_status("HTTP/1.0 101\r\n", 14), 101);
	assert_int_equal(http_head_status("HTTP/1.1 999 x\n\n", 16), 999);
	static const char *const bad[] = {
		"HTTP/1.1 099 x\r\n\r\n",   "HTTP/2.0 200 OK\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n", "HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 200 OK",
		"http/1.1 200 OK\r\n\r\n",  "GET / HTTP/1.1\r\n\r\n",  "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		h = at_guard(bad[i]);
		assert_int_equal(http_head_status(h, strlen(bad[i])), -EINVAL);
		assert_int_equal(
			http_head_rewrite_response(h, strlen(bad[i]), &o, out, sizeof(out)),
			-EINVAL);
	}
	/* A status line but no final empty line. */
	h = at_guard("HTTP/1.1 200 OK\r\nA: b\r\n");
	assert_int_equal(http_head_rewrite_response(h, 23, &o, out, sizeof(out)), -EINVAL);
}

/*
 * Every cap below the size needed is -ENOSPC and writes nothing past cap;
 * the size needed fits exactly, with the same bytes as a roomy buffer.
 */
static void no_space(void **state)
{
	static const char req[] = "POST /a HTTP/1.1\r\n"
				  "Host: h.example\r\n"
				  "X-Forwarded-For: 1.2.3.4\r\n"
				  "Forwarded: for=x\r\n"
				  "Via: 1.0 a\r\n"
				  "Upgrade: websocket\r\n"
				  "Connection: upgrade, X-A\r\n"
				  "X-A: 1\r\n"
				  "Accept: */*\r\n"
				  "\r\n";
	static const char resp[] = "HTTP/1.0 200 OK\r\nVia: 1.0 x\r\nUpgrade: websocket\r\n"
				   "Content-Length: 9\r\nA: b\r\n\r\n";
	static const struct http_fwd *const styles[] = {&fwd_x, &fwd_7239, &fwd_none};
	static char full[OUT_MAX], buf[OUT_MAX];
	struct http_req_info ri;
	const char *h;
	ssize_t need;

	(void)state;
	for (size_t s = 0; s < 3; s++) {
		for (int fr = HTTP_FRAME_NONE; fr <= HTTP_FRAME_CHUNKED; fr++) {
			h = at_guard(req);
			assert_int_equal(http_head_request_info(h, strlen(req), &ri), 0);
			assert_true(ri.upgrade);
			need = http_head_rewrite_request(h, strlen(req), &ri, styles[s], fr, 12345,
							 full, sizeof(full));
			assert_true(need > 0);
			for (size_t cap = 0; cap < (size_t)need; cap++) {
				memset(buf, 0x5a, sizeof(buf));
				assert_int_equal(http_head_rewrite_request(h, strlen(req), &ri,
									   styles[s], fr, 12345,
									   buf, cap),
						 -ENOSPC);
				for (size_t i = cap; i < (size_t)need + 1; i++)
					assert_int_equal(buf[i], 0x5a);
			}
			memset(buf, 0x5a, sizeof(buf));
			assert_int_equal(http_head_rewrite_request(h, strlen(req), &ri, styles[s],
								   fr, 12345, buf, (size_t)need),
					 need);
			assert_memory_equal(buf, full, (size_t)need);
			assert_int_equal(buf[need], 0x5a);
		}
	}
	for (int fr = HTTP_FRAME_NONE; fr <= HTTP_FRAME_KEEP; fr++) {
		for (int flags = 0; flags < 8; flags++) {
			struct http_resp_opts o = {(unsigned)(flags & 1),
						   !!(flags & 2),
						   !!(flags & 4),
						   fr,
						   987654321,
						   "ringer"};

			h = at_guard(resp);
			need = http_head_rewrite_response(h, strlen(resp), &o, full, sizeof(full));
			assert_true(need > 0);
			for (size_t cap = 0; cap < (size_t)need; cap++) {
				memset(buf, 0x5a, sizeof(buf));
				assert_int_equal(
					http_head_rewrite_response(h, strlen(resp), &o, buf, cap),
					-ENOSPC);
				for (size_t i = cap; i < (size_t)need + 1; i++)
					assert_int_equal(buf[i], 0x5a);
			}
			assert_int_equal(
				http_head_rewrite_response(h, strlen(resp), &o, buf, (size_t)need),
				need);
			assert_memory_equal(buf, full, (size_t)need);
		}
	}
}

/* A table of routes from --route values. */
static unsigned routes_of(struct config_route *r, const char *const *spec, unsigned n)
{
	char err[256];

	for (unsigned i = 0; i < n; i++) {
		int ret = http_route_parse(spec[i], &r[i], err, sizeof(err));

		if (ret)
			fail_msg("%s: %s", spec[i], err);
	}
	return n;
}

static int route(const struct config_route *r, unsigned n, const char *host, const char *path)
{
	return http_route_match(r, n, host, host ? strlen(host) : 0, path, strlen(path));
}

static void routing_precedence(void **state)
{
	static const char *const spec[] = {
		"=default",			   /* 0 */
		"/api=any_api",			   /* 1 */
		"*.example.com=wild",		   /* 2 */
		"*.a.example.com=wild_a",	   /* 3 */
		"www.example.com=www",		   /* 4 */
		"www.example.com/api=www_api",	   /* 5 */
		"www.example.com/api/v2=www_api2", /* 6 */
		"*.example.com/api=wild_api",	   /* 7 */
		"www.example.com/api=www_api_dup", /* 8: a tie with 5, which wins */
		"/api=any_api_dup",		   /* 9: a tie with 1 */
		"*.example.com=wild_dup",	   /* 10: a tie with 2 */
	};
	struct config_route r[16];
	unsigned n = routes_of(r, spec, sizeof(spec) / sizeof(spec[0]));

	(void)state;
	/* The exact host first, longest prefix among its routes. */
	assert_int_equal(route(r, n, "www.example.com", "/api/v2/x"), 6);
	assert_int_equal(route(r, n, "www.example.com", "/api/v1"), 5);
	assert_int_equal(route(r, n, "www.example.com", "/api"), 5);
	assert_int_equal(route(r, n, "www.example.com", "/apiary"), 5); /* a plain prefix */
	assert_int_equal(route(r, n, "www.example.com", "/"), 4);
	/* Wildcards: longest suffix first, then longest prefix. */
	assert_int_equal(route(r, n, "shop.example.com", "/api/x"), 7);
	assert_int_equal(route(r, n, "shop.example.com", "/x"), 2);
	assert_int_equal(route(r, n, "x.a.example.com", "/api/x"), 3);
	assert_int_equal(route(r, n, "a.b.c.example.com", "/"), 2);
	/* "*.example.com" is not example.com itself, nor a name merely ending in it. */
	assert_int_equal(route(r, n, "example.com", "/api"), 1);
	assert_int_equal(route(r, n, "example.com", "/x"), 0);
	assert_int_equal(route(r, n, "badexample.com", "/"), 0);
	assert_int_equal(route(r, n, "a.example.com", "/"), 2); /* *.a.example.com needs a label */
	/* No host at all. */
	assert_int_equal(route(r, n, NULL, "/api"), 1);
	assert_int_equal(route(r, n, "", "/x"), 0);
	/* Case, port, trailing dot of the request's host. */
	assert_int_equal(route(r, n, "WWW.Example.COM", "/"), 4);
	assert_int_equal(route(r, n, "www.example.com:8080", "/api"), 5);
	assert_int_equal(route(r, n, "www.example.com.", "/api/v2"), 6);
	assert_int_equal(route(r, n, "www.example.com.:443", "/"), 4);
	assert_int_equal(route(r, n, "Shop.EXAMPLE.com.", "/api"), 7);
	/* Paths are case-sensitive. */
	assert_int_equal(route(r, n, "www.example.com", "/API"), 4);
	assert_int_equal(route(r, n, "other.org", "/API"), 0);
}

static void routing_fall_through_and_misses(void **state)
{
	static const char *const spec[] = {
		"api.example.com/v1=v1",   /* 0 */
		"*.example.com/static=st", /* 1 */
		"/health=h",		   /* 2 */
		"[::1]/=local",		   /* 3 */
		"Mixed.Case.Org.=m",	   /* 4 */
	};
	struct config_route r[8], raw;
	unsigned n = routes_of(r, spec, sizeof(spec) / sizeof(spec[0]));

	(void)state;
	assert_int_equal(route(r, n, "api.example.com", "/v1/x"), 0);
	/* The host has routes, none fits the path: wildcards, then any host. */
	assert_int_equal(route(r, n, "api.example.com", "/static/a.css"), 1);
	assert_int_equal(route(r, n, "api.example.com", "/health"), 2);
	assert_int_equal(route(r, n, "api.example.com", "/v2"), -1);
	assert_int_equal(route(r, n, "other.org", "/"), -1);
	assert_int_equal(route(r, n, "[::1]:8080", "/x"), 3);
	assert_int_equal(route(r, n, "[::1]", "/x"), 3);
	assert_int_equal(route(r, n, "[::2]", "/x"), -1);
	assert_int_equal(route(r, n, "mixed.case.org", "/x"), 4);
	assert_int_equal(route(r, n, "MIXED.case.ORG.", "/x"), 4);
	assert_int_equal(route(r, 0, "api.example.com", "/v1"), -1);
	/* A route made elsewhere (the configuration file), upper case and a dot: still matched. */
	memset(&raw, 0, sizeof(raw));
	strcpy(raw.host, "WWW.Example.com.");
	assert_int_equal(route(&raw, 1, "www.example.COM", "/"), 0);
	strcpy(raw.host, "*.Example.com");
	assert_int_equal(route(&raw, 1, "a.example.com.", "/"), 0);
}

static void route_parsing(void **state)
{
	struct config_route r;
	char err[256];

	(void)state;
	assert_int_equal(http_route_parse("Example.COM./api/v1=api-1", &r, err, sizeof(err)), 0);
	assert_string_equal(r.host, "example.com");
	assert_string_equal(r.prefix, "/api/v1");
	assert_string_equal(r.group, "api-1");
	assert_int_equal(http_route_parse("=g", &r, err, sizeof(err)), 0);
	assert_string_equal(r.host, "");
	assert_string_equal(r.prefix, "");
	assert_string_equal(r.group, "g");
	assert_int_equal(http_route_parse("/static=", &r, err, sizeof(err)), 0);
	assert_string_equal(r.prefix, "/static");
	assert_string_equal(r.group, ""); /* the default group */
	assert_int_equal(http_route_parse("*.Ex_1.org=w.x_y", &r, err, sizeof(err)), 0);
	assert_string_equal(r.host, "*.ex_1.org");
	assert_string_equal(r.group, "w.x_y");
	assert_int_equal(http_route_parse("/a=b=c", &r, err, sizeof(err)), 0); /* the last '=' */
	assert_string_equal(r.prefix, "/a=b");
	assert_string_equal(r.group, "c");
	assert_int_equal(http_route_parse("[2001:DB8::1]/=v6", &r, err, sizeof(err)), 0);
	assert_string_equal(r.host, "[2001:db8::1]");
	assert_string_equal(r.prefix, "/");
	assert_int_equal(http_route_parse("h/=g", &r, err, sizeof(err)), 0);
	assert_string_equal(r.host, "h");
	assert_string_equal(r.prefix, "/");

	static const char *const bad[] = {
		"example.com",	    /* no '=' */
		"example.com:80=g", /* a port */
		"[::1]:80/=g",
		"*=g",
		"*.=g",
		"*.*.a=g",
		"a.*.com=g",
		"a..b=g",
		".a=g",
		".=g",
		"ex ample.com=g",
		"exa=mple.com/=g", /* '=' in the host */
		"[::1=g",
		"[zz::1]=g",
		"[]=g",
		"/a?b=g",
		"/a#b=g",
		"/a b=g",
		"/a\tb=g",
		"/a\x7f=g",
		"/a=bad group",
		"/a=g!",
		"/a=gggggggggggggggggggggggggggggggg", /* 32 bytes */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (http_route_parse(bad[i], &r, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		assert_non_null(strstr(err, "--route"));
	}
	/* The messages say what is wrong. */
	assert_int_equal(http_route_parse("a.example:8080/x=g", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no port"));
	assert_int_equal(http_route_parse("/x?y=g", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "'?'"));
	assert_int_equal(http_route_parse("/x=g g", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "group"));
	assert_int_equal(http_route_parse("nothing", &r, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "[HOST][/PREFIX]=GROUP"));
	/* Limits: a group of 31 bytes, a host of 255, a prefix of 511 fit; one more does not. */
	char s[1024];

	assert_int_equal(
		http_route_parse("/a=ggggggggggggggggggggggggggggggg", &r, err, sizeof(err)), 0);
	memset(s, 'a', 255);
	strcpy(s + 255, "=g");
	for (int i = 63; i < 250; i += 64)
		s[i] = '.';
	assert_int_equal(http_route_parse(s, &r, err, sizeof(err)), 0);
	assert_int_equal(strlen(r.host), 255);
	memset(s, 'a', 256);
	strcpy(s + 256, "=g");
	for (int i = 63; i < 250; i += 64)
		s[i] = '.';
	assert_int_equal(http_route_parse(s, &r, err, sizeof(err)), -EINVAL);
	s[0] = '/';
	memset(s + 1, 'p', 510);
	strcpy(s + 511, "=g");
	assert_int_equal(http_route_parse(s, &r, err, sizeof(err)), 0);
	assert_int_equal(strlen(r.prefix), 511);
	memset(s + 1, 'p', 511);
	strcpy(s + 512, "=g");
	assert_int_equal(http_route_parse(s, &r, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_info),
		cmocka_unit_test(request_info_absolute_form),
		cmocka_unit_test(request_info_keep_alive),
		cmocka_unit_test(request_info_upgrade),
		cmocka_unit_test(request_info_bare_lf_and_invalid),
		cmocka_unit_test(request_removes_hop_by_hop),
		cmocka_unit_test(request_removes_fields_connection_names),
		cmocka_unit_test(request_x_forwarded),
		cmocka_unit_test(request_forwarded_rfc7239),
		cmocka_unit_test(request_via_target_host),
		cmocka_unit_test(request_upgrade_and_framing),
		cmocka_unit_test(request_bare_lf),
		cmocka_unit_test(response_rules),
		cmocka_unit_test(response_via_status_upgrade),
		cmocka_unit_test(no_space),
		cmocka_unit_test(routing_precedence),
		cmocka_unit_test(routing_fall_through_and_misses),
		cmocka_unit_test(route_parsing),
	};

	return cmocka_run_group_tests_name("http_head", tests, guard_setup, guard_teardown);
}
