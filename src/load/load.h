/* SPDX-License-Identifier: MIT */
#ifndef RINGER_LOAD_H
#define RINGER_LOAD_H

/*
 * The load generator's threads: each runs one ring and one connection
 * engine (ringer/engine.h), and owns a slice of the connections, its own
 * histogram and counters. Threads share nothing on the hot path; they
 * meet at a barrier to start together and publish a few relaxed counters
 * once a second for the progress line. The report sums them after join.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "ringer/hist.h"
#include "load_config.h"
#include "schedule.h"
#include "request.h"

/* Status classes: [0] unparseable, [1] 1xx ... [5] 5xx. */
#define LOAD_STATUS_CLASSES 6

struct load_counters {
	uint64_t requests; /* measured responses */
	uint64_t bytes_rx; /* measured bytes received */
	uint64_t bytes_tx;
	uint64_t connects;	 /* connections established */
	uint64_t err_connect;	 /* refused, unreachable, ... */
	uint64_t err_reset;	 /* reset or closed with requests outstanding */
	uint64_t err_timeout;	 /* connect or response timeouts */
	uint64_t err_mismatch;	 /* echo bytes differ, or HTTP framing broken */
	uint64_t err_status;	 /* measured responses outside 2xx, or --expect-status */
	uint64_t err_tls;	 /* TLS handshakes that failed (an alert, verification, not TLS) */
	uint64_t tls_handshakes; /* of connections that carried measured requests (load_phase) */
	uint64_t tls_resumed;	 /* ... that resumed a session */
	uint64_t status[LOAD_STATUS_CLASSES];
	uint64_t server_closes; /* connections with nothing outstanding the server closed */
	uint64_t loops;
	uint64_t cqes;
};

/*
 * A connection's setup, timed apart from its requests: the TCP connect
 * (from its start to the kernel's answer), the TLS handshake (from there to
 * its end) and the first response (from the first request's send on the
 * new connection to its end). Recorded once per connection, when its first
 * response is measured, so the counts are those of the connections that
 * carried measured requests.
 */
enum load_phase {
	LOAD_PH_CONNECT,
	LOAD_PH_TLS,
	LOAD_PH_FIRST,
	LOAD_PHASES,
};

/* What TLS negotiated: a thread keeps the first LOAD_TLS_KINDS combinations it saw, counted. */
#define LOAD_TLS_KINDS 8

struct load_tls_kind {
	char version[16];
	char cipher[64];
	char group[32];
	char alpn[32];
	uint64_t count;
};

/*
 * Per-interval rows (--interval): each thread adds its interval's histogram
 * and counters to the slot of that interval once the interval has ended, and
 * the main thread takes a slot when every thread still running has added
 * to it. Slots are reused round robin; a thread that finds its slot still
 * holding an older interval waits for the main thread to take it.
 */
#define LOAD_IVAL_SLOTS 8

struct load_ival {
	uint64_t k;	      /* which interval */
	unsigned contributed; /* threads that have added theirs; 0: free */
	uint32_t conns;	      /* connections open at its end */
	uint64_t end_ns;      /* where it ended: its boundary, or the run's end */
	struct load_counters c;
	struct hist hist;
	struct hist phase[LOAD_PHASES];
};

/* What every thread reads; written before the threads start, except where noted. */
struct load_shared {
	const struct load_config *cfg;
	struct request_set reqs; /* http: what is sent, cycled (request.h) */
	pthread_barrier_t ready; /* every thread has tried its first connects */
	pthread_barrier_t go;	 /* start_ns is set */
	uint64_t start_ns;	 /* written by one thread between the two barriers */
	atomic_bool stop;	 /* SIGINT, or a thread's fatal error */
	atomic_int fatal;	 /* first fatal -errno */
	struct sched_plan plan;	 /* open loop: the warmup, then cfg's plan */
	/* --interval: the slots below, under ival_lock (ival_cond: a slot was freed). */
	pthread_mutex_t ival_lock;
	pthread_cond_t ival_cond;
	struct load_ival *ivals;
};

struct load_thread {
	struct load_shared *sh;
	unsigned id;
	uint32_t conn_first; /* global index of the first connection */
	uint32_t nconns;
	uint64_t quota; /* measured requests this thread owes; 0 = no limit */
	int cpu;	/* -1: not pinned */
	pthread_t tid;
	uint64_t connect_ns; /* how long its first connects took */
	uint64_t measure_start_ns;
	uint64_t measure_end_ns;
	char error[320]; /* why the thread gave up, when it did */
	struct load_counters c;
	/* Published once a second for the progress line. */
	atomic_uint_least64_t pub_requests;
	atomic_uint_least64_t pub_errors;
	atomic_uint_least64_t pub_p99;
	atomic_bool finished;
	/* --interval: set once the thread adds no more rows; ival_last is its last (-1: none). */
	atomic_bool ival_final;
	atomic_int_least64_t ival_last;
	struct hist hist;
	/*
	 * How long each connection the server closed had been idle (since its
	 * connect or its last byte either way), in microseconds: the histogram is
	 * unit-free, and microseconds reach idle timeouts of hours.
	 */
	struct hist closes;
	struct hist phase[LOAD_PHASES]; /* ns */
	struct load_tls_kind tls_kinds[LOAD_TLS_KINDS];
	unsigned n_tls_kinds;
	char tls_error[160];   /* why the first TLS handshake that failed did */
	uint64_t tls_error_ns; /* when */
};

/* Builds what the threads share; reqs (http) is borrowed for the run. Returns 0 or -errno. */
int load_shared_init(struct load_shared *sh, const struct load_config *cfg,
		     const struct request_set *reqs);
void load_shared_exit(struct load_shared *sh);

/* Starts t (which the caller zeroed and filled: sh, id, conn range, quota, cpu). */
int load_thread_start(struct load_thread *t);

/* --active: how many of a thread's connections [first, first + n) send (a prefix). */
uint32_t load_thread_active(const struct load_config *cfg, uint32_t first, uint32_t n);

/* The errors of c, summed. */
uint64_t load_errors(const struct load_counters *c);

uint64_t load_now_ns(void);

/*
 * Main thread: the interval k when every thread that will add to it has,
 * copied into out (the slot is freed). Returns 1, 0 when it is not complete
 * yet, or -1 when no thread will add to it (all rows have been taken).
 */
int load_ival_take(struct load_shared *sh, struct load_thread *th, unsigned n, uint64_t k,
		   struct load_ival *out);

#endif
