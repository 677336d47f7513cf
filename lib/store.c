/* SPDX-License-Identifier: Apache-2.0 */
/* See store.h. */
#include "autoconfig.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "fsutil.h"
#include "store.h"

struct octo_store {
	char *root;
	int root_fd;
	struct octo_metrics *metrics;
	char incarnation[OCTO_STORE_ID_LEN + 1];
	uint64_t lost; /* writes that lost to a later one of their record, through this object */
	struct octo_bucket *bucket; /* where content is kept, or NULL: blobs/ */
	void (*free_bucket)(struct octo_bucket *b);
};

static const char *const store_dirs[] = {"blobs", "repositories", "uploads", "journal"};

/* 1 until openat2 fails with ENOSYS (an old kernel) or EPERM (a seccomp filter that does
 * not know it); then the O_NOFOLLOW walk below does the same job in more system calls. */
static int have_openat2 = 1;

enum octo_err octo_store_error(int err, enum octo_err missing)
{
	if (err == ENOENT || err == ENOTDIR)
		return missing;
	return octo_fs_error(err);
}

/* errno as the store error, recorded with what was done to which path (logs say why). */
static enum octo_err fail(const char *op, const char *rel)
{
	return octo_fs_fail(op, rel, errno);
}

/* The same, with a missing name (ENOENT, ENOTDIR) as missing. */
static enum octo_err fail_missing(const char *op, const char *rel, enum octo_err missing)
{
	if (errno == ENOENT || errno == ENOTDIR)
		return missing;
	return fail(op, rel);
}

#define INCARNATION_REL "store.id"

static int id_valid(const char *text, size_t len)
{
	size_t i;

	if (len != OCTO_STORE_ID_LEN + 1 || text[OCTO_STORE_ID_LEN] != '\n')
		return 0;
	for (i = 0; i < OCTO_STORE_ID_LEN; i++)
		if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
			return 0;
	return 1;
}

/* The store's incarnation id from store.id, made the first time: 128 random bits, placed
 * without replacing, so that processes starting together on a new store agree on one. */
static enum octo_err load_incarnation(struct octo_store *s)
{
	char fresh[OCTO_STORE_PATH_MAX], tmp[OCTO_STORE_PATH_MAX], *text;
	enum octo_err err;
	size_t len;
	int placed;

	err = octo_store_read(s, INCARNATION_REL, 64, OCTO_ERR_NAME_UNKNOWN, &text, &len);
	if (err == OCTO_ERR_NAME_UNKNOWN) {
		err = octo_store_tmpname(fresh, sizeof(fresh), "");
		if (err == OCTO_OK)
			err = octo_store_path(tmp, sizeof(tmp), INCARNATION_REL ".%s", fresh);
		if (err == OCTO_OK) {
			strcat(fresh, "\n");
			err = octo_store_write_atomic(s, tmp, fresh, strlen(fresh), 0);
		}
		if (err == OCTO_OK)
			err = octo_store_place(s, tmp, INCARNATION_REL, &placed);
		if (err == OCTO_OK)
			err = octo_store_read(s, INCARNATION_REL, 64, OCTO_ERR_IO, &text, &len);
	}
	if (err != OCTO_OK)
		return err;
	if (!id_valid(text, len)) {
		free(text);
		return octo_fs_fail("read the id in", INCARNATION_REL, EINVAL);
	}
	memcpy(s->incarnation, text, OCTO_STORE_ID_LEN);
	s->incarnation[OCTO_STORE_ID_LEN] = '\0';
	free(text);
	return OCTO_OK;
}

/* The id of a store opened read-only: none (empty) when it was never written. */
static enum octo_err load_incarnation_readonly(struct octo_store *s)
{
	char *text;
	size_t len;
	enum octo_err err =
		octo_store_read(s, INCARNATION_REL, 64, OCTO_ERR_NAME_UNKNOWN, &text, &len);

	if (err == OCTO_ERR_NAME_UNKNOWN)
		return OCTO_OK;
	if (err != OCTO_OK)
		return err;
	if (id_valid(text, len))
		memcpy(s->incarnation, text, OCTO_STORE_ID_LEN);
	free(text);
	return OCTO_OK;
}

const char *octo_store_incarnation(const struct octo_store *s)
{
	return s->incarnation;
}

enum octo_err octo_store_open(const char *root, struct octo_store **out)
{
	return octo_store_open_mode(root, 0, out);
}

enum octo_err octo_store_open_mode(const char *root, int readonly, struct octo_store **out)
{
	struct octo_store *s;
	enum octo_err err;
	size_t i;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return OCTO_ERR_NOMEM;
	s->root_fd = -1;
	if ((!readonly && octo_fs_mkdirs(root) != 0) || (s->root = realpath(root, NULL)) == NULL ||
	    (s->root_fd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		err = octo_fs_fail(readonly ? "open" : "create", root, errno);
		goto fail;
	}
	if (readonly) { /* as it is: nothing made, and a store never written has no id */
		err = load_incarnation_readonly(s);
		if (err != OCTO_OK)
			goto fail;
		*out = s;
		return OCTO_OK;
	}
	for (i = 0; i < sizeof(store_dirs) / sizeof(store_dirs[0]); i++) {
		int fd = octo_store_opendir(s, store_dirs[i], 1);
		if (fd < 0) {
			err = fail("create", store_dirs[i]);
			goto fail;
		}
		close(fd);
	}
	/* Writable, or refuse to start: the operator sees why at once, not at the first push. */
	err = octo_store_check_writable(s);
	if (err == OCTO_OK)
		err = load_incarnation(s);
	if (err != OCTO_OK)
		goto fail;
	*out = s;
	return OCTO_OK;
fail:
	octo_store_free(s);
	return err;
}

enum octo_err octo_store_check_writable(const struct octo_store *s)
{
	enum octo_err err = octo_store_write_atomic(s, ".writable", "", 0, 0);

	return err != OCTO_OK ? err : octo_store_remove(s, ".writable", OCTO_OK);
}

void octo_store_free(struct octo_store *s)
{
	if (s == NULL)
		return;
	if (s->root_fd >= 0)
		close(s->root_fd);
	if (s->free_bucket != NULL)
		s->free_bucket(s->bucket);
	free(s->root);
	free(s);
}

void octo_store_set_bucket(struct octo_store *s, struct octo_bucket *b,
			   void (*free_bucket)(struct octo_bucket *b))
{
	if (s->free_bucket != NULL)
		s->free_bucket(s->bucket);
	s->bucket = b;
	s->free_bucket = free_bucket;
}

enum octo_err octo_store_blob_rel(const struct octo_digest *d, char *buf, size_t size)
{
	return octo_store_path(buf, size, "blobs/%s/%.2s/%s", octo_digest_alg_name(d->alg), d->hex,
			       d->hex);
}

struct octo_bucket *octo_store_bucket(const struct octo_store *s)
{
	return s->bucket;
}

void octo_store_note_lost(const struct octo_store *s)
{
	/* the object is never const where it is made: counting through a const view is fine */
	__atomic_fetch_add(&((struct octo_store *)s)->lost, 1, __ATOMIC_RELAXED);
}

uint64_t octo_store_lost(const struct octo_store *s)
{
	return __atomic_load_n(&s->lost, __ATOMIC_RELAXED);
}

void octo_store_set_metrics(struct octo_store *s, struct octo_metrics *m)
{
	s->metrics = m;
}

struct octo_metrics *octo_store_metrics(const struct octo_store *s)
{
	return s->metrics;
}

const char *octo_store_root(const struct octo_store *s)
{
	return s->root;
}

enum octo_err octo_store_check_space(const struct octo_store *s, uint64_t incoming,
				     uint64_t min_bytes, uint64_t min_inodes)
{
	struct statvfs v;
	uint64_t avail, inodes;

	if (fstatvfs(s->root_fd, &v) != 0)
		return octo_fs_error(errno);
	avail = (uint64_t)v.f_bavail * v.f_frsize;
	inodes = (uint64_t)v.f_favail;
	if (avail < min_bytes || avail - min_bytes < incoming)
		return OCTO_ERR_NO_SPACE;
	if (v.f_files != 0 && inodes < min_inodes + 4) /* a session or manifest takes a few */
		return OCTO_ERR_NO_SPACE;
	return OCTO_OK;
}

enum octo_err octo_store_path(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? OCTO_ERR_IO : OCTO_OK;
}

enum octo_err octo_store_abspath(const struct octo_store *s, const char *rel, char *buf,
				 size_t size)
{
	return octo_store_path(buf, size, "%s/%s", s->root, rel);
}

/* Make directory name in dir (durable in dir), unless it exists. 0 or -1. */
static int make_dir(int dir, const char *name)
{
	if (mkdirat(dir, name, 0755) == 0)
		return octo_fs_sync(dir, 0, name);
	return errno == EEXIST ? 0 : -1;
}

/* The walk: open rel beneath root_fd one component at a time, each with O_NOFOLLOW, so no
 * symlink is followed; "", "." and ".." components are refused. Directories on the way
 * are created when create; so is the last component when it is a directory (flags has
 * O_DIRECTORY). */
static int walk(int root_fd, const char *rel, int flags, mode_t mode, int create)
{
	char comp[NAME_MAX + 1];
	int dir = root_fd, fd = -1;
	const char *p = rel;

	if (*rel == '\0')
		return openat(root_fd, ".", flags | O_CLOEXEC, mode);
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		int last = slash == NULL, sub;

		if (len == 0 || len > NAME_MAX || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.')) {
			errno = EINVAL;
			break;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		sub = last ? flags : O_RDONLY | O_DIRECTORY;
		fd = openat(dir, comp, sub | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0 && errno == ENOENT && create && (sub & O_DIRECTORY)) {
			if (make_dir(dir, comp) != 0)
				break;
			fd = openat(dir, comp, sub | O_NOFOLLOW | O_CLOEXEC, mode);
		}
		if (fd < 0 && errno == ENOTDIR) {
			/* O_DIRECTORY | O_NOFOLLOW on a symlink says ENOTDIR: say ELOOP, as
			 * openat2 does, so a planted link is an error, not a missing file */
			struct stat st;
			if (fstatat(dir, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				errno = ELOOP;
			else
				errno = ENOTDIR;
		}
		if (dir != root_fd) {
			int saved = errno;
			close(dir);
			errno = saved;
		}
		dir = -1;
		if (fd < 0 || last)
			return fd;
		dir = fd;
		fd = -1;
		p = slash + 1;
	}
	if (dir >= 0 && dir != root_fd) {
		int saved = errno;
		close(dir);
		errno = saved;
	}
	return -1;
}

int octo_store_openat(const struct octo_store *s, const char *rel, int flags, mode_t mode)
{
	struct open_how how;
	int fd, tries;

	if (!have_openat2)
		return walk(s->root_fd, rel, flags, mode, 0);
	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.mode = flags & (O_CREAT | O_TMPFILE) ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	/* EAGAIN: a concurrent rename somewhere in the store; the lookup is safe to retry. */
	for (tries = 0; tries < 16; tries++) {
		fd = (int)syscall(SYS_openat2, s->root_fd, *rel ? rel : ".", &how, sizeof(how));
		if (fd >= 0 || errno != EAGAIN)
			break;
	}
	if (fd < 0 && (errno == ENOSYS || errno == EPERM)) {
		have_openat2 = 0;
		return walk(s->root_fd, rel, flags, mode, 0);
	}
	return fd;
}

int octo_store_opendir(const struct octo_store *s, const char *rel, int create)
{
	int fd = octo_store_openat(s, rel, O_RDONLY | O_DIRECTORY, 0);

	if (fd < 0 && errno == ENOENT && create)
		fd = walk(s->root_fd, rel, O_RDONLY | O_DIRECTORY, 0, 1);
	return fd;
}

/* The directory holding rel (created when create) and, in *leaf, rel's last component. */
static int open_parent(const struct octo_store *s, const char *rel, int create, const char **leaf)
{
	char dir[OCTO_STORE_PATH_MAX];
	const char *slash = strrchr(rel, '/');
	size_t len = slash ? (size_t)(slash - rel) : 0;

	*leaf = slash ? slash + 1 : rel;
	if (len >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(dir, rel, len);
	dir[len] = '\0';
	return octo_store_opendir(s, dir, create);
}

enum octo_err octo_store_open_file(const struct octo_store *s, const char *rel, int flags,
				   enum octo_err missing, int *fd, uint64_t *size)
{
	struct stat st;

	*fd = octo_store_openat(s, rel, flags, 0);
	if (*fd < 0)
		return fail_missing("open", rel, missing);
	if (fstat(*fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(*fd);
		*fd = -1;
		return OCTO_ERR_IO; /* not a file of ours: damaged or foreign */
	}
	if (size != NULL)
		*size = (uint64_t)st.st_size;
	return OCTO_OK;
}

enum octo_err octo_store_stat(const struct octo_store *s, const char *rel, enum octo_err missing,
			      uint64_t *size)
{
	enum octo_err err;
	int fd;

	err = octo_store_open_file(s, rel, O_PATH, missing, &fd, size);
	if (err == OCTO_OK)
		close(fd);
	return err;
}

enum octo_err octo_store_read(const struct octo_store *s, const char *rel, size_t max,
			      enum octo_err missing, char **data, size_t *len)
{
	enum octo_err err;
	uint64_t size;
	char *buf = NULL;
	int fd;

	*data = NULL;
	*len = 0;
	err = octo_store_open_file(s, rel, O_RDONLY, missing, &fd, &size);
	if (err != OCTO_OK)
		return err;
	if (size > max)
		err = OCTO_ERR_TOO_LARGE;
	else if ((buf = malloc((size_t)size + 1)) == NULL)
		err = OCTO_ERR_NOMEM;
	else if (octo_fs_pread_all(fd, buf, (size_t)size, 0) != 0)
		err = OCTO_ERR_IO;
	close(fd);
	if (err != OCTO_OK) {
		free(buf);
		return err;
	}
	buf[size] = '\0';
	*data = buf;
	*len = (size_t)size;
	return OCTO_OK;
}

/* ".<name>.tmp.<32 hex>", the names octo_store_write_atomic gives its temporaries. */
static int temporary_name(const char *name)
{
	size_t len = strlen(name), i;

	if (name[0] != '.' || len < 1 + 5 + 32 || memcmp(name + len - 37, ".tmp.", 5) != 0)
		return 0;
	for (i = len - 32; i < len; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return 0;
	return 1;
}

static void sweep_dir(int fd, time_t now, time_t min_age, int depth, size_t *removed)
{
	struct dirent *e;
	DIR *d = fdopendir(fd);

	if (d == NULL) {
		close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth > 0) {
			int sub = openat(dirfd(d), e->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				sweep_dir(sub, now, min_age, depth - 1, removed);
		} else if (S_ISREG(st.st_mode) && temporary_name(e->d_name) &&
			   now - st.st_mtime >= min_age && unlinkat(dirfd(d), e->d_name, 0) == 0) {
			(*removed)++;
		}
	}
	closedir(d);
}

enum octo_err octo_store_sweep(const struct octo_store *s, const char *rel, time_t now,
			       time_t min_age, int depth, size_t *removed)
{
	int fd = octo_store_opendir(s, rel, 0);

	*removed = 0;
	if (fd < 0)
		return octo_store_error(errno, OCTO_OK);
	sweep_dir(fd, now, min_age, depth, removed);
	return OCTO_OK;
}

enum octo_err octo_store_tmpname(char *buf, size_t size, const char *prefix)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char r[16];
	char hex[2 * sizeof(r) + 1];
	size_t i;

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return OCTO_ERR_IO;
	for (i = 0; i < sizeof(r); i++) {
		hex[2 * i] = digits[r[i] >> 4];
		hex[2 * i + 1] = digits[r[i] & 15];
	}
	hex[2 * sizeof(r)] = '\0';
	return octo_store_path(buf, size, "%s%s", prefix, hex);
}

/* The data in a fresh temporary file in dir beside leaf (rel names it for errors),
 * fdatasynced unless sync is 0: its name into tmp. */
static enum octo_err write_temp_at(int dir, const char *rel, const char *leaf, const void *data,
				   size_t len, int sync, char tmp[NAME_MAX + 1])
{
	char prefix[NAME_MAX + 1];
	enum octo_err err;
	int fd;

	/* A dot name, so directory listings skip it; random, so writers never share one. */
	err = octo_store_path(prefix, sizeof(prefix) - 40, ".%s.tmp.", leaf);
	if (err == OCTO_OK)
		err = octo_store_tmpname(tmp, NAME_MAX + 1, prefix);
	if (err != OCTO_OK)
		return err;
	fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail("create", rel);
	if (octo_fs_pwrite_all(fd, data, len, 0) != 0 || (sync && octo_fs_sync(fd, 1, rel) != 0)) {
		err = fail("write", rel);
		unlinkat(dir, tmp, 0);
	}
	close(fd);
	return err;
}

enum octo_err octo_store_write_temp(const struct octo_store *s, const char *rel, const void *data,
				    size_t len, char *tmp_rel, size_t size)
{
	char tmp[NAME_MAX + 1];
	const char *leaf;
	enum octo_err err;
	int dir = open_parent(s, rel, 1, &leaf);

	if (dir < 0)
		return fail_missing("create the directory of", rel, OCTO_ERR_IO);
	err = write_temp_at(dir, rel, leaf, data, len, 1, tmp);
	if (err == OCTO_OK && (err = octo_store_path(tmp_rel, size, "%.*s%s", (int)(leaf - rel),
						     rel, tmp)) != OCTO_OK)
		unlinkat(dir, tmp, 0);
	close(dir);
	return err;
}

enum octo_err octo_store_rename(const struct octo_store *s, const char *from, const char *to)
{
	enum octo_err err = OCTO_OK;
	const char *from_leaf, *to_leaf;
	int from_dir = open_parent(s, from, 0, &from_leaf), to_dir;

	if (from_dir < 0)
		return fail_missing("open the directory of", from, OCTO_ERR_IO);
	to_dir = open_parent(s, to, 1, &to_leaf);
	if (to_dir < 0)
		err = fail_missing("create the directory of", to, OCTO_ERR_IO);
	else if (renameat(from_dir, from_leaf, to_dir, to_leaf) != 0)
		err = fail("move into place", to);
	if (to_dir >= 0)
		close(to_dir);
	close(from_dir);
	return err;
}

/* One directory fd for the temporary file, the rename and the directory's fsync. */
static enum octo_err replace(const struct octo_store *s, const char *rel, const void *data,
			     size_t len, int sync_data, int sync_dir)
{
	char tmp[NAME_MAX + 1];
	const char *leaf;
	enum octo_err err;
	int dir = open_parent(s, rel, 1, &leaf);

	if (dir < 0)
		return fail_missing("create the directory of", rel, OCTO_ERR_IO);
	err = write_temp_at(dir, rel, leaf, data, len, sync_data, tmp);
	if (err == OCTO_OK && renameat(dir, tmp, dir, leaf) != 0) {
		err = fail("write", rel);
		unlinkat(dir, tmp, 0);
	}
	if (err == OCTO_OK && sync_dir && octo_fs_sync(dir, 0, rel) != 0)
		err = fail("sync the directory of", rel);
	close(dir);
	return err;
}

enum octo_err octo_store_write_atomic(const struct octo_store *s, const char *rel, const void *data,
				      size_t len, int sync_dir)
{
	return replace(s, rel, data, len, 1, sync_dir);
}

enum octo_err octo_store_write_unsynced(const struct octo_store *s, const char *rel,
					const void *data, size_t len)
{
	return replace(s, rel, data, len, 0, 0);
}

/* Create an empty file and its directory unless it exists; durable: fsync the directory
 * either way, since an existing name may come from a request that died before syncing it. */
static enum octo_err create_empty(const struct octo_store *s, const char *rel, int durable)
{
	enum octo_err err = OCTO_OK;
	const char *leaf;
	int dir, fd;

	dir = open_parent(s, rel, 1, &leaf);
	if (dir < 0)
		return fail_missing("create the directory of", rel, OCTO_ERR_IO);
	fd = openat(dir, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	if ((fd < 0 && errno != EEXIST) || (durable && octo_fs_sync(dir, 0, rel) != 0))
		err = fail("create", rel);
	close(dir);
	return err;
}

enum octo_err octo_store_touch(const struct octo_store *s, const char *rel)
{
	return create_empty(s, rel, 1);
}

enum octo_err octo_store_mark(const struct octo_store *s, const char *rel)
{
	return create_empty(s, rel, 0);
}

enum octo_err octo_store_unmark(const struct octo_store *s, const char *rel)
{
	enum octo_err err = OCTO_OK;
	const char *leaf;
	int dir = open_parent(s, rel, 0, &leaf);

	if (dir < 0)
		return octo_store_error(errno, OCTO_OK);
	if (unlinkat(dir, leaf, 0) != 0 && errno != ENOENT)
		err = fail("remove", rel);
	close(dir);
	return err;
}

enum octo_err octo_store_remove(const struct octo_store *s, const char *rel, enum octo_err missing)
{
	enum octo_err err = OCTO_OK;
	const char *leaf;
	int dir;

	dir = open_parent(s, rel, 0, &leaf);
	if (dir < 0)
		return octo_store_error(errno, missing);
	if (unlinkat(dir, leaf, 0) != 0)
		err = fail_missing("remove", rel, missing);
	else if (octo_fs_sync(dir, 0, rel) != 0)
		err = fail("sync the directory of", rel);
	close(dir);
	return err;
}

enum octo_err octo_store_remove_dir(const struct octo_store *s, const char *rel, int *removed)
{
	enum octo_err err = OCTO_OK;
	struct dirent *e;
	const char *leaf;
	int parent, fd, gone = 0;
	DIR *d;

	if (removed == NULL)
		removed = &gone;
	*removed = 0;
	fd = octo_store_opendir(s, rel, 0);
	if (fd < 0)
		return octo_store_error(errno, OCTO_OK);
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return octo_fs_error(errno);
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	parent = open_parent(s, rel, 0, &leaf);
	if (parent < 0)
		return octo_store_error(errno, OCTO_OK);
	if (unlinkat(parent, leaf, AT_REMOVEDIR) == 0)
		*removed = 1;
	else if (errno != ENOENT)
		err = octo_fs_error(errno);
	close(parent);
	return err;
}

int octo_store_lock(const struct octo_store *s, const char *rel, int create)
{
	const char *leaf;
	int dir = open_parent(s, rel, create, &leaf), fd, saved;

	if (dir < 0)
		return -1;
	fd = openat(dir, leaf, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	saved = errno;
	close(dir);
	errno = saved;
	while (fd >= 0 && flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			saved = errno;
			close(fd);
			errno = saved;
			fd = -1;
		}
	return fd;
}

enum octo_err octo_store_place(const struct octo_store *s, const char *from, const char *to,
			       int *placed)
{
	enum octo_err err = OCTO_OK;
	const char *from_leaf, *to_leaf;
	int from_dir, to_dir, rc;

	from_dir = open_parent(s, from, 0, &from_leaf);
	if (from_dir < 0)
		return fail_missing("open the directory of", from, OCTO_ERR_IO);
	to_dir = open_parent(s, to, 1, &to_leaf);
	if (to_dir < 0) {
		err = fail_missing("create the directory of", to, OCTO_ERR_IO);
		close(from_dir);
		return err;
	}
	*placed = 1;
	rc = renameat2(from_dir, from_leaf, to_dir, to_leaf, RENAME_NOREPLACE);
	if (rc != 0 && errno == EINVAL) /* a file system without RENAME_NOREPLACE */
		rc = renameat(from_dir, from_leaf, to_dir, to_leaf);
	if (rc != 0 && errno == EEXIST) {
		*placed = 0;
		rc = unlinkat(from_dir, from_leaf, 0);
	}
	if (rc != 0 || octo_fs_sync(to_dir, 0, to) != 0)
		err = fail("move into place", to);
	close(from_dir);
	close(to_dir);
	return err;
}

enum octo_err octo_store_sync_parent(const struct octo_store *s, const char *rel)
{
	enum octo_err err = OCTO_OK;
	const char *leaf;
	int dir = open_parent(s, rel, 0, &leaf);

	if (dir < 0)
		return octo_store_error(errno, OCTO_ERR_IO);
	if (octo_fs_sync(dir, 0, rel) != 0)
		err = fail("sync the directory of", rel);
	close(dir);
	return err;
}

/* The names in rel that keep keeps: into out, or only counted into *n when out is NULL. */
static enum octo_err scan(const struct octo_store *s, const char *rel,
			  int (*keep)(const char *name, size_t len), enum octo_err missing,
			  struct octo_strv *out, size_t *n)
{
	struct dirent *e;
	DIR *d;
	int fd;

	*n = 0;
	fd = octo_store_opendir(s, rel, 0);
	if (fd < 0)
		return octo_store_error(errno, missing);
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return octo_fs_error(errno);
	}
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' || (keep != NULL && !keep(e->d_name, len)))
			continue;
		if (out != NULL && octo_strv_push(out, e->d_name, len) != 0) {
			closedir(d);
			octo_strv_cleanup(out);
			return OCTO_ERR_NOMEM;
		}
		(*n)++;
	}
	closedir(d);
	return OCTO_OK;
}

enum octo_err octo_store_list(const struct octo_store *s, const char *rel,
			      int (*keep)(const char *name, size_t len), enum octo_err missing,
			      struct octo_strv *out)
{
	size_t n;

	memset(out, 0, sizeof(*out));
	return scan(s, rel, keep, missing, out, &n);
}

enum octo_err octo_store_count(const struct octo_store *s, const char *rel,
			       int (*keep)(const char *name, size_t len), enum octo_err missing,
			       size_t *n)
{
	return scan(s, rel, keep, missing, NULL, n);
}
