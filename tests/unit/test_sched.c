// SPDX-License-Identifier: MIT
/* The open-loop schedule: exact spacing, even spread, and due counts consistent with times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "schedule.h"

#define S 1000000000ull

static void one_connection_is_evenly_spaced(void **state)
{
	struct sched s = sched_make(5 * S, 1000, 1, 0);

	(void)state;
	assert_int_equal(sched_time(&s, 0), 5 * S);
	assert_int_equal(sched_time(&s, 1), 5 * S + 1000000);
	assert_int_equal(sched_time(&s, 1000), 6 * S);
	/* No drift after a long run: a rate that does not divide 1e9 still lands exactly. */
	s = sched_make(0, 3, 1, 0);
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
			struct sched s = sched_make(0, 4000, 4, i);
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
				struct sched s = sched_make(1000, rates[r], conns[c], i);

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
		struct sched s = sched_make(0, 12345, 7, i);

		total += sched_due(&s, 10 * S - 1);
	}
	assert_int_equal(total, 123450);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_connection_is_evenly_spaced),
		cmocka_unit_test(connections_interleave),
		cmocka_unit_test(due_counts_agree_with_times),
		cmocka_unit_test(total_rate_holds_over_all_connections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
