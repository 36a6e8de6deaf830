// SPDX-License-Identifier: MIT
/*
 * Connecting out (the proxy's upstream side, ringer-load's connections): a
 * socket, its options and source address, the connect under its timeout, up
 * to the mode's connected().
 */
#include "engine_int.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "ringer/mode.h"
#include "ringer/trace.h"

static const int one = 1;

/* An outbound connection failed: the mode hears it, then the slot goes. */
void eng_fail_connect(struct engine *e, struct conn *c, int err)
{
	STAT_INC(e->stats, connect_failures);
	c->life &= ~CONN_L_CONNECTING;
	c->life |= CONN_L_KICKING; /* the mode may close c; the release waits for us */
	ENG_CALL(e, c, connected, err);
	c->life &= ~CONN_L_KICKING;
	eng_abort_conn(e, c);
	eng_maybe_release(e, c);
}

/* An option on a socket we connect out: a setsockopt command ahead of the connect, or a plain call. */
static void set_opt(struct engine *e, struct conn *c, int level, int name, const int *val)
{
	if (!conn_fixed(c)) {
		setsockopt(c->fd, level, name, val, sizeof(int));
		return;
	}
	if (e->sockopt_cmd && ring_setsockopt(e->ring, c->fd, true, level, name, val, sizeof(int),
					      conn_ud(e, c, UD_OP_SOCKOPT)) == 0)
		c->inflight++;
}

/*
 * TCP keepalive on a socket we connect out (the proxy's upstream side), as
 * the listener's options give it to accepted ones: four options set ahead
 * of the connect (their order does not matter).
 */
static void set_keepalive(struct engine *e, struct conn *c)
{
	static const int opt[4][2] = {{SOL_SOCKET, SO_KEEPALIVE},
				      {IPPROTO_TCP, TCP_KEEPIDLE},
				      {IPPROTO_TCP, TCP_KEEPINTVL},
				      {IPPROTO_TCP, TCP_KEEPCNT}};

	for (int i = 0; i < 4; i++)
		set_opt(e, c, opt[i][0], opt[i][1], &e->ka[i]);
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
	/* A black-holed upstream: unacknowledged data resets it (the accepted side inherits it). */
	if (e->user_timeout)
		set_opt(e, c, IPPROTO_TCP, TCP_USER_TIMEOUT, &e->user_timeout);
	if (c->out_len && conn_fixed(c)) {
		const struct net_addr *src = &e->sources[c->out_len - 1];

		ret = ring_reserve(e->ring, 5);
		if (!ret)
			ret = ring_bind_linked(e->ring, c->fd, (const struct sockaddr *)&src->ss,
					       src->len, &one, conn_ud(e, c, UD_OP_SOCKOPT),
					       conn_ud(e, c, UD_OP_BIND));
		if (ret) {
			eng_fail_connect(e, c, ret);
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
		eng_fail_connect(e, c, ret);
		return;
	}
	c->inflight += 1 + (conn_fixed(c) ? 1 : 0) + (e->connect_timeout_ms ? 1 : 0);
}

void eng_on_socket(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->inflight--;
	if (c->life & CONN_L_DEAD) {
		if (cqe->res >= 0 &&
		    ring_close(e->ring, cqe->res, true, conn_ud(e, c, UD_OP_CLOSE)) == 0)
			c->inflight++;
		eng_maybe_release(e, c);
		return;
	}
	if (cqe->res < 0) {
		eng_fail_connect(e, c, cqe->res);
		return;
	}
	c->fd = cqe->res;
	c->life |= CONN_L_FIXED;
	submit_connect(e, c);
}

void eng_on_bind(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->inflight--;
	if (cqe->res < 0 && cqe->res != -ECANCELED)
		c->out_len = BIND_FAILED | (uint32_t)-cqe->res;
	eng_maybe_release(e, c);
}

void eng_on_connect(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;

	/* Cancelled because the bind before it failed: that is the error. */
	if (res == -ECANCELED && (c->out_len & BIND_FAILED))
		res = -(int)(c->out_len & ~BIND_FAILED);
	c->out_len = 0;

	TRACE_CONNECT(c->slot, c->gen, res);
	c->inflight--;
	if (c->life & CONN_L_DEAD) {
		eng_maybe_release(e, c);
		return;
	}
	if (res < 0) {
		/* Cancelled by its linked timeout: we never cancel a live connect otherwise. */
		eng_fail_connect(e, c, res == -ECANCELED ? -ETIMEDOUT : res);
		return;
	}
	c->life &= ~CONN_L_CONNECTING;
	c->out_ptr = NULL; /* held the address while connecting */
	c->last_active_ms = now32(e);
	conn_event(c, TCP_EV_RCV_SYN_ACK, e->stats);
	STAT_INC(e->stats, connects_out);
	if (e->info)
		eng_info_query(e, c);
	if (eng_tls_on(e, c)) {
		/* TLS: the mode hears of it once the handshake is done (transport_tls.c). */
		c->life |= CONN_L_HANDSHAKE;
		eng_tls_connected(e, c);
	} else {
		c->life |= CONN_L_KICKING;
		ENG_CALL(e, c, connected, 0);
		c->life &= ~CONN_L_KICKING;
	}
	eng_kick(e, c);
	eng_timer_update(e, c);
	eng_maybe_release(e, c);
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
	c->lsn = (uint8_t)e->cur; /* the listener whose callback connects out */
	c->life |= CONN_L_CONNECTING;
	c->out_ptr = (const uint8_t *)addr; /* the address, until the connect is submitted */
	c->out_len = src < e->n_sources ? src + 1 : 0;
	c->last_active_ms = now32(e);
	conn_track(c, e->stats);
	if (e->info)
		eng_info_begin(e, c, (const struct sockaddr *)&addr->ss, addr->len);
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
