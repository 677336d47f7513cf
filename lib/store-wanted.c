/* SPDX-License-Identifier: Apache-2.0 */
/* See store-wanted.h. */
#include "autoconfig.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store-wanted.h"

void octo_store_wanted_name(const struct octo_digest *d, char *buf, size_t size)
{
	snprintf(buf, size, "%s-%s", octo_digest_alg_name(d->alg), d->hex);
}

enum octo_err octo_store_wanted_digest(const char *name, struct octo_digest *d)
{
	char s[OCTO_DIGEST_MAX_STRING];
	const char *dash = strchr(name, '-');
	size_t n = strlen(name);

	if (dash == NULL || n >= sizeof(s))
		return OCTO_ERR_DIGEST_INVALID;
	memcpy(s, name, n + 1);
	s[dash - name] = ':';
	return octo_digest_parse(s, n, d);
}

static enum octo_err rel_in(const char *dir, const struct octo_digest *d, char *buf, size_t size)
{
	char name[OCTO_DIGEST_MAX_STRING];

	octo_store_wanted_name(d, name, sizeof(name));
	return octo_store_path(buf, size, "%s/%s", dir, name);
}

enum octo_err octo_store_incoming_rel(const struct octo_digest *d, char *buf, size_t size)
{
	return rel_in(OCTO_INCOMING_DIR, d, buf, size);
}

enum octo_err octo_store_unavailable_rel(const struct octo_digest *d, char *buf, size_t size)
{
	return rel_in(OCTO_UNAVAILABLE_DIR, d, buf, size);
}

enum octo_err octo_store_want_blob(const struct octo_store *s, const struct octo_digest *d,
				   const char *source)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = rel_in(OCTO_WANTED_DIR, d, rel, sizeof(rel));

	if (err != OCTO_OK)
		return err;
	if (octo_store_stat(s, rel, OCTO_ERR_NAME_UNKNOWN, NULL) == OCTO_OK)
		return OCTO_OK;
	return octo_store_write_atomic(s, rel, source, strlen(source), 1);
}

enum octo_err octo_store_wanted_list(const struct octo_store *s, struct octo_strv *out)
{
	return octo_store_list(s, OCTO_WANTED_DIR, NULL, OCTO_OK, out);
}

enum octo_err octo_store_wanted_source(const struct octo_store *s, const struct octo_digest *d,
				       char *buf, size_t size)
{
	char rel[OCTO_STORE_PATH_MAX], *data = NULL;
	size_t len;
	enum octo_err err = rel_in(OCTO_WANTED_DIR, d, rel, sizeof(rel));

	if (err == OCTO_OK)
		err = octo_store_read(s, rel, size - 1, OCTO_ERR_NAME_UNKNOWN, &data, &len);
	if (err == OCTO_OK)
		snprintf(buf, size, "%s", data);
	free(data);
	return err;
}

enum octo_err octo_store_unwant_blob(const struct octo_store *s, const struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = rel_in(OCTO_UNAVAILABLE_DIR, d, rel, sizeof(rel));

	if (err == OCTO_OK)
		err = octo_store_unmark(s, rel);
	if (err == OCTO_OK)
		err = rel_in(OCTO_WANTED_DIR, d, rel, sizeof(rel));
	return err != OCTO_OK ? err : octo_store_remove(s, rel, OCTO_OK);
}

enum octo_err octo_store_note_unavailable(const struct octo_store *s, const struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX], text[48];
	struct timespec now;
	enum octo_err err = rel_in(OCTO_UNAVAILABLE_DIR, d, rel, sizeof(rel));

	if (err != OCTO_OK)
		return err;
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(text, sizeof(text), "%" PRId64 ".%09ld\n", (int64_t)now.tv_sec, now.tv_nsec);
	/* a note lost in a crash costs a client one more wait: no directory fsync */
	return octo_store_write_atomic(s, rel, text, strlen(text), 0);
}

enum octo_err octo_store_unavailable_since(const struct octo_store *s, const struct octo_digest *d,
					   struct timespec *when)
{
	char rel[OCTO_STORE_PATH_MAX], *data = NULL, *end;
	size_t len;
	long long sec, nsec = 0;
	enum octo_err err = rel_in(OCTO_UNAVAILABLE_DIR, d, rel, sizeof(rel));

	if (err == OCTO_OK)
		err = octo_store_read(s, rel, 64, OCTO_ERR_NAME_UNKNOWN, &data, &len);
	if (err != OCTO_OK)
		return err;
	sec = strtoll(data, &end, 10);
	if (*end == '.')
		nsec = strtoll(end + 1, &end, 10);
	free(data);
	if (sec <= 0 || nsec < 0 || nsec > 999999999)
		return OCTO_ERR_NAME_UNKNOWN; /* not a note we wrote: as if none */
	when->tv_sec = (time_t)sec;
	when->tv_nsec = (long)nsec;
	return OCTO_OK;
}

enum octo_err octo_store_note_cached(const struct octo_store *s, const struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = rel_in(OCTO_CACHED_DIR, d, rel, sizeof(rel));

	return err != OCTO_OK ? err : octo_store_mark(s, rel);
}

int octo_store_is_cached(const struct octo_store *s, const struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX];

	return rel_in(OCTO_CACHED_DIR, d, rel, sizeof(rel)) == OCTO_OK &&
	       octo_store_stat(s, rel, OCTO_ERR_NAME_UNKNOWN, NULL) == OCTO_OK;
}

enum octo_err octo_store_uncache(const struct octo_store *s, const struct octo_digest *d)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = rel_in(OCTO_CACHED_DIR, d, rel, sizeof(rel));

	return err != OCTO_OK ? err : octo_store_unmark(s, rel);
}
