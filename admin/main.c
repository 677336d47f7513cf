/* SPDX-License-Identifier: Apache-2.0 */
/* octoserve-admin: the operator's tool over the library (doc/DESIGN.md "Operations"): garbage
 * collection, the purge of expired uploads, scrub, stats and the configuration check, each
 * once; and `serve`, the one long-running process for what runs periodically. Every decision
 * is the library's; this program parses options, shows progress on a terminal and prints
 * results (a summary, or JSON with --json). */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "bounds.h"
#include "bucket.h"
#include "clock.h"
#include "collect.h"
#include "auth.h"
#include "config.h"
#include "fsutil.h"
#include "gc.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "notifier.h"
#include "notify.h"
#include "registry.h"
#include "retention.h"
#include "scrub.h"
#include "strong.h"
#include "store-blob.h"
#include "store-repo.h"
#include "upload.h"

extern char **environ;

/* How long a collection in a cluster waits for every member's plan. */
#define COLLECT_WAIT_MS (10 * 60 * 1000)

/* How long a collection in a cluster waits for every member's plan. */
#define COLLECT_WAIT_MS (10 * 60 * 1000)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: octoserve-admin [-c FILE] COMMAND [OPTIONS]\n"
		"  gc [--dry-run] [--delete-untagged] [--grace DURATION] [--json]\n"
		"                 remove what nothing references (storage.gc.*)\n"
		"  purge-uploads [--dry-run] [--older-than DURATION] [--json]\n"
		"                 remove expired upload sessions (storage.upload_ttl)\n"
		"  retention [--dry-run] [--json]\n"
		"                 remove the tags storage.retention.rules do not keep\n"
		"  scrub [--dry-run] [--json]\n"
		"                 hash every blob and manifest again; quarantine what is damaged\n"
		"  stats [--json] what the store holds, and what the last runs found\n"
		"  check-config   validate the configuration and exit\n"
		"  serve          run gc, scrub and the purge periodically until SIGTERM\n"
		"  -c FILE        configuration file (default: none, built-in defaults)\n");
}

struct opts {
	const char *config;
	const char *command;
	int dry_run, json, delete_untagged;
	int64_t grace_ms, older_than_ms; /* -1: from the configuration */
};

/* Everything a command needs: the configuration, the store and its journal and counters. */
struct admin {
	struct opts o;
	struct octo_config cfg;
	struct octo_logger *log;
	struct octo_store *store;
	struct octo_journal *journal;
	struct octo_metrics *metrics;
	int streaming;  /* --json with items: they go to stdout as they come ("items" first) */
	size_t n_items; /* written so far */
	int printed;    /* the result is out */
	/* progress on a terminal */
	int tty;
	uint64_t began_ms, shown_ms;
};

static void fail(const char *what)
{
	char cause[512] = "";

	octo_fs_failure(cause, sizeof(cause));
	fprintf(stderr, "octoserve-admin: %s%s%s\n", what, cause[0] ? ": " : "", cause);
}

/* "mark 1200/5000  310/s  12s left", redrawn at most ten times a second on stderr. */
static void progress(void *ctx, const char *phase, uint64_t done, uint64_t total)
{
	struct admin *a = ctx;
	uint64_t now = octo_clock_wall_ms();
	double rate, secs;

	if (!a->tty || (now - a->shown_ms < 100 && done < total))
		return;
	a->shown_ms = now;
	secs = (double)(now - a->began_ms) / 1000.0;
	rate = secs > 0 ? (double)done / secs : 0;
	fprintf(stderr, "\r\033[K%s %" PRIu64 "/%" PRIu64 "  %.0f/s", phase, done, total, rate);
	if (rate > 0 && total > done)
		fprintf(stderr, "  %.0fs left", (double)(total - done) / rate);
	if (done >= total)
		fputc('\n', stderr);
}

/* One item of the JSON result, written at once: a collection of a million blobs holds none in
 * memory. */
static void put_item(struct admin *a, json_t *item)
{
	char *text = item != NULL ? json_dumps(item, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(item);
	if (text == NULL)
		return;
	printf("%s\n  %s", a->n_items++ == 0 ? "" : ",", text);
	free(text);
}

static void removed(void *ctx, const char *kind, const char *repo, const char *digest,
		    uint64_t size)
{
	struct admin *a = ctx;

	if (a->o.json) {
		put_item(a, json_pack("{s:s,s:s,s:s,s:I}", "kind", kind, "repository", repo,
				      "digest", digest, "size", (json_int_t)size));
		return;
	}
	if (a->o.dry_run || a->log == NULL)
		printf("%s %s %s%s%s (%" PRIu64 " bytes)\n",
		       a->o.dry_run ? "would remove" : "removed", kind, repo, repo[0] ? " " : "",
		       digest, size);
}

static void corrupt(void *ctx, const char *digest, const char *why)
{
	struct admin *a = ctx;

	if (a->o.json)
		put_item(a, json_pack("{s:s,s:s}", "digest", digest, "found", why));
	else
		printf("corrupt %s: %s\n", digest, why);
	if (a->log != NULL) {
		struct octo_log_field f[] = {OCTO_LOG_STR("digest", digest),
					     OCTO_LOG_STR("found", why)};
		octo_log(a->log, OCTO_LOG_ERROR, "scrub: content is not its digest", f, 2);
	}
}

/* Print a JSON result on stdout: after the items written so far, when there are any. */
static void print_json(struct admin *a, json_t *o)
{
	char *text = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER);

	json_decref(o);
	if (text == NULL)
		return;
	a->printed = 1;
	if (a->streaming) /* the object's members after the items array: its '{' was written */
		printf("%s],\n%s\n", a->n_items > 0 ? "\n " : "",
		       text[1] == '\n' ? text + 2 : text + 1);
	else
		printf("%s\n", text);
	free(text);
}

static json_t *gc_json(const struct octo_gc_result *r)
{
	return json_pack(
		"{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "dry_run",
		(int)r->dry_run, "started_ms", (json_int_t)r->started_ms, "mark_ms",
		(json_int_t)r->mark_ms, "sweep_ms", (json_int_t)r->sweep_ms, "repositories",
		(json_int_t)r->repositories, "manifests", (json_int_t)r->manifests, "links",
		(json_int_t)r->links, "blobs", (json_int_t)r->blobs, "manifests_removed",
		(json_int_t)r->manifests_removed, "links_removed", (json_int_t)r->links_removed,
		"blobs_removed", (json_int_t)r->blobs_removed, "bytes_freed",
		(json_int_t)r->bytes_freed, "kept_in_grace", (json_int_t)r->kept_in_grace,
		"skipped_repositories", (json_int_t)r->skipped_repositories, "kept_for_cluster",
		(json_int_t)r->kept_for_cluster);
}

static json_t *scrub_json(const struct octo_scrub_result *r)
{
	return json_pack("{s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "dry_run", (int)r->dry_run,
			 "started_ms", (json_int_t)r->started_ms, "duration_ms",
			 (json_int_t)r->duration_ms, "blobs", (json_int_t)r->blobs, "bytes",
			 (json_int_t)r->bytes, "corrupt", (json_int_t)r->corrupt, "quarantined",
			 (json_int_t)r->quarantined, "refetching", (json_int_t)r->refetching);
}

/* Whether this store may be changed by an operation at all; why not on stderr. */
static int may_change(const struct admin *a, const char *what)
{
	if (a->cfg.storage.readonly && !a->o.dry_run) {
		fprintf(stderr,
			"octoserve-admin: storage.readonly is set: %s would change the store (try "
			"--dry-run)\n",
			what);
		return 0;
	}
	return 1;
}

static int run_gc(struct admin *a)
{
	struct octo_gc_options go = {
		.grace_ms = a->o.grace_ms >= 0 ? a->o.grace_ms : a->cfg.storage.gc.grace_ms,
		.delete_untagged = a->o.delete_untagged || a->cfg.storage.gc.delete_untagged,
		.remove_orphan_referrers = strcmp(a->cfg.storage.gc.referrers, "remove") == 0,
		.dry_run = a->o.dry_run,
		.max_manifest_size = (size_t)a->cfg.storage.max_manifest_size,
		.progress = progress,
		.removed = removed,
		.ctx = a};
	struct octo_strv agreed = {0};
	struct octo_gc_result r;
	enum octo_err err;

	if (!may_change(a, "gc"))
		return 1;
	if (a->cfg.p2p.enabled) { /* only what every member agrees to (collect.h) */
		struct octo_collect_request cr = {
			go.grace_ms, go.delete_untagged, go.remove_orphan_referrers, {0}};
		char why[512] = "";
		err = octo_gc_candidates(a->store, a->journal, &go, &cr.items);
		if (err == OCTO_OK)
			err = octo_collect_ask(a->store, &cr, COLLECT_WAIT_MS, &agreed, why,
					       sizeof(why));
		octo_collect_request_cleanup(&cr);
		if (err != OCTO_OK && why[0] == '\0') {
			octo_strv_cleanup(&agreed);
			fail("gc failed");
			return 1;
		}
		if (err != OCTO_OK) {
			if (a->log != NULL) {
				struct octo_log_field f[] = {OCTO_LOG_STR("reason", why)};
				octo_log(a->log, OCTO_LOG_WARN, "gc: the cluster refused", f, 1);
			} else {
				fprintf(stderr, "octoserve-admin: gc: %s: nothing removed\n", why);
			}
			octo_strv_cleanup(&agreed);
			return 1;
		}
		go.agreed = &agreed;
	}
	a->began_ms = octo_clock_wall_ms();
	err = octo_gc_run(a->store, a->journal, &go, &r);
	octo_strv_cleanup(&agreed);
	if (err == OCTO_ERR_SESSION_BUSY) {
		fprintf(stderr, "octoserve-admin: another garbage collection is running on %s\n",
			a->cfg.storage.path);
		return 1;
	}
	if (err != OCTO_OK) {
		fail("gc failed");
		return 1;
	}
	if (a->o.json) {
		print_json(a, gc_json(&r));
	} else if (a->log == NULL) {
		printf("%s %" PRIu64 " manifest(s), %" PRIu64 " link(s), %" PRIu64
		       " blob(s): %" PRIu64 " bytes; kept %" PRIu64
		       " renewed within the grace; looked at %" PRIu64 " repositories, %" PRIu64
		       " manifests, %" PRIu64 " links, %" PRIu64 " blobs in %" PRIu64 " ms\n",
		       r.dry_run ? "would remove" : "removed", r.manifests_removed, r.links_removed,
		       r.blobs_removed, r.bytes_freed, r.kept_in_grace, r.repositories, r.manifests,
		       r.links, r.blobs, r.mark_ms + r.sweep_ms);
		if (r.kept_for_cluster > 0)
			printf("%" PRIu64 " kept: another member of the cluster still needs them\n",
			       r.kept_for_cluster);
		if (r.skipped_repositories > 0)
			printf("%" PRIu64 " repositories skipped: a manifest there could not be "
			       "read (run scrub)\n",
			       r.skipped_repositories);
	}
	if (a->log != NULL) {
		struct octo_log_field f[] = {
			OCTO_LOG_NUM("manifests", (long long)r.manifests_removed),
			OCTO_LOG_NUM("links", (long long)r.links_removed),
			OCTO_LOG_NUM("blobs", (long long)r.blobs_removed),
			OCTO_LOG_NUM("bytes", (long long)r.bytes_freed),
			OCTO_LOG_NUM("kept_in_grace", (long long)r.kept_in_grace),
			OCTO_LOG_NUM("duration_ms", (long long)(r.mark_ms + r.sweep_ms))};
		octo_log(a->log, OCTO_LOG_INFO, "garbage collected", f, 6);
	}
	return 0;
}

static void when(uint64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);

	if (ms == 0)
		snprintf(buf, size, "never");
	else
		strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
}

static void tag_removed(void *ctx, const char *repo, const char *tag, uint64_t pushed_ms)
{
	struct admin *a = ctx;
	char at[32];

	if (a->o.json) {
		put_item(a, json_pack("{s:s,s:s,s:I}", "repository", repo, "tag", tag, "pushed_ms",
				      (json_int_t)pushed_ms));
		return;
	}
	when(pushed_ms, at, sizeof(at));
	if (a->log == NULL)
		printf("%s %s:%s (pushed %s)\n", a->o.dry_run ? "would remove" : "removed", repo,
		       tag, at);
}

/* In strong mode a tag's delete is the voters' decision, as at the DELETE endpoint. */
static enum octo_err strong_untag(void *ctx, const char *repo, const char *tag)
{
	struct admin *a = ctx;
	char why[512];

	return octo_strong_delete_tag(a->store, repo, tag, a->cfg.p2p.replication.strong_timeout_ms,
				      why, sizeof(why));
}

static int run_retention(struct admin *a)
{
	int strong = a->cfg.p2p.enabled &&
		     strcmp(a->cfg.p2p.replication.consistency_mode, "strong") == 0;
	struct octo_retention_options ro = {.rules = a->cfg.storage.retention.rules,
					    .n_rules = a->cfg.storage.retention.n_rules,
					    .now_ms = octo_clock_wall_ms(),
					    .dry_run = a->o.dry_run,
					    .removed = tag_removed,
					    .ctx = a};
	struct octo_retention_result r;

	if (!may_change(a, "retention"))
		return 1;
	if (strong) {
		ro.untag = strong_untag;
		ro.untag_ctx = a;
	}
	if (octo_retention_run(a->store, a->journal, &ro, &r) != OCTO_OK) {
		fail("retention failed");
		return 1;
	}
	if (a->o.json)
		print_json(a, json_pack("{s:b,s:I,s:I,s:I,s:I}", "dry_run", a->o.dry_run,
					"repositories", (json_int_t)r.repositories, "tags",
					(json_int_t)r.tags, "removed", (json_int_t)r.removed,
					"duration_ms", (json_int_t)r.duration_ms));
	else if (a->log == NULL)
		printf("%s %" PRIu64 " of %" PRIu64 " tag(s) in %" PRIu64
		       " repositories the rules name\n",
		       a->o.dry_run ? "would remove" : "removed", r.removed, r.tags,
		       r.repositories);
	if (a->log != NULL) {
		struct octo_log_field f[] = {
			OCTO_LOG_NUM("tags", (long long)r.removed),
			OCTO_LOG_NUM("repositories", (long long)r.repositories)};
		octo_log(a->log, OCTO_LOG_INFO, "retention applied", f, 2);
	}
	return 0;
}

static int run_purge(struct admin *a)
{
	int64_t ttl = a->o.older_than_ms >= 0 ? a->o.older_than_ms : a->cfg.storage.upload_ttl_ms;
	struct octo_upload_expiry exp = {.empty_after =
						 ttl / 1000 < 600 ? (time_t)(ttl / 1000) : 600,
					 .after = (time_t)(ttl / 1000),
					 .dry_run = a->o.dry_run,
					 .wait = 1};
	struct octo_upload_collected got;

	if (!may_change(a, "purge-uploads"))
		return 1;
	if (octo_upload_collect(a->store, time(NULL), &exp, &got) != OCTO_OK) {
		fail("purge-uploads failed");
		return 1;
	}
	if (a->o.json)
		print_json(a, json_pack("{s:b,s:I,s:I,s:I}", "dry_run", a->o.dry_run, "sessions",
					(json_int_t)got.sessions, "bytes", (json_int_t)got.bytes,
					"temporaries", (json_int_t)got.temporaries));
	else if (a->log == NULL)
		printf("%s %zu upload session(s) (%" PRIu64 " bytes) and %zu temporary file(s)\n",
		       a->o.dry_run ? "would remove" : "removed", got.sessions, got.bytes,
		       got.temporaries);
	if (a->log != NULL && got.sessions > 0) {
		struct octo_log_field f[] = {OCTO_LOG_NUM("sessions", (long long)got.sessions),
					     OCTO_LOG_NUM("bytes", (long long)got.bytes)};
		octo_log(a->log, OCTO_LOG_INFO, "expired uploads purged", f, 2);
	}
	return 0;
}

static int run_scrub(struct admin *a)
{
	struct octo_scrub_options so = {.dry_run = a->o.dry_run,
					.refetch = a->cfg.p2p.enabled,
					.progress = progress,
					.corrupt = corrupt,
					.ctx = a};
	struct octo_scrub_result r;

	if (!may_change(a, "scrub"))
		return 1;
	a->began_ms = octo_clock_wall_ms();
	if (octo_scrub_run(a->store, &so, &r) != OCTO_OK) {
		fail("scrub failed");
		return 1;
	}
	if (a->o.json)
		print_json(a, scrub_json(&r));
	else if (a->log == NULL)
		printf("hashed %" PRIu64 " blob(s), %" PRIu64 " bytes, in %" PRIu64 " ms: %" PRIu64
		       " corrupt, %" PRIu64 " quarantined, %" PRIu64
		       " to be fetched again from the cluster\n",
		       r.blobs, r.bytes, r.duration_ms, r.corrupt, r.quarantined, r.refetching);
	if (a->log != NULL) {
		struct octo_log_field f[] = {OCTO_LOG_NUM("blobs", (long long)r.blobs),
					     OCTO_LOG_NUM("corrupt", (long long)r.corrupt),
					     OCTO_LOG_NUM("duration_ms", (long long)r.duration_ms)};
		octo_log(a->log, OCTO_LOG_INFO, "scrubbed", f, 3);
	}
	/* damage found is the operator's news: a non-zero exit for scripts */
	return r.corrupt > 0 ? 3 : 0;
}

/* Each endpoint's delivery as the notifier last wrote it. */
static json_t *notify_json(const struct admin *a)
{
	json_t *list = json_array();
	size_t i;

	for (i = 0; i < a->cfg.notifications.n_endpoints; i++) {
		struct octo_notify_status st;
		octo_notify_status_load(a->store, a->cfg.notifications.endpoints[i].name, &st);
		json_array_append_new(
			list,
			json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:s}", "name", st.name, "delivered",
				  (json_int_t)st.delivered, "failures", (json_int_t)st.failures,
				  "lag_events", (json_int_t)st.lag_events, "lag_ms",
				  (json_int_t)st.lag_ms, "last_success_ms",
				  (json_int_t)st.last_success_ms, "last_error", st.last_error));
	}
	return list;
}

static int run_stats(struct admin *a)
{
	struct octo_gc_result gc;
	struct octo_scrub_result sc;
	struct octo_retention_result rt;
	struct octo_strv repos;
	uint64_t blobs = 0, bytes = 0, seq = 0;
	size_t uploads = 0, mine, i;
	char t1[32], t2[32];
	int have_gc, have_scrub, have_retention;

	if (octo_store_blob_census(a->store, &blobs, &bytes) != OCTO_OK ||
	    octo_store_repo_list(a->store, &repos) != OCTO_OK ||
	    octo_upload_count(a->store, NULL, &uploads, &mine) != OCTO_OK) {
		fail("cannot read the store");
		return 1;
	}
	if (a->journal != NULL)
		octo_journal_last(a->journal, &seq);
	have_gc = octo_gc_last(a->store, &gc) == OCTO_OK;
	have_scrub = octo_scrub_last(a->store, &sc) == OCTO_OK;
	have_retention = octo_retention_last(a->store, &rt) == OCTO_OK;
	if (a->o.json) {
		json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "store", a->cfg.storage.path,
				      "blobs", (json_int_t)blobs, "blob_bytes", (json_int_t)bytes,
				      "repositories", (json_int_t)repos.n, "uploads",
				      (json_int_t)uploads, "journal_seq", (json_int_t)seq);
		json_object_set_new(o, "last_gc", have_gc ? gc_json(&gc) : json_null());
		json_object_set_new(o, "last_scrub", have_scrub ? scrub_json(&sc) : json_null());
		json_object_set_new(o, "notifications", notify_json(a));
		json_object_set_new(o, "last_retention",
				    have_retention
					    ? json_pack("{s:I,s:I,s:I,s:I}", "started_ms",
							(json_int_t)rt.started_ms, "repositories",
							(json_int_t)rt.repositories, "tags",
							(json_int_t)rt.tags, "removed",
							(json_int_t)rt.removed)
					    : json_null());
		print_json(a, o);
	} else {
		printf("store %s: %" PRIu64 " blob(s), %" PRIu64 " bytes; %zu repositories; %zu "
		       "upload session(s) open; journal at %" PRIu64 "\n",
		       a->cfg.storage.path, blobs, bytes, repos.n, uploads, seq);
		when(have_gc ? gc.started_ms : 0, t1, sizeof(t1));
		printf("last gc: %s", t1);
		if (have_gc)
			printf(", removed %" PRIu64 " manifest(s), %" PRIu64 " link(s), %" PRIu64
			       " blob(s), %" PRIu64 " bytes, in %" PRIu64 " ms",
			       gc.manifests_removed, gc.links_removed, gc.blobs_removed,
			       gc.bytes_freed, gc.mark_ms + gc.sweep_ms);
		when(have_scrub ? sc.started_ms : 0, t2, sizeof(t2));
		printf("\nlast scrub: %s", t2);
		if (have_scrub)
			printf(", %" PRIu64 " blob(s) hashed, %" PRIu64 " corrupt, %" PRIu64
			       " quarantined",
			       sc.blobs, sc.corrupt, sc.quarantined);
		when(have_retention ? rt.started_ms : 0, t1, sizeof(t1));
		printf("\nlast retention: %s", t1);
		if (have_retention)
			printf(", removed %" PRIu64 " of %" PRIu64 " tag(s)", rt.removed, rt.tags);
		putchar('\n');
		for (i = 0; i < a->cfg.notifications.n_endpoints; i++) {
			struct octo_notify_status st;
			octo_notify_status_load(a->store, a->cfg.notifications.endpoints[i].name,
						&st);
			when(st.last_success_ms, t1, sizeof(t1));
			printf("notifications to %s: %" PRIu64 " delivered, last at %s; %" PRIu64
			       " failure(s)%s%s; %" PRIu64 " event(s) behind\n",
			       st.name, st.delivered, t1, st.failures,
			       st.last_error[0] ? ", last: " : "", st.last_error, st.lag_events);
		}
	}
	octo_strv_cleanup(&repos);
	return 0;
}

/* `serve`: each task when it is due, until a signal to stop. */
static int run_serve(struct admin *a)
{
	const int64_t purge_ms = 60000;
	int64_t gc_ms = a->cfg.storage.gc.interval_ms, scrub_ms = a->cfg.storage.scrub.interval_ms,
		retention_ms = a->cfg.storage.retention.interval_ms;
	uint64_t now = octo_clock_wall_ms(), next_gc = now + (uint64_t)gc_ms,
		 next_scrub = now + (uint64_t)scrub_ms, next_purge = now,
		 next_retention = now + (uint64_t)retention_ms;
	struct notifier *notifier = NULL;
	sigset_t set;

	if (a->cfg.storage.readonly) {
		octo_log(a->log, OCTO_LOG_INFO, "storage.readonly: serve runs nothing", NULL, 0);
		gc_ms = scrub_ms = retention_ms = 0;
	}

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL); /* before the notifier's threads: they inherit it */
	if (a->cfg.notifications.n_endpoints > 0) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
		    (notifier = notifier_start(&a->cfg, a->store, a->log)) == NULL) {
			octo_log(a->log, OCTO_LOG_ERROR, "notifications: cannot start", NULL, 0);
			return 1;
		}
	}
	{
		struct octo_log_field f[] = {
			OCTO_LOG_NUM("gc_interval_ms", (long long)gc_ms),
			OCTO_LOG_NUM("scrub_interval_ms", (long long)scrub_ms)};
		octo_log(a->log, OCTO_LOG_INFO, "started", f, 2);
	}
	for (;;) {
		uint64_t next = next_purge;
		struct timespec wait;
		int sig;

		now = octo_clock_wall_ms();
		if (!a->cfg.storage.readonly && now >= next_purge) {
			run_purge(a);
			next_purge = now + (uint64_t)purge_ms;
		}
		if (gc_ms > 0 && now >= next_gc) {
			run_gc(a);
			next_gc = octo_clock_wall_ms() + (uint64_t)gc_ms;
		}
		if (retention_ms > 0 && now >= next_retention) {
			run_retention(a);
			next_retention = octo_clock_wall_ms() + (uint64_t)retention_ms;
		}
		if (scrub_ms > 0 && now >= next_scrub) {
			run_scrub(a);
			next_scrub = octo_clock_wall_ms() + (uint64_t)scrub_ms;
		}
		if (gc_ms > 0 && next_gc < next)
			next = next_gc;
		if (scrub_ms > 0 && next_scrub < next)
			next = next_scrub;
		if (retention_ms > 0 && next_retention < next)
			next = next_retention;
		now = octo_clock_wall_ms();
		next = next > now ? next - now : 0;
		wait.tv_sec = (time_t)(next / 1000);
		wait.tv_nsec = (long)(next % 1000) * 1000000L;
		sig = sigtimedwait(&set, NULL, &wait);
		if (sig == SIGTERM || sig == SIGINT)
			break;
	}
	notifier_stop(notifier);
	if (notifier != NULL)
		curl_global_cleanup();
	octo_log(a->log, OCTO_LOG_INFO, "stopped", NULL, 0);
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	int i;

	o->grace_ms = o->older_than_ms = -1;
	for (i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "-c") == 0 && i + 1 < argc) {
			o->config = argv[++i];
		} else if (strcmp(arg, "--dry-run") == 0) {
			o->dry_run = 1;
		} else if (strcmp(arg, "--json") == 0) {
			o->json = 1;
		} else if (strcmp(arg, "--delete-untagged") == 0) {
			o->delete_untagged = 1;
		} else if ((strcmp(arg, "--grace") == 0 || strcmp(arg, "--older-than") == 0) &&
			   i + 1 < argc) {
			int64_t ms = octo_config_parse_duration(argv[++i]);
			if (ms < 0) {
				fprintf(stderr,
					"octoserve-admin: %s: not a duration (\"1h\", \"30m\")\n",
					argv[i]);
				return -1;
			}
			*(strcmp(arg, "--grace") == 0 ? &o->grace_ms : &o->older_than_ms) = ms;
		} else if (arg[0] != '-' && o->command == NULL) {
			o->command = arg;
		} else {
			return -1;
		}
	}
	return o->command != NULL ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const char *const commands[] = {"gc",    "purge-uploads", "scrub", "retention",
					       "stats", "check-config",  "serve"};
	struct admin a = {0};
	char errbuf[512], unknown[1024], why[512] = "";
	size_t i, n_unknown;
	int rc = 1, known = 0, changes;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("octoserve-admin (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
		return 0;
	}
	if (parse_args(argc, argv, &a.o) != 0) {
		usage(stderr);
		return 2;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		known |= strcmp(a.o.command, commands[i]) == 0;
	if (!known) {
		fprintf(stderr, "octoserve-admin: %s: no such command\n", a.o.command);
		usage(stderr);
		return 2;
	}
	if (octo_config_load(&a.cfg, a.o.config, NULL, errbuf, sizeof(errbuf)) != OCTO_OK) {
		fprintf(stderr, "octoserve-admin: %s\n", errbuf);
		return 1;
	}
	n_unknown = octo_config_env_unknown(environ, unknown, sizeof(unknown));
	if (n_unknown > 0)
		fprintf(stderr, "octoserve-admin: not configuration variables: %s\n", unknown);
	if (strcmp(a.o.command, "check-config") == 0) {
		/* The files authentication reads, as the responder reads them at start. */
		int bad = octo_auth_check_config(&a.cfg, errbuf, sizeof(errbuf)) != OCTO_OK;
		if (bad)
			fprintf(stderr, "octoserve-admin: auth: %s\n", errbuf);
		if (n_unknown == 0 && !bad)
			printf("configuration ok\n");
		octo_config_cleanup(&a.cfg);
		return n_unknown > 0 || bad;
	}
	if (strcmp(a.o.command, "serve") == 0) {
		a.log = octo_logger_new(a.cfg.logging.level, a.cfg.logging.format,
					a.cfg.logging.output, errbuf, sizeof(errbuf));
		if (a.log == NULL) {
			fprintf(stderr, "octoserve-admin: %s\n", errbuf);
			octo_config_cleanup(&a.cfg);
			return 1;
		}
	}
	a.tty = isatty(STDERR_FILENO) && !a.o.json && a.log == NULL;
	if (a.o.json && strcmp(a.o.command, "stats") != 0 && strcmp(a.o.command, "serve") != 0) {
		a.streaming = 1;
		fputs("{\n \"items\": [", stdout);
	}
	/* stats and dry runs change nothing: the store is opened as it is */
	changes = !a.cfg.storage.readonly && !a.o.dry_run && strcmp(a.o.command, "stats") != 0;
	if (octo_store_open_mode(a.cfg.storage.path, !changes, &a.store) != OCTO_OK) {
		char what[600];
		snprintf(what, sizeof(what), "cannot open the store at %s", a.cfg.storage.path);
		fail(what);
		goto out;
	}
	if (octo_bucket_attach(a.store, &a.cfg, !changes, why, sizeof(why)) != OCTO_OK) {
		fail(why[0] ? why : "cannot reach the store's bucket");
		goto out;
	}
	if (changes && (octo_journal_open(a.store, a.cfg.p2p.node_id,
					  (uint64_t)a.cfg.storage.journal_segment_size,
					  &a.journal) != OCTO_OK ||
			(a.cfg.metrics.enabled && octo_metrics_open(a.store, octo_registry_census,
								    &a.metrics) != OCTO_OK))) {
		fail("cannot open the store's journal or counters");
		goto out;
	}
	if (!changes && !a.cfg.storage.readonly) /* for stats: the journal's last number */
		(void)octo_journal_open(a.store, a.cfg.p2p.node_id,
					(uint64_t)a.cfg.storage.journal_segment_size, &a.journal);
	octo_store_set_metrics(a.store, a.metrics);
	if (strcmp(a.o.command, "gc") == 0)
		rc = run_gc(&a);
	else if (strcmp(a.o.command, "purge-uploads") == 0)
		rc = run_purge(&a);
	else if (strcmp(a.o.command, "retention") == 0)
		rc = run_retention(&a);
	else if (strcmp(a.o.command, "scrub") == 0)
		rc = run_scrub(&a);
	else if (strcmp(a.o.command, "stats") == 0)
		rc = run_stats(&a);
	else
		rc = run_serve(&a);
out:
	if (a.streaming && !a.printed) /* a failure, told on stderr: the JSON still parses */
		printf("%s],\n \"error\": \"failed (see its standard error)\"\n}\n",
		       a.n_items > 0 ? "\n " : "");
	octo_metrics_close(a.metrics);
	octo_journal_close(a.journal);
	octo_store_free(a.store);
	octo_logger_free(a.log);
	octo_config_cleanup(&a.cfg);
	return rc;
}
