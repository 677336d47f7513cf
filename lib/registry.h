/* SPDX-License-Identifier: Apache-2.0 */
/* The registry's HTTP semantics in one function: a request in, a response out. Web
 * adapters (the FastCGI responder) only translate; unit tests call it directly. */
#ifndef OCTO_REGISTRY_H
#define OCTO_REGISTRY_H

#include <stdint.h>

#include "config.h"
#include "error.h"
#include "log.h"
#include "metrics.h"
#include "request.h"
#include "response.h"

struct octo_registry;

/* cfg and log must outlive the registry. OCTO_ERR_CONFIG when a file the configuration names
 * does not read (authentication's users and keys), with why (also logged). */
enum octo_err octo_registry_new(const struct octo_config *cfg, struct octo_logger *log,
				struct octo_registry **out, char *why, size_t size);
void octo_registry_free(struct octo_registry *reg);
/* Handle one request; resp must have been initialised with octo_response_init. Always
 * fills a complete response (errors become the spec's JSON error bodies). Thread-safe. */
void octo_registry_handle(struct octo_registry *reg, const struct octo_request *req,
			  struct octo_response *resp);
/* What the adapter measured of one request, for its log line. */
struct octo_request_stats {
	uint64_t bytes_in;  /* request body bytes read */
	uint64_t bytes_out; /* response body bytes written (not those a front sent by sendfile) */
	long long duration_us;
	int client_gone; /* the response could not be written */
};
/* A request answered: its log line (method, URI, status, the client's address and user
 * agent, the request id, the user once authenticated, bytes in and out, duration, and on
 * failure the OCI code and detail; level error for a 5xx, warn when the client went away,
 * else info) and its metrics. */
void octo_registry_request_done(const struct octo_registry *reg, const struct octo_request *req,
				const struct octo_response *resp,
				const struct octo_request_stats *stats);
/* Housekeeping, run by the adapter at start and every OCTO_BOUND_COLLECT_INTERVAL seconds:
 * remove expired upload sessions (storage.upload_ttl; empty ones after
 * OCTO_BOUND_EMPTY_UPLOAD_TTL) and what crashes left, never a session in use, one process
 * of those sharing the store at a time. Logs what it removed. */
void octo_registry_collect(struct octo_registry *reg);
/* The store gauges counted from the store itself, for octo_metrics_open (which runs it when
 * no other process is using the counters). */
enum octo_err octo_registry_census(const struct octo_store *s, int64_t gauges[OCTO_GAUGE__COUNT]);

#endif
