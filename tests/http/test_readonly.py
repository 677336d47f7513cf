# SPDX-License-Identifier: Apache-2.0
"""storage.readonly: every write endpoint answers 405 UNSUPPORTED with a message, reads go on,
/readyz stays 200 and says read-only, and the responder starts on a read-only mount (a tmpfs
remounted read-only) and serves what is there."""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Registry, TmpfsStore, deep_merge, sha256  # noqa: E402
from suite import ResponseAssertions  # noqa: E402


WRITES = [  # every method of every endpoint that changes the store
    ("POST", "/v2/ro/img/blobs/uploads/"),
    ("POST", "/v2/ro/img/blobs/uploads/?digest=%(blob)s"),
    ("POST", "/v2/ro/other/blobs/uploads/?mount=%(blob)s&from=ro/img"),
    ("PATCH", "/v2/ro/img/blobs/uploads/%(session)s"),
    ("PUT", "/v2/ro/img/blobs/uploads/%(session)s?digest=%(blob)s"),
    ("DELETE", "/v2/ro/img/blobs/uploads/%(session)s"),
    ("DELETE", "/v2/ro/img/blobs/%(blob)s"),
    ("PUT", "/v2/ro/img/manifests/v2"),
    ("DELETE", "/v2/ro/img/manifests/v1"),
    ("DELETE", "/v2/ro/img/manifests/%(manifest)s"),
]


class ReadOnlyTest(ResponseAssertions, unittest.TestCase):

    def fill(self, reg):
        """A tagged image and an open upload session, pushed while writable."""
        blob = reg.push_blob("ro/img", b"layer bytes")
        manifest = reg.push_manifest("ro/img", "v1")
        r = reg.request("POST", "/v2/ro/img/blobs/uploads/")
        self.assertEqual(r.status, 202, r)
        session = r.header("Location").rsplit("/", 1)[1].split("?")[0]
        return {"blob": blob, "manifest": manifest, "session": session}

    def set_readonly(self, reg, on):
        with open(reg.config_path) as f:
            cfg = json.load(f)
        deep_merge(cfg, {"storage": {"readonly": on}})
        with open(reg.config_path, "w") as f:
            json.dump(cfg, f)

    def check_reads_only(self, reg, ids):
        for method, path in WRITES:
            with self.subTest(method=method, path=path):
                r = reg.request(method, path % ids, body=b"x" if method != "DELETE" else None)
                self.assertError(r, 405, "UNSUPPORTED", method)
                self.assertIn("read-only", r.json()["errors"][0]["message"] +
                              str(r.json()["errors"][0].get("detail", "")))
                allow = r.header("Allow") or ""
                self.assertNotIn("PUT", allow)
                self.assertNotIn("DELETE", allow)
        for path in ("/v2/", "/v2/_catalog", "/v2/ro/img/tags/list",
                     "/v2/ro/img/manifests/v1", "/v2/ro/img/blobs/%(blob)s" % ids,
                     "/v2/ro/img/referrers/%(manifest)s" % ids,
                     "/v2/ro/img/blobs/uploads/%(session)s" % ids):
            with self.subTest(read=path):
                r = reg.request("GET", path, headers={
                    "Accept": "application/vnd.oci.image.manifest.v1+json"})
                self.assertIn(r.status, (200, 204), (path, r))
        r = reg.request("GET", "/v2/ro/img/blobs/%(blob)s" % ids)
        self.assertEqual(sha256(r.body), ids["blob"])
        r = reg.request("GET", "/readyz")
        self.assertEqual(r.status, 200, r)
        self.assertIn("read-only", r.json()["reason"])

    def test_every_write_refused_reads_go_on(self):
        with Registry() as reg:
            ids = self.fill(reg)
            self.set_readonly(reg, True)
            reg.restart()
            self.check_reads_only(reg, ids)
            self.set_readonly(reg, False)
            reg.restart()
            r = reg.request("DELETE", "/v2/ro/img/manifests/v1")
            self.assertEqual(r.status, 202, r)

    def test_starts_on_a_read_only_mount(self):
        with TmpfsStore(Registry(config={"storage": {"min_free": {"bytes": 0, "inodes": 0}}})) \
                as reg:
            ids = self.fill(reg)
            reg.stop()
            # a responder that is still exiting (slower under the sanitizers) keeps its files
            # open for writing a moment: the remount waits for it
            for _ in range(100):
                if subprocess.run(["mount", "-o", "remount,ro", reg.data],
                                  stderr=subprocess.DEVNULL).returncode == 0:
                    break
                time.sleep(0.1)
            else:
                self.fail("the store could not be remounted read-only")
            self.set_readonly(reg, True)
            reg.start()
            self.check_reads_only(reg, ids)
            r = reg.request("GET", "/metrics")
            self.assertEqual(r.status, 200, r)
            self.assertIn("octoserve_store_blobs", r.body.decode())
            # the admin tool reads it too, and refuses to change it
            self.assertIn("repositories", reg.admin("stats").stdout)
            p = reg.admin("gc", check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("storage.readonly", p.stderr)


if __name__ == "__main__":
    unittest.main()
