/* SPDX-License-Identifier: Apache-2.0 */
/* Benchmarks of the library's store, run by `make bench` after bench.py:
 *   store-bench DIR   journal appends from 1, 8 and 32 processes at once (group commit):
 *                     appends/s and fdatasyncs per append, medians of 3 rounds, each on a
 *                     fresh store under DIR (which must be on the disk to measure);
 *                     then the journal's size after 100,000 appends in 1 MiB segments,
 *                     without a consumer, with one that keeps up, and with one stuck at 0;
 *                     then a tag write and a page of tags/list?n=100 in repositories of
 *                     4,000, 20,000 and 100,000 tags (medians of 200). */
#include "autoconfig.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "digest.h"
#include "fsutil.h"
#include "journal.h"
#include "store-manifest.h"
#include "store.h"
#include "strv.h"

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
			if (octo_journal_open(s, "bench", 1 << 26, &j) != OCTO_OK)
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

/* Bytes and files in dir (one level). */
static void dir_size(const char *dir, double *mib, int *files)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	*mib = 0;
	*files = 0;
	while (d != NULL && (e = readdir(d)) != NULL) {
		struct stat st;
		if (e->d_name[0] != '.' && fstatat(dirfd(d), e->d_name, &st, 0) == 0 &&
		    S_ISREG(st.st_mode)) {
			*mib += (double)st.st_size / (1 << 20);
			(*files)++;
		}
	}
	if (d != NULL)
		closedir(d);
}

/* 100,000 appends from 8 processes into 1 MiB segments; consumer: 0 none, 1 one that
 * moves its cursor to the end after every 1,000 appends, 2 one that stays at 0. */
static int journal_growth(const char *dir, int consumer)
{
	/* a tag write as the registry journals it: the tag's record and its digest */
	static const struct octo_journal_change tag = {
		"_manifests/tags/v1",
		"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"};
	static const struct octo_journal_event ev = {
		.type = "manifest.put",
		.repo = "bench/journal",
		.digest = "sha256:0123456789abcdef0123456789abcdef"
			  "0123456789abcdef0123456789abcdef",
		.tag = "v1",
		.records = &tag,
		.n_records = 1};
	enum {
		PROCS = 8,
		TOTAL = 100000
	};
	struct octo_journal *j;
	struct octo_store *s;
	char jdir[8192];
	double mib;
	int p, status, files, ok = 1;

	if (octo_store_open(dir, &s) != OCTO_OK ||
	    octo_journal_open(s, "bench", 1 << 20, &j) != OCTO_OK)
		return -1;
	if (consumer != 0 && octo_journal_cursor_set(j, "bench", 0) != OCTO_OK)
		return -1;
	for (p = 0; p < PROCS; p++) {
		if (fork() == 0) {
			struct octo_journal *cj;
			uint64_t seq;
			int i;
			if (octo_journal_open(s, "bench", 1 << 20, &cj) != OCTO_OK)
				_exit(1);
			for (i = 0; i < TOTAL / PROCS; i++) {
				if (octo_journal_append(cj, &ev, &seq, NULL) != OCTO_OK)
					_exit(1);
				if (consumer == 1 && seq % 1000 == 0 &&
				    octo_journal_cursor_set(cj, "bench", seq) != OCTO_OK)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (p = 0; p < PROCS; p++)
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			ok = 0;
	snprintf(jdir, sizeof(jdir), "%s/journal", dir);
	dir_size(jdir, &mib, &files);
	printf("journal after %d appends, 1 MiB segments, %s: %.1f MiB in %d files\n", TOTAL,
	       consumer == 0   ? "no consumer"
	       : consumer == 1 ? "a consumer keeping up"
			       : "a consumer stuck at 0",
	       mib, files);
	octo_journal_close(j);
	octo_store_free(s);
	return ok ? 0 : -1;
}

static double median_of(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return v[n / 2];
}

/* A repository of ntags tags (their files written directly, then indexed from a scan by
 * the first tag write), then 200 more tag writes and 200 pages of 100 tags from the middle:
 * medians in milliseconds. */
static int tag_sizes(const char *dir, int ntags)
{
	enum {
		SAMPLES = 200
	};
	char repo[64], path[8192], ds[OCTO_DIGEST_MAX_STRING];
	double write_ms[SAMPLES], page_ms[SAMPLES];
	struct octo_record_stamp stamp = {.time_ms = octo_clock_wall_ms(), .node = "bench"};
	struct octo_store *s;
	struct octo_digest d;
	int i;

	snprintf(repo, sizeof(repo), "bench/t%d", ntags);
	snprintf(path, sizeof(path), "%s/repositories/bench/t%d/_manifests/tags", dir, ntags);
	if (octo_store_open(dir, &s) != OCTO_OK || octo_fs_mkdirs(path) != 0)
		return -1;
	octo_digest_of(OCTO_DIGEST_SHA256, "x", 1, &d);
	octo_digest_format(&d, ds, sizeof(ds));
	for (i = 0; i < ntags; i++) {
		char file[8300];
		int fd;
		snprintf(file, sizeof(file), "%s/t%07d", path, i * 2);
		fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, ds, strlen(ds)) < 0 || close(fd) != 0)
			return -1;
	}
	if (octo_store_tag_set(s, repo, "indexed", &d, &stamp) != OCTO_OK) /* the scan, once */
		return -1;
	for (i = 0; i < SAMPLES; i++) {
		char tag[32];
		double t0 = now();
		snprintf(tag, sizeof(tag), "t%07d", i * 2 * (ntags / SAMPLES) + 1); /* in between */
		stamp.hlc = octo_hlc_tick(stamp.hlc, octo_clock_wall_ms());
		if (octo_store_tag_set(s, repo, tag, &d, &stamp) != OCTO_OK)
			return -1;
		write_ms[i] = (now() - t0) * 1000;
	}
	for (i = 0; i < SAMPLES; i++) {
		struct octo_strv page;
		char last[32];
		int more;
		double t0 = now();
		snprintf(last, sizeof(last), "t%07d", ntags + i);
		if (octo_store_tag_page(s, repo, last, 100, &page, &more) != OCTO_OK ||
		    page.n != 100 || !more)
			return -1;
		octo_strv_cleanup(&page);
		page_ms[i] = (now() - t0) * 1000;
	}
	printf("tags, %6d in the repository: a tag write %.2f ms, tags/list?n=100 %.2f ms "
	       "(medians of %d)\n",
	       ntags, median_of(write_ms, SAMPLES), median_of(page_ms, SAMPLES), SAMPLES);
	octo_store_free(s);
	return 0;
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
		printf("journal appends, %2d processes: %8.0f appends/s, %.2f fdatasyncs per append "
		       "(medians of %d)\n",
		       procs[i], median_of(rate, ROUNDS), median_of(per, ROUNDS), ROUNDS);
	}
	for (r = 0; r < 3; r++) {
		static const int sizes[] = {4000, 20000, 100000};
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/tags-%d", argv[1], sizes[r]);
		if (tag_sizes(dir, sizes[r]) != 0) {
			fprintf(stderr, "store-bench: tag writes failed in %s\n", dir);
			return 1;
		}
	}
	for (r = 0; r < 3; r++) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s/growth-%d", argv[1], r);
		if (journal_growth(dir, r) != 0) {
			fprintf(stderr, "store-bench: journal growth failed in %s\n", dir);
			return 1;
		}
	}
	return 0;
}
