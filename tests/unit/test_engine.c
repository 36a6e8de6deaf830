// SPDX-License-Identifier: MIT
/*
 * The connection engine on a real ring, driven by this test as its loop
 * owner, with a small mode that records what it is told:
 *
 *  - the connect path: to a listening port (SYN_SENT -> ESTABLISHED), to a
 *    refused port (ECONNREFUSED counted, CLOSED), and to a listener whose
 *    accept queue is full, so the SYN is dropped (the linked timeout fires,
 *    counted);
 *  - buffer handoff: buffers forwarded to a connection whose peer does not
 *    read stay held while its send is in flight; when that connection is
 *    reset, they go back to the ring once, after the send completes;
 *  - engine_send_input(): a connection's own input sent back after the
 *    mode's bytes, byte for byte over many buffers, the rest of the input
 *    left for the mode; a peer that stops reading stops the receive, and a
 *    reset gives every buffer back once;
 *  - timeouts on the wheel, on a clock the test sets: --idle-timeout counts
 *    from the last traffic (the timer armed at accept fires early and is
 *    armed again), and a mode's deadline fires at the first tick at or
 *    after it, also after being moved later or earlier.
 *
 * Everything is on 127.0.0.1 with ephemeral ports and bounded in time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ringer/engine.h"
#include "ringer/mode.h"
#include "ringer/sock.h"
#include "ringer/tcp_state.h"

#define BUF_COUNT 256
#define BUF_SIZE  4096

/* What the test mode saw. */
static struct {
	int connected_calls;
	int connected_res;
	int closed_calls;
	int closed_state;
	int accepted;
	int expired;
	uint64_t expired_at;
	struct conn_ref acc[4];
	struct conn_ref forward_to; /* readable forwards here when set */
	uint64_t consumed;
	bool echo_input; /* readable sends input back with engine_send_input() */
	bool echo_started;
	uint64_t echoed;
	int timers;	      /* mode->timer calls */
	uint64_t timer_at;    /* ... the last one's time */
	uint64_t timer_every; /* ... each sets the next this much later (0: none) */
} seen;

/* Echo with engine_send_input(): skip a 4-byte head, then "pre:" and the rest. */
static void t_echo_input(struct engine *e, struct conn *c)
{
	const uint8_t *p;
	uint32_t n = engine_input_len(e, c);

	if (engine_sending(c) || !n)
		return; /* never an empty send: it would say sent again at once */
	assert_int_equal(engine_send_input(e, c, NULL, 0, n + 1), -EINVAL);
	if (n > ENGINE_SEND_INPUT_MAX)
		n = ENGINE_SEND_INPUT_MAX;
	if (!seen.echo_started) {
		if (engine_input(e, c, &p) < 4)
			return;
		engine_consume(e, c, 4);
		seen.echo_started = true;
		n = engine_input_len(e, c);
		if (n > ENGINE_SEND_INPUT_MAX)
			n = ENGINE_SEND_INPUT_MAX;
		assert_int_equal(engine_send_input(e, c, "pre:", 4, n), 0);
	} else {
		assert_int_equal(engine_send_input(e, c, NULL, 0, n), 0);
	}
	seen.echoed += n;
}

static void t_connected(struct engine *e, struct conn *c, int res)
{
	seen.connected_calls++;
	seen.connected_res = res;
}

static void t_accepted(struct engine *e, struct conn *c)
{
	if (seen.accepted < 4)
		seen.acc[seen.accepted] = engine_ref(e, c);
	seen.accepted++;
}

static void t_readable(struct engine *e, struct conn *c)
{
	struct conn *to =
		seen.forward_to.slot != UINT32_MAX ? engine_conn(e, seen.forward_to) : NULL;
	const uint8_t *p;
	uint32_t n;

	if (seen.echo_input) {
		t_echo_input(e, c);
		return;
	}
	if (to && to != c) {
		engine_forward(e, c, to);
		return;
	}
	while ((n = engine_input(e, c, &p)) > 0) {
		seen.consumed += n;
		engine_consume(e, c, n);
	}
}

static void t_sent(struct engine *e, struct conn *c)
{
	if (seen.echo_input)
		t_echo_input(e, c);
}

static void t_expired(struct engine *e, struct conn *c)
{
	seen.expired++;
	seen.expired_at = engine_now_ms(e);
}

static void t_closed(struct engine *e, struct conn *c)
{
	seen.closed_calls++;
	seen.closed_state = c->state;
}

static void t_timer(struct engine *e, uint64_t now_ms)
{
	seen.timers++;
	seen.timer_at = now_ms;
	if (seen.timer_every)
		engine_set_timer(e, now_ms + seen.timer_every);
}

static const struct mode_ops test_mode = {
	.name = "test",
	.accepted = t_accepted,
	.connected = t_connected,
	.readable = t_readable,
	.sent = t_sent,
	.closed = t_closed,
	.expired = t_expired,
	.timer = t_timer,
};

struct fixture {
	struct ring ring;
	struct engine *e;
	struct stats st;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#define IDLE_MS 500
#define CLOCK0	5000000 /* the test's clock for the timeout tests */

static int setup_with(void **state, uint32_t idle_ms, uint64_t now)
{
	static struct fixture f;
	struct engine_params p = {
		.mode = &test_mode,
		.stats = &f.st,
		.max_conns = 16,
		.buf_count = BUF_COUNT,
		.buf_size = BUF_SIZE,
		.idle_ms = idle_ms,
	};
	char note[128];

	memset(&f, 0, sizeof(f));
	memset(&seen, 0, sizeof(seen));
	seen.forward_to.slot = UINT32_MAX;
	if (ring_init(&f.ring, 256, 4, NULL, 0))
		return -1;
	if (engine_create(&f.e, &f.ring, &p, note, sizeof(note)))
		return -1;
	engine_set_now(f.e, now);
	*state = &f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, 0, mono_ms());
}

static int setup_idle(void **state)
{
	return setup_with(state, IDLE_MS, CLOCK0);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	engine_destroy(f->e);
	ring_exit(&f->ring);
	return 0;
}

/* The loop, as a shard runs it, until done() or ms pass. Returns done(). */
static bool pump(struct fixture *f, int ms, bool (*done)(struct fixture *))
{
	uint64_t end = mono_ms() + (uint64_t)ms;

	while (!done(f) && mono_ms() < end) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		ring_submit_and_wait_timeout(&f->ring, 1, 10 * 1000000ull);
		engine_set_now(f->e, mono_ms());
		ring_for_each_cqe(&f->ring, head, cqe)
		{
			engine_complete(f->e, cqe);
			n++;
		}
		ring_cq_advance(&f->ring, n);
		engine_flush(f->e);
		engine_tick(f->e, mono_ms());
	}
	return done(f);
}

/* The loop on the test's clock: completions as they come, the engine's time (and tick) at now. */
static bool pump_at(struct fixture *f, uint64_t now, int ms, bool (*done)(struct fixture *))
{
	uint64_t end = mono_ms() + (uint64_t)ms;

	do {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		ring_submit_and_wait_timeout(&f->ring, 1, 10 * 1000000ull);
		engine_set_now(f->e, now);
		ring_for_each_cqe(&f->ring, head, cqe)
		{
			engine_complete(f->e, cqe);
			n++;
		}
		ring_cq_advance(&f->ring, n);
		engine_flush(f->e);
		engine_tick(f->e, now);
	} while (!done(f) && mono_ms() < end);
	return done(f);
}

static bool never(struct fixture *f)
{
	return false;
}

static bool got_connected(struct fixture *f)
{
	return seen.connected_calls > 0;
}

static bool got_4_bytes(struct fixture *f)
{
	return seen.consumed >= 4;
}

static bool got_closed(struct fixture *f)
{
	return seen.closed_calls > 0;
}

static bool all_released(struct fixture *f)
{
	for (int s = 0; s < TCP_STATE_COUNT; s++)
		if (f->st.by_state[s])
			return false;
	return true;
}

static int listener(struct net_addr *a, int backlog)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
	socklen_t len = sizeof(a->ss);
	int fd;

	memset(a, 0, sizeof(*a));
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a->len = sizeof(*in);
	fd = sock_listen(a, backlog);
	assert_true(fd >= 0);
	getsockname(fd, (struct sockaddr *)&a->ss, &len);
	return fd;
}

static void connect_to_listener(void **state)
{
	struct fixture *f = *state;
	struct net_addr a;
	int lfd = listener(&a, 16), err = 0, afd;
	struct conn *c = engine_connect(f->e, &a, 2000, &err);

	assert_non_null(c);
	assert_int_equal(c->state, TCPS_SYN_SENT);
	assert_int_equal(f->st.by_side[CONN_SIDE_UPSTREAM][TCPS_SYN_SENT], 1);
	assert_true(pump(f, 2000, got_connected));
	assert_int_equal(seen.connected_res, 0);
	assert_int_equal(c->state, TCPS_ESTABLISHED);
	assert_int_equal(f->st.by_side[CONN_SIDE_UPSTREAM][TCPS_ESTABLISHED], 1);
	assert_int_equal(f->st.connects_out, 1);
	/* Bytes flow both ways on the connected socket. */
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(send(afd, "ping", 4, 0), 4);
	assert_true(pump(f, 2000, got_4_bytes));
	assert_int_equal(engine_send(f->e, c, "pong", 4), 0);
	engine_close(f->e, c, ENGINE_CLOSE);
	assert_true(pump(f, 2000, got_closed));
	assert_true(pump(f, 2000, all_released));
	{
		char buf[8];

		assert_int_equal(recv(afd, buf, sizeof(buf), MSG_WAITALL), 4);
		assert_memory_equal(buf, "pong", 4);
		/* Then our FIN. */
		assert_int_equal(recv(afd, buf, sizeof(buf), 0), 0);
	}
	close(afd);
	close(lfd);
}

static void connect_refused(void **state)
{
	struct fixture *f = *state;
	struct net_addr a;
	int lfd = listener(&a, 16), err = 0;

	close(lfd); /* nothing listens on that port now */
	assert_non_null(engine_connect(f->e, &a, 2000, &err));
	assert_true(pump(f, 2000, got_connected));
	assert_int_equal(seen.connected_res, -ECONNREFUSED);
	assert_true(pump(f, 2000, got_closed));
	assert_int_equal(seen.closed_state, TCPS_CLOSED);
	assert_int_equal(f->st.connect_failures, 1);
	assert_int_equal(f->st.connects_out, 0);
	assert_true(pump(f, 2000, all_released));
}

static void connect_timeout(void **state)
{
	struct fixture *f = *state;
	struct net_addr a;
	int lfd = listener(&a, 0), fill[2], err = 0;
	uint64_t t0;

	/*
	 * listen(fd, 0) holds one connection in the accept queue; with it full,
	 * Linux drops further SYNs, and a connect waits for SYN retransmits.
	 */
	for (int i = 0; i < 2; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		connect(fill[i], (struct sockaddr *)&a.ss, a.len);
	}
	usleep(50 * 1000);
	t0 = mono_ms();
	assert_non_null(engine_connect(f->e, &a, 300, &err));
	assert_true(pump(f, 3000, got_connected));
	assert_int_equal(seen.connected_res, -ETIMEDOUT);
	assert_true(mono_ms() - t0 >= 250);
	assert_true(mono_ms() - t0 < 1500);
	assert_int_equal(f->st.connect_failures, 1);
	assert_true(pump(f, 2000, all_released));
	close(fill[0]);
	close(fill[1]);
	close(lfd);
}

static bool got_one_accept_helper(struct fixture *f)
{
	return seen.accepted >= 1;
}

static bool two_accepted(struct fixture *f)
{
	return seen.accepted >= 2;
}

static bool b_closed(struct fixture *f)
{
	return seen.closed_calls >= 1;
}

static void forwarded_buffers_recycled_once_after_send(void **state)
{
	struct fixture *f = *state;
	struct net_addr a;
	int lfd = listener(&a, 16), x1, x2, small = 4096;
	static char chunk[65536];
	struct conn *A, *B;
	unsigned held_before, held_after_reset;
	uint64_t end;

	engine_listen(f->e, lfd);
	x1 = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(x1, (struct sockaddr *)&a.ss, a.len), 0);
	assert_true(pump(f, 2000, got_one_accept_helper));
	x2 = socket(AF_INET, SOCK_STREAM, 0);
	/* x2 never reads, and its receive buffer is small: B's sends stall. */
	setsockopt(x2, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	assert_int_equal(connect(x2, (struct sockaddr *)&a.ss, a.len), 0);
	assert_true(pump(f, 2000, two_accepted));
	A = engine_conn(f->e, seen.acc[0]);
	B = engine_conn(f->e, seen.acc[1]);
	assert_non_null(A);
	assert_non_null(B);
	seen.forward_to = seen.acc[1];
	fcntl(x1, F_SETFL, O_NONBLOCK);
	/* Push until B holds forwarded buffers it cannot send and A stops receiving. */
	end = mono_ms() + 3000;
	while (mono_ms() < end) {
		if (send(x1, chunk, sizeof(chunk), 0) < 0 && errno != EAGAIN)
			fail_msg("send: %s", strerror(errno));
		pump(f, 20, all_released);
		if (B->out_count > 0 && (B->tx & CONN_TX_SENDING) && (A->rx & CONN_RX_BLOCKED))
			break;
	}
	assert_true(B->out_count > 0);
	assert_true(B->tx & CONN_TX_SENDING);
	held_before = engine_buffers_held(f->e);
	assert_true(held_before >= B->out_count);
	/* Reset B: its buffers are still being sent, so none goes back yet. */
	engine_close(f->e, B, ENGINE_CLOSE_RESET);
	held_after_reset = engine_buffers_held(f->e);
	assert_int_equal(held_after_reset, held_before);
	assert_true(pump(f, 2000, b_closed));
	/* B's buffers came back once; A's own input may still be queued: drop A too. */
	A = engine_conn(f->e, seen.acc[0]);
	if (A)
		engine_close(f->e, A, ENGINE_CLOSE_NOW);
	close(x1);
	close(x2);
	assert_true(pump(f, 3000, all_released));
	/* A second return of any buffer would wrap the count (unsigned) far above this. */
	assert_int_equal(engine_buffers_held(f->e), 0);
	close(lfd);
}

static uint8_t pat(uint64_t i)
{
	return (uint8_t)(i * 131 + (i >> 9));
}

static void send_input_echoes_input(void **state)
{
	enum { TOTAL = 300000 };
	struct fixture *f = *state;
	struct net_addr a;
	int lfd = listener(&a, 16), x;
	static uint8_t out[TOTAL + 4], in[TOTAL + 8];
	size_t sent = 0, got = 0;
	struct conn *A;
	uint64_t end;

	seen.echo_input = true;
	engine_listen(f->e, lfd);
	x = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(x, (struct sockaddr *)&a.ss, a.len), 0);
	assert_true(pump(f, 2000, got_one_accept_helper));
	fcntl(x, F_SETFL, O_NONBLOCK);
	memcpy(out, "HEAD", 4);
	for (size_t i = 0; i < TOTAL; i++)
		out[4 + i] = pat(i);
	/* "HEAD" and 300,000 bytes go in; "pre:" and the 300,000 come back, in order. */
	end = mono_ms() + 5000;
	while (got < TOTAL + 4 && mono_ms() < end) {
		ssize_t n;

		if (sent < sizeof(out)) {
			n = send(x, out + sent, sizeof(out) - sent, 0);
			if (n > 0)
				sent += (size_t)n;
		}
		pump(f, 5, all_released);
		while ((n = recv(x, in + got, sizeof(in) - got, 0)) > 0)
			got += (size_t)n;
	}
	assert_int_equal(got, TOTAL + 4);
	assert_memory_equal(in, "pre:", 4);
	for (size_t i = 0; i < TOTAL; i++)
		if (in[4 + i] != pat(i))
			fail_msg("byte %zu: %u, not %u", i, in[4 + i], pat(i));
	assert_int_equal(seen.echoed, TOTAL);

	/* Now x stops reading: A's receive stops, its share of the pool bounds what it holds. */
	A = engine_conn(f->e, seen.acc[0]);
	assert_non_null(A);
	end = mono_ms() + 3000;
	while (mono_ms() < end) {
		static uint8_t chunk[65536];

		send(x, chunk, sizeof(chunk), 0);
		pump(f, 20, all_released);
		if ((A->rx & CONN_RX_PAUSED) && (A->tx & CONN_TX_SENDING) && A->in_echo)
			break;
	}
	assert_true(A->rx & CONN_RX_PAUSED);
	assert_true(A->tx & CONN_TX_SENDING);
	assert_true(A->in_count <= BUF_COUNT / 32 + 16);
	/* Input under a send is not dropped or consumed by the mode meanwhile. */
	{
		unsigned held = engine_buffers_held(f->e);

		engine_drop_input(f->e, A);
		assert_int_equal(engine_buffers_held(f->e), held);
	}
	engine_close(f->e, A, ENGINE_CLOSE_RESET);
	close(x);
	assert_true(pump(f, 3000, all_released));
	assert_int_equal(engine_buffers_held(f->e), 0);
	close(lfd);
}

static bool got_2_bytes(struct fixture *f)
{
	return seen.consumed >= 2;
}

static bool got_expired(struct fixture *f)
{
	return seen.expired > 0;
}

/* A client of the engine's listener on the test's clock: returns its socket; the engine's side is acc[0]. */
static int accepted_client(struct fixture *f, int *lfd, uint64_t now)
{
	struct net_addr a;
	int x;

	*lfd = listener(&a, 16);
	engine_listen(f->e, *lfd);
	x = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(x, (struct sockaddr *)&a.ss, a.len), 0);
	assert_true(pump_at(f, now, 2000, got_one_accept_helper));
	return x;
}

static void idle_timeout_counts_from_last_traffic(void **state)
{
	struct fixture *f = *state;
	int lfd, x = accepted_client(f, &lfd, CLOCK0);
	char buf[4];

	/* Traffic at +300: the timer armed at accept (for +501) fires early and re-arms for +801. */
	assert_int_equal(send(x, "ab", 2, 0), 2);
	assert_true(pump_at(f, CLOCK0 + 300, 2000, got_2_bytes));
	pump_at(f, CLOCK0 + 501, 50, never);
	assert_int_equal(seen.closed_calls, 0);
	/* Idle is "more than IDLE_MS": not at +800, at the first tick after. */
	pump_at(f, CLOCK0 + 800, 50, never);
	assert_int_equal(seen.closed_calls, 0);
	assert_true(pump_at(f, CLOCK0 + 801, 2000, got_closed));
	assert_int_equal(recv(x, buf, sizeof(buf), 0), 0); /* our FIN */
	assert_true(pump_at(f, CLOCK0 + 801, 2000, all_released));
	close(x);
	close(lfd);
}

static void deadline_fires_on_its_tick(void **state)
{
	struct fixture *f = *state;
	int lfd, x = accepted_client(f, &lfd, CLOCK0);
	struct conn *c = engine_conn(f->e, seen.acc[0]);

	assert_non_null(c);
	/* Set, moved later (the timer stays early and re-arms), then earlier. */
	engine_set_deadline(f->e, c, CLOCK0 + 100);
	engine_set_deadline(f->e, c, CLOCK0 + 300);
	pump_at(f, CLOCK0 + 299, 50, never);
	assert_int_equal(seen.expired, 0);
	engine_set_deadline(f->e, c, CLOCK0 + 350);
	engine_set_deadline(f->e, c, CLOCK0 + 320);
	pump_at(f, CLOCK0 + 319, 50, never);
	assert_int_equal(seen.expired, 0);
	/* Ticks may come late: it fires at the first one at or after its time, once. */
	assert_true(pump_at(f, CLOCK0 + 420, 2000, got_expired));
	assert_int_equal(seen.expired_at, CLOCK0 + 420);
	pump_at(f, CLOCK0 + 480, 50, never);
	assert_int_equal(seen.expired, 1);
	assert_int_equal(engine_deadline(f->e, c), 0);
	/* Idle still applies, from the accept (no traffic since): more than 500 ms. */
	assert_true(pump_at(f, CLOCK0 + 501, 2000, got_closed));
	close(x);
	assert_true(pump_at(f, CLOCK0 + 501, 2000, all_released));
	close(lfd);
}

/* The mode's timer (engine_set_timer): at the first tick at or after its time, once. */
static void mode_timer_fires_on_its_tick(void **state)
{
	struct fixture *f = *state;

	/* Set, then replaced by a later one. */
	engine_set_timer(f->e, CLOCK0 + 100);
	engine_set_timer(f->e, CLOCK0 + 250);
	engine_tick(f->e, CLOCK0 + 200);
	engine_tick(f->e, CLOCK0 + 249);
	assert_int_equal(seen.timers, 0);
	engine_tick(f->e, CLOCK0 + 300);
	assert_int_equal(seen.timers, 1);
	assert_int_equal(seen.timer_at, CLOCK0 + 300);
	engine_tick(f->e, CLOCK0 + 400);
	assert_int_equal(seen.timers, 1);
	/* Set again from its own call: a schedule finer than a second, tick by tick. */
	seen.timer_every = 200;
	engine_set_timer(f->e, CLOCK0 + 500);
	for (uint64_t t = CLOCK0 + 500; t <= CLOCK0 + 1400; t += 100)
		engine_tick(f->e, t);
	assert_int_equal(seen.timers, 6); /* 500, 700, 900, 1100, 1300 */
	assert_int_equal(seen.timer_at, CLOCK0 + 1300);
	/* 0: none. */
	engine_set_timer(f->e, 0);
	engine_tick(f->e, CLOCK0 + 5000);
	assert_int_equal(seen.timers, 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(connect_to_listener, setup, teardown),
		cmocka_unit_test_setup_teardown(connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(connect_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(forwarded_buffers_recycled_once_after_send, setup,
						teardown),
		cmocka_unit_test_setup_teardown(send_input_echoes_input, setup, teardown),
		cmocka_unit_test_setup_teardown(idle_timeout_counts_from_last_traffic, setup_idle,
						teardown),
		cmocka_unit_test_setup_teardown(deadline_fires_on_its_tick, setup_idle, teardown),
		cmocka_unit_test_setup_teardown(mode_timer_fires_on_its_tick, setup_idle, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
