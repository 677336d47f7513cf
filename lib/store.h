/* SPDX-License-Identifier: Apache-2.0 */
/* The filesystem store's root (doc/DESIGN.md "The store") and the only ways into it. Every
 * path is relative to a directory fd opened on the root, and every open refuses symbolic
 * links anywhere on the way and anything outside the root (openat2 with RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS; a component-by-component O_NOFOLLOW walk where the kernel or a
 * sandbox lacks openat2), so a link planted in the store is an error, never followed. New
 * names are made durable by fsyncing their directory; replaced files go through a temporary
 * file with a random name, fsync and rename. The noun modules (store-blob.c,
 * store-manifest.c, store-referrer.c, store-repo.c) build on these. */
#ifndef OCTO_STORE_H
#define OCTO_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"
#include "strv.h"

/* Room for any relative path the store builds: a name (255), a tag (128), a digest
 * (135) and the fixed parts. */
#define OCTO_STORE_PATH_MAX 1024

struct octo_store;
struct octo_metrics;

/* Open (creating if needed) the store rooted at root; it must be writable. */
enum octo_err octo_store_open(const char *root, struct octo_store **out);
/* The same, or with readonly (storage.readonly) as it is: nothing created or written, so the
 * store may be on a read-only mount. */
enum octo_err octo_store_open_mode(const char *root, int readonly, struct octo_store **out);
/* Whether a file can be written, synced and removed in the store, as every write does
 * (the start-up check, and /readyz); the failure is recorded (octo_fs_failure). */
enum octo_err octo_store_check_writable(const struct octo_store *s);
void octo_store_free(struct octo_store *s);
/* The store's incarnation id (OCTO_STORE_ID_LEN hex digits in store.id), made when the store
 * is: a store wiped and made again has another, which is how a reader of its journal
 * notices. */
#define OCTO_STORE_ID_LEN 32
const char *octo_store_incarnation(const struct octo_store *s);
/* The root as an absolute path without symlinks. */
const char *octo_store_root(const struct octo_store *s);
/* A blob's content file relative to the root (and its object's key in a bucket):
 * blobs/<alg>/<first two hex>/<hex>. */
struct octo_digest;
enum octo_err octo_store_blob_rel(const struct octo_digest *d, char *buf, size_t size);
/* The bucket that holds the store's content (bucket.h; the store owns it), or NULL: the
 * content is in blobs/. */
struct octo_bucket;
void octo_store_set_bucket(struct octo_store *s, struct octo_bucket *b,
			   void (*free_bucket)(struct octo_bucket *b));
struct octo_bucket *octo_store_bucket(const struct octo_store *s);
/* The counters whose gauges (metrics.h) the store's modules keep up to date; NULL: none. */
void octo_store_set_metrics(struct octo_store *s, struct octo_metrics *m);
/* Writes that lost to a later write of their record (store-record.h), counted by the process
 * through this store object since it was opened: conflicts the rule resolved. */
void octo_store_note_lost(const struct octo_store *s);
uint64_t octo_store_lost(const struct octo_store *s);
struct octo_metrics *octo_store_metrics(const struct octo_store *s);

/* Format a relative path into buf; OCTO_ERR_IO if it does not fit (never truncated). */
enum octo_err octo_store_path(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* rel as an absolute path (for a front's X-Sendfile); OCTO_ERR_IO if it does not fit. */
enum octo_err octo_store_abspath(const struct octo_store *s, const char *rel, char *buf,
				 size_t size);

/* open(2) of rel beneath the root without following symlinks: an fd, or -1 with errno
 * (ELOOP for a symlink). With O_CREAT the directory must exist. */
int octo_store_openat(const struct octo_store *s, const char *rel, int flags, mode_t mode);
/* The directory rel (O_RDONLY | O_DIRECTORY), created with its parents when create (each
 * new directory durable in its parent). An fd or -1 with errno. */
int octo_store_opendir(const struct octo_store *s, const char *rel, int create);
/* Open an existing regular file: fd and size; missing when absent, OCTO_ERR_IO for a
 * symlink, a directory or anything else that is not a regular file. */
enum octo_err octo_store_open_file(const struct octo_store *s, const char *rel, int flags,
				   enum octo_err missing, int *fd, uint64_t *size);
/* The size of a regular file (size may be NULL), with open_file's errors. */
enum octo_err octo_store_stat(const struct octo_store *s, const char *rel, enum octo_err missing,
			      uint64_t *size);
/* The whole file in a malloc'd, NUL-terminated buffer; OCTO_ERR_TOO_LARGE beyond max. */
enum octo_err octo_store_read(const struct octo_store *s, const char *rel, size_t max,
			      enum octo_err missing, char **data, size_t *len);
/* Replace rel's content atomically, creating its directory: a temporary file beside it,
 * fdatasync, rename, and an fsync of the directory unless sync_dir is 0. */
enum octo_err octo_store_write_atomic(const struct octo_store *s, const char *rel, const void *data,
				      size_t len, int sync_dir);
/* The same without any sync: whole or not at all while the machine runs, for files that need
 * not outlive a crash. */
enum octo_err octo_store_write_unsynced(const struct octo_store *s, const char *rel,
					const void *data, size_t len);
/* The first half of octo_store_write_atomic: the data in a fresh temporary file beside rel (a dot name the
 * sweep knows), fdatasynced; its relative path into tmp_rel. */
enum octo_err octo_store_write_temp(const struct octo_store *s, const char *rel, const void *data,
				    size_t len, char *tmp_rel, size_t size);
/* rename(2) from to to (replacing it; to's directory made if missing), without an fsync. */
enum octo_err octo_store_rename(const struct octo_store *s, const char *from, const char *to);
/* Open rel (made if missing, with its directories when create) and take an exclusive flock
 * on it: an fd whose close releases the lock, or -1 with errno (ENOENT: no directory). */
int octo_store_lock(const struct octo_store *s, const char *rel, int create);
/* Create an empty file (and its directory) if it does not exist; durable either way, since
 * an existing name may come from a request that died before syncing its directory. */
enum octo_err octo_store_touch(const struct octo_store *s, const char *rel);
/* Create an empty file (and its directory) whose loss in a crash costs nothing, so without
 * an fsync: a marker that counts something the collector reconciles. */
enum octo_err octo_store_mark(const struct octo_store *s, const char *rel);
/* Remove such a marker (no fsync either); OCTO_OK if it was not there. */
enum octo_err octo_store_unmark(const struct octo_store *s, const char *rel);
/* Remove a file durably; missing when it does not exist. */
enum octo_err octo_store_remove(const struct octo_store *s, const char *rel, enum octo_err missing);
/* Remove a directory and the files in it (one level); OCTO_OK if it does not exist.
 * *removed (may be NULL): 1 if this call removed it, 0 if it was gone (another did). */
enum octo_err octo_store_remove_dir(const struct octo_store *s, const char *rel, int *removed);
/* Move a file to a name that does not exist yet (creating the target's directory), then
 * fsync that directory. If the name exists, from is removed instead, the directory synced
 * all the same (the name may come from a request that died before syncing it), and
 * *placed is 0; else 1. */
enum octo_err octo_store_place(const struct octo_store *s, const char *from, const char *to,
			       int *placed);
/* fsync the directory that holds rel. */
enum octo_err octo_store_sync_parent(const struct octo_store *s, const char *rel);
/* The names in directory rel for which keep (may be NULL) returns true, in no order. Dot
 * names (temporary files) are skipped. missing when the directory does not exist. */
enum octo_err octo_store_list(const struct octo_store *s, const char *rel,
			      int (*keep)(const char *name, size_t len), enum octo_err missing,
			      struct octo_strv *out);
/* Remove, below directory rel (at most depth levels down, without following symlinks), the
 * temporary files octo_store_write_atomic leaves when a process dies mid-write (".<name>
 * .tmp.<32 hex>") that are at least min_age seconds old at now; *removed counts them. */
enum octo_err octo_store_sweep(const struct octo_store *s, const char *rel, time_t now,
			       time_t min_age, int depth, size_t *removed);
/* How many names octo_store_list would return, without copying them. */
enum octo_err octo_store_count(const struct octo_store *s, const char *rel,
			       int (*keep)(const char *name, size_t len), enum octo_err missing,
			       size_t *n);
/* A fresh random file name (32 hex digits after prefix) into buf, unique across processes,
 * containers and restarts. OCTO_ERR_IO if it does not fit. */
enum octo_err octo_store_tmpname(char *buf, size_t size, const char *prefix);
/* OCTO_ERR_NO_SPACE if writing incoming more bytes (and a few inodes) would leave the
 * store's file system below min_bytes free or min_inodes free inodes (file systems that
 * do not count inodes are not held to the second); else OCTO_OK. */
enum octo_err octo_store_check_space(const struct octo_store *s, uint64_t incoming,
				     uint64_t min_bytes, uint64_t min_inodes);
/* The store error for a failed system call's errno, missing for ENOENT and ENOTDIR. */
enum octo_err octo_store_error(int err, enum octo_err missing);

#endif
