/* SPDX-License-Identifier: Apache-2.0 */
/* Journal events read back (event.h): what the journal writes parses to the same fields and
 * records; record keys of each shape, and every key, value and field a peer could send
 * that the store must not take. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"
#include "journal.h"
#include "testutil.h"

#define HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define STORE "0123456789abcdef0123456789abcdef"
#define S(literal) literal, strlen(literal)

static int scan_one(void *ctx, uint64_t seq, const char *line, size_t len)
{
	struct octo_event *ev = ctx;
	const char *why;

	(void)seq;
	assert_int_equal(octo_event_parse(line, len, ev, &why), 0);
	return 1;
}

/* What octo_journal_record writes, read back. */
static void test_journal_round_trip(void **state)
{
	char *dir = tu_tempdir();
	struct octo_journal_change recs[3] = {
		{"_manifests/revisions/sha256/" HEX, "application/vnd.oci.image.manifest.v1+json"},
		{"_manifests/tags/v1.0", "sha256:" HEX},
		{"_layers/sha256/" HEX2, NULL}};
	struct octo_record_stamp stamp;
	struct octo_journal *j;
	struct octo_store *s;
	struct octo_digest d;
	struct octo_event ev;

	(void)state;
	assert_int_equal(octo_store_open(dir, &s), OCTO_OK);
	assert_int_equal(octo_journal_open(s, "node-1", 1 << 20, &j), OCTO_OK);
	assert_int_equal(octo_digest_parse(S("sha256:" HEX), &d), OCTO_OK);
	assert_int_equal(octo_journal_record(j, "manifest.put", "a/b", &d, "v1.0", recs, 3, &stamp),
			 OCTO_OK);
	assert_int_equal(octo_journal_scan(j, 0, scan_one, &ev), OCTO_OK);
	assert_true(ev.seq == 1 && ev.hlc == stamp.hlc && ev.time_ms == stamp.time_ms);
	assert_string_equal(ev.node, "node-1");
	assert_string_equal(ev.store, octo_store_incarnation(s));
	assert_string_equal(ev.type, "manifest.put");
	assert_string_equal(ev.repo, "a/b");
	assert_true(ev.has_digest && octo_digest_equal(&ev.digest, &d));
	assert_string_equal(ev.tag, "v1.0");
	assert_int_equal(ev.n_records, 3);
	assert_int_equal(ev.records[0].parsed.kind, OCTO_RECORD_REVISION);
	assert_true(octo_digest_equal(&ev.records[0].parsed.digest, &d));
	assert_int_equal(ev.records[1].parsed.kind, OCTO_RECORD_TAG);
	assert_string_equal(ev.records[1].parsed.tag, "v1.0");
	assert_string_equal(ev.records[1].value, "sha256:" HEX);
	assert_int_equal(ev.records[2].parsed.kind, OCTO_RECORD_LINK);
	assert_null(ev.records[2].value); /* a tombstone */
	octo_event_cleanup(&ev);
	octo_journal_close(j);
	octo_store_free(s);
	tu_rmtree(dir);
	free(dir);
}

/* Garbage collection's removals are events a peer takes (and may restore from). */
static void test_collect_types(void **state)
{
	static const char *const lines[] = {
		"{\"seq\":1,\"hlc\":5,\"time_ms\":1,\"node\":\"n\",\"store\":\"" STORE
		"\",\"type\":\"blob.collect\",\"repo\":\"a/b\",\"digest\":\"sha256:" HEX
		"\",\"records\":[{\"key\":\"_layers/sha256/" HEX "\",\"tombstone\":true}]}",
		"{\"seq\":2,\"hlc\":6,\"time_ms\":1,\"node\":\"n\",\"store\":\"" STORE
		"\",\"type\":\"manifest.collect\",\"repo\":\"a/b\",\"digest\":\"sha256:" HEX
		"\",\"records\":[{\"key\":\"_manifests/revisions/sha256/" HEX
		"\",\"tombstone\":true}]}",
		"{\"seq\":3,\"hlc\":7,\"time_ms\":1,\"node\":\"n\",\"store\":\"" STORE
		"\",\"type\":\"blob.gone\",\"repo\":\"a/b\",\"records\":[]}"};
	struct octo_event ev;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		assert_int_equal(octo_event_parse(lines[i], strlen(lines[i]), &ev, &why), 0);
		assert_int_equal(ev.n_records, 1);
		assert_null(ev.records[0].value);
		octo_event_cleanup(&ev);
	}
	assert_int_equal(octo_event_parse(lines[2], strlen(lines[2]), &ev, &why), -1);
	assert_string_equal(why, "type");
}

static void test_keys(void **state)
{
	static const char *const bad[] = {
		"_manifests/tags/",
		"_manifests/tags/../../x",
		"_manifests/tags/a/b",
		"_manifests/tags/-x",
		"_manifests/revisions/sha256/" HEX "/x",
		"_manifests/revisions/sha256/ABC",
		"_manifests/revisions/md5/" HEX,
		"_layers/sha256/" HEX "x",
		"_layers/sha256:" HEX,
		"_layers/../sha256/" HEX,
		"_referrers/sha256/" HEX "/sha256:" HEX2,
		"_referrers/sha256/" HEX,
		"_referrers/sha256/" HEX "/sha256-" HEX2 "/x",
		"_tombstones/_layers/sha256/" HEX,
		"../../etc/passwd",
		"",
	};
	struct octo_record_key k;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (octo_record_key_parse(bad[i], strlen(bad[i]), &k) == 0)
			fail_msg("accepted key %s", bad[i]);
	assert_int_equal(octo_record_key_parse(S("_referrers/sha256/" HEX "/sha256-" HEX2), &k), 0);
	assert_int_equal(k.kind, OCTO_RECORD_REFERRER);
	assert_string_equal(k.subject.hex, HEX);
	assert_string_equal(k.digest.hex, HEX2);
	/* values */
	assert_true(octo_record_value_valid(
		&k, S("{\"mediaType\":\"m\",\"digest\":\"sha256:" HEX2 "\",\"size\":3}")));
	assert_false(octo_record_value_valid(/* another manifest's descriptor */
					     &k, S("{\"mediaType\":\"m\",\"digest\":\"sha256:" HEX
						   "\",\"size\":3}")));
	assert_int_equal(octo_record_key_parse(S("_layers/sha256/" HEX), &k), 0);
	assert_true(octo_record_value_valid(&k, "123", 3));
	assert_true(octo_record_value_valid(&k, "0", 1));
	assert_false(octo_record_value_valid(&k, "012", 3));
	assert_false(octo_record_value_valid(&k, "", 0));
	assert_false(octo_record_value_valid(&k, "-1", 2));
	assert_false(octo_record_value_valid(&k, "99999999999999999999", 20));
	assert_int_equal(octo_record_key_parse(S("_manifests/revisions/sha256/" HEX), &k), 0);
	assert_true(octo_record_value_valid(&k, S("application/vnd.oci.image.index.v1+json")));
	assert_false(octo_record_value_valid(&k, "text/html", 9));
	assert_false(octo_record_value_valid(&k, "application/vnd.oci.image.index.v1+json\0x", 41));
	assert_int_equal(octo_record_key_parse(S("_manifests/tags/latest"), &k), 0);
	assert_true(octo_record_value_valid(&k, S("sha256:" HEX)));
	assert_false(octo_record_value_valid(&k, "latest", 6));
}

/* Lines a peer could send: each refused, with the field it got wrong. */
static void test_refused(void **state)
{
#define HEAD "{\"seq\":5,\"hlc\":9,\"time_ms\":1,\"node\":\"n\",\"store\":\"" STORE "\","
	static const struct {
		const char *line, *why;
	} bad[] = {
		{"[]", "not a JSON object"},
		{"{\"seq\":0,\"hlc\":9,\"time_ms\":1}", "seq, hlc or time_ms"},
		{"{\"seq\":-1,\"hlc\":9,\"time_ms\":1}", "seq, hlc or time_ms"},
		{"{\"seq\":5,\"hlc\":9,\"time_ms\":1,\"node\":\"a b\"}", "node"},
		{"{\"seq\":5,\"hlc\":9,\"time_ms\":1,\"node\":\"n\",\"store\":\"x\"}", "store"},
		{HEAD "\"type\":\"rm -rf\",\"repo\":\"r\"}", "type"},
		{HEAD "\"type\":\"blob.put\",\"repo\":\"../r\"}", "repo"},
		{HEAD "\"type\":\"blob.put\",\"repo\":\"r\",\"digest\":\"sha256:x\"}", "digest"},
		{HEAD "\"type\":\"blob.put\",\"repo\":\"r\",\"tag\":\"-t\"}", "tag"},
		{HEAD "\"type\":\"blob.put\",\"repo\":\"r\",\"records\":{}}", "records"},
		{HEAD "\"type\":\"blob.put\",\"repo\":\"r\",\"records\":[{\"key\":\"../x\","
		      "\"value\":\"1\"}]}",
		 "records: key"},
		{HEAD
		 "\"type\":\"blob.put\",\"repo\":\"r\",\"records\":[{\"key\":\"_layers/sha256/" HEX
		 "\",\"value\":\"1\",\"tombstone\":true}]}",
		 "records: a value or a tombstone"},
		{HEAD
		 "\"type\":\"blob.put\",\"repo\":\"r\",\"records\":[{\"key\":\"_layers/sha256/" HEX
		 "\"}]}",
		 "records: a value or a tombstone"},
		{HEAD
		 "\"type\":\"blob.put\",\"repo\":\"r\",\"records\":[{\"key\":\"_layers/sha256/" HEX
		 "\",\"value\":\"x\"}]}",
		 "records: value"},
		{HEAD "\"type\":\"blob.put\",\"repo\":\"r\",\"records\":[1,2,3,4,5]}", "records"},
		{HEAD "\"type\":\"blob.put\",\"repo\":\"r\",\"seq\":6}", "not a JSON object"},
		/* an applied write names a writer whose clock is behind the event's */
		{HEAD "\"type\":\"blob.put\",\"repo\":\"r\",\"origin\":{\"node\":\"o\",\"hlc\":9,"
		      "\"time_ms\":1}}",
		 "origin"},
		{HEAD "\"type\":\"blob.put\",\"repo\":\"r\",\"origin\":{\"node\":\"o o\",\"hlc\":3,"
		      "\"time_ms\":1}}",
		 "origin"},
	};
	struct octo_event ev;
	const char *why;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (octo_event_parse(bad[i].line, strlen(bad[i].line), &ev, &why) == 0)
			fail_msg("accepted %s", bad[i].line);
		if (strcmp(why, bad[i].why) != 0)
			fail_msg("%s: refused for %s, want %s", bad[i].line, why, bad[i].why);
	}
	assert_int_equal(
		octo_event_parse(S(HEAD "\"type\":\"blob.put\",\"repo\":\"r\"}"), &ev, &why),
		0); /* an event from before records */
	assert_int_equal(ev.n_records, 0);
	assert_false(ev.has_origin);
	assert_true(ev.stamp.hlc == 9 && strcmp(ev.stamp.node, "n") == 0);
	octo_event_cleanup(&ev);
	assert_int_equal(octo_event_parse(S(HEAD "\"type\":\"blob.put\",\"repo\":\"r\",\"origin\":"
						 "{\"node\":\"o\",\"hlc\":3,\"time_ms\":2}}"),
					  &ev, &why),
			 0); /* the records carry the writer's stamp */
	assert_true(ev.has_origin && ev.stamp.hlc == 3 && ev.stamp.time_ms == 2);
	assert_string_equal(ev.stamp.node, "o");
	octo_event_cleanup(&ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_journal_round_trip),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_collect_types),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
