#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A full disk on one node of two (its store on a tmpfs with size=, no free-space reserve):
the blob it should hold does not fit, its fetch fails before it fills the disk, and its
daemon says so once however often it retries; nothing partial is committed; the other node keeps serving it; and once
the tmpfs is made larger, the node catches up and serves the blob from its own copy."""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "http"))

from peers import Node, blob_file, holders, metrics, wait_for  # noqa: E402
from harness import free_port  # noqa: E402

MiB = 1024 * 1024



class DiskFullTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="octoserve-diskfull-")
        self.small = os.path.join(self.tmp, "small")
        os.makedirs(self.small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", self.small],
                       check=True)
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.close()
        subprocess.run(["umount", "-l", self.small], check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_a_full_disk_fails_the_transfer_and_catches_up_later(self):
        p2p = {"replication": {"strategy": "eager"}}
        n1 = Node(self.tmp, "full1", p2p=p2p)
        self.nodes.append(n1)
        n2 = Node(self.tmp, "full2", [n1.daemon.address], p2p=p2p,
                  storage={"path": os.path.join(self.small, "data"),
                           "min_free": {"bytes": 0, "inodes": 0}})
        self.nodes.append(n2)
        self.assertIsNotNone(wait_for(lambda: n1.daemon.states().get("full2") == "up" and
                                      n2.daemon.states().get("full1") == "up", 20))
        data = os.urandom(8 * MiB)  # more than node 2's disk holds
        d = n1.reg.push_blob("full/app", data)
        # node 2's fetch meets the full disk and says so; nothing is committed there
        self.assertIsNotNone(wait_for(
            lambda: '"msg":"a fetch cannot be written here"' in n2.daemon.log_text(), 30),
            n2.daemon.log_text())
        self.assertIn("the store has not the space for it", n2.daemon.log_text())
        wait_for(lambda: False, 3)  # retried every second or so: said once, not each time
        self.assertEqual(n2.daemon.log_text().count("a fetch cannot be written here"), 1)
        self.assertFalse(os.path.exists(blob_file(n2, d)))
        # and /metrics counts the failed transfers from node 1
        failed = ("octoserve_peer_failed_fetches_total", (("peer", "full1"),))
        self.assertIsNotNone(wait_for(lambda: metrics(n2).get(failed, 0) > 0, 20))
        # the other node keeps serving it
        r = n1.get("/v2/full/app/blobs/%s" % d)
        self.assertEqual((r.status, r.body == data), (200, True))
        # space returns: node 2 catches up and holds the whole, verified blob
        subprocess.run(["mount", "-o", "remount,size=64m", self.small], check=True)
        t0 = time.monotonic()
        self.assertIsNotNone(wait_for(lambda: os.path.exists(blob_file(n2, d)), 60),
                             "node 2 never caught up once its disk had room")
        took = time.monotonic() - t0
        got = ("octoserve_peer_fetched_bytes_total", (("peer", "full1"),))
        wait_for(lambda: metrics(n2).get(got, 0) >= len(data), 10)  # the next status write
        m = metrics(n2)
        sys.stderr.write("\nnode 2 held the blob %.2f s after its disk had room; %d failed "
                         "fetches before, %d bytes fetched in all\n" % (
                             took, m.get(failed, 0), m.get(got, 0)))
        with open(blob_file(n2, d), "rb") as f:
            self.assertEqual(f.read() == data, True)
        r = n2.get("/v2/full/app/blobs/%s" % d)
        self.assertEqual((r.status, r.body == data), (200, True))

    def test_strong_mode_passes_over_a_member_whose_disk_is_full(self):
        """Strong mode, three nodes, factor 2, node 3's disk too small: a blob whose holders
        include node 3 still gets its two durable copies (the next member by rank is asked
        once node 3 has not fetched it for a while), so the push gets its 201."""
        ports = [free_port() for _ in range(3)]
        addrs = ["127.0.0.1:%d" % p for p in ports]
        for k in (1, 2, 3):
            p2p = {"replication": {"strategy": "eager", "consistency_mode": "strong",
                                   "factor": 2, "strong_timeout": "20s"}}
            storage = ({"path": os.path.join(self.small, "data"),
                        "min_free": {"bytes": 0, "inodes": 0}} if k == 3 else None)
            self.nodes.append(Node(self.tmp, "sfull%d" % k,
                                   [a for a in addrs if a != addrs[k - 1]], port=ports[k - 1],
                                   p2p=p2p, storage=storage))
        n1, n2, n3 = self.nodes
        ids = [n.node_id for n in self.nodes]
        self.assertIsNotNone(wait_for(lambda: all(
            len([st for st in n.daemon.states().values() if st == "up"]) == 2
            for n in self.nodes), 30))
        while True:  # a blob node 3 holds by placement
            data = os.urandom(8 * MiB)
            d = "sha256:" + hashlib.sha256(data).hexdigest()
            if "sfull3" in holders(ids, d, 2):
                break
        t0 = time.monotonic()
        r = n1.reg.post_blob("full/strong", data)
        took = time.monotonic() - t0
        self.assertEqual(r.status, 201, r)
        self.assertFalse(os.path.exists(blob_file(n3, d)))
        self.assertEqual({n.node_id for n in (n1, n2) if os.path.exists(blob_file(n, d))},
                         {"sfull1", "sfull2"})
        sys.stderr.write("\nstrong push past the full node confirmed in %.2f s\n" % took)


if __name__ == "__main__":
    unittest.main()
