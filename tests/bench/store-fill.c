/* SPDX-License-Identifier: Apache-2.0 */
/* A bench-only writer of a store, through the library (tests/bench/ops-bench.py):
 *   store-fill DIR fill REPOS MANIFESTS BLOBS UNTAGGED
 *       REPOS repositories of MANIFESTS image manifests each, every manifest naming BLOBS
 *       fresh blobs of 256 bytes (its config among them), each change journalled as a push
 *       would journal it; every UNTAGGED-th manifest is left without a tag (0: none).
 *   store-fill DIR journal RATE SECONDS
 *       RATE journal events a second (blob pushes to repository bench/journal) for SECONDS,
 *       paced against the clock: what a notifier is then measured against. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "digest.h"
#include "journal.h"
#include "manifest.h"
#include "store-blob.h"
#include "store-manifest.h"
#include "store.h"

#define BLOB_SIZE 256

static int push_blob(struct octo_store *s, struct octo_journal *j, const char *repo,
		     unsigned long long n, struct octo_digest *d)
{
	char data[BLOB_SIZE], key[OCTO_STORE_PATH_MAX], size[16];
	struct octo_journal_change link = {key, size};
	struct octo_record_stamp stamp;

	memset(data, 'x', sizeof(data));
	snprintf(data, sizeof(data), "blob %llu of %s", n, repo);
	octo_digest_of(OCTO_DIGEST_SHA256, data, sizeof(data), d);
	snprintf(size, sizeof(size), "%d", BLOB_SIZE);
	return octo_store_put_blob_bytes(s, data, sizeof(data), d) != OCTO_OK ||
	       octo_store_link_key(d, key, sizeof(key)) != OCTO_OK ||
	       octo_journal_record(j, "blob.put", repo, d, NULL, &link, 1, &stamp) != OCTO_OK ||
	       octo_store_link_blob(s, repo, d, BLOB_SIZE, &stamp) != OCTO_OK;
}

static int push_manifest(struct octo_store *s, struct octo_journal *j, const char *repo,
			 const struct octo_digest *blobs, int n, const char *tag)
{
	char body[65536], ds[OCTO_DIGEST_MAX_STRING], rev[OCTO_STORE_PATH_MAX];
	char tkey[OCTO_STORE_PATH_MAX], dstr[OCTO_DIGEST_MAX_STRING];
	struct octo_journal_change records[2];
	struct octo_record_stamp stamp;
	struct octo_digest d;
	size_t len;
	int i;

	octo_digest_format(&blobs[0], ds, sizeof(ds));
	len = (size_t)snprintf(
		body, sizeof(body),
		"{\"schemaVersion\":2,\"mediaType\":\"%s\",\"config\":{\"mediaType\":"
		"\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\","
		"\"size\":%d},\"layers\":[",
		OCTO_MT_OCI_MANIFEST, ds, BLOB_SIZE);
	for (i = 1; i < n; i++) {
		octo_digest_format(&blobs[i], ds, sizeof(ds));
		len += (size_t)snprintf(
			body + len, sizeof(body) - len,
			"%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\","
			"\"digest\":\"%s\",\"size\":%d}",
			i > 1 ? "," : "", ds, BLOB_SIZE);
	}
	len += (size_t)snprintf(body + len, sizeof(body) - len, "]}");
	octo_digest_of(OCTO_DIGEST_SHA256, body, len, &d);
	octo_digest_format(&d, dstr, sizeof(dstr));
	if (octo_store_put_blob_bytes(s, body, len, &d) != OCTO_OK ||
	    octo_store_revision_key(&d, rev, sizeof(rev)) != OCTO_OK)
		return -1;
	records[0] = (struct octo_journal_change){rev, OCTO_MT_OCI_MANIFEST};
	if (tag != NULL && octo_store_tag_key(tag, tkey, sizeof(tkey)) != OCTO_OK)
		return -1;
	records[1] = (struct octo_journal_change){tkey, dstr};
	if (octo_journal_record(j, "manifest.put", repo, &d, tag, records, tag != NULL ? 2 : 1,
				&stamp) != OCTO_OK ||
	    octo_store_link_manifest(s, repo, &d, OCTO_MT_OCI_MANIFEST, &stamp) != OCTO_OK)
		return -1;
	return tag != NULL && octo_store_tag_set(s, repo, tag, &d, &stamp) != OCTO_OK;
}

static int fill(struct octo_store *s, struct octo_journal *j, int repos, int manifests, int blobs,
		int untagged)
{
	struct octo_digest *d = calloc((size_t)blobs, sizeof(*d));
	unsigned long long n = 0;
	int r, m, b;

	if (d == NULL)
		return 1;
	for (r = 0; r < repos; r++) {
		char repo[64], tag[32];
		snprintf(repo, sizeof(repo), "fill/r%d-%ld", r, (long)time(NULL));
		for (m = 0; m < manifests; m++) {
			for (b = 0; b < blobs; b++)
				if (push_blob(s, j, repo, n++, &d[b]) != 0)
					return fprintf(stderr, "store-fill: blob failed\n"), 1;
			snprintf(tag, sizeof(tag), "t%d", m);
			if (push_manifest(s, j, repo, d, blobs,
					  untagged > 0 && (m + 1) % untagged == 0 ? NULL : tag) !=
			    0)
				return fprintf(stderr, "store-fill: manifest failed\n"), 1;
		}
	}
	free(d);
	printf("{\"repositories\":%d,\"manifests\":%d,\"blobs\":%llu}\n", repos, repos * manifests,
	       n);
	return 0;
}

static int paced_journal(struct octo_store *s, struct octo_journal *j, int rate, int seconds)
{
	uint64_t start = octo_clock_wall_ms();
	long i, total = (long)rate * seconds;

	for (i = 0; i < total; i++) {
		uint64_t due = start + (uint64_t)(i * 1000 / rate), now;
		struct octo_digest d;
		while ((now = octo_clock_wall_ms()) < due) {
			struct timespec t = {0, (long)(due - now) * 1000000L};
			nanosleep(&t, NULL);
		}
		if (push_blob(s, j, "bench/journal", (unsigned long long)i, &d) != 0)
			return fprintf(stderr, "store-fill: journal append failed\n"), 1;
	}
	printf("{\"events\":%ld,\"seconds\":%.3f}\n", total,
	       (double)(octo_clock_wall_ms() - start) / 1000.0);
	return 0;
}

int main(int argc, char **argv)
{
	struct octo_store *s;
	struct octo_journal *j;
	int rc;

	if (argc < 3 || octo_store_open(argv[1], &s) != OCTO_OK ||
	    octo_journal_open(s, "bench", 64 << 20, &j) != OCTO_OK) {
		fprintf(stderr, "usage: store-fill DIR fill REPOS MANIFESTS BLOBS UNTAGGED | "
				"journal RATE SECONDS\n");
		return 2;
	}
	if (strcmp(argv[2], "fill") == 0 && argc == 7)
		rc = fill(s, j, atoi(argv[3]), atoi(argv[4]), atoi(argv[5]), atoi(argv[6]));
	else if (strcmp(argv[2], "journal") == 0 && argc == 5)
		rc = paced_journal(s, j, atoi(argv[3]), atoi(argv[4]));
	else
		rc = 2;
	octo_journal_close(j);
	octo_store_free(s);
	return rc;
}
