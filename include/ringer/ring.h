/* SPDX-License-Identifier: MIT */
#ifndef RINGER_RING_H
#define RINGER_RING_H

/*
 * The ring module: the only code that talks to liburing. It owns ring setup
 * (with fallbacks for refused flags), the SQE getter, the submit-and-wait call
 * and every prep helper the loops use, plus the provided-buffer ring.
 *
 * Everything returns 0 or a negative errno, as the kernel would in cqe->res.
 * Debian 12 ships liburing 2.3: where the kernel (6.x) offers more than 2.3
 * knows, ring.c fills the SQE fields by hand and names the kernel version.
 */
#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#if RINGER_FAULT_INJECTION
#include "ringer/fault.h"
#endif

/* Kernel 6.10 names liburing 2.3 does not have. */
#define RING_FEAT_RECVSEND_BUNDLE (1U << 14)
#define RING_RECVSEND_BUNDLE	  (1U << 4)

struct sockaddr;
struct msghdr;

struct ring {
	struct io_uring uring;
	unsigned setup_flags; /* IORING_SETUP_* actually in force */
	unsigned features;    /* IORING_FEAT_* reported by the kernel */
	bool ring_fd_registered;
	bool restricted;	/* ring_restrict(): only the opcodes ringer uses */
	bool multishot_timeout; /* kernel 6.4+: IORING_TIMEOUT_MULTISHOT works */
	bool recv_limit;	/* multishot recv takes a total byte limit (sqe->optlen) */
	bool recv_bundle;	/* a recv may fill several buffers per CQE (kernel 6.10+) */
	unsigned sq_entries;
	unsigned cq_entries;
	uint64_t early_submits; /* SQ was full: ring_sqe() submitted to make room */
#if RINGER_FAULT_INJECTION
	struct ring_fault *fault; /* -Dfault_injection=true: include/ringer/fault.h */
#endif
};

/*
 * Sets up a ring of sq_entries with a CQ cq_factor times larger, asking for
 * SINGLE_ISSUER | DEFER_TASKRUN | COOP_TASKRUN | SUBMIT_ALL and dropping what
 * the kernel refuses. note (may be NULL) receives a human line describing the
 * flags in force and any fallback taken. Must be called on the thread that
 * will submit (SINGLE_ISSUER binds the ring to it).
 */
int ring_init(struct ring *r, unsigned sq_entries, unsigned cq_factor, char *note, size_t note_len);
/*
 * The same; restricted: the ring is created disabled, limited by ring_restrict()
 * before its probes run, then enabled (ringer's shards; ringer-load's rings are not).
 */
int ring_init_restricted(struct ring *r, unsigned sq_entries, unsigned cq_factor, bool restricted,
			 char *note, size_t note_len);
void ring_exit(struct ring *r);

/*
 * ring_restrict.c: limits a ring created with IORING_SETUP_R_DISABLED to the
 * SQE opcodes, SQE flags and register opcodes this module uses, then enables
 * it. Anything else then completes with -EACCES.
 */
int ring_restrict(struct ring *r);
/* Whether a ring can be set up at all: 0, or io_uring_setup's -errno. */
int ring_available(void);
/* One line for io_uring_setup's err: the cause (sysctl, seccomp, memlock) and the fix. */
const char *ring_unavailable(int err, char *buf, size_t len);

/* An SQE, submitting pending ones first if the SQ is full; NULL only if that fails. */
struct io_uring_sqe *ring_sqe(struct ring *r);

/* Submits pending SQEs and waits for at least wait_nr CQEs: the loop's one syscall. */
int ring_submit_and_wait(struct ring *r, unsigned wait_nr);
int ring_submit(struct ring *r);
/*
 * As ring_submit_and_wait, but gives up after timeout_ns with -ETIME. With
 * IORING_FEAT_EXT_ARG (kernel 5.11+) the timeout rides in the same
 * io_uring_enter call, so this is still the loop's one syscall.
 */
int ring_submit_and_wait_timeout(struct ring *r, unsigned wait_nr, uint64_t timeout_ns);

#if RINGER_FAULT_INJECTION
/* The same walk through the fault injection, which may hide, hold back or rewrite a CQE. */
#define ring_for_each_cqe(r, head, cqe) \
	for ((head) = fault_cq_begin(r); ((cqe) = fault_cq_next((r), &(head))) != NULL;)

static inline void ring_cq_advance(struct ring *r, unsigned n)
{
	if (r->fault)
		fault_cq_advance(r); /* by the CQEs walked, seen or not */
	else
		io_uring_cq_advance(&r->uring, n);
}
#else
#define ring_for_each_cqe(r, head, cqe) io_uring_for_each_cqe (&(r)->uring, head, cqe)

static inline void ring_cq_advance(struct ring *r, unsigned n)
{
	io_uring_cq_advance(&r->uring, n);
}
#endif

/* CQEs the kernel had to drop or buffer because the CQ was full (monotonic). */
static inline unsigned ring_cq_overflow(const struct ring *r)
{
	return io_uring_smp_load_acquire(r->uring.cq.koverflow);
}

/* Registers a sparse fixed-file table of nr slots for direct descriptors. */
int ring_register_files_sparse(struct ring *r, unsigned nr);

/*
 * Prep helpers. Each queues one SQE tagged with ud and returns 0, or -EBUSY
 * when no SQE could be had. "fixed" means fd is an index in the fixed-file
 * table (a direct descriptor), not a process fd.
 */
int ring_accept_multishot(struct ring *r, int listen_fd, bool direct, uint64_t ud);
/* One accept that also writes the peer's address (multishot would share one address buffer). */
int ring_accept_addr(struct ring *r, int listen_fd, bool direct, struct sockaddr *addr,
		     socklen_t *addrlen, uint64_t ud);
/*
 * max_total > 0 ends the multishot after that many bytes where the kernel
 * supports it (r->recv_limit); the caller re-arms, which bounds how much one
 * connection can take from the buffer ring before it looks at it again.
 */
int ring_recv_multishot(struct ring *r, int fd, bool fixed, uint16_t bgid, uint32_t max_total,
			bool bundle, uint64_t ud);
int ring_recv(struct ring *r, int fd, bool fixed, void *buf, size_t len, uint64_t ud);
int ring_send(struct ring *r, int fd, bool fixed, const void *buf, size_t len, int flags,
	      uint64_t ud);
int ring_sendmsg(struct ring *r, int fd, bool fixed, const struct msghdr *msg, int flags,
		 uint64_t ud);
int ring_shutdown(struct ring *r, int fd, bool fixed, int how, uint64_t ud);
int ring_close(struct ring *r, int fd, bool fixed, uint64_t ud);
int ring_cancel(struct ring *r, uint64_t target_ud, uint64_t ud);
int ring_cancel_fd(struct ring *r, int fd, bool fixed, uint64_t ud);
/* A socket installed straight into a free fixed-file slot (the slot comes back in cqe->res). */
int ring_socket_direct(struct ring *r, int domain, uint64_t ud);
/* setsockopt through io_uring (kernel 6.7+): works on direct descriptors. optval must outlive the op. */
int ring_setsockopt(struct ring *r, int fd, bool fixed, int level, int optname, const void *optval,
		    unsigned optlen, uint64_t ud);
/* write(2) at the file's position (offset -1: appends to an O_APPEND file). */
int ring_write(struct ring *r, int fd, const void *buf, unsigned len, uint64_t ud);
/* SIOCOUTQ as an io_uring command (kernel 6.7+): the CQE's res is the bytes not yet acked. */
int ring_outq(struct ring *r, int fd, bool fixed, uint64_t ud);
/* getsockopt as an io_uring command (kernel 6.7+; SOL_SOCKET options only): fills optval. */
int ring_getsockopt(struct ring *r, int fd, bool fixed, int level, int optname, void *optval,
		    unsigned optlen, uint64_t ud);
/*
 * One chain: [setsockopt TCP_NODELAY ->] connect [-> link timeout]. nodelay
 * (may be NULL) and timeout must outlive the submission; the address is
 * copied by the kernel when the connect is submitted.
 */
int ring_connect_linked(struct ring *r, int fd, bool fixed, const struct sockaddr *addr,
			unsigned len, const int *nodelay, struct __kernel_timespec *timeout,
			uint64_t ud_opt, uint64_t ud_connect, uint64_t ud_timeout);
/*
 * The head of a connect chain that binds first: [setsockopt
 * IP_BIND_ADDRESS_NO_PORT ->] bind ->, linked into the ring_connect_linked()
 * submitted right after it (the caller reserves both: ring_reserve(r, 5)).
 * NO_PORT leaves the port to the connect, so one source address serves
 * every destination with its own ephemeral ports. src and one must outlive
 * the submission. IORING_OP_BIND is kernel 6.11+.
 */
int ring_bind_linked(struct ring *r, int fd, const struct sockaddr *src, unsigned len,
		     const int *one, uint64_t ud_opt, uint64_t ud_bind);
/* Room for n SQEs now, submitting what is queued if needed: a chain must not be split. */
int ring_reserve(struct ring *r, unsigned n);
/* setsockopt(SO_LINGER 0) -> close, linked: the peer gets a RST. */
int ring_close_reset(struct ring *r, int fd, bool fixed, uint64_t ud_opt, uint64_t ud_close);
/* 0 when setsockopt works as an io_uring command here, else the kernel's -errno. */
int ring_probe_setsockopt(struct ring *r);
int ring_nop(struct ring *r, uint64_t ud);
/* A timeout that fires every ts and keeps going (multishot, kernel 6.4+), or once. */
int ring_tick(struct ring *r, struct __kernel_timespec *ts, bool multishot, uint64_t ud);
int ring_timeout_remove(struct ring *r, uint64_t target_ud, uint64_t ud);

/* True when the running kernel supports multishot timeouts (probed in ring_init). */
bool ring_has_multishot_timeout(const struct ring *r);

/*
 * A provided-buffer ring: count buffers of size bytes each in one mapping,
 * registered as buffer group bgid. The kernel picks a buffer per recv and
 * says which in the CQE; the owner gives it back with bufring_put() and
 * publishes returned buffers in one store with bufring_flush().
 */
struct bufring {
	struct io_uring_buf_ring *br;
	uint8_t *mem;
	size_t ring_bytes;
	size_t mem_bytes;
	uint32_t buf_size;
	uint32_t count;
	uint32_t mask;
	uint32_t pending;
	uint32_t outstanding; /* buffers the kernel has handed to us and we still hold */
	uint16_t bgid;
	struct ring *ring;
	/* Per buffer, while userspace holds it: bytes in it, and the next in its owner's chain. */
	uint32_t *len;
	uint16_t *next;
	/*
	 * Where each buffer sits in the ring, and which buffer each ring entry
	 * holds: a bundle CQE names its first buffer only, and the rest are the
	 * ring entries that follow it.
	 */
	uint16_t *at;  /* ring position (mod count) -> buffer id */
	uint16_t *pos; /* buffer id -> ring position it was last added at */
	uint16_t tail; /* ring position of the next buffer added */
	/*
	 * A pool of buffers the kernel never sees, ids count .. count +
	 * pool_size - 1, in the same table (len, next) so they chain, queue and
	 * forward exactly like received ones: the TLS transport's plaintext and
	 * ciphertext. bufring_put() returns either kind where it came from.
	 */
	uint16_t *pool; /* free pool ids, a stack */
	uint32_t pool_size;
	uint32_t pool_free;
};

/* count must be a power of two, at most 32768. */
int bufring_init(struct bufring *b, struct ring *r, uint16_t bgid, uint32_t count,
		 uint32_t buf_size);
/* The same with extra pool buffers beside the ring (at most 32767). */
int bufring_init_pool(struct bufring *b, struct ring *r, uint16_t bgid, uint32_t count,
		      uint32_t buf_size, uint32_t extra);
void bufring_exit(struct bufring *b);

static inline uint8_t *bufring_buf(const struct bufring *b, uint16_t bid)
{
	return b->mem + (size_t)bid * b->buf_size;
}

/* The buffer id a CQE carries, or -1 when IORING_CQE_F_BUFFER is clear. */
static inline int bufring_cqe_bid(const struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		return -1;
	return (int)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
}

/* Notes that a CQE handed us a buffer; pairs with bufring_put(). */
static inline void bufring_take(struct bufring *b)
{
	b->outstanding++;
}

/* A pool buffer's id, or -1 when the pool is empty. */
static inline int bufring_pool_get(struct bufring *b)
{
	return b->pool_free ? (int)b->pool[--b->pool_free] : -1;
}

static inline bool bufring_is_pool(const struct bufring *b, uint16_t bid)
{
	return bid >= b->count;
}

static inline void bufring_put(struct bufring *b, uint16_t bid)
{
	uint16_t p = (uint16_t)(b->tail + b->pending);

	if (bufring_is_pool(b, bid)) {
		b->pool[b->pool_free++] = bid;
		return;
	}

	io_uring_buf_ring_add(b->br, bufring_buf(b, bid), b->buf_size, bid, (int)b->mask,
			      (int)b->pending);
	b->at[p & b->mask] = bid;
	b->pos[bid] = p;
	b->pending++;
	b->outstanding--;
}

/* The i-th buffer of a bundle that starts at buffer first. */
static inline uint16_t bufring_bundle_bid(const struct bufring *b, uint16_t first, unsigned i)
{
	return b->at[(uint16_t)(b->pos[first] + i) & b->mask];
}

/* How many buffers a bundle of res bytes filled (each one full but the last). */
static inline unsigned bufring_bundle_count(const struct bufring *b, int res)
{
	return res > 0 ? ((unsigned)res + b->buf_size - 1) / b->buf_size : 1;
}

static inline void bufring_flush(struct bufring *b)
{
	if (b->pending) {
		io_uring_buf_ring_advance(b->br, (int)b->pending);
		b->tail = (uint16_t)(b->tail + b->pending);
		b->pending = 0;
	}
}

#endif
