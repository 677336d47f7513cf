#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Records through a real front: every tag, revision, blob link and referrer entry is a record
file stamped with the clock, wall time and node of the journal event that wrote it; a delete
leaves a tombstone under _tombstones/ (the thing is gone for every reader), a later write
undoes it, and tombstones past storage.tombstone_ttl are removed by the responder's collection
(under faketime, two hours on)."""
import json
import os
import shutil
import unittest

from harness import Registry, sha256

FAKETIME = shutil.which("faketime")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
NODE = "node-r1.example"


def read_record(path):
    """(hlc, time_ms, kind, node, value bytes) of a record file."""
    with open(path, "rb") as f:
        head, _, value = f.read().partition(b"\n")
    hlc, time_ms, kind, node = head.decode().split(" ")
    return int(hlc), int(time_ms), kind, node, value


class RecordTest(unittest.TestCase):

    def setUp(self):
        self.reg = Registry(config={"p2p": {"node_id": NODE}}).__enter__()
        self.repo = "rec/app"
        self.base = os.path.join(self.reg.data, "repositories", self.repo)

    def tearDown(self):
        self.reg.__exit__(None, None, None)

    def events(self):
        return [json.loads(line) for line in self.reg.journal_lines() if line]

    def event_for(self, key):
        """The last event that wrote key, and that record of it."""
        for e in reversed(self.events()):
            for r in e.get("records", []):
                if r["key"] == key:
                    return e, r
        self.fail("no event wrote %s" % key)

    def assertRecord(self, key, value):
        """key's live record holds value, stamped as its event says."""
        hlc, time_ms, kind, node, got = read_record(os.path.join(self.base, key))
        e, r = self.event_for(key)
        self.assertEqual((kind, got), ("v", value))
        self.assertEqual(r.get("value"), value.decode())
        self.assertEqual((hlc, time_ms, node), (e["hlc"], e["time_ms"], e["node"]))
        self.assertEqual(node, NODE)
        self.assertFalse(os.path.exists(os.path.join(self.base, "_tombstones", key)))
        return hlc

    def assertTombstone(self, key):
        """key has a tombstone, stamped as its event says, and no live file."""
        self.assertFalse(os.path.exists(os.path.join(self.base, key)), key)
        hlc, time_ms, kind, node, value = read_record(os.path.join(self.base, "_tombstones", key))
        e, r = self.event_for(key)
        self.assertEqual((kind, value, r.get("tombstone")), ("t", b"", True))
        self.assertEqual((hlc, time_ms, node), (e["hlc"], e["time_ms"], e["node"]))
        return hlc

    def put_manifest(self, ref, body):
        r = self.reg.request("PUT", "/v2/%s/manifests/%s" % (self.repo, ref), body=body,
                             headers={"Content-Type": OCI_MANIFEST})
        self.assertEqual(r.status, 201, r)
        return sha256(body)

    def test_writes_and_deletes(self):
        reg, repo = self.reg, self.repo
        layer = b"layer bytes " * 100
        ld = reg.push_blob(repo, layer)
        config = reg.push_blob(repo, b"{}")
        link = "_layers/sha256/" + ld.split(":")[1]
        self.assertRecord(link, str(len(layer)).encode())
        image = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config, "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": ld, "size": len(layer)}]}).encode()
        d = self.put_manifest("v1", image)
        rev = "_manifests/revisions/sha256/" + d.split(":")[1]
        self.assertRecord(rev, OCI_MANIFEST.encode())
        first = self.assertRecord("_manifests/tags/v1", d.encode())

        # a referrer: its entry is a record holding its descriptor
        sig = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.sig",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                       "digest": config, "size": 2},
            "layers": [], "subject": {"mediaType": OCI_MANIFEST, "digest": d,
                                      "size": len(image)}}).encode()
        sd = self.put_manifest(sha256(sig), sig)
        entry = "_referrers/sha256/%s/sha256-%s" % (d.split(":")[1], sd.split(":")[1])
        desc = read_record(os.path.join(self.base, entry))[4]
        self.assertEqual(json.loads(desc)["digest"], sd)
        self.assertRecord(entry, desc)

        # a tag deleted: a tombstone, gone for every reader
        self.assertEqual(reg.request("DELETE", "/v2/%s/manifests/v1" % repo).status, 202)
        gone = self.assertTombstone("_manifests/tags/v1")
        self.assertGreater(gone, first)
        self.assertEqual(reg.request("GET", "/v2/%s/manifests/v1" % repo).status, 404)
        self.assertEqual(reg.request("GET", "/v2/%s/tags/list" % repo).json()["tags"], [])
        self.assertEqual(reg.request("DELETE", "/v2/%s/manifests/v1" % repo).status, 404)
        # and a later write undoes it
        self.put_manifest("v1", image)
        self.assertGreater(self.assertRecord("_manifests/tags/v1", d.encode()), gone)
        self.assertEqual(reg.request("GET", "/v2/%s/tags/list" % repo).json()["tags"], ["v1"])

        # the referrer deleted: its revision and its entry become tombstones
        self.assertEqual(reg.request("DELETE", "/v2/%s/manifests/%s" % (repo, sd)).status, 202)
        self.assertTombstone(entry)
        self.assertTombstone("_manifests/revisions/sha256/" + sd.split(":")[1])
        self.assertEqual(reg.request("GET", "/v2/%s/referrers/%s" % (repo, d)).json()["manifests"],
                         [])
        # the image by digest: revision and tag (each tag its own event)
        self.assertEqual(reg.request("DELETE", "/v2/%s/manifests/%s" % (repo, d)).status, 202)
        self.assertTombstone(rev)
        self.assertTombstone("_manifests/tags/v1")
        self.assertEqual(reg.request("GET", "/v2/%s/manifests/%s" % (repo, d)).status, 404)
        # a blob link
        self.assertEqual(reg.request("DELETE", "/v2/%s/blobs/%s" % (repo, ld)).status, 202)
        self.assertTombstone(link)
        self.assertEqual(reg.request("HEAD", "/v2/%s/blobs/%s" % (repo, ld)).status, 404)
        reg.push_blob(repo, layer)  # pushed again: linked again
        self.assertRecord(link, str(len(layer)).encode())
        self.assertEqual(reg.request("HEAD", "/v2/%s/blobs/%s" % (repo, ld)).status, 200)

    def test_store_from_before_records(self):
        """Bare tag, revision and link files (what an older version wrote) are served, and the
        next write replaces them with records."""
        reg, repo = self.reg, self.repo
        d = reg.push_manifest(repo, "old")
        config = sha256(b"{}")
        files = {"_manifests/tags/old": d.encode(),
                 "_manifests/revisions/sha256/" + d.split(":")[1]: OCI_MANIFEST.encode(),
                 "_layers/sha256/" + config.split(":")[1]: b""}
        for key, value in files.items():
            with open(os.path.join(self.base, key), "wb") as f:
                f.write(value)
        self.assertEqual(reg.request("GET", "/v2/%s/manifests/old" % repo,
                                     headers={"Accept": OCI_MANIFEST}).status, 200)
        self.assertEqual(reg.request("HEAD", "/v2/%s/blobs/%s" % (repo, config)).status, 200)
        self.assertEqual(reg.request("GET", "/v2/%s/tags/list" % repo).json()["tags"], ["old"])
        self.assertEqual(reg.request("DELETE", "/v2/%s/manifests/old" % repo).status, 202)
        self.assertTombstone("_manifests/tags/old")


@unittest.skipUnless(FAKETIME, "needs faketime")
class ExpiryTest(unittest.TestCase):

    def test_tombstones_expire_after_the_ttl(self):
        cfg = {"storage": {"tombstone_ttl": "1h"}}
        with Registry(config=cfg) as reg:
            reg.push_manifest("exp/r", "a")
            reg.push_manifest("exp/r", "b")
            tomb = os.path.join(reg.data, "repositories", "exp/r", "_tombstones",
                                "_manifests", "tags")
            self.assertEqual(reg.request("DELETE", "/v2/exp/r/manifests/a").status, 202)
            reg.restart()  # the collection at start: an hour has not passed
            self.assertEqual(os.listdir(tomb), ["a"])
            reg.restart(wrap=[FAKETIME, "-f", "+2h"])  # it has now
            self.assertEqual(reg.request("DELETE", "/v2/exp/r/manifests/b").status, 202)
            self.assertEqual(os.listdir(tomb), ["b"])  # a went, b is new
            with open(os.path.join(reg.tmp, "octoserve.log")) as f:
                lines = [json.loads(line) for line in f if '"collected"' in line]
            self.assertIn(1, [e.get("tombstones") for e in lines], lines)
            self.assertEqual(reg.request("GET", "/v2/exp/r/manifests/a").status, 404)


if __name__ == "__main__":
    unittest.main()
