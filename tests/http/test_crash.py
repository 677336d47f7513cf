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

A second case does the same with whole images: 8 client threads push config + layer blobs
and then image manifests (OCI and Docker schema 2) by tag -- several threads re-tagging the
same tags with different manifests -- or by digest, OCI indexes and Docker manifest lists of
manifests already pushed, and artifacts with a `subject`, while the responder is SIGKILLed.
Every manifest PUT is recorded with its bytes, digest, tag and the times it was sent and
answered. Afterwards:

  * every manifest answered 201 is GETtable by digest, byte-exact, with its media type as
    Content-Type, and every blob it references is still there;
  * every tag of tags/list resolves (GET by tag -> 200) to bytes that hash to the digest in
    the tag file; a tag that got a 201 still exists and points at a manifest pushed under
    that tag whose PUT did not end before the last 201'd PUT of another manifest to that
    tag began (the last write wins, nothing goes back in time);
  * every file under data/repositories is complete: tag files hold a full digest of a
    manifest the repository has, revision links a known media type matching the stored
    manifest, referrers entries a descriptor of a stored manifest with that subject; the
    only other files are dot-named temporaries of atomic writes, which no listing shows;
  * the referrers list of each subject lists only manifests that exist, with that subject,
    and every 201'd artifact;
  * journal seq numbers are strictly increasing, every 201'd manifest has its manifest.put
    event (repository, digest, tag) and every 201'd blob its blob.put;
  * no change escaped the journal: every tag file and manifest revision in the store has its
    manifest.put event; tags deleted meanwhile (DELETE by tag, 202 or cut short by the kill)
    are gone only with their tag.delete event, and every 202'd one is gone;
  * every record (tag, revision, link, referrer entry, and each tombstone a delete left) is
    whole and was written by a journal event of the same clock that carries that very record.
"""
import hashlib
import http.client
import json
import os
import random
import re
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fronts  # noqa: E402
from harness import Registry, sha256  # noqa: E402

CLIENTS = 8
KILLS = 3
LOAD_BEFORE_KILL = 2.0
MIN_SIZE, MAX_SIZE = 1024, 4 * 1024 * 1024
TRANSIENT = (500, 502, 503, 504)
REPOS = ("crash/one", "crash/two")


RECORD_RE = re.compile(rb"\A(0|[1-9][0-9]*) (0|[1-9][0-9]*) ([vt]) ([A-Za-z0-9._:-]{1,255})\n")


def parse_record(raw):
    """(hlc, kind, value bytes) of a record file; None if it is not a whole one."""
    m = RECORD_RE.match(raw)
    if m is None:
        return None
    return int(m.group(1)), m.group(3).decode(), raw[m.end():]


def blob_bytes(seed, size):
    return random.Random(seed).randbytes(size)


class Transient(Exception):
    """The responder went away under this request (expected while killing)."""


class Unexpected(Exception):
    """A response the registry must not give, even during a crash."""


class Blob:
    def __init__(self, seed, size, repo, mode):
        self.seed, self.size, self.repo, self.mode = seed, size, repo, mode
        self.digest = sha256(self.data())

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

    def kill_under_load(self, load, clients, kills, pause, progress, after_kill=None):
        """Run clients threads of load.worker; kills times, pause seconds apart, SIGKILL every
        responder (after_kill(pids) runs before the respawn); then stop the load. Returns
        [(pids, progress())] per kill."""
        threads = [threading.Thread(target=load.worker, args=(i,), daemon=True)
                   for i in range(clients)]
        for t in threads:
            t.start()
        done = []
        for _ in range(kills):
            time.sleep(pause)
            pids = self.reg.responder_pids()
            self.assertTrue(pids, "no responder to kill")
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            done.append((pids, progress()))
            if after_kill is not None:
                after_kill(pids)
            self.wait_respawn(pids)
        time.sleep(1.0)
        load.stop.set()
        for t in threads:
            t.join(120)
            self.assertFalse(t.is_alive(), "a client is stuck")
        return done

    def test_kill9_under_load(self):
        load = Load(self.reg)
        kills = self.kill_under_load(load, CLIENTS, KILLS, LOAD_BEFORE_KILL,
                                     lambda: len(load.created))

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
                    self.assertEqual(sha256(f.read()), blob.digest, "stored bytes differ")
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

    def journal(self):
        """The journal's events, once it is checked to end in a whole line."""
        lines = self.reg.journal_lines()
        self.assertEqual(lines[-1], b"", "journal ends in a torn line after later appends")
        return [json.loads(line) for line in lines[:-1]]

    def check_journal(self, created):
        seqs, events = [], set()
        for ev in self.journal():
            seqs.append(ev["seq"])
            if ev.get("type") in ("blob.put", "blob.mount"):
                events.add((ev["repo"], ev["digest"]))
        dups = sorted({s for s in seqs if seqs.count(s) > 1}) if len(set(seqs)) != len(seqs) else []
        self.assertEqual(dups, [], "duplicate journal seq numbers")
        bad = [(a, b) for a, b in zip(seqs, seqs[1:]) if b <= a]
        self.assertEqual(bad, [], "journal seq not strictly increasing")
        missing = sorted({(b.repo, b.digest) for b in created} - events)
        self.assertEqual(missing, [], "201'd blobs without a journal event")


# -- whole images under kill -9 -----------------------------------------------------------

IMAGE_CLIENTS = 8
IMAGE_KILLS = 4
IMAGE_LOAD_BEFORE_KILL = 1.5
IMAGE_REPOS = ("crash/img-a", "crash/img-b")
SHARED_TAGS = ("latest", "stable", "v1")  # re-tagged by every thread with other manifests
MT_OCI = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_DOCKER = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (MT_OCI, MT_OCI_INDEX, MT_DOCKER, MT_DOCKER_LIST)
MT_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
ARTIFACT_TYPES = ("application/vnd.example.sbom.v1+json", "application/vnd.example.sig.v1")
DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}\Z")
TAG_RE = r"\A[A-Za-z0-9_][A-Za-z0-9._-]{0,127}\Z"
TMP_RE = re.compile(r"\..+\.tmp\.[0-9a-f]{32}\Z")  # octo_store_write_atomic's temporaries


class ManifestPut:
    """One manifest PUT as the client sent it, and how it ended."""

    def __init__(self, repo, body, media_type, tag, kind, subject=None, refs=()):
        self.repo, self.body, self.media_type, self.tag = repo, body, media_type, tag
        self.kind, self.subject, self.refs = kind, subject, list(refs)  # refs: blob digests
        self.digest = sha256(body)
        self.size = len(body)
        self.t0 = self.t1 = None
        self.status = None  # 201, "transient" or "unexpected"

    def ref(self):
        return self.tag if self.tag is not None else self.digest

    def descriptor(self):
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}

    def __repr__(self):
        return "<%s %s %s:%s %s>" % (self.kind, self.media_type.rsplit(".", 2)[-2], self.repo,
                                     self.ref(), self.status)


class ImageLoad(Load):
    def __init__(self, reg):
        super().__init__(reg)
        self.puts = []          # every ManifestPut that was sent
        self.ok = []            # ManifestPut answered 201
        self.untags = []        # [repo, tag, status] of every tag DELETE sent
        self.blobs = []         # (repo, digest) answered 201
        self.kinds = {}

    def blob(self, repo, data):
        d = sha256(data)
        r = self.call("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, d), body=data,
                      headers={"Content-Type": "application/octet-stream"})
        self.expect(r, 201, "blob POST")
        if r.header("docker-content-digest") != d:
            raise Unexpected("blob 201 with the wrong digest: %r" % r)
        with self.lock:
            self.blobs.append((repo, d))
        return {"digest": d, "size": len(data)}

    def image(self, rnd, repo, docker, n):
        """Config and layers pushed; the manifest bytes."""
        cfg = json.dumps({"architecture": rnd.choice(("amd64", "arm64")), "os": "linux",
                          "rootfs": {"type": "layers", "diff_ids": []},
                          "nonce": rnd.getrandbits(64)}).encode()
        config = self.blob(repo, cfg)
        config["mediaType"] = ("application/vnd.docker.container.image.v1+json" if docker
                               else "application/vnd.oci.image.config.v1+json")
        layers = []
        for _ in range(rnd.randint(1, 3)):
            d = self.blob(repo, rnd.randbytes(rnd.randint(1024, 64 * 1024)))
            d["mediaType"] = ("application/vnd.docker.image.rootfs.diff.tar.gzip" if docker
                              else "application/vnd.oci.image.layer.v1.tar+gzip")
            layers.append(d)
        m = {"schemaVersion": 2, "mediaType": MT_DOCKER if docker else MT_OCI,
             "config": config, "layers": layers}
        if not docker and rnd.random() < 0.5:
            m["annotations"] = {"org.example.client": str(n)}
        return m, [config["digest"]] + [x["digest"] for x in layers]

    def pick(self, rnd, repo, types):
        with self.lock:
            cands = [p for p in self.ok if p.repo == repo and p.media_type in types]
        return rnd.choice(cands) if cands else None

    def put(self, mp):
        with self.lock:
            self.puts.append(mp)
        mp.t0 = time.monotonic()
        try:
            r = self.call("PUT", "/v2/%s/manifests/%s" % (mp.repo, mp.ref()), body=mp.body,
                          headers={"Content-Type": mp.media_type})
        except Transient:
            mp.t1 = time.monotonic()
            mp.status = "transient"
            raise
        mp.t1 = time.monotonic()
        if r.status != 201:
            mp.status = "unexpected"
            raise Unexpected("PUT manifest %r: expected 201, got %r" % (mp, r))
        if r.header("docker-content-digest") != mp.digest:
            mp.status = "unexpected"
            raise Unexpected("manifest 201 with the wrong digest: %r %r" % (mp, r))
        if not (r.header("location") or "").endswith("/v2/%s/manifests/%s" % (mp.repo, mp.digest)):
            mp.status = "unexpected"
            raise Unexpected("manifest 201 with a bad Location: %r" % r)
        if mp.subject is not None and r.header("oci-subject") != mp.subject:
            mp.status = "unexpected"
            raise Unexpected("artifact 201 without OCI-Subject %s: %r" % (mp.subject, r))
        mp.status = 201
        with self.lock:
            self.ok.append(mp)

    def untag(self, rnd):
        """DELETE of a unique tag that got its 201 (each is deleted at most once, never
        pushed again): 202, or an interrupted attempt."""
        with self.lock:
            taken = {(u[0], u[1]) for u in self.untags}
            cands = [p for p in self.ok if p.kind == "unique" and (p.repo, p.tag) not in taken]
            if not cands:
                return False
            mp = rnd.choice(cands)
            u = [mp.repo, mp.tag, "sent"]
            self.untags.append(u)
        try:
            r = self.call("DELETE", "/v2/%s/manifests/%s" % (mp.repo, mp.tag))
        except Transient:
            u[2] = "transient"
            raise
        if r.status != 202:
            u[2] = "unexpected"
            raise Unexpected("DELETE tag %s:%s: expected 202, got %r" % (mp.repo, mp.tag, r))
        u[2] = 202
        self.counted("untag")
        return True

    def push(self, rnd, n):
        repo = rnd.choice(IMAGE_REPOS)
        kind = rnd.choices(("tagged", "unique", "digest", "index", "artifact", "untag"),
                           (35, 15, 15, 20, 20, 10))[0]
        if kind == "untag":
            if self.untag(rnd):
                return
            kind = "unique"
        shared = rnd.choice(SHARED_TAGS)
        if kind == "index":
            docker = rnd.random() < 0.3
            kids = [self.pick(rnd, repo, (MT_DOCKER,) if docker else (MT_OCI, MT_DOCKER))
                    for _ in range(rnd.randint(1, 3))]
            kids = [k for k in kids if k is not None]
            if kids:
                manifests = []
                for k in kids:
                    d = k.descriptor()
                    d["platform"] = {"architecture": rnd.choice(("amd64", "arm64")),
                                     "os": "linux"}
                    manifests.append(d)
                mt = MT_DOCKER_LIST if docker else MT_OCI_INDEX
                body = json.dumps({"schemaVersion": 2, "mediaType": mt,
                                   "manifests": manifests}).encode()
                tag = rnd.choice(("multi", None))
                self.counted(kind)
                return self.put(ManifestPut(repo, body, mt, tag, kind,
                                            refs=[k.digest for k in kids]))
            kind = "tagged"
        if kind == "artifact":
            subj = self.pick(rnd, repo, MANIFEST_TYPES)
            if subj is not None or rnd.random() < 0.2:
                sd = subj.descriptor() if subj is not None else {
                    "mediaType": MT_OCI, "digest": sha256(rnd.randbytes(16)), "size": 123}
                cfg = self.blob(repo, EMPTY)
                cfg["mediaType"] = MT_EMPTY
                layer = self.blob(repo, rnd.randbytes(rnd.randint(100, 4096)))
                layer["mediaType"] = "application/vnd.example.data"
                at = rnd.choice(ARTIFACT_TYPES)
                body = json.dumps({
                    "schemaVersion": 2, "mediaType": MT_OCI, "artifactType": at,
                    "config": cfg, "layers": [layer], "subject": sd,
                    "annotations": {"org.example.nonce": str(rnd.getrandbits(64))}}).encode()
                tag = "sig" if rnd.random() < 0.3 else None
                self.counted(kind)
                return self.put(ManifestPut(repo, body, MT_OCI, tag, kind, subject=sd["digest"],
                                            refs=[cfg["digest"], layer["digest"]]))
            kind = "tagged"
        docker = rnd.random() < 0.25
        m, refs = self.image(rnd, repo, docker, n)
        body = json.dumps(m, indent=rnd.choice((None, 2))).encode()
        tag = {"tagged": shared, "unique": "c%d-%d" % (n, rnd.getrandbits(32)),
               "digest": None}[kind]
        self.counted(kind)
        self.put(ManifestPut(repo, body, m["mediaType"], tag, kind, refs=refs))

    def counted(self, kind):
        with self.lock:
            self.kinds[kind] = self.kinds.get(kind, 0) + 1


class ImageCrashTest(unittest.TestCase):
    setUp = CrashTest.setUp
    wait_respawn = CrashTest.wait_respawn
    kill_under_load = CrashTest.kill_under_load
    journal = CrashTest.journal

    def test_kill9_under_image_pushes(self):
        load = ImageLoad(self.reg)
        snapshots = []
        kills = self.kill_under_load(load, IMAGE_CLIENTS, IMAGE_KILLS, IMAGE_LOAD_BEFORE_KILL,
                                     lambda: len(load.ok),
                                     lambda pids: snapshots.append(self.snapshot(pids)))

        interrupted = [p for p in load.puts if p.status != 201]
        sys.stderr.write("\n%d manifest PUTs (%r), %d created, %d interrupted, %d blobs, "
                         "%d transient failures, %d requests, kills %r, restarts %d\n" % (
                             len(load.puts), load.kinds, len(load.ok), len(interrupted),
                             len(load.blobs), load.transient, load.requests,
                             [(len(p), c) for p, c in kills], self.restarts))
        self.assertEqual(load.unexpected, [], "responses no crash excuses")
        self.assertTrue(load.transient, "the kills interrupted nothing: the test is not testing")
        for kind in ("tagged", "digest", "index", "artifact"):
            self.assertTrue([p for p in load.ok if p.kind == kind], "no %s manifest pushed" % kind)
        self.assertTrue([u for u in load.untags if u[2] == 202], "no tag deleted")

        self.check_manifests(load)
        tags = self.check_tags(load)
        self.check_files(tags, snapshots)
        self.check_referrers(load)
        self.check_journal(load)

    # -- checks --------------------------------------------------------------------------

    def repo_dir(self, repo, *parts):
        return os.path.join(self.reg.data, "repositories", repo, *parts)

    def stored(self, digest):
        """The bytes data/blobs holds for digest, or None."""
        hexd = digest.split(":", 1)[1]
        try:
            with open(os.path.join(self.reg.data, "blobs", "sha256", hexd[:2], hexd), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def check_manifests(self, load):
        for mp in load.ok:
            with self.subTest(manifest=mp.digest, put=mp):
                r = self.reg.request("GET", "/v2/%s/manifests/%s" % (mp.repo, mp.digest))
                self.assertEqual(r.status, 200, "201'd manifest lost: %r" % r)
                self.assertEqual(r.body, mp.body, "201'd manifest not byte-exact")
                self.assertEqual(r.header("content-type"), mp.media_type, r)
                self.assertEqual(r.header("docker-content-digest"), mp.digest, r)
                self.assertEqual(self.stored(mp.digest), mp.body, "stored bytes differ")
                for d in mp.refs:
                    path = "/v2/%s/%s/%s" % (mp.repo, "manifests" if mp.kind == "index"
                                             else "blobs", d)
                    r = self.reg.request("HEAD", path)
                    self.assertEqual(r.status, 200, "%s lost what it references: %r" % (path, r))

    def check_tags(self, load):
        """Every listed tag resolves; the last 201 per tag is not undone. Returns the tags."""
        r = self.reg.request("GET", "/v2/_catalog")
        self.assertEqual(r.status, 200, r)
        self.assertLessEqual(set(IMAGE_REPOS), set(r.json()["repositories"]), r)
        by_tag = {}
        for mp in load.puts:
            if mp.tag is not None:
                by_tag.setdefault((mp.repo, mp.tag), []).append(mp)
        listed = {}
        for repo in IMAGE_REPOS:
            r = self.reg.request("GET", "/v2/%s/tags/list" % repo)
            self.assertEqual(r.status, 200, r)
            listed[repo] = r.json()["tags"]
            self.assertEqual(listed[repo], sorted(listed[repo], key=lambda t: (t.lower(), t)))
            self.assertFalse([t for t in listed[repo] if t.startswith(".")],
                             "tags/list shows temporary files")
            for tag in listed[repo]:
                with self.subTest(repo=repo, tag=tag):
                    self.assertIn((repo, tag), by_tag, "a tag nobody pushed")
                    with open(self.repo_dir(repo, "_manifests", "tags", tag), "rb") as f:
                        target = parse_record(f.read())[2].decode()
                    r = self.reg.request("GET", "/v2/%s/manifests/%s" % (repo, tag))
                    self.assertEqual(r.status, 200, "tag points at a missing manifest: %r" % r)
                    self.assertEqual(r.header("docker-content-digest"), target, r)
                    self.assertEqual(sha256(r.body), target,
                                     "tag resolves to bytes of another digest")
                    self.assertIn(r.header("content-type"), MANIFEST_TYPES, r)
                    self.assertEqual(r.header("content-type"), r.json().get("mediaType"), r)
                    puts = by_tag[(repo, tag)]
                    writers = [p for p in puts if p.digest == target]
                    self.assertTrue(writers, "tag points at a manifest never pushed under it")
                    rivals = [p for p in puts if p.status == 201 and p.digest != target]
                    if rivals:
                        last = max(rivals, key=lambda p: p.t0)
                        self.assertTrue(
                            [w for w in writers if w.t1 >= last.t0],
                            "tag went back to %s, pushed before the 201'd %r" % (target, last))
        untagged = {(u[0], u[1]) for u in load.untags}  # checked in check_journal
        for (repo, tag), puts in sorted(by_tag.items()):
            if [p for p in puts if p.status == 201] and (repo, tag) not in untagged:
                with self.subTest(repo=repo, tag=tag):
                    self.assertIn(tag, listed[repo], "a 201'd tag is gone")
        return listed

    def repo_files(self, layers=True):
        """{path relative to data/repositories: bytes}; files renamed away meanwhile skipped."""
        root = os.path.join(self.reg.data, "repositories")
        files = {}
        for dirpath, dirnames, filenames in os.walk(root):
            if not layers and os.path.basename(dirpath) == "_layers":
                dirnames[:] = []
                continue
            for name in filenames:
                path = os.path.join(dirpath, name)
                try:
                    with open(path, "rb") as f:
                        files[os.path.relpath(path, root)] = f.read()
                except FileNotFoundError:
                    pass
        return files

    def snapshot(self, pids):
        """The files right after a kill, once the killed responders are gone: checked at the
        end, since later pushes may replace what a crash left (no test deletes anything)."""
        deadline = time.time() + 5
        for pid in pids:
            while time.time() < deadline:
                st = fronts.proc_stat(pid)
                if st is None or st[2] in "ZX":
                    break
                time.sleep(0.002)
        return self.repo_files(layers=False)

    def delta_ops(self, repo):
        """{"+": tags, "-": tags} by the last op of each tag in the repository's tags.delta."""
        last = {}
        try:
            with open(self.repo_dir(repo, "_manifests", "tags.delta")) as f:
                for line in f.read().split("\n")[:-1]:
                    last[line[1:]] = line[0]
        except FileNotFoundError:
            pass
        ops = {}
        for tag, op in last.items():
            ops.setdefault(op, set()).add(tag)
        return ops

    def check_file(self, rel, raw, listed, counts, files):
        """One file under data/repositories (files: all of them then); listed: {repo:
        tags/list} or None."""
        parts = rel.split(os.sep)
        name = parts.pop()
        if name.startswith("."):
            self.assertRegex(name, TMP_RE, "stray dot file")
            counts["tmp"] += 1
            return
        if name == "_records.lock":
            self.assertEqual(raw, b"", "the record lock file holds nothing")
            return
        area = [c for c in parts if c.startswith("_")]
        if area[:1] == ["_tombstones"]:  # a delete's record: whole, and nothing else there
            area.pop(0)
            self.assertEqual(len(area), 1, "stray tombstone")
            rec = parse_record(raw)
            self.assertIsNotNone(rec, "torn tombstone")
            self.assertEqual(rec[1:], ("t", b""), "a value under _tombstones")
            self.assertIn(area[0], ("_manifests", "_referrers", "_layers"))
            counts["tombstones"] += 1
            return
        self.assertEqual(len(area), 1, "stray file")
        i = parts.index(area[0])
        repo, sub = "/".join(parts[:i]), parts[i:]
        if sub[:1] != ["_manifests"] or sub in (["_manifests", "tags"],
                                                 ["_manifests", "revisions", "sha256"]):
            rec = parse_record(raw)  # a record: the header whole, a value, no tombstone
            self.assertIsNotNone(rec, "torn record")
            self.assertEqual(rec[1], "v", "a tombstone where a value lives")
            tomb = parse_record(files.get(os.path.join(*(parts[:i] + ["_tombstones"] + sub +
                                                          [name])), b""))
            if tomb is not None and tomb[0] >= rec[0]:
                # a kill between the two steps of a delete: the tombstone wins for readers
                counts["beaten"] += 1
                return
            raw = rec[2]
        text = raw.decode()
        if sub == ["_manifests", "tags"]:
            counts["tags"] += 1
            self.assertRegex(text, DIGEST_RE, "torn tag file")
            if listed is not None:
                self.assertIn(name, listed.get(repo, []), "tag file not listed")
            rev = self.repo_dir(repo, "_manifests", "revisions", "sha256", text.split(":")[1])
            self.assertTrue(os.path.isfile(rev), "tag points at a missing manifest")
        elif sub == ["_manifests"] and name == "tags.lock":
            self.assertEqual(raw, b"", "the tag lock file holds nothing")
        elif sub == ["_manifests"] and name == "tags.index":
            # a snapshot of the tag files: whole lines of valid tags in the spec's order, and
            # (once quiet) none naming a tag that does not exist, unless the delta removed it
            self.assertTrue(text == "" or text.endswith("\n"), "torn tag index")
            index = text.split("\n")[:-1]
            for tag in index:
                self.assertRegex(tag, TAG_RE, "torn tag index")
            self.assertEqual(index, sorted(index, key=lambda t: (t.lower(), t)), "tag index order")
            if listed is not None:
                removed = self.delta_ops(repo).get("-", set())
                for tag in index:
                    self.assertTrue(tag in removed or
                                    os.path.isfile(self.repo_dir(repo, "_manifests", "tags", tag)),
                                    "tag index names a missing tag")
        elif sub == ["_manifests"] and name == "tags.delta":
            # whole lines of "+tag" or "-tag" (a last line a crash cut short was never acked)
            lines = text.split("\n")
            for line in lines[:-1]:
                self.assertRegex(line, r"\A[+-]" + TAG_RE[2:], "torn tag delta")
        elif sub == ["_manifests", "revisions", "sha256"]:
            counts["revisions"] += 1
            self.assertIn(text.rstrip("\n"), MANIFEST_TYPES, "torn revision link")
            body = self.stored("sha256:" + name)
            self.assertIsNotNone(body, "revision link to a missing manifest")
            self.assertEqual(sha256(body), "sha256:" + name)
            self.assertEqual(json.loads(body).get("mediaType"), text.rstrip("\n"))
        elif sub[:2] == ["_referrers", "sha256"] and len(sub) == 3:
            counts["referrers"] += 1
            self.assertRegex(name, r"sha256-[0-9a-f]{64}\Z")
            desc = json.loads(raw)  # a torn descriptor does not parse
            d = name.replace("-", ":", 1)
            self.assertEqual(desc["digest"], d)
            body = self.stored(d)
            self.assertIsNotNone(body, "referrer entry of a missing manifest")
            self.assertEqual(desc["size"], len(body))
            self.assertTrue(os.path.isfile(self.repo_dir(
                repo, "_manifests", "revisions", "sha256", d.split(":")[1])),
                "referrer entry of a manifest the repository lacks")
            self.assertEqual(json.loads(body)["subject"]["digest"], "sha256:" + sub[2])
        elif sub == ["_layers", "sha256"]:
            counts["layers"] += 1
            blob = self.stored("sha256:" + name)
            self.assertIsNotNone(blob, "link to lost blob")
            self.assertEqual(raw, str(len(blob)).encode(), "a link's size is the blob's")
        else:
            self.fail("stray file")

    def check_files(self, listed, snapshots):
        """Everything under data/repositories is complete and consistent, now and as each
        kill left it."""
        for n, snap in enumerate(snapshots):
            counts = {"tmp": 0, "tags": 0, "revisions": 0, "referrers": 0, "layers": 0,
                      "tombstones": 0, "beaten": 0}
            for rel, raw in sorted(snap.items()):
                with self.subTest(kill=n + 1, file=rel):
                    self.check_file(rel, raw, None, counts, snap)
        counts = {"tmp": 0, "tags": 0, "revisions": 0, "referrers": 0, "layers": 0,
                  "tombstones": 0, "beaten": 0}
        files = self.repo_files()
        for rel, raw in sorted(files.items()):
            with self.subTest(file=rel):
                self.check_file(rel, raw, listed, counts, files)
        sys.stderr.write("files under repositories: %r\n" % counts)
        self.assertTrue(counts["tags"] and counts["revisions"] and counts["referrers"] and
                        counts["tombstones"])

    def check_referrers(self, load):
        subjects = {}
        for mp in load.puts:
            if mp.subject is not None:
                subjects.setdefault((mp.repo, mp.subject), []).append(mp)
        for (repo, subject), puts in sorted(subjects.items()):
            with self.subTest(repo=repo, subject=subject):
                r = self.reg.request("GET", "/v2/%s/referrers/%s" % (repo, subject))
                self.assertEqual(r.status, 200, r)
                listed = r.json()["manifests"]
                digests = [d["digest"] for d in listed]
                self.assertEqual(len(digests), len(set(digests)), "duplicate referrers")
                for d in listed:
                    g = self.reg.request("GET", "/v2/%s/manifests/%s" % (repo, d["digest"]))
                    self.assertEqual(g.status, 200, "referrers lists a missing manifest: %r" % g)
                    self.assertEqual(sha256(g.body), d["digest"])
                    self.assertEqual(d["size"], len(g.body))
                    self.assertEqual(d["mediaType"], g.header("content-type"))
                    m = g.json()
                    self.assertEqual(m["subject"]["digest"], subject)
                    self.assertEqual(d.get("artifactType"), m["artifactType"])
                    self.assertEqual(d.get("annotations"), m["annotations"])
                missing = {p.digest for p in puts if p.status == 201} - set(digests)
                self.assertEqual(missing, set(), "201'd artifacts missing from referrers")

    def check_journal(self, load):
        seqs, events, written = [], set(), set()
        for ev in self.journal():
            seqs.append(ev["seq"])
            events.add((ev.get("type"), ev["repo"], ev.get("digest"), ev.get("tag")))
            for r in ev.get("records", []):
                value = r.get("value")
                written.add((ev["repo"], r["key"], ev["hlc"],
                             "t" if r.get("tombstone") else "v",
                             value.encode() if value is not None else b""))
        self.check_records(written)
        bad = [(a, b) for a, b in zip(seqs, seqs[1:]) if b <= a]
        self.assertEqual(bad, [], "journal seq not strictly increasing (or duplicated)")
        missing = sorted({("manifest.put", p.repo, p.digest, p.tag) for p in load.ok} - events)
        self.assertEqual(missing, [], "201'd manifests without a manifest.put event")
        blobs = {(t, r, d) for t, r, d, _ in events if t in ("blob.put", "blob.mount")}
        missing = sorted({(r, d) for r, d in load.blobs} -
                         {(r, d) for _, r, d in blobs})
        self.assertEqual(missing, [], "201'd blobs without a journal event")
        # No change escapes the journal, kill -9 or not: what the store holds has its event.
        puts = {(r, d, t) for k, r, d, t in events if k == "manifest.put"}
        deletes = {(r, t) for k, r, _, t in events if k == "tag.delete"}
        for repo in IMAGE_REPOS:
            tags = self.repo_dir(repo, "_manifests", "tags")
            for tag in os.listdir(tags) if os.path.isdir(tags) else []:
                if TMP_RE.match(tag):
                    continue
                with open(os.path.join(tags, tag), "rb") as f:
                    d = parse_record(f.read())[2].decode()
                self.assertIn((repo, d, tag), puts, "a tag in the store without its event")
            revs = self.repo_dir(repo, "_manifests", "revisions", "sha256")
            for h in os.listdir(revs) if os.path.isdir(revs) else []:
                if not TMP_RE.match(h):
                    self.assertTrue([p for p in puts if p[:2] == (repo, "sha256:" + h)],
                                    "a manifest in the store without its event")
        # A tag deleted (202) is gone and has its event; one whose DELETE was cut short is
        # either still there or gone with its event.
        for repo, tag, status in load.untags:
            gone = self.reg.request("GET", "/v2/%s/manifests/%s" % (repo, tag)).status == 404
            with self.subTest(repo=repo, tag=tag, status=status):
                if status == 202:
                    self.assertTrue(gone, "a 202'd tag delete undone")
                if gone:
                    self.assertIn((repo, tag), deletes, "a tag gone without its tag.delete")

    def check_records(self, written):
        """Every record file and tombstone in the store is one a journal event wrote: same
        repository, key, clock, kind and value."""
        checked = 0
        for rel, raw in sorted(self.repo_files().items()):
            parts = rel.split(os.sep)
            if parts[-1].startswith(".") or parts[-1].endswith(".lock") or \
                    parts[-1] in ("tags.index", "tags.delta"):
                continue
            i = min(n for n, c in enumerate(parts) if c.startswith("_"))
            repo, key = "/".join(parts[:i]), parts[i:]
            if key[0] == "_tombstones":
                key = key[1:]
            rec = parse_record(raw)
            with self.subTest(record=rel):
                self.assertIsNotNone(rec, "not a record")
                self.assertIn((repo, "/".join(key), rec[0], rec[1], rec[2]), written,
                              "a record no journal event wrote")
                checked += 1
        sys.stderr.write("records checked against their events: %d\n" % checked)
        self.assertTrue(checked)


if __name__ == "__main__":
    unittest.main()
