/* SPDX-License-Identifier: MIT */
#ifndef RINGER_NOTIFY_H
#define RINGER_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "ringer/config.h"
#include "ringer/net.h"

struct shard;

/*
 * What a service manager (systemd) expects of ringer, without libsystemd:
 *
 * - sd_notify: one datagram per message to $NOTIFY_SOCKET (a path, or an
 *   abstract name written with a leading '@'), never blocking; nothing at
 *   all when the variable is unset. READY=1 once every listener is served,
 *   RELOADING=1 (with MONOTONIC_USEC) and READY=1 around a SIGHUP reload,
 *   STOPPING=1 when a drain begins, a STATUS= line every few seconds, and
 *   MAINPID= when a ringer took over from an older one (--handover).
 * - Socket activation: the listening sockets passed as LISTEN_FDS (from fd
 *   3 on, for LISTEN_PID), used instead of binding new ones when their
 *   address is a configured listen address.
 * - The session log (--log FILE) reopened on SIGUSR1, as logrotate expects.
 */

/* Reads NOTIFY_SOCKET, LISTEN_PID and LISTEN_FDS once, at startup, and unsets them. */
void notify_init(void);
/* True when NOTIFY_SOCKET named a socket to send to. */
bool notify_enabled(void);
/*
 * Sends one message (newline-separated KEY=VALUE lines) in one datagram.
 * Returns 0, -errno, or 0 without sending when there is no NOTIFY_SOCKET.
 */
int notify_send(const char *msg);

/* READY=1 and a first STATUS=; with mainpid, MAINPID=<this pid> first (a handover). */
void notify_ready(bool mainpid, const struct config *cfg, const struct shard *shards);
/* RELOADING=1 with MONOTONIC_USEC=<CLOCK_MONOTONIC now, in microseconds>. */
void notify_reloading(void);
/* READY=1 after a reload, whether it was taken or refused (the old settings serve). */
void notify_reloaded(void);
/* STOPPING=1: a drain begins (SIGINT or SIGTERM; never for a handover). */
void notify_stopping(void);
/*
 * STATUS=N connections, M listeners, every NOTIFY_STATUS_MS while serving:
 * notify_timeout_ms() says how long main's poll may sleep (-1: forever),
 * notify_status_tick() sends the line when it is due.
 */
#define NOTIFY_STATUS_MS 5000
int notify_timeout_ms(uint64_t now_ms);
void notify_status_tick(uint64_t now_ms, const struct config *cfg, const struct shard *shards);

/*
 * Socket activation. sd_listen_fd_take(a): a new descriptor (the caller's
 * to close) of the inherited listening socket bound to exactly a, or -1
 * when there is none; every call for the same address returns another
 * descriptor of the same socket, so each shard can own one (they share its
 * accept queue: no SO_REUSEPORT group, no new bind). sd_listen_has(a) asks
 * without taking. sd_listen_close_unused() closes the inherited sockets no
 * one took, a warning line each on stderr, and returns how many.
 */
int sd_listen_fd_take(const struct net_addr *a);
bool sd_listen_has(const struct net_addr *a);
int sd_listen_close_unused(void);

/*
 * SIGUSR1: the session log opened again by name (logrotate renamed the
 * old file). log_reopen_start() opens it and publishes the new descriptor
 * in cfg->log_fd; each of the writers shards switches at its next write,
 * never in the middle of a line, and counts itself off in
 * *cfg->log_behind; log_reopen_poll() closes the old descriptor once none
 * is left on it (and starts a reopen asked for meanwhile). Returns 0, or
 * -errno after a line on stderr (the old file stays in use). Per
 * configuration: a configuration file's listeners with a log each call
 * these with their own cfg (up to 64 of them).
 */
int log_reopen_start(struct config *cfg, unsigned writers);
/* Returns true while an old descriptor waits to be closed (poll again within 100 ms). */
bool log_reopen_poll(struct config *cfg, unsigned writers);
/* At exit, the shards gone: closes a descriptor still waiting. */
void log_reopen_end(struct config *cfg);

#endif
