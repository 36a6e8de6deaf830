/* SPDX-License-Identifier: MIT */
#ifndef RINGER_FAULT_H
#define RINGER_FAULT_H

/*
 * A ring that fails on purpose: built only with -Dfault_injection=true
 * (RINGER_FAULT_INJECTION), which the ring module (ring.c) calls into at the
 * points where the kernel could have said no. Without the option nothing
 * here exists and ring.c compiles to what it was.
 *
 * Every fault is one the kernel can produce, at a place it can produce it:
 *
 *   group        where                            the errors
 *   recv         a receive armed                  ECONNRESET ETIMEDOUT ENOBUFS
 *   recv_mid     a multishot receive, mid-stream  ECONNRESET ETIMEDOUT ENOBUFS
 *   send         a send submitted                 EPIPE ECONNRESET
 *   send_short   a send submitted                 (fewer bytes go, the count says so)
 *   accept       an accept armed                  EMFILE ENFILE ENOMEM
 *   accept_mid   a multishot accept, running      EMFILE ENFILE ENOMEM
 *   connect      a connect submitted              ECONNREFUSED ETIMEDOUT EADDRNOTAVAIL
 *   socket       a socket created                 EMFILE
 *   shutdown     a shutdown's completion          ENOTCONN
 *   close        a close's completion             EIO EINTR (the descriptor is gone anyway)
 *   cancel_late  a cancelled operation's end      (arrives a batch after its cancel's)
 *   sq_full      an SQE wanted                    (the SQ is full: what is queued goes first)
 *   sqe_busy     an SQE wanted for I/O            EBUSY (not even a submit made room)
 *
 * How: an operation failed at submission is a NOP that carries the error
 * (IORING_NOP_INJECT_RESULT, kernel 6.10+) under the operation's own
 * user_data and links, so its completion comes from the kernel like any
 * other; a running multishot is cancelled by the ring and its -ECANCELED
 * end reported as the error; a completion is rewritten only where the
 * operation's effect stands either way (a shutdown's or close's result);
 * a late completion is held back one batch. The ring's own cancels never
 * reach the caller. Completions are never made up and data never dropped
 * silently: what the caller sees is always what the kernel could have said.
 *
 * Run time, read once per process (ring_init):
 *   RINGER_FAULT_RATE   probability per eligible operation, e.g. 0.01 (unset
 *                       or 0: nothing injected unless a test forces it)
 *   RINGER_FAULT_SEED   the generator's seed (default: from the clock); each
 *                       ring draws from its own stream (seed, ring index)
 *   RINGER_FAULT_KINDS  groups to inject, comma-separated, each optionally
 *                       with its own rate (recv=0.05,close); default all
 * The seed is printed on stderr when the first ring starts, and each ring's
 * counts by kind when it exits, one line each:
 *   ringer fault: ring 0 seed 42 ops 9182 injected 97 recv/ECONNRESET=4 ...
 */
#if RINGER_FAULT_INJECTION

#include <stdbool.h>
#include <stdint.h>

struct ring;
struct io_uring_cqe;
struct io_uring_sqe;

enum fault_group {
	FAULT_RECV,
	FAULT_RECV_MID,
	FAULT_SEND,
	FAULT_SEND_SHORT,
	FAULT_ACCEPT,
	FAULT_ACCEPT_MID,
	FAULT_CONNECT,
	FAULT_SOCKET,
	FAULT_SHUTDOWN,
	FAULT_CLOSE,
	FAULT_CANCEL_LATE,
	FAULT_SQ_FULL,
	FAULT_SQE_BUSY,
	FAULT_GROUP_COUNT,
};

#define FAULT_ERRS_MAX 3

/* The ring's own cancels carry this op in user_data (above every ud_op). */
#define FAULT_UD_OP 0xFFu

struct ring_fault;

/* Reads the environment (once) and attaches a fault state to r. */
void fault_ring_init(struct ring *r);
/* Prints r's counts (when anything was injected or a rate is set) and frees them. */
void fault_ring_exit(struct ring *r);

/*
 * Submission side: 0 to go ahead, else the errno to inject (negative), or 1
 * for the groups without one (send_short, sq_full). Counts the operation.
 */
int fault_pick(struct ring *r, enum fault_group g);
/* A NOP whose completion carries res under ud (IORING_NOP_INJECT_RESULT). */
void fault_prep_inject(struct io_uring_sqe *sqe, int res, uint64_t ud);

/* Completion side: the walk ring_for_each_cqe does in this build (ring.h). */
unsigned fault_cq_begin(struct ring *r);
struct io_uring_cqe *fault_cq_next(struct ring *r, unsigned *head);
void fault_cq_advance(struct ring *r);
/* Completions held back for the next batch: the caller must not sleep on the kernel. */
bool fault_cq_held(const struct ring *r);

/*
 * For tests: the next eligible operation of group g gets err (one of the
 * group's errors; 1 for send_short and sq_full), whatever the rate.
 */
void fault_force(struct ring *r, enum fault_group g, int err);
/* How many of group g were injected on r, over all its errors. */
uint64_t fault_injected(const struct ring *r, enum fault_group g);
const char *fault_group_name(enum fault_group g);

#endif
#endif
