/* SPDX-License-Identifier: MIT */
#ifndef RINGER_WHEEL_H
#define RINGER_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A hierarchical timing wheel over intrusive nodes (Varghese and Lauck's
 * scheme 7, as in Linux before 4.8 and William Ahern's timeout.c).
 *
 * Why hierarchical and not hashed: a hashed wheel with rounds keeps a
 * far timer in a slot it shares with near ones and looks at it once per
 * revolution, so a tick pays for timers that do not fire; to keep that
 * small with minute-long idle timeouts its slots must cover minutes. Here
 * a slot at level 0 holds only timers due at that very tick, a timer moves
 * down a level at most WHEEL_LEVELS - 1 times in its life (its "cascade"),
 * and a bitmap of occupied slots per level lets an advance jump to the next
 * slot that holds anything: a tick with nothing to do costs a few bit
 * operations, and otherwise its cost is what fires and what cascades.
 *
 *   level 0: 64 slots of 1 tick             (the next 64 ticks)
 *   level 1: 64 slots of 64 ticks           (up to 4,096 ticks)
 *   level 2: 64 slots of 4,096 ticks        (up to 262,144 ticks)
 *   level 3: 64 slots of 262,144 ticks      (up to 2^24 ticks)
 *   far:     one list beyond 2^24 ticks, sorted again each time time
 *            crosses a multiple of 2^24
 *
 * Ticks are a 32-bit count that wraps; a timer's expiry must be within
 * 2^31 - 1 ticks of the wheel's time (further reads as the past). The
 * engine counts in milliseconds and advances the wheel on its 100 ms
 * tick, so a timer fires at the first tick at or after its deadline,
 * exact to the millisecond rather than rounded to a 100 ms grid, and the
 * far list holds what is more than 4.6 hours away.
 *
 * Nodes live in their owners (a struct conn each): the wheel knows an
 * array of owners by its base and stride and names a node by its index,
 * so a link is 32 bits, not a pointer, and arm, re-arm and cancel are
 * O(1) without allocating. A zeroed node is not armed.
 */

#define WHEEL_BITS   6
#define WHEEL_SLOTS  (1u << WHEEL_BITS)
#define WHEEL_LEVELS 4
#define WHEEL_SPAN   (1u << (WHEEL_BITS * WHEEL_LEVELS)) /* ticks below the far list */
#define WHEEL_FAR    (WHEEL_LEVELS * WHEEL_SLOTS)	 /* the far list's bucket */
#define WHEEL_HEAD   0x80000000u			 /* prev of a list's first node */
#define WHEEL_MAX    (WHEEL_HEAD - 2)			 /* the largest node index */

struct wheel_node {
	uint32_t next;	  /* the next node's index + 1; 0 at the end of a list */
	uint32_t prev;	  /* the previous node's index + 1, WHEEL_HEAD | bucket, or 0: not armed */
	uint32_t expires; /* the tick it fires at */
};

struct wheel {
	char *base;			 /* node 0 */
	size_t stride;			 /* bytes from one node to the next */
	uint32_t now;			 /* every timer due at or before this tick has fired */
	uint32_t count;			 /* timers armed */
	uint64_t occupied[WHEEL_LEVELS]; /* bit per non-empty slot */
	uint32_t head[WHEEL_FAR + 1];	 /* first node's index + 1 per bucket, or 0 */
};

/* Called for each timer that fires, already disarmed; it may arm or cancel any node. */
typedef void (*wheel_fire_fn)(void *arg, uint32_t idx);

/*
 * An empty wheel at tick now over nodes at nodes, nodes + stride, ... (an
 * array of owners: nodes points at the first owner's node, stride is the
 * owner's size).
 */
void wheel_init(struct wheel *w, void *nodes, size_t stride, uint32_t now);

/*
 * Arms (or moves) node idx to fire at tick expires; one due now or earlier
 * fires at the next tick (w->now + 1).
 */
void wheel_arm(struct wheel *w, uint32_t idx, uint32_t expires);
/* Disarms node idx; nothing if it is not armed. */
void wheel_cancel(struct wheel *w, uint32_t idx);

/*
 * Moves time forward to now (less than 2^31 ticks ahead), calling fire for
 * each timer due by then, earliest tick first. Returns the timers fired.
 * Not to be called from fire.
 */
unsigned wheel_advance(struct wheel *w, uint32_t now, wheel_fire_fn fire, void *arg);

/* The tick of the next slot an advance must look at (a bound on the next expiry); false: none. */
bool wheel_next(const struct wheel *w, uint32_t *at);

static inline struct wheel_node *wheel_node(const struct wheel *w, uint32_t idx)
{
	return (struct wheel_node *)(w->base + (size_t)idx * w->stride);
}

static inline bool wheel_armed(const struct wheel_node *n)
{
	return n->prev != 0;
}

#endif
