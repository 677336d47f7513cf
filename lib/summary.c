/* SPDX-License-Identifier: Apache-2.0 */
/* See summary.h. */
#include "autoconfig.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "store-blob.h"
#include "store-record.h"
#include "store-repo.h"
#include "summary.h"

unsigned octo_summary_bucket(const char *repo)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n;

	EVP_Digest(repo, strlen(repo), md, &n, EVP_sha256(), NULL);
	return md[0];
}

int octo_summary_counts(const struct octo_record *r, uint64_t now_ms, uint64_t horizon_ms)
{
	return !r->tombstone || r->stamp.time_ms > now_ms || now_ms - r->stamp.time_ms < horizon_ms;
}

void octo_summary_add(uint8_t acc[OCTO_SUMMARY_HASH], const char *repo, const char *key,
		      const struct octo_record *r)
{
	char buf[OCTO_STORE_PATH_MAX * 2 + OCTO_NODE_ID_MAX + 48];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n;
	int len = snprintf(buf, sizeof(buf), "%s%c%s%c%llu %s %c", repo, '\0', key, '\0',
			   (unsigned long long)r->stamp.hlc,
			   r->stamp.node != NULL ? r->stamp.node : "", r->tombstone ? 't' : 'v');
	size_t i;

	if (len < 0 || (size_t)len >= sizeof(buf))
		len = (int)sizeof(buf) - 1; /* keys are bounded well below: cannot be */
	EVP_Digest(buf, (size_t)len, md, &n, EVP_sha256(), NULL);
	for (i = 0; i < OCTO_SUMMARY_HASH; i++)
		acc[i] ^= md[i];
}

int octo_summary_is_key(const char *key)
{
	struct octo_record_key k;

	return octo_record_key_parse(key, strlen(key), &k) == 0;
}

static void xor_into(uint8_t acc[OCTO_SUMMARY_HASH], const uint8_t h[OCTO_SUMMARY_HASH])
{
	size_t i;

	for (i = 0; i < OCTO_SUMMARY_HASH; i++)
		acc[i] ^= h[i];
}

static int is_zero(const uint8_t h[OCTO_SUMMARY_HASH])
{
	static const uint8_t zero[OCTO_SUMMARY_HASH];

	return memcmp(h, zero, sizeof(zero)) == 0;
}

/* A walk in progress. */
struct build {
	struct octo_summary *sum;
	const struct octo_store *s;
	uint64_t now_ms, horizon_ms;
	size_t cap_repos, cap_linked, cap_manifests;
	const char *repo;
	uint8_t hash[OCTO_SUMMARY_HASH];
};

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	void *nv;

	if (n < *cap)
		return 0;
	nv = realloc(*v, (*cap ? *cap * 2 : 64) * size);
	if (nv == NULL)
		return -1;
	*v = nv;
	*cap = *cap ? *cap * 2 : 64;
	return 0;
}

static enum octo_err count_record(void *ctx, const char *key, const struct octo_record *r)
{
	struct build *b = ctx;
	struct octo_summary *sum = b->sum;
	struct octo_record_key k;

	if (!octo_summary_counts(r, b->now_ms, b->horizon_ms))
		return OCTO_OK;
	octo_summary_add(b->hash, b->repo, key, r);
	sum->n_records++;
	if (r->tombstone || octo_record_key_parse(key, strlen(key), &k) != 0)
		return OCTO_OK;
	if (k.kind == OCTO_RECORD_LINK) {
		uint64_t size;
		if (octo_store_link_size(r->value, r->value_len, &size) != 0)
			return OCTO_OK;
		if (grow((void **)&sum->linked, &b->cap_linked, sum->n_linked,
			 sizeof(*sum->linked)) != 0)
			return OCTO_ERR_NOMEM;
		sum->linked[sum->n_linked++] = (struct octo_summary_blob){k.digest, size};
	} else if (k.kind == OCTO_RECORD_REVISION) {
		if (grow((void **)&sum->manifests, &b->cap_manifests, sum->n_manifests,
			 sizeof(*sum->manifests)) != 0)
			return OCTO_ERR_NOMEM;
		sum->manifests[sum->n_manifests++] = k.digest;
	}
	return OCTO_OK;
}

static enum octo_err summarise_repo(void *ctx, int dir, const char *name)
{
	struct build *b = ctx;
	struct octo_summary *sum = b->sum;
	struct octo_summary_repo *r;
	enum octo_err err;

	memset(b->hash, 0, sizeof(b->hash));
	b->repo = name;
	err = octo_store_record_each(b->s, name, dir, octo_summary_is_key, count_record, b);
	if (err != OCTO_OK || is_zero(b->hash))
		return err; /* nothing that counts: as if it were not there */
	if (grow((void **)&sum->repos, &b->cap_repos, sum->n_repos, sizeof(*sum->repos)) != 0)
		return OCTO_ERR_NOMEM;
	r = &sum->repos[sum->n_repos];
	if ((r->name = strdup(name)) == NULL)
		return OCTO_ERR_NOMEM;
	memcpy(r->hash, b->hash, sizeof(r->hash));
	r->bucket = octo_summary_bucket(name);
	sum->n_repos++;
	xor_into(sum->buckets[r->bucket], r->hash);
	return OCTO_OK;
}

static int repo_order(const void *a, const void *b)
{
	const struct octo_summary_repo *x = a, *y = b;

	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int digest_order(const struct octo_digest *a, const struct octo_digest *b)
{
	if (a->alg != b->alg)
		return a->alg < b->alg ? -1 : 1;
	return strcmp(a->hex, b->hex);
}

static int blob_order(const void *a, const void *b)
{
	return digest_order(&((const struct octo_summary_blob *)a)->digest,
			    &((const struct octo_summary_blob *)b)->digest);
}

static int manifest_order(const void *a, const void *b)
{
	return digest_order(a, b);
}

/* Sort v (n items of size) and drop repeats of the same key (cmp == 0). */
static size_t sort_unique(void *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	char *p = v;
	size_t i, out = 0;

	if (n == 0)
		return 0;
	qsort(v, n, size, cmp);
	for (i = 1; i < n; i++)
		if (cmp(p + out * size, p + i * size) != 0 && ++out != i)
			memcpy(p + out * size, p + i * size, size);
	return out + 1;
}

enum octo_err octo_summary_build(const struct octo_store *s, uint64_t now_ms, uint64_t horizon_ms,
				 struct octo_summary *out)
{
	struct build b = {.sum = out, .s = s, .now_ms = now_ms, .horizon_ms = horizon_ms};
	enum octo_err err;
	size_t i;

	memset(out, 0, sizeof(*out));
	err = octo_store_repo_walk(s, summarise_repo, &b);
	if (err != OCTO_OK) {
		octo_summary_cleanup(out);
		return err;
	}
	if (out->n_repos > 0)
		qsort(out->repos, out->n_repos, sizeof(*out->repos), repo_order);
	out->n_linked = sort_unique(out->linked, out->n_linked, sizeof(*out->linked), blob_order);
	out->n_manifests = sort_unique(out->manifests, out->n_manifests, sizeof(*out->manifests),
				       manifest_order);
	for (i = 0; i < OCTO_SUMMARY_BUCKETS; i++)
		xor_into(out->root, out->buckets[i]);
	return OCTO_OK;
}

void octo_summary_cleanup(struct octo_summary *sum)
{
	size_t i;

	for (i = 0; i < sum->n_repos; i++)
		free(sum->repos[i].name);
	free(sum->repos);
	free(sum->linked);
	free(sum->manifests);
	memset(sum, 0, sizeof(*sum));
}

const struct octo_summary_repo *octo_summary_find(const struct octo_summary *sum, const char *repo)
{
	struct octo_summary_repo key = {.name = (char *)repo, .bucket = octo_summary_bucket(repo)};

	if (sum->n_repos == 0)
		return NULL;
	return bsearch(&key, sum->repos, sum->n_repos, sizeof(*sum->repos), repo_order);
}

int octo_summary_is_manifest(const struct octo_summary *sum, const struct octo_digest *d)
{
	return sum->n_manifests > 0 &&
	       bsearch(d, sum->manifests, sum->n_manifests, sizeof(*d), manifest_order) != NULL;
}

int octo_summary_is_linked(const struct octo_summary *sum, const struct octo_digest *d,
			   uint64_t *size)
{
	struct octo_summary_blob key = {.digest = *d}, *found;

	if (sum->n_linked == 0)
		return 0;
	found = bsearch(&key, sum->linked, sum->n_linked, sizeof(key), blob_order);
	if (found != NULL && size != NULL)
		*size = found->size;
	return found != NULL;
}
