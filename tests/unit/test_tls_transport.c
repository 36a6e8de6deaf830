// SPDX-License-Identifier: MIT
/*
 * The TLS transport (src/engine/transport_tls.c) on a real ring, its peer a
 * TLS client whose ciphertext the test writes to the socket exactly as it
 * chooses (tests/tls_rig.c), so the custom BIO over the receive ring meets:
 *
 *  - a whole handshake and then a record arriving one byte per receive
 *    (every buffer of the connection's chain holds one byte);
 *  - one record split at every offset in two receives;
 *  - records spanning many buffers, several records in one receive;
 *  - close_notify in the middle of a buffer with bytes after it: the data
 *    before it delivered, the direction ended cleanly, not a truncation;
 *  - a paused destination: the plaintext goes to a connection whose peer
 *    does not read, so the source stops reading with records still inside
 *    OpenSSL; once the peer reads, everything arrives in order without the
 *    client sending anything more;
 *  - OpenSSL's record buffers (counted through OpenSSL's allocator): freed
 *    after each record on a new connection, kept on a busy one, given back
 *    once it has been idle for a second.
 *
 * After each, every buffer is back in the ring and every slot free.
 * Everything is on 127.0.0.1 with ephemeral ports and bounded in time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdlib.h>

#include <openssl/crypto.h>

#include "ringer/sock.h"
#include "tls_rig.h"

/* OpenSSL's heap in use, in bytes: every allocation carries its size in front. */
static size_t ossl_live;

static void *count_malloc(size_t n, const char *file, int line)
{
	size_t *p = malloc(n + 16);

	if (!p)
		return NULL;
	*p = n;
	ossl_live += n;
	return (char *)p + 16;
}

static void count_free(void *q, const char *file, int line)
{
	if (q) {
		size_t *p = (size_t *)((char *)q - 16);

		ossl_live -= *p;
		free(p);
	}
}

static void *count_realloc(void *q, size_t n, const char *file, int line)
{
	void *r = count_malloc(n, file, line);

	if (r && q) {
		size_t old = *(size_t *)((char *)q - 16);

		memcpy(r, q, old < n ? old : n);
		count_free(q, file, line);
	}
	return r;
}

static int setup(void **state)
{
	static struct rig r;

	if (rig_init(&r, 256, 1024)) /* small buffers: a 16 KiB record spans 17 */
		return -1;
	*state = &r;
	return 0;
}

static int teardown(void **state)
{
	rig_fini(*state);
	return 0;
}

static void fill_pattern(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 131 + seed * 7 + (i >> 8));
}

/* Writes msg through TLS in pieces of `piece` bytes and checks the echo. */
static void echo_check(struct rig *r, struct peer *p, const uint8_t *msg, size_t len, size_t piece)
{
	static uint8_t back[1 << 20];

	assert_true(len <= sizeof(back));
	assert_int_equal(SSL_write(p->ssl, msg, (int)len), (int)len);
	assert_true(peer_flush(r, p, piece) > 0);
	assert_int_equal(peer_read(r, p, back, len, 10000), len);
	assert_memory_equal(msg, back, len);
}

/* Ends the client cleanly: close_notify both ways, then everything released. */
static void close_clean(struct rig *r, struct peer *p)
{
	SSL_shutdown(p->ssl);
	assert_true(peer_flush(r, p, 0) > 0);
	assert_int_equal(peer_wait_notify(r, p, 5000), SSL_ERROR_ZERO_RETURN);
	peer_free(p);
	assert_true(rig_pump_until(r, 5000, rig_released, NULL));
	assert_int_equal(r->st.tls_truncations, 0);
	assert_int_equal(r->st.tls_errors, 0);
	assert_int_equal(r->st.tls_notify_in, 1);
}

static void one_byte_receives(void **state)
{
	struct rig *r = *state;
	struct peer p;
	uint8_t msg[1000];
	uint64_t recvs;

	assert_int_equal(peer_open(r, &p, 1), 0); /* the handshake one byte a receive too */
	assert_int_equal(r->st.tls_handshakes, 1);
	fill_pattern(msg, sizeof(msg), 1);
	recvs = r->st.recv_cqes;
	echo_check(r, &p, msg, sizeof(msg), 1);
	/* Every byte came in a receive of its own: at least as many receives as record bytes. */
	assert_true(r->st.recv_cqes - recvs > sizeof(msg));
	close_clean(r, &p);
}

static void record_split_at_every_offset(void **state)
{
	struct rig *r = *state;
	struct peer p;
	uint8_t msg[300], back[300], rec[1024];
	int rec_len;

	assert_int_equal(peer_open(r, &p, 0), 0);
	for (unsigned k = 1;; k++) {
		uint64_t want = r->st.bytes_in + k;

		fill_pattern(msg, sizeof(msg), k);
		assert_int_equal(SSL_write(p.ssl, msg, sizeof(msg)), (int)sizeof(msg));
		rec_len = BIO_read(p.out, rec, sizeof(rec));
		assert_true(rec_len > (int)sizeof(msg)); /* one record: header, body, tag */
		if (k >= (unsigned)rec_len)
			break;
		assert_int_equal(rig_send(r, p.fd, rec, k), 0);
		assert_true(rig_pump_until(r, 5000, rig_bytes_in_at_least, &want));
		assert_int_equal(rig_send(r, p.fd, rec + k, (size_t)rec_len - k), 0);
		assert_int_equal(peer_read(r, &p, back, sizeof(back), 5000), sizeof(back));
		assert_memory_equal(msg, back, sizeof(back));
	}
	/* The record the loop stopped at, whole: the stream goes on. */
	assert_int_equal(rig_send(r, p.fd, rec, (size_t)rec_len), 0);
	assert_int_equal(peer_read(r, &p, back, sizeof(back), 5000), sizeof(back));
	assert_memory_equal(msg, back, sizeof(back));
	close_clean(r, &p);
}

static void records_across_buffers(void **state)
{
	struct rig *r = *state;
	struct peer p;
	static uint8_t msg[5 * 16384 + 777];

	assert_int_equal(peer_open(r, &p, 0), 0);
	/* Six records (five of 16 KiB, each over 17 buffers), sent in one go. */
	fill_pattern(msg, sizeof(msg), 3);
	echo_check(r, &p, msg, sizeof(msg), 0);
	/* And again with the records cut every 333 bytes. */
	fill_pattern(msg, sizeof(msg), 4);
	echo_check(r, &p, msg, sizeof(msg), 333);
	close_clean(r, &p);
}

static void close_notify_mid_buffer(void **state)
{
	struct rig *r = *state;
	struct peer p;
	uint8_t buf[4096], back[11];
	int n;

	assert_int_equal(peer_open(r, &p, 0), 0);
	assert_int_equal(SSL_write(p.ssl, "last words!", 11), 11);
	SSL_shutdown(p.ssl); /* close_notify right behind the record */
	n = BIO_read(p.out, buf, sizeof(buf) - 100);
	assert_true(n > 11);
	memset(buf + n, 0x17, 100); /* bytes after the alert, in the same receive */
	assert_int_equal(rig_send(r, p.fd, buf, (size_t)n + 100), 0);
	assert_int_equal(peer_read(r, &p, back, sizeof(back), 5000), sizeof(back));
	assert_memory_equal(back, "last words!", 11);
	/* The engine's close_notify follows, then its FIN. */
	assert_int_equal(peer_wait_notify(r, &p, 5000), SSL_ERROR_ZERO_RETURN);
	assert_int_equal(r->peer_eofs, 1);
	assert_int_equal(r->st.tls_notify_in, 1);
	assert_int_equal(r->st.tls_notify_out, 1);
	assert_int_equal(r->st.tls_truncations, 0);
	peer_free(&p);
	assert_true(rig_pump_until(r, 5000, rig_released, NULL));
}

static bool up_connected(struct rig *r, const void *unused)
{
	struct conn *c = engine_conn(r->e, r->forward_to);

	return c && engine_connected(c);
}

static void paused_destination(void **state)
{
	struct rig *r = *state;
	struct peer p;
	struct net_addr a = r->addr;
	socklen_t len = sizeof(a.ss);
	enum { TOTAL = 8 << 20, CHUNK = 64 << 10 };
	static uint8_t msg[TOTAL], back[TOTAL], stage[16384];
	size_t sent = 0, got = 0, stage_len = 0, stage_off = 0;
	int dst_l, dst, err = 0, small = 4096;
	uint64_t end;
	struct conn *up;

	/* The destination: a plain connection out to a peer that does not read yet. */
	((struct sockaddr_in *)&a.ss)->sin_port = 0;
	dst_l = sock_listen(&a, 4);
	assert_true(dst_l >= 0);
	getsockname(dst_l, (struct sockaddr *)&a.ss, &len);
	up = engine_connect(r->e, &a, 2000, &err);
	assert_non_null(up);
	r->forward_to = engine_ref(r->e, up);
	assert_true(rig_pump_until(r, 2000, up_connected, NULL));
	dst = accept(dst_l, NULL, NULL);
	assert_true(dst >= 0);
	setsockopt(dst, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));

	assert_int_equal(peer_open(r, &p, 0), 0);
	fill_pattern(msg, sizeof(msg), 5);
	/* Push until the engine stops reading the client: its destination is full. */
	end = rig_ms() + 20000;
	while (sent < TOTAL && !r->st.paused && rig_ms() < end) {
		assert_int_equal(SSL_write(p.ssl, msg + sent, CHUNK), CHUNK);
		sent += CHUNK;
		assert_true(peer_flush(r, &p, 0) > 0);
		rig_pump(r);
	}
	assert_true(r->st.paused > 0); /* the source's receive paused for back-pressure */
	/* The rest of the stream, as far as the sockets take it, while the peer reads it all. */
	end = rig_ms() + 30000;
	while (got < TOTAL && rig_ms() < end) {
		ssize_t n;

		if (stage_off == stage_len) { /* the socket took what was staged: more */
			int m;

			if (!BIO_ctrl_pending(p.out) && sent < TOTAL) {
				assert_int_equal(SSL_write(p.ssl, msg + sent, CHUNK), CHUNK);
				sent += CHUNK;
			}
			m = BIO_read(p.out, stage, sizeof(stage));
			stage_off = 0;
			stage_len = m > 0 ? (size_t)m : 0;
		}
		if (stage_off < stage_len) {
			n = send(p.fd, stage + stage_off, stage_len - stage_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0)
				stage_off += (size_t)n;
		}
		rig_pump(r);
		n = recv(dst, back + got, TOTAL - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		else
			assert_true(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
	}
	assert_int_equal(got, TOTAL);
	assert_memory_equal(msg, back, TOTAL);
	close(dst);
	close(dst_l);
	peer_free(&p);
	assert_true(rig_pump_until(r, 5000, rig_released, NULL));
}

static bool idle_a_second(struct rig *r, const void *since)
{
	return rig_ms() > *(const uint64_t *)since + 1300;
}

static void idle_buffers_released(void **state)
{
	struct rig *r = *state;
	struct peer p;
	uint8_t msg[2000];
	size_t fresh, busy, idle;
	uint64_t since;

	assert_int_equal(peer_open(r, &p, 0), 0);
	fill_pattern(msg, sizeof(msg), 6);
	echo_check(r, &p, msg, sizeof(msg), 0);
	fresh = ossl_live; /* a new connection frees its record buffers after each record */
	for (unsigned i = 0; i < 10; i++)
		echo_check(r, &p, msg, sizeof(msg), 0);
	busy = ossl_live; /* a busy one keeps them: the server's read and write, 17 KB each */
	assert_true(busy >= fresh + 30000);
	since = rig_ms();
	rig_pump_until(r, 2000, idle_a_second, &since);
	idle = ossl_live; /* a second idle: given back */
	assert_true(idle + 30000 <= busy);
	/* And it talks again. */
	fill_pattern(msg, sizeof(msg), 7);
	echo_check(r, &p, msg, sizeof(msg), 0);
	close_clean(r, &p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(one_byte_receives, setup, teardown),
		cmocka_unit_test_setup_teardown(record_split_at_every_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(records_across_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(close_notify_mid_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(paused_destination, setup, teardown),
		cmocka_unit_test_setup_teardown(idle_buffers_released, setup, teardown),
	};
	int failed;

	/* Before OpenSSL allocates anything: idle_buffers_released counts its heap. */
	if (!CRYPTO_set_mem_functions(count_malloc, count_realloc, count_free))
		return 1;

	if (rig_cert())
		return 1;
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	rig_cert_remove();
	return failed;
}
