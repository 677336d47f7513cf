/* SPDX-License-Identifier: Apache-2.0 */
/* The change journal: one JSON line per committed change, with a sequence number that is
 * strictly increasing across every process sharing the store. An event is durable
 * (fdatasync) before octo_journal_append returns, so before the client's 201. */
#ifndef OCTO_JOURNAL_H
#define OCTO_JOURNAL_H

#include <stdint.h>

#include "error.h"

struct octo_journal_event {
	const char *type;   /* "blob.put", "blob.mount", "blob.delete", "manifest.put", ... */
	const char *repo;   /* repository name */
	const char *digest; /* "sha256:…" or NULL */
	const char *tag;    /* or NULL */
};

/* Append ev to <root>/journal/events; *seq (may be NULL) gets its sequence number. */
enum octo_err octo_journal_append(const char *root, const struct octo_journal_event *ev,
				  uint64_t *seq);
/* Path of the journal file for a store root, written into buf. */
void octo_journal_path(const char *root, char *buf, size_t size);

#endif
