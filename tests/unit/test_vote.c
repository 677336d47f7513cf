/* SPDX-License-Identifier: Apache-2.0 */
/* Strong consistency's voter (vote.h) and the responder's handoff (strong.h): a voter
 * promises only above its promise, accepts only in its open slot and not below the promise,
 * keeps all of it across a reopen of the store, moves the slot when it learns and writes
 * the decided record (a tombstone too), refuses a damaged state rather than voting from
 * nothing; a request written by the responder reads back the same, its answer reaches the
 * waiter, and a waiter that gives up removes its request. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "journal.h"
#include "store-manifest.h"
#include "store.h"
#include "strong.h"
#include "testutil.h"
#include "vote.h"

#define DIGEST_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DIGEST_B "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

struct fixture {
	char *dir;
	struct octo_store *s;
	struct octo_journal *j;
};

static void open_store(struct fixture *f)
{
	assert_int_equal(octo_store_open(f->dir, &f->s), OCTO_OK);
	assert_int_equal(octo_journal_open(f->s, "voter", 1 << 20, &f->j), OCTO_OK);
}

static void close_store(struct fixture *f)
{
	octo_journal_close(f->j);
	octo_store_free(f->s);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	f->dir = tu_tempdir();
	open_store(f);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close_store(f);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static struct octo_vote_ballot ballot(uint64_t hlc, const char *node)
{
	struct octo_vote_ballot b = {.hlc = hlc};

	snprintf(b.node, sizeof(b.node), "%s", node);
	return b;
}

static struct octo_vote_write write_of(uint64_t hlc, const char *node, const char *digest)
{
	struct octo_vote_write w = {.hlc = hlc, .time_ms = 1000, .tombstone = digest == NULL};

	snprintf(w.node, sizeof(w.node), "%s", node);
	snprintf(w.digest, sizeof(w.digest), "%s", digest != NULL ? digest : "");
	return w;
}

static void test_promises_only_grow(void **state)
{
	struct fixture *f = *state;
	struct octo_vote_ballot b5 = ballot(5, "n1"), b7 = ballot(7, "n1"), b7b = ballot(7, "n2");
	struct octo_vote_state st;
	int ok;

	assert_int_equal(octo_vote_prepare(f->s, "app", "v1", &b5, &ok, &st), OCTO_OK);
	assert_true(ok);
	assert_int_equal(st.slot, 0);
	assert_false(st.has_accepted);
	assert_int_equal(octo_vote_prepare(f->s, "app", "v1", &b7, &ok, &st), OCTO_OK);
	assert_true(ok);
	/* the same ballot again, a lower one: no promise; a higher node at the same tick: yes */
	assert_int_equal(octo_vote_prepare(f->s, "app", "v1", &b7, &ok, &st), OCTO_OK);
	assert_false(ok);
	assert_int_equal(octo_vote_prepare(f->s, "app", "v1", &b5, &ok, &st), OCTO_OK);
	assert_false(ok);
	assert_int_equal(st.promised.hlc, 7);
	assert_int_equal(octo_vote_prepare(f->s, "app", "v1", &b7b, &ok, &st), OCTO_OK);
	assert_true(ok);
	assert_string_equal(st.promised.node, "n2");
	/* another tag, another voter state */
	assert_int_equal(octo_vote_prepare(f->s, "app", "v2", &b5, &ok, &st), OCTO_OK);
	assert_true(ok);
}

static void test_accepts_in_the_open_slot_not_below_the_promise(void **state)
{
	struct fixture *f = *state;
	struct octo_vote_ballot b5 = ballot(5, "n1"), b9 = ballot(9, "n2");
	struct octo_vote_write wa = write_of(100, "n1", DIGEST_A),
			       wb = write_of(101, "n2", DIGEST_B);
	struct octo_vote_state st;
	int ok;

	assert_int_equal(octo_vote_prepare(f->s, "app", "v1", &b9, &ok, &st), OCTO_OK);
	assert_int_equal(octo_vote_accept(f->s, "app", "v1", 0, &b5, &wa, &ok, &st), OCTO_OK);
	assert_false(ok); /* below the promise */
	assert_int_equal(octo_vote_accept(f->s, "app", "v1", 1, &b9, &wb, &ok, &st), OCTO_OK);
	assert_false(ok); /* not the open slot */
	assert_int_equal(octo_vote_accept(f->s, "app", "v1", 0, &b9, &wb, &ok, &st), OCTO_OK);
	assert_true(ok);
	/* it is durable: a new store object (a restarted daemon) reports it to the next
	 * proposer, whose promise does not erase it */
	close_store(f);
	open_store(f);
	{
		struct octo_vote_ballot b12 = ballot(12, "n1");
		assert_int_equal(octo_vote_prepare(f->s, "app", "v1", &b12, &ok, &st), OCTO_OK);
	}
	assert_true(ok);
	assert_true(st.has_accepted);
	assert_int_equal(st.accepted_ballot.hlc, 9);
	assert_string_equal(st.accepted.digest, DIGEST_B);
	/* a write that is not valid is refused */
	wa.node[0] = '\0';
	assert_int_equal(octo_vote_accept(f->s, "app", "v1", 0, &b9, &wa, &ok, &st),
			 OCTO_ERR_NAME_INVALID);
}

static void test_learning_moves_the_slot_and_writes_the_record(void **state)
{
	struct fixture *f = *state;
	struct octo_vote_ballot b3 = ballot(3, "n1");
	struct octo_vote_write wa = write_of(1ULL << 20, "n1", DIGEST_A);
	struct octo_vote_write gone = write_of(1ULL << 21, "n2", NULL);
	struct octo_vote_state st;
	struct octo_digest d;
	int ok;

	assert_int_equal(octo_vote_accept(f->s, "app", "v1", 0, &b3, &wa, &ok, &st), OCTO_OK);
	assert_int_equal(octo_vote_learn(f->s, f->j, "app", "v1", 0, &wa, &st), OCTO_OK);
	assert_int_equal(st.slot, 1);
	assert_true(st.has_chosen);
	assert_false(st.has_accepted); /* what was accepted belonged to the closed slot */
	assert_string_equal(st.chosen.digest, DIGEST_A);
	assert_int_equal(octo_store_tag_get(f->s, "app", "v1", &d), OCTO_OK);
	/* the closed slot takes no accept any more */
	assert_int_equal(octo_vote_accept(f->s, "app", "v1", 0, &b3, &wa, &ok, &st), OCTO_OK);
	assert_false(ok);
	/* learned again (a proposer teaching a laggard): the slot stays */
	assert_int_equal(octo_vote_learn(f->s, f->j, "app", "v1", 0, &wa, &st), OCTO_OK);
	assert_int_equal(st.slot, 1);
	/* a decided delete removes the tag */
	assert_int_equal(octo_vote_learn(f->s, f->j, "app", "v1", 1, &gone, &st), OCTO_OK);
	assert_int_equal(st.slot, 2);
	assert_int_equal(octo_store_tag_get(f->s, "app", "v1", &d), OCTO_ERR_MANIFEST_UNKNOWN);
}

static void test_a_damaged_state_is_no_vote(void **state)
{
	struct fixture *f = *state;
	struct octo_vote_ballot b = ballot(5, "n1");
	struct octo_vote_state st;
	struct octo_strv names = {0};
	char rel[OCTO_STORE_PATH_MAX];
	int ok;
	size_t i;

	assert_int_equal(octo_vote_prepare(f->s, "app", "v1", &b, &ok, &st), OCTO_OK);
	assert_int_equal(octo_store_list(f->s, OCTO_VOTES_DIR, NULL, OCTO_OK, &names), OCTO_OK);
	for (i = 0; i < names.n; i++) {
		if (strstr(names.v[i], ".lock") != NULL)
			continue;
		snprintf(rel, sizeof(rel), "%s/%s", OCTO_VOTES_DIR, names.v[i]);
		assert_int_equal(octo_store_write_atomic(f->s, rel, "{\"slot\":-1}", 11, 1),
				 OCTO_OK);
	}
	octo_strv_cleanup(&names);
	b.hlc = 6;
	assert_int_equal(octo_vote_prepare(f->s, "app", "v1", &b, &ok, &st), OCTO_ERR_IO);
	assert_false(ok);
}

static void test_a_request_reads_back_and_its_answer_reaches_the_waiter(void **state)
{
	struct fixture *f = *state;
	struct octo_digest blobs[2];
	struct octo_strong_request req = {.blobs = blobs, .n_blobs = 2, .seq = 42, .since_hlc = 7};
	struct octo_strong_request got;
	struct octo_strv ids = {0};
	char detail[256];

	octo_digest_parse(DIGEST_A, strlen(DIGEST_A), &blobs[0]);
	octo_digest_parse(DIGEST_B, strlen(DIGEST_B), &blobs[1]);
	snprintf(req.repo, sizeof(req.repo), "app");
	snprintf(req.tag, sizeof(req.tag), "v1");
	snprintf(req.digest, sizeof(req.digest), DIGEST_A);
	/* nobody answers: the wait ends at its timeout, and the request is gone */
	assert_int_equal(octo_strong_wait(f->s, &req, 30, detail, sizeof(detail)),
			 OCTO_ERR_NOT_REPLICATED);
	assert_non_null(strstr(detail, "strong_timeout"));
	assert_int_equal(octo_strong_pending(f->s, &ids), OCTO_OK);
	assert_int_equal(ids.n, 0);
	octo_strv_cleanup(&ids);
	/* an answer for a request nobody waits for is not written */
	assert_int_equal(octo_strong_answer(f->s, "0123456789abcdef0123456789abcdef", OCTO_OK, ""),
			 OCTO_OK);
	assert_int_equal(octo_strong_pending(f->s, &ids), OCTO_OK);
	assert_int_equal(ids.n, 0);
	octo_strv_cleanup(&ids);
	/* a forked "daemon" answers the request it finds */
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 2000; i++) {
			struct octo_strv pending = {0};
			if (octo_strong_pending(f->s, &pending) == OCTO_OK && pending.n == 1) {
				int same = octo_strong_read(f->s, pending.v[0], &got) == OCTO_OK &&
					   strcmp(got.repo, "app") == 0 &&
					   strcmp(got.tag, "v1") == 0 &&
					   strcmp(got.digest, DIGEST_A) == 0 && got.n_blobs == 2 &&
					   octo_digest_equal(&got.blobs[1], &blobs[1]) &&
					   got.seq == 42 && got.since_hlc == 7 && !got.tombstone;
				octo_strong_answer(f->s, pending.v[0],
						   same ? OCTO_ERR_TAG_CONFLICT : OCTO_ERR_IO,
						   same ? "another won" : "read back wrong");
				_exit(0);
			}
			octo_strv_cleanup(&pending);
			usleep(1000);
		}
		_exit(1);
	}
	assert_int_equal(octo_strong_wait(f->s, &req, 5000, detail, sizeof(detail)),
			 OCTO_ERR_TAG_CONFLICT);
	assert_string_equal(detail, "another won");
	assert_int_equal(octo_strong_pending(f->s, &ids), OCTO_OK);
	assert_int_equal(ids.n, 0);
	octo_strv_cleanup(&ids);
	{
		int status;
		waitpid(pid, &status, 0);
		assert_int_equal(status, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_promises_only_grow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accepts_in_the_open_slot_not_below_the_promise,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_learning_moves_the_slot_and_writes_the_record,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_damaged_state_is_no_vote, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_request_reads_back_and_its_answer_reaches_the_waiter, setup,
			teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
