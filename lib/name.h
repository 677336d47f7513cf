/* SPDX-License-Identifier: Apache-2.0 */
/* Repository names and tags (distribution-spec "Pulling manifests": the <name> and
 * <reference> grammars). Inputs are length-delimited, never assumed NUL-terminated. */
#ifndef OCTO_NAME_H
#define OCTO_NAME_H

#include <stddef.h>

/* Longest repository name accepted (Distribution uses the same bound). */
#define OCTO_NAME_MAX 255
#define OCTO_TAG_MAX 128

/* [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)* */
int octo_name_valid(const char *s, size_t len);
/* [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127} */
int octo_tag_valid(const char *s, size_t len);
/* Tag order: "lexical order (i.e. case-insensitive alphanumeric order)" (distribution-spec
 * "Listing Tags"), ties broken bytewise so the order is total. */
int octo_tag_cmp(const char *a, const char *b);

#endif
