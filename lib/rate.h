/* SPDX-License-Identifier: Apache-2.0 */
/* A transfer's schedule, after Apache mod_reqtimeout's MinRate: a grace period, then at
 * least min_rate bytes a second on average. A 5 GiB push at 10 MB/s keeps it; one byte
 * every 10 s does not. */
#ifndef OCTO_RATE_H
#define OCTO_RATE_H

#include <stdint.h>

/* 1 if a transfer that has moved bytes in elapsed_ms is behind: elapsed_ms beyond
 * grace_ms plus the time min_rate allows for bytes + slack (bytes possibly moved but not
 * yet counted). min_rate 0: never behind. */
int octo_rate_behind(int64_t elapsed_ms, uint64_t bytes, uint64_t slack, int64_t grace_ms,
		     int64_t min_rate);

#endif
