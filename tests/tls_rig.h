/* SPDX-License-Identifier: MIT */
#ifndef RINGER_TESTS_TLS_RIG_H
#define RINGER_TESTS_TLS_RIG_H

/*
 * The TLS transport on a real ring with a TLS peer the caller drives byte by
 * byte: an engine serving one TLS listener on 127.0.0.1 (a mode that echoes,
 * or forwards to rig.forward_to), and a client on OpenSSL's memory BIOs whose
 * ciphertext the caller sends to the socket in the pieces it chooses, the
 * engine's loop run between them. Used by tests/unit/test_tls_transport.c and
 * tests/fuzz/fuzz_tls_transport.c. Functions return 0 / true on success.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "ringer/engine.h"
#include "ringer/ring.h"
#include "ringer/stats.h"
#include "ringer/tls.h"

struct rig {
	struct ring ring;
	struct engine *e;
	struct stats st;
	struct tls_settings tls;
	int lfd;
	struct net_addr addr;
	/* what the mode saw */
	int accepted, peer_eofs, closed;
	struct conn_ref forward_to; /* readable forwards here; slot UINT32_MAX: echo */
};

struct peer {
	SSL_CTX *ctx;
	SSL *ssl;
	BIO *in, *out; /* in: what came from the socket; out: what the client has to send */
	int fd;
};

/* A self-signed ECDSA P-256 certificate and key in a new temporary directory. */
int rig_cert(void);
void rig_cert_remove(void);
int rig_init(struct rig *r, unsigned buf_count, unsigned buf_size);
void rig_fini(struct rig *r);
uint64_t rig_ms(void);
/* One iteration of the loop, as a shard runs it. */
void rig_pump(struct rig *r);
bool rig_pump_until(struct rig *r, int ms, bool (*done)(struct rig *, const void *),
		    const void *arg);
bool rig_bytes_in_at_least(struct rig *r, const void *want); /* a uint64_t */
bool rig_accepted(struct rig *r, const void *unused);
bool rig_released(struct rig *r, const void *unused); /* no slot in use, every buffer back */

/* Writes all of buf to fd, running the loop while the socket is full; 0 or -1. */
int rig_send(struct rig *r, int fd, const uint8_t *buf, size_t len);
/* Connects; the handshake's flights sent in pieces of at most `piece` bytes (0: whole). */
int peer_open(struct rig *r, struct peer *p, size_t piece);
/*
 * Sends what the client has to say in pieces of at most `piece` bytes (0: all
 * at once), each received by the engine before the next. Bytes sent, or -1.
 */
long peer_flush(struct rig *r, struct peer *p, size_t piece);
/* What the socket has, into the client's input; false at EOF or an error. */
bool peer_fill(struct peer *p);
/* Up to len plaintext bytes from the engine, running the loop meanwhile: the count read. */
size_t peer_read(struct rig *r, struct peer *p, uint8_t *out, size_t len, int ms);
/* Waits for the engine's close_notify: SSL_get_error's last answer (SSL_ERROR_ZERO_RETURN). */
int peer_wait_notify(struct rig *r, struct peer *p, int ms);
void peer_free(struct peer *p);

#endif
