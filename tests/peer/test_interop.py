#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""octoserve-peer speaks real gRPC and real protobuf: a client on Debian's python3-grpcio,
with stubs compiled from proto/peer.proto by python3-grpc-tools at run time, calls Health
and fetches a blob of many chunks (small max_message_size) from a running daemon over its
store, checks the bytes against the digest, resumes from an offset, and gets the right
status for a missing blob and a bad request. SIGTERM stops the daemon promptly with exit 0.
Over mutual TLS (p2p.tls) the same client, with grpc.ssl_channel_credentials and the
daemon's id as the target name, is answered when it claims the id its certificate names, is
refused naming both ids when it claims another, fetches a blob of many chunks, and gets no
answer without TLS. A connection idle past p2p.transport.idle_timeout is closed by the daemon."""
import hashlib
import importlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.append("/usr/lib/python3/dist-packages")  # Debian's grpcio and grpc-tools

import grpc  # noqa: E402
from grpc_tools import protoc  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peers import make_ca, make_cert  # noqa: E402

SRCDIR = os.environ.get("OCTOTEST_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILDDIR = os.environ.get("OCTOTEST_BUILDDIR", SRCDIR)
PEER = os.path.join(BUILDDIR, "peer", "octoserve-peer")
MAX_CALLS = 3  # p2p.transport.max_connections of the daemon under test
MAX_MESSAGE = 64 * 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compile_stubs(out):
    """peer_pb2 and peer_pb2_grpc from the repository's proto file."""
    rc = protoc.main(["protoc", "-I" + os.path.join(SRCDIR, "proto"), "--python_out=" + out,
                      "--grpc_python_out=" + out, os.path.join(SRCDIR, "proto", "peer.proto")])
    assert rc == 0, "protoc failed"
    sys.path.insert(0, out)
    return importlib.import_module("peer_pb2"), importlib.import_module("peer_pb2_grpc")


def start_daemon(tmp, name, node_id, port, p2p):
    """A daemon on its own store tmp/<name>-data, its configuration tmp/<name>.json and log
    tmp/<name>.log; (the process, the store's path, the configuration's)."""
    data = os.path.join(tmp, name + "-data")
    cfg = {"storage": {"path": data},
           "logging": {"output": os.path.join(tmp, name + ".log")},
           "p2p": dict({"enabled": True, "node_id": node_id, "port": port}, **p2p)}
    config = os.path.join(tmp, name + ".json")
    with open(config, "w") as f:
        json.dump(cfg, f)
    return subprocess.Popen([PEER, "-c", config]), data, config


class DaemonClass(unittest.TestCase):
    """Classes with one daemon and one channel to it, made by setUpClass."""

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        if cls.proc.poll() is None:
            cls.proc.kill()
            cls.proc.wait()
        shutil.rmtree(cls.tmp, ignore_errors=True)


class InteropTest(DaemonClass):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="octoserve-peer-test-")
        cls.pb, cls.pb_grpc = compile_stubs(cls.tmp)
        cls.port = free_port()
        cls.proc, cls.data, cls.config = start_daemon(
            cls.tmp, "peer", "node-i1", cls.port,
            {"transport": {"max_message_size": MAX_MESSAGE, "max_connections": MAX_CALLS}})
        cls.channel = grpc.insecure_channel("127.0.0.1:%d" % cls.port)
        grpc.channel_ready_future(cls.channel).result(timeout=10)
        cls.stub = cls.pb_grpc.PeerStub(cls.channel)

    def put_blob(self, data):
        """The blob's file in the store, as a push leaves it; its digest."""
        hexd = hashlib.sha256(data).hexdigest()
        d = os.path.join(self.data, "blobs", "sha256", hexd[:2])
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, hexd), "wb") as f:
            f.write(data)
        return "sha256:" + hexd

    def test_health(self):
        reply = self.stub.Health(self.pb.HealthRequest(node_id="test", address="127.0.0.1:1"),
                                 timeout=5)
        self.assertEqual(reply.node_id, "node-i1")
        with open(os.path.join(self.data, "store.id")) as f:
            self.assertEqual(reply.store, f.read().strip())
        self.assertGreater(reply.hlc >> 16, int(time.time() * 1000) - 60000)

    def test_fetch_many_chunks(self):
        data = os.urandom(10 * MAX_MESSAGE + 123)
        digest = self.put_blob(data)
        chunks = list(self.stub.Fetch(self.pb.FetchRequest(digest=digest), timeout=10))
        self.assertGreater(len(chunks), 10)
        self.assertTrue(all(len(c.data) < MAX_MESSAGE for c in chunks))
        got = b"".join(c.data for c in chunks)
        self.assertEqual(hashlib.sha256(got).hexdigest(), digest.split(":")[1])
        self.assertEqual([c.offset for c in chunks],
                         [sum(len(c.data) for c in chunks[:i]) for i in range(len(chunks))])
        self.assertEqual({c.size for c in chunks}, {len(data)})
        # resumed from an offset
        tail = b"".join(c.data for c in self.stub.Fetch(
            self.pb.FetchRequest(digest=digest, offset=len(data) - 1000), timeout=10))
        self.assertEqual(tail, data[-1000:])
        # an empty blob: one chunk that says so
        empty = list(self.stub.Fetch(self.pb.FetchRequest(digest=self.put_blob(b"")),
                                     timeout=10))
        self.assertEqual([(c.data, c.size) for c in empty], [(b"", 0)])

    def test_errors(self):
        missing = "sha256:" + "0" * 64
        with self.assertRaises(grpc.RpcError) as e:
            list(self.stub.Fetch(self.pb.FetchRequest(digest=missing), timeout=5))
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)
        for bad in (self.pb.FetchRequest(digest="sha256:nothex"),
                    self.pb.FetchRequest(digest=self.put_blob(b"abc"), offset=4)):
            with self.assertRaises(grpc.RpcError) as e:
                list(self.stub.Fetch(bad, timeout=5))
            self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT, bad)
        # bytes that are no HealthRequest at all
        raw = self.channel.unary_unary("/octoserve.peer.v1.Peer/Health",
                                       request_serializer=lambda b: b,
                                       response_deserializer=lambda b: b)
        with self.assertRaises(grpc.RpcError) as e:
            raw(b"\xff\xff\xff", timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)

    def test_max_connections_bounds_calls_at_once(self):
        digest = self.put_blob(os.urandom(48 * 1024 * 1024))
        # MAX_CALLS streams held open, each read one chunk and left (flow control then
        # stops the daemon's sending: the calls stay in flight)
        streams = [self.stub.Fetch(self.pb.FetchRequest(digest=digest), timeout=60)
                   for _ in range(MAX_CALLS)]
        for st in streams:
            next(st)
        with self.assertRaises(grpc.RpcError) as e:
            self.stub.Health(self.pb.HealthRequest(node_id="x", address="127.0.0.1:1"), timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.assertIn("max_connections", e.exception.details())
        for st in streams:
            st.cancel()
        ok = None
        for _ in range(100):  # the cancelled calls are freed: calls are taken again
            try:
                ok = self.stub.Health(self.pb.HealthRequest(node_id="x", address="127.0.0.1:1"),
                                      timeout=5)
                break
            except grpc.RpcError:
                time.sleep(0.1)
        self.assertIsNotNone(ok)

    def test_refusals(self):
        # another cluster; a clock ten minutes ahead (past p2p.max_clock_offset, 30 s)
        ahead = (int(time.time() * 1000) + 600000) << 16
        for req, why in ((self.pb.HealthRequest(node_id="x", address="127.0.0.1:1",
                                                cluster_id="other"), "another cluster"),
                         (self.pb.HealthRequest(node_id="x", address="127.0.0.1:1", hlc=ahead),
                          "clock ahead")):
            with self.assertRaises(grpc.RpcError) as e:
                self.stub.Health(req, timeout=5)
            self.assertEqual(e.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
            self.assertIn(why, e.exception.details())
        # a change stamped ten minutes ahead would win every conflict: refused, not applied
        line = json.dumps({"seq": 1, "hlc": ahead, "time_ms": int(time.time() * 1000) + 600000,
                           "node": "x", "store": "0" * 32, "type": "tag.delete",
                           "repo": "ahead/repo", "tag": "v1",
                           "records": [{"key": "_manifests/tags/v1", "tombstone": True}]})
        with self.assertRaises(grpc.RpcError) as e:
            self.stub.Apply(self.pb.ApplyRequest(node_id="x",
                                                 changes=[self.pb.Change(event=line)]), timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertFalse(os.path.exists(os.path.join(self.data, "repositories", "ahead")))
        # the same change at the present clock is taken
        now = int(time.time() * 1000)
        ok = json.loads(line)
        ok["hlc"], ok["time_ms"] = now << 16, now
        r = self.stub.Apply(self.pb.ApplyRequest(node_id="x", changes=[
            self.pb.Change(event=json.dumps(ok))]), timeout=5)
        self.assertEqual(r.applied, 1)

    def test_zz_sigterm_stops_it(self):
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=15), 0)
        self.assertLess(time.monotonic() - t0, 10)
        with open(os.path.join(self.tmp, "peer.log")) as f:
            msgs = [json.loads(line)["msg"] for line in f]
        msgs = [m for m in msgs if m.startswith("peer daemon")]
        self.assertEqual(msgs, ["peer daemon started", "peer daemon stopped"])


class TlsInteropTest(DaemonClass):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="octoserve-peer-tls-test-")
        cls.pb, cls.pb_grpc = compile_stubs(cls.tmp)
        make_ca(cls.tmp, "ca")
        server, client = make_cert(cls.tmp, "ca", "server", "node-t1"), \
            make_cert(cls.tmp, "ca", "client", "py-client")
        cls.port = free_port()
        cls.proc, cls.data, cls.config = start_daemon(
            cls.tmp, "peer", "node-t1", cls.port,
            {"tls": server, "transport": {"max_message_size": MAX_MESSAGE}})
        pem = {}
        for k, path in client.items():
            with open(path, "rb") as f:
                pem[k] = f.read()
        creds = grpc.ssl_channel_credentials(root_certificates=pem["ca"],
                                              private_key=pem["key"],
                                              certificate_chain=pem["cert"])
        cls.channel = grpc.secure_channel("127.0.0.1:%d" % cls.port, creds,
                                          options=[("grpc.ssl_target_name_override", "node-t1")])
        grpc.channel_ready_future(cls.channel).result(timeout=10)
        cls.stub = cls.pb_grpc.PeerStub(cls.channel)


    def test_health_by_the_certificate_s_id_only(self):
        reply = self.stub.Health(self.pb.HealthRequest(node_id="py-client",
                                                       address="127.0.0.1:1"), timeout=5)
        self.assertEqual(reply.node_id, "node-t1")
        with self.assertRaises(grpc.RpcError) as e:
            self.stub.Health(self.pb.HealthRequest(node_id="node-x", address="127.0.0.1:1"),
                             timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.PERMISSION_DENIED)
        self.assertIn('claims node id "node-x" but its certificate is for "py-client"',
                      e.exception.details())
        with self.assertRaises(grpc.RpcError) as e:
            self.stub.Apply(self.pb.ApplyRequest(node_id="node-x"), timeout=5)
        self.assertEqual(e.exception.code(), grpc.StatusCode.PERMISSION_DENIED)

    def test_fetch_over_tls(self):
        data = os.urandom(10 * MAX_MESSAGE + 5)
        hexd = hashlib.sha256(data).hexdigest()
        os.makedirs(os.path.join(self.data, "blobs", "sha256", hexd[:2]), exist_ok=True)
        with open(os.path.join(self.data, "blobs", "sha256", hexd[:2], hexd), "wb") as f:
            f.write(data)
        chunks = list(self.stub.Fetch(self.pb.FetchRequest(digest="sha256:" + hexd), timeout=10))
        self.assertGreater(len(chunks), 10)
        self.assertEqual(hashlib.sha256(b"".join(c.data for c in chunks)).hexdigest(), hexd)

    def test_plaintext_gets_no_answer(self):
        with grpc.insecure_channel("127.0.0.1:%d" % self.port) as ch:
            with self.assertRaises(grpc.RpcError) as e:
                self.pb_grpc.PeerStub(ch).Health(self.pb.HealthRequest(node_id="py-client"),
                                                 timeout=5)
            self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)


class IdleTest(unittest.TestCase):
    """p2p.transport.idle_timeout: a connection on which no call came for that long is closed
    by the daemon; one with a longer timeout stays."""

    def established(self, port):
        out = subprocess.run(["ss", "-tnH", "state", "established", "dst", "127.0.0.1:%d" % port],
                             capture_output=True, text=True, check=True).stdout
        return len(out.splitlines())

    def test_an_idle_connection_is_closed(self):
        tmp = tempfile.mkdtemp(prefix="octoserve-peer-idle-")
        pb, pb_grpc = compile_stubs(tmp)
        procs, channels = [], []
        try:
            ports = {}
            for name, idle in (("short", "1s"), ("long", "1h")):
                port = free_port()
                procs.append(start_daemon(tmp, name, "idle-" + name, port,
                                          {"transport": {"idle_timeout": idle}})[0])
                ch = grpc.insecure_channel("127.0.0.1:%d" % port)
                grpc.channel_ready_future(ch).result(timeout=10)
                channels.append(ch)
                reply = pb_grpc.PeerStub(ch).Health(pb.HealthRequest(node_id="idle-client"),
                                                    timeout=5)
                self.assertEqual(reply.node_id, "idle-" + name)
                ports[name] = port
                self.assertEqual(self.established(port), 1)
            time.sleep(3)
            self.assertEqual(self.established(ports["short"]), 0,
                             "a connection idle past p2p.transport.idle_timeout stayed open")
            self.assertEqual(self.established(ports["long"]), 1)
        finally:
            for ch in channels:
                ch.close()
            for p in procs:
                p.kill()
                p.wait()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
