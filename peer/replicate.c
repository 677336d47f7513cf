/* SPDX-License-Identifier: Apache-2.0 */
/* See replicate.h. One thread: at each change of the journal (or every period), for each
 * member that is up, a batch of
 * the events after its cursor (at most BATCH_EVENTS, or BATCH_BYTES of manifests). */
#include "autoconfig.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "event.h"
#include "peer.pb-c.h"
#include "replicate.h"
#include "rpc.h"
#include "ticker.h"
#include "store-blob.h"

#define REPLICATE_MS 100          /* without inotify */
#define REPLICATE_WATCHED_MS 1000 /* with it: members back, calls to retry */
#define BATCH_EVENTS 64
#define BATCH_BYTES (8 * 1024 * 1024)

struct octo_peer_replicator {
	const struct octo_config *cfg;
	struct octo_store *store;
	struct octo_journal *journal;
	struct octo_peer_cluster *cluster;
	struct octo_logger *log;
	pthread_t thread;
	struct octo_peer_ticker ticker;
	long period_ms;
};

struct member {
	char id[OCTO_NODE_ID_MAX + 1];
	char address[OCTO_MEMBER_ADDRESS_MAX + 1];
};

struct members {
	struct member v[256];
	size_t n;
};

static void note_member(void *ctx, const char *id, const char *address)
{
	struct members *m = ctx;

	if (m->n < sizeof(m->v) / sizeof(m->v[0])) {
		snprintf(m->v[m->n].id, sizeof(m->v[m->n].id), "%s", id);
		snprintf(m->v[m->n].address, sizeof(m->v[m->n].address), "%s", address);
		m->n++;
	}
}

/* A batch for one member. */
struct batch {
	struct octo_peer_replicator *r;
	const char *peer;
	Octoserve__Peer__V1__Change changes[BATCH_EVENTS];
	Octoserve__Peer__V1__Change *refs[BATCH_EVENTS];
	size_t n, bytes;
	uint64_t last; /* the last seq looked at */
	int failed;
};

static int add_event(void *ctx, uint64_t seq, const char *line, size_t len)
{
	struct batch *b = ctx;
	Octoserve__Peer__V1__Change init = OCTOSERVE__PEER__V1__CHANGE__INIT, *c;
	struct octo_event ev;
	const char *why;
	size_t i;

	if (b->n == BATCH_EVENTS || b->bytes >= BATCH_BYTES)
		return 1;
	if (octo_event_parse(line, len, &ev, &why) != 0) {
		/* not ours to send (a line from before clocks, say): step over it */
		b->last = seq;
		return 0;
	}
	if (strcmp(ev.stamp.node, b->peer) == 0) { /* its own write: never back */
		octo_event_cleanup(&ev);
		b->last = seq;
		return 0;
	}
	c = &b->changes[b->n];
	*c = init;
	c->event = strndup(line, len);
	for (i = 0; i < ev.n_records; i++) {
		char *bytes = NULL;
		size_t n = 0;
		if (ev.records[i].parsed.kind != OCTO_RECORD_REVISION ||
		    ev.records[i].value == NULL)
			continue;
		if (octo_store_read_blob(b->r->store, &ev.records[i].parsed.digest,
					 (size_t)b->r->cfg->storage.max_manifest_size, &bytes,
					 &n) == OCTO_OK) {
			c->manifest.data = (uint8_t *)bytes;
			c->manifest.len = n;
			b->bytes += n;
		}
	}
	octo_event_cleanup(&ev);
	if (c->event == NULL) {
		b->failed = 1;
		return 1;
	}
	b->refs[b->n++] = c;
	b->last = seq;
	return 0;
}

static void batch_free(struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		free(b->changes[i].event);
		free(b->changes[i].manifest.data);
	}
	b->n = 0;
}

/* Send one member what it has not had; 1 if a full batch went (more may wait). */
static int send_to(struct octo_peer_replicator *r, const struct member *m)
{
	Octoserve__Peer__V1__ApplyRequest req = OCTOSERVE__PEER__V1__APPLY_REQUEST__INIT;
	struct batch b = {.r = r, .peer = m->id};
	struct octo_rpc_channel *ch;
	char cursor[64];
	uint64_t from = 0, last;
	uint8_t *packed, *out = NULL;
	size_t len, out_len, sent;
	enum octo_rpc_status status;
	enum octo_err err;
	int full;

	octo_peer_cursor_name(m->id, cursor, sizeof(cursor));
	err = octo_journal_cursor_get(r->journal, cursor, &from);
	/* a member new to this journal gets it all, unless a stale store rejoined (sync.h):
	 * then from the floor set then */
	if (err == OCTO_ERR_NAME_UNKNOWN &&
	    octo_journal_cursor_get(r->journal, OCTO_PEER_FLOOR_CURSOR, &from) != OCTO_OK)
		from = 0;
	if (err != OCTO_OK && err != OCTO_ERR_NAME_UNKNOWN)
		return 0;
	/* the usual case, at every period: nothing new, known from the journal's end
	 * without a scan of its current file */
	if (err == OCTO_OK && octo_journal_last(r->journal, &last) == OCTO_OK && last <= from)
		return 0;
	b.last = from;
	if (octo_journal_scan(r->journal, from, add_event, &b) != OCTO_OK || b.failed) {
		/* events this member never had were trimmed before it was known: the
		 * anti-entropy brings those */
		struct octo_log_field f[] = {OCTO_LOG_STR("member", m->id)};
		octo_log(r->log, OCTO_LOG_WARN, "the journal cannot be read for a member", f, 1);
		batch_free(&b);
		return 0;
	}
	full = b.n == BATCH_EVENTS || b.bytes >= BATCH_BYTES;
	if (b.n == 0) { /* nothing to send but what it wrote itself */
		if (b.last > from || err == OCTO_ERR_NAME_UNKNOWN)
			octo_journal_cursor_set(r->journal, cursor, b.last);
		return 0;
	}
	req.node_id = r->cfg->p2p.node_id;
	req.changes = b.refs;
	req.n_changes = b.n;
	len = octoserve__peer__v1__apply_request__get_packed_size(&req);
	packed = malloc(len + 1);
	ch = octo_peer_cluster_channel(r->cluster, m->address);
	status = OCTO_RPC_UNAVAILABLE;
	if (packed != NULL && ch != NULL) {
		octoserve__peer__v1__apply_request__pack(&req, packed);
		status = octo_rpc_call(ch, "/octoserve.peer.v1.Peer/Apply", packed, len,
				       (long)r->cfg->p2p.health_check.timeout_ms, &out, &out_len,
				       NULL, 0, NULL);
	}
	free(packed);
	free(out);
	sent = b.n;
	batch_free(&b);
	if (status != OCTO_RPC_OK) {
		struct octo_log_field f[] = {OCTO_LOG_STR("member", m->id),
					     OCTO_LOG_NUM("status", status)};
		octo_log(r->log, OCTO_LOG_DEBUG, "apply failed: will retry", f, 2);
		octo_peer_cluster_count(r->cluster, m->address, OCTO_PEER_FAILED_SENDS, 1);
		return 0;
	}
	/* taken: the cursor moves (a crash before this sends the batch again, which the
	 * rule makes harmless) */
	octo_journal_cursor_set(r->journal, cursor, b.last);
	octo_peer_cluster_count(r->cluster, m->address, OCTO_PEER_SENT_CHANGES, sent);
	octo_peer_cluster_count(r->cluster, m->address, OCTO_PEER_SENT_BYTES, len);
	return full;
}

static void *run(void *arg)
{
	struct octo_peer_replicator *r = arg;
	int more = 0;

	/* at once again while a member had a full batch: more may be waiting */
	while (octo_peer_ticker_wait(&r->ticker, more ? 0 : r->period_ms)) {
		struct members m = {.n = 0};
		size_t i;
		more = 0;
		octo_peer_cluster_each_up(r->cluster, note_member, &m);
		for (i = 0; i < m.n; i++)
			more |= send_to(r, &m.v[i]);
	}
	return NULL;
}

struct octo_peer_replicator *octo_peer_replicator_start(
	const struct octo_config *cfg, struct octo_store *store, struct octo_journal *journal,
	struct octo_peer_cluster *cluster, struct octo_peer_watch *watch, struct octo_logger *log)
{
	struct octo_peer_replicator *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->cfg = cfg;
	r->store = store;
	r->journal = journal;
	r->cluster = cluster;
	r->log = log;
	octo_peer_ticker_init(&r->ticker);
	octo_peer_cluster_watch_ups(cluster, &r->ticker); /* a member back gets its outbox now */
	r->period_ms = octo_peer_watch_add(watch, store, "journal", &r->ticker, 1) == 0
			       ? REPLICATE_WATCHED_MS
			       : REPLICATE_MS;
	if (octo_peer_ticker_start(&r->ticker, &r->thread, run, r) != 0) {
		free(r);
		return NULL;
	}
	return r;
}

void octo_peer_replicator_stop(struct octo_peer_replicator *r)
{
	if (r == NULL)
		return;
	octo_peer_cluster_unwatch_ups(r->cluster, &r->ticker);
	octo_peer_ticker_join(&r->ticker, r->thread);
	free(r);
}
