// SPDX-License-Identifier: MIT
/* The connection slab: O(1) alloc/free, generations, capacity, state tracking. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "ringer/conn.h"
#include "ringer/user_data.h"

static void alloc_until_full(void **state)
{
	struct conn_slab s;
	struct conn *c[8];

	(void)state;
	assert_int_equal(conn_slab_init(&s, 8), 0);
	for (int i = 0; i < 8; i++) {
		c[i] = conn_alloc(&s);
		assert_non_null(c[i]);
		assert_int_equal(conn_slot(&s, c[i]), i);
		assert_int_equal(c[i]->slot, i); /* the tcp_transition probe's slot */
		assert_int_equal(c[i]->state, TCPS_CLOSED);
		assert_int_equal(c[i]->inflight, 0);
		assert_int_equal(c[i]->fd, -1);
	}
	assert_int_equal(s.used, 8);
	assert_null(conn_alloc(&s));
	conn_free(&s, c[3]);
	assert_int_equal(s.used, 7);
	/* The freed slot is the one handed out next, and knows its index again. */
	assert_ptr_equal(conn_alloc(&s), c[3]);
	assert_int_equal(c[3]->slot, 3);
	assert_null(conn_alloc(&s));
	conn_slab_destroy(&s);
}

static void generation_changes_on_free(void **state)
{
	struct conn_slab s;
	struct conn *c;
	uint32_t slot, gen;

	(void)state;
	assert_int_equal(conn_slab_init(&s, 2), 0);
	c = conn_alloc(&s);
	slot = conn_slot(&s, c);
	gen = c->gen;
	assert_ptr_equal(conn_lookup(&s, slot, gen), c);
	conn_free(&s, c);
	/* A completion for the old tenant no longer finds a connection. */
	assert_null(conn_lookup(&s, slot, gen));
	c = conn_alloc(&s);
	assert_int_equal(conn_slot(&s, c), slot);
	assert_int_not_equal(c->gen, gen);
	assert_null(conn_lookup(&s, slot, gen));
	assert_ptr_equal(conn_lookup(&s, slot, c->gen), c);
	/* Out of range and never-used slots are refused too. */
	assert_null(conn_lookup(&s, 1, 0));
	assert_null(conn_lookup(&s, 99, 0));
	conn_slab_destroy(&s);
}

static void generation_wraps_in_user_data_width(void **state)
{
	struct conn_slab s;
	struct conn *c;

	(void)state;
	assert_int_equal(conn_slab_init(&s, 1), 0);
	c = conn_alloc(&s);
	c->gen = UD_GEN_MASK;
	conn_free(&s, c);
	c = conn_alloc(&s);
	assert_int_equal(c->gen, 0);
	assert_ptr_equal(conn_lookup(&s, 0, ud_gen(ud_encode(UD_OP_RECV, c->gen, 0))), c);
	conn_slab_destroy(&s);
}

static void free_list_is_lifo_and_complete(void **state)
{
	enum { N = 1000 };
	static struct conn *c[N];
	struct conn_slab s;
	unsigned seen[N] = {0};

	(void)state;
	assert_int_equal(conn_slab_init(&s, N), 0);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < N; i++)
			c[i] = conn_alloc(&s);
		assert_null(conn_alloc(&s));
		for (int i = 0; i < N; i += 2)
			conn_free(&s, c[i]);
		for (int i = 1; i < N; i += 2)
			conn_free(&s, c[i]);
		assert_int_equal(s.used, 0);
	}
	for (int i = 0; i < N; i++) {
		c[i] = conn_alloc(&s);
		seen[conn_slot(&s, c[i])]++;
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
	conn_slab_destroy(&s);
}

static void bad_capacity(void **state)
{
	struct conn_slab s;

	(void)state;
	assert_int_equal(conn_slab_init(&s, 0), -EINVAL);
	assert_int_equal(conn_slab_init(&s, UINT32_MAX), -EINVAL);
}

static void events_keep_state_gauge(void **state)
{
	struct conn_slab s;
	struct stats st;
	struct conn *c;

	(void)state;
	memset(&st, 0, sizeof(st));
	assert_int_equal(conn_slab_init(&s, 4), 0);
	c = conn_alloc(&s);
	conn_track(c, &st);
	assert_int_equal(st.by_state[TCPS_CLOSED], 1);
	assert_int_equal(conn_event(c, TCP_EV_PASSIVE_OPEN, &st), 0);
	assert_int_equal(conn_event(c, TCP_EV_RCV_SYN, &st), 0);
	assert_int_equal(conn_event(c, TCP_EV_RCV_ACK, &st), 0);
	assert_int_equal(c->state, TCPS_ESTABLISHED);
	assert_int_equal(st.by_state[TCPS_CLOSED], 0);
	assert_int_equal(st.by_state[TCPS_ESTABLISHED], 1);
	/* Illegal: refused, state kept, counted. */
	assert_int_equal(conn_event(c, TCP_EV_TIMEOUT, &st), -EINVAL);
	assert_int_equal(c->state, TCPS_ESTABLISHED);
	assert_int_equal(st.illegal, 1);
	assert_int_equal(conn_event(c, TCP_EV_RCV_FIN, &st), 0);
	assert_int_equal(conn_event(c, TCP_EV_CLOSE, &st), 0);
	assert_int_equal(st.by_state[TCPS_LAST_ACK], 1);
	assert_int_equal(st.by_state[TCPS_ESTABLISHED], 0);
	assert_int_equal(conn_event(c, TCP_EV_RCV_ACK, &st), 0);
	conn_untrack(c, &st);
	for (int i = 0; i < TCP_STATE_COUNT; i++)
		assert_int_equal(st.by_state[i], 0);
	conn_free(&s, c);
	conn_slab_destroy(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(alloc_until_full),
		cmocka_unit_test(generation_changes_on_free),
		cmocka_unit_test(generation_wraps_in_user_data_width),
		cmocka_unit_test(free_list_is_lifo_and_complete),
		cmocka_unit_test(bad_capacity),
		cmocka_unit_test(events_keep_state_gauge),
	};

	return cmocka_run_group_tests_name("conn", tests, NULL, NULL);
}
