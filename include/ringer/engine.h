/* SPDX-License-Identifier: MIT */
#ifndef RINGER_ENGINE_H
#define RINGER_ENGINE_H

/*
 * The connection engine: accept, connect, recv, send, shutdown, close,
 * backpressure and buffer ownership for one ring, whoever runs the loop
 * (a server shard, or a ringer-load thread). Modes (mode.h) program against
 * the calls below and nothing else; struct engine is opaque to them.
 *
 * Buffers: received buffers queue on the receiving connection as input.
 * engine_forward() moves them to another connection's output (or the same
 * one's: echo); they go back to the buffer ring only when the send carrying
 * them completes, whatever happened to either connection meanwhile.
 */
#include <stdbool.h>
#include <stdint.h>

#include "ringer/conn.h"
#include "ringer/net.h"
#include "ringer/ring.h"
#include "ringer/stats.h"

struct engine;
struct mode_ops;
struct tls_settings;
struct tls_client_settings;
struct engine_tls_client;
struct tls_ctx;
struct io_uring_cqe;

/*
 * An engine serves one listener, or several (a configuration file's): each
 * with its own mode, settings and counters, sharing the shard's ring, buffer
 * pool and connection table. A connection belongs to the listener that
 * accepted it, and one a mode connects out to the listener whose callback
 * made it; every callback runs as its listener (engine_mode_data(),
 * engine_stats()). engine_params' own fields below are listener 0; these
 * are listeners 1 and on.
 */
#define ENGINE_MAX_LISTENERS 32
#define ENGINE_MAX_SOCKETS   64 /* listening sockets, over every listener */

struct engine_listener_params {
	const struct mode_ops *mode;
	const void *mode_arg;
	struct stats *stats;  /* its own: written by this engine's thread only */
	unsigned max_clients; /* accepted connections allowed at once; 0: the engine's */
	bool peer_addrs;
	bool accept_proxy;
	uint32_t accept_proxy_ms;
	const struct tls_settings *tls;
	uint32_t idle_ms;
	uint32_t send_ms;
};

struct engine_params {
	const struct mode_ops *mode;
	const void *mode_arg; /* handed to mode->init */
	struct stats *stats;  /* written by this engine's thread only */
	unsigned max_conns;   /* slab size: every connection, accepted or connected out */
	unsigned max_clients; /* accepted connections allowed at once; 0: max_conns */
	bool peer_addrs;      /* the mode reads accepted peers' addresses (engine_accepted_peer) */
	bool recv_bundle;     /* use recv bundles where the kernel has them (6.10+) */
	unsigned file_slots;  /* cap on the fixed-file table (descriptor limit), 0: none */
	unsigned buf_count;   /* provided buffers, a power of two */
	unsigned buf_size;
	uint16_t bgid;
	uint32_t idle_ms; /* close connections idle this long; 0: never */
	uint32_t send_ms; /* reset connections whose send is stalled this long; 0: never */
	bool conn_info;	  /* keep engine_conn_view()'s facts: age, bytes, peer, socket cookie */
	/*
	 * Accepted connections start with a PROXY protocol header (v1 or v2), waited
	 * for (accept_proxy_ms) before the mode hears of the connection; its source
	 * address is then the connection's peer. Missing, malformed or late: closed.
	 */
	bool accept_proxy;
	uint32_t accept_proxy_ms;
	/* TCP keepalive on connections made out (idle s, interval s, probes); idle 0: off */
	unsigned ka_idle, ka_intvl, ka_cnt;
	/* TCP_USER_TIMEOUT on connections made out, ms; 0: the kernel's default */
	unsigned user_timeout_ms;
	/* Source addresses engine_connect_from() binds to (port 0); the caller's, outliving us. */
	const struct net_addr *sources;
	unsigned n_sources;
	/*
	 * Accepted connections speak TLS (tls.h): the engine builds its own
	 * contexts from these settings (the caller's, outliving us), runs the
	 * handshake before the mode hears of a connection, and the mode sees
	 * plaintext through the same calls. NULL: plaintext.
	 */
	const struct tls_settings *tls;
	bool tls_client;      /* connections made out may speak TLS (engine_connect_tls) */
	unsigned tls_buffers; /* pool buffers for TLS records and plaintext; 0: buf_count */
	/* Listeners 1 and on (the caller's, outliving us); max_conns and max_clients cover all. */
	const struct engine_listener_params *more;
	unsigned n_more;
	unsigned max_clients0; /* with more: listener 0's own limit; 0: max_clients */
};

/*
 * One connection as another thread may see it (the admin's /connections):
 * read without locks while its shard runs, so a snapshot, not a transaction.
 */
struct engine_conn_view {
	uint32_t slot;
	uint32_t gen;
	uint8_t state; /* enum tcp_state */
	uint8_t side;  /* enum conn_side */
	uint16_t inflight;
	uint32_t age_ms;
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t cookie; /* the kernel's socket cookie (inet_diag's idiag_cookie); 0: unknown */
	struct sockaddr_storage peer;
	uint32_t peer_len; /* 0: unknown */
	/* A TLS connection past its handshake: what it negotiated (NULL: plain, or not yet) */
	const char *tls_version;
	const char *tls_cipher;
	char tls_sni[32];
};

/* ---- for the owner of the loop ---- */

/*
 * The connections an engine holds with max_conns asked and a fixed-file
 * table of at most file_slots (0: no cap): what engine_create() keeps, so a
 * caller can name the limit before it starts (a refused table aside).
 */
unsigned engine_conn_cap(unsigned max_conns, unsigned file_slots);

/*
 * The engine's own memory per connection slot a connection touches: its
 * table entry, and the per-slot state conn_info and accept_proxy add. The
 * kernel's socket is not in it.
 */
size_t engine_conn_bytes(bool conn_info, bool accept_proxy);

/* The kernel's cap on one ring's fixed-file table (IORING_MAX_FIXED_FILES). */
#define ENGINE_MAX_FILE_SLOTS (1u << 20)

/* Sets up buffers, slab and fixed-file table on r; note gets a human line. Returns 0 or -errno. */
int engine_create(struct engine **out, struct ring *r, const struct engine_params *p, char *note,
		  size_t note_len);
void engine_destroy(struct engine *e);
/* Serves a listening socket with multishot accept, for listener 0. */
void engine_listen(struct engine *e, int listen_fd);
/* ... for listener i (a listener may have several sockets). Returns 0 or -ENOSPC. */
int engine_listen_on(struct engine *e, unsigned listener, int listen_fd);
/* Listener i stops accepting (its sockets' accepts are cancelled); its connections go on. */
void engine_unlisten(struct engine *e, unsigned listener);
/*
 * A listener more, while the engine runs (a reload that adds one): its mode
 * is set up as engine_create() does. Returns its number, or -errno with a
 * line in note: -ENOSPC past ENGINE_MAX_LISTENERS, -EOPNOTSUPP for TLS or
 * the PROXY protocol on an engine made without them (no listener had them
 * at its start). Its accepted connections share the engine's max_clients.
 */
int engine_add_listener(struct engine *e, const struct engine_listener_params *lp, char *note,
			size_t note_len);
/*
 * A reload removed listener i: it stops accepting and its connections drain
 * (each closes once quiet, as in engine_drain(); a proxy's sessions end on
 * their own); engine_draining() is true inside its callbacks from now on.
 */
void engine_retire_listener(struct engine *e, unsigned listener);
/* A reload changed listener i's idle and send timeouts: they count from now on. */
void engine_listener_timeouts(struct engine *e, unsigned listener, uint32_t idle_ms,
			      uint32_t send_ms);
/* No accept is in flight on listener i's sockets any more: the owner may close them. */
bool engine_listener_quiet(const struct engine *e, unsigned listener);
/* The engine's completions (see engine_owns()); call once per CQE. */
void engine_complete(struct engine *e, const struct io_uring_cqe *cqe);
/* True when the CQE's op belongs to the engine. */
bool engine_owns(uint64_t user_data);
/* After each batch of CQEs: publish returned buffers, re-arm starved receives. */
void engine_flush(struct engine *e);
/* Every tick (~100 ms) with the loop's clock: accept back-off, the timeouts due by now. */
void engine_tick(struct engine *e, uint64_t now_ms);
/* Once a second: the mode's tick. */
void engine_second(struct engine *e, int64_t wall_sec);
/* Sets the engine clock (monotonic ms), once per loop iteration. */
void engine_set_now(struct engine *e, uint64_t now_ms);
/* Graceful stop: no more accepts; every connection finishes what it holds and closes. */
void engine_drain(struct engine *e);
/* Abort every connection now. */
void engine_abort_all(struct engine *e);
/* Work is left for the next iteration without a completion (TLS): do not block in the wait. */
bool engine_pending(const struct engine *e);
/* Nothing left: no connection, no accept armed. */
bool engine_done(const struct engine *e);
/* Provided buffers the kernel handed out and nobody has given back yet. */
unsigned engine_buffers_held(const struct engine *e);
/* Slots ever used (a bound for engine_conn_view's slot). Any thread. */
uint32_t engine_slots(const struct engine *e);
/*
 * The live connection at slot, from any thread (with conn_info; without it
 * age, bytes, peer and cookie are 0). Returns false for a free slot.
 */
bool engine_conn_view(const struct engine *e, uint32_t slot, struct engine_conn_view *v);

/* ---- for modes ---- */

struct conn_ref {
	uint32_t slot;
	uint32_t gen;
};

uint64_t engine_now_ms(const struct engine *e);
/* The counters and the mode's data of the listener whose callback runs. */
struct stats *engine_stats(struct engine *e);
void *engine_mode_data(struct engine *e);
/* The listener c belongs to (0 when the engine serves one). */
unsigned engine_conn_listener(const struct conn *c);
/* Connections the engine's table holds: every slot number is below it. */
uint32_t engine_capacity(const struct engine *e);
/* A handle that survives the slot's reuse, and its lookup (NULL once c is gone). */
struct conn_ref engine_ref(const struct engine *e, const struct conn *c);
struct conn *engine_conn(struct engine *e, struct conn_ref ref);
/* Inside mode->accepted, with peer_addrs set: the peer's address; NULL otherwise. */
const struct sockaddr *engine_accepted_peer(const struct engine *e, socklen_t *len);

/* The oldest unconsumed input: returns its length (0: none) and points *data at it. */
uint32_t engine_input(struct engine *e, struct conn *c, const uint8_t **data);
/* All the unconsumed input queued, in bytes (engine_input() shows its first span). */
uint32_t engine_input_len(const struct engine *e, const struct conn *c);
/* n bytes of that span are consumed (n <= its length); emptied buffers go back. */
void engine_consume(struct engine *e, struct conn *c, uint32_t n);
/* Drops all queued input. */
void engine_drop_input(struct engine *e, struct conn *c);

/*
 * Sends len bytes that stay valid until mode->sent (short sends resumed).
 * Returns 0, -EBUSY while output is pending, -EPIPE once our FIN or a close
 * was asked for.
 */
int engine_send(struct engine *e, struct conn *c, const void *buf, uint32_t len);
/*
 * Sends pre_len bytes of pre (the mode's, valid until mode->sent; may be
 * none), then len bytes of c's own input from its oldest unconsumed byte,
 * without a copy: one sendmsg carries both, the buffers still queued as
 * input. They are consumed as the send completes, and count against c's
 * share of the pool the way forwarded output does, so a slow reader stops
 * c's receive. Until mode->sent the mode must not consume, drop or forward
 * c's input (those calls are refused meanwhile). len is at most
 * engine_input_len() and ENGINE_SEND_INPUT_MAX (a mode that wants more
 * sends again after mode->sent). Returns 0, -EINVAL for a len beyond
 * those, -EBUSY while output is pending, -EPIPE once our FIN or a close
 * was asked for.
 */
#define ENGINE_SEND_INPUT_MAX UINT16_MAX
int engine_send_input(struct engine *e, struct conn *c, const void *pre, uint32_t pre_len,
		      uint32_t len);
/* True while output is queued or a send is in flight. */
bool engine_sending(const struct conn *c);
/*
 * Moves all of from's input to the end of to's output, without a copy
 * (from == to echoes). When to holds enough, from stops receiving until to
 * has drained. Returns the bytes moved, or -EPIPE (input dropped) if to
 * cannot send.
 */
int engine_forward(struct engine *e, struct conn *from, struct conn *to);

/*
 * Opens an outbound connection (socket and connect as io_uring operations
 * into a direct descriptor; SYN_SENT until mode->connected). addr must stay
 * valid until then. Returns the connection, or NULL with -errno in *err.
 */
struct conn *engine_connect(struct engine *e, const struct net_addr *addr, uint32_t timeout_ms,
			    int *err);

/*
 * The same from the source address sources[src] (engine_params): bound
 * with IP_BIND_ADDRESS_NO_PORT before the connect, so the connect picks the
 * port and each (source, destination) pair has the whole ephemeral range.
 * A failed bind is the connect's error (EADDRNOTAVAIL, ...).
 */
struct conn *engine_connect_from(struct engine *e, const struct net_addr *addr, unsigned src,
				 uint32_t timeout_ms, int *err);

/*
 * A client context for the TLS connections this engine makes (the engine
 * needs tls_client set): built from s (copied), kept until the engine goes,
 * and holding the session its last connection got, offered to the next
 * (s->resume): one context per (server, name, verification) keeps the
 * sessions apart. Returns 0, or -EINVAL with one line in err.
 */
int engine_tls_client(struct engine *e, const struct tls_client_settings *s,
		      struct engine_tls_client **out, char *err, size_t err_len);
/*
 * c, just returned by engine_connect(), speaks TLS once connected: the
 * handshake runs before mode->connected, which then hears 0, or an error
 * (-ECONNABORTED: the handshake failed, counted; -ETIMEDOUT: it did not
 * finish within the connect timeout). sni: the name sent, and verified when
 * the context verifies (NULL: none). Returns 0 or -errno.
 */
int engine_connect_tls(struct engine *e, struct conn *c, struct engine_tls_client *tc,
		       const char *sni);
/*
 * After engine_connect_tls: len bytes sent in the clear before the
 * ClientHello (a PROXY protocol header, which must precede TLS). Returns 0,
 * -EINVAL (not a TLS connection still connecting, or called twice) or
 * -ENOBUFS (then reset the connection).
 */
int engine_tls_preamble(struct engine *e, struct conn *c, const void *buf, uint32_t len);
/*
 * What a TLS connection negotiated, for reports and logs: version and
 * cipher names (static strings), resumed, ALPN; false for a plain one.
 */
struct engine_tls_info {
	const char *version;
	const char *cipher;
	const char *group;
	bool resumed;
	char alpn[32];
	char sni[64];
	bool cert;	    /* the peer presented a certificate */
	bool cert_verified; /* ... and it verified */
	char cn[64];	    /* its subject's CN */
};
bool engine_tls_info(struct engine *e, const struct conn *c, struct engine_tls_info *info);
/*
 * When the TCP connect of c, a TLS connection made out, completed and its
 * handshake began: CLOCK_MONOTONIC in ns (the engine clock's milliseconds
 * are too coarse for a handshake). mode->connected hears only of the
 * handshake's end, so a client times the two apart with this. 0 for a
 * plain connection, or one whose TCP connect has not completed.
 */
uint64_t engine_tls_connect_ns(struct engine *e, const struct conn *c);
/*
 * Inside mode->connected(e, c, -ECONNABORTED) of a TLS connection made out:
 * why its handshake failed, one line in buf (the certificate's verify
 * error, else OpenSSL's reason, else that the server closed). Returns its
 * length; 0 (buf empty) when there is nothing to tell.
 */
size_t engine_tls_error(struct engine *e, const struct conn *c, char *buf, size_t len);

/*
 * A reload: new connections handshake with next (made from re-read
 * certificates, tls_ctx_new), which the engine owns from now on; running
 * connections keep the context they began with. The one replaced is freed
 * once no handshake is in progress. The owner's thread only.
 */
void engine_tls_swap(struct engine *e, struct tls_ctx *next);
/* ... for listener i's accepted connections. */
void engine_tls_swap_on(struct engine *e, unsigned listener, struct tls_ctx *next);

/* Our FIN once output has drained; receiving continues (half-close). */
void engine_shutdown(struct engine *e, struct conn *c);

enum engine_close {
	ENGINE_CLOSE,	     /* after output drains: a plain close (our FIN) */
	ENGINE_CLOSE_LINGER, /* after output: FIN, then read and drop until the peer's FIN */
	ENGINE_CLOSE_NOW,    /* now: a plain close; queued output is dropped */
	ENGINE_CLOSE_RESET,  /* now: RST (SO_LINGER 0); queued output is dropped */
};
void engine_close(struct engine *e, struct conn *c, enum engine_close how);
/* Makes the engine look at c again (after the mode's own state changed). */
void engine_wake(struct engine *e, struct conn *c);
/*
 * Writes len bytes of buf to fd (a log file, stdout) as an io_uring write,
 * so the loop never blocks on it; mode->written(token, res) says how it
 * went (res: bytes written or -errno). buf must stay untouched until then.
 * token: at most 0xffff. Returns 0 or -errno (nothing was submitted).
 */
int engine_write(struct engine *e, int fd, const void *buf, uint32_t len, uint32_t token);
/*
 * Calls mode->expired(c) once the engine clock reaches at_ms (0: no deadline),
 * at the first engine tick (100 ms apart) at or after it. O(1); moving a
 * deadline later costs nothing until the earlier one would have come.
 */
void engine_set_deadline(struct engine *e, struct conn *c, uint64_t at_ms);
/*
 * Calls mode->timer once the engine clock reaches at_ms (0: never), at the
 * first engine tick (100 ms apart) at or after it: one timer per listener,
 * each call replacing the one before, none for a connection. For a mode's
 * work on a schedule of its own, finer than mode->tick's second.
 */
void engine_set_timer(struct engine *e, uint64_t at_ms);
/*
 * True once a graceful stop began (engine_drain), or the listener whose
 * callback runs was retired: a mode may tell its peers to go.
 */
bool engine_draining(const struct engine *e);
/* The deadline set last (engine clock, ms), or 0. */
uint64_t engine_deadline(const struct engine *e, const struct conn *c);

/* True after the peer's FIN; true once our FIN is out or asked for. */
static inline bool engine_peer_done(const struct conn *c)
{
	return c->rx & CONN_RX_EOF;
}

static inline bool engine_closing(const struct conn *c)
{
	return c->life & (CONN_L_CLOSE_WANTED | CONN_L_DEAD);
}

/* In mode->closed: the connection ended by a reset, an error or a failed connect. */
static inline bool engine_aborted(const struct conn *c)
{
	return c->state == TCPS_CLOSED;
}

/* Connected, and its TLS handshake (if any) done: the mode may send. */
static inline bool engine_connected(const struct conn *c)
{
	return !(c->life & (CONN_L_CONNECTING | CONN_L_HANDSHAKE));
}

#endif
