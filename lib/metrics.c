/* SPDX-License-Identifier: Apache-2.0 */
/* See metrics.h. The file: a header, then one uint64_t per slot, laid out by the tables
 * below; a change to them is a new layout version (the file is then made again). */
#include "autoconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fsutil.h"
#include "metrics.h"

#define METRICS_REL "metrics.counters"
#define METRICS_MAGIC "octoctr1"
#define METRICS_VERSION 7

static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "other"};
static const int codes[] = {200, 201, 202, 204, 206, 400, 401, 403, 404,
			    405, 413, 416, 429, 431, 500, 503, 507, 0 /* other */};
/* Request duration buckets, in microseconds (le="0.001" ... le="60" seconds; then +Inf). */
static const long long buckets_us[] = {1000,   5000,    10000,   50000,    100000,
				       500000, 1000000, 5000000, 10000000, 60000000};

/* fsync latency buckets, in microseconds (le="0.0001" ... le="5" seconds; then +Inf). */
static const long long fsync_buckets_us[] = {100,   500,    1000,   5000,    10000,
					     50000, 100000, 500000, 1000000, 5000000};

static const char *const strong_outcomes[OCTO_STRONG__COUNT] = {"confirmed", "conflict", "refused",
								"timeout"};

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define N_BUCKETS (N(buckets_us) + 1)
#define N_FSYNC_BUCKETS (N(fsync_buckets_us) + 1)

/* The slots, in this order. */
struct counters {
	uint64_t requests[N(methods)][OCTO_EP__COUNT][N(codes)];
	uint64_t duration_bucket[OCTO_EP__COUNT][N_BUCKETS]; /* not cumulative: summed at output */
	uint64_t duration_sum_us[OCTO_EP__COUNT];
	uint64_t bytes_in[OCTO_EP__COUNT];
	uint64_t bytes_out[OCTO_EP__COUNT];
	uint64_t errors[OCTO_ERR__COUNT];
	uint64_t fsync_bucket[N_FSYNC_BUCKETS]; /* not cumulative either */
	uint64_t fsync_sum_us;
	uint64_t gauges[OCTO_GAUGE__COUNT];  /* int64_t values, added to in two's complement */
	uint64_t strong[OCTO_STRONG__COUNT]; /* strong-mode writes, by how they ended */
	uint64_t strong_wait_us;             /* and how long their clients waited, summed */
	uint64_t ops[OCTO_OP__COUNT];
};

struct file {
	char magic[8];
	uint32_t version;
	uint32_t size; /* of the whole file */
	struct counters c;
};

struct octo_metrics {
	struct file *f;
	int private; /* f is this process's memory, not the store's mapped file */
};

static size_t method_index(const char *method)
{
	size_t i;

	for (i = 0; i + 1 < N(methods); i++)
		if (method != NULL && strcmp(methods[i], method) == 0)
			return i;
	return N(methods) - 1; /* "other" */
}

static size_t code_index(int status)
{
	size_t i;

	for (i = 0; i + 1 < N(codes); i++)
		if (codes[i] == status)
			return i;
	return N(codes) - 1;
}

static void add(uint64_t *slot, uint64_t n)
{
	__atomic_fetch_add(slot, n, __ATOMIC_RELAXED);
}

static uint64_t get(const uint64_t *slot)
{
	return __atomic_load_n(slot, __ATOMIC_RELAXED);
}

/* The file's header as this layout writes it. */
static void header(struct file *head)
{
	memset(head, 0, offsetof(struct file, c));
	memcpy(head->magic, METRICS_MAGIC, 8);
	head->version = METRICS_VERSION;
	head->size = sizeof(struct file);
}

/* Whether fd is a counters file of this layout. */
static int has_layout(int fd)
{
	struct file head, want;
	struct stat st;

	header(&want);
	return fstat(fd, &st) == 0 && st.st_size == (off_t)sizeof(struct file) &&
	       pread(fd, &head, offsetof(struct file, c), 0) == (ssize_t)offsetof(struct file, c) &&
	       memcmp(&head, &want, offsetof(struct file, c)) == 0;
}

/* An fd of the counters file in this layout, made if missing. A file of another layout
 * (an older version, or damage) is replaced by a new one, never truncated: processes that
 * still map the old one go on without a fault. Under metrics.lock, so one process makes it
 * and the others map that one. */
static int counters_fd(const struct octo_store *s)
{
	struct file *fresh;
	enum octo_err err;
	int fd = octo_store_openat(s, METRICS_REL, O_RDWR | O_CREAT, 0644);

	if (fd < 0 || has_layout(fd))
		return fd;
	fresh = calloc(1, sizeof(*fresh));
	if (fresh == NULL) {
		close(fd);
		errno = ENOMEM;
		return -1;
	}
	header(fresh);
	close(fd);
	err = octo_store_write_atomic(s, METRICS_REL, fresh, sizeof(*fresh), 0);
	free(fresh);
	if (err != OCTO_OK)
		return -1;
	return octo_store_openat(s, METRICS_REL, O_RDWR, 0);
}

/* With fd's exclusive lock (no other process maps the file): the gauges from a census. */
static enum octo_err take_census(const struct octo_store *s, octo_metrics_census_fn census,
				 struct file *f)
{
	int64_t g[OCTO_GAUGE__COUNT] = {0};
	enum octo_err err = census(s, g);
	size_t i;

	for (i = 0; err == OCTO_OK && i < OCTO_GAUGE__COUNT; i++)
		__atomic_store_n(&f->c.gauges[i], (uint64_t)g[i], __ATOMIC_RELAXED);
	return err;
}

static int lock_wait(int fd, int how)
{
	int rc;

	while ((rc = flock(fd, how)) != 0 && errno == EINTR)
		;
	return rc;
}

enum octo_err octo_metrics_open(const struct octo_store *s, octo_metrics_census_fn census,
				struct octo_metrics **out)
{
	struct octo_metrics *m;
	enum octo_err err = OCTO_OK;
	int lock, fd;
	void *p;

	*out = NULL;
	lock = octo_store_lock(s, "metrics.lock", 0);
	if (lock < 0)
		return octo_fs_fail("lock", "metrics.lock", errno);
	fd = counters_fd(s);
	if (fd < 0) {
		err = octo_fs_fail("create", METRICS_REL, errno);
		flock(lock, LOCK_UN);
		close(lock);
		return err;
	}
	p = mmap(NULL, sizeof(struct file), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err = octo_fs_fail("map", METRICS_REL, errno);
	} else if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		err = take_census(s, census, p);
		if (err == OCTO_OK && lock_wait(fd, LOCK_SH) != 0)
			err = octo_fs_fail("lock", METRICS_REL, errno);
	} else if (lock_wait(fd, LOCK_SH) != 0) {
		err = octo_fs_fail("lock", METRICS_REL, errno);
	}
	/* The lock on fd is the open file's, which the mapping holds: it lasts as long. */
	close(fd);
	flock(lock, LOCK_UN);
	close(lock);
	if (err != OCTO_OK && p != MAP_FAILED) {
		munmap(p, sizeof(struct file));
		p = MAP_FAILED;
	}
	m = err == OCTO_OK ? calloc(1, sizeof(*m)) : NULL;
	if (m == NULL) {
		if (p != MAP_FAILED)
			munmap(p, sizeof(struct file));
		return err != OCTO_OK ? err : OCTO_ERR_NOMEM;
	}
	m->f = p;
	*out = m;
	return OCTO_OK;
}

enum octo_err octo_metrics_open_private(const struct octo_store *s, octo_metrics_census_fn census,
					struct octo_metrics **out)
{
	struct octo_metrics *m = calloc(1, sizeof(*m));
	enum octo_err err;

	*out = NULL;
	if (m == NULL || (m->f = calloc(1, sizeof(*m->f))) == NULL) {
		free(m);
		return OCTO_ERR_NOMEM;
	}
	m->private = 1;
	header(m->f);
	err = take_census(s, census, m->f);
	if (err != OCTO_OK) {
		octo_metrics_close(m);
		return err;
	}
	*out = m;
	return OCTO_OK;
}

void octo_metrics_close(struct octo_metrics *m)
{
	if (m == NULL)
		return;
	if (m->private)
		free(m->f);
	else
		munmap(m->f, sizeof(struct file));
	free(m);
}

void octo_metrics_request(struct octo_metrics *m, const char *method, enum octo_endpoint ep,
			  int status, uint64_t bytes_in, uint64_t bytes_out, long long duration_us,
			  enum octo_err err)
{
	struct counters *c;
	size_t r, b;

	if (m == NULL)
		return;
	c = &m->f->c;
	r = (unsigned)ep < OCTO_EP__COUNT ? (size_t)ep : OCTO_EP_NONE;
	add(&c->requests[method_index(method)][r][code_index(status)], 1);
	for (b = 0; b < N(buckets_us) && duration_us > buckets_us[b]; b++)
		;
	add(&c->duration_bucket[r][b], 1);
	add(&c->duration_sum_us[r], duration_us > 0 ? (uint64_t)duration_us : 0);
	add(&c->bytes_in[r], bytes_in);
	add(&c->bytes_out[r], bytes_out);
	if (err != OCTO_OK && (unsigned)err < OCTO_ERR__COUNT)
		add(&c->errors[err], 1);
}

void octo_metrics_gauge_add(struct octo_metrics *m, enum octo_gauge g, int64_t delta)
{
	if (m != NULL && (unsigned)g < OCTO_GAUGE__COUNT)
		add(&m->f->c.gauges[g], (uint64_t)delta);
}

int64_t octo_metrics_gauge(const struct octo_metrics *m, enum octo_gauge g)
{
	return (unsigned)g < OCTO_GAUGE__COUNT ? (int64_t)get(&m->f->c.gauges[g]) : 0;
}

void octo_metrics_fsync(struct octo_metrics *m, long long us)
{
	size_t b;

	if (m == NULL)
		return;
	for (b = 0; b < N(fsync_buckets_us) && us > fsync_buckets_us[b]; b++)
		;
	add(&m->f->c.fsync_bucket[b], 1);
	add(&m->f->c.fsync_sum_us, us > 0 ? (uint64_t)us : 0);
}

void octo_metrics_strong(struct octo_metrics *m, enum octo_strong_outcome o, long long us)
{
	if (m == NULL || (unsigned)o >= OCTO_STRONG__COUNT)
		return;
	add(&m->f->c.strong[o], 1);
	add(&m->f->c.strong_wait_us, us > 0 ? (uint64_t)us : 0);
}

void octo_metrics_op_add(struct octo_metrics *m, enum octo_op_counter c, uint64_t delta)
{
	if (m != NULL && (unsigned)c < OCTO_OP__COUNT)
		add(&m->f->c.ops[c], delta);
}

void octo_metrics_op_set(struct octo_metrics *m, enum octo_op_counter c, uint64_t value)
{
	if (m != NULL && (unsigned)c < OCTO_OP__COUNT)
		__atomic_store_n(&m->f->c.ops[c], value, __ATOMIC_RELAXED);
}

/* The operations' series: counters, or (scale 1000) a time or duration in ms shown in seconds
 * as a gauge; label "" or one label pair, sharing the HELP of the series before it with the
 * same name. */
static const struct {
	const char *name, *label, *help;
	int gauge;
} ops[OCTO_OP__COUNT] = {
	[OCTO_OP_GC_RUNS] = {"octoserve_gc_runs_total", "", "Garbage collections run.", 0},
	[OCTO_OP_GC_MANIFESTS] = {"octoserve_gc_removed_total", "kind=\"manifest\"",
				  "What garbage collection removed: manifests (untagged, or "
				  "referrers of a subject gone), links, content files.",
				  0},
	[OCTO_OP_GC_LINKS] = {"octoserve_gc_removed_total", "kind=\"link\"", NULL, 0},
	[OCTO_OP_GC_BLOBS] = {"octoserve_gc_removed_total", "kind=\"blob\"", NULL, 0},
	[OCTO_OP_GC_BYTES] = {"octoserve_gc_freed_bytes_total", "",
			      "Bytes of content garbage collection removed.", 0},
	[OCTO_OP_GC_LAST] = {"octoserve_gc_last_run_timestamp_seconds", "",
			     "When the last garbage collection began (0: never).", 1},
	[OCTO_OP_GC_LAST_DURATION] = {"octoserve_gc_last_duration_seconds", "",
				      "How long the last garbage collection took.", 1},
	[OCTO_OP_UPLOADS_PURGED] = {"octoserve_uploads_purged_total", "",
				    "Expired upload sessions removed.", 0},
	[OCTO_OP_UPLOAD_BYTES_PURGED] = {"octoserve_uploads_purged_bytes_total", "",
					 "Bytes of the expired upload sessions removed.", 0},
	[OCTO_OP_SCRUB_RUNS] = {"octoserve_scrub_runs_total", "", "Scrubs run.", 0},
	[OCTO_OP_SCRUB_BLOBS] = {"octoserve_scrub_checked_total", "",
				 "Content files scrub hashed again.", 0},
	[OCTO_OP_SCRUB_BYTES] = {"octoserve_scrub_checked_bytes_total", "",
				 "Bytes scrub hashed again.", 0},
	[OCTO_OP_SCRUB_CORRUPT] =
		{"octoserve_scrub_corrupt_total", "",
		 "Content files scrub found not to be their digest (quarantined).", 0},
	[OCTO_OP_SCRUB_LAST] = {"octoserve_scrub_last_run_timestamp_seconds", "",
				"When the last scrub began (0: never).", 1},
	[OCTO_OP_RETENTION_RUNS] = {"octoserve_retention_runs_total", "",
				    "Retention runs (storage.retention.rules applied).", 0},
	[OCTO_OP_RETENTION_TAGS] = {"octoserve_retention_removed_tags_total", "",
				    "Tags retention removed.", 0},
};

/* A growing text buffer; on allocation failure it stops growing and says so in failed. */
struct text {
	char *buf;
	size_t len, cap;
	int failed;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	char *grown;
	int n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		grown = realloc(t->buf, t->cap * 2 + (size_t)n);
		if (grown == NULL) {
			t->failed = 1;
			return;
		}
		t->buf = grown;
		t->cap = t->cap * 2 + (size_t)n;
	}
}

static void per_route(struct text *t, const char *name, const char *help, const uint64_t *values)
{
	size_t r;

	put(t, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (r = 0; r < OCTO_EP__COUNT; r++)
		if (get(&values[r]) != 0)
			put(t, "%s{route=\"%s\"} %llu\n", name,
			    octo_endpoint_name((enum octo_endpoint)r),
			    (unsigned long long)get(&values[r]));
}

/* A histogram's series (nothing if it counted nothing): bucket counts (n bounds, then
 * +Inf) not cumulative in the file, made cumulative here; labels ends with a comma. */
static void histogram(struct text *t, const char *name, const char *labels,
		      const long long *bounds_us, const uint64_t *counts, size_t n, uint64_t sum_us)
{
	uint64_t cumulative = 0;
	size_t b;

	for (b = 0; b <= n; b++)
		cumulative += get(&counts[b]);
	if (cumulative == 0)
		return;
	cumulative = 0;
	for (b = 0; b <= n; b++) {
		char le[32];
		cumulative += get(&counts[b]);
		if (b < n)
			snprintf(le, sizeof(le), "%g", (double)bounds_us[b] / 1e6);
		else
			snprintf(le, sizeof(le), "+Inf");
		put(t, "%s_bucket{%sle=\"%s\"} %llu\n", name, labels, le,
		    (unsigned long long)cumulative);
	}
	if (labels[0] != '\0') { /* the labels without their trailing comma */
		int n_labels = (int)strlen(labels) - 1;
		put(t, "%s_sum{%.*s} %.6f\n%s_count{%.*s} %llu\n", name, n_labels, labels,
		    (double)sum_us / 1e6, name, n_labels, labels, (unsigned long long)cumulative);
	} else {
		put(t, "%s_sum %.6f\n%s_count %llu\n", name, (double)sum_us / 1e6, name,
		    (unsigned long long)cumulative);
	}
}

static const struct {
	const char *name, *help;
} gauges[OCTO_GAUGE__COUNT] = {
	[OCTO_GAUGE_BLOBS] = {"octoserve_store_blobs",
			      "Content files in the store (layers, "
			      "configs and manifests), each counted once."},
	[OCTO_GAUGE_BLOB_BYTES] = {"octoserve_store_blob_bytes", "Total size of those files."},
	[OCTO_GAUGE_REPOSITORIES] = {"octoserve_store_repositories",
				     "Repositories holding a manifest (those _catalog lists)."},
	[OCTO_GAUGE_UPLOADS] = {"octoserve_uploads_in_flight",
				"Upload sessions open: started and neither finished, cancelled "
				"nor expired."},
};

char *octo_metrics_text(const struct octo_metrics *m, size_t *len)
{
	const struct counters *c = &m->f->c;
	struct text t = {.cap = 16384};
	size_t i, r, k, e;

	t.buf = malloc(t.cap);
	if (t.buf == NULL)
		return NULL;
	t.buf[0] = '\0';
	put(&t, "# HELP octoserve_http_requests_total Requests answered, by method, route and "
		"status code.\n# TYPE octoserve_http_requests_total counter\n");
	for (i = 0; i < N(methods); i++)
		for (r = 0; r < OCTO_EP__COUNT; r++)
			for (k = 0; k < N(codes); k++) {
				uint64_t v = get(&c->requests[i][r][k]);
				char code[16];
				if (v == 0)
					continue;
				if (codes[k] != 0)
					snprintf(code, sizeof(code), "%d", codes[k]);
				else
					snprintf(code, sizeof(code), "other");
				put(&t,
				    "octoserve_http_requests_total{method=\"%s\",route=\"%s\","
				    "code=\"%s\"} %llu\n",
				    methods[i], octo_endpoint_name((enum octo_endpoint)r), code,
				    (unsigned long long)v);
			}
	put(&t, "# HELP octoserve_http_request_duration_seconds Time from a request's start to "
		"its last byte written, by route.\n"
		"# TYPE octoserve_http_request_duration_seconds histogram\n");
	for (r = 0; r < OCTO_EP__COUNT; r++) {
		char label[64];
		snprintf(label, sizeof(label), "route=\"%s\",",
			 octo_endpoint_name((enum octo_endpoint)r));
		histogram(&t, "octoserve_http_request_duration_seconds", label, buckets_us,
			  c->duration_bucket[r], N(buckets_us), get(&c->duration_sum_us[r]));
	}
	per_route(&t, "octoserve_http_request_bytes_total",
		  "Request body bytes read by the responder, by route.", c->bytes_in);
	per_route(&t, "octoserve_http_response_bytes_total",
		  "Response body bytes written by the responder (not those a web server sent "
		  "from the file), by route.",
		  c->bytes_out);
	put(&t, "# HELP octoserve_errors_total Requests that ended in an error, by OCI error "
		"code.\n# TYPE octoserve_errors_total counter\n");
	for (e = 1; e < OCTO_ERR__COUNT; e++) {
		/* several errors share a code: one series per code, each counted once */
		uint64_t v = 0;
		size_t f;
		int first = 1;
		for (f = 1; f < e; f++)
			if (strcmp(octo_err_code((enum octo_err)f),
				   octo_err_code((enum octo_err)e)) == 0)
				first = 0;
		if (!first)
			continue;
		for (f = e; f < OCTO_ERR__COUNT; f++)
			if (strcmp(octo_err_code((enum octo_err)f),
				   octo_err_code((enum octo_err)e)) == 0)
				v += get(&c->errors[f]);
		if (v != 0)
			put(&t, "octoserve_errors_total{code=\"%s\"} %llu\n",
			    octo_err_code((enum octo_err)e), (unsigned long long)v);
	}
	put(&t, "# HELP octoserve_fsync_duration_seconds How long each fsync and fdatasync of the "
		"store took.\n# TYPE octoserve_fsync_duration_seconds histogram\n");
	histogram(&t, "octoserve_fsync_duration_seconds", "", fsync_buckets_us, c->fsync_bucket,
		  N(fsync_buckets_us), get(&c->fsync_sum_us));
	put(&t,
	    "# HELP octoserve_strong_writes_total Strong-mode writes by how the cluster "
	    "answered: confirmed, conflict (a racing write of the tag won), refused (no majority "
	    "or no copies), timeout (no answer within strong_timeout).\n"
	    "# TYPE octoserve_strong_writes_total counter\n");
	for (i = 0; i < OCTO_STRONG__COUNT; i++)
		put(&t, "octoserve_strong_writes_total{outcome=\"%s\"} %llu\n", strong_outcomes[i],
		    (unsigned long long)get(&c->strong[i]));
	put(&t,
	    "# HELP octoserve_strong_wait_seconds_total How long strong-mode writes waited for "
	    "the cluster, summed.\n# TYPE octoserve_strong_wait_seconds_total counter\n"
	    "octoserve_strong_wait_seconds_total %.6f\n",
	    (double)get(&c->strong_wait_us) / 1e6);
	for (i = 0; i < OCTO_OP__COUNT; i++) {
		uint64_t v = get(&c->ops[i]);
		if (ops[i].help != NULL)
			put(&t, "# HELP %s %s\n# TYPE %s %s\n", ops[i].name, ops[i].help,
			    ops[i].name, ops[i].gauge ? "gauge" : "counter");
		if (ops[i].gauge)
			put(&t, "%s%s%s%s %.3f\n", ops[i].name, ops[i].label[0] ? "{" : "",
			    ops[i].label, ops[i].label[0] ? "}" : "", (double)v / 1000.0);
		else
			put(&t, "%s%s%s%s %llu\n", ops[i].name, ops[i].label[0] ? "{" : "",
			    ops[i].label, ops[i].label[0] ? "}" : "", (unsigned long long)v);
	}
	for (i = 0; i < OCTO_GAUGE__COUNT; i++)
		put(&t, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", gauges[i].name, gauges[i].help,
		    gauges[i].name, gauges[i].name, (long long)(int64_t)get(&c->gauges[i]));
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}

/* A JSON file the peer daemon wrote in the store, or NULL. */
static json_t *peer_file(const struct octo_store *s, const char *rel)
{
	char *data = NULL;
	size_t n;
	json_t *o = NULL;

	if (octo_store_read(s, rel, 4 * 1024 * 1024, OCTO_ERR_NAME_UNKNOWN, &data, &n) == OCTO_OK)
		o = json_loadb(data, n, 0, NULL);
	free(data);
	if (o != NULL && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

/* A node id as a label value: ids are [A-Za-z0-9._:-] (record.h), nothing to escape; any
 * other text is left out. */
static const char *label(json_t *v)
{
	const char *s = json_string_value(v);

	return s != NULL && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				      "0123456789._:-") == strlen(s)
		       ? s
		       : "";
}

static double number(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : 0;
}

/* Gauges of one number each: of every member (peer/status.json's members, labelled by id),
 * or of the last anti-entropy round (peer/sync.json). */
struct peer_gauge {
	const char *name, *help, *key;
	double per;
	const char *type; /* NULL: a gauge */
};

static const struct peer_gauge member_gauges[] = {
	{"octoserve_peer_outbox_events", "Changes a member has still to receive.", "lag_events", 1,
	 NULL},
	{"octoserve_peer_outbox_age_seconds",
	 "How old the oldest change a member has still to receive is.", "lag_s", 1, NULL},
	{"octoserve_peer_sent_changes_total",
	 "Changes a member took from this node since the daemon started.", "sent_changes", 1,
	 "counter"},
	{"octoserve_peer_sent_bytes_total",
	 "Bytes of the changes a member took from this node since the daemon started.",
	 "sent_bytes", 1, "counter"},
	{"octoserve_peer_fetched_bytes_total",
	 "Blob bytes this node fetched from a member since the daemon started.", "fetched_bytes", 1,
	 "counter"},
	{"octoserve_peer_failed_sends_total",
	 "Batches of changes a member did not take from this node (retried) since the daemon "
	 "started.",
	 "failed_sends", 1, "counter"},
	{"octoserve_peer_failed_fetches_total",
	 "Fetches from a member that broke off or could not be written here since the daemon "
	 "started.",
	 "failed_fetches", 1, "counter"},
};

static const struct peer_gauge round_gauges[] = {
	{"octoserve_peer_anti_entropy_timestamp_seconds", "When the last anti-entropy round ran.",
	 "at_ms", 1000, NULL},
	{"octoserve_peer_anti_entropy_differing_members",
	 "Members whose records differed from this node's in the last round.", "differing", 1,
	 NULL},
	{"octoserve_peer_anti_entropy_repaired_records",
	 "Records the last round took from members (their writes beat this node's).",
	 "records_repaired", 1, NULL},
	{"octoserve_peer_anti_entropy_dropped_copies", "Surplus copies the last round dropped.",
	 "copies_dropped", 1, NULL},
	{"octoserve_peer_under_replicated_blobs",
	 "Blobs this node holds by placement and lacks, as of the last round.", "under_replicated",
	 1, NULL},
	{"octoserve_peer_anti_entropy_rounds_total",
	 "Anti-entropy rounds since the daemon started.", "rounds", 1, "counter"},
	{"octoserve_peer_anti_entropy_repaired_records_total",
	 "Records anti-entropy took from members since the daemon started.",
	 "records_repaired_total", 1, "counter"},
};

static void help(struct text *t, const struct peer_gauge *g)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", g->name, g->help, g->name,
	    g->type != NULL ? g->type : "gauge");
}

char *octo_metrics_peer_text(const struct octo_store *s, char *text, size_t *len)
{
	static const char *const states[] = {"up", "down", "unknown"};
	static const struct peer_gauge
		written = {"octoserve_peer_status_timestamp_seconds",
			   "When the peer daemon last wrote its state.", "time_ms", 1000, NULL},
		queue = {"octoserve_peer_fetch_queue", "Blobs this node wants from its peers.",
			 "fetch_queue", 1, NULL},
		conflicts = {"octoserve_peer_conflicts_resolved_total",
			     "Writes from peers that lost to a later write of "
			     "their record (tags most of all) since the daemon "
			     "started.",
			     "conflicts_resolved", 1, "counter"},
		by_state = {"octoserve_peer_members", "Members by their health state.", NULL, 1,
			    NULL};
	struct text t = {.buf = text, .len = *len, .cap = *len + 1};
	json_t *st = peer_file(s, OCTO_PEER_STATUS_REL),
	       *ae = peer_file(s, OCTO_PEER_SYNC_STATUS_REL);
	json_t *members = json_object_get(st, "members"), *m;
	size_t i, k;

	for (k = 0; st != NULL && k < 3; k++) {
		const struct peer_gauge *g = k == 0 ? &written : k == 1 ? &queue : &conflicts;
		help(&t, g);
		put(&t, "%s %.3f\n", g->name, number(st, g->key) / g->per);
	}
	if (st != NULL)
		help(&t, &by_state);
	for (k = 0; st != NULL && k < N(states); k++) {
		size_t n = 0;
		json_array_foreach(members, i, m)
		{
			const char *state = json_string_value(json_object_get(m, "state"));
			n += state != NULL && strcmp(state, states[k]) == 0;
		}
		put(&t, "%s{state=\"%s\"} %zu\n", by_state.name, states[k], n);
	}
	for (k = 0; st != NULL && k < N(member_gauges); k++) {
		help(&t, &member_gauges[k]);
		json_array_foreach(members, i, m)
		{
			const char *id = label(json_object_get(m, "id"));
			if (id[0] != '\0')
				put(&t, "%s{peer=\"%s\"} %.3f\n", member_gauges[k].name, id,
				    number(m, member_gauges[k].key) / member_gauges[k].per);
		}
	}
	for (k = 0; ae != NULL && k < N(round_gauges); k++) {
		help(&t, &round_gauges[k]);
		put(&t, "%s %.3f\n", round_gauges[k].name,
		    number(ae, round_gauges[k].key) / round_gauges[k].per);
	}
	json_decref(st);
	json_decref(ae);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}

/* Event notifications, as the notifier of octoserve-admin serve last wrote them
 * (ops/notify.json, notify.h). */
static const struct peer_gauge notify_gauges[] = {
	{"octoserve_notify_delivered_total", "Events an endpoint took (a 2xx answer).", "delivered",
	 1, "counter"},
	{"octoserve_notify_failures_total", "POSTs to an endpoint that failed (retried).",
	 "failures", 1, "counter"},
	{"octoserve_notify_lag_events",
	 "Journal events after an endpoint's cursor (not all of them its to send).", "lag_events",
	 1, NULL},
	{"octoserve_notify_lag_seconds", "How old the oldest event waiting for an endpoint is.",
	 "lag_ms", 1000, NULL},
	{"octoserve_notify_last_success_timestamp_seconds",
	 "When an endpoint last took a batch (0: never).", "last_success_ms", 1000, NULL},
};

char *octo_metrics_notify_text(const struct octo_store *s, char *text, size_t *len)
{
	struct text t = {.buf = text, .len = *len, .cap = *len + 1};
	json_t *st = peer_file(s, OCTO_NOTIFY_STATUS_REL), *e;
	json_t *eps = json_object_get(st, "endpoints");
	size_t i, k;

	for (k = 0; json_array_size(eps) > 0 && k < N(notify_gauges); k++) {
		help(&t, &notify_gauges[k]);
		json_array_foreach(eps, i, e)
		{
			const char *name = label(json_object_get(e, "name"));
			if (name[0] != '\0')
				put(&t, "%s{endpoint=\"%s\"} %.3f\n", notify_gauges[k].name, name,
				    number(e, notify_gauges[k].key) / notify_gauges[k].per);
		}
	}
	json_decref(st);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}
