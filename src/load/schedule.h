/* SPDX-License-Identifier: MIT */
#ifndef RINGER_SCHED_H
#define RINGER_SCHED_H

/*
 * The open-loop send schedule: a pure function of time. A rate plan (one
 * constant rate, steps, linear ramps) says when each request of the run is
 * due: request n, numbered globally over all connections, has the intended
 * send time start + sched_plan_time(n). Connection `index` of `conns` owns
 * the requests n = k * conns + index, so its k-th request is request n, the
 * connections take turns and are staggered evenly instead of firing
 * together, at any rate the plan has at that moment.
 *
 * Latency is measured from the intended time, never from the time the
 * request actually left, so a stalled server shows up in the percentiles
 * (no coordinated omission). Times are nanoseconds on any monotonic clock.
 * Constant segments are exact integer arithmetic, so a long run never
 * drifts; a ramp's times come from solving its quadratic in long double, and
 * the due count is always derived from those same times, so the two never
 * disagree.
 */
#include <stdbool.h>
#include <stdint.h>

#define SCHED_MAX_SEGS 64

/* A segment of the plan: from -> to requests/s (equal: constant) over dur_ns. */
struct sched_seg {
	uint64_t from;
	uint64_t to;
	uint64_t dur_ns; /* 0: forever; only the last segment may be */
};

struct sched_plan {
	unsigned n;
	struct sched_seg seg[SCHED_MAX_SEGS + 1]; /* + the hold after a finite plan */
	uint64_t t0[SCHED_MAX_SEGS + 1];	  /* where each segment starts (ns offset) */
	uint64_t n0[SCHED_MAX_SEGS + 1];	  /* the first request number of each */
};

/*
 * Builds a plan from n segments. After the last finite segment the plan
 * holds that segment's final rate forever. Returns 0, or -EINVAL when a
 * segment but the last has no duration or n is out of range.
 */
int sched_plan_init(struct sched_plan *p, const struct sched_seg *segs, unsigned n);

/* A plan of one constant rate. */
void sched_plan_const(struct sched_plan *p, uint64_t rate);

/* Intended offset of request n from the start; UINT64_MAX if never due (rate 0 forever). */
uint64_t sched_plan_time(const struct sched_plan *p, uint64_t n);

/* How many requests are due at elapsed_ns: the n with sched_plan_time(n) <= elapsed_ns. */
uint64_t sched_plan_count(const struct sched_plan *p, uint64_t elapsed_ns);

/* The sum of the segments' durations, 0 when the plan has no end. */
uint64_t sched_plan_length(const struct sched_seg *segs, unsigned n);

/* One connection's view of the plan. */
struct sched {
	const struct sched_plan *plan;
	uint64_t start_ns;
	uint32_t conns; /* connections sharing the plan, > 0 */
	uint32_t index; /* this connection, < conns */
};

static inline struct sched sched_make(const struct sched_plan *plan, uint64_t start_ns,
				      uint32_t conns, uint32_t index)
{
	struct sched s = {.plan = plan, .start_ns = start_ns, .conns = conns, .index = index};

	return s;
}

/* Intended send time of the connection's k-th request (k from 0); UINT64_MAX: never. */
uint64_t sched_time(const struct sched *s, uint64_t k);

/* How many of the connection's requests are due at now: the k with sched_time(k) <= now. */
uint64_t sched_due(const struct sched *s, uint64_t now_ns);

#endif
