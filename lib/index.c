/* SPDX-License-Identifier: Apache-2.0 */
/* See index.h. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounds.h"
#include "fsutil.h"
#include "index.h"

/* Longer than any name an index holds (names ≤ 255, tags ≤ 128 bytes). */
#define NAME_BUF 256

struct op {
	const char *name; /* into the delta's text */
	size_t order;     /* its line: the last one of a name counts */
	int add;
};

struct delta {
	char *text;
	struct op *ops; /* the last op of each name, in order */
	size_t n;
};

static int op_cmp(const void *a, const void *b, void *cmp)
{
	const struct op *x = a, *y = b;
	int c = ((int (*)(const char *, const char *))cmp)(x->name, y->name);

	return c != 0 ? c : (x->order > y->order) - (x->order < y->order);
}

/* The delta's ops; empty when there is none. OCTO_ERR_IO when it holds anything but ops on
 * valid names, one per line (a torn last line, never acknowledged, is ignored). */
static enum octo_err delta_load(const struct octo_index *ix, struct delta *d)
{
	char *line, *end;
	size_t len, n = 0, i, kept = 0;
	enum octo_err err = octo_store_read(ix->store, ix->delta, 2 * OCTO_INDEX_DELTA_MAX,
					    OCTO_ERR_NAME_UNKNOWN, &d->text, &len);

	d->ops = NULL;
	d->n = 0;
	if (err == OCTO_ERR_NAME_UNKNOWN) {
		d->text = NULL;
		return OCTO_OK;
	}
	if (err != OCTO_OK)
		return err == OCTO_ERR_TOO_LARGE ? OCTO_ERR_IO : err;
	for (i = 0; i < len; i++)
		n += d->text[i] == '\n';
	if (n > 0 && (d->ops = calloc(n, sizeof(*d->ops))) == NULL)
		return OCTO_ERR_NOMEM;
	for (line = d->text, end = d->text + len, i = 0; i < n; i++) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		if ((line[0] != '+' && line[0] != '-') ||
		    !ix->valid(line + 1, (size_t)(nl - line - 1)))
			return OCTO_ERR_IO;
		*nl = '\0';
		d->ops[i] = (struct op){.name = line + 1, .order = i, .add = line[0] == '+'};
		line = nl + 1;
	}
	if (n > 0)
		qsort_r(d->ops, n, sizeof(*d->ops), op_cmp, (void *)ix->cmp);
	for (i = 0; i < n; i++) /* keep the last op of each name */
		if (i + 1 == n || ix->cmp(d->ops[i].name, d->ops[i + 1].name) != 0)
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
static enum octo_err snapshot_map(const struct octo_index *ix, struct snapshot *sn)
{
	enum octo_err err;
	uint64_t size;
	int fd;

	sn->text = NULL;
	sn->len = 0;
	err = octo_store_open_file(ix->store, ix->snapshot, O_RDONLY, OCTO_ERR_NAME_UNKNOWN, &fd,
				   &size);
	if (err != OCTO_OK)
		return err;
	if (size > OCTO_BOUND_TAG_INDEX) {
		close(fd);
		return OCTO_ERR_IO;
	}
	if (size > 0) {
		void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED)
			err = octo_fs_fail("map", ix->snapshot, errno);
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

/* The name on the snapshot's line at off into buf; *next the next line's offset. -1 if the
 * line is not a valid name ended by a newline. */
static int snapshot_line(const struct octo_index *ix, const struct snapshot *sn, size_t off,
			 char *buf, size_t *next)
{
	const char *nl = memchr(sn->text + off, '\n', sn->len - off);
	size_t len = nl != NULL ? (size_t)(nl - sn->text) - off : 0;

	if (nl == NULL || len > ix->name_max || len >= NAME_BUF || !ix->valid(sn->text + off, len))
		return -1;
	memcpy(buf, sn->text + off, len);
	buf[len] = '\0';
	*next = off + len + 1;
	return 0;
}

/* The offset of the snapshot's first line after last (a binary search over its lines). -1
 * on a line that is not a valid name. */
static long long snapshot_seek(const struct octo_index *ix, const struct snapshot *sn,
			       const char *last)
{
	size_t lo = 0, hi = sn->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2, start = mid, next;
		char name[NAME_BUF];
		while (start > lo && sn->text[start - 1] != '\n')
			start--;
		if (snapshot_line(ix, sn, start, name, &next) != 0)
			return -1;
		if (ix->cmp(name, last) <= 0)
			lo = next;
		else
			hi = start;
	}
	return (long long)lo;
}

/* emit(ctx, name) for each name of snapshot and delta after last (NULL: from the start),
 * in order, until emit returns non-zero. OCTO_ERR_IO on a damaged snapshot. */
static enum octo_err walk(const struct octo_index *ix, const struct snapshot *sn,
			  const struct delta *d, const char *last,
			  int (*emit)(void *ctx, const char *name), void *ctx)
{
	char line[NAME_BUF], prev[NAME_BUF] = "";
	long long at = last != NULL ? snapshot_seek(ix, sn, last) : 0;
	size_t i, j = 0, next = 0;
	int have = 0, any = 0;

	if (at < 0)
		return OCTO_ERR_IO;
	i = (size_t)at;
	while (last != NULL && j < d->n && ix->cmp(d->ops[j].name, last) <= 0)
		j++;
	for (;;) {
		const char *name;
		int c;
		if (!have && i < sn->len) {
			if (snapshot_line(ix, sn, i, line, &next) != 0)
				return OCTO_ERR_IO;
			have = 1;
		}
		if (!have && j == d->n)
			return OCTO_OK;
		c = !have ? 1 : j == d->n ? -1 : ix->cmp(line, d->ops[j].name);
		if (c < 0) { /* the snapshot's, untouched since */
			name = line;
		} else {
			name = d->ops[j].add ? d->ops[j].name : NULL;
			j++;
		}
		if (c <= 0) { /* the snapshot's line is used (or removed) */
			have = 0;
			i = next;
		}
		if (name == NULL)
			continue;
		if (any && ix->cmp(prev, name) >= 0)
			return OCTO_ERR_IO; /* out of order: not ours */
		snprintf(prev, sizeof(prev), "%s", name);
		any = 1;
		if (emit(ctx, name))
			return OCTO_OK;
	}
}

struct page {
	const struct octo_index *ix;
	long limit;
	struct octo_strv *out;
	int more, nomem;
};

static int page_emit(void *ctx, const char *name)
{
	struct page *pg = ctx;

	if (!pg->ix->exists(pg->ix, name))
		return 0;
	if (pg->limit >= 0 && (long)pg->out->n == pg->limit) {
		pg->more = 1;
		return 1;
	}
	if (octo_strv_push(pg->out, name, strlen(name)) != 0) {
		pg->nomem = 1;
		return 1;
	}
	return 0;
}

enum octo_err octo_index_page(const struct octo_index *ix, const char *last, long limit,
			      struct octo_strv *names, int *more)
{
	struct page pg = {.ix = ix, .limit = limit, .out = names};
	struct snapshot sn;
	struct delta d;
	enum octo_err err;

	memset(names, 0, sizeof(*names));
	*more = 0;
	err = delta_load(ix, &d); /* the delta first: see index.h */
	if (err == OCTO_OK)
		err = snapshot_map(ix, &sn);
	if (err == OCTO_OK) {
		err = walk(ix, &sn, &d, last, page_emit, &pg);
		snapshot_unmap(&sn);
	}
	delta_free(&d);
	if (err == OCTO_OK && pg.nomem)
		err = OCTO_ERR_NOMEM;
	if (err != OCTO_OK)
		octo_strv_cleanup(names);
	*more = pg.more;
	return err == OCTO_ERR_IO ? OCTO_ERR_NAME_UNKNOWN : err;
}

struct text {
	const struct octo_index *ix;
	char *buf;
	size_t len, cap;
	int nomem;
};

/* A folded snapshot's name, if its thing exists: what a crash left in the delta goes. */
static int text_emit(void *ctx, const char *name)
{
	struct text *t = ctx;
	size_t n = strlen(name);

	if (!t->ix->exists(t->ix, name))
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
	memcpy(t->buf + t->len, name, n);
	t->len += n;
	t->buf[t->len++] = '\n';
	return 0;
}

/* Under the owner's lock: a new snapshot, from snapshot and delta, or from a scan when
 * from_scan or when they are not valid names in order; then an empty delta. */
static enum octo_err fold(const struct octo_index *ix, int from_scan)
{
	struct text t = {.ix = ix};
	enum octo_err err = OCTO_ERR_IO;
	struct snapshot sn;
	struct delta d;

	if (!from_scan && delta_load(ix, &d) == OCTO_OK) {
		if (snapshot_map(ix, &sn) == OCTO_OK) {
			err = walk(ix, &sn, &d, NULL, text_emit, &t);
			snapshot_unmap(&sn);
		}
		delta_free(&d);
	}
	if (err != OCTO_OK && !t.nomem) { /* none, or damaged: the things themselves */
		struct octo_strv names;
		size_t i;
		t.len = 0;
		err = ix->scan(ix, &names);
		for (i = 0; err == OCTO_OK && i < names.n && !t.nomem; i++)
			text_emit(&t, names.v[i]);
		octo_strv_cleanup(&names);
	}
	if (err == OCTO_OK && t.nomem)
		err = OCTO_ERR_NOMEM;
	if (err == OCTO_OK)
		err = octo_store_write_atomic(ix->store, ix->snapshot, t.buf != NULL ? t.buf : "",
					      t.len, 1);
	if (err == OCTO_OK)
		err = octo_store_write_atomic(ix->store, ix->delta, "", 0, 1);
	free(t.buf);
	return err;
}

static int open_delta(const struct octo_index *ix)
{
	return octo_store_openat(ix->store, ix->delta, O_WRONLY | O_APPEND | O_CREAT, 0644);
}

enum octo_err octo_index_note(const struct octo_index *ix, char op, const char *name)
{
	char line[NAME_BUF + 2];
	enum octo_err err = OCTO_OK;
	struct stat st;
	int n, fd;

	if (octo_store_stat(ix->store, ix->snapshot, OCTO_ERR_NAME_UNKNOWN, NULL) != OCTO_OK &&
	    (err = fold(ix, 1)) != OCTO_OK)
		return err;
	fd = open_delta(ix);
	if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > OCTO_INDEX_DELTA_MAX) {
		close(fd);
		if ((err = fold(ix, 0)) != OCTO_OK) /* which leaves an empty delta */
			return err;
		fd = open_delta(ix);
	}
	if (fd < 0)
		return octo_fs_fail("open", ix->delta, errno);
	n = snprintf(line, sizeof(line), "%c%s\n", op, name);
	if (n < 0 || (size_t)n >= sizeof(line) || write(fd, line, (size_t)n) != n ||
	    octo_fs_sync(fd, 1, ix->delta) != 0)
		err = octo_fs_fail("append to", ix->delta, errno);
	close(fd);
	return err;
}
