/* SPDX-License-Identifier: Apache-2.0 */
/* The last result of an operation run on the store (garbage collection, scrub, retention),
 * kept as a JSON object of counts in ops/<name>.json, replaced atomically, for stats and
 * metrics. A result is a struct of uint64_t fields, each named in a table. */
#ifndef OCTO_REPORT_H
#define OCTO_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "store.h"

struct octo_report_field {
	const char *name;
	size_t off; /* of a uint64_t in the result */
};

enum octo_err octo_report_save(const struct octo_store *s, const char *name,
			       const struct octo_report_field *f, size_t n, const void *result);
/* OCTO_ERR_NAME_UNKNOWN when the operation never ran; fields missing from the file read 0. */
enum octo_err octo_report_load(const struct octo_store *s, const char *name,
			       const struct octo_report_field *f, size_t n, void *result);

#endif
