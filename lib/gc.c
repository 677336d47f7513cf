/* SPDX-License-Identifier: Apache-2.0 */
/* See gc.h. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "clock.h"
#include "collect.h"
#include "event.h"
#include "fsutil.h"
#include "gc.h"
#include "manifest.h"
#include "metrics.h"
#include "remove.h"
#include "report.h"
#include "store-blob.h"
#include "store-manifest.h"
#include "store-record.h"
#include "store-repo.h"
#include "store-wanted.h"

#define GC_LOCK "gc.lock"

/* A set of digests, open addressing on the digest's own (uniform) first bytes. Entries are the
 * digests in binary (a tenth of a million blobs take 13 MB, not the 27 of their hex forms). */
struct digest_key {
	uint8_t used; /* 1 + the algorithm; 0: empty */
	uint8_t bin[OCTO_DIGEST_MAX_HEX / 2];
};

struct digest_set {
	struct digest_key *v;
	size_t cap, n;
};

static int nibble(char c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

static void key_of(const struct octo_digest *d, struct digest_key *k)
{
	size_t i;

	memset(k, 0, sizeof(*k));
	k->used = (uint8_t)(1 + d->alg);
	for (i = 0; d->hex[2 * i] != '\0' && i < sizeof(k->bin); i++)
		k->bin[i] = (uint8_t)(nibble(d->hex[2 * i]) << 4 | nibble(d->hex[2 * i + 1]));
}

static size_t slot_of(const struct digest_set *set, const struct digest_key *k)
{
	uint64_t h;

	memcpy(&h, k->bin, sizeof(h));
	return (size_t)(h ^ k->used) & (set->cap - 1);
}

static int same_key(const struct digest_key *a, const struct digest_key *b)
{
	return a->used == b->used && memcmp(a->bin, b->bin, sizeof(a->bin)) == 0;
}

static int set_has(const struct digest_set *set, const struct octo_digest *d)
{
	struct digest_key k;
	size_t i;

	if (set->cap == 0)
		return 0;
	key_of(d, &k);
	for (i = slot_of(set, &k); set->v[i].used; i = (i + 1) & (set->cap - 1))
		if (same_key(&set->v[i], &k))
			return 1;
	return 0;
}

static void set_put(struct digest_set *set, const struct digest_key *k)
{
	size_t i;

	for (i = slot_of(set, k); set->v[i].used; i = (i + 1) & (set->cap - 1))
		if (same_key(&set->v[i], k))
			return;
	set->v[i] = *k;
	set->n++;
}

static int set_add(struct digest_set *set, const struct octo_digest *d)
{
	struct digest_key k;
	size_t i;

	if (2 * (set->n + 1) > set->cap) {
		struct digest_set bigger = {NULL, set->cap ? 2 * set->cap : 1024, 0};
		bigger.v = calloc(bigger.cap, sizeof(*bigger.v));
		if (bigger.v == NULL)
			return -1;
		for (i = 0; i < set->cap; i++)
			if (set->v[i].used)
				set_put(&bigger, &set->v[i]);
		free(set->v);
		*set = bigger;
	}
	key_of(d, &k);
	set_put(set, &k);
	return 0;
}

static void set_free(struct digest_set *set)
{
	free(set->v);
	memset(set, 0, sizeof(*set));
}

/* A repository as its records say, for the mark. */
struct revision {
	struct octo_digest d;
	uint64_t time_ms;
	int tagged, kept, removed, has_subject;
	struct octo_digest subject;
	size_t first_ref, n_refs; /* in repo.refs */
};

struct ref {
	struct octo_digest d;
	int64_t size;
	int is_manifest;
};

struct link {
	struct octo_digest d;
	uint64_t time_ms;
};

struct repo {
	const char *name;
	struct revision *revs;
	size_t n_revs, cap_revs;
	struct octo_digest *tags;
	size_t n_tags, cap_tags;
	struct link *links;
	size_t n_links, cap_links;
	struct ref *refs;
	size_t n_refs, cap_refs;
	int damaged; /* a revision whose manifest could not be read: sweep nothing here */
};

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	void *p;
	size_t c;

	if (n < *cap)
		return 0;
	c = *cap ? 2 * *cap : 16;
	p = realloc(*v, c * size);
	if (p == NULL)
		return -1;
	*v = p;
	*cap = c;
	return 0;
}

static void repo_cleanup(struct repo *r)
{
	free(r->revs);
	free(r->tags);
	free(r->links);
	free(r->refs);
	memset(r, 0, sizeof(*r));
}

static int is_key(const char *key)
{
	struct octo_record_key k;

	return octo_record_key_parse(key, strlen(key), &k) == 0;
}

static enum octo_err take_record(void *ctx, const char *key, const struct octo_record *rec)
{
	struct repo *r = ctx;
	struct octo_record_key k;
	char ds[OCTO_DIGEST_MAX_STRING];

	if (rec->tombstone || octo_record_key_parse(key, strlen(key), &k) != 0)
		return OCTO_OK;
	switch (k.kind) {
	case OCTO_RECORD_REVISION:
		if (grow((void **)&r->revs, &r->cap_revs, r->n_revs, sizeof(*r->revs)) != 0)
			return OCTO_ERR_NOMEM;
		memset(&r->revs[r->n_revs], 0, sizeof(*r->revs));
		r->revs[r->n_revs].d = k.digest;
		r->revs[r->n_revs++].time_ms = rec->stamp.time_ms;
		break;
	case OCTO_RECORD_TAG:
		if (rec->value_len >= sizeof(ds))
			break;
		memcpy(ds, rec->value, rec->value_len);
		ds[rec->value_len] = '\0';
		if (grow((void **)&r->tags, &r->cap_tags, r->n_tags, sizeof(*r->tags)) != 0)
			return OCTO_ERR_NOMEM;
		if (octo_digest_parse(ds, rec->value_len, &r->tags[r->n_tags]) == OCTO_OK)
			r->n_tags++;
		break;
	case OCTO_RECORD_LINK:
		if (grow((void **)&r->links, &r->cap_links, r->n_links, sizeof(*r->links)) != 0)
			return OCTO_ERR_NOMEM;
		r->links[r->n_links].d = k.digest;
		r->links[r->n_links++].time_ms = rec->stamp.time_ms;
		break;
	case OCTO_RECORD_REFERRER: /* the manifest's subject says as much */
		break;
	}
	return OCTO_OK;
}

/* What revision v's manifest names: its blobs and children into r->refs, its subject. */
static enum octo_err read_refs(const struct octo_store *s, const struct octo_gc_options *o,
			       struct repo *r, struct revision *v)
{
	char type[OCTO_MANIFEST_TYPE_MAX];
	const char *detail;
	struct octo_manifest m;
	char *body;
	size_t len, i;
	enum octo_err err = octo_store_manifest_type(s, r->name, &v->d, type, sizeof(type));

	if (err == OCTO_OK)
		err = octo_store_read_blob(s, &v->d, o->max_manifest_size, &body, &len);
	if (err != OCTO_OK)
		return err;
	err = octo_manifest_parse(body, len, type, &m, &detail);
	free(body);
	if (err != OCTO_OK)
		return OCTO_ERR_IO; /* valid when it was pushed: the store is damaged */
	v->has_subject = m.has_subject;
	v->subject = m.subject;
	v->first_ref = r->n_refs;
	for (i = 0; i < m.n_refs && err == OCTO_OK; i++) {
		if (m.refs[i].external)
			continue;
		if (grow((void **)&r->refs, &r->cap_refs, r->n_refs, sizeof(*r->refs)) != 0) {
			err = OCTO_ERR_NOMEM;
			break;
		}
		r->refs[r->n_refs].d = m.refs[i].digest;
		r->refs[r->n_refs].size = m.refs[i].size;
		r->refs[r->n_refs++].is_manifest = m.refs[i].is_manifest;
	}
	v->n_refs = r->n_refs - v->first_ref;
	octo_manifest_cleanup(&m);
	return err;
}

static int names_manifests(const struct repo *r, const struct revision *v)
{
	size_t j;

	for (j = v->first_ref; j < v->first_ref + v->n_refs; j++)
		if (r->refs[j].is_manifest)
			return 1;
	return 0;
}

static int digest_order(const struct octo_digest *a, const struct octo_digest *b)
{
	return a->alg != b->alg ? (a->alg < b->alg ? -1 : 1) : strcmp(a->hex, b->hex);
}

static int by_digest(const void *a, const void *b)
{
	return digest_order(&((const struct revision *)a)->d, &((const struct revision *)b)->d);
}

/* The revisions are sorted by digest (read_repo): a lookup costs the same in a repository of
 * ten thousand manifests as in one of ten. */
static struct revision *find_rev(struct repo *r, const struct octo_digest *d)
{
	struct revision key;

	if (r->n_revs == 0)
		return NULL;
	key.d = *d;
	return bsearch(&key, r->revs, r->n_revs, sizeof(*r->revs), by_digest);
}

/* The revisions that stay whatever else does: tagged ones; every one but referrers unless
 * delete_untagged; every referrer under the "keep" policy. */
static void mark_roots(struct repo *r, const struct octo_gc_options *o)
{
	size_t i;

	for (i = 0; i < r->n_revs; i++) {
		struct revision *v = &r->revs[i];
		v->kept = !v->removed && (v->tagged || (!o->delete_untagged && !v->has_subject) ||
					  (v->has_subject && !o->remove_orphan_referrers));
	}
}

/* Until nothing changes: the children of kept indexes and the referrers of kept subjects. */
static void mark_reached(struct repo *r)
{
	size_t i, j;
	int changed = 1;

	while (changed) {
		changed = 0;
		for (i = 0; i < r->n_revs; i++) {
			struct revision *v = &r->revs[i], *subject;
			if (!v->kept && !v->removed && v->has_subject &&
			    (subject = find_rev(r, &v->subject)) && subject->kept)
				v->kept = changed = 1;
			if (!v->kept)
				continue;
			for (j = v->first_ref; j < v->first_ref + v->n_refs; j++) {
				struct revision *c;
				if (r->refs[j].is_manifest && (c = find_rev(r, &r->refs[j].d)) &&
				    !c->kept && !c->removed)
					c->kept = changed = 1;
			}
		}
	}
}

struct run {
	const struct octo_store *s;
	struct octo_journal *j;
	const struct octo_gc_options *o;
	struct octo_gc_result *res;
	uint64_t threshold_ms;  /* renewed or written before it: old enough to go */
	struct digest_set live; /* content some repository still links or holds */
};

static void report(struct run *run, const char *kind, const char *repo, const struct octo_digest *d,
		   uint64_t size)
{
	char ds[OCTO_DIGEST_MAX_STRING];

	if (run->o->removed == NULL)
		return;
	octo_digest_format(d, ds, sizeof(ds));
	run->o->removed(run->o->ctx, kind, repo, ds, size);
}

/* Whether every other member agrees that this item may go (always, on a single node). */
static int agreed(struct run *run, const char *kind, const char *repo, const struct octo_digest *d)
{
	char item[OCTO_STORE_PATH_MAX], ds[OCTO_DIGEST_MAX_STRING];

	if (run->o->agreed == NULL)
		return 1;
	octo_digest_format(d, ds, sizeof(ds));
	octo_collect_item(item, sizeof(item), kind, repo, ds);
	if (octo_collect_agreed(run->o->agreed, item))
		return 1;
	run->res->kept_for_cluster++;
	return 0;
}

/* Under d's content lock: whether a record written at time_ms, naming d, is old enough to
 * go (the content's renewal too, when it is here). *fd holds the lock (-1 when the content is
 * not here). */
static enum octo_err lock_old(struct run *run, const struct octo_digest *d, uint64_t time_ms,
			      int *fd, int *old, uint64_t *size)
{
	int64_t renewed = 0;
	enum octo_err err = octo_store_blob_lock(run->s, d, fd, &renewed, size);

	if (err == OCTO_ERR_BLOB_UNKNOWN) {
		err = OCTO_OK;
		renewed = 0;
		*size = 0;
	}
	*old = err == OCTO_OK && time_ms < run->threshold_ms &&
	       (uint64_t)renewed < run->threshold_ms;
	if (err == OCTO_OK && !*old)
		run->res->kept_in_grace++;
	return err;
}

static enum octo_err sweep_revision(struct run *run, struct repo *r, struct revision *v)
{
	uint64_t size;
	int fd = -1, old;
	enum octo_err err = lock_old(run, &v->d, v->time_ms, &fd, &old, &size);

	if (err == OCTO_OK && old)
		old = agreed(run, "manifest", r->name, &v->d);
	if (err == OCTO_OK && old) {
		if (!run->o->dry_run)
			err = octo_remove_collected_manifest(run->s, run->j, r->name, &v->d,
							     v->has_subject ? &v->subject : NULL);
		if (err == OCTO_ERR_MANIFEST_UNKNOWN)
			err = OCTO_OK, old = 0; /* removed meanwhile */
		if (err == OCTO_OK && old) {
			v->removed = 1;
			run->res->manifests_removed++;
			report(run, "manifest", r->name, &v->d, size);
		}
	}
	if (fd >= 0)
		close(fd);
	if (err == OCTO_OK && !old)
		v->kept = 1; /* it stays: so do its references */
	return err;
}

static enum octo_err sweep_link(struct run *run, struct repo *r, struct link *l, int *removed)
{
	uint64_t size;
	int fd = -1, old;
	enum octo_err err = lock_old(run, &l->d, l->time_ms, &fd, &old, &size);

	*removed = 0;
	if (err == OCTO_OK && old)
		old = agreed(run, "link", r->name, &l->d);
	if (err == OCTO_OK && old) {
		if (!run->o->dry_run)
			err = octo_remove_collected_link(run->s, run->j, r->name, &l->d);
		if (err == OCTO_ERR_BLOB_UNKNOWN)
			err = OCTO_OK, old = 0;
		if (err == OCTO_OK && old) {
			*removed = 1;
			run->res->links_removed++;
			report(run, "link", r->name, &l->d, size);
		}
	}
	if (fd >= 0)
		close(fd);
	return err;
}

/* repo's records and its revisions' references, as the mark reads them. */
static enum octo_err read_repo(const struct octo_store *s, const char *name, size_t max_manifest,
			       struct repo *r)
{
	struct octo_gc_options o = {.max_manifest_size = max_manifest};
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = octo_store_path(rel, sizeof(rel), "repositories/%s", name);
	size_t i;
	int dir;

	memset(r, 0, sizeof(*r));
	r->name = name;
	if (err != OCTO_OK)
		return err;
	if ((dir = octo_store_opendir(s, rel, 0)) < 0)
		return errno == ENOENT ? OCTO_OK : octo_fs_fail("open", rel, errno);
	err = octo_store_record_each(s, name, dir, is_key, take_record, r);
	close(dir);
	if (r->n_revs > 1)
		qsort(r->revs, r->n_revs, sizeof(*r->revs), by_digest);
	for (i = 0; err == OCTO_OK && i < r->n_revs; i++) {
		enum octo_err rerr = read_refs(s, &o, r, &r->revs[i]);
		if (rerr == OCTO_ERR_NOMEM)
			err = rerr;
		else if (rerr != OCTO_OK)
			r->revs[i].removed =
				1; /* deleted since the walk, or unreadable: names nothing */
		if (rerr != OCTO_OK && rerr != OCTO_ERR_MANIFEST_UNKNOWN)
			r->damaged = 1;
	}
	return err;
}

/* Mark one repository, sweep what it no longer needs, and add what stays to run->live. */
static enum octo_err collect_repo(struct run *run, const char *name)
{
	struct repo r;
	struct digest_set named = {0};
	enum octo_err err = read_repo(run->s, name, run->o->max_manifest_size, &r);
	size_t i, j;

	for (i = 0; err == OCTO_OK && i < r.n_tags; i++) {
		struct revision *v = find_rev(&r, &r.tags[i]);
		if (v != NULL)
			v->tagged = 1;
	}
	run->res->repositories++;
	run->res->manifests += r.n_revs;
	run->res->links += r.n_links;
	if (err == OCTO_OK && r.damaged)
		run->res->skipped_repositories++;
	if (err == OCTO_OK && !r.damaged) {
		int pass;
		mark_roots(&r, run->o);
		mark_reached(&r);
		/* Indexes first: one kept in its grace keeps its children, which are then no
		 * longer candidates (an index of indexes is decided one level at a time). */
		for (pass = 0; pass < 2; pass++) {
			for (i = 0; err == OCTO_OK && i < r.n_revs; i++)
				if (!r.revs[i].kept && !r.revs[i].removed &&
				    (pass == 1 || names_manifests(&r, &r.revs[i])))
					err = sweep_revision(run, &r, &r.revs[i]);
			mark_reached(&r); /* what a revision kept in its grace names stays too */
		}
	}
	/* the blobs kept revisions name; everything, in a repository that could not be read */
	for (i = 0; err == OCTO_OK && i < r.n_revs; i++) {
		struct revision *v = &r.revs[i];
		if (!v->kept && !r.damaged)
			continue;
		if (set_add(&run->live, &v->d) != 0)
			err = OCTO_ERR_NOMEM;
		for (j = v->first_ref; err == OCTO_OK && j < v->first_ref + v->n_refs; j++)
			if (!r.refs[j].is_manifest && set_add(&named, &r.refs[j].d) != 0)
				err = OCTO_ERR_NOMEM;
	}
	for (i = 0; err == OCTO_OK && i < r.n_links; i++) {
		int removed = 0;
		if (!r.damaged && !set_has(&named, &r.links[i].d))
			err = sweep_link(run, &r, &r.links[i], &removed);
		if (err == OCTO_OK && !removed && set_add(&run->live, &r.links[i].d) != 0)
			err = OCTO_ERR_NOMEM;
	}
	set_free(&named);
	repo_cleanup(&r);
	return err;
}

struct blob_sweep {
	struct run *run;
	uint64_t done, total;
};

static enum octo_err sweep_blob(void *ctx, const struct octo_digest *d, uint64_t size)
{
	struct blob_sweep *b = ctx;
	struct run *run = b->run;
	enum octo_err err = OCTO_OK;
	int64_t renewed;
	int fd, cached;

	(void)size;
	run->res->blobs++;
	if (run->o->progress != NULL && (++b->done % 256 == 0 || b->done == b->total))
		run->o->progress(run->o->ctx, "sweep", b->done, b->total);
	/* in a cluster a cache copy (fetched for a client by a node that holds the blob for no
	 * one) may go whether or not it is named: its holders have it, a later pull fetches again */
	cached = run->o->agreed != NULL && octo_store_is_cached(run->s, d);
	if (!cached && set_has(&run->live, d))
		return OCTO_OK;
	err = octo_store_blob_lock(run->s, d, &fd, &renewed, &size);
	if (err == OCTO_ERR_BLOB_UNKNOWN)
		return OCTO_OK; /* gone meanwhile */
	if (err != OCTO_OK)
		return err;
	if ((uint64_t)renewed >= run->threshold_ms) {
		run->res->kept_in_grace++;
	} else if (run->o->agreed != NULL && !cached && !agreed(run, "blob", "", d)) {
		/* a copy this node holds for the cluster, which another member still needs */
	} else {
		if (!run->o->dry_run)
			err = octo_store_blob_remove_locked(run->s, d, fd);
		if (err == OCTO_OK && cached && !run->o->dry_run)
			err = octo_store_uncache(run->s, d);
		if (err == OCTO_OK) {
			run->res->blobs_removed++;
			run->res->bytes_freed += size;
			report(run, "blob", "", d, size);
		}
	}
	close(fd);
	return err;
}

static enum octo_err take_name(void *ctx, int dir, const char *name)
{
	(void)dir;
	return octo_strv_push(ctx, name, strlen(name)) == 0 ? OCTO_OK : OCTO_ERR_NOMEM;
}

/* octo_gc_run, the live set (what stays linked or held) into *live when it is not NULL. */
static enum octo_err gc_run(const struct octo_store *s, struct octo_journal *j,
			    const struct octo_gc_options *o, struct octo_gc_result *r,
			    struct digest_set *live)
{
	struct run run = {.s = s, .j = j, .o = o, .res = r};
	struct blob_sweep bs = {.run = &run};
	struct octo_strv names = {0};
	uint64_t count = 0, bytes, t;
	enum octo_err err;
	size_t i;
	int lock;

	memset(r, 0, sizeof(*r));
	r->dry_run = o->dry_run;
	lock = o->dry_run ? -1 : octo_store_openat(s, GC_LOCK, O_RDWR | O_CREAT, 0644);
	if (!o->dry_run && lock < 0)
		return octo_fs_fail("open", GC_LOCK, errno);
	if (lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) != 0) {
		close(lock);
		return OCTO_ERR_SESSION_BUSY;
	}
	r->started_ms = octo_clock_wall_ms();
	run.threshold_ms =
		r->started_ms > (uint64_t)o->grace_ms ? r->started_ms - (uint64_t)o->grace_ms : 0;
	err = octo_store_repo_walk(s, take_name, &names);
	for (i = 0; err == OCTO_OK && i < names.n; i++) {
		err = collect_repo(&run, names.v[i]);
		if (o->progress != NULL)
			o->progress(o->ctx, "mark", i + 1, names.n);
	}
	t = octo_clock_wall_ms();
	r->mark_ms = t - r->started_ms;
	if (err == OCTO_OK)
		err = octo_store_blob_census(s, &count, &bytes);
	bs.total = count;
	if (err == OCTO_OK)
		err = octo_store_blob_each(s, sweep_blob, &bs);
	r->sweep_ms = octo_clock_wall_ms() - t;
	if (!o->dry_run) {
		struct octo_metrics *m = octo_store_metrics(s);
		octo_metrics_op_add(m, OCTO_OP_GC_RUNS, 1);
		octo_metrics_op_add(m, OCTO_OP_GC_MANIFESTS, r->manifests_removed);
		octo_metrics_op_add(m, OCTO_OP_GC_LINKS, r->links_removed);
		octo_metrics_op_add(m, OCTO_OP_GC_BLOBS, r->blobs_removed);
		octo_metrics_op_add(m, OCTO_OP_GC_BYTES, r->bytes_freed);
		octo_metrics_op_set(m, OCTO_OP_GC_LAST, r->started_ms);
		octo_metrics_op_set(m, OCTO_OP_GC_LAST_DURATION, r->mark_ms + r->sweep_ms);
		if (err == OCTO_OK)
			err = octo_gc_save(s, r);
	}
	octo_strv_cleanup(&names);
	if (live != NULL)
		*live = run.live;
	else
		set_free(&run.live);
	if (lock >= 0)
		close(lock);
	return err;
}

enum octo_err octo_gc_run(const struct octo_store *s, struct octo_journal *j,
			  const struct octo_gc_options *o, struct octo_gc_result *r)
{
	return gc_run(s, j, o, r, NULL);
}

static void would_remove(void *ctx, const char *kind, const char *repo, const char *digest,
			 uint64_t size)
{
	char item[OCTO_STORE_PATH_MAX];

	(void)size;
	octo_collect_item(item, sizeof(item), kind, repo, digest);
	octo_strv_push(ctx, item, strlen(item)); /* out of memory: fewer go */
}

/* The dry run of o into items (sorted), and its live set when live is not NULL. */
static enum octo_err candidates(const struct octo_store *s, struct octo_journal *j,
				const struct octo_gc_options *o, struct octo_strv *items,
				struct digest_set *live)
{
	struct octo_gc_options dry = *o;
	struct octo_gc_result r;
	enum octo_err err;

	memset(items, 0, sizeof(*items));
	dry.dry_run = 1;
	dry.agreed = NULL;
	dry.progress = NULL;
	dry.removed = would_remove;
	dry.ctx = items;
	err = gc_run(s, j, &dry, &r, live);
	octo_strv_sort(items, strcmp);
	return err;
}

enum octo_err octo_gc_candidates(const struct octo_store *s, struct octo_journal *j,
				 const struct octo_gc_options *o, struct octo_strv *items)
{
	return candidates(s, j, o, items, NULL);
}

enum octo_err octo_gc_agree(const struct octo_store *s, struct octo_journal *j,
			    const struct octo_gc_options *o, const struct octo_strv *items,
			    struct octo_strv *agreed)
{
	struct octo_strv would;
	struct digest_set live = {0};
	enum octo_err err = candidates(s, j, o, &would, &live);
	size_t i;

	memset(agreed, 0, sizeof(*agreed));
	for (i = 0; err == OCTO_OK && i < items->n; i++) {
		const char *item = items->v[i], *dg = strrchr(item, ' ');
		struct octo_digest d;
		int yes = octo_collect_agreed(&would, item);
		/* content this node does not hold: agreed when nothing here links, holds or names it */
		if (!yes && strncmp(item, "blob ", 5) == 0 && dg != NULL &&
		    octo_digest_parse(dg + 1, strlen(dg + 1), &d) == OCTO_OK)
			yes = !set_has(&live, &d) &&
			      octo_store_blob_stat(s, &d, NULL) == OCTO_ERR_BLOB_UNKNOWN;
		if (yes && octo_strv_push(agreed, item, strlen(item)) != 0)
			err = OCTO_ERR_NOMEM;
	}
	octo_strv_cleanup(&would);
	set_free(&live);
	octo_strv_sort(agreed, strcmp);
	return err;
}

/* Whether repo still needs the record naming d (octo_gc_restore), and the link's size. */
static int still_needed(const struct repo *r, const struct octo_digest *d, int manifest,
			int64_t *size)
{
	size_t i, j;

	if (manifest) {
		for (i = 0; i < r->n_tags; i++)
			if (octo_digest_equal(&r->tags[i], d))
				return 1;
		return 0;
	}
	for (i = 0; i < r->n_revs; i++)
		for (j = r->revs[i].first_ref;
		     !r->revs[i].removed && j < r->revs[i].first_ref + r->revs[i].n_refs; j++)
			if (!r->refs[j].is_manifest && octo_digest_equal(&r->refs[j].d, d)) {
				*size = r->refs[j].size;
				return 1;
			}
	return 0;
}

enum octo_err octo_gc_restore(const struct octo_store *s, struct octo_journal *j, const char *repo,
			      const struct octo_digest *d, int manifest, size_t max_manifest_size,
			      int *restored)
{
	char key[OCTO_STORE_PATH_MAX], value[OCTO_MANIFEST_TYPE_MAX];
	struct octo_journal_change rec = {key, value};
	struct octo_record_stamp stamp;
	struct octo_manifest m;
	struct repo r;
	int64_t size = -1;
	const char *detail;
	char *body = NULL;
	size_t len;
	int needed;
	enum octo_err err = read_repo(s, repo, max_manifest_size, &r);

	*restored = 0;
	if (err != OCTO_OK)
		return err;
	needed = still_needed(&r, d, manifest, &size);
	repo_cleanup(&r);
	if (!needed)
		goto out;
	if (manifest) { /* its media type, from its bytes */
		if (octo_store_read_blob(s, d, max_manifest_size, &body, &len) != OCTO_OK ||
		    octo_manifest_parse(body, len, NULL, &m, &detail) != OCTO_OK)
			goto out; /* not here, or no media type of its own: nothing to restore from */
		snprintf(value, sizeof(value), "%s", m.media_type);
		octo_manifest_cleanup(&m);
		err = octo_store_revision_key(d, key, sizeof(key));
	} else {
		snprintf(value, sizeof(value), "%lld", (long long)size);
		err = octo_store_link_key(d, key, sizeof(key));
	}
	if (err == OCTO_OK)
		err = octo_journal_record(j, OCTO_EVENT_REPAIR, repo, d, NULL, &rec, 1, &stamp);
	if (err == OCTO_OK)
		err = manifest ? octo_store_link_manifest(s, repo, d, value, &stamp)
			       : octo_store_link_blob(s, repo, d, (uint64_t)size, &stamp);
	*restored = err == OCTO_OK;
out:
	free(body);
	return err;
}

#define FIELD(f) #f, offsetof(struct octo_gc_result, f)
static const struct octo_report_field fields[] = {
	{FIELD(started_ms)},
	{FIELD(mark_ms)},
	{FIELD(sweep_ms)},
	{FIELD(repositories)},
	{FIELD(manifests)},
	{FIELD(links)},
	{FIELD(blobs)},
	{FIELD(manifests_removed)},
	{FIELD(links_removed)},
	{FIELD(blobs_removed)},
	{FIELD(bytes_freed)},
	{FIELD(kept_in_grace)},
	{FIELD(skipped_repositories)},
	{FIELD(kept_for_cluster)},
	{FIELD(dry_run)},
};

enum octo_err octo_gc_save(const struct octo_store *s, const struct octo_gc_result *r)
{
	return octo_report_save(s, "gc", fields, sizeof(fields) / sizeof(fields[0]), r);
}

enum octo_err octo_gc_last(const struct octo_store *s, struct octo_gc_result *r)
{
	return octo_report_load(s, "gc", fields, sizeof(fields) / sizeof(fields[0]), r);
}
