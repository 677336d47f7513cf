# SPDX-License-Identifier: Apache-2.0
"""auth.trust_front through each front's recipe (contrib/<front>/trust-front.conf): lighttpd
(mod_auth), nginx (auth_basic) and Apache (Require valid-user) check every request's Basic
credentials, and the user they verified is the one auth.rules apply to. A forged
"Authorization: Basic" (a wrong password, an unknown user, no password) never becomes the user:
the front refuses it before the responder sees it. Without a recipe (the front passing no
user), every request is anonymous, never the user a header names."""
import base64
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fronts  # noqa: E402
from harness import Registry, write_htpasswd  # noqa: E402
from suite import assert_not_logged, log_events, log_text  # noqa: E402

PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw"}

RULES = [{"repositories": "alice/*", "users": ["alice"], "actions": ["pull", "push"]},
         {"repositories": "public/*", "anonymous": True, "actions": ["pull"]}]


def basic(user, pw):
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()}


class TrustFront:
    front = None

    @classmethod
    def setUpClass(cls):
        if cls.front != "lighttpd" and not fronts.available(cls.front):
            if os.environ.get("CI"):
                raise AssertionError("%s is not installed" % cls.front)
            raise unittest.SkipTest("%s is not installed" % cls.front)
        cls.dir = tempfile.mkdtemp(prefix="octoserve-front-auth-")
        cls.users = os.path.join(cls.dir, "htpasswd")
        write_htpasswd(cls.users, PASSWORDS)
        os.chmod(cls.dir, 0o755)
        os.chmod(cls.users, 0o644)  # the front's workers read it
        cls.reg = Registry({"auth": {"trust_front": True, "rules": RULES}}, front=cls.front,
                           front_users=cls.users).start()

    @classmethod
    def tearDownClass(cls):
        log = log_text(cls.reg)
        cls.reg.cleanup()
        subprocess.run(["rm", "-rf", cls.dir])
        assert_not_logged(log, list(PASSWORDS.values()) + ["Authorization", "Basic "])

    def logged(self):
        return log_events(self.reg, "request")

    def test_front_user_is_the_caller(self):
        r = self.reg.request("POST", "/v2/alice/img/blobs/uploads/", headers=basic("alice", "alice-pw"))
        self.assertEqual(r.status, 202, r)
        self.assertEqual(self.logged()[-1]["user"], "alice")
        r = self.reg.request("POST", "/v2/alice/img/blobs/uploads/", headers=basic("bob", "bob-pw"))
        self.assertEqual(r.status, 403, r)  # the rules apply to the front's user
        self.assertEqual(json.loads(r.body)["errors"][0]["code"], "DENIED")
        self.assertEqual(self.logged()[-1]["user"], "bob")

    def test_health_stays_outside(self):
        for path in ("/livez", "/readyz", "/metrics"):
            self.assertEqual(self.reg.request("GET", path).status, 200, path)
            # nginx fills $remote_user from this unchecked header there: no user is logged
            r = self.reg.request("GET", path, headers=basic("alice", "forged"))
            self.assertEqual(r.status, 200, path)
            self.assertEqual(self.logged()[-1]["user"], "", path)

    def test_forged_basic_never_becomes_the_user(self):
        before = len(self.logged())
        for headers in (basic("alice", "wrong"), basic("alice", ""), basic("mallory", "x"),
                        {"Authorization": "Basic YWxpY2U="}, {}):
            with self.subTest(headers=headers):
                r = self.reg.request("POST", "/v2/alice/img/blobs/uploads/", headers=headers)
                if r.status == 400:  # lighttpd: credentials without a ':' are malformed
                    self.assertEqual((self.front, headers), ("lighttpd", {"Authorization": "Basic YWxpY2U="}))
                    continue
                self.assertEqual(r.status, 401, r)
                self.assertIn("Basic", r.header("WWW-Authenticate") or "", r)
        # the front answered each: none reached the responder as alice (or at all)
        self.assertFalse([d for d in self.logged()[before:] if d["user"]], self.logged()[before:])


class LighttpdTrustFrontTest(TrustFront, unittest.TestCase):
    front = "lighttpd"


class NginxTrustFrontTest(TrustFront, unittest.TestCase):
    front = "nginx"


class ApacheTrustFrontTest(TrustFront, unittest.TestCase):
    front = "apache"


class NoRecipeTest(unittest.TestCase):
    """The contrib nginx site without the recipe passes no REMOTE_USER: a client's own Basic
    header (which nginx would turn into $remote_user) makes no user of anyone."""

    def test_header_alone_is_anonymous(self):
        if not fronts.available("nginx"):
            raise unittest.SkipTest("nginx is not installed")
        with Registry({"auth": {"trust_front": True, "rules": RULES}}, front="nginx") as reg:
            r = reg.request("POST", "/v2/alice/img/blobs/uploads/", headers=basic("alice", "anything"))
            self.assertEqual(r.status, 401, r)
            self.assertEqual(r.header("WWW-Authenticate"), 'Basic realm="octoserve"')
            self.assertEqual(reg.request("GET", "/v2/public/x/tags/list").status, 404)


if __name__ == "__main__":
    unittest.main(verbosity=2)
