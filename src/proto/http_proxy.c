// SPDX-License-Identifier: MIT
/*
 * HTTP/1.1 reverse proxy (--mode http-proxy): each request is parsed
 * (http_parser.c), routed by Host and path to an upstream group (--route),
 * sent to an upstream over a pooled keep-alive connection with its head
 * rewritten (http_head.c: hop-by-hop fields out, X-Forwarded-* or
 * Forwarded and Via in), and its response parsed (http_resp_parser.c, the
 * parser ringer-load uses) and streamed back with its own head rewritten.
 *
 * One exchange per client connection at a time: pipelined requests wait in
 * the client's input (bounded by the engine, which stops receiving) and are
 * answered in order, each after the one before has been sent.
 *
 *   client readable -> head complete -> route -> pick upstream (upstreams.c)
 *     -> a pooled connection to it, or engine_connect
 *     -> rewritten head [+ body, streamed] to it (buffer uo)
 *   upstream readable -> response head -> rewritten head [+ body] to the
 *     client (buffer co) -> response end -> the upstream connection back
 *     to its pool (if its framing allows) -> the next pipelined request
 *
 * Bodies are never held whole: each direction has one buffer (HX_BUF) that
 * is filled from the input and sent; while its send is in flight the input
 * waits, and the engine stops receiving once the input limit is reached,
 * so a slow reader holds back a fast writer both ways. Chunked bodies are
 * decoded and chunked again (trailers dropped); a body that runs to the
 * close goes to an HTTP/1.1 client chunked and to an HTTP/1.0 one as is,
 * with the connection closed after it.
 *
 * Failures: an upstream that refuses, resets or sends a malformed response
 * before any byte of the answer went to the client is answered 502; a
 * connect or response-head timeout (--connect-timeout, --upstream-timeout)
 * 504; upstreams all at their maxconn past --queue-timeout 503. A request
 * that never reached an upstream (a failed connect), or an idempotent one
 * without a body whose upstream connection died before any response byte,
 * is tried on the next upstream (--connect-retries more at most). Once a
 * response has begun, a failure resets the client: a cut response is never
 * framed as complete.
 *
 * A 101 Switching Protocols to a request that asked for an upgrade turns
 * the two connections into the L4 relay proxy mode does (engine_forward,
 * half-close and back-pressure by the engine).
 *
 * Upstream connections are pooled per shard and per upstream (at most
 * --pool-size idle ones, each closed after --pool-idle-timeout). One whose
 * upstream closed it (its FIN, or input arriving while idle) is dropped
 * from the pool when the engine reports it, and checked again when taken.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "http_head.h"
#include "http_parser.h"
#include "http_resp_parser.h"
#include "http_response.h"
#include "plog.h"
#include "upstreams.h"
#include "ringer/config.h"
#include "ringer/engine.h"
#include "ringer/mode.h"

#define HX_BUF \
	(32 *  \
	 1024) /* one direction's buffer of an exchange: a 16 KiB response and its head in one send */
#define NO_PEER	  UINT32_MAX
#define NO_ROUTE  (-1)
#define CHUNK_MAX 16 /* room a chunk's framing takes: size line and CRLF */

/* What a connection is to this mode (struct hpc.role). */
enum role {
	ROLE_CLIENT = 1,
	ROLE_UP,    /* an upstream connection: in an exchange, or idle in the pool */
	ROLE_CHECK, /* an active health check */
};

/* Per connection, in struct conn's mode bytes. */
struct hpc {
	struct conn_ref peer; /* client: its upstream now; upstream: its client now */
	uint32_t requests;    /* upstream: requests it carried */
	uint8_t role;
	uint8_t upstream; /* upstream, check: its slot */
	uint8_t pooled;	  /* upstream: idle in its pool */
	uint8_t counted;  /* upstream: counted in its upstream's active ones */
	uint8_t tunnel;	  /* both: an upgraded exchange, relayed as bytes */
	uint8_t got;	  /* check: the answer was judged */
};

_Static_assert(sizeof(struct hpc) <= sizeof(((struct conn *)0)->proto), "fits in struct conn");

static inline struct hpc *hpc(struct conn *c)
{
	return conn_mode(c);
}

/* The request side of an exchange. */
enum rq_state {
	RQ_IDLE,   /* between requests */
	RQ_HEAD,   /* a head is arriving */
	RQ_WAIT,   /* head done: waiting for an upstream connection (connect, queue) */
	RQ_BODY,   /* the head went: the body streams to the upstream */
	RQ_SENT,   /* the whole request is with the upstream (or was answered by us) */
	RQ_CLOSED, /* the client is being closed: nothing more is read */
};

/* The response side. */
enum rs_state {
	RS_NONE,
	RS_HEAD, /* waiting for the upstream's head */
	RS_BODY, /* streaming the body to the client */
	RS_DONE, /* the whole response is in co (or was sent) */
};

/* How an exchange ended, as the access log's two-letter code says. */
enum term {
	TERM_NORMAL,	   /* "--" */
	TERM_CLIENT,	   /* "CR" the client reset, closed early, or timed out */
	TERM_UP_RESET,	   /* "SR" the upstream reset or closed before the response ended */
	TERM_CONNECT,	   /* "CC" the last connect failed */
	TERM_CONNECT_TIME, /* "CT" ... timed out */
	TERM_UP_TIME,	   /* "ST" the response head did not come in --upstream-timeout */
	TERM_NO_UPSTREAM,  /* "NU" no upstream to try */
	TERM_QUEUE_TIME,   /* "QT" --queue-timeout in the queue */
	TERM_LOCAL,	   /* "PR" answered by the proxy: no route, bad request, too large */
	TERM_BAD_RESPONSE, /* "SH" the upstream's response was malformed */
};

static const char term_code[][3] = {"--", "CR", "SR", "CC", "CT", "ST", "NU", "QT", "PR", "SH"};

/* One client connection's exchange state (indexed by its slot). */
struct hx {
	struct http_parser rq;
	struct http_rparser rp;
	char *raw; /* a head that arrived in pieces, copied whole */
	char *uo;  /* to the upstream: the rewritten head, then body bytes */
	char *co;  /* to the client: response heads and body bytes */
	uint32_t raw_len;
	uint32_t uo_len;  /* bytes in uo */
	uint32_t uo_head; /* ... of which the request's head (kept for a retry) */
	uint32_t uo_sent; /* ... of which went out (the send in flight included) */
	uint32_t co_len;
	uint64_t tried; /* upstreams tried for this request (a bit each) */
	uint64_t gmask; /* the upstreams of the request's route */
	uint64_t hash;	/* the client's address, for --balance source */
	uint64_t body;	/* request body bytes passed on */
	uint64_t bytes_in, bytes_out;
	uint64_t t_start, t_connect, t_resp; /* engine clock, ms */
	uint8_t rq_state;
	uint8_t rs_state;
	uint8_t term;
	uint8_t upstream;
	uint8_t attempts;
	uint8_t last_why; /* enum term: how the last try failed */
	uint8_t minor;	  /* the request's HTTP/1.minor */
	uint8_t method;	  /* enum http_method */
	uint8_t fr;	  /* enum http_framing of the response to the client */
	uint16_t status;
	bool keep;	   /* the client stays after this response */
	bool head_req;	   /* the request is a HEAD */
	bool has_body;	   /* the request has a body (its framing said so) */
	bool chunked;	   /* ... chunked */
	bool expect;	   /* the client waits for 100 Continue */
	bool upgrade;	   /* the request asked for an upgrade */
	bool uo_busy;	   /* a send to the upstream is in flight */
	bool co_busy;	   /* a send to the client is in flight */
	bool started;	   /* a final response head went to the client */
	bool slot;	   /* holds one of its upstream's maxconn slots */
	bool queued;	   /* waiting in the queue */
	bool eof;	   /* the client's FIN came */
	bool tls;	   /* the client speaks TLS to us */
	bool reused;	   /* the upstream connection came from the pool */
	bool body_follows; /* body bytes follow the head (not Content-Length: 0) */
	bool continued;	   /* a 100 Continue went to the client */
	bool counted;	   /* the response was counted */
	bool whole;	   /* uo holds the whole request sent so far, from its first byte */
	bool req_done;	   /* the request's last byte was read */
	bool fresh;	   /* the next try connects anew (a pooled connection failed) */
	bool up_keep;	   /* the upstream connection may go back to the pool */
	uint8_t path_len;  /* bytes of path[] (the log's) */
	char ip[48];	   /* the client's address, for X-Forwarded-For and the log */
	char path[96];	   /* the request target's start, for the log */
};

/* Idle upstream connections of one upstream: a stack, the most recent on top. */
struct pool {
	struct conn_ref *ref;
	uint32_t n;
};

struct hp {
	const struct config *cfg;
	struct ups ups;
	struct plog *log;
	struct hx *hx; /* one per connection slot, touched as slots are used */
	size_t hx_bytes;
	char **bufs; /* free HX_BUF buffers */
	uint32_t n_bufs, cap_bufs;
	struct pool pool[CONFIG_MAX_UPSTREAMS];
	uint64_t route_mask[CONFIG_MAX_ROUTES]; /* upstreams of each route's group */
	uint64_t default_mask;			/* the ungrouped upstreams */
	const struct upstream_set *routes_for;	/* the set the masks were made from */
	struct conn_ref *queue;			/* clients waiting for a slot, oldest first */
	uint32_t q_head, q_len, q_cap;
	/* --check-http: each upstream's request, and its answer's parser */
	char check_req[CONFIG_MAX_UPSTREAMS][256];
	uint16_t check_len[CONFIG_MAX_UPSTREAMS];
	struct http_rparser check_rp[CONFIG_MAX_UPSTREAMS];
	char date[HTTP_DATE_LEN + 1];
};

static inline struct hp *hpd(struct engine *e)
{
	return engine_mode_data(e);
}

static inline struct hx *hx_of(struct engine *e, struct hp *hp, struct conn *c)
{
	return &hp->hx[engine_ref(e, c).slot];
}

static struct conn *peer_of(struct engine *e, struct conn *c)
{
	struct hpc *p = hpc(c);

	return p->peer.slot == NO_PEER ? NULL : engine_conn(e, p->peer);
}

/* ---- buffers ------------------------------------------------------------------------------ */

/* A buffer from the shard's free list (grown on demand: the steady state allocates nothing). */
static char *buf_get(struct hp *hp)
{
	if (hp->n_bufs)
		return hp->bufs[--hp->n_bufs];
	return malloc(HX_BUF);
}

static void buf_put(struct hp *hp, char **b)
{
	if (!*b)
		return;
	if (hp->n_bufs == hp->cap_bufs) {
		uint32_t cap = hp->cap_bufs ? hp->cap_bufs * 2 : 64;
		char **n = realloc(hp->bufs, cap * sizeof(*n));

		if (!n) {
			free(*b);
			*b = NULL;
			return;
		}
		hp->bufs = n;
		hp->cap_bufs = cap;
	}
	hp->bufs[hp->n_bufs++] = *b;
	*b = NULL;
}

/* ---- statistics --------------------------------------------------------------------------- */

static void count_response(struct engine *e, struct hx *x, bool upstream)
{
	struct stats *st = engine_stats(e);
	unsigned cls = x->status / 100;

	STAT_INC(st, requests);
	if (!upstream || cls < 1 || cls > 5)
		return;
	STAT_INC(st, up[x->upstream].http[cls - 1]);
	stats_response_time(&st->up[x->upstream], x->t_resp ? x->t_resp - x->t_start : 0);
}

/* ---- the access log ------------------------------------------------------------------------ */

/*
 * One line per request:
 *   TIME CLIENT "METHOD PATH" STATUS BYTES_IN BYTES_OUT UPSTREAM CONNECT_MS RESPONSE_MS TOTAL_MS TERM
 * CONNECT_MS is -1 for a pooled connection reused, RESPONSE_MS -1 without a response head.
 */
static void log_request(struct engine *e, struct hp *hp, struct hx *x)
{
	char when[32], *line;
	uint64_t now = engine_now_ms(e);
	long long cms = -1, rms = -1;
	int n;

	if (!hp->log || !(line = plog_room(e, hp->log)))
		return;
	if (x->t_connect && !x->reused)
		cms = (long long)(x->t_connect - x->t_start);
	if (x->t_resp)
		rms = (long long)(x->t_resp - x->t_start);
	plog_time(when);
	n = snprintf(line, PLOG_LINE, "%s %s \"%s %.*s\" %u %llu %llu %s %lld %lld %llu %s%s%s\n",
		     when, x->ip[0] ? x->ip : "-", http_method_name((enum http_method)x->method),
		     (int)x->path_len, x->path, x->status, (unsigned long long)x->bytes_in,
		     (unsigned long long)x->bytes_out,
		     x->attempts ? hp->ups.set->up[x->upstream].name : "-", cms, rms,
		     (unsigned long long)(now - x->t_start), term_code[x->term],
		     hp->cfg->listener_name ? " listener=" : "",
		     hp->cfg->listener_name ? hp->cfg->listener_name : "");
	if (n > 0 && n < PLOG_LINE)
		plog_commit(e, hp->log, (uint32_t)n);
}

/* ---- routes -------------------------------------------------------------------------------- */

static uint64_t group_mask(const struct upstream_set *s, const char *group)
{
	uint64_t m = 0;

	if (!strcmp(group, "default"))
		group = "";
	for (unsigned i = 0; i < s->n && i < 64; i++)
		if (!strcmp(s->up[i].group, group))
			m |= 1ull << i;
	return m;
}

/* A new upstream set: each route's upstreams, found by its group's name. */
static void refresh(struct hp *hp)
{
	ups_refresh(&hp->ups);
	if (hp->routes_for == hp->ups.set)
		return;
	hp->routes_for = hp->ups.set;
	for (unsigned r = 0; r < hp->cfg->n_routes; r++)
		hp->route_mask[r] = group_mask(hp->ups.set, hp->cfg->routes[r].group);
	hp->default_mask = group_mask(hp->ups.set, "");
}

/* ---- sending ------------------------------------------------------------------------------ */

static void co_send(struct engine *e, struct conn *c, struct hx *x)
{
	if (x->co_busy || !x->co_len)
		return;
	if (engine_send(e, c, x->co, x->co_len)) {
		engine_close(e, c, ENGINE_CLOSE_RESET);
		return;
	}
	x->co_busy = true;
}

static void uo_send(struct engine *e, struct conn *up, struct hx *x)
{
	if (x->uo_busy || x->uo_sent == x->uo_len)
		return;
	if (engine_send(e, up, x->uo + x->uo_sent, x->uo_len - x->uo_sent)) {
		engine_close(e, up, ENGINE_CLOSE_RESET);
		return;
	}
	x->uo_busy = true;
	STAT_ADD(engine_stats(e), up[x->upstream].bytes_out, x->uo_len - x->uo_sent);
	x->uo_sent = x->uo_len;
}

/*
 * An answer of the proxy's own: status, a one-line body naming the cause.
 * closing: the connection cannot be kept (the request's body was not read).
 */
static void respond(struct engine *e, struct hp *hp, struct conn *c, struct hx *x, int status,
		    const char *reason, const char *why, bool closing, enum term term)
{
	char body[160];
	int blen, n;

	if (!x->co && !(x->co = buf_get(hp))) {
		engine_close(e, c, ENGINE_CLOSE_RESET);
		return;
	}
	if (closing || engine_draining(e))
		x->keep = false;
	blen = snprintf(body, sizeof(body), "%s\n", why);
	n = snprintf(x->co + x->co_len, HX_BUF - x->co_len,
		     "HTTP/1.1 %d %s\r\nServer: ringer\r\nDate: %s\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %d\r\n%s\r\n%s",
		     status, reason, hp->date, blen,
		     !x->keep	     ? "Connection: close\r\n"
		     : x->minor == 0 ? "Connection: keep-alive\r\n"
				     : "",
		     x->head_req ? "" : body);
	if (n < 0 || (uint32_t)n >= HX_BUF - x->co_len) {
		engine_close(e, c, ENGINE_CLOSE_RESET);
		return;
	}
	x->co_len += (uint32_t)n;
	x->status = (uint16_t)status;
	x->term = (uint8_t)term;
	x->rs_state = RS_DONE;
	x->started = true;
	if (x->rq_state != RQ_SENT && x->rq_state != RQ_BODY)
		x->rq_state = RQ_SENT;
	if (x->rq_state == RQ_BODY) {
		x->keep = false; /* the rest of the body is never read */
		x->rq_state = RQ_SENT;
	}
	STAT_INC(engine_stats(e), proto_errors);
	co_send(e, c, x);
}

/* ---- the pool ------------------------------------------------------------------------------ */

static void pool_remove(struct hp *hp, struct engine *e, struct conn *up)
{
	struct pool *p = &hp->pool[hpc(up)->upstream];
	struct conn_ref r = engine_ref(e, up);

	for (uint32_t k = 0; k < p->n; k++) {
		if (p->ref[k].slot == r.slot && p->ref[k].gen == r.gen) {
			memmove(&p->ref[k], &p->ref[k + 1], (p->n - k - 1) * sizeof(*p->ref));
			p->n--;
			STAT_ADD(engine_stats(e), up[hpc(up)->upstream].pooled, -1);
			break;
		}
	}
	hpc(up)->pooled = 0;
}

/* An idle connection to upstream i that still works, or NULL. */
static struct conn *pool_get(struct engine *e, struct hp *hp, unsigned i)
{
	struct pool *p = &hp->pool[i];

	while (p->n) {
		struct conn *up = engine_conn(e, p->ref[--p->n]);

		STAT_ADD(engine_stats(e), up[i].pooled, -1);
		if (!up)
			continue;
		hpc(up)->pooled = 0;
		/* Closed by the upstream, or talking out of turn: never given a request. */
		if (engine_closing(up) || engine_peer_done(up) || engine_input_len(e, up)) {
			engine_close(e, up, ENGINE_CLOSE_NOW);
			continue;
		}
		engine_set_deadline(e, up, 0);
		STAT_INC(engine_stats(e), up[i].reused);
		return up;
	}
	return NULL;
}

/*
 * The table is full and a request needs a new upstream connection: the
 * oldest idle one of the fullest pool is closed to make room (HAProxy kills
 * idle server connections when it runs short of descriptors likewise).
 * Its slot frees once the close completes; the request waits in the queue
 * meanwhile. Returns false when no pool holds an idle connection.
 */
static bool pool_evict(struct engine *e, struct hp *hp)
{
	unsigned i = 0;

	for (unsigned k = 1; k < hp->ups.set->n; k++)
		if (hp->pool[k].n > hp->pool[i].n)
			i = k;
	while (hp->pool[i].n) {
		struct pool *p = &hp->pool[i];
		struct conn *up = engine_conn(e, p->ref[0]);

		memmove(&p->ref[0], &p->ref[1], (p->n - 1) * sizeof(*p->ref));
		p->n--;
		STAT_ADD(engine_stats(e), up[i].pooled, -1);
		if (!up)
			continue;
		STAT_INC(engine_stats(e), up[i].evicted);
		hpc(up)->pooled = 0;
		engine_close(e, up, ENGINE_CLOSE);
		return true;
	}
	return false;
}

static void pool_put(struct engine *e, struct hp *hp, struct conn *up)
{
	unsigned i = hpc(up)->upstream;
	struct pool *p = &hp->pool[i];

	if (p->n >= hp->cfg->pool_size || engine_draining(e) || !hp->ups.set->enabled[i]) {
		engine_close(e, up, ENGINE_CLOSE);
		return;
	}
	p->ref[p->n++] = engine_ref(e, up);
	hpc(up)->pooled = 1;
	hpc(up)->peer.slot = NO_PEER;
	STAT_ADD(engine_stats(e), up[i].pooled, 1);
	engine_set_deadline(e, up, engine_now_ms(e) + hp->cfg->pool_idle_ms);
}

/* ---- upstream connections ------------------------------------------------------------------ */

static void uncount(struct engine *e, struct hp *hp, struct conn *up)
{
	struct hpc *pu = hpc(up);

	if (!pu->counted)
		return;
	pu->counted = 0;
	hp->ups.bal.up[pu->upstream].active--;
	STAT_ADD(engine_stats(e), up[pu->upstream].active, -1);
}

static void release_slot(struct hp *hp, struct hx *x)
{
	if (x->slot) {
		x->slot = false;
		ups_put_slot(&hp->ups, x->upstream);
	}
}

static void dispatch_queue(struct engine *e, struct hp *hp);

/* The exchange lets go of its upstream connection: back to the pool, or closed. */
static void detach(struct engine *e, struct hp *hp, struct conn *c, struct hx *x, bool keep)
{
	struct conn *up = peer_of(e, c);

	release_slot(hp, x);
	hpc(c)->peer.slot = NO_PEER;
	if (up) {
		uncount(e, hp, up);
		hpc(up)->peer.slot = NO_PEER;
		if (keep)
			pool_put(e, hp, up);
		else
			engine_close(e, up, ENGINE_CLOSE_RESET);
	}
	if (hp->q_len)
		dispatch_queue(e, hp);
}

static void client_pump(struct engine *e, struct hp *hp, struct conn *c);
static void up_pump(struct engine *e, struct hp *hp, struct conn *up);
static void exchange_done(struct engine *e, struct hp *hp, struct conn *c, struct hx *x);

/* The request goes to its upstream connection up (connected, or reused). */
static void send_request(struct engine *e, struct hp *hp, struct conn *c, struct hx *x,
			 struct conn *up)
{
	x->uo_sent = 0;
	x->rs_state = RS_HEAD;
	http_rparser_init(&x->rp);
	hpc(up)->requests++;
	x->t_connect = engine_now_ms(e);
	uo_send(e, up, x);
	if (x->expect && x->body_follows && !x->continued) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

		memcpy(x->co + x->co_len, cont, sizeof(cont) - 1);
		x->co_len += sizeof(cont) - 1;
		x->continued = true;
		co_send(e, c, x);
	}
	x->rq_state = x->req_done ? RQ_SENT : RQ_BODY;
	engine_set_deadline(e, up, engine_now_ms(e) + hp->cfg->upstream_ms);
	if (x->rq_state == RQ_BODY)
		client_pump(e, hp, c);
}

static void attach(struct engine *e, struct hp *hp, struct conn *c, struct hx *x, struct conn *up)
{
	struct hpc *pu = hpc(up);

	pu->peer = engine_ref(e, c);
	pu->counted = 1;
	hp->ups.bal.up[x->upstream].active++;
	STAT_INC(engine_stats(e), up[x->upstream].active);
	hpc(c)->peer = engine_ref(e, up);
}

enum start {
	START_OK,
	START_NONE,
	START_FULL,
};

/* Finds the request an upstream connection: pooled, or a new connect. */
static enum start start_upstream(struct engine *e, struct hp *hp, struct conn *c, struct hx *x)
{
	const struct upstream_set *set;
	struct engine_tls_client *tc = NULL;
	struct conn *up;
	unsigned i;
	bool slot;
	int err = 0;

	switch (ups_pick(&hp->ups, x->hash, x->tried | ~x->gmask, engine_now_ms(e), &i, &slot)) {
	case UPS_PICKED:
		break;
	case UPS_FULL:
		return START_FULL;
	case UPS_NONE:
		return START_NONE;
	}
	set = hp->ups.set;
	x->tried |= 1ull << i;
	x->attempts++;
	x->upstream = (uint8_t)i;
	x->slot = slot;
	up = x->fresh ? NULL : pool_get(e, hp, i);
	if (up) {
		x->reused = true;
		attach(e, hp, c, x, up);
		send_request(e, hp, c, x, up);
		return START_OK;
	}
	x->reused = false;
	if (set->up[i].tls && !(tc = ups_tls(e, &hp->ups, i)))
		up = NULL;
	else
		up = engine_connect(e, &set->up[i].addr, hp->cfg->connect_ms, &err);
	if (!up && err == -EMFILE && pool_evict(e, hp)) {
		/* The table is full of idle connections: this try waits for the one closed. */
		release_slot(hp, x);
		x->tried &= ~(1ull << i);
		x->attempts--;
		engine_set_timer(e, engine_now_ms(e));
		return START_FULL;
	}
	if (!up) {
		release_slot(hp, x);
		STAT_INC(engine_stats(e), errors);
		return START_NONE;
	}
	memset(hpc(up), 0, sizeof(struct hpc));
	hpc(up)->role = ROLE_UP;
	hpc(up)->upstream = (uint8_t)i;
	attach(e, hp, c, x, up);
	if (tc && engine_connect_tls(e, up, tc, set->up[i].sni[0] ? set->up[i].sni : NULL))
		engine_close(e, up, ENGINE_CLOSE_RESET); /* out of memory: as if it reset */
	return START_OK;
}

static void enqueue(struct engine *e, struct hp *hp, struct conn *c, struct hx *x)
{
	if (hp->q_len == hp->q_cap) {
		respond(e, hp, c, x, 503, "Service Unavailable",
			"every upstream is at its connection limit", x->has_body, TERM_NO_UPSTREAM);
		return;
	}
	hp->queue[(hp->q_head + hp->q_len++) % hp->q_cap] = engine_ref(e, c);
	x->queued = true;
	engine_set_deadline(e, c, engine_now_ms(e) + hp->cfg->queue_ms);
	STAT_INC(engine_stats(e), queued);
}

/*
 * The answer to a request no upstream served, by why the last try failed
 * (TERM_NO_UPSTREAM: none could be tried): 502 or 504, with the cause.
 */
static void fail_answer(struct engine *e, struct hp *hp, struct conn *c, struct hx *x,
			enum term why)
{
	bool closing = x->has_body && x->rq_state != RQ_SENT;

	x->raw_len = 0;
	switch (why) {
	case TERM_CONNECT_TIME:
		respond(e, hp, c, x, 504, "Gateway Timeout", "upstream connect timed out", closing,
			why);
		break;
	case TERM_UP_TIME:
		respond(e, hp, c, x, 504, "Gateway Timeout", "upstream did not answer in time",
			closing, why);
		break;
	case TERM_CONNECT:
		respond(e, hp, c, x, 502, "Bad Gateway", "upstream refused the connection", closing,
			why);
		break;
	case TERM_NO_UPSTREAM:
		STAT_INC(engine_stats(e), no_upstream);
		respond(e, hp, c, x, 502, "Bad Gateway", "no upstream available", closing, why);
		break;
	case TERM_BAD_RESPONSE:
		respond(e, hp, c, x, 502, "Bad Gateway", "upstream sent an invalid response",
			closing, why);
		break;
	default:
		respond(e, hp, c, x, 502, "Bad Gateway",
			"upstream closed the connection before answering", closing, why);
		break;
	}
}

/* Picks an upstream for the request and sends it there, or answers why not. */
static void dispatch(struct engine *e, struct hp *hp, struct conn *c, struct hx *x)
{
	switch (start_upstream(e, hp, c, x)) {
	case START_OK:
		return;
	case START_FULL:
		enqueue(e, hp, c, x);
		return;
	case START_NONE:
		/* Nothing (more) to try: the last try's failure is the answer. */
		fail_answer(e, hp, c, x, x->attempts ? (enum term)x->last_why : TERM_NO_UPSTREAM);
		return;
	}
}

static void dispatch_queue(struct engine *e, struct hp *hp)
{
	while (hp->q_len) {
		struct conn *c = engine_conn(e, hp->queue[hp->q_head]);
		struct hx *x = c ? hx_of(e, hp, c) : NULL;
		enum start r;

		if (!c || !x->queued || engine_closing(c)) {
			hp->q_head = (hp->q_head + 1) % hp->q_cap;
			hp->q_len--;
			continue;
		}
		r = start_upstream(e, hp, c, x);
		if (r == START_FULL)
			return;
		hp->q_head = (hp->q_head + 1) % hp->q_cap;
		hp->q_len--;
		x->queued = false;
		engine_set_deadline(e, c, 0);
		if (r == START_NONE)
			fail_answer(e, hp, c, x,
				    x->attempts ? (enum term)x->last_why : TERM_NO_UPSTREAM);
	}
}

/*
 * The exchange's upstream connection failed before the response ended
 * (why: the term). Tried again elsewhere when nothing was lost; else 502 or
 * 504 if the client has heard nothing yet, else the client is reset.
 */
static void up_failed(struct engine *e, struct hp *hp, struct conn *c, struct hx *x, enum term why)
{
	bool before_connect = why == TERM_CONNECT || why == TERM_CONNECT_TIME;
	bool safe = x->method == HTTP_METHOD_GET || x->method == HTTP_METHOD_HEAD ||
		    x->method == HTTP_METHOD_PUT || x->method == HTTP_METHOD_DELETE ||
		    x->method == HTTP_METHOD_OPTIONS;
	bool untouched =
		(x->rs_state == RS_NONE || x->rs_state == RS_HEAD) && !x->raw_len && !x->started;

	/* What went is still in uo: the whole request read so far, or just its head. */
	bool resendable = !x->body || x->whole;
	bool reused = x->reused, stale = false;

	detach(e, hp, c, x, false);
	x->uo_busy = false;
	if (x->rs_state == RS_DONE)
		return; /* answered already */
	/*
	 * A pooled connection the upstream had closed as it was taken: the
	 * request is sent again on a new connection to the same upstream, and
	 * that try is not counted (nginx does the same with its cached ones).
	 */
	if (untouched && reused && why == TERM_UP_RESET && resendable && (safe || !x->body) &&
	    !x->fresh) {
		x->tried &= ~(1ull << x->upstream);
		x->attempts--;
		x->fresh = true; /* once a request: its tries from now on connect anew */
		stale = true;
	}
	if (untouched && x->attempts <= hp->cfg->connect_retries && resendable &&
	    (before_connect || (safe && why == TERM_UP_RESET) || stale)) {
		x->uo_sent = 0;
		x->rq_state = RQ_WAIT;
		x->last_why = (uint8_t)why;
		dispatch(e, hp, c, x);
		return;
	}
	if (x->started) {
		x->term = (uint8_t)why;
		engine_close(e, c, ENGINE_CLOSE_RESET);
		return;
	}
	fail_answer(e, hp, c, x, why);
}

/* ---- the request side ---------------------------------------------------------------------- */

static int status_of_error(ssize_t n, const char **reason)
{
	int status = http_error_status((enum http_error) - n);

	switch (status) {
	case 414:
		*reason = "URI Too Long";
		break;
	case 431:
		*reason = "Request Header Fields Too Large";
		break;
	case 501:
		*reason = "Not Implemented";
		break;
	case 505:
		*reason = "HTTP Version Not Supported";
		break;
	default:
		*reason = "Bad Request";
		break;
	}
	return status;
}

/*
 * A request head is complete: head[0..len). Routes it and writes the
 * upstream's head; true when it is to be dispatched (once the caller has
 * consumed the head), false when it was answered here.
 */
static bool start_request(struct engine *e, struct hp *hp, struct conn *c, struct hx *x,
			  const struct http_request *req, const char *head, uint32_t len)
{
	const struct config *cfg = hp->cfg;
	struct http_req_info ri;
	struct http_fwd fwd = {
		.client_ip = x->ip,
		.tls = x->tls,
		.style = cfg->forwarded == FORWARDED_RFC7239 ? HTTP_FWD_RFC7239
			 : cfg->forwarded == FORWARDED_NONE  ? HTTP_FWD_NONE
							     : HTTP_FWD_X,
		.via_name = "ringer",
	};
	enum http_framing fr;
	ssize_t n;
	int route;

	engine_set_deadline(e, c, 0);
	x->t_start = engine_now_ms(e);
	x->t_connect = x->t_resp = 0;
	x->bytes_in = len;
	x->bytes_out = 0;
	x->body = 0;
	x->tried = 0;
	x->attempts = 0;
	x->status = 0;
	x->term = TERM_NORMAL;
	x->started = false;
	x->reused = false;
	x->upgrade = false;
	x->continued = false;
	x->counted = false;
	x->whole = true;
	x->fresh = false;
	x->up_keep = false;
	x->method = req->method;
	x->minor = req->minor;
	x->head_req = req->method == HTTP_METHOD_HEAD;
	x->keep = req->keep_alive && !x->eof;
	x->has_body = req->has_body;
	x->chunked = req->chunked;
	x->expect = req->expect_continue;
	x->rs_state = RS_NONE;
	x->rq_state = RQ_WAIT;
	x->path_len = 0;
	if (!x->co && !(x->co = buf_get(hp))) {
		engine_close(e, c, ENGINE_CLOSE_RESET);
		return false;
	}
	if (http_head_request_info(head, len, &ri)) {
		respond(e, hp, c, x, 400, "Bad Request", "bad request", true, TERM_LOCAL);
		return false;
	}
	x->path_len = (uint8_t)(ri.target_len < sizeof(x->path) ? ri.target_len : sizeof(x->path));
	memcpy(x->path, ri.target, x->path_len);
	x->upgrade = ri.upgrade;
	if (cfg->max_body && x->has_body && !x->chunked && req->content_length > cfg->max_body) {
		respond(e, hp, c, x, 413, "Content Too Large",
			"request body larger than --max-body", true, TERM_LOCAL);
		return false;
	}
	refresh(hp);
	route = http_route_match(cfg->routes, cfg->n_routes, ri.host, ri.host_len, ri.path,
				 ri.path_len);
	x->gmask = route >= 0 ? hp->route_mask[route] : hp->default_mask;
	if (!x->gmask) {
		respond(e, hp, c, x, 404, "Not Found", "no route for this host and path",
			x->has_body, TERM_LOCAL);
		return false;
	}
	fr = !x->has_body ? HTTP_FRAME_NONE : x->chunked ? HTTP_FRAME_CHUNKED : HTTP_FRAME_LENGTH;
	if (!x->uo && !(x->uo = buf_get(hp))) {
		engine_close(e, c, ENGINE_CLOSE_RESET);
		return false;
	}
	n = http_head_rewrite_request(head, len, &ri, &fwd, fr, req->content_length, x->uo, HX_BUF);
	if (n < 0) {
		respond(e, hp, c, x, 431, "Request Header Fields Too Large",
			"request head too large to forward", true, TERM_LOCAL);
		return false;
	}
	x->uo_len = x->uo_head = (uint32_t)n;
	x->uo_sent = 0;
	return true;
}

/* Appends body bytes to buf (at *len, room cap), chunk-framed when chunked. */
static void put_body(char *buf, uint32_t *len, const uint8_t *data, uint32_t n, bool chunked)
{
	if (chunked)
		*len += (uint32_t)sprintf(buf + *len, "%x\r\n", n);
	memcpy(buf + *len, data, n);
	*len += n;
	if (chunked) {
		memcpy(buf + *len, "\r\n", 2);
		*len += 2;
	}
}

/* The request's body, from the client's input into uo, while uo is free. */
/*
 * A request body being forwarded will not be served (malformed, too large,
 * too slow): neither side gets the rest. The client hears why if no answer
 * has begun, else it is reset.
 */
static void body_refused(struct engine *e, struct hp *hp, struct conn *c, struct hx *x, int status,
			 const char *reason, const char *why, enum term term)
{
	x->keep = false;
	if (!x->started && !x->co_busy) {
		detach(e, hp, c, x, false);
		respond(e, hp, c, x, status, reason, why, true, term);
	} else {
		x->term = (uint8_t)term;
		engine_close(e, c, ENGINE_CLOSE_RESET);
	}
}

/* Body bytes to take now: of avail in the span, at most left in the body and room in the buffer. */
static uint32_t body_take(uint32_t avail, uint64_t left, uint32_t room)
{
	if (avail > left)
		avail = (uint32_t)left;
	return avail < room ? avail : room;
}

/*
 * --body-timeout and --body-min-rate, as the http mode keeps them: a body
 * gets body_ms to start, and every body_rate bytes received push the
 * deadline a second further, never more than body_ms ahead of now. Only
 * the client's slowness counts: while its input waits for us (the upstream
 * holds the body back), the deadline stays body_ms ahead.
 */
static void body_deadline(struct engine *e, struct hp *hp, struct conn *c, struct hx *x,
			  uint64_t got)
{
	const struct config *cfg = hp->cfg;
	uint64_t now = engine_now_ms(e), at;

	if (!cfg->body_ms)
		return;
	if (x->rq_state != RQ_BODY) {
		engine_set_deadline(e, c, 0);
		return;
	}
	if (engine_input_len(e, c) || !engine_deadline(e, c)) {
		engine_set_deadline(e, c, now + cfg->body_ms);
		return;
	}
	if (!got || !cfg->body_rate)
		return;
	at = engine_deadline(e, c) + got * 1000 / cfg->body_rate;
	engine_set_deadline(e, c, at < now + cfg->body_ms ? at : now + cfg->body_ms);
}

static void pump_body(struct engine *e, struct hp *hp, struct conn *c, struct hx *x)
{
	struct conn *up = peer_of(e, c);
	uint64_t before = x->body;

	if (!up || x->uo_busy || !engine_connected(up)) {
		body_deadline(e, hp, c, x, 0); /* held back by the upstream, if input waits */
		return;
	}
	if (x->uo_sent == x->uo_len && x->uo_len + CHUNK_MAX + 1 + 4096 >= HX_BUF) {
		x->uo_len = x->uo_sent = 0; /* all of it went: room for more */
		x->whole = false;
	}
	while (x->rq_state == RQ_BODY && x->uo_len + CHUNK_MAX + 1 < HX_BUF) {
		const uint8_t *data;
		uint32_t len = engine_input(e, c, &data);
		struct http_request req;
		enum http_event ev;
		ssize_t n = http_parse_event(&x->rq, (const char *)data, len, &req, &ev);

		if (n < 0) {
			/* A body that turned out malformed: neither side gets the rest. */
			body_refused(e, hp, c, x, 400, "Bad Request", "malformed request body",
				     TERM_LOCAL);
			return;
		}
		if (ev == HTTP_EV_DATA) {
			uint32_t take = body_take(len - (uint32_t)n, http_parser_data_left(&x->rq),
						  HX_BUF - x->uo_len - CHUNK_MAX);

			if (!take) {
				/* The span ended with framing: the next one, if it has come. */
				engine_consume(e, c, (uint32_t)n);
				if (!engine_input_len(e, c))
					break;
				continue;
			}
			if (hp->cfg->max_body && x->body + take > hp->cfg->max_body) {
				body_refused(e, hp, c, x, 413, "Content Too Large",
					     "request body larger than --max-body", TERM_LOCAL);
				return;
			}
			put_body(x->uo, &x->uo_len, data + n, take, x->chunked);
			http_parser_take_data(&x->rq, take);
			engine_consume(e, c, (uint32_t)n + take);
			x->body += take;
			x->bytes_in += (uint64_t)n + take;
			continue;
		}
		engine_consume(e, c, (uint32_t)n);
		x->bytes_in += (uint64_t)n;
		if (ev == HTTP_EV_END) {
			if (x->chunked) {
				memcpy(x->uo + x->uo_len, "0\r\n\r\n", 5);
				x->uo_len += 5;
			}
			x->rq_state = RQ_SENT;
			x->req_done = true;
			break;
		}
		if (!len || ((uint32_t)n == len && !engine_input_len(e, c)))
			break; /* all of the input is parsed */
	}
	if (x->uo_len > x->uo_sent) {
		uo_send(e, up, x);
		engine_set_deadline(e, up, engine_now_ms(e) + hp->cfg->upstream_ms);
	}
	body_deadline(e, hp, c, x, x->body - before);
	if (x->eof && x->rq_state == RQ_BODY && !engine_input_len(e, c)) {
		/* The client's FIN came before its body ended: nothing will complete it. */
		x->term = TERM_CLIENT;
		engine_close(e, c, ENGINE_CLOSE_RESET);
	}
}

static bool copy_raw(struct hp *hp, struct hx *x, const uint8_t *data, uint32_t n)
{
	if (!x->raw && !(x->raw = buf_get(hp)))
		return false;
	if (x->raw_len + n > HX_BUF)
		return false;
	memcpy(x->raw + x->raw_len, data, n);
	x->raw_len += n;
	return true;
}

/* A head that will not be served: its answer, then the close; what follows is never read. */
static void head_error(struct engine *e, struct hp *hp, struct conn *c, struct hx *x, int status,
		       const char *reason, const char *why, enum term term)
{
	engine_drop_input(e, c);
	x->keep = false;
	x->raw_len = 0;
	x->method = HTTP_METHOD_OTHER;
	x->minor = 1;
	x->head_req = false;
	x->path_len = 0;
	x->t_start = engine_now_ms(e);
	x->attempts = 0;
	x->counted = false;
	x->rq_state = RQ_SENT;
	respond(e, hp, c, x, status, reason, why, true, term);
}

/* Reads the next request head out of the client's input. */
static void pump_head(struct engine *e, struct hp *hp, struct conn *c, struct hx *x)
{
	for (;;) {
		const uint8_t *data;
		uint32_t len = engine_input(e, c, &data);
		struct http_request req;
		enum http_event ev;
		bool go;
		ssize_t n;

		if (!len)
			break;
		n = http_parse_event(&x->rq, (const char *)data, len, &req, &ev);
		if (n < 0) {
			const char *reason;
			int status = status_of_error(n, &reason);

			head_error(e, hp, c, x, status, reason,
				   http_error_name((enum http_error) - n), TERM_LOCAL);
			return;
		}
		if (ev == HTTP_EV_NONE) {
			if (!http_parser_idle(&x->rq)) {
				if (x->rq_state == RQ_IDLE) {
					x->rq_state = RQ_HEAD;
					if (hp->cfg->header_ms)
						engine_set_deadline(e, c,
								    engine_now_ms(e) +
									    hp->cfg->header_ms);
				}
				if (!copy_raw(hp, x, data, len)) {
					head_error(e, hp, c, x, 431,
						   "Request Header Fields Too Large",
						   "request head too large", TERM_LOCAL);
					return;
				}
			}
			engine_consume(e, c, len);
			continue;
		}
		/* HEAD or COMPLETE: the head ends n bytes in. */
		x->body_follows = ev == HTTP_EV_HEAD;
		x->req_done = !x->body_follows;
		if (x->raw_len) {
			if (!copy_raw(hp, x, data, (uint32_t)n)) {
				head_error(e, hp, c, x, 431, "Request Header Fields Too Large",
					   "request head too large", TERM_LOCAL);
				return;
			}
			go = start_request(e, hp, c, x, &req, x->raw, x->raw_len);
		} else {
			go = start_request(e, hp, c, x, &req, (const char *)data, (uint32_t)n);
		}
		x->raw_len = 0;
		buf_put(hp, &x->raw);
		/* The connection may be gone with a reset answer: its input with it. */
		if (!engine_closing(c))
			engine_consume(e, c, (uint32_t)n);
		if (go)
			dispatch(e, hp, c, x);
		return;
	}
}

static void start_tunnel(struct engine *e, struct hp *hp, struct conn *c, struct hx *x);

static void client_pump(struct engine *e, struct hp *hp, struct conn *c)
{
	struct hx *x = hx_of(e, hp, c);

	if (engine_closing(c) || hpc(c)->tunnel)
		return;
	switch (x->rq_state) {
	case RQ_IDLE:
	case RQ_HEAD:
		pump_head(e, hp, c, x);
		break;
	case RQ_BODY:
		pump_body(e, hp, c, x);
		break;
	default:
		break;
	}
	if (x->rq_state == RQ_IDLE && x->eof && !engine_input_len(e, c))
		engine_close(e, c, ENGINE_CLOSE);
}

/* ---- the response side --------------------------------------------------------------------- */

/* The response to the client: which framing, and whether the client stays. */
static enum http_framing client_framing(struct hx *x, const struct http_rparser *rp)
{
	if (rp->no_body)
		return HTTP_FRAME_KEEP;
	if (rp->has_length && !rp->chunked)
		return HTTP_FRAME_LENGTH;
	if (x->minor >= 1)
		return HTTP_FRAME_CHUNKED;
	x->keep = false;
	return HTTP_FRAME_CLOSE;
}

/* A response head head[0..len) arrived whole: rewritten into co. False: not forwardable. */
static bool take_head(struct engine *e, struct hp *hp, struct conn *c, struct hx *x,
		      const char *head, uint32_t len)
{
	struct http_resp_opts o = {
		.client_minor = x->minor,
		.via_name = "ringer",
	};
	ssize_t n;

	if (x->rp.status < 200 && !x->rp.upgrade) {
		/* An interim response: passed on to an HTTP/1.1 client, dropped for 1.0. */
		if (x->minor < 1 || (x->rp.status == 100 && x->continued))
			return true; /* a 100 Continue went from us already */
		o.keep_alive = true;
		o.fr = HTTP_FRAME_KEEP;
		n = http_head_rewrite_response(head, len, &o, x->co + x->co_len,
					       HX_BUF - x->co_len);
		if (n < 0)
			return false;
		x->co_len += (uint32_t)n;
		return true;
	}
	x->status = x->rp.status;
	x->t_resp = engine_now_ms(e);
	if (x->rp.upgrade) {
		if (!x->upgrade)
			return false; /* a 101 nobody asked for */
		o.upgrade = true;
		o.keep_alive = true;
		o.fr = HTTP_FRAME_NONE;
	} else {
		if (engine_draining(e))
			x->keep = false;
		o.fr = client_framing(x, &x->rp);
		o.length = x->rp.length;
		o.keep_alive = x->keep;
	}
	x->fr = (uint8_t)o.fr;
	n = http_head_rewrite_response(head, len, &o, x->co + x->co_len, HX_BUF - x->co_len);
	if (n < 0)
		return false;
	x->co_len += (uint32_t)n;
	x->started = true;
	x->rs_state = RS_BODY;
	return true;
}

/* The response ended: the terminator of a re-chunked body, then the exchange's end. */
static void response_end(struct engine *e, struct hp *hp, struct conn *c, struct hx *x,
			 struct conn *up)
{
	if (x->fr == HTTP_FRAME_CHUNKED) {
		memcpy(x->co + x->co_len, "0\r\n\r\n", 5);
		x->co_len += 5;
	}
	x->rs_state = RS_DONE;
	x->up_keep = up && !x->rp.conn_close && (x->rp.minor >= 1 || x->rp.conn_keep_alive) &&
		     !x->rp.until_eof && !x->rp.upgrade && !engine_input_len(e, up) &&
		     !engine_peer_done(up) && !engine_closing(up) && hp->cfg->pool_size;
	if (up)
		engine_set_deadline(e, up, 0);
	count_response(e, x, true);
	x->counted = true;
}

/* The upstream's response, from its input into co, while co is free. */
static void up_pump(struct engine *e, struct hp *hp, struct conn *up)
{
	struct conn *c = peer_of(e, up);
	struct hx *x;
	bool progress = false;
	uint32_t in;

	if (!c) {
		engine_drop_input(e, up);
		return;
	}
	x = hx_of(e, hp, c);
	if (x->co_busy || hpc(up)->tunnel)
		return;
	in = engine_input_len(e, up);
	while ((x->rs_state == RS_HEAD || x->rs_state == RS_BODY) &&
	       x->co_len + CHUNK_MAX + 1 < HX_BUF) {
		const uint8_t *data;
		uint32_t len = engine_input(e, up, &data);
		enum http_rp_event ev;
		ssize_t n = http_rparse_event(&x->rp, data, len, x->head_req, &ev);

		if (n < 0) {
			STAT_INC(engine_stats(e), up[x->upstream].bad_responses);
			up_failed(e, hp, c, x, TERM_BAD_RESPONSE);
			return;
		}
		if (ev == HTTP_RP_NONE) {
			if (x->rs_state == RS_HEAD && len && !copy_raw(hp, x, data, len)) {
				up_failed(e, hp, c, x, TERM_BAD_RESPONSE); /* a head over HX_BUF */
				return;
			}
			engine_consume(e, up, (uint32_t)n);
			progress |= n > 0;
			if (!len || ((uint32_t)n == len && !engine_input_len(e, up)))
				break;
			continue;
		}
		if (ev == HTTP_RP_HEAD) {
			bool ok;

			if (x->raw_len) {
				ok = copy_raw(hp, x, data, (uint32_t)n) &&
				     take_head(e, hp, c, x, x->raw, x->raw_len);
			} else {
				ok = take_head(e, hp, c, x, (const char *)data, (uint32_t)n);
			}
			x->raw_len = 0;
			if (!ok) {
				up_failed(e, hp, c, x, TERM_BAD_RESPONSE);
				return;
			}
			engine_consume(e, up, (uint32_t)n);
			progress = true;
			if (x->rp.upgrade)
				break; /* what follows is the upgraded protocol's: the tunnel's */
			continue;
		}
		if (ev == HTTP_RP_DATA) {
			uint32_t take = body_take(len - (uint32_t)n, http_rparser_data_left(&x->rp),
						  HX_BUF - x->co_len - CHUNK_MAX);

			if (!take) {
				/* The span ended with framing: the next one, if it has come. */
				engine_consume(e, up, (uint32_t)n);
				if (!engine_input_len(e, up))
					break;
				continue;
			}
			put_body(x->co, &x->co_len, data + n, take, x->fr == HTTP_FRAME_CHUNKED);
			http_rparser_take_data(&x->rp, take);
			engine_consume(e, up, (uint32_t)n + take);
			progress = true;
			continue;
		}
		/* END */
		engine_consume(e, up, (uint32_t)n);
		response_end(e, hp, c, x, up);
		break;
	}
	buf_put(hp, &x->raw);
	STAT_ADD(engine_stats(e), up[x->upstream].bytes_in, in - engine_input_len(e, up));
	if (engine_peer_done(up) && !engine_input_len(e, up) &&
	    (x->rs_state == RS_HEAD || x->rs_state == RS_BODY) && !x->rp.upgrade) {
		/* The upstream's FIN: the end of a body that runs to it, else a cut response. */
		if (x->rs_state == RS_BODY && x->rp.until_eof && http_rparser_eof(&x->rp) == 1) {
			response_end(e, hp, c, x, up);
			x->up_keep = false;
		} else {
			up_failed(e, hp, c, x, TERM_UP_RESET);
			return;
		}
	}
	if (progress && x->rs_state != RS_DONE)
		engine_set_deadline(e, up, engine_now_ms(e) + hp->cfg->upstream_ms);
	if (x->rs_state == RS_DONE && !x->co_len) {
		exchange_done(e, hp, c, x); /* its last bytes went with the previous send */
		return;
	}
	co_send(e, c, x);
}

/* ---- the exchange's end -------------------------------------------------------------------- */

static void exchange_done(struct engine *e, struct hp *hp, struct conn *c, struct hx *x)
{
	bool keep = x->keep && x->rq_state == RQ_SENT && !engine_draining(e);

	if (!x->counted)
		count_response(e, x, false);
	log_request(e, hp, x);
	detach(e, hp, c, x, x->up_keep && x->rq_state == RQ_SENT);
	x->up_keep = false;
	buf_put(hp, &x->uo);
	buf_put(hp, &x->co);
	x->co_len = x->uo_len = x->uo_sent = x->uo_head = 0;
	x->rs_state = RS_NONE;
	x->attempts = 0;
	if (!keep) {
		x->rq_state = RQ_CLOSED;
		engine_close(e, c, ENGINE_CLOSE);
		return;
	}
	x->rq_state = RQ_IDLE;
	client_pump(e, hp, c); /* a pipelined request that waited */
}

/* ---- the tunnel (101 Switching Protocols) -------------------------------------------------- */

static void relay(struct engine *e, struct conn *src, struct conn *dst)
{
	engine_forward(e, src, dst);
}

static void start_tunnel(struct engine *e, struct hp *hp, struct conn *c, struct hx *x)
{
	struct conn *up = peer_of(e, c);

	x->rs_state = RS_NONE;
	count_response(e, x, true);
	x->counted = true;
	log_request(e, hp, x);
	release_slot(hp, x);
	buf_put(hp, &x->uo);
	buf_put(hp, &x->co);
	x->co_len = 0;
	if (!up) {
		engine_close(e, c, ENGINE_CLOSE_RESET);
		return;
	}
	hpc(c)->tunnel = 1;
	hpc(up)->tunnel = 1;
	engine_set_deadline(e, up, 0);
	engine_set_deadline(e, c, 0);
	relay(e, c, up);
	relay(e, up, c);
	if (engine_peer_done(c))
		engine_shutdown(e, up);
	if (engine_peer_done(up))
		engine_shutdown(e, c);
}

/* ---- health checks -------------------------------------------------------------------------- */

static void check_start(struct engine *e, struct hp *hp, unsigned i)
{
	const struct config *cfg = hp->cfg;
	struct conn *c;
	int err;

	c = engine_connect(e, &hp->ups.set->up[i].addr,
			   cfg->connect_ms < cfg->check_ms ? cfg->connect_ms : cfg->check_ms, &err);
	if (!c) {
		ups_check_gone(&hp->ups, i);
		return;
	}
	memset(hpc(c), 0, sizeof(struct hpc));
	hpc(c)->peer.slot = NO_PEER;
	hpc(c)->role = ROLE_CHECK;
	hpc(c)->upstream = (uint8_t)i;
}

static void check_done(struct engine *e, struct hp *hp, struct conn *c, int res, const char *why)
{
	if (hpc(c)->got)
		return;
	hpc(c)->got = 1;
	ups_check_result(e, &hp->ups, hpc(c)->upstream, res, why);
	engine_close(e, c, res ? ENGINE_CLOSE_RESET : ENGINE_CLOSE);
}

static void check_connected(struct engine *e, struct hp *hp, struct conn *c)
{
	unsigned i = hpc(c)->upstream;
	const struct config *cfg = hp->cfg;
	int n;

	if (!cfg->check_http) {
		check_done(e, hp, c, 0, NULL);
		return;
	}
	n = snprintf(hp->check_req[i], sizeof(hp->check_req[i]),
		     "%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: ringer-check\r\nConnection: "
		     "close\r\n\r\n",
		     cfg->check_http, hp->ups.set->up[i].name);
	if (n <= 0 || (size_t)n >= sizeof(hp->check_req[i])) {
		check_done(e, hp, c, -EINVAL, "check request too long");
		return;
	}
	http_rparser_init(&hp->check_rp[i]);
	engine_set_deadline(e, c, engine_now_ms(e) + cfg->check_ms);
	if (engine_send(e, c, hp->check_req[i], (uint32_t)n))
		check_done(e, hp, c, -EIO, "send failed");
}

static void check_readable(struct engine *e, struct hp *hp, struct conn *c)
{
	unsigned i = hpc(c)->upstream;
	const uint8_t *data;
	uint32_t len;

	while ((len = engine_input(e, c, &data)) && !hpc(c)->got) {
		enum http_rp_event ev;
		ssize_t n = http_rparse_event(&hp->check_rp[i], data, len, false, &ev);

		if (n < 0) {
			check_done(e, hp, c, -EPROTO, "invalid HTTP response");
			break;
		}
		engine_consume(e, c, (uint32_t)n);
		if (ev == HTTP_RP_HEAD && hp->check_rp[i].status >= 200) {
			char why[48];
			unsigned st = hp->check_rp[i].status;

			snprintf(why, sizeof(why), "HTTP status %u", st);
			check_done(e, hp, c, st < 400 ? 0 : -EPROTO, why);
			break;
		}
		if (ev == HTTP_RP_NONE && (uint32_t)n == len)
			continue;
	}
	engine_drop_input(e, c);
}

static void hp_timer(struct engine *e, uint64_t now_ms)
{
	struct hp *hp = hpd(e);
	uint64_t due, next;

	/* Requests waiting for a slot a pooled connection's close freed (pool_evict). */
	if (hp->q_len)
		dispatch_queue(e, hp);
	if (!ups_checker(&hp->ups, e))
		return;
	refresh(hp);
	due = ups_checks_due(&hp->ups, now_ms, &next);
	for (unsigned i = 0; due; i++, due >>= 1)
		if (due & 1)
			check_start(e, hp, i);
	engine_set_timer(e, next);
}

/* ---- callbacks ------------------------------------------------------------------------------ */

static void hp_accepted(struct engine *e, struct conn *c)
{
	struct hp *hp = hpd(e);
	struct hx *x = hx_of(e, hp, c);
	const struct sockaddr *sa;
	struct engine_tls_info ti;
	socklen_t len;

	refresh(hp);
	memset(hpc(c), 0, sizeof(struct hpc));
	hpc(c)->role = ROLE_CLIENT;
	hpc(c)->peer.slot = NO_PEER;
	memset(x, 0, sizeof(*x));
	http_parser_init(&x->rq);
	x->tls = engine_tls_info(e, c, &ti);
	sa = engine_accepted_peer(e, &len);
	if (sa) {
		x->hash = balance_hash_addr(sa, len);
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, x->ip,
				  sizeof(x->ip));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, x->ip,
				  sizeof(x->ip));
	}
	if (hp->cfg->header_ms)
		engine_set_deadline(e, c, engine_now_ms(e) + hp->cfg->header_ms);
}

static void hp_connected(struct engine *e, struct conn *up, int res)
{
	struct hp *hp = hpd(e);
	struct conn *c;
	struct hx *x;

	if (hpc(up)->role == ROLE_CHECK) {
		if (res < 0) {
			hpc(up)->got = 1;
			ups_check_result(e, &hp->ups, hpc(up)->upstream, res, NULL);
		} else
			check_connected(e, hp, up);
		return;
	}
	ups_connect_result(e, &hp->ups, hpc(up)->upstream, res);
	c = peer_of(e, up);
	if (res < 0) {
		uncount(e, hp, up);
		hpc(up)->peer.slot = NO_PEER;
		if (!c)
			return;
		x = hx_of(e, hp, c);
		hpc(c)->peer.slot = NO_PEER;
		up_failed(e, hp, c, x, res == -ETIMEDOUT ? TERM_CONNECT_TIME : TERM_CONNECT);
		return;
	}
	if (!c) {
		pool_put(e, hp, up);
		return;
	}
	send_request(e, hp, c, hx_of(e, hp, c), up);
}

static void hp_readable(struct engine *e, struct conn *c)
{
	struct hp *hp = hpd(e);
	struct conn *peer;

	switch (hpc(c)->role) {
	case ROLE_CLIENT:
		if (hpc(c)->tunnel) {
			if ((peer = peer_of(e, c)))
				relay(e, c, peer);
			else
				engine_drop_input(e, c);
			return;
		}
		client_pump(e, hp, c);
		return;
	case ROLE_UP:
		if (hpc(c)->tunnel) {
			if ((peer = peer_of(e, c)))
				relay(e, c, peer);
			else
				engine_drop_input(e, c);
			return;
		}
		if (hpc(c)->pooled) {
			/* An idle connection that speaks: it is not safe to give a request. */
			pool_remove(hp, e, c);
			engine_drop_input(e, c);
			engine_close(e, c, ENGINE_CLOSE_NOW);
			return;
		}
		up_pump(e, hp, c);
		return;
	case ROLE_CHECK:
		check_readable(e, hp, c);
		return;
	}
	engine_drop_input(e, c);
}

static void hp_sent(struct engine *e, struct conn *c)
{
	struct hp *hp = hpd(e);
	struct conn *peer = peer_of(e, c);
	struct hx *x;

	if (hpc(c)->role == ROLE_UP) {
		if (!peer)
			return;
		x = hx_of(e, hp, peer);
		x->uo_busy = false;
		if (x->rq_state == RQ_BODY)
			client_pump(e, hp, peer);
		return;
	}
	if (hpc(c)->role != ROLE_CLIENT)
		return;
	x = hx_of(e, hp, c);
	x->co_busy = false;
	x->bytes_out += x->co_len;
	x->co_len = 0;
	if (hpc(c)->tunnel)
		return;
	if (x->rs_state == RS_DONE) {
		exchange_done(e, hp, c, x);
		return;
	}
	if (x->rs_state == RS_BODY && x->rp.upgrade) {
		start_tunnel(e, hp, c, x);
		return;
	}
	if (peer)
		up_pump(e, hp, peer);
}

static void hp_peer_eof(struct engine *e, struct conn *c)
{
	struct hp *hp = hpd(e);
	struct conn *peer = peer_of(e, c);
	struct hx *x;

	if (hpc(c)->tunnel) {
		if (!peer) {
			engine_close(e, c, ENGINE_CLOSE);
			return;
		}
		/* One direction finished: our FIN to the peer once its output drained. */
		engine_shutdown(e, peer);
		if (hp->cfg->half_close_ms) {
			uint64_t at = engine_now_ms(e) + hp->cfg->half_close_ms;

			engine_set_deadline(e, c, at);
			engine_set_deadline(e, peer, at);
		}
		return;
	}
	switch (hpc(c)->role) {
	case ROLE_CLIENT:
		x = hx_of(e, hp, c);
		x->eof = true;
		x->keep = false;
		if (x->rq_state == RQ_IDLE || x->rq_state == RQ_HEAD) {
			client_pump(e, hp, c);
			if (x->rq_state == RQ_IDLE || x->rq_state == RQ_HEAD) {
				x->rq_state = RQ_CLOSED;
				engine_close(e, c, ENGINE_CLOSE);
			}
		} else if (x->rq_state == RQ_BODY) {
			client_pump(e, hp, c);
		}
		return;
	case ROLE_UP:
		if (hpc(c)->pooled) {
			pool_remove(hp, e, c);
			engine_close(e, c, ENGINE_CLOSE);
			return;
		}
		if (!peer) {
			engine_close(e, c, ENGINE_CLOSE);
			return;
		}
		up_pump(e, hp, c); /* what came before the FIN, then the FIN */
		return;
	case ROLE_CHECK:
		if (!hpc(c)->got)
			check_done(e, hp, c, -ECONNRESET, "closed before answering");
		return;
	}
}

static void hp_expired(struct engine *e, struct conn *c)
{
	struct hp *hp = hpd(e);
	struct conn *peer = peer_of(e, c);
	struct hx *x;

	switch (hpc(c)->role) {
	case ROLE_CLIENT:
		x = hx_of(e, hp, c);
		if (x->queued) {
			x->queued = false;
			STAT_INC(engine_stats(e), queue_timeouts);
			respond(e, hp, c, x, 503, "Service Unavailable",
				"every upstream is at its connection limit", x->has_body,
				TERM_QUEUE_TIME);
			return;
		}
		if (x->rq_state == RQ_HEAD || x->rq_state == RQ_IDLE) {
			if (x->rq_state == RQ_IDLE && !engine_input_len(e, c) &&
			    http_parser_idle(&x->rq)) {
				engine_close(e, c, ENGINE_CLOSE); /* never began a request */
				return;
			}
			STAT_INC(engine_stats(e), header_timeouts);
			head_error(e, hp, c, x, 408, "Request Timeout", "request header timeout",
				   TERM_CLIENT);
			return;
		}
		if (hpc(c)->tunnel) {
			engine_close(e, c, ENGINE_CLOSE_NOW);
			return;
		}
		if (x->rq_state == RQ_BODY) {
			/* The client's body fell behind --body-min-rate. */
			STAT_INC(engine_stats(e), body_timeouts);
			body_refused(e, hp, c, x, 408, "Request Timeout", "request body too slow",
				     TERM_CLIENT);
		}
		return;
	case ROLE_UP:
		if (hpc(c)->pooled) {
			pool_remove(hp, e, c);
			engine_close(e, c, ENGINE_CLOSE);
			return;
		}
		if (!peer || hpc(c)->tunnel) {
			engine_close(e, c, hpc(c)->tunnel ? ENGINE_CLOSE_NOW : ENGINE_CLOSE_RESET);
			return;
		}
		x = hx_of(e, hp, peer);
		if (x->rs_state == RS_HEAD || x->rs_state == RS_BODY) {
			STAT_INC(engine_stats(e), up[x->upstream].timeouts);
			up_failed(e, hp, peer, x, TERM_UP_TIME);
		}
		return;
	case ROLE_CHECK:
		check_done(e, hp, c, -ETIMEDOUT, "timed out");
		return;
	}
}

static void hp_closed(struct engine *e, struct conn *c)
{
	struct hp *hp = hpd(e);
	struct conn *peer = peer_of(e, c);
	struct hx *x;

	switch (hpc(c)->role) {
	case ROLE_CLIENT:
		x = hx_of(e, hp, c);
		if (x->rs_state != RS_NONE || x->rq_state == RQ_WAIT || x->rq_state == RQ_BODY) {
			if (x->term == TERM_NORMAL)
				x->term = TERM_CLIENT;
			log_request(e, hp, x);
		}
		x->queued = false;
		release_slot(hp, x);
		if (peer) {
			hpc(peer)->peer.slot = NO_PEER;
			uncount(e, hp, peer);
			engine_close(e, peer,
				     hpc(c)->tunnel && !engine_aborted(c) ? ENGINE_CLOSE
									  : ENGINE_CLOSE_RESET);
		}
		buf_put(hp, &x->raw);
		buf_put(hp, &x->uo);
		buf_put(hp, &x->co);
		if (hp->q_len)
			dispatch_queue(e, hp);
		return;
	case ROLE_UP:
		if (hpc(c)->pooled) {
			pool_remove(hp, e, c);
			return;
		}
		uncount(e, hp, c);
		if (!peer)
			return;
		if (hpc(c)->tunnel) {
			hpc(peer)->peer.slot = NO_PEER;
			engine_close(e, peer,
				     engine_aborted(c) ? ENGINE_CLOSE_RESET : ENGINE_CLOSE);
			return;
		}
		x = hx_of(e, hp, peer);
		hpc(c)->peer.slot = NO_PEER;
		hpc(peer)->peer.slot = NO_PEER;
		if (x->rs_state == RS_HEAD || x->rs_state == RS_BODY || x->rq_state == RQ_WAIT ||
		    x->rq_state == RQ_BODY) {
			if (x->rs_state == RS_DONE)
				return;
			up_failed(e, hp, peer, x, TERM_UP_RESET);
		}
		return;
	case ROLE_CHECK:
		if (!hpc(c)->got) {
			hpc(c)->got = 1;
			ups_check_result(e, &hp->ups, hpc(c)->upstream, -ECONNRESET,
					 "closed before answering");
		}
		return;
	}
}

static void hp_written(struct engine *e, uint32_t token, int res)
{
	struct hp *hp = hpd(e);

	plog_written(e, hp->log, token, res);
}

static void hp_tick(struct engine *e, uint64_t now_ms, int64_t wall_sec)
{
	struct hp *hp = hpd(e);

	(void)now_ms;
	refresh(hp);
	http_format_date(hp->date, (time_t)wall_sec);
	if (hp->log)
		plog_flush(e, hp->log);
	if (hp->q_len)
		dispatch_queue(e, hp);
}

static void hp_fini(struct engine *e, void *data)
{
	struct hp *hp = data;

	if (!hp)
		return;
	plog_free(hp->log);
	for (unsigned i = 0; i < CONFIG_MAX_UPSTREAMS; i++)
		free(hp->pool[i].ref);
	while (hp->n_bufs)
		free(hp->bufs[--hp->n_bufs]);
	free(hp->bufs);
	free(hp->queue);
	if (hp->hx)
		munmap(hp->hx, hp->hx_bytes);
	ups_fini(&hp->ups, e);
	free(hp);
}

static int hp_init(struct engine *e, const void *arg, void **data)
{
	const struct config *cfg = arg;
	struct hp *hp = calloc(1, sizeof(*hp));
	int err;

	if (!hp)
		return -ENOMEM;
	hp->cfg = cfg;
	err = ups_init(&hp->ups, e, cfg);
	if (err) {
		free(hp);
		return err;
	}
	http_format_date(hp->date, time(NULL));
	hp->hx_bytes = (size_t)engine_capacity(e) * sizeof(struct hx);
	hp->hx = mmap(NULL, hp->hx_bytes, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (hp->hx == MAP_FAILED) {
		hp->hx = NULL;
		goto nomem;
	}
	for (unsigned i = 0; i < CONFIG_MAX_UPSTREAMS; i++) {
		hp->pool[i].ref =
			calloc(cfg->pool_size ? cfg->pool_size : 1, sizeof(struct conn_ref));
		if (!hp->pool[i].ref)
			goto nomem;
	}
	hp->q_cap = cfg->max_conns;
	hp->queue = calloc(hp->q_cap ? hp->q_cap : 1, sizeof(*hp->queue));
	if (!hp->queue)
		goto nomem;
	hp->log = plog_new(cfg, &err);
	if (err)
		goto nomem;
	refresh(hp);
	*data = hp;
	return 0;

nomem:
	hp_fini(e, hp);
	return -ENOMEM;
}

const struct mode_ops mode_http_proxy = {
	.name = "http-proxy",
	.conns_per_session = 2,
	.init = hp_init,
	.fini = hp_fini,
	.accepted = hp_accepted,
	.connected = hp_connected,
	.readable = hp_readable,
	.sent = hp_sent,
	.peer_eof = hp_peer_eof,
	.expired = hp_expired,
	.closed = hp_closed,
	.written = hp_written,
	.tick = hp_tick,
	.timer = hp_timer,
};
