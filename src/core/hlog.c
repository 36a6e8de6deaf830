// SPDX-License-Identifier: MIT
/*
 * The HdrHistogram interval log writer. What is written follows
 * HdrHistogram 2.1's AbstractHistogram.encodeIntoByteBuffer(),
 * encodeIntoCompressedByteBuffer(), ZigZagEncoding and HistogramLogWriter.
 *
 * Why our counts array is HdrHistogram's, index for index. HdrHistogram with
 * lowestDiscernibleValue = 1, highestTrackableValue = HIST_MAX_NS (60e9) and
 * numberOfSignificantValueDigits = 3 sets, in AbstractHistogram.init():
 *
 *   largestValueWithSingleUnitResolution = 2 * 10^3 = 2000
 *   unitMagnitude = floor(log2(1)) = 0, so unitMagnitudeMask = 0
 *   subBucketCountMagnitude = ceil(log2(2000)) = 11  (our HIST_SUB_BITS)
 *   subBucketHalfCountMagnitude = 10, subBucketCount = 2048 (HIST_SUB_COUNT),
 *   subBucketHalfCount = 1024 (HIST_SUB_HALF), subBucketMask = 2047
 *   leadingZeroCountBase = 64 - 0 - 11 = 53
 *
 * and for a value v:
 *
 *   getBucketIndex(v) = 53 - clz64(v | 2047)
 *     = 64 - clz64(v | (HIST_SUB_COUNT - 1)) - HIST_SUB_BITS  (our bucket_of)
 *   getSubBucketIndex(v, b) = v >> (b + 0)
 *   countsArrayIndex(v) = ((b + 1) << 10) + (v >> b) - 1024
 *     = ((b + 1) << (HIST_SUB_BITS - 1)) + (v >> b) - HIST_SUB_HALF  (our hist_index)
 *
 * getBucketsNeededToCoverValue(60e9) doubles 2048 until it exceeds 60e9:
 * 2048 << 24 = 34.4e9 does not, 2048 << 25 = 68.7e9 does, so 26 buckets
 * (HIST_BUCKETS) and countsArrayLength = (26 + 1) * 1024 = 27648
 * (HIST_COUNTS_LEN). Same index function, same length: counts[i] is
 * HdrHistogram's counts[i] and needs no mapping. A reader that decodes our
 * header builds exactly that histogram (the header carries 1, 60e9 and 3).
 * The values we clamp to HIST_MAX_NS land in index(60e9), which HdrHistogram
 * can hold too.
 *
 * The encoding, all integers big-endian:
 *
 *   compressed: int32 cookie 0x1c849314, int32 length of what follows,
 *               then zlib (RFC 1950: header, deflate, Adler-32, as Java's
 *               Deflater writes by default) of the V2 encoding:
 *   V2:         int32 cookie 0x1c849313, int32 payload length,
 *               int32 normalizingIndexOffset (0), int32 significant digits (3),
 *               int64 lowestDiscernibleValue (1), int64 highestTrackableValue,
 *               double integerToDoubleValueConversionRatio (1.0), payload
 *   payload:    counts[0 .. last non-zero] as ZigZag LEB128 (9 bytes at most:
 *               the ninth carries 8 bits), a run of N > 1 zero counts as -N,
 *               a lone zero as 0
 *
 * The cookies are HdrHistogram's V2 bases 0x1c849303 / 0x1c849304 with the
 * word-size nibble 0x10 both the Java and C encoders set; decoders mask that
 * nibble off. An empty histogram still encodes one zero count, as Java's
 * encoder (which stops at countsArrayIndex(maxValue) with maxValue 0) does.
 * The log writer compresses at level 9 (Deflater.BEST_COMPRESSION).
 */
#include "ringer/hlog.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define SIG_DIGITS 3
#define LOWEST	   1

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* ZigZag, then LEB128 with at most 9 bytes: eight of 7 bits, a ninth of 8. */
static size_t put_zigzag(uint8_t *p, int64_t v)
{
	uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	size_t n = 0;

	while (n < 8) {
		if (!(z >> 7)) {
			p[n++] = (uint8_t)z;
			return n;
		}
		p[n++] = (uint8_t)(z | 0x80);
		z >>= 7;
	}
	p[n++] = (uint8_t)z;
	return n;
}

/* Slots to encode: up to the last non-zero one, at least one. */
static unsigned counts_limit(const struct hist *h)
{
	unsigned n = HIST_COUNTS_LEN;

	while (n > 1 && !h->counts[n - 1])
		n--;
	return n;
}

int hlog_encode_v2(const struct hist *h, uint8_t *dst, size_t cap)
{
	unsigned limit = counts_limit(h), i = 0;
	size_t pos = HLOG_V2_HEADER_LEN;
	uint64_t one;
	double ratio = 1.0;

	if (cap < HLOG_V2_HEADER_LEN)
		return -ENOSPC;
	while (i < limit) {
		uint64_t c = h->counts[i++];
		int64_t word;

		if (c > INT64_MAX)
			return -ERANGE;
		word = (int64_t)c;
		if (!c) {
			int64_t zeros = 1;

			while (i < limit && !h->counts[i]) {
				zeros++;
				i++;
			}
			word = zeros > 1 ? -zeros : 0;
		}
		if (cap - pos < 9)
			return -ENOSPC;
		pos += put_zigzag(dst + pos, word);
	}
	memcpy(&one, &ratio, sizeof(one));
	put_be32(dst, HLOG_COOKIE_V2);
	put_be32(dst + 4, (uint32_t)(pos - HLOG_V2_HEADER_LEN));
	put_be32(dst + 8, 0);
	put_be32(dst + 12, SIG_DIGITS);
	put_be64(dst + 16, LOWEST);
	put_be64(dst + 24, HIST_MAX_NS);
	put_be64(dst + 32, one);
	return (int)pos;
}

size_t hlog_base64(const void *src, size_t n, char *dst)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const uint8_t *s = src;
	char *d = dst;

	for (; n >= 3; n -= 3, s += 3) {
		uint32_t w = (uint32_t)s[0] << 16 | (uint32_t)s[1] << 8 | s[2];

		*d++ = abc[w >> 18];
		*d++ = abc[(w >> 12) & 63];
		*d++ = abc[(w >> 6) & 63];
		*d++ = abc[w & 63];
	}
	if (n) {
		uint32_t w = (uint32_t)s[0] << 16 | (n > 1 ? (uint32_t)s[1] << 8 : 0);

		*d++ = abc[w >> 18];
		*d++ = abc[(w >> 12) & 63];
		*d++ = n > 1 ? abc[(w >> 6) & 63] : '=';
		*d++ = '=';
	}
	*d = '\0';
	return (size_t)(d - dst);
}

int hlog_init(struct hlog *l)
{
	z_stream *zs;

	memset(l, 0, sizeof(*l));
	zs = calloc(1, sizeof(*zs));
	if (!zs)
		return -ENOMEM;
	if (deflateInit(zs, Z_BEST_COMPRESSION) != Z_OK)
		goto out_free_zs;
	l->zs = zs;
	l->packed_cap = 8 + deflateBound(zs, HLOG_V2_MAX_LEN);
	l->v2 = malloc(HLOG_V2_MAX_LEN);
	l->packed = malloc(l->packed_cap);
	l->text = malloc(HLOG_BASE64_LEN(l->packed_cap) + 1);
	if (!l->v2 || !l->packed || !l->text) {
		hlog_close(l);
		return -ENOMEM;
	}
	return 0;
out_free_zs:
	free(zs);
	return -ENOMEM;
}

/* The compressed encoding of h into l->packed: its length, or -errno. */
static int pack(struct hlog *l, const struct hist *h)
{
	z_stream *zs = l->zs;
	int n = hlog_encode_v2(h, l->v2, HLOG_V2_MAX_LEN);

	if (n < 0)
		return n;
	if (deflateReset(zs) != Z_OK)
		return -EINVAL;
	zs->next_in = l->v2;
	zs->avail_in = (uInt)n;
	zs->next_out = l->packed + 8;
	zs->avail_out = (uInt)(l->packed_cap - 8);
	/* Output room is deflateBound(): one call always finishes. */
	if (deflate(zs, Z_FINISH) != Z_STREAM_END)
		return -ENOSPC;
	put_be32(l->packed, HLOG_COOKIE_V2_COMPRESSED);
	put_be32(l->packed + 4, (uint32_t)zs->total_out);
	return (int)(8 + zs->total_out);
}

int hlog_encode(struct hlog *l, const struct hist *h, char *out, size_t out_len, size_t *written)
{
	int n = pack(l, h);

	if (n < 0)
		return n;
	if (out_len < HLOG_BASE64_LEN(n) + 1)
		return -ENOSPC;
	*written = hlog_base64(l->packed, (size_t)n, out);
	return 0;
}

int hlog_open(struct hlog *l, FILE *f, double start_epoch_s)
{
	time_t t = (time_t)start_epoch_s;
	char date[64] = "";
	struct tm tm;
	int ret = hlog_init(l);

	if (ret)
		return ret;
	l->f = f;
	/* Java's Date.toString(): "EEE MMM dd HH:mm:ss zzz yyyy", local time. */
	if (localtime_r(&t, &tm))
		strftime(date, sizeof(date), "%a %b %d %H:%M:%S %Z %Y", &tm);
	fprintf(f, "#[Histogram log format version 1.3]\n");
	fprintf(f, "#[StartTime: %.3f (seconds since epoch), %s]\n", start_epoch_s, date);
	fprintf(f, "#[BaseTime: %.3f (seconds since epoch)]\n", start_epoch_s);
	fprintf(f, "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\","
		   "\"Interval_Compressed_Histogram\"\n");
	return ferror(f) ? -EIO : 0;
}

static bool tag_ok(const char *tag)
{
	return *tag && !strpbrk(tag, ", \r\n");
}

int hlog_interval(struct hlog *l, const struct hist *h, double start_s, double len_s,
		  const char *tag)
{
	uint64_t max = h->total ? hist_highest_equivalent(h->max) : 0;
	int n, ret;

	if (!l->f || (tag && !tag_ok(tag)))
		return -EINVAL;
	n = pack(l, h);
	if (n < 0)
		return n;
	hlog_base64(l->packed, (size_t)n, l->text);
	if (tag)
		ret = fprintf(l->f, "Tag=%s,%.3f,%.3f,%.3f,%s\n", tag, start_s, len_s,
			      (double)max / 1e6, l->text);
	else
		ret = fprintf(l->f, "%.3f,%.3f,%.3f,%s\n", start_s, len_s, (double)max / 1e6,
			      l->text);
	return ret < 0 ? -EIO : 0;
}

int hlog_close(struct hlog *l)
{
	int ret = 0;

	if (l->f && (fflush(l->f) || ferror(l->f)))
		ret = -EIO;
	if (l->zs) {
		deflateEnd(l->zs);
		free(l->zs);
	}
	free(l->v2);
	free(l->packed);
	free(l->text);
	memset(l, 0, sizeof(*l));
	return ret;
}
