/* SPDX-License-Identifier: MIT */
#ifndef RINGER_FUZZ_H
#define RINGER_FUZZ_H

/*
 * A fuzz target is one libFuzzer entry point. The same file builds twice:
 * with clang's -fsanitize=fuzzer (tools/fuzz.sh, the 'fuzz' meson option)
 * to explore, and in every build with replay.c as its main, which runs the
 * seed corpus and every input that ever crashed it (tests/fuzz/regressions)
 * as a regression test.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property the target checks broke: abort, so the fuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                      \
	do {                                                  \
		if (!(cond)) {                                \
			fuzz_fail(#cond, __FILE__, __LINE__); \
		}                                             \
	} while (0)

__attribute__((noreturn)) void fuzz_fail(const char *what, const char *file, int line);

/*
 * How a target cuts its input into pieces, to check a streaming parser gives
 * the same answer however its input arrives: the size of piece i (0: the rest).
 */
static inline size_t fuzz_whole(const uint8_t *data, size_t size, unsigned i)
{
	(void)data, (void)size, (void)i;
	return 0;
}

static inline size_t fuzz_bytewise(const uint8_t *data, size_t size, unsigned i)
{
	(void)data, (void)size, (void)i;
	return 1;
}

/* Sizes 1..64 drawn from the input's own bytes, so the fuzzer steers the cuts too. */
static inline size_t fuzz_drawn(const uint8_t *data, size_t size, unsigned i)
{
	return size ? 1 + (data[(i * 7u) % size] ^ (uint8_t)i) % 64 : 0;
}

#endif
