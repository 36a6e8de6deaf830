/* SPDX-License-Identifier: MIT */
#ifndef RINGER_TRACE_H
#define RINGER_TRACE_H

#include "ringer/conn.h"

/*
 * ringer's USDT probes: one connection's life, seen from outside the
 * process. Each is a sys/sdt.h probe of provider "ringer": a nop in the code
 * and a note in the binary's .note.stapsdt section, which perf, bpftrace
 * and SystemTap turn into a uprobe only while someone traces. Without
 * sys/sdt.h (RINGER_HAVE_SDT undefined) they compile to nothing.
 *
 *   probe            arguments                where it fires
 *   accept           slot, gen, fd            on_accept(): an accepted socket got a slot
 *   connect          slot, gen, result        on_connect(): an outbound connect's CQE (0/-errno)
 *   tcp_transition   slot, gen, from, to      conn_event(): every move (enum tcp_state numbers)
 *   cqe              op, slot, gen, res       engine_complete(): every CQE (op: enum ud_op)
 *   close            slot, gen, how           release(): the slot is freed (enum trace_close)
 *
 * slot and gen together name one connection: a slot is reused, with the next
 * generation. A cqe for an accept carries slot UINT32_MAX and, as gen, the
 * accept's address slot (user_data.h); a stale cqe carries the generation it
 * was submitted with. A connect's -ECANCELED is its linked timeout (or our
 * close). An outbound connection that engine_connect() itself gave up on
 * (it returned NULL) has transitions but no close.
 *
 * Each probe has exactly one site, and no argument is a constant: perf (6.1)
 * cannot add an SDT name found at several sites whose arguments differ, and
 * drops constant ("$0") arguments. Arguments are evaluated even when nobody
 * traces, so they are values the code has at hand.
 *
 * perf:     perf probe -x ringer --add 'sdt_ringer:*'; perf record -e 'sdt_ringer:*' -p PID
 * bpftrace: bpftrace -e 'usdt:./ringer:ringer:tcp_transition { printf(...) }'
 */

/* How a connection ended, the close probe's third argument. */
enum trace_close {
	TRACE_CLOSE_CLEAN, /* both FINs: released from LAST_ACK or TIME_WAIT */
	TRACE_CLOSE_HALF,  /* our FIN is out; the kernel finishes (FIN_WAIT_1/2, CLOSING) */
	TRACE_CLOSE_RESET, /* we reset it (engine_close(..., ENGINE_CLOSE_RESET)) */
	TRACE_CLOSE_ABORT, /* the peer reset, an error, a timeout, or a connect that failed */
};

/* Read before release() moves c to CLOSED. */
static inline int trace_close_how(const struct conn *c)
{
	if (c->life & CONN_L_RESET)
		return TRACE_CLOSE_RESET;
	switch (c->state) {
	case TCPS_LAST_ACK:
	case TCPS_TIME_WAIT:
		return TRACE_CLOSE_CLEAN;
	case TCPS_CLOSED:
		return TRACE_CLOSE_ABORT;
	default:
		return TRACE_CLOSE_HALF;
	}
}

#ifdef RINGER_HAVE_SDT
#include <sys/sdt.h>

#define TRACE_ACCEPT(slot, gen, fd)   DTRACE_PROBE3(ringer, accept, slot, gen, fd)
#define TRACE_CONNECT(slot, gen, res) DTRACE_PROBE3(ringer, connect, slot, gen, res)
#define TRACE_TRANSITION(slot, gen, from, to) \
	DTRACE_PROBE4(ringer, tcp_transition, slot, gen, from, to)
#define TRACE_CQE(op, slot, gen, res) DTRACE_PROBE4(ringer, cqe, op, slot, gen, res)
#define TRACE_CLOSE(slot, gen, how)   DTRACE_PROBE3(ringer, close, slot, gen, how)
#else
/* Casts to void keep the arguments "used" without evaluating anything that matters. */
#define TRACE_ACCEPT(slot, gen, fd)	      ((void)(slot), (void)(gen), (void)(fd))
#define TRACE_CONNECT(slot, gen, res)	      ((void)(slot), (void)(gen), (void)(res))
#define TRACE_TRANSITION(slot, gen, from, to) ((void)(slot), (void)(gen), (void)(from), (void)(to))
#define TRACE_CQE(op, slot, gen, res)	      ((void)(op), (void)(slot), (void)(gen), (void)(res))
#define TRACE_CLOSE(slot, gen, how)	      ((void)(slot), (void)(gen), (void)(how))
#endif

#endif
