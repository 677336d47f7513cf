/* SPDX-License-Identifier: Apache-2.0 */
/* Paginated lists: distribution-spec end-8a/8b (tags) and Docker's /v2/_catalog. */
#include "autoconfig.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "bounds.h"
#include "store-manifest.h"
#include "store-repo.h"

/* ?n= and ?last= of a paginated list (tags, catalog): the slice [*start, *end) of items.
 * Returns OCTO_ERR_BAD_REQUEST for a malformed n. */
static enum octo_err paginate(const struct octo_route *rt, char **items, size_t count,
			      int (*cmp)(const char *, const char *), size_t *start, size_t *end,
			      long *limit)
{
	const char *n = octo_query_get(&rt->query, "n"), *last = octo_query_get(&rt->query, "last");

	*limit = -1;
	if (n != NULL) {
		char *stop;
		long v;
		if (n[0] < '0' || n[0] > '9')
			return OCTO_ERR_BAD_REQUEST;
		v = strtol(n, &stop, 10);
		if (*stop != '\0' || v < 0)
			return OCTO_ERR_BAD_REQUEST;
		*limit = v > OCTO_BOUND_LIST_ENTRIES ? OCTO_BOUND_LIST_ENTRIES : v;
	}
	*start = 0;
	if (last != NULL)
		while (*start < count && cmp(items[*start], last) <= 0)
			(*start)++;
	*end = count;
	if (*limit >= 0 && count - *start > (size_t)*limit)
		*end = *start + (size_t)*limit;
	return OCTO_OK;
}

/* {"<key0>": <name>, "<key>": [items...]} and a Link header when more remain. */
static void list_response(struct octo_route *rt, struct octo_response *resp, const char *key,
			  char **items, size_t count, int (*cmp)(const char *, const char *),
			  const char *link_path)
{
	size_t start, end, i;
	long limit;
	json_t *o, *arr;
	enum octo_err err = paginate(rt, items, count, cmp, &start, &end, &limit);

	if (err != OCTO_OK)
		return octo_response_error(resp, err, "n must be a non-negative integer");
	arr = json_array();
	for (i = start; arr != NULL && i < end; i++)
		json_array_append_new(arr, json_string(items[i]));
	o = strcmp(key, "tags") == 0 ? json_pack("{s:s,s:o}", "name", rt->name, key, arr)
				     : json_pack("{s:o}", key, arr);
	resp->body = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (resp->body == NULL)
		return octo_response_error(resp, OCTO_ERR_NOMEM, NULL);
	resp->body_len = strlen(resp->body);
	octo_response_add_header(resp, "Content-Type", "application/json");
	if (end < count && end > start)
		octo_response_add_header(resp, "Link", "<%s?n=%ld&last=%s>; rel=\"next\"",
					 link_path, limit, items[end - 1]);
}

/* Tags need no JSON escaping (their grammar has no quote or backslash); memcpy rather than
 * sprintf, which was a third of the responder's time on a list of 1000 tags. */
static size_t append_tag(char *out, size_t pos, const char *tag, size_t len, int comma)
{
	if (comma)
		out[pos++] = ',';
	out[pos++] = '"';
	memcpy(out + pos, tag, len);
	pos += len;
	out[pos++] = '"';
	return pos;
}

/* A list from an index (the tags of a repository, or the catalog): only the page asked for
 * is read, so a page of n costs the same at any size. 0 when there is no usable index. */
static int list_from_index(struct octo_registry *reg, struct octo_route *rt,
			   struct octo_response *resp, int tags)
{
	const char *last = octo_query_get(&rt->query, "last"),
		   *nq = octo_query_get(&rt->query, "n");
	struct octo_strv names;
	long limit = -1;
	size_t i, pos, size;
	int more;
	char *out;
	enum octo_err err;

	if (nq != NULL) {
		char *stop;
		limit = nq[0] >= '0' && nq[0] <= '9' ? strtol(nq, &stop, 10) : -1;
		if (limit < 0 || *stop != '\0') {
			octo_response_error(resp, OCTO_ERR_BAD_REQUEST,
					    "n must be a non-negative integer");
			return 1;
		}
		if (limit > OCTO_BOUND_LIST_ENTRIES)
			limit = OCTO_BOUND_LIST_ENTRIES;
	}
	err = tags ? octo_store_tag_page(reg->store, rt->name, last, limit, &names, &more)
		   : octo_store_repo_page(reg->store, last, limit, &names, &more);
	if (err == OCTO_ERR_NAME_UNKNOWN)
		return 0; /* no usable index */
	if (err != OCTO_OK) {
		octo_response_error(resp, err, NULL);
		return 1;
	}
	size = (tags ? strlen(rt->name) : 0) + 48;
	for (i = 0; i < names.n; i++)
		size += strlen(names.v[i]) + 3;
	out = malloc(size);
	if (out == NULL) {
		octo_strv_cleanup(&names);
		octo_response_error(resp, OCTO_ERR_NOMEM, NULL);
		return 1;
	}
	/* names and tags need no JSON escaping: their grammars have no quote or backslash */
	pos = tags ? (size_t)sprintf(out, "{\"name\":\"%s\",\"tags\":[", rt->name)
		   : (size_t)sprintf(out, "{\"repositories\":[");
	for (i = 0; i < names.n; i++)
		pos = append_tag(out, pos, names.v[i], strlen(names.v[i]), i > 0);
	memcpy(out + pos, "]}", 3);
	if (more && names.n > 0) {
		if (tags)
			octo_response_add_header(resp, "Link",
						 "</v2/%s/tags/list?n=%ld&last=%s>; rel=\"next\"",
						 rt->name, limit, names.v[names.n - 1]);
		else
			octo_response_add_header(resp, "Link",
						 "</v2/_catalog?n=%ld&last=%s>; rel=\"next\"",
						 limit, names.v[names.n - 1]);
	}
	octo_strv_cleanup(&names);
	resp->body = out;
	resp->body_len = pos + 2;
	octo_response_add_header(resp, "Content-Type", "application/json");
	return 1;
}

void octo_api_tags_list(struct octo_registry *reg, struct octo_route *rt,
			struct octo_response *resp)
{
	char link[OCTO_NAME_MAX + 32];
	struct octo_strv tags;
	enum octo_err err;

	if (list_from_index(reg, rt, resp, 1))
		return;
	/* no usable index: scan the tag directory */
	err = octo_store_tag_list(reg->store, rt->name, &tags);
	if (err != OCTO_OK)
		return octo_response_error(resp, err, NULL);
	snprintf(link, sizeof(link), "/v2/%s/tags/list", rt->name);
	list_response(rt, resp, "tags", tags.v, tags.n, octo_tag_cmp, link);
	octo_strv_cleanup(&tags);
}

void octo_api_catalog(struct octo_registry *reg, struct octo_route *rt, struct octo_response *resp)
{
	struct octo_strv names;
	enum octo_err err;

	if (list_from_index(reg, rt, resp, 0))
		return;
	/* no usable index (a store from before it): walk the repositories */
	err = octo_store_repo_list(reg->store, &names);

	if (err != OCTO_OK)
		return octo_response_error(resp, err, NULL);
	list_response(rt, resp, "repositories", names.v, names.n, strcmp, "/v2/_catalog");
	octo_strv_cleanup(&names);
}
