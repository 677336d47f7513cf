/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for token verification (octo_jwt_verify): arbitrary bytes as the bearer
 * token, against fixed keys (a P-256 and an Ed25519 test key, and a CA bundle with none of
 * the corpus's chains) so that the corpus's well-signed tokens reach the claims checks. A
 * token that verifies must come with an object of claims, and one that does not with none.
 * Crashes and sanitizer reports are failures. */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Test keys, no secrets: they sign the corpus's tokens (tests/fuzz/corpus/jwt). */
static const char *const pems[] = {
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgrIkl9GqWcI5IF4rR\n"
	"+vb47elFVh4Ef7NQQBKDv1AcigChRANCAASfw2WJ+8sSHv48BE2eBzRTM9xh6Ycz\n"
	"G36uqWl3g0vgAdpVnO3bBF+XlvHW7kBKQd+lDZ3DWhhaJHkAlMsKVSXv\n"
	"-----END PRIVATE KEY-----\n",
	"-----BEGIN PRIVATE KEY-----\n"
	"MC4CAQAwBQYDK2VwBCIEIG+9cgRsSl7ZnqISt3Jii5Iq9kyoEVYANIvcqZPcwJoe\n"
	"-----END PRIVATE KEY-----\n",
};

static struct octo_jwt_keys *keys(void)
{
	static struct octo_jwt_keys *k;
	char why[256];
	size_t i;

	if (k != NULL)
		return k;
	k = octo_jwt_keys_new();
	for (i = 0; k != NULL && i < sizeof(pems) / sizeof(pems[0]); i++) {
		BIO *bio = BIO_new_mem_buf(pems[i], -1);
		EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
		if (key == NULL ||
		    octo_jwt_keys_add(k, key, i == 1 ? "ed" : NULL, why, sizeof(why)) != OCTO_OK)
			abort();
		EVP_PKEY_free(key);
		BIO_free(bio);
	}
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the corpus's tokens are valid from 2026 to 2100 */
	static const struct octo_jwt_expect exp = {"octoserve", "octoserve", 1800000000, 60};
	json_t *claims = (json_t *)1;
	enum octo_jwt_fail f = octo_jwt_verify(keys(), (const char *)data, size, &exp, &claims);

	if (f == OCTO_JWT_OK ? !json_is_object(claims) : claims != NULL)
		abort();
	if (octo_jwt_fail_text(f) == NULL)
		abort();
	json_decref(claims);
	return 0;
}
