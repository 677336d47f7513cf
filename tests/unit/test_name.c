/* SPDX-License-Identifier: Apache-2.0 */
/* Repository-name and tag grammar (distribution-spec "Pulling manifests"). */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "name.h"

static void test_names(void **state)
{
	static const struct {
		const char *name;
		int valid;
	} cases[] = {
		{"a", 1},           {"library/ubuntu", 1},
		{"a/b/c/d", 1},     {"my-app", 1},
		{"my--app", 1},     {"my_app", 1},
		{"my__app", 1},     {"my.app", 1},
		{"a0.b1-c2_d3", 1}, {"", 0},
		{"A", 0},           {"a/", 0},
		{"/a", 0},          {"a//b", 0},
		{"-a", 0},          {"a-", 0},
		{".a", 0},          {"a..b", 0},
		{"a___b", 0},       {"a._b", 0},
		{"..", 0},          {"a/../b", 0},
		{"a/_layers", 0},   {"a b", 0},
		{"a%2fb", 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(octo_name_valid(cases[i].name, strlen(cases[i].name)),
				 cases[i].valid);
}

static void test_name_length(void **state)
{
	char buf[OCTO_NAME_MAX + 2];

	(void)state;
	memset(buf, 'a', sizeof(buf));
	assert_true(octo_name_valid(buf, OCTO_NAME_MAX));
	assert_false(octo_name_valid(buf, OCTO_NAME_MAX + 1));
}

static void test_tags(void **state)
{
	static const struct {
		const char *tag;
		int valid;
	} cases[] = {
		{"latest", 1}, {"v1.0.0", 1}, {"_x", 1},  {"A-b_C.d", 1}, {"", 0},
		{".x", 0},     {"-x", 0},     {"a/b", 0}, {"a:b", 0},     {"a b", 0},
	};
	char longtag[OCTO_TAG_MAX + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(octo_tag_valid(cases[i].tag, strlen(cases[i].tag)),
				 cases[i].valid);
	memset(longtag, 'a', sizeof(longtag));
	assert_true(octo_tag_valid(longtag, OCTO_TAG_MAX));
	assert_false(octo_tag_valid(longtag, OCTO_TAG_MAX + 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_name_length),
		cmocka_unit_test(test_tags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
