// SPDX-License-Identifier: MIT
/*
 * Integration tests of `ringer --mode proxy`: each test starts the real
 * proxy on 127.0.0.1 with an ephemeral port, in front of upstreams it also
 * starts, talks to it over loopback with deadlines, and stops everything by PID.
 *
 * Upstreams are of two kinds:
 *  - a second ringer (`--mode echo --shards 1`) where only bytes matter;
 *  - small servers forked from this process (struct upstream) where a test
 *    must know which upstream a session reached or how an upstream behaved.
 *    Each sends a one-byte tag on accept and then echoes ("tag echo"); a
 *    scripted kind (enum up_kind) treats its first connection differently
 *    and reports what it saw through a shared page (struct up_shared).
 *
 * Directions have their own test patterns: C2U_SEED for client -> upstream
 * bytes, U2C_SEED for upstream -> client bytes, both checked byte by byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define START_MS 5000
#define STOP_MS	 8000
#define C2U_SEED 0xc2u
#define U2C_SEED 0x2cu

#define REPLY_LEN (1u << 20)   /* UP_REPLY_AFTER_EOF's reply */
#define GREET_LEN (256u << 10) /* UP_GREET_HALF_CLOSE's greeting */
#define RESET_LEN (64u << 10)  /* UP_RESET_MID sends this, then resets */
#define FLOOD_LEN (64ull << 20)
/* The proxy's receive buffer pool in the backpressure tests: 16 KiB x 256 = 4 MiB. */
#define POOL_KIB      (4 * 1024)
#define RSS_SLACK_KIB (4 * 1024)

/* ---- a command line built piece by piece ---- */

struct args {
	char *v[192];
	int n;
	char store[12288];
	size_t used;
};

static void arg(struct args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void arg(struct args *a, const char *fmt, ...)
{
	size_t room = sizeof(a->store) - a->used;
	va_list ap;
	int n;

	assert_true(a->n + 1 < (int)(sizeof(a->v) / sizeof(a->v[0])));
	va_start(ap, fmt);
	n = vsnprintf(a->store + a->used, room, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < room);
	a->v[a->n++] = a->store + a->used;
	a->v[a->n] = NULL;
	a->used += (size_t)n + 1;
}

/* ringer --mode proxy --listen LISTEN --admin 127.0.0.1:0; the test adds the rest. */
static void proxy_args_on(struct args *a, const char *listen)
{
	memset(a, 0, sizeof(*a));
	arg(a, "%s", harness_bin("RINGER_BIN"));
	arg(a, "--mode");
	arg(a, "proxy");
	arg(a, "--listen");
	arg(a, "%s", listen);
	arg(a, "--admin");
	arg(a, "127.0.0.1:0");
}

static void proxy_args(struct args *a)
{
	proxy_args_on(a, "127.0.0.1:0");
}

static void arg_upstream(struct args *a, int port)
{
	arg(a, "--upstream");
	arg(a, "127.0.0.1:%d", port);
}

/* ---- what every test may leave behind; teardown() stops and closes it ---- */

static struct proc proxy, backend;
static int admin_port = -1;
static int held_fds[16];
static int n_held;

/* Remembers a descriptor for teardown (listeners and fillers of black holes). */
static int hold_fd(int fd)
{
	assert_true(fd >= 0);
	assert_true(n_held < (int)(sizeof(held_fds) / sizeof(held_fds[0])));
	held_fds[n_held++] = fd;
	return fd;
}

static void proxy_start(struct args *a)
{
	int r = proc_start(&proxy, a->v, true, START_MS);

	if (r)
		fail_msg("proxy did not start (%d): %s", r, proxy.err);
	admin_port = proc_wait_port(&proxy, "admin on ", 3000);
	if (admin_port <= 0)
		fail_msg("proxy printed no admin port: %s", proxy.out);
}

/* SIGTERM, then the exit check (status 0, illegal and stale 0, no sanitizer report). */
static int proxy_stop(void)
{
	return ringer_stop(&proxy, SIGTERM, STOP_MS, 0);
}

/* The echo backend is a ringer too: the same exit check. */
static int backend_stop(void)
{
	return ringer_stop(&backend, SIGTERM, STOP_MS, 0);
}

/* The echo backend: ringer --mode echo --shards 1 on 127.0.0.1 (or host). */
static void backend_start_on(const char *listen)
{
	char *argv[] = {(char *)harness_bin("RINGER_BIN"),
			"--mode",
			"echo",
			"--shards",
			"1",
			"--listen",
			(char *)listen,
			"--quiet",
			NULL};
	int r = proc_start(&backend, argv, true, START_MS);

	if (r)
		fail_msg("echo backend did not start (%d): %s", r, backend.err);
}

static void backend_start(void)
{
	backend_start_on("127.0.0.1:0");
}

/* ---- upstreams forked from this process ---- */

enum up_kind {
	UP_ECHO,	     /* every connection: the tag byte, then echo */
	UP_REPLY_AFTER_EOF,  /* read (checked) until EOF, send REPLY_LEN, close */
	UP_GREET_HALF_CLOSE, /* send GREET_LEN, shutdown(SHUT_WR), read (checked) until EOF */
	UP_RESET_MID,	     /* read 4 KiB, send RESET_LEN, reset (SO_LINGER 0) */
	UP_OBSERVE,	     /* echo until the connection ends; note how and when */
	UP_FLOOD,	     /* send FLOOD_LEN, counting progress, then close */
	UP_STALL_SINK,	     /* read nothing until go, then read (checked) until EOF */
	UP_HOLD,	     /* read (checked) until EOF, then keep the connection open */
	UP_LATE_ACCEPT,	     /* accept queue full until go; then as UP_REPLY_AFTER_EOF */
};

/* Written by the upstream's process, read by the test: one shared page. */
struct up_shared {
	unsigned accepts; /* connections accepted (all kinds) */
	int active;	  /* connections open now */
	/* The first connection of a scripted kind: */
	uint64_t got;	/* bytes received */
	uint64_t sent;	/* bytes sent */
	int bad;	/* a received byte differed from the C2U pattern */
	int end;	/* 0 open, 1 EOF seen, or -errno of the error that ended it */
	int64_t end_ms; /* when it ended (CLOCK_MONOTONIC: the same clock in every process) */
	int go;		/* set by the test */
};

#define SH_GET(sh, f)	 __atomic_load_n(&(sh)->f, __ATOMIC_SEQ_CST)
#define SH_SET(sh, f, v) __atomic_store_n(&(sh)->f, (v), __ATOMIC_SEQ_CST)
#define SH_ADD(sh, f, v) __atomic_add_fetch(&(sh)->f, (v), __ATOMIC_SEQ_CST)

struct upstream {
	pid_t pid;
	int port;
	struct up_shared *sh;
};

static struct upstream ups[4];

static void fill_pattern(char *buf, uint64_t seed, uint64_t off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (char)pattern_byte(seed, off + i);
}

/* 1 when buf differs from the pattern seed at offset off, else 0. */
static int check_pattern(const char *buf, uint64_t seed, uint64_t off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((uint8_t)buf[i] != pattern_byte(seed, off + i))
			return 1;
	return 0;
}

static int poll_one(int fd, short ev, int ms)
{
	struct pollfd pfd = {.fd = fd, .events = ev};
	int r = poll(&pfd, 1, ms);

	return r < 0 ? -errno : r;
}

/*
 * Child side: reads until EOF (1), an error (-errno) or timeout (-ETIMEDOUT),
 * or until limit bytes, checking the C2U pattern and counting in sh.
 */
static int up_sink(int fd, struct up_shared *sh, uint64_t limit, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	static char buf[65536];

	while (SH_GET(sh, got) < limit) {
		uint64_t got = SH_GET(sh, got);
		size_t want = limit - got < sizeof(buf) ? (size_t)(limit - got) : sizeof(buf);
		ssize_t n = recv(fd, buf, want, MSG_DONTWAIT);

		if (n == 0)
			return 1;
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
			if (now_ms() >= deadline)
				return -ETIMEDOUT;
			poll_one(fd, POLLIN, 50);
			continue;
		}
		if (check_pattern(buf, C2U_SEED, got, (size_t)n))
			SH_SET(sh, bad, 1);
		SH_SET(sh, got, got + (uint64_t)n);
	}
	return 0;
}

/* Child side: sends len bytes of the U2C pattern, counting in sh; 0 or -errno. */
static int up_send(int fd, struct up_shared *sh, uint64_t len, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	static char buf[65536];

	while (SH_GET(sh, sent) < len) {
		uint64_t sent = SH_GET(sh, sent);
		size_t n = len - sent < sizeof(buf) ? (size_t)(len - sent) : sizeof(buf);
		ssize_t w;

		fill_pattern(buf, U2C_SEED, sent, n);
		w = send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
			if (now_ms() >= deadline)
				return -ETIMEDOUT;
			poll_one(fd, POLLOUT, 50);
			continue;
		}
		SH_SET(sh, sent, sent + (uint64_t)w);
	}
	return 0;
}

static void up_end(struct up_shared *sh, int how)
{
	SH_SET(sh, end_ms, now_ms());
	SH_SET(sh, end, how);
}

static void up_wait_go(struct up_shared *sh, int timeout_ms)
{
	for (int64_t end = now_ms() + timeout_ms; !SH_GET(sh, go) && now_ms() < end;)
		usleep(5000);
}

/* Child side: echo on one blocking connection until it ends, noting how. */
static void up_observe(int fd, struct up_shared *sh)
{
	int64_t deadline = now_ms() + 20000;
	char buf[16384];

	while (now_ms() < deadline) {
		ssize_t n;

		if (poll_one(fd, POLLIN, 100) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0) {
			up_end(sh, 1);
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			up_end(sh, -errno);
			return;
		}
		SH_ADD(sh, got, (uint64_t)n);
		n = send_all(fd, buf, (size_t)n, 5000);
		if (n) {
			up_end(sh, (int)n);
			return;
		}
	}
	up_end(sh, -ETIMEDOUT);
}

/* Child side: what a scripted kind does with its first connection. */
static void up_first(enum up_kind kind, int fd, struct up_shared *sh)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	int r;

	switch (kind) {
	case UP_REPLY_AFTER_EOF:
		r = up_sink(fd, sh, UINT64_MAX, 20000);
		up_end(sh, r);
		if (r == 1)
			up_send(fd, sh, REPLY_LEN, 20000);
		break;
	case UP_GREET_HALF_CLOSE:
		up_send(fd, sh, GREET_LEN, 10000);
		shutdown(fd, SHUT_WR);
		up_end(sh, up_sink(fd, sh, UINT64_MAX, 20000));
		break;
	case UP_RESET_MID:
		up_sink(fd, sh, 4096, 10000);
		up_send(fd, sh, RESET_LEN, 10000);
		usleep(20000);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		up_end(sh, -ECONNRESET);
		break;
	case UP_OBSERVE:
		up_observe(fd, sh);
		break;
	case UP_FLOOD:
		up_end(sh, up_send(fd, sh, FLOOD_LEN, 30000) ? -EIO : 0);
		break;
	case UP_STALL_SINK:
		up_wait_go(sh, 20000);
		up_end(sh, up_sink(fd, sh, UINT64_MAX, 30000));
		break;
	case UP_HOLD:
		up_end(sh, up_sink(fd, sh, UINT64_MAX, 20000));
		up_wait_go(sh, 10000);
		break;
	default:
		break;
	}
	close(fd);
}

struct echo_conn {
	int fd;
	size_t off, len;
	char buf[16384];
};

/*
 * Child side: the tag echo, for any number of connections up to 256, with
 * backpressure (a connection with unsent bytes is not read).
 */
static void up_serve_echo(int lfd, struct up_shared *sh, char tag)
{
	enum { MAXC = 256 };
	struct echo_conn *c = calloc(MAXC, sizeof(*c));
	struct pollfd pfd[MAXC + 1];
	int n = 0;

	if (!c)
		_exit(1);
	for (;;) {
		pfd[0] = (struct pollfd){.fd = lfd, .events = n < MAXC ? POLLIN : 0};
		for (int i = 0; i < n; i++)
			pfd[i + 1] = (struct pollfd){
				.fd = c[i].fd, .events = c[i].len > c[i].off ? POLLOUT : POLLIN};
		if (poll(pfd, (nfds_t)n + 1, -1) < 0)
			continue;
		/* Backwards, so that moving the last connection into a closed slot is safe. */
		for (int i = n - 1; i >= 0; i--) {
			struct echo_conn *e = &c[i];
			ssize_t r;

			if (!pfd[i + 1].revents)
				continue;
			if (e->len > e->off) {
				r = send(e->fd, e->buf + e->off, e->len - e->off,
					 MSG_DONTWAIT | MSG_NOSIGNAL);
				if (r > 0) {
					e->off += (size_t)r;
					if (e->off == e->len)
						e->off = e->len = 0;
					continue;
				}
			} else {
				r = recv(e->fd, e->buf, sizeof(e->buf), MSG_DONTWAIT);
				if (r > 0) {
					e->len = (size_t)r;
					continue;
				}
			}
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			close(e->fd);
			if (i != n - 1)
				memcpy(e, &c[n - 1], sizeof(*e));
			n--;
			SH_ADD(sh, active, -1);
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

			if (fd >= 0) {
				c[n].fd = fd;
				c[n].buf[0] = tag;
				c[n].off = 0;
				c[n].len = 1;
				n++;
				SH_ADD(sh, accepts, 1);
				SH_ADD(sh, active, 1);
			}
		}
	}
}

static void up_child(int lfd, enum up_kind kind, char tag, struct up_shared *sh)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	alarm(120); /* a forgotten helper ends on its own */
	if (kind == UP_LATE_ACCEPT) {
		int filler;

		up_wait_go(sh, 20000);
		filler = accept(lfd, NULL, NULL);
		if (filler >= 0)
			close(filler);
		kind = UP_REPLY_AFTER_EOF;
	}
	if (kind != UP_ECHO) {
		int fd = -1;

		if (poll_one(lfd, POLLIN, 30000) > 0)
			fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			_exit(1);
		SH_ADD(sh, accepts, 1);
		SH_ADD(sh, active, 1);
		up_first(kind, fd, sh);
		SH_ADD(sh, active, -1);
	}
	up_serve_echo(lfd, sh, tag);
	_exit(0);
}

/*
 * Starts upstream u of the given kind on 127.0.0.1:port (0: any). For
 * UP_LATE_ACCEPT the listener has a backlog of 0 and one connection already
 * queued (a filler this process holds), so further SYNs are dropped until go.
 */
static void up_start(struct upstream *u, enum up_kind kind, char tag, int port)
{
	int lfd, bound = 0;

	lfd = tcp_listen("127.0.0.1", port, kind == UP_LATE_ACCEPT ? 0 : 512, &bound);
	if (lfd < 0)
		fail_msg("upstream listen on port %d: %s", port, strerror(-lfd));
	if (kind == UP_LATE_ACCEPT)
		hold_fd(tcp_connect("127.0.0.1", bound));
	u->sh = mmap(NULL, sizeof(*u->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		     0);
	assert_true(u->sh != MAP_FAILED);
	memset(u->sh, 0, sizeof(*u->sh));
	u->port = bound;
	u->pid = fork();
	assert_true(u->pid >= 0);
	if (u->pid == 0)
		up_child(lfd, kind, tag, u->sh);
	close(lfd);
}

static void up_stop(struct upstream *u)
{
	if (u->pid > 0) {
		kill(u->pid, SIGKILL);
		waitpid(u->pid, NULL, 0);
		u->pid = 0;
	}
}

/* Waits until the first connection of a scripted upstream has ended; returns how. */
static int up_wait_end(struct upstream *u, int timeout_ms)
{
	for (int64_t end = now_ms() + timeout_ms; now_ms() < end; usleep(5000))
		if (SH_GET(u->sh, end))
			return SH_GET(u->sh, end);
	return 0;
}

static bool up_wait_active(struct upstream *u, int want, int timeout_ms)
{
	for (int64_t end = now_ms() + timeout_ms; now_ms() < end; usleep(5000))
		if (SH_GET(u->sh, active) == want)
			return true;
	return SH_GET(u->sh, active) == want;
}

/* A port where nothing listens (connects are refused): bound once, then closed. */
static int dead_port(void)
{
	int port = 0, fd = tcp_listen("127.0.0.1", 0, 1, &port);

	assert_true(fd >= 0);
	close(fd);
	return port;
}

/*
 * A port where connect() never completes: a listener with a backlog of 0
 * that never accepts, its accept queue filled by one connection. Linux then
 * drops every further SYN (a full accept queue is checked before anything
 * else, syncookies or not), so a connect retransmits its SYN and hangs.
 * The listener and the filler stay open until teardown.
 */
static int black_hole_port(void)
{
	int port = 0, lfd = hold_fd(tcp_listen("127.0.0.1", 0, 0, &port));
	int probe, r;

	(void)lfd;
	hold_fd(tcp_connect("127.0.0.1", port));
	/* Check it holds: a non-blocking connect must still be pending after 300 ms. */
	probe = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(probe >= 0);
	{
		struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

		in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		r = connect(probe, (struct sockaddr *)&in, sizeof(in));
		assert_true(r < 0 && errno == EINPROGRESS);
	}
	r = poll_one(probe, POLLOUT, 300);
	close(probe); /* closing a SYN_SENT socket ends its retransmissions */
	if (r != 0)
		fail_msg("black hole on port %d did not hold a connect (poll %d)", port, r);
	return port;
}

/* ---- the test's client side ---- */

/* A session through the proxy to a tag echo upstream: connects and reads the tag. */
static int session(char *tag)
{
	int fd = tcp_connect("127.0.0.1", proxy.port), r;

	if (fd < 0)
		fail_msg("connect to proxy: %s", strerror(-fd));
	r = recv_all(fd, tag, 1, 3000);
	if (r)
		fail_msg("no tag from the upstream through the proxy: %s", strerror(-r));
	return fd;
}

static void echo_ok(int fd, uint64_t len)
{
	uint64_t bad = 0;
	int r = echo_stream(fd, len, 16384, 5000, &bad);

	if (r == -EILSEQ)
		fail_msg("echo mismatch at byte %llu", (unsigned long long)bad);
	if (r)
		fail_msg("echo through the proxy: %s", strerror(-r));
}

/* Reads a number from the proxy's /metrics; -1 when the series is absent. */
static double metric(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static double metric(const char *fmt, ...)
{
	static char body[262144];
	char series[256];
	va_list ap;
	double v;

	va_start(ap, fmt);
	vsnprintf(series, sizeof(series), fmt, ap);
	va_end(ap);
	if (http_get("127.0.0.1", admin_port, "/metrics", body, sizeof(body), 2000) < 0)
		fail_msg("GET /metrics from the proxy's admin port %d failed", admin_port);
	if (metric_value(body, series, &v))
		return -1;
	return v;
}

/* Polls a metric until it equals want (counters and gauges settle after a close). */
static double metric_wait(double want, int timeout_ms, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static double metric_wait(double want, int timeout_ms, const char *fmt, ...)
{
	int64_t end = now_ms() + timeout_ms;
	char series[256];
	va_list ap;
	double v;

	va_start(ap, fmt);
	vsnprintf(series, sizeof(series), fmt, ap);
	va_end(ap);
	for (;;) {
		v = metric("%s", series);
		if (v == want || now_ms() >= end)
			break;
		usleep(20000);
	}
	if (v != want)
		print_message("%s = %g, wanted %g\n", series, v, want);
	return v;
}

static int reset_close(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	return close(fd);
}

/* Waits for the proxy to end a client connection: EOF or reset; elapsed ms, or fails. */
static int64_t wait_closed(int fd, int timeout_ms)
{
	int64_t t0 = now_ms();
	size_t junk;
	int r = wait_eof(fd, timeout_ms, &junk);

	if (r != 0 && r != -ECONNRESET)
		fail_msg("the proxy did not close the client within %d ms (%s)", timeout_ms,
			 strerror(-r));
	return now_ms() - t0;
}

static int teardown(void **state)
{
	(void)state;
	if (proxy.pid > 0)
		proc_stop(&proxy, SIGKILL, 2000);
	if (backend.pid > 0)
		proc_stop(&backend, SIGKILL, 2000);
	for (size_t i = 0; i < sizeof(ups) / sizeof(ups[0]); i++) {
		up_stop(&ups[i]);
		if (ups[i].sh) {
			munmap(ups[i].sh, sizeof(*ups[i].sh));
			ups[i].sh = NULL;
		}
	}
	while (n_held)
		close(held_fds[--n_held]);
	admin_port = -1;
	return 0;
}

/* ---- relay ---- */

static void relay(const char *listen, const char *host, uint64_t size, int timeout_ms)
{
	struct args a;
	uint64_t bad = 0;
	char bl[64];
	int fd, r;

	snprintf(bl, sizeof(bl), strchr(host, ':') ? "[%s]:0" : "%s:0", host);
	backend_start_on(bl);
	proxy_args_on(&a, listen);
	arg(&a, "--shards");
	arg(&a, "1");
	arg(&a, "--upstream");
	arg(&a, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, backend.port);
	proxy_start(&a);
	fd = tcp_connect(host, proxy.port);
	assert_true(fd >= 0);
	/* Sends and receives at once: both directions carry the stream concurrently. */
	r = echo_stream(fd, size, 65536, timeout_ms, &bad);
	if (r == -EILSEQ)
		fail_msg("mismatch at byte %llu of %llu", (unsigned long long)bad,
			 (unsigned long long)size);
	assert_int_equal(r, 0);
	close(fd);
	assert_int_equal(proxy_stop(), 0);
	assert_int_equal(backend_stop(), 0);
}

static void relay_1_byte(void **state)
{
	(void)state;
	relay("127.0.0.1:0", "127.0.0.1", 1, 5000);
}

static void relay_4_kib(void **state)
{
	(void)state;
	relay("127.0.0.1:0", "127.0.0.1", 4096, 5000);
}

static void relay_1_mib(void **state)
{
	(void)state;
	relay("127.0.0.1:0", "127.0.0.1", 1 << 20, 10000);
}

static void relay_64_mib(void **state)
{
	(void)state;
	relay("127.0.0.1:0", "127.0.0.1", 64ull << 20, 30000);
}

/* IPv6 on both sides: the client to [::1], the proxy to an upstream at [::1]:PORT. */
static void relay_ipv6(void **state)
{
	int r = ipv6_loopback();

	(void)state;
	if (r) {
		print_message("skip: no IPv6 on loopback here ([::1]: %s)\n", strerror(-r));
		skip();
	}
	relay("[::1]:0", "::1", 1 << 20, 10000);
	assert_non_null(strstr(proxy.out, "listening on [::1]:"));
}

/* 1,000 sessions open at once, each relaying its own message; the gauges count them. */
static void thousand_sessions(void **state)
{
	enum { N = 1000 };
	static int fds[N];
	char msg[64], back[64];
	struct args a;

	(void)state;
	backend_start();
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "2");
	arg_upstream(&a, backend.port);
	proxy_start(&a);
	for (int i = 0; i < N; i++) {
		fds[i] = tcp_connect("127.0.0.1", proxy.port);
		if (fds[i] < 0)
			fail_msg("connect %d: %s", i, strerror(-fds[i]));
	}
	for (int i = 0; i < N; i++) {
		snprintf(msg, sizeof(msg), "session %04d says hello", i);
		assert_int_equal(send_all(fds[i], msg, sizeof(msg), 5000), 0);
	}
	for (int i = 0; i < N; i++) {
		snprintf(msg, sizeof(msg), "session %04d says hello", i);
		if (recv_all(fds[i], back, sizeof(back), 10000))
			fail_msg("session %d got no echo", i);
		assert_memory_equal(msg, back, sizeof(msg));
	}
	assert_true(metric_wait(N, 3000,
				"ringer_connections_by_side{side=\"client\","
				"state=\"ESTABLISHED\"}") == N);
	assert_true(metric_wait(N, 3000,
				"ringer_connections_by_side{side=\"upstream\","
				"state=\"ESTABLISHED\"}") == N);
	assert_true(metric_wait(N, 1000, "ringer_upstream_active{upstream=\"127.0.0.1:%d\"}",
				backend.port) == N);
	for (int i = 0; i < N; i++)
		close(fds[i]);
	assert_true(metric_wait(0, 5000, "ringer_upstream_active{upstream=\"127.0.0.1:%d\"}",
				backend.port) == 0);
	assert_int_equal(proxy_stop(), 0);
	assert_int_equal(backend_stop(), 0);
}

/*
 * Bytes (and a FIN) the client sends before the upstream connect completes
 * are held and delivered first. The upstream's accept queue is full, so the
 * proxy's SYN is dropped; after 300 ms the queue is drained and the SYN's
 * retransmission (about 1 s after the first) gets through.
 */
static void early_bytes_held_until_connected(void **state)
{
	enum { LEN = 64 << 10 };
	struct upstream *u = &ups[0];
	char *buf = malloc(REPLY_LEN);
	struct args a;
	size_t extra;
	int fd;

	(void)state;
	assert_non_null(buf);
	up_start(u, UP_LATE_ACCEPT, 'A', 0);
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg(&a, "--connect-timeout");
	arg(&a, "5000");
	arg_upstream(&a, u->port);
	proxy_start(&a);
	fd = tcp_connect("127.0.0.1", proxy.port);
	assert_true(fd >= 0);
	fill_pattern(buf, C2U_SEED, 0, LEN);
	assert_int_equal(send_all(fd, buf, LEN, 2000), 0);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	/*
	 * The scene is as intended: the proxy's upstream connect has begun (waited
	 * for: a loaded machine may take longer), and 300 ms on it is still pending.
	 */
	assert_true(
		metric_wait(1, 5000,
			    "ringer_connections_by_side{side=\"upstream\",state=\"SYN_SENT\"}") ==
		1);
	usleep(300000);
	assert_true(metric("ringer_connections_by_side{side=\"upstream\",state=\"SYN_SENT\"}") ==
		    1);
	SH_SET(u->sh, go, 1);
	assert_int_equal(recv_all(fd, buf, REPLY_LEN, 6000), 0);
	assert_int_equal(check_pattern(buf, U2C_SEED, 0, REPLY_LEN), 0);
	assert_int_equal(wait_eof(fd, 3000, &extra), 0);
	assert_int_equal(extra, 0);
	assert_int_equal(SH_GET(u->sh, end), 1);
	assert_int_equal(SH_GET(u->sh, got), LEN);
	assert_int_equal(SH_GET(u->sh, bad), 0);
	close(fd);
	free(buf);
	assert_int_equal(proxy_stop(), 0);
}

/* ---- half-close ---- */

/*
 * The client sends 1 MiB and shuts down its side: the upstream sees EOF
 * after exactly those bytes, replies with 1 MiB, which the client gets in
 * full, and then EOF once the upstream has closed.
 */
static void client_half_close_full_reply(void **state)
{
	enum { LEN = 1 << 20 };
	struct upstream *u = &ups[0];
	char *buf = malloc(LEN);
	struct args a;
	size_t extra;
	int fd;

	(void)state;
	assert_non_null(buf);
	up_start(u, UP_REPLY_AFTER_EOF, 'A', 0);
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg_upstream(&a, u->port);
	proxy_start(&a);
	fd = tcp_connect("127.0.0.1", proxy.port);
	assert_true(fd >= 0);
	fill_pattern(buf, C2U_SEED, 0, LEN);
	assert_int_equal(send_all(fd, buf, LEN, 5000), 0);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	memset(buf, 0, LEN);
	assert_int_equal(recv_all(fd, buf, REPLY_LEN, 5000), 0);
	assert_int_equal(check_pattern(buf, U2C_SEED, 0, REPLY_LEN), 0);
	assert_int_equal(wait_eof(fd, 3000, &extra), 0);
	assert_int_equal(extra, 0);
	assert_int_equal(up_wait_end(u, 1000), 1);
	assert_int_equal(SH_GET(u->sh, got), LEN);
	assert_int_equal(SH_GET(u->sh, bad), 0);
	close(fd);
	free(buf);
	assert_int_equal(proxy_stop(), 0);
}

/*
 * The upstream sends a greeting and shuts down its side: the client gets
 * the greeting, then EOF, and what it sends afterwards (2 MiB) still
 * reaches the upstream in full.
 */
static void upstream_half_close_client_continues(void **state)
{
	enum { LEN = 2 << 20 };
	struct upstream *u = &ups[0];
	char *buf = malloc(LEN);
	struct args a;
	size_t extra;
	int fd;

	(void)state;
	assert_non_null(buf);
	up_start(u, UP_GREET_HALF_CLOSE, 'A', 0);
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg_upstream(&a, u->port);
	proxy_start(&a);
	fd = tcp_connect("127.0.0.1", proxy.port);
	assert_true(fd >= 0);
	assert_int_equal(recv_all(fd, buf, GREET_LEN, 5000), 0);
	assert_int_equal(check_pattern(buf, U2C_SEED, 0, GREET_LEN), 0);
	assert_int_equal(wait_eof(fd, 3000, &extra), 0);
	assert_int_equal(extra, 0);
	fill_pattern(buf, C2U_SEED, 0, LEN);
	assert_int_equal(send_all(fd, buf, LEN, 5000), 0);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	assert_int_equal(up_wait_end(u, 5000), 1);
	assert_int_equal(SH_GET(u->sh, got), LEN);
	assert_int_equal(SH_GET(u->sh, bad), 0);
	close(fd);
	free(buf);
	assert_int_equal(proxy_stop(), 0);
}

/* ---- resets ---- */

/*
 * The client resets mid-stream: the upstream's connection ends within a
 * second or two (a reset; a FIN is tolerated), and the proxy serves the next
 * client.
 */
static void client_reset_mid_stream(void **state)
{
	struct upstream *u = &ups[0];
	static char buf[256 << 10];
	struct args a;
	int64_t t0;
	int fd, how;
	char tag;

	(void)state;
	up_start(u, UP_OBSERVE, 'A', 0);
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg_upstream(&a, u->port);
	proxy_start(&a);
	fd = tcp_connect("127.0.0.1", proxy.port);
	assert_true(fd >= 0);
	fill_pattern(buf, C2U_SEED, 0, sizeof(buf));
	/* Whatever fits; the upstream echoes into a socket nobody reads yet. */
	assert_true(send(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL) > 4096);
	assert_int_equal(recv_all(fd, buf, 4096, 3000), 0);
	assert_int_equal(check_pattern(buf, C2U_SEED, 0, 4096), 0);
	t0 = now_ms();
	reset_close(fd);
	how = up_wait_end(u, 3000);
	print_message("upstream side ended with %d (%s) after %lld ms\n", how,
		      how == 1 ? "EOF" : strerror(-how), (long long)(SH_GET(u->sh, end_ms) - t0));
	assert_true(how == 1 || how == -ECONNRESET || how == -EPIPE);
	assert_true(SH_GET(u->sh, end_ms) - t0 < 2000);
	/* A new client, through the same proxy, to the same upstream (now a tag echo). */
	fd = session(&tag);
	assert_int_equal(tag, 'A');
	echo_ok(fd, 100000);
	close(fd);
	assert_int_equal(proxy_stop(), 0);
}

/* The upstream resets mid-stream: the client sees ECONNRESET; the next client is served. */
static void upstream_reset_mid_stream(void **state)
{
	struct upstream *u = &ups[0];
	char buf[8192];
	struct args a;
	size_t got = 0;
	int fd, r;
	char tag;

	(void)state;
	up_start(u, UP_RESET_MID, 'A', 0);
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg_upstream(&a, u->port);
	proxy_start(&a);
	fd = tcp_connect("127.0.0.1", proxy.port);
	assert_true(fd >= 0);
	fill_pattern(buf, C2U_SEED, 0, sizeof(buf));
	assert_int_equal(send_all(fd, buf, sizeof(buf), 3000), 0);
	r = wait_eof(fd, 3000, &got);
	print_message("client: %s after %zu bytes\n", r ? strerror(-r) : "EOF", got);
	assert_int_equal(r, -ECONNRESET);
	assert_true(got <= RESET_LEN);
	assert_int_equal(up_wait_end(u, 1000), -ECONNRESET);
	close(fd);
	fd = session(&tag);
	assert_int_equal(tag, 'A');
	echo_ok(fd, 100000);
	close(fd);
	assert_int_equal(proxy_stop(), 0);
}

/* ---- upstream failures ---- */

/*
 * The first of two upstreams refuses connections: every session gets
 * through to the second, and the failures are counted.
 */
static void refusing_upstream_retried(void **state)
{
	struct upstream *b = &ups[0];
	struct args a;
	int dead = dead_port(), fd;
	char tag;

	(void)state;
	up_start(b, UP_ECHO, 'B', 0);
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg_upstream(&a, dead);
	arg_upstream(&a, b->port);
	proxy_start(&a);
	for (int i = 0; i < 20; i++) {
		fd = session(&tag);
		assert_int_equal(tag, 'B');
		echo_ok(fd, 1000);
		close(fd);
	}
	assert_int_equal(SH_GET(b->sh, accepts), 20);
	/* Default --fail-threshold 3: at least three failures, and then it is down. */
	assert_true(metric("ringer_upstream_connect_failures_total{upstream=\"127.0.0.1:%d\"}",
			   dead) >= 3);
	assert_true(metric("ringer_upstream_up{upstream=\"127.0.0.1:%d\"}", dead) == 0);
	assert_true(metric("ringer_upstream_up{upstream=\"127.0.0.1:%d\"}", b->port) == 1);
	assert_true(metric("ringer_upstream_connect_failures_total{upstream=\"127.0.0.1:%d\"}",
			   b->port) == 0);
	assert_true(metric("ringer_upstream_connects_total{upstream=\"127.0.0.1:%d\"}", b->port) ==
		    20);
	assert_int_equal(proxy_stop(), 0);
}

/* An upstream whose connect never completes: the client is closed within the timeout + 1 s. */
static void black_hole_connect_timeout(void **state)
{
	struct args a;
	int port = black_hole_port(), fd;
	int64_t took;

	(void)state;
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg(&a, "--connect-timeout");
	arg(&a, "500");
	arg(&a, "--connect-retries");
	arg(&a, "0");
	arg_upstream(&a, port);
	proxy_start(&a);
	fd = tcp_connect("127.0.0.1", proxy.port);
	assert_true(fd >= 0);
	assert_int_equal(send_all(fd, "hello", 5, 1000), 0);
	took = wait_closed(fd, 3000);
	print_message("client closed %lld ms after connecting\n", (long long)took);
	assert_true(took >= 400);  /* the connect did hang until the timeout */
	assert_true(took <= 1500); /* connect-timeout 500 ms + 1 s */
	close(fd);
	assert_true(metric_wait(1, 1000,
				"ringer_upstream_connect_failures_total{upstream=\"127.0.0.1:%d\"}",
				port) == 1);
	assert_int_equal(proxy_stop(), 0);
}

/*
 * With every upstream down, a client is closed at once: the second client
 * is not held for another connect timeout, and no new attempt is made.
 */
static void all_down_closed_at_once(void **state)
{
	struct args a;
	int port = black_hole_port(), fd;
	int64_t took;

	(void)state;
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg(&a, "--connect-timeout");
	arg(&a, "500");
	arg(&a, "--connect-retries");
	arg(&a, "0");
	arg(&a, "--fail-threshold");
	arg(&a, "1");
	arg(&a, "--down-time");
	arg(&a, "10000");
	arg_upstream(&a, port);
	proxy_start(&a);
	fd = tcp_connect("127.0.0.1", proxy.port);
	assert_true(fd >= 0);
	took = wait_closed(fd, 3000);
	assert_true(took >= 400 && took <= 1500);
	close(fd);
	assert_true(metric_wait(0, 1000, "ringer_upstream_up{upstream=\"127.0.0.1:%d\"}", port) ==
		    0);
	fd = tcp_connect("127.0.0.1", proxy.port);
	assert_true(fd >= 0);
	took = wait_closed(fd, 3000);
	print_message("with the only upstream down, closed after %lld ms\n", (long long)took);
	assert_true(took < 300);
	close(fd);
	assert_true(metric("ringer_upstream_connect_failures_total{upstream=\"127.0.0.1:%d\"}",
			   port) == 1);
	assert_int_equal(proxy_stop(), 0);
}

/*
 * Three upstreams, the middle one refusing: 30 sessions all succeed. Then
 * the middle one comes back on the same port; past --down-time it gets its
 * share of the next 30 sessions again.
 */
static void one_of_three_down_then_revived(void **state)
{
	struct upstream *ua = &ups[0], *ub = &ups[1], *uc = &ups[2];
	int count[256] = {0}, dead = dead_port(), fd;
	struct args a;
	char tag;

	(void)state;
	up_start(ua, UP_ECHO, 'A', 0);
	up_start(uc, UP_ECHO, 'C', 0);
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg(&a, "--fail-threshold");
	arg(&a, "1");
	arg(&a, "--down-time");
	arg(&a, "500");
	arg_upstream(&a, ua->port);
	arg_upstream(&a, dead);
	arg_upstream(&a, uc->port);
	proxy_start(&a);
	for (int i = 0; i < 30; i++) {
		fd = session(&tag);
		count[(uint8_t)tag]++;
		echo_ok(fd, 1000);
		close(fd);
	}
	print_message("one down: A %d, C %d\n", count['A'], count['C']);
	assert_int_equal(count['A'] + count['C'], 30);
	assert_int_equal(SH_GET(ua->sh, accepts) + SH_GET(uc->sh, accepts), 30);
	assert_true(metric("ringer_upstream_connect_failures_total{upstream=\"127.0.0.1:%d\"}",
			   dead) >= 1);
	/* Back on the same port. */
	up_start(ub, UP_ECHO, 'B', dead);
	usleep(800000);
	memset(count, 0, sizeof(count));
	for (int i = 0; i < 30; i++) {
		fd = session(&tag);
		count[(uint8_t)tag]++;
		echo_ok(fd, 1000);
		close(fd);
	}
	print_message("revived: A %d, B %d, C %d\n", count['A'], count['B'], count['C']);
	assert_int_equal(count['A'] + count['B'] + count['C'], 30);
	assert_true(count['B'] >= 5);
	assert_int_equal(SH_GET(ub->sh, accepts), count['B']);
	assert_true(metric("ringer_upstream_up{upstream=\"127.0.0.1:%d\"}", dead) == 1);
	assert_int_equal(proxy_stop(), 0);
}

/* ---- balancing ---- */

/*
 * leastconn: six held sessions split 3/3; with the three on B closed, every
 * new (short) session goes to B, which has fewer active sessions than A.
 */
static void leastconn_prefers_fewer_active(void **state)
{
	struct upstream *ua = &ups[0], *ub = &ups[1];
	int held[6], on_a[6], n_a = 0, n_b = 0, fd;
	char tag, tags[6];
	struct args a;

	(void)state;
	up_start(ua, UP_ECHO, 'A', 0);
	up_start(ub, UP_ECHO, 'B', 0);
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg(&a, "--balance");
	arg(&a, "leastconn");
	arg_upstream(&a, ua->port);
	arg_upstream(&a, ub->port);
	proxy_start(&a);
	for (int i = 0; i < 6; i++)
		held[i] = session(&tags[i]);
	/* Keep the ones on A, close the ones on B. */
	for (int i = 0; i < 6; i++) {
		if (tags[i] == 'A') {
			on_a[n_a++] = held[i];
		} else {
			n_b++;
			close(held[i]);
		}
	}
	print_message("six held sessions: A %d, B %d\n", n_a, n_b);
	assert_int_equal(n_a, 3);
	assert_int_equal(n_b, 3);
	assert_true(up_wait_active(ub, 0, 2000));
	/* What leastconn weighs: the proxy's own count of B's sessions, not B's. */
	assert_true(metric_wait(0, 2000, "ringer_upstream_active{upstream=\"127.0.0.1:%d\"}",
				ub->port) == 0);
	for (int i = 0; i < 8; i++) {
		fd = session(&tag);
		echo_ok(fd, 100);
		close(fd);
		if (tag != 'B')
			fail_msg("session %d went to %c, which holds 3 sessions; B holds none", i,
				 tag);
		assert_true(up_wait_active(ub, 0, 2000));
	}
	for (int i = 0; i < n_a; i++) {
		echo_ok(on_a[i], 1000);
		close(on_a[i]);
	}
	assert_int_equal(proxy_stop(), 0);
}

/*
 * source: each of 15 client addresses (127.0.0.10-24) keeps its upstream
 * over three interleaved rounds, and the addresses spread over both. An
 * odd number of addresses makes plain round robin fail the first check.
 */
static void source_hash_sticky(void **state)
{
	enum { ADDRS = 15, ROUNDS = 3 };
	struct upstream *ua = &ups[0], *ub = &ups[1];
	char first[ADDRS], src[32], tag;
	int n_a = 0, n_b = 0, fd;
	struct args a;

	(void)state;
	up_start(ua, UP_ECHO, 'A', 0);
	up_start(ub, UP_ECHO, 'B', 0);
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg(&a, "--balance");
	arg(&a, "source");
	arg_upstream(&a, ua->port);
	arg_upstream(&a, ub->port);
	proxy_start(&a);
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < ADDRS; i++) {
			snprintf(src, sizeof(src), "127.0.0.%d", 10 + i);
			fd = tcp_connect_from(src, "127.0.0.1", proxy.port);
			if (fd < 0)
				fail_msg("connect from %s: %s", src, strerror(-fd));
			assert_int_equal(recv_all(fd, &tag, 1, 3000), 0);
			close(fd);
			if (r == 0)
				first[i] = tag;
			else if (tag != first[i])
				fail_msg("%s went to %c, then to %c in round %d", src, first[i],
					 tag, r + 1);
		}
	}
	for (int i = 0; i < ADDRS; i++) {
		if (first[i] == 'A')
			n_a++;
		else
			n_b++;
	}
	print_message("%d addresses: A %d, B %d\n", ADDRS, n_a, n_b);
	assert_true(n_a >= 1 && n_b >= 1);
	assert_int_equal(SH_GET(ua->sh, accepts) + SH_GET(ub->sh, accepts), ADDRS * ROUNDS);
	assert_int_equal(proxy_stop(), 0);
}

/* Weighted round robin: weight=3 and weight=1 over 40 sessions is 30 and 10. */
static void weighted_round_robin(void **state)
{
	struct upstream *ua = &ups[0], *ub = &ups[1];
	int count[256] = {0}, fd;
	struct args a;
	char tag;

	(void)state;
	up_start(ua, UP_ECHO, 'A', 0);
	up_start(ub, UP_ECHO, 'B', 0);
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg(&a, "--upstream");
	arg(&a, "127.0.0.1:%d,weight=3", ua->port);
	arg(&a, "--upstream");
	arg(&a, "127.0.0.1:%d,weight=1", ub->port);
	proxy_start(&a);
	for (int i = 0; i < 40; i++) {
		fd = session(&tag);
		count[(uint8_t)tag]++;
		close(fd);
	}
	print_message("weights 3:1 over 40 sessions: A %d, B %d\n", count['A'], count['B']);
	assert_int_equal(count['A'], 30);
	assert_int_equal(count['B'], 10);
	assert_int_equal(SH_GET(ua->sh, accepts), 30);
	assert_int_equal(SH_GET(ub->sh, accepts), 10);
	assert_int_equal(proxy_stop(), 0);
}

/* ---- backpressure ---- */

static void proxy_start_small_pool(int upstream_port)
{
	struct args a;

	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg(&a, "--buf-size");
	arg(&a, "16k");
	arg(&a, "--buf-count");
	arg(&a, "256");
	arg_upstream(&a, upstream_port);
	proxy_start(&a);
}

/* Waits until the upstream's sent count has not moved for 300 ms (at most 5 s). */
static uint64_t wait_send_stalled(struct up_shared *sh)
{
	int64_t deadline = now_ms() + 5000, still = now_ms();
	uint64_t last = SH_GET(sh, sent), v;

	while (now_ms() < deadline && now_ms() - still < 300) {
		usleep(20000);
		v = SH_GET(sh, sent);
		if (v != last) {
			last = v;
			still = now_ms();
		}
	}
	return last;
}

/*
 * A client that does not read, behind which an upstream sends 64 MiB: the
 * upstream is held back and the proxy's RSS grows by at most its buffer
 * pool; then the client reads all 64 MiB, in order.
 */
static void slow_client_reader_bounded(void **state)
{
	struct upstream *u = &ups[0];
	static char buf[65536];
	uint64_t pushed, checked = 0;
	long rss0, rss1;
	size_t extra;
	int fd;

	(void)state;
	up_start(u, UP_FLOOD, 'A', 0);
	proxy_start_small_pool(u->port);
	usleep(100000);
	rss0 = proc_rss_kib(proxy.pid);
	fd = tcp_connect("127.0.0.1", proxy.port);
	assert_true(fd >= 0);
	pushed = wait_send_stalled(u->sh);
	rss1 = proc_rss_kib(proxy.pid);
	print_message("slow client: upstream sent %llu bytes before stalling, proxy RSS %ld -> "
		      "%ld KiB\n",
		      (unsigned long long)pushed, rss0, rss1);
	assert_true(rss0 > 0 && rss1 > 0);
	assert_true(pushed > 0 && pushed < FLOOD_LEN);
	assert_true(rss1 - rss0 < POOL_KIB + RSS_SLACK_KIB);
	while (checked < FLOOD_LEN) {
		ssize_t n;

		if (poll_one(fd, POLLIN, 5000) <= 0)
			fail_msg("stalled at %llu of %llu bytes", (unsigned long long)checked,
				 (unsigned long long)FLOOD_LEN);
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			fail_msg("recv ended at %llu: %zd", (unsigned long long)checked, n);
		if (check_pattern(buf, U2C_SEED, checked, (size_t)n))
			fail_msg("mismatch near byte %llu", (unsigned long long)checked);
		checked += (uint64_t)n;
	}
	assert_int_equal(wait_eof(fd, 3000, &extra), 0);
	assert_int_equal(extra, 0);
	close(fd);
	assert_int_equal(proxy_stop(), 0);
}

/*
 * An upstream that does not read while the client pushes up to 64 MiB: the
 * client is held back and the proxy's RSS grows by at most its buffer pool;
 * then the upstream reads, and gets every byte in order.
 */
static void slow_upstream_reader_bounded(void **state)
{
	struct upstream *u = &ups[0];
	static char buf[65536];
	uint64_t pushed = 0;
	int64_t deadline, stuck;
	long rss0, rss1;
	int fd;

	(void)state;
	up_start(u, UP_STALL_SINK, 'A', 0);
	proxy_start_small_pool(u->port);
	usleep(100000);
	rss0 = proc_rss_kib(proxy.pid);
	fd = tcp_connect("127.0.0.1", proxy.port);
	assert_true(fd >= 0);
	/* Push until the kernel takes nothing for 300 ms, for at most 5 s. */
	deadline = now_ms() + 5000;
	stuck = now_ms();
	while (pushed < FLOOD_LEN && now_ms() < deadline && now_ms() - stuck < 300) {
		size_t n = FLOOD_LEN - pushed < sizeof(buf) ? (size_t)(FLOOD_LEN - pushed)
							    : sizeof(buf);
		ssize_t w;

		fill_pattern(buf, C2U_SEED, pushed, n);
		w = send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			assert_int_equal(errno, EAGAIN);
			poll_one(fd, POLLOUT, 20);
			continue;
		}
		pushed += (uint64_t)w;
		stuck = now_ms();
	}
	usleep(100000);
	rss1 = proc_rss_kib(proxy.pid);
	print_message("slow upstream: client pushed %llu bytes before stalling, proxy RSS %ld -> "
		      "%ld KiB\n",
		      (unsigned long long)pushed, rss0, rss1);
	assert_true(rss0 > 0 && rss1 > 0);
	assert_true(pushed > 0 && pushed < FLOOD_LEN);
	assert_true(rss1 - rss0 < POOL_KIB + RSS_SLACK_KIB);
	/* The upstream reads now; the client sends the rest and its FIN. */
	SH_SET(u->sh, go, 1);
	while (pushed < FLOOD_LEN) {
		size_t n = FLOOD_LEN - pushed < sizeof(buf) ? (size_t)(FLOOD_LEN - pushed)
							    : sizeof(buf);

		fill_pattern(buf, C2U_SEED, pushed, n);
		assert_int_equal(send_all(fd, buf, n, 5000), 0);
		pushed += n;
	}
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	assert_int_equal(up_wait_end(u, 15000), 1);
	assert_int_equal(SH_GET(u->sh, got), FLOOD_LEN);
	assert_int_equal(SH_GET(u->sh, bad), 0);
	close(fd);
	assert_int_equal(proxy_stop(), 0);
}

/* ---- limits and timeouts ---- */

/* --max-conns counts client sessions (not sockets): 4 sessions work, a 5th is closed. */
static void max_conns_counts_sessions(void **state)
{
	struct upstream *u = &ups[0];
	int fds[4], extra, r;
	struct args a;
	char tag;

	(void)state;
	up_start(u, UP_ECHO, 'A', 0);
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg(&a, "--max-conns");
	arg(&a, "4");
	arg_upstream(&a, u->port);
	proxy_start(&a);
	for (int i = 0; i < 4; i++) {
		fds[i] = session(&tag);
		echo_ok(fds[i], 1000);
	}
	extra = tcp_connect("127.0.0.1", proxy.port);
	assert_true(extra >= 0);
	send(extra, "x", 1, MSG_NOSIGNAL);
	r = recv_all(extra, &tag, 1, 3000);
	assert_true(r == -EPIPE || r == -ECONNRESET);
	close(extra);
	for (int i = 0; i < 4; i++) {
		echo_ok(fds[i], 10000);
		close(fds[i]);
	}
	assert_int_equal(SH_GET(u->sh, accepts), 4);
	assert_int_equal(proxy_stop(), 0);
}

/* --idle-timeout: a silent session is closed on both sides; a busy one is left alone. */
static void idle_timeout_closes_pair(void **state)
{
	struct upstream *u = &ups[0];
	int idle, busy;
	struct args a;
	char tag;

	(void)state;
	up_start(u, UP_ECHO, 'A', 0);
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg(&a, "--idle-timeout");
	arg(&a, "300");
	arg_upstream(&a, u->port);
	proxy_start(&a);
	idle = session(&tag);
	busy = session(&tag);
	/* Not closed early: still open 150 ms in. */
	usleep(150000);
	assert_int_equal(poll_one(idle, POLLIN, 0), 0);
	for (int i = 0; i < 8; i++) {
		echo_ok(busy, 100);
		usleep(100000);
	}
	wait_closed(idle, 2000);
	/* The idle session's upstream side is gone too; the busy one's is not. */
	assert_true(up_wait_active(u, 1, 2000));
	echo_ok(busy, 1000);
	close(idle);
	close(busy);
	assert_int_equal(proxy_stop(), 0);
}

/*
 * --half-close-timeout: the client has finished, the upstream (after
 * reading everything) keeps its side open and silent; the proxy ends the
 * pair after the timeout, not before.
 */
static void half_close_timeout(void **state)
{
	struct upstream *u = &ups[0];
	char buf[100];
	struct args a;
	int64_t took;
	int fd;

	(void)state;
	up_start(u, UP_HOLD, 'A', 0);
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg(&a, "--half-close-timeout");
	arg(&a, "300");
	arg_upstream(&a, u->port);
	proxy_start(&a);
	fd = tcp_connect("127.0.0.1", proxy.port);
	assert_true(fd >= 0);
	fill_pattern(buf, C2U_SEED, 0, sizeof(buf));
	assert_int_equal(send_all(fd, buf, sizeof(buf), 1000), 0);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	took = wait_closed(fd, 3000);
	print_message("half-closed pair ended after %lld ms\n", (long long)took);
	assert_true(took >= 250 && took <= 1300);
	assert_int_equal(SH_GET(u->sh, end), 1);
	assert_int_equal(SH_GET(u->sh, got), sizeof(buf));
	close(fd);
	assert_int_equal(proxy_stop(), 0);
}

/* ---- observability and lifecycle ---- */

/*
 * Per-upstream metrics and connections by side, exact for two sessions of
 * 1000 bytes each way; SIGUSR2 prints stats.
 */
static void metrics_per_upstream(void **state)
{
	struct args a;
	int fds[2];
	int64_t deadline;

	(void)state;
	backend_start();
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg_upstream(&a, backend.port);
	proxy_start(&a);
	for (int i = 0; i < 2; i++) {
		fds[i] = tcp_connect("127.0.0.1", proxy.port);
		assert_true(fds[i] >= 0);
		echo_ok(fds[i], 1000);
	}
#define UP_SERIES(name) "ringer_upstream_" name "{upstream=\"127.0.0.1:%d\"}", backend.port
	assert_true(metric(UP_SERIES("up")) == 1);
	assert_true(metric(UP_SERIES("active")) == 2);
	assert_true(metric(UP_SERIES("connects_total")) == 2);
	assert_true(metric(UP_SERIES("connect_failures_total")) == 0);
	assert_true(metric_wait(2000, 2000, UP_SERIES("bytes_out_total")) == 2000);
	assert_true(metric_wait(2000, 2000, UP_SERIES("bytes_in_total")) == 2000);
	assert_true(metric("ringer_connections_by_side{side=\"client\",state=\"ESTABLISHED\"}") ==
		    2);
	assert_true(metric("ringer_connections_by_side{side=\"upstream\",state=\"ESTABLISHED\"}") ==
		    2);
	kill(proxy.pid, SIGUSR2);
	deadline = now_ms() + 3000;
	while (now_ms() < deadline && !strstr(proxy.out, "ringer stats")) {
		usleep(20000);
		proc_drain(&proxy);
	}
	assert_non_null(strstr(proxy.out, "ringer stats"));
	for (int i = 0; i < 2; i++)
		close(fds[i]);
	assert_true(metric_wait(0, 3000, UP_SERIES("active")) == 0);
	assert_true(
		metric_wait(
			0, 3000,
			"ringer_connections_by_side{side=\"upstream\",state=\"ESTABLISHED\"}") ==
		0);
#undef UP_SERIES
	assert_int_equal(proxy_stop(), 0);
	assert_int_equal(backend_stop(), 0);
}

/* SIGTERM with a session open: the client's connection ends, exit status 0. */
static void graceful_stop(void **state)
{
	struct upstream *u = &ups[0];
	struct args a;
	int fd, status;
	char tag;

	(void)state;
	up_start(u, UP_ECHO, 'A', 0);
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	arg(&a, "--drain-timeout");
	arg(&a, "1000");
	arg_upstream(&a, u->port);
	proxy_start(&a);
	fd = session(&tag);
	echo_ok(fd, 1000);
	kill(proxy.pid, SIGTERM);
	wait_closed(fd, 3000);
	status = proc_wait(&proxy, STOP_MS);
	assert_int_equal(ringer_exit_check(&proxy, status, 0, 0), 0);
	close(fd);
}

/* 64 upstreams are allowed (the limit); the proxy starts and stops cleanly. */
static void sixty_four_upstreams(void **state)
{
	struct args a;

	(void)state;
	proxy_args(&a);
	arg(&a, "--shards");
	arg(&a, "1");
	for (int i = 0; i < 64; i++) {
		arg(&a, "--upstream");
		arg(&a, "127.0.1.%d:9", i + 1);
	}
	proxy_start(&a);
	assert_int_equal(proxy_stop(), 0);
}

/* Bad flags: exit status 2, the flag named on stderr, no listener. */
static void bad_flags_exit_2(void **state)
{
	static const struct {
		const char *args[6];
		const char *names; /* on stderr: this, or (after '|') that */
	} cases[] = {
		{{"--upstream", "127.0.0.1:1", "--balance", "random"}, "--balance"},
		{{"--upstream", "127.0.0.1:1", "--balance"}, "--balance"},
		{{"--upstream", "127.0.0.1"}, "--upstream"},
		{{"--upstream", "127.0.0.1:"}, "--upstream"},
		{{"--upstream", "127.0.0.1:0"}, "--upstream"},
		{{"--upstream", "[::1"}, "--upstream"},
		{{"--upstream", "127.0.0.1:1,weight=0"}, "--upstream|weight"},
		{{"--upstream", "127.0.0.1:1,weight=x"}, "--upstream|weight"},
		{{"--upstream", "127.0.0.1:1,wieght=2"}, "--upstream|wieght"},
		{{"--upstream", "127.0.0.1:1", "--connect-retries", "-1"}, "--connect-retries"},
		{{"--upstream", "127.0.0.1:1", "--connect-timeout", "soon"}, "--connect-timeout"},
		{{"--upstream", "127.0.0.1:1", "--fail-threshold", "x"}, "--fail-threshold"},
		{{"--upstream", "127.0.0.1:1", "--down-time", "-5"}, "--down-time"},
		{{"--upstream", "127.0.0.1:1", "--half-close-timeout", "x"},
		 "--half-close-timeout"},
		{{"--upstream", "no.such.host.invalid:80"}, "--upstream|no.such.host.invalid"},
		{{NULL}, "--upstream"},
		{{"--upstream", "127.0.0.1:1", "--idle-timeout", "x"}, "--idle-timeout"},
	};
	const char *bin = harness_bin("RINGER_BIN");

	(void)state;
	for (size_t i = 0; i <= sizeof(cases) / sizeof(cases[0]); i++) {
		struct args a;
		struct proc p;
		char names[64], *alt, line[256] = "";
		int status;

		memset(&a, 0, sizeof(a));
		arg(&a, "%s", bin);
		arg(&a, "--mode");
		arg(&a, "proxy");
		arg(&a, "--listen");
		arg(&a, "127.0.0.1:0");
		if (i < sizeof(cases) / sizeof(cases[0])) {
			for (int k = 0; cases[i].args[k]; k++)
				arg(&a, "%s", cases[i].args[k]);
			snprintf(names, sizeof(names), "%s", cases[i].names);
		} else {
			/* One upstream too many. */
			for (int k = 0; k < 65; k++) {
				arg(&a, "--upstream");
				arg(&a, "127.0.1.%d:9", k + 1);
			}
			snprintf(names, sizeof(names), "--upstream");
		}
		assert_int_equal(proc_start(&p, a.v, false, 0), 0);
		status = proc_wait(&p, 10000);
		alt = strchr(names, '|');
		if (alt)
			*alt++ = 0;
		for (int k = 5; k < a.n && k < 11; k++) {
			strncat(line, " ", sizeof(line) - strlen(line) - 1);
			strncat(line, a.v[k], sizeof(line) - strlen(line) - 1);
		}
		if (status != 2 || (!strstr(p.err, names) && !(alt && strstr(p.err, alt))))
			fail_msg("case %zu (%s): exit %d, stderr: %s", i, line, status, p.err);
		assert_null(strstr(p.out, "listening"));
		proc_stop(&p, SIGKILL, 100);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(relay_1_byte, teardown),
		cmocka_unit_test_teardown(relay_4_kib, teardown),
		cmocka_unit_test_teardown(relay_1_mib, teardown),
		cmocka_unit_test_teardown(relay_64_mib, teardown),
		cmocka_unit_test_teardown(relay_ipv6, teardown),
		cmocka_unit_test_teardown(thousand_sessions, teardown),
		cmocka_unit_test_teardown(early_bytes_held_until_connected, teardown),
		cmocka_unit_test_teardown(client_half_close_full_reply, teardown),
		cmocka_unit_test_teardown(upstream_half_close_client_continues, teardown),
		cmocka_unit_test_teardown(client_reset_mid_stream, teardown),
		cmocka_unit_test_teardown(upstream_reset_mid_stream, teardown),
		cmocka_unit_test_teardown(refusing_upstream_retried, teardown),
		cmocka_unit_test_teardown(black_hole_connect_timeout, teardown),
		cmocka_unit_test_teardown(all_down_closed_at_once, teardown),
		cmocka_unit_test_teardown(one_of_three_down_then_revived, teardown),
		cmocka_unit_test_teardown(leastconn_prefers_fewer_active, teardown),
		cmocka_unit_test_teardown(source_hash_sticky, teardown),
		cmocka_unit_test_teardown(weighted_round_robin, teardown),
		cmocka_unit_test_teardown(slow_client_reader_bounded, teardown),
		cmocka_unit_test_teardown(slow_upstream_reader_bounded, teardown),
		cmocka_unit_test_teardown(max_conns_counts_sessions, teardown),
		cmocka_unit_test_teardown(idle_timeout_closes_pair, teardown),
		cmocka_unit_test_teardown(half_close_timeout, teardown),
		cmocka_unit_test_teardown(metrics_per_upstream, teardown),
		cmocka_unit_test_teardown(graceful_stop, teardown),
		cmocka_unit_test_teardown(sixty_four_upstreams, teardown),
		cmocka_unit_test(bad_flags_exit_2),
	};

	signal(SIGPIPE, SIG_IGN);
	raise_nofile(16384);
	return cmocka_run_group_tests_name("proxy", tests, NULL, NULL);
}
