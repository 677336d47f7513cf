/* SPDX-License-Identifier: Apache-2.0 */
/* See notifier.h. */
#include "autoconfig.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "journal.h"
#include "notifier.h"
#include "notify.h"

/* How often an endpoint that is caught up looks at the journal's end (a read of its last line)
 * when no inotify event wakes it first. */
#define POLL_MS 100
/* How often the status file is written while nothing changes. */
#define STATUS_EVERY_MS 1000

struct endpoint {
	struct notifier *owner;
	const struct octo_notify_endpoint *e;
	struct octo_journal *journal; /* this thread's own */
	char cursor[64];
	struct octo_notify_status status;
	pthread_t tid;
	int started;
};

struct notifier {
	const struct octo_config *cfg;
	struct octo_store *store;
	struct octo_logger *log;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stopping;
	unsigned long appended; /* journal writes inotify saw: a nap ends when it moves */
	int inotify;            /* on journal/ (-1: none, polled) */
	pthread_t watcher;
	int watching;
	struct endpoint *eps;
	size_t n;
	pthread_mutex_t status_lock; /* the status file holds every endpoint's */
};

/* Sleep ms, or less when stopping or (journal set) when the journal is written; whether to go
 * on. */
static int nap(struct notifier *n, int64_t ms, int journal)
{
	struct timespec until;
	unsigned long seen;
	int go;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&n->lock);
	seen = n->appended;
	while (!n->stopping && (!journal || n->appended == seen) &&
	       pthread_cond_timedwait(&n->wake, &n->lock, &until) == 0)
		;
	go = !n->stopping;
	pthread_mutex_unlock(&n->lock);
	return go;
}

static void save_status(struct notifier *n)
{
	struct octo_notify_status *all = calloc(n->n, sizeof(*all));
	size_t i;

	if (all == NULL)
		return;
	pthread_mutex_lock(&n->status_lock);
	for (i = 0; i < n->n; i++)
		all[i] = n->eps[i].status;
	octo_notify_status_save(n->store, all, n->n);
	pthread_mutex_unlock(&n->status_lock);
	free(all);
}

static size_t discard(char *data, size_t size, size_t nmemb, void *ctx)
{
	(void)data;
	(void)ctx;
	return size * nmemb; /* the endpoint's answer is its status alone */
}

/* POST body to the endpoint: 0 on a 2xx, else -1 with why. */
static int post(CURL *curl, const struct octo_notify_endpoint *e, const char *body, size_t len,
		char *why, size_t size)
{
	struct curl_slist *headers = NULL;
	long status = 0;
	CURLcode rc;
	size_t i;

	headers = curl_slist_append(headers, "Content-Type: " OCTO_NOTIFY_MEDIA_TYPE);
	for (i = 0; i < e->n_headers; i++)
		headers = curl_slist_append(headers, e->headers[i]);
	headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, e->url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)e->timeout_ms);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
	rc = curl_easy_perform(curl);
	curl_slist_free_all(headers);
	if (rc != CURLE_OK) {
		snprintf(why, size, "%s", curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		snprintf(why, size, "answered %ld", status);
		return -1;
	}
	return 0;
}

static void log_endpoint(struct endpoint *p, enum octo_log_level level, const char *msg,
			 const char *why)
{
	struct octo_log_field f[] = {OCTO_LOG_STR("endpoint", p->e->name),
				     OCTO_LOG_STR("url", p->e->url),
				     OCTO_LOG_STR("reason", why != NULL ? why : "")};
	octo_log(p->owner->log, level, msg, f, why != NULL ? 3 : 2);
}

static void *endpoint_loop(void *arg)
{
	struct endpoint *p = arg;
	struct notifier *n = p->owner;
	const struct octo_notify_endpoint *e = p->e;
	const char *incarnation = octo_store_incarnation(n->store);
	int64_t backoff = e->backoff_ms;
	uint64_t cur = 0, saved_ms = 0;
	int failing = 0;
	CURL *curl = curl_easy_init();

	if (curl == NULL)
		return NULL;
	/* a new endpoint starts at the journal's end: it is told what happens from now on */
	if (octo_journal_cursor_get(p->journal, p->cursor, &cur) != OCTO_OK &&
	    (octo_journal_last(p->journal, &cur) != OCTO_OK ||
	     octo_journal_cursor_set(p->journal, p->cursor, cur) != OCTO_OK))
		log_endpoint(p, OCTO_LOG_ERROR, "notifications: cannot keep a cursor", NULL);
	while (!n->stopping) {
		struct octo_notify_batch b;
		uint64_t last = 0, now = octo_clock_wall_ms();
		char why[256] = "";

		octo_journal_last(p->journal, &last);
		pthread_mutex_lock(&n->status_lock);
		p->status.cursor = cur;
		p->status.lag_events = last > cur ? last - cur : 0;
		if (last <= cur)
			p->status.lag_ms = 0;
		pthread_mutex_unlock(&n->status_lock);
		if (now - saved_ms >= STATUS_EVERY_MS) {
			save_status(n);
			saved_ms = now;
		}
		if (last <= cur) {
			nap(n, POLL_MS, 1);
			continue;
		}
		if (octo_notify_batch(p->journal, incarnation, e, cur, &b) != OCTO_OK) {
			log_endpoint(p, OCTO_LOG_ERROR, "notifications: cannot read the journal",
				     NULL);
			nap(n, backoff, 0);
			continue;
		}
		if (b.n > 0) {
			pthread_mutex_lock(&n->status_lock);
			p->status.lag_ms = now > b.oldest_ms ? now - b.oldest_ms : 0;
			pthread_mutex_unlock(&n->status_lock);
		}
		if (b.n > 0 && post(curl, e, b.body, b.len, why, sizeof(why)) != 0) {
			pthread_mutex_lock(&n->status_lock);
			p->status.failures++;
			snprintf(p->status.last_error, sizeof(p->status.last_error), "%s", why);
			pthread_mutex_unlock(&n->status_lock);
			if (!failing) /* once per outage, not at every retry */
				log_endpoint(p, OCTO_LOG_WARN, "notifications: endpoint failed",
					     why);
			failing = 1;
			octo_notify_batch_cleanup(&b);
			save_status(n);
			nap(n, backoff, 0);
			backoff = backoff * 2 < e->max_backoff_ms ? backoff * 2 : e->max_backoff_ms;
			continue;
		}
		/* delivered (or nothing in it to send): the cursor moves past it */
		if (octo_journal_cursor_set(p->journal, p->cursor, b.last_seq) != OCTO_OK) {
			log_endpoint(p, OCTO_LOG_ERROR, "notifications: cannot move the cursor",
				     NULL);
			octo_notify_batch_cleanup(&b);
			nap(n, backoff, 0);
			continue;
		}
		cur = b.last_seq;
		if (b.n > 0) {
			pthread_mutex_lock(&n->status_lock);
			p->status.delivered += b.n;
			p->status.last_success_ms = octo_clock_wall_ms();
			pthread_mutex_unlock(&n->status_lock);
			if (failing)
				log_endpoint(p, OCTO_LOG_INFO, "notifications: endpoint back",
					     NULL);
			failing = 0;
			backoff = e->backoff_ms;
		}
		octo_notify_batch_cleanup(&b);
	}
	save_status(n);
	curl_easy_cleanup(curl);
	return NULL;
}

/* Wakes the endpoints when the journal is written (inotify), so they send at once; looks at
 * stopping between waits of POLL_MS. */
static void *watch_journal(void *arg)
{
	struct notifier *n = arg;
	char buf[4096];

	for (;;) {
		struct pollfd p = {.fd = n->inotify, .events = POLLIN};
		int ready = poll(&p, 1, POLL_MS);
		int stop;
		if (ready > 0 && read(n->inotify, buf, sizeof(buf)) < 0 && errno != EINTR &&
		    errno != EAGAIN)
			return NULL;
		pthread_mutex_lock(&n->lock);
		stop = n->stopping;
		if (ready > 0) {
			n->appended++;
			pthread_cond_broadcast(&n->wake);
		}
		pthread_mutex_unlock(&n->lock);
		if (stop)
			return NULL;
	}
}

static void watch_start(struct notifier *n)
{
	char dir[4096];

	n->inotify = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	snprintf(dir, sizeof(dir), "%s/journal", octo_store_root(n->store));
	if (n->inotify >= 0 &&
	    inotify_add_watch(n->inotify, dir, IN_MODIFY | IN_MOVED_TO | IN_CREATE) >= 0 &&
	    pthread_create(&n->watcher, NULL, watch_journal, n) == 0) {
		n->watching = 1;
		return;
	}
	if (n->inotify >= 0)
		close(n->inotify);
	n->inotify = -1; /* polled, every POLL_MS */
}

static int configured(const struct octo_config *cfg, const char *cursor)
{
	char mine[64];
	size_t i;

	for (i = 0; i < cfg->notifications.n_endpoints; i++)
		if (octo_notify_cursor_name(cfg->notifications.endpoints[i].name, mine,
					    sizeof(mine)) == OCTO_OK &&
		    strcmp(mine, cursor) == 0)
			return 1;
	return 0;
}

static int is_notify_cursor(const char *name, size_t len)
{
	return len > 7 && strncmp(name, "notify-", 7) == 0;
}

/* Cursors of endpoints taken out of the configuration would hold journal segments for ever. */
static void drop_stale_cursors(struct notifier *n, struct octo_journal *j)
{
	struct octo_strv names;
	size_t i;

	if (octo_journal_cursor_list(j, is_notify_cursor, &names) != OCTO_OK)
		return;
	for (i = 0; i < names.n; i++)
		if (!configured(n->cfg, names.v[i]) &&
		    octo_journal_cursor_drop(j, names.v[i]) == OCTO_OK) {
			struct octo_log_field f[] = {OCTO_LOG_STR("cursor", names.v[i])};
			octo_log(n->log, OCTO_LOG_INFO,
				 "notifications: an endpoint no longer configured: cursor dropped",
				 f, 1);
		}
	octo_strv_cleanup(&names);
}

struct notifier *notifier_start(const struct octo_config *cfg, struct octo_store *s,
				struct octo_logger *log)
{
	struct notifier *n = calloc(1, sizeof(*n));
	struct octo_journal *j = NULL;
	size_t i;

	if (n == NULL)
		return NULL;
	n->cfg = cfg;
	n->store = s;
	n->log = log;
	n->inotify = -1;
	pthread_mutex_init(&n->lock, NULL);
	pthread_mutex_init(&n->status_lock, NULL);
	pthread_cond_init(&n->wake, NULL);
	if (octo_journal_open(s, cfg->p2p.node_id, (uint64_t)cfg->storage.journal_segment_size,
			      &j) == OCTO_OK) {
		drop_stale_cursors(n, j);
		octo_journal_close(j);
	}
	watch_start(n);
	n->eps = calloc(cfg->notifications.n_endpoints + 1, sizeof(*n->eps));
	if (n->eps == NULL) {
		notifier_stop(n);
		return NULL;
	}
	n->n = cfg->notifications.n_endpoints;
	for (i = 0; i < n->n; i++) {
		struct endpoint *p = &n->eps[i];
		p->owner = n;
		p->e = &cfg->notifications.endpoints[i];
		octo_notify_status_load(s, p->e->name, &p->status); /* counts go on */
		if (octo_notify_cursor_name(p->e->name, p->cursor, sizeof(p->cursor)) != OCTO_OK ||
		    octo_journal_open(s, cfg->p2p.node_id,
				      (uint64_t)cfg->storage.journal_segment_size,
				      &p->journal) != OCTO_OK)
			continue;
		p->started = pthread_create(&p->tid, NULL, endpoint_loop, p) == 0;
	}
	return n;
}

void notifier_stop(struct notifier *n)
{
	size_t i;

	if (n == NULL)
		return;
	pthread_mutex_lock(&n->lock);
	n->stopping = 1;
	pthread_cond_broadcast(&n->wake);
	pthread_mutex_unlock(&n->lock);
	for (i = 0; i < n->n; i++) {
		if (n->eps[i].started)
			pthread_join(n->eps[i].tid, NULL);
		octo_journal_close(n->eps[i].journal);
	}
	if (n->watching) /* it sees stopping within POLL_MS */
		pthread_join(n->watcher, NULL);
	if (n->inotify >= 0)
		close(n->inotify);
	free(n->eps);
	pthread_cond_destroy(&n->wake);
	pthread_mutex_destroy(&n->lock);
	pthread_mutex_destroy(&n->status_lock);
	free(n);
}
