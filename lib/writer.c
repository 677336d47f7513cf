/* SPDX-License-Identifier: Apache-2.0 */
/* See writer.h. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "writer.h"

/* Write buf[0..len) at pos, the aligned part through direct_fd when there is one. */
static int write_batch(int fd, int *direct_fd, const char *buf, size_t len, uint64_t pos)
{
	size_t head = len - len % OCTO_WRITER_ALIGN;

	if (*direct_fd >= 0 && head > 0) {
		if (octo_fs_pwrite_all(*direct_fd, buf, head, (long long)pos) == 0) {
			buf += head;
			pos += head;
			len -= head;
		} else if (errno == EINVAL) {
			close(*direct_fd); /* refused after all: the page cache it is */
			*direct_fd = -1;
		} else {
			return -1;
		}
	}
	if (len == 0)
		return 0;
	if (octo_fs_pwrite_all(fd, buf, len, (long long)pos) != 0)
		return -1;
	/* Start writeback now, so that the fdatasync before the 201 finds little left to
	 * write (it still waits for all of it). */
	sync_file_range(fd, (off_t)pos, (off_t)len, SYNC_FILE_RANGE_WRITE);
	return 0;
}

static void *writer_thread(void *arg)
{
	struct octo_writer *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		unsigned i = w->written % OCTO_WRITER_BUFFERS;
		int rc;

		if (w->written == w->queued) {
			if (w->closing)
				break;
			pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}
		pthread_mutex_unlock(&w->lock);
		rc = w->error != 0
			     ? 0
			     : write_batch(w->fd, &w->direct_fd, w->buf[i], w->len[i], w->pos[i]);
		pthread_mutex_lock(&w->lock);
		if (rc != 0 && w->error == 0)
			w->error = errno != 0 ? errno : EIO;
		w->written++;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void free_buffers(struct octo_writer *w)
{
	for (int i = 0; i < OCTO_WRITER_BUFFERS; i++)
		free(w->buf[i]);
}

enum octo_err octo_writer_open(struct octo_writer *w, int fd, int direct_fd)
{
	int nbuf = direct_fd >= 0 ? OCTO_WRITER_BUFFERS : 1;

	memset(w, 0, sizeof(*w));
	w->fd = fd;
	w->direct_fd = direct_fd;
	for (int i = 0; i < nbuf; i++)
		if (posix_memalign((void **)&w->buf[i], OCTO_WRITER_ALIGN, OCTO_WRITER_BATCH) !=
		    0) {
			w->buf[i] = NULL;
			goto nomem;
		}
	if (direct_fd < 0)
		return OCTO_OK;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->thread, NULL, writer_thread, w) == 0) {
		w->threaded = 1;
		return OCTO_OK;
	}
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
nomem:
	if (direct_fd >= 0)
		close(direct_fd);
	free_buffers(w);
	return OCTO_ERR_NOMEM;
}

char *octo_writer_buffer(struct octo_writer *w)
{
	if (!w->threaded)
		return w->buf[0];
	pthread_mutex_lock(&w->lock);
	while (w->queued - w->written == OCTO_WRITER_BUFFERS)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	return w->buf[w->queued % OCTO_WRITER_BUFFERS];
}

int octo_writer_submit(struct octo_writer *w, size_t len, uint64_t pos)
{
	unsigned i = w->queued % OCTO_WRITER_BUFFERS;
	int error;

	if (!w->threaded)
		return write_batch(w->fd, &w->direct_fd, w->buf[0], len, pos) == 0 ? 0 : errno;
	pthread_mutex_lock(&w->lock);
	w->len[i] = len;
	w->pos[i] = pos;
	w->queued++;
	error = w->error;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return error;
}

int octo_writer_close(struct octo_writer *w)
{
	int error = 0;

	if (w->threaded) {
		pthread_mutex_lock(&w->lock);
		w->closing = 1;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		error = w->error;
	}
	if (w->direct_fd >= 0)
		close(w->direct_fd);
	free_buffers(w);
	return error;
}
