/* SPDX-License-Identifier: MIT */
#ifndef RINGER_HLOG_H
#define RINGER_HLOG_H

/*
 * HdrHistogram's interval log (.hlog, "Histogram log format version 1.3"):
 * a text file with one line per interval, each carrying that interval's
 * histogram in HdrHistogram's compressed V2 encoding, base64. HdrHistogram's
 * own tools (HistogramLogProcessor, HistogramLogReader, hdr-histogram-js,
 * HdrHistogram_c) read it, merge the intervals of several files and report
 * percentiles over any time range.
 *
 * struct hist is laid out exactly like an HdrHistogram with
 * lowestDiscernibleValue 1, highestTrackableValue HIST_MAX_NS and 3
 * significant digits, so counts[i] is HdrHistogram's counts[i] and the
 * encoding is a straight copy of the array (src/core/hlog.c shows why).
 *
 * The file, as HistogramLogWriter writes it:
 *
 *	#[Histogram log format version 1.3]
 *	#[StartTime: 1700000000.123 (seconds since epoch), Tue Nov 14 22:13:20 UTC 2023]
 *	#[BaseTime: 1700000000.123 (seconds since epoch)]
 *	"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"
 *	0.000,1.000,0.353,HISTFAAAAC...
 *	Tag=B,1.000,1.000,0.401,HISTFAAAAC...
 *
 * Timestamps of interval lines are seconds after BaseTime (which is
 * StartTime); the max column is the interval's largest value, as HdrHistogram
 * reports it (the highest value equivalent to it), in milliseconds.
 *
 * struct hlog holds everything an interval needs: the encoding buffers and
 * zlib's compressor are allocated once by hlog_init() (or hlog_open()), so
 * hlog_interval() and hlog_encode() allocate nothing. Functions return 0 or
 * a negative errno.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ringer/hist.h"

/* HdrHistogram's V2 cookies with the word-size nibble 0x10 its encoders set. */
#define HLOG_COOKIE_V2		  0x1c849313u
#define HLOG_COOKIE_V2_COMPRESSED 0x1c849314u
#define HLOG_V2_HEADER_LEN	  40
/* A count takes at most 9 bytes as ZigZag LEB128 ("LEB128-64b9B"). */
#define HLOG_V2_MAX_LEN (HLOG_V2_HEADER_LEN + 9 * HIST_COUNTS_LEN)
/* Characters of the base64 text of n bytes, with padding, without the NUL. */
#define HLOG_BASE64_LEN(n) ((((size_t)(n) + 2) / 3) * 4)

struct hlog {
	FILE *f;	 /* NULL after hlog_init(): encoding only */
	void *zs;	 /* zlib's z_stream, kept opaque so includers need no zlib.h */
	uint8_t *v2;	 /* HLOG_V2_MAX_LEN: the uncompressed encoding */
	uint8_t *packed; /* packed_cap: compressed cookie, length, deflate stream */
	char *text;	 /* HLOG_BASE64_LEN(packed_cap) + 1: the base64 of packed */
	size_t packed_cap;
};

/* Allocates the buffers and the compressor, for hlog_encode(). -ENOMEM. */
int hlog_init(struct hlog *l);
/*
 * hlog_init(), then writes the header to f: the format version, StartTime and
 * BaseTime (both start_epoch_s, seconds since the epoch) and the legend. f
 * stays the caller's: hlog_close() flushes it but does not close it.
 * -ENOMEM, -EIO.
 */
int hlog_open(struct hlog *l, FILE *f, double start_epoch_s);
/*
 * One interval line: start_s seconds after StartTime, len_s long, h's max and
 * h encoded. tag NULL for none; a tag is written as "Tag=NAME," and must be
 * non-empty without commas, spaces or line breaks (else -EINVAL, as
 * HdrHistogram refuses them). -EIO when the write fails, -EINVAL after
 * hlog_init() alone.
 */
int hlog_interval(struct hlog *l, const struct hist *h, double start_s, double len_s,
		  const char *tag);
/*
 * Flushes f (-EIO if any write to it failed) and frees what hlog_init() took.
 * Safe after any return of hlog_init() or hlog_open(), and a second time.
 */
int hlog_close(struct hlog *l);

/*
 * h in HdrHistogram's compressed V2 encoding, base64, NUL-terminated, into out
 * (*written characters, without the NUL). -ENOSPC if out_len is too small,
 * -ERANGE for a count above INT64_MAX (HdrHistogram's counts are signed).
 */
int hlog_encode(struct hlog *l, const struct hist *h, char *out, size_t out_len, size_t *written);

/*
 * The uncompressed V2 encoding of h (header and ZigZag LEB128 counts) into
 * dst: its length, or -ENOSPC (cap below HLOG_V2_MAX_LEN may not do) or
 * -ERANGE. Pure: what hlog_encode() compresses.
 */
int hlog_encode_v2(const struct hist *h, uint8_t *dst, size_t cap);

/*
 * Standard base64 (RFC 4648 alphabet, '=' padding) of n bytes into dst, which
 * holds HLOG_BASE64_LEN(n) + 1; NUL-terminated. Returns the length written.
 */
size_t hlog_base64(const void *src, size_t n, char *dst);

#endif
