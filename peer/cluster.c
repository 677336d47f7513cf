/* SPDX-License-Identifier: Apache-2.0 */
/* See cluster.h. One thread runs the rounds; each round snapshots the members' addresses,
 * runs the checks on up to `workers` threads, and applies each answer under the lock. The
 * channels (one per address) outlive the rounds. */
#include "autoconfig.h"

#include <stdio.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "event.h"
#include "store-wanted.h"
#include "cluster.h"
#include "placement.h"
#include "peer.pb-c.h"
#include "rpc.h"
#include "store-member.h"
#include "ticker.h"

/* How soon the next round comes while a member has never answered (a bootstrap peer that
 * was not up yet when this node started), and the longest a channel waits to connect again:
 * a cluster started all at once forms in about a second, not in a health interval. */
#define UNKNOWN_RETRY_MS 500

/* Under TLS a channel is for an address and the id expected there ("" until its first
 * answer): the id is what the server's certificate must name. A bootstrap address's unnamed
 * channel stays once a named one replaces it (a call may still be using it). */
struct channel {
	char address[OCTO_MEMBER_ADDRESS_MAX + 1];
	char id[OCTO_NODE_ID_MAX + 1];
	struct octo_rpc_channel *ch;
};

struct octo_peer_cluster {
	const struct octo_config *cfg;
	struct octo_store *store;
	struct octo_journal *journal; /* for the members' lag in the status; may be NULL */
	struct octo_logger *log;
	const struct octo_rpc_tls *tls; /* NULL: plaintext */
	char self_address[OCTO_MEMBER_ADDRESS_MAX + 1];
	pthread_mutex_t lock;           /* members, channels */
	struct octo_peer_ticker ticker; /* the pace of the rounds */
	struct octo_members members;
	struct channel *channels;
	size_t n_channels;
	pthread_t thread;
	int started;
	int channels_full; /* logged that max_connections stopped a channel */
	uint64_t ups;      /* how many times a member came up: the fetcher retries then */
	uint64_t renewals; /* how many times a member answered from a new store */
	struct octo_peer_ticker *up_watchers[4]; /* poked when a member comes up */
	size_t n_up_watchers;
	/* one round */
	char (*targets)[OCTO_MEMBER_ADDRESS_MAX + 1];
	size_t n_targets, next_target;
};

struct octo_peer_cluster *octo_peer_cluster_new(
	const struct octo_config *cfg, const char *self_address, const struct octo_rpc_tls *tls,
	struct octo_store *store, struct octo_journal *journal, struct octo_logger *log)
{
	struct octo_peer_cluster *c = calloc(1, sizeof(*c));
	size_t i;

	if (c == NULL)
		return NULL;
	c->cfg = cfg;
	c->tls = tls;
	c->store = store;
	c->journal = journal;
	c->log = log;
	snprintf(c->self_address, sizeof(c->self_address), "%s", self_address);
	pthread_mutex_init(&c->lock, NULL);
	octo_peer_ticker_init(&c->ticker);
	octo_members_init(&c->members, cfg->p2p.node_id, c->self_address,
			  cfg->p2p.health_check.failure_threshold);
	for (i = 0; i < cfg->p2p.n_bootstrap_peers; i++)
		if (octo_members_learn(&c->members, "", cfg->p2p.bootstrap_peers[i]) < 0) {
			struct octo_log_field f[] = {
				OCTO_LOG_STR("address", cfg->p2p.bootstrap_peers[i])};
			octo_log(log, OCTO_LOG_WARN, "bootstrap peer skipped: not host:port", f, 1);
		}
	return c;
}

static long member_at(const struct octo_members *m, const char *address);

/* Forget id for good (with the lock held): out of the table, noted in the store so that a
 * restart keeps it, its outbox dropped (the journal need keep nothing for it); said once. */
static void forget_locked(struct octo_peer_cluster *c, const char *id)
{
	char cursor[64];

	if (octo_members_forget(&c->members, id) != 1)
		return;
	octo_store_forget_member(c->store, id);
	if (c->journal != NULL) {
		octo_peer_cursor_name(id, cursor, sizeof(cursor));
		octo_journal_cursor_drop(c->journal, cursor);
	}
	{
		struct octo_log_field f[] = {OCTO_LOG_STR("member", id)};
		octo_log(c->log, OCTO_LOG_WARN,
			 "member removed from the cluster for good: never a member again, its "
			 "copies are made again on the others",
			 f, 1);
	}
}

/* The members forgotten in the store (`octoserve-peer forget` writes there while the
 * daemon runs): at the start and at each round. */
static void load_forgotten(struct octo_peer_cluster *c)
{
	struct octo_strv ids;
	size_t i;

	if (octo_store_forgotten_members(c->store, &ids) != OCTO_OK)
		return;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < ids.n; i++)
		forget_locked(c, ids.v[i]);
	pthread_mutex_unlock(&c->lock);
	octo_strv_cleanup(&ids);
}

void octo_peer_cluster_count(struct octo_peer_cluster *c, const char *address,
			     enum octo_peer_traffic what, uint64_t n)
{
	long at;

	pthread_mutex_lock(&c->lock);
	at = member_at(&c->members, address);
	if (at >= 0) {
		struct octo_member *m = &c->members.v[at];
		uint64_t *count = what == OCTO_PEER_SENT_CHANGES    ? &m->sent_changes
				  : what == OCTO_PEER_SENT_BYTES    ? &m->sent_bytes
				  : what == OCTO_PEER_FETCHED_BYTES ? &m->fetched_bytes
				  : what == OCTO_PEER_FAILED_SENDS  ? &m->failed_sends
								    : &m->failed_fetches;
		*count += n;
	}
	pthread_mutex_unlock(&c->lock);
}

void octo_peer_cluster_forget(struct octo_peer_cluster *c, const char *id)
{
	pthread_mutex_lock(&c->lock);
	forget_locked(c, id);
	pthread_mutex_unlock(&c->lock);
}

int octo_peer_cluster_forgotten(struct octo_peer_cluster *c, const char *id)
{
	int yes;

	pthread_mutex_lock(&c->lock);
	yes = octo_members_forgotten(&c->members, id);
	pthread_mutex_unlock(&c->lock);
	return yes;
}

void octo_peer_cluster_forgotten_ids(struct octo_peer_cluster *c, struct octo_strv *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->members.n_forgotten; i++)
		octo_strv_push(out, c->members.forgotten[i], strlen(c->members.forgotten[i]));
	pthread_mutex_unlock(&c->lock);
}

static struct octo_rpc_channel *channel_for(struct octo_peer_cluster *c, const char *address)
{
	long at = c->tls != NULL ? member_at(&c->members, address) : -1;
	const char *id = at >= 0 ? c->members.v[at].id : "";
	struct channel *v;
	size_t i;

	for (i = 0; i < c->n_channels; i++)
		if (strcmp(c->channels[i].address, address) == 0 &&
		    strcmp(c->channels[i].id, id) == 0)
			return c->channels[i].ch;
	if (c->n_channels >= (size_t)c->cfg->p2p.transport.max_connections) {
		if (!c->channels_full) { /* once: the table is what it is */
			struct octo_log_field f[] = {OCTO_LOG_STR("address", address)};
			octo_log(c->log, OCTO_LOG_WARN,
				 "no channel to a peer: p2p.transport.max_connections are open", f,
				 1);
			c->channels_full = 1;
		}
		return NULL;
	}
	v = realloc(c->channels, (c->n_channels + 1) * sizeof(*v));
	if (v == NULL)
		return NULL;
	c->channels = v;
	snprintf(v[c->n_channels].address, sizeof(v[c->n_channels].address), "%s", address);
	snprintf(v[c->n_channels].id, sizeof(v[c->n_channels].id), "%s", id);
	v[c->n_channels].ch = octo_rpc_channel_new(
		address, id, c->tls, (int)c->cfg->p2p.transport.max_message_size,
		c->cfg->p2p.health_check.interval_ms < 2 * UNKNOWN_RETRY_MS
			? (long)c->cfg->p2p.health_check.interval_ms
			: 2 * UNKNOWN_RETRY_MS);
	return v[c->n_channels++].ch;
}

static long member_at(const struct octo_members *m, const char *address)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->v[i].address, address) == 0)
			return (long)i;
	return -1;
}

/* Whether gRPC's detail of a failed call tells of a TLS handshake or certificate check that
 * failed (a refusal), not of a peer that is away. */
static int tls_failed(const char *detail)
{
	return strstr(detail, "andshake failed") != NULL ||
	       strstr(detail, "verification check failed") != NULL;
}

/* One check: a Health call to address, its answer applied to the table. */
/* A member came up (or back): counted, and the threads that wait for one woken, so that
 * what it missed goes to it now rather than at their next period. With the lock held. */
static void came_up(struct octo_peer_cluster *c)
{
	size_t i;

	__atomic_add_fetch(&c->ups, 1, __ATOMIC_RELAXED);
	for (i = 0; i < c->n_up_watchers; i++)
		octo_peer_ticker_poke(c->up_watchers[i]);
}

void octo_peer_cluster_watch_ups(struct octo_peer_cluster *c, struct octo_peer_ticker *t)
{
	pthread_mutex_lock(&c->lock);
	if (c->n_up_watchers < sizeof(c->up_watchers) / sizeof(c->up_watchers[0]))
		c->up_watchers[c->n_up_watchers++] = t;
	pthread_mutex_unlock(&c->lock);
}

void octo_peer_cluster_unwatch_ups(struct octo_peer_cluster *c, struct octo_peer_ticker *t)
{
	size_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->n_up_watchers; i++)
		if (c->up_watchers[i] == t)
			c->up_watchers[i--] = c->up_watchers[--c->n_up_watchers];
	pthread_mutex_unlock(&c->lock);
}

/* A member answering from another store than before was wiped or replaced: what it had is
 * gone, and only anti-entropy can bring back what the outboxes sent it long ago. Noted (and
 * counted, for the syncer to compare with it at once). Called with the lock held. */
static void note_store(struct octo_peer_cluster *c, struct octo_member *m, const char *store)
{
	if (store == NULL || store[0] == '\0' || strcmp(m->store, store) == 0)
		return;
	if (m->store[0] != '\0') {
		struct octo_log_field f[] = {
			OCTO_LOG_STR("member", m->id), OCTO_LOG_STR("address", m->address),
			OCTO_LOG_STR("was", m->store), OCTO_LOG_STR("now", store)};
		octo_log(c->log, OCTO_LOG_WARN,
			 "a member answers from a new store (wiped or replaced): anti-entropy "
			 "rebuilds it",
			 f, 4);
		__atomic_add_fetch(&c->renewals, 1, __ATOMIC_RELAXED);
	}
	snprintf(m->store, sizeof(m->store), "%s", store);
}

static void check(struct octo_peer_cluster *c, const char *address)
{
	Octoserve__Peer__V1__HealthRequest req = OCTOSERVE__PEER__V1__HEALTH_REQUEST__INIT;
	Octoserve__Peer__V1__HealthReply *reply = NULL;
	struct octo_rpc_channel *ch;
	struct octo_rpc_peer peer = {0};
	enum octo_rpc_status status = OCTO_RPC_UNAVAILABLE;
	uint8_t buf[8192], *out = NULL;
	struct octo_strv forgotten;
	char gone[OCTO_NODE_ID_MAX + 1] = ""; /* the forgotten node that answered */
	char detail[256] = "", why[OCTO_NODE_ID_MAX * 2 + 100];
	const char *refused = NULL;
	enum octo_member_state was = OCTO_MEMBER_UNKNOWN;
	size_t len = 0, i;
	long at;

	req.node_id = c->cfg->p2p.node_id;
	req.address = c->self_address;
	req.cluster_id = c->cfg->p2p.cluster_id;
	req.hlc = octo_hlc_tick(0, octo_clock_wall_ms());
	octo_peer_cluster_forgotten_ids(c, &forgotten);
	req.forgotten = forgotten.v;
	req.n_forgotten = forgotten.n;
	ch = octo_peer_cluster_channel(c, address);
	if (ch != NULL && octoserve__peer__v1__health_request__get_packed_size(&req) <= sizeof(buf))
		status = octo_rpc_call(ch, "/octoserve.peer.v1.Peer/Health", buf,
				       octoserve__peer__v1__health_request__pack(&req, buf),
				       (long)c->cfg->p2p.health_check.timeout_ms, &out, &len,
				       detail, sizeof(detail), &peer);
	octo_strv_cleanup(&forgotten);
	if (status == OCTO_RPC_OK)
		reply = octoserve__peer__v1__health_reply__unpack(NULL, len, out);
	free(out);
	for (i = 0; reply != NULL && i < reply->n_forgotten; i++)
		octo_peer_cluster_forget(c, reply->forgotten[i]); /* tombstones spread */
	if (status == OCTO_RPC_PERMISSION_DENIED) {
		refused = detail; /* the peer's reason */
	} else if (reply != NULL && c->tls != NULL &&
		   !octo_member_certified(peer.names, peer.n, reply->node_id)) {
		/* an address whose id was not known: its channel took any certificate of the
		 * CA, so the id claimed is checked here, before it is learned */
		snprintf(why, sizeof(why),
			 "the peer claims node id \"%s\" but its certificate is for \"%s\"",
			 reply->node_id, peer.n > 0 ? peer.names[0] : "");
		refused = why;
	} else if (reply != NULL && octo_peer_cluster_forgotten(c, reply->node_id)) {
		refused =
			"the node there was removed from the cluster for good (octoserve-peer forget)";
		snprintf(gone, sizeof(gone), "%s", reply->node_id);
	} else if (reply != NULL) {
		refused = octo_peer_refusal(c->cfg, reply->cluster_id, reply->hlc, 0);
	} else if (c->tls != NULL && status != OCTO_RPC_OK && tls_failed(detail)) {
		refused = detail; /* gRPC's reason */
	}
	if (refused != NULL && reply != NULL) {
		octoserve__peer__v1__health_reply__free_unpacked(reply, NULL);
		reply = NULL;
	}
	pthread_mutex_lock(&c->lock);
	at = member_at(&c->members, address);
	if (at >= 0) {
		was = c->members.v[at].state;
		/* a forgotten node's answer drops its address's entry (observe returns -1) */
		at = octo_members_observe(&c->members, (size_t)at, reply != NULL || gone[0] != '\0',
					  reply != NULL     ? reply->node_id
					  : gone[0] != '\0' ? gone
							    : NULL,
					  octo_clock_wall_ms());
		if (at < 0 && refused == NULL) { /* not learned again: said once */
			struct octo_log_field f[] = {OCTO_LOG_STR("address", address)};
			octo_log(c->log, OCTO_LOG_INFO, "an address of this node itself: skipped",
				 f, 1);
		}
	}
	if (at >= 0) {
		if (refused != NULL && !c->members.v[at].refused) { /* once a run of them */
			struct octo_log_field f[] = {OCTO_LOG_STR("address", address),
						     OCTO_LOG_STR("reason", refused)};
			octo_log(c->log, OCTO_LOG_WARN,
				 status == OCTO_RPC_PERMISSION_DENIED ? "a peer refused this node"
								      : "a peer was refused",
				 f, 2);
		}
		c->members.v[at].refused = refused != NULL;
		if (refused == NULL && reply == NULL && c->members.v[at].misses == 1) {
			/* the first miss of a run says why (a plaintext node calling a TLS one
			 * learns no more than a closed socket: the callee's log says why) */
			struct octo_log_field f[] = {OCTO_LOG_STR("address", address),
						     OCTO_LOG_STR("reason", detail)};
			octo_log(c->log, OCTO_LOG_WARN, "a peer does not answer", f, 2);
		}
		if (c->members.v[at].state != was) {
			if (c->members.v[at].state == OCTO_MEMBER_UP)
				came_up(c);
			struct octo_log_field f[] = {
				OCTO_LOG_STR("member", c->members.v[at].id),
				OCTO_LOG_STR("address", address),
				OCTO_LOG_STR("state",
					     octo_member_state_name(c->members.v[at].state))};
			octo_log(c->log, OCTO_LOG_INFO, "member state", f, 3);
		}
	}
	if (at >= 0 && reply != NULL)
		note_store(c, &c->members.v[at], reply->store);
	for (i = 0; reply != NULL && i < reply->n_members; i++)
		octo_members_learn(&c->members, reply->members[i]->node_id,
				   reply->members[i]->address);
	pthread_mutex_unlock(&c->lock);
	if (reply != NULL)
		octoserve__peer__v1__health_reply__free_unpacked(reply, NULL);
}

static void *checker(void *arg)
{
	struct octo_peer_cluster *c = arg;

	for (;;) {
		size_t i;
		pthread_mutex_lock(&c->lock);
		i = c->next_target < c->n_targets ? c->next_target++ : c->n_targets;
		pthread_mutex_unlock(&c->lock);
		if (i == c->n_targets)
			return NULL;
		check(c, c->targets[i]);
	}
}

void octo_peer_cursor_name(const char *id, char *buf, size_t size)
{
	struct octo_digest d;

	octo_digest_of(OCTO_DIGEST_SHA256, id, strlen(id), &d);
	snprintf(buf, size, "peer-%.32s", d.hex);
}

static int first_time(void *ctx, uint64_t seq, const char *line, size_t len)
{
	struct octo_event ev;
	const char *why;

	(void)seq;
	if (octo_event_parse(line, len, &ev, &why) == 0) {
		*(uint64_t *)ctx = ev.time_ms;
		octo_event_cleanup(&ev);
	}
	return 1; /* the first event is enough */
}

/* What member id has still to receive: events after its cursor, and since when. */
static void add_lag(struct octo_peer_cluster *c, json_t *m, uint64_t last, uint64_t now_ms)
{
	const char *id = json_string_value(json_object_get(m, "id"));
	char cursor[64];
	uint64_t at = 0, since = 0;

	if (c->journal == NULL || id == NULL || id[0] == '\0')
		return;
	octo_peer_cursor_name(id, cursor, sizeof(cursor));
	if (octo_journal_cursor_get(c->journal, cursor, &at) != OCTO_OK &&
	    octo_journal_cursor_get(c->journal, OCTO_PEER_FLOOR_CURSOR, &at) != OCTO_OK)
		at = 0; /* a member new to this journal: from the floor, as replicate sends */
	if (last > at)
		octo_journal_scan(c->journal, at, first_time, &since);
	json_object_set_new(m, "lag_events", json_integer((json_int_t)(last > at ? last - at : 0)));
	json_object_set_new(
		m, "lag_s",
		json_real(since > 0 && now_ms > since ? (double)(now_ms - since) / 1000.0 : 0.0));
}

/* The table as JSON in the store, for `octoserve-peer status`: the members, what each has
 * still to receive (the journal and its cursor are its outbox), and the fetch queue. */
static void write_status(struct octo_peer_cluster *c)
{
	uint64_t now = octo_clock_wall_ms(), last = 0;
	json_t *o = json_pack("{s:s,s:s,s:I,s:[]}", "node", c->cfg->p2p.node_id, "address",
			      c->self_address, "time_ms", (json_int_t)now, "members"),
	       *a = json_object_get(o, "members"), *row;
	size_t wanted = 0;
	char *text;
	size_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; a != NULL && i < c->members.n; i++) {
		const struct octo_member *m = &c->members.v[i];
		json_array_append_new(
			a,
			json_pack("{s:s,s:s,s:s,s:i,s:I,s:I,s:s,s:I,s:I,s:I,s:I,s:I}", "id", m->id,
				  "address", m->address, "state", octo_member_state_name(m->state),
				  "misses", m->misses, "last_seen_ms", (json_int_t)m->last_seen_ms,
				  "changed_ms", (json_int_t)m->changed_ms, "store", m->store,
				  "sent_changes", (json_int_t)m->sent_changes, "sent_bytes",
				  (json_int_t)m->sent_bytes, "fetched_bytes",
				  (json_int_t)m->fetched_bytes, "failed_sends",
				  (json_int_t)m->failed_sends, "failed_fetches",
				  (json_int_t)m->failed_fetches));
	}
	pthread_mutex_unlock(&c->lock);
	if (c->journal != NULL && octo_journal_last(c->journal, &last) != OCTO_OK)
		last = 0;
	json_array_foreach(a, i, row)
	{
		add_lag(c, row, last, now);
	}
	if (o != NULL &&
	    octo_store_count(c->store, OCTO_WANTED_DIR, NULL, OCTO_OK, &wanted) == OCTO_OK)
		json_object_set_new(o, "fetch_queue", json_integer((json_int_t)wanted));
	if (o != NULL)
		json_object_set_new(o, "conflicts_resolved",
				    json_integer((json_int_t)octo_store_lost(c->store)));
	text = o != NULL ? json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(o);
	if (text == NULL || octo_store_write_atomic(c->store, OCTO_PEER_STATUS_REL, text,
						    strlen(text), 0) != OCTO_OK)
		octo_log(c->log, OCTO_LOG_WARN, "the status file cannot be written", NULL, 0);
	free(text);
}

static void round_of_checks(struct octo_peer_cluster *c)
{
	pthread_t threads[64];
	size_t i, n;

	load_forgotten(c);
	pthread_mutex_lock(&c->lock);
	free(c->targets);
	c->n_targets = 0;
	c->next_target = 0;
	c->targets = calloc(c->members.n + 1, sizeof(*c->targets));
	for (i = 0; c->targets != NULL && i < c->members.n; i++)
		strcpy(c->targets[c->n_targets++], c->members.v[i].address);
	pthread_mutex_unlock(&c->lock);
	n = (size_t)c->cfg->p2p.health_check.workers;
	if (n > c->n_targets)
		n = c->n_targets;
	if (n > sizeof(threads) / sizeof(threads[0]))
		n = sizeof(threads) / sizeof(threads[0]);
	for (i = 0; i < n; i++)
		if (pthread_create(&threads[i], NULL, checker, c) != 0)
			break;
	n = i;
	if (n == 0)
		checker(c); /* no thread to be had: this one */
	for (i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	write_status(c);
}

static long next_round_ms(struct octo_peer_cluster *c, size_t known_before)
{
	long ms = (long)c->cfg->p2p.health_check.interval_ms;
	size_t i;

	pthread_mutex_lock(&c->lock);
	if (c->members.n > known_before)
		ms = 0; /* members just learned are checked at once: peer exchange spreads faster */
	for (i = 0; i < c->members.n; i++)
		if (c->members.v[i].last_seen_ms == 0 && ms > UNKNOWN_RETRY_MS)
			ms = UNKNOWN_RETRY_MS;
	pthread_mutex_unlock(&c->lock);
	return ms;
}

static void *rounds(void *arg)
{
	struct octo_peer_cluster *c = arg;

	size_t known;

	do {
		pthread_mutex_lock(&c->lock);
		known = c->members.n;
		pthread_mutex_unlock(&c->lock);
		round_of_checks(c);
	} while (octo_peer_ticker_wait(&c->ticker, next_round_ms(c, known)));
	return NULL;
}

int octo_peer_cluster_start(struct octo_peer_cluster *c)
{
	if (pthread_create(&c->thread, NULL, rounds, c) != 0)
		return -1;
	c->started = 1;
	return 0;
}

void octo_peer_cluster_free(struct octo_peer_cluster *c)
{
	size_t i;

	if (c == NULL)
		return;
	if (c->started) {
		octo_peer_ticker_stop(&c->ticker);
		pthread_join(c->thread, NULL);
	}
	for (i = 0; i < c->n_channels; i++)
		octo_rpc_channel_free(c->channels[i].ch);
	free(c->channels);
	free(c->targets);
	octo_members_cleanup(&c->members);
	pthread_mutex_destroy(&c->lock);
	octo_peer_ticker_destroy(&c->ticker);
	free(c);
}

struct octo_rpc_channel *octo_peer_cluster_channel(struct octo_peer_cluster *c, const char *address)
{
	struct octo_rpc_channel *ch;

	pthread_mutex_lock(&c->lock);
	ch = channel_for(c, address);
	pthread_mutex_unlock(&c->lock);
	return ch;
}

int octo_peer_cluster_learn(struct octo_peer_cluster *c, const char *address)
{
	int grew;

	pthread_mutex_lock(&c->lock);
	grew = octo_members_learn(&c->members, "", address);
	pthread_mutex_unlock(&c->lock);
	if (grew > 0) /* the rounds wait no health interval for it */
		octo_peer_ticker_poke(&c->ticker);
	return grew;
}

void octo_peer_cluster_heard(struct octo_peer_cluster *c, const char *id, const char *address)
{
	long at;

	pthread_mutex_lock(&c->lock);
	/* a call is an answer too: the caller is up now, and others learn it from us at once;
	 * but under TLS the address it gives is its word only, so it is up once a call there
	 * found its certificate */
	if (octo_members_learn(&c->members, id, address) >= 0 && c->tls == NULL &&
	    (at = member_at(&c->members, address)) >= 0) {
		enum octo_member_state was = c->members.v[at].state;
		at = octo_members_observe(&c->members, (size_t)at, 1, id, octo_clock_wall_ms());
		if (at >= 0 && was != OCTO_MEMBER_UP && c->members.v[at].state == OCTO_MEMBER_UP)
			came_up(c);
	}
	pthread_mutex_unlock(&c->lock);
}

const char *octo_peer_refusal(const struct octo_config *cfg, const char *cluster_id, uint64_t hlc,
			      int caller)
{
	if (strcmp(cluster_id, cfg->p2p.cluster_id) != 0)
		return "another cluster: p2p.cluster_id differs";
	if (octo_hlc_ms(hlc) > octo_clock_wall_ms() + (uint64_t)cfg->p2p.max_clock_offset_ms)
		return caller ? "clock ahead: the caller's clock runs more than p2p.max_clock_offset "
				"ahead of the callee's"
			      : "clock ahead: the peer's clock runs more than p2p.max_clock_offset "
				"ahead of this node's";
	return NULL;
}

uint64_t octo_peer_cluster_ups(struct octo_peer_cluster *c)
{
	return __atomic_load_n(&c->ups, __ATOMIC_RELAXED);
}

uint64_t octo_peer_cluster_renewals(struct octo_peer_cluster *c)
{
	return __atomic_load_n(&c->renewals, __ATOMIC_RELAXED);
}

void octo_peer_cluster_view(struct octo_peer_cluster *c, struct octo_peer_view *out)
{
	uint64_t now = octo_clock_wall_ms();
	size_t i;

	out->n = 0;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->members.n && out->n < OCTO_PEER_VIEW_MAX; i++) {
		const struct octo_member *m = &c->members.v[i];
		if (m->id[0] == '\0')
			continue;
		memcpy(out->v[out->n].id, m->id, sizeof(m->id));
		memcpy(out->v[out->n].address, m->address, sizeof(m->address));
		out->v[out->n].up = m->state == OCTO_MEMBER_UP;
		out->v[out->n].placed = octo_member_placed(
			m, now, (uint64_t)c->cfg->p2p.replication.grace_period_ms);
		out->n++;
	}
	pthread_mutex_unlock(&c->lock);
}

size_t octo_peer_view_holders(const struct octo_peer_view *view, const char *self,
			      const struct octo_digest *d, int factor,
			      size_t holders[OCTO_PEER_VIEW_MAX + 1])
{
	const char *ids[OCTO_PEER_VIEW_MAX + 1];
	size_t at[OCTO_PEER_VIEW_MAX + 1], i, n = 1, k;

	ids[0] = self;
	at[0] = 0;
	for (i = 0; i < view->n; i++)
		if (view->v[i].placed) {
			ids[n] = view->v[i].id;
			at[n++] = i + 1;
		}
	k = octo_placement_holders(d, ids, n, (size_t)factor, holders);
	for (i = 0; i < k; i++)
		holders[i] = at[holders[i]]; /* back to indexes into {self, view} */
	return k;
}

int octo_peer_view_holds(const struct octo_peer_view *view, const char *self,
			 const struct octo_digest *d, int factor)
{
	size_t holders[OCTO_PEER_VIEW_MAX + 1], n, i;

	n = octo_peer_view_holders(view, self, d, factor, holders);
	for (i = 0; i < n; i++)
		if (holders[i] == 0)
			return 1;
	return 0;
}

void octo_peer_cluster_each_up(struct octo_peer_cluster *c,
			       void (*fn)(void *ctx, const char *id, const char *address),
			       void *ctx)
{
	size_t i;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->members.n; i++)
		if (c->members.v[i].state == OCTO_MEMBER_UP)
			fn(ctx, c->members.v[i].id, c->members.v[i].address);
	pthread_mutex_unlock(&c->lock);
}
