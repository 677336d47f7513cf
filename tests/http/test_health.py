# SPDX-License-Identifier: Apache-2.0
"""GET /livez and /readyz through the front (each contrib front routes them): live while
the responder answers; ready while the store takes writes (writable, journal appendable,
free space above storage.min_free), else 503 with the reason, while reads go on."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Registry, TmpfsStore  # noqa: E402
from suite import ResponseAssertions, log_events  # noqa: E402


class HealthTest(ResponseAssertions, unittest.TestCase):

    def check_health(self, reg, path, status, reason=None):
        r = reg.request("GET", path)
        self.assertEqual(r.status, status, r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(r.header("Cache-Control"), "no-store")
        doc = r.json()
        self.assertEqual(doc["status"], "ok" if status == 200 else "not ready")
        if reason is not None:
            self.assertIn(reason, doc["reason"])
        self.assertEqual(reg.request("HEAD", path).status, status)

    def test_live_and_ready(self):
        with Registry() as reg:
            self.check_health(reg, "/livez", 200)
            self.check_health(reg, "/readyz", 200)
            r = reg.request("POST", "/readyz")
            self.assertError(r, 405, "UNSUPPORTED", "POST")
            self.assertEqual(r.header("Allow"), "GET, HEAD")
            self.assertIn(reg.request("GET", "/readyz/x").status, (403, 404))  # Apache: 403
            # the probe leaves nothing behind
            self.assertFalse(os.path.exists(os.path.join(reg.data, ".writable")))

    def test_not_ready_below_the_free_space_floor(self):
        with Registry(config={"storage": {"min_free": {"bytes": 1 << 59}}}) as reg:
            self.check_health(reg, "/livez", 200)
            self.check_health(reg, "/readyz", 503, "below storage.min_free")
            self.assertEqual(reg.request("GET", "/v2/").status, 200)

    def test_not_ready_on_a_read_only_store(self):
        # no metrics: their shared writable mapping would keep the remount from happening
        with TmpfsStore(Registry(config={"storage": {"min_free": {"bytes": 0, "inodes": 0}},
                                         "metrics": {"enabled": False}})) as reg:
            self.check_health(reg, "/readyz", 200)
            subprocess.run(["mount", "-o", "remount,ro", reg.data], check=True)
            self.check_health(reg, "/readyz", 503, "read-only file system")
            self.check_health(reg, "/livez", 200)
            self.assertEqual(reg.request("GET", "/v2/").status, 200)
            subprocess.run(["mount", "-o", "remount,rw", reg.data], check=True)
            self.check_health(reg, "/readyz", 200)
            self.assertFalse(log_events(reg, "store error"))


if __name__ == "__main__":
    unittest.main()
