// SPDX-License-Identifier: MIT
/*
 * The timing wheel (wheel.h): four levels of 64 slots and a far list, each
 * slot a doubly linked list of nodes threaded through their owners by
 * index. Buckets are numbered level * 64 + slot, the far list last; a
 * list's first node keeps its bucket in prev (WHEEL_HEAD | bucket), so a
 * node leaves its list without the wheel looking for it.
 *
 * Where a timer sits: seen from the wheel's time now, a timer due in delta
 * ticks goes to the level whose slots are 64^level ticks wide with
 * 64^level <= delta < 64^(level + 1), in the slot its expiry's bits of that
 * level name. A slot of level l is looked at when time reaches a multiple
 * of 64^l whose bits of level l name it: the first such tick after the
 * timer was placed is the one in which it is due, so looking there loses
 * nothing and never comes early, and the timer then has less than 64^l
 * ticks to go and moves down (cascades). At level 0 that tick is its
 * expiry: the slot fires. Time crossing a multiple of 2^24 sorts the far
 * list again the same way.
 */
#include "ringer/wheel.h"

#include <assert.h>

#define SLOT_MASK (WHEEL_SLOTS - 1)

static inline struct wheel_node *linked(const struct wheel *w, uint32_t link)
{
	return wheel_node(w, link - 1);
}

static inline void mark(struct wheel *w, unsigned b, bool occupied)
{
	uint64_t bit = 1ull << (b % WHEEL_SLOTS);

	if (b == WHEEL_FAR)
		return; /* its head says it */
	if (occupied)
		w->occupied[b / WHEEL_SLOTS] |= bit;
	else
		w->occupied[b / WHEEL_SLOTS] &= ~bit;
}

static void push(struct wheel *w, uint32_t idx, struct wheel_node *n, unsigned b)
{
	uint32_t first = w->head[b];

	n->next = first;
	n->prev = WHEEL_HEAD | b;
	if (first)
		linked(w, first)->prev = idx + 1;
	else
		mark(w, b, true);
	w->head[b] = idx + 1;
}

static void unlink_node(struct wheel *w, struct wheel_node *n)
{
	if (n->next)
		linked(w, n->next)->prev = n->prev;
	if (n->prev & WHEEL_HEAD) {
		unsigned b = n->prev & ~WHEEL_HEAD;

		w->head[b] = n->next;
		if (!n->next)
			mark(w, b, false);
	} else {
		linked(w, n->prev)->next = n->next;
	}
	n->next = 0;
	n->prev = 0;
}

/* The bucket of a timer due at expires, seen from w->now (0 <= expires - now < 2^31). */
static unsigned bucket(const struct wheel *w, uint32_t expires)
{
	uint32_t delta = expires - w->now;
	unsigned level;

	if (delta >= WHEEL_SPAN)
		return WHEEL_FAR;
	level = delta < WHEEL_SLOTS ? 0 : (31 - (unsigned)__builtin_clz(delta)) / WHEEL_BITS;
	return level * WHEEL_SLOTS + ((expires >> (level * WHEEL_BITS)) & SLOT_MASK);
}

void wheel_init(struct wheel *w, void *nodes, size_t stride, uint32_t now)
{
	*w = (struct wheel){.base = nodes, .stride = stride, .now = now};
}

void wheel_arm(struct wheel *w, uint32_t idx, uint32_t expires)
{
	struct wheel_node *n = wheel_node(w, idx);

	assert(idx <= WHEEL_MAX);
	if (wheel_armed(n))
		unlink_node(w, n);
	else
		w->count++;
	if ((int32_t)(expires - w->now) <= 0)
		expires = w->now + 1; /* its tick has been looked at already */
	n->expires = expires;
	push(w, idx, n, bucket(w, expires));
}

void wheel_cancel(struct wheel *w, uint32_t idx)
{
	struct wheel_node *n = wheel_node(w, idx);

	if (!wheel_armed(n))
		return;
	unlink_node(w, n);
	w->count--;
}

static inline uint64_t rotr64(uint64_t x, unsigned r)
{
	return r ? (x >> r) | (x << (64 - r)) : x;
}

bool wheel_next(const struct wheel *w, uint32_t *at)
{
	uint32_t best = UINT32_MAX;

	if (!w->count)
		return false;
	for (unsigned l = 0; l < WHEEL_LEVELS; l++) {
		unsigned shift = l * WHEEL_BITS;
		uint64_t occ = w->occupied[l];
		uint32_t step;

		if (!occ)
			continue;
		/* The level's next boundary, counted in its slots, then its next occupied slot. */
		step = (w->now >> shift) + 1;
		step += (uint32_t)__builtin_ctzll(rotr64(occ, step & SLOT_MASK));
		if ((step << shift) - w->now < best)
			best = (step << shift) - w->now;
	}
	if (w->head[WHEEL_FAR]) {
		uint32_t far = ((w->now / WHEEL_SPAN) + 1) * WHEEL_SPAN;

		if (far - w->now < best)
			best = far - w->now;
	}
	*at = w->now + best;
	return true;
}

/* Moves every timer of bucket b to where it belongs from now on. */
static void cascade(struct wheel *w, unsigned b)
{
	uint32_t link = w->head[b];

	w->head[b] = 0;
	mark(w, b, false);
	while (link) {
		struct wheel_node *n = linked(w, link);
		uint32_t next = n->next;

		push(w, link - 1, n, bucket(w, n->expires));
		link = next;
	}
}

/* Time has reached at: the slots whose turn it is move down, the far list first. */
static void cascade_at(struct wheel *w, uint32_t at)
{
	if (at % WHEEL_SPAN == 0 && w->head[WHEEL_FAR])
		cascade(w, WHEEL_FAR);
	for (unsigned l = WHEEL_LEVELS - 1; l > 0; l--) {
		unsigned shift = l * WHEEL_BITS, b;

		if (at & ((1u << shift) - 1))
			continue;
		b = l * WHEEL_SLOTS + ((at >> shift) & SLOT_MASK);
		if (w->head[b])
			cascade(w, b);
	}
}

/*
 * Fires level 0's slot for tick w->now. A callback cannot add to it: a
 * timer armed for now or earlier goes to the next tick's slot.
 */
static unsigned fire_slot(struct wheel *w, wheel_fire_fn fire, void *arg)
{
	unsigned b = w->now & SLOT_MASK, fired = 0;

	while (w->head[b]) {
		uint32_t idx = w->head[b] - 1;
		struct wheel_node *n = wheel_node(w, idx);

		assert(n->expires == w->now);
		unlink_node(w, n);
		w->count--;
		fire(arg, idx);
		fired++;
	}
	return fired;
}

unsigned wheel_advance(struct wheel *w, uint32_t now, wheel_fire_fn fire, void *arg)
{
	uint32_t start = w->now, at;
	unsigned fired = 0;

	if ((int32_t)(now - start) <= 0)
		return 0;
	while (wheel_next(w, &at) && at - start <= now - start) {
		w->now = at;
		cascade_at(w, at);
		fired += fire_slot(w, fire, arg);
	}
	w->now = now;
	return fired;
}
