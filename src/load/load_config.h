/* SPDX-License-Identifier: MIT */
#ifndef RINGER_LOAD_CONFIG_H
#define RINGER_LOAD_CONFIG_H

/*
 * Command-line configuration of ringer-load, the load generator. A pure
 * module like config.h: load_config_parse() takes an argument vector and
 * fills the struct, or says in one line what is wrong.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ringer/cli.h"
#include "ringer/net.h"
#include "ringer/tls.h"
#include "schedule.h"

#define LOAD_MAX_CPUS	  256
#define LOAD_MAX_THREADS  256
#define LOAD_MAX_PIPELINE 1024
#define LOAD_MAX_CONNS	  1048576
#define LOAD_MAX_TARGETS  64
#define LOAD_MAX_SOURCES  256
#define LOAD_MAX_PATH	  1024
#define LOAD_MAX_HEADERS  64
#define LOAD_STATUS_WORDS 10 /* --expect-status: one bit per status code 0..639 */
#define LOAD_MAX_HOST	  255

/*
 * A target given as a URL, http://HOST[:PORT][/PATH] or https://...: what
 * it sets (load_parse_url). The strings are copies, since argv holds the
 * URL whole.
 */
struct load_url {
	bool tls;			   /* https */
	char host[LOAD_MAX_HOST + 1];	   /* as written, without brackets: ::1, example.com */
	char authority[LOAD_MAX_HOST + 9]; /* host[:port] as written: the Host header */
	char addr[LOAD_MAX_HOST + 9];	   /* HOST:PORT to connect to, 80 or 443 by default */
	char path[LOAD_MAX_PATH + 1];	   /* "/" when the URL has none; the query kept */
};

enum load_mode {
	LOAD_ECHO,
	LOAD_HTTP,
};

struct load_config {
	struct net_addr target; /* the first of targets */
	const char *target_str;
	struct net_addr targets[LOAD_MAX_TARGETS]; /* connection i goes to targets[i % n] */
	unsigned n_targets;
	struct net_addr sources[LOAD_MAX_SOURCES]; /* connection i binds to sources[i % n] */
	unsigned n_sources;
	uint64_t connect_rate; /* new connections per second over all threads; 0: no limit */
	uint32_t active;       /* connections that send; the rest stay open and idle; 0: all */
	enum load_mode mode;
	uint32_t size;			       /* echo: message bytes */
	const char *path;		       /* http: request path */
	const char *host;		       /* http: Host header; NULL means the target */
	const char *method;		       /* http: request method (default GET) */
	const char *headers[LOAD_MAX_HEADERS]; /* http: --header "Name: value", in order */
	unsigned n_headers;
	const char *body;	   /* http: --body; NULL: no body */
	const char *body_file;	   /* http: --body-file */
	const char *requests_file; /* http: --requests-file, instead of method, path and body */
	uint64_t expect[LOAD_STATUS_WORDS]; /* --expect-status: the statuses that succeed */
	bool expect_set;		    /* else any 2xx succeeds */
	uint32_t connections;
	uint32_t threads;
	uint32_t pipeline; /* requests in flight per connection */
	uint64_t rate;	   /* open loop: the plan's first rate; 0 = closed loop */
	struct sched_seg plan[SCHED_MAX_SEGS]; /* open loop: --rate or --ramp */
	unsigned plan_segs;
	const char *rate_str; /* the plan as typed */
	uint64_t duration_ns; /* 0 = until --requests */
	uint64_t requests;    /* 0 = until --duration */
	uint64_t warmup_ns;
	uint64_t connect_timeout_ns;
	uint64_t timeout_ns; /* a connection with requests out and no progress this long */
	uint64_t churn;	     /* reconnect every churn requests; 0 = keep connections */
	bool no_reconnect;   /* a connection closed after it opened stays closed */
	int cpus[LOAD_MAX_CPUS];
	unsigned n_cpus;
	const char *hdr_out;  /* write the percentile distribution here too */
	uint64_t interval_ns; /* per-interval rows; 0 = none */
	bool print_intervals; /* --interval given: rows in the report, not only in --hdr-log */
	bool json_stream;     /* rows and the summary as JSON lines */
	const char *hdr_log;  /* HdrHistogram interval log */
	double find_pct;      /* --find-max: the percentile bounded; 0 = off */
	uint64_t find_bound_ns;
	bool json;
	bool help;
	/* A URL target (the only target then): it sets mode http, the path, Host and https. */
	bool has_url;
	struct load_url url;
	/* TLS (--tls, or https://): every thread builds its client context from tls_s. */
	bool tls;
	struct tls_client_settings tls_s;
	const char *sni;		  /* the name sent, verified with --cacert; NULL: none */
	char sni_host[LOAD_MAX_HOST + 1]; /* the default SNI: the target's host name */
};

void load_config_defaults(struct load_config *cfg);

/* Returns 0, or -EINVAL with a one-line message in err. */
int load_config_parse(struct load_config *cfg, int argc, char *const argv[], char *err,
		      size_t err_len);

void load_config_usage(FILE *f, const char *prog);

struct request_set;

/*
 * http: builds the requests to send (request.h) from the flags, reading
 * --body-file or --requests-file. Returns 0, or -EINVAL (a bad file: the
 * flag, file and line in err) or -ENOMEM with a line in err.
 */
int load_config_requests(const struct load_config *cfg, struct request_set *s, char *err,
			 size_t err_len);

/* Whether a response status counts as a success: --expect-status's, else any 2xx. */
static inline bool load_status_ok(const struct load_config *cfg, unsigned status)
{
	if (!cfg->expect_set)
		return status >= 200 && status <= 299;
	return status < 64 * LOAD_STATUS_WORDS && (cfg->expect[status / 64] >> (status % 64)) & 1;
}

/* "10", "10s", "250ms", "500us", "2m": nanoseconds. Returns 0 or -EINVAL. */
int load_parse_duration(const char *s, uint64_t *ns);

/*
 * A rate plan: "20000" (constant), "10k:30s,20k:30s" (steps),
 * "1k..100k:60s" (a linear ramp), or any list of such segments; k and m
 * are 1e3 and 1e6. Returns how many segments, or -EINVAL.
 */
int load_parse_plan(const char *s, struct sched_seg *segs, unsigned max);

/* "p99=5ms", "P99.9=250us": the percentile and the bound. Returns 0 or -EINVAL. */
int load_parse_bound(const char *s, double *pct, uint64_t *ns);

/* "1", "0-3", "0,2,4-5" into cpus; returns how many, or -EINVAL. */
int load_parse_cpus(const char *s, int *cpus, unsigned max);

/*
 * "https://example.com:8443/a?b=1", "http://[::1]/", "http://127.0.0.1":
 * the scheme, host, port (80 or 443 when absent) and path into u. No user
 * names, no spaces or control bytes; a fragment is dropped. Returns NULL,
 * or why the string is not such a URL.
 */
const char *load_parse_url(const char *s, struct load_url *u);

#endif
