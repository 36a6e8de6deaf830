/* SPDX-License-Identifier: MIT */
#ifndef RINGER_ENGINE_INT_H
#define RINGER_ENGINE_INT_H

/*
 * The engine's inside, shared by the files of src/engine/ and by nothing
 * else: modes and owners see include/ringer/engine.h only. One file per part
 * of a connection's life, in the order a connection meets them:
 *
 *   accept.c       a client arrives: the listener's accepts, the new connection
 *   preamble.c     its PROXY protocol header, before the mode hears of it
 *   connect.c      or we connect out: socket, options, bind, connect
 *   recv.c         receiving, and the shares of the one buffer pool
 *   send.c         sending: the mode's bytes, queued buffers, echoed input
 *   close.c        the end: our FIN, close or reset, the release of the slot
 *   timers.c       every connection's timeouts, and the drain
 *
 * and around them:
 *
 *   engine.c       the decision loop (eng_kick), the owner's side (create,
 *                  completions, flush, tick) and the modes' API
 *   engine_next.c  the decision itself, a pure function of the flags
 *   conn_info.c    what /connections shows of a connection
 *   shard.c        a server shard's loop around one engine
 *   sock.c         the listeners, set up at startup
 *
 * A function one file calls in another is prefixed eng_ and declared at the
 * end of this header; everything else stays static in its file.
 */
#include "ringer/engine.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "ringer/user_data.h"
#include "transport.h"

#define PAUSE_AT	8 /* most buffers queued (input, or output of a destination) before recv pauses */
#define LINGER_MS	5000 /* after our FIN, how long we wait for the peer's */
#define FILE_SLOT_EXTRA 64   /* fixed-file slots beyond max-conns, to refuse cleanly */
#define KICK_MAX	64   /* actions per kick; each changes what the next is decided from */
#define ACCEPT_SLOTS	16   /* single-shot accepts in flight when peer addresses are wanted */
#define DRAIN_QUIET_MS	200 /* draining: no traffic this long, nothing held, receive armed -> FIN */
#define SEND_IOV_MAX	8   /* queued buffers one sendmsg carries */
#define STARVED_SEND_MS 1000 /* the send timeout of a buffer holder while the pool runs dry */
#define OUTQ_POLL_MS	1000 /* in FIN_WAIT_1, how often we ask whether our FIN was acknowledged */
#define NO_SLOT		UD_SLOT_MAX
#define LIST_END	UINT32_MAX

/*
 * A send of several queued buffers is one sendmsg: its header and iovec live
 * here, one per slot, until the send completes (one send in flight per
 * connection). A mapping touched only by connections that send that way.
 */
struct send_vec {
	struct msghdr msg;
	struct iovec iov[SEND_IOV_MAX];
};

/*
 * What /connections shows of a connection beyond struct conn, one per slot,
 * kept only with engine_params.conn_info (the admin port): when it began,
 * bytes each way, and who the peer is, with the kernel's socket cookie to
 * find the same socket in an inet_diag dump. The cookie and an accepted
 * peer's address are written by the kernel (getsockopt commands on the
 * direct descriptor); the counters by this engine's thread. Other threads
 * read them with relaxed loads.
 */
struct conn_info {
	uint64_t cookie;
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint32_t since_ms;
	uint32_t peer_len;
	struct sockaddr_in6 peer; /* or a sockaddr_in */
};

/*
 * A listener's part of the engine (engine.h: struct engine_listener_params):
 * its mode, what its accepted connections do first, its timeouts and its
 * counters.
 */
struct eng_listener {
	const struct mode_ops *mode;
	void *mode_data;
	struct stats *stats;
	uint32_t max_clients; /* accepted connections allowed at once */
	uint32_t clients;     /* accepted connections now */
	uint32_t idle_ms;
	uint32_t send_ms;
	uint32_t send_due;	  /* a send starting: due this long after last_active (0: never) */
	uint32_t send_due_queued; /* ... and for a send of queued buffers */
	uint32_t pp_ms;		  /* accept_proxy: how long the header may take */
	bool accept_proxy;
	bool peer_addrs;     /* accept with addresses: single-shot accepts, ACCEPT_SLOTS of them */
	bool inited;	     /* mode->init succeeded: fini is due */
	bool retired;	     /* engine_retire_listener(): its connections drain */
	int family;	     /* of its first socket */
	struct tls_ctx *tls; /* accepted connections speak TLS; NULL: plain */
	struct tls_ctx *tls_old; /* replaced by a reload; freed once no handshake is in progress */
	uint64_t timer_ms;	 /* engine_set_timer(): mode->timer is due then; 0: none */
};

/* A listening socket: its accepts in flight, and their address buffers. */
struct eng_sock {
	int fd;
	uint8_t lsn;
	bool closed;		    /* engine_unlisten(): no accepts armed again */
	unsigned accept_armed;	    /* accepts in flight */
	uint16_t accept_slot_armed; /* bit per address slot */
	struct sockaddr_storage acc_addr[ACCEPT_SLOTS];
	socklen_t acc_len[ACCEPT_SLOTS];
};

struct engine {
	struct ring *ring;
	struct proxy_proto_parser *pp; /* per slot, with accept_proxy: the header being read */
	size_t pp_bytes;
	struct sockaddr_storage pp_src; /* the header's source, while the mode hears of it */
	struct conn_info *info;		/* NULL without conn_info */
	size_t info_bytes;
	struct send_vec *vecs;
	size_t vecs_bytes;
	struct bufring bufs;
	struct conn_slab slab;
	/*
	 * The listener whose connection (or callback) is being served: its
	 * counters are stats, its mode's data what engine_mode_data() gives.
	 */
	struct eng_listener lst[ENGINE_MAX_LISTENERS];
	unsigned n_lst;
	unsigned cur;
	struct stats *stats;
	struct eng_sock *socks[ENGINE_MAX_SOCKETS];
	unsigned n_socks;
	uint64_t now_ms;
	uint32_t hold_max;  /* buffers one connection may queue (input, or output it feeds) */
	uint32_t resume_at; /* ... and how few before a paused one receives again */
	uint32_t reserve;   /* free buffers below this: the pool is under pressure */
	bool direct;	    /* accepted connections are direct descriptors */
	bool sockopt_cmd;   /* setsockopt works as an io_uring command (kernel 6.7+) */
	const struct net_addr *sources; /* engine_connect_from()'s, the caller's */
	unsigned n_sources;
	bool accept_backoff;
	bool draining;
	bool bundle;	       /* recv bundles: one CQE for several buffers (kernel 6.10+) */
	unsigned accept_armed; /* accepts in flight, over every socket */
	uint32_t max_clients;  /* accepted connections allowed at once, every listener */
	uint32_t clients;      /* accepted connections now */
	const struct sockaddr *cur_peer; /* the peer of the connection being accepted */
	socklen_t cur_peer_len;
	uint32_t nobufs_head; /* connections waiting for buffers, linked through conn->link */
	struct wheel timers;  /* every connection's next timeout (see timers.c) */
	bool clock_set;	      /* the wheel's time has been set from the engine clock */
	uint32_t connect_timeout_ms;
	uint32_t writes; /* engine_write()s in flight */
	int ka[4]; /* SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT values; ka[0] 0: off */
	int user_timeout; /* TCP_USER_TIMEOUT on connections made out, ms; 0: not set */
	struct __kernel_timespec connect_ts; /* read by the kernel when the connect is submitted */
	/* TLS (transport_tls.c); tlsc NULL: every connection is plain */
	struct tls_conn *tlsc; /* per slot */
	size_t tlsc_bytes;
	uint32_t tls_dirty; /* connections to read this iteration, linked through tls_conn.next */
	uint32_t tls_wait;  /* ... waiting for pool buffers */
	uint32_t
		tls_later; /* ... left by the handshake budget for the next iteration, oldest first */
	uint32_t tls_later_tail;
	uint32_t handshakes;		       /* in progress now */
	struct engine_tls_client *tls_clients; /* engine_tls_client()'s, freed with the engine */
};

/*
 * From here on the engine serves listener i: its counters, its mode's data.
 * Returns the listener served before, for eng_leave().
 */
static inline unsigned eng_enter(struct engine *e, unsigned i)
{
	unsigned was = e->cur;

	e->cur = i;
	e->stats = e->lst[i].stats;
	return was;
}

static inline void eng_leave(struct engine *e, unsigned was)
{
	e->cur = was;
	e->stats = e->lst[was].stats;
}

/* c's listener, entered: the callbacks below run as it. */
static inline const struct mode_ops *eng_mode(struct engine *e, const struct conn *c)
{
	return e->lst[c->lsn].mode;
}

static inline struct eng_listener *eng_lst(struct engine *e, const struct conn *c)
{
	return &e->lst[c->lsn];
}

/*
 * Calls c's mode's callback cb (when it has one) as c's listener. Entry
 * points (a completion, a timer, the TLS pass) enter the listener already;
 * this keeps a callback right wherever it is called from.
 */
#define ENG_CALL(e, c, cb, ...)                                   \
	do {                                                      \
		const struct mode_ops *m_ = eng_mode((e), (c));   \
		if (m_->cb) {                                     \
			unsigned was_ = eng_enter((e), (c)->lsn); \
			m_->cb((e), (c), ##__VA_ARGS__);          \
			eng_leave((e), was_);                     \
		}                                                 \
	} while (0)

/* The connection runs over TLS: the few places where plain and TLS differ ask this. */
static inline bool eng_tls_on(const struct engine *e, const struct conn *c)
{
	return e->tlsc && (e->tlsc[c->slot].flags & TLS_F_ON);
}

/* OpenSSL holds the connection's record buffers: given back once it is idle (eng_tls_idle). */
static inline bool eng_tls_bufs(const struct engine *e, const struct conn *c)
{
	return e->tlsc && (e->tlsc[c->slot].flags & TLS_F_BUFS);
}

static inline uint64_t conn_ud(struct engine *e, struct conn *c, unsigned op)
{
	return ud_encode(op, c->gen, conn_slot(&e->slab, c));
}

static inline bool conn_fixed(const struct conn *c)
{
	return c->life & CONN_L_FIXED;
}

static inline uint32_t now32(const struct engine *e)
{
	return (uint32_t)e->now_ms;
}

/* ---- timers (timers.c says how they work) ------------------------------------------------- */

/* a comes before b on the 32-bit millisecond clock, which wraps. */
static inline bool before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

/* A time already passed is looked at on the next tick. */
static inline uint32_t not_past(const struct engine *e, uint32_t at)
{
	return before(now32(e), at) ? at : now32(e) + 1;
}

/* c's timer fires at at or earlier. */
static inline void timer_at(struct engine *e, struct conn *c, uint32_t at)
{
	at = not_past(e, at);
	if (!wheel_armed(&c->timer) || before(at, c->timer.expires))
		wheel_arm(&e->timers, c->slot, at);
}

/* A send starts: the stalled-send, starved-send and idle timeouts count from last_active. */
static inline void timer_send(struct engine *e, struct conn *c)
{
	const struct eng_listener *l = &e->lst[c->lsn];
	uint32_t due = c->out_count ? l->send_due_queued : l->send_due;

	if (due)
		timer_at(e, c, c->last_active_ms + due);
}

/* In FIN_WAIT_1 the kernel is asked (SIOCOUTQ) whether the peer acknowledged our FIN. */
static inline bool fin_polled(const struct engine *e, const struct conn *c)
{
	return c->state == TCPS_FIN_WAIT_1 && conn_fixed(c) && e->sockopt_cmd;
}

/* ---- the buffer pool (recv.c says how it is shared) --------------------------------------- */

static inline uint32_t bufs_free(const struct engine *e)
{
	return e->bufs.count - e->bufs.outstanding;
}

static inline bool pool_pressed(const struct engine *e)
{
	return bufs_free(e) < e->reserve;
}

/* ---- connection info (conn_info.c) -------------------------------------------------------- */

/* Only this engine's thread writes a counter; other threads read it with relaxed loads. */
static inline void info_add(uint64_t *counter, int res)
{
	__atomic_store_n(counter, *counter + (uint64_t)res, __ATOMIC_RELAXED);
}

/* ---- shared between the engine's files ---------------------------------------------------- */

/* engine.c */
void eng_kick(struct engine *e, struct conn *c);

/* accept.c */
void eng_arm_accept(struct engine *e);
void eng_on_accept(struct engine *e, const struct io_uring_cqe *cqe);
void eng_cancel_accepts(struct engine *e, unsigned sock);

/* preamble.c */
void eng_preamble_fail(struct engine *e, struct conn *c);
void eng_preamble_readable(struct engine *e, struct conn *c);

/* connect.c */
void eng_on_socket(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe);
void eng_on_bind(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe);
void eng_on_connect(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe);
/* An outbound connection failed (err): the mode hears it, then the slot goes. */
void eng_fail_connect(struct engine *e, struct conn *c, int err);

/* recv.c */
void eng_pop_input(struct engine *e, struct conn *c);
void eng_pop_output(struct engine *e, struct conn *c);
void eng_wake_feeder(struct engine *e, struct conn *c);
void eng_arm_recv(struct engine *e, struct conn *c);
void eng_pause_recv(struct engine *e, struct conn *c);
void eng_nobufs_unlink(struct engine *e, struct conn *c);
void eng_nobufs_wake(struct engine *e);
unsigned eng_cqe_buffers(struct engine *e, const struct io_uring_cqe *cqe, uint16_t *bids);
void eng_on_recv(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe);

/* send.c */
void eng_start_send(struct engine *e, struct conn *c);
void eng_on_send(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe);

/* close.c */
void eng_maybe_release(struct engine *e, struct conn *c);
void eng_issue_close(struct engine *e, struct conn *c, bool reset);
void eng_abort_conn(struct engine *e, struct conn *c);
void eng_do_close(struct engine *e, struct conn *c);
void eng_do_shutdown(struct engine *e, struct conn *c);
void eng_ask_fin_acked(struct engine *e, struct conn *c);
void eng_on_outq(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe);
void eng_on_shutdown(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe);
void eng_on_done(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe);
void eng_on_close(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe);
void eng_on_sockopt(struct engine *e, struct conn *c, const struct io_uring_cqe *cqe);

/* timers.c */
void eng_timer_update(struct engine *e, struct conn *c);
void eng_drain_conns(struct engine *e, unsigned listener);
void eng_on_timer(void *arg, uint32_t slot);

/* conn_info.c */
void eng_info_begin(struct engine *e, struct conn *c, const struct sockaddr *peer, socklen_t len);
void eng_info_query(struct engine *e, struct conn *c);

#endif
