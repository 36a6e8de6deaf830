// SPDX-License-Identifier: MIT
/*
 * Every timeout of a connection's life (idle, a stalled send, the mode's
 * deadline, the linger after our FIN), and the drain that closes it once it
 * is quiet.
 */
#include "engine_int.h"

#include "ringer/mode.h"

/*
 * Every connection has one timer on the engine's wheel (wheel.h, counting
 * engine-clock milliseconds, advanced by engine_tick), armed for the
 * earliest moment one of its timeouts can be due. When it fires,
 * check_timeouts() does what is due and eng_timer_update() arms it for the
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
 *   TLS buffers freed     last_active + TLS_BUFS_IDLE_MS  OpenSSL takes its record buffers
 *
 * What makes a timeout due sooner arms the timer sooner (timer_at: one
 * comparison when it is early enough already). What makes one later, such
 * as traffic moving last_active or a deadline pushed out, does nothing: the
 * timer fires early and is armed again for the new time (a lazy re-arm, as
 * nginx and HAProxy do), so receives and sends do not touch the wheel.
 */
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
	const struct eng_listener *l = &e->lst[c->lsn];
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
	if ((c->tx & CONN_TX_SENDING) && l->send_ms)
		earliest(at, &have, last + l->send_ms + 1);
	if ((c->tx & CONN_TX_SENDING) && c->out_count) {
		/* Due only while the pool runs dry: once stalled, asked again each STARVED_SEND_MS. */
		starved = last + STARVED_SEND_MS + 1;
		earliest(at, &have, before(now, starved) ? starved : now + STARVED_SEND_MS);
	}
	/* Idle closes a closing connection only when its send stalled (a close asked is a close). */
	if (l->idle_ms && (!(c->life & CONN_L_CLOSE_WANTED) || (c->tx & CONN_TX_SENDING)))
		earliest(at, &have, last + l->idle_ms + 1);
	if ((c->life & (CONN_L_DRAIN | CONN_L_CLOSE_WANTED)) == CONN_L_DRAIN)
		earliest(at, &have, last + DRAIN_QUIET_MS);
	if (eng_tls_bufs(e, c))
		earliest(at, &have, last + TLS_BUFS_IDLE_MS + 1);
	return have;
}

/* Arms c's timer for its next timeout, or disarms it. */
void eng_timer_update(struct engine *e, struct conn *c)
{
	uint32_t at = 0;

	if (timer_due(e, c, &at))
		wheel_arm(&e->timers, c->slot, not_past(e, at));
	else
		wheel_cancel(&e->timers, c->slot);
}

/* One connection's timeouts, when its timer fires: linger, a mode's deadline, send, idle. */
static void check_timeouts(struct engine *e, struct conn *c)
{
	const struct eng_listener *l = eng_lst(e, c);
	uint32_t now = now32(e);

	if (c->life & CONN_L_CONNECTING)
		return; /* the connect's linked timeout covers it */
	if (c->rx & CONN_RX_DISCARD) {
		if (now - c->last_active_ms > LINGER_MS)
			eng_abort_conn(e, c);
		else
			eng_ask_fin_acked(e, c);
		return;
	}
	eng_ask_fin_acked(e, c); /* a half-close waiting in FIN_WAIT_1 */
	if (c->deadline_ms && (int32_t)(now - c->deadline_ms) >= 0) {
		c->deadline_ms = 0;
		if (c->life & CONN_L_PREAMBLE)
			eng_preamble_fail(e, c); /* no header in time */
		else if (c->life & CONN_L_HANDSHAKE)
			eng_tls_handshake_timeout(e, c); /* no TLS handshake in time */
		else if (eng_mode(e, c)->expired)
			ENG_CALL(e, c, expired);
		else
			eng_abort_conn(e, c);
		return;
	}
	/*
	 * A send that has not moved for send_ms: the peer stopped reading, and
	 * its queued buffers are held for nothing. Backpressure has stopped its
	 * receive by then, so nothing refreshes the clock meanwhile.
	 */
	if (l->send_ms && (c->tx & CONN_TX_SENDING) && now - c->last_active_ms > l->send_ms) {
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
	if (eng_tls_bufs(e, c) && now - c->last_active_ms > TLS_BUFS_IDLE_MS)
		eng_tls_idle(e, c); /* OpenSSL's record buffers back */
	if (!l->idle_ms || now - c->last_active_ms <= l->idle_ms)
		return;
	/* How late, by this clock: "more than idle_ms" was due at idle_ms + 1. */
	stats_idle_close(e->stats, now - c->last_active_ms - l->idle_ms - 1);
	if (c->tx & CONN_TX_SENDING) {
		/* A send stalled that long: the peer stopped reading. */
		STAT_INC(e->stats, resets);
		eng_abort_conn(e, c);
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
 *
 * Quiet by our clock is not enough after the shard itself was held up (a
 * stopped process, a busy CPU): its clock jumps at once, while bytes that
 * arrived meanwhile wait in the ring's deferred work (DEFER_TASKRUN) for an
 * io_uring_enter that runs it, so the first iteration after the hold-up can
 * find the peer quiet with its bytes not reaped yet (SIGSTOP for 300 ms in
 * the drain did it every time). So the first look only marks the connection
 * (CONN_L_DRAIN_QUIET) and the FIN waits for a second look a millisecond
 * later: an iteration further on, after another enter and the batch it
 * brought.
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
	if ((c->life & (CONN_L_DRAIN | CONN_L_CLOSE_WANTED | CONN_L_DEAD)) != CONN_L_DRAIN)
		return false;
	if (!drain_quiet(e, c)) {
		c->life &= ~CONN_L_DRAIN_QUIET;
		return false;
	}
	if (!(c->life & CONN_L_DRAIN_QUIET)) {
		c->life |= CONN_L_DRAIN_QUIET;
		timer_at(e, c, now32(e) + 1);
		return false;
	}
	engine_close(e, c, ENGINE_CLOSE_LINGER);
	return true;
}

/* The wheel's callback: a connection's timer is due. */
void eng_on_timer(void *arg, uint32_t slot)
{
	struct engine *e = arg;
	struct conn *c = &e->slab.conns[slot];

	if (!(c->life & CONN_L_USED) || (c->life & CONN_L_DEAD))
		return;
	eng_enter(e, c->lsn);
	if (!drain_check(e, c))
		check_timeouts(e, c);
	if (!(c->life & CONN_L_DEAD))
		eng_timer_update(e, c);
	eng_maybe_release(e, c);
}

/* ---- the drain ---------------------------------------------------------------------------- */

void engine_drain(struct engine *e)
{
	e->draining = true;
	for (unsigned si = 0; si < e->n_socks; si++)
		eng_cancel_accepts(e, si);
	e->accept_backoff = false;
	eng_drain_conns(e, ENGINE_MAX_LISTENERS);
}

/*
 * One connection per session: each closes once its peer is quiet. Two (a
 * proxy): the sessions end on their own, both sides in step, or are reset
 * at the deadline. listener: only its connections; ENGINE_MAX_LISTENERS: all.
 */
void eng_drain_conns(struct engine *e, unsigned listener)
{
	for (uint32_t i = 0; i < e->slab.high_water; i++) {
		struct conn *c = &e->slab.conns[i];

		if (!(c->life & CONN_L_USED) || (c->life & CONN_L_DEAD) ||
		    eng_mode(e, c)->conns_per_session > 1 ||
		    (listener < ENGINE_MAX_LISTENERS && c->lsn != listener))
			continue;
		eng_enter(e, c->lsn);
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

		if ((c->life & CONN_L_USED) && !(c->life & CONN_L_DEAD)) {
			eng_enter(e, c->lsn);
			engine_close(e, c, ENGINE_CLOSE_RESET);
		}
	}
}
