/* SPDX-License-Identifier: Apache-2.0 */
/* See store-record.h. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bounds.h"
#include "fsutil.h"
#include "store-record.h"
#include "store-repo.h"
#include "strv.h"

/* A record file's header at its longest, and the largest value (a referrer's descriptor). */
#define RECORD_HEAD_MAX (2 * 20 + OCTO_NODE_ID_MAX + 8)
#define RECORD_VALUE_MAX OCTO_BOUND_DESCRIPTOR
/* _tombstones/_referrers/<alg>/<hex>/<entry>: the deepest key, four levels down. */
#define TOMBSTONE_DEPTH 4

void octo_store_record_cleanup(struct octo_store_record *sr)
{
	free(sr->text);
	sr->text = NULL;
}

static enum octo_err record_rels(const char *repo, const char *key, char *live, char *tomb)
{
	enum octo_err err =
		octo_store_path(live, OCTO_STORE_PATH_MAX, "repositories/%s/%s", repo, key);

	return err != OCTO_OK ? err
			      : octo_store_path(tomb, OCTO_STORE_PATH_MAX,
						"repositories/%s/_tombstones/%s", repo, key);
}

/* One record file: OCTO_OK, missing, or OCTO_ERR_IO when it is not a record of ours. */
static enum octo_err read_record(const struct octo_store *s, const char *rel, size_t max,
				 enum octo_err missing, struct octo_store_record *out)
{
	size_t len;
	enum octo_err err =
		octo_store_read(s, rel, max + RECORD_HEAD_MAX, missing, &out->text, &len);

	if (err == OCTO_ERR_TOO_LARGE)
		return OCTO_ERR_IO;
	if (err != OCTO_OK)
		return err;
	if (octo_record_parse(out->text, len, &out->rec, out->node) != 0 ||
	    out->rec.value_len > max) {
		octo_store_record_cleanup(out);
		return OCTO_ERR_IO;
	}
	return OCTO_OK;
}

enum octo_err octo_store_record_get(const struct octo_store *s, const char *repo, const char *key,
				    size_t max, enum octo_err missing,
				    struct octo_store_record *out)
{
	char live[OCTO_STORE_PATH_MAX], tomb[OCTO_STORE_PATH_MAX];
	struct octo_store_record t = {.text = NULL};
	enum octo_err err = record_rels(repo, key, live, tomb);

	out->text = NULL;
	if (err == OCTO_OK)
		err = read_record(s, live, max, missing, out);
	if (err != OCTO_OK || out->rec.tombstone) { /* a tombstone where a value belongs */
		octo_store_record_cleanup(out);
		return err != OCTO_OK ? err : OCTO_ERR_IO;
	}
	/* Usually nothing: a tombstone beside a live file is a crash between the two steps of
	 * a write (the live one newer) or of a delete (the tombstone newer). */
	if (read_record(s, tomb, 0, OCTO_ERR_NAME_UNKNOWN, &t) == OCTO_OK) {
		if (t.rec.tombstone && octo_record_cmp(&t.rec, &out->rec) > 0) {
			octo_store_record_cleanup(out);
			err = missing;
		}
		octo_store_record_cleanup(&t);
	}
	return err;
}

/* r against the record at rel, as octo_record_cmp: > 0 also when there is none or it is
 * not ours (a write repairs it), 0 for the same write; *there says whether a file is there. */
static int cmp_with(const struct octo_store *s, const char *rel, const struct octo_record *r,
		    int *there)
{
	struct octo_store_record cur;
	enum octo_err err = read_record(s, rel, RECORD_VALUE_MAX, OCTO_ERR_NAME_UNKNOWN, &cur);
	int cmp = 1;

	*there = err != OCTO_ERR_NAME_UNKNOWN;
	if (err == OCTO_OK) {
		cmp = octo_record_cmp(r, &cur.rec);
		octo_store_record_cleanup(&cur);
	}
	return cmp;
}

enum octo_err octo_store_record_put(const struct octo_store *s, const char *repo, const char *key,
				    const struct octo_record *r, int *won)
{
	char live[OCTO_STORE_PATH_MAX], tomb[OCTO_STORE_PATH_MAX], tmp[OCTO_STORE_PATH_MAX];
	char lock_rel[OCTO_STORE_PATH_MAX];
	const char *target, *other;
	enum octo_err err = record_rels(repo, key, live, tomb);
	int lock, at_target, at_other, wins, cmp_target, cmp_other, ignored;
	size_t len;
	char *text;

	if (won == NULL)
		won = &ignored;
	*won = 0;
	if (err == OCTO_OK)
		err = octo_store_path(lock_rel, sizeof(lock_rel), "repositories/%s/_records.lock",
				      repo);
	if (err != OCTO_OK)
		return err;
	target = r->tombstone ? tomb : live;
	other = r->tombstone ? live : tomb;
	text = octo_record_format(r, &len);
	if (text == NULL)
		return OCTO_ERR_NOMEM;
	/* The bytes are synced before the lock, which covers only compare and rename. */
	err = octo_store_write_temp(s, target, text, len, tmp, sizeof(tmp));
	free(text);
	if (err != OCTO_OK)
		return err;
	lock = octo_store_lock(s, lock_rel, 1);
	if (lock < 0) {
		octo_store_unmark(s, tmp);
		return octo_fs_fail("lock", lock_rel, errno);
	}
	cmp_target = cmp_with(s, target, r, &at_target);
	cmp_other = cmp_with(s, other, r, &at_other);
	wins = cmp_target > 0 && cmp_other > 0;
	if (cmp_target < 0 || cmp_other < 0)
		octo_store_note_lost(s); /* a conflict, which the rule resolved */
	if (!wins) {
		/* What won may come from a writer that died before syncing its directory: this
		 * caller's success rests on it too. */
		err = octo_store_unmark(s, tmp);
		if (err == OCTO_OK && at_target)
			err = octo_store_sync_parent(s, target);
		if (err == OCTO_OK && at_other)
			err = octo_store_sync_parent(s, other);
	} else {
		err = octo_store_rename(s, tmp, target);
		/* The new file is durable before the old one goes, so a crash leaves one of them. */
		if (err == OCTO_OK && at_other)
			err = octo_store_sync_parent(s, target);
		if (err == OCTO_OK && at_other)
			err = octo_store_remove(s, other, OCTO_OK);
		if (err != OCTO_OK)
			octo_store_unmark(s, tmp);
	}
	close(lock); /* releases the lock */
	if (err == OCTO_OK && wins && !at_other)
		err = octo_store_sync_parent(s, target);
	*won = err == OCTO_OK && wins;
	return err;
}

static enum octo_err record_keys(int fd, const char *prefix, int depth, struct octo_strv *keys);

enum octo_err octo_store_record_read(const struct octo_store *s, const char *repo, const char *key,
				     struct octo_store_record *out)
{
	char live[OCTO_STORE_PATH_MAX], tomb[OCTO_STORE_PATH_MAX];
	struct octo_store_record t = {.text = NULL};
	enum octo_err err = record_rels(repo, key, live, tomb), terr;

	out->text = NULL;
	if (err != OCTO_OK)
		return err;
	err = read_record(s, live, RECORD_VALUE_MAX, OCTO_ERR_NAME_UNKNOWN, out);
	if (err == OCTO_OK && out->rec.tombstone) {
		octo_store_record_cleanup(out);
		err = OCTO_ERR_IO;
	}
	if (err != OCTO_OK && err != OCTO_ERR_NAME_UNKNOWN)
		return err;
	terr = read_record(s, tomb, 0, OCTO_ERR_NAME_UNKNOWN, &t);
	if (terr == OCTO_OK && !t.rec.tombstone) {
		octo_store_record_cleanup(&t);
		terr = OCTO_ERR_IO;
	}
	if (terr == OCTO_ERR_NAME_UNKNOWN)
		return err;
	if (terr != OCTO_OK) {
		octo_store_record_cleanup(out);
		return terr;
	}
	if (err == OCTO_OK && octo_record_cmp(&out->rec, &t.rec) > 0) {
		octo_store_record_cleanup(&t);
		return OCTO_OK;
	}
	octo_store_record_cleanup(out);
	*out = t;
	/* rec points into t.text, whose node buffer moved with the copy */
	out->rec.stamp.node = out->node;
	return OCTO_OK;
}

/* The keys of one repository's records: its live ones under its record directories, and
 * its tombstones (the two lists overlap only after a crash). */
static enum octo_err repo_keys(int dir, struct octo_strv *keys)
{
	static const char *const roots[] = {"_manifests", "_layers", "_referrers", "_tombstones"};
	enum octo_err err = OCTO_OK;
	size_t i;

	for (i = 0; err == OCTO_OK && i < sizeof(roots) / sizeof(roots[0]); i++) {
		int tombs = strcmp(roots[i], "_tombstones") == 0;
		char prefix[32];
		int fd = openat(dir, roots[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		snprintf(prefix, sizeof(prefix), "%s/", tombs ? "" : roots[i]);
		err = record_keys(fd, tombs ? "" : prefix, tombs ? 1 : 2, keys);
	}
	return err;
}

enum octo_err octo_store_record_each(const struct octo_store *s, const char *repo, int dir,
				     int (*is_key)(const char *key), octo_store_record_fn fn,
				     void *ctx)
{
	struct octo_strv keys = {0};
	enum octo_err err = repo_keys(dir, &keys);
	size_t i;

	octo_strv_sort(&keys, strcmp);
	for (i = 0; err == OCTO_OK && i < keys.n; i++) {
		struct octo_store_record r;
		enum octo_err rerr;
		if (i > 0 && strcmp(keys.v[i], keys.v[i - 1]) == 0)
			continue; /* live and tombstone both: read once, the winner */
		if (!is_key(keys.v[i]))
			continue; /* an index or a lock beside the records */
		rerr = octo_store_record_read(s, repo, keys.v[i], &r);
		if (rerr == OCTO_ERR_NAME_UNKNOWN || rerr == OCTO_ERR_IO)
			continue; /* gone since the listing, or not a record of ours */
		if (rerr != OCTO_OK) {
			err = rerr;
			break;
		}
		err = fn(ctx, keys.v[i], &r.rec);
		octo_store_record_cleanup(&r);
	}
	octo_strv_cleanup(&keys);
	return err;
}

/* Expiry of one repository's tombstones. */
struct expiry {
	const struct octo_store *s;
	uint64_t now_ms, ttl_ms;
	size_t removed;
};

/* The files below the directory fd (consumed) down to TOMBSTONE_DEPTH, as keys: prefix is
 * the key so far ("" or "a/b/") at depth (1 for a directory under the repository's). */
static enum octo_err record_keys(int fd, const char *prefix, int depth, struct octo_strv *keys)
{
	enum octo_err err = OCTO_OK;
	char key[OCTO_STORE_PATH_MAX];
	struct dirent *e;
	DIR *d = fdopendir(fd);

	if (d == NULL) {
		close(fd);
		return OCTO_OK;
	}
	while (err == OCTO_OK && (e = readdir(d)) != NULL) {
		int n, sub;

		if (e->d_name[0] == '.')
			continue; /* temporaries go with the sweep */
		n = snprintf(key, sizeof(key), "%s%s", prefix, e->d_name);
		if (n < 0 || (size_t)n + 2 >= sizeof(key))
			continue;
		sub = depth < TOMBSTONE_DEPTH
			      ? openat(dirfd(d), e->d_name,
				       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
			      : -1;
		if (sub < 0) { /* a key: its reader reads only a record file there */
			if (octo_strv_push(keys, key, (size_t)n) != 0)
				err = OCTO_ERR_NOMEM;
			continue;
		}
		key[n] = '/';
		key[n + 1] = '\0';
		err = record_keys(sub, key, depth + 1, keys);
	}
	closedir(d);
	return err;
}

static int expired(const struct expiry *x, const struct octo_record *r)
{
	return r->tombstone && r->stamp.time_ms <= x->now_ms &&
	       x->now_ms - r->stamp.time_ms >= x->ttl_ms;
}

/* Remove key's tombstone if it is still the one that expired, under the record lock. */
static enum octo_err expire_one(struct expiry *x, const char *repo, const char *key)
{
	char live[OCTO_STORE_PATH_MAX], tomb[OCTO_STORE_PATH_MAX], lock_rel[OCTO_STORE_PATH_MAX];
	struct octo_store_record t;
	enum octo_err err = record_rels(repo, key, live, tomb);
	int lock, at_live;

	if (err == OCTO_OK)
		err = octo_store_path(lock_rel, sizeof(lock_rel), "repositories/%s/_records.lock",
				      repo);
	if (err != OCTO_OK || (lock = octo_store_lock(x->s, lock_rel, 0)) < 0)
		return err;
	if (read_record(x->s, tomb, 0, OCTO_ERR_NAME_UNKNOWN, &t) == OCTO_OK) {
		if (expired(x, &t.rec)) {
			/* a live file the tombstone beats goes first (a crash mid-delete) */
			if (cmp_with(x->s, live, &t.rec, &at_live) <= 0 || !at_live ||
			    (err = octo_store_remove(x->s, live, OCTO_OK)) == OCTO_OK)
				err = octo_store_remove(x->s, tomb, OCTO_OK);
			x->removed += err == OCTO_OK;
		}
		octo_store_record_cleanup(&t);
	}
	close(lock);
	return err;
}

static enum octo_err expire_repo(void *ctx, int dir, const char *name)
{
	struct expiry *x = ctx;
	struct octo_strv keys = {0};
	enum octo_err err;
	size_t i;
	int fd = openat(dir, "_tombstones", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return OCTO_OK;
	err = record_keys(fd, "", 1, &keys);
	for (i = 0; err == OCTO_OK && i < keys.n; i++)
		err = expire_one(x, name, keys.v[i]);
	octo_strv_cleanup(&keys);
	return err;
}

enum octo_err octo_store_expire_tombstones(const struct octo_store *s, uint64_t now_ms,
					   uint64_t ttl_ms, size_t *removed)
{
	struct expiry x = {.s = s, .now_ms = now_ms, .ttl_ms = ttl_ms};
	enum octo_err err = octo_store_repo_walk(s, expire_repo, &x);

	*removed = x.removed;
	return err;
}
