// SPDX-License-Identifier: MIT
/*
 * TLS under a connection: OpenSSL 3.0 over the engine's own buffers through
 * a custom BIO (HAProxy's ssl_sock.c, Seastar's tls_openssl.cc and uSockets'
 * crypto/openssl.c have this shape), never a BIO_s_mem pair.
 *
 *   ciphertext in   the recv ring's buffers, chained on the connection as
 *                   they arrive (raw); the BIO's read copies them into
 *                   OpenSSL's record buffer and gives each back to the ring
 *                   as soon as it is consumed
 *   plaintext in    SSL_read writes into pool buffers (struct bufring's
 *                   pool: no kernel ring entry) chained as the connection's
 *                   input, so engine_input/forward/send_input work unchanged
 *   plaintext out   whatever the mode queued (its span, buffers forwarded
 *                   to it, its echoed input)
 *   ciphertext out  SSL_write's records, appended by the BIO's write to a
 *                   chain of pool buffers (ct) that one sendmsg carries
 *
 * So each direction costs one copy beyond OpenSSL's own work, and the pool
 * is the back-pressure point: a connection that cannot get a buffer waits
 * on a list and is looked at again when buffers come back.
 *
 * A recv completion only queues ciphertext and marks the connection; after
 * the batch, eng_tls_run() runs each marked connection's handshake or
 * SSL_read once. A handshake counts against a budget per iteration (a
 * flood of ClientHellos cannot stall established connections: those left
 * over run in the next iteration) and against a cap on handshakes in
 * progress per shard.
 *
 * Endings: a graceful close sends close_notify before the FIN. The peer's
 * FIN without its close_notify is a truncation, and the connection is reset,
 * so a proxy forwards it as a reset, never as a clean end. close_notify
 * closes one direction (TLS 1.3 half-close): the mode hears it as the peer's
 * EOF and may go on sending. Errors and timeouts reset without an alert.
 */
#include "engine_int.h"
#include "tls_int.h"
#include "transport.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include <openssl/err.h>

#include "ringer/mode.h"

#define TLS_CHUNK	    (64u * 1024) /* plaintext encrypted per send, at most */
#define TLS_RECORD_OVERHEAD 32		 /* a record's header, tag and padding, rounded up */
#define TLS_READ_MIN	    1024  /* room left in the input's last buffer worth reading into */
#define HANDSHAKE_BUDGET    16	  /* handshake steps per loop iteration */
#define HANDSHAKE_BUSY_NS   20000 /* ... and no more once they have taken this long */
#define TLS_ROUNDS	    8	  /* read passes per connection per iteration */
/*
 * Counted by side: connections accepted (tls_*) and connections made out, a
 * proxy's upstream side (tls_up_*).
 */
#define TLS_STAT(e, t, name)                                 \
	do {                                                 \
		if ((t)->flags & TLS_F_CLIENT)               \
			STAT_INC((e)->stats, tls_up_##name); \
		else                                         \
			STAT_INC((e)->stats, tls_##name);    \
	} while (0)
#define KEYUPDATE_MAX 8 /* KeyUpdates a peer may send a second; more: reset */

static inline uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline struct tls_conn *tc(struct engine *e, const struct conn *c)
{
	return &e->tlsc[c->slot];
}

/* ---- the BIO over the engine's buffers --------------------------------------------------- */

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

/* Ciphertext for OpenSSL: copied out of the raw chain; emptied buffers go back to the ring. */
static int bio_read(BIO *b, char *out, size_t outl, size_t *readbytes)
{
	struct tls_conn *t = BIO_get_data(b);
	struct engine *e = t->e;
	size_t n = 0;

	BIO_clear_retry_flags(b);
	while (n < outl && t->raw_count) {
		uint16_t bid = t->raw_head;
		uint32_t avail = e->bufs.len[bid] - t->raw_off;
		size_t k = outl - n < avail ? outl - n : avail;

		memcpy(out + n, bufring_buf(&e->bufs, bid) + t->raw_off, k);
		n += k;
		t->raw_off += (uint32_t)k;
		if (t->raw_off == e->bufs.len[bid]) {
			t->raw_head = e->bufs.next[bid];
			t->raw_count--;
			t->raw_off = 0;
			bufring_put(&e->bufs, bid);
		}
	}
	*readbytes = n;
	if (n)
		return 1;
	if (!(t->flags & TLS_F_RAW_EOF))
		BIO_set_retry_read(b);
	return 0; /* retry: more to come; else the peer's FIN */
}

/* Bytes to send appended to the ct chain, in pool buffers: how many fitted. */
static size_t ct_append(struct engine *e, struct tls_conn *t, const char *in, size_t inl)
{
	size_t n = 0;

	while (n < inl) {
		uint16_t bid = t->ct_tail;
		uint32_t room = t->ct_count ? e->bufs.buf_size - e->bufs.len[bid] : 0;
		size_t k;

		if (!room) {
			int nb = bufring_pool_get(&e->bufs);

			if (nb < 0)
				break;
			bid = (uint16_t)nb;
			e->bufs.len[bid] = 0;
			if (t->ct_count++)
				e->bufs.next[t->ct_tail] = bid;
			else
				t->ct_head = bid;
			t->ct_tail = bid;
			room = e->bufs.buf_size;
		}
		k = inl - n < room ? inl - n : room;
		memcpy(bufring_buf(&e->bufs, bid) + e->bufs.len[bid], in + n, k);
		e->bufs.len[bid] += (uint32_t)k;
		n += k;
	}
	return n;
}

/* Records from OpenSSL: appended to the ct chain. */
static int bio_write(BIO *b, const char *in, size_t inl, size_t *written)
{
	struct tls_conn *t = BIO_get_data(b);

	BIO_clear_retry_flags(b);
	*written = ct_append(t->e, t, in, inl);
	if (*written)
		return 1;
	BIO_set_retry_write(b);
	return 0;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	struct tls_conn *t = BIO_get_data(b);

	switch (cmd) {
	case BIO_CTRL_FLUSH:
		return 1; /* the engine sends the ct chain after the call */
	case BIO_CTRL_EOF:
		return t && (t->flags & TLS_F_RAW_EOF) && !t->raw_count;
	case BIO_CTRL_PENDING:
		return 0;
	default:
		return 0;
	}
}

static int bio_create(BIO *b)
{
	BIO_set_init(b, 1);
	return 1;
}

static void bio_method_make(void)
{
	bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "ringer-engine");
	if (!bio_method)
		return;
	BIO_meth_set_read_ex(bio_method, bio_read);
	BIO_meth_set_write_ex(bio_method, bio_write);
	BIO_meth_set_ctrl(bio_method, bio_ctrl);
	BIO_meth_set_create(bio_method, bio_create);
}

/* ---- lists: connections to read, waiting for buffers, or for the next iteration ---------- */

static void list_push(struct engine *e, uint32_t *head, struct tls_conn *t, uint16_t flag)
{
	if (t->flags & (TLS_F_DIRTY | TLS_F_WAIT | TLS_F_LATER))
		return; /* on a list already: it will be looked at */
	t->flags |= flag;
	t->next = *head;
	*head = t->slot;
}

static inline void mark(struct engine *e, struct tls_conn *t)
{
	list_push(e, &e->tls_dirty, t, TLS_F_DIRTY);
}

/* A read or write pass: a busy connection keeps OpenSSL's record buffers (transport.h). */
static inline void bufs_held(struct engine *e, struct conn *c, struct tls_conn *t)
{
	if (!(t->flags & TLS_F_BUFS) && ++t->busy >= TLS_BUSY_PASSES) {
		SSL_clear_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
		t->flags |= TLS_F_BUFS;
		timer_at(e, c, c->last_active_ms + TLS_BUFS_IDLE_MS + 1);
	}
}

void eng_tls_idle(struct engine *e, struct conn *c)
{
	struct tls_conn *t = tc(e, c);

	/* Refused while a buffer holds bytes (half a record): then the next idle second. */
	if ((t->flags & TLS_F_BUFS) && t->ssl && SSL_free_buffers(t->ssl)) {
		SSL_set_mode(t->ssl, SSL_MODE_RELEASE_BUFFERS);
		t->flags &= (uint16_t)~TLS_F_BUFS;
		t->busy = 0;
	}
}

static inline void wait_pool(struct engine *e, struct tls_conn *t)
{
	list_push(e, &e->tls_wait, t, TLS_F_WAIT);
}

/* Buffers came back: those waiting for them are looked at again. */
static void wake_waiting(struct engine *e)
{
	while (e->tls_wait != LIST_END && e->bufs.pool_free > 1) {
		struct tls_conn *t = &e->tlsc[e->tls_wait];
		struct conn *c = &e->slab.conns[t->slot];

		e->tls_wait = t->next;
		t->flags &= (uint16_t)~TLS_F_WAIT;
		if (!(t->flags & TLS_F_ON) || !(c->life & CONN_L_USED))
			continue;
		if (t->flags & TLS_F_WAIT_SEND) {
			t->flags &= (uint16_t)~TLS_F_WAIT_SEND;
			eng_enter(e, c->lsn);
			eng_kick(e, c);
		}
		mark(e, t);
	}
}

/* ---- setup ------------------------------------------------------------------------------- */

/*
 * A client context of this engine (thread): its SSL_CTX and the session the
 * last connection got, offered to the next. TLS 1.3 tickets arrive after
 * the handshake, so the new-session callback keeps them as they come.
 */
struct engine_tls_client {
	SSL_CTX *ctx;
	SSL_SESSION *last;
	bool resume;
	bool verify;
	/*
	 * Per slot: when the TCP connect of a connection made with this context
	 * completed (engine_tls_connect_ns). Mapped without reserve, so only the
	 * slots used cost a page.
	 */
	uint64_t *tcp_ns;
	size_t tcp_bytes;
	unsigned long hs_err;		/* while mode->connected hears of a failed handshake: why */
	struct engine_tls_client *next; /* the engine's, freed with it */
};

/* The client context an outbound connection's SSL was made from; NULL for an accepted one. */
static struct engine_tls_client *client_of(const struct tls_conn *t)
{
	if (!(t->flags & TLS_F_CLIENT) || !t->ssl)
		return NULL;
	return SSL_CTX_get_app_data(SSL_get_SSL_CTX(t->ssl));
}

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
	struct engine_tls_client *tc = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));

	if (!tc || !tc->resume)
		return 0;
	if (tc->last)
		SSL_SESSION_free(tc->last);
	tc->last = sess;
	return 1; /* the reference is ours now */
}

int engine_tls_client(struct engine *e, const struct tls_client_settings *s,
		      struct engine_tls_client **out, char *err, size_t err_len)
{
	struct engine_tls_client *tc;

	if (!e->tlsc) {
		snprintf(err, err_len, "TLS client: the engine was made without tls_client");
		return -EINVAL;
	}
	tc = calloc(1, sizeof(*tc));
	if (!tc)
		return -ENOMEM;
	tc->tcp_bytes = (size_t)e->slab.cap * sizeof(*tc->tcp_ns);
	tc->tcp_ns = mmap(NULL, tc->tcp_bytes, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (tc->tcp_ns == MAP_FAILED) {
		free(tc);
		return -ENOMEM;
	}
	tc->ctx = tls_client_ctx_new(s, err, err_len);
	if (!tc->ctx) {
		munmap(tc->tcp_ns, tc->tcp_bytes);
		free(tc);
		return -EINVAL;
	}
	tc->resume = s->resume;
	tc->verify = s->verify;
	SSL_CTX_set_app_data(tc->ctx, tc);
	SSL_CTX_set_session_cache_mode(tc->ctx,
				       SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(tc->ctx, on_new_session);
	tc->next = e->tls_clients;
	e->tls_clients = tc;
	*out = tc;
	return 0;
}

int eng_tls_init(struct engine *e, const struct engine_listener_params *all, bool tls_client,
		 char *note, size_t note_len)
{
	bool any = tls_client;
	char err[256];
	int ret;

	e->tls_dirty = e->tls_wait = e->tls_later = e->tls_later_tail = LIST_END;
	for (unsigned i = 0; i < e->n_lst; i++)
		any |= all[i].tls != NULL;
	if (!any)
		return 0;
	pthread_once(&bio_once, bio_method_make);
	if (!bio_method) {
		snprintf(note, note_len, "TLS (no BIO method)");
		return -ENOMEM;
	}
	for (unsigned i = 0; i < e->n_lst; i++) {
		if (!all[i].tls)
			continue;
		ret = tls_ctx_new(&e->lst[i].tls, all[i].tls, err, sizeof(err), NULL, 0);
		if (ret) {
			snprintf(note, note_len, "%s", err);
			return ret; /* eng_tls_fini() frees those made */
		}
	}
	e->tlsc_bytes = (size_t)e->slab.cap * sizeof(*e->tlsc);
	e->tlsc = mmap(NULL, e->tlsc_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (e->tlsc == MAP_FAILED) {
		e->tlsc = NULL;
		snprintf(note, note_len, "TLS connection state (%u slots)", e->slab.cap);
		return -ENOMEM;
	}
	return 0;
}

int eng_tls_listener(struct engine *e, struct eng_listener *l, const struct tls_settings *s,
		     char *note, size_t note_len)
{
	char err[256];
	int ret = tls_ctx_new(&l->tls, s, err, sizeof(err), NULL, 0);

	(void)e;
	if (ret)
		snprintf(note, note_len, "%s", err);
	return ret;
}

void eng_tls_listener_free(struct eng_listener *l)
{
	tls_ctx_free(l->tls);
	l->tls = NULL;
}

/*
 * The contexts' callbacks (SNI, ALPN) point at the struct tls_ctx a
 * handshake began under, and run when its ClientHello is parsed, which may
 * be a few completions later: the replaced set stays until no handshake is
 * in progress. A second reload before that frees the first's at once only
 * under the same condition; otherwise the older one waits in line.
 */
void engine_tls_swap_on(struct engine *e, unsigned listener, struct tls_ctx *next)
{
	struct eng_listener *l = listener < e->n_lst ? &e->lst[listener] : NULL;

	if (!l || !l->tls) {
		tls_ctx_free(next);
		return;
	}
	eng_tls_tick(e);
	if (l->tls_old) {
		/* Still in use: the newest replaced one is kept, the one before goes later. */
		struct tls_ctx *keep = l->tls;

		l->tls = next;
		tls_ctx_chain(keep, l->tls_old);
		l->tls_old = keep;
		return;
	}
	l->tls_old = l->tls;
	l->tls = next;
}

void engine_tls_swap(struct engine *e, struct tls_ctx *next)
{
	engine_tls_swap_on(e, 0, next);
}

/* Once a tick: contexts replaced by a reload go once no handshake is in progress. */
void eng_tls_tick(struct engine *e)
{
	if (e->handshakes)
		return;
	for (unsigned i = 0; i < e->n_lst; i++) {
		if (e->lst[i].tls_old) {
			tls_ctx_free(e->lst[i].tls_old);
			e->lst[i].tls_old = NULL;
		}
	}
}

void eng_tls_fini(struct engine *e)
{
	if (e->tlsc) {
		for (uint32_t i = 0; i < e->slab.high_water; i++)
			if (e->tlsc[i].ssl)
				SSL_free(e->tlsc[i].ssl);
		munmap(e->tlsc, e->tlsc_bytes);
		e->tlsc = NULL;
	}
	while (e->tls_clients) {
		struct engine_tls_client *tc = e->tls_clients;

		e->tls_clients = tc->next;
		if (tc->last)
			SSL_SESSION_free(tc->last);
		SSL_CTX_free(tc->ctx);
		munmap(tc->tcp_ns, tc->tcp_bytes);
		free(tc);
	}
	for (unsigned i = 0; i < e->n_lst; i++) {
		tls_ctx_free(e->lst[i].tls);
		e->lst[i].tls = NULL;
		tls_ctx_free(e->lst[i].tls_old);
		e->lst[i].tls_old = NULL;
	}
}

/*
 * TLS 1.3 lets a peer ask for a KeyUpdate at any time, and each one costs
 * a key derivation and, when it asks for ours too, a record back: a peer
 * looping on them burns CPU for free. OpenSSL shows every handshake
 * message here (a test of two bytes for anything else); beyond
 * KEYUPDATE_MAX a second the connection is marked, and the read pass
 * resets it.
 */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
		   SSL *ssl, void *arg)
{
	struct tls_conn *t;
	uint16_t now;

	if (write_p || content_type != SSL3_RT_HANDSHAKE || len < 1 ||
	    ((const uint8_t *)buf)[0] != SSL3_MT_KEY_UPDATE)
		return;
	t = BIO_get_data(SSL_get_rbio(ssl));
	now = (uint16_t)t->e->now_ms;
	if ((uint16_t)(now - t->ku_at) >= 1000) {
		t->ku_at = now;
		t->ku_count = 0;
	}
	if (++t->ku_count > KEYUPDATE_MAX)
		t->flags |= TLS_F_KU_FLOOD;
}

/* A fresh SSL on t, its BIO over the engine's buffers. Returns 0 or -ENOMEM. */
static int tls_begin(struct engine *e, struct conn *c, struct tls_conn *t, SSL_CTX *ctx)
{
	uint16_t lists = t->flags & (TLS_F_DIRTY | TLS_F_WAIT | TLS_F_LATER);
	uint32_t next = t->next;
	BIO *bio;

	/* A list entry of the slot's last tenant stays linked: the flag says so, next holds on. */
	memset(t, 0, sizeof(*t));
	t->flags = lists;
	t->next = next;
	t->e = e;
	t->slot = c->slot;
	t->ssl = SSL_new(ctx);
	bio = t->ssl ? BIO_new(bio_method) : NULL;
	if (!bio) {
		SSL_free(t->ssl);
		t->ssl = NULL;
		ERR_clear_error();
		return -ENOMEM;
	}
	BIO_set_data(bio, t);
	SSL_set_bio(t->ssl, bio, bio);
	SSL_set_msg_callback(t->ssl, on_msg);
	t->flags |= TLS_F_ON | TLS_F_HS;
	t->hs_at = (uint16_t)e->now_ms;
	e->handshakes++;
	return 0;
}

void eng_tls_accept(struct engine *e, struct conn *c)
{
	struct tls_conn *t = tc(e, c);
	const struct tls_ctx *x = eng_lst(e, c)->tls;

	if (e->handshakes >= x->max_handshakes) {
		/* A flood: refuse here rather than let handshakes crowd out established ones. */
		STAT_INC(e->stats, tls_refused);
		c->life |= CONN_L_HANDSHAKE; /* the mode never hears of it */
		engine_close(e, c, ENGINE_CLOSE_RESET);
		return;
	}
	if (tls_begin(e, c, t, x->ctx[0])) {
		STAT_INC(e->stats, errors);
		c->life |= CONN_L_HANDSHAKE;
		engine_close(e, c, ENGINE_CLOSE_RESET);
		return;
	}
	SSL_set_accept_state(t->ssl);
	if (e->cur_peer && e->cur_peer_len <= sizeof(t->peer)) {
		memcpy(&t->peer, e->cur_peer, e->cur_peer_len);
		t->peer_len = e->cur_peer_len;
	}
	c->life |= CONN_L_HANDSHAKE;
	engine_set_deadline(e, c, e->now_ms + x->handshake_ms);
	/* Bytes that came with the PROXY header are the ClientHello's first. */
	while (c->in_count) {
		uint16_t bid = c->in_head;
		uint32_t len = e->bufs.len[bid] - c->in_off;

		if (c->in_off)
			memmove(bufring_buf(&e->bufs, bid), bufring_buf(&e->bufs, bid) + c->in_off,
				len);
		c->in_head = e->bufs.next[bid];
		c->in_count--;
		c->in_off = 0;
		eng_tls_raw_in(e, c, bid, len);
	}
	c->rx &= (uint16_t)~CONN_RX_NOTIFY;
	if (c->rx & CONN_RX_EOF)
		eng_tls_raw_eof(e, c);
}

int engine_connect_tls(struct engine *e, struct conn *c, struct engine_tls_client *tcl,
		       const char *sni)
{
	struct tls_conn *t;

	if (!e->tlsc || !tcl || !(c->life & CONN_L_CONNECTING))
		return -EINVAL;
	t = tc(e, c);
	if (tls_begin(e, c, t, tcl->ctx))
		return -ENOMEM;
	t->flags |= TLS_F_CLIENT;
	tcl->tcp_ns[c->slot] = 0;
	SSL_set_connect_state(t->ssl);
	if (sni && *sni) {
		SSL_set_tlsext_host_name(t->ssl, sni);
		if (tcl->verify)
			SSL_set1_host(t->ssl, sni);
	}
	if (tcl->resume && tcl->last)
		SSL_set_session(t->ssl, tcl->last);
	return 0;
}

/*
 * The TCP connect of a TLS client connection finished: the ClientHello
 * goes out from the next pass; mode->connected waits for the handshake,
 * which gets the connect timeout again as its deadline.
 */
/*
 * Bytes in the clear ahead of the ClientHello (a PROXY protocol header): they
 * head the records' chain, so they leave first, in the handshake's first send.
 */
int engine_tls_preamble(struct engine *e, struct conn *c, const void *buf, uint32_t len)
{
	struct tls_conn *t;

	if (!eng_tls_on(e, c) || !(c->life & CONN_L_CONNECTING))
		return -EINVAL;
	t = tc(e, c);
	if (!(t->flags & TLS_F_CLIENT) || t->ct_count)
		return -EINVAL;
	/* Short of pool buffers: the caller resets the connection, whose release frees them. */
	return ct_append(e, t, buf, len) == len ? 0 : -ENOBUFS;
}

void eng_tls_connected(struct engine *e, struct conn *c)
{
	struct tls_conn *t = tc(e, c);
	struct engine_tls_client *tcl = client_of(t);
	struct timespec ts;

	/* The engine's clock counts milliseconds: a client times a handshake finer than that. */
	if (tcl) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		tcl->tcp_ns[c->slot] = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	}
	t->hs_at = (uint16_t)e->now_ms;
	engine_set_deadline(e, c,
			    e->now_ms + (e->connect_timeout_ms ? e->connect_timeout_ms
							       : TLS_DEFAULT_HANDSHAKE_MS));
	mark(e, t);
}

void eng_tls_view(const struct engine *e, uint32_t slot, struct engine_conn_view *v)
{
	const struct tls_conn *t;

	if (!e->tlsc)
		return;
	t = &e->tlsc[slot];
	v->tls_version = __atomic_load_n(&t->v_name, __ATOMIC_ACQUIRE);
	if (!v->tls_version)
		return;
	v->tls_cipher = __atomic_load_n(&t->c_name, __ATOMIC_RELAXED);
	/* A snapshot: a reused slot may change it under us, as everything in the view. */
	for (size_t i = 0; i < sizeof(v->tls_sni) - 1; i++) {
		v->tls_sni[i] = __atomic_load_n(&t->sni[i], __ATOMIC_RELAXED);
		if (!v->tls_sni[i])
			break;
	}
	v->tls_sni[sizeof(v->tls_sni) - 1] = 0;
}

bool eng_tls_handshaking(const struct engine *e, const struct conn *c)
{
	return eng_tls_on(e, c) && !(e->tlsc[c->slot].flags & TLS_F_DONE);
}

uint64_t engine_tls_connect_ns(struct engine *e, const struct conn *c)
{
	const struct engine_tls_client *tcl;

	if (!eng_tls_on(e, c))
		return 0;
	tcl = client_of(&e->tlsc[c->slot]);
	return tcl ? tcl->tcp_ns[c->slot] : 0;
}

size_t engine_tls_error(struct engine *e, const struct conn *c, char *buf, size_t len)
{
	const struct engine_tls_client *tcl;
	const struct tls_conn *t;
	const char *why;
	long verify;
	int reason, n = 0;

	if (!len)
		return 0;
	buf[0] = '\0';
	if (!eng_tls_on(e, c) || (e->tlsc[c->slot].flags & TLS_F_DONE))
		return 0;
	t = &e->tlsc[c->slot];
	tcl = client_of(t);
	if (!tcl)
		return 0;
	verify = SSL_get_verify_result(t->ssl);
	why = tcl->hs_err ? ERR_reason_error_string(tcl->hs_err) : NULL;
	reason = ERR_GET_LIB(tcl->hs_err) == ERR_LIB_SSL ? ERR_GET_REASON(tcl->hs_err) : 0;
	if (verify != X509_V_OK)
		n = snprintf(buf, len, "certificate verify failed: %s",
			     X509_verify_cert_error_string(verify));
	else if (reason == SSL_R_WRONG_VERSION_NUMBER)
		n = snprintf(buf, len, "%s: the server's answer is not TLS (a plaintext port?)",
			     why ? why : "wrong version number");
	else if ((t->flags & TLS_F_RAW_EOF) &&
		 (!tcl->hs_err || reason == SSL_R_UNEXPECTED_EOF_WHILE_READING))
		n = snprintf(buf, len, "the server closed the connection during the handshake");
	else if (why)
		n = snprintf(buf, len, "%s", why);
	else if (tcl->hs_err)
		n = snprintf(buf, len, "OpenSSL error %#lx", tcl->hs_err);
	if (n < 0)
		return 0;
	return (size_t)n < len ? (size_t)n : len - 1;
}

bool engine_tls_info(struct engine *e, const struct conn *c, struct engine_tls_info *info)
{
	const struct tls_conn *t;
	const unsigned char *alpn = NULL;
	unsigned alpn_len = 0;
	const char *sni;
	X509 *peer;
	int group;

	memset(info, 0, sizeof(*info));
	if (!eng_tls_on(e, c) || !(e->tlsc[c->slot].flags & TLS_F_DONE))
		return false;
	t = &e->tlsc[c->slot];
	info->version = SSL_get_version(t->ssl);
	info->cipher = SSL_get_cipher_name(t->ssl);
	group = SSL_get_negotiated_group(t->ssl);
	info->group = group ? SSL_group_to_name(t->ssl, group) : NULL;
	info->resumed = SSL_session_reused(t->ssl);
	SSL_get0_alpn_selected(t->ssl, &alpn, &alpn_len);
	if (alpn_len && alpn_len < sizeof(info->alpn))
		memcpy(info->alpn, alpn, alpn_len);
	sni = SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);
	if (sni)
		snprintf(info->sni, sizeof(info->sni), "%s", sni);
	peer = SSL_get0_peer_certificate(t->ssl);
	if (peer) {
		info->cert = true;
		info->cert_verified = SSL_get_verify_result(t->ssl) == X509_V_OK;
		if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, info->cn,
					      sizeof(info->cn)) < 0)
			info->cn[0] = 0;
	}
	return true;
}

/* ---- receive ----------------------------------------------------------------------------- */

void eng_tls_raw_in(struct engine *e, struct conn *c, uint16_t bid, uint32_t len)
{
	struct tls_conn *t = tc(e, c);

	e->bufs.len[bid] = len;
	t->flags &= (uint16_t)~TLS_F_STARVED;
	if (t->raw_count++)
		e->bufs.next[t->raw_tail] = bid;
	else
		t->raw_head = bid;
	t->raw_tail = bid;
	mark(e, t);
}

void eng_tls_raw_eof(struct engine *e, struct conn *c)
{
	struct tls_conn *t = tc(e, c);

	t->flags |= TLS_F_RAW_EOF;
	mark(e, t);
}

/* Room for plaintext: the mode has not fallen behind and the destination is not full. */
static bool can_read(const struct engine *e, const struct conn *c, const struct tls_conn *t)
{
	return !(c->life & (CONN_L_DEAD | CONN_L_CLOSE_WANTED)) &&
	       !(c->rx & (CONN_RX_BLOCKED | CONN_RX_DISCARD)) && c->in_count < e->hold_max &&
	       !(t->flags & TLS_F_CN_IN);
}

/*
 * Something to read: ciphertext queued, the FIN to act on, or bytes inside
 * OpenSSL (decrypted, or records it read ahead, as it may while finishing
 * a handshake) that it has not said it cannot use yet: SSL_has_pending is
 * also true for half a record, so once SSL_read has answered "want more"
 * (STARVED), only new ciphertext makes it worth asking again.
 */
static bool has_input(const struct tls_conn *t)
{
	return t->raw_count || (t->flags & TLS_F_RAW_EOF) ||
	       (!(t->flags & TLS_F_STARVED) && SSL_has_pending(t->ssl));
}

void eng_tls_want(struct engine *e, struct conn *c)
{
	struct tls_conn *t = tc(e, c);

	if ((t->flags & TLS_F_IN_PASS) || !t->ssl)
		return;
	if (!(t->flags & TLS_F_DONE) ? t->raw_count || (t->flags & TLS_F_RAW_EOF)
				     : can_read(e, c, t) && has_input(t))
		mark(e, t);
}

/* OpenSSL's reason for the last failure, and the queue emptied (one connection's error only). */
static unsigned long last_error(void)
{
	unsigned long err = ERR_peek_last_error();

	ERR_clear_error();
	return err;
}

static void tls_reset(struct engine *e, struct conn *c)
{
	engine_close(e, c, ENGINE_CLOSE_RESET);
}

/* The peer ended the TCP stream without close_notify. */
static void truncated(struct engine *e, struct conn *c)
{
	struct tls_conn *t = tc(e, c);

	TLS_STAT(e, t, truncations);
	tls_reset(e, c);
}

static void handshake_done(struct engine *e, struct conn *c, struct tls_conn *t)
{
	int version = SSL_version(t->ssl);

	t->flags = (uint16_t)((t->flags | TLS_F_DONE) & ~TLS_F_HS);
	e->handshakes--;
	{
		const char *sni = SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name);

		snprintf(t->sni, sizeof(t->sni), "%s", sni ? sni : "");
		__atomic_store_n(&t->c_name, SSL_get_cipher_name(t->ssl), __ATOMIC_RELAXED);
		__atomic_store_n(&t->v_name, SSL_get_version(t->ssl), __ATOMIC_RELEASE);
	}
	TLS_STAT(e, t, handshakes);
	if (SSL_session_reused(t->ssl))
		TLS_STAT(e, t, resumed);
	if (version == TLS1_3_VERSION)
		STAT_INC(e->stats, tls_v13);
	else
		STAT_INC(e->stats, tls_v12);
	stats_tls_handshake(e->stats, (uint16_t)((uint16_t)e->now_ms - t->hs_at));
	c->deadline_ms = 0;
	c->life &= (uint16_t)~CONN_L_HANDSHAKE;
	if (t->flags & TLS_F_CLIENT) {
		/* Now the mode hears that its connection is up. */
		c->life |= CONN_L_KICKING;
		ENG_CALL(e, c, connected, 0);
		c->life &= (uint16_t)~CONN_L_KICKING;
		return;
	}
	/* Now the mode hears of the connection, with the peer accept saw. */
	e->cur_peer = t->peer_len ? (const struct sockaddr *)&t->peer : NULL;
	e->cur_peer_len = t->peer_len;
	c->life |= CONN_L_KICKING;
	ENG_CALL(e, c, accepted);
	c->life &= (uint16_t)~CONN_L_KICKING;
	e->cur_peer = NULL;
}

/* Returns true once the handshake is done (and c still open). */
static bool handshake(struct engine *e, struct conn *c, struct tls_conn *t)
{
	int r = SSL_do_handshake(t->ssl);
	unsigned long err;

	if (r == 1) {
		handshake_done(e, c, t);
		return !(c->life & CONN_L_DEAD);
	}
	switch (SSL_get_error(t->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		if (t->raw_count || !(t->flags & TLS_F_RAW_EOF))
			return false;
		break; /* the peer's FIN mid-handshake */
	case SSL_ERROR_WANT_WRITE:
		wait_pool(e, t);
		return false;
	default:
		break;
	}
	err = last_error();
	TLS_STAT(e, t, hs_failed);
	if (t->flags & TLS_F_CLIENT) {
		struct engine_tls_client *tcl = client_of(t);

		/* The mode hears a failed connect, and may try another server (and ask why). */
		if (tcl)
			tcl->hs_err = err;
		eng_fail_connect(e, c, -ECONNABORTED);
		if (tcl)
			tcl->hs_err = 0;
		return false;
	}
	/* An alert OpenSSL wrote (unrecognized_name, handshake_failure) goes out before our FIN. */
	if (t->ct_count && !(t->flags & TLS_F_RAW_EOF))
		engine_close(e, c, ENGINE_CLOSE);
	else
		tls_reset(e, c);
	return false;
}

/* A pool buffer to read plaintext into: room in the input's last one, or a new one. */
static int read_target(struct engine *e, struct conn *c, uint8_t **p, uint32_t *room, bool *fresh)
{
	int bid;

	if (c->in_count && bufring_is_pool(&e->bufs, c->in_tail) &&
	    e->bufs.buf_size - e->bufs.len[c->in_tail] >= TLS_READ_MIN) {
		bid = c->in_tail;
		*fresh = false;
	} else {
		/* One buffer stays for what a read may write (a KeyUpdate's answer, an alert). */
		if (e->bufs.pool_free < 2)
			return -1;
		bid = bufring_pool_get(&e->bufs);
		e->bufs.len[bid] = 0;
		*fresh = true;
	}
	*p = bufring_buf(&e->bufs, (uint16_t)bid) + e->bufs.len[bid];
	*room = e->bufs.buf_size - e->bufs.len[bid];
	return bid;
}

static void input_append(struct engine *e, struct conn *c, uint16_t bid, bool fresh, size_t n)
{
	e->bufs.len[bid] += (uint32_t)n;
	if (fresh) {
		if (c->in_count++)
			e->bufs.next[c->in_tail] = bid;
		else
			c->in_head = bid;
		c->in_tail = bid;
	}
	c->rx |= CONN_RX_NOTIFY;
}

/* SSL_read into the connection's input while there is room. Returns bytes read, or -1 when c ended. */
static long read_some(struct engine *e, struct conn *c, struct tls_conn *t)
{
	long got = 0;

	/* No SSL_read that can only say "want more" again: a pass through OpenSSL for nothing. */
	while (can_read(e, c, t) && has_input(t)) {
		uint8_t *p;
		uint32_t room;
		bool fresh;
		size_t n = 0;
		int bid = read_target(e, c, &p, &room, &fresh), r;

		if (bid < 0) {
			wait_pool(e, t);
			break;
		}
		r = SSL_read_ex(t->ssl, p, room, &n);
		if (t->flags & TLS_F_KU_FLOOD) {
			if (fresh)
				bufring_put(&e->bufs, (uint16_t)bid);
			last_error();
			STAT_INC(e->stats, tls_keyupd_resets);
			tls_reset(e, c);
			return -1;
		}
		if (r == 1) {
			input_append(e, c, (uint16_t)bid, fresh, n);
			got += (long)n;
			continue;
		}
		if (fresh)
			bufring_put(&e->bufs, (uint16_t)bid);
		switch (SSL_get_error(t->ssl, r)) {
		case SSL_ERROR_WANT_READ:
			t->flags |= TLS_F_STARVED;
			return got;
		case SSL_ERROR_WANT_WRITE:
			wait_pool(e, t);
			return got;
		case SSL_ERROR_ZERO_RETURN:
			/* close_notify: the peer's direction is finished; the mode hears its EOF. */
			t->flags |= TLS_F_CN_IN;
			TLS_STAT(e, t, notify_in);
			c->rx |= CONN_RX_EOF_NOTIFY;
			return got;
		default:
			if ((t->flags & TLS_F_RAW_EOF) && !t->raw_count) {
				last_error();
				truncated(e, c);
			} else {
				last_error();
				TLS_STAT(e, t, errors);
				tls_reset(e, c);
			}
			return -1;
		}
	}
	return got;
}

static void tls_pass(struct engine *e, struct conn *c, struct tls_conn *t)
{
	if (!(t->flags & TLS_F_DONE) && !handshake(e, c, t)) {
		if (t->ct_count && !(c->life & CONN_L_DEAD))
			eng_kick(e, c); /* the handshake's next flight */
		return;
	}
	t->flags |= TLS_F_IN_PASS;
	bufs_held(e, c, t);
	for (int round = 0; round < TLS_ROUNDS && !(c->life & CONN_L_DEAD); round++) {
		long got = read_some(e, c, t);

		if (got < 0)
			break;
		/* The mode reads (and may consume, freeing room for the next round). */
		eng_kick(e, c);
		if (!got || !can_read(e, c, t) || !has_input(t))
			break;
	}
	t->flags &= (uint16_t)~TLS_F_IN_PASS;
	if (c->life & CONN_L_DEAD)
		return;
	if (t->ct_count)
		eng_kick(e, c); /* tickets, a KeyUpdate's answer */
	/*
	 * The peer's FIN: once OpenSSL has read everything before it, the
	 * stream ended without close_notify, unless we are on our way out
	 * anyway (a close we asked for needs nothing more from the peer).
	 */
	if ((t->flags & (TLS_F_RAW_EOF | TLS_F_CN_IN)) == TLS_F_RAW_EOF && !t->raw_count &&
	    SSL_pending(t->ssl) <= 0 && !(c->life & CONN_L_CLOSE_WANTED))
		truncated(e, c);
	else
		eng_tls_want(e, c);
}

/* Appends t to the list head..tail (first in, first out). */
static inline void fifo_append(struct engine *e, uint32_t *head, uint32_t *tail, struct tls_conn *t)
{
	t->next = LIST_END;
	if (*head == LIST_END)
		*head = t->slot;
	else
		e->tlsc[*tail].next = t->slot;
	*tail = t->slot;
}

void eng_tls_run(struct engine *e)
{
	unsigned budget = HANDSHAKE_BUDGET;
	uint64_t until = 0;
	/* Handshakes to step this time, oldest first: after the established connections. */
	uint32_t hs = LIST_END, hs_tail = LIST_END;

	if (!e->tlsc)
		return;
	if (e->bufs.pool_free > 1)
		wake_waiting(e);
	/*
	 * Those the budget left over last time go first, in the order they
	 * came (a handshake marked DIRTY on this list is not marked again).
	 * First in, first out: under a flood no handshake is passed over by
	 * newer ones until its deadline.
	 */
	while (e->tls_later != LIST_END) {
		struct tls_conn *t = &e->tlsc[e->tls_later];

		e->tls_later = t->next;
		t->flags = (uint16_t)((t->flags & ~TLS_F_LATER) | TLS_F_DIRTY);
		fifo_append(e, &hs, &hs_tail, t);
	}
	e->tls_later_tail = LIST_END;
	/*
	 * Established connections first, those marked now and then once more
	 * those their passes marked (a forward that made room for another): a
	 * handshake flood only ever delays them by the few handshake steps of
	 * one iteration. What is marked after that waits for the next
	 * iteration, which then does not block.
	 */
	for (int round = 0; round < 2 && e->tls_dirty != LIST_END; round++) {
		uint32_t list = e->tls_dirty;

		e->tls_dirty = LIST_END;
		while (list != LIST_END) {
			struct tls_conn *t = &e->tlsc[list];
			struct conn *c = &e->slab.conns[t->slot];

			list = t->next;
			if (!(t->flags & TLS_F_DONE) && (t->flags & TLS_F_ON)) {
				fifo_append(e, &hs, &hs_tail, t); /* still DIRTY */
				continue;
			}
			t->flags &= (uint16_t)~TLS_F_DIRTY;
			if (!(t->flags & TLS_F_ON) || !(c->life & CONN_L_USED) ||
			    (c->life & CONN_L_DEAD))
				continue;
			eng_enter(e, c->lsn);
			tls_pass(e, c, t);
			eng_maybe_release(e, c);
		}
	}
	/*
	 * Then the handshakes, as many steps as the budget allows, and no more
	 * once they have taken HANDSHAKE_BUSY_NS: the rest go first next time.
	 * A ClientHello's step (signature and key exchange, about 100 us) ends
	 * its iteration, after at most 20 us of cheaper steps (a Finished,
	 * about 10 us). So a flood delays an established connection's request
	 * by about the one step running when it arrived, and costs the
	 * handshakes one more loop iteration (an io_uring_enter with a zero
	 * timeout, about 1 us) per ClientHello. With a bound of 150 us, steps
	 * shared iterations and the flood's p99 was 0.56 ms, against 0.35 ms
	 * with 20 us (tools/README.md, "A handshake flood beside a keep-alive
	 * client").
	 */
	if (hs != LIST_END)
		until = mono_ns() + HANDSHAKE_BUSY_NS;
	while (hs != LIST_END) {
		struct tls_conn *t = &e->tlsc[hs];
		struct conn *c = &e->slab.conns[t->slot];

		hs = t->next;
		t->flags &= (uint16_t)~TLS_F_DIRTY;
		if (!(t->flags & TLS_F_ON) || !(c->life & CONN_L_USED) || (c->life & CONN_L_DEAD))
			continue;
		if (!budget || (until && mono_ns() >= until)) {
			t->flags |= TLS_F_LATER;
			fifo_append(e, &e->tls_later, &e->tls_later_tail, t);
			budget = 0;
			continue;
		}
		budget--;
		eng_enter(e, c->lsn);
		tls_pass(e, c, t);
		eng_maybe_release(e, c);
	}
	if (e->bufs.pool_free > 1 && e->tls_wait != LIST_END)
		wake_waiting(e);
}

bool eng_tls_pending(const struct engine *e)
{
	return e->tlsc && (e->tls_later != LIST_END || e->tls_dirty != LIST_END);
}

/* ---- send -------------------------------------------------------------------------------- */

/*
 * Up to n pieces of the plaintext the engine would send next, in the order
 * a plain send takes them (send.c): the mode's span and echoed input, its
 * span, or the queued buffers. Returns how many, their bytes in *total.
 */
static unsigned plain_pieces(struct engine *e, struct conn *c, struct iovec *iov, unsigned n,
			     uint32_t max, uint32_t *total)
{
	unsigned k = 0;
	uint32_t sum = 0;

	if (c->in_echo || c->out_ptr) {
		if (c->out_ptr) {
			uint32_t len = c->out_len - c->out_off;

			iov[k].iov_base = (void *)(c->out_ptr + c->out_off);
			iov[k++].iov_len = len < max ? len : max;
			sum += (uint32_t)iov[k - 1].iov_len;
		}
		if (c->in_echo) {
			uint32_t left = c->in_echo, off = c->in_off;
			uint16_t bid = c->in_head;

			for (uint16_t i = 0; i < c->in_count && left && k < n && sum < max;
			     i++, bid = e->bufs.next[bid], off = 0) {
				uint32_t len = e->bufs.len[bid] - off;

				len = len < left ? len : left;
				len = len < max - sum ? len : max - sum;
				iov[k].iov_base = bufring_buf(&e->bufs, bid) + off;
				iov[k++].iov_len = len;
				left -= len;
				sum += len;
			}
		}
	} else {
		uint16_t bid = c->out_head;

		for (uint16_t i = 0; i < c->out_count && k < n && sum < max;
		     i++, bid = e->bufs.next[bid]) {
			uint32_t off = i ? 0 : c->out_off, len = e->bufs.len[bid] - off;

			len = len < max - sum ? len : max - sum;
			iov[k].iov_base = bufring_buf(&e->bufs, bid) + off;
			iov[k++].iov_len = len;
			sum += len;
		}
	}
	*total = sum;
	return k;
}

/*
 * Encrypts the next plaintext into the ct chain, as much as the pool allows
 * (at most TLS_CHUNK). Returns 0 (something or nothing to send now),
 * 1 (no pool buffers: wait) or -errno.
 */
static int encrypt(struct engine *e, struct conn *c, struct tls_conn *t)
{
	struct iovec iov[SEND_IOV_MAX];
	uint32_t total, max, bufs = e->bufs.pool_free;
	unsigned n;

	if (bufs < 2)
		return 1;
	/* What the free buffers hold, less a record's overhead per 16 KiB, and one spare. */
	max = (bufs - 1) * e->bufs.buf_size;
	max = max > TLS_CHUNK ? TLS_CHUNK : max;
	max -= (max / 16384 + 1) * TLS_RECORD_OVERHEAD;
	if (t->retry_len)
		max = t->retry_len; /* OpenSSL wants the same write again */
	n = plain_pieces(e, c, iov, SEND_IOV_MAX, max, &total);
	t->pt_inflight = 0;
	bufs_held(e, c, t);
	for (unsigned i = 0; i < n; i++) {
		size_t w = 0;
		int r = SSL_write_ex(t->ssl, iov[i].iov_base, iov[i].iov_len, &w);

		if (r == 1) {
			t->pt_inflight += (uint32_t)w;
			t->retry_len = 0;
			continue;
		}
		if (SSL_get_error(t->ssl, r) == SSL_ERROR_WANT_WRITE) {
			t->retry_len = (uint32_t)iov[i].iov_len;
			break;
		}
		last_error();
		TLS_STAT(e, t, errors);
		return -EPROTO;
	}
	return t->ct_count ? 0 : 1;
}

int eng_tls_start_send(struct engine *e, struct conn *c)
{
	struct tls_conn *t = tc(e, c);
	struct send_vec *v;
	uint16_t bid;
	unsigned n;
	int ret;

	if (!t->ct_count && (t->flags & TLS_F_DONE)) {
		ret = encrypt(e, c, t);
		if (ret) {
			if (ret > 0) {
				t->flags |= TLS_F_WAIT_SEND;
				wait_pool(e, t);
			}
			return ret;
		}
	}
	if (!t->ct_count)
		return 1; /* nothing yet: the handshake owes no flight */
	/* Records of TLS's own only (a ticket, a handshake message): the mode may queue behind. */
	if (t->pt_inflight)
		c->tx &= (uint16_t)~CONN_TX_TLS_OWN;
	else
		c->tx |= CONN_TX_TLS_OWN;
	if (t->ct_count == 1 || !e->vecs)
		return ring_send(e->ring, c->fd, conn_fixed(c),
				 bufring_buf(&e->bufs, t->ct_head) + t->ct_off,
				 e->bufs.len[t->ct_head] - t->ct_off, MSG_NOSIGNAL | MSG_WAITALL,
				 conn_ud(e, c, UD_OP_SEND));
	v = &e->vecs[c->slot];
	bid = t->ct_head;
	for (n = 0; n < SEND_IOV_MAX && n < t->ct_count; n++, bid = e->bufs.next[bid]) {
		uint32_t off = n ? 0 : t->ct_off;

		v->iov[n].iov_base = bufring_buf(&e->bufs, bid) + off;
		v->iov[n].iov_len = e->bufs.len[bid] - off;
	}
	memset(&v->msg, 0, sizeof(v->msg));
	v->msg.msg_iov = v->iov;
	v->msg.msg_iovlen = n;
	return ring_sendmsg(e->ring, c->fd, conn_fixed(c), &v->msg, MSG_NOSIGNAL | MSG_WAITALL,
			    conn_ud(e, c, UD_OP_SEND));
}

bool eng_tls_sent(struct engine *e, struct conn *c, uint32_t res, uint32_t *plain)
{
	struct tls_conn *t = tc(e, c);

	while (res && t->ct_count) {
		uint16_t bid = t->ct_head;
		uint32_t rest = e->bufs.len[bid] - t->ct_off;

		if (res < rest) {
			t->ct_off += res;
			break;
		}
		res -= rest;
		t->ct_head = e->bufs.next[bid];
		t->ct_count--;
		t->ct_off = 0;
		bufring_put(&e->bufs, bid);
	}
	if (t->ct_count)
		return false;
	*plain = t->pt_inflight;
	t->pt_inflight = 0;
	return true;
}

/* ---- the end ----------------------------------------------------------------------------- */

bool eng_tls_close_notify(struct engine *e, struct conn *c)
{
	struct tls_conn *t = tc(e, c);

	if (!(t->flags & TLS_F_DONE) || (t->flags & TLS_F_CN_OUT) || (c->life & CONN_L_RESET))
		return false;
	t->flags |= TLS_F_CN_OUT;
	if (SSL_shutdown(t->ssl) < 0)
		last_error();
	else
		TLS_STAT(e, t, notify_out);
	return t->ct_count > 0;
}

void eng_tls_handshake_timeout(struct engine *e, struct conn *c)
{
	struct tls_conn *t = tc(e, c);

	TLS_STAT(e, t, hs_timeouts);
	if (t->flags & TLS_F_CLIENT)
		eng_fail_connect(e, c, -ETIMEDOUT);
	else
		tls_reset(e, c);
}

void eng_tls_release(struct engine *e, struct conn *c)
{
	struct tls_conn *t = tc(e, c);

	if (!(t->flags & TLS_F_ON))
		return;
	if (t->flags & TLS_F_HS)
		e->handshakes--;
	SSL_free(t->ssl); /* and its BIO */
	t->ssl = NULL;
	__atomic_store_n(&t->v_name, NULL, __ATOMIC_RELAXED);
	while (t->raw_count) {
		uint16_t bid = t->raw_head;

		t->raw_head = e->bufs.next[bid];
		t->raw_count--;
		bufring_put(&e->bufs, bid);
	}
	while (t->ct_count) {
		uint16_t bid = t->ct_head;

		t->ct_head = e->bufs.next[bid];
		t->ct_count--;
		bufring_put(&e->bufs, bid);
	}
	/* Still linked on a list? The flag stays with the slot until the list passes it. */
	t->flags &= TLS_F_DIRTY | TLS_F_WAIT | TLS_F_LATER;
}
