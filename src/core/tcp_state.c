// SPDX-License-Identifier: MIT
/*
 * The TCP connection state machine of RFC 793 (figure 6), as one const table.
 *
 *                              +---------+ ---------\      active OPEN
 *                              |  CLOSED |            \    -----------
 *                              +---------+<---------\   \   create TCB
 *                                |     ^              \   \  snd SYN
 *                   passive OPEN |     |   CLOSE        \   \
 *                   ------------ |     | ----------       \   \
 *                    create TCB  |     | delete TCB         \   \
 *                                V     |                      \   \
 *                              +---------+            CLOSE    |    \
 *                              |  LISTEN |          ---------- |     |
 *                              +---------+          delete TCB |     |
 *                   rcv SYN      |     |     SEND              |     |
 *                  -----------   |     |    -------            |     V
 * +---------+      snd SYN,ACK  /       \   snd SYN          +---------+
 * |         |<-----------------           ------------------>|         |
 * |   SYN   |                    rcv SYN                     |   SYN   |
 * |   RCVD  |<-----------------------------------------------|   SENT  |
 * |         |                    snd ACK                     |         |
 * |         |------------------           -------------------|         |
 * +---------+   rcv ACK of SYN  \       /  rcv SYN,ACK       +---------+
 *   |           --------------   |     |   -----------
 *   |                  x         |     |     snd ACK
 *   |                            V     V
 *   |  CLOSE                   +---------+
 *   | -------                  |  ESTAB  |
 *   | snd FIN                  +---------+
 *   |                   CLOSE    |     |    rcv FIN
 *   V                  -------   |     |    -------
 * +---------+          snd FIN  /       \   snd ACK          +---------+
 * |  FIN    |<-----------------           ------------------>|  CLOSE  |
 * | WAIT-1  |------------------                              |   WAIT  |
 * +---------+          rcv FIN  \                            +---------+
 *   | rcv ACK of FIN   -------   |                            CLOSE  |
 *   | --------------   snd ACK   |                           ------- |
 *   V        x                   V                           snd FIN V
 * +---------+                  +---------+                   +---------+
 * |FINWAIT-2|                  | CLOSING |                   | LAST-ACK|
 * +---------+                  +---------+                   +---------+
 *   |                rcv ACK of FIN |                 rcv ACK of FIN |
 *   |  rcv FIN       -------------- |    Timeout=2MSL -------------- |
 *   |  -------              x       V    ------------        x       V
 *    \ snd ACK                 +---------+delete TCB         +---------+
 *     ------------------------>|TIME WAIT|------------------>| CLOSED  |
 *                              +---------+                   +---------+
 *
 * Two edges come from the RFC's text rather than the figure: a FIN that also
 * acknowledges our FIN takes FIN-WAIT-1 straight to TIME-WAIT (section 3.9,
 * "If our FIN has been ACKed (perhaps in this segment), then enter TIME-WAIT"),
 * and a RST (or an abort) ends every synchronized state in CLOSED, while a
 * passively opened SYN-RECEIVED connection returns to LISTEN (section 3.4).
 * A user CLOSE is legal in LISTEN and SYN-SENT ("delete TCB") and in SYN-RCVD,
 * ESTABLISHED and CLOSE-WAIT ("snd FIN"); anywhere later it is an error
 * ("connection closing"), so the table refuses it.
 *
 * Who drives which edge in ringer: shard.c's accept path walks a new
 * connection CLOSED -> LISTEN -> SYN_RCVD -> ESTABLISHED (the kernel did the
 * handshake); a recv of 0 bytes is RCV_FIN (or RCV_FIN_ACK once we sent our
 * FIN); our shutdown or close is CLOSE; a reset or a send/recv error is
 * RCV_RST; the release of a slot after TIME-WAIT or LAST-ACK is TIMEOUT or
 * RCV_ACK. A proxy's upstream walks CLOSED -> SYN_SENT -> ESTABLISHED.
 */
#include "ringer/tcp_state.h"

#define X TCP_STATE_ILLEGAL

/* next[state][event]; the column order is enum tcp_event's. */
/* clang-format off */
static const unsigned char next_state[TCP_STATE_COUNT][TCP_EVENT_COUNT] = {
	/*                 P_OPEN      A_OPEN        SEND          CLOSE           SYN           SYN_ACK         ACK             FIN             FIN_ACK         TIMEOUT     RST */
	[TCPS_CLOSED]      = {TCPS_LISTEN, TCPS_SYN_SENT, X,            X,              X,            X,              X,              X,              X,              X,          X},
	[TCPS_LISTEN]      = {X,          X,            TCPS_SYN_SENT, TCPS_CLOSED,     TCPS_SYN_RCVD, X,              X,              X,              X,              X,          X},
	[TCPS_SYN_SENT]    = {X,          X,            X,            TCPS_CLOSED,     TCPS_SYN_RCVD, TCPS_ESTABLISHED, X,             X,              X,              X,          TCPS_CLOSED},
	[TCPS_SYN_RCVD]    = {X,          X,            X,            TCPS_FIN_WAIT_1, X,            X,              TCPS_ESTABLISHED, X,             X,              X,          TCPS_LISTEN},
	[TCPS_ESTABLISHED] = {X,          X,            X,            TCPS_FIN_WAIT_1, X,            X,              X,              TCPS_CLOSE_WAIT, X,              X,          TCPS_CLOSED},
	[TCPS_FIN_WAIT_1]  = {X,          X,            X,            X,              X,            X,              TCPS_FIN_WAIT_2, TCPS_CLOSING,    TCPS_TIME_WAIT,  X,          TCPS_CLOSED},
	[TCPS_FIN_WAIT_2]  = {X,          X,            X,            X,              X,            X,              X,              TCPS_TIME_WAIT,  X,              X,          TCPS_CLOSED},
	[TCPS_CLOSE_WAIT]  = {X,          X,            X,            TCPS_LAST_ACK,   X,            X,              X,              X,              X,              X,          TCPS_CLOSED},
	[TCPS_CLOSING]     = {X,          X,            X,            X,              X,            X,              TCPS_TIME_WAIT,  X,              X,              X,          TCPS_CLOSED},
	[TCPS_LAST_ACK]    = {X,          X,            X,            X,              X,            X,              TCPS_CLOSED,     X,              X,              X,          TCPS_CLOSED},
	[TCPS_TIME_WAIT]   = {X,          X,            X,            X,              X,            X,              X,              X,              X,              TCPS_CLOSED, TCPS_CLOSED},
};
/* clang-format on */

#undef X

_Static_assert(TCP_STATE_COUNT == 11, "RFC 793 has eleven states");
_Static_assert(TCP_STATE_ILLEGAL < 256, "the table stores states in a byte");

enum tcp_state tcp_state_next(enum tcp_state s, enum tcp_event ev)
{
	if ((unsigned)s >= TCP_STATE_COUNT || (unsigned)ev >= TCP_EVENT_COUNT)
		return TCP_STATE_ILLEGAL;
	return (enum tcp_state)next_state[s][ev];
}

static const char *const state_names[TCP_STATE_COUNT + 1] = {
	[TCPS_CLOSED] = "CLOSED",	    [TCPS_LISTEN] = "LISTEN",
	[TCPS_SYN_SENT] = "SYN_SENT",	    [TCPS_SYN_RCVD] = "SYN_RCVD",
	[TCPS_ESTABLISHED] = "ESTABLISHED", [TCPS_FIN_WAIT_1] = "FIN_WAIT_1",
	[TCPS_FIN_WAIT_2] = "FIN_WAIT_2",   [TCPS_CLOSE_WAIT] = "CLOSE_WAIT",
	[TCPS_CLOSING] = "CLOSING",	    [TCPS_LAST_ACK] = "LAST_ACK",
	[TCPS_TIME_WAIT] = "TIME_WAIT",	    [TCP_STATE_ILLEGAL] = "ILLEGAL",
};

static const char *const event_names[TCP_EVENT_COUNT] = {
	[TCP_EV_PASSIVE_OPEN] = "PASSIVE_OPEN",
	[TCP_EV_ACTIVE_OPEN] = "ACTIVE_OPEN",
	[TCP_EV_SEND] = "SEND",
	[TCP_EV_CLOSE] = "CLOSE",
	[TCP_EV_RCV_SYN] = "RCV_SYN",
	[TCP_EV_RCV_SYN_ACK] = "RCV_SYN_ACK",
	[TCP_EV_RCV_ACK] = "RCV_ACK",
	[TCP_EV_RCV_FIN] = "RCV_FIN",
	[TCP_EV_RCV_FIN_ACK] = "RCV_FIN_ACK",
	[TCP_EV_TIMEOUT] = "TIMEOUT",
	[TCP_EV_RCV_RST] = "RCV_RST",
};

const char *tcp_state_name(enum tcp_state s)
{
	if ((unsigned)s > TCP_STATE_ILLEGAL)
		return "?";
	return state_names[s];
}

const char *tcp_event_name(enum tcp_event ev)
{
	if ((unsigned)ev >= TCP_EVENT_COUNT)
		return "?";
	return event_names[ev];
}
