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
#include "plog.h"
#include "upstreams.h"
#include "ringer/config.h"
#include "ringer/engine.h"
#include "ringer/tls.h"
#include "ringer/mode.h"
#include "ringer/proxy_proto.h"

#define NO_PEER UINT32_MAX

/* A v1 line (107), or a v2 header with IPv6 addresses (52) and the client's TLS TLVs. */
#define PP_HDR_MAX 255

struct proxy {
	const struct config *cfg;
	struct ups ups;		  /* the upstreams, their health and limits */
	struct plog *log;	  /* NULL without --log */
	char (*hdrs)[PP_HDR_MAX]; /* --send-proxy: per slot, the header to send upstream */
	size_t hdrs_bytes;
	struct conn_ref *queue; /* clients waiting for a slot (maxconn), oldest first */
	uint32_t q_head, q_len, q_cap;
};

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

static void uncount(struct engine *e, struct proxy *px, struct conn *up)
{
	struct pconn *pu = pconn(up);

	if (pu->slot) {
		pu->slot = 0;
		ups_put_slot(&px->ups, pu->upstream);
	}
	if (!pu->counted)
		return;
	pu->counted = 0;
	px->ups.bal.up[pu->upstream].active--;
	STAT_ADD(engine_stats(e), up[pu->upstream].active, -1);
}

enum start {
	START_OK,   /* connecting */
	START_NONE, /* no upstream left to try */
	START_FULL, /* those left are at their maxconn: wait in the queue */
};

/* Connects the client's session to the next upstream. */
static enum start start_upstream(struct engine *e, struct proxy *px, struct conn *client)
{
	const struct config *cfg = px->cfg;
	struct pconn *pc = pconn(client), *pu;
	const struct upstream_set *set;
	struct engine_tls_client *tc;
	struct conn *up;
	unsigned i;
	int err;
	bool slot;

	switch (ups_pick(&px->ups, pc->hash, pc->tried, engine_now_ms(e), &i, &slot)) {
	case UPS_PICKED:
		break;
	case UPS_FULL:
		return START_FULL;
	case UPS_NONE:
		return START_NONE;
	}
	set = px->ups.set;
	pc->tried |= 1ull << i;
	pc->attempts++;
	tc = set->up[i].tls ? ups_tls(e, &px->ups, i) : NULL;
	up = tc || !set->up[i].tls ? engine_connect(e, &set->up[i].addr, cfg->connect_ms, &err)
				   : NULL;
	if (!up) {
		/* Out of slots or descriptors here: not the upstream's fault. */
		if (slot)
			ups_put_slot(&px->ups, i);
		STAT_INC(engine_stats(e), errors);
		return START_NONE;
	}
	pu = pconn(up);
	memset(pu, 0, sizeof(*pu));
	pu->peer = engine_ref(e, client);
	pu->upstream = (uint8_t)i;
	pu->counted = 1;
	pu->slot = slot;
	px->ups.bal.up[i].active++;
	STAT_INC(engine_stats(e), up[i].active);
	pc->peer = engine_ref(e, up);
	pc->upstream = (uint8_t)i;
	if (tc && (engine_connect_tls(e, up, tc, set->up[i].sni[0] ? set->up[i].sni : NULL) ||
		   (pc->hdr_len && engine_tls_preamble(e, up, px->hdrs[engine_ref(e, client).slot],
						       pc->hdr_len)))) {
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

static void proxy_written(struct engine *e, uint32_t token, int res)
{
	struct proxy *px = engine_mode_data(e);

	plog_written(e, px->log, token, res);
}

/*
 * One line per finished session, when its client connection is released:
 *   TIME CLIENT UPSTREAM CODE BYTES_FROM_CLIENT BYTES_TO_CLIENT DURATION_MS CONNECTS
 */
static void log_session(struct engine *e, struct proxy *px, struct conn *client)
{
	struct pconn *pc = pconn(client);
	struct engine_conn_view v;
	char peer[80] = "-", when[32];
	char *line = plog_room(e, px->log);
	int n;

	if (!line)
		return;
	engine_conn_view(e, engine_ref(e, client).slot, &v);
	if (v.peer_len) {
		struct net_addr a;

		memcpy(&a.ss, &v.peer, sizeof(a.ss));
		a.len = v.peer_len;
		net_addr_str(&a, peer, sizeof(peer));
	}
	plog_time(when);
	n = snprintf(line, PLOG_LINE, "%s %s %s %s %llu %llu %u %u%s%s\n", when, peer,
		     pc->attempts ? px->ups.set->up[pc->upstream].name : "-", term_code[pc->term],
		     (unsigned long long)v.bytes_in, (unsigned long long)v.bytes_out, v.age_ms,
		     pc->attempts, px->cfg->listener_name ? " listener=" : "",
		     px->cfg->listener_name ? px->cfg->listener_name : "");
	if (n > 0 && n < PLOG_LINE)
		plog_commit(e, px->log, (uint32_t)n);
}

static void proxy_accepted(struct engine *e, struct conn *c)
{
	struct proxy *px = engine_mode_data(e);
	struct pconn *pc = pconn(c);
	const struct sockaddr *sa;
	socklen_t len;

	ups_refresh(&px->ups);
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

/* The checker's timer: a TCP connect to each upstream due. */
static void proxy_timer(struct engine *e, uint64_t now_ms)
{
	struct proxy *px = engine_mode_data(e);
	const struct config *cfg = px->cfg;
	uint64_t due, next;

	if (!ups_checker(&px->ups, e))
		return;
	due = ups_checks_due(&px->ups, now_ms, &next);
	for (unsigned i = 0; due; i++, due >>= 1) {
		struct conn *c;
		int err;

		if (!(due & 1))
			continue;
		c = engine_connect(
			e, &px->ups.set->up[i].addr,
			cfg->connect_ms < cfg->check_ms ? cfg->connect_ms : cfg->check_ms, &err);
		if (!c) {
			ups_check_gone(&px->ups,
				       i); /* no slot here now: not the upstream's fault */
			continue;
		}
		memset(pconn(c), 0, sizeof(struct pconn));
		pconn(c)->peer.slot = NO_PEER;
		pconn(c)->is_check = 1;
		pconn(c)->upstream = (uint8_t)i;
	}
	engine_set_timer(e, next);
}

static void proxy_tick(struct engine *e, uint64_t now_ms, int64_t wall_sec)
{
	struct proxy *px = engine_mode_data(e);

	ups_refresh(&px->ups);
	if (px->log)
		plog_flush(e, px->log);
	if (px->q_len)
		dispatch_queue(e, px); /* slots freed by other shards */
}

static void proxy_connected(struct engine *e, struct conn *up, int res)
{
	struct proxy *px = engine_mode_data(e);
	struct pconn *pu = pconn(up);
	struct conn *client = peer_of(e, up);
	unsigned i = pu->upstream;

	if (pu->is_check) {
		ups_check_result(e, &px->ups, i, res, NULL);
		if (res == 0)
			engine_close(e, up, ENGINE_CLOSE); /* a FIN: the check asked nothing more */
		return;
	}
	ups_connect_result(e, &px->ups, i, res);
	if (res < 0) {
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
	if (!client) {
		engine_close(e, up, ENGINE_CLOSE_NOW);
		return;
	}
	if (pconn(client)->hdr_len && !px->ups.set->up[i].tls) {
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
		ups_check_gone(&px->ups, pconn(c)->upstream);
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
	const struct config *cfg = arg;
	struct proxy *px = calloc(1, sizeof(*px));
	int err;

	if (!px)
		return -ENOMEM;
	px->cfg = cfg;
	err = ups_init(&px->ups, e, cfg);
	if (err) {
		free(px);
		return err;
	}
	/* The queue is there whether or not a maxconn is set now: a reload may set one. */
	px->q_cap = cfg->max_conns;
	px->queue = calloc(px->q_cap, sizeof(*px->queue));
	if (!px->queue)
		goto nomem;
	if (cfg->send_proxy) {
		px->hdrs_bytes = (size_t)cfg->max_conns * 2 * PP_HDR_MAX;
		px->hdrs = mmap(NULL, px->hdrs_bytes, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (px->hdrs == MAP_FAILED) {
			px->hdrs = NULL;
			goto nomem;
		}
	}
	px->log = plog_new(cfg, &err);
	if (err)
		goto nomem;
	*data = px;
	return 0;

nomem:
	if (px->hdrs)
		munmap(px->hdrs, px->hdrs_bytes);
	free(px->queue);
	ups_fini(&px->ups, e);
	free(px);
	return -ENOMEM;
}

static void proxy_fini(struct engine *e, void *data)
{
	struct proxy *px = data;

	/* The loop is over: what is still buffered goes out with plain writes. */
	plog_free(px->log);
	if (px->hdrs)
		munmap(px->hdrs, px->hdrs_bytes);
	free(px->queue);
	ups_fini(&px->ups, e);
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
