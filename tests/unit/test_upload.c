/* SPDX-License-Identifier: Apache-2.0 */
/* Upload sessions: resumable across "processes" (fresh opens), rollback of cut bodies,
 * verification, and cleanup. */
#include "autoconfig.h"

#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "testutil.h"
#include "upload.h"

struct fixture {
	char *dir;
	struct octo_store *store;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->dir = tu_tempdir();
	if (octo_store_open(f->dir, &f->store) != OCTO_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	octo_store_free(f->store);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static enum octo_err append(struct octo_upload *u, const char *data, long long declared,
			    long long fail_after)
{
	struct octo_body body;
	struct tu_body tb;

	tu_body_init(&body, &tb, data, strlen(data), declared);
	tb.fail_after = fail_after;
	return octo_upload_append(u, &body);
}

static struct octo_digest digest_of(const char *s)
{
	struct octo_digest d;

	octo_digest_of(OCTO_DIGEST_SHA256, s, strlen(s), &d);
	return d;
}

static void reopen(struct fixture *f, const char *repo, char *id, struct octo_upload **u)
{
	snprintf(id, OCTO_UPLOAD_ID_LEN + 1, "%s", octo_upload_id(*u));
	octo_upload_close(*u);
	assert_int_equal(octo_upload_open(f->store, repo, id, strlen(id), u), OCTO_OK);
}

static void test_chunks_across_opens(void **state)
{
	struct fixture *f = *state;
	char id[OCTO_UPLOAD_ID_LEN + 1];
	struct octo_upload *u;
	struct octo_digest d = digest_of("hello world");
	uint64_t size;

	assert_int_equal(octo_upload_create(f->store, "r", 1, &u), OCTO_OK);
	assert_int_equal(append(u, "hello", 5, -1), OCTO_OK);
	reopen(f, "r", id, &u);
	assert_int_equal(octo_upload_offset(u), 5);
	assert_int_equal(append(u, " world", -1, -1), OCTO_OK);
	reopen(f, "r", id, &u);
	assert_int_equal(octo_upload_offset(u), 11);
	assert_int_equal(octo_upload_commit(u, &d), OCTO_OK);
	octo_upload_close(u);
	assert_int_equal(octo_store_blob_stat(f->store, &d, &size), OCTO_OK);
	assert_int_equal(size, 11);
	/* the session is gone */
	assert_int_equal(octo_upload_open(f->store, "r", id, strlen(id), &u),
			 OCTO_ERR_BLOB_UPLOAD_UNKNOWN);
}

/* A body that stops early, by error or short of Content-Length, changes nothing. */
static void test_cut_body_rolls_back(void **state)
{
	struct fixture *f = *state;
	char id[OCTO_UPLOAD_ID_LEN + 1];
	struct octo_upload *u;
	struct octo_digest d = digest_of("abcxyz");

	assert_int_equal(octo_upload_create(f->store, "r", 1, &u), OCTO_OK);
	assert_int_equal(append(u, "abc", 3, -1), OCTO_OK);
	assert_int_equal(append(u, "defgh", -1, 2), OCTO_ERR_INCOMPLETE);
	assert_int_equal(octo_upload_offset(u), 3);
	assert_int_equal(append(u, "defgh", 100, -1), OCTO_ERR_INCOMPLETE);
	assert_int_equal(octo_upload_offset(u), 3);
	reopen(f, "r", id, &u);
	assert_int_equal(octo_upload_offset(u), 3);
	assert_int_equal(append(u, "xyz", 3, -1), OCTO_OK);
	assert_int_equal(octo_upload_commit(u, &d), OCTO_OK);
	octo_upload_close(u);
}

/* Bytes written past the saved offset (a crash mid-request) are cut off on open. */
static void test_stray_bytes_cut_on_open(void **state)
{
	struct fixture *f = *state;
	char id[OCTO_UPLOAD_ID_LEN + 1], path[PATH_MAX];
	struct octo_upload *u;
	struct octo_digest d = digest_of("abcdef");
	int fd;

	assert_int_equal(octo_upload_create(f->store, "r", 1, &u), OCTO_OK);
	assert_int_equal(append(u, "abc", 3, -1), OCTO_OK);
	snprintf(id, sizeof(id), "%s", octo_upload_id(u));
	octo_upload_close(u);
	snprintf(path, sizeof(path), "%s/uploads/%s/data", f->dir, id);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(write(fd, "JUNK", 4) == 4);
	close(fd);
	assert_int_equal(octo_upload_open(f->store, "r", id, strlen(id), &u), OCTO_OK);
	assert_int_equal(octo_upload_offset(u), 3);
	assert_int_equal(append(u, "def", 3, -1), OCTO_OK);
	assert_int_equal(octo_upload_commit(u, &d), OCTO_OK);
	octo_upload_close(u);
}

static void test_mismatch_keeps_nothing(void **state)
{
	struct fixture *f = *state;
	char id[OCTO_UPLOAD_ID_LEN + 1], path[PATH_MAX];
	struct octo_upload *u;
	struct octo_digest wrong = digest_of("something else");
	struct stat st;

	assert_int_equal(octo_upload_create(f->store, "r", 1, &u), OCTO_OK);
	snprintf(id, sizeof(id), "%s", octo_upload_id(u));
	assert_int_equal(append(u, "content", 7, -1), OCTO_OK);
	assert_int_equal(octo_upload_commit(u, &wrong), OCTO_ERR_DIGEST_INVALID);
	octo_upload_close(u);
	snprintf(path, sizeof(path), "%s/uploads/%s", f->dir, id);
	assert_int_not_equal(stat(path, &st), 0);
	assert_int_equal(octo_store_blob_stat(f->store, &wrong, NULL), OCTO_ERR_BLOB_UNKNOWN);
}

static void test_sha512_commit(void **state)
{
	struct fixture *f = *state;
	struct octo_upload *u;
	struct octo_digest d;

	octo_digest_of(OCTO_DIGEST_SHA512, "data", 4, &d);
	assert_int_equal(octo_upload_create(f->store, "r", 0, &u), OCTO_OK);
	assert_int_equal(append(u, "data", 4, -1), OCTO_OK);
	assert_int_equal(octo_upload_commit(u, &d), OCTO_OK);
	octo_upload_close(u);
	assert_int_equal(octo_store_blob_stat(f->store, &d, NULL), OCTO_OK);
}

static void test_open_rejects(void **state)
{
	struct fixture *f = *state;
	char id[OCTO_UPLOAD_ID_LEN + 1];
	struct octo_upload *u, *u2;
	static const char *bad_ids[] = {
		"", "../../../etc/passwd", "0000000-0000-0000-0000-0000000000000",
		"00000000-0000-0000-0000-00000000000G", "00000000-0000-0000-0000-000000000000",
	};
	size_t i;

	for (i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++)
		assert_int_equal(octo_upload_open(f->store, "r", bad_ids[i], strlen(bad_ids[i]), &u),
				 OCTO_ERR_BLOB_UPLOAD_UNKNOWN);
	assert_int_equal(octo_upload_create(f->store, "r", 1, &u), OCTO_OK);
	snprintf(id, sizeof(id), "%s", octo_upload_id(u));
	octo_upload_close(u);
	/* a session belongs to the repository that started it */
	assert_int_equal(octo_upload_open(f->store, "other", id, strlen(id), &u2),
			 OCTO_ERR_BLOB_UPLOAD_UNKNOWN);
	assert_int_equal(octo_upload_open(f->store, "r", id, strlen(id), &u), OCTO_OK);
	assert_int_equal(octo_upload_cancel(u), OCTO_OK);
	octo_upload_close(u);
	assert_int_equal(octo_upload_open(f->store, "r", id, strlen(id), &u),
			 OCTO_ERR_BLOB_UPLOAD_UNKNOWN);
}

/* A monolithic session that is closed without a commit leaves nothing behind. */
static void test_monolithic_not_left_behind(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX];
	struct octo_upload *u;
	struct stat st;

	assert_int_equal(octo_upload_create(f->store, "r", 0, &u), OCTO_OK);
	snprintf(path, sizeof(path), "%s/uploads/%s", f->dir, octo_upload_id(u));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(append(u, "abc", 10, -1), OCTO_ERR_INCOMPLETE);
	octo_upload_close(u);
	assert_int_not_equal(stat(path, &st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chunks_across_opens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cut_body_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stray_bytes_cut_on_open, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mismatch_keeps_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sha512_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_monolithic_not_left_behind, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
