# SPDX-License-Identifier: Apache-2.0
"""SIGTERM: the standalone responder (fcgi.listen) stops accepting, finishes requests in
flight within server.shutdown_timeout, and exits; a request stalled past the timeout does
not keep it alive."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fcgi_client import Request, params_for  # noqa: E402
from harness import FCGI_BIN, sha256  # noqa: E402


class Standalone:
    def __init__(self, shutdown_timeout):
        self.tmp = tempfile.mkdtemp(prefix="octoserve-shutdown-")
        self.sock = os.path.join(self.tmp, "fcgi.sock")
        cfg = {"fcgi": {"listen": "unix:" + self.sock, "threads": 2},
               "server": {"shutdown_timeout": shutdown_timeout},
               "storage": {"path": os.path.join(self.tmp, "data")},
               "logging": {"output": os.path.join(self.tmp, "log")}}
        path = os.path.join(self.tmp, "octoserve.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        self.proc = subprocess.Popen([FCGI_BIN, "-c", path])
        deadline = time.time() + 10
        while not os.path.exists(self.sock):
            if time.time() > deadline or self.proc.poll() is not None:
                raise RuntimeError("responder did not start")
            time.sleep(0.02)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


class ShutdownTest(unittest.TestCase):
    def test_request_in_flight_completes(self):
        srv = Standalone("10s")
        try:
            data = os.urandom(1 << 20)
            digest = sha256(data)
            req = Request(srv.sock, params_for("POST", "/v2/a/blobs/uploads/?digest=" + digest,
                                               len(data)))
            req.send_stdin(data[:len(data) // 2])
            time.sleep(0.3)  # the request is now being served
            srv.proc.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            self.assertIsNone(srv.proc.poll(), "exited with a request in flight")
            req.send_stdin(data[len(data) // 2:])
            status, headers, _ = req.finish()
            self.assertEqual(status, 201)
            self.assertEqual(headers.get("docker-content-digest"), digest)
            self.assertEqual(srv.proc.wait(timeout=10), 0)
            blob = os.path.join(srv.tmp, "data/blobs/sha256", digest[7:9], digest[7:])
            with open(blob, "rb") as f:
                self.assertEqual(f.read(), data)
        finally:
            srv.close()

    def test_no_new_requests_after_sigterm(self):
        srv = Standalone("10s")
        try:
            hold = Request(srv.sock, params_for("POST", "/v2/a/blobs/uploads/?digest=sha256:" + "0" * 64, 10))
            hold.send_stdin(b"12345")
            time.sleep(0.3)
            srv.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            try:
                late = Request(srv.sock, params_for("GET", "/v2/"), timeout=3)
                status, _, _ = late.finish()
                self.assertEqual(status, 0, "a request accepted after SIGTERM was served")
            except OSError:
                pass  # refused or reset: not accepted, as wanted
            hold.send_stdin(b"67890")
            status, _, _ = hold.finish()
            self.assertEqual(status, 400)  # digest mismatch, but answered
            self.assertEqual(srv.proc.wait(timeout=10), 0)
        finally:
            srv.close()

    def test_stalled_request_bounded_by_timeout(self):
        srv = Standalone("1s")
        try:
            stalled = Request(srv.sock, params_for("POST", "/v2/a/blobs/uploads/?digest=sha256:" + "0" * 64, 100))
            stalled.send_stdin(b"x")
            time.sleep(0.3)
            start = time.time()
            srv.proc.send_signal(signal.SIGTERM)
            srv.proc.wait(timeout=10)
            self.assertLess(time.time() - start, 5)
        finally:
            srv.close()


class SharedSocketTest(unittest.TestCase):
    """With the socket passed on fd 0 (lighttpd's bin-path, systemd socket activation), the
    socket belongs to the parent: a responder that stops must leave it usable for the next."""

    def test_socket_survives_sigterm(self):
        import socket
        tmp = tempfile.mkdtemp(prefix="octoserve-shared-")
        path = os.path.join(tmp, "fcgi.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(16)
        env = dict(os.environ, OCTOSERVE_STORAGE_PATH=os.path.join(tmp, "data"),
                   OCTOSERVE_LOG_OUTPUT=os.path.join(tmp, "log"), OCTOSERVE_FCGI_THREADS="3")
        try:
            for round_ in range(2):
                proc = subprocess.Popen([FCGI_BIN], stdin=listener.fileno(), env=env)
                status, _, body = Request(path, params_for("GET", "/v2/")).finish()
                self.assertEqual((status, body), (200, b"{}"), "round %d" % round_)
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(timeout=10), 0)
        finally:
            listener.close()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
