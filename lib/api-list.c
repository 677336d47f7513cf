/* SPDX-License-Identifier: Apache-2.0 */
/* Paginated lists: distribution-spec end-8a/8b (tags) and Docker's /v2/_catalog. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "bounds.h"
#include "store-manifest.h"
#include "store-repo.h"

/* Names and tags need no JSON escaping (their grammars have no quote or backslash); memcpy
 * rather than sprintf, which was a third of the responder's time on a list of 1000 tags. */
static size_t append_name(char *out, size_t pos, const char *name, size_t len, int comma)
{
	if (comma)
		out[pos++] = ',';
	out[pos++] = '"';
	memcpy(out + pos, name, len);
	pos += len;
	out[pos++] = '"';
	return pos;
}

/* The page as {"name": <repository>, "tags": [...]} (tags) or {"repositories": [...]}, and a
 * Link to the next page when more follow. */
static void send_page(struct octo_route *rt, struct octo_response *resp, int tags, char **items,
		      size_t n, int more, long limit)
{
	size_t i, pos, size = (tags ? strlen(rt->name) : 0) + 48;
	char *out;

	for (i = 0; i < n; i++)
		size += strlen(items[i]) + 3;
	out = malloc(size);
	if (out == NULL)
		return octo_response_error(resp, OCTO_ERR_NOMEM, NULL);
	pos = tags ? (size_t)sprintf(out, "{\"name\":\"%s\",\"tags\":[", rt->name)
		   : (size_t)sprintf(out, "{\"repositories\":[");
	for (i = 0; i < n; i++)
		pos = append_name(out, pos, items[i], strlen(items[i]), i > 0);
	memcpy(out + pos, "]}", 3);
	if (more && n > 0) {
		if (tags)
			octo_response_add_header(resp, "Link",
						 "</v2/%s/tags/list?n=%ld&last=%s>; rel=\"next\"",
						 rt->name, limit, items[n - 1]);
		else
			octo_response_add_header(resp, "Link",
						 "</v2/_catalog?n=%ld&last=%s>; rel=\"next\"",
						 limit, items[n - 1]);
	}
	resp->body = out;
	resp->body_len = pos + 2;
	octo_response_add_header(resp, "Content-Type", "application/json");
}

/* Whether the catalog is filtered for rt's caller. */
static int filtered(const struct octo_registry *reg, const struct octo_route *rt)
{
	return reg->auth != NULL && !octo_auth_unlimited(reg->auth, &rt->caller);
}

/* Drop the repositories the caller may not pull from names. */
static void keep_listable(const struct octo_registry *reg, const struct octo_route *rt,
			  struct octo_strv *names)
{
	size_t i, kept = 0;

	for (i = 0; i < names->n; i++) {
		if (octo_auth_rules_pull(reg->auth, &rt->caller, names->v[i]))
			names->v[kept++] = names->v[i];
		else
			free(names->v[i]);
	}
	names->n = kept;
}

/* GET tags/list or _catalog with ?n= and ?last=: a page from the index (the tags of the
 * repository, or the catalog), reading only what it returns; without a usable index, from
 * the whole list (a scan of the tag directory, a walk of the repositories). */
static void list(struct octo_registry *reg, struct octo_route *rt, struct octo_response *resp,
		 int tags)
{
	const char *last = octo_query_get(&rt->query, "last"),
		   *nq = octo_query_get(&rt->query, "n");
	struct octo_strv names;
	long limit = -1;
	size_t start = 0, end;
	int more;
	enum octo_err err;

	if (nq != NULL) {
		char *stop;
		limit = nq[0] >= '0' && nq[0] <= '9' ? strtol(nq, &stop, 10) : -1;
		if (limit < 0 || *stop != '\0')
			return octo_response_error(resp, OCTO_ERR_BAD_REQUEST,
						   "n must be a non-negative integer");
		if (limit > OCTO_BOUND_LIST_ENTRIES)
			limit = OCTO_BOUND_LIST_ENTRIES;
	}
	/* A caller who may not pull every repository sees the catalog filtered: from the whole
	 * list, so that a page is as long as asked. */
	err = tags ? octo_store_tag_page(reg->store, rt->name, last, limit, &names, &more)
	      : filtered(reg, rt) ? OCTO_ERR_NAME_UNKNOWN
				  : octo_store_repo_page(reg->store, last, limit, &names, &more);
	if (err == OCTO_OK) {
		send_page(rt, resp, tags, names.v, names.n, more, limit);
		return octo_strv_cleanup(&names);
	}
	if (err != OCTO_ERR_NAME_UNKNOWN)
		return octo_response_error(resp, err, NULL);
	err = tags ? octo_store_tag_list(reg->store, rt->name, &names)
		   : octo_store_repo_list(reg->store, &names);
	if (err != OCTO_OK)
		return octo_response_error(resp, err, NULL);
	if (!tags && filtered(reg, rt))
		keep_listable(reg, rt, &names);
	while (last != NULL && start < names.n &&
	       (tags ? octo_tag_cmp(names.v[start], last) : strcmp(names.v[start], last)) <= 0)
		start++;
	end = limit >= 0 && names.n - start > (size_t)limit ? start + (size_t)limit : names.n;
	send_page(rt, resp, tags, names.v + start, end - start, end < names.n, limit);
	octo_strv_cleanup(&names);
}

void octo_api_tags_list(struct octo_registry *reg, struct octo_route *rt,
			struct octo_response *resp)
{
	list(reg, rt, resp, 1);
}

void octo_api_catalog(struct octo_registry *reg, struct octo_route *rt, struct octo_response *resp)
{
	list(reg, rt, resp, 0);
}
