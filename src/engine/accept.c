// SPDX-License-Identifier: MIT
/*
 * A client arrives: the listener's accepts kept in flight, and each accepted
 * socket made a connection (or refused), up to the mode's accepted().
 */
#include "engine_int.h"

#include <errno.h>
#include <stdlib.h>

#include "ringer/mode.h"
#include "ringer/proxy_proto.h"
#include "ringer/trace.h"

/* An accept's user_data: the socket's number and the address slot's, in gen. */
#define ACC_GEN(sock, slot) ((uint32_t)(sock) << 8 | (slot))

static void arm_accept_slot(struct engine *e, unsigned si, unsigned i)
{
	struct eng_sock *k = e->socks[si];

	k->acc_len[i] = sizeof(k->acc_addr[i]);
	if (ring_accept_addr(e->ring, k->fd, e->direct, (struct sockaddr *)&k->acc_addr[i],
			     &k->acc_len[i],
			     ud_encode(UD_OP_ACCEPT, ACC_GEN(si, i), NO_SLOT)) == 0) {
		k->accept_armed++;
		e->accept_armed++;
		k->accept_slot_armed |= (uint16_t)(1u << i);
	} else {
		e->accept_backoff = true; /* no SQE to be had: the tick tries again */
	}
}

/*
 * One multishot accept per socket; or, when the listener's mode wants peer
 * addresses, ACCEPT_SLOTS single-shot accepts with an address buffer each
 * (a multishot accept writes every peer's address into the same buffer).
 */
static void arm_sock(struct engine *e, unsigned si)
{
	struct eng_sock *k = e->socks[si];

	if (k->closed)
		return;
	if (e->lst[k->lsn].peer_addrs) {
		for (unsigned i = 0; i < ACCEPT_SLOTS; i++)
			if (!(k->accept_slot_armed & (1u << i)))
				arm_accept_slot(e, si, i);
		return;
	}
	if (k->accept_armed)
		return;
	/*
	 * No SQE to be had (a submit that made no room) must not leave the
	 * listener unserved: nothing else would arm it again. The tick does.
	 */
	if (ring_accept_multishot(e->ring, k->fd, e->direct,
				  ud_encode(UD_OP_ACCEPT, ACC_GEN(si, 0), NO_SLOT)) == 0) {
		k->accept_armed = 1;
		e->accept_armed++;
	} else {
		e->accept_backoff = true;
	}
}

void eng_arm_accept(struct engine *e)
{
	for (unsigned si = 0; si < e->n_socks; si++)
		arm_sock(e, si);
}

/* Closes a socket that never became a connection (refused, or arrived while draining). */
static void close_unowned(struct engine *e, int fd)
{
	if (ring_close(e->ring, fd, e->direct, ud_encode(UD_OP_CLOSE, 0, NO_SLOT)))
		STAT_INC(e->stats, errors);
}

/* The accepted connection c of listener l: its first steps, up to the mode's accepted(). */
static void accepted(struct engine *e, struct eng_listener *l, struct conn *c, int fd)
{
	c->fd = fd;
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
		eng_info_begin(e, c, e->cur_peer, e->cur_peer_len);
		eng_info_query(e, c);
	}
	eng_arm_recv(e, c);
	c->life |= CONN_L_KICKING;
	if (l->accept_proxy) {
		/* The mode hears of it once its PROXY header is in (eng_preamble_readable). */
		proxy_proto_parser_init(&e->pp[conn_slot(&e->slab, c)], PROXY_PROTO_MAX_LEN);
		c->life |= CONN_L_PREAMBLE;
		engine_set_deadline(e, c, e->now_ms + l->pp_ms);
	} else if (l->tls) {
		/* The mode hears of it once the handshake is done (transport_tls.c). */
		eng_tls_accept(e, c);
	} else {
		ENG_CALL(e, c, accepted);
	}
	e->cur_peer = NULL;
	c->life &= ~CONN_L_KICKING;
	eng_kick(e, c);
	eng_timer_update(e, c);
	eng_maybe_release(e, c);
}

void eng_on_accept(struct engine *e, const struct io_uring_cqe *cqe)
{
	unsigned si = ud_gen(cqe->user_data) >> 8, slot = ud_gen(cqe->user_data) & 0xff;
	struct eng_sock *k = si < e->n_socks ? e->socks[si] : NULL;
	struct eng_listener *l;
	struct conn *c;

	if (!k)
		return;
	l = &e->lst[k->lsn];
	eng_enter(e, k->lsn);
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		k->accept_armed--;
		e->accept_armed--;
		if (l->peer_addrs)
			k->accept_slot_armed &= (uint16_t) ~(1u << slot);
	}
	if (cqe->res < 0) {
		if (cqe->res != -ECANCELED) {
			/* EMFILE, ENFILE (fixed table full), ENOMEM: keep serving, retry on a tick. */
			STAT_INC(e->stats, accept_errors);
			e->accept_backoff = true;
		}
		return;
	}
	if (e->draining || k->closed) {
		close_unowned(e, cqe->res);
		return;
	}
	c = e->clients < e->max_clients && l->clients < l->max_clients ? conn_alloc(&e->slab)
								       : NULL;
	if (!c) {
		STAT_INC(e->stats, refused);
		close_unowned(e, cqe->res);
	} else {
		e->clients++;
		l->clients++;
		c->lsn = k->lsn;
		e->cur_peer = l->peer_addrs ? (const struct sockaddr *)&k->acc_addr[slot] : NULL;
		e->cur_peer_len = l->peer_addrs ? k->acc_len[slot] : 0;
		accepted(e, l, c, cqe->res);
	}
	if (l->peer_addrs && !e->accept_backoff && !e->draining && !k->closed) {
		arm_accept_slot(e, si, slot);
	} else if (!k->accept_armed && !e->accept_backoff && !e->draining) {
		arm_sock(e, si);
		STAT_INC(e->stats, accept_rearms);
	}
}

int engine_listen_on(struct engine *e, unsigned listener, int listen_fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct eng_sock *k;

	if (listener >= e->n_lst || e->n_socks >= ENGINE_MAX_SOCKETS)
		return -ENOSPC;
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->fd = listen_fd;
	k->lsn = (uint8_t)listener;
	if (e->lst[listener].family == AF_UNSPEC &&
	    getsockname(listen_fd, (struct sockaddr *)&ss, &len) == 0)
		e->lst[listener].family = ss.ss_family;
	e->socks[e->n_socks++] = k;
	arm_sock(e, e->n_socks - 1);
	return 0;
}

void engine_listen(struct engine *e, int listen_fd)
{
	engine_listen_on(e, 0, listen_fd);
}

/* Cancels the accepts in flight on socket si (their CQEs come back -ECANCELED). */
void eng_cancel_accepts(struct engine *e, unsigned si)
{
	struct eng_sock *k = e->socks[si];

	if (k->accept_armed)
		ring_cancel_fd(e->ring, k->fd, false, ud_encode(UD_OP_CANCEL, 0, NO_SLOT));
}

void engine_unlisten(struct engine *e, unsigned listener)
{
	for (unsigned si = 0; si < e->n_socks; si++) {
		if (e->socks[si]->lsn != listener || e->socks[si]->closed)
			continue;
		e->socks[si]->closed = true;
		eng_cancel_accepts(e, si);
	}
}
