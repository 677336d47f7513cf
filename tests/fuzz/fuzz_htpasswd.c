/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the htpasswd parser (octo_htpasswd_parse): arbitrary bytes as the file.
 * What it accepts holds only well-formed users; a refusal always says why. Crashes and
 * sanitizer reports are failures. (No password is checked: a bcrypt check costs milliseconds.) */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "htpasswd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct octo_htpasswd *h;
	char why[256] = "";
	enum octo_err err = octo_htpasswd_parse((const char *)data, size, &h, why, sizeof(why));

	if (err == OCTO_OK) {
		if (octo_htpasswd_count(h) > OCTO_HTPASSWD_MAX_USERS)
			abort();
		octo_htpasswd_free(h);
	} else if (err == OCTO_ERR_CONFIG && why[0] == '\0') {
		abort();
	}
	return 0;
}
