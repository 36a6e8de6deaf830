/* SPDX-License-Identifier: MIT */
#ifndef RINGER_USER_DATA_H
#define RINGER_USER_DATA_H

#include <stdint.h>

/*
 * The one owner of the 64-bit io_uring user_data layout:
 *
 *   63      56 55                    32 31                             0
 *  +----------+------------------------+--------------------------------+
 *  |    op    |       generation       |              slot              |
 *  +----------+------------------------+--------------------------------+
 *
 * op says which handler gets the completion, slot names an entry of the
 * shard's connection table, and generation is the slot's generation when the
 * operation was submitted. A completion whose generation no longer matches
 * its slot belongs to an earlier tenant of the slot: it is counted and
 * dropped (nginx's "instance" bit, widened). No pointers or fds live here.
 */
#define UD_OP_BITS   8
#define UD_GEN_BITS  24
#define UD_SLOT_BITS 32

#define UD_GEN_MASK ((1u << UD_GEN_BITS) - 1)
#define UD_SLOT_MAX UINT32_MAX

_Static_assert(UD_OP_BITS + UD_GEN_BITS + UD_SLOT_BITS == 64, "user_data is 64 bits");

/* Operations that can be in flight. Values above this are free for protocols. */
enum ud_op {
	UD_OP_NONE = 0,
	UD_OP_ACCEPT,
	UD_OP_RECV,
	UD_OP_SEND,
	UD_OP_SHUTDOWN,
	UD_OP_CLOSE,
	UD_OP_CANCEL,
	UD_OP_TICK,
	UD_OP_CONNECT,
	UD_OP_MSG,
	UD_OP_NOP,
	UD_OP_SOCKET,	    /* socket for an outbound connection */
	UD_OP_SOCKOPT,	    /* setsockopt as an io_uring command */
	UD_OP_LINK_TIMEOUT, /* a connect's timeout */
	UD_OP_OUTQ,	    /* SIOCOUTQ as an io_uring command: is our FIN acknowledged? */
	UD_OP_WRITE,	    /* a mode's write to a file (engine_write): gen is its token */
	UD_OP_BIND,	    /* bind before a connect (engine_connect_from) */
	UD_OP_COUNT,
};

_Static_assert(UD_OP_COUNT <= (1 << UD_OP_BITS), "ops fit their field");

static inline uint64_t ud_encode(unsigned op, uint32_t gen, uint32_t slot)
{
	return ((uint64_t)op << (UD_GEN_BITS + UD_SLOT_BITS)) |
	       ((uint64_t)(gen & UD_GEN_MASK) << UD_SLOT_BITS) | slot;
}

static inline unsigned ud_op(uint64_t ud)
{
	return (unsigned)(ud >> (UD_GEN_BITS + UD_SLOT_BITS));
}

static inline uint32_t ud_gen(uint64_t ud)
{
	return (uint32_t)(ud >> UD_SLOT_BITS) & UD_GEN_MASK;
}

static inline uint32_t ud_slot(uint64_t ud)
{
	return (uint32_t)ud;
}

const char *ud_op_name(unsigned op);

#endif
