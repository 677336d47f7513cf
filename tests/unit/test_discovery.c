/* SPDX-License-Identifier: Apache-2.0 */
/* DNS discovery's decisions (discovery.h): answers become "host:port" addresses as the member
 * table takes them, each once, IPv6 in brackets; a round's failure is news once, until it
 * changes or ends, and the addresses are news only when the set changes. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "discovery.h"

static void test_addresses(void **state)
{
	struct octo_strv found = {0};

	(void)state;
	assert_int_equal(octo_discovery_add(&found, "127.0.0.3", 6000), 1);
	assert_int_equal(octo_discovery_add(&found, "127.0.0.2", 6000), 1);
	assert_int_equal(octo_discovery_add(&found, "127.0.0.3", 6000), 0); /* A and SRV both */
	assert_int_equal(octo_discovery_add(&found, "127.0.0.3", 6001), 1); /* another port */
	assert_int_equal(octo_discovery_add(&found, "::1", 6000), 1);
	assert_int_equal(octo_discovery_add(&found, "fd00::1", 443), 1);
	assert_int_equal(octo_discovery_add(&found, "fd00::1", 443), 0);
	/* what is not an address or a port */
	assert_int_equal(octo_discovery_add(&found, "node1.cluster.test", 6000), -1);
	assert_int_equal(octo_discovery_add(&found, "[::1]", 6000), -1);
	assert_int_equal(octo_discovery_add(&found, "", 6000), -1);
	assert_int_equal(octo_discovery_add(&found, "127.0.0.1", 0), -1); /* SRV port 0 */
	assert_int_equal(octo_discovery_add(&found, "127.0.0.1", 65536), -1);
	assert_int_equal(found.n, 5);
	/* sorted, so rounds compare whatever order the answers came in */
	assert_string_equal(found.v[0], "127.0.0.2:6000");
	assert_string_equal(found.v[1], "127.0.0.3:6000");
	assert_string_equal(found.v[2], "127.0.0.3:6001");
	assert_string_equal(found.v[3], "[::1]:6000");
	assert_string_equal(found.v[4], "[fd00::1]:443");
	octo_strv_cleanup(&found);
}

static int round_of(struct octo_discovery *d, const char *const *ips, const char *failure)
{
	struct octo_strv found = {0};
	int news;

	for (; *ips != NULL; ips++)
		assert_true(octo_discovery_add(&found, *ips, 6000) >= 0);
	news = octo_discovery_round(d, &found, failure);
	assert_int_equal(found.n, 0); /* taken */
	return news;
}

static void test_news(void **state)
{
	static const char *const none[] = {NULL};
	static const char *const two[] = {"127.0.0.2", "127.0.0.3", NULL};
	static const char *const two_again[] = {"127.0.0.3", "127.0.0.2", NULL};
	static const char *const three[] = {"127.0.0.2", "127.0.0.3", "127.0.0.4", NULL};
	struct octo_discovery d = {0};

	(void)state;
	assert_int_equal(round_of(&d, none, NULL), 0); /* nothing yet, nothing wrong */
	assert_int_equal(round_of(&d, two, NULL), OCTO_DISCOVERY_NEW_FOUND);
	assert_int_equal(round_of(&d, two_again, NULL), 0); /* the same set, in another order */
	assert_int_equal(d.found.n, 2);
	assert_int_equal(round_of(&d, three, ""), OCTO_DISCOVERY_NEW_FOUND);
	/* a failure is news once, however many rounds it lasts */
	assert_int_equal(round_of(&d, none, "SRV x: Timeout"),
			 OCTO_DISCOVERY_NEW_FOUND | OCTO_DISCOVERY_NEW_FAILURE);
	assert_string_equal(d.failure, "SRV x: Timeout");
	assert_int_equal(round_of(&d, none, "SRV x: Timeout"), 0);
	assert_int_equal(round_of(&d, none, "SRV x: Timeout"), 0);
	assert_int_equal(round_of(&d, none, "A/AAAA x: Refused"), OCTO_DISCOVERY_NEW_FAILURE);
	/* and its end is news too */
	assert_int_equal(round_of(&d, three, NULL),
			 OCTO_DISCOVERY_NEW_FOUND | OCTO_DISCOVERY_NEW_FAILURE);
	assert_string_equal(d.failure, "");
	/* a partial failure beside what was found */
	assert_int_equal(round_of(&d, three, "A/AAAA n4: Refused"), OCTO_DISCOVERY_NEW_FAILURE);
	octo_discovery_cleanup(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_news),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
