// SPDX-License-Identifier: MIT
/*
 * The timing wheel: a timer fires once, at the first tick at or after its
 * expiry (the next tick for one armed in the past), at every slot and level
 * boundary, across the 32-bit wrap, beyond the wheel's span; cancels and
 * re-arms, also from inside a callback; and a million random timers, then
 * random arms, re-arms and cancels, against a brute-force reference that
 * counts time in 64 bits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ringer/wheel.h"

#define NONE UINT64_MAX

/* The test's view of the wheel: nodes in an array of owners, and what fired when. */
struct owner {
	uint8_t before[20];
	struct wheel_node node;
	uint8_t after[7];
};

struct rig {
	struct wheel w;
	struct owner *owners;
	uint32_t n;
	uint32_t *fires;    /* per node: times fired */
	uint32_t *fired_at; /* per node: w->now in its last callback */
	uint32_t last_tick; /* w->now in the last callback: ticks come in order */
	unsigned callbacks;
	/* Optional behaviour in a callback. */
	void (*on_fire)(struct rig *r, uint32_t idx);
};

static struct rig *rig_new(uint32_t n, uint32_t now)
{
	struct rig *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->owners = calloc(n, sizeof(*r->owners));
	r->fires = calloc(n, sizeof(*r->fires));
	r->fired_at = calloc(n, sizeof(*r->fired_at));
	assert_non_null(r->owners);
	assert_non_null(r->fires);
	assert_non_null(r->fired_at);
	r->n = n;
	wheel_init(&r->w, &r->owners[0].node, sizeof(struct owner), now);
	r->last_tick = now;
	return r;
}

static void rig_free(struct rig *r)
{
	free(r->owners);
	free(r->fires);
	free(r->fired_at);
	free(r);
}

static void on_fire(void *arg, uint32_t idx)
{
	struct rig *r = arg;

	assert_true(idx < r->n);
	assert_false(wheel_armed(&r->owners[idx].node));
	/* Earliest tick first. */
	assert_true((int32_t)(r->w.now - r->last_tick) >= 0);
	r->last_tick = r->w.now;
	r->fires[idx]++;
	r->fired_at[idx] = r->w.now;
	r->callbacks++;
	if (r->on_fire)
		r->on_fire(r, idx);
}

static unsigned advance(struct rig *r, uint32_t now)
{
	unsigned before = r->callbacks, n = wheel_advance(&r->w, now, on_fire, r);

	assert_int_equal(n, r->callbacks - before);
	assert_int_equal(r->w.now, now);
	return n;
}

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* ---- boundaries --------------------------------------------------------------------------- */

static const uint32_t bases[] = {
	0,
	1,
	62,
	63,
	64,
	65,
	4095,
	4096,
	4097,
	262143,
	262144,
	262145,
	(1u << 24) - 1,
	1u << 24,
	(1u << 24) + 1,
	0x12345678,
	0x7fffffff,
	0x80000000,
	0xfeffffff,
	0xff000000,
	0xffffefff,
	0xfffff000,
	0xffffffbf,
	0xffffffc0,
	0xfffffffe,
	0xffffffff,
};

static const uint32_t deltas[] = {
	1,
	2,
	3,
	62,
	63,
	64,
	65,
	66,
	127,
	128,
	4095,
	4096,
	4097,
	4159,
	4160,
	262143,
	262144,
	262145,
	266239,
	(1u << 24) - 1,
	1u << 24,
	(1u << 24) + 1,
	(1u << 24) + 63,
	1u << 25,
	0x0fffffff,
	1u << 30,
	0x7ffffffe,
	0x7fffffff,
};

/*
 * Three timers around expiry e armed at base: two at e (a list of two),
 * one at e + 1. Nothing fires before e; both at e, exactly; the third a
 * tick later. Reached by a jump to e - 1, by ticks across e, or by one
 * jump well past.
 */
static void check_expiry(uint32_t base, uint32_t e, int how)
{
	struct rig *r = rig_new(3, base);
	uint32_t d = e - base;

	wheel_arm(&r->w, 0, e);
	wheel_arm(&r->w, 1, e);
	wheel_arm(&r->w, 2, e + 1);
	assert_int_equal(r->w.count, 3);
	if (how == 0) {
		if (d > 1)
			assert_int_equal(advance(r, e - 1), 0);
		assert_int_equal(advance(r, e), 2);
		assert_int_equal(advance(r, e + 1), 1);
	} else if (how == 1) {
		uint32_t from = d > 70 ? e - 70 : base;

		if (from != base)
			assert_int_equal(advance(r, from), 0);
		for (uint32_t t = from + 1; t != e + 3; t++)
			advance(r, t);
	} else {
		assert_int_equal(advance(r, e + (d < 0x7fffffff - 1000 ? 1000 : 1)), 3);
	}
	assert_int_equal(r->fires[0], 1);
	assert_int_equal(r->fires[1], 1);
	assert_int_equal(r->fires[2], 1);
	assert_int_equal(r->fired_at[0], e);
	assert_int_equal(r->fired_at[1], e);
	assert_int_equal(r->fired_at[2], e + 1);
	assert_int_equal(r->w.count, 0);
	rig_free(r);
}

static void fires_at_every_boundary(void **state)
{
	(void)state;
	for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
		uint32_t base = bases[b];

		for (size_t i = 0; i < sizeof(deltas) / sizeof(deltas[0]); i++) {
			if (deltas[i] > 0x7ffffffe)
				continue; /* e + 1 must be in range too */
			for (int how = 0; how < 3; how++)
				check_expiry(base, base + deltas[i], how);
		}
		/* Expiries next to each level's boundaries and the far list's, seen from base. */
		for (unsigned l = 0; l <= WHEEL_LEVELS; l++) {
			unsigned shift = l * WHEEL_BITS;

			for (uint32_t k = 1; k <= 3; k++) {
				uint32_t edge =
					(uint32_t)(((uint64_t)(base >> shift) + k) << shift);

				for (int off = -1; off <= 1; off++) {
					uint32_t e = edge + (uint32_t)off, d = e - base;

					if (d == 0 || d > 0x7ffffffe)
						continue;
					for (int how = 0; how < 3; how++)
						check_expiry(base, e, how);
				}
			}
		}
	}
}

/* ---- the past, cancels, re-arms -------------------------------------------------------------- */

static void past_fires_next_tick(void **state)
{
	const uint32_t base = 0xfffffff0;
	struct rig *r = rig_new(5, base);

	(void)state;
	wheel_arm(&r->w, 0, base);
	wheel_arm(&r->w, 1, base - 1);
	wheel_arm(&r->w, 2, base - 1000);
	wheel_arm(&r->w, 3, base - 0x7fffffff);
	wheel_arm(&r->w, 4, base + 1);
	for (int i = 0; i < 5; i++)
		assert_int_equal(r->owners[i].node.expires, base + 1);
	assert_int_equal(advance(r, base), 0); /* no time passed: not a tick */
	assert_int_equal(advance(r, base + 1), 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(r->fired_at[i], base + 1);
	rig_free(r);
}

static void cancel_and_rearm(void **state)
{
	struct rig *r = rig_new(4, 1000);
	uint32_t at;

	(void)state;
	assert_false(wheel_next(&r->w, &at));
	wheel_cancel(&r->w, 0); /* not armed: nothing */
	wheel_arm(&r->w, 0, 1100);
	wheel_arm(&r->w, 1, 1100);
	wheel_arm(&r->w, 2, 1000 + 5000);
	wheel_arm(&r->w, 3, 1000 + (1u << 25));
	assert_int_equal(r->w.count, 4);
	assert_true(wheel_next(&r->w, &at));
	wheel_cancel(&r->w, 0);
	wheel_cancel(&r->w, 0);
	assert_false(wheel_armed(&r->owners[0].node));
	assert_int_equal(r->w.count, 3);
	/* Re-arms move a timer, earlier or later, whatever level it was on. */
	wheel_arm(&r->w, 1, 1050);
	wheel_arm(&r->w, 2, 1000 + 300000);
	wheel_arm(&r->w, 3, 1001);
	assert_int_equal(r->w.count, 3);
	assert_int_equal(advance(r, 1001), 1);
	assert_int_equal(r->fired_at[3], 1001);
	assert_int_equal(advance(r, 1100), 1);
	assert_int_equal(r->fired_at[1], 1050);
	wheel_cancel(&r->w, 2);
	assert_int_equal(r->w.count, 0);
	assert_false(wheel_next(&r->w, &at));
	assert_int_equal(advance(r, 1000 + (1u << 26)), 0);
	assert_int_equal(r->fires[0], 0);
	assert_int_equal(r->fires[2], 0);
	/* An empty wheel jumps any distance at once. */
	assert_int_equal(advance(r, 0x7fffffff), 0);
	rig_free(r);
}

/* ---- callbacks ------------------------------------------------------------------------------ */

/* Nodes 0 and 1 share a slot; whichever fires first cancels the other, and 2, 3 and 4. */
static void cancel_others(struct rig *r, uint32_t idx)
{
	wheel_cancel(&r->w, idx ^ 1);
	wheel_cancel(&r->w, 2);
	wheel_cancel(&r->w, 3);
	wheel_cancel(&r->w, 4);
}

static void cancel_in_callback(void **state)
{
	struct rig *r = rig_new(5, 64 * 64 - 10);
	uint32_t base = r->w.now;

	(void)state;
	r->on_fire = cancel_others;
	wheel_arm(&r->w, 0, base + 5);
	wheel_arm(&r->w, 1, base + 5);
	wheel_arm(&r->w, 2, base + 6);	    /* the next slot */
	wheel_arm(&r->w, 3, base + 10);	    /* past a level 1 boundary */
	wheel_arm(&r->w, 4, base + 100000); /* level 2 */
	assert_int_equal(advance(r, base + 200000), 1);
	assert_int_equal(r->fires[0] + r->fires[1], 1);
	assert_int_equal(r->fires[2] + r->fires[3] + r->fires[4], 0);
	assert_int_equal(r->w.count, 0);
	rig_free(r);
}

static unsigned rearms_left;

/* Node 0 re-arms itself for "now" (so the next tick); node 1 every 64 ticks; node 2 arms 3. */
static void rearm_self(struct rig *r, uint32_t idx)
{
	if (idx == 0 && rearms_left) {
		rearms_left--;
		wheel_arm(&r->w, 0, r->w.now);
	} else if (idx == 1 && r->fires[1] < 10) {
		wheel_arm(&r->w, 1, r->w.now + 64);
	} else if (idx == 2) {
		wheel_arm(&r->w, 3, r->w.now + 1);
	}
}

static void rearm_in_callback(void **state)
{
	const uint32_t base = 0xffffffc0 - 50; /* across a level 1 boundary and the wrap */
	struct rig *r = rig_new(4, base);

	(void)state;
	r->on_fire = rearm_self;
	rearms_left = 99;
	wheel_arm(&r->w, 0, base + 1);
	wheel_arm(&r->w, 1, base + 1);
	wheel_arm(&r->w, 2, base + 7);
	assert_int_equal(advance(r, base + 1000), 100 + 10 + 2);
	assert_int_equal(r->fires[0], 100);
	assert_int_equal(r->fired_at[0], base + 100); /* one tick after another */
	assert_int_equal(r->fires[1], 10);
	assert_int_equal(r->fired_at[1], base + 1 + 9 * 64);
	assert_int_equal(r->fires[3], 1);
	assert_int_equal(r->fired_at[3], base + 8);
	assert_int_equal(r->w.count, 0);
	rig_free(r);
}

/* ---- far future ----------------------------------------------------------------------------- */

static void far_future(void **state)
{
	static const uint32_t far[] = {
		(1u << 24) - 1, 1u << 24,   (1u << 24) + 1, (1u << 24) * 3 + 12345,
		1u << 28,	0x7ffffff0, 0x7fffffff,
	};
	const unsigned n = sizeof(far) / sizeof(far[0]);
	struct rig *r = rig_new(n * 2, 0xff123456);
	uint32_t base = r->w.now, t = base;

	(void)state;
	for (unsigned i = 0; i < n; i++)
		wheel_arm(&r->w, i, base + far[i]);
	/* Walked in steps of about a level 3 slot ... */
	while (t - base < 0x7fffffff - 300000) {
		t += 262144 + 17;
		advance(r, t);
	}
	advance(r, base + 0x7fffffff);
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(r->fires[i], 1);
		assert_int_equal(r->fired_at[i], base + far[i]);
	}
	/* ... or in one jump. */
	base = r->w.now;
	r->last_tick = base;
	for (unsigned i = 0; i < n; i++)
		wheel_arm(&r->w, n + i, base + far[i]);
	assert_int_equal(advance(r, base + 0x7fffffff), n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(r->fired_at[n + i], base + far[i]);
	rig_free(r);
}

/* ---- against a reference -------------------------------------------------------------------- */

/* A random distance: mostly near, some on every level, some far, some in the past. */
static int64_t random_delta(void)
{
	switch (rng() % 10) {
	case 0:
		return -(int64_t)(rng() % 5000); /* the past, or now */
	case 1:
	case 2:
	case 3:
		return (int64_t)(rng() % 64);
	case 4:
	case 5:
		return (int64_t)(rng() % 4096);
	case 6:
		return (int64_t)(rng() % 262144);
	case 7:
		return (int64_t)(rng() % (1u << 24));
	case 8:
		return (int64_t)(rng() % (1u << 28));
	default:
		return (int64_t)(rng() % 0x7fffffffu) + 1;
	}
}

static uint32_t random_step(void)
{
	switch (rng() % 8) {
	case 0:
	case 1:
	case 2:
		return 1 + (uint32_t)(rng() % 16);
	case 3:
	case 4:
		return 1 + (uint32_t)(rng() % 1000);
	case 5:
		return 1 + (uint32_t)(rng() % 300000);
	case 6:
		return 1 + (uint32_t)(rng() % (1u << 24));
	default:
		return 1 + (uint32_t)(rng() % (1u << 28));
	}
}

/*
 * The reference: each node's due tick in 64-bit time (NONE: not armed),
 * and the advance in progress. A callback must come for an armed node, at
 * exactly its due tick, inside the advance's range.
 */
struct ref {
	uint64_t *due;
	uint64_t now;	/* 64-bit time of the wheel's now */
	uint64_t until; /* the advance in progress: (now, until] */
	uint64_t armed;
	unsigned ops_in_callback; /* random arms and cancels each callback makes */
	uint32_t n;
};

static struct ref ref;

static void ref_arm(struct rig *r, uint32_t idx, uint64_t now64, int64_t delta)
{
	uint64_t due = now64 + (uint64_t)(delta > 0 ? delta : 1);

	wheel_arm(&r->w, idx, (uint32_t)(now64 + (uint64_t)delta));
	if (ref.due[idx] == NONE)
		ref.armed++;
	ref.due[idx] = due;
}

static void ref_cancel(struct rig *r, uint32_t idx)
{
	wheel_cancel(&r->w, idx);
	if (ref.due[idx] != NONE)
		ref.armed--;
	ref.due[idx] = NONE;
}

static void ref_fired(struct rig *r, uint32_t idx)
{
	/* 64-bit time of this callback: the wheel's tick, unwrapped from the advance's start. */
	uint64_t tick = ref.now + (uint32_t)(r->w.now - (uint32_t)ref.now);

	if (ref.due[idx] != tick) {
		fail_msg("node %u fired at tick %llu, due %llu (advance to %llu)", idx,
			 (unsigned long long)tick, (unsigned long long)ref.due[idx],
			 (unsigned long long)ref.until);
	}
	assert_true(tick <= ref.until);
	ref.due[idx] = NONE;
	ref.armed--;
	for (unsigned k = 0; k < ref.ops_in_callback; k++) {
		uint32_t other = (uint32_t)(rng() % ref.n);

		if (rng() % 3 == 0)
			ref_cancel(r, other);
		else
			ref_arm(r, other, tick, random_delta());
	}
}

static void ref_advance(struct rig *r, uint64_t to)
{
	ref.until = to;
	advance(r, (uint32_t)to);
	ref.now = to;
	assert_int_equal(r->w.count, ref.armed);
}

static void ref_setup(uint32_t n)
{
	ref.n = n;
	ref.due = malloc(n * sizeof(*ref.due));
	assert_non_null(ref.due);
	for (uint32_t i = 0; i < n; i++)
		ref.due[i] = NONE;
	ref.armed = 0;
	ref.ops_in_callback = 0;
}

/*
 * A million timers at random distances, from a time just before the 32-bit
 * wrap, fired by advances of random lengths: each fires once, at exactly
 * the first tick at or after its expiry, and the advance covering that
 * tick reports as many as the sorted reference expects.
 */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void million_random(void **state)
{
	const uint32_t n = 1000000;
	const uint64_t start = 0xfff00000ull;
	struct rig *r = rig_new(n, (uint32_t)start);
	uint64_t *sorted = malloc(n * sizeof(*sorted));
	size_t next = 0;

	(void)state;
	assert_non_null(sorted);
	ref_setup(n);
	ref.now = start;
	r->on_fire = ref_fired;
	for (uint32_t i = 0; i < n; i++) {
		ref_arm(r, i, start, random_delta());
		sorted[i] = ref.due[i];
	}
	qsort(sorted, n, sizeof(*sorted), cmp_u64);
	while (ref.armed) {
		uint64_t to = ref.now + random_step();
		size_t expect = 0;
		unsigned before = r->callbacks;

		while (next < n && sorted[next] <= to) {
			next++;
			expect++;
		}
		ref_advance(r, to);
		assert_int_equal(r->callbacks - before, expect);
	}
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(r->fires[i], 1);
	free(sorted);
	free(ref.due);
	rig_free(r);
}

/*
 * Random arms, re-arms and cancels between advances and inside callbacks
 * (of the firing node and of any other), then a last advance that fires
 * everything still armed.
 */
static void random_ops(void **state)
{
	const uint32_t n = 50000;
	const uint64_t start = 0xffffff00ull;
	struct rig *r = rig_new(n, (uint32_t)start);

	(void)state;
	ref_setup(n);
	ref.now = start;
	r->on_fire = ref_fired;
	for (int round = 0; round < 5000; round++) {
		for (int k = 0; k < 200; k++) {
			uint32_t idx = (uint32_t)(rng() % n);

			if (rng() % 4 == 0)
				ref_cancel(r, idx);
			else
				ref_arm(r, idx, ref.now, random_delta());
		}
		ref.ops_in_callback = round % 2;
		ref_advance(r, ref.now + random_step());
	}
	ref.ops_in_callback = 0;
	while (ref.armed)
		ref_advance(r, ref.now + 0x7fffffff);
	free(ref.due);
	rig_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fires_at_every_boundary), cmocka_unit_test(past_fires_next_tick),
		cmocka_unit_test(cancel_and_rearm),	   cmocka_unit_test(cancel_in_callback),
		cmocka_unit_test(rearm_in_callback),	   cmocka_unit_test(far_future),
		cmocka_unit_test(million_random),	   cmocka_unit_test(random_ops),
	};

	return cmocka_run_group_tests_name("wheel", tests, NULL, NULL);
}
