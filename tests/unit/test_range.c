/* SPDX-License-Identifier: Apache-2.0 */
/* The one byte-range parser, table-driven: Range of a GET and Content-Range of a chunk,
 * with the hostile cases (signs, spaces, overflow, several ranges). */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "range.h"

static void test_request_table(void **state)
{
	static const struct {
		const char *header;
		uint64_t size;
		int want;
		uint64_t start, end;
	} cases[] = {
		{"bytes=0-4", 10, 1, 0, 4},
		{"bytes=2-", 10, 1, 2, 9},
		{"bytes=-3", 10, 1, 7, 9},
		{"bytes=-30", 10, 1, 0, 9},   /* a suffix longer than the resource */
		{"bytes=5-100", 10, 1, 5, 9}, /* the end is clamped */
		{"bytes=9-9", 10, 1, 9, 9},
		{"bytes=10-", 10, -1, 0, 0}, /* starts past the end */
		{"bytes=10-20", 10, -1, 0, 0},
		{"bytes=-0", 10, -1, 0, 0}, /* an empty suffix */
		{"bytes=-1", 0, -1, 0, 0},  /* nothing to send */
		{"bytes=0-", 0, -1, 0, 0},
		{"bytes=0--5", 10, 0, 0, 0},    /* sscanf read "-5" and wrapped to 2^64-5 */
		{"bytes=4-2", 10, 0, 0, 0},     /* last before first: ignored */
		{"bytes=0-1,3-4", 10, 0, 0, 0}, /* several ranges: ignored */
		{"bytes= 0-4", 10, 0, 0, 0},
		{"bytes=+1-4", 10, 0, 0, 0},
		{"bytes=0-4 ", 10, 0, 0, 0},
		{"bytes=-", 10, 0, 0, 0},
		{"bytes=", 10, 0, 0, 0},
		{"bytes=a-b", 10, 0, 0, 0},
		{"items=0-4", 10, 0, 0, 0},
		{"bytes=0x10-", 10, 0, 0, 0},
		{"bytes=9223372036854775807-", 10, -1, 0, 0}, /* INT64_MAX: parsed, past the end */
		{"bytes=9223372036854775808-", 10, 0, 0, 0},  /* one more: overflow, ignored */
		{"bytes=0-99999999999999999999999", 10, 0, 0, 0},
		{"bytes=-18446744073709551616", 10, 0, 0, 0},
		{NULL, 10, 0, 0, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t start = 77, end = 77;
		int got = octo_range_request(cases[i].header, cases[i].size, &start, &end);
		if (got != cases[i].want)
			fail_msg("%s over %llu: %d, want %d",
				 cases[i].header ? cases[i].header : "NULL",
				 (unsigned long long)cases[i].size, got, cases[i].want);
		if (got == 1) {
			assert_int_equal(start, cases[i].start);
			assert_int_equal(end, cases[i].end);
		}
	}
}

static void test_content_table(void **state)
{
	static const struct {
		const char *header;
		int want;
		uint64_t first, last;
	} cases[] = {
		{"0-1023", 0, 0, 1023},
		{"bytes 0-1023", 0, 0, 1023},
		{"bytes=1024-2047", 0, 1024, 2047},
		{"5-5", 0, 5, 5},
		{"0--5", -1, 0, 0},
		{"5-4", -1, 0, 0},
		{"0-", -1, 0, 0},
		{"-5", -1, 0, 0},
		{"0-1023/2048", -1, 0, 0},
		{" 0-1", -1, 0, 0},
		{"0 -1", -1, 0, 0},
		{"+0-1", -1, 0, 0},
		{"", -1, 0, 0},
		{"bytes ", -1, 0, 0},
		{"0-9223372036854775807", 0, 0, 9223372036854775807ull},
		{"0-9223372036854775808", -1, 0, 0},
		{"18446744073709551615-18446744073709551615", -1, 0, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t first = 77, last = 77;
		int got = octo_range_content(cases[i].header, &first, &last);
		if (got != cases[i].want)
			fail_msg("\"%s\": %d, want %d", cases[i].header, got, cases[i].want);
		if (got == 0) {
			assert_int_equal(first, cases[i].first);
			assert_int_equal(last, cases[i].last);
		}
	}
}

/* The parser reads only the bytes it is given. */
static void test_parse_length_delimited(void **state)
{
	struct octo_range r;

	(void)state;
	assert_int_equal(octo_range_parse("3-7junk", 3, &r), 0);
	assert_true(r.has_first && r.has_last);
	assert_int_equal(r.first, 3);
	assert_int_equal(r.last, 7);
	assert_int_equal(octo_range_parse("3-7junk", 4, &r), -1);
	assert_int_equal(octo_range_parse("12-", 3, &r), 0);
	assert_true(r.has_first && !r.has_last);
	assert_int_equal(octo_range_parse("-", 1, &r), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_table),
		cmocka_unit_test(test_content_table),
		cmocka_unit_test(test_parse_length_delimited),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
