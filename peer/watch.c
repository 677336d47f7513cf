/* SPDX-License-Identifier: Apache-2.0 */
/* See watch.h. One thread polls the inotify descriptor and a pipe that stops it. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "watch.h"

#define WATCHES_MAX 8

struct octo_peer_watch {
	int fd, stop[2];
	pthread_t thread;
	pthread_mutex_t lock;
	struct {
		int wd;
		struct octo_peer_ticker *tickers;
		size_t n;
	} v[WATCHES_MAX];
	size_t n;
};

static void poke(struct octo_peer_watch *w, int wd)
{
	size_t i, k;

	pthread_mutex_lock(&w->lock);
	for (i = 0; i < w->n; i++)
		if (w->v[i].wd == wd)
			for (k = 0; k < w->v[i].n; k++)
				octo_peer_ticker_poke(&w->v[i].tickers[k]);
	pthread_mutex_unlock(&w->lock);
}

static void *run(void *arg)
{
	struct octo_peer_watch *w = arg;
	/* aligned as inotify_event wants; room for many events at a time */
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		struct pollfd p[2] = {{w->fd, POLLIN, 0}, {w->stop[0], POLLIN, 0}};
		ssize_t n;
		char *at;
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return NULL;
		if (p[1].revents != 0)
			return NULL;
		n = read(w->fd, buf, sizeof(buf));
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return NULL;
			continue;
		}
		for (at = buf; at < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)at;
			poke(w,
			     ev->wd); /* IN_Q_OVERFLOW (wd -1) pokes none: the periods catch up */
			at += sizeof(*ev) + ev->len;
		}
	}
}

struct octo_peer_watch *octo_peer_watch_start(void)
{
	struct octo_peer_watch *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0 || pipe2(w->stop, O_CLOEXEC) != 0) {
		if (w->fd >= 0)
			close(w->fd);
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->lock, NULL);
	if (pthread_create(&w->thread, NULL, run, w) != 0) {
		close(w->fd);
		close(w->stop[0]);
		close(w->stop[1]);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return NULL;
	}
	return w;
}

int octo_peer_watch_add(struct octo_peer_watch *w, const struct octo_store *s, const char *rel,
			struct octo_peer_ticker *tickers, size_t n)
{
	char path[OCTO_STORE_PATH_MAX + 4096];
	int dir, wd, rc = -1;

	if (w == NULL)
		return -1;
	dir = octo_store_opendir(s, rel, 1); /* made if missing, symlinks refused */
	if (dir < 0)
		return -1;
	close(dir);
	snprintf(path, sizeof(path), "%s/%s", octo_store_root(s), rel);
	wd = inotify_add_watch(w->fd, path,
			       IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_MOVED_TO | IN_ONLYDIR |
				       IN_DONT_FOLLOW);
	pthread_mutex_lock(&w->lock);
	if (wd >= 0 && w->n < WATCHES_MAX) {
		w->v[w->n].wd = wd;
		w->v[w->n].tickers = tickers;
		w->v[w->n].n = n;
		w->n++;
		rc = 0;
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

void octo_peer_watch_stop(struct octo_peer_watch *w)
{
	if (w == NULL)
		return;
	if (write(w->stop[1], "x", 1) != 1) {
		/* a pipe with room for a byte: cannot happen; the thread would block */
	}
	pthread_join(w->thread, NULL);
	close(w->fd);
	close(w->stop[0]);
	close(w->stop[1]);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
