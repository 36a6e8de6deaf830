/* SPDX-License-Identifier: MIT */
#ifndef RINGER_TLS_INT_H
#define RINGER_TLS_INT_H

/*
 * Inside the TLS part of the engine (tls_ctx.c builds contexts,
 * transport_tls.c runs connections over them): the shape of a shard's
 * context set. Nothing outside src/engine/ includes this, so OpenSSL's
 * headers stay there too.
 */
#include <openssl/ssl.h>

#include "ringer/tls.h"

#define TLS_MAX_NAMES 32 /* names kept per certificate (SAN DNS entries, or the CN) */

struct tls_cert_names {
	char *name[TLS_MAX_NAMES];
	unsigned n;
};

struct tls_ctx {
	SSL_CTX *ctx[TLS_MAX_CERTS]; /* one per name set; [0] is the default */
	struct tls_cert_names names[TLS_MAX_CERTS];
	unsigned n;
	bool strict_sni;
	unsigned char alpn[256]; /* the offered protocols, in ALPN's wire format */
	unsigned alpn_len;
	unsigned handshake_ms;
	unsigned max_handshakes;
	struct tls_ctx *older; /* replaced sets waiting to be freed with this one */
};

/* Links older behind t: tls_ctx_free(t) frees both. */
void tls_ctx_chain(struct tls_ctx *t, struct tls_ctx *older);

/* A client context from s, or NULL with one line in err. */
SSL_CTX *tls_client_ctx_new(const struct tls_client_settings *s, char *err, size_t err_len);

/* The context an SNI name selects: exact, then wildcard; NULL when none has it. */
SSL_CTX *tls_ctx_for_name(const struct tls_ctx *t, const char *name);

#endif
