// SPDX-License-Identifier: MIT
/*
 * user_data packing: done once per submitted operation (encode) and once
 * per completion (decode), so it must stay a few shifts and masks. Inputs
 * vary with the loop counter so nothing folds to a constant.
 */
#include "bench.h"
#include "ringer/user_data.h"

static void bm_encode(struct bench_state *st)
{
	for (uint64_t i = 0; i < st->iterations; i++) {
		uint32_t x = (uint32_t)i;

		bench_do_not_optimize(ud_encode(x % UD_OP_COUNT, x, x * 2654435761u));
	}
	bench_set_items_processed(st, st->iterations);
}

#define UD_TABLE 256

static void bm_decode(struct bench_state *st)
{
	uint64_t uds[UD_TABLE];

	for (uint32_t k = 0; k < UD_TABLE; k++)
		uds[k] = ud_encode(k % UD_OP_COUNT, k * 7919u, k * 2654435761u);
	for (uint64_t i = 0; i < st->iterations; i++) {
		uint64_t ud = uds[i % UD_TABLE];

		bench_do_not_optimize(ud_op(ud));
		bench_do_not_optimize(ud_gen(ud));
		bench_do_not_optimize(ud_slot(ud));
	}
	bench_set_items_processed(st, st->iterations);
}

/* Encode then decode, each result feeding the next input: a dependent chain. */
static void bm_round_trip(struct bench_state *st)
{
	uint32_t slot = 1, gen = 1;
	unsigned op = UD_OP_RECV;

	for (uint64_t i = 0; i < st->iterations; i++) {
		uint64_t ud = ud_encode(op, gen, slot);

		bench_do_not_optimize(ud);
		op = (ud_op(ud) + 1) % UD_OP_COUNT;
		gen = ud_gen(ud) + 1;
		slot = ud_slot(ud) + 3;
	}
	bench_set_items_processed(st, st->iterations);
}

static const struct bench_def benches[] = {
	{.name = "user_data/encode", .fn = bm_encode},
	{.name = "user_data/decode", .fn = bm_decode},
	{.name = "user_data/round_trip", .fn = bm_round_trip},
};

BENCH_MAIN(benches)
