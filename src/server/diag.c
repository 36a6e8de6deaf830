// SPDX-License-Identifier: MIT
/*
 * The kernel's view of TCP sockets, as `ss` gets it: a NETLINK_SOCK_DIAG
 * dump (inet_diag, both families, every state), kept as (socket cookie,
 * kernel state) pairs sorted by cookie. ringer learns each connection's
 * cookie with getsockopt(SO_COOKIE) (engine conn_info), so the two views
 * join exactly, whatever the addresses. Runs on the admin thread only: a
 * dump is a few system calls and, for thousands of sockets, a few ms.
 */
#include "diag.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int dump_family(int fd, int family, struct diag_table *t)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} msg = {
		.nlh = {.nlmsg_len = sizeof(msg),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP},
		.req = {.sdiag_family = (uint8_t)family,
			.sdiag_protocol = IPPROTO_TCP,
			.idiag_states = ~0u},
	};
	static char buf[65536] __attribute__((aligned(8)));

	if (send(fd, &msg, sizeof(msg), 0) != (ssize_t)sizeof(msg))
		return -errno;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n < 0)
			return errno == EINTR ? 0 : -errno;
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			const struct inet_diag_msg *m;

			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (h->nlmsg_type == NLMSG_ERROR)
				return -EPROTO;
			m = NLMSG_DATA(h);
			if (t->n == t->cap) {
				size_t cap = t->cap ? t->cap * 2 : 1024;
				struct diag_sock *s = realloc(t->socks, cap * sizeof(*s));

				if (!s)
					return -ENOMEM;
				t->socks = s;
				t->cap = cap;
			}
			t->socks[t->n].cookie =
				(uint64_t)m->id.idiag_cookie[1] << 32 | m->id.idiag_cookie[0];
			t->socks[t->n].state = m->idiag_state;
			t->n++;
		}
	}
}

static int by_cookie(const void *a, const void *b)
{
	uint64_t x = ((const struct diag_sock *)a)->cookie,
		 y = ((const struct diag_sock *)b)->cookie;

	return x < y ? -1 : x > y;
}

int diag_dump(struct diag_table *t)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	int ret;

	t->n = 0;
	if (fd < 0)
		return -errno;
	ret = dump_family(fd, AF_INET, t);
	if (!ret)
		ret = dump_family(fd, AF_INET6, t);
	close(fd);
	if (!ret)
		qsort(t->socks, t->n, sizeof(*t->socks), by_cookie);
	return ret;
}

int diag_state(const struct diag_table *t, uint64_t cookie)
{
	size_t lo = 0, hi = t->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->socks[mid].cookie < cookie)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->n && t->socks[lo].cookie == cookie ? t->socks[lo].state : DIAG_ABSENT;
}

void diag_free(struct diag_table *t)
{
	free(t->socks);
	memset(t, 0, sizeof(*t));
}

const char *diag_state_name(int k)
{
	static const char *const names[] = {
		[DIAG_ABSENT] = "(none)",	  [DIAG_ESTABLISHED] = "ESTABLISHED",
		[DIAG_SYN_SENT] = "SYN_SENT",	  [DIAG_SYN_RECV] = "SYN_RECV",
		[DIAG_FIN_WAIT1] = "FIN_WAIT1",	  [DIAG_FIN_WAIT2] = "FIN_WAIT2",
		[DIAG_TIME_WAIT] = "TIME_WAIT",	  [DIAG_CLOSE] = "CLOSE",
		[DIAG_CLOSE_WAIT] = "CLOSE_WAIT", [DIAG_LAST_ACK] = "LAST_ACK",
		[DIAG_LISTEN] = "LISTEN",	  [DIAG_CLOSING] = "CLOSING",
	};

	return k >= 0 && k < (int)(sizeof(names) / sizeof(names[0])) && names[k] ? names[k] : "?";
}

/*
 * ringer's state against the kernel's. Three gaps are lags, anything else is
 * a disagreement (tests/unit/test_diag.c holds every pair, with its reason):
 *
 * - The kernel is ahead on what the peer does: its SYN-ACK, FIN, ACK of our
 *   FIN or RST reach ringer with a later completion (connect, a recv of 0,
 *   SIOCOUTQ, an error), and several may be queued.
 * - ringer is ahead on what it asks: its state changes when it submits the
 *   connect, shutdown or close, before the kernel runs it. Both at once
 *   ("crossed"): the peer's FIN reached the kernel before our shutdown ran,
 *   so the kernel took CLOSE_WAIT -> LAST_ACK while ringer took FIN_WAIT_1
 *   -> TIME_WAIT (recv.c reads that FIN as acknowledging ours).
 * - The dump is older: it is taken before ringer's states are read, so one
 *   peer segment can land in between, be reaped and answered (a shutdown)
 *   before the read. The kernel's state is then one that ringer's previous
 *   state would have been allowed: a peer's FIN shows as ringer CLOSE_WAIT
 *   or LAST_ACK against ESTABLISHED, the ACK of our FIN as FIN_WAIT_2
 *   against FIN_WAIT1, and a state one FIN or ACK after FIN_WAIT_1
 *   (FIN_WAIT_2, CLOSING, TIME_WAIT) inherits FIN_WAIT_1's lags.
 */
enum diag_verdict diag_compare(enum tcp_state ours, int k)
{
#define K(x) (1u << (x))
#define GONE (K(DIAG_ABSENT) | K(DIAG_CLOSE))
	/* What FIN_WAIT_1 allows at one instant; FIN_WAIT_2, CLOSING and TIME_WAIT follow it. */
#define FW1_NOW                                                                          \
	(K(DIAG_FIN_WAIT1) | K(DIAG_ESTABLISHED) | K(DIAG_FIN_WAIT2) | K(DIAG_CLOSING) | \
	 K(DIAG_TIME_WAIT) | K(DIAG_CLOSE_WAIT) | K(DIAG_LAST_ACK) | GONE)
	static const struct {
		uint32_t agree, lag;
	} rule[TCP_STATE_COUNT] = {
		[TCPS_SYN_SENT] = {K(DIAG_SYN_SENT),
				   K(DIAG_ESTABLISHED) | K(DIAG_CLOSE_WAIT) | GONE},
		[TCPS_SYN_RCVD] = {K(DIAG_SYN_RECV) | K(DIAG_ESTABLISHED),
				   K(DIAG_CLOSE_WAIT) | GONE},
		[TCPS_ESTABLISHED] = {K(DIAG_ESTABLISHED),
				      K(DIAG_CLOSE_WAIT) | GONE | K(DIAG_SYN_SENT)},
		[TCPS_CLOSE_WAIT] = {K(DIAG_CLOSE_WAIT), K(DIAG_ESTABLISHED) | GONE},
		[TCPS_FIN_WAIT_1] = {K(DIAG_FIN_WAIT1), FW1_NOW | K(DIAG_SYN_SENT)},
		[TCPS_FIN_WAIT_2] = {K(DIAG_FIN_WAIT2), FW1_NOW},
		[TCPS_CLOSING] = {K(DIAG_CLOSING), FW1_NOW},
		[TCPS_LAST_ACK] = {K(DIAG_LAST_ACK),
				   K(DIAG_ESTABLISHED) | K(DIAG_CLOSE_WAIT) | GONE},
		[TCPS_TIME_WAIT] = {K(DIAG_TIME_WAIT), FW1_NOW},
	};

	if (ours == TCPS_CLOSED || ours == TCPS_LISTEN || (unsigned)ours >= TCP_STATE_COUNT)
		return DIAG_LAG; /* being released: whatever the kernel still holds */
	if (k < 0 || k > 31)
		return DIAG_DISAGREE;
	if (rule[ours].agree & K(k))
		return DIAG_AGREE;
	return (rule[ours].lag & K(k)) ? DIAG_LAG : DIAG_DISAGREE;
#undef FW1_NOW
#undef GONE
#undef K
}
