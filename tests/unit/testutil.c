/* SPDX-License-Identifier: Apache-2.0 */
#include "autoconfig.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	if (octo_registry_new(&t->cfg, NULL, &t->reg) != OCTO_OK)
		abort();
}

void tu_registry_stop(struct tu_registry *t)
{
	octo_registry_free(t->reg);
	octo_config_cleanup(&t->cfg);
	tu_rmtree(t->dir);
	free(t->dir);
}

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
