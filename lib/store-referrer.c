/* SPDX-License-Identifier: Apache-2.0 */
/* See store-referrer.h. */
#include "autoconfig.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "store-referrer.h"

static enum octo_err dir_rel(const char *repo, const struct octo_digest *subject, char *buf,
			     size_t size)
{
	return octo_store_path(buf, size, "repositories/%s/_referrers/%s/%s", repo,
			       octo_digest_alg_name(subject->alg), subject->hex);
}

static enum octo_err referrer_rel(const char *repo, const struct octo_digest *subject,
				  const struct octo_digest *d, char *buf, size_t size)
{
	return octo_store_path(buf, size, "repositories/%s/_referrers/%s/%s/%s-%s", repo,
			       octo_digest_alg_name(subject->alg), subject->hex,
			       octo_digest_alg_name(d->alg), d->hex);
}

enum octo_err octo_store_referrer_add(const struct octo_store *s, const char *repo,
				      const struct octo_digest *subject,
				      const struct octo_digest *d, const char *descriptor)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = referrer_rel(repo, subject, d, rel, sizeof(rel));

	if (err != OCTO_OK)
		return err;
	return octo_store_write_atomic(s, rel, descriptor, strlen(descriptor), 1);
}

enum octo_err octo_store_referrer_remove(const struct octo_store *s, const char *repo,
					 const struct octo_digest *subject,
					 const struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = referrer_rel(repo, subject, d, rel, sizeof(rel));

	return err != OCTO_OK ? err : octo_store_remove(s, rel, OCTO_OK);
}

/* "<alg>-<hex>", the names referrer_rel makes. */
static int referrer_name(const char *name, size_t len)
{
	struct octo_digest d;
	char buf[OCTO_DIGEST_MAX_STRING];
	const char *dash = memchr(name, '-', len);

	if (dash == NULL || len >= sizeof(buf))
		return 0;
	memcpy(buf, name, len);
	buf[dash - name] = ':';
	return octo_digest_parse(buf, len, &d) == OCTO_OK;
}

/* A descriptor as octo_store_referrer_add stored it: an object with a string mediaType,
 * a string digest and an integer size. */
static int descriptor_valid(const char *text, size_t len)
{
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	int ok = json_is_object(o) && json_is_string(json_object_get(o, "mediaType")) &&
		 json_is_string(json_object_get(o, "digest")) &&
		 json_is_integer(json_object_get(o, "size"));

	json_decref(o);
	return ok;
}

enum octo_err octo_store_referrer_list(const struct octo_store *s, const char *repo,
				       const struct octo_digest *subject,
				       struct octo_strv *descriptors)
{
	char dir[OCTO_STORE_PATH_MAX], rel[OCTO_STORE_PATH_MAX];
	struct octo_strv names;
	enum octo_err err;
	size_t i;

	memset(descriptors, 0, sizeof(*descriptors));
	err = dir_rel(repo, subject, dir, sizeof(dir));
	if (err == OCTO_OK)
		err = octo_store_list(s, dir, referrer_name, OCTO_OK, &names);
	if (err != OCTO_OK)
		return err;
	octo_strv_sort(&names, strcmp);
	for (i = 0; err == OCTO_OK && i < names.n; i++) {
		char *text;
		size_t len;

		if (octo_store_path(rel, sizeof(rel), "%s/%s", dir, names.v[i]) != OCTO_OK ||
		    octo_store_read(s, rel, OCTO_BOUND_DESCRIPTOR, OCTO_ERR_IO, &text, &len) !=
			    OCTO_OK)
			continue; /* removed meanwhile, or not ours */
		if (descriptor_valid(text, len) && octo_strv_push(descriptors, text, len) != 0)
			err = OCTO_ERR_NOMEM;
		free(text);
	}
	octo_strv_cleanup(&names);
	if (err != OCTO_OK)
		octo_strv_cleanup(descriptors);
	return err;
}
