/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "digest.h"
#include "testutil.h"

char *tu_tempdir(void)
{
	char tmpl[] = "/tmp/octoserve-unit-XXXXXX";

	if (mkdtemp(tmpl) == NULL)
		abort();
	return strdup(tmpl);
}

void tu_rmtree(const char *path)
{
	char cmd[4200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd) != 0)
		abort();
}

static ssize_t tu_read(void *ctx, void *buf, size_t n)
{
	struct tu_body *tb = ctx;

	if (tb->fail_after >= 0 && tb->pos >= (size_t)tb->fail_after)
		return -1;
	if (n > tb->len - tb->pos)
		n = tb->len - tb->pos;
	if (tb->fail_after >= 0 && n > (size_t)tb->fail_after - tb->pos)
		n = (size_t)tb->fail_after - tb->pos;
	memcpy(buf, tb->data + tb->pos, n);
	tb->pos += n;
	return (ssize_t)n;
}

void tu_body_init(struct octo_body *body, struct tu_body *tb, const void *data, size_t len,
		  long long declared_length)
{
	tb->data = data;
	tb->len = len;
	tb->pos = 0;
	tb->fail_after = -1;
	body->read = tu_read;
	body->ctx = tb;
	body->length = declared_length;
}

void tu_registry_start(struct tu_registry *t)
{
	char err[256];

	t->dir = tu_tempdir();
	if (octo_config_load_text(&t->cfg, "{}", 2, NULL, err, sizeof(err)) != OCTO_OK)
		abort();
	free(t->cfg.storage.path);
	t->cfg.storage.path = strdup(t->dir);
	if (octo_registry_new(&t->cfg, NULL, &t->reg, NULL, 0) != OCTO_OK)
		abort();
}

int tu_setup(void **state)
{
	struct tu_registry *t = calloc(1, sizeof(*t));

	tu_registry_start(t);
	*state = t;
	return 0;
}

int tu_teardown(void **state)
{
	tu_registry_stop(*state);
	free(*state);
	return 0;
}

void tu_registry_stop(struct tu_registry *t)
{
	octo_registry_free(t->reg);
	octo_config_cleanup(&t->cfg);
	tu_rmtree(t->dir);
	free(t->dir);
}

const char *tu_remote_addr;

void tu_request(struct tu_registry *t, const char *method, const char *uri, const void *body,
		size_t body_len, struct octo_response *resp, ...)
{
	struct octo_header headers[16];
	struct octo_request req;
	struct tu_body tb;
	size_t n = 0;
	const char *name;
	va_list ap;

	va_start(ap, resp);
	while (n < 16 && (name = va_arg(ap, const char *)) != NULL) {
		headers[n].name = name;
		headers[n].value = va_arg(ap, const char *);
		n++;
	}
	va_end(ap);
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.uri = uri;
	req.headers = headers;
	req.n_headers = n;
	req.remote_addr = tu_remote_addr;
	tu_body_init(&req.body, &tb, body, body_len, (long long)body_len);
	octo_response_init(resp);
	octo_registry_handle(t->reg, &req, resp);
}

const char *tu_sha256(const void *data, size_t len)
{
	static char buf[OCTO_DIGEST_MAX_STRING];
	struct octo_digest d;

	octo_digest_of(OCTO_DIGEST_SHA256, data, len, &d);
	octo_digest_format(&d, buf, sizeof(buf));
	return buf;
}

const char *tu_push(struct tu_registry *t, const char *repo, const char *data)
{
	static char digest[OCTO_DIGEST_MAX_STRING + 8];
	struct octo_response resp;
	char uri[512];

	snprintf(digest, sizeof(digest), "%s", tu_sha256(data, strlen(data)));
	snprintf(uri, sizeof(uri), "/v2/%s/blobs/uploads/?digest=%s", repo, digest);
	tu_request(t, "POST", uri, data, strlen(data), &resp, NULL);
	assert_int_equal(resp.status, 201);
	octo_response_cleanup(&resp);
	return digest;
}

const char *tu_put_tag(struct tu_registry *t, const char *repo, const char *tag)
{
	static char digest[OCTO_DIGEST_MAX_STRING + 8];
	const char *cfg = tu_push(t, repo, "{}");
	char body[512], uri[512];
	struct octo_response resp;

	snprintf(
		body, sizeof(body),
		"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		"\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		"\"digest\":\"%s\",\"size\":2},\"layers\":[]}",
		cfg);
	snprintf(uri, sizeof(uri), "/v2/%s/manifests/%s", repo, tag);
	tu_request(t, "PUT", uri, body, strlen(body), &resp, "Content-Type",
		   "application/vnd.oci.image.manifest.v1+json", NULL);
	assert_int_equal(resp.status, 201);
	snprintf(digest, sizeof(digest), "%s",
		 octo_response_header(&resp, "Docker-Content-Digest"));
	octo_response_cleanup(&resp);
	return digest;
}

const char *tu_error_code(const struct octo_response *resp)
{
	static char code[64];
	const char *p = resp->body ? strstr(resp->body, "\"code\":\"") : NULL;

	if (p == NULL)
		return "";
	snprintf(code, sizeof(code), "%s", p + 8);
	*strchr(code, '"') = '\0';
	return code;
}

void tu_write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		abort();
}
