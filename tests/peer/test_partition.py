#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A real network partition between real nodes (eventual mode): each node's peer daemon in
a network namespace of its own (tests/peer/netns.py), its web front and responder on the
host's loopback, so that clients reach every node while node 3 is cut off from the other
two. During the cut each side shows the other down and keeps taking pushes; after the heal
every image that got a 201 on either side is served byte for byte by every node, a tag
written on both sides converges to one digest everywhere, and deletes made on either side
stay deleted."""
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "http"))

import netns  # noqa: E402
from peers import OCI, Node, metrics, served, wait_for  # noqa: E402


PORT = 6000  # every daemon at its own address: one port for all


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()



def setUpModule():
    netns.remove_stale()


class PartitionTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="octoserve-partition-")
        self.net = netns.Net(3)
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.close()
        self.net.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def cluster(self):
        first = "%s:%d" % (self.net.address(1), PORT)
        for k in (1, 2, 3):
            p2p = {"listen_address": self.net.address(k),
                   "advertise_address": "%s:%d" % (self.net.address(k), PORT),
                   "replication": {"sync_interval": "1s"}}
            self.nodes.append(Node(self.tmp, "part%d" % k, [] if k == 1 else [first], port=PORT,
                                   p2p=p2p, wrap=self.net.wrap(k)))
        ids = {n.node_id for n in self.nodes}
        self.assertIsNotNone(wait_for(lambda: all(
            {m for m, s in n.daemon.states().items() if s == "up"} == ids - {n.node_id}
            for n in self.nodes), 30), [n.daemon.states() for n in self.nodes])
        return self.nodes

    def image(self, node, repo, tag, note):
        """A layer, a config and a manifest naming them, pushed to node; the three."""
        layer = os.urandom(30000)
        config = json.dumps({"note": note}).encode()
        body = json.dumps({
            "schemaVersion": 2, "mediaType": OCI,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": sha256(layer), "size": len(layer)}]}).encode()
        node.reg.push_blob(repo, layer)
        node.reg.push_blob(repo, config)
        r = node.reg.request("PUT", "/v2/%s/manifests/%s" % (repo, tag), body=body,
                             headers={"Content-Type": OCI})
        self.assertEqual(r.status, 201, r)
        return {"repo": repo, "tag": tag, "manifest": body, "blobs": [layer, config]}

    def test_a_node_cut_off_takes_pushes_and_converges_after_the_heal(self):
        n1, n2, n3 = self.cluster()
        before = self.image(n1, "part/app", "v1", "before")
        old = self.image(n1, "part/app", "old", "old")
        self.assertIsNotNone(wait_for(lambda: all(served(n, before) and served(n, old)
                                                  for n in (n2, n3)), 30))
        self.net.cut(3)
        # each side sees the other down
        self.assertIsNotNone(wait_for(
            lambda: n1.daemon.states().get("part3") == "down" and
            n2.daemon.states().get("part3") == "down" and
            n3.daemon.states().get("part1") == "down" and
            n3.daemon.states().get("part2") == "down", 30),
            [n.daemon.states() for n in self.nodes])
        # both sides keep taking pushes: new images, the same tag, deletes
        majority = self.image(n1, "part/app", "a", "on the side of nodes 1 and 2")
        minority = self.image(n3, "part/app", "b", "on node 3's side")
        race = [self.image(n2, "part/app", "race", "race on node 2"),
                self.image(n3, "part/app", "race", "race on node 3")]
        self.assertEqual(n3.reg.request("DELETE", "/v2/part/app/manifests/v1").status, 202)
        self.assertEqual(n1.reg.request(
            "DELETE", "/v2/part/app/manifests/%s" % sha256(old["manifest"])).status, 202)
        self.assertFalse(served(n1, minority))  # nothing crosses the cut
        self.assertFalse(served(n3, majority))
        # /metrics on each side says so: a member down, changes waiting for it
        m1 = metrics(n1)
        self.assertEqual(m1[("octoserve_peer_members", (("state", "down"),))], 1)
        self.assertEqual(m1[("octoserve_peer_members", (("state", "up"),))], 1)
        self.assertIsNotNone(wait_for(lambda: metrics(n1)[
            ("octoserve_peer_outbox_events", (("peer", "part3"),))] > 0, 10))
        self.assertEqual(metrics(n3)[("octoserve_peer_members", (("state", "down"),))], 2)
        self.net.heal(3)
        t0 = time.monotonic()
        self.assertIsNotNone(wait_for(lambda: all(
            served(n, majority) and served(n, minority) for n in self.nodes), 60),
            "an image that got a 201 during the cut is not served everywhere")
        took = time.monotonic() - t0
        race_digests = {sha256(img["manifest"]) for img in race}

        def race_agreed():
            got = {n.get("/v2/part/app/manifests/race").header("Docker-Content-Digest")
                   for n in self.nodes}
            return len(got) == 1 and got <= race_digests
        self.assertIsNotNone(wait_for(race_agreed, 30),
                             [n.get("/v2/part/app/manifests/race").header(
                                 "Docker-Content-Digest") for n in self.nodes])
        # the race's loser lost on the nodes that held the winner: a conflict resolved
        self.assertIsNotNone(wait_for(lambda: sum(  # as of each daemon's next status write
            metrics(n)[("octoserve_peer_conflicts_resolved_total", ())] for n in self.nodes) >= 1,
            10), [metrics(n)[("octoserve_peer_conflicts_resolved_total", ())]
                  for n in self.nodes])
        for img in race:  # the tag's loser is still served by digest
            self.assertTrue(all(served(n, img) for n in self.nodes))
        wait_for(lambda: False, 2)  # rounds both ways: nothing deleted comes back
        for n in self.nodes:
            self.assertEqual(n.get("/v2/part/app/manifests/v1").status, 404, n.node_id)
            self.assertEqual(n.get("/v2/part/app/manifests/%s" %
                                   sha256(old["manifest"])).status, 404, n.node_id)
            self.assertEqual(n.get("/v2/part/app/manifests/old").status, 404, n.node_id)
        for n in self.nodes:
            self.assertEqual({m: s for m, s in n.daemon.states().items()},
                             {m.node_id: "up" for m in self.nodes if m is not n})
        # and after the heal: all up, the outboxes empty
        self.assertIsNotNone(wait_for(lambda: (
            lambda m: m[("octoserve_peer_members", (("state", "up"),))] == 2 and
            m[("octoserve_peer_outbox_events", (("peer", "part3"),))] == 0)(metrics(n1)), 20),
            metrics(n1))
        # what moved: node 1 sent node 3 the changes of the cut, node 3 fetched the blobs of
        # the other side, anti-entropy ran
        m1, m3 = metrics(n1), metrics(n3)
        self.assertGreater(m1[("octoserve_peer_sent_changes_total", (("peer", "part3"),))], 0)
        self.assertGreater(m1[("octoserve_peer_sent_bytes_total", (("peer", "part3"),))], 0)
        self.assertGreater(sum(m3.get(("octoserve_peer_fetched_bytes_total", (("peer", p),)), 0)
                               for p in ("part1", "part2")), 30000)
        self.assertGreater(m3[("octoserve_peer_anti_entropy_rounds_total", ())], 0)
        sys.stderr.write("\nafter the heal every push of the cut was served everywhere in %.2f s\n"
                         % took)


if __name__ == "__main__":
    unittest.main()
