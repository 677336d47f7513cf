/* SPDX-License-Identifier: Apache-2.0 */
/* The untrusted parts authentication parses (auth.h): Authorization headers, Basic credentials,
 * token scopes; and the failed-login table (throttle.h): counts in windows, shared through the
 * store by every process, in memory when there is no store. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "store.h"
#include "testutil.h"
#include "throttle.h"

static void test_split(void **state)
{
	const char *scheme, *cred;
	size_t sl, cl;

	(void)state;
	assert_int_equal(octo_auth_split("Bearer abc.def.ghi", &scheme, &sl, &cred, &cl), 0);
	assert_int_equal(sl, 6);
	assert_memory_equal(scheme, "Bearer", 6);
	assert_int_equal(cl, 11);
	assert_memory_equal(cred, "abc.def.ghi", 11);
	assert_int_equal(octo_auth_split("  basic \t QQ==  ", &scheme, &sl, &cred, &cl), 0);
	assert_int_equal(sl, 5);
	assert_int_equal(cl, 4);
	assert_memory_equal(cred, "QQ==", 4);
	assert_int_equal(octo_auth_split("Bearer", &scheme, &sl, &cred, &cl), -1);
	assert_int_equal(octo_auth_split("Bearer   ", &scheme, &sl, &cred, &cl), -1);
	assert_int_equal(octo_auth_split("", &scheme, &sl, &cred, &cl), -1);
}

static void test_basic(void **state)
{
	static const struct {
		const char *cred, *user, *password;
	} ok[] = {
		{"YWxpY2U6czNjcmV0", "alice", "s3cret"},
		{"YWxpY2U6", "alice", ""},
		{"YWxpY2U6YTpiOmM=", "alice", "a:b:c"}, /* the password may hold ':' */
		{"Ym9iOiBzcGFjZSA=", "bob", " space "},
	};
	static const char *const bad[] = {
		"",         "YWxpY2U", /* not a multiple of 4 */
		"YWxpY2U=",            /* no ':' */
		"OnB3",                /* ":pw": no user */
		"YSBiOmM=",            /* "a b:c": a space in the user */
		"YQBiOmM=",            /* "a\0b:c" */
		"!!!!",
	};
	char user[OCTO_HTPASSWD_USER_MAX + 1], pw[64], small[4];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(
			octo_auth_basic(ok[i].cred, strlen(ok[i].cred), user, pw, sizeof(pw)), 0);
		assert_string_equal(user, ok[i].user);
		assert_string_equal(pw, ok[i].password);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(octo_auth_basic(bad[i], strlen(bad[i]), user, pw, sizeof(pw)), -1);
	/* a password longer than the room is refused, not cut */
	assert_int_equal(octo_auth_basic("YWxpY2U6czNjcmV0", 16, user, small, sizeof(small)), -1);
}

static void test_scope(void **state)
{
	static const struct {
		const char *s, *type, *name;
		unsigned actions;
	} ok[] = {
		{"repository:alice/app:pull,push", "repository", "alice/app",
		 OCTO_ACCESS_PULL | OCTO_ACCESS_PUSH},
		{"repository:a:delete", "repository", "a", OCTO_ACCESS_DELETE},
		{"repository:a:*", "repository", "a",
		 OCTO_ACCESS_PULL | OCTO_ACCESS_PUSH | OCTO_ACCESS_DELETE},
		{"registry:catalog:*", "registry", "catalog",
		 OCTO_ACCESS_PULL | OCTO_ACCESS_PUSH | OCTO_ACCESS_DELETE},
		{"repository:a:bogus,pull,", "repository", "a", OCTO_ACCESS_PULL},
		{"repository(plugin):p:pull", "repository(plugin)", "p", OCTO_ACCESS_PULL},
		{"repository:host:5000/a:pull", "repository", "host:5000/a", OCTO_ACCESS_PULL},
		{"repository:a:", "repository", "a", 0},
	};
	static const char *const bad[] = {
		"",       "repository", "repository:a",
		"::pull", ":a:pull",    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:a:pull"};
	struct octo_scope sc;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(octo_auth_parse_scope(ok[i].s, strlen(ok[i].s), &sc), 0);
		assert_string_equal(sc.type, ok[i].type);
		assert_string_equal(sc.name, ok[i].name);
		assert_int_equal(sc.actions, ok[i].actions);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(octo_auth_parse_scope(bad[i], strlen(bad[i]), &sc), -1);
	/* a NUL inside (found by fuzz_auth): the name would read shorter than it was */
	assert_int_equal(octo_auth_parse_scope("repository:\0a:pull", 19, &sc), -1);
}

static void throttle_windows(struct octo_throttle *t, struct octo_throttle *other)
{
	const int64_t w = 60000, t0 = 1700000000000LL;
	int i;

	assert_int_equal(octo_throttle_wait(t, "user:alice", 3, w, t0), 0);
	for (i = 0; i < 3; i++)
		octo_throttle_fail(t, "user:alice", w, t0 + i * 1000);
	/* the window began at the first failure: 60 s after it, alice may try again */
	assert_int_equal(octo_throttle_wait(other, "user:alice", 3, w, t0 + 10000), w - 10000);
	assert_int_equal(octo_throttle_wait(other, "user:alice", 4, w, t0 + 10000), 0);
	assert_int_equal(octo_throttle_wait(other, "user:bob", 3, w, t0 + 10000), 0);
	assert_int_equal(octo_throttle_wait(other, "user:alice", 0, w, t0 + 10000),
			 0); /* no limit */
	assert_int_equal(octo_throttle_wait(other, "user:alice", 3, w, t0 + w), 0);
	/* a failure after the window starts a new one */
	octo_throttle_fail(other, "user:alice", w, t0 + w);
	assert_int_equal(octo_throttle_wait(t, "user:alice", 1, w, t0 + w + 1), w - 1);
	assert_int_equal(octo_throttle_wait(t, "user:alice", 2, w, t0 + w + 1), 0);
}

static void test_throttle(void **state)
{
	struct octo_throttle *a, *b;
	struct octo_store *s;
	char *dir = tu_tempdir();
	int i;

	(void)state;
	/* in memory */
	assert_int_equal(octo_throttle_open(NULL, &a), OCTO_OK);
	throttle_windows(a, a);
	octo_throttle_free(a);
	/* in the store: two handles (two processes) see one table */
	assert_int_equal(octo_store_open(dir, &s), OCTO_OK);
	assert_int_equal(octo_throttle_open(s, &a), OCTO_OK);
	assert_int_equal(octo_throttle_open(s, &b), OCTO_OK);
	throttle_windows(a, b);
	/* many keys: the table keeps its size, and a recent key keeps its count */
	for (i = 0; i < 100000; i++) {
		char key[32];
		snprintf(key, sizeof(key), "addr:10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		octo_throttle_fail(a, key, 60000, 1700000000000LL);
	}
	octo_throttle_fail(a, "user:carol", 60000, 1700000001000LL);
	octo_throttle_fail(a, "user:carol", 60000, 1700000001000LL);
	assert_int_equal(octo_throttle_wait(b, "user:carol", 2, 60000, 1700000002000LL), 59000);
	{
		uint64_t size;
		assert_int_equal(octo_store_stat(s, "auth/failures", OCTO_ERR_NOT_FOUND, &size),
				 OCTO_OK);
		assert_true(size <= (uint64_t)OCTO_THROTTLE_BUCKETS * OCTO_THROTTLE_WAYS * 32);
	}
	octo_throttle_free(a);
	octo_throttle_free(b);
	octo_store_free(s);
	tu_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_scope),
		cmocka_unit_test(test_throttle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
