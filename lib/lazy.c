/* SPDX-License-Identifier: Apache-2.0 */
/* See lazy.h. Both waits poll the store every POLL_MS: the daemon writes, the responder
 * looks (they share nothing but the store). */
#include "autoconfig.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "lazy.h"
#include "store-blob.h"
#include "store-wanted.h"

#define POLL_MS 5

static void nap(void)
{
	struct timespec ts = {0, POLL_MS * 1000000L};

	nanosleep(&ts, NULL);
}

/* Whether the daemon noted d unavailable after since. */
static int unavailable_after(const struct octo_store *s, const struct octo_digest *d,
			     const struct timespec *since)
{
	struct timespec when;

	if (octo_store_unavailable_since(s, d, &when) != OCTO_OK)
		return 0;
	return when.tv_sec > since->tv_sec ||
	       (when.tv_sec == since->tv_sec && when.tv_nsec >= since->tv_nsec);
}

enum octo_err octo_lazy_wait(const struct octo_store *s, const struct octo_digest *d,
			     const char *source, int64_t timeout_ms, int *fd, int *growing)
{
	char blob[OCTO_STORE_PATH_MAX], incoming[OCTO_STORE_PATH_MAX],
		unavailable[OCTO_STORE_PATH_MAX];
	uint64_t deadline = octo_clock_monotonic_ms() + (uint64_t)timeout_ms, size, before;
	struct timespec start;
	enum octo_err err;

	*fd = -1;
	*growing = 0;
	err = octo_store_blob_rel(d, blob, sizeof(blob));
	if (err == OCTO_OK)
		err = octo_store_incoming_rel(d, incoming, sizeof(incoming));
	if (err == OCTO_OK)
		err = octo_store_unavailable_rel(d, unavailable, sizeof(unavailable));
	if (err != OCTO_OK)
		return err;
	clock_gettime(CLOCK_REALTIME, &start);
	/* an old note would end the wait at once; without it the daemon asks again now */
	octo_store_unmark(s, unavailable);
	err = octo_store_want_blob(s, d, source);
	if (err != OCTO_OK)
		return err;
	/* bytes left by a fetch that broke off are no sign that one runs now: it must grow */
	if (octo_store_stat(s, incoming, OCTO_ERR_BLOB_UNKNOWN, &before) != OCTO_OK)
		before = 0;
	for (;;) {
		if (octo_store_open_file(s, blob, O_RDONLY, OCTO_ERR_BLOB_UNKNOWN, fd, &size) ==
		    OCTO_OK)
			return OCTO_OK;
		if (octo_store_open_file(s, incoming, O_RDONLY, OCTO_ERR_BLOB_UNKNOWN, fd, &size) ==
		    OCTO_OK) {
			if (size > before) {
				*growing = 1;
				return OCTO_OK;
			}
			close(*fd);
			*fd = -1;
		}
		if (unavailable_after(s, d, &start) || octo_clock_monotonic_ms() >= deadline)
			return OCTO_ERR_BLOB_UNAVAILABLE;
		nap();
	}
}

struct octo_lazy_follow {
	const struct octo_store *s;
	struct octo_digest d;
	int fd;
	uint64_t size, seen;
	int64_t idle_ms;
	uint64_t changed_ms;
	struct timespec start;
};

struct octo_lazy_follow *octo_lazy_follow_new(const struct octo_store *s,
					      const struct octo_digest *d, int fd, uint64_t size,
					      int64_t idle_ms)
{
	struct octo_lazy_follow *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	f->s = s;
	f->d = *d;
	f->fd = fd;
	f->size = size;
	f->idle_ms = idle_ms;
	f->changed_ms = octo_clock_monotonic_ms();
	clock_gettime(CLOCK_REALTIME, &f->start);
	return f;
}

int octo_lazy_follow(void *follow, uint64_t sent, uint64_t *ready)
{
	struct octo_lazy_follow *f = follow;

	for (;;) {
		uint64_t have, now = octo_clock_monotonic_ms();
		struct stat st;
		if (fstat(f->fd, &st) != 0 || (uint64_t)st.st_size < sent ||
		    (uint64_t)st.st_size > f->size)
			return -1; /* started again from nothing, or not the blob we know */
		have = (uint64_t)st.st_size;
		if (have > f->seen) {
			f->seen = have;
			f->changed_ms = now;
		}
		/* the last byte only once the daemon verified and committed the blob */
		if (have == f->size && octo_store_blob_stat(f->s, &f->d, NULL) == OCTO_OK)
			*ready = have;
		else
			*ready = have < f->size ? have : f->size - 1;
		if (*ready > sent)
			return 0;
		if (now - f->changed_ms > (uint64_t)f->idle_ms ||
		    unavailable_after(f->s, &f->d, &f->start))
			return -1;
		nap();
	}
}

void octo_lazy_follow_free(void *follow)
{
	free(follow);
}
