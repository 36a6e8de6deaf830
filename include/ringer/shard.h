/* SPDX-License-Identifier: MIT */
#ifndef RINGER_SHARD_H
#define RINGER_SHARD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ringer/config.h"
#include "ringer/conn.h"
#include "ringer/mode.h"
#include "ringer/ring.h"
#include "ringer/stats.h"

/*
 * A shard: one pinned thread with its own ring, listener, provided-buffer
 * ring and connection slab. Shards share nothing mutable; the main thread
 * only reads their stats and raises their stop flag.
 */
struct shard {
	struct stats stats; /* first: its own cache lines, read by the main thread */

	unsigned id;
	int cpu; /* -1: not pinned */
	const struct config *cfg;
	const struct proto_ops *proto;
	void *proto_data;

	struct ring ring;
	struct bufring bufs;
	struct conn_slab slab;
	int listen_fd;
	bool direct; /* connections are direct descriptors (fixed-file slots) */
	bool accept_armed;
	bool accept_backoff;
	unsigned file_slots;

	uint32_t nobufs_head; /* connections waiting for buffers (linked through next_free) */
	uint32_t idle_cursor; /* where the idle scan continues */

	uint64_t now_ms;
	uint64_t last_second_ms;
	bool draining;
	uint64_t drain_deadline_ms;
	int stop_requested; /* written by the main thread (atomic) */

	pthread_t thread;
	int start_status; /* 0, or -errno if the shard failed to start */
	char start_note[256];
};

/* Starts the shard's thread; waits until its ring is up. Returns 0 or -errno. */
int shard_start(struct shard *s);
void shard_request_stop(struct shard *s);
void shard_join(struct shard *s);

/* For protocols. */
int shard_send(struct shard *s, struct conn *c, const void *buf, uint32_t len);
/* Gives the head input buffer back to the buffer ring and resets in_off. */
void shard_pop_buf(struct shard *s, struct conn *c);

/* The unconsumed bytes of the connection's oldest input buffer (conn_inq_len(c) > 0). */
static inline uint8_t *shard_in_ptr(const struct shard *s, const struct conn *c)
{
	return bufring_buf(&s->bufs, c->in_head) + c->in_off;
}

static inline uint32_t shard_in_len(const struct shard *s, const struct conn *c)
{
	return s->bufs.len[c->in_head] - c->in_off;
}
/*
 * Close after pending output: our FIN first (FIN_WAIT_1 ...). With linger,
 * the FIN goes by shutdown and the connection keeps reading (and dropping)
 * until the peer's FIN, so a peer still sending gets no RST that could cost
 * it our last response; use it when the peer may still be sending. Without,
 * a plain close, which is far cheaper: shutdown always runs on an io-wq
 * worker thread, close does not.
 */
void shard_close_after_send(struct shard *s, struct conn *c, bool linger);
/* Tear the connection down now (error, reset). */
void shard_abort(struct shard *s, struct conn *c);

#endif
