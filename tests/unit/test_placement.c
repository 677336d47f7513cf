/* SPDX-License-Identifier: Apache-2.0 */
/* Placement (placement.h): rendezvous hashing spreads blobs evenly, a member leaving moves
 * only its copies, and its return moves them back. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "placement.h"

#define DIGESTS 10000

static struct octo_digest digest_n(int i)
{
	struct octo_digest d;
	char text[32];

	snprintf(text, sizeof(text), "blob %d", i);
	octo_digest_of(OCTO_DIGEST_SHA256, text, strlen(text), &d);
	return d;
}

/* Each of 5 members holds a fifth of the copies (factor 1) and two fifths (factor 2),
 * within 10%. */
static void test_even_spread(void **state)
{
	const char *const members[] = {"node-a", "node-b", "node-c", "node-d", "node-e"};
	size_t factor, i, j, holders[2];
	int count[5];

	(void)state;
	for (factor = 1; factor <= 2; factor++) {
		memset(count, 0, sizeof(count));
		for (i = 0; i < DIGESTS; i++) {
			struct octo_digest d = digest_n((int)i);
			assert_int_equal(octo_placement_holders(&d, members, 5, factor, holders),
					 factor);
			if (factor == 2)
				assert_true(holders[0] != holders[1]);
			for (j = 0; j < factor; j++)
				count[holders[j]]++;
		}
		for (j = 0; j < 5; j++) {
			double want = (double)DIGESTS * (double)factor / 5;
			if (count[j] < want * 0.9 || count[j] > want * 1.1)
				fail_msg("factor %zu: %s holds %d, want %.0f within 10%%", factor,
					 members[j], count[j], want);
		}
	}
}

/* Holders as a set of names, order aside. */
static int same_holders(const char *const *ma, const size_t *a, const char *const *mb,
			const size_t *b, size_t n)
{
	size_t i, j, found;

	for (i = 0; i < n; i++) {
		for (found = 0, j = 0; j < n; j++)
			found |= strcmp(ma[a[i]], mb[b[j]]) == 0;
		if (!found)
			return 0;
	}
	return 1;
}

static void test_leaving_moves_only_its_copies(void **state)
{
	const char *const all[] = {"n1", "n2", "n3", "n4"};
	const char *const without[] = {"n1", "n2", "n4"}; /* n3 left */
	size_t i, j, a[2], b[2], had = 0;

	(void)state;
	for (i = 0; i < DIGESTS; i++) {
		struct octo_digest d = digest_n((int)i);
		int held = 0;
		octo_placement_holders(&d, all, 4, 2, a);
		octo_placement_holders(&d, without, 3, 2, b);
		for (j = 0; j < 2; j++)
			held |= strcmp(all[a[j]], "n3") == 0;
		had += held;
		if (!held) /* n3 held no copy: nothing moves */
			assert_true(same_holders(all, a, without, b, 2));
		else { /* the other holder keeps its copy; one new holder takes n3's */
			const char *other = all[a[strcmp(all[a[0]], "n3") == 0 ? 1 : 0]];
			assert_true(strcmp(without[b[0]], other) == 0 ||
				    strcmp(without[b[1]], other) == 0);
		}
		/* and when n3 returns, the first placement comes back: it is a function of the
		 * members only */
		assert_int_equal(octo_placement_holders(&d, all, 4, 2, b), 2);
		assert_memory_equal(a, b, sizeof(a));
	}
	assert_true(had > DIGESTS / 2 * 9 / 10 && had < DIGESTS / 2 * 11 / 10);
}

static void test_factor_beyond_members(void **state)
{
	const char *const members[] = {"x", "y", "z"};
	struct octo_digest d = digest_n(1);
	size_t holders[8];

	(void)state;
	assert_int_equal(octo_placement_holders(&d, members, 3, 8, holders), 3); /* every node */
	assert_true(holders[0] != holders[1] && holders[1] != holders[2] &&
		    holders[0] != holders[2]);
	assert_int_equal(octo_placement_holders(&d, members, 0, 2, holders), 0);
	/* the same weight on every call and node */
	assert_true(octo_placement_weight("x", &d) == octo_placement_weight("x", &d));
	assert_true(octo_placement_weight("x", &d) != octo_placement_weight("y", &d));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_even_spread),
		cmocka_unit_test(test_leaving_moves_only_its_copies),
		cmocka_unit_test(test_factor_beyond_members),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
