/* SPDX-License-Identifier: MIT */
#ifndef RINGER_LISTENERS_H
#define RINGER_LISTENERS_H

/*
 * Several listeners in one process (a configuration file's): every shard
 * serves every listener's addresses on its own ring, each listener with its
 * own mode, settings and counters (engine.h, "several listeners"). Listener
 * 0 is what main.c has always run (its cfg, its first address: shard.h's
 * cfg and listen_fd); this file adds the rest: their checks before the
 * shards start, each shard's sockets for them, their lines on stdout, their
 * counters, and what a SIGHUP changes: listeners added (bound and served),
 * removed (no more accepts; their connections drain), upstreams and
 * certificates in place.
 *
 * The listeners in use are slots, numbered as the engines number them
 * (slot k is engine listener k, shard.h's more[k - 1] for k > 0); a slot is
 * never reused, so a process serves at most ENGINE_MAX_LISTENERS over its
 * life. Main's thread only. Without a configuration file (flags only),
 * conf is NULL and all of this does nothing.
 */
#include <stdbool.h>
#include <stdio.h>

#include "conffile.h"
#include "ringer/config.h"
#include "ringer/mode.h"
#include "ringer/shard.h"

/* The mode a configuration names, or NULL when this build lacks it. */
const struct mode_ops *listeners_mode(enum ringer_mode m);

/*
 * The TLS settings of a listener (cfg->tls_on), checked before any shard
 * builds contexts from them: an unreadable file, a key that does not match,
 * an unknown cipher are one line on stderr. The session-ticket keys are
 * made here, once, so every shard shares them. Returns 0 or -1.
 */
int listeners_check_tls(struct config *cfg);
/* ... and the settings its shards' contexts for tls upstreams are made from. */
int listeners_check_upstream_tls(const struct config *cfg);

/*
 * Before any socket is opened: each listener beyond the first is checked
 * as main checks the first (its mode, session log, first upstream set), and
 * every address beyond listener 0's first must be free (or inherited from
 * systemd). handover: --handover is set, which hands over one listener on
 * one address. Returns 0, or -1 after one line on stderr.
 */
int listeners_prepare(struct conf_set *conf, bool handover);

/*
 * Shard s's part: its array of further listeners (room for those a reload
 * adds), a socket for each of their addresses and for listener 0's further
 * addresses. first: the first shard, whose binds to port 0 pick the port
 * the others then join. cfg0 is main's copy of listener 0's configuration.
 * Returns 0, or -1 after one line on stderr.
 */
int listeners_open(struct conf_set *conf, struct config *cfg0, struct shard *s, bool first);

/* "listening on ADDR (listener NAME, mode M)" for every address but listener 0's first. */
void listeners_print(FILE *f);

/*
 * With a configuration file: each listener's counters over every shard,
 * and each proxy listener's upstreams. Returns false (nothing printed)
 * without one.
 */
bool listeners_print_stats(FILE *f, const struct shard *shards, unsigned n_shards);

/*
 * The resolver thread found other addresses for listener k's names (cfg;
 * resolver_collect()'s publish): the new set published as a reload does.
 * arg: the shards, for the sessions each upstream has now.
 */
struct listeners_shards {
	struct shard *shards;
	unsigned n;
};
/*
 * The set that replaces cfg's (listener k's) with the n servers up, slots
 * kept for the upstreams that stay (their sessions now, from the shards'
 * counters); NULL with *why when it cannot be made. Main's thread.
 */
struct upstream_set *listeners_next_set(const struct config *cfg, unsigned k,
					const struct config_upstream *up, unsigned n,
					const struct shard *shards, unsigned n_shards,
					const char **why);
void listeners_publish(void *arg, struct config *cfg, unsigned k, const struct config_upstream *up,
		       unsigned n);

/*
 * /metrics with a configuration file: each listener's counters, labelled
 * listener="NAME",mode="MODE", and each proxy listener's upstreams labelled
 * listener and upstream. Returns bytes written, -ENOSPC when len is too
 * small, 0 without a file. The admin's thread (a reload only appends).
 */
int listeners_prometheus(char *buf, size_t len, const struct shard *shards, unsigned n_shards);

/*
 * SIGHUP with a configuration file: the file is read again; one that does
 * not load is refused with its FILE:LINE and nothing changes. Listeners are
 * matched by name: a new name is bound and served, a name gone stops
 * accepting and drains, a listener kept gets its upstreams (new sessions use
 * the new set; running ones stay) and its certificates read again. A kept
 * listener whose mode, addresses or TLS on/off changed is refused (a
 * restart, or a new name). Returns 0, or -1 after a line on stderr.
 */
int listeners_reload(struct shard *shards, unsigned n_shards);

/*
 * SIGUSR1 with a configuration file: every proxy listener's session log
 * opened again by name (notify.c's reopen, per listener; writers: the
 * shards). poll: true while one still waits for shards to leave its old
 * file. end: at exit.
 */
void listeners_log_reopen_start(unsigned writers);
bool listeners_log_reopen_poll(unsigned writers);
void listeners_log_reopen_end(void);

/* After the shards stopped: their arrays, and the upstream sets and files reloads made. */
void listeners_free(struct shard *shards, unsigned n_shards);

#endif
