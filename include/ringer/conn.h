/* SPDX-License-Identifier: MIT */
#ifndef RINGER_CONN_H
#define RINGER_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "ringer/stats.h"
#include "ringer/tcp_state.h"
#include "ringer/wheel.h"

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

/*
 * A connection's flags, kept apart by owner (HAProxy's habit): what the
 * receive side, the send side and the lifecycle each asked for and what was
 * done, so an asynchronous action in flight is never mistaken for a finished
 * one. Only the engine (src/engine/) writes them; modes ask through its API.
 */
enum conn_rx {
	CONN_RX_ARMED = 1u << 0,      /* a multishot recv is armed */
	CONN_RX_CANCELING = 1u << 1,  /* a cancel of that recv is in flight */
	CONN_RX_NOBUFS = 1u << 2,     /* ended by ENOBUFS: waits on the starved list */
	CONN_RX_PAUSED = 1u << 3,     /* own input queue full: resume when it is short again */
	CONN_RX_BLOCKED = 1u << 4,    /* the destination of forwarded input is full */
	CONN_RX_EOF = 1u << 5,	      /* the peer's FIN arrived (recv returned 0) */
	CONN_RX_EOF_NOTIFY = 1u << 6, /* ... and the mode has not been told yet */
	CONN_RX_NOTIFY = 1u << 7,     /* input arrived since the mode last looked */
	CONN_RX_DISCARD = 1u << 8,    /* lingering after our FIN: input is dropped */
};

enum conn_tx {
	CONN_TX_SENDING = 1u << 0,	 /* a send is in flight */
	CONN_TX_SENT_NOTIFY = 1u << 1,	 /* the mode's bytes all went out; tell it */
	CONN_TX_SHUT_WANTED = 1u << 2,	 /* send our FIN once output has drained */
	CONN_TX_SHUT_INFLIGHT = 1u << 3, /* a shutdown(SHUT_WR) is in flight */
	CONN_TX_SHUT_DONE = 1u << 4,	 /* our FIN is out (by shutdown or by close) */
	CONN_TX_TLS_OWN = 1u << 5,	 /* the send in flight holds only TLS's own records */
};

enum conn_life {
	CONN_L_USED = 1u << 0,	       /* slot is allocated */
	CONN_L_FIXED = 1u << 1,	       /* fd is a direct descriptor (fixed-file slot) */
	CONN_L_CONNECTING = 1u << 2,   /* outbound: socket or connect in flight */
	CONN_L_CLOSE_WANTED = 1u << 3, /* close once output (and input) is done */
	CONN_L_LINGER = 1u << 4,       /* ... by shutdown and a lingering read, not a plain close */
	CONN_L_DEAD = 1u << 5,	       /* close issued: the slot is freed when inflight is 0 */
	CONN_L_CLOSE_DEFERRED = 1u << 6, /* the close waits for a shutdown in flight */
	CONN_L_KICKING = 1u << 7,	 /* the engine is deciding for it (no re-entry) */
	CONN_L_RESET = 1u << 8,		 /* closed abortively (RST) */
	CONN_L_DRAIN = 1u << 9,		 /* graceful stop: FIN once the peer has gone quiet */
	CONN_L_OUTQ = 1u << 10,		 /* asking the kernel whether our FIN was acknowledged */
	CONN_L_PREAMBLE = 1u << 11,	 /* accepted, waiting for its PROXY protocol header */
	CONN_L_HANDSHAKE = 1u << 12,	 /* accepted, its TLS handshake not finished yet */
	CONN_L_DRAIN_QUIET = 1u << 13,	 /* draining and found quiet once: FIN if still so later */
};

enum conn_side {
	CONN_SIDE_CLIENT,   /* accepted from a listener */
	CONN_SIDE_UPSTREAM, /* connected out by the engine */
	CONN_SIDE_COUNT,
};

struct conn {
	uint32_t gen;
	uint32_t link;	   /* free list, or the engine's list of buffer-starved connections */
	int32_t fd;	   /* fixed-file index (direct descriptor) or process fd */
	uint16_t inflight; /* operations in flight for this slot */
	uint8_t state;	   /* enum tcp_state, changed only by conn_event() */
	uint8_t side;	   /* enum conn_side */
	uint16_t rx;	   /* enum conn_rx */
	uint16_t tx;	   /* enum conn_tx */
	uint16_t life;	   /* enum conn_life */
	/*
	 * Buffers are chained through the buffer table (struct bufring's
	 * next[]), so a connection holds any number without an array. Input:
	 * received and not yet consumed, oldest first. Output: buffers forwarded
	 * to this connection to send (from its own input, or another's), which
	 * return to the ring only when the send carrying them completes.
	 */
	uint16_t in_head;
	uint16_t in_tail;
	uint16_t out_head;
	uint16_t out_tail;
	uint16_t in_count;
	uint16_t out_count;
	uint16_t in_echo; /* bytes of input being sent back out (engine_send_input()) */
	uint32_t in_off;  /* bytes of the input head already consumed */
	uint32_t out_off; /* bytes of the output head (buffer or span) already sent */
	uint32_t out_len; /* bytes of the span given to engine_send() */
	uint32_t feeder;  /* slot whose receive waits for our output to drain, or UINT32_MAX */
	uint32_t slot;	  /* own index in the slab (= conn_slot()), for conn_event()'s probe */
	const uint8_t *out_ptr;	 /* the span given to engine_send(), or NULL */
	uint32_t last_active_ms; /* engine clock, for idle and linger timeouts (wraps in 49 days) */
	uint32_t deadline_ms;	 /* a mode's deadline on the engine clock, or 0 */
	struct wheel_node timer; /* on the engine's wheel at its next timeout (engine.c) */
	uint8_t lsn;		 /* the engine's listener it belongs to (engine.h) */
	/* Mode-private state (HTTP parser, pending responses, the proxy's pair, ...). */
	union {
		uint8_t bytes[56];
		uint64_t align;
	} proto;
};

/*
 * 144 bytes: two cache lines of fields and mode state, and the timer's
 * 12-byte node. Every byte counts a million times over (the aim is at
 * most 256 bytes of user memory per connection, buffers aside).
 */
_Static_assert(sizeof(struct conn) == 144, "struct conn is 144 bytes");

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
 * when the table refuses the move. Every move fires ringer:tcp_transition (trace.h).
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

/* The mode's private bytes of c. */
static inline void *conn_mode(struct conn *c)
{
	return c->proto.bytes;
}

#endif
