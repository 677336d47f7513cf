/* SPDX-License-Identifier: Apache-2.0 */
/* See store-manifest.h. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounds.h"
#include "fsutil.h"
#include "manifest.h"
#include "metrics.h"
#include "name.h"
#include "store-manifest.h"
#include "store-repo.h"

static enum octo_err revision_rel(const char *repo, const struct octo_digest *d, char *buf,
				  size_t size)
{
	return octo_store_path(buf, size, "repositories/%s/_manifests/revisions/%s/%s", repo,
			       octo_digest_alg_name(d->alg), d->hex);
}

static enum octo_err tag_rel(const char *repo, const char *tag, char *buf, size_t size)
{
	return octo_store_path(buf, size, "repositories/%s/_manifests/tags/%s", repo, tag);
}

/* A small file's text with its trailing newline dropped, into buf. */
static enum octo_err read_small(const struct octo_store *s, const char *rel, char *buf, size_t size,
				enum octo_err missing)
{
	enum octo_err err;
	char *text;
	size_t len;

	err = octo_store_read(s, rel, size - 1, missing, &text, &len);
	if (err == OCTO_ERR_TOO_LARGE)
		return OCTO_ERR_IO; /* not a file we wrote */
	if (err != OCTO_OK)
		return err;
	if (len > 0 && text[len - 1] == '\n')
		len--;
	memcpy(buf, text, len);
	buf[len] = '\0';
	free(text);
	return OCTO_OK;
}

static int lock_tags(const struct octo_store *s, const char *repo);

/* Revisions are added and removed under the tag lock, so that exactly one request sees
 * the repository gain its first manifest or lose its last (the repositories gauge). */
enum octo_err octo_store_link_manifest(const struct octo_store *s, const char *repo,
				       const struct octo_digest *d, const char *media_type)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = revision_rel(repo, d, rel, sizeof(rel));
	int lock, had;

	if (err == OCTO_OK)
		err = octo_store_path(rel, sizeof(rel), "repositories/%s/_manifests", repo);
	if (err != OCTO_OK)
		return err;
	lock = octo_store_opendir(s, rel, 1);
	if (lock < 0)
		return octo_fs_fail("create", rel, errno);
	close(lock);
	lock = lock_tags(s, repo);
	if (lock < 0)
		return octo_fs_fail("lock", rel, errno);
	had = octo_store_repo_holds_manifests(s, repo);
	err = revision_rel(repo, d, rel, sizeof(rel));
	if (err == OCTO_OK)
		err = octo_store_write_atomic(s, rel, media_type, strlen(media_type), 1);
	if (err == OCTO_OK && !had)
		octo_metrics_gauge_add(octo_store_metrics(s), OCTO_GAUGE_REPOSITORIES, 1);
	close(lock); /* releases the lock */
	return err;
}

enum octo_err octo_store_manifest_type(const struct octo_store *s, const char *repo,
				       const struct octo_digest *d, char *buf, size_t size)
{
	char rel[OCTO_STORE_PATH_MAX], type[OCTO_MANIFEST_TYPE_MAX];
	enum octo_err err = revision_rel(repo, d, rel, sizeof(rel));

	if (err == OCTO_OK)
		err = read_small(s, rel, type, sizeof(type), OCTO_ERR_MANIFEST_UNKNOWN);
	if (err != OCTO_OK)
		return err;
	/* It becomes a Content-Type header: only the types a PUT accepts, never other bytes. */
	if (!octo_manifest_media_type_known(type) || strlen(type) >= size)
		return OCTO_ERR_IO;
	memcpy(buf, type, strlen(type) + 1);
	return OCTO_OK;
}

enum octo_err octo_store_unlink_manifest(const struct octo_store *s, const char *repo,
					 const struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = revision_rel(repo, d, rel, sizeof(rel));
	int lock;

	if (err != OCTO_OK)
		return err;
	lock = lock_tags(s, repo);
	if (lock < 0) /* no _manifests directory: no revision either */
		return errno == ENOENT ? OCTO_ERR_MANIFEST_UNKNOWN
				       : octo_fs_fail("lock", rel, errno);
	err = octo_store_remove(s, rel, OCTO_ERR_MANIFEST_UNKNOWN);
	if (err == OCTO_OK && !octo_store_repo_holds_manifests(s, repo))
		octo_metrics_gauge_add(octo_store_metrics(s), OCTO_GAUGE_REPOSITORIES, -1);
	close(lock); /* releases the lock */
	return err;
}

enum octo_err octo_store_tag_get(const struct octo_store *s, const char *repo, const char *tag,
				 struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX], ds[OCTO_DIGEST_MAX_STRING + 2];
	enum octo_err err = tag_rel(repo, tag, rel, sizeof(rel));

	if (err == OCTO_OK)
		err = read_small(s, rel, ds, sizeof(ds), OCTO_ERR_MANIFEST_UNKNOWN);
	if (err != OCTO_OK)
		return err;
	return octo_digest_parse(ds, strlen(ds), d) == OCTO_OK ? OCTO_OK : OCTO_ERR_IO;
}

enum octo_err octo_store_tag_list(const struct octo_store *s, const char *repo,
				  struct octo_strv *tags)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err;
	int fd;

	memset(tags, 0, sizeof(*tags));
	err = octo_store_path(rel, sizeof(rel), "repositories/%s/_manifests", repo);
	if (err != OCTO_OK)
		return err;
	fd = octo_store_opendir(s, rel, 0);
	if (fd < 0)
		return octo_store_error(errno, OCTO_ERR_NAME_UNKNOWN);
	close(fd);
	err = octo_store_path(rel, sizeof(rel), "repositories/%s/_manifests/tags", repo);
	if (err == OCTO_OK)
		err = octo_store_list(s, rel, octo_tag_valid, OCTO_ERR_NAME_UNKNOWN, tags);
	if (err == OCTO_ERR_NAME_UNKNOWN)
		return OCTO_OK; /* no tags yet */
	if (err == OCTO_OK)
		octo_strv_sort(tags, octo_tag_cmp);
	return err;
}

/* Take the repository's tag lock (_manifests/tags.lock): an fd to close, or -1. */
static int lock_tags(const struct octo_store *s, const char *repo)
{
	char rel[OCTO_STORE_PATH_MAX];
	int fd;

	if (octo_store_path(rel, sizeof(rel), "repositories/%s/_manifests/tags.lock", repo) !=
	    OCTO_OK) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = octo_store_openat(s, rel, O_RDWR | O_CREAT, 0644);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	return fd;
}

/* The tag index: _manifests/tags.index, every tag in octo_tag_cmp order, one per line (a
 * snapshot), and _manifests/tags.delta, the tags added ("+tag") and removed ("-tag") since,
 * appended under the tag lock. A tag write appends one line, so it costs the same at any
 * number of tags; past TAG_DELTA_MAX bytes the delta is folded into a new snapshot (a merge
 * of the two, amortised over thousands of writes). Readers take no lock: they read the
 * delta, then the snapshot, which a fold replaces only after the delta it folded is in it,
 * so a reader sees every change the delta it read held. A tag's "+" is durable before its
 * file is written and its file is gone before its "-" is written; pages are checked against
 * the tag files, so a listed tag is one that exists, and a crash between the two steps
 * leaves only a line that the check drops and the next fold removes. A snapshot that is
 * missing (a repository from before it) is made from a scan of the tag directory at the
 * next write; one that does not hold valid tags in order is not used: the reader falls back
 * to the scan, and the next fold makes it again from the directory. */
#define TAG_DELTA_MAX (256 * 1024)

static enum octo_err manifests_rel(const char *repo, const char *leaf, char *buf, size_t size)
{
	return octo_store_path(buf, size, "repositories/%s/_manifests/%s", repo, leaf);
}

struct tag_op {
	const char *tag; /* into the delta's text */
	size_t order;    /* its line: the last one of a tag counts */
	int add;
};

struct delta {
	char *text;
	struct tag_op *ops; /* the last op of each tag, in octo_tag_cmp order */
	size_t n;
};

static int op_cmp(const void *a, const void *b)
{
	const struct tag_op *x = a, *y = b;
	int c = octo_tag_cmp(x->tag, y->tag);

	return c != 0 ? c : (x->order > y->order) - (x->order < y->order);
}

/* The delta's ops; empty when there is none. OCTO_ERR_IO when it holds anything but ops on
 * tags, one per line (a torn last line, never acknowledged, is ignored). */
static enum octo_err delta_load(const struct octo_store *s, const char *repo, struct delta *d)
{
	char rel[OCTO_STORE_PATH_MAX], *line, *end;
	enum octo_err err = manifests_rel(repo, "tags.delta", rel, sizeof(rel));
	size_t len, n = 0, i, kept = 0;

	memset(d, 0, sizeof(*d));
	if (err == OCTO_OK)
		err = octo_store_read(s, rel, 2 * TAG_DELTA_MAX, OCTO_ERR_NAME_UNKNOWN, &d->text,
				      &len);
	if (err == OCTO_ERR_NAME_UNKNOWN)
		return OCTO_OK;
	if (err != OCTO_OK)
		return err == OCTO_ERR_TOO_LARGE ? OCTO_ERR_IO : err;
	for (i = 0; i < len; i++)
		n += d->text[i] == '\n';
	if (n > 0 && (d->ops = calloc(n, sizeof(*d->ops))) == NULL)
		return OCTO_ERR_NOMEM;
	for (line = d->text, end = d->text + len, i = 0; i < n; i++) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		if ((line[0] != '+' && line[0] != '-') ||
		    !octo_tag_valid(line + 1, (size_t)(nl - line - 1)))
			return OCTO_ERR_IO;
		*nl = '\0';
		d->ops[i] = (struct tag_op){.tag = line + 1, .order = i, .add = line[0] == '+'};
		line = nl + 1;
	}
	qsort(d->ops, n, sizeof(*d->ops), op_cmp);
	for (i = 0; i < n; i++) /* keep the last op of each tag */
		if (i + 1 == n || octo_tag_cmp(d->ops[i].tag, d->ops[i + 1].tag) != 0)
			d->ops[kept++] = d->ops[i];
	d->n = kept;
	return OCTO_OK;
}

static void delta_free(struct delta *d)
{
	free(d->ops);
	free(d->text);
}

/* The snapshot, mapped read-only (its pages are the file's: nothing is copied). */
struct snapshot {
	const char *text;
	size_t len;
};

/* OCTO_ERR_NAME_UNKNOWN when there is none. */
static enum octo_err snapshot_map(const struct octo_store *s, const char *repo, struct snapshot *sn)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = manifests_rel(repo, "tags.index", rel, sizeof(rel));
	uint64_t size;
	int fd;

	memset(sn, 0, sizeof(*sn));
	if (err == OCTO_OK)
		err = octo_store_open_file(s, rel, O_RDONLY, OCTO_ERR_NAME_UNKNOWN, &fd, &size);
	if (err != OCTO_OK)
		return err;
	if (size > OCTO_BOUND_TAG_INDEX) {
		close(fd);
		return OCTO_ERR_IO;
	}
	if (size > 0) {
		void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			err = octo_fs_fail("map", rel, errno);
		else
			sn->text = p;
		sn->len = (size_t)size;
	}
	close(fd);
	return err;
}

static void snapshot_unmap(struct snapshot *sn)
{
	if (sn->text != NULL)
		munmap((void *)sn->text, sn->len);
}

/* The tag on the snapshot's line at off into buf; *next the next line's offset. -1 if the
 * line is not a tag ended by a newline. */
static int snapshot_line(const struct snapshot *sn, size_t off, char *buf, size_t *next)
{
	const char *nl = memchr(sn->text + off, '\n', sn->len - off);
	size_t len = nl != NULL ? (size_t)(nl - sn->text) - off : 0;

	if (nl == NULL || len >= OCTO_TAG_MAX + 1 || !octo_tag_valid(sn->text + off, len))
		return -1;
	memcpy(buf, sn->text + off, len);
	buf[len] = '\0';
	*next = off + len + 1;
	return 0;
}

/* The offset of the snapshot's first line after last (a binary search over its lines). -1
 * on a line that is not a tag. */
static long long snapshot_seek(const struct snapshot *sn, const char *last)
{
	size_t lo = 0, hi = sn->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2, start = mid, next;
		char tag[OCTO_TAG_MAX + 1];
		while (start > lo && sn->text[start - 1] != '\n')
			start--;
		if (snapshot_line(sn, start, tag, &next) != 0)
			return -1;
		if (octo_tag_cmp(tag, last) <= 0)
			lo = next;
		else
			hi = start;
	}
	return (long long)lo;
}

/* emit(ctx, tag) for each tag of snapshot and delta after last (NULL: from the start), in
 * order, until emit returns non-zero. OCTO_ERR_IO on a damaged snapshot. */
static enum octo_err index_walk(const struct snapshot *sn, const struct delta *d, const char *last,
				int (*emit)(void *ctx, const char *tag), void *ctx)
{
	char line[OCTO_TAG_MAX + 1], prev[OCTO_TAG_MAX + 1] = "";
	long long at = last != NULL ? snapshot_seek(sn, last) : 0;
	size_t i, j = 0, next = 0;
	int have = 0;

	if (at < 0)
		return OCTO_ERR_IO;
	i = (size_t)at;
	while (last != NULL && j < d->n && octo_tag_cmp(d->ops[j].tag, last) <= 0)
		j++;
	for (;;) {
		const char *tag;
		int c;
		if (!have && i < sn->len) {
			if (snapshot_line(sn, i, line, &next) != 0)
				return OCTO_ERR_IO;
			have = 1;
		}
		if (!have && j == d->n)
			return OCTO_OK;
		c = !have ? 1 : j == d->n ? -1 : octo_tag_cmp(line, d->ops[j].tag);
		if (c < 0) { /* the snapshot's, untouched since */
			tag = line;
		} else {
			tag = d->ops[j].add ? d->ops[j].tag : NULL;
			j++;
		}
		if (c <= 0) { /* the snapshot's line is used (or removed) */
			have = 0;
			i = next;
		}
		if (tag == NULL)
			continue;
		if (prev[0] != '\0' && octo_tag_cmp(prev, tag) >= 0)
			return OCTO_ERR_IO; /* out of order: not ours */
		snprintf(prev, sizeof(prev), "%s", tag);
		if (emit(ctx, tag))
			return OCTO_OK;
	}
}

struct page {
	const struct octo_store *s;
	const char *repo;
	long limit;
	struct octo_strv *out;
	int more, nomem;
};

/* Whether the tag's file exists (see the comment on the index). */
static int tag_exists(const struct octo_store *s, const char *repo, const char *tag)
{
	char rel[OCTO_STORE_PATH_MAX];

	return tag_rel(repo, tag, rel, sizeof(rel)) == OCTO_OK &&
	       octo_store_stat(s, rel, OCTO_ERR_MANIFEST_UNKNOWN, NULL) == OCTO_OK;
}

static int page_emit(void *ctx, const char *tag)
{
	struct page *pg = ctx;

	if (!tag_exists(pg->s, pg->repo, tag))
		return 0;
	if (pg->limit >= 0 && (long)pg->out->n == pg->limit) {
		pg->more = 1;
		return 1;
	}
	if (octo_strv_push(pg->out, tag, strlen(tag)) != 0) {
		pg->nomem = 1;
		return 1;
	}
	return 0;
}

enum octo_err octo_store_tag_page(const struct octo_store *s, const char *repo, const char *last,
				  long limit, struct octo_strv *tags, int *more)
{
	struct page pg = {.s = s, .repo = repo, .limit = limit, .out = tags};
	struct snapshot sn;
	struct delta d;
	enum octo_err err;

	memset(tags, 0, sizeof(*tags));
	*more = 0;
	err = delta_load(s, repo, &d); /* the delta first: see the comment on the index */
	if (err == OCTO_OK)
		err = snapshot_map(s, repo, &sn);
	if (err == OCTO_OK) {
		err = index_walk(&sn, &d, last, page_emit, &pg);
		snapshot_unmap(&sn);
	}
	delta_free(&d);
	if (err == OCTO_OK && pg.nomem)
		err = OCTO_ERR_NOMEM;
	if (err != OCTO_OK)
		octo_strv_cleanup(tags);
	*more = pg.more;
	return err == OCTO_ERR_IO ? OCTO_ERR_NAME_UNKNOWN : err;
}

struct text {
	const struct octo_store *s;
	const char *repo;
	char *buf;
	size_t len, cap;
	int nomem;
};

/* A folded snapshot's tag, if its file exists: what a crash left in the delta goes. */
static int text_emit(void *ctx, const char *tag)
{
	struct text *t = ctx;
	size_t n = strlen(tag);

	if (!tag_exists(t->s, t->repo, tag))
		return 0;

	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap * 2 + n + 4096;
		char *grown = realloc(t->buf, cap);
		if (grown == NULL) {
			t->nomem = 1;
			return 1;
		}
		t->buf = grown;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, tag, n);
	t->len += n;
	t->buf[t->len++] = '\n';
	return 0;
}

/* Under the tag lock: a new snapshot, from snapshot and delta, or from the tag directory
 * when from_scan or when they do not hold valid tags in order; then an empty delta. */
static enum octo_err fold(const struct octo_store *s, const char *repo, int from_scan)
{
	char rel[OCTO_STORE_PATH_MAX];
	struct text t = {.s = s, .repo = repo};
	enum octo_err err = OCTO_ERR_IO;
	struct snapshot sn;
	struct delta d;

	if (!from_scan && delta_load(s, repo, &d) == OCTO_OK) {
		if (snapshot_map(s, repo, &sn) == OCTO_OK) {
			err = index_walk(&sn, &d, NULL, text_emit, &t);
			snapshot_unmap(&sn);
		}
		delta_free(&d);
	}
	if (err != OCTO_OK && !t.nomem) { /* none, or damaged: the tag files themselves */
		struct octo_strv tags;
		size_t i;
		t.len = 0;
		err = octo_store_tag_list(s, repo, &tags);
		for (i = 0; err == OCTO_OK && i < tags.n && !t.nomem; i++)
			text_emit(&t, tags.v[i]);
		octo_strv_cleanup(&tags);
	}
	if (err == OCTO_OK && t.nomem)
		err = OCTO_ERR_NOMEM;
	if (err == OCTO_OK)
		err = manifests_rel(repo, "tags.index", rel, sizeof(rel));
	if (err == OCTO_OK)
		err = octo_store_write_atomic(s, rel, t.buf != NULL ? t.buf : "", t.len, 1);
	if (err == OCTO_OK)
		err = manifests_rel(repo, "tags.delta", rel, sizeof(rel));
	if (err == OCTO_OK)
		err = octo_store_write_atomic(s, rel, "", 0, 1);
	free(t.buf);
	return err;
}

/* Under the tag lock: record op ('+' or '-') on tag in the delta, durably. The delta is
 * folded first when past TAG_DELTA_MAX, and the snapshot made first if there is none, so
 * that the op itself is always in the delta (a fold keeps only tags whose files exist, and
 * a new tag's file comes after its "+"). */
static enum octo_err index_note(const struct octo_store *s, const char *repo, char op,
				const char *tag)
{
	char rel[OCTO_STORE_PATH_MAX], line[OCTO_TAG_MAX + 3];
	enum octo_err err = manifests_rel(repo, "tags.index", rel, sizeof(rel));
	uint64_t size = 0;
	int n, fd;

	if (err == OCTO_OK && octo_store_stat(s, rel, OCTO_ERR_NAME_UNKNOWN, NULL) != OCTO_OK)
		err = fold(s, repo, 1);
	if (err == OCTO_OK)
		err = manifests_rel(repo, "tags.delta", rel, sizeof(rel));
	if (err == OCTO_OK && octo_store_stat(s, rel, OCTO_ERR_NAME_UNKNOWN, &size) == OCTO_OK &&
	    size > TAG_DELTA_MAX)
		err = fold(s, repo, 0);
	if (err != OCTO_OK)
		return err;
	fd = octo_store_openat(s, rel, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd < 0)
		return octo_fs_fail("open", rel, errno);
	n = snprintf(line, sizeof(line), "%c%s\n", op, tag);
	if (write(fd, line, (size_t)n) != n || octo_fs_sync(fd, 1, rel) != 0)
		err = octo_fs_fail("append to", rel, errno);
	close(fd);
	return err;
}

enum octo_err octo_store_tag_set(const struct octo_store *s, const char *repo, const char *tag,
				 const struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX], dir[OCTO_STORE_PATH_MAX], ds[OCTO_DIGEST_MAX_STRING];
	enum octo_err err = tag_rel(repo, tag, rel, sizeof(rel));
	int lock;

	if (err == OCTO_OK)
		err = octo_store_path(dir, sizeof(dir), "repositories/%s/_manifests", repo);
	if (err != OCTO_OK)
		return err;
	lock = octo_store_opendir(s, dir, 1); /* where the lock lives */
	if (lock < 0)
		return octo_fs_fail("create", dir, errno);
	close(lock);
	octo_digest_format(d, ds, sizeof(ds));
	lock = lock_tags(s, repo);
	if (lock < 0)
		return octo_fs_fail("lock the tags of", repo, errno);
	/* The index first (a new tag only: a retag leaves it as it is), then the tag. */
	if (octo_store_stat(s, rel, OCTO_ERR_MANIFEST_UNKNOWN, NULL) == OCTO_ERR_MANIFEST_UNKNOWN)
		err = index_note(s, repo, '+', tag);
	if (err == OCTO_OK)
		err = octo_store_write_atomic(s, rel, ds, strlen(ds), 1);
	close(lock); /* releases the lock */
	return err;
}

enum octo_err octo_store_tag_delete(const struct octo_store *s, const char *repo, const char *tag)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = tag_rel(repo, tag, rel, sizeof(rel));
	int lock;

	if (err != OCTO_OK)
		return err;
	lock = lock_tags(s, repo);
	if (lock < 0) /* no _manifests directory: no tag either */
		return errno == ENOENT ? OCTO_ERR_MANIFEST_UNKNOWN
				       : octo_fs_fail("lock the tags of", repo, errno);
	/* The tag first, then the index. */
	err = octo_store_remove(s, rel, OCTO_ERR_MANIFEST_UNKNOWN);
	if (err == OCTO_OK)
		err = index_note(s, repo, '-', tag);
	close(lock); /* releases the lock */
	return err;
}
