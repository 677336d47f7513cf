/* SPDX-License-Identifier: Apache-2.0 */
/* See service.h. Requests are unpacked with protobuf-c (hostile bytes: tests/fuzz/); a
 * Fetch chunk is encoded here as the Chunk message's header fields followed by the data's
 * tag and length, so that the blob bytes go out as a piece of their own, never copied into
 * a protobuf-c message (doc/notes/grpc-c-core.md). */
#include "autoconfig.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apply.h"
#include "clock.h"
#include "digest.h"
#include "event.h"
#include "fsutil.h"
#include "member.h"
#include "peer.pb-c.h"
#include "gc.h"
#include "gcplan.h"
#include "service.h"
#include "store-blob.h"
#include "store-wanted.h"
#include "quorum.h"
#include "sync.h"

/* Room for the Chunk's header: three tags and three varints. */
#define CHUNK_HEAD_MAX 32

/* The members a Health answer lists (peer exchange). */
struct listing {
	Octoserve__Peer__V1__Member *members;
	Octoserve__Peer__V1__Member **refs;
	size_t n, cap;
};

static void list_member(void *ctx, const char *id, const char *address)
{
	struct listing *l = ctx;
	Octoserve__Peer__V1__Member init = OCTOSERVE__PEER__V1__MEMBER__INIT;

	if (l->n == l->cap || id[0] == '\0')
		return;
	l->members[l->n] = init;
	/* copies: the table may change once the lock is let go */
	l->members[l->n].node_id = strdup(id);
	l->members[l->n].address = strdup(address);
	if (l->members[l->n].node_id == NULL || l->members[l->n].address == NULL) {
		free(l->members[l->n].node_id);
		free(l->members[l->n].address);
		return;
	}
	l->refs[l->n] = &l->members[l->n];
	l->n++;
}

enum octo_rpc_status octo_peer_pack_reply(const ProtobufCMessage *m, struct octo_rpc_piece *reply)
{
	reply->len = protobuf_c_message_get_packed_size(m);
	reply->data = malloc(reply->len + 1);
	if (reply->data == NULL)
		return OCTO_RPC_RESOURCE_EXHAUSTED;
	protobuf_c_message_pack(m, reply->data);
	return OCTO_RPC_OK;
}

/* The most members one answer lists. */
#define LISTED_MAX 1024

/* A refused caller, logged at most once a second (a refused peer retries). */
static void log_refused(struct octo_peer_service *svc, const char *node, const char *address,
			const char *reason)
{
	static uint64_t logged_ms;
	struct octo_log_field f[] = {OCTO_LOG_STR("node", node), OCTO_LOG_STR("address", address),
				     OCTO_LOG_STR("reason", reason)};

	if (octo_clock_due(&logged_ms, octo_clock_monotonic_ms(), 1000))
		octo_log(svc->log, OCTO_LOG_WARN, "a peer was refused", f, 3);
}

/* Under mutual TLS the node id a caller claims must be one its certificate names (ids decide
 * conflicts, placement and whose writes are never sent back): NULL, or why not (in buf). */
static const char *claim_refused(const struct octo_peer_service *svc,
				 const struct octo_rpc_peer *peer, const char *claimed, char *buf,
				 size_t size)
{
	if (svc->cluster != NULL && octo_peer_cluster_forgotten(svc->cluster, claimed))
		return "this node was removed from the cluster for good (octoserve-peer forget): it "
		       "is no member";
	if (svc->cfg->p2p.tls.cert == NULL || octo_member_certified(peer->names, peer->n, claimed))
		return NULL;
	snprintf(buf, size, "the caller claims node id \"%s\" but its certificate is for \"%s\"",
		 claimed, peer->n > 0 ? peer->names[0] : "");
	return buf;
}

const char *octo_peer_claim_refused(struct octo_peer_service *svc, const struct octo_rpc_peer *peer,
				    const char *claimed, char *buf, size_t size)
{
	const char *why = claim_refused(svc, peer, claimed, buf, size);

	if (why != NULL)
		log_refused(svc, claimed, "", why);
	return why;
}

static enum octo_rpc_status health(void *ctx, const struct octo_rpc_peer *peer, const uint8_t *req,
				   size_t len, struct octo_rpc_piece *reply, const char **detail)
{
	struct octo_peer_service *svc = ctx;
	Octoserve__Peer__V1__HealthRequest *in =
		octoserve__peer__v1__health_request__unpack(NULL, len, req);
	Octoserve__Peer__V1__HealthReply out = OCTOSERVE__PEER__V1__HEALTH_REPLY__INIT;
	struct listing l = {.cap = LISTED_MAX};
	struct octo_strv forgotten = {0};
	enum octo_rpc_status status = OCTO_RPC_OK;
	static __thread char why[OCTO_NODE_ID_MAX * 2 + 100]; /* the detail outlives the call */
	size_t i;

	if (in == NULL) {
		*detail = "not a HealthRequest";
		return OCTO_RPC_INVALID_ARGUMENT;
	}
	*detail = claim_refused(svc, peer, in->node_id, why, sizeof(why));
	if (*detail == NULL)
		*detail = octo_peer_refusal(svc->cfg, in->cluster_id, in->hlc, 1);
	if (*detail != NULL) {
		log_refused(svc, in->node_id, in->address, *detail);
		octoserve__peer__v1__health_request__free_unpacked(in, NULL);
		return OCTO_RPC_PERMISSION_DENIED;
	}
	/* the members it removed for good are removed here too (membership tombstones spread) */
	for (i = 0; svc->cluster != NULL && i < in->n_forgotten; i++)
		octo_peer_cluster_forget(svc->cluster, in->forgotten[i]);
	/* the caller says who it is: a node learns of those that bootstrap from it */
	if (svc->cluster != NULL && in->node_id[0] != '\0' && in->address[0] != '\0')
		octo_peer_cluster_heard(svc->cluster, in->node_id, in->address);
	octoserve__peer__v1__health_request__free_unpacked(in, NULL);
	out.node_id = svc->cfg->p2p.node_id;
	out.cluster_id = svc->cfg->p2p.cluster_id;
	out.store = (char *)octo_store_incarnation(svc->store);
	out.hlc = octo_hlc_tick(0, octo_clock_wall_ms());
	l.members = calloc(l.cap, sizeof(*l.members));
	l.refs = calloc(l.cap, sizeof(*l.refs));
	if (l.members == NULL || l.refs == NULL) {
		status = OCTO_RPC_RESOURCE_EXHAUSTED;
		goto out;
	}
	if (svc->cluster != NULL) {
		octo_peer_cluster_each_up(svc->cluster, list_member, &l);
		octo_peer_cluster_forgotten_ids(svc->cluster, &forgotten);
	}
	out.members = l.refs;
	out.n_members = l.n;
	out.forgotten = forgotten.v;
	out.n_forgotten = forgotten.n;
	status = octo_peer_pack_reply(&out.base, reply);
out:
	while (l.n > 0) {
		free(l.members[--l.n].node_id);
		free(l.members[l.n].address);
	}
	free(l.members);
	free(l.refs);
	octo_strv_cleanup(&forgotten);
	return status;
}

struct fetch {
	int fd; /* -1: the content is in the store's bucket */
	const struct octo_store *store;
	struct octo_digest d;
	uint64_t size, offset;
	size_t chunk;
	int sent; /* one chunk at least, even for an empty blob: it carries the size */
};

/* A Fetch names no sender: any certificate of the cluster's CA may read (the TLS handshake
 * saw to that), as a node that joins fetches before others have heard of it. */
static enum octo_rpc_status fetch_open(void *ctx, const struct octo_rpc_peer *peer,
				       const uint8_t *req, size_t len, void **stream,
				       const char **detail)
{
	struct octo_peer_service *svc = ctx;
	Octoserve__Peer__V1__FetchRequest *in =
		octoserve__peer__v1__fetch_request__unpack(NULL, len, req);
	char rel[OCTO_STORE_PATH_MAX];
	struct octo_digest d;
	struct fetch *f;
	enum octo_err err;
	uint64_t offset;
	int fd;

	(void)peer;
	if (in == NULL || octo_digest_parse(in->digest, strlen(in->digest), &d) != OCTO_OK) {
		if (in != NULL)
			octoserve__peer__v1__fetch_request__free_unpacked(in, NULL);
		*detail = "not a FetchRequest with a digest";
		return OCTO_RPC_INVALID_ARGUMENT;
	}
	offset = in->offset;
	octoserve__peer__v1__fetch_request__free_unpacked(in, NULL);
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return OCTO_RPC_RESOURCE_EXHAUSTED;
	err = octo_store_blob_rel(&d, rel, sizeof(rel));
	fd = -1;
	if (err == OCTO_OK && octo_store_bucket(svc->store) != NULL)
		err = octo_store_blob_stat(svc->store, &d, &f->size);
	else if (err == OCTO_OK)
		err = octo_store_open_file(svc->store, rel, O_RDONLY, OCTO_ERR_BLOB_UNKNOWN, &fd,
					   &f->size);
	if (err != OCTO_OK) {
		free(f);
		*detail = err == OCTO_ERR_BLOB_UNKNOWN ? "this node does not hold the blob"
						       : "the blob could not be read";
		return err == OCTO_ERR_BLOB_UNKNOWN ? OCTO_RPC_NOT_FOUND : OCTO_RPC_INTERNAL;
	}
	if (offset > f->size) {
		close(fd);
		free(f);
		*detail = "offset past the end of the blob";
		return OCTO_RPC_INVALID_ARGUMENT;
	}
	f->fd = fd;
	f->store = svc->store;
	f->d = d;
	f->offset = offset;
	f->chunk = svc->chunk_size;
	*stream = f;
	return OCTO_RPC_OK;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	do {
		p[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
	return n;
}

struct filling {
	uint8_t *at;
	size_t left;
};

static int fill(void *ctx, const void *data, size_t len)
{
	struct filling *fl = ctx;

	if (len > fl->left)
		return -1;
	memcpy(fl->at, data, len);
	fl->at += len;
	fl->left -= len;
	return 0;
}

/* n bytes of the blob at offset: from its file, or from the bucket. 0 or -1. */
static int read_chunk(struct fetch *f, uint8_t *data, size_t n)
{
	struct filling fl = {data, n};

	if (f->fd >= 0)
		return octo_fs_pread_all(f->fd, data, n, (long long)f->offset);
	if (n == 0)
		return 0;
	return octo_store_blob_stream(f->store, &f->d, f->offset, n, fill, &fl) == OCTO_OK &&
			       fl.left == 0
		       ? 0
		       : -1;
}

static int fetch_next(void *stream, struct octo_rpc_piece piece[OCTO_RPC_PIECES],
		      enum octo_rpc_status *status, const char **detail)
{
	struct fetch *f = stream;
	size_t n = f->size - f->offset < f->chunk ? (size_t)(f->size - f->offset) : f->chunk, h = 0;
	uint8_t *head, *data;

	if (f->sent && n == 0)
		return 0;
	head = malloc(CHUNK_HEAD_MAX);
	data = malloc(n > 0 ? n : 1);
	if (head == NULL || data == NULL || read_chunk(f, data, n) != 0) {
		free(head);
		free(data);
		*status = OCTO_RPC_INTERNAL;
		*detail = "the blob could not be read";
		return -1;
	}
	/* Chunk: offset = 2 (varint), size = 3 (varint), data = 1 (length-delimited) */
	head[h++] = 2 << 3;
	h += put_varint(head + h, f->offset);
	head[h++] = 3 << 3;
	h += put_varint(head + h, f->size);
	head[h++] = 1 << 3 | 2;
	h += put_varint(head + h, n);
	piece[0] = (struct octo_rpc_piece){head, h};
	piece[1] = (struct octo_rpc_piece){data, n};
	f->offset += n;
	f->sent = 1;
	return 1;
}

static void fetch_close(void *stream)
{
	struct fetch *f = stream;

	if (f->fd >= 0)
		close(f->fd);
	free(f);
}

/* After ev was applied: the blobs it links that this node should hold under the strategy
 * (eager: all of its share; hybrid: those below the threshold; lazy: none until a client
 * asks), wanted from the writer, durably before Apply answers (the sender's cursor moves
 * then: the marker is the intent that survives a crash). */
static enum octo_err want_linked(struct octo_peer_service *svc, const struct octo_event *ev)
{
	const struct octo_config *cfg = svc->cfg;
	struct octo_peer_view *view = NULL;
	enum octo_err err = OCTO_OK;
	size_t i;

	if (strcmp(cfg->p2p.replication.strategy, "lazy") == 0)
		return OCTO_OK;
	for (i = 0; i < ev->n_records && err == OCTO_OK; i++) {
		const struct octo_event_record *r = &ev->records[i];
		uint64_t size;
		if (r->parsed.kind != OCTO_RECORD_LINK || r->value == NULL ||
		    octo_store_link_size(r->value, r->value_len, &size) != 0)
			continue;
		if (strcmp(cfg->p2p.replication.strategy, "hybrid") == 0 &&
		    size >= (uint64_t)cfg->p2p.replication.hybrid_threshold)
			continue;
		if (octo_store_blob_stat(svc->store, &r->parsed.digest, NULL) == OCTO_OK)
			continue;
		if (view == NULL) {
			view = malloc(sizeof(*view));
			if (view == NULL)
				return OCTO_ERR_NOMEM;
			octo_peer_cluster_view(svc->cluster, view);
		}
		if (octo_peer_view_holds(view, cfg->p2p.node_id, &r->parsed.digest,
					 cfg->p2p.replication.factor))
			err = octo_store_want_blob(svc->store, &r->parsed.digest, ev->stamp.node);
	}
	free(view);
	return err;
}

/* The most changes one Apply takes. */
#define APPLY_MAX 256

/* A peer's garbage collection removed a record this node may still need (a manifest pushed
 * here after that peer's plan was made): gc.h restores it. */
static enum octo_err restore_collected(struct octo_peer_service *svc, const struct octo_event *ev)
{
	int manifest = strcmp(ev->type, OCTO_EVENT_COLLECT_MANIFEST) == 0, restored = 0;
	enum octo_err err = OCTO_OK;
	size_t i;

	if (!manifest && strcmp(ev->type, OCTO_EVENT_COLLECT_LINK) != 0)
		return OCTO_OK;
	for (i = 0; i < ev->n_records && err == OCTO_OK; i++) {
		const struct octo_event_record *r = &ev->records[i];
		if (r->value != NULL ||
		    (r->parsed.kind != OCTO_RECORD_LINK && r->parsed.kind != OCTO_RECORD_REVISION))
			continue;
		err = octo_gc_restore(svc->store, svc->journal, ev->repo, &r->parsed.digest,
				      r->parsed.kind == OCTO_RECORD_REVISION,
				      (size_t)svc->cfg->storage.max_manifest_size, &restored);
		if (err == OCTO_OK && restored) {
			char ds[OCTO_DIGEST_MAX_STRING];
			octo_digest_format(&r->parsed.digest, ds, sizeof(ds));
			struct octo_log_field f[] = {OCTO_LOG_STR("repository", ev->repo),
						     OCTO_LOG_STR("digest", ds),
						     OCTO_LOG_STR("from", ev->stamp.node)};
			octo_log(svc->log, OCTO_LOG_INFO,
				 "a peer's collection removed what this node still needs: restored",
				 f, 3);
		}
	}
	return err;
}

static enum octo_rpc_status apply(void *ctx, const struct octo_rpc_peer *peer, const uint8_t *req,
				  size_t len, struct octo_rpc_piece *reply, const char **detail)
{
	struct octo_peer_service *svc = ctx;
	Octoserve__Peer__V1__ApplyRequest *in =
		octoserve__peer__v1__apply_request__unpack(NULL, len, req);
	Octoserve__Peer__V1__ApplyReply out = OCTOSERVE__PEER__V1__APPLY_REPLY__INIT;
	enum octo_rpc_status status = OCTO_RPC_OK;
	static __thread char why[OCTO_NODE_ID_MAX * 2 + 100]; /* the detail outlives the call */
	size_t i;

	if (in == NULL || in->n_changes > APPLY_MAX) {
		if (in != NULL)
			octoserve__peer__v1__apply_request__free_unpacked(in, NULL);
		*detail = "not an ApplyRequest of at most 256 changes";
		return OCTO_RPC_INVALID_ARGUMENT;
	}
	if ((*detail = octo_peer_claim_refused(svc, peer, in->node_id, why, sizeof(why))) != NULL) {
		octoserve__peer__v1__apply_request__free_unpacked(in, NULL);
		return OCTO_RPC_PERMISSION_DENIED;
	}
	for (i = 0; i < in->n_changes && status == OCTO_RPC_OK; i++) {
		const Octoserve__Peer__V1__Change *c = in->changes[i];
		struct octo_event ev;
		enum octo_err err;
		if (octo_event_parse(c->event, strlen(c->event), &ev, detail) != 0) {
			status = OCTO_RPC_INVALID_ARGUMENT;
			break;
		}
		if (octo_hlc_ms(ev.stamp.hlc) >
		    octo_clock_wall_ms() + (uint64_t)svc->cfg->p2p.max_clock_offset_ms) {
			/* it would win every conflict for as long as it runs ahead */
			octo_event_cleanup(&ev);
			*detail = "a change's clock runs ahead by more than p2p.max_clock_offset";
			status = OCTO_RPC_PERMISSION_DENIED;
			break;
		}
		/* this node's own write, relayed back: already here */
		err = strcmp(ev.stamp.node, svc->cfg->p2p.node_id) == 0
			      ? OCTO_OK
			      : octo_apply_event(svc->store, svc->journal, &ev,
						 c->manifest.len > 0 ? c->manifest.data : NULL,
						 c->manifest.len);
		if (err == OCTO_OK && svc->cluster != NULL)
			err = want_linked(svc, &ev);
		if (err == OCTO_OK)
			err = restore_collected(svc, &ev);
		octo_event_cleanup(&ev);
		if (err == OCTO_ERR_MANIFEST_INVALID) {
			*detail = "a manifest's bytes are missing or not its digest";
			status = OCTO_RPC_INVALID_ARGUMENT;
		} else if (err != OCTO_OK) {
			*detail = octo_err_code(err);
			status = OCTO_RPC_UNAVAILABLE; /* the store's trouble: the sender retries */
		} else {
			out.applied++;
		}
	}
	octoserve__peer__v1__apply_request__free_unpacked(in, NULL);
	return status != OCTO_RPC_OK ? status : octo_peer_pack_reply(&out.base, reply);
}

const struct octo_rpc_method octo_peer_methods[] = {
	{.path = "/octoserve.peer.v1.Peer/Health", .unary = health},
	{.path = "/octoserve.peer.v1.Peer/Fetch",
	 .open = fetch_open,
	 .next = fetch_next,
	 .close = fetch_close},
	{.path = "/octoserve.peer.v1.Peer/Apply", .unary = apply},
	{.path = "/octoserve.peer.v1.Peer/Summary", .unary = octo_peer_summary},
	{.path = "/octoserve.peer.v1.Peer/Vote", .unary = octo_peer_vote},
	{.path = "/octoserve.peer.v1.Peer/Hold", .unary = octo_peer_hold},
	{.path = "/octoserve.peer.v1.Peer/Collect", .unary = octo_peer_collect},
};
const size_t octo_peer_n_methods = sizeof(octo_peer_methods) / sizeof(octo_peer_methods[0]);
