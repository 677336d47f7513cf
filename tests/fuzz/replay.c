/* SPDX-License-Identifier: Apache-2.0 */
/* Driver for fuzz targets without libFuzzer (make check): replays every file given on the
 * command line, then feeds deterministic mutations of them (byte flips, truncations,
 * insertions) for a fixed number of rounds, so the corpus keeps being exercised on every
 * build. `make fuzz` builds the same targets with libFuzzer for open-ended fuzzing. */
#include "autoconfig.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (1 << 20)

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void mutate(uint8_t *buf, size_t *len)
{
	static const char tokens[][8] = {"%",  "%2F", "/",  "?",      "&",       "=",   ":",   "-",
					 "\n", "\0",  "..", "bytes=", "sha256:", "%00", "9999"};
	size_t pos = *len ? next() % *len : 0;

	switch (next() % 4) {
	case 0: /* flip a byte */
		if (*len)
			buf[pos] = (uint8_t)next();
		break;
	case 1: /* truncate */
		*len = pos;
		break;
	case 2: { /* insert a token */
		const char *t = tokens[next() % (sizeof(tokens) / sizeof(tokens[0]))];
		size_t tl = strlen(t) ? strlen(t) : 1;
		if (*len + tl < MAX_INPUT) {
			memmove(buf + pos + tl, buf + pos, *len - pos);
			memcpy(buf + pos, t, tl);
			*len += tl;
		}
		break;
	}
	default: /* duplicate a span */
		if (*len && *len * 2 < MAX_INPUT) {
			size_t span = next() % (*len - pos + 1);
			memmove(buf + pos + span, buf + pos, *len - pos);
			*len += span;
		}
	}
}

int main(int argc, char **argv)
{
	int rounds = getenv("FUZZ_ROUNDS") ? atoi(getenv("FUZZ_ROUNDS")) : 2000;
	uint8_t *buf = malloc(MAX_INPUT), *orig = malloc(MAX_INPUT);
	int i, r;

	for (i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		size_t len;

		if (f == NULL) {
			perror(argv[i]);
			return 1;
		}
		len = fread(orig, 1, MAX_INPUT / 4, f);
		fclose(f);
		memcpy(buf, orig, len);
		LLVMFuzzerTestOneInput(buf, len);
		for (r = 0; r < rounds / argc + 1; r++) {
			size_t l = len;
			int m, muts = 1 + (int)(next() % 4);
			memcpy(buf, orig, len);
			for (m = 0; m < muts; m++)
				mutate(buf, &l);
			LLVMFuzzerTestOneInput(buf, l);
		}
	}
	printf("replayed %d inputs with mutations\n", argc - 1);
	free(buf);
	free(orig);
	return 0;
}
