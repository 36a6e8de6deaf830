/* SPDX-License-Identifier: MIT */
#ifndef RINGER_MODE_H
#define RINGER_MODE_H

#include <stdint.h>

struct engine;
struct conn;

/*
 * A mode (echo, http, proxy; ringer-load's client too) is one table of
 * callbacks, as io_uring's opdef.c keeps one row per opcode. The engine owns
 * sockets, buffers, backpressure and the TCP lifecycle, and calls these when
 * something happened that the mode must decide about; the mode answers with
 * engine calls (engine.h) and never touches a connection's flags or the
 * shard. Every callback may be NULL except readable.
 *
 * Order on one connection: accepted or connected first; readable whenever
 * new input is queued (also while a send is in flight: a mode that sends
 * one thing at a time checks engine_sending()); sent when the bytes given to
 * engine_send() have all gone out; peer_eof after the input that came before
 * the FIN was shown; closed last, just before the slot is freed.
 */
struct mode_ops {
	const char *name;
	/* Connections a session holds (a proxy: 2); the engine's slab is sized for it. */
	unsigned conns_per_session;
	/* Per engine (per shard) setup: arg is the mode's configuration. Return 0 or -errno. */
	int (*init)(struct engine *e, const void *arg, void **data);
	void (*fini)(struct engine *e, void *data);
	/* An accepted connection is ESTABLISHED and receiving. */
	void (*accepted)(struct engine *e, struct conn *c);
	/*
	 * An engine_connect() finished: res 0, ESTABLISHED and receiving; or
	 * -errno (-ETIMEDOUT for the timeout), and c is released after this returns.
	 */
	void (*connected)(struct engine *e, struct conn *c, int res);
	/* New input is queued: engine_input() / engine_consume() / engine_forward(). */
	void (*readable)(struct engine *e, struct conn *c);
	/* The span given to engine_send() has all been sent. */
	void (*sent)(struct engine *e, struct conn *c);
	/*
	 * The peer sent its FIN. The connection stays open for sending until the
	 * mode calls engine_shutdown() or engine_close(). NULL: close once output drains.
	 */
	void (*peer_eof)(struct engine *e, struct conn *c);
	/* A deadline set with engine_set_deadline() passed. NULL: abort the connection. */
	void (*expired)(struct engine *e, struct conn *c);
	/* c's slot is about to be freed: drop what refers to it. */
	void (*closed)(struct engine *e, struct conn *c);
	/* An engine_write() finished: res bytes written, or -errno. */
	void (*written)(struct engine *e, uint32_t token, int res);
	/* Once a second: refresh cached headers and such. */
	void (*tick)(struct engine *e, uint64_t now_ms, int64_t wall_sec);
	/* The time engine_set_timer() asked for has come: work on the mode's own schedule. */
	void (*timer)(struct engine *e, uint64_t now_ms);
};

extern const struct mode_ops mode_echo;
extern const struct mode_ops mode_http;
extern const struct mode_ops mode_proxy;
extern const struct mode_ops mode_http_proxy;

#endif
