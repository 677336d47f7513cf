/* SPDX-License-Identifier: Apache-2.0 */
/* See gcplan.h. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "gcplan.h"
#include "gc.h"
#include "peer.pb-c.h"
#include "ticker.h"

#define COLLECT_PATH "/octoserve.peer.v1.Peer/Collect"
/* How often the request directory is looked at, and how long a member's dry run may take. */
#define POLL_MS 200
#define CALL_MS 300000

/* ---- the member's side: which of the caller's candidates it agrees to ---- */

enum octo_rpc_status octo_peer_collect(void *ctx, const struct octo_rpc_peer *peer,
				       const uint8_t *req, size_t len, struct octo_rpc_piece *reply,
				       const char **detail)
{
	static __thread char why[OCTO_NODE_ID_MAX * 2 + 100];
	struct octo_peer_service *svc = ctx;
	Octoserve__Peer__V1__CollectRequest *in =
		octoserve__peer__v1__collect_request__unpack(NULL, len, req);
	Octoserve__Peer__V1__CollectReply out = OCTOSERVE__PEER__V1__COLLECT_REPLY__INIT;
	struct octo_gc_options o = {.max_manifest_size =
					    (size_t)svc->cfg->storage.max_manifest_size};
	struct octo_strv items = {0}, agreed;
	enum octo_rpc_status status;
	size_t i;

	if (in == NULL || in->grace_ms < 0) {
		if (in != NULL)
			octoserve__peer__v1__collect_request__free_unpacked(in, NULL);
		*detail = "not a CollectRequest";
		return OCTO_RPC_INVALID_ARGUMENT;
	}
	if ((*detail = octo_peer_claim_refused(svc, peer, in->node_id, why, sizeof(why))) != NULL) {
		octoserve__peer__v1__collect_request__free_unpacked(in, NULL);
		return OCTO_RPC_PERMISSION_DENIED;
	}
	o.grace_ms = in->grace_ms;
	o.delete_untagged = in->delete_untagged;
	o.remove_orphan_referrers = in->remove_orphan_referrers;
	for (i = 0; i < in->n_items; i++)
		octo_strv_push(&items, in->items[i], strlen(in->items[i]));
	octoserve__peer__v1__collect_request__free_unpacked(in, NULL);
	octo_strv_sort(&items, strcmp);
	if (octo_gc_agree(svc->store, svc->journal, &o, &items, &agreed) != OCTO_OK) {
		octo_strv_cleanup(&items);
		octo_strv_cleanup(&agreed);
		*detail = "this member's mark failed (see its log)";
		return OCTO_RPC_UNAVAILABLE;
	}
	octo_strv_cleanup(&items);
	out.items = agreed.v;
	out.n_items = agreed.n;
	status = octo_peer_pack_reply(&out.base, reply);
	octo_strv_cleanup(&agreed);
	return status;
}

/* ---- the asking side: every member's plan, intersected ---- */

struct octo_peer_collector {
	const struct octo_config *cfg;
	struct octo_store *store;
	struct octo_peer_cluster *cluster;
	struct octo_logger *log;
	struct octo_peer_ticker ticker;
	pthread_t thread;
};

/* Which of candidates the member at address agrees to (with req's options), sorted, into items;
 * why on failure. */
static int member_plan(struct octo_peer_collector *c, const char *address,
		       const struct octo_strv *candidates, const struct octo_collect_request *req,
		       struct octo_strv *items, char *why, size_t size)
{
	Octoserve__Peer__V1__CollectRequest in = OCTOSERVE__PEER__V1__COLLECT_REQUEST__INIT;
	Octoserve__Peer__V1__CollectReply *r;
	struct octo_rpc_channel *ch = octo_peer_cluster_channel(c->cluster, address);
	uint8_t *buf, *reply = NULL;
	char detail[256] = "";
	size_t reply_len, i;
	enum octo_rpc_status st;

	in.node_id = (char *)c->cfg->p2p.node_id;
	in.grace_ms = req->grace_ms;
	in.delete_untagged = req->delete_untagged;
	in.remove_orphan_referrers = req->remove_orphan_referrers;
	in.items = candidates->v;
	in.n_items = candidates->n;
	buf = malloc(protobuf_c_message_get_packed_size(&in.base) + 1);
	if (buf == NULL) {
		snprintf(why, size, "out of memory");
		return -1;
	}
	protobuf_c_message_pack(&in.base, buf);
	st = ch == NULL ? OCTO_RPC_UNAVAILABLE
			: octo_rpc_call(ch, COLLECT_PATH, buf,
					protobuf_c_message_get_packed_size(&in.base), CALL_MS,
					&reply, &reply_len, detail, sizeof(detail), NULL);
	free(buf);
	if (st != OCTO_RPC_OK ||
	    (r = octoserve__peer__v1__collect_reply__unpack(NULL, reply_len, reply)) == NULL) {
		snprintf(why, size, "%s did not answer (%s)", address,
			 detail[0] ? detail : "no reply");
		free(reply);
		return -1;
	}
	for (i = 0; i < r->n_items; i++)
		octo_strv_push(items, r->items[i], strlen(r->items[i]));
	octoserve__peer__v1__collect_reply__free_unpacked(r, NULL);
	free(reply);
	octo_strv_sort(items, strcmp);
	return 0;
}

/* Keep in agreed only what items (sorted) holds too. */
static void intersect(struct octo_strv *agreed, const struct octo_strv *items)
{
	size_t i, kept = 0;

	for (i = 0; i < agreed->n; i++) {
		if (octo_collect_agreed(items, agreed->v[i]))
			agreed->v[kept++] = agreed->v[i];
		else
			free(agreed->v[i]);
	}
	agreed->n = kept;
}

static void answer(struct octo_peer_collector *c, const char *id)
{
	struct octo_collect_request req;
	struct octo_peer_view view;
	struct octo_strv agreed;
	char why[512] = "";
	size_t i;
	int ok = 1;

	if (octo_collect_read(c->store, id, &req) != OCTO_OK)
		return;
	/* the candidates, less what any member does not agree to (alone: all of them) */
	agreed = req.items;
	memset(&req.items, 0, sizeof(req.items));
	octo_peer_cluster_view(c->cluster, &view);
	for (i = 0; ok && i < view.n; i++)
		if (!view.v[i].up) {
			snprintf(
				why, sizeof(why),
				"member %s is down: no collection runs while a member is away (its "
				"records may name what this node would remove)",
				view.v[i].id[0] ? view.v[i].id : view.v[i].address);
			ok = 0;
		}
	for (i = 0; ok && i < view.n; i++) {
		struct octo_strv items = {0};
		if (member_plan(c, view.v[i].address, &agreed, &req, &items, why, sizeof(why)) != 0)
			ok = 0;
		else
			intersect(&agreed, &items);
		octo_strv_cleanup(&items);
	}
	octo_collect_answer(c->store, id, ok ? &agreed : NULL, why);
	octo_collect_request_cleanup(&req);
	if (!ok) {
		struct octo_log_field f[] = {OCTO_LOG_STR("reason", why)};
		octo_log(c->log, OCTO_LOG_WARN, "garbage collection refused", f, 1);
	}
	octo_strv_cleanup(&agreed);
}

static void *collector_loop(void *arg)
{
	struct octo_peer_collector *c = arg;

	while (octo_peer_ticker_wait(&c->ticker, POLL_MS)) {
		struct octo_strv ids = {0};
		size_t i;
		if (octo_collect_pending(c->store, &ids) != OCTO_OK)
			continue;
		for (i = 0; i < ids.n; i++)
			if (!octo_collect_answered(c->store, ids.v[i]))
				answer(c, ids.v[i]); /* answered: the asker's to remove */
		octo_strv_cleanup(&ids);
		octo_collect_sweep(c->store);
	}
	return NULL;
}

struct octo_peer_collector *octo_peer_collector_start(const struct octo_config *cfg,
						      struct octo_store *store,
						      struct octo_peer_cluster *cluster,
						      struct octo_logger *log)
{
	struct octo_peer_collector *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->cfg = cfg;
	c->store = store;
	c->cluster = cluster;
	c->log = log;
	octo_peer_ticker_init(&c->ticker);
	if (octo_peer_ticker_start(&c->ticker, &c->thread, collector_loop, c) != 0) {
		free(c);
		return NULL;
	}
	return c;
}

void octo_peer_collector_stop(struct octo_peer_collector *c)
{
	if (c == NULL)
		return;
	octo_peer_ticker_join(&c->ticker, c->thread);
	free(c);
}
