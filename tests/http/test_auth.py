# SPDX-License-Identifier: Apache-2.0
"""Authentication and authorization (auth.*), over HTTP through the front:

- the built-in token issuer: Basic and the OAuth2 form POST, wrong passwords, scopes granted only
  as far as auth.rules allow, the 401 challenge and its realm;
- tokens from outside issuers (PEM keys, JWKS, x5c chains) in every accepted algorithm, and each
  token that must be refused (expired, not yet valid, audience, issuer, signature, "none", HS256
  keyed with the public key, another repository's scope, a key rotated out), with its status and
  error code;
- the rules, table-driven: each user x repository x action, the catalog filtered, mounts across
  repositories, referrers, deletes;
- failed logins limited per user and per client address (429 with Retry-After);
- what stays outside registry auth (/livez, /readyz, /metrics, the issuer itself);
- an htpasswd file changed while running; a refused scheme at start;
- and no password or token in any log line of the suite."""
import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokens  # noqa: E402
import fronts  # noqa: E402
from harness import FCGI_BIN, Registry, deep_merge, free_port, sha256, write_htpasswd  # noqa: E402
from suite import ResponseAssertions, assert_not_logged, log_events, log_text  # noqa: E402

PASSWORDS = {"alice": "alice-Pw-1", "bob": "bob-Pw-2", "carol": "carol-Pw-3", "root": "root-Pw-4"}
SECRETS = list(PASSWORDS.values())  # grepped for in every log at the end
ISSUED = []  # every token seen: none may reach a log

RULES = [
    {"repositories": "team/*", "groups": ["ops"], "actions": ["pull", "push"]},
    {"repositories": "team/*", "users": ["alice"], "actions": ["pull"]},
    {"repositories": "alice/*", "users": ["alice"], "actions": ["*"]},
    {"repositories": "public/*", "anonymous": True, "actions": ["pull"]},
    {"repositories": "public/*", "users": ["*"], "actions": ["push"]},
]
GROUPS = {"ops": ["carol"], "admins": ["root"]}


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


def bearer(token):
    return {"Authorization": "Bearer " + token}


class AuthBase(ResponseAssertions, unittest.TestCase):
    """A registry with the built-in issuer, users and config from the class."""
    rules = RULES
    extra = {}

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="octoserve-auth-")
        cls.htpasswd = os.path.join(cls.dir, "htpasswd")
        write_htpasswd(cls.htpasswd, PASSWORDS)
        cfg = {"auth": {"htpasswd": {"path": cls.htpasswd}, "rules": cls.rules, "groups": GROUPS,
                        "admin_group": "admins"},
               "metrics": {"enabled": True}}
        deep_merge(cfg, cls.configure())
        cls.reg = Registry(cfg, threads=8).start()

    @classmethod
    def configure(cls):
        return cls.extra

    @classmethod
    def tearDownClass(cls):
        log = log_text(cls.reg)
        cls.reg.cleanup()
        subprocess.run(["rm", "-rf", cls.dir])
        assert_not_logged(log, SECRETS + ISSUED + ["Authorization", "Bearer "])

    def req(self, method, path, body=None, headers=None, source=None):
        if source is None:
            return self.reg.request(method, path, body=body, headers=headers)
        c = http.client.HTTPConnection("127.0.0.1", self.reg.port, timeout=60,
                                       source_address=(source, 0))
        try:
            return self.reg.request(method, path, body=body, headers=headers, conn=c)
        finally:
            c.close()

    def token(self, user, *scopes, expect=200, source=None):
        q = "service=octoserve" + "".join("&scope=" + urllib.parse.quote(s) for s in scopes)
        h = {"Authorization": basic(user, PASSWORDS[user])} if user else {}
        r = self.req("GET", "/auth/token?" + q, headers=h, source=source)
        self.assertEqual(r.status, expect, r)
        if expect != 200:
            return r
        t = r.json()["token"]
        self.assertEqual(r.json()["access_token"], t)
        self.assertGreater(r.json()["expires_in"], 0)
        self.assertEqual(r.header("Cache-Control"), "no-store")
        ISSUED.append(t)
        return t

    def all_scope(self, repo):
        return "repository:%s:pull,push,delete" % repo

    def push_image(self, repo, tag, as_user="root"):
        """An image pushed with as_user's token; (manifest digest, config digest)."""
        h = bearer(self.token(as_user, "repository:%s:pull,push" % repo))
        config = json.dumps({"repo": repo, "tag": tag}).encode()
        r = self.req("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, sha256(config)), config, h)
        self.assertEqual(r.status, 201, r)
        body = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": sha256(config), "size": len(config)}, "layers": []}).encode()
        h2 = dict(h, **{"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        r = self.req("PUT", "/v2/%s/manifests/%s" % (repo, tag), body, h2)
        self.assertEqual(r.status, 201, r)
        return sha256(body), sha256(config)

    def assertChallenge(self, r, scope=None, error=None):
        self.assertError(r, 401, "UNAUTHORIZED")
        ch = r.header("WWW-Authenticate")
        self.assertTrue(ch.startswith('Bearer realm="http://127.0.0.1:%d/auth/token",'
                                      'service="octoserve"' % self.reg.port), ch)
        if scope:
            self.assertIn('scope="%s"' % scope, ch)
        if error:
            self.assertIn('error="%s"' % error, ch)
        else:
            self.assertNotIn("error=", ch)


class IssuerTest(AuthBase):
    def test_challenge_login_and_wrong_password(self):
        self.assertChallenge(self.req("GET", "/v2/"))
        r = self.token("alice", expect=200)
        self.assertEqual(self.req("GET", "/v2/", headers=bearer(r)).status, 200)
        r = self.req("GET", "/auth/token?service=octoserve",
                     headers={"Authorization": basic("alice", "wrong")})
        self.assertError(r, 401, "UNAUTHORIZED")
        self.assertEqual(r.header("WWW-Authenticate"), 'Basic realm="octoserve"')
        r = self.req("GET", "/auth/token?service=octoserve",
                     headers={"Authorization": basic("nobody", "x")})
        self.assertError(r, 401, "UNAUTHORIZED")
        r = self.req("GET", "/auth/token", headers={"Authorization": "Basic !!!"})
        self.assertError(r, 401, "UNAUTHORIZED")
        r = self.req("GET", "/auth/token?service=elsewhere")
        self.assertError(r, 400, "UNSUPPORTED")
        # Basic at a registry endpoint is no login: passwords go to the issuer only
        self.assertChallenge(self.req("GET", "/v2/",
                                      headers={"Authorization": basic("alice", PASSWORDS["alice"])}))

    def test_scopes_granted_as_far_as_rules_allow(self):
        t = self.token("alice", self.all_scope("alice/x"), self.all_scope("team/x"),
                       self.all_scope("bob/x"), "registry:catalog:*", "repository:alice/x:bogus",
                       "garbage", "repository(plugin):alice/x:pull")
        access = tokens.payload(t)["access"]
        self.assertEqual(access, [
            {"type": "repository", "name": "alice/x", "actions": ["pull", "push", "delete"]},
            {"type": "repository", "name": "team/x", "actions": ["pull"]},
            {"type": "registry", "name": "catalog", "actions": ["*"]}])
        p = tokens.payload(t)
        self.assertEqual((p["iss"], p["aud"], p["sub"]), ("octoserve", "octoserve", "alice"))
        self.assertLessEqual(p["exp"] - p["iat"], 300)
        anon = tokens.payload(self.token(None, self.all_scope("public/x"), self.all_scope("alice/x")))
        self.assertEqual(anon["sub"], "")
        self.assertEqual(anon["access"], [{"type": "repository", "name": "public/x", "actions": ["pull"]}])
        root = tokens.payload(self.token("root", self.all_scope("anything/at/all")))
        self.assertEqual(root["access"][0]["actions"], ["pull", "push", "delete"])

    def test_oauth2_form_post(self):
        form = urllib.parse.urlencode({"grant_type": "password", "username": "alice",
                                       "password": PASSWORDS["alice"], "service": "octoserve",
                                       "scope": "repository:alice/x:pull registry:catalog:*",
                                       "client_id": "containerd"}).encode()
        r = self.req("POST", "/auth/token", form, {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r)
        ISSUED.append(r.json()["access_token"])
        self.assertEqual(len(tokens.payload(r.json()["access_token"])["access"]), 2)
        bad = form.replace(PASSWORDS["alice"].encode(), b"nope")
        r = self.req("POST", "/auth/token", bad, {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertError(r, 401, "UNAUTHORIZED")
        r = self.req("POST", "/auth/token", b"grant_type=refresh_token&refresh_token=x",
                     {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertError(r, 400, "UNSUPPORTED")
        r = self.req("POST", "/auth/token", b"grant_type=password&username=a%3Ab&password=x",
                     {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertError(r, 400, "UNSUPPORTED")  # not a user name
        r = self.req("POST", "/auth/token", b"%zz", {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertError(r, 400, "UNSUPPORTED")

    def test_outside_registry_auth(self):
        for path in ("/livez", "/readyz", "/metrics"):
            self.assertEqual(self.req("GET", path).status, 200, path)
        self.assertEqual(self.req("GET", "/auth/token").status, 200)  # an anonymous token

    def test_realm_follows_external_url_and_forwarded_scheme(self):
        r = self.req("GET", "/v2/", headers={"Host": "reg.example:8443", "X-Forwarded-Proto": "https"})
        self.assertTrue(r.header("WWW-Authenticate").startswith(
            'Bearer realm="https://reg.example:8443/auth/token"'), r.header("WWW-Authenticate"))

    def test_realm_under_external_url(self):
        with Registry({"server": {"external_url": "https://registry.example/"},
                       "auth": {"htpasswd": {"path": self.htpasswd}}}) as reg:
            r = reg.request("GET", "/v2/x/manifests/latest")
            self.assertEqual(r.header("WWW-Authenticate"),
                             'Bearer realm="https://registry.example/auth/token",service="octoserve",'
                             'scope="repository:x:pull"')
            self.assertEqual(r.json()["errors"][0]["detail"], "repository:x:pull")

    def test_readonly_store_still_logs_in(self):
        # a read-only store cannot take the key a first start would make: one must be given
        cfg = {"storage": {"readonly": True}, "auth": {"htpasswd": {"path": self.htpasswd}}}
        reg = Registry(cfg)
        try:
            os.makedirs(reg.data)
            p = subprocess.run([FCGI_BIN, "-c", reg.config_path], capture_output=True, text=True,
                               env=dict(os.environ, OCTOSERVE_FCGI_LISTEN="unix:" + reg.tmp + "/s"))
            self.assertEqual(p.returncode, 1, p)
            self.assertIn("set auth.token.signing_key", p.stderr)
            self.assertFalse(os.path.exists(os.path.join(reg.data, "auth")))
        finally:
            reg.cleanup()
        key = tokens.Key(self.dir, "readonly")
        cfg["auth"]["token"] = {"signing_key": key.priv}
        with Registry(cfg) as reg:
            form = urllib.parse.urlencode({"grant_type": "password", "username": "alice",
                                           "password": PASSWORDS["alice"]}).encode()
            r = reg.request("POST", "/auth/token", form,
                            {"Content-Type": "application/x-www-form-urlencoded"})
            self.assertEqual(r.status, 200, r)
            token = r.json()["token"]
            ISSUED.append(token)
            r = reg.request("POST", "/v2/alice/x/blobs/uploads/", headers=bearer(token))
            self.assertEqual(r.status, 401, r)  # the token has no push scope: auth comes first
            self.assertEqual(reg.request("GET", "/v2/", headers=bearer(token)).status, 200)
            for _ in range(2):  # failures counted in memory: the store takes no write
                reg.request("GET", "/auth/token", headers={"Authorization": basic("alice", "x")})
            self.assertFalse(os.path.exists(os.path.join(reg.data, "auth", "failures")))

    def test_htpasswd_change_is_read(self):
        write_htpasswd(self.htpasswd, dict(PASSWORDS, dave="dave-Pw-5"))
        SECRETS.append("dave-Pw-5")
        time.sleep(0.01)
        r = self.req("GET", "/auth/token?service=octoserve",
                     headers={"Authorization": basic("dave", "dave-Pw-5")})
        self.assertEqual(r.status, 200, r)
        ISSUED.append(r.json()["token"])
        with open(self.htpasswd, "a") as f:  # a scheme refused: the users read before stay
            f.write("eve:$apr1$abcdefgh$0123456789abcdefghijkl\n")
        r = self.req("GET", "/auth/token?service=octoserve",
                     headers={"Authorization": basic("dave", "dave-Pw-5")})
        self.assertEqual(r.status, 200, r)
        ISSUED.append(r.json()["token"])
        write_htpasswd(self.htpasswd, PASSWORDS)


class RulesTest(AuthBase):
    """Each user x repository x action against the rules."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        self = cls("run")
        cls.images = {repo: self.push_image(repo, "v1") for repo in
                      ("team/app", "alice/app", "public/app", "other/app")}

    TABLE = [  # user, repository, action, allowed
        ("alice", "alice/app", "pull", True), ("alice", "alice/app", "push", True),
        ("alice", "alice/app", "delete", True),
        ("alice", "team/app", "pull", True), ("alice", "team/app", "push", False),
        ("alice", "team/app", "delete", False),
        ("alice", "public/app", "pull", True), ("alice", "public/app", "push", True),
        ("alice", "public/app", "delete", False),
        ("alice", "other/app", "pull", False),
        ("bob", "alice/app", "pull", False), ("bob", "alice/app", "push", False),
        ("bob", "team/app", "pull", False), ("bob", "public/app", "pull", True),
        ("bob", "public/app", "push", True), ("bob", "public/app", "delete", False),
        ("carol", "team/app", "pull", True), ("carol", "team/app", "push", True),
        ("carol", "team/app", "delete", False), ("carol", "alice/app", "pull", False),
        ("root", "other/app", "pull", True), ("root", "other/app", "push", True),
        ("root", "alice/app", "delete", True),
        (None, "public/app", "pull", True), (None, "public/app", "push", False),
        (None, "team/app", "pull", False), (None, "alice/app", "delete", False),
    ]

    def attempt(self, headers, repo, action):
        if action == "pull":
            return [self.req("GET", "/v2/%s/manifests/v1" % repo, headers=headers),
                    self.req("GET", "/v2/%s/tags/list" % repo, headers=headers),
                    self.req("GET", "/v2/%s/blobs/%s" % (repo, self.images[repo][1]), headers=headers),
                    self.req("GET", "/v2/%s/referrers/%s" % (repo, self.images[repo][0]), headers=headers)]
        if action == "push":
            return [self.req("POST", "/v2/%s/blobs/uploads/" % repo, headers=headers)]
        # delete: an upload's cancel is a push; a manifest that does not exist keeps the table
        # repeatable (404 once allowed)
        return [self.req("DELETE", "/v2/%s/manifests/sha256:%s" % (repo, "0" * 64), headers=headers)]

    def test_table(self):
        for user, repo, action, allowed in self.TABLE:
            with self.subTest(user=user, repo=repo, action=action):
                h = bearer(self.token(user, self.all_scope(repo)))
                for r in self.attempt(h, repo, action):
                    if allowed:
                        self.assertIn(r.status, (200, 202, 404), r)
                        if r.status == 404:
                            self.assertEqual(r.error_code(), "MANIFEST_UNKNOWN", r)
                    elif user is None:
                        self.assertChallenge(r, scope="repository:%s:%s" % (
                            repo, {"pull": "pull", "push": "pull,push", "delete": "delete"}[action]))
                    else:
                        self.assertError(r, 403, "DENIED")
                # tokenless: anonymous rules only
                if user is None:
                    for r in self.attempt({}, repo, action):
                        self.assertEqual(r.status in (200, 202, 404), allowed, r)

    def test_catalog_filtered(self):
        expect = {"alice": ["alice/app", "public/app", "team/app"], "bob": ["public/app"],
                  "carol": ["public/app", "team/app"],
                  "root": ["alice/app", "other/app", "public/app", "team/app"], None: ["public/app"]}
        for user, repos in expect.items():
            with self.subTest(user=user):
                h = bearer(self.token(user, "registry:catalog:*"))
                r = self.req("GET", "/v2/_catalog", headers=h)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["repositories"], repos)
                r = self.req("GET", "/v2/_catalog?n=1", headers=h)
                self.assertEqual(r.json()["repositories"], repos[:1])
        self.assertEqual(self.req("GET", "/v2/_catalog").json()["repositories"], ["public/app"])
        r = self.req("GET", "/v2/_catalog", headers=bearer(self.token("alice")))
        self.assertChallenge(r, scope="registry:catalog:*", error="insufficient_scope")

    def test_mounts_across_repositories(self):
        config = self.images["alice/app"][1]
        bob = bearer(self.token("bob", "repository:public/bob:pull,push", "repository:alice/app:pull"))
        r = self.req("POST", "/v2/public/bob/blobs/uploads/?mount=%s&from=alice/app" % config, headers=bob)
        self.assertEqual(r.status, 202, r)  # a plain upload: never a sign that the blob exists
        r = self.req("POST", "/v2/public/bob/blobs/uploads/?mount=%s" % config, headers=bob)
        self.assertEqual(r.status, 202, r)  # the automatic mount too
        self.assertEqual(self.req("HEAD", "/v2/public/bob/blobs/%s" % config, headers=bob).status, 404)
        carol = bearer(self.token("carol", "repository:team/carol:pull,push"))
        r = self.req("POST", "/v2/team/carol/blobs/uploads/?mount=%s" % config, headers=carol)
        self.assertEqual(r.status, 202, r)  # alice/app links it, and carol may not pull that
        alice = bearer(self.token("alice", "repository:public/alice:pull,push", "repository:alice/app:pull"))
        r = self.req("POST", "/v2/public/alice/blobs/uploads/?mount=%s&from=alice/app" % config,
                     headers=alice)
        self.assertEqual(r.status, 201, r)
        root = bearer(self.token("root", "repository:other/x:pull,push"))
        r = self.req("POST", "/v2/other/x/blobs/uploads/?mount=%s" % config, headers=root)
        self.assertEqual(r.status, 201, r)
        # the automatic mount links what a repository the caller may pull links, through the
        # index of each blob's repositories: alice's own blob for alice, public's for bob
        alice = bearer(self.token("alice", "repository:public/alice2:pull,push"))
        r = self.req("POST", "/v2/public/alice2/blobs/uploads/?mount=%s" % config, headers=alice)
        self.assertEqual(r.status, 201, r)
        public = self.images["public/app"][1]
        r = self.req("POST", "/v2/public/bob/blobs/uploads/?mount=%s" % public, headers=bob)
        self.assertEqual(r.status, 201, r)
        # an entry whose link is gone (deleted) is no way in either
        other = self.push_image("other/del", "v1")[1]
        r = self.req("DELETE", "/v2/other/del/blobs/%s" % other,
                     headers=bearer(self.token("root", self.all_scope("other/del"))))
        self.assertEqual(r.status, 202, r)
        r = self.req("POST", "/v2/other/y/blobs/uploads/?mount=%s" % other,
                     headers=bearer(self.token("root", "repository:other/y:pull,push")))
        self.assertEqual(r.status, 201, r)  # root: any blob in the store, as without auth
        r = self.req("POST", "/v2/public/carol/blobs/uploads/?mount=%s" % other,
                     headers=bearer(self.token("carol", "repository:public/carol:pull,push")))
        self.assertEqual(r.status, 202, r)  # other/y links it now, and carol may not pull that
        # the index is a hint: an entry naming a repository carol may pull, which does not
        # link the blob, gives her nothing
        hexd = other.split(":")[1]
        planted = os.path.join(self.reg.data, "blob-repos", "sha256", hexd[:2], hexd, "public+fake")
        self.assertTrue(os.path.isdir(os.path.dirname(planted)))
        open(planted, "w").close()
        r = self.req("POST", "/v2/public/carol/blobs/uploads/?mount=%s" % other,
                     headers=bearer(self.token("carol", "repository:public/carol:pull,push")))
        self.assertEqual(r.status, 202, r)

    def test_delete_of_a_tag(self):
        digest, _ = self.push_image("alice/gone", "v1", as_user="alice")
        r = self.req("DELETE", "/v2/alice/gone/manifests/v1",
                     headers=bearer(self.token("bob", self.all_scope("alice/gone"))))
        self.assertError(r, 403, "DENIED")
        r = self.req("DELETE", "/v2/alice/gone/manifests/v1",
                     headers=bearer(self.token("alice", self.all_scope("alice/gone"))))
        self.assertEqual(r.status, 202, r)

    def test_denial_logged_with_user_and_rule(self):
        self.req("GET", "/v2/alice/app/manifests/v1",
                 headers=bearer(self.token("bob", self.all_scope("alice/app"))))
        lines = log_events(self.reg, "access denied")
        self.assertTrue(any(d["user"] == "bob" and d["scope"] == "repository:alice/app:pull" and
                            d["rule"] == "auth.rules[2]" for d in lines), lines[-3:])


class ThrottleTest(AuthBase):
    extra = {"auth": {"failures": {"limit": 3, "window": "1m"}}}

    def wrong(self, user, source):
        return self.req("GET", "/auth/token?service=octoserve",
                        headers={"Authorization": basic(user, "wrong")}, source=source)

    def test_per_user(self):
        for _ in range(3):
            self.assertEqual(self.wrong("alice", "127.0.0.2").status, 401)
        for source in ("127.0.0.2", "127.0.0.5"):  # the user is limited, from any address
            r = self.token("alice", expect=429, source=source)
            self.assertError(r, 429, "TOOMANYREQUESTS")
            self.assertTrue(0 < int(r.header("Retry-After")) <= 60, r.header("Retry-After"))
        self.token("bob", source="127.0.0.5")  # another user is not

    def test_per_address(self):
        for user in ("u1", "u2", "u3"):
            self.assertEqual(self.wrong(user, "127.0.0.3").status, 401)
        self.assertError(self.token("carol", expect=429, source="127.0.0.3"), 429, "TOOMANYREQUESTS")
        self.token("carol", source="127.0.0.4")
        failed = log_events(self.reg, "login failed")
        self.assertTrue(any(d["user"] == "u1" and d["remote_addr"] == "127.0.0.3" for d in failed))


class OutsideIssuerKeysTest(AuthBase):
    """Tokens minted here, as other issuers make them, against keys from PEM, JWKS and a CA."""
    rules = []  # no rules: the token decides

    @classmethod
    def configure(cls):
        d = tempfile.mkdtemp(prefix="octoserve-keys-")
        cls.keydir = d
        cls.ec = tokens.Key(d, "ec")
        cls.ec384 = tokens.Key(d, "ec384", "ec384")
        cls.rsa = tokens.Key(d, "rsa", "rsa")
        cls.ed = tokens.Key(d, "ed", "ed25519")
        cls.old = tokens.Key(d, "old")
        cls.stranger = tokens.Key(d, "stranger")
        cls.ca = tokens.Key(d, "ca")
        ca_cert = cls.ca.cert(d, "ca")
        cls.leaf = tokens.Key(d, "leaf")
        cls.leaf_cert = cls.leaf.cert(d, "leaf", (cls.ca, ca_cert[0]))
        other_ca = tokens.Key(d, "otherca")
        cls.rogue = tokens.Key(d, "rogue")
        cls.rogue_cert = cls.rogue.cert(d, "rogue", (other_ca, other_ca.cert(d, "otherca")[0]))
        jwks = os.path.join(d, "jwks.json")
        with open(jwks, "w") as f:
            json.dump({"keys": [cls.rsa.jwk("rsa-1"), cls.ed.jwk("ed-1"), cls.ec384.jwk(),
                                {"kty": "oct", "use": "enc", "k": "AAAA"}]}, f)
        cls.keys_path = [cls.ec.pub, cls.old.pub]
        return {"auth": {"token": {"keys": cls.keys_path, "jwks": jwks, "ca_bundle": ca_cert[0]}}}

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        subprocess.run(["rm", "-rf", cls.keydir])

    def use(self, token, repo="ext/app", method="GET"):
        ISSUED.append(token)
        return self.req(method, "/v2/%s/tags/list" % repo, headers=bearer(token))

    def good(self, **kw):
        return tokens.claims("mallory", tokens.repo_access("ext/app", "pull"), **kw)

    def test_accepted(self):
        now = int(time.time())
        cases = {
            "ES256, libtrust kid": tokens.mint(self.ec, self.good()),
            "ES384 from JWKS by libtrust kid": tokens.mint(self.ec384, self.good()),
            "RS256 from JWKS by its kid": tokens.mint(self.rsa, self.good(), {"kid": "rsa-1"}),
            "RS256 from JWKS by libtrust kid": tokens.mint(self.rsa, self.good()),
            "EdDSA from JWKS": tokens.mint(self.ed, self.good(), {"kid": "ed-1"}),
            "x5c chain to the CA": tokens.mint(self.leaf, self.good(), {
                "kid": None, "x5c": [base64.b64encode(self.leaf_cert[1]).decode()]}),
            "expired within the leeway": tokens.mint(self.ec, self.good(now=now - 320)),
            "aud as an array": tokens.mint(self.ec, self.good(aud=["other", "octoserve"])),
            "the issuer's own token": self.token("alice", "repository:ext/app:pull"),
        }
        for name, token in cases.items():
            with self.subTest(name):
                r = self.use(token)
                self.assertIn(r.status, (200, 404), r)  # 404: NAME_UNKNOWN, past auth
                if r.status == 404:
                    self.assertEqual(r.error_code(), "NAME_UNKNOWN")

    def test_refused(self):
        now = int(time.time())
        good = tokens.mint(self.ec, self.good())
        head, body, sig = good.split(".")
        flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
        cases = {
            "expired": tokens.mint(self.ec, self.good(now=now - 400)),
            "not yet valid": tokens.mint(self.ec, self.good(nbf=now + 300)),
            "no exp": tokens.mint(self.ec, dict(self.good(), exp=None)),
            "wrong audience": tokens.mint(self.ec, self.good(aud="other")),
            "wrong issuer": tokens.mint(self.ec, self.good(iss="evil")),
            "wrong signature": ".".join([head, body, flipped]),
            "claims changed": ".".join([head, tokens.b64url(json.dumps(
                tokens.claims("mallory", tokens.repo_access("ext/app", "pull", "push"))).encode()), sig]),
            "alg none": tokens.mint(self.ec, self.good(), alg="none"),
            "HS256 keyed with the public key": tokens.mint(self.ec, self.good(), alg="HS256"),
            "RS256 header on an EC key": tokens.mint(self.ec, self.good(), alg="RS256"),
            "unknown kid": tokens.mint(self.stranger, self.good()),
            "no kid": tokens.mint(self.ec, self.good(), {"kid": None}),
            "x5c from another CA": tokens.mint(self.rogue, self.good(), {
                "kid": None, "x5c": [base64.b64encode(self.rogue_cert[1]).decode()]}),
            "x5c not matching the signer": tokens.mint(self.stranger, self.good(), {
                "x5c": [base64.b64encode(self.leaf_cert[1]).decode()]}),
            "crit header": tokens.mint(self.ec, self.good(), {"crit": ["exp"]}),
            "not a JWT": "abc.def",
            "four parts": good + ".x",
            "padding": head + "=." + body + "." + sig,
        }
        for name, token in cases.items():
            with self.subTest(name):
                self.assertChallenge(self.use(token), scope="repository:ext/app:pull",
                                     error="invalid_token")

    def test_scope_for_another_repository(self):
        token = tokens.mint(self.ec, tokens.claims("mallory", tokens.repo_access("ext/other", "pull", "push")))
        self.assertChallenge(self.use(token), scope="repository:ext/app:pull", error="insufficient_scope")
        token = tokens.mint(self.ec, self.good())
        r = self.use(token, method="GET")
        self.assertIn(r.status, (200, 404))
        r = self.req("POST", "/v2/ext/app/blobs/uploads/", headers=bearer(token))
        self.assertChallenge(r, scope="repository:ext/app:pull,push", error="insufficient_scope")

    def test_rotated_key(self):
        old = tokens.mint(self.old, self.good())
        new = tokens.mint(self.ec, self.good())
        self.assertIn(self.use(old).status, (200, 404))
        with open(self.reg.config_path) as f:
            cfg = json.load(f)
        cfg["auth"]["token"]["keys"] = [self.ec.pub]  # the old key is retired
        with open(self.reg.config_path, "w") as f:
            json.dump(cfg, f)
        self.reg.restart()
        try:
            self.assertChallenge(self.use(old), error="invalid_token")
            self.assertIn(self.use(new).status, (200, 404))
        finally:
            cfg["auth"]["token"]["keys"] = self.keys_path
            with open(self.reg.config_path, "w") as f:
                json.dump(cfg, f)
            self.reg.restart()


DISTRIBUTION = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def start_distribution(directory, realm, cert):
    """Debian's docker-registry (CNCF Distribution 2.8) with auth.token: our issuer as its
    realm, our signing key's certificate as its rootcertbundle. (process, port)."""
    port = free_port()
    cfg = os.path.join(directory, "distribution.yml")
    with open(cfg, "w") as f:
        f.write("""version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: {d}/distribution-data
http:
  addr: 127.0.0.1:{port}
  secret: {secret}
auth:
  token:
    realm: {realm}
    service: octoserve
    issuer: octoserve
    rootcertbundle: {cert}
""".format(d=directory, port=port, secret=os.urandom(8).hex(), realm=realm, cert=cert))
    log = open(os.path.join(directory, "distribution.log"), "ab")
    proc = subprocess.Popen([DISTRIBUTION, "serve", cfg], stdout=log, stderr=log)
    log.close()
    if not fronts.wait_for_http(port, proc):
        fronts.stop_process(proc)
        raise AssertionError("docker-registry did not come up; see %s" % directory)
    return proc, port


class SharedKeyTest(AuthBase):
    """Nodes sharing auth.token.signing_key take each other's tokens (a cluster); a node with a
    key of its own refuses them. And Distribution configured with our key's certificate takes
    our issuer's tokens."""

    @classmethod
    def configure(cls):
        cls.key = tokens.Key(cls.dir, "shared")
        cls.cert = cls.key.cert(cls.dir, "shared")[0]
        return {"auth": {"token": {"signing_key": cls.key.priv}}}

    def other(self, shared):
        cfg = {"auth": {"htpasswd": {"path": self.htpasswd}, "rules": self.rules,
                        "groups": GROUPS, "admin_group": "admins"}}
        if shared:
            cfg["auth"]["token"] = {"signing_key": self.key.priv}
        return Registry(cfg)

    def test_token_works_on_every_node(self):
        token = self.token("alice", "repository:alice/x:pull,push")
        self.assertEqual(tokens.payload(token)["sub"], "alice")
        for shared in (True, False):
            with self.subTest(shared=shared), self.other(shared) as node:
                r = node.request("POST", "/v2/alice/x/blobs/uploads/", headers=bearer(token))
                if shared:
                    self.assertEqual(r.status, 202, r)
                else:
                    self.assertEqual(r.status, 401, r)
                    self.assertIn('error="invalid_token"', r.header("WWW-Authenticate"))

    def test_distribution_takes_our_tokens(self):
        realm = "http://127.0.0.1:%d/auth/token" % self.reg.port
        proc, port = start_distribution(self.dir, realm, self.cert)
        try:
            def d(method, path, body=None, headers=None):
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                try:
                    return self.reg.request(method, path, body=body, headers=headers, conn=c)
                finally:
                    c.close()
            r = d("GET", "/v2/")
            self.assertEqual(r.status, 401, r)
            self.assertIn('realm="%s"' % realm, r.header("WWW-Authenticate"))
            token = self.token("alice", "repository:alice/interop:pull,push")
            data = b"through Distribution"
            r = d("POST", "/v2/alice/interop/blobs/uploads/", headers=bearer(token))
            self.assertEqual(r.status, 202, r)
            location = r.header("Location")
            path = urllib.parse.urlsplit(location)
            url = path.path + "?" + path.query + "&digest=" + sha256(data)
            r = d("PUT", url, data, dict(bearer(token), **{"Content-Type": "application/octet-stream"}))
            self.assertEqual(r.status, 201, r)
            r = d("GET", "/v2/alice/interop/blobs/" + sha256(data), headers=bearer(token))
            self.assertEqual((r.status, r.body), (200, data))
            # its scope checked: another repository is refused, and so is a token of another key
            r = d("GET", "/v2/bob/interop/blobs/" + sha256(data), headers=bearer(token))
            self.assertEqual(r.status, 401, r)
            forged = tokens.mint(tokens.Key(self.dir, "forger"),
                                 tokens.claims("alice", tokens.repo_access("alice/interop", "pull")))
            ISSUED.append(forged)
            r = d("GET", "/v2/alice/interop/blobs/" + sha256(data), headers=bearer(forged))
            self.assertEqual(r.status, 401, r)
        finally:
            fronts.stop_process(proc, timeout=15)


class VerifiedCacheTest(AuthBase):
    """A token verified once is remembered by its bytes, and its times are still checked at each
    use: past its exp (no leeway here) the same token is refused."""
    rules = []

    @classmethod
    def configure(cls):
        cls.key = tokens.Key(cls.dir, "short")
        return {"auth": {"token": {"keys": [cls.key.pub], "leeway": "0s"}}}

    def test_expiry_checked_at_every_use(self):
        token = tokens.mint(self.key, tokens.claims("mallory", tokens.repo_access("c/x", "pull"), life=2))
        ISSUED.append(token)
        for _ in range(3):
            self.assertEqual(self.req("GET", "/v2/c/x/tags/list", headers=bearer(token)).status, 404)
        time.sleep(3)
        r = self.req("GET", "/v2/c/x/tags/list", headers=bearer(token))
        self.assertChallenge(r, error="invalid_token")
        self.assertIn("expired", r.json()["errors"][0]["detail"])
        # a token with the same claims but another signature is verified on its own
        head, body, sig = tokens.mint(self.key, tokens.claims("mallory", tokens.repo_access("c/x", "pull"))).split(".")
        forged = ".".join([head, body, sig[:-4] + ("AAAA" if sig[-4:] != "AAAA" else "BBBB")])
        self.assertChallenge(self.req("GET", "/v2/c/x/tags/list", headers=bearer(forged)), error="invalid_token")


class StartTest(unittest.TestCase):
    """Files that do not read stop the responder at start, saying why."""

    def check_refused(self, cfg, words):
        reg = Registry(dict(cfg, fcgi={"listen": "unix:" + os.path.join(tempfile.mkdtemp(), "s")}))
        try:
            p = reg.admin("check-config", check=False)
            self.assertNotEqual(p.returncode, 0, p.stdout)
            for w in words:
                self.assertIn(w, p.stderr)
            for args in (["--check-config"], []):  # the check, and the start itself
                p = subprocess.run([FCGI_BIN, "-c", reg.config_path] + args, capture_output=True,
                                   text=True, timeout=60)
                self.assertEqual(p.returncode, 1, p)
                for w in words:
                    self.assertIn(w, p.stderr)
            log = log_text(reg)
            for w in words:
                self.assertIn(w, log)
        finally:
            reg.cleanup()

    def test_md5_htpasswd(self):
        d = tempfile.mkdtemp(prefix="octoserve-auth-")
        path = os.path.join(d, "htpasswd")
        subprocess.run(["htpasswd", "-cbm", path, "old", "pw"], check=True, capture_output=True)
        self.check_refused({"auth": {"htpasswd": {"path": path}}}, ["line 1", "apr1"])
        subprocess.run(["rm", "-rf", d])

    def test_bad_keys(self):
        d = tempfile.mkdtemp(prefix="octoserve-auth-")
        junk = os.path.join(d, "junk.pem")
        with open(junk, "w") as f:
            f.write("not a key\n")
        self.check_refused({"auth": {"token": {"realm": "https://issuer.example/token",
                                               "keys": [junk]}}}, ["junk.pem"])
        subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    unittest.main(verbosity=2)
