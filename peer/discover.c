/* SPDX-License-Identifier: Apache-2.0 */
/* See discover.h. A thread of its own rather than a step of the health rounds: a lookup may
 * take up to p2p.discovery.timeout and keeps its own interval, and the health checks must
 * not wait for either. The thread alone uses its c-ares channel, driven by poll(2) over the
 * channel's sockets; what a round finds is decided in lib/discovery. */
#include "autoconfig.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ares.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "discover.h"
#include "discovery.h"
#include "ticker.h"

/* The longest one poll waits: how soon a stop ends a round in progress. */
#define STOP_CHECK_MS 100

struct octo_peer_discovery {
	const struct octo_config *cfg;
	struct octo_peer_cluster *cluster;
	struct octo_logger *log;
	ares_channel channel;
	struct octo_peer_ticker ticker;
	pthread_t thread;
	int stopping;
	struct octo_discovery last; /* the round before, for what is news */
	/* the round in progress */
	struct octo_strv found;
	char failure[256];
	int pending; /* lookups whose callback has not come */
};

/* A lookup of a host's addresses, the port they go with. */
struct lookup {
	struct octo_peer_discovery *d;
	int port;
	char name[];
};

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* The first failure of a round is the one it reports. */
static void failed(struct octo_peer_discovery *d, const char *what, const char *name,
		   const char *why)
{
	if (d->failure[0] == '\0')
		snprintf(d->failure, sizeof(d->failure), "%s %s: %s", what, name, why);
}

static void addresses_found(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct lookup *l = arg;
	struct ares_addrinfo_node *n;
	char ip[INET6_ADDRSTRLEN];

	(void)timeouts;
	if (status == ARES_SUCCESS) {
		for (n = res->nodes; n != NULL; n = n->ai_next) {
			const void *a =
				n->ai_family == AF_INET6
					? (const void *)&((struct sockaddr_in6 *)(void *)n->ai_addr)
						  ->sin6_addr
					: (const void *)&((struct sockaddr_in *)(void *)n->ai_addr)
						  ->sin_addr;
			if (inet_ntop(n->ai_family, a, ip, sizeof(ip)) != NULL)
				octo_discovery_add(&l->d->found, ip, l->port);
		}
		ares_freeaddrinfo(res);
	} else if (status != ARES_ECANCELLED && status != ARES_EDESTRUCTION) {
		failed(l->d, "A/AAAA", l->name, ares_strerror(status));
	}
	l->d->pending--;
	free(l);
}

/* Ask for name's A and AAAA records, for addresses with port. */
static void lookup_addresses(struct octo_peer_discovery *d, const char *name, int port)
{
	struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC, .ai_flags = ARES_AI_NOSORT};
	size_t len = strlen(name);
	struct lookup *l = malloc(sizeof(*l) + len + 1);

	if (l == NULL) {
		failed(d, "A/AAAA", name, "out of memory");
		return;
	}
	l->d = d;
	l->port = port;
	memcpy(l->name, name, len + 1);
	d->pending++;
	ares_getaddrinfo(d->channel, name, NULL, &hints, addresses_found, l);
}

static void targets_found(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct octo_peer_discovery *d = arg;
	struct ares_srv_reply *srv = NULL, *r;
	int targets = 0;

	(void)timeouts;
	d->pending--;
	if (status == ARES_ECANCELLED || status == ARES_EDESTRUCTION)
		return;
	if (status == ARES_SUCCESS)
		status = ares_parse_srv_reply(abuf, alen, &srv);
	for (r = status == ARES_SUCCESS ? srv : NULL; r != NULL; r = r->next)
		if (r->port > 0) {
			lookup_addresses(d, r->host, r->port);
			targets++;
		}
	ares_free_data(srv);
	/* No SRV record (or no answer to that question): the name's own addresses, which
	 * then fail or not on their own. */
	if (targets == 0)
		lookup_addresses(d, d->cfg->p2p.discovery.dns_name, d->cfg->p2p.port);
}

/* Run the channel until every lookup answered, the timeout passed, or a stop. */
static void run_lookups(struct octo_peer_discovery *d)
{
	uint64_t deadline = now_ms() + (uint64_t)d->cfg->p2p.discovery.timeout_ms;

	while (d->pending > 0) {
		ares_socket_t socks[ARES_GETSOCK_MAXNUM];
		struct pollfd p[ARES_GETSOCK_MAXNUM];
		struct timeval tv, *next;
		uint64_t now = now_ms();
		unsigned bits;
		int n = 0, i, ready;
		long wait;

		if (__atomic_load_n(&d->stopping, __ATOMIC_RELAXED)) {
			ares_cancel(d->channel); /* every callback comes now, cancelled */
			return;
		}
		if (now >= deadline) {
			failed(d, "lookup of", d->cfg->p2p.discovery.dns_name,
			       "no answer within p2p.discovery.timeout");
			ares_cancel(d->channel);
			return;
		}
		bits = (unsigned)ares_getsock(d->channel, socks, ARES_GETSOCK_MAXNUM);
		for (i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
			/* c-ares's ARES_GETSOCK_WRITABLE shifts a signed 1 into the sign bit for
			 * the last socket: the bits are read unsigned here */
			int readable = (bits & (1u << i)) != 0,
			    writable = (bits & (1u << (i + ARES_GETSOCK_MAXNUM))) != 0;
			if (readable || writable) {
				p[n].fd = socks[i];
				p[n].events =
					(short)((readable ? POLLIN : 0) | (writable ? POLLOUT : 0));
				p[n++].revents = 0;
			}
		}
		wait = (long)(deadline - now);
		next = ares_timeout(d->channel, NULL, &tv);
		if (next != NULL && next->tv_sec * 1000 + next->tv_usec / 1000 < wait)
			wait = next->tv_sec * 1000 + next->tv_usec / 1000;
		if (wait > STOP_CHECK_MS)
			wait = STOP_CHECK_MS;
		ready = poll(p, (nfds_t)n, (int)wait);
		if (ready <= 0) {
			ares_process_fd(d->channel, ARES_SOCKET_BAD,
					ARES_SOCKET_BAD); /* timeouts */
			continue;
		}
		for (i = 0; i < n; i++)
			if (p[i].revents != 0)
				ares_process_fd(d->channel,
						p[i].revents & (POLLIN | POLLERR | POLLHUP)
							? p[i].fd
							: ARES_SOCKET_BAD,
						p[i].revents & POLLOUT ? p[i].fd : ARES_SOCKET_BAD);
	}
}

/* Logged once per change: the addresses when they change, a failure when it starts or
 * changes, and its end. */
static void log_news(struct octo_peer_discovery *d, int news)
{
	const char *name = d->cfg->p2p.discovery.dns_name;

	if (news & OCTO_DISCOVERY_NEW_FAILURE) {
		if (d->last.failure[0] != '\0') {
			struct octo_log_field f[] = {OCTO_LOG_STR("name", name),
						     OCTO_LOG_STR("reason", d->last.failure)};
			octo_log(d->log, OCTO_LOG_WARN, "DNS discovery failed", f, 2);
		} else {
			struct octo_log_field f[] = {OCTO_LOG_STR("name", name)};
			octo_log(d->log, OCTO_LOG_INFO, "DNS discovery resolves again", f, 1);
		}
	}
	if (news & OCTO_DISCOVERY_NEW_FOUND) {
		char list[OCTO_LOG_MAX_VALUE] = "";
		size_t i, len = 0;
		for (i = 0; i < d->last.found.n && len < sizeof(list); i++)
			len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
						i > 0 ? "," : "", d->last.found.v[i]);
		struct octo_log_field f[] = {OCTO_LOG_STR("name", name),
					     OCTO_LOG_STR("addresses", list),
					     OCTO_LOG_NUM("count", (int64_t)d->last.found.n)};
		octo_log(d->log, OCTO_LOG_INFO, "DNS discovery found peers", f, 3);
	}
}

static void discover_round(struct octo_peer_discovery *d)
{
	size_t i;

	d->failure[0] = '\0';
	d->pending = 1;
	ares_search(d->channel, d->cfg->p2p.discovery.dns_name, ns_c_in, ns_t_srv, targets_found,
		    d);
	run_lookups(d);
	if (__atomic_load_n(&d->stopping, __ATOMIC_RELAXED))
		return;
	/* every round, not only when the set changed: an address whose entry merged into a
	 * member known by another address comes back as one to check, which is cheap */
	for (i = 0; i < d->found.n; i++)
		octo_peer_cluster_learn(d->cluster, d->found.v[i]); /* self is skipped there */
	log_news(d, octo_discovery_round(&d->last, &d->found, d->failure));
}

static void *rounds(void *arg)
{
	struct octo_peer_discovery *d = arg;

	do
		discover_round(d);
	while (octo_peer_ticker_wait(&d->ticker, (long)d->cfg->p2p.discovery.interval_ms));
	return NULL;
}

/* The channel: p2p.discovery.dns_server instead of resolv.conf's servers (and DNS only, not
 * /etc/hosts, so that what is found is what that server says), tries within the timeout. */
static int channel_new(struct octo_peer_discovery *d, const char **why)
{
	const char *server = d->cfg->p2p.discovery.dns_server;
	struct ares_options o;
	int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES, rc;

	memset(&o, 0, sizeof(o));
	o.tries = 2;
	o.timeout = (int)(d->cfg->p2p.discovery.timeout_ms / 3 > 50
				  ? d->cfg->p2p.discovery.timeout_ms / 3
				  : 50); /* then twice that: the two tries fit the timeout */
	if (server[0] != '\0') {
		o.lookups = (char *)"b";
		mask |= ARES_OPT_LOOKUPS;
	}
	if ((rc = ares_init_options(&d->channel, &o, mask)) != ARES_SUCCESS) {
		*why = ares_strerror(rc);
		return -1;
	}
	if (server[0] != '\0' &&
	    (rc = ares_set_servers_ports_csv(d->channel, server)) != ARES_SUCCESS) {
		*why = ares_strerror(rc);
		ares_destroy(d->channel);
		return -1;
	}
	return 0;
}

struct octo_peer_discovery *octo_peer_discovery_start(const struct octo_config *cfg,
						      struct octo_peer_cluster *cluster,
						      struct octo_logger *log)
{
	struct octo_peer_discovery *d = calloc(1, sizeof(*d));
	const char *why = "out of memory";
	int rc;

	if (d == NULL)
		goto fail;
	d->cfg = cfg;
	d->cluster = cluster;
	d->log = log;
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		why = ares_strerror(rc);
		goto fail;
	}
	if (channel_new(d, &why) != 0) {
		ares_library_cleanup();
		goto fail;
	}
	octo_peer_ticker_init(&d->ticker);
	if (pthread_create(&d->thread, NULL, rounds, d) != 0) {
		why = "no thread";
		octo_peer_ticker_destroy(&d->ticker);
		ares_destroy(d->channel);
		ares_library_cleanup();
		goto fail;
	}
	return d;
fail : {
	struct octo_log_field f[] = {OCTO_LOG_STR("reason", why)};
	octo_log(log, OCTO_LOG_ERROR, "DNS discovery cannot start", f, 1);
}
	free(d);
	return NULL;
}

void octo_peer_discovery_stop(struct octo_peer_discovery *d)
{
	if (d == NULL)
		return;
	__atomic_store_n(&d->stopping, 1, __ATOMIC_RELAXED);
	octo_peer_ticker_stop(&d->ticker);
	pthread_join(d->thread, NULL);
	ares_destroy(d->channel);
	ares_library_cleanup();
	octo_peer_ticker_destroy(&d->ticker);
	octo_discovery_cleanup(&d->last);
	octo_strv_cleanup(&d->found);
	free(d);
}
