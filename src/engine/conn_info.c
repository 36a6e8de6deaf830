// SPDX-License-Identifier: MIT
/*
 * What /connections shows of a connection (engine_params.conn_info, the
 * admin port): set as it begins and as its bytes move, read by other threads.
 */
#include "engine_int.h"

#include <string.h>

/* A connection begins: its clock, zero bytes, and its peer when already known. */
void eng_info_begin(struct engine *e, struct conn *c, const struct sockaddr *peer, socklen_t len)
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
void eng_info_query(struct engine *e, struct conn *c)
{
	struct conn_info *ci = &e->info[conn_slot(&e->slab, c)];
	bool want_peer = !ci->peer_len;
	socklen_t plen = eng_lst(e, c)->family == AF_INET6 ? sizeof(struct sockaddr_in6)
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
	eng_tls_view(e, slot, v);
	return true;
}
