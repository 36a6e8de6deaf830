// SPDX-License-Identifier: MIT
/*
 * The connection slab: one alloc and one free per accepted connection.
 * "alloc_free/1" takes and returns the same slot (the free list's hot
 * head); "alloc_free/64" takes 64 slots before returning them, so each
 * alloc touches a different struct conn, as a busy shard does.
 */
#include "bench.h"
#include "ringer/conn.h"

#define SLAB_CAP 1024
#define MAX_HELD 1024

static void bm_alloc_free(struct bench_state *st)
{
	struct conn *held[MAX_HELD];
	struct conn_slab slab;
	int64_t n = st->range;

	bench_pause_timing(st);
	if (n < 1 || n > MAX_HELD) {
		bench_skip_with_error(st, "batch size out of range");
		return;
	}
	if (conn_slab_init(&slab, SLAB_CAP) != 0) {
		bench_skip_with_error(st, "conn_slab_init failed");
		return;
	}
	bench_resume_timing(st);
	for (uint64_t i = 0; i < st->iterations; i++) {
		for (int64_t k = 0; k < n; k++)
			held[k] = conn_alloc(&slab);
		bench_clobber_memory();
		for (int64_t k = 0; k < n; k++)
			conn_free(&slab, held[k]);
	}
	bench_pause_timing(st);
	conn_slab_destroy(&slab);
	bench_set_items_processed(st, st->iterations * (uint64_t)n);
}

static const struct bench_def benches[] = {
	{.name = "conn/alloc_free", .fn = bm_alloc_free, BENCH_ARGS(1, 64)},
};

BENCH_MAIN(benches)
