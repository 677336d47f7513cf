/* SPDX-License-Identifier: Apache-2.0 */
/* Summaries for anti-entropy (summary.h): two stores holding the same records, written in
 * any order, summarise alike at every level; one different write shows in the root, in
 * exactly one bucket and in exactly one repository; tombstones near their expiry do not
 * count; the walk lists the linked blobs and the manifests, and reads the winner where a
 * crash left a live file beside a tombstone. */
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

#include "store-record.h"
#include "store.h"
#include "summary.h"
#include "testutil.h"

#define NOW 1764547200000ULL /* 2025-12-01 in ms */
#define HORIZON (3600 * 1000ULL)
#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

struct pair {
	char *dir[2];
	struct octo_store *s[2];
};

static int setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));
	int i;

	for (i = 0; i < 2; i++) {
		p->dir[i] = tu_tempdir();
		assert_int_equal(octo_store_open(p->dir[i], &p->s[i]), OCTO_OK);
	}
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;
	int i;

	for (i = 0; i < 2; i++) {
		octo_store_free(p->s[i]);
		tu_rmtree(p->dir[i]);
		free(p->dir[i]);
	}
	free(p);
	return 0;
}

static void put(struct octo_store *s, const char *repo, const char *key, const char *value,
		uint64_t hlc, uint64_t time_ms, const char *node)
{
	struct octo_record r = {.stamp = {hlc, time_ms, node},
				.tombstone = value == NULL,
				.value = value,
				.value_len = value != NULL ? strlen(value) : 0};

	assert_int_equal(octo_store_record_put(s, repo, key, &r, NULL), OCTO_OK);
}

/* The same writes, in one order on store 0 and the reverse on store 1. */
static void same_records(struct pair *p)
{
	static const struct {
		const char *repo, *key, *value;
		uint64_t hlc;
	} w[] = {
		{"app", "_manifests/tags/v1", "sha256:" HEX_A, 10},
		{"app", "_manifests/tags/v2", "sha256:" HEX_A, 11},
		{"app", "_manifests/revisions/sha256/" HEX_A,
		 "application/vnd.oci.image.manifest.v1+json", 12},
		{"app", "_layers/sha256/" HEX_B, "1234", 13},
		{"lib/base", "_layers/sha256/" HEX_B, "1234", 14},
		{"lib/base", "_manifests/tags/old", NULL, 15},
		{"other", "_layers/sha256/" HEX_A, "99", 16},
	};
	size_t n = sizeof(w) / sizeof(w[0]), i;

	for (i = 0; i < n; i++) {
		put(p->s[0], w[i].repo, w[i].key, w[i].value, w[i].hlc, NOW, "n1");
		put(p->s[1], w[n - 1 - i].repo, w[n - 1 - i].key, w[n - 1 - i].value,
		    w[n - 1 - i].hlc, NOW, "n1");
	}
}

static size_t differing_buckets(const struct octo_summary *a, const struct octo_summary *b,
				unsigned *which)
{
	size_t n = 0, i;

	for (i = 0; i < OCTO_SUMMARY_BUCKETS; i++)
		if (memcmp(a->buckets[i], b->buckets[i], OCTO_SUMMARY_HASH) != 0) {
			*which = (unsigned)i;
			n++;
		}
	return n;
}

static void test_equal_sets_summarise_alike(void **state)
{
	struct pair *p = *state;
	struct octo_summary a, b;
	unsigned which = 0;
	size_t i;

	same_records(p);
	assert_int_equal(octo_summary_build(p->s[0], NOW, HORIZON, &a), OCTO_OK);
	assert_int_equal(octo_summary_build(p->s[1], NOW, HORIZON, &b), OCTO_OK);
	assert_memory_equal(a.root, b.root, OCTO_SUMMARY_HASH);
	assert_int_equal(differing_buckets(&a, &b, &which), 0);
	assert_int_equal(a.n_repos, 3);
	assert_int_equal(b.n_repos, 3);
	for (i = 0; i < a.n_repos; i++) {
		assert_string_equal(a.repos[i].name, b.repos[i].name);
		assert_memory_equal(a.repos[i].hash, b.repos[i].hash, OCTO_SUMMARY_HASH);
	}
	assert_int_equal(a.n_records, 7);
	/* two distinct blobs linked (one of them twice), one manifest */
	assert_int_equal(a.n_linked, 2);
	assert_int_equal(a.n_manifests, 1);
	{
		struct octo_digest da = {OCTO_DIGEST_SHA256, HEX_A},
				   db = {OCTO_DIGEST_SHA256, HEX_B};
		uint64_t size = 0;
		assert_true(octo_summary_is_manifest(&a, &da));
		assert_false(octo_summary_is_manifest(&a, &db));
		assert_true(octo_summary_is_linked(&a, &db, &size));
		assert_int_equal(size, 1234);
		assert_true(octo_summary_is_linked(&a, &da, &size));
		assert_int_equal(size, 99);
	}
	assert_non_null(octo_summary_find(&a, "lib/base"));
	assert_null(octo_summary_find(&a, "nothing"));
	octo_summary_cleanup(&a);
	octo_summary_cleanup(&b);
}

static void test_one_difference_is_found(void **state)
{
	struct pair *p = *state;
	struct octo_summary a, b;
	const struct octo_summary_repo *ra, *rb;
	unsigned which = 0;
	size_t i;

	same_records(p);
	/* a later write of one tag on store 1 only */
	put(p->s[1], "lib/base", "_manifests/tags/old", "sha256:" HEX_B, 20, NOW, "n2");
	assert_int_equal(octo_summary_build(p->s[0], NOW, HORIZON, &a), OCTO_OK);
	assert_int_equal(octo_summary_build(p->s[1], NOW, HORIZON, &b), OCTO_OK);
	assert_memory_not_equal(a.root, b.root, OCTO_SUMMARY_HASH);
	assert_int_equal(differing_buckets(&a, &b, &which), 1);
	assert_int_equal(which, octo_summary_bucket("lib/base"));
	for (i = 0; i < a.n_repos; i++) {
		ra = &a.repos[i];
		rb = octo_summary_find(&b, ra->name);
		assert_non_null(rb);
		if (strcmp(ra->name, "lib/base") == 0)
			assert_memory_not_equal(ra->hash, rb->hash, OCTO_SUMMARY_HASH);
		else
			assert_memory_equal(ra->hash, rb->hash, OCTO_SUMMARY_HASH);
	}
	octo_summary_cleanup(&a);
	octo_summary_cleanup(&b);
	/* the same stamp from another node is another write too */
	put(p->s[0], "lib/base", "_manifests/tags/old", "sha256:" HEX_B, 20, NOW, "n3");
	assert_int_equal(octo_summary_build(p->s[0], NOW, HORIZON, &a), OCTO_OK);
	assert_int_equal(octo_summary_build(p->s[1], NOW, HORIZON, &b), OCTO_OK);
	assert_memory_not_equal(a.root, b.root, OCTO_SUMMARY_HASH);
	octo_summary_cleanup(&a);
	octo_summary_cleanup(&b);
}

static void test_old_tombstones_do_not_count(void **state)
{
	struct pair *p = *state;
	struct octo_summary a, b;

	same_records(p);
	/* store 0 still has a tombstone past the horizon that store 1 has expired */
	put(p->s[0], "app", "_manifests/tags/gone", NULL, 5, NOW - HORIZON, "n1");
	assert_int_equal(octo_summary_build(p->s[0], NOW, HORIZON, &a), OCTO_OK);
	assert_int_equal(octo_summary_build(p->s[1], NOW, HORIZON, &b), OCTO_OK);
	assert_memory_equal(a.root, b.root, OCTO_SUMMARY_HASH);
	octo_summary_cleanup(&a);
	/* a younger one does */
	assert_int_equal(octo_summary_build(p->s[0], NOW - 1, HORIZON, &a), OCTO_OK);
	assert_memory_not_equal(a.root, b.root, OCTO_SUMMARY_HASH);
	octo_summary_cleanup(&a);
	octo_summary_cleanup(&b);
	assert_false(octo_summary_counts(
		&(struct octo_record){.stamp = {1, NOW - HORIZON, "n"}, .tombstone = 1}, NOW,
		HORIZON));
	assert_true(octo_summary_counts(&(struct octo_record){.stamp = {1, 0, "n"}}, NOW, HORIZON));
}

static void test_a_store_with_nothing_is_all_zero(void **state)
{
	struct pair *p = *state;
	static const uint8_t zero[OCTO_SUMMARY_HASH];
	struct octo_summary a;

	assert_int_equal(octo_summary_build(p->s[0], NOW, HORIZON, &a), OCTO_OK);
	assert_memory_equal(a.root, zero, OCTO_SUMMARY_HASH);
	assert_int_equal(a.n_repos, 0);
	assert_int_equal(a.n_linked, 0);
	octo_summary_cleanup(&a);
}

/* The walk and octo_store_record_read: the winner of a live file and a tombstone. */
struct seen {
	size_t n;
	int tombstone;
	uint64_t hlc;
};

static enum octo_err note(void *ctx, const char *key, const struct octo_record *r)
{
	struct seen *s = ctx;

	(void)key;
	s->n++;
	s->tombstone = r->tombstone;
	s->hlc = r->stamp.hlc;
	return OCTO_OK;
}

static void test_the_walk_reads_the_winner(void **state)
{
	struct pair *p = *state;
	struct octo_store_record r;
	struct seen seen = {0};
	char path[4096];
	int dir;

	put(p->s[0], "app", "_manifests/tags/v1", "sha256:" HEX_A, 29, 1, "n1");
	put(p->s[0], "app", "_manifests/tags/v1", NULL, 30, NOW, "n1");
	/* a crash mid-write left an older live file beside the tombstone */
	snprintf(path, sizeof(path), "%s/repositories/app/_manifests/tags/v1", p->dir[0]);
	tu_write_file(path, "29 1 v n1\nsha256:" HEX_A, strlen("29 1 v n1\nsha256:" HEX_A));
	/* and an index file that is no record */
	snprintf(path, sizeof(path), "%s/repositories/app/_manifests/tags.delta", p->dir[0]);
	tu_write_file(path, "+v1\n", 4);
	assert_int_equal(octo_store_record_read(p->s[0], "app", "_manifests/tags/v1", &r), OCTO_OK);
	assert_true(r.rec.tombstone);
	assert_int_equal(r.rec.stamp.hlc, 30);
	assert_string_equal(r.rec.stamp.node, "n1");
	octo_store_record_cleanup(&r);
	assert_int_equal(octo_store_record_read(p->s[0], "app", "_manifests/tags/v9", &r),
			 OCTO_ERR_NAME_UNKNOWN);
	dir = octo_store_opendir(p->s[0], "repositories/app", 0);
	assert_true(dir >= 0);
	assert_int_equal(
		octo_store_record_each(p->s[0], "app", dir, octo_summary_is_key, note, &seen),
		OCTO_OK);
	close(dir);
	assert_int_equal(seen.n, 1);
	assert_true(seen.tombstone);
	assert_int_equal(seen.hlc, 30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_equal_sets_summarise_alike, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_difference_is_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_old_tombstones_do_not_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_store_with_nothing_is_all_zero, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_the_walk_reads_the_winner, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
