// SPDX-License-Identifier: MIT
/*
 * Integration tests of `ringer --mode echo`: each test starts the real
 * binary on 127.0.0.1 (or ::1) with an ephemeral port, talks to it over
 * loopback with deadlines, and stops it by PID.
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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define START_MS 5000
#define STOP_MS	 8000

static struct proc srv;

/* Starts ringer with the given extra flags (NULL-terminated). */
static void start_ringer(const char *listen, ...)
{
	char *argv[32];
	int n = 0;
	va_list ap;
	const char *a;

	argv[n++] = (char *)harness_bin("RINGER_BIN");
	argv[n++] = "--listen";
	argv[n++] = (char *)(listen ? listen : "127.0.0.1:0");
	va_start(ap, listen);
	while ((a = va_arg(ap, const char *)) && n < 30)
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	assert_int_equal(proc_start(&srv, argv, true, START_MS), 0);
}

/* SIGTERM, then the exit check: status 0, no illegal transition, no stale completion. */
static int stop_ringer(void)
{
	return ringer_stop(&srv, SIGTERM, STOP_MS, 0);
}

static int teardown(void **state)
{
	(void)state;
	if (srv.pid > 0)
		proc_stop(&srv, SIGKILL, 2000);
	return 0;
}

static void echo_size(size_t size)
{
	uint64_t bad = 0;
	int fd;

	start_ringer(NULL, "--shards", "1", NULL);
	fd = tcp_connect("127.0.0.1", srv.port);
	assert_true(fd >= 0);
	assert_int_equal(echo_stream(fd, size, 65536, 30000, &bad), 0);
	close(fd);
	assert_int_equal(stop_ringer(), 0);
}

static void echo_1_byte(void **state)
{
	(void)state;
	echo_size(1);
}

static void echo_4_kib(void **state)
{
	(void)state;
	echo_size(4096);
}

static void echo_1_mib(void **state)
{
	(void)state;
	echo_size(1 << 20);
}

/* A 256 MiB stream through small buffers: many buffers, pauses, resumes, all byte-exact. */
static void echo_stream_256_mib(void **state)
{
	uint64_t bad = 0;
	int fd, ret;

	(void)state;
	start_ringer(NULL, "--shards", "1", "--buf-size", "4096", "--buf-count", "256", NULL);
	fd = tcp_connect("127.0.0.1", srv.port);
	assert_true(fd >= 0);
	ret = echo_stream(fd, 256ull << 20, 1 << 16, 60000, &bad);
	if (ret == -EILSEQ)
		fail_msg("mismatch at byte %llu", (unsigned long long)bad);
	assert_int_equal(ret, 0);
	close(fd);
	assert_int_equal(stop_ringer(), 0);
}

/* 1,000 connections open at once, each echoing its own message. */
static void thousand_connections(void **state)
{
	enum { N = 1000 };
	static int fds[N];
	char msg[64], back[64];

	(void)state;
	raise_nofile(4096);
	start_ringer(NULL, "--shards", "2", NULL);
	for (int i = 0; i < N; i++) {
		fds[i] = tcp_connect("127.0.0.1", srv.port);
		assert_true(fds[i] >= 0);
	}
	for (int i = 0; i < N; i++) {
		snprintf(msg, sizeof(msg), "connection %04d says hello", i);
		assert_int_equal(send_all(fds[i], msg, sizeof(msg), 5000), 0);
	}
	for (int i = 0; i < N; i++) {
		snprintf(msg, sizeof(msg), "connection %04d says hello", i);
		assert_int_equal(recv_all(fds[i], back, sizeof(back), 10000), 0);
		assert_memory_equal(msg, back, sizeof(msg));
	}
	for (int i = 0; i < N; i++)
		close(fds[i]);
	assert_int_equal(stop_ringer(), 0);
}

/* The peer's half-close: everything sent is echoed, then the server closes (EOF). */
static void half_close(void **state)
{
	enum { LEN = 3 << 20 };
	char *buf = malloc(LEN), *back = malloc(LEN);
	size_t extra = 0;
	int fd;

	(void)state;
	assert_non_null(buf);
	assert_non_null(back);
	for (size_t i = 0; i < LEN; i++)
		buf[i] = (char)pattern_byte(42, i);
	start_ringer(NULL, "--shards", "1", NULL);
	fd = tcp_connect("127.0.0.1", srv.port);
	assert_true(fd >= 0);
	/* Send in pieces and read as we go: a client that never reads would block both sides. */
	for (size_t off = 0; off < LEN; off += 1 << 20) {
		assert_int_equal(send_all(fd, buf + off, 1 << 20, 10000), 0);
		assert_int_equal(recv_all(fd, back + off, 1 << 20, 10000), 0);
	}
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	assert_int_equal(wait_eof(fd, 5000, &extra), 0);
	assert_int_equal(extra, 0);
	assert_memory_equal(buf, back, LEN);
	close(fd);
	free(buf);
	free(back);
	assert_int_equal(stop_ringer(), 0);
}

/* A reset in the middle of a stream closes that connection only. */
static void reset_mid_stream(void **state)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	char *junk = calloc(1, 1 << 20);
	uint64_t bad;
	int a, b;

	(void)state;
	start_ringer(NULL, "--shards", "1", NULL);
	b = tcp_connect("127.0.0.1", srv.port);
	assert_true(b >= 0);
	for (int round = 0; round < 20; round++) {
		a = tcp_connect("127.0.0.1", srv.port);
		assert_true(a >= 0);
		/* Whatever fits; the server is echoing into a socket nobody reads. */
		send(a, junk, 1 << 20, MSG_DONTWAIT | MSG_NOSIGNAL);
		usleep(2000);
		setsockopt(a, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(a); /* RST */
		assert_int_equal(echo_stream(b, 4096, 4096, 5000, &bad), 0);
	}
	close(b);
	free(junk);
	assert_int_equal(stop_ringer(), 0);
	/* Each of the 20 resets is counted once; b's clean close is not a reset. */
	assert_int_equal(proc_final_stat(&srv, "resets"), 20);
}

/*
 * A peer that sends and never reads: ringer stops receiving once it holds a
 * few buffers, so its memory stays flat while the client's sends stall.
 * Reading afterwards gets every byte back, in order.
 */
static void slow_reader_backpressure(void **state)
{
	uint64_t pushed = 0, checked = 0;
	char buf[65536];
	long rss0, rss1;
	int64_t deadline;
	int fd, conns[8];

	(void)state;
	/* A 4 MiB buffer pool: the clients below push far more than that. */
	start_ringer(NULL, "--shards", "1", "--buf-size", "16k", "--buf-count", "256", NULL);
	usleep(100000);
	rss0 = proc_rss_kib(srv.pid);
	for (int k = 0; k < 8; k++) {
		conns[k] = tcp_connect("127.0.0.1", srv.port);
		assert_true(conns[k] >= 0);
	}
	fd = conns[0];
	/* Push for up to 2 s or until the kernel stops taking data on every connection. */
	deadline = now_ms() + 2000;
	for (int k = 0; k < 8; k++) {
		uint64_t mine = 0;

		while (now_ms() < deadline) {
			for (size_t i = 0; i < sizeof(buf); i++)
				buf[i] = (char)pattern_byte(k, mine + i);
			ssize_t n = send(conns[k], buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);

			if (n < 0) {
				assert_int_equal(errno, EAGAIN);
				usleep(20000);
				n = send(conns[k], buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
				if (n < 0)
					break;
			}
			mine += (uint64_t)n;
			if (n < (ssize_t)sizeof(buf))
				break;
		}
		if (k == 0)
			pushed = mine;
	}
	usleep(200000);
	rss1 = proc_rss_kib(srv.pid);
	print_message(
		"slow reader: client pushed %llu bytes on conn 0, server RSS %ld -> %ld KiB\n",
		(unsigned long long)pushed, rss0, rss1);
	/*
	 * The kernel's socket buffers hold most of it. ringer's own memory can
	 * grow by at most its buffer pool (every buffer touched once), however
	 * much the clients push.
	 */
	assert_true(pushed > (4ull << 20));
	assert_true(rss1 - rss0 < 4 * 1024 + 2048);
	/* Now read conn 0 back: every byte, in order. */
	while (checked < pushed) {
		size_t want =
			pushed - checked < sizeof(buf) ? (size_t)(pushed - checked) : sizeof(buf);

		assert_int_equal(recv_all(fd, buf, want, 10000), 0);
		for (size_t i = 0; i < want; i++)
			if ((uint8_t)buf[i] != pattern_byte(0, checked + i))
				fail_msg("mismatch at %llu", (unsigned long long)(checked + i));
		checked += want;
	}
	for (int k = 0; k < 8; k++)
		close(conns[k]);
	assert_int_equal(stop_ringer(), 0);
}

/* At --max-conns, a new connection is accepted and closed; the others keep working. */
static void max_conns_refusal(void **state)
{
	int fds[4], extra;
	uint64_t bad;
	char c;

	(void)state;
	start_ringer(NULL, "--shards", "1", "--max-conns", "4", NULL);
	for (int i = 0; i < 4; i++) {
		fds[i] = tcp_connect("127.0.0.1", srv.port);
		assert_true(fds[i] >= 0);
		assert_int_equal(echo_stream(fds[i], 100, 100, 5000, &bad), 0);
	}
	extra = tcp_connect("127.0.0.1", srv.port);
	assert_true(extra >= 0);
	/* The refused connection ends (EOF or reset) without an echo. */
	send(extra, "x", 1, MSG_NOSIGNAL);
	assert_true(recv_all(extra, &c, 1, 5000) < 0);
	close(extra);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(echo_stream(fds[i], 10000, 4096, 5000, &bad), 0);
		close(fds[i]);
	}
	assert_int_equal(stop_ringer(), 0);
	assert_non_null(strstr(srv.out, "refused"));
	{
		const char *r = strstr(srv.out, "refused");
		unsigned long long n = 0;

		sscanf(r, "refused %llu", &n);
		assert_true(n >= 1);
	}
}

/* SIGTERM with connections open: clients see EOF, exit status 0, stats printed. */
static void graceful_stop(void **state)
{
	int fds[10];
	uint64_t bad;
	int status;

	(void)state;
	start_ringer(NULL, "--shards", "2", "--drain-timeout", "3000", NULL);
	for (int i = 0; i < 10; i++) {
		fds[i] = tcp_connect("127.0.0.1", srv.port);
		assert_true(fds[i] >= 0);
		assert_int_equal(echo_stream(fds[i], 1000, 1000, 5000, &bad), 0);
	}
	kill(srv.pid, SIGTERM);
	for (int i = 0; i < 10; i++) {
		size_t extra;

		assert_int_equal(wait_eof(fds[i], 5000, &extra), 0);
		close(fds[i]);
	}
	status = proc_wait(&srv, STOP_MS);
	/* Exit 0, and the final dump's illegal and stale figures are 0. */
	assert_int_equal(ringer_exit_check(&srv, status, 0, 0), 0);
	assert_non_null(strstr(srv.out, "ESTABLISHED=0"));
}

/*
 * A graceful stop loses nothing silently. Clients stream into ringer without
 * reading, until backpressure leaves their bytes in ringer's kernel receive
 * queue (acknowledged, not yet read); then SIGTERM, and the clients read:
 * each must get back every byte it sent and then EOF, or a reset. Getting
 * fewer bytes and a clean EOF is the failure.
 */
static void drain_echoes_everything_acknowledged(void **state)
{
	enum { CLIENTS = 4, CAP = 8 << 20 };
	static char chunk[65536];
	static char in[65536];
	int fds[CLIENTS];
	size_t sent[CLIENTS] = {0};

	(void)state;
	start_ringer(NULL, "--shards", "1", "--drain-timeout", "5000", NULL);
	for (int i = 0; i < CLIENTS; i++) {
		int64_t end = now_ms() + 3000;

		fds[i] = tcp_connect("127.0.0.1", srv.port);
		assert_true(fds[i] >= 0);
		fcntl(fds[i], F_SETFL, O_NONBLOCK);
		/* Until the send side is stuck for 100 ms: ringer stopped reading. */
		while (sent[i] < CAP && now_ms() < end) {
			ssize_t n = send(fds[i], chunk, sizeof(chunk), MSG_NOSIGNAL);

			if (n > 0) {
				sent[i] += (size_t)n;
				continue;
			}
			struct pollfd pfd = {.fd = fds[i], .events = POLLOUT};

			if (poll(&pfd, 1, 100) == 0)
				break;
		}
		assert_true(sent[i] > 0);
	}
	kill(srv.pid, SIGTERM);
	for (int i = 0; i < CLIENTS; i++) {
		size_t got = 0;
		int64_t end = now_ms() + 10000;
		int err = 0;

		for (;;) {
			struct pollfd pfd = {.fd = fds[i], .events = POLLIN};
			ssize_t n;

			assert_true(now_ms() < end);
			if (poll(&pfd, 1, 1000) != 1)
				continue;
			n = recv(fds[i], in, sizeof(in), 0);
			if (n > 0) {
				got += (size_t)n;
				continue;
			}
			if (n < 0 && errno == EAGAIN)
				continue;
			err = n < 0 ? errno : 0;
			break;
		}
		if (err != ECONNRESET && got != sent[i])
			fail_msg("client %d sent %zu bytes, got %zu back and then %s", i, sent[i],
				 got, err ? strerror(err) : "a clean EOF");
		close(fds[i]);
	}
	assert_int_equal(ringer_exit_check(&srv, proc_wait(&srv, STOP_MS), 0, 0), 0);
}

/*
 * A peer that sends and never reads stalls ringer's send to it, and its
 * queued buffers are held for nothing: --send-timeout resets it (counted),
 * even with no --idle-timeout, while an idle well-behaved peer stays.
 */
static void send_timeout_resets_stalled_peer(void **state)
{
	static char chunk[65536];
	int fd, calm, err = 0;
	size_t sent = 0;
	uint64_t bad;
	int64_t end;

	(void)state;
	start_ringer(NULL, "--shards", "1", "--send-timeout", "500", NULL);
	calm = tcp_connect("127.0.0.1", srv.port);
	assert_true(calm >= 0);
	fd = tcp_connect("127.0.0.1", srv.port);
	assert_true(fd >= 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	end = now_ms() + 8000;
	while (now_ms() < end) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		ssize_t n = send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL);

		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN) {
			err = errno;
			break;
		}
		poll(&pfd, 1, 100);
		if (pfd.revents & (POLLERR | POLLHUP)) {
			socklen_t len = sizeof(err);

			getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
			break;
		}
	}
	assert_true(sent > 0);
	if (err != ECONNRESET && err != EPIPE)
		fail_msg("the stalled peer was not reset within 8 s (error %d, %zu bytes sent)",
			 err, sent);
	close(fd);
	/* The calm connection is still served. */
	assert_int_equal(echo_stream(calm, 1000, 1000, 2000, &bad), 0);
	close(calm);
	assert_int_equal(proc_stat(&srv, "send_timeouts"), 1);
	assert_int_equal(stop_ringer(), 0);
}

/*
 * Peers that send and never read, on a pool of 256 receive buffers: each
 * one's echo stalls with buffers queued. They must not hold the whole pool;
 * a client that arrives afterwards is served at once, and a stream of its
 * own keeps moving. Returns the peers' count of starved resets.
 */
static long long stalled_peers(int npeers)
{
	static char chunk[65536];
	int *peers = calloc((size_t)npeers, sizeof(int)), fd;
	size_t sent = 0;
	uint64_t bad = 0;
	int64_t end, t0;
	long long resets;
	bool moved = true;

	assert_non_null(peers);
	start_ringer(NULL, "--shards", "1", "--buf-count", "256", NULL);
	for (int i = 0; i < npeers; i++) {
		peers[i] = tcp_connect("127.0.0.1", srv.port);
		assert_true(peers[i] >= 0);
		fcntl(peers[i], F_SETFL, O_NONBLOCK);
	}
	/* Fill every path until no peer can send any more (both directions full). */
	end = now_ms() + 15000;
	while (moved && now_ms() < end) {
		moved = false;
		for (int i = 0; i < npeers; i++) {
			ssize_t n = send(peers[i], chunk, sizeof(chunk), MSG_NOSIGNAL);

			if (n > 0) {
				sent += (size_t)n;
				moved = true;
			}
		}
		if (!moved) {
			usleep(300 *
			       1000); /* let the server take what is in flight, then try again */
			for (int i = 0; i < npeers && !moved; i++)
				moved = send(peers[i], chunk, sizeof(chunk), MSG_NOSIGNAL) > 0;
		}
	}
	assert_false(moved);
	t0 = now_ms();
	fd = tcp_connect("127.0.0.1", srv.port);
	assert_true(fd >= 0);
	if (echo_stream(fd, 4096, 4096, 3000, &bad) != 0)
		fail_msg("a fresh client was not served within 3 s behind %d stalled peers",
			 npeers);
	assert_int_equal(echo_stream(fd, 4 << 20, 65536, 5000, &bad), 0);
	close(fd);
	printf("# %d stalled peers (%zu MiB in): a fresh client's 4 MiB echoed in %lld ms\n",
	       npeers, sent >> 20, (long long)(now_ms() - t0));
	resets = proc_stat(&srv, "starved_resets");
	for (int i = 0; i < npeers; i++)
		close(peers[i]);
	free(peers);
	assert_int_equal(stop_ringer(), 0);
	return resets;
}

/* 64 such peers: the reserve alone keeps the pool open; nobody is reset. */
static void stalled_peers_leave_a_reserve(void **state)
{
	(void)state;
	assert_int_equal(stalled_peers(64), 0);
}

/*
 * 400 such peers hold more than the whole pool at one buffer each: while it
 * runs dry, the ones whose send has not moved for a second are reset.
 */
static void stalled_peers_reset_when_pool_runs_dry(void **state)
{
	(void)state;
	assert_true(stalled_peers(400) > 0);
}

/*
 * With recv bundles (kernel 6.10+) one completion carries several buffers,
 * named by the first; the rest are found through the buffer ring's order.
 * A stream echoed that way comes back byte for byte.
 */
static void recv_bundle_echo(void **state)
{
	uint64_t bad = 0;
	int fd;

	(void)state;
	start_ringer(NULL, "--shards", "1", "--recv-bundle", "on", NULL);
	fd = tcp_connect("127.0.0.1", srv.port);
	assert_true(fd >= 0);
	assert_int_equal(echo_stream(fd, 64ull << 20, 256 << 10, 30000, &bad), 0);
	close(fd);
	assert_int_equal(stop_ringer(), 0);
	/* Where the kernel has bundles, completions carried more than one 16 KiB buffer on average. */
	if (strstr(srv.err, "recv-bundle")) {
		const char *in = strstr(srv.out, "  bytes_in "),
			   *cq = strstr(srv.out, "  recv_cqes ");
		unsigned long long bytes = 0, cqes = 0;

		assert_non_null(in);
		assert_non_null(cq);
		assert_int_equal(sscanf(in, " bytes_in %llu", &bytes), 1);
		assert_int_equal(sscanf(cq, " recv_cqes %llu", &cqes), 1);
		assert_true(cqes > 0 && bytes / cqes > 16384);
	}
}

/* A peer that keeps a connection open past the drain timeout is cut off; exit is still 0. */
static void drain_timeout_bounds_stop(void **state)
{
	int64_t t0;
	int fd, status;
	char c;

	(void)state;
	start_ringer(NULL, "--shards", "1", "--drain-timeout", "300", NULL);
	fd = tcp_connect("127.0.0.1", srv.port);
	assert_true(fd >= 0);
	/* Accepted and served before the stop: a byte echoed (not a fixed sleep). */
	assert_int_equal(send_all(fd, "x", 1, 2000), 0);
	assert_int_equal(recv_all(fd, &c, 1, 5000), 0);
	t0 = now_ms();
	kill(srv.pid, SIGTERM);
	/* We never close: ringer sends FIN, lingers, then gives up at the deadline. */
	status = proc_wait(&srv, STOP_MS);
	assert_int_equal(ringer_exit_check(&srv, status, 0, 0), 0);
	assert_true(now_ms() - t0 < 3000);
	close(fd);
}

static void ipv6(void **state)
{
	uint64_t bad;
	int fd;

	(void)state;
	fd = ipv6_loopback();
	if (fd) {
		print_message("skip: no IPv6 on loopback here ([::1]: %s)\n", strerror(-fd));
		skip();
	}
	start_ringer("[::1]:0", "--shards", "1", NULL);
	assert_non_null(strstr(srv.out, "listening on [::1]:"));
	fd = tcp_connect("::1", srv.port);
	assert_true(fd >= 0);
	assert_int_equal(echo_stream(fd, 100000, 8192, 5000, &bad), 0);
	close(fd);
	assert_int_equal(stop_ringer(), 0);
}

/*
 * Messages larger than one receive buffer are echoed in several sends. With
 * Nagle on, every second send would wait for the client's delayed ACK
 * (~40 ms); 100 round trips would take seconds. TCP_NODELAY, inherited from
 * the listener, keeps them in the low milliseconds.
 */
static void no_nagle_stall(void **state)
{
	char msg[6000], back[6000];
	int64_t t0, took;
	int fd;

	(void)state;
	start_ringer(NULL, "--shards", "1", "--buf-size", "4096", NULL);
	fd = tcp_connect("127.0.0.1", srv.port);
	assert_true(fd >= 0);
	memset(msg, 'n', sizeof(msg));
	t0 = now_ms();
	for (int i = 0; i < 100; i++) {
		assert_int_equal(send_all(fd, msg, sizeof(msg), 5000), 0);
		assert_int_equal(recv_all(fd, back, sizeof(back), 5000), 0);
	}
	took = now_ms() - t0;
	print_message("100 round trips of 6000 bytes: %lld ms\n", (long long)took);
	assert_true(took < 1000);
	close(fd);
	assert_int_equal(stop_ringer(), 0);
}

/* SIGUSR2 prints live stats with the connections by TCP state. */
static void stats_on_sigusr2(void **state)
{
	int fds[3];
	int64_t deadline;
	uint64_t bad;

	(void)state;
	start_ringer(NULL, "--shards", "1", NULL);
	for (int i = 0; i < 3; i++) {
		fds[i] = tcp_connect("127.0.0.1", srv.port);
		assert_true(fds[i] >= 0);
		assert_int_equal(echo_stream(fds[i], 10, 10, 5000, &bad), 0);
	}
	kill(srv.pid, SIGUSR2);
	deadline = now_ms() + 3000;
	while (now_ms() < deadline && !strstr(srv.out, "cqes_per_loop")) {
		usleep(20000);
		proc_drain(&srv);
	}
	assert_non_null(strstr(srv.out, "ESTABLISHED=3"));
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	assert_int_equal(stop_ringer(), 0);
}

/*
 * A second ringer on a port one already serves must not start and take a
 * share of its connections (every listener sets SO_REUSEPORT); nor on a port
 * another program listens on. The first keeps serving.
 */
static void port_in_use_refused(void **state)
{
	char where[64], *argv[5] = {(char *)harness_bin("RINGER_BIN"), "--listen", where, NULL};
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	uint64_t bad = 0;
	struct proc p;
	int fd, other;

	(void)state;
	start_ringer(NULL, "--shards", "2", NULL);
	snprintf(where, sizeof(where), "127.0.0.1:%d", srv.port);
	assert_int_equal(proc_start(&p, argv, false, 0), 0);
	assert_int_equal(proc_wait(&p, 5000), 1);
	assert_non_null(strstr(p.err, "in use"));
	assert_null(strstr(p.out, "listening"));
	proc_stop(&p, SIGKILL, 100);
	fd = tcp_connect("127.0.0.1", srv.port);
	assert_true(fd >= 0);
	assert_int_equal(echo_stream(fd, 4096, 4096, 5000, &bad), 0);
	close(fd);
	assert_int_equal(stop_ringer(), 0);

	/* A plain listener of another program. */
	other = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(other, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(other, 4), 0);
	getsockname(other, (struct sockaddr *)&a, &alen);
	snprintf(where, sizeof(where), "127.0.0.1:%d", ntohs(a.sin_port));
	assert_int_equal(proc_start(&p, argv, false, 0), 0);
	assert_int_equal(proc_wait(&p, 5000), 1);
	assert_non_null(strstr(p.err, "in use"));
	proc_stop(&p, SIGKILL, 100);
	close(other);
}

/* Bad flags: a message naming the problem on stderr, exit status 2, no listener. */
static void bad_flags_exit_2(void **state)
{
	static const char *const cases[][4] = {
		{"--shards", "0", NULL},
		{"--shards", "many", NULL},
		{"--listen", "nowhere", NULL},
		{"--listen", "127.0.0.1:99999", NULL},
		{"--mode", "ftp", NULL},
		{"--buf-count", "1000", NULL},
		{"--max-conns", NULL},
		{"--frobnicate", NULL},
		{"--body", "x", NULL},
		{"--mode", "proxy", NULL},
		{"--upstream", "127.0.0.1:1", NULL},
		{"--connect-retries", "1", NULL},
		{"--header-timeout", "1000", NULL},
		{"--body-timeout", "1000", NULL},
		{"--body-min-rate", "500", NULL},
		{"--recv-bundle", "maybe", NULL},
		{"--keepalive", "60,10", NULL},
		{"--send-timeout", "soon", NULL},
		{"--ring-entries", "32768", NULL},
		{"stray", NULL},
	};
	const char *bin = harness_bin("RINGER_BIN");

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[6] = {(char *)bin};
		struct proc p;
		int n = 1, status;

		for (int k = 0; cases[i][k]; k++)
			argv[n++] = (char *)cases[i][k];
		argv[n] = NULL;
		assert_int_equal(proc_start(&p, argv, false, 0), 0);
		status = proc_wait(&p, 5000);
		if (status != 2)
			fail_msg("case %zu (%s): exit %d, stderr: %s", i, cases[i][0], status,
				 p.err);
		assert_non_null(strstr(p.err, "ringer: "));
		assert_null(strstr(p.out, "listening"));
		proc_stop(&p, SIGKILL, 100);
	}
}

static void help_and_version(void **state)
{
	char *argv[3] = {(char *)harness_bin("RINGER_BIN"), "--help", NULL};
	struct proc p;

	(void)state;
	assert_int_equal(proc_start(&p, argv, false, 0), 0);
	assert_int_equal(proc_wait(&p, 5000), 0);
	assert_non_null(strstr(p.out, "--max-conns"));
	proc_stop(&p, SIGKILL, 100);
	argv[1] = "--version";
	assert_int_equal(proc_start(&p, argv, false, 0), 0);
	assert_int_equal(proc_wait(&p, 5000), 0);
	assert_non_null(strstr(p.out, "ringer "));
	proc_stop(&p, SIGKILL, 100);
}

/* --idle-timeout: a silent connection gets our FIN; an active one is left alone. */
static void idle_timeout_closes_silent_peers(void **state)
{
	int idle, busy;
	int64_t t0;
	uint64_t bad;
	size_t extra;

	(void)state;
	start_ringer(NULL, "--shards", "1", "--idle-timeout", "300", NULL);
	idle = tcp_connect("127.0.0.1", srv.port);
	busy = tcp_connect("127.0.0.1", srv.port);
	assert_true(idle >= 0 && busy >= 0);
	t0 = now_ms();
	for (int i = 0; i < 10; i++) {
		assert_int_equal(echo_stream(busy, 100, 100, 2000, &bad), 0);
		usleep(100000);
	}
	assert_int_equal(wait_eof(idle, 3000, &extra), 0);
	assert_true(now_ms() - t0 >= 250);
	/* The busy one, active every 100 ms, still echoes. */
	assert_int_equal(echo_stream(busy, 1000, 1000, 2000, &bad), 0);
	close(idle);
	close(busy);
	assert_int_equal(stop_ringer(), 0);
}

/* --admin serves the stats as Prometheus text, connections by TCP state included. */
/* The port of the "admin on ADDR:PORT" line (waits up to 2 s for it). */
static int admin_port_of(struct proc *p)
{
	char line[128];
	const char *at;

	for (int64_t end = now_ms() + 2000; !strstr(p->out, "admin on ") && now_ms() < end;) {
		usleep(10000);
		proc_drain(p);
	}
	at = strstr(p->out, "admin on ");
	assert_non_null(at);
	snprintf(line, sizeof(line), "%.*s", (int)strcspn(at, "\n"), at);
	return atoi(strrchr(line, ':') + 1);
}

static void admin_metrics(void **state)
{
	char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", body[32768];
	int a, b, m, admin_port;
	size_t got = 0;
	uint64_t bad;

	(void)state;
	start_ringer(NULL, "--shards", "2", "--admin", "127.0.0.1:0", NULL);
	admin_port = admin_port_of(&srv);
	a = tcp_connect("127.0.0.1", srv.port);
	b = tcp_connect("127.0.0.1", srv.port);
	assert_int_equal(echo_stream(a, 10, 10, 2000, &bad), 0);
	assert_int_equal(echo_stream(b, 10, 10, 2000, &bad), 0);
	m = tcp_connect("127.0.0.1", admin_port);
	assert_true(m >= 0);
	assert_int_equal(send_all(m, req, sizeof(req) - 1, 2000), 0);
	for (;;) {
		ssize_t n = recv(m, body + got, sizeof(body) - 1 - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	body[got] = 0;
	assert_non_null(strstr(body, "HTTP/1.1 200 OK"));
	assert_non_null(strstr(body, "ringer_connections{state=\"ESTABLISHED\"} 2\n"));
	assert_non_null(strstr(body, "ringer_accepts_total 2\n"));
	close(m);
	close(a);
	close(b);
	assert_int_equal(stop_ringer(), 0);
}

/*
 * Silent admin clients hold nothing up: with six connections to the admin
 * port that never send a byte, /metrics still answers at once, and SIGTERM
 * still stops the server within its drain time.
 */
static void admin_silent_clients_block_nothing(void **state)
{
	char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", body[65536];
	int silent[6], m, admin_port;
	size_t got = 0;
	int64_t t0;

	(void)state;
	start_ringer(NULL, "--shards", "1", "--admin", "127.0.0.1:0", "--drain-timeout", "1000",
		     NULL);
	admin_port = admin_port_of(&srv);
	for (int i = 0; i < 6; i++) {
		silent[i] = tcp_connect("127.0.0.1", admin_port);
		assert_true(silent[i] >= 0);
	}
	usleep(100 * 1000);
	t0 = now_ms();
	m = tcp_connect("127.0.0.1", admin_port);
	assert_true(m >= 0);
	assert_int_equal(send_all(m, req, sizeof(req) - 1, 2000), 0);
	for (;;) {
		struct pollfd pfd = {.fd = m, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 3000) != 1)
			break;
		n = recv(m, body + got, sizeof(body) - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	body[got] = 0;
	assert_non_null(strstr(body, "HTTP/1.1 200 OK"));
	assert_true(now_ms() - t0 < 1000);
	close(m);
	t0 = now_ms();
	assert_int_equal(stop_ringer(), 0);
	assert_true(now_ms() - t0 < 1500);
	for (int i = 0; i < 6; i++)
		close(silent[i]);
}

/*
 * A descriptor limit far below --max-conns: ringer shrinks its connection
 * limit to keep room in the fixed-file table, refuses the excess cleanly
 * (EOF, not a reset) and keeps serving the others.
 */
static void descriptor_limit(void **state)
{
	char *argv[] = {"/usr/bin/prlimit",
			"--nofile=80",
			(char *)harness_bin("RINGER_BIN"),
			"--listen",
			"127.0.0.1:0",
			"--shards",
			"1",
			"--max-conns",
			"1000",
			NULL};
	int fds[20], served = 0, refused = 0;
	int64_t deadline;
	uint64_t bad;
	char c;

	(void)state;
	if (access(argv[0], X_OK)) {
		print_message("skip: %s is not installed (package util-linux)\n", argv[0]);
		skip();
	}
	assert_int_equal(proc_start(&srv, argv, true, START_MS), 0);
	assert_non_null(strstr(srv.err, "(descriptor limit)"));
	/* Said before the shards start, naming the limit and what it leaves. */
	assert_non_null(strstr(srv.err, "ringer: max-conns 8 a shard (not 1000), 8 in all: the "
					"descriptor limit (RLIMIT_NOFILE 80, hard 80)"));
	for (int i = 0; i < 20; i++) {
		fds[i] = tcp_connect("127.0.0.1", srv.port);
		assert_true(fds[i] >= 0);
		usleep(2000);
	}
	for (int i = 0; i < 20; i++) {
		if (echo_stream(fds[i], 64, 64, 1000, &bad) == 0) {
			served++;
		} else {
			assert_int_equal(recv(fds[i], &c, 1, 0), 0); /* EOF: a clean refusal */
			refused++;
		}
	}
	print_message("descriptor limit: %d served, %d refused\n", served, refused);
	assert_int_equal(served, 8);
	assert_int_equal(refused, 12);
	for (int i = 0; i < 20; i++)
		close(fds[i]);
	/*
	 * Room again: new connections are served, once ringer has seen the old
	 * ones close. A connection it still refuses (EOF) is tried again, for up
	 * to 5 s: a loaded machine may be slow to run ringer's loop.
	 */
	deadline = now_ms() + 5000;
	for (int i = 0; i < 8; i++) {
		fds[i] = tcp_connect("127.0.0.1", srv.port);
		while (echo_stream(fds[i], 1000, 1000, 2000, &bad) && now_ms() < deadline) {
			close(fds[i]);
			usleep(20000);
			fds[i] = tcp_connect("127.0.0.1", srv.port);
		}
		assert_int_equal(echo_stream(fds[i], 1000, 1000, 2000, &bad), 0);
	}
	for (int i = 0; i < 8; i++)
		close(fds[i]);
	assert_int_equal(stop_ringer(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(echo_1_byte, teardown),
		cmocka_unit_test_teardown(echo_4_kib, teardown),
		cmocka_unit_test_teardown(echo_1_mib, teardown),
		cmocka_unit_test_teardown(echo_stream_256_mib, teardown),
		cmocka_unit_test_teardown(thousand_connections, teardown),
		cmocka_unit_test_teardown(half_close, teardown),
		cmocka_unit_test_teardown(reset_mid_stream, teardown),
		cmocka_unit_test_teardown(slow_reader_backpressure, teardown),
		cmocka_unit_test_teardown(max_conns_refusal, teardown),
		cmocka_unit_test_teardown(graceful_stop, teardown),
		cmocka_unit_test_teardown(drain_timeout_bounds_stop, teardown),
		cmocka_unit_test_teardown(ipv6, teardown),
		cmocka_unit_test_teardown(no_nagle_stall, teardown),
		cmocka_unit_test_teardown(stats_on_sigusr2, teardown),
		cmocka_unit_test_teardown(idle_timeout_closes_silent_peers, teardown),
		cmocka_unit_test_teardown(drain_echoes_everything_acknowledged, teardown),
		cmocka_unit_test_teardown(send_timeout_resets_stalled_peer, teardown),
		cmocka_unit_test_teardown(stalled_peers_leave_a_reserve, teardown),
		cmocka_unit_test_teardown(stalled_peers_reset_when_pool_runs_dry, teardown),
		cmocka_unit_test_teardown(recv_bundle_echo, teardown),
		cmocka_unit_test_teardown(admin_metrics, teardown),
		cmocka_unit_test_teardown(admin_silent_clients_block_nothing, teardown),
		cmocka_unit_test_teardown(descriptor_limit, teardown),
		cmocka_unit_test_teardown(port_in_use_refused, teardown),
		cmocka_unit_test(bad_flags_exit_2),
		cmocka_unit_test(help_and_version),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("echo", tests, NULL, NULL);
}
