// SPDX-License-Identifier: MIT
/*
 * Recording into the latency histogram: ringer-load does it once per
 * response, so it must cost a few nanoseconds. Values come from a table of
 * latencies between 10 us and 1.3 ms (10 us times a random power of two up
 * to 128, plus noise), built before timing, so the figure is the record
 * alone and the bucket it touches varies as it does under load.
 */
#include <stdlib.h>

#include "bench.h"
#include "ringer/hist.h"

#define N_VALUES 4096 /* a power of two */

static uint64_t values[N_VALUES];

static void fill_values(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (unsigned i = 0; i < N_VALUES; i++) {
		/* xorshift64: cheap and repeatable; the top bits pick the decade. */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		values[i] = (10000ull << (x >> 61)) + (x & 0xffff);
	}
}

static void bm_record(struct bench_state *st)
{
	struct hist *h;

	bench_pause_timing(st);
	h = malloc(sizeof(*h));
	if (!h) {
		bench_skip_with_error(st, "out of memory");
		return;
	}
	hist_init(h);
	fill_values();
	bench_resume_timing(st);
	for (uint64_t i = 0; i < st->iterations; i++)
		hist_record(h, values[i & (N_VALUES - 1)]);
	bench_clobber_memory();
	bench_pause_timing(st);
	bench_do_not_optimize(h->total);
	free(h);
	bench_set_items_processed(st, st->iterations);
}

static const struct bench_def benches[] = {
	{.name = "hist/record", .fn = bm_record},
};

BENCH_MAIN(benches)
