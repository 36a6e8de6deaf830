// SPDX-License-Identifier: MIT
/*
 * The open-loop schedule. 128-bit intermediates keep n * 1e9 exact for any
 * run a 64-bit nanosecond clock can express.
 */
#include "schedule.h"

#define NS_PER_S 1000000000ull

uint64_t sched_time(const struct sched *s, uint64_t k)
{
	unsigned __int128 n = (unsigned __int128)k * s->conns + s->index;

	return s->start_ns + (uint64_t)(n * NS_PER_S / s->rate);
}

/*
 * Request n is due when floor(n * 1e9 / rate) <= elapsed, which holds exactly
 * when n * 1e9 < (elapsed + 1) * rate, so the last due n is
 * N = floor(((elapsed + 1) * rate - 1) / 1e9). This connection owns
 * n = index, index + conns, ...: count those up to N.
 */
uint64_t sched_due(const struct sched *s, uint64_t now_ns)
{
	unsigned __int128 last;

	if (now_ns < s->start_ns)
		return 0;
	last = ((unsigned __int128)(now_ns - s->start_ns + 1) * s->rate - 1) / NS_PER_S;
	if (last < s->index)
		return 0;
	return (uint64_t)((last - s->index) / s->conns) + 1;
}
