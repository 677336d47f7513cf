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
#include <unistd.h>

#include "fsutil.h"

int octo_fs_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc, saved;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
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

int octo_fs_write_atomic(const char *path, const void *data, size_t len, int sync_dir)
{
	char tmp[PATH_MAX];
	int fd, saved;

	const char *slash = strrchr(path, '/');
	int dirlen = slash ? (int)(slash - path + 1) : 0;

	/* A dot name: directory listings (tags, referrers) skip it. */
	if (snprintf(tmp, sizeof(tmp), "%.*s.%s.tmp.%ld.%lx", dirlen, path, path + dirlen,
		     (long)getpid(), (unsigned long)random()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	if (octo_fs_pwrite_all(fd, data, len, 0) != 0 || fdatasync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	if (sync_dir && octo_fs_fsync_parent(path) != 0)
		return -1;
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}

int octo_fs_touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	/* An existing name may come from a request that died before syncing the directory,
	 * or from one that is syncing it right now: sync it either way. */
	if (fd < 0)
		return errno == EEXIST ? octo_fs_fsync_parent(path) : -1;
	close(fd);
	return octo_fs_fsync_parent(path);
}

int octo_fs_remove_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
}

enum octo_err octo_fs_error(int err)
{
	return err == ENOMEM ? OCTO_ERR_NOMEM : OCTO_ERR_IO;
}
