/* SPDX-License-Identifier: MIT */
#ifndef RINGER_ADMIN_H
#define RINGER_ADMIN_H

#include "ringer/config.h"
#include "ringer/mode.h"
#include "ringer/shard.h"

/*
 * The admin port as a mode: its own shard (thread, ring, engine, limits)
 * serves GET /metrics, /connections and the dashboard at /, reading the
 * traffic shards' counters and connection tables without locks. A slow or
 * hostile admin client costs that shard a connection slot, nothing else.
 */
struct admin_ctx {
	struct shard *shards; /* the traffic shards */
	unsigned n;
	const struct config *cfg; /* its set of upstreams changes on a reload */
};

extern const struct mode_ops mode_admin;

/* The admin shard's own configuration: small ring and pool, short timeouts. */
void admin_config(struct config *admin_cfg, const struct config *cfg);

#endif
