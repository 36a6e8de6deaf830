// SPDX-License-Identifier: MIT
/*
 * Echo: every byte received goes back, in order, straight from the buffer the
 * kernel received it into; the buffer returns to the ring when it is sent.
 * Backpressure comes from the shard: a connection holding PAUSE_AT buffers
 * stops receiving until the slow reader catches up, so memory per
 * connection stays bounded whatever the peer does.
 */
#include <errno.h>

#include "ringer/mode.h"
#include "ringer/shard.h"

static void echo_process(struct shard *s, struct conn *c)
{
	if (shard_send(s, c, shard_in_ptr(s, c), shard_in_len(s, c)))
		shard_abort(s, c);
}

static int echo_sent(struct shard *s, struct conn *c, int res)
{
	uint32_t left = shard_in_len(s, c);

	if ((uint32_t)res > left)
		return -EIO;
	c->in_off += (uint32_t)res;
	if ((uint32_t)res < left) {
		/* MSG_WAITALL makes this rare (a signal, a closing socket); resume from here. */
		STAT_INC(&s->stats, short_sends);
		return 0;
	}
	shard_pop_buf(s, c);
	return 0;
}

const struct proto_ops proto_echo = {
	.name = "echo",
	.process = echo_process,
	.sent = echo_sent,
};
