# SPDX-License-Identifier: Apache-2.0
"""./quickstart.sh serve as a user runs it, twice from one checkout: each instance has its
own run directory (run/<port>/) and store, so neither serves the other's; "serving on"
comes once the front answers; a second start on a busy port fails with a clear message and
touches nothing of the running instance; relative store paths are the caller's; Ctrl-C
(SIGINT to the process group) stops it."""
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

SRCDIR = os.environ.get("OCTOSERVE_SRCDIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
sys.path.insert(0, os.path.join(SRCDIR, "tests/http"))
from harness import free_port, sha256  # noqa: E402

QUICKSTART = os.path.join(SRCDIR, "quickstart.sh")
# A nested make inside make check must not join the parent's jobserver.
ENV = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


class Instance:
    def __init__(self, cwd, config, env=None):
        self.cwd, self.config = cwd, config
        self.port = config["server"]["port"]
        path = os.path.join(cwd, "octoserve.json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.proc = subprocess.Popen(["sh", QUICKSTART, "serve", "-c", "octoserve.json"],
                                     cwd=cwd, env=dict(ENV, **(env or {})),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True)

    def wait_serving(self, timeout=120):
        """The quick start's lines until "serving on" (then the port must answer at once)."""
        deadline, lines = time.time() + timeout, []
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "serving on" in line:
                return line
        raise AssertionError("no 'serving on' line: %s" % "".join(lines[-20:]))

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(os.path.join(SRCDIR, "run", str(self.port)), ignore_errors=True)


def request(port, method, path, body=None):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request(method, path, body=body)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def config(port, storage):
    return {"server": {"address": "127.0.0.1", "port": port},
            "fcgi": {"sendfile": "x-sendfile"}, "storage": {"path": storage},
            "logging": {"output": "stderr"}}


class QuickstartTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="octoserve-quickstart-")
        self.instances = []

    def tearDown(self):
        for i in self.instances:
            i.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, name, cfg, env=None):
        cwd = os.path.join(self.tmp, name)
        os.makedirs(cwd)
        i = Instance(cwd, cfg, env)
        self.instances.append(i)
        return i

    def test_two_instances_and_a_busy_port(self):
        pa, pb = free_port(), free_port()
        a = self.start("a", config(pa, "data-a"))  # relative: under a's directory
        a.wait_serving()
        self.assertEqual(request(pa, "GET", "/livez")[0], 200)  # already answering
        # b: the store from a relative OCTOSERVE_STORAGE_PATH, also the caller's
        b = self.start("b", config(pb, "unused"), env={"OCTOSERVE_STORAGE_PATH": "data-b"})
        line = b.wait_serving()
        self.assertIn(os.path.join(self.tmp, "b", "data-b"), line)
        blob = b"only in b"
        st, _ = request(pb, "POST", "/v2/qs/r/blobs/uploads/?digest=" + sha256(blob), blob)
        self.assertEqual(st, 201)
        hexd = sha256(blob).split(":")[1]
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "b", "data-b", "blobs", "sha256",
                                                    hexd[:2], hexd)))
        self.assertEqual(request(pa, "HEAD", "/v2/qs/r/blobs/" + sha256(blob))[0], 404)
        self.assertEqual(request(pb, "HEAD", "/v2/qs/r/blobs/" + sha256(blob))[0], 200)
        self.assertNotEqual(os.listdir(os.path.join(SRCDIR, "run", str(pa))),
                            [])  # a's own run directory

        # a second start on a's port: refused, a untouched
        run_a = os.path.join(SRCDIR, "run", str(pa))
        before = {n: os.stat(os.path.join(run_a, n)).st_mtime_ns for n in os.listdir(run_a)}
        c = self.start("c", config(pa, "data-c"))
        c.proc.wait(120)
        err = c.proc.stderr.read()
        self.assertEqual(c.proc.returncode, 1, err)
        self.assertIn("an instance already serves port %d" % pa, err)
        self.assertNotIn("serving on", err)
        after = {n: os.stat(os.path.join(run_a, n)).st_mtime_ns for n in os.listdir(run_a)}
        self.assertEqual(before, after)
        self.assertEqual(request(pa, "GET", "/v2/")[0], 200)

        # a port some other program holds: refused before anything is written
        other = socket.socket()
        other.bind(("127.0.0.1", 0))
        other.listen()
        po = other.getsockname()[1]
        try:
            d = self.start("d", config(po, "data-d"))
            d.proc.wait(120)
            err = d.proc.stderr.read()
            self.assertEqual(d.proc.returncode, 1, err)
            self.assertIn("the port is in use", err)
            self.assertFalse(os.path.exists(os.path.join(SRCDIR, "run", str(po))))
        finally:
            other.close()

        # Ctrl-C stops a (its responder too)
        os.killpg(a.proc.pid, signal.SIGINT)
        self.assertEqual(a.proc.wait(60), 0)
        with self.assertRaises(OSError):
            request(pa, "GET", "/v2/")


if __name__ == "__main__":
    unittest.main()
