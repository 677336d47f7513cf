/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for JWKS documents (octo_jwt_keys_add_jwks): arbitrary bytes as the file.
 * A refusal always says why; what is accepted stays within OCTO_JWT_MAX_KEYS. Crashes and
 * sanitizer reports are failures. */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct octo_jwt_keys *k = octo_jwt_keys_new();
	char why[256] = "";
	enum octo_err err;

	if (k == NULL)
		return 0;
	err = octo_jwt_keys_add_jwks(k, (const char *)data, size, why, sizeof(why));
	if ((err == OCTO_ERR_CONFIG && why[0] == '\0') ||
	    octo_jwt_keys_count(k) > OCTO_JWT_MAX_KEYS)
		abort();
	octo_jwt_keys_free(k);
	return 0;
}
