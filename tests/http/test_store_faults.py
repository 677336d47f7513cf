# SPDX-License-Identifier: Apache-2.0
"""When the store fails, the client and the log are told why. A full file system (a tmpfs
with size=) answers 507 "no space left on device"; a read-only one (a read-only bind mount)
and an unwritable one (the responder run as a system user with setpriv) 503, each with its
own message, while reads go on; the log line of the failure carries the operation, the path
and the errno text. At start, a store the responder cannot write stops it with the path and
the reason. Runs as root (mounts), where chmod stops nothing."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import FCGI_BIN, Registry  # noqa: E402
from suite import ResponseAssertions, log_events, unique_bytes, wait_held  # noqa: E402
from trickle import Trickle  # noqa: E402

NO_FLOOR = {"storage": {"min_free": {"bytes": 0, "inodes": 0}}}
# The metrics counters are a writable shared mapping of a file of the store, and a file
# system with one cannot be remounted read-only (EBUSY): the tests that remount turn them
# off. (The kernel's own remount on errors is not refused.)
NO_METRICS = {"metrics": {"enabled": False}}


def store_errors(reg):
    """The "store error" lines of the responder's log."""
    return log_events(reg, "store error")


def umount(path):
    subprocess.run(["umount", "-l", path], stderr=subprocess.DEVNULL)


class StoreOnTmpfs(ResponseAssertions, unittest.TestCase):
    """A registry whose store is a tmpfs of its own (so that it can fill up, or be remounted
    read-only under the responder's open directory)."""

    def setUp(self):
        self.reg = Registry(config=dict(NO_FLOOR, **NO_METRICS))
        os.makedirs(self.reg.data)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", self.reg.data],
                       check=True)
        self.reg.start()

    def tearDown(self):
        self.reg.stop()
        umount(self.reg.data)
        self.reg.cleanup()


class FullDiskTest(StoreOnTmpfs):

    def test_full_disk_is_507_and_says_so(self):
        """The disk fills while a body arrives (the space check at its start passed)."""
        reg = self.reg
        small = unique_bytes(100000, "small")
        d = reg.push_blob("full/r", small)
        r = reg.request("POST", "/v2/full/r/blobs/uploads/")
        up = Trickle(reg.port, r.header("Location"), 1 << 20, b"full")
        # half of it: a front may hold a request back until some of its body is there
        up.send_upto(512 << 10)
        if not wait_held(reg, up.loc, timeout=30):
            self.skipTest("the front did not pass the PATCH on within 30 s")
        with open(os.path.join(reg.data, "filler"), "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        status, _, body = up.finish()
        self.assertEqual(status, 507, body)
        err = json.loads(body)["errors"][0]
        self.assertEqual(err["code"], "DENIED")
        self.assertEqual(err["message"], "insufficient storage: no space left on device")
        self.assertRegex(store_errors(reg)[-1]["cause"],
                         r"^write uploads/[-0-9a-f]{36}/data: No space left on device$")
        # reads go on, and the session keeps what it had
        self.assertEqual(reg.request("GET", "/v2/").status, 200)
        self.assertEqual(reg.request("GET", "/v2/full/r/blobs/" + d).body, small)
        self.assertEqual(reg.request("GET", up.loc).status, 204)


class ReadOnlyTest(StoreOnTmpfs):

    def test_read_only_store_is_503_and_reads_go_on(self):
        reg = self.reg
        data = unique_bytes(5000, "ro")
        d = reg.push_blob("ro/r", data)
        subprocess.run(["mount", "-o", "remount,ro", reg.data], check=True)
        r = reg.request("POST", "/v2/ro/r/blobs/uploads/")
        self.assertError(r, 503, "DENIED", "POST")
        self.assertEqual(r.json()["errors"][0]["message"],
                         "the store is on a read-only file system: writes are refused")
        self.assertRegex(store_errors(reg)[-1]["cause"],
                         r"^create the session directory uploads/[-0-9a-f]{36}/data: "
                         r"Read-only file system$")
        self.assertEqual(reg.request("GET", "/v2/ro/r/blobs/" + d).body, data)
        self.assertEqual(reg.request("HEAD", "/v2/ro/r/blobs/" + d).status, 200)


class StartTest(unittest.TestCase):
    """The responder refuses to start on a store it cannot write, and says why."""

    def start_on(self, store, user=None):
        tmp = tempfile.mkdtemp(prefix="octoserve-start-")
        os.chmod(tmp, 0o755)
        try:
            conf = os.path.join(tmp, "octoserve.json")
            with open(conf, "w") as f:
                json.dump({"storage": {"path": store},
                           "fcgi": {"listen": "unix:" + os.path.join(tmp, "sock")},
                           "logging": {"output": "stderr"}}, f)
            os.chmod(conf, 0o644)
            cmd = [FCGI_BIN, "-c", conf]
            if user:
                cmd = ["setpriv", "--reuid=" + user, "--regid=nogroup", "--clear-groups"] + cmd
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_unwritable_store_stops_the_start(self):
        root = tempfile.mkdtemp(prefix="octoserve-store-")
        try:
            os.chmod(root, 0o755)  # root's, so nobody cannot write it
            p = self.start_on(root, user="nobody")
            self.assertEqual(p.returncode, 1, p)
            self.assertIn("cannot open the store at %s: create blobs: Permission denied" % root,
                          p.stderr)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def test_read_only_store_stops_the_start(self):
        root = tempfile.mkdtemp(prefix="octoserve-store-")
        try:
            for sub in ("blobs", "repositories", "uploads", "journal"):
                os.makedirs(os.path.join(root, sub))
            subprocess.run(["mount", "--bind", "-o", "ro", root, root], check=True)
            subprocess.run(["mount", "-o", "remount,bind,ro", root], check=True)
            try:
                p = self.start_on(root)
            finally:
                umount(root)
            self.assertEqual(p.returncode, 1, p)
            self.assertRegex(p.stderr, r"cannot open the store at %s: create \.writable: "
                             r"Read-only file system" % root)
        finally:
            shutil.rmtree(root, ignore_errors=True)


class CommandLineTest(unittest.TestCase):
    """What an operator trying the responder by hand sees."""

    def test_version(self):
        p = subprocess.run([FCGI_BIN, "--version"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^octoserve-fcgi \(octoserve\) \d+\.\d+\.\d+\n$")

    def test_no_socket_is_an_error(self):
        """Run from a shell (fd 0 not a socket) without fcgi.listen: exit 1 saying why,
        before anything is created."""
        tmp = tempfile.mkdtemp(prefix="octoserve-nosock-")
        try:
            store = os.path.join(tmp, "data")
            env = dict(os.environ, OCTOSERVE_STORAGE_PATH=store)
            with open(os.devnull) as null:
                p = subprocess.run([FCGI_BIN], stdin=null, capture_output=True, text=True,
                                   env=env, timeout=10)
            self.assertEqual(p.returncode, 1, p)
            self.assertIn("no FastCGI socket", p.stderr)
            self.assertFalse(os.path.exists(store))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_unknown_variables_are_named(self):
        """An OCTOSERVE_* variable that sets no key: an error for --check-config, a warning
        in the log at start (the harness's own variables are OCTOTEST_*, never named)."""
        env = dict(os.environ, OCTOSERVE_SERVER_PROT="5001")
        p = subprocess.run([FCGI_BIN, "--check-config"], capture_output=True, text=True, env=env)
        self.assertEqual(p.returncode, 1, p)
        self.assertIn("OCTOSERVE_SERVER_PROT (did you mean OCTOSERVE_SERVER_PORT?)", p.stderr)
        p = subprocess.run([FCGI_BIN, "--check-config"], capture_output=True, text=True)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        reg = Registry(env={"OCTOSERVE_SERVER_PROT": "5001"}).start()
        try:
            self.assertEqual(reg.request("GET", "/v2/").status, 200)
            (w,) = log_events(reg, "not configuration variables")
            self.assertEqual((w["level"], w["names"]),
                             ("warn", "OCTOSERVE_SERVER_PROT (did you mean OCTOSERVE_SERVER_PORT?)"))
        finally:
            reg.cleanup()


if __name__ == "__main__":
    unittest.main()
