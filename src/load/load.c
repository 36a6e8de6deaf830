// SPDX-License-Identifier: MIT
/*
 * The load engine: one ring per thread, connections as a fixed array, every
 * socket operation through the ring. A loop iteration is
 *
 *   submit + wait (one syscall, bounded by the next tick or send time)
 *   -> reap CQEs (connect / recv / send / cancel / close)
 *   -> return buffers -> serve connections marked dirty (send, re-arm)
 *   -> open loop: send what the schedule says is due
 *   -> every tick: timeouts, reconnects, progress, end of run
 *
 * A connection's life:
 *
 *   IDLE --connect--> CONNECTING --ok--> OPEN --error / churn / EOF--+
 *     ^                    | fail/timeout                              |
 *     |                    v                                           v
 *     +----close CQE---- CLOSING <---cancel every op on the fd, close--+
 *
 * Requests sent before the warmup ends are answered but not counted; a
 * response is counted when its request was sent inside the measured window
 * and it completes before the window ends.
 */
#include "load.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_client.h"
#include "ringer/ring.h"
#include "schedule.h"
#include "ringer/user_data.h"

#define NS_PER_MS  1000000ull
#define NS_PER_S   1000000000ull
#define TICK_NS	   (10 * NS_PER_MS) /* timeouts and reconnects are checked this often */
#define PUBLISH_NS NS_PER_S
#define RETRY_NS   (50 * NS_PER_MS) /* pause before reconnecting after a failure */
#define DRAIN_NS   (2 * NS_PER_S)   /* at the end, time for closes to complete */
#define BUF_SIZE   8192
#define BGID	   1
/*
 * Echo payloads repeat a 251-byte pattern: prime, so messages of any size
 * start at shifting offsets and a dropped, duplicated or reordered chunk of
 * the stream lands on different bytes.
 */
#define PATTERN_PERIOD 251

enum lconn_state {
	C_IDLE,
	C_CONNECTING,
	C_OPEN,
	C_CLOSING,
};

struct lconn {
	int fd;
	uint32_t gen;
	uint8_t state;
	uint8_t ops; /* operations in flight on fd, counted to their last CQE */
	bool sending;
	bool recv_armed;
	bool dirty;
	bool last_call; /* the server said it closes after this response */
	bool close_issued;
	uint32_t inflight;	/* requests sent and not yet answered */
	uint32_t inflight_meas; /* the newest of those that were sent while measuring */
	uint32_t ts_tail;	/* closed loop: oldest entry of this connection's send times */
	uint32_t send_left;
	uint32_t seed; /* echo: where in the pattern this connection starts */
	const uint8_t *send_ptr;
	uint64_t conn_sent; /* requests sent since connect (churn) */
	uint64_t seq_sent;  /* open loop: schedule slots used, across reconnects */
	uint64_t seq_done;
	uint64_t echo_tx;
	uint64_t echo_rx;
	uint64_t last_io_ns;
	uint64_t deadline_ns;
	uint64_t retry_ns;
	struct sched sched;
	struct http_resp http;
};

struct loader {
	struct load_thread *t;
	struct load_shared *sh;
	const struct load_config *cfg;
	struct ring ring;
	struct bufring br;
	struct lconn *conns;
	uint64_t *send_ts; /* closed loop: nconns x pipeline send times */
	uint32_t *dirty;
	uint32_t ndirty;
	uint8_t *pattern;
	uint64_t now;
	uint64_t reserved; /* measured requests sent and not lost */
	uint64_t end_ns;   /* 0: no time limit */
	uint64_t next_tick_ns;
	uint64_t next_pub_ns;
	uint64_t last_progress_ns;
	bool open_loop;
	bool started;
	bool done;     /* no more sends: time is up or the quota is met */
	bool stopping; /* closing everything; errors are no longer counted */
};

uint64_t load_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

uint64_t load_errors(const struct load_counters *c)
{
	return c->err_connect + c->err_reset + c->err_timeout + c->err_mismatch + c->err_status;
}

static uint64_t ud_of(const struct loader *L, unsigned op, const struct lconn *c)
{
	return ud_encode(op, c->gen, (uint32_t)(c - L->conns));
}

static void mark_dirty(struct loader *L, struct lconn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	L->dirty[L->ndirty++] = (uint32_t)(c - L->conns);
}

static bool measuring(const struct loader *L)
{
	return L->started && L->now >= L->t->measure_start_ns && !L->done;
}

static void fatal(struct loader *L, int err, const char *what)
{
	int expected = 0;

	snprintf(L->t->error, sizeof(L->t->error), "%s: %s", what, strerror(-err));
	atomic_compare_exchange_strong(&L->sh->fatal, &expected, err);
	atomic_store(&L->sh->stop, true);
}

/* An SQE could not be had even after submitting: the ring is wedged. */
static void ring_failed(struct loader *L, int ret)
{
	if (ret)
		fatal(L, ret, "io_uring submission");
}

static void close_fd(struct loader *L, struct lconn *c)
{
	c->close_issued = true;
	c->ops++;
	ring_failed(L, ring_close(&L->ring, c->fd, false, ud_of(L, UD_OP_CLOSE, c)));
}

/*
 * Requests still out are lost: they leave the quota so others replace them,
 * and in the open loop their schedule slots are skipped. Closing cancels
 * every operation on the fd first, because a close does not end them.
 */
static void begin_close(struct loader *L, struct lconn *c)
{
	if (c->state == C_CLOSING || c->state == C_IDLE)
		return;
	L->reserved -= c->inflight_meas;
	c->seq_done = c->seq_sent;
	c->inflight = c->inflight_meas = 0;
	c->state = C_CLOSING;
	c->close_issued = false;
	if (c->ops) {
		c->ops++;
		ring_failed(L, ring_cancel_fd(&L->ring, c->fd, false, ud_of(L, UD_OP_CANCEL, c)));
	} else {
		close_fd(L, c);
	}
}

static void fail_conn(struct loader *L, struct lconn *c, uint64_t *counter)
{
	if (!L->stopping)
		(*counter)++;
	c->retry_ns = L->now + RETRY_NS;
	begin_close(L, c);
}

static void start_connect(struct loader *L, struct lconn *c)
{
	const struct net_addr *a = &L->cfg->target;
	int one = 1;

	c->fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		/* Out of descriptors or memory: count it and try again later. */
		L->t->c.err_connect++;
		c->retry_ns = L->now + RETRY_NS;
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->state = C_CONNECTING;
	c->deadline_ns = L->now + L->cfg->connect_timeout_ns;
	c->ops = 1;
	ring_failed(L, ring_connect(&L->ring, c->fd, false, (const struct sockaddr *)&a->ss, a->len,
				    ud_of(L, UD_OP_CONNECT, c)));
}

static void reset_stream(struct lconn *c)
{
	c->inflight = c->inflight_meas = 0;
	c->ts_tail = 0;
	c->conn_sent = 0;
	c->echo_tx = c->echo_rx = 0;
	c->last_call = false;
	c->send_left = 0;
	http_resp_init(&c->http);
}

/* How many requests c may send now. */
static uint32_t sendable(struct loader *L, struct lconn *c)
{
	const struct load_config *cfg = L->cfg;
	uint64_t n = cfg->pipeline - c->inflight;

	if (!L->started || L->done || c->last_call)
		return 0;
	if (cfg->churn && cfg->churn - c->conn_sent < n)
		n = cfg->churn - c->conn_sent;
	if (L->open_loop) {
		uint64_t due = sched_due(&c->sched, L->now);

		n = due > c->seq_sent ? (due - c->seq_sent < n ? due - c->seq_sent : n) : 0;
	}
	if (cfg->requests && L->now >= L->t->measure_start_ns) {
		uint64_t left = L->t->quota - L->reserved;

		n = left < n ? left : n;
	}
	return (uint32_t)n;
}

static void issue_send(struct loader *L, struct lconn *c)
{
	c->sending = true;
	c->ops++;
	c->last_io_ns = L->now;
	ring_failed(L, ring_send(&L->ring, c->fd, false, c->send_ptr, c->send_left,
				 MSG_NOSIGNAL | MSG_WAITALL, ud_of(L, UD_OP_SEND, c)));
}

/* n requests in one send: the pipeline's batch, or the refill of those just answered. */
static void start_send(struct loader *L, struct lconn *c, uint32_t n)
{
	const struct load_config *cfg = L->cfg;

	if (!L->open_loop) {
		uint64_t *ts = L->send_ts + (size_t)(c - L->conns) * cfg->pipeline;

		for (uint32_t i = 0; i < n; i++)
			ts[(c->ts_tail + c->inflight + i) % cfg->pipeline] = L->now;
	}
	if (cfg->mode == LOAD_ECHO) {
		c->send_ptr = L->pattern + (c->echo_tx + c->seed) % PATTERN_PERIOD;
		c->send_left = n * cfg->size;
		c->echo_tx += c->send_left;
	} else {
		c->send_ptr = L->sh->request;
		c->send_left = n * L->sh->request_len;
	}
	if (measuring(L)) {
		c->inflight_meas += n;
		L->reserved += n;
		L->t->c.bytes_tx += c->send_left;
	}
	c->inflight += n;
	c->conn_sent += n;
	c->seq_sent += n;
	issue_send(L, c);
}

/* Everything a connection may need to do next, given its state. */
static void serve(struct loader *L, struct lconn *c)
{
	uint32_t n;

	switch (c->state) {
	case C_IDLE:
		/* Before the start, a failed first connect waits: the start must not. */
		if (!L->started && c->retry_ns)
			return;
		if (!L->stopping && !atomic_load_explicit(&L->sh->stop, memory_order_relaxed) &&
		    L->now >= c->retry_ns)
			start_connect(L, c);
		return;
	case C_CONNECTING:
		return;
	case C_CLOSING:
		if (!c->ops && !c->close_issued)
			close_fd(L, c);
		return;
	case C_OPEN:
		break;
	}
	if (!c->recv_armed) {
		c->recv_armed = true;
		c->ops++;
		ring_failed(L, ring_recv_multishot(&L->ring, c->fd, false, BGID, 0,
						   ud_of(L, UD_OP_RECV, c)));
	}
	if (c->sending)
		return;
	n = sendable(L, c);
	if (n) {
		start_send(L, c, n);
		return;
	}
	/* Churn, or the server's Connection: close: once all is answered, reconnect. */
	if (!c->inflight && (c->last_call || (L->cfg->churn && c->conn_sent >= L->cfg->churn))) {
		c->retry_ns = L->now;
		begin_close(L, c);
	}
}

static void complete_one(struct loader *L, struct lconn *c, unsigned status)
{
	struct load_counters *k = &L->t->c;
	bool counted = c->inflight_meas == c->inflight && c->inflight_meas;
	uint64_t sent;

	if (!c->inflight) {
		/* A response nobody asked for: the stream is not what we sent. */
		fail_conn(L, c, &k->err_mismatch);
		return;
	}
	if (L->open_loop) {
		sent = sched_time(&c->sched, c->seq_done);
	} else {
		sent = L->send_ts[(size_t)(c - L->conns) * L->cfg->pipeline + c->ts_tail];
		c->ts_tail = (c->ts_tail + 1) % L->cfg->pipeline;
	}
	c->seq_done++;
	c->inflight--;
	L->last_progress_ns = L->now;
	mark_dirty(L, c);
	if (!counted)
		return;
	c->inflight_meas--;
	if (L->done || (L->end_ns && L->now > L->end_ns))
		return;
	hist_record(&L->t->hist, L->now > sent ? L->now - sent : 0);
	k->requests++;
	if (L->cfg->mode == LOAD_HTTP) {
		k->status[status >= 100 && status < 600 ? status / 100 : 0]++;
		if (status < 200 || status > 299)
			k->err_status++;
	}
	if (L->cfg->requests && k->requests >= L->t->quota)
		L->done = true;
}

static void consume_echo(struct loader *L, struct lconn *c, const uint8_t *data, uint32_t n)
{
	uint64_t before = c->echo_rx / L->cfg->size, after;

	if (c->echo_rx + n > c->echo_tx ||
	    memcmp(data, L->pattern + (c->echo_rx + c->seed) % PATTERN_PERIOD, n)) {
		fail_conn(L, c, &L->t->c.err_mismatch);
		return;
	}
	c->echo_rx += n;
	after = c->echo_rx / L->cfg->size;
	while (before++ < after && c->state == C_OPEN)
		complete_one(L, c, 200);
}

static void consume_http(struct loader *L, struct lconn *c, const uint8_t *data, uint32_t n)
{
	while (n && c->state == C_OPEN) {
		size_t used = 0;
		int r = http_resp_feed(&c->http, data, n, &used);

		if (r < 0) {
			fail_conn(L, c, &L->t->c.err_mismatch);
			return;
		}
		if (r == HTTP_RESP_DONE) {
			if (http_resp_close(&c->http))
				c->last_call = true;
			complete_one(L, c, c->http.status);
			if (c->last_call)
				return;
		}
		data += used;
		n -= (uint32_t)used;
	}
}

static void on_eof(struct loader *L, struct lconn *c)
{
	if (L->cfg->mode == LOAD_HTTP && http_resp_eof(&c->http) == HTTP_RESP_DONE)
		complete_one(L, c, c->http.status);
	if (c->state != C_OPEN)
		return;
	if (c->inflight) {
		fail_conn(L, c, &L->t->c.err_reset);
		return;
	}
	/* The server closed an idle keep-alive connection: not an error, reconnect. */
	c->retry_ns = L->now;
	begin_close(L, c);
}

static void on_recv(struct loader *L, struct lconn *c, const struct io_uring_cqe *cqe)
{
	int bid = bufring_cqe_bid(cqe);

	if (bid >= 0)
		bufring_take(&L->br);
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		c->recv_armed = false;
		c->ops--;
	}
	if (c->state == C_OPEN) {
		if (cqe->res > 0 && bid >= 0) {
			c->last_io_ns = L->now;
			if (measuring(L))
				L->t->c.bytes_rx += (uint64_t)cqe->res;
			if (L->cfg->mode == LOAD_ECHO)
				consume_echo(L, c, bufring_buf(&L->br, (uint16_t)bid),
					     (uint32_t)cqe->res);
			else
				consume_http(L, c, bufring_buf(&L->br, (uint16_t)bid),
					     (uint32_t)cqe->res);
		} else if (cqe->res == 0) {
			on_eof(L, c);
		} else if (cqe->res != -ENOBUFS && cqe->res != -ECANCELED && cqe->res < 0) {
			fail_conn(L, c, &L->t->c.err_reset);
		}
	}
	if (bid >= 0)
		bufring_put(&L->br, (uint16_t)bid);
	/* -ENOBUFS ends the multishot; buffers go back this iteration, re-arm after. */
	mark_dirty(L, c);
}

static void on_send(struct loader *L, struct lconn *c, int res)
{
	c->sending = false;
	if (c->state != C_OPEN)
		return;
	if (res < 0) {
		fail_conn(L, c, &L->t->c.err_reset);
		return;
	}
	if ((uint32_t)res < c->send_left) {
		/* MSG_WAITALL makes this rare, but a short send resumes where it stopped. */
		c->send_ptr += res;
		c->send_left -= (uint32_t)res;
		issue_send(L, c);
		return;
	}
	c->send_left = 0;
	mark_dirty(L, c);
}

static void on_connect(struct loader *L, struct lconn *c, int res)
{
	if (c->state != C_CONNECTING)
		return;
	if (res < 0) {
		fail_conn(L, c, &L->t->c.err_connect);
		return;
	}
	c->state = C_OPEN;
	reset_stream(c);
	L->t->c.connects++;
	L->last_progress_ns = L->now;
	mark_dirty(L, c);
}

static void on_cqe(struct loader *L, const struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	uint32_t slot = ud_slot(ud);
	unsigned op = ud_op(ud);
	struct lconn *c;

	if (slot >= L->t->nconns) {
		/* Not ours (a probe leftover): only make sure a buffer is not leaked. */
		return;
	}
	c = &L->conns[slot];
	if (ud_gen(ud) != (c->gen & UD_GEN_MASK)) {
		int bid = bufring_cqe_bid(cqe);

		if (bid >= 0) {
			bufring_take(&L->br);
			bufring_put(&L->br, (uint16_t)bid);
		}
		return;
	}
	switch (op) {
	case UD_OP_RECV:
		on_recv(L, c, cqe);
		break;
	case UD_OP_SEND:
		c->ops--;
		on_send(L, c, cqe->res);
		break;
	case UD_OP_CONNECT:
		c->ops--;
		on_connect(L, c, cqe->res);
		break;
	case UD_OP_CANCEL:
		c->ops--;
		break;
	case UD_OP_CLOSE:
		c->ops--;
		c->fd = -1;
		c->gen++;
		c->state = C_IDLE;
		break;
	}
	mark_dirty(L, c);
}

/* Timeouts, reconnects, the end of the run and the published progress. */
static void tick(struct loader *L)
{
	const struct load_config *cfg = L->cfg;
	struct load_counters *k = &L->t->c;
	uint64_t stall = cfg->connect_timeout_ns + cfg->timeout_ns;
	bool owed = false;

	for (uint32_t i = 0; i < L->t->nconns; i++) {
		struct lconn *c = &L->conns[i];

		owed |= c->state != C_OPEN || c->inflight;
		if (c->state == C_CONNECTING && L->now > c->deadline_ns)
			fail_conn(L, c, &k->err_timeout);
		else if (c->state == C_OPEN && c->inflight &&
			 L->now - c->last_io_ns > cfg->timeout_ns)
			fail_conn(L, c, &k->err_timeout);
		else if (c->state == C_IDLE)
			mark_dirty(L, c);
	}
	/*
	 * The run must end even with --requests and no --duration: when nothing
	 * has connected or answered for the connect plus response timeouts while
	 * something was owed, the target is gone. A slow open-loop schedule with
	 * nothing outstanding is not a stall.
	 */
	if (!owed)
		L->last_progress_ns = L->now;
	if (L->started && !L->done && L->now - L->last_progress_ns > stall) {
		char what[96];

		snprintf(what, sizeof(what), "no connection or response from the target for %.1f s",
			 (double)stall / 1e9);
		fatal(L, -ETIMEDOUT, what);
	}
	if (L->end_ns && L->now >= L->end_ns)
		L->done = true;
	if (atomic_load_explicit(&L->sh->stop, memory_order_relaxed))
		L->done = true;
	if (L->now >= L->next_pub_ns) {
		atomic_store_explicit(&L->t->pub_requests, k->requests, memory_order_relaxed);
		atomic_store_explicit(&L->t->pub_errors, load_errors(k), memory_order_relaxed);
		atomic_store_explicit(&L->t->pub_p99, hist_percentile(&L->t->hist, 99.0),
				      memory_order_relaxed);
		L->next_pub_ns = L->now + PUBLISH_NS;
	}
	L->next_tick_ns = L->now + TICK_NS;
}

/* Open loop: connections whose next request is due; returns when the next one falls due. */
static uint64_t schedule_sends(struct loader *L)
{
	uint64_t next = UINT64_MAX;

	for (uint32_t i = 0; i < L->t->nconns; i++) {
		struct lconn *c = &L->conns[i];
		uint64_t at;

		if (c->state != C_OPEN || c->sending || c->inflight >= L->cfg->pipeline)
			continue;
		at = sched_time(&c->sched, c->seq_sent);
		if (at <= L->now)
			mark_dirty(L, c);
		else if (at < next)
			next = at;
	}
	return next;
}

static void loop_once(struct loader *L)
{
	uint64_t wake = L->next_tick_ns;
	unsigned head, n = 0;
	struct io_uring_cqe *cqe;
	int ret;

	if (L->end_ns && L->end_ns < wake)
		wake = L->end_ns;
	if (L->open_loop && L->started && !L->done) {
		uint64_t due = schedule_sends(L);

		if (due < wake)
			wake = due;
	}
	for (uint32_t i = 0; i < L->ndirty; i++) {
		struct lconn *c = &L->conns[L->dirty[i]];

		c->dirty = false;
		serve(L, c);
	}
	L->ndirty = 0;

	ret = ring_submit_and_wait_timeout(&L->ring, 1, wake > L->now ? wake - L->now : 0);
	if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN)
		fatal(L, ret, "io_uring_enter");
	L->now = load_now_ns();
	ring_for_each_cqe(&L->ring, head, cqe)
	{
		on_cqe(L, cqe);
		n++;
	}
	ring_cq_advance(&L->ring, n);
	bufring_flush(&L->br);
	L->t->c.loops++;
	L->t->c.cqes += n;
	/* The end of the run is exact, not rounded up to the next tick. */
	if (L->end_ns && L->now >= L->end_ns)
		L->done = true;
	if (L->now >= L->next_tick_ns)
		tick(L);
}

static bool all(const struct loader *L, bool (*pred)(const struct lconn *))
{
	for (uint32_t i = 0; i < L->t->nconns; i++)
		if (!pred(&L->conns[i]))
			return false;
	return true;
}

static bool settled(const struct lconn *c)
{
	return c->state != C_CONNECTING;
}

static bool idle(const struct lconn *c)
{
	return c->state == C_IDLE;
}

static uint32_t pow2_at_least(uint32_t v, uint32_t lo, uint32_t hi)
{
	uint32_t p = lo;

	while (p < v && p < hi)
		p <<= 1;
	return p;
}

static int loader_init(struct loader *L, struct load_thread *t)
{
	const struct load_config *cfg = t->sh->cfg;
	uint32_t n = t->nconns;
	size_t pat_len;
	int ret;

	L->t = t;
	L->sh = t->sh;
	L->cfg = cfg;
	L->open_loop = cfg->rate != 0;
	hist_init(&t->hist);
	ret = ring_init(&L->ring, pow2_at_least(n * 3 + 16, 64, 8192), 4, NULL, 0);
	if (ret) {
		fatal(L, ret, "io_uring setup");
		return ret;
	}
	ret = bufring_init(&L->br, &L->ring, BGID, pow2_at_least(n * 2, 64, 8192), BUF_SIZE);
	if (ret) {
		fatal(L, ret, "buffer ring setup");
		goto out_ring;
	}
	pat_len = PATTERN_PERIOD + (size_t)cfg->size * cfg->pipeline + BUF_SIZE;
	L->conns = calloc(n, sizeof(*L->conns));
	L->dirty = calloc(n, sizeof(*L->dirty));
	L->send_ts = calloc((size_t)n * cfg->pipeline, sizeof(*L->send_ts));
	L->pattern = cfg->mode == LOAD_ECHO ? malloc(pat_len) : NULL;
	if (!L->conns || !L->dirty || !L->send_ts || (cfg->mode == LOAD_ECHO && !L->pattern)) {
		ret = -ENOMEM;
		fatal(L, ret, "memory");
		goto out_free;
	}
	/* 167 is odd, so j -> 167 j + 13 (mod 256) is one-to-one on a period. */
	for (size_t i = 0; L->pattern && i < pat_len; i++)
		L->pattern[i] = (uint8_t)((i % PATTERN_PERIOD) * 167 + 13);
	for (uint32_t i = 0; i < n; i++) {
		L->conns[i].fd = -1;
		L->conns[i].seed = ((t->conn_first + i) * 97u) % PATTERN_PERIOD;
	}
	return 0;

out_free:
	free(L->conns);
	free(L->dirty);
	free(L->send_ts);
	free(L->pattern);
	bufring_exit(&L->br);
out_ring:
	ring_exit(&L->ring);
	return ret;
}

static void loader_exit(struct loader *L)
{
	for (uint32_t i = 0; i < L->t->nconns; i++)
		if (L->conns[i].fd >= 0)
			close(L->conns[i].fd);
	bufring_exit(&L->br);
	ring_exit(&L->ring);
	free(L->conns);
	free(L->dirty);
	free(L->send_ts);
	free(L->pattern);
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/*
 * Every thread connects first, then all meet so the schedule has one start
 * for everybody; one thread sets it between the two barriers.
 */
static void rendezvous(struct loader *L, bool ok)
{
	struct load_shared *sh = L->sh;

	if (pthread_barrier_wait(&sh->ready) == PTHREAD_BARRIER_SERIAL_THREAD)
		sh->start_ns = load_now_ns();
	pthread_barrier_wait(&sh->go);
	if (!ok)
		return;
	L->now = load_now_ns();
	L->started = true;
	L->last_progress_ns = L->now;
	L->t->measure_start_ns = sh->start_ns + L->cfg->warmup_ns;
	L->end_ns = L->cfg->duration_ns ? L->t->measure_start_ns + L->cfg->duration_ns : 0;
	/* More threads than requests: this one has nothing to send. */
	if (L->cfg->requests && !L->t->quota)
		L->done = true;
	for (uint32_t i = 0; i < L->t->nconns; i++) {
		L->conns[i].sched = sched_make(sh->start_ns, L->cfg->rate ? L->cfg->rate : 1,
					       L->cfg->connections, L->t->conn_first + i);
		mark_dirty(L, &L->conns[i]);
	}
}

static void *thread_main(void *arg)
{
	struct load_thread *t = arg;
	struct loader *L = calloc(1, sizeof(*L));
	uint64_t deadline;

	pin(t->cpu);
	if (!L || loader_init(L, t)) {
		if (!L)
			atomic_store(&t->sh->stop, true);
		pthread_barrier_wait(&t->sh->ready);
		pthread_barrier_wait(&t->sh->go);
		free(L);
		atomic_store(&t->finished, true);
		return NULL;
	}
	L->now = load_now_ns();
	L->next_tick_ns = L->now + TICK_NS;
	for (uint32_t i = 0; i < t->nconns; i++)
		mark_dirty(L, &L->conns[i]);
	/* Phase 1: first connects, bounded by the connect timeout (ticks enforce it). */
	while (!all(L, settled) && !atomic_load(&t->sh->stop))
		loop_once(L);
	rendezvous(L, true);
	/* Phase 2: the run. */
	while (!L->done)
		loop_once(L);
	t->measure_end_ns = L->end_ns && L->now > L->end_ns ? L->end_ns : L->now;
	/* Phase 3: close everything, bounded. */
	L->stopping = true;
	for (uint32_t i = 0; i < t->nconns; i++)
		begin_close(L, &L->conns[i]);
	deadline = L->now + DRAIN_NS;
	while (!all(L, idle) && L->now < deadline)
		loop_once(L);
	atomic_store(&t->pub_requests, t->c.requests);
	atomic_store(&t->pub_errors, load_errors(&t->c));
	loader_exit(L);
	free(L);
	atomic_store(&t->finished, true);
	return NULL;
}

int load_thread_start(struct load_thread *t)
{
	return -pthread_create(&t->tid, NULL, thread_main, t);
}

/* The request bytes: pipeline copies, so a batch of n is one contiguous send. */
int load_shared_init(struct load_shared *sh, const struct load_config *cfg)
{
	char host[INET6_ADDRSTRLEN + 8], one[LOAD_MAX_PATH + 512];
	int len, ret;

	memset(sh, 0, sizeof(*sh));
	sh->cfg = cfg;
	if (cfg->mode == LOAD_HTTP) {
		len = snprintf(one, sizeof(one), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", cfg->path,
			       cfg->host ? cfg->host
					 : net_addr_str(&cfg->target, host, sizeof(host)));
		if (len < 0 || (size_t)len >= sizeof(one))
			return -EINVAL;
		sh->request_len = (uint32_t)len;
		sh->request = malloc((size_t)len * cfg->pipeline);
		if (!sh->request)
			return -ENOMEM;
		for (uint32_t i = 0; i < cfg->pipeline; i++)
			memcpy(sh->request + (size_t)i * (size_t)len, one, (size_t)len);
	}
	ret = -pthread_barrier_init(&sh->ready, NULL, cfg->threads);
	if (ret)
		goto out_free;
	ret = -pthread_barrier_init(&sh->go, NULL, cfg->threads);
	if (ret)
		goto out_ready;
	return 0;

out_ready:
	pthread_barrier_destroy(&sh->ready);
out_free:
	free(sh->request);
	sh->request = NULL;
	return ret;
}

void load_shared_exit(struct load_shared *sh)
{
	pthread_barrier_destroy(&sh->ready);
	pthread_barrier_destroy(&sh->go);
	free(sh->request);
	sh->request = NULL;
}
