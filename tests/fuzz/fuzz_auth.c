/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for what a client sends the token issuer and the registry besides a token
 * (auth.h): arbitrary bytes as an Authorization header (split, then as Basic credentials) and
 * as a scope. What is accepted must be within its bounds: a user name without ':' or spaces, a
 * password that fits, a scope's type and name NUL-terminated. Crashes and sanitizer reports
 * are failures. */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), user[OCTO_HTPASSWD_USER_MAX + 1], password[512];
	const char *scheme, *cred;
	size_t scheme_len, cred_len;
	struct octo_scope sc;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (octo_auth_split(text, &scheme, &scheme_len, &cred, &cred_len) == 0 &&
	    octo_auth_basic(cred, cred_len, user, password, sizeof(password)) == 0 &&
	    (user[0] == '\0' || strpbrk(user, ": \t") != NULL ||
	     strlen(password) >= sizeof(password)))
		abort();
	if (octo_auth_parse_scope((const char *)data, size, &sc) == 0 &&
	    (strlen(sc.name) == 0 || strlen(sc.name) > OCTO_NAME_MAX ||
	     strlen(sc.type) >= sizeof(sc.type) ||
	     sc.actions > (OCTO_ACCESS_PULL | OCTO_ACCESS_PUSH | OCTO_ACCESS_DELETE)))
		abort();
	free(text);
	return 0;
}
