/* SPDX-License-Identifier: Apache-2.0 */
/* Resumable upload sessions, kept on disk so that any process or thread continues any
 * session: uploads/<uuid>/data holds the bytes, uploads/<uuid>/state the repository, the
 * committed offset and the hash state at that offset. The state is replaced atomically
 * after the data it covers is synced, so after a crash the state's offset is always backed
 * by data; bytes beyond it are cut off when the session is next opened. Bodies of 1 MiB or
 * more are written around the page cache (O_DIRECT, by a writer thread), so a blob just
 * pushed is read from the disk by its first GET. */
#ifndef OCTO_UPLOAD_H
#define OCTO_UPLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "body.h"
#include "digest.h"
#include "error.h"
#include "store.h"

#define OCTO_UPLOAD_ID_LEN 36

struct octo_upload;

/* Start a session for repo. persist = 0 for a monolithic upload that ends in the same
 * request (no state file is written). client (the client's address, or NULL) is recorded
 * so that octo_upload_count can count its sessions. The session is locked until
 * octo_upload_close. */
enum octo_err octo_upload_create(struct octo_store *s, const char *repo, int persist,
				 const char *client, struct octo_upload **out);
/* The sessions in the store (*all) and those of client (*mine; 0 when client is NULL). */
enum octo_err octo_upload_count(const struct octo_store *s, const char *client, size_t *all,
				size_t *mine);

struct octo_upload_expiry {
	time_t empty_after; /* seconds: a session that never got a byte, a crash's temp file */
	time_t after;       /* seconds since its last byte: any session (storage.upload_ttl) */
	int dry_run;        /* count what would go, remove nothing */
	int wait;           /* wait for another process's collection instead of skipping */
};
struct octo_upload_collected {
	int ran; /* 0: another process was collecting */
	size_t sessions, temporaries, markers;
	size_t orphans; /* the bucket's multipart uploads of sessions that are gone, aborted */
	uint64_t bytes; /* the removed sessions' data */
};
/* Remove expired sessions nobody holds, manifest temporaries a crash left in uploads/, and
 * client markers of sessions that are gone; one process at a time (the others return at
 * once with ran = 0). now is the current time in seconds. */
enum octo_err octo_upload_collect(struct octo_store *s, time_t now,
				  const struct octo_upload_expiry *exp,
				  struct octo_upload_collected *out);
enum octo_upload_mode {
	OCTO_UPLOAD_READ, /* the durable offset only (a status request): no lock, no waiting */
	OCTO_UPLOAD_WRITE /* to append, commit or cancel: the session's lock, without waiting */
};

/* Open an existing session; OCTO_ERR_BLOB_UPLOAD_UNKNOWN if id is malformed, absent, or
 * belongs to another repository. For OCTO_UPLOAD_WRITE, OCTO_ERR_SESSION_BUSY when another
 * request holds the session: nothing ever waits on a lock a stalled request may hold for as
 * long as its body takes. */
enum octo_err octo_upload_open(struct octo_store *s, const char *repo, const char *id,
			       size_t id_len, enum octo_upload_mode mode, struct octo_upload **out);
const char *octo_upload_id(const struct octo_upload *u);
uint64_t octo_upload_offset(const struct octo_upload *u);
/* Append the whole body at the current offset, hashing as it goes, then persist the new
 * offset. A body that ends early (shorter than body->length, or a read error) leaves the
 * session as it was and returns OCTO_ERR_INCOMPLETE. */
enum octo_err octo_upload_append(struct octo_upload *u, struct octo_body *body);
/* The same for the body of the request that commits the session right after: neither the
 * data nor the offset is synced here (the commit syncs the data once, and a commit that
 * fails cancels the session). */
enum octo_err octo_upload_append_last(struct octo_upload *u, struct octo_body *body);
/* Refuse to grow the session past max bytes (0: no limit): an append that would is
 * OCTO_ERR_TOO_LARGE, at once when the body's length says so, else when the bytes read
 * cross it; the session stays as it was. */
void octo_upload_set_max_size(struct octo_upload *u, uint64_t max);
/* Verify the content against expected and move it into the store (the session ends). On
 * mismatch returns OCTO_ERR_DIGEST_INVALID and the session is removed: nothing is kept. */
enum octo_err octo_upload_commit(struct octo_upload *u, const struct octo_digest *expected);
/* Remove the session and its data. */
enum octo_err octo_upload_cancel(struct octo_upload *u);
/* Unlock and free (the session stays on disk unless committed or cancelled). */
void octo_upload_close(struct octo_upload *u);

#endif
