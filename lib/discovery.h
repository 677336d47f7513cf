/* SPDX-License-Identifier: Apache-2.0 */
/* The decisions of DNS discovery (doc/DESIGN.md "Clustering"; the lookups themselves are
 * the daemon's peer/discover): the peer addresses a round of lookups found, written as the
 * member table takes them ("10.0.0.1:6000", "[fd00::1]:6000"), each once; and what of a
 * round is news, so that a failure is logged once when it starts (or changes), not at every
 * interval. */
#ifndef OCTO_DISCOVERY_H
#define OCTO_DISCOVERY_H

#include "strv.h"

/* Add the numeric address ip (IPv4 or IPv6 text) with port to found, kept sorted so that
 * rounds compare as sets whatever order the answers came in: 1 added, 0 already there, -1
 * for an ip that is not an address, a port outside 1..65535, or no memory. */
int octo_discovery_add(struct octo_strv *found, const char *ip, int port);

/* What the last round found and why it failed ("" when it did not). */
struct octo_discovery {
	struct octo_strv found;
	char failure[256];
};

#define OCTO_DISCOVERY_NEW_FOUND 1   /* other addresses than the last round's */
#define OCTO_DISCOVERY_NEW_FAILURE 2 /* another failure than the last round's, or none now */

/* A round ended: found (built by octo_discovery_add; taken, left empty) and failure (NULL or
 * "": none). The OCTO_DISCOVERY_NEW_* bits of what differs from the round before; the round
 * is the last one from now on. */
int octo_discovery_round(struct octo_discovery *d, struct octo_strv *found, const char *failure);
void octo_discovery_cleanup(struct octo_discovery *d);

#endif
