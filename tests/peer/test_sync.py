#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Anti-entropy between real nodes (each a web front, a responder and a peer daemon on its
own store), every sync interval: with factor 2 of 3, every node serves every blob and
exactly 2 hold it once a round has passed (the node a blob was pushed to drops its copy once
both holders have verified theirs; a copy fetched for a client stays, as a cache); a node
whose store is wiped and started again as the same node id gets back every record (which
its peers' outboxes will never send again: their cursors are past them) and its share of the
blobs; a member that is down is not placed around before the grace period (a restart moves
nothing), and is after it; a new member takes its share and the holders it replaces let go;
a node stopped during 50 pushes serves them all once back; a node away longer than
p2p.replication.max_absence sets its repositories aside and rejoins empty."""
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

from peers import Node, blob_file, holders, merged, wait_for  # noqa: E402

SYNC = {"replication": {"factor": 2, "strategy": "eager", "sync_interval": "1s"}}




def data_for(ids, want, factor=2):
    """Random bytes whose digest the members `want` hold."""
    while True:
        data = os.urandom(20000)
        d = "sha256:" + hashlib.sha256(data).hexdigest()
        if holders(ids, d, factor) == set(want):
            return data, d


class SyncTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="octoserve-sync-")
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def node(self, node_id, bootstrap=(), p2p=SYNC, port=None):
        n = Node(self.tmp, node_id, bootstrap, p2p=p2p, port=port)
        self.nodes.append(n)
        return n

    def three(self, prefix, p2p=SYNC):
        n1 = self.node(prefix + "1", p2p=p2p)
        n2 = self.node(prefix + "2", [n1.daemon.address], p2p=p2p)
        n3 = self.node(prefix + "3", [n1.daemon.address], p2p=p2p)
        nodes = [n1, n2, n3]
        ids = [n.node_id for n in nodes]
        self.assertIsNotNone(wait_for(lambda: all(
            all(n.daemon.states().get(o) == "up" for o in ids if o != n.node_id)
            for n in nodes), 30))
        return nodes

    def holding(self, nodes, digest):
        return {n.node_id for n in nodes if os.path.exists(blob_file(n, digest))}

    def test_factor_2_of_3_exactly_2_hold_it(self):
        nodes = self.three("f")
        n1 = nodes[0]
        ids = [n.node_id for n in nodes]
        pushed = {}
        for i in range(8):
            # the first held by the other two (random ones all held by node 1: 1 run in 26)
            data = data_for(ids, {nodes[1].node_id, nodes[2].node_id})[0] if i == 0 else \
                os.urandom(30000 + i)
            pushed[n1.reg.push_blob("sync/factor", data)] = data
        # one sync interval later (generously): on exactly its 2 holders, wherever pushed
        for d in pushed:
            self.assertIsNotNone(
                wait_for(lambda: self.holding(nodes, d) == holders(ids, d, 2), 20),
                (d, self.holding(nodes, d), holders(ids, d, 2)))
        self.assertTrue(any(n1.node_id not in holders(ids, d, 2) for d in pushed),
                        "no blob was pushed to a node that is not its holder: nothing tested")
        st = n1.daemon.status()
        self.assertGreater(st["anti_entropy"]["copies_dropped"] +
                           sum(1 for d in pushed if n1.node_id in holders(ids, d, 2)), 0)
        # every node serves every blob; a copy fetched for a client is a cache, and stays
        for n in nodes:
            for d, data in pushed.items():
                r = n.get("/v2/sync/factor/blobs/%s" % d)
                self.assertEqual((r.status, r.body), (200, data), (n.node_id, d))
        for d in pushed:
            self.assertEqual(self.holding(nodes, d), set(ids))
        wait_for(lambda: False, 3)  # three rounds more: no cache copy is dropped
        for d in pushed:
            self.assertEqual(self.holding(nodes, d), set(ids))

    def test_a_new_member_takes_its_share_and_the_old_holders_let_go(self):
        nodes = self.three("m")
        n1 = nodes[0]
        ids = [n.node_id for n in nodes]
        pushed = [n1.reg.push_blob("sync/members", os.urandom(20000 + i)) for i in range(12)]
        for d in pushed:
            self.assertIsNotNone(
                wait_for(lambda: self.holding(nodes, d) == holders(ids, d, 2), 20))
        n4 = self.node("m4", [n1.daemon.address])
        nodes.append(n4)
        ids.append(n4.node_id)
        moved = [d for d in pushed if holders(ids, d, 2) != holders(ids[:3], d, 2)]
        self.assertTrue(moved, "no blob's holders changed with the fourth member")
        # only the copies whose holders changed move: to the new member, and away from the
        # holder it replaces once the new one has verified its own
        for d in pushed:
            self.assertIsNotNone(
                wait_for(lambda: self.holding(nodes, d) == holders(ids, d, 2), 30),
                (d, self.holding(nodes, d), holders(ids, d, 2)))
        self.assertEqual(sum(n.daemon.log_text().count("a surplus copy dropped")
                             for n in nodes[:3]),
                         len(moved) + sum(1 for d in pushed
                                          if n1.node_id not in holders(ids[:3], d, 2)))

    def test_a_node_stopped_during_50_pushes_serves_them_all(self):
        nodes = self.three("p")
        n1, n2, n3 = nodes
        n3.daemon.stop(signal.SIGKILL)
        self.assertIsNotNone(wait_for(lambda: n1.daemon.states().get(n3.node_id) == "down" and
                                      n2.daemon.states().get(n3.node_id) == "down", 20))
        pushed = []
        for i in range(50):
            n = (n1, n2)[i % 2]
            data = os.urandom(10000 + i)
            pushed.append(("p%02d" % i, n.reg.push_blob("sync/fifty", data), data,
                           n.reg.push_manifest("sync/fifty", "p%02d" % i)))
        n3.daemon.start()
        t0 = time.monotonic()

        def listed():  # one request a poll: the figure is not the polling's
            tags = n3.get("/v2/sync/fifty/tags/list")
            return tags.status == 200 and len(tags.json()["tags"]) == 50
        self.assertIsNotNone(wait_for(listed, 60), "node 3 never listed the 50 pushes")
        took = time.monotonic() - t0
        for t, _, _, m in pushed:
            self.assertEqual(
                n3.get("/v2/sync/fifty/manifests/%s" % t).header("Docker-Content-Digest"), m, t)
        for _, d, data, _ in pushed:
            r = n3.get("/v2/sync/fifty/blobs/%s" % d)
            self.assertEqual((r.status, r.body), (200, data), d)
        print("a node stopped during 50 pushes to the others serves all 50 %.2f s after its "
              "start (sync_interval 1 s)" % took, file=sys.stderr)

    def test_a_wiped_node_rebuilds_its_share(self):
        nodes = self.three("w")
        n1, n2, n3 = nodes
        ids = [n.node_id for n in nodes]
        digests = [n1.reg.push_manifest("sync/wiped", "t%d" % i) for i in range(5)]
        blobs = [n2.reg.push_blob("sync/wiped", os.urandom(25000 + i)) for i in range(6)]
        self.assertEqual(n1.reg.request("DELETE", "/v2/sync/wiped/manifests/t0").status, 202)
        for d in blobs:
            self.assertIsNotNone(
                wait_for(lambda: self.holding(nodes, d) == holders(ids, d, 2), 20))
        share = {d for d in blobs if n3.node_id in holders(ids, d, 2)}
        self.assertTrue(share, "node 3 holds none of the blobs: nothing tested")
        self.assertIsNotNone(wait_for(lambda: n3.get("/v2/sync/wiped/tags/list").status == 200
                                      and len(n3.get("/v2/sync/wiped/tags/list")
                                              .json()["tags"]) == 4, 20))
        # node 3's disk is replaced: a new store, the same node id and peer port
        port = n3.peer_port
        n3.close()
        self.nodes.remove(n3)
        old_store = [m["store"] for m in n1.daemon.status()["members"] if m["id"] == "w3"][0]
        n3 = self.node(n3.node_id, [n1.daemon.address], port=port)
        nodes = [n1, n2, n3]
        # its peers notice the new store
        self.assertIsNotNone(wait_for(
            lambda: "a member answers from a new store" in n1.daemon.log_text(), 20))
        new_store = [m["store"] for m in n1.daemon.status()["members"] if m["id"] == "w3"][0]
        self.assertNotEqual(new_store, old_store)
        self.assertEqual(len(new_store), 32)
        self.assertIsNotNone(wait_for(
            lambda: n3.get("/v2/sync/wiped/tags/list").status == 200 and
            sorted(n3.get("/v2/sync/wiped/tags/list").json()["tags"]) ==
            ["t1", "t2", "t3", "t4"], 30), "node 3 never got its records back")
        for i, d in enumerate(digests):
            self.assertEqual(n3.get("/v2/sync/wiped/manifests/%s" % d).status, 200)
        self.assertEqual(n3.get("/v2/sync/wiped/manifests/t0").status, 404)
        for d in share:  # its share comes back whatever the strategy, without a client asking
            self.assertIsNotNone(wait_for(lambda: os.path.exists(blob_file(n3, d)), 30), d)
        for d in blobs:
            self.assertEqual(self.holding(nodes, d), holders(ids, d, 2), d)
        # its rounds say what they repaired (the status is written at a round's end)
        self.assertIsNotNone(wait_for(lambda: (n3.daemon.status() or {}).get(
            "anti_entropy", {}).get("records", 0) > 0, 20), n3.daemon.status())

    def test_a_restart_moves_nothing_a_long_absence_does(self):
        p2p = {"replication": {"factor": 2, "strategy": "eager", "sync_interval": "1s",
                               "grace_period": "6s"}}
        nodes = self.three("g", p2p)
        n1, n2, n3 = nodes
        ids = [n.node_id for n in nodes]
        # held by nodes 2 and 3; pushed to node 1, which drops its copy
        data, d = data_for(ids, {n2.node_id, n3.node_id})
        n1.reg.push_blob("sync/grace", data)
        self.assertIsNotNone(wait_for(
            lambda: self.holding(nodes, d) == {n2.node_id, n3.node_id}, 20))
        n3.daemon.stop(signal.SIGKILL)
        self.assertIsNotNone(wait_for(lambda: n1.daemon.states().get(n3.node_id) == "down",
                                      20))
        # within the grace period: node 3 still counts, nothing is placed around it
        wait_for(lambda: False, 3)
        self.assertEqual(self.holding([n1, n2], d), {n2.node_id})
        self.assertIsNotNone(wait_for(lambda: n1.node_id in self.holding([n1], d), 20),
                             "past the grace period the blob never got a second holder")
        self.assertEqual(self.holding([n1, n2], d), {n1.node_id, n2.node_id})
        # node 3 back: the placement is what it was, node 1's copy goes once 2 and 3 hold it
        n3.daemon.start()
        self.assertIsNotNone(wait_for(
            lambda: self.holding(nodes, d) == {n2.node_id, n3.node_id}, 30))

    def test_a_node_away_too_long_rejoins_empty(self):
        p2p = merged(SYNC, {"replication": {"max_absence": "4s"}})
        n1 = self.node("a1", p2p=p2p)
        n2 = self.node("a2", [n1.daemon.address], p2p=p2p)
        n1.reg.push_manifest("sync/away", "v1")
        self.assertIsNotNone(wait_for(lambda: n2.get("/v2/sync/away/manifests/v1").status == 200,
                                      20))
        # a round reached a member: the contact is on record
        self.assertIsNotNone(wait_for(lambda: (n2.daemon.status() or {}).get(
            "anti_entropy", {}).get("members") == 1, 20))
        # back after less than the longest absence: it rejoins as it is
        n2.daemon.stop()
        n2.daemon.start().wait_started()
        self.assertNotIn("max_absence", n2.daemon.log_text())
        # a write only node 2 took, with no member to reach; then node 2 away for longer
        n1.daemon.stop(signal.SIGKILL)
        n2.reg.push_manifest("sync/alone", "only2")
        wait_for(lambda: False, 1)
        n2.daemon.stop()
        n1.daemon.start().wait_started()
        wait_for(lambda: False, 4)
        n2.daemon.start().wait_started()
        log = n2.daemon.log_text()
        self.assertIn("its repositories are set aside, unsent, and the node rejoins empty", log)
        # what it held is set aside in its store, not lost; the stale write reaches no one
        aside = os.listdir(os.path.join(n2.reg.data, "stale"))
        self.assertEqual(len(aside), 1)
        self.assertTrue(os.path.isdir(os.path.join(
            n2.reg.data, "stale", aside[0], "repositories", "sync", "away")))
        # it rejoins empty: the cluster's names come back, its own stale one does not
        self.assertIsNotNone(wait_for(lambda: n2.get("/v2/sync/away/manifests/v1").status == 200,
                                      30), "node 2 never got the cluster's names back")
        wait_for(lambda: False, 3)  # rounds both ways
        for n in (n1, n2):
            self.assertEqual(n.get("/v2/sync/alone/manifests/only2").status, 404, n.node_id)
            self.assertEqual(n.get("/v2/sync/alone/tags/list").status, 404, n.node_id)


if __name__ == "__main__":
    unittest.main()
