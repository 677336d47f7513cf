/* SPDX-License-Identifier: Apache-2.0 */
/* The built-in token issuer at auth.token.realm (Docker registry token specification,
 * doc/reference auth-token.md): GET with optional Basic credentials and ?service=&scope=..., as
 * docker, podman, skopeo and buildah ask; and the OAuth2 form POST (grant_type=password) that
 * containerd tries first. The decision is octo_auth_issue's; this reads the request. Passwords
 * are wiped once checked and never logged. */
#include "autoconfig.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "auth.h"

/* A form body is small: credentials and a few scopes. */
#define TOKEN_FORM_MAX 8192
#define PASSWORD_MAX 512

/* The scopes and the service among q's parameters into tr; -1 (answered) for another service. */
static int read_params(struct octo_registry *reg, const struct octo_query *q,
		       struct octo_token_request *tr, struct octo_response *resp)
{
	const char *service = octo_query_get(q, "service");
	size_t i;

	if (service != NULL && strcmp(service, reg->cfg->auth.token.service) != 0) {
		octo_response_error(resp, OCTO_ERR_BAD_REQUEST,
				    "this issuer serves another service (auth.token.service)");
		return -1;
	}
	for (i = 0; i < q->n && tr->n_scopes < OCTO_AUTH_MAX_SCOPES; i++)
		if (strcmp(q->params[i].key, "scope") == 0)
			tr->scopes[tr->n_scopes++] = q->params[i].value;
	return 0;
}

/* The form body of a POST, '+' read as a space as forms write it; -1 when answered. */
static int read_form(const struct octo_route *rt, struct octo_query *form,
		     struct octo_response *resp)
{
	char *body = NULL, *p;
	size_t len;
	enum octo_err err = octo_request_read_body(rt->req, TOKEN_FORM_MAX, &body, &len);
	int bad;

	if (err != OCTO_OK) {
		octo_response_error(resp, err, "the form");
		return -1;
	}
	for (p = body; *p; p++)
		if (*p == '+')
			*p = ' ';
	bad = octo_query_parse(body, form);
	OPENSSL_cleanse(body, len);
	free(body);
	if (bad != 0) {
		octo_response_error(resp, OCTO_ERR_BAD_REQUEST, "malformed form");
		return -1;
	}
	return 0;
}

static void cleanse_query(struct octo_query *q)
{
	size_t i;

	for (i = 0; i < q->n; i++)
		OPENSSL_cleanse(q->params[i].value, strlen(q->params[i].value));
	octo_query_cleanup(q);
}

void octo_api_token(struct octo_registry *reg, struct octo_route *rt, struct octo_response *resp)
{
	struct octo_token_request tr = {.remote_addr = rt->req->remote_addr};
	const char *h = octo_request_header(rt->req, "Authorization");
	const char *scheme, *cred;
	char user[OCTO_HTPASSWD_USER_MAX + 1], password[PASSWORD_MAX];
	struct octo_query form = {0};
	size_t scheme_len, cred_len;

	if (h != NULL && octo_auth_split(h, &scheme, &scheme_len, &cred, &cred_len) == 0 &&
	    scheme_len == 5 && strncasecmp(scheme, "Basic", 5) == 0) {
		if (octo_auth_basic(cred, cred_len, user, password, sizeof(password)) != 0)
			return octo_response_error(resp, OCTO_ERR_UNAUTHORIZED,
						   "malformed Basic credentials");
		tr.user = user;
		tr.password = password;
	}
	if (strcmp(rt->method, "POST") == 0) {
		const char *grant, *u, *pw;
		if (read_form(rt, &form, resp) != 0)
			goto out;
		grant = octo_query_get(&form, "grant_type");
		u = octo_query_get(&form, "username");
		pw = octo_query_get(&form, "password");
		if (grant == NULL || strcmp(grant, "password") != 0 || u == NULL || pw == NULL ||
		    !octo_auth_user_valid(u, strlen(u)) || strlen(pw) >= sizeof(password)) {
			octo_response_error(resp, OCTO_ERR_BAD_REQUEST,
					    "only grant_type=password with username and password: "
					    "no refresh tokens are issued here");
			goto out;
		}
		strcpy(user, u);
		strcpy(password, pw);
		tr.user = user;
		tr.password = password;
		if (read_params(reg, &form, &tr, resp) != 0)
			goto out;
	} else if (read_params(reg, &rt->query, &tr, resp) != 0) {
		goto out;
	}
	if (tr.user != NULL)
		snprintf(resp->user, sizeof(resp->user), "%s", tr.user);
	octo_auth_issue(reg->auth, &tr, resp);
out:
	OPENSSL_cleanse(password, sizeof(password));
	cleanse_query(&form);
}
