/* SPDX-License-Identifier: MIT */
#ifndef RINGER_RESOLVER_H
#define RINGER_RESOLVER_H

/*
 * Upstream names looked up again and again (",resolve" on an upstream, or
 * "resolve" on a server line): a thread of its own, never a shard, looks
 * every such name up each --resolve-interval, and at once (at most once a
 * second) after a shard failed to connect to one. Each address a name gives
 * is a server of its own, named NAME=ADDRESS, with the upstream's weight and
 * maxconn: a name with several addresses (a Kubernetes headless Service)
 * gives several servers. When the addresses change, main publishes the new
 * set as a reload does (config_reload_set): new sessions use it, a server
 * that disappeared takes no new ones and its sessions go on.
 *
 * The thread only looks names up; main publishes (it polls resolver_fd()),
 * so sets are published by one thread. A lookup that fails keeps the
 * servers as they were.
 */
#include <stdbool.h>

#include "ringer/config.h"

/*
 * Listener k's configuration (cfg->upstreams as configured): when some
 * upstream has resolve, they are remembered and cfg->upstreams expanded in
 * place to the servers the names give now. Before cfg's upstream set is
 * made from them. Returns 0, or -1 after one line on stderr (a name that
 * does not resolve, more servers than CONFIG_MAX_UPSTREAMS).
 */
int resolver_add(struct config *cfg, unsigned listener);

/*
 * The configured upstreams in (n) expanded into out (at most
 * CONFIG_MAX_UPSTREAMS): those without resolve as they are, each resolve
 * one as its name's addresses now. Returns how many, or -1 with one line in
 * err. Blocks on the resolver (main's thread, or the resolver's).
 */
int resolver_expand(const struct config_upstream *in, unsigned n, struct config_upstream *out,
		    char *err, size_t err_len);

/*
 * A reload gave cfg (listener k) these configured upstreams, published as
 * expanded: the thread goes on from them. n_conf 0, or none with resolve:
 * cfg is no longer looked after.
 */
void resolver_update(struct config *cfg, unsigned listener, const struct config_upstream *conf,
		     unsigned n_conf, const struct config_upstream *expanded, unsigned n_expanded);

/* A reload removed the listener with cfg: no more lookups for it. */
void resolver_forget(const struct config *cfg);

/* Starts the thread when some listener has resolve upstreams. Returns 0 or -errno. */
int resolver_start(void);

/* An eventfd main polls: readable when a lookup found new addresses; -1 without the thread. */
int resolver_fd(void);

/*
 * Main, once resolver_fd() is readable: publish(arg, cfg, listener, servers, n)
 * for each listener whose names now give other addresses.
 */
void resolver_collect(void (*publish)(void *arg, struct config *cfg, unsigned listener,
				      const struct config_upstream *up, unsigned n),
		      void *arg);

/* Stops and joins the thread. */
void resolver_stop(void);

#endif
