/* SPDX-License-Identifier: Apache-2.0 */
/* Retention (storage.retention.rules): for each repository, the first rule whose glob names
 * it decides which tags stay. A tag stays when it matches one of the rule's keep_tags, or is
 * among the rule's keep_last newest by push time (the tag record's time, which replicates with
 * the record: file times do not), or was pushed within older_than; every other tag is removed
 * as a DELETE of it would be (journalled, replicated). The manifests stay, untagged: garbage
 * collection with delete_untagged frees them. */
#ifndef OCTO_RETENTION_H
#define OCTO_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "error.h"
#include "journal.h"
#include "store.h"

struct octo_retention_options {
	const struct octo_retention_rule *rules;
	size_t n_rules;
	uint64_t now_ms;
	int dry_run;
	/* how a tag goes (NULL: octo_remove_tag; in strong mode, the voters' decision) */
	enum octo_err (*untag)(void *ctx, const char *repo, const char *tag);
	void *untag_ctx;
	/* each tag removed (or that would be): repository, tag, its push time; may be NULL */
	void (*removed)(void *ctx, const char *repo, const char *tag, uint64_t pushed_ms);
	void *ctx;
};

struct octo_retention_result {
	uint64_t started_ms, duration_ms;
	uint64_t repositories; /* a rule named */
	uint64_t tags;         /* in them */
	uint64_t removed;
	uint64_t dry_run;
};

/* Whether glob (fnmatch, '*' crossing '/') matches s. */
int octo_retention_match(const char *glob, const char *s);

enum octo_err octo_retention_run(const struct octo_store *s, struct octo_journal *j,
				 const struct octo_retention_options *o,
				 struct octo_retention_result *r);

/* The last run's result (ops/retention.json). */
enum octo_err octo_retention_last(const struct octo_store *s, struct octo_retention_result *r);

#endif
