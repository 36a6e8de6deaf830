/* SPDX-License-Identifier: MIT */
#ifndef RINGER_SHARD_H
#define RINGER_SHARD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ringer/config.h"
#include "ringer/engine.h"
#include "ringer/mode.h"
#include "ringer/ring.h"
#include "ringer/stats.h"

/*
 * A shard: one pinned thread with its own ring and listener, running the
 * loop and the tick; the connection engine (engine.h) it drives owns the
 * connections, buffers and the mode. Shards share nothing mutable; the main
 * thread only reads their stats and raises their stop flag. Modes never see
 * a shard: they get the engine.
 */
#define SHARD_MAX_BINDS 16 /* listening sockets per listener */

/*
 * A listener beyond the shard's first (a configuration file's listeners):
 * its settings, its counters, and this shard's sockets for its addresses
 * (SO_REUSEPORT: every shard has its own). The shard closes the sockets.
 */
struct shard_listener {
	struct stats stats; /* its counters, written by the shard's thread */
	const struct config *cfg;
	const struct mode_ops *mode;
	const struct tls_settings *tls; /* NULL: plain */
	struct tls_ctx *tls_next;	/* a reload's contexts, taken at the next tick (atomic) */
	int fds[SHARD_MAX_BINDS];
	unsigned n_fds;
	int retire;   /* set by main (atomic): a reload removed it; it drains */
	bool retired; /* the shard's: the engine was told; fds closed once quiet */
};

struct shard {
	struct stats stats; /* first: its own cache lines, read by the main thread */

	unsigned id;
	int cpu; /* -1: not pinned */
	const struct config *cfg;
	const struct mode_ops *mode;
	const void *mode_arg;		/* handed to mode->init; NULL: cfg */
	bool conn_info;			/* keep per-connection facts for the admin's /connections */
	bool peer_addrs;		/* accepts tell the mode each peer (admin: allow list) */
	const struct tls_settings *tls; /* accepted connections speak TLS; NULL: plain */
	struct tls_ctx *tls_next;	/* a reload's contexts, taken at the next tick (atomic) */

	struct ring ring;
	struct engine *engine;
	int listen_fd;
	int more_fds[SHARD_MAX_BINDS]; /* the first listener's further addresses */
	unsigned n_more_fds;
	struct shard_listener *more; /* listeners 1 and on (the caller's array) */
	unsigned n_more;	     /* ... the engine serves */
	unsigned n_more_pub;	     /* ... main has filled in (atomic): a reload adds them */
	int retire_first;	     /* listener 0 removed by a reload (atomic, set by main) */
	unsigned timeouts_gen;	     /* bumped by main when a reload changed timeouts (atomic) */
	unsigned timeouts_seen;
	bool retired_first;
	unsigned max_conns;  /* with more: accepted connections over every listener; 0: cfg's */
	unsigned file_slots; /* cap on the fixed-file table: the descriptor limit */

	uint64_t now_ms;
	uint64_t last_second_ms;
	bool draining;
	uint64_t drain_deadline_ms;
	int stop_requested; /* written by the main thread (atomic) */

	pthread_t thread;
	int start_status;     /* 0, or -errno if the shard failed to start */
	char start_note[320]; /* what the ring offers; on a failure, what failed */
};

/* Starts the shard's thread; waits until its ring is up. Returns 0 or -errno. */
int shard_start(struct shard *s);
void shard_request_stop(struct shard *s);
/* Adds every listener's counters of s into out (relaxed loads: s runs). */
void shard_stats_sum(const struct shard *s, struct stats *out);
void shard_join(struct shard *s);

#endif
