/* SPDX-License-Identifier: Apache-2.0 */
/* Membership (member.h): learning from bootstrap addresses and peer exchange, the health
 * state machine (down after failure_threshold misses in a row, up after one answer), and
 * what is refused. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "member.h"

static void test_learn(void **state)
{
	struct octo_members m;

	(void)state;
	octo_members_init(&m, "self", "127.0.0.1:6000", 3);
	assert_int_equal(octo_members_learn(&m, "", "127.0.0.1:6001"), 1);   /* bootstrap */
	assert_int_equal(octo_members_learn(&m, "", "127.0.0.1:6001"), 0);   /* again */
	assert_int_equal(octo_members_learn(&m, "n1", "127.0.0.1:6001"), 0); /* now with its id */
	assert_string_equal(m.v[0].id, "n1");
	assert_int_equal(octo_members_learn(&m, "n2", "localhost:6002"), 1); /* exchange */
	assert_int_equal(octo_members_learn(&m, "n2", "[::1]:6002"), 0);     /* moved */
	assert_string_equal(m.v[1].address, "[::1]:6002");
	assert_int_equal(octo_members_learn(&m, "self", "h:1"), 0); /* never itself */
	assert_int_equal(octo_members_learn(&m, "", "127.0.0.1:6000"), 0);
	assert_int_equal(m.n, 2);
	assert_int_equal(octo_members_learn(&m, "bad id", "h:1"), -1);
	assert_int_equal(octo_members_learn(&m, "n3", "h"), -1);
	assert_int_equal(octo_members_learn(&m, "n3", "h:0"), -1);
	assert_int_equal(octo_members_learn(&m, "n3", "h:65536"), -1);
	assert_int_equal(octo_members_learn(&m, "n3", "h h:1"), -1);
	assert_int_equal(octo_members_learn(&m, "n3", ":1"), -1);
	assert_int_equal(m.n, 2);
	octo_members_cleanup(&m);
}

static void test_health_states(void **state)
{
	struct octo_members m;

	(void)state;
	octo_members_init(&m, "self", "127.0.0.1:6000", 3);
	octo_members_learn(&m, "", "127.0.0.1:6001");
	assert_int_equal(m.v[0].state, OCTO_MEMBER_UNKNOWN);
	octo_members_observe(&m, 0, 1, "n1", 1000);
	assert_int_equal(m.v[0].state, OCTO_MEMBER_UP);
	assert_string_equal(m.v[0].id, "n1");
	assert_true(m.v[0].last_seen_ms == 1000 && m.v[0].changed_ms == 1000);
	octo_members_observe(&m, 0, 0, NULL, 2000);
	octo_members_observe(&m, 0, 0, NULL, 3000);
	assert_int_equal(m.v[0].state, OCTO_MEMBER_UP); /* two misses: not yet */
	octo_members_observe(&m, 0, 1, "n1", 4000);     /* an answer resets the count */
	octo_members_observe(&m, 0, 0, NULL, 5000);
	octo_members_observe(&m, 0, 0, NULL, 6000);
	octo_members_observe(&m, 0, 0, NULL, 7000);
	assert_int_equal(m.v[0].state, OCTO_MEMBER_DOWN);
	assert_true(m.v[0].changed_ms == 7000 && m.v[0].last_seen_ms == 4000);
	octo_members_observe(&m, 0, 1, "n1", 8000); /* back after one answer */
	assert_int_equal(m.v[0].state, OCTO_MEMBER_UP);
	/* another node answering at the address is no answer from this one */
	octo_members_observe(&m, 0, 1, "intruder", 9000);
	octo_members_observe(&m, 0, 1, "intruder", 9100);
	octo_members_observe(&m, 0, 1, "intruder", 9200);
	assert_int_equal(m.v[0].state, OCTO_MEMBER_DOWN);
	assert_string_equal(m.v[0].id, "n1");
	assert_string_equal(octo_member_state_name(m.v[0].state), "down");
	octo_members_cleanup(&m);
}

/* A bootstrap peer named "localhost:6001" is the member learned as "127.0.0.1:6001": once it
 * answers with that member's id, one entry stands for it, the one known first. */
static void test_one_member_two_addresses(void **state)
{
	struct octo_members m;

	(void)state;
	octo_members_init(&m, "self", "127.0.0.1:6000", 3);
	octo_members_learn(&m, "", "localhost:6001");
	octo_members_learn(&m, "n1", "127.0.0.1:6001"); /* heard from n1 itself */
	octo_members_learn(&m, "n2", "127.0.0.1:6002");
	assert_int_equal(m.n, 3);
	assert_int_equal(octo_members_observe(&m, 1, 1, "n1", 1000), 1);
	/* the bootstrap address answers as n1: its entry goes, n1's stays up */
	assert_int_equal(octo_members_observe(&m, 0, 1, "n1", 2000), 1);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.v[0].id, "n2"); /* the last entry moved into the gap */
	assert_string_equal(m.v[1].id, "n1");
	assert_string_equal(m.v[1].address, "127.0.0.1:6001");
	assert_int_equal(m.v[1].state, OCTO_MEMBER_UP);
	assert_true(m.v[1].last_seen_ms == 2000);
	octo_members_cleanup(&m);
	/* when the survivor was the last entry, it moves into the gap */
	octo_members_init(&m, "self", "127.0.0.1:6000", 3);
	octo_members_learn(&m, "", "localhost:6002");
	octo_members_learn(&m, "n2", "127.0.0.1:6002");
	assert_int_equal(octo_members_observe(&m, 0, 1, "n2", 3000), 0);
	assert_int_equal(m.n, 1);
	assert_string_equal(m.v[0].address, "127.0.0.1:6002");
	assert_int_equal(m.v[0].state, OCTO_MEMBER_UP);
	octo_members_cleanup(&m);
}

/* A member down is placed around only once the grace period has passed (a restart moves
 * nothing); one up, or never heard from, always counts. */
static void test_placed_until_the_grace_period(void **state)
{
	struct octo_member m = {.state = OCTO_MEMBER_DOWN, .changed_ms = 1000};

	(void)state;
	assert_true(octo_member_placed(&m, 1000, 5000));
	assert_true(octo_member_placed(&m, 5999, 5000));
	assert_false(octo_member_placed(&m, 6000, 5000));
	assert_false(octo_member_placed(&m, 1000, 0));
	assert_true(octo_member_placed(&m, 500, 5000)); /* a wall clock that stepped back */
	m.state = OCTO_MEMBER_UP;
	assert_true(octo_member_placed(&m, 1000000, 5000));
	m.state = OCTO_MEMBER_UNKNOWN;
	assert_true(octo_member_placed(&m, 1000000, 5000));
}

/* A bootstrap address or a DNS record that is this node under another name ("localhost:6000"
 * for "127.0.0.1:6000", an SRV set listing every node) answers with this node's id: never a
 * member, and never learned again. */
static void test_self_under_another_address(void **state)
{
	struct octo_members m;

	(void)state;
	octo_members_init(&m, "self", "127.0.0.1:6000", 3);
	assert_int_equal(octo_members_learn(&m, "", "localhost:6000"), 1);
	assert_int_equal(octo_members_learn(&m, "", "127.0.0.1:6001"), 1);
	assert_int_equal(octo_members_observe(&m, 0, 1, "self", 1000), -1);
	assert_int_equal(m.n, 1); /* the last entry moved into the gap */
	assert_string_equal(m.v[0].address, "127.0.0.1:6001");
	assert_int_equal(octo_members_learn(&m, "", "localhost:6000"), 0); /* not again */
	assert_int_equal(m.n, 1);
	/* a failure at such an address is no answer: it stays to be checked again */
	assert_int_equal(octo_members_learn(&m, "", "[::1]:6000"), 1);
	assert_int_equal(octo_members_observe(&m, 1, 0, NULL, 2000), 1);
	assert_int_equal(m.n, 2);
	/* nor does the alias stop a member by id from moving there (a new node took it) */
	assert_int_equal(octo_members_learn(&m, "n9", "localhost:6000"), 1);
	octo_members_cleanup(&m);
}

/* A certificate speaks for a node id only when one of its names is that id exactly. */
static void test_certified(void **state)
{
	const char *names[] = {"n1.example", "*.example", "urn:octo:n2", "n2"};

	(void)state;
	assert_true(octo_member_certified(names, 4, "n2"));
	assert_true(octo_member_certified(names, 4, "urn:octo:n2"));
	assert_true(octo_member_certified(names, 4, "n1.example"));
	assert_false(octo_member_certified(names, 4, "n3.example")); /* no wildcards */
	assert_false(octo_member_certified(names, 4, "n"));
	assert_false(octo_member_certified(names, 4, "n22"));
	assert_false(octo_member_certified(names, 4, ""));
	assert_false(octo_member_certified(names, 0, "n2")); /* no certificate, no name */
}

/* A store last in contact longer ago than the longest absence the tombstones allow is stale;
 * one never in contact (a first start, a single node) is not. */
static void test_away_too_long(void **state)
{
	(void)state;
	assert_false(octo_member_away_too_long(0, 10000000, 1000));
	assert_false(octo_member_away_too_long(5000, 6000, 1000));
	assert_true(octo_member_away_too_long(5000, 6001, 1000));
	assert_false(octo_member_away_too_long(5000, 4000, 1000)); /* a clock stepped back */
}

/* A member forgotten for good leaves the table and never comes back: not by peer exchange,
 * not answering at a bootstrap address. */
static void test_forgotten_for_good(void **state)
{
	struct octo_members m;

	(void)state;
	octo_members_init(&m, "self", "127.0.0.1:6000", 3);
	assert_int_equal(octo_members_learn(&m, "n2", "127.0.0.1:6002"), 1);
	assert_int_equal(octo_members_learn(&m, "n3", "127.0.0.1:6003"), 1);
	assert_int_equal(octo_members_forget(&m, "n3"), 1);
	assert_int_equal(octo_members_forget(&m, "n3"), 0);
	assert_int_equal(octo_members_forget(&m, "bad id"), -1);
	assert_true(octo_members_forgotten(&m, "n3"));
	assert_false(octo_members_forgotten(&m, "n2"));
	assert_int_equal(m.n, 1);
	assert_string_equal(m.v[0].id, "n2");
	assert_int_equal(octo_members_learn(&m, "n3", "127.0.0.1:6003"), 0); /* peer exchange */
	assert_int_equal(m.n, 1);
	/* a bootstrap address that turns out to be it: its entry goes */
	assert_int_equal(octo_members_learn(&m, "", "127.0.0.1:6003"), 1);
	assert_int_equal(octo_members_observe(&m, 1, 1, "n3", 1000), -1);
	assert_int_equal(m.n, 1);
	assert_string_equal(m.v[0].id, "n2");
	octo_members_cleanup(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_learn),
		cmocka_unit_test(test_health_states),
		cmocka_unit_test(test_one_member_two_addresses),
		cmocka_unit_test(test_placed_until_the_grace_period),
		cmocka_unit_test(test_away_too_long),
		cmocka_unit_test(test_forgotten_for_good),
		cmocka_unit_test(test_self_under_another_address),
		cmocka_unit_test(test_certified),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
