/* SPDX-License-Identifier: Apache-2.0 */
/* The transfer schedule: grace, then a minimum average rate, with slack for bytes in
 * flight; no overflow for any size. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rate.h"

static void test_table(void **state)
{
	static const struct {
		int64_t elapsed_ms;
		uint64_t bytes, slack;
		int64_t grace_ms, min_rate;
		int behind;
	} cases[] = {
		{1000, 0, 0, 30000, 500, 0},     /* within the grace */
		{30000, 0, 0, 30000, 500, 0},    /* at its end */
		{30001, 0, 0, 30000, 500, 1},    /* nothing after it */
		{40000, 4, 0, 30000, 500, 1},    /* a byte every 10 s */
		{40000, 5000, 0, 30000, 500, 0}, /* 500 B/s exactly */
		{40000, 4999, 0, 30000, 500, 1},
		{40000, 4, 16384, 30000, 500, 0}, /* the slack covers a chunk in flight */
		{80000, 4, 16384, 30000, 500, 1},
		{600000, 6000000000ull, 0, 30000, 10000000, 0},     /* 6 GB in 10 min at 10 MB/s */
		{1000000, UINT64_MAX / 2, UINT64_MAX / 4, 0, 1, 0}, /* no overflow */
		{99999999, 0, 0, 0, 0, 0},                          /* off */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (octo_rate_behind(cases[i].elapsed_ms, cases[i].bytes, cases[i].slack,
				     cases[i].grace_ms, cases[i].min_rate) != cases[i].behind)
			fail_msg("case %zu", i);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
