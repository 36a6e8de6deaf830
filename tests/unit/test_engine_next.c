// SPDX-License-Identifier: MIT
/*
 * The engine's decision over every combination of its inputs: all rx, tx
 * and life flags that take part and the four queue facts (2^23 inputs).
 * For each, the action must be one the engine may take in that state
 * (safety), and applying a model of the action's effect and asking again
 * must reach "wait" within a few steps (the kick loop ends). A few named
 * scenarios pin down the order: output first, the mode before endings,
 * input before the FIN.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ringer/conn.h"
#include "ringer/engine_next.h"

static const uint16_t rx_bits[] = {
	CONN_RX_ARMED, CONN_RX_CANCELING,  CONN_RX_NOBUFS, CONN_RX_PAUSED,  CONN_RX_BLOCKED,
	CONN_RX_EOF,   CONN_RX_EOF_NOTIFY, CONN_RX_NOTIFY, CONN_RX_DISCARD,
};
static const uint16_t tx_bits[] = {
	CONN_TX_SENDING,       CONN_TX_SENT_NOTIFY, CONN_TX_SHUT_WANTED,
	CONN_TX_SHUT_INFLIGHT, CONN_TX_SHUT_DONE,
};
static const uint16_t life_bits[] = {
	CONN_L_USED, CONN_L_CONNECTING, CONN_L_CLOSE_WANTED, CONN_L_LINGER, CONN_L_DEAD,
};

#define N_RX   (sizeof(rx_bits) / sizeof(rx_bits[0]))
#define N_TX   (sizeof(tx_bits) / sizeof(tx_bits[0]))
#define N_LIFE (sizeof(life_bits) / sizeof(life_bits[0]))
#define N_BITS (N_RX + N_TX + N_LIFE + 4)

static struct next_in decode(uint32_t v)
{
	struct next_in in = {0};
	unsigned b = 0;

	for (unsigned i = 0; i < N_RX; i++, b++)
		if (v & (1u << b))
			in.rx |= rx_bits[i];
	for (unsigned i = 0; i < N_TX; i++, b++)
		if (v & (1u << b))
			in.tx |= tx_bits[i];
	for (unsigned i = 0; i < N_LIFE; i++, b++)
		if (v & (1u << b))
			in.life |= life_bits[i];
	in.in_queued = v & (1u << b++);
	in.in_full = v & (1u << b++);
	in.in_low = v & (1u << b++);
	in.out_queued = v & (1u << b++);
	return in;
}

/* Queue facts that cannot hold together are not inputs the engine can produce. */
static bool consistent(const struct next_in *in)
{
	if (in->in_full && (!in->in_queued || in->in_low))
		return false;
	if (!in->in_queued && !in->in_low)
		return false;
	/* Output is never queued once our FIN was asked for (engine_send/forward refuse). */
	if (in->out_queued && (in->tx & (CONN_TX_SHUT_INFLIGHT | CONN_TX_SHUT_DONE)))
		return false;
	/* A send in flight is output not yet sent. */
	if ((in->tx & CONN_TX_SENDING) && !in->out_queued)
		return false;
	return true;
}

/* Whether action a is safe to take in state in; a message when it is not. */
static const char *unsafe(const struct next_in *in, enum next_action a)
{
	bool sending = in->tx & CONN_TX_SENDING;
	bool out_busy = sending || in->out_queued;

	if (a == NEXT_NONE)
		return NULL;
	if (!(in->life & CONN_L_USED) || (in->life & (CONN_L_DEAD | CONN_L_CONNECTING)))
		return "acts on a free, dead or connecting slot";
	switch (a) {
	case NEXT_SEND:
		if (sending || !in->out_queued)
			return "a second send, or a send of nothing";
		if (in->tx & (CONN_TX_SHUT_INFLIGHT | CONN_TX_SHUT_DONE))
			return "a send after our FIN";
		return NULL;
	case NEXT_SENT:
		return (in->tx & CONN_TX_SENT_NOTIFY) ? NULL : "sent without a finished send";
	case NEXT_READABLE:
		if (!in->in_queued || !(in->rx & CONN_RX_NOTIFY) || (in->rx & CONN_RX_DISCARD))
			return "readable without new input, or while discarding";
		return NULL;
	case NEXT_EOF:
		if (!(in->rx & CONN_RX_EOF_NOTIFY))
			return "eof told twice";
		if ((in->rx & CONN_RX_NOTIFY) && in->in_queued)
			return "eof before the input that came before it";
		return NULL;
	case NEXT_DROP_INPUT:
		if (!(in->life & CONN_L_CLOSE_WANTED) || !in->in_queued)
			return "input dropped while not closing";
		if ((in->rx & CONN_RX_NOTIFY) && !(in->rx & CONN_RX_DISCARD))
			return "input dropped before the mode saw it";
		return NULL;
	case NEXT_SHUTDOWN:
		if (out_busy)
			return "FIN before output drained";
		if (in->tx & (CONN_TX_SHUT_INFLIGHT | CONN_TX_SHUT_DONE))
			return "a second shutdown";
		if (!(in->tx & CONN_TX_SHUT_WANTED) &&
		    !((in->life & CONN_L_CLOSE_WANTED) && (in->life & CONN_L_LINGER)))
			return "a shutdown nobody asked for";
		return NULL;
	case NEXT_CLOSE:
		if (out_busy)
			return "close before output drained";
		if (in->tx & CONN_TX_SHUT_INFLIGHT)
			return "close under a shutdown in flight";
		if (in->in_queued)
			return "close with input the mode has not consumed";
		if (!(in->life & CONN_L_CLOSE_WANTED) &&
		    !((in->rx & CONN_RX_EOF) && (in->tx & CONN_TX_SHUT_DONE)))
			return "close with a direction still open and no close asked for";
		if ((in->life & CONN_L_CLOSE_WANTED) && (in->life & CONN_L_LINGER) &&
		    !(in->rx & CONN_RX_EOF))
			return "lingering close before the peer's FIN";
		return NULL;
	case NEXT_PAUSE_RECV:
		if (!(in->rx & CONN_RX_ARMED) || (in->rx & CONN_RX_CANCELING))
			return "pause without an armed recv, or twice";
		if (!in->in_full && !(in->rx & CONN_RX_BLOCKED))
			return "pause without backpressure";
		return NULL;
	case NEXT_MARK_PAUSED:
		return in->in_full ? NULL : "paused without a full queue";
	case NEXT_ARM_RECV:
		if (in->rx & (CONN_RX_ARMED | CONN_RX_NOBUFS | CONN_RX_EOF))
			return "recv armed twice, while starved, or after the FIN";
		if (in->rx & CONN_RX_DISCARD)
			return NULL;
		if (in->life & CONN_L_CLOSE_WANTED)
			return "new input taken while closing";
		if (in->in_full || (in->rx & CONN_RX_BLOCKED))
			return "recv armed under backpressure";
		if ((in->rx & CONN_RX_PAUSED) && !in->in_low)
			return "a pause lifted before the queue is low";
		return NULL;
	default:
		return "unknown action";
	}
}

/*
 * A model of what each action does to the inputs, as engine.c applies it,
 * with the mode doing nothing in its callbacks and no completion arriving.
 */
static void model_apply(struct next_in *in, enum next_action a)
{
	switch (a) {
	case NEXT_SEND:
		in->tx |= CONN_TX_SENDING;
		break;
	case NEXT_SENT:
		in->tx &= ~CONN_TX_SENT_NOTIFY;
		break;
	case NEXT_READABLE:
		in->rx &= ~CONN_RX_NOTIFY;
		break;
	case NEXT_EOF:
		in->rx &= ~CONN_RX_EOF_NOTIFY;
		break;
	case NEXT_DROP_INPUT:
		in->in_queued = in->in_full = false;
		in->in_low = true;
		break;
	case NEXT_SHUTDOWN:
		in->tx |= CONN_TX_SHUT_INFLIGHT;
		if (in->life & CONN_L_LINGER)
			in->rx |= CONN_RX_DISCARD;
		break;
	case NEXT_CLOSE:
		in->life |= CONN_L_DEAD;
		break;
	case NEXT_PAUSE_RECV:
		in->rx |= CONN_RX_CANCELING | CONN_RX_PAUSED;
		break;
	case NEXT_MARK_PAUSED:
		in->rx |= CONN_RX_PAUSED;
		break;
	case NEXT_ARM_RECV:
		in->rx = (in->rx | CONN_RX_ARMED) & ~CONN_RX_PAUSED;
		break;
	default:
		break;
	}
}

static void every_input_safe_and_kick_ends(void **state)
{
	uint64_t checked = 0, acted = 0;

	(void)state;
	for (uint32_t v = 0; v < (1u << N_BITS); v++) {
		struct next_in in = decode(v);
		int steps = 0;

		if (!consistent(&in))
			continue;
		checked++;
		for (;;) {
			enum next_action a = engine_next(&in);
			const char *why = unsafe(&in, a);

			if (why)
				fail_msg("input %#x (rx %#x tx %#x life %#x in %d/%d/%d out %d): "
					 "%s: %s",
					 v, in.rx, in.tx, in.life, in.in_queued, in.in_full,
					 in.in_low, in.out_queued, engine_next_name(a), why);
			if (a == NEXT_NONE)
				break;
			acted++;
			model_apply(&in, a);
			if (++steps > 12)
				fail_msg("input %#x: the kick loop does not end (last %s)", v,
					 engine_next_name(a));
		}
	}
	assert_true(checked > 100000);
	assert_true(acted > 100000);
}

static struct next_in live(void)
{
	struct next_in in = {.life = CONN_L_USED, .in_low = true};

	return in;
}

static void order_of_actions(void **state)
{
	struct next_in in = live();

	(void)state;
	/* A fresh connection arms its receive. */
	assert_int_equal(engine_next(&in), NEXT_ARM_RECV);
	in.rx |= CONN_RX_ARMED;
	assert_int_equal(engine_next(&in), NEXT_NONE);
	/* Input arrives: the mode sees it. */
	in.rx |= CONN_RX_NOTIFY;
	in.in_queued = true;
	assert_int_equal(engine_next(&in), NEXT_READABLE);
	/* Output queued beats telling the mode anything. */
	in.out_queued = true;
	assert_int_equal(engine_next(&in), NEXT_SEND);
	/* The FIN waits until the input before it was shown. */
	in.out_queued = false;
	in.rx |= CONN_RX_EOF | CONN_RX_EOF_NOTIFY;
	in.rx &= ~CONN_RX_ARMED;
	assert_int_equal(engine_next(&in), NEXT_READABLE);
	in.rx &= ~CONN_RX_NOTIFY;
	assert_int_equal(engine_next(&in), NEXT_EOF);
	/* Once told, nothing more is received after the FIN. */
	in.rx &= ~CONN_RX_EOF_NOTIFY;
	in.in_queued = false;
	assert_int_equal(engine_next(&in), NEXT_NONE);
}

static void half_close_then_both_done(void **state)
{
	struct next_in in = live();

	(void)state;
	in.rx = CONN_RX_ARMED;
	in.tx = CONN_TX_SHUT_WANTED | CONN_TX_SENDING;
	in.out_queued = true;
	/* Our FIN waits for the output. */
	assert_int_equal(engine_next(&in), NEXT_NONE);
	in.tx &= ~CONN_TX_SENDING;
	in.out_queued = false;
	assert_int_equal(engine_next(&in), NEXT_SHUTDOWN);
	/* After our FIN, receiving continues: the other direction still flows. */
	in.tx = (in.tx & ~CONN_TX_SHUT_WANTED) | CONN_TX_SHUT_DONE;
	assert_int_equal(engine_next(&in), NEXT_NONE);
	in.rx = CONN_RX_NOTIFY;
	in.in_queued = true;
	assert_int_equal(engine_next(&in), NEXT_READABLE);
	in.rx = 0;
	in.in_queued = false;
	assert_int_equal(engine_next(&in), NEXT_ARM_RECV);
	/* The peer's FIN: both directions are finished, the connection closes. */
	in.rx = CONN_RX_EOF | CONN_RX_EOF_NOTIFY;
	assert_int_equal(engine_next(&in), NEXT_EOF);
	in.rx = CONN_RX_EOF;
	assert_int_equal(engine_next(&in), NEXT_CLOSE);
}

static void lingering_close(void **state)
{
	struct next_in in = live();

	(void)state;
	in.rx = CONN_RX_ARMED;
	in.life |= CONN_L_CLOSE_WANTED | CONN_L_LINGER;
	assert_int_equal(engine_next(&in), NEXT_SHUTDOWN);
	in.tx = CONN_TX_SHUT_INFLIGHT;
	in.rx |= CONN_RX_DISCARD;
	assert_int_equal(engine_next(&in), NEXT_NONE);
	/* The lingering read is re-armed even though a close was asked for. */
	in.rx &= ~CONN_RX_ARMED;
	assert_int_equal(engine_next(&in), NEXT_ARM_RECV);
	in.rx |= CONN_RX_ARMED;
	in.tx = CONN_TX_SHUT_DONE;
	assert_int_equal(engine_next(&in), NEXT_NONE);
	in.rx = CONN_RX_DISCARD | CONN_RX_EOF | CONN_RX_EOF_NOTIFY;
	assert_int_equal(engine_next(&in), NEXT_CLOSE);
}

static void backpressure(void **state)
{
	struct next_in in = live();

	(void)state;
	in.rx = CONN_RX_ARMED;
	in.in_queued = true;
	in.in_full = true;
	in.in_low = false;
	assert_int_equal(engine_next(&in), NEXT_PAUSE_RECV);
	in.rx = CONN_RX_PAUSED;
	assert_int_equal(engine_next(&in), NEXT_NONE);
	/* Not yet low: stay paused. */
	in.in_full = false;
	assert_int_equal(engine_next(&in), NEXT_NONE);
	in.in_low = true;
	assert_int_equal(engine_next(&in), NEXT_ARM_RECV);
	/* A full destination blocks the source's receive until it is woken. */
	in.rx = CONN_RX_ARMED | CONN_RX_BLOCKED;
	in.in_queued = false;
	assert_int_equal(engine_next(&in), NEXT_PAUSE_RECV);
	in.rx = CONN_RX_BLOCKED;
	assert_int_equal(engine_next(&in), NEXT_NONE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_input_safe_and_kick_ends),
		cmocka_unit_test(order_of_actions),
		cmocka_unit_test(half_close_then_both_done),
		cmocka_unit_test(lingering_close),
		cmocka_unit_test(backpressure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
