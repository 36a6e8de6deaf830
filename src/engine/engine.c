// SPDX-License-Identifier: MIT
/*
 * The connection engine: every socket operation of every connection on one
 * ring, and the life of each connection from accept or connect to the free
 * of its slot. Whoever owns the ring runs the loop (a server shard, a
 * ringer-load thread) and hands the engine its completions.
 *
 * A connection's TCP life, and which function drives each edge (each part
 * of that life has its file, listed in engine_int.h: the first of these is
 * in accept.c, the next two in connect.c, on_peer_fin in recv.c, the last
 * three in close.c):
 *
 *   eng_on_accept   CLOSED -> LISTEN -> SYN_RCVD -> ESTABLISHED (the kernel did the handshake)
 *   engine_connect  CLOSED -> SYN_SENT;  eng_on_connect  SYN_SENT -> ESTABLISHED, or -> CLOSED
 *   on_peer_fin     ESTABLISHED -> CLOSE_WAIT;  FIN_WAIT_1/2 -> TIME_WAIT
 *   our_fin         ESTABLISHED -> FIN_WAIT_1;  CLOSE_WAIT -> LAST_ACK  (shutdown or close)
 *   eng_abort_conn  any -> CLOSED (a reset, an error, a timeout that ran out)
 *   release         LAST_ACK -> CLOSED, TIME_WAIT -> CLOSED; the slot is freed
 *
 * and its I/O, decided in one place, this file: eng_kick() asks engine_next()
 * (a pure function of the flags, engine_next.c) what to do, does it, and
 * asks again:
 *
 *        recv CQE                     send CQE                 mode calls
 *   input queued, NOTIFY        output popped, SENT_NOTIFY   send / forward / close
 *            \                          |                        /
 *             +-----------------> eng_kick(c) <-----------------+
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
#include "engine_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ringer/engine_next.h"
#include "ringer/mode.h"
#include "ringer/proxy_proto.h"
#include "ringer/trace.h"

/* ---- the decision, applied ---------------------------------------------------------------- */

static struct next_in next_view(const struct engine *e, const struct conn *c)
{
	/* Under pressure, a connection waiting for its peer to read takes no more buffers. */
	bool squeezed = (c->out_count || c->in_echo) && pool_pressed(e);
	struct next_in in = {
		.rx = c->rx,
		.tx = c->tx,
		.life = c->life,
		.in_queued = c->in_count > 0,
		.in_full = c->in_count >= e->hold_max || squeezed,
		.in_low = c->in_count <= e->resume_at && !squeezed,
		.out_queued = c->out_ptr != NULL || c->out_count > 0 || c->in_echo > 0,
	};

	if (eng_tls_on(e, c)) {
		const struct tls_conn *t = &e->tlsc[c->slot];

		/*
		 * The receive pauses on the ciphertext held (the plaintext has its
		 * own bound in the read pass); records queued are output too; and
		 * output waiting for pool buffers is as good as a send in flight.
		 */
		in.in_full = t->raw_count >= e->hold_max || squeezed;
		in.in_low = t->raw_count <= e->resume_at && !squeezed;
		in.out_queued = (in.out_queued && (t->flags & TLS_F_DONE)) || t->ct_count > 0;
		if (t->flags & TLS_F_WAIT_SEND)
			in.tx |= CONN_TX_SENDING;
	}
	return in;
}

static void apply(struct engine *e, struct conn *c, enum next_action a)
{
	switch (a) {
	case NEXT_NONE:
	case NEXT_ACTION_COUNT:
		return;
	case NEXT_SEND:
		eng_start_send(e, c);
		return;
	case NEXT_SENT:
		c->tx &= ~CONN_TX_SENT_NOTIFY;
		ENG_CALL(e, c, sent);
		return;
	case NEXT_READABLE:
		c->rx &= ~CONN_RX_NOTIFY;
		if (c->life & CONN_L_PREAMBLE)
			eng_preamble_readable(e, c);
		else
			ENG_CALL(e, c, readable);
		return;
	case NEXT_EOF:
		c->rx &= ~CONN_RX_EOF_NOTIFY;
		if (c->life & CONN_L_PREAMBLE)
			eng_preamble_fail(e, c); /* the peer ended before its header did */
		else if (eng_mode(e, c)->peer_eof)
			ENG_CALL(e, c, peer_eof);
		else
			engine_close(e, c, ENGINE_CLOSE);
		return;
	case NEXT_DROP_INPUT:
		engine_drop_input(e, c);
		return;
	case NEXT_SHUTDOWN:
		/* TLS: our close_notify goes out before the FIN; the next action sends it. */
		if (eng_tls_on(e, c) && eng_tls_close_notify(e, c))
			return;
		eng_do_shutdown(e, c);
		return;
	case NEXT_CLOSE:
		if (eng_tls_on(e, c) && eng_tls_close_notify(e, c))
			return;
		eng_do_close(e, c);
		return;
	case NEXT_PAUSE_RECV:
		eng_pause_recv(e, c);
		return;
	case NEXT_MARK_PAUSED:
		c->rx |= CONN_RX_PAUSED;
		STAT_INC(e->stats, paused);
		return;
	case NEXT_ARM_RECV:
		eng_arm_recv(e, c);
		return;
	}
}

/*
 * Does what the decision says until it says "wait". Mode callbacks run in
 * here and may call back into the engine for this connection: those calls
 * change flags and return, and this loop picks the change up.
 */
void eng_kick(struct engine *e, struct conn *c)
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
	if (eng_tls_on(e, c))
		eng_tls_want(e, c); /* room again for what waits inside OpenSSL */
}

/* ---- the owner's side --------------------------------------------------------------------- */

typedef void (*conn_handler)(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe);

/* Completions that belong to a connection, by op. */
static const conn_handler conn_handlers[UD_OP_COUNT] = {
	[UD_OP_RECV] = eng_on_recv,	    [UD_OP_SEND] = eng_on_send,
	[UD_OP_SHUTDOWN] = eng_on_shutdown, [UD_OP_CANCEL] = eng_on_done,
	[UD_OP_CLOSE] = eng_on_close,	    [UD_OP_CONNECT] = eng_on_connect,
	[UD_OP_SOCKET] = eng_on_socket,	    [UD_OP_SOCKOPT] = eng_on_sockopt,
	[UD_OP_LINK_TIMEOUT] = eng_on_done, [UD_OP_OUTQ] = eng_on_outq,
	[UD_OP_BIND] = eng_on_bind,
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
		eng_on_accept(e, cqe);
		return;
	}
	if (op == UD_OP_WRITE) {
		/* gen: the listener that wrote, and its token (engine_write) */
		unsigned i = ud_gen(ud) >> 16;

		e->writes--;
		if (i < e->n_lst && e->lst[i].mode->written) {
			unsigned was = eng_enter(e, i);

			e->lst[i].mode->written(e, ud_gen(ud) & 0xffff, cqe->res);
			eng_leave(e, was);
		}
		return;
	}
	if (ud_slot(ud) == NO_SLOT)
		return; /* an unowned close or the accept cancel */
	c = conn_lookup(&e->slab, ud_slot(ud), ud_gen(ud));
	if (!c || op >= UD_OP_COUNT || !conn_handlers[op]) {
		uint16_t bids[PAUSE_AT * 2];
		unsigned nb = eng_cqe_buffers(e, cqe, bids);

		STAT_INC(e->stats, stale);
		for (unsigned i = 0; i < nb; i++)
			bufring_put(&e->bufs, bids[i]);
		return;
	}
	eng_enter(e, c->lsn);
	conn_handlers[op](e, c, cqe);
}

void engine_flush(struct engine *e)
{
	/*
	 * Timers due by the loop's clock fire here too, not only on the 100 ms
	 * tick: a busy shard closes on time to the millisecond, an idle one
	 * within a tick. Nothing due costs a comparison (the clock counts ms).
	 */
	if (e->clock_set)
		wheel_advance(&e->timers, now32(e), eng_on_timer, e);
	/* TLS: each connection with ciphertext in runs its handshake or SSL_read, once. */
	eng_tls_run(e);
	bufring_flush(&e->bufs);
	if (e->nobufs_head != LIST_END)
		eng_nobufs_wake(e);
}

bool engine_pending(const struct engine *e)
{
	return eng_tls_pending(e);
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

/* Accept back-off, and the timers due by now: as many as fire, never a scan of the table. */
void engine_set_timer(struct engine *e, uint64_t at_ms)
{
	e->lst[e->cur].timer_ms = at_ms;
}

/* Each listener's mode timer that has come (engine_set_timer): cleared, then called. */
static void mode_timers(struct engine *e, uint64_t now_ms)
{
	unsigned was = e->cur;

	for (unsigned i = 0; i < e->n_lst; i++) {
		struct eng_listener *l = &e->lst[i];

		if (!l->timer_ms || now_ms < l->timer_ms)
			continue;
		l->timer_ms = 0;
		if (!l->mode->timer)
			continue;
		eng_enter(e, i);
		l->mode->timer(e, now_ms);
	}
	eng_leave(e, was);
}

void engine_tick(struct engine *e, uint64_t now_ms)
{
	engine_set_now(e, now_ms);
	if (e->accept_backoff && !e->draining) {
		e->accept_backoff = false;
		eng_arm_accept(e);
	}
	wheel_advance(&e->timers, now32(e), eng_on_timer, e);
	eng_tls_tick(e);
	mode_timers(e, now_ms);
}

void engine_second(struct engine *e, int64_t wall_sec)
{
	unsigned was = e->cur;

	for (unsigned i = 0; i < e->n_lst; i++) {
		if (!e->lst[i].mode->tick)
			continue;
		eng_enter(e, i);
		e->lst[i].mode->tick(e, e->now_ms, wall_sec);
	}
	eng_leave(e, was);
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

/* Listener i's settings, from the listener's parameters (listener 0: the engine's own). */
static void lst_setup(struct eng_listener *l, const struct engine_listener_params *lp)
{
	l->mode = lp->mode;
	l->stats = lp->stats;
	l->max_clients = lp->max_clients;
	l->peer_addrs = lp->peer_addrs;
	l->accept_proxy = lp->accept_proxy;
	l->pp_ms = lp->accept_proxy_ms ? lp->accept_proxy_ms : 5000;
	l->idle_ms = lp->idle_ms;
	l->send_ms = lp->send_ms;
	l->family = AF_UNSPEC;
	/* A send starting: the earliest of its timeouts that can come due ("more than": + 1). */
	l->send_due = lp->send_ms ? lp->send_ms + 1 : 0;
	if (lp->idle_ms && (!l->send_due || lp->idle_ms + 1 < l->send_due))
		l->send_due = lp->idle_ms + 1;
	l->send_due_queued = l->send_due && l->send_due < STARVED_SEND_MS + 1 ? l->send_due
									      : STARVED_SEND_MS + 1;
}

/* Every listener's parameters, listener 0 first (made from p's own fields). */
static void lst_params(const struct engine_params *p, struct engine_listener_params *all)
{
	all[0] = (struct engine_listener_params){
		.mode = p->mode,
		.mode_arg = p->mode_arg,
		.stats = p->stats,
		.max_clients = p->n_more && p->max_clients0 ? p->max_clients0 : p->max_clients,
		.peer_addrs = p->peer_addrs,
		.accept_proxy = p->accept_proxy,
		.accept_proxy_ms = p->accept_proxy_ms,
		.tls = p->tls,
		.idle_ms = p->idle_ms,
		.send_ms = p->send_ms,
	};
	for (unsigned i = 0; i < p->n_more; i++)
		all[1 + i] = p->more[i];
}

/* Every listener's mode's per-engine setup; note names the one that failed. */
static int lst_init(struct engine *e, const struct engine_listener_params *all, char *note,
		    size_t note_len)
{
	for (unsigned i = 0; i < e->n_lst; i++) {
		struct eng_listener *l = &e->lst[i];
		int ret;

		if (!l->mode->init)
			continue;
		eng_enter(e, i);
		ret = l->mode->init(e, all[i].mode_arg, &l->mode_data);
		eng_leave(e, 0);
		if (ret) {
			if (e->n_lst > 1)
				snprintf(note, note_len, "%s mode (listener %u)", l->mode->name, i);
			else
				snprintf(note, note_len, "%s mode", l->mode->name);
			return ret;
		}
		l->inited = true;
	}
	return 0;
}

static void lst_fini(struct engine *e)
{
	for (unsigned i = e->n_lst; i-- > 0;) {
		struct eng_listener *l = &e->lst[i];

		if (!l->inited || !l->mode->fini)
			continue;
		eng_enter(e, i);
		l->mode->fini(e, l->mode_data);
		l->inited = false;
	}
	eng_leave(e, 0);
}

int engine_create(struct engine **out, struct ring *r, const struct engine_params *p, char *note,
		  size_t note_len)
{
	struct engine_listener_params all[ENGINE_MAX_LISTENERS];
	struct engine *e;
	unsigned slots, cap = conn_cap(p->max_conns, p->file_slots, &slots), extra;
	bool any_pp = false, any_tls = false;
	int ret;

	if (p->n_more >= ENGINE_MAX_LISTENERS) {
		snprintf(note, note_len, "listeners (%u, at most %u)", p->n_more + 1,
			 ENGINE_MAX_LISTENERS);
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->ring = r;
	lst_params(p, all);
	e->n_lst = 1 + p->n_more;
	for (unsigned i = 0; i < e->n_lst; i++) {
		lst_setup(&e->lst[i], &all[i]);
		if (!e->lst[i].stats)
			e->lst[i].stats = p->stats;
		any_pp |= all[i].accept_proxy;
		any_tls |= all[i].tls != NULL;
	}
	eng_enter(e, 0);
	e->sources = p->sources;
	e->n_sources = p->sources ? p->n_sources : 0;
	if (p->ka_idle) {
		e->ka[0] = 1;
		e->ka[1] = (int)p->ka_idle;
		e->ka[2] = (int)p->ka_intvl;
		e->ka[3] = (int)p->ka_cnt;
	}
	e->user_timeout = (int)p->user_timeout_ms;
	e->bundle = p->recv_bundle && r->recv_bundle;
	e->nobufs_head = LIST_END;
	/*
	 * TLS needs buffers the kernel never fills: plaintext in, records out.
	 * Their ids follow the ring's in 16 bits.
	 */
	extra = any_tls || p->tls_client ? (p->tls_buffers ? p->tls_buffers : p->buf_count) : 0;
	if (extra > UINT16_MAX - p->buf_count)
		extra = UINT16_MAX - p->buf_count;
	ret = bufring_init_pool(&e->bufs, r, p->bgid, p->buf_count, p->buf_size,
				extra > 32767 ? 32767 : extra);
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
	if (any_pp) {
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
	for (unsigned i = 0; i < e->n_lst; i++) {
		struct eng_listener *l = &e->lst[i];

		/* A listener's own limit shrinks with the engine's when descriptors are short. */
		if (l->max_clients && cap < p->max_conns)
			l->max_clients = (uint32_t)((uint64_t)l->max_clients * cap / p->max_conns);
		if (!l->max_clients || l->max_clients > e->max_clients)
			l->max_clients = e->max_clients;
		if (l->max_clients < 1)
			l->max_clients = 1;
	}
	snprintf(note, note_len, "%s%s",
		 e->direct ? " direct-fds" : " (plain fds: fixed-file table refused)",
		 e->direct && !e->sockopt_cmd ? " (no io_uring setsockopt: plain outbound sockets)"
					      : "");
	if (cap < p->max_conns) {
		size_t len = strlen(note);

		snprintf(note + len, note_len - len, "; max-conns %u (descriptor limit)",
			 e->max_clients);
	}
	ret = eng_tls_init(e, all, p->tls_client, note, note_len);
	if (ret)
		goto out_slab;
	ret = lst_init(e, all, note, note_len);
	if (ret)
		goto out_tls;
	*out = e;
	return 0;

out_tls:
	lst_fini(e);
	eng_tls_fini(e);
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
	lst_fini(e);
	eng_tls_fini(e);
	for (unsigned i = 0; i < e->n_socks; i++)
		free(e->socks[i]);
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
	return e->lst[e->cur].mode_data;
}

unsigned engine_conn_listener(const struct conn *c)
{
	return c->lsn;
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
		eng_pop_input(e, c);
	eng_kick(e, c);
}

void engine_drop_input(struct engine *e, struct conn *c)
{
	if (c->in_echo)
		return; /* a send reads these buffers: they go as it completes */
	while (c->in_count)
		eng_pop_input(e, c);
	eng_kick(e, c);
}

static bool can_send(const struct conn *c)
{
	return !(c->life &
		 (CONN_L_CLOSE_WANTED | CONN_L_DEAD | CONN_L_CONNECTING | CONN_L_HANDSHAKE)) &&
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
	eng_kick(e, c);
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
	eng_kick(e, c);
	return 0;
}

bool engine_sending(const struct conn *c)
{
	/*
	 * A TLS ticket or handshake message on its way is not the mode's send:
	 * what the mode gives now is queued behind it (engine_next waits for it).
	 */
	return c->out_ptr || c->out_count || c->in_echo ||
	       (c->tx & (CONN_TX_SENDING | CONN_TX_TLS_OWN)) == CONN_TX_SENDING;
}

/* A destination's queued output that pauses the connection feeding it. */
static inline uint32_t feed_limit(const struct engine *e)
{
	return pool_pressed(e) ? 1 : e->hold_max;
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
	eng_kick(e, to);
	eng_kick(e, from);
	return (int)bytes;
}

void engine_shutdown(struct engine *e, struct conn *c)
{
	if (c->life & CONN_L_DEAD)
		return;
	c->tx |= CONN_TX_SHUT_WANTED;
	eng_kick(e, c);
}

void engine_close(struct engine *e, struct conn *c, enum engine_close how)
{
	if (c->life & CONN_L_DEAD)
		return;
	if (how == ENGINE_CLOSE_RESET) {
		c->life |= CONN_L_RESET;
		if (c->state != TCPS_CLOSED)
			conn_event(c, TCP_EV_RCV_RST, e->stats);
		eng_issue_close(e, c, true);
		return;
	}
	if (how == ENGINE_CLOSE_NOW) {
		c->life |= CONN_L_CLOSE_WANTED;
		if (c->life & CONN_L_CONNECTING)
			conn_event(c, TCP_EV_CLOSE, e->stats); /* SYN_SENT -> CLOSED */
		eng_do_close(e, c);
		return;
	}
	c->life |= CONN_L_CLOSE_WANTED | (how == ENGINE_CLOSE_LINGER ? CONN_L_LINGER : 0);
	eng_kick(e, c);
}

void engine_wake(struct engine *e, struct conn *c)
{
	if (c->in_count)
		c->rx |= CONN_RX_NOTIFY;
	eng_kick(e, c);
}

void engine_set_deadline(struct engine *e, struct conn *c, uint64_t at_ms)
{
	c->deadline_ms = at_ms ? (uint32_t)at_ms | 1 : 0;
	if (c->deadline_ms)
		timer_at(e, c, c->deadline_ms); /* a later one than before: the timer re-arms */
}

int engine_write(struct engine *e, int fd, const void *buf, uint32_t len, uint32_t token)
{
	int ret;

	if (token > 0xffff)
		return -EINVAL;
	/* The completion goes to the listener that wrote: its number above the token. */
	ret = ring_write(e->ring, fd, buf, len,
			 ud_encode(UD_OP_WRITE, (uint32_t)e->cur << 16 | token, NO_SLOT));

	if (!ret)
		e->writes++;
	return ret;
}

bool engine_draining(const struct engine *e)
{
	return e->draining || e->lst[e->cur].retired;
}

int engine_add_listener(struct engine *e, const struct engine_listener_params *lp, char *note,
			size_t note_len)
{
	unsigned i = e->n_lst, was;
	struct eng_listener *l = &e->lst[i];
	int ret;

	if (i >= ENGINE_MAX_LISTENERS) {
		snprintf(note, note_len, "listeners: at most %u over the process's life",
			 ENGINE_MAX_LISTENERS);
		return -ENOSPC;
	}
	if ((lp->accept_proxy && !e->pp) || (lp->tls && !e->tlsc)) {
		snprintf(note, note_len,
			 "%s on a listener a reload adds needs a restart when no listener had it "
			 "at startup",
			 lp->tls ? "TLS" : "accept-proxy");
		return -EOPNOTSUPP;
	}
	memset(l, 0, sizeof(*l));
	lst_setup(l, lp);
	if (!l->stats)
		l->stats = e->lst[0].stats;
	if (!l->max_clients || l->max_clients > e->max_clients)
		l->max_clients = e->max_clients;
	if (lp->tls) {
		ret = eng_tls_listener(e, l, lp->tls, note, note_len);
		if (ret)
			return ret;
	}
	e->n_lst = i + 1;
	if (l->mode->init) {
		was = eng_enter(e, i);
		ret = l->mode->init(e, lp->mode_arg, &l->mode_data);
		eng_leave(e, was);
		if (ret) {
			snprintf(note, note_len, "%s mode", l->mode->name);
			e->n_lst = i;
			eng_tls_listener_free(l);
			return ret;
		}
	}
	l->inited = true;
	return (int)i;
}

void engine_retire_listener(struct engine *e, unsigned listener)
{
	if (listener >= e->n_lst || e->lst[listener].retired)
		return;
	e->lst[listener].retired = true;
	engine_unlisten(e, listener);
	eng_drain_conns(e, listener);
}

void engine_listener_timeouts(struct engine *e, unsigned listener, uint32_t idle_ms,
			      uint32_t send_ms)
{
	struct engine_listener_params lp = {.idle_ms = idle_ms, .send_ms = send_ms};
	struct eng_listener *l = &e->lst[listener], keep;

	if (listener >= e->n_lst)
		return;
	/* lst_setup()'s arithmetic for the two, the rest kept */
	keep = *l;
	lst_setup(l, &lp);
	keep.idle_ms = l->idle_ms;
	keep.send_ms = l->send_ms;
	keep.send_due = l->send_due;
	keep.send_due_queued = l->send_due_queued;
	*l = keep;
}

bool engine_listener_quiet(const struct engine *e, unsigned listener)
{
	for (unsigned si = 0; si < e->n_socks; si++)
		if (e->socks[si]->lsn == listener && e->socks[si]->accept_armed)
			return false;
	return true;
}

uint64_t engine_deadline(const struct engine *e, const struct conn *c)
{
	/* Kept as the low 32 bits of the clock: within 24 days of now either way. */
	if (!c->deadline_ms)
		return 0;
	return e->now_ms + (uint64_t)(int64_t)(int32_t)(c->deadline_ms - now32(e));
}
