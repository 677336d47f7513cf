/* SPDX-License-Identifier: Apache-2.0 */
/* The journal is one append-only file. Appenders serialise on an open-file-description lock
 * on its byte 0 (any process, any thread: each append opens the file); the next sequence
 * number comes from the last complete line, so there is no second file to keep in step. A
 * torn last line (a crash mid-write, never acknowledged) is cut off before the next append.
 *
 * Group commit: an appender writes its line and lets the append lock go before syncing,
 * then takes the lock on byte 1. Whoever holds that one reads journal/commit, the offset up
 * to which an fdatasync has covered the file; if its line ends beyond it, it fdatasyncs
 * everything written so far and records the new offset. An appender whose line is covered
 * by the time it gets the lock returns without a sync of its own: concurrent appenders of
 * every process share one fdatasync, and an append still returns only once its line is
 * durable. journal/commit is read and written under the lock, never mapped (a writable
 * mapping would keep the file system from being remounted read-only), and never synced: it
 * names the journal file it is about (device, inode), and what it claims was synced was. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "fsutil.h"
#include "journal.h"

#define JOURNAL_REL "journal/events"
#define SEGMENT_PREFIX "events."
#define CURSORS_REL "journal/cursors"
#define COMMIT_REL "journal/commit"
#define COMMIT_MAGIC "octojc01"

/* journal/commit, as read and written under the sync lock. */
struct commit {
	char magic[8];
	uint64_t dev, ino; /* the journal file it is about */
	uint64_t synced;   /* the offset up to which an fdatasync covered the file */
	uint64_t failed;   /* the end of what a failed fdatasync covered: maybe lost, never acked */
};

struct octo_journal {
	const struct octo_store *store;
	char *node;            /* this node's id, in every event */
	uint64_t segment_size; /* the current file is sealed once it holds this much */
};

enum lock_byte {
	LOCK_APPEND = 0,
	LOCK_SYNC = 1
};

/* Take (F_WRLCK) or release (F_UNLCK) one byte's lock, waiting for it. */
static int lock_byte(int fd, enum lock_byte b, short type)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = b, .l_len = 1};

	while (fcntl(fd, F_OFD_SETLKW, &fl) != 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Longer than any event line: names ≤ 255, digests ≤ 135, tags ≤ 128 bytes. */
#define JOURNAL_TAIL 4096
/* The longest line: a referrer's descriptor (64 KiB) escaped, with room to spare. */
#define JOURNAL_LINE_MAX (2 * 1024 * 1024)
#define SEQ_PREFIX "{\"seq\":"

/* The commit record of the journal file described by st (zero when it is about another
 * file, or missing, or not ours). */
static void commit_read(int cfd, const struct stat *st, struct commit *c)
{
	if (pread(cfd, c, sizeof(*c), 0) != (ssize_t)sizeof(*c) ||
	    memcmp(c->magic, COMMIT_MAGIC, 8) != 0 || c->dev != (uint64_t)st->st_dev ||
	    c->ino != (uint64_t)st->st_ino) {
		memset(c, 0, sizeof(*c));
		memcpy(c->magic, COMMIT_MAGIC, 8);
		c->dev = (uint64_t)st->st_dev;
		c->ino = (uint64_t)st->st_ino;
	}
}

static int commit_write(int cfd, const struct commit *c)
{
	return pwrite(cfd, c, sizeof(*c), 0) == (ssize_t)sizeof(*c) ? 0 : -1;
}

/* Cut a torn tail off the journal at size, under the sync lock: what the commit record says
 * was synced (or lost) may not reach past the new end, where the next line goes. */
static int cut_tail(int fd, int cfd, off_t size)
{
	struct commit c;
	struct stat st;
	int rc;

	if (lock_byte(fd, LOCK_SYNC, F_WRLCK) != 0)
		return -1;
	rc = ftruncate(fd, size) == 0 && fstat(fd, &st) == 0 ? 0 : -1;
	if (rc == 0) {
		commit_read(cfd, &st, &c);
		if (c.synced > (uint64_t)size)
			c.synced = (uint64_t)size;
		if (c.failed > (uint64_t)size)
			c.failed = (uint64_t)size;
		rc = commit_write(cfd, &c);
	}
	lock_byte(fd, LOCK_SYNC, F_UNLCK);
	return rc;
}

enum octo_err octo_journal_path(const struct octo_store *s, char *buf, size_t size)
{
	return octo_store_abspath(s, JOURNAL_REL, buf, size);
}

/* At line[*pos]: the key (with its quotes and colon), then a number with no sign, no
 * leading zero and no overflow, then a comma. 0, *v and *pos past the comma; or -1. */
static int parse_field(const char *line, size_t len, size_t *pos, const char *key, uint64_t *v)
{
	size_t p = *pos, klen = strlen(key), start;
	uint64_t n = 0;

	if (len - p < klen || memcmp(line + p, key, klen) != 0)
		return -1;
	for (start = p += klen; p < len && line[p] >= '0' && line[p] <= '9'; p++) {
		unsigned d = (unsigned)(line[p] - '0');
		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	if (p == start || p == len || line[p] != ',' || (line[start] == '0' && p - start > 1))
		return -1;
	*v = n;
	*pos = p + 1;
	return 0;
}

int octo_journal_parse_head(const char *line, size_t len, uint64_t *seq, uint64_t *hlc)
{
	size_t pos = 0;

	if (parse_field(line, len, &pos, SEQ_PREFIX, seq) != 0)
		return -1;
	*hlc = 0; /* a line from before clocks */
	if (len - pos >= 6 && memcmp(line + pos, "\"hlc\":", 6) == 0)
		return parse_field(line, len, &pos, "\"hlc\":", hlc);
	return 0;
}

/* The sequence number and clock of fd's last complete line (0 and 0 for an empty file); *torn
 * gets the offset where a torn tail begins, or -1. -1 with errno for a file not ours. The
 * tail read grows until it holds the whole last line (a referrer's event is long), up to
 * JOURNAL_LINE_MAX. */
static int read_last(int fd, uint64_t *seq, uint64_t *hlc, off_t *torn)
{
	size_t window = JOURNAL_TAIL, len;
	struct stat st;
	off_t start;
	char *tail = NULL, *end, *line;
	int rc = -1;

	*seq = *hlc = 0;
	*torn = -1;
	if (fstat(fd, &st) != 0)
		return -1;
	if (st.st_size == 0)
		return 0;
	for (;;) {
		start = st.st_size > (off_t)window ? st.st_size - (off_t)window : 0;
		len = (size_t)(st.st_size - start);
		free(tail);
		if ((tail = malloc(len)) == NULL || octo_fs_pread_all(fd, tail, len, start) != 0)
			goto out;
		end = memrchr(tail, '\n', len);
		if (end == NULL && start == 0) { /* one torn line and nothing before it */
			*torn = 0;
			rc = 0;
			goto out;
		}
		line = end != NULL ? memrchr(tail, '\n', (size_t)(end - tail)) : NULL;
		if (line != NULL || (end != NULL && start == 0))
			break;
		if (window >= JOURNAL_LINE_MAX) { /* no line of ours is that long */
			errno = EINVAL;
			goto out;
		}
		window *= 4;
	}
	if ((size_t)(end - tail) + 1 != len)
		*torn = start + (end - tail) + 1;
	line = line == NULL ? tail : line + 1;
	if (octo_journal_parse_head(line, (size_t)(end - line), seq, hlc) != 0)
		errno = EINVAL;
	else
		rc = 0;
out:
	free(tail);
	return rc;
}

/* The same for the current file, cutting a torn tail off. */
static int journal_last(int fd, int cfd, uint64_t *seq, uint64_t *hlc)
{
	off_t torn;

	if (read_last(fd, seq, hlc, &torn) != 0)
		return -1;
	return torn >= 0 ? cut_tail(fd, cfd, torn) : 0;
}

/* Sealed segments: journal/events.<the seq of their first line, 20 digits>. */
static int segment_name(const char *name, size_t len)
{
	size_t i, n = sizeof(SEGMENT_PREFIX) - 1;

	if (len != n + 20 || memcmp(name, SEGMENT_PREFIX, n) != 0)
		return 0;
	for (i = n; i < len; i++)
		if (name[i] < '0' || name[i] > '9')
			return 0;
	return 1;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The first sequence numbers of the sealed segments, ascending (malloc'd, *n of them). */
static enum octo_err list_segments(const struct octo_store *s, uint64_t **firsts, size_t *n)
{
	struct octo_strv names;
	enum octo_err err = octo_store_list(s, "journal", segment_name, OCTO_OK, &names);
	size_t i;

	*firsts = NULL;
	*n = 0;
	if (err != OCTO_OK)
		return err;
	if (names.n > 0 && (*firsts = calloc(names.n, sizeof(**firsts))) == NULL)
		err = OCTO_ERR_NOMEM;
	for (i = 0; err == OCTO_OK && i < names.n; i++)
		(*firsts)[i] = strtoull(names.v[i] + sizeof(SEGMENT_PREFIX) - 1, NULL, 10);
	if (err == OCTO_OK && names.n > 0) {
		*n = names.n;
		qsort(*firsts, *n, sizeof(**firsts), cmp_u64);
	}
	octo_strv_cleanup(&names);
	return err;
}

static enum octo_err segment_rel(uint64_t first, char *buf, size_t size)
{
	return octo_store_path(buf, size, "journal/" SEGMENT_PREFIX "%020llu",
			       (unsigned long long)first);
}

/* Where numbering goes on when the current file is empty: the newest sealed segment's last
 * line (the trim keeps that segment). */
static int sealed_last(const struct octo_store *s, uint64_t *seq, uint64_t *hlc)
{
	char rel[OCTO_STORE_PATH_MAX];
	uint64_t *firsts;
	size_t n;
	off_t torn;
	int fd, rc;

	*seq = *hlc = 0;
	if (list_segments(s, &firsts, &n) != OCTO_OK)
		return -1;
	if (n == 0) {
		free(firsts);
		return 0;
	}
	rc = segment_rel(firsts[n - 1], rel, sizeof(rel)) == OCTO_OK ? 0 : -1;
	free(firsts);
	if (rc != 0 || (fd = octo_store_openat(s, rel, O_RDONLY, 0)) < 0)
		return -1;
	rc = read_last(fd, seq, hlc, &torn);
	close(fd);
	return rc;
}

/* The records an event wrote, as {"key":…,"value":…} or {"key":…,"tombstone":true}. */
static json_t *event_records(const struct octo_journal_event *ev)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < ev->n_records; i++) {
		const struct octo_journal_change *c = &ev->records[i];
		json_t *o = c->value != NULL
				    ? json_pack("{s:s,s:s}", "key", c->key, "value", c->value)
				    : json_pack("{s:s,s:b}", "key", c->key, "tombstone", 1);
		if (o == NULL || json_array_append_new(a, o) != 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

static char *event_line(const struct octo_journal *j, const struct octo_journal_event *ev,
			uint64_t seq, uint64_t hlc, uint64_t wall_ms, size_t *len)
{
	json_t *o, *records = event_records(ev);
	char *body, *line;
	int n;

	if (records == NULL)
		return NULL;
	o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s*,s:s*,s:o}", "time_ms", (json_int_t)wall_ms, "node",
		      j->node, "store", octo_store_incarnation(j->store), "type", ev->type, "repo",
		      ev->repo, "digest", ev->digest, "tag", ev->tag, "records", records);
	if (o != NULL && ev->origin != NULL &&
	    json_object_set_new(o, "origin",
				json_pack("{s:s,s:I,s:I}", "node", ev->origin->node, "hlc",
					  (json_int_t)ev->origin->hlc, "time_ms",
					  (json_int_t)ev->origin->time_ms)) != 0) {
		json_decref(o);
		return NULL;
	}
	if (o == NULL)
		return NULL;
	body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (body == NULL)
		return NULL;
	/* seq and hlc first at a fixed place, so the next appender can read them back cheaply */
	n = asprintf(&line, SEQ_PREFIX "%llu,\"hlc\":%llu,%s\n", (unsigned long long)seq,
		     (unsigned long long)hlc, body + 1);
	free(body);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return line;
}

/* The journal file, open for appending; -1 with the failure recorded. */
static int open_events(const struct octo_store *s)
{
	int fd = octo_store_openat(s, JOURNAL_REL, O_RDWR | O_APPEND | O_CREAT, 0644);

	if (fd < 0)
		octo_fs_fail("open for appending", JOURNAL_REL, errno);
	return fd;
}

enum octo_err octo_journal_open(const struct octo_store *s, const char *node, uint64_t segment_size,
				struct octo_journal **out)
{
	struct octo_journal *j;
	int fd;

	*out = NULL;
	fd = open_events(s);
	if (fd < 0)
		return octo_fs_error(errno);
	close(fd);
	j = calloc(1, sizeof(*j));
	if (j == NULL || (j->node = strdup(node)) == NULL) {
		free(j);
		return OCTO_ERR_NOMEM;
	}
	j->store = s;
	j->segment_size = segment_size;
	*out = j;
	return OCTO_OK;
}

void octo_journal_close(struct octo_journal *j)
{
	if (j == NULL)
		return;
	free(j->node);
	free(j);
}

enum octo_err octo_journal_check(const struct octo_journal *j)
{
	int fd = open_events(j->store);

	if (fd < 0)
		return octo_fs_error(errno);
	close(fd);
	return OCTO_OK;
}

/* Return once the journal (fd) is durable up to offset end: covered by an
 * fdatasync of this call's, or of any other appender's since the line was written. */
static enum octo_err wait_synced(int fd, int cfd, uint64_t end)
{
	enum octo_err err = OCTO_OK;
	struct commit c;
	struct stat st;

	if (lock_byte(fd, LOCK_SYNC, F_WRLCK) != 0)
		return octo_fs_fail("lock", JOURNAL_REL, errno);
	if (fstat(fd, &st) != 0) {
		err = octo_fs_error(errno);
		goto out;
	}
	commit_read(cfd, &st, &c);
	if (end <= c.failed) { /* in a sync that failed: maybe lost */
		err = octo_fs_fail("sync", JOURNAL_REL, EIO);
	} else if (end > c.synced) {
		uint64_t target = (uint64_t)st.st_size; /* every line written so far */
		if (octo_fs_sync(fd, 1, JOURNAL_REL) != 0) {
			err = octo_fs_fail("sync", JOURNAL_REL, errno);
			c.failed = target;
		} else {
			c.synced = target;
		}
		if (commit_write(cfd, &c) != 0 && err == OCTO_OK)
			err = octo_fs_fail("write", COMMIT_REL, errno);
	}
out:
	lock_byte(fd, LOCK_SYNC, F_UNLCK);
	return err;
}

/* Whether fd is still the file at journal/events (not sealed by another appender since it
 * was opened). */
static int is_current(const struct octo_store *s, int fd)
{
	struct stat a, b;
	int cur = octo_store_openat(s, JOURNAL_REL, O_PATH, 0), same;

	if (cur < 0)
		return 0;
	same = fstat(fd, &a) == 0 && fstat(cur, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
	close(cur);
	return same;
}

/* Seal the current file (fd, under the append lock): it becomes events.<its first seq>, and
 * the next append makes a new one. Then segments no consumer needs go. */
static enum octo_err seal(struct octo_journal *j, int fd)
{
	char head[JOURNAL_TAIL], rel[OCTO_STORE_PATH_MAX];
	uint64_t first, hlc;
	enum octo_err err;
	ssize_t n = pread(fd, head, sizeof(head), 0);
	char *nl = n > 0 ? memchr(head, '\n', (size_t)n) : NULL;
	int placed;

	/* the head of a line longer than the buffer is in it all the same */
	if (n <= 0 || octo_journal_parse_head(head, nl != NULL ? (size_t)(nl - head) : (size_t)n,
					      &first, &hlc) != 0)
		return octo_fs_fail("read the first line of", JOURNAL_REL, n < 0 ? errno : EINVAL);
	err = segment_rel(first, rel, sizeof(rel));
	if (err == OCTO_OK)
		err = octo_store_place(j->store, JOURNAL_REL, rel, &placed);
	if (err == OCTO_OK && !placed) /* cannot be: sequence numbers are not reused */
		err = octo_fs_fail("seal", rel, EEXIST);
	return err != OCTO_OK ? err : octo_journal_trim(j, NULL);
}

enum octo_err octo_journal_append(struct octo_journal *j, const struct octo_journal_event *ev,
				  uint64_t *seq, struct octo_record_stamp *stamp)
{
	enum octo_err err = OCTO_OK;
	uint64_t last, last_hlc, now, wall;
	char *line = NULL;
	struct stat st;
	size_t len = 0;
	off_t end;
	int fd, cfd;

	/* Both files are opened per append, not held: a file held open for writing would keep
	 * the store's file system from being remounted read-only. */
	cfd = octo_store_openat(j->store, COMMIT_REL, O_RDWR | O_CREAT, 0644);
	if (cfd < 0)
		return octo_fs_fail("open", COMMIT_REL, errno);
	for (;;) {
		fd = open_events(j->store);
		if (fd < 0) {
			close(cfd);
			return octo_fs_error(errno);
		}
		if (lock_byte(fd, LOCK_APPEND, F_WRLCK) != 0) {
			err = octo_fs_fail("lock", JOURNAL_REL, errno);
			goto out;
		}
		if (!is_current(j->store, fd)) { /* sealed while we waited: the new one */
			close(fd);
			continue;
		}
		if (journal_last(fd, cfd, &last, &last_hlc) != 0 || fstat(fd, &st) != 0) {
			err = octo_fs_error(errno);
			goto out;
		}
		if ((uint64_t)st.st_size < j->segment_size)
			break;
		err = seal(j, fd);
		if (err != OCTO_OK)
			goto out;
		close(fd);
	}
	if (st.st_size == 0 && sealed_last(j->store, &last, &last_hlc) != 0) {
		err = octo_fs_fail("read the last segment of", JOURNAL_REL, errno);
		goto out;
	}
	/* under the append lock, so the clock of every process's events only goes up */
	wall = octo_clock_wall_ms();
	now = ev->origin != NULL ? octo_hlc_merge(last_hlc, ev->origin->hlc, wall)
				 : octo_hlc_tick(last_hlc, wall);
	line = event_line(j, ev, last + 1, now, wall, &len);
	if (line == NULL || len > JOURNAL_LINE_MAX) {
		err = line == NULL ? OCTO_ERR_NOMEM : OCTO_ERR_TOO_LARGE;
		goto out;
	}
	if (write(fd, line, len) != (ssize_t)len || (end = lseek(fd, 0, SEEK_CUR)) < 0) {
		/* a short write leaves a torn line, which the next append cuts off */
		err = octo_fs_fail("append to", JOURNAL_REL, errno);
		goto out;
	}
	lock_byte(fd, LOCK_APPEND, F_UNLCK);
	if (st.st_size == 0 && (err = octo_store_sync_parent(j->store, JOURNAL_REL)) != OCTO_OK)
		goto out; /* a new file needs its entry synced */
	err = wait_synced(fd, cfd, (uint64_t)end);
	if (err == OCTO_OK && seq != NULL)
		*seq = last + 1;
	if (err == OCTO_OK && stamp != NULL)
		*stamp = (struct octo_record_stamp){.hlc = now, .time_ms = wall, .node = j->node};
out:
	free(line);
	close(cfd);
	close(fd); /* releases any lock left */
	return err;
}

enum octo_err octo_journal_last(const struct octo_journal *j, uint64_t *seq)
{
	uint64_t hlc;
	off_t torn;
	int fd = octo_store_openat(j->store, JOURNAL_REL, O_RDONLY, 0), rc;

	*seq = 0;
	if (fd < 0 && errno != ENOENT)
		return octo_fs_fail("open", JOURNAL_REL, errno);
	rc = fd >= 0 ? read_last(fd, seq, &hlc, &torn) : 0;
	if (fd >= 0)
		close(fd);
	if (rc == 0 && *seq == 0) /* just sealed: the numbers end in the newest segment */
		rc = sealed_last(j->store, seq, &hlc);
	return rc == 0 ? OCTO_OK : octo_fs_fail("read the end of", JOURNAL_REL, errno);
}

/* Cursor names: [a-z0-9_-], 1 to 64 characters. */
static int cursor_name(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > 64)
		return 0;
	for (i = 0; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_' || name[i] == '-'))
			return 0;
	return 1;
}

static enum octo_err cursor_rel(const char *name, char *buf, size_t size)
{
	if (!cursor_name(name, strlen(name)))
		return OCTO_ERR_NAME_INVALID;
	return octo_store_path(buf, size, CURSORS_REL "/%s", name);
}

enum octo_err octo_journal_cursor_set(struct octo_journal *j, const char *name, uint64_t seq)
{
	char rel[OCTO_STORE_PATH_MAX], text[32];
	enum octo_err err = cursor_rel(name, rel, sizeof(rel));
	int n = snprintf(text, sizeof(text), "%llu\n", (unsigned long long)seq);

	return err != OCTO_OK ? err : octo_store_write_atomic(j->store, rel, text, (size_t)n, 1);
}

enum octo_err octo_journal_cursor_get(const struct octo_journal *j, const char *name, uint64_t *seq)
{
	char rel[OCTO_STORE_PATH_MAX], *text, *end;
	enum octo_err err = cursor_rel(name, rel, sizeof(rel));
	size_t len;

	if (err == OCTO_OK)
		err = octo_store_read(j->store, rel, 32, OCTO_ERR_NAME_UNKNOWN, &text, &len);
	if (err != OCTO_OK)
		return err;
	errno = 0;
	*seq = strtoull(text, &end, 10);
	if (len == 0 || text[0] < '0' || text[0] > '9' || errno != 0 || *end != '\n' ||
	    end + 1 != text + len)
		err = octo_fs_fail("read the cursor in", rel, EINVAL); /* not ours */
	free(text);
	return err;
}

enum octo_err octo_journal_cursor_drop(struct octo_journal *j, const char *name)
{
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = cursor_rel(name, rel, sizeof(rel));

	return err != OCTO_OK ? err : octo_store_remove(j->store, rel, OCTO_ERR_NAME_UNKNOWN);
}

enum octo_err octo_journal_cursor_list(const struct octo_journal *j,
				       int (*keep)(const char *name, size_t len),
				       struct octo_strv *names)
{
	memset(names, 0, sizeof(*names));
	return octo_store_list(j->store, CURSORS_REL, keep, OCTO_OK, names);
}

enum octo_err octo_journal_trim(struct octo_journal *j, size_t *removed)
{
	uint64_t *firsts, oldest = UINT64_MAX;
	struct octo_strv names;
	enum octo_err err;
	size_t i, n, gone = 0;

	err = octo_store_list(j->store, CURSORS_REL, cursor_name, OCTO_OK, &names);
	for (i = 0; err == OCTO_OK && i < names.n; i++) {
		uint64_t at;
		err = octo_journal_cursor_get(j, names.v[i], &at);
		if (err == OCTO_ERR_NAME_UNKNOWN) /* dropped meanwhile */
			err = OCTO_OK;
		else if (err == OCTO_OK && at < oldest)
			oldest = at;
	}
	octo_strv_cleanup(&names);
	if (err == OCTO_OK)
		err = list_segments(j->store, &firsts, &n);
	if (err != OCTO_OK)
		return err;
	/* Segment i holds firsts[i] .. firsts[i + 1] - 1; the newest sealed one always stays,
	 * for the numbering of an empty current file. */
	for (i = 0; err == OCTO_OK && i + 1 < n && firsts[i + 1] - 1 <= oldest; i++) {
		char rel[OCTO_STORE_PATH_MAX];
		err = segment_rel(firsts[i], rel, sizeof(rel));
		if (err == OCTO_OK)
			err = octo_store_remove(j->store, rel, OCTO_OK);
		gone += err == OCTO_OK;
	}
	free(firsts);
	if (removed != NULL)
		*removed = gone;
	return err;
}

/* Scan one file of the journal from the line after *from: fn for each line numbered
 * *from + 1, *from + 2, ...; *gap when a number is missing (sealed or trimmed meanwhile). */
static enum octo_err scan_file(const struct octo_store *s, const char *rel, uint64_t *from,
			       int *gap, int *stop,
			       int (*fn)(void *ctx, uint64_t seq, const char *line, size_t len),
			       void *ctx)
{
	int fd = octo_store_openat(s, rel, O_RDONLY, 0);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	if (fd < 0) {
		*gap = errno == ENOENT;
		return *gap ? OCTO_OK : octo_fs_fail("open", rel, errno);
	}
	f = fdopen(fd, "r");
	if (f == NULL) {
		close(fd);
		return OCTO_ERR_NOMEM;
	}
	while (!*gap && !*stop && (n = getline(&line, &cap, f)) > 0) {
		uint64_t seq, hlc;
		if (line[n - 1] != '\n')
			break; /* a torn tail: never acknowledged */
		if (octo_journal_parse_head(line, (size_t)n - 1, &seq, &hlc) != 0) {
			free(line);
			fclose(f);
			return octo_fs_fail("read", rel, EINVAL);
		}
		if (seq <= *from)
			continue;
		if (seq != *from + 1) {
			*gap = 1;
			break;
		}
		*stop = fn(ctx, seq, line, (size_t)n - 1);
		*from = seq;
	}
	free(line);
	fclose(f);
	return OCTO_OK;
}

enum octo_err octo_journal_scan(const struct octo_journal *j, uint64_t after,
				int (*fn)(void *ctx, uint64_t seq, const char *line, size_t len),
				void *ctx)
{
	uint64_t from = after, *firsts;
	enum octo_err err = OCTO_OK;
	int stop = 0;

	for (;;) {
		uint64_t before = from;
		size_t i, n, start = 0;
		int gap = 0;
		err = list_segments(j->store, &firsts, &n);
		if (err != OCTO_OK)
			return err;
		while (start + 1 < n && firsts[start + 1] <= from + 1)
			start++;
		for (i = start; err == OCTO_OK && !gap && !stop && i <= n; i++) {
			char rel[OCTO_STORE_PATH_MAX];
			err = i < n ? segment_rel(firsts[i], rel, sizeof(rel))
				    : octo_store_path(rel, sizeof(rel), "%s", JOURNAL_REL);
			if (err == OCTO_OK)
				err = scan_file(j->store, rel, &from, &gap, &stop, fn, ctx);
		}
		free(firsts);
		if (err != OCTO_OK || stop || !gap)
			return err;
		if (from == before) /* the events after from are gone: trimmed past this reader */
			return octo_fs_fail("read the events after a trimmed segment of",
					    JOURNAL_REL, ENOENT);
	}
}

enum octo_err octo_journal_record(struct octo_journal *j, const char *type, const char *repo,
				  const struct octo_digest *d, const char *tag,
				  const struct octo_journal_change *records, size_t n_records,
				  struct octo_record_stamp *stamp)
{
	char ds[OCTO_DIGEST_MAX_STRING];
	struct octo_journal_event ev = {.type = type,
					.repo = repo,
					.digest = d ? ds : NULL,
					.tag = tag,
					.records = records,
					.n_records = n_records};

	if (d != NULL)
		octo_digest_format(d, ds, sizeof(ds));
	return octo_journal_append(j, &ev, NULL, stamp);
}
