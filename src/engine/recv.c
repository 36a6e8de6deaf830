// SPDX-License-Identifier: MIT
/*
 * Receiving: a connection's multishot recv armed, paused and re-armed, the
 * buffers each completion carries queued as the connection's input, and the
 * peer's FIN. Every receive draws on one buffer pool, shared as below.
 */
#include "engine_int.h"

#include <errno.h>

/* ---- buffers ------------------------------------------------------------------------------ */

/*
 * One receive-buffer pool serves every connection of the ring, so one peer
 * must never take more than its share, and peers that stop reading must not
 * starve the rest:
 *
 *  - a connection queues at most hold_max buffers (a 32nd of the pool, 2 to
 *    PAUSE_AT): its input, or the output of the connection it feeds;
 *  - each armed recv may take only a few: its byte limit (kernel 6.16+)
 *    shrinks with the free buffers left above the reserve, down to one;
 *  - below the reserve (a quarter of the pool), a connection with output
 *    queued (its peer is slow to read, or stopped) does not receive, and a
 *    feeder pauses as soon as its destination has output queued. Only
 *    connections that hold nothing take buffers then, one per arm, so new
 *    and well-behaved connections always make progress;
 *  - buffers held by a peer that never reads come back at --send-timeout,
 *    or, while the pool runs dry (free below an eighth of the reserve),
 *    once its send has not moved for STARVED_SEND_MS: more stalled peers
 *    than buffers would otherwise starve everyone until the send timeout.
 *
 * A connection that stopped receiving under pressure receives again when
 * its send completes (its output drained) or its destination's does.
 * Input a connection is sending back out (engine_send_input) counts as
 * output queued: it stays in the input chain, so the same share bounds it.
 */
/* Buffers the next recv arm may take: fewer as the pool empties. */
static uint32_t arm_budget(const struct engine *e)
{
	uint32_t free_bufs = bufs_free(e), n;

	if (free_bufs <= e->reserve)
		return 1;
	n = (free_bufs - e->reserve) / 16;
	return n < 1 ? 1 : n > e->hold_max ? e->hold_max : n;
}

void eng_pop_input(struct engine *e, struct conn *c)
{
	uint16_t bid = c->in_head;

	c->in_head = e->bufs.next[bid];
	c->in_count--;
	c->in_off = 0;
	bufring_put(&e->bufs, bid);
}

void eng_pop_output(struct engine *e, struct conn *c)
{
	uint16_t bid = c->out_head;

	c->out_head = e->bufs.next[bid];
	c->out_count--;
	c->out_off = 0;
	bufring_put(&e->bufs, bid);
}

/* c's output drained far enough: the connection feeding it may receive again. */
void eng_wake_feeder(struct engine *e, struct conn *c)
{
	struct conn *f;

	if (c->feeder == NO_SLOT)
		return;
	f = &e->slab.conns[c->feeder];
	c->feeder = NO_SLOT;
	if (!(f->life & CONN_L_USED) || !(f->rx & CONN_RX_BLOCKED))
		return;
	f->rx &= ~CONN_RX_BLOCKED;
	eng_kick(e, f);
}

/* ---- receive ------------------------------------------------------------------------------ */

void eng_arm_recv(struct engine *e, struct conn *c)
{
	if (ring_recv_multishot(e->ring, c->fd, conn_fixed(c), e->bufs.bgid,
				arm_budget(e) * e->bufs.buf_size, e->bundle,
				conn_ud(e, c, UD_OP_RECV))) {
		STAT_INC(e->stats, errors);
		eng_abort_conn(e, c);
		return;
	}
	c->rx = (c->rx | CONN_RX_ARMED) & ~CONN_RX_PAUSED;
	c->inflight++;
}

/* Backpressure: stop taking input until what is held has been worked through. */
void eng_pause_recv(struct engine *e, struct conn *c)
{
	c->rx |= CONN_RX_PAUSED | CONN_RX_CANCELING;
	if (ring_cancel(e->ring, conn_ud(e, c, UD_OP_RECV), conn_ud(e, c, UD_OP_CANCEL))) {
		STAT_INC(e->stats, errors);
		return;
	}
	c->inflight++;
	STAT_INC(e->stats, paused);
}

static void nobufs_push(struct engine *e, struct conn *c)
{
	if (c->rx & CONN_RX_NOBUFS)
		return;
	c->rx |= CONN_RX_NOBUFS;
	c->link = e->nobufs_head;
	e->nobufs_head = conn_slot(&e->slab, c);
}

void eng_nobufs_unlink(struct engine *e, struct conn *c)
{
	uint32_t slot = conn_slot(&e->slab, c), *link = &e->nobufs_head;

	while (*link != LIST_END) {
		if (*link == slot) {
			*link = c->link;
			break;
		}
		link = &e->slab.conns[*link].link;
	}
	c->rx &= ~CONN_RX_NOBUFS;
}

/*
 * A multishot recv that ran out of provided buffers has ended; re-arm the
 * starved connections as buffers come back, as many as those buffers can
 * serve (each arm counted at its budget), never in a spin. A connection
 * that may not receive under pressure leaves the list paused instead; its
 * send completing resumes it.
 */
void eng_nobufs_wake(struct engine *e)
{
	uint32_t free_bufs = bufs_free(e);

	while (e->nobufs_head != LIST_END && free_bufs) {
		struct conn *c = &e->slab.conns[e->nobufs_head];
		uint32_t budget = arm_budget(e);

		e->nobufs_head = c->link;
		c->rx &= ~CONN_RX_NOBUFS;
		eng_enter(e, c->lsn);
		eng_kick(e, c);
		if (c->rx & CONN_RX_ARMED) {
			STAT_INC(e->stats, recv_rearms);
			free_bufs = free_bufs > budget ? free_bufs - budget : 0;
		}
	}
}

static void on_peer_fin(struct engine *e, struct conn *c)
{
	enum tcp_event ev = TCP_EV_RCV_FIN;

	bool tls = eng_tls_on(e, c) && !(c->life & CONN_L_PREAMBLE);

	if (c->rx & CONN_RX_EOF)
		return;
	/*
	 * TLS: the TCP FIN ends the ciphertext; the mode hears the end of the
	 * plaintext from the read pass (close_notify, or a truncation).
	 */
	c->rx |= CONN_RX_EOF | (tls ? 0 : CONN_RX_EOF_NOTIFY);
	if (tls)
		eng_tls_raw_eof(e, c);
	/*
	 * Our FIN went out before theirs arrived: the peer read it before closing,
	 * so its FIN acknowledges ours (FIN_WAIT_1 -> TIME_WAIT).
	 */
	if (c->state == TCPS_FIN_WAIT_1)
		ev = TCP_EV_RCV_FIN_ACK;
	if (conn_event(c, ev, e->stats)) {
		eng_abort_conn(e, c);
		return;
	}
	eng_kick(e, c);
}

/*
 * The buffers a recv CQE carries, in order: one, or with a bundle as many as
 * its bytes filled (each full but the last), which are the ring entries
 * following the first. Returns how many; each is counted as taken.
 */
unsigned eng_cqe_buffers(struct engine *e, const struct io_uring_cqe *cqe, uint16_t *bids)
{
	int bid = bufring_cqe_bid(cqe);
	unsigned n = 1;

	if (bid < 0)
		return 0;
	if (e->bundle)
		n = bufring_bundle_count(&e->bufs, cqe->res);
	if (n > PAUSE_AT * 2)
		n = PAUSE_AT * 2; /* an arm's byte limit keeps it to PAUSE_AT */
	for (unsigned i = 0; i < n; i++) {
		bids[i] = i ? bufring_bundle_bid(&e->bufs, (uint16_t)bid, i) : (uint16_t)bid;
		bufring_take(&e->bufs);
	}
	return n;
}

void eng_on_recv(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	uint16_t bids[PAUSE_AT * 2];
	unsigned nb = eng_cqe_buffers(e, cqe, bids);
	int res = cqe->res;

	STAT_INC(e->stats, recv_cqes);
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		c->rx &= ~CONN_RX_ARMED;
		c->inflight--;
	}
	if (res > 0 && nb) {
		uint32_t left = (uint32_t)res;

		STAT_ADD(e->stats, bytes_in, (uint64_t)res);
		if (e->info)
			info_add(&e->info[conn_slot(&e->slab, c)].bytes_in, res);
		c->last_active_ms = now32(e);
		for (unsigned i = 0; i < nb; i++) {
			uint16_t bid = bids[i];
			uint32_t len = left < e->bufs.buf_size ? left : e->bufs.buf_size;

			left -= len;
			if (c->rx & CONN_RX_DISCARD || (c->life & CONN_L_DEAD)) {
				/* Lingering after our FIN, or tearing down: input is dropped. */
				bufring_put(&e->bufs, bid);
				continue;
			}
			/*
			 * Chain the buffer on the connection. A multishot recv may post
			 * several CQEs before a pause takes effect; the chain has room
			 * for all of them, and each arm's byte limit bounds them.
			 * TLS: it is ciphertext, chained apart for the read pass.
			 */
			if (eng_tls_on(e, c) && !(c->life & CONN_L_PREAMBLE)) {
				eng_tls_raw_in(e, c, bid, len);
				continue;
			}
			e->bufs.len[bid] = len;
			if (c->in_count++)
				e->bufs.next[c->in_tail] = bid;
			else
				c->in_head = bid;
			c->in_tail = bid;
			c->rx |= CONN_RX_NOTIFY;
		}
		eng_kick(e, c); /* also re-arms a multishot that ended on its own */
		eng_maybe_release(e, c);
		return;
	}
	for (unsigned i = 0; i < nb; i++)
		bufring_put(&e->bufs, bids[i]);
	if (c->life & CONN_L_DEAD) {
		eng_maybe_release(e, c);
		return;
	}
	if (res == 0) {
		on_peer_fin(e, c);
		eng_maybe_release(e, c);
		return;
	}
	switch (res) {
	case -ENOBUFS:
		STAT_INC(e->stats, enobufs);
		if (!(c->rx & CONN_RX_ARMED))
			nobufs_push(e, c);
		return;
	case -ECANCELED:
		/* Paused by backpressure; eng_kick() resumes when the queue is short again. */
		eng_kick(e, c);
		return;
	default:
		STAT_INC(e->stats, resets);
		eng_abort_conn(e, c);
		eng_maybe_release(e, c);
		return;
	}
}
