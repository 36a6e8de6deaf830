// SPDX-License-Identifier: MIT
/*
 * The admin mode: one request per connection, answered and closed.
 *
 *   GET /metrics       Prometheus text: counters, gauges by TCP state and side,
 *                      operations by opcode, errors by errno, CQEs per loop,
 *                      per upstream in proxy mode
 *   GET /connections   JSON: the live connections of every shard
 *                      (?limit=N&offset=M pages; ?verify=1 adds the kernel's
 *                      view of each from inet_diag, and what disagrees)
 *   GET /ready         200 while every shard serves; 503 before that and from
 *                      the first moment of a drain (load balancers, probes)
 *   GET /              the dashboard (dashboard.html, built in)
 *
 * GET and HEAD only (405 for the rest). /ready answers anybody; everything
 * else only a client inside --admin-allow (default: loopback, 127.0.0.0/8
 * and ::1, IPv4-mapped included), judged by the address accept saw: others
 * get 403, counted in ringer_admin_denied_total.
 *
 * The request head is gathered in a per-connection buffer (admin requests
 * are rare and small, so it is allocated), must arrive within ADMIN_HEAD_MS,
 * and is parsed by the same HTTP parser as http mode. The response is built
 * whole, sent, and the connection closed.
 */
#include "admin.h"
#include "listeners.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "diag.h"
#include "http_parser.h"

#define ADMIN_REQ_MAX	  8192
#define ADMIN_HEAD_MS	  2000
#define ADMIN_CONNS	  64
#define CONN_LIMIT_DEF	  1000
#define CONN_LIMIT_MAX	  100000
#define DISAGREEMENTS_MAX 100

extern const char dashboard_html[];
extern const unsigned dashboard_html_len;

struct admin_conn {
	uint32_t len;
	bool answered;
	bool allowed; /* the client is inside the allow list */
	bool head;    /* a HEAD request: headers only, whatever the status */
	char *resp;
	size_t resp_len;
	char req[ADMIN_REQ_MAX];
};

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void buf_reserve(struct buf *b, size_t more)
{
	char *p;
	size_t cap;

	if (b->oom || b->len + more <= b->cap)
		return;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return;
	}
	b->p = p;
	b->cap = cap;
}

__attribute__((format(printf, 2, 3))) static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (int pass = 0; pass < 2 && !b->oom; pass++) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->p && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		buf_reserve(b, (size_t)n + 1);
	}
}

static struct admin_conn **aconn(struct conn *c)
{
	return conn_mode(c);
}

static void sum_stats(const struct admin_ctx *ctx, struct stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < ctx->n; i++)
		shard_stats_sum(&ctx->shards[i], out); /* every listener's */
}

/* ---- /metrics ----------------------------------------------------------------------------- */

static void admin_metrics(const struct admin_ctx *ctx, struct buf *b)
{
	bprintf(b,
		"# HELP ringer_ready 1 while every shard serves, 0 before and from the start of "
		"a drain (GET /ready)\n"
		"# TYPE ringer_ready gauge\n"
		"ringer_ready %d\n"
		"# HELP ringer_admin_denied_total Admin requests refused with 403: the client is "
		"outside --admin-allow\n"
		"# TYPE ringer_admin_denied_total counter\n"
		"ringer_admin_denied_total %" PRIu64 "\n",
		__atomic_load_n(&ctx->state, __ATOMIC_RELAXED) == ADMIN_SERVING, ctx->denied);
}

static void metrics(const struct admin_ctx *ctx, struct buf *b)
{
	static struct stats st; /* the admin thread's alone; too large for its stack */
	const char *names[CONFIG_MAX_UPSTREAMS];
	const struct upstream_set *set;
	int n;

	sum_stats(ctx, &st);
	for (;;) {
		buf_reserve(b, 1 << 16);
		if (b->oom)
			return;
		n = stats_prometheus(b->p + b->len, b->cap - b->len, &st);
		if (n >= 0)
			break;
		buf_reserve(b, b->cap * 2 - b->len);
	}
	b->len += (size_t)n;
	admin_metrics(ctx, b);
	/* A configuration file: counters and upstreams per listener (listeners.c). */
	for (;;) {
		buf_reserve(b, 1 << 16);
		if (b->oom)
			return;
		n = listeners_prometheus(b->p + b->len, b->cap - b->len, ctx->shards, ctx->n);
		if (n >= 0)
			break;
		buf_reserve(b, b->cap * 2 - b->len);
	}
	b->len += (size_t)n;
	if (n > 0 || !mode_has_upstreams(ctx->cfg->mode))
		return;
	/* The set in use (a reload replaces it; slots keep their upstream). */
	set = __atomic_load_n(&ctx->cfg->set, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < set->n; i++)
		names[i] = set->up[i].name;
	for (;;) {
		buf_reserve(b, 1 << 16);
		if (b->oom)
			return;
		n = stats_prometheus_upstreams(b->p + b->len, b->cap - b->len, &st, names, set->n);
		if (n >= 0)
			break;
		buf_reserve(b, b->cap * 2 - b->len);
	}
	b->len += (size_t)n;
}

/* ---- /connections ------------------------------------------------------------------------- */

/* A query parameter's unsigned value, or def. */
static uint64_t query_uint(const char *query, const char *name, uint64_t def)
{
	size_t nl = strlen(name);

	for (const char *p = query; p && *p;) {
		if (!strncmp(p, name, nl) && p[nl] == '=')
			return strtoull(p + nl + 1, NULL, 10);
		p = strchr(p, '&');
		if (p)
			p++;
	}
	return def;
}

static const char *const side_names[] = {"client", "upstream"};

static void conn_json(struct buf *b, unsigned shard, const struct engine_conn_view *v, bool first)
{
	char peer[80] = "";

	if (v->peer_len) {
		struct net_addr a;

		memcpy(&a.ss, &v->peer, sizeof(a.ss));
		a.len = v->peer_len;
		net_addr_str(&a, peer, sizeof(peer));
	}
	bprintf(b,
		"%s\n  {\"shard\": %u, \"slot\": %" PRIu32 ", \"gen\": %" PRIu32
		", \"side\": \"%s\", \"state\": \"%s\", \"peer\": \"%s\", \"age_ms\": %" PRIu32
		", \"bytes_in\": %" PRIu64 ", \"bytes_out\": %" PRIu64 ", \"inflight\": %u"
		", \"cookie\": %" PRIu64,
		first ? "" : ",", shard, v->slot, v->gen, side_names[v->side & 1],
		tcp_state_name((enum tcp_state)v->state), peer, v->age_ms, v->bytes_in,
		v->bytes_out, v->inflight, v->cookie);
	if (v->tls_version) {
		char sni[sizeof(v->tls_sni)];
		size_t k = 0;

		/* The name came off the wire: only what JSON can carry as it is. */
		for (size_t i = 0; v->tls_sni[i] && k < sizeof(sni) - 1; i++)
			if (v->tls_sni[i] >= 0x20 && v->tls_sni[i] < 0x7f && v->tls_sni[i] != '"' &&
			    v->tls_sni[i] != '\\')
				sni[k++] = v->tls_sni[i];
		sni[k] = 0;
		bprintf(b, ", \"tls\": {\"version\": \"%s\", \"cipher\": \"%s\", \"sni\": \"%s\"}",
			v->tls_version, v->tls_cipher ? v->tls_cipher : "", sni);
	}
	bprintf(b, "}");
}

static void connections(const struct admin_ctx *ctx, const char *query, struct buf *b)
{
	static struct diag_table diag; /* kept between requests: its array is reused */
	uint64_t limit = query_uint(query, "limit", CONN_LIMIT_DEF);
	uint64_t offset = query_uint(query, "offset", 0), index = 0, shown = 0;
	bool verify = query_uint(query, "verify", 0) != 0;
	uint64_t counts[3] = {0}, unknown = 0, listed = 0;
	struct buf dis = {0};
	int derr = 0;

	if (limit > CONN_LIMIT_MAX)
		limit = CONN_LIMIT_MAX;
	if (verify)
		derr = diag_dump(&diag);
	bprintf(b, "{\"connections\": [");
	for (unsigned i = 0; i < ctx->n; i++) {
		const struct engine *e = ctx->shards[i].engine;
		uint32_t slots = e ? engine_slots(e) : 0;

		for (uint32_t slot = 0; slot < slots; slot++) {
			struct engine_conn_view v;
			enum diag_verdict verdict;
			int k;

			if (!engine_conn_view(e, slot, &v))
				continue;
			if (index >= offset && shown < limit) {
				conn_json(b, i, &v, shown == 0);
				shown++;
			}
			index++;
			if (!verify || derr)
				continue;
			if (!v.cookie) {
				unknown++; /* its cookie is still on its way */
				continue;
			}
			k = diag_state(&diag, v.cookie);
			verdict = diag_compare((enum tcp_state)v.state, k);
			counts[verdict]++;
			if (verdict == DIAG_DISAGREE && listed++ < DISAGREEMENTS_MAX)
				bprintf(&dis,
					"%s\n   {\"shard\": %u, \"slot\": %" PRIu32
					", \"gen\": %" PRIu32
					", \"ringer\": \"%s\", \"kernel\": \"%s\"}",
					listed > 1 ? "," : "", i, v.slot, v.gen,
					tcp_state_name((enum tcp_state)v.state),
					diag_state_name(k));
		}
	}
	bprintf(b,
		"\n],\n\"total\": %" PRIu64 ", \"offset\": %" PRIu64 ", \"limit\": %" PRIu64
		", \"returned\": %" PRIu64,
		index, offset, limit, shown);
	if (verify && derr) {
		bprintf(b, ",\n\"verify\": {\"error\": \"inet_diag: %s\"}", strerror(-derr));
	} else if (verify) {
		bprintf(b,
			",\n\"verify\": {\"kernel_sockets\": %zu, \"agree\": %" PRIu64
			", \"lag\": %" PRIu64 ", \"disagree\": %" PRIu64 ", \"unknown\": %" PRIu64
			", \"disagreements\": [%.*s]}",
			diag.n, counts[DIAG_AGREE], counts[DIAG_LAG], counts[DIAG_DISAGREE],
			unknown, (int)dis.len, dis.p ? dis.p : "");
	}
	bprintf(b, "}\n");
	free(dis.p);
}

/* ---- requests ----------------------------------------------------------------------------- */

static void respond(struct engine *e, struct conn *c, int status, const char *type,
		    const char *body, size_t body_len, bool head_only)
{
	struct admin_conn *ac = *aconn(c);
	static const struct {
		int status;
		const char *reason;
	} reasons[] = {{200, "OK"},
		       {400, "Bad Request"},
		       {403, "Forbidden"},
		       {404, "Not Found"},
		       {405, "Method Not Allowed"},
		       {408, "Request Timeout"},
		       {414, "URI Too Long"},
		       {431, "Request Header Fields Too Large"},
		       {500, "Internal Server Error"},
		       {503, "Service Unavailable"},
		       {505, "HTTP Version Not Supported"}};
	const char *reason = "Error";
	struct buf b = {0};

	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			reason = reasons[i].reason;
	bprintf(&b,
		"HTTP/1.1 %d %s\r\nServer: ringer\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		"Cache-Control: no-store\r\n%sConnection: close\r\n\r\n",
		status, reason, type, body_len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head_only && !ac->head && body_len) {
		buf_reserve(&b, body_len);
		if (!b.oom) {
			memcpy(b.p + b.len, body, body_len);
			b.len += body_len;
		}
	}
	ac->answered = true;
	if (b.oom || b.len > UINT32_MAX) {
		free(b.p);
		engine_close(e, c, ENGINE_CLOSE_RESET);
		return;
	}
	ac->resp = b.p;
	ac->resp_len = b.len;
	if (engine_send(e, c, ac->resp, (uint32_t)ac->resp_len))
		engine_close(e, c, ENGINE_CLOSE_RESET);
}

static void error_page(struct engine *e, struct conn *c, int status)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%d\n", status);

	respond(e, c, status, "text/plain", body, (size_t)n, false);
}

/*
 * The traffic shards' connection tables are read only while serving: a
 * drain frees each shard's engine as it finishes. admin_draining() flips
 * the state, then waits for reading to be 0; here reading is raised before
 * the state is looked at. Both sequentially consistent, so either this
 * sees the drain, or the drain sees this read and waits for its end.
 */
static bool tables_enter(struct admin_ctx *ctx)
{
	__atomic_store_n(&ctx->reading, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&ctx->state, __ATOMIC_SEQ_CST) == ADMIN_SERVING)
		return true;
	__atomic_store_n(&ctx->reading, 0, __ATOMIC_SEQ_CST);
	return false;
}

static void tables_leave(struct admin_ctx *ctx)
{
	__atomic_store_n(&ctx->reading, 0, __ATOMIC_SEQ_CST);
}

static void ready(struct engine *e, struct conn *c, const struct admin_ctx *ctx)
{
	switch (__atomic_load_n(&ctx->state, __ATOMIC_SEQ_CST)) {
	case ADMIN_SERVING:
		respond(e, c, 200, "text/plain", "ready\n", 6, false);
		return;
	case ADMIN_STARTING:
		respond(e, c, 503, "text/plain", "starting\n", 9, false);
		return;
	default:
		respond(e, c, 503, "text/plain", "draining\n", 9, false);
	}
}

/* A refused request: 403, counted. */
static void deny(struct engine *e, struct conn *c, struct admin_ctx *ctx)
{
	ctx->denied++;
	error_page(e, c, 403);
}

static void route(struct engine *e, struct conn *c, const struct http_request *req,
		  const char *target, size_t target_len)
{
	struct admin_ctx *ctx = engine_mode_data(e);
	struct admin_conn *ac = *aconn(c);
	size_t path_len = 0;
	char path[256];
	const char *query;
	struct buf b = {0};
	bool head = req->method == HTTP_METHOD_HEAD;

	while (path_len < target_len && target[path_len] != '?')
		path_len++;
	/* /ready for anybody; the rest for the allow list, whatever the method or path. */
	if (!ac->allowed && (path_len != 6 || memcmp(target, "/ready", 6))) {
		deny(e, c, ctx);
		return;
	}
	if (req->method != HTTP_METHOD_GET && !head) {
		error_page(e, c, 405);
		return;
	}
	if (target_len >= sizeof(path)) {
		error_page(e, c, 414);
		return;
	}
	memcpy(path, target, target_len);
	path[target_len] = 0;
	query = strchr(path, '?');
	if (query)
		*(char *)query++ = 0;
	if (!strcmp(path, "/ready")) {
		ready(e, c, ctx);
	} else if (!strcmp(path, "/metrics")) {
		metrics(ctx, &b);
		if (!b.oom)
			respond(e, c, 200, "text/plain; version=0.0.4", b.p, b.len, head);
	} else if (!strcmp(path, "/connections")) {
		if (!tables_enter(ctx)) {
			/* Starting, or draining: the shards' engines may not be there. */
			respond(e, c, 503, "text/plain", "not serving\n", 12, head);
			return;
		}
		connections(ctx, query, &b);
		tables_leave(ctx);
		if (!b.oom)
			respond(e, c, 200, "application/json", b.p, b.len, head);
	} else if (!strcmp(path, "/") || !strcmp(path, "/index.html")) {
		respond(e, c, 200, "text/html; charset=utf-8", dashboard_html, dashboard_html_len,
			head);
	} else {
		error_page(e, c, 404);
	}
	if (b.oom)
		error_page(e, c, 500);
	free(b.p);
}

/* The head is complete (or will never be): parse it and answer. */
static void handle(struct engine *e, struct conn *c)
{
	struct admin_conn *ac = *aconn(c);
	struct http_parser p;
	struct http_request req;
	ssize_t n;

	http_parser_init(&p);
	n = http_parse(&p, ac->req, ac->len, &req);
	if (n > 0 && req.path) {
		ac->head = req.method == HTTP_METHOD_HEAD;
	} else if (!ac->allowed) {
		deny(e, c, engine_mode_data(e)); /* no /ready in it: refused */
		return;
	}
	if (n < 0) {
		error_page(e, c, http_error_status((enum http_error) - n));
		return;
	}
	if (n == 0 || !req.path) {
		error_page(e, c, ac->len >= ADMIN_REQ_MAX ? 431 : 400);
		return;
	}
	route(e, c, &req, req.path, req.path_len);
}

static bool head_complete(const struct admin_conn *ac)
{
	const char *end = ac->req + ac->len;

	for (const char *p = ac->req; p + 1 < end; p++)
		if (p[0] == '\n' && (p[1] == '\n' || (p[1] == '\r' && p + 2 < end && p[2] == '\n')))
			return true;
	return false;
}

static void admin_readable(struct engine *e, struct conn *c)
{
	struct admin_conn *ac = *aconn(c);
	const uint8_t *in;
	uint32_t avail;

	while ((avail = engine_input(e, c, &in)) > 0) {
		uint32_t take = ADMIN_REQ_MAX - ac->len < avail ? ADMIN_REQ_MAX - ac->len : avail;

		if (!ac->answered) {
			memcpy(ac->req + ac->len, in, take);
			ac->len += take;
		}
		engine_consume(e, c, avail); /* beyond the head: dropped */
	}
	if (ac->answered)
		return;
	if (head_complete(ac) || ac->len >= ADMIN_REQ_MAX) {
		engine_set_deadline(e, c, 0);
		handle(e, c);
	}
}

/* No --admin-allow: loopback only (IPv4-mapped loopback matches 127.0.0.0/8: cidr.h). */
static struct cidr loopback[2];

static void admin_accepted(struct engine *e, struct conn *c)
{
	const struct admin_ctx *ctx = engine_mode_data(e);
	struct admin_conn *ac = calloc(1, sizeof(*ac));
	const struct sockaddr *peer;
	socklen_t len;

	*aconn(c) = ac;
	if (!ac) {
		engine_close(e, c, ENGINE_CLOSE_RESET);
		return;
	}
	/* The address accept saw (the shard accepts with addresses); none: refused. */
	peer = engine_accepted_peer(e, &len);
	ac->allowed = ctx->cfg->n_admin_allow ? cidr_match_any(ctx->cfg->admin_allow,
							       ctx->cfg->n_admin_allow, peer, len)
					      : cidr_match_any(loopback, 2, peer, len);
	engine_set_deadline(e, c, engine_now_ms(e) + ADMIN_HEAD_MS);
}

static void admin_sent(struct engine *e, struct conn *c)
{
	/* Read (and drop) until the peer's FIN, so the response is never cut by a reset. */
	engine_close(e, c, ENGINE_CLOSE_LINGER);
}

static void admin_peer_eof(struct engine *e, struct conn *c)
{
	struct admin_conn *ac = *aconn(c);

	if (ac && !ac->answered && ac->len)
		handle(e, c); /* the head ended with the connection: answer what came */
	else if (!ac || !ac->answered)
		engine_close(e, c, ENGINE_CLOSE);
}

static void admin_expired(struct engine *e, struct conn *c)
{
	struct admin_conn *ac = *aconn(c);

	if (ac && !ac->answered)
		error_page(e, c, 408);
	else
		engine_close(e, c, ENGINE_CLOSE_NOW);
}

static void admin_closed(struct engine *e, struct conn *c)
{
	struct admin_conn *ac = *aconn(c);

	if (ac) {
		free(ac->resp);
		free(ac);
	}
	*aconn(c) = NULL;
}

static int admin_init(struct engine *e, const void *arg, void **data)
{
	if (cidr_parse("127.0.0.0/8", &loopback[0]) || cidr_parse("::1", &loopback[1]))
		return -EINVAL;
	*data = (void *)arg;
	return 0;
}

const struct mode_ops mode_admin = {
	.name = "admin",
	.init = admin_init,
	.accepted = admin_accepted,
	.readable = admin_readable,
	.sent = admin_sent,
	.peer_eof = admin_peer_eof,
	.expired = admin_expired,
	.closed = admin_closed,
};

void admin_config(struct config *a, const struct config *cfg)
{
	*a = *cfg;
	a->mode = MODE_ECHO;	 /* only what shard setup reads from it: no proxy options */
	a->accept_proxy = false; /* the admin port is reached directly */
	a->send_proxy = 0;
	a->balance = BALANCE_ROUNDROBIN;
	a->max_conns = ADMIN_CONNS;
	a->buf_count = 64;
	a->buf_size = 4096;
	a->ring_entries = 256;
	a->idle_ms = 10000;
	a->send_ms = 10000;
	a->recv_bundle = false;
	a->drain_ms = 1000;
	a->tls_upstreams = false; /* it connects nowhere */
}

void admin_serving(struct admin_ctx *ctx)
{
	__atomic_store_n(&ctx->state, ADMIN_SERVING, __ATOMIC_SEQ_CST);
}

void admin_draining(struct admin_ctx *ctx)
{
	struct timespec ms = {.tv_nsec = 1000000};

	__atomic_store_n(&ctx->state, ADMIN_DRAINING, __ATOMIC_SEQ_CST);
	/* A /connections being built (one pass over the tables, no waiting in it) ends soon. */
	while (__atomic_load_n(&ctx->reading, __ATOMIC_SEQ_CST))
		nanosleep(&ms, NULL);
}
