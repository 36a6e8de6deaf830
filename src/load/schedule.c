// SPDX-License-Identifier: MIT
/*
 * The open-loop schedule. A constant segment of rate r puts its m-th request
 * at floor(m * 1e9 / r) ns, with 128-bit intermediates so that the product is
 * exact for any run a 64-bit nanosecond clock can express. A linear segment
 * from a to b requests/s over D seconds has sent N(t) = a t + (b - a) t^2 / 2D
 * requests by t; its m-th request is at the t where N(t) = m, which is
 * t = 2m / (a + sqrt(a^2 + 2 (b - a) m / D)) (the stable form of the root).
 */
#include "schedule.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define NS_PER_S 1000000000ull
#define NEVER	 UINT64_MAX

static bool seg_constant(const struct sched_seg *s)
{
	return s->from == s->to || !s->dur_ns;
}

/* Offset of the segment's m-th request from the segment's start. */
static uint64_t seg_time(const struct sched_seg *s, uint64_t m)
{
	long double a, k, den, t;

	if (seg_constant(s)) {
		if (!s->from)
			return NEVER;
		return (uint64_t)((unsigned __int128)m * NS_PER_S / s->from);
	}
	if (!m)
		return 0;
	a = (long double)s->from;
	k = ((long double)s->to - a) * (long double)NS_PER_S / (2.0L * (long double)s->dur_ns);
	den = a * a + 4.0L * k * (long double)m;
	den = a + sqrtl(den > 0 ? den : 0);
	if (den <= 0)
		return NEVER;
	t = 2.0L * (long double)m / den * (long double)NS_PER_S;
	return t >= 1.8e19L ? NEVER : (uint64_t)t;
}

/* How many of the segment's requests fall at or before offset e. */
static uint64_t seg_count(const struct sched_seg *s, uint64_t e)
{
	long double es, k;
	uint64_t c;

	if (seg_constant(s)) {
		/* floor(m * 1e9 / r) <= e exactly when m * 1e9 < (e + 1) * r. */
		if (!s->from)
			return 0;
		return (uint64_t)(((unsigned __int128)(e + 1) * s->from - 1) / NS_PER_S) + 1;
	}
	es = (long double)e / (long double)NS_PER_S;
	k = ((long double)s->to - (long double)s->from) * (long double)NS_PER_S /
	    (2.0L * (long double)s->dur_ns);
	c = (uint64_t)((long double)s->from * es + k * es * es) + 1;
	/* The estimate is within a request or two; the times decide. */
	while (c > 1 && seg_time(s, c - 1) > e)
		c--;
	while (seg_time(s, c) <= e)
		c++;
	return c;
}

uint64_t sched_plan_length(const struct sched_seg *segs, unsigned n)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < n; i++) {
		if (!segs[i].dur_ns)
			return 0;
		sum += segs[i].dur_ns;
	}
	return sum;
}

int sched_plan_init(struct sched_plan *p, const struct sched_seg *segs, unsigned n)
{
	uint64_t t = 0, count = 0;

	if (!n || n > SCHED_MAX_SEGS)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	for (unsigned i = 0; i < n; i++) {
		if (!segs[i].dur_ns && i + 1 < n)
			return -EINVAL;
		p->seg[i] = segs[i];
		p->t0[i] = t;
		p->n0[i] = count;
		if (segs[i].dur_ns) {
			count += seg_count(&segs[i], segs[i].dur_ns - 1);
			t += segs[i].dur_ns;
		}
	}
	p->n = n;
	if (segs[n - 1].dur_ns) {
		/* After the plan, its last rate holds. */
		p->seg[n] = (struct sched_seg){segs[n - 1].to, segs[n - 1].to, 0};
		p->t0[n] = t;
		p->n0[n] = count;
		p->n = n + 1;
	}
	return 0;
}

void sched_plan_const(struct sched_plan *p, uint64_t rate)
{
	struct sched_seg s = {rate, rate, 0};

	sched_plan_init(p, &s, 1);
}

uint64_t sched_plan_time(const struct sched_plan *p, uint64_t n)
{
	unsigned lo = 0, hi = p->n;
	uint64_t t;

	/* The last segment whose first request is at or before n. */
	while (hi - lo > 1) {
		unsigned mid = (lo + hi) / 2;

		if (p->n0[mid] <= n)
			lo = mid;
		else
			hi = mid;
	}
	t = seg_time(&p->seg[lo], n - p->n0[lo]);
	return t == NEVER ? NEVER : p->t0[lo] + t;
}

uint64_t sched_plan_count(const struct sched_plan *p, uint64_t elapsed_ns)
{
	unsigned lo = 0, hi = p->n;

	while (hi - lo > 1) {
		unsigned mid = (lo + hi) / 2;

		if (p->t0[mid] <= elapsed_ns)
			lo = mid;
		else
			hi = mid;
	}
	return p->n0[lo] + seg_count(&p->seg[lo], elapsed_ns - p->t0[lo]);
}

uint64_t sched_time(const struct sched *s, uint64_t k)
{
	unsigned __int128 n = (unsigned __int128)k * s->conns + s->index;
	uint64_t t;

	if (n >> 63)
		return NEVER;
	t = sched_plan_time(s->plan, (uint64_t)n);
	return t == NEVER ? NEVER : s->start_ns + t;
}

/*
 * The requests due at now are the first N = sched_plan_count(now - start) of
 * the run; this connection owns n = index, index + conns, ...: count those
 * below N.
 */
uint64_t sched_due(const struct sched *s, uint64_t now_ns)
{
	uint64_t total;

	if (now_ns < s->start_ns)
		return 0;
	total = sched_plan_count(s->plan, now_ns - s->start_ns);
	if (total <= s->index)
		return 0;
	return (total - 1 - s->index) / s->conns + 1;
}
