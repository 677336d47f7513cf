/* SPDX-License-Identifier: Apache-2.0 */
/* See sync.h. The summary is built by a walk of the store's records (lib/summary.h) and
 * kept until the journal moves or a sync interval passes, so that a round in which nothing
 * differs costs each peer one small call, and the walk at most one per interval. */
#include "autoconfig.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "clock.h"
#include "event.h"
#include "member.h"
#include "name.h"
#include "peer.pb-c.h"
#include "service.h"
#include "store-blob.h"
#include "store-record.h"
#include "store-repo.h"
#include "store-wanted.h"
#include "summary.h"
#include "sync.h"
#include "ticker.h"

/* How often the thread looks whether a round is due. */
#define LOOK_MS 250
/* The most digests one HOLDS question names. */
#define HOLDS_MAX 1024

#define SUMMARY_PATH "/octoserve.peer.v1.Peer/Summary"

struct octo_peer_syncer {
	const struct octo_config *cfg;
	struct octo_store *store;
	struct octo_journal *journal;
	struct octo_peer_cluster *cluster;
	struct octo_logger *log;
	pthread_t thread;
	struct octo_peer_ticker ticker;
	pthread_mutex_t lock; /* the summary and when it was built */
	struct octo_summary sum;
	int built;
	uint64_t rounds, repaired; /* since the start, for the status's counters */
	uint64_t built_ms, built_seq;
};

/* What a round did. */
struct round {
	size_t members, contacted, differing, repaired, refused, wanted, dropped;
	size_t under; /* blobs this node holds by placement and lacks */
};

static uint64_t horizon_ms(const struct octo_config *cfg)
{
	/* tombstones stop counting a sync interval before the first expiry can remove them */
	return (uint64_t)(cfg->storage.tombstone_ttl_ms - cfg->p2p.replication.sync_interval_ms);
}

/* The summary, built again when the journal moved since (or force, or an interval passed:
 * tombstones age out of it). Called with y->lock held. */
static enum octo_err refresh(struct octo_peer_syncer *y, int force)
{
	uint64_t now = octo_clock_wall_ms(), seq = 0;
	struct octo_summary fresh;
	enum octo_err err;

	octo_journal_last(y->journal, &seq);
	if (y->built && !force && seq == y->built_seq &&
	    now - y->built_ms < (uint64_t)y->cfg->p2p.replication.sync_interval_ms)
		return OCTO_OK;
	err = octo_summary_build(y->store, now, horizon_ms(y->cfg), &fresh);
	if (err != OCTO_OK)
		return err;
	octo_summary_cleanup(&y->sum);
	y->sum = fresh;
	y->built = 1;
	y->built_ms = now;
	y->built_seq = seq;
	return OCTO_OK;
}

/* -- the Summary method ----------------------------------------------------------------- */

/* A REPOSITORY answer being gathered. */
struct listing {
	Octoserve__Peer__V1__SummaryReply *out;
	Octoserve__Peer__V1__Record *records;
	size_t cap, bytes, budget;
	const char *after;
	uint64_t now_ms, horizon_ms;
};

static enum octo_err list_record(void *ctx, const char *key, const struct octo_record *r)
{
	struct listing *l = ctx;
	Octoserve__Peer__V1__Record init = OCTOSERVE__PEER__V1__RECORD__INIT, *rec;

	if (strcmp(key, l->after) <= 0 || !octo_summary_counts(r, l->now_ms, l->horizon_ms))
		return OCTO_OK;
	if (l->bytes >= l->budget) {
		l->out->more = 1;
		return OCTO_ERR_TOO_LARGE; /* the rest in the next call */
	}
	if (l->out->n_records == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		void *nv = realloc(l->records, cap * sizeof(*l->records));
		if (nv == NULL)
			return OCTO_ERR_NOMEM;
		l->records = nv;
		l->cap = cap;
	}
	rec = &l->records[l->out->n_records];
	*rec = init;
	rec->key = strdup(key);
	rec->node = strdup(r->stamp.node != NULL ? r->stamp.node : "");
	rec->value.data = malloc(r->value_len + 1);
	if (rec->key == NULL || rec->node == NULL || rec->value.data == NULL) {
		free(rec->key);
		free(rec->node);
		free(rec->value.data);
		return OCTO_ERR_NOMEM;
	}
	memcpy(rec->value.data, r->value, r->value_len);
	rec->value.len = r->value_len;
	rec->hlc = r->stamp.hlc;
	rec->time_ms = r->stamp.time_ms;
	rec->tombstone = r->tombstone;
	l->out->n_records++;
	l->bytes += strlen(key) + strlen(rec->node) + r->value_len + 40;
	return OCTO_OK;
}

static enum octo_rpc_status answer_repository(struct octo_peer_syncer *y,
					      const Octoserve__Peer__V1__SummaryRequest *in,
					      struct octo_rpc_piece *reply, const char **detail)
{
	Octoserve__Peer__V1__SummaryReply out = OCTOSERVE__PEER__V1__SUMMARY_REPLY__INIT;
	struct listing l = {.out = &out,
			    .after = in->after,
			    .now_ms = octo_clock_wall_ms(),
			    .horizon_ms = horizon_ms(y->cfg),
			    .budget = (size_t)y->cfg->p2p.transport.max_message_size / 2};
	Octoserve__Peer__V1__Record **refs = NULL;
	enum octo_rpc_status status = OCTO_RPC_OK;
	char rel[OCTO_STORE_PATH_MAX];
	enum octo_err err = OCTO_OK;
	size_t i;
	int dir;

	if (!octo_name_valid(in->repository, strlen(in->repository))) {
		*detail = "not a repository name";
		return OCTO_RPC_INVALID_ARGUMENT;
	}
	if (octo_store_path(rel, sizeof(rel), "repositories/%s", in->repository) == OCTO_OK &&
	    (dir = octo_store_opendir(y->store, rel, 0)) >= 0) {
		err = octo_store_record_each(y->store, in->repository, dir, octo_summary_is_key,
					     list_record, &l);
		close(dir);
	}
	if (err != OCTO_OK && err != OCTO_ERR_TOO_LARGE) {
		*detail = octo_err_code(err);
		status = OCTO_RPC_UNAVAILABLE;
	} else if (out.n_records > 0 && (refs = malloc(out.n_records * sizeof(*refs))) == NULL) {
		status = OCTO_RPC_RESOURCE_EXHAUSTED;
	} else {
		for (i = 0; i < out.n_records; i++)
			refs[i] = &l.records[i];
		out.records = refs;
		status = octo_peer_pack_reply(&out.base, reply);
	}
	for (i = 0; i < out.n_records; i++) {
		free(l.records[i].key);
		free(l.records[i].node);
		free(l.records[i].value.data);
	}
	free(l.records);
	free(refs);
	return status;
}

static enum octo_rpc_status answer_holds(struct octo_peer_syncer *y,
					 const Octoserve__Peer__V1__SummaryRequest *in,
					 struct octo_rpc_piece *reply, const char **detail)
{
	Octoserve__Peer__V1__SummaryReply out = OCTOSERVE__PEER__V1__SUMMARY_REPLY__INIT;
	protobuf_c_boolean *held;
	enum octo_rpc_status status;
	size_t i;

	if (in->n_digests > HOLDS_MAX) {
		*detail = "more than 1024 digests";
		return OCTO_RPC_INVALID_ARGUMENT;
	}
	held = calloc(in->n_digests + 1, sizeof(*held));
	if (held == NULL)
		return OCTO_RPC_RESOURCE_EXHAUSTED;
	for (i = 0; i < in->n_digests; i++) {
		struct octo_digest d;
		/* a blob in the store is one that was verified before its commit */
		held[i] =
			octo_digest_parse(in->digests[i], strlen(in->digests[i]), &d) == OCTO_OK &&
			octo_store_blob_stat(y->store, &d, NULL) == OCTO_OK;
	}
	out.held = held;
	out.n_held = in->n_digests;
	status = octo_peer_pack_reply(&out.base, reply);
	free(held);
	return status;
}

/* ROOT, BUCKETS and BUCKET, from the summary (under the lock). */
static enum octo_rpc_status answer_hashes(struct octo_peer_syncer *y,
					  const Octoserve__Peer__V1__SummaryRequest *in,
					  struct octo_rpc_piece *reply, const char **detail)
{
	Octoserve__Peer__V1__SummaryReply out = OCTOSERVE__PEER__V1__SUMMARY_REPLY__INIT;
	ProtobufCBinaryData buckets[OCTO_SUMMARY_BUCKETS];
	Octoserve__Peer__V1__RepositoryHash *repos = NULL, **refs = NULL;
	enum octo_rpc_status status = OCTO_RPC_OK;
	size_t i, n = 0;

	if (in->level == OCTOSERVE__PEER__V1__SUMMARY_REQUEST__LEVEL__BUCKET &&
	    in->bucket >= OCTO_SUMMARY_BUCKETS) {
		*detail = "no such bucket";
		return OCTO_RPC_INVALID_ARGUMENT;
	}
	pthread_mutex_lock(&y->lock);
	if (refresh(y, 0) != OCTO_OK) {
		pthread_mutex_unlock(&y->lock);
		*detail = "the store could not be summarised";
		return OCTO_RPC_UNAVAILABLE;
	}
	switch (in->level) {
	case OCTOSERVE__PEER__V1__SUMMARY_REQUEST__LEVEL__ROOT:
		out.root = (ProtobufCBinaryData){OCTO_SUMMARY_HASH, y->sum.root};
		break;
	case OCTOSERVE__PEER__V1__SUMMARY_REQUEST__LEVEL__BUCKETS:
		for (i = 0; i < OCTO_SUMMARY_BUCKETS; i++)
			buckets[i] = (ProtobufCBinaryData){OCTO_SUMMARY_HASH, y->sum.buckets[i]};
		out.buckets = buckets;
		out.n_buckets = OCTO_SUMMARY_BUCKETS;
		break;
	default: /* BUCKET */
		for (i = 0; i < y->sum.n_repos; i++)
			n += y->sum.repos[i].bucket == in->bucket;
		repos = calloc(n + 1, sizeof(*repos));
		refs = calloc(n + 1, sizeof(*refs));
		if (repos == NULL || refs == NULL) {
			status = OCTO_RPC_RESOURCE_EXHAUSTED;
			break;
		}
		for (i = 0, n = 0; i < y->sum.n_repos; i++) {
			const struct octo_summary_repo *r = &y->sum.repos[i];
			Octoserve__Peer__V1__RepositoryHash init =
				OCTOSERVE__PEER__V1__REPOSITORY_HASH__INIT;
			if (r->bucket != in->bucket)
				continue;
			repos[n] = init;
			repos[n].name = r->name;
			repos[n].hash =
				(ProtobufCBinaryData){OCTO_SUMMARY_HASH, (uint8_t *)r->hash};
			refs[n] = &repos[n];
			n++;
		}
		out.repositories = refs;
		out.n_repositories = n;
	}
	if (status == OCTO_RPC_OK)
		status = octo_peer_pack_reply(&out.base, reply);
	pthread_mutex_unlock(&y->lock);
	free(repos);
	free(refs);
	return status;
}

enum octo_rpc_status octo_peer_summary(void *ctx, const struct octo_rpc_peer *peer,
				       const uint8_t *req, size_t len, struct octo_rpc_piece *reply,
				       const char **detail)
{
	static __thread char why[OCTO_NODE_ID_MAX * 2 + 100]; /* the detail outlives the call */
	struct octo_peer_service *svc = ctx;
	struct octo_peer_syncer *y = svc->syncer;
	Octoserve__Peer__V1__SummaryRequest *in =
		octoserve__peer__v1__summary_request__unpack(NULL, len, req);
	enum octo_rpc_status status;

	if (in == NULL) {
		*detail = "not a SummaryRequest";
		return OCTO_RPC_INVALID_ARGUMENT;
	}
	if ((*detail = octo_peer_claim_refused(svc, peer, in->node_id, why, sizeof(why))) != NULL) {
		status = OCTO_RPC_PERMISSION_DENIED;
	} else if (y == NULL) {
		*detail = "anti-entropy has not started";
		status = OCTO_RPC_UNAVAILABLE;
	} else if (in->level == OCTOSERVE__PEER__V1__SUMMARY_REQUEST__LEVEL__REPOSITORY) {
		status = answer_repository(y, in, reply, detail);
	} else if (in->level == OCTOSERVE__PEER__V1__SUMMARY_REQUEST__LEVEL__HOLDS) {
		status = answer_holds(y, in, reply, detail);
	} else if (in->level <= OCTOSERVE__PEER__V1__SUMMARY_REQUEST__LEVEL__BUCKET) {
		status = answer_hashes(y, in, reply, detail);
	} else {
		*detail = "no such level";
		status = OCTO_RPC_INVALID_ARGUMENT;
	}
	octoserve__peer__v1__summary_request__free_unpacked(in, NULL);
	return status;
}

/* -- a round ------------------------------------------------------------------------------ */

/* A Summary call to a member: its reply (free with ..._free_unpacked), or NULL. */
static Octoserve__Peer__V1__SummaryReply *ask(struct octo_peer_syncer *y,
					      struct octo_rpc_channel *ch,
					      Octoserve__Peer__V1__SummaryRequest *q)
{
	Octoserve__Peer__V1__SummaryReply *out = NULL;
	size_t len, reply_len = 0;
	uint8_t *packed, *reply = NULL;

	q->node_id = (char *)y->cfg->p2p.node_id;
	len = octoserve__peer__v1__summary_request__get_packed_size(q);
	if ((packed = malloc(len + 1)) == NULL)
		return NULL;
	octoserve__peer__v1__summary_request__pack(q, packed);
	if (octo_rpc_call(ch, SUMMARY_PATH, packed, len, (long)y->cfg->p2p.health_check.timeout_ms,
			  &reply, &reply_len, NULL, 0, NULL) == OCTO_RPC_OK)
		out = octoserve__peer__v1__summary_reply__unpack(NULL, reply_len, reply);
	free(packed);
	free(reply);
	return out;
}

/* A manifest's bytes fetched whole into memory (at most max). */
struct bytes {
	uint8_t *data;
	size_t len, max;
};

static int on_manifest_chunk(void *ctx, const uint8_t *msg, size_t len)
{
	struct bytes *b = ctx;
	Octoserve__Peer__V1__Chunk *c = octoserve__peer__v1__chunk__unpack(NULL, len, msg);
	int stop = c == NULL || c->offset != b->len || c->data.len > b->max - b->len;

	if (!stop && c->data.len > 0) {
		uint8_t *nd = realloc(b->data, b->len + c->data.len);
		if (nd == NULL) {
			stop = 1;
		} else {
			memcpy(nd + b->len, c->data.data, c->data.len);
			b->data = nd;
			b->len += c->data.len;
		}
	}
	if (c != NULL)
		octoserve__peer__v1__chunk__free_unpacked(c, NULL);
	return stop;
}

/* The bytes of manifest d: from this store if it has them, else from the member. */
static int manifest_bytes(struct octo_peer_syncer *y, struct octo_rpc_channel *ch,
			  const struct octo_digest *d, struct bytes *b)
{
	Octoserve__Peer__V1__FetchRequest req = OCTOSERVE__PEER__V1__FETCH_REQUEST__INIT;
	char text[OCTO_DIGEST_MAX_STRING];
	uint8_t packed[OCTO_DIGEST_MAX_STRING + 32];
	char *local = NULL;
	int stopped = 0;

	b->max = (size_t)y->cfg->storage.max_manifest_size;
	if (octo_store_read_blob(y->store, d, b->max, &local, &b->len) == OCTO_OK) {
		b->data = (uint8_t *)local;
		return 0;
	}
	b->len = 0;
	octo_digest_format(d, text, sizeof(text));
	req.digest = text;
	octoserve__peer__v1__fetch_request__pack(&req, packed);
	if (octo_rpc_call_stream(ch, "/octoserve.peer.v1.Peer/Fetch", packed,
				 octoserve__peer__v1__fetch_request__get_packed_size(&req),
				 (long)y->cfg->p2p.health_check.timeout_ms, on_manifest_chunk, b,
				 &stopped) != OCTO_RPC_OK ||
	    stopped)
		return -1;
	return 0;
}

/* Take one of the member's records if its write beats this node's: 1 taken, 0 not, -1 for
 * what could not be (refused, or the store's trouble). */
static int take_record(struct octo_peer_syncer *y, struct octo_rpc_channel *ch, const char *repo,
		       const Octoserve__Peer__V1__Record *pr)
{
	struct octo_record peer = {.stamp = {pr->hlc, pr->time_ms, pr->node},
				   .tombstone = pr->tombstone,
				   .value = (const char *)pr->value.data,
				   .value_len = pr->value.len};
	struct octo_record_key k;
	struct octo_store_record local;
	struct bytes b = {0};
	enum octo_err err;

	if (octo_record_key_parse(pr->key, strlen(pr->key), &k) != 0 ||
	    !octo_node_id_valid(pr->node, strlen(pr->node)))
		return -1;
	if (octo_hlc_ms(pr->hlc) > octo_clock_wall_ms() + (uint64_t)y->cfg->p2p.max_clock_offset_ms)
		return -1; /* it would win every conflict for as long as it runs ahead */
	err = octo_store_record_read(y->store, repo, pr->key, &local);
	if (err == OCTO_OK) {
		int beats = octo_record_cmp(&peer, &local.rec) > 0;
		octo_store_record_cleanup(&local);
		if (!beats)
			return 0;
	} else if (err != OCTO_ERR_NAME_UNKNOWN && err != OCTO_ERR_IO) {
		return -1; /* an unreadable file (IO) is repaired by the write */
	}
	if (k.kind == OCTO_RECORD_REVISION && !pr->tombstone &&
	    manifest_bytes(y, ch, &k.digest, &b) != 0) {
		free(b.data);
		return -1;
	}
	err = octo_apply_record(y->store, y->journal, repo, pr->key, &peer, b.data, b.len);
	free(b.data);
	return err == OCTO_OK ? 1 : -1;
}

/* Every record of repo the member holds that beats this node's. */
static void pull_repository(struct octo_peer_syncer *y, struct octo_rpc_channel *ch,
			    const char *repo, struct round *rd)
{
	Octoserve__Peer__V1__SummaryRequest q = OCTOSERVE__PEER__V1__SUMMARY_REQUEST__INIT;
	char *after = strdup("");
	int more = 1;

	if (!octo_name_valid(repo, strlen(repo)))
		more = 0;
	while (more && after != NULL) {
		Octoserve__Peer__V1__SummaryReply *a;
		size_t i;
		q.level = OCTOSERVE__PEER__V1__SUMMARY_REQUEST__LEVEL__REPOSITORY;
		q.repository = (char *)repo;
		q.after = after;
		if ((a = ask(y, ch, &q)) == NULL)
			break;
		for (i = 0; i < a->n_records; i++) {
			int took = take_record(y, ch, repo, a->records[i]);
			rd->repaired += took > 0;
			rd->refused += took < 0;
		}
		more = a->more && a->n_records > 0;
		free(after);
		after = a->n_records > 0 ? strdup(a->records[a->n_records - 1]->key) : NULL;
		octoserve__peer__v1__summary_reply__free_unpacked(a, NULL);
	}
	free(after);
}

/* Compare with one member, level by level, and pull what differs. */
static void sync_records(struct octo_peer_syncer *y, const char *address, struct round *rd)
{
	Octoserve__Peer__V1__SummaryRequest q = OCTOSERVE__PEER__V1__SUMMARY_REQUEST__INIT;
	struct octo_rpc_channel *ch = octo_peer_cluster_channel(y->cluster, address);
	Octoserve__Peer__V1__SummaryReply *a;
	uint8_t mine[OCTO_SUMMARY_BUCKETS][OCTO_SUMMARY_HASH], root[OCTO_SUMMARY_HASH];
	unsigned b;

	if (ch == NULL)
		return;
	pthread_mutex_lock(&y->lock);
	refresh(y, 0);
	memcpy(root, y->sum.root, sizeof(root));
	memcpy(mine, y->sum.buckets, sizeof(mine));
	pthread_mutex_unlock(&y->lock);
	q.level = OCTOSERVE__PEER__V1__SUMMARY_REQUEST__LEVEL__ROOT;
	if ((a = ask(y, ch, &q)) == NULL)
		return;
	rd->contacted++;
	if (a->root.len == OCTO_SUMMARY_HASH && memcmp(a->root.data, root, sizeof(root)) == 0) {
		octoserve__peer__v1__summary_reply__free_unpacked(a, NULL);
		return; /* the same records: the usual case, one call */
	}
	octoserve__peer__v1__summary_reply__free_unpacked(a, NULL);
	rd->differing++;
	q.level = OCTOSERVE__PEER__V1__SUMMARY_REQUEST__LEVEL__BUCKETS;
	if ((a = ask(y, ch, &q)) == NULL)
		return;
	if (a->n_buckets != OCTO_SUMMARY_BUCKETS) {
		octoserve__peer__v1__summary_reply__free_unpacked(a, NULL);
		return;
	}
	for (b = 0; b < OCTO_SUMMARY_BUCKETS; b++) {
		Octoserve__Peer__V1__SummaryReply *r;
		size_t i;
		if (a->buckets[b].len == OCTO_SUMMARY_HASH &&
		    memcmp(a->buckets[b].data, mine[b], OCTO_SUMMARY_HASH) == 0)
			continue;
		q.level = OCTOSERVE__PEER__V1__SUMMARY_REQUEST__LEVEL__BUCKET;
		q.bucket = b;
		if ((r = ask(y, ch, &q)) == NULL)
			continue;
		for (i = 0; i < r->n_repositories; i++) {
			const Octoserve__Peer__V1__RepositoryHash *h = r->repositories[i];
			const struct octo_summary_repo *own;
			int same;
			pthread_mutex_lock(&y->lock);
			own = octo_summary_find(&y->sum, h->name);
			same = own != NULL && h->hash.len == OCTO_SUMMARY_HASH &&
			       memcmp(own->hash, h->hash.data, OCTO_SUMMARY_HASH) == 0;
			pthread_mutex_unlock(&y->lock);
			if (!same)
				pull_repository(y, ch, h->name, rd);
		}
		octoserve__peer__v1__summary_reply__free_unpacked(r, NULL);
	}
	octoserve__peer__v1__summary_reply__free_unpacked(a, NULL);
}

/* A copy this node holds beyond the blob's holders. */
struct surplus {
	struct octo_digest digest;
	size_t holders[OCTO_PEER_VIEW_MAX + 1], n_holders, confirmed;
};

/* Ask member m which of the surplus blobs it holds (those it is a holder of). */
static void confirm(struct octo_peer_syncer *y, const struct octo_peer_view *view, size_t m,
		    struct surplus *sp, size_t n)
{
	Octoserve__Peer__V1__SummaryRequest q = OCTOSERVE__PEER__V1__SUMMARY_REQUEST__INIT;
	char(*texts)[OCTO_DIGEST_MAX_STRING] = malloc(HOLDS_MAX * sizeof(*texts));
	char **refs = malloc(HOLDS_MAX * sizeof(*refs));
	size_t *which = malloc(HOLDS_MAX * sizeof(*which));
	struct octo_rpc_channel *ch = octo_peer_cluster_channel(y->cluster, view->v[m].address);
	size_t i, k = 0, j;

	for (i = 0; texts != NULL && refs != NULL && which != NULL && ch != NULL && i <= n; i++) {
		Octoserve__Peer__V1__SummaryReply *a;
		if (i < n) {
			int holder = 0;
			for (j = 0; j < sp[i].n_holders; j++)
				holder |= sp[i].holders[j] == m + 1;
			if (holder) {
				octo_digest_format(&sp[i].digest, texts[k], sizeof(texts[k]));
				refs[k] = texts[k];
				which[k++] = i;
			}
			if (k < HOLDS_MAX)
				continue;
		}
		if (k == 0)
			continue;
		q.level = OCTOSERVE__PEER__V1__SUMMARY_REQUEST__LEVEL__HOLDS;
		q.digests = refs;
		q.n_digests = k;
		if ((a = ask(y, ch, &q)) != NULL) {
			for (j = 0; j < k && j < a->n_held; j++)
				sp[which[j]].confirmed += a->held[j] != 0;
			octoserve__peer__v1__summary_reply__free_unpacked(a, NULL);
		}
		k = 0;
	}
	free(texts);
	free(refs);
	free(which);
}

/* The blobs: this node's share wanted, surplus copies dropped once their holders have them. */
static void sync_blobs(struct octo_peer_syncer *y, struct round *rd)
{
	const char *self = y->cfg->p2p.node_id;
	struct octo_peer_view *view = malloc(sizeof(*view));
	struct octo_summary_blob *linked = NULL;
	struct surplus *sp = NULL, *s = malloc(sizeof(*s));
	size_t n = 0, i, j, n_sp = 0, cap_sp = 0;

	pthread_mutex_lock(&y->lock);
	if (view != NULL && s != NULL &&
	    (linked = malloc((y->sum.n_linked + 1) * sizeof(*linked))) != NULL) {
		n = y->sum.n_linked;
		if (n > 0)
			memcpy(linked, y->sum.linked, n * sizeof(*linked));
	}
	pthread_mutex_unlock(&y->lock);
	if (linked == NULL) {
		free(view);
		free(s);
		return;
	}
	octo_peer_cluster_view(y->cluster, view);
	for (i = 0; i < n; i++) {
		const struct octo_digest *d = &linked[i].digest;
		int mine = 0, here, manifest;
		s->n_holders = octo_peer_view_holders(view, self, d, y->cfg->p2p.replication.factor,
						      s->holders);
		for (j = 0; j < s->n_holders; j++)
			mine |= s->holders[j] == 0;
		here = octo_store_blob_stat(y->store, d, NULL) == OCTO_OK;
		if (mine && !here) {
			rd->under++;
			rd->wanted += octo_store_want_blob(y->store, d, "") == OCTO_OK;
			continue;
		}
		pthread_mutex_lock(&y->lock);
		manifest = octo_summary_is_manifest(&y->sum, d);
		pthread_mutex_unlock(&y->lock);
		if (mine || !here || manifest || octo_store_is_cached(y->store, d))
			continue;
		s->digest = *d;
		s->confirmed = 0;
		/* kept for the confirmations: surplus copies are few, the linked blobs many */
		if (n_sp == cap_sp) {
			struct surplus *grown =
				realloc(sp, (cap_sp ? 2 * cap_sp : 16) * sizeof(*sp));
			if (grown == NULL)
				break;
			sp = grown;
			cap_sp = cap_sp ? 2 * cap_sp : 16;
		}
		sp[n_sp++] = *s;
	}
	for (i = 0; i < view->n && n_sp > 0; i++)
		if (view->v[i].up)
			confirm(y, view, i, sp, n_sp);
	for (i = 0; i < n_sp; i++) {
		char text[OCTO_DIGEST_MAX_STRING];
		if (sp[i].confirmed < sp[i].n_holders ||
		    octo_store_drop_blob(y->store, &sp[i].digest) != OCTO_OK)
			continue;
		rd->dropped++;
		octo_digest_format(&sp[i].digest, text, sizeof(text));
		{
			struct octo_log_field f[] = {
				OCTO_LOG_STR("digest", text),
				OCTO_LOG_NUM("holders", (long long)sp[i].n_holders)};
			octo_log(y->log, OCTO_LOG_INFO,
				 "a surplus copy dropped: its holders have verified theirs", f, 2);
		}
	}
	free(view);
	free(linked);
	free(sp);
	free(s);
}

static void write_status(struct octo_peer_syncer *y, const struct round *rd, uint64_t at_ms,
			 uint64_t took_ms)
{
	json_t *o;
	char *text;

	pthread_mutex_lock(&y->lock);
	o = json_pack("{sIsIsIsIsIsIsIsIsIsIsIsI}", "rounds", (json_int_t)y->rounds,
		      "records_repaired_total", (json_int_t)y->repaired, "at_ms", (json_int_t)at_ms,
		      "took_ms", (json_int_t)took_ms, "members", (json_int_t)rd->members,
		      "differing", (json_int_t)rd->differing, "records_repaired",
		      (json_int_t)rd->repaired, "records_refused", (json_int_t)rd->refused,
		      "blobs_wanted", (json_int_t)rd->wanted, "copies_dropped",
		      (json_int_t)rd->dropped, "records", (json_int_t)y->sum.n_records,
		      "under_replicated", (json_int_t)rd->under);
	pthread_mutex_unlock(&y->lock);
	text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	if (text != NULL)
		octo_store_write_atomic(y->store, OCTO_PEER_SYNC_STATUS_REL, text, strlen(text), 0);
	free(text);
	json_decref(o);
}

static void one_round(struct octo_peer_syncer *y)
{
	struct octo_peer_view *view = malloc(sizeof(*view));
	uint64_t start = octo_clock_monotonic_ms(), at = octo_clock_wall_ms();
	struct round rd = {0};
	size_t i;

	if (view == NULL)
		return;
	octo_peer_cluster_view(y->cluster, view);
	for (i = 0; i < view->n; i++)
		if (view->v[i].up) {
			rd.members++;
			sync_records(y, view->v[i].address, &rd);
		}
	free(view);
	pthread_mutex_lock(&y->lock);
	refresh(y, rd.repaired > 0);
	pthread_mutex_unlock(&y->lock);
	sync_blobs(y, &rd);
	pthread_mutex_lock(&y->lock);
	y->rounds++;
	y->repaired += rd.repaired;
	pthread_mutex_unlock(&y->lock);
	if (rd.repaired > 0 || rd.dropped > 0 || rd.refused > 0) {
		struct octo_log_field f[] = {OCTO_LOG_NUM("records", (long long)rd.repaired),
					     OCTO_LOG_NUM("refused", (long long)rd.refused),
					     OCTO_LOG_NUM("wanted", (long long)rd.wanted),
					     OCTO_LOG_NUM("dropped", (long long)rd.dropped)};
		octo_log(y->log, OCTO_LOG_INFO, "anti-entropy repaired", f, 4);
	}
	write_status(y, &rd, at, octo_clock_monotonic_ms() - start);
	if (rd.contacted > 0) {
		char text[32];
		snprintf(text, sizeof(text), "%llu\n", (unsigned long long)at);
		/* lost in a crash, it is one round older: no directory fsync */
		octo_store_write_atomic(y->store, OCTO_PEER_CONTACT_REL, text, strlen(text), 0);
	}
}

static int is_peer_cursor(const char *name, size_t len)
{
	return len > 5 && memcmp(name, "peer-", 5) == 0;
}

/* Nothing of what the journal holds goes to a member any more: every member's cursor at its
 * end (the stale writes there must not reach the cluster either). */
static enum octo_err forget_outboxes(struct octo_journal *journal)
{
	struct octo_strv names = {0};
	uint64_t last = 0;
	enum octo_err err = octo_journal_last(journal, &last);
	size_t i;

	if (err == OCTO_OK)
		err = octo_journal_cursor_list(journal, is_peer_cursor, &names);
	for (i = 0; err == OCTO_OK && i < names.n; i++)
		err = octo_journal_cursor_set(journal, names.v[i], last);
	if (err == OCTO_OK) /* and a member not seen yet starts there too */
		err = octo_journal_cursor_set(journal, OCTO_PEER_FLOOR_CURSOR, last);
	octo_strv_cleanup(&names);
	return err;
}

int octo_peer_syncer_rejoin(const struct octo_config *cfg, struct octo_store *store,
			    struct octo_journal *journal, struct octo_logger *log)
{
	uint64_t now = octo_clock_wall_ms(), max = (uint64_t)octo_config_max_absence_ms(cfg), last;
	char *text = NULL, aside[64];
	size_t len, repos = 0;
	enum octo_err err;

	if (octo_store_read(store, OCTO_PEER_CONTACT_REL, 32, OCTO_ERR_NAME_UNKNOWN, &text, &len) !=
	    OCTO_OK)
		return 0; /* never in contact: a first start, or a node alone */
	last = strtoull(text, NULL, 10);
	free(text);
	if (octo_store_count(store, "repositories", NULL, OCTO_OK, &repos) != OCTO_OK ||
	    repos == 0 || !octo_member_away_too_long(last, now, max))
		return 0;
	snprintf(aside, sizeof(aside), "stale/%llu", (unsigned long long)now);
	err = octo_store_repos_set_aside(store, aside);
	if (err == OCTO_OK)
		err = forget_outboxes(journal);
	if (err == OCTO_OK)
		err = octo_store_remove(store, OCTO_PEER_CONTACT_REL, OCTO_OK);
	{
		struct octo_log_field f[] = {
			OCTO_LOG_NUM("away_s", (long long)((now - last) / 1000)),
			OCTO_LOG_NUM("max_absence_s", (long long)(max / 1000)),
			OCTO_LOG_STR("set_aside", aside),
			OCTO_LOG_STR("error", octo_err_code(err))};
		octo_log(
			log, err == OCTO_OK ? OCTO_LOG_WARN : OCTO_LOG_ERROR,
			err == OCTO_OK
				? "this store was away from its cluster longer than "
				  "p2p.replication.max_absence: its repositories are set aside, "
				  "unsent, and the node rejoins empty (anti-entropy brings back every "
				  "name; its blobs stay)"
				: "this store was away from its cluster longer than "
				  "p2p.replication.max_absence and could not be set aside",
			f, err == OCTO_OK ? 3 : 4);
	}
	return err == OCTO_OK ? 0 : -1;
}

static void *run(void *arg)
{
	struct octo_peer_syncer *y = arg;
	uint64_t last = octo_clock_monotonic_ms(),
		 renewals = octo_peer_cluster_renewals(y->cluster);

	/* a round every interval, the first one interval after the start (the health checks
	 * have found the members), and one at once for a member whose store is new */
	while (octo_peer_ticker_wait(&y->ticker, LOOK_MS)) {
		uint64_t now = octo_clock_monotonic_ms(),
			 r = octo_peer_cluster_renewals(y->cluster);
		if (now - last < (uint64_t)y->cfg->p2p.replication.sync_interval_ms &&
		    r == renewals)
			continue;
		renewals = r;
		one_round(y);
		last = octo_clock_monotonic_ms();
	}
	return NULL;
}

struct octo_peer_syncer *octo_peer_syncer_start(const struct octo_config *cfg,
						struct octo_store *store,
						struct octo_journal *journal,
						struct octo_peer_cluster *cluster,
						struct octo_logger *log)
{
	struct octo_peer_syncer *y = calloc(1, sizeof(*y));

	if (y == NULL)
		return NULL;
	y->cfg = cfg;
	y->store = store;
	y->journal = journal;
	y->cluster = cluster;
	y->log = log;
	pthread_mutex_init(&y->lock, NULL);
	octo_peer_ticker_init(&y->ticker);
	if (octo_peer_ticker_start(&y->ticker, &y->thread, run, y) != 0) {
		pthread_mutex_destroy(&y->lock);
		free(y);
		return NULL;
	}
	return y;
}

void octo_peer_syncer_stop(struct octo_peer_syncer *y)
{
	if (y == NULL)
		return;
	octo_peer_ticker_join(&y->ticker, y->thread);
	pthread_mutex_destroy(&y->lock);
	octo_summary_cleanup(&y->sum);
	free(y);
}
