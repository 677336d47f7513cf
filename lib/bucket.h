/* SPDX-License-Identifier: Apache-2.0 */
/* The store's content in an S3 bucket (storage.type "s3"), keyed as on disk
 * (<prefix>blobs/<alg>/<first two hex>/<hex>). Everything else stays in the store's directory:
 * links, records, the journal, upload sessions. There each blob in the bucket has a placeholder
 * at its usual name: a sparse file of the blob's size that holds no bytes, so that its presence,
 * size, time (gc's grace) and lock keep the meaning they have for content on disk; a manifest's
 * placeholder holds its bytes as well, so manifests are read without a request to the bucket.
 * Content is in the bucket before its placeholder is placed: a placeholder always stands for an
 * object that was stored whole. See doc/DESIGN.md "Storage". */
#ifndef OCTO_BUCKET_H
#define OCTO_BUCKET_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "digest.h"
#include "error.h"
#include "s3.h"
#include "store.h"

struct octo_bucket;

/* Open the bucket that cfg (storage.s3) names, reading storage.s3.secret_key_file if set;
 * why gets the reason of a failure. */
enum octo_err octo_bucket_open(const struct octo_config_s3 *cfg, struct octo_bucket **out,
			       char *why, size_t whysize);
void octo_bucket_free(struct octo_bucket *b);

/* For a store just opened: attach the bucket of cfg when storage.type is "s3" (the store owns
 * it then). The store's root remembers its bucket and prefix (the file "bucket"): a store whose
 * content is in a bucket is refused as a filesystem store, and one bucket's store is refused
 * with another's configuration, since its placeholders would stand for objects that are not
 * there. */
enum octo_err octo_bucket_attach(struct octo_store *s, const struct octo_config *cfg, int readonly,
				 char *why, size_t whysize);

/* Store the content of d: len bytes of data, or when data is NULL len bytes of the file fd
 * from offset 0 (one PUT up to storage.s3.part_size, else a multipart upload of parts that
 * size, aborted if it fails). The bytes must be d's: a sha256 digest is the payload's signed
 * hash, so the bucket checks it too. OCTO_OK only once the bucket has acknowledged the whole
 * object. */
enum octo_err octo_bucket_put(struct octo_bucket *b, const struct octo_digest *d, const void *data,
			      int fd, uint64_t len);
/* The content of d into a malloc'd buffer (at most max bytes: OCTO_ERR_TOO_LARGE), unchecked. */
enum octo_err octo_bucket_read(struct octo_bucket *b, const struct octo_digest *d, size_t max,
			       char **data, size_t *len);
/* Bytes [offset, offset + len) of d's content into sink (len 0: to the end). */
enum octo_err octo_bucket_stream(struct octo_bucket *b, const struct octo_digest *d,
				 uint64_t offset, uint64_t len, octo_s3_sink *sink, void *ctx);
/* Whether d's content is in the bucket: its size, or OCTO_ERR_BLOB_UNKNOWN. */
enum octo_err octo_bucket_head(struct octo_bucket *b, const struct octo_digest *d, uint64_t *size);
/* Remove d's content from the bucket (OCTO_OK if it was not there). */
enum octo_err octo_bucket_remove(struct octo_bucket *b, const struct octo_digest *d);
/* Downloads by redirect (storage.s3.redirect): a presigned GET URL of d's content valid for
 * storage.s3.redirect_lifetime from now (malloc'd), or NULL when downloads stream through us. */
char *octo_bucket_redirect_url(const struct octo_bucket *b, const struct octo_digest *d,
			       time_t now);
/* Upload sessions (upload.h) send their bytes as they come in parts of storage.s3.part_size,
 * to a multipart upload under the session's own key, uploads/<store incarnation>/<session id>
 * (the digest is not known yet); the commit completes it there, then copies it to the content's
 * key on the server and removes the session's object. */
uint64_t octo_bucket_part_size(const struct octo_bucket *b);
/* The session's key. */
enum octo_err octo_bucket_session_key(const struct octo_store *s, const char *session, char *buf,
				      size_t size);
enum octo_err octo_bucket_session_begin(struct octo_bucket *b, const char *key,
					char id[OCTO_S3_UPLOAD_ID_MAX + 1]);
/* Part n (from 1): len bytes of fd from offset. */
enum octo_err octo_bucket_session_part(struct octo_bucket *b, const char *key, const char *id,
				       int n, int fd, uint64_t offset, uint64_t len,
				       char etag[OCTO_S3_ETAG_MAX + 1]);
/* Complete the session's object of size bytes from its n parts; done too when the bucket has
 * it already (a retry after an attempt whose answer was lost). */
enum octo_err octo_bucket_session_complete(struct octo_bucket *b, const char *key, const char *id,
					   char (*etags)[OCTO_S3_ETAG_MAX + 1], int n,
					   uint64_t size);
/* The session's completed object (of size bytes, verified as d's) becomes d's content. */
enum octo_err octo_bucket_session_adopt(struct octo_bucket *b, const char *key,
					const struct octo_digest *d, uint64_t size);
/* The session's completed object into sink (to hash it for a digest other than sha256). */
enum octo_err octo_bucket_session_stream(struct octo_bucket *b, const char *key, octo_s3_sink *sink,
					 void *ctx);
/* The session's upload aborted and its object removed: nothing of it is left in the bucket. */
enum octo_err octo_bucket_session_abort(struct octo_bucket *b, const char *key, const char *id);
/* Abort every multipart upload under this store's sessions' keys whose session live(ctx, id)
 * says is gone (a crash between creating it and recording it); *aborted counts them. */
enum octo_err octo_bucket_session_orphans(struct octo_bucket *b, const struct octo_store *s,
					  int (*live)(void *ctx, const char *session), void *ctx,
					  size_t *aborted);

#endif
