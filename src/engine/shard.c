// SPDX-License-Identifier: MIT
/*
 * The shard: one thread, one ring, and the life of every connection on it.
 *
 * The loop is a short list of phases (libuv's habit):
 *
 *   submit + wait (the one syscall) -> reap every CQE -> dispatch by op
 *   -> publish returned buffers -> wake connections that starved for them
 *
 * and a 100 ms tick (one multishot timeout) drives everything time-based:
 * accept back-off, idle and linger timeouts, the drain deadline and the
 * protocols' once-a-second work.
 *
 * A connection's life, and which function drives each TCP edge:
 *
 *   on_accept      CLOSED -> LISTEN -> SYN_RCVD -> ESTABLISHED  (kernel did the handshake)
 *   on_recv(0)     ESTABLISHED -> CLOSE_WAIT, or FIN_WAIT_1/2 -> TIME_WAIT
 *   finish_close   CLOSE_WAIT -> LAST_ACK (close), TIME_WAIT: close
 *   start_shutdown ESTABLISHED -> FIN_WAIT_1 (we close first: drain, idle, Connection: close)
 *   shard_abort    any -> CLOSED (reset, error, or a timeout ran out)
 *   release        LAST_ACK -> CLOSED, TIME_WAIT -> CLOSED; the slot is freed
 *
 * Closing is a state, not a free: close does not cancel in-flight
 * operations, so we cancel the socket's operations first, then close, and
 * return the slot to the slab only when its in-flight count reaches zero.
 */
#include "ringer/shard.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ringer/user_data.h"

#define TICK_MS		100
#define PAUSE_AT	8    /* queued input buffers at which recv pauses */
#define RESUME_AT	2    /* ... and resumes */
#define NOBUFS_RESERVE	16   /* free buffers needed before a starved recv is re-armed */
#define LINGER_MS	5000 /* after our FIN, how long we wait for the peer's */
#define FILE_SLOT_EXTRA 64   /* fixed-file slots beyond max-conns, to refuse cleanly */
#define NO_SLOT		UD_SLOT_MAX
#define LIST_END	UINT32_MAX

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline uint64_t conn_ud(struct shard *s, struct conn *c, unsigned op)
{
	return ud_encode(op, c->gen, conn_slot(&s->slab, c));
}

static void kick(struct shard *s, struct conn *c);

/* ---- receive ---------------------------------------------------------------------------- */

static void arm_recv(struct shard *s, struct conn *c)
{
	if (ring_recv_multishot(&s->ring, c->fd, s->direct, s->bufs.bgid,
				PAUSE_AT * s->bufs.buf_size, conn_ud(s, c, UD_OP_RECV))) {
		STAT_INC(&s->stats, errors);
		return;
	}
	c->flags |= CONN_F_RECVING;
	c->inflight++;
}

/* Backpressure: stop taking input until the protocol has worked through what it holds. */
static void pause_recv(struct shard *s, struct conn *c)
{
	if (!(c->flags & CONN_F_RECVING) || (c->flags & CONN_F_CANCELING))
		return;
	if (ring_cancel(&s->ring, conn_ud(s, c, UD_OP_RECV), conn_ud(s, c, UD_OP_CANCEL)))
		return;
	c->inflight++;
	c->flags |= CONN_F_PAUSED | CONN_F_CANCELING;
	STAT_INC(&s->stats, paused);
}

/*
 * Arms a recv where one is wanted and none is armed: always while lingering
 * after our FIN, otherwise unless backpressure still holds or the peer is done.
 */
static void ensure_recv(struct shard *s, struct conn *c)
{
	if (c->flags & (CONN_F_RECVING | CONN_F_NOBUFS | CONN_F_PEER_FIN | CONN_F_DEAD))
		return;
	if (!(c->flags & CONN_F_SHUT_WR)) {
		if (conn_inq_len(c) >= PAUSE_AT)
			c->flags |= CONN_F_PAUSED;
		if ((c->flags & CONN_F_PAUSED) && conn_inq_len(c) > RESUME_AT)
			return;
	}
	c->flags &= ~CONN_F_PAUSED;
	arm_recv(s, c);
}

static void nobufs_push(struct shard *s, struct conn *c)
{
	if (c->flags & CONN_F_NOBUFS)
		return;
	c->flags |= CONN_F_NOBUFS;
	c->next_free = s->nobufs_head;
	s->nobufs_head = conn_slot(&s->slab, c);
}

static void nobufs_unlink(struct shard *s, struct conn *c)
{
	uint32_t slot = conn_slot(&s->slab, c), *link = &s->nobufs_head;

	while (*link != LIST_END) {
		if (*link == slot) {
			*link = c->next_free;
			break;
		}
		link = &s->slab.conns[*link].next_free;
	}
	c->flags &= ~CONN_F_NOBUFS;
}

/*
 * A multishot recv that ran out of provided buffers has ended; re-arm the
 * starved connections only once enough buffers came back, never in a spin.
 */
static void nobufs_wake(struct shard *s)
{
	uint32_t free_bufs = s->bufs.count - s->bufs.outstanding;

	while (s->nobufs_head != LIST_END && free_bufs >= NOBUFS_RESERVE) {
		struct conn *c = &s->slab.conns[s->nobufs_head];

		s->nobufs_head = c->next_free;
		c->flags &= ~CONN_F_NOBUFS;
		ensure_recv(s, c);
		STAT_INC(&s->stats, recv_rearms);
		free_bufs -= NOBUFS_RESERVE / 2;
	}
}

/* ---- teardown --------------------------------------------------------------------------- */

static void release(struct shard *s, struct conn *c)
{
	if (s->proto->close)
		s->proto->close(s, c);
	while (conn_inq_len(c))
		shard_pop_buf(s, c);
	if (c->flags & CONN_F_NOBUFS)
		nobufs_unlink(s, c);
	switch (c->state) {
	case TCPS_LAST_ACK:
		conn_event(c, TCP_EV_RCV_ACK, &s->stats);
		break;
	case TCPS_TIME_WAIT:
		/* The kernel keeps TIME_WAIT for 2MSL; our part of the connection ends here. */
		conn_event(c, TCP_EV_TIMEOUT, &s->stats);
		break;
	default:
		/*
		 * CLOSED after a reset, or FIN_WAIT_1/2 or CLOSING after a plain
		 * close: the kernel finishes that exchange; our view of it ends.
		 */
		break;
	}
	conn_untrack(c, &s->stats);
	STAT_INC(&s->stats, closed);
	conn_free(&s->slab, c);
}

static void maybe_release(struct shard *s, struct conn *c)
{
	if ((c->flags & CONN_F_DEAD) && c->inflight == 0)
		release(s, c);
}

static void cancel_op(struct shard *s, struct conn *c, unsigned op)
{
	if (ring_cancel(&s->ring, conn_ud(s, c, op), conn_ud(s, c, UD_OP_CANCEL)) == 0)
		c->inflight++;
	else
		STAT_INC(&s->stats, errors);
}

static void issue_close(struct shard *s, struct conn *c)
{
	c->flags |= CONN_F_DEAD | CONN_F_CLOSING;
	/*
	 * IORING_OP_SHUTDOWN runs on an io-wq worker, which looks the direct
	 * descriptor up only when it runs. Closing the slot before then would let
	 * multishot accept hand it to a new connection, and the late shutdown
	 * would send that stranger our FIN. So a close waits for the shutdown.
	 */
	if (c->flags & CONN_F_SHUT_PENDING) {
		c->flags |= CONN_F_CLOSE_DEFERRED;
		return;
	}
	/*
	 * close does not cancel in-flight requests: cancel them first. By
	 * user_data, not by fd: the kernel finds a request by user_data in a
	 * hash, while matching by fd walks every armed poll of the ring.
	 */
	if (c->flags & CONN_F_RECVING)
		cancel_op(s, c, UD_OP_RECV);
	if (c->flags & CONN_F_SENDING)
		cancel_op(s, c, UD_OP_SEND);
	if (ring_close(&s->ring, c->fd, s->direct, conn_ud(s, c, UD_OP_CLOSE)) == 0)
		c->inflight++;
	else
		STAT_INC(&s->stats, errors);
}

void shard_abort(struct shard *s, struct conn *c)
{
	if (c->flags & CONN_F_DEAD)
		return;
	c->flags |= CONN_F_ERROR;
	if (c->state != TCPS_CLOSED)
		conn_event(c, TCP_EV_RCV_RST, &s->stats);
	issue_close(s, c);
	maybe_release(s, c);
}

/* Our side's close once the peer's FIN is in: CLOSE_WAIT -> LAST_ACK, or out of TIME_WAIT. */
static void finish_close(struct shard *s, struct conn *c)
{
	if (c->flags & CONN_F_DEAD)
		return;
	if (c->state == TCPS_CLOSE_WAIT)
		conn_event(c, TCP_EV_CLOSE, &s->stats);
	issue_close(s, c);
}

/* We close first: send our FIN and keep reading (discarding) until the peer's FIN. */
static void start_shutdown(struct shard *s, struct conn *c)
{
	if (c->flags & (CONN_F_SHUT_WR | CONN_F_DEAD))
		return;
	if (conn_event(c, TCP_EV_CLOSE, &s->stats)) {
		shard_abort(s, c);
		return;
	}
	if (ring_shutdown(&s->ring, c->fd, s->direct, SHUT_WR, conn_ud(s, c, UD_OP_SHUTDOWN))) {
		shard_abort(s, c);
		return;
	}
	c->inflight++;
	c->flags |= CONN_F_SHUT_WR | CONN_F_CLOSING | CONN_F_SHUT_PENDING;
	c->last_active_ms = s->now_ms;
	/* The lingering read needs a recv armed, even if backpressure had paused it. */
	ensure_recv(s, c);
}

/* We close first without lingering: ESTABLISHED -> FIN_WAIT_1, and the kernel takes it from there. */
static void close_now(struct shard *s, struct conn *c)
{
	if (conn_event(c, TCP_EV_CLOSE, &s->stats)) {
		shard_abort(s, c);
		return;
	}
	issue_close(s, c);
}

void shard_close_after_send(struct shard *s, struct conn *c, bool linger)
{
	c->flags |= CONN_F_CLOSE_AFTER_SEND | (linger ? CONN_F_LINGER : 0);
}

/* ---- the data path ---------------------------------------------------------------------- */

int shard_send(struct shard *s, struct conn *c, const void *buf, uint32_t len)
{
	int ret = ring_send(&s->ring, c->fd, s->direct, buf, len, MSG_NOSIGNAL | MSG_WAITALL,
			    conn_ud(s, c, UD_OP_SEND));

	if (ret)
		return ret;
	c->flags |= CONN_F_SENDING;
	c->inflight++;
	STAT_INC(&s->stats, send_ops);
	return 0;
}

void shard_pop_buf(struct shard *s, struct conn *c)
{
	uint16_t bid = c->in_head;

	c->in_head = s->bufs.next[bid];
	c->in_count--;
	c->in_off = 0;
	bufring_put(&s->bufs, bid);
}

/*
 * Let the protocol work through queued input when no send is in flight; when
 * nothing is left, either close (peer's FIN in, or a close was asked for) or
 * resume a paused recv.
 */
static void kick(struct shard *s, struct conn *c)
{
	if (c->flags & CONN_F_DEAD)
		return;
	if (!(c->flags & (CONN_F_SENDING | CONN_F_SHUT_WR)) && conn_inq_len(c))
		s->proto->process(s, c);
	if (c->flags & CONN_F_DEAD)
		return;
	if (!(c->flags & CONN_F_SENDING) && conn_inq_len(c) == 0) {
		if (c->flags & CONN_F_PEER_FIN) {
			finish_close(s, c);
			return;
		}
		if ((c->flags & CONN_F_CLOSE_AFTER_SEND) && !(c->flags & CONN_F_SHUT_WR)) {
			if (c->flags & CONN_F_LINGER)
				start_shutdown(s, c);
			else
				close_now(s, c);
			return;
		}
	}
	/*
	 * Keep receiving while a send is in flight (a multishot that reached
	 * its byte limit is re-armed here), so input and output overlap; but a
	 * connection on its way out takes no new input until it lingers.
	 */
	if (!(c->flags & CONN_F_CLOSE_AFTER_SEND) || (c->flags & CONN_F_SHUT_WR))
		ensure_recv(s, c);
}

static void on_peer_fin(struct shard *s, struct conn *c)
{
	enum tcp_event ev = TCP_EV_RCV_FIN;

	if (c->flags & CONN_F_PEER_FIN)
		return;
	c->flags |= CONN_F_PEER_FIN;
	/*
	 * Our FIN went out before theirs arrived: the peer read it before closing,
	 * so its FIN acknowledges ours (FIN_WAIT_1 -> TIME_WAIT).
	 */
	if (c->state == TCPS_FIN_WAIT_1)
		ev = TCP_EV_RCV_FIN_ACK;
	if (conn_event(c, ev, &s->stats)) {
		shard_abort(s, c);
		return;
	}
	if (c->flags & CONN_F_SHUT_WR) {
		finish_close(s, c);
		return;
	}
	kick(s, c);
}

static void on_recv(struct shard *s, struct conn *c, const struct io_uring_cqe *cqe)
{
	int bid = bufring_cqe_bid(cqe);
	int res = cqe->res;

	STAT_INC(&s->stats, recv_cqes);
	if (bid >= 0)
		bufring_take(&s->bufs);
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		c->flags &= ~CONN_F_RECVING;
		c->inflight--;
	}
	if (res > 0 && bid >= 0) {
		STAT_ADD(&s->stats, bytes_in, (uint64_t)res);
		c->last_active_ms = s->now_ms;
		if (c->flags & (CONN_F_SHUT_WR | CONN_F_DEAD)) {
			/* Lingering after our FIN, or tearing down: input is discarded. */
			bufring_put(&s->bufs, (uint16_t)bid);
		} else {
			/*
			 * Chain the buffer on the connection. A multishot recv may post
			 * several CQEs before the pause below takes effect; the chain
			 * has room for all of them, and the socket's own receive
			 * buffer bounds how many there can be.
			 */
			s->bufs.len[bid] = (uint32_t)res;
			if (c->in_count++)
				s->bufs.next[c->in_tail] = (uint16_t)bid;
			else
				c->in_head = (uint16_t)bid;
			c->in_tail = (uint16_t)bid;
			if (c->in_count >= PAUSE_AT)
				pause_recv(s, c);
		}
		kick(s, c); /* also re-arms a multishot that ended on its own */
		maybe_release(s, c);
		return;
	}
	if (bid >= 0)
		bufring_put(&s->bufs, (uint16_t)bid);
	if (c->flags & CONN_F_DEAD) {
		maybe_release(s, c);
		return;
	}
	if (res == 0) {
		on_peer_fin(s, c);
		maybe_release(s, c);
		return;
	}
	switch (res) {
	case -ENOBUFS:
		STAT_INC(&s->stats, enobufs);
		if (!(c->flags & CONN_F_RECVING))
			nobufs_push(s, c);
		return;
	case -ECANCELED:
		/* Paused by backpressure; kick() resumes when the queue is short again. */
		kick(s, c);
		return;
	default:
		STAT_INC(&s->stats, resets);
		shard_abort(s, c);
		return;
	}
}

static void on_send(struct shard *s, struct conn *c, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;

	c->inflight--;
	c->flags &= ~CONN_F_SENDING;
	if (c->flags & CONN_F_DEAD) {
		maybe_release(s, c);
		return;
	}
	if (res <= 0) {
		STAT_INC(&s->stats, resets);
		shard_abort(s, c);
		return;
	}
	STAT_ADD(&s->stats, bytes_out, (uint64_t)res);
	c->last_active_ms = s->now_ms;
	if (s->proto->sent(s, c, res) < 0) {
		shard_abort(s, c);
		return;
	}
	kick(s, c);
}

static void on_shutdown(struct shard *s, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->inflight--;
	c->flags &= ~CONN_F_SHUT_PENDING;
	if (c->flags & CONN_F_CLOSE_DEFERRED) {
		c->flags &= ~CONN_F_CLOSE_DEFERRED;
		issue_close(s, c);
		return;
	}
	if (cqe->res < 0 && !(c->flags & CONN_F_DEAD)) {
		/* ENOTCONN: the peer reset meanwhile. */
		STAT_INC(&s->stats, resets);
		shard_abort(s, c);
		return;
	}
	maybe_release(s, c);
}

static void on_cancel(struct shard *s, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->inflight--;
	c->flags &= ~CONN_F_CANCELING;
	maybe_release(s, c);
}

static void on_close(struct shard *s, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->inflight--;
	if (cqe->res < 0)
		STAT_INC(&s->stats, errors);
	maybe_release(s, c);
}

/* ---- accept ----------------------------------------------------------------------------- */

static void arm_accept(struct shard *s)
{
	if (ring_accept_multishot(&s->ring, s->listen_fd, s->direct,
				  ud_encode(UD_OP_ACCEPT, 0, NO_SLOT)) == 0)
		s->accept_armed = true;
}

/* Closes a socket that never became a connection (refused, or arrived while draining). */
static void close_unowned(struct shard *s, int fd)
{
	if (ring_close(&s->ring, fd, s->direct, ud_encode(UD_OP_CLOSE, 0, NO_SLOT)))
		STAT_INC(&s->stats, errors);
}

static void on_accept(struct shard *s, const struct io_uring_cqe *cqe)
{
	struct conn *c;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		s->accept_armed = false;
	if (cqe->res < 0) {
		if (cqe->res != -ECANCELED) {
			/* EMFILE, ENFILE (fixed table full), ENOMEM: keep serving, retry on a tick. */
			STAT_INC(&s->stats, accept_errors);
			s->accept_backoff = true;
		}
		return;
	}
	if (s->draining) {
		close_unowned(s, cqe->res);
		return;
	}
	c = conn_alloc(&s->slab);
	if (!c) {
		STAT_INC(&s->stats, refused);
		close_unowned(s, cqe->res);
	} else {
		c->fd = cqe->res;
		c->last_active_ms = s->now_ms;
		conn_track(c, &s->stats);
		conn_event(c, TCP_EV_PASSIVE_OPEN, &s->stats);
		conn_event(c, TCP_EV_RCV_SYN, &s->stats);
		conn_event(c, TCP_EV_RCV_ACK, &s->stats);
		STAT_INC(&s->stats, accepts);
		arm_recv(s, c);
		if (s->proto->open)
			s->proto->open(s, c);
	}
	if (!s->accept_armed && !s->accept_backoff) {
		arm_accept(s);
		STAT_INC(&s->stats, accept_rearms);
	}
}

/* ---- time ------------------------------------------------------------------------------- */

static void begin_drain(struct shard *s)
{
	uint32_t i;

	s->draining = true;
	s->drain_deadline_ms = s->now_ms + s->cfg->drain_ms;
	if (s->accept_armed)
		ring_cancel(&s->ring, ud_encode(UD_OP_ACCEPT, 0, NO_SLOT),
			    ud_encode(UD_OP_CANCEL, 0, NO_SLOT));
	s->accept_backoff = false;
	for (i = 0; i < s->slab.high_water; i++) {
		struct conn *c = &s->slab.conns[i];

		if ((c->flags & CONN_F_USED) && !(c->flags & CONN_F_DEAD)) {
			shard_close_after_send(s, c, true);
			kick(s, c);
		}
	}
}

/* Idle and linger timeouts: scan a tenth of the table per tick, so all of it each second. */
static void scan_timeouts(struct shard *s)
{
	uint32_t hw = s->slab.high_water, n = hw / 10 + 1, i;
	uint64_t idle = s->cfg->idle_ms;

	for (i = 0; i < n && hw; i++) {
		struct conn *c;

		if (s->idle_cursor >= hw)
			s->idle_cursor = 0;
		c = &s->slab.conns[s->idle_cursor++];
		if (!(c->flags & CONN_F_USED) || (c->flags & CONN_F_DEAD))
			continue;
		if (c->flags & CONN_F_SHUT_WR) {
			if (s->now_ms - c->last_active_ms > LINGER_MS)
				shard_abort(s, c);
		} else if (idle && s->now_ms - c->last_active_ms > idle) {
			if (c->flags & CONN_F_SENDING) {
				/* A send stalled that long: the peer stopped reading. */
				STAT_INC(&s->stats, resets);
				shard_abort(s, c);
			} else {
				shard_close_after_send(s, c, false);
				kick(s, c);
			}
		}
	}
}

static void on_tick(struct shard *s, const struct io_uring_cqe *cqe)
{
	static struct __kernel_timespec tick_ts = {.tv_nsec = TICK_MS * 1000000L};

	if (!(cqe->flags & IORING_CQE_F_MORE))
		ring_tick(&s->ring, &tick_ts, true, ud_encode(UD_OP_TICK, 0, NO_SLOT));
	if (__atomic_load_n(&s->stop_requested, __ATOMIC_ACQUIRE) && !s->draining)
		begin_drain(s);
	if (s->accept_backoff && !s->draining) {
		s->accept_backoff = false;
		if (!s->accept_armed)
			arm_accept(s);
	}
	if (s->draining && s->now_ms >= s->drain_deadline_ms) {
		for (uint32_t i = 0; i < s->slab.high_water; i++) {
			struct conn *c = &s->slab.conns[i];

			if ((c->flags & CONN_F_USED) && !(c->flags & CONN_F_DEAD))
				shard_abort(s, c);
		}
	}
	scan_timeouts(s);
	if (s->now_ms - s->last_second_ms >= 1000) {
		s->last_second_ms = s->now_ms;
		if (s->proto->tick)
			s->proto->tick(s, s->now_ms, (int64_t)time(NULL));
	}
}

/* ---- the loop --------------------------------------------------------------------------- */

typedef void (*conn_handler)(struct shard *s, struct conn *c, const struct io_uring_cqe *cqe);

/* Completions that belong to a connection, by op. */
static const conn_handler conn_handlers[UD_OP_COUNT] = {
	[UD_OP_RECV] = on_recv,	    [UD_OP_SEND] = on_send,   [UD_OP_SHUTDOWN] = on_shutdown,
	[UD_OP_CANCEL] = on_cancel, [UD_OP_CLOSE] = on_close,
};

static void dispatch(struct shard *s, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	unsigned op = ud_op(ud);
	struct conn *c;

	switch (op) {
	case UD_OP_ACCEPT:
		on_accept(s, cqe);
		return;
	case UD_OP_TICK:
		on_tick(s, cqe);
		return;
	default:
		break;
	}
	if (ud_slot(ud) == NO_SLOT)
		return; /* an unowned close or the accept cancel */
	c = conn_lookup(&s->slab, ud_slot(ud), ud_gen(ud));
	if (!c || op >= UD_OP_COUNT || !conn_handlers[op]) {
		int bid = bufring_cqe_bid(cqe);

		STAT_INC(&s->stats, stale);
		if (bid >= 0) {
			bufring_take(&s->bufs);
			bufring_put(&s->bufs, (uint16_t)bid);
		}
		return;
	}
	conn_handlers[op](s, c, cqe);
}

static bool loop_done(const struct shard *s)
{
	return s->draining && s->slab.used == 0 && !s->accept_armed;
}

static void run_loop(struct shard *s)
{
	static struct __kernel_timespec tick_ts = {.tv_nsec = TICK_MS * 1000000L};
	unsigned overflow_seen = ring_cq_overflow(&s->ring);

	s->now_ms = mono_ms();
	s->last_second_ms = s->now_ms;
	ring_tick(&s->ring, &tick_ts, true, ud_encode(UD_OP_TICK, 0, NO_SLOT));
	arm_accept(s);

	while (!loop_done(s)) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0, ov;
		int ret;

		ret = ring_submit_and_wait(&s->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -ETIME && ret != -EAGAIN && ret != -EBUSY)
			STAT_INC(&s->stats, errors);
		s->now_ms = mono_ms();
		ring_for_each_cqe(&s->ring, head, cqe)
		{
			dispatch(s, cqe);
			n++;
		}
		ring_cq_advance(&s->ring, n);
		bufring_flush(&s->bufs);
		if (s->nobufs_head != LIST_END)
			nobufs_wake(s);
		STAT_INC(&s->stats, loops);
		STAT_ADD(&s->stats, cqes, n);
		ov = ring_cq_overflow(&s->ring);
		if (ov != overflow_seen) {
			STAT_ADD(&s->stats, cq_overflow, ov - overflow_seen);
			overflow_seen = ov;
		}
	}
}

/* ---- setup ------------------------------------------------------------------------------ */

static int shard_setup(struct shard *s)
{
	char note[128];
	unsigned slots, cap, headroom;
	int ret;

	if (s->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(s->cpu, &set);
		/* A refusal (e.g. a cpuset that changed) costs locality, not correctness. */
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	ret = ring_init(&s->ring, s->cfg->ring_entries, 4, note, sizeof(note));
	if (ret)
		return ret;
	ret = bufring_init(&s->bufs, &s->ring, 0, s->cfg->buf_count, s->cfg->buf_size);
	if (ret)
		goto out_ring;
	/*
	 * Direct descriptors: accepted sockets live in the ring's fixed-file
	 * table only. The table has room beyond the connection limit, so a
	 * connection over the limit can still be accepted and closed with a FIN;
	 * a full table makes the kernel drop the accepted socket with a RST. When
	 * the descriptor limit keeps the table small, the connection limit
	 * shrinks to keep that headroom, and the note says so.
	 */
	cap = s->cfg->max_conns;
	slots = cap + FILE_SLOT_EXTRA;
	if (s->file_slots && slots > s->file_slots) {
		slots = s->file_slots;
		headroom = slots / 2 < FILE_SLOT_EXTRA ? slots / 2 : FILE_SLOT_EXTRA;
		cap = slots - headroom;
		if (cap < 1)
			cap = 1;
	}
	s->direct = ring_register_files_sparse(&s->ring, slots) == 0;
	if (!s->direct)
		cap = s->cfg->max_conns; /* plain fds: EMFILE leaves connections in the backlog */
	ret = conn_slab_init(&s->slab, cap);
	if (ret)
		goto out_bufs;
	s->nobufs_head = LIST_END;
	snprintf(s->start_note, sizeof(s->start_note), "shard %u cpu %d: %s%s", s->id, s->cpu, note,
		 s->direct ? " direct-fds" : " (plain fds: fixed-file table refused)");
	if (cap < s->cfg->max_conns) {
		size_t len = strlen(s->start_note);

		snprintf(s->start_note + len, sizeof(s->start_note) - len,
			 "; max-conns %u (descriptor limit)", cap);
	}

	if (s->proto->shard_init) {
		ret = s->proto->shard_init(s);
		if (ret)
			goto out_slab;
	}
	return 0;

out_slab:
	conn_slab_destroy(&s->slab);
out_bufs:
	bufring_exit(&s->bufs);
out_ring:
	ring_exit(&s->ring);
	return ret;
}

static void shard_teardown(struct shard *s)
{
	if (s->proto->shard_fini)
		s->proto->shard_fini(s);
	conn_slab_destroy(&s->slab);
	bufring_exit(&s->bufs);
	ring_exit(&s->ring);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	s->listen_fd = -1;
}

struct start_sync {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
};

struct shard_arg {
	struct shard *s;
	struct start_sync *sync;
};

static void *shard_main(void *arg)
{
	struct shard_arg *a = arg;
	struct shard *s = a->s;
	struct start_sync *sync = a->sync;

	s->start_status = shard_setup(s);
	pthread_mutex_lock(&sync->lock);
	sync->done = true;
	pthread_cond_signal(&sync->cond);
	pthread_mutex_unlock(&sync->lock);
	if (s->start_status)
		return NULL;
	run_loop(s);
	shard_teardown(s);
	return NULL;
}

int shard_start(struct shard *s)
{
	struct start_sync sync = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
	struct shard_arg arg = {s, &sync};
	int ret;

	ret = pthread_create(&s->thread, NULL, shard_main, &arg);
	if (ret)
		return -ret;
	pthread_mutex_lock(&sync.lock);
	while (!sync.done)
		pthread_cond_wait(&sync.cond, &sync.lock);
	pthread_mutex_unlock(&sync.lock);
	if (s->start_status) {
		pthread_join(s->thread, NULL);
		return s->start_status;
	}
	return 0;
}

void shard_request_stop(struct shard *s)
{
	__atomic_store_n(&s->stop_requested, 1, __ATOMIC_RELEASE);
}

void shard_join(struct shard *s)
{
	pthread_join(s->thread, NULL);
}
