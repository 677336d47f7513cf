/* SPDX-License-Identifier: Apache-2.0 */
/* The shared budget: a taker waits until its weight fits; a weight above the total is
 * clamped, so it runs alone rather than never. */
#include "autoconfig.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "budget.h"

static struct octo_budget budget;
static volatile int second_ran;

static void *second(void *arg)
{
	size_t taken = octo_budget_take(&budget, 5);

	(void)arg;
	second_ran = 1;
	octo_budget_give(&budget, taken);
	return NULL;
}

static void test_waits_until_it_fits(void **state)
{
	pthread_t t;
	size_t a;

	(void)state;
	octo_budget_init(&budget, 10);
	a = octo_budget_take(&budget, 8);
	assert_int_equal(a, 8);
	pthread_create(&t, NULL, second, NULL);
	usleep(100 * 1000);
	assert_int_equal(second_ran, 0); /* 8 + 5 > 10: waiting */
	octo_budget_give(&budget, a);
	pthread_join(t, NULL);
	assert_int_equal(second_ran, 1);
	assert_int_equal(octo_budget_take(&budget, 1000), 10); /* clamped: runs alone */
	octo_budget_give(&budget, 10);
	assert_int_equal(budget.used, 0);
	octo_budget_cleanup(&budget);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_waits_until_it_fits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
