/* SPDX-License-Identifier: Apache-2.0 */
/* A peer's changes applied here (apply.h): what node A's registry journals, read back and
 * applied to node B's store, serves the same names on B; a delete applied after the write
 * wins, replays change nothing (nor are they journalled again), a late older write loses, B's clock moves past A's, and
 * manifest bytes that are not the revision's digest are refused with nothing written. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "apply.h"
#include "event.h"
#include "journal.h"
#include "store-blob.h"
#include "store-manifest.h"
#include "store-repo.h"
#include "testutil.h"

struct node_b {
	char *dir;
	struct octo_store *s;
	struct octo_journal *j;
};

struct fixture {
	struct tu_registry a;
	struct octo_store *a_store; /* A's store, opened beside its registry */
	struct octo_journal *a_journal;
	struct node_b b;
	char *lines[64]; /* A's journal, line by line */
	size_t n;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	tu_registry_start(&f->a);
	assert_int_equal(octo_store_open(f->a.dir, &f->a_store), OCTO_OK);
	assert_int_equal(octo_journal_open(f->a_store, "reader", 1 << 20, &f->a_journal), OCTO_OK);
	f->b.dir = tu_tempdir();
	assert_int_equal(octo_store_open(f->b.dir, &f->b.s), OCTO_OK);
	assert_int_equal(octo_journal_open(f->b.s, "node-b", 1 << 20, &f->b.j), OCTO_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	while (f->n > 0)
		free(f->lines[--f->n]);
	octo_journal_close(f->a_journal);
	octo_store_free(f->a_store);
	tu_registry_stop(&f->a);
	octo_journal_close(f->b.j);
	octo_store_free(f->b.s);
	tu_rmtree(f->b.dir);
	free(f->b.dir);
	free(f);
	return 0;
}

static int collect(void *ctx, uint64_t seq, const char *line, size_t len)
{
	struct fixture *f = ctx;

	(void)seq;
	if (f->n < 64)
		f->lines[f->n++] = strndup(line, len);
	return 0;
}

/* A's journal from the start. */
static void read_a(struct fixture *f)
{
	while (f->n > 0)
		free(f->lines[--f->n]);
	assert_int_equal(octo_journal_scan(f->a_journal, 0, collect, f), OCTO_OK);
}

/* Apply A's line i to B, with the manifest bytes from A's store when it writes one. */
static enum octo_err apply_line(struct fixture *f, size_t i)
{
	struct octo_event ev;
	const char *why;
	char *bytes = NULL;
	size_t len = 0, r;
	enum octo_err err;

	assert_int_equal(octo_event_parse(f->lines[i], strlen(f->lines[i]), &ev, &why), 0);
	for (r = 0; r < ev.n_records; r++)
		if (ev.records[r].parsed.kind == OCTO_RECORD_REVISION && ev.records[r].value)
			assert_int_equal(octo_store_read_blob(f->a_store,
							      &ev.records[r].parsed.digest, 1 << 20,
							      &bytes, &len),
					 OCTO_OK);
	err = octo_apply_event(f->b.s, f->b.j, &ev, bytes, len);
	free(bytes);
	octo_event_cleanup(&ev);
	return err;
}

static long find(struct fixture *f, const char *type)
{
	size_t i;
	char want[64];

	snprintf(want, sizeof(want), "\"type\":\"%s\"", type);
	for (i = 0; i < f->n; i++)
		if (strstr(f->lines[i], want) != NULL)
			return (long)i;
	return -1;
}

static void test_replicated_names(void **state)
{
	struct fixture *f = *state;
	struct octo_response resp;
	struct octo_digest d, got;
	char type[128];
	const char *ds = tu_put_tag(&f->a, "app/web", "v1");
	size_t i;
	long put;

	assert_int_equal(octo_digest_parse(ds, strlen(ds), &d), OCTO_OK);
	read_a(f);
	for (i = 0; i < f->n; i++)
		assert_int_equal(apply_line(f, i), OCTO_OK);
	assert_int_equal(octo_store_tag_get(f->b.s, "app/web", "v1", &got), OCTO_OK);
	assert_true(octo_digest_equal(&got, &d));
	assert_int_equal(octo_store_manifest_type(f->b.s, "app/web", &d, type, sizeof(type)),
			 OCTO_OK);
	assert_string_equal(type, "application/vnd.oci.image.manifest.v1+json");
	assert_true(octo_store_repo_holds_manifests(f->b.s, "app/web"));
	put = find(f, "manifest.put");
	assert_true(put >= 0);

	/* the tag deleted on A, applied on B: gone; the old put replayed: still gone */
	tu_request(&f->a, "DELETE", "/v2/app/web/manifests/v1", NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 202);
	octo_response_cleanup(&resp);
	read_a(f);
	assert_int_equal(apply_line(f, (size_t)find(f, "tag.delete")), OCTO_OK);
	assert_int_equal(octo_store_tag_get(f->b.s, "app/web", "v1", &got),
			 OCTO_ERR_MANIFEST_UNKNOWN);
	assert_int_equal(apply_line(f, (size_t)put), OCTO_OK);
	assert_int_equal(octo_store_tag_get(f->b.s, "app/web", "v1", &got),
			 OCTO_ERR_MANIFEST_UNKNOWN);
	/* every event applied twice: the same store */
	for (i = 0; i < f->n; i++)
		assert_int_equal(apply_line(f, i), OCTO_OK);
	assert_int_equal(octo_store_tag_get(f->b.s, "app/web", "v1", &got),
			 OCTO_ERR_MANIFEST_UNKNOWN);
	assert_int_equal(octo_store_manifest_type(f->b.s, "app/web", &d, type, sizeof(type)),
			 OCTO_OK);
}

/* B journals what it applied with its origin, and its own clock is past A's. */
static int last_line(void *ctx, uint64_t seq, const char *line, size_t len)
{
	char **out = ctx;

	(void)seq;
	free(*out);
	*out = strndup(line, len);
	return 0;
}

static void test_origin_and_clock(void **state)
{
	struct fixture *f = *state;
	struct octo_record_stamp mine;
	struct octo_journal_event local = {.type = "blob.put", .repo = "x"};
	struct octo_event a_ev, b_ev;
	const char *why;
	char *line = NULL;

	tu_put_tag(&f->a, "app/api", "v2");
	read_a(f);
	assert_int_equal(apply_line(f, f->n - 1), OCTO_OK);
	assert_int_equal(
		octo_event_parse(f->lines[f->n - 1], strlen(f->lines[f->n - 1]), &a_ev, &why), 0);
	assert_int_equal(octo_journal_scan(f->b.j, 0, last_line, &line), OCTO_OK);
	assert_int_equal(octo_event_parse(line, strlen(line), &b_ev, &why), 0);
	assert_true(b_ev.has_origin);
	assert_string_equal(b_ev.node, "node-b");
	assert_true(b_ev.stamp.hlc == a_ev.hlc && b_ev.hlc > a_ev.hlc);
	assert_string_equal(b_ev.stamp.node, a_ev.node);
	assert_int_equal(octo_journal_append(f->b.j, &local, NULL, &mine), OCTO_OK);
	assert_true(mine.hlc > a_ev.hlc);
	octo_event_cleanup(&a_ev);
	octo_event_cleanup(&b_ev);
	free(line);
}

static int count_line(void *ctx, uint64_t seq, const char *line, size_t len)
{
	(void)seq;
	(void)line;
	(void)len;
	(*(size_t *)ctx)++;
	return 0;
}

/* A write applied again (relayed back by another member) is not journalled again: else it
 * would be relayed again, and two members would pass it back and forth for ever. */
static void test_a_write_held_already_is_not_journalled_again(void **state)
{
	struct fixture *f = *state;
	size_t once = 0, again = 0;
	long put;

	tu_put_tag(&f->a, "app/web", "v1");
	read_a(f);
	put = find(f, "manifest.put");
	assert_int_equal(apply_line(f, (size_t)put), OCTO_OK);
	assert_int_equal(octo_journal_scan(f->b.j, 0, count_line, &once), OCTO_OK);
	assert_int_equal(apply_line(f, (size_t)put), OCTO_OK);
	assert_int_equal(apply_line(f, (size_t)put), OCTO_OK);
	assert_int_equal(octo_journal_scan(f->b.j, 0, count_line, &again), OCTO_OK);
	assert_int_equal(again, once);
}

static void test_manifest_bytes_checked(void **state)
{
	struct fixture *f = *state;
	struct octo_event ev;
	struct octo_digest d;
	const char *why;
	long put;

	tu_put_tag(&f->a, "app/db", "v3");
	read_a(f);
	put = find(f, "manifest.put");
	assert_int_equal(octo_event_parse(f->lines[put], strlen(f->lines[put]), &ev, &why), 0);
	assert_int_equal(octo_apply_event(f->b.s, f->b.j, &ev, "{}", 2), OCTO_ERR_MANIFEST_INVALID);
	assert_int_equal(octo_apply_event(f->b.s, f->b.j, &ev, NULL, 0), OCTO_ERR_MANIFEST_INVALID);
	assert_int_equal(octo_store_tag_get(f->b.s, "app/db", "v3", &d), OCTO_ERR_MANIFEST_UNKNOWN);
	assert_false(octo_store_repo_holds_manifests(f->b.s, "app/db"));
	octo_event_cleanup(&ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replicated_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_origin_and_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manifest_bytes_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_write_held_already_is_not_journalled_again,
						setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
