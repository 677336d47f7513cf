/* SPDX-License-Identifier: Apache-2.0 */
/* The responder's side of a lazy fetch and the markers it shares with the peer daemon
 * (lazy.h, store-wanted.h): marker names, wanting and unwanting, the unavailable note, a
 * wait that ends in the blob, in its growing copy or in "unavailable", and a follow of the
 * growing copy that holds its last byte back until the blob is committed. The daemon's
 * side is played here by the test (and by tests/peer/test_blobs.py for real). */
#include "autoconfig.h"

#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "lazy.h"
#include "store-blob.h"
#include "store-wanted.h"
#include "testutil.h"

static const char BLOB[] = "the content a peer holds";

struct fixture {
	char *dir;
	struct octo_store *s;
	struct octo_digest d;
	char path[4096];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *ds = tu_sha256(BLOB, sizeof(BLOB) - 1);

	f->dir = tu_tempdir();
	assert_int_equal(octo_store_open(f->dir, &f->s), OCTO_OK);
	assert_int_equal(octo_digest_parse(ds, strlen(ds), &f->d), OCTO_OK);
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

static const char *incoming(struct fixture *f)
{
	char rel[OCTO_STORE_PATH_MAX];

	assert_int_equal(octo_store_incoming_rel(&f->d, rel, sizeof(rel)), OCTO_OK);
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, rel);
	return f->path;
}

static void make_incoming(struct fixture *f, size_t n)
{
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s/peer", f->dir);
	mkdir(dir, 0755);
	snprintf(dir, sizeof(dir), "%s/" OCTO_INCOMING_DIR, f->dir);
	mkdir(dir, 0755);
	tu_write_file(incoming(f), BLOB, n);
}

static void names_round_trip(void **state)
{
	struct fixture *f = *state;
	char name[OCTO_DIGEST_MAX_STRING];
	struct octo_digest back;

	octo_store_wanted_name(&f->d, name, sizeof(name));
	assert_int_equal(strncmp(name, "sha256-", 7), 0);
	assert_int_equal(octo_store_wanted_digest(name, &back), OCTO_OK);
	assert_true(octo_digest_equal(&back, &f->d));
	/* nothing but a marker's own shape names a digest */
	assert_int_equal(octo_store_wanted_digest("sha256-abc", &back), OCTO_ERR_DIGEST_INVALID);
	assert_int_equal(octo_store_wanted_digest("nodash", &back), OCTO_ERR_DIGEST_INVALID);
	name[6] = ':';
	assert_int_equal(octo_store_wanted_digest(name, &back), OCTO_ERR_DIGEST_INVALID);
}

static void want_list_unwant(void **state)
{
	struct fixture *f = *state;
	struct octo_strv list = {0};
	char source[64], name[OCTO_DIGEST_MAX_STRING];
	struct timespec when;

	assert_int_equal(octo_store_wanted_list(f->s, &list), OCTO_OK);
	assert_int_equal(list.n, 0);
	assert_int_equal(octo_store_want_blob(f->s, &f->d, "node-a"), OCTO_OK);
	/* a second want keeps the first: the marker is there */
	assert_int_equal(octo_store_want_blob(f->s, &f->d, "node-b"), OCTO_OK);
	assert_int_equal(octo_store_wanted_source(f->s, &f->d, source, sizeof(source)), OCTO_OK);
	assert_string_equal(source, "node-a");
	assert_int_equal(octo_store_wanted_list(f->s, &list), OCTO_OK);
	assert_int_equal(list.n, 1);
	octo_store_wanted_name(&f->d, name, sizeof(name));
	assert_string_equal(list.v[0], name);
	octo_strv_cleanup(&list);
	assert_int_equal(octo_store_unavailable_since(f->s, &f->d, &when), OCTO_ERR_NAME_UNKNOWN);
	assert_int_equal(octo_store_note_unavailable(f->s, &f->d), OCTO_OK);
	assert_int_equal(octo_store_unavailable_since(f->s, &f->d, &when), OCTO_OK);
	assert_true(when.tv_sec > 0);
	/* done: the marker and the note go */
	assert_int_equal(octo_store_unwant_blob(f->s, &f->d), OCTO_OK);
	assert_int_equal(octo_store_wanted_source(f->s, &f->d, source, sizeof(source)),
			 OCTO_ERR_NAME_UNKNOWN);
	assert_int_equal(octo_store_unavailable_since(f->s, &f->d, &when), OCTO_ERR_NAME_UNKNOWN);
	assert_int_equal(octo_store_wanted_list(f->s, &list), OCTO_OK);
	assert_int_equal(list.n, 0);
	assert_int_equal(octo_store_unwant_blob(f->s, &f->d), OCTO_OK); /* absent: fine */
}

static void link_without_content(void **state)
{
	struct fixture *f = *state;
	struct octo_record_stamp stamp = {
		.hlc = octo_hlc_make(1000, 0), .time_ms = 1000, .node = "node-a"};
	char node[OCTO_NODE_ID_MAX + 1];
	uint64_t size = 0;

	assert_int_equal(octo_store_link_get(f->s, "lib/x", &f->d, &size, node),
			 OCTO_ERR_BLOB_UNKNOWN);
	assert_int_equal(octo_store_link_blob(f->s, "lib/x", &f->d, sizeof(BLOB) - 1, &stamp),
			 OCTO_OK);
	assert_int_equal(octo_store_link_get(f->s, "lib/x", &f->d, &size, node), OCTO_OK);
	assert_int_equal(size, sizeof(BLOB) - 1);
	assert_string_equal(node, "node-a");
	/* linked, not held: what a local read says */
	assert_int_equal(octo_store_blob_linked(f->s, "lib/x", &f->d, NULL), OCTO_ERR_BLOB_UNKNOWN);
}

static void wait_times_out_with_the_marker_left(void **state)
{
	struct fixture *f = *state;
	char source[64];
	int fd, growing;

	assert_int_equal(octo_lazy_wait(f->s, &f->d, "node-a", 50, &fd, &growing),
			 OCTO_ERR_BLOB_UNAVAILABLE);
	assert_int_equal(fd, -1);
	/* the daemon's work is waiting for it */
	assert_int_equal(octo_store_wanted_source(f->s, &f->d, source, sizeof(source)), OCTO_OK);
	assert_string_equal(source, "node-a");
}

static void wait_finds_the_committed_blob(void **state)
{
	struct fixture *f = *state;
	int fd, growing;

	assert_int_equal(octo_store_put_blob_bytes(f->s, BLOB, sizeof(BLOB) - 1, &f->d), OCTO_OK);
	assert_int_equal(octo_lazy_wait(f->s, &f->d, "", 1000, &fd, &growing), OCTO_OK);
	assert_true(fd >= 0);
	assert_int_equal(growing, 0);
	close(fd);
}

/* The daemon's part, after a moment: note the blob unavailable, or write more of it. */
struct later {
	struct fixture *f;
	int what; /* 0: note unavailable; 1: the copy grows */
};

static void *act_later(void *arg)
{
	struct later *l = arg;
	struct timespec ts = {0, 50 * 1000000L};

	nanosleep(&ts, NULL);
	if (l->what == 0)
		octo_store_note_unavailable(l->f->s, &l->f->d);
	else
		tu_write_file(incoming(l->f), BLOB, 12);
	return NULL;
}

static void wait_ends_at_a_new_unavailable_note(void **state)
{
	struct fixture *f = *state;
	struct later l = {f, 0};
	uint64_t t0 = octo_clock_monotonic_ms();
	pthread_t t;
	int fd, growing;

	/* a note from an earlier attempt does not end the wait: the wait removes it */
	assert_int_equal(octo_store_note_unavailable(f->s, &f->d), OCTO_OK);
	pthread_create(&t, NULL, act_later, &l);
	assert_int_equal(octo_lazy_wait(f->s, &f->d, "", 10000, &fd, &growing),
			 OCTO_ERR_BLOB_UNAVAILABLE);
	pthread_join(t, NULL);
	assert_true(octo_clock_monotonic_ms() - t0 >= 50);
	assert_true(octo_clock_monotonic_ms() - t0 < 5000);
}

static void wait_takes_a_copy_only_once_it_grows(void **state)
{
	struct fixture *f = *state;
	struct later l = {f, 1};
	pthread_t t;
	int fd, growing;

	make_incoming(f, 4); /* left by a fetch that broke off: no sign of one running */
	assert_int_equal(octo_lazy_wait(f->s, &f->d, "", 30, &fd, &growing),
			 OCTO_ERR_BLOB_UNAVAILABLE);
	pthread_create(&t, NULL, act_later, &l);
	assert_int_equal(octo_lazy_wait(f->s, &f->d, "", 10000, &fd, &growing), OCTO_OK);
	pthread_join(t, NULL);
	assert_int_equal(growing, 1);
	close(fd);
}

static void follow_holds_the_last_byte_until_commit(void **state)
{
	struct fixture *f = *state;
	size_t n = sizeof(BLOB) - 1;
	struct octo_lazy_follow *fl;
	uint64_t ready = 0;
	int fd;

	make_incoming(f, 5);
	fd = open(incoming(f), O_RDONLY);
	assert_true(fd >= 0);
	fl = octo_lazy_follow_new(f->s, &f->d, fd, n, 50);
	assert_non_null(fl);
	assert_int_equal(octo_lazy_follow(fl, 0, &ready), 0);
	assert_int_equal(ready, 5);
	/* all the bytes there, not yet verified and committed: all but the last */
	tu_write_file(incoming(f), BLOB, n);
	assert_int_equal(octo_lazy_follow(fl, 5, &ready), 0);
	assert_int_equal(ready, n - 1);
	assert_int_equal(octo_lazy_follow(fl, n - 1, &ready), -1); /* idle, never committed */
	assert_int_equal(octo_store_put_blob_bytes(f->s, BLOB, n, &f->d), OCTO_OK);
	assert_int_equal(octo_lazy_follow(fl, n - 1, &ready), 0);
	assert_int_equal(ready, n);
	/* a copy started again from nothing (bad bytes from a source) ends the response */
	tu_write_file(incoming(f), BLOB, 2);
	assert_int_equal(octo_lazy_follow(fl, 5, &ready), -1);
	octo_lazy_follow_free(fl);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(names_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(want_list_unwant, setup, teardown),
		cmocka_unit_test_setup_teardown(link_without_content, setup, teardown),
		cmocka_unit_test_setup_teardown(wait_times_out_with_the_marker_left, setup,
						teardown),
		cmocka_unit_test_setup_teardown(wait_finds_the_committed_blob, setup, teardown),
		cmocka_unit_test_setup_teardown(wait_ends_at_a_new_unavailable_note, setup,
						teardown),
		cmocka_unit_test_setup_teardown(wait_takes_a_copy_only_once_it_grows, setup,
						teardown),
		cmocka_unit_test_setup_teardown(follow_holds_the_last_byte_until_commit, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
