// SPDX-License-Identifier: MIT
/*
 * The TCP transition table: the cost every connection pays on each state
 * change. "lifecycle" follows the edges a server connection really walks,
 * each lookup depending on the last (latency); "sweep" looks up every
 * (state, event) pair, illegal ones included, as independent lookups
 * (throughput).
 */
#include "bench.h"
#include "ringer/tcp_state.h"

/* CLOSED -> LISTEN -> SYN_RCVD -> ESTABLISHED -> CLOSE_WAIT -> LAST_ACK -> CLOSED */
static const enum tcp_event passive_close[] = {
	TCP_EV_PASSIVE_OPEN, TCP_EV_RCV_SYN, TCP_EV_RCV_ACK,
	TCP_EV_RCV_FIN,	     TCP_EV_CLOSE,   TCP_EV_RCV_ACK,
};

#define PASSIVE_LEN (sizeof(passive_close) / sizeof(passive_close[0]))

static void bm_lifecycle(struct bench_state *st)
{
	enum tcp_state s = TCPS_CLOSED;
	unsigned e = 0;

	for (uint64_t i = 0; i < st->iterations; i++) {
		s = tcp_state_next(s, passive_close[e]);
		e = e + 1 == PASSIVE_LEN ? 0 : e + 1;
		bench_do_not_optimize(s);
	}
	bench_set_items_processed(st, st->iterations);
}

static void bm_sweep(struct bench_state *st)
{
	unsigned s = 0, ev = 0;

	for (uint64_t i = 0; i < st->iterations; i++) {
		bench_do_not_optimize(tcp_state_next((enum tcp_state)s, (enum tcp_event)ev));
		if (++ev == TCP_EVENT_COUNT) {
			ev = 0;
			s = s + 1 == TCP_STATE_COUNT ? 0 : s + 1;
		}
	}
	bench_set_items_processed(st, st->iterations);
}

static const struct bench_def benches[] = {
	{.name = "tcp_state_next/lifecycle", .fn = bm_lifecycle},
	{.name = "tcp_state_next/sweep", .fn = bm_sweep},
};

BENCH_MAIN(benches)
