// SPDX-License-Identifier: MIT
/*
 * The load generator's client: one ring per thread, driven by the same
 * connection engine as the server (engine.h). Connect (a socket straight
 * into a direct descriptor, TCP_NODELAY, a linked timeout), receive, send
 * and the cancel -> close -> free of a connection are the server's code;
 * this file is a mode on that engine (callbacks that check what comes back)
 * and the loop around it that decides when to send. A loop iteration is
 *
 *   serve connections marked dirty (send, reconnect)
 *   -> submit + wait (one syscall, bounded by the next tick or send time)
 *   -> hand every CQE to the engine, which calls back (connected, readable,
 *      sent, peer_eof, closed) -> engine_flush: buffers go back
 *   -> open loop: find the connections whose next request is due
 *   -> every tick: response timeouts, reconnects, progress, end of run
 *
 * A client connection (struct lconn) outlives the engine connections it runs
 * on: it keeps its schedule and counters across reconnects and holds the
 * current engine connection by reference, and that connection's mode bytes
 * hold the lconn's index. Its life:
 *
 *   IDLE --engine_connect--> CONNECTING --connected(0)--> OPEN
 *     ^                        | connected(-errno)          | error, churn, EOF:
 *     |                        v                            v  engine_close(NOW)
 *     +------closed()------ CLOSING <-----------------------+
 *     |                                                     |
 *     +------closed(): the engine aborted it (a reset) -----+
 *
 * An lconn reconnects only after closed(), so it holds at most one engine
 * connection at a time. With TLS (engine_connect_tls), CONNECTING lasts
 * until the handshake is done: connected() comes after it, and the engine
 * says when the TCP part ended, so a connection's setup is timed in two
 * parts (load.h: load_phase). In the open loop a request keeps its intended
 * send time however long its connection took to set up, so a server slow
 * to accept or to shake hands shows in the latency of the requests that
 * waited for it.
 *
 * Requests sent before the warmup ends are answered but not counted; a
 * response is counted when its request was sent inside the measured window
 * and it completes before the window ends.
 */
#include "load.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "http_resp_parser.h"
#include "ringer/engine.h"
#include "ringer/mode.h"
#include "ringer/ring.h"
#include "ringer/stats.h"
#include "schedule.h"

#define NS_PER_MS      1000000ull
#define NS_PER_S       1000000000ull
#define TICK_NS	       (10 * NS_PER_MS)	 /* timeouts and reconnects are checked this often */
#define HELD_TICK_NS   (200 * NS_PER_MS) /* ... by a thread whose connections are all held idle */
#define ENGINE_TICK_NS (100 * NS_PER_MS) /* the engine's own timers (engine_tick) */
#define PUBLISH_NS     NS_PER_S
#define RETRY_NS       (50 * NS_PER_MS) /* pause before reconnecting after a failure */
#define DRAIN_NS       (2 * NS_PER_S)	/* at the end, time for closes to complete */
#define BUF_SIZE       8192
#define BGID	       1
#define NO_SLOT	       UINT32_MAX
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
	C_GONE, /* --no-reconnect: it was open and has closed; it stays closed */
};

struct lconn {
	struct conn_ref ref; /* the engine connection while not IDLE; slot NO_SLOT when none */
	uint8_t state;
	bool dirty;
	bool tried;		/* its first connect has been started */
	bool opened;		/* a connect of it has succeeded */
	bool last_call;		/* the server said it closes after this response */
	uint32_t inflight;	/* requests sent and not yet answered */
	uint32_t inflight_meas; /* the newest of those that were sent while measuring */
	uint32_t ts_tail;	/* closed loop: oldest entry of this connection's send times */
	uint32_t seed;		/* echo: where in the pattern this connection starts */
	uint32_t req_next;	/* http: the request the next send starts with */
	uint32_t req_resp;	/* http: the request the next response answers */
	uint64_t conn_sent;	/* requests sent since connect (churn) */
	uint64_t seq_sent;	/* open loop: schedule slots used, across reconnects */
	uint64_t seq_done;
	uint64_t echo_tx;
	uint64_t echo_rx;
	uint64_t last_io_ns;
	uint64_t retry_ns;
	/* The current connection's setup (load_phase): started, TCP up, ready, first send. */
	uint64_t t_start;
	uint64_t t_tcp;
	uint64_t t_ready;
	uint64_t t_first;
	bool fresh; /* its first response is still to come */
	struct sched sched;
	struct http_rparser http;
};

/*
 * What an engine connection's mode bytes hold: its lconn's index plus one.
 * Zero means engine_connect() has not returned yet, so a failure it reports
 * at once (a call back before it returns) belongs to loader.connecting.
 */
struct lconn_tag {
	uint32_t idx1;
};

_Static_assert(sizeof(struct lconn_tag) <= sizeof(((struct conn *)0)->proto),
	       "the tag fits in struct conn");

struct loader {
	struct stats stats; /* the engine's counters (first: the struct is cache-line aligned) */
	struct load_thread *t;
	struct load_shared *sh;
	const struct load_config *cfg;
	struct ring ring;
	struct engine *engine;
	struct engine_tls_client *tls; /* this thread's client context (--tls, https) */
	struct lconn *conns;
	uint64_t *send_ts; /* closed loop: nconns x pipeline send times */
	uint32_t *dirty;
	uint32_t ndirty;
	uint32_t connecting; /* the lconn inside engine_connect() */
	uint32_t nactive;    /* conns[0..nactive) send (--active); the rest are held idle */
	uint32_t n_idle;     /* lconns in C_IDLE: while any, every tick walks the whole table */
	uint32_t n_gone;     /* lconns in C_GONE */
	bool held_owed;	     /* the last walk of the held part found one not open */
	uint64_t next_held_walk_ns;
	uint64_t connect_t0; /* --connect-rate: this thread's budget counts from here */
	uint64_t connects_started;
	uint32_t connect_timeout_ms;
	uint8_t *pattern;
	uint64_t now;
	uint64_t reserved; /* measured requests sent and not lost */
	uint64_t end_ns;   /* 0: no time limit */
	uint64_t next_tick_ns;
	uint64_t next_engine_tick_ns;
	uint64_t next_pub_ns;
	uint64_t last_progress_ns;
	/* --interval: this thread's share of the current interval. */
	struct hist *ihist;
	struct hist *iphase;	       /* LOAD_PHASES of them, after ihist */
	struct load_counters isnap;    /* the counters when the interval began */
	uint64_t ival_k;	       /* the current interval; UINT64_MAX before the first */
	uint64_t ival_next;	       /* where it ends */
	struct http_rparser_memo memo; /* http: the last head parsed, shared by the connections */
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

uint32_t load_thread_active(const struct load_config *cfg, uint32_t first, uint32_t n)
{
	if (!cfg->active)
		return n;
	if (cfg->active <= first)
		return 0;
	return cfg->active - first < n ? cfg->active - first : n;
}

uint64_t load_errors(const struct load_counters *c)
{
	return c->err_connect + c->err_reset + c->err_timeout + c->err_mismatch + c->err_status +
	       c->err_tls;
}

static uint32_t lconn_idx(const struct loader *L, const struct lconn *lc)
{
	return (uint32_t)(lc - L->conns);
}

static struct lconn *lconn_of(struct loader *L, struct conn *c)
{
	const struct lconn_tag *tag = conn_mode(c);

	return &L->conns[tag->idx1 ? tag->idx1 - 1 : L->connecting];
}

/* lc's engine connection, or NULL when it has none. */
static struct conn *lconn_conn(struct loader *L, const struct lconn *lc)
{
	if (lc->ref.slot == NO_SLOT)
		return NULL;
	return engine_conn(L->engine, lc->ref);
}

static void mark_dirty(struct loader *L, struct lconn *lc)
{
	if (lc->dirty)
		return;
	lc->dirty = true;
	L->dirty[L->ndirty++] = lconn_idx(L, lc);
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

static void set_state(struct loader *L, struct lconn *lc, uint8_t st)
{
	L->n_idle += (st == C_IDLE) - (lc->state == C_IDLE);
	L->n_gone += (st == C_GONE) - (lc->state == C_GONE);
	lc->state = st;
}

/*
 * Requests still out are lost: they leave the quota so others replace them,
 * and in the open loop their schedule slots are skipped.
 */
static void lose_requests(struct loader *L, struct lconn *lc)
{
	L->reserved -= lc->inflight_meas;
	lc->seq_done = lc->seq_sent;
	lc->inflight = lc->inflight_meas = 0;
}

/*
 * Closes lc's connection (ENGINE_CLOSE_NOW: the engine cancels what is in
 * flight, then closes); lc stays CLOSING until the engine's closed() call
 * back.
 */
static void close_how(struct loader *L, struct lconn *lc, enum engine_close how)
{
	struct conn *c;

	if (lc->state == C_CLOSING || lc->state == C_IDLE || lc->state == C_GONE)
		return;
	lose_requests(L, lc);
	set_state(L, lc, C_CLOSING);
	c = lconn_conn(L, lc);
	if (c)
		engine_close(L->engine, c, how);
}

static void begin_close(struct loader *L, struct lconn *lc)
{
	close_how(L, lc, ENGINE_CLOSE_NOW);
}

static void fail_conn(struct loader *L, struct lconn *lc, uint64_t *counter)
{
	if (!L->stopping)
		(*counter)++;
	lc->retry_ns = L->now + RETRY_NS;
	begin_close(L, lc);
}

/*
 * --connect-rate: this thread's share of the rate allows this many connects
 * since it started (one at once, then one each 1/rate s).
 */
static bool connect_allowed(const struct loader *L)
{
	const struct load_config *cfg = L->cfg;
	unsigned __int128 allowed;

	if (!cfg->connect_rate)
		return true;
	allowed = (unsigned __int128)(L->now - L->connect_t0) * cfg->connect_rate * L->t->nconns /
			  cfg->connections / 1000000000u +
		  1;
	return L->connects_started < allowed;
}

static void start_connect(struct loader *L, struct lconn *lc)
{
	const struct load_config *cfg = L->cfg;
	uint32_t global = L->t->conn_first + lconn_idx(L, lc);
	struct lconn_tag *tag;
	struct conn *c;
	int err;

	set_state(L, lc, C_CONNECTING);
	lc->tried = true;
	lc->t_start = L->now;
	L->connects_started++;
	L->connecting = lconn_idx(L, lc);
	c = engine_connect_from(L->engine, &cfg->targets[global % cfg->n_targets],
				cfg->n_sources ? global % cfg->n_sources : UINT32_MAX,
				L->connect_timeout_ms, &err);
	if (!c) {
		/* Out of slots, descriptors or memory: count it and try again later. */
		set_state(L, lc, C_IDLE);
		L->t->c.err_connect++;
		lc->retry_ns = L->now + RETRY_NS;
		return;
	}
	if (lc->state == C_IDLE)
		return; /* failed and released before engine_connect() returned */
	tag = conn_mode(c);
	tag->idx1 = lconn_idx(L, lc) + 1;
	lc->ref = engine_ref(L->engine, c);
	if (L->tls && lc->state == C_CONNECTING &&
	    engine_connect_tls(L->engine, c, L->tls, cfg->sni)) {
		/* No memory for the connection's TLS state: a failed connect, tried again later. */
		L->t->c.err_connect++;
		lc->retry_ns = L->now + RETRY_NS;
		begin_close(L, lc);
	}
}

static void reset_stream(struct lconn *lc)
{
	lc->inflight = lc->inflight_meas = 0;
	lc->ts_tail = 0;
	lc->conn_sent = 0;
	lc->echo_tx = lc->echo_rx = 0;
	lc->last_call = false;
	/* What was in flight is lost: the next response answers the next request sent. */
	lc->req_resp = lc->req_next;
	http_rparser_init(&lc->http);
}

/* How many requests lc may send now. */
static uint32_t sendable(struct loader *L, struct lconn *lc)
{
	const struct load_config *cfg = L->cfg;
	uint64_t n = cfg->pipeline - lc->inflight;

	if (!L->started || L->done || lc->last_call || lconn_idx(L, lc) >= L->nactive)
		return 0;
	if (cfg->churn && cfg->churn - lc->conn_sent < n)
		n = cfg->churn - lc->conn_sent;
	if (L->open_loop) {
		uint64_t due = sched_due(&lc->sched, L->now);

		n = due > lc->seq_sent ? (due - lc->seq_sent < n ? due - lc->seq_sent : n) : 0;
	}
	if (cfg->requests && L->now >= L->t->measure_start_ns) {
		uint64_t left = L->t->quota - L->reserved;

		n = left < n ? left : n;
	}
	return (uint32_t)n;
}

/*
 * n requests in one send: the pipeline's batch, or the refill of those just
 * answered. The bytes (the pattern, or the shared request list, where the
 * next n requests in cycle order lie side by side) outlive the send, which
 * the engine resumes itself if it goes out short.
 */
static void start_send(struct loader *L, struct lconn *lc, struct conn *c, uint32_t n)
{
	const struct load_config *cfg = L->cfg;
	const uint8_t *ptr;
	uint32_t len;

	if (!L->open_loop) {
		uint64_t *ts = L->send_ts + (size_t)lconn_idx(L, lc) * cfg->pipeline;

		for (uint32_t i = 0; i < n; i++)
			ts[(lc->ts_tail + lc->inflight + i) % cfg->pipeline] = L->now;
	}
	/* The first response on a new connection is timed from its request's send. */
	if (!lc->conn_sent)
		lc->t_first = L->now;
	if (cfg->mode == LOAD_ECHO) {
		ptr = L->pattern + (lc->echo_tx + lc->seed) % PATTERN_PERIOD;
		len = n * cfg->size;
		lc->echo_tx += len;
	} else {
		ptr = request_run(&L->sh->reqs, lc->req_next, n, &len);
		lc->req_next = (uint32_t)((lc->req_next + n) % L->sh->reqs.n);
	}
	if (measuring(L)) {
		lc->inflight_meas += n;
		L->reserved += n;
		L->t->c.bytes_tx += len;
	}
	lc->inflight += n;
	lc->conn_sent += n;
	lc->seq_sent += n;
	lc->last_io_ns = L->now;
	/* serve() checked the connection can send; -EPIPE here means it just went. */
	if (engine_send(L->engine, c, ptr, len))
		fail_conn(L, lc, &L->t->c.err_reset);
}

/* Everything a connection may need to do next, given its state. */
static void serve(struct loader *L, struct lconn *lc)
{
	struct conn *c;
	uint32_t n;

	switch (lc->state) {
	case C_IDLE:
		/* Before the start, a failed first connect waits: the start must not. */
		if (!L->started && lc->retry_ns)
			return;
		if (!L->stopping && !atomic_load_explicit(&L->sh->stop, memory_order_relaxed) &&
		    L->now >= lc->retry_ns && connect_allowed(L))
			start_connect(L, lc);
		return;
	case C_CONNECTING:
	case C_CLOSING:
	case C_GONE:
		return;
	case C_OPEN:
		break;
	}
	c = lconn_conn(L, lc);
	/* Closing on the engine's own (a reset): closed() follows. One send at a time. */
	if (!c || engine_closing(c) || engine_sending(c))
		return;
	n = sendable(L, lc);
	if (n) {
		start_send(L, lc, c, n);
		return;
	}
	/*
	 * Churn, or the server's Connection: close: once all is answered,
	 * reconnect. A TLS connection ends with its close_notify, so the server
	 * sees a clean end rather than a truncation.
	 */
	if (!lc->inflight && (lc->last_call || (L->cfg->churn && lc->conn_sent >= L->cfg->churn))) {
		lc->retry_ns = L->now;
		close_how(L, lc, L->tls ? ENGINE_CLOSE : ENGINE_CLOSE_NOW);
	}
}

static uint64_t since(uint64_t later, uint64_t earlier)
{
	return later > earlier ? later - earlier : 0;
}

/* The negotiated version, cipher, group and ALPN of a connection, counted by combination. */
static void tls_note(struct loader *L, struct lconn *lc)
{
	struct load_thread *t = L->t;
	struct engine_tls_info info;
	struct conn *c = lconn_conn(L, lc);
	struct load_tls_kind *k;
	char group[sizeof(k->group)];

	if (!c || !engine_tls_info(L->engine, c, &info))
		return;
	t->c.tls_handshakes++;
	t->c.tls_resumed += info.resumed;
	snprintf(group, sizeof(group), "%s", info.group ? info.group : "");
	for (unsigned i = 0; i < t->n_tls_kinds; i++) {
		k = &t->tls_kinds[i];
		if (!strcmp(k->version, info.version) && !strcmp(k->cipher, info.cipher) &&
		    !strcmp(k->group, group) && !strcmp(k->alpn, info.alpn)) {
			k->count++;
			return;
		}
	}
	if (t->n_tls_kinds == LOAD_TLS_KINDS)
		return; /* the handshake is counted; its combination is one too many to name */
	k = &t->tls_kinds[t->n_tls_kinds++];
	/* Copies: a group's name lives in the context, which goes with the thread. */
	snprintf(k->version, sizeof(k->version), "%s", info.version);
	snprintf(k->cipher, sizeof(k->cipher), "%s", info.cipher);
	snprintf(k->group, sizeof(k->group), "%s", group);
	snprintf(k->alpn, sizeof(k->alpn), "%s", info.alpn);
	k->count = 1;
}

/*
 * A connection's first response was measured: its setup goes to the phase
 * histograms (load.h), with what TLS negotiated. A connection whose first
 * response was not measured (the warmup's) is left out of all of them.
 */
static void record_setup(struct loader *L, struct lconn *lc)
{
	uint64_t v[LOAD_PHASES] = {
		[LOAD_PH_CONNECT] = since(lc->t_tcp, lc->t_start),
		[LOAD_PH_TLS] = since(lc->t_ready, lc->t_tcp),
		[LOAD_PH_FIRST] = since(L->now, lc->t_first),
	};

	for (unsigned i = 0; i < LOAD_PHASES; i++) {
		if (i == LOAD_PH_TLS && !L->tls)
			continue;
		hist_record(&L->t->phase[i], v[i]);
		if (L->iphase)
			hist_record(&L->iphase[i], v[i]);
	}
	if (L->tls)
		tls_note(L, lc);
}

static void complete_one(struct loader *L, struct lconn *lc, unsigned status)
{
	struct load_counters *k = &L->t->c;
	bool counted = lc->inflight_meas == lc->inflight && lc->inflight_meas;
	bool first = lc->fresh;
	uint64_t sent;

	if (!lc->inflight) {
		/* A response nobody asked for: the stream is not what we sent. */
		fail_conn(L, lc, &k->err_mismatch);
		return;
	}
	if (L->open_loop) {
		sent = sched_time(&lc->sched, lc->seq_done);
	} else {
		sent = L->send_ts[(size_t)lconn_idx(L, lc) * L->cfg->pipeline + lc->ts_tail];
		lc->ts_tail = (lc->ts_tail + 1) % L->cfg->pipeline;
	}
	lc->seq_done++;
	lc->inflight--;
	lc->fresh = false;
	L->last_progress_ns = L->now;
	mark_dirty(L, lc);
	if (!counted)
		return;
	lc->inflight_meas--;
	if (L->done || (L->end_ns && L->now > L->end_ns))
		return;
	hist_record(&L->t->hist, L->now > sent ? L->now - sent : 0);
	if (L->ihist)
		hist_record(L->ihist, L->now > sent ? L->now - sent : 0);
	k->requests++;
	if (first)
		record_setup(L, lc);
	if (L->cfg->mode == LOAD_HTTP) {
		k->status[status >= 100 && status < 600 ? status / 100 : 0]++;
		if (!load_status_ok(L->cfg, status))
			k->err_status++;
	}
	if (L->cfg->requests && k->requests >= L->t->quota)
		L->done = true;
}

static void consume_echo(struct loader *L, struct lconn *lc, const uint8_t *data, uint32_t n)
{
	uint64_t before = lc->echo_rx / L->cfg->size, after;

	if (lc->echo_rx + n > lc->echo_tx ||
	    memcmp(data, L->pattern + (lc->echo_rx + lc->seed) % PATTERN_PERIOD, n)) {
		fail_conn(L, lc, &L->t->c.err_mismatch);
		return;
	}
	lc->echo_rx += n;
	after = lc->echo_rx / L->cfg->size;
	while (before++ < after && lc->state == C_OPEN)
		complete_one(L, lc, 200);
}

/* Responses answer requests in order: req_resp says which, so a HEAD's is read without a body. */
static void consume_http(struct loader *L, struct lconn *lc, const uint8_t *data, uint32_t n)
{
	const struct request_set *rs = &L->sh->reqs;

	while (n && lc->state == C_OPEN) {
		size_t used = 0;
		int r = http_rparser_feed_memo(&lc->http, &L->memo, data, n, rs->head[lc->req_resp],
					       &used);

		if (r < 0) {
			fail_conn(L, lc, &L->t->c.err_mismatch);
			return;
		}
		if (r == HTTP_RP_DONE) {
			lc->req_resp = lc->req_resp + 1 == rs->n ? 0 : lc->req_resp + 1;
			if (http_rparser_close(&lc->http))
				lc->last_call = true;
			complete_one(L, lc, lc->http.status);
			if (lc->last_call)
				return;
		}
		data += used;
		n -= (uint32_t)used;
	}
}

/* ---- the mode: what the engine tells us ---------------------------------------------------- */

static int lmode_init(struct engine *e, const void *arg, void **data)
{
	(void)e;
	*data = (void *)arg; /* the loader: the engine hands it back to every call below */
	return 0;
}

/*
 * A TLS connection failed after its TCP connect: the thread keeps the
 * reason of its first, which the report prints once.
 */
static void tls_failed(struct loader *L, struct conn *c, int res)
{
	struct load_thread *t = L->t;
	char why[128];

	if (t->tls_error[0])
		return;
	if (res == -ETIMEDOUT)
		snprintf(why, sizeof(why), "the handshake did not finish within --connect-timeout");
	else if (res != -ECONNABORTED)
		snprintf(why, sizeof(why), "the connection was reset during the handshake");
	else if (!engine_tls_error(L->engine, c, why, sizeof(why)))
		snprintf(why, sizeof(why), "the handshake failed");
	snprintf(t->tls_error, sizeof(t->tls_error), "%s", why);
	t->tls_error_ns = L->now;
}

static void lmode_connected(struct engine *e, struct conn *c, int res)
{
	struct loader *L = engine_mode_data(e);
	struct lconn *lc = lconn_of(L, c);
	/* With TLS: when the TCP connect ended; 0 when it did not, so the handshake never began. */
	uint64_t tcp = L->tls ? engine_tls_connect_ns(e, c) : L->now;

	if (lc->state != C_CONNECTING)
		return;
	if (res < 0) {
		/* The engine releases c after this; closed() makes lc IDLE again. */
		uint64_t *counter = res == -ETIMEDOUT ? &L->t->c.err_timeout
				    : L->tls && tcp   ? &L->t->c.err_tls
						      : &L->t->c.err_connect;

		if (!L->stopping) {
			(*counter)++;
			if (L->tls && tcp)
				tls_failed(L, c, res);
		}
		lc->retry_ns = L->now + RETRY_NS;
		set_state(L, lc, C_CLOSING);
		return;
	}
	set_state(L, lc, C_OPEN);
	reset_stream(lc);
	lc->t_tcp = tcp;
	lc->t_ready = L->now;
	lc->fresh = true;
	lc->opened = true;
	lc->last_io_ns = L->now; /* idle since: the report's server closes count from here */
	L->t->c.connects++;
	L->last_progress_ns = L->now;
	/*
	 * Send now, inside the call back: a TLS handshake's last flight goes
	 * out right after it, and until that send completes engine_send()
	 * would refuse, with no call back to say when it may.
	 */
	serve(L, lc);
}

/* Responses: every byte is checked (echo) or parsed (http), and consumed at once. */
static void lmode_readable(struct engine *e, struct conn *c)
{
	struct loader *L = engine_mode_data(e);
	struct lconn *lc = lconn_of(L, c);
	const uint8_t *data;
	uint32_t n;

	/* After a failure lc is CLOSING and the engine drops what is left. */
	while (lc->state == C_OPEN && (n = engine_input(e, c, &data)) != 0) {
		lc->last_io_ns = L->now;
		if (measuring(L))
			L->t->c.bytes_rx += n;
		if (L->cfg->mode == LOAD_ECHO)
			consume_echo(L, lc, data, n);
		else
			consume_http(L, lc, data, n);
		engine_consume(e, c, n);
	}
}

static void lmode_sent(struct engine *e, struct conn *c)
{
	struct loader *L = engine_mode_data(e);

	mark_dirty(L, lconn_of(L, c));
}

static void lmode_peer_eof(struct engine *e, struct conn *c)
{
	struct loader *L = engine_mode_data(e);
	struct lconn *lc = lconn_of(L, c);

	if (lc->state != C_OPEN)
		return;
	if (L->cfg->mode == LOAD_HTTP && http_rparser_eof(&lc->http) == HTTP_RP_DONE) {
		lc->last_call = true; /* a body that ran to the end of the stream */
		complete_one(L, lc, lc->http.status);
	}
	if (lc->state != C_OPEN)
		return;
	if (lc->inflight) {
		fail_conn(L, lc, &L->t->c.err_reset);
		return;
	}
	/*
	 * The server closed an idle connection: not an error. How long it had been
	 * idle goes to the report (a server's idle timeout, seen from outside),
	 * unless the server had said it would close (Connection: close, HTTP/1.0,
	 * a body up to the end); then it reconnects, unless --no-reconnect.
	 */
	if (!lc->last_call) {
		L->t->c.server_closes++;
		hist_record(&L->t->closes, (L->now - lc->last_io_ns) / 1000);
	}
	lc->retry_ns = L->now;
	/*
	 * With TLS the server's close_notify (a truncation never gets here: the
	 * engine resets it) is answered with ours. Without it OpenSSL takes the
	 * connection for a broken one and makes its session unresumable, and a
	 * server that closes after every response would never be resumed.
	 */
	close_how(L, lc, L->tls ? ENGINE_CLOSE : ENGINE_CLOSE_NOW);
}

/*
 * The engine connection is gone. If we did not close it, the engine did:
 * the peer reset it or an operation on it failed.
 */
static void lmode_closed(struct engine *e, struct conn *c)
{
	struct loader *L = engine_mode_data(e);
	struct lconn *lc = lconn_of(L, c);

	if (lc->state == C_OPEN || lc->state == C_CONNECTING) {
		/* Reset after the TCP connect, before the TLS handshake's end: a failed handshake. */
		bool hs = lc->state == C_CONNECTING && L->tls && engine_tls_connect_ns(e, c);
		uint64_t *counter = lc->state == C_OPEN ? &L->t->c.err_reset
				    : hs		? &L->t->c.err_tls
							: &L->t->c.err_connect;

		if (!L->stopping) {
			(*counter)++;
			if (hs)
				tls_failed(L, c, -ECONNRESET);
		}
		lose_requests(L, lc);
		lc->retry_ns = L->now + RETRY_NS;
	}
	lc->ref = (struct conn_ref){NO_SLOT, 0};
	if (L->cfg->no_reconnect && lc->opened && !L->stopping) {
		set_state(L, lc, C_GONE);
		return;
	}
	set_state(L, lc, C_IDLE);
	mark_dirty(L, lc);
}

static const struct mode_ops load_mode = {
	.name = "load",
	.init = lmode_init,
	.connected = lmode_connected,
	.readable = lmode_readable,
	.sent = lmode_sent,
	.peer_eof = lmode_peer_eof,
	.closed = lmode_closed,
};

/* ---- intervals ----------------------------------------------------------------------------- */

static uint32_t open_conns(const struct loader *L)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < L->t->nconns; i++)
		n += L->conns[i].state == C_OPEN;
	return n;
}

/* Adds this thread's share of interval L->ival_k, which ended at end_ns, to its slot. */
static void ival_add(struct loader *L, uint64_t end_ns)
{
	struct load_shared *sh = L->sh;
	struct load_ival *slot = &sh->ivals[L->ival_k % LOAD_IVAL_SLOTS];
	const uint64_t *now = (const uint64_t *)&L->t->c, *then = (const uint64_t *)&L->isnap;
	uint64_t *sum = (uint64_t *)&slot->c;

	pthread_mutex_lock(&sh->ival_lock);
	/* The main thread has not taken the interval this slot held before: rare, brief. */
	while (slot->contributed && slot->k != L->ival_k)
		pthread_cond_wait(&sh->ival_cond, &sh->ival_lock);
	if (!slot->contributed) {
		slot->k = L->ival_k;
		slot->conns = 0;
		slot->end_ns = 0;
		memset(&slot->c, 0, sizeof(slot->c));
		hist_init(&slot->hist);
		for (unsigned i = 0; i < LOAD_PHASES; i++)
			hist_init(&slot->phase[i]);
	}
	/* load_counters is all uint64_t: the interval's are now minus then. */
	for (size_t i = 0; i < sizeof(slot->c) / sizeof(uint64_t); i++)
		sum[i] += now[i] - then[i];
	hist_merge(&slot->hist, L->ihist);
	for (unsigned i = 0; i < LOAD_PHASES; i++)
		hist_merge(&slot->phase[i], &L->iphase[i]);
	slot->conns += open_conns(L);
	if (end_ns > slot->end_ns)
		slot->end_ns = end_ns;
	slot->contributed++;
	atomic_store(&L->t->ival_last, (int_least64_t)L->ival_k);
	pthread_mutex_unlock(&sh->ival_lock);
}

/* Starts the next interval afresh. */
static void ival_begin(struct loader *L)
{
	L->isnap = L->t->c;
	hist_init(L->ihist);
	for (unsigned i = 0; i < LOAD_PHASES; i++)
		hist_init(&L->iphase[i]);
	L->ival_k++;
	L->ival_next += L->cfg->interval_ns;
}

/* Every boundary passed: the intervals that ended are added, empty ones too. */
static void ival_roll(struct loader *L)
{
	while (L->now >= L->ival_next) {
		if (L->ival_k != UINT64_MAX)
			ival_add(L, L->ival_next);
		ival_begin(L);
	}
}

/* The run is over: the last, partial interval, unless it had not begun. */
static void ival_finish(struct loader *L)
{
	if (L->ihist && L->started && L->ival_k != UINT64_MAX &&
	    (L->t->measure_end_ns > L->ival_next - L->cfg->interval_ns ||
	     L->t->c.requests != L->isnap.requests))
		ival_add(L, L->t->measure_end_ns);
	atomic_store(&L->t->ival_final, true);
}

int load_ival_take(struct load_shared *sh, struct load_thread *th, unsigned n, uint64_t k,
		   struct load_ival *out)
{
	struct load_ival *slot = &sh->ivals[k % LOAD_IVAL_SLOTS];
	unsigned need = 0;
	int ret = 0;

	pthread_mutex_lock(&sh->ival_lock);
	for (unsigned i = 0; i < n; i++)
		need += !atomic_load(&th[i].ival_final) ||
			atomic_load(&th[i].ival_last) >= (int_least64_t)k;
	if (!need) {
		ret = -1;
	} else if (slot->contributed == need && slot->k == k) {
		memcpy(out, slot, sizeof(*out));
		slot->contributed = 0;
		pthread_cond_broadcast(&sh->ival_cond);
		ret = 1;
	}
	pthread_mutex_unlock(&sh->ival_lock);
	return ret;
}

/* ---- the loop ------------------------------------------------------------------------------ */

/* Response timeouts, reconnects, the end of the run and the published progress. */
static void tick(struct loader *L)
{
	const struct load_config *cfg = L->cfg;
	struct load_counters *k = &L->t->c;
	uint64_t stall = cfg->connect_timeout_ns + cfg->timeout_ns;
	uint32_t walk = L->nactive;
	bool owed = false;

	/*
	 * The connections that send are walked every tick. Those held idle
	 * (--active) have nothing out to time out: they are walked once a second,
	 * or every tick while some connection waits to (re)connect, so a million
	 * held connections do not cost a walk of the table a hundred times a second.
	 */
	if (L->n_idle || L->now >= L->next_held_walk_ns) {
		walk = L->t->nconns;
		L->held_owed = false;
		L->next_held_walk_ns = L->now + PUBLISH_NS;
	}
	/* Connects time out in the kernel: engine_connect() links a timeout to each. */
	for (uint32_t i = 0; i < walk; i++) {
		struct lconn *lc = &L->conns[i];
		bool out = (lc->state != C_OPEN && lc->state != C_GONE) || lc->inflight;

		owed |= out;
		if (i >= L->nactive)
			L->held_owed |= out;
		if (lc->state == C_OPEN && lc->inflight &&
		    L->now - lc->last_io_ns > cfg->timeout_ns)
			fail_conn(L, lc, &k->err_timeout);
		else if (lc->state == C_IDLE)
			mark_dirty(L, lc);
		/* Closed loop: a send the engine made of its own (TLS) held this one's back. */
		else if (lc->state == C_OPEN && !lc->inflight && !L->open_loop && i < L->nactive)
			mark_dirty(L, lc);
	}
	owed |= L->held_owed;
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
	/* --no-reconnect: nothing is left to send on or to hold. */
	if (L->started && L->n_gone == L->t->nconns)
		L->done = true;
	if (atomic_load_explicit(&L->sh->stop, memory_order_relaxed))
		L->done = true;
	if (L->now >= L->next_engine_tick_ns) {
		engine_tick(L->engine, L->now / NS_PER_MS);
		L->next_engine_tick_ns = L->now + ENGINE_TICK_NS;
	}
	if (L->now >= L->next_pub_ns) {
		atomic_store_explicit(&L->t->pub_requests, k->requests, memory_order_relaxed);
		atomic_store_explicit(&L->t->pub_errors, load_errors(k), memory_order_relaxed);
		atomic_store_explicit(&L->t->pub_p99, hist_percentile(&L->t->hist, 99.0),
				      memory_order_relaxed);
		L->next_pub_ns = L->now + PUBLISH_NS;
	}
	/*
	 * A thread that only holds idle connections has nothing to time: it wakes
	 * five times a second, not a hundred, so dozens of such threads (a million
	 * held connections) leave the cores to those that send.
	 */
	L->next_tick_ns = L->now + (L->nactive || L->n_idle ? TICK_NS : HELD_TICK_NS);
}

/* Open loop: connections whose next request is due; returns when the next one falls due. */
static uint64_t schedule_sends(struct loader *L)
{
	uint64_t next = UINT64_MAX;

	for (uint32_t i = 0; i < L->nactive; i++) {
		struct lconn *lc = &L->conns[i];
		struct conn *c;
		uint64_t at;

		if (lc->state != C_OPEN || lc->inflight >= L->cfg->pipeline)
			continue;
		c = lconn_conn(L, lc);
		if (!c || engine_sending(c))
			continue;
		at = sched_time(&lc->sched, lc->seq_sent);
		if (at <= L->now)
			mark_dirty(L, lc);
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
		struct lconn *lc = &L->conns[L->dirty[i]];

		lc->dirty = false;
		serve(L, lc);
	}
	L->ndirty = 0;
	/* Handshakes over the engine's budget wait for the next iteration: do not sleep. */
	if (engine_pending(L->engine))
		wake = L->now;

	ret = ring_submit_and_wait_timeout(&L->ring, 1, wake > L->now ? wake - L->now : 0);
	if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EBUSY && ret != -EAGAIN)
		fatal(L, ret, "io_uring_enter");
	L->now = load_now_ns();
	engine_set_now(L->engine, L->now / NS_PER_MS);
	/* Responses that arrived after a boundary belong to the next interval. */
	if (L->ihist && L->started && L->now >= L->ival_next)
		ival_roll(L);
	ring_for_each_cqe(&L->ring, head, cqe)
	{
		/* Every operation is the engine's; anything else (a liburing timeout) is not ours. */
		if (engine_owns(cqe->user_data))
			engine_complete(L->engine, cqe);
		n++;
	}
	ring_cq_advance(&L->ring, n);
	engine_flush(L->engine);
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

/* Its first connect has been made and has come back (or failed at once). */
static bool settled(const struct lconn *lc)
{
	return lc->tried && lc->state != C_CONNECTING;
}

static uint32_t pow2_at_least(uint32_t v, uint32_t lo, uint32_t hi)
{
	uint32_t p = lo;

	while (p < v && p < hi)
		p <<= 1;
	return p;
}

/* The fixed-file table may not exceed the descriptor limit (load_main raised it). */
static unsigned file_slot_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 1024;
	return rl.rlim_cur > (1u << 20) ? (1u << 20) : (unsigned)rl.rlim_cur;
}

static int loader_init(struct loader *L, struct load_thread *t)
{
	const struct load_config *cfg = t->sh->cfg;
	uint32_t n = t->nconns;
	uint64_t timeout_ms = (cfg->connect_timeout_ns + NS_PER_MS - 1) / NS_PER_MS;
	/*
	 * An lconn holds one engine connection at a time; the headroom only
	 * keeps a closing one from ever standing in a new connect's way.
	 */
	struct engine_params p = {
		.mode = &load_mode,
		.mode_arg = L,
		.stats = &L->stats,
		.max_conns = 2 * n + 16,
		.file_slots = file_slot_limit(),
		/* Buffers for the connections that send: held-idle ones need none. */
		.buf_count = pow2_at_least(load_thread_active(cfg, t->conn_first, n) * 2, 64, 8192),
		.buf_size = BUF_SIZE,
		.bgid = BGID,
		.idle_ms = 0,
		.sources = cfg->sources,
		.n_sources = cfg->n_sources,
		.tls_client = cfg->tls,
	};
	char note[160], why[sizeof(t->error)];
	size_t pat_len;
	int ret;

	L->t = t;
	L->sh = t->sh;
	L->cfg = cfg;
	L->open_loop = cfg->rate != 0;
	L->nactive = load_thread_active(cfg, t->conn_first, n);
	L->n_idle = n; /* every lconn starts IDLE (calloc) */
	L->connect_timeout_ms = timeout_ms > UINT32_MAX ? UINT32_MAX : (uint32_t)timeout_ms;
	hist_init(&t->hist);
	hist_init(&t->closes);
	for (unsigned i = 0; i < LOAD_PHASES; i++)
		hist_init(&t->phase[i]);
	/* TLS: plaintext in and records out take pool buffers beside the ring's. */
	p.tls_buffers = cfg->tls ? 2 * p.buf_count : 0;
	ret = ring_init(&L->ring, pow2_at_least(n * 3 + 16, 64, 8192), 4, NULL, 0);
	if (ret) {
		fatal(L, ret, "io_uring setup");
		ring_unavailable(ret, t->error, sizeof(t->error)); /* the cause and the fix */
		return ret;
	}
	ret = engine_create(&L->engine, &L->ring, &p, note, sizeof(note));
	if (ret) {
		fatal(L, ret, "connection engine setup");
		goto out_ring;
	}
	/* One client context per thread: its sessions are this thread's (OpenSSL locks shared ones). */
	if (cfg->tls) {
		ret = engine_tls_client(L->engine, &cfg->tls_s, &L->tls, why, sizeof(why));
		if (ret) {
			fatal(L, ret, "TLS client context");
			if (ret == -EINVAL)
				snprintf(t->error, sizeof(t->error), "%s", why);
			goto out_engine;
		}
	}
	pat_len = PATTERN_PERIOD + (size_t)cfg->size * cfg->pipeline + BUF_SIZE;
	L->conns = calloc(n, sizeof(*L->conns));
	L->dirty = calloc(n, sizeof(*L->dirty));
	L->send_ts = calloc((size_t)n * cfg->pipeline, sizeof(*L->send_ts));
	L->pattern = cfg->mode == LOAD_ECHO ? malloc(pat_len) : NULL;
	/* The interval's latency histogram, then its phases'. */
	L->ihist = cfg->interval_ns ? malloc((1 + LOAD_PHASES) * sizeof(*L->ihist)) : NULL;
	if (L->ihist) {
		hist_init(L->ihist);
		L->iphase = L->ihist + 1;
		for (unsigned i = 0; i < LOAD_PHASES; i++)
			hist_init(&L->iphase[i]);
	}
	if (!L->conns || !L->dirty || !L->send_ts || (cfg->mode == LOAD_ECHO && !L->pattern) ||
	    (cfg->interval_ns && !L->ihist)) {
		ret = -ENOMEM;
		fatal(L, ret, "memory");
		goto out_free;
	}
	/* 167 is odd, so j -> 167 j + 13 (mod 256) is one-to-one on a period. */
	for (size_t i = 0; L->pattern && i < pat_len; i++)
		L->pattern[i] = (uint8_t)((i % PATTERN_PERIOD) * 167 + 13);
	for (uint32_t i = 0; i < n; i++) {
		L->conns[i].ref = (struct conn_ref){NO_SLOT, 0};
		L->conns[i].seed = ((t->conn_first + i) * 97u) % PATTERN_PERIOD;
		/* Connection i starts at request i of the list, so all of it is in use at once. */
		if (L->sh->reqs.n)
			L->conns[i].req_next = (t->conn_first + i) % L->sh->reqs.n;
	}
	return 0;

out_free:
	free(L->ihist);
	free(L->conns);
	free(L->dirty);
	free(L->send_ts);
	free(L->pattern);
out_engine:
	engine_destroy(L->engine);
out_ring:
	ring_exit(&L->ring);
	return ret;
}

/* Whatever is still open after the drain goes with the ring (its fixed-file table). */
static void loader_exit(struct loader *L)
{
	engine_destroy(L->engine);
	L->engine = NULL;
	ring_exit(&L->ring);
	free(L->ihist);
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
	L->ival_k = UINT64_MAX;
	L->ival_next = L->t->measure_start_ns;
	/* More threads than requests: this one has nothing to send. */
	if (L->cfg->requests && !L->t->quota)
		L->done = true;
	/* The plan is spread over the connections that send (--active: a prefix of them). */
	for (uint32_t i = 0; i < L->t->nconns; i++) {
		L->conns[i].sched =
			sched_make(&sh->plan, sh->start_ns,
				   L->cfg->active ? L->cfg->active : L->cfg->connections,
				   L->t->conn_first + i);
		mark_dirty(L, &L->conns[i]);
	}
}

static void *thread_main(void *arg)
{
	struct load_thread *t = arg;
	/* Aligned: struct stats keeps its own cache line. */
	struct loader *L = aligned_alloc(_Alignof(struct loader), sizeof(*L));
	uint64_t deadline;

	pin(t->cpu);
	if (L)
		memset(L, 0, sizeof(*L));
	if (!L || loader_init(L, t)) {
		if (!L)
			atomic_store(&t->sh->stop, true);
		pthread_barrier_wait(&t->sh->ready);
		pthread_barrier_wait(&t->sh->go);
		free(L);
		atomic_store(&t->ival_final, true);
		atomic_store(&t->finished, true);
		return NULL;
	}
	L->now = load_now_ns();
	L->connect_t0 = L->now;
	L->next_tick_ns = L->now + TICK_NS;
	L->next_engine_tick_ns = L->now + ENGINE_TICK_NS;
	engine_set_now(L->engine, L->now / NS_PER_MS);
	for (uint32_t i = 0; i < t->nconns; i++)
		mark_dirty(L, &L->conns[i]);
	/*
	 * Phase 1: first connects, each bounded by its linked connect timeout
	 * (and paced by --connect-rate). Whether all have settled is a walk of
	 * the table: once a tick, not once a loop.
	 */
	for (uint64_t check = 0; !atomic_load(&t->sh->stop); loop_once(L)) {
		if (L->now < check)
			continue;
		if (all(L, settled))
			break;
		check = L->now + TICK_NS;
	}
	t->connect_ns = L->now - L->connect_t0;
	rendezvous(L, true);
	/* Phase 2: the run. */
	while (!L->done)
		loop_once(L);
	t->measure_end_ns = L->end_ns && L->now > L->end_ns ? L->end_ns : L->now;
	ival_finish(L);
	/* Phase 3: close everything, bounded. */
	L->stopping = true;
	for (uint32_t i = 0; i < t->nconns; i++)
		begin_close(L, &L->conns[i]);
	deadline = L->now + DRAIN_NS;
	while (L->n_idle + L->n_gone < t->nconns && L->now < deadline)
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

/*
 * The open-loop plan the threads share: the warmup at the first rate, then
 * the plan measured. Closed loop has none (a constant 1/s keeps it defined).
 */
static int plan_init(struct sched_plan *p, const struct load_config *cfg)
{
	struct sched_seg segs[SCHED_MAX_SEGS + 1];
	unsigned n = 0;

	if (!cfg->plan_segs) {
		sched_plan_const(p, 1);
		return 0;
	}
	if (cfg->warmup_ns)
		segs[n++] =
			(struct sched_seg){cfg->plan[0].from, cfg->plan[0].from, cfg->warmup_ns};
	memcpy(segs + n, cfg->plan, cfg->plan_segs * sizeof(segs[0]));
	n += cfg->plan_segs;
	/* The warmup takes a segment: a plan of the maximum and a warmup has one too many. */
	if (n > SCHED_MAX_SEGS)
		return -E2BIG;
	return sched_plan_init(p, segs, n);
}

/*
 * The request list (load_config_requests() built it with every run of up to
 * --pipeline requests contiguous, so a batch of n is one send): borrowed, the
 * caller keeps it across runs and frees it.
 */
int load_shared_init(struct load_shared *sh, const struct load_config *cfg,
		     const struct request_set *reqs)
{
	int ret;

	memset(sh, 0, sizeof(*sh));
	sh->cfg = cfg;
	ret = plan_init(&sh->plan, cfg);
	if (ret)
		return ret;
	sh->reqs = *reqs;
	if (cfg->interval_ns) {
		sh->ivals = calloc(LOAD_IVAL_SLOTS, sizeof(*sh->ivals));
		if (!sh->ivals)
			return -ENOMEM;
	}
	pthread_mutex_init(&sh->ival_lock, NULL);
	pthread_cond_init(&sh->ival_cond, NULL);
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
	free(sh->ivals);
	sh->ivals = NULL;
	return ret;
}

void load_shared_exit(struct load_shared *sh)
{
	pthread_barrier_destroy(&sh->ready);
	pthread_barrier_destroy(&sh->go);
	pthread_mutex_destroy(&sh->ival_lock);
	pthread_cond_destroy(&sh->ival_cond);
	free(sh->ivals);
	sh->ivals = NULL;
}
