# SPDX-License-Identifier: Apache-2.0
"""Keys and JSON Web Tokens made by the tests with the openssl command line, in the formats
Distribution-compatible issuers use: ES256/RS256/EdDSA signatures, a libtrust "kid" (computed here
from the key's DER, independently of the registry's C code), JWKS documents and x5c chains.
Also the tokens no registry may take: "alg": "none", HS256 keyed with the public key, bad
signatures."""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import time


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def openssl(*args, data=None):
    return subprocess.run(["openssl"] + list(args), input=data, capture_output=True,
                          check=True).stdout


def der_items(data):
    """The elements of one DER SEQUENCE (or the content of a BIT STRING): (tag, bytes) pairs."""
    out, i = [], 0
    while i < len(data):
        tag, n = data[i], data[i + 1]
        i += 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(data[i:i + k], "big")
            i += k
        out.append((tag, data[i:i + n]))
        i += n
    return out


def libtrust_kid(spki_der):
    """Distribution's libtrust key id: SHA-256 of the DER SubjectPublicKeyInfo, 240 bits in
    base32, in groups of four joined by ':'."""
    b32 = base64.b32encode(hashlib.sha256(spki_der).digest()[:30]).decode()
    return ":".join(b32[i:i + 4] for i in range(0, len(b32), 4))


class Key:
    """A key pair in dir: kind "ec256", "ec384", "rsa" or "ed25519"."""

    ALGS = {"ec256": "ES256", "ec384": "ES384", "rsa": "RS256", "ed25519": "EdDSA"}

    def __init__(self, directory, name, kind="ec256"):
        self.kind, self.alg = kind, self.ALGS[kind]
        self.priv = os.path.join(directory, name + ".key")
        self.pub = os.path.join(directory, name + ".pub")
        gen = {"ec256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
               "ec384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
               "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
               "ed25519": ["-algorithm", "ED25519"]}[kind]
        openssl("genpkey", *gen, "-out", self.priv)
        openssl("pkey", "-in", self.priv, "-pubout", "-out", self.pub)
        self.spki = openssl("pkey", "-in", self.priv, "-pubout", "-outform", "DER")
        self.kid = libtrust_kid(self.spki)
        with open(self.pub, "rb") as f:
            self.pub_pem = f.read()

    def sign(self, data):
        if self.kind == "ed25519":
            path = self.priv + ".in"
            with open(path, "wb") as f:
                f.write(data)
            return openssl("pkeyutl", "-sign", "-inkey", self.priv, "-rawin", "-in", path)
        md = "-sha384" if self.kind == "ec384" else "-sha256"
        sig = openssl("dgst", md, "-sign", self.priv, data=data)
        if self.kind == "rsa":
            return sig
        half = 48 if self.kind == "ec384" else 32
        r, s = (v for _, v in der_items(der_items(sig)[0][1]))
        return r.lstrip(b"\0").rjust(half, b"\0") + s.lstrip(b"\0").rjust(half, b"\0")

    def jwk(self, kid=None):
        """The public key as a JWK (RFC 7517/7518/8037)."""
        bits = der_items(der_items(self.spki)[0][1])[1][1][1:]  # BIT STRING, unused-bits byte
        if self.kind == "ed25519":
            k = {"kty": "OKP", "crv": "Ed25519", "x": b64url(bits)}
        elif self.kind == "rsa":
            n, e = (v.lstrip(b"\0") for _, v in der_items(der_items(bits)[0][1]))
            k = {"kty": "RSA", "n": b64url(n), "e": b64url(e)}
        else:
            half = (len(bits) - 1) // 2
            k = {"kty": "EC", "crv": "P-256" if half == 32 else "P-384",
                 "x": b64url(bits[1:1 + half]), "y": b64url(bits[1 + half:])}
        if kid:
            k["kid"] = kid
        return k

    def cert(self, directory, name, ca=None):
        """A certificate of this key, self-signed or signed by ca (a (Key, cert path) pair); its
        path and its DER."""
        path = os.path.join(directory, name + ".crt")
        if ca is None:
            openssl("req", "-x509", "-new", "-key", self.priv, "-subj", "/CN=" + name, "-days", "2",
                    "-addext", "basicConstraints=critical,CA:TRUE", "-out", path)
        else:
            csr = os.path.join(directory, name + ".csr")
            openssl("req", "-new", "-key", self.priv, "-subj", "/CN=" + name, "-out", csr)
            openssl("x509", "-req", "-in", csr, "-CA", ca[1], "-CAkey", ca[0].priv,
                    "-CAcreateserial", "-days", "2", "-out", path)
        return path, openssl("x509", "-in", path, "-outform", "DER")


def mint(key, claims, header=None, alg=None):
    """A compact JWS of claims signed by key; header members added or replaced by header."""
    h = {"typ": "JWT", "alg": alg or key.alg, "kid": key.kid}
    h.update(header or {})
    h = {k: v for k, v in h.items() if v is not None}
    signing_input = (b64url(json.dumps(h).encode()) + "." +
                     b64url(json.dumps(claims).encode())).encode()
    if h["alg"] == "none":
        return signing_input.decode() + "."
    if h["alg"] == "HS256":  # keyed with the public key's PEM: the classic confusion attack
        return signing_input.decode() + "." + b64url(
            hmac.new(key.pub_pem, signing_input, hashlib.sha256).digest())
    return signing_input.decode() + "." + b64url(key.sign(signing_input))


def claims(sub, access, iss="octoserve", aud="octoserve", life=300, now=None, **extra):
    now = int(now if now is not None else time.time())
    c = {"iss": iss, "sub": sub, "aud": aud, "exp": now + life, "nbf": now, "iat": now,
         "jti": os.urandom(8).hex(), "access": access}
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def repo_access(name, *actions):
    return [{"type": "repository", "name": name, "actions": list(actions)}]


def payload(token):
    """The claims of a token, unverified (to look at what an issuer granted)."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
