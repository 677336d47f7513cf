/* SPDX-License-Identifier: Apache-2.0 */
/* File primitives below the store: whole reads and writes, directory fsyncs, and the
 * store's root created durably. Everything inside the store goes through store.h. */
#ifndef OCTO_FSUTIL_H
#define OCTO_FSUTIL_H

#include <stddef.h>

#include "error.h"

/* mkdir -p; each directory it creates is made durable in its parent. 0 or -1 (errno). */
int octo_fs_mkdirs(const char *path);
/* fsync the directory path. 0 or -1 (errno). */
int octo_fs_fsync_dir(const char *path);
/* fsync the directory that contains path. */
int octo_fs_fsync_parent(const char *path);
/* Write all of buf at offset. 0 or -1. */
int octo_fs_pwrite_all(int fd, const void *buf, size_t len, long long offset);
/* Read exactly len bytes at offset (short file: -1 with errno EIO). */
int octo_fs_pread_all(int fd, void *buf, size_t len, long long offset);
/* The store error for a failed system call's errno: a full disk, a read-only file system
 * and a permission refused each have their own; recorded as this thread's failure unless
 * octo_fs_fail recorded the same errno with more context since the last clear. */
enum octo_err octo_fs_error(int err);
/* The same, recording what was done (a static string, e.g. "write") and to which path. */
enum octo_err octo_fs_fail(const char *op, const char *path, int err);
/* Record a failure that is no system call's (a bucket's answer): op, path, and reason. */
void octo_fs_fail_because(const char *op, const char *path, const char *reason);
/* fsync (data_only: fdatasync) fd, timed: this thread keeps its slowest one (what names
 * it, e.g. the store path) until octo_fs_failure_clear. 0 or -1 (errno). */
int octo_fs_sync(int fd, int data_only, const char *what);
/* Hand every sync's duration in microseconds to fn(ctx, us), from the thread that synced
 * (the metrics); set before the threads start. Unobserving ctx stops it if ctx is the
 * one observing. */
void octo_fs_observe_syncs(void (*fn)(void *ctx, long long us), void *ctx);
void octo_fs_unobserve_syncs(void *ctx);
/* This thread's slowest sync since the last clear: milliseconds (-1: none), what in buf. */
long long octo_fs_slowest_sync(char *buf, size_t size);
/* Forget this thread's failure and slowest sync (at the start of a request). */
void octo_fs_failure_clear(void);
/* This thread's failure as "op path: strerror" (or just strerror) in buf; 0 if none. */
int octo_fs_failure(char *buf, size_t size);

#endif
