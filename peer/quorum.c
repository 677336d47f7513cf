/* SPDX-License-Identifier: Apache-2.0 */
/* See strong.h. The proposer follows Paxos as lib/vote.h's voters expect it: prepare a
 * ballot with every voter that is up; the open slot is the highest any of them reports
 * (those behind are taught the write that closed the one before); with a majority promising
 * in that slot, accept the write accepted under the highest ballot there, or else our own;
 * once a majority accepted, it is decided, and every voter learns it. A write is ours only
 * in the first slot we found open: once that slot is decided for another write, a racing
 * writer of the tag won, and our client is told so (exactly one of two racing pushes gets
 * its 201). */
#include "autoconfig.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "digest.h"
#include "name.h"
#include "peer.pb-c.h"
#include "service.h"
#include "store-blob.h"
#include "store-manifest.h"
#include "store-wanted.h"
#include "quorum.h"
#include "strong.h"
#include "ticker.h"
#include "vote.h"

#define WORKERS 8
#define QUEUE_MAX 256
#define BUSY_MAX 1024
#define SCAN_MS 20           /* without inotify */
#define SCAN_WATCHED_MS 1000 /* with it */
#define POLL_MS 10           /* copies and cursors, while a request waits for them */
#define CALL_MS 2000         /* one Vote or Hold call, at most */
#define VOTE_PATH "/octoserve.peer.v1.Peer/Vote"
#define HOLD_PATH "/octoserve.peer.v1.Peer/Hold"

/* ---- conversions between the protocol and lib/vote.h ---- */

static void ballot_out(const struct octo_vote_ballot *b, Octoserve__Peer__V1__Ballot *out)
{
	Octoserve__Peer__V1__Ballot init = OCTOSERVE__PEER__V1__BALLOT__INIT;

	*out = init;
	out->hlc = b->hlc;
	out->node = (char *)b->node;
}

static int ballot_in(const Octoserve__Peer__V1__Ballot *in, struct octo_vote_ballot *b)
{
	memset(b, 0, sizeof(*b));
	if (in == NULL)
		return 0; /* the zero ballot */
	if (strlen(in->node) > OCTO_NODE_ID_MAX ||
	    (in->node[0] != '\0' && !octo_node_id_valid(in->node, strlen(in->node))))
		return -1;
	b->hlc = in->hlc;
	strcpy(b->node, in->node);
	return 0;
}

static void write_out(const struct octo_vote_write *w, char *key, Octoserve__Peer__V1__Record *out)
{
	Octoserve__Peer__V1__Record init = OCTOSERVE__PEER__V1__RECORD__INIT;

	*out = init;
	out->key = key;
	out->hlc = w->hlc;
	out->time_ms = w->time_ms;
	out->node = (char *)w->node;
	out->tombstone = w->tombstone;
	out->value.data = (uint8_t *)w->digest;
	out->value.len = w->tombstone ? 0 : strlen(w->digest);
}

/* A record of tag from a peer: its key must be the tag's. */
static int write_in(const Octoserve__Peer__V1__Record *in, const char *key,
		    struct octo_vote_write *w)
{
	memset(w, 0, sizeof(*w));
	if (in == NULL || strcmp(in->key, key) != 0 || strlen(in->node) > OCTO_NODE_ID_MAX ||
	    in->value.len >= sizeof(w->digest) || memchr(in->value.data, 0, in->value.len))
		return -1;
	w->hlc = in->hlc;
	w->time_ms = in->time_ms;
	strcpy(w->node, in->node);
	w->tombstone = in->tombstone;
	memcpy(w->digest, in->value.data, in->value.len);
	return octo_vote_write_valid(w) ? 0 : -1;
}

/* ---- the voter's side: Vote and Hold ---- */

/* One phase of this node's vote (vote.h), as the Vote method and the proposer cast it. */
static enum octo_err vote_here(struct octo_store *store, struct octo_journal *j,
			       Octoserve__Peer__V1__VoteRequest__Phase phase, const char *repo,
			       const char *tag, uint64_t slot, const struct octo_vote_ballot *b,
			       const struct octo_vote_write *w, int *ok, struct octo_vote_state *st)
{
	enum octo_err err;

	switch (phase) {
	case OCTOSERVE__PEER__V1__VOTE_REQUEST__PHASE__PREPARE:
		return octo_vote_prepare(store, repo, tag, b, ok, st);
	case OCTOSERVE__PEER__V1__VOTE_REQUEST__PHASE__ACCEPT:
		return octo_vote_accept(store, repo, tag, slot, b, w, ok, st);
	default:
		err = octo_vote_learn(store, j, repo, tag, slot, w, st);
		*ok = err == OCTO_OK;
		return err;
	}
}

enum octo_rpc_status octo_peer_vote(void *ctx, const struct octo_rpc_peer *peer, const uint8_t *req,
				    size_t len, struct octo_rpc_piece *reply, const char **detail)
{
	static __thread char why[OCTO_NODE_ID_MAX * 2 + 100]; /* the detail outlives the call */
	struct octo_peer_service *svc = ctx;
	Octoserve__Peer__V1__VoteRequest *in =
		octoserve__peer__v1__vote_request__unpack(NULL, len, req);
	Octoserve__Peer__V1__VoteReply out = OCTOSERVE__PEER__V1__VOTE_REPLY__INIT;
	Octoserve__Peer__V1__Ballot promised, accepted_ballot;
	Octoserve__Peer__V1__Record accepted, chosen;
	char key[OCTO_STORE_PATH_MAX];
	struct octo_vote_ballot b;
	struct octo_vote_write w;
	struct octo_vote_state st;
	enum octo_rpc_status status = OCTO_RPC_OK;
	enum octo_err err;
	int ok = 0;

	if (in == NULL) {
		*detail = "not a VoteRequest";
		return OCTO_RPC_INVALID_ARGUMENT;
	}
	if ((*detail = octo_peer_claim_refused(svc, peer, in->node_id, why, sizeof(why))) != NULL) {
		status = OCTO_RPC_PERMISSION_DENIED;
		goto out;
	}
	if (!octo_name_valid(in->repository, strlen(in->repository)) ||
	    !octo_tag_valid(in->tag, strlen(in->tag)) ||
	    octo_store_tag_key(in->tag, key, sizeof(key)) != OCTO_OK ||
	    ballot_in(in->ballot, &b) != 0 ||
	    (in->phase != OCTOSERVE__PEER__V1__VOTE_REQUEST__PHASE__PREPARE &&
	     write_in(in->record, key, &w) != 0)) {
		*detail = "a vote needs a repository, a tag, a ballot and (to accept or learn) the "
			  "tag's record";
		status = OCTO_RPC_INVALID_ARGUMENT;
		goto out;
	}
	if (in->phase > OCTOSERVE__PEER__V1__VOTE_REQUEST__PHASE__LEARN) {
		*detail = "no such phase";
		status = OCTO_RPC_INVALID_ARGUMENT;
		goto out;
	}
	err = vote_here(svc->store, svc->journal, in->phase, in->repository, in->tag, in->slot, &b,
			&w, &ok, &st);
	if (err != OCTO_OK) {
		*detail = octo_err_code(err);
		status = OCTO_RPC_UNAVAILABLE; /* the store's trouble: no vote from this node */
		goto out;
	}
	out.node_id = svc->cfg->p2p.node_id;
	out.ok = ok;
	out.slot = st.slot;
	ballot_out(&st.promised, &promised);
	out.promised = &promised;
	if (st.has_accepted) {
		ballot_out(&st.accepted_ballot, &accepted_ballot);
		out.accepted_ballot = &accepted_ballot;
		write_out(&st.accepted, key, &accepted);
		out.accepted = &accepted;
	}
	if (st.has_chosen) {
		write_out(&st.chosen, key, &chosen);
		out.chosen = &chosen;
	}
	status = octo_peer_pack_reply(&out.base, reply);
out:
	octoserve__peer__v1__vote_request__free_unpacked(in, NULL);
	return status;
}

/* The most digests one Hold asks about. */
#define HOLD_MAX 4096

enum octo_rpc_status octo_peer_hold(void *ctx, const struct octo_rpc_peer *peer, const uint8_t *req,
				    size_t len, struct octo_rpc_piece *reply, const char **detail)
{
	static __thread char why[OCTO_NODE_ID_MAX * 2 + 100];
	struct octo_peer_service *svc = ctx;
	Octoserve__Peer__V1__HoldRequest *in =
		octoserve__peer__v1__hold_request__unpack(NULL, len, req);
	Octoserve__Peer__V1__HoldReply out = OCTOSERVE__PEER__V1__HOLD_REPLY__INIT;
	enum octo_rpc_status status = OCTO_RPC_OK;
	size_t i;

	if (in == NULL || in->n_digests > HOLD_MAX ||
	    (in->source[0] != '\0' && !octo_node_id_valid(in->source, strlen(in->source)))) {
		if (in != NULL)
			octoserve__peer__v1__hold_request__free_unpacked(in, NULL);
		*detail = "not a HoldRequest of at most 4096 digests";
		return OCTO_RPC_INVALID_ARGUMENT;
	}
	if ((*detail = octo_peer_claim_refused(svc, peer, in->node_id, why, sizeof(why))) != NULL) {
		octoserve__peer__v1__hold_request__free_unpacked(in, NULL);
		return OCTO_RPC_PERMISSION_DENIED;
	}
	out.held = calloc(in->n_digests + 1, sizeof(*out.held));
	if (out.held == NULL) {
		octoserve__peer__v1__hold_request__free_unpacked(in, NULL);
		return OCTO_RPC_RESOURCE_EXHAUSTED;
	}
	for (i = 0; i < in->n_digests && status == OCTO_RPC_OK; i++) {
		struct octo_digest d;
		if (octo_digest_parse(in->digests[i], strlen(in->digests[i]), &d) != OCTO_OK) {
			*detail = "not a digest";
			status = OCTO_RPC_INVALID_ARGUMENT;
		} else if (octo_store_blob_stat(svc->store, &d, NULL) == OCTO_OK) {
			out.held[i] = 1;
		} else if (octo_store_want_blob(svc->store, &d, in->source) != OCTO_OK) {
			*detail = "the fetch cannot be queued here";
			status = OCTO_RPC_UNAVAILABLE;
		}
	}
	out.n_held = in->n_digests;
	octoserve__peer__v1__hold_request__free_unpacked(in, NULL);
	if (status == OCTO_RPC_OK)
		status = octo_peer_pack_reply(&out.base, reply);
	free(out.held);
	return status;
}

/* ---- the proposer's side ---- */

struct octo_peer_quorum {
	const struct octo_config *cfg;
	struct octo_store *store;
	struct octo_journal *journal;
	struct octo_peer_cluster *cluster;
	struct octo_logger *log;
	int enabled;
	pthread_t scanner, workers[WORKERS];
	size_t n_workers;
	struct octo_peer_ticker ticker;
	long period_ms;
	pthread_mutex_t lock;
	pthread_cond_t work;
	int stopping;
	char queue[QUEUE_MAX][33]; /* ids waiting for a worker */
	size_t queued;
	char busy[BUSY_MAX][33]; /* ids queued, worked on, or answered and not yet gone */
	size_t n_busy;
	uint64_t last_ballot; /* this node's ballots only grow */
};

/* A voter: this node (address NULL) or a configured peer, with its id once it is up. */
struct voter {
	const char *address;
	char id[OCTO_NODE_ID_MAX + 1];
	int up;
};

struct voters {
	struct voter v[OCTO_PEER_VIEW_MAX + 1];
	size_t n, up, majority;
};

static void voters_of(const struct octo_peer_quorum *s, const struct octo_peer_view *view,
		      struct voters *out)
{
	size_t i, k;

	memset(out, 0, sizeof(*out));
	out->v[0].address = NULL;
	snprintf(out->v[0].id, sizeof(out->v[0].id), "%s", s->cfg->p2p.node_id);
	out->v[0].up = 1;
	out->n = out->up = 1;
	for (i = 0; i < s->cfg->p2p.n_bootstrap_peers && out->n < OCTO_PEER_VIEW_MAX + 1; i++) {
		struct voter *v = &out->v[out->n++];
		v->address = s->cfg->p2p.bootstrap_peers[i];
		for (k = 0; k < view->n; k++)
			if (strcmp(view->v[k].address, v->address) == 0 && view->v[k].up &&
			    strcmp(view->v[k].id, s->cfg->p2p.node_id) != 0) {
				snprintf(v->id, sizeof(v->id), "%s", view->v[k].id);
				v->up = 1;
				out->up++;
			}
	}
	out->majority = out->n / 2 + 1;
}

static uint64_t next_ballot(struct octo_peer_quorum *s, uint64_t above)
{
	uint64_t b;

	pthread_mutex_lock(&s->lock);
	b = octo_hlc_tick(s->last_ballot > above ? s->last_ballot : above, octo_clock_wall_ms());
	s->last_ballot = b;
	pthread_mutex_unlock(&s->lock);
	return b;
}

/* How long the request's client still waits (none once the daemon stops). */
static int64_t left_ms(struct octo_peer_quorum *s, const struct octo_strong_request *req)
{
	uint64_t now = octo_clock_wall_ms();

	if (__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE))
		return 0;
	return req->deadline_ms > now ? (int64_t)(req->deadline_ms - now) : 0;
}

static void pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* What one voter answered. */
struct answer {
	int got, ok;
	struct octo_vote_state st;
};

static int answer_in(const Octoserve__Peer__V1__VoteReply *r, const char *key, struct answer *a)
{
	memset(a, 0, sizeof(*a));
	if (ballot_in(r->promised, &a->st.promised) != 0 ||
	    (r->accepted != NULL && (ballot_in(r->accepted_ballot, &a->st.accepted_ballot) != 0 ||
				     write_in(r->accepted, key, &a->st.accepted) != 0)) ||
	    (r->chosen != NULL && write_in(r->chosen, key, &a->st.chosen) != 0))
		return -1;
	a->st.slot = r->slot;
	a->st.has_accepted = r->accepted != NULL;
	a->st.has_chosen = r->chosen != NULL;
	a->ok = r->ok;
	a->got = 1;
	return 0;
}

/* One phase with one voter (this node's own store for voter 0). */
static void vote_with(struct octo_peer_quorum *s, const struct voter *v,
		      Octoserve__Peer__V1__VoteRequest__Phase phase,
		      const struct octo_strong_request *req, uint64_t slot,
		      const struct octo_vote_ballot *b, const struct octo_vote_write *w,
		      struct answer *a)
{
	Octoserve__Peer__V1__VoteRequest in = OCTOSERVE__PEER__V1__VOTE_REQUEST__INIT;
	Octoserve__Peer__V1__Ballot pb;
	Octoserve__Peer__V1__Record pr;
	Octoserve__Peer__V1__VoteReply *r;
	struct octo_rpc_channel *ch;
	char key[OCTO_STORE_PATH_MAX];
	uint8_t *buf, *reply = NULL;
	size_t len, reply_len;
	long timeout = left_ms(s, req) < CALL_MS ? (long)left_ms(s, req) : CALL_MS;

	memset(a, 0, sizeof(*a));
	if (!v->up || octo_store_tag_key(req->tag, key, sizeof(key)) != OCTO_OK)
		return;
	if (v->address == NULL) {
		a->got = vote_here(s->store, s->journal, phase, req->repo, req->tag, slot, b, w,
				   &a->ok, &a->st) == OCTO_OK;
		return;
	}
	if (timeout <= 0 || (ch = octo_peer_cluster_channel(s->cluster, v->address)) == NULL)
		return;
	in.node_id = s->cfg->p2p.node_id;
	in.phase = phase;
	in.repository = (char *)req->repo;
	in.tag = (char *)req->tag;
	in.slot = slot;
	ballot_out(b, &pb);
	in.ballot = &pb;
	if (w != NULL) {
		write_out(w, key, &pr);
		in.record = &pr;
	}
	len = protobuf_c_message_get_packed_size(&in.base);
	if ((buf = malloc(len + 1)) == NULL)
		return;
	protobuf_c_message_pack(&in.base, buf);
	if (octo_rpc_call(ch, VOTE_PATH, buf, len, timeout, &reply, &reply_len, NULL, 0, NULL) ==
	    OCTO_RPC_OK) {
		r = octoserve__peer__v1__vote_reply__unpack(NULL, reply_len, reply);
		/* a voter is the node the configuration names, as it is up in the table */
		if (r != NULL && strcmp(r->node_id, v->id) == 0 && answer_in(r, key, a) != 0)
			memset(a, 0, sizeof(*a));
		if (r != NULL)
			octoserve__peer__v1__vote_reply__free_unpacked(r, NULL);
	}
	free(reply);
	free(buf);
}

/* One phase of vote_with, for a thread. */
struct vote_job {
	struct octo_peer_quorum *s;
	const struct voter *v;
	Octoserve__Peer__V1__VoteRequest__Phase phase;
	const struct octo_strong_request *req;
	uint64_t slot;
	const struct octo_vote_ballot *b;
	const struct octo_vote_write *w;
	struct answer *a;
};

static void *vote_job_run(void *arg)
{
	struct vote_job *j = arg;

	vote_with(j->s, j->v, j->phase, j->req, j->slot, j->b, j->w, j->a);
	return NULL;
}

/* One phase with every voter at once (each call its own thread: a write waits for the
 * slowest voter's fsyncs, not for their sum), the answers into a[] by voter. */
static void vote_all(struct octo_peer_quorum *s, const struct voters *vs,
		     Octoserve__Peer__V1__VoteRequest__Phase phase,
		     const struct octo_strong_request *req, uint64_t slot,
		     const struct octo_vote_ballot *b, const struct octo_vote_write *w,
		     struct answer *a)
{
	struct vote_job jobs[OCTO_PEER_VIEW_MAX + 1];
	pthread_t threads[OCTO_PEER_VIEW_MAX + 1];
	int started[OCTO_PEER_VIEW_MAX + 1];
	size_t i;

	for (i = 0; i < vs->n; i++) {
		jobs[i] = (struct vote_job){s, &vs->v[i], phase, req, slot, b, w, &a[i]};
		started[i] = i > 0 && vs->v[i].up &&
			     pthread_create(&threads[i], NULL, vote_job_run, &jobs[i]) == 0;
		if (i > 0 && !started[i])
			vote_job_run(&jobs[i]); /* down (nothing to do), or no thread: here */
	}
	vote_job_run(&jobs[0]); /* this node's own vote, meanwhile */
	for (i = 1; i < vs->n; i++)
		if (started[i])
			pthread_join(threads[i], NULL);
}

#define RACE_LOST "tag %s was written by a concurrent push on another node, decided first"

static int same_write(const struct octo_vote_write *a, const struct octo_vote_write *b)
{
	return a->tombstone == b->tombstone && strcmp(a->digest, b->digest) == 0;
}

/* Every voter that is up learns that slot is w; OCTO_OK once a majority wrote it. */
static enum octo_err learned(struct octo_peer_quorum *s, const struct voters *vs,
			     const struct octo_strong_request *req, uint64_t slot,
			     const struct octo_vote_ballot *b, const struct octo_vote_write *w,
			     char *detail, size_t size)
{
	struct answer a[OCTO_PEER_VIEW_MAX + 1];
	size_t i, n;

	for (;;) {
		vote_all(s, vs, OCTOSERVE__PEER__V1__VOTE_REQUEST__PHASE__LEARN, req, slot, b, w,
			 a);
		for (i = 0, n = 0; i < vs->n; i++)
			n += a[i].got && a[i].ok;
		if (n >= vs->majority)
			return OCTO_OK;
		if (left_ms(s, req) <= 0) {
			snprintf(
				detail, size,
				"the write of tag %s was decided, but a majority of the voters did "
				"not confirm its record in time",
				req->tag);
			return OCTO_ERR_NOT_REPLICATED;
		}
		pause_ms(POLL_MS);
	}
}

/* The request's tag write, decided among the voters: OCTO_OK (ours), OCTO_ERR_TAG_CONFLICT
 * (another's, in the slot ours was for), OCTO_ERR_NOT_REPLICATED (no decision in time). */
static enum octo_err decide(struct octo_peer_quorum *s, struct octo_peer_view *view,
			    struct voters *vs, const struct octo_strong_request *req, char *detail,
			    size_t size)
{
	struct answer a[OCTO_PEER_VIEW_MAX + 1];
	struct octo_vote_ballot b = {0};
	struct octo_vote_write mine = {0}, value;
	uint64_t seen = 0, first_slot = 0, slot;
	int have_first = 0;
	size_t i, n, best;

	snprintf(b.node, sizeof(b.node), "%s", s->cfg->p2p.node_id);
	snprintf(mine.node, sizeof(mine.node), "%s", s->cfg->p2p.node_id);
	mine.tombstone = req->tombstone;
	snprintf(mine.digest, sizeof(mine.digest), "%s", req->digest);
	while (left_ms(s, req) > 0) {
		octo_peer_cluster_view(s->cluster, view);
		voters_of(s, view, vs);
		if (vs->up < vs->majority)
			break;
		b.hlc = next_ballot(s, seen);
		/* phase 1: promises, and the open slot */
		slot = 0;
		vote_all(s, vs, OCTOSERVE__PEER__V1__VOTE_REQUEST__PHASE__PREPARE, req, 0, &b, NULL,
			 a);
		for (i = 0; i < vs->n; i++) {
			if (a[i].got && a[i].st.slot > slot)
				slot = a[i].st.slot;
			if (a[i].got && a[i].st.promised.hlc > seen)
				seen = a[i].st.promised.hlc;
		}
		if (!have_first) {
			first_slot = slot;
			have_first = 1;
		}
		for (i = 0, n = 0, best = SIZE_MAX; i < vs->n; i++) {
			if (!a[i].got)
				continue;
			if (a[i].st.slot == slot && a[i].st.has_chosen && a[i].st.chosen.hlc > seen)
				seen = a[i].st.chosen.hlc;
			if (a[i].st.slot < slot) {
				/* behind: teach it what closed the slot before ours */
				size_t k;
				for (k = 0; k < vs->n; k++)
					if (a[k].got && a[k].st.slot == slot && a[k].st.has_chosen)
						break;
				if (k < vs->n) {
					struct answer ignored;
					vote_with(s, &vs->v[i],
						  OCTOSERVE__PEER__V1__VOTE_REQUEST__PHASE__LEARN,
						  req, slot - 1, &b, &a[k].st.chosen, &ignored);
				}
				continue;
			}
			if (!a[i].ok)
				continue;
			n++;
			if (a[i].st.has_accepted &&
			    (best == SIZE_MAX ||
			     octo_vote_ballot_cmp(&a[i].st.accepted_ballot,
						  &a[best].st.accepted_ballot) > 0))
				best = i;
		}
		for (i = 0; i < vs->n; i++)
			if (a[i].got && a[i].st.slot == slot && a[i].st.has_chosen)
				break;
		if (i < vs->n && slot == first_slot + 1 && same_write(&a[i].st.chosen, &mine))
			/* ours was decided in its slot, by another proposer completing it */
			return learned(s, vs, req, slot - 1, &b, &a[i].st.chosen, detail, size);
		if (slot > first_slot || (i < vs->n && a[i].st.chosen.hlc > req->since_hlc &&
					  !same_write(&a[i].st.chosen, &mine))) {
			/* the slot before ours went to another write after ours began, or the
			 * slot ours was for went to another while we tried: a race, which the
			 * other won */
			snprintf(detail, size, RACE_LOST, req->tag);
			return OCTO_ERR_TAG_CONFLICT;
		}
		if (n < vs->majority) {
			pause_ms(5 + (long)(octo_clock_monotonic_ms() % 20)); /* duelling ballots */
			continue;
		}
		if (best != SIZE_MAX) {
			value = a[best].st.accepted;
		} else {
			value = mine;
			/* ordered after every decided write of the tag, under the record rule too */
			value.hlc = next_ballot(s, seen);
			value.time_ms = octo_clock_wall_ms();
		}
		/* phase 2 */
		vote_all(s, vs, OCTOSERVE__PEER__V1__VOTE_REQUEST__PHASE__ACCEPT, req, slot, &b,
			 &value, a);
		for (i = 0, n = 0; i < vs->n; i++) {
			if (a[i].got && a[i].ok)
				n++;
			if (a[i].got && a[i].st.promised.hlc > seen)
				seen = a[i].st.promised.hlc;
		}
		if (n < vs->majority) {
			pause_ms(5 + (long)(octo_clock_monotonic_ms() % 20));
			continue;
		}
		/* decided: a majority must have written it before the answer */
		if (!same_write(&value, &mine)) {
			/* we completed another's write of this slot: it was first */
			learned(s, vs, req, slot, &b, &value, detail, size);
			snprintf(detail, size, RACE_LOST, req->tag);
			return OCTO_ERR_TAG_CONFLICT;
		}
		return learned(s, vs, req, slot, &b, &value, detail, size);
	}
	if (vs->up < vs->majority)
		snprintf(detail, size,
			 "%zu of the %zu voters are reachable from this node; a strong write needs "
			 "a majority (%zu)",
			 vs->up, vs->n, vs->majority);
	else
		snprintf(detail, size,
			 "no decision on tag %s within p2p.replication.strong_timeout", req->tag);
	return OCTO_ERR_NOT_REPLICATED;
}

/* Whether the member at address holds d, after Hold asked it (it starts fetching if not). */
static int hold_asked(struct octo_peer_quorum *s, const char *address, const struct octo_digest *d)
{
	Octoserve__Peer__V1__HoldRequest in = OCTOSERVE__PEER__V1__HOLD_REQUEST__INIT;
	Octoserve__Peer__V1__HoldReply *r;
	struct octo_rpc_channel *ch = octo_peer_cluster_channel(s->cluster, address);
	char ds[OCTO_DIGEST_MAX_STRING], *dp = ds;
	uint8_t buf[2 * OCTO_NODE_ID_MAX + OCTO_DIGEST_MAX_STRING + 16], *reply = NULL;
	size_t reply_len;
	int held = 0;

	octo_digest_format(d, ds, sizeof(ds));
	in.node_id = (char *)s->cfg->p2p.node_id;
	in.source = (char *)s->cfg->p2p.node_id;
	in.digests = &dp;
	in.n_digests = 1;
	protobuf_c_message_pack(&in.base, buf);
	if (ch != NULL &&
	    octo_rpc_call(ch, HOLD_PATH, buf, protobuf_c_message_get_packed_size(&in.base), CALL_MS,
			  &reply, &reply_len, NULL, 0, NULL) == OCTO_RPC_OK &&
	    (r = octoserve__peer__v1__hold_reply__unpack(NULL, reply_len, reply)) != NULL) {
		held = r->n_held == 1 && r->held[0];
		octoserve__peer__v1__hold_reply__free_unpacked(r, NULL);
	}
	free(reply);
	return held;
}

/* A member asked to hold a blob that has not for HOLD_PATIENCE_MS (its disk is full, say) is
 * passed over for that blob, and the next member by rank is asked instead. */
#define HOLD_PATIENCE_MS 2000
#define PATIENCE_MAX 256
struct patience {
	struct {
		size_t blob;
		char id[OCTO_NODE_ID_MAX + 1];
		uint64_t since;
	} v[PATIENCE_MAX];
	size_t n;
};

/* Whether id has been asked for blob longer than the patience (noted as asked from now). */
static int out_of_patience(struct patience *p, size_t blob, const char *id, uint64_t now)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->v[i].blob == blob && strcmp(p->v[i].id, id) == 0)
			return now - p->v[i].since >= HOLD_PATIENCE_MS;
	if (p->n < PATIENCE_MAX) {
		p->v[p->n].blob = blob;
		snprintf(p->v[p->n].id, sizeof(p->v[p->n].id), "%s", id);
		p->v[p->n++].since = now;
	}
	return 0;
}

/* Bring every blob of req to min(factor, members up) durable copies. */
static enum octo_err hold_copies(struct octo_peer_quorum *s, struct octo_peer_view *view,
				 const struct octo_strong_request *req, char *detail, size_t size)
{
	const char *self = s->cfg->p2p.node_id;
	size_t up, i, k, want = 0, order[OCTO_PEER_VIEW_MAX + 1], n, missing;
	struct patience *p = calloc(1, sizeof(*p));
	enum octo_err err = OCTO_OK;
	int self_held;

	if (p == NULL)
		return OCTO_ERR_NOMEM;
	for (;;) {
		uint64_t now = octo_clock_monotonic_ms();
		/* the members as they are now: one may have gone down since the last look */
		octo_peer_cluster_view(s->cluster, view);
		for (i = 0, up = 1; i < view->n; i++)
			up += view->v[i].up;
		want = (size_t)s->cfg->p2p.replication.factor < up
			       ? (size_t)s->cfg->p2p.replication.factor
			       : up;
		missing = 0;
		for (i = 0; i < req->n_blobs; i++) {
			size_t count = 0, asked = 0;
			/* every placed member by rank: the holders first */
			n = octo_peer_view_holders(view, self, &req->blobs[i], (int)view->n + 1,
						   order);
			for (k = 0; k < n && asked < want; k++) {
				size_t at = order[k];
				if (at == 0) {
					self_held = octo_store_blob_stat(s->store, &req->blobs[i],
									 NULL) == OCTO_OK;
					asked++;
					count += self_held;
					continue;
				}
				if (!view->v[at - 1].up)
					continue;
				if (hold_asked(s, view->v[at - 1].address, &req->blobs[i])) {
					asked++;
					count++;
				} else if (!out_of_patience(p, i, view->v[at - 1].id, now)) {
					asked++; /* fetching, we hope: ask again at the next look */
				}
			}
			if (count < want)
				missing++;
		}
		if (missing == 0)
			break;
		if (left_ms(s, req) <= 0) {
			snprintf(detail, size,
				 "%zu blob(s) did not reach %zu durable copies within "
				 "p2p.replication.strong_timeout",
				 missing, want);
			err = OCTO_ERR_NOT_REPLICATED;
			break;
		}
		pause_ms(2 * POLL_MS);
	}
	free(p);
	return err;
}

/* Wait until a majority of the voters hold journal event seq (this node, and the others
 * whose outbox cursor is past it). */
static enum octo_err majority_took(struct octo_peer_quorum *s, struct octo_peer_view *view,
				   struct voters *vs, const struct octo_strong_request *req,
				   char *detail, size_t size)
{
	size_t i, n;

	for (;;) {
		octo_peer_cluster_view(s->cluster, view);
		voters_of(s, view, vs);
		for (i = 1, n = 1; i < vs->n; i++) {
			char name[64];
			uint64_t at;
			if (!vs->v[i].up)
				continue;
			octo_peer_cursor_name(vs->v[i].id, name, sizeof(name));
			if (octo_journal_cursor_get(s->journal, name, &at) == OCTO_OK &&
			    at >= req->seq)
				n++;
		}
		if (n >= vs->majority)
			return OCTO_OK;
		if (left_ms(s, req) <= 0) {
			snprintf(detail, size,
				 "%zu of the %zu voters took the change within "
				 "p2p.replication.strong_timeout; a majority is %zu",
				 n, vs->n, vs->majority);
			return OCTO_ERR_NOT_REPLICATED;
		}
		pause_ms(POLL_MS);
	}
}

static enum octo_err work_on(struct octo_peer_quorum *s, const struct octo_strong_request *req,
			     char *detail, size_t size)
{
	struct octo_peer_view *view = malloc(sizeof(*view));
	struct voters *vs = malloc(sizeof(*vs));
	enum octo_err err = OCTO_OK;

	if (view == NULL || vs == NULL) {
		err = OCTO_ERR_NOMEM;
		goto out;
	}
	octo_peer_cluster_view(s->cluster, view);
	voters_of(s, view, vs);
	if (vs->up < vs->majority) {
		snprintf(detail, size,
			 "%zu of the %zu voters are reachable from this node; a strong write needs "
			 "a majority (%zu)",
			 vs->up, vs->n, vs->majority);
		err = OCTO_ERR_NOT_REPLICATED;
		goto out;
	}
	if (req->n_blobs > 0)
		err = hold_copies(s, view, req, detail, size);
	if (err == OCTO_OK && req->seq > 0)
		err = majority_took(s, view, vs, req, detail, size);
	if (err == OCTO_OK && req->tag[0] != '\0')
		err = decide(s, view, vs, req, detail, size);
out:
	free(view);
	free(vs);
	return err;
}

static void log_outcome(struct octo_peer_quorum *s, const struct octo_strong_request *req,
			enum octo_err err, const char *detail)
{
	struct octo_log_field f[] = {OCTO_LOG_STR("repository", req->repo),
				     OCTO_LOG_STR("tag", req->tag), OCTO_LOG_STR("reason", detail)};

	if (err != OCTO_OK)
		octo_log(s->log, OCTO_LOG_WARN,
			 err == OCTO_ERR_TAG_CONFLICT ? "a strong write lost a race for its tag"
						      : "a strong write was not confirmed",
			 f, 3);
}

static void unbusy(struct octo_peer_quorum *s, const char *id)
{
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->n_busy; i++)
		if (strcmp(s->busy[i], id) == 0) {
			memcpy(s->busy[i], s->busy[--s->n_busy], sizeof(s->busy[i]));
			break;
		}
	pthread_mutex_unlock(&s->lock);
}

static void *worker(void *arg)
{
	struct octo_peer_quorum *s = arg;

	for (;;) {
		struct octo_strong_request req;
		char id[33], detail[512] = "";
		enum octo_err err;

		pthread_mutex_lock(&s->lock);
		while (!s->stopping && s->queued == 0)
			pthread_cond_wait(&s->work, &s->lock);
		if (s->stopping) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		memcpy(id, s->queue[--s->queued], sizeof(id));
		pthread_mutex_unlock(&s->lock);
		err = octo_strong_read(s->store, id, &req);
		if (err == OCTO_ERR_NAME_UNKNOWN) { /* its client gave up */
			unbusy(s, id);
			continue;
		}
		if (err != OCTO_OK) {
			snprintf(detail, sizeof(detail), "the request cannot be read: %s",
				 octo_err_code(err));
			err = OCTO_ERR_NOT_REPLICATED;
		} else {
			err = work_on(s, &req, detail, sizeof(detail));
			log_outcome(s, &req, err, detail);
		}
		if (err != OCTO_OK && err != OCTO_ERR_TAG_CONFLICT)
			err = OCTO_ERR_NOT_REPLICATED;
		octo_strong_answer(s->store, id, err, detail);
		octo_strong_request_cleanup(&req);
		/* still busy until its client removed the request (the scanner sees it gone):
		 * taken again meanwhile, it would be worked on twice */
	}
}

/* Hand each request no worker has yet to the queue. */
static void *scanner(void *arg)
{
	struct octo_peer_quorum *s = arg;

	while (octo_peer_ticker_wait(&s->ticker, s->period_ms)) {
		struct octo_strv ids = {0};
		size_t i, k;

		if (octo_strong_pending(s->store, &ids) != OCTO_OK)
			continue;
		pthread_mutex_lock(&s->lock);
		for (k = 0; k < s->n_busy;) { /* requests gone: answered, or their client left */
			for (i = 0; i < ids.n && strcmp(ids.v[i], s->busy[k]) != 0; i++)
				;
			if (i == ids.n)
				memcpy(s->busy[k], s->busy[--s->n_busy], sizeof(s->busy[k]));
			else
				k++;
		}
		for (i = 0; i < ids.n && s->queued < QUEUE_MAX && s->n_busy < BUSY_MAX; i++) {
			for (k = 0; k < s->n_busy; k++)
				if (strcmp(s->busy[k], ids.v[i]) == 0)
					break;
			if (k < s->n_busy || strlen(ids.v[i]) != 32)
				continue;
			memcpy(s->busy[s->n_busy++], ids.v[i], 33);
			memcpy(s->queue[s->queued++], ids.v[i], 33);
		}
		pthread_cond_broadcast(&s->work);
		pthread_mutex_unlock(&s->lock);
		octo_strv_cleanup(&ids);
		octo_strong_sweep(s->store);
	}
	return NULL;
}

struct octo_peer_quorum *octo_peer_quorum_start(
	const struct octo_config *cfg, struct octo_store *store, struct octo_journal *journal,
	struct octo_peer_cluster *cluster, struct octo_peer_watch *watch, struct octo_logger *log)
{
	struct octo_peer_quorum *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->cfg = cfg;
	s->store = store;
	s->journal = journal;
	s->cluster = cluster;
	s->log = log;
	s->enabled = strcmp(cfg->p2p.replication.consistency_mode, "strong") == 0;
	if (!s->enabled)
		return s;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->work, NULL);
	octo_peer_ticker_init(&s->ticker);
	s->period_ms = watch != NULL ? SCAN_WATCHED_MS : SCAN_MS;
	if (watch != NULL && octo_peer_watch_add(watch, store, OCTO_STRONG_DIR, &s->ticker, 1) != 0)
		s->period_ms = SCAN_MS;
	for (s->n_workers = 0; s->n_workers < WORKERS; s->n_workers++)
		if (pthread_create(&s->workers[s->n_workers], NULL, worker, s) != 0)
			break;
	if (s->n_workers == 0 || octo_peer_ticker_start(&s->ticker, &s->scanner, scanner, s) != 0) {
		s->enabled = 0;
		octo_peer_quorum_stop(s);
		return NULL;
	}
	return s;
}

void octo_peer_quorum_stop(struct octo_peer_quorum *s)
{
	size_t i;

	if (s == NULL)
		return;
	if (s->enabled)
		octo_peer_ticker_join(&s->ticker, s->scanner);
	if (s->n_workers > 0 || s->enabled) {
		pthread_mutex_lock(&s->lock);
		__atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE); /* read outside the lock too */
		pthread_cond_broadcast(&s->work);
		pthread_mutex_unlock(&s->lock);
		for (i = 0; i < s->n_workers; i++)
			pthread_join(s->workers[i], NULL);
		pthread_cond_destroy(&s->work);
		pthread_mutex_destroy(&s->lock);
	}
	free(s);
}
