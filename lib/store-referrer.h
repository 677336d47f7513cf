/* SPDX-License-Identifier: Apache-2.0 */
/* The referrers index of a repository: records (store-record.h) under
 * _referrers/<alg>/<subject hex>/<alg>-<hex>, each holding the referrer's descriptor as
 * JSON (image-spec descriptor.md); a removal leaves a tombstone. */
#ifndef OCTO_STORE_REFERRER_H
#define OCTO_STORE_REFERRER_H

#include <stddef.h>

#include "digest.h"
#include "error.h"
#include "record.h"
#include "store.h"
#include "strv.h"

/* The key of d's entry among subject's referrers. */
enum octo_err octo_store_referrer_key(const struct octo_digest *subject,
				      const struct octo_digest *d, char *buf, size_t size);
enum octo_err octo_store_referrer_add(const struct octo_store *s, const char *repo,
				      const struct octo_digest *subject,
				      const struct octo_digest *d, const char *descriptor,
				      const struct octo_record_stamp *stamp);
enum octo_err octo_store_referrer_remove(const struct octo_store *s, const char *repo,
					 const struct octo_digest *subject,
					 const struct octo_digest *d,
					 const struct octo_record_stamp *stamp);
/* Whether text is a descriptor as octo_store_referrer_add stores it: an object with a
 * string mediaType, a string digest and an integer size. */
int octo_store_referrer_descriptor_valid(const char *text, size_t len);
/* Is name (len bytes) an entry name "<alg>-<hex>"? */
int octo_store_referrer_name_valid(const char *name, size_t len);
/* The entry names of subject's referrers, sorted bytewise; empty when there are none.
 * Names that are not "<alg>-<hex>" are skipped. */
enum octo_err octo_store_referrer_names(const struct octo_store *s, const char *repo,
					const struct octo_digest *subject, struct octo_strv *names);
/* One entry's descriptor (malloc'd JSON text): OCTO_ERR_BLOB_UNKNOWN when it was removed
 * meanwhile, OCTO_ERR_IO when its file does not hold a descriptor object. */
enum octo_err octo_store_referrer_read(const struct octo_store *s, const char *repo,
				       const struct octo_digest *subject, const char *name,
				       char **text, size_t *len);

#endif
