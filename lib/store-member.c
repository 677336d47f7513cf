/* SPDX-License-Identifier: Apache-2.0 */
/* See store-member.h. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "record.h"
#include "store-member.h"

static enum octo_err rel_of(const char *id, char *buf, size_t size)
{
	struct octo_digest d;

	octo_digest_of(OCTO_DIGEST_SHA256, id, strlen(id), &d);
	return octo_store_path(buf, size, "%s/%.32s", OCTO_FORGOTTEN_DIR, d.hex);
}

enum octo_err octo_store_forget_member(const struct octo_store *s, const char *id)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err;

	if (!octo_node_id_valid(id, strlen(id)))
		return OCTO_ERR_NAME_INVALID;
	err = rel_of(id, rel, sizeof(rel));
	if (err == OCTO_OK && octo_store_stat(s, rel, OCTO_ERR_NAME_UNKNOWN, NULL) == OCTO_OK)
		return OCTO_OK;
	return err != OCTO_OK ? err : octo_store_write_atomic(s, rel, id, strlen(id), 1);
}

enum octo_err octo_store_forgotten_members(const struct octo_store *s, struct octo_strv *ids)
{
	struct octo_strv names = {0};
	enum octo_err err = octo_store_list(s, OCTO_FORGOTTEN_DIR, NULL, OCTO_OK, &names);
	size_t i;

	memset(ids, 0, sizeof(*ids));
	for (i = 0; err == OCTO_OK && i < names.n; i++) {
		char rel[OCTO_STORE_PATH_MAX], *id = NULL;
		size_t len;
		if (octo_store_path(rel, sizeof(rel), "%s/%s", OCTO_FORGOTTEN_DIR, names.v[i]) !=
			    OCTO_OK ||
		    octo_store_read(s, rel, OCTO_NODE_ID_MAX, OCTO_ERR_NAME_UNKNOWN, &id, &len) !=
			    OCTO_OK)
			continue;
		if (octo_node_id_valid(id, len) && octo_strv_push(ids, id, len) != 0)
			err = OCTO_ERR_NOMEM;
		free(id);
	}
	octo_strv_cleanup(&names);
	return err;
}
