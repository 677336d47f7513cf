#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Crash consistency: kill -9 the responder under concurrent blob pushes.

8 client threads push blobs of 1 KiB - 4 MiB in three ways (monolithic POST ?digest=;
POST + PATCHes with Content-Range + PUT ?digest=; POST + one chunked PATCH + PUT) while the
responder processes are SIGKILLed three times; lighttpd respawns them (if it ever did not,
the registry is restarted on the same data directory). Afterwards:

  * every blob answered 201 is in data/blobs, verifies, and GET returns exactly its bytes;
  * every file under data/blobs verifies against its name, and no attempted blob is
    served with wrong bytes (GET is 404 or exact);
  * every session that did not end in a 201 answers GET 204 with a Range at or past the
    last offset the client saw acknowledged (and within the blob), and is then finished
    from that offset (PATCH the rest, PUT ?digest= -> 201, content verifies) -- or it
    answers 404 BLOB_UPLOAD_UNKNOWN;
  * journal seq numbers are strictly increasing without duplicates, and every 201'd blob
    (load and resumed) has a journal event for its repository.

Connection errors and 500/502/503/504 from lighttpd while the responder is down are
expected and only end the attempt (the session is then checked as interrupted).
Blob content is derived from a seed, so nothing large is kept in memory.
"""
import hashlib
import http.client
import json
import os
import random
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Registry  # noqa: E402

CLIENTS = 8
KILLS = 3
LOAD_BEFORE_KILL = 2.0
MIN_SIZE, MAX_SIZE = 1024, 4 * 1024 * 1024
TRANSIENT = (500, 502, 503, 504)
REPOS = ("crash/one", "crash/two")


def blob_bytes(seed, size):
    return random.Random(seed).randbytes(size)


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Transient(Exception):
    """The responder went away under this request (expected while killing)."""


class Unexpected(Exception):
    """A response the registry must not give, even during a crash."""


class Blob:
    def __init__(self, seed, size, repo, mode):
        self.seed, self.size, self.repo, self.mode = seed, size, repo, mode
        self.digest = digest_of(self.data())

    def data(self):
        return blob_bytes(self.seed, self.size)


class Session:
    def __init__(self, blob, location):
        self.blob = blob
        self.location = location
        self.uuid = location.rsplit("/", 1)[1]
        self.acked = 0  # the last offset a 202 acknowledged


def range_end(resp):
    """Offset a 202/204 Range header acknowledges ("0-0" is offset 0 for an empty session:
    chunks here are never 1 byte long, so it is never offset 1)."""
    h = resp.header("range")
    if h is None or not h.startswith("0-"):
        raise Unexpected("bad Range header: %r" % resp)
    end = int(h[2:])
    return 0 if end == 0 else end + 1


class Load:
    def __init__(self, reg):
        self.reg = reg
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.created = []      # Blob answered 201
        self.attempted = []    # every Blob tried
        self.interrupted = []  # Session that did not end in 201
        self.unexpected = []   # responses that are bugs whatever the crash
        self.transient = 0
        self.requests = 0

    def call(self, method, path, **kw):
        try:
            r = self.reg.request(method, path, timeout=60, **kw)
        except (OSError, http.client.HTTPException) as e:
            raise Transient(repr(e))
        with self.lock:
            self.requests += 1
        if r.status in TRANSIENT:
            raise Transient(repr(r))
        return r

    def expect(self, r, status, what):
        if r.status != status:
            raise Unexpected("%s: expected %d, got %r" % (what, status, r))
        return r

    def push(self, rnd, n):
        mode = rnd.choice(("monolithic", "chunks", "chunked"))
        blob = Blob(rnd.getrandbits(64), rnd.randint(MIN_SIZE, MAX_SIZE), rnd.choice(REPOS), mode)
        data = blob.data()
        with self.lock:
            self.attempted.append(blob)
        if mode == "monolithic":
            r = self.call("POST", "/v2/%s/blobs/uploads/?digest=%s" % (blob.repo, blob.digest),
                          body=data, headers={"Content-Type": "application/octet-stream"})
            self.expect(r, 201, "monolithic POST")
            self.created_ok(blob, r)
            return
        r = self.expect(self.call("POST", "/v2/%s/blobs/uploads/" % blob.repo), 202, "POST")
        s = Session(blob, r.header("location"))
        try:
            if range_end(r) != 0:
                raise Unexpected("new session not at 0: %r" % r)
            if mode == "chunks":
                cuts = sorted(rnd.sample(range(1, blob.size), min(rnd.randint(1, 4), blob.size - 1)))
                cuts = [0] + cuts + [blob.size]
                for a, b in zip(cuts, cuts[1:]):
                    r = self.call("PATCH", s.location, body=data[a:b], headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": "%d-%d" % (a, b - 1)})
                    self.expect(r, 202, "PATCH %d-%d" % (a, b - 1))
                    if range_end(r) != b:
                        raise Unexpected("PATCH to %d acknowledged as %r" % (b, r))
                    s.acked = b
            else:
                step = 256 * 1024
                pieces = (data[i:i + step] for i in range(0, blob.size, step))
                r = self.call("PATCH", s.location, body=pieces, chunked=True,
                              headers={"Content-Type": "application/octet-stream"})
                self.expect(r, 202, "chunked PATCH")
                if range_end(r) != blob.size:
                    raise Unexpected("chunked PATCH of %d acknowledged as %r" % (blob.size, r))
                s.acked = blob.size
            r = self.call("PUT", "%s?digest=%s" % (s.location, blob.digest))
            self.expect(r, 201, "PUT")
            self.created_ok(blob, r)
        except Transient:
            with self.lock:
                self.interrupted.append(s)
            raise

    def created_ok(self, blob, r):
        if r.header("docker-content-digest") != blob.digest:
            raise Unexpected("201 with the wrong digest: %r" % r)
        with self.lock:
            self.created.append(blob)

    def worker(self, n):
        rnd = random.Random(1000 + n)
        while not self.stop.is_set():
            try:
                self.push(rnd, n)
            except Transient:
                with self.lock:
                    self.transient += 1
                time.sleep(0.02)
            except Unexpected as e:
                with self.lock:
                    self.unexpected.append(str(e))
            except Exception as e:  # noqa: BLE001 - a test bug must not hang the load
                with self.lock:
                    self.unexpected.append("client %d: %r" % (n, e))


class CrashTest(unittest.TestCase):
    def setUp(self):
        self.reg = Registry(threads=8, config={"logging": {"level": "warn"}})
        self.reg.start()
        self.addCleanup(self.reg.cleanup)
        self.restarts = 0

    def wait_respawn(self, killed):
        """Wait until lighttpd runs a new responder that answers; restart if it never does."""
        deadline = time.time() + 10
        while time.time() < deadline:
            pids = self.reg.responder_pids()
            if pids and not set(pids) & set(killed):
                try:
                    if self.reg.request("GET", "/v2/", timeout=5).status == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.05)
        self.restarts += 1
        self.reg.restart()

    def test_kill9_under_load(self):
        load = Load(self.reg)
        threads = [threading.Thread(target=load.worker, args=(i,), daemon=True)
                   for i in range(CLIENTS)]
        for t in threads:
            t.start()
        kills = []
        for _ in range(KILLS):
            time.sleep(LOAD_BEFORE_KILL)
            pids = self.reg.responder_pids()
            self.assertTrue(pids, "no responder to kill")
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            kills.append((pids, len(load.created)))
            self.wait_respawn(pids)
        time.sleep(1.0)
        load.stop.set()
        for t in threads:
            t.join(120)
            self.assertFalse(t.is_alive(), "a client is stuck")

        sys.stderr.write("\n%d blobs attempted, %d created, %d interrupted sessions, "
                         "%d transient failures, %d requests, kills %r, restarts %d\n" % (
                             len(load.attempted), len(load.created), len(load.interrupted),
                             load.transient, load.requests,
                             [(len(p), c) for p, c in kills], self.restarts))
        self.assertEqual(load.unexpected, [], "responses no crash excuses")
        self.assertTrue(load.created, "no blob was pushed at all")
        self.assertTrue(load.transient, "the kills interrupted nothing: the test is not testing")

        resumed = self.check_sessions(load)
        created = load.created + resumed
        self.check_created(created)
        self.check_store(load.attempted)
        self.check_journal(created)

    # -- checks --------------------------------------------------------------------------

    def blob_file(self, digest):
        hexd = digest.split(":", 1)[1]
        return os.path.join(self.reg.data, "blobs", "sha256", hexd[:2], hexd)

    def check_created(self, created):
        for blob in created:
            with self.subTest(blob=blob.digest, repo=blob.repo, mode=blob.mode):
                path = self.blob_file(blob.digest)
                self.assertTrue(os.path.isfile(path), "201'd blob lost from the store")
                with open(path, "rb") as f:
                    self.assertEqual(digest_of(f.read()), blob.digest, "stored bytes differ")
                r = self.reg.request("GET", "/v2/%s/blobs/%s" % (blob.repo, blob.digest))
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.body, blob.data(), "GET returned other bytes")

    def check_store(self, attempted):
        root = os.path.join(self.reg.data, "blobs")
        n = 0
        for dirpath, dirnames, filenames in os.walk(root):
            for name in filenames:
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root).split(os.sep)
                with self.subTest(file=path):
                    self.assertEqual(len(rel), 3, "stray file in the blob store")
                    alg, prefix, hexd = rel
                    self.assertEqual(alg, "sha256")
                    self.assertEqual(prefix, hexd[:2])
                    h = hashlib.sha256()
                    with open(path, "rb") as f:
                        for chunk in iter(lambda: f.read(1 << 20), b""):
                            h.update(chunk)
                    self.assertEqual(h.hexdigest(), hexd, "partial or corrupt blob visible")
                    n += 1
        self.assertGreater(n, 0)
        for blob in attempted:
            with self.subTest(blob=blob.digest, repo=blob.repo, mode=blob.mode):
                r = self.reg.request("GET", "/v2/%s/blobs/%s" % (blob.repo, blob.digest))
                self.assertIn(r.status, (200, 404), r)
                if r.status == 200:
                    self.assertEqual(r.body, blob.data(), "a blob GET returned wrong bytes")
                else:
                    self.assertEqual(r.error_code(), "BLOB_UNKNOWN", r)

    def check_sessions(self, load):
        """Finish every interrupted session from where the registry says it is."""
        resumed = []
        outcomes = {"resumed": 0, "unknown": 0}
        for s in load.interrupted:
            with self.subTest(session=s.uuid, acked=s.acked, size=s.blob.size):
                r = self.reg.request("GET", s.location)
                if r.status == 404:
                    self.assertEqual(r.error_code(), "BLOB_UPLOAD_UNKNOWN", r)
                    outcomes["unknown"] += 1
                    continue
                self.assertEqual(r.status, 204, r)
                self.assertEqual(r.header("docker-upload-uuid"), s.uuid, r)
                off = range_end(r)
                self.assertGreaterEqual(off, s.acked,
                                        "the registry lost bytes it had acknowledged")
                self.assertLessEqual(off, s.blob.size, "more bytes than the client sent")
                data = s.blob.data()
                if off < s.blob.size:
                    r = self.reg.request("PATCH", s.location, body=data[off:], headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": "%d-%d" % (off, s.blob.size - 1)})
                    self.assertEqual(r.status, 202, r)
                    self.assertEqual(range_end(r), s.blob.size, r)
                r = self.reg.request("PUT", "%s?digest=%s" % (s.location, s.blob.digest))
                self.assertEqual(r.status, 201, r)
                self.assertEqual(r.header("docker-content-digest"), s.blob.digest, r)
                resumed.append(s.blob)
                outcomes["resumed"] += 1
        sys.stderr.write("interrupted sessions: %r\n" % outcomes)
        return resumed

    def check_journal(self, created):
        path = os.path.join(self.reg.data, "journal", "events")
        with open(path, "rb") as f:
            raw = f.read()
        lines = raw.split(b"\n")
        self.assertEqual(lines[-1], b"", "journal ends in a torn line after later appends")
        seqs, events = [], set()
        for line in lines[:-1]:
            ev = json.loads(line)
            seqs.append(ev["seq"])
            if ev.get("type") in ("blob.put", "blob.mount"):
                events.add((ev["repo"], ev["digest"]))
        dups = sorted({s for s in seqs if seqs.count(s) > 1}) if len(set(seqs)) != len(seqs) else []
        self.assertEqual(dups, [], "duplicate journal seq numbers")
        bad = [(a, b) for a, b in zip(seqs, seqs[1:]) if b <= a]
        self.assertEqual(bad, [], "journal seq not strictly increasing")
        missing = sorted({(b.repo, b.digest) for b in created} - events)
        self.assertEqual(missing, [], "201'd blobs without a journal event")


if __name__ == "__main__":
    unittest.main()
