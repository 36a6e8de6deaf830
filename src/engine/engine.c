// SPDX-License-Identifier: MIT
/*
 * The connection engine: every socket operation of every connection on one
 * ring, and the life of each connection from accept or connect to the free
 * of its slot. Whoever owns the ring runs the loop (a server shard, a
 * ringer-load thread) and hands the engine its completions.
 *
 * A connection's TCP life, and which function drives each edge:
 *
 *   on_accept     CLOSED -> LISTEN -> SYN_RCVD -> ESTABLISHED (the kernel did the handshake)
 *   engine_connect CLOSED -> SYN_SENT;  on_connect  SYN_SENT -> ESTABLISHED, or -> CLOSED
 *   on_peer_fin   ESTABLISHED -> CLOSE_WAIT;  FIN_WAIT_1/2 -> TIME_WAIT
 *   our_fin       ESTABLISHED -> FIN_WAIT_1;  CLOSE_WAIT -> LAST_ACK  (shutdown or close)
 *   abort_conn    any -> CLOSED (a reset, an error, a timeout that ran out)
 *   release       LAST_ACK -> CLOSED, TIME_WAIT -> CLOSED; the slot is freed
 *
 * and its I/O, decided in one place: kick() asks engine_next() (a pure
 * function of the flags, engine_next.c) what to do, does it, and asks again:
 *
 *        recv CQE                     send CQE                 mode calls
 *   input queued, NOTIFY        output popped, SENT_NOTIFY   send / forward / close
 *            \                          |                        /
 *             +-------------------> kick(c) <-------------------+
 *                                      |
 *          send | readable | sent | eof | shutdown | close | arm / pause recv
 *
 * Closing is a state, not a free: close does not cancel in-flight
 * operations, so they are cancelled first, and the slot returns to the
 * slab only when its in-flight count reaches zero. Buffers follow their
 * owner: a buffer forwarded to another connection's output goes back to
 * the ring when that connection's send of it completes, or when that
 * connection is released (after its in-flight send has completed).
 */
#include "ringer/engine.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ringer/engine_next.h"
#include "ringer/mode.h"
#include "ringer/proxy_proto.h"
#include "ringer/trace.h"
#include "ringer/user_data.h"

#define PAUSE_AT	8 /* most buffers queued (input, or output of a destination) before recv pauses */
#define LINGER_MS	5000 /* after our FIN, how long we wait for the peer's */
#define FILE_SLOT_EXTRA 64   /* fixed-file slots beyond max-conns, to refuse cleanly */
#define KICK_MAX	64   /* actions per kick; each changes what the next is decided from */
#define ACCEPT_SLOTS	16   /* single-shot accepts in flight when peer addresses are wanted */
#define DRAIN_QUIET_MS	200 /* draining: no traffic this long, nothing held, receive armed -> FIN */
#define SEND_IOV_MAX	8   /* queued buffers one sendmsg carries */
#define STARVED_SEND_MS 1000 /* the send timeout of a buffer holder while the pool runs dry */
#define OUTQ_POLL_MS	1000 /* in FIN_WAIT_1, how often we ask whether our FIN was acknowledged */
#define NO_SLOT		UD_SLOT_MAX
#define LIST_END	UINT32_MAX

/*
 * A send of several queued buffers is one sendmsg: its header and iovec live
 * here, one per slot, until the send completes (one send in flight per
 * connection). A mapping touched only by connections that send that way.
 */
struct send_vec {
	struct msghdr msg;
	struct iovec iov[SEND_IOV_MAX];
};

/*
 * What /connections shows of a connection beyond struct conn, one per slot,
 * kept only with engine_params.conn_info (the admin port): when it began,
 * bytes each way, and who the peer is, with the kernel's socket cookie to
 * find the same socket in an inet_diag dump. The cookie and an accepted
 * peer's address are written by the kernel (getsockopt commands on the
 * direct descriptor); the counters by this engine's thread. Other threads
 * read them with relaxed loads.
 */
struct conn_info {
	uint64_t cookie;
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint32_t since_ms;
	uint32_t peer_len;
	struct sockaddr_in6 peer; /* or a sockaddr_in */
};

struct engine {
	struct ring *ring;
	struct proxy_proto_parser *pp; /* per slot, with accept_proxy: the header being read */
	size_t pp_bytes;
	uint32_t pp_ms;
	struct sockaddr_storage pp_src; /* the header's source, while the mode hears of it */
	struct conn_info *info;		/* NULL without conn_info */
	size_t info_bytes;
	int listen_family;
	struct send_vec *vecs;
	size_t vecs_bytes;
	struct bufring bufs;
	struct conn_slab slab;
	const struct mode_ops *mode;
	void *mode_data;
	struct stats *stats;
	uint64_t now_ms;
	uint32_t idle_ms;
	uint32_t send_ms;
	uint32_t hold_max;  /* buffers one connection may queue (input, or output it feeds) */
	uint32_t resume_at; /* ... and how few before a paused one receives again */
	uint32_t reserve;   /* free buffers below this: the pool is under pressure */
	int listen_fd;
	bool direct;			/* accepted connections are direct descriptors */
	bool sockopt_cmd;		/* setsockopt works as an io_uring command (kernel 6.7+) */
	const struct net_addr *sources; /* engine_connect_from()'s, the caller's */
	unsigned n_sources;
	bool accept_backoff;
	bool draining;
	bool peer_addrs; /* accept with addresses: single-shot accepts, ACCEPT_SLOTS of them */
	bool bundle;	 /* recv bundles: one CQE for several buffers (kernel 6.10+) */
	unsigned accept_armed;		 /* accepts in flight */
	uint32_t max_clients;		 /* accepted connections allowed at once */
	uint32_t clients;		 /* accepted connections now */
	const struct sockaddr *cur_peer; /* the peer of the connection being accepted */
	socklen_t cur_peer_len;
	uint16_t accept_slot_armed; /* bit per address slot */
	struct sockaddr_storage acc_addr[ACCEPT_SLOTS];
	socklen_t acc_len[ACCEPT_SLOTS];
	uint32_t nobufs_head;	  /* connections waiting for buffers, linked through conn->link */
	struct wheel timers;	  /* every connection's next timeout (see "timers" below) */
	bool clock_set;		  /* the wheel's time has been set from the engine clock */
	uint32_t send_due;	  /* a send starting: due this long after last_active (0: never) */
	uint32_t send_due_queued; /* ... and for a send of queued buffers */
	uint32_t connect_timeout_ms;
	uint32_t writes; /* engine_write()s in flight */
	int ka[4]; /* SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT values; ka[0] 0: off */
	struct __kernel_timespec connect_ts; /* read by the kernel when the connect is submitted */
};

static const int one = 1;

static void kick(struct engine *e, struct conn *c);

static inline uint64_t conn_ud(struct engine *e, struct conn *c, unsigned op)
{
	return ud_encode(op, c->gen, conn_slot(&e->slab, c));
}

static inline bool conn_fixed(const struct conn *c)
{
	return c->life & CONN_L_FIXED;
}

static inline uint32_t now32(const struct engine *e)
{
	return (uint32_t)e->now_ms;
}

/* ---- timers ------------------------------------------------------------------------------- */

/*
 * Every connection has one timer on the engine's wheel (wheel.h, counting
 * engine-clock milliseconds, advanced by engine_tick), armed for the
 * earliest moment one of its timeouts can be due. When it fires,
 * check_timeouts() does what is due and timer_update() arms it for the
 * next. The tick costs what fires, never a scan of the table:
 *
 *   timeout               due (engine clock)              armed sooner when
 *   idle                  last_active + idle_ms           accepted, connected, a send starts
 *   send stalled          last_active + send_ms           a send starts
 *   starved send          last_active + STARVED_SEND_MS   a send of queued buffers starts
 *   the mode's deadline   deadline_ms                     engine_set_deadline
 *   linger                last_active + LINGER_MS         the lingering shutdown
 *   FIN acknowledged?     every OUTQ_POLL_MS              the shutdown completes (FIN_WAIT_1)
 *   drain                 last_active + DRAIN_QUIET_MS    engine_drain
 *
 * What makes a timeout due sooner arms the timer sooner (timer_at: one
 * comparison when it is early enough already). What makes one later, such
 * as traffic moving last_active or a deadline pushed out, does nothing: the
 * timer fires early and is armed again for the new time (a lazy re-arm, as
 * nginx and HAProxy do), so receives and sends do not touch the wheel.
 */
static inline bool before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/* A time already passed is looked at on the next tick. */
static inline uint32_t not_past(const struct engine *e, uint32_t at)
{
	return before(now32(e), at) ? at : now32(e) + 1;
}

/* c's timer fires at at or earlier. */
static inline void timer_at(struct engine *e, struct conn *c, uint32_t at)
{
	at = not_past(e, at);
	if (!wheel_armed(&c->timer) || before(at, c->timer.expires))
		wheel_arm(&e->timers, c->slot, at);
}

/* A send starts: the stalled-send, starved-send and idle timeouts count from last_active. */
static inline void timer_send(struct engine *e, struct conn *c)
{
	uint32_t due = c->out_count ? e->send_due_queued : e->send_due;

	if (due)
		timer_at(e, c, c->last_active_ms + due);
}

/* In FIN_WAIT_1 the kernel is asked (SIOCOUTQ) whether the peer acknowledged our FIN. */
static inline bool fin_polled(const struct engine *e, const struct conn *c)
{
	return c->state == TCPS_FIN_WAIT_1 && conn_fixed(c) && e->sockopt_cmd;
}

static inline void earliest(uint32_t *at, bool *have, uint32_t t)
{
	if (!*have || before(t, *at))
		*at = t;
	*have = true;
}

/*
 * When check_timeouts() can next have something to do for c (the rules
 * there, in the same order); false: nothing can come due. "More than X
 * ms" is due at X + 1. A timeout due already, left for later because
 * check_timeouts() handles one a call, is looked at on the next tick.
 */
static bool timer_due(const struct engine *e, const struct conn *c, uint32_t *at)
{
	uint32_t now = now32(e), last = c->last_active_ms, starved;
	bool have = false;

	if (c->life & (CONN_L_CONNECTING | CONN_L_DEAD))
		return false; /* a connect has its linked timeout; a close, nothing */
	if (fin_polled(e, c))
		earliest(at, &have, now + OUTQ_POLL_MS);
	if (c->rx & CONN_RX_DISCARD) {
		earliest(at, &have, last + LINGER_MS + 1);
		return true;
	}
	if (c->deadline_ms)
		earliest(at, &have, c->deadline_ms);
	if ((c->tx & CONN_TX_SENDING) && e->send_ms)
		earliest(at, &have, last + e->send_ms + 1);
	if ((c->tx & CONN_TX_SENDING) && c->out_count) {
		/* Due only while the pool runs dry: once stalled, asked again each STARVED_SEND_MS. */
		starved = last + STARVED_SEND_MS + 1;
		earliest(at, &have, before(now, starved) ? starved : now + STARVED_SEND_MS);
	}
	/* Idle closes a closing connection only when its send stalled (a close asked is a close). */
	if (e->idle_ms && (!(c->life & CONN_L_CLOSE_WANTED) || (c->tx & CONN_TX_SENDING)))
		earliest(at, &have, last + e->idle_ms + 1);
	if ((c->life & (CONN_L_DRAIN | CONN_L_CLOSE_WANTED)) == CONN_L_DRAIN)
		earliest(at, &have, last + DRAIN_QUIET_MS);
	return have;
}

/* Arms c's timer for its next timeout, or disarms it. */
static void timer_update(struct engine *e, struct conn *c)
{
	uint32_t at = 0;

	if (timer_due(e, c, &at))
		wheel_arm(&e->timers, c->slot, not_past(e, at));
	else
		wheel_cancel(&e->timers, c->slot);
}

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
static inline uint32_t bufs_free(const struct engine *e)
{
	return e->bufs.count - e->bufs.outstanding;
}

static inline bool pool_pressed(const struct engine *e)
{
	return bufs_free(e) < e->reserve;
}

/* Buffers the next recv arm may take: fewer as the pool empties. */
static uint32_t arm_budget(const struct engine *e)
{
	uint32_t free_bufs = bufs_free(e), n;

	if (free_bufs <= e->reserve)
		return 1;
	n = (free_bufs - e->reserve) / 16;
	return n < 1 ? 1 : n > e->hold_max ? e->hold_max : n;
}

/* A destination's queued output that pauses the connection feeding it. */
static inline uint32_t feed_limit(const struct engine *e)
{
	return pool_pressed(e) ? 1 : e->hold_max;
}

static void pop_input(struct engine *e, struct conn *c)
{
	uint16_t bid = c->in_head;

	c->in_head = e->bufs.next[bid];
	c->in_count--;
	c->in_off = 0;
	bufring_put(&e->bufs, bid);
}

static void pop_output(struct engine *e, struct conn *c)
{
	uint16_t bid = c->out_head;

	c->out_head = e->bufs.next[bid];
	c->out_count--;
	c->out_off = 0;
	bufring_put(&e->bufs, bid);
}

/* c's output drained far enough: the connection feeding it may receive again. */
static void wake_feeder(struct engine *e, struct conn *c)
{
	struct conn *f;

	if (c->feeder == NO_SLOT)
		return;
	f = &e->slab.conns[c->feeder];
	c->feeder = NO_SLOT;
	if (!(f->life & CONN_L_USED) || !(f->rx & CONN_RX_BLOCKED))
		return;
	f->rx &= ~CONN_RX_BLOCKED;
	kick(e, f);
}

/* ---- receive ------------------------------------------------------------------------------ */

static void abort_conn(struct engine *e, struct conn *c);

static void arm_recv(struct engine *e, struct conn *c)
{
	if (ring_recv_multishot(e->ring, c->fd, conn_fixed(c), e->bufs.bgid,
				arm_budget(e) * e->bufs.buf_size, e->bundle,
				conn_ud(e, c, UD_OP_RECV))) {
		STAT_INC(e->stats, errors);
		abort_conn(e, c);
		return;
	}
	c->rx = (c->rx | CONN_RX_ARMED) & ~CONN_RX_PAUSED;
	c->inflight++;
}

/* Backpressure: stop taking input until what is held has been worked through. */
static void pause_recv(struct engine *e, struct conn *c)
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

static void nobufs_unlink(struct engine *e, struct conn *c)
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
static void nobufs_wake(struct engine *e)
{
	uint32_t free_bufs = bufs_free(e);

	while (e->nobufs_head != LIST_END && free_bufs) {
		struct conn *c = &e->slab.conns[e->nobufs_head];
		uint32_t budget = arm_budget(e);

		e->nobufs_head = c->link;
		c->rx &= ~CONN_RX_NOBUFS;
		kick(e, c);
		if (c->rx & CONN_RX_ARMED) {
			STAT_INC(e->stats, recv_rearms);
			free_bufs = free_bufs > budget ? free_bufs - budget : 0;
		}
	}
}

/* ---- connection info (engine_params.conn_info) -------------------------------------------- */

/* A connection begins: its clock, zero bytes, and its peer when already known. */
static void info_begin(struct engine *e, struct conn *c, const struct sockaddr *peer, socklen_t len)
{
	struct conn_info *ci = &e->info[conn_slot(&e->slab, c)];

	__atomic_store_n(&ci->cookie, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&ci->bytes_in, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&ci->bytes_out, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&ci->since_ms, now32(e), __ATOMIC_RELAXED);
	memset(&ci->peer, 0, sizeof(ci->peer));
	if (peer && len <= sizeof(ci->peer))
		memcpy(&ci->peer, peer, len);
	__atomic_store_n(&ci->peer_len, peer ? (uint32_t)len : 0, __ATOMIC_RELAXED);
}

/*
 * Asks the kernel for the socket's cookie (and the peer's address when not
 * known): getsockopt commands on a direct descriptor, writing straight into
 * the info slot; in flight like any operation of the connection, so the
 * slot outlives them. A plain descriptor gets plain getsockopt calls.
 */
static void info_query(struct engine *e, struct conn *c)
{
	struct conn_info *ci = &e->info[conn_slot(&e->slab, c)];
	bool want_peer = !ci->peer_len;
	socklen_t plen = e->listen_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						      : sizeof(struct sockaddr_in);

	if (!conn_fixed(c)) {
		socklen_t len = sizeof(ci->cookie);

		getsockopt(c->fd, SOL_SOCKET, SO_COOKIE, &ci->cookie, &len);
		len = sizeof(ci->peer);
		if (want_peer && getpeername(c->fd, (struct sockaddr *)&ci->peer, &len) == 0)
			__atomic_store_n(&ci->peer_len, (uint32_t)len, __ATOMIC_RELAXED);
		return;
	}
	if (!e->sockopt_cmd)
		return;
	if (ring_getsockopt(e->ring, c->fd, true, SOL_SOCKET, SO_COOKIE, &ci->cookie,
			    sizeof(ci->cookie), conn_ud(e, c, UD_OP_SOCKOPT)) == 0)
		c->inflight++;
	/* SO_PEERNAME wants exactly the address's size: the listener's family says which. */
	if (want_peer && ring_getsockopt(e->ring, c->fd, true, SOL_SOCKET, SO_PEERNAME, &ci->peer,
					 plen, conn_ud(e, c, UD_OP_SOCKOPT)) == 0) {
		c->inflight++;
		__atomic_store_n(&ci->peer_len, (uint32_t)plen, __ATOMIC_RELAXED);
	}
}

static inline void info_add(uint64_t *counter, int res)
{
	__atomic_store_n(counter, *counter + (uint64_t)res, __ATOMIC_RELAXED);
}

uint32_t engine_slots(const struct engine *e)
{
	return __atomic_load_n(&e->slab.high_water, __ATOMIC_RELAXED);
}

bool engine_conn_view(const struct engine *e, uint32_t slot, struct engine_conn_view *v)
{
	const struct conn *c = &e->slab.conns[slot];

	memset(v, 0, sizeof(*v));
	if (slot >= engine_slots(e) || !(__atomic_load_n(&c->life, __ATOMIC_RELAXED) & CONN_L_USED))
		return false;
	v->slot = slot;
	v->gen = __atomic_load_n(&c->gen, __ATOMIC_RELAXED);
	v->state = __atomic_load_n(&c->state, __ATOMIC_RELAXED);
	v->side = __atomic_load_n(&c->side, __ATOMIC_RELAXED);
	v->inflight = __atomic_load_n(&c->inflight, __ATOMIC_RELAXED);
	if (e->info) {
		const struct conn_info *ci = &e->info[slot];
		uint32_t now = (uint32_t)__atomic_load_n(&e->now_ms, __ATOMIC_RELAXED);

		v->age_ms = now - __atomic_load_n(&ci->since_ms, __ATOMIC_RELAXED);
		v->bytes_in = __atomic_load_n(&ci->bytes_in, __ATOMIC_RELAXED);
		v->bytes_out = __atomic_load_n(&ci->bytes_out, __ATOMIC_RELAXED);
		v->cookie = __atomic_load_n(&ci->cookie, __ATOMIC_RELAXED);
		v->peer_len = __atomic_load_n(&ci->peer_len, __ATOMIC_RELAXED);
		if (v->peer_len > sizeof(ci->peer))
			v->peer_len = 0;
		memcpy(&v->peer, &ci->peer, v->peer_len);
		if (!v->peer.ss_family)
			v->peer_len = 0; /* asked for, not answered yet */
	}
	return true;
}

/* ---- teardown ----------------------------------------------------------------------------- */

static void release(struct engine *e, struct conn *c)
{
	int how = trace_close_how(c); /* before the move to CLOSED below */

	if (e->mode->closed && !(c->life & CONN_L_PREAMBLE))
		e->mode->closed(e, c);
	while (c->in_count)
		pop_input(e, c);
	/* Nothing is in flight any more, so no send still reads these. */
	while (c->out_count)
		pop_output(e, c);
	if (c->rx & CONN_RX_NOBUFS)
		nobufs_unlink(e, c);
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
	wake_feeder(e, c);
	wheel_cancel(&e->timers, c->slot);
	if (c->side == CONN_SIDE_CLIENT)
		e->clients--;
	conn_untrack(c, e->stats);
	STAT_INC(e->stats, closed);
	TRACE_CLOSE(c->slot, c->gen, how);
	conn_free(&e->slab, c);
}

static void maybe_release(struct engine *e, struct conn *c)
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

static void issue_close(struct engine *e, struct conn *c, bool reset)
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
		return; /* an outbound socket not created yet: on_socket closes it */
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
static void abort_conn(struct engine *e, struct conn *c)
{
	if (c->life & CONN_L_DEAD)
		return;
	if (c->state != TCPS_CLOSED)
		conn_event(c, TCP_EV_RCV_RST, e->stats);
	issue_close(e, c, false);
}

/* A close the decision asked for (plain, or the end of a linger). */
static void do_close(struct engine *e, struct conn *c)
{
	if (!(c->tx & CONN_TX_SHUT_DONE))
		our_fin(e, c);
	c->tx |= CONN_TX_SHUT_DONE;
	issue_close(e, c, false);
}

static void do_shutdown(struct engine *e, struct conn *c)
{
	our_fin(e, c);
	if (ring_shutdown(e->ring, c->fd, conn_fixed(c), SHUT_WR, conn_ud(e, c, UD_OP_SHUTDOWN))) {
		STAT_INC(e->stats, errors);
		abort_conn(e, c);
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

/* ---- the PROXY protocol preamble (engine_params.accept_proxy) ---------------------------- */

/*
 * An accepted connection behind a load balancer that speaks the PROXY
 * protocol: the mode hears of it only once the whole header is in (the
 * receiver never guesses whether one is there, and waits no longer than
 * accept_proxy_ms). Then the header's source is the connection's peer for
 * the mode (engine_accepted_peer), /connections and the logs, and the bytes
 * after the header are the connection's first input.
 */
static void preamble_fail(struct engine *e, struct conn *c)
{
	STAT_INC(e->stats, proxy_hdr_errors);
	engine_close(e, c, ENGINE_CLOSE_RESET);
}

static void preamble_readable(struct engine *e, struct conn *c)
{
	struct proxy_proto_parser *pp = &e->pp[conn_slot(&e->slab, c)];
	struct proxy_proto_result r;
	const uint8_t *in;
	uint32_t avail;
	ssize_t n = 0;

	while (!(c->life & CONN_L_DEAD) && (avail = engine_input(e, c, &in)) > 0) {
		n = proxy_proto_parse(pp, in, avail, &r);
		if (n < 0) {
			preamble_fail(e, c);
			return;
		}
		engine_consume(e, c, n ? (uint32_t)n : avail);
		if (n > 0)
			break;
	}
	if (n <= 0)
		return; /* more to come */
	c->life &= ~CONN_L_PREAMBLE;
	c->deadline_ms = 0;
	memcpy(&e->pp_src, &r.src, sizeof(e->pp_src));
	e->cur_peer = r.src_len ? (const struct sockaddr *)&e->pp_src : NULL;
	e->cur_peer_len = r.src_len;
	if (e->info && r.src_len) {
		struct conn_info *ci = &e->info[conn_slot(&e->slab, c)];

		memcpy(&ci->peer, &r.src, r.src_len <= sizeof(ci->peer) ? r.src_len : 0);
		__atomic_store_n(&ci->peer_len, r.src_len <= sizeof(ci->peer) ? r.src_len : 0,
				 __ATOMIC_RELAXED);
	}
	if (e->mode->accepted)
		e->mode->accepted(e, c);
	e->cur_peer = NULL;
	if (c->in_count)
		c->rx |= CONN_RX_NOTIFY; /* the client's first bytes came with the header */
}

/* ---- the decision, applied ---------------------------------------------------------------- */

/* Several buffers queued (a stream): one sendmsg carries up to SEND_IOV_MAX of them. */
static int send_queued_vec(struct engine *e, struct conn *c)
{
	struct send_vec *v = &e->vecs[conn_slot(&e->slab, c)];
	uint16_t bid = c->out_head;
	unsigned n;

	for (n = 0; n < SEND_IOV_MAX && n < c->out_count; n++, bid = e->bufs.next[bid]) {
		uint32_t off = n ? 0 : c->out_off;

		v->iov[n].iov_base = bufring_buf(&e->bufs, bid) + off;
		v->iov[n].iov_len = e->bufs.len[bid] - off;
	}
	memset(&v->msg, 0, sizeof(v->msg));
	v->msg.msg_iov = v->iov;
	v->msg.msg_iovlen = n;
	return ring_sendmsg(e->ring, c->fd, conn_fixed(c), &v->msg, MSG_NOSIGNAL | MSG_WAITALL,
			    conn_ud(e, c, UD_OP_SEND));
}

/*
 * engine_send_input(): the mode's bytes, then in_echo bytes of the input
 * chain from its unconsumed start, in one sendmsg of up to SEND_IOV_MAX
 * pieces (the rest goes in the next send). Without the sendmsg headers
 * (their mapping failed), one piece per send.
 */
static int send_echo(struct engine *e, struct conn *c)
{
	const int flags = MSG_NOSIGNAL | MSG_WAITALL;
	uint32_t left = c->in_echo, off = c->in_off, len;
	uint16_t bid = c->in_head;
	struct send_vec *v;
	unsigned n = 0;

	if (!e->vecs || (!c->out_ptr && e->bufs.len[bid] - off >= left)) {
		if (c->out_ptr)
			return ring_send(e->ring, c->fd, conn_fixed(c), c->out_ptr + c->out_off,
					 c->out_len - c->out_off, flags, conn_ud(e, c, UD_OP_SEND));
		len = e->bufs.len[bid] - off < left ? e->bufs.len[bid] - off : left;
		return ring_send(e->ring, c->fd, conn_fixed(c), bufring_buf(&e->bufs, bid) + off,
				 len, flags, conn_ud(e, c, UD_OP_SEND));
	}
	v = &e->vecs[conn_slot(&e->slab, c)];
	if (c->out_ptr) {
		v->iov[n].iov_base = (void *)(c->out_ptr + c->out_off);
		v->iov[n++].iov_len = c->out_len - c->out_off;
	}
	for (uint16_t i = 0; i < c->in_count && left && n < SEND_IOV_MAX;
	     i++, bid = e->bufs.next[bid], off = 0) {
		len = e->bufs.len[bid] - off < left ? e->bufs.len[bid] - off : left;
		v->iov[n].iov_base = bufring_buf(&e->bufs, bid) + off;
		v->iov[n++].iov_len = len;
		left -= len;
	}
	memset(&v->msg, 0, sizeof(v->msg));
	v->msg.msg_iov = v->iov;
	v->msg.msg_iovlen = n;
	return ring_sendmsg(e->ring, c->fd, conn_fixed(c), &v->msg, flags,
			    conn_ud(e, c, UD_OP_SEND));
}

/* One send from the output: the mode's span, several queued buffers, or the head buffer. */
static void start_send(struct engine *e, struct conn *c)
{
	const int flags = MSG_NOSIGNAL | MSG_WAITALL;
	uint64_t ud = conn_ud(e, c, UD_OP_SEND);
	int ret;

	if (c->in_echo)
		ret = send_echo(e, c);
	else if (c->out_ptr)
		ret = ring_send(e->ring, c->fd, conn_fixed(c), c->out_ptr + c->out_off,
				c->out_len - c->out_off, flags, ud);
	else if (c->out_count > 1 && e->vecs)
		ret = send_queued_vec(e, c);
	else
		ret = ring_send(e->ring, c->fd, conn_fixed(c),
				bufring_buf(&e->bufs, c->out_head) + c->out_off,
				e->bufs.len[c->out_head] - c->out_off, flags, ud);
	if (ret) {
		STAT_INC(e->stats, errors);
		abort_conn(e, c);
		return;
	}
	c->tx |= CONN_TX_SENDING;
	c->inflight++;
	STAT_INC(e->stats, send_ops);
	timer_send(e, c);
}

static struct next_in next_view(const struct engine *e, const struct conn *c)
{
	/* Under pressure, a connection waiting for its peer to read takes no more buffers. */
	bool squeezed = (c->out_count || c->in_echo) && pool_pressed(e);

	return (struct next_in){
		.rx = c->rx,
		.tx = c->tx,
		.life = c->life,
		.in_queued = c->in_count > 0,
		.in_full = c->in_count >= e->hold_max || squeezed,
		.in_low = c->in_count <= e->resume_at && !squeezed,
		.out_queued = c->out_ptr != NULL || c->out_count > 0 || c->in_echo > 0,
	};
}

static void apply(struct engine *e, struct conn *c, enum next_action a)
{
	switch (a) {
	case NEXT_NONE:
	case NEXT_ACTION_COUNT:
		return;
	case NEXT_SEND:
		start_send(e, c);
		return;
	case NEXT_SENT:
		c->tx &= ~CONN_TX_SENT_NOTIFY;
		if (e->mode->sent)
			e->mode->sent(e, c);
		return;
	case NEXT_READABLE:
		c->rx &= ~CONN_RX_NOTIFY;
		if (c->life & CONN_L_PREAMBLE)
			preamble_readable(e, c);
		else
			e->mode->readable(e, c);
		return;
	case NEXT_EOF:
		c->rx &= ~CONN_RX_EOF_NOTIFY;
		if (c->life & CONN_L_PREAMBLE)
			preamble_fail(e, c); /* the peer ended before its header did */
		else if (e->mode->peer_eof)
			e->mode->peer_eof(e, c);
		else
			engine_close(e, c, ENGINE_CLOSE);
		return;
	case NEXT_DROP_INPUT:
		engine_drop_input(e, c);
		return;
	case NEXT_SHUTDOWN:
		do_shutdown(e, c);
		return;
	case NEXT_CLOSE:
		do_close(e, c);
		return;
	case NEXT_PAUSE_RECV:
		pause_recv(e, c);
		return;
	case NEXT_MARK_PAUSED:
		c->rx |= CONN_RX_PAUSED;
		STAT_INC(e->stats, paused);
		return;
	case NEXT_ARM_RECV:
		arm_recv(e, c);
		return;
	}
}

/*
 * Does what the decision says until it says "wait". Mode callbacks run in
 * here and may call back into the engine for this connection: those calls
 * change flags and return, and this loop picks the change up.
 */
static void kick(struct engine *e, struct conn *c)
{
	if (!(c->life & CONN_L_USED) || (c->life & CONN_L_KICKING))
		return;
	c->life |= CONN_L_KICKING;
	for (int i = 0; i < KICK_MAX; i++) {
		struct next_in in = next_view(e, c);
		enum next_action a = engine_next(&in);

		if (a == NEXT_NONE)
			break;
		apply(e, c, a);
	}
	c->life &= ~CONN_L_KICKING;
}

/* ---- completions -------------------------------------------------------------------------- */

static void on_peer_fin(struct engine *e, struct conn *c)
{
	enum tcp_event ev = TCP_EV_RCV_FIN;

	if (c->rx & CONN_RX_EOF)
		return;
	c->rx |= CONN_RX_EOF | CONN_RX_EOF_NOTIFY;
	/*
	 * Our FIN went out before theirs arrived: the peer read it before closing,
	 * so its FIN acknowledges ours (FIN_WAIT_1 -> TIME_WAIT).
	 */
	if (c->state == TCPS_FIN_WAIT_1)
		ev = TCP_EV_RCV_FIN_ACK;
	if (conn_event(c, ev, e->stats)) {
		abort_conn(e, c);
		return;
	}
	kick(e, c);
}

/*
 * The buffers a recv CQE carries, in order: one, or with a bundle as many as
 * its bytes filled (each full but the last), which are the ring entries
 * following the first. Returns how many; each is counted as taken.
 */
static unsigned cqe_buffers(struct engine *e, const struct io_uring_cqe *cqe, uint16_t *bids)
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

static void on_recv(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	uint16_t bids[PAUSE_AT * 2];
	unsigned nb = cqe_buffers(e, cqe, bids);
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
			 */
			e->bufs.len[bid] = len;
			if (c->in_count++)
				e->bufs.next[c->in_tail] = bid;
			else
				c->in_head = bid;
			c->in_tail = bid;
			c->rx |= CONN_RX_NOTIFY;
		}
		kick(e, c); /* also re-arms a multishot that ended on its own */
		maybe_release(e, c);
		return;
	}
	for (unsigned i = 0; i < nb; i++)
		bufring_put(&e->bufs, bids[i]);
	if (c->life & CONN_L_DEAD) {
		maybe_release(e, c);
		return;
	}
	if (res == 0) {
		on_peer_fin(e, c);
		maybe_release(e, c);
		return;
	}
	switch (res) {
	case -ENOBUFS:
		STAT_INC(e->stats, enobufs);
		if (!(c->rx & CONN_RX_ARMED))
			nobufs_push(e, c);
		return;
	case -ECANCELED:
		/* Paused by backpressure; kick() resumes when the queue is short again. */
		kick(e, c);
		return;
	default:
		STAT_INC(e->stats, resets);
		abort_conn(e, c);
		maybe_release(e, c);
		return;
	}
}

/* A send of engine_send_input() moved res bytes: the mode's first, then its input's. */
static void sent_echo(struct engine *e, struct conn *c, uint32_t res)
{
	if (c->out_ptr) {
		uint32_t rest = c->out_len - c->out_off;

		if (res < rest) {
			c->out_off += res;
			STAT_INC(e->stats, short_sends);
			return;
		}
		res -= rest;
		c->out_ptr = NULL;
		c->out_off = c->out_len = 0;
	}
	while (res && c->in_echo) {
		uint32_t rest = e->bufs.len[c->in_head] - c->in_off, n = res < rest ? res : rest;

		if (n > c->in_echo)
			n = c->in_echo;
		c->in_off += n;
		c->in_echo -= (uint16_t)n;
		res -= n;
		if (c->in_off >= e->bufs.len[c->in_head])
			pop_input(e, c);
	}
	if (!c->in_echo)
		c->tx |= CONN_TX_SENT_NOTIFY;
}

static void on_send(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;

	c->inflight--;
	c->tx &= ~CONN_TX_SENDING;
	if (c->life & CONN_L_DEAD) {
		maybe_release(e, c);
		return;
	}
	if (res <= 0) {
		STAT_INC(e->stats, resets);
		abort_conn(e, c);
		maybe_release(e, c);
		return;
	}
	STAT_ADD(e->stats, bytes_out, (uint64_t)res);
	if (e->info)
		info_add(&e->info[conn_slot(&e->slab, c)].bytes_out, res);
	c->last_active_ms = now32(e);
	if (c->in_echo) {
		sent_echo(e, c, (uint32_t)res);
	} else if (c->out_ptr) {
		c->out_off += (uint32_t)res;
		if (c->out_off < c->out_len) {
			/* MSG_WAITALL makes this rare (a signal, a closing socket); resume. */
			STAT_INC(e->stats, short_sends);
		} else {
			c->out_ptr = NULL;
			c->out_off = c->out_len = 0;
			c->tx |= CONN_TX_SENT_NOTIFY;
		}
	} else {
		uint32_t left = (uint32_t)res;

		/* Pop every buffer the send finished; a part left over resumes next time. */
		while (left && c->out_count) {
			uint32_t rest = e->bufs.len[c->out_head] - c->out_off;

			if (left < rest) {
				c->out_off += left;
				STAT_INC(e->stats, short_sends);
				break;
			}
			left -= rest;
			pop_output(e, c);
		}
		if (c->out_count <= e->resume_at)
			wake_feeder(e, c);
	}
	kick(e, c);
	maybe_release(e, c);
}

/*
 * FIN_WAIT_1 -> FIN_WAIT_2: the kernel sees the peer's ACK of our FIN, we do
 * not; SIOCOUTQ says it (our FIN counts as a byte of the send queue until it
 * is acknowledged). Asked when the shutdown completes and then every
 * OUTQ_POLL_MS by the connection's timer while it stays in FIN_WAIT_1.
 */
static void ask_fin_acked(struct engine *e, struct conn *c)
{
	if (c->state != TCPS_FIN_WAIT_1 || !conn_fixed(c) || !e->sockopt_cmd ||
	    (c->life & (CONN_L_OUTQ | CONN_L_DEAD)))
		return;
	if (ring_outq(e->ring, c->fd, true, conn_ud(e, c, UD_OP_OUTQ)))
		return;
	c->inflight++;
	c->life |= CONN_L_OUTQ;
}

static void on_outq(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->inflight--;
	c->life &= ~CONN_L_OUTQ;
	if (cqe->res == 0 && c->state == TCPS_FIN_WAIT_1 && !(c->life & CONN_L_DEAD))
		conn_event(c, TCP_EV_RCV_ACK, e->stats);
	maybe_release(e, c);
}

static void on_shutdown(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->inflight--;
	c->tx = (c->tx & ~CONN_TX_SHUT_INFLIGHT) | CONN_TX_SHUT_DONE;
	if (c->life & CONN_L_CLOSE_DEFERRED) {
		c->life &= ~CONN_L_CLOSE_DEFERRED;
		issue_close(e, c, c->life & CONN_L_RESET);
		return;
	}
	if (c->life & CONN_L_DEAD) {
		maybe_release(e, c);
		return;
	}
	if (cqe->res < 0) {
		/* ENOTCONN: the peer reset meanwhile. */
		STAT_INC(e->stats, resets);
		abort_conn(e, c);
		return;
	}
	ask_fin_acked(e, c);
	if (fin_polled(e, c))
		timer_at(e, c, now32(e) + OUTQ_POLL_MS);
	kick(e, c);
	maybe_release(e, c);
}

static void on_done(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->inflight--;
	if (ud_op(cqe->user_data) == UD_OP_CANCEL)
		c->rx &= ~CONN_RX_CANCELING;
	maybe_release(e, c);
}

static void on_close(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
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
	maybe_release(e, c);
}

static void on_sockopt(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->inflight--;
	if (cqe->res < 0 && cqe->res != -ECANCELED)
		STAT_INC(e->stats, errors);
	maybe_release(e, c);
}

/* An outbound connection failed: the mode hears it, then the slot goes. */
static void fail_connect(struct engine *e, struct conn *c, int err)
{
	STAT_INC(e->stats, connect_failures);
	c->life &= ~CONN_L_CONNECTING;
	c->life |= CONN_L_KICKING; /* the mode may close c; the release waits for us */
	if (e->mode->connected)
		e->mode->connected(e, c, err);
	c->life &= ~CONN_L_KICKING;
	abort_conn(e, c);
	maybe_release(e, c);
}

/*
 * TCP keepalive on a socket we connect out (the proxy's upstream side), as
 * the listener's options give it to accepted ones: four setsockopt commands
 * ahead of the connect (their order does not matter), or plain calls on a
 * plain descriptor.
 */
static void set_keepalive(struct engine *e, struct conn *c)
{
	static const int opt[4][2] = {{SOL_SOCKET, SO_KEEPALIVE},
				      {IPPROTO_TCP, TCP_KEEPIDLE},
				      {IPPROTO_TCP, TCP_KEEPINTVL},
				      {IPPROTO_TCP, TCP_KEEPCNT}};

	for (int i = 0; i < 4; i++) {
		if (!conn_fixed(c)) {
			setsockopt(c->fd, opt[i][0], opt[i][1], &e->ka[i], sizeof(int));
			continue;
		}
		if (e->sockopt_cmd &&
		    ring_setsockopt(e->ring, c->fd, true, opt[i][0], opt[i][1], &e->ka[i],
				    sizeof(int), conn_ud(e, c, UD_OP_SOCKOPT)) == 0)
			c->inflight++;
	}
}

/*
 * While connecting, out_len (unused until the first engine_send) holds the
 * source to bind to, plus one (0: none), and after a failed bind, the bind's
 * errno with BIND_FAILED: its linked connect only says -ECANCELED.
 */
#define BIND_FAILED 0x80000000u

static void submit_connect(struct engine *e, struct conn *c)
{
	const struct net_addr *a = (const struct net_addr *)c->out_ptr;
	int ret;

	if (e->ka[0])
		set_keepalive(e, c);
	if (c->out_len && conn_fixed(c)) {
		const struct net_addr *src = &e->sources[c->out_len - 1];

		ret = ring_reserve(e->ring, 5);
		if (!ret)
			ret = ring_bind_linked(e->ring, c->fd, (const struct sockaddr *)&src->ss,
					       src->len, &one, conn_ud(e, c, UD_OP_SOCKOPT),
					       conn_ud(e, c, UD_OP_BIND));
		if (ret) {
			fail_connect(e, c, ret);
			return;
		}
		c->inflight += 2;
	}
	ret = ring_connect_linked(e->ring, c->fd, conn_fixed(c), (const struct sockaddr *)&a->ss,
				  a->len, conn_fixed(c) ? &one : NULL,
				  e->connect_timeout_ms ? &e->connect_ts : NULL,
				  conn_ud(e, c, UD_OP_SOCKOPT), conn_ud(e, c, UD_OP_CONNECT),
				  conn_ud(e, c, UD_OP_LINK_TIMEOUT));
	if (ret) {
		fail_connect(e, c, ret);
		return;
	}
	c->inflight += 1 + (conn_fixed(c) ? 1 : 0) + (e->connect_timeout_ms ? 1 : 0);
}

static void on_socket(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->inflight--;
	if (c->life & CONN_L_DEAD) {
		if (cqe->res >= 0 &&
		    ring_close(e->ring, cqe->res, true, conn_ud(e, c, UD_OP_CLOSE)) == 0)
			c->inflight++;
		maybe_release(e, c);
		return;
	}
	if (cqe->res < 0) {
		fail_connect(e, c, cqe->res);
		return;
	}
	c->fd = cqe->res;
	c->life |= CONN_L_FIXED;
	submit_connect(e, c);
}

static void on_bind(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->inflight--;
	if (cqe->res < 0 && cqe->res != -ECANCELED)
		c->out_len = BIND_FAILED | (uint32_t)-cqe->res;
	maybe_release(e, c);
}

static void on_connect(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;

	/* Cancelled because the bind before it failed: that is the error. */
	if (res == -ECANCELED && (c->out_len & BIND_FAILED))
		res = -(int)(c->out_len & ~BIND_FAILED);
	c->out_len = 0;

	TRACE_CONNECT(c->slot, c->gen, res);
	c->inflight--;
	if (c->life & CONN_L_DEAD) {
		maybe_release(e, c);
		return;
	}
	if (res < 0) {
		/* Cancelled by its linked timeout: we never cancel a live connect otherwise. */
		fail_connect(e, c, res == -ECANCELED ? -ETIMEDOUT : res);
		return;
	}
	c->life &= ~CONN_L_CONNECTING;
	c->out_ptr = NULL; /* held the address while connecting */
	c->last_active_ms = now32(e);
	conn_event(c, TCP_EV_RCV_SYN_ACK, e->stats);
	STAT_INC(e->stats, connects_out);
	if (e->info)
		info_query(e, c);
	c->life |= CONN_L_KICKING;
	if (e->mode->connected)
		e->mode->connected(e, c, 0);
	c->life &= ~CONN_L_KICKING;
	kick(e, c);
	timer_update(e, c);
	maybe_release(e, c);
}

/* ---- accept ------------------------------------------------------------------------------- */

static void arm_accept_slot(struct engine *e, unsigned i)
{
	e->acc_len[i] = sizeof(e->acc_addr[i]);
	if (ring_accept_addr(e->ring, e->listen_fd, e->direct, (struct sockaddr *)&e->acc_addr[i],
			     &e->acc_len[i], ud_encode(UD_OP_ACCEPT, i, NO_SLOT)) == 0) {
		e->accept_armed++;
		e->accept_slot_armed |= (uint16_t)(1u << i);
	}
}

/*
 * One multishot accept; or, when the mode wants peer addresses, ACCEPT_SLOTS
 * single-shot accepts with an address buffer each (a multishot accept
 * writes every peer's address into the same buffer).
 */
static void arm_accept(struct engine *e)
{
	if (e->peer_addrs) {
		for (unsigned i = 0; i < ACCEPT_SLOTS; i++)
			if (!(e->accept_slot_armed & (1u << i)))
				arm_accept_slot(e, i);
		return;
	}
	if (!e->accept_armed && ring_accept_multishot(e->ring, e->listen_fd, e->direct,
						      ud_encode(UD_OP_ACCEPT, 0, NO_SLOT)) == 0)
		e->accept_armed = 1;
}

/* Closes a socket that never became a connection (refused, or arrived while draining). */
static void close_unowned(struct engine *e, int fd)
{
	if (ring_close(e->ring, fd, e->direct, ud_encode(UD_OP_CLOSE, 0, NO_SLOT)))
		STAT_INC(e->stats, errors);
}

static void on_accept(struct engine *e, const struct io_uring_cqe *cqe)
{
	unsigned slot = ud_gen(cqe->user_data);
	struct conn *c;

	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		e->accept_armed--;
		if (e->peer_addrs)
			e->accept_slot_armed &= (uint16_t) ~(1u << slot);
	}
	if (cqe->res < 0) {
		if (cqe->res != -ECANCELED) {
			/* EMFILE, ENFILE (fixed table full), ENOMEM: keep serving, retry on a tick. */
			STAT_INC(e->stats, accept_errors);
			e->accept_backoff = true;
		}
		return;
	}
	if (e->draining) {
		close_unowned(e, cqe->res);
		return;
	}
	c = e->clients < e->max_clients ? conn_alloc(&e->slab) : NULL;
	if (!c) {
		STAT_INC(e->stats, refused);
		close_unowned(e, cqe->res);
	} else {
		e->clients++;
		e->cur_peer = e->peer_addrs ? (const struct sockaddr *)&e->acc_addr[slot] : NULL;
		e->cur_peer_len = e->peer_addrs ? e->acc_len[slot] : 0;
		c->fd = cqe->res;
		c->side = CONN_SIDE_CLIENT;
		if (e->direct)
			c->life |= CONN_L_FIXED;
		c->last_active_ms = now32(e);
		TRACE_ACCEPT(c->slot, c->gen, c->fd);
		conn_track(c, e->stats);
		conn_event(c, TCP_EV_PASSIVE_OPEN, e->stats);
		conn_event(c, TCP_EV_RCV_SYN, e->stats);
		conn_event(c, TCP_EV_RCV_ACK, e->stats);
		STAT_INC(e->stats, accepts);
		if (e->info) {
			info_begin(e, c, e->cur_peer, e->cur_peer_len);
			info_query(e, c);
		}
		arm_recv(e, c);
		c->life |= CONN_L_KICKING;
		if (e->pp) {
			/* The mode hears of it once its PROXY header is in (preamble_readable). */
			proxy_proto_parser_init(&e->pp[conn_slot(&e->slab, c)],
						PROXY_PROTO_MAX_LEN);
			c->life |= CONN_L_PREAMBLE;
			engine_set_deadline(e, c, e->now_ms + e->pp_ms);
		} else if (e->mode->accepted) {
			e->mode->accepted(e, c);
		}
		e->cur_peer = NULL;
		c->life &= ~CONN_L_KICKING;
		kick(e, c);
		timer_update(e, c);
		maybe_release(e, c);
	}
	if (e->peer_addrs && !e->accept_backoff && !e->draining) {
		arm_accept_slot(e, slot);
	} else if (!e->accept_armed && !e->accept_backoff) {
		arm_accept(e);
		STAT_INC(e->stats, accept_rearms);
	}
}

/* ---- the owner's side --------------------------------------------------------------------- */

typedef void (*conn_handler)(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe);

/* Completions that belong to a connection, by op. */
static const conn_handler conn_handlers[UD_OP_COUNT] = {
	[UD_OP_RECV] = on_recv,	    [UD_OP_SEND] = on_send,	  [UD_OP_SHUTDOWN] = on_shutdown,
	[UD_OP_CANCEL] = on_done,   [UD_OP_CLOSE] = on_close,	  [UD_OP_CONNECT] = on_connect,
	[UD_OP_SOCKET] = on_socket, [UD_OP_SOCKOPT] = on_sockopt, [UD_OP_LINK_TIMEOUT] = on_done,
	[UD_OP_OUTQ] = on_outq,	    [UD_OP_BIND] = on_bind,
};

bool engine_owns(uint64_t user_data)
{
	unsigned op = ud_op(user_data);

	return op == UD_OP_ACCEPT || (op < UD_OP_COUNT && conn_handlers[op]);
}

void engine_complete(struct engine *e, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	unsigned op = ud_op(ud);
	struct conn *c;

	TRACE_CQE(op, ud_slot(ud), ud_gen(ud), cqe->res);
	if (op < UD_OP_COUNT)
		STAT_INC(e->stats, ops[op]);
	if (cqe->res < 0)
		STAT_INC(e->stats, errnos[stats_errno_index(cqe->res)]);
	if (op == UD_OP_ACCEPT) {
		on_accept(e, cqe);
		return;
	}
	if (op == UD_OP_WRITE) {
		e->writes--;
		if (e->mode->written)
			e->mode->written(e, ud_gen(ud), cqe->res);
		return;
	}
	if (ud_slot(ud) == NO_SLOT)
		return; /* an unowned close or the accept cancel */
	c = conn_lookup(&e->slab, ud_slot(ud), ud_gen(ud));
	if (!c || op >= UD_OP_COUNT || !conn_handlers[op]) {
		uint16_t bids[PAUSE_AT * 2];
		unsigned nb = cqe_buffers(e, cqe, bids);

		STAT_INC(e->stats, stale);
		for (unsigned i = 0; i < nb; i++)
			bufring_put(&e->bufs, bids[i]);
		return;
	}
	conn_handlers[op](e, c, cqe);
}

static void on_timer(void *arg, uint32_t slot);

void engine_flush(struct engine *e)
{
	/*
	 * Timers due by the loop's clock fire here too, not only on the 100 ms
	 * tick: a busy shard closes on time to the millisecond, an idle one
	 * within a tick. Nothing due costs a comparison (the clock counts ms).
	 */
	if (e->clock_set)
		wheel_advance(&e->timers, now32(e), on_timer, e);
	bufring_flush(&e->bufs);
	if (e->nobufs_head != LIST_END)
		nobufs_wake(e);
}

void engine_set_now(struct engine *e, uint64_t now_ms)
{
	e->now_ms = now_ms;
	if (!e->clock_set) {
		/* The wheel's time starts at the engine clock's, wherever that is. */
		e->clock_set = true;
		if (!e->timers.count)
			wheel_init(&e->timers, &e->slab.conns[0].timer, sizeof(struct conn),
				   now32(e));
	}
}

/* One connection's timeouts, when its timer fires: linger, a mode's deadline, send, idle. */
static void check_timeouts(struct engine *e, struct conn *c)
{
	uint32_t now = now32(e);

	if (c->life & CONN_L_CONNECTING)
		return; /* the connect's linked timeout covers it */
	if (c->rx & CONN_RX_DISCARD) {
		if (now - c->last_active_ms > LINGER_MS)
			abort_conn(e, c);
		else
			ask_fin_acked(e, c);
		return;
	}
	ask_fin_acked(e, c); /* a half-close waiting in FIN_WAIT_1 */
	if (c->deadline_ms && (int32_t)(now - c->deadline_ms) >= 0) {
		c->deadline_ms = 0;
		if (c->life & CONN_L_PREAMBLE)
			preamble_fail(e, c); /* no header in time */
		else if (e->mode->expired)
			e->mode->expired(e, c);
		else
			abort_conn(e, c);
		return;
	}
	/*
	 * A send that has not moved for send_ms: the peer stopped reading, and
	 * its queued buffers are held for nothing. Backpressure has stopped its
	 * receive by then, so nothing refreshes the clock meanwhile.
	 */
	if (e->send_ms && (c->tx & CONN_TX_SENDING) && now - c->last_active_ms > e->send_ms) {
		STAT_INC(e->stats, send_timeouts);
		engine_close(e, c, ENGINE_CLOSE_RESET);
		return;
	}
	if ((c->out_count || c->in_echo) && (c->tx & CONN_TX_SENDING) &&
	    bufs_free(e) < e->reserve / 8 && now - c->last_active_ms > STARVED_SEND_MS) {
		STAT_INC(e->stats, starved_resets);
		engine_close(e, c, ENGINE_CLOSE_RESET);
		return;
	}
	if (!e->idle_ms || now - c->last_active_ms <= e->idle_ms)
		return;
	/* How late, by this clock: "more than idle_ms" was due at idle_ms + 1. */
	stats_idle_close(e->stats, now - c->last_active_ms - e->idle_ms - 1);
	if (c->tx & CONN_TX_SENDING) {
		/* A send stalled that long: the peer stopped reading. */
		STAT_INC(e->stats, resets);
		abort_conn(e, c);
	} else {
		engine_close(e, c, ENGINE_CLOSE);
	}
}

/*
 * A draining connection gets our FIN only once nothing the peer sent can be
 * left behind: its receive is armed (so the kernel holds none of its bytes:
 * not paused by backpressure, not starved of buffers), nothing is queued
 * either way, and it has been quiet for DRAIN_QUIET_MS. Bytes that come
 * after our FIN were never acknowledged before it. A connection that never
 * gets there is reset at the drain deadline, so its peer knows. Its timer
 * looks again DRAIN_QUIET_MS after its last traffic, or at the next tick
 * while something else holds it.
 */
static bool drain_quiet(const struct engine *e, const struct conn *c)
{
	return (c->rx & CONN_RX_ARMED) &&
	       !(c->rx & (CONN_RX_PAUSED | CONN_RX_BLOCKED | CONN_RX_NOBUFS | CONN_RX_CANCELING)) &&
	       !engine_sending(c) && !c->in_count && now32(e) - c->last_active_ms >= DRAIN_QUIET_MS;
}

/* Draining, and not closing yet: our FIN once it is quiet. Returns true when it closed. */
static bool drain_check(struct engine *e, struct conn *c)
{
	if ((c->life & (CONN_L_DRAIN | CONN_L_CLOSE_WANTED | CONN_L_DEAD)) != CONN_L_DRAIN ||
	    !drain_quiet(e, c))
		return false;
	engine_close(e, c, ENGINE_CLOSE_LINGER);
	return true;
}

/* The wheel's callback: a connection's timer is due. */
static void on_timer(void *arg, uint32_t slot)
{
	struct engine *e = arg;
	struct conn *c = &e->slab.conns[slot];

	if (!(c->life & CONN_L_USED) || (c->life & CONN_L_DEAD))
		return;
	if (!drain_check(e, c))
		check_timeouts(e, c);
	if (!(c->life & CONN_L_DEAD))
		timer_update(e, c);
	maybe_release(e, c);
}

/* Accept back-off, and the timers due by now: as many as fire, never a scan of the table. */
void engine_tick(struct engine *e, uint64_t now_ms)
{
	engine_set_now(e, now_ms);
	if (e->accept_backoff && !e->draining) {
		e->accept_backoff = false;
		if (e->listen_fd >= 0)
			arm_accept(e);
	}
	wheel_advance(&e->timers, now32(e), on_timer, e);
}

void engine_second(struct engine *e, int64_t wall_sec)
{
	if (e->mode->tick)
		e->mode->tick(e, e->now_ms, wall_sec);
}

void engine_listen(struct engine *e, int listen_fd)
{
	e->listen_fd = listen_fd;
	{
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);

		if (getsockname(listen_fd, (struct sockaddr *)&ss, &len) == 0)
			e->listen_family = ss.ss_family;
	}
	arm_accept(e);
}

void engine_drain(struct engine *e)
{
	e->draining = true;
	if (e->accept_armed)
		ring_cancel_fd(e->ring, e->listen_fd, false, ud_encode(UD_OP_CANCEL, 0, NO_SLOT));
	e->accept_backoff = false;
	/*
	 * One connection per session: each closes once its peer is quiet. Two
	 * (a proxy): the sessions end on their own, both sides in step, or are
	 * reset at the deadline.
	 */
	if (e->mode->conns_per_session > 1)
		return;
	for (uint32_t i = 0; i < e->slab.high_water; i++) {
		struct conn *c = &e->slab.conns[i];

		if (!(c->life & CONN_L_USED) || (c->life & CONN_L_DEAD))
			continue;
		c->life |= CONN_L_DRAIN;
		if (!drain_check(e, c) && !(c->life & CONN_L_CLOSE_WANTED))
			timer_at(e, c, c->last_active_ms + DRAIN_QUIET_MS);
	}
}

/* The drain deadline: whatever is left is reset, so no peer takes a clean end for a whole one. */
void engine_abort_all(struct engine *e)
{
	for (uint32_t i = 0; i < e->slab.high_water; i++) {
		struct conn *c = &e->slab.conns[i];

		if ((c->life & CONN_L_USED) && !(c->life & CONN_L_DEAD))
			engine_close(e, c, ENGINE_CLOSE_RESET);
	}
}

bool engine_done(const struct engine *e)
{
	return e->slab.used == 0 && !e->accept_armed && !e->writes;
}

unsigned engine_buffers_held(const struct engine *e)
{
	return e->bufs.outstanding;
}

/* The connections kept, and in *slots the fixed-file table's size for them. */
static unsigned conn_cap(unsigned max_conns, unsigned file_slots, unsigned *slots_out)
{
	/*
	 * Direct descriptors: sockets live in the ring's fixed-file table only.
	 * The table has room beyond the connection limit, so a connection over
	 * the limit can still be accepted and closed with a FIN; a full table
	 * makes the kernel drop the accepted socket with a RST. When the
	 * descriptor limit keeps the table small, the connection limit shrinks
	 * to keep that headroom.
	 */
	unsigned slots = max_conns + FILE_SLOT_EXTRA, headroom, cap = max_conns;

	if (file_slots > ENGINE_MAX_FILE_SLOTS || !file_slots)
		file_slots = ENGINE_MAX_FILE_SLOTS;
	if (slots > file_slots) {
		slots = file_slots;
		headroom = slots / 2 < FILE_SLOT_EXTRA ? slots / 2 : FILE_SLOT_EXTRA;
		cap = slots - headroom;
		if (cap < 1)
			cap = 1;
	}
	*slots_out = slots;
	return cap;
}

unsigned engine_conn_cap(unsigned max_conns, unsigned file_slots)
{
	unsigned slots;

	return conn_cap(max_conns, file_slots, &slots);
}

size_t engine_conn_bytes(bool conn_info, bool accept_proxy)
{
	return sizeof(struct conn) + (conn_info ? sizeof(struct conn_info) : 0) +
	       (accept_proxy ? sizeof(struct proxy_proto_parser) : 0);
}

int engine_create(struct engine **out, struct ring *r, const struct engine_params *p, char *note,
		  size_t note_len)
{
	struct engine *e = calloc(1, sizeof(*e));
	unsigned slots, cap = conn_cap(p->max_conns, p->file_slots, &slots);
	int ret;

	if (!e)
		return -ENOMEM;
	e->ring = r;
	e->mode = p->mode;
	e->stats = p->stats;
	e->idle_ms = p->idle_ms;
	e->send_ms = p->send_ms;
	e->sources = p->sources;
	e->n_sources = p->sources ? p->n_sources : 0;
	/* A send starting: the earliest of its timeouts that can come due ("more than": + 1). */
	e->send_due = p->send_ms ? p->send_ms + 1 : 0;
	if (p->idle_ms && (!e->send_due || p->idle_ms + 1 < e->send_due))
		e->send_due = p->idle_ms + 1;
	e->send_due_queued = e->send_due && e->send_due < STARVED_SEND_MS + 1 ? e->send_due
									      : STARVED_SEND_MS + 1;
	if (p->ka_idle) {
		e->ka[0] = 1;
		e->ka[1] = (int)p->ka_idle;
		e->ka[2] = (int)p->ka_intvl;
		e->ka[3] = (int)p->ka_cnt;
	}
	e->peer_addrs = p->peer_addrs;
	e->bundle = p->recv_bundle && r->recv_bundle;
	e->listen_fd = -1;
	e->nobufs_head = LIST_END;
	ret = bufring_init(&e->bufs, r, p->bgid, p->buf_count, p->buf_size);
	if (ret) {
		snprintf(note, note_len, "receive buffers (%u x %u bytes = %llu MiB)", p->buf_count,
			 p->buf_size, (unsigned long long)p->buf_count * p->buf_size >> 20);
		goto out_free;
	}
	e->hold_max = p->buf_count / 32;
	e->hold_max = e->hold_max < 2 ? 2 : e->hold_max > PAUSE_AT ? PAUSE_AT : e->hold_max;
	e->resume_at = e->hold_max / 4;
	e->reserve = p->buf_count / 4 ? p->buf_count / 4 : 1;
	/* conn_cap(): the table has headroom beyond cap; the note names a cap. */
	e->direct = ring_register_files_sparse(r, slots) == 0;
	if (!e->direct)
		cap = p->max_conns; /* plain fds: EMFILE leaves connections in the backlog */
	e->sockopt_cmd = e->direct && ring_probe_setsockopt(r) == 0;
	ret = conn_slab_init(&e->slab, cap);
	if (ret) {
		snprintf(note, note_len, "connection table (%u slots)", cap);
		goto out_bufs;
	}
	wheel_init(&e->timers, &e->slab.conns[0].timer, sizeof(struct conn), 0);
	if (p->conn_info) {
		e->info_bytes = (size_t)cap * sizeof(*e->info);
		e->info = mmap(NULL, e->info_bytes, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (e->info == MAP_FAILED) {
			e->info = NULL;
			ret = -ENOMEM;
			snprintf(note, note_len, "connection info (%u slots)", cap);
			goto out_slab_only;
		}
	}
	if (p->accept_proxy) {
		e->pp_ms = p->accept_proxy_ms ? p->accept_proxy_ms : 5000;
		e->pp_bytes = (size_t)cap * sizeof(*e->pp);
		e->pp = mmap(NULL, e->pp_bytes, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (e->pp == MAP_FAILED) {
			e->pp = NULL;
			ret = -ENOMEM;
			snprintf(note, note_len, "PROXY header state (%u slots)", cap);
			goto out_info;
		}
	}
	e->vecs_bytes = (size_t)cap * sizeof(*e->vecs);
	e->vecs = mmap(NULL, e->vecs_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (e->vecs == MAP_FAILED)
		e->vecs = NULL; /* one buffer per send then */
	/* Two connections per session (a proxy): the limit on accepted ones is a share of the slab. */
	e->max_clients = p->max_clients ? p->max_clients : cap;
	if (cap < p->max_conns && p->max_clients)
		e->max_clients = (uint32_t)((uint64_t)p->max_clients * cap / p->max_conns);
	if (e->max_clients < 1)
		e->max_clients = 1;
	snprintf(note, note_len, "%s%s",
		 e->direct ? " direct-fds" : " (plain fds: fixed-file table refused)",
		 e->direct && !e->sockopt_cmd ? " (no io_uring setsockopt: plain outbound sockets)"
					      : "");
	if (cap < p->max_conns) {
		size_t len = strlen(note);

		snprintf(note + len, note_len - len, "; max-conns %u (descriptor limit)",
			 e->max_clients);
	}
	if (e->mode->init) {
		ret = e->mode->init(e, p->mode_arg, &e->mode_data);
		if (ret) {
			snprintf(note, note_len, "%s mode", e->mode->name);
			goto out_slab;
		}
	}
	*out = e;
	return 0;

out_slab:
	if (e->vecs)
		munmap(e->vecs, e->vecs_bytes);
	if (e->pp)
		munmap(e->pp, e->pp_bytes);
out_info:
	if (e->info)
		munmap(e->info, e->info_bytes);
out_slab_only:
	conn_slab_destroy(&e->slab);
out_bufs:
	bufring_exit(&e->bufs);
out_free:
	free(e);
	return ret;
}

void engine_destroy(struct engine *e)
{
	if (!e)
		return;
	if (e->mode->fini)
		e->mode->fini(e, e->mode_data);
	if (e->vecs)
		munmap(e->vecs, e->vecs_bytes);
	if (e->pp)
		munmap(e->pp, e->pp_bytes);
	if (e->info)
		munmap(e->info, e->info_bytes);
	conn_slab_destroy(&e->slab);
	bufring_exit(&e->bufs);
	free(e);
}

/* ---- the mode's API ----------------------------------------------------------------------- */

uint64_t engine_now_ms(const struct engine *e)
{
	return e->now_ms;
}

struct stats *engine_stats(struct engine *e)
{
	return e->stats;
}

void *engine_mode_data(struct engine *e)
{
	return e->mode_data;
}

uint32_t engine_capacity(const struct engine *e)
{
	return e->slab.cap;
}

struct conn_ref engine_ref(const struct engine *e, const struct conn *c)
{
	return (struct conn_ref){conn_slot(&e->slab, c), c->gen};
}

struct conn *engine_conn(struct engine *e, struct conn_ref ref)
{
	return conn_lookup(&e->slab, ref.slot, ref.gen);
}

const struct sockaddr *engine_accepted_peer(const struct engine *e, socklen_t *len)
{
	*len = e->cur_peer_len;
	return e->cur_peer;
}

uint32_t engine_input(struct engine *e, struct conn *c, const uint8_t **data)
{
	if (!c->in_count) {
		*data = NULL;
		return 0;
	}
	*data = bufring_buf(&e->bufs, c->in_head) + c->in_off;
	return e->bufs.len[c->in_head] - c->in_off;
}

void engine_consume(struct engine *e, struct conn *c, uint32_t n)
{
	if (!c->in_count || c->in_echo)
		return;
	c->in_off += n;
	if (c->in_off >= e->bufs.len[c->in_head])
		pop_input(e, c);
	kick(e, c);
}

void engine_drop_input(struct engine *e, struct conn *c)
{
	if (c->in_echo)
		return; /* a send reads these buffers: they go as it completes */
	while (c->in_count)
		pop_input(e, c);
	kick(e, c);
}

static bool can_send(const struct conn *c)
{
	return !(c->life & (CONN_L_CLOSE_WANTED | CONN_L_DEAD | CONN_L_CONNECTING)) &&
	       !(c->tx & (CONN_TX_SHUT_WANTED | CONN_TX_SHUT_INFLIGHT | CONN_TX_SHUT_DONE));
}

int engine_send(struct engine *e, struct conn *c, const void *buf, uint32_t len)
{
	if (!can_send(c))
		return -EPIPE;
	if (engine_sending(c))
		return -EBUSY;
	if (!len) {
		c->tx |= CONN_TX_SENT_NOTIFY;
	} else {
		c->out_ptr = buf;
		c->out_len = len;
		c->out_off = 0;
	}
	kick(e, c);
	return 0;
}

uint32_t engine_input_len(const struct engine *e, const struct conn *c)
{
	uint32_t n = 0;
	uint16_t bid = c->in_head;

	for (uint16_t i = 0; i < c->in_count; i++, bid = e->bufs.next[bid])
		n += e->bufs.len[bid];
	return n - (c->in_count ? c->in_off : 0);
}

int engine_send_input(struct engine *e, struct conn *c, const void *pre, uint32_t pre_len,
		      uint32_t len)
{
	if (!can_send(c))
		return -EPIPE;
	if (engine_sending(c))
		return -EBUSY;
	if (len > ENGINE_SEND_INPUT_MAX || len > engine_input_len(e, c))
		return -EINVAL;
	if (!pre_len && !len) {
		c->tx |= CONN_TX_SENT_NOTIFY;
	} else {
		c->out_ptr = pre_len ? pre : NULL;
		c->out_len = pre_len;
		c->out_off = 0;
		c->in_echo = (uint16_t)len;
	}
	kick(e, c);
	return 0;
}

bool engine_sending(const struct conn *c)
{
	return c->out_ptr || c->out_count || c->in_echo || (c->tx & CONN_TX_SENDING);
}

int engine_forward(struct engine *e, struct conn *from, struct conn *to)
{
	uint32_t bytes = 0;
	uint16_t head, bid;

	if (!from->in_count || from->in_echo)
		return 0;
	if (!can_send(to) || to->out_ptr || to->in_echo) {
		engine_drop_input(e, from);
		return -EPIPE;
	}
	head = from->in_head;
	if (from->in_off) {
		/*
		 * Only the head of an output chain has an offset, so a partly
		 * consumed buffer is compacted before it joins one. Echo and the
		 * proxy never consume partly; this keeps the rare case correct.
		 */
		uint8_t *b = bufring_buf(&e->bufs, head);

		e->bufs.len[head] -= from->in_off;
		memmove(b, b + from->in_off, e->bufs.len[head]);
		from->in_off = 0;
	}
	bid = head;
	for (uint16_t i = 0; i < from->in_count; i++, bid = e->bufs.next[bid])
		bytes += e->bufs.len[bid];
	if (to->out_count)
		e->bufs.next[to->out_tail] = head;
	else
		to->out_head = head;
	to->out_tail = from->in_tail;
	to->out_count += from->in_count;
	from->in_count = 0;
	if (to->out_count >= feed_limit(e)) {
		from->rx |= CONN_RX_BLOCKED;
		to->feeder = conn_slot(&e->slab, from);
	}
	kick(e, to);
	kick(e, from);
	return (int)bytes;
}

struct conn *engine_connect(struct engine *e, const struct net_addr *addr, uint32_t timeout_ms,
			    int *err)
{
	return engine_connect_from(e, addr, UINT32_MAX, timeout_ms, err);
}

struct conn *engine_connect_from(struct engine *e, const struct net_addr *addr, unsigned src,
				 uint32_t timeout_ms, int *err)
{
	struct conn *c;
	int ret;

	if (e->draining) {
		*err = -ESHUTDOWN;
		return NULL;
	}
	c = conn_alloc(&e->slab);
	if (!c) {
		*err = -EMFILE;
		return NULL;
	}
	c->side = CONN_SIDE_UPSTREAM;
	c->life |= CONN_L_CONNECTING;
	c->out_ptr = (const uint8_t *)addr; /* the address, until the connect is submitted */
	c->out_len = src < e->n_sources ? src + 1 : 0;
	c->last_active_ms = now32(e);
	conn_track(c, e->stats);
	if (e->info)
		info_begin(e, c, (const struct sockaddr *)&addr->ss, addr->len);
	conn_event(c, TCP_EV_ACTIVE_OPEN, e->stats);
	if (timeout_ms != e->connect_timeout_ms) {
		/* The kernel reads the timespec at submission: push out those that use the old one. */
		ring_submit(e->ring);
		e->connect_timeout_ms = timeout_ms;
		e->connect_ts.tv_sec = timeout_ms / 1000;
		e->connect_ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
	}
	if (e->sockopt_cmd) {
		ret = ring_socket_direct(e->ring, addr->ss.ss_family, conn_ud(e, c, UD_OP_SOCKET));
		if (ret)
			goto out_fail;
		c->inflight++;
		return c;
	}
	/* No setsockopt for direct descriptors on this kernel: a plain socket, set up here. */
	c->fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		ret = -errno;
		goto out_fail;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (c->out_len) {
		const struct net_addr *s = &e->sources[c->out_len - 1];

		c->out_len = 0;
		setsockopt(c->fd, s->ss.ss_family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
			   IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(c->fd, (const struct sockaddr *)&s->ss, s->len)) {
			ret = -errno;
			goto out_fail;
		}
	}
	submit_connect(e, c);
	return c;

out_fail:
	*err = ret;
	c->out_ptr = NULL;
	c->out_len = 0;
	c->life &= ~CONN_L_CONNECTING;
	conn_event(c, TCP_EV_CLOSE, e->stats);
	conn_untrack(c, e->stats);
	if (c->fd >= 0)
		close(c->fd);
	conn_free(&e->slab, c);
	return NULL;
}

void engine_shutdown(struct engine *e, struct conn *c)
{
	if (c->life & CONN_L_DEAD)
		return;
	c->tx |= CONN_TX_SHUT_WANTED;
	kick(e, c);
}

void engine_close(struct engine *e, struct conn *c, enum engine_close how)
{
	if (c->life & CONN_L_DEAD)
		return;
	if (how == ENGINE_CLOSE_RESET) {
		c->life |= CONN_L_RESET;
		if (c->state != TCPS_CLOSED)
			conn_event(c, TCP_EV_RCV_RST, e->stats);
		issue_close(e, c, true);
		return;
	}
	if (how == ENGINE_CLOSE_NOW) {
		c->life |= CONN_L_CLOSE_WANTED;
		if (c->life & CONN_L_CONNECTING)
			conn_event(c, TCP_EV_CLOSE, e->stats); /* SYN_SENT -> CLOSED */
		do_close(e, c);
		return;
	}
	c->life |= CONN_L_CLOSE_WANTED | (how == ENGINE_CLOSE_LINGER ? CONN_L_LINGER : 0);
	kick(e, c);
}

void engine_wake(struct engine *e, struct conn *c)
{
	if (c->in_count)
		c->rx |= CONN_RX_NOTIFY;
	kick(e, c);
}

void engine_set_deadline(struct engine *e, struct conn *c, uint64_t at_ms)
{
	c->deadline_ms = at_ms ? (uint32_t)at_ms | 1 : 0;
	if (c->deadline_ms)
		timer_at(e, c, c->deadline_ms); /* a later one than before: the timer re-arms */
}

int engine_write(struct engine *e, int fd, const void *buf, uint32_t len, uint32_t token)
{
	int ret = ring_write(e->ring, fd, buf, len, ud_encode(UD_OP_WRITE, token, NO_SLOT));

	if (!ret)
		e->writes++;
	return ret;
}

bool engine_draining(const struct engine *e)
{
	return e->draining;
}

uint64_t engine_deadline(const struct engine *e, const struct conn *c)
{
	/* Kept as the low 32 bits of the clock: within 24 days of now either way. */
	if (!c->deadline_ms)
		return 0;
	return e->now_ms + (uint64_t)(int64_t)(int32_t)(c->deadline_ms - now32(e));
}
