/* SPDX-License-Identifier: Apache-2.0 */
/* Routing (distribution-spec "Endpoints" table): one table of endpoint, method, handler
 * and whether the method deletes, from which come the dispatch, the Allow header of a 405
 * and the storage.delete_enabled gate. Routing works on the raw REQUEST_URI, which every
 * web front passes unchanged (doc/notes/web-fronts.md). */
#ifndef OCTO_ROUTE_H
#define OCTO_ROUTE_H

#include "api.h"

/* Route rt->req (already checked for malformed escapes) and answer it into resp: a
 * handler's response, or 404 / 405 (with Allow) / the delete gate's 405. rt->query must be
 * parsed; rt's other fields are filled here (free rt->tail_storage afterwards). */
void octo_route_dispatch(struct octo_registry *reg, struct octo_route *rt, const char *path,
			 struct octo_response *resp);

#endif
