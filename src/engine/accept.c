// SPDX-License-Identifier: MIT
/*
 * A client arrives: the listener's accepts kept in flight, and each accepted
 * socket made a connection (or refused), up to the mode's accepted().
 */
#include "engine_int.h"

#include <errno.h>

#include "ringer/mode.h"
#include "ringer/proxy_proto.h"
#include "ringer/trace.h"

static void arm_accept_slot(struct engine *e, unsigned i)
{
	e->acc_len[i] = sizeof(e->acc_addr[i]);
	if (ring_accept_addr(e->ring, e->listen_fd, e->direct, (struct sockaddr *)&e->acc_addr[i],
			     &e->acc_len[i], ud_encode(UD_OP_ACCEPT, i, NO_SLOT)) == 0) {
		e->accept_armed++;
		e->accept_slot_armed |= (uint16_t)(1u << i);
	} else {
		e->accept_backoff = true; /* no SQE to be had: the tick tries again */
	}
}

/*
 * One multishot accept; or, when the mode wants peer addresses, ACCEPT_SLOTS
 * single-shot accepts with an address buffer each (a multishot accept
 * writes every peer's address into the same buffer).
 */
void eng_arm_accept(struct engine *e)
{
	if (e->peer_addrs) {
		for (unsigned i = 0; i < ACCEPT_SLOTS; i++)
			if (!(e->accept_slot_armed & (1u << i)))
				arm_accept_slot(e, i);
		return;
	}
	if (e->accept_armed)
		return;
	/*
	 * No SQE to be had (a submit that made no room) must not leave the
	 * listener unserved: nothing else would arm it again. The tick does.
	 */
	if (ring_accept_multishot(e->ring, e->listen_fd, e->direct,
				  ud_encode(UD_OP_ACCEPT, 0, NO_SLOT)) == 0)
		e->accept_armed = 1;
	else
		e->accept_backoff = true;
}

/* Closes a socket that never became a connection (refused, or arrived while draining). */
static void close_unowned(struct engine *e, int fd)
{
	if (ring_close(e->ring, fd, e->direct, ud_encode(UD_OP_CLOSE, 0, NO_SLOT)))
		STAT_INC(e->stats, errors);
}

void eng_on_accept(struct engine *e, const struct io_uring_cqe *cqe)
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
			eng_info_begin(e, c, e->cur_peer, e->cur_peer_len);
			eng_info_query(e, c);
		}
		eng_arm_recv(e, c);
		c->life |= CONN_L_KICKING;
		if (e->pp) {
			/* The mode hears of it once its PROXY header is in (eng_preamble_readable). */
			proxy_proto_parser_init(&e->pp[conn_slot(&e->slab, c)],
						PROXY_PROTO_MAX_LEN);
			c->life |= CONN_L_PREAMBLE;
			engine_set_deadline(e, c, e->now_ms + e->pp_ms);
		} else if (e->tls) {
			/* The mode hears of it once the handshake is done (transport_tls.c). */
			eng_tls_accept(e, c);
		} else if (e->mode->accepted) {
			e->mode->accepted(e, c);
		}
		e->cur_peer = NULL;
		c->life &= ~CONN_L_KICKING;
		eng_kick(e, c);
		eng_timer_update(e, c);
		eng_maybe_release(e, c);
	}
	if (e->peer_addrs && !e->accept_backoff && !e->draining) {
		arm_accept_slot(e, slot);
	} else if (!e->accept_armed && !e->accept_backoff) {
		eng_arm_accept(e);
		STAT_INC(e->stats, accept_rearms);
	}
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
	eng_arm_accept(e);
}
