/* SPDX-License-Identifier: Apache-2.0 */
/* The change journal: sequence numbers across processes, torn tails. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "journal.h"
#include "store.h"
#include "testutil.h"

static const struct octo_journal_event ev = {
	.type = "blob.put", .repo = "a/b", .digest = "sha256:00"};

static void test_sequence_increments(void **state)
{
	char *dir = tu_tempdir();
	struct octo_store *s;
	uint64_t seq = 0;
	int i;

	(void)state;
	assert_int_equal(octo_store_open(dir, &s), OCTO_OK);
	for (i = 1; i <= 5; i++) {
		assert_int_equal(octo_journal_append(s, &ev, &seq), OCTO_OK);
		assert_int_equal(seq, (uint64_t)i);
	}
	octo_store_free(s);
	tu_rmtree(dir);
	free(dir);
}

/* A line cut short by a crash was never acknowledged: it is dropped, numbering goes on. */
static void test_torn_tail_is_cut(void **state)
{
	char *dir = tu_tempdir();
	char path[4200], buf[4096];
	struct octo_store *s;
	uint64_t seq;
	FILE *f;
	size_t n;

	(void)state;
	assert_int_equal(octo_store_open(dir, &s), OCTO_OK);
	assert_int_equal(octo_journal_append(s, &ev, &seq), OCTO_OK);
	assert_int_equal(octo_journal_path(s, path, sizeof(path)), OCTO_OK);
	f = fopen(path, "a");
	fputs("{\"seq\":2,\"type\":\"blo", f);
	fclose(f);
	assert_int_equal(octo_journal_append(s, &ev, &seq), OCTO_OK);
	assert_int_equal(seq, 2);
	f = fopen(path, "r");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_null(strstr(buf, "\"blo\n"));
	assert_non_null(strstr(buf, "{\"seq\":2,"));
	octo_store_free(s);
	tu_rmtree(dir);
	free(dir);
}

/* Four processes append at once: every number 1..N appears exactly once, in order, and
 * every line is valid JSON. */
static void test_concurrent_processes(void **state)
{
	enum {
		PROCS = 4,
		EACH = 50
	};
	char *dir = tu_tempdir();
	char path[4200], line[2048];
	struct octo_store *s;
	uint64_t expect = 1;
	int p, status;
	FILE *f;

	(void)state;
	assert_int_equal(octo_store_open(dir, &s), OCTO_OK);
	for (p = 0; p < PROCS; p++) {
		if (fork() == 0) {
			int i;
			for (i = 0; i < EACH; i++)
				if (octo_journal_append(s, &ev, NULL) != OCTO_OK)
					_exit(1);
			_exit(0);
		}
	}
	for (p = 0; p < PROCS; p++) {
		wait(&status);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(octo_journal_path(s, path, sizeof(path)), OCTO_OK);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		json_error_t jerr;
		json_t *o = json_loads(line, 0, &jerr);
		assert_non_null(o);
		assert_int_equal(json_integer_value(json_object_get(o, "seq")), expect);
		assert_string_equal(json_string_value(json_object_get(o, "repo")), "a/b");
		json_decref(o);
		expect++;
	}
	fclose(f);
	assert_int_equal(expect, PROCS * EACH + 1);
	octo_store_free(s);
	tu_rmtree(dir);
	free(dir);
}

/* The strict reader of a line's sequence number (sscanf took "-5" and overflowed). */
static void test_parse_seq_table(void **state)
{
	static const struct {
		const char *line;
		int want;
		uint64_t seq;
	} cases[] = {
		{"{\"seq\":12,\"time_ms\":1}", 0, 12},
		{"{\"seq\":1,", 0, 1},
		{"{\"seq\":18446744073709551615,", 0, UINT64_MAX},
		{"{\"seq\":18446744073709551616,", -1, 0},
		{"{\"seq\":99999999999999999999999,", -1, 0},
		{"{\"seq\":-5,", -1, 0},
		{"{\"seq\":+5,", -1, 0},
		{"{\"seq\":012,", -1, 0},
		{"{\"seq\": 5,", -1, 0},
		{"{\"seq\":5}", -1, 0},
		{"{\"seq\":5", -1, 0},
		{"{\"seq\":,", -1, 0},
		{"{\"seq\":", -1, 0},
		{"{\"type\":\"x\",\"seq\":5,", -1, 0},
		{"", -1, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t seq = 77;
		int got = octo_journal_parse_seq(cases[i].line, strlen(cases[i].line), &seq);
		if (got != cases[i].want)
			fail_msg("%s: %d, want %d", cases[i].line, got, cases[i].want);
		if (got == 0)
			assert_int_equal(seq, cases[i].seq);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequence_increments),
		cmocka_unit_test(test_torn_tail_is_cut),
		cmocka_unit_test(test_concurrent_processes),
		cmocka_unit_test(test_parse_seq_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
