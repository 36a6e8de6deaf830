// SPDX-License-Identifier: MIT
/*
 * The HTTP proxy's per-request head work (src/proto/http_head.c) on what a
 * browser sends: a request head of 8 fields (Host, User-Agent, Accept,
 * Accept-Language, Accept-Encoding, Connection, Cookie,
 * Upgrade-Insecure-Requests) read by http_head_request_info() and
 * rewritten for the upstream with X-Forwarded-* and Via; a typical
 * response head rewritten for the client; a route table of 8 matched.
 * items/s is heads (or matches) per second.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "http_head.h"

static const char browser_get[] =
	"GET /static/app.js?v=42 HTTP/1.1\r\n"
	"Host: www.example.com\r\n"
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
	"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
	"Accept-Language: en-US,en;q=0.5\r\n"
	"Accept-Encoding: gzip, deflate, br\r\n"
	"Connection: keep-alive\r\n"
	"Cookie: session=8a3f5c2e9b7d4f1a; theme=dark\r\n"
	"Upgrade-Insecure-Requests: 1\r\n"
	"\r\n";

static const char response[] = "HTTP/1.1 200 OK\r\n"
			       "Server: nginx\r\n"
			       "Date: Mon, 07 Dec 2026 23:50:00 GMT\r\n"
			       "Content-Type: application/javascript\r\n"
			       "Content-Length: 16384\r\n"
			       "Connection: keep-alive\r\n"
			       "Last-Modified: Sun, 06 Dec 2026 10:00:00 GMT\r\n"
			       "ETag: \"6570a1b8-4000\"\r\n"
			       "Accept-Ranges: bytes\r\n"
			       "\r\n";

static const struct http_fwd fwd = {"192.0.2.7", false, HTTP_FWD_X, "ringer"};

static char out[4096];

static void fail(struct bench_state *st, const char *what, long ret)
{
	char msg[96];

	snprintf(msg, sizeof(msg), "%s returned %ld", what, ret);
	bench_skip_with_error(st, msg);
}

static void bm_request_info(struct bench_state *st)
{
	struct http_req_info ri;

	for (uint64_t i = 0; i < st->iterations; i++) {
		int ret = http_head_request_info(browser_get, sizeof(browser_get) - 1, &ri);

		if (ret) {
			fail(st, "http_head_request_info", ret);
			return;
		}
		bench_do_not_optimize(ri.path);
	}
	bench_set_bytes_processed(st, st->iterations * (sizeof(browser_get) - 1));
	bench_set_items_processed(st, st->iterations);
}

static void bm_rewrite_request(struct bench_state *st)
{
	struct http_req_info ri;

	bench_pause_timing(st);
	if (http_head_request_info(browser_get, sizeof(browser_get) - 1, &ri)) {
		fail(st, "http_head_request_info", -1);
		return;
	}
	bench_resume_timing(st);
	for (uint64_t i = 0; i < st->iterations; i++) {
		ssize_t n = http_head_rewrite_request(browser_get, sizeof(browser_get) - 1, &ri,
						      &fwd, HTTP_FRAME_NONE, 0, out, sizeof(out));

		if (n <= 0) {
			fail(st, "http_head_rewrite_request", (long)n);
			return;
		}
		bench_do_not_optimize(n);
		bench_clobber_memory();
	}
	bench_set_bytes_processed(st, st->iterations * (sizeof(browser_get) - 1));
	bench_set_items_processed(st, st->iterations);
}

static void bm_rewrite_response(struct bench_state *st)
{
	const struct http_resp_opts o = {1, true, false, HTTP_FRAME_LENGTH, 16384, "ringer"};

	for (uint64_t i = 0; i < st->iterations; i++) {
		ssize_t n = http_head_rewrite_response(response, sizeof(response) - 1, &o, out,
						       sizeof(out));

		if (n <= 0) {
			fail(st, "http_head_rewrite_response", (long)n);
			return;
		}
		bench_do_not_optimize(n);
		bench_clobber_memory();
	}
	bench_set_bytes_processed(st, st->iterations * (sizeof(response) - 1));
	bench_set_items_processed(st, st->iterations);
}

static void bm_route_match(struct bench_state *st)
{
	static const char *const spec[] = {
		"=default",
		"/api=api",
		"*.example.com=wild",
		"*.cdn.example.com=cdn",
		"api.example.com=api",
		"www.example.com=www",
		"www.example.com/api=www_api",
		"www.example.com/static=static",
	};
	struct config_route routes[8];
	char err[128];

	bench_pause_timing(st);
	for (unsigned k = 0; k < 8; k++) {
		if (http_route_parse(spec[k], &routes[k], err, sizeof(err))) {
			bench_skip_with_error(st, err);
			return;
		}
	}
	bench_resume_timing(st);
	for (uint64_t i = 0; i < st->iterations; i++)
		bench_do_not_optimize(
			http_route_match(routes, 8, "www.example.com", 15, "/static/app.js", 14));
	bench_set_items_processed(st, st->iterations);
}

static const struct bench_def benches[] = {
	{.name = "http_head/request_info", .fn = bm_request_info},
	{.name = "http_head/rewrite_request", .fn = bm_rewrite_request},
	{.name = "http_head/rewrite_response", .fn = bm_rewrite_response},
	{.name = "http_head/route_match_8", .fn = bm_route_match},
};

BENCH_MAIN(benches)
