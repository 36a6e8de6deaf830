/* SPDX-License-Identifier: MIT */
#ifndef RINGER_TCP_STATE_H
#define RINGER_TCP_STATE_H

#include <stdbool.h>

/*
 * The eleven connection states of RFC 793, section 3.2. The numbering is ours;
 * TCP_STATE_ILLEGAL is not a state but the answer for a move the RFC forbids.
 */
enum tcp_state {
	TCPS_CLOSED,
	TCPS_LISTEN,
	TCPS_SYN_SENT,
	TCPS_SYN_RCVD,
	TCPS_ESTABLISHED,
	TCPS_FIN_WAIT_1,
	TCPS_FIN_WAIT_2,
	TCPS_CLOSE_WAIT,
	TCPS_CLOSING,
	TCPS_LAST_ACK,
	TCPS_TIME_WAIT,
	TCP_STATE_COUNT,
	TCP_STATE_ILLEGAL = TCP_STATE_COUNT,
};

/*
 * The events that label the edges of RFC 793's state diagram (figure 6),
 * plus a reset, which the RFC describes in the text (section 3.4/3.9).
 */
enum tcp_event {
	TCP_EV_PASSIVE_OPEN, /* user: passive OPEN (create TCB) */
	TCP_EV_ACTIVE_OPEN,  /* user: active OPEN, snd SYN */
	TCP_EV_SEND,	     /* user: SEND from LISTEN, snd SYN */
	TCP_EV_CLOSE,	     /* user: CLOSE (snd FIN, or delete TCB) */
	TCP_EV_RCV_SYN,	     /* rcv SYN */
	TCP_EV_RCV_SYN_ACK,  /* rcv SYN,ACK */
	TCP_EV_RCV_ACK,	     /* rcv ACK of our SYN or of our FIN */
	TCP_EV_RCV_FIN,	     /* rcv FIN that does not ack our FIN */
	TCP_EV_RCV_FIN_ACK,  /* rcv FIN that also acks our FIN */
	TCP_EV_TIMEOUT,	     /* 2MSL timer expired */
	TCP_EV_RCV_RST,	     /* rcv RST, or the connection aborted */
	TCP_EVENT_COUNT,
};

/* Next state for (state, event), or TCP_STATE_ILLEGAL. Pure; never fails otherwise. */
enum tcp_state tcp_state_next(enum tcp_state s, enum tcp_event ev);

static inline bool tcp_state_legal(enum tcp_state s, enum tcp_event ev)
{
	return tcp_state_next(s, ev) != TCP_STATE_ILLEGAL;
}

/* "ESTABLISHED", "FIN_WAIT_1", ...; "ILLEGAL" for TCP_STATE_ILLEGAL, "?" out of range. */
const char *tcp_state_name(enum tcp_state s);
const char *tcp_event_name(enum tcp_event ev);

#endif
