/* SPDX-License-Identifier: Apache-2.0 */
/* See auth.h. */
#include "autoconfig.h"

#include <ctype.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "clock.h"
#include "name.h"
#include "retention.h"
#include "throttle.h"

#define ALL_ACTIONS (OCTO_ACCESS_PULL | OCTO_ACCESS_PUSH | OCTO_ACCESS_DELETE)
/* The generated signing key of a store without auth.token.signing_key. */
#define GENERATED_KEY "auth/signing-key.pem"

/* A token verified lately, by the SHA-256 of its bytes: its signature, issuer and audience
 * are checked once per token and process instead of at every request (an ES256 verification
 * took half the rate of small GETs), its times at every use. */
struct verified {
	unsigned char sum[SHA256_DIGEST_LENGTH];
	int used;
	int64_t exp, nbf; /* nbf: INT64_MIN when the token has none */
	char user[OCTO_HTPASSWD_USER_MAX + 1];
	json_t *access; /* owned */
};

struct octo_auth {
	const struct octo_config *cfg;
	struct octo_logger *log;
	struct octo_users *users;       /* the built-in issuer's, or NULL */
	struct octo_jwt_signer signer;  /* key NULL without a built-in issuer */
	struct octo_jwt_keys *keys;     /* trusted to verify */
	struct octo_throttle *throttle; /* failed logins */
	pthread_mutex_t lock;           /* over verified */
	struct verified *verified;      /* OCTO_AUTH_VERIFIED slots, direct-mapped by sum */
};

/* The store's generated key: read, or made once (a racing process's key wins the name); a
 * read-only store must have it already. */
static enum octo_err generated_key(struct octo_store *s, int readonly, char *path, size_t size)
{
	char tmp[512];
	char *pem;
	int placed;
	enum octo_err err = octo_store_stat(s, GENERATED_KEY, OCTO_ERR_NOT_FOUND, NULL);

	if (err == OCTO_ERR_NOT_FOUND && readonly)
		return OCTO_ERR_STORE_READONLY;
	if (err == OCTO_ERR_NOT_FOUND) {
		pem = octo_jwt_generate_pem();
		if (pem == NULL)
			return OCTO_ERR_NOMEM;
		err = octo_store_write_temp(s, GENERATED_KEY, pem, strlen(pem), tmp, sizeof(tmp));
		OPENSSL_cleanse(pem, strlen(pem));
		free(pem);
		if (err == OCTO_OK)
			err = octo_store_place(s, tmp, GENERATED_KEY, &placed);
	}
	if (err == OCTO_OK)
		err = octo_store_abspath(s, GENERATED_KEY, path, size);
	return err;
}

static enum octo_err read_file(const char *path, char **text, size_t *len, char *why, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = 0, room = OCTO_JWKS_MAX_SIZE + 1;
	char *buf;

	if (f == NULL) {
		snprintf(why, size, "%s cannot be read", path);
		return OCTO_ERR_CONFIG;
	}
	buf = malloc(room + 1);
	if (buf != NULL)
		n = fread(buf, 1, room, f);
	fclose(f);
	if (buf == NULL)
		return OCTO_ERR_NOMEM;
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return OCTO_OK;
}

/* The keys tokens are verified with: our own signing key's public half, then the files. */
static enum octo_err load_keys(struct octo_auth *a, char *why, size_t size)
{
	const struct octo_config *cfg = a->cfg;
	enum octo_err err = OCTO_OK;
	size_t i;

	if ((a->keys = octo_jwt_keys_new()) == NULL)
		return OCTO_ERR_NOMEM;
	if (a->signer.key != NULL)
		err = octo_jwt_keys_add(a->keys, a->signer.key, NULL, why, size);
	for (i = 0; err == OCTO_OK && i < cfg->auth.token.n_keys; i++)
		err = octo_jwt_keys_add_pem(a->keys, cfg->auth.token.keys[i], why, size);
	if (err == OCTO_OK && cfg->auth.token.jwks != NULL) {
		char *text, inner[256] = "";
		size_t len;
		err = read_file(cfg->auth.token.jwks, &text, &len, why, size);
		if (err == OCTO_OK) {
			err = octo_jwt_keys_add_jwks(a->keys, text, len, inner, sizeof(inner));
			free(text);
			if (err == OCTO_ERR_CONFIG)
				snprintf(why, size, "%s: %s", cfg->auth.token.jwks, inner);
		}
	}
	if (err == OCTO_OK && cfg->auth.token.ca_bundle != NULL)
		err = octo_jwt_keys_add_ca(a->keys, cfg->auth.token.ca_bundle, why, size);
	return err;
}

enum octo_err octo_auth_open(const struct octo_config *cfg, struct octo_logger *log,
			     struct octo_store *s, struct octo_auth **out, char *why, size_t size)
{
	struct octo_auth *a;
	enum octo_err err = OCTO_OK;

	*out = NULL;
	why[0] = '\0';
	if (!octo_config_auth_enabled(cfg))
		return OCTO_OK;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return OCTO_ERR_NOMEM;
	a->cfg = cfg;
	a->log = log;
	pthread_mutex_init(&a->lock, NULL);
	if ((a->verified = calloc(OCTO_AUTH_VERIFIED, sizeof(*a->verified))) == NULL) {
		octo_auth_free(a);
		return OCTO_ERR_NOMEM;
	}
	if (cfg->auth.htpasswd_path != NULL) {
		char generated[4096];
		const char *key = cfg->auth.token.signing_key;
		err = octo_users_open(cfg->auth.htpasswd_path, &a->users, why, size);
		if (err == OCTO_OK && key == NULL && s == NULL)
			goto keys; /* a check of the configuration: the store's key is made at start */
		if (err == OCTO_OK && key == NULL) {
			err = generated_key(s, cfg->storage.readonly, generated, sizeof(generated));
			key = generated;
			if (err == OCTO_ERR_STORE_READONLY)
				snprintf(why, size,
					 "the store has no signing key (%s) and is read-only "
					 "(storage.readonly): set auth.token.signing_key",
					 GENERATED_KEY);
			else if (err != OCTO_OK)
				snprintf(why, size,
					 "the signing key %s in the store cannot be made: %s",
					 GENERATED_KEY, octo_err_code(err));
		}
		if (err == OCTO_OK)
			err = octo_jwt_signer_load(&a->signer, key, why, size);
	}
keys:
	if (err == OCTO_OK && !cfg->auth.trust_front)
		err = load_keys(a, why, size);
	if (err == OCTO_OK)
		err = octo_throttle_open(cfg->storage.readonly ? NULL : s, &a->throttle);
	if (err != OCTO_OK) {
		if (why[0] == '\0')
			snprintf(why, size, "%s", octo_err_message(err));
		octo_auth_free(a);
		return err == OCTO_ERR_NOMEM ? err : OCTO_ERR_CONFIG;
	}
	*out = a;
	return OCTO_OK;
}

enum octo_err octo_auth_check_config(const struct octo_config *cfg, char *why, size_t size)
{
	struct octo_auth *a;
	enum octo_err err = octo_auth_open(cfg, NULL, NULL, &a, why, size);

	octo_auth_free(a);
	return err;
}

void octo_auth_free(struct octo_auth *a)
{
	size_t i;

	if (a == NULL)
		return;
	octo_users_free(a->users);
	octo_jwt_signer_cleanup(&a->signer);
	octo_jwt_keys_free(a->keys);
	octo_throttle_free(a->throttle);
	for (i = 0; a->verified != NULL && i < OCTO_AUTH_VERIFIED; i++)
		json_decref(a->verified[i].access);
	free(a->verified);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

void octo_caller_cleanup(struct octo_caller *c)
{
	json_decref(c->access);
	memset(c, 0, sizeof(*c));
}

const char *octo_auth_issuer_path(const struct octo_auth *a)
{
	return a != NULL && a->signer.key != NULL ? a->cfg->auth.token.realm : NULL;
}

int octo_auth_user_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > OCTO_HTPASSWD_USER_MAX)
		return 0;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == ':' || s[i] == '"' || s[i] == 0x7f)
			return 0;
	return 1;
}

int octo_auth_split(const char *header, const char **scheme, size_t *scheme_len, const char **cred,
		    size_t *cred_len)
{
	const char *p = header, *end;

	while (*p == ' ' || *p == '\t')
		p++;
	*scheme = p;
	while (*p && *p != ' ' && *p != '\t')
		p++;
	*scheme_len = (size_t)(p - *scheme);
	while (*p == ' ' || *p == '\t')
		p++;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*cred = p;
	*cred_len = (size_t)(end - p);
	return *scheme_len > 0 && *cred_len > 0 ? 0 : -1;
}

static int scheme_is(const char *scheme, size_t len, const char *want)
{
	return len == strlen(want) && strncasecmp(scheme, want, len) == 0;
}

int octo_auth_basic(const char *cred, size_t len, char user[OCTO_HTPASSWD_USER_MAX + 1],
		    char *password, size_t password_size)
{
	unsigned char buf[1024];
	const char *colon;
	int n;
	size_t plain;

	if (len == 0 || len % 4 != 0 || len / 4 * 3 >= sizeof(buf))
		return -1;
	n = EVP_DecodeBlock(buf, (const unsigned char *)cred, (int)len);
	if (n < 0)
		return -1;
	plain = (size_t)n - (cred[len - 1] == '=') - (cred[len - 2] == '=');
	buf[plain] = '\0';
	colon = memchr(buf, ':', plain);
	if (colon == NULL || memchr(buf, '\0', plain) != NULL ||
	    !octo_auth_user_valid((const char *)buf, (size_t)(colon - (const char *)buf)) ||
	    plain - (size_t)(colon + 1 - (const char *)buf) >= password_size) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	memcpy(user, buf, (size_t)(colon - (const char *)buf));
	user[colon - (const char *)buf] = '\0';
	memcpy(password, colon + 1, plain - (size_t)(colon + 1 - (const char *)buf) + 1);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

/* Keep a verified token in its slot v (the one there before goes). */
static void remember(struct octo_auth *a, struct verified *v, const unsigned char *sum,
		     json_t *claims, const struct octo_caller *c)
{
	int64_t nbf = INT64_MIN;
	json_t *old;

	if (json_object_get(claims, "nbf") != NULL)
		nbf = (int64_t)json_number_value(json_object_get(claims, "nbf"));
	pthread_mutex_lock(&a->lock);
	old = v->access;
	memcpy(v->sum, sum, sizeof(v->sum));
	v->used = 1;
	v->exp = (int64_t)json_number_value(json_object_get(claims, "exp"));
	v->nbf = nbf;
	strcpy(v->user, c->user);
	v->access = json_incref(c->access);
	pthread_mutex_unlock(&a->lock);
	json_decref(old);
}

void octo_auth_identify(struct octo_auth *a, const struct octo_request *req, struct octo_caller *c)
{
	const char *h, *scheme, *cred;
	size_t scheme_len, cred_len;
	struct octo_jwt_expect exp;
	unsigned char sum[SHA256_DIGEST_LENGTH];
	struct verified *v;
	json_t *claims, *sub;

	memset(c, 0, sizeof(*c));
	if (a->cfg->auth.trust_front) {
		/* The front authenticated every request (its recipe says so): its user is ours. */
		if (req->remote_user != NULL &&
		    octo_auth_user_valid(req->remote_user, strlen(req->remote_user)))
			strcpy(c->user, req->remote_user);
		return;
	}
	h = octo_request_header(req, "Authorization");
	if (h == NULL || octo_auth_split(h, &scheme, &scheme_len, &cred, &cred_len) != 0 ||
	    !scheme_is(scheme, scheme_len, "Bearer"))
		return; /* Basic goes to the issuer, not here: a request without a token is anonymous */
	exp.issuer = a->cfg->auth.token.issuer;
	exp.audience = a->cfg->auth.token.service;
	exp.now = octo_clock_wall_ms() / 1000;
	exp.leeway = a->cfg->auth.token.leeway_ms / 1000;
	if (cred_len > OCTO_JWT_MAX) {
		c->refused = OCTO_JWT_MALFORMED;
		return;
	}
	SHA256((const unsigned char *)cred, cred_len, sum);
	v = &a->verified[((size_t)sum[0] << 8 | sum[1]) % OCTO_AUTH_VERIFIED];
	pthread_mutex_lock(&a->lock);
	if (v->used && memcmp(v->sum, sum, sizeof(sum)) == 0) {
		c->refused = exp.now > v->exp + exp.leeway   ? OCTO_JWT_EXPIRED
			     : exp.now + exp.leeway < v->nbf ? OCTO_JWT_NOT_YET
							     : OCTO_JWT_OK;
		if (c->refused == OCTO_JWT_OK) {
			strcpy(c->user, v->user);
			c->token = 1;
			c->access = json_incref(v->access);
		}
		pthread_mutex_unlock(&a->lock);
		return;
	}
	pthread_mutex_unlock(&a->lock);
	c->refused = octo_jwt_verify(a->keys, cred, cred_len, &exp, &claims);
	if (c->refused != OCTO_JWT_OK)
		return;
	sub = json_object_get(claims, "sub");
	if (sub != NULL && json_string_length(sub) > 0) {
		if (!json_is_string(sub) ||
		    !octo_auth_user_valid(json_string_value(sub), json_string_length(sub))) {
			c->refused = OCTO_JWT_MALFORMED;
			json_decref(claims);
			return;
		}
		strcpy(c->user, json_string_value(sub));
	}
	c->token = 1;
	c->access = json_incref(json_object_get(claims, "access"));
	remember(a, v, sum, claims, c);
	json_decref(claims);
}

static int in_list(char *const *list, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], s) == 0)
			return 1;
	return 0;
}

static int in_group(const struct octo_config *cfg, const char *group, const char *user)
{
	size_t i;

	for (i = 0; i < cfg->auth.n_groups; i++)
		if (strcmp(cfg->auth.groups[i].name, group) == 0)
			return in_list(cfg->auth.groups[i].users, cfg->auth.groups[i].n_users,
				       user);
	return 0;
}

static int is_admin(const struct octo_config *cfg, const char *user)
{
	return user != NULL && cfg->auth.admin_group[0] &&
	       in_group(cfg, cfg->auth.admin_group, user);
}

/* Whether rule r names user (NULL: anonymous). */
static int rule_names(const struct octo_config *cfg, const struct octo_auth_rule *r,
		      const char *user)
{
	size_t i;

	if (r->anonymous)
		return 1; /* what anyone may do, a user may do too */
	if (user == NULL)
		return 0;
	if (in_list(r->users, r->n_users, "*") || in_list(r->users, r->n_users, user))
		return 1;
	for (i = 0; i < r->n_groups; i++)
		if (in_group(cfg, r->groups[i], user))
			return 1;
	return 0;
}

/* What auth.rules let user (NULL: anonymous) do to repository. Without rules, a token decides
 * (an outside issuer's policy, or ours: everything to a user, nothing to anonymous), and so
 * does a user the front authenticated. *rule: the first rule that names the repository, or -1. */
static unsigned rules_allow(const struct octo_config *cfg, const char *user, int token,
			    const char *repository, long *rule)
{
	unsigned actions = 0;
	size_t i;

	*rule = -1;
	if (cfg->auth.n_rules == 0)
		return token || user != NULL ? ALL_ACTIONS : 0;
	if (is_admin(cfg, user))
		return ALL_ACTIONS;
	for (i = 0; i < cfg->auth.n_rules; i++) {
		const struct octo_auth_rule *r = &cfg->auth.rules[i];
		if (!octo_retention_match(r->repositories, repository))
			continue;
		if (*rule < 0)
			*rule = (long)i;
		if (rule_names(cfg, r, user))
			actions |= r->actions;
	}
	return actions;
}

/* "pull", "push", "delete", "*" in a token's actions (or a scope's, comma-separated). */
static unsigned action_word(const char *s, size_t len)
{
	static const struct {
		const char *word;
		unsigned bits;
	} words[] = {{"pull", OCTO_ACCESS_PULL},
		     {"push", OCTO_ACCESS_PUSH},
		     {"delete", OCTO_ACCESS_DELETE},
		     {"*", ALL_ACTIONS}};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (len == strlen(words[i].word) && memcmp(s, words[i].word, len) == 0)
			return words[i].bits;
	return 0;
}

/* What a token's access claim grants on type:name. */
static unsigned token_grants(json_t *access, const char *type, const char *name)
{
	unsigned bits = 0;
	json_t *e, *a;
	size_t i, j;

	json_array_foreach(access, i, e)
	{
		const char *t = json_string_value(json_object_get(e, "type"));
		const char *n = json_string_value(json_object_get(e, "name"));
		if (t == NULL || n == NULL || strcmp(t, type) != 0 || strcmp(n, name) != 0)
			continue;
		json_array_foreach(json_object_get(e, "actions"), j, a)
		{
			if (json_is_string(a))
				bits |= action_word(json_string_value(a), json_string_length(a));
		}
	}
	return bits;
}

static const char *user_or_null(const struct octo_caller *c)
{
	return c->user[0] ? c->user : NULL;
}

unsigned octo_auth_actions(const struct octo_auth *a, const struct octo_caller *c,
			   const char *repository)
{
	long rule;
	unsigned rules = rules_allow(a->cfg, user_or_null(c), c->token, repository, &rule);

	if (c->refused != OCTO_JWT_OK)
		return 0;
	return c->token ? rules & token_grants(c->access, "repository", repository) : rules;
}

int octo_auth_unlimited(const struct octo_auth *a, const struct octo_caller *c)
{
	if (c->refused != OCTO_JWT_OK)
		return 0;
	return (a->cfg->auth.n_rules == 0 && (c->token || c->user[0])) ||
	       is_admin(a->cfg, user_or_null(c));
}

/* Whether c may list the catalog (filtered by what they may pull). */
static int may_list(const struct octo_auth *a, const struct octo_caller *c)
{
	size_t i;

	if (c->refused != OCTO_JWT_OK)
		return 0;
	if (c->token)
		return (token_grants(c->access, "registry", "catalog") & ALL_ACTIONS) ==
		       ALL_ACTIONS;
	if (c->user[0])
		return 1;
	for (i = 0; i < a->cfg->auth.n_rules; i++)
		if (a->cfg->auth.rules[i].anonymous)
			return 1;
	return 0;
}

int octo_auth_rules_pull(const struct octo_auth *a, const struct octo_caller *c,
			 const char *repository)
{
	long rule;

	return (rules_allow(a->cfg, user_or_null(c), c->token, repository, &rule) &
		OCTO_ACCESS_PULL) != 0;
}

/* "pull,push" for bits. */
static void actions_text(unsigned bits, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s%s%s", bits & OCTO_ACCESS_PULL ? "pull" : "",
		 (bits & OCTO_ACCESS_PULL) && (bits & (OCTO_ACCESS_PUSH | OCTO_ACCESS_DELETE)) ? ","
											       : "",
		 bits & OCTO_ACCESS_PUSH ? "push" : "",
		 (bits & OCTO_ACCESS_PUSH) && (bits & OCTO_ACCESS_DELETE) ? "," : "",
		 bits & OCTO_ACCESS_DELETE ? "delete" : "");
}

/* A Host header fit to go into a URL we hand out: a host name or address and a port. */
static int host_ok(const char *h)
{
	size_t n = h != NULL ? strlen(h) : 0;

	return n > 0 && n <= 255 &&
	       strspn(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-:[]") ==
		       n;
}

/* The issuer's absolute URL: the configured URL, or our path under server.external_url, or
 * under the scheme and host the request came to. */
static void realm_url(const struct octo_auth *a, const struct octo_request *req,
		      const char *base_url, char *buf, size_t size)
{
	const char *realm = a->cfg->auth.token.realm;
	const char *host = octo_request_header(req, "Host");
	const char *fwd = octo_request_header(req, "X-Forwarded-Proto");
	int tls = (req->scheme != NULL && strcmp(req->scheme, "https") == 0) ||
		  (fwd != NULL && strcasecmp(fwd, "https") == 0);

	if (realm[0] != '/')
		snprintf(buf, size, "%s", realm);
	else if (base_url[0])
		snprintf(buf, size, "%s%s", base_url, realm);
	else if (host_ok(host))
		snprintf(buf, size, "%s://%s%s", tls ? "https" : "http", host, realm);
	else
		snprintf(buf, size, "%s://%s:%d%s", tls ? "https" : "http", a->cfg->server.address,
			 a->cfg->server.port, realm);
}

/* 401 with the challenge that tells the client where to get a token for scope (NULL: none),
 * and why the one it sent was not enough (error: NULL, "invalid_token", "insufficient_scope"). */
static void challenge(const struct octo_auth *a, const struct octo_request *req,
		      const char *base_url, const char *scope, const char *error,
		      const char *detail, struct octo_response *resp)
{
	char realm[1024];

	octo_response_error(resp, OCTO_ERR_UNAUTHORIZED, detail);
	if (a->cfg->auth.trust_front) {
		octo_response_add_header(resp, "WWW-Authenticate", "Basic realm=\"%s\"",
					 a->cfg->auth.token.service);
		return;
	}
	realm_url(a, req, base_url, realm, sizeof(realm));
	octo_response_add_header(
		resp, "WWW-Authenticate", "Bearer realm=\"%s\",service=\"%s\"%s%s%s%s%s%s", realm,
		a->cfg->auth.token.service, scope ? ",scope=\"" : "", scope ? scope : "",
		scope ? "\"" : "", error ? ",error=\"" : "", error ? error : "", error ? "\"" : "");
}

static void log_denied(const struct octo_auth *a, const struct octo_request *req,
		       const struct octo_caller *c, const char *scope, long rule, const char *why)
{
	char rule_text[32] = "none";
	struct octo_log_field f[] = {
		OCTO_LOG_STR("user", c->user),
		OCTO_LOG_STR("scope", scope),
		OCTO_LOG_STR("rule", rule_text),
		OCTO_LOG_STR("reason", why),
		OCTO_LOG_STR("remote_addr", req->remote_addr != NULL ? req->remote_addr : ""),
	};

	if (rule >= 0)
		snprintf(rule_text, sizeof(rule_text), "auth.rules[%ld]", rule);
	octo_log(a->log, OCTO_LOG_WARN, "access denied", f, sizeof(f) / sizeof(f[0]));
}

int octo_auth_allow(struct octo_auth *a, const struct octo_request *req, const char *base_url,
		    const struct octo_caller *c, const struct octo_need *need,
		    struct octo_response *resp)
{
	const char *bad_token = c->refused != OCTO_JWT_OK ? "invalid_token" : NULL;
	const char *user = user_or_null(c);
	char scope[OCTO_NAME_MAX + 64], acts[32];
	unsigned rules;
	long rule = -1;

	switch (need->kind) {
	case OCTO_NEED_NONE:
		return 1;
	case OCTO_NEED_LOGIN:
		if (c->token || user != NULL)
			return 1;
		challenge(a, req, base_url, NULL, bad_token,
			  bad_token ? octo_jwt_fail_text(c->refused) : NULL, resp);
		return 0;
	case OCTO_NEED_CATALOG:
		if (may_list(a, c))
			return 1;
		if (c->token) {
			log_denied(a, req, c, "registry:catalog:*", -1, "token lacks the scope");
			challenge(a, req, base_url, "registry:catalog:*", "insufficient_scope",
				  NULL, resp);
		} else {
			challenge(a, req, base_url, "registry:catalog:*", bad_token,
				  bad_token ? octo_jwt_fail_text(c->refused) : NULL, resp);
		}
		return 0;
	case OCTO_NEED_REPOSITORY:
		break;
	}
	if ((octo_auth_actions(a, c, need->repository) & need->actions) == need->actions)
		return 1;
	actions_text(need->actions, acts, sizeof(acts));
	snprintf(scope, sizeof(scope), "repository:%s:%s", need->repository, acts);
	rules = rules_allow(a->cfg, user, c->token, need->repository, &rule);
	if (bad_token != NULL) {
		challenge(a, req, base_url, scope, bad_token, octo_jwt_fail_text(c->refused), resp);
	} else if (user == NULL) {
		challenge(a, req, base_url, scope, NULL, scope, resp); /* may log in */
	} else if (c->token && (rules & need->actions) == need->actions) {
		challenge(a, req, base_url, scope, "insufficient_scope", scope, resp);
	} else {
		log_denied(a, req, c, scope, rule, "no rule grants it");
		octo_response_error(resp, OCTO_ERR_DENIED, scope);
	}
	return 0;
}

int octo_auth_parse_scope(const char *s, size_t len, struct octo_scope *out)
{
	const char *c1 = memchr(s, ':', len), *c2 = NULL, *p;
	size_t nlen;

	for (p = s + len; p > s && c2 == NULL; p--)
		if (p[-1] == ':')
			c2 = p - 1;
	if (c1 == NULL || c2 == NULL || c2 == c1 || c1 == s || memchr(s, '\0', len) != NULL)
		return -1;
	nlen = (size_t)(c2 - c1 - 1);
	if ((size_t)(c1 - s) >= sizeof(out->type) || nlen == 0 || nlen > OCTO_NAME_MAX)
		return -1;
	memcpy(out->type, s, (size_t)(c1 - s));
	out->type[c1 - s] = '\0';
	memcpy(out->name, c1 + 1, nlen);
	out->name[nlen] = '\0';
	out->actions = 0;
	for (p = c2 + 1; p < s + len;) {
		const char *comma = memchr(p, ',', (size_t)(s + len - p));
		const char *end = comma != NULL ? comma : s + len;
		out->actions |= action_word(p, (size_t)(end - p));
		p = end + 1;
	}
	return 0;
}

/* One scope granted to user (NULL: anonymous) as an access entry, or NULL when nothing of it is
 * granted or it is not a scope; "repository(plugin)" and other types get nothing. */
static json_t *grant(const struct octo_auth *a, const char *user, const char *s, size_t len)
{
	struct octo_scope sc;
	unsigned given;
	json_t *actions;
	long rule;

	if (octo_auth_parse_scope(s, len, &sc) != 0)
		return NULL;
	if (strcmp(sc.type, "registry") == 0 && strcmp(sc.name, "catalog") == 0) {
		struct octo_caller who = {0};
		if (user != NULL)
			snprintf(who.user, sizeof(who.user), "%s", user);
		return sc.actions == ALL_ACTIONS && may_list(a, &who)
			       ? json_pack("{s:s, s:s, s:[s]}", "type", "registry", "name",
					   "catalog", "actions", "*")
			       : NULL;
	}
	if (strcmp(sc.type, "repository") != 0 || !octo_name_valid(sc.name, strlen(sc.name)))
		return NULL;
	given = sc.actions & rules_allow(a->cfg, user, 0, sc.name, &rule);
	if (given == 0)
		return NULL;
	actions = json_array();
	if (given & OCTO_ACCESS_PULL)
		json_array_append_new(actions, json_string("pull"));
	if (given & OCTO_ACCESS_PUSH)
		json_array_append_new(actions, json_string("push"));
	if (given & OCTO_ACCESS_DELETE)
		json_array_append_new(actions, json_string("delete"));
	return json_pack("{s:s, s:s, s:o}", "type", "repository", "name", sc.name, "actions",
			 actions);
}

/* The access claim for every scope asked (each request parameter may hold several, split by
 * spaces, as OAuth2 writes them). */
static json_t *access_claim(const struct octo_auth *a, const struct octo_token_request *tr)
{
	json_t *access = json_array();
	size_t i;

	for (i = 0; access != NULL && i < tr->n_scopes; i++) {
		const char *p = tr->scopes[i];
		while (*p) {
			size_t n = strcspn(p, " ");
			json_t *e = n > 0 ? grant(a, tr->user, p, n) : NULL;
			if (e != NULL && json_array_size(access) < 4 * OCTO_AUTH_MAX_SCOPES)
				json_array_append_new(access, e);
			else
				json_decref(e);
			p += n;
			while (*p == ' ')
				p++;
		}
	}
	return access;
}

static void log_login(const struct octo_auth *a, enum octo_log_level level, const char *msg,
		      const struct octo_token_request *tr, const char *why)
{
	struct octo_log_field f[] = {
		OCTO_LOG_STR("user", tr->user != NULL ? tr->user : ""),
		OCTO_LOG_STR("remote_addr", tr->remote_addr != NULL ? tr->remote_addr : ""),
		OCTO_LOG_STR("reason", why != NULL ? why : ""),
	};

	octo_log(a->log, level, msg, f, sizeof(f) / sizeof(f[0]));
}

/* Whether tr's user may try a password now: 0, or the answer (429) is in resp. */
static int throttled(struct octo_auth *a, const struct octo_token_request *tr, int64_t now,
		     char keys[2][OCTO_HTPASSWD_USER_MAX + 64], struct octo_response *resp)
{
	int64_t wait, w;
	const struct octo_config *cfg = a->cfg;

	snprintf(keys[0], sizeof(keys[0]), "user:%s", tr->user);
	snprintf(keys[1], sizeof(keys[1]), "addr:%s", tr->remote_addr ? tr->remote_addr : "");
	wait = octo_throttle_wait(a->throttle, keys[0], cfg->auth.failures.limit,
				  cfg->auth.failures.window_ms, now);
	w = octo_throttle_wait(a->throttle, keys[1], cfg->auth.failures.limit,
			       cfg->auth.failures.window_ms, now);
	if (w > wait)
		wait = w;
	if (wait <= 0)
		return 0;
	log_login(a, OCTO_LOG_WARN, "login throttled", tr, "too many failed logins");
	octo_response_error(resp, OCTO_ERR_LOGIN_THROTTLED, "try again after Retry-After seconds");
	octo_response_add_header(resp, "Retry-After", "%lld", (long long)((wait + 999) / 1000));
	return 1;
}

void octo_auth_issue(struct octo_auth *a, const struct octo_token_request *tr,
		     struct octo_response *resp)
{
	const struct octo_config *cfg = a->cfg;
	int64_t now_ms = octo_clock_wall_ms(), now = now_ms / 1000;
	int64_t life = cfg->auth.token.expiration_ms / 1000;
	char keys[2][OCTO_HTPASSWD_USER_MAX + 64], why[256] = "", jti[33], issued[32];
	unsigned char rnd[16];
	json_t *claims = NULL, *answer = NULL;
	char *token = NULL;
	time_t t = (time_t)now;
	struct tm tm;
	size_t i;

	if (tr->user != NULL) {
		if (throttled(a, tr, now_ms, keys, resp))
			return;
		if (!octo_users_verify(a->users, tr->user, tr->password, why, sizeof(why))) {
			octo_throttle_fail(a->throttle, keys[0], cfg->auth.failures.window_ms,
					   now_ms);
			octo_throttle_fail(a->throttle, keys[1], cfg->auth.failures.window_ms,
					   now_ms);
			log_login(a, OCTO_LOG_WARN, "login failed", tr,
				  why[0] ? why : "unknown user or wrong password");
			octo_response_error(resp, OCTO_ERR_UNAUTHORIZED,
					    "unknown user or wrong password");
			octo_response_add_header(resp, "WWW-Authenticate", "Basic realm=\"%s\"",
						 cfg->auth.token.service);
			return;
		}
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return octo_response_error(resp, OCTO_ERR_NOMEM, NULL);
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(jti + 2 * i, 3, "%02x", rnd[i]);
	gmtime_r(&t, &tm);
	strftime(issued, sizeof(issued), "%Y-%m-%dT%H:%M:%SZ", &tm);
	claims =
		json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:o}", "iss", cfg->auth.token.issuer,
			  "sub", tr->user != NULL ? tr->user : "", "aud", cfg->auth.token.service,
			  "exp", (json_int_t)(now + life), "nbf", (json_int_t)now, "iat",
			  (json_int_t)now, "jti", jti, "access", access_claim(a, tr));
	if (claims != NULL)
		token = octo_jwt_sign(&a->signer, claims);
	if (token != NULL)
		answer = json_pack("{s:s, s:s, s:I, s:s}", "token", token, "access_token", token,
				   "expires_in", (json_int_t)life, "issued_at", issued);
	free(token);
	json_decref(claims);
	if (answer == NULL || (resp->body = json_dumps(answer, JSON_COMPACT)) == NULL) {
		json_decref(answer);
		return octo_response_error(resp, OCTO_ERR_NOMEM, NULL);
	}
	json_decref(answer);
	resp->status = 200;
	resp->body_len = strlen(resp->body);
	octo_response_add_header(resp, "Content-Type", "application/json");
	octo_response_add_header(resp, "Cache-Control", "no-store");
	log_login(a, OCTO_LOG_DEBUG, "token issued", tr, NULL);
}
