/* SPDX-License-Identifier: MIT */
#ifndef RINGER_PROTO_H
#define RINGER_PROTO_H

#include <stdint.h>

struct shard;
struct conn;

/*
 * One table per mode (echo, http, proxy), as io_uring's opdef.c keeps one
 * row per opcode. The shard owns sockets, buffers and the TCP lifecycle; a
 * protocol only decides what to send for the bytes a connection received.
 *
 * Received buffers queue on the connection (a chain, see conn.h) in arrival
 * order; shard_in_ptr()/shard_in_len() give what is left of the oldest one.
 * The shard calls process() whenever the connection has queued input and no
 * send in flight; process() issues at most one send (shard_send) or decides
 * to close, and gives buffers back with shard_pop_buf() once consumed.
 * sent() sees each send's result first, so a protocol can resume a short
 * send or account what went out before process() runs again.
 */
struct proto_ops {
	const char *name;
	/* Per-shard setup and teardown (may be NULL). Return 0 or -errno. */
	int (*shard_init)(struct shard *s);
	void (*shard_fini)(struct shard *s);
	/* A new connection is ESTABLISHED (may be NULL). */
	void (*open)(struct shard *s, struct conn *c);
	/* Queued input and no send in flight: make progress. */
	void (*process)(struct shard *s, struct conn *c);
	/* A send completed with res bytes (> 0); return -errno to abort the connection. */
	int (*sent)(struct shard *s, struct conn *c, int res);
	/* The connection's slot is about to be freed (may be NULL): drop what it holds. */
	void (*close)(struct shard *s, struct conn *c);
	/* Once a second, on every shard (may be NULL): refresh cached headers and such. */
	void (*tick)(struct shard *s, uint64_t now_ms, int64_t wall_sec);
};

extern const struct proto_ops proto_echo;
extern const struct proto_ops proto_http;

#endif
