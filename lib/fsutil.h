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
/* The store error for a failed system call's errno. */
enum octo_err octo_fs_error(int err);

#endif
