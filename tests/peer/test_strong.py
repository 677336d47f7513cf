#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Strong consistency (p2p.replication.consistency_mode "strong") through three real nodes,
each peer daemon in a network namespace of its own (tests/peer/netns.py), every node naming
the other two as its voters, factor 2:

- 20 rounds of a push to node i and a kill -9 of every process of node i right after the
  last 201: the other two serve the image byte for byte (its blobs had two durable copies
  and its records a majority before the 201), and node i comes back;
- two racing pushes of one tag on two nodes: exactly one gets its 201 (the other a 409),
  and every node ends up with the winner's digest;
- a partition: node 3 alone refuses writes with 503 UNAVAILABLE and goes on serving reads;
  the two others take pushes; after the heal node 3 serves them and takes pushes again;
- a daemon that does not answer (SIGSTOP): the push waits strong_timeout and gets 503
  UNAVAILABLE, never a 201; once it answers again, the same push is confirmed."""
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "http"))

import netns  # noqa: E402
from peers import OCI, Node, metrics, served, wait_for  # noqa: E402

PORT = 6000


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest_of(layer, config):
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": sha256(layer), "size": len(layer)}]}).encode()


def setUpModule():
    netns.remove_stale()


class StrongTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="octoserve-strong-")
        cls.net = netns.Net(3, tag="s")
        cls.nodes = []
        try:
            addrs = ["%s:%d" % (cls.net.address(k), PORT) for k in (1, 2, 3)]
            for k in (1, 2, 3):
                p2p = {"listen_address": cls.net.address(k),
                       "advertise_address": addrs[k - 1],
                       "replication": {"consistency_mode": "strong", "factor": 2,
                                       "sync_interval": "1s", "strong_timeout": "5s"}}
                cls.nodes.append(Node(cls.tmp, "strong%d" % k,
                                      [a for a in addrs if a != addrs[k - 1]], port=PORT,
                                      p2p=p2p, wrap=cls.net.wrap(k)))
            cls.wait_all_up()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for n in cls.nodes:
            n.close()
        cls.net.close()
        if os.environ.get("OCTOTEST_KEEP_TMP") is None:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def wait_all_up(cls):
        ids = {n.node_id for n in cls.nodes}
        if wait_for(lambda: all(
                {m for m, s in n.daemon.states().items() if s == "up"} == ids - {n.node_id}
                for n in cls.nodes), 30) is None:
            raise AssertionError([n.daemon.states() for n in cls.nodes])

    def push(self, node, repo, tag, note, blobs=None):
        """Layer, config and a manifest tagged tag, pushed to node (each must answer 201);
        the image."""
        layer, config = blobs or (os.urandom(20000), json.dumps({"note": note}).encode())
        for b in (layer, config):
            r = node.reg.post_blob(repo, b)
            self.assertEqual(r.status, 201, (node.node_id, r))
        body = manifest_of(layer, config)
        r = node.reg.request("PUT", "/v2/%s/manifests/%s" % (repo, tag), body=body,
                             headers={"Content-Type": OCI})
        self.assertEqual(r.status, 201, (node.node_id, r))
        return {"repo": repo, "tag": tag, "manifest": body, "blobs": [layer, config]}

    def kill(self, node):
        """kill -9 of every process of the node (front, responders, peer daemon), until none
        is left: a front killed while it respawns a responder leaves an orphan."""
        marks = (node.reg.tmp.encode(), node.daemon.config.encode())
        for _ in range(50):
            pids = []
            for name in os.listdir("/proc"):
                if not name.isdigit() or int(name) == os.getpid():
                    continue
                try:
                    with open("/proc/%s/cmdline" % name, "rb") as f:
                        cmd = f.read()
                except OSError:
                    continue
                if any(m in cmd for m in marks):
                    pids.append(int(name))
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        node.daemon.stop(signal.SIGKILL)

    def restart(self, node, k):
        node.reg.stop()
        node.reg.start()
        node.daemon.start(wrap=self.net.wrap(k))
        node.daemon.wait_started()

    def test_1_kill_9_right_after_the_201_loses_nothing(self):
        for r in range(20):
            k = r % 3 + 1
            node = self.nodes[k - 1]
            others = [n for n in self.nodes if n is not node]
            img = self.push(node, "strong/kill", "r%d" % r, "round %d" % r)
            self.kill(node)
            # the two copies and the majority were there at the 201: the others serve it
            # (the one that was not in the majority gets the records by anti-entropy)
            self.assertIsNotNone(wait_for(lambda: all(served(n, img, by_tag=True) for n in others),
                                          30), "round %d: lost with node %d" % (r, k))
            self.restart(node, k)
        self.wait_all_up()
        for r in range(20):
            img_tag = "r%d" % r
            digests = {n.get("/v2/strong/kill/manifests/%s" % img_tag).header(
                "Docker-Content-Digest") for n in self.nodes}
            self.assertIsNotNone(wait_for(lambda: len({n.get(
                "/v2/strong/kill/manifests/%s" % img_tag).header("Docker-Content-Digest")
                for n in self.nodes} - {None}) == 1, 30), digests)

    def test_2_racing_writers_of_a_tag_exactly_one_wins(self):
        n1, n2 = self.nodes[0], self.nodes[1]
        for r in range(5):
            tag = "race%d" % r
            imgs = []
            for node, who in ((n1, "one"), (n2, "two")):
                layer, config = os.urandom(5000), json.dumps({"who": who, "r": r}).encode()
                for b in (layer, config):
                    self.assertEqual(node.reg.post_blob("strong/race", b).status, 201)
                imgs.append((node, manifest_of(layer, config)))
            start = threading.Barrier(2)
            got = {}

            def put(node, body):
                start.wait()
                got[node.node_id] = node.reg.request(
                    "PUT", "/v2/strong/race/manifests/%s" % tag, body=body,
                    headers={"Content-Type": OCI})
            threads = [threading.Thread(target=put, args=i) for i in imgs]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            statuses = sorted(g.status for g in got.values())
            self.assertEqual(statuses, [201, 409], {k: (g.status, g.body) for k, g in got.items()})
            loser = [g for g in got.values() if g.status == 409][0]
            self.assertEqual(loser.error_code(), "DENIED", loser)
            winner = [body for node, body in imgs if got[node.node_id].status == 201][0]
            self.assertIsNotNone(wait_for(lambda: all(
                n.get("/v2/strong/race/manifests/%s" % tag).header("Docker-Content-Digest") ==
                sha256(winner) for n in self.nodes), 30),
                [n.get("/v2/strong/race/manifests/%s" % tag).header("Docker-Content-Digest")
                 for n in self.nodes])
        m1, m2 = metrics(n1), metrics(n2)
        conflicts = ("octoserve_strong_writes_total", (("outcome", "conflict"),))
        self.assertEqual(m1[conflicts] + m2[conflicts], 5)
        self.assertGreater(m1[("octoserve_strong_writes_total", (("outcome", "confirmed"),))], 0)
        self.assertGreater(m1[("octoserve_strong_wait_seconds_total", ())], 0)

    def test_3_the_minority_side_of_a_partition_refuses_writes_and_serves_reads(self):
        n1, n2, n3 = self.nodes
        before = self.push(n1, "strong/part", "before", "before the cut")
        self.assertIsNotNone(wait_for(lambda: served(n3, before, by_tag=True), 30))
        self.net.cut(3)
        try:
            self.assertIsNotNone(wait_for(
                lambda: n3.daemon.states().get("strong1") == "down" and
                n3.daemon.states().get("strong2") == "down", 30), n3.daemon.states())
            # node 3 alone: no majority, so writes are refused, at once and clearly
            t0 = time.monotonic()
            r = n3.reg.post_blob("strong/part", b"minority")
            self.assertEqual(r.status, 503, r)
            self.assertEqual(r.error_code(), "UNAVAILABLE", r)
            self.assertIn("majority", r.body.decode(), r)
            self.assertLess(time.monotonic() - t0, 4)
            r = n3.reg.request("PUT", "/v2/strong/part/manifests/before",
                               body=before["manifest"], headers={"Content-Type": OCI})
            self.assertEqual(r.status, 503, r)
            # reads go on
            self.assertTrue(served(n3, before, by_tag=True))
            # the majority side takes pushes
            during = self.push(n1, "strong/part", "during", "during the cut")
            self.assertTrue(served(n2, during, by_tag=True))
            self.assertFalse(served(n3, during, by_tag=True))
            m3 = metrics(n3)
            self.assertGreaterEqual(
                m3[("octoserve_strong_writes_total", (("outcome", "refused"),))], 2)
        finally:
            self.net.heal(3)
        t0 = time.monotonic()
        self.assertIsNotNone(wait_for(lambda: served(n3, during, by_tag=True), 30))
        sys.stderr.write("\nafter the heal node 3 served the cut's push in %.2f s\n"
                         % (time.monotonic() - t0))
        self.wait_all_up()
        after = self.push(n3, "strong/part", "after", "after the heal")
        self.assertTrue(all(served(n, after, by_tag=True) or wait_for(lambda: served(n, after, by_tag=True), 30)
                            for n in self.nodes))

    def test_4_a_daemon_that_does_not_answer_is_a_timeout_not_a_201(self):
        n2 = self.nodes[1]
        timeouts = ("octoserve_strong_writes_total", (("outcome", "timeout"),))
        before = metrics(n2).get(timeouts, 0)
        pid = n2.daemon.pid()
        os.kill(pid, signal.SIGSTOP)  # the daemon hangs: nobody confirms anything
        try:
            t0 = time.monotonic()
            r = n2.reg.post_blob("strong/hang", b"nobody confirms this")
            waited = time.monotonic() - t0
        finally:
            os.kill(pid, signal.SIGCONT)
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.error_code(), "UNAVAILABLE", r)
        self.assertIn("strong_timeout", r.body.decode(), r)
        self.assertGreaterEqual(waited, 4.5)  # strong_timeout is 5s here
        self.assertLess(waited, 15)
        self.assertEqual(metrics(n2)[timeouts], before + 1)
        # the daemon back, the same push is confirmed: retrying was safe
        self.assertIsNotNone(wait_for(lambda: n2.reg.post_blob(
            "strong/hang", b"nobody confirms this").status == 201, 30))


if __name__ == "__main__":
    unittest.main()
