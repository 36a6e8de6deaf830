/* SPDX-License-Identifier: MIT */
#ifndef RINGER_TLS_H
#define RINGER_TLS_H

/*
 * TLS settings and the contexts built from them (OpenSSL 3.0, user space).
 *
 * struct tls_settings is plain data the flags fill (config.c); tls_ctx_new()
 * turns it into one shard's contexts: an SSL_CTX per certificate name, chosen
 * by SNI (exact name, then wildcard, then the first as the default), with
 * RSA and ECDSA keys for the same names side by side in one context.
 * Every shard builds its own set (OpenSSL 3.0 serialises threads on shared
 * context state); the session-ticket keys come from the settings, so a
 * ticket issued by one shard resumes on any other.
 *
 * Only src/engine/tls_*.c include OpenSSL: the rest of ringer sees this
 * header and the engine's transport.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_MAX_CERTS	   16
#define TLS_TICKET_KEY_LEN 80 /* OpenSSL's: 16 bytes of name, 32 of HMAC key, 32 of AES key */

enum tls_verify {
	TLS_VERIFY_NONE,
	TLS_VERIFY_OPTIONAL,
	TLS_VERIFY_REQUIRED,
};

struct tls_settings {
	const char *cert[TLS_MAX_CERTS]; /* PEM: the certificate, then its chain */
	const char *key[TLS_MAX_CERTS];
	unsigned n_certs;
	unsigned n_keys;
	unsigned min_version;	  /* 12 or 13 (TLS 1.2, 1.3) */
	const char *ciphers;	  /* TLS 1.2 cipher list; NULL: ECDHE with AEAD only */
	const char *ciphersuites; /* TLS 1.3; NULL: OpenSSL's default suites */
	const char *groups;	  /* NULL: X25519:P-256 */
	const char *alpn;	  /* "http/1.1,..." offered; NULL: no ALPN */
	bool strict_sni;	  /* a name no certificate has: handshake refused */
	int tickets;		  /* session tickets per handshake; 0: none; -1: default (1) */
	enum tls_verify verify_client;
	const char *ca;	 /* client certificates' CA (with verify_client) */
	const char *crl; /* ... and a CRL checked against the leaf */
	const char *keylog;
	unsigned handshake_ms;	 /* a handshake must finish within this (default 10 s) */
	unsigned max_handshakes; /* per shard at once; beyond it new connections are closed */
	uint8_t ticket_keys[TLS_TICKET_KEY_LEN]; /* the same in every shard */
};

/* TLS to servers we connect to (the proxy's upstreams, ringer-load's targets). */
struct tls_client_settings {
	const char *ca;	  /* verify against this PEM CA file; NULL: the system's store */
	bool verify;	  /* verify the chain, and the name when one is given */
	const char *cert; /* a client certificate (PEM), or NULL */
	const char *key;
	const char *alpn;		   /* "http/1.1,..." offered; NULL: none */
	unsigned min_version, max_version; /* 12 or 13; 0: OpenSSL's */
	const char *ciphers;		   /* TLS 1.2 list; NULL: OpenSSL's */
	const char *ciphersuites;	   /* TLS 1.3; NULL: OpenSSL's */
	const char *groups;		   /* NULL: OpenSSL's */
	const char *keylog;
	bool resume;	  /* offer the session the last connection got (tickets) */
	const char *what; /* names the flags in errors ("--upstream-ca", ...) */
};

struct tls_ctx;

#define TLS_DEFAULT_HANDSHAKE_MS   10000
#define TLS_DEFAULT_MAX_HANDSHAKES 1024

static inline void tls_settings_defaults(struct tls_settings *s)
{
	*s = (struct tls_settings){
		.min_version = 12,
		.tickets = -1,
		.handshake_ms = TLS_DEFAULT_HANDSHAKE_MS,
		.max_handshakes = TLS_DEFAULT_MAX_HANDSHAKES,
	};
}
/* Fresh random ticket keys into s (once per process: every shard shares them). */
int tls_settings_new_keys(struct tls_settings *s);

/*
 * Builds the contexts s describes. Returns 0, or -EINVAL with one line in
 * err naming the flag and the file ("--tls-key key.pem: does not match
 * --tls-cert cert.pem"). warn (may be NULL) gets a line for what works but
 * deserves a look (an expired certificate), or stays empty.
 */
int tls_ctx_new(struct tls_ctx **out, const struct tls_settings *s, char *err, size_t err_len,
		char *warn, size_t warn_len);
void tls_ctx_free(struct tls_ctx *t);
/* Builds (and frees) a client context from s: 0, or -EINVAL with one line in err. */
int tls_client_check(const struct tls_client_settings *s, char *err, size_t err_len);

#endif
