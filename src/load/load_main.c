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
#include <unistd.h>

#include "load.h"

#define EXIT_USAGE    2
#define EXIT_MISMATCH 3

static struct load_shared shared;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&shared.stop, true);
}

/*
 * One blocking connect before anything starts, so an unreachable target is
 * a clear message and exit 1, not a run full of connect errors.
 */
static int probe_target(const struct load_config *cfg)
{
	int fd = socket(cfg->target.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	int err = 0, r;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&cfg->target.ss, cfg->target.len) == 0)
		goto out_close;
	if (errno != EINPROGRESS) {
		err = -errno;
		goto out_close;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	r = poll(&pfd, 1, (int)(cfg->connect_timeout_ns / 1000000));
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

struct result {
	struct load_counters c;
	struct hist *hist;
	double seconds;
	double user_s;
	double sys_s;
	double busy; /* the client's CPU time over its threads' wall time: 1.0 is every core full */
};

/* Above this, the client's own cores were the limit, not the server. */
#define CLIENT_BOUND 0.90

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

static void print_text(const struct load_config *cfg, const struct result *r, FILE *f)
{
	const struct load_counters *c = &r->c;
	char addr[64];

	fprintf(f, "ringer-load: %s %s", cfg->mode == LOAD_HTTP ? "http" : "echo",
		net_addr_str(&cfg->target, addr, sizeof(addr)));
	if (cfg->mode == LOAD_HTTP)
		print_what(cfg, f);
	fprintf(f, ", %s loop", cfg->rate ? "open" : "closed");
	if (cfg->rate)
		fprintf(f, " at %llu req/s", (unsigned long long)cfg->rate);
	fprintf(f, ", pipeline %u, %u connections, %u threads\n", cfg->pipeline, cfg->connections,
		cfg->threads);
	fprintf(f, "  measured      %.3f s (warmup %.3f s)\n", r->seconds,
		(double)cfg->warmup_ns / 1e9);
	fprintf(f, "  requests      %llu (%.2f/s)\n", (unsigned long long)c->requests,
		(double)c->requests / r->seconds);
	fprintf(f, "  transfer      %.2f MB in (%.2f MB/s), %.2f MB out (%.2f MB/s)\n",
		(double)c->bytes_rx / 1e6, (double)c->bytes_rx / 1e6 / r->seconds,
		(double)c->bytes_tx / 1e6, (double)c->bytes_tx / 1e6 / r->seconds);
	fprintf(f,
		"  errors        %llu (connect %llu, reset %llu, timeout %llu, mismatch %llu, "
		"%s %llu)\n",
		(unsigned long long)load_errors(c), (unsigned long long)c->err_connect,
		(unsigned long long)c->err_reset, (unsigned long long)c->err_timeout,
		(unsigned long long)c->err_mismatch, status_error_name(cfg, false),
		(unsigned long long)c->err_status);
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
	fprintf(f, "  connections   %llu opened\n", (unsigned long long)c->connects);
	fprintf(f, "  latency (ms) ");
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		fprintf(f, " %s %.3f,", pct_names[i],
			(double)hist_percentile(r->hist, pcts[i]) / 1e6);
	fprintf(f, " max %.3f\n", (double)r->hist->max / 1e6);
	fprintf(f,
		"  client cpu    user %.3f s, sys %.3f s, %.2f us/request, %.0f %% of %u core%s\n",
		r->user_s, r->sys_s,
		c->requests ? (r->user_s + r->sys_s) * 1e6 / (double)c->requests : 0.0,
		r->busy * 100, cfg->threads, cfg->threads == 1 ? "" : "s");
	if (r->busy > CLIENT_BOUND)
		fprintf(f,
			"  WARNING: the client's own CPU was at %.0f %%: these figures may show "
			"the "
			"client's limit, not the server's (add --threads, or another machine)\n",
			r->busy * 100);
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

static void print_json(const struct load_config *cfg, const struct result *r, FILE *f)
{
	const struct load_counters *c = &r->c;
	char addr[64], *dist = NULL;
	size_t dist_len = 0;
	FILE *m;

	fprintf(f, "{\"mode\":\"%s\",\"target\":\"%s\",", cfg->mode == LOAD_HTTP ? "http" : "echo",
		net_addr_str(&cfg->target, addr, sizeof(addr)));
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
		"\"mb_per_s_rx\":%.6f,\"mb_per_s_tx\":%.6f,\"connects\":%llu,",
		(unsigned long long)c->requests, (double)c->requests / r->seconds,
		(unsigned long long)c->bytes_rx, (unsigned long long)c->bytes_tx,
		(double)c->bytes_rx / 1e6 / r->seconds, (double)c->bytes_tx / 1e6 / r->seconds,
		(unsigned long long)c->connects);
	fprintf(f,
		"\"errors\":{\"total\":%llu,\"connect\":%llu,\"reset\":%llu,\"timeout\":%llu,"
		"\"mismatch\":%llu,\"%s\":%llu},",
		(unsigned long long)load_errors(c), (unsigned long long)c->err_connect,
		(unsigned long long)c->err_reset, (unsigned long long)c->err_timeout,
		(unsigned long long)c->err_mismatch, status_error_name(cfg, true),
		(unsigned long long)c->err_status);
	fprintf(f,
		"\"status\":{\"other\":%llu,\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,"
		"\"5xx\":%llu},",
		(unsigned long long)c->status[0], (unsigned long long)c->status[1],
		(unsigned long long)c->status[2], (unsigned long long)c->status[3],
		(unsigned long long)c->status[4], (unsigned long long)c->status[5]);
	fprintf(f, "\"latency_us\":{\"count\":%llu,\"min\":%.3f,\"mean\":%.3f,\"stddev\":%.3f,",
		(unsigned long long)r->hist->total,
		r->hist->total ? (double)r->hist->min / 1e3 : 0.0, hist_mean(r->hist) / 1e3,
		hist_stddev(r->hist) / 1e3);
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
		fprintf(f, "\"%s\":%.3f,", pct_names[i],
			(double)hist_percentile(r->hist, pcts[i]) / 1e3);
	fprintf(f, "\"max\":%.3f},", (double)r->hist->max / 1e3);
	fprintf(f,
		"\"cpu\":{\"user_s\":%.6f,\"sys_s\":%.6f,\"us_per_request\":%.4f,\"busy\":%.4f,"
		"\"client_bound\":%s},",
		r->user_s, r->sys_s,
		c->requests ? (r->user_s + r->sys_s) * 1e6 / (double)c->requests : 0.0, r->busy,
		r->busy > CLIENT_BOUND ? "true" : "false");
	fprintf(f, "\"loops\":%llu,\"cqes\":%llu,", (unsigned long long)c->loops,
		(unsigned long long)c->cqes);
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

static int run(const struct load_config *cfg)
{
	struct load_thread *th = calloc(cfg->threads, sizeof(*th));
	uint64_t t0 = load_now_ns(), next = t0 + 1000000000ull, last_req = 0, last_ns = t0;
	bool tty = isatty(2);
	struct result r;
	struct rusage ru;
	int ret, status = 0;
	unsigned started = 0;

	memset(&r, 0, sizeof(r));
	r.hist = malloc(sizeof(*r.hist));
	if (!th || !r.hist) {
		fprintf(stderr, "ringer-load: out of memory\n");
		status = 1;
		goto out_free;
	}
	hist_init(r.hist);
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
		add_counters(&r.c, &th[i].c);
		hist_merge(r.hist, &th[i].hist);
		secs = th[i].measure_end_ns > th[i].measure_start_ns
			       ? th[i].measure_end_ns - th[i].measure_start_ns
			       : 0;
		if ((double)secs / 1e9 > r.seconds)
			r.seconds = (double)secs / 1e9;
		if (th[i].error[0] && !status) {
			fprintf(stderr, "ringer-load: %s\n", th[i].error);
			status = 1;
		}
	}
	if (r.seconds <= 0)
		r.seconds = 1e-9;
	getrusage(RUSAGE_SELF, &ru);
	r.user_s = tv_s(ru.ru_utime);
	r.sys_s = tv_s(ru.ru_stime);
	{
		double wall = (double)(load_now_ns() - t0) / 1e9 * cfg->threads;

		r.busy = wall > 0 ? (r.user_s + r.sys_s) / wall : 0;
	}
	if (r.busy > CLIENT_BOUND && cfg->json)
		fprintf(stderr,
			"ringer-load: warning: the client's own CPU was at %.0f %%: the figures "
			"may "
			"show the client's limit, not the server's\n",
			r.busy * 100);
	if (cfg->json)
		print_json(cfg, &r, stdout);
	else
		print_text(cfg, &r, stdout);
	if (cfg->hdr_out) {
		FILE *f = fopen(cfg->hdr_out, "w");

		if (!f || hist_print_percentiles(r.hist, f, 1e6, 5) || fclose(f)) {
			fprintf(stderr, "ringer-load: cannot write %s: %s\n", cfg->hdr_out,
				strerror(errno));
			status = status ? status : 1;
		}
	}
	if (r.c.err_mismatch) {
		fprintf(stderr, "ringer-load: %llu responses failed verification\n",
			(unsigned long long)r.c.err_mismatch);
		status = EXIT_MISMATCH;
	}
out_free:
	free(r.hist);
	free(th);
	return status;
}

int main(int argc, char **argv)
{
	struct load_config cfg;
	struct request_set reqs;
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
	/* The request files are part of the flags: a bad one is exit 2, before any connect. */
	request_set_init(&reqs);
	if (cfg.mode == LOAD_HTTP) {
		ret = load_config_requests(&cfg, &reqs, err, sizeof(err));
		if (ret) {
			fprintf(stderr, "ringer-load: %s\n", err);
			return ret == -EINVAL ? EXIT_USAGE : 1;
		}
	}
	raise_nofile(cfg.connections);
	ret = probe_target(&cfg);
	if (ret) {
		fprintf(stderr, "ringer-load: cannot connect to %s: %s\n",
			net_addr_str(&cfg.target, addr, sizeof(addr)), strerror(-ret));
		request_set_free(&reqs);
		return 1;
	}
	ret = load_shared_init(&shared, &cfg, &reqs);
	if (ret) {
		fprintf(stderr, "ringer-load: setup: %s\n", strerror(-ret));
		return 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	ret = run(&cfg);
	load_shared_exit(&shared);
	return ret;
}
