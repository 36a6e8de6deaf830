// SPDX-License-Identifier: MIT
#include "balance.h"

#include <math.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

void balance_init(struct balance *b, enum balance_policy policy, unsigned n,
		  const uint32_t *weights, uint32_t fail_threshold, uint32_t down_ms)
{
	memset(b, 0, sizeof(*b));
	b->policy = policy;
	b->n = n > BALANCE_MAX ? BALANCE_MAX : n;
	b->fail_threshold = fail_threshold ? fail_threshold : 1;
	b->down_ms = down_ms;
	for (unsigned i = 0; i < b->n; i++)
		b->up[i].weight = weights && weights[i] ? weights[i] : 1;
}

void balance_update(struct balance *b, unsigned n, const uint32_t *weights)
{
	n = n > BALANCE_MAX ? BALANCE_MAX : n;
	for (unsigned i = 0; i < n; i++) {
		uint32_t w = weights && weights[i] ? weights[i] : 1;

		if (i >= b->n)
			memset(&b->up[i], 0, sizeof(b->up[i]));
		if (b->up[i].weight != w) {
			b->up[i].weight = w;
			b->up[i].credit = 0;
		}
	}
	b->n = n > b->n ? n : b->n;
}

static bool candidate(const struct balance *b, unsigned i, uint64_t tried, uint64_t now_ms)
{
	const struct balance_upstream *u = &b->up[i];

	if (tried & (1ull << i))
		return false;
	return !u->down || now_ms >= u->down_until_ms;
}

/* splitmix64's finaliser: a well-mixed 64-bit hash of a 64-bit value. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static int pick_rr(struct balance *b, uint64_t tried, uint64_t now_ms)
{
	int64_t total = 0;
	int best = -1;

	for (unsigned i = 0; i < b->n; i++) {
		struct balance_upstream *u = &b->up[i];

		if (!candidate(b, i, tried, now_ms))
			continue;
		u->credit += u->weight;
		total += u->weight;
		if (best < 0 || u->credit > b->up[best].credit)
			best = (int)i;
	}
	if (best >= 0)
		b->up[best].credit -= total;
	return best;
}

static int pick_leastconn(struct balance *b, uint64_t tried, uint64_t now_ms)
{
	int best = -1;

	for (unsigned k = 0; k < b->n; k++) {
		unsigned i = (b->rr_next + k) % b->n;
		const struct balance_upstream *u = &b->up[i];

		if (!candidate(b, i, tried, now_ms))
			continue;
		/* active/weight < best's, compared without division. */
		if (best < 0 || (uint64_t)u->active * b->up[best].weight <
					(uint64_t)b->up[best].active * u->weight)
			best = (int)i;
	}
	if (best >= 0)
		b->rr_next = ((unsigned)best + 1) % b->n;
	return best;
}

/* Weighted rendezvous hashing: score = -weight / ln(u), u uniform in (0, 1) from the hash. */
static int pick_source(struct balance *b, uint64_t client_hash, uint64_t tried, uint64_t now_ms)
{
	double best_score = 0;
	int best = -1;

	for (unsigned i = 0; i < b->n; i++) {
		uint64_t h;
		double u, score;

		if (!candidate(b, i, tried, now_ms))
			continue;
		h = mix64(client_hash ^ mix64(i + 1));
		u = ((double)(h >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
		score = -(double)b->up[i].weight / log(u);
		if (best < 0 || score > best_score) {
			best = (int)i;
			best_score = score;
		}
	}
	return best;
}

int balance_pick(struct balance *b, uint64_t client_hash, uint64_t tried, uint64_t now_ms)
{
	switch (b->policy) {
	case BAL_LEASTCONN:
		return pick_leastconn(b, tried, now_ms);
	case BAL_SOURCE:
		return pick_source(b, client_hash, tried, now_ms);
	case BAL_ROUNDROBIN:
	default:
		return pick_rr(b, tried, now_ms);
	}
}

bool balance_result(struct balance *b, unsigned i, bool ok, uint64_t now_ms)
{
	struct balance_upstream *u = &b->up[i];

	if (ok) {
		u->fails = 0;
		u->down = false;
		return false;
	}
	if (++u->fails < b->fail_threshold)
		return false;
	/* Down again from now, also when a retry after the back-off failed. */
	u->down_until_ms = now_ms + b->down_ms;
	if (u->down)
		return false;
	u->down = true;
	return true;
}

bool balance_is_down(const struct balance *b, unsigned i)
{
	return b->up[i].down;
}

uint64_t balance_hash_addr(const void *sockaddr, unsigned len)
{
	const struct sockaddr *sa = sockaddr;
	uint64_t h = 0x9e3779b97f4a7c15ull;

	if (sa && sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = sockaddr;

		h = mix64(h ^ in->sin_addr.s_addr);
	} else if (sa && sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = sockaddr;
		uint64_t w[2];

		memcpy(w, &in6->sin6_addr, sizeof(w));
		h = mix64(mix64(h ^ w[0]) ^ w[1]);
	}
	return h;
}
