// SPDX-License-Identifier: MIT
/*
 * The interval log writer against a decoder written here from HdrHistogram's
 * description (base64, the compressed cookie, inflate, the V2 header, ZigZag
 * LEB128 with zero runs), and against encodings that HdrHistogram's own
 * implementations produced (the golden vectors below). Every decoded count
 * is compared, not just totals.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <zlib.h>

#include "ringer/hlog.h"

static struct hist *new_hist(void)
{
	struct hist *h = malloc(sizeof(*h));

	assert_non_null(h);
	hist_init(h);
	return h;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

/* ---- the test's own decoder ---- */

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict: length a multiple of 4, padding only at the end. Returns bytes or -1. */
static long b64_decode(const char *s, size_t len, uint8_t *out)
{
	long n = 0;

	if (len % 4)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;

		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return -1;
			v[k] = b64_value(s[i + k]);
			if (v[k] < 0)
				return -1;
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		out[n++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[n++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[n++] = (uint8_t)w;
	}
	return n;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* HdrHistogram's ZigZagEncoding.getLong(): 8 bytes of 7 bits, a ninth of 8. */
static int64_t get_zigzag(const uint8_t *p, size_t len, size_t *pos)
{
	uint64_t z = 0;
	unsigned shift = 0;

	for (;;) {
		uint8_t b;

		assert_true(*pos < len);
		b = p[(*pos)++];
		if (shift == 56) {
			z |= (uint64_t)b << 56;
			break;
		}
		z |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
		shift += 7;
	}
	return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

struct decoded {
	uint32_t cookie;
	int32_t normalizing_offset;
	int32_t digits;
	int64_t lowest;
	int64_t highest;
	double ratio;
	size_t payload_len;
	unsigned filled; /* counts the payload covered, zero runs included */
	uint64_t counts[HIST_COUNTS_LEN];
};

/* The uncompressed V2 encoding into d; every count it does not cover is 0. */
static void decode_v2(const uint8_t *v2, size_t len, struct decoded *d)
{
	size_t pos = HLOG_V2_HEADER_LEN;
	uint64_t bits;

	memset(d, 0, sizeof(*d));
	assert_true(len >= HLOG_V2_HEADER_LEN);
	d->cookie = be32(v2);
	d->payload_len = be32(v2 + 4);
	d->normalizing_offset = (int32_t)be32(v2 + 8);
	d->digits = (int32_t)be32(v2 + 12);
	d->lowest = (int64_t)be64(v2 + 16);
	d->highest = (int64_t)be64(v2 + 24);
	bits = be64(v2 + 32);
	memcpy(&d->ratio, &bits, sizeof(bits));
	assert_int_equal(len, HLOG_V2_HEADER_LEN + d->payload_len);
	while (pos < len) {
		int64_t w = get_zigzag(v2, len, &pos);

		if (w < 0) {
			assert_true(d->filled - w <= HIST_COUNTS_LEN);
			d->filled += (unsigned)-w;
		} else {
			assert_true(d->filled < HIST_COUNTS_LEN);
			d->counts[d->filled++] = (uint64_t)w;
		}
	}
}

/* Base64 text of the compressed encoding into d; the V2 bytes into v2 if non-NULL. */
static size_t decode_text(const char *text, struct decoded *d, uint8_t *v2_out)
{
	size_t len = strlen(text);
	uint8_t *packed = malloc(len);
	uint8_t *v2 = malloc(HLOG_V2_MAX_LEN);
	uLongf v2_len = HLOG_V2_MAX_LEN;
	long n;

	assert_non_null(packed);
	assert_non_null(v2);
	n = b64_decode(text, len, packed);
	assert_true(n >= 8);
	/* Decoders ignore the cookie's word-size nibble; ours sets it as Java does. */
	assert_int_equal(be32(packed) & ~0xf0u, HLOG_COOKIE_V2_COMPRESSED & ~0xf0u);
	assert_int_equal(be32(packed + 4), n - 8);
	assert_int_equal(uncompress(v2, &v2_len, packed + 8, (uLong)(n - 8)), Z_OK);
	decode_v2(v2, v2_len, d);
	if (v2_out)
		memcpy(v2_out, v2, v2_len);
	free(packed);
	free(v2);
	return v2_len;
}

static char *text_buf(const struct hlog *l)
{
	char *t = malloc(HLOG_BASE64_LEN(l->packed_cap) + 1);

	assert_non_null(t);
	return t;
}

/* h through hlog_encode() and the decoder: header fields and every count. */
static void round_trip(struct hlog *l, const struct hist *h, struct decoded *d)
{
	char *text = text_buf(l);
	size_t written = 0;

	assert_int_equal(hlog_encode(l, h, text, HLOG_BASE64_LEN(l->packed_cap) + 1, &written), 0);
	assert_int_equal(written, strlen(text));
	decode_text(text, d, NULL);
	assert_int_equal(d->cookie, HLOG_COOKIE_V2);
	assert_int_equal(d->normalizing_offset, 0);
	assert_int_equal(d->digits, 3);
	assert_int_equal(d->lowest, 1);
	assert_int_equal(d->highest, HIST_MAX_NS);
	assert_true(d->ratio == 1.0);
	for (unsigned i = 0; i < HIST_COUNTS_LEN; i++)
		if (d->counts[i] != h->counts[i])
			fail_msg("index %u: decoded %llu, recorded %llu", i,
				 (unsigned long long)d->counts[i],
				 (unsigned long long)h->counts[i]);
	free(text);
}

/* ---- tests ---- */

static void base64_vectors(void **state)
{
	/* RFC 4648, section 10, and bytes that use '+', '/' and every padding. */
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} v[] = {
		{"", 0, ""},
		{"f", 1, "Zg=="},
		{"fo", 2, "Zm8="},
		{"foo", 3, "Zm9v"},
		{"foob", 4, "Zm9vYg=="},
		{"fooba", 5, "Zm9vYmE="},
		{"foobar", 6, "Zm9vYmFy"},
		{"\xfb\xff\xbf", 3, "+/+/"},
		{"\x00\x00\x00", 3, "AAAA"},
		{"\xff", 1, "/w=="},
		{"\xff\xfe", 2, "//4="},
		{"\x1c\x84\x93\x14", 4, "HISTFA=="},
	};
	char out[32];
	uint8_t all[256], back[256];
	char *big = malloc(HLOG_BASE64_LEN(256) + 1);

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = hlog_base64(v[i].in, v[i].len, out);

		assert_string_equal(out, v[i].out);
		assert_int_equal(n, strlen(v[i].out));
		assert_int_equal(n, HLOG_BASE64_LEN(v[i].len));
	}
	/* Every byte value in every position of a 3-byte group, and back. */
	for (int shift = 0; shift < 3; shift++) {
		for (int i = 0; i < 256; i++)
			all[i] = (uint8_t)(i + shift * 85);
		for (size_t n = 253; n <= 256; n++) {
			assert_int_equal(hlog_base64(all, n, big), HLOG_BASE64_LEN(n));
			assert_int_equal(b64_decode(big, strlen(big), back), (long)n);
			assert_memory_equal(all, back, n);
		}
	}
	free(big);
}

static void v2_header_and_words(void **state)
{
	struct hist *h = new_hist();
	uint8_t *v2 = malloc(HLOG_V2_MAX_LEN);
	static const uint8_t header[HLOG_V2_HEADER_LEN] = {
		0x1c, 0x84, 0x93, 0x13, 0,    0,    0,	  0, /* cookie, payload length (patched) */
		0,    0,    0,	  0,	0,    0,    0,	  3, /* normalizingIndexOffset, digits */
		0,    0,    0,	  0,	0,    0,    0,	  1, /* lowestDiscernibleValue */
		0,    0,    0,	  0x0d, 0xf8, 0x47, 0x58, 0, /* highestTrackableValue 60e9 */
		0x3f, 0xf0, 0,	  0,	0,    0,    0,	  0, /* 1.0 */
	};
	uint8_t want[HLOG_V2_HEADER_LEN];
	int n;

	(void)state;
	/* Empty: one zero count, as Java's encoder writes it. */
	n = hlog_encode_v2(h, v2, HLOG_V2_MAX_LEN);
	assert_int_equal(n, HLOG_V2_HEADER_LEN + 1);
	memcpy(want, header, sizeof(want));
	want[7] = 1;
	assert_memory_equal(v2, want, HLOG_V2_HEADER_LEN);
	assert_int_equal(v2[40], 0x00);

	/* A lone zero is 0, a run of N zeros is -N (ZigZag 2N - 1), counts are 2c. */
	h->counts[1] = 1;
	h->counts[7] = 63;
	h->counts[8] = 64;
	n = hlog_encode_v2(h, v2, HLOG_V2_MAX_LEN);
	{
		static const uint8_t p[] = {0x00, 0x02, 0x09, 0x7e, 0x80, 0x01};

		assert_int_equal(n, HLOG_V2_HEADER_LEN + (int)sizeof(p));
		assert_int_equal(be32(v2 + 4), sizeof(p));
		assert_memory_equal(v2 + 40, p, sizeof(p));
	}

	/* The largest count: eight bytes of 7 bits and a ninth of 8. */
	hist_init(h);
	h->counts[0] = INT64_MAX;
	n = hlog_encode_v2(h, v2, HLOG_V2_MAX_LEN);
	{
		static const uint8_t p[] = {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

		assert_int_equal(n, HLOG_V2_HEADER_LEN + 9);
		assert_memory_equal(v2 + 40, p, sizeof(p));
	}
	/* The longest zero run: every slot but the last. */
	hist_init(h);
	h->counts[HIST_COUNTS_LEN - 1] = 1;
	n = hlog_encode_v2(h, v2, HLOG_V2_MAX_LEN);
	{
		size_t pos = 40;

		assert_int_equal(get_zigzag(v2, (size_t)n, &pos), -(int64_t)(HIST_COUNTS_LEN - 1));
		assert_int_equal(get_zigzag(v2, (size_t)n, &pos), 1);
		assert_int_equal(pos, n);
	}

	/* HdrHistogram's counts are signed. */
	h->counts[3] = (uint64_t)INT64_MAX + 1;
	assert_int_equal(hlog_encode_v2(h, v2, HLOG_V2_MAX_LEN), -ERANGE);
	h->counts[3] = 1;
	assert_int_equal(hlog_encode_v2(h, v2, 39), -ENOSPC);
	assert_int_equal(hlog_encode_v2(h, v2, 44), -ENOSPC);
	free(v2);
	free(h);
}

static void random_histograms_round_trip(void **state)
{
	struct hist *h = new_hist();
	struct decoded *d = malloc(sizeof(*d));
	struct hlog l;

	(void)state;
	assert_non_null(d);
	assert_int_equal(hlog_init(&l), 0);
	for (int round = 0; round < 300; round++) {
		unsigned kind = round % 4, n = (unsigned)(rng() % 5000);

		hist_init(h);
		for (unsigned k = 0; k < n; k++) {
			unsigned shift = (unsigned)(rng() % 36);
			uint64_t v = (rng() >> (63 - shift)) + (kind == 0 ? 0 : 1);
			uint64_t c = 1;

			/* Sums of up to 5,000 such counts in one slot stay below 2^63. */
			if (kind == 1) /* counts of every LEB128 length up to 8 bytes */
				c = rng() >> (rng() % 50 + 14);
			else if (kind == 2) /* large counts everywhere */
				c = (rng() >> 20) + 1;
			hist_record_n(h, v, c ? c : 1);
		}
		if (kind == 3) { /* dense: every slot up to a random one, zero runs of 1 */
			unsigned top = (unsigned)(rng() % HIST_COUNTS_LEN);

			for (unsigned i = 0; i < top; i++)
				h->counts[i] += rng() % 3;
		}
		round_trip(&l, h, d);
	}
	assert_int_equal(hlog_close(&l), 0);
	free(d);
	free(h);
}

static void empty_and_every_bucket_boundary(void **state)
{
	struct hist *h = new_hist();
	struct decoded *d = malloc(sizeof(*d));
	struct hlog l;
	uint64_t values[4 * HIST_BUCKETS + 4];
	size_t nv = 0;

	(void)state;
	assert_non_null(d);
	assert_int_equal(hlog_init(&l), 0);
	round_trip(&l, h, d);
	assert_int_equal(d->filled, 1);

	values[nv++] = 0;
	values[nv++] = 1;
	values[nv++] = HIST_MAX_NS;
	values[nv++] = HIST_MAX_NS + 1; /* clamped */
	for (unsigned b = 0; b < HIST_BUCKETS; b++) {
		uint64_t lo = (uint64_t)HIST_SUB_HALF << b,
			 hi = ((uint64_t)HIST_SUB_COUNT << b) - 1;

		values[nv++] = lo - 1;
		values[nv++] = lo;
		values[nv++] = hi > HIST_MAX_NS ? HIST_MAX_NS : hi;
		values[nv++] = hi + 1 > HIST_MAX_NS ? HIST_MAX_NS : hi + 1;
	}
	for (size_t k = 0; k < nv; k++) {
		unsigned idx = hist_index(values[k]);

		hist_init(h);
		hist_record(h, values[k]);
		round_trip(&l, h, d);
		/* The payload ends at the value's slot, with exactly one count in it. */
		assert_int_equal(d->filled, idx + 1);
		assert_int_equal(d->counts[idx], 1);
	}
	assert_int_equal(hlog_close(&l), 0);
	free(d);
	free(h);
}

static void huge_counts(void **state)
{
	struct hist *h = new_hist();
	struct decoded *d = malloc(sizeof(*d));
	struct hlog l;

	(void)state;
	assert_non_null(d);
	assert_int_equal(hlog_init(&l), 0);
	h->counts[0] = INT64_MAX;
	h->counts[HIST_COUNTS_LEN / 2] = 1ull << 62;
	h->counts[HIST_COUNTS_LEN - 1] = INT64_MAX;
	for (unsigned i = 1; i < 56; i++)
		h->counts[i * 100] = (1ull << i) - 1 + (1ull << (i - 1)); /* LEB128 length edges */
	round_trip(&l, h, d);
	/* Every slot at INT64_MAX: the worst case of 9 bytes each still fits. */
	for (unsigned i = 0; i < HIST_COUNTS_LEN; i++)
		h->counts[i] = INT64_MAX - i;
	round_trip(&l, h, d);
	assert_int_equal(hlog_encode_v2(h, l.v2, HLOG_V2_MAX_LEN), HLOG_V2_MAX_LEN);
	assert_int_equal(hlog_close(&l), 0);
	free(d);
	free(h);
}

/*
 * Golden vectors: the histogram below, encoded by two HdrHistogram
 * implementations. They are compared with ours after decoding: the V2 bytes
 * Java compressed must equal ours exactly (the same encoder, byte for byte).
 * The deflate streams around them may differ between zlib versions; with
 * the zlib Java used (Debian 12's 1.2.13, level 9 both) the whole base64
 * text is identical too, and is compared where that zlib is the one linked.
 *
 * JAVA: HdrHistogram 2.1.11 (Debian's libhdrhistogram-java), OpenJDK 17:
 *   Histogram h = new Histogram(1, 60000000000L, 3);
 *   h.recordValueWithCount(v, c) for each GOLDEN pair;
 *   h.encodeIntoCompressedByteBuffer(buf, Deflater.BEST_COMPRESSION), base64.
 * JAVA_EMPTY: the same with nothing recorded.
 * JS: hdr-histogram-js 3.0.1 on node 20:
 *   hdr.build({lowestDiscernibleValue: 1, highestTrackableValue: 60e9,
 *              numberOfSignificantValueDigits: 3, bitBucketSize: 64}),
 *   recordValueWithCount(v, c) for each pair, hdr.encodeIntoCompressedBase64(h).
 */
static const uint64_t GOLDEN[][2] = {
	{1, 1},	     {1000, 2},	      {2047, 1},
	{2048, 1},   {2049, 3},	      {50000, 5000000000000},
	{123456, 5}, {1000000, 1000}, {60000000000, 1},
};
static const char GOLDEN_JAVA[] =
	"HISTFAAAAD542pNpmSzMwMAgywABzFCaEYh5f7hHMNh/gIowneZnWS3AxLHRo+HAq"
	"c8ti5lui3KtNbjAv/kvIxMAZNAPaA==";
static const char GOLDEN_JAVA_EMPTY[] = "HISTFAAAACB42pNpmSzMwMDAyAABzFAaxOf94R7BYP8BKgIAUR8EHw==";
static const char GOLDEN_JS[] =
	"HISTFAAAAEB4nJNpmSzMwMAgy8DAwMjAwMDMAAEgNu8P9wgGOJ/pND/LagEmjo0eDQd"
	"OfW5ZzHRblGutwQX+zX8ZmQA6TQ47";

#define GOLDEN_ZLIB "1.2.13"

static void same_text_with_javas_zlib(const struct hist *h, const char *java)
{
	struct hlog l;
	char *text;
	size_t written;

	if (strcmp(zlibVersion(), GOLDEN_ZLIB)) {
		print_message("zlib %s, not %s: base64 texts not compared\n", zlibVersion(),
			      GOLDEN_ZLIB);
		return;
	}
	assert_int_equal(hlog_init(&l), 0);
	text = text_buf(&l);
	assert_int_equal(hlog_encode(&l, h, text, HLOG_BASE64_LEN(l.packed_cap) + 1, &written), 0);
	assert_string_equal(text, java);
	assert_int_equal(hlog_close(&l), 0);
	free(text);
}

static void golden_vectors(void **state)
{
	struct hist *h = new_hist();
	struct decoded *d = malloc(sizeof(*d));
	uint8_t *theirs = malloc(HLOG_V2_MAX_LEN), *ours = malloc(HLOG_V2_MAX_LEN);
	size_t n;
	int m;

	(void)state;
	assert_non_null(d);
	for (size_t i = 0; i < sizeof(GOLDEN) / sizeof(GOLDEN[0]); i++)
		hist_record_n(h, GOLDEN[i][0], GOLDEN[i][1]);

	n = decode_text(GOLDEN_JAVA, d, theirs);
	m = hlog_encode_v2(h, ours, HLOG_V2_MAX_LEN);
	assert_int_equal(m, n);
	assert_memory_equal(ours, theirs, n);
	assert_memory_equal(d->counts, h->counts, sizeof(h->counts));
	same_text_with_javas_zlib(h, GOLDEN_JAVA);

	hist_init(h);
	n = decode_text(GOLDEN_JAVA_EMPTY, d, theirs);
	m = hlog_encode_v2(h, ours, HLOG_V2_MAX_LEN);
	assert_int_equal(m, n);
	assert_memory_equal(ours, theirs, n);
	same_text_with_javas_zlib(h, GOLDEN_JAVA_EMPTY);

	/* hdr-histogram-js encodes the same counts its own way; decoded, they agree. */
	for (size_t i = 0; i < sizeof(GOLDEN) / sizeof(GOLDEN[0]); i++)
		hist_record_n(h, GOLDEN[i][0], GOLDEN[i][1]);
	decode_text(GOLDEN_JS, d, NULL);
	assert_int_equal(d->cookie & ~0xf0u, HLOG_COOKIE_V2 & ~0xf0u);
	assert_int_equal(d->digits, 3);
	assert_int_equal(d->lowest, 1);
	assert_int_equal(d->highest, HIST_MAX_NS);
	assert_memory_equal(d->counts, h->counts, sizeof(h->counts));
	free(theirs);
	free(ours);
	free(d);
	free(h);
}

/*
 * The log text, against what HdrHistogram 2.1.11's HistogramLogWriter printed
 * for the GOLDEN histogram (outputLogFormatVersion, outputStartTime and
 * outputBaseTime at 1700000000123 ms, outputLegend, then
 * outputIntervalHistogram(0.0, 1.0, h) and, with tag "B", (1.0, 2.0, h)), in
 * UTC. Only the base64 is compared after decoding (see golden_vectors).
 */
static void log_text(void **state)
{
	static const char *const want[] = {
		"#[Histogram log format version 1.3]",
		"#[StartTime: 1700000000.123 (seconds since epoch), Tue Nov 14 22:13:20 UTC 2023]",
		"#[BaseTime: 1700000000.123 (seconds since epoch)]",
		("\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
		 "\"Interval_Compressed_Histogram\""),
		"0.000,1.000,60028.879,",
		"Tag=B,1.000,1.000,60028.879,",
		"2.500,0.250,0.000,",
	};
	struct hist *h = new_hist(), *empty = new_hist();
	struct decoded *d = malloc(sizeof(*d));
	struct hlog l;
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0, k = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(f);
	setenv("TZ", "UTC", 1);
	tzset();
	for (size_t i = 0; i < sizeof(GOLDEN) / sizeof(GOLDEN[0]); i++)
		hist_record_n(h, GOLDEN[i][0], GOLDEN[i][1]);
	assert_int_equal(hlog_open(&l, f, 1700000000.123), 0);
	assert_int_equal(hlog_interval(&l, h, 0.0, 1.0, NULL), 0);
	assert_int_equal(hlog_interval(&l, h, 1.0, 1.0, "B"), 0);
	assert_int_equal(hlog_interval(&l, empty, 2.5, 0.25, NULL), 0);
	/* HdrHistogram refuses tags its reader could not split off again. */
	assert_int_equal(hlog_interval(&l, h, 3.0, 1.0, ""), -EINVAL);
	assert_int_equal(hlog_interval(&l, h, 3.0, 1.0, "a,b"), -EINVAL);
	assert_int_equal(hlog_interval(&l, h, 3.0, 1.0, "a b"), -EINVAL);
	assert_int_equal(hlog_interval(&l, h, 3.0, 1.0, "a\nb"), -EINVAL);
	assert_int_equal(hlog_close(&l), 0);
	fclose(f);

	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save), k++) {
		assert_true(k < sizeof(want) / sizeof(want[0]));
		if (k < 4) {
			assert_string_equal(line, want[k]);
			continue;
		}
		assert_memory_equal(line, want[k], strlen(want[k]));
		decode_text(line + strlen(want[k]), d, NULL);
		assert_memory_equal(d->counts, k == 6 ? empty->counts : h->counts,
				    sizeof(h->counts));
	}
	assert_int_equal(k, sizeof(want) / sizeof(want[0]));
	free(buf);
	free(d);
	free(h);
	free(empty);
}

static void encode_only_and_short_buffer(void **state)
{
	struct hist *h = new_hist();
	struct hlog l;
	char small[16], *text;
	size_t written = 0;

	(void)state;
	assert_int_equal(hlog_init(&l), 0);
	text = text_buf(&l);
	hist_record(h, 12345);
	/* hlog_init() alone has no file to write an interval to. */
	assert_int_equal(hlog_interval(&l, h, 0.0, 1.0, NULL), -EINVAL);
	assert_int_equal(hlog_encode(&l, h, small, sizeof(small), &written), -ENOSPC);
	assert_int_equal(hlog_encode(&l, h, text, HLOG_BASE64_LEN(l.packed_cap) + 1, &written), 0);
	/* The exact size is enough: the text and its NUL. */
	assert_int_equal(hlog_encode(&l, h, small, 0, &written), -ENOSPC);
	{
		char *exact = malloc(written + 1);
		size_t again = 0;

		assert_int_equal(hlog_encode(&l, h, exact, written + 1, &again), 0);
		assert_string_equal(exact, text);
		assert_int_equal(hlog_encode(&l, h, exact, written, &again), -ENOSPC);
		free(exact);
	}
	assert_int_equal(hlog_close(&l), 0);
	/* Closing twice is harmless: everything was freed and zeroed. */
	assert_int_equal(hlog_close(&l), 0);
	free(text);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(base64_vectors),
		cmocka_unit_test(v2_header_and_words),
		cmocka_unit_test(random_histograms_round_trip),
		cmocka_unit_test(empty_and_every_bucket_boundary),
		cmocka_unit_test(huge_counts),
		cmocka_unit_test(golden_vectors),
		cmocka_unit_test(log_text),
		cmocka_unit_test(encode_only_and_short_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
