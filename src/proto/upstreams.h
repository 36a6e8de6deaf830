/* SPDX-License-Identifier: MIT */
#ifndef RINGER_UPSTREAMS_H
#define RINGER_UPSTREAMS_H

/*
 * What the modes that relay to upstreams (proxy, http-proxy) share: the
 * upstream set a shard picks from (reloads publish a new one), weighted
 * balancing and passive health (balance.c), maxconn slots counted over
 * every shard, active health (one shard's mode checks for all), and a
 * client TLS context per upstream. One struct ups per listener per shard;
 * the counters and health every shard of a listener sees live in a
 * process-wide table, found by the listener's configuration.
 */
#include <stdbool.h>
#include <stdint.h>

#include "balance.h"
#include "ringer/config.h"

struct engine;
struct engine_tls_client;

/*
 * Active health, process-wide: down is read by every shard and written only
 * by the checking shard, like the rest of this struct.
 */
struct ups_health {
	int down;	/* atomic */
	uint32_t fails; /* checks failed in a row */
	uint32_t oks;	/* checks passed in a row, while down */
	bool in_flight;
	uint64_t next_ms;
};

/* What one listener's modes share over every shard. */
struct ups_shared {
	const struct config *cfg;
	uint32_t sessions[BALANCE_MAX]; /* sessions per upstream over all shards (atomic) */
	struct ups_health health[BALANCE_MAX];
	struct engine *checker; /* the engine whose mode runs the checks (atomic) */
};

struct ups {
	const struct config *cfg;
	struct ups_shared *sh;
	struct balance bal;
	const struct upstream_set *set; /* the set this shard picks from */
	bool limits;			/* some upstream has a maxconn */
	/*
	 * Per upstream slot with ,tls: this shard's client context, made on
	 * first use, and the name and verification it was made for (a reload
	 * may change them: then a new context, so sessions never cross).
	 */
	struct ups_tls {
		struct engine_tls_client *tc;
		char sni[96];
		bool verify;
	} tls[CONFIG_MAX_UPSTREAMS];
};

/* Sets u up for engine e's shard; the first shard with --check runs the checks. 0 or -errno. */
int ups_init(struct ups *u, struct engine *e, const struct config *cfg);
/* Stops being the checker, if it was. */
void ups_fini(struct ups *u, struct engine *e);
/* A reload published a new set: pick from it from now on. True if it changed. */
bool ups_refresh(struct ups *u);

/* Upstreams not to pick now: marked down by active checks, retired by a reload, at maxconn. */
uint64_t ups_down_mask(const struct ups *u);
uint64_t ups_retired_mask(const struct ups *u);
uint64_t ups_full_mask(const struct ups *u);

/* One of upstream i's maxconn slots (true without a maxconn), unless another shard took the last. */
bool ups_take_slot(struct ups *u, unsigned i);
void ups_put_slot(struct ups *u, unsigned i);

enum ups_pick {
	UPS_PICKED,
	UPS_NONE, /* no upstream left to try */
	UPS_FULL, /* those left are at their maxconn */
};

/*
 * Picks an upstream not in skip (nor down, retired or full) and takes one
 * of its slots: *i is it, *slot whether a maxconn slot was taken.
 */
enum ups_pick ups_pick(struct ups *u, uint64_t hash, uint64_t skip, uint64_t now_ms, unsigned *i,
		       bool *slot);

/* The client context for TLS to upstream i, made on first use; NULL if it cannot be made. */
struct engine_tls_client *ups_tls(struct engine *e, struct ups *u, unsigned i);

/* A connect to upstream i went (passive health). Counts failures in engine_stats(e). */
void ups_connect_result(struct engine *e, struct ups *u, unsigned i, int res);

/* True on the shard that runs active checks. */
bool ups_checker(const struct ups *u, const struct engine *e);
/*
 * The checker's timer: the upstreams due a check now (a bit each, in
 * flight from now on); *next_ms says when the next one is due. An upstream
 * keeps its rhythm; one held up by more than an interval starts afresh.
 */
uint64_t ups_checks_due(struct ups *u, uint64_t now_ms, uint64_t *next_ms);
/* A check of upstream i finished: res 0 passed, else -errno (logged once a state changes). */
void ups_check_result(struct engine *e, struct ups *u, unsigned i, int res, const char *why);
/* A check's connection went without a result (it was never started, or was dropped). */
void ups_check_gone(struct ups *u, unsigned i);

#endif
