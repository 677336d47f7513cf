/* SPDX-License-Identifier: Apache-2.0 */
/* Digest parsing and resumable hashing. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "digest.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void test_parse_table(void **state)
{
	static const struct {
		const char *in;
		enum octo_err want;
		enum octo_digest_alg alg;
	} cases[] = {
		{"sha256:" H64, OCTO_OK, OCTO_DIGEST_SHA256},
		{"sha512:" H64 H64, OCTO_OK, OCTO_DIGEST_SHA512},
		{"sha256:" H64 "0", OCTO_ERR_DIGEST_INVALID, 0},
		{"sha256:"
		 "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		 OCTO_ERR_DIGEST_INVALID, 0},
		{"sha512:" H64, OCTO_ERR_DIGEST_INVALID, 0},
		{"sha384:" H64, OCTO_ERR_DIGEST_INVALID, 0},
		{"md5:0123456789abcdef0123456789abcdef", OCTO_ERR_DIGEST_INVALID, 0},
		{"sha256-" H64, OCTO_ERR_DIGEST_INVALID, 0},
		{"sha256:../../../../../../etc/passwd", OCTO_ERR_DIGEST_INVALID, 0},
		{"", OCTO_ERR_DIGEST_INVALID, 0},
		{"sha256:", OCTO_ERR_DIGEST_INVALID, 0},
		{H64, OCTO_ERR_DIGEST_INVALID, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct octo_digest d;
		char out[OCTO_DIGEST_MAX_STRING];
		enum octo_err err = octo_digest_parse(cases[i].in, strlen(cases[i].in), &d);

		assert_int_equal(err, cases[i].want);
		if (err == OCTO_OK) {
			assert_int_equal(d.alg, cases[i].alg);
			octo_digest_format(&d, out, sizeof(out));
			assert_string_equal(out, cases[i].in);
		}
	}
}

static void test_parse_not_nul_terminated(void **state)
{
	char buf[80];
	struct octo_digest d;

	(void)state;
	memcpy(buf, "sha256:" H64 "XYZ", 74);
	assert_int_equal(octo_digest_parse(buf, 71, &d), OCTO_OK);
	assert_int_equal(octo_digest_parse(buf, 72, &d), OCTO_ERR_DIGEST_INVALID);
}

static void test_known_vectors(void **state)
{
	struct octo_digest d;

	(void)state;
	octo_digest_of(OCTO_DIGEST_SHA256, "abc", 3, &d);
	assert_string_equal(d.hex,
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	octo_digest_of(OCTO_DIGEST_SHA512, "abc", 3, &d);
	assert_string_equal(d.hex, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55"
				   "d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94f"
				   "a54ca49f");
}

/* A hash saved mid-stream and loaded elsewhere finishes like one pass would. */
static void test_save_load_resumes(void **state)
{
	static const char text[] = "The quick brown fox jumps over the lazy dog";
	enum octo_digest_alg algs[] = {OCTO_DIGEST_SHA256, OCTO_DIGEST_SHA512};
	size_t a, split;

	(void)state;
	for (a = 0; a < 2; a++) {
		struct octo_digest want;
		octo_digest_of(algs[a], text, sizeof(text) - 1, &want);
		for (split = 0; split < sizeof(text); split += 7) {
			struct octo_hasher *h = octo_hasher_new(algs[a]), *h2;
			unsigned char bytes[OCTO_HASHER_STATE_MAX];
			struct octo_digest got;
			size_t n;

			octo_hasher_update(h, text, split);
			n = octo_hasher_save(h, bytes);
			octo_hasher_free(h);
			h2 = octo_hasher_load(bytes, n);
			assert_non_null(h2);
			assert_int_equal(octo_hasher_alg(h2), algs[a]);
			octo_hasher_update(h2, text + split, sizeof(text) - 1 - split);
			octo_hasher_final(h2, &got);
			assert_true(octo_digest_equal(&got, &want));
			octo_hasher_free(h2);
		}
	}
}

static void test_load_rejects_foreign_bytes(void **state)
{
	unsigned char junk[OCTO_HASHER_STATE_MAX] = {0};

	(void)state;
	assert_null(octo_hasher_load(junk, sizeof(junk)));
	assert_null(octo_hasher_load(junk, 0));
	assert_null(octo_hasher_load(junk, 1));
}

/* Damaged saved states, one field at a time: each is refused, so SHA*_Update never runs
 * on a block position outside its buffer (num = 100000 made it write wild). */
static void test_load_rejects_damaged_state(void **state)
{
	enum octo_digest_alg algs[] = {OCTO_DIGEST_SHA256, OCTO_DIGEST_SHA512};
	size_t a;

	(void)state;
	for (a = 0; a < 2; a++) {
		unsigned char good[OCTO_HASHER_STATE_MAX], bad[OCTO_HASHER_STATE_MAX];
		struct octo_hasher *h = octo_hasher_new(algs[a]), *h2;
		size_t n, num_at, len_at;

		octo_hasher_update(h, "0123456789", 10);
		n = octo_hasher_save(h, good);
		octo_hasher_free(h);
		assert_int_equal(n, algs[a] == OCTO_DIGEST_SHA512 ? 214 : 110);
		h2 = octo_hasher_load(good, n);
		assert_non_null(h2);
		assert_int_equal(octo_hasher_length(h2), 10);
		octo_hasher_free(h2);
		num_at = n - 4;
		len_at = algs[a] == OCTO_DIGEST_SHA512 ? 2 + 64 : 2 + 32;

		memcpy(bad, good, n); /* num = 100000 */
		bad[num_at] = 0xa0, bad[num_at + 1] = 0x86, bad[num_at + 2] = 0x01;
		assert_null(octo_hasher_load(bad, n));
		memcpy(bad, good, n); /* num inside the block, but not where the length says */
		bad[num_at] = 11;
		assert_null(octo_hasher_load(bad, n));
		memcpy(bad, good, n); /* a length that is not whole bytes */
		bad[len_at] |= 1;
		assert_null(octo_hasher_load(bad, n));
		memcpy(bad, good, n); /* another version */
		bad[0] = 2;
		assert_null(octo_hasher_load(bad, n));
		memcpy(bad, good, n); /* an unknown algorithm */
		bad[1] = 7;
		assert_null(octo_hasher_load(bad, n));
		assert_null(octo_hasher_load(good, n - 1)); /* cut short */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_not_nul_terminated),
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_save_load_resumes),
		cmocka_unit_test(test_load_rejects_foreign_bytes),
		cmocka_unit_test(test_load_rejects_damaged_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
