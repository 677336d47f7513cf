#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Real clients against a cluster of three real nodes, each a web front, a responder and a
peer daemon on its own store: skopeo pushes an image to node 1 and podman pulls it from
nodes 2 and 3, and containerd's ctr from node 3, under eager (the layers are on nodes 2 and
3 before any pull), lazy (node 3 holds no layer until ctr asks for it) and hybrid; a multi-arch index pushed to node 2 and
an artifact whose subject is another image pushed to node 3 are served, and listed as a
referrer, by every node. Images are those of tests/clients/images.py (without the big one)."""
import hashlib
import json
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "http"))
sys.path.insert(0, os.path.join(HERE, "..", "clients"))

import images  # noqa: E402
import test_clients as tc  # noqa: E402
from peers import Node, wait_for  # noqa: E402

IMG = None
TMP = None


def setUpModule():
    global IMG, TMP
    TMP = tempfile.mkdtemp(prefix="octoserve-cc-", dir="/tmp")  # short: podman's runroot
    tc.WORK = TMP
    try:
        images.find_busybox()
    except (OSError, IndexError) as e:
        if tc.CI:
            raise AssertionError("no busybox-static to build the test images from (%s)" % e)
        raise unittest.SkipTest("no busybox-static (%s)" % e)
    IMG = images.build_all(os.path.join(TMP, "images"), big=False)


def tearDownModule():
    if tc.CONTAINERD is not None:
        tc.CONTAINERD.stop()
    shutil.rmtree(TMP, ignore_errors=True)


def blob_file(node, digest):
    hexd = digest.split(":")[1]
    return os.path.join(node.reg.data, "blobs", "sha256", hexd[:2], hexd)


class ClusterClientTest(unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        self.nodes = []

    def tearDown(self):
        for n in self.nodes:
            n.close()

    def cluster(self, strategy):
        p2p = {"replication": {"strategy": strategy}}
        first = Node(TMP, "%s1" % strategy[0], p2p=p2p)
        self.nodes.append(first)
        for k in (2, 3):
            self.nodes.append(Node(TMP, "%s%d" % (strategy[0], k), [first.daemon.address], p2p=p2p))
        ids = {n.node_id for n in self.nodes}
        self.assertIsNotNone(wait_for(lambda: all(
            set(k for k, v in n.daemon.states().items() if v == "up") == ids - {n.node_id}
            for n in self.nodes), 30), [n.daemon.states() for n in self.nodes])
        tc.HOST = "127.0.0.1:%d" % first.reg.port
        return self.nodes

    def host(self, node):
        return "127.0.0.1:%d" % node.reg.port

    def manifest(self, node, repo, ref, accept=images.OCI_MANIFEST):
        return node.get("/v2/%s/manifests/%s" % (repo, ref), headers={"Accept": accept})

    def push_and_pull(self, strategy):
        n1, n2, n3 = self.cluster(strategy)
        repo = "cluster/%s" % strategy
        tc.Skopeo().copy("oci:%s:v1" % IMG.single_dir, "docker://%s/%s:v1" % (self.host(n1), repo))
        layers = [l.digest for l in IMG.single.layers]
        for n in (n2, n3):
            self.assertIsNotNone(wait_for(lambda: self.manifest(n, repo, "v1").status == 200, 30),
                                 n.node_id)
            self.assertEqual(self.manifest(n, repo, "v1").body, IMG.single.manifest)
        if strategy == "eager":
            for n in (n2, n3):
                self.assertIsNotNone(wait_for(lambda: all(os.path.exists(blob_file(n, d))
                                                          for d in layers), 30), n.node_id)
        if strategy == "lazy":
            self.assertFalse([d for d in layers if os.path.exists(blob_file(n3, d))],
                             "lazy: node 3 held a layer before any pull")
        # containerd's ctr pulls from node 3 first (under lazy, every layer a miss there)
        c = tc.containerd()
        ns = "cluster-" + strategy
        c.ctr(ns, "images", "pull", "--plain-http", "--snapshotter", "native",
              "%s/%s:v1" % (self.host(n3), repo))
        self.assertIn(IMG.single.digest, c.ctr(ns, "images", "ls"))
        got = [c.ctr(ns, "content", "get", d, binary=True) for d in layers]
        self.assertEqual(["sha256:" + hashlib.sha256(b).hexdigest() for b in got], layers)
        for n in (n2, n3):
            podman = tc.Podman()
            ref = "%s/%s:v1" % (self.host(n), repo)
            podman("pull", "--tls-verify=false", ref)
            info = podman.inspect(ref)
            self.assertEqual(info["Id"].split(":")[-1], IMG.single.config_digest.split(":")[1])
            files = podman.image_files(ref, ["bin/busybox", "etc/passwd", "etc/octoserve/single"])
            self.assertEqual(files["bin/busybox"], IMG.rootfs_files["bin/busybox"])
            self.assertEqual(files["etc/octoserve/single"], b"octoserve test image: single\n")
        # every node holds every layer now (factor 3 of 3; a lazy node after its pull)
        for n in (n1, n2, n3):
            self.assertIsNotNone(wait_for(lambda: all(os.path.exists(blob_file(n, d))
                                                      for d in layers), 30), n.node_id)

    def test_skopeo_push_podman_pull_eager(self):
        self.push_and_pull("eager")

    def test_skopeo_push_podman_pull_lazy(self):
        self.push_and_pull("lazy")

    def test_skopeo_push_podman_pull_hybrid(self):
        self.push_and_pull("hybrid")

    def test_index_and_referrer_pushed_to_different_nodes(self):
        n1, n2, n3 = self.cluster("eager")
        skopeo = tc.Skopeo()
        skopeo.copy("oci:%s:v1" % IMG.multi_dir, "docker://%s/cluster/multi:v1" % self.host(n2),
                     "--all")
        skopeo.copy("oci:%s:v1" % IMG.single_dir, "docker://%s/cluster/app:v1" % self.host(n3))
        skopeo.copy("oci:%s:sig" % IMG.single_dir, "docker://%s/cluster/app:sig" % self.host(n3))
        for n in (n1, n2, n3):
            self.assertIsNotNone(wait_for(
                lambda: self.manifest(n, "cluster/multi", "v1", images.OCI_INDEX).status == 200 and
                self.manifest(n, "cluster/app", "sig").status == 200, 30), n.node_id)
            self.assertEqual(self.manifest(n, "cluster/multi", "v1", images.OCI_INDEX).body,
                             IMG.multi.manifest)
            for child in IMG.multi.children:
                self.assertEqual(self.manifest(n, "cluster/multi", child.digest).body,
                                 child.manifest)
            r = n.get("/v2/cluster/app/referrers/%s" % IMG.single.digest,
                      headers={"Accept": images.OCI_INDEX})
            self.assertEqual(r.status, 200, n.node_id)
            listed = [m["digest"] for m in json.loads(r.body)["manifests"]]
            self.assertEqual(listed, [IMG.artifact.digest], n.node_id)
        # and pulled from node 1, which took neither push
        podman = tc.Podman()
        ref = "%s/cluster/multi:v1" % self.host(n1)
        podman("pull", "--tls-verify=false", "--platform", "linux/arm64", ref)
        self.assertEqual(podman.inspect(ref)["Architecture"], "arm64")


if __name__ == "__main__":
    unittest.main()
