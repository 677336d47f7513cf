/* SPDX-License-Identifier: Apache-2.0 */
/* The hybrid logical clock (clock.h) and the last-writer-wins rule of records (record.h). */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "record.h"

#define T0 1764547200000ULL /* 2025-12-01 in ms */

static void test_tick_follows_the_wall(void **state)
{
	(void)state;
	assert_int_equal(octo_hlc_tick(0, T0), octo_hlc_make(T0, 0));
	assert_int_equal(octo_hlc_tick(octo_hlc_make(T0, 0), T0 + 5), octo_hlc_make(T0 + 5, 0));
	/* the same millisecond: the logical count goes on */
	assert_int_equal(octo_hlc_tick(octo_hlc_make(T0, 0), T0), octo_hlc_make(T0, 1));
	assert_int_equal(octo_hlc_ms(octo_hlc_make(T0, 7)), T0);
	assert_int_equal(octo_hlc_logical(octo_hlc_make(T0, 7)), 7);
}

/* The wall clock steps back an hour: the clock does not, and keeps counting past the last. */
static void test_wall_steps_back(void **state)
{
	uint64_t last = octo_hlc_make(T0, 3), h;
	int i;

	(void)state;
	for (i = 0; i < 1000; i++) {
		h = octo_hlc_tick(last, T0 - 3600 * 1000);
		assert_true(h > last);
		assert_int_equal(octo_hlc_ms(h), T0);
		last = h;
	}
	/* 65536 events in one millisecond carry into the next, never wrap */
	last = octo_hlc_make(T0, 0xffff);
	h = octo_hlc_tick(last, T0);
	assert_true(h > last);
	assert_int_equal(h, octo_hlc_make(T0 + 1, 0));
	/* the wall catching up again takes over */
	assert_int_equal(octo_hlc_tick(h, T0 + 10), octo_hlc_make(T0 + 10, 0));
}

/* Receiving a clock moves past it, and past our own; the wall still leads when ahead. */
static void test_merge(void **state)
{
	uint64_t mine = octo_hlc_make(T0, 2), remote = octo_hlc_make(T0 + 50, 9);

	(void)state;
	assert_int_equal(octo_hlc_merge(mine, remote, T0), octo_hlc_make(T0 + 50, 10));
	assert_int_equal(octo_hlc_merge(remote, mine, T0), octo_hlc_make(T0 + 50, 10));
	assert_int_equal(octo_hlc_merge(mine, remote, T0 + 100), octo_hlc_make(T0 + 100, 0));
	assert_true(octo_hlc_merge(mine, remote, 0) > remote);
}

static void test_wall_ms_is_now(void **state)
{
	uint64_t a = octo_clock_wall_ms(), b = octo_clock_wall_ms();

	(void)state;
	assert_true(a > T0 - 365ULL * 24 * 3600 * 1000 && b >= a);
}

#define REC(h, n, t)                                                                               \
	{                                                                                          \
		.stamp = {.hlc = (h), .node = (n)}, .tombstone = (t)                               \
	}

/* The rule, both ways round: a higher clock wins; at equal clocks a tombstone wins; then
 * the higher node id; the same write ties. */
static void test_last_writer_wins(void **state)
{
	static const struct {
		struct octo_record a, b;
		int want; /* a against b */
	} cases[] = {
		{REC(10, "a", 0), REC(9, "z", 1), 1},   /* clock first: before tombstone and node */
		{REC(10, "a", 1), REC(11, "a", 0), -1}, /* a later write undoes a delete */
		{REC(10, "a", 1), REC(10, "z", 0), 1},  /* equal clocks: the tombstone */
		{REC(10, "b", 0), REC(10, "a", 0), 1},  /* then the node id */
		{REC(10, "a", 1), REC(10, "b", 1), -1}, /* two deletes: the node id */
		{REC(10, "ab", 0), REC(10, "a", 0),
		 1}, /* bytewise, longer wins on a common prefix */
		{REC(10, "a", 0), REC(10, "a", 0), 0}, /* the same write */
		{REC(10, NULL, 0), REC(10, "", 0), 0}, /* no node is the empty id */
		{REC(1, "a", 0), REC(0, "", 0), 1}, /* anything beats a file from before records */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = octo_record_cmp(&cases[i].a, &cases[i].b);
		int back = octo_record_cmp(&cases[i].b, &cases[i].a);
		if ((got > 0) - (got < 0) != cases[i].want ||
		    (back > 0) - (back < 0) != -cases[i].want)
			fail_msg("case %zu: %d and %d, want %d", i, got, back, cases[i].want);
	}
}

/* A record file round-trips: header, node and value as written, a tombstone without one. */
static void test_record_format_and_parse(void **state)
{
	char node[OCTO_NODE_ID_MAX + 1];
	struct octo_record r = {
		.stamp = {.hlc = octo_hlc_make(T0, 7), .time_ms = T0, .node = "n-1.a"},
		.value = "sha256:ab\ncd",
		.value_len = 12};
	struct octo_record back;
	size_t len;
	char *text = octo_record_format(&r, &len);

	(void)state;
	assert_non_null(text);
	assert_int_equal(octo_record_parse(text, len, &back, node), 0);
	assert_true(back.stamp.hlc == r.stamp.hlc && back.stamp.time_ms == T0);
	assert_string_equal(back.stamp.node, "n-1.a");
	assert_false(back.tombstone);
	assert_int_equal(back.value_len, 12);
	assert_memory_equal(back.value, r.value, 12);
	free(text);

	r.tombstone = 1;
	text = octo_record_format(&r, &len);
	assert_non_null(text);
	assert_int_equal(octo_record_parse(text, len, &back, node), 0);
	assert_true(back.tombstone && back.value_len == 0);
	free(text);

	r.stamp.node = "bad node"; /* a space would break the header */
	assert_null(octo_record_format(&r, &len));
}

/* What is refused, and a file from before records. */
static void test_record_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"1 2 v n",                      /* no newline after the header */
		"01 2 v n\n",                   /* a leading zero */
		"1 2 x n\n",                    /* neither v nor t */
		"1 2 t n\nval",                 /* a tombstone with a value */
		"1 2 v \n",                     /* no node */
		"1 2 v a b\n",                  /* a space in the node */
		"18446744073709551616 2 v n\n", /* past 64 bits */
		"1 2v n\n",
		"1  2 v n\n",
	};
	static const char max[] = "18446744073709551615 0 v n\n";
	char node[OCTO_NODE_ID_MAX + 1];
	struct octo_record r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (octo_record_parse(bad[i], strlen(bad[i]), &r, node) == 0)
			fail_msg("accepted %s", bad[i]);
	assert_int_equal(octo_record_parse("sha256:abc\n", 11, &r, node), 0);
	assert_true(r.stamp.hlc == 0 && !r.tombstone && r.value_len == 10);
	assert_int_equal(octo_record_parse("", 0, &r, node), 0); /* an old link file */
	assert_int_equal(r.value_len, 0);
	assert_int_equal(octo_record_parse(max, strlen(max), &r, node), 0);
	assert_true(r.stamp.hlc == UINT64_MAX);
}

/* Yes at the first ask, then once a period. */
static void test_due(void **state)
{
	uint64_t last = 0;

	(void)state;
	assert_true(octo_clock_due(&last, 5000, 1000));
	assert_false(octo_clock_due(&last, 5000, 1000));
	assert_false(octo_clock_due(&last, 5999, 1000));
	assert_true(octo_clock_due(&last, 6000, 1000));
	assert_int_equal(last, 6000);
	assert_false(octo_clock_due(&last, 6500, 1000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tick_follows_the_wall),
		cmocka_unit_test(test_wall_steps_back),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_wall_ms_is_now),
		cmocka_unit_test(test_last_writer_wins),
		cmocka_unit_test(test_record_format_and_parse),
		cmocka_unit_test(test_record_parse_rejects),
		cmocka_unit_test(test_due),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
