#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A node removed for good (`octoserve-peer forget`) from a cluster of three real nodes, factor
2: the removal spreads as a membership tombstone to the other member, which drops the node
too; the node's copies are made again on the remaining two until every blob is at factor
(each node's status shows its under-replicated count going to zero) and only the copies that
must move move; the node, started again, is refused by both and peer exchange never brings
it back; forget of a bad id or of the node itself is refused."""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "http"))

from peers import PEER, Node, blob_file, holders, metrics, wait_for  # noqa: E402

P2P = {"replication": {"factor": 2, "strategy": "eager", "sync_interval": "1s"}}




class ForgetTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="octoserve-forget-")
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def holding(self, nodes, d):
        return {n.node_id for n in nodes if os.path.exists(blob_file(n, d))}

    def test_a_node_forgotten_for_good(self):
        n1 = Node(self.tmp, "f1", p2p=P2P)
        self.nodes.append(n1)
        for k in (2, 3):
            self.nodes.append(Node(self.tmp, "f%d" % k, [n1.daemon.address], p2p=P2P))
        n1, n2, n3 = self.nodes
        ids = [n.node_id for n in self.nodes]
        self.assertIsNotNone(wait_for(lambda: all(
            sorted(m for m, s in n.daemon.states().items() if s == "up") ==
            sorted(set(ids) - {n.node_id}) for n in self.nodes), 30))
        pushed = [n1.reg.push_blob("forget/app", os.urandom(20000 + i)) for i in range(12)]
        for d in pushed:
            self.assertIsNotNone(wait_for(
                lambda: self.holding(self.nodes, d) == holders(ids, d, 2), 20))
        had3 = [d for d in pushed if "f3" in holders(ids, d, 2)]
        self.assertTrue(had3, "node 3 held none of the blobs: nothing tested")
        # node 3 is lost for good; the operator says so on node 1 only
        n3.daemon.stop(signal.SIGKILL)
        for bad in ("f1", "not an id"):
            r = subprocess.run([PEER, "-c", n1.daemon.config, "forget", bad],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 1, r)
        fetched = ("octoserve_peer_fetched_bytes_total", (("peer", "f1"),))
        before = metrics(n2).get(fetched, 0) + metrics(n1).get(
            ("octoserve_peer_fetched_bytes_total", (("peer", "f2"),)), 0)
        t0 = time.monotonic()
        r = subprocess.run([PEER, "-c", n1.daemon.config, "forget", "f3"], capture_output=True,
                           text=True)
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("f3 is removed from the cluster for good", r.stdout)
        # both remaining nodes drop it (node 2 from node 1's health checks), at once, with no
        # grace period
        self.assertIsNotNone(wait_for(lambda: "f3" not in n1.daemon.states() and
                                      "f3" not in n2.daemon.states(), 20),
                             [n.daemon.states() for n in (n1, n2)])
        self.assertIn("member removed from the cluster for good", n2.daemon.log_text())
        # every blob back at factor 2 on the two left; only node 3's copies moved
        rest = [n1, n2]
        for d in pushed:
            self.assertIsNotNone(wait_for(lambda: self.holding(rest, d) == {"f1", "f2"}, 30),
                                 (d, self.holding(rest, d)))

        def under(n):
            ae = (n.daemon.status() or {}).get("anti_entropy", {})
            return ae.get("under_replicated")
        self.assertIsNotNone(wait_for(lambda: under(n1) == 0 and under(n2) == 0, 20),
                             [under(n) for n in rest])
        took = time.monotonic() - t0
        moved = metrics(n2).get(fetched, 0) + metrics(n1).get(
            ("octoserve_peer_fetched_bytes_total", (("peer", "f2"),)), 0) - before
        sys.stderr.write("\nafter forget every blob was at factor again in %.2f s, %d bytes "
                         "fetched for node 3's %d blobs\n" % (took, moved, len(had3)))
        for n in rest:  # and /metrics says the same
            m = metrics(n)
            self.assertEqual(m[("octoserve_peer_under_replicated_blobs", ())], 0)
            self.assertEqual(m[("octoserve_peer_members", (("state", "up"),))], 1)
        # node 3 started again, with its old store: refused by both, never a member again
        n3.daemon.start().wait_started()
        self.assertIsNotNone(wait_for(
            lambda: "removed from the cluster for good" in n3.daemon.log_text(), 20),
            n3.daemon.log_text())
        wait_for(lambda: False, 2)
        for n in rest:
            self.assertNotIn("f3", n.daemon.states())
        table = subprocess.run([PEER, "-c", n1.daemon.config, "status"], capture_output=True,
                               text=True).stdout
        self.assertIn("0 blob(s) this node should hold and lacks", table)


if __name__ == "__main__":
    unittest.main()
