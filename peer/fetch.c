/* SPDX-License-Identifier: Apache-2.0 */
/* See fetch.h. FETCH_WORKERS threads share an in-memory list of the markers (refilled from
 * the store when it runs out) and the digests in flight; each fetch tries its sources in
 * order: the peer the marker names, the blob's holders, then any member that is up. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "digest.h"
#include "fetch.h"
#include "fsutil.h"
#include "peer.pb-c.h"
#include "rpc.h"
#include "store-blob.h"
#include "store-wanted.h"
#include "ticker.h"

#define FETCH_WORKERS 4
#define FETCH_POLL_MS 100     /* without inotify */
#define FETCH_WATCHED_MS 1000 /* with it: retries, and markers inotify missed */
/* A blob no peer gave is tried again after this, doubled up to a health interval. */
#define RETRY_MIN_MS 250
#define UNWRITABLE_LOG_MS 30000 /* a full disk is said every 30 s, not at each retry */
#define RETRY_MAX 1024

struct retry {
	char name[OCTO_DIGEST_MAX_STRING];
	uint64_t at_ms;
	uint64_t delay_ms;
};

struct octo_peer_fetcher {
	const struct octo_config *cfg;
	struct octo_store *store;
	struct octo_peer_cluster *cluster;
	struct octo_logger *log;
	struct worker {
		struct octo_peer_fetcher *f;
		size_t slot;
	} workers[FETCH_WORKERS];
	pthread_t threads[FETCH_WORKERS];
	struct octo_peer_ticker tickers[FETCH_WORKERS];
	size_t n_threads;
	long period_ms;
	int stopping; /* read and set with __atomic: workers look at it between chunks */
	pthread_mutex_t lock;
	struct octo_strv queue; /* marker names listed, taken from pos on */
	size_t pos;
	char busy[FETCH_WORKERS][OCTO_DIGEST_MAX_STRING];
	struct retry retries[RETRY_MAX];
	size_t n_retries;
	uint64_t ups; /* octo_peer_cluster_ups when the retries were last cleared */
	uint64_t unwritable_logged_ms; /* octo_clock_due's, for the log of a fetch not written */
};

static int is_stopping(struct octo_peer_fetcher *f)
{
	return __atomic_load_n(&f->stopping, __ATOMIC_RELAXED);
}

static struct retry *retry_find(struct octo_peer_fetcher *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->n_retries; i++)
		if (strcmp(f->retries[i].name, name) == 0)
			return &f->retries[i];
	return NULL;
}

/* A blob whose fetch failed waits for its retry while the note of it stays: a client asking
 * for it again removes the note (lazy.c), and it is tried at once. */
static int still_unavailable(struct octo_peer_fetcher *f, const char *name)
{
	struct octo_digest d;
	struct timespec when;

	return octo_store_wanted_digest(name, &d) == OCTO_OK &&
	       octo_store_unavailable_since(f->store, &d, &when) == OCTO_OK;
}

/* The next marker no worker has and none waits to be retried, into busy[slot]: 1, or 0. */
static int take(struct octo_peer_fetcher *f, size_t slot)
{
	uint64_t now = octo_clock_monotonic_ms();
	int got = 0, listed = 0;

	pthread_mutex_lock(&f->lock);
	if (octo_peer_cluster_ups(f->cluster) != f->ups) { /* a member came up: try all again */
		f->ups = octo_peer_cluster_ups(f->cluster);
		f->n_retries = 0;
	}
	for (;;) {
		if (f->pos == f->queue.n) {
			if (listed)
				break;
			octo_strv_cleanup(&f->queue);
			f->pos = 0;
			if (octo_store_wanted_list(f->store, &f->queue) != OCTO_OK)
				break;
			listed = 1;
			continue;
		}
		const char *name = f->queue.v[f->pos++];
		struct retry *r = retry_find(f, name);
		size_t i;
		int taken = 0;
		if (r != NULL && r->at_ms > now && still_unavailable(f, name))
			continue;
		for (i = 0; i < FETCH_WORKERS; i++)
			taken |= strcmp(f->busy[i], name) == 0;
		if (taken)
			continue;
		snprintf(f->busy[slot], sizeof(f->busy[slot]), "%s", name);
		got = 1;
		break;
	}
	pthread_mutex_unlock(&f->lock);
	return got;
}

static void done(struct octo_peer_fetcher *f, size_t slot, int ok)
{
	struct retry *r;

	pthread_mutex_lock(&f->lock);
	r = retry_find(f, f->busy[slot]);
	if (ok && r != NULL) {
		*r = f->retries[--f->n_retries];
	} else if (!ok) {
		uint64_t max = (uint64_t)f->cfg->p2p.health_check.interval_ms;
		if (r == NULL && f->n_retries < RETRY_MAX) {
			r = &f->retries[f->n_retries++];
			memcpy(r->name, f->busy[slot], sizeof(r->name)); /* the same size */
			r->delay_ms = RETRY_MIN_MS / 2;
		}
		if (r != NULL) {
			r->delay_ms = r->delay_ms * 2 > max ? max : r->delay_ms * 2;
			r->at_ms = octo_clock_monotonic_ms() + r->delay_ms;
		}
	}
	f->busy[slot][0] = '\0';
	pthread_mutex_unlock(&f->lock);
}

/* One fetch's receiving end. */
struct receive {
	struct octo_peer_fetcher *f;
	int fd;
	struct octo_hasher *h;
	uint64_t offset, size, max;
	int sized;  /* the first chunk told the size */
	int bad;    /* the source sent what cannot be: its bytes are not kept */
	int failed; /* this node could not write: why */
	const char *why;
	uint64_t start_ms, start_offset;
};

static void pace(struct receive *r)
{
	int64_t rate = r->f->cfg->p2p.transport.rate_limit;
	uint64_t due, now;

	if (rate <= 0)
		return;
	due = r->start_ms + (r->offset - r->start_offset) * 1000 / (uint64_t)rate;
	while (!is_stopping(r->f) && (now = octo_clock_monotonic_ms()) < due) {
		uint64_t ms = due - now > 100 ? 100 : due - now;
		struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
}

static int on_chunk(void *ctx, const uint8_t *msg, size_t len)
{
	struct receive *r = ctx;
	Octoserve__Peer__V1__Chunk *c = octoserve__peer__v1__chunk__unpack(NULL, len, msg);
	const struct octo_config *cfg = r->f->cfg;

	if (c == NULL || c->offset != r->offset || (r->sized && c->size != r->size) ||
	    (!r->sized && (c->size > r->max || c->size < r->offset)) ||
	    c->data.len > c->size - r->offset) {
		r->bad = 1;
	} else if (!r->sized &&
		   octo_store_check_space(r->f->store, c->size - r->offset,
					  (uint64_t)cfg->storage.min_free_bytes,
					  (uint64_t)cfg->storage.min_free_inodes) != OCTO_OK) {
		r->failed = 1;
		r->why = "the store has not the space for it (with storage.min_free.bytes and "
			 "storage.min_free.inodes kept free)";
	} else if (c->data.len > 0 &&
		   octo_fs_pwrite_all(r->fd, c->data.data, c->data.len, (long long)r->offset)) {
		r->failed = 1;
		r->why = errno == ENOSPC || errno == EDQUOT ? "the store's disk is full"
							    : "the store cannot be written";
	} else {
		r->size = c->size;
		r->sized = 1;
		octo_hasher_update(r->h, c->data.data, c->data.len);
		r->offset += c->data.len;
	}
	if (c != NULL)
		octoserve__peer__v1__chunk__free_unpacked(c, NULL);
	if (r->bad || r->failed)
		return 1;
	pace(r);
	return is_stopping(r->f);
}

/* The bytes already in the growing copy, hashed, so a fetch resumes after them. */
static int resume(struct receive *r)
{
	struct stat st;
	char *buf;
	uint64_t at = 0;

	if (fstat(r->fd, &st) != 0)
		return -1;
	buf = malloc(1 << 20);
	if (buf == NULL)
		return -1;
	while (at < (uint64_t)st.st_size) {
		size_t n =
			(uint64_t)st.st_size - at < (1 << 20) ? (size_t)(st.st_size - at) : 1 << 20;
		if (octo_fs_pread_all(r->fd, buf, n, (long long)at) != 0)
			break;
		octo_hasher_update(r->h, buf, n);
		at += n;
	}
	free(buf);
	r->offset = at;
	return at == (uint64_t)st.st_size ? 0 : -1;
}

/* Start the copy again from nothing (a source sent bytes that are not the blob's). */
static int restart(struct receive *r, enum octo_digest_alg alg)
{
	octo_hasher_free(r->h);
	r->h = octo_hasher_new(alg);
	r->offset = 0;
	r->sized = 0;
	r->bad = 0;
	return r->h != NULL && ftruncate(r->fd, 0) == 0 ? 0 : -1;
}

/* The addresses to ask, in order, without repeats: source (a node id), the holders (by
 * placement over this node and the members), the rest of the members that are up. */
static size_t sources(struct octo_peer_fetcher *f, const struct octo_digest *d, const char *source,
		      const char **out, struct octo_peer_view *view)
{
	size_t holders[OCTO_PEER_VIEW_MAX + 1], n = 0, i, k, nh;
	const struct octo_peer_view_member *order[2 * OCTO_PEER_VIEW_MAX + 1];

	octo_peer_cluster_view(f->cluster, view);
	nh = octo_peer_view_holders(view, f->cfg->p2p.node_id, d, f->cfg->p2p.replication.factor,
				    holders);
	k = 0;
	for (i = 0; i < view->n; i++)
		if (strcmp(view->v[i].id, source) == 0)
			order[k++] = &view->v[i];
	for (i = 0; i < nh; i++)
		if (holders[i] > 0) /* 0 is this node */
			order[k++] = &view->v[holders[i] - 1];
	for (i = 0; i < view->n; i++)
		order[k++] = &view->v[i];
	for (i = 0; i < k; i++) {
		size_t j;
		int dup = 0;
		if (!order[i]->up)
			continue;
		for (j = 0; j < n; j++)
			dup |= out[j] == order[i]->address;
		if (!dup)
			out[n++] = order[i]->address;
	}
	return n;
}

/* Fetch d into the store: 1 when it is there, 0 when no source gave it. */
static int fetch(struct octo_peer_fetcher *f, const struct octo_digest *d)
{
	Octoserve__Peer__V1__FetchRequest req = OCTOSERVE__PEER__V1__FETCH_REQUEST__INIT;
	char rel[OCTO_STORE_PATH_MAX], source[OCTO_NODE_ID_MAX + 2] = "",
								 text[OCTO_DIGEST_MAX_STRING];
	struct receive r = {.f = f, .fd = -1};
	struct octo_peer_view *view = malloc(sizeof(*view));
	const char *order[OCTO_PEER_VIEW_MAX];
	size_t n = 0, i;
	int ok = 0, dir;

	r.max = f->cfg->storage.max_blob_size > 0 ? (uint64_t)f->cfg->storage.max_blob_size
						  : UINT64_MAX;
	octo_store_wanted_source(f->store, d, source, sizeof(source));
	if (view != NULL)
		n = sources(f, d, source, order, view);
	if (n == 0 || octo_store_incoming_rel(d, rel, sizeof(rel)) != OCTO_OK)
		goto out;
	dir = octo_store_opendir(f->store, OCTO_INCOMING_DIR, 1);
	if (dir >= 0)
		close(dir);
	r.fd = octo_store_openat(f->store, rel, O_RDWR | O_CREAT, 0644);
	r.h = octo_hasher_new(d->alg);
	if (r.fd < 0 || r.h == NULL || resume(&r) != 0)
		goto out;
	octo_digest_format(d, text, sizeof(text));
	req.digest = text;
	if (r.offset > 0) {
		struct octo_log_field fl[] = {OCTO_LOG_STR("digest", text),
					      OCTO_LOG_NUM("offset", (long long)r.offset)};
		octo_log(f->log, OCTO_LOG_INFO, "a fetch resumes", fl, 2);
	}
	for (i = 0; i < n && !is_stopping(f) && !r.failed; i++) {
		struct octo_rpc_channel *ch = octo_peer_cluster_channel(f->cluster, order[i]);
		uint8_t packed[OCTO_DIGEST_MAX_STRING + 32];
		enum octo_rpc_status status;
		int stopped;
		if (ch == NULL)
			break;
		req.offset = r.offset;
		r.start_ms = octo_clock_monotonic_ms();
		r.start_offset = r.offset;
		octoserve__peer__v1__fetch_request__pack(&req, packed);
		status = octo_rpc_call_stream(
			ch, "/octoserve.peer.v1.Peer/Fetch", packed,
			octoserve__peer__v1__fetch_request__get_packed_size(&req),
			(long)f->cfg->p2p.health_check.timeout_ms, on_chunk, &r, &stopped);
		octo_peer_cluster_count(f->cluster, order[i], OCTO_PEER_FETCHED_BYTES,
					r.offset - r.start_offset);
		if (status == OCTO_RPC_OK && !stopped && r.sized && r.offset == r.size)
			break;                    /* all there */
		if (status != OCTO_RPC_NOT_FOUND) /* a peer without the blob is no failure */
			octo_peer_cluster_count(f->cluster, order[i], OCTO_PEER_FAILED_FETCHES, 1);
		if (r.bad && restart(&r, d->alg) != 0)
			break;
		/* else a broken stream or a peer without the blob: the next resumes */
	}
	if (r.failed && octo_clock_due(&f->unwritable_logged_ms, octo_clock_monotonic_ms(),
				       UNWRITABLE_LOG_MS)) {
		/* the bytes so far are kept for the resume once there is room; nothing is
		 * committed; said at most every UNWRITABLE_LOG_MS however often it is retried */
		struct octo_log_field fl[] = {OCTO_LOG_STR("digest", text),
					      OCTO_LOG_NUM("offset", (long long)r.offset),
					      OCTO_LOG_STR("reason", r.why)};
		octo_log(f->log, OCTO_LOG_ERROR, "a fetch cannot be written here", fl, 3);
	}
	if (!is_stopping(f) && !r.failed && r.sized && r.offset == r.size) {
		struct octo_digest got;
		octo_hasher_final(r.h, &got);
		octo_hasher_free(r.h);
		r.h = NULL;
		if (!octo_digest_equal(&got, d)) {
			struct octo_log_field fl[] = {OCTO_LOG_STR("digest", text)};
			octo_log(f->log, OCTO_LOG_WARN, "a fetched blob is not its digest", fl, 1);
			octo_store_remove(f->store, rel, OCTO_OK);
		} else {
			/* fetched for a client by a node that does not hold it: a cache copy,
			 * noted first so that anti-entropy never takes it for a surplus one */
			if (!octo_peer_view_holds(view, f->cfg->p2p.node_id, d,
						  f->cfg->p2p.replication.factor))
				octo_store_note_cached(f->store, d);
			ok = octo_store_commit_blob(f->store, r.fd, rel, d) == OCTO_OK;
		}
	}
out:
	if (r.fd >= 0)
		close(r.fd);
	octo_hasher_free(r.h);
	free(view);
	return ok;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	struct octo_peer_fetcher *f = w->f;
	int got = 0;

	while (octo_peer_ticker_wait(&f->tickers[w->slot], got ? 0 : f->period_ms)) {
		struct octo_digest d;
		int ok = 1;
		got = take(f, w->slot);
		if (!got)
			continue;
		if (octo_store_wanted_digest(f->busy[w->slot], &d) != OCTO_OK) {
			done(f, w->slot, 1); /* not a marker we make: nothing to fetch */
			continue;
		}
		if (octo_store_blob_stat(f->store, &d, NULL) != OCTO_OK) {
			uint64_t size;
			/* nodes that share a bucket share its content: a placeholder, no second copy */
			if (octo_store_blob_adopt(f->store, &d, &size) == OCTO_OK) {
				char text[OCTO_DIGEST_MAX_STRING];
				struct octo_log_field fl[] = {OCTO_LOG_STR("digest", text)};
				octo_digest_format(&d, text, sizeof(text));
				octo_log(f->log, OCTO_LOG_DEBUG, "a blob is in the shared bucket",
					 fl, 1);
			} else {
				ok = fetch(f, &d);
			}
			if (!ok && !is_stopping(f)) {
				char text[OCTO_DIGEST_MAX_STRING];
				struct octo_log_field fl[] = {OCTO_LOG_STR("digest", text)};
				octo_digest_format(&d, text, sizeof(text));
				octo_log(f->log, OCTO_LOG_INFO,
					 "no peer could give a blob: will retry", fl, 1);
				octo_store_note_unavailable(f->store, &d);
			}
		}
		if (ok)
			octo_store_unwant_blob(f->store, &d);
		done(f, w->slot, ok);
	}
	return NULL;
}

struct octo_peer_fetcher *octo_peer_fetcher_start(const struct octo_config *cfg,
						  struct octo_store *store,
						  struct octo_peer_cluster *cluster,
						  struct octo_peer_watch *watch,
						  struct octo_logger *log)
{
	struct octo_peer_fetcher *f = calloc(1, sizeof(*f));
	size_t i;

	if (f == NULL)
		return NULL;
	f->cfg = cfg;
	f->store = store;
	f->cluster = cluster;
	f->log = log;
	pthread_mutex_init(&f->lock, NULL);
	for (i = 0; i < FETCH_WORKERS; i++)
		octo_peer_ticker_init(&f->tickers[i]);
	f->period_ms =
		octo_peer_watch_add(watch, store, OCTO_WANTED_DIR, f->tickers, FETCH_WORKERS) == 0
			? FETCH_WATCHED_MS
			: FETCH_POLL_MS;
	for (i = 0; i < FETCH_WORKERS; i++) {
		f->workers[i] = (struct worker){f, i};
		if (pthread_create(&f->threads[i], NULL, run, &f->workers[i]) != 0)
			break;
		f->n_threads++;
	}
	if (f->n_threads == 0) {
		octo_peer_fetcher_stop(f);
		return NULL;
	}
	return f;
}

void octo_peer_fetcher_stop(struct octo_peer_fetcher *f)
{
	size_t i;

	if (f == NULL)
		return;
	__atomic_store_n(&f->stopping, 1, __ATOMIC_RELAXED);
	for (i = 0; i < FETCH_WORKERS; i++)
		octo_peer_ticker_stop(&f->tickers[i]);
	for (i = 0; i < f->n_threads; i++)
		pthread_join(f->threads[i], NULL);
	for (i = 0; i < FETCH_WORKERS; i++)
		octo_peer_ticker_destroy(&f->tickers[i]);
	octo_strv_cleanup(&f->queue);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
