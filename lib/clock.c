/* SPDX-License-Identifier: Apache-2.0 */
/* See clock.h. */
#include "autoconfig.h"

#include <time.h>

#include "clock.h"

uint64_t octo_clock_wall_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return t.tv_sec < 0 ? 0 : (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

uint64_t octo_clock_monotonic_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

int octo_clock_due(uint64_t *last_ms, uint64_t now_ms, uint64_t period_ms)
{
	uint64_t last = __atomic_load_n(last_ms, __ATOMIC_RELAXED);

	return (last == 0 || now_ms - last >= period_ms) &&
	       __atomic_compare_exchange_n(last_ms, &last, now_ms, 0, __ATOMIC_RELAXED,
					   __ATOMIC_RELAXED);
}

uint64_t octo_hlc_tick(uint64_t last, uint64_t wall_ms)
{
	uint64_t wall = octo_hlc_make(wall_ms, 0);

	return wall > last ? wall : last + 1; /* a full logical count carries into the ms */
}

uint64_t octo_hlc_merge(uint64_t last, uint64_t remote, uint64_t wall_ms)
{
	return octo_hlc_tick(remote > last ? remote : last, wall_ms);
}
