/* SPDX-License-Identifier: Apache-2.0 */
/* Benchmarks of the library's store, run by `make bench` after bench.py:
 *   store-bench DIR   journal appends from 1, 8 and 32 processes at once (group commit):
 *                     appends/s and fdatasyncs per append, medians of 3 rounds, each on a
 *                     fresh store under DIR (which must be on the disk to measure). */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "journal.h"
#include "store.h"

#define ROUNDS 3
#define APPENDS 3200 /* per round, split among the processes */

static long syncs;

static void count_sync(void *ctx, long long us)
{
	(void)ctx;
	(void)us;
	syncs++;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* One round: procs processes append APPENDS events in all; appends/s, and *per the
 * fdatasyncs per append. -1 on failure. */
static double journal_round(const char *dir, int procs, double *per)
{
	static const struct octo_journal_event ev = {
		.type = "blob.put", .repo = "bench/journal", .digest = "sha256:00"};
	struct octo_store *s;
	long total = 0;
	int fds[2], p, status, ok = 1;
	double t0, t;

	if (octo_store_open(dir, &s) != OCTO_OK || pipe(fds) != 0)
		return -1;
	t0 = now();
	for (p = 0; p < procs; p++) {
		if (fork() == 0) {
			struct octo_journal *j;
			int i;
			close(fds[0]);
			octo_fs_observe_syncs(count_sync, NULL);
			if (octo_journal_open(s, "bench", &j) != OCTO_OK)
				_exit(1);
			for (i = 0; i < APPENDS / procs; i++)
				if (octo_journal_append(j, &ev, NULL, NULL) != OCTO_OK)
					_exit(1);
			if (write(fds[1], &syncs, sizeof(syncs)) != sizeof(syncs))
				_exit(1);
			_exit(0);
		}
	}
	close(fds[1]);
	for (p = 0; p < procs; p++) {
		long n;
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			ok = 0;
		if (read(fds[0], &n, sizeof(n)) == sizeof(n))
			total += n;
	}
	t = now() - t0;
	close(fds[0]);
	octo_store_free(s);
	*per = (double)total / (double)(APPENDS / procs * procs);
	return ok ? (double)(APPENDS / procs * procs) / t : -1;
}

int main(int argc, char **argv)
{
	static const int procs[] = {1, 8, 32};
	size_t i;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: store-bench DIR\n");
		return 2;
	}
	for (i = 0; i < sizeof(procs) / sizeof(procs[0]); i++) {
		double rate[ROUNDS], per[ROUNDS];
		for (r = 0; r < ROUNDS; r++) {
			char dir[4096];
			snprintf(dir, sizeof(dir), "%s/journal-%d-%d", argv[1], procs[i], r);
			rate[r] = journal_round(dir, procs[i], &per[r]);
			if (rate[r] < 0) {
				fprintf(stderr, "store-bench: journal appends failed in %s\n", dir);
				return 1;
			}
		}
		qsort(rate, ROUNDS, sizeof(double), cmp_double);
		qsort(per, ROUNDS, sizeof(double), cmp_double);
		printf("journal appends, %2d processes: %8.0f appends/s, %.2f fdatasyncs per append "
		       "(medians of %d)\n",
		       procs[i], rate[ROUNDS / 2], per[ROUNDS / 2], ROUNDS);
	}
	return 0;
}
