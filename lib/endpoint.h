/* SPDX-License-Identifier: Apache-2.0 */
/* The registry's endpoints, as the router tells them apart and as logs and metrics name
 * them. A leaf. */
#ifndef OCTO_ENDPOINT_H
#define OCTO_ENDPOINT_H

enum octo_endpoint {
	OCTO_EP_NONE, /* no endpoint: 404 */
	OCTO_EP_BASE,
	OCTO_EP_CATALOG,
	OCTO_EP_UPLOADS,
	OCTO_EP_UPLOAD,
	OCTO_EP_BLOB,
	OCTO_EP_MANIFEST,
	OCTO_EP_TAGS,
	OCTO_EP_REFERRERS,
	OCTO_EP_LIVEZ,
	OCTO_EP_READYZ,
	OCTO_EP_METRICS,
	OCTO_EP_TOKEN, /* the built-in token issuer */
	OCTO_EP__COUNT
};

/* "base", "blob", "manifest", ...; "other" for OCTO_EP_NONE (and anything out of range). */
const char *octo_endpoint_name(enum octo_endpoint ep);

#endif
