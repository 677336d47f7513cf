#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Event notifications in a cluster of two real nodes, each with its own `octoserve-admin
serve` sending to one receiver: a change is announced once, by the node where it was made
(the other node applies it from its peer and says nothing), with an id unique in the cluster
(the store's incarnation id and the sequence number)."""
import json
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

from harness import ADMIN_BIN, free_port  # noqa: E402
from peers import Node, wait_for  # noqa: E402
from test_notify import Receiver  # noqa: E402 (tests/http/test_notify.py)

P2P = {"replication": {"factor": 2, "strategy": "eager", "sync_interval": "1s"}}


class ClusterNotifyTest(unittest.TestCase):

    def test_each_change_announced_once_by_its_node(self):
        tmp = tempfile.mkdtemp(prefix="octoserve-notify-")
        rec = Receiver(free_port()).start()
        endpoints = [{"name": "hook", "url": "http://127.0.0.1:%d/" % rec.port}]
        nodes, serves = [], []
        try:
            nodes.append(Node(tmp, "e1", p2p=P2P))
            nodes.append(Node(tmp, "e2", [nodes[0].daemon.address], p2p=P2P))
            for n in nodes:
                env = dict(n.reg.env, OCTOSERVE_NOTIFICATIONS_ENDPOINTS=json.dumps(endpoints))
                serves.append(subprocess.Popen([ADMIN_BIN, "-c", n.reg.config_path, "serve"],
                                               env=env))
                cursor = os.path.join(n.reg.data, "journal", "cursors", "notify-hook")
                self.assertIsNotNone(wait_for(lambda: os.path.exists(cursor), 20))
            d1 = nodes[0].reg.push_manifest("c/one", "v1")
            d2 = nodes[1].reg.push_manifest("c/two", "v1")
            for n in nodes:  # both changes everywhere, so each node journalled both
                for repo, d in (("c/one", d1), ("c/two", d2)):
                    self.assertIsNotNone(wait_for(lambda: n.get(
                        "/v2/%s/manifests/%s" % (repo, d)).status == 200, 30))
            want = 4  # a config blob and a manifest on each node
            self.assertIsNotNone(wait_for(lambda: len(rec.seqs()) >= want, 30))
            time.sleep(1.5)  # a second announcement would come within a poll or two
            events = [e for _, batch, _ in rec.posts for e in batch]
            self.assertEqual(len(events), want, events)
            by_node = {(e["source"]["node"], e["target"]["repository"]) for e in events}
            self.assertEqual(by_node, {("e1", "c/one"), ("e2", "c/two")})
            self.assertEqual(len({e["id"] for e in events}), want)
            ids = set()
            for n in nodes:
                with open(os.path.join(n.reg.data, "store.id")) as f:
                    ids.add(f.read().strip())
            self.assertEqual({e["id"].rsplit("-", 1)[0] for e in events}, ids)
        finally:
            for p in serves:
                p.terminate()
                p.wait()
            for n in nodes:
                n.close()
            rec.stop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
