/* SPDX-License-Identifier: Apache-2.0 */
/* See record.h. */
#include "autoconfig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int octo_node_id_valid(const char *id, size_t len)
{
	static const char ok[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-";
	size_t i;

	if (len == 0 || len > OCTO_NODE_ID_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if (id[i] == '\0' || strchr(ok, id[i]) == NULL)
			return 0;
	return 1;
}

int octo_record_cmp(const struct octo_record *a, const struct octo_record *b)
{
	int by_node;

	if (a->stamp.hlc != b->stamp.hlc)
		return a->stamp.hlc > b->stamp.hlc ? 1 : -1;
	if (!a->tombstone != !b->tombstone)
		return a->tombstone ? 1 : -1;
	by_node = strcmp(a->stamp.node != NULL ? a->stamp.node : "",
			 b->stamp.node != NULL ? b->stamp.node : "");
	return (by_node > 0) - (by_node < 0);
}

char *octo_record_format(const struct octo_record *r, size_t *len)
{
	const char *node = r->stamp.node != NULL ? r->stamp.node : "";
	size_t vlen = r->tombstone ? 0 : r->value_len;
	char head[2 * 21 + OCTO_NODE_ID_MAX + 8], *text;
	int n;

	if (!octo_node_id_valid(node, strlen(node)))
		return NULL;
	n = snprintf(head, sizeof(head), "%llu %llu %c %s\n", (unsigned long long)r->stamp.hlc,
		     (unsigned long long)r->stamp.time_ms, r->tombstone ? 't' : 'v', node);
	if (n < 0 || (size_t)n >= sizeof(head) || (text = malloc((size_t)n + vlen + 1)) == NULL)
		return NULL;
	memcpy(text, head, (size_t)n);
	if (vlen > 0)
		memcpy(text + n, r->value, vlen);
	text[(size_t)n + vlen] = '\0';
	*len = (size_t)n + vlen;
	return text;
}

/* A decimal number without sign or leading zero that fits 64 bits, ending at a space. */
static int parse_number(const char *p, const char *end, const char **next, uint64_t *v)
{
	const char *start = p;

	*v = 0;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (*v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		*v = *v * 10 + (uint64_t)(*p - '0');
	}
	if (p == start || p == end || *p != ' ' || (*start == '0' && p - start > 1))
		return -1;
	*next = p + 1;
	return 0;
}

int octo_record_parse(const char *text, size_t len, struct octo_record *r,
		      char node_buf[OCTO_NODE_ID_MAX + 1])
{
	const char *p = text, *end = text + len, *nl;
	size_t node_len;

	memset(r, 0, sizeof(*r));
	node_buf[0] = '\0';
	r->stamp.node = node_buf;
	if (len == 0 || text[0] < '0' || text[0] > '9') { /* a file from before records */
		r->value = text;
		r->value_len = len > 0 && text[len - 1] == '\n' ? len - 1 : len;
		return 0;
	}
	if (parse_number(p, end, &p, &r->stamp.hlc) != 0 ||
	    parse_number(p, end, &p, &r->stamp.time_ms) != 0 || end - p < 3 ||
	    (p[0] != 'v' && p[0] != 't') || p[1] != ' ')
		return -1;
	r->tombstone = p[0] == 't';
	p += 2;
	nl = memchr(p, '\n', (size_t)(end - p));
	if (nl == NULL)
		return -1;
	node_len = (size_t)(nl - p);
	if (!octo_node_id_valid(p, node_len))
		return -1;
	memcpy(node_buf, p, node_len);
	node_buf[node_len] = '\0';
	r->value = nl + 1;
	r->value_len = (size_t)(end - nl - 1);
	return r->tombstone && r->value_len > 0 ? -1 : 0;
}
