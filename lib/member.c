/* SPDX-License-Identifier: Apache-2.0 */
/* See member.h. */
#include "autoconfig.h"

#include <stdlib.h>
#include <string.h>

#include "member.h"

void octo_members_init(struct octo_members *m, const char *self, const char *self_address,
		       int failure_threshold)
{
	memset(m, 0, sizeof(*m));
	m->self = self;
	m->self_address = self_address;
	m->failure_threshold = failure_threshold > 0 ? failure_threshold : 1;
}

void octo_members_cleanup(struct octo_members *m)
{
	free(m->v);
	free(m->self_aliases);
	free(m->forgotten);
	memset(m, 0, sizeof(*m));
}

/* host:port, with a host of [A-Za-z0-9.-] or a bracketed IPv6 literal and a port 1-65535. */
static int address_valid(const char *a)
{
	const char *colon = strrchr(a, ':');
	size_t hlen, i;
	long port;
	char *end;

	if (colon == NULL || strlen(a) > OCTO_MEMBER_ADDRESS_MAX)
		return 0;
	hlen = (size_t)(colon - a);
	if (hlen == 0)
		return 0;
	if (a[0] == '[') {
		if (hlen < 3 || a[hlen - 1] != ']')
			return 0;
		for (i = 1; i < hlen - 1; i++)
			if (strchr("0123456789abcdefABCDEF:.", a[i]) == NULL)
				return 0;
	} else {
		for (i = 0; i < hlen; i++)
			if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-",
				   a[i]) == NULL)
				return 0;
	}
	port = strtol(colon + 1, &end, 10);
	return colon[1] >= '1' && colon[1] <= '9' && *end == '\0' && port >= 1 && port <= 65535;
}

static long find(const struct octo_members *m, const char *id, const char *address)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (id[0] != '\0' ? strcmp(m->v[i].id, id) == 0
				  : strcmp(m->v[i].address, address) == 0)
			return (long)i;
	return -1;
}

static int self_alias(const struct octo_members *m, const char *address)
{
	size_t i;

	for (i = 0; i < m->n_self_aliases; i++)
		if (strcmp(m->self_aliases[i], address) == 0)
			return 1;
	return 0;
}

/* Address i answered as this node: remembered (when memory allows) and its entry gone. */
static void drop_self(struct octo_members *m, size_t i)
{
	char(*v)[OCTO_MEMBER_ADDRESS_MAX + 1] =
		realloc(m->self_aliases, (m->n_self_aliases + 1) * sizeof(*v));

	if (v != NULL) {
		m->self_aliases = v;
		strcpy(v[m->n_self_aliases++], m->v[i].address);
	}
	m->v[i] = m->v[--m->n];
}

int octo_members_learn(struct octo_members *m, const char *id, const char *address)
{
	struct octo_member *e;
	long at;

	if ((id[0] != '\0' && !octo_node_id_valid(id, strlen(id))) || !address_valid(address))
		return -1;
	if ((m->self != NULL && strcmp(id, m->self) == 0) ||
	    (m->self_address != NULL && strcmp(address, m->self_address) == 0) ||
	    (id[0] == '\0' && self_alias(m, address)) || octo_members_forgotten(m, id))
		return 0;
	at = find(m, id, address);
	if (at < 0 && id[0] != '\0')
		at = find(m, "", address); /* a bootstrap address, now with its id */
	if (at >= 0) {
		e = &m->v[at];
		if (e->id[0] == '\0' || strcmp(e->id, id) == 0 || id[0] == '\0') {
			if (id[0] != '\0')
				strcpy(e->id, id);
			strcpy(e->address, address);
			return 0;
		}
	}
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 8;
		struct octo_member *v = realloc(m->v, cap * sizeof(*v));
		if (v == NULL)
			return -1;
		m->v = v;
		m->cap = cap;
	}
	e = &m->v[m->n++];
	memset(e, 0, sizeof(*e));
	strcpy(e->id, id);
	strcpy(e->address, address);
	return 1;
}

long octo_members_observe(struct octo_members *m, size_t i, int ok, const char *id, uint64_t now_ms)
{
	struct octo_member *e = &m->v[i];
	enum octo_member_state was = e->state;

	if (ok && id != NULL && e->id[0] != '\0' && strcmp(e->id, id) != 0)
		ok = 0; /* another node answers at that address */
	if (ok && e->id[0] == '\0' && id != NULL && m->self != NULL && strcmp(id, m->self) == 0) {
		drop_self(m, i);
		return -1;
	}
	if (ok && id != NULL && octo_members_forgotten(m, id)) {
		m->v[i] = m->v[--m->n]; /* removed for good: its address is no member either */
		return -1;
	}
	if (ok && e->id[0] == '\0' && id != NULL) {
		/* a bootstrap address of a member known by another address ("localhost:6001"
		 * and "127.0.0.1:6001"): one member, one entry, the one known first */
		size_t j;
		for (j = 0; j < m->n; j++)
			if (j != i && strcmp(m->v[j].id, id) == 0)
				break;
		if (j < m->n) {
			m->v[i] = m->v[--m->n];
			if (j == m->n)
				j = i;
			return octo_members_observe(m, j, 1, id, now_ms);
		}
	}
	if (ok) {
		if (e->id[0] == '\0' && id != NULL && octo_node_id_valid(id, strlen(id)))
			strcpy(e->id, id);
		e->misses = 0;
		e->last_seen_ms = now_ms;
		e->state = OCTO_MEMBER_UP;
	} else if (++e->misses >= m->failure_threshold) {
		e->state = OCTO_MEMBER_DOWN;
	}
	if (e->state != was)
		e->changed_ms = now_ms;
	return (long)i;
}

const char *octo_member_state_name(enum octo_member_state s)
{
	return s == OCTO_MEMBER_UP ? "up" : s == OCTO_MEMBER_DOWN ? "down" : "unknown";
}

int octo_member_placed(const struct octo_member *m, uint64_t now_ms, uint64_t grace_ms)
{
	return m->state != OCTO_MEMBER_DOWN || now_ms < m->changed_ms ||
	       now_ms - m->changed_ms < grace_ms;
}

int octo_member_certified(const char *const *names, size_t n, const char *id)
{
	size_t i;

	for (i = 0; id[0] != '\0' && i < n; i++)
		if (strcmp(names[i], id) == 0)
			return 1;
	return 0;
}

int octo_member_away_too_long(uint64_t last_contact_ms, uint64_t now_ms, uint64_t max_ms)
{
	return last_contact_ms > 0 && now_ms > last_contact_ms && now_ms - last_contact_ms > max_ms;
}

int octo_members_forgotten(const struct octo_members *m, const char *id)
{
	size_t i;

	for (i = 0; id[0] != '\0' && i < m->n_forgotten; i++)
		if (strcmp(m->forgotten[i], id) == 0)
			return 1;
	return 0;
}

int octo_members_forget(struct octo_members *m, const char *id)
{
	char(*v)[OCTO_NODE_ID_MAX + 1];
	size_t i;

	if (!octo_node_id_valid(id, strlen(id)))
		return -1;
	if (octo_members_forgotten(m, id))
		return 0;
	v = realloc(m->forgotten, (m->n_forgotten + 1) * sizeof(*v));
	if (v == NULL)
		return -1;
	m->forgotten = v;
	strcpy(m->forgotten[m->n_forgotten++], id);
	for (i = 0; i < m->n; i++)
		if (strcmp(m->v[i].id, id) == 0)
			m->v[i--] = m->v[--m->n];
	return 1;
}
