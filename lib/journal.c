/* SPDX-License-Identifier: Apache-2.0 */
/* The journal is one append-only file. An exclusive flock serialises appenders across
 * processes; the next sequence number comes from the last complete line, so there is no
 * second file to keep in step. A torn last line (a crash mid-write, never acknowledged) is
 * cut off before the next append. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "fsutil.h"
#include "journal.h"

#define JOURNAL_REL "journal/events"
/* Longer than any event line: names ≤ 255, digests ≤ 135, tags ≤ 128 bytes. */
#define JOURNAL_TAIL 4096
#define SEQ_PREFIX "{\"seq\":"

enum octo_err octo_journal_path(const struct octo_store *s, char *buf, size_t size)
{
	return octo_store_abspath(s, JOURNAL_REL, buf, size);
}

int octo_journal_parse_seq(const char *line, size_t len, uint64_t *seq)
{
	size_t pos = sizeof(SEQ_PREFIX) - 1, start;
	uint64_t v = 0;

	if (len < pos || memcmp(line, SEQ_PREFIX, pos) != 0)
		return -1;
	for (start = pos; pos < len && line[pos] >= '0' && line[pos] <= '9'; pos++) {
		unsigned d = (unsigned)(line[pos] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (pos == start || pos == len || line[pos] != ',' ||
	    (line[start] == '0' && pos - start > 1))
		return -1;
	*seq = v;
	return 0;
}

/* Find the sequence number of the last complete line and cut off a torn tail. */
static int journal_last_seq(int fd, uint64_t *seq)
{
	char tail[JOURNAL_TAIL];
	struct stat st;
	off_t start;
	size_t len;
	char *end, *line;

	*seq = 0;
	if (fstat(fd, &st) != 0)
		return -1;
	if (st.st_size == 0)
		return 0;
	start = st.st_size > JOURNAL_TAIL ? st.st_size - JOURNAL_TAIL : 0;
	len = (size_t)(st.st_size - start);
	if (octo_fs_pread_all(fd, tail, len, start) != 0)
		return -1;
	end = memrchr(tail, '\n', len);
	if (end == NULL) {
		if (start != 0) { /* no newline in the tail: the file is not ours */
			errno = EINVAL;
			return -1;
		}
		return ftruncate(fd, 0);
	}
	if ((size_t)(end - tail) + 1 != len && ftruncate(fd, start + (end - tail) + 1) != 0)
		return -1;
	line = memrchr(tail, '\n', (size_t)(end - tail));
	line = line == NULL ? tail : line + 1;
	if (octo_journal_parse_seq(line, (size_t)(end - line), seq) != 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static char *event_line(const struct octo_journal_event *ev, uint64_t seq, size_t *len)
{
	struct timeval tv;
	char *body, *line;
	json_t *o;
	int n;

	gettimeofday(&tv, NULL);
	o = json_pack("{s:I,s:s,s:s,s:s*,s:s*}", "time_ms",
		      (json_int_t)tv.tv_sec * 1000 + tv.tv_usec / 1000, "type", ev->type, "repo",
		      ev->repo, "digest", ev->digest, "tag", ev->tag);
	if (o == NULL)
		return NULL;
	body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (body == NULL)
		return NULL;
	/* seq first at a fixed place, so the next appender can read it back cheaply */
	n = asprintf(&line, SEQ_PREFIX "%llu,%s\n", (unsigned long long)seq, body + 1);
	free(body);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return line;
}

enum octo_err octo_journal_check(const struct octo_store *s)
{
	int fd = octo_store_openat(s, JOURNAL_REL, O_WRONLY | O_APPEND | O_CREAT, 0644);

	if (fd < 0)
		return octo_fs_fail("open for appending", JOURNAL_REL, errno);
	close(fd);
	return OCTO_OK;
}

enum octo_err octo_journal_append(const struct octo_store *s, const struct octo_journal_event *ev,
				  uint64_t *seq)
{
	enum octo_err err = OCTO_OK;
	uint64_t last;
	char *line = NULL;
	size_t len = 0;
	int fd;

	fd = octo_store_openat(s, JOURNAL_REL, O_RDWR | O_APPEND | O_CREAT, 0644);
	if (fd < 0)
		return octo_fs_fail("open for appending", JOURNAL_REL, errno);
	while (flock(fd, LOCK_EX) != 0)
		if (errno != EINTR) {
			err = octo_fs_error(errno);
			goto out;
		}
	if (journal_last_seq(fd, &last) != 0) {
		err = octo_fs_error(errno);
		goto out;
	}
	line = event_line(ev, last + 1, &len);
	if (line == NULL) {
		err = OCTO_ERR_NOMEM;
		goto out;
	}
	if (write(fd, line, len) != (ssize_t)len || octo_fs_sync(fd, 1, JOURNAL_REL) != 0) {
		/* a short write leaves a torn line, which the next append cuts off */
		err = octo_fs_fail("append to", JOURNAL_REL, errno);
		goto out;
	}
	if (last == 0 && (err = octo_store_sync_parent(s, JOURNAL_REL)) != OCTO_OK)
		goto out; /* a new file needs its entry synced */
	if (seq != NULL)
		*seq = last + 1;
out:
	free(line);
	close(fd); /* releases the lock */
	return err;
}

enum octo_err octo_journal_record(const struct octo_store *s, const char *type, const char *repo,
				  const struct octo_digest *d, const char *tag)
{
	char ds[OCTO_DIGEST_MAX_STRING];
	struct octo_journal_event ev = {
		.type = type, .repo = repo, .digest = d ? ds : NULL, .tag = tag};

	if (d != NULL)
		octo_digest_format(d, ds, sizeof(ds));
	return octo_journal_append(s, &ev, NULL);
}
