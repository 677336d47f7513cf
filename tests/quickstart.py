# SPDX-License-Identifier: Apache-2.0
"""./quickstart.sh serve as a user runs it, twice from one checkout: each instance has its
own run directory (run/<port>/) and store, so neither serves the other's; "serving on"
comes once the front answers; a second start on a busy port fails with a clear message and
touches nothing of the running instance; relative store paths are the caller's; Ctrl-C
(SIGINT to the process group) stops it. ./quickstart.sh cluster 2: two nodes, each lighttpd,
the responder and the peer daemon, a blob pushed to node 1 served by node 2, Ctrl-C stops
all of it."""
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

SRCDIR = os.environ.get("OCTOTEST_SRCDIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
sys.path.insert(0, os.path.join(SRCDIR, "tests/http"))
from harness import free_port, sha256  # noqa: E402
from trickle import Trickle  # noqa: E402

QUICKSTART = os.path.join(SRCDIR, "quickstart.sh")
# A nested make inside make check must not join the parent's jobserver.
ENV = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


def default_sigint():
    """As at a terminal: make check runs tests with SIGINT ignored, and a shell that starts
    with a signal ignored cannot trap it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Instance:
    def __init__(self, cwd, config, env=None, args=()):
        self.cwd, self.config = cwd, config
        self.port = config["server"]["port"]
        path = os.path.join(cwd, "octoserve.json")
        with open(path, "w") as f:
            json.dump(config, f)
        self.proc = subprocess.Popen(["sh", QUICKSTART, "serve", "-c", "octoserve.json"] + list(args),
                                     cwd=cwd, env=dict(ENV, **(env or {})),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True,
                                     preexec_fn=default_sigint)

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


class QuickstartBase(unittest.TestCase):
    """Instances started in a scratch directory each, stopped (Ctrl-C) at the end."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="octoserve-quickstart-")
        self.instances = []

    def tearDown(self):
        for i in self.instances:
            i.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, name, cfg, env=None, args=()):
        cwd = os.path.join(self.tmp, name)
        os.makedirs(cwd)
        i = Instance(cwd, cfg, env, args)
        self.instances.append(i)
        return i


class QuickstartTest(QuickstartBase):

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


class TlsTest(QuickstartBase):
    """serve --tls: HTTPS with a private CA made once into run/<port>/tls/; the README's
    authentication walk-through (a user added with htpasswd -B, a relative auth.htpasswd.path)
    behind it: the challenge names the https realm, and a login through it gets a token."""

    def test_tls_and_login(self):
        import base64
        import http.client
        import ssl
        port = free_port()
        cwd = os.path.join(self.tmp, "tls")
        os.makedirs(cwd)
        subprocess.run(["htpasswd", "-cbB", "-C", "5", os.path.join(cwd, "htpasswd"), "alice", "pw"],
                       check=True, capture_output=True)
        cfg = dict(config(port, "./data"), auth={"htpasswd": {"path": "./htpasswd"}})
        i = Instance(cwd, cfg, args=["--tls"])
        self.instances.append(i)
        self.assertIn("https://127.0.0.1:%d" % port, i.wait_serving())
        ca = os.path.join(SRCDIR, "run", str(port), "tls", "ca.crt")
        ctx = ssl.create_default_context(cafile=ca)

        def get(path, headers=None):
            c = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=ctx)
            try:
                c.request("GET", path, headers=headers or {})
                r = c.getresponse()
                return r.status, dict(r.getheaders()), r.read()
            finally:
                c.close()
        status, headers, _ = get("/v2/")
        self.assertEqual(status, 401)
        self.assertTrue(headers["WWW-Authenticate"].startswith(
            'Bearer realm="https://127.0.0.1:%d/auth/token"' % port), headers)
        status, _, body = get("/auth/token?service=octoserve",
                              {"Authorization": "Basic " + base64.b64encode(b"alice:pw").decode()})
        self.assertEqual(status, 200, body)
        status, _, _ = get("/v2/", {"Authorization": "Bearer " + json.loads(body)["token"]})
        self.assertEqual(status, 200)
        with self.assertRaises(ssl.SSLError):  # not without the CA
            c = http.client.HTTPSConnection("127.0.0.1", port, timeout=30,
                                            context=ssl.create_default_context())
            try:
                c.request("GET", "/livez")
            finally:
                c.close()


class CtrlCTest(QuickstartBase):
    """Ctrl-C in the middle of pushes: lighttpd stops gracefully, so a streamed PATCH and a
    chunked one (which lighttpd spools before the responder sees it) both end 202; after a
    restart the session resumes and the blob pulls byte-exact."""

    def post(self, port):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", "/v2/qs/ctrlc/blobs/uploads/")
        r = c.getresponse()
        r.read()
        c.close()
        return r.getheader("Location")

    def test_pushes_in_flight_finish(self):
        port = free_port()
        a = self.start("a", config(port, "data"))
        a.wait_serving()
        part = os.urandom(1 << 20)
        streamed = Trickle(port, self.post(port), 24 << 20, b"streamed")
        streamed.send_upto(4 << 20)
        chunked_loc = self.post(port)
        chunked = socket.create_connection(("127.0.0.1", port))
        chunked.sendall(("PATCH %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                         % chunked_loc).encode())
        chunked.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        time.sleep(0.5)
        os.killpg(a.proc.pid, signal.SIGINT)  # Ctrl-C, while both are in flight
        interrupted = time.monotonic()
        time.sleep(1)
        # a's lighttpd has let the port go and removed its pid file while it finishes:
        # another start is refused, not handed a's responder (which goes when a does)
        c = self.start("c", config(port, "data-c"))
        c.proc.wait(120)
        err = c.proc.stderr.read()
        self.assertEqual(c.proc.returncode, 1, err)
        self.assertIn("the instance on port %d is still stopping" % port, err)
        self.instances.remove(c)
        # past lighttpd's own 8 s default: it waits as long as the responder
        time.sleep(max(0, 9.5 - (time.monotonic() - interrupted)))
        status, headers, _ = streamed.finish()
        self.assertEqual(status, 202)
        chunked.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(part), part))
        chunked.settimeout(30)
        self.assertIn(b" 202 ", chunked.recv(4096).split(b"\r\n")[0])
        chunked.close()
        self.assertEqual(a.proc.wait(60), 0)
        # again on the same store: the sessions are there, and each push finishes
        self.instances.remove(a)
        shutil.rmtree(os.path.join(SRCDIR, "run", str(port)), ignore_errors=True)
        b = Instance(a.cwd, a.config)
        self.instances.append(b)
        b.wait_serving()
        for loc, digest in ((headers["location"], streamed.digest()),
                            (chunked_loc, sha256(part + part))):
            st, _ = request(port, "PUT", "%s%sdigest=%s" % (loc, "&" if "?" in loc else "?", digest))
            self.assertEqual(st, 201, loc)
        st, body = request(port, "GET", "/v2/qs/ctrlc/blobs/" + sha256(part + part))
        self.assertEqual((st, body == part + part), (200, True))



def free_pair():
    """A base port whose next two are free."""
    for _ in range(50):
        p = free_port()
        if p < 60000 and all(port_free(p + k) for k in (1, 2)):
            return p
    raise RuntimeError("no two free ports in a row")


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def listening(port):
    """Whether anything accepts connections on the port (a port just let go may still be
    held by connections in TIME_WAIT, which a bind would count)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


class ClusterTest(unittest.TestCase):

    def test_cluster_of_two_serves_a_push_everywhere_and_stops(self):
        tmp = tempfile.mkdtemp(prefix="octoserve-cluster-")
        self.addCleanup(shutil.rmtree, tmp, True)
        base, peer_base = free_pair(), free_pair()
        self.addCleanup(shutil.rmtree, os.path.join(SRCDIR, "run", "cluster-%d" % base), True)
        for k in (1, 2):
            self.addCleanup(shutil.rmtree, os.path.join(SRCDIR, "run", str(base + k)), True)
        proc = subprocess.Popen(["sh", QUICKSTART, "cluster", "2"], cwd=tmp,
                                env=dict(ENV, QUICKSTART_PORT_BASE=str(base),
                                         QUICKSTART_PEER_PORT_BASE=str(peer_base)),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True, preexec_fn=default_sigint)

        def stop():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            proc.stderr.close()
        self.addCleanup(stop)
        lines, serving = [], 0
        deadline = time.time() + 180
        while serving < 2 and time.time() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            serving += "quickstart: serving on" in line
        self.assertEqual(serving, 2, "".join(lines[-20:]))
        data = os.urandom(100000)
        st, _ = request(base + 1, "POST", "/v2/qc/app/blobs/uploads/?digest=%s" % sha256(data),
                        data)
        self.assertEqual(st, 201)
        got = None
        for _ in range(200):
            st, body = request(base + 2, "GET", "/v2/qc/app/blobs/%s" % sha256(data))
            if st == 200:
                got = body
                break
            time.sleep(0.1)
        self.assertEqual(got, data)
        self.assertTrue(os.path.isdir(os.path.join(tmp, "data-node2", "blobs")))
        # Ctrl-C: both nodes stop, fronts and daemons
        os.killpg(proc.pid, signal.SIGINT)
        self.assertEqual(proc.wait(60), 0)
        rest = proc.stderr.read()
        self.assertIn("quickstart: cluster stopped", rest)
        for port in (base + 1, base + 2, peer_base + 1, peer_base + 2):
            self.assertFalse(listening(port), "port %d still served" % port)

if __name__ == "__main__":
    unittest.main()
