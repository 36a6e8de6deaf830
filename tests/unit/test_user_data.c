// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ringer/user_data.h"

static void round_trips(void **state)
{
	static const uint32_t gens[] = {0, 1, 0x123456, UD_GEN_MASK};
	static const uint32_t slots[] = {0, 1, 65535, 0x80000000u, UINT32_MAX};

	(void)state;
	for (unsigned op = 0; op < 256; op++)
		for (size_t g = 0; g < sizeof(gens) / sizeof(gens[0]); g++)
			for (size_t s = 0; s < sizeof(slots) / sizeof(slots[0]); s++) {
				uint64_t ud = ud_encode(op, gens[g], slots[s]);

				assert_int_equal(ud_op(ud), op);
				assert_int_equal(ud_gen(ud), gens[g]);
				assert_int_equal(ud_slot(ud), slots[s]);
			}
}

static void generation_wraps_within_its_field(void **state)
{
	(void)state;
	/* A generation past 24 bits is truncated and never spills into op. */
	uint64_t ud = ud_encode(UD_OP_RECV, UD_GEN_MASK + 2, 7);

	assert_int_equal(ud_op(ud), UD_OP_RECV);
	assert_int_equal(ud_gen(ud), 1);
	assert_int_equal(ud_slot(ud), 7);
}

static void fields_do_not_overlap(void **state)
{
	(void)state;
	assert_int_equal(ud_encode(0xff, 0, 0) & ud_encode(0, UD_GEN_MASK, 0), 0);
	assert_int_equal(ud_encode(0, UD_GEN_MASK, 0) & ud_encode(0, 0, UINT32_MAX), 0);
	assert_true(ud_encode(0xff, UD_GEN_MASK, UINT32_MAX) == UINT64_MAX);
}

static void names(void **state)
{
	(void)state;
	assert_string_equal(ud_op_name(UD_OP_ACCEPT), "accept");
	assert_string_equal(ud_op_name(UD_OP_RECV), "recv");
	assert_string_equal(ud_op_name(UD_OP_COUNT), "?");
	for (unsigned op = 0; op < UD_OP_COUNT; op++)
		assert_non_null(ud_op_name(op));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trips),
		cmocka_unit_test(generation_wraps_within_its_field),
		cmocka_unit_test(fields_do_not_overlap),
		cmocka_unit_test(names),
	};

	return cmocka_run_group_tests_name("user_data", tests, NULL, NULL);
}
