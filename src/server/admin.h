/* SPDX-License-Identifier: MIT */
#ifndef RINGER_ADMIN_H
#define RINGER_ADMIN_H

#include "ringer/config.h"
#include "ringer/mode.h"
#include "ringer/shard.h"

/*
 * The admin port as a mode: its own shard (thread, ring, engine, limits)
 * serves GET /metrics, /connections, /ready and the dashboard at /, reading
 * the traffic shards' counters and connection tables without locks. A slow
 * or hostile admin client costs that shard a connection slot, nothing else.
 *
 * Who may ask what: /ready anybody (load balancers and probes); the rest
 * only clients inside --admin-allow (default: loopback), others get 403 and
 * are counted. GET and HEAD only: the admin port changes nothing.
 */
enum admin_state {
	ADMIN_STARTING, /* the shards are not all up yet: /ready 503 */
	ADMIN_SERVING,	/* /ready 200 */
	ADMIN_DRAINING, /* a stop began: /ready 503, and no connection table is read */
};

struct admin_ctx {
	struct shard *shards; /* the traffic shards */
	unsigned n;
	const struct config *cfg; /* its set of upstreams changes on a reload */
	int state;		  /* enum admin_state: main writes it (atomic) */
	int reading;	 /* the admin shard is reading the traffic shards' tables (atomic) */
	uint64_t denied; /* requests refused by the allow list (the admin shard's) */
};

extern const struct mode_ops mode_admin;

/* The admin shard's own configuration: small ring and pool, short timeouts. */
void admin_config(struct config *admin_cfg, const struct config *cfg);

/* Every traffic shard serves: /ready answers 200. Main's thread. */
void admin_serving(struct admin_ctx *ctx);
/*
 * A stop begins, before any listener stops accepting: /ready answers 503
 * from now on and /connections no more reads the traffic shards' tables
 * (their engines go as they finish draining). Returns once no request
 * reads them. Main's thread.
 */
void admin_draining(struct admin_ctx *ctx);

#endif
