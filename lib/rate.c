/* SPDX-License-Identifier: Apache-2.0 */
/* See rate.h. */
#include "autoconfig.h"

#include "rate.h"

int octo_rate_behind(int64_t elapsed_ms, uint64_t bytes, uint64_t slack, int64_t grace_ms,
		     int64_t min_rate)
{
	uint64_t allowed;

	if (min_rate <= 0 || elapsed_ms <= grace_ms)
		return 0;
	/* in milliseconds, without overflow for any byte count a disk can hold */
	allowed = (bytes + slack) / (uint64_t)min_rate * 1000 +
		  (bytes + slack) % (uint64_t)min_rate * 1000 / (uint64_t)min_rate;
	return (uint64_t)(elapsed_ms - grace_ms) > allowed;
}
