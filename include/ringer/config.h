/* SPDX-License-Identifier: MIT */
#ifndef RINGER_CONFIG_H
#define RINGER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "ringer/cidr.h"
#include "ringer/cli.h"
#include "ringer/net.h"
#include "ringer/tls.h"

/*
 * Command-line configuration of the ringer server: a pure module, so the
 * tests call config_parse() with argument vectors and read the result.
 */
enum ringer_mode {
	MODE_ECHO,
	MODE_HTTP,
	MODE_PROXY,
	MODE_HTTP_PROXY, /* an HTTP/1.1 reverse proxy: routes, pooled upstream connections */
};

/* True for the modes that relay to --upstream servers (proxy, http-proxy). */
static inline bool mode_has_upstreams(int m)
{
	return m == MODE_PROXY || m == MODE_HTTP_PROXY;
}

#define CONFIG_MAX_UPSTREAMS 64

/* Networks in --admin-allow, at most. */
#define CONFIG_MAX_ADMIN_ALLOW 32

enum balance_mode {
	BALANCE_ROUNDROBIN, /* weighted, smooth */
	BALANCE_LEASTCONN,  /* fewest active sessions per weight */
	BALANCE_SOURCE,	    /* consistent hash of the client address */
};

struct config_upstream {
	struct net_addr addr;
	unsigned weight;  /* 1..256 */
	unsigned maxconn; /* sessions at once over all shards; 0: no limit */
	char name[96];	  /* as written on the command line, for stats and logs */
	bool tls;	  /* ",tls": ringer speaks TLS to it */
	bool no_verify;	  /* ",verify=none": its certificate is not checked */
	bool resolve;	  /* ",resolve": its name looked up again and again (resolver.c) */
	char sni[96];	  /* ",sni=NAME"; empty: the host as written, unless an address */
	char group[32];	  /* http-proxy: ",group=NAME" / --upstream-group; empty: the default */
};

/* http-proxy: --route [HOST][/PATH-PREFIX]=GROUP */
#define CONFIG_MAX_ROUTES 64

struct config_route {
	char host[256];	  /* empty: any host; "*.example.com": that suffix; no port */
	char prefix[512]; /* empty: any path; else starts with '/' */
	char group[32];	  /* an upstream group's name; empty: the default group */
};

/* http-proxy: which headers say who the client is (--forwarded) */
enum forwarded_mode {
	FORWARDED_X,	   /* X-Forwarded-For (appended), X-Forwarded-Proto, X-Forwarded-Host */
	FORWARDED_RFC7239, /* Forwarded: for=...;proto=...;host=... (appended) */
	FORWARDED_NONE,	   /* neither */
};

/*
 * The upstreams in use, replaced as a whole by a reload (SIGHUP with
 * --upstreams-file). Slot i keeps one upstream for the life of the process:
 * a reload keeps the slots of the upstreams it keeps (their counters and
 * health go on), retires those it drops (no new sessions; existing ones
 * continue) and gives new ones new slots. Sets are never freed: a shard may
 * still read an older one.
 */
struct upstream_set {
	unsigned n;		    /* slots used, enabled or retired */
	unsigned gen;		    /* bumped by each reload */
	struct upstream_set *older; /* the set this one replaced: freed only at exit */
	struct config_upstream up[CONFIG_MAX_UPSTREAMS];
	bool enabled[CONFIG_MAX_UPSTREAMS];
};

struct config {
	struct net_addr listen;
	enum ringer_mode mode;
	unsigned shards;	  /* 0 until parsed: then online CPUs unless given */
	unsigned max_conns;	  /* per shard */
	unsigned buf_size;	  /* bytes per provided buffer */
	unsigned buf_count;	  /* provided buffers per shard, a power of two */
	unsigned ring_entries;	  /* SQ entries; the CQ is 4x */
	unsigned drain_ms;	  /* graceful stop: how long open connections may finish */
	unsigned idle_ms;	  /* close connections idle this long; 0 = never */
	unsigned send_ms;	  /* reset connections whose send is stalled this long; 0 = never */
	unsigned connect_ms;	  /* proxy: upstream connect timeout */
	unsigned connect_retries; /* proxy: further upstreams tried after a failed connect */
	unsigned half_close_ms;	  /* proxy: a pair with one direction finished; 0 = no limit */
	unsigned fail_threshold;  /* proxy: consecutive connect failures that mark one down */
	unsigned down_ms;	  /* proxy: how long an upstream stays marked down */
	const char *log_path;	  /* proxy: --log FILE or "-" (stdout); NULL: no session log */
	int log_fd;		  /* ... opened by main; SIGUSR1 replaces it (atomic) */
	int *log_behind;	  /* ... shards still on the one before (atomic; notify.c) */
	unsigned queue_ms;	  /* proxy: how long a client waits for a full upstream's slot */
	bool check;		  /* proxy: active health checks (a TCP connect) */
	unsigned check_ms;	  /* ... every this often */
	unsigned resolve_ms;	  /* proxy: how often resolve upstreams are looked up */
	int *resolve_kick;	  /* ... set by a shard after a failed connect to one (atomic) */
	const char *listener_name; /* a configuration file's listener: its name, in its log lines */
	unsigned check_fall;	   /* ... this many failures in a row mark an upstream down */
	unsigned check_rise;	   /* ... and this many successes up again */
	enum balance_mode balance;
	bool pin;	    /* pin shard threads to CPUs */
	bool recv_bundle;   /* recv bundles (kernel 6.10+): several buffers per completion */
	unsigned ka_idle_s; /* TCP keepalive on accepted connections; 0 = off */
	unsigned ka_intvl_s;
	unsigned ka_cnt;
	/*
	 * TCP_USER_TIMEOUT on accepted and upstream sockets: data unacknowledged
	 * this long resets the connection (a black-holed path); 0 = the kernel's
	 * retransmissions (about 15 minutes). Unless set, the keepalive's span.
	 */
	unsigned user_timeout_ms;
	bool user_timeout_set;
	bool quiet;		   /* no startup lines beyond the listening address */
	unsigned stats_interval_s; /* a line of figures on stderr this often; 0: never */
	bool accept_proxy;	   /* accepted connections start with a PROXY protocol header */
	unsigned send_proxy;	   /* proxy: 0, or the PROXY protocol version sent upstream */
	bool help;
	bool version;
	/* -c FILE, -t, -T: the configuration file (src/server/conffile.h) */
	const char *conf_path;
	bool conf_test;
	bool conf_print;
	/* http */
	const char *body;   /* NULL: default body */
	size_t body_size;   /* with body_filler: bytes of filler */
	unsigned header_ms; /* a request's header section must arrive within this; 0 = no limit */
	unsigned body_ms;   /* a request body's first window (and its most slack); 0 = no limit */
	unsigned body_rate; /* ... extended by a second per this many bytes received */
	bool body_filler;
	/*
	 * --methods: bit i allows the i-th of GET HEAD POST PUT DELETE PATCH OPTIONS
	 * (enum http_method's order); 0: any method, unknown ones included.
	 */
	unsigned methods;
	bool echo_body; /* --echo-body: a request's body is its response's body */
	/* proxy */
	struct config_upstream upstreams[CONFIG_MAX_UPSTREAMS];
	unsigned n_upstreams;
	const char *upstreams_path;	/* --upstreams-file: re-read on SIGHUP */
	const struct upstream_set *set; /* the current set (atomic pointer: main writes it) */
	/* http-proxy */
	struct config_route routes[CONFIG_MAX_ROUTES];
	unsigned n_routes;
	unsigned upstream_ms;	/* --upstream-timeout: response head after the request, ms */
	uint64_t max_body;	/* --max-body: request body bytes at most (413); 0: no limit */
	const char *check_http; /* --check-http "METHOD PATH": active checks speak HTTP */
	unsigned pool_size;    /* --pool-size: idle upstream connections kept per upstream, shard */
	unsigned pool_idle_ms; /* --pool-idle-timeout: an idle pooled connection closes after */
	enum forwarded_mode forwarded; /* --forwarded */
	/* admin */
	struct net_addr admin;
	bool admin_set;
	bool admin_tls; /* the admin port speaks TLS with the --tls-cert certificates */
	/* --admin-allow: clients served everything (others: /ready); none given: loopback */
	struct cidr admin_allow[CONFIG_MAX_ADMIN_ALLOW];
	unsigned n_admin_allow;
	/* zero-downtime restart: the Unix socket an older ringer hands its listeners over on */
	const char *handover_path; /* NULL: no handover */
	/* TLS on accepted connections: on once a --tls-cert is given */
	struct tls_settings tls;
	bool tls_on;
	/* TLS to upstreams (",tls" on an --upstream): verification and a client certificate */
	const char *upstream_ca; /* NULL: the system's store */
	const char *upstream_cert;
	const char *upstream_key;
	bool tls_upstreams; /* some upstream at startup has ,tls */
	/* least privilege (src/server/privs.c) */
	const char *user;      /* --user NAME: switched to once the listeners are bound */
	bool no_ring_restrict; /* --no-ring-restrict: rings take any opcode (debugging) */
};

void config_defaults(struct config *cfg);

/*
 * Parses argv[1..argc-1] into cfg (which config_defaults() prepared).
 * Returns 0, or -EINVAL with a one-line message in err.
 */
int config_parse(struct config *cfg, int argc, char *const argv[], char *err, size_t err_len);

void config_usage(FILE *f, const char *prog);
/* The flags config_parse() knows, in its table's order (the configuration file's directives). */
const struct cli_opt *config_options(size_t *n);

/* Where -t and -T look without -c (an installed ringer's file). */
#ifndef RINGER_CONF_DEFAULT
#define RINGER_CONF_DEFAULT "/etc/ringer/ringer.conf"
#endif

/*
 * Reads an --upstreams-file: one HOST:PORT[,weight=N][,maxconn=N] per line
 * (every --upstream option, group=NAME included),
 * '#' comments and blank lines skipped. Returns how many (at least one), or
 * -EINVAL with "FILE:LINE: why" in err.
 */
int config_read_upstreams(const char *path, struct config_upstream *out, unsigned max, char *err,
			  size_t err_len);
/* The set with cfg's upstreams, every one enabled. */
void config_initial_set(const struct config *cfg, struct upstream_set *set);
/*
 * The set after a reload to the n upstreams in next (old: the set in use;
 * active[i]: sessions on slot i now). Returns 0, or -ENOSPC when the slots
 * (new ones plus retired ones still carrying sessions) would exceed the limit.
 */
int config_reload_set(const struct upstream_set *old, const struct config_upstream *next,
		      unsigned n, const int64_t *active, struct upstream_set *out);
/*
 * The n upstreams (the command line's, or an --upstreams-file's on a reload)
 * against cfg's mode and routes: group= only in http-proxy mode, and every
 * --route's group has an upstream. Returns 0, or -EINVAL with why in err.
 */
int config_check_groups(const struct config *cfg, const struct config_upstream *up, unsigned n,
			char *err, size_t err_len);

const char *mode_name(enum ringer_mode m);
const char *balance_name(enum balance_mode b);

#endif
