/* SPDX-License-Identifier: Apache-2.0 */
/* See endpoint.h. */
#include "autoconfig.h"

#include "endpoint.h"

static const char *const names[OCTO_EP__COUNT] = {
	[OCTO_EP_NONE] = "other",          [OCTO_EP_BASE] = "base",
	[OCTO_EP_CATALOG] = "catalog",     [OCTO_EP_UPLOADS] = "uploads",
	[OCTO_EP_UPLOAD] = "upload",       [OCTO_EP_BLOB] = "blob",
	[OCTO_EP_MANIFEST] = "manifest",   [OCTO_EP_TAGS] = "tags",
	[OCTO_EP_REFERRERS] = "referrers", [OCTO_EP_LIVEZ] = "livez",
	[OCTO_EP_READYZ] = "readyz",       [OCTO_EP_METRICS] = "metrics",
	[OCTO_EP_TOKEN] = "token",
};

const char *octo_endpoint_name(enum octo_endpoint ep)
{
	return (unsigned)ep < OCTO_EP__COUNT ? names[ep] : names[OCTO_EP_NONE];
}
