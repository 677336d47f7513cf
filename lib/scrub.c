/* SPDX-License-Identifier: Apache-2.0 */
/* See scrub.h. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bucket.h"
#include "clock.h"
#include "fsutil.h"
#include "metrics.h"
#include "report.h"
#include "scrub.h"
#include "store-blob.h"
#include "store-wanted.h"

#define SCRUB_CHUNK (1 << 20)

struct run {
	const struct octo_store *s;
	const struct octo_scrub_options *o;
	struct octo_scrub_result *r;
	unsigned char *buf;
	uint64_t total;
};

static int hash_into(void *ctx, const void *data, size_t len)
{
	octo_hasher_update(ctx, data, len);
	return 0;
}

/* The verdict on d's content, hashed by h over done bytes. */
static void judge(struct run *run, const struct octo_digest *d, struct octo_hasher *h,
		  uint64_t done, int *ok, char *why, size_t size)
{
	struct octo_digest actual;
	char ds[OCTO_DIGEST_MAX_STRING];

	run->r->blobs++;
	run->r->bytes += done;
	if (!*ok)
		return;
	octo_hasher_final(h, &actual);
	if (!octo_digest_equal(&actual, d)) {
		octo_digest_format(&actual, ds, sizeof(ds));
		snprintf(why, size, "%" PRIu64 " bytes that hash to %s", done, ds);
		*ok = 0;
	}
}

/* check() for content in the bucket: an object missing there is damage, a bucket that does not
 * answer is the run's failure. */
static enum octo_err check_in_bucket(struct run *run, const struct octo_digest *d, int *ok,
				     char *why, size_t size)
{
	struct octo_hasher *h;
	uint64_t placeholder;
	enum octo_err err = octo_store_blob_stat(run->s, d, &placeholder);

	if (err != OCTO_OK)
		return err == OCTO_ERR_BLOB_UNKNOWN ? OCTO_OK : err; /* gone meanwhile */
	h = octo_hasher_new(d->alg);
	if (h == NULL)
		return OCTO_ERR_NOMEM;
	err = octo_store_blob_stream(run->s, d, 0, 0, hash_into, h);
	if (err == OCTO_ERR_BLOB_UNKNOWN) {
		snprintf(why, size, "missing from the bucket");
		*ok = 0;
		err = OCTO_OK;
	}
	if (err == OCTO_OK)
		judge(run, d, h, octo_hasher_length(h), ok, why, size);
	octo_hasher_free(h);
	return err;
}

/* Hash d's content: *ok when it is its digest; why says what it is instead. */
static enum octo_err check(struct run *run, const struct octo_digest *d, int *ok, char *why,
			   size_t size)
{
	char rel[OCTO_STORE_PATH_MAX];
	struct octo_hasher *h;
	uint64_t len, done = 0;
	int fd;
	enum octo_err err = octo_store_blob_rel(d, rel, sizeof(rel));

	*ok = 1;
	if (err == OCTO_OK && octo_store_bucket(run->s) != NULL)
		return check_in_bucket(run, d, ok, why, size);
	if (err == OCTO_OK)
		err = octo_store_open_file(run->s, rel, O_RDONLY, OCTO_ERR_BLOB_UNKNOWN, &fd, &len);
	if (err != OCTO_OK)
		return err == OCTO_ERR_BLOB_UNKNOWN ? OCTO_OK : err; /* gone meanwhile */
	h = octo_hasher_new(d->alg);
	if (h == NULL) {
		close(fd);
		return OCTO_ERR_NOMEM;
	}
	for (;;) {
		ssize_t n = read(fd, run->buf, SCRUB_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) { /* EIO: a bad sector is damage too */
			snprintf(why, size, "unreadable at byte %" PRIu64 ": %s", done,
				 strerror(errno));
			*ok = 0;
			break;
		}
		if (n == 0)
			break;
		octo_hasher_update(h, run->buf, (size_t)n);
		done += (uint64_t)n;
	}
	close(fd);
	judge(run, d, h, done, ok, why, size);
	octo_hasher_free(h);
	return OCTO_OK;
}

/* Move d's damaged content aside, under its lock (no renewal or sweep meanwhile). */
static enum octo_err quarantine(struct run *run, const struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX], to[OCTO_STORE_PATH_MAX];
	int64_t renewed;
	uint64_t size;
	int fd, placed = 0;
	enum octo_err err = octo_store_blob_lock(run->s, d, &fd, &renewed, &size);

	if (err != OCTO_OK)
		return err == OCTO_ERR_BLOB_UNKNOWN ? OCTO_OK : err;
	err = octo_store_blob_rel(d, rel, sizeof(rel));
	if (err == OCTO_OK)
		err = octo_store_path(to, sizeof(to), "quarantine/%s-%s.%" PRIu64,
				      octo_digest_alg_name(d->alg), d->hex, octo_clock_wall_ms());
	if (err == OCTO_OK)
		err = octo_store_place(run->s, rel, to, &placed);
	if (err == OCTO_OK)
		err = octo_store_sync_parent(run->s, rel);
	/* the bucket's damaged object goes too: a push of the same bytes would keep it */
	if (err == OCTO_OK && octo_store_bucket(run->s) != NULL)
		err = octo_bucket_remove(octo_store_bucket(run->s), d);
	if (err == OCTO_OK) {
		octo_metrics_gauge_add(octo_store_metrics(run->s), OCTO_GAUGE_BLOBS, -1);
		octo_metrics_gauge_add(octo_store_metrics(run->s), OCTO_GAUGE_BLOB_BYTES,
				       -(int64_t)size);
	}
	close(fd);
	return err;
}

static enum octo_err scrub_blob(void *ctx, const struct octo_digest *d, uint64_t size)
{
	struct run *run = ctx;
	char why[200], ds[OCTO_DIGEST_MAX_STRING];
	int ok;
	enum octo_err err = check(run, d, &ok, why, sizeof(why));

	(void)size;
	if (run->o->progress != NULL && (run->r->blobs % 64 == 0 || run->r->blobs == run->total))
		run->o->progress(run->o->ctx, "scrub", run->r->blobs, run->total);
	if (err != OCTO_OK || ok)
		return err;
	run->r->corrupt++;
	octo_digest_format(d, ds, sizeof(ds));
	if (run->o->corrupt != NULL)
		run->o->corrupt(run->o->ctx, ds, why);
	if (run->o->dry_run)
		return OCTO_OK;
	err = quarantine(run, d);
	if (err == OCTO_OK)
		run->r->quarantined++;
	if (err == OCTO_OK && run->o->refetch) {
		err = octo_store_want_blob(run->s, d, "");
		if (err == OCTO_OK)
			run->r->refetching++;
	}
	return err;
}

enum octo_err octo_scrub_run(const struct octo_store *s, const struct octo_scrub_options *o,
			     struct octo_scrub_result *r)
{
	struct run run = {.s = s, .o = o, .r = r};
	uint64_t bytes;
	enum octo_err err;

	memset(r, 0, sizeof(*r));
	r->dry_run = (uint64_t)o->dry_run;
	r->started_ms = octo_clock_wall_ms();
	run.buf = malloc(SCRUB_CHUNK);
	if (run.buf == NULL)
		return OCTO_ERR_NOMEM;
	err = octo_store_blob_census(s, &run.total, &bytes);
	if (err == OCTO_OK)
		err = octo_store_blob_each(s, scrub_blob, &run);
	free(run.buf);
	r->duration_ms = octo_clock_wall_ms() - r->started_ms;
	if (!o->dry_run) {
		struct octo_metrics *m = octo_store_metrics(s);
		octo_metrics_op_add(m, OCTO_OP_SCRUB_RUNS, 1);
		octo_metrics_op_add(m, OCTO_OP_SCRUB_BLOBS, r->blobs);
		octo_metrics_op_add(m, OCTO_OP_SCRUB_BYTES, r->bytes);
		octo_metrics_op_add(m, OCTO_OP_SCRUB_CORRUPT, r->corrupt);
		octo_metrics_op_set(m, OCTO_OP_SCRUB_LAST, r->started_ms);
		if (err == OCTO_OK)
			err = octo_scrub_save(s, r);
	}
	return err;
}

#define FIELD(f) #f, offsetof(struct octo_scrub_result, f)
static const struct octo_report_field fields[] = {
	{FIELD(started_ms)}, {FIELD(duration_ms)}, {FIELD(blobs)},      {FIELD(bytes)},
	{FIELD(corrupt)},    {FIELD(quarantined)}, {FIELD(refetching)}, {FIELD(dry_run)},
};

enum octo_err octo_scrub_save(const struct octo_store *s, const struct octo_scrub_result *r)
{
	return octo_report_save(s, "scrub", fields, sizeof(fields) / sizeof(fields[0]), r);
}

enum octo_err octo_scrub_last(const struct octo_store *s, struct octo_scrub_result *r)
{
	return octo_report_load(s, "scrub", fields, sizeof(fields) / sizeof(fields[0]), r);
}
