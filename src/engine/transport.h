/* SPDX-License-Identifier: MIT */
#ifndef RINGER_TRANSPORT_H
#define RINGER_TRANSPORT_H

/*
 * The transport under a connection: plain (the engine's own zero-copy path,
 * nothing here) or TLS (transport_tls.c). The engine asks eng_tls_on() at
 * the few points where the two differ, and calls the hooks below there:
 *
 *   receive     a recv completion queues ciphertext (eng_tls_raw_in) and
 *               marks the connection; the TCP FIN is eng_tls_raw_eof
 *   flush       after each batch of completions, every marked connection
 *               runs its handshake or SSL_read once (eng_tls_run): plaintext
 *               lands in pool buffers chained as the connection's input, so
 *               modes read it with engine_input() as before
 *   send        the mode's output (span, queued buffers, echoed input) is
 *               encrypted into pool buffers and those go out under the
 *               one-send-in-flight rule (eng_tls_start_send, eng_tls_sent)
 *   close       close_notify before a graceful FIN (eng_tls_close_notify)
 *   release     the SSL and its buffers go (eng_tls_release)
 *
 * Still one io_uring_enter per loop iteration however many TLS connections
 * there are: none of these submits anything but the send.
 */
#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct engine;
struct conn;
struct engine_params;
struct engine_listener_params;
struct eng_listener;
struct tls_settings;
struct ssl_st;

enum tls_flag {
	TLS_F_ON = 1u << 0,	    /* this slot's connection runs over TLS */
	TLS_F_DONE = 1u << 1,	    /* the handshake finished */
	TLS_F_RAW_EOF = 1u << 2,    /* the peer's TCP FIN arrived */
	TLS_F_CN_IN = 1u << 3,	    /* the peer's close_notify arrived */
	TLS_F_CN_OUT = 1u << 4,	    /* ours is queued or sent */
	TLS_F_DIRTY = 1u << 5,	    /* on the engine's list of connections to read */
	TLS_F_WAIT = 1u << 6,	    /* on the list of those waiting for pool buffers */
	TLS_F_IN_PASS = 1u << 7,    /* its read pass is running */
	TLS_F_CLIENT = 1u << 8,	    /* we connected out: SSL_connect */
	TLS_F_HS = 1u << 9,	    /* counted among the shard's handshakes in progress */
	TLS_F_WAIT_SEND = 1u << 10, /* output waits for pool buffers to encrypt into */
	TLS_F_LATER = 1u << 11,	    /* on the list for the next iteration (handshake budget) */
	TLS_F_STARVED = 1u << 12,   /* SSL_read wants more ciphertext than has come */
	TLS_F_KU_FLOOD = 1u << 13,  /* more KeyUpdates than allowed: reset */
	TLS_F_BUFS = 1u << 14,	    /* OpenSSL holds its record buffers (freed once idle) */
};

/* Per slot, beside struct conn, only when the engine serves TLS. */
struct tls_conn {
	struct ssl_st *ssl;
	struct engine *e;
	uint32_t slot;
	uint32_t next;	   /* the dirty, wait or later list */
	uint16_t flags;	   /* enum tls_flag */
	uint16_t raw_head; /* ciphertext received, not yet read by OpenSSL */
	uint16_t raw_tail;
	uint16_t raw_count;
	uint32_t raw_off;
	uint16_t ct_head; /* ciphertext to send (pool buffers) */
	uint16_t ct_tail;
	uint16_t ct_count;
	uint16_t hs_at; /* engine clock (ms, low 16 bits) when the handshake began */
	uint32_t ct_off;
	uint32_t pt_inflight; /* plaintext bytes the ciphertext being sent carries */
	uint32_t retry_len;   /* an SSL_write to repeat with this length (WANT_WRITE) */
	uint32_t peer_len;
	/*
	 * What the handshake settled, for /connections on another thread:
	 * OpenSSL's static names, and the SNI asked for, written once.
	 */
	const char *v_name;
	const char *c_name;
	char sni[32];
	uint16_t ku_at;		  /* engine clock (ms, low 16 bits): the KeyUpdate window began */
	uint16_t ku_count;	  /* KeyUpdates received in it */
	uint16_t busy;		  /* read and write passes since it last gave its buffers back */
	struct sockaddr_in6 peer; /* an accepted peer, for mode->accepted after the handshake */
};

int eng_tls_init(struct engine *e, const struct engine_listener_params *all, bool tls_client,
		 char *note, size_t note_len);
/* A listener added while running: its server contexts (the engine's TLS state exists). */
int eng_tls_listener(struct engine *e, struct eng_listener *l, const struct tls_settings *s,
		     char *note, size_t note_len);
void eng_tls_listener_free(struct eng_listener *l);
void eng_tls_fini(struct engine *e);

/* A connection just accepted (after its PROXY header, if any): begin the handshake. */
void eng_tls_accept(struct engine *e, struct conn *c);
void eng_tls_raw_in(struct engine *e, struct conn *c, uint16_t bid, uint32_t len);
void eng_tls_raw_eof(struct engine *e, struct conn *c);
/* After a kick: read again if ciphertext or decrypted bytes wait and there is room now. */
void eng_tls_want(struct engine *e, struct conn *c);
/* The flush: every marked connection's handshake or read, once. */
void eng_tls_run(struct engine *e);
/* True while marked connections wait for the next iteration (do not block in the wait). */
bool eng_tls_pending(const struct engine *e);
/* Returns 0 (a send submitted), 1 (waiting for pool buffers: nothing submitted) or -errno. */
int eng_tls_start_send(struct engine *e, struct conn *c);
/*
 * A send of res ciphertext bytes completed. Returns true once all the
 * ciphertext has gone, with the plaintext it carried in *plain (0: none).
 */
bool eng_tls_sent(struct engine *e, struct conn *c, uint32_t res, uint32_t *plain);
/* Before a graceful FIN: true while our close_notify still has to go out first. */
bool eng_tls_close_notify(struct engine *e, struct conn *c);
void eng_tls_handshake_timeout(struct engine *e, struct conn *c);
/*
 * OpenSSL's record buffers (about 17 KB each way): a connection starts with
 * SSL_MODE_RELEASE_BUFFERS, a malloc and free per record, so a burst of short
 * connections never holds them all at once. One that has made TLS_BUSY_PASSES
 * read or write passes keeps them from record to record (about 1,800
 * instructions less a keep-alive request), until it has been idle for
 * TLS_BUFS_IDLE_MS (its timer, timers.c): then they go back, and it starts over.
 */
#define TLS_BUFS_IDLE_MS 1000
#define TLS_BUSY_PASSES	 8
void eng_tls_idle(struct engine *e, struct conn *c);
/* Once a tick: frees contexts a reload replaced, when nothing uses them. */
void eng_tls_tick(struct engine *e);
/* An outbound TLS connection's TCP connect finished: its handshake begins. */
void eng_tls_connected(struct engine *e, struct conn *c);
/* For engine_conn_view (any thread): what the connection in slot negotiated. */
void eng_tls_view(const struct engine *e, uint32_t slot, struct engine_conn_view *v);
/* A TLS connection whose handshake has not finished. */
bool eng_tls_handshaking(const struct engine *e, const struct conn *c);
void eng_tls_release(struct engine *e, struct conn *c);

#endif
