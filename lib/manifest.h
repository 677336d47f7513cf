/* SPDX-License-Identifier: Apache-2.0 */
/* Manifest validation (image-spec manifest.md, image-index.md, descriptor.md; Docker
 * manifest-v2-2.md): the bytes are checked as pushed and never rewritten. A pure function of
 * its input, so it is unit-tested and fuzzed directly. */
#ifndef OCTO_MANIFEST_H
#define OCTO_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"

#define OCTO_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCTO_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define OCTO_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define OCTO_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
/* Room for any of the types above, as stored beside a manifest and read back. */
#define OCTO_MANIFEST_TYPE_MAX 256

enum octo_manifest_kind {
	OCTO_MANIFEST_IMAGE,
	OCTO_MANIFEST_INDEX
};

/* A descriptor the manifest references: a blob (config, layer) or a child manifest. */
struct octo_manifest_ref {
	struct octo_digest digest;
	int64_t size;
	int is_manifest; /* a child of an index */
	int external;    /* has "urls": a foreign layer the registry need not hold */
};

struct octo_manifest {
	enum octo_manifest_kind kind;
	char *media_type;    /* effective media type (malloc'd) */
	char *artifact_type; /* artifactType, else an image's config media type; NULL if none */
	char *annotations;   /* the "annotations" object as compact JSON, or NULL */
	int has_subject;
	struct octo_digest subject;
	struct octo_manifest_ref *refs;
	size_t n_refs;
};

/* Validate data[0..len) as a manifest sent with content_type (may be NULL; parameters
 * after ';' are ignored). The effective media type is the body's "mediaType", which must
 * agree with content_type when both are given; else content_type. Returns OCTO_OK and
 * fills m, or OCTO_ERR_MANIFEST_INVALID with a reason in detail (static string). */
enum octo_err octo_manifest_parse(const char *data, size_t len, const char *content_type,
				  struct octo_manifest *m, const char **detail);
void octo_manifest_cleanup(struct octo_manifest *m);
/* The weight of a JSON text before it is parsed: its structural tokens ('{', '[', ':' and
 * ',' outside strings), a bound on the values jansson would allocate (about 200 bytes
 * each), and in *depth the deepest nesting. A single pass, no allocation. */
size_t octo_manifest_weight(const char *data, size_t len, size_t *depth);
/* Is s one of the four manifest media types we store? */
int octo_manifest_media_type_known(const char *s);

#endif
