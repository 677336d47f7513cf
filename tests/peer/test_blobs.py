#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Blob content between real nodes, each a web front, a responder and a peer daemon on its
own store. eager: a blob pushed to node 1 is on node 2's disk before anyone asks, and
served there. lazy: it stays on node 1 until a client asks node 2; HEAD answers from the
replicated link (its size) without fetching; a GET streams the bytes as they arrive (the
first ones reach the client while node 2 is still fetching) and node 2 then holds the blob.
hybrid: eager below the threshold, lazy above. No peer with the blob answering: 503 with
Retry-After, and the blob once it is back. A daemon killed mid-transfer resumes from the
bytes it had and verifies the whole."""
import hashlib
import os
import shutil
import signal
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "http"))

from peers import Node, wait_for  # noqa: E402

MiB = 1024 * 1024


def blob_file(node, digest):
    hexd = digest.split(":", 1)[1]
    return os.path.join(node.reg.data, "blobs", "sha256", hexd[:2], hexd)


def incoming_file(node, digest):
    return os.path.join(node.reg.data, "peer", "incoming", digest.replace(":", "-"))


class BlobTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="octoserve-blobs-")
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def pair(self, prefix, p2p, p2p_2=None):
        """Two nodes that know each other, both up."""
        n1 = Node(self.tmp, prefix + "1", p2p=p2p)
        self.nodes.append(n1)
        n2 = Node(self.tmp, prefix + "2", [n1.daemon.address], p2p=p2p_2 or p2p)
        self.nodes.append(n2)
        self.assertIsNotNone(wait_for(lambda: n1.daemon.states().get(n2.node_id) == "up" and
                                      n2.daemon.states().get(n1.node_id) == "up", 20))
        return n1, n2

    def blob_path(self, repo, digest):
        return "/v2/%s/blobs/%s" % (repo, digest)

    def linked(self, node, repo, digest):
        """Wait until node answers HEAD for the blob (its link replicated)."""
        ok = wait_for(lambda: node.reg.request("HEAD", self.blob_path(repo, digest)).status == 200,
                      20)
        self.assertIsNotNone(ok, "the link never reached %s" % node.node_id)

    def test_eager_brings_the_blob_before_anyone_asks(self):
        n1, n2 = self.pair("e", {"replication": {"strategy": "eager"}})
        data = os.urandom(300000)
        d = n1.reg.push_blob("blobs/eager", data)
        self.assertIsNotNone(wait_for(lambda: os.path.exists(blob_file(n2, d)), 20),
                             "node 2 never held the blob")
        with open(blob_file(n2, d), "rb") as f:
            self.assertEqual(f.read(), data)
        r = n2.get(self.blob_path("blobs/eager", d))
        self.assertEqual((r.status, r.body, r.header("Docker-Content-Digest")), (200, data, d))

    def test_lazy_fetches_on_the_first_get(self):
        n1, n2 = self.pair("l", {"replication": {"strategy": "lazy"}})
        data = os.urandom(2 * MiB + 17)
        d = n1.reg.push_blob("blobs/lazy", data)
        self.linked(n2, "blobs/lazy", d)
        h = n2.reg.request("HEAD", self.blob_path("blobs/lazy", d))
        self.assertEqual((h.header("Content-Length"), h.header("Docker-Content-Digest")),
                         (str(len(data)), d))
        time.sleep(1)  # several replication rounds: still nothing fetched
        self.assertFalse(os.path.exists(blob_file(n2, d)), "lazy fetched before a GET")
        r = n2.get(self.blob_path("blobs/lazy", d))
        self.assertEqual((r.status, r.header("Docker-Content-Digest")), (200, d))
        self.assertEqual(hashlib.sha256(r.body).hexdigest(), d.split(":")[1])
        self.assertTrue(os.path.exists(blob_file(n2, d)))
        # and a range of it, now from node 2's own copy
        r = n2.get(self.blob_path("blobs/lazy", d), headers={"Range": "bytes=10-19"})
        self.assertEqual((r.status, r.body), (206, data[10:20]))

    def test_hybrid_is_eager_below_the_threshold(self):
        n1, n2 = self.pair("h", {"replication": {"strategy": "hybrid",
                                                 "hybrid_threshold": 1000000}})
        small, big = os.urandom(200000), os.urandom(1200000)
        db = n1.reg.push_blob("blobs/hybrid", big)
        ds = n1.reg.push_blob("blobs/hybrid", small)
        self.assertIsNotNone(wait_for(lambda: os.path.exists(blob_file(n2, ds)), 20))
        self.linked(n2, "blobs/hybrid", db)
        time.sleep(0.5)
        self.assertFalse(os.path.exists(blob_file(n2, db)), "a blob above the threshold went eagerly")
        self.assertEqual(n2.get(self.blob_path("blobs/hybrid", db)).body, big)

    def test_no_reachable_holder_is_503_then_served(self):
        n1, n2 = self.pair("u", {"replication": {"strategy": "lazy", "fetch_timeout": "5s"}})
        data = os.urandom(100000)
        d = n1.reg.push_blob("blobs/gone", data)
        self.linked(n2, "blobs/gone", d)
        n1.daemon.stop(signal.SIGKILL)
        t0 = time.monotonic()
        r = n2.get(self.blob_path("blobs/gone", d))
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.error_code(), "BLOB_UNKNOWN")
        self.assertIsNotNone(r.header("Retry-After"))
        self.assertLess(time.monotonic() - t0, 30)
        n1.daemon.start()
        self.assertIsNotNone(
            wait_for(lambda: n2.get(self.blob_path("blobs/gone", d)).status == 200, 30),
            "the blob was not served once its holder was back")
        self.assertEqual(n2.get(self.blob_path("blobs/gone", d)).body, data)

    def test_first_bytes_come_while_fetching_and_a_killed_fetch_resumes(self):
        # node 2 takes at most 1 MiB/s from a peer, in chunks of about 64 KiB
        fast = {"replication": {"strategy": "lazy"}, "transport": {"max_message_size": 65536}}
        slow = {"replication": {"strategy": "lazy"},
                "transport": {"rate_limit": MiB, "max_message_size": 65536}}
        n1, n2 = self.pair("s", fast, slow)
        data = os.urandom(4 * MiB)
        d = n1.reg.push_blob("blobs/slow", data)
        self.linked(n2, "blobs/slow", d)
        c = n2.reg.connection()
        c.request("GET", self.blob_path("blobs/slow", d))
        resp = c.getresponse()
        self.assertEqual(resp.status, 200)
        first = resp.read(64 * 1024)
        self.assertEqual(first, data[:64 * 1024])
        self.assertFalse(os.path.exists(blob_file(n2, d)), "the first bytes waited for the whole")
        # kill node 2's daemon mid-transfer: the client's response is cut short
        part = incoming_file(n2, d)
        self.assertIsNotNone(wait_for(lambda: os.path.getsize(part) >= MiB, 20))
        n2.daemon.stop(signal.SIGKILL)
        have = os.path.getsize(part)
        self.assertLess(have, len(data))
        try:
            rest = resp.read()
            self.assertLess(len(first) + len(rest), len(data), "a whole body without a commit")
        except Exception:  # noqa: BLE001 - a cut connection is what is expected
            pass
        c.close()
        n2.daemon.start()
        r = n2.get(self.blob_path("blobs/slow", d))
        self.assertEqual((r.status, hashlib.sha256(r.body).hexdigest()), (200, d.split(":")[1]))
        with open(n2.daemon.log) as f:
            log = f.read()
        self.assertIn("a fetch resumes", log)
        self.assertNotIn('"offset":0,', log)


if __name__ == "__main__":
    unittest.main()
