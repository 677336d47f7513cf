/* SPDX-License-Identifier: Apache-2.0 */
/* Crash-safe file primitives: every new name is made durable by fsyncing its directory,
 * and replaced files go through a temporary file, fsync and rename. */
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
/* Replace path with data atomically: temp file in the same directory, fsync, rename,
 * fsync of the directory unless sync_dir is 0. 0 or -1 (errno). */
int octo_fs_write_atomic(const char *path, const void *data, size_t len, int sync_dir);
/* Create an empty file if it does not exist, durable in its directory. 0 or -1. */
int octo_fs_touch(const char *path);
/* Remove a directory and the regular files in it (one level). 0 or -1. */
int octo_fs_remove_dir(const char *path);
/* Write all of buf at offset. 0 or -1. */
int octo_fs_pwrite_all(int fd, const void *buf, size_t len, long long offset);
/* Read exactly len bytes at offset (short file: -1 with errno EIO). */
int octo_fs_pread_all(int fd, void *buf, size_t len, long long offset);
/* The store error for a failed system call's errno. */
enum octo_err octo_fs_error(int err);

#endif
