// SPDX-License-Identifier: MIT
/*
 * The connection engine under injected faults (-Dfault_injection=true,
 * include/ringer/fault.h): each error the ring can inject, forced once at
 * its point of a connection's life, on a real ring driven by this test:
 *
 *   accept      the accept armed, or running (EMFILE, ENFILE, ENOMEM; no SQE)
 *   connect     the socket (EMFILE) or the connect (ECONNREFUSED, ETIMEDOUT,
 *               EADDRNOTAVAIL; no SQE)
 *   first recv  the receive armed at accept (ECONNRESET, ETIMEDOUT, ENOBUFS; no SQE)
 *   mid recv    a running receive, after its first bytes (the same three)
 *   send        the echo's send (EPIPE, ECONNRESET; short; no SQE)
 *   shutdown    our FIN's completion (ENOTCONN; no SQE)
 *   close       the close's completion (EIO, EINTR)
 *   cancel      the recv's end arriving a batch after its cancel's
 *   SQ full     an early submit
 *
 * Each case checks that the fault was injected (so the case tests what it
 * says), that the connection it hit is released exactly once and its peer
 * sees the end (or, for the faults a connection survives, ENOBUFS and a
 * short send, that its bytes still come back exactly), that no transition
 * was illegal and no completion found a reused slot, that every buffer is
 * back, and that a bystander connection, open all along, is undisturbed.
 *
 * Without the option every case skips, saying why.
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
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ringer/engine.h"
#include "ringer/mode.h"
#include "ringer/sock.h"
#include "ringer/tcp_state.h"

#if RINGER_FAULT_INJECTION

#include "ringer/fault.h"

#define BUF_COUNT 256
#define BUF_SIZE  4096
#define MAX_SLOTS 16

/* What the echo mode saw. */
static struct {
	int accepted;
	struct conn_ref acc[8];
	int connected_calls;
	int connected_res;
	int closed_calls;
	int closed_by_slot[MAX_SLOTS]; /* releases per slot, for the connection under test */
	int closed_state[MAX_SLOTS];   /* its TCP state when released */
} seen;

/* Echo: a connection's input goes back out with engine_send_input(). */
static void t_echo(struct engine *e, struct conn *c)
{
	uint32_t n = engine_input_len(e, c);

	if (engine_sending(c) || !n)
		return;
	if (n > ENGINE_SEND_INPUT_MAX)
		n = ENGINE_SEND_INPUT_MAX;
	engine_send_input(e, c, NULL, 0, n);
}

static void t_accepted(struct engine *e, struct conn *c)
{
	if (seen.accepted < 8)
		seen.acc[seen.accepted] = engine_ref(e, c);
	seen.accepted++;
}

static void t_connected(struct engine *e, struct conn *c, int res)
{
	seen.connected_calls++;
	seen.connected_res = res;
}

static void t_closed(struct engine *e, struct conn *c)
{
	struct conn_ref ref = engine_ref(e, c);

	seen.closed_calls++;
	if (ref.slot < MAX_SLOTS) {
		seen.closed_by_slot[ref.slot]++;
		seen.closed_state[ref.slot] = c->state;
	}
}

static const struct mode_ops echo_mode = {
	.name = "fault-echo",
	.accepted = t_accepted,
	.connected = t_connected,
	.readable = t_echo,
	.sent = t_echo,
	.closed = t_closed,
};

/* What a case does, and what it expects. */
enum point {
	P_ACCEPT,     /* the listener's accept armed */
	P_ACCEPT_MID, /* the multishot accept, running */
	P_CONNECT,    /* engine_connect(): socket, connect */
	P_FIRST_RECV, /* the receive armed at accept */
	P_MID_RECV,   /* a running receive, after its first bytes */
	P_SEND,	      /* the echo's send */
	P_SHUTDOWN,   /* our FIN */
	P_CLOSE,      /* the close */
	P_CANCEL,     /* the cancel of the receive, at close */
	P_SQ_FULL,    /* an early submit, anywhere */
};

struct fcase {
	enum point point;
	enum fault_group group;
	int err;
	bool survives; /* the connection goes on (ENOBUFS, a short send, an early submit) */
};

struct fixture {
	struct ring ring;
	struct engine *e;
	struct stats st;
	const struct fcase *fc;
	struct net_addr addr; /* the engine's listener */
	int lfd;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int listener(struct net_addr *a)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;
	socklen_t len = sizeof(a->ss);
	int fd;

	memset(a, 0, sizeof(*a));
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a->len = sizeof(*in);
	fd = sock_listen(a, 16);
	if (fd >= 0)
		getsockname(fd, (struct sockaddr *)&a->ss, &len);
	return fd;
}

static int setup(void **state)
{
	static struct fixture f;
	struct engine_params p = {
		.mode = &echo_mode,
		.stats = &f.st,
		.max_conns = 8,
		.buf_count = BUF_COUNT,
		.buf_size = BUF_SIZE,
	};
	char note[128];

	memset(&f, 0, sizeof(f));
	memset(&seen, 0, sizeof(seen));
	f.fc = *state;
	if (ring_init(&f.ring, 256, 4, NULL, 0))
		return -1;
	if (engine_create(&f.e, &f.ring, &p, note, sizeof(note)))
		return -1;
	engine_set_now(f.e, mono_ms());
	f.lfd = listener(&f.addr);
	if (f.lfd < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	engine_destroy(f->e);
	ring_exit(&f->ring);
	close(f->lfd);
	return 0;
}

/* One iteration of the loop, as a shard runs it. */
static void turn(struct fixture *f)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	ring_submit_and_wait_timeout(&f->ring, 1, 5 * 1000000ull);
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

static bool all_released(struct fixture *f)
{
	for (int s = 0; s < TCP_STATE_COUNT; s++)
		if (f->st.by_state[s])
			return false;
	return true;
}

/* Pumps until accepted reaches n or ms pass. */
static bool wait_accepted(struct fixture *f, int n, int ms)
{
	uint64_t end = mono_ms() + (uint64_t)ms;

	while (seen.accepted < n && mono_ms() < end)
		turn(f);
	return seen.accepted >= n;
}

/* A client of the engine's listener, non-blocking once connected. */
static int client(struct fixture *f)
{
	int x = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(x >= 0);
	assert_int_equal(connect(x, (struct sockaddr *)&f->addr.ss, f->addr.len), 0);
	fcntl(x, F_SETFL, O_NONBLOCK);
	return x;
}

/* len bytes of a pattern out through x and back, every byte checked. */
static bool echo_ok(struct fixture *f, int x, size_t len, uint8_t seed)
{
	static uint8_t out[65536], in[65536];
	size_t sent = 0, got = 0;
	uint64_t end = mono_ms() + 3000;

	assert_true(len <= sizeof(out));
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(seed + i * 7);
	while (got < len && mono_ms() < end) {
		ssize_t n;

		if (sent < len && (n = send(x, out + sent, len - sent, MSG_NOSIGNAL)) > 0)
			sent += (size_t)n;
		turn(f);
		while (got < len && (n = recv(x, in + got, len - got, 0)) > 0)
			got += (size_t)n;
		if (n == 0)
			break;
	}
	return got == len && !memcmp(in, out, len);
}

/* The peer of a connection the engine ended sees its end: EOF or a reset. */
static bool peer_sees_end(struct fixture *f, int x)
{
	uint64_t end = mono_ms() + 3000;
	char buf[4096];

	while (mono_ms() < end) {
		ssize_t n = recv(x, buf, sizeof(buf), 0);

		if (n == 0 || (n < 0 && errno != EAGAIN))
			return true;
		turn(f);
	}
	return false;
}

/* The invariants every case ends on, after its connections are closed. */
static void check_clean(struct fixture *f, const struct fcase *fc)
{
	uint64_t end = mono_ms() + 3000;

	while (!all_released(f) && mono_ms() < end)
		turn(f);
	for (int i = 0; i < 5; i++)
		turn(f); /* anything still on its way would show up as stale */
	assert_true(all_released(f));
	assert_int_equal(f->st.illegal, 0);
	assert_int_equal(f->st.stale, 0);
	assert_int_equal(engine_buffers_held(f->e), 0);
	assert_int_equal(f->st.closed, (uint64_t)seen.closed_calls);
	assert_int_equal(fault_injected(&f->ring, fc->group), 1);
}

/* Released exactly once, and (when it failed) in CLOSED: a reset's end. */
static void released_once(struct fixture *f, struct conn_ref ref, int closes_before, bool failed)
{
	assert_null(engine_conn(f->e, ref));
	assert_int_equal(seen.closed_by_slot[ref.slot] - closes_before, 1);
	if (failed)
		assert_int_equal(seen.closed_state[ref.slot], TCPS_CLOSED);
}

static void close_client(struct fixture *f, int x)
{
	close(x);
	for (int i = 0; i < 3; i++)
		turn(f);
}

/* ---- the cases -------------------------------------------------------------------------- */

/* The accept: armed with the fault, so the listener backs off; nobody's connection is lost. */
static void at_accept(struct fixture *f, const struct fcase *fc)
{
	int b, a;

	fault_force(&f->ring, fc->group, fc->err);
	engine_listen(f->e, f->lfd);
	b = client(f); /* waits in the backlog until the tick arms the accept again */
	assert_true(wait_accepted(f, 1, 3000));
	if (fc->group == FAULT_ACCEPT)
		assert_int_equal(f->st.accept_errors, 1);
	assert_true(echo_ok(f, b, 100, 1));
	a = client(f);
	assert_true(wait_accepted(f, 2, 3000));
	assert_true(echo_ok(f, a, 100, 2));
	assert_true(echo_ok(f, b, 100, 3));
	close_client(f, a);
	close_client(f, b);
	check_clean(f, fc);
}

/* The multishot accept fails while running: the connection it just gave stays, the next waits. */
static void at_accept_mid(struct fixture *f, const struct fcase *fc)
{
	int b, a, c;

	engine_listen(f->e, f->lfd);
	b = client(f);
	assert_true(wait_accepted(f, 1, 3000));
	fault_force(&f->ring, fc->group, fc->err);
	a = client(f);
	assert_true(wait_accepted(f, 2, 3000));
	c = client(f);
	assert_true(wait_accepted(f, 3, 3000));
	assert_int_equal(f->st.accept_errors, 1);
	assert_true(echo_ok(f, a, 100, 1));
	assert_true(echo_ok(f, b, 100, 2));
	assert_true(echo_ok(f, c, 100, 3));
	close_client(f, a);
	close_client(f, b);
	close_client(f, c);
	check_clean(f, fc);
}

/* An outbound connection fails: the mode hears the error, the slot goes once. */
static void at_connect(struct fixture *f, const struct fcase *fc)
{
	struct net_addr up;
	int ulfd = listener(&up), b, err = 0;
	struct conn *c;
	uint64_t end;

	assert_true(ulfd >= 0);
	engine_listen(f->e, f->lfd);
	b = client(f);
	assert_true(wait_accepted(f, 1, 3000));
	assert_true(echo_ok(f, b, 100, 1));
	fault_force(&f->ring, fc->group, fc->err);
	c = engine_connect(f->e, &up, 2000, &err);
	if (!c) {
		/* No SQE for the socket: refused at once, nothing kept. */
		assert_int_equal(err, fc->err);
	} else {
		struct conn_ref ref = engine_ref(f->e, c);

		end = mono_ms() + 3000;
		while (!seen.connected_calls && mono_ms() < end)
			turn(f);
		assert_int_equal(seen.connected_calls, 1);
		assert_int_equal(seen.connected_res, fc->err);
		assert_int_equal(f->st.connect_failures, 1);
		end = mono_ms() + 3000;
		while (engine_conn(f->e, ref) && mono_ms() < end)
			turn(f);
		released_once(f, ref, 0, true);
	}
	assert_int_equal(f->st.connects_out, 0);
	assert_true(echo_ok(f, b, 100, 2));
	close_client(f, b);
	check_clean(f, fc);
	close(ulfd);
}

/*
 * The faults on an accepted connection A beside a bystander B: the receive
 * armed at accept, a running one, the echo's send, our FIN, the close, the
 * cancel at close, an early submit.
 */
static void on_accepted(struct fixture *f, const struct fcase *fc)
{
	size_t len = 100; /* one receive buffer: the echo is one send(), which can go short */
	struct conn_ref ref;
	int b, a, closes;
	struct conn *c;

	engine_listen(f->e, f->lfd);
	b = client(f);
	assert_true(wait_accepted(f, 1, 3000));
	assert_true(echo_ok(f, b, 100, 1));
	if (fc->point == P_FIRST_RECV)
		fault_force(&f->ring, fc->group, fc->err);
	a = client(f);
	assert_true(wait_accepted(f, 2, 3000));
	ref = seen.acc[1];
	closes = seen.closed_by_slot[ref.slot];
	if (fc->point == P_MID_RECV || fc->point == P_SEND || fc->point == P_SQ_FULL)
		fault_force(&f->ring, fc->group, fc->err);
	switch (fc->point) {
	case P_FIRST_RECV:
	case P_MID_RECV:
	case P_SEND:
	case P_SQ_FULL:
		if (fc->survives) {
			assert_true(echo_ok(f, a, len, 2));
			assert_true(echo_ok(f, a, len, 3));
			if (fc->group == FAULT_RECV || fc->group == FAULT_RECV_MID)
				assert_int_equal(f->st.enobufs, 1);
			/* A short send: echo_ok() saw every byte, so the rest was sent on. */
			if (fc->group == FAULT_SQ_FULL)
				assert_true(f->ring.early_submits >= 1);
			close_client(f, a);
			break;
		}
		echo_ok(f, a, len, 2); /* the fault comes on its way: no promise on the bytes */
		assert_true(peer_sees_end(f, a));
		released_once(f, ref, closes, true);
		close_client(f, a);
		break;
	case P_SHUTDOWN:
		assert_true(echo_ok(f, a, len, 2));
		fault_force(&f->ring, fc->group, fc->err);
		c = engine_conn(f->e, ref);
		assert_non_null(c);
		engine_shutdown(f->e, c);
		assert_true(peer_sees_end(f, a));
		close_client(f, a);
		released_once(f, ref, closes, true);
		break;
	case P_CLOSE:
	case P_CANCEL:
		assert_true(echo_ok(f, a, len, 2));
		fault_force(&f->ring, fc->group, fc->err);
		c = engine_conn(f->e, ref);
		assert_non_null(c);
		engine_close(f->e, c, ENGINE_CLOSE_NOW);
		assert_true(peer_sees_end(f, a));
		close_client(f, a);
		released_once(f, ref, closes, false);
		break;
	default:
		fail();
	}
	/* The bystander never noticed. */
	assert_non_null(engine_conn(f->e, seen.acc[0]));
	assert_true(echo_ok(f, b, 3000, 4));
	close_client(f, b);
	check_clean(f, fc);
}

static void run_case(void **state)
{
	struct fixture *f = *state;

	switch (f->fc->point) {
	case P_ACCEPT:
		at_accept(f, f->fc);
		break;
	case P_ACCEPT_MID:
		at_accept_mid(f, f->fc);
		break;
	case P_CONNECT:
		at_connect(f, f->fc);
		break;
	default:
		on_accepted(f, f->fc);
		break;
	}
}

#define CASE(name, pt, g, e, surv) static const struct fcase name##_case = {pt, g, e, surv}
#define T(name)                                                        \
	{                                                              \
#name, run_case, setup, teardown, (void *)&name##_case \
	}

CASE(accept_emfile, P_ACCEPT, FAULT_ACCEPT, -EMFILE, true);
CASE(accept_enfile, P_ACCEPT, FAULT_ACCEPT, -ENFILE, true);
CASE(accept_enomem, P_ACCEPT, FAULT_ACCEPT, -ENOMEM, true);
CASE(accept_no_sqe, P_ACCEPT, FAULT_SQE_BUSY, -EBUSY, true);
CASE(accept_mid_emfile, P_ACCEPT_MID, FAULT_ACCEPT_MID, -EMFILE, true);
CASE(accept_mid_enfile, P_ACCEPT_MID, FAULT_ACCEPT_MID, -ENFILE, true);
CASE(accept_mid_enomem, P_ACCEPT_MID, FAULT_ACCEPT_MID, -ENOMEM, true);
CASE(connect_refused, P_CONNECT, FAULT_CONNECT, -ECONNREFUSED, false);
CASE(connect_timedout, P_CONNECT, FAULT_CONNECT, -ETIMEDOUT, false);
CASE(connect_addrnotavail, P_CONNECT, FAULT_CONNECT, -EADDRNOTAVAIL, false);
CASE(connect_socket_emfile, P_CONNECT, FAULT_SOCKET, -EMFILE, false);
CASE(connect_no_sqe, P_CONNECT, FAULT_SQE_BUSY, -EBUSY, false);
CASE(first_recv_reset, P_FIRST_RECV, FAULT_RECV, -ECONNRESET, false);
CASE(first_recv_timedout, P_FIRST_RECV, FAULT_RECV, -ETIMEDOUT, false);
CASE(first_recv_nobufs, P_FIRST_RECV, FAULT_RECV, -ENOBUFS, true);
CASE(first_recv_no_sqe, P_FIRST_RECV, FAULT_SQE_BUSY, -EBUSY, false);
CASE(mid_recv_reset, P_MID_RECV, FAULT_RECV_MID, -ECONNRESET, false);
CASE(mid_recv_timedout, P_MID_RECV, FAULT_RECV_MID, -ETIMEDOUT, false);
CASE(mid_recv_nobufs, P_MID_RECV, FAULT_RECV_MID, -ENOBUFS, true);
CASE(send_epipe, P_SEND, FAULT_SEND, -EPIPE, false);
CASE(send_reset, P_SEND, FAULT_SEND, -ECONNRESET, false);
CASE(send_short, P_SEND, FAULT_SEND_SHORT, 1, true);
CASE(send_no_sqe, P_SEND, FAULT_SQE_BUSY, -EBUSY, false);
CASE(shutdown_enotconn, P_SHUTDOWN, FAULT_SHUTDOWN, -ENOTCONN, false);
CASE(shutdown_no_sqe, P_SHUTDOWN, FAULT_SQE_BUSY, -EBUSY, false);
CASE(close_eio, P_CLOSE, FAULT_CLOSE, -EIO, false);
CASE(close_eintr, P_CLOSE, FAULT_CLOSE, -EINTR, false);
CASE(cancel_late, P_CANCEL, FAULT_CANCEL_LATE, 1, false);
CASE(sq_full, P_SQ_FULL, FAULT_SQ_FULL, 1, true);

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(accept_emfile),
		T(accept_enfile),
		T(accept_enomem),
		T(accept_no_sqe),
		T(accept_mid_emfile),
		T(accept_mid_enfile),
		T(accept_mid_enomem),
		T(connect_refused),
		T(connect_timedout),
		T(connect_addrnotavail),
		T(connect_socket_emfile),
		T(connect_no_sqe),
		T(first_recv_reset),
		T(first_recv_timedout),
		T(first_recv_nobufs),
		T(first_recv_no_sqe),
		T(mid_recv_reset),
		T(mid_recv_timedout),
		T(mid_recv_nobufs),
		T(send_epipe),
		T(send_reset),
		T(send_short),
		T(send_no_sqe),
		T(shutdown_enotconn),
		T(shutdown_no_sqe),
		T(close_eio),
		T(close_eintr),
		T(cancel_late),
		T(sq_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

static void not_built(void **state)
{
	print_message("fault injection is not built in: meson setup -Dfault_injection=true\n");
	skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(not_built),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
