/* SPDX-License-Identifier: Apache-2.0 */
/* A request handed from one process to another through the store, and its answer: the asker
 * writes <dir>/<32 hex> and polls for <dir>/<32 hex>.done, which the other side writes only
 * while the request is there. Neither file is synced: both live only as long as the asker
 * waits, and a crash of the machine takes the asker too. Strong-mode writes (strong.h) and
 * cluster-wide garbage collection plans (collect.h) go this way to the peer daemon. */
#ifndef OCTO_HANDOFF_H
#define OCTO_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "store.h"
#include "strv.h"

#define OCTO_HANDOFF_ID_LEN 32

/* The asker's side: hand over the request (text) and wait for its answer, at most timeout_ms,
 * looking every poll_ms: OCTO_OK with the answer (malloc'd, at most max bytes), or
 * OCTO_ERR_NAME_UNKNOWN when none came in time. The request and its answer are removed either
 * way. */
enum octo_err octo_handoff_ask(const struct octo_store *s, const char *dir, const char *text,
			       size_t max, int64_t timeout_ms, long poll_ms, char **answer,
			       size_t *len);

/* The answering side: the ids waiting (in no order), one request's text, and its answer
 * (written only while the request is there: nobody waits otherwise). */
enum octo_err octo_handoff_pending(const struct octo_store *s, const char *dir,
				   struct octo_strv *ids);
int octo_handoff_answered(const struct octo_store *s, const char *dir, const char *id);
enum octo_err octo_handoff_read(const struct octo_store *s, const char *dir, const char *id,
				size_t max, char **text, size_t *len);
enum octo_err octo_handoff_answer(const struct octo_store *s, const char *dir, const char *id,
				  const char *text);
/* Remove answers nobody waits for any more (their request is gone). */
void octo_handoff_sweep(const struct octo_store *s, const char *dir);

#endif
