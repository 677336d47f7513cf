#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The store's content in a bucket on a real single-node Ceph (tests/s3/ceph.py): objects keyed
as on disk beside sparse placeholders; the store remembers its bucket; an upload session's bytes
go to a multipart upload as its parts fill, which a cancel, an expiry or the orphans sweep aborts;
downloads by presigned redirect; scrub and gc on the bucket; radosgw stopped mid-push (503 with
Retry-After, nothing half-made, the push goes on when it is back); a commit the bucket fails
after its last part, retried to the end (through tests/s3/faulty.py); kill -9 of the responder
during concurrent pushes; and two nodes of a cluster over one bucket, one copy of the content."""
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "http"))
sys.path.insert(0, os.path.join(HERE, "..", "peer"))

from ceph import Ceph  # noqa: E402
from faulty import LOSE, NO_SUCH_UPLOAD, PASS, REFUSE, FaultyProxy  # noqa: E402

CEPH = None
TMP = None
OCI = "application/vnd.oci.image.manifest.v1+json"
PART = 5 << 20  # the harness's storage.s3.part_size


def setUpModule():
    global CEPH, TMP
    TMP = tempfile.mkdtemp(prefix="octoserve-bucket-")
    CEPH = Ceph(os.path.join(TMP, "ceph")).start()
    os.environ["OCTOTEST_S3"] = json.dumps(CEPH.settings())  # every Registry: a bucket


def tearDownModule():
    if CEPH is not None:
        CEPH.stop()
    shutil.rmtree(TMP, ignore_errors=True)


from harness import Registry, sha256  # noqa: E402
from peers import Node, wait_for as wait  # noqa: E402
from suite import unique_bytes  # noqa: E402


def bucket_of(reg):
    with open(reg.config_path) as f:
        return json.load(f)["storage"]["s3"]["bucket"]


def objects(bucket):
    """{key: size} of everything in the bucket."""
    status, body = CEPH.signed("GET", "/%s?list-type=2" % bucket)
    assert status == 200, body
    text = body.decode()
    return {k: int(n) for k, n in re.findall(r"<Key>([^<]+)</Key>.*?<Size>(\d+)</Size>", text)}


def uploads(bucket):
    """The keys of the multipart uploads under way in the bucket."""
    status, body = CEPH.signed("GET", "/%s?uploads=" % bucket)
    assert status == 200, body
    return re.findall(r"<Upload>.*?<Key>([^<]+)</Key>", body.decode())


def blob_key(digest):
    alg, hexd = digest.split(":")
    return "blobs/%s/%s/%s" % (alg, hexd[:2], hexd)


def placeholder(reg, digest):
    alg, hexd = digest.split(":")
    return os.path.join(reg.data, "blobs", alg, hexd[:2], hexd)


def chunked(reg, repo, data, chunk=3 << 20):
    """POST and PATCHes of data; the session's Location."""
    loc = reg.request("POST", "/v2/%s/blobs/uploads/" % repo).header("Location")
    for i in range(0, len(data), chunk):
        r = reg.request("PATCH", loc, body=data[i:i + chunk],
                        headers={"Content-Type": "application/octet-stream"})
        assert r.status == 202, r
        loc = r.header("Location")
    return loc


def with_digest(loc, digest):
    return loc + ("&" if "?" in loc else "?") + "digest=" + digest


def age(reg, loc, seconds):
    """Make a session look untouched for seconds."""
    d = os.path.join(reg.data, "uploads", loc.rsplit("/", 1)[1].split("?")[0])
    past = time.time() - seconds
    for name in os.listdir(d) + [""]:
        os.utime(os.path.join(d, name), (past, past))


def image(reg, repo, tag, layer):
    config = unique_bytes(40, "config")
    for b in (config, layer):
        reg.push_blob(repo, b)
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": sha256(config), "size": len(config)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                   "digest": sha256(layer), "size": len(layer)}]}).encode()
    r = reg.request("PUT", "/v2/%s/manifests/%s" % (repo, tag), body=body,
                    headers={"Content-Type": OCI})
    assert r.status == 201, r
    return sha256(body), [sha256(config), sha256(layer)]


class BucketTest(unittest.TestCase):

    def test_content_in_the_bucket_placeholders_on_disk(self):
        with Registry() as reg:
            big = os.urandom(12 << 20)
            d = reg.request("PUT", with_digest(chunked(reg, "b/r", big), sha256(big)))
            self.assertEqual(d.status, 201, d)
            m, blobs = image(reg, "b/r", "v1", big)
            have = objects(bucket_of(reg))
            for digest in blobs + [m]:
                self.assertIn(blob_key(digest), have)
            self.assertEqual(have[blob_key(sha256(big))], len(big))
            self.assertFalse([k for k in have if k.startswith("uploads/")], have)
            self.assertEqual(uploads(bucket_of(reg)), [])
            # a blob's placeholder: its size, no bytes; a manifest's: its bytes too
            st = os.stat(placeholder(reg, sha256(big)))
            self.assertEqual((st.st_size, st.st_blocks), (len(big), 0))
            r = reg.request("GET", "/v2/b/r/manifests/v1", headers={"Accept": OCI})
            with open(placeholder(reg, m), "rb") as f:
                self.assertEqual(f.read(), r.body)
            r = reg.request("GET", "/v2/b/r/blobs/" + sha256(big))
            self.assertEqual((r.status, r.body == big), (200, True))
            r = reg.request("GET", "/v2/b/r/blobs/" + sha256(big),
                            headers={"Range": "bytes=%d-%d" % (PART - 10, PART + 9)})
            self.assertEqual((r.status, r.body), (206, big[PART - 10:PART + 10]))
            self.assertEqual(r.header("Content-Range"), "bytes %d-%d/%d" %
                             (PART - 10, PART + 9, len(big)))
            r = reg.request("HEAD", "/v2/b/r/blobs/" + sha256(big))
            self.assertEqual((r.status, r.header("Content-Length")), (200, str(len(big))))
            stats = reg.admin("stats", "--json").json
            self.assertGreaterEqual(stats["blobs"], 3, stats)
            self.assertGreaterEqual(stats["blob_bytes"], len(big), stats)

    def test_the_store_remembers_its_bucket(self):
        reg = Registry()
        reg.start()
        try:
            reg.push_blob("b/r", b"remembered")
            reg.stop()
            with open(os.path.join(reg.data, "bucket")) as f:
                self.assertEqual(f.read(), "s3 %s \n" % bucket_of(reg))
            for storage, said in (({"type": "filesystem"}, "keeps its content in an S3 bucket"),
                                  ({"s3": {"bucket": "another-bucket"}},
                                   "another bucket or under another prefix")):
                with open(reg.config_path) as f:
                    cfg = json.load(f)
                saved = json.dumps(cfg)
                for k, v in storage.items():
                    if isinstance(v, dict):
                        cfg["storage"][k].update(v)
                    else:
                        cfg["storage"][k] = v
                with open(reg.config_path, "w") as f:
                    json.dump(cfg, f)
                p = reg.admin("stats", check=False)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn(said, p.stderr)
                with open(reg.config_path, "w") as f:
                    f.write(saved)
        finally:
            reg.cleanup()

    def test_parts_go_as_they_come_and_aborts_leave_nothing(self):
        with Registry(config={"storage": {"upload_ttl": "1h"}}) as reg:
            bucket = bucket_of(reg)
            data = os.urandom(3 * PART + 1000)
            loc = chunked(reg, "b/p", data, chunk=PART)
            session = loc.rsplit("/", 1)[1].split("?")[0]
            self.assertEqual(len(uploads(bucket)), 1)
            self.assertIn(session, uploads(bucket)[0])
            st = os.stat(os.path.join(reg.data, "uploads", session, "data"))
            self.assertEqual(st.st_size, len(data))
            self.assertLess(st.st_blocks * 512, 2 * PART)  # the sent parts' holes punched
            r = reg.request("GET", loc)
            self.assertEqual((r.status, r.header("Range")), (204, "0-%d" % (len(data) - 1)))
            # a cancel aborts it
            self.assertEqual(reg.request("DELETE", loc).status, 204)
            self.assertEqual(uploads(bucket), [])
            # a wrong digest aborts it
            loc = chunked(reg, "b/p", data, chunk=PART)
            r = reg.request("PUT", with_digest(loc, "sha256:" + "0" * 64))
            self.assertEqual(r.status, 400)
            self.assertEqual(uploads(bucket), [])
            # an expiry aborts it
            loc = chunked(reg, "b/p", data, chunk=PART)
            self.assertEqual(len(uploads(bucket)), 1)
            age(reg, loc, 7200)
            reg.restart()  # collects at start
            self.assertIsNotNone(wait(lambda: uploads(bucket) == [], 30))
            self.assertEqual(reg.request("GET", loc).status, 404)
            # and a multipart upload left by a crash before its session recorded it
            with open(os.path.join(reg.data, "store.id")) as f:
                incarnation = f.read().strip()
            key = "uploads/%s/%s" % (incarnation, "0" * 8 + "-0000-4000-8000-" + "0" * 12)
            status, body = CEPH.signed("POST", "/%s/%s?uploads=" % (bucket, key))
            self.assertEqual(status, 200, body)
            self.assertEqual(uploads(bucket), [key])
            reg.restart()
            self.assertIsNotNone(wait(lambda: uploads(bucket) == [], 30))
            with open(os.path.join(reg.tmp, "octoserve.log")) as f:
                self.assertIn('"bucket_uploads":1', f.read())
            self.assertEqual([k for k in objects(bucket) if k.startswith("uploads/")], [])

    def test_sha512_and_a_resumed_session(self):
        with Registry(procs=2) as reg:
            data = os.urandom(2 * PART + 77)
            loc = chunked(reg, "b/s", data[:PART + 5], chunk=PART + 5)
            reg.restart()  # another process resumes the session: its parts on record
            r = reg.request("PATCH", loc, body=data[PART + 5:],
                            headers={"Content-Type": "application/octet-stream"})
            self.assertEqual(r.status, 202, r)
            d = "sha512:" + hashlib.sha512(data).hexdigest()
            r = reg.request("PUT", with_digest(r.header("Location"), d))
            self.assertEqual(r.status, 201, r)
            r = reg.request("GET", "/v2/b/s/blobs/" + d)
            self.assertEqual((r.status, r.body == data), (200, True))
            self.assertEqual(uploads(bucket_of(reg)), [])

    def test_redirect_to_a_presigned_url(self):
        with Registry(config={"storage": {"s3": {"redirect": True,
                                                 "redirect_lifetime": "5m"}}}) as reg:
            data = unique_bytes(100000, "redirect")
            d = reg.push_blob("b/d", data)
            r = reg.request("GET", "/v2/b/d/blobs/" + d)
            self.assertEqual(r.status, 307, r)
            url = r.header("Location")
            self.assertTrue(url.startswith(CEPH.endpoint + "/"), url)
            self.assertIn("X-Amz-Expires=300", url)
            with urllib.request.urlopen(url, timeout=10) as f:
                self.assertEqual(f.read(), data)
            req = urllib.request.Request(url, headers={"Range": "bytes=10-19"})
            with urllib.request.urlopen(req, timeout=10) as f:
                self.assertEqual((f.status, f.read()), (206, data[10:20]))
            # a tampered URL is refused by the bucket
            bad = url.replace("X-Amz-Expires=300", "X-Amz-Expires=600")
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(bad, timeout=10)
            self.assertEqual(e.exception.code, 403)
            # HEAD is answered here, and a blob of another repository is not redirected to
            self.assertEqual(reg.request("HEAD", "/v2/b/d/blobs/" + d).status, 200)
            self.assertEqual(reg.request("GET", "/v2/b/other/blobs/" + d).status, 404)

    def test_scrub_and_gc_on_the_bucket(self):
        with Registry() as reg:
            bucket = bucket_of(reg)
            flipped, gone, kept = (unique_bytes(5000, n) for n in ("flip", "gone", "kept"))
            for b in (flipped, gone, kept):
                reg.push_blob("b/g", b)
            status, _ = CEPH.signed("PUT", "/%s/%s" % (bucket, blob_key(sha256(flipped))),
                                    b"X" + flipped[1:])
            self.assertEqual(status, 200)
            status, _ = CEPH.signed("DELETE", "/%s/%s" % (bucket, blob_key(sha256(gone))))
            self.assertEqual(status, 204)
            p = reg.admin("scrub", "--json", check=False)
            self.assertEqual(p.returncode, 3, p.stderr)  # damage found
            res = json.loads(p.stdout)
            self.assertEqual((res["corrupt"], res["quarantined"]), (2, 2), res)
            why = {i["digest"]: i["found"] for i in res["items"]}
            self.assertIn("hash to", why[sha256(flipped)])
            self.assertEqual(why[sha256(gone)], "missing from the bucket")
            self.assertEqual(reg.request("HEAD", "/v2/b/g/blobs/" + sha256(flipped)).status,
                             404)
            self.assertEqual(reg.request("HEAD", "/v2/b/g/blobs/" + sha256(kept)).status, 200)
            # pushed again, it is whole again
            reg.push_blob("b/g", flipped)
            r = reg.request("GET", "/v2/b/g/blobs/" + sha256(flipped))
            self.assertEqual((r.status, r.body), (200, flipped))
            # gc: an image deleted, its content leaves the bucket
            m, blobs = image(reg, "b/i", "v1", unique_bytes(3000, "layer"))
            self.assertEqual(reg.request("DELETE", "/v2/b/i/manifests/" + m).status, 202)
            res = reg.admin("gc", "--grace", "0s", "--json").json
            self.assertGreaterEqual(res["blobs_removed"], 3, res)
            have = objects(bucket)
            for digest in blobs + [m]:
                self.assertNotIn(blob_key(digest), have)
                self.assertFalse(os.path.exists(placeholder(reg, digest)))
            self.assertNotIn(blob_key(sha256(kept)), have)  # linked by no manifest either


class OutageTest(unittest.TestCase):
    """radosgw stopped mid-push, and the responder killed mid-push."""

    def test_radosgw_stopped_mid_push(self):
        with Registry(config={"storage": {"s3": {"timeout": "2s"}}}) as reg:
            data = os.urandom(PART + 4000)
            loc = chunked(reg, "o/r", data[:4000], chunk=4000)  # below a part: all here
            small = unique_bytes(2000, "outage")
            CEPH.stop_rgw()
            try:
                r = reg.request("PATCH", loc, body=data[4000:],
                                headers={"Content-Type": "application/octet-stream"})
                self.assertEqual(r.status, 202, r)  # durable here; its part waits
                loc = r.header("Location")
                r = reg.request("PUT", with_digest(loc, sha256(data)))
                self.assertEqual(r.status, 503, r)
                self.assertEqual(r.error_code(), "UNAVAILABLE")
                self.assertEqual(r.header("Retry-After"), "5")
                r = reg.request("POST", "/v2/o/r/blobs/uploads/?digest=" + sha256(small),
                                body=small, headers={"Content-Type": "application/octet-stream"})
                self.assertEqual(r.status, 503, r)
                for d in (sha256(data), sha256(small)):
                    self.assertEqual(reg.request("HEAD", "/v2/o/r/blobs/" + d).status, 404)
                    self.assertFalse(os.path.exists(placeholder(reg, d)))
                with open(os.path.join(reg.tmp, "octoserve.log")) as f:
                    self.assertIn("the bucket did not answer", f.read())
            finally:
                CEPH.start_rgw()
            # the session is still there: the same commit goes through
            r = reg.request("PUT", with_digest(loc, sha256(data)))
            self.assertEqual(r.status, 201, r)
            self.assertEqual(reg.post_blob("o/r", small).status, 201)
            for d, b in ((sha256(data), data), (sha256(small), small)):
                r = reg.request("GET", "/v2/o/r/blobs/" + d)
                self.assertEqual((r.status, r.body == b), (200, True))
            self.assertEqual(uploads(bucket_of(reg)), [])

    def test_a_commit_the_bucket_failed_after_the_last_part(self):
        """Its parts all sent, the commit's last steps fail at the bucket (through a proxy that
        refuses or loses one kind of request): CompleteMultipartUpload refused, its reply lost,
        the copy to the content's key refused. A 503 with the session kept, or (the reply lost)
        the commit's own retry finding the object completed; the client's retry of the same PUT
        ends it (after the copy failed, its second completion answered NoSuchUpload as S3
        servers other than radosgw answer it), the content whole and nothing left behind."""
        def complete(method, target, headers):
            return method == "POST" and "uploadId=" in target
        with FaultyProxy(CEPH.endpoint) as proxy, \
                Registry(config={"storage": {"s3": {"endpoint": proxy.endpoint}}}) as reg:
            blobs = {what: os.urandom(2 * PART + 1000 + i) for i, what in
                     enumerate(("refused", "lost", "copy refused"))}
            sessions = {what: chunked(reg, "f/r", b) for what, b in blobs.items()}
            lost = []

            def rule(method, target, headers):
                if complete(method, target, headers):
                    if what == "refused":
                        return REFUSE
                    if what == "lost" and not lost:
                        lost.append(target)
                        return LOSE
                if what == "copy refused" and "x-amz-copy-source" in headers:
                    return REFUSE
                return PASS
            proxy.rule = rule
            for what, data in blobs.items():
                put = with_digest(sessions[what], sha256(data))
                r = reg.request("PUT", put)
                if what == "lost":
                    self.assertEqual(r.status, 201, r)
                    self.assertEqual([w for m, t, w in proxy.seen if t == lost[0]], [LOSE, PASS])
                else:
                    self.assertEqual(r.status, 503, r)
                    self.assertEqual(r.error_code(), "UNAVAILABLE")
                    self.assertEqual(r.header("Retry-After"), "5")
                    self.assertEqual(reg.request("HEAD", "/v2/f/r/blobs/" + sha256(data)).status,
                                     404)
                    self.assertFalse(os.path.exists(placeholder(reg, sha256(data))))
                    if what == "copy refused":  # completed once: now unknown
                        proxy.rule = lambda *request: \
                            NO_SUCH_UPLOAD if complete(*request) else PASS
                    else:
                        proxy.rule = lambda *request: PASS
                    r = reg.request("PUT", put)
                    self.assertEqual(r.status, 201, r)
                    proxy.rule = rule
                r = reg.request("GET", "/v2/f/r/blobs/" + sha256(data))
                self.assertEqual((r.status, r.body == data), (200, True), what)
            self.assertTrue(proxy.done(REFUSE) and proxy.done(LOSE) and
                            proxy.done(NO_SUCH_UPLOAD))
            bucket = bucket_of(reg)
            self.assertEqual(uploads(bucket), [])
            self.assertEqual(sorted(objects(bucket)), sorted(blob_key(sha256(b))
                                                             for b in blobs.values()))

    def test_kill9_during_concurrent_pushes(self):
        reg = Registry(config={"storage": {"upload_ttl": "1h"}}, procs=2)
        reg.start()
        try:
            bucket = bucket_of(reg)
            done, stop = [], threading.Event()

            def pusher(n):
                i = 0
                while not stop.is_set():
                    i += 1
                    layer = os.urandom(PART + 1000 * n + i)
                    try:
                        loc = chunked(reg, "k/r%d" % n, layer, chunk=2 << 20)
                        r = reg.request("PUT", with_digest(loc, sha256(layer)))
                        if r.status != 201:
                            continue
                        m, _ = image(reg, "k/r%d" % n, "t%d" % i, layer)
                        done.append(("k/r%d" % n, "t%d" % i, m, sha256(layer), layer))
                    except Exception:  # the responder died under it
                        pass
            threads = [threading.Thread(target=pusher, args=(n,)) for n in range(3)]
            for t in threads:
                t.start()
            self.assertIsNotNone(wait(lambda: len(done) >= 2, 120))
            time.sleep(0.5)  # mid-push now
            for pid in reg.responder_pids():
                os.kill(pid, signal.SIGKILL)
            stop.set()
            for t in threads:
                t.join()
            reg.restart()
            self.assertGreaterEqual(len(done), 2)
            for repo, tag, m, ld, layer in done:  # every 201 holds
                r = reg.request("GET", "/v2/%s/manifests/%s" % (repo, tag),
                                headers={"Accept": OCI})
                self.assertEqual((r.status, sha256(r.body)), (200, m))
                r = reg.request("GET", "/v2/%s/blobs/%s" % (repo, ld))
                self.assertEqual((r.status, r.body == layer), (200, True))
                self.assertEqual(objects(bucket)[blob_key(ld)], len(layer))
            # the sessions the kill left expire, and their multipart uploads with them
            for s in os.listdir(os.path.join(reg.data, "uploads")):
                if re.fullmatch(r"[0-9a-f-]{36}", s):
                    age(reg, "/" + s, 7200)
            reg.restart()
            self.assertIsNotNone(wait(lambda: uploads(bucket) == [], 30), uploads(bucket))
        finally:
            reg.cleanup()


class TwoNodesTest(unittest.TestCase):
    """A cluster of two (eager) over one bucket: a push to one is pulled from the other, and
    the bucket holds one copy, put once."""

    def test_one_bucket_one_copy(self):
        tmp = tempfile.mkdtemp(prefix="octoserve-bucket-nodes-")
        bucket = CEPH.make_bucket("shared-" + os.urandom(6).hex())
        settings = CEPH.settings()
        storage = {"type": "s3", "s3": {"endpoint": settings["endpoint"], "bucket": bucket,
                                        "access_key": settings["access_key"],
                                        "secret_key": settings["secret_key"],
                                        "path_style": True, "part_size": PART}}
        p2p = {"replication": {"factor": 2, "strategy": "eager", "sync_interval": "1s"}}
        nodes = []
        try:
            debug = {"level": "debug"}
            nodes.append(Node(tmp, "s1", p2p=p2p, storage=storage, daemon_logging=debug))
            nodes.append(Node(tmp, "s2", [nodes[0].daemon.address], p2p=p2p, storage=storage,
                              daemon_logging=debug))
            self.assertIsNotNone(wait(lambda: all(
                set(n.daemon.states().values()) == {"up"} and n.daemon.states()
                for n in nodes), 30))
            n1, n2 = nodes
            layer = os.urandom(PART + 12345)
            m, blobs = image(n1.reg, "two/r", "v1", layer)
            status, before = CEPH.signed("GET", "/%s?list-type=2" % bucket)
            self.assertIsNotNone(wait(
                lambda: all(os.path.exists(placeholder(n2.reg, d)) for d in blobs + [m]) and
                n2.get("/v2/two/r/manifests/v1").status == 200, 30))
            r = n2.get("/v2/two/r/manifests/v1")
            self.assertEqual((r.status, sha256(r.body)), (200, m))
            r = n2.reg.request("GET", "/v2/two/r/blobs/" + sha256(layer))
            self.assertEqual((r.status, r.body == layer), (200, True))
            st = os.stat(placeholder(n2.reg, sha256(layer)))
            self.assertEqual((st.st_size, st.st_blocks), (len(layer), 0))
            # one object per blob, written once: the second node put nothing
            status, after = CEPH.signed("GET", "/%s?list-type=2" % bucket)
            self.assertEqual(before, after)
            self.assertEqual(sorted(objects(bucket)), sorted(blob_key(d) for d in blobs + [m]))
            # and no byte of it came from the other node: the placeholders were made from the bucket
            with open(n2.daemon.log) as f:
                adopted = [json.loads(line)["digest"] for line in f
                           if "a blob is in the shared bucket" in line]
            self.assertIn(sha256(layer), adopted)
        finally:
            for n in nodes:
                n.close()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
