#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Blob and upload endpoints through a real lighttpd + octoserve-fcgi.

distribution-spec end-1, end-2, end-4a/4b, end-5, end-6, end-10, end-11, end-13 and
"Mounting a blob from another repository", checked status by status and header by header.
One Registry serves every test (a second one, with deletes disabled, serves the
delete-disabled cases). Run: python3 tests/http/test_blobs.py [-v] [TestClass[.test]]
"""
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import IN_BUCKET, Registry, sha256  # noqa: E402
from suite import API_VERSION, SPEC_CODES, RegistryPool, RegistryTest, ResponseAssertions, enc, held, log_events, next_id, sha512, unique_bytes, wait_held  # noqa: E402,F401

# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------



UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
MIB = 1024 * 1024

SECRET = b"OCTOSERVE-TEST-SECRET-7f3a9c"  # written next to (outside) the store





def pieces(data, sizes):
    """Split data into consecutive pieces of the given sizes (cycled); for chunked bodies."""
    out, i, k = [], 0, 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        out.append(data[i:i + n])
        i += n
        k += 1
    return out


def raw_exchange(port, data, timeout=20):
    """Send raw bytes; parse one HTTP response. Returns (status, headers, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        r = http.client.HTTPResponse(s, method=data.split(b" ", 1)[0].decode())
        r.begin()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        s.close()


def raw_send_and_close(port, data, linger=0.2):
    """Send raw bytes and close the connection without reading a response."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(data)
        time.sleep(linger)
    finally:
        s.close()


FRONT = os.environ.get("OCTOTEST_FRONT", "lighttpd")

def _plant_secret(reg):
    """A file next to (outside) the store, which no request may ever read."""
    with open(os.path.join(reg.tmp, "secret.txt"), "wb") as f:
        f.write(SECRET + b"\n")


POOL = RegistryPool({"nodelete": {"storage": {"delete_enabled": False}},
                     "stream": {"fcgi": {"sendfile": "none"}}}, prepare=_plant_secret)


def tearDownModule():
    POOL.close()


class BlobTest(RegistryTest):
    """Base class of this suite: the shared registry plus blob and upload helpers."""

    pool = POOL
    repo_prefix = "t"

    def blob_url(self, repo, digest):
        return "/v2/%s/blobs/%s" % (repo, digest)

    def store_path(self, digest):
        alg, hexpart = digest.split(":", 1)
        return os.path.join(self.reg.data, "blobs", alg, hexpart[:2], hexpart)

    def upload_dirs(self):
        return sorted(os.listdir(os.path.join(self.reg.data, "uploads")))

    def push(self, repo, data, digest=None):
        digest = digest or sha256(data)
        r = self.reg.post_blob(repo, data, digest)
        self.assertCreated(r, repo, digest)
        return digest

    def start_upload(self, repo):
        r = self.req("POST", "/v2/%s/blobs/uploads/" % repo)
        uuid = self.assertSession(r, 202, repo, None)
        return r.header("Location"), uuid

    # --- assertions -----------------------------------------------------------------
    def assertSession(self, r, status, repo, end, uuid=None):
        """An open upload session: Location, Range 0-<end>, Docker-Upload-UUID."""
        self.assertEqual(r.status, status, r)
        self.assertApiVersion(r)
        loc = r.header("Location")
        self.assertIsNotNone(loc, r)
        m = re.fullmatch(r"(?:https?://[^/]+)?/v2/%s/blobs/uploads/(%s)" % (re.escape(repo), UUID_RE),
                         loc)
        self.assertIsNotNone(m, "bad Location %r" % loc)
        self.assertEqual(r.header("Docker-Upload-UUID"), m.group(1), r)
        if uuid is not None:
            self.assertEqual(m.group(1), uuid, r)
        self.assertEqual(r.header("Range"), "0-%d" % (end if end is not None else 0), r)
        return m.group(1)

    def assertCreated(self, r, repo, digest):
        """201 with Location (a pullable blob URL) and Docker-Content-Digest."""
        self.assertEqual(r.status, 201, r)
        self.assertApiVersion(r)
        self.assertEqual(r.header("Docker-Content-Digest"), digest, r)
        loc = r.header("Location")
        self.assertIsNotNone(loc, r)
        self.assertRegex(loc, r"^(https?://[^/]+)?%s$" % re.escape(self.blob_url(repo, digest)))

    def assertBlob(self, repo, digest, data):
        """GET and HEAD serve exactly data with the right headers."""
        url = self.blob_url(repo, digest)
        g = self.req("GET", url)
        self.assertEqual(g.status, 200, g)
        self.assertApiVersion(g)
        self.assertEqual(g.header("Docker-Content-Digest"), digest, g)
        self.assertEqual(g.header("Content-Type"), "application/octet-stream", g)
        self.assertEqual(int(g.header("Content-Length")), len(data), g)
        self.assertIsNone(g.header("X-Sendfile"), g)
        self.assertEqual(len(g.body), len(data))
        self.assertTrue(g.body == data, "body differs from the pushed bytes")
        h = self.req("HEAD", url)
        self.assertEqual(h.status, 200, h)
        self.assertApiVersion(h)
        self.assertEqual(h.header("Docker-Content-Digest"), digest, h)
        self.assertEqual(h.header("Content-Type"), "application/octet-stream", h)
        if FRONT == "apache" and not data:
            # Apache's HTTP filter drops "Content-Length: 0" from every HEAD response
            self.assertIn(h.header("Content-Length"), (None, "0"), h)
        else:
            self.assertEqual(int(h.header("Content-Length")), len(data), h)
        self.assertEqual(h.body, b"")

    def assertNoBlob(self, repo, digest):
        self.assertNotFound(self.blob_url(repo, digest), "BLOB_UNKNOWN")

    def assertNotInStore(self, digest):
        self.assertFalse(os.path.exists(self.store_path(digest)), "%s is in the store" % digest)

    def assertStatus(self, loc, repo, end, uuid):
        r = self.req("GET", loc)
        self.assertSession(r, 204, repo, end, uuid)
        self.assertEqual(r.body, b"")


# ---------------------------------------------------------------------------------------
# end-1 and routing
# ---------------------------------------------------------------------------------------

class BaseAndRoutingTest(BlobTest):
    # (method, path, methods the resource allows)
    WRONG_METHODS = [
        ("POST", "/v2/", {"GET", "HEAD"}),
        ("PUT", "/v2/", {"GET", "HEAD"}),
        ("DELETE", "/v2/", {"GET", "HEAD"}),
        ("PUT", "/v2/a/b/blobs/sha256:" + "0" * 64, {"GET", "HEAD", "DELETE"}),
        ("POST", "/v2/a/b/blobs/sha256:" + "0" * 64, {"GET", "HEAD", "DELETE"}),
        ("PATCH", "/v2/a/b/blobs/sha256:" + "0" * 64, {"GET", "HEAD", "DELETE"}),
        ("GET", "/v2/a/b/blobs/uploads/", {"POST"}),
        ("PUT", "/v2/a/b/blobs/uploads/", {"POST"}),
        ("DELETE", "/v2/a/b/blobs/uploads/", {"POST"}),
        ("PATCH", "/v2/a/b/blobs/uploads/", {"POST"}),
        ("POST", "/v2/a/b/blobs/uploads/00000000-0000-4000-8000-000000000000",
         {"GET", "HEAD", "PATCH", "PUT", "DELETE"}),
    ]

    def test_too_many_headers_is_431(self):
        """More headers than the responder holds: 431, never a request with some dropped
        (a Range hidden behind junk headers would be ignored). Below the bound it works."""
        repo = self.repo()
        data = b"0123456789-%d" % next_id()
        d = self.reg.push_blob(repo, data)
        junk = {"X-Junk-%02d" % i: "v" for i in range(70)}
        junk["Range"] = "bytes=0-3"
        r = self.req("GET", "/v2/%s/blobs/%s" % (repo, d), headers=junk)
        self.assertError(r, 431, "UNSUPPORTED")
        few = {"X-Junk-%02d" % i: "v" for i in range(40)}
        few["Range"] = "bytes=0-3"
        r = self.req("GET", "/v2/%s/blobs/%s" % (repo, d), headers=few)
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.body, data[:4])
        r = self.req("GET", "/v2/", headers={"X-" + "n" * 200: "v"})
        self.assertError(r, 431, "UNSUPPORTED")

    def test_base_get(self):
        r = self.req("GET", "/v2/")
        self.assertEqual(r.status, 200, r)
        self.assertApiVersion(r)

    def test_base_head(self):
        r = self.req("HEAD", "/v2/")
        self.assertEqual(r.status, 200, r)
        self.assertApiVersion(r)
        self.assertEqual(r.body, b"")

    def test_unknown_paths_404_not_found(self):
        for path in ["/v2/nothing", "/v2/a/b/nothing", "/v2/a/b/blobs",
                     "/v2/a/b/blob/sha256:" + "0" * 64, "/v2/a/b/uploads/",
                     "/v2/a/b/blobs/sha256:%s/extra" % ("0" * 64)]:
            with self.subTest(path=path):
                self.assertError(self.req("GET", path), 404, "UNSUPPORTED")

    def test_paths_outside_v2_404(self):
        for path in ["/nothing", "/v1/", "/v2x/", "/v2x/a/blobs/uploads/"]:
            with self.subTest(path=path):
                # Apache's site config denies everything outside /v2/ (403); the others 404
                self.assertIn(self.req("GET", path).status, (403, 404) if FRONT == "apache" else (404,))

    def test_wrong_method_405_unsupported(self):
        for method, path, _ in self.WRONG_METHODS:
            with self.subTest(method=method, path=path):
                self.assertError(self.req(method, path), 405, "UNSUPPORTED", method=method)

    def test_wrong_method_405_has_allow_header(self):
        # RFC 9110 15.5.6: a 405 response MUST carry Allow with the supported methods.
        for method, path, allowed in self.WRONG_METHODS:
            with self.subTest(method=method, path=path):
                r = self.req(method, path)
                self.assertEqual(r.status, 405, r)
                allow = r.header("Allow")
                self.assertIsNotNone(allow, "405 without Allow: %r" % r)
                got = {m.strip().upper() for m in allow.split(",") if m.strip()}
                self.assertEqual(got, allowed, r)


# ---------------------------------------------------------------------------------------
# end-2: GET / HEAD a blob
# ---------------------------------------------------------------------------------------

class BlobGetTest(BlobTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.repo_ = "blobget/repo"
        cls.data = b"0123456789abcdefghijklmnopqrstuvwxyz"  # 36 bytes
        cls.digest = cls.reg.push_blob(cls.repo_, cls.data)
        cls.url = "/v2/%s/blobs/%s" % (cls.repo_, cls.digest)

    def test_get_headers_and_body(self):
        self.assertBlob(self.repo_, self.digest, self.data)

    def test_get_etag_and_accept_ranges(self):
        r = self.req("GET", self.url)
        self.assertEqual(r.header("Accept-Ranges"), "bytes", r)
        self.assertIn(self.digest, r.header("ETag") or "", r)

    def test_head_unknown_no_body(self):
        r = self.req("HEAD", self.blob_url(self.repo_, sha256(b"nope-head")))
        self.assertError(r, 404, None, method="HEAD")

    def test_empty_blob(self):
        repo = self.repo()
        d = self.push(repo, b"")
        self.assertEqual(d, sha256(b""))
        self.assertBlob(repo, d, b"")

    def test_one_mib_blob(self):
        repo = self.repo()
        data = unique_bytes(MIB + 17)
        d = self.push(repo, data)
        self.assertBlob(repo, d, data)

    def _range(self, spec, start, end):
        r = self.req("GET", self.url, headers={"Range": spec})
        self.assertEqual(r.status, 206, r)
        self.assertApiVersion(r)
        self.assertEqual(r.header("Content-Range"), "bytes %d-%d/%d" % (start, end, len(self.data)), r)
        self.assertEqual(int(r.header("Content-Length")), end - start + 1, r)
        self.assertEqual(r.body, self.data[start:end + 1])
        self.assertEqual(r.header("Docker-Content-Digest"), self.digest, r)
        self.assertEqual(r.header("Content-Type"), "application/octet-stream", r)

    def test_range_closed(self):
        self._range("bytes=3-9", 3, 9)

    def test_range_single_byte(self):
        self._range("bytes=0-0", 0, 0)

    def test_range_last_byte(self):
        self._range("bytes=35-35", 35, 35)

    def test_range_end_past_size_is_clamped(self):
        self._range("bytes=30-1000", 30, 35)

    def test_range_open_ended(self):
        self._range("bytes=10-", 10, 35)

    def test_range_suffix(self):
        self._range("bytes=-5", 31, 35)

    def test_range_suffix_longer_than_blob(self):
        self._range("bytes=-1000", 0, 35)

    def test_range_resume_large_blob(self):
        # containerd resumes a cut download with bytes=N- (doc/notes/real-clients.md 9).
        repo = self.repo()
        data = unique_bytes(3 * MIB + 5)
        d = self.push(repo, data)
        n = 2 * MIB + 3
        r = self.req("GET", self.blob_url(repo, d), headers={"Range": "bytes=%d-" % n})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.header("Content-Range"), "bytes %d-%d/%d" % (n, len(data) - 1, len(data)))
        self.assertEqual(int(r.header("Content-Length")), len(data) - n)
        self.assertTrue(r.body == data[n:], "resumed bytes differ")

    def test_range_unsatisfiable(self):
        for spec in ["bytes=36-", "bytes=36-40", "bytes=1000-", "bytes=-0"]:
            with self.subTest(range=spec):
                r = self.req("GET", self.url, headers={"Range": spec})
                self.assertEqual(r.status, 416, r)
                self.assertApiVersion(r)
                self.assertEqual(r.header("Content-Range"), "bytes */36", r)
                self.assertNotIn(self.data, r.body)

    def test_range_unsatisfiable_empty_blob(self):
        repo = self.repo()
        d = self.push(repo, b"")
        r = self.req("GET", self.blob_url(repo, d), headers={"Range": "bytes=0-"})
        self.assertEqual(r.status, 416, r)
        self.assertEqual(r.header("Content-Range"), "bytes */0", r)

    def test_range_unsatisfiable_error_body(self):
        # A JSON 4xx body MUST use a code from the spec's table (spec "Error Codes").
        r = self.req("GET", self.url, headers={"Range": "bytes=36-"})
        self.assertEqual(r.status, 416, r)
        if (r.header("Content-Type") or "").startswith("application/json"):
            code = json.loads(r.body)["errors"][0]["code"]
            self.assertIn(code, SPEC_CODES, "416 error code %r is not a distribution-spec code" % code)

    def test_head_ignores_range(self):
        r = self.req("HEAD", self.url, headers={"Range": "bytes=2-3"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(int(r.header("Content-Length")), len(self.data), r)
        self.assertIsNone(r.header("Content-Range"), r)

    def test_unknown_range_unit_ignored(self):
        r = self.req("GET", self.url, headers={"Range": "items=0-1"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, self.data)

    def test_blob_in_other_repo_not_linked(self):
        other = self.repo("other")
        self.push(other, b"x")  # the repository exists but does not link our blob
        self.assertNoBlob(other, self.digest)
        self.assertNoBlob(self.repo("never"), self.digest)

    def test_unknown_digest(self):
        self.assertNoBlob(self.repo_, sha256(b"never pushed"))
        self.assertNoBlob(self.repo_, sha512(b"never pushed"))
        d = sha256(b"never pushed")
        r = self.req("GET", self.blob_url(self.repo_, d))
        self.assertEqual(r.json()["errors"][0]["detail"],
                         "blob %s is not in repository %s" % (d, self.repo_))

    MALFORMED_DIGESTS = [
        "sha256:" + "A" * 64,                     # uppercase hex
        "sha256:" + "0123456789ABCDEF" * 4,       # mixed
        "sha256:" + "0" * 63,                     # short
        "sha256:" + "0" * 65,                     # long
        "sha256:",                                # empty hex
        "sha256:" + "g" * 64,                     # not hex
        "sha512:" + "0" * 64,                     # sha512 needs 128 hex digits
        "md5:" + "0" * 32,                        # unknown algorithm
        "sha1:" + "0" * 40,
        "sha384:" + "0" * 96,
        "SHA256:" + "0" * 64,
        "sha256" + "0" * 64,                      # no colon
        "0" * 64,
        "sha256:..%2F..%2Fetc%2Fpasswd",          # sha256:../../etc/passwd as one segment
        "sha256%3A..%2F..%2F..%2Fetc%2Fpasswd",
        "sha256:" + "0" * 62 + "%2F0",            # a '/' smuggled into the hex
    ]

    def test_malformed_digest_400(self):
        for dg in self.MALFORMED_DIGESTS:
            with self.subTest(digest=dg):
                self.assertError(self.req("GET", self.blob_url(self.repo_, dg)), 400, "DIGEST_INVALID")
                self.assertError(self.req("HEAD", self.blob_url(self.repo_, dg)), 400, None,
                                 method="HEAD")

    BAD_NAMES = [
        "A", "Abc", "abc/Def", "a//b", "/a", "-a", "a-", "_a", "a_", ".a", "a.", "a..b",
        "a___b", "a/./b", "a/../b", "a/%2e%2e/x", "x/%2e%2e", "a%20b", "a:b", "a@b",
        "a" * 256, ("a" * 127 + "/") * 2 + "aa",
    ]

    def test_bad_repository_names_400(self):
        d = self.digest
        for name in self.BAD_NAMES:
            with self.subTest(name=name[:40]):
                self.assertError(self.req("GET", "/v2/%s/blobs/%s" % (name, d)), 400, "NAME_INVALID")
                self.assertError(self.req("POST", "/v2/%s/blobs/uploads/" % name), 400, "NAME_INVALID")

    def test_name_at_limits_is_valid(self):
        for name in ["a" * 255, "a/" * 127 + "a", "a__b/c-----d/e.f/0"]:
            with self.subTest(name=name[:40]):
                data = unique_bytes(10, name)
                d = self.push(name, data)
                self.assertBlob(name, d, data)

    def test_dotdot_first_name_component_rejected(self):
        # lighttpd normalises the path first (/v2/../x -> /x) and answers its own 404, so the
        # responder never sees it; either way nothing is served.
        r = self.req("GET", "/v2/%%2e%%2e/x/blobs/%s" % self.digest)
        if r.header("content-type") == "application/json":
            self.assertError(r, 400, "NAME_INVALID")
        else:
            self.assertIn(r.status, (403, 404) if FRONT == "apache" else (404,), r)


# ---------------------------------------------------------------------------------------
# Path traversal: nothing outside the store is ever read
# ---------------------------------------------------------------------------------------

class TraversalTest(BlobTest):
    def _check(self, r, what):
        self.assertGreaterEqual(r.status, 400, "%s: %r" % (what, r))
        self.assertLess(r.status, 500, "%s: %r" % (what, r))
        self.assertNotIn(SECRET, r.body, what)
        self.assertNotIn(b"root:", r.body, what)
        self.assertNotIn(b'"storage"', r.body, what)  # octoserve.json
        self.assertIsNone(r.header("X-Sendfile"), what)

    def test_planted_symlink_is_not_followed(self):
        """A blob file replaced by a symlink to a file outside the store (a bad restore, a
        hostile writer): neither the responder nor the front (told not to follow links in
        contrib/) serves the target, by X-Sendfile, X-Accel-Redirect or streaming."""
        repo = self.repo()
        data = b"planted-link-%d" % next_id()
        d = self.reg.push_blob(repo, data)
        outside = os.path.join(self.reg.tmp, "outside-%s.txt" % d[7:19])
        with open(outside, "wb") as f:
            f.write(SECRET)
        blob = os.path.join(self.reg.data, "blobs", "sha256", d[7:9], d[7:])
        os.unlink(blob)
        os.symlink(outside, blob)
        for method in ("GET", "HEAD"):
            r = self.req(method, "/v2/%s/blobs/%s" % (repo, d))
            self.assertEqual(r.status, 500, r)
            self.assertNotIn(SECRET, r.body)
            self.assertIsNone(r.header("X-Sendfile"))
        r = self.req("GET", "/v2/%s/blobs/%s" % (repo, d), headers={"Range": "bytes=0-3"})
        self.assertNotIn(SECRET[:4], r.body)
        self.assertEqual(r.status, 500, r)

    def test_traversal_in_paths(self):
        d = sha256(b"x")
        paths = [
            "/v2/../../etc/passwd",
            "/v2/../secret.txt",
            "/v2/%2e%2e/%2e%2e/etc/passwd",
            "/v2/%2E%2E/%2E%2E/etc/passwd",
            "/v2/..%2f..%2fetc%2fpasswd",
            "/v2/%252e%252e/%252e%252e/etc/passwd",
            "/v2/%2e%2e/x/blobs/" + d,
            "/v2/a/../../../etc/passwd",
            "/v2/a/blobs/../../../../etc/passwd",
            "/v2/a/blobs/sha256:../../../../etc/passwd",
            "/v2/a/blobs/sha256:..%2F..%2F..%2F..%2Fsecret.txt",
            "/v2/a/blobs/sha256%3A..%2F..%2F..%2F..%2F..%2Fsecret.txt",
            "/v2/a/blobs/..%2F..%2F..%2Fsecret.txt",
            "/v2/..%2F..%2F..%2Fsecret.txt/blobs/" + d,
            "/v2/a%2F..%2F..%2F..%2F../blobs/" + d,
            "/v2/a/blobs/uploads/..%2F..%2F..%2Fsecret.txt",
            "/v2/a/blobs/uploads/../../../secret.txt",
            "/v2/a/blobs/uploads/%2e%2e%2f%2e%2e%2fstate",
            "/v2/a/blobs/sha256:" + "0" * 64 + "%00",
            "/v2/a/blobs/sha256:" + "0" * 64 + "/..",
            "/v2/a%5c..%5c..%5csecret.txt/blobs/" + d,
        ]
        for path in paths:
            for method in ("GET", "HEAD", "PATCH", "PUT", "DELETE"):
                with self.subTest(method=method, path=path):
                    self._check(self.req(method, path), "%s %s" % (method, path))

    def test_traversal_raw_request_line(self):
        for target in [b"/v2/../../etc/passwd", b"/v2/./../secret.txt", b"/v2/a/blobs/../../../secret.txt"]:
            with self.subTest(target=target):
                status, headers, body = raw_exchange(
                    self.reg.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                self.assertGreaterEqual(status, 400)
                self.assertLess(status, 500)
                self.assertNotIn(SECRET, body)
                self.assertNotIn(b"root:", body)

    def test_traversal_in_mount_from(self):
        d = self.push(self.repo(), b"mount-trav")
        for frm in ["..%2F..%2Fsecret.txt", "..", "a%2F..%2F..", "%2Fetc"]:
            with self.subTest(frm=frm):
                r = self.req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (self.repo(), d, frm))
                self.assertError(r, 400, "NAME_INVALID")


# ---------------------------------------------------------------------------------------
# sha512
# ---------------------------------------------------------------------------------------

class Sha512Test(BlobTest):
    def test_monolithic_sha512(self):
        repo = self.repo()
        data = unique_bytes(70000)
        d = sha512(data)
        r = self.req("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, d), body=data)
        self.assertCreated(r, repo, d)
        self.assertBlob(repo, d, data)
        self.assertTrue(os.path.exists(self.store_path(d)))

    def test_monolithic_sha512_encoded(self):
        repo = self.repo()
        data = unique_bytes(100)
        d = sha512(data)
        r = self.req("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, enc(d)), body=data)
        self.assertCreated(r, repo, d)
        self.assertBlob(repo, d, data)

    def test_chunked_sha512(self):
        repo = self.repo()
        data = unique_bytes(3 * MIB + 1)
        loc, uuid = self.start_upload(repo)
        r = self.req("PATCH", loc, body=data[:MIB], headers={"Content-Range": "0-%d" % (MIB - 1)})
        self.assertSession(r, 202, repo, MIB - 1, uuid)
        r = self.req("PATCH", loc, body=pieces(data[MIB:], [65536, 1000, 300000]), chunked=True)
        self.assertSession(r, 202, repo, len(data) - 1, uuid)
        d = sha512(data)
        r = self.req("PUT", "%s?digest=%s" % (loc, d))
        self.assertCreated(r, repo, d)
        self.assertBlob(repo, d, data)

    def test_sha512_wrong_digest(self):
        repo = self.repo()
        data = unique_bytes(1000)
        wrong = sha512(data + b"!")
        r = self.req("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, wrong), body=data)
        self.assertError(r, 400, "DIGEST_INVALID")
        self.assertNoBlob(repo, wrong)
        self.assertNoBlob(repo, sha512(data))
        self.assertNotInStore(wrong)
        self.assertNotInStore(sha512(data))

    def test_same_bytes_both_algorithms(self):
        repo = self.repo()
        data = unique_bytes(5000)
        d256 = self.push(repo, data)
        d512 = self.push(repo, data, sha512(data))
        self.assertBlob(repo, d256, data)
        self.assertBlob(repo, d512, data)

    def test_mount_sha512(self):
        src, dst = self.repo("src"), self.repo("dst")
        data = unique_bytes(512)
        d = self.push(src, data, sha512(data))
        r = self.req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (dst, d, src))
        self.assertCreated(r, dst, d)
        self.assertBlob(dst, d, data)


# ---------------------------------------------------------------------------------------
# end-4a / end-4b: POST
# ---------------------------------------------------------------------------------------

class UploadStartTest(BlobTest):
    def test_post_starts_session(self):
        repo = self.repo()
        r = self.req("POST", "/v2/%s/blobs/uploads/" % repo, headers={"Content-Length": "0"})
        uuid = self.assertSession(r, 202, repo, 0)
        self.assertStatus(r.header("Location"), repo, 0, uuid)
        self.assertIn(uuid, self.upload_dirs())

    def test_post_sessions_are_distinct(self):
        repo = self.repo()
        ids = {self.start_upload(repo)[1] for _ in range(5)}
        self.assertEqual(len(ids), 5)

    def test_monolithic_post(self):
        repo = self.repo()
        data = unique_bytes(4097)
        d = sha256(data)
        before = self.upload_dirs()
        r = self.req("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, d), body=data,
                     headers={"Content-Type": "application/octet-stream"})
        self.assertCreated(r, repo, d)
        self.assertBlob(repo, d, data)
        self.assertTrue(os.path.exists(self.store_path(d)))
        self.assertEqual(self.upload_dirs(), before, "a monolithic upload left a session behind")
        # The Location is pullable as given.
        g = self.req("GET", r.header("Location"))
        self.assertEqual(g.status, 200, g)
        self.assertEqual(g.body, data)

    def test_monolithic_post_digest_encoded(self):
        repo = self.repo()
        data = unique_bytes(33)
        d = sha256(data)
        self.assertIn("%3A", enc(d))
        r = self.req("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, enc(d)), body=data)
        self.assertCreated(r, repo, d)
        self.assertBlob(repo, d, data)

    def test_monolithic_post_query_any_order(self):
        for q in ["?foo=bar&digest={d}", "?digest={d}&foo=bar", "?a=&digest={e}&b", "?x=%41&digest={e}"]:
            with self.subTest(query=q):
                repo = self.repo()
                data = unique_bytes(77, q)
                d = sha256(data)
                r = self.req("POST", "/v2/%s/blobs/uploads/%s" % (repo, q.format(d=d, e=enc(d))), body=data)
                self.assertCreated(r, repo, d)
                self.assertBlob(repo, d, data)

    def test_monolithic_post_chunked_body(self):
        repo = self.repo()
        data = unique_bytes(2 * MIB + 11)
        d = sha256(data)
        r = self.req("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, d),
                     body=pieces(data, [100000, 7]), chunked=True)
        self.assertCreated(r, repo, d)
        self.assertBlob(repo, d, data)

    def test_monolithic_post_wrong_digest(self):
        repo = self.repo()
        data = unique_bytes(300)
        wrong = sha256(data + b"x")
        before = self.upload_dirs()
        r = self.req("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, wrong), body=data)
        self.assertError(r, 400, "DIGEST_INVALID")
        self.assertNoBlob(repo, wrong)
        self.assertNoBlob(repo, sha256(data))
        self.assertNotInStore(wrong)
        self.assertNotInStore(sha256(data))
        self.assertEqual(self.upload_dirs(), before)

    def test_monolithic_post_malformed_digest(self):
        repo = self.repo()
        for dg in ["sha256:abc", "sha256:" + "A" * 64, "md5:" + "0" * 32, "", enc("sha256:../x")]:
            with self.subTest(digest=dg):
                r = self.req("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, dg), body=b"abc")
                self.assertError(r, 400, "DIGEST_INVALID")

    def test_post_malformed_query_400(self):
        repo = self.repo()
        for q in ["?digest=%zz", "?digest=sha256%3", "?digest=%", "?%zz=1&digest=" + sha256(b"abc")]:
            with self.subTest(query=q):
                r = self.req("POST", "/v2/%s/blobs/uploads/%s" % (repo, q), body=b"abc")
                self.assertError(r, 400, None)
        # lighttpd itself refuses control characters in the URL (a plain 400).
        r = self.req("POST", "/v2/%s/blobs/uploads/?digest=%%00" % repo, body=b"abc")
        self.assertEqual(r.status, 400, r)
        self.assertNoBlob(repo, sha256(b"abc"))


# ---------------------------------------------------------------------------------------
# end-5, end-6, end-13: PATCH, PUT, GET status, DELETE a session
# ---------------------------------------------------------------------------------------

class UploadSessionTest(BlobTest):
    def test_busy_session_never_waits(self):
        """A PATCH whose body trickles in holds its session. Status requests are answered
        from the durable offset without waiting, even while clients drop them; another
        writer is told at once (429 TOOMANYREQUESTS with Retry-After) instead of taking a
        thread until the body ends; the registry stays responsive; the slow PATCH then
        completes."""
        repo = self.repo()
        loc = self.req("POST", "/v2/%s/blobs/uploads/" % repo).header("Location")
        data = b"slow-body-%d-" % next_id() + b"x" * 40
        slow = socket.create_connection(("127.0.0.1", self.reg.port))
        try:
            slow.sendall(("PATCH %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
                          "Content-Type: application/octet-stream\r\nContent-Range: 0-%d\r\n\r\n"
                          % (loc, len(data), len(data) - 1)).encode() + data[:5])
            if not wait_held(self.reg, loc):
                self.skipTest("the front did not pass the slow PATCH on within 10 s")
            r = self.req("PATCH", loc, body=b"y", headers={"Content-Range": "100-100"})
            self.assertError(r, 429, "TOOMANYREQUESTS", "PATCH")
            self.assertEqual(r.header("Retry-After"), "1")
            for _ in range(8):  # clients that give up on a status request
                c = socket.create_connection(("127.0.0.1", self.reg.port))
                c.sendall(("GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % loc).encode())
                c.settimeout(0.2)
                try:
                    c.recv(1)
                except socket.timeout:
                    pass
                c.close()
            t0 = time.time()
            r = self.req("GET", loc)
            self.assertEqual(r.status, 204, r)
            self.assertEqual(r.header("Range"), "0-0")  # nothing durable yet
            self.assertEqual(self.req("GET", "/v2/").status, 200)
            self.assertEqual(self.req("DELETE", loc).status, 429)
            self.assertLess(time.time() - t0, 2.0)
            slow.sendall(data[5:])
            slow.settimeout(30)
            head = slow.recv(4096)
            self.assertEqual(head.split(b"\r\n")[0].split()[1], b"202", head)
        finally:
            slow.close()
        r = self.req("GET", loc)
        self.assertEqual(r.header("Range"), "0-%d" % (len(data) - 1))
        self.assertEqual(self.req("PUT", "%s?digest=%s" % (loc, sha256(data))).status, 201)

    def test_post_then_put_whole_body(self):
        # containerd: POST, then one PUT with the whole blob.
        repo = self.repo()
        data = unique_bytes(MIB + 3)
        loc, uuid = self.start_upload(repo)
        d = sha256(data)
        r = self.req("PUT", "%s?digest=%s" % (loc, d), body=data,
                     headers={"Content-Type": "application/octet-stream"})
        self.assertCreated(r, repo, d)
        self.assertBlob(repo, d, data)
        self.assertNotIn(uuid, self.upload_dirs())
        self.assertError(self.req("GET", loc), 404, "BLOB_UPLOAD_UNKNOWN")

    def test_post_then_chunked_put(self):
        repo = self.repo()
        data = unique_bytes(MIB + 999)
        loc, _ = self.start_upload(repo)
        d = sha256(data)
        r = self.req("PUT", "%s?digest=%s" % (loc, enc(d)), body=pieces(data, [4096, 250000]), chunked=True)
        self.assertCreated(r, repo, d)
        self.assertBlob(repo, d, data)

    def test_patch_in_order_with_content_range(self):
        repo = self.repo()
        data = unique_bytes(1000)
        loc, uuid = self.start_upload(repo)
        r = self.req("PATCH", loc, body=data[:400],
                     headers={"Content-Range": "0-399", "Content-Type": "application/octet-stream"})
        self.assertSession(r, 202, repo, 399, uuid)
        self.assertStatus(loc, repo, 399, uuid)
        r = self.req("PATCH", r.header("Location"), body=data[400:],
                     headers={"Content-Range": "400-999"})
        self.assertSession(r, 202, repo, 999, uuid)
        self.assertStatus(loc, repo, 999, uuid)
        d = sha256(data)
        r = self.req("PUT", "%s?digest=%s" % (loc, d))
        self.assertCreated(r, repo, d)
        self.assertBlob(repo, d, data)

    def test_patch_out_of_order_416(self):
        repo = self.repo()
        data = unique_bytes(30)
        loc, uuid = self.start_upload(repo)
        r = self.req("PATCH", loc, body=data[:10], headers={"Content-Range": "0-9"})
        self.assertSession(r, 202, repo, 9, uuid)
        for rng, body in [("0-9", data[:10]),      # repeats the first chunk
                          ("5-14", data[5:15]),    # overlaps
                          ("11-20", data[11:21]),  # leaves a gap
                          ("20-29", data[20:30])]:
            with self.subTest(range=rng):
                r = self.req("PATCH", loc, body=body, headers={"Content-Range": rng})
                self.assertError(r, 416, "BLOB_UPLOAD_INVALID")
                self.assertStatus(loc, repo, 9, uuid)
        # Nothing of the refused chunks was kept: finishing in order gives the right blob.
        r = self.req("PATCH", loc, body=data[10:], headers={"Content-Range": "10-29"})
        self.assertSession(r, 202, repo, 29, uuid)
        d = sha256(data)
        self.assertCreated(self.req("PUT", "%s?digest=%s" % (loc, d)), repo, d)
        self.assertBlob(repo, d, data)

    def test_patch_416_keeps_session_headers(self):
        repo = self.repo()
        loc, uuid = self.start_upload(repo)
        self.req("PATCH", loc, body=b"abcd", headers={"Content-Range": "0-3"})
        r = self.req("PATCH", loc, body=b"zz", headers={"Content-Range": "8-9"})
        self.assertError(r, 416, "BLOB_UPLOAD_INVALID")
        self.assertSession(r, 416, repo, 3, uuid)

    def test_patch_content_range_mismatch_416(self):
        repo = self.repo()
        loc, uuid = self.start_upload(repo)
        for rng in ["0-5", "0-2", "3-0", "abc", "0-", "-3"]:
            with self.subTest(range=rng):
                r = self.req("PATCH", loc, body=b"abcd", headers={"Content-Range": rng})
                self.assertError(r, 416, "BLOB_UPLOAD_INVALID")
                self.assertStatus(loc, repo, 0, uuid)
        r = self.req("PATCH", loc, body=b"abcd", headers={"Content-Range": "0-3"})
        self.assertSession(r, 202, repo, 3, uuid)

    def test_patch_without_content_range_appends(self):
        repo = self.repo()
        data = unique_bytes(5000)
        loc, uuid = self.start_upload(repo)
        r = self.req("PATCH", loc, body=data[:1234], headers={"Content-Range": "0-1233"})
        self.assertSession(r, 202, repo, 1233, uuid)
        r = self.req("PATCH", loc, body=data[1234:3000])
        self.assertSession(r, 202, repo, 2999, uuid)
        r = self.req("PATCH", loc, body=data[3000:])
        self.assertSession(r, 202, repo, 4999, uuid)
        d = sha256(data)
        self.assertCreated(self.req("PUT", "%s?digest=%s" % (loc, d)), repo, d)
        self.assertBlob(repo, d, data)

    def test_chunked_patch_several_mib(self):
        # podman/buildah: one chunked PATCH (no Content-Length), then an empty PUT.
        repo = self.repo()
        data = unique_bytes(6 * MIB + 12345)
        loc, uuid = self.start_upload(repo)
        half = 4 * MIB + 1
        r = self.req("PATCH", loc, body=pieces(data[:half], [65536, 1, 131071, 500000]), chunked=True)
        self.assertSession(r, 202, repo, half - 1, uuid)
        self.assertStatus(loc, repo, half - 1, uuid)
        r = self.req("PATCH", loc, body=pieces(data[half:], [32768]), chunked=True)
        self.assertSession(r, 202, repo, len(data) - 1, uuid)
        d = sha256(data)
        r = self.req("PUT", "%s?digest=%s" % (loc, enc(d)))
        self.assertCreated(r, repo, d)
        self.assertBlob(repo, d, data)

    def test_skopeo_shape(self):
        # skopeo: POST, one PATCH with the whole blob (Content-Length, no Content-Range),
        # empty PUT with ?digest= appended to the Location.
        repo = self.repo()
        data = unique_bytes(2 * MIB)
        loc, uuid = self.start_upload(repo)
        r = self.req("PATCH", loc, body=data, headers={"Content-Type": "application/octet-stream"})
        self.assertSession(r, 202, repo, len(data) - 1, uuid)
        d = sha256(data)
        r = self.req("PUT", r.header("Location") + "?digest=" + enc(d))
        self.assertCreated(r, repo, d)
        self.assertBlob(repo, d, data)

    def test_upload_status(self):
        repo = self.repo()
        loc, uuid = self.start_upload(repo)
        self.assertStatus(loc, repo, 0, uuid)
        self.req("PATCH", loc, body=b"x" * 77)
        r = self.req("GET", loc)
        self.assertSession(r, 204, repo, 76, uuid)
        self.assertEqual(r.body, b"")
        self.assertIsNone(r.header("Docker-Content-Digest"), r)

    def test_put_with_final_chunk_and_content_range(self):
        repo = self.repo()
        data = unique_bytes(900)
        loc, uuid = self.start_upload(repo)
        self.assertSession(self.req("PATCH", loc, body=data[:500], headers={"Content-Range": "0-499"}),
                           202, repo, 499, uuid)
        d = sha256(data)
        r = self.req("PUT", "%s?digest=%s" % (loc, d), body=data[500:],
                     headers={"Content-Range": "500-899", "Content-Type": "application/octet-stream"})
        self.assertCreated(r, repo, d)
        self.assertBlob(repo, d, data)

    def test_put_out_of_order_content_range_416(self):
        repo = self.repo()
        data = unique_bytes(900)
        loc, uuid = self.start_upload(repo)
        self.req("PATCH", loc, body=data[:500], headers={"Content-Range": "0-499"})
        d = sha256(data)
        r = self.req("PUT", "%s?digest=%s" % (loc, d), body=data[400:], headers={"Content-Range": "400-899"})
        self.assertError(r, 416, "BLOB_UPLOAD_INVALID")
        self.assertStatus(loc, repo, 499, uuid)
        self.assertNoBlob(repo, d)
        r = self.req("PUT", "%s?digest=%s" % (loc, d), body=data[500:], headers={"Content-Range": "500-899"})
        self.assertCreated(r, repo, d)
        self.assertBlob(repo, d, data)

    def test_put_wrong_digest(self):
        repo = self.repo()
        data = unique_bytes(2000)
        loc, uuid = self.start_upload(repo)
        self.req("PATCH", loc, body=data[:1000])
        wrong = sha256(b"something else")
        r = self.req("PUT", "%s?digest=%s" % (loc, wrong), body=data[1000:])
        self.assertError(r, 400, "DIGEST_INVALID")
        # The session is gone ...
        self.assertError(self.req("GET", loc), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.req("PATCH", loc, body=b"x"), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.req("PUT", "%s?digest=%s" % (loc, sha256(data))), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertNotIn(uuid, self.upload_dirs())
        # ... and nothing was stored under either digest.
        for dg in (wrong, sha256(data)):
            self.assertNoBlob(repo, dg)
            self.assertNotInStore(dg)

    def test_put_without_digest(self):
        repo = self.repo()
        loc, uuid = self.start_upload(repo)
        self.req("PATCH", loc, body=b"abc")
        for url in [loc, loc + "?", loc + "?digest=", loc + "?foo=bar", loc + "?Digest=" + sha256(b"abc")]:
            with self.subTest(url=url):
                self.assertError(self.req("PUT", url), 400, "DIGEST_INVALID")
        # A request without a digest does not end the session.
        self.assertStatus(loc, repo, 2, uuid)
        self.assertNoBlob(repo, sha256(b"abc"))

    def test_put_malformed_digest(self):
        repo = self.repo()
        loc, uuid = self.start_upload(repo)
        for dg in ["sha256:xyz", "sha256:" + "A" * 64, "md5:" + "0" * 32, enc("sha256:../../etc/passwd")]:
            with self.subTest(digest=dg):
                self.assertError(self.req("PUT", "%s?digest=%s" % (loc, dg), body=b"abc"), 400, "DIGEST_INVALID")

    def test_put_query_any_order_encoded(self):
        for q in ["?digest={e}", "?foo=1&digest={e}", "?digest={e}&foo=1", "?_state=abc%3D%3D&digest={d}"]:
            with self.subTest(query=q):
                repo = self.repo()
                data = unique_bytes(64, q)
                d = sha256(data)
                loc, _ = self.start_upload(repo)
                r = self.req("PUT", loc + q.format(d=d, e=enc(d)), body=data)
                self.assertCreated(r, repo, d)
                self.assertBlob(repo, d, data)

    def test_delete_upload(self):
        repo = self.repo()
        loc, uuid = self.start_upload(repo)
        self.req("PATCH", loc, body=b"some bytes")
        r = self.req("DELETE", loc)
        self.assertEqual(r.status, 204, r)
        self.assertApiVersion(r)
        self.assertEqual(r.body, b"")
        self.assertNotIn(uuid, self.upload_dirs())
        self.assertError(self.req("GET", loc), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.req("PATCH", loc, body=b"x"), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.req("PUT", "%s?digest=%s" % (loc, sha256(b"some bytes"))), 404,
                         "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.req("DELETE", loc), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertNoBlob(repo, sha256(b"some bytes"))

    UNKNOWN_IDS = [
        "00000000-0000-4000-8000-000000000000",  # well-formed, never issued
        "nope",
        "0",
        "00000000-0000-4000-8000-00000000000",  # one digit short
        "00000000-0000-4000-8000-0000000000000",  # one digit long
        "00000000000000000000000000000000",     # no dashes
        "ABCDEF00-0000-4000-8000-000000000000",  # uppercase
        "00000000-0000-4000-8000-00000000000g",
        "..%2F..%2Fjournal",
        "%2e%2e",
    ]

    def test_unknown_or_malformed_upload_id_404(self):
        repo = self.repo()
        d = sha256(b"abc")
        for uid in self.UNKNOWN_IDS:
            loc = "/v2/%s/blobs/uploads/%s" % (repo, uid)
            with self.subTest(id=uid):
                self.assertError(self.req("GET", loc), 404, "BLOB_UPLOAD_UNKNOWN")
                self.assertError(self.req("PATCH", loc, body=b"abc"), 404, "BLOB_UPLOAD_UNKNOWN")
                self.assertError(self.req("PUT", loc + "?digest=" + d, body=b"abc"), 404, "BLOB_UPLOAD_UNKNOWN")
                self.assertError(self.req("DELETE", loc), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertNoBlob(repo, d)

    def test_uppercase_of_real_id_404(self):
        repo = self.repo()
        loc, uuid = self.start_upload(repo)
        upper = loc.replace(uuid, uuid.upper())
        self.assertNotEqual(upper, loc)
        self.assertError(self.req("GET", upper), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertStatus(loc, repo, 0, uuid)

    def test_upload_id_under_other_repository_404(self):
        repo, other = self.repo("mine"), self.repo("other")
        data = unique_bytes(100)
        loc, uuid = self.start_upload(repo)
        self.req("PATCH", loc, body=data[:40])
        oloc = "/v2/%s/blobs/uploads/%s" % (other, uuid)
        d = sha256(data[:40])
        self.assertError(self.req("GET", oloc), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.req("PATCH", oloc, body=data[40:]), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.req("PUT", oloc + "?digest=" + d), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertError(self.req("DELETE", oloc), 404, "BLOB_UPLOAD_UNKNOWN")
        # The session is untouched in its own repository, and nothing landed in the other.
        self.assertStatus(loc, repo, 39, uuid)
        self.assertNoBlob(other, d)
        r = self.req("PUT", "%s?digest=%s" % (loc, sha256(data)), body=data[40:])
        self.assertCreated(r, repo, sha256(data))
        self.assertBlob(repo, sha256(data), data)
        self.assertNoBlob(other, sha256(data))

    # --- bodies shorter than their Content-Length, malformed Content-Length -------------
    def _raw_head(self, method, path, length, extra=b""):
        return (b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
                b"Content-Length: %s\r\n%s\r\n" % (method.encode(), path.encode(), str(length).encode(), extra))

    def test_short_patch_body_stores_nothing(self):
        repo = self.repo()
        loc, uuid = self.start_upload(repo)
        first = unique_bytes(5)
        self.assertSession(self.req("PATCH", loc, body=first), 202, repo, 4, uuid)
        raw_send_and_close(self.reg.port, self._raw_head("PATCH", loc, 1000) + b"0123456789")
        time.sleep(0.3)
        self.assertStatus(loc, repo, 4, uuid)
        self.assertNoBlob(repo, sha256(first + b"0123456789"))
        # The session still works from where it was.
        rest = unique_bytes(20)
        self.assertSession(self.req("PATCH", loc, body=rest), 202, repo, 24, uuid)
        d = sha256(first + rest)
        self.assertCreated(self.req("PUT", "%s?digest=%s" % (loc, d)), repo, d)
        self.assertBlob(repo, d, first + rest)

    def test_short_put_body_stores_nothing(self):
        repo = self.repo()
        loc, uuid = self.start_upload(repo)
        first = unique_bytes(7)
        self.req("PATCH", loc, body=first)
        full = first + unique_bytes(1000)
        d = sha256(full)
        raw_send_and_close(self.reg.port, self._raw_head("PUT", "%s?digest=%s" % (loc, d), 1000) + full[7:17])
        time.sleep(0.3)
        self.assertStatus(loc, repo, 6, uuid)
        self.assertNoBlob(repo, d)
        self.assertNotInStore(d)

    def test_short_monolithic_post_stores_nothing(self):
        repo = self.repo()
        data = unique_bytes(1000)
        d = sha256(data)
        before = self.upload_dirs()
        raw_send_and_close(self.reg.port,
                           self._raw_head("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, d), 1000) + data[:10])
        time.sleep(0.3)
        self.assertNoBlob(repo, d)
        self.assertNotInStore(d)
        self.assertEqual(self.upload_dirs(), before)

    def test_malformed_content_length_400(self):
        repo = self.repo()
        loc, uuid = self.start_upload(repo)
        self.req("PATCH", loc, body=b"abc")
        d = sha256(b"abcdef")
        for cl in ["abc", "-1", "1e3", "3x", "0x10", "+3", "99999999999999999999999"]:
            with self.subTest(content_length=cl):
                status, _, _ = raw_exchange(self.reg.port, self._raw_head("PATCH", loc, cl, b"Connection: close\r\n") + b"def")
                self.assertEqual(status, 400)
                status, _, _ = raw_exchange(
                    self.reg.port,
                    self._raw_head("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, d), cl, b"Connection: close\r\n") + b"abcdef")
                self.assertEqual(status, 400)
        self.assertStatus(loc, repo, 2, uuid)
        self.assertNoBlob(repo, d)


# ---------------------------------------------------------------------------------------
# end-11: mount
# ---------------------------------------------------------------------------------------

class SessionLimitTest(ResponseAssertions, unittest.TestCase):
    """Upload sessions are bounded: per client address and in all (429 TOOMANYREQUESTS with
    Retry-After past either), and they expire: the responder collects, at start and every
    minute, sessions without a byte for storage.upload_ttl (empty ones after 10 minutes),
    never one in use, one process at a time."""

    def test_per_client_cap_and_expiry(self):
        reg = Registry(config={"storage": {"max_uploads_per_client": 3, "upload_ttl": "1h"}})
        reg.start()
        try:
            locs = []
            for i in range(3):
                r = reg.request("POST", "/v2/caps/r/blobs/uploads/")
                self.assertEqual(r.status, 202, r)
                locs.append(r.header("Location"))
            r = reg.request("POST", "/v2/caps/r/blobs/uploads/")
            self.assertError(r, 429, "TOOMANYREQUESTS", "POST")
            self.assertEqual(r.header("Retry-After"), "1")
            self.assertEqual(reg.request("PATCH", locs[1], body=b"some").status, 202)
            self.assertEqual(reg.request("PATCH", locs[2], body=b"more").status, 202)
            # an empty session 11 minutes old, one with data 2 hours old, one with data
            # 30 minutes old
            past = time.time()
            for loc, age in ((locs[0], 660), (locs[1], 7200), (locs[2], 1800)):
                d = os.path.join(reg.data, "uploads", loc.rsplit("/", 1)[1])
                for name in ("state", "data", ""):
                    p = os.path.join(d, name) if name else d
                    os.utime(p, (past - age, past - age))
            reg.restart()  # collects at start, one session after another
            deadline = time.time() + 30
            while time.time() < deadline:
                if all(reg.request("GET", loc).status == 404 for loc in locs[:2]):
                    break
                time.sleep(0.1)
            self.assertEqual(reg.request("GET", locs[0]).status, 404)
            self.assertEqual(reg.request("GET", locs[1]).status, 404)
            r = reg.request("GET", locs[2])
            self.assertEqual(r.status, 204, r)
            self.assertEqual(r.header("Range"), "0-3")
            # room again for this client
            self.assertEqual(reg.request("POST", "/v2/caps/r/blobs/uploads/").status, 202)
            with open(os.path.join(reg.tmp, "octoserve.log")) as f:
                self.assertIn('"msg":"collected"', f.read())
        finally:
            reg.cleanup()


class CapacityTest(ResponseAssertions, unittest.TestCase):
    """The responder starts fcgi.threads workers and grows to fcgi.max_threads on demand;
    requests with a body take at most three quarters of them (past that: 429 with
    Retry-After, the body unread), so however many uploads trickle in, GET, HEAD and status
    requests find a thread."""

    def trickle(self, reg, loc, data):
        s = socket.create_connection(("127.0.0.1", reg.port))
        s.sendall(("PATCH %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
                   "Content-Type: application/octet-stream\r\n\r\n" % (loc, len(data))).encode()
                  + data[:100])
        return s

    def test_uploads_never_starve_reads(self):
        reg = Registry(threads=2, config={"fcgi": {"max_threads": 12}})  # 9 bodies at most
        reg.start()
        slow = []
        try:
            d = reg.push_blob("cap/r", b"probe blob")
            data = b"x" * 1000
            locs = [reg.request("POST", "/v2/cap/r/blobs/uploads/").header("Location")
                    for _ in range(10)]
            slow = [self.trickle(reg, loc, data) for loc in locs[:9]]
            # Until each slow PATCH holds its session in the responder: an empty PATCH of the
            # same session is then refused (429), where it would be out of order (416,
            # nothing written) while the front has not passed the slow one on yet. Empty, so
            # that it takes none of the nine places for bodies from a slow one.
            waiting, deadline = set(range(9)), time.time() + 30
            while waiting and time.time() < deadline:
                waiting = {i for i in waiting if not held(reg, locs[i])}
                time.sleep(0.05)
            if waiting:
                tasks = len(os.listdir("/proc/%d/task" % reg.responder_pids()[0]))
                # with threads to spare, it was the front that held them back
                if tasks < 12 + 4:
                    self.skipTest("the front did not pass %d slow uploads on" % len(waiting))
                self.fail("slow uploads %s not in a responder at its thread bound" % sorted(waiting))
            r = reg.request("PATCH", locs[9], body=b"abc")  # a tenth body: no room
            self.assertError(r, 429, "TOOMANYREQUESTS", "PATCH")
            self.assertEqual(r.header("Retry-After"), "1")
            worst = 0
            for i in range(60):
                t0 = time.time()
                self.assertEqual(reg.request("GET", "/v2/").status, 200)
                self.assertEqual(reg.request("HEAD", "/v2/cap/r/blobs/%s" % d).status, 200)
                self.assertEqual(reg.request("GET", locs[i % 9]).status, 204)
                worst = max(worst, time.time() - t0)
            self.assertLess(worst, 2.0)
            tasks = len(os.listdir("/proc/%d/task" % reg.responder_pids()[0]))
            self.assertGreater(tasks, 2 + 9)  # grew past fcgi.threads
            self.assertLessEqual(tasks, 12 + 4)  # workers, signals, collector, watchdog, main
            for s in slow:
                s.sendall(data[100:])
            for s in slow:
                s.settimeout(30)
                head = s.recv(4096)
                self.assertEqual(head.split(b"\r\n")[0].split()[1], b"202", head)
            self.assertEqual(reg.request("PATCH", locs[9], body=b"abc").status, 202)
        finally:
            for s in slow:
                s.close()
            reg.cleanup()


class TimeoutTest(ResponseAssertions, unittest.TestCase):
    """server.read_timeout and server.write_timeout bound the responder's own waits: a body
    that stops arriving, or a streamed download nobody reads, frees its thread after the
    timeout, whatever the front's own timeouts (nginx's and Apache's here are minutes)."""

    def test_stalled_upload_and_download_are_cut(self):
        reg = Registry(config={"server": {"read_timeout": "2s", "write_timeout": "2s"},
                               "fcgi": {"sendfile": "none"}})
        reg.start()
        try:
            loc = reg.request("POST", "/v2/to/r/blobs/uploads/").header("Location")
            up = socket.create_connection(("127.0.0.1", reg.port))
            up.sendall(("PATCH %s HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n"
                        % loc).encode() + b"0123456789")
            if not wait_held(reg, loc):
                self.skipTest("the front did not pass the slow PATCH on within 10 s")
            since = time.time()
            while held(reg, loc):
                self.assertLess(time.time() - since, 10, "a stalled body held its thread")
                time.sleep(0.1)
            self.assertEqual(reg.request("GET", loc).header("Range"), "0-0")  # nothing kept
            up.close()

            data = os.urandom(48 << 20)
            d = reg.push_blob("to/r", data)
            down = socket.create_connection(("127.0.0.1", reg.port))
            down.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            down.sendall(("GET /v2/to/r/blobs/%s HTTP/1.1\r\nHost: t\r\n\r\n" % d).encode())
            down.recv(1024)  # then never read again
            log = os.path.join(reg.tmp, "octoserve.log")
            deadline = time.time() + 20
            while True:
                with open(log) as f:
                    done = [l for l in f if d in l and '"method":"GET"' in l]
                if done or time.time() > deadline:
                    break
                time.sleep(0.2)
            self.assertTrue(done, "a download nobody reads still holds its thread")
            self.assertIn('"error":"client gone"', done[0])
            down.close()
        finally:
            reg.cleanup()

    def test_trickling_body_is_cut(self):
        """A body that keeps arriving a few bytes at a time (no socket timeout notices it)
        falls behind server.min_body_rate after the grace of read_timeout and is cut; a
        body at full speed is not."""
        reg = Registry(config={"server": {"read_timeout": "2s", "min_body_rate": 20000}})
        reg.start()
        try:
            loc = reg.request("POST", "/v2/tr/r/blobs/uploads/").header("Location")
            up = socket.create_connection(("127.0.0.1", reg.port))
            # the first bytes with the headers: nginx passes a request on once it has some
            up.sendall(("PATCH %s HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"
                        % loc).encode() + b"x" * 10)
            stop = []

            def trickle():
                while not stop:
                    try:
                        up.sendall(b"x" * 10)
                    except OSError:
                        return
                    time.sleep(0.3)
            threading.Thread(target=trickle, daemon=True).start()
            if not wait_held(reg, loc):
                self.skipTest("the front did not pass the slow PATCH on within 10 s")
            since = time.time()
            while held(reg, loc):
                self.assertLess(time.time() - since, 10, "a trickling body held its thread")
                time.sleep(0.1)
            stop.append(1)
            up.close()
            self.assertEqual(reg.request("GET", loc).header("Range"), "0-0")
            data = os.urandom(4 << 20)
            reg.push_blob("tr/r", data)  # full speed: within the rate
        finally:
            reg.cleanup()

    def test_slow_reader_is_cut(self):
        """A streamed download read steadily but slowly (never stalled for write_timeout, so
        no socket timeout notices it) falls behind server.min_body_rate after the grace of
        write_timeout and is cut; one read at full speed is not. Fronts that buffer the
        response (lighttpd) never hold the responder on a slow reader: there the download
        ends at once."""
        reg = Registry(config={"server": {"write_timeout": "4s", "min_body_rate": 4000000},
                               "fcgi": {"sendfile": "none"}})
        reg.start()
        try:
            data = os.urandom(64 << 20)
            d = reg.push_blob("sr/r", data)
            r = reg.request("GET", "/v2/sr/r/blobs/" + d)  # full speed: within the rate
            self.assertEqual(hashlib.sha256(r.body).hexdigest(), d.split(":")[1])
            down = socket.create_connection(("127.0.0.1", reg.port))
            down.sendall(("GET /v2/sr/r/blobs/%s HTTP/1.1\r\nHost: t\r\n\r\n" % d).encode())
            log = os.path.join(reg.tmp, "octoserve.log")
            since, done = time.time(), []
            while not done and time.time() - since < 30:
                for _ in range(10):  # 64 KiB every 60 ms: ~1 MB/s
                    down.recv(65536)
                    time.sleep(0.06)
                with open(log) as f:
                    done = [l for l in f if d in l and '"method":"GET"' in l][1:]
            self.assertTrue(done, "a slow reader held its thread for 30 s")
            down.close()
            if '"error":"client gone"' not in done[0]:
                self.skipTest("the front buffers the response: no thread waits on the reader")
            self.assertLess(time.time() - since, 20)
        finally:
            reg.cleanup()


class MountTest(BlobTest):
    def setUp(self):
        self.src = self.repo("src")
        self.data = unique_bytes(4321)
        self.digest = self.push(self.src, self.data)

    def test_mount_from_linking_repo(self):
        dst = self.repo("dst")
        self.assertNoBlob(dst, self.digest)
        r = self.req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (dst, self.digest, self.src))
        self.assertCreated(r, dst, self.digest)
        self.assertIsNone(r.header("Docker-Upload-UUID"), r)
        self.assertBlob(dst, self.digest, self.data)
        self.assertBlob(self.src, self.digest, self.data)

    def test_mount_encoded_and_reordered(self):
        # skopeo / docker: ?from=R%2F...&mount=sha256%3A...
        dst = self.repo("dst")
        self.assertIn("%2F", enc(self.src))
        r = self.req("POST", "/v2/%s/blobs/uploads/?from=%s&mount=%s" % (dst, enc(self.src), enc(self.digest)))
        self.assertCreated(r, dst, self.digest)
        self.assertBlob(dst, self.digest, self.data)

    def test_mount_with_extra_params(self):
        dst = self.repo("dst")
        r = self.req("POST", "/v2/%s/blobs/uploads/?x=1&mount=%s&y=&from=%s" % (dst, enc(self.digest), self.src))
        self.assertCreated(r, dst, self.digest)
        self.assertBlob(dst, self.digest, self.data)

    def test_mount_from_repo_without_blob_202(self):
        other = self.repo("other")
        self.push(other, b"unrelated")  # exists, but does not link self.digest
        dst = self.repo("dst")
        r = self.req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (dst, self.digest, other))
        uuid = self.assertSession(r, 202, dst, 0)
        self.assertIsNone(r.header("Docker-Content-Digest"), r)
        self.assertNoBlob(dst, self.digest)
        # A normal session: the client uploads the blob itself.
        loc = r.header("Location")
        self.assertStatus(loc, dst, 0, uuid)
        self.assertCreated(self.req("PUT", "%s?digest=%s" % (loc, self.digest), body=self.data), dst, self.digest)
        self.assertBlob(dst, self.digest, self.data)

    def test_mount_unknown_blob_202(self):
        dst = self.repo("dst")
        d = sha256(b"never pushed anywhere " + self.data)
        r = self.req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (dst, d, self.src))
        self.assertSession(r, 202, dst, 0)
        self.assertNoBlob(dst, d)

    def test_mount_from_unknown_repo_202(self):
        dst = self.repo("dst")
        r = self.req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (dst, self.digest, self.repo("ghost")))
        self.assertSession(r, 202, dst, 0)
        self.assertNoBlob(dst, self.digest)

    def test_mount_without_from_201(self):
        dst = self.repo("dst")
        r = self.req("POST", "/v2/%s/blobs/uploads/?mount=%s" % (dst, enc(self.digest)))
        self.assertCreated(r, dst, self.digest)
        self.assertBlob(dst, self.digest, self.data)

    def test_mount_without_from_unknown_blob_202(self):
        dst = self.repo("dst")
        d = sha256(b"not in the store " + self.data)
        r = self.req("POST", "/v2/%s/blobs/uploads/?mount=%s" % (dst, d))
        self.assertSession(r, 202, dst, 0)
        self.assertNoBlob(dst, d)

    def test_mount_malformed_digest_400(self):
        dst = self.repo("dst")
        for dg in ["sha256:abc", "sha256:" + "A" * 64, "md5:" + "0" * 32, "", enc("sha256:../../x"),
                   self.digest + "0"]:
            with self.subTest(mount=dg):
                r = self.req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (dst, dg, self.src))
                self.assertError(r, 400, "DIGEST_INVALID")
                r = self.req("POST", "/v2/%s/blobs/uploads/?from=%s&mount=%s" % (dst, enc(self.src), dg))
                self.assertError(r, 400, "DIGEST_INVALID")
        self.assertNoBlob(dst, self.digest)

    def test_mount_invalid_from_400(self):
        dst = self.repo("dst")
        for frm in ["A", "a//b", "-a", "", enc("a/../b")]:
            with self.subTest(frm=frm):
                r = self.req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (dst, self.digest, frm))
                self.assertError(r, 400, "NAME_INVALID")
        self.assertNoBlob(dst, self.digest)

    def test_mount_into_invalid_name_400(self):
        r = self.req("POST", "/v2/A/blobs/uploads/?mount=%s&from=%s" % (self.digest, self.src))
        self.assertError(r, 400, "NAME_INVALID")

    def test_mounted_blob_survives_source_delete(self):
        dst = self.repo("dst")
        self.assertCreated(self.req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (dst, self.digest, self.src)),
                           dst, self.digest)
        self.assertEqual(self.req("DELETE", self.blob_url(self.src, self.digest)).status, 202)
        self.assertNoBlob(self.src, self.digest)
        self.assertBlob(dst, self.digest, self.data)
        # and the source no longer lends it out
        dst2 = self.repo("dst2")
        r = self.req("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" % (dst2, self.digest, self.src))
        self.assertSession(r, 202, dst2, 0)


# ---------------------------------------------------------------------------------------
# end-10: DELETE a blob
# ---------------------------------------------------------------------------------------

class BlobDeleteTest(BlobTest):
    def test_delete_then_404(self):
        repo = self.repo()
        data = unique_bytes(500)
        d = self.push(repo, data)
        self.assertBlob(repo, d, data)
        r = self.req("DELETE", self.blob_url(repo, d))
        self.assertEqual(r.status, 202, r)
        self.assertApiVersion(r)
        self.assertNoBlob(repo, d)
        self.assertError(self.req("DELETE", self.blob_url(repo, d)), 404, "BLOB_UNKNOWN")

    def test_delete_only_unlinks_this_repo(self):
        a, b = self.repo("a"), self.repo("b")
        data = unique_bytes(64)
        d = self.push(a, data)
        self.push(b, data)
        self.assertEqual(self.req("DELETE", self.blob_url(a, d)).status, 202)
        self.assertNoBlob(a, d)
        self.assertBlob(b, d, data)

    def test_delete_unknown_404(self):
        repo = self.repo()
        self.push(repo, b"something")
        self.assertError(self.req("DELETE", self.blob_url(repo, sha256(b"never"))), 404, "BLOB_UNKNOWN")
        self.assertError(self.req("DELETE", self.blob_url(self.repo("ghost"), sha256(b"something"))), 404,
                         "BLOB_UNKNOWN")

    def test_delete_malformed_400(self):
        repo = self.repo()
        for dg in ["sha256:abc", "sha256:" + "A" * 64, "md5:" + "0" * 32, "sha256:..%2F..%2Fsecret.txt"]:
            with self.subTest(digest=dg):
                self.assertError(self.req("DELETE", self.blob_url(repo, dg)), 400, "DIGEST_INVALID")
        self.assertError(self.req("DELETE", self.blob_url("A/b", sha256(b"x"))), 400, "NAME_INVALID")

    def test_repush_after_delete(self):
        repo = self.repo()
        data = unique_bytes(100)
        d = self.push(repo, data)
        self.assertEqual(self.req("DELETE", self.blob_url(repo, d)).status, 202)
        self.assertNoBlob(repo, d)
        self.push(repo, data)
        self.assertBlob(repo, d, data)


class DeleteDisabledTest(BlobTest):
    kind = "nodelete"

    def test_delete_405_unsupported(self):
        repo = self.repo()
        data = unique_bytes(100)
        d = self.push(repo, data)
        r = self.req("DELETE", self.blob_url(repo, d))
        self.assertError(r, 405, "UNSUPPORTED")
        self.assertBlob(repo, d, data)
        self.assertError(self.req("DELETE", self.blob_url(repo, sha256(b"unknown"))), 405, "UNSUPPORTED")

    def test_delete_405_has_allow_header(self):
        # RFC 9110 15.5.6: a 405 response MUST carry Allow.
        repo = self.repo()
        d = self.push(repo, b"allow")
        r = self.req("DELETE", self.blob_url(repo, d))
        self.assertEqual(r.status, 405, r)
        allow = r.header("Allow")
        self.assertIsNotNone(allow, "405 without Allow: %r" % r)
        got = {m.strip().upper() for m in allow.split(",") if m.strip()}
        self.assertEqual(got, {"GET", "HEAD"}, r)

    def test_push_pull_and_cancel_still_work(self):
        repo = self.repo()
        data = unique_bytes(1000)
        loc, uuid = self.start_upload(repo)
        self.assertSession(self.req("PATCH", loc, body=data), 202, repo, 999, uuid)
        r = self.req("DELETE", loc)  # cancelling an upload is not deleting content
        self.assertEqual(r.status, 204, r)
        self.assertError(self.req("GET", loc), 404, "BLOB_UPLOAD_UNKNOWN")
        d = self.push(repo, data)
        self.assertBlob(repo, d, data)


# ---------------------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------------------

def logged_requests(reg, uri):
    """The responder's log lines (JSON) for requests to uri."""
    return [e for e in log_events(reg, "request") if e.get("uri") == uri]


class RequestLogTest(BlobTest):
    """Every request's log line names the client, its user agent and a request id (also
    sent back as X-Request-Id: the client's own if sane, else a fresh one), the bytes in and
    out, and on failure the OCI code and detail."""

    kind = "stream"

    def test_request_line_fields(self):
        data = unique_bytes(70000, "log")
        repo = self.repo()
        uri = "/v2/%s/blobs/uploads/?digest=%s" % (repo, sha256(data))
        r = self.req("POST", uri, body=data,
                     headers={"User-Agent": "octotest/1.0", "X-Request-Id": "push-42.a:b"})
        self.assertEqual(r.status, 201)
        self.assertEqual(r.header("X-Request-Id"), "push-42.a:b")
        (e,) = logged_requests(self.reg, uri)
        self.assertEqual((e["remote_addr"], e["user_agent"], e["request_id"]),
                         ("127.0.0.1", "octotest/1.0", "push-42.a:b"))
        self.assertEqual((e["bytes_in"], e["bytes_out"], e["code"], e["level"]),
                         (len(data), 0, "", "info"))
        blob = "/v2/%s/blobs/%s" % (repo, sha256(data))
        r = self.req("GET", blob, headers={"X-Request-Id": "not a token"})
        self.assertEqual(r.status, 200, r)
        rid = r.header("X-Request-Id")
        self.assertRegex(rid, "^[0-9a-f]{32}$")  # not the client's: not a sane token
        (e,) = logged_requests(self.reg, blob)
        self.assertEqual((e["request_id"], e["bytes_in"], e["bytes_out"]), (rid, 0, len(data)))
        missing = "/v2/%s/blobs/%s" % (repo, sha256(b"not there"))
        r = self.req("GET", missing)
        (e,) = logged_requests(self.reg, missing)
        self.assertEqual((e["status"], e["code"]), (404, "BLOB_UNKNOWN"))
        self.assertEqual(e["detail"], "blob %s is not in repository %s" % (sha256(b"not there"), repo))
        self.assertEqual(e["request_id"], r.header("X-Request-Id"))
        self.assertNotEqual(e["request_id"], rid)


class OperatorLogTest(ResponseAssertions, unittest.TestCase):
    """What debug and warn lines tell an operator: the sendfile path taken, a session
    resumed, a client gone mid-body (warn), an fsync slower than logging.slow_fsync (warn,
    with strace delaying every fdatasync)."""

    def test_debug_and_warn_lines(self):
        with Registry(config={"logging": {"level": "debug"}}) as reg:
            data = unique_bytes(3000, "oplog")
            d = reg.push_blob("op/r", data)
            self.assertEqual(reg.request("GET", "/v2/op/r/blobs/" + d).status, 200)
            if not IN_BUCKET:  # a bucket's content streams through the responder
                (e,) = log_events(reg, "sendfile")
                self.assertEqual(e["level"], "debug")
                self.assertTrue(e["path"].endswith(d.split(":")[1]), e)
            loc = reg.request("POST", "/v2/op/r/blobs/uploads/").header("Location")
            self.assertEqual(reg.request("PATCH", loc, body=b"abc").status, 202)
            self.assertEqual(reg.request("PATCH", loc, body=b"def").status, 202)
            (e,) = log_events(reg, "upload resumed")
            self.assertEqual((e["level"], e["offset"]), ("debug", 3))
            s = socket.create_connection(("127.0.0.1", reg.port))
            s.sendall(("PATCH %s HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n"
                       % loc).encode() + b"x" * 20000)
            if not wait_held(reg, loc):
                s.close()
                self.skipTest("the front did not pass the slow PATCH on within 10 s")
            s.close()
            deadline = time.time() + 10
            while not log_events(reg, "client gone mid-body") and time.time() < deadline:
                time.sleep(0.1)
            (e,) = log_events(reg, "client gone mid-body")
            self.assertEqual(e["level"], "warn")
            self.assertEqual(reg.request("GET", loc).header("Range"), "0-%d" % (e["kept"] - 1))
            self.assertFalse(log_events(reg, "slow fsync"))  # none took a second

    @unittest.skipUnless(shutil.which("strace"), "needs strace")
    def test_slow_fsync_is_a_warning(self):
        reg = Registry(config={"logging": {"slow_fsync": "200ms"}})
        reg.start(wrap=["strace", "-f", "-qq", "-o", "/dev/null",
                        "-e", "trace=fdatasync", "-e", "inject=fdatasync:delay_enter=300000"])
        try:
            d = reg.push_blob("slow/r", b"slow disk")
            warned = log_events(reg, "slow fsync")
            self.assertTrue(warned)
            self.assertGreaterEqual(min(e["ms"] for e in warned), 200)
            self.assertTrue(all(e["level"] == "warn" and e["path"] for e in warned), warned)
            self.assertEqual(reg.request("HEAD", "/v2/slow/r/blobs/" + d).status, 200)
        finally:
            reg.cleanup()


@unittest.skipIf(IN_BUCKET, "a bucket's content is never sent by the front")
class SendfileTest(BlobTest):
    """fcgi.sendfile = x-sendfile: lighttpd sends the file (the responder says so in its
    log); Range is then lighttpd's work, and must still come out right."""

    def test_get_takes_sendfile_path(self):
        data = unique_bytes(300000, "sendfile")
        d = self.reg.push_blob("sf/a", data)
        uri = "/v2/sf/a/blobs/" + d
        r = self.req("GET", uri)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, data)
        self.assertEqual(r.header("docker-content-digest"), d)
        r = self.req("GET", uri, headers={"Range": "bytes=1000-1999"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.header("content-range"), "bytes 1000-1999/%d" % len(data))
        self.assertEqual(r.body, data[1000:2000])
        logged = logged_requests(self.reg, uri)
        self.assertEqual(len(logged), 2, logged)
        self.assertTrue(all(e["sendfile"] == 1 for e in logged), logged)


class StreamingTest(BlobTest):
    """fcgi.sendfile = none: the responder streams the bytes itself, ranges included."""

    kind = "stream"

    def test_get_streams_through_fastcgi(self):
        data = unique_bytes(300000, "stream")
        d = self.reg.push_blob("st/a", data)
        uri = "/v2/st/a/blobs/" + d
        r = self.req("GET", uri)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, data)
        self.assertEqual(r.header("content-length"), str(len(data)))
        r = self.req("GET", uri, headers={"Range": "bytes=299990-"})
        self.assertEqual(r.status, 206)
        self.assertEqual(r.header("content-range"), "bytes 299990-299999/%d" % len(data))
        self.assertEqual(r.body, data[299990:])
        r = self.req("HEAD", uri)
        self.assertEqual(r.header("content-length"), str(len(data)))
        logged = logged_requests(self.reg, uri)
        self.assertEqual(len(logged), 3, logged)
        self.assertTrue(all(e["sendfile"] == 0 for e in logged), logged)


def stream_of(total, seed):
    """A body of total bytes made of a repeated 1 MiB random block with a counter, produced
    on the fly (nothing large in memory); returns (iterator, expected sha256 digest)."""
    block = hashlib.sha256(seed).digest() * 32768  # 1 MiB
    h = hashlib.sha256()
    chunks = []
    for i in range(total // len(block)):
        piece = b"%08d" % i + block[8:]
        h.update(piece)
        chunks.append(i)

    def gen():
        for i in chunks:
            yield b"%08d" % i + block[8:]
    return gen, "sha256:" + h.hexdigest()


def largest_file(root):
    """Size of the largest regular file below root (0 if none)."""
    biggest = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            try:
                biggest = max(biggest, os.lstat(os.path.join(dirpath, name)).st_size)
            except OSError:
                pass
    return biggest


class LargeBodyTest(BlobTest):
    """Big bodies through the front: a 100 MiB chunked PATCH works everywhere (lighttpd
    buffers chunked bodies); a 1 GiB push with a Content-Length reaches the responder while
    it is still being sent and leaves no full-size temporary file in any front."""

    def test_chunked_patch_100mib(self):
        gen, digest = stream_of(100 << 20, b"chunked-100")
        r = self.req("POST", "/v2/large/chunked/blobs/uploads/")
        self.assertEqual(r.status, 202, r)
        loc = r.header("Location")
        r = self.req("PATCH", loc, body=gen(), chunked=True,
                     headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.header("Range"), "0-%d" % ((100 << 20) - 1))
        r = self.req("PUT", loc + "?digest=" + digest)
        self.assertEqual(r.status, 201, r)
        r = self.req("HEAD", "/v2/large/chunked/blobs/" + digest)
        self.assertEqual(r.header("Content-Length"), str(100 << 20))

    def test_streamed_1gib_push(self):
        total = 1 << 30
        gen, digest = stream_of(total, b"streamed-1g")
        # the front's own files: temp/upload dirs included (lighttpd's upload-dirs in run/)
        front_dir = self.reg.front.dir if self.reg.front is not None else self.reg.run
        uploads = os.path.join(self.reg.data, "uploads")
        seen = {"front": 0, "uploads_mid": 0}

        def body():
            for i, chunk in enumerate(gen()):
                if i == 768:  # three quarters sent: the responder must have most of it
                    seen["uploads_mid"] = largest_file(uploads)
                if i % 64 == 0:
                    seen["front"] = max(seen["front"], largest_file(front_dir))
                yield chunk

        conn = self.reg.connection(timeout=600)
        try:
            conn.putrequest("POST", "/v2/large/streamed/blobs/uploads/?digest=" + digest)
            conn.putheader("Content-Length", str(total))
            conn.putheader("Content-Type", "application/octet-stream")
            conn.endheaders()
            for chunk in body():
                conn.send(chunk)
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 201)
        finally:
            conn.close()
        self.assertGreater(seen["uploads_mid"], 512 << 20, "the front did not stream the body")
        self.assertLess(seen["front"], 64 << 20, "the front spooled the body to a temp file")


class ConcurrencyTest(BlobTest):
    THREADS = 8

    def _worker(self, i, results):
        try:
            repo = "conc/w%d-%d" % (i, next_id())
            reg = self.reg
            out = []
            # chunked: POST, chunked PATCH, PATCH with Content-Range, PUT
            data = unique_bytes(MIB + 1000 * i + 1, "c%d" % i)
            r = reg.request("POST", "/v2/%s/blobs/uploads/" % repo)
            if r.status != 202:
                raise AssertionError("POST %r" % r)
            loc = r.header("Location")
            half = len(data) // 2
            r = reg.request("PATCH", loc, body=pieces(data[:half], [40000, 70000]), chunked=True)
            if r.status != 202 or r.header("Range") != "0-%d" % (half - 1):
                raise AssertionError("PATCH %r" % r)
            r = reg.request("PATCH", loc, body=data[half:], headers={"Content-Range": "%d-%d" % (half, len(data) - 1)})
            if r.status != 202 or r.header("Range") != "0-%d" % (len(data) - 1):
                raise AssertionError("PATCH 2 %r" % r)
            d = sha256(data)
            r = reg.request("PUT", "%s?digest=%s" % (loc, enc(d)))
            if r.status != 201 or r.header("Docker-Content-Digest") != d:
                raise AssertionError("PUT %r" % r)
            out.append((repo, d, data))
            # monolithic
            data2 = unique_bytes(300000 + i, "m%d" % i)
            d2 = sha256(data2)
            r = reg.request("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, d2), body=data2)
            if r.status != 201 or r.header("Docker-Content-Digest") != d2:
                raise AssertionError("POST ?digest %r" % r)
            out.append((repo, d2, data2))
            results[i] = out
        except Exception as e:  # reported by the main thread
            results[i] = e

    def test_parallel_pushes(self):
        results = [None] * self.THREADS
        threads = [threading.Thread(target=self._worker, args=(i, results)) for i in range(self.THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
            self.assertFalse(t.is_alive(), "a pushing thread hung")
        for i, res in enumerate(results):
            self.assertIsInstance(res, list, "thread %d: %r" % (i, res))
            self.assertEqual(len(res), 2)
        seen = set()
        for res in results:
            for repo, d, data in res:
                self.assertNotIn(d, seen)
                seen.add(d)
                self.assertBlob(repo, d, data)
        self.assertEqual(len(seen), 2 * self.THREADS)


if __name__ == "__main__":
    unittest.main()
