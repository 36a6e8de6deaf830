// SPDX-License-Identifier: MIT
/* The TLS transport's test rig: see tls_rig.h. */
#include "tls_rig.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ringer/mode.h"
#include "ringer/sock.h"
#include "ringer/tcp_state.h"

static struct rig *the_rig; /* the mode's callbacks find their rig here */
static char dir[64], cert_path[96], key_path[96];

static void m_accepted(struct engine *e, struct conn *c)
{
	the_rig->accepted++;
}

static void m_readable(struct engine *e, struct conn *c)
{
	struct conn *to =
		the_rig->forward_to.slot != UINT32_MAX ? engine_conn(e, the_rig->forward_to) : NULL;

	engine_forward(e, c, to ? to : c);
}

static void m_peer_eof(struct engine *e, struct conn *c)
{
	the_rig->peer_eofs++;
	engine_close(e, c, ENGINE_CLOSE);
}

static void m_closed(struct engine *e, struct conn *c)
{
	the_rig->closed++;
}

static const struct mode_ops rig_mode = {
	.name = "tls-rig",
	.accepted = m_accepted,
	.readable = m_readable,
	.peer_eof = m_peer_eof,
	.closed = m_closed,
};

int rig_cert(void)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	FILE *f;
	int ok;

	strcpy(dir, "/tmp/ringer-tls-rig-XXXXXX");
	ok = pkey && x && mkdtemp(dir);
	if (ok) {
		snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
		snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
		ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
		X509_gmtime_adj(X509_getm_notBefore(x), -60);
		X509_gmtime_adj(X509_getm_notAfter(x), 86400);
		X509_set_pubkey(x, pkey);
		X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
					   (const unsigned char *)"localhost", -1, -1, 0);
		X509_set_issuer_name(x, X509_get_subject_name(x));
		ok = X509_sign(x, pkey, EVP_sha256()) > 0;
	}
	if (ok) {
		ok = (f = fopen(cert_path, "w")) && PEM_write_X509(f, x);
		if (f)
			fclose(f);
	}
	if (ok) {
		ok = (f = fopen(key_path, "w")) &&
		     PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
		if (f)
			fclose(f);
	}
	X509_free(x);
	EVP_PKEY_free(pkey);
	return ok ? 0 : -1;
}

void rig_cert_remove(void)
{
	unlink(cert_path);
	unlink(key_path);
	rmdir(dir);
}

uint64_t rig_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int rig_init(struct rig *r, unsigned buf_count, unsigned buf_size)
{
	struct engine_params p = {
		.mode = &rig_mode,
		.stats = &r->st,
		.max_conns = 16,
		.buf_count = buf_count,
		.buf_size = buf_size,
		.tls = &r->tls,
	};
	struct sockaddr_in *in = (struct sockaddr_in *)&r->addr.ss;
	socklen_t len = sizeof(r->addr.ss);
	char note[128];

	memset(r, 0, sizeof(*r));
	the_rig = r;
	r->forward_to.slot = UINT32_MAX;
	tls_settings_defaults(&r->tls);
	r->tls.cert[0] = cert_path;
	r->tls.key[0] = key_path;
	r->tls.n_certs = r->tls.n_keys = 1;
	r->tls.tickets = 0;
	if (ring_init(&r->ring, 256, 4, NULL, 0))
		return -1;
	if (engine_create(&r->e, &r->ring, &p, note, sizeof(note)))
		return -1;
	engine_set_now(r->e, rig_ms());
	in->sin_family = AF_INET;
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->addr.len = sizeof(*in);
	r->lfd = sock_listen(&r->addr, 64);
	if (r->lfd < 0)
		return -1;
	getsockname(r->lfd, (struct sockaddr *)&r->addr.ss, &len);
	engine_listen(r->e, r->lfd);
	return 0;
}

void rig_fini(struct rig *r)
{
	engine_destroy(r->e);
	ring_exit(&r->ring);
	close(r->lfd);
}

void rig_pump(struct rig *r)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	ring_submit_and_wait_timeout(&r->ring, 1, engine_pending(r->e) ? 0 : 5 * 1000000ull);
	engine_set_now(r->e, rig_ms());
	ring_for_each_cqe(&r->ring, head, cqe)
	{
		engine_complete(r->e, cqe);
		n++;
	}
	ring_cq_advance(&r->ring, n);
	engine_flush(r->e);
	engine_tick(r->e, rig_ms());
}

bool rig_pump_until(struct rig *r, int ms, bool (*done)(struct rig *, const void *),
		    const void *arg)
{
	uint64_t end = rig_ms() + (uint64_t)ms;

	while (!done(r, arg) && rig_ms() < end)
		rig_pump(r);
	return done(r, arg);
}

bool rig_bytes_in_at_least(struct rig *r, const void *want)
{
	return r->st.bytes_in >= *(const uint64_t *)want;
}

bool rig_accepted(struct rig *r, const void *unused)
{
	return r->accepted > 0;
}

bool rig_released(struct rig *r, const void *unused)
{
	for (int s = 0; s < TCP_STATE_COUNT; s++)
		if (r->st.by_state[s])
			return false;
	return engine_buffers_held(r->e) == 0;
}

int rig_send(struct rig *r, int fd, const uint8_t *buf, size_t len)
{
	uint64_t end = rig_ms() + 10000;

	while (len && rig_ms() < end) {
		ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			rig_pump(r);
		} else {
			return -1; /* the engine reset the connection */
		}
	}
	return len ? -1 : 0;
}

long peer_flush(struct rig *r, struct peer *p, size_t piece)
{
	uint8_t buf[64 * 1024];
	long total = 0;
	int n;

	while ((n = BIO_read(p->out, buf, sizeof(buf))) > 0) {
		for (size_t off = 0; off < (size_t)n;) {
			size_t len = piece && (size_t)n - off > piece ? piece : (size_t)n - off;
			uint64_t want = r->st.bytes_in + len;

			if (rig_send(r, p->fd, buf + off, len))
				return -1;
			if (piece && !rig_pump_until(r, 5000, rig_bytes_in_at_least, &want))
				return -1;
			off += len;
		}
		total += n;
	}
	return total;
}

bool peer_fill(struct peer *p)
{
	uint8_t buf[64 * 1024];
	ssize_t n = recv(p->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n > 0)
		BIO_write(p->in, buf, (int)n);
	return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

int peer_open(struct rig *r, struct peer *p, size_t piece)
{
	uint64_t end = rig_ms() + 10000;
	int ret;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->ctx = SSL_CTX_new(TLS_client_method());
	if (!p->ctx)
		return -1;
	SSL_CTX_set_verify(p->ctx, SSL_VERIFY_NONE, NULL);
	p->ssl = SSL_new(p->ctx);
	p->in = BIO_new(BIO_s_mem());
	p->out = BIO_new(BIO_s_mem());
	SSL_set_bio(p->ssl, p->in, p->out);
	SSL_set_connect_state(p->ssl);
	SSL_set_tlsext_host_name(p->ssl, "localhost");
	p->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (p->fd < 0 || connect(p->fd, (struct sockaddr *)&r->addr.ss, r->addr.len))
		return -1;
	while ((ret = SSL_do_handshake(p->ssl)) != 1 && rig_ms() < end) {
		if (SSL_get_error(p->ssl, ret) != SSL_ERROR_WANT_READ ||
		    peer_flush(r, p, piece) < 0)
			return -1;
		rig_pump(r);
		if (!peer_fill(p))
			return -1;
	}
	if (ret != 1 || peer_flush(r, p, piece) < 0) /* the client's Finished */
		return -1;
	/* The mode hears of a TLS connection once its handshake is done. */
	return rig_pump_until(r, 5000, rig_accepted, NULL) ? 0 : -1;
}

size_t peer_read(struct rig *r, struct peer *p, uint8_t *out, size_t len, int ms)
{
	uint64_t end = rig_ms() + (uint64_t)ms;
	size_t got = 0;

	while (got < len && rig_ms() < end) {
		int n = SSL_read(p->ssl, out + got, (int)(len - got > 65536 ? 65536 : len - got));

		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (SSL_get_error(p->ssl, n) != SSL_ERROR_WANT_READ)
			break;
		rig_pump(r);
		if (!peer_fill(p))
			break;
	}
	return got;
}

int peer_wait_notify(struct rig *r, struct peer *p, int ms)
{
	uint64_t end = rig_ms() + (uint64_t)ms;
	uint8_t b;
	int ret;

	while ((ret = SSL_read(p->ssl, &b, 1)) <= 0 &&
	       SSL_get_error(p->ssl, ret) == SSL_ERROR_WANT_READ && rig_ms() < end) {
		rig_pump(r);
		if (!peer_fill(p))
			break;
	}
	return ret > 0 ? SSL_ERROR_NONE : SSL_get_error(p->ssl, ret);
}

void peer_free(struct peer *p)
{
	SSL_free(p->ssl); /* and its BIOs */
	SSL_CTX_free(p->ctx);
	if (p->fd >= 0)
		close(p->fd);
}
