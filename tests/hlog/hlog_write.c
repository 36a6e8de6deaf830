// SPDX-License-Identifier: MIT
/*
 * Writes an interval log of known histograms through the hlog API, for
 * tests/integration/test_hlog.py to read back with HdrHistogram's own reader
 * (tests/hlog/HlogRead.java). The test rebuilds every interval from the same
 * recipe in Python, so change both together.
 *
 * Usage: hlog_write FILE
 *
 * StartTime 1700000000.123; the intervals (start, length, tag: values):
 *   0.000 1.000 -    1 .. 5000, once each
 *   1.000 1.000 -    1,000,000 x 10^12, 60e9 once, 0 x 7
 *   2.000 1.000 -    nothing
 *   3.000 1.000 B    2^k x (k + 1) for k = 0 .. 35
 *   4.000 0.500 -    100,000 values of the LCG below
 *   4.500 0.500 -    70e9 x 3 (above HIST_MAX_NS: recorded as 60e9), 59,999,999,999 once
 *   5.000 1.000 huge 1234 x 2^61, a count whose LEB128 word takes all 9 bytes
 *
 * The last is tagged so that HistogramLogProcessor, which reads untagged
 * lines unless told otherwise, skips it: its percentile iterator never ends
 * on a total that large (double precision runs out before 100 %).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringer/hlog.h"

#define START_EPOCH 1700000000.123

/* Knuth's MMIX LCG; 31 random bits shifted right by 0 .. 31: 0 .. 2^31 ns, log-spread. */
static uint64_t lcg_value(uint64_t *x)
{
	*x = *x * 6364136223846793005ull + 1442695040888963407ull;
	return (*x >> 33) >> ((*x >> 27) & 31);
}

static const struct {
	double start, len;
	const char *tag;
} intervals[] = {
	{0.0, 1.0, NULL}, {1.0, 1.0, NULL}, {2.0, 1.0, NULL},	{3.0, 1.0, "B"},
	{4.0, 0.5, NULL}, {4.5, 0.5, NULL}, {5.0, 1.0, "huge"},
};

/* The values of interval k into h. */
static void fill(struct hist *h, int k)
{
	uint64_t x = 42;

	hist_init(h);
	switch (k) {
	case 0:
		for (uint64_t v = 1; v <= 5000; v++)
			hist_record(h, v);
		break;
	case 1:
		hist_record_n(h, 1000000, 1000000000000ull);
		hist_record(h, 60000000000ull);
		hist_record_n(h, 0, 7);
		break;
	case 3:
		for (unsigned b = 0; b <= 35; b++)
			hist_record_n(h, 1ull << b, b + 1);
		break;
	case 4:
		for (int i = 0; i < 100000; i++)
			hist_record(h, lcg_value(&x));
		break;
	case 5:
		hist_record_n(h, 70000000000ull, 3);
		hist_record(h, 59999999999ull);
		break;
	case 6:
		hist_record_n(h, 1234, 1ull << 61);
		break;
	}
}

int main(int argc, char **argv)
{
	struct hist *h = malloc(sizeof(*h));
	struct hlog l;
	FILE *f;
	int ret;

	if (argc != 2 || !h) {
		fprintf(stderr, "usage: hlog_write FILE\n");
		return 2;
	}
	f = fopen(argv[1], "w");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	ret = hlog_open(&l, f, START_EPOCH);
	for (size_t k = 0; k < sizeof(intervals) / sizeof(intervals[0]) && !ret; k++) {
		fill(h, (int)k);
		ret = hlog_interval(&l, h, intervals[k].start, intervals[k].len, intervals[k].tag);
	}
	if (hlog_close(&l) && !ret)
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -EIO;
	free(h);
	if (ret) {
		fprintf(stderr, "hlog_write: %s\n", strerror(-ret));
		return 1;
	}
	return 0;
}
