/* SPDX-License-Identifier: Apache-2.0 */
/* See discovery.h. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "discovery.h"

int octo_discovery_add(struct octo_strv *found, const char *ip, int port)
{
	unsigned char bin[sizeof(struct in6_addr)];
	char address[INET6_ADDRSTRLEN + 8];
	size_t lo = 0, hi = found->n;
	char *pushed;
	int len;

	if (port < 1 || port > 65535)
		return -1;
	if (inet_pton(AF_INET, ip, bin) == 1)
		len = snprintf(address, sizeof(address), "%s:%d", ip, port);
	else if (inet_pton(AF_INET6, ip, bin) == 1)
		len = snprintf(address, sizeof(address), "[%s]:%d", ip, port);
	else
		return -1;
	if (len < 0 || (size_t)len >= sizeof(address))
		return -1;
	while (lo < hi) { /* where it goes in the sorted list */
		size_t mid = lo + (hi - lo) / 2;
		int cmp = strcmp(found->v[mid], address);
		if (cmp == 0)
			return 0;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (octo_strv_push(found, address, (size_t)len) < 0)
		return -1;
	pushed = found->v[found->n - 1]; /* pushed last: moved into its place */
	memmove(&found->v[lo + 1], &found->v[lo], (found->n - 1 - lo) * sizeof(found->v[0]));
	found->v[lo] = pushed;
	return 1;
}

static int same(const struct octo_strv *a, const struct octo_strv *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return 0;
	return 1;
}

int octo_discovery_round(struct octo_discovery *d, struct octo_strv *found, const char *failure)
{
	int news = 0;

	if (failure == NULL)
		failure = "";
	if (!same(&d->found, found))
		news |= OCTO_DISCOVERY_NEW_FOUND;
	if (strncmp(d->failure, failure, sizeof(d->failure) - 1) != 0)
		news |= OCTO_DISCOVERY_NEW_FAILURE;
	octo_strv_cleanup(&d->found);
	d->found = *found;
	memset(found, 0, sizeof(*found));
	snprintf(d->failure, sizeof(d->failure), "%s", failure);
	return news;
}

void octo_discovery_cleanup(struct octo_discovery *d)
{
	octo_strv_cleanup(&d->found);
	d->failure[0] = '\0';
}
