/* SPDX-License-Identifier: Apache-2.0 */
/* See vote.h. The state file is JSON, every field checked when read back. */
#include "autoconfig.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "name.h"
#include "store-manifest.h"
#include "strv.h"
#include "vote.h"

/* The largest state file: three writes and two ballots of the longest node ids. */
#define STATE_MAX 8192

int octo_vote_ballot_cmp(const struct octo_vote_ballot *a, const struct octo_vote_ballot *b)
{
	if (a->hlc != b->hlc)
		return a->hlc > b->hlc ? 1 : -1;
	return strcmp(a->node, b->node);
}

int octo_vote_write_valid(const struct octo_vote_write *w)
{
	struct octo_digest d;

	if (!octo_node_id_valid(w->node, strlen(w->node)) || w->hlc == 0)
		return 0;
	return w->tombstone ? w->digest[0] == '\0'
			    : octo_digest_parse(w->digest, strlen(w->digest), &d) == OCTO_OK;
}

static enum octo_err rel_of(const char *repo, const char *tag, const char *suffix, char *buf,
			    size_t size)
{
	struct octo_digest d;
	char key[OCTO_NAME_MAX + OCTO_TAG_MAX + 2];
	size_t rn = strlen(repo), tn = strlen(tag);

	if (rn > OCTO_NAME_MAX || tn > OCTO_TAG_MAX)
		return OCTO_ERR_NAME_INVALID;
	memcpy(key, repo, rn);
	key[rn] = '\n'; /* in neither a name nor a tag */
	memcpy(key + rn + 1, tag, tn);
	octo_digest_of(OCTO_DIGEST_SHA256, key, rn + 1 + tn, &d);
	return octo_store_path(buf, size, "%s/%.32s%s", OCTO_VOTES_DIR, d.hex, suffix);
}

static json_t *ballot_json(const struct octo_vote_ballot *b)
{
	return json_pack("{s:I,s:s}", "hlc", (json_int_t)b->hlc, "node", b->node);
}

static json_t *write_json(const struct octo_vote_write *w)
{
	return json_pack("{s:I,s:I,s:s,s:b,s:s}", "hlc", (json_int_t)w->hlc, "time_ms",
			 (json_int_t)w->time_ms, "node", w->node, "tombstone", w->tombstone,
			 "digest", w->digest);
}

static int ballot_parse(json_t *o, struct octo_vote_ballot *b)
{
	json_int_t hlc;
	const char *node;

	if (json_unpack(o, "{s:I,s:s}", "hlc", &hlc, "node", &node) != 0 || hlc < 0 ||
	    octo_str_copy(b->node, sizeof(b->node), node) != 0)
		return -1;
	b->hlc = (uint64_t)hlc;
	return b->node[0] == '\0' || octo_node_id_valid(b->node, strlen(b->node)) ? 0 : -1;
}

static int write_parse(json_t *o, struct octo_vote_write *w)
{
	json_int_t hlc, ms;
	const char *node, *digest;
	int tomb;

	if (json_unpack(o, "{s:I,s:I,s:s,s:b,s:s}", "hlc", &hlc, "time_ms", &ms, "node", &node,
			"tombstone", &tomb, "digest", &digest) != 0 ||
	    hlc < 0 || ms < 0 || octo_str_copy(w->node, sizeof(w->node), node) != 0 ||
	    octo_str_copy(w->digest, sizeof(w->digest), digest) != 0)
		return -1;
	w->hlc = (uint64_t)hlc;
	w->time_ms = (uint64_t)ms;
	w->tombstone = tomb;
	return octo_vote_write_valid(w) ? 0 : -1;
}

/* The state of repo's tag (the zero state when there is none). */
static enum octo_err state_read(const struct octo_store *s, const char *rel, const char *repo,
				const char *tag, struct octo_vote_state *st)
{
	json_t *o, *promised, *ab = NULL, *a = NULL, *c = NULL;
	const char *r, *t;
	json_int_t slot;
	char *text;
	size_t len;
	enum octo_err err = octo_store_read(s, rel, STATE_MAX, OCTO_ERR_NAME_UNKNOWN, &text, &len);

	memset(st, 0, sizeof(*st));
	if (err == OCTO_ERR_NAME_UNKNOWN)
		return OCTO_OK;
	if (err != OCTO_OK)
		return err;
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	free(text);
	err = OCTO_ERR_IO;
	if (o != NULL &&
	    json_unpack(o, "{s:s,s:s,s:I,s:o,s?o,s?o,s?o}", "repository", &r, "tag", &t, "slot",
			&slot, "promised", &promised, "accepted_ballot", &ab, "accepted", &a,
			"chosen", &c) == 0 &&
	    strcmp(r, repo) == 0 && strcmp(t, tag) == 0 && slot >= 0 &&
	    ballot_parse(promised, &st->promised) == 0 && (ab == NULL) == (a == NULL) &&
	    (ab == NULL ||
	     (ballot_parse(ab, &st->accepted_ballot) == 0 && write_parse(a, &st->accepted) == 0)) &&
	    (c == NULL || write_parse(c, &st->chosen) == 0)) {
		st->slot = (uint64_t)slot;
		st->has_accepted = a != NULL;
		st->has_chosen = c != NULL;
		err = OCTO_OK;
	}
	json_decref(o);
	return err;
}

static enum octo_err state_write(const struct octo_store *s, const char *rel, const char *repo,
				 const char *tag, const struct octo_vote_state *st)
{
	json_t *o = json_pack("{s:s,s:s,s:I,s:o}", "repository", repo, "tag", tag, "slot",
			      (json_int_t)st->slot, "promised", ballot_json(&st->promised));
	enum octo_err err = OCTO_ERR_NOMEM;
	char *text;

	if (o == NULL)
		return OCTO_ERR_NOMEM;
	if (st->has_accepted) {
		json_object_set_new(o, "accepted_ballot", ballot_json(&st->accepted_ballot));
		json_object_set_new(o, "accepted", write_json(&st->accepted));
	}
	if (st->has_chosen)
		json_object_set_new(o, "chosen", write_json(&st->chosen));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text != NULL)
		err = octo_store_write_atomic(s, rel, text, strlen(text), 1);
	free(text);
	return err;
}

enum vote_phase {
	PREPARE,
	ACCEPT,
	LEARN
};

/* One phase under the tag's lock: read, decide, and write when the state changed. */
static enum octo_err vote(const struct octo_store *s, const char *repo, const char *tag,
			  enum vote_phase phase, uint64_t slot, const struct octo_vote_ballot *b,
			  const struct octo_vote_write *w, int *ok, struct octo_vote_state *st)
{
	char rel[OCTO_STORE_PATH_MAX], lock[OCTO_STORE_PATH_MAX];
	enum octo_err err = rel_of(repo, tag, "", rel, sizeof(rel));
	int fd, changed = 0;

	*ok = 0;
	if (err == OCTO_OK)
		err = rel_of(repo, tag, ".lock", lock, sizeof(lock));
	if (err != OCTO_OK)
		return err;
	if ((fd = octo_store_lock(s, lock, 1)) < 0)
		return octo_store_error(errno, OCTO_ERR_IO);
	err = state_read(s, rel, repo, tag, st);
	if (err == OCTO_OK) {
		switch (phase) {
		case PREPARE:
			if (octo_vote_ballot_cmp(b, &st->promised) > 0) {
				st->promised = *b;
				*ok = changed = 1;
			}
			break;
		case ACCEPT:
			if (slot == st->slot && octo_vote_ballot_cmp(b, &st->promised) >= 0) {
				st->promised = *b;
				st->accepted_ballot = *b;
				st->accepted = *w;
				st->has_accepted = 1;
				*ok = changed = 1;
			}
			break;
		case LEARN:
			*ok = 1;
			if (slot >= st->slot) {
				st->slot = slot + 1;
				st->chosen = *w;
				st->has_chosen = 1;
				st->has_accepted = 0;
				changed = 1;
			}
			break;
		}
		if (changed)
			err = state_write(s, rel, repo, tag, st);
		if (err != OCTO_OK)
			*ok = 0;
	}
	close(fd);
	return err;
}

enum octo_err octo_vote_prepare(const struct octo_store *s, const char *repo, const char *tag,
				const struct octo_vote_ballot *b, int *ok,
				struct octo_vote_state *st)
{
	return vote(s, repo, tag, PREPARE, 0, b, NULL, ok, st);
}

enum octo_err octo_vote_accept(const struct octo_store *s, const char *repo, const char *tag,
			       uint64_t slot, const struct octo_vote_ballot *b,
			       const struct octo_vote_write *w, int *ok, struct octo_vote_state *st)
{
	if (!octo_vote_write_valid(w))
		return OCTO_ERR_NAME_INVALID;
	return vote(s, repo, tag, ACCEPT, slot, b, w, ok, st);
}

enum octo_err octo_vote_learn(struct octo_store *s, struct octo_journal *j, const char *repo,
			      const char *tag, uint64_t slot, const struct octo_vote_write *w,
			      struct octo_vote_state *st)
{
	char key[OCTO_STORE_PATH_MAX];
	struct octo_record r = {
		.stamp = {.hlc = w->hlc, .time_ms = w->time_ms, .node = w->node},
		.tombstone = w->tombstone,
		.value = w->tombstone ? NULL : w->digest,
		.value_len = w->tombstone ? 0 : strlen(w->digest),
	};
	enum octo_err err;
	int ok;

	if (!octo_vote_write_valid(w))
		return OCTO_ERR_NAME_INVALID;
	/* the record first: a crash before the slot moves leaves a write learned again */
	err = octo_store_tag_key(tag, key, sizeof(key));
	if (err == OCTO_OK)
		err = octo_apply_record(s, j, repo, key, &r, NULL, 0);
	return err != OCTO_OK ? err : vote(s, repo, tag, LEARN, slot, NULL, w, &ok, st);
}
