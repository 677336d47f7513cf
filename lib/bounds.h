/* SPDX-License-Identifier: Apache-2.0 */
/* The ceilings on what a client can make the registry hold, in one place. Sizes are bytes.
 * Values an operator may want to change are configuration keys instead (doc/DESIGN.md,
 * "Configuration"; e.g. storage.max_manifest_size); these are the fixed ones, each pushed
 * against by a test. Grammar limits (OCTO_NAME_MAX, OCTO_TAG_MAX) stay in name.h, and
 * buffers no client input can reach past (log lines, a response's headers, the journal's
 * tail, stored media types) stay with their modules. */
#ifndef OCTO_BOUNDS_H
#define OCTO_BOUNDS_H

#include "name.h"

/* Request headers an adapter hands over, and the longest name; past either: 431. */
#define OCTO_BOUND_REQUEST_HEADERS 64
#define OCTO_BOUND_HEADER_NAME 128
/* Query parameters; past it: 400. */
#define OCTO_BOUND_QUERY_PARAMS 16
/* ?n= of tags/list and _catalog is clamped to this. */
#define OCTO_BOUND_LIST_ENTRIES 100000
/* A referrer's descriptor in the referrers index (its annotations, mostly): larger ones
 * are refused at PUT. */
#define OCTO_BOUND_DESCRIPTOR 65536
#define OCTO_BOUND_DESCRIPTOR_TEXT "65536"
/* One page of GET referrers: at most these many entries and bytes of descriptors; more
 * follow a Link: <...>; rel="next". */
#define OCTO_BOUND_REFERRERS_PAGE_ENTRIES 256
#define OCTO_BOUND_REFERRERS_PAGE_BYTES (1024 * 1024)
/* The tag index file of one repository (~500k tags of 128 bytes). */
#define OCTO_BOUND_TAG_INDEX (64 * 1024 * 1024)
/* A manifest's JSON before jansson sees it (octo_manifest_weight): tokens and nesting. A
 * legitimate 4 MiB index (20k children) weighs ~250k; 4 MiB of "{}," 2.8M. */
#define OCTO_BOUND_MANIFEST_VALUES 400000
#define OCTO_BOUND_MANIFEST_VALUES_TEXT "400000"
#define OCTO_BOUND_MANIFEST_DEPTH 64
#define OCTO_BOUND_MANIFEST_DEPTH_TEXT "64"
/* The weight of the manifests one registry parses at once (about 120 bytes of memory per
 * unit: 48 MB): a parse waits until its weight fits, so concurrent hostile manifests cost
 * one budget, not one each. */
#define OCTO_BOUND_PARSE_BUDGET 400000
/* Parses at least this heavy give their memory back to the system when done. */
#define OCTO_BOUND_PARSE_TRIM 20000

/* An upload session that never got a byte, or a manifest's temporary file, expires after
 * this many seconds; sessions are collected every OCTO_BOUND_COLLECT_INTERVAL seconds. */
#define OCTO_BOUND_EMPTY_UPLOAD_TTL 600
#define OCTO_BOUND_COLLECT_INTERVAL 60
/* ... and the temporaries a crash left under repositories/ at start and then hourly. */
#define OCTO_BOUND_SWEEP_INTERVAL 3600

/* Directory levels the catalog walks below repositories/: as many as a valid name can have
 * (components of one character: 128 in 255 bytes), so every repository is reached. */
#define OCTO_BOUND_CATALOG_DEPTH ((OCTO_NAME_MAX + 1) / 2)

#endif
