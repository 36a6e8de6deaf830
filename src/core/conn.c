// SPDX-License-Identifier: MIT
#include "ringer/conn.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "ringer/trace.h"
#include "ringer/user_data.h"

#define FREE_END UINT32_MAX

int conn_slab_init(struct conn_slab *s, uint32_t cap)
{
	void *mem;

	memset(s, 0, sizeof(*s));
	if (cap == 0 || cap >= UD_SLOT_MAX)
		return -EINVAL;
	s->bytes = (uint64_t)cap * sizeof(struct conn);
	/* Anonymous memory is zero and lazily backed: untouched slots cost no RSS. */
	mem = mmap(NULL, s->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	s->conns = mem;
	s->cap = cap;
	s->free_head = FREE_END;
	return 0;
}

void conn_slab_destroy(struct conn_slab *s)
{
	if (s->conns)
		munmap(s->conns, s->bytes);
	s->conns = NULL;
	s->cap = 0;
}

struct conn *conn_alloc(struct conn_slab *s)
{
	struct conn *c;
	uint32_t gen, slot;

	if (s->free_head != FREE_END) {
		slot = s->free_head;
		s->free_head = s->conns[slot].link;
	} else if (s->high_water < s->cap) {
		slot = s->high_water++;
	} else {
		return NULL;
	}
	c = &s->conns[slot];
	assert(!(c->life & CONN_L_USED));
	gen = c->gen;
	memset(c, 0, sizeof(*c));
	c->gen = gen;
	c->slot = slot;
	c->link = FREE_END;
	c->fd = -1;
	c->feeder = UINT32_MAX;
	c->state = TCPS_CLOSED;
	c->life = CONN_L_USED;
	s->used++;
	return c;
}

void conn_free(struct conn_slab *s, struct conn *c)
{
	assert(c->life & CONN_L_USED);
	assert(c->inflight == 0);
	c->life = 0;
	/* A new generation makes every completion still naming the old one stale. */
	c->gen = (c->gen + 1) & UD_GEN_MASK;
	c->link = s->free_head;
	s->free_head = conn_slot(s, c);
	s->used--;
}

struct conn *conn_lookup(struct conn_slab *s, uint32_t slot, uint32_t gen)
{
	struct conn *c;

	if (slot >= s->high_water)
		return NULL;
	c = &s->conns[slot];
	if (!(c->life & CONN_L_USED) || c->gen != gen)
		return NULL;
	return c;
}

void conn_track(struct conn *c, struct stats *st)
{
	if (st) {
		STAT_INC(st, by_state[c->state]);
		STAT_INC(st, by_side[c->side][c->state]);
	}
}

void conn_untrack(struct conn *c, struct stats *st)
{
	if (st) {
		STAT_ADD(st, by_state[c->state], -1);
		STAT_ADD(st, by_side[c->side][c->state], -1);
	}
}

int conn_event(struct conn *c, enum tcp_event ev, struct stats *st)
{
	enum tcp_state from = (enum tcp_state)c->state;
	enum tcp_state to = tcp_state_next(from, ev);

	if (to == TCP_STATE_ILLEGAL) {
		if (st)
			STAT_INC(st, illegal);
		return -EINVAL;
	}
	if (st && to != from) {
		STAT_ADD(st, by_state[from], -1);
		STAT_INC(st, by_state[to]);
		STAT_ADD(st, by_side[c->side][from], -1);
		STAT_INC(st, by_side[c->side][to]);
		STAT_INC(st, entered[to]);
	}
	/* c->slot: conn_event() has no slab to compute it from, and every caller has c. */
	TRACE_TRANSITION(c->slot, c->gen, (int)from, (int)to);
	c->state = (uint8_t)to;
	return 0;
}
