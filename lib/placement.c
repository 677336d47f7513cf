/* SPDX-License-Identifier: Apache-2.0 */
/* See placement.h. The weight is the first 8 bytes of sha256(member NUL algorithm:hex): a
 * uniform hash, the same on every node and every version, with ties (which need a sha256
 * collision of 64 bits) broken by the member id. */
#include "autoconfig.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "placement.h"

uint64_t octo_placement_weight(const char *member, const struct octo_digest *d)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const char *alg = octo_digest_alg_name(d->alg);
	uint64_t w = 0;
	int i;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, member, strlen(member) + 1) != 1 ||
	    EVP_DigestUpdate(ctx, alg, strlen(alg)) != 1 || EVP_DigestUpdate(ctx, ":", 1) != 1 ||
	    EVP_DigestUpdate(ctx, d->hex, strlen(d->hex)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &len) != 1 || len < 8)
		len = 0;
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < 8 && len >= 8; i++)
		w = w << 8 | md[i];
	return w;
}

/* Whether member a (weight wa) ranks before b. */
static int before(uint64_t wa, const char *a, uint64_t wb, const char *b)
{
	return wa != wb ? wa > wb : strcmp(a, b) > 0;
}

size_t octo_placement_holders(const struct octo_digest *d, const char *const *members, size_t n,
			      size_t factor, size_t *holders)
{
	size_t keep = factor < n ? factor : n, k = 0, i, j;
	uint64_t *w = malloc((keep > 0 ? keep : 1) * sizeof(*w)), weight;

	if (w == NULL)
		return 0;
	factor = keep;
	/* an insertion into the top factor, kept sorted (factor is small) */
	for (i = 0; i < n; i++) {
		weight = octo_placement_weight(members[i], d);
		for (j = k; j > 0 && before(weight, members[i], w[j - 1], members[holders[j - 1]]);
		     j--) {
			if (j < factor) {
				w[j] = w[j - 1];
				holders[j] = holders[j - 1];
			}
		}
		if (j < factor) {
			w[j] = weight;
			holders[j] = i;
			if (k < factor)
				k++;
		}
	}
	free(w);
	return k;
}
