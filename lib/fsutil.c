/* SPDX-License-Identifier: Apache-2.0 */
/* See fsutil.h. Directory fsyncs matter: without one, a rename or a new file can vanish
 * after a power loss even though the file's own data was synced. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"

int octo_fs_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc, saved;

	if (fd < 0)
		return -1;
	rc = octo_fs_sync(fd, 0, path);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int octo_fs_fsync_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	slash = strrchr(dir, '/');
	if (slash == NULL)
		return octo_fs_fsync_dir(".");
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	return octo_fs_fsync_dir(dir);
}

int octo_fs_mkdirs(const char *path)
{
	char buf[PATH_MAX];
	size_t i, len = strlen(path);

	if (len == 0 || len >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(buf, path, len + 1);
	/* Walk down the path; only directories this call creates need their parent synced. */
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) == 0) {
			if (octo_fs_fsync_parent(buf) != 0)
				return -1;
		} else if (errno != EEXIST) {
			return -1;
		}
		if (i < len)
			buf[i] = '/';
	}
	return 0;
}

int octo_fs_pwrite_all(int fd, const void *buf, size_t len, long long offset)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		offset += n;
	}
	return 0;
}

int octo_fs_pread_all(int fd, void *buf, size_t len, long long offset)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)offset);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
		offset += n;
	}
	return 0;
}

/* The last failure of this thread; op NULL: no context recorded. */
static __thread struct {
	int err; /* -1: not a system call's, reason says what */
	const char *op;
	char path[256];
	char reason[400];
} failure;

static enum octo_err error_of(int err)
{
	switch (err) {
	case ENOMEM:
		return OCTO_ERR_NOMEM;
	case ENOSPC:
	case EDQUOT:
		return OCTO_ERR_STORE_FULL;
	case EROFS:
		return OCTO_ERR_STORE_READONLY;
	case EACCES:
	case EPERM:
		return OCTO_ERR_STORE_DENIED;
	default:
		return OCTO_ERR_IO;
	}
}

enum octo_err octo_fs_error(int err)
{
	if (failure.op == NULL || failure.err != err) {
		failure.err = err;
		failure.op = NULL;
		failure.path[0] = '\0';
	}
	return error_of(err);
}

enum octo_err octo_fs_fail(const char *op, const char *path, int err)
{
	failure.err = err;
	failure.op = op;
	snprintf(failure.path, sizeof(failure.path), "%s", path != NULL ? path : "");
	return error_of(err);
}

void octo_fs_fail_because(const char *op, const char *path, const char *reason)
{
	failure.err = -1;
	failure.op = op;
	snprintf(failure.path, sizeof(failure.path), "%s", path != NULL ? path : "");
	snprintf(failure.reason, sizeof(failure.reason), "%s", reason);
}

/* The slowest sync of this thread since the last clear. */
static __thread struct {
	long long ms;
	char what[256];
} slowest = {.ms = -1};

static struct {
	void (*fn)(void *ctx, long long us);
	void *ctx;
} observer;

void octo_fs_observe_syncs(void (*fn)(void *ctx, long long us), void *ctx)
{
	observer.ctx = ctx;
	observer.fn = fn;
}

void octo_fs_unobserve_syncs(void *ctx)
{
	if (observer.ctx == ctx) {
		observer.fn = NULL;
		observer.ctx = NULL;
	}
}

int octo_fs_sync(int fd, int data_only, const char *what)
{
	struct timespec t0, t1;
	long long us, ms;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = data_only ? fdatasync(fd) : fsync(fd);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	us = (long long)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
	ms = us / 1000;
	if (observer.fn != NULL)
		observer.fn(observer.ctx, us);
	if (ms > slowest.ms) {
		slowest.ms = ms;
		snprintf(slowest.what, sizeof(slowest.what), "%s", what != NULL ? what : "");
	}
	return rc;
}

long long octo_fs_slowest_sync(char *buf, size_t size)
{
	snprintf(buf, size, "%s", slowest.ms >= 0 ? slowest.what : "");
	return slowest.ms;
}

void octo_fs_failure_clear(void)
{
	failure.err = 0;
	failure.op = NULL;
	slowest.ms = -1;
}

int octo_fs_failure(char *buf, size_t size)
{
	char reason[128];
	const char *text;

	if (failure.err == 0)
		return 0;
	/* the GNU strerror_r returns its text, not always in reason */
	text = failure.err < 0 ? failure.reason : strerror_r(failure.err, reason, sizeof(reason));
	if (failure.op != NULL)
		snprintf(buf, size, "%s %s: %s", failure.op, failure.path, text);
	else
		snprintf(buf, size, "%s", text);
	return 1;
}
