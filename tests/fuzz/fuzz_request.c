/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz target for the request handler: every parser of untrusted bytes in the HTTP path
 * (URI routing, percent-decoding, query strings, names, digests, upload ids, Range,
 * Content-Range, bodies, manifests). An input is a conversation: requests separated by a
 * line "@@", each "METHOD URI\n", then "Name: value" lines, a blank line and the body.
 * Placeholders make later requests reach what earlier ones made: @UUID@ is the last upload
 * session's id, @BODY@ the sha256 digest of this request's body, @SESSION@ the digest of
 * everything PATCHed into the last session. Each input starts from a fresh store, so runs
 * do not depend on each other and the store never grows. The handler must answer every
 * request with a well-formed status, and never 5xx (but 507 for a body larger than the
 * disk): a crafted request must not make the store fail. */
#include "autoconfig.h"

#define _XOPEN_SOURCE_EXTENDED 1
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REQUESTS 8
#define MAX_TEXT 8192 /* a URI or header line after substitution */

struct conversation {
	struct octo_registry *reg;
	char uuid[64];
	struct octo_hasher *session; /* what was PATCHed into the last session */
	char session_digest[OCTO_DIGEST_MAX_STRING];
};

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

/* Copy s into out (MAX_TEXT bytes) with the placeholders replaced. */
static void substitute(const struct conversation *c, const char *s, const char *body_digest,
		       char *out)
{
	size_t o = 0;

	while (*s != '\0' && o < MAX_TEXT - 1) {
		const char *with = NULL;
		size_t skip = 0;
		if (strncmp(s, "@UUID@", 6) == 0)
			with = c->uuid, skip = 6;
		else if (strncmp(s, "@BODY@", 6) == 0)
			with = body_digest, skip = 6;
		else if (strncmp(s, "@SESSION@", 9) == 0)
			with = c->session_digest, skip = 9;
		if (with != NULL) {
			size_t n = strlen(with);
			if (n > MAX_TEXT - 1 - o)
				n = MAX_TEXT - 1 - o;
			memcpy(out + o, with, n);
			o += n;
			s += skip;
		} else {
			out[o++] = *s++;
		}
	}
	out[o] = '\0';
}

static void one_request(struct conversation *c, char *text, size_t size)
{
	static char uri[MAX_TEXT], values[16][MAX_TEXT];
	struct octo_header headers[16];
	struct octo_request req;
	struct octo_response resp;
	struct octo_digest bd;
	struct mem_body mb;
	char body_digest[OCTO_DIGEST_MAX_STRING], *line, *save = NULL, *body, *sp;
	const char *method, *id;
	size_t n = 0, body_len;

	body = strstr(text, "\n\n");
	if (body != NULL) {
		*body = '\0';
		body += 2;
	} else {
		body = text + size;
	}
	body_len = (size_t)(text + size - body);
	octo_digest_of(OCTO_DIGEST_SHA256, body, body_len, &bd);
	octo_digest_format(&bd, body_digest, sizeof(body_digest));
	line = strtok_r(text, "\n", &save);
	method = line ? line : "GET";
	sp = line ? strchr(line, ' ') : NULL;
	if (sp != NULL)
		*sp = '\0';
	substitute(c, sp ? sp + 1 : "/v2/", body_digest, uri);
	while (n < 16 && (line = strtok_r(NULL, "\n", &save)) != NULL) {
		char *colon = strchr(line, ':');
		if (colon == NULL)
			continue;
		*colon = '\0';
		headers[n].name = line;
		substitute(c, colon[1] == ' ' ? colon + 2 : colon + 1, body_digest, values[n]);
		headers[n].value = values[n];
		n++;
	}
	memset(&req, 0, sizeof(req));
	req.method = method;
	req.uri = uri;
	req.headers = headers;
	req.n_headers = n;
	mb.p = body;
	mb.left = body_len;
	req.body.read = mem_read;
	req.body.ctx = &mb;
	req.body.length = octo_content_length(octo_request_header(&req, "Content-Length"));
	octo_response_init(&resp);
	octo_registry_handle(c->reg, &req, &resp);
	/* 5xx means the store failed, except 507: a declared body larger than the disk */
	if (resp.status < 200 || resp.status > 599 || (resp.status >= 500 && resp.status != 507))
		abort();
	/* Follow the session: a new one starts its running digest over; a PATCH that was
	 * accepted adds its body. */
	id = octo_response_header(&resp, "Docker-Upload-UUID");
	if (id != NULL && strcmp(id, c->uuid) != 0) {
		snprintf(c->uuid, sizeof(c->uuid), "%s", id);
		octo_hasher_free(c->session);
		c->session = octo_hasher_new(OCTO_DIGEST_SHA256);
	}
	if (resp.status == 202 && strcmp(method, "PATCH") == 0 && c->session != NULL) {
		struct octo_hasher *copy;
		unsigned char state[OCTO_HASHER_STATE_MAX];
		struct octo_digest sd;
		octo_hasher_update(c->session, body, body_len);
		copy = octo_hasher_load(state, octo_hasher_save(c->session, state));
		if (copy != NULL) {
			octo_hasher_final(copy, &sd);
			octo_digest_format(&sd, c->session_digest, sizeof(c->session_digest));
			octo_hasher_free(copy);
		}
	}
	octo_response_cleanup(&resp);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conversation c;
	struct octo_config cfg;
	char err[256], tmpl[64], *text, *p;
	int i;

	memset(&c, 0, sizeof(c));
	snprintf(c.session_digest, sizeof(c.session_digest), "sha256:none");
	/* On tmpfs where there is one: the store fsyncs every change, which on a disk made
	 * each input cost milliseconds. */
	snprintf(tmpl, sizeof(tmpl), "%s/octoserve-fuzz-XXXXXX",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(tmpl) == NULL || octo_config_load_text(&cfg, "{}", 2, NULL, err, sizeof(err)))
		abort();
	free(cfg.storage.path);
	cfg.storage.path = strdup(tmpl);
	if (octo_registry_new(&cfg, NULL, &c.reg, NULL, 0) != OCTO_OK)
		abort();
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	for (p = text, i = 0; p != NULL && i < MAX_REQUESTS; i++) {
		char *next = strstr(p, "\n@@\n");
		size_t len;
		if (next != NULL) {
			*next = '\0';
			next += 4;
		}
		len = next != NULL ? strlen(p) : (size_t)(text + size - p);
		one_request(&c, p, len);
		p = next;
	}
	free(text);
	octo_hasher_free(c.session);
	octo_registry_free(c.reg);
	octo_config_cleanup(&cfg);
	nftw(tmpl, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
