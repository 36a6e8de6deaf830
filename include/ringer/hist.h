/* SPDX-License-Identifier: MIT */
#ifndef RINGER_HIST_H
#define RINGER_HIST_H

/*
 * A log-linear latency histogram laid out like HdrHistogram: values are
 * nanoseconds, each power-of-two bucket is split into HIST_SUB_COUNT / 2
 * linear sub-buckets, so every recorded value keeps at least three
 * significant decimal digits (relative error below 1/1024) from 1 ns up to
 * HIST_MAX_NS (60 s). Memory is one fixed array; two histograms merge by
 * adding counts, so per-thread histograms sum into one exactly.
 *
 * A pure module: nothing here allocates, locks or reads a clock.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define HIST_SUB_BITS  11 /* 2048 sub-buckets: 2 * 10^3 rounded up to a power of two */
#define HIST_SUB_COUNT (1u << HIST_SUB_BITS)
#define HIST_SUB_HALF  (HIST_SUB_COUNT / 2)
#define HIST_MAX_NS    60000000000ull
/* Buckets needed so that HIST_SUB_COUNT << (buckets - 1) exceeds HIST_MAX_NS. */
#define HIST_BUCKETS	26
#define HIST_COUNTS_LEN ((HIST_BUCKETS + 1) * HIST_SUB_HALF)

_Static_assert(((uint64_t)HIST_SUB_COUNT << (HIST_BUCKETS - 1)) > HIST_MAX_NS,
	       "the top bucket reaches HIST_MAX_NS");
_Static_assert(((uint64_t)HIST_SUB_COUNT << (HIST_BUCKETS - 2)) <= HIST_MAX_NS,
	       "no bucket is wasted");

struct hist {
	uint64_t total;
	uint64_t min;	  /* exact smallest recorded value, UINT64_MAX when empty */
	uint64_t max;	  /* exact largest recorded value (after clamping) */
	uint64_t clamped; /* values above HIST_MAX_NS, recorded as HIST_MAX_NS */
	uint64_t counts[HIST_COUNTS_LEN];
};

void hist_init(struct hist *h);
void hist_record_n(struct hist *h, uint64_t ns, uint64_t n);

static inline void hist_record(struct hist *h, uint64_t ns)
{
	hist_record_n(h, ns, 1);
}

/* Adds every count of src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);

/* The slot a value lands in, and the range of values sharing that slot. */
unsigned hist_index(uint64_t ns);
uint64_t hist_lowest_equivalent(uint64_t ns);
uint64_t hist_highest_equivalent(uint64_t ns);

/*
 * The value at percentile p (0..100) as HdrHistogram defines it: the highest
 * value equivalent to the sample of rank max(1, round(p / 100 * total)).
 * 0 when empty.
 */
uint64_t hist_percentile(const struct hist *h, double p);
/* Mean and standard deviation from bucket midpoints, as HdrHistogram computes them. */
double hist_mean(const struct hist *h);
double hist_stddev(const struct hist *h);

/*
 * Writes HdrHistogram's percentile distribution text ("Value Percentile
 * TotalCount 1/(1-Percentile)" and the #[Mean ...] footer), values divided by
 * scale (1e6 prints milliseconds), ticks reporting points per halving of the
 * distance to 100% (HdrHistogram's default is 5). Returns 0 or -EIO.
 */
int hist_print_percentiles(const struct hist *h, FILE *f, double scale, unsigned ticks);

#endif
