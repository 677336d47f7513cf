# SPDX-License-Identifier: Apache-2.0
"""The library's S3 client (lib/s3, driven through tests/s3/s3tool) against a real single-node Ceph
(tests/s3/ceph.py: a mon, an OSD on memstore and radosgw on loopback, everything in the test's
folder, stopped by PID): objects put with and without a signed payload, read whole and by range,
probed, listed under a prefix (and past a page), removed; a multipart upload of several parts
completed and one aborted; a presigned GET that works and a tampered one that does not; wrong
keys refused; and a stopped radosgw answered as "the store does not answer" (exit 5)."""
import concurrent.futures
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from ceph import Ceph  # noqa: E402

BUILDDIR = os.environ.get("OCTOTEST_BUILDDIR", os.path.abspath(os.path.join(HERE, "../..")))
S3TOOL = os.path.join(BUILDDIR, "tests/s3/s3tool")
CI = bool(os.environ.get("CI"))


def setUpModule():
    global CEPH, TMP
    if not shutil.which("radosgw"):
        if CI:
            raise AssertionError("radosgw is not installed (quickstart.sh TEST_PACKAGES)")
        raise unittest.SkipTest("radosgw is not installed")
    TMP = tempfile.mkdtemp(prefix="octoserve-ceph-")
    CEPH = Ceph(os.path.join(TMP, "ceph")).start()
    status, body = CEPH.signed("PUT", "/registry")
    assert status == 200, (status, body)


def tearDownModule():
    CEPH.stop()
    left = subprocess.run(["pgrep", "-f", CEPH.conf], capture_output=True, text=True).stdout
    shutil.rmtree(TMP, ignore_errors=True)
    assert not left.strip(), "Ceph daemons left: " + left


class S3ClientTest(unittest.TestCase):
    def tool(self, *args, secret=None, expect=0, endpoint=None, copy_max=0):
        env = dict(os.environ, S3_ENDPOINT=endpoint or CEPH.endpoint, S3_REGION=CEPH.region,
                   S3_BUCKET="registry", S3_PREFIX="t/", S3_ACCESS_KEY=CEPH.access_key,
                   S3_SECRET_KEY=secret or CEPH.secret_key, S3_PATH_STYLE="1", S3_RETRIES="1",
                   S3_COPY_MAX=str(copy_max))
        p = subprocess.run([S3TOOL] + list(args), env=env, capture_output=True, timeout=120)
        self.assertEqual(p.returncode, expect, (args, p.stderr.decode()))
        return p.stdout

    def file(self, data):
        fd, path = tempfile.mkstemp(dir=TMP)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return path

    def test_objects(self):
        data = os.urandom(300000)
        path = self.file(data)
        self.tool("put", "blobs/a b", path)  # unsigned payload, a key with a space
        self.tool("put", "blobs/c", path, hashlib.sha256(data).hexdigest())
        self.tool("put", "blobs/d", path, "0" * 64, expect=1)  # the wrong digest is refused
        self.assertEqual(self.tool("get", "blobs/a b"), data)
        self.assertEqual(self.tool("get", "blobs/c", "1000", "5000"), data[1000:6000])
        self.assertEqual(self.tool("get", "blobs/c", "299990", "0"), data[299990:])
        self.assertEqual(self.tool("head", "blobs/c").strip(), b"300000")
        self.tool("head", "blobs/none", expect=3)
        self.tool("get", "blobs/none", expect=3)
        listed = self.tool("list", "blobs/").decode().splitlines()
        self.assertEqual(listed, ["blobs/a b 300000", "blobs/c 300000"])
        self.tool("delete", "blobs/a b")
        self.tool("delete", "blobs/a b")  # gone already: still done
        self.tool("head", "blobs/a b", expect=3)

    def test_list_pages(self):
        # radosgw pages by 1000; the objects put directly, eight at a time (a tool run each
        # took 10 s)
        def put(i):
            return CEPH.signed("PUT", "/registry/t/many/%04d" % i, b"x")[0]
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            self.assertEqual(set(pool.map(put, range(1005))), {200})
        listed = self.tool("list", "many/").decode().splitlines()
        self.assertEqual(len(listed), 1005)
        self.assertEqual(listed[0], "many/0000 1")
        self.assertEqual(listed[-1], "many/1004 1")

    def test_multipart(self):
        data = os.urandom(11 << 20)
        path = self.file(data)
        self.tool("multipart", "big", path, str(5 << 20))  # 5 + 5 + 1 MiB
        self.assertEqual(hashlib.sha256(self.tool("get", "big")).digest(),
                         hashlib.sha256(data).digest())
        small = self.file(b"too small")
        self.tool("multipart", "small-parts", self.file(os.urandom(3 << 20)), str(1 << 20), expect=1)
        self.tool("head", "small-parts", expect=3)  # parts under 5 MiB but the last: not completed
        self.tool("multipart", "one", small, str(5 << 20))  # one part may be small
        self.assertEqual(self.tool("get", "one"), b"too small")
        upload = self.tool("abort", "aborted").strip()
        self.assertTrue(upload)
        self.tool("head", "aborted", expect=3)

    def test_copy_and_uploads_under_way(self):
        data = os.urandom(11 << 20)
        self.tool("put", "copy/from", self.file(data))
        self.tool("copy", "copy/from", "copy/to one", str(len(data)))  # one request
        self.tool("copy", "copy/from", "copy/to-parts", str(len(data)), copy_max=5 << 20)
        for key in ("copy/to one", "copy/to-parts"):
            self.assertEqual(hashlib.sha256(self.tool("get", key)).digest(),
                             hashlib.sha256(data).digest())
        self.tool("copy", "copy/nothing", "copy/x", "10", expect=3)
        self.assertEqual(self.tool("uploads", "under/"), b"")
        ids = [self.tool("begin", "under/k%d" % i).decode().strip() for i in range(3)]
        self.tool("begin", "elsewhere/k")
        listed = self.tool("uploads", "under/").decode().split("\n")
        self.assertEqual(sorted(line for line in listed if line),
                         sorted("under/k%d %s" % (i, ids[i]) for i in range(3)))

    def test_presign(self):
        self.tool("put", "signed", self.file(b"presigned bytes"))
        url = self.tool("presign", "signed", "60").decode().strip()
        with urllib.request.urlopen(url, timeout=10) as r:
            self.assertEqual(r.read(), b"presigned bytes")
        tampered = url.replace("signed?", "signex?")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(tampered, timeout=10)
        self.assertEqual(e.exception.code, 403)

    def test_refusals(self):
        self.tool("head", "x", secret="wrong-secret", expect=4)
        # nothing listens there: "the store does not answer", after the retries
        self.tool("head", "x", endpoint="http://127.0.0.1:9", expect=5)


if __name__ == "__main__":
    unittest.main(verbosity=2)
