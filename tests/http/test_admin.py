# SPDX-License-Identifier: Apache-2.0
"""octoserve-admin as an operator uses it: check-config, purge-uploads (on demand, a dry run
first, never a session in use), its errors, and `serve`, which runs the periodic work (here:
gc every second) until SIGTERM."""
import fcntl
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ADMIN_BIN, Registry  # noqa: E402
from suite import unique_bytes  # noqa: E402


def open_session(reg, repo, data=b""):
    r = reg.request("POST", "/v2/%s/blobs/uploads/" % repo)
    assert r.status == 202, r
    loc = r.header("Location")
    if data:
        r = reg.request("PATCH", loc, body=data,
                        headers={"Content-Type": "application/octet-stream"})
        assert r.status == 202, r
    return loc.rsplit("/", 1)[1].split("?")[0]


class AdminTest(unittest.TestCase):

    def test_check_config(self):
        with Registry() as reg:
            self.assertEqual(reg.admin("check-config").stdout, "configuration ok\n")
            p = reg.admin("check-config", check=False,
                          env=dict(reg.env, OCTOSERVE_STORAGE_GC_GRACE="soon"))
            self.assertEqual(p.returncode, 1)
            self.assertIn("storage.gc.grace", p.stderr)
            p = reg.admin("check-config", check=False,
                          env=dict(reg.env, OCTOSERVE_STORAGE_GC_REFERRERS="maybe"))
            self.assertIn("storage.gc.referrers", p.stderr)
            p = reg.admin("frobnicate", check=False)
            self.assertEqual(p.returncode, 2)
            self.assertIn("no such command", p.stderr)
            p = reg.admin("gc", "--grace", "x", check=False)
            self.assertEqual(p.returncode, 2)
            self.assertIn("not a duration", p.stderr)

    def test_purge_uploads(self):
        with Registry() as reg:
            old = open_session(reg, "p/img", unique_bytes(3000, "old"))
            empty = open_session(reg, "p/img")
            busy = open_session(reg, "p/img", unique_bytes(10, "busy"))
            uploads = os.path.join(reg.data, "uploads")
            time.sleep(4)
            # young has 3 s before it is as old: the runs below take far less (sanitizers too)
            young = open_session(reg, "p/img", unique_bytes(10, "young"))
            dry = reg.admin("purge-uploads", "--dry-run", "--older-than", "3s", "--json").json
            self.assertEqual(dry["sessions"], 3)
            self.assertTrue(os.path.isdir(os.path.join(uploads, old)))
            # a request holds the busy session: never removed under it
            with open(os.path.join(uploads, busy, "data"), "rb") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                got = reg.admin("purge-uploads", "--older-than", "3s", "--json").json
            self.assertEqual((got["sessions"], got["bytes"]), (2, 3000))
            for sid, there in ((old, False), (empty, False), (busy, True), (young, True)):
                self.assertEqual(os.path.isdir(os.path.join(uploads, sid)), there, sid)
            r = reg.request("GET", "/v2/p/img/blobs/uploads/%s" % old)
            self.assertEqual(r.status, 404, r)
            self.assertEqual(reg.request("GET", "/v2/p/img/blobs/uploads/%s" % young).status,
                             204)
            metrics = reg.request("GET", "/metrics").body.decode()
            self.assertIn("octoserve_uploads_purged_total 2", metrics)
            self.assertIn("octoserve_uploads_purged_bytes_total 3000", metrics)
            # without --older-than: storage.upload_ttl (24h), so nothing is old enough
            self.assertIn("removed 0 upload session(s)", reg.admin("purge-uploads").stdout)

    def test_serve_runs_gc_periodically_until_sigterm(self):
        with Registry(config={"storage": {"gc": {"interval": "1s", "grace": "0s"}}}) as reg:
            lone = reg.push_blob("serve/img", unique_bytes(2000, "lone"))
            hexd = lone.split(":")[1]
            path = os.path.join(reg.data, "blobs", "sha256", hexd[:2], hexd)
            proc = subprocess.Popen([ADMIN_BIN, "-c", reg.config_path, "serve"], env=reg.env)
            try:
                deadline = time.time() + 20
                while os.path.exists(path) and time.time() < deadline:
                    time.sleep(0.1)
                self.assertFalse(os.path.exists(path), "serve ran no collection")
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(timeout=10), 0)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            with open(os.path.join(reg.tmp, "octoserve.log")) as f:
                log = f.read()
            self.assertIn('"garbage collected"', log)
            self.assertIn('"stopped"', log)


if __name__ == "__main__":
    unittest.main()
