/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target for the request handler: every parser of untrusted bytes in the HTTP path
 * (URI routing, percent-decoding, query strings, names, digests, upload ids, Range,
 * Content-Range, bodies). Input: "METHOD URI\n" then "Name: value" lines, a blank line and
 * the body. The handler must answer something well-formed for any input. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct octo_config cfg;
static struct octo_registry *reg;

static void start(void)
{
	char err[256], tmpl[] = "/tmp/octoserve-fuzz-XXXXXX";

	if (mkdtemp(tmpl) == NULL || octo_config_load_text(&cfg, "{}", 2, NULL, err, sizeof(err)))
		abort();
	free(cfg.storage.path);
	cfg.storage.path = strdup(tmpl);
	if (octo_registry_new(&cfg, NULL, &reg) != OCTO_OK)
		abort();
}

struct mem_body {
	const char *p;
	size_t left;
};

static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
	struct mem_body *m = ctx;

	if (n > m->left)
		n = m->left;
	memcpy(buf, m->p, n);
	m->p += n;
	m->left -= n;
	return (ssize_t)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct octo_header headers[16];
	struct octo_request req;
	struct octo_response resp;
	struct mem_body mb;
	char *text, *line, *save = NULL, *body;
	char *method, *uri, *sp;
	size_t n = 0;

	if (reg == NULL)
		start();
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	body = strstr(text, "\n\n");
	if (body != NULL) {
		*body = '\0';
		body += 2;
	} else {
		body = text + size;
	}
	line = strtok_r(text, "\n", &save);
	method = line ? line : "GET";
	sp = line ? strchr(line, ' ') : NULL;
	if (sp != NULL)
		*sp = '\0';
	uri = sp ? sp + 1 : "/v2/";
	while (n < 16 && (line = strtok_r(NULL, "\n", &save)) != NULL) {
		char *colon = strchr(line, ':');
		if (colon == NULL)
			continue;
		*colon = '\0';
		headers[n].name = line;
		headers[n].value = colon[1] == ' ' ? colon + 2 : colon + 1;
		n++;
	}
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.uri = uri;
	req.headers = headers;
	req.n_headers = n;
	mb.p = body;
	mb.left = (size_t)(text + size - body);
	req.body.read = mem_read;
	req.body.ctx = &mb;
	req.body.length = octo_content_length(octo_request_header(&req, "Content-Length"));
	octo_response_init(&resp);
	octo_registry_handle(reg, &req, &resp);
	if (resp.status < 200 || resp.status > 599)
		abort();
	if (resp.status >= 500) /* a crafted request must never make the store fail */
		abort();
	octo_response_cleanup(&resp);
	free(text);
	return 0;
}
