/* SPDX-License-Identifier: MIT */
#ifndef RINGER_BENCH_H
#define RINGER_BENCH_H

/*
 * A micro-benchmark harness in C whose command line and output follow
 * Google Benchmark 1.7, so that its tools (compare.py above all) read our
 * results unchanged and numbers from both can sit side by side.
 *
 * Each bench_<module>.c holds one table of benchmarks and ends with
 * BENCH_MAIN(table). A benchmark is a function that runs its body
 * st->iterations times:
 *
 *	static void bm_thing(struct bench_state *st)
 *	{
 *		bench_pause_timing(st);
 *		... setup that should not count ...
 *		bench_resume_timing(st);
 *		for (uint64_t i = 0; i < st->iterations; i++)
 *			bench_do_not_optimize(thing(i));
 *		bench_set_items_processed(st, st->iterations);
 *	}
 *
 *	static const struct bench_def benches[] = {
 *		{ .name = "thing", .fn = bm_thing },
 *		{ .name = "thing_n", .fn = bm_thing_n, BENCH_ARGS(1, 32) },
 *	};
 *	BENCH_MAIN(benches)
 *
 * The clock runs for the whole call; pause it around setup and teardown.
 * The harness calls the function again with more iterations until one run
 * lasts at least --benchmark_min_time, then reports that run, as Google
 * Benchmark does. A benchmark with arguments becomes one instance per
 * argument, named "thing_n/1", "thing_n/32", and reads it in st->range.
 * Benchmarks measure; they never assert: a benchmark that cannot run calls
 * bench_skip_with_error() and returns.
 */
#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_ARGS	8
#define BENCH_LABEL_MAX 128
#define BENCH_ERROR_MAX 256

enum bench_time_unit {
	BENCH_UNIT_DEFAULT = 0, /* whatever --benchmark_time_unit says (ns unless told) */
	BENCH_UNIT_NS,
	BENCH_UNIT_US,
	BENCH_UNIT_MS,
	BENCH_UNIT_S,
};

struct bench_state;
typedef void (*bench_fn)(struct bench_state *st);

struct bench_def {
	const char *name;
	bench_fn fn;
	int64_t args[BENCH_MAX_ARGS];
	unsigned nargs; /* 0: one instance without an argument */
	enum bench_time_unit unit;
	/* Choose the iteration count by wall time, not CPU time (for work that sleeps). */
	int use_real_time;
};

/* One instance per listed argument: BENCH_ARGS(1, 32) gives "name/1" and "name/32". */
#define BENCH_ARGS(...) \
	.args = {__VA_ARGS__}, .nargs = sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)

struct bench_state {
	/* Read by the benchmark. */
	uint64_t iterations; /* run the body exactly this many times */
	int64_t range;	     /* this instance's argument, 0 without one */

	/* Owned by the harness: use the functions below. */
	uint64_t bytes;
	uint64_t items;
	int has_bytes, has_items;
	int running;
	int error;
	double real_start, cpu_start;
	double real_used, cpu_used;
	char label[BENCH_LABEL_MAX];
	char error_msg[BENCH_ERROR_MAX];
};

void bench_pause_timing(struct bench_state *st);
void bench_resume_timing(struct bench_state *st);
/* Totals over all st->iterations; reported as rates per CPU second. */
void bench_set_bytes_processed(struct bench_state *st, uint64_t bytes);
void bench_set_items_processed(struct bench_state *st, uint64_t items);
void bench_set_label(struct bench_state *st, const char *label);
/* Marks the run failed with msg; the benchmark returns right after. */
void bench_skip_with_error(struct bench_state *st, const char *msg);

/*
 * Keeps the compiler from discarding a value the benchmark computes but
 * never uses, or from hoisting the work out of the loop, without adding a
 * load or store of its own (Google Benchmark's DoNotOptimize).
 */
#define bench_do_not_optimize(v)                                          \
	do {                                                              \
		__typeof__(v) bench_dno_v_ = (v);                         \
		__asm__ volatile("" : "+r,m"(bench_dno_v_) : : "memory"); \
	} while (0)

/* Forces pending stores to memory to happen here (ClobberMemory). */
static inline void bench_clobber_memory(void)
{
	__asm__ volatile("" : : : "memory");
}

/* Parses the flags, runs the selected benchmarks, prints; returns the exit code. */
int bench_main(int argc, char **argv, const struct bench_def *defs, size_t n);

#define BENCH_MAIN(table)                                                                 \
	int main(int argc, char **argv)                                                   \
	{                                                                                 \
		return bench_main(argc, argv, table, sizeof(table) / sizeof((table)[0])); \
	}

#endif
