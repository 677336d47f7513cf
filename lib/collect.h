/* SPDX-License-Identifier: Apache-2.0 */
/* Garbage collection in a cluster: a collection makes its candidates (a dry run here), then asks,
 * through the store (handoff.h), the local peer daemon which of them every other member agrees
 * to (each runs a dry run with the same options over its own records, renewals and clock:
 * gc.h octo_gc_agree), and removes only those. The daemon refuses while a member is down, so
 * no sweep runs then. Items are "<kind> <repository> <digest>" (kind manifest, link or blob;
 * the repository "-" for a blob), sorted. */
#ifndef OCTO_COLLECT_H
#define OCTO_COLLECT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "store.h"
#include "strv.h"

#define OCTO_COLLECT_DIR "peer/collect"

struct octo_collect_request {
	int64_t grace_ms;
	int delete_untagged;
	int remove_orphan_referrers;
	struct octo_strv items; /* the candidates */
};
void octo_collect_request_cleanup(struct octo_collect_request *req);

/* An item's text into buf (at least OCTO_STORE_PATH_MAX bytes). */
void octo_collect_item(char *buf, size_t size, const char *kind, const char *repo,
		       const char *digest);
/* Whether sorted items hold item. */
int octo_collect_agreed(const struct octo_strv *items, const char *item);

/* The collector's side: ask about req's items and wait at most timeout_ms. OCTO_OK with those
 * every other member agreed to (sorted); OCTO_ERR_NOT_REPLICATED with why when the daemon refused (a member
 * down) or did not answer in time. */
enum octo_err octo_collect_ask(const struct octo_store *s, const struct octo_collect_request *req,
			       int64_t timeout_ms, struct octo_strv *items, char *why, size_t size);

/* The daemon's side. */
enum octo_err octo_collect_pending(const struct octo_store *s, struct octo_strv *ids);
/* Whether id has its answer already (it waits for its asker to take it). */
int octo_collect_answered(const struct octo_store *s, const char *id);
enum octo_err octo_collect_read(const struct octo_store *s, const char *id,
				struct octo_collect_request *req);
/* The answer: the items (NULL when refused, with why). */
enum octo_err octo_collect_answer(const struct octo_store *s, const char *id,
				  const struct octo_strv *items, const char *why);
void octo_collect_sweep(const struct octo_store *s);

#endif
