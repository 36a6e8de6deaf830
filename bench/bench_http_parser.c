// SPDX-License-Identifier: MIT
/*
 * The HTTP request parser on the requests a load generator sends: the
 * request TechEmpower's plaintext test sends through wrk, alone and as a
 * pipelined batch of 16 in one receive buffer (what a pipelining client's
 * recv typically hands us). bytes/s is parsing throughput; items/s is
 * requests per second.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "http_parser.h"

static const char wrk_get[] = "GET /plaintext HTTP/1.1\r\n"
			      "Host: 127.0.0.1:8080\r\n"
			      "Accept: text/plain,text/html;q=0.9,application/xhtml+xml;q=0.9,"
			      "application/xml;q=0.8,*/*;q=0.7\r\n"
			      "Connection: keep-alive\r\n"
			      "\r\n";

#define REQ_LEN	 (sizeof(wrk_get) - 1)
#define MAX_PIPE 64

static void bm_parse(struct bench_state *st)
{
	static char buf[MAX_PIPE * REQ_LEN];
	unsigned n = (unsigned)st->range;
	size_t len = (size_t)n * REQ_LEN;
	struct http_parser p;

	bench_pause_timing(st);
	if (n < 1 || n > MAX_PIPE) {
		bench_skip_with_error(st, "pipeline depth out of range");
		return;
	}
	for (unsigned k = 0; k < n; k++)
		memcpy(buf + k * REQ_LEN, wrk_get, REQ_LEN);
	bench_resume_timing(st);

	for (uint64_t i = 0; i < st->iterations; i++) {
		size_t off = 0;

		http_parser_init(&p);
		while (off < len) {
			struct http_request req;
			ssize_t ret = http_parse(&p, buf + off, len - off, &req);

			if (ret <= 0) {
				char msg[96];

				snprintf(msg, sizeof(msg), "http_parse returned %zd at offset %zu",
					 ret, off);
				bench_skip_with_error(st, msg);
				return;
			}
			bench_do_not_optimize(req.path);
			off += (size_t)ret;
		}
	}
	bench_set_bytes_processed(st, st->iterations * len);
	bench_set_items_processed(st, st->iterations * n);
}

static const struct bench_def benches[] = {
	/* The argument is the pipeline depth: requests per receive buffer. */
	{.name = "http_parser/wrk_get", .fn = bm_parse, BENCH_ARGS(1, 16)},
};

BENCH_MAIN(benches)
