/* SPDX-License-Identifier: MIT */
#ifndef RINGER_TESTS_LOAD_HARNESS_H
#define RINGER_TESTS_LOAD_HARNESS_H

/*
 * What the ringer-load integration tests share on top of harness.h: run
 * ringer-load to completion with a deadline, read numbers out of its JSON,
 * and start the independent servers it is checked against (nginx with a
 * throwaway config, a python echo server) on free loopback ports.
 */
#include <stdbool.h>
#include <stdint.h>

#include "harness.h"

struct load_run {
	int status;    /* exit status, or -1 when it had to be killed */
	int64_t ms;    /* how long it ran */
	struct proc p; /* p.out: stdout (the JSON), p.err: stderr */
};

/* Runs RINGER_LOAD_BIN with the NULL-terminated args, killing it after timeout_ms. */
void load_run(struct load_run *r, int timeout_ms, ...);

/* The number after "key": in a JSON document, or -1. */
double json_num(const char *json, const char *key);

/*
 * Whether an open-loop run (--rate RATE --requests N, one thread) kept its
 * schedule: all n answered without error, in no less than the schedule's
 * time (the last request is due at (n - 1) / rate s: the open loop cannot
 * be faster however quickly the server answers) and in no more than 1.5
 * times it. Prints the figures, and what failed.
 */
bool open_loop_kept(const struct load_run *r, long n, double rate);

/* A port nothing listens on right now (bound to 0 and released). */
int free_port(void);

struct nginx {
	struct proc p;
	int port;
	char dir[64];
	char access_log[96];
};

/*
 * Starts nginx on 127.0.0.1 (no daemon, no master) with a temp config; 0 or
 * -errno. / answers 200, /short closes every 5th response, /upload reads the
 * whole request body (it proxies to /, so its log line's length counts the
 * body; nginx leaves a discarded body out).
 */
int nginx_start(struct nginx *n);
void nginx_stop(struct nginx *n);
/* Lines in nginx's access log: one per request it answered. */
long nginx_requests(const struct nginx *n);
/*
 * nginx_requests() once it reaches want, or when timeout_ms have passed: nginx
 * writes a request's line after its response went out, so a client that has
 * every response may read the log a line short.
 */
long nginx_requests_reach(const struct nginx *n, long want, int timeout_ms);
/*
 * Lines of the access log that contain needle (all when NULL). A line reads
 * METHOD URI STATUS REQUEST_LENGTH "X-Ringer-Test header".
 */
long nginx_log_lines(const struct nginx *n, const char *needle);

/* Starts tests/echo_server.py (ECHO_SERVER_PY); extra args NULL-terminated. */
int echo_server_start(struct proc *p, const char *host, ...);
/* Stops it and reads back how many bytes and connections it saw. */
int echo_server_stop(struct proc *p, long long *bytes, long long *conns);

#endif
