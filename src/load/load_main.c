// SPDX-License-Identifier: MIT
/*
 * ringer-load: parse the flags, check the target answers at all, start one
 * thread per ring, print progress while they run, then merge their
 * histograms and counters into one report (text or JSON).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "load.h"
#include "ringer/hlog.h"

#define EXIT_USAGE    2
#define EXIT_MISMATCH 3

static struct load_shared shared;
/* http: what is sent, built once from the flags; every run (each --find-max step) borrows it. */
static struct request_set requests;
/* Outlives one run's shared state, for --find-max's steps. */
static atomic_bool interrupted;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&interrupted, true);
	atomic_store(&shared.stop, true);
}

/*
 * One blocking connect before anything starts, so an unreachable target is
 * a clear message and exit 1, not a run full of connect errors.
 */
static int probe_target(const struct net_addr *target, uint64_t timeout_ns)
{
	int fd = socket(target->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	int err = 0, r;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&target->ss, target->len) == 0)
		goto out_close;
	if (errno != EINPROGRESS) {
		err = -errno;
		goto out_close;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	r = poll(&pfd, 1, (int)(timeout_ns / 1000000));
	if (r == 0)
		err = -ETIMEDOUT;
	else if (r < 0)
		err = -errno;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &r, &len) == 0 && r)
		err = -r;
out_close:
	close(fd);
	return err;
}

static void raise_nofile(uint32_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= need + 64)
		return;
	rl.rlim_cur = need + 64 < rl.rlim_max ? need + 64 : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* One interval's row, as printed and as kept for the JSON report. */
struct row {
	double t_s; /* start, from the measured start */
	double dur_s;
	uint64_t requests;
	uint64_t errors;
	uint32_t conns;
	double target; /* open loop: the plan's requests/s over the interval */
	uint64_t p[4]; /* p50, p90, p99, p99.9 (ns) */
	uint64_t max;
	/* The setup of the connections whose first response came in the interval (load_phase). */
	uint64_t ph_n[LOAD_PHASES];
	uint64_t ph[LOAD_PHASES][5]; /* p50, p90, p99, p99.9, max (ns) */
	bool tls;		     /* the run speaks TLS: tls_handshake is one of them */
};

static const char *const phase_names[LOAD_PHASES] = {"connect", "tls_handshake", "first_response"};

/*
 * A thread's connections live in its ring's fixed-file table, which the
 * kernel caps at the descriptor limit (less the engine's headroom of 64).
 * Said before anything starts, with the way out.
 */
static int check_table_limit(const struct load_config *cfg)
{
	uint32_t per = (cfg->connections + cfg->threads - 1) / cfg->threads;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || per + 64 <= rl.rlim_cur)
		return 0;
	fprintf(stderr,
		"ringer-load: %u connections per thread (--connections %u over --threads %u) do "
		"not fit a thread's ring: its fixed-file table is capped by the descriptor limit "
		"(RLIMIT_NOFILE %llu, hard %llu), so at most %llu per thread: add --threads\n",
		per, cfg->connections, cfg->threads, (unsigned long long)rl.rlim_cur,
		(unsigned long long)rl.rlim_max,
		(unsigned long long)(rl.rlim_cur > 64 ? rl.rlim_cur - 64 : 0));
	return 1;
}

struct result {
	struct load_counters c;
	struct hist *hist;
	struct hist *closes; /* idle time (us) of connections the server closed; NULL: not kept */
	struct hist *phase;  /* LOAD_PHASES connection setup histograms; NULL: not kept */
	struct load_tls_kind
		kinds[LOAD_TLS_KINDS]; /* what TLS negotiated, thread 0's first first */
	unsigned n_kinds;
	char tls_error[160]; /* the first TLS handshake failure's reason */
	uint64_t tls_error_ns;
	double seconds;
	double user_s;
	double sys_s;
	double busy; /* the client's CPU time over its threads' wall time: 1.0 is every core full */
	double connect_s; /* the slowest thread's first connects */
	struct row *rows;
	size_t nrows;
	size_t cap;
	/* --hdr-log: the file, opened before the run; its header is written with the first row. */
	FILE *hlog_f;
	struct hlog hlog;
	bool hlog_started;
	int hlog_err; /* the first error writing it */
};

static const double row_pcts[] = {50.0, 90.0, 99.0, 99.9};

/* Above this, the client's own cores were the limit, not the server. */
#define CLIENT_BOUND 0.90

/*
 * The client-bound warning's reason: the client's own CPU, with what TLS
 * adds to it, and what verification costs, which grows with the server's
 * choice of key.
 */
static const char *client_bound_why(const struct load_config *cfg)
{
	if (!cfg->tls)
		return "";
	if (cfg->tls_s.verify)
		return "; TLS handshakes and encryption are the client's work too, and with "
		       "--cacert "
		       "every full handshake verifies the server's chain: with ECDSA, verifying a "
		       "signature costs the client more than making it costs the server";
	return "; TLS handshakes and encryption are the client's work too";
}

/* Adds one thread's TLS combinations to r's. */
static void add_kinds(struct result *r, const struct load_thread *t)
{
	for (unsigned i = 0; i < t->n_tls_kinds; i++) {
		const struct load_tls_kind *k = &t->tls_kinds[i];
		unsigned j;

		for (j = 0; j < r->n_kinds; j++)
			if (!strcmp(r->kinds[j].version, k->version) &&
			    !strcmp(r->kinds[j].cipher, k->cipher) &&
			    !strcmp(r->kinds[j].group, k->group) &&
			    !strcmp(r->kinds[j].alpn, k->alpn))
				break;
		if (j < r->n_kinds)
			r->kinds[j].count += k->count;
		else if (r->n_kinds < LOAD_TLS_KINDS)
			r->kinds[r->n_kinds++] = *k;
	}
	if (t->tls_error[0] && (!r->tls_error[0] || t->tls_error_ns < r->tls_error_ns)) {
		snprintf(r->tls_error, sizeof(r->tls_error), "%s", t->tls_error);
		r->tls_error_ns = t->tls_error_ns;
	}
}
static void add_counters(struct load_counters *a, const struct load_counters *b)
{
	const uint64_t *src = (const uint64_t *)b;
	uint64_t *dst = (uint64_t *)a;

	/* The struct is all uint64_t; summing it as an array keeps this in step with it. */
	for (size_t i = 0; i < sizeof(*a) / sizeof(uint64_t); i++)
		dst[i] += src[i];
}

static void progress(struct load_thread *th, unsigned n, uint64_t t0, uint64_t *last_req,
		     uint64_t *last_ns)
{
	uint64_t req = 0, err = 0, p99 = 0, now = load_now_ns();

	for (unsigned i = 0; i < n; i++) {
		uint64_t p = atomic_load_explicit(&th[i].pub_p99, memory_order_relaxed);

		req += atomic_load_explicit(&th[i].pub_requests, memory_order_relaxed);
		err += atomic_load_explicit(&th[i].pub_errors, memory_order_relaxed);
		/* Threads publish their own p99; the worst stands for all. */
		if (p > p99)
			p99 = p;
	}
	fprintf(stderr, "[%6.1fs] %10.0f req/s  %llu errors  p99 %.3f ms\n",
		(double)(now - t0) / 1e9,
		(double)(req - *last_req) * 1e9 / (double)(now - *last_ns + 1),
		(unsigned long long)err, (double)p99 / 1e6);
	*last_req = req;
	*last_ns = now;
}

/* What was sent: the method and path with any body and headers, or the requests file. */
static void print_what(const struct load_config *cfg, FILE *f)
{
	const struct request_set *rs = &shared.reqs;

	if (cfg->requests_file) {
		fprintf(f, " %u request%s from %s (%s format, %llu body bytes in all", rs->n,
			rs->n == 1 ? "" : "s", cfg->requests_file, rs->raw ? "raw" : "lines",
			(unsigned long long)rs->body_bytes);
	} else {
		fprintf(f, " %s %s", cfg->method, cfg->path);
		if (!cfg->body && !cfg->body_file && !cfg->n_headers)
			return;
		fputs(" (", f);
		if (cfg->body || cfg->body_file)
			fprintf(f, "body %llu bytes%s", (unsigned long long)rs->body_bytes,
				cfg->n_headers ? ", " : "");
	}
	if (cfg->n_headers)
		fprintf(f, "%s%u header%s", cfg->requests_file ? ", " : "", cfg->n_headers,
			cfg->n_headers == 1 ? "" : "s");
	fputc(')', f);
}

/* --expect-status's codes, comma-separated. */
static void print_expected(const struct load_config *cfg, FILE *f)
{
	const char *sep = "";

	for (unsigned s = 100; s < 600; s++) {
		if (load_status_ok(cfg, s)) {
			fprintf(f, "%s%u", sep, s);
			sep = ",";
		}
	}
}

static const char *status_error_name(const struct load_config *cfg, bool json)
{
	if (cfg->expect_set)
		return json ? "unexpected_status" : "unexpected status";
	return json ? "non_2xx" : "non-2xx";
}

static const double pcts[] = {50.0, 90.0, 99.0, 99.9, 99.99};
static const char *const pct_names[] = {"p50", "p90", "p99", "p99.9", "p99.99"};

static void print_phases(const struct load_config *cfg, const struct result *r, FILE *f);
static void print_tls(const struct load_counters *c, const struct result *r, FILE *f);

/* The connections' setup, apart from the requests' latency. */
static void print_phases(const struct load_config *cfg, const struct result *r, FILE *f)
{
	static const char *const label[LOAD_PHASES] = {"connect", "tls handshake",
						       "first response"};

	fprintf(f, "  setup (ms)    of the %llu connections that carried measured requests\n",
		(unsigned long long)r->phase[LOAD_PH_CONNECT].total);
	for (unsigned k = 0; k < LOAD_PHASES; k++) {
		const struct hist *h = &r->phase[k];

		if (k == LOAD_PH_TLS && !cfg->tls)
			continue;
		fprintf(f, "    %-15s", label[k]);
		for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
			fprintf(f, " %s %.3f,", pct_names[i],
				(double)hist_percentile(h, pcts[i]) / 1e6);
		fprintf(f, " max %.3f\n", h->total ? (double)h->max / 1e6 : 0.0);
	}
}

/* What TLS negotiated (the first combination, then any other), and how often it resumed. */
static void print_tls(const struct load_counters *c, const struct result *r, FILE *f)
{
	fputs("  tls          ", f);
	if (r->n_kinds) {
		const struct load_tls_kind *k = &r->kinds[0];

		fprintf(f, " %s %s %s%s%s,", k->version, k->cipher, k->group[0] ? k->group : "-",
			k->alpn[0] ? " ALPN " : "", k->alpn);
	}
	fprintf(f, " %llu handshakes, %llu resumed (%.1f %%)\n",
		(unsigned long long)c->tls_handshakes, (unsigned long long)c->tls_resumed,
		c->tls_handshakes ? 100.0 * (double)c->tls_resumed / (double)c->tls_handshakes
				  : 0.0);
	for (unsigned i = 1; i < r->n_kinds; i++) {
		const struct load_tls_kind *k = &r->kinds[i];

		fprintf(f, "                also %s %s %s%s%s: %llu handshakes\n", k->version,
			k->cipher, k->group[0] ? k->group : "-", k->alpn[0] ? " ALPN " : "",
			k->alpn, (unsigned long long)k->count);
	}
	if (r->n_kinds > 1)
		fprintf(f, "                (the first: %llu handshakes)\n",
			(unsigned long long)r->kinds[0].count);
}

static void print_text(const struct load_config *cfg, const struct result *r, FILE *f)
{
	const struct load_counters *c = &r->c;
	char addr[64];

	fprintf(f, "ringer-load: %s%s %s", cfg->mode == LOAD_HTTP ? "http" : "echo",
		cfg->tls ? " over TLS" : "", net_addr_str(&cfg->target, addr, sizeof(addr)));
	if (cfg->n_targets > 1)
		fprintf(f, " (and %u more targets)", cfg->n_targets - 1);
	if (cfg->mode == LOAD_HTTP)
		print_what(cfg, f);
	fprintf(f, ", %s loop", cfg->rate ? "open" : "closed");
	if (cfg->plan_segs == 1 && !cfg->plan[0].dur_ns)
		fprintf(f, " at %llu req/s", (unsigned long long)cfg->rate);
	else if (cfg->plan_segs)
		fprintf(f, " on the plan %s", cfg->rate_str);
	fprintf(f, ", pipeline %u, %u connections, %u threads\n", cfg->pipeline, cfg->connections,
		cfg->threads);
	fprintf(f, "  measured      %.3f s (warmup %.3f s)\n", r->seconds,
		(double)cfg->warmup_ns / 1e9);
	fprintf(f, "  requests      %llu (%.2f/s)\n", (unsigned long long)c->requests,
		(double)c->requests / r->seconds);
	fprintf(f, "  transfer      %.2f MB in (%.2f MB/s), %.2f MB out (%.2f MB/s)\n",
		(double)c->bytes_rx / 1e6, (double)c->bytes_rx / 1e6 / r->seconds,
		(double)c->bytes_tx / 1e6, (double)c->bytes_tx / 1e6 / r->seconds);
	fprintf(f, "  errors        %llu (connect %llu, ", (unsigned long long)load_errors(c),
		(unsigned long long)c->err_connect);
	if (cfg->tls)
		fprintf(f, "tls handshake %llu, ", (unsigned long long)c->err_tls);
	fprintf(f, "reset %llu, timeout %llu, mismatch %llu, %s %llu)\n",
		(unsigned long long)c->err_reset, (unsigned long long)c->err_timeout,
		(unsigned long long)c->err_mismatch, status_error_name(cfg, false),
		(unsigned long long)c->err_status);
	if (r->tls_error[0])
		fprintf(f, "  tls error     %s (the first)\n", r->tls_error);
	if (cfg->mode == LOAD_HTTP) {
		fprintf(f, "  status        1xx %llu, 2xx %llu, 3xx %llu, 4xx %llu, 5xx %llu",
			(unsigned long long)c->status[1], (unsigned long long)c->status[2],
			(unsigned long long)c->status[3], (unsigned long long)c->status[4],
			(unsigned long long)c->status[5]);
		if (cfg->expect_set) {
			fputs(" (expected: ", f);
			print_expected(cfg, f);
			fputc(')', f);
		}
		fputc('\n', f);
	}
	fprintf(f, "  connections   %llu opened, the first %u in %.3f s",
		(unsigned long long)c->connects, cfg->connections, r->connect_s);
	if (cfg->active)
		fprintf(f, ", %u of them active", cfg->active);
	fputc('\n', f);
	if (c->server_closes && r->closes)
		fprintf(f,
			"  server closes %llu idle connections, idle for (s) min %.3f, p50 %.3f, "
			"p99 %.3f, max %.3f\n",
			(unsigned long long)c->server_closes, (double)r->closes->min / 1e6,
			(double)hist_percentile(r->closes, 50.0) / 1e6,
			(double)hist_percentile(r->closes, 99.0) / 1e6,
			(double)r->closes->max / 1e6);
	fprintf(f, "  latency (ms) ");
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		fprintf(f, " %s %.3f,", pct_names[i],
			(double)hist_percentile(r->hist, pcts[i]) / 1e6);
	fprintf(f, " max %.3f\n", (double)r->hist->max / 1e6);
	if (r->phase)
		print_phases(cfg, r, f);
	if (cfg->tls)
		print_tls(c, r, f);
	fprintf(f,
		"  client cpu    user %.3f s, sys %.3f s, %.2f us/request, %.0f %% of %u core%s\n",
		r->user_s, r->sys_s,
		c->requests ? (r->user_s + r->sys_s) * 1e6 / (double)c->requests : 0.0,
		r->busy * 100, cfg->threads, cfg->threads == 1 ? "" : "s");
	if (r->busy > CLIENT_BOUND)
		fprintf(f,
			"  WARNING: the client's own CPU was at %.0f %%: these figures may show "
			"the client's limit, not the server's%s (add --threads, or another "
			"machine)\n",
			r->busy * 100, client_bound_why(cfg));
	fprintf(f, "\n  Detailed percentile spectrum (ms):\n");
	hist_print_percentiles(r->hist, f, 1e6, 5);
}

static void json_string(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", f);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

/* What was sent, as print_what() says it, and which statuses succeed. */
static void print_json_what(const struct load_config *cfg, FILE *f)
{
	const struct request_set *rs = &shared.reqs;

	if (cfg->requests_file) {
		fputs("\"requests_file\":", f);
		json_string(f, cfg->requests_file, strlen(cfg->requests_file));
		fprintf(f, ",\"request_count\":%u,\"requests_format\":\"%s\",", rs->n,
			rs->raw ? "raw" : "lines");
	} else {
		fputs("\"method\":", f);
		json_string(f, cfg->method, strlen(cfg->method));
		fputs(",\"path\":", f);
		json_string(f, cfg->path, strlen(cfg->path));
		fputc(',', f);
	}
	fprintf(f, "\"body_bytes\":%llu,\"headers\":%u,", (unsigned long long)rs->body_bytes,
		cfg->n_headers);
	if (cfg->expect_set) {
		fputs("\"expect_status\":[", f);
		print_expected(cfg, f);
		fputs("],", f);
	}
}

static void json_row(FILE *f, const struct row *w, const char *first);

/* "NAME_us":{"count","min","mean","stddev","p50",...,"max"}, and a comma. */
static void json_hist(FILE *f, const char *name, const struct hist *h)
{
	fprintf(f, "\"%s_us\":{\"count\":%llu,\"min\":%.3f,\"mean\":%.3f,\"stddev\":%.3f,", name,
		(unsigned long long)h->total, h->total ? (double)h->min / 1e3 : 0.0,
		hist_mean(h) / 1e3, hist_stddev(h) / 1e3);
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		fprintf(f, "\"%s\":%.3f,", pct_names[i], (double)hist_percentile(h, pcts[i]) / 1e3);
	fprintf(f, "\"max\":%.3f},", h->total ? (double)h->max / 1e3 : 0.0);
}

/* "tls":{...}: the first combination negotiated, the counts, every combination seen. */
static void json_tls(FILE *f, const struct load_counters *c, const struct result *r)
{
	const struct load_tls_kind *k = r->n_kinds ? &r->kinds[0] : NULL;

	fputs("\"tls\":{\"version\":", f);
	json_string(f, k ? k->version : "", k ? strlen(k->version) : 0);
	fputs(",\"cipher\":", f);
	json_string(f, k ? k->cipher : "", k ? strlen(k->cipher) : 0);
	fputs(",\"group\":", f);
	json_string(f, k ? k->group : "", k ? strlen(k->group) : 0);
	fputs(",\"alpn\":", f);
	json_string(f, k ? k->alpn : "", k ? strlen(k->alpn) : 0);
	fprintf(f, ",\"handshakes\":%llu,\"resumed\":%llu,\"resumed_ratio\":%.6f,",
		(unsigned long long)c->tls_handshakes, (unsigned long long)c->tls_resumed,
		c->tls_handshakes ? (double)c->tls_resumed / (double)c->tls_handshakes : 0.0);
	fputs("\"negotiated\":[", f);
	for (unsigned i = 0; i < r->n_kinds; i++) {
		k = &r->kinds[i];
		fputs(i ? ",{\"version\":" : "{\"version\":", f);
		json_string(f, k->version, strlen(k->version));
		fputs(",\"cipher\":", f);
		json_string(f, k->cipher, strlen(k->cipher));
		fputs(",\"group\":", f);
		json_string(f, k->group, strlen(k->group));
		fputs(",\"alpn\":", f);
		json_string(f, k->alpn, strlen(k->alpn));
		fprintf(f, ",\"count\":%llu}", (unsigned long long)k->count);
	}
	fputs("],\"first_error\":", f);
	if (r->tls_error[0])
		json_string(f, r->tls_error, strlen(r->tls_error));
	else
		fputs("null", f);
	fputs("},", f);
}

static void print_json(const struct load_config *cfg, const struct result *r, FILE *f)
{
	const struct load_counters *c = &r->c;
	char addr[64], *dist = NULL;
	size_t dist_len = 0;
	FILE *m;

	fputs(cfg->json_stream ? "{\"type\":\"summary\"," : "{", f);
	fprintf(f, "\"targets\":%u,", cfg->n_targets);
	fprintf(f, "\"mode\":\"%s\",\"target\":\"%s\",", cfg->mode == LOAD_HTTP ? "http" : "echo",
		net_addr_str(&cfg->target, addr, sizeof(addr)));
	if (cfg->has_url) {
		fputs("\"url\":", f);
		json_string(f, cfg->target_str, strlen(cfg->target_str));
		fputc(',', f);
	}
	if (cfg->mode == LOAD_HTTP) {
		print_json_what(cfg, f);
	} else {
		fprintf(f, "\"size\":%u,", cfg->size);
	}
	fprintf(f,
		"\"loop\":\"%s\",\"rate\":%llu,\"pipeline\":%u,\"connections\":%u,\"threads\":%u,"
		"\"churn\":%llu,\"warmup_s\":%.6f,\"duration_s\":%.6f,",
		cfg->rate ? "open" : "closed", (unsigned long long)cfg->rate, cfg->pipeline,
		cfg->connections, cfg->threads, (unsigned long long)cfg->churn,
		(double)cfg->warmup_ns / 1e9, r->seconds);
	fprintf(f,
		"\"requests\":%llu,\"requests_per_s\":%.3f,\"bytes_rx\":%llu,\"bytes_tx\":%llu,"
		"\"mb_per_s_rx\":%.6f,\"mb_per_s_tx\":%.6f,\"connects\":%llu,\"connect_s\":%.6f,"
		"\"active\":%u,",
		(unsigned long long)c->requests, (double)c->requests / r->seconds,
		(unsigned long long)c->bytes_rx, (unsigned long long)c->bytes_tx,
		(double)c->bytes_rx / 1e6 / r->seconds, (double)c->bytes_tx / 1e6 / r->seconds,
		(unsigned long long)c->connects, r->connect_s, cfg->active);
	fprintf(f,
		"\"errors\":{\"total\":%llu,\"connect\":%llu,\"tls_handshake\":%llu,\"reset\":%llu,"
		"\"timeout\":%llu,\"mismatch\":%llu,\"%s\":%llu},",
		(unsigned long long)load_errors(c), (unsigned long long)c->err_connect,
		(unsigned long long)c->err_tls, (unsigned long long)c->err_reset,
		(unsigned long long)c->err_timeout, (unsigned long long)c->err_mismatch,
		status_error_name(cfg, true), (unsigned long long)c->err_status);
	fprintf(f,
		"\"status\":{\"other\":%llu,\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,"
		"\"5xx\":%llu},",
		(unsigned long long)c->status[0], (unsigned long long)c->status[1],
		(unsigned long long)c->status[2], (unsigned long long)c->status[3],
		(unsigned long long)c->status[4], (unsigned long long)c->status[5]);
	json_hist(f, "latency", r->hist);
	for (unsigned k = 0; r->phase && k < LOAD_PHASES; k++)
		if (k != LOAD_PH_TLS || cfg->tls)
			json_hist(f, phase_names[k], &r->phase[k]);
	if (cfg->tls)
		json_tls(f, c, r);
	fprintf(f,
		"\"cpu\":{\"user_s\":%.6f,\"sys_s\":%.6f,\"us_per_request\":%.4f,\"busy\":%.4f,"
		"\"client_bound\":%s},",
		r->user_s, r->sys_s,
		c->requests ? (r->user_s + r->sys_s) * 1e6 / (double)c->requests : 0.0, r->busy,
		r->busy > CLIENT_BOUND ? "true" : "false");
	fprintf(f, "\"loops\":%llu,\"cqes\":%llu,", (unsigned long long)c->loops,
		(unsigned long long)c->cqes);
	fprintf(f, "\"server_closes\":{\"count\":%llu", (unsigned long long)c->server_closes);
	if (c->server_closes && r->closes)
		fprintf(f, ",\"idle_s\":{\"min\":%.6f,\"p50\":%.6f,\"p99\":%.6f,\"max\":%.6f}",
			(double)r->closes->min / 1e6,
			(double)hist_percentile(r->closes, 50.0) / 1e6,
			(double)hist_percentile(r->closes, 99.0) / 1e6,
			(double)r->closes->max / 1e6);
	fputs("},", f);
	if (cfg->plan_segs) {
		fputs("\"rate_plan\":", f);
		json_string(f, cfg->rate_str, strlen(cfg->rate_str));
		fputc(',', f);
	}
	if (cfg->interval_ns) {
		fprintf(f, "\"interval_s\":%.6f,\"intervals\":[", (double)cfg->interval_ns / 1e9);
		for (size_t i = 0; i < r->nrows; i++) {
			if (i)
				fputc(',', f);
			json_row(f, &r->rows[i], "");
		}
		fputs("],", f);
	}
	m = open_memstream(&dist, &dist_len);
	if (m) {
		hist_print_percentiles(r->hist, m, 1e6, 5);
		fclose(m);
	}
	fputs("\"hdr_percentiles_ms\":", f);
	json_string(f, dist ? dist : "", dist ? dist_len : 0);
	fputs("}\n", f);
	free(dist);
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/*
 * Rows show the connections' setup too when connections come and go in the
 * run (--churn) or cost a handshake (TLS): how many were set up, and p50/p99
 * of each phase.
 */
static bool row_phases(const struct load_config *cfg)
{
	return cfg->tls || cfg->churn;
}

static void print_row_head(const struct load_config *cfg, FILE *f)
{
	fprintf(f, "  %8s %10s %10s %7s %6s %9s %9s %9s %9s %9s", "time(s)", "requests", "req/s",
		"errors", "conns", "p50(ms)", "p90(ms)", "p99(ms)", "p99.9(ms)", "max(ms)");
	if (row_phases(cfg)) {
		fprintf(f, " %6s %9s %9s", "new", "conn-p50", "conn-p99");
		if (cfg->tls)
			fprintf(f, " %9s %9s", "tls-p50", "tls-p99");
		fprintf(f, " %9s %9s", "1st-p50", "1st-p99");
	}
	fputc('\n', f);
}

static void print_row(const struct load_config *cfg, FILE *f, const struct row *w)
{
	fprintf(f, "  %8.3f %10llu %10.1f %7llu %6u %9.3f %9.3f %9.3f %9.3f %9.3f",
		w->t_s + w->dur_s, (unsigned long long)w->requests,
		w->dur_s > 0 ? (double)w->requests / w->dur_s : 0.0, (unsigned long long)w->errors,
		w->conns, (double)w->p[0] / 1e6, (double)w->p[1] / 1e6, (double)w->p[2] / 1e6,
		(double)w->p[3] / 1e6, (double)w->max / 1e6);
	if (row_phases(cfg)) {
		fprintf(f, " %6llu", (unsigned long long)w->ph_n[LOAD_PH_CONNECT]);
		for (unsigned k = 0; k < LOAD_PHASES; k++)
			if (k != LOAD_PH_TLS || cfg->tls)
				fprintf(f, " %9.3f %9.3f", (double)w->ph[k][0] / 1e6,
					(double)w->ph[k][2] / 1e6);
	}
	fputc('\n', f);
}

/* One row as a JSON object; first: members that go before the row's own. */
static void json_row(FILE *f, const struct row *w, const char *first)
{
	static const char *const ph_pcts[] = {"p50", "p90", "p99", "p99.9", "max"};

	fprintf(f,
		"{%s\"t_s\":%.6f,\"duration_s\":%.6f,\"requests\":%llu,\"requests_per_s\":%.3f,"
		"\"errors\":%llu,\"connections\":%u,\"target_rate\":%.3f,\"latency_us\":{",
		first, w->t_s, w->dur_s, (unsigned long long)w->requests,
		w->dur_s > 0 ? (double)w->requests / w->dur_s : 0.0, (unsigned long long)w->errors,
		w->conns, w->target);
	for (size_t i = 0; i < 4; i++)
		fprintf(f, "\"%s\":%.3f,", pct_names[i], (double)w->p[i] / 1e3);
	fprintf(f, "\"max\":%.3f}", (double)w->max / 1e3);
	/* The phases kept (tls_handshake with TLS only), with how many connections each. */
	for (unsigned k = 0; k < LOAD_PHASES; k++) {
		if (k == LOAD_PH_TLS && !w->tls)
			continue;
		fprintf(f, ",\"%s_us\":{\"count\":%llu", phase_names[k],
			(unsigned long long)w->ph_n[k]);
		for (size_t i = 0; i < 5; i++)
			fprintf(f, ",\"%s\":%.3f", ph_pcts[i], (double)w->ph[k][i] / 1e3);
		fputc('}', f);
	}
	fputc('}', f);
}

/*
 * The interval log's header names the measured start on the wall clock:
 * the monotonic mstart, moved by how long ago it was.
 */
static void hlog_row(struct result *r, uint64_t mstart, const struct load_ival *iv,
		     const struct row *w)
{
	int ret = 0;

	if (!r->hlog_started) {
		struct timespec now;
		double ago = (double)(load_now_ns() - mstart) / 1e9;

		clock_gettime(CLOCK_REALTIME, &now);
		ret = hlog_open(&r->hlog, r->hlog_f,
				(double)now.tv_sec + (double)now.tv_nsec / 1e9 - ago);
		r->hlog_started = true;
	}
	if (!ret)
		ret = hlog_interval(&r->hlog, &iv->hist, w->t_s, w->dur_s, NULL);
	if (ret && !r->hlog_err)
		r->hlog_err = ret;
}

/* A taken interval becomes a row: printed, streamed, logged and kept for the report. */
static void add_row(const struct load_config *cfg, struct result *r, const struct load_ival *iv)
{
	double t0 = (double)iv->k * (double)cfg->interval_ns;
	uint64_t start = shared.start_ns, mstart = start + cfg->warmup_ns;
	uint64_t b = mstart + iv->k * cfg->interval_ns;
	struct row w;

	memset(&w, 0, sizeof(w));
	w.t_s = t0 / 1e9;
	w.dur_s = iv->end_ns > b ? (double)(iv->end_ns - b) / 1e9 : 0.0;
	w.requests = iv->c.requests;
	w.errors = load_errors(&iv->c);
	w.conns = iv->conns;
	if (cfg->plan_segs && w.dur_s > 0)
		w.target = (double)(sched_plan_count(&shared.plan, iv->end_ns - start) -
				    sched_plan_count(&shared.plan, b - start)) /
			   w.dur_s;
	for (size_t i = 0; i < 4; i++)
		w.p[i] = hist_percentile(&iv->hist, row_pcts[i]);
	w.max = iv->hist.total ? iv->hist.max : 0;
	w.tls = cfg->tls;
	for (unsigned k = 0; k < LOAD_PHASES; k++) {
		const struct hist *h = &iv->phase[k];

		w.ph_n[k] = h->total;
		for (size_t i = 0; i < 4; i++)
			w.ph[k][i] = hist_percentile(h, row_pcts[i]);
		w.ph[k][4] = h->total ? h->max : 0;
	}
	if (r->hlog_f && !r->hlog_err)
		hlog_row(r, mstart, iv, &w);
	if (cfg->print_intervals) {
		if (cfg->json_stream) {
			json_row(stdout, &w, "\"type\":\"interval\",");
			fputc('\n', stdout);
			fflush(stdout);
		} else if (!cfg->json) {
			if (!r->nrows)
				print_row_head(cfg, stdout);
			print_row(cfg, stdout, &w);
			fflush(stdout);
		}
	}
	if (r->nrows == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct row *rows = realloc(r->rows, cap * sizeof(*rows));

		if (!rows)
			return; /* the row is printed, not kept: the report lacks it */
		r->rows = rows;
		r->cap = cap;
	}
	r->rows[r->nrows++] = w;
}

/* Takes every interval that is complete, in order; *next is the first not yet taken. */
static void take_rows(const struct load_config *cfg, struct result *r, struct load_thread *th,
		      unsigned n, uint64_t *next, struct load_ival *scratch)
{
	while (load_ival_take(&shared, th, n, *next, scratch) == 1) {
		add_row(cfg, r, scratch);
		(*next)++;
	}
}

/*
 * One run: threads started, progress and interval rows while they run,
 * then their counters and histograms summed into r (which the caller
 * zeroed, with r->hist allocated).
 */
static int run_once(const struct load_config *cfg, struct result *r)
{
	struct load_thread *th = calloc(cfg->threads, sizeof(*th));
	struct load_ival *scratch = cfg->interval_ns ? malloc(sizeof(*scratch)) : NULL;
	uint64_t t0 = load_now_ns(), next = t0 + 1000000000ull, last_req = 0, last_ns = t0;
	uint64_t next_row = 0;
	bool tty = isatty(2) && !cfg->find_pct;
	struct rusage ru0, ru;
	int ret, status = 0;
	unsigned started = 0;

	if (!th || (cfg->interval_ns && !scratch)) {
		fprintf(stderr, "ringer-load: out of memory\n");
		status = 1;
		goto out_free;
	}
	ret = load_shared_init(&shared, cfg, &requests);
	if (ret) {
		fprintf(stderr, "ringer-load: setup: %s\n", strerror(-ret));
		status = 1;
		goto out_free;
	}
	if (atomic_load(&interrupted))
		atomic_store(&shared.stop, true);
	getrusage(RUSAGE_SELF, &ru0);
	hist_init(r->hist);
	if (r->closes)
		hist_init(r->closes);
	for (unsigned k = 0; r->phase && k < LOAD_PHASES; k++)
		hist_init(&r->phase[k]);
	for (unsigned i = 0; i < cfg->threads; i++) {
		uint32_t base = cfg->connections / cfg->threads,
			 rem = cfg->connections % cfg->threads;
		uint64_t qbase = cfg->requests / cfg->threads, qrem = cfg->requests % cfg->threads;

		th[i].sh = &shared;
		th[i].id = i;
		th[i].nconns = base + (i < rem);
		th[i].conn_first = base * i + (i < rem ? i : rem);
		th[i].quota = qbase + (i < qrem);
		th[i].cpu = cfg->n_cpus ? cfg->cpus[i % cfg->n_cpus] : -1;
		atomic_init(&th[i].ival_last, -1);
	}
	for (unsigned i = 0; i < cfg->threads; i++) {
		ret = load_thread_start(&th[i]);
		if (ret) {
			/* The barriers count every thread: without them all, nobody can start. */
			fprintf(stderr, "ringer-load: cannot start thread: %s\n", strerror(-ret));
			exit(1);
		}
		started++;
	}
	for (;;) {
		bool all_done = true;

		for (unsigned i = 0; i < started; i++)
			all_done &= atomic_load(&th[i].finished);
		if (cfg->interval_ns)
			take_rows(cfg, r, th, started, &next_row, scratch);
		if (all_done)
			break;
		usleep(20000);
		if (tty && load_now_ns() >= next) {
			progress(th, started, t0, &last_req, &last_ns);
			next += 1000000000ull;
		}
	}
	for (unsigned i = 0; i < started; i++) {
		uint64_t secs;

		pthread_join(th[i].tid, NULL);
		add_counters(&r->c, &th[i].c);
		hist_merge(r->hist, &th[i].hist);
		if (r->closes)
			hist_merge(r->closes, &th[i].closes);
		for (unsigned k = 0; r->phase && k < LOAD_PHASES; k++)
			hist_merge(&r->phase[k], &th[i].phase[k]);
		add_kinds(r, &th[i]);
		secs = th[i].measure_end_ns > th[i].measure_start_ns
			       ? th[i].measure_end_ns - th[i].measure_start_ns
			       : 0;
		if ((double)secs / 1e9 > r->seconds)
			r->seconds = (double)secs / 1e9;
		if ((double)th[i].connect_ns / 1e9 > r->connect_s)
			r->connect_s = (double)th[i].connect_ns / 1e9;
		if (th[i].error[0] && !status) {
			fprintf(stderr, "ringer-load: %s\n", th[i].error);
			status = 1;
		}
	}
	if (cfg->interval_ns)
		take_rows(cfg, r, th, started, &next_row, scratch);
	if (r->seconds <= 0)
		r->seconds = 1e-9;
	getrusage(RUSAGE_SELF, &ru);
	r->user_s = tv_s(ru.ru_utime) - tv_s(ru0.ru_utime);
	r->sys_s = tv_s(ru.ru_stime) - tv_s(ru0.ru_stime);
	{
		double wall = (double)(load_now_ns() - t0) / 1e9 * cfg->threads;

		r->busy = wall > 0 ? (r->user_s + r->sys_s) / wall : 0;
	}
	load_shared_exit(&shared);
out_free:
	free(scratch);
	free(th);
	return status;
}

static int write_hdr_out(const struct load_config *cfg, const struct result *r)
{
	FILE *f = fopen(cfg->hdr_out, "w");

	if (!f || hist_print_percentiles(r->hist, f, 1e6, 5) || fclose(f)) {
		fprintf(stderr, "ringer-load: cannot write %s: %s\n", cfg->hdr_out,
			strerror(errno));
		return 1;
	}
	return 0;
}

/* A run that took no interval still leaves a log with its header. */
static int close_hlog(const struct load_config *cfg, struct result *r)
{
	int ret = r->hlog_err;

	if (!r->hlog_started && !ret) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		ret = hlog_open(&r->hlog, r->hlog_f,
				(double)now.tv_sec + (double)now.tv_nsec / 1e9);
	}
	if (hlog_close(&r->hlog) && !ret)
		ret = -EIO;
	if (fclose(r->hlog_f) && !ret)
		ret = -errno;
	r->hlog_f = NULL;
	if (ret)
		fprintf(stderr, "ringer-load: cannot write %s: %s\n", cfg->hdr_log, strerror(-ret));
	return ret ? 1 : 0;
}

static int run(const struct load_config *cfg)
{
	struct result r;
	int status;

	memset(&r, 0, sizeof(r));
	/* One allocation: the latency histogram, the server closes' one, the setup phases'. */
	r.hist = malloc((2 + LOAD_PHASES) * sizeof(*r.hist));
	if (!r.hist) {
		fprintf(stderr, "ringer-load: out of memory\n");
		return 1;
	}
	r.closes = r.hist + 1;
	r.phase = r.hist + 2;
	if (cfg->hdr_log) {
		r.hlog_f = fopen(cfg->hdr_log, "w");
		if (!r.hlog_f) {
			fprintf(stderr, "ringer-load: cannot write %s: %s\n", cfg->hdr_log,
				strerror(errno));
			free(r.hist);
			return 1;
		}
	}
	status = run_once(cfg, &r);
	if (r.hlog_f && close_hlog(cfg, &r) && !status)
		status = 1;
	if (r.busy > CLIENT_BOUND && cfg->json)
		fprintf(stderr,
			"ringer-load: warning: the client's own CPU was at %.0f %%: the figures "
			"may show the client's limit, not the server's%s\n",
			r.busy * 100, client_bound_why(cfg));
	/* Said once, however many failed: the reason the first failed handshake gave. */
	if (r.tls_error[0])
		fprintf(stderr, "ringer-load: the first TLS handshake that failed: %s\n",
			r.tls_error);
	if (cfg->json)
		print_json(cfg, &r, stdout);
	else
		print_text(cfg, &r, stdout);
	if (cfg->hdr_out && write_hdr_out(cfg, &r) && !status)
		status = 1;
	if (r.c.err_mismatch) {
		fprintf(stderr, "ringer-load: %llu responses failed verification\n",
			(unsigned long long)r.c.err_mismatch);
		status = EXIT_MISMATCH;
	}
	free(r.rows);
	free(r.hist);
	return status;
}

/* ---- --find-max ---------------------------------------------------------------------------- */

struct step {
	uint64_t rate;
	double achieved;
	uint64_t value; /* the bounded percentile (ns) */
	uint64_t errors;
	bool held;
};

#define FIND_MAX_STEPS 24

/*
 * One open-loop run at rate: it holds when the percentile stays within the
 * bound, nothing failed, and the responses kept up with the rate (a server
 * that falls behind shows in latency too, this catches one that drops).
 */
static int find_step(const struct load_config *cfg, uint64_t rate, struct step *st)
{
	struct load_config c = *cfg;
	struct result r;
	int status;

	c.plan[0] = (struct sched_seg){rate, rate, 0};
	c.plan_segs = 1;
	c.rate = rate;
	memset(&r, 0, sizeof(r));
	r.hist = malloc(sizeof(*r.hist));
	if (!r.hist)
		return 1;
	status = run_once(&c, &r);
	st->rate = rate;
	st->achieved = (double)r.c.requests / r.seconds;
	st->value = hist_percentile(r.hist, cfg->find_pct);
	st->errors = load_errors(&r.c);
	st->held = !status && !st->errors && r.c.requests && st->value <= cfg->find_bound_ns &&
		   st->achieved >= 0.95 * (double)rate;
	if (!cfg->json)
		printf("  %12llu %12.1f %12.3f %8llu  %s\n", (unsigned long long)rate, st->achieved,
		       (double)st->value / 1e6, (unsigned long long)st->errors,
		       st->held ? "held" : "exceeded");
	fflush(stdout);
	if (r.c.err_mismatch)
		status = EXIT_MISMATCH;
	free(r.hist);
	return status;
}

/*
 * Doubles the rate from --rate until a step fails, then bisects between the
 * last rate that held and the first that did not, until they are within 5 %
 * of each other.
 */
static int find_max(const struct load_config *cfg)
{
	struct step steps[FIND_MAX_STEPS];
	uint64_t lo = 0, hi = 0, rate = cfg->rate;
	unsigned n = 0;
	int status = 0;
	char addr[64];

	if (!cfg->json) {
		printf("ringer-load: find the highest rate with p%g <= %.3f ms against %s %s "
		       "(%u connections, %.1f s per step after %.1f s warmup)\n",
		       cfg->find_pct, (double)cfg->find_bound_ns / 1e6,
		       cfg->mode == LOAD_HTTP ? "http" : "echo",
		       net_addr_str(&cfg->target, addr, sizeof(addr)), cfg->connections,
		       (double)cfg->duration_ns / 1e9, (double)cfg->warmup_ns / 1e9);
		printf("  %12s %12s %12s %8s\n", "rate", "achieved", "value(ms)", "errors");
	}
	while (n < FIND_MAX_STEPS && !atomic_load(&interrupted)) {
		status = find_step(cfg, rate, &steps[n]);
		if (status == EXIT_MISMATCH)
			break;
		if (steps[n++].held)
			lo = rate;
		else
			hi = rate;
		if (!hi)
			rate = rate * 2 > 100000000 ? 100000000 : rate * 2;
		else
			rate = lo + (hi - lo) / 2;
		if (hi && (hi - lo) * 20 <= hi)
			break;
		if (!hi && steps[n - 1].rate == 100000000)
			break;
	}
	if (cfg->json) {
		printf("{\"find_max\":{\"percentile\":%g,\"bound_us\":%.3f,\"max_rate\":%llu,"
		       "\"steps\":[",
		       cfg->find_pct, (double)cfg->find_bound_ns / 1e3, (unsigned long long)lo);
		for (unsigned i = 0; i < n; i++)
			printf("%s{\"rate\":%llu,\"achieved\":%.3f,\"value_us\":%.3f,\"errors\":%"
			       "llu,"
			       "\"held\":%s}",
			       i ? "," : "", (unsigned long long)steps[i].rate, steps[i].achieved,
			       (double)steps[i].value / 1e3, (unsigned long long)steps[i].errors,
			       steps[i].held ? "true" : "false");
		printf("]}}\n");
	} else if (lo) {
		printf("  highest rate with p%g <= %.3f ms: %llu req/s\n", cfg->find_pct,
		       (double)cfg->find_bound_ns / 1e6, (unsigned long long)lo);
	} else {
		printf("  no rate held: even %llu req/s exceeded p%g <= %.3f ms\n",
		       (unsigned long long)(hi ? hi : cfg->rate), cfg->find_pct,
		       (double)cfg->find_bound_ns / 1e6);
	}
	return status == EXIT_MISMATCH ? EXIT_MISMATCH : 0;
}

/*
 * The TLS files, checked before anything starts: one that cannot be read,
 * or that OpenSSL refuses (not PEM, a key that does not match), is a bad
 * flag, said in one line.
 */
static int check_tls_files(const struct load_config *cfg)
{
	const struct {
		const char *flag, *path;
	} files[] = {
		{"--cacert", cfg->tls_s.ca},
		{"--cert", cfg->tls_s.cert},
		{"--key", cfg->tls_s.key},
	};
	char err[512];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int fd;

		if (!files[i].path)
			continue;
		fd = open(files[i].path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "ringer-load: %s %s: %s\n", files[i].flag, files[i].path,
				strerror(errno));
			return -1;
		}
		close(fd);
	}
	if (tls_client_check(&cfg->tls_s, err, sizeof(err))) {
		fprintf(stderr, "ringer-load: %s\n", err);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct load_config cfg;
	struct sigaction sa;
	char err[256], addr[64];
	int ret;

	load_config_defaults(&cfg);
	if (load_config_parse(&cfg, argc, argv, err, sizeof(err))) {
		fprintf(stderr, "ringer-load: %s\n", err);
		return EXIT_USAGE;
	}
	if (cfg.help) {
		load_config_usage(stdout, "ringer-load");
		return 0;
	}
	if (cfg.tls && check_tls_files(&cfg))
		return EXIT_USAGE;
	/* The request files are part of the flags: a bad one is exit 2, before any connect. */
	request_set_init(&requests);
	if (cfg.mode == LOAD_HTTP) {
		ret = load_config_requests(&cfg, &requests, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "ringer-load: %s\n", err);
			return ret == -EINVAL ? EXIT_USAGE : 1;
		}
	}
	raise_nofile(cfg.connections);
	ret = check_table_limit(&cfg);
	if (ret)
		return ret;
	for (unsigned i = 0; i < cfg.n_targets; i++) {
		ret = probe_target(&cfg.targets[i], cfg.connect_timeout_ns);
		if (ret) {
			fprintf(stderr, "ringer-load: cannot connect to %s: %s\n",
				net_addr_str(&cfg.targets[i], addr, sizeof(addr)), strerror(-ret));
			request_set_free(&requests);
			return 1;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	ret = cfg.find_pct ? find_max(&cfg) : run(&cfg);
	request_set_free(&requests);
	return ret;
}
