/* SPDX-License-Identifier: MIT */
#ifndef RINGER_STATS_H
#define RINGER_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ringer/tcp_state.h"
#include "ringer/user_data.h"

/*
 * Counters of one shard. Only the shard's own thread writes them (through
 * STAT_INC/STAT_ADD, relaxed atomic stores that compile to plain moves), and
 * any thread may read them (stats_sum, relaxed loads), so there is no lock
 * and no shared cache line between shards: each struct is cache-line aligned.
 * by_state[] is a gauge: connections currently in each TCP state.
 */
#define STATS_FIELDS(X)                                                                    \
	X(accepts, "connections accepted")                                                 \
	X(refused, "connections refused at --max-conns")                                   \
	X(accept_errors, "accept errors (EMFILE, ENFILE, table full, ...)")                \
	X(accept_rearms, "multishot accept re-armed")                                      \
	X(closed, "connections closed")                                                    \
	X(resets, "connections reset or failed")                                           \
	X(bytes_in, "bytes received")                                                      \
	X(bytes_out, "bytes sent")                                                         \
	X(recv_cqes, "recv completions")                                                   \
	X(send_ops, "send operations")                                                     \
	X(short_sends, "short sends resumed")                                              \
	X(requests, "requests answered")                                                   \
	X(proto_errors, "protocol errors answered")                                        \
	X(header_timeouts, "http: header sections not complete in time (408)")             \
	X(body_timeouts, "http: request bodies slower than --body-min-rate (408)")         \
	X(send_timeouts, "connections reset: a send stalled past --send-timeout")          \
	X(starved_resets, "connections reset: send stalled 1 s while the pool ran dry")    \
	X(recv_rearms, "multishot recv re-armed")                                          \
	X(enobufs, "recv out of provided buffers (ENOBUFS)")                               \
	X(paused, "recv paused for backpressure")                                          \
	X(stale, "stale completions dropped")                                              \
	X(illegal, "illegal TCP transitions refused")                                      \
	X(errors, "other errors")                                                          \
	X(loops, "event loop iterations")                                                  \
	X(cqes, "completions reaped")                                                      \
	X(cq_overflow, "CQ overflows")                                                     \
	X(connects_out, "connections made out (proxy: to upstreams)")                      \
	X(connect_failures, "outbound connects that failed")                               \
	X(no_upstream, "clients closed with no upstream left to try")                      \
	X(proxy_hdr_errors, "connections closed: PROXY header missing, malformed or late") \
	X(queued, "proxy: clients that waited for an upstream at its maxconn")             \
	X(queue_timeouts, "proxy: clients closed after --queue-timeout in the queue")      \
	X(log_lines, "proxy: session log lines written")                                   \
	X(log_dropped, "proxy: session log lines dropped (the log fell behind)")           \
	X(idle_closes, "connections closed after --idle-timeout of silence")               \
	X(tls_handshakes, "TLS handshakes completed")                                      \
	X(tls_resumed, "TLS handshakes that resumed a session (a ticket)")                 \
	X(tls_v12, "TLS 1.2 handshakes")                                                   \
	X(tls_v13, "TLS 1.3 handshakes")                                                   \
	X(tls_hs_failed, "TLS handshakes failed (not TLS, alert, verification)")           \
	X(tls_hs_timeouts, "TLS handshakes not finished in time (reset)")                  \
	X(tls_refused, "TLS connections reset: too many handshakes at once")               \
	X(tls_truncations, "TLS streams ended without close_notify (reset)")               \
	X(tls_notify_in, "TLS close_notify received")                                      \
	X(tls_notify_out, "TLS close_notify sent")                                         \
	X(tls_errors, "TLS record or protocol errors (reset)")                             \
	X(tls_keyupd_resets, "TLS connections reset: a KeyUpdate flood")                   \
	X(tls_up_handshakes, "TLS handshakes completed, connections made out")             \
	X(tls_up_resumed, "TLS handshakes out that resumed a session")                     \
	X(tls_up_hs_failed, "TLS handshakes out failed (verification, alert)")             \
	X(tls_up_hs_timeouts, "TLS handshakes out not finished in the connect timeout")    \
	X(tls_up_truncations, "TLS streams in from servers ended without close_notify")    \
	X(tls_up_notify_in, "TLS close_notify received from servers")                      \
	X(tls_up_notify_out, "TLS close_notify sent to servers")                           \
	X(tls_up_errors, "TLS record or protocol errors, connections made out")

#define STATS_SIDES	    2 /* client (accepted), upstream (connected out): enum conn_side */
#define STATS_BATCH_BUCKETS 8 /* CQEs per loop: <=1, <=2, <=4, ... <=64, more */
/*
 * Idle closes by how late they came, in ms after --idle-timeout ran out, by
 * ringer's own clock: the tick is 100 ms, so all should be in the first four.
 */
#define STATS_LATE_BUCKETS 9
#define STATS_LATE_BOUNDS                            \
	{                                            \
		10, 25, 50, 100, 150, 250, 500, 1000 \
	}

/* TLS handshakes by how long they took (ms from the first ClientHello byte to done). */
#define STATS_HS_BUCKETS 9
#define STATS_HS_BOUNDS                        \
	{                                      \
		1, 2, 5, 10, 25, 50, 100, 1000 \
	}

/* Completion errors by errno: the ones a server meets, then everything else. */
/* clang-format off */
#define STATS_ERRNOS(X) \
	X(ECONNRESET) X(EPIPE) X(ETIMEDOUT) X(ECONNREFUSED) X(ECANCELED) X(ENOBUFS) \
	X(EMFILE) X(ENFILE) X(ENOTCONN) X(EINVAL) X(ENOMEM) X(EAGAIN)
/* clang-format on */

enum stats_errno {
#define X(e) STATS_ERR_##e,
	STATS_ERRNOS(X)
#undef X
		STATS_ERR_OTHER,
	STATS_ERR_COUNT,
};

/* The bucket of a negative CQE result. */
enum stats_errno stats_errno_index(int neg_errno);
/* Counts one loop iteration that reaped n CQEs into the histogram. */
#define STATS_BATCH_BUCKET(n) ((n) <= 1 ? 0 : (n) > 64 ? 7 : 32 - __builtin_clz((n)-1))
#define STATS_MAX_UPSTREAMS   64

/* http-proxy: response heads by ms after the request went (a Prometheus histogram's le). */
#define STATS_RT_BUCKETS 10
#define STATS_RT_BOUNDS                             \
	{                                           \
		1, 2, 5, 10, 25, 50, 100, 250, 1000 \
	}

/* Proxy mode, per upstream. */
struct stats_upstream {
	uint64_t connects; /* connects that succeeded */
	uint64_t failures; /* connects that failed (refused, timed out, ...) */
	uint64_t bytes_in; /* bytes received from the upstream */
	uint64_t bytes_out;
	int64_t active;		/* sessions using it now */
	int64_t down;		/* 1 while passive health has it marked down */
	uint64_t state_changes; /* active health checks: up -> down and down -> up */
	/* http-proxy */
	uint64_t http[5];	/* responses by status class: 1xx .. 5xx */
	uint64_t reused;	/* requests sent on a pooled connection */
	int64_t pooled;		/* idle connections in the pools now */
	uint64_t evicted;	/* idle pooled connections closed for a full table */
	uint64_t bad_responses; /* malformed responses (answered 502) */
	uint64_t timeouts;	/* responses not begun or stalled past --upstream-timeout */
	uint64_t
		rt[STATS_RT_BUCKETS]; /* response heads by ms after the request (STATS_RT_BOUNDS) */
	uint64_t rt_sum;	      /* their ms, summed */
};

/* Counts one response head that came ms after its request. */
void stats_response_time(struct stats_upstream *u, uint64_t ms);

struct stats {
#define X(name, help) uint64_t name;
	STATS_FIELDS(X)
#undef X
	int64_t by_state[TCP_STATE_COUNT];
	int64_t by_side[STATS_SIDES][TCP_STATE_COUNT];
	uint64_t entered[TCP_STATE_COUNT];	/* transitions into each state */
	uint64_t ops[UD_OP_COUNT];		/* completions by operation */
	uint64_t errnos[STATS_ERR_COUNT];	/* completions that failed, by errno */
	uint64_t batch[STATS_BATCH_BUCKETS];	/* loop iterations by CQEs reaped */
	uint64_t idle_late[STATS_LATE_BUCKETS]; /* idle closes by ms late (STATS_LATE_BOUNDS) */
	uint64_t idle_late_sum;			/* their ms late, summed */
	uint64_t tls_hs[STATS_HS_BUCKETS];	/* TLS handshakes by ms taken (STATS_HS_BOUNDS) */
	uint64_t tls_hs_sum;			/* their ms, summed */
	struct stats_upstream up[STATS_MAX_UPSTREAMS];
} __attribute__((aligned(64)));

#define STAT_ADD(s, field, n) __atomic_store_n(&(s)->field, (s)->field + (n), __ATOMIC_RELAXED)
#define STAT_INC(s, field)    STAT_ADD(s, field, 1)

/* Counts one idle close, late_ms after its timeout ran out. */
void stats_idle_close(struct stats *s, uint64_t late_ms);

/* Counts one TLS handshake that took ms. */
void stats_tls_handshake(struct stats *s, uint64_t ms);

/* Adds src into dst, reading src with relaxed loads (src may be live). */
void stats_sum(struct stats *dst, const struct stats *src);
/* Human-readable block, as printed on SIGUSR2 and at exit. */
void stats_print(FILE *f, const struct stats *s, unsigned shards);
/*
 * The Prometheus writers' step, inside a function with buf, len, size_t off
 * and int n: printf-style text at buf + off, or return -ENOSPC when it does
 * not fit in len.
 */
#define STATS_EMIT(...)                                          \
	do {                                                     \
		n = snprintf(buf + off, len - off, __VA_ARGS__); \
		if (n < 0 || (size_t)n >= len - off)             \
			return -ENOSPC;                          \
		off += (size_t)n;                                \
	} while (0)

/* Prometheus text exposition; returns bytes written (truncated at len) or -ENOSPC. */
int stats_prometheus(char *buf, size_t len, const struct stats *s);
/*
 * The per-upstream part, for n upstreams named names[i] (proxy mode):
 * appended to f, or to buf (returns bytes written or -ENOSPC). down is
 * summed over shards: an upstream is up only where no shard marked it down.
 */
void stats_print_upstreams(FILE *f, const struct stats *s, const char *const *names, unsigned n);
int stats_prometheus_upstreams(char *buf, size_t len, const struct stats *s,
			       const char *const *names, unsigned n);
/*
 * The same for several groups of upstreams (a configuration file's proxy
 * listeners): group g's count[g] upstreams named names[g][i], counted in
 * s[g], each series labelled listener="labels[g]" (labels NULL: none).
 */
int stats_prometheus_upstreams_by(char *buf, size_t len, unsigned groups, const char *const *labels,
				  const struct stats *const *s, const char *const *const *names,
				  const unsigned *count);

#endif
