/* SPDX-License-Identifier: Apache-2.0 */
/* The hybrid logical clock every record and journal event carries: 48 bits of wall-clock
 * milliseconds, then 16 bits of logical counter, in one uint64_t, so that comparing two
 * clocks is comparing two integers. A node's clock never goes back, whatever its wall clock
 * does (the journal keeps the last one issued), and it moves past every clock it receives,
 * so a change made after seeing another is ordered after it on every node. */
#ifndef OCTO_CLOCK_H
#define OCTO_CLOCK_H

#include <stdint.h>

#define OCTO_HLC_LOGICAL_BITS 16

static inline uint64_t octo_hlc_make(uint64_t ms, uint64_t logical)
{
	return ms << OCTO_HLC_LOGICAL_BITS | (logical & 0xffff);
}
static inline uint64_t octo_hlc_ms(uint64_t hlc)
{
	return hlc >> OCTO_HLC_LOGICAL_BITS;
}
static inline uint64_t octo_hlc_logical(uint64_t hlc)
{
	return hlc & 0xffff;
}

/* Now, in milliseconds since the epoch (CLOCK_REALTIME). */
uint64_t octo_clock_wall_ms(void);
/* Milliseconds on the monotonic clock (waits and pacing: a wall clock stepping moves none). */
uint64_t octo_clock_monotonic_ms(void);
/* Whether now_ms (monotonic) is period_ms or more past *last_ms, the last time this said
 * yes (0: never), which it then moves to now_ms: yes once a period however many threads ask
 * (a log line a refused peer's every retry would repeat). */
int octo_clock_due(uint64_t *last_ms, uint64_t now_ms, uint64_t period_ms);
/* The clock of a local event after last (the last one issued): the wall clock if it is
 * ahead, else last's millisecond with the next logical count (past 65535, the next
 * millisecond: a clock running ahead of the wall by at most that many events). */
uint64_t octo_hlc_tick(uint64_t last, uint64_t wall_ms);
/* The clock after receiving remote: past both last and remote (and at least the wall). */
uint64_t octo_hlc_merge(uint64_t last, uint64_t remote, uint64_t wall_ms);

#endif
