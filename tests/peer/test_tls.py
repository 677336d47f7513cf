#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Mutual TLS between peer daemons (p2p.tls): a CA and a certificate per node made with the
openssl command in the test's own directory (subjectAltName DNS:<node id>). Three nodes with
certificates of the CA list each other up (the third learns the second through the first,
so its channel to it names the id it expects) and replicate a manifest and a blob through
their responders; a daemon without TLS, one whose certificate comes from another CA, and one
whose valid certificate is for "n2" while it claims "n3" are refused, never up, with the
reason logged on both sides; a member is called only under its own certificate (an address
it claims that another node's port answers is refused, naming the id expected)."""
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

from harness import free_port  # noqa: E402
from peers import HEALTH, OCI, PEER, Daemon, Node, make_ca, make_cert, wait_for  # noqa: E402

LIMIT = 30  # seconds for anything to happen: generous under sanitizers and load
QUIET = 3   # seconds a refused peer is watched to stay refused


def up(daemon, other):
    return daemon.states().get(other) == "up"


class TlsTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="octoserve-tls-")
        self.pki = os.path.join(self.tmp, "pki")
        os.makedirs(self.pki)
        make_ca(self.pki, "ca")
        self.started = []

    def tearDown(self):
        for x in self.started:
            x.close() if isinstance(x, Node) else x.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def cert(self, san, ca="ca"):
        return make_cert(self.pki, ca, "%s-%s" % (ca, san), san)

    def daemon(self, node_id, tls=None, bootstrap=(), port=None):
        p2p = {"health_check": HEALTH, "bootstrap_peers": list(bootstrap)}
        if tls:
            p2p["tls"] = tls
        d = Daemon(self.tmp, node_id, p2p, port=port).start()
        self.started.append(d)
        return d.wait_started()

    def logged(self, daemon, *words):
        """Until one line of daemon's log holds every word."""
        def found():
            return any(all(w in line for w in words) for line in daemon.log_text().splitlines())
        self.assertIsNotNone(wait_for(found, LIMIT),
                             "%s never logged %s:\n%s" % (daemon.node_id, words, daemon.log_text()))

    def never_up(self, a, b, both=True):
        """a never lists b up, nor (both) b a: now, for QUIET seconds, and in their logs."""
        pairs = ((a, b), (b, a)) if both else ((a, b),)
        t0 = time.monotonic()
        while time.monotonic() - t0 < QUIET:
            for x, y in pairs:
                self.assertNotEqual(x.states().get(y.node_id), "up", x.states())
            time.sleep(0.1)
        for x, y in pairs:
            self.assertNotIn('"address":"%s","state":"up"' % y.address, x.log_text())

    def test_three_nodes_over_mutual_tls_replicate(self):
        nodes = []
        for i in (1, 2, 3):
            n = Node(self.tmp, "n%d" % i, [nodes[0].daemon.address] if nodes else (),
                     p2p={"tls": self.cert("n%d" % i)})
            self.started.append(n)
            nodes.append(n)
            n.daemon.wait_started()
        for n in nodes:
            self.assertIn('"tls":"mutual"', n.daemon.log_text())
        # n3 knows n2 only from n1's answers: its channel to n2 expects the id "n2"
        self.assertIsNotNone(
            wait_for(lambda: all(up(a.daemon, b.node_id) for a in nodes for b in nodes if a != b),
                     LIMIT), [n.daemon.states() for n in nodes])
        n1 = nodes[0]
        d = n1.reg.push_manifest("tls/app", "v1")
        blob = os.urandom(300000)
        bd = n1.reg.push_blob("tls/app", blob)
        body = n1.get("/v2/tls/app/manifests/v1").body
        for n in nodes[1:]:
            self.assertIsNotNone(
                wait_for(lambda: n.get("/v2/tls/app/manifests/v1").status == 200, LIMIT),
                "the tag never reached %s" % n.node_id)
            r = n.get("/v2/tls/app/manifests/v1")
            self.assertEqual((r.body, r.header("Docker-Content-Digest")), (body, d))
            path = os.path.join(n.reg.data, "blobs", "sha256", bd[7:9], bd[7:])
            self.assertIsNotNone(wait_for(lambda: os.path.exists(path), LIMIT),
                                 "the blob never reached %s" % n.node_id)
            self.assertEqual(n.get("/v2/tls/app/blobs/" + bd, headers={"Accept": OCI}).body, blob)

    def test_a_daemon_without_tls_is_refused(self):
        n1 = self.daemon("n1", self.cert("n1"))
        plain = self.daemon("plain", bootstrap=[n1.address])
        # the TLS node sees a client that speaks no TLS; the plaintext one, a closed socket
        self.logged(n1, '"msg":"grpc"', "wrong version number")
        self.logged(plain, "a peer does not answer", n1.address, "Socket closed")
        # and the reverse: a TLS node calling a plaintext one fails its handshake
        n2 = self.daemon("n2", self.cert("n2"), bootstrap=[plain.address])
        self.logged(n2, "a peer was refused", plain.address, "Tls handshake failed",
                    "wrong version number")
        self.never_up(n1, plain)
        self.never_up(n2, plain)

    def test_a_certificate_of_another_ca_is_refused(self):
        make_ca(self.pki, "other")
        # a node of another cluster (its certificate and CA both foreign), each bootstrapping
        # from the other: each refuses the other's certificate as a client
        port = free_port()
        n1 = self.daemon("n1", self.cert("n1"), bootstrap=["127.0.0.1:%d" % port])
        foreign = self.daemon("n3", self.cert("n3", "other"), bootstrap=[n1.address], port=port)
        for d, other in ((n1, foreign), (foreign, n1)):
            self.logged(d, "a peer was refused", other.address, "certificate verify failed")
        self.never_up(n1, foreign)
        # a certificate of another CA presented to this cluster's CA: the server refuses it
        # in the handshake and says so; the caller learns only that the socket closed
        stranger = self.cert("n4", "other")
        stranger["ca"] = os.path.join(self.pki, "ca.pem")
        n4 = self.daemon("n4", stranger, bootstrap=[n1.address])
        self.logged(n1, '"msg":"grpc"', "Handshake failed", "certificate verify failed")
        self.logged(n4, "a peer does not answer", n1.address, "Socket closed")
        self.never_up(n1, n4)

    def test_a_node_claiming_another_id_is_refused(self):
        port = free_port()
        n1 = self.daemon("n1", self.cert("n1"), bootstrap=["127.0.0.1:%d" % port])
        # a valid certificate for n2, a daemon that says it is n3
        liar = self.daemon("n3", self.cert("n2"), bootstrap=[n1.address], port=port)
        claim = 'claims node id \\"n3\\" but its certificate is for \\"n2\\"'
        # as a caller: n1 refuses its Health call, and it logs n1's refusal
        self.logged(n1, '"msg":"a peer was refused"', '"node":"n3"', "the caller " + claim)
        self.logged(liar, "a peer refused this node", n1.address, "the caller " + claim)
        # as a callee: n1 called the address without knowing its id; the answer claims n3
        self.logged(n1, '"msg":"a peer was refused"', liar.address, "the peer " + claim)
        # (the liar may list n1 up: n1's own calls to it are sound)
        self.never_up(n1, liar, both=False)
        self.assertNotIn("n3", n1.states())

    def test_a_member_is_called_only_under_its_own_certificate(self):
        # n2 (a sound certificate) advertises n4's address as its own: n1 learns "n2 at that
        # address", and its channel there, expecting "n2", gets n4's certificate
        n4 = self.daemon("n4", self.cert("n4"))
        n1 = self.daemon("n1", self.cert("n1"))
        p2p = {"health_check": HEALTH, "bootstrap_peers": [n1.address], "tls": self.cert("n2"),
               "advertise_address": n4.address}
        n2 = Daemon(self.tmp, "n2", p2p).start().wait_started()
        self.started.append(n2)
        self.logged(n1, "a peer was refused", n4.address, 'does not name node id \\"n2\\"')
        self.never_up(n1, n2, both=False)
        self.assertEqual(n1.states().get("n4"), None)  # nor is n4 taken for n2

    def test_start_beyond_loopback_and_bad_files(self):
        # with TLS the port binds where listen_address says without the plaintext warning
        a = Daemon(self.tmp, "n1", {"listen_address": "127.0.0.2", "tls": self.cert("n1")})
        self.started.append(a.start().wait_started())
        self.assertNotIn("open beyond loopback", a.log_text())
        # files that are there but hold no key pair of the CA's kind: refused at start
        bad = os.path.join(self.pki, "bad.pem")
        with open(bad, "w") as f:
            f.write("not PEM\n")
        n2, n3 = self.cert("n2"), self.cert("n3")
        cases = (({**n2, "key": bad}, "p2p.tls.key holds no PEM private key"),
                 ({**n2, "ca": bad}, "p2p.tls.ca holds no PEM certificate"),
                 ({**n2, "key": n3["key"]}, "p2p.tls.key is not the key of p2p.tls.cert"))
        for i, (tls, why) in enumerate(cases):
            d = Daemon(self.tmp, "bad%d" % i, {"tls": tls})
            r = subprocess.run([PEER, "-c", d.config], capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 1, d.log_text())
            self.assertIn("mutual TLS cannot be set up (p2p.tls)", d.log_text())
            self.assertIn(why, d.log_text())


if __name__ == "__main__":
    unittest.main()
