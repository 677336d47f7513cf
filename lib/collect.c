/* SPDX-License-Identifier: Apache-2.0 */
/* See collect.h. */
#include "autoconfig.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "handoff.h"

#define POLL_MS 50
#define REQUEST_MAX (256u << 20)
#define ANSWER_MAX (256u << 20)

void octo_collect_item(char *buf, size_t size, const char *kind, const char *repo,
		       const char *digest)
{
	snprintf(buf, size, "%s %s %s", kind, repo[0] != '\0' ? repo : "-", digest);
}

static int by_bytes(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int octo_collect_agreed(const struct octo_strv *items, const char *item)
{
	return items->n > 0 &&
	       bsearch(&item, items->v, items->n, sizeof(*items->v), by_bytes) != NULL;
}

void octo_collect_request_cleanup(struct octo_collect_request *req)
{
	octo_strv_cleanup(&req->items);
}

/* A JSON array of strings into items, sorted. */
static enum octo_err strings_of(json_t *list, struct octo_strv *items)
{
	json_t *v;
	size_t i;

	json_array_foreach(list, i, v)
	{
		if (!json_is_string(v) ||
		    octo_strv_push(items, json_string_value(v), json_string_length(v)) != 0)
			return OCTO_ERR_IO;
	}
	octo_strv_sort(items, strcmp);
	return OCTO_OK;
}

static json_t *array_of(const struct octo_strv *items)
{
	json_t *list = json_array();
	size_t i;

	for (i = 0; list != NULL && items != NULL && i < items->n; i++)
		if (json_array_append_new(list, json_string(items->v[i])) != 0) {
			json_decref(list);
			return NULL;
		}
	return list;
}

static enum octo_err parse_answer(const char *text, size_t len, struct octo_strv *items, char *why,
				  size_t size)
{
	json_t *o = json_loadb(text, len, 0, NULL);
	const char *refused;
	enum octo_err err;

	if (!json_is_object(o)) {
		json_decref(o);
		return OCTO_ERR_IO;
	}
	refused = json_string_value(json_object_get(o, "refused"));
	if (refused != NULL) {
		snprintf(why, size, "%s", refused);
		err = OCTO_ERR_NOT_REPLICATED;
	} else {
		err = strings_of(json_object_get(o, "items"), items);
	}
	json_decref(o);
	return err;
}

enum octo_err octo_collect_ask(const struct octo_store *s, const struct octo_collect_request *req,
			       int64_t timeout_ms, struct octo_strv *items, char *why, size_t size)
{
	json_t *o = json_pack("{s:I,s:b,s:b,s:o}", "grace_ms", (json_int_t)req->grace_ms,
			      "delete_untagged", req->delete_untagged, "remove_orphan_referrers",
			      req->remove_orphan_referrers, "items", array_of(&req->items));
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL, *answer;
	enum octo_err err;
	size_t len;

	memset(items, 0, sizeof(*items));
	json_decref(o);
	if (text == NULL)
		return OCTO_ERR_NOMEM;
	err = octo_handoff_ask(s, OCTO_COLLECT_DIR, text, ANSWER_MAX, timeout_ms, POLL_MS, &answer,
			       &len);
	free(text);
	if (err == OCTO_ERR_NAME_UNKNOWN) {
		snprintf(why, size, "the peer daemon did not answer within %lld ms: is it running?",
			 (long long)timeout_ms);
		return OCTO_ERR_NOT_REPLICATED;
	}
	if (err != OCTO_OK)
		return err;
	err = parse_answer(answer, len, items, why, size);
	free(answer);
	return err;
}

enum octo_err octo_collect_pending(const struct octo_store *s, struct octo_strv *ids)
{
	return octo_handoff_pending(s, OCTO_COLLECT_DIR, ids);
}

int octo_collect_answered(const struct octo_store *s, const char *id)
{
	return octo_handoff_answered(s, OCTO_COLLECT_DIR, id);
}

enum octo_err octo_collect_read(const struct octo_store *s, const char *id,
				struct octo_collect_request *req)
{
	json_int_t grace = -1;
	json_t *o, *list = NULL;
	char *text;
	size_t len;
	enum octo_err err = octo_handoff_read(s, OCTO_COLLECT_DIR, id, REQUEST_MAX, &text, &len);

	memset(req, 0, sizeof(*req));
	if (err != OCTO_OK)
		return err;
	o = json_loadb(text, len, 0, NULL);
	free(text);
	if (o == NULL ||
	    json_unpack(o, "{s:I,s:b,s:b,s:o}", "grace_ms", &grace, "delete_untagged",
			&req->delete_untagged, "remove_orphan_referrers",
			&req->remove_orphan_referrers, "items", &list) != 0 ||
	    grace < 0 || strings_of(list, &req->items) != OCTO_OK)
		err = OCTO_ERR_IO;
	req->grace_ms = grace;
	json_decref(o);
	if (err != OCTO_OK)
		octo_collect_request_cleanup(req);
	return err;
}

enum octo_err octo_collect_answer(const struct octo_store *s, const char *id,
				  const struct octo_strv *items, const char *why)
{
	json_t *o = json_object(), *list = array_of(items);
	enum octo_err err = OCTO_OK;
	char *text;

	if (o == NULL || list == NULL)
		err = OCTO_ERR_NOMEM;
	if (err == OCTO_OK && json_object_set(o, "items", list) != 0)
		err = OCTO_ERR_NOMEM;
	if (err == OCTO_OK && items == NULL &&
	    json_object_set_new(o, "refused", json_string(why != NULL ? why : "refused")) != 0)
		err = OCTO_ERR_NOMEM;
	json_decref(list);
	text = err == OCTO_OK ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL)
		return OCTO_ERR_NOMEM;
	err = octo_handoff_answer(s, OCTO_COLLECT_DIR, id, text);
	free(text);
	return err;
}

void octo_collect_sweep(const struct octo_store *s)
{
	octo_handoff_sweep(s, OCTO_COLLECT_DIR);
}
