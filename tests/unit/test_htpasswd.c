/* SPDX-License-Identifier: Apache-2.0 */
/* htpasswd users (htpasswd.h): bcrypt hashes as `htpasswd -B` writes them check the right
 * password and refuse a wrong one; an unknown user is refused at the same cost; every other
 * scheme, a malformed line, a duplicate and the ceilings are refused when the file is read,
 * naming the line. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "htpasswd.h"
#include "testutil.h"

/* htpasswd -nbB -C 4 alice 's3cret!', and bob hunter2 */
#define ALICE "alice:$2y$04$A89ktywRh.6d/HSCwqwIce724IysZnY7feMx4xJTA4Jcp.Zl2eA8G"
#define BOB "bob:$2y$04$E9DYhfXZffJ2ewmZeKGWnOxcuWUljBTb9j3M3Pk6PkEYNurzElvVG"

static struct octo_htpasswd *parse_ok(const char *text)
{
	struct octo_htpasswd *h;
	char why[256] = "";

	assert_int_equal(octo_htpasswd_parse(text, strlen(text), &h, why, sizeof(why)), OCTO_OK);
	return h;
}

static void test_verify(void **state)
{
	struct octo_htpasswd *h = parse_ok("# users\r\n\r\n" BOB "\r\n" ALICE "\n");

	(void)state;
	assert_int_equal(octo_htpasswd_count(h), 2);
	assert_true(octo_htpasswd_verify(h, "alice", "s3cret!"));
	assert_true(octo_htpasswd_verify(h, "bob", "hunter2"));
	assert_false(octo_htpasswd_verify(h, "alice", "s3cret"));
	assert_false(octo_htpasswd_verify(h, "alice", "hunter2"));
	assert_false(octo_htpasswd_verify(h, "bob", ""));
	assert_false(octo_htpasswd_verify(h, "mallory", "s3cret!"));
	assert_false(octo_htpasswd_verify(h, "", "s3cret!"));
	octo_htpasswd_free(h);
	/* no file at all: nobody */
	assert_false(octo_htpasswd_verify(NULL, "alice", "s3cret!"));
}

static void test_refused(void **state)
{
	static const struct {
		const char *text, *why;
	} cases[] = {
		{"carol:$apr1$nWSLHAKY$KXnPDFKUJnhYcPuHd4rnC/\n", "line 1: an Apache MD5"},
		{ALICE "\ndave:{SHA}lcsL/Sl3x2EpjZYk5LTUxyo5l0o=\n", "line 2: a {SHA} hash"},
		{"eve:plaintext\n", "line 1: not a bcrypt hash"},
		{"eve:$6$salt$abcdef\n", "line 1: a crypt(3)"},
		{"no colon here\n", "line 1: not user:hash"},
		{":$2y$04$A89ktywRh.6d/HSCwqwIce724IysZnY7feMx4xJTA4Jcp.Zl2eA8G\n",
		 "line 1: a user name"},
		{"a b:$2y$04$A89ktywRh.6d/HSCwqwIce724IysZnY7feMx4xJTA4Jcp.Zl2eA8G\n",
		 "a user name"},
		{"x:$2y$99$A89ktywRh.6d/HSCwqwIce724IysZnY7feMx4xJTA4Jcp.Zl2eA8G\n",
		 "not a bcrypt hash"},
		{"x:$2y$03$A89ktywRh.6d/HSCwqwIce724IysZnY7feMx4xJTA4Jcp.Zl2eA8G\n", "bcrypt cost"},
		{"x:$2y$04$A89ktywRh.6d/HSCwqwIce724IysZnY7feMx4xJTA4Jcp.Zl2eA8!\n", "base64"},
		{ALICE "\n" BOB "\n" ALICE "\n", "user alice is listed twice"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct octo_htpasswd *h = NULL;
		char why[256] = "";
		assert_int_equal(octo_htpasswd_parse(cases[i].text, strlen(cases[i].text), &h, why,
						     sizeof(why)),
				 OCTO_ERR_CONFIG);
		assert_null(h);
		if (strstr(why, cases[i].why) == NULL)
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, why, cases[i].why);
	}
}

static void test_ceilings(void **state)
{
	size_t len = OCTO_HTPASSWD_MAX_LINE + 100;
	char *line = malloc(len + 1), why[256] = "";
	struct octo_htpasswd *h;

	(void)state;
	memset(line, 'a', len);
	line[len] = '\0';
	assert_int_equal(octo_htpasswd_parse(line, len, &h, why, sizeof(why)), OCTO_ERR_CONFIG);
	assert_non_null(strstr(why, "longer than 1024"));
	free(line);
	assert_int_equal(octo_htpasswd_parse("a\0b", 3, &h, why, sizeof(why)), OCTO_ERR_CONFIG);
	assert_non_null(strstr(why, "NUL"));
}

static void test_load(void **state)
{
	char *dir = tu_tempdir(), path[4096], why[512] = "";
	struct octo_htpasswd *h;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/users", dir);
	assert_int_equal(octo_htpasswd_load(path, &h, why, sizeof(why)), OCTO_ERR_CONFIG);
	assert_non_null(strstr(why, path)); /* the path and why: no such file */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(ALICE "\n", f);
	fclose(f);
	assert_int_equal(octo_htpasswd_load(path, &h, why, sizeof(why)), OCTO_OK);
	assert_true(octo_htpasswd_verify(h, "alice", "s3cret!"));
	octo_htpasswd_free(h);
	tu_rmtree(dir);
	free(dir);
}

static void write_file(const char *path, const char *text)
{
	char tmp[4200];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(rename(tmp, path), 0); /* as an editor replaces it */
}

/* The file read again when it changes; a change that does not read keeps the users before. */
static void test_reload(void **state)
{
	char *dir = tu_tempdir(), path[4096], why[512];
	struct octo_users *u;

	(void)state;
	snprintf(path, sizeof(path), "%s/users", dir);
	write_file(path, ALICE "\n");
	assert_int_equal(octo_users_open(path, &u, why, sizeof(why)), OCTO_OK);
	assert_true(octo_users_verify(u, "alice", "s3cret!", why, sizeof(why)));
	assert_false(octo_users_verify(u, "bob", "hunter2", why, sizeof(why)));
	write_file(path, BOB "\n");
	assert_true(octo_users_verify(u, "bob", "hunter2", why, sizeof(why)));
	assert_string_equal(why, "");
	assert_false(octo_users_verify(u, "alice", "s3cret!", why, sizeof(why)));
	write_file(path, BOB "\ncarol:$apr1$nWSLHAKY$KXnPDFKUJnhYcPuHd4rnC/\n");
	assert_true(octo_users_verify(u, "bob", "hunter2", why, sizeof(why)));
	assert_non_null(strstr(why, "line 2: an Apache MD5"));
	assert_non_null(strstr(why, "the users read before are kept"));
	unlink(path);
	assert_true(octo_users_verify(u, "bob", "hunter2", why, sizeof(why)));
	assert_non_null(strstr(why, "No such file"));
	octo_users_free(u);
	tu_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verify),   cmocka_unit_test(test_refused),
		cmocka_unit_test(test_ceilings), cmocka_unit_test(test_load),
		cmocka_unit_test(test_reload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
