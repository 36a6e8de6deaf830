// SPDX-License-Identifier: MIT
/*
 * The transition table against RFC 793, exhaustively: the legal edges are
 * listed here once more, written from the RFC's figure 6 and section 3.9
 * (not generated from the table), and every other (state, event) pair must be
 * refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ringer/tcp_state.h"

struct edge {
	enum tcp_state from;
	enum tcp_event ev;
	enum tcp_state to;
};

static const struct edge rfc793[] = {
	/* figure 6 */
	{TCPS_CLOSED, TCP_EV_PASSIVE_OPEN, TCPS_LISTEN},
	{TCPS_CLOSED, TCP_EV_ACTIVE_OPEN, TCPS_SYN_SENT},
	{TCPS_LISTEN, TCP_EV_CLOSE, TCPS_CLOSED},
	{TCPS_LISTEN, TCP_EV_RCV_SYN, TCPS_SYN_RCVD},
	{TCPS_LISTEN, TCP_EV_SEND, TCPS_SYN_SENT},
	{TCPS_SYN_SENT, TCP_EV_CLOSE, TCPS_CLOSED},
	{TCPS_SYN_SENT, TCP_EV_RCV_SYN, TCPS_SYN_RCVD},
	{TCPS_SYN_SENT, TCP_EV_RCV_SYN_ACK, TCPS_ESTABLISHED},
	{TCPS_SYN_RCVD, TCP_EV_RCV_ACK, TCPS_ESTABLISHED},
	{TCPS_SYN_RCVD, TCP_EV_CLOSE, TCPS_FIN_WAIT_1},
	{TCPS_ESTABLISHED, TCP_EV_CLOSE, TCPS_FIN_WAIT_1},
	{TCPS_ESTABLISHED, TCP_EV_RCV_FIN, TCPS_CLOSE_WAIT},
	{TCPS_FIN_WAIT_1, TCP_EV_RCV_ACK, TCPS_FIN_WAIT_2},
	{TCPS_FIN_WAIT_1, TCP_EV_RCV_FIN, TCPS_CLOSING},
	{TCPS_FIN_WAIT_2, TCP_EV_RCV_FIN, TCPS_TIME_WAIT},
	{TCPS_CLOSE_WAIT, TCP_EV_CLOSE, TCPS_LAST_ACK},
	{TCPS_CLOSING, TCP_EV_RCV_ACK, TCPS_TIME_WAIT},
	{TCPS_LAST_ACK, TCP_EV_RCV_ACK, TCPS_CLOSED},
	{TCPS_TIME_WAIT, TCP_EV_TIMEOUT, TCPS_CLOSED},
	/* section 3.9: a FIN that acks our FIN goes from FIN-WAIT-1 to TIME-WAIT */
	{TCPS_FIN_WAIT_1, TCP_EV_RCV_FIN_ACK, TCPS_TIME_WAIT},
	/* section 3.4/3.9: reset */
	{TCPS_SYN_SENT, TCP_EV_RCV_RST, TCPS_CLOSED},
	{TCPS_SYN_RCVD, TCP_EV_RCV_RST, TCPS_LISTEN},
	{TCPS_ESTABLISHED, TCP_EV_RCV_RST, TCPS_CLOSED},
	{TCPS_FIN_WAIT_1, TCP_EV_RCV_RST, TCPS_CLOSED},
	{TCPS_FIN_WAIT_2, TCP_EV_RCV_RST, TCPS_CLOSED},
	{TCPS_CLOSE_WAIT, TCP_EV_RCV_RST, TCPS_CLOSED},
	{TCPS_CLOSING, TCP_EV_RCV_RST, TCPS_CLOSED},
	{TCPS_LAST_ACK, TCP_EV_RCV_RST, TCPS_CLOSED},
	{TCPS_TIME_WAIT, TCP_EV_RCV_RST, TCPS_CLOSED},
};

static const struct edge *find_edge(enum tcp_state s, enum tcp_event ev)
{
	for (size_t i = 0; i < sizeof(rfc793) / sizeof(rfc793[0]); i++)
		if (rfc793[i].from == s && rfc793[i].ev == ev)
			return &rfc793[i];
	return NULL;
}

static void every_pair_matches_rfc(void **state)
{
	int legal = 0;

	(void)state;
	for (int s = 0; s < TCP_STATE_COUNT; s++) {
		for (int ev = 0; ev < TCP_EVENT_COUNT; ev++) {
			const struct edge *e = find_edge((enum tcp_state)s, (enum tcp_event)ev);
			enum tcp_state got = tcp_state_next((enum tcp_state)s, (enum tcp_event)ev);

			if (e) {
				if (got != e->to)
					fail_msg("%s + %s: got %s, RFC says %s", tcp_state_name(s),
						 tcp_event_name(ev), tcp_state_name(got),
						 tcp_state_name(e->to));
				legal++;
			} else if (got != TCP_STATE_ILLEGAL) {
				fail_msg("%s + %s: got %s, RFC has no such edge", tcp_state_name(s),
					 tcp_event_name(ev), tcp_state_name(got));
			}
			assert_int_equal(tcp_state_legal(s, ev), e != NULL);
		}
	}
	assert_int_equal(legal, (int)(sizeof(rfc793) / sizeof(rfc793[0])));
}

static void out_of_range_is_illegal(void **state)
{
	(void)state;
	assert_int_equal(tcp_state_next(TCP_STATE_COUNT, TCP_EV_CLOSE), TCP_STATE_ILLEGAL);
	assert_int_equal(tcp_state_next((enum tcp_state) - 1, TCP_EV_CLOSE), TCP_STATE_ILLEGAL);
	assert_int_equal(tcp_state_next(TCPS_ESTABLISHED, TCP_EVENT_COUNT), TCP_STATE_ILLEGAL);
	assert_int_equal(tcp_state_next(TCPS_ESTABLISHED, (enum tcp_event)99), TCP_STATE_ILLEGAL);
}

static void names_are_complete(void **state)
{
	static const char *const want[] = {"CLOSED",	  "LISTEN",	"SYN_SENT",   "SYN_RCVD",
					   "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT",
					   "CLOSING",	  "LAST_ACK",	"TIME_WAIT"};

	(void)state;
	for (int s = 0; s < TCP_STATE_COUNT; s++)
		assert_string_equal(tcp_state_name(s), want[s]);
	assert_string_equal(tcp_state_name(TCP_STATE_ILLEGAL), "ILLEGAL");
	assert_string_equal(tcp_state_name((enum tcp_state)42), "?");
	for (int ev = 0; ev < TCP_EVENT_COUNT; ev++)
		assert_true(strcmp(tcp_event_name(ev), "?") != 0);
	assert_string_equal(tcp_event_name((enum tcp_event)42), "?");
}

/* The lifecycles ringer drives, walked end to end. */
static enum tcp_state walk(enum tcp_state s, const enum tcp_event *evs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		s = tcp_state_next(s, evs[i]);
		assert_int_not_equal(s, TCP_STATE_ILLEGAL);
	}
	return s;
}

static void lifecycles(void **state)
{
	static const enum tcp_event accepted[] = {TCP_EV_PASSIVE_OPEN, TCP_EV_RCV_SYN,
						  TCP_EV_RCV_ACK};
	static const enum tcp_event passive_close[] = {TCP_EV_RCV_FIN, TCP_EV_CLOSE,
						       TCP_EV_RCV_ACK};
	static const enum tcp_event active_close[] = {TCP_EV_CLOSE, TCP_EV_RCV_ACK, TCP_EV_RCV_FIN,
						      TCP_EV_TIMEOUT};
	static const enum tcp_event simultaneous[] = {TCP_EV_CLOSE, TCP_EV_RCV_FIN, TCP_EV_RCV_ACK,
						      TCP_EV_TIMEOUT};
	static const enum tcp_event upstream[] = {TCP_EV_ACTIVE_OPEN, TCP_EV_RCV_SYN_ACK};

	(void)state;
	assert_int_equal(walk(TCPS_CLOSED, accepted, 3), TCPS_ESTABLISHED);
	assert_int_equal(walk(TCPS_ESTABLISHED, passive_close, 3), TCPS_CLOSED);
	assert_int_equal(walk(TCPS_ESTABLISHED, active_close, 4), TCPS_CLOSED);
	assert_int_equal(walk(TCPS_ESTABLISHED, simultaneous, 4), TCPS_CLOSED);
	assert_int_equal(walk(TCPS_CLOSED, upstream, 2), TCPS_ESTABLISHED);
	/* Closing twice is refused: the RFC answers "connection closing". */
	assert_int_equal(tcp_state_next(TCPS_FIN_WAIT_1, TCP_EV_CLOSE), TCP_STATE_ILLEGAL);
	assert_int_equal(tcp_state_next(TCPS_LAST_ACK, TCP_EV_CLOSE), TCP_STATE_ILLEGAL);
	/* Data-phase FIN cannot arrive before the connection exists. */
	assert_int_equal(tcp_state_next(TCPS_LISTEN, TCP_EV_RCV_FIN), TCP_STATE_ILLEGAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_pair_matches_rfc),
		cmocka_unit_test(out_of_range_is_illegal),
		cmocka_unit_test(names_are_complete),
		cmocka_unit_test(lifecycles),
	};

	return cmocka_run_group_tests_name("tcp_state", tests, NULL, NULL);
}
