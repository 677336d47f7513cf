/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target for the configuration parser: arbitrary bytes as the JSON file, no
 * environment. Any result is fine; crashes, leaks and sanitizer reports are not. */
#include "autoconfig.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *no_env(const char *name)
{
	(void)name;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct octo_config cfg;
	char err[256];
	char *v;

	if (octo_config_load_text(&cfg, (const char *)data, size, no_env, err, sizeof(err)) !=
	    OCTO_OK)
		return 0;
	/* Exercise the formatter on what was accepted. */
	v = octo_config_get(&cfg, "p2p.bootstrap_peers");
	free(v);
	v = octo_config_get(&cfg, "server.read_timeout");
	free(v);
	octo_config_cleanup(&cfg);
	return 0;
}
