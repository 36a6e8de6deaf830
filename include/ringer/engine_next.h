/* SPDX-License-Identifier: MIT */
#ifndef RINGER_ENGINE_NEXT_H
#define RINGER_ENGINE_NEXT_H

#include <stdbool.h>
#include <stdint.h>

/*
 * "What does this connection do next": the engine's one decision, as a pure
 * function of a connection's flags (conn.h: rx, tx, life) and four facts
 * about its queues, so a unit test can walk every combination the way
 * tcp_state's table is walked.
 *
 * The engine applies one action, which changes the flags, and asks again
 * until the answer is NEXT_NONE: every action changes what it was decided
 * from, so the loop ends (tests/unit/test_engine_next.c checks that too).
 */
struct next_in {
	uint16_t rx;	 /* enum conn_rx */
	uint16_t tx;	 /* enum conn_tx */
	uint16_t life;	 /* enum conn_life */
	bool in_queued;	 /* received input not yet consumed */
	bool in_full;	 /* ... as many buffers as a connection may hold (pause) */
	bool in_low;	 /* ... few enough to resume after a pause */
	bool out_queued; /* output waiting to be sent (forwarded buffers or a span) */
};

enum next_action {
	NEXT_NONE,	  /* wait for a completion or a call from the mode */
	NEXT_SEND,	  /* start a send from the output queue */
	NEXT_SENT,	  /* tell the mode the bytes it gave have all gone out */
	NEXT_READABLE,	  /* show the mode its new input */
	NEXT_EOF,	  /* tell the mode the peer sent its FIN */
	NEXT_DROP_INPUT,  /* closing, and the mode left input behind: drop it */
	NEXT_SHUTDOWN,	  /* send our FIN: shutdown(SHUT_WR) */
	NEXT_CLOSE,	  /* close the socket (plain: our FIN if not sent yet) */
	NEXT_PAUSE_RECV,  /* cancel the armed recv: backpressure */
	NEXT_MARK_PAUSED, /* input full and no recv armed: stay off until it is low */
	NEXT_ARM_RECV,	  /* arm a multishot recv */
	NEXT_ACTION_COUNT,
};

enum next_action engine_next(const struct next_in *in);
const char *engine_next_name(enum next_action a);

#endif
