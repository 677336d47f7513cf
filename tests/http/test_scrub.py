# SPDX-License-Identifier: Apache-2.0
"""octoserve-admin scrub: every blob and manifest hashed again; a flipped byte and a truncated
file are found, moved to quarantine/ and reported (and a dry run only reports); stats and
/metrics say what the last scrub found."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import IN_BUCKET, Registry  # noqa: E402
from suite import unique_bytes  # noqa: E402


def content_path(reg, digest):
    hexd = digest.split(":", 1)[1]
    return os.path.join(reg.data, "blobs", "sha256", hexd[:2], hexd)


@unittest.skipIf(IN_BUCKET, "damage on disk: tests/s3/test_bucket.py damages the bucket's")
class ScrubTest(unittest.TestCase):

    def test_finds_flipped_and_truncated_content(self):
        with Registry() as reg:
            good = reg.push_blob("s/img", unique_bytes(5000, "good"))
            flip_bytes = unique_bytes(5000, "flip")
            flipped = reg.push_blob("s/img", flip_bytes)
            cut = reg.push_blob("s/img", unique_bytes(5000, "cut"))
            manifest = reg.push_manifest("s/img", "v1")
            clean = reg.admin("scrub", "--json").json
            self.assertEqual((clean["corrupt"], clean["blobs"]), (0, 5))  # 3 + config + manifest
            with open(content_path(reg, flipped), "r+b") as f:
                f.seek(1234)
                byte = f.read(1)
                f.seek(1234)
                f.write(bytes([byte[0] ^ 0x01]))
            os.truncate(content_path(reg, cut), 4000)

            dry = reg.admin("scrub", "--dry-run", "--json", check=False)
            self.assertEqual(dry.returncode, 3)  # damage found
            self.assertEqual({i["digest"] for i in dry.json["items"]}, {flipped, cut})
            self.assertEqual(dry.json["quarantined"], 0)
            self.assertTrue(os.path.exists(content_path(reg, flipped)))

            p = reg.admin("scrub", check=False)
            self.assertEqual(p.returncode, 3)
            self.assertIn("corrupt %s: 5000 bytes that hash to" % flipped, p.stdout)
            self.assertIn("corrupt %s: 4000 bytes" % cut, p.stdout)
            for d in (flipped, cut):
                self.assertFalse(os.path.exists(content_path(reg, d)))
                r = reg.request("GET", "/v2/s/img/blobs/%s" % d)
                self.assertEqual(r.status, 404, r)  # never served damaged
            quarantined = sorted(os.listdir(os.path.join(reg.data, "quarantine")))
            self.assertEqual([q.split(".")[0] for q in quarantined],
                             sorted("sha256-" + d.split(":")[1] for d in (flipped, cut)))
            self.assertEqual(reg.request("HEAD", "/v2/s/img/blobs/%s" % good).status, 200)
            self.assertEqual(reg.request("HEAD", "/v2/s/img/manifests/%s" % manifest).status, 200)
            # the client pushes the blob again and it is whole
            self.assertEqual(reg.push_blob("s/img", flip_bytes), flipped)
            r = reg.request("GET", "/v2/s/img/blobs/%s" % flipped)
            self.assertEqual(r.body, flip_bytes)
            stats = reg.admin("stats", "--json").json
            self.assertEqual(stats["last_scrub"]["corrupt"], 2)
            self.assertEqual(stats["last_scrub"]["quarantined"], 2)
            self.assertIn("2 corrupt, 2 quarantined", reg.admin("stats").stdout)
            metrics = reg.request("GET", "/metrics").body.decode()
            self.assertIn("octoserve_scrub_corrupt_total 2", metrics)
            self.assertIn("octoserve_scrub_runs_total 2", metrics)  # the dry run not counted
            self.assertEqual(reg.admin("scrub", "--json").json["corrupt"], 0)


if __name__ == "__main__":
    unittest.main()
