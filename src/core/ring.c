// SPDX-License-Identifier: MIT
/*
 * Ring setup and the prep helpers: the only file that calls liburing.
 */
#include "ringer/ring.h"

#if RINGER_FAULT_INJECTION
#include "ringer/user_data.h"
#endif

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

/* Multishot timeouts arrived in kernel 6.4; liburing 2.3 does not know the flag. */
#ifndef IORING_TIMEOUT_MULTISHOT
#define IORING_TIMEOUT_MULTISHOT (1U << 6)
#endif

/*
 * Does a multishot recv accept a total byte limit? Kernels without it refuse
 * a nonzero optlen/file_index with -EINVAL at prep; kernels with it get past
 * prep and fail buffer selection on a group that does not exist (-ENOBUFS)
 * or wait for data, which the cancel below ends.
 */
static bool probe_recv_limit(struct ring *r)
{
	struct __kernel_timespec ts = {.tv_sec = 1};
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int sv[2], res = -EINVAL, seen = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return false;
	sqe = io_uring_get_sqe(&r->uring);
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0xfffe;
	sqe->file_index = 4096;
	sqe->user_data = 3;
	io_uring_submit(&r->uring);
	if (io_uring_wait_cqe_timeout(&r->uring, &cqe, &ts) == 0) {
		res = cqe->res;
		seen = 1;
		io_uring_cqe_seen(&r->uring, cqe);
	}
	if (!seen || (cqe && (cqe->flags & IORING_CQE_F_MORE))) {
		sqe = io_uring_get_sqe(&r->uring);
		io_uring_prep_cancel64(sqe, 3, 0);
		sqe->user_data = 4;
		io_uring_submit_and_wait(&r->uring, 1);
		while (io_uring_wait_cqe_timeout(&r->uring, &cqe, &ts) == 0) {
			if (!seen && cqe->user_data == 3)
				res = cqe->res;
			io_uring_cqe_seen(&r->uring, cqe);
			if (cqe->user_data == 4)
				break;
		}
		if (!seen && res == -ECANCELED)
			res = 0;
	}
	close(sv[0]);
	close(sv[1]);
	return res != -EINVAL;
}

/*
 * Try the full flag set first, then drop flags one at a time in the order
 * the kernel added them (DEFER_TASKRUN 6.1, SINGLE_ISSUER 6.0, COOP_TASKRUN
 * 5.19, SUBMIT_ALL 5.18) so an older kernel still gets what it has.
 */
int ring_init(struct ring *r, unsigned sq_entries, unsigned cq_factor, char *note, size_t note_len)
{
	return ring_init_restricted(r, sq_entries, cq_factor, false, note, note_len);
}

/*
 * Restricted: created disabled (R_DISABLED, kernel 5.10+), its ring fd
 * registered, then ring_restrict() (ring_restrict.c) before the probes below,
 * which are the first SQEs it sees. Never SQPOLL: a kernel thread polling
 * the SQ would submit with this process's credentials outside its loop.
 */
int ring_init_restricted(struct ring *r, unsigned sq_entries, unsigned cq_factor, bool restricted,
			 char *note, size_t note_len)
{
	static const struct {
		unsigned flag;
		const char *name;
	} optional[] = {
		{IORING_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN"},
		{IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER"},
		{IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN"},
		{IORING_SETUP_SUBMIT_ALL, "SUBMIT_ALL"},
	};
	unsigned want = IORING_SETUP_CQSIZE;
	char dropped[128] = "";
	size_t i;
	int ret;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < sizeof(optional) / sizeof(optional[0]); i++)
		want |= optional[i].flag;
	if (restricted)
		want |= IORING_SETUP_R_DISABLED;
	if (cq_factor < 1)
		cq_factor = 1;

	for (i = 0;; i++) {
		struct io_uring_params p;

		memset(&p, 0, sizeof(p));
		p.flags = want;
		p.cq_entries = sq_entries * cq_factor;
		ret = io_uring_queue_init_params(sq_entries, &r->uring, &p);
		if (ret == 0) {
			r->setup_flags = p.flags;
			r->features = p.features;
			r->sq_entries = p.sq_entries;
			r->cq_entries = p.cq_entries;
			break;
		}
		if (ret != -EINVAL || i == sizeof(optional) / sizeof(optional[0]))
			return ret;
		/* DEFER_TASKRUN requires SINGLE_ISSUER, so drop them from the front. */
		want &= ~optional[i].flag;
		strncat(dropped, " ", sizeof(dropped) - strlen(dropped) - 1);
		strncat(dropped, optional[i].name, sizeof(dropped) - strlen(dropped) - 1);
	}

	r->ring_fd_registered = io_uring_register_ring_fd(&r->uring) == 1;
	if (r->setup_flags & IORING_SETUP_SQPOLL) {
		io_uring_queue_exit(&r->uring);
		return -EINVAL; /* never asked for (see above): a check, not a fallback */
	}
	if (restricted) {
		ret = ring_restrict(r);
		if (ret) {
			io_uring_queue_exit(&r->uring);
			return ret;
		}
		r->restricted = true;
	}

	/* Probe multishot timeouts once: a NOP-like timeout with the flag, removed at once. */
	{
		struct __kernel_timespec ts = {.tv_sec = 3600};
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);
		struct io_uring_cqe *cqe;
		bool ok = false;

		io_uring_prep_timeout(sqe, &ts, 0, IORING_TIMEOUT_MULTISHOT);
		sqe->user_data = 1;
		sqe = io_uring_get_sqe(&r->uring);
		io_uring_prep_timeout_remove(sqe, 1, 0);
		sqe->user_data = 2;
		io_uring_submit_and_wait(&r->uring, 2);
		for (int n = 0; n < 2 && io_uring_wait_cqe(&r->uring, &cqe) == 0; n++) {
			if (cqe->user_data == 1)
				ok = cqe->res == -ECANCELED;
			io_uring_cqe_seen(&r->uring, cqe);
		}
		r->multishot_timeout = ok;
	}

	r->recv_limit = probe_recv_limit(r);
	/* Kernel 6.10+: a recv may fill several provided buffers and post one CQE (a bundle). */
	r->recv_bundle = r->features & RING_FEAT_RECVSEND_BUNDLE;

	if (note && note_len)
		snprintf(
			note, note_len, "ring: sq %u cq %u flags 0x%x%s%s%s%s%s%s%s", r->sq_entries,
			r->cq_entries, r->setup_flags, dropped[0] ? " (refused:" : "", dropped,
			dropped[0] ? ")" : "", r->ring_fd_registered ? " registered-fd" : "",
			r->restricted ? " restricted" : "",
			r->recv_limit ? (r->recv_bundle ? " recv-limit recv-bundle" : " recv-limit")
				      : (r->recv_bundle ? " recv-bundle" : ""),
			r->multishot_timeout ? " multishot-timeout" : "");
#if RINGER_FAULT_INJECTION
	fault_ring_init(r);
#endif
	return 0;
}

void ring_exit(struct ring *r)
{
#if RINGER_FAULT_INJECTION
	fault_ring_exit(r);
#endif
	io_uring_queue_exit(&r->uring);
}

bool ring_has_multishot_timeout(const struct ring *r)
{
	return r->multishot_timeout;
}

struct io_uring_sqe *ring_sqe(struct ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->uring);

#if RINGER_FAULT_INJECTION
	/* The SQ is full when the caller wants an entry: the path below, taken on purpose. */
	if (sqe && fault_pick(r, FAULT_SQ_FULL)) {
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, ud_encode(FAULT_UD_OP, 0, 1));
		sqe = NULL;
	}
#endif
	if (sqe)
		return sqe;
	/* SQ full: push what we have to the kernel and take a fresh slot. */
	r->early_submits++;
	if (io_uring_submit(&r->uring) < 0)
		return NULL;
	return io_uring_get_sqe(&r->uring);
}

int ring_submit_and_wait(struct ring *r, unsigned wait_nr)
{
#if RINGER_FAULT_INJECTION
	if (fault_cq_held(r))
		wait_nr = 0; /* completions held back from the last batch are ready now */
#endif
	return io_uring_submit_and_wait(&r->uring, wait_nr);
}

int ring_submit(struct ring *r)
{
	return io_uring_submit(&r->uring);
}

int ring_submit_and_wait_timeout(struct ring *r, unsigned wait_nr, uint64_t timeout_ns)
{
	struct __kernel_timespec ts = {
		.tv_sec = (long long)(timeout_ns / 1000000000u),
		.tv_nsec = (long long)(timeout_ns % 1000000000u),
	};
	struct io_uring_cqe *cqe;

#if RINGER_FAULT_INJECTION
	if (fault_cq_held(r))
		wait_nr = 0;
#endif
	return io_uring_submit_and_wait_timeout(&r->uring, &cqe, wait_nr, &ts, NULL);
}

int ring_register_files_sparse(struct ring *r, unsigned nr)
{
	return io_uring_register_files_sparse(&r->uring, nr);
}

#define GET_SQE(r, sqe)                \
	do {                           \
		(sqe) = ring_sqe(r);   \
		if (!(sqe))            \
			return -EBUSY; \
	} while (0)

#if RINGER_FAULT_INJECTION
/*
 * Fault injection (include/ringer/fault.h): an operation that fails at
 * submission is a NOP carrying the error under the operation's user_data;
 * an SQE the caller wants for I/O may not be had (-EBUSY).
 */
static int inject(struct ring *r, int err, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	GET_SQE(r, sqe);
	fault_prep_inject(sqe, err, ud);
	return 0;
}

#define FAULT_AT(r, g, ud)                              \
	do {                                            \
		int err_ = fault_pick((r), (g));        \
		if (err_)                               \
			return inject((r), err_, (ud)); \
	} while (0)
#define FAULT_BUSY(r)                                \
	do {                                         \
		if (fault_pick((r), FAULT_SQE_BUSY)) \
			return -EBUSY;               \
	} while (0)
#else
#define FAULT_AT(r, g, ud) \
	do {               \
	} while (0)
#define FAULT_BUSY(r) \
	do {          \
	} while (0)
#endif

static void set_fixed(struct io_uring_sqe *sqe, bool fixed)
{
	if (fixed)
		sqe->flags |= IOSQE_FIXED_FILE;
}

/*
 * Multishot accept. With direct set, the kernel installs each new socket in
 * a free slot of the fixed-file table (IORING_FILE_INDEX_ALLOC) and returns
 * the slot; liburing 2.3's multishot helper encodes that correctly, unlike
 * its single-shot accept_direct with IORING_FILE_INDEX_ALLOC.
 */
int ring_accept_multishot(struct ring *r, int listen_fd, bool direct, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	FAULT_BUSY(r);
	FAULT_AT(r, FAULT_ACCEPT, ud);
	GET_SQE(r, sqe);
	if (direct)
		io_uring_prep_multishot_accept_direct(sqe, listen_fd, NULL, NULL, 0);
	else
		io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_accept_addr(struct ring *r, int listen_fd, bool direct, struct sockaddr *addr,
		     socklen_t *addrlen, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	FAULT_BUSY(r);
	FAULT_AT(r, FAULT_ACCEPT, ud);
	GET_SQE(r, sqe);
	io_uring_prep_accept(sqe, listen_fd, addr, addrlen, direct ? 0 : SOCK_CLOEXEC);
	/*
	 * By hand: liburing 2.3's io_uring_prep_accept_direct() adds 1 to
	 * IORING_FILE_INDEX_ALLOC, which wraps to 0, "not direct" (fixed in 2.4).
	 */
	if (direct)
		sqe->file_index = IORING_FILE_INDEX_ALLOC;
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_recv_multishot(struct ring *r, int fd, bool fixed, uint16_t bgid, uint32_t max_total,
			bool bundle, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	FAULT_BUSY(r);
	FAULT_AT(r, FAULT_RECV, ud);
	GET_SQE(r, sqe);
	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	/* IORING_RECVSEND_BUNDLE (kernel 6.10+) is unknown to liburing 2.3: set by hand. */
	if (bundle && r->recv_bundle)
		sqe->ioprio |= RING_RECVSEND_BUNDLE;
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = bgid;
	/*
	 * The overall byte limit of a multishot recv (kernel 6.16+) lives in
	 * sqe->optlen, which shares its union with file_index, the only name
	 * liburing 2.3 knows for it.
	 */
	if (max_total && r->recv_limit)
		sqe->file_index = max_total;
	set_fixed(sqe, fixed);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_recv(struct ring *r, int fd, bool fixed, void *buf, size_t len, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	FAULT_BUSY(r);
	FAULT_AT(r, FAULT_RECV, ud);
	GET_SQE(r, sqe);
	io_uring_prep_recv(sqe, fd, buf, len, 0);
	set_fixed(sqe, fixed);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_send(struct ring *r, int fd, bool fixed, const void *buf, size_t len, int flags,
	      uint64_t ud)
{
	struct io_uring_sqe *sqe;

	FAULT_BUSY(r);
	FAULT_AT(r, FAULT_SEND, ud);
#if RINGER_FAULT_INJECTION
	/* A short send: the kernel sends part and says how much; the caller resumes. */
	if (len > 1 && fault_pick(r, FAULT_SEND_SHORT))
		len /= 2;
#endif
	GET_SQE(r, sqe);
	io_uring_prep_send(sqe, fd, buf, len, flags);
	set_fixed(sqe, fixed);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_sendmsg(struct ring *r, int fd, bool fixed, const struct msghdr *msg, int flags,
		 uint64_t ud)
{
	struct io_uring_sqe *sqe;

	FAULT_BUSY(r);
	FAULT_AT(r, FAULT_SEND, ud);
	GET_SQE(r, sqe);
	io_uring_prep_sendmsg(sqe, fd, msg, (unsigned)flags);
	set_fixed(sqe, fixed);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_shutdown(struct ring *r, int fd, bool fixed, int how, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	FAULT_BUSY(r);
	GET_SQE(r, sqe);
	io_uring_prep_shutdown(sqe, fd, how);
	set_fixed(sqe, fixed);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_close(struct ring *r, int fd, bool fixed, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	GET_SQE(r, sqe);
	if (fixed)
		io_uring_prep_close_direct(sqe, (unsigned)fd);
	else
		io_uring_prep_close(sqe, fd);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_cancel(struct ring *r, uint64_t target_ud, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	GET_SQE(r, sqe);
	io_uring_prep_cancel64(sqe, target_ud, 0);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

/* Cancels every operation on fd (kernel 5.19+; FD_FIXED for direct descriptors, 6.0+). */
int ring_cancel_fd(struct ring *r, int fd, bool fixed, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	GET_SQE(r, sqe);
	io_uring_prep_cancel_fd(
		sqe, fd, IORING_ASYNC_CANCEL_ALL | (fixed ? IORING_ASYNC_CANCEL_FD_FIXED : 0));
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

/* Room for n SQEs in one submission, so a linked chain is never split by an early submit. */
static int reserve(struct ring *r, unsigned n)
{
	if (io_uring_sq_space_left(&r->uring) >= n)
		return 0;
	r->early_submits++;
	if (io_uring_submit(&r->uring) < 0 || io_uring_sq_space_left(&r->uring) < n)
		return -EBUSY;
	return 0;
}

int ring_socket_direct(struct ring *r, int domain, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	FAULT_BUSY(r);
	FAULT_AT(r, FAULT_SOCKET, ud);
	GET_SQE(r, sqe);
	/* 2.3's _alloc helper encodes IORING_FILE_INDEX_ALLOC correctly (unlike accept_direct). */
	/* No SOCK_CLOEXEC: the kernel refuses it (EINVAL) for a socket that gets no fd. */
	io_uring_prep_socket_direct_alloc(sqe, domain, SOCK_STREAM, 0, 0);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

/*
 * setsockopt as an io_uring command (kernel 6.7+, SOCKET_URING_OP_SETSOCKOPT):
 * the only way to set an option on a direct descriptor, which has no process
 * fd. liburing 2.3 knows neither the command nor the SQE fields it uses, so
 * they are filled by hand: cmd_op in off, level and optname in the two
 * halves of addr, optlen where file_index lives, optval in addr3.
 */
#define RING_SOCKET_OP_SETSOCKOPT 3

static void prep_setsockopt(struct io_uring_sqe *sqe, int fd, bool fixed, int level, int optname,
			    const void *optval, unsigned optlen, uint64_t ud)
{
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = RING_SOCKET_OP_SETSOCKOPT;
	sqe->addr = (uint32_t)level | (uint64_t)(uint32_t)optname << 32;
	sqe->file_index = optlen;
	sqe->addr3 = (uint64_t)(uintptr_t)optval;
	set_fixed(sqe, fixed);
	io_uring_sqe_set_data64(sqe, ud);
}

int ring_setsockopt(struct ring *r, int fd, bool fixed, int level, int optname, const void *optval,
		    unsigned optlen, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	GET_SQE(r, sqe);
	prep_setsockopt(sqe, fd, fixed, level, optname, optval, optlen, ud);
	return 0;
}

int ring_write(struct ring *r, int fd, const void *buf, unsigned len, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	GET_SQE(r, sqe);
	io_uring_prep_write(sqe, fd, buf, len, (uint64_t)-1);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

/* ... and SOCKET_URING_OP_SIOCOUTQ: unsent plus unacknowledged bytes, our FIN included. */
#define RING_SOCKET_OP_SIOCOUTQ 1

int ring_outq(struct ring *r, int fd, bool fixed, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	GET_SQE(r, sqe);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = RING_SOCKET_OP_SIOCOUTQ;
	set_fixed(sqe, fixed);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

/* The same command's getsockopt (SOCKET_URING_OP_GETSOCKOPT): the kernel writes optval. */
#define RING_SOCKET_OP_GETSOCKOPT 2

int ring_getsockopt(struct ring *r, int fd, bool fixed, int level, int optname, void *optval,
		    unsigned optlen, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	GET_SQE(r, sqe);
	prep_setsockopt(sqe, fd, fixed, level, optname, optval, optlen, ud);
	sqe->cmd_op = RING_SOCKET_OP_GETSOCKOPT;
	return 0;
}

/* Not in liburing 2.3's headers: the kernel's opcode (6.11+) and sockopt, filled by hand. */
#define RING_OP_BIND		     56
#define RING_IP_BIND_ADDRESS_NO_PORT 24

int ring_reserve(struct ring *r, unsigned n)
{
	FAULT_BUSY(r);
	return reserve(r, n);
}

int ring_bind_linked(struct ring *r, int fd, const struct sockaddr *src, unsigned len,
		     const int *one, uint64_t ud_opt, uint64_t ud_bind)
{
	struct io_uring_sqe *sqe;

	if (one) {
		sqe = io_uring_get_sqe(&r->uring);
		if (!sqe)
			return -EBUSY;
		prep_setsockopt(sqe, fd, true,
				src->sa_family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP,
				RING_IP_BIND_ADDRESS_NO_PORT, one, sizeof(*one), ud_opt);
		sqe->flags |= IOSQE_IO_LINK;
	}
	sqe = io_uring_get_sqe(&r->uring);
	if (!sqe)
		return -EBUSY;
	/* bind(2) on a direct descriptor: addr is the sockaddr, addr2 its length. */
	io_uring_prep_rw(RING_OP_BIND, sqe, fd, src, 0, 0);
	sqe->addr2 = len;
	set_fixed(sqe, true);
	sqe->flags |= IOSQE_IO_LINK;
	io_uring_sqe_set_data64(sqe, ud_bind);
	return 0;
}

int ring_connect_linked(struct ring *r, int fd, bool fixed, const struct sockaddr *addr,
			unsigned len, const int *nodelay, struct __kernel_timespec *timeout,
			uint64_t ud_opt, uint64_t ud_connect, uint64_t ud_timeout)
{
	struct io_uring_sqe *sqe;
	int ret;

	FAULT_BUSY(r);
	ret = reserve(r, 3);
	if (ret)
		return ret;
	if (nodelay) {
		sqe = io_uring_get_sqe(&r->uring);
		prep_setsockopt(sqe, fd, fixed, IPPROTO_TCP, TCP_NODELAY, nodelay, sizeof(*nodelay),
				ud_opt);
		sqe->flags |= IOSQE_IO_LINK;
	}
	sqe = io_uring_get_sqe(&r->uring);
	io_uring_prep_connect(sqe, fd, addr, len);
	set_fixed(sqe, fixed);
	io_uring_sqe_set_data64(sqe, ud_connect);
#if RINGER_FAULT_INJECTION
	/* A failed connect: the NOP takes its place in the chain, the timeout is cancelled. */
	ret = fault_pick(r, FAULT_CONNECT);
	if (ret)
		fault_prep_inject(sqe, ret, ud_connect);
#endif
	if (timeout) {
		sqe->flags |= IOSQE_IO_LINK;
		sqe = io_uring_get_sqe(&r->uring);
		io_uring_prep_link_timeout(sqe, timeout, 0);
		io_uring_sqe_set_data64(sqe, ud_timeout);
	}
	return 0;
}

int ring_close_reset(struct ring *r, int fd, bool fixed, uint64_t ud_opt, uint64_t ud_close)
{
	/* l_linger 0: the close sends a RST and drops unsent data (SO_LINGER 0 semantics). */
	static const struct linger reset = {.l_onoff = 1, .l_linger = 0};
	struct io_uring_sqe *sqe;
	int ret = reserve(r, 2);

	if (ret)
		return ret;
	sqe = io_uring_get_sqe(&r->uring);
	prep_setsockopt(sqe, fd, fixed, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset), ud_opt);
	sqe->flags |= IOSQE_IO_LINK;
	sqe = io_uring_get_sqe(&r->uring);
	if (fixed)
		io_uring_prep_close_direct(sqe, (unsigned)fd);
	else
		io_uring_prep_close(sqe, fd);
	io_uring_sqe_set_data64(sqe, ud_close);
	return 0;
}

/*
 * Whether this kernel takes setsockopt as an io_uring command: tried once on
 * a throwaway socket at startup. Returns 0, or the -errno the kernel gave.
 */
int ring_probe_setsockopt(struct ring *r)
{
	enum { PROBE_UD = 5 };
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int one = 1, fd, ret;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * Straight from liburing, as the probes in ring_init: a question to the
	 * kernel, not an operation fault injection may fail. Through ring_sqe an
	 * injected "SQ full" put the fault layer's own NOP ahead of the probe,
	 * this read took the NOP's completion for the probe's, and the probe's
	 * own (user_data 0) surfaced later as a stale completion.
	 */
	sqe = io_uring_get_sqe(&r->uring);
	if (!sqe) {
		close(fd);
		return -EBUSY;
	}
	prep_setsockopt(sqe, fd, false, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one), PROBE_UD);
	ret = io_uring_submit_and_wait(&r->uring, 1) < 0 ? -EIO : 0;
	while (!ret) {
		bool mine;
		int res;

		ret = io_uring_wait_cqe(&r->uring, &cqe);
		if (ret)
			break;
		mine = cqe->user_data == PROBE_UD;
		res = cqe->res;
		io_uring_cqe_seen(&r->uring, cqe);
		if (mine) {
			ret = res < 0 ? res : 0;
			break;
		}
	}
	close(fd);
	return ret;
}

int ring_nop(struct ring *r, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	GET_SQE(r, sqe);
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_tick(struct ring *r, struct __kernel_timespec *ts, bool multishot, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	GET_SQE(r, sqe);
	/* count 0: fire on time only, never on completions of other requests. */
	io_uring_prep_timeout(sqe, ts, 0,
			      multishot && r->multishot_timeout ? IORING_TIMEOUT_MULTISHOT : 0);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

int ring_timeout_remove(struct ring *r, uint64_t target_ud, uint64_t ud)
{
	struct io_uring_sqe *sqe;

	GET_SQE(r, sqe);
	io_uring_prep_timeout_remove(sqe, target_ud, 0);
	io_uring_sqe_set_data64(sqe, ud);
	return 0;
}

/*
 * liburing 2.3 has no io_uring_setup_buf_ring(): map the ring ourselves,
 * initialise it and register it, then publish every buffer.
 */
int bufring_init(struct bufring *b, struct ring *r, uint16_t bgid, uint32_t count,
		 uint32_t buf_size)
{
	return bufring_init_pool(b, r, bgid, count, buf_size, 0);
}

int bufring_init_pool(struct bufring *b, struct ring *r, uint16_t bgid, uint32_t count,
		      uint32_t buf_size, uint32_t extra)
{
	struct io_uring_buf_reg reg;
	uint32_t i;
	int ret;

	memset(b, 0, sizeof(*b));
	if (count == 0 || count > 32768 || (count & (count - 1)) || buf_size == 0 || extra > 32767)
		return -EINVAL;
	b->ring_bytes = (size_t)count * sizeof(struct io_uring_buf);
	b->br = mmap(NULL, b->ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1,
		     0);
	if (b->br == MAP_FAILED)
		return -errno;
	/* The pool's buffers follow the ring's in the same mapping, touched only once used. */
	b->mem_bytes = (size_t)(count + extra) * buf_size;
	b->mem = mmap(NULL, b->mem_bytes, PROT_READ | PROT_WRITE,
		      MAP_ANONYMOUS | MAP_PRIVATE | (extra ? MAP_NORESERVE : 0), -1, 0);
	if (b->mem == MAP_FAILED) {
		ret = -errno;
		goto out_unmap_ring;
	}
	b->len = calloc(count + extra, sizeof(*b->len));
	b->next = calloc(count + extra, sizeof(*b->next));
	b->at = calloc(count, sizeof(*b->at));
	b->pos = calloc(count, sizeof(*b->pos));
	b->pool = extra ? calloc(extra, sizeof(*b->pool)) : NULL;
	if (!b->len || !b->next || !b->at || !b->pos || (extra && !b->pool)) {
		ret = -ENOMEM;
		goto out_free_meta;
	}
	io_uring_buf_ring_init(b->br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (unsigned long)b->br;
	reg.ring_entries = count;
	reg.bgid = bgid;
	ret = io_uring_register_buf_ring(&r->uring, &reg, 0);
	if (ret)
		goto out_free_meta;
	b->ring = r;
	b->bgid = bgid;
	b->count = count;
	b->mask = count - 1;
	b->buf_size = buf_size;
	for (i = 0; i < count; i++) {
		io_uring_buf_ring_add(b->br, bufring_buf(b, (uint16_t)i), buf_size, (uint16_t)i,
				      (int)b->mask, (int)i);
		b->at[i] = (uint16_t)i;
		b->pos[i] = (uint16_t)i;
	}
	io_uring_buf_ring_advance(b->br, (int)count);
	b->tail = (uint16_t)count;
	/* Taken from the top of the stack: the lowest ids first, so few pages are touched. */
	b->pool_size = extra;
	for (i = 0; i < extra; i++)
		b->pool[i] = (uint16_t)(count + extra - 1 - i);
	b->pool_free = extra;
	return 0;

out_free_meta:
	free(b->pool);
	free(b->len);
	free(b->next);
	free(b->at);
	free(b->pos);
	munmap(b->mem, b->mem_bytes);
out_unmap_ring:
	munmap(b->br, b->ring_bytes);
	b->br = NULL;
	b->mem = NULL;
	return ret;
}

void bufring_exit(struct bufring *b)
{
	if (!b->br)
		return;
	io_uring_unregister_buf_ring(&b->ring->uring, b->bgid);
	munmap(b->mem, b->mem_bytes);
	munmap(b->br, b->ring_bytes);
	free(b->len);
	free(b->next);
	free(b->at);
	free(b->pos);
	free(b->pool);
	b->pool = NULL;
	b->br = NULL;
	b->mem = NULL;
	b->len = NULL;
	b->next = NULL;
	b->at = NULL;
	b->pos = NULL;
}
