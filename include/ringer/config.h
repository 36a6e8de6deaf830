/* SPDX-License-Identifier: MIT */
#ifndef RINGER_CONFIG_H
#define RINGER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "ringer/cli.h"
#include "ringer/net.h"

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

const char *mode_name(enum ringer_mode m);

#endif
