// SPDX-License-Identifier: MIT
/*
 * The listeners beyond the first, and reloads of the file (listeners.h says
 * what is where). Each shard gets a socket of its own for every address
 * (SO_REUSEPORT, as for the first listener), or a descriptor of a socket
 * systemd passed in. A reload prepares everything it needs (files read,
 * contexts built, sockets bound) before it publishes anything, so a refusal
 * leaves what serves untouched.
 */
#include "listeners.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "notify.h"
#include "resolver.h"
#include "ringer/sock.h"
#include "ringer/tls.h"

#define LISTEN_BACKLOG 4096
#define MAX_KEPT       64 /* files a process keeps loaded: the first and its reloads' */

/* A listener in use: slot k is engine listener k. */
struct slot {
	struct conf_listener *l; /* in the file it came from (kept) */
	struct config *cfg;	 /* its running configuration (slot 0: main's copy) */
	bool retired;		 /* a reload removed it */
};

static struct slot slots[ENGINE_MAX_LISTENERS];
static unsigned n_slots;
static struct conf_set *kept[MAX_KEPT]; /* files whose listeners serve (the first is main's) */
static unsigned n_kept;
static bool had_tls, had_pp; /* some listener at startup: the engines keep TLS, PROXY state */
static bool handover_on;

const struct mode_ops *listeners_mode(enum ringer_mode m)
{
	switch (m) {
	case MODE_ECHO:
		return &mode_echo;
	case MODE_HTTP:
		return &mode_http;
	case MODE_PROXY:
		return &mode_proxy;
	case MODE_HTTP_PROXY:
		return &mode_http_proxy;
	}
	return NULL;
}

int listeners_check_tls(struct config *cfg)
{
	struct tls_ctx *t;
	char err[512], warn[256];

	if (tls_settings_new_keys(&cfg->tls)) {
		fprintf(stderr, "ringer: TLS: no random bytes for the ticket keys\n");
		return -1;
	}
	if (tls_ctx_new(&t, &cfg->tls, err, sizeof(err), warn, sizeof(warn))) {
		fprintf(stderr, "ringer: %s\n", err);
		return -1;
	}
	if (warn[0])
		fprintf(stderr, "ringer: warning: %s\n", warn);
	tls_ctx_free(t);
	return 0;
}

int listeners_check_upstream_tls(const struct config *cfg)
{
	struct tls_client_settings s = {
		.ca = cfg->upstream_ca,
		.verify = true,
		.cert = cfg->upstream_cert,
		.key = cfg->upstream_key,
		.what = "--upstream-ca/--upstream-cert/--upstream-key",
	};
	char err[512];

	if (tls_client_check(&s, err, sizeof(err))) {
		fprintf(stderr, "ringer: %s\n", err);
		return -1;
	}
	return 0;
}

/* Address b of l is free to bind (or systemd's); -1 after a message. */
static int probe(const struct conf_listener *l, unsigned b, const char *what)
{
	char addr_s[80];
	int ret;

	if (net_addr_port(&l->binds[b]) == 0 || sd_listen_has(&l->binds[b]))
		return 0;
	ret = sock_probe_free(&l->binds[b]);
	if (!ret)
		return 0;
	fprintf(stderr, "ringer: %s%s:%u: listener %s: cannot listen on %s: %s%s\n", what, l->file,
		l->bind_line[b], l->name, net_addr_str(&l->binds[b], addr_s, sizeof(addr_s)),
		strerror(-ret),
		ret == -EADDRINUSE ? " (another process, maybe another ringer, listens there)"
				   : "");
	return -1;
}

/*
 * A listener beyond the first, before it serves: its mode, its session log
 * opened (as main opens listener 0's), its first upstream set, its
 * addresses free. what: "" at startup, "reload refused: " on a reload.
 */
static int prepare_one(struct conf_listener *l, unsigned k, const char *what)
{
	struct config *cfg = &l->cfg;

	cfg->listener_name = l->name; /* in its session log's lines */
	if (l->n_binds > SHARD_MAX_BINDS) {
		fprintf(stderr, "ringer: %s%s:%u: listener %s: %u addresses, at most %u\n", what,
			l->file, l->line, l->name, l->n_binds, SHARD_MAX_BINDS);
		return -1;
	}
	if (!listeners_mode(cfg->mode)) {
		fprintf(stderr, "ringer: %s%s:%u: listener %s: mode %s is not in this build\n",
			what, l->file, l->line, l->name, mode_name(cfg->mode));
		return -1;
	}
	for (unsigned b = 0; b < l->n_binds; b++)
		if (probe(l, b, what))
			return -1;
	if (cfg->log_path) {
		cfg->log_fd = strcmp(cfg->log_path, "-")
				      ? open(cfg->log_path,
					     O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)
				      : STDOUT_FILENO;
		if (cfg->log_fd < 0) {
			fprintf(stderr, "ringer: %s%s:%u: listener %s: log %s: %s\n", what, l->file,
				l->line, l->name, cfg->log_path, strerror(errno));
			return -1;
		}
	}
	if (mode_has_upstreams(cfg->mode)) {
		struct upstream_set *set;

		/* resolve servers: their names' addresses now (resolver.c looks again later) */
		if (resolver_add(cfg, k))
			return -1;
		set = calloc(1, sizeof(*set));
		if (!set) {
			fprintf(stderr, "ringer: out of memory\n");
			return -1;
		}
		config_initial_set(cfg, set);
		cfg->set = set;
	}
	return 0;
}

/* Undoes prepare_one() for a listener that will not serve after all. */
static void unprepare_one(struct conf_listener *l)
{
	if (l->cfg.log_fd > STDOUT_FILENO)
		close(l->cfg.log_fd);
	l->cfg.log_fd = -1;
	resolver_forget(&l->cfg);
	free((void *)l->cfg.set);
	l->cfg.set = NULL;
}

int listeners_prepare(struct conf_set *conf, bool handover)
{
	handover_on = handover;
	if (!conf)
		return 0;
	if (conf->n > ENGINE_MAX_LISTENERS) {
		fprintf(stderr, "ringer: %s: %u listeners: one process serves at most %u\n",
			conf->path, conf->n, ENGINE_MAX_LISTENERS);
		return -1;
	}
	if (handover && (conf->n > 1 || conf->l[0].n_binds > 1)) {
		fprintf(stderr,
			"ringer: %s: --handover hands over one listener on one address; this file "
			"has %u listener%s (restart instead, or one listener per ringer)\n",
			conf->path, conf->n, conf->n == 1 ? " with several addresses" : "s");
		return -1;
	}
	if (conf->l[0].n_binds > SHARD_MAX_BINDS) {
		fprintf(stderr, "ringer: %s:%u: listener %s: %u addresses, at most %u\n",
			conf->l[0].file, conf->l[0].line, conf->l[0].name, conf->l[0].n_binds,
			SHARD_MAX_BINDS);
		return -1;
	}
	for (unsigned b = 1; b < conf->l[0].n_binds; b++)
		if (probe(&conf->l[0], b, ""))
			return -1;
	for (unsigned k = 1; k < conf->n; k++)
		if (prepare_one(&conf->l[k], k, ""))
			return -1;
	for (unsigned k = 0; k < conf->n; k++) {
		had_tls |= conf->l[k].cfg.tls_on || conf->l[k].cfg.tls_upstreams;
		had_pp |= conf->l[k].cfg.accept_proxy;
	}
	kept[n_kept++] = conf;
	return 0;
}

/*
 * A socket for address a of listener l: systemd's, else a new one; with
 * port 0 on the first shard, a is then the port it got.
 */
static int open_one(const struct conf_listener *l, struct net_addr *a, unsigned line, bool first)
{
	const struct config *cfg = &l->cfg;
	char addr_s[80];
	int fd, ret = 0;

	fd = sd_listen_fd_take(a);
	if (fd < 0)
		fd = sock_listen(a, LISTEN_BACKLOG);
	if (fd < 0) {
		fprintf(stderr, "ringer: %s:%u: listener %s: cannot listen on %s: %s\n", l->file,
			line, l->name, net_addr_str(a, addr_s, sizeof(addr_s)), strerror(-fd));
		return -1;
	}
	if (cfg->ka_idle_s)
		ret = sock_keepalive(fd, cfg->ka_idle_s, cfg->ka_intvl_s, cfg->ka_cnt);
	if (!ret && cfg->user_timeout_ms)
		ret = sock_user_timeout(fd, cfg->user_timeout_ms);
	if (ret) {
		fprintf(stderr, "ringer: listener %s: %s: %s\n", l->name,
			cfg->ka_idle_s ? "keepalive" : "tcp-user-timeout", strerror(-ret));
		close(fd);
		return -1;
	}
	if (first && net_addr_port(a) == 0) {
		socklen_t len = sizeof(a->ss);

		getsockname(fd, (struct sockaddr *)&a->ss, &len);
		a->len = len;
	}
	return fd;
}

/* Shard s's entry for slot k (k > 0): listener l's settings and a socket per address. */
static int open_more(struct shard *s, unsigned k, struct conf_listener *l, bool first)
{
	struct shard_listener *m = &s->more[k - 1];

	m->cfg = &l->cfg;
	m->mode = listeners_mode(l->cfg.mode);
	m->tls = l->cfg.tls_on ? &l->cfg.tls : NULL;
	m->n_fds = 0;
	if (l->cfg.log_fd >= 0)
		s->conn_info = true; /* the session log reports each session's peer and bytes */
	for (unsigned b = 0; b < l->n_binds; b++) {
		int fd = open_one(l, &l->binds[b], l->bind_line[b], first);

		if (fd < 0)
			return -1;
		m->fds[m->n_fds++] = fd;
	}
	return 0;
}

int listeners_open(struct conf_set *conf, struct config *cfg0, struct shard *s, bool first)
{
	size_t bytes;

	if (!conf)
		return 0;
	if (first) {
		cfg0->listener_name = conf->l[0].name;
		n_slots = conf->n;
		for (unsigned k = 0; k < conf->n; k++)
			slots[k] = (struct slot){&conf->l[k], k ? &conf->l[k].cfg : cfg0, false};
	}
	for (unsigned b = 1; b < conf->l[0].n_binds; b++) {
		int fd =
			open_one(&conf->l[0], &conf->l[0].binds[b], conf->l[0].bind_line[b], first);

		if (fd < 0)
			return -1;
		s->more_fds[s->n_more_fds++] = fd;
	}
	/* Room for every listener a reload may add; struct stats is cache-line aligned. */
	bytes = (ENGINE_MAX_LISTENERS - 1) * sizeof(*s->more);
	if (posix_memalign((void **)&s->more, 64, bytes)) {
		fprintf(stderr, "ringer: out of memory\n");
		return -1;
	}
	memset(s->more, 0, bytes);
	for (unsigned k = 1; k < conf->n; k++) {
		s->n_more = s->n_more_pub = k; /* the fds so far are the shard's to close */
		if (open_more(s, k, &conf->l[k], first))
			return -1;
	}
	return 0;
}

void listeners_print(FILE *f)
{
	char addr_s[80];

	for (unsigned k = 0; k < n_slots; k++) {
		const struct conf_listener *l = slots[k].l;

		if (slots[k].retired)
			continue;
		for (unsigned b = k ? 0 : 1; b < l->n_binds; b++)
			fprintf(f, "listening on %s (listener %s, mode %s)\n",
				net_addr_str(&l->binds[b], addr_s, sizeof(addr_s)), l->name,
				mode_name(l->cfg.mode));
	}
}

/* Listener k's counters over every shard. */
static void listener_sum(const struct shard *shards, unsigned n_shards, unsigned k,
			 struct stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < n_shards; i++)
		stats_sum(out, k ? &shards[i].more[k - 1].stats : &shards[i].stats);
}

bool listeners_print_stats(FILE *f, const struct shard *shards, unsigned n_shards)
{
	static struct stats st; /* main's thread only; large */

	if (!n_slots)
		return false;
	fprintf(f, "listeners:\n");
	for (unsigned k = 0; k < n_slots; k++) {
		int64_t open = 0;

		listener_sum(shards, n_shards, k, &st);
		for (int i = 0; i < TCP_STATE_COUNT; i++)
			open += st.by_state[i];
		fprintf(f,
			"  %-20s %-6s accepts %llu refused %llu open %lld closed %llu requests "
			"%llu bytes in %llu out %llu%s\n",
			slots[k].l->name, mode_name(slots[k].cfg->mode),
			(unsigned long long)st.accepts, (unsigned long long)st.refused,
			(long long)open, (unsigned long long)st.closed,
			(unsigned long long)st.requests, (unsigned long long)st.bytes_in,
			(unsigned long long)st.bytes_out, slots[k].retired ? " (removed)" : "");
	}
	for (unsigned k = 0; k < n_slots; k++) {
		const struct upstream_set *set = slots[k].cfg->set;
		const char *names[CONFIG_MAX_UPSTREAMS];

		if (!mode_has_upstreams(slots[k].cfg->mode) || !set)
			continue;
		listener_sum(shards, n_shards, k, &st);
		for (unsigned i = 0; i < set->n; i++)
			names[i] = set->up[i].name;
		fprintf(f, "listener %s:\n", slots[k].l->name);
		stats_print_upstreams(f, &st, names, set->n);
	}
	return true;
}

int listeners_prometheus(char *buf, size_t len, const struct shard *shards, unsigned n_shards)
{
	static struct stats st[ENGINE_MAX_LISTENERS]; /* the admin thread's alone */
	static const struct {
		const char *name, *type, *help;
	} m[] = {
		{"ringer_listener_accepts_total", "counter", "connections the listener accepted"},
		{"ringer_listener_refused_total", "counter",
		 "connections refused at its max-conns"},
		{"ringer_listener_connections", "gauge", "its connections open now"},
		{"ringer_listener_closed_total", "counter", "its connections closed"},
		{"ringer_listener_requests_total", "counter", "HTTP requests answered"},
		{"ringer_listener_bytes_in_total", "counter", "bytes received on its connections"},
		{"ringer_listener_bytes_out_total", "counter", "bytes sent on its connections"},
		{"ringer_listener_removed", "gauge", "1 once a reload removed it (it drains)"},
	};
	const struct stats *ps[ENGINE_MAX_LISTENERS];
	const char *labels[ENGINE_MAX_LISTENERS], *const *unames[ENGINE_MAX_LISTENERS];
	const char *names[ENGINE_MAX_LISTENERS][CONFIG_MAX_UPSTREAMS];
	unsigned count[ENGINE_MAX_LISTENERS], groups = 0;
	unsigned slots_now = __atomic_load_n(&n_slots, __ATOMIC_ACQUIRE);
	size_t off = 0;
	int n;

	if (!slots_now)
		return 0; /* no configuration file: the admin's own lines say it all */
	if (!slots_now)
		return 0; /* no file: main's own /metrics say it all */
	for (unsigned k = 0; k < slots_now; k++)
		listener_sum(shards, n_shards, k, &st[k]);
	for (unsigned f = 0; f < sizeof(m) / sizeof(m[0]); f++) {
		STATS_EMIT("# HELP %s %s\n# TYPE %s %s\n", m[f].name, m[f].help, m[f].name,
			   m[f].type);
		for (unsigned k = 0; k < slots_now; k++) {
			const struct stats *x = &st[k];
			int64_t open = 0, v;

			for (int i = 0; i < TCP_STATE_COUNT; i++)
				open += x->by_state[i];
			v = f == 0   ? (int64_t)x->accepts
			    : f == 1 ? (int64_t)x->refused
			    : f == 2 ? open
			    : f == 3 ? (int64_t)x->closed
			    : f == 4 ? (int64_t)x->requests
			    : f == 5 ? (int64_t)x->bytes_in
			    : f == 6
				    ? (int64_t)x->bytes_out
				    : (int64_t)__atomic_load_n(&slots[k].retired, __ATOMIC_RELAXED);
			STATS_EMIT("%s{listener=\"%s\",mode=\"%s\"} %" PRId64 "\n", m[f].name,
				   slots[k].l->name, mode_name(slots[k].cfg->mode), v);
		}
	}
	for (unsigned k = 0; k < slots_now; k++) {
		const struct upstream_set *set =
			__atomic_load_n(&slots[k].cfg->set, __ATOMIC_ACQUIRE);

		if (!mode_has_upstreams(slots[k].cfg->mode) || !set)
			continue;
		for (unsigned i = 0; i < set->n; i++)
			names[groups][i] = set->up[i].name;
		ps[groups] = &st[k];
		labels[groups] = slots[k].l->name;
		unames[groups] = names[groups];
		count[groups++] = set->n;
	}
	if (groups) {
		n = stats_prometheus_upstreams_by(buf + off, len - off, groups, labels, ps, unames,
						  count);
		if (n < 0)
			return n;
		off += (size_t)n;
	}
	return (int)off;
}

struct upstream_set *listeners_next_set(const struct config *cfg, unsigned k,
					const struct config_upstream *up, unsigned n,
					const struct shard *shards, unsigned n_shards,
					const char **why)
{
	static struct stats st; /* main's thread only */
	int64_t active[CONFIG_MAX_UPSTREAMS];
	struct upstream_set *set = malloc(sizeof(*set));

	listener_sum(shards, n_shards, k, &st);
	for (unsigned i = 0; i < CONFIG_MAX_UPSTREAMS; i++)
		active[i] = st.up[i].active;
	if (set && !config_reload_set(cfg->set, up, n, active, set))
		return set;
	*why = set ? "more upstreams than slots (retired ones still carry sessions)"
		   : "out of memory";
	free(set);
	return NULL;
}

void listeners_publish(void *arg, struct config *cfg, unsigned k, const struct config_upstream *up,
		       unsigned n)
{
	const struct listeners_shards *ls = arg;
	const char *name = n_slots ? slots[k].l->name : "", *why;
	struct upstream_set *set = listeners_next_set(cfg, k, up, n, ls->shards, ls->n, &why);

	if (!set) {
		fprintf(stderr, "ringer: resolve%s%s: the servers stay as they are: %s\n",
			*name ? ": listener " : "", name, why);
		return;
	}
	__atomic_store_n(&cfg->set, set, __ATOMIC_RELEASE);
	fprintf(stderr, "ringer: resolve%s%s: the names give %u server%s now\n",
		*name ? ": listener " : "", name, n, n == 1 ? "" : "s");
}

/* ---- reload ------------------------------------------------------------------------------- */

/* The same address and port; port 0 in next matches any (startup picked one: the file says 0). */
static bool same_addr(const struct net_addr *running, const struct net_addr *next)
{
	const struct sockaddr_storage *a = &running->ss, *b = &next->ss;

	if (a->ss_family != b->ss_family)
		return false;
	if (net_addr_port(next) && net_addr_port(running) != net_addr_port(next))
		return false;
	if (a->ss_family == AF_INET)
		return !memcmp(&((const struct sockaddr_in *)a)->sin_addr,
			       &((const struct sockaddr_in *)b)->sin_addr, sizeof(struct in_addr));
	if (a->ss_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr,
			       sizeof(struct in6_addr));
	return false;
}

/* The slot serving a listener of this name, or -1. */
static int slot_named(const char *name)
{
	for (unsigned k = 0; k < n_slots; k++)
		if (!slots[k].retired && !strcmp(slots[k].l->name, name))
			return (int)k;
	return -1;
}

/*
 * What of an http-proxy listener the shards cannot take in place: its routes
 * (each shard maps them to the set's groups once per set), its pool's size
 * (allocated at start) and its HTTP check (a string of the file in use).
 */
static const char *http_proxy_change(const struct config *a, const struct config *b)
{
	if (a->mode != MODE_HTTP_PROXY)
		return NULL;
	if (a->n_routes != b->n_routes || memcmp(a->routes, b->routes, sizeof(a->routes)))
		return "routes";
	if (a->pool_size != b->pool_size)
		return "pool-size";
	if (!a->check_http != !b->check_http ||
	    (a->check_http && strcmp(a->check_http, b->check_http)))
		return "check-http";
	return NULL;
}

/* Why the kept listener in slot k cannot take b in place, or NULL when it can. */
static const char *kept_change(unsigned k, const struct conf_listener *b, char *why, size_t len)
{
	const struct conf_listener *a = slots[k].l;
	bool same = a->n_binds == b->n_binds;

	for (unsigned j = 0; same && j < a->n_binds; j++)
		same = same_addr(&a->binds[j], &b->binds[j]);
	if (slots[k].cfg->mode != b->cfg.mode)
		snprintf(why, len, "listener %s: its mode changed", a->name);
	else if (!same)
		snprintf(why, len, "listener %s: its addresses changed", a->name);
	else if (slots[k].cfg->tls_on != b->cfg.tls_on)
		snprintf(why, len, "listener %s: TLS turned %s", a->name,
			 b->cfg.tls_on ? "on" : "off");
	else if (http_proxy_change(slots[k].cfg, &b->cfg))
		snprintf(why, len, "listener %s: its %s changed", a->name,
			 http_proxy_change(slots[k].cfg, &b->cfg));
	else
		return NULL;
	return why;
}

struct plan {
	struct conf_set *next;
	int match[CONF_MAX_LISTENERS < 256 ? CONF_MAX_LISTENERS : 256]; /* next's -> slot, or -1 */
	bool drop[ENGINE_MAX_LISTENERS];				/* slots to retire */
	struct upstream_set *set[ENGINE_MAX_LISTENERS];			/* NULL: unchanged */
	struct tls_ctx **tls[ENGINE_MAX_LISTENERS]; /* per shard; NULL: not TLS */
	unsigned n_add, n_drop;
	bool opened; /* the added listeners' sockets are open in the shards' arrays */
	const struct config *timeouts[ENGINE_MAX_LISTENERS]; /* a kept one's new settings */
	/* a kept proxy listener's servers, expanded (resolve), and the file's as configured */
	struct config_upstream up[ENGINE_MAX_LISTENERS][CONFIG_MAX_UPSTREAMS];
	unsigned n_up[ENGINE_MAX_LISTENERS];
	const struct config *conf_up[ENGINE_MAX_LISTENERS];
};

/*
 * The settings a kept listener takes in place from the reloaded file: the
 * timeouts and retries the engine and the proxy read as they go (the shards
 * take idle and send timeouts at their next tick). Stored one by one: a
 * shard may read any of them meanwhile, each whole.
 */
static void take_timeouts(struct config *cur, const struct config *next)
{
#define TAKE(f) __atomic_store_n(&cur->f, next->f, __ATOMIC_RELAXED)
	TAKE(idle_ms);
	TAKE(send_ms);
	TAKE(connect_ms);
	TAKE(connect_retries);
	TAKE(queue_ms);
	TAKE(half_close_ms);
	TAKE(check_ms);
	TAKE(check_fall);
	TAKE(check_rise);
	TAKE(upstream_ms);
	TAKE(pool_idle_ms);
	TAKE(max_body);
	TAKE(forwarded);
#undef TAKE
}

static void plan_free(struct plan *p, struct shard *shards, unsigned n_shards)
{
	for (unsigned k = 0; k < ENGINE_MAX_LISTENERS; k++) {
		free(p->set[k]);
		if (!p->tls[k])
			continue;
		for (unsigned i = 0; i < n_shards; i++)
			tls_ctx_free(p->tls[k][i]);
		free(p->tls[k]);
	}
	/* Added listeners that will not serve: their sockets, logs and sets go. */
	for (unsigned j = 0, k = n_slots; p->next && j < p->next->n; j++) {
		if (p->match[j] >= 0)
			continue;
		for (unsigned i = 0; p->opened && i < n_shards; i++) {
			struct shard_listener *m = &shards[i].more[k - 1];

			for (unsigned b = 0; b < m->n_fds; b++)
				close(m->fds[b]);
			m->n_fds = 0;
		}
		unprepare_one(&p->next->l[j]);
		k++;
	}
}

/* Slot k's new upstream set from next's configuration; -1 after a message. */
static int plan_upstreams(struct plan *p, unsigned k, const struct config *next,
			  const struct shard *shards, unsigned n_shards)
{
	const struct config *cur = slots[k].cfg;
	const char *why;
	char err[256];
	int n;

	for (unsigned i = 0; i < next->n_upstreams; i++) {
		if (next->upstreams[i].tls && !cur->tls_upstreams) {
			fprintf(stderr,
				"ringer: reload refused, the configuration in use stays: %s: tls "
				"upstreams need a restart when none was there at startup\n",
				next->upstreams[i].name);
			return -1;
		}
	}
	/* resolve servers: what their names give now */
	n = resolver_expand(next->upstreams, next->n_upstreams, p->up[k], err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "ringer: reload refused, the configuration in use stays: %s\n",
			err);
		return -1;
	}
	p->n_up[k] = (unsigned)n;
	p->conf_up[k] = next;
	p->set[k] = listeners_next_set(cur, k, p->up[k], (unsigned)n, shards, n_shards, &why);
	if (!p->set[k]) {
		fprintf(stderr, "ringer: reload refused, the configuration in use stays: %s\n",
			why);
		return -1;
	}
	return 0;
}

/* Slot k's certificates read again, a context set per shard; -1 after a message. */
static int plan_tls(struct plan *p, unsigned k, unsigned n_shards)
{
	char err[512], warn[256];

	p->tls[k] = calloc(n_shards, sizeof(*p->tls[k]));
	if (!p->tls[k]) {
		fprintf(stderr, "ringer: reload refused: out of memory\n");
		return -1;
	}
	for (unsigned i = 0; i < n_shards; i++) {
		if (tls_ctx_new(&p->tls[k][i], &slots[k].cfg->tls, err, sizeof(err), warn,
				sizeof(warn))) {
			fprintf(stderr,
				"ringer: reload refused, the configuration in use stays: %s\n",
				err);
			return -1;
		}
	}
	return 0;
}

/* Matches next's listeners to slots by name; -1 after a message when one cannot be taken. */
static int plan_match(struct plan *p, char *why, size_t why_len)
{
	struct conf_set *next = p->next;

	for (unsigned j = 0; j < next->n; j++) {
		int k = slot_named(next->l[j].name);

		p->match[j] = k;
		if (k < 0) {
			p->n_add++;
			continue;
		}
		if (kept_change((unsigned)k, &next->l[j], why, why_len)) {
			fprintf(stderr,
				"ringer: reload refused, the configuration in use stays: %s: %s "
				"needs a restart, or a new listener name\n",
				next->path, why);
			return -1;
		}
	}
	for (unsigned k = 0; k < n_slots; k++) {
		bool named = false;

		for (unsigned j = 0; j < next->n && !named; j++)
			named = p->match[j] == (int)k;
		if (!slots[k].retired && !named) {
			p->drop[k] = true;
			p->n_drop++;
		}
	}
	if ((p->n_add || p->n_drop) && handover_on) {
		fprintf(stderr,
			"ringer: reload refused, the configuration in use stays: %s: listeners "
			"added or removed, and --handover hands over one listener (restart)\n",
			next->path);
		return -1;
	}
	if (n_slots + p->n_add > ENGINE_MAX_LISTENERS) {
		fprintf(stderr,
			"ringer: reload refused, the configuration in use stays: %s: %u listeners "
			"added, and a process serves at most %u over its life (restart)\n",
			next->path, p->n_add, ENGINE_MAX_LISTENERS);
		return -1;
	}
	if (p->n_add && n_kept >= MAX_KEPT) {
		fprintf(stderr,
			"ringer: reload refused, the configuration in use stays: %u reloads that "
			"added listeners: restart\n",
			MAX_KEPT);
		return -1;
	}
	return 0;
}

/* The listeners next adds: checked, prepared and bound on every shard; -1 after a message. */
static int plan_add(struct plan *p, struct shard *shards, unsigned n_shards)
{
	const char *what = "reload refused, the configuration in use stays: ";
	unsigned k = n_slots, added = 0;

	for (unsigned j = 0; j < p->next->n; j++) {
		struct conf_listener *l = &p->next->l[j];

		if (p->match[j] >= 0)
			continue;
		added++;
		if ((l->cfg.tls_on || l->cfg.tls_upstreams) && !had_tls) {
			fprintf(stderr,
				"ringer: %s%s:%u: listener %s: TLS on a listener a reload adds "
				"needs a "
				"restart when no listener had TLS at startup\n",
				what, l->file, l->line, l->name);
			return -1;
		}
		if (l->cfg.accept_proxy && !had_pp) {
			fprintf(stderr,
				"ringer: %s%s:%u: listener %s: accept-proxy on a listener a reload "
				"adds needs a restart when no listener had it at startup\n",
				what, l->file, l->line, l->name);
			return -1;
		}
		if (l->cfg.tls_on && listeners_check_tls(&l->cfg))
			return -1;
		if (l->cfg.tls_upstreams && listeners_check_upstream_tls(&l->cfg))
			return -1;
		if (prepare_one(l, k + added - 1, what)) {
			p->match[j] = -2; /* nothing to undo */
			return -1;
		}
	}
	p->opened = true;
	for (unsigned j = 0; j < p->next->n; j++) {
		if (p->match[j] >= 0)
			continue;
		for (unsigned i = 0; i < n_shards; i++)
			if (open_more(&shards[i], k, &p->next->l[j], i == 0))
				return -1;
		k++;
	}
	return 0;
}

int listeners_reload(struct shard *shards, unsigned n_shards)
{
	static struct plan plan;
	struct conf_set *next = calloc(1, sizeof(*next));
	char err[512], why[160];
	unsigned added = 0, ups = 0;
	int ret = -1;

	if (!next) {
		fprintf(stderr, "ringer: reload refused: out of memory\n");
		return -1;
	}
	if (conffile_load(kept[0]->path, next, err, sizeof(err))) {
		fprintf(stderr, "ringer: reload refused, the configuration in use stays: %s\n",
			err);
		free(next);
		return -1;
	}
	memset(&plan, 0, sizeof(plan));
	plan.next = next;
	if (next->n > sizeof(plan.match) / sizeof(plan.match[0])) {
		fprintf(stderr, "ringer: reload refused: %u listeners\n", next->n);
		goto out;
	}
	if (plan_match(&plan, why, sizeof(why)))
		goto out;
	for (unsigned j = 0; j < next->n; j++) {
		int k = plan.match[j];

		if (k < 0)
			continue;
		if (mode_has_upstreams(slots[k].cfg->mode) && slots[k].cfg->set &&
		    plan_upstreams(&plan, (unsigned)k, &next->l[j].cfg, shards, n_shards))
			goto out;
		if (slots[k].cfg->tls_on && plan_tls(&plan, (unsigned)k, n_shards))
			goto out;
		plan.timeouts[k] = &next->l[j].cfg;
	}
	if (plan.n_add && plan_add(&plan, shards, n_shards))
		goto out;

	/*
	 * Everything checked and bound: publish. Shards take upstream sets at their
	 * next accept; certificates, new listeners and removals at their next tick.
	 */
	for (unsigned k = 0; k < n_slots; k++) {
		if (plan.set[k]) {
			ups += plan.set[k]->n;
			__atomic_store_n(&slots[k].cfg->set, plan.set[k], __ATOMIC_RELEASE);
			plan.set[k] = NULL; /* freed at exit, through ->older */
			resolver_update(slots[k].cfg, k, plan.conf_up[k]->upstreams,
					plan.conf_up[k]->n_upstreams, plan.up[k], plan.n_up[k]);
		}
		for (unsigned i = 0; plan.tls[k] && i < n_shards; i++) {
			struct tls_ctx **slot =
				k ? &shards[i].more[k - 1].tls_next : &shards[i].tls_next;

			tls_ctx_free(__atomic_exchange_n(slot, plan.tls[k][i], __ATOMIC_ACQ_REL));
			plan.tls[k][i] = NULL;
		}
		if (plan.timeouts[k])
			take_timeouts(slots[k].cfg, plan.timeouts[k]);
		if (!plan.drop[k])
			continue;
		__atomic_store_n(&slots[k].retired, true, __ATOMIC_RELAXED);
		resolver_forget(slots[k].cfg);
		for (unsigned i = 0; i < n_shards; i++)
			__atomic_store_n(k ? &shards[i].more[k - 1].retire
					   : &shards[i].retire_first,
					 1, __ATOMIC_RELEASE);
		fprintf(stderr,
			"ringer: listener %s removed: no more accepts, its connections drain\n",
			slots[k].l->name);
	}
	for (unsigned j = 0; j < next->n; j++) {
		struct conf_listener *l = &next->l[j];

		if (plan.match[j] >= 0)
			continue;
		slots[n_slots] = (struct slot){l, &l->cfg, false};
		__atomic_store_n(&n_slots, n_slots + 1, __ATOMIC_RELEASE); /* the admin reads */
		added++;
		for (unsigned b = 0; b < l->n_binds; b++) {
			char addr_s[80];

			fprintf(stderr, "ringer: listener %s added: listening on %s, mode %s\n",
				l->name, net_addr_str(&l->binds[b], addr_s, sizeof(addr_s)),
				mode_name(l->cfg.mode));
		}
	}
	for (unsigned i = 0; added && i < n_shards; i++)
		__atomic_store_n(&shards[i].n_more_pub, n_slots - 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < n_shards; i++)
		__atomic_add_fetch(&shards[i].timeouts_gen, 1, __ATOMIC_RELEASE);
	fprintf(stderr,
		"ringer: reloaded %s: %u listener%s (%u added, %u removed), %u upstream slot%s\n",
		next->path, next->n, next->n == 1 ? "" : "s", added, plan.n_drop, ups,
		ups == 1 ? "" : "s");
	ret = 0;
	if (added) {
		kept[n_kept++] = next; /* its listeners serve: it stays */
		next = NULL;
		plan.next = NULL;
	}
out:
	plan_free(&plan, shards, n_shards);
	if (next) {
		conffile_free(next);
		free(next);
	}
	return ret;
}

/* A listener whose proxies write a session log to a file (not stdout). */
static bool logs_to_file(const struct config *cfg)
{
	return mode_has_upstreams(cfg->mode) && cfg->log_path && strcmp(cfg->log_path, "-") &&
	       cfg->log_fd >= 0;
}

void listeners_log_reopen_start(unsigned writers)
{
	unsigned any = 0;

	for (unsigned k = 0; k < n_slots; k++) {
		if (!logs_to_file(slots[k].cfg))
			continue;
		log_reopen_start(slots[k].cfg, writers);
		any++;
	}
	if (!any)
		fprintf(stderr, "ringer: SIGUSR1: no listener logs to a file (the stats dump is on "
				"SIGUSR2)\n");
}

bool listeners_log_reopen_poll(unsigned writers)
{
	bool waiting = false;

	for (unsigned k = 0; k < n_slots; k++)
		if (logs_to_file(slots[k].cfg))
			waiting |= log_reopen_poll(slots[k].cfg, writers);
	return waiting;
}

void listeners_log_reopen_end(void)
{
	for (unsigned k = 1; k < n_slots; k++)
		if (logs_to_file(slots[k].cfg))
			log_reopen_end(slots[k].cfg);
}

void listeners_free(struct shard *shards, unsigned n_shards)
{
	for (unsigned i = 0; i < n_shards; i++) {
		free(shards[i].more);
		shards[i].more = NULL;
		shards[i].n_more = 0;
	}
	for (unsigned k = 1; k < n_slots; k++) {
		struct upstream_set *set = (struct upstream_set *)slots[k].cfg->set;

		while (set) {
			struct upstream_set *older = set->older;

			free(set);
			set = older;
		}
		slots[k].cfg->set = NULL;
		if (slots[k].cfg->log_fd > STDOUT_FILENO)
			close(slots[k].cfg->log_fd);
	}
	/* The first file is main's; the ones reloads kept are ours. */
	for (unsigned i = 1; i < n_kept; i++) {
		conffile_free(kept[i]);
		free(kept[i]);
	}
	n_kept = n_slots = 0;
}
