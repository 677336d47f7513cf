/* SPDX-License-Identifier: Apache-2.0 */
/* JSON Web Tokens as the Docker registry token specification uses them (doc/reference:
 * auth-jwt.md): compact JWS, signed RS256/RS384/RS512, ES256/ES384 or EdDSA (Ed25519), and
 * nothing else; "none" and every HMAC are refused, so a public key can never be used as an
 * HMAC secret. Keys are trusted from PEM files (public keys, certificates or private keys),
 * a JWKS document, or a CA bundle whose certificates are trusted keys themselves and anchor
 * an "x5c" chain. A key is found by "kid": the JWK's own, or for every key the libtrust key
 * id Distribution-compatible issuers put there. OpenSSL does the cryptography; jansson
 * reads the JSON. A leaf: it knows nothing of requests or the registry's rules. */
#ifndef OCTO_JWT_H
#define OCTO_JWT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* The longest token taken (a scoped token is a few hundred bytes; fronts cap headers at 8 KiB
 * or so anyway), keys in one set, and a JWKS document's size. */
#define OCTO_JWT_MAX 16384
#define OCTO_JWT_MAX_KEYS 64
#define OCTO_JWKS_MAX_SIZE (1u << 20)
/* A libtrust key id: 12 groups of 4 base32 characters joined by ':'. */
#define OCTO_JWT_KID_MAX 64

/* Base64url without padding (RFC 7515 2). encode: out has room for 4 * ((len + 2) / 3) + 1;
 * returns the length written. decode: strict (no padding, no other alphabet, no stray
 * bits); out has room for len * 3 / 4 + 1; 0, or -1 when in is not base64url. */
size_t octo_b64url_encode(const unsigned char *in, size_t len, char *out);
int octo_b64url_decode(const char *in, size_t len, unsigned char *out, size_t *out_len);

/* The libtrust key id of key's public half: SHA-256 of its DER SubjectPublicKeyInfo, the first
 * 240 bits in base32, grouped by four. 0, or -1 out of memory. */
int octo_jwt_kid(EVP_PKEY *key, char kid[OCTO_JWT_KID_MAX + 1]);

/* Keys trusted to verify tokens. */
struct octo_jwt_keys;
struct octo_jwt_keys *octo_jwt_keys_new(void);
void octo_jwt_keys_free(struct octo_jwt_keys *k);
size_t octo_jwt_keys_count(const struct octo_jwt_keys *k);
/* Add one key (its public half; a reference is taken) under kid, or its libtrust id when
 * kid is NULL. OCTO_ERR_CONFIG with why past OCTO_JWT_MAX_KEYS or for a key type no
 * algorithm here verifies. */
enum octo_err octo_jwt_keys_add(struct octo_jwt_keys *k, EVP_PKEY *key, const char *kid, char *why,
				size_t size);
/* Every key in a PEM file: public keys, certificates (their keys), private keys (their
 * public halves). A file with none is an error. */
enum octo_err octo_jwt_keys_add_pem(struct octo_jwt_keys *k, const char *path, char *why,
				    size_t size);
/* The keys of a JWKS document ({"keys":[...]}: kty RSA (n, e), EC P-256/P-384 (x, y), OKP
 * Ed25519 (x)), each under its "kid" and its libtrust id. Keys with "use" other than "sig"
 * are skipped; a malformed key is an error that names it. */
enum octo_err octo_jwt_keys_add_jwks(struct octo_jwt_keys *k, const char *text, size_t len,
				     char *why, size_t size);
/* A CA bundle: its certificates anchor x5c chains, and their keys are trusted by kid. */
enum octo_err octo_jwt_keys_add_ca(struct octo_jwt_keys *k, const char *path, char *why,
				   size_t size);

/* What a token must say besides a good signature. */
struct octo_jwt_expect {
	const char *issuer;   /* "iss" must equal it */
	const char *audience; /* "aud" (a string or an array) must hold it */
	int64_t now;          /* seconds since the epoch */
	int64_t leeway;       /* seconds allowed either side of "exp" and "nbf" */
};

/* Why a token was refused. */
enum octo_jwt_fail {
	OCTO_JWT_OK = 0,
	OCTO_JWT_MALFORMED, /* not three base64url parts of JSON objects, or past OCTO_JWT_MAX */
	OCTO_JWT_ALG,       /* "none", HMAC, or an algorithm the key cannot make */
	OCTO_JWT_KEY,       /* no trusted key by that kid, or an x5c chain that does not verify */
	OCTO_JWT_SIGNATURE,
	OCTO_JWT_EXPIRED,
	OCTO_JWT_NOT_YET,
	OCTO_JWT_ISSUER,
	OCTO_JWT_AUDIENCE,
};
const char *octo_jwt_fail_text(enum octo_jwt_fail f);

/* Verify token[0..len) against keys and exp: OCTO_JWT_OK and its claims in *claims (the
 * caller's reference), or why not. Out of memory reads as OCTO_JWT_MALFORMED. */
enum octo_jwt_fail octo_jwt_verify(const struct octo_jwt_keys *keys, const char *token, size_t len,
				   const struct octo_jwt_expect *exp, json_t **claims);

/* A signing key: the private key, the algorithm it signs with and its kid. */
struct octo_jwt_signer {
	EVP_PKEY *key;
	const char *alg; /* "RS256", "ES256", "ES384" or "EdDSA" */
	char kid[OCTO_JWT_KID_MAX + 1];
};
/* Read the first private key of a PEM file (RSA of 2048 bits or more, EC P-256/P-384,
 * Ed25519). */
enum octo_err octo_jwt_signer_load(struct octo_jwt_signer *s, const char *path, char *why,
				   size_t size);
/* A fresh EC P-256 key as PEM (PKCS#8), malloc'd; NULL out of memory. */
char *octo_jwt_generate_pem(void);
void octo_jwt_signer_cleanup(struct octo_jwt_signer *s);
/* claims signed as a compact JWS, malloc'd; NULL out of memory. */
char *octo_jwt_sign(const struct octo_jwt_signer *s, json_t *claims);

#endif
