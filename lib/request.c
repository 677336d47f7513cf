/* SPDX-License-Identifier: Apache-2.0 */
/* See request.h. Nothing here trusts a declared length: the body is read in bounded steps
 * and Content-Length only says when to stop. */
#include "autoconfig.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "request.h"

const char *octo_request_header(const struct octo_request *req, const char *name)
{
	size_t i;

	for (i = 0; i < req->n_headers; i++)
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	return NULL;
}

long long octo_content_length(const char *value)
{
	unsigned long long v = 0;
	const char *p;

	if (value == NULL || *value == '\0')
		return -1;
	for (p = value; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v > (unsigned long long)(LLONG_MAX - 9) / 10)
			return OCTO_CONTENT_LENGTH_INVALID;
		v = v * 10 + (unsigned)(*p - '0');
	}
	return (long long)v;
}

enum octo_err octo_request_read_body(const struct octo_request *req, size_t max, char **out,
				     size_t *len)
{
	size_t cap = 64 * 1024, n = 0;
	enum octo_err err = OCTO_OK;
	char *buf;

	*out = NULL;
	*len = 0;
	if (req->body.length > (long long)max)
		return OCTO_ERR_TOO_LARGE;
	if (req->body.length >= 0) /* room for exactly the declared body, and one byte more to
				      see that it does not go on */
		cap = (size_t)req->body.length + 1;
	buf = malloc(cap + 1);
	if (buf == NULL)
		return OCTO_ERR_NOMEM;
	for (;;) {
		ssize_t got;
		if (n == cap) {
			char *nb;
			if (cap > max) {
				err = OCTO_ERR_TOO_LARGE;
				goto out;
			}
			cap *= 2;
			nb = realloc(buf, cap + 1);
			if (nb == NULL) {
				err = OCTO_ERR_NOMEM;
				goto out;
			}
			buf = nb;
		}
		got = req->body.read(req->body.ctx, buf + n, cap - n);
		if (got < 0) {
			err = OCTO_ERR_INCOMPLETE;
			goto out;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	if (n > max)
		err = OCTO_ERR_TOO_LARGE;
	else if (req->body.length >= 0 && n != (size_t)req->body.length)
		err = OCTO_ERR_INCOMPLETE;
out:
	if (err != OCTO_OK) {
		free(buf);
		return err;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return OCTO_OK;
}

int octo_percent_decode(const char *src, size_t len, char *dst)
{
	static const char hex[] = "0123456789abcdef0123456789ABCDEF";
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		if (src[i] == '%') {
			const char *h, *l;
			if (i + 2 >= len)
				return -1;
			h = memchr(hex, src[i + 1], sizeof(hex) - 1);
			l = memchr(hex, src[i + 2], sizeof(hex) - 1);
			if (h == NULL || l == NULL)
				return -1;
			dst[o] = (char)((((h - hex) & 15) << 4) | ((l - hex) & 15));
			if (dst[o] == '\0')
				return -1;
			o++;
			i += 2;
		} else {
			dst[o++] = src[i];
		}
	}
	dst[o] = '\0';
	return 0;
}

/* One encoder for query values and URI paths: they differ only in keeping '/'. */
static char *percent_encode(const char *src, int keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t len = strlen(src), o = 0, i;
	char *dst = malloc(3 * len + 1);

	if (dst == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
			dst[o++] = (char)c;
		} else {
			dst[o++] = '%';
			dst[o++] = digits[c >> 4];
			dst[o++] = digits[c & 15];
		}
	}
	dst[o] = '\0';
	return dst;
}

char *octo_percent_encode(const char *src)
{
	return percent_encode(src, 0);
}

char *octo_percent_encode_path(const char *src)
{
	return percent_encode(src, 1);
}

int octo_query_parse(const char *raw, struct octo_query *q)
{
	size_t len = strlen(raw);
	char *p;

	memset(q, 0, sizeof(*q));
	if (len == 0)
		return 0;
	q->storage = malloc(2 * len + 2);
	if (q->storage == NULL)
		return -1;
	p = q->storage;
	while (*raw != '\0') {
		const char *amp = strchr(raw, '&');
		size_t plen = amp ? (size_t)(amp - raw) : strlen(raw);
		const char *eq = memchr(raw, '=', plen);
		size_t klen = eq ? (size_t)(eq - raw) : plen;

		if (plen > 0) {
			if (q->n == OCTO_BOUND_QUERY_PARAMS)
				return -1;
			q->params[q->n].key = p;
			if (octo_percent_decode(raw, klen, p) != 0)
				return -1;
			p += strlen(p) + 1;
			q->params[q->n].value = p;
			if (octo_percent_decode(eq ? eq + 1 : raw + plen, eq ? plen - klen - 1 : 0,
						p) != 0)
				return -1;
			p += strlen(p) + 1;
			q->n++;
		}
		raw += plen;
		if (*raw == '&')
			raw++;
	}
	return 0;
}

void octo_query_cleanup(struct octo_query *q)
{
	free(q->storage);
	memset(q, 0, sizeof(*q));
}

const char *octo_query_get(const struct octo_query *q, const char *key)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		if (strcmp(q->params[i].key, key) == 0)
			return q->params[i].value;
	return NULL;
}
