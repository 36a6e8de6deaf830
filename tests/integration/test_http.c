// SPDX-License-Identifier: MIT
/*
 * Integration tests of `ringer --mode http`: each test starts the real
 * binary on 127.0.0.1 with an ephemeral port, talks to it with curl, wrk or
 * raw sockets, and stops it by PID with SIGTERM, expecting exit status 0.
 *
 * Raw-socket tests read responses back with the small strict reader below
 * rather than trusting a client library: every response must be a status
 * line, CRLF-terminated headers and exactly Content-Length body bytes, so a
 * server that sent one byte too many or too few makes the next response in
 * a pipeline fail to parse.
 */
/* _GNU_SOURCE (strptime, timegm, memmem, strcasestr) comes from the build. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define START_MS 5000
#define STOP_MS	 8000
#define IO_MS	 5000 /* deadline of one exchange on a socket */

static const char hello[] = "Hello, World!";

static struct proc srv;

/* Starts ringer --mode http --shards 1 with the given extra flags (NULL-terminated). */
static void start_http(const char *first, ...)
{
	char *argv[32];
	int n = 0;
	va_list ap;
	const char *a;

	argv[n++] = (char *)harness_bin("RINGER_BIN");
	argv[n++] = "--mode";
	argv[n++] = "http";
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--shards";
	argv[n++] = "1";
	va_start(ap, first);
	for (a = first; a && n < 30; a = va_arg(ap, const char *))
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	assert_int_equal(proc_start(&srv, argv, true, START_MS), 0);
}

/*
 * SIGTERM by PID: the server drains and must exit 0, with no illegal TCP
 * transition and no stale completion in its final dump, and no sanitizer report.
 */
static void stop_http(void)
{
	assert_int_equal(ringer_stop(&srv, SIGTERM, STOP_MS, 0), 0);
}

static int teardown(void **state)
{
	(void)state;
	if (srv.pid > 0)
		proc_stop(&srv, SIGKILL, 2000);
	return 0;
}

static int connect_srv(void)
{
	int fd = tcp_connect("127.0.0.1", srv.port);

	assert_true(fd >= 0);
	return fd;
}

/* ---- a strict response reader ----------------------------------------------------------- */

struct reader {
	int fd;
	size_t off, len;
	char buf[1 << 16];
};

struct response {
	int status;
	int minor;
	char head[8192]; /* status line and headers, NUL-terminated, final CRLF excluded */
	long long content_length;
	char *body; /* malloc'd; body_len bytes */
	size_t body_len;
	bool chunked;	 /* the body came chunked */
	unsigned chunks; /* ... in this many data chunks */
	/* read_echo(): body bytes checked against pattern_byte(seed, i), not kept */
	bool check;
	uint64_t seed;
	long long bad_at; /* the first byte that differed, or -1 */
};

static void reader_init(struct reader *r, int fd)
{
	r->fd = fd;
	r->off = r->len = 0;
}

/* Reads more into the buffer. 0, -EPIPE on EOF, -ETIMEDOUT, or -errno. */
static int reader_fill(struct reader *r, int64_t deadline)
{
	ssize_t n;

	if (r->off) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (r->len == sizeof(r->buf))
		return -ENOBUFS;
	for (;;) {
		struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
		int64_t left = deadline - now_ms();

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			return -errno;
		n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, MSG_DONTWAIT);
		if (n > 0) {
			r->len += (size_t)n;
			return 0;
		}
		if (n == 0)
			return -EPIPE;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

/* The value of header name in a response head, or NULL; *len gets its length. */
static const char *header(const struct response *m, const char *name, size_t *len)
{
	size_t nl = strlen(name);
	const char *line = strstr(m->head, "\r\n");

	while (line) {
		const char *end;

		line += 2;
		end = strstr(line, "\r\n");
		if (!end)
			end = line + strlen(line);
		if ((size_t)(end - line) > nl && line[nl] == ':' && !strncasecmp(line, name, nl)) {
			const char *v = line + nl + 1;

			while (*v == ' ')
				v++;
			*len = (size_t)(end - v);
			return v;
		}
		line = *end ? end : NULL;
	}
	return NULL;
}

static bool header_is(const struct response *m, const char *name, const char *want)
{
	size_t len;
	const char *v = header(m, name, &len);

	return v && len == strlen(want) && !strncasecmp(v, want, len);
}

static void response_free(struct response *m)
{
	free(m->body);
	m->body = NULL;
}

/*
 * Appends n bytes of the reader's input to m->body (grown as needed), or with
 * m->check compares them with the pattern and only counts them.
 */
static int body_append(struct reader *r, struct response *m, size_t n, size_t *cap)
{
	if (m->check) {
		for (size_t i = 0; i < n && m->bad_at < 0; i++)
			if ((uint8_t)r->buf[r->off + i] != pattern_byte(m->seed, m->body_len + i))
				m->bad_at = (long long)(m->body_len + i);
		r->off += n;
		m->body_len += n;
		return 0;
	}
	if (m->body_len + n + 1 > *cap) {
		char *b;

		*cap = (m->body_len + n + 1) * 2;
		b = realloc(m->body, *cap);
		if (!b)
			return -ENOMEM;
		m->body = b;
	}
	memcpy(m->body + m->body_len, r->buf + r->off, n);
	r->off += n;
	m->body_len += n;
	m->body[m->body_len] = 0;
	return 0;
}

/* One CRLF-terminated line of at most 4 KiB (CRLF excluded) into line. */
static int read_line(struct reader *r, char *line, int64_t deadline)
{
	const char *end;
	int ret;

	while (!(end = memmem(r->buf + r->off, r->len - r->off, "\r\n", 2))) {
		if (r->len - r->off > 4096)
			return -EBADMSG;
		ret = reader_fill(r, deadline);
		if (ret)
			return ret;
	}
	if ((size_t)(end - (r->buf + r->off)) > 4096)
		return -EBADMSG;
	memcpy(line, r->buf + r->off, (size_t)(end - (r->buf + r->off)));
	line[end - (r->buf + r->off)] = 0;
	r->off = (size_t)(end - r->buf) + 2;
	return 0;
}

/*
 * A chunked body, strictly: "HEX CRLF data CRLF" chunks, each at least a byte,
 * then "0 CRLF" and the empty line (no trailers from ringer). m->content_length
 * becomes the decoded length; m->chunks counts the data chunks.
 */
static int read_chunked(struct reader *r, struct response *m, int64_t deadline)
{
	size_t cap = 0;
	char line[4100], *end;
	int ret;

	for (;;) {
		unsigned long long size;

		ret = read_line(r, line, deadline);
		if (ret)
			return ret;
		size = strtoull(line, &end, 16);
		if (end == line || *end || size > (64ull << 20))
			return -EBADMSG;
		if (!size)
			break;
		m->chunks++;
		while (size) {
			size_t n = r->len - r->off;

			if (!n) {
				r->off = r->len = 0;
				ret = reader_fill(r, deadline);
				if (ret)
					return ret;
				continue;
			}
			if (n > size)
				n = (size_t)size;
			ret = body_append(r, m, n, &cap);
			if (ret)
				return ret;
			size -= n;
		}
		ret = read_line(r, line, deadline);
		if (ret)
			return ret;
		if (line[0])
			return -EBADMSG;
	}
	ret = read_line(r, line, deadline);
	if (ret)
		return ret;
	if (line[0])
		return -EBADMSG; /* a trailer */
	if (!m->body && !m->check) {
		m->body = calloc(1, 1);
		if (!m->body)
			return -ENOMEM;
	}
	m->content_length = (long long)m->body_len;
	return 0;
}

static int read_response_ex(struct reader *r, struct response *m, bool head_req, bool chunked_ok,
			    int timeout_ms);

/*
 * Reads one response: the head up to the empty line, then Content-Length body
 * bytes unless it answers a HEAD. Returns 0 or a negative errno (-EBADMSG for
 * anything malformed). The caller frees with response_free().
 */
static int read_response(struct reader *r, struct response *m, bool head_req, int timeout_ms)
{
	return read_response_ex(r, m, head_req, false, timeout_ms);
}

/* The same; with chunked_ok, a chunked body (--echo-body's answer to one) is read too. */
static int read_response_ex(struct reader *r, struct response *m, bool head_req, bool chunked_ok,
			    int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	const char *end;
	size_t head_len, got = 0;
	char *endp;
	size_t vlen;
	const char *v;
	int ret;

	memset(m, 0, sizeof(*m));
	while (!(end = memmem(r->buf + r->off, r->len - r->off, "\r\n\r\n", 4))) {
		if (r->len - r->off >= sizeof(m->head))
			return -EBADMSG;
		ret = reader_fill(r, deadline);
		if (ret)
			return ret;
	}
	head_len = (size_t)(end - (r->buf + r->off));
	if (head_len >= sizeof(m->head) || memchr(r->buf + r->off, 0, head_len))
		return -EBADMSG;
	memcpy(m->head, r->buf + r->off, head_len);
	m->head[head_len] = 0;
	r->off += head_len + 4;
	if (sscanf(m->head, "HTTP/1.%1d %3d ", &m->minor, &m->status) != 2 || m->status < 100)
		return -EBADMSG;
	/* Every header line is "Name: value" and no line is a bare LF. */
	for (const char *p = strstr(m->head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		const char *colon = strchr(p + 2, ':');
		const char *next = strstr(p + 2, "\r\n");

		if (!colon || (next && colon > next) || colon == p + 2)
			return -EBADMSG;
	}
	for (const char *p = m->head; (p = strchr(p, '\n')); p++)
		if (p == m->head || p[-1] != '\r')
			return -EBADMSG;
	v = header(m, "Transfer-Encoding", &vlen);
	if (v) {
		/* Only an echo of a chunked body is chunked, and then nothing says a length. */
		if (!chunked_ok || !header_is(m, "Transfer-Encoding", "chunked") ||
		    header(m, "Content-Length", &vlen))
			return -EBADMSG;
		m->chunked = true;
		return head_req ? 0 : read_chunked(r, m, deadline);
	}
	v = header(m, "Content-Length", &vlen);
	if (!v)
		return -EBADMSG; /* every ringer response has one */
	m->content_length = strtoll(v, &endp, 10);
	/* A body kept in memory is at most 64 MiB; read_echo() checks larger ones as they come. */
	if (endp != v + vlen || m->content_length < 0 ||
	    (!head_req && m->content_length > (64ll << 20)))
		return -EBADMSG;
	if (head_req)
		return 0;
	m->body_len = (size_t)m->content_length;
	m->body = malloc(m->body_len + 1);
	if (!m->body)
		return -ENOMEM;
	while (got < m->body_len) {
		size_t n = r->len - r->off;

		if (!n) {
			r->off = r->len = 0;
			ret = reader_fill(r, deadline);
			if (ret)
				return ret;
			continue;
		}
		if (n > m->body_len - got)
			n = m->body_len - got;
		memcpy(m->body + got, r->buf + r->off, n);
		r->off += n;
		got += n;
	}
	m->body[m->body_len] = 0;
	return 0;
}

/* Nothing more was sent and the server closed: EOF within the deadline. */
static void expect_eof(struct reader *r)
{
	size_t extra = 0;

	assert_int_equal(r->len - r->off, 0);
	assert_int_equal(wait_eof(r->fd, IO_MS, &extra), 0);
	assert_int_equal(extra, 0);
}

/* The connection stays open: nothing arrives, no EOF, for a moment. */
static void expect_open(int fd)
{
	struct pollfd pfd = {.fd = fd, .events = POLLIN};

	assert_int_equal(poll(&pfd, 1, 100), 0);
}

/* Date is an IMF-fixdate (RFC 9110 5.6.7); returns its time. */
static time_t date_of(const struct response *m)
{
	char date[64];
	struct tm tm;
	const char *end;
	size_t len;
	const char *v = header(m, "Date", &len);
	time_t t;

	assert_non_null(v);
	assert_int_equal(len, 29);
	memcpy(date, v, len);
	date[len] = 0;
	memset(&tm, 0, sizeof(tm));
	end = strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	assert_non_null(end);
	assert_int_equal(*end, 0);
	/* strptime accepts one-digit fields; IMF-fixdate has fixed positions. */
	assert_true(date[3] == ',' && date[4] == ' ' && date[7] == ' ' && date[11] == ' ' &&
		    date[16] == ' ' && date[19] == ':' && date[22] == ':');
	t = timegm(&tm);
	return t;
}

/* ... and within a few seconds of now. */
static time_t check_date(const struct response *m)
{
	time_t t = date_of(m);

	assert_true(llabs((long long)(t - time(NULL))) <= 3);
	return t;
}

/* A 200 to GET (or HEAD) with the default body and every header we promise. */
static void check_ok(const struct response *m, bool head_req, int keep)
{
	assert_int_equal(m->status, 200);
	assert_int_equal(m->minor, 1);
	assert_non_null(strstr(m->head, "HTTP/1.1 200 OK\r\n"));
	assert_true(header_is(m, "Server", "ringer"));
	assert_true(header_is(m, "Content-Type", "text/plain"));
	assert_int_equal(m->content_length, 13);
	check_date(m);
	if (head_req) {
		assert_null(m->body);
	} else {
		assert_int_equal(m->body_len, 13);
		assert_memory_equal(m->body, hello, 13);
	}
	if (keep == 11) {
		size_t len;

		assert_null(header(m, "Connection", &len));
	} else if (keep == 10) {
		assert_true(header_is(m, "Connection", "keep-alive"));
	} else {
		assert_true(header_is(m, "Connection", "close"));
	}
}

/* Kinds of request the pipeline tests mix, and what each must get back. */
enum req_kind { REQ_GET, REQ_HEAD, REQ_POST, REQ_PUT, REQ_DELETE, REQ_CHUNKED, REQ_KINDS };

static size_t format_request(char *out, size_t cap, enum req_kind k, int i)
{
	switch (k) {
	case REQ_GET:
		return (size_t)snprintf(out, cap, "GET /g/%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
	case REQ_HEAD:
		return (size_t)snprintf(out, cap, "HEAD /h/%d HTTP/1.1\r\nHost: t\r\n\r\n", i);
	case REQ_POST:
		return (size_t)snprintf(
			out, cap,
			"POST /p/%d HTTP/1.1\r\nHost: t\r\nContent-Length: 17\r\n\r\n"
			"GET / HTTP/1.1\r\n\r",
			i);
	case REQ_PUT:
		return (size_t)snprintf(
			out, cap, "PUT /u/%d HTTP/1.1\r\nHost: x\r\ncontent-length: 5\r\n\r\nabcde",
			i);
	case REQ_DELETE:
		return (size_t)snprintf(out, cap, "DELETE /d/%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
	case REQ_CHUNKED:
		return (size_t)snprintf(
			out, cap,
			"POST /c/%d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
			"5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n"
			"0\r\nTrailer: x\r\n\r\n",
			i);
	default:
		return 0;
	}
}

static void check_kind(const struct response *m, enum req_kind k)
{
	size_t len;

	switch (k) {
	case REQ_GET:
		check_ok(m, false, 11);
		break;
	case REQ_HEAD:
		check_ok(m, true, 11);
		break;
	default:
		assert_int_equal(m->status, 405);
		assert_true(header_is(m, "Allow", "GET, HEAD"));
		assert_null(header(m, "Connection", &len));
		check_date(m);
		assert_int_equal(m->body_len, (size_t)m->content_length);
		break;
	}
}

/* Sends a buffer in a thread, so a test can read responses while a long pipeline goes out. */
struct sender {
	pthread_t thread;
	int fd;
	const char *buf;
	size_t len;
	int ret;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;

	s->ret = send_all(s->fd, s->buf, s->len, 20000);
	return NULL;
}

static void sender_start(struct sender *s, int fd, const char *buf, size_t len)
{
	s->fd = fd;
	s->buf = buf;
	s->len = len;
	s->ret = -1;
	assert_int_equal(pthread_create(&s->thread, NULL, sender_main, s), 0);
}

static int sender_join(struct sender *s)
{
	pthread_join(s->thread, NULL);
	return s->ret;
}

/* One GET on fd answered correctly (keep-alive). */
static void get_ok(struct reader *r)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	struct response m;

	assert_int_equal(send_all(r->fd, req, sizeof(req) - 1, IO_MS), 0);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	check_ok(&m, false, 11);
	response_free(&m);
}

/* ---- curl ------------------------------------------------------------------------------- */

/* Runs a shell command (bounded by timeout(1)), returns its output (malloc'd) and status. */
static char *run_cmd(const char *cmd, int *status)
{
	size_t cap = 1 << 20, len = 0;
	char *out = malloc(cap);
	FILE *f = popen(cmd, "r");
	size_t n;

	assert_non_null(out);
	assert_non_null(f);
	while (len + 1 < cap && (n = fread(out + len, 1, cap - 1 - len, f)) > 0)
		len += n;
	out[len] = 0;
	*status = pclose(f);
	return out;
}

/*
 * Slowloris: a client that trickles its header section one byte at a time
 * is answered 408 and closed once --header-timeout has passed since the
 * request's first byte, however recently its last byte came; a keep-alive
 * connection idle between requests is not timed, and the header_timeouts
 * counter says what happened.
 */
static void header_timeout_408(void **state)
{
	static const char head[] = "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ";
	struct reader *r = calloc(1, sizeof(*r));
	struct reader *idle = calloc(1, sizeof(*idle));
	struct response m;
	int64_t t0;
	int fd, fd_idle;

	(void)state;
	assert_non_null(r);
	assert_non_null(idle);
	start_http("--header-timeout", "1000", NULL);
	fd_idle = connect_srv();
	reader_init(idle, fd_idle);
	get_ok(idle);
	fd = connect_srv();
	reader_init(r, fd);
	t0 = now_ms();
	assert_int_equal(send_all(fd, head, sizeof(head) - 1, IO_MS), 0);
	/* One byte every 200 ms: the connection is never idle for long. */
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		if (poll(&pfd, 1, 200) == 1)
			break;
		assert_true(now_ms() - t0 < 4000);
		if (send(fd, "a", 1, MSG_NOSIGNAL) != 1)
			break;
	}
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	assert_int_equal(m.status, 408);
	assert_true(now_ms() - t0 >= 900);
	assert_true(now_ms() - t0 < 3500);
	response_free(&m);
	/* Then the close (after the lingering read, the peer's bytes dropped). */
	shutdown(fd, SHUT_WR);
	expect_eof(r);
	close(fd);
	/* The keep-alive connection that sat idle past the timeout still works. */
	get_ok(idle);
	close(fd_idle);
	assert_int_equal(proc_stat(&srv, "header_timeouts"), 1);
	stop_http();
	free(r);
	free(idle);
}

/*
 * A slow POST: a body trickled below --body-min-rate is answered 408 once
 * the deadline it earns runs out, and counted as body_timeouts; a body that
 * keeps the rate, however long, is served.
 */
static void body_min_rate_408(void **state)
{
	static const char head[] = "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n";
	static const char fast_head[] =
		"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 8000\r\n\r\n";
	static char piece[400];
	struct reader *r = calloc(1, sizeof(*r));
	struct response m;
	int64_t t0;
	int fd;

	(void)state;
	assert_non_null(r);
	memset(piece, 'b', sizeof(piece));
	start_http("--body-timeout", "1000", "--body-min-rate", "1000", "--methods", "GET", NULL);

	/* 2000 bytes/s for 4 s: well past --body-timeout, never below the rate. */
	fd = connect_srv();
	reader_init(r, fd);
	assert_int_equal(send_all(fd, fast_head, sizeof(fast_head) - 1, IO_MS), 0);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(send_all(fd, piece, sizeof(piece), IO_MS), 0);
		usleep(200 * 1000);
	}
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	assert_int_equal(m.status, 405);
	response_free(&m);
	close(fd);

	/* 500 bytes/s: the deadline gains 0.5 s a second and is met after about 2 s. */
	fd = connect_srv();
	reader_init(r, fd);
	t0 = now_ms();
	assert_int_equal(send_all(fd, head, sizeof(head) - 1, IO_MS), 0);
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		if (poll(&pfd, 1, 200) == 1)
			break;
		assert_true(now_ms() - t0 < 8000);
		if (send(fd, piece, 100, MSG_NOSIGNAL) != 100)
			break;
	}
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	assert_int_equal(m.status, 408);
	assert_true(now_ms() - t0 >= 1500);
	response_free(&m);
	close(fd);
	assert_int_equal(proc_stat(&srv, "body_timeouts"), 1);
	assert_int_equal(proc_stat(&srv, "header_timeouts"), 0);
	stop_http();
	free(r);
}

/*
 * A graceful stop tells keep-alive clients to go: a request that arrives
 * while ringer drains is answered with Connection: close and the close, so
 * the client reconnects elsewhere instead of meeting a reset at the deadline.
 */
static void drain_answers_connection_close(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct reader *r = calloc(1, sizeof(*r));
	struct response m;
	int64_t t0;
	int fd;

	(void)state;
	assert_non_null(r);
	start_http("--drain-timeout", "5000", NULL);
	fd = connect_srv();
	reader_init(r, fd);
	get_ok(r);
	kill(srv.pid, SIGTERM);
	/* A busy client (a request every 20 ms): never quiet long enough for a drain's FIN. */
	t0 = now_ms();
	for (;;) {
		bool closing;

		assert_true(now_ms() - t0 < 2000);
		assert_int_equal(send_all(fd, req, sizeof(req) - 1, IO_MS), 0);
		assert_int_equal(read_response(r, &m, false, IO_MS), 0);
		assert_int_equal(m.status, 200);
		closing = header_is(&m, "Connection", "close");
		response_free(&m);
		if (closing)
			break;
		usleep(20 * 1000);
	}
	expect_eof(r);
	close(fd);
	assert_int_equal(ringer_exit_check(&srv, proc_wait(&srv, 3000), 0, 0), 0);
	free(r);
}

static void curl_http_11(void **state)
{
	char cmd[256], *out;
	int status;

	(void)state;
	start_http(NULL);
	snprintf(cmd, sizeof(cmd),
		 "timeout 10 curl -sS -i --max-time 5 --http1.1 http://127.0.0.1:%d/", srv.port);
	out = run_cmd(cmd, &status);
	assert_int_equal(status, 0);
	assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(out, "\r\nServer: ringer\r\n"));
	assert_non_null(strstr(out, "\r\nContent-Length: 13\r\n"));
	assert_non_null(strstr(out, "\r\nContent-Type: text/plain\r\n"));
	assert_non_null(strstr(out, "\r\nDate: "));
	assert_null(strcasestr(out, "\r\nConnection:"));
	assert_non_null(strstr(out, "\r\n\r\nHello, World!"));
	assert_string_equal(strstr(out, "\r\n\r\n") + 4, hello);
	free(out);

	/* Two URLs, one connection: curl reuses it (keep-alive by default in 1.1). */
	snprintf(cmd, sizeof(cmd),
		 "timeout 10 curl -sS -v --max-time 5 http://127.0.0.1:%d/ "
		 "http://127.0.0.1:%d/x 2>&1",
		 srv.port, srv.port);
	out = run_cmd(cmd, &status);
	assert_int_equal(status, 0);
	assert_non_null(strstr(out, "Re-using existing connection"));
	assert_non_null(strstr(strstr(out, "Re-using"), "Hello, World!"));
	free(out);
	stop_http();
}

static void curl_http_10(void **state)
{
	char cmd[256], *out;
	int status;

	(void)state;
	start_http(NULL);
	snprintf(cmd, sizeof(cmd), "timeout 10 curl -sS -i -0 --max-time 5 http://127.0.0.1:%d/",
		 srv.port);
	out = run_cmd(cmd, &status);
	assert_int_equal(status, 0);
	assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(out, "\r\nServer: ringer\r\n"));
	assert_non_null(strstr(out, "\r\nContent-Length: 13\r\n"));
	assert_non_null(strstr(out, "\r\nConnection: close\r\n"));
	assert_string_equal(strstr(out, "\r\n\r\n") + 4, hello);
	free(out);

	/* HTTP/1.0 asking for keep-alive gets it: curl reuses the connection. */
	snprintf(cmd, sizeof(cmd),
		 "timeout 10 curl -sS -v -0 -H 'Connection: keep-alive' --max-time 5 "
		 "http://127.0.0.1:%d/ http://127.0.0.1:%d/ 2>&1",
		 srv.port, srv.port);
	out = run_cmd(cmd, &status);
	assert_int_equal(status, 0);
	assert_non_null(strstr(out, "< Connection: keep-alive"));
	assert_non_null(strstr(out, "Re-using existing connection"));
	free(out);
	stop_http();
}

/* ---- connection handling ---------------------------------------------------------------- */

/* HTTP/1.0 closes unless asked not to; HTTP/1.1 "Connection: close" closes too. */
static void connection_close_rules(void **state)
{
	static const char *const closing[] = {
		"GET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n",
		/* Whatever follows the closing request is ignored. */
		"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	static const char keep10[] = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
	struct reader *r = malloc(sizeof(*r));
	struct response m;
	int fd;

	(void)state;
	assert_non_null(r);
	start_http(NULL);
	for (size_t i = 0; i < sizeof(closing) / sizeof(closing[0]); i++) {
		fd = connect_srv();
		reader_init(r, fd);
		assert_int_equal(send_all(fd, closing[i], strlen(closing[i]), IO_MS), 0);
		assert_int_equal(read_response(r, &m, false, IO_MS), 0);
		check_ok(&m, false, 0);
		response_free(&m);
		expect_eof(r);
		close(fd);
	}

	/* HTTP/1.0 with keep-alive: three requests, one connection, still open after. */
	fd = connect_srv();
	reader_init(r, fd);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(send_all(fd, keep10, sizeof(keep10) - 1, IO_MS), 0);
		assert_int_equal(read_response(r, &m, false, IO_MS), 0);
		check_ok(&m, false, 10);
		response_free(&m);
	}
	expect_open(fd);
	/* ... and a HEAD in 1.0 keep-alive, then a plain 1.0 GET that closes. */
	{
		static const char two[] = "HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
					  "GET / HTTP/1.0\r\n\r\n";

		assert_int_equal(send_all(fd, two, sizeof(two) - 1, IO_MS), 0);
	}
	assert_int_equal(read_response(r, &m, true, IO_MS), 0);
	check_ok(&m, true, 10);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	check_ok(&m, false, 0);
	response_free(&m);
	expect_eof(r);
	close(fd);
	free(r);
	stop_http();
}

/* ---- pipelining ------------------------------------------------------------------------- */

static void pipelined_100_gets(void **state)
{
	enum { N = 100 };
	struct reader *r = malloc(sizeof(*r));
	char *req = malloc(N * 64);
	size_t len = 0;
	struct response m;
	int fd;

	(void)state;
	assert_non_null(r);
	assert_non_null(req);
	start_http(NULL);
	for (int i = 0; i < N; i++)
		len += format_request(req + len, 64, REQ_GET, i);
	fd = connect_srv();
	reader_init(r, fd);
	/* One send: the kernel takes all of it at once (a few KiB). */
	assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	for (int i = 0; i < N; i++) {
		assert_int_equal(read_response(r, &m, false, IO_MS), 0);
		check_ok(&m, false, 11);
		response_free(&m);
	}
	/* Exactly N: nothing more is pending, and the connection is still usable. */
	assert_int_equal(r->len - r->off, 0);
	expect_open(fd);
	get_ok(r);
	close(fd);
	free(req);
	free(r);
	stop_http();
}

/* Builds a mixed pipeline of n requests; kinds[i] says what request i is. */
static size_t mixed_pipeline(char *out, size_t cap, enum req_kind *kinds, int n, unsigned seed)
{
	size_t len = 0;

	for (int i = 0; i < n; i++) {
		/* Runs of equal kinds of varying length, the way the server groups them. */
		if (i == 0 || rand_r(&seed) % 4 == 0)
			kinds[i] = (enum req_kind)(rand_r(&seed) % REQ_KINDS);
		else
			kinds[i] = kinds[i - 1];
		assert_true(cap - len > 512);
		len += format_request(out + len, cap - len, kinds[i], i);
	}
	return len;
}

static void read_mixed(struct reader *r, const enum req_kind *kinds, int n)
{
	struct response m;

	for (int i = 0; i < n; i++) {
		int ret = read_response(r, &m, kinds[i] == REQ_HEAD, IO_MS);

		if (ret)
			fail_msg("response %d of %d (kind %d): %d", i, n, kinds[i], ret);
		check_kind(&m, kinds[i]);
		response_free(&m);
	}
}

/*
 * GET, HEAD, POST/PUT/DELETE with bodies (405, body consumed) and chunked
 * POSTs, mixed, sent cut at every kind of awkward point: one byte at a time,
 * at random offsets, and inside CRLFs. Every response comes back, in order.
 */
static void pipelined_mixed_split(void **state)
{
	enum { N = 60 };
	struct reader *r = malloc(sizeof(*r));
	enum req_kind kinds[N];
	char *req = malloc(N * 256);
	size_t len;
	int fd;

	(void)state;
	assert_non_null(r);
	assert_non_null(req);
	start_http("--methods", "GET,HEAD", NULL);
	for (unsigned round = 0; round < 6; round++) {
		len = mixed_pipeline(req, N * 256, kinds, N, round + 1);
		fd = connect_srv();
		reader_init(r, fd);
		if (round == 0) {
			/* All in one send. */
			assert_int_equal(send_all(fd, req, len, IO_MS), 0);
		} else if (round == 1) {
			/* One byte per send, the first few requests only (it is slow). */
			char scratch[512];
			size_t part = 0;

			for (int i = 0; i < 8; i++)
				part += format_request(scratch, sizeof(scratch), kinds[i], i);
			for (size_t i = 0; i < part; i++) {
				assert_int_equal(send_all(fd, req + i, 1, IO_MS), 0);
				if (i % 16 == 0)
					usleep(200);
			}
			read_mixed(r, kinds, 8);
			close(fd);
			continue;
		} else if (round == 2) {
			/* Cut right after every CR, so each CRLF is split. */
			size_t from = 0;

			for (size_t i = 0; i < len; i++) {
				if (req[i] != '\r')
					continue;
				assert_int_equal(send_all(fd, req + from, i + 1 - from, IO_MS), 0);
				from = i + 1;
				usleep(100);
			}
			assert_int_equal(send_all(fd, req + from, len - from, IO_MS), 0);
		} else {
			/* Random cuts, 1..97 bytes apart. */
			unsigned seed = round * 7919;
			size_t off = 0;

			while (off < len) {
				size_t n = 1 + (size_t)(rand_r(&seed) % 97);

				if (n > len - off)
					n = len - off;
				assert_int_equal(send_all(fd, req + off, n, IO_MS), 0);
				off += n;
				if (rand_r(&seed) % 3 == 0)
					usleep(300);
			}
		}
		read_mixed(r, kinds, N);
		assert_int_equal(r->len - r->off, 0);
		expect_open(fd);
		get_ok(r);
		close(fd);
	}
	free(req);
	free(r);
	stop_http();
}

/*
 * A long mixed pipeline sent while the responses are read: runs longer than
 * a block of copies, many receive buffers, short sends under backpressure.
 */
static void pipelined_long_mixed(void **state)
{
	enum { N = 20000 };
	struct reader *r = malloc(sizeof(*r));
	enum req_kind *kinds = malloc(N * sizeof(*kinds));
	char *req = malloc((size_t)N * 200);
	struct sender snd;
	size_t len = 0;
	unsigned seed = 12345;
	int fd;

	(void)state;
	assert_non_null(r);
	assert_non_null(kinds);
	assert_non_null(req);
	start_http("--buf-size", "4096", "--buf-count", "64", "--methods", "GET,HEAD", NULL);
	for (int i = 0; i < N; i++) {
		/* Mostly long GET runs (crossing the 64-copy blocks), some others between. */
		int x = (int)(rand_r(&seed) % 1000);

		kinds[i] = x < 900 && i % 500 < 300 ? REQ_GET : (enum req_kind)(x % REQ_KINDS);
		len += format_request(req + len, 200, kinds[i], i);
	}
	fd = connect_srv();
	reader_init(r, fd);
	sender_start(&snd, fd, req, len);
	read_mixed(r, kinds, N);
	assert_int_equal(sender_join(&snd), 0);
	assert_int_equal(r->len - r->off, 0);
	get_ok(r);
	close(fd);
	free(req);
	free(kinds);
	free(r);
	stop_http();
}

/* A client that pipelines many GETs without reading, then reads them all much later. */
static void pipelined_slow_reader(void **state)
{
	enum { N = 50000 };
	struct reader *r = malloc(sizeof(*r));
	char *req = malloc((size_t)N * 64);
	struct response m;
	struct sender snd;
	size_t len = 0;
	int fd;

	(void)state;
	assert_non_null(r);
	assert_non_null(req);
	start_http(NULL);
	for (int i = 0; i < N; i++)
		len += format_request(req + len, 64, REQ_GET, i);
	fd = connect_srv();
	reader_init(r, fd);
	sender_start(&snd, fd, req, len);
	/* Both directions fill up; the server must not spin or drop anything meanwhile. */
	usleep(500000);
	for (int i = 0; i < N; i++) {
		int ret = read_response(r, &m, false, IO_MS);

		if (ret)
			fail_msg("response %d: %d", i, ret);
		check_ok(&m, false, 11);
		response_free(&m);
	}
	assert_int_equal(sender_join(&snd), 0);
	get_ok(r);
	close(fd);
	free(req);
	free(r);
	stop_http();
}

/* ---- methods and errors ----------------------------------------------------------------- */

/* HEAD: the GET headers, Content-Length 13 included, and no body (the next response parses). */
static void head_has_no_body(void **state)
{
	static const char req[] = "HEAD / HTTP/1.1\r\nHost: x\r\n\r\nHEAD /x HTTP/1.1\r\nHost: "
				  "x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct reader *r = malloc(sizeof(*r));
	struct response m;
	int fd;

	(void)state;
	assert_non_null(r);
	start_http(NULL);
	fd = connect_srv();
	reader_init(r, fd);
	assert_int_equal(send_all(fd, req, sizeof(req) - 1, IO_MS), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(read_response(r, &m, true, IO_MS), 0);
		check_ok(&m, true, 11);
	}
	/* Had a HEAD response carried a body, this would read it as a status line. */
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	check_ok(&m, false, 11);
	response_free(&m);
	assert_int_equal(r->len - r->off, 0);
	expect_open(fd);
	close(fd);
	free(r);
	stop_http();
}

/*
 * By default any method gets the response (as nginx's return 200), bodies
 * read and discarded; --methods GET,POST answers 405 to the rest with
 * exactly that Allow.
 */
static void methods_any_and_list(void **state)
{
	static const char *const reqs[] = {
		"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello=world",
		"PUT /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
		"chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"DELETE /a HTTP/1.1\r\nHost: x\r\n\r\n",
		"M-SEARCH * HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	struct reader *r = calloc(1, sizeof(*r));
	struct response m;
	int fd;

	(void)state;
	assert_non_null(r);
	start_http(NULL);
	fd = connect_srv();
	reader_init(r, fd);
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		assert_int_equal(send_all(fd, reqs[i], strlen(reqs[i]), IO_MS), 0);
		assert_int_equal(read_response(r, &m, false, IO_MS), 0);
		check_ok(&m, false, 11);
		response_free(&m);
	}
	close(fd);
	stop_http();

	start_http("--methods", "GET,POST", NULL);
	fd = connect_srv();
	reader_init(r, fd);
	assert_int_equal(send_all(fd, reqs[0], strlen(reqs[0]), IO_MS), 0);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	check_ok(&m, false, 11);
	response_free(&m);
	assert_int_equal(send_all(fd, reqs[2], strlen(reqs[2]), IO_MS), 0);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	assert_int_equal(m.status, 405);
	assert_true(header_is(&m, "Allow", "GET, POST"));
	response_free(&m);
	/*
	 * HEAD, not allowed: the 405's headers without its body (RFC 9110 9.3.2),
	 * so the GET behind it on the connection reads cleanly.
	 */
	{
		static const char head_get[] = "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
					       "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

		assert_int_equal(send_all(fd, head_get, sizeof(head_get) - 1, IO_MS), 0);
		assert_int_equal(read_response(r, &m, true, IO_MS), 0);
		assert_int_equal(m.status, 405);
		assert_true(header_is(&m, "Allow", "GET, POST"));
		assert_int_equal(m.body_len, 0);
		response_free(&m);
		assert_int_equal(read_response(r, &m, false, IO_MS), 0);
		check_ok(&m, false, 11);
		response_free(&m);
	}
	close(fd);
	stop_http();
	free(r);
}

/*
 * --methods GET,HEAD: POST, PUT, DELETE and unknown tokens get 405 with Allow,
 * the body is skipped, the connection stays.
 */
static void method_not_allowed(void **state)
{
	static const char *const reqs[] = {
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello=world",
		"PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
		"DELETE /a HTTP/1.1\r\nHost: x\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"PATCH /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
		"chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		/* A body that looks like a request: it must be skipped, not answered. */
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 27\r\n\r\nGET / HTTP/1.1\r\nHost: "
		"x\r\n\r\n",
	};
	struct reader *r = malloc(sizeof(*r));
	struct response m;
	int fd;

	(void)state;
	assert_non_null(r);
	start_http("--methods", "GET,HEAD", NULL);
	fd = connect_srv();
	reader_init(r, fd);
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		char buf[256];
		int n = snprintf(buf, sizeof(buf), "%sGET / HTTP/1.1\r\nHost: x\r\n\r\n", reqs[i]);

		assert_int_equal(send_all(fd, buf, (size_t)n, IO_MS), 0);
		assert_int_equal(read_response(r, &m, false, IO_MS), 0);
		assert_int_equal(m.status, 405);
		assert_non_null(strstr(m.head, "HTTP/1.1 405 Method Not Allowed\r\n"));
		assert_true(header_is(&m, "Allow", "GET, HEAD"));
		assert_true(header_is(&m, "Server", "ringer"));
		check_date(&m);
		response_free(&m);
		assert_int_equal(read_response(r, &m, false, IO_MS), 0);
		check_ok(&m, false, 11);
		response_free(&m);
	}
	assert_int_equal(r->len - r->off, 0);
	expect_open(fd);
	close(fd);

	/* A 405 to HTTP/1.0 without keep-alive closes like any 1.0 response. */
	fd = connect_srv();
	reader_init(r, fd);
	assert_int_equal(send_all(fd, "DELETE / HTTP/1.0\r\n\r\n", 21, IO_MS), 0);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	assert_int_equal(m.status, 405);
	assert_true(header_is(&m, "Connection", "close"));
	response_free(&m);
	expect_eof(r);
	close(fd);
	free(r);
	stop_http();
}

struct bad_case {
	const char *name;
	int status;
	const char *reason;
	char *req; /* malloc'd */
	size_t len;
};

static char *repeat(const char *prefix, char c, size_t n, const char *suffix, size_t *len)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	char *s = malloc(pl + n + sl + 1);

	assert_non_null(s);
	memcpy(s, prefix, pl);
	memset(s + pl, c, n);
	memcpy(s + pl + n, suffix, sl + 1);
	*len = pl + n + sl;
	return s;
}

static char *many_headers(size_t count, size_t *len)
{
	char *s = malloc(count * 16 + 64);
	size_t n = 0;

	assert_non_null(s);
	n += (size_t)sprintf(s, "GET / HTTP/1.1\r\nHost: x\r\n");
	for (size_t i = 0; i < count; i++)
		n += (size_t)sprintf(s + n, "X-H%zu: v\r\n", i);
	n += (size_t)sprintf(s + n, "\r\n");
	*len = n;
	return s;
}

static void add_case(struct bad_case *c, int *n, const char *name, int status, const char *reason,
		     const char *req)
{
	c[*n].name = name;
	c[*n].status = status;
	c[*n].reason = reason;
	c[*n].req = strdup(req);
	c[*n].len = strlen(req);
	(*n)++;
}

/*
 * Each malformed or refused request gets its status, Connection: close, and
 * then the server's FIN; a good request pipelined before it is answered
 * first, and one after it is not answered at all.
 */
static void errors_then_close(void **state)
{
	static const char good[] = "GET /first HTTP/1.1\r\nHost: x\r\n\r\n";
	static const char after[] = "GET /after HTTP/1.1\r\nHost: x\r\n\r\n";
	struct bad_case c[40];
	struct reader *r = malloc(sizeof(*r));
	int n = 0;

	(void)state;
	assert_non_null(r);
	add_case(c, &n, "garbage", 400, "Bad Request", "GARBAGE\r\n\r\n");
	add_case(c, &n, "two spaces", 400, "Bad Request", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n");
	/* RFC 9112 3.2 */
	add_case(c, &n, "no Host", 400, "Bad Request", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n");
	add_case(c, &n, "two Hosts", 400, "Bad Request",
		 "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n");
	add_case(c, &n, "two Hosts, HTTP/1.0", 400, "Bad Request",
		 "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n");
	add_case(c, &n, "Host with a path", 400, "Bad Request",
		 "GET / HTTP/1.1\r\nHost: a.example/x\r\n\r\n");
	add_case(c, &n, "Host with userinfo", 400, "Bad Request",
		 "GET / HTTP/1.1\r\nHost: u@a.example\r\n\r\n");
	add_case(c, &n, "no version", 400, "Bad Request", "GET /\r\n\r\n");
	add_case(c, &n, "bad header", 400, "Bad Request",
		 "GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n");
	add_case(c, &n, "space before colon", 400, "Bad Request",
		 "GET / HTTP/1.1\r\nHost : x\r\n\r\n");
	add_case(c, &n, "obs-fold", 400, "Bad Request",
		 "GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n  folded\r\n\r\n");
	add_case(c, &n, "bare CR", 400, "Bad Request", "GET / HTTP/1.1\rX\r\n\r\n");
	add_case(c, &n, "control byte", 400, "Bad Request",
		 "GET / HTTP/1.1\r\nHost: x\r\nX-A: \x01\r\n\r\n");
	add_case(c, &n, "bad length", 400, "Bad Request",
		 "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n");
	add_case(c, &n, "conflicting lengths", 400, "Bad Request",
		 "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
	add_case(c, &n, "length and chunked", 400, "Bad Request",
		 "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: "
		 "chunked\r\n\r\n");
	add_case(c, &n, "chunked in 1.0", 400, "Bad Request",
		 "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
	add_case(c, &n, "bad chunk size", 400, "Bad Request",
		 "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
	add_case(c, &n, "chunk without CRLF", 400, "Bad Request",
		 "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
		 "chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n");
	add_case(c, &n, "gzip then chunked", 501, "Not Implemented",
		 "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n");
	add_case(c, &n, "HTTP/2.0", 505, "HTTP Version Not Supported", "GET / HTTP/2.0\r\n\r\n");
	add_case(c, &n, "HTTP/1.2", 505, "HTTP Version Not Supported", "GET / HTTP/1.2\r\n\r\n");
	add_case(c, &n, "HTTP/0.9", 505, "HTTP Version Not Supported", "GET / HTTP/0.9\r\n\r\n");
	c[n].name = "long request line";
	c[n].status = 414;
	c[n].reason = "URI Too Long";
	c[n].req = repeat("GET /", 'a', 9000, " HTTP/1.1\r\nHost: x\r\n\r\n", &c[n].len);
	n++;
	c[n].name = "huge header";
	c[n].status = 431;
	c[n].reason = "Request Header Fields Too Large";
	c[n].req =
		repeat("GET / HTTP/1.1\r\nHost: x\r\nX-Big: ", 'b', 20000, "\r\n\r\n", &c[n].len);
	n++;
	c[n].name = "huge headers, 64 KiB more after the limit";
	c[n].status = 431;
	c[n].reason = "Request Header Fields Too Large";
	c[n].req =
		repeat("GET / HTTP/1.1\r\nHost: x\r\nX-Big: ", 'b', 80000, "\r\n\r\n", &c[n].len);
	n++;
	c[n].name = "too many headers";
	c[n].status = 431;
	c[n].reason = "Request Header Fields Too Large";
	c[n].req = many_headers(150, &c[n].len);
	n++;

	start_http(NULL);
	for (int i = 0; i < n; i++) {
		for (int pre = 0; pre < 2; pre++) {
			struct response m;
			int fd = connect_srv();
			int ret;

			print_message("%s%s\n", c[i].name, pre ? ", after a good request" : "");
			reader_init(r, fd);
			if (pre)
				assert_int_equal(send_all(fd, good, sizeof(good) - 1, IO_MS), 0);
			assert_int_equal(send_all(fd, c[i].req, c[i].len, IO_MS), 0);
			/* Never answered: the server stops at the error. */
			send(fd, after, sizeof(after) - 1, MSG_NOSIGNAL);
			if (pre) {
				assert_int_equal(read_response(r, &m, false, IO_MS), 0);
				check_ok(&m, false, 11);
				response_free(&m);
			}
			ret = read_response(r, &m, false, IO_MS);
			if (ret)
				fail_msg("%s: reading the error response: %d", c[i].name, ret);
			assert_int_equal(m.status, c[i].status);
			assert_non_null(strstr(m.head, c[i].reason));
			assert_true(header_is(&m, "Connection", "close"));
			assert_true(header_is(&m, "Server", "ringer"));
			check_date(&m);
			response_free(&m);
			expect_eof(r);
			close(fd);
		}
	}
	for (int i = 0; i < n; i++)
		free(c[i].req);
	free(r);
	stop_http();
}

/* ---- request bodies --------------------------------------------------------------------- */

static void send_pieces(int fd, const char *s, size_t len, size_t piece)
{
	for (size_t off = 0; off < len; off += piece) {
		size_t n = len - off < piece ? len - off : piece;

		assert_int_equal(send_all(fd, s + off, n, IO_MS), 0);
		usleep(2000);
	}
}

/*
 * Content-Length and chunked bodies arriving in pieces, large and small,
 * each followed by another request on the same connection.
 */
static void request_bodies_split(void **state)
{
	enum { BIG = 300000 };
	struct reader *r = malloc(sizeof(*r));
	char *big = malloc(BIG + 256);
	struct response m;
	char head[128];
	int fd, n;

	(void)state;
	assert_non_null(r);
	assert_non_null(big);
	start_http("--buf-size", "4096", "--methods", "GET,HEAD", NULL);
	fd = connect_srv();
	reader_init(r, fd);

	/* Content-Length: the head, then the body in 7-byte pieces, then a GET. */
	send_pieces(fd, "POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n", 49, 49);
	send_pieces(fd, "0123456789012345678901234567890123456789", 40, 7);
	send_pieces(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, 5);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	assert_int_equal(m.status, 405);
	response_free(&m);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	check_ok(&m, false, 11);
	response_free(&m);

	/* A large Content-Length body (many receive buffers), then a GET. */
	n = snprintf(head, sizeof(head),
		     "PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", BIG);
	memset(big, 'x', BIG);
	assert_int_equal(send_all(fd, head, (size_t)n, IO_MS), 0);
	send_pieces(fd, big, BIG, 65000);
	assert_int_equal(send_all(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, IO_MS), 0);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	assert_int_equal(m.status, 405);
	response_free(&m);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	check_ok(&m, false, 11);
	response_free(&m);

	/* Chunked: sizes, extensions, a trailer, cut in 3-byte pieces, then a GET. */
	{
		static const char chunked[] =
			"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
			"4\r\nWiki\r\n5;name=value\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n"
			"0\r\nX-Trailer: yes\r\n\r\n"
			"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

		send_pieces(fd, chunked, sizeof(chunked) - 1, 3);
	}
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	assert_int_equal(m.status, 405);
	response_free(&m);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	check_ok(&m, false, 11);
	response_free(&m);

	/* A large chunked body: 0x10000-byte chunks, split across many sends. */
	{
		size_t len = 0;
		char *body = malloc(5 * (0x10000 + 16) + 64);

		assert_non_null(body);
		len += (size_t)sprintf(
			body, "POST /bc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
		for (int i = 0; i < 5; i++) {
			len += (size_t)sprintf(body + len, "10000\r\n");
			memset(body + len, 'a' + i, 0x10000);
			len += 0x10000;
			len += (size_t)sprintf(body + len, "\r\n");
		}
		len += (size_t)sprintf(body + len, "0\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
		send_pieces(fd, body, len, 9999);
		free(body);
	}
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	assert_int_equal(m.status, 405);
	response_free(&m);
	assert_int_equal(read_response(r, &m, true, IO_MS), 0);
	check_ok(&m, true, 11);
	assert_int_equal(r->len - r->off, 0);
	expect_open(fd);
	close(fd);
	free(big);
	free(r);
	stop_http();
}

/* ---- configured bodies ------------------------------------------------------------------ */

static void body_text(void **state)
{
	static const char body[] = "a configured body, with spaces and 'quotes'\n";
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: "
				  "x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct reader *r = malloc(sizeof(*r));
	struct response m;
	int fd;

	(void)state;
	assert_non_null(r);
	start_http("--body", body, NULL);
	fd = connect_srv();
	reader_init(r, fd);
	assert_int_equal(send_all(fd, req, sizeof(req) - 1, IO_MS), 0);
	for (int i = 0; i < 3; i++) {
		bool head = i == 1;

		assert_int_equal(read_response(r, &m, head, IO_MS), 0);
		assert_int_equal(m.status, 200);
		assert_int_equal(m.content_length, sizeof(body) - 1);
		if (!head) {
			assert_int_equal(m.body_len, sizeof(body) - 1);
			assert_memory_equal(m.body, body, sizeof(body) - 1);
		}
		response_free(&m);
	}
	close(fd);
	free(r);
	stop_http();
}

static void check_filler(const struct response *m, size_t size)
{
	assert_int_equal(m->status, 200);
	assert_int_equal(m->content_length, (long long)size);
	assert_int_equal(m->body_len, size);
	for (size_t i = 0; i < size; i++)
		if (m->body[i] != (char)('a' + i % 26))
			fail_msg("filler byte %zu is 0x%02x", i, (unsigned char)m->body[i]);
}

/*
 * --body-size: small bodies go in one piece, 1 MiB goes as head then body;
 * pipelined, with HEADs between and an HTTP/1.0 close at the end.
 */
static void body_size(void **state)
{
	static const size_t sizes[] = {0, 1, 100000, 1 << 20};
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: "
				  "x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
				  "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.0\r\n\r\n";
	static const bool head[] = {false, false, true, false, false};
	struct reader *r = malloc(sizeof(*r));
	struct response m;

	(void)state;
	assert_non_null(r);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		char size[32];
		int fd;

		snprintf(size, sizeof(size), "%zu", sizes[s]);
		start_http("--body-size", size, NULL);
		fd = connect_srv();
		reader_init(r, fd);
		assert_int_equal(send_all(fd, req, sizeof(req) - 1, IO_MS), 0);
		for (int i = 0; i < 5; i++) {
			assert_int_equal(read_response(r, &m, head[i], 10000), 0);
			if (head[i]) {
				assert_int_equal(m.status, 200);
				assert_int_equal(m.content_length, (long long)sizes[s]);
			} else {
				check_filler(&m, sizes[s]);
			}
			assert_true(header_is(&m, "Connection", "close") == (i == 4));
			response_free(&m);
		}
		expect_eof(r);
		close(fd);
		stop_http();
	}
	free(r);
}

/* ---- time ------------------------------------------------------------------------------- */

/* The Date header follows the clock on a kept connection. */
static void date_advances(void **state)
{
	struct reader *r = malloc(sizeof(*r));
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct response m;
	time_t first, later;
	int64_t deadline;
	int fd;

	(void)state;
	assert_non_null(r);
	start_http(NULL);
	fd = connect_srv();
	reader_init(r, fd);
	assert_int_equal(send_all(fd, req, sizeof(req) - 1, IO_MS), 0);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	first = check_date(&m);
	response_free(&m);
	/*
	 * The server refreshes Date on a 100 ms tick once at least 1000 ms have
	 * passed, so a refresh happens within every 1.1 s when its thread runs on
	 * time. Asked every 100 ms, the Date must move on within 10 s: a loaded
	 * machine may delay the tick, a Date that never moves still fails.
	 */
	deadline = now_ms() + 10000;
	do {
		usleep(100000);
		assert_int_equal(send_all(fd, req, sizeof(req) - 1, IO_MS), 0);
		assert_int_equal(read_response(r, &m, false, IO_MS), 0);
		later = check_date(&m);
		response_free(&m);
	} while (later == first && now_ms() < deadline);
	assert_true(later > first);
	close(fd);
	free(r);
	stop_http();
}

/*
 * A peer that pipelines requests and never reads stalls a send of ours
 * indefinitely. That send holds the response generation it reads from, and
 * the Date of every other connection must keep advancing regardless.
 * Returns how many milliseconds the Date took to get 3 s past its first value.
 */
static int64_t date_past_stalled_reader(const char *body_size)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct reader *r = malloc(sizeof(*r));
	char *flood = malloc(1 << 16);
	size_t flood_len = 0;
	struct response m;
	time_t first, later;
	int64_t deadline, t0, took;
	int fd, stalled;

	assert_non_null(r);
	assert_non_null(flood);
	while (flood_len + 64 < (1 << 16))
		flood_len += format_request(flood + flood_len, 64, REQ_GET, 0);
	start_http("--body-size", body_size, NULL);
	stalled = connect_srv();
	/* Push until both directions are full: the server's send cannot complete. */
	deadline = now_ms() + 5000;
	while (now_ms() < deadline) {
		if (send(stalled, flood, flood_len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			assert_int_equal(errno, EAGAIN);
			usleep(50000);
			if (send(stalled, flood, flood_len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				break;
		}
	}
	fd = connect_srv();
	reader_init(r, fd);
	assert_int_equal(send_all(fd, req, sizeof(req) - 1, IO_MS), 0);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	first = check_date(&m);
	response_free(&m);
	/*
	 * The second refresh after the stall wants the buffer the stalled send
	 * holds; it may wait HTTP_RESPONSE_HOLD_MAX_SEC (5 s) for it, not longer.
	 * Asking every 250 ms for up to 10 s, the Date must get past that.
	 */
	t0 = now_ms();
	deadline = t0 + 10000;
	do {
		usleep(250000);
		assert_int_equal(send_all(fd, req, sizeof(req) - 1, IO_MS), 0);
		assert_int_equal(read_response(r, &m, false, IO_MS), 0);
		later = date_of(&m);
		response_free(&m);
	} while (later < first + 3 && now_ms() < deadline);
	took = now_ms() - t0;
	print_message("Date %lld -> %lld in %lld ms\n", (long long)first, (long long)later,
		      (long long)took);
	assert_true(later >= first + 3);
	/* Caught up: from now on it follows the clock again. */
	usleep(1300000);
	assert_int_equal(send_all(fd, req, sizeof(req) - 1, IO_MS), 0);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	check_date(&m);
	response_free(&m);
	close(fd);
	close(stalled);
	free(flood);
	free(r);
	stop_http();
	return took;
}

/* Short responses: the stalled send reads a block of copies whose Date is held. */
static void date_past_stalled_reader_blocks(void **state)
{
	(void)state;
	date_past_stalled_reader("13");
}

/*
 * A 1 MiB body goes out after its head from a buffer that is never
 * rewritten, so a stall in the body holds nothing: no refresh waits.
 */
static void date_past_stalled_reader_large_body(void **state)
{
	(void)state;
	/* 3 s of Date take about 3 s, not 3 s plus the 5 s a held buffer may cost. */
	assert_true(date_past_stalled_reader("1m") < 4500);
}

/* ---- load and misbehaving peers --------------------------------------------------------- */

/* The number after label in wrk's output, or -1. */
static double wrk_num(const char *out, const char *label)
{
	const char *p = strstr(out, label);

	return p ? strtod(p + strlen(label), NULL) : -1;
}

static void wrk_short_run(void **state)
{
	char cmd[256], *out;
	int status;

	(void)state;
	start_http(NULL);
	snprintf(cmd, sizeof(cmd),
		 "timeout 30 wrk -t1 -c10 -d2s --latency http://127.0.0.1:%d/ 2>&1", srv.port);
	out = run_cmd(cmd, &status);
	print_message("%s", out);
	assert_int_equal(status, 0);
	/* wrk prints these lines only when something went wrong. */
	assert_null(strstr(out, "Socket errors"));
	assert_null(strstr(out, "Non-2xx or 3xx responses"));
	assert_true(wrk_num(out, "Requests/sec:") > 100);
	free(out);
	stop_http();
}

/*
 * A new connection per request, as wrk -H 'Connection: close' makes them:
 * every close happens while multishot accept hands out fixed-file slots as
 * fast as they come free, so a close that reached the wrong tenant of a
 * slot would show as wrk read errors.
 */
static void wrk_connection_per_request(void **state)
{
	char cmd[256], *out;
	int status;

	(void)state;
	start_http(NULL);
	snprintf(cmd, sizeof(cmd),
		 "timeout 30 wrk -t1 -c50 -d2s -H 'Connection: close' http://127.0.0.1:%d/ 2>&1",
		 srv.port);
	out = run_cmd(cmd, &status);
	print_message("%s", out);
	assert_int_equal(status, 0);
	assert_null(strstr(out, "Socket errors"));
	assert_null(strstr(out, "Non-2xx or 3xx responses"));
	assert_true(wrk_num(out, "Requests/sec:") > 100);
	free(out);
	stop_http();
}

/*
 * After an error ringer closes first with shutdown and a lingering read. The
 * shutdown runs on an io-wq worker that looks the fixed-file slot up late: if
 * the slot were closed and handed to a new connection before then, that
 * stranger would get our FIN before its response. Here bad clients churn
 * through error closes in child processes while the parent makes one fresh
 * connection per good request; every good request must get its 200.
 */
static void error_closes_never_hit_other_connections(void **state)
{
	enum { CHILDREN = 3, GOOD = 1500 };
	pid_t kids[CHILDREN];
	struct reader *r = malloc(sizeof(*r));
	int64_t deadline;
	int good = 0, lost = 0;

	(void)state;
	assert_non_null(r);
	start_http(NULL);
	deadline = now_ms() + 8000;
	for (int k = 0; k < CHILDREN; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			/*
			 * Bad request, then hang up as soon as the 400 starts to
			 * arrive, racing ringer's shutdown; over and over, bounded.
			 */
			for (int i = 0; i < 20000 && now_ms() < deadline; i++) {
				int fd = tcp_connect("127.0.0.1", srv.port);
				char buf[256];

				if (fd < 0)
					continue;
				send_all(fd, "BAD\r\n\r\n", 7, 1000);
				recv_all(fd, buf, 12, 1000);
				close(fd);
			}
			_exit(0);
		}
	}
	for (int i = 0; i < GOOD && now_ms() < deadline - 2000; i++) {
		static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
		struct response m;
		int fd = connect_srv();

		reader_init(r, fd);
		assert_int_equal(send_all(fd, req, sizeof(req) - 1, IO_MS), 0);
		if (read_response(r, &m, false, IO_MS) == 0 && m.status == 200)
			good++;
		else
			lost++;
		response_free(&m);
		close(fd);
	}
	for (int k = 0; k < CHILDREN; k++) {
		kill(kids[k], SIGKILL);
		waitpid(kids[k], NULL, 0);
	}
	print_message("good requests answered: %d, lost: %d\n", good, lost);
	assert_int_equal(lost, 0);
	assert_true(good > 100);
	free(r);
	stop_http();
}

/*
 * Peers that send garbage, half requests, requests they never read the
 * answers to, and then reset or vanish: a well-behaved connection opened
 * before them keeps getting correct answers throughout.
 */
static void bad_peers_do_not_hurt_others(void **state)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	struct reader *good = malloc(sizeof(*good));
	char *flood = malloc(1 << 20);
	size_t flood_len = 0;
	int64_t deadline;
	int gfd;

	(void)state;
	assert_non_null(good);
	assert_non_null(flood);
	while (flood_len + 64 < (1 << 20))
		flood_len += format_request(flood + flood_len, 64, REQ_GET, 0);
	start_http(NULL);
	gfd = connect_srv();
	reader_init(good, gfd);
	get_ok(good);
	deadline = now_ms() + 20000;
	for (int round = 0; round < 60 && now_ms() < deadline; round++) {
		int fd = connect_srv();

		switch (round % 6) {
		case 0: /* garbage, then a reset */
			send(fd, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage", 20,
			     MSG_NOSIGNAL);
			break;
		case 1: /* half a request line */
			send(fd, "GET /half", 9, MSG_NOSIGNAL);
			break;
		case 2: /* half a body */
			send(fd, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc",
			     53, MSG_NOSIGNAL);
			break;
		case 3: /* a megabyte of pipelined GETs, never read */
			send(fd, flood, flood_len, MSG_NOSIGNAL | MSG_DONTWAIT);
			break;
		case 4: /* half of a chunked body */
			send(fd,
			     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
			     "chunked\r\n\r\n10\r\nab",
			     62, MSG_NOSIGNAL);
			break;
		default: /* a bad request, then gone without reading the 400 */
			send(fd, "BAD\x01\r\n\r\n", 8, MSG_NOSIGNAL);
			break;
		}
		usleep(round % 2 ? 1000 : 0);
		/* Every other one resets; the rest just close (FIN with input unread). */
		if (round % 2 == 0)
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
		get_ok(good);
	}
	/* Half requests left open, too: the good connection does not wait on them. */
	{
		int idle[8];

		for (int i = 0; i < 8; i++) {
			idle[i] = connect_srv();
			send(idle[i], "GET / HTTP/1.1\r\nHost:", 21, MSG_NOSIGNAL);
		}
		for (int i = 0; i < 20; i++)
			get_ok(good);
		for (int i = 0; i < 8; i++)
			close(idle[i]);
	}
	close(gfd);
	free(flood);
	free(good);
	stop_http();
}

/* ---- --echo-body ------------------------------------------------------------------------ */

/*
 * An echo's answer: 200, application/octet-stream, framed as the request was
 * (chunked, or Content-Length), its body checked byte for byte against
 * pattern_byte(seed, i) as it streams in, never held whole. Returns 0 or -errno.
 */
static int read_echo(struct reader *r, struct response *m, uint64_t seed, bool chunked,
		     int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	long long want;
	int ret = read_response_ex(r, m, true, true, timeout_ms);

	if (ret)
		return ret;
	if (m->status != 200 || !header_is(m, "Content-Type", "application/octet-stream") ||
	    m->chunked != chunked)
		return -EPROTO;
	m->check = true;
	m->seed = seed;
	m->bad_at = -1;
	if (chunked)
		return read_chunked(r, m, deadline);
	want = m->content_length;
	while ((long long)m->body_len < want) {
		size_t n = r->len - r->off;

		if (!n) {
			r->off = r->len = 0;
			ret = reader_fill(r, deadline);
			if (ret)
				return ret;
			continue;
		}
		if ((long long)n > want - (long long)m->body_len)
			n = (size_t)(want - (long long)m->body_len);
		body_append(r, m, n, NULL);
	}
	return 0;
}

/*
 * A request with a pattern body, sent from a thread (head, then the body in
 * pieces, each a chunk when chunked, with a pause after each), so the test
 * reads the answer while the body still goes out, as any client of an echo
 * must.
 */
struct upload {
	pthread_t thread;
	int fd;
	char head[256];
	uint64_t seed, size;
	const size_t *pieces; /* piece sizes, used in turn; NULL: 64 KiB */
	size_t npieces;
	int pause_us;
	bool chunked;
	int ret;
	uint64_t sent; /* body bytes sent so far (read by the test while it runs) */
};

static void *upload_main(void *arg)
{
	struct upload *u = arg;
	static const size_t dflt = 65536;
	size_t cap = 0;
	char *buf = NULL;

	u->ret = send_all(u->fd, u->head, strlen(u->head), 20000);
	for (size_t k = 0; !u->ret && u->sent < u->size; k++) {
		size_t piece = u->pieces ? u->pieces[k % u->npieces] : dflt;
		size_t n = u->size - u->sent < piece ? (size_t)(u->size - u->sent) : piece, len = 0;

		if (n + 32 > cap) {
			cap = n + 32;
			buf = realloc(buf, cap);
			if (!buf) {
				u->ret = -ENOMEM;
				break;
			}
		}
		if (u->chunked)
			len += (size_t)sprintf(buf, "%zx%s\r\n", n, k % 3 ? "" : ";ext=1");
		for (size_t i = 0; i < n; i++)
			buf[len + i] = (char)pattern_byte(u->seed, u->sent + i);
		len += n;
		if (u->chunked)
			len += (size_t)sprintf(buf + len, "\r\n");
		u->ret = send_all(u->fd, buf, len, 20000);
		__atomic_store_n(&u->sent, u->sent + n, __ATOMIC_RELAXED);
		if (u->pause_us)
			usleep((useconds_t)u->pause_us);
	}
	if (!u->ret && u->chunked)
		u->ret = send_all(u->fd, "0\r\nTrailer-X: dropped\r\n\r\n", 25, 20000);
	free(buf);
	return NULL;
}

static void upload_start(struct upload *u, int fd, const char *method, uint64_t seed, uint64_t size,
			 bool chunked)
{
	memset(u, 0, sizeof(*u));
	u->fd = fd;
	u->seed = seed;
	u->size = size;
	u->chunked = chunked;
	if (chunked)
		snprintf(u->head, sizeof(u->head),
			 "%s /up HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
			 "Transfer-Encoding: chunked\r\n\r\n",
			 method);
	else
		snprintf(u->head, sizeof(u->head),
			 "%s /up HTTP/1.1\r\nHost: x\r\nContent-Length: %llu\r\n\r\n", method,
			 (unsigned long long)size);
}

static void upload_go(struct upload *u)
{
	u->ret = -1;
	assert_int_equal(pthread_create(&u->thread, NULL, upload_main, u), 0);
}

static int upload_join(struct upload *u)
{
	pthread_join(u->thread, NULL);
	return u->ret;
}

/* One upload on r's connection, answered with exactly its bytes (Content-Length or chunked). */
static void echo_one(struct reader *r, const char *method, uint64_t seed, uint64_t size,
		     bool chunked, const size_t *pieces, size_t npieces)
{
	struct upload u;
	struct response m;
	int ret;

	upload_start(&u, r->fd, method, seed, size, chunked);
	u.pieces = pieces;
	u.npieces = npieces;
	upload_go(&u);
	ret = read_echo(r, &m, seed, chunked, 30000);
	assert_int_equal(upload_join(&u), 0);
	if (ret)
		fail_msg("%s of %llu bytes%s: reading the echo: %d", method,
			 (unsigned long long)size, chunked ? " (chunked)" : "", ret);
	assert_int_equal(m.body_len, size);
	if (m.bad_at >= 0)
		fail_msg("byte %lld of %llu differs", m.bad_at, (unsigned long long)size);
	if (!chunked)
		assert_int_equal(m.content_length, (long long)size);
	assert_true(header_is(&m, "Server", "ringer"));
	check_date(&m);
	response_free(&m);
}

/*
 * Content-Length bodies of 0, 1, 64 KiB and 8 MiB, each answered with the
 * same Content-Length and exactly its bytes, on one kept connection; a GET
 * in between still gets the fixed response; HTTP/1.0 keeps alive when asked
 * to and closes otherwise.
 */
static void echo_body_content_length(void **state)
{
	static const uint64_t sizes[] = {0, 1, 65536, 8 << 20};
	struct reader *r = calloc(1, sizeof(*r));
	struct response m;
	int fd;

	(void)state;
	assert_non_null(r);
	start_http("--echo-body", NULL);
	fd = connect_srv();
	reader_init(r, fd);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		echo_one(r, i % 2 ? "PUT" : "POST", 100 + i, sizes[i], false, NULL, 0);
		get_ok(r);
	}
	/* HTTP/1.0: keep-alive when asked, then a close. */
	{
		static const char req10[] = "POST / HTTP/1.0\r\nConnection: keep-alive\r\n"
					    "Content-Length: 3\r\n\r\nabc"
					    "POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nxy";

		assert_int_equal(send_all(fd, req10, sizeof(req10) - 1, IO_MS), 0);
	}
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	assert_int_equal(m.status, 200);
	assert_true(header_is(&m, "Connection", "keep-alive"));
	assert_true(header_is(&m, "Content-Type", "application/octet-stream"));
	assert_int_equal(m.body_len, 3);
	assert_memory_equal(m.body, "abc", 3);
	response_free(&m);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	assert_true(header_is(&m, "Connection", "close"));
	assert_int_equal(m.body_len, 2);
	assert_memory_equal(m.body, "xy", 2);
	response_free(&m);
	expect_eof(r);
	close(fd);
	free(r);
	stop_http();
}

/*
 * Chunked bodies of many chunk sizes (1 byte to 100,000, with extensions and
 * a trailer) come back chunked, the same bytes; the trailer is dropped. An
 * empty chunked body is one "0" chunk.
 */
static void echo_body_chunked(void **state)
{
	static const size_t pieces[] = {1, 7, 100, 4095, 4096, 16384, 65536, 100000, 3};
	static const char empty[] =
		"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		"0\r\n\r\n";
	struct reader *r = calloc(1, sizeof(*r));
	struct response m;
	int fd;

	(void)state;
	assert_non_null(r);
	start_http("--echo-body", "--buf-size", "4096", NULL);
	fd = connect_srv();
	reader_init(r, fd);
	echo_one(r, "POST", 7, 1000000, true, pieces, sizeof(pieces) / sizeof(pieces[0]));
	echo_one(r, "PATCH", 8, 5, true, pieces, 2);
	assert_int_equal(send_all(fd, empty, sizeof(empty) - 1, IO_MS), 0);
	assert_int_equal(read_response_ex(r, &m, false, true, IO_MS), 0);
	assert_int_equal(m.status, 200);
	assert_true(m.chunked);
	assert_int_equal(m.chunks, 0);
	assert_int_equal(m.body_len, 0);
	response_free(&m);
	get_ok(r);
	expect_open(fd);
	close(fd);
	free(r);
	stop_http();
}

/*
 * Pipelined requests with and without bodies in one write: every answer in
 * request order, each with its own body, HEAD and a 405 between them, and a
 * Connection: close at the end.
 */
static void echo_body_pipelined(void **state)
{
	static const char *const reqs[] = {
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"GET /b HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		"3\r\nabc\r\n1;x=y\r\nd\r\n10\r\nefghijklmnopqrst\r\n0\r\nT: 1\r\n\r\n",
		"PUT /d HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
		"HEAD /e HTTP/1.1\r\nHost: x\r\n\r\n",
		"DELETE /f HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nGET ",
		"GET /g HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /h HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /i HTTP/1.1\r\nHost: x\r\nContent-Length: 27\r\n\r\nGET / HTTP/1.1\r\nHost: "
		"x\r\n\r\n",
		"POST /j HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 4\r\n\r\nlast",
		"GET /never HTTP/1.1\r\nHost: x\r\n\r\n",
	};
	/* What each gets: a body, or NULL for the fixed response (HEAD: no body). */
	static const char *const want[] = {
		"hello", NULL, "abcdefghijklmnopqrst",
		"",	 NULL, NULL,
		NULL,	 NULL, "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"last",
	};
	static const int status[] = {200, 200, 200, 200, 200, 405, 200, 200, 200, 200};
	struct reader *r = calloc(1, sizeof(*r));
	char *all = malloc(4096);
	struct response m;
	size_t len = 0;
	int fd;

	(void)state;
	assert_non_null(r);
	assert_non_null(all);
	start_http("--echo-body", "--methods", "GET,HEAD,POST,PUT", NULL);
	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
		len += (size_t)sprintf(all + len, "%s", reqs[i]);
	for (int round = 0; round < 2; round++) {
		fd = connect_srv();
		reader_init(r, fd);
		/* Whole, then a byte at a time: the answers are the same. */
		if (round == 0) {
			assert_int_equal(send_all(fd, all, len, IO_MS), 0);
		} else {
			/* (Not the last request: the server may close before it would go.) */
			send_pieces(fd, all, len - strlen(reqs[10]), 1);
		}
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			bool head = i == 4;

			assert_int_equal(read_response_ex(r, &m, head, true, IO_MS), 0);
			assert_int_equal(m.status, status[i]);
			if (want[i]) {
				assert_true(
					header_is(&m, "Content-Type", "application/octet-stream"));
				assert_int_equal(m.chunked, i == 2);
				assert_int_equal(m.body_len, strlen(want[i]));
				assert_memory_equal(m.body, want[i], m.body_len);
			} else if (status[i] == 200) {
				check_ok(&m, head, 11);
			}
			assert_true(header_is(&m, "Connection", "close") == (i == 9));
			response_free(&m);
		}
		expect_eof(r);
		close(fd);
	}
	free(all);
	free(r);
	stop_http();
}

/*
 * A large body sent slowly in pieces streams back as it arrives: the answer
 * has begun long before the upload ends, and every byte comes back.
 */
static void echo_body_slow_pieces(void **state)
{
	static const size_t pieces[] = {65536};
	struct reader *r = calloc(1, sizeof(*r));
	struct response m;
	struct upload u;
	uint64_t sent_at_head;
	int fd;

	(void)state;
	assert_non_null(r);
	start_http("--echo-body", NULL);
	for (int chunked = 0; chunked < 2; chunked++) {
		fd = connect_srv();
		reader_init(r, fd);
		upload_start(&u, fd, "POST", 55, 4 << 20, chunked);
		u.pieces = pieces;
		u.npieces = 1;
		u.pause_us = 20000; /* 64 pieces over more than a second */
		upload_go(&u);
		assert_int_equal(read_response_ex(r, &m, true, true, IO_MS), 0);
		sent_at_head = __atomic_load_n(&u.sent, __ATOMIC_RELAXED);
		assert_int_equal(m.status, 200);
		print_message("%s: the answer began when %llu of %u bytes were sent\n",
			      chunked ? "chunked" : "Content-Length",
			      (unsigned long long)sent_at_head, 4u << 20);
		assert_true(sent_at_head < (2u << 20));
		response_free(&m);
		/* The rest, checked: the head is read, so ask for the body alone. */
		m.check = true;
		m.seed = 55;
		m.bad_at = -1;
		m.body_len = 0;
		if (chunked) {
			assert_int_equal(read_chunked(r, &m, now_ms() + 20000), 0);
		} else {
			while (m.body_len < (4u << 20)) {
				size_t n = r->len - r->off;

				if (!n) {
					r->off = r->len = 0;
					assert_int_equal(reader_fill(r, now_ms() + 20000), 0);
					continue;
				}
				if (n > (4u << 20) - m.body_len)
					n = (4u << 20) - m.body_len;
				body_append(r, &m, n, NULL);
			}
		}
		assert_int_equal(upload_join(&u), 0);
		assert_int_equal(m.body_len, 4u << 20);
		assert_int_equal(m.bad_at, -1);
		get_ok(r);
		close(fd);
	}
	free(r);
	stop_http();
}

/*
 * Back-pressure: a client that uploads and does not read stops the
 * server's receive for its connection (counted as paused) while others are
 * served; when it reads, every byte arrives. 100 MiB goes through the
 * default buffer pool the same way.
 */
static void echo_body_slow_reader(void **state)
{
	struct reader *r = calloc(1, sizeof(*r));
	struct reader *other = calloc(1, sizeof(*other));
	struct response m;
	struct upload u;
	int fd, fd2;

	(void)state;
	assert_non_null(r);
	assert_non_null(other);
	start_http("--echo-body", NULL);
	/* Small socket buffers on our side, so our not reading shows at once. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	{
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_port = htons((uint16_t)srv.port),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		int small = 65536;

		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
		assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	}
	reader_init(r, fd);
	upload_start(&u, fd, "POST", 77, 32 << 20, false);
	upload_go(&u);
	usleep(700 * 1000);
	/* Both directions are full: the upload waits on the server, which waits on us. */
	assert_true(__atomic_load_n(&u.sent, __ATOMIC_RELAXED) < (32u << 20));
	assert_true(proc_stat(&srv, "paused") > 0);
	fd2 = connect_srv();
	reader_init(other, fd2);
	get_ok(other);
	close(fd2);
	assert_int_equal(read_echo(r, &m, 77, false, 30000), 0);
	assert_int_equal(upload_join(&u), 0);
	assert_int_equal(m.body_len, 32u << 20);
	assert_int_equal(m.bad_at, -1);
	response_free(&m);

	/* 100 MiB, read as it comes. */
	echo_one(r, "POST", 78, 100ull << 20, false, NULL, 0);
	get_ok(r);
	close(fd);
	free(other);
	free(r);
	stop_http();
}

/*
 * HEAD gets the fixed response's headers with or without a body (which is
 * read and skipped); methods --methods leaves out get 405, their bodies
 * skipped; requests without a body get the fixed (--body) response.
 */
static void echo_body_head_and_methods(void **state)
{
	static const char req[] = "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
				  "HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde"
				  "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
				  "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
				  "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	struct reader *r = calloc(1, sizeof(*r));
	struct response m;
	int fd;

	(void)state;
	assert_non_null(r);
	start_http("--echo-body", "--methods", "GET,HEAD,POST", "--body", "fixed", NULL);
	fd = connect_srv();
	reader_init(r, fd);
	assert_int_equal(send_all(fd, req, sizeof(req) - 1, IO_MS), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(read_response_ex(r, &m, true, true, IO_MS), 0);
		assert_int_equal(m.status, 200);
		assert_true(header_is(&m, "Content-Type", "text/plain"));
		assert_int_equal(m.content_length, 5);
		response_free(&m);
	}
	assert_int_equal(read_response_ex(r, &m, false, true, IO_MS), 0);
	assert_int_equal(m.status, 405);
	assert_true(header_is(&m, "Allow", "GET, HEAD, POST"));
	response_free(&m);
	assert_int_equal(read_response_ex(r, &m, false, true, IO_MS), 0);
	assert_int_equal(m.status, 200);
	assert_true(header_is(&m, "Content-Type", "application/octet-stream"));
	assert_int_equal(m.body_len, 3);
	assert_memory_equal(m.body, "xyz", 3);
	response_free(&m);
	assert_int_equal(read_response_ex(r, &m, false, true, IO_MS), 0);
	assert_int_equal(m.status, 200);
	assert_int_equal(m.body_len, 5);
	assert_memory_equal(m.body, "fixed", 5);
	response_free(&m);
	assert_int_equal(r->len - r->off, 0);
	expect_open(fd);
	close(fd);
	free(r);
	stop_http();
}

/* The next bytes are exactly s. */
static void expect_bytes(struct reader *r, const char *s)
{
	size_t n = strlen(s);
	int64_t deadline = now_ms() + IO_MS;

	while (r->len - r->off < n)
		assert_int_equal(reader_fill(r, deadline), 0);
	assert_memory_equal(r->buf + r->off, s, n);
	r->off += n;
}

/*
 * Expect: 100-continue gets "100 Continue" once everything before it is
 * answered and before any body byte came (curl waits a second for it
 * otherwise); not when the body came with the head, nor for HTTP/1.0.
 */
static void echo_body_expect_continue(void **state)
{
	static const char head[] = "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
				   "Content-Length: 5\r\n\r\n";
	static const char head10[] = "POST / HTTP/1.0\r\nConnection: keep-alive\r\n"
				     "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n";
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	struct reader *r = calloc(1, sizeof(*r));
	struct response m;
	char buf[256];
	int fd;

	(void)state;
	assert_non_null(r);
	start_http("--echo-body", NULL);
	fd = connect_srv();
	reader_init(r, fd);
	/* Behind a GET: its answer, then the 100, then (the body sent) the 200. */
	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: x\r\n\r\n%s", head);
	assert_int_equal(send_all(fd, buf, strlen(buf), IO_MS), 0);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	check_ok(&m, false, 11);
	response_free(&m);
	expect_bytes(r, cont);
	assert_int_equal(send_all(fd, "abcde", 5, IO_MS), 0);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	assert_int_equal(m.status, 200);
	assert_memory_equal(m.body, "abcde", 5);
	response_free(&m);
	/* The body came with the head: straight to the 200. */
	snprintf(buf, sizeof(buf), "%sfghij", head);
	assert_int_equal(send_all(fd, buf, strlen(buf), IO_MS), 0);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	assert_int_equal(m.status, 200);
	assert_memory_equal(m.body, "fghij", 5);
	response_free(&m);
	/* HTTP/1.0: the expectation is ignored; nothing comes until the body does. */
	assert_int_equal(send_all(fd, head10, sizeof(head10) - 1, IO_MS), 0);
	expect_open(fd);
	assert_int_equal(send_all(fd, "klmno", 5, IO_MS), 0);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	assert_int_equal(m.status, 200);
	assert_memory_equal(m.body, "klmno", 5);
	response_free(&m);
	close(fd);
	free(r);
	stop_http();
}

/* The connection ends without a whole answer: EOF or a reset, after what it got. */
static void expect_cut(struct reader *r)
{
	int ret;

	do {
		r->off = r->len = 0;
		ret = reader_fill(r, now_ms() + 8000);
	} while (!ret);
	assert_true(ret == -EPIPE || ret == -ECONNRESET);
}

/*
 * Errors before the 200 began get the answers they get without the flag (a
 * body that never starts: 408; a malformed first chunk: 400); after it
 * began, a body that stalls or turns malformed cuts the answer with a reset.
 */
static void echo_body_errors(void **state)
{
	static const char cl[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n";
	static const char ch[] = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
	struct reader *r = calloc(1, sizeof(*r));
	struct response m;
	int64_t t0;
	int fd;

	(void)state;
	assert_non_null(r);
	start_http("--echo-body", "--body-timeout", "1000", "--body-min-rate", "1000", NULL);

	/* No body byte within --body-timeout: 408, as without the flag. */
	fd = connect_srv();
	reader_init(r, fd);
	get_ok(r);
	t0 = now_ms();
	assert_int_equal(send_all(fd, cl, sizeof(cl) - 1, IO_MS), 0);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	assert_int_equal(m.status, 408);
	assert_true(now_ms() - t0 >= 900);
	assert_true(header_is(&m, "Connection", "close"));
	response_free(&m);
	expect_eof(r);
	close(fd);

	/* A malformed first chunk: 400. */
	fd = connect_srv();
	reader_init(r, fd);
	assert_int_equal(send_all(fd, ch, sizeof(ch) - 1, IO_MS), 0);
	assert_int_equal(send_all(fd, "zz\r\n", 4, IO_MS), 0);
	assert_int_equal(read_response(r, &m, false, IO_MS), 0);
	assert_int_equal(m.status, 400);
	response_free(&m);
	expect_eof(r);
	close(fd);

	/* A chunk, then garbage: the 200 and the chunk went, then the cut. */
	fd = connect_srv();
	reader_init(r, fd);
	assert_int_equal(send_all(fd, ch, sizeof(ch) - 1, IO_MS), 0);
	assert_int_equal(send_all(fd, "3\r\nabc\r\n", 8, IO_MS), 0);
	assert_int_equal(read_response_ex(r, &m, true, true, IO_MS), 0);
	assert_int_equal(m.status, 200);
	response_free(&m);
	assert_int_equal(send_all(fd, "3\r\nabcX\r\n", 9, IO_MS), 0);
	expect_cut(r);
	close(fd);

	/* Half a body, then silence: the 200 began, the deadline cuts it. */
	fd = connect_srv();
	reader_init(r, fd);
	assert_int_equal(send_all(fd, cl, sizeof(cl) - 1, IO_MS), 0);
	{
		static char half[50000];

		memset(half, 'h', sizeof(half));
		assert_int_equal(send_all(fd, half, sizeof(half), IO_MS), 0);
	}
	assert_int_equal(read_response_ex(r, &m, true, true, IO_MS), 0);
	assert_int_equal(m.status, 200);
	assert_int_equal(m.content_length, 100000);
	response_free(&m);
	t0 = now_ms();
	expect_cut(r);
	assert_true(now_ms() - t0 < 8000);
	close(fd);

	/* The client gives up half way (its FIN): cut too, not left waiting. */
	fd = connect_srv();
	reader_init(r, fd);
	assert_int_equal(send_all(fd, cl, sizeof(cl) - 1, IO_MS), 0);
	assert_int_equal(send_all(fd, "0123456789", 10, IO_MS), 0);
	assert_int_equal(read_response_ex(r, &m, true, true, IO_MS), 0);
	response_free(&m);
	shutdown(fd, SHUT_WR);
	expect_cut(r);
	close(fd);

	assert_int_equal(proc_stat(&srv, "body_timeouts"), 2);
	stop_http();
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(curl_http_11, teardown),
		cmocka_unit_test_teardown(curl_http_10, teardown),
		cmocka_unit_test_teardown(connection_close_rules, teardown),
		cmocka_unit_test_teardown(pipelined_100_gets, teardown),
		cmocka_unit_test_teardown(pipelined_mixed_split, teardown),
		cmocka_unit_test_teardown(pipelined_long_mixed, teardown),
		cmocka_unit_test_teardown(pipelined_slow_reader, teardown),
		cmocka_unit_test_teardown(head_has_no_body, teardown),
		cmocka_unit_test_teardown(method_not_allowed, teardown),
		cmocka_unit_test_teardown(methods_any_and_list, teardown),
		cmocka_unit_test_teardown(errors_then_close, teardown),
		cmocka_unit_test_teardown(request_bodies_split, teardown),
		cmocka_unit_test_teardown(body_text, teardown),
		cmocka_unit_test_teardown(body_size, teardown),
		cmocka_unit_test_teardown(date_advances, teardown),
		cmocka_unit_test_teardown(date_past_stalled_reader_blocks, teardown),
		cmocka_unit_test_teardown(date_past_stalled_reader_large_body, teardown),
		cmocka_unit_test_teardown(wrk_short_run, teardown),
		cmocka_unit_test_teardown(wrk_connection_per_request, teardown),
		cmocka_unit_test_teardown(error_closes_never_hit_other_connections, teardown),
		cmocka_unit_test_teardown(bad_peers_do_not_hurt_others, teardown),
		cmocka_unit_test_teardown(header_timeout_408, teardown),
		cmocka_unit_test_teardown(body_min_rate_408, teardown),
		cmocka_unit_test_teardown(drain_answers_connection_close, teardown),
		cmocka_unit_test_teardown(echo_body_content_length, teardown),
		cmocka_unit_test_teardown(echo_body_chunked, teardown),
		cmocka_unit_test_teardown(echo_body_pipelined, teardown),
		cmocka_unit_test_teardown(echo_body_slow_pieces, teardown),
		cmocka_unit_test_teardown(echo_body_slow_reader, teardown),
		cmocka_unit_test_teardown(echo_body_head_and_methods, teardown),
		cmocka_unit_test_teardown(echo_body_expect_continue, teardown),
		cmocka_unit_test_teardown(echo_body_errors, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
