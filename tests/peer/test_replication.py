#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Replication of names between real nodes, each a web front, a responder and a peer daemon
on its own store: a manifest pushed with a tag on node 1 is served by tag and by digest on
node 2 (its bytes exactly) and listed there; a tag deleted on node 2 is gone on node 1; a
node that was down while a tag was pushed has it once it is back (the journal and the
member's cursor are the outbox); the daemons never send a node its own writes back. Blob
content: test_blobs.py."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "http"))

from harness import sha256  # noqa: E402
from peers import OCI, PEER, Node, wait_for  # noqa: E402


class ReplicationTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="octoserve-repl-")
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def node(self, node_id, bootstrap=()):
        n = Node(self.tmp, node_id, bootstrap)
        self.nodes.append(n)
        return n

    def test_names_travel_both_ways(self):
        n1 = self.node("r1")
        n2 = self.node("r2", [n1.daemon.address])
        d = n1.reg.push_manifest("repl/app", "v1")
        r = n1.get("/v2/repl/app/manifests/v1")
        self.assertEqual(r.status, 200, r)
        self.assertIsNotNone(wait_for(lambda: n2.get("/v2/repl/app/manifests/v1").status == 200,
                                      20), "the tag never reached node 2")
        r2 = n2.get("/v2/repl/app/manifests/v1")
        self.assertEqual((r2.body, r2.header("Docker-Content-Digest")), (r.body, d))
        self.assertEqual(n2.get("/v2/repl/app/manifests/%s" % d).body, r.body)
        self.assertEqual(n2.get("/v2/repl/app/tags/list").json()["tags"], ["v1"])
        self.assertIn("repl/app", n2.get("/v2/_catalog").json()["repositories"])
        # the other way: deleted on node 2, gone on node 1
        self.assertEqual(n2.reg.request("DELETE", "/v2/repl/app/manifests/v1").status, 202)
        self.assertIsNotNone(wait_for(lambda: n1.get("/v2/repl/app/manifests/v1").status == 404,
                                      20), "the delete never reached node 1")
        self.assertEqual(n1.get("/v2/repl/app/tags/list").json()["tags"], [])
        # node 2's journal holds node 1's write with its origin; node 1's does not hold its
        # own write twice (never sent back)
        lines = [json.loads(x) for x in n2.reg.journal_lines() if x]
        applied = [e for e in lines if e.get("origin", {}).get("node") == "r1"]
        self.assertTrue([e for e in applied if e["type"] == "manifest.put"], lines)
        mine = [json.loads(x) for x in n1.reg.journal_lines() if x]
        self.assertFalse([e for e in mine if e.get("origin", {}).get("node") == "r1"], mine)

    def test_one_inotify_instance_and_a_fallback_without_it(self):
        n1 = self.node("w1")
        n2 = self.node("w2", [n1.daemon.address])
        # one inotify instance, watching the journal and the fetch queue
        pid = n1.daemon.pid()
        fds = [os.readlink("/proc/%d/fd/%s" % (pid, fd)) for fd in os.listdir("/proc/%d/fd" % pid)]
        self.assertEqual(fds.count("anon_inode:inotify"), 1, fds)
        for fd in os.listdir("/proc/%d/fd" % pid):
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "anon_inode:inotify":
                with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                    self.assertEqual(f.read().count("inotify wd:"), 2)
        # a node that cannot have one (strace makes inotify_init1 fail) still replicates,
        # by polling, and says so
        if shutil.which("strace"):
            n3 = Node(self.tmp, "w3", [n1.daemon.address],
                      wrap=["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=inotify_init1",
                            "-e", "inject=inotify_init1:error=EMFILE"])
            self.nodes.append(n3)
            n1.reg.push_manifest("repl/poll", "v1")
            for n in (n2, n3):
                self.assertIsNotNone(
                    wait_for(lambda: n.get("/v2/repl/poll/manifests/v1").status == 200, 20),
                    n.node_id)
            self.assertIn("no inotify", n3.daemon.log_text())
            self.assertNotIn("no inotify", n1.daemon.log_text())

    def test_the_same_tag_at_once_on_two_nodes_converges(self):
        n1 = self.node("s1")
        n2 = self.node("s2", [n1.daemon.address])
        n3 = self.node("s3", [n1.daemon.address])
        nodes = (n1, n2, n3)
        self.assertIsNotNone(wait_for(lambda: all(len([v for v in n.daemon.states().values()
                                                        if v == "up"]) == 2 for n in nodes), 20))

        def manifest(note):
            config = json.dumps({"note": note}).encode()
            return config, json.dumps({
                "schemaVersion": 2, "mediaType": OCI,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": sha256(config), "size": len(config)},
                "layers": []}).encode()
        bodies = {}
        for n in (n1, n2):  # two different manifests, each with its config in place
            config, body = manifest(n.node_id)
            n.reg.push_blob("repl/race", config)
            bodies[n.node_id] = body
        barrier = threading.Barrier(2)
        results = {}

        def put(n):
            barrier.wait()
            results[n.node_id] = n.reg.request(
                "PUT", "/v2/repl/race/manifests/latest", body=bodies[n.node_id],
                headers={"Content-Type": OCI}).status
        threads = [threading.Thread(target=put, args=(n,)) for n in (n1, n2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, {"s1": 201, "s2": 201})
        digests = {sha256(b) for b in bodies.values()}

        def agreed():
            got = [n.get("/v2/repl/race/manifests/latest").header("Docker-Content-Digest")
                   for n in nodes]
            return got[0] if len(set(got)) == 1 and got[0] in digests else None
        self.assertIsNotNone(wait_for(lambda: agreed() is not None, 20),
                             [n.get("/v2/repl/race/manifests/latest").header("Docker-Content-Digest")
                              for n in nodes])
        winner = agreed()
        time.sleep(1)  # and it stays so
        self.assertEqual(agreed(), winner)
        # the other push is not lost: its manifest is served by digest everywhere
        loser = (digests - {winner}).pop()
        for n in nodes:
            self.assertIsNotNone(wait_for(
                lambda: n.get("/v2/repl/race/manifests/%s" % loser).status == 200, 20), n.node_id)

    def test_a_node_down_catches_up(self):
        n1 = self.node("c1")
        n2 = self.node("c2", [n1.daemon.address])
        self.assertIsNotNone(wait_for(lambda: n1.daemon.states().get("c2") == "up", 20))
        # deletes made while c2 was up (a tag, and a manifest by digest) ...
        gone = n1.reg.push_manifest("repl/del", "old")
        n1.reg.push_manifest("repl/del", "keep")
        self.assertIsNotNone(wait_for(lambda: n2.get("/v2/repl/del/manifests/keep").status == 200,
                                      20))
        n2.daemon.stop(signal.SIGKILL)
        self.assertIsNotNone(wait_for(lambda: n1.daemon.states().get("c2") == "down", 20))
        for i in range(5):
            n1.reg.push_manifest("repl/late", "t%d" % i)
        # ... and while it is down: they reach it once it is back, and stay done
        self.assertEqual(n1.reg.request("DELETE", "/v2/repl/del/manifests/keep").status, 202)
        self.assertEqual(n1.reg.request("DELETE", "/v2/repl/del/manifests/%s" % gone).status, 202)
        # the outbox, as node 1's status shows it: what c2 has still to receive, and since when
        def lag():
            st = n1.daemon.status() or {"members": []}
            m = [m for m in st["members"] if m["id"] == "c2"]
            return m[0] if m and "lag_events" in m[0] else None
        self.assertIsNotNone(wait_for(lambda: lag() is not None and lag()["lag_events"] >= 10, 20),
                             n1.daemon.status())
        self.assertGreater(lag()["lag_s"], 0)
        table = subprocess.run([PEER, "-c", n1.daemon.config, "status"], capture_output=True,
                               text=True).stdout
        self.assertIn("TO SEND", table)
        self.assertIn("fetch queue:", table)
        n2.daemon.start()
        self.assertIsNotNone(
            wait_for(lambda: n2.get("/v2/repl/late/tags/list").status == 200 and
                     n2.get("/v2/repl/late/tags/list").json()["tags"] ==
                     ["t0", "t1", "t2", "t3", "t4"], 30),
            "node 2 did not catch up")
        self.assertIsNotNone(wait_for(lambda: n2.get("/v2/repl/del/manifests/keep").status == 404,
                                      30), "the tag deleted while node 2 was down is back")
        # the manifest deleted by digest came later in node 1's journal, perhaps in a later batch
        self.assertIsNotNone(wait_for(
            lambda: n2.get("/v2/repl/del/manifests/%s" % gone).status == 404, 30),
            "the manifest deleted while node 2 was down is back")
        self.assertEqual(n2.get("/v2/repl/del/manifests/old").status, 404)  # its tag went too
        self.assertIsNotNone(wait_for(lambda: lag() is not None and lag()["lag_events"] == 0, 20),
                             n1.daemon.status())
        time.sleep(1)  # rounds of replication both ways: nothing brings them back
        for n in (n1, n2):
            self.assertEqual(n.get("/v2/repl/del/manifests/keep").status, 404)
            self.assertEqual(n.get("/v2/repl/del/manifests/%s" % gone).status, 404)


if __name__ == "__main__":
    unittest.main()
