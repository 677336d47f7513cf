/* SPDX-License-Identifier: Apache-2.0 */
/* Content digests (image-spec descriptor.md "Digests"): parsing, formatting, and a hasher
 * whose state can be saved to disk between requests, so that any process can continue an
 * upload another one started. sha256 is required, sha512 accepted. */
#ifndef OCTO_DIGEST_H
#define OCTO_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum octo_digest_alg {
	OCTO_DIGEST_SHA256 = 0,
	OCTO_DIGEST_SHA512 = 1
};

#define OCTO_DIGEST_MAX_HEX 128
/* "sha512:" + 128 hex + NUL */
#define OCTO_DIGEST_MAX_STRING (7 + OCTO_DIGEST_MAX_HEX + 1)

struct octo_digest {
	enum octo_digest_alg alg;
	char hex[OCTO_DIGEST_MAX_HEX + 1]; /* lower-case, NUL-terminated */
};

/* Parse "alg:hex" from s[0..len) (not NUL-terminated). Accepts sha256 (64 hex) and sha512
 * (128 hex), lower-case hex only as the spec's registered algorithms require.
 * Returns OCTO_OK or OCTO_ERR_DIGEST_INVALID. */
enum octo_err octo_digest_parse(const char *s, size_t len, struct octo_digest *out);
/* "sha256" or "sha512". */
const char *octo_digest_alg_name(enum octo_digest_alg alg);
/* Write "alg:hex" into buf (at least OCTO_DIGEST_MAX_STRING bytes). */
void octo_digest_format(const struct octo_digest *d, char *buf, size_t size);
int octo_digest_equal(const struct octo_digest *a, const struct octo_digest *b);

/* A running hash whose state can be written to a file and read back by another process
 * (OpenSSL 3.0 cannot serialise an EVP digest in progress). The bytes are ours: a version,
 * the algorithm, then each field of the SHA context in little-endian order. */
struct octo_hasher;
/* Longest serialised state (sha512). */
#define OCTO_HASHER_STATE_MAX 214
struct octo_hasher *octo_hasher_new(enum octo_digest_alg alg);
void octo_hasher_free(struct octo_hasher *h);
void octo_hasher_update(struct octo_hasher *h, const void *data, size_t len);
/* Finish into out; the hasher must not be updated afterwards. */
void octo_hasher_final(struct octo_hasher *h, struct octo_digest *out);
enum octo_digest_alg octo_hasher_alg(const struct octo_hasher *h);
/* Bytes hashed so far. */
uint64_t octo_hasher_length(const struct octo_hasher *h);
/* Serialise the state into buf (at least OCTO_HASHER_STATE_MAX bytes); returns its length. */
size_t octo_hasher_save(const struct octo_hasher *h, unsigned char *buf);
/* A hasher from saved bytes, checked completely (version, algorithm, exact length, and a
 * block position consistent with the length hashed); NULL on anything else. */
struct octo_hasher *octo_hasher_load(const unsigned char *buf, size_t len);

/* Digest of a whole buffer. */
void octo_digest_of(enum octo_digest_alg alg, const void *data, size_t len,
		    struct octo_digest *out);

#endif
