/* SPDX-License-Identifier: Apache-2.0 */
/* Authentication and authorization (doc/DESIGN.md "Authentication"): who a request comes
 * from (a bearer token, or the front's REMOTE_USER under auth.trust_front), what auth.rules
 * let them do, the 401 challenge or the 403 when they may not, and the built-in token issuer
 * that turns a password into a short-lived scoped token. Passwords are checked at the issuer
 * only; every other request carries a token, checked with a signature and no disk access. */
#ifndef OCTO_AUTH_H
#define OCTO_AUTH_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"
#include "htpasswd.h"
#include "jwt.h"
#include "log.h"
#include "name.h"
#include "request.h"
#include "response.h"
#include "store.h"

/* Scopes one token request may ask for. */
#define OCTO_AUTH_MAX_SCOPES 16
/* Tokens a process remembers as verified (their signatures are not checked again): slots of
 * about 300 bytes each and the claims they hold. */
#define OCTO_AUTH_VERIFIED 1024

struct octo_auth;

/* The authentication cfg asks for, over store s: *out is NULL when auth is off. A file that
 * does not read (users, keys) is OCTO_ERR_CONFIG with why. With s NULL (a check of the
 * configuration) the store's generated signing key is left alone. log may be NULL. */
enum octo_err octo_auth_open(const struct octo_config *cfg, struct octo_logger *log,
			     struct octo_store *s, struct octo_auth **out, char *why, size_t size);
void octo_auth_free(struct octo_auth *a);
/* What --check-config does: read every file authentication names, as at start. */
enum octo_err octo_auth_check_config(const struct octo_config *cfg, char *why, size_t size);

/* Who a request comes from. */
struct octo_caller {
	char user[OCTO_HTPASSWD_USER_MAX + 1]; /* "": anonymous */
	int token;                             /* 1: a verified bearer token */
	enum octo_jwt_fail refused;            /* a token that was presented and refused */
	json_t *access;                        /* the token's "access" claim (owned), or NULL */
};
void octo_caller_cleanup(struct octo_caller *c);

/* What a request needs. */
enum octo_need_kind {
	OCTO_NEED_NONE,       /* outside registry auth: health, metrics, the issuer */
	OCTO_NEED_LOGIN,      /* GET /v2/: any caller who authenticated */
	OCTO_NEED_CATALOG,    /* GET /v2/_catalog, then filtered by pull */
	OCTO_NEED_REPOSITORY, /* actions on repository */
};
struct octo_need {
	enum octo_need_kind kind;
	const char *repository;
	unsigned actions; /* OCTO_ACCESS_* */
};

/* The parts of an Authorization header: the scheme's word ("Bearer", "Basic", matched
 * case-insensitively) and the credentials after it. -1 when the header has no credentials. */
int octo_auth_split(const char *header, const char **scheme, size_t *scheme_len, const char **cred,
		    size_t *cred_len);
/* A user name as it may appear in a token, a log line and a rule: printable, no space, quote
 * or ':' (Basic splits there), 1 to OCTO_HTPASSWD_USER_MAX bytes. */
int octo_auth_user_valid(const char *s, size_t len);
/* "Basic base64(user:password)" into user and password (NUL-terminated; password may hold any
 * byte but NUL). -1 when malformed or a part is too long. */
int octo_auth_basic(const char *cred, size_t len, char user[OCTO_HTPASSWD_USER_MAX + 1],
		    char *password, size_t password_size);

/* A scope as a token request asks it, "type:name:actions" (doc/reference auth-scope.md): the
 * type before the first ':', the actions (pull, push, delete, *, comma-separated; others are
 * ignored) after the last, the name between. -1 when it is not of that shape. */
struct octo_scope {
	char type[32];
	char name[OCTO_NAME_MAX + 1];
	unsigned actions; /* OCTO_ACCESS_* */
};
int octo_auth_parse_scope(const char *s, size_t len, struct octo_scope *out);

/* Identify the caller of req into c (always to clean up). */
void octo_auth_identify(struct octo_auth *a, const struct octo_request *req, struct octo_caller *c);
/* Whether c may do what need says: 1, or 0 with resp filled (401 and the challenge, or 403
 * DENIED) and the refusal logged with the caller and what was refused. base_url:
 * server.external_url ("" to take the request's host). */
int octo_auth_allow(struct octo_auth *a, const struct octo_request *req, const char *base_url,
		    const struct octo_caller *c, const struct octo_need *need,
		    struct octo_response *resp);
/* What the rules and c's token let c do to repository (OCTO_ACCESS_* bits). */
unsigned octo_auth_actions(const struct octo_auth *a, const struct octo_caller *c,
			   const char *repository);
/* Whether the rules, whatever the token's scope, let c pull repository: what the catalog lists,
 * and what an automatic mount may link from (clients ask no scope for those). */
int octo_auth_rules_pull(const struct octo_auth *a, const struct octo_caller *c,
			 const char *repository);
/* Whether c may do everything everywhere (the admin group, or no rule to apply): a list need
 * not be filtered. */
int octo_auth_unlimited(const struct octo_auth *a, const struct octo_caller *c);

/* The built-in issuer: its path, or NULL when there is none. */
const char *octo_auth_issuer_path(const struct octo_auth *a);
/* GET or POST at the issuer's path: a token for the caller's credentials and the scopes asked
 * (see api-token.c for the HTTP side). */
struct octo_token_request {
	const char *user;     /* NULL: anonymous */
	const char *password; /* with user */
	const char *remote_addr;
	const char *scopes[OCTO_AUTH_MAX_SCOPES]; /* "repository:name:pull,push", ... */
	size_t n_scopes;
};
void octo_auth_issue(struct octo_auth *a, const struct octo_token_request *tr,
		     struct octo_response *resp);

#endif
