/* SPDX-License-Identifier: MIT */
#ifndef RINGER_TESTS_HARNESS_H
#define RINGER_TESTS_HARNESS_H

/*
 * Helpers for integration tests: start a real binary in its own process,
 * learn its port from the first stdout line ("listening on ADDR:PORT"), talk
 * to it over loopback with deadlines, and stop it by PID.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct proc {
	pid_t pid;
	int out_fd; /* the child's stdout, nonblocking */
	int err_fd; /* the child's stderr, nonblocking */
	int port;
	char out[65536];
	size_t out_len;
	char err[16384];
	size_t err_len;
	/* Bytes dropped because out or err was full, and whether they held a sanitizer report. */
	size_t out_lost, err_lost;
	bool lost_sanitizer;
	char carry[2][48]; /* each stream's last bytes, so a report split across reads is seen */
};

/* Path of a built binary from an environment variable (set by meson), or fails the test. */
const char *harness_bin(const char *env_name);

/*
 * Spawns argv (argv[0] is the path) and, when want_port, waits up to
 * timeout_ms for the "listening on" line. Returns 0 or -errno.
 */
int proc_start(struct proc *p, char *const argv[], bool want_port, int timeout_ms);
/* Reads what the child printed so far into p->out / p->err. */
void proc_drain(struct proc *p);
/*
 * One counter of a running ringer, from the stats it prints on SIGUSR2
 * (the dump this call asked for, waited for up to 10 s); -1 when the dump
 * has no such counter or did not come.
 */
long long proc_stat(struct proc *p, const char *name);
/* Sends sig and waits up to timeout_ms; returns the exit status, or -1 (then SIGKILLs). */
int proc_stop(struct proc *p, int sig, int timeout_ms);
/* Waits for exit without signalling; returns the exit status or -1 on timeout. */
int proc_wait(struct proc *p, int timeout_ms);
/*
 * The exit check of a ringer the test stopped: status (from proc_stop or
 * proc_wait) is want_status; its final stats dump (the last one on its
 * stdout, printed at exit) exists and shows illegal == 0 and stale <=
 * stale_max; and nothing it printed is a sanitizer report. Returns 0, or -1
 * after printing on stderr what was wrong (and ringer's stderr).
 */
int ringer_exit_check(struct proc *p, int status, int want_status, long long stale_max);
/* Counter name in the last stats dump p printed (e.g. the one at exit), or -1. */
long long proc_final_stat(struct proc *p, const char *name);
/* Stops a ringer with sig, then ringer_exit_check(p, status, 0, stale_max). */
int ringer_stop(struct proc *p, int sig, int timeout_ms, long long stale_max);
/* Resident set size of the process in KiB, or -1. */
long proc_rss_kib(pid_t pid);

/* A connected, blocking TCP socket to host:port (IPv4 or IPv6 literal), or -errno. */
int tcp_connect(const char *host, int port);
/*
 * Whether the machine has IPv6 on loopback (an optional feature: a test
 * skips without it): 0 when a TCP socket binds to [::1], else -errno.
 */
int ipv6_loopback(void);
/* Raises RLIMIT_NOFILE so a test can hold many sockets. */
void raise_nofile(unsigned want);

/* Sends all of buf within timeout_ms; returns 0 or -errno (-ETIMEDOUT). */
int send_all(int fd, const void *buf, size_t len, int timeout_ms);
/* Receives exactly len bytes within timeout_ms; returns 0, -EPIPE on EOF, or -errno. */
int recv_all(int fd, void *buf, size_t len, int timeout_ms);
/* Waits for EOF: 0 on EOF, -ECONNRESET, or -ETIMEDOUT (data is discarded and counted). */
int wait_eof(int fd, int timeout_ms, size_t *discarded);

/*
 * Streams total bytes of a deterministic pattern through an echo server on fd,
 * sending and receiving concurrently (poll), and checks every byte. Returns 0,
 * or -EILSEQ on the first mismatch (offset in *bad_at), or -errno.
 */
int echo_stream(int fd, uint64_t total, size_t chunk, int timeout_ms, uint64_t *bad_at);

/* Byte i of the test pattern for a stream seeded with seed. */
static inline uint8_t pattern_byte(uint64_t seed, uint64_t i)
{
	uint64_t x = (i / 8 + 1) * 0x9e3779b97f4a7c15ull ^ seed;

	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 32;
	return (uint8_t)(x >> ((i % 8) * 8));
}

int64_t now_ms(void);

/*
 * Generic helpers added for the proxy tests; they serve any integration test.
 */

/* A listening TCP socket on host:port (port 0: any) with SO_REUSEADDR; *bound gets the port. */
int tcp_listen(const char *host, int port, int backlog, int *bound);
/* Like tcp_connect, from the local address src (e.g. "127.0.0.5", port chosen by the kernel). */
int tcp_connect_from(const char *src, const char *host, int port);
/*
 * Waits up to timeout_ms for a stdout line of p that starts with prefix (e.g.
 * "admin on ") and returns the port at its end, or -ETIMEDOUT / -EPROTO.
 * Does not modify p->out.
 */
int proc_wait_port(struct proc *p, const char *prefix, int timeout_ms);
/*
 * GET path over HTTP/1.1 with "Connection: close", reading until EOF; the
 * response (head and body) goes to buf, NUL-terminated. Returns its length or -errno.
 */
int http_get(const char *host, int port, const char *path, char *buf, size_t len, int timeout_ms);
/*
 * The value of the sample `series` (name and labels exactly as exposed, e.g.
 * ringer_connections{state="ESTABLISHED"}) in Prometheus text: 0 with *val,
 * or -ENOENT when no line carries it.
 */
int metric_value(const char *text, const char *series, double *val);

#endif
