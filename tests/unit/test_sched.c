// SPDX-License-Identifier: MIT
/* The open-loop schedule: exact spacing, even spread, and due counts consistent with times. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "schedule.h"

#define S 1000000000ull

/* A constant plan; each call gets its own, so a test can hold two at once. */
static const struct sched_plan *plan(uint64_t rate)
{
	static struct sched_plan plans[4];
	static unsigned next;
	struct sched_plan *p = &plans[next++ % 4];

	sched_plan_const(p, rate);
	return p;
}

static void one_connection_is_evenly_spaced(void **state)
{
	struct sched s = sched_make(plan(1000), 5 * S, 1, 0);

	(void)state;
	assert_int_equal(sched_time(&s, 0), 5 * S);
	assert_int_equal(sched_time(&s, 1), 5 * S + 1000000);
	assert_int_equal(sched_time(&s, 1000), 6 * S);
	/* No drift after a long run: a rate that does not divide 1e9 still lands exactly. */
	s = sched_make(plan(3), 0, 1, 0);
	assert_int_equal(sched_time(&s, 3000000), 1000000 * S);
	assert_int_equal(sched_time(&s, 1), 333333333);
}

static void connections_interleave(void **state)
{
	/* 4 connections at 4000/s: each every 1 ms, staggered by 250 us. */
	uint64_t prev = 0;

	(void)state;
	for (uint64_t k = 0; k < 100; k++) {
		for (uint32_t i = 0; i < 4; i++) {
			struct sched s = sched_make(plan(4000), 0, 4, i);
			uint64_t t = sched_time(&s, k);

			assert_int_equal(t, (k * 4 + i) * 250000);
			if (k || i)
				assert_true(t > prev);
			prev = t;
		}
	}
}

static void due_counts_agree_with_times(void **state)
{
	static const uint64_t rates[] = {1, 7, 1000, 33333, 1000000, 12345678};
	static const uint32_t conns[] = {1, 3, 10, 1000};

	(void)state;
	for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
		for (size_t c = 0; c < sizeof(conns) / sizeof(conns[0]); c++) {
			for (uint32_t i = 0; i < conns[c]; i += conns[c] / 3 + 1) {
				struct sched s = sched_make(plan(rates[r]), 1000, conns[c], i);

				assert_int_equal(sched_due(&s, 999), 0);
				for (uint64_t k = 0; k < 50; k++) {
					uint64_t t = sched_time(&s, k);

					/* At its own time request k is due, one ns before it is not. */
					assert_int_equal(sched_due(&s, t), k + 1);
					assert_int_equal(sched_due(&s, t - 1), k);
				}
			}
		}
	}
}

static void total_rate_holds_over_all_connections(void **state)
{
	/* Over 10 s at 12345/s spread over 7 connections, exactly the due count the rate says. */
	uint64_t total = 0;

	(void)state;
	for (uint32_t i = 0; i < 7; i++) {
		struct sched s = sched_make(plan(12345), 0, 7, i);

		total += sched_due(&s, 10 * S - 1);
	}
	assert_int_equal(total, 123450);
}

/* Steps: each segment runs at its own rate, back to back, and the last rate holds after. */
static void steps_change_rate_at_boundaries(void **state)
{
	static const struct sched_seg segs[] = {{1000, 1000, 2 * S}, {4000, 4000, S}};
	struct sched_plan p;

	(void)state;
	assert_int_equal(sched_plan_init(&p, segs, 2), 0);
	assert_int_equal(sched_plan_length(segs, 2), 3 * S);
	/* 2000 requests 1 ms apart, then 4000 250 us apart, then 4000/s on. */
	assert_int_equal(sched_plan_time(&p, 1999), 1999 * 1000000ull);
	assert_int_equal(sched_plan_time(&p, 2000), 2 * S);
	assert_int_equal(sched_plan_time(&p, 2001), 2 * S + 250000);
	assert_int_equal(sched_plan_count(&p, 2 * S - 1), 2000);
	assert_int_equal(sched_plan_count(&p, 3 * S - 1), 6000);
	assert_int_equal(sched_plan_count(&p, 4 * S - 1), 10000);
	assert_int_equal(sched_plan_time(&p, 6000), 3 * S);
}

static void bad_plans_are_refused(void **state)
{
	static const struct sched_seg open_first[] = {{1000, 1000, 0}, {10, 10, S}};
	struct sched_plan p;

	(void)state;
	assert_int_equal(sched_plan_init(&p, open_first, 2), -EINVAL);
	assert_int_equal(sched_plan_init(&p, open_first, 0), -EINVAL);
	assert_int_equal(sched_plan_length(open_first, 2), 0);
}

/*
 * A ramp from a to b over D sends (a + b) / 2 * D requests, its spacing
 * follows the instantaneous rate, and due counts agree with times
 * everywhere, also across the boundary into the following segment.
 */
static void ramps_follow_the_rate(void **state)
{
	static const struct sched_seg up[] = {{1000, 100000, 10 * S}, {100000, 100000, S}};
	static const struct sched_seg down[] = {{50000, 10, 4 * S}};
	struct sched_plan p;
	uint64_t n, gap_start, gap_end;

	(void)state;
	assert_int_equal(sched_plan_init(&p, up, 2), 0);
	n = sched_plan_count(&p, 10 * S - 1);
	assert_true(n >= 505000 - 1 && n <= 505000 + 1);
	/* Near the start requests come about 1 ms apart, near the end about 10 us. */
	gap_start = sched_plan_time(&p, 11) - sched_plan_time(&p, 10);
	gap_end = sched_plan_time(&p, n - 1) - sched_plan_time(&p, n - 2);
	assert_true(gap_start > 900000 && gap_start < 1100000);
	assert_true(gap_end > 9000 && gap_end < 11000);
	/* Halfway through time, the rate is (a + b) / 2 and so is the count's slope. */
	n = sched_plan_count(&p, 5 * S + S / 10) - sched_plan_count(&p, 5 * S);
	assert_true(n > 5000 && n < 5100);
	for (uint64_t k = 0; k < 600000; k += 997) {
		uint64_t t = sched_plan_time(&p, k);

		assert_int_equal(sched_plan_count(&p, t), k + 1);
		if (t)
			assert_true(sched_plan_count(&p, t - 1) <= k);
		assert_true(sched_plan_time(&p, k + 1) >= t);
	}
	assert_int_equal(sched_plan_init(&p, down, 1), 0);
	n = sched_plan_count(&p, 4 * S - 1);
	assert_true(n >= 100020 - 1 && n <= 100020 + 1);
	for (uint64_t k = 0; k < 100020; k += 101)
		assert_int_equal(sched_plan_count(&p, sched_plan_time(&p, k)), k + 1);
	/* After the ramp down, 10/s holds. */
	assert_true(sched_plan_time(&p, n + 1) - sched_plan_time(&p, n) > S / 10 - 2);
}

/* Connections share a ramp the way they share a constant rate. */
static void connections_share_a_ramp(void **state)
{
	static const struct sched_seg ramp[] = {{100, 20000, 3 * S}};
	struct sched_plan p;
	uint64_t total = 0;

	(void)state;
	assert_int_equal(sched_plan_init(&p, ramp, 1), 0);
	for (uint32_t i = 0; i < 13; i++) {
		struct sched s = sched_make(&p, 7, 13, i);

		for (uint64_t k = 0; k < 200; k += 7) {
			uint64_t t = sched_time(&s, k);

			assert_int_equal(sched_due(&s, t), k + 1);
			assert_int_equal(sched_due(&s, t - 1), k);
		}
		total += sched_due(&s, 7 + 3 * S - 1);
	}
	assert_int_equal(total, sched_plan_count(&p, 3 * S - 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_connection_is_evenly_spaced),
		cmocka_unit_test(connections_interleave),
		cmocka_unit_test(due_counts_agree_with_times),
		cmocka_unit_test(total_rate_holds_over_all_connections),
		cmocka_unit_test(steps_change_rate_at_boundaries),
		cmocka_unit_test(bad_plans_are_refused),
		cmocka_unit_test(ramps_follow_the_rate),
		cmocka_unit_test(connections_share_a_ramp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
