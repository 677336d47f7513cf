/* SPDX-License-Identifier: Apache-2.0 */
/* See retention.h. */
#include "autoconfig.h"

#include <errno.h>
#include <fnmatch.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "event.h"
#include "fsutil.h"
#include "metrics.h"
#include "remove.h"
#include "report.h"
#include "retention.h"
#include "store-record.h"
#include "store-repo.h"

struct tag {
	char name[OCTO_TAG_MAX + 1];
	uint64_t pushed_ms;
};

struct tags {
	struct tag *v;
	size_t n, cap;
};

int octo_retention_match(const char *glob, const char *s)
{
	return fnmatch(glob, s, 0) == 0;
}

static int is_tag_key(const char *key)
{
	struct octo_record_key k;

	return octo_record_key_parse(key, strlen(key), &k) == 0 && k.kind == OCTO_RECORD_TAG;
}

static enum octo_err take_tag(void *ctx, const char *key, const struct octo_record *rec)
{
	struct tags *t = ctx;
	struct octo_record_key k;

	if (rec->tombstone || octo_record_key_parse(key, strlen(key), &k) != 0)
		return OCTO_OK;
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct tag *v = realloc(t->v, cap * sizeof(*v));
		if (v == NULL)
			return OCTO_ERR_NOMEM;
		t->v = v;
		t->cap = cap;
	}
	memcpy(t->v[t->n].name, k.tag, sizeof(k.tag));
	t->v[t->n++].pushed_ms = rec->stamp.time_ms;
	return OCTO_OK;
}

/* Newest first; at equal times by name, so every node decides alike. */
static int newest_first(const void *a, const void *b)
{
	const struct tag *x = a, *y = b;

	if (x->pushed_ms != y->pushed_ms)
		return x->pushed_ms > y->pushed_ms ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int kept_by_name(const struct octo_retention_rule *rule, const char *tag)
{
	size_t i;

	for (i = 0; i < rule->n_keep_tags; i++)
		if (octo_retention_match(rule->keep_tags[i], tag))
			return 1;
	return 0;
}

static enum octo_err apply_rule(const struct octo_store *s, struct octo_journal *j,
				const struct octo_retention_options *o,
				const struct octo_retention_rule *rule, const char *repo, int dir,
				struct octo_retention_result *r)
{
	struct tags t = {0};
	enum octo_err err = octo_store_record_each(s, repo, dir, is_tag_key, take_tag, &t);
	size_t i;
	int ranked = 0;

	qsort(t.v, t.n, sizeof(*t.v), newest_first);
	r->tags += t.n;
	for (i = 0; err == OCTO_OK && i < t.n; i++) {
		const struct tag *g = &t.v[i];
		if (kept_by_name(rule, g->name))
			continue;
		if (rule->keep_last >= 0 && ranked++ < rule->keep_last)
			continue;
		if (rule->older_than_ms > 0 &&
		    g->pushed_ms + (uint64_t)rule->older_than_ms > o->now_ms)
			continue;
		if (!o->dry_run)
			err = o->untag != NULL ? o->untag(o->untag_ctx, repo, g->name)
					       : octo_remove_tag(s, j, repo, g->name);
		if (err == OCTO_ERR_MANIFEST_UNKNOWN) { /* removed meanwhile */
			err = OCTO_OK;
			continue;
		}
		if (err != OCTO_OK)
			break;
		r->removed++;
		if (o->removed != NULL)
			o->removed(o->ctx, repo, g->name, g->pushed_ms);
	}
	free(t.v);
	return err;
}

struct run {
	const struct octo_store *s;
	struct octo_journal *j;
	const struct octo_retention_options *o;
	struct octo_retention_result *r;
};

static enum octo_err each_repo(void *ctx, int dir, const char *name)
{
	struct run *run = ctx;
	size_t i;

	for (i = 0; i < run->o->n_rules; i++)
		if (octo_retention_match(run->o->rules[i].repositories, name)) {
			run->r->repositories++;
			return apply_rule(run->s, run->j, run->o, &run->o->rules[i], name, dir,
					  run->r);
		}
	return OCTO_OK;
}

#define FIELD(f) #f, offsetof(struct octo_retention_result, f)
static const struct octo_report_field fields[] = {
	{FIELD(started_ms)}, {FIELD(duration_ms)}, {FIELD(repositories)},
	{FIELD(tags)},       {FIELD(removed)},     {FIELD(dry_run)},
};

enum octo_err octo_retention_run(const struct octo_store *s, struct octo_journal *j,
				 const struct octo_retention_options *o,
				 struct octo_retention_result *r)
{
	struct run run = {s, j, o, r};
	enum octo_err err;

	memset(r, 0, sizeof(*r));
	r->dry_run = (uint64_t)o->dry_run;
	r->started_ms = octo_clock_wall_ms();
	err = octo_store_repo_walk(s, each_repo, &run);
	r->duration_ms = octo_clock_wall_ms() - r->started_ms;
	if (!o->dry_run) {
		octo_metrics_op_add(octo_store_metrics(s), OCTO_OP_RETENTION_RUNS, 1);
		octo_metrics_op_add(octo_store_metrics(s), OCTO_OP_RETENTION_TAGS, r->removed);
		if (err == OCTO_OK)
			err = octo_report_save(s, "retention", fields,
					       sizeof(fields) / sizeof(fields[0]), r);
	}
	return err;
}

enum octo_err octo_retention_last(const struct octo_store *s, struct octo_retention_result *r)
{
	return octo_report_load(s, "retention", fields, sizeof(fields) / sizeof(fields[0]), r);
}
