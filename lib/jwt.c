/* SPDX-License-Identifier: Apache-2.0 */
/* See jwt.h. */
#include "autoconfig.h"

#include <errno.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jwt.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t octo_b64url_encode(const unsigned char *in, size_t len, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	if (len - i == 1) {
		unsigned v = (unsigned)in[i] << 16;
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
	} else if (len - i == 2) {
		unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '-' ? 62 : c == '_' ? 63 : -1;
}

int octo_b64url_decode(const char *in, size_t len, unsigned char *out, size_t *out_len)
{
	unsigned acc = 0;
	size_t i, o = 0;
	int bits = 0;

	if (len % 4 == 1)
		return -1;
	for (i = 0; i < len; i++) {
		int v = b64url_value((unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6 | (unsigned)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if ((acc & ((1u << bits) - 1)) != 0)
		return -1; /* stray bits: another text would decode to the same bytes */
	out[o] = '\0';
	*out_len = o;
	return 0;
}

int octo_jwt_kid(EVP_PKEY *key, char kid[OCTO_JWT_KID_MAX + 1])
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	unsigned char *der = NULL, sum[SHA256_DIGEST_LENGTH];
	int n = i2d_PUBKEY(key, &der);
	size_t bit, o = 0;

	if (n <= 0)
		return -1;
	SHA256(der, (size_t)n, sum);
	OPENSSL_free(der);
	for (bit = 0; bit < 240; bit += 5) { /* 30 bytes: 48 characters, no padding */
		size_t byte = bit / 8, shift = bit % 8;
		unsigned v = (unsigned)sum[byte] << 8 | (byte + 1 < 30 ? sum[byte + 1] : 0);
		if (o > 0 && (o + 1) % 5 == 0)
			kid[o++] = ':';
		kid[o++] = b32[(v >> (11 - shift)) & 31];
	}
	kid[o] = '\0';
	return 0;
}

struct jwt_key {
	EVP_PKEY *key;
	char *kid;                           /* the JWK's "kid", or NULL */
	char trust_id[OCTO_JWT_KID_MAX + 1]; /* the libtrust id */
};

struct octo_jwt_keys {
	struct jwt_key keys[OCTO_JWT_MAX_KEYS];
	size_t n;
	X509_STORE *ca; /* anchors of x5c chains, or NULL */
};

struct octo_jwt_keys *octo_jwt_keys_new(void)
{
	return calloc(1, sizeof(struct octo_jwt_keys));
}

void octo_jwt_keys_free(struct octo_jwt_keys *k)
{
	size_t i;

	if (k == NULL)
		return;
	for (i = 0; i < k->n; i++) {
		EVP_PKEY_free(k->keys[i].key);
		free(k->keys[i].kid);
	}
	X509_STORE_free(k->ca);
	free(k);
}

size_t octo_jwt_keys_count(const struct octo_jwt_keys *k)
{
	return k->n;
}

/* The algorithms, each with its digest and the key it needs. */
static const struct alg {
	const char *name;
	const char *md; /* NULL: EdDSA signs the message itself */
	int type;       /* EVP_PKEY_RSA, EVP_PKEY_EC, EVP_PKEY_ED25519 */
	int bits;       /* EC: the curve's size, which is also the half signature's */
} algs[] = {
	{"RS256", "SHA256", EVP_PKEY_RSA, 0},  {"RS384", "SHA384", EVP_PKEY_RSA, 0},
	{"RS512", "SHA512", EVP_PKEY_RSA, 0},  {"ES256", "SHA256", EVP_PKEY_EC, 256},
	{"ES384", "SHA384", EVP_PKEY_EC, 384}, {"EdDSA", NULL, EVP_PKEY_ED25519, 0},
};

static const struct alg *alg_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(algs[i].name, name) == 0)
			return &algs[i];
	return NULL;
}

/* Whether key can make signatures of alg. */
static int alg_fits(const struct alg *a, EVP_PKEY *key)
{
	if (EVP_PKEY_get_base_id(key) != a->type)
		return 0;
	if (a->type == EVP_PKEY_EC)
		return EVP_PKEY_get_bits(key) == a->bits;
	if (a->type == EVP_PKEY_RSA)
		return EVP_PKEY_get_bits(key) >= 2048;
	return 1;
}

/* Whether some algorithm here takes key. */
static int key_usable(EVP_PKEY *key)
{
	size_t i;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (alg_fits(&algs[i], key))
			return 1;
	return 0;
}

enum octo_err octo_jwt_keys_add(struct octo_jwt_keys *k, EVP_PKEY *key, const char *kid, char *why,
				size_t size)
{
	struct jwt_key *e;

	if (k->n == OCTO_JWT_MAX_KEYS) {
		snprintf(why, size, "more than %d keys", OCTO_JWT_MAX_KEYS);
		return OCTO_ERR_CONFIG;
	}
	if (!key_usable(key)) {
		snprintf(why, size,
			 "a key no algorithm here verifies (RSA of 2048 bits or more, EC P-256 or "
			 "P-384, Ed25519)");
		return OCTO_ERR_CONFIG;
	}
	e = &k->keys[k->n];
	memset(e, 0, sizeof(*e));
	if (octo_jwt_kid(key, e->trust_id) != 0 ||
	    (kid != NULL && (e->kid = strdup(kid)) == NULL) || EVP_PKEY_up_ref(key) != 1) {
		free(e->kid);
		return OCTO_ERR_NOMEM;
	}
	e->key = key;
	k->n++;
	return OCTO_OK;
}

/* The PEM objects of a file (certificates, private keys); NULL with why when it cannot be read. */
static STACK_OF(X509_INFO) * pem_objects(const char *path, char *why, size_t size)
{
	STACK_OF(X509_INFO) *infos = NULL;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		snprintf(why, size, "%s cannot be read: %s", path, strerror(errno));
		return NULL;
	}
	infos = PEM_X509_INFO_read(f, NULL, NULL, NULL);
	fclose(f);
	if (infos == NULL)
		infos = sk_X509_INFO_new_null(); /* bare public keys only, or nothing */
	if (infos == NULL)
		snprintf(why, size, "out of memory");
	return infos;
}

enum octo_err octo_jwt_keys_add_pem(struct octo_jwt_keys *k, const char *path, char *why,
				    size_t size)
{
	STACK_OF(X509_INFO) *infos = pem_objects(path, why, size);
	enum octo_err err = OCTO_OK;
	size_t before = k->n;
	FILE *f;
	int i;

	if (infos == NULL)
		return OCTO_ERR_CONFIG;
	for (i = 0; err == OCTO_OK && i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *info = sk_X509_INFO_value(infos, i);
		EVP_PKEY *key = info->x509 != NULL     ? X509_get0_pubkey(info->x509)
				: info->x_pkey != NULL ? info->x_pkey->dec_pkey
						       : NULL;
		if (key != NULL)
			err = octo_jwt_keys_add(k, key, NULL, why, size);
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	/* bare public keys, which PEM_X509_INFO_read passes over */
	f = fopen(path, "r");
	while (err == OCTO_OK && f != NULL) {
		EVP_PKEY *key = PEM_read_PUBKEY(f, NULL, NULL, NULL);
		if (key == NULL)
			break;
		err = octo_jwt_keys_add(k, key, NULL, why, size);
		EVP_PKEY_free(key);
	}
	if (f != NULL)
		fclose(f);
	if (err == OCTO_OK && k->n == before) {
		snprintf(why, size, "%s holds no PEM public key, certificate or private key", path);
		err = OCTO_ERR_CONFIG;
	} else if (err == OCTO_ERR_CONFIG) {
		char inner[256];
		snprintf(inner, sizeof(inner), "%s", why);
		snprintf(why, size, "%s: %s", path, inner);
	}
	return err;
}

/* A base64url member of a JWK as bytes in buf (room bytes). */
static int jwk_bytes(json_t *jwk, const char *name, unsigned char *buf, size_t room, size_t *len)
{
	const char *s = json_string_value(json_object_get(jwk, name));
	size_t n = s != NULL ? strlen(s) : 0;

	if (s == NULL || n == 0 || n * 3 / 4 + 1 > room)
		return -1;
	return octo_b64url_decode(s, n, buf, len);
}

static EVP_PKEY *jwk_key(json_t *jwk, const char **bad)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	unsigned char a[1024], b[1024];
	size_t alen, blen;
	EVP_PKEY *key = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	BIGNUM *n = NULL, *e = NULL;

	*bad = "kty must be RSA, EC or OKP";
	if (kty != NULL && strcmp(kty, "OKP") == 0) {
		*bad = "an OKP key must be crv Ed25519 with a 32-byte x";
		if (crv == NULL || strcmp(crv, "Ed25519") != 0 ||
		    jwk_bytes(jwk, "x", a, sizeof(a), &alen) != 0 || alen != 32)
			return NULL;
		return EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, a, alen);
	}
	if (kty != NULL && strcmp(kty, "RSA") == 0) {
		*bad = "an RSA key needs base64url n and e";
		if (jwk_bytes(jwk, "n", a, sizeof(a), &alen) != 0 ||
		    jwk_bytes(jwk, "e", b, sizeof(b), &blen) != 0 || blen > 8)
			return NULL;
		n = BN_bin2bn(a, (int)alen, NULL);
		e = BN_bin2bn(b, (int)blen, NULL);
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
		bld = OSSL_PARAM_BLD_new();
		if (n != NULL && e != NULL && bld != NULL &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1)
			params = OSSL_PARAM_BLD_to_param(bld);
	} else if (kty != NULL && strcmp(kty, "EC") == 0) {
		size_t half = crv != NULL && strcmp(crv, "P-256") == 0   ? 32
			      : crv != NULL && strcmp(crv, "P-384") == 0 ? 48
									 : 0;
		unsigned char point[1 + 2 * 48];
		*bad = "an EC key must be crv P-256 or P-384 with x and y of the curve's size";
		if (half == 0 || jwk_bytes(jwk, "x", a, sizeof(a), &alen) != 0 || alen != half ||
		    jwk_bytes(jwk, "y", b, sizeof(b), &blen) != 0 || blen != half)
			return NULL;
		point[0] = 4; /* uncompressed */
		memcpy(point + 1, a, half);
		memcpy(point + 1 + half, b, half);
		ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		bld = OSSL_PARAM_BLD_new();
		if (bld != NULL &&
		    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
						    half == 32 ? "P-256" : "P-384", 0) == 1 &&
		    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
						     1 + 2 * half) == 1)
			params = OSSL_PARAM_BLD_to_param(bld);
	} else {
		return NULL;
	}
	if (params != NULL && ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
		key = NULL;
	if (key == NULL)
		*bad = "the key's numbers do not make a public key";
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(n);
	BN_free(e);
	return key;
}

enum octo_err octo_jwt_keys_add_jwks(struct octo_jwt_keys *k, const char *text, size_t len,
				     char *why, size_t size)
{
	json_error_t jerr;
	json_t *doc, *keys, *jwk;
	enum octo_err err = OCTO_OK;
	size_t i;

	if (len > OCTO_JWKS_MAX_SIZE) {
		snprintf(why, size, "larger than %u bytes", OCTO_JWKS_MAX_SIZE);
		return OCTO_ERR_CONFIG;
	}
	doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	keys = json_object_get(doc, "keys");
	if (!json_is_array(keys)) {
		snprintf(why, size, "not a JWKS document (an object with a \"keys\" array)%s%s",
			 doc == NULL ? ": " : "", doc == NULL ? jerr.text : "");
		json_decref(doc);
		return OCTO_ERR_CONFIG;
	}
	json_array_foreach(keys, i, jwk)
	{
		const char *use = json_string_value(json_object_get(jwk, "use"));
		json_t *kid = json_object_get(jwk, "kid");
		const char *bad = "must be an object";
		char inner[200];
		EVP_PKEY *key;

		if (use != NULL && strcmp(use, "sig") != 0)
			continue; /* an encryption key is no concern of ours */
		if (kid != NULL && (!json_is_string(kid) || json_string_length(kid) == 0 ||
				    json_string_length(kid) > 255)) {
			snprintf(why, size, "keys[%zu].kid: must be a string of 1 to 255 bytes", i);
			err = OCTO_ERR_CONFIG;
			break;
		}
		key = json_is_object(jwk) ? jwk_key(jwk, &bad) : NULL;
		if (key == NULL) {
			snprintf(why, size, "keys[%zu]: %s", i, bad);
			err = OCTO_ERR_CONFIG;
			break;
		}
		err = octo_jwt_keys_add(k, key, json_string_value(kid), inner, sizeof(inner));
		EVP_PKEY_free(key);
		if (err != OCTO_OK) {
			snprintf(why, size, "keys[%zu]: %s", i, inner);
			break;
		}
	}
	json_decref(doc);
	return err;
}

enum octo_err octo_jwt_keys_add_ca(struct octo_jwt_keys *k, const char *path, char *why,
				   size_t size)
{
	STACK_OF(X509_INFO) *infos = pem_objects(path, why, size);
	enum octo_err err = OCTO_OK;
	int i, certs = 0;

	if (infos == NULL)
		return OCTO_ERR_CONFIG;
	if (k->ca == NULL && (k->ca = X509_STORE_new()) == NULL)
		err = OCTO_ERR_NOMEM;
	for (i = 0; err == OCTO_OK && i < sk_X509_INFO_num(infos); i++) {
		X509 *cert = sk_X509_INFO_value(infos, i)->x509;
		if (cert == NULL)
			continue;
		certs++;
		if (X509_STORE_add_cert(k->ca, cert) != 1)
			err = OCTO_ERR_NOMEM;
		else if (key_usable(X509_get0_pubkey(cert)))
			err = octo_jwt_keys_add(k, X509_get0_pubkey(cert), NULL, why, size);
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	if (err == OCTO_OK && certs == 0) {
		snprintf(why, size, "%s holds no PEM certificate", path);
		err = OCTO_ERR_CONFIG;
	}
	return err;
}

const char *octo_jwt_fail_text(enum octo_jwt_fail f)
{
	switch (f) {
	case OCTO_JWT_OK:
		return "valid";
	case OCTO_JWT_MALFORMED:
		return "malformed token";
	case OCTO_JWT_ALG:
		return "algorithm not accepted";
	case OCTO_JWT_KEY:
		return "signed by no trusted key";
	case OCTO_JWT_SIGNATURE:
		return "bad signature";
	case OCTO_JWT_EXPIRED:
		return "token expired";
	case OCTO_JWT_NOT_YET:
		return "token not yet valid";
	case OCTO_JWT_ISSUER:
		return "wrong issuer";
	case OCTO_JWT_AUDIENCE:
		return "wrong audience";
	}
	return "refused";
}

/* One base64url part as a JSON object (duplicate members refused: two readers of the same
 * token must not see different claims). */
static json_t *part_json(const char *s, size_t len)
{
	unsigned char *buf = malloc(len * 3 / 4 + 1);
	size_t n;
	json_t *o = NULL;

	if (buf != NULL && octo_b64url_decode(s, len, buf, &n) == 0)
		o = json_loadb((const char *)buf, n, JSON_REJECT_DUPLICATES, NULL);
	free(buf);
	if (o != NULL && !json_is_object(o)) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

/* The standard base64 of an x5c element, as DER. */
static X509 *x5c_cert(json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = s != NULL ? strlen(s) : 0;
	unsigned char *der;
	const unsigned char *p;
	X509 *cert = NULL;
	int len;

	if (n == 0 || n % 4 != 0 || n > OCTO_JWT_MAX)
		return NULL;
	der = malloc(n);
	if (der == NULL)
		return NULL;
	len = EVP_DecodeBlock(der, (const unsigned char *)s, (int)n);
	if (len > 0) {
		len -= (s[n - 1] == '=') + (s[n - 2] == '=');
		p = der;
		cert = d2i_X509(NULL, &p, len);
		if (cert != NULL && p != der + len) {
			X509_free(cert);
			cert = NULL;
		}
	}
	free(der);
	return cert;
}

/* The key of an x5c chain, if it verifies against the CA bundle: a reference, or NULL. */
static EVP_PKEY *x5c_key(const struct octo_jwt_keys *keys, json_t *x5c, int64_t now)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509 *leaf = NULL;
	EVP_PKEY *key = NULL;
	json_t *v;
	size_t i;

	if (keys->ca == NULL || !json_is_array(x5c) || json_array_size(x5c) == 0 ||
	    json_array_size(x5c) > 8 || chain == NULL || ctx == NULL)
		goto out;
	json_array_foreach(x5c, i, v)
	{
		X509 *cert = x5c_cert(v);
		if (cert == NULL)
			goto out;
		if (i == 0)
			leaf = cert;
		else if (sk_X509_push(chain, cert) == 0) {
			X509_free(cert);
			goto out;
		}
	}
	if (X509_STORE_CTX_init(ctx, keys->ca, leaf, chain) != 1)
		goto out;
	X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
	if (X509_verify_cert(ctx) == 1 && (key = X509_get_pubkey(leaf)) != NULL &&
	    !key_usable(key)) {
		EVP_PKEY_free(key);
		key = NULL;
	}
out:
	X509_STORE_CTX_free(ctx);
	sk_X509_pop_free(chain, X509_free);
	X509_free(leaf);
	return key;
}

/* The trusted key a header names: a reference, or NULL. */
static EVP_PKEY *header_key(const struct octo_jwt_keys *keys, json_t *header, int64_t now)
{
	json_t *x5c = json_object_get(header, "x5c");
	const char *kid = json_string_value(json_object_get(header, "kid"));
	size_t i;

	if (x5c != NULL)
		return x5c_key(keys, x5c, now);
	for (i = 0; kid != NULL && i < keys->n; i++) {
		const struct jwt_key *e = &keys->keys[i];
		if ((e->kid != NULL && strcmp(e->kid, kid) == 0) || strcmp(e->trust_id, kid) == 0) {
			EVP_PKEY_up_ref(e->key);
			return e->key;
		}
	}
	return NULL;
}

/* An ECDSA signature as JWS writes it (r and s, each half bytes) to DER, and back. */
static unsigned char *ec_raw_to_der(const unsigned char *raw, size_t half, int *len)
{
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(raw, (int)half, NULL), *s = BN_bin2bn(raw + half, (int)half, NULL);
	unsigned char *der = NULL;

	*len = 0;
	if (sig != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(sig, r, s) == 1) {
		r = s = NULL;
		*len = i2d_ECDSA_SIG(sig, &der);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return *len > 0 ? der : NULL;
}

static int ec_der_to_raw(const unsigned char *der, size_t len, size_t half, unsigned char *raw)
{
	const unsigned char *p = der;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
	int ok = sig != NULL && BN_bn2binpad(ECDSA_SIG_get0_r(sig), raw, (int)half) == (int)half &&
		 BN_bn2binpad(ECDSA_SIG_get0_s(sig), raw + half, (int)half) == (int)half;

	ECDSA_SIG_free(sig);
	return ok ? 0 : -1;
}

static int signature_ok(const struct alg *a, EVP_PKEY *key, const char *input, size_t input_len,
			const unsigned char *sig, size_t sig_len)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int ok = 0, der_len;

	if (a->type == EVP_PKEY_EC) {
		if (sig_len != (size_t)a->bits / 4)
			goto out;
		der = ec_raw_to_der(sig, sig_len / 2, &der_len);
		if (der == NULL)
			goto out;
		sig = der;
		sig_len = (size_t)der_len;
	}
	ok = md != NULL && EVP_DigestVerifyInit_ex(md, NULL, a->md, NULL, NULL, key, NULL) == 1 &&
	     EVP_DigestVerify(md, sig, sig_len, (const unsigned char *)input, input_len) == 1;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	return ok;
}

/* A NumericDate claim: 0 and *v, or -1 when absent or not a number. */
static int claim_time(json_t *claims, const char *name, int64_t *v)
{
	json_t *t = json_object_get(claims, name);

	if (!json_is_number(t))
		return -1;
	*v = (int64_t)json_number_value(t);
	return 0;
}

static int audience_holds(json_t *aud, const char *want)
{
	json_t *v;
	size_t i;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	json_array_foreach(aud, i, v) if (json_is_string(v) &&
					  strcmp(json_string_value(v), want) == 0) return 1;
	return 0;
}

enum octo_jwt_fail octo_jwt_verify(const struct octo_jwt_keys *keys, const char *token, size_t len,
				   const struct octo_jwt_expect *exp, json_t **claims)
{
	const char *dot1 = len <= OCTO_JWT_MAX ? memchr(token, '.', len) : NULL;
	const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	const char *sig_text = dot2 ? dot2 + 1 : NULL;
	size_t sig_text_len = dot2 ? len - (size_t)(sig_text - token) : 0;
	json_t *header = NULL, *body = NULL;
	unsigned char *sig = NULL;
	size_t sig_len;
	const struct alg *a;
	EVP_PKEY *key = NULL;
	enum octo_jwt_fail f = OCTO_JWT_MALFORMED;
	int64_t expires, not_before;
	const char *iss;

	*claims = NULL;
	if (dot2 == NULL || memchr(sig_text, '.', sig_text_len) != NULL ||
	    (header = part_json(token, (size_t)(dot1 - token))) == NULL ||
	    (body = part_json(dot1 + 1, (size_t)(dot2 - dot1 - 1))) == NULL ||
	    (sig = malloc(sig_text_len * 3 / 4 + 1)) == NULL ||
	    octo_b64url_decode(sig_text, sig_text_len, sig, &sig_len) != 0)
		goto out;
	f = OCTO_JWT_ALG;
	a = alg_find(json_string_value(json_object_get(header, "alg")));
	if (a == NULL || json_object_get(header, "crit") != NULL)
		goto out; /* "none", HS256 and the rest; no extension we would have to honour */
	f = OCTO_JWT_KEY;
	if ((key = header_key(keys, header, exp->now)) == NULL)
		goto out;
	f = OCTO_JWT_ALG;
	if (!alg_fits(a, key))
		goto out; /* an RSA key cannot vouch for an ES256 token, and so on */
	f = OCTO_JWT_SIGNATURE;
	if (!signature_ok(a, key, token, (size_t)(dot2 - token), sig, sig_len))
		goto out;
	f = OCTO_JWT_EXPIRED;
	if (claim_time(body, "exp", &expires) != 0 || exp->now > expires + exp->leeway)
		goto out;
	f = OCTO_JWT_NOT_YET;
	if (json_object_get(body, "nbf") != NULL &&
	    (claim_time(body, "nbf", &not_before) != 0 || exp->now + exp->leeway < not_before))
		goto out;
	f = OCTO_JWT_ISSUER;
	iss = json_string_value(json_object_get(body, "iss"));
	if (iss == NULL || strcmp(iss, exp->issuer) != 0)
		goto out;
	f = OCTO_JWT_AUDIENCE;
	if (!audience_holds(json_object_get(body, "aud"), exp->audience))
		goto out;
	f = OCTO_JWT_OK;
	*claims = json_incref(body);
out:
	EVP_PKEY_free(key);
	free(sig);
	json_decref(header);
	json_decref(body);
	return f;
}

enum octo_err octo_jwt_signer_load(struct octo_jwt_signer *s, const char *path, char *why,
				   size_t size)
{
	FILE *f = fopen(path, "r");
	size_t i;

	memset(s, 0, sizeof(*s));
	if (f == NULL) {
		snprintf(why, size, "%s cannot be read: %s", path, strerror(errno));
		return OCTO_ERR_CONFIG;
	}
	s->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (s->key == NULL) {
		snprintf(why, size, "%s holds no PEM private key (or it is encrypted)", path);
		return OCTO_ERR_CONFIG;
	}
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]) && s->alg == NULL; i++)
		if (alg_fits(&algs[i], s->key))
			s->alg = algs[i].name; /* the first that fits: RS256, ES256, ES384, EdDSA */
	if (s->alg == NULL) {
		snprintf(why, size,
			 "%s: the key signs no algorithm here (RSA of 2048 bits or more, EC "
			 "P-256 or P-384, Ed25519)",
			 path);
		octo_jwt_signer_cleanup(s);
		return OCTO_ERR_CONFIG;
	}
	if (octo_jwt_kid(s->key, s->kid) != 0) {
		octo_jwt_signer_cleanup(s);
		return OCTO_ERR_NOMEM;
	}
	return OCTO_OK;
}

char *octo_jwt_generate_pem(void)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL, *data;
	long n;

	if (key != NULL && bio != NULL &&
	    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) == 1 &&
	    (n = BIO_get_mem_data(bio, &data)) > 0 && (pem = malloc((size_t)n + 1)) != NULL) {
		memcpy(pem, data, (size_t)n);
		pem[n] = '\0';
	}
	BIO_free(bio);
	EVP_PKEY_free(key);
	return pem;
}

void octo_jwt_signer_cleanup(struct octo_jwt_signer *s)
{
	EVP_PKEY_free(s->key);
	memset(s, 0, sizeof(*s));
}

/* v as compact JSON in base64url, appended to buf at *pos. */
static int append_part(char *buf, size_t *pos, json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT);
	size_t n = text ? strlen(text) : 0;

	if (text == NULL)
		return -1;
	*pos += octo_b64url_encode((const unsigned char *)text, n, buf + *pos);
	free(text);
	return 0;
}

char *octo_jwt_sign(const struct octo_jwt_signer *s, json_t *claims)
{
	const struct alg *a = alg_find(s->alg);
	json_t *header = json_pack("{s:s, s:s, s:s}", "typ", "JWT", "alg", s->alg, "kid", s->kid);
	char *claims_text = json_dumps(claims, JSON_COMPACT);
	size_t room = claims_text ? 4 * (strlen(claims_text) + 512) / 3 + 1024 : 0, pos = 0;
	char *out = room ? malloc(room) : NULL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char sig[1024], raw[96];
	size_t sig_len = sizeof(sig);
	int ok = 0;

	free(claims_text);
	if (a == NULL || header == NULL || out == NULL || md == NULL ||
	    append_part(out, &pos, header) != 0)
		goto out;
	out[pos++] = '.';
	if (append_part(out, &pos, claims) != 0 ||
	    EVP_DigestSignInit_ex(md, NULL, a->md, NULL, NULL, s->key, NULL) != 1 ||
	    EVP_DigestSign(md, NULL, &sig_len, (unsigned char *)out, pos) != 1 ||
	    sig_len > sizeof(sig) ||
	    EVP_DigestSign(md, sig, &sig_len, (unsigned char *)out, pos) != 1)
		goto out;
	if (a->type == EVP_PKEY_EC) {
		if (ec_der_to_raw(sig, sig_len, (size_t)a->bits / 8, raw) != 0)
			goto out;
		memcpy(sig, raw, (size_t)a->bits / 4);
		sig_len = (size_t)a->bits / 4;
	}
	out[pos++] = '.';
	octo_b64url_encode(sig, sig_len, out + pos);
	ok = 1;
out:
	EVP_MD_CTX_free(md);
	json_decref(header);
	if (!ok) {
		free(out);
		out = NULL;
	}
	return out;
}
