/* SPDX-License-Identifier: Apache-2.0 */
/* Records in the store (store-record.h): the last-writer-wins rule applied to files, a
 * tombstone in place of a value and back, what a crash between the two steps leaves,
 * files from before records, damaged files, and tombstone expiry. */
#include "autoconfig.h"

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

#include "fsutil.h"
#include "store-record.h"
#include "store.h"
#include "testutil.h"

#define NOW 1764547200000ULL /* 2025-12-01 in ms */
#define KEY "_manifests/tags/v1"

struct fixture {
	char *dir;
	struct octo_store *s;
	char path[4096];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->dir = tu_tempdir();
	assert_int_equal(octo_store_open(f->dir, &f->s), OCTO_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	octo_store_free(f->s);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static const char *file(struct fixture *f, const char *repo, const char *key, int tomb)
{
	snprintf(f->path, sizeof(f->path), "%s/repositories/%s/%s%s", f->dir, repo,
		 tomb ? "_tombstones/" : "", key);
	return f->path;
}

static int exists(struct fixture *f, const char *repo, const char *key, int tomb)
{
	struct stat st;

	return stat(file(f, repo, key, tomb), &st) == 0;
}

static int put(struct fixture *f, const char *repo, uint64_t hlc, const char *node,
	       const char *value, uint64_t time_ms)
{
	struct octo_record r = {.stamp = {.hlc = hlc, .time_ms = time_ms, .node = node},
				.tombstone = value == NULL,
				.value = value,
				.value_len = value != NULL ? strlen(value) : 0};
	int won = -1;

	assert_int_equal(octo_store_record_put(f->s, repo, KEY, &r, &won), OCTO_OK);
	return won;
}

/* The value under KEY ("" when none), and its clock. */
static const char *get(struct fixture *f, const char *repo, uint64_t *hlc)
{
	static char value[256];
	struct octo_store_record sr;
	enum octo_err err = octo_store_record_get(f->s, repo, KEY, 200, OCTO_ERR_NAME_UNKNOWN, &sr);

	value[0] = '\0';
	if (err == OCTO_ERR_NAME_UNKNOWN)
		return value;
	assert_int_equal(err, OCTO_OK);
	snprintf(value, sizeof(value), "%.*s", (int)sr.rec.value_len, sr.rec.value);
	if (hlc != NULL)
		*hlc = sr.rec.stamp.hlc;
	octo_store_record_cleanup(&sr);
	return value;
}

static void test_last_writer_wins_on_disk(void **state)
{
	struct fixture *f = *state;
	uint64_t hlc = 0;

	assert_int_equal(put(f, "r", 10, "a", "one", NOW), 1);
	assert_string_equal(get(f, "r", &hlc), "one");
	assert_int_equal(hlc, 10);
	assert_int_equal(put(f, "r", 5, "z", "older", NOW), 0); /* arrives late: loses */
	assert_int_equal(put(f, "r", 10, "a", "one", NOW), 0);  /* the same write again */
	assert_string_equal(get(f, "r", NULL), "one");
	assert_int_equal(put(f, "r", 10, "b", "tie", NOW), 1); /* equal clocks: the node id */
	assert_string_equal(get(f, "r", NULL), "tie");

	/* a delete: the tombstone replaces the value */
	assert_int_equal(put(f, "r", 12, "a", NULL, NOW), 1);
	assert_string_equal(get(f, "r", NULL), "");
	assert_false(exists(f, "r", KEY, 0));
	assert_true(exists(f, "r", KEY, 1));
	assert_int_equal(put(f, "r", 11, "z", "stale", NOW), 0);   /* older than the delete */
	assert_int_equal(put(f, "r", 12, "z", "same ms", NOW), 0); /* a tie: the tombstone */
	assert_string_equal(get(f, "r", NULL), "");
	assert_false(exists(f, "r", KEY, 0));

	/* a later write undoes it, and the tombstone goes */
	assert_int_equal(put(f, "r", 13, "a", "two", NOW), 1);
	assert_string_equal(get(f, "r", NULL), "two");
	assert_false(exists(f, "r", KEY, 1));
	/* a delete arriving before the write it deletes (another node's) still wins */
	assert_int_equal(put(f, "q", 20, "a", NULL, NOW), 1);
	assert_int_equal(put(f, "q", 19, "b", "late", NOW), 0);
	assert_string_equal(get(f, "q", NULL), "");
}

/* Both files there: a crash between the two steps of a write or of a delete. The reader
 * believes the winner; the next write or the expiry cleans up. */
static void test_crash_leftovers(void **state)
{
	struct fixture *f = *state;
	const char *older = "5 1 v a\nsha256:old", *tomb = "7 1 t a\n", *newer = "9 1 v a\nnew";

	put(f, "c", 1, "a", NULL, NOW); /* the directories and the lock */
	put(f, "c", 2, "a", "first", NOW);
	tu_write_file(file(f, "c", KEY, 0), older, strlen(older));
	tu_write_file(file(f, "c", KEY, 1), tomb, strlen(tomb));
	assert_string_equal(get(f, "c", NULL), ""); /* mid-delete: deleted */
	tu_write_file(file(f, "c", KEY, 0), newer, strlen(newer));
	assert_string_equal(get(f, "c", NULL), "new"); /* mid-write: written */
	assert_int_equal(put(f, "c", 8, "a", "between", NOW), 0);
	assert_int_equal(put(f, "c", 10, "a", "last", NOW), 1);
	assert_false(exists(f, "c", KEY, 1)); /* the leftover tombstone went */
}

/* A file from before records is a value of clock 0: read as it is, beaten by any write. A
 * file that is not a record is an error to read and replaced by a write. */
static void test_legacy_and_damaged(void **state)
{
	struct fixture *f = *state;
	struct octo_store_record sr;
	uint64_t hlc = 99;

	put(f, "l", 1, "a", "made", NOW); /* the directory */
	tu_write_file(file(f, "l", KEY, 0), "sha256:abc\n", 11);
	assert_string_equal(get(f, "l", &hlc), "sha256:abc");
	assert_int_equal(hlc, 0);
	assert_int_equal(put(f, "l", 1, "a", "new", NOW), 1);
	assert_string_equal(get(f, "l", NULL), "new");

	tu_write_file(file(f, "l", KEY, 0), "1 2 x a\n", 8);
	assert_int_equal(octo_store_record_get(f->s, "l", KEY, 200, OCTO_ERR_NAME_UNKNOWN, &sr),
			 OCTO_ERR_IO);
	tu_write_file(file(f, "l", KEY, 0), "1 2 t a\n", 8); /* a tombstone where values live */
	assert_int_equal(octo_store_record_get(f->s, "l", KEY, 200, OCTO_ERR_NAME_UNKNOWN, &sr),
			 OCTO_ERR_IO);
	assert_int_equal(put(f, "l", 2, "a", "repaired", NOW), 1);
	assert_string_equal(get(f, "l", NULL), "repaired");
	/* a value longer than the caller takes is not served cut short */
	assert_int_equal(octo_store_record_get(f->s, "l", KEY, 3, OCTO_ERR_NAME_UNKNOWN, &sr),
			 OCTO_ERR_IO);
}

static void test_tombstone_expiry(void **state)
{
	struct fixture *f = *state;
	const uint64_t hour = 3600 * 1000;
	const char *beaten = "1 1 v a\nsha256:old";
	size_t removed = 99;

	put(f, "old", 1, "a", "made", NOW - 3 * hour); /* the directory */
	put(f, "old", 2, "a", NULL, NOW - 2 * hour);
	put(f, "young", 1, "a", NULL, NOW - hour / 2);
	put(f, "deep/er/name", 1, "a", NULL, NOW - 3 * hour);
	put(f, "future", 1, "a", NULL, NOW + hour); /* a wall clock that stepped back since */
	put(f, "live", 1, "a", "value", NOW - 5 * hour);
	/* a crash mid-delete left the value the expired tombstone beats: both go */
	tu_write_file(file(f, "old", KEY, 0), beaten, strlen(beaten));
	assert_int_equal(octo_store_expire_tombstones(f->s, NOW, hour, &removed), OCTO_OK);
	assert_int_equal(removed, 2);
	assert_false(exists(f, "old", KEY, 1));
	assert_false(exists(f, "old", KEY, 0));
	assert_false(exists(f, "deep/er/name", KEY, 1));
	assert_true(exists(f, "young", KEY, 1));
	assert_true(exists(f, "future", KEY, 1));
	assert_string_equal(get(f, "live", NULL), "value");
	assert_int_equal(octo_store_expire_tombstones(f->s, NOW + 3 * hour / 2, hour, &removed),
			 OCTO_OK);
	assert_int_equal(removed, 1); /* young, now old enough; future is not yet */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_last_writer_wins_on_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_leftovers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_and_damaged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tombstone_expiry, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
