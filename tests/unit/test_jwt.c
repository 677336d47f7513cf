/* SPDX-License-Identifier: Apache-2.0 */
/* JSON Web Tokens (jwt.h): strict base64url, the libtrust key id of a known key (computed
 * independently by tests/http/tokens.py), tokens signed and verified in each algorithm, each
 * reason a token is refused, and JWKS documents that do not read, naming the key. */
#include "autoconfig.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/pem.h>

#include "jwt.h"
#include "testutil.h"

/* A fixed P-256 key of the tests (not a secret: it signs nothing but test tokens). */
static const char ec_pem[] = "-----BEGIN PRIVATE KEY-----\n"
			     "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgrIkl9GqWcI5IF4rR\n"
			     "+vb47elFVh4Ef7NQQBKDv1AcigChRANCAASfw2WJ+8sSHv48BE2eBzRTM9xh6Ycz\n"
			     "G36uqWl3g0vgAdpVnO3bBF+XlvHW7kBKQd+lDZ3DWhhaJHkAlMsKVSXv\n"
			     "-----END PRIVATE KEY-----\n";
#define EC_KID "QA5S:JSE3:P6JA:4HUH:AR3S:7HGX:FGLW:QSPP:3F2W:J6AK:7ECW:TGHG"

static void test_b64url(void **state)
{
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const coded[] = {"",       "Zg",      "Zm8",     "Zm9v",
					    "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
	static const char *const bad[] = {"Zg=", "Zh", "Z", "Zm9v+", "Zm9v/", "Zm 9", "Zm9vY"};
	unsigned char buf[64];
	char out[64];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		assert_int_equal(
			octo_b64url_encode((const unsigned char *)plain[i], strlen(plain[i]), out),
			strlen(coded[i]));
		assert_string_equal(out, coded[i]);
		assert_int_equal(octo_b64url_decode(coded[i], strlen(coded[i]), buf, &n), 0);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(buf, plain[i], n);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(octo_b64url_decode(bad[i], strlen(bad[i]), buf, &n), -1);
	assert_int_equal(octo_b64url_encode((const unsigned char *)"\xfb\xff", 2, out), 3);
	assert_string_equal(out, "-_8");
}

static char *write_pem(const char *dir, const char *name, const char *pem)
{
	char *path = malloc(strlen(dir) + strlen(name) + 2);

	sprintf(path, "%s/%s", dir, name);
	tu_write_file(path, pem, strlen(pem));
	return path;
}

static void test_kid(void **state)
{
	char *dir = tu_tempdir(), *path = write_pem(dir, "ec.pem", ec_pem), why[256];
	char kid[OCTO_JWT_KID_MAX + 1];
	struct octo_jwt_signer s;

	(void)state;
	assert_int_equal(octo_jwt_signer_load(&s, path, why, sizeof(why)), OCTO_OK);
	assert_string_equal(s.alg, "ES256");
	assert_string_equal(s.kid, EC_KID);
	assert_int_equal(octo_jwt_kid(s.key, kid), 0);
	assert_string_equal(kid, EC_KID);
	octo_jwt_signer_cleanup(&s);
	free(path);
	tu_rmtree(dir);
	free(dir);
}

struct fixture {
	char *dir;
	struct octo_jwt_signer signer;
	struct octo_jwt_keys *keys;
};

static void fixture_open(struct fixture *f, const char *pem)
{
	char *path, why[256];

	f->dir = tu_tempdir();
	path = write_pem(f->dir, "key.pem", pem);
	assert_int_equal(octo_jwt_signer_load(&f->signer, path, why, sizeof(why)), OCTO_OK);
	free(path);
	f->keys = octo_jwt_keys_new();
	assert_int_equal(octo_jwt_keys_add(f->keys, f->signer.key, NULL, why, sizeof(why)),
			 OCTO_OK);
}

static void fixture_close(struct fixture *f)
{
	octo_jwt_keys_free(f->keys);
	octo_jwt_signer_cleanup(&f->signer);
	tu_rmtree(f->dir);
	free(f->dir);
}

static const struct octo_jwt_expect expect = {"iss", "aud", 1000000, 60};

static char *mint(const struct fixture *f, const char *iss, const char *aud, json_int_t exp,
		  json_int_t nbf)
{
	json_t *c = json_pack("{s:s, s:s, s:s, s:I, s:I, s:[]}", "iss", iss, "sub", "alice", "aud",
			      aud, "exp", exp, "nbf", nbf, "access");
	char *t = octo_jwt_sign(&f->signer, c);

	json_decref(c);
	assert_non_null(t);
	return t;
}

static enum octo_jwt_fail check(const struct fixture *f, const char *token)
{
	json_t *claims;
	enum octo_jwt_fail r = octo_jwt_verify(f->keys, token, strlen(token), &expect, &claims);

	if (r == OCTO_JWT_OK) {
		assert_string_equal(json_string_value(json_object_get(claims, "sub")), "alice");
		json_decref(claims);
	} else {
		assert_null(claims);
	}
	return r;
}

static void sign_and_verify(const char *pem, const char *alg)
{
	struct fixture f, other;
	char *t, *p;

	fixture_open(&f, pem);
	assert_string_equal(f.signer.alg, alg);
	t = mint(&f, "iss", "aud", 1000100, 999900);
	assert_int_equal(check(&f, t), OCTO_JWT_OK);
	p = strrchr(t, '.') + 5;
	*p = *p == 'A' ? 'B' : 'A';
	assert_int_equal(check(&f, t), OCTO_JWT_SIGNATURE);
	free(t);
	t = mint(&f, "iss", "aud", 1000000 - 61, 0);
	assert_int_equal(check(&f, t), OCTO_JWT_EXPIRED);
	free(t);
	t = mint(&f, "iss", "aud", 1000000 - 59, 0); /* within the leeway */
	assert_int_equal(check(&f, t), OCTO_JWT_OK);
	free(t);
	t = mint(&f, "iss", "aud", 1000100, 1000061);
	assert_int_equal(check(&f, t), OCTO_JWT_NOT_YET);
	free(t);
	t = mint(&f, "evil", "aud", 1000100, 0);
	assert_int_equal(check(&f, t), OCTO_JWT_ISSUER);
	free(t);
	t = mint(&f, "iss", "other", 1000100, 0);
	assert_int_equal(check(&f, t), OCTO_JWT_AUDIENCE);
	/* a set without the key does not know the kid */
	{
		char *gen = octo_jwt_generate_pem();
		fixture_open(&other, gen);
		free(gen);
		assert_int_equal(check(&other, t), OCTO_JWT_KEY);
		fixture_close(&other);
	}
	free(t);
	fixture_close(&f);
}

static void test_sign_verify(void **state)
{
	static const char ed_pem[] =
		"-----BEGIN PRIVATE KEY-----\n"
		"MC4CAQAwBQYDK2VwBCIEIG+9cgRsSl7ZnqISt3Jii5Iq9kyoEVYANIvcqZPcwJoe\n"
		"-----END PRIVATE KEY-----\n";
	char *gen = octo_jwt_generate_pem();
	EVP_PKEY *rsa = EVP_RSA_gen(2048);
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *rsa_pem;
	long n;

	(void)state;
	sign_and_verify(ec_pem, "ES256");
	sign_and_verify(gen, "ES256");
	sign_and_verify(ed_pem, "EdDSA");
	assert_int_equal(PEM_write_bio_PrivateKey(bio, rsa, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &data);
	rsa_pem = strndup(data, (size_t)n);
	sign_and_verify(rsa_pem, "RS256");
	free(rsa_pem);
	free(gen);
	BIO_free(bio);
	EVP_PKEY_free(rsa);
}

static void test_refused_shapes(void **state)
{
	static const char *const malformed[] = {
		"",
		"a",
		"a.b",
		"a.b.c.d",
		"W10.e30.",                                    /* [] is not an object */
		"eyJhbGciOiJFUzI1NiIsImFsZyI6Im5vbmUifQ.e30.", /* a duplicate "alg" */
	};
	struct fixture f;
	char hdr[256], tok[512];
	size_t i;

	(void)state;
	fixture_open(&f, ec_pem);
	for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		assert_int_equal(check(&f, malformed[i]), OCTO_JWT_MALFORMED);
	assert_int_equal(check(&f, "e30.e30."), OCTO_JWT_ALG); /* no "alg" at all */
	/* "none", HS256 and an algorithm the key does not make */
	for (i = 0; i < 3; i++) {
		static const char *const algs[] = {"none", "HS256", "RS256"};
		char json[160];
		snprintf(json, sizeof(json), "{\"alg\":\"%s\",\"kid\":\"%s\"}", algs[i], EC_KID);
		octo_b64url_encode((const unsigned char *)json, strlen(json), hdr);
		snprintf(tok, sizeof(tok), "%s.e30.AAAA", hdr);
		assert_int_equal(check(&f, tok), OCTO_JWT_ALG);
	}
	fixture_close(&f);
}

static void test_jwks(void **state)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{"[]", "not a JWKS document"},
		{"{\"keys\":{}}", "not a JWKS document"},
		{"{\"keys\":[1]}", "keys[0]: must be an object"},
		{"{\"keys\":[{\"kty\":\"oct\",\"k\":\"AA\"}]}", "keys[0]: kty must be"},
		{"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"}]}",
		 "keys[0]: an EC key"},
		{"{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}]}",
		 "keys[0]: an OKP key"},
		{"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}",
		 "keys[0]: a key no algorithm here verifies"},
		{"{\"keys\":[{\"kty\":\"RSA\",\"n\":\"!\",\"e\":\"AQAB\"}]}",
		 "keys[0]: an RSA key"},
		{"{\"keys\":[{\"kid\":5,\"kty\":\"OKP\"}]}", "keys[0].kid"},
	};
	/* the fixed P-256 key's public half, as tokens.py writes it */
	static const char good[] = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"mine\","
				   "\"x\":\"n8NlifvLEh7-PARNngc0UzPcYemHMxt-rqlpd4NL4AE\","
				   "\"y\":\"2lWc7dsEX5eW8dbuQEpB36UNncNaGFokeQCUywpVJe8\"},"
				   "{\"kty\":\"oct\",\"use\":\"enc\",\"k\":\"AA\"}]}";
	struct octo_jwt_keys *k;
	struct fixture f;
	char why[256];
	json_t *claims;
	char *t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		k = octo_jwt_keys_new();
		why[0] = '\0';
		assert_int_equal(octo_jwt_keys_add_jwks(k, bad[i].text, strlen(bad[i].text), why,
							sizeof(why)),
				 OCTO_ERR_CONFIG);
		if (strstr(why, bad[i].why) == NULL)
			fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].text, why, bad[i].why);
		octo_jwt_keys_free(k);
	}
	/* a token of the fixed key (its kid libtrust's) verifies with the JWKS */
	fixture_open(&f, ec_pem);
	t = mint(&f, "iss", "aud", 1000100, 0);
	k = octo_jwt_keys_new();
	assert_int_equal(octo_jwt_keys_add_jwks(k, good, strlen(good), why, sizeof(why)), OCTO_OK);
	assert_int_equal(octo_jwt_keys_count(k), 1);
	assert_int_equal(octo_jwt_verify(k, t, strlen(t), &expect, &claims), OCTO_JWT_OK);
	json_decref(claims);
	octo_jwt_keys_free(k);
	free(t);
	fixture_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url),      cmocka_unit_test(test_kid),
		cmocka_unit_test(test_sign_verify), cmocka_unit_test(test_refused_shapes),
		cmocka_unit_test(test_jwks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
