// SPDX-License-Identifier: MIT
/*
 * The histogram against brute force: random samples are recorded and also
 * sorted, and every percentile must name a value whose slot holds the
 * sample of that rank (so the answer is within the slot's width, under one
 * part in 1024, of the exact one).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ringer/hist.h"

static struct hist *new_hist(void)
{
	struct hist *h = malloc(sizeof(*h));

	assert_non_null(h);
	hist_init(h);
	return h;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* Log-uniform over 1 ns .. 60 s: every bucket gets samples. */
static uint64_t random_latency(void)
{
	unsigned shift = (unsigned)(rng() % 36);
	uint64_t v = (rng() >> (64 - shift - 1)) + 1;

	return v > HIST_MAX_NS ? HIST_MAX_NS : v;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void check_against_sorted(const struct hist *h, uint64_t *v, size_t n)
{
	static const double pcts[] = {0.0,  1.0,  10.0,	 25.0,	 50.0,	  75.0, 90.0,
				      99.0, 99.9, 99.99, 99.999, 99.9999, 100.0};

	qsort(v, n, sizeof(*v), cmp_u64);
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
		uint64_t rank = (uint64_t)(pcts[i] / 100.0 * (double)n + 0.5);
		uint64_t exact, got;

		if (rank < 1)
			rank = 1;
		exact = v[rank - 1];
		got = hist_percentile(h, pcts[i]);
		assert_true(hist_lowest_equivalent(got) <= exact);
		assert_true(exact <= got);
		/* Three significant digits: the error stays under 1/1000 of the value. */
		assert_true((double)(got - exact) <= (double)exact / 1000.0 + 1.0);
	}
}

static void percentiles_match_sorted_samples(void **state)
{
	enum { N = 200000 };
	uint64_t *v = malloc(N * sizeof(*v));
	struct hist *h = new_hist();

	(void)state;
	assert_non_null(v);
	for (size_t i = 0; i < N; i++) {
		v[i] = random_latency();
		hist_record(h, v[i]);
	}
	assert_int_equal(h->total, N);
	check_against_sorted(h, v, N);
	free(v);
	free(h);
}

static void merge_equals_recording_everything_in_one(void **state)
{
	enum { N = 50000 };
	struct hist *a = new_hist(), *b = new_hist(), *all = new_hist();
	uint64_t *v = malloc(2 * N * sizeof(*v));

	(void)state;
	assert_non_null(v);
	for (size_t i = 0; i < 2 * N; i++) {
		v[i] = random_latency() / (i < N ? 1000 : 1);
		hist_record(i < N ? a : b, v[i]);
		hist_record(all, v[i]);
	}
	hist_merge(a, b);
	assert_int_equal(a->total, all->total);
	assert_int_equal(a->min, all->min);
	assert_int_equal(a->max, all->max);
	assert_memory_equal(a->counts, all->counts, sizeof(a->counts));
	check_against_sorted(a, v, 2 * N);
	free(v);
	free(a);
	free(b);
	free(all);
}

static void edge_values(void **state)
{
	struct hist *h = new_hist();

	(void)state;
	/* Empty: zeros, not garbage. */
	assert_int_equal(hist_percentile(h, 50.0), 0);
	assert_true(hist_mean(h) == 0.0);
	/* Below 2048 ns every nanosecond has its own slot. */
	for (uint64_t v = 0; v < HIST_SUB_COUNT; v++)
		assert_int_equal(hist_highest_equivalent(v), v);
	assert_int_equal(hist_index(0), 0);
	assert_int_equal(hist_index(2047), 2047);
	assert_int_equal(hist_index(2048), 2048);
	assert_int_equal(hist_index(2049), 2048);
	/* The top: 60 s fits, beyond is clamped and counted. */
	assert_true(hist_index(HIST_MAX_NS) < HIST_COUNTS_LEN);
	hist_record(h, 0);
	hist_record(h, 1);
	hist_record(h, HIST_MAX_NS);
	hist_record(h, UINT64_MAX);
	assert_int_equal(h->total, 4);
	assert_int_equal(h->clamped, 1);
	assert_int_equal(h->min, 0);
	assert_int_equal(h->max, HIST_MAX_NS);
	assert_int_equal(hist_percentile(h, 0.0), 0);
	assert_int_equal(hist_percentile(h, 50.0), 1);
	assert_true(hist_percentile(h, 100.0) >= HIST_MAX_NS);
	assert_true(hist_percentile(h, 100.0) - HIST_MAX_NS < HIST_MAX_NS / 1000);
	/* Every slot's range is contiguous and tiles the line. */
	for (uint64_t v = 1; v < HIST_MAX_NS; v = v * 3 / 2 + 1) {
		assert_int_equal(hist_index(hist_lowest_equivalent(v)), hist_index(v));
		assert_int_equal(hist_index(hist_highest_equivalent(v)), hist_index(v));
		assert_int_equal(hist_index(hist_highest_equivalent(v) + 1), hist_index(v) + 1);
	}
	free(h);
}

static void record_n_counts_n(void **state)
{
	struct hist *h = new_hist();

	(void)state;
	hist_record_n(h, 1000, 99);
	hist_record_n(h, 1000000, 1);
	assert_int_equal(h->total, 100);
	assert_int_equal(hist_percentile(h, 99.0), 1000);
	assert_true(hist_percentile(h, 99.5) >= 1000000);
	assert_true(hist_mean(h) > 10000.0 && hist_mean(h) < 11000.0);
	free(h);
}

/* The text HdrHistogram's plotters read: header, rows, the three footer lines. */
static void percentile_text_format(void **state)
{
	struct hist *h = new_hist();
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	double last_p = -1.0, last_v = -1.0;
	unsigned rows = 0;
	FILE *f;

	(void)state;
	for (uint64_t v = 1; v <= 10000; v++)
		hist_record(h, v * 1000);
	f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(hist_print_percentiles(h, f, 1e6, 5), 0);
	fclose(f);
	assert_non_null(
		strstr(text, "       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
	assert_non_null(strstr(text, "#[Mean    = "));
	/* 10 ms lands in a slot 8192 ns wide: Max prints that slot's top. */
	assert_non_null(strstr(text, "#[Max     =       10.002, Total count    =        10000]"));
	assert_non_null(strstr(text, "#[Buckets =           26, SubBuckets     =         2048]"));
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		double v, p, inv;
		unsigned long long n;

		if (sscanf(line, "%lf %lf %llu %lf", &v, &p, &n, &inv) != 4)
			continue;
		assert_true(p >= last_p && v >= last_v);
		assert_true(n <= 10000);
		last_p = p;
		last_v = v;
		rows++;
	}
	assert_true(last_p == 1.0);
	assert_true(rows > 50);
	free(text);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(percentiles_match_sorted_samples),
		cmocka_unit_test(merge_equals_recording_everything_in_one),
		cmocka_unit_test(edge_values),
		cmocka_unit_test(record_n_counts_n),
		cmocka_unit_test(percentile_text_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
