// SPDX-License-Identifier: MIT
/*
 * The TLS transport (src/engine/transport_tls.c) fed arbitrary ciphertext in
 * arbitrary pieces, on a real ring (tests/tls_rig.c). The first byte chooses:
 *
 *  - bit 0 clear: the input after 1 byte is the whole stream from the
 *    client's first byte (a ClientHello, or not), cut where the input says;
 *  - bit 0 set: a real handshake first, then the input encrypted as records of
 *    sizes the input draws, cut where it says; bit 1 flips one ciphertext
 *    byte the input picks; bit 2 ends with close_notify (then the input's
 *    last 8 bytes as garbage behind it), else the socket is just closed.
 *
 * Properties: no crash, no leak (the sanitizers), and every outcome clean:
 * unflipped records come back byte-exact (the rig's mode echoes); a flipped
 * one ends the connection; close_notify is answered with ours; and after
 * each input the connection is gone with every slot and buffer back within
 * 2 s, the engine still serving (the next input needs it).
 */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "tls_rig.h"

static struct rig rig;

static void setup_once(void)
{
	static int done;

	if (done)
		return;
	FUZZ_CHECK(rig_cert() == 0);
	FUZZ_CHECK(rig_init(&rig, 256, 1024) == 0);
	rig_cert_remove(); /* read at rig_init: the contexts hold them now */
	done = 1;
}

/* Sends len bytes in pieces drawn from the input; false once the engine reset us. */
static int send_cut(const uint8_t *cut, size_t cut_len, int fd, const uint8_t *p, size_t len)
{
	for (unsigned i = 0; len; i++) {
		size_t n = cut_len ? fuzz_drawn(cut, cut_len, i) * 8 : len;

		if (n > len)
			n = len;
		if (rig_send(&rig, fd, p, n))
			return 0;
		rig_pump(&rig);
		p += n;
		len -= n;
	}
	return 1;
}

static void raw_stream(const uint8_t *data, size_t size)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(connect(fd, (struct sockaddr *)&rig.addr.ss, rig.addr.len) == 0);
	send_cut(data, size, fd, data, size);
	close(fd);
}

static void records(const uint8_t *data, size_t size, uint8_t how)
{
	static uint8_t ct[1 << 17], back[1 << 15];
	struct peer p;
	size_t ct_len = 0, plain = size > 8 ? size - 8 : size;
	int flipped = 0, n;

	FUZZ_CHECK(peer_open(&rig, &p, 0) == 0);
	/* The plaintext as records of sizes the input draws, the ciphertext collected. */
	for (size_t off = 0, i = 0; off < plain; i++) {
		size_t len = fuzz_drawn(data, size, (unsigned)i) * 64;

		if (len > plain - off)
			len = plain - off;
		FUZZ_CHECK(SSL_write(p.ssl, data + off, (int)len) == (int)len);
		off += len;
	}
	if (how & 4)
		SSL_shutdown(p.ssl);
	while ((n = BIO_read(p.out, ct + ct_len, (int)(sizeof(ct) - ct_len))) > 0)
		ct_len += (size_t)n;
	if ((how & 2) && ct_len) {
		size_t at = size ? data[0] | (size > 1 ? (size_t)data[1] << 8 : 0) : 0;

		ct[at % ct_len] ^= (uint8_t)(1u << (how >> 5)); /* no input left: the first byte */
		flipped = 1;
	}
	if ((how & 4) && size >= 8 && ct_len + 8 <= sizeof(ct)) {
		memcpy(ct + ct_len, data + size - 8, 8); /* garbage behind close_notify */
		ct_len += 8;
	}
	if (send_cut(data, size, p.fd, ct, ct_len) && !flipped && plain <= sizeof(back)) {
		/* Intact records: every byte comes back, and close_notify is answered. */
		FUZZ_CHECK(peer_read(&rig, &p, back, plain, 5000) == plain);
		FUZZ_CHECK(memcmp(back, data, plain) == 0);
		if (how & 4)
			FUZZ_CHECK(peer_wait_notify(&rig, &p, 5000) == SSL_ERROR_ZERO_RETURN);
	}
	peer_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup_once();
	if (size < 1 || size > 16384)
		return 0;
	rig.accepted = 0;
	if (data[0] & 1)
		records(data + 1, size - 1, data[0]);
	else
		raw_stream(data + 1, size - 1);
	/* Whatever came in, the connection is gone, and nothing is left behind. */
	FUZZ_CHECK(rig_pump_until(&rig, 2000, rig_released, NULL));
	return 0;
}
