/* SPDX-License-Identifier: Apache-2.0 */
/* A journal event read back (journal.h writes them): the line parsed and every field
 * checked, for the consumers that act on events (the peer daemon replicates them to other
 * nodes, which must take nothing from a peer that they would not have written themselves:
 * a record's key becomes a path). */
#ifndef OCTO_EVENT_H
#define OCTO_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "name.h"
#include "record.h"
#include "store.h"

/* What a record's key names. */
enum octo_record_kind {
	OCTO_RECORD_TAG,      /* _manifests/tags/<tag>: a digest */
	OCTO_RECORD_REVISION, /* _manifests/revisions/<alg>/<hex>: a media type */
	OCTO_RECORD_LINK,     /* _layers/<alg>/<hex>: the blob's size */
	OCTO_RECORD_REFERRER, /* _referrers/<alg>/<subject hex>/<alg>-<hex>: a descriptor */
};

struct octo_record_key {
	enum octo_record_kind kind;
	struct octo_digest digest;  /* revision, link, referrer */
	struct octo_digest subject; /* referrer */
	char tag[OCTO_TAG_MAX + 1]; /* tag */
};

/* Parse a key of the shapes the store's noun modules build (nothing else): 0, or -1. */
int octo_record_key_parse(const char *key, size_t len, struct octo_record_key *out);
/* Whether value fits the key: a digest for a tag, a media type we accept for a revision, a
 * decimal size for a link, a descriptor object naming the key's digest for a referrer. */
int octo_record_value_valid(const struct octo_record_key *k, const char *value, size_t len);

/* The types of garbage collection's removals (gc.h): a link, a manifest no kept one reaches. A
 * node that takes one from a peer and still needs what it removes links it again. */
#define OCTO_EVENT_COLLECT_LINK "blob.collect"
#define OCTO_EVENT_COLLECT_MANIFEST "manifest.collect"
/* The type of an event that applies one record a peer held (anti-entropy, apply.h). */
#define OCTO_EVENT_REPAIR "record.repair"

/* The most records one event writes (a manifest: its revision, referrer entry and tag). */
#define OCTO_EVENT_RECORDS_MAX 4

struct octo_event_record {
	const char *key;
	struct octo_record_key parsed;
	const char *value; /* NULL: a tombstone */
	size_t value_len;
};

struct octo_event {
	uint64_t seq, hlc, time_ms;
	const char *node, *store, *type, *repo;
	int has_digest;
	struct octo_digest digest;
	const char *tag; /* or NULL */
	struct octo_event_record records[OCTO_EVENT_RECORDS_MAX];
	size_t n_records;
	/* The stamp of the records: the event's own, or for a peer's write applied here its
	 * origin's (has_origin). */
	int has_origin;
	struct octo_record_stamp stamp;
	void *json; /* what the strings point into */
};

/* Parse a journal line (len bytes, without its newline). 0 with ev filled (release it with
 * octo_event_cleanup), or -1 with *why saying which field is wrong. */
int octo_event_parse(const char *line, size_t len, struct octo_event *ev, const char **why);
void octo_event_cleanup(struct octo_event *ev);

#endif
