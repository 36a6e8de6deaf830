// SPDX-License-Identifier: MIT
/*
 * The engine's decision, in priority order:
 *
 *   1. output first: a send whenever output is queued and none is in flight
 *   2. then the mode: its bytes went out; new input; the peer's FIN (after
 *      the input that came before it)
 *   3. then endings: a close asked for waits for output (and input) to be
 *      done; a lingering close shuts down first and closes on the peer's
 *      FIN; a half-close (shutdown) waits for output; both directions
 *      finished means the connection is done
 *   4. then the receive side: arm, pause or hold
 *
 * Nothing here acts: engine.c applies the action and asks again.
 */
#include "ringer/engine_next.h"

#include "ringer/conn.h"

static const char *const names[NEXT_ACTION_COUNT] = {
	[NEXT_NONE] = "none",
	[NEXT_SEND] = "send",
	[NEXT_SENT] = "sent",
	[NEXT_READABLE] = "readable",
	[NEXT_EOF] = "eof",
	[NEXT_DROP_INPUT] = "drop_input",
	[NEXT_SHUTDOWN] = "shutdown",
	[NEXT_CLOSE] = "close",
	[NEXT_PAUSE_RECV] = "pause_recv",
	[NEXT_MARK_PAUSED] = "mark_paused",
	[NEXT_ARM_RECV] = "arm_recv",
};

const char *engine_next_name(enum next_action a)
{
	return (unsigned)a < NEXT_ACTION_COUNT ? names[a] : "?";
}

static enum next_action next_ending(const struct next_in *in, bool out_busy)
{
	uint16_t rx = in->rx, tx = in->tx, life = in->life;

	if (life & CONN_L_CLOSE_WANTED) {
		if (out_busy || (tx & CONN_TX_SHUT_INFLIGHT))
			return NEXT_NONE;
		if (in->in_queued)
			return NEXT_DROP_INPUT;
		if (!(life & CONN_L_LINGER))
			return NEXT_CLOSE;
		if (!(tx & CONN_TX_SHUT_DONE))
			return NEXT_SHUTDOWN;
		return (rx & CONN_RX_EOF) ? NEXT_CLOSE : NEXT_NONE;
	}
	if ((tx & CONN_TX_SHUT_WANTED) && !(tx & (CONN_TX_SHUT_INFLIGHT | CONN_TX_SHUT_DONE)))
		return out_busy ? NEXT_NONE : NEXT_SHUTDOWN;
	/* Both directions finished: the peer's FIN is in (and told), ours is out. */
	if ((rx & CONN_RX_EOF) && !(rx & CONN_RX_EOF_NOTIFY) && (tx & CONN_TX_SHUT_DONE) &&
	    !(tx & CONN_TX_SHUT_INFLIGHT) && !out_busy && !in->in_queued)
		return NEXT_CLOSE;
	return NEXT_NONE;
}

static enum next_action next_recv(const struct next_in *in)
{
	uint16_t rx = in->rx, life = in->life;
	bool discard = rx & CONN_RX_DISCARD;

	if (rx & CONN_RX_ARMED) {
		if (!discard && !(rx & CONN_RX_CANCELING) &&
		    (in->in_full || (rx & CONN_RX_BLOCKED)))
			return NEXT_PAUSE_RECV;
		return NEXT_NONE;
	}
	if (rx & (CONN_RX_NOBUFS | CONN_RX_EOF))
		return NEXT_NONE;
	if (discard)
		return NEXT_ARM_RECV; /* the lingering read: until the peer's FIN */
	/* On its way out (and not lingering yet): no new input. */
	if ((life & CONN_L_CLOSE_WANTED) || (rx & CONN_RX_BLOCKED))
		return NEXT_NONE;
	if (in->in_full)
		return (rx & CONN_RX_PAUSED) ? NEXT_NONE : NEXT_MARK_PAUSED;
	if ((rx & CONN_RX_PAUSED) && !in->in_low)
		return NEXT_NONE;
	return NEXT_ARM_RECV;
}

enum next_action engine_next(const struct next_in *in)
{
	uint16_t rx = in->rx, tx = in->tx, life = in->life;
	bool out_busy = in->out_queued || (tx & CONN_TX_SENDING);
	enum next_action a;

	if (!(life & CONN_L_USED) || (life & (CONN_L_DEAD | CONN_L_CONNECTING)))
		return NEXT_NONE;
	if (in->out_queued && !(tx & (CONN_TX_SENDING | CONN_TX_SHUT_INFLIGHT | CONN_TX_SHUT_DONE)))
		return NEXT_SEND;
	if (tx & CONN_TX_SENT_NOTIFY)
		return NEXT_SENT;
	if ((rx & CONN_RX_NOTIFY) && in->in_queued && !(rx & CONN_RX_DISCARD))
		return NEXT_READABLE;
	if ((rx & CONN_RX_EOF_NOTIFY) && !(life & CONN_L_CLOSE_WANTED) &&
	    !((rx & CONN_RX_NOTIFY) && in->in_queued))
		return NEXT_EOF;
	a = next_ending(in, out_busy);
	if (a != NEXT_NONE)
		return a;
	return next_recv(in);
}
