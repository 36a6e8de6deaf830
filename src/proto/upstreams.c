// SPDX-License-Identifier: MIT
/* What the relaying modes share about their upstreams: see upstreams.h. */
#include "upstreams.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ringer/engine.h"
#include "ringer/tls.h"

static struct ups_shared shared[ENGINE_MAX_LISTENERS];
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;

/* One per listener, found by its configuration, kept for the process's life. */
static struct ups_shared *shared_for(const struct config *cfg)
{
	struct ups_shared *sh = NULL;

	pthread_mutex_lock(&shared_lock);
	for (unsigned i = 0; i < ENGINE_MAX_LISTENERS && !sh; i++)
		if (shared[i].cfg == cfg)
			sh = &shared[i];
	for (unsigned i = 0; i < ENGINE_MAX_LISTENERS && !sh; i++) {
		if (!shared[i].cfg) {
			sh = &shared[i];
			sh->cfg = cfg;
		}
	}
	pthread_mutex_unlock(&shared_lock);
	return sh;
}

int ups_init(struct ups *u, struct engine *e, const struct config *cfg)
{
	static const enum balance_policy policy[] = {
		[BALANCE_ROUNDROBIN] = BAL_ROUNDROBIN,
		[BALANCE_LEASTCONN] = BAL_LEASTCONN,
		[BALANCE_SOURCE] = BAL_SOURCE,
	};

	memset(u, 0, sizeof(*u));
	u->cfg = cfg;
	u->sh = shared_for(cfg);
	if (!cfg->set || !u->sh)
		return -EINVAL; /* main publishes the first set before the shards start */
	balance_init(&u->bal, policy[cfg->balance], 0, NULL, cfg->fail_threshold, cfg->down_ms);
	ups_refresh(u);
	if (cfg->check) {
		struct engine *none = NULL;

		/* The first shard to start runs the checks for all. */
		if (__atomic_compare_exchange_n(&u->sh->checker, &none, e, false, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			engine_set_timer(e, 1); /* the first checks at the first tick */
	}
	return 0;
}

void ups_fini(struct ups *u, struct engine *e)
{
	struct engine *self = e;

	if (u->sh)
		__atomic_compare_exchange_n(&u->sh->checker, &self, NULL, false, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
}

/*
 * A reload (SIGHUP, --upstreams-file) published a new upstream set: pick from
 * it from now on. Slots keep their meaning, so sessions already running,
 * their counters and health carry on.
 */
bool ups_refresh(struct ups *u)
{
	const struct upstream_set *s = __atomic_load_n(&u->cfg->set, __ATOMIC_ACQUIRE);
	uint32_t weights[BALANCE_MAX];

	if (!s || s == u->set)
		return false;
	u->set = s;
	u->limits = false;
	for (unsigned i = 0; i < s->n && i < BALANCE_MAX; i++) {
		weights[i] = s->up[i].weight;
		u->limits |= s->up[i].maxconn != 0;
	}
	balance_update(&u->bal, s->n, weights);
	return true;
}

uint64_t ups_down_mask(const struct ups *u)
{
	uint64_t mask = 0;

	for (unsigned i = 0; i < u->bal.n; i++)
		if (__atomic_load_n(&u->sh->health[i].down, __ATOMIC_RELAXED))
			mask |= 1ull << i;
	return mask;
}

uint64_t ups_retired_mask(const struct ups *u)
{
	uint64_t mask = 0;

	for (unsigned i = 0; i < u->set->n && i < BALANCE_MAX; i++)
		if (!u->set->enabled[i])
			mask |= 1ull << i;
	return mask;
}

uint64_t ups_full_mask(const struct ups *u)
{
	uint64_t mask = 0;

	if (!u->limits)
		return 0;
	for (unsigned i = 0; i < u->bal.n; i++) {
		unsigned max = u->set->up[i].maxconn;

		if (max && __atomic_load_n(&u->sh->sessions[i], __ATOMIC_RELAXED) >= max)
			mask |= 1ull << i;
	}
	return mask;
}

bool ups_take_slot(struct ups *u, unsigned i)
{
	unsigned max = u->set->up[i].maxconn;

	if (!max)
		return true;
	if (__atomic_fetch_add(&u->sh->sessions[i], 1, __ATOMIC_RELAXED) < max)
		return true;
	__atomic_fetch_sub(&u->sh->sessions[i], 1, __ATOMIC_RELAXED);
	return false;
}

void ups_put_slot(struct ups *u, unsigned i)
{
	__atomic_fetch_sub(&u->sh->sessions[i], 1, __ATOMIC_RELAXED);
}

enum ups_pick ups_pick(struct ups *u, uint64_t hash, uint64_t skip, uint64_t now_ms, unsigned *i,
		       bool *slot)
{
	uint64_t full;
	int k;

	skip |= ups_down_mask(u) | ups_retired_mask(u);
	for (;;) {
		full = ups_full_mask(u);
		k = balance_pick(&u->bal, hash, skip | full, now_ms);
		if (k < 0)
			return (full & ~skip) ? UPS_FULL : UPS_NONE;
		*slot = u->set->up[k].maxconn != 0;
		if (ups_take_slot(u, (unsigned)k))
			break;
	}
	*i = (unsigned)k;
	return UPS_PICKED;
}

struct engine_tls_client *ups_tls(struct engine *e, struct ups *u, unsigned i)
{
	const struct config_upstream *up = &u->set->up[i];
	struct ups_tls *t = &u->tls[i];

	if (t->tc && (strcmp(t->sni, up->sni) || t->verify != !up->no_verify))
		t->tc = NULL; /* the engine frees the old one with itself */
	if (!t->tc) {
		const struct config *cfg = u->cfg;
		struct tls_client_settings s = {
			.ca = cfg->upstream_ca,
			.verify = !up->no_verify,
			.cert = cfg->upstream_cert,
			.key = cfg->upstream_key,
			.resume = true,
			.what = "--upstream-ca/--upstream-cert/--upstream-key",
		};
		char err[256];

		if (engine_tls_client(e, &s, &t->tc, err, sizeof(err)))
			return NULL; /* main made the same context at startup: out of memory */
		snprintf(t->sni, sizeof(t->sni), "%s", up->sni);
		t->verify = !up->no_verify;
	}
	return t->tc;
}

void ups_connect_result(struct engine *e, struct ups *u, unsigned i, int res)
{
	struct stats *st = engine_stats(e);
	bool was_down = balance_is_down(&u->bal, i);

	if (res < 0) {
		STAT_INC(st, up[i].failures);
		/* A name that may have moved: the resolver thread looks it up again now. */
		if (u->set->up[i].resolve && u->cfg->resolve_kick)
			__atomic_store_n(u->cfg->resolve_kick, 1, __ATOMIC_RELAXED);
		if (balance_result(&u->bal, i, false, engine_now_ms(e)))
			STAT_ADD(st, up[i].down, 1);
		return;
	}
	balance_result(&u->bal, i, true, engine_now_ms(e));
	if (was_down)
		STAT_ADD(st, up[i].down, -1);
	STAT_INC(st, up[i].connects);
}

bool ups_checker(const struct ups *u, const struct engine *e)
{
	return __atomic_load_n(&u->sh->checker, __ATOMIC_RELAXED) == e;
}

uint64_t ups_checks_due(struct ups *u, uint64_t now_ms, uint64_t *next_ms)
{
	uint64_t interval = u->cfg->check_ms, next = now_ms + interval, due = 0;

	for (unsigned i = 0; i < u->bal.n; i++) {
		struct ups_health *h = &u->sh->health[i];

		if (h->in_flight || now_ms < h->next_ms || !u->set->enabled[i]) {
			if (u->set->enabled[i] && h->next_ms < next)
				next = h->next_ms; /* in flight past it: looked at again next tick */
			continue;
		}
		h->next_ms =
			h->next_ms + interval > now_ms ? h->next_ms + interval : now_ms + interval;
		if (h->next_ms < next)
			next = h->next_ms;
		h->in_flight = true;
		due |= 1ull << i;
	}
	*next_ms = next;
	return due;
}

static void health_mark(struct engine *e, struct ups *u, unsigned i, bool down, const char *why)
{
	struct stats *st = engine_stats(e);

	__atomic_store_n(&u->sh->health[i].down, down, __ATOMIC_RELAXED);
	STAT_INC(st, up[i].state_changes);
	STAT_ADD(st, up[i].down, down ? 1 : -1);
	if (down)
		fprintf(stderr, "ringer: upstream %s is DOWN: %u checks failed (last: %s)\n",
			u->set->up[i].name, u->sh->health[i].fails, why);
	else
		fprintf(stderr, "ringer: upstream %s is UP: %u checks passed\n", u->set->up[i].name,
			u->sh->health[i].oks);
}

void ups_check_result(struct engine *e, struct ups *u, unsigned i, int res, const char *why)
{
	struct ups_health *h = &u->sh->health[i];
	bool down = __atomic_load_n(&h->down, __ATOMIC_RELAXED);

	h->in_flight = false;
	if (res == 0) {
		h->fails = 0;
		if (down && ++h->oks >= u->cfg->check_rise)
			health_mark(e, u, i, false, NULL);
		return;
	}
	h->oks = 0;
	if (!down && ++h->fails >= u->cfg->check_fall)
		health_mark(e, u, i, true, why ? why : strerror(-res));
}

void ups_check_gone(struct ups *u, unsigned i)
{
	u->sh->health[i].in_flight = false;
}
