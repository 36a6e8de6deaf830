// SPDX-License-Identifier: MIT
/*
 * Proxy: an L4 TCP relay. Each client session is two engine connections,
 * the accepted client and the upstream the engine connected out, which
 * point at each other (a conn_ref that goes stale when the other is freed).
 *
 *   accepted(client) -> pick an upstream -> engine_connect (SYN_SENT)
 *       client bytes that arrive meanwhile stay queued on the client: the
 *       engine stops receiving at its input limit, so they are bounded
 *   connected(up, 0)  -> forward what the client sent so far; relay from now
 *   connected(up, <0) -> mark the failure (passive health), try the next
 *                        upstream up to --connect-retries, else close the client
 *   readable(x)       -> engine_forward(x, peer): the received buffers move to
 *                        the peer's output without a copy; the engine blocks
 *                        x's receive while the peer's output is full
 *   peer_eof(x)       -> engine_shutdown(peer): our FIN to the peer once its
 *                        output has drained, while the other direction flows
 *                        on; each side closes when both of its directions
 *                        are finished (the engine's rule)
 *   closed(x)         -> the peer closes too: with a reset when x ended by a
 *                        reset or an error (the failure propagates), else
 *                        once its output has drained
 *
 * Upstream limits (maxconn=N): sessions per upstream are counted over all
 * shards (an atomic counter each); a client whose candidates are all at
 * their limit waits in its shard's queue, holding its bytes, and is served
 * when a session of that shard ends or, for slots freed on another shard,
 * at the next tick; --queue-timeout closes it (QT in the log).
 *
 * Active health checks (--check): one shard's proxy (the first to start)
 * connects to each upstream every --check-interval, on an engine timer
 * (engine_set_timer: the engine's 100 ms tick, so 200 ms is 5 a second),
 * an io_uring connect like any other; --check-fall failures in a row
 * mark the upstream down for every shard (a shared atomic flag), --check-rise
 * successes mark it up again, and each change is logged once and counted.
 * Passive health (connect failures of real sessions) runs beside it, per
 * shard, in balance.c.
 *
 * nginx's stream proxy moves bytes for both directions in one function
 * choosing source and destination; here the engine does the moving and this
 * file only chooses.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "balance.h"
#include "ringer/config.h"
#include "ringer/engine.h"
#include "ringer/tls.h"
#include "ringer/mode.h"
#include "ringer/proxy_proto.h"

#define NO_PEER UINT32_MAX

#define LOG_BUF	  (64 * 1024) /* one of the two session-log buffers of a shard */
#define LOG_CHUNK 4096	      /* most bytes per write: PIPE_BUF, so lines never interleave */

/*
 * The session log of one shard: lines go into one buffer while the other is
 * being written (an io_uring write, engine_write), whole lines at most
 * LOG_CHUNK at a time; the tick starts the next write. A line that finds
 * its buffer full is dropped and counted, never waited for.
 */
struct plog {
	char buf[2][LOG_BUF];
	uint32_t len[2];
	int cur;	/* the buffer being filled */
	int busy;	/* the buffer being written, or -1 */
	uint32_t off;	/* ... bytes of it written so far */
	uint32_t chunk; /* ... bytes of the write in flight (0: none in flight) */
	int fd;		/* where this shard writes: cfg->log_fd as it was at a line's end */
};

/* A v1 line (107), or a v2 header with IPv6 addresses (52) and the client's TLS TLVs. */
#define PP_HDR_MAX 255

struct proxy_shared;

struct proxy {
	const struct config *cfg;
	struct proxy_shared *sh; /* what this listener's proxies on every shard share */
	struct balance bal;
	struct plog *log;	  /* NULL without --log */
	char (*hdrs)[PP_HDR_MAX]; /* --send-proxy: per slot, the header to send upstream */
	size_t hdrs_bytes;
	const struct upstream_set *set; /* the upstreams this shard picks from */
	struct conn_ref *queue;		/* clients waiting for a slot (maxconn), oldest first */
	uint32_t q_head, q_len, q_cap;
	bool limits; /* some upstream has a maxconn */
	/*
	 * Per upstream slot with ,tls: this shard's client context, made on
	 * first use, and the name and verification it was made for (a reload
	 * may change them: then a new context, so sessions never cross).
	 */
	struct up_tls {
		struct engine_tls_client *tc;
		char sni[96];
		bool verify;
	} tls[CONFIG_MAX_UPSTREAMS];
};

/*
 * Active health, process-wide: down[] is read by every shard and written
 * only by the checking shard, like the rest of this table.
 */
struct health {
	int down;	/* atomic */
	uint32_t fails; /* checks failed in a row */
	uint32_t oks;	/* checks passed in a row, while down */
	bool in_flight;
	uint64_t next_ms;
};

/*
 * What the proxies of one listener share over every shard: sessions per
 * upstream (for maxconn) and active health. One per proxy listener, found
 * by its configuration when a shard's proxy starts, and kept for the life
 * of the process (shards start and stop together).
 */
struct proxy_shared {
	const struct config *cfg;
	uint32_t up_sessions[BALANCE_MAX]; /* sessions per upstream over all shards (atomic) */
	struct health health[BALANCE_MAX];
	struct engine *checker; /* the engine whose proxy runs the checks (atomic) */
};

static struct proxy_shared shared[ENGINE_MAX_LISTENERS];
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;

static struct proxy_shared *shared_for(const struct config *cfg)
{
	struct proxy_shared *sh = NULL;

	pthread_mutex_lock(&shared_lock);
	for (unsigned i = 0; i < ENGINE_MAX_LISTENERS && !sh; i++)
		if (shared[i].cfg == cfg)
			sh = &shared[i];
	for (unsigned i = 0; i < ENGINE_MAX_LISTENERS && !sh; i++) {
		if (!shared[i].cfg) {
			sh = &shared[i];
			sh->cfg = cfg;
		}
	}
	pthread_mutex_unlock(&shared_lock);
	return sh;
}

static uint64_t health_down_mask(const struct proxy_shared *sh, unsigned n)
{
	uint64_t mask = 0;

	for (unsigned i = 0; i < n; i++)
		if (__atomic_load_n(&sh->health[i].down, __ATOMIC_RELAXED))
			mask |= 1ull << i;
	return mask;
}

struct pconn {
	struct conn_ref peer; /* the other side; slot NO_PEER when there is none */
	uint64_t tried;	      /* client: upstreams tried for this session (bit each) */
	uint64_t hash;	      /* client: hash of its address, for --balance source */
	uint8_t upstream;     /* the session's upstream */
	uint8_t attempts;     /* client: connects tried */
	uint8_t is_client;
	uint8_t counted;  /* upstream: counted in its upstream's active sessions */
	uint8_t is_check; /* an active health check's connection, no session */
	uint8_t term;	  /* client: how the session ended (enum term), for the log */
	uint8_t hdr_len; /* client: its PROXY header's length; upstream: the header still to send */
	uint8_t queued;	 /* client: waiting in the queue for a slot */
	uint8_t slot;	 /* upstream: holds one of its upstream's maxconn slots */
};

/* How a session ended, as the log's two-letter code says. */
enum term {
	TERM_NORMAL,	   /* "--" both sides finished with their FIN */
	TERM_CLIENT_RESET, /* "CR" the client reset or failed (an engine timeout included) */
	TERM_UP_RESET,	   /* "SR" the upstream reset or failed */
	TERM_CONNECT,	   /* "CC" the last connect to an upstream failed */
	TERM_CONNECT_TIME, /* "CT" ... timed out */
	TERM_NO_UPSTREAM,  /* "NU" no upstream to try (all down, or no slot) */
	TERM_HALF_CLOSE,   /* "HT" --half-close-timeout ended it */
	TERM_QUEUE_TIME,   /* "QT" --queue-timeout ended its wait for a slot */
};

static const char term_code[][3] = {"--", "CR", "SR", "CC", "CT", "NU", "HT", "QT"};

_Static_assert(sizeof(struct pconn) <= sizeof(((struct conn *)0)->proto), "fits in struct conn");

static inline struct pconn *pconn(struct conn *c)
{
	return conn_mode(c);
}

static struct conn *peer_of(struct engine *e, struct conn *c)
{
	struct pconn *pc = pconn(c);

	return pc->peer.slot == NO_PEER ? NULL : engine_conn(e, pc->peer);
}

static void unlink_peer(struct conn *c)
{
	pconn(c)->peer.slot = NO_PEER;
}

/*
 * A reload (SIGHUP, --upstreams-file) published a new upstream set: pick from
 * it from now on. Slots keep their meaning, so sessions already running,
 * their counters and health carry on.
 */
static void proxy_refresh(struct proxy *px)
{
	const struct upstream_set *s = __atomic_load_n(&px->cfg->set, __ATOMIC_ACQUIRE);
	uint32_t weights[BALANCE_MAX];

	if (!s || s == px->set)
		return;
	px->set = s;
	px->limits = false;
	for (unsigned i = 0; i < s->n && i < BALANCE_MAX; i++) {
		weights[i] = s->up[i].weight;
		px->limits |= s->up[i].maxconn != 0;
	}
	balance_update(&px->bal, s->n, weights);
}

/* Slots whose upstream a reload removed: no new sessions there. */
static uint64_t retired_mask(const struct proxy *px)
{
	uint64_t mask = 0;

	for (unsigned i = 0; i < px->set->n && i < BALANCE_MAX; i++)
		if (!px->set->enabled[i])
			mask |= 1ull << i;
	return mask;
}

/* Upstreams at their maxconn right now. */
static uint64_t full_mask(const struct proxy *px)
{
	uint64_t mask = 0;

	if (!px->limits)
		return 0;
	for (unsigned i = 0; i < px->bal.n; i++) {
		unsigned max = px->set->up[i].maxconn;

		if (max && __atomic_load_n(&px->sh->up_sessions[i], __ATOMIC_RELAXED) >= max)
			mask |= 1ull << i;
	}
	return mask;
}

/* One of upstream i's slots, unless another shard took the last one first. */
static bool take_slot(const struct proxy *px, unsigned i)
{
	unsigned max = px->set->up[i].maxconn;

	if (!max)
		return true;
	if (__atomic_fetch_add(&px->sh->up_sessions[i], 1, __ATOMIC_RELAXED) < max)
		return true;
	__atomic_fetch_sub(&px->sh->up_sessions[i], 1, __ATOMIC_RELAXED);
	return false;
}

static void uncount(struct engine *e, struct proxy *px, struct conn *up)
{
	struct pconn *pu = pconn(up);

	if (pu->slot) {
		pu->slot = 0;
		__atomic_fetch_sub(&px->sh->up_sessions[pu->upstream], 1, __ATOMIC_RELAXED);
	}
	if (!pu->counted)
		return;
	pu->counted = 0;
	px->bal.up[pu->upstream].active--;
	STAT_ADD(engine_stats(e), up[pu->upstream].active, -1);
}

enum start {
	START_OK,   /* connecting */
	START_NONE, /* no upstream left to try */
	START_FULL, /* those left are at their maxconn: wait in the queue */
};

/* The client context for TLS to upstream i, made on first use; NULL if it cannot be made. */
static struct engine_tls_client *upstream_tls(struct engine *e, struct proxy *px, unsigned i)
{
	const struct config_upstream *u = &px->set->up[i];
	struct up_tls *t = &px->tls[i];

	if (t->tc && (strcmp(t->sni, u->sni) || t->verify != !u->no_verify))
		t->tc = NULL; /* the engine frees the old one with itself */
	if (!t->tc) {
		const struct config *cfg = px->cfg;
		struct tls_client_settings s = {
			.ca = cfg->upstream_ca,
			.verify = !u->no_verify,
			.cert = cfg->upstream_cert,
			.key = cfg->upstream_key,
			.resume = true,
			.what = "--upstream-ca/--upstream-cert/--upstream-key",
		};
		char err[256];

		if (engine_tls_client(e, &s, &t->tc, err, sizeof(err)))
			return NULL; /* main made the same context at startup: out of memory */
		snprintf(t->sni, sizeof(t->sni), "%s", u->sni);
		t->verify = !u->no_verify;
	}
	return t->tc;
}

/* Connects the client's session to the next upstream. */
static enum start start_upstream(struct engine *e, struct proxy *px, struct conn *client)
{
	const struct config *cfg = px->cfg;
	struct pconn *pc = pconn(client), *pu;
	uint64_t skip = pc->tried | health_down_mask(px->sh, px->bal.n) | retired_mask(px), full;
	struct engine_tls_client *tc;
	struct conn *up;
	int i, err;
	bool slot;

	for (;;) {
		full = full_mask(px);
		i = balance_pick(&px->bal, pc->hash, skip | full, engine_now_ms(e));
		if (i < 0)
			return (full & ~skip) ? START_FULL : START_NONE;
		slot = px->set->up[i].maxconn != 0;
		if (take_slot(px, (unsigned)i))
			break;
	}
	pc->tried |= 1ull << i;
	pc->attempts++;
	tc = px->set->up[i].tls ? upstream_tls(e, px, (unsigned)i) : NULL;
	up = tc || !px->set->up[i].tls
		     ? engine_connect(e, &px->set->up[i].addr, cfg->connect_ms, &err)
		     : NULL;
	if (!up) {
		/* Out of slots or descriptors here: not the upstream's fault. */
		if (slot)
			__atomic_fetch_sub(&px->sh->up_sessions[i], 1, __ATOMIC_RELAXED);
		STAT_INC(engine_stats(e), errors);
		return START_NONE;
	}
	pu = pconn(up);
	memset(pu, 0, sizeof(*pu));
	pu->peer = engine_ref(e, client);
	pu->upstream = (uint8_t)i;
	pu->counted = 1;
	pu->slot = slot;
	px->bal.up[i].active++;
	STAT_INC(engine_stats(e), up[i].active);
	pc->peer = engine_ref(e, up);
	pc->upstream = (uint8_t)i;
	if (tc &&
	    (engine_connect_tls(e, up, tc, px->set->up[i].sni[0] ? px->set->up[i].sni : NULL) ||
	     (pc->hdr_len &&
	      engine_tls_preamble(e, up, px->hdrs[engine_ref(e, client).slot], pc->hdr_len)))) {
		/* Out of memory for its TLS state: as if the upstream had reset. */
		engine_close(e, up, ENGINE_CLOSE_RESET);
	}
	return START_OK;
}

static void give_up(struct engine *e, struct conn *client, enum term why)
{
	STAT_INC(engine_stats(e), no_upstream);
	pconn(client)->term = (uint8_t)why;
	engine_close(e, client, ENGINE_CLOSE_NOW);
}

/* ---- the queue for upstreams at their maxconn -------------------------------------------- */

/* The client waits for a slot, its bytes held, until --queue-timeout. */
static void enqueue(struct engine *e, struct proxy *px, struct conn *client)
{
	struct pconn *pc = pconn(client);

	if (px->q_len == px->q_cap) {
		give_up(e, client, TERM_NO_UPSTREAM);
		return;
	}
	px->queue[(px->q_head + px->q_len++) % px->q_cap] = engine_ref(e, client);
	pc->queued = 1;
	engine_set_deadline(e, client, engine_now_ms(e) + px->cfg->queue_ms);
	STAT_INC(engine_stats(e), queued);
}

/* Slots may have freed: start the oldest waiting clients while their upstreams have room. */
static void dispatch_queue(struct engine *e, struct proxy *px)
{
	while (px->q_len) {
		struct conn *c = engine_conn(e, px->queue[px->q_head]);
		enum start r;

		if (!c || !pconn(c)->queued || engine_closing(c)) {
			px->q_head = (px->q_head + 1) % px->q_cap; /* gone, or timed out */
			px->q_len--;
			continue;
		}
		r = start_upstream(e, px, c);
		if (r == START_FULL)
			return; /* still full: it keeps its place */
		px->q_head = (px->q_head + 1) % px->q_cap;
		px->q_len--;
		pconn(c)->queued = 0;
		engine_set_deadline(e, c, 0);
		if (r == START_NONE)
			give_up(e, c, TERM_NO_UPSTREAM);
	}
}

/* ---- the session log ---------------------------------------------------------------------- */

/*
 * SIGUSR1 reopened the log (main: src/server/notify.c): this shard moves to
 * the new descriptor between two writes and at a line's end, never with a
 * write in flight on the old one, and counts itself off so that main can
 * close the old one. Lines written before stay whole in the old file.
 */
static void log_follow(const struct config *cfg, struct plog *l)
{
	int fd = __atomic_load_n(&cfg->log_fd, __ATOMIC_ACQUIRE);

	if (fd == l->fd || l->chunk)
		return;
	if (l->busy >= 0 && l->off && l->buf[l->busy][l->off - 1] != '\n')
		return; /* a short write left part of a line: its rest goes to the same file */
	l->fd = fd;
	if (cfg->log_behind)
		__atomic_sub_fetch(cfg->log_behind, 1, __ATOMIC_RELEASE);
}

/* Starts writing the filled buffer if none is being written: up to LOG_CHUNK, whole lines. */
static void log_flush(struct engine *e, struct proxy *px)
{
	struct plog *l = px->log;
	uint32_t left, n;
	const char *p;

	if (l->chunk)
		return; /* one write at a time: its completion starts the next */
	log_follow(px->cfg, l);
	if (l->busy < 0) {
		if (!l->len[l->cur])
			return;
		l->busy = l->cur;
		l->cur ^= 1;
		l->off = 0;
	}
	p = l->buf[l->busy] + l->off;
	left = l->len[l->busy] - l->off;
	n = left;
	if (n > LOG_CHUNK) {
		n = LOG_CHUNK;
		while (n && p[n - 1] != '\n')
			n--;
		if (!n)
			n = LOG_CHUNK;
	}
	if (engine_write(e, l->fd, p, n, (uint32_t)l->busy)) {
		l->len[l->busy] = 0; /* no SQE: lose this buffer rather than spin */
		l->busy = -1;
		return;
	}
	l->chunk = n;
}

static void proxy_written(struct engine *e, uint32_t token, int res)
{
	struct proxy *px = engine_mode_data(e);
	struct plog *l = px->log;

	if (!l || l->busy != (int)token || !l->chunk)
		return;
	if (res <= 0) {
		STAT_INC(engine_stats(e), errors);
		res = (int)l->chunk; /* skip what could not be written */
	}
	l->chunk = 0;
	l->off += (uint32_t)res;
	if (l->off < l->len[l->busy]) {
		log_flush(e, px);
		return;
	}
	l->len[l->busy] = 0;
	l->busy = -1;
	if (l->len[l->cur] > LOG_BUF / 2)
		log_flush(e, px);
}

/*
 * One line per finished session, when its client connection is released:
 *   TIME CLIENT UPSTREAM CODE BYTES_FROM_CLIENT BYTES_TO_CLIENT DURATION_MS CONNECTS
 */
static void log_session(struct engine *e, struct proxy *px, struct conn *client)
{
	struct plog *l = px->log;
	struct pconn *pc = pconn(client);
	struct engine_conn_view v;
	char peer[80] = "-", when[32];
	struct timespec ts;
	struct tm tm;
	int n;

	engine_conn_view(e, engine_ref(e, client).slot, &v);
	if (v.peer_len) {
		struct net_addr a;

		memcpy(&a.ss, &v.peer, sizeof(a.ss));
		a.len = v.peer_len;
		net_addr_str(&a, peer, sizeof(peer));
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (LOG_BUF - l->len[l->cur] < 512) {
		STAT_INC(engine_stats(e), log_dropped);
		return;
	}
	n = snprintf(l->buf[l->cur] + l->len[l->cur], LOG_BUF - l->len[l->cur],
		     "%s.%03ldZ %s %s %s %llu %llu %u %u%s%s\n", when, ts.tv_nsec / 1000000, peer,
		     pc->attempts ? px->set->up[pc->upstream].name : "-", term_code[pc->term],
		     (unsigned long long)v.bytes_in, (unsigned long long)v.bytes_out, v.age_ms,
		     pc->attempts, px->cfg->listener_name ? " listener=" : "",
		     px->cfg->listener_name ? px->cfg->listener_name : "");
	if (n > 0 && (uint32_t)n < LOG_BUF - l->len[l->cur]) {
		l->len[l->cur] += (uint32_t)n;
		STAT_INC(engine_stats(e), log_lines);
	}
	if (l->len[l->cur] > LOG_BUF / 2)
		log_flush(e, px);
}

static void proxy_accepted(struct engine *e, struct conn *c)
{
	struct proxy *px = engine_mode_data(e);
	struct pconn *pc = pconn(c);
	const struct sockaddr *sa;
	socklen_t len;

	proxy_refresh(px);
	memset(pc, 0, sizeof(*pc));
	pc->is_client = 1;
	pc->peer.slot = NO_PEER;
	sa = engine_accepted_peer(e, &len);
	if (sa)
		pc->hash = balance_hash_addr(sa, len);
	if (px->hdrs) {
		/* --send-proxy: the client's address and the one it reached, for every upstream tried. */
		char *h = px->hdrs[engine_ref(e, c).slot];
		const struct sockaddr *dst = (const struct sockaddr *)&px->cfg->listen.ss;
		int n = px->cfg->send_proxy == 1 ? proxy_proto_write_v1(h, PP_HDR_MAX, sa, dst)
						 : proxy_proto_write_v2(h, PP_HDR_MAX, sa, dst);
		struct engine_tls_info ti;

		/* A TLS client: v2 says so (HAProxy's send-proxy-v2-ssl-cn). */
		if (n > 0 && px->cfg->send_proxy == 2 && engine_tls_info(e, c, &ti)) {
			struct proxy_proto_ssl ssl = {
				.version = ti.version,
				.cipher = ti.cipher,
				.sni = ti.sni,
				.cn = ti.cn,
				.cert = ti.cert,
				.cert_verified = ti.cert_verified,
			};
			int m = proxy_proto_append_ssl(h, PP_HDR_MAX, (size_t)n, &ssl);

			if (m > 0)
				n = m;
		}

		pc->hdr_len = n > 0 ? (uint8_t)n : 0;
	}
	switch (start_upstream(e, px, c)) {
	case START_OK:
		break;
	case START_FULL:
		enqueue(e, px, c);
		break;
	case START_NONE:
		give_up(e, c, TERM_NO_UPSTREAM);
		break;
	}
}

/* Moves src's input to dst and counts it against the session's upstream. */
static void relay(struct engine *e, struct conn *src, struct conn *dst)
{
	struct pconn *ps = pconn(src);
	struct stats *st = engine_stats(e);
	int n = engine_forward(e, src, dst);

	if (n <= 0)
		return;
	if (ps->is_client)
		STAT_ADD(st, up[ps->upstream].bytes_out, (uint64_t)n);
	else
		STAT_ADD(st, up[ps->upstream].bytes_in, (uint64_t)n);
}

/* One direction finished: src sent its FIN, so dst gets ours once dst's output has drained. */
static void finish_direction(struct engine *e, struct conn *src, struct conn *dst)
{
	struct proxy *px = engine_mode_data(e);
	uint32_t hc = px->cfg->half_close_ms;

	engine_shutdown(e, dst);
	if (hc) {
		uint64_t at = engine_now_ms(e) + hc;

		engine_set_deadline(e, src, at);
		engine_set_deadline(e, dst, at);
	}
}

/* ---- active health checks ------------------------------------------------------------------ */

static void health_mark(struct engine *e, struct proxy *px, unsigned i, bool down, int err)
{
	struct stats *st = engine_stats(e);

	__atomic_store_n(&px->sh->health[i].down, down, __ATOMIC_RELAXED);
	STAT_INC(st, up[i].state_changes);
	STAT_ADD(st, up[i].down, down ? 1 : -1);
	if (down)
		fprintf(stderr, "ringer: upstream %s is DOWN: %u checks failed (last: %s)\n",
			px->set->up[i].name, px->sh->health[i].fails, strerror(-err));
	else
		fprintf(stderr, "ringer: upstream %s is UP: %u checks passed\n",
			px->set->up[i].name, px->sh->health[i].oks);
}

/* A check finished: res 0 (connected) or -errno. */
static void health_result(struct engine *e, struct proxy *px, unsigned i, int res)
{
	struct health *h = &px->sh->health[i];
	bool down = __atomic_load_n(&h->down, __ATOMIC_RELAXED);

	h->in_flight = false;
	if (res == 0) {
		h->fails = 0;
		if (down && ++h->oks >= px->cfg->check_rise)
			health_mark(e, px, i, false, 0);
		return;
	}
	h->oks = 0;
	if (!down && ++h->fails >= px->cfg->check_fall)
		health_mark(e, px, i, true, res);
}

/*
 * The checker's timer: each upstream due is checked, and the timer set for
 * the next one due. An upstream keeps its rhythm (due one interval after it
 * was due, not after the tick that ran it, so ticks 100 ms apart give a 150
 * ms interval on average); one held up by more than an interval starts
 * afresh rather than catching up in a burst.
 */
static void health_tick(struct engine *e, struct proxy *px, uint64_t now_ms)
{
	const struct config *cfg = px->cfg;
	uint64_t next = now_ms + cfg->check_ms;

	for (unsigned i = 0; i < px->bal.n; i++) {
		struct health *h = &px->sh->health[i];
		struct conn *c;
		int err;

		if (h->in_flight || now_ms < h->next_ms || !px->set->enabled[i]) {
			if (px->set->enabled[i] && h->next_ms < next)
				next = h->next_ms; /* in flight past it: looked at again next tick */
			continue;
		}
		h->next_ms = h->next_ms + cfg->check_ms > now_ms ? h->next_ms + cfg->check_ms
								 : now_ms + cfg->check_ms;
		if (h->next_ms < next)
			next = h->next_ms;
		c = engine_connect(
			e, &px->set->up[i].addr,
			cfg->connect_ms < cfg->check_ms ? cfg->connect_ms : cfg->check_ms, &err);
		if (!c)
			continue; /* no slot here now: not the upstream's fault */
		memset(pconn(c), 0, sizeof(struct pconn));
		pconn(c)->peer.slot = NO_PEER;
		pconn(c)->is_check = 1;
		pconn(c)->upstream = (uint8_t)i;
		h->in_flight = true;
	}
	engine_set_timer(e, next);
}

static void proxy_timer(struct engine *e, uint64_t now_ms)
{
	struct proxy *px = engine_mode_data(e);

	if (__atomic_load_n(&px->sh->checker, __ATOMIC_RELAXED) == e)
		health_tick(e, px, now_ms);
}

static void proxy_tick(struct engine *e, uint64_t now_ms, int64_t wall_sec)
{
	struct proxy *px = engine_mode_data(e);

	proxy_refresh(px);
	if (px->log)
		log_flush(e, px);
	if (px->q_len)
		dispatch_queue(e, px); /* slots freed by other shards */
}

static void proxy_connected(struct engine *e, struct conn *up, int res)
{
	struct proxy *px = engine_mode_data(e);
	struct pconn *pu = pconn(up);
	struct stats *st = engine_stats(e);
	struct conn *client = peer_of(e, up);
	unsigned i = pu->upstream;
	bool was_down = balance_is_down(&px->bal, i);

	if (pu->is_check) {
		health_result(e, px, i, res);
		if (res == 0)
			engine_close(e, up, ENGINE_CLOSE); /* a FIN: the check asked nothing more */
		return;
	}
	if (res < 0) {
		STAT_INC(st, up[i].failures);
		/* A name that may have moved: the resolver thread looks it up again now. */
		if (px->set->up[i].resolve && px->cfg->resolve_kick)
			__atomic_store_n(px->cfg->resolve_kick, 1, __ATOMIC_RELAXED);
		if (balance_result(&px->bal, i, false, engine_now_ms(e)))
			STAT_ADD(st, up[i].down, 1);
		uncount(e, px, up);
		unlink_peer(up);
		if (!client)
			return;
		unlink_peer(client);
		if (pconn(client)->attempts <= px->cfg->connect_retries) {
			enum start r = start_upstream(e, px, client);

			if (r == START_OK)
				return;
			if (r == START_FULL) {
				enqueue(e, px, client);
				return;
			}
		}
		give_up(e, client, res == -ETIMEDOUT ? TERM_CONNECT_TIME : TERM_CONNECT);
		return;
	}
	balance_result(&px->bal, i, true, engine_now_ms(e));
	if (was_down)
		STAT_ADD(st, up[i].down, -1);
	STAT_INC(st, up[i].connects);
	if (!client) {
		engine_close(e, up, ENGINE_CLOSE_NOW);
		return;
	}
	if (pconn(client)->hdr_len && !px->set->up[i].tls) {
		/*
		 * The PROXY header goes first; the client's bytes follow once it is out
		 * (proxy_sent). A TLS upstream had it sent ahead of its ClientHello.
		 */
		char *h = px->hdrs[engine_ref(e, up).slot];

		memcpy(h, px->hdrs[engine_ref(e, client).slot], pconn(client)->hdr_len);
		pu->hdr_len = pconn(client)->hdr_len;
		if (engine_send(e, up, h, pu->hdr_len))
			engine_close(e, up, ENGINE_CLOSE_RESET);
		return;
	}
	relay(e, client, up);
	if (engine_peer_done(client))
		finish_direction(e, client, up);
}

/* An upstream whose PROXY header is not out yet: the client's bytes wait behind it. */
static bool header_pending(struct conn *c)
{
	return !pconn(c)->is_client && pconn(c)->hdr_len;
}

static void proxy_readable(struct engine *e, struct conn *c)
{
	struct conn *peer = peer_of(e, c);

	if (pconn(c)->queued)
		return; /* waiting for a slot: its bytes wait too, bounded by the engine */
	if (!peer) {
		engine_drop_input(e, c); /* a check's upstream greeting, or a session's leftovers */
		return;
	}
	/* Before the upstream is connected (and has its PROXY header) the client's bytes wait. */
	if (engine_connected(peer) && !header_pending(peer))
		relay(e, c, peer);
}

/* The upstream's PROXY header is out: now what the client sent, and its FIN if it came. */
static void proxy_sent(struct engine *e, struct conn *c)
{
	struct pconn *pu = pconn(c);
	struct conn *client;

	if (!pu->hdr_len)
		return;
	pu->hdr_len = 0;
	client = peer_of(e, c);
	if (!client)
		return;
	relay(e, client, c);
	if (engine_peer_done(client))
		finish_direction(e, client, c);
}

static void proxy_peer_eof(struct engine *e, struct conn *c)
{
	struct conn *peer = peer_of(e, c);

	if (pconn(c)->queued)
		return; /* its FIN follows its bytes once it has an upstream */
	if (!peer) {
		engine_close(e, c, ENGINE_CLOSE);
		return;
	}
	if (engine_connected(peer) && !header_pending(peer))
		finish_direction(e, c, peer);
	/* else: connected() (or sent(), after a PROXY header) forwards the held bytes, then the FIN. */
}

/* --half-close-timeout: the session had one direction finished for too long. */
static void proxy_expired(struct engine *e, struct conn *c)
{
	struct conn *peer = peer_of(e, c);
	struct conn *client = pconn(c)->is_client ? c : peer;

	if (pconn(c)->queued) {
		pconn(c)->queued = 0;
		pconn(c)->term = TERM_QUEUE_TIME;
		STAT_INC(engine_stats(e), queue_timeouts);
		engine_close(e, c, ENGINE_CLOSE_NOW);
		return;
	}
	if (client && pconn(client)->term == TERM_NORMAL)
		pconn(client)->term = TERM_HALF_CLOSE;
	engine_close(e, c, ENGINE_CLOSE_NOW);
}

static void proxy_closed(struct engine *e, struct conn *c)
{
	struct proxy *px = engine_mode_data(e);
	struct conn *peer = peer_of(e, c);

	if (pconn(c)->is_check) {
		px->sh->health[pconn(c)->upstream].in_flight = false;
		return;
	}
	if (!pconn(c)->is_client) {
		uncount(e, px, c);
		if (px->q_len)
			dispatch_queue(e, px); /* a slot may be free now */
	}
	/* The first reset decides the code; the other side's close follows from it. */
	if (pconn(c)->is_client && engine_aborted(c) && pconn(c)->term == TERM_NORMAL)
		pconn(c)->term = TERM_CLIENT_RESET;
	if (!pconn(c)->is_client && engine_aborted(c) && peer && pconn(peer)->term == TERM_NORMAL)
		pconn(peer)->term = TERM_UP_RESET;
	if (pconn(c)->is_client && px->log)
		log_session(e, px, c);
	if (!peer)
		return;
	unlink_peer(peer);
	unlink_peer(c);
	/* A reset (or an error) on one side aborts the other with a reset: the failure propagates. */
	engine_close(e, peer, engine_aborted(c) ? ENGINE_CLOSE_RESET : ENGINE_CLOSE);
}

static int proxy_init(struct engine *e, const void *arg, void **data)
{
	static const enum balance_policy policy[] = {
		[BALANCE_ROUNDROBIN] = BAL_ROUNDROBIN,
		[BALANCE_LEASTCONN] = BAL_LEASTCONN,
		[BALANCE_SOURCE] = BAL_SOURCE,
	};
	const struct config *cfg = arg;
	struct proxy *px = calloc(1, sizeof(*px));

	if (!px)
		return -ENOMEM;
	px->cfg = cfg;
	px->sh = shared_for(cfg);
	if (!cfg->set || !px->sh) {
		free(px);
		return -EINVAL; /* main publishes the first set before the shards start */
	}
	/* The queue is there whether or not a maxconn is set now: a reload may set one. */
	px->q_cap = cfg->max_conns;
	px->queue = calloc(px->q_cap, sizeof(*px->queue));
	if (!px->queue) {
		free(px);
		return -ENOMEM;
	}
	if (cfg->send_proxy) {
		px->hdrs_bytes = (size_t)cfg->max_conns * 2 * PP_HDR_MAX;
		px->hdrs = mmap(NULL, px->hdrs_bytes, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (px->hdrs == MAP_FAILED) {
			free(px);
			return -ENOMEM;
		}
	}
	if (cfg->log_fd >= 0) {
		px->log = calloc(1, sizeof(*px->log));
		if (!px->log) {
			free(px);
			return -ENOMEM;
		}
		px->log->busy = -1;
		px->log->fd = cfg->log_fd;
	}
	balance_init(&px->bal, policy[cfg->balance], 0, NULL, cfg->fail_threshold, cfg->down_ms);
	proxy_refresh(px);
	if (cfg->check) {
		struct engine *none = NULL;

		/* The first shard to start runs the checks for all. */
		if (__atomic_compare_exchange_n(&px->sh->checker, &none, e, false, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			engine_set_timer(e, 1); /* the first checks at the first tick */
	}
	*data = px;
	return 0;
}

static void proxy_fini(struct engine *e, void *data)
{
	struct proxy *px = data;
	struct engine *self = e;

	/* The loop is over: what is still buffered goes out with plain writes. */
	if (px->log) {
		struct plog *l = px->log;

		for (int k = 0; k < 2; k++) {
			int b = l->busy >= 0 ? (l->busy + k) % 2 : (l->cur + 1 + k) % 2;
			uint32_t off = b == l->busy ? l->off : 0;

			while (off < l->len[b]) {
				ssize_t w = write(l->fd, l->buf[b] + off, l->len[b] - off);

				if (w <= 0)
					break;
				off += (uint32_t)w;
			}
		}
		free(l);
	}
	if (px->hdrs)
		munmap(px->hdrs, px->hdrs_bytes);
	free(px->queue);
	__atomic_compare_exchange_n(&px->sh->checker, &self, NULL, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
	free(data);
}

const struct mode_ops mode_proxy = {
	.name = "proxy",
	.conns_per_session = 2,
	.init = proxy_init,
	.fini = proxy_fini,
	.accepted = proxy_accepted,
	.connected = proxy_connected,
	.readable = proxy_readable,
	.peer_eof = proxy_peer_eof,
	.expired = proxy_expired,
	.closed = proxy_closed,
	.written = proxy_written,
	.sent = proxy_sent,
	.tick = proxy_tick,
	.timer = proxy_timer,
};
