/* SPDX-License-Identifier: Apache-2.0 */
/* See handoff.h. */
#include "autoconfig.h"

#include <string.h>
#include <time.h>

#include "clock.h"

#include "handoff.h"

static int id_valid(const char *id, size_t len)
{
	size_t i;

	if (len != OCTO_HANDOFF_ID_LEN)
		return 0;
	for (i = 0; i < len; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return 1;
}

static enum octo_err rel_of(const char *dir, const char *id, const char *suffix, char *buf,
			    size_t size)
{
	if (!id_valid(id, strlen(id)))
		return OCTO_ERR_NAME_INVALID;
	return octo_store_path(buf, size, "%s/%s%s", dir, id, suffix);
}

/* dir/<id><suffix> read whole (at most max bytes); OCTO_ERR_NAME_UNKNOWN when it is not there. */
static enum octo_err read_file(const struct octo_store *s, const char *dir, const char *id,
			       const char *suffix, size_t max, char **text, size_t *len)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = rel_of(dir, id, suffix, rel, sizeof(rel));

	return err != OCTO_OK ? err
			      : octo_store_read(s, rel, max, OCTO_ERR_NAME_UNKNOWN, text, len);
}

static void forget(const struct octo_store *s, const char *dir, const char *id)
{
	char rel[OCTO_STORE_PATH_MAX];

	/* the request first: the other side answers only while it is there */
	if (rel_of(dir, id, "", rel, sizeof(rel)) == OCTO_OK)
		octo_store_remove(s, rel, OCTO_OK);
	if (rel_of(dir, id, ".done", rel, sizeof(rel)) == OCTO_OK)
		octo_store_remove(s, rel, OCTO_OK);
}

enum octo_err octo_handoff_ask(const struct octo_store *s, const char *dir, const char *text,
			       size_t max, int64_t timeout_ms, long poll_ms, char **answer,
			       size_t *len)
{
	char id[OCTO_HANDOFF_ID_LEN + 1], rel[OCTO_STORE_PATH_MAX];
	uint64_t deadline = octo_clock_monotonic_ms() + (uint64_t)timeout_ms;
	struct timespec ts = {poll_ms / 1000, (poll_ms % 1000) * 1000000L};
	enum octo_err err = octo_store_tmpname(id, sizeof(id), "");

	*answer = NULL;
	if (err == OCTO_OK)
		err = rel_of(dir, id, "", rel, sizeof(rel));
	if (err == OCTO_OK)
		err = octo_store_write_unsynced(s, rel, text, strlen(text));
	if (err != OCTO_OK)
		return err;
	while ((err = read_file(s, dir, id, ".done", max, answer, len)) == OCTO_ERR_NAME_UNKNOWN &&
	       octo_clock_monotonic_ms() < deadline)
		nanosleep(&ts, NULL);
	forget(s, dir, id);
	return err;
}

static int is_request(const char *name, size_t len)
{
	return id_valid(name, len);
}

enum octo_err octo_handoff_pending(const struct octo_store *s, const char *dir,
				   struct octo_strv *ids)
{
	return octo_store_list(s, dir, is_request, OCTO_OK, ids);
}

int octo_handoff_answered(const struct octo_store *s, const char *dir, const char *id)
{
	char rel[OCTO_STORE_PATH_MAX];

	return rel_of(dir, id, ".done", rel, sizeof(rel)) == OCTO_OK &&
	       octo_store_stat(s, rel, OCTO_ERR_NAME_UNKNOWN, NULL) == OCTO_OK;
}

enum octo_err octo_handoff_read(const struct octo_store *s, const char *dir, const char *id,
				size_t max, char **text, size_t *len)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = rel_of(dir, id, "", rel, sizeof(rel));

	return err != OCTO_OK ? err
			      : octo_store_read(s, rel, max, OCTO_ERR_NAME_UNKNOWN, text, len);
}

enum octo_err octo_handoff_answer(const struct octo_store *s, const char *dir, const char *id,
				  const char *text)
{
	char rel[OCTO_STORE_PATH_MAX], done[OCTO_STORE_PATH_MAX];
	enum octo_err err = rel_of(dir, id, "", rel, sizeof(rel));

	if (err == OCTO_OK)
		err = rel_of(dir, id, ".done", done, sizeof(done));
	if (err != OCTO_OK)
		return err;
	if (octo_store_stat(s, rel, OCTO_ERR_NAME_UNKNOWN, NULL) != OCTO_OK)
		return OCTO_OK; /* nobody waits */
	return octo_store_write_unsynced(s, done, text, strlen(text));
}

static int is_answer(const char *name, size_t len)
{
	return len == OCTO_HANDOFF_ID_LEN + 5 &&
	       memcmp(name + OCTO_HANDOFF_ID_LEN, ".done", 5) == 0 &&
	       id_valid(name, OCTO_HANDOFF_ID_LEN);
}

void octo_handoff_sweep(const struct octo_store *s, const char *dir)
{
	struct octo_strv names = {0};
	size_t i;

	if (octo_store_list(s, dir, is_answer, OCTO_OK, &names) != OCTO_OK)
		return;
	for (i = 0; i < names.n; i++) {
		char rel[OCTO_STORE_PATH_MAX], id[OCTO_HANDOFF_ID_LEN + 1];
		memcpy(id, names.v[i], OCTO_HANDOFF_ID_LEN);
		id[OCTO_HANDOFF_ID_LEN] = '\0';
		if (rel_of(dir, id, "", rel, sizeof(rel)) == OCTO_OK &&
		    octo_store_stat(s, rel, OCTO_ERR_NAME_UNKNOWN, NULL) == OCTO_ERR_NAME_UNKNOWN &&
		    rel_of(dir, id, ".done", rel, sizeof(rel)) == OCTO_OK)
			octo_store_remove(s, rel, OCTO_OK);
	}
	octo_strv_cleanup(&names);
}
