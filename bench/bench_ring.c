// SPDX-License-Identifier: MIT
/*
 * A NOP round trip through the ring module: queue n NOPs, one
 * submit-and-wait for all of them, walk the CQEs, advance the CQ once. This
 * is the shard loop's fixed cost per iteration with no I/O in it; the
 * batched case shows how that cost spreads over completions (items/s is
 * NOPs per second).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "ringer/ring.h"
#include "ringer/user_data.h"

#define RING_ENTRIES 64

static void bm_nop(struct bench_state *st)
{
	unsigned n = (unsigned)st->range;
	char msg[128];
	struct ring r;
	int ret;

	bench_pause_timing(st);
	ret = ring_init(&r, RING_ENTRIES, 4, NULL, 0);
	if (ret < 0) {
		snprintf(msg, sizeof(msg), "ring_init: %s", strerror(-ret));
		bench_skip_with_error(st, msg);
		return;
	}
	bench_resume_timing(st);
	for (uint64_t i = 0; i < st->iterations; i++) {
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;

		for (unsigned k = 0; k < n; k++)
			ring_nop(&r, ud_encode(UD_OP_NOP, 0, k));
		ret = ring_submit_and_wait(&r, n);
		if (ret < 0) {
			snprintf(msg, sizeof(msg), "ring_submit_and_wait: %s", strerror(-ret));
			bench_skip_with_error(st, msg);
			break;
		}
		ring_for_each_cqe(&r, head, cqe)
		{
			bench_do_not_optimize(cqe->res);
			seen++;
		}
		ring_cq_advance(&r, seen);
	}
	bench_pause_timing(st);
	ring_exit(&r);
	bench_set_items_processed(st, st->iterations * n);
}

static const struct bench_def benches[] = {
	{.name = "ring/nop_round_trip", .fn = bm_nop, BENCH_ARGS(1, 32)},
};

BENCH_MAIN(benches)
