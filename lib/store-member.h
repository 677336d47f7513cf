/* SPDX-License-Identifier: Apache-2.0 */
/* Members removed from the cluster for good (`octoserve-peer forget`), as the store keeps
 * them: peer/forgotten/<32 hex of sha256(id)> holds the id (ids may hold characters a file
 * name may not). A membership tombstone: the daemon loads them, spreads them to its peers
 * in its health checks, and never takes the node as a member again. */
#ifndef OCTO_STORE_MEMBER_H
#define OCTO_STORE_MEMBER_H

#include "error.h"
#include "store.h"
#include "strv.h"

#define OCTO_FORGOTTEN_DIR "peer/forgotten"

/* Note id as forgotten, durably; OCTO_OK also when it was already; OCTO_ERR_NAME_INVALID for
 * an id that is not a node id. */
enum octo_err octo_store_forget_member(const struct octo_store *s, const char *id);
/* The ids forgotten, in no order (an empty list when none; files that are not one skipped). */
enum octo_err octo_store_forgotten_members(const struct octo_store *s, struct octo_strv *ids);

#endif
