// SPDX-License-Identifier: MIT
/* What caps --max-conns: which limit binds, what each shard keeps, and what the lines say. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_limits.h"
#include "ringer/engine.h"

static struct limits_in base(void)
{
	return (struct limits_in){
		.asked = 16384,
		.shards = 2,
		.per_session = 1,
		.nofile = 20000,
		.nofile_hard = 20000,
		.file_slots = 20000 - 64,
		.ringer_bytes = 144,
		.mem_avail = 24ull << 30,
		.mem_from = "MemAvailable",
	};
}

/* The lines limits_print() writes, in a buffer the caller frees. */
static char *printed(const struct limits_in *in, const struct limits_out *out, bool verbose)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	limits_print(f, in, out, verbose);
	fclose(f);
	return buf;
}

static void as_asked(void **state)
{
	struct limits_in in = base();
	struct limits_out out;
	char *s;

	(void)state;
	limits_compute(&in, &out);
	assert_int_equal(out.binding, LIMITS_NONE);
	assert_int_equal(out.per_shard, 16384);
	assert_int_equal(out.table_cap, 20000 - 64 - 64);
	assert_int_equal(out.conn_bytes, 144 + LIMITS_KERNEL_SOCK_BYTES);
	assert_int_equal(out.mem_conns, (24ull << 30) / (144 + LIMITS_KERNEL_SOCK_BYTES));
	assert_false(out.mem_short);
	/* Quiet: nothing binds, nothing to say. */
	s = printed(&in, &out, false);
	assert_string_equal(s, "");
	free(s);
	s = printed(&in, &out, true);
	assert_non_null(strstr(s, "RLIMIT_NOFILE 20000 (hard 20000)"));
	assert_non_null(strstr(s, "the kernel allows 1048576 slots a ring"));
	assert_non_null(strstr(s, "24.0 GiB available (MemAvailable)"));
	assert_non_null(strstr(s, "ringer: max-conns 16384 a shard, 32768 in all\n"));
	free(s);
}

/* A million asked under a 20,000 descriptor limit: the table keeps 64 slots of headroom. */
static void descriptors_bind(void **state)
{
	struct limits_in in = base();
	struct limits_out out;
	char *s;

	(void)state;
	in.asked = 1000000;
	limits_compute(&in, &out);
	assert_int_equal(out.binding, LIMITS_DESCRIPTORS);
	assert_int_equal(out.per_shard, 20000 - 64 - 64);
	assert_int_equal(out.per_shard, engine_conn_cap(1000000, in.file_slots));
	s = printed(&in, &out, false);
	assert_non_null(strstr(s, "max-conns 19872 a shard (not 1000000), 39744 in all: the "
				  "descriptor limit (RLIMIT_NOFILE 20000, hard 20000)"));
	assert_null(strstr(s, "warning"));
	free(s);
}

/* A proxy's sessions take two connections each: half the table. */
static void proxy_sessions(void **state)
{
	struct limits_in in = base();
	struct limits_out out;

	(void)state;
	in.per_session = 2;
	in.asked = 16384;
	limits_compute(&in, &out);
	assert_int_equal(out.binding, LIMITS_DESCRIPTORS);
	assert_int_equal(out.per_shard, (20000 - 64 - 64) / 2);
	in.asked = 9000;
	limits_compute(&in, &out);
	assert_int_equal(out.binding, LIMITS_NONE);
	assert_int_equal(out.per_shard, 9000);
}

/* A hard limit beyond the kernel's table: the kernel's cap is the one named. */
static void kernel_table_binds(void **state)
{
	struct limits_in in = base();
	struct limits_out out;
	char *s;

	(void)state;
	in.nofile = in.nofile_hard = 4u << 20;
	in.file_slots = 0; /* no descriptor cap */
	in.asked = 1u << 20;
	in.shards = 1;
	in.mem_avail = 0;
	limits_compute(&in, &out);
	assert_int_equal(out.binding, LIMITS_KERNEL_TABLE);
	assert_int_equal(out.per_shard, ENGINE_MAX_FILE_SLOTS - 64);
	assert_int_equal(out.mem_conns, 0);
	assert_false(out.mem_short);
	s = printed(&in, &out, true);
	assert_non_null(strstr(s, "the kernel's fixed-file table holds at most 1048576 a ring"));
	assert_non_null(strstr(s, "memory: unknown"));
	free(s);
}

/* Memory short of what the shards may hold: a warning, even when quiet. */
static void memory_short(void **state)
{
	struct limits_in in = base();
	struct limits_out out;
	char *s;

	(void)state;
	in.mem_avail = 64ull << 20; /* 64 MiB: about 17,000 connections */
	limits_compute(&in, &out);
	assert_int_equal(out.binding, LIMITS_NONE);
	assert_true(out.mem_short);
	assert_int_equal(out.mem_conns, (64ull << 20) / out.conn_bytes);
	s = printed(&in, &out, false);
	assert_non_null(strstr(s, "ringer: warning: 32768 connections in all need about 0.1 GiB"));
	assert_non_null(strstr(s, "lower --max-conns or --shards"));
	free(s);
	in.asked = 8000;
	limits_compute(&in, &out);
	assert_false(out.mem_short);
}

/* This machine's own figures are read: some memory, and a source named. */
static void reads_memory(void **state)
{
	const char *from = NULL;
	uint64_t avail = limits_read_memory(&from);

	(void)state;
	assert_true(avail > 0);
	assert_non_null(from);
	print_message("memory available: %.1f GiB (%s)\n", (double)avail / (1 << 30), from);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(as_asked),	  cmocka_unit_test(descriptors_bind),
		cmocka_unit_test(proxy_sessions), cmocka_unit_test(kernel_table_binds),
		cmocka_unit_test(memory_short),	  cmocka_unit_test(reads_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
