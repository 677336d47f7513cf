/* SPDX-License-Identifier: Apache-2.0 */
/* GET metrics.endpoint: the store's shared counters as Prometheus text (and, in a cluster,
 * the peer daemon's state), behind HTTP basic authentication when metrics.basic_auth is set. */
#include "autoconfig.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"

/* Whether the request carries "Authorization: Basic base64(username:password)". */
static int authorized(const struct octo_config *cfg, const struct octo_request *req)
{
	const char *h = octo_request_header(req, "Authorization");
	size_t hlen, ulen, plen, want;
	unsigned char *got;
	int n, ok;

	if (cfg->metrics.username == NULL)
		return 1;
	if (h == NULL || strncasecmp(h, "Basic ", 6) != 0)
		return 0;
	h += 6;
	hlen = strlen(h);
	if (hlen == 0 || hlen % 4 != 0 || hlen > 4096)
		return 0;
	got = malloc(hlen / 4 * 3 + 1);
	if (got == NULL)
		return 0;
	n = EVP_DecodeBlock(got, (const unsigned char *)h, (int)hlen);
	/* EVP_DecodeBlock counts the padding's zero bytes: take them off */
	while (n > 0 && hlen > 0 && h[hlen - 1] == '=') {
		n--;
		hlen--;
	}
	ulen = strlen(cfg->metrics.username);
	plen = strlen(cfg->metrics.password);
	want = ulen + 1 + plen;
	ok = n >= 0 && (size_t)n == want && memcmp(got, cfg->metrics.username, ulen) == 0 &&
	     got[ulen] == ':' && CRYPTO_memcmp(got + ulen + 1, cfg->metrics.password, plen) == 0;
	free(got);
	return ok;
}

void octo_api_metrics(struct octo_registry *reg, struct octo_route *rt, struct octo_response *resp)
{
	if (!authorized(reg->cfg, rt->req)) {
		octo_response_error(resp, OCTO_ERR_UNAUTHORIZED, "metrics");
		octo_response_add_header(resp, "WWW-Authenticate",
					 "Basic realm=\"octoserve metrics\"");
		return;
	}
	resp->body = octo_metrics_text(reg->metrics, &resp->body_len);
	if (resp->body != NULL && reg->cfg->p2p.enabled) /* the peer daemon's, through the store */
		resp->body = octo_metrics_peer_text(reg->store, resp->body, &resp->body_len);
	if (resp->body != NULL) /* octoserve-admin's notifier's, through the store */
		resp->body = octo_metrics_notify_text(reg->store, resp->body, &resp->body_len);
	if (resp->body == NULL)
		return octo_response_error(resp, OCTO_ERR_NOMEM, NULL);
	octo_response_add_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	octo_response_add_header(resp, "Cache-Control", "no-store");
}
