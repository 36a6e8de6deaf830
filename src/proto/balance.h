/* SPDX-License-Identifier: MIT */
#ifndef RINGER_BALANCE_H
#define RINGER_BALANCE_H

/*
 * Upstream selection and passive health for the proxy: a pure module (no
 * ring, no clock of its own), one instance per shard.
 *
 *   roundrobin  smooth weighted round robin (nginx's): each pick adds every
 *               candidate's weight to its credit and takes the largest,
 *               which then pays the total; weights 3:1 give a a b a a a b ...
 *   leastconn   fewest active sessions per unit of weight; ties go round robin
 *   source      rendezvous hashing of the client address: each upstream
 *               scores hash(client, upstream) scaled by its weight and the
 *               best wins, so a client keeps its upstream while the set is
 *               unchanged, and losing one upstream moves only its clients
 *
 * Passive health: fail_threshold consecutive connect failures mark an
 * upstream down for down_ms; after that it is a candidate again, and one
 * success clears its failures.
 */
#include <stdbool.h>
#include <stdint.h>

#define BALANCE_MAX 64

enum balance_policy {
	BAL_ROUNDROBIN,
	BAL_LEASTCONN,
	BAL_SOURCE,
};

struct balance_upstream {
	uint32_t weight;
	uint32_t active;
	int64_t credit; /* roundrobin */
	uint32_t fails; /* consecutive connect failures */
	bool down;
	uint64_t down_until_ms;
};

struct balance {
	enum balance_policy policy;
	unsigned n;
	uint32_t fail_threshold;
	uint32_t down_ms;
	unsigned rr_next; /* leastconn's tie breaker */
	struct balance_upstream up[BALANCE_MAX];
};

void balance_init(struct balance *b, enum balance_policy policy, unsigned n,
		  const uint32_t *weights, uint32_t fail_threshold, uint32_t down_ms);
/*
 * An upstream for a new connection, skipping those in tried (bit i: upstream
 * i) and those marked down until their time has passed; -1 when none is left.
 * client_hash matters for BAL_SOURCE only.
 */
int balance_pick(struct balance *b, uint64_t client_hash, uint64_t tried, uint64_t now_ms);
/*
 * A new upstream set (a reload): n slots with these weights. Slots keep
 * their active counts and health; a slot new to the set starts afresh.
 */
void balance_update(struct balance *b, unsigned n, const uint32_t *weights);
/* A connect to upstream i finished. Returns true when this failure marked it down. */
bool balance_result(struct balance *b, unsigned i, bool ok, uint64_t now_ms);
/* Whether upstream i is marked down (its back-off may have passed). */
bool balance_is_down(const struct balance *b, unsigned i);
/* A 64-bit hash of a client address's host part (not the port). */
uint64_t balance_hash_addr(const void *sockaddr, unsigned len);

#endif
