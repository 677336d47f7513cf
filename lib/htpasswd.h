/* SPDX-License-Identifier: Apache-2.0 */
/* Users from an htpasswd file (auth.htpasswd.path), as `htpasswd -B` writes it: one
 * "user:hash" line each, the hash bcrypt ($2y$, $2b$ or $2a$), checked with libcrypt's crypt_r.
 * Other schemes (Apache's MD5 $apr1$, {SHA}, crypt(3) DES, plain text) are refused when the file
 * is read, naming the line: a registry must not take a hash it cannot check safely. */
#ifndef OCTO_HTPASSWD_H
#define OCTO_HTPASSWD_H

#include <stddef.h>

#include "error.h"

/* The largest file and line read, and the most users: the file is an operator's, but it is
 * parsed into memory at every change. */
#define OCTO_HTPASSWD_MAX_SIZE (16u << 20)
#define OCTO_HTPASSWD_MAX_LINE 1024
#define OCTO_HTPASSWD_MAX_USERS 100000
/* A user name: what a Basic credential and a token's subject may carry. */
#define OCTO_HTPASSWD_USER_MAX 255

struct octo_htpasswd;

/* Parse text: OCTO_OK and *out, or OCTO_ERR_CONFIG with why ("line 3: ...") for a line that is
 * not "user:bcrypt hash", a duplicate user, or past a ceiling. Blank lines and lines that begin
 * with '#' are skipped; "\r\n" endings are taken. */
enum octo_err octo_htpasswd_parse(const char *text, size_t len, struct octo_htpasswd **out,
				  char *why, size_t size);
/* The same from a file (OCTO_ERR_CONFIG naming the path when it cannot be read). */
enum octo_err octo_htpasswd_load(const char *path, struct octo_htpasswd **out, char *why,
				 size_t size);
void octo_htpasswd_free(struct octo_htpasswd *h);
size_t octo_htpasswd_count(const struct octo_htpasswd *h);

/* Whether password is user's. An unknown user costs a bcrypt check all the same, so a guess of
 * names cannot be told from a guess of passwords by the time an answer takes. */
int octo_htpasswd_verify(const struct octo_htpasswd *h, const char *user, const char *password);

/* The users of a file, read again when it changes (another inode, size or modification time: an
 * editor's rename, `htpasswd -B` rewriting it), as the registry keeps them. A change that does
 * not read (a half-written file, a scheme refused) keeps the users read before, and says why.
 * Thread-safe: checks run side by side, a reload waits for them. */
struct octo_users;
enum octo_err octo_users_open(const char *path, struct octo_users **out, char *why, size_t size);
void octo_users_free(struct octo_users *u);
/* octo_htpasswd_verify against the file as it is now; *why (may be NULL) gets "" or why a
 * change of the file was not taken. */
int octo_users_verify(struct octo_users *u, const char *user, const char *password, char *why,
		      size_t size);

#endif
