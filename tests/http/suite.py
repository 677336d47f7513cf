# SPDX-License-Identifier: Apache-2.0
"""What the HTTP suites share: the spec's error codes, small encoders, unique ids and
content, the assertions every registry response is held to, and their base class."""
import hashlib
import itertools
import json
import os
import re
import threading
import time
import time
import unittest
import urllib.parse

from harness import Registry

API_VERSION = "registry/2.0"

# distribution-spec "Error Codes": a JSON error body's code MUST be one of these.
SPEC_CODES = {
    "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID",
    "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS",
}


def sha512(data):
    return "sha512:" + hashlib.sha512(data).hexdigest()


def enc(s):
    """Percent-encode everything but unreserved characters (':' -> %3A, '/' -> %2F)."""
    return urllib.parse.quote(s, safe="")


_ids = itertools.count(1)
_ids_lock = threading.Lock()


def next_id():
    """A number unique within this test process (names repositories, seeds content)."""
    with _ids_lock:
        return next(_ids)


def unique_bytes(size, tag=""):
    """Distinct, deterministic-per-call content of the given size."""
    seed = ("%d:%s:%f:%d" % (next_id(), tag, time.time(), os.getpid())).encode()
    out = bytearray()
    block = hashlib.sha512(seed).digest()
    while len(out) < size:
        out += block
        block = hashlib.sha512(block).digest()
    return bytes(out[:size])


def log_text(reg):
    """The responder's whole log, for words that must (or must never) be in it."""
    with open(os.path.join(reg.tmp, "octoserve.log")) as f:
        return f.read()


def assert_not_logged(log, words):
    """No word (a password, a token, a header's name) in log; a failure shows only the start of
    the word, so that a secret reaches no test output either."""
    for w in words:
        assert w not in log, "%r reached the log" % (w[:12] + ("..." if len(w) > 12 else ""))


def log_events(reg, msg):
    """The responder's log lines (JSON, as the harness configures it) whose msg is msg."""
    with open(os.path.join(reg.tmp, "octoserve.log")) as f:
        return [e for e in map(json.loads, filter(str.strip, f)) if e.get("msg") == msg]


def held(reg, loc):
    """Whether a request holds the upload session at loc in the responder: an empty PATCH
    of it, out of order so that it can never write, is then refused as busy (429), and
    else answered 416. Empty, so that it takes no place for a body from anyone."""
    return reg.request("PATCH", loc, body=b"", headers={"Content-Range": "100-100"}).status == 429


def wait_held(reg, loc, timeout=10):
    """True once held(reg, loc); False if not within timeout. A front may hold a slowly
    arriving body back for a while before passing the request on (nginx, now and then),
    so a test of what the responder does with one skips rather than fails then."""
    deadline = time.time() + timeout
    while not held(reg, loc):
        if time.time() > deadline:
            return False
        time.sleep(0.05)
    return True


class ResponseAssertions:
    """Mixin for unittest.TestCase: the checks every registry response gets."""

    def assertApiVersion(self, r):
        self.assertEqual(r.header("Docker-Distribution-API-Version"), API_VERSION, r)

    def assertError(self, r, status, code, method="GET"):
        """A registry error: status, JSON body {"errors":[{"code","message"}]}, headers.
        code may be a string, a set of acceptable codes, or None (any spec code)."""
        self.assertEqual(r.status, status, r)
        self.assertApiVersion(r)
        ctype = (r.header("Content-Type") or "").split(";")[0].strip()
        self.assertEqual(ctype, "application/json", r)
        if method == "HEAD":
            self.assertEqual(r.body, b"", r)
            return
        self.assertEqual(int(r.header("Content-Length")), len(r.body), r)
        doc = json.loads(r.body)
        self.assertIsInstance(doc, dict, r)
        self.assertIsInstance(doc.get("errors"), list, r)
        self.assertGreaterEqual(len(doc["errors"]), 1, r)
        for e in doc["errors"]:
            self.assertIn(e.get("code"), SPEC_CODES, r)
            if "message" in e:
                self.assertIsInstance(e["message"], str, r)
        if isinstance(code, str):
            self.assertEqual(doc["errors"][0]["code"], code, r)
        elif code is not None:
            self.assertIn(doc["errors"][0]["code"], code, r)


class RegistryPool:
    """Registries shared by a test module, one per kind of configuration, started on first
    use; prepare(reg), if given, runs once on each new one. close() from tearDownModule."""

    def __init__(self, configs, prepare=None):
        self.configs = configs
        self.prepare = prepare
        self.running = {}
        self.lock = threading.Lock()

    def get(self, kind):
        with self.lock:
            if kind not in self.running:
                reg = Registry(config=self.configs.get(kind), threads=8)
                reg.start()
                if self.prepare is not None:
                    self.prepare(reg)
                self.running[kind] = reg
            return self.running[kind]

    def close(self):
        for reg in self.running.values():
            reg.cleanup()
        self.running.clear()


class RegistryTest(ResponseAssertions, unittest.TestCase):
    """Base class of the HTTP suites: a registry of the module's pool (kind), requests and
    fresh names; each suite's own helpers are in a subclass (test_blobs.BlobTest,
    test_manifests.ManifestTest)."""

    pool = None
    kind = "main"
    repo_prefix = "t"
    reg = None

    @classmethod
    def setUpClass(cls):
        cls.reg = cls.pool.get(cls.kind)

    def req(self, method, path, body=None, headers=None, chunked=False):
        return self.reg.request(method, path, body=body, headers=headers, chunked=chunked)

    def repo(self, hint="r"):
        """A fresh repository name for this test."""
        name = re.sub(r"[^a-z0-9]+", "-", self._testMethodName.lower()).strip("-")
        return "%s%d/%s/%s" % (self.repo_prefix, next_id(), name[:60], hint)

    def assertNotFound(self, url, code):
        """GET answers 404 with code, HEAD 404 with no body."""
        self.assertError(self.req("GET", url), 404, code)
        self.assertError(self.req("HEAD", url), 404, None, method="HEAD")
