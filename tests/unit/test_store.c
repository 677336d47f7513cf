/* SPDX-License-Identifier: Apache-2.0 */
/* Damaged or foreign store state (a bad restore, another version's files, a planted link):
 * every file read back is validated, no symlink is followed, and each case gets a clean
 * error, never a crash or someone else's bytes. Also: temporary names unique across
 * processes, and no path silently cut short. */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fsutil.h"
#include "metrics.h"
#include "store.h"
#include "testutil.h"
#include "upload.h"

/* dir + "/" + rel, in one of two static buffers (so two can be used at once). */
static const char *at(const struct tu_registry *t, const char *fmt, ...)
{
	static char buf[2][PATH_MAX];
	static int which;
	char rel[PATH_MAX - 256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	which ^= 1;
	snprintf(buf[which], sizeof(buf[which]), "%s/%s", t->dir, rel);
	return buf[which];
}

static void expect(struct tu_registry *t, const char *method, const char *uri, int status,
		   const char *code)
{
	struct octo_response resp;

	tu_request(t, method, uri, NULL, 0, &resp, NULL);
	if (resp.status != status)
		fail_msg("%s %s: %d %s", method, uri, resp.status, resp.body ? resp.body : "");
	if (code != NULL)
		assert_string_equal(tu_error_code(&resp), code);
	octo_response_cleanup(&resp);
}

/* A tag file whose name is longer than any tag (it overflowed the index buffer) and names
 * that are not tags at all: skipped by the index and the list, which stay correct. */
static void test_foreign_tag_files(void **state)
{
	struct tu_registry *t = *state;
	struct octo_response resp;
	char longname[256];

	tu_put_tag(t, "lt", "v1");
	memset(longname, 'a', 250);
	longname[250] = '\0';
	tu_write_file(at(t, "repositories/lt/_manifests/tags/%s", longname), "x", 1);
	tu_write_file(at(t, "repositories/lt/_manifests/tags/has space"), "x", 1);
	tu_write_file(at(t, "repositories/lt/_manifests/tags/-dash"), "x", 1);
	tu_put_tag(t, "lt", "v2"); /* rewrites the index from a scan of the directory */
	tu_request(t, "GET", "/v2/lt/tags/list", NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body, "{\"name\":\"lt\",\"tags\":[\"v1\",\"v2\"]}");
	octo_response_cleanup(&resp);
	/* without the index, the scan skips them too */
	assert_int_equal(unlink(at(t, "repositories/lt/_manifests/tags.index")), 0);
	tu_request(t, "GET", "/v2/lt/tags/list", NULL, 0, &resp, NULL);
	assert_string_equal(resp.body, "{\"name\":\"lt\",\"tags\":[\"v1\",\"v2\"]}");
	octo_response_cleanup(&resp);
}

/* A damaged tag index (a name with a quote, lines out of order, no final newline) is not
 * served: the tags come from the directory instead. */
static void test_damaged_tag_index(void **state)
{
	static const char *damaged[] = {"v1\n\"x\n", "v2\nv1\n", "v1\nv2", "v1\n\nv2\n"};
	struct tu_registry *t = *state;
	size_t i;

	tu_put_tag(t, "ix", "v1");
	tu_put_tag(t, "ix", "v2");
	for (i = 0; i < sizeof(damaged) / sizeof(damaged[0]); i++) {
		struct octo_response resp;
		tu_write_file(at(t, "repositories/ix/_manifests/tags.index"), damaged[i],
			      strlen(damaged[i]));
		tu_request(t, "GET", "/v2/ix/tags/list", NULL, 0, &resp, NULL);
		assert_int_equal(resp.status, 200);
		assert_string_equal(resp.body, "{\"name\":\"ix\",\"tags\":[\"v1\",\"v2\"]}");
		octo_response_cleanup(&resp);
	}
}

/* Tag and revision files that do not hold what we wrote: 500, never a header made of
 * their bytes. */
static void test_damaged_tag_and_revision(void **state)
{
	struct tu_registry *t = *state;
	const char *d = tu_put_tag(t, "rv", "v1");
	static const char evil[] = "application/vnd.oci.image.manifest.v1+json\r\nX-Evil: 1";
	char uri[256];

	tu_write_file(at(t, "repositories/rv/_manifests/tags/v1"), "sha256:12", 9);
	expect(t, "GET", "/v2/rv/manifests/v1", 500, "UNKNOWN");
	snprintf(uri, sizeof(uri), "/v2/rv/manifests/%s", d);
	expect(t, "GET", uri, 200, NULL);
	tu_write_file(at(t, "repositories/rv/_manifests/revisions/sha256/%s", d + 7), evil,
		      sizeof(evil) - 1);
	expect(t, "GET", uri, 500, "UNKNOWN");
	expect(t, "HEAD", uri, 500, NULL);
	/* manifest bytes that no longer match their digest are not served either */
	tu_write_file(at(t, "repositories/rv/_manifests/revisions/sha256/%s", d + 7),
		      "application/vnd.oci.image.manifest.v1+json", 42);
	expect(t, "GET", uri, 200, NULL);
	tu_write_file(at(t, "blobs/sha256/%.2s/%s", d + 7, d + 7), "{}", 2);
	expect(t, "GET", uri, 500, "UNKNOWN");
}

/* A blob replaced by a symlink (to a file outside the store): never served, neither
 * streamed nor handed to the front with X-Sendfile. */
static void test_symlinked_blob(void **state)
{
	struct tu_registry *t = *state;
	const char *d = tu_push(t, "sl", "secret-free content");
	struct octo_response resp;
	char uri[256], blob[PATH_MAX], outside[PATH_MAX];

	snprintf(blob, sizeof(blob), "%s", at(t, "blobs/sha256/%.2s/%s", d + 7, d + 7));
	snprintf(outside, sizeof(outside), "%s", at(t, "outside"));

	tu_write_file(outside, "not in the store", 16);
	assert_int_equal(unlink(blob), 0);
	assert_int_equal(symlink(outside, blob), 0);
	snprintf(uri, sizeof(uri), "/v2/sl/blobs/%s", d);
	expect(t, "GET", uri, 500, "UNKNOWN");
	expect(t, "HEAD", uri, 500, NULL);
	t->cfg.fcgi.sendfile = OCTO_SENDFILE_X_SENDFILE;
	tu_request(t, "GET", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 500);
	assert_null(octo_response_header(&resp, "X-Sendfile"));
	octo_response_cleanup(&resp);
	t->cfg.fcgi.sendfile = OCTO_SENDFILE_NONE;
	/* a relative link to another blob, inside the store: one digest would serve another's
	 * bytes */
	{
		const char *other = tu_push(t, "sl", "other content");
		char target[PATH_MAX];
		snprintf(target, sizeof(target), "../%.2s/%s", other + 7, other + 7);
		assert_int_equal(unlink(blob), 0);
		if (strncmp(other + 7, d + 7, 2) == 0)
			snprintf(target, sizeof(target), "%s", other + 7);
		assert_int_equal(symlink(target, blob), 0);
		expect(t, "GET", uri, 500, "UNKNOWN");
		expect(t, "HEAD", uri, 500, NULL);
	}
	/* a directory where the file should be */
	assert_int_equal(unlink(blob), 0);
	assert_int_equal(mkdir(blob, 0755), 0);
	expect(t, "GET", uri, 500, "UNKNOWN");
}

/* A symlink on the way (a repository's _layers, the blob fan-out directory): not followed. */
static void test_symlinked_directories(void **state)
{
	struct tu_registry *t = *state;
	const char *d = tu_push(t, "sd", "linked through a directory");
	char uri[256], fan[PATH_MAX];

	snprintf(fan, sizeof(fan), "%s", at(t, "blobs/sha256/%.2s", d + 7));
	assert_int_equal(rename(fan, at(t, "moved")), 0);
	assert_int_equal(symlink(at(t, "moved"), fan), 0);
	snprintf(uri, sizeof(uri), "/v2/sd/blobs/%s", d);
	expect(t, "GET", uri, 500, "UNKNOWN");
	/* a repository directory that is a link to another repository's */
	tu_put_tag(t, "real", "v1");
	assert_int_equal(symlink(at(t, "repositories/real"), at(t, "repositories/alias")), 0);
	expect(t, "GET", "/v2/alias/manifests/v1", 500, "UNKNOWN");
	{
		struct octo_response resp;
		tu_request(t, "GET", "/v2/_catalog", NULL, 0, &resp, NULL);
		assert_int_equal(resp.status, 200);
		assert_null(strstr(resp.body, "alias"));
		assert_non_null(strstr(resp.body, "\"real\""));
		octo_response_cleanup(&resp);
	}
}

/* Upload sessions: a state file damaged field by field, the old formats (OCTOUPL2 still read,
 * OCTOUPL1 refused), a data file
 * shorter than the state claims, and a session directory that is a symlink. Each open is
 * refused with BLOB_UPLOAD_UNKNOWN (or a storage error), so no hash state is ever used. */
static void test_damaged_upload_state(void **state)
{
	struct tu_registry *t = *state;
	struct octo_store *s;
	struct octo_upload *u;
	struct tu_body tb;
	struct octo_body body;
	char id[OCTO_UPLOAD_ID_LEN + 1], good[1024], bad[1024];
	FILE *f;
	size_t n, i, h;

	assert_int_equal(octo_store_open(t->dir, &s), OCTO_OK);
	assert_int_equal(octo_upload_create(s, "up", 1, NULL, &u), OCTO_OK);
	snprintf(id, sizeof(id), "%s", octo_upload_id(u));
	tu_body_init(&body, &tb, "0123456789", 10, 10);
	assert_int_equal(octo_upload_append(u, &body), OCTO_OK);
	octo_upload_close(u);
	f = fopen(at(t, "uploads/%s/state", id), "rb");
	n = fread(good, 1, sizeof(good), f);
	fclose(f);
	/* magic, offset, "up", no client, hash state; no multipart upload, 0 bytes in 0 parts */
	assert_int_equal(n, 8 + 8 + 2 + 2 + 2 + 2 + 110 + 2 + 8 + 2);
	h = n - 12; /* where the hash state ends */
	assert_int_equal(octo_upload_open(s, "up", id, strlen(id), OCTO_UPLOAD_WRITE, &u), OCTO_OK);
	octo_upload_close(u);

	for (i = 0; i < 9; i++) {
		size_t len = n;
		memcpy(bad, good, n);
		switch (i) {
		case 0: /* the hash state's block position: num = 100000 */
			bad[h - 4] = (char)0xa0, bad[h - 3] = (char)0x86, bad[h - 2] = 0x01;
			break;
		case 1: /* an offset other than the length the hash state covers */
			bad[8] = 4;
			break;
		case 2: /* the old format, OpenSSL's struct dumped as it was */
			memcpy(bad, "OCTOUPL1", 8);
			break;
		case 3: /* cut short */
			len = n - 5;
			break;
		case 4: /* a repository length beyond the file */
			bad[16] = (char)0xff;
			break;
		case 5: /* trailing bytes */
			bad[n] = 'x';
			len = n + 1;
			break;
		case 6: /* a repository name that is not a name */
			bad[18] = 'U';
			break;
		case 7: /* more bytes in parts than the offset */
			bad[h + 2] = 100;
			break;
		case 8: /* a part, and no multipart upload it belongs to */
			bad[h + 10] = 1;
			break;
		}
		tu_write_file(at(t, "uploads/%s/state", id), bad, len);
		assert_int_equal(octo_upload_open(s, "up", id, strlen(id), OCTO_UPLOAD_WRITE, &u),
				 OCTO_ERR_BLOB_UPLOAD_UNKNOWN);
	}
	/* a session of the version before, as it was written */
	memcpy(bad, good, h);
	memcpy(bad, "OCTOUPL2", 8);
	tu_write_file(at(t, "uploads/%s/state", id), bad, h);
	assert_int_equal(octo_upload_open(s, "up", id, strlen(id), OCTO_UPLOAD_WRITE, &u), OCTO_OK);
	octo_upload_close(u);
	/* the data shorter than the state's offset */
	tu_write_file(at(t, "uploads/%s/state", id), good, n);
	assert_int_equal(truncate(at(t, "uploads/%s/data", id), 4), 0);
	assert_int_equal(octo_upload_open(s, "up", id, strlen(id), OCTO_UPLOAD_WRITE, &u),
			 OCTO_ERR_BLOB_UPLOAD_UNKNOWN);
	/* the session directory a (relative) symlink to a good copy elsewhere in the store */
	assert_int_equal(truncate(at(t, "uploads/%s/data", id), 10), 0);
	assert_int_equal(rename(at(t, "uploads/%s", id), at(t, "elsewhere")), 0);
	assert_int_equal(symlink("../elsewhere", at(t, "uploads/%s", id)), 0);
	assert_int_not_equal(octo_upload_open(s, "up", id, strlen(id), OCTO_UPLOAD_WRITE, &u),
			     OCTO_OK);
	assert_int_equal(rename(at(t, "elsewhere"), at(t, "uploads/%s", id)) == 0 ||
				 (unlink(at(t, "uploads/%s", id)) == 0 &&
				  rename(at(t, "elsewhere"), at(t, "uploads/%s", id)) == 0),
			 1);
	assert_int_equal(octo_upload_open(s, "up", id, strlen(id), OCTO_UPLOAD_WRITE, &u), OCTO_OK);
	octo_upload_close(u);
	octo_store_free(s);
}

/* Referrer files that are not descriptors (or not named as ours) are left out of the list;
 * the good one stays. */
static void test_foreign_referrer_files(void **state)
{
	struct tu_registry *t = *state;
	const char *subject = tu_put_tag(t, "rf", "v1");
	char dir[PATH_MAX], uri[256];
	struct octo_response resp;
	static const char desc[] = "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
				   "\"digest\":\"sha256:aa\",\"size\":3}";

	snprintf(dir, sizeof(dir), "%s",
		 at(t, "repositories/rf/_referrers/sha256/%s", subject + 7));
	assert_int_equal(mkdir(at(t, "repositories/rf/_referrers"), 0755), 0);
	assert_int_equal(mkdir(at(t, "repositories/rf/_referrers/sha256"), 0755), 0);
	assert_int_equal(mkdir(dir, 0755), 0);
	tu_write_file(at(t, "repositories/rf/_referrers/sha256/%s/sha256-%064d", subject + 7, 1),
		      desc, sizeof(desc) - 1);
	tu_write_file(at(t, "repositories/rf/_referrers/sha256/%s/sha256-%064d", subject + 7, 2),
		      "[1,2]", 5);
	tu_write_file(at(t, "repositories/rf/_referrers/sha256/%s/notes.txt", subject + 7), desc,
		      sizeof(desc) - 1);
	snprintf(uri, sizeof(uri), "/v2/rf/referrers/%s", subject);
	tu_request(t, "GET", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 200);
	assert_non_null(strstr(resp.body, "\"digest\":\"sha256:aa\""));
	assert_null(strstr(resp.body, "[1,2]"));
	assert_int_equal(strstr(resp.body, "sha256:aa") - resp.body,
			 strrchr(resp.body, 'a') - resp.body - 8); /* listed once */
	octo_response_cleanup(&resp);
}

/* A journal whose last line is not ours: appends fail cleanly (500), and nothing is
 * numbered from garbage. */
static void test_foreign_journal(void **state)
{
	struct tu_registry *t = *state;
	struct octo_response resp;
	static const char junk[] = "{\"seq\":-5,\"type\":\"x\"}\n";
	char uri[256];

	tu_write_file(at(t, "journal/events"), junk, sizeof(junk) - 1);
	snprintf(uri, sizeof(uri), "/v2/j/blobs/uploads/?digest=%s", tu_sha256("hello", 5));
	tu_request(t, "POST", uri, "hello", 5, &resp, NULL);
	assert_int_equal(resp.status, 500);
	assert_string_equal(tu_error_code(&resp), "UNKNOWN");
	octo_response_cleanup(&resp);
}

/* Temporary names: unique in every process, also right after a fork (an unseeded random()
 * gave parent and child, or two containers' PID 1, the same names). */
static void test_tmpnames_unique(void **state)
{
	char a[80], b[80], child[80] = "";
	int fds[2], status;
	pid_t pid;

	(void)state;
	assert_int_equal(octo_store_tmpname(a, sizeof(a), "x."), OCTO_OK);
	assert_int_equal(octo_store_tmpname(b, sizeof(b), "x."), OCTO_OK);
	assert_string_not_equal(a, b);
	assert_int_equal(strlen(a), 2 + 32);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		char c[80];
		octo_store_tmpname(c, sizeof(c), "x.");
		_exit(write(fds[1], c, strlen(c) + 1) > 0 ? 0 : 1);
	}
	assert_int_equal(octo_store_tmpname(a, sizeof(a), "x."), OCTO_OK);
	assert_true(read(fds[0], child, sizeof(child)) > 0);
	waitpid(pid, &status, 0);
	assert_string_not_equal(a, child);
	close(fds[0]);
	close(fds[1]);
	/* no silent truncation: a name that does not fit is an error */
	assert_int_equal(octo_store_tmpname(a, 20, "x."), OCTO_ERR_IO);
}

/* A root so long that a blob's absolute path no longer fits PATH_MAX: the store still
 * works (everything is relative to the root's fd) and a GET that cannot say X-Sendfile
 * streams the blob instead of answering an empty 200. */
static void test_long_root(void **state)
{
	struct tu_registry *t = *state;
	char root[PATH_MAX], uri[256];
	struct tu_registry lt;
	struct octo_response resp;
	const char *d;
	size_t len;

	(void)t;
	len = (size_t)snprintf(root, sizeof(root), "%s", t->dir);
	while (len < PATH_MAX - 60) {
		len += (size_t)snprintf(
			root + len, sizeof(root) - len, "/%.*s",
			(int)(PATH_MAX - 60 - len > 200 ? 200 : PATH_MAX - 60 - len),
			"ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
			"ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
			"ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
			"ddddddddddddddddddddddddd");
	}
	memset(&lt, 0, sizeof(lt));
	lt.dir = strdup(root);
	assert_int_equal(octo_config_load_text(&lt.cfg, "{}", 2, NULL, NULL, 0), OCTO_OK);
	free(lt.cfg.storage.path);
	lt.cfg.storage.path = strdup(root);
	assert_int_equal(octo_registry_new(&lt.cfg, NULL, &lt.reg, NULL, 0), OCTO_OK);
	d = tu_push(&lt, "long", "far below the root");
	lt.cfg.fcgi.sendfile = OCTO_SENDFILE_X_SENDFILE;
	snprintf(uri, sizeof(uri), "/v2/long/blobs/%s", d);
	tu_request(&lt, "GET", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 200);
	assert_null(octo_response_header(&resp, "X-Sendfile"));
	assert_true(resp.file_fd >= 0);
	assert_int_equal(resp.file_length, 18);
	assert_string_equal(octo_response_header(&resp, "Content-Length"), "18");
	octo_response_cleanup(&resp);
	octo_registry_free(lt.reg);
	octo_config_cleanup(&lt.cfg);
	free(lt.dir);
}

/* The temporaries a process killed mid-write leaves beside tags (".v1.tmp.<32 hex>"):
 * swept by the registry's housekeeping once old, not while recent, nothing else touched. */
static void test_sweep_temporaries(void **state)
{
	struct tu_registry *t = *state;
	static const char hex[] = "0123456789abcdef0123456789abcdef";
	char old[PATH_MAX], recent[PATH_MAX], other[PATH_MAX];
	struct timespec ts[2];

	tu_put_tag(t, "sw", "v1");
	snprintf(old, sizeof(old), "%s", at(t, "repositories/sw/_manifests/tags/.v1.tmp.%s", hex));
	snprintf(recent, sizeof(recent), "%s",
		 at(t, "repositories/sw/_manifests/tags/.v2.tmp.%s", hex));
	snprintf(other, sizeof(other), "%s", at(t, "repositories/sw/_manifests/tags/.keep"));
	tu_write_file(old, "x", 1);
	tu_write_file(recent, "x", 1);
	tu_write_file(other, "x", 1);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 3600;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, old, ts, 0), 0);
	assert_int_equal(utimensat(AT_FDCWD, other, ts, 0), 0);
	octo_registry_collect(t->reg);
	assert_int_equal(access(old, F_OK), -1);
	assert_int_equal(access(recent, F_OK), 0);
	assert_int_equal(access(other, F_OK), 0);
	assert_int_equal(access(at(t, "repositories/sw/_manifests/tags/v1"), F_OK), 0);
}

/* Each errno a store can meet has its own error, and the failure says what, where, why. */
static void test_failure_says_why(void **state)
{
	char why[256];

	(void)state;
	octo_fs_failure_clear();
	assert_int_equal(octo_fs_failure(why, sizeof(why)), 0);
	assert_int_equal(octo_fs_fail("write", "uploads/u/data", ENOSPC), OCTO_ERR_STORE_FULL);
	assert_int_equal(octo_fs_error(ENOSPC), OCTO_ERR_STORE_FULL); /* keeps the context */
	assert_int_equal(octo_fs_failure(why, sizeof(why)), 1);
	assert_string_equal(why, "write uploads/u/data: No space left on device");
	assert_int_equal(octo_fs_error(EDQUOT), OCTO_ERR_STORE_FULL); /* another errno: its own */
	octo_fs_failure(why, sizeof(why));
	assert_string_equal(why, "Disk quota exceeded");
	assert_int_equal(octo_fs_error(EROFS), OCTO_ERR_STORE_READONLY);
	assert_int_equal(octo_fs_error(EACCES), OCTO_ERR_STORE_DENIED);
	assert_int_equal(octo_fs_error(EPERM), OCTO_ERR_STORE_DENIED);
	assert_int_equal(octo_fs_error(ENOMEM), OCTO_ERR_NOMEM);
	assert_int_equal(octo_fs_error(EIO), OCTO_ERR_IO);
	assert_int_equal(octo_err_status(OCTO_ERR_STORE_FULL), 507);
	assert_int_equal(octo_err_status(OCTO_ERR_STORE_READONLY), 503);
	octo_fs_failure_clear();
	assert_int_equal(octo_fs_failure(why, sizeof(why)), 0);
}

static int censuses;

static enum octo_err fake_census(const struct octo_store *s, int64_t g[OCTO_GAUGE__COUNT])
{
	(void)s;
	censuses++;
	g[OCTO_GAUGE_BLOBS] = 3;
	g[OCTO_GAUGE_BLOB_BYTES] = 300;
	g[OCTO_GAUGE_REPOSITORIES] = 1;
	g[OCTO_GAUGE_UPLOADS] = 2;
	return OCTO_OK;
}

/* Two handles on one store (two processes, as far as the file is concerned) add to the same
 * counters; only the first takes a census; a file of another layout is made again. */
static void test_metrics_shared(void **state)
{
	struct tu_registry *t = *state;
	struct octo_metrics *a, *b;
	struct octo_store *s;
	char path[4096], *text;
	size_t len;
	FILE *f;

	octo_registry_free(t->reg); /* it holds the counters too */
	t->reg = NULL;
	assert_int_equal(octo_store_open(t->dir, &s), OCTO_OK);
	censuses = 0;
	assert_int_equal(octo_metrics_open(s, fake_census, &a), OCTO_OK);
	assert_int_equal(octo_metrics_open(s, fake_census, &b), OCTO_OK); /* no lock held by a */
	assert_int_equal(censuses, 1);                                    /* b found a there */
	octo_metrics_gauge_add(b, OCTO_GAUGE_UPLOADS, -3);
	octo_metrics_gauge_add(a, OCTO_GAUGE_BLOB_BYTES, 1000);
	octo_metrics_gauge_add(NULL, OCTO_GAUGE_BLOBS, 1); /* harmless */
	assert_int_equal(octo_metrics_gauge(a, OCTO_GAUGE_UPLOADS), -1);
	octo_metrics_fsync(a, 50);
	octo_metrics_fsync(b, 2000000);
	octo_metrics_request(a, "GET", OCTO_EP_BLOB, 200, 0, 100, 2000, OCTO_OK);
	octo_metrics_request(b, "GET", OCTO_EP_BLOB, 200, 0, 50, 70000000, OCTO_OK);
	octo_metrics_request(b, "BREW", OCTO_EP_NONE, 299, 7, 0, 10, OCTO_ERR_MANIFEST_UNKNOWN);
	octo_metrics_request(b, "GET", OCTO_EP_MANIFEST, 404, 0, 0, 10, OCTO_ERR_MANIFEST_UNKNOWN);
	octo_metrics_request(NULL, "GET", OCTO_EP_BLOB, 200, 0, 0, 0, OCTO_OK); /* harmless */
	text = octo_metrics_text(a, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_non_null(strstr(text, "octoserve_http_requests_total{method=\"GET\",route=\"blob\","
				     "code=\"200\"} 2\n"));
	assert_non_null(strstr(text, "{method=\"other\",route=\"other\",code=\"other\"} 1\n"));
	assert_non_null(strstr(text, "octoserve_http_response_bytes_total{route=\"blob\"} 150\n"));
	assert_non_null(strstr(text, "_bucket{route=\"blob\",le=\"0.005\"} 1\n"));
	assert_non_null(strstr(text, "_bucket{route=\"blob\",le=\"60\"} 1\n"));
	assert_non_null(strstr(text, "_bucket{route=\"blob\",le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(text, "octoserve_errors_total{code=\"MANIFEST_UNKNOWN\"} 2\n"));
	assert_non_null(strstr(text, "\noctoserve_store_blobs 3\n"));
	assert_non_null(strstr(text, "\noctoserve_store_blob_bytes 1300\n"));
	assert_non_null(strstr(text, "\noctoserve_store_repositories 1\n"));
	assert_non_null(strstr(text, "\noctoserve_uploads_in_flight -1\n"));
	assert_non_null(
		strstr(text, "\noctoserve_fsync_duration_seconds_bucket{le=\"0.0001\"} 1\n"));
	assert_non_null(strstr(text, "\noctoserve_fsync_duration_seconds_bucket{le=\"1\"} 1\n"));
	assert_non_null(strstr(text, "\noctoserve_fsync_duration_seconds_bucket{le=\"5\"} 2\n"));
	assert_non_null(strstr(text, "\noctoserve_fsync_duration_seconds_sum 2.000050\n"));
	assert_non_null(strstr(text, "\noctoserve_fsync_duration_seconds_count 2\n"));
	free(text);
	octo_metrics_close(a);
	assert_int_equal(octo_metrics_open(s, fake_census, &a), OCTO_OK);
	assert_int_equal(censuses, 1); /* b is still there */
	octo_metrics_close(a);
	octo_metrics_close(b);
	assert_int_equal(octo_metrics_open(s, fake_census, &a), OCTO_OK);
	assert_int_equal(censuses, 2); /* nobody was: the gauges from the store again */
	assert_int_equal(octo_metrics_gauge(a, OCTO_GAUGE_UPLOADS), 2);
	octo_metrics_close(a);
	/* another layout (or a damaged file): made again, from zero */
	snprintf(path, sizeof(path), "%s/metrics.counters", t->dir);
	f = fopen(path, "r+");
	assert_non_null(f);
	fputs("garbage!", f);
	fclose(f);
	assert_int_equal(octo_metrics_open(s, fake_census, &a), OCTO_OK);
	text = octo_metrics_text(a, &len);
	assert_null(strstr(text, "route=\"blob\""));
	free(text);
	octo_metrics_close(a);
	octo_store_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failure_says_why),
		cmocka_unit_test_setup_teardown(test_metrics_shared, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_foreign_tag_files, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_tag_index, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_tag_and_revision, tu_setup,
						tu_teardown),
		cmocka_unit_test_setup_teardown(test_symlinked_blob, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_symlinked_directories, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_damaged_upload_state, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_foreign_referrer_files, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_foreign_journal, tu_setup, tu_teardown),
		cmocka_unit_test(test_tmpnames_unique),
		cmocka_unit_test_setup_teardown(test_long_root, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_sweep_temporaries, tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
