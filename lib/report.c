/* SPDX-License-Identifier: Apache-2.0 */
/* See report.h. */
#include "autoconfig.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define REPORT_MAX 65536

static uint64_t *at(const void *result, const struct octo_report_field *f)
{
	return (uint64_t *)((char *)result + f->off);
}

enum octo_err octo_report_save(const struct octo_store *s, const char *name,
			       const struct octo_report_field *f, size_t n, const void *result)
{
	char rel[OCTO_STORE_PATH_MAX], *text;
	json_t *o = json_object();
	enum octo_err err = octo_store_path(rel, sizeof(rel), "ops/%s.json", name);
	size_t i;

	if (o == NULL)
		return OCTO_ERR_NOMEM;
	for (i = 0; i < n; i++)
		if (json_object_set_new(o, f[i].name, json_integer((json_int_t)*at(result, &f[i]))))
			err = OCTO_ERR_NOMEM;
	text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (text == NULL)
		return OCTO_ERR_NOMEM;
	if (err == OCTO_OK)
		err = octo_store_write_atomic(s, rel, text, strlen(text), 1);
	free(text);
	return err;
}

enum octo_err octo_report_load(const struct octo_store *s, const char *name,
			       const struct octo_report_field *f, size_t n, void *result)
{
	char rel[OCTO_STORE_PATH_MAX], *text = NULL;
	size_t len, i;
	json_t *o;
	enum octo_err err = octo_store_path(rel, sizeof(rel), "ops/%s.json", name);

	for (i = 0; i < n; i++)
		*at(result, &f[i]) = 0;
	if (err == OCTO_OK)
		err = octo_store_read(s, rel, REPORT_MAX, OCTO_ERR_NAME_UNKNOWN, &text, &len);
	if (err != OCTO_OK)
		return err;
	o = json_loadb(text, len, 0, NULL);
	free(text);
	if (!json_is_object(o)) {
		json_decref(o);
		return OCTO_ERR_IO;
	}
	for (i = 0; i < n; i++) {
		json_t *v = json_object_get(o, f[i].name);
		if (json_is_integer(v) && json_integer_value(v) >= 0)
			*at(result, &f[i]) = (uint64_t)json_integer_value(v);
	}
	json_decref(o);
	return OCTO_OK;
}
