/* SPDX-License-Identifier: Apache-2.0 */
/* octoserve-peer: the daemon that joins nodes into one registry (doc/DESIGN.md
 * "Clustering"). It reads the responder's configuration file, serves the Peer service of
 * proto/peer.proto on p2p.port over the store, checks its members' health, replicates the
 * journal's changes to them, and stops on SIGTERM or SIGINT. */
#include "autoconfig.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <jansson.h>
#include <time.h>

#include "bucket.h"
#include "cluster.h"
#include "config.h"
#include "discover.h"
#include "journal.h"
#include "log.h"
#include "fetch.h"
#include "gcplan.h"
#include "replicate.h"
#include "watch.h"
#include "rpc.h"
#include "service.h"
#include "quorum.h"
#include "sync.h"
#include "store.h"
#include "store-member.h"

/* The largest Fetch chunk (doc/notes/grpc-c-core.md: 1 MiB chunks work well). */
#define CHUNK_MAX (1024 * 1024)
/* What a Chunk adds around its data, with room to spare. */
#define CHUNK_OVERHEAD 64
/* Worker threads of the gRPC server. */
#define WORKERS 2
/* How long calls in flight may finish at a stop. */
#define STOP_GRACE_MS 5000

extern char **environ;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: octoserve-peer [-c FILE] [--check-config]\n"
		"       octoserve-peer [-c FILE] status [--json]\n"
		"       octoserve-peer [-c FILE] forget NODE\n"
		"  -c FILE          configuration file (default: none, built-in defaults)\n"
		"  --check-config   validate the configuration and exit\n"
		"  status           the members the running daemon knows, as it last saw them\n"
		"  forget NODE      remove member NODE from the cluster for good (its copies are\n"
		"                   made again on the others; it is never a member again)\n");
}

/* `status`: the daemon's last status file, as it is (--json) or as a table. */
static int status(const struct octo_config *cfg, int as_json)
{
	char path[4096], when[32];
	json_t *o, *m, *sync;
	size_t i;
	time_t t;

	snprintf(path, sizeof(path), "%s/%s", cfg->storage.path, OCTO_PEER_STATUS_REL);
	o = json_load_file(path, 0, NULL);
	if (!json_is_object(o)) {
		fprintf(stderr,
			"octoserve-peer: no status in %s: is the daemon running on this store?\n",
			path);
		json_decref(o);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s", cfg->storage.path, OCTO_PEER_SYNC_STATUS_REL);
	sync = json_load_file(path, 0, NULL);
	if (json_is_object(sync))
		json_object_set(o, "anti_entropy", sync);
	if (as_json) {
		json_decref(sync);
		json_dumpf(o, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(o);
		return 0;
	}
	t = (time_t)(json_integer_value(json_object_get(o, "time_ms")) / 1000);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	printf("node %s at %s, as of %s\n", json_string_value(json_object_get(o, "node")),
	       json_string_value(json_object_get(o, "address")), when);
	printf("%-24s %-24s %-8s %-21s %s\n", "MEMBER", "ADDRESS", "STATE", "LAST SEEN",
	       "TO SEND (events, oldest)");
	json_array_foreach(json_object_get(o, "members"), i, m)
	{
		long long seen = json_integer_value(json_object_get(m, "last_seen_ms"));
		t = (time_t)(seen / 1000);
		if (seen > 0)
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
		printf("%-24s %-24s %-8s %-21s %lld, %.1f s\n",
		       json_string_value(json_object_get(m, "id")),
		       json_string_value(json_object_get(m, "address")),
		       json_string_value(json_object_get(m, "state")), seen > 0 ? when : "never",
		       (long long)json_integer_value(json_object_get(m, "lag_events")),
		       json_real_value(json_object_get(m, "lag_s")));
	}
	printf("fetch queue: %lld blob(s) wanted from peers\n",
	       (long long)json_integer_value(json_object_get(o, "fetch_queue")));
	if (json_is_object(sync)) {
		t = (time_t)(json_integer_value(json_object_get(sync, "at_ms")) / 1000);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
		printf("last anti-entropy round: %s, %lld ms, %lld member(s) compared, %lld "
		       "differing; repaired %lld record(s), wanted %lld blob(s), dropped %lld "
		       "surplus cop(ies); %lld blob(s) this node should hold and lacks\n",
		       when, (long long)json_integer_value(json_object_get(sync, "took_ms")),
		       (long long)json_integer_value(json_object_get(sync, "members")),
		       (long long)json_integer_value(json_object_get(sync, "differing")),
		       (long long)json_integer_value(json_object_get(sync, "records_repaired")),
		       (long long)json_integer_value(json_object_get(sync, "blobs_wanted")),
		       (long long)json_integer_value(json_object_get(sync, "copies_dropped")),
		       (long long)json_integer_value(json_object_get(sync, "under_replicated")));
	} else {
		printf("last anti-entropy round: none yet\n");
	}
	json_decref(sync);
	json_decref(o);
	return 0;
}

/* `forget NODE`: the membership tombstone in this node's store, which its daemon takes at
 * its next round and spreads to every member in its health checks. */
static int forget(const struct octo_config *cfg, const char *id)
{
	struct octo_store *store;
	enum octo_err err;

	if (strcmp(id, cfg->p2p.node_id) == 0) {
		fprintf(stderr, "octoserve-peer: %s is this node: forget it from another one\n",
			id);
		return 1;
	}
	if (octo_store_open(cfg->storage.path, &store) != OCTO_OK) {
		fprintf(stderr, "octoserve-peer: the store at %s cannot be opened\n",
			cfg->storage.path);
		return 1;
	}
	err = octo_store_forget_member(store, id);
	octo_store_free(store);
	if (err == OCTO_ERR_NAME_INVALID) {
		fprintf(stderr, "octoserve-peer: %s is not a node id\n", id);
		return 1;
	}
	if (err != OCTO_OK) {
		fprintf(stderr, "octoserve-peer: %s could not be noted: %s\n", id,
			octo_err_code(err));
		return 1;
	}
	printf("%s is removed from the cluster for good: the daemon stops taking it as a member "
	       "at its next health round and tells every member, and its copies are made again "
	       "on the others\n",
	       id);
	return 0;
}

/* Where peers reach this node: p2p.advertise_address, else the listen address and port (the
 * host name for a wildcard listen address, which no peer could dial). */
static void advertised(const struct octo_config *cfg, char *buf, size_t size)
{
	char host[200]; /* with ":port", within an address's 255 */

	if (cfg->p2p.advertise_address[0] != '\0') {
		snprintf(buf, size, "%s", cfg->p2p.advertise_address);
		return;
	}
	if (strcmp(cfg->p2p.listen_address, "0.0.0.0") == 0 &&
	    gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		snprintf(buf, size, "%s:%d", host, cfg->p2p.port);
		return;
	}
	snprintf(buf, size, "%s:%d", cfg->p2p.listen_address, cfg->p2p.port);
}

int main(int argc, char **argv)
{
	const char *config_path = NULL;
	struct octo_peer_service svc = {0};
	struct octo_peer_replicator *replicator = NULL;
	struct octo_peer_fetcher *fetcher = NULL;
	struct octo_peer_syncer *syncer = NULL;
	struct octo_peer_quorum *strong = NULL;
	struct octo_peer_collector *collector = NULL;
	struct octo_peer_discovery *discovery = NULL;
	struct octo_peer_watch *watch = NULL;
	struct octo_rpc_server *srv;
	struct octo_rpc_tls *tls = NULL;
	struct octo_logger *log;
	struct octo_config cfg;
	char errbuf[512], unknown[1024], addr[300], advertise[OCTO_MEMBER_ADDRESS_MAX + 1];
	char why[512] = "";
	int i, check_only = 0, show_status = 0, as_json = 0, port, sig, rc = 0;
	const char *forget_id = NULL;
	size_t n_unknown;
	sigset_t set;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			config_path = argv[++i];
		} else if (strcmp(argv[i], "--check-config") == 0) {
			check_only = 1;
		} else if (strcmp(argv[i], "status") == 0) {
			show_status = 1;
		} else if (strcmp(argv[i], "forget") == 0 && i + 1 < argc) {
			forget_id = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0 && show_status) {
			as_json = 1;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("octoserve-peer (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return 0;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (octo_config_load(&cfg, config_path, NULL, errbuf, sizeof(errbuf)) != OCTO_OK) {
		fprintf(stderr, "octoserve-peer: %s\n", errbuf);
		return 1;
	}
	n_unknown = octo_config_env_unknown(environ, unknown, sizeof(unknown));
	if (check_only) {
		if (n_unknown > 0)
			fprintf(stderr, "octoserve-peer: not configuration variables: %s\n",
				unknown);
		octo_config_cleanup(&cfg);
		return n_unknown > 0;
	}
	if (show_status) {
		rc = status(&cfg, as_json);
		octo_config_cleanup(&cfg);
		return rc;
	}
	if (forget_id != NULL) {
		rc = forget(&cfg, forget_id);
		octo_config_cleanup(&cfg);
		return rc;
	}
	if (!cfg.p2p.enabled) {
		fprintf(stderr, "octoserve-peer: p2p.enabled is false: this node is not in a "
				"cluster, there is nothing to run\n");
		octo_config_cleanup(&cfg);
		return 1;
	}
	log = octo_logger_new(cfg.logging.level, cfg.logging.format, cfg.logging.output, errbuf,
			      sizeof(errbuf));
	if (log == NULL) {
		fprintf(stderr, "octoserve-peer: %s\n", errbuf);
		octo_config_cleanup(&cfg);
		return 1;
	}
	if (octo_store_open(cfg.storage.path, &svc.store) != OCTO_OK ||
	    octo_bucket_attach(svc.store, &cfg, 0, why, sizeof(why)) != OCTO_OK ||
	    octo_journal_open(svc.store, cfg.p2p.node_id,
			      (uint64_t)cfg.storage.journal_segment_size,
			      &svc.journal) != OCTO_OK) {
		struct octo_log_field f[] = {OCTO_LOG_STR("path", cfg.storage.path),
					     OCTO_LOG_STR("error", why)};
		octo_log(log, OCTO_LOG_ERROR, "the store cannot be opened", f, 2);
		rc = 1;
		goto closed;
	}
	if (octo_peer_syncer_rejoin(&cfg, svc.store, svc.journal, log) != 0) {
		rc = 1;
		goto closed;
	}
	svc.cfg = &cfg;
	svc.log = log;
	svc.chunk_size = (size_t)cfg.p2p.transport.max_message_size - CHUNK_OVERHEAD;
	if (svc.chunk_size > CHUNK_MAX)
		svc.chunk_size = CHUNK_MAX;
	/* Signals are taken by sigwait here, never by gRPC's threads. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	grpc_init();
	octo_rpc_log_to(log);
	if (cfg.p2p.tls.cert != NULL &&
	    (tls = octo_rpc_tls_new(cfg.p2p.tls.cert, cfg.p2p.tls.key, cfg.p2p.tls.ca, errbuf,
				    sizeof(errbuf))) == NULL) {
		struct octo_log_field f[] = {OCTO_LOG_STR("reason", errbuf)};
		octo_log(log, OCTO_LOG_ERROR, "mutual TLS cannot be set up (p2p.tls)", f, 1);
		rc = 1;
		goto closed;
	}
	/* Loopback by default: unless peers authenticate each other (mutual TLS), anyone who
	 * reaches the port can read every blob and write every name. */
	snprintf(addr, sizeof(addr), "%s:%d", cfg.p2p.listen_address, cfg.p2p.port);
	advertised(&cfg, advertise, sizeof(advertise));
	if (tls == NULL && strcmp(cfg.p2p.listen_address, "127.0.0.1") != 0 &&
	    strcmp(cfg.p2p.listen_address, "localhost") != 0) {
		struct octo_log_field f[] = {OCTO_LOG_STR("address", addr)};
		octo_log(
			log, OCTO_LOG_WARN,
			"the peer port is open beyond loopback without TLS: whoever reaches it can "
			"read every blob and write every name",
			f, 1);
	}
	if (octo_rpc_server_start(addr, tls, octo_peer_methods, octo_peer_n_methods, &svc, WORKERS,
				  (int)cfg.p2p.transport.max_message_size,
				  cfg.p2p.transport.max_connections,
				  (long)cfg.p2p.transport.idle_timeout_ms, &srv, &port) != 0) {
		struct octo_log_field f[] = {OCTO_LOG_STR("address", addr)};
		octo_log(log, OCTO_LOG_ERROR, "the peer port cannot be bound", f, 1);
		octo_rpc_tls_free(tls);
		rc = 1;
		goto closed;
	}
	watch = octo_peer_watch_start();
	if (watch == NULL)
		octo_log(log, OCTO_LOG_WARN,
			 "no inotify: the journal and the fetch queue are polled", NULL, 0);
	svc.cluster = octo_peer_cluster_new(&cfg, advertise, tls, svc.store, svc.journal, log);
	if (svc.cluster == NULL || octo_peer_cluster_start(svc.cluster) != 0 ||
	    (strcmp(cfg.p2p.discovery.method, "dns") == 0 &&
	     (discovery = octo_peer_discovery_start(&cfg, svc.cluster, log)) == NULL) ||
	    (replicator = octo_peer_replicator_start(&cfg, svc.store, svc.journal, svc.cluster,
						     watch, log)) == NULL ||
	    (fetcher = octo_peer_fetcher_start(&cfg, svc.store, svc.cluster, watch, log)) == NULL ||
	    (syncer = octo_peer_syncer_start(&cfg, svc.store, svc.journal, svc.cluster, log)) ==
		    NULL ||
	    (strong = octo_peer_quorum_start(&cfg, svc.store, svc.journal, svc.cluster, watch,
					     log)) == NULL ||
	    (collector = octo_peer_collector_start(&cfg, svc.store, svc.cluster, log)) == NULL) {
		octo_log(log, OCTO_LOG_ERROR,
			 "the health checks, the discovery or the replication cannot start", NULL,
			 0);
		rc = 1;
	} else {
		struct octo_log_field f[] = {OCTO_LOG_STR("address", addr),
					     OCTO_LOG_STR("advertised", advertise),
					     OCTO_LOG_STR("node", cfg.p2p.node_id),
					     OCTO_LOG_STR("tls", tls != NULL ? "mutual" : "none")};
		__atomic_store_n(&svc.syncer, syncer, __ATOMIC_RELEASE);
		octo_log(log, OCTO_LOG_INFO, "peer daemon started", f, 4);
		sigwait(&set, &sig);
	}
	__atomic_store_n(&svc.syncer, NULL, __ATOMIC_RELEASE);
	octo_peer_watch_stop(watch); /* first: it pokes the others' tickers */
	octo_peer_collector_stop(collector);
	octo_peer_quorum_stop(strong);
	octo_peer_fetcher_stop(fetcher);
	octo_peer_replicator_stop(replicator);
	octo_peer_discovery_stop(discovery); /* before the cluster it feeds */
	octo_rpc_server_stop(srv, STOP_GRACE_MS);
	octo_peer_syncer_stop(syncer); /* after the calls that may read its summary */
	octo_peer_cluster_free(svc.cluster);
	octo_rpc_tls_free(tls); /* after every channel */
	octo_log(log, OCTO_LOG_INFO, "peer daemon stopped", NULL, 0);
closed: /* the way out of a start that failed, too */
	octo_journal_close(svc.journal);
	octo_store_free(svc.store);
	octo_logger_free(log);
	octo_config_cleanup(&cfg);
	return rc; /* grpc_shutdown can block for seconds after cancels: the exit frees all */
}
