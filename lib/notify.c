/* SPDX-License-Identifier: Apache-2.0 */
/* See notify.h. */
#include "autoconfig.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "metrics.h"
#include "notify.h"

#define STATUS_REL OCTO_NOTIFY_STATUS_REL
#define STATUS_MAX (1 << 20)

enum octo_err octo_notify_cursor_name(const char *name, char *buf, size_t size)
{
	int n = snprintf(buf, size, "notify-%s", name);

	return n > 0 && (size_t)n < size ? OCTO_OK : OCTO_ERR_NAME_INVALID;
}

static int listed(char *const *list, size_t n, const char *s, int glob)
{
	size_t i;

	if (n == 0)
		return 1; /* no filter: everything */
	for (i = 0; i < n; i++)
		if (glob ? fnmatch(list[i], s, 0) == 0 : strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

static const char *action_of(const char *type)
{
	if (strcmp(type, "blob.mount") == 0)
		return "mount";
	if (strcmp(type, "blob.delete") == 0 || strcmp(type, "manifest.delete") == 0 ||
	    strcmp(type, "tag.delete") == 0 || strcmp(type, OCTO_EVENT_COLLECT_LINK) == 0 ||
	    strcmp(type, OCTO_EVENT_COLLECT_MANIFEST) == 0)
		return "delete";
	return "push";
}

/* One event as the envelope carries it. */
static json_t *event_json(const struct octo_event *ev, const char *incarnation)
{
	char id[96], when[40], ds[OCTO_DIGEST_MAX_STRING];
	time_t secs = (time_t)(ev->time_ms / 1000);
	struct tm tm;
	json_t *target = json_pack("{s:s}", "repository", ev->repo), *o;
	size_t i;

	gmtime_r(&secs, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03uZ",
		 (unsigned)(ev->time_ms % 1000));
	snprintf(id, sizeof(id), "%s-%" PRIu64, incarnation, ev->seq);
	if (ev->has_digest) {
		octo_digest_format(&ev->digest, ds, sizeof(ds));
		json_object_set_new(target, "digest", json_string(ds));
	}
	if (ev->tag != NULL)
		json_object_set_new(target, "tag", json_string(ev->tag));
	for (i = 0; i < ev->n_records; i++) {
		const struct octo_event_record *r = &ev->records[i];
		if (r->value == NULL)
			continue;
		if (r->parsed.kind == OCTO_RECORD_REVISION)
			json_object_set_new(target, "mediaType",
					    json_stringn(r->value, r->value_len));
		else if (r->parsed.kind == OCTO_RECORD_LINK)
			json_object_set_new(target, "size",
					    json_integer(strtoll(r->value, NULL, 10)));
	}
	o = json_pack("{s:s,s:I,s:s,s:s,s:s,s:o,s:{s:s,s:s}}", "id", id, "seq", (json_int_t)ev->seq,
		      "timestamp", when, "action", action_of(ev->type), "type", ev->type, "target",
		      target, "source", "instanceID", incarnation, "node", ev->node);
	return o;
}

struct collect {
	const char *incarnation;
	const struct octo_notify_endpoint *e;
	struct octo_notify_batch *b;
	json_t *events;
	enum octo_err err;
};

static int take(void *ctx, uint64_t seq, const char *line, size_t len)
{
	struct collect *c = ctx;
	struct octo_event ev;
	const char *why;
	json_t *o;

	c->b->last_seq = seq;
	if (octo_event_parse(line, len, &ev, &why) != 0)
		return 0; /* not an event of ours: nothing to announce */
	if (!ev.has_origin && strcmp(ev.type, OCTO_EVENT_REPAIR) != 0 &&
	    listed(c->e->events, c->e->n_events, ev.type, 0) &&
	    listed(c->e->repositories, c->e->n_repositories, ev.repo, 1)) {
		o = event_json(&ev, c->incarnation);
		if (o == NULL || json_array_append_new(c->events, o) != 0) {
			c->err = OCTO_ERR_NOMEM;
			octo_event_cleanup(&ev);
			return 1;
		}
		if (c->b->n++ == 0)
			c->b->oldest_ms = ev.time_ms;
	}
	octo_event_cleanup(&ev);
	return c->b->n >= (size_t)c->e->batch;
}

enum octo_err octo_notify_batch(const struct octo_journal *j, const char *incarnation,
				const struct octo_notify_endpoint *e, uint64_t after,
				struct octo_notify_batch *b)
{
	struct collect c = {incarnation, e, b, json_array(), OCTO_OK};
	json_t *envelope;
	enum octo_err err;

	memset(b, 0, sizeof(*b));
	b->last_seq = after;
	if (c.events == NULL)
		return OCTO_ERR_NOMEM;
	err = octo_journal_scan(j, after, take, &c);
	if (err == OCTO_OK)
		err = c.err;
	if (err == OCTO_OK && b->n > 0) {
		envelope = json_pack("{s:O}", "events", c.events);
		b->body = envelope != NULL
				  ? json_dumps(envelope, JSON_COMPACT | JSON_PRESERVE_ORDER)
				  : NULL;
		json_decref(envelope);
		if (b->body == NULL)
			err = OCTO_ERR_NOMEM;
		else
			b->len = strlen(b->body);
	}
	json_decref(c.events);
	if (err != OCTO_OK)
		octo_notify_batch_cleanup(b);
	return err;
}

void octo_notify_batch_cleanup(struct octo_notify_batch *b)
{
	free(b->body);
	b->body = NULL;
	b->len = b->n = 0;
}

enum octo_err octo_notify_status_save(const struct octo_store *s,
				      const struct octo_notify_status *st, size_t n)
{
	json_t *list = json_array(), *o;
	enum octo_err err = OCTO_OK;
	char *text;
	size_t i;

	for (i = 0; i < n && list != NULL; i++)
		if (json_array_append_new(list,
					  json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:s}", "name",
						    st[i].name, "cursor", (json_int_t)st[i].cursor,
						    "lag_events", (json_int_t)st[i].lag_events,
						    "lag_ms", (json_int_t)st[i].lag_ms, "delivered",
						    (json_int_t)st[i].delivered, "failures",
						    (json_int_t)st[i].failures, "last_success_ms",
						    (json_int_t)st[i].last_success_ms, "last_error",
						    st[i].last_error)) != 0)
			err = OCTO_ERR_NOMEM;
	o = list != NULL ? json_pack("{s:o}", "endpoints", list) : NULL;
	text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text == NULL)
		return OCTO_ERR_NOMEM;
	if (err == OCTO_OK) /* a status: not synced, the counts are the cursor's to keep */
		err = octo_store_write_unsynced(s, STATUS_REL, text, strlen(text));
	free(text);
	return err;
}

static uint64_t u64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v)
							       : 0;
}

enum octo_err octo_notify_status_load(const struct octo_store *s, const char *name,
				      struct octo_notify_status *st)
{
	char *text;
	size_t len, i;
	json_t *o, *e;
	enum octo_err err =
		octo_store_read(s, STATUS_REL, STATUS_MAX, OCTO_ERR_NAME_UNKNOWN, &text, &len);

	memset(st, 0, sizeof(*st));
	snprintf(st->name, sizeof(st->name), "%s", name);
	if (err != OCTO_OK)
		return err;
	o = json_loadb(text, len, 0, NULL);
	free(text);
	err = OCTO_ERR_NAME_UNKNOWN;
	json_array_foreach(json_object_get(o, "endpoints"), i, e)
	{
		const char *n = json_string_value(json_object_get(e, "name"));
		if (n == NULL || strcmp(n, name) != 0)
			continue;
		st->cursor = u64(e, "cursor");
		st->lag_events = u64(e, "lag_events");
		st->lag_ms = u64(e, "lag_ms");
		st->delivered = u64(e, "delivered");
		st->failures = u64(e, "failures");
		st->last_success_ms = u64(e, "last_success_ms");
		snprintf(st->last_error, sizeof(st->last_error), "%s",
			 json_string_value(json_object_get(e, "last_error"))
				 ? json_string_value(json_object_get(e, "last_error"))
				 : "");
		err = OCTO_OK;
	}
	json_decref(o);
	return err;
}
