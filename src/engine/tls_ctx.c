// SPDX-License-Identifier: MIT
/*
 * TLS contexts: from the flags (struct tls_settings) to one shard's set of
 * SSL_CTXs, checked the way an operator wants to hear about mistakes, at
 * startup and in one line naming the flag and the file.
 *
 * A certificate's names are its subjectAltName DNS entries (its CN when it
 * has none). Certificates with the same names share one SSL_CTX, so an RSA
 * and an ECDSA certificate for one site sit side by side and OpenSSL picks
 * by what the client supports. The servername callback, on the default
 * context, moves a handshake to the context its SNI names.
 */
#include "tls_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define DEFAULT_CIPHERS                                              \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define DEFAULT_GROUPS	      "X25519:P-256"
#define DEFAULT_HANDSHAKE_MS  TLS_DEFAULT_HANDSHAKE_MS
#define DEFAULT_MAX_HANDSHAKE TLS_DEFAULT_MAX_HANDSHAKES

int tls_settings_new_keys(struct tls_settings *s)
{
	return RAND_bytes(s->ticket_keys, sizeof(s->ticket_keys)) == 1 ? 0 : -EIO;
}

/* OpenSSL's first queued reason, for a one-line error; the queue is emptied. */
static const char *ssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	snprintf(buf, len, "%s", r ? r : "unknown error");
	ERR_clear_error();
	return buf;
}

/* ---- a certificate's names, and SNI ------------------------------------------------------ */

static void names_add(struct tls_cert_names *n, const char *name, size_t len)
{
	if (n->n == TLS_MAX_NAMES || !len)
		return;
	n->name[n->n] = strndup(name, len);
	if (n->name[n->n])
		n->n++;
}

static void names_read(struct tls_cert_names *n, X509 *x)
{
	GENERAL_NAMES *san = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);

	if (san) {
		for (int i = 0; i < sk_GENERAL_NAME_num(san); i++) {
			const GENERAL_NAME *g = sk_GENERAL_NAME_value(san, i);

			if (g->type == GEN_DNS)
				names_add(n, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
					  (size_t)ASN1_STRING_length(g->d.dNSName));
		}
		GENERAL_NAMES_free(san);
	}
	if (!n->n) {
		char cn[256];
		int len = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
						    sizeof(cn));

		if (len > 0)
			names_add(n, cn, (size_t)len);
	}
}

static void names_free(struct tls_cert_names *n)
{
	for (unsigned i = 0; i < n->n; i++)
		free(n->name[i]);
	n->n = 0;
}

static bool names_same(const struct tls_cert_names *a, const struct tls_cert_names *b)
{
	if (a->n != b->n)
		return false;
	for (unsigned i = 0; i < a->n; i++)
		if (strcasecmp(a->name[i], b->name[i]))
			return false;
	return true;
}

/* "*.example.com" covers exactly one label: "a.example.com", not "a.b.example.com". */
static bool wildcard_match(const char *pattern, const char *name)
{
	const char *dot = strchr(name, '.');

	return pattern[0] == '*' && pattern[1] == '.' && dot && dot != name &&
	       !strcasecmp(pattern + 1, dot);
}

SSL_CTX *tls_ctx_for_name(const struct tls_ctx *t, const char *name)
{
	for (unsigned i = 0; i < t->n; i++)
		for (unsigned k = 0; k < t->names[i].n; k++)
			if (!strcasecmp(t->names[i].name[k], name))
				return t->ctx[i];
	for (unsigned i = 0; i < t->n; i++)
		for (unsigned k = 0; k < t->names[i].n; k++)
			if (wildcard_match(t->names[i].name[k], name))
				return t->ctx[i];
	return NULL;
}

static int on_servername(SSL *ssl, int *alert, void *arg)
{
	const struct tls_ctx *t = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	SSL_CTX *ctx = name ? tls_ctx_for_name(t, name) : NULL;

	if (!ctx) {
		if (!t->strict_sni)
			return SSL_TLSEXT_ERR_OK; /* the default context answers */
		*alert = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	if (ctx != SSL_get_SSL_CTX(ssl))
		SSL_set_SSL_CTX(ssl, ctx);
	return SSL_TLSEXT_ERR_OK;
}

/* ---- ALPN --------------------------------------------------------------------------------- */

/* "h2,http/1.1" into ALPN's wire format (a length byte before each name). */
static int alpn_wire(const char *list, unsigned char *out, unsigned *out_len, size_t cap)
{
	size_t n = 0;

	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");

		if (!len || len > 255 || n + 1 + len > cap)
			return -EINVAL;
		out[n++] = (unsigned char)len;
		memcpy(out + n, p, len);
		n += len;
		p += len;
		if (*p == ',')
			p++;
	}
	*out_len = (unsigned)n;
	return n ? 0 : -EINVAL;
}

/* The first of our protocols the client offers; none in common: the handshake goes on without. */
static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		   const unsigned char *in, unsigned inlen, void *arg)
{
	const struct tls_ctx *t = arg;
	unsigned char *sel;

	if (SSL_select_next_proto(&sel, outlen, t->alpn, t->alpn_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* ---- the key log (SSLKEYLOGFILE's format), for Wireshark ---------------------------------- */

static FILE *keylog_file;
static pthread_mutex_t keylog_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * A debugging aid: a blocking write per handshake, under a lock shared by
 * the shards. Never on in a benchmark, and the manual says so.
 */
static void on_keylog(const SSL *ssl, const char *line)
{
	pthread_mutex_lock(&keylog_lock);
	if (keylog_file) {
		fprintf(keylog_file, "%s\n", line);
		fflush(keylog_file);
	}
	pthread_mutex_unlock(&keylog_lock);
}

static int keylog_open(const char *path, char *err, size_t err_len)
{
	int ret = 0;

	pthread_mutex_lock(&keylog_lock);
	if (!keylog_file) {
		keylog_file = fopen(path, "a");
		if (!keylog_file) {
			snprintf(err, err_len, "--tls-keylog %s: %s", path, strerror(errno));
			ret = -EINVAL;
		}
	}
	pthread_mutex_unlock(&keylog_lock);
	return ret;
}

/* ---- building --------------------------------------------------------------------------- */

/* Settings every context shares: versions, ciphers, groups, tickets, client verification. */
static int ctx_common(struct tls_ctx *t, SSL_CTX *ctx, const struct tls_settings *s, char *err,
		      size_t err_len)
{
	char why[160];
	int tickets = s->tickets < 0 ? 1 : s->tickets;

	SSL_CTX_set_min_proto_version(ctx, s->min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
	/*
	 * No renegotiation (a CPU sink a client can trigger at will), no
	 * compression (CRIME); the server's cipher order wins. Buffers are
	 * released while a connection is idle: a keep-alive connection then
	 * holds no 16 KiB record buffers between requests.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Buffers released per record until a connection is busy (transport.h, TLS_BUSY_PASSES). */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (!SSL_CTX_set_cipher_list(ctx, s->ciphers ? s->ciphers : DEFAULT_CIPHERS)) {
		snprintf(err, err_len, "--tls-ciphers '%s': %s",
			 s->ciphers ? s->ciphers : DEFAULT_CIPHERS, ssl_reason(why, sizeof(why)));
		return -EINVAL;
	}
	if (s->ciphersuites && !SSL_CTX_set_ciphersuites(ctx, s->ciphersuites)) {
		snprintf(err, err_len, "--tls-ciphersuites '%s': %s", s->ciphersuites,
			 ssl_reason(why, sizeof(why)));
		return -EINVAL;
	}
	if (!SSL_CTX_set1_groups_list(ctx, s->groups ? s->groups : DEFAULT_GROUPS)) {
		snprintf(err, err_len, "--tls-groups '%s': %s",
			 s->groups ? s->groups : DEFAULT_GROUPS, ssl_reason(why, sizeof(why)));
		return -EINVAL;
	}
	/*
	 * Stateless tickets only, under keys every shard shares: a client
	 * resumes on whichever shard SO_REUSEPORT hands it to, and no shard
	 * keeps a session cache.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (tickets == 0) {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
	} else {
		SSL_CTX_set_num_tickets(ctx, (size_t)tickets);
		SSL_CTX_set_tlsext_ticket_keys(ctx, (void *)s->ticket_keys, sizeof(s->ticket_keys));
	}
	if (t->alpn_len)
		SSL_CTX_set_alpn_select_cb(ctx, on_alpn, t);
	if (s->keylog)
		SSL_CTX_set_keylog_callback(ctx, on_keylog);
	if (s->verify_client != TLS_VERIFY_NONE) {
		int mode = SSL_VERIFY_PEER;

		if (s->verify_client == TLS_VERIFY_REQUIRED)
			mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		if (!s->ca) {
			snprintf(err, err_len, "--tls-verify-client needs --tls-ca FILE");
			return -EINVAL;
		}
		if (!SSL_CTX_load_verify_locations(ctx, s->ca, NULL)) {
			snprintf(err, err_len, "--tls-ca %s: %s", s->ca,
				 ssl_reason(why, sizeof(why)));
			return -EINVAL;
		}
		SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(s->ca));
		if (s->crl) {
			X509_STORE *st = SSL_CTX_get_cert_store(ctx);
			X509_LOOKUP *lu = X509_STORE_add_lookup(st, X509_LOOKUP_file());

			if (!lu || X509_load_crl_file(lu, s->crl, X509_FILETYPE_PEM) <= 0) {
				snprintf(err, err_len, "--tls-crl %s: %s", s->crl,
					 ssl_reason(why, sizeof(why)));
				return -EINVAL;
			}
			X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
		}
		SSL_CTX_set_verify(ctx, mode, NULL);
	}
	return 0;
}

/* The names of the certificate in a PEM file (its first certificate). */
static int cert_names(const char *path, struct tls_cert_names *n, bool *expired, char *err,
		      size_t err_len)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	if (!f) {
		snprintf(err, err_len, "--tls-cert %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x) {
		ERR_clear_error();
		snprintf(err, err_len, "--tls-cert %s: no PEM certificate in it", path);
		return -EINVAL;
	}
	names_read(n, x);
	*expired = X509_cmp_current_time(X509_get0_notAfter(x)) < 0;
	X509_free(x);
	return 0;
}

static int load_pair(SSL_CTX *ctx, const char *cert, const char *key, char *err, size_t err_len)
{
	char why[160];

	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		snprintf(err, err_len, "--tls-cert %s: %s", cert, ssl_reason(why, sizeof(why)));
		return -EINVAL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, err_len, "--tls-key %s: %s", key, ssl_reason(why, sizeof(why)));
		return -EINVAL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, err_len, "--tls-key %s: does not match --tls-cert %s", key, cert);
		return -EINVAL;
	}
	return 0;
}

static SSL_CTX *ctx_new(struct tls_ctx *t, const struct tls_settings *s, char *err, size_t err_len)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		snprintf(err, err_len, "TLS: cannot create a context");
		return NULL;
	}
	if (ctx_common(t, ctx, s, err, err_len)) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int tls_ctx_new(struct tls_ctx **out, const struct tls_settings *s, char *err, size_t err_len,
		char *warn, size_t warn_len)
{
	struct tls_ctx *t;
	int ret = -EINVAL;

	if (warn && warn_len)
		warn[0] = 0;
	if (!s->n_certs || s->n_certs != s->n_keys) {
		snprintf(err, err_len,
			 "TLS needs a --tls-key for each --tls-cert (%u and %u given)", s->n_certs,
			 s->n_keys);
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->strict_sni = s->strict_sni;
	t->handshake_ms = s->handshake_ms ? s->handshake_ms : DEFAULT_HANDSHAKE_MS;
	t->max_handshakes = s->max_handshakes ? s->max_handshakes : DEFAULT_MAX_HANDSHAKE;
	if (s->alpn && alpn_wire(s->alpn, t->alpn, &t->alpn_len, sizeof(t->alpn))) {
		snprintf(err, err_len, "--tls-alpn '%s': not a list like http/1.1,h2", s->alpn);
		goto out_free;
	}
	if (s->keylog && keylog_open(s->keylog, err, err_len))
		goto out_free;
	for (unsigned i = 0; i < s->n_certs; i++) {
		struct tls_cert_names n = {0};
		bool expired = false;
		unsigned k;

		if (cert_names(s->cert[i], &n, &expired, err, err_len))
			goto out_free;
		if (expired && warn && warn_len && !warn[0])
			snprintf(warn, warn_len, "--tls-cert %s: the certificate has expired",
				 s->cert[i]);
		/* Same names as one loaded already: another key type for the same site. */
		for (k = 0; k < t->n; k++)
			if (names_same(&t->names[k], &n))
				break;
		if (k == t->n) {
			t->ctx[k] = ctx_new(t, s, err, err_len);
			if (!t->ctx[k]) {
				names_free(&n);
				goto out_free;
			}
			t->names[k] = n;
			t->n++;
		} else {
			names_free(&n);
		}
		if (load_pair(t->ctx[k], s->cert[i], s->key[i], err, err_len))
			goto out_free;
	}
	/* The handshake starts on the default context; SNI may move it to another. */
	SSL_CTX_set_tlsext_servername_callback(t->ctx[0], on_servername);
	SSL_CTX_set_tlsext_servername_arg(t->ctx[0], t);
	*out = t;
	return 0;

out_free:
	tls_ctx_free(t);
	return ret;
}

void tls_ctx_chain(struct tls_ctx *t, struct tls_ctx *older)
{
	while (t->older)
		t = t->older;
	t->older = older;
}

void tls_ctx_free(struct tls_ctx *t)
{
	if (!t)
		return;
	tls_ctx_free(t->older);
	for (unsigned i = 0; i < t->n; i++) {
		SSL_CTX_free(t->ctx[i]);
		names_free(&t->names[i]);
	}
	free(t);
}

/* ---- client contexts --------------------------------------------------------------------- */

static int version_of(unsigned v)
{
	return v == 13 ? TLS1_3_VERSION : v == 12 ? TLS1_2_VERSION : 0;
}

SSL_CTX *tls_client_ctx_new(const struct tls_client_settings *s, char *err, size_t err_len)
{
	const char *what = s->what ? s->what : "TLS client";
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char why[160];

	if (!ctx) {
		snprintf(err, err_len, "%s: cannot create a context", what);
		return NULL;
	}
	if (s->min_version)
		SSL_CTX_set_min_proto_version(ctx, version_of(s->min_version));
	if (s->max_version)
		SSL_CTX_set_max_proto_version(ctx, version_of(s->max_version));
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	/* Buffers released per record until a connection is busy (transport.h, TLS_BUSY_PASSES). */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (s->ciphers && !SSL_CTX_set_cipher_list(ctx, s->ciphers)) {
		snprintf(err, err_len, "%s ciphers '%s': %s", what, s->ciphers,
			 ssl_reason(why, sizeof(why)));
		goto out_free;
	}
	if (s->ciphersuites && !SSL_CTX_set_ciphersuites(ctx, s->ciphersuites)) {
		snprintf(err, err_len, "%s ciphersuites '%s': %s", what, s->ciphersuites,
			 ssl_reason(why, sizeof(why)));
		goto out_free;
	}
	if (s->groups && !SSL_CTX_set1_groups_list(ctx, s->groups)) {
		snprintf(err, err_len, "%s groups '%s': %s", what, s->groups,
			 ssl_reason(why, sizeof(why)));
		goto out_free;
	}
	if (s->alpn) {
		unsigned char wire[256];
		unsigned len;

		if (alpn_wire(s->alpn, wire, &len, sizeof(wire)) ||
		    SSL_CTX_set_alpn_protos(ctx, wire, len)) {
			snprintf(err, err_len, "%s ALPN '%s': not a list like http/1.1", what,
				 s->alpn);
			goto out_free;
		}
	}
	if (s->verify) {
		if (s->ca ? !SSL_CTX_load_verify_locations(ctx, s->ca, NULL)
			  : !SSL_CTX_set_default_verify_paths(ctx)) {
			snprintf(err, err_len, "%s %s: %s", what, s->ca ? s->ca : "(system store)",
				 ssl_reason(why, sizeof(why)));
			goto out_free;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	if (s->cert || s->key) {
		if (!s->cert || !s->key) {
			snprintf(err, err_len,
				 "%s: a client certificate needs both its file and its key", what);
			goto out_free;
		}
		if (SSL_CTX_use_certificate_chain_file(ctx, s->cert) != 1) {
			snprintf(err, err_len, "%s certificate %s: %s", what, s->cert,
				 ssl_reason(why, sizeof(why)));
			goto out_free;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, s->key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			snprintf(err, err_len, "%s key %s: %s", what, s->key,
				 ssl_reason(why, sizeof(why)));
			goto out_free;
		}
	}
	if (s->keylog) {
		if (keylog_open(s->keylog, err, err_len))
			goto out_free;
		SSL_CTX_set_keylog_callback(ctx, on_keylog);
	}
	return ctx;

out_free:
	SSL_CTX_free(ctx);
	return NULL;
}

int tls_client_check(const struct tls_client_settings *s, char *err, size_t err_len)
{
	SSL_CTX *ctx = tls_client_ctx_new(s, err, err_len);

	if (!ctx)
		return -EINVAL;
	SSL_CTX_free(ctx);
	return 0;
}
