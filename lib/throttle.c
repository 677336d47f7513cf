/* SPDX-License-Identifier: Apache-2.0 */
/* See throttle.h. A bucket is read and written whole under a lock of the process (threads)
 * and an flock of the file (processes). The counts are no durable state: they are never
 * synced, and a crash forgets them, as a restart of any rate limiter does. */
#include "autoconfig.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "throttle.h"

struct slot {
	unsigned char key[16]; /* the first half of SHA-256 of the key */
	int64_t start_ms;      /* the window's start; 0: free */
	uint32_t count;
	uint32_t pad;
};

#define BUCKET_BYTES (OCTO_THROTTLE_WAYS * sizeof(struct slot))

struct octo_throttle {
	pthread_mutex_t lock;
	int fd;           /* -1: the table is mem */
	struct slot *mem; /* OCTO_THROTTLE_BUCKETS * OCTO_THROTTLE_WAYS */
};

enum octo_err octo_throttle_open(const struct octo_store *s, struct octo_throttle **out)
{
	struct octo_throttle *t = calloc(1, sizeof(*t));
	int dir;

	*out = NULL;
	if (t == NULL)
		return OCTO_ERR_NOMEM;
	pthread_mutex_init(&t->lock, NULL);
	t->fd = -1;
	if (s != NULL && (dir = octo_store_opendir(s, "auth", 1)) >= 0) {
		close(dir);
		t->fd = octo_store_openat(s, "auth/failures", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	}
	if (t->fd < 0 && (t->mem = calloc((size_t)OCTO_THROTTLE_BUCKETS * OCTO_THROTTLE_WAYS,
					  sizeof(struct slot))) == NULL) {
		octo_throttle_free(t);
		return OCTO_ERR_NOMEM;
	}
	*out = t;
	return OCTO_OK;
}

void octo_throttle_free(struct octo_throttle *t)
{
	if (t == NULL)
		return;
	if (t->fd >= 0)
		close(t->fd);
	free(t->mem);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static size_t bucket_of(const char *key, unsigned char hash[16])
{
	unsigned char sum[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)key, strlen(key), sum);
	memcpy(hash, sum, 16);
	return ((size_t)sum[16] << 8 | sum[17]) % OCTO_THROTTLE_BUCKETS;
}

/* Lock and read bucket b into slots (a file shorter than the table reads as free slots). */
static void bucket_get(struct octo_throttle *t, size_t b, struct slot *slots)
{
	pthread_mutex_lock(&t->lock);
	if (t->fd < 0) {
		memcpy(slots, t->mem + b * OCTO_THROTTLE_WAYS, BUCKET_BYTES);
		return;
	}
	(void)flock(t->fd, LOCK_EX);
	if (pread(t->fd, slots, BUCKET_BYTES, (off_t)(b * BUCKET_BYTES)) != (ssize_t)BUCKET_BYTES)
		memset(slots, 0, BUCKET_BYTES);
}

/* Write bucket b back (when dirty) and unlock. */
static void bucket_put(struct octo_throttle *t, size_t b, const struct slot *slots, int dirty)
{
	if (t->fd < 0) {
		if (dirty)
			memcpy(t->mem + b * OCTO_THROTTLE_WAYS, slots, BUCKET_BYTES);
	} else {
		/* A write that fails forgets a count: the limit is best effort, never an outage. */
		if (dirty)
			(void)!pwrite(t->fd, slots, BUCKET_BYTES, (off_t)(b * BUCKET_BYTES));
		(void)flock(t->fd, LOCK_UN);
	}
	pthread_mutex_unlock(&t->lock);
}

/* The slot of hash whose window is still open, or NULL. */
static struct slot *find(struct slot *slots, const unsigned char hash[16], int64_t window_ms,
			 int64_t now_ms)
{
	size_t i;

	for (i = 0; i < OCTO_THROTTLE_WAYS; i++)
		if (slots[i].start_ms != 0 && memcmp(slots[i].key, hash, 16) == 0 &&
		    now_ms >= slots[i].start_ms && now_ms - slots[i].start_ms < window_ms)
			return &slots[i];
	return NULL;
}

int64_t octo_throttle_wait(struct octo_throttle *t, const char *key, int limit, int64_t window_ms,
			   int64_t now_ms)
{
	struct slot slots[OCTO_THROTTLE_WAYS], *s;
	unsigned char hash[16];
	size_t b = bucket_of(key, hash);
	int64_t wait = 0;

	if (limit <= 0)
		return 0;
	bucket_get(t, b, slots);
	s = find(slots, hash, window_ms, now_ms);
	if (s != NULL && s->count >= (uint32_t)limit)
		wait = s->start_ms + window_ms - now_ms;
	bucket_put(t, b, slots, 0);
	return wait;
}

void octo_throttle_fail(struct octo_throttle *t, const char *key, int64_t window_ms, int64_t now_ms)
{
	struct slot slots[OCTO_THROTTLE_WAYS], *s;
	unsigned char hash[16];
	size_t i, b = bucket_of(key, hash);

	bucket_get(t, b, slots);
	s = find(slots, hash, window_ms, now_ms);
	if (s == NULL) { /* a new window, in the slot whose window began first (free: 0) */
		s = &slots[0];
		for (i = 1; i < OCTO_THROTTLE_WAYS; i++)
			if (slots[i].start_ms < s->start_ms)
				s = &slots[i];
		memcpy(s->key, hash, 16);
		s->start_ms = now_ms > 0 ? now_ms : 1;
		s->count = 0;
	}
	if (s->count < UINT32_MAX)
		s->count++;
	bucket_put(t, b, slots, 1);
}
