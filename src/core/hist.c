// SPDX-License-Identifier: MIT
/*
 * The log-linear histogram. Index arithmetic follows HdrHistogram with a unit
 * of 1 ns and 2048 sub-buckets: bucket b covers [1024 << b, 2048 << b) in
 * steps of 1 << b (bucket 0 also covers [0, 1024) in steps of 1), and the
 * counts array stores the lower half of each bucket only once.
 */
#include "ringer/hist.h"

#include <errno.h>
#include <string.h>

static unsigned bucket_of(uint64_t v)
{
	return (unsigned)(64 - __builtin_clzll(v | (HIST_SUB_COUNT - 1)) - HIST_SUB_BITS);
}

unsigned hist_index(uint64_t ns)
{
	unsigned b;

	if (ns > HIST_MAX_NS)
		ns = HIST_MAX_NS;
	b = bucket_of(ns);
	return ((b + 1) << (HIST_SUB_BITS - 1)) + (unsigned)(ns >> b) - HIST_SUB_HALF;
}

static uint64_t value_at(unsigned index)
{
	int b = (int)(index >> (HIST_SUB_BITS - 1)) - 1;
	uint64_t sub = (index & (HIST_SUB_HALF - 1)) + HIST_SUB_HALF;

	if (b < 0) {
		sub -= HIST_SUB_HALF;
		b = 0;
	}
	return sub << b;
}

uint64_t hist_lowest_equivalent(uint64_t ns)
{
	unsigned b = bucket_of(ns);

	return (ns >> b) << b;
}

uint64_t hist_highest_equivalent(uint64_t ns)
{
	return hist_lowest_equivalent(ns) + (1ull << bucket_of(ns)) - 1;
}

static uint64_t median_equivalent(uint64_t ns)
{
	return hist_lowest_equivalent(ns) + ((1ull << bucket_of(ns)) >> 1);
}

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void hist_record_n(struct hist *h, uint64_t ns, uint64_t n)
{
	if (ns > HIST_MAX_NS) {
		h->clamped += n;
		ns = HIST_MAX_NS;
	}
	h->counts[hist_index(ns)] += n;
	h->total += n;
	if (ns < h->min)
		h->min = ns;
	if (ns > h->max)
		h->max = ns;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	for (unsigned i = 0; i < HIST_COUNTS_LEN; i++)
		dst->counts[i] += src->counts[i];
	dst->total += src->total;
	dst->clamped += src->clamped;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	uint64_t want, seen = 0;

	if (!h->total)
		return 0;
	if (p > 100.0)
		p = 100.0;
	if (p < 0.0)
		p = 0.0;
	want = (uint64_t)(p / 100.0 * (double)h->total + 0.5);
	if (want < 1)
		want = 1;
	if (want > h->total)
		want = h->total;
	for (unsigned i = 0; i < HIST_COUNTS_LEN; i++) {
		seen += h->counts[i];
		if (seen >= want)
			return hist_highest_equivalent(value_at(i));
	}
	return hist_highest_equivalent(h->max);
}

double hist_mean(const struct hist *h)
{
	double sum = 0.0;

	if (!h->total)
		return 0.0;
	for (unsigned i = 0; i < HIST_COUNTS_LEN; i++)
		if (h->counts[i])
			sum += (double)h->counts[i] * (double)median_equivalent(value_at(i));
	return sum / (double)h->total;
}

/* Newton's square root: the one use of libm here is not worth linking it into every program. */
static double root(double x)
{
	double r = x > 1.0 ? x : 1.0;

	if (x <= 0.0)
		return 0.0;
	for (int i = 0; i < 200; i++) {
		double next = 0.5 * (r + x / r);

		if (next >= r)
			break;
		r = next;
	}
	return r;
}

/* 2^(floor(log2(q)) + 1) for q >= 1: HdrHistogram's "half distance" count. */
static double half_distance(double q)
{
	double half = 1.0;

	while (half * 2.0 <= q && half < 1e300)
		half *= 2.0;
	return half * 2.0;
}

double hist_stddev(const struct hist *h)
{
	double mean = hist_mean(h), sum = 0.0;

	if (!h->total)
		return 0.0;
	for (unsigned i = 0; i < HIST_COUNTS_LEN; i++) {
		if (h->counts[i]) {
			double d = (double)median_equivalent(value_at(i)) - mean;

			sum += (double)h->counts[i] * d * d;
		}
	}
	return root(sum / (double)h->total);
}

/*
 * HdrHistogram's percentile iterator, step for step, so the rows match what
 * its own tools print: walk the slots in order; whenever the cumulative
 * percentile has reached the next reporting level, emit a row (possibly
 * several for one slot) and move the level by 100 / (ticks * 2^k), where k
 * grows as the level nears 100%. Once every sample has been seen, one last
 * row at 100% repeats the final value.
 */
int hist_print_percentiles(const struct hist *h, FILE *f, double scale, unsigned ticks)
{
	double level = 0.0, last = 0.0;
	uint64_t cum = 0;
	unsigned i = 0;
	bool started = false;

	if (!ticks)
		ticks = 5;
	fprintf(f, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount",
		"1/(1-Percentile)");
	while (h->total) {
		if (started && cum >= h->total) {
			fprintf(f, "%12.3f %2.12f %10llu %14s\n", last / scale, 1.0,
				(unsigned long long)cum, "inf");
			break;
		}
		if (!started) {
			started = true;
			cum = h->counts[0];
		}
		for (;;) {
			double pct = 100.0 * (double)cum / (double)h->total;

			if (h->counts[i] && level <= pct) {
				double half = half_distance(100.0 / (100.0 - level));

				last = (double)hist_highest_equivalent(value_at(i));
				fprintf(f, "%12.3f %2.12f %10llu %14.2f\n", last / scale,
					level / 100.0, (unsigned long long)cum,
					1.0 / (1.0 - level / 100.0));
				level += 100.0 / ((double)ticks * half);
				break;
			}
			if (++i >= HIST_COUNTS_LEN)
				goto out_footer;
			cum += h->counts[i];
		}
	}
out_footer:
	fprintf(f, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", hist_mean(h) / scale,
		hist_stddev(h) / scale);
	fprintf(f, "#[Max     = %12.3f, Total count    = %12llu]\n",
		h->total ? (double)hist_highest_equivalent(h->max) / scale : 0.0,
		(unsigned long long)h->total);
	fprintf(f, "#[Buckets = %12d, SubBuckets     = %12d]\n", HIST_BUCKETS, HIST_SUB_COUNT);
	return ferror(f) ? -EIO : 0;
}
