/* SPDX-License-Identifier: Apache-2.0 */
/* The request handler, called directly: routing, statuses, headers, bodies. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "name.h"
#include "testutil.h"

static char *read_file_body(const struct octo_response *resp)
{
	char *buf = calloc(1, resp->file_length + 1);

	assert_true(pread(resp->file_fd, buf, resp->file_length, (off_t)resp->file_offset) ==
		    (ssize_t)resp->file_length);
	return buf;
}

static void test_error_table(void **state)
{
	struct tu_registry *t = *state;
	static const struct {
		const char *method, *uri;
		int status;
		const char *code;
	} cases[] = {
		{"GET", "/", 404, "UNSUPPORTED"},
		{"GET", "/v1/", 404, "UNSUPPORTED"},
		{"GET", "/v2/a/unknown/thing", 404, "UNSUPPORTED"},
		{"PUT", "/v2/", 405, "UNSUPPORTED"},
		{"GET", "/v2/A/blobs/sha256:0", 400, "NAME_INVALID"},
		{"GET", "/v2/a//b/blobs/sha256:0", 400, "NAME_INVALID"},
		{"GET", "/v2/%2e%2e/blobs/uploads/", 400, "NAME_INVALID"},
		{"GET", "/v2/a/blobs/sha256:xyz", 400, "DIGEST_INVALID"},
		{"GET", "/v2/a/blobs/sha256:../../etc/passwd", 404, "UNSUPPORTED"},
		{"GET",
		 "/v2/a/blobs/sha256:0000000000000000000000000000000000000000000000000000000000000000",
		 404, "BLOB_UNKNOWN"},
		{"GET", "/v2/a/blobs/uploads/", 405, "UNSUPPORTED"},
		{"POST", "/v2/a/blobs/sha256:0", 405, "UNSUPPORTED"},
		{"GET", "/v2/a/blobs/uploads/nope", 404, "BLOB_UPLOAD_UNKNOWN"},
		{"PATCH", "/v2/a/blobs/uploads/00000000-0000-0000-0000-000000000000", 404,
		 "BLOB_UPLOAD_UNKNOWN"},
		{"PUT", "/v2/a/blobs/uploads/00000000-0000-0000-0000-000000000000", 400,
		 "DIGEST_INVALID"},
		{"GET", "/v2/a/blobs/uploads/x%zz", 400, "UNSUPPORTED"},
		{"GET", "/v2/a/blobs/uploads/x?a=%", 400, "UNSUPPORTED"},
		{"GET", "/v2/a/blobs/uploads/x%00", 400, "UNSUPPORTED"},
		{"POST", "/v2/a/blobs/uploads/?digest=sha256:abc", 400, "DIGEST_INVALID"},
		{"POST", "/v2/a/blobs/uploads/?mount=nope&from=b", 400, "DIGEST_INVALID"},
		{"POST",
		 "/v2/a/blobs/uploads/"
		 "?mount=sha256:0000000000000000000000000000000000000000000000000000000000000000"
		 "&from=B",
		 400, "NAME_INVALID"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct octo_response resp;
		tu_request(t, cases[i].method, cases[i].uri, NULL, 0, &resp, NULL);
		if (resp.status != cases[i].status || strcmp(tu_error_code(&resp), cases[i].code))
			fail_msg("%s %s: got %d %s, want %d %s", cases[i].method, cases[i].uri,
				 resp.status, tu_error_code(&resp), cases[i].status, cases[i].code);
		assert_string_equal(octo_response_header(&resp, "Content-Type"),
				    "application/json");
		octo_response_cleanup(&resp);
	}
}

static void test_base(void **state)
{
	struct octo_response resp;

	tu_request(*state, "GET", "/v2/", NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 200);
	assert_string_equal(octo_response_header(&resp, "Docker-Distribution-API-Version"),
			    "registry/2.0");
	assert_string_equal(octo_response_header(&resp, "Content-Length"), "2");
	octo_response_cleanup(&resp);
}

static void test_get_and_head(void **state)
{
	struct tu_registry *t = *state;
	const char *d = tu_push(t, "lib/x", "0123456789");
	struct octo_response resp;
	char uri[256], *body;

	snprintf(uri, sizeof(uri), "/v2/lib/x/blobs/%s", d);
	tu_request(t, "GET", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 200);
	assert_string_equal(octo_response_header(&resp, "Docker-Content-Digest"), d);
	assert_string_equal(octo_response_header(&resp, "Content-Length"), "10");
	body = read_file_body(&resp);
	assert_string_equal(body, "0123456789");
	free(body);
	octo_response_cleanup(&resp);

	tu_request(t, "HEAD", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 200);
	assert_string_equal(octo_response_header(&resp, "Content-Length"), "10");
	assert_int_equal(resp.file_fd, -1);
	assert_null(resp.body);
	octo_response_cleanup(&resp);

	/* served only from repositories that link it */
	snprintf(uri, sizeof(uri), "/v2/lib/y/blobs/%s", d);
	tu_request(t, "GET", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 404);
	assert_string_equal(tu_error_code(&resp), "BLOB_UNKNOWN");
	octo_response_cleanup(&resp);
}

static void test_ranges(void **state)
{
	struct tu_registry *t = *state;
	const char *d = tu_push(t, "r", "0123456789");
	static const struct {
		const char *range;
		int status;
		const char *content_range, *body;
	} cases[] = {
		{"bytes=0-3", 206, "bytes 0-3/10", "0123"},
		{"bytes=5-", 206, "bytes 5-9/10", "56789"},
		{"bytes=-3", 206, "bytes 7-9/10", "789"},
		{"bytes=8-100", 206, "bytes 8-9/10", "89"},
		{"bytes=-100", 206, "bytes 0-9/10", "0123456789"},
		{"bytes=10-", 416, "bytes */10", NULL},
		{"bytes=-0", 416, "bytes */10", NULL},
		{"bytes=5-2", 200, NULL, "0123456789"},
		{"bytes=0-1,3-4", 200, NULL, "0123456789"},
		{"items=0-1", 200, NULL, "0123456789"},
	};
	char uri[256];
	size_t i;

	snprintf(uri, sizeof(uri), "/v2/r/blobs/%s", d);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct octo_response resp;
		const char *cr;

		tu_request(t, "GET", uri, NULL, 0, &resp, "Range", cases[i].range, NULL);
		assert_int_equal(resp.status, cases[i].status);
		cr = octo_response_header(&resp, "Content-Range");
		if (cases[i].content_range == NULL)
			assert_null(cr);
		else
			assert_string_equal(cr, cases[i].content_range);
		if (cases[i].body != NULL) {
			char *body = read_file_body(&resp);
			assert_string_equal(body, cases[i].body);
			free(body);
		} else {
			assert_string_equal(tu_error_code(&resp), "SIZE_INVALID");
		}
		octo_response_cleanup(&resp);
	}
}

static void test_sendfile_modes(void **state)
{
	struct tu_registry *t = *state;
	const char *d = tu_push(t, "s", "payload");
	struct octo_response resp;
	char uri[256], want[4300];

	snprintf(uri, sizeof(uri), "/v2/s/blobs/%s", d);
	t->cfg.fcgi.sendfile = OCTO_SENDFILE_X_SENDFILE;
	tu_request(t, "GET", uri, NULL, 0, &resp, "Range", "bytes=1-2", NULL);
	assert_int_equal(resp.status, 200); /* the front applies the range */
	assert_int_equal(resp.file_fd, -1);
	snprintf(want, sizeof(want), "%s/blobs/sha256/%.2s/%s", t->dir, d + 7, d + 7);
	assert_non_null(strstr(octo_response_header(&resp, "X-Sendfile"), want + 4));
	assert_null(octo_response_header(&resp, "Content-Length"));
	octo_response_cleanup(&resp);

	t->cfg.fcgi.sendfile = OCTO_SENDFILE_X_ACCEL;
	tu_request(t, "GET", uri, NULL, 0, &resp, NULL);
	snprintf(want, sizeof(want), "/_blobs/sha256/%.2s/%s", d + 7, d + 7);
	assert_string_equal(octo_response_header(&resp, "X-Accel-Redirect"), want);
	assert_string_equal(octo_response_header(&resp, "Docker-Content-Digest"), d);
	octo_response_cleanup(&resp);

	/* HEAD never needs the file */
	tu_request(t, "HEAD", uri, NULL, 0, &resp, NULL);
	assert_null(octo_response_header(&resp, "X-Accel-Redirect"));
	assert_string_equal(octo_response_header(&resp, "Content-Length"), "7");
	octo_response_cleanup(&resp);
	t->cfg.fcgi.sendfile = OCTO_SENDFILE_NONE;
}

static void test_chunked_session(void **state)
{
	struct tu_registry *t = *state;
	struct octo_response resp;
	char loc[512], uri[700];

	tu_request(t, "POST", "/v2/c/blobs/uploads/", NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 202);
	assert_string_equal(octo_response_header(&resp, "Range"), "0-0");
	snprintf(loc, sizeof(loc), "%s", octo_response_header(&resp, "Location"));
	assert_non_null(strstr(loc, "/v2/c/blobs/uploads/"));
	octo_response_cleanup(&resp);

	tu_request(t, "PATCH", loc, "abc", 3, &resp, "Content-Range", "0-2", NULL);
	assert_int_equal(resp.status, 202);
	assert_string_equal(octo_response_header(&resp, "Range"), "0-2");
	octo_response_cleanup(&resp);

	/* out of order: 416, nothing appended */
	tu_request(t, "PATCH", loc, "zzz", 3, &resp, "Content-Range", "5-7", NULL);
	assert_int_equal(resp.status, 416);
	assert_string_equal(octo_response_header(&resp, "Range"), "0-2");
	octo_response_cleanup(&resp);
	/* range and length disagree */
	tu_request(t, "PATCH", loc, "zzz", 3, &resp, "Content-Range", "3-9", NULL);
	assert_int_equal(resp.status, 416);
	octo_response_cleanup(&resp);

	tu_request(t, "PATCH", loc, "def", 3, &resp, NULL);
	assert_int_equal(resp.status, 202);
	octo_response_cleanup(&resp);

	tu_request(t, "GET", loc, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 204);
	assert_string_equal(octo_response_header(&resp, "Range"), "0-5");
	octo_response_cleanup(&resp);

	snprintf(uri, sizeof(uri), "%s?digest=%s", loc, tu_sha256("abcdefgh", 8));
	tu_request(t, "PUT", uri, "gh", 2, &resp, NULL);
	assert_int_equal(resp.status, 201);
	assert_string_equal(octo_response_header(&resp, "Docker-Content-Digest"),
			    tu_sha256("abcdefgh", 8));
	octo_response_cleanup(&resp);

	tu_request(t, "GET", loc, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 404);
	octo_response_cleanup(&resp);
}

static void test_mount_and_delete(void **state)
{
	struct tu_registry *t = *state;
	const char *d = tu_push(t, "src", "shared layer");
	struct octo_response resp;
	char uri[512];

	snprintf(uri, sizeof(uri), "/v2/dst/blobs/uploads/?from=src&mount=%s", d);
	tu_request(t, "POST", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 201);
	assert_string_equal(octo_response_header(&resp, "Docker-Content-Digest"), d);
	octo_response_cleanup(&resp);

	/* not linked in from: an ordinary upload starts */
	snprintf(uri, sizeof(uri), "/v2/dst2/blobs/uploads/?mount=%s&from=nothere", d);
	tu_request(t, "POST", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 202);
	octo_response_cleanup(&resp);

	/* automatic mount: no from */
	snprintf(uri, sizeof(uri), "/v2/dst3/blobs/uploads/?mount=%s", d);
	tu_request(t, "POST", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 201);
	octo_response_cleanup(&resp);

	snprintf(uri, sizeof(uri), "/v2/dst/blobs/%s", d);
	tu_request(t, "DELETE", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 202);
	octo_response_cleanup(&resp);
	tu_request(t, "GET", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 404);
	octo_response_cleanup(&resp);
	tu_request(t, "DELETE", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 404);
	octo_response_cleanup(&resp);

	t->cfg.storage.delete_enabled = 0;
	snprintf(uri, sizeof(uri), "/v2/src/blobs/%s", d);
	tu_request(t, "DELETE", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 405);
	assert_string_equal(tu_error_code(&resp), "UNSUPPORTED");
	octo_response_cleanup(&resp);
	t->cfg.storage.delete_enabled = 1;
}

static void test_digest_mismatch(void **state)
{
	struct tu_registry *t = *state;
	struct octo_response resp;
	char uri[512];

	snprintf(uri, sizeof(uri), "/v2/m/blobs/uploads/?digest=%s", tu_sha256("other", 5));
	tu_request(t, "POST", uri, "data", 4, &resp, NULL);
	assert_int_equal(resp.status, 400);
	assert_string_equal(tu_error_code(&resp), "DIGEST_INVALID");
	octo_response_cleanup(&resp);
	snprintf(uri, sizeof(uri), "/v2/m/blobs/%s", tu_sha256("data", 4));
	tu_request(t, "GET", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 404);
	octo_response_cleanup(&resp);
}

static void test_bad_content_length(void **state)
{
	struct tu_registry *t = *state;
	struct octo_request req = {.method = "POST", .uri = "/v2/a/blobs/uploads/"};
	struct octo_response resp;

	req.body.length = octo_content_length("12abc");
	assert_int_equal(req.body.length, OCTO_CONTENT_LENGTH_INVALID);
	assert_int_equal(octo_content_length(""), -1);
	assert_int_equal(octo_content_length(NULL), -1);
	assert_int_equal(octo_content_length("99999999999999999999999"),
			 OCTO_CONTENT_LENGTH_INVALID);
	assert_int_equal(octo_content_length("42"), 42);
	octo_response_init(&resp);
	octo_registry_handle(t->reg, &req, &resp);
	assert_int_equal(resp.status, 400);
	octo_response_cleanup(&resp);
}

static void test_external_url(void **state)
{
	struct tu_registry *t = calloc(1, sizeof(*t));
	struct octo_response resp;

	(void)state;
	t->dir = tu_tempdir();
	{
		char err[256];
		const char *js = "{\"server\":{\"external_url\":\"https://reg.example/\"}}";
		assert_int_equal(
			octo_config_load_text(&t->cfg, js, strlen(js), NULL, err, sizeof(err)),
			OCTO_OK);
		free(t->cfg.storage.path);
		t->cfg.storage.path = strdup(t->dir);
		assert_int_equal(octo_registry_new(&t->cfg, NULL, &t->reg, NULL, 0), OCTO_OK);
	}
	tu_request(t, "POST", "/v2/e/blobs/uploads/", NULL, 0, &resp, NULL);
	assert_int_equal(strncmp(octo_response_header(&resp, "Location"),
				 "https://reg.example/v2/e/blobs/uploads/", 39),
			 0);
	octo_response_cleanup(&resp);
	tu_registry_stop(t);
	free(t);
}

/* Push a minimal image manifest under tag; the config blob is pushed first. */
static void expect_tags(struct tu_registry *t, const char *uri, const char *want, const char *link)
{
	struct octo_response resp;

	tu_request(t, "GET", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 200);
	assert_string_equal(resp.body, want);
	if (link == NULL)
		assert_null(octo_response_header(&resp, "Link"));
	else
		assert_string_equal(octo_response_header(&resp, "Link"), link);
	octo_response_cleanup(&resp);
}

/* The tag index serves the list; without it the directory is scanned, with the same
 * answer; a repository without an index (one from before it) gets one from a scan of its tag
 * files at the next tag write. */
static void test_tag_index(void **state)
{
	struct tu_registry *t = *state;
	struct octo_response resp;
	char path[4300];
	FILE *f;

	tu_put_tag(t, "ti", "b");
	tu_put_tag(t, "ti", "A");
	tu_put_tag(t, "ti", "c");
	expect_tags(t, "/v2/ti/tags/list", "{\"name\":\"ti\",\"tags\":[\"A\",\"b\",\"c\"]}", NULL);
	expect_tags(t, "/v2/ti/tags/list?n=1&last=A", "{\"name\":\"ti\",\"tags\":[\"b\"]}",
		    "</v2/ti/tags/list?n=1&last=b>; rel=\"next\"");
	expect_tags(t, "/v2/ti/tags/list?n=0", "{\"name\":\"ti\",\"tags\":[]}", NULL);

	snprintf(path, sizeof(path), "%s/repositories/ti/_manifests/tags.index", t->dir);
	assert_int_equal(unlink(path), 0);
	expect_tags(t, "/v2/ti/tags/list?n=2", "{\"name\":\"ti\",\"tags\":[\"A\",\"b\"]}",
		    "</v2/ti/tags/list?n=2&last=b>; rel=\"next\"");

	/* a tag file written but not indexed */
	snprintf(path, sizeof(path), "%s/repositories/ti/_manifests/tags/d", t->dir);
	f = fopen(path, "w");
	fputs(tu_sha256("x", 1), f);
	fclose(f);
	tu_put_tag(t, "ti", "e");
	expect_tags(t, "/v2/ti/tags/list",
		    "{\"name\":\"ti\",\"tags\":[\"A\",\"b\",\"c\",\"d\",\"e\"]}", NULL);

	tu_request(t, "DELETE", "/v2/ti/manifests/b", NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 202);
	octo_response_cleanup(&resp);
	tu_request(t, "DELETE", "/v2/ti/manifests/b", NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 404);
	octo_response_cleanup(&resp);
	tu_request(t, "DELETE", "/v2/nope/manifests/b", NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 404);
	octo_response_cleanup(&resp);
	expect_tags(t, "/v2/ti/tags/list", "{\"name\":\"ti\",\"tags\":[\"A\",\"c\",\"d\",\"e\"]}",
		    NULL);
}

/* A repository of 128 one-letter components (the deepest valid name) is in the catalog;
 * one whose last manifest is deleted is not. */
static void test_catalog_depth(void **state)
{
	struct tu_registry *t = *state;
	struct octo_response resp;
	char deep[OCTO_NAME_MAX + 1], uri[OCTO_NAME_MAX + 128];
	const char *d;
	size_t i;

	for (i = 0; i < 128; i++) {
		deep[2 * i] = 'a';
		deep[2 * i + 1] = '/';
	}
	deep[255] = '\0';
	assert_int_equal(strlen(deep), 255);
	tu_put_tag(t, deep, "v1");
	d = tu_put_tag(t, "gone", "v1");
	snprintf(uri, sizeof(uri), "/v2/gone/manifests/%s", d);
	tu_request(t, "DELETE", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 202);
	octo_response_cleanup(&resp);
	tu_request(t, "GET", "/v2/_catalog", NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 200);
	snprintf(uri, sizeof(uri), "{\"repositories\":[\"%s\"]}", deep);
	assert_string_equal(resp.body, uri);
	octo_response_cleanup(&resp);
}

/* The catalog from its index: pages by n and last with their Link; a repository whose last
 * manifest goes is not listed; without the index the walk gives the same, and the next new
 * repository makes the index again. */
static void test_catalog_index(void **state)
{
	struct tu_registry *t = *state;
	struct octo_response resp;
	char path[4300], uri[512];
	const char *d;

	tu_put_tag(t, "c/b", "v1");
	tu_put_tag(t, "a", "v1");
	d = tu_put_tag(t, "c/a", "v1");
	tu_put_tag(t, "d", "v1");
	tu_put_tag(t, "a", "v2"); /* no change to the catalog */
	expect_tags(t, "/v2/_catalog", "{\"repositories\":[\"a\",\"c/a\",\"c/b\",\"d\"]}", NULL);
	expect_tags(t, "/v2/_catalog?n=2", "{\"repositories\":[\"a\",\"c/a\"]}",
		    "</v2/_catalog?n=2&last=c/a>; rel=\"next\"");
	expect_tags(t, "/v2/_catalog?n=2&last=c/a", "{\"repositories\":[\"c/b\",\"d\"]}", NULL);
	snprintf(uri, sizeof(uri), "/v2/c/a/manifests/%s", d);
	tu_request(t, "DELETE", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 202);
	octo_response_cleanup(&resp);
	expect_tags(t, "/v2/_catalog?n=2&last=a", "{\"repositories\":[\"c/b\",\"d\"]}", NULL);
	snprintf(path, sizeof(path), "%s/repositories.index", t->dir);
	assert_int_equal(unlink(path), 0);
	expect_tags(t, "/v2/_catalog", "{\"repositories\":[\"a\",\"c/b\",\"d\"]}", NULL);
	tu_put_tag(t, "b", "v1");
	assert_int_equal(access(path, F_OK), 0);
	expect_tags(t, "/v2/_catalog", "{\"repositories\":[\"a\",\"b\",\"c/b\",\"d\"]}", NULL);
}

/* Every page of tags/list?n=3, followed by its Link, joined: what the whole list says. */
static void expect_pages(struct tu_registry *t, const char *repo, const char *want)
{
	char uri[512], got[4096] = "", *link;

	snprintf(uri, sizeof(uri), "/v2/%s/tags/list?n=3", repo);
	for (;;) {
		struct octo_response resp;
		const char *l, *open, *close;
		tu_request(t, "GET", uri, NULL, 0, &resp, NULL);
		assert_int_equal(resp.status, 200);
		open = strchr(resp.body, '[');
		close = strrchr(resp.body, ']');
		if (close > open + 1) {
			if (got[0] != '\0')
				strcat(got, ",");
			strncat(got, open + 1, (size_t)(close - open - 1));
		}
		l = octo_response_header(&resp, "Link");
		link = l != NULL ? strdup(l) : NULL;
		octo_response_cleanup(&resp);
		if (link == NULL)
			break;
		snprintf(uri, sizeof(uri), "%.*s", (int)(strchr(link, '>') - link - 1), link + 1);
		free(link);
	}
	assert_string_equal(got, want);
}

static void delete_tag(struct tu_registry *t, const char *repo, const char *tag, int status)
{
	struct octo_response resp;
	char uri[512];

	snprintf(uri, sizeof(uri), "/v2/%s/manifests/%s", repo, tag);
	tu_request(t, "DELETE", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, status);
	octo_response_cleanup(&resp);
}

/* A snapshot and a delta of adds and removes on both sides of it: every page right, in
 * order, none missing or twice; a folded delta (past its size) gives the same; a "+" a
 * crash left without its tag file is never listed and goes at the fold. */
static void test_tag_index_delta(void **state)
{
	struct tu_registry *t = *state;
	char path[4300];
	size_t i, n = 300 * 1024 / 4; /* lines of 4 bytes: past the delta's 256 KiB */
	FILE *f;

	tu_put_tag(t, "td", "c");
	tu_put_tag(t, "td", "e");
	tu_put_tag(t, "td", "g");
	/* the snapshot from a scan: c, e, g; then a delta on both sides and in between */
	snprintf(path, sizeof(path), "%s/repositories/td/_manifests/tags.index", t->dir);
	assert_int_equal(unlink(path), 0);
	tu_put_tag(t, "td", "a");
	tu_put_tag(t, "td", "d");
	tu_put_tag(t, "td", "h");
	tu_put_tag(t, "td", "e"); /* a retag: nothing new */
	delete_tag(t, "td", "c", 202);
	delete_tag(t, "td", "c", 404);
	tu_put_tag(t, "td", "c"); /* and back */
	delete_tag(t, "td", "g", 202);
	tu_put_tag(t, "td", "B");
	expect_tags(t, "/v2/td/tags/list",
		    "{\"name\":\"td\",\"tags\":[\"a\",\"B\",\"c\",\"d\",\"e\",\"h\"]}", NULL);
	expect_pages(t, "td", "\"a\",\"B\",\"c\",\"d\",\"e\",\"h\"");
	expect_tags(t, "/v2/td/tags/list?n=2&last=c", "{\"name\":\"td\",\"tags\":[\"d\",\"e\"]}",
		    "</v2/td/tags/list?n=2&last=e>; rel=\"next\"");
	expect_tags(t, "/v2/td/tags/list?last=h", "{\"name\":\"td\",\"tags\":[]}", NULL);

	/* a crash between the "+" and the tag file: not listed */
	snprintf(path, sizeof(path), "%s/repositories/td/_manifests/tags.delta", t->dir);
	f = fopen(path, "a");
	fputs("+ghost\n", f);
	fclose(f);
	expect_pages(t, "td", "\"a\",\"B\",\"c\",\"d\",\"e\",\"h\"");

	/* a delta past its size is folded at the next write: same list, small delta, no ghost */
	f = fopen(path, "a");
	for (i = 0; i < n; i++)
		fputs(i % 2 ? "+zz\n" : "-zz\n", f); /* zz: never a file, removed last */
	fclose(f);
	tu_put_tag(t, "td", "f");
	expect_pages(t, "td", "\"a\",\"B\",\"c\",\"d\",\"e\",\"f\",\"h\"");
	f = fopen(path, "r");
	fseek(f, 0, SEEK_END);
	assert_int_equal(ftell(f), 3); /* "+f\n" */
	fclose(f);
	snprintf(path, sizeof(path), "%s/repositories/td/_manifests/tags.index", t->dir);
	f = fopen(path, "r");
	assert_non_null(f);
	{
		char buf[256];
		size_t got = fread(buf, 1, sizeof(buf) - 1, f);
		buf[got] = '\0';
		assert_string_equal(buf, "a\nB\nc\nd\ne\nh\n"); /* f: in the new delta */
	}
	fclose(f);
}

/* PUT a referrer of subject with an annotation of pad bytes; returns the status. */
static int put_referrer(struct tu_registry *t, const char *repo, const char *subject, int n,
			size_t pad)
{
	const char *cfg = tu_push(t, repo, "{}");
	size_t size = 1024 + pad;
	char *body = malloc(size), *fill = malloc(pad + 1), uri[256];
	struct octo_response resp;
	int status;

	memset(fill, 'p', pad);
	fill[pad] = '\0';
	snprintf(
		body, size,
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"artifactType\":\"application/x.test+json\",\"config\":{\"mediaType\":"
		"\"application/vnd.oci.empty.v1+json\",\"digest\":\"%s\",\"size\":2},"
		"\"layers\":[],\"subject\":{\"mediaType\":"
		"\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":9},"
		"\"annotations\":{\"n\":\"%d\",\"pad\":\"%s\"}}",
		cfg, subject, n, fill);
	snprintf(uri, sizeof(uri), "/v2/%s/manifests/%s", repo, tu_sha256(body, strlen(body)));
	tu_request(t, "PUT", uri, body, strlen(body), &resp, "Content-Type",
		   "application/vnd.oci.image.manifest.v1+json", NULL);
	status = resp.status;
	if (status != 201)
		assert_string_equal(tu_error_code(&resp), "MANIFEST_INVALID");
	octo_response_cleanup(&resp);
	free(body);
	free(fill);
	return status;
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	for (s = strstr(s, needle); s != NULL; s = strstr(s + 1, needle))
		n++;
	return n;
}

/* Follow the referrers list of subject page by page: the entries on each page (at most
 * max_pages pages) into per_page; the total. */
static size_t list_pages(struct tu_registry *t, const char *repo, const char *subject,
			 size_t *per_page, size_t max_pages)
{
	char uri[512];
	size_t total = 0, page;

	snprintf(uri, sizeof(uri), "/v2/%s/referrers/%s?artifactType=application/x.test+json", repo,
		 subject);
	for (page = 0; page < max_pages; page++) {
		struct octo_response resp;
		const char *link;
		tu_request(t, "GET", uri, NULL, 0, &resp, NULL);
		assert_int_equal(resp.status, 200);
		per_page[page] = count(resp.body, "\"digest\":");
		total += per_page[page];
		link = octo_response_header(&resp, "Link");
		if (link == NULL) {
			octo_response_cleanup(&resp);
			per_page[page + 1] = 0;
			break;
		}
		assert_true(link[0] == '<' && strstr(link, ">; rel=\"next\"") != NULL);
		assert_non_null(strstr(link, "artifactType=application%2Fx.test%2Bjson"));
		snprintf(uri, sizeof(uri), "%.*s", (int)(strchr(link, '>') - link - 1), link + 1);
		octo_response_cleanup(&resp);
	}
	return total;
}

/* GET referrers comes in pages bounded by entries and by bytes, every referrer that got a
 * 201 listed once; one whose descriptor the index cannot hold is refused at PUT (it was
 * accepted and then silently left out of the list). */
static void test_referrers_pages(void **state)
{
	struct tu_registry *t = *state;
	const char *s1 = tu_sha256("subject one", 11);
	char subject[80];
	size_t pages[8], i;

	snprintf(subject, sizeof(subject), "%s", s1);
	for (i = 0; i < 300; i++)
		assert_int_equal(put_referrer(t, "rp", subject, (int)i, 0), 201);
	assert_int_equal(list_pages(t, "rp", subject, pages, 6), 300);
	assert_int_equal(pages[0], 256);
	assert_int_equal(pages[1], 44);

	snprintf(subject, sizeof(subject), "%s", tu_sha256("subject two", 11));
	for (i = 0; i < 20; i++)
		assert_int_equal(put_referrer(t, "rp", subject, (int)i, 60000), 201);
	assert_int_equal(put_referrer(t, "rp", subject, 99, 70000), 400);
	assert_int_equal(list_pages(t, "rp", subject, pages, 6), 20);
	assert_int_equal(pages[0], 17); /* 1 MiB of ~60 KB descriptors */
	assert_int_equal(pages[1], 3);
}

static int post_session(struct tu_registry *t, const char *addr, char *loc, size_t size)
{
	struct octo_response resp;
	int status;

	tu_remote_addr = addr;
	tu_request(t, "POST", "/v2/caps/blobs/uploads/", NULL, 0, &resp, NULL);
	tu_remote_addr = NULL;
	status = resp.status;
	if (status == 202)
		snprintf(loc, size, "%s", octo_response_header(&resp, "Location"));
	else
		assert_string_equal(octo_response_header(&resp, "Retry-After"), "1");
	octo_response_cleanup(&resp);
	return status;
}

/* storage.max_uploads_per_client and storage.max_uploads: past either, POST answers 429
 * TOOMANYREQUESTS; a session that ends makes room again. */
static void test_session_caps(void **state)
{
	struct tu_registry *t = *state;
	struct octo_response resp;
	char loc[512], first[512];
	int i;

	t->cfg.storage.max_uploads_per_client = 3;
	t->cfg.storage.max_uploads = 5;
	for (i = 0; i < 3; i++)
		assert_int_equal(post_session(t, "192.0.2.1", i == 0 ? first : loc, sizeof(loc)),
				 202);
	assert_int_equal(post_session(t, "192.0.2.1", loc, sizeof(loc)), 429);
	assert_int_equal(post_session(t, "192.0.2.2", loc, sizeof(loc)), 202);
	assert_int_equal(post_session(t, "192.0.2.3", loc, sizeof(loc)), 202);
	assert_int_equal(post_session(t, "192.0.2.4", loc, sizeof(loc)), 429); /* 5 in all */
	tu_request(t, "DELETE", first, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 204);
	octo_response_cleanup(&resp);
	assert_int_equal(post_session(t, "192.0.2.1", loc, sizeof(loc)), 202);
	/* monolithic pushes are not sessions that stay: not counted against the caps */
	tu_remote_addr = "192.0.2.1";
	tu_push(t, "caps", "monolithic");
	tu_remote_addr = NULL;
	t->cfg.storage.max_uploads_per_client = 256;
	t->cfg.storage.max_uploads = 4096;
}

/* storage.max_blob_size: a monolithic push or a chunk that would grow a blob past it gets
 * 413 SIZE_INVALID, and the session stays as it was. */
static void test_max_blob_size(void **state)
{
	struct tu_registry *t = *state;
	struct octo_response resp;
	char uri[512], loc[512];

	t->cfg.storage.max_blob_size = 10;
	snprintf(uri, sizeof(uri), "/v2/mb/blobs/uploads/?digest=%s", tu_sha256("01234567890", 11));
	tu_request(t, "POST", uri, "01234567890", 11, &resp, NULL);
	assert_int_equal(resp.status, 413);
	assert_string_equal(tu_error_code(&resp), "SIZE_INVALID");
	octo_response_cleanup(&resp);
	tu_push(t, "mb", "0123456789");
	tu_request(t, "POST", "/v2/mb/blobs/uploads/", NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 202);
	snprintf(loc, sizeof(loc), "%s", octo_response_header(&resp, "Location"));
	octo_response_cleanup(&resp);
	tu_request(t, "PATCH", loc, "abcdef", 6, &resp, NULL);
	assert_int_equal(resp.status, 202);
	octo_response_cleanup(&resp);
	tu_request(t, "PATCH", loc, "ghijk", 5, &resp, NULL);
	assert_int_equal(resp.status, 413);
	octo_response_cleanup(&resp);
	tu_request(t, "GET", loc, NULL, 0, &resp, NULL);
	assert_string_equal(octo_response_header(&resp, "Range"), "0-5");
	octo_response_cleanup(&resp);
	t->cfg.storage.max_blob_size = 0;
}

/* storage.min_free: below the floor of free bytes or inodes every write answers 507 and
 * reads go on; a body that says it would cross the floor is refused before it is read. */
static void test_min_free(void **state)
{
	struct tu_registry *t = *state;
	const char *d = tu_push(t, "mf", "kept");
	struct octo_response resp;
	struct octo_request req;
	struct octo_body body;
	struct tu_body tb;
	struct statvfs v;
	char uri[512];
	int round;

	snprintf(uri, sizeof(uri), "/v2/mf/blobs/%s", d);
	for (round = 0; round < 2; round++) {
		if (round == 0)
			t->cfg.storage.min_free_bytes = 1LL << 60;
		else
			t->cfg.storage.min_free_bytes = 0,
			t->cfg.storage.min_free_inodes = 1LL << 40;
		tu_request(t, "POST", "/v2/mf/blobs/uploads/", NULL, 0, &resp, NULL);
		assert_int_equal(resp.status, 507);
		assert_string_equal(tu_error_code(&resp), "DENIED");
		octo_response_cleanup(&resp);
		tu_request(t, "PUT", "/v2/mf/manifests/v1", "{}", 2, &resp, NULL);
		assert_int_equal(resp.status, 507);
		octo_response_cleanup(&resp);
		tu_request(t, "GET", uri, NULL, 0, &resp, NULL);
		assert_int_equal(resp.status, 200);
		octo_response_cleanup(&resp);
	}
	/* 1 GiB declared with 4 GiB to spare above the floor... */
	assert_int_equal(statvfs(t->dir, &v), 0);
	t->cfg.storage.min_free_inodes = 0;
	t->cfg.storage.min_free_bytes = (long long)v.f_bavail * (long long)v.f_frsize - (4LL << 30);
	if (t->cfg.storage.min_free_bytes < 0)
		skip(); /* less than 4 GiB free here */
	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.uri = "/v2/mf/blobs/uploads/?digest=sha256:"
		  "0000000000000000000000000000000000000000000000000000000000000000";
	tu_body_init(&req.body, &tb, "x", 1, 1LL << 30);
	octo_response_init(&resp);
	octo_registry_handle(t->reg, &req, &resp);
	assert_int_not_equal(resp.status, 507); /* (400: the body was cut short) */
	octo_response_cleanup(&resp);
	/* ... and 8 GiB declared: refused before a byte is read */
	tu_body_init(&body, &tb, "x", 1, 8LL << 30);
	req.body = body;
	octo_response_init(&resp);
	octo_registry_handle(t->reg, &req, &resp);
	assert_int_equal(resp.status, 507);
	assert_int_equal(tb.pos, 0);
	octo_response_cleanup(&resp);
	t->cfg.storage.min_free_bytes = 0;
}

/* The value of an unlabelled series of GET /metrics. */
static long long metric(struct tu_registry *t, const char *name)
{
	struct octo_response resp;
	char key[128];
	const char *p;
	long long v;

	tu_request(t, "GET", "/metrics", NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 200);
	snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(resp.body, key);
	assert_non_null(p);
	v = strtoll(p + strlen(key), NULL, 10);
	octo_response_cleanup(&resp);
	return v;
}

static void assert_gauges(struct tu_registry *t, long long blobs, long long bytes, long long repos,
			  long long uploads)
{
	assert_int_equal(metric(t, "octoserve_store_blobs"), blobs);
	assert_int_equal(metric(t, "octoserve_store_blob_bytes"), bytes);
	assert_int_equal(metric(t, "octoserve_store_repositories"), repos);
	assert_int_equal(metric(t, "octoserve_uploads_in_flight"), uploads);
}

/* The store gauges follow every change, and a registry opened alone on the store counts
 * the same from the store itself. */
static void test_store_gauges(void **state)
{
	struct tu_registry *t = *state;
	struct octo_response resp;
	long long bytes;
	char loc[512], uri[700];
	const char *m;

	assert_gauges(t, 0, 0, 0, 0);
	tu_push(t, "g/a", "12345");
	tu_push(t, "g/b", "12345"); /* the same content: one blob */
	tu_push(t, "g/b", "678");
	assert_gauges(t, 2, 8, 0, 0);
	m = tu_put_tag(t, "g/a", "v1"); /* a config blob and the manifest */
	assert_int_equal(metric(t, "octoserve_store_blobs"), 4);
	assert_int_equal(metric(t, "octoserve_store_repositories"), 1);
	tu_put_tag(t, "g/a", "v2");
	assert_int_equal(metric(t, "octoserve_store_repositories"), 1);
	bytes = metric(t, "octoserve_store_blob_bytes");
	assert_true(bytes > 8);

	tu_request(t, "POST", "/v2/g/c/blobs/uploads/", NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 202);
	snprintf(loc, sizeof(loc), "%s", octo_response_header(&resp, "Location"));
	octo_response_cleanup(&resp);
	tu_request(t, "POST", "/v2/g/c/blobs/uploads/", NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 202);
	octo_response_cleanup(&resp);
	assert_int_equal(metric(t, "octoserve_uploads_in_flight"), 2);
	tu_request(t, "DELETE", loc, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 204);
	octo_response_cleanup(&resp);
	tu_request(t, "DELETE", loc, NULL, 0, &resp, NULL); /* gone already: counted once */
	assert_int_equal(resp.status, 404);
	octo_response_cleanup(&resp);
	assert_int_equal(metric(t, "octoserve_uploads_in_flight"), 1);

	/* the census of a registry alone on the store agrees */
	octo_registry_free(t->reg);
	assert_int_equal(octo_registry_new(&t->cfg, NULL, &t->reg, NULL, 0), OCTO_OK);
	assert_gauges(t, 4, bytes, 1, 1);

	/* deleting every manifest of g/a: no repository holds one */
	snprintf(uri, sizeof(uri), "/v2/g/a/manifests/%s", m);
	tu_request(t, "DELETE", uri, NULL, 0, &resp, NULL);
	assert_int_equal(resp.status, 202);
	octo_response_cleanup(&resp);
	assert_int_equal(metric(t, "octoserve_store_repositories"), 0);
	assert_int_equal(metric(t, "octoserve_store_blobs"), 4); /* unlinked, not removed */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_error_table, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_base, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_get_and_head, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_ranges, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_sendfile_modes, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_chunked_session, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_mount_and_delete, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_digest_mismatch, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_bad_content_length, tu_setup, tu_teardown),
		cmocka_unit_test(test_external_url),
		cmocka_unit_test_setup_teardown(test_tag_index, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_tag_index_delta, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_catalog_depth, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_catalog_index, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_referrers_pages, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_max_blob_size, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_session_caps, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_min_free, tu_setup, tu_teardown),
		cmocka_unit_test_setup_teardown(test_store_gauges, tu_setup, tu_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
