// SPDX-License-Identifier: MIT
/*
 * Between accept and the mode: the PROXY protocol preamble
 * (engine_params.accept_proxy).
 *
 * An accepted connection behind a load balancer that speaks the PROXY
 * protocol: the mode hears of it only once the whole header is in (the
 * receiver never guesses whether one is there, and waits no longer than
 * accept_proxy_ms). Then the header's source is the connection's peer for
 * the mode (engine_accepted_peer), /connections and the logs, and the bytes
 * after the header are the connection's first input.
 */
#include "engine_int.h"

#include <string.h>

#include "ringer/mode.h"
#include "ringer/proxy_proto.h"

void eng_preamble_fail(struct engine *e, struct conn *c)
{
	STAT_INC(e->stats, proxy_hdr_errors);
	engine_close(e, c, ENGINE_CLOSE_RESET);
}

void eng_preamble_readable(struct engine *e, struct conn *c)
{
	struct proxy_proto_parser *pp = &e->pp[conn_slot(&e->slab, c)];
	struct proxy_proto_result r;
	const uint8_t *in;
	uint32_t avail;
	ssize_t n = 0;

	while (!(c->life & CONN_L_DEAD) && (avail = engine_input(e, c, &in)) > 0) {
		n = proxy_proto_parse(pp, in, avail, &r);
		if (n < 0) {
			eng_preamble_fail(e, c);
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
	if (eng_lst(e, c)->tls) {
		/* The ClientHello follows the header: the handshake first, then the mode. */
		eng_tls_accept(e, c);
		e->cur_peer = NULL;
		return;
	}
	ENG_CALL(e, c, accepted);
	e->cur_peer = NULL;
	if (c->in_count)
		c->rx |= CONN_RX_NOTIFY; /* the client's first bytes came with the header */
}
