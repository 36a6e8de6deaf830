// SPDX-License-Identifier: MIT
/*
 * Sending: one send in flight per connection, of the mode's bytes, of the
 * buffers queued on its output (forwarded input, several in one sendmsg), or
 * of its own input echoed back; and what a completed send frees.
 */
#include "engine_int.h"

#include <string.h>

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
void eng_start_send(struct engine *e, struct conn *c)
{
	const int flags = MSG_NOSIGNAL | MSG_WAITALL;
	uint64_t ud = conn_ud(e, c, UD_OP_SEND);
	int ret;

	if (eng_tls_on(e, c)) {
		/* The plaintext is encrypted first; 1: no pool buffers yet, it waits on a list. */
		ret = eng_tls_start_send(e, c);
		if (ret > 0)
			return;
	} else if (c->in_echo)
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
		eng_abort_conn(e, c);
		return;
	}
	c->tx |= CONN_TX_SENDING;
	c->inflight++;
	STAT_INC(e->stats, send_ops);
	timer_send(e, c);
}

/* A send of engine_send_input() moved res bytes: the mode's first, then its input's. */
static void sent_echo(struct engine *e, struct conn *c, uint32_t res, bool wire)
{
	if (c->out_ptr) {
		uint32_t rest = c->out_len - c->out_off;

		if (res < rest) {
			c->out_off += res;
			if (wire)
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
			eng_pop_input(e, c);
	}
	if (!c->in_echo)
		c->tx |= CONN_TX_SENT_NOTIFY;
}

/*
 * res bytes of the mode's output went out (wire: as they are; else as the
 * plaintext of TLS records, where a part of a span is no short send).
 */
static void sent_plain(struct engine *e, struct conn *c, uint32_t res, bool wire)
{
	if (c->in_echo) {
		sent_echo(e, c, res, wire);
	} else if (c->out_ptr) {
		c->out_off += res;
		if (c->out_off < c->out_len) {
			/* MSG_WAITALL makes this rare (a signal, a closing socket); resume. */
			if (wire)
				STAT_INC(e->stats, short_sends);
		} else {
			c->out_ptr = NULL;
			c->out_off = c->out_len = 0;
			c->tx |= CONN_TX_SENT_NOTIFY;
		}
	} else {
		uint32_t left = res;

		/* Pop every buffer the send finished; a part left over resumes next time. */
		while (left && c->out_count) {
			uint32_t rest = e->bufs.len[c->out_head] - c->out_off;

			if (left < rest) {
				c->out_off += left;
				if (wire)
					STAT_INC(e->stats, short_sends);
				break;
			}
			left -= rest;
			eng_pop_output(e, c);
		}
		if (c->out_count <= e->resume_at)
			eng_wake_feeder(e, c);
	}
}

void eng_on_send(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe)
{
	int res = cqe->res;

	c->inflight--;
	c->tx &= ~(CONN_TX_SENDING | CONN_TX_TLS_OWN);
	if (c->life & CONN_L_DEAD) {
		eng_maybe_release(e, c);
		return;
	}
	if (res <= 0) {
		STAT_INC(e->stats, resets);
		eng_abort_conn(e, c);
		eng_maybe_release(e, c);
		return;
	}
	STAT_ADD(e->stats, bytes_out, (uint64_t)res);
	if (e->info)
		info_add(&e->info[conn_slot(&e->slab, c)].bytes_out, res);
	c->last_active_ms = now32(e);
	if (eng_tls_on(e, c)) {
		uint32_t plain;

		/*
		 * The mode's bytes count as sent once all the records carrying them
		 * have gone. Records of TLS's own (a ticket, a handshake message)
		 * were a send the mode saw in flight (engine_sending) and may have
		 * waited on: it looks at its input again.
		 */
		if (eng_tls_sent(e, c, (uint32_t)res, &plain)) {
			if (plain)
				sent_plain(e, c, plain, false);
			else if (c->in_count)
				c->rx |= CONN_RX_NOTIFY;
		}
	} else {
		sent_plain(e, c, (uint32_t)res, true);
	}
	eng_kick(e, c);
	eng_maybe_release(e, c);
}
