/* SPDX-License-Identifier: MIT */
#ifndef RINGER_DIAG_H
#define RINGER_DIAG_H

#include <stddef.h>
#include <stdint.h>

#include "ringer/tcp_state.h"

/* The kernel's TCP states as inet_diag reports them (include/net/tcp_states.h), and "none". */
enum {
	DIAG_ABSENT = 0, /* no socket with that cookie: gone (reset, closed and acknowledged) */
	DIAG_ESTABLISHED = 1,
	DIAG_SYN_SENT,
	DIAG_SYN_RECV,
	DIAG_FIN_WAIT1,
	DIAG_FIN_WAIT2,
	DIAG_TIME_WAIT,
	DIAG_CLOSE,
	DIAG_CLOSE_WAIT,
	DIAG_LAST_ACK,
	DIAG_LISTEN,
	DIAG_CLOSING,
};

struct diag_sock {
	uint64_t cookie;
	int state;
};

struct diag_table {
	struct diag_sock *socks;
	size_t n, cap;
};

/* Dumps every TCP socket of the host (IPv4 and IPv6). Returns 0 or -errno. */
int diag_dump(struct diag_table *t);
/* The kernel state of the socket with this cookie, or DIAG_ABSENT. */
int diag_state(const struct diag_table *t, uint64_t cookie);
void diag_free(struct diag_table *t);
const char *diag_state_name(int k);

enum diag_verdict {
	DIAG_AGREE,
	DIAG_LAG,      /* the kernel is a step ahead (or behind) on a legal path */
	DIAG_DISAGREE, /* a real difference */
};

enum diag_verdict diag_compare(enum tcp_state ours, int kernel_state);

#endif
