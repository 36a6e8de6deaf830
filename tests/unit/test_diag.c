// SPDX-License-Identifier: MIT
/*
 * diag_compare (src/server/diag.c), the judge of /connections?verify=1,
 * against a table written here from the kernel's TCP state machine
 * (net/ipv4/tcp_input.c, tcp.c: which segment or call moves a socket from
 * which state to which), not copied from diag.c. Every pair of ringer's
 * state and the kernel's is listed with its verdict and, for a lag, which
 * side is ahead and why; every pair not listed is a disagreement.
 *
 * How the two views can differ without anything being wrong:
 *
 *   K  the kernel is ahead: it has processed a peer's segment (SYN-ACK,
 *      FIN, the ACK of our FIN, RST) that ringer learns of only from a
 *      later completion (connect, a recv of 0 bytes, SIOCOUTQ, an error);
 *      several may be queued.
 *   R  ringer is ahead: its state changes when it submits its own request
 *      (connect, shutdown, close), before the kernel has run it.
 *   X  crossed, both at once: the peer's FIN reached the kernel before our
 *      shutdown ran, so the kernel took the passive path (CLOSE_WAIT, then
 *      LAST_ACK when our shutdown runs) while ringer took the active one
 *      (FIN_WAIT_1, then TIME_WAIT: recv.c reads that FIN as acknowledging
 *      ours).
 *   D  the dump is older: admin.c takes the kernel's dump first and reads
 *      ringer's states after it, so one peer segment can land in between,
 *      be reaped by ringer and answered by its own request (a shutdown)
 *      before its state is read. The pair is then one that was tolerated a
 *      segment earlier: the kernel's state against ringer's state before
 *      that segment (and before its answer).
 *
 * The kernel's CLOSE and "no such socket" read the same: a reset or
 * finished socket is unhashed and leaves the dump. Anything else is a
 * disagreement: the kernel in a state only ringer's request could put it in
 * (FIN_WAIT1, LAST_ACK, ...) that ringer never made, a socket the dump
 * shows LISTEN or SYN_RECV for a connection ringer accepted long ago, or a
 * kernel that went backwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "diag.h"
#include "ringer/tcp_state.h"

#define KSTATES 12 /* DIAG_ABSENT .. DIAG_CLOSING */

enum why {
	NO = 0, /* a disagreement: the default for every pair not listed */
	AGREE,
	K,	 /* the kernel is ahead */
	R,	 /* ringer is ahead */
	X,	 /* crossed: the peer's FIN before our shutdown ran */
	D,	 /* the dump is older by a peer segment (and ringer's answer to it) */
	RELEASE, /* ringer is releasing the slot: whatever the kernel still holds */
};

struct cell {
	enum why why;
	const char *because;
};

/* expect[ringer][kernel] */
static const struct cell expect[TCP_STATE_COUNT][KSTATES] = {
	/* A slot on its way out, or not a connection: nothing to compare. */
	[TCPS_CLOSED] = {[0 ... KSTATES - 1] = {RELEASE, "released: the kernel may still hold it"}},
	[TCPS_LISTEN] = {[0 ... KSTATES - 1] = {RELEASE, "passed through on accept"}},
	/* A proxy's upstream: ringer submitted connect(). */
	[TCPS_SYN_SENT] =
		{
			[DIAG_SYN_SENT] = {AGREE, "SYN sent"},
			[DIAG_ESTABLISHED] = {K, "the SYN-ACK, connect's completion not reaped"},
			[DIAG_CLOSE_WAIT] = {K, "the SYN-ACK and then the peer's FIN"},
			[DIAG_ABSENT] = {K, "refused (RST), or R: connect not run yet"},
			[DIAG_CLOSE] = {K, "refused (RST), or R: connect not run yet"},
		},
	/* Accepted: the kernel finished the handshake before accept() returned it. */
	[TCPS_SYN_RCVD] =
		{
			[DIAG_SYN_RECV] = {AGREE, "the handshake"},
			[DIAG_ESTABLISHED] = {AGREE, "accepted: the kernel's handshake is done"},
			[DIAG_CLOSE_WAIT] = {K, "the peer's FIN, not reaped"},
			[DIAG_ABSENT] = {K, "the peer's RST, not reaped"},
			[DIAG_CLOSE] = {K, "the peer's RST, not reaped"},
		},
	[TCPS_ESTABLISHED] =
		{
			[DIAG_ESTABLISHED] = {AGREE, "open"},
			[DIAG_CLOSE_WAIT] = {K, "the peer's FIN, its recv of 0 not reaped"},
			[DIAG_ABSENT] =
				{K, "the peer's RST not reaped; or D: accepted after the dump"},
			[DIAG_CLOSE] = {K, "the peer's RST, not reaped"},
			[DIAG_SYN_SENT] = {D,
					   "an upstream's SYN-ACK after the dump, connect reaped"},
		},
	/* ringer submitted its shutdown (or close) from ESTABLISHED. */
	[TCPS_FIN_WAIT_1] =
		{
			[DIAG_FIN_WAIT1] = {AGREE, "our FIN sent"},
			[DIAG_ESTABLISHED] = {R, "our shutdown not run yet"},
			[DIAG_FIN_WAIT2] = {K, "the ACK of our FIN; SIOCOUTQ not asked yet"},
			[DIAG_CLOSING] = {K, "the peer's FIN crossed ours, not reaped"},
			[DIAG_TIME_WAIT] = {K, "the peer's FIN (and the ACK of ours), not reaped"},
			[DIAG_ABSENT] = {K, "the peer's RST, or the exchange finished after close"},
			[DIAG_CLOSE] = {K, "the peer's RST, not reaped"},
			[DIAG_CLOSE_WAIT] = {X, "the peer's FIN first, our shutdown not run yet"},
			[DIAG_LAST_ACK] = {X, "the peer's FIN first, then our shutdown ran"},
			[DIAG_SYN_SENT] = {D,
					   "an upstream's SYN-ACK after the dump, then shutdown"},
		},
	/* SIOCOUTQ said our FIN is acknowledged. One segment earlier: FIN_WAIT_1's row. */
	[TCPS_FIN_WAIT_2] =
		{
			[DIAG_FIN_WAIT2] = {AGREE, "our FIN acknowledged"},
			[DIAG_TIME_WAIT] = {K, "the peer's FIN, not reaped"},
			[DIAG_ABSENT] = {K, "the peer's RST, or the orphan's timeout after close"},
			[DIAG_CLOSE] = {K, "the peer's RST, not reaped"},
			[DIAG_FIN_WAIT1] = {D, "the ACK of our FIN after the dump"},
			[DIAG_ESTABLISHED] =
				{D, "our shutdown ran and was acknowledged after the dump"},
			[DIAG_CLOSING] = {D, "FIN_WAIT_1 against CLOSING, then the ACK of our FIN"},
			[DIAG_CLOSE_WAIT] = {D, "crossed, then our FIN ran and was acknowledged"},
			[DIAG_LAST_ACK] = {D, "crossed, then the ACK of our FIN after the dump"},
		},
	/* The peer's FIN in CLOSE_WAIT's place: one segment earlier, ESTABLISHED's row. */
	[TCPS_CLOSE_WAIT] =
		{
			[DIAG_CLOSE_WAIT] = {AGREE, "the peer's FIN"},
			[DIAG_ABSENT] = {K, "the peer's RST after its FIN, not reaped"},
			[DIAG_CLOSE] = {K, "the peer's RST after its FIN, not reaped"},
			[DIAG_ESTABLISHED] = {D, "the peer's FIN after the dump"},
		},
	/* Simultaneous close (FIN_WAIT_1 + FIN). One segment earlier: FIN_WAIT_1's row. */
	[TCPS_CLOSING] =
		{
			[DIAG_CLOSING] = {AGREE, "both FINs, ours not acknowledged"},
			[DIAG_TIME_WAIT] = {K, "the ACK of our FIN, not learned"},
			[DIAG_ABSENT] = {K, "the peer's RST, or TIME_WAIT over"},
			[DIAG_CLOSE] = {K, "the peer's RST, not reaped"},
			[DIAG_FIN_WAIT1] = {D, "the peer's FIN after the dump"},
			[DIAG_ESTABLISHED] =
				{D, "our shutdown ran and the peer's FIN came after the dump"},
			[DIAG_FIN_WAIT2] = {D, "FIN_WAIT_1 against FIN_WAIT2, then the peer's FIN"},
			[DIAG_CLOSE_WAIT] = {D,
					     "crossed (not run yet), then the peer's FIN reaped"},
			[DIAG_LAST_ACK] = {D, "crossed, then the peer's FIN reaped"},
		},
	/* ringer submitted its shutdown after the peer's FIN (CLOSE_WAIT's answer). */
	[TCPS_LAST_ACK] =
		{
			[DIAG_LAST_ACK] = {AGREE, "our FIN sent"},
			[DIAG_CLOSE_WAIT] = {R, "our shutdown not run yet"},
			[DIAG_ABSENT] = {K, "the ACK of our FIN: the kernel is done"},
			[DIAG_CLOSE] = {K, "the ACK of our FIN, or the peer's RST"},
			[DIAG_ESTABLISHED] =
				{D, "the peer's FIN after the dump, our shutdown at once"},
		},
	/*
	 * The peer's FIN in FIN_WAIT_1 (taken as acknowledging ours) or FIN_WAIT_2.
	 * One segment earlier: the rows of FIN_WAIT_1, FIN_WAIT_2 and CLOSING.
	 */
	[TCPS_TIME_WAIT] =
		{
			[DIAG_TIME_WAIT] = {AGREE, "both FINs, both acknowledged"},
			[DIAG_ABSENT] = {K, "2MSL over, or the peer's RST"},
			[DIAG_CLOSE] = {K, "the peer's RST"},
			[DIAG_CLOSING] = {R,
					  "simultaneous close: the ACK of our FIN still to come"},
			[DIAG_CLOSE_WAIT] = {X, "the peer's FIN reaped before our shutdown ran"},
			[DIAG_LAST_ACK] = {X, "the peer's FIN first, then our shutdown ran"},
			[DIAG_FIN_WAIT1] = {D, "the peer's FIN after the dump"},
			[DIAG_FIN_WAIT2] = {D, "the peer's FIN after the dump"},
			[DIAG_ESTABLISHED] =
				{D, "our shutdown ran and the peer's FIN came after the dump"},
		},
};

static enum diag_verdict verdict_of(enum why w)
{
	switch (w) {
	case AGREE:
		return DIAG_AGREE;
	case NO:
		return DIAG_DISAGREE;
	default:
		return DIAG_LAG;
	}
}

static const char *const verdict_names[] = {"agree", "lag", "disagree"};

/* Every one of the 11 x 12 pairs, against the table above. */
static void every_pair_as_the_kernel_allows(void **state)
{
	int wrong = 0;

	(void)state;
	for (int r = 0; r < TCP_STATE_COUNT; r++) {
		for (int k = 0; k < KSTATES; k++) {
			const struct cell *c = &expect[r][k];
			enum diag_verdict want = verdict_of(c->why);
			enum diag_verdict got = diag_compare((enum tcp_state)r, k);

			if (got == want)
				continue;
			print_error("ringer %s, kernel %s: %s, wanted %s (%s)\n",
				    tcp_state_name((enum tcp_state)r), diag_state_name(k),
				    verdict_names[got], verdict_names[want],
				    c->because ? c->because : "the kernel cannot be there");
			wrong++;
		}
	}
	assert_int_equal(wrong, 0);
}

/*
 * The table is not so wide that it judges nothing: each connected state has
 * exactly one or two agreeing kernel states and at least one disagreement,
 * so a rule that tolerated everything would fail here as well as above.
 */
static void each_state_can_disagree(void **state)
{
	(void)state;
	for (int r = TCPS_SYN_SENT; r < TCP_STATE_COUNT; r++) {
		int agree = 0, disagree = 0;

		for (int k = 0; k < KSTATES; k++) {
			agree += diag_compare((enum tcp_state)r, k) == DIAG_AGREE;
			disagree += diag_compare((enum tcp_state)r, k) == DIAG_DISAGREE;
		}
		if (agree < 1 || agree > 2 || disagree < 1)
			fail_msg("%s: %d agreeing, %d disagreeing kernel states",
				 tcp_state_name((enum tcp_state)r), agree, disagree);
	}
	/* Never a lag: a connected socket the dump calls LISTEN. */
	for (int r = TCPS_SYN_SENT; r < TCP_STATE_COUNT; r++)
		assert_int_equal(diag_compare((enum tcp_state)r, DIAG_LISTEN), DIAG_DISAGREE);
}

/* Kernel values inet_diag does not define are disagreements, not lags or crashes. */
static void unknown_kernel_states(void **state)
{
	static const int odd[] = {-1, KSTATES, 31, 32, 1000};

	(void)state;
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		assert_int_equal(diag_compare(TCPS_ESTABLISHED, odd[i]), DIAG_DISAGREE);
	/* A ringer state out of range is a slot that is not a connection. */
	assert_int_equal(diag_compare((enum tcp_state)TCP_STATE_COUNT, DIAG_ESTABLISHED), DIAG_LAG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_pair_as_the_kernel_allows),
		cmocka_unit_test(each_state_can_disagree),
		cmocka_unit_test(unknown_kernel_states),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
