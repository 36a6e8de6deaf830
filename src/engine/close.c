// SPDX-License-Identifier: MIT
/*
 * The end of a connection: our FIN (a shutdown, or a close), the close or
 * reset with the cancels of whatever is still in flight ahead of it, the
 * completions of all of those, and the release of the slot once nothing is
 * in flight any more.
 */
#include "engine_int.h"

#include <errno.h>

#include "ringer/mode.h"
#include "ringer/trace.h"

static void release(struct engine *e, struct conn *c)
{
	int how = trace_close_how(c); /* before the move to CLOSED below */

	/* An accepted connection the mode never heard of (PROXY header, TLS handshake). */
	bool unknown = (c->life & CONN_L_PREAMBLE) ||
		       ((c->life & CONN_L_HANDSHAKE) && c->side == CONN_SIDE_CLIENT);

	if (!unknown)
		ENG_CALL(e, c, closed);
	if (e->tlsc)
		eng_tls_release(e, c);
	while (c->in_count)
		eng_pop_input(e, c);
	/* Nothing is in flight any more, so no send still reads these. */
	while (c->out_count)
		eng_pop_output(e, c);
	if (c->rx & CONN_RX_NOBUFS)
		eng_nobufs_unlink(e, c);
	switch (c->state) {
	case TCPS_LAST_ACK:
		conn_event(c, TCP_EV_RCV_ACK, e->stats);
		break;
	case TCPS_TIME_WAIT:
		/* The kernel keeps TIME_WAIT for 2MSL; our part of the connection ends here. */
		conn_event(c, TCP_EV_TIMEOUT, e->stats);
		break;
	default:
		/*
		 * CLOSED after a reset or a failed connect, or FIN_WAIT_1/2 or
		 * CLOSING after a plain close: the kernel finishes that exchange.
		 */
		break;
	}
	eng_wake_feeder(e, c);
	wheel_cancel(&e->timers, c->slot);
	if (c->side == CONN_SIDE_CLIENT) {
		e->clients--;
		eng_lst(e, c)->clients--;
	}
	conn_untrack(c, e->stats);
	STAT_INC(e->stats, closed);
	TRACE_CLOSE(c->slot, c->gen, how);
	conn_free(&e->slab, c);
}

void eng_maybe_release(struct engine *e, struct conn *c)
{
	if ((c->life & CONN_L_DEAD) && c->inflight == 0 && !(c->life & CONN_L_KICKING))
		release(e, c);
}

static void cancel_op(struct engine *e, struct conn *c, unsigned op)
{
	if (ring_cancel(e->ring, conn_ud(e, c, op), conn_ud(e, c, UD_OP_CANCEL)) == 0)
		c->inflight++;
	else
		STAT_INC(e->stats, errors);
}

/* Our FIN goes out (by shutdown or by close): ESTABLISHED -> FIN_WAIT_1, CLOSE_WAIT -> LAST_ACK. */
static void our_fin(struct engine *e, struct conn *c)
{
	if (c->state == TCPS_ESTABLISHED || c->state == TCPS_CLOSE_WAIT)
		conn_event(c, TCP_EV_CLOSE, e->stats);
}

void eng_issue_close(struct engine *e, struct conn *c, bool reset)
{
	int ret;

	c->life |= CONN_L_DEAD;
	/*
	 * IORING_OP_SHUTDOWN runs on an io-wq worker, which looks the direct
	 * descriptor up only when it runs. Closing the slot before then would let
	 * multishot accept hand it to a new connection, and the late shutdown
	 * would send that stranger our FIN. So a close waits for the shutdown.
	 */
	if (c->tx & CONN_TX_SHUT_INFLIGHT) {
		c->life |= CONN_L_CLOSE_DEFERRED;
		return;
	}
	if (c->fd < 0)
		return; /* an outbound socket not created yet: eng_on_socket closes it */
	/*
	 * close does not cancel in-flight requests: cancel them first. By
	 * user_data, not by fd: the kernel finds a request by user_data in a
	 * hash, while matching by fd walks every armed poll of the ring.
	 */
	if (c->rx & CONN_RX_ARMED)
		cancel_op(e, c, UD_OP_RECV);
	if (c->tx & CONN_TX_SENDING)
		cancel_op(e, c, UD_OP_SEND);
	if (c->life & CONN_L_CONNECTING)
		cancel_op(e, c, UD_OP_CONNECT);
	if (reset && conn_fixed(c) && e->sockopt_cmd) {
		ret = ring_close_reset(e->ring, c->fd, true, conn_ud(e, c, UD_OP_SOCKOPT),
				       conn_ud(e, c, UD_OP_CLOSE));
		if (ret == 0) {
			c->inflight += 2;
			return;
		}
	} else if (reset && !conn_fixed(c)) {
		static const struct linger rst = {.l_onoff = 1, .l_linger = 0};

		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &rst, sizeof(rst));
	}
	if (ring_close(e->ring, c->fd, conn_fixed(c), conn_ud(e, c, UD_OP_CLOSE)) == 0)
		c->inflight++;
	else
		STAT_INC(e->stats, errors);
}

/* The peer reset, an operation failed, or a timeout ran out: -> CLOSED, and close. */
void eng_abort_conn(struct engine *e, struct conn *c)
{
	if (c->life & CONN_L_DEAD)
		return;
	if (c->state != TCPS_CLOSED)
		conn_event(c, TCP_EV_RCV_RST, e->stats);
	eng_issue_close(e, c, false);
}

/* A close the decision asked for (plain, or the end of a linger). */
void eng_do_close(struct engine *e, struct conn *c)
{
	if (!(c->tx & CONN_TX_SHUT_DONE))
		our_fin(e, c);
	c->tx |= CONN_TX_SHUT_DONE;
	eng_issue_close(e, c, false);
}

void eng_do_shutdown(struct engine *e, struct conn *c)
{
	our_fin(e, c);
	if (ring_shutdown(e->ring, c->fd, conn_fixed(c), SHUT_WR, conn_ud(e, c, UD_OP_SHUTDOWN))) {
		STAT_INC(e->stats, errors);
		eng_abort_conn(e, c);
		return;
	}
	c->inflight++;
	c->tx |= CONN_TX_SHUT_INFLIGHT;
	if (c->life & CONN_L_LINGER) {
		/* Lingering: read and drop until the peer's FIN, for at most LINGER_MS. */
		c->rx |= CONN_RX_DISCARD;
		c->last_active_ms = now32(e);
		timer_at(e, c, c->last_active_ms + LINGER_MS + 1);
	}
}

/*
 * FIN_WAIT_1 -> FIN_WAIT_2: the kernel sees the peer's ACK of our FIN, we do
 * not; SIOCOUTQ says it (our FIN counts as a byte of the send queue until it
 * is acknowledged). Asked when the shutdown completes and then every
 * OUTQ_POLL_MS by the connection's timer while it stays in FIN_WAIT_1.
 */
void eng_ask_fin_acked(struct engine *e, struct conn *c)
{
	if (c->state != TCPS_FIN_WAIT_1 || !conn_fixed(c) || !e->sockopt_cmd ||
	    (c->life & (CONN_L_OUTQ | CONN_L_DEAD)))
		return;
	if (ring_outq(e->ring, c->fd, true, conn_ud(e, c, UD_OP_OUTQ)))
		return;
	c->inflight++;
	c->life |= CONN_L_OUTQ;
}

void eng_on_outq(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->inflight--;
	c->life &= ~CONN_L_OUTQ;
	if (cqe->res == 0 && c->state == TCPS_FIN_WAIT_1 && !(c->life & CONN_L_DEAD))
		conn_event(c, TCP_EV_RCV_ACK, e->stats);
	eng_maybe_release(e, c);
}

void eng_on_shutdown(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->inflight--;
	c->tx = (c->tx & ~CONN_TX_SHUT_INFLIGHT) | CONN_TX_SHUT_DONE;
	if (c->life & CONN_L_CLOSE_DEFERRED) {
		c->life &= ~CONN_L_CLOSE_DEFERRED;
		eng_issue_close(e, c, c->life & CONN_L_RESET);
		return;
	}
	if (c->life & CONN_L_DEAD) {
		eng_maybe_release(e, c);
		return;
	}
	if (cqe->res < 0) {
		/* ENOTCONN: the peer reset meanwhile. */
		STAT_INC(e->stats, resets);
		eng_abort_conn(e, c);
		return;
	}
	eng_ask_fin_acked(e, c);
	if (fin_polled(e, c))
		timer_at(e, c, now32(e) + OUTQ_POLL_MS);
	eng_kick(e, c);
	eng_maybe_release(e, c);
}

void eng_on_done(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->inflight--;
	if (ud_op(cqe->user_data) == UD_OP_CANCEL)
		c->rx &= ~CONN_RX_CANCELING;
	eng_maybe_release(e, c);
}

void eng_on_close(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->inflight--;
	if (cqe->res == -ECANCELED && (c->life & CONN_L_RESET)) {
		/* The SO_LINGER before it failed, which cancelled this linked close: close plainly. */
		if (ring_close(e->ring, c->fd, conn_fixed(c), conn_ud(e, c, UD_OP_CLOSE)) == 0) {
			c->inflight++;
			return;
		}
	}
	if (cqe->res < 0 && cqe->res != -ECANCELED)
		STAT_INC(e->stats, errors);
	eng_maybe_release(e, c);
}

void eng_on_sockopt(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->inflight--;
	if (cqe->res < 0 && cqe->res != -ECANCELED)
		STAT_INC(e->stats, errors);
	eng_maybe_release(e, c);
}
