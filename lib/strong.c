/* SPDX-License-Identifier: Apache-2.0 */
/* See strong.h. Both files are JSON; the responder polls every POLL_MS, as lazy.c does. */
#include "autoconfig.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "handoff.h"
#include "metrics.h"
#include "strong.h"

#define POLL_MS 5
/* The largest request: every blob's digest string and the names. */
#define REQUEST_MAX (OCTO_STRONG_BLOBS_MAX * (OCTO_DIGEST_MAX_STRING + 3) + 4096)
#define ANSWER_MAX 4096

void octo_strong_request_cleanup(struct octo_strong_request *r)
{
	free(r->blobs);
	r->blobs = NULL;
	r->n_blobs = 0;
}

static char *request_text(const struct octo_strong_request *r)
{
	json_t *o = json_pack("{s:s,s:s,s:b,s:s,s:I,s:I,s:I,s:[]}", "repository", r->repo, "tag",
			      r->tag, "tombstone", r->tombstone, "digest", r->digest, "seq",
			      (json_int_t)r->seq, "since_hlc", (json_int_t)r->since_hlc,
			      "deadline_ms", (json_int_t)r->deadline_ms, "blobs");
	json_t *blobs = o != NULL ? json_object_get(o, "blobs") : NULL;
	char *text = NULL;
	size_t i;

	for (i = 0; blobs != NULL && i < r->n_blobs; i++) {
		char ds[OCTO_DIGEST_MAX_STRING];
		octo_digest_format(&r->blobs[i], ds, sizeof(ds));
		if (json_array_append_new(blobs, json_string(ds)) != 0)
			blobs = NULL;
	}
	if (blobs != NULL)
		text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* An answer: OCTO_OK with *outcome and why into detail. */
static enum octo_err parse_answer(const char *text, size_t len, enum octo_err *outcome,
				  char *detail, size_t size)
{
	const char *o, *why;
	json_t *j = json_loadb(text, len, 0, NULL);
	enum octo_err err = OCTO_ERR_IO;

	if (j != NULL && json_unpack(j, "{s:s,s:s}", "outcome", &o, "detail", &why) == 0) {
		err = OCTO_OK;
		if (strcmp(o, "ok") == 0)
			*outcome = OCTO_OK;
		else if (strcmp(o, "conflict") == 0)
			*outcome = OCTO_ERR_TAG_CONFLICT;
		else
			*outcome = OCTO_ERR_NOT_REPLICATED;
		snprintf(detail, size, "%s", why);
	}
	json_decref(j);
	return err;
}

enum octo_err octo_strong_wait(const struct octo_store *s, struct octo_strong_request *req,
			       int64_t timeout_ms, char *detail, size_t size)
{
	uint64_t started = octo_clock_monotonic_ms();
	enum octo_err err, outcome = OCTO_ERR_NOT_REPLICATED;
	char *text, *answer;
	size_t len;

	req->deadline_ms = octo_clock_wall_ms() + (uint64_t)timeout_ms;
	if ((text = request_text(req)) == NULL)
		return OCTO_ERR_NOMEM;
	err = octo_handoff_ask(s, OCTO_STRONG_DIR, text, ANSWER_MAX, timeout_ms, POLL_MS, &answer,
			       &len);
	free(text);
	if (err == OCTO_OK) {
		err = parse_answer(answer, len, &outcome, detail, size);
		free(answer);
		if (err != OCTO_OK)
			return err;
		octo_metrics_strong(octo_store_metrics(s),
				    outcome == OCTO_OK                 ? OCTO_STRONG_CONFIRMED
				    : outcome == OCTO_ERR_TAG_CONFLICT ? OCTO_STRONG_CONFLICT
								       : OCTO_STRONG_REFUSED,
				    (long long)(octo_clock_monotonic_ms() - started) * 1000);
		return outcome;
	}
	if (err != OCTO_ERR_NAME_UNKNOWN)
		return err;
	octo_metrics_strong(octo_store_metrics(s), OCTO_STRONG_TIMEOUT,
			    (long long)(octo_clock_monotonic_ms() - started) * 1000);
	snprintf(detail, size,
		 "the peer daemon did not confirm within p2p.replication.strong_timeout (%lld ms): "
		 "the write may still be completed; retrying it is safe",
		 (long long)timeout_ms);
	return OCTO_ERR_NOT_REPLICATED;
}

enum octo_err octo_strong_pending(const struct octo_store *s, struct octo_strv *ids)
{
	return octo_handoff_pending(s, OCTO_STRONG_DIR, ids);
}

enum octo_err octo_strong_read(const struct octo_store *s, const char *id,
			       struct octo_strong_request *req)
{
	const char *repo, *tag, *digest;
	json_int_t seq, since, deadline;
	json_t *o, *blobs, *b;
	struct octo_digest d;
	char *text;
	size_t len, i;
	int tomb;
	enum octo_err err;

	memset(req, 0, sizeof(*req));
	err = octo_handoff_read(s, OCTO_STRONG_DIR, id, REQUEST_MAX, &text, &len);
	if (err != OCTO_OK)
		return err;
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	free(text);
	if (o == NULL ||
	    json_unpack(o, "{s:s,s:s,s:b,s:s,s:I,s:I,s:I,s:o}", "repository", &repo, "tag", &tag,
			"tombstone", &tomb, "digest", &digest, "seq", &seq, "since_hlc", &since,
			"deadline_ms", &deadline, "blobs", &blobs) != 0 ||
	    !octo_name_valid(repo, strlen(repo)) ||
	    (tag[0] != '\0' && !octo_tag_valid(tag, strlen(tag))) || seq < 0 || since < 0 ||
	    deadline < 0 || !json_is_array(blobs) ||
	    json_array_size(blobs) > OCTO_STRONG_BLOBS_MAX ||
	    (tag[0] != '\0' && !tomb && octo_digest_parse(digest, strlen(digest), &d) != OCTO_OK) ||
	    octo_str_copy(req->repo, sizeof(req->repo), repo) != 0 ||
	    octo_str_copy(req->tag, sizeof(req->tag), tag) != 0 ||
	    octo_str_copy(req->digest, sizeof(req->digest), tomb ? "" : digest) != 0) {
		json_decref(o);
		return OCTO_ERR_IO;
	}
	req->tombstone = tomb;
	req->seq = (uint64_t)seq;
	req->since_hlc = (uint64_t)since;
	req->deadline_ms = (uint64_t)deadline;
	req->blobs = calloc(json_array_size(blobs) + 1, sizeof(*req->blobs));
	err = req->blobs == NULL ? OCTO_ERR_NOMEM : OCTO_OK;
	json_array_foreach(blobs, i, b)
	{
		if (err != OCTO_OK)
			break;
		if (!json_is_string(b) ||
		    octo_digest_parse(json_string_value(b), json_string_length(b),
				      &req->blobs[req->n_blobs++]) != OCTO_OK)
			err = OCTO_ERR_IO;
	}
	json_decref(o);
	if (err != OCTO_OK)
		octo_strong_request_cleanup(req);
	return err;
}

enum octo_err octo_strong_answer(const struct octo_store *s, const char *id, enum octo_err outcome,
				 const char *detail)
{
	const char *o = outcome == OCTO_OK                 ? "ok"
			: outcome == OCTO_ERR_TAG_CONFLICT ? "conflict"
							   : "unavailable";
	json_t *j = json_pack("{s:s,s:s}", "outcome", o, "detail", detail != NULL ? detail : "");
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	enum octo_err err;

	json_decref(j);
	if (text == NULL)
		return OCTO_ERR_NOMEM;
	err = octo_handoff_answer(s, OCTO_STRONG_DIR, id, text);
	free(text);
	return err;
}

void octo_strong_sweep(const struct octo_store *s)
{
	octo_handoff_sweep(s, OCTO_STRONG_DIR);
}

enum octo_err octo_strong_delete_tag(const struct octo_store *s, const char *repo, const char *tag,
				     int64_t timeout_ms, char *detail, size_t size)
{
	struct octo_strong_request sr = {.tombstone = 1,
					 .since_hlc = octo_hlc_tick(0, octo_clock_wall_ms())};

	snprintf(sr.repo, sizeof(sr.repo), "%s", repo);
	snprintf(sr.tag, sizeof(sr.tag), "%s", tag);
	return octo_strong_wait(s, &sr, timeout_ms, detail, size);
}
