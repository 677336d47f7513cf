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

#define HASHER_MAGIC 0x4f435448u /* "OCTH" */

struct octo_hasher {
	uint32_t magic;
	uint32_t alg;
	union {
		SHA256_CTX sha256;
		SHA512_CTX sha512;
	} ctx;
};

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

size_t octo_hasher_state_size(void)
{
	return sizeof(struct octo_hasher);
}

static void hasher_init(struct octo_hasher *h, enum octo_digest_alg alg)
{
	memset(h, 0, sizeof(*h));
	h->magic = HASHER_MAGIC;
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

void octo_hasher_save(const struct octo_hasher *h, void *buf)
{
	memcpy(buf, h, sizeof(*h));
}

struct octo_hasher *octo_hasher_load(const void *buf, size_t len)
{
	struct octo_hasher *h;

	if (len != sizeof(*h))
		return NULL;
	h = malloc(sizeof(*h));
	if (h == NULL)
		return NULL;
	memcpy(h, buf, sizeof(*h));
	if (h->magic != HASHER_MAGIC || h->alg > OCTO_DIGEST_SHA512) {
		free(h);
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
