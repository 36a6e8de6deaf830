/* SPDX-License-Identifier: MIT */
#ifndef RINGER_CONFIG_H
#define RINGER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

/*
 * Command-line configuration of the ringer server: a pure module, so the
 * tests call config_parse() with argument vectors and read the result.
 */
enum ringer_mode {
	MODE_ECHO,
	MODE_HTTP,
	MODE_PROXY,
};

#define CONFIG_MAX_UPSTREAMS 16

struct net_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

struct config {
	struct net_addr listen;
	enum ringer_mode mode;
	unsigned shards;       /* 0 until parsed: then online CPUs unless given */
	unsigned max_conns;    /* per shard */
	unsigned buf_size;     /* bytes per provided buffer */
	unsigned buf_count;    /* provided buffers per shard, a power of two */
	unsigned ring_entries; /* SQ entries; the CQ is 4x */
	unsigned drain_ms;     /* graceful stop: how long open connections may finish */
	unsigned idle_ms;      /* close connections idle this long; 0 = never */
	unsigned connect_ms;   /* proxy: upstream connect timeout */
	bool pin;	       /* pin shard threads to CPUs */
	bool quiet;	       /* no startup lines beyond the listening address */
	bool help;
	bool version;
	/* http */
	const char *body; /* NULL: default body */
	size_t body_size; /* with body_filler: bytes of filler */
	bool body_filler;
	/* proxy */
	struct net_addr upstreams[CONFIG_MAX_UPSTREAMS];
	unsigned n_upstreams;
	/* admin */
	struct net_addr admin;
	bool admin_set;
};

void config_defaults(struct config *cfg);

/*
 * Parses argv[1..argc-1] into cfg (which config_defaults() prepared).
 * Returns 0, or -EINVAL with a one-line message in err.
 */
int config_parse(struct config *cfg, int argc, char *const argv[], char *err, size_t err_len);

void config_usage(FILE *f, const char *prog);

/*
 * "127.0.0.1:80", "[::1]:80", "localhost:80", ":80" (all IPv4 addresses), "[::]:80".
 * Returns 0 or -EINVAL. Ports 0..65535.
 */
int net_addr_parse(const char *s, struct net_addr *a);
/* "127.0.0.1:80" / "[::1]:80" into buf. */
const char *net_addr_str(const struct net_addr *a, char *buf, size_t len);
uint16_t net_addr_port(const struct net_addr *a);

/* Strict unsigned parse with an optional k/m/g (1024-based) suffix when allow_suffix. */
int parse_uint(const char *s, uint64_t min, uint64_t max, bool allow_suffix, uint64_t *out);

const char *mode_name(enum ringer_mode m);

/*
 * The flag walker both binaries use: "--name value", "--name=value" and short
 * aliases ("-h"), looked up in a table. cli_next() returns the index of the
 * next flag in opts (its value in *val, NULL for a flag without one), -1 when
 * argv is used up, or -EINVAL with a one-line message in err.
 */
struct cli_opt {
	const char *name;	/* "--listen" */
	const char *short_name; /* "-h", or NULL */
	int id;
	bool has_arg;
};

int cli_next(const struct cli_opt *opts, size_t n_opts, int argc, char *const argv[], int *i,
	     const char **val, char *err, size_t err_len);
/* Formats a message into err and returns -EINVAL. */
int cli_fail(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
