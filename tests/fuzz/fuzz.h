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

#endif
