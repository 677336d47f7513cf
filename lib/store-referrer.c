/* SPDX-License-Identifier: Apache-2.0 */
/* See store-referrer.h. */
#include "autoconfig.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "store-record.h"
#include "store-referrer.h"

static enum octo_err dir_rel(const char *repo, const struct octo_digest *subject, char *buf,
			     size_t size)
{
	return octo_store_path(buf, size, "repositories/%s/_referrers/%s/%s", repo,
			       octo_digest_alg_name(subject->alg), subject->hex);
}

enum octo_err octo_store_referrer_key(const struct octo_digest *subject,
				      const struct octo_digest *d, char *buf, size_t size)
{
	return octo_store_path(buf, size, "_referrers/%s/%s/%s-%s",
			       octo_digest_alg_name(subject->alg), subject->hex,
			       octo_digest_alg_name(d->alg), d->hex);
}

enum octo_err octo_store_referrer_add(const struct octo_store *s, const char *repo,
				      const struct octo_digest *subject,
				      const struct octo_digest *d, const char *descriptor,
				      const struct octo_record_stamp *stamp)
{
	char key[OCTO_STORE_PATH_MAX];
	struct octo_record r = {
		.stamp = *stamp, .value = descriptor, .value_len = strlen(descriptor)};
	enum octo_err err = octo_store_referrer_key(subject, d, key, sizeof(key));

	return err != OCTO_OK ? err : octo_store_record_put(s, repo, key, &r, NULL);
}

enum octo_err octo_store_referrer_remove(const struct octo_store *s, const char *repo,
					 const struct octo_digest *subject,
					 const struct octo_digest *d,
					 const struct octo_record_stamp *stamp)
{
	char key[OCTO_STORE_PATH_MAX];
	struct octo_record r = {.stamp = *stamp, .tombstone = 1};
	enum octo_err err = octo_store_referrer_key(subject, d, key, sizeof(key));

	return err != OCTO_OK ? err : octo_store_record_put(s, repo, key, &r, NULL);
}

/* "<alg>-<hex>", the entry names octo_store_referrer_key makes. */
int octo_store_referrer_name_valid(const char *name, size_t len)
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
int octo_store_referrer_descriptor_valid(const char *text, size_t len)
{
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	int ok = json_is_object(o) && json_is_string(json_object_get(o, "mediaType")) &&
		 json_is_string(json_object_get(o, "digest")) &&
		 json_is_integer(json_object_get(o, "size"));

	json_decref(o);
	return ok;
}

enum octo_err octo_store_referrer_names(const struct octo_store *s, const char *repo,
					const struct octo_digest *subject, struct octo_strv *names)
{
	char dir[OCTO_STORE_PATH_MAX];
	enum octo_err err = dir_rel(repo, subject, dir, sizeof(dir));

	memset(names, 0, sizeof(*names));
	if (err == OCTO_OK)
		err = octo_store_list(s, dir, octo_store_referrer_name_valid, OCTO_OK, names);
	if (err == OCTO_OK)
		octo_strv_sort(names, strcmp);
	return err;
}

enum octo_err octo_store_referrer_read(const struct octo_store *s, const char *repo,
				       const struct octo_digest *subject, const char *name,
				       char **text, size_t *len)
{
	char key[OCTO_STORE_PATH_MAX];
	struct octo_store_record sr;
	enum octo_err err = octo_store_path(key, sizeof(key), "_referrers/%s/%s/%s",
					    octo_digest_alg_name(subject->alg), subject->hex, name);

	*text = NULL;
	*len = 0;
	if (err == OCTO_OK)
		err = octo_store_record_get(s, repo, key, OCTO_BOUND_DESCRIPTOR,
					    OCTO_ERR_BLOB_UNKNOWN, &sr);
	if (err != OCTO_OK)
		return err;
	if (!octo_store_referrer_descriptor_valid(sr.rec.value, sr.rec.value_len))
		err = OCTO_ERR_IO;
	else if ((*text = strndup(sr.rec.value, sr.rec.value_len)) == NULL)
		err = OCTO_ERR_NOMEM;
	else
		*len = sr.rec.value_len;
	octo_store_record_cleanup(&sr);
	return err;
}
