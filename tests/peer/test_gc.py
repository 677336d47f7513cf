#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Garbage collection in a cluster of three real nodes (factor 3, eager: every node holds every
blob): a manifest deleted on one node and `octoserve-admin gc` on each frees its blobs on every
node; a blob that a manifest names on one node only (its write not yet sent: the revision is
written into that store by hand, as its outbox would hold it) stays on every node; no
collection runs while a member is down; a node that takes a peer's collected link while its
own manifest still names the blob links it again (a gRPC Apply as that peer would send it); and
scrub's quarantined copy is fetched again from a holder."""
import hashlib
import json
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

from harness import sha256  # noqa: E402
from peers import OCI, Node, blob_file, holders, wait_for  # noqa: E402
from suite import unique_bytes  # noqa: E402
from test_interop import compile_stubs, grpc  # noqa: E402 (Debian's grpcio, as it finds it)

P2P = {"replication": {"factor": 3, "strategy": "eager", "sync_interval": "1s"}}
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"


def manifest_of(config, layers):
    return json.dumps({"schemaVersion": 2, "mediaType": OCI,
                       "config": {"mediaType": CONFIG, "digest": sha256(config),
                                  "size": len(config)},
                       "layers": [{"mediaType": LAYER, "digest": sha256(b), "size": len(b)}
                                  for b in layers]}).encode()


def write_record(node, repo, key, value):
    """A record as the store writes it (lib/record.h), made now by this node: what a write
    the node has not sent yet leaves."""
    now = int(time.time() * 1000)
    path = os.path.join(node.reg.data, "repositories", repo, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("%d %d v %s\n%s" % (now << 16, now, node.node_id, value))


class ClusterGcTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="octoserve-gc-")
        self.nodes = [Node(self.tmp, "g1", p2p=P2P)]
        for k in (2, 3):
            self.nodes.append(Node(self.tmp, "g%d" % k, [self.nodes[0].daemon.address],
                                   p2p=P2P))
        ids = {n.node_id for n in self.nodes}
        self.assertIsNotNone(wait_for(lambda: all(
            set(n.daemon.states()) == ids - {n.node_id} and
            set(n.daemon.states().values()) == {"up"} for n in self.nodes), 30))

    def tearDown(self):
        for n in self.nodes:
            n.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def everywhere(self, digests, timeout=30):
        """Every node holds every one of digests."""
        return wait_for(lambda: all(os.path.exists(blob_file(n, d)) for n in self.nodes
                                    for d in digests), timeout)

    def push_image(self, node, repo, tag, layers=2):
        config = unique_bytes(60, "config")
        blobs = [unique_bytes(800, "layer") for _ in range(layers)]
        for b in [config] + blobs:
            node.reg.push_blob(repo, b)
        body = manifest_of(config, blobs)
        r = node.reg.request("PUT", "/v2/%s/manifests/%s" % (repo, tag), body=body,
                             headers={"Content-Type": OCI})
        self.assertEqual(r.status, 201, r)
        return sha256(body), [sha256(b) for b in [config] + blobs], config, blobs

    def test_deleted_everywhere_kept_where_one_node_still_names_it(self):
        n1, n2, n3 = self.nodes
        gone, gone_blobs, _, _ = self.push_image(n1, "gc/img", "v1")
        # a blob a manifest names on n3 only: pushed (its link everywhere), then the manifest
        # written into n3's store as a write n3 has not yet sent would be
        config, layer = unique_bytes(60, "hidden-config"), unique_bytes(900, "hidden")
        n1.reg.push_blob("gc/keep", config)
        n1.reg.push_blob("gc/keep", layer)
        self.assertIsNotNone(self.everywhere(gone_blobs + [sha256(config), sha256(layer)]))
        hidden = manifest_of(config, [layer])
        path = blob_file(n3, sha256(hidden))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(hidden)
        write_record(n3, "gc/keep", "_manifests/revisions/sha256/" + sha256(hidden)[7:], OCI)
        # the image is deleted on n2 and the delete reaches every node
        self.assertEqual(n2.reg.request("DELETE", "/v2/gc/img/manifests/%s" % gone).status, 202)
        self.assertIsNotNone(wait_for(lambda: all(
            n.get("/v2/gc/img/manifests/%s" % gone).status == 404 for n in self.nodes), 30))
        results = [n.reg.admin("gc", "--grace", "0s", "--json").json for n in self.nodes]
        for n, res in zip(self.nodes, results):
            with self.subTest(node=n.node_id):
                for d in gone_blobs:
                    self.assertFalse(os.path.exists(blob_file(n, d)), (d, res))
                for d in (sha256(config), sha256(layer)):
                    self.assertTrue(os.path.exists(blob_file(n, d)), (d, res))
                # kept here because n3 still names them, unless anti-entropy brought n3's
                # revision here first (then this node names them itself)
                if n is not n3 and res["manifests"] == 0:
                    self.assertGreaterEqual(res["kept_for_cluster"], 2, res)
        # the links went by collection, and the kept ones stayed: n3 serves its manifest whole
        for n in self.nodes:
            for d in gone_blobs:
                self.assertEqual(n.reg.request("HEAD", "/v2/gc/img/blobs/%s" % d).status, 404)
        r = n3.get("/v2/gc/keep/manifests/%s" % sha256(hidden))
        self.assertEqual(r.status, 200, r)
        for b in (config, layer):
            r = n3.get("/v2/gc/keep/blobs/%s" % sha256(b))
            self.assertEqual((r.status, r.body), (200, b))
        events = [json.loads(line) for line in n1.reg.journal_lines() if line]
        self.assertTrue(any(e["type"] == "blob.collect" for e in events))

    def test_no_collection_while_a_member_is_down(self):
        n1, n2, n3 = self.nodes
        lone = n1.reg.push_blob("gc/down", unique_bytes(700, "lone"))
        self.assertIsNotNone(self.everywhere([lone]))
        n3.daemon.stop(signal.SIGKILL)
        self.assertIsNotNone(wait_for(lambda: n1.daemon.states().get("g3") == "down", 30))
        p = n1.reg.admin("gc", "--grace", "0s", check=False)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("member g3 is down", p.stderr)
        self.assertTrue(os.path.exists(blob_file(n1, lone)))
        # once it is back, the collection runs
        n3.daemon.start()
        self.assertIsNotNone(wait_for(lambda: n1.daemon.states().get("g3") == "up", 30))
        n1.reg.admin("gc", "--grace", "0s")
        self.assertFalse(os.path.exists(blob_file(n1, lone)))

    def test_a_collected_link_still_named_here_is_restored(self):
        n1, n2, n3 = self.nodes
        digest, blobs, config, layers = self.push_image(n2, "gc/restore", "v1")
        self.assertIsNotNone(self.everywhere(blobs))
        pb, pb_grpc = compile_stubs(self.tmp)
        channel = grpc.insecure_channel(n2.daemon.address)
        stub = pb_grpc.PeerStub(channel)
        now = int(time.time() * 1000)
        line = json.dumps({"seq": 1, "hlc": now << 16, "time_ms": now, "node": "g1",
                           "store": "0" * 32, "type": "blob.collect", "repo": "gc/restore",
                           "digest": blobs[1],
                           "records": [{"key": "_layers/sha256/" + blobs[1][7:],
                                        "tombstone": True}]})
        r = stub.Apply(pb.ApplyRequest(node_id="g1", changes=[pb.Change(event=line)]),
                       timeout=10)
        channel.close()
        self.assertEqual(r.applied, 1)
        # n2's manifest names the blob: the link is written again, past the removal, and the
        # restored link reaches the others too
        for n in self.nodes:
            self.assertIsNotNone(wait_for(lambda: n.reg.request(
                "HEAD", "/v2/gc/restore/blobs/%s" % blobs[1]).status == 200, 30), n.node_id)
        self.assertIn("restored", n2.daemon.log_text())
        r = n1.get("/v2/gc/restore/manifests/v1")
        self.assertEqual(sha256(r.body), digest)
        self.assertEqual(hashlib.sha256(n3.get("/v2/gc/restore/blobs/%s" % blobs[1]).body)
                         .hexdigest(), blobs[1][7:])

    def test_scrub_repairs_from_a_holder(self):
        n1, n2, n3 = self.nodes
        data = unique_bytes(50000, "scrubbed")
        d = n1.reg.push_blob("gc/scrub", data)
        self.assertIsNotNone(self.everywhere([d]))
        with open(blob_file(n2, d), "r+b") as f:
            f.seek(1000)
            f.write(b"X")
        p = n2.reg.admin("scrub", "--json", check=False)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertEqual((p.json["corrupt"], p.json["refetching"]), (1, 1))
        # the peer daemon brings a good copy from a holder
        self.assertIsNotNone(wait_for(lambda: os.path.exists(blob_file(n2, d)), 30))
        with open(blob_file(n2, d), "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(n2.reg.admin("scrub", "--json").json["corrupt"], 0)


class CacheCopyTest(unittest.TestCase):
    """A cache copy (a blob a node that is not its holder fetched for a client) may go at any
    collection, named or not: its holder keeps the blob, and the next pull fetches it again."""

    def test_cache_copies_go_and_come_back(self):
        tmp = tempfile.mkdtemp(prefix="octoserve-gc-cache-")
        p2p = {"replication": {"factor": 1, "strategy": "lazy", "sync_interval": "1s"}}
        nodes = []
        try:
            nodes.append(Node(tmp, "h1", p2p=p2p))
            nodes.append(Node(tmp, "h2", [nodes[0].daemon.address], p2p=p2p))
            n1, n2 = nodes
            self.assertIsNotNone(wait_for(lambda: n1.daemon.states().get("h2") == "up", 30))
            while True:  # a blob whose one holder is n1, the node it is pushed to
                data = unique_bytes(3000, "cached")
                if holders(["h1", "h2"], sha256(data), 1) == {"h1"}:
                    break
            d = n1.reg.push_blob("gc/cache", data)
            config = unique_bytes(50, "cache-config")
            n1.reg.push_blob("gc/cache", config)
            r = n1.reg.request("PUT", "/v2/gc/cache/manifests/v1", body=manifest_of(config, [data]),
                               headers={"Content-Type": OCI})
            self.assertEqual(r.status, 201, r)  # named: only its cache copy may go
            path = "/v2/gc/cache/blobs/%s" % d
            self.assertIsNotNone(wait_for(lambda: n2.reg.request("HEAD", path).status == 200,
                                          30))
            self.assertEqual(n2.get(path).body, data)  # fetched for the client: a cache copy
            self.assertTrue(os.path.exists(blob_file(n2, d)))
            res = n2.reg.admin("gc", "--grace", "0s", "--json").json
            self.assertIn({"kind": "blob", "repository": "", "digest": d, "size": len(data)},
                          res["items"])
            self.assertFalse(os.path.exists(blob_file(n2, d)))
            self.assertTrue(os.path.exists(blob_file(n1, d)))  # the holder's stays
            r = n2.get(path)  # and the next pull fetches it again
            self.assertEqual(r.body, data, (r, n2.daemon.log_text()[-1500:]))
        finally:
            for n in nodes:
                n.close()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
