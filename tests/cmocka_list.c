/* SPDX-License-Identifier: MIT */
/*
 * Every cmocka program's cases, named before any runs: with
 * RINGER_LIST_CASES set in its environment, a test program prints the name
 * of each case in its groups, one a line, and runs none (group setups
 * included). tools/count-tests.py lists each program this way, so a
 * program that crashes or times out mid-run has each case it never ran
 * counted as failed by name.
 *
 * No test file changes for it: the programs link with
 * -Wl,--wrap=_cmocka_run_group_tests (tests/meson.build, cmocka_list_dep),
 * so the cmocka_run_group_tests() macro's call lands here first.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

int __real__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
				   const size_t num_tests, CMFixtureFunction group_setup,
				   CMFixtureFunction group_teardown);
int __wrap__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
				   const size_t num_tests, CMFixtureFunction group_setup,
				   CMFixtureFunction group_teardown);

int __wrap__cmocka_run_group_tests(const char *group_name, const struct CMUnitTest *const tests,
				   const size_t num_tests, CMFixtureFunction group_setup,
				   CMFixtureFunction group_teardown)
{
	const char *list = getenv("RINGER_LIST_CASES");

	if (!list || !*list)
		return __real__cmocka_run_group_tests(group_name, tests, num_tests, group_setup,
						      group_teardown);
	/* cmocka runs the entries with a name and a function; so does the list. */
	for (size_t i = 0; i < num_tests; i++)
		if (tests[i].name && tests[i].test_func)
			printf("%s\n", tests[i].name);
	fflush(stdout);
	return 0;
}
