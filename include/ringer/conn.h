/* SPDX-License-Identifier: MIT */
#ifndef RINGER_CONN_H
#define RINGER_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "ringer/stats.h"
#include "ringer/tcp_state.h"

/*
 * One connection and the slab that holds them.
 *
 * The slab is a fixed array chosen at startup (--max-conns) with a free list
 * threaded through the free slots, so alloc and free are O(1) and nothing is
 * allocated afterwards. Slots never handed out yet are taken in order from a
 * high-water mark, so pages of the array are touched only once used.
 *
 * Every slot carries a generation that changes on each free: user_data holds
 * the generation at submit time, and conn_lookup() refuses a completion meant
 * for an earlier tenant. A slot may be freed only when nothing is in flight
 * for it (inflight == 0); closing is a state, not a free.
 */

enum conn_flag {
	CONN_F_USED = 1u << 0,		    /* slot is allocated */
	CONN_F_RECVING = 1u << 1,	    /* a multishot recv is armed */
	CONN_F_SENDING = 1u << 2,	    /* a send is in flight */
	CONN_F_PEER_FIN = 1u << 3,	    /* the peer half-closed (recv returned 0) */
	CONN_F_CLOSING = 1u << 4,	    /* close or shutdown issued; no new work */
	CONN_F_PAUSED = 1u << 5,	    /* recv stopped for backpressure */
	CONN_F_NOBUFS = 1u << 6,	    /* recv ended by ENOBUFS; re-arm when buffers return */
	CONN_F_SHUT_WR = 1u << 7,	    /* our FIN was sent (shutdown SHUT_WR) */
	CONN_F_CANCELING = 1u << 8,	    /* a cancel for the recv is in flight */
	CONN_F_ERROR = 1u << 9,		    /* reset or error: no graceful FIN exchange */
	CONN_F_CLOSE_AFTER_SEND = 1u << 10, /* protocol asked to close once output drains */
	CONN_F_UPSTREAM = 1u << 11,	    /* proxy: this side is the upstream connection */
	CONN_F_DEAD = 1u << 12, /* close issued: the slot is released when inflight is 0 */
	CONN_F_LINGER =
		1u << 13, /* close first with shutdown + lingering read, not a plain close */
	CONN_F_SHUT_PENDING = 1u << 14,	  /* a shutdown is in flight: no close until it completes */
	CONN_F_CLOSE_DEFERRED = 1u << 15, /* a close waits for that shutdown */
};

struct conn {
	uint32_t gen;
	uint32_t next_free;
	int32_t fd;	    /* fixed-file index (direct descriptor) or process fd */
	uint16_t inflight;  /* operations in flight for this slot */
	uint8_t state;	    /* enum tcp_state, changed only by conn_event() */
	uint8_t mode_state; /* small per-protocol state */
	uint32_t flags;	    /* enum conn_flag */
	/*
	 * Received buffers not yet consumed, oldest first: a chain of buffer ids
	 * linked through the shard's buffer table (struct bufring's next[]), so
	 * a connection can hold any number without a per-connection array.
	 */
	uint16_t in_head;
	uint16_t in_tail;
	uint32_t in_count;
	uint32_t in_off;	 /* bytes of the head buffer already consumed */
	uint32_t peer;		 /* proxy: slot of the other side, or UINT32_MAX */
	uint64_t last_active_ms; /* for idle timeouts */
	/* Protocol-private state (HTTP parser, pending responses, ...). */
	union {
		uint8_t bytes[64];
		uint64_t align;
	} proto;
};

_Static_assert(sizeof(struct conn) <= 128, "struct conn stays within two cache lines");

struct conn_slab {
	struct conn *conns;
	uint32_t cap;
	uint32_t used;
	uint32_t free_head; /* UINT32_MAX when the free list is empty */
	uint32_t high_water;
	uint64_t bytes; /* size of the mapping */
};

int conn_slab_init(struct conn_slab *s, uint32_t cap);
void conn_slab_destroy(struct conn_slab *s);

/* A zeroed connection in state CLOSED with a fresh generation, or NULL when full. */
struct conn *conn_alloc(struct conn_slab *s);
/* Returns a slot to the free list and bumps its generation. Requires inflight == 0. */
void conn_free(struct conn_slab *s, struct conn *c);

static inline uint32_t conn_slot(const struct conn_slab *s, const struct conn *c)
{
	return (uint32_t)(c - s->conns);
}

/* The live connection at slot with generation gen, or NULL if stale or free. */
struct conn *conn_lookup(struct conn_slab *s, uint32_t slot, uint32_t gen);

/*
 * Moves c through the TCP state machine and keeps the per-state gauge in st
 * (may be NULL). Returns 0, or -EINVAL (state unchanged, st->illegal counted)
 * when the table refuses the move.
 */
int conn_event(struct conn *c, enum tcp_event ev, struct stats *st);

/* Sets the initial state of a fresh connection (CLOSED) and counts it in the gauge. */
void conn_track(struct conn *c, struct stats *st);
/* Removes c from the gauge (on free). */
void conn_untrack(struct conn *c, struct stats *st);

static inline uint32_t conn_inq_len(const struct conn *c)
{
	return c->in_count;
}

#endif
