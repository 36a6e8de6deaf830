/* SPDX-License-Identifier: MIT */
#ifndef RINGER_SCHED_H
#define RINGER_SCHED_H

/*
 * The open-loop send schedule: a pure function of time. A total rate of
 * `rate` requests/s is spread over `conns` connections by numbering every
 * request of the run globally, n = k * conns + index for the k-th request of
 * connection `index`, and giving request n the intended send time
 * start + n / rate. Each connection thus sends every conns / rate seconds,
 * and the connections are staggered evenly inside that period instead of
 * firing together.
 *
 * Latency is measured from the intended time, never from the time the
 * request actually left, so a stalled server shows up in the percentiles
 * (no coordinated omission). Times are nanoseconds on any monotonic clock;
 * the arithmetic is exact integers, so the schedule never drifts.
 */
#include <stdint.h>

struct sched {
	uint64_t start_ns;
	uint64_t rate;	/* requests per second over all connections, > 0 */
	uint32_t conns; /* connections sharing the rate, > 0 */
	uint32_t index; /* this connection, < conns */
};

static inline struct sched sched_make(uint64_t start_ns, uint64_t rate, uint32_t conns,
				      uint32_t index)
{
	struct sched s = {.start_ns = start_ns, .rate = rate, .conns = conns, .index = index};

	return s;
}

/* Intended send time of the connection's k-th request (k from 0). */
uint64_t sched_time(const struct sched *s, uint64_t k);

/* How many of the connection's requests are due at now: the k with sched_time(k) <= now. */
uint64_t sched_due(const struct sched *s, uint64_t now_ns);

#endif
