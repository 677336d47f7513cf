/* SPDX-License-Identifier: Apache-2.0 */
/* Repositories: the directories under repositories/ that hold a _manifests directory. */
#ifndef OCTO_STORE_REPO_H
#define OCTO_STORE_REPO_H

#include "error.h"
#include "store.h"
#include "strv.h"

/* Names of the repositories that hold manifests, sorted bytewise; directories whose names
 * are not repository names are skipped. */
enum octo_err octo_store_repo_list(const struct octo_store *s, struct octo_strv *names);
/* Whether repo holds a manifest (one revision at least), as octo_store_repo_list counts. */
int octo_store_repo_holds_manifests(const struct octo_store *s, const char *repo);

#endif
