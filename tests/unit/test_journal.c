/* SPDX-License-Identifier: Apache-2.0 */
/* The change journal: sequence numbers and clocks across processes, torn tails, group
 * commit, the node and the store in every event. */
#include "autoconfig.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "clock.h"
#include "fsutil.h"
#include "journal.h"
#include "store.h"
#include "testutil.h"

static const struct octo_journal_event ev = {
	.type = "blob.put", .repo = "a/b", .digest = "sha256:00"};

/* A journal in a fresh store holding one event; its path in path. */
static void start(const char *dir, struct octo_store **s, struct octo_journal **j, char *path,
		  size_t size)
{
	assert_int_equal(octo_store_open(dir, s), OCTO_OK);
	assert_int_equal(octo_journal_open(*s, "node-a", 1 << 26, j), OCTO_OK);
	assert_int_equal(octo_journal_append(*j, &ev, NULL, NULL), OCTO_OK);
	assert_int_equal(octo_journal_path(*s, path, size), OCTO_OK);
}

/* The end of every test: the journal, the store and its directory go. */
static void finish(char *dir, struct octo_store *s, struct octo_journal *j)
{
	octo_journal_close(j);
	octo_store_free(s);
	tu_rmtree(dir);
	free(dir);
}

static void test_sequence_increments(void **state)
{
	char *dir = tu_tempdir();
	struct octo_journal *j;
	struct octo_store *s;
	uint64_t seq = 0;
	int i;

	(void)state;
	assert_int_equal(octo_store_open(dir, &s), OCTO_OK);
	assert_int_equal(octo_journal_open(s, "node-a", 1 << 26, &j), OCTO_OK);
	for (i = 1; i <= 5; i++) {
		assert_int_equal(octo_journal_append(j, &ev, &seq, NULL), OCTO_OK);
		assert_int_equal(seq, (uint64_t)i);
	}
	finish(dir, s, j);
}

/* A line cut short by a crash was never acknowledged: it is dropped, numbering goes on. */
static void test_torn_tail_is_cut(void **state)
{
	char *dir = tu_tempdir();
	char path[4200], buf[4096];
	struct octo_journal *j;
	struct octo_store *s;
	uint64_t seq;
	FILE *f;
	size_t n;

	(void)state;
	start(dir, &s, &j, path, sizeof(path));
	f = fopen(path, "a");
	fputs("{\"seq\":2,\"type\":\"blo", f);
	fclose(f);
	assert_int_equal(octo_journal_append(j, &ev, &seq, NULL), OCTO_OK);
	assert_int_equal(seq, 2);
	f = fopen(path, "r");
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_null(strstr(buf, "\"blo\n"));
	assert_non_null(strstr(buf, "{\"seq\":2,"));
	finish(dir, s, j);
}

/* procs processes append each events at once, each through its own journal handle. */
static void append_from(struct octo_store *s, int procs, int each, uint64_t segment_size)
{
	int p, status;

	for (p = 0; p < procs; p++) {
		if (fork() == 0) {
			struct octo_journal *j;
			int i;
			if (octo_journal_open(s, "node-a", segment_size, &j) != OCTO_OK)
				_exit(1);
			for (i = 0; i < each; i++)
				if (octo_journal_append(j, &ev, NULL, NULL) != OCTO_OK)
					_exit(1);
			_exit(0);
		}
	}
	for (p = 0; p < procs; p++) {
		wait(&status);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
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
	uint64_t expect = 1, last_hlc = 0;
	FILE *f;

	(void)state;
	assert_int_equal(octo_store_open(dir, &s), OCTO_OK);
	append_from(s, PROCS, EACH, 1 << 26);
	assert_int_equal(octo_journal_path(s, path, sizeof(path)), OCTO_OK);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		json_error_t jerr;
		json_t *o = json_loads(line, 0, &jerr);
		assert_non_null(o);
		assert_int_equal(json_integer_value(json_object_get(o, "seq")), expect);
		assert_string_equal(json_string_value(json_object_get(o, "repo")), "a/b");
		/* one clock for every process: strictly increasing in journal order */
		assert_true((uint64_t)json_integer_value(json_object_get(o, "hlc")) > last_hlc);
		last_hlc = (uint64_t)json_integer_value(json_object_get(o, "hlc"));
		json_decref(o);
		expect++;
	}
	fclose(f);
	assert_int_equal(expect, PROCS * EACH + 1);
	finish(dir, s, NULL);
}

static int syncs;

static void count_sync(void *ctx, long long us)
{
	(void)ctx;
	(void)us;
	syncs++;
}

static size_t journal_lines(const char *path)
{
	char line[2048];
	size_t n = 0;
	FILE *f = fopen(path, "r");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		n++;
	if (f != NULL)
		fclose(f);
	return n;
}

/* Group commit: four processes append while a sync is under way (the test holds the sync
 * lock, byte 1 of the file); once it is let go, one fdatasync covers all four lines and
 * the other three return without one. Every append returns only after that sync. */
static void test_group_commit(void **state)
{
	enum {
		PROCS = 4
	};
	char *dir = tu_tempdir();
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 1, .l_len = 1};
	struct octo_journal *j;
	struct octo_store *s;
	char path[4200];
	int p, status, fd, total = 0;

	(void)state;
	start(dir, &s, &j, path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_OFD_SETLK, &fl), 0);
	for (p = 0; p < PROCS; p++) {
		if (fork() == 0) {
			struct octo_journal *cj;
			syncs = 0;
			octo_fs_observe_syncs(count_sync, NULL);
			if (octo_journal_open(s, "node-a", 1 << 26, &cj) != OCTO_OK ||
			    octo_journal_append(cj, &ev, NULL, NULL) != OCTO_OK)
				_exit(99);
			_exit(syncs);
		}
	}
	while (journal_lines(path) < 1 + PROCS) /* all four written, waiting for the sync */
		usleep(1000);
	usleep(50000);
	for (p = 0; p < PROCS; p++) /* none returned: their lines are not known durable */
		assert_int_equal(waitpid(-1, &status, WNOHANG), 0);
	fl.l_type = F_UNLCK;
	assert_int_equal(fcntl(fd, F_OFD_SETLK, &fl), 0);
	for (p = 0; p < PROCS; p++) {
		wait(&status);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 99);
		total += WEXITSTATUS(status);
	}
	assert_int_equal(total, 1);
	close(fd);
	finish(dir, s, j);
}

/* A torn tail was cut after a sync covered it: the commit record may not claim the new line
 * that takes its place was synced (it is shorter than what it replaced). */
static void test_cut_tail_is_not_synced(void **state)
{
	char *dir = tu_tempdir();
	char path[4200], commit[4200], torn[1024];
	struct octo_journal *j;
	struct octo_store *s;
	struct stat st;
	uint64_t size;
	FILE *f;
	int fd;

	(void)state;
	start(dir, &s, &j, path, sizeof(path));
	memset(torn, 'x', sizeof(torn));
	memcpy(torn, "{\"seq\":2,", 9);
	f = fopen(path, "a");
	fwrite(torn, 1, sizeof(torn), f);
	fclose(f);
	/* as if a sync had run with the torn line there: synced = the whole file */
	assert_int_equal(stat(path, &st), 0);
	size = (uint64_t)st.st_size;
	snprintf(commit, sizeof(commit), "%s/journal/commit", dir);
	fd = open(commit, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &size, 8, 24), 8); /* the synced offset */
	close(fd);
	syncs = 0;
	octo_fs_observe_syncs(count_sync, NULL);
	assert_int_equal(octo_journal_append(j, &ev, NULL, NULL), OCTO_OK);
	octo_fs_unobserve_syncs(NULL);
	assert_int_equal(syncs, 1);
	assert_int_equal(stat(path, &st), 0);
	assert_true((uint64_t)st.st_size < size);
	finish(dir, s, j);
}

/* The strict reader of a line's head (sscanf took "-5" and overflowed). */
static void test_parse_head_table(void **state)
{
	static const struct {
		const char *line;
		int want;
		uint64_t seq, hlc;
	} cases[] = {
		{"{\"seq\":12,\"time_ms\":1}", 0, 12, 0}, /* from before clocks */
		{"{\"seq\":1,", 0, 1, 0},
		{"{\"seq\":3,\"hlc\":115672370380800000,\"time_ms\":1}", 0, 3, 115672370380800000},
		{"{\"seq\":3,\"hlc\":18446744073709551615,", 0, 3, UINT64_MAX},
		{"{\"seq\":3,\"hlc\":18446744073709551616,", -1, 0, 0},
		{"{\"seq\":3,\"hlc\":-1,", -1, 0, 0},
		{"{\"seq\":3,\"hlc\":01,", -1, 0, 0},
		{"{\"seq\":3,\"hlc\":1}", -1, 0, 0},
		{"{\"seq\":3,\"hlc\":", -1, 0, 0},
		{"{\"seq\":18446744073709551615,", 0, UINT64_MAX, 0},
		{"{\"seq\":18446744073709551616,", -1, 0, 0},
		{"{\"seq\":99999999999999999999999,", -1, 0, 0},
		{"{\"seq\":-5,", -1, 0, 0},
		{"{\"seq\":+5,", -1, 0, 0},
		{"{\"seq\":012,", -1, 0, 0},
		{"{\"seq\": 5,", -1, 0, 0},
		{"{\"seq\":5}", -1, 0, 0},
		{"{\"seq\":5", -1, 0, 0},
		{"{\"seq\":,", -1, 0, 0},
		{"{\"seq\":", -1, 0, 0},
		{"{\"type\":\"x\",\"seq\":5,", -1, 0, 0},
		{"", -1, 0, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t seq = 77, hlc = 77;
		int got = octo_journal_parse_head(cases[i].line, strlen(cases[i].line), &seq, &hlc);
		if (got != cases[i].want)
			fail_msg("%s: %d, want %d", cases[i].line, got, cases[i].want);
		if (got == 0) {
			assert_int_equal(seq, cases[i].seq);
			assert_int_equal(hlc, cases[i].hlc);
		}
	}
}

/* Every event names the node and the store's incarnation, which stays with the store and
 * is another for a store made again; a journal from before clocks goes on with them. */
static void test_node_store_and_clock(void **state)
{
	char *dir = tu_tempdir();
	char path[4200], id[OCTO_STORE_ID_LEN + 1], line[2048];
	struct octo_journal *j;
	struct octo_store *s;
	struct octo_journal_change rec[2] = {{"_manifests/tags/a", "sha256:x"},
					     {"_layers/sha256/y", NULL}};
	struct octo_journal_event recorded = {
		.type = "manifest.put", .repo = "r", .records = rec, .n_records = 2};
	struct octo_record_stamp st;
	uint64_t seq, hlc;
	json_t *o, *a;
	FILE *f;

	(void)state;
	assert_int_equal(octo_store_open(dir, &s), OCTO_OK);
	snprintf(id, sizeof(id), "%s", octo_store_incarnation(s));
	assert_int_equal(strlen(id), OCTO_STORE_ID_LEN);
	assert_int_equal(octo_journal_path(s, path, sizeof(path)), OCTO_OK);
	f = fopen(path, "w");
	fputs("{\"seq\":41,\"time_ms\":1,\"type\":\"blob.put\",\"repo\":\"old\"}\n", f);
	fclose(f);
	octo_store_free(s);
	assert_int_equal(octo_store_open(dir, &s), OCTO_OK);
	assert_string_equal(octo_store_incarnation(s), id); /* kept */
	assert_int_equal(octo_journal_open(s, "node-a", 1 << 26, &j), OCTO_OK);
	assert_int_equal(octo_journal_append(j, &recorded, &seq, &st), OCTO_OK);
	hlc = st.hlc;
	assert_int_equal(seq, 42);
	assert_string_equal(st.node, "node-a");
	assert_true(octo_hlc_ms(hlc) + 60000 > octo_clock_wall_ms());
	f = fopen(path, "r");
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	o = json_loads(line, 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "hlc")), (json_int_t)hlc);
	assert_string_equal(json_string_value(json_object_get(o, "node")), "node-a");
	assert_string_equal(json_string_value(json_object_get(o, "store")), id);
	assert_int_equal(json_integer_value(json_object_get(o, "time_ms")), (json_int_t)st.time_ms);
	/* the records it wrote, a value and a tombstone */
	a = json_object_get(o, "records");
	assert_int_equal(json_array_size(a), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "key")),
			    "_manifests/tags/a");
	assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "value")),
			    "sha256:x");
	assert_true(json_is_true(json_object_get(json_array_get(a, 1), "tombstone")));
	assert_null(json_object_get(json_array_get(a, 1), "value"));
	json_decref(o);
	finish(dir, s, j);

	dir = tu_tempdir(); /* a store made again: another incarnation */
	assert_int_equal(octo_store_open(dir, &s), OCTO_OK);
	assert_string_not_equal(octo_store_incarnation(s), id);
	octo_store_free(s);
	tu_rmtree(dir);
	free(dir);
}

struct scanned {
	uint64_t first, last, n, hlc;
	int ordered; /* every seq one past the last, every clock higher */
	uint64_t stop_at;
};

static int collect(void *ctx, uint64_t seq, const char *line, size_t len)
{
	struct scanned *sc = ctx;
	uint64_t s2, hlc;

	if (octo_journal_parse_head(line, len, &s2, &hlc) != 0 || s2 != seq ||
	    (sc->n > 0 && (seq != sc->last + 1 || hlc <= sc->hlc)))
		sc->ordered = 0;
	if (sc->n++ == 0)
		sc->first = seq;
	sc->last = seq;
	sc->hlc = hlc;
	return sc->stop_at != 0 && seq == sc->stop_at;
}

static struct scanned scan(struct octo_journal *j, uint64_t after, enum octo_err want)
{
	struct scanned sc = {.ordered = 1};

	assert_int_equal(octo_journal_scan(j, after, collect, &sc), want);
	return sc;
}

static size_t segments(const char *dir)
{
	char cmd[4300];
	FILE *p;
	size_t n = 0;
	int c;

	snprintf(cmd, sizeof(cmd), "ls %s/journal | grep -c '^events\\.[0-9]\\{20\\}$'", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((c = fgetc(p)) >= '0' && c <= '9')
		n = n * 10 + (size_t)(c - '0');
	pclose(p);
	return n;
}

/* Small segments: the journal is sealed into many; a scan reads every event in order
 * across them; segments go once every cursor is past them (all but the newest sealed one
 * without a cursor); a reader behind a trimmed segment is told so. */
static void test_segments_and_cursors(void **state)
{
	char *dir = tu_tempdir();
	struct octo_journal *j;
	struct octo_store *s;
	struct scanned sc;
	uint64_t at;
	size_t removed;
	int i;

	(void)state;
	assert_int_equal(octo_store_open(dir, &s), OCTO_OK);
	assert_int_equal(octo_journal_open(s, "node-a", 4096, &j), OCTO_OK);
	assert_int_equal(octo_journal_cursor_set(j, "gc", 0), OCTO_OK);
	assert_int_equal(octo_journal_cursor_set(j, "Bad/Name", 0), OCTO_ERR_NAME_INVALID);
	assert_int_equal(octo_journal_cursor_get(j, "nobody", &at), OCTO_ERR_NAME_UNKNOWN);
	for (i = 0; i < 200; i++)
		assert_int_equal(octo_journal_append(j, &ev, NULL, NULL), OCTO_OK);
	assert_true(segments(dir) >= 8);
	sc = scan(j, 0, OCTO_OK);
	assert_true(sc.ordered);
	assert_int_equal(sc.first, 1);
	assert_int_equal(sc.last, 200);
	assert_int_equal(sc.n, 200);
	sc = (struct scanned){.ordered = 1, .stop_at = 120}; /* fn can stop the scan */
	assert_int_equal(octo_journal_scan(j, 100, collect, &sc), OCTO_OK);
	assert_int_equal(sc.n, 20);

	/* the consumer moves on: what it has passed goes, the rest stays */
	assert_int_equal(octo_journal_cursor_set(j, "gc", 150), OCTO_OK);
	assert_int_equal(octo_journal_cursor_get(j, "gc", &at), OCTO_OK);
	assert_int_equal(at, 150);
	assert_int_equal(octo_journal_trim(j, &removed), OCTO_OK);
	assert_true(removed > 0);
	sc = scan(j, 150, OCTO_OK);
	assert_true(sc.ordered && sc.first == 151 && sc.last == 200);
	scan(j, 0, OCTO_ERR_IO); /* the start is gone */

	/* no consumer: every sealed segment but the newest goes at the next seal */
	assert_int_equal(octo_journal_cursor_drop(j, "gc"), OCTO_OK);
	assert_int_equal(octo_journal_cursor_drop(j, "gc"), OCTO_ERR_NAME_UNKNOWN);
	for (i = 0; i < 50; i++)
		assert_int_equal(octo_journal_append(j, &ev, NULL, NULL), OCTO_OK);
	assert_int_equal(segments(dir), 1);
	finish(dir, s, j);
}

/* Four processes append at once into small segments: every number once, in order, across
 * them (the appenders that waited on a file sealed meanwhile go on in the new one). */
static void test_concurrent_seals(void **state)
{
	enum {
		PROCS = 4,
		EACH = 100
	};
	char *dir = tu_tempdir();
	struct octo_journal *j;
	struct octo_store *s;
	struct scanned sc;

	(void)state;
	assert_int_equal(octo_store_open(dir, &s), OCTO_OK);
	assert_int_equal(octo_journal_open(s, "node-a", 4096, &j), OCTO_OK);
	assert_int_equal(octo_journal_cursor_set(j, "keep", 0), OCTO_OK);
	append_from(s, PROCS, EACH, 4096);
	sc = scan(j, 0, OCTO_OK);
	assert_true(sc.ordered);
	assert_int_equal(sc.n, PROCS * EACH);
	assert_int_equal(sc.last, PROCS * EACH);
	finish(dir, s, j);
}

/* A crash right after a seal leaves no current file: numbering and the clock go on from
 * the newest sealed segment. */
static void test_numbering_after_a_seal(void **state)
{
	char *dir = tu_tempdir();
	char path[4200], sealed[4300];
	struct octo_journal *j;
	struct octo_store *s;
	struct octo_record_stamp st, st2;
	uint64_t seq, last;

	(void)state;
	start(dir, &s, &j, path, sizeof(path));
	assert_int_equal(octo_journal_append(j, &ev, &seq, &st), OCTO_OK);
	assert_int_equal(seq, 2);
	assert_int_equal(octo_journal_last(j, &last), OCTO_OK);
	assert_int_equal(last, 2);
	snprintf(sealed, sizeof(sealed), "%s.%020d", path, 1);
	assert_int_equal(rename(path, sealed), 0);
	assert_int_equal(octo_journal_last(j, &last), OCTO_OK); /* from the sealed segment */
	assert_int_equal(last, 2);
	assert_int_equal(octo_journal_append(j, &ev, &seq, &st2), OCTO_OK);
	assert_int_equal(octo_journal_last(j, &last), OCTO_OK);
	assert_int_equal(last, 3);
	assert_int_equal(seq, 3);
	assert_true(st2.hlc > st.hlc);
	finish(dir, s, j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequence_increments),
		cmocka_unit_test(test_torn_tail_is_cut),
		cmocka_unit_test(test_concurrent_processes),
		cmocka_unit_test(test_group_commit),
		cmocka_unit_test(test_cut_tail_is_not_synced),
		cmocka_unit_test(test_parse_head_table),
		cmocka_unit_test(test_node_store_and_clock),
		cmocka_unit_test(test_segments_and_cursors),
		cmocka_unit_test(test_concurrent_seals),
		cmocka_unit_test(test_numbering_after_a_seal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
