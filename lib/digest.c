/* SPDX-License-Identifier: Apache-2.0 */
/* Digests and resumable hashing over OpenSSL's low-level SHA contexts. */
#include "autoconfig.h"

/* SHA256_CTX and friends are deprecated in OpenSSL 3.0 but are the only hash state that is
 * plain data; this file alone uses them. */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"

#define STATE_VERSION 1

struct octo_hasher {
	enum octo_digest_alg alg;
	union {
		SHA256_CTX sha256;
		SHA512_CTX sha512;
	} ctx;
};

/* The fields serialised below must be all there is: a layout change in OpenSSL fails the
 * build instead of silently losing state. */
_Static_assert(sizeof(SHA256_CTX) == 8 * 4 + 2 * 4 + 16 * 4 + 2 * sizeof(unsigned int),
	       "SHA256_CTX layout");
_Static_assert(sizeof(SHA512_CTX) == 8 * 8 + 2 * 8 + 16 * 8 + 2 * sizeof(unsigned int),
	       "SHA512_CTX layout");

static const struct {
	const char *name;
	size_t hexlen;
} algs[] = {
	[OCTO_DIGEST_SHA256] = {"sha256", 64},
	[OCTO_DIGEST_SHA512] = {"sha512", 128},
};

static int is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

enum octo_err octo_digest_parse(const char *s, size_t len, struct octo_digest *out)
{
	size_t i, a;

	memset(out, 0, sizeof(*out));
	for (a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
		size_t nlen = strlen(algs[a].name);
		if (len != nlen + 1 + algs[a].hexlen)
			continue;
		if (memcmp(s, algs[a].name, nlen) != 0 || s[nlen] != ':')
			continue;
		for (i = 0; i < algs[a].hexlen; i++) {
			char c = s[nlen + 1 + i];
			if (!is_lower_hex(c))
				return OCTO_ERR_DIGEST_INVALID;
			out->hex[i] = c;
		}
		out->hex[i] = '\0';
		out->alg = (enum octo_digest_alg)a;
		return OCTO_OK;
	}
	return OCTO_ERR_DIGEST_INVALID;
}

const char *octo_digest_alg_name(enum octo_digest_alg alg)
{
	return algs[alg].name;
}

void octo_digest_format(const struct octo_digest *d, char *buf, size_t size)
{
	snprintf(buf, size, "%s:%s", algs[d->alg].name, d->hex);
}

int octo_digest_equal(const struct octo_digest *a, const struct octo_digest *b)
{
	return a->alg == b->alg && strcmp(a->hex, b->hex) == 0;
}

static void hasher_init(struct octo_hasher *h, enum octo_digest_alg alg)
{
	memset(h, 0, sizeof(*h));
	h->alg = alg;
	if (alg == OCTO_DIGEST_SHA512)
		SHA512_Init(&h->ctx.sha512);
	else
		SHA256_Init(&h->ctx.sha256);
}

struct octo_hasher *octo_hasher_new(enum octo_digest_alg alg)
{
	struct octo_hasher *h = malloc(sizeof(*h));

	if (h != NULL)
		hasher_init(h, alg);
	return h;
}

void octo_hasher_free(struct octo_hasher *h)
{
	free(h);
}

void octo_hasher_update(struct octo_hasher *h, const void *data, size_t len)
{
	if (h->alg == OCTO_DIGEST_SHA512)
		SHA512_Update(&h->ctx.sha512, data, len);
	else
		SHA256_Update(&h->ctx.sha256, data, len);
}

static void hex_encode(const unsigned char *md, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[2 * n] = '\0';
}

void octo_hasher_final(struct octo_hasher *h, struct octo_digest *out)
{
	unsigned char md[SHA512_DIGEST_LENGTH];

	memset(out, 0, sizeof(*out));
	out->alg = (enum octo_digest_alg)h->alg;
	if (h->alg == OCTO_DIGEST_SHA512) {
		SHA512_Final(md, &h->ctx.sha512);
		hex_encode(md, SHA512_DIGEST_LENGTH, out->hex);
	} else {
		SHA256_Final(md, &h->ctx.sha256);
		hex_encode(md, SHA256_DIGEST_LENGTH, out->hex);
	}
}

enum octo_digest_alg octo_hasher_alg(const struct octo_hasher *h)
{
	return (enum octo_digest_alg)h->alg;
}

uint64_t octo_hasher_length(const struct octo_hasher *h)
{
	if (h->alg == OCTO_DIGEST_SHA512)
		return h->ctx.sha512.Nl / 8;
	return ((uint64_t)h->ctx.sha256.Nh << 32 | h->ctx.sha256.Nl) / 8;
}

static unsigned char *put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		*p++ = (unsigned char)(v >> (8 * i));
	return p;
}

static unsigned char *put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		*p++ = (unsigned char)(v >> (8 * i));
	return p;
}

static const unsigned char *get32(const unsigned char *p, uint32_t *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++)
		*v |= (uint32_t)*p++ << (8 * i);
	return p;
}

static const unsigned char *get64(const unsigned char *p, uint64_t *v)
{
	*v = 0;
	for (int i = 0; i < 8; i++)
		*v |= (uint64_t)*p++ << (8 * i);
	return p;
}

#define SHA256_STATE_LEN (2 + 8 * 4 + 2 * 4 + SHA256_CBLOCK + 4)
#define SHA512_STATE_LEN (2 + 8 * 8 + 2 * 8 + SHA512_CBLOCK + 4)
_Static_assert(SHA512_STATE_LEN == OCTO_HASHER_STATE_MAX, "OCTO_HASHER_STATE_MAX");

size_t octo_hasher_save(const struct octo_hasher *h, unsigned char *buf)
{
	unsigned char *p = buf;
	int i;

	*p++ = STATE_VERSION;
	*p++ = (unsigned char)h->alg;
	if (h->alg == OCTO_DIGEST_SHA512) {
		const SHA512_CTX *c = &h->ctx.sha512;
		for (i = 0; i < 8; i++)
			p = put64(p, c->h[i]);
		p = put64(p, c->Nl);
		p = put64(p, c->Nh);
		memcpy(p, c->u.p, SHA512_CBLOCK);
		p = put32(p + SHA512_CBLOCK, c->num);
	} else {
		const SHA256_CTX *c = &h->ctx.sha256;
		for (i = 0; i < 8; i++)
			p = put32(p, c->h[i]);
		p = put32(p, c->Nl);
		p = put32(p, c->Nh);
		memcpy(p, c->data, SHA256_CBLOCK);
		p = put32(p + SHA256_CBLOCK, c->num);
	}
	return (size_t)(p - buf);
}

struct octo_hasher *octo_hasher_load(const unsigned char *buf, size_t len)
{
	struct octo_hasher *h;
	const unsigned char *p = buf + 2;
	uint64_t bytes = 0;
	uint32_t num = 0;
	int i, ok;

	if (len < 2 || buf[0] != STATE_VERSION || buf[1] > OCTO_DIGEST_SHA512)
		return NULL;
	if (len != (buf[1] == OCTO_DIGEST_SHA512 ? SHA512_STATE_LEN : SHA256_STATE_LEN))
		return NULL;
	h = octo_hasher_new((enum octo_digest_alg)buf[1]);
	if (h == NULL)
		return NULL;
	if (h->alg == OCTO_DIGEST_SHA512) {
		SHA512_CTX *c = &h->ctx.sha512;
		uint64_t v;
		for (i = 0; i < 8; i++) {
			p = get64(p, &v);
			c->h[i] = v;
		}
		p = get64(p, &v);
		c->Nl = v;
		p = get64(p, &v);
		c->Nh = v;
		memcpy(c->u.p, p, SHA512_CBLOCK);
		get32(p + SHA512_CBLOCK, &num);
		c->num = num;
		bytes = c->Nl / 8;
		ok = c->Nh == 0 && c->Nl % 8 == 0 && num < SHA512_CBLOCK &&
		     bytes % SHA512_CBLOCK == num;
	} else {
		SHA256_CTX *c = &h->ctx.sha256;
		uint32_t v;
		for (i = 0; i < 8; i++) {
			p = get32(p, &v);
			c->h[i] = v;
		}
		p = get32(p, &v);
		c->Nl = v;
		p = get32(p, &v);
		c->Nh = v;
		memcpy(c->data, p, SHA256_CBLOCK);
		get32(p + SHA256_CBLOCK, &num);
		c->num = num;
		bytes = ((uint64_t)c->Nh << 32 | c->Nl) / 8;
		ok = c->Nl % 8 == 0 && num < SHA256_CBLOCK && bytes % SHA256_CBLOCK == num;
	}
	/* num is where the next byte goes in the block buffer: out of range, SHA*_Update would
	 * write past it. */
	if (!ok) {
		octo_hasher_free(h);
		return NULL;
	}
	return h;
}

void octo_digest_of(enum octo_digest_alg alg, const void *data, size_t len, struct octo_digest *out)
{
	struct octo_hasher h;

	hasher_init(&h, alg);
	octo_hasher_update(&h, data, len);
	octo_hasher_final(&h, out);
}
