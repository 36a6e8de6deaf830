// SPDX-License-Identifier: MIT
/*
 * Echo: every byte received goes back, in order, straight from the buffer the
 * kernel received it into: the connection forwards its input to its own
 * output, and each buffer returns to the ring when its send completes. The
 * engine's backpressure bounds it: with PAUSE_AT buffers queued for sending,
 * the connection stops receiving until the slow reader catches up, so memory
 * per connection stays bounded whatever the peer does.
 *
 * This is the whole of a mode: a table of callbacks and engine calls.
 */
#include "ringer/engine.h"
#include "ringer/mode.h"

static void echo_readable(struct engine *e, struct conn *c)
{
	engine_forward(e, c, c);
}

/* The peer's FIN: finish echoing what came before it, then close (CLOSE_WAIT -> LAST_ACK). */
static void echo_peer_eof(struct engine *e, struct conn *c)
{
	engine_close(e, c, ENGINE_CLOSE);
}

const struct mode_ops mode_echo = {
	.name = "echo",
	.readable = echo_readable,
	.peer_eof = echo_peer_eof,
};
