/* SPDX-License-Identifier: Apache-2.0 */
/* The referrers index of a repository: _referrers/<alg>/<subject hex>/<alg>-<hex>, each
 * file holding the referrer's descriptor as JSON (image-spec descriptor.md). */
#ifndef OCTO_STORE_REFERRER_H
#define OCTO_STORE_REFERRER_H

#include "digest.h"
#include "error.h"
#include "store.h"
#include "strv.h"

enum octo_err octo_store_referrer_add(const struct octo_store *s, const char *repo,
				      const struct octo_digest *subject,
				      const struct octo_digest *d, const char *descriptor);
enum octo_err octo_store_referrer_remove(const struct octo_store *s, const char *repo,
					 const struct octo_digest *subject,
					 const struct octo_digest *d);
/* The descriptors (JSON texts) of subject's referrers, sorted by file name; an empty list
 * when there are none. Entries whose file name is not "<alg>-<hex>" or whose text is not a
 * descriptor object are skipped. */
enum octo_err octo_store_referrer_list(const struct octo_store *s, const char *repo,
				       const struct octo_digest *subject,
				       struct octo_strv *descriptors);

#endif
