# SPDX-License-Identifier: Apache-2.0
"""Garbage collection online (octoserve-admin gc, lib/gc): table-driven cases of what a
collection keeps and removes, the grace and its renewal by a HEAD, dry runs, and a collection
that runs in a loop while clients push (every image that got its 201s pulls whole)."""
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Registry, sha256  # noqa: E402
from suite import unique_bytes  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"


def content_path(reg, digest):
    hexd = digest.split(":", 1)[1]
    return os.path.join(reg.data, "blobs", "sha256", hexd[:2], hexd)


def push_manifest(reg, repo, ref, body, ctype):
    r = reg.request("PUT", "/v2/%s/manifests/%s" % (repo, ref), body=body,
                    headers={"Content-Type": ctype})
    assert r.status == 201, r
    return sha256(body)


def push_image(reg, repo, tag=None, layers=1, subject=None, hint=""):
    """An image of fresh blobs; (manifest digest, [config, layers...])."""
    config = unique_bytes(64, "config" + hint)
    blobs = [reg.push_blob(repo, config)]
    descs = []
    for i in range(layers):
        data = unique_bytes(300 + i, "layer" + hint)
        blobs.append(reg.push_blob(repo, data))
        descs.append({"mediaType": LAYER, "digest": blobs[-1], "size": len(data)})
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
         "config": {"mediaType": CONFIG, "digest": blobs[0], "size": len(config)},
         "layers": descs}
    if subject is not None:
        m["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject[0], "size": subject[1]}
        m["artifactType"] = "application/vnd.example.sbom"
    body = json.dumps(m).encode()
    digest = sha256(body)
    push_manifest(reg, repo, tag or digest, body, OCI_MANIFEST)
    return digest, blobs, len(body)


def push_index(reg, repo, tag, children):
    """children: [(digest, size)]; the index's digest."""
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": d, "size": n,
         "platform": {"architecture": "amd64", "os": "linux"}} for d, n in children]}).encode()
    return push_manifest(reg, repo, tag, body, OCI_INDEX)


def size_of(reg, repo, digest):
    r = reg.request("HEAD", "/v2/%s/manifests/%s" % (repo, digest))
    return int(r.header("Content-Length"))


class GcCases(unittest.TestCase):
    """Each case builds its repositories, runs one collection with no grace, and says what
    must still pull and what must be gone (content files included)."""

    def setUp(self):
        self.reg = Registry(config={"storage": {"gc": {"grace": "0s"}}}).start()

    def tearDown(self):
        self.reg.cleanup()

    def gc(self, *args):
        return self.reg.admin("gc", "--json", *args).json

    def assertManifest(self, repo, digest, present):
        r = self.reg.request("GET", "/v2/%s/manifests/%s" % (repo, digest),
                             headers={"Accept": OCI_MANIFEST + ", " + OCI_INDEX})
        self.assertEqual(r.status, 200 if present else 404, (repo, digest, r))
        if present:
            self.assertEqual(sha256(r.body), digest)

    def assertBlob(self, repo, digest, present):
        r = self.reg.request("GET", "/v2/%s/blobs/%s" % (repo, digest))
        self.assertEqual(r.status, 200 if present else 404, (repo, digest, r))
        if present:
            self.assertEqual(sha256(r.body), digest)

    def assertContent(self, digest, present):
        self.assertEqual(os.path.exists(content_path(self.reg, digest)), present, digest)

    def test_cases(self):
        reg = self.reg
        cases = []  # (name, setup -> expectations, gc args)

        def untagged_index_child():
            child, blobs, n = push_image(reg, "c1/img")
            push_index(reg, "c1/img", "v1", [(child, n)])
            return [("c1/img", child, blobs, True)]
        cases.append(("an index child with no tag survives", untagged_index_child, ()))
        cases.append(("... with --delete-untagged too", untagged_index_child,
                      ("--delete-untagged",)))

        def untagged_image():
            loose, blobs, _ = push_image(reg, "c2/img")
            kept, kept_blobs, _ = push_image(reg, "c2/img", tag="v1")
            child, child_blobs, n = push_image(reg, "c2/img")
            push_index(reg, "c2/img", "multi", [(child, n)])
            return [("c2/img", loose, blobs, False), ("c2/img", kept, kept_blobs, True),
                    ("c2/img", child, child_blobs, True)]
        cases.append(("--delete-untagged removes untagged images, never a kept index's child",
                      untagged_image, ("--delete-untagged",)))

        def untagged_kept_by_default():
            loose, blobs, _ = push_image(reg, "c3/img")
            return [("c3/img", loose, blobs, True)]
        cases.append(("untagged manifests are kept unless asked", untagged_kept_by_default, ()))

        def referrer_of_kept_subject():
            subj, blobs, n = push_image(reg, "c4/img", tag="v1")
            ref, ref_blobs, _ = push_image(reg, "c4/img", subject=(subj, n), hint="sbom")
            return [("c4/img", subj, blobs, True), ("c4/img", ref, ref_blobs, True)]
        cases.append(("a referrer of a kept subject survives", referrer_of_kept_subject,
                      ("--delete-untagged",)))

        def mounted_blob():
            first, blobs, _ = push_image(reg, "c5/a", tag="v1")
            for b in blobs:
                r = reg.request("POST", "/v2/c5/b/blobs/uploads/?mount=%s&from=c5/a" % b)
                assert r.status == 201, r
            body = reg.request("GET", "/v2/c5/a/manifests/v1",
                               headers={"Accept": OCI_MANIFEST}).body
            push_manifest(reg, "c5/b", "v1", body, OCI_MANIFEST)
            r = reg.request("DELETE", "/v2/c5/a/manifests/%s" % first)
            assert r.status == 202, r
            return [("c5/a", first, blobs, False), ("c5/b", first, blobs, True)]
        cases.append(("a blob mounted into another repository survives the first's deletion",
                      mounted_blob, ()))

        def deleted_image():
            gone, blobs, _ = push_image(reg, "c6/img", tag="v1", layers=3)
            r = reg.request("DELETE", "/v2/c6/img/manifests/%s" % gone)
            assert r.status == 202, r
            return [("c6/img", gone, blobs, False)]
        cases.append(("a deleted manifest's blobs go, links and content", deleted_image, ()))

        def blob_never_referenced():
            lone = reg.push_blob("c7/img", unique_bytes(1000, "lone"))
            return [("c7/img", None, [lone], False)]
        cases.append(("a blob no manifest names goes", blob_never_referenced, ()))

        for name, setup, args in cases:
            with self.subTest(name):
                expected = setup()
                result = self.gc(*args)
                for repo, manifest, blobs, present in expected:
                    if manifest is not None:
                        self.assertManifest(repo, manifest, present)
                    for b in blobs:
                        self.assertBlob(repo, b, present)
                        # content goes only when no repository links it
                        if present or not any(p for r2, _, bs, p in expected if b in bs):
                            self.assertContent(b, present)
                self.assertEqual(result["skipped_repositories"], 0)

    def test_referrers_of_a_deleted_subject_follow_the_policy(self):
        reg = self.reg
        for policy, survives in (("keep", True), ("remove", False)):
            with self.subTest(policy):
                repo = "refs/" + policy
                subj, _, n = push_image(reg, repo, tag="v1")
                ref, ref_blobs, _ = push_image(reg, repo, subject=(subj, n), hint=policy)
                r = reg.request("DELETE", "/v2/%s/manifests/%s" % (repo, subj))
                self.assertEqual(r.status, 202, r)
                env = dict(reg.env, OCTOSERVE_STORAGE_GC_REFERRERS=policy)
                reg.admin("gc", env=env)
                self.assertManifest(repo, ref, survives)
                for b in ref_blobs:
                    self.assertBlob(repo, b, survives)
                    self.assertContent(b, survives)

    def test_open_upload_session_survives(self):
        reg = self.reg
        data = unique_bytes(4096, "session")
        r = reg.request("POST", "/v2/up/img/blobs/uploads/")
        self.assertEqual(r.status, 202, r)
        loc = r.header("Location")
        r = reg.request("PATCH", loc, body=data[:2048],
                        headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 202, r)
        self.gc("--delete-untagged")
        r = reg.request("PATCH", r.header("Location"), body=data[2048:],
                        headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 202, r)
        loc = r.header("Location")
        r = reg.request("PUT", loc + ("&" if "?" in loc else "?") + "digest=" + sha256(data))
        self.assertEqual(r.status, 201, r)
        self.assertBlob("up/img", sha256(data), True)

    def test_dry_run_removes_nothing_and_lists_what_would_go(self):
        reg = self.reg
        gone, blobs, _ = push_image(reg, "dry/img", tag="v1")
        reg.request("DELETE", "/v2/dry/img/manifests/%s" % gone)
        result = reg.admin("gc", "--dry-run", "--json").json
        self.assertTrue(result["dry_run"])
        listed = {(i["kind"], i["digest"]) for i in result["items"]}
        for b in blobs:
            self.assertIn(("link", b), listed)
            self.assertIn(("blob", b), listed)
            self.assertContent(b, True)
        human = reg.admin("gc", "--dry-run").stdout
        self.assertIn("would remove blob %s" % blobs[0], human)
        self.assertEqual(result["blobs_removed"], 3)  # counted as would-go
        after = reg.admin("gc", "--json").json
        self.assertEqual(after["blobs_removed"], 3)
        for b in blobs:
            self.assertContent(b, False)

    def test_stats_and_metrics_report_the_last_collection(self):
        reg = self.reg
        gone, blobs, _ = push_image(reg, "st/img", tag="v1")
        reg.request("DELETE", "/v2/st/img/manifests/%s" % gone)
        result = self.gc()
        stats = reg.admin("stats", "--json").json
        self.assertEqual(stats["last_gc"]["blobs_removed"], result["blobs_removed"])
        self.assertEqual(stats["last_gc"]["bytes_freed"], result["bytes_freed"])
        self.assertIn("last gc: 20", reg.admin("stats").stdout)
        text = reg.request("GET", "/metrics").body.decode()
        self.assertIn('octoserve_gc_removed_total{kind="blob"} %d' % result["blobs_removed"],
                      text)
        self.assertIn("octoserve_gc_runs_total 1", text)
        self.assertIn("octoserve_gc_freed_bytes_total %d" % result["bytes_freed"], text)

    def test_one_collection_at_a_time(self):
        import fcntl
        with open(os.path.join(self.reg.data, "gc.lock"), "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            p = self.reg.admin("gc", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("another garbage collection is running", p.stderr)


class GraceTest(unittest.TestCase):
    """Nothing renewed within storage.gc.grace goes, and a HEAD renews: a client that HEADs an
    old unreferenced blob and then pushes a manifest naming it wins."""

    def test_head_renews_the_grace(self):
        with Registry(config={"storage": {"gc": {"grace": "2s"}}}) as reg:
            headed = unique_bytes(500, "headed")
            other = unique_bytes(500, "other")
            dh, do = reg.push_blob("g/img", headed), reg.push_blob("g/img", other)
            fresh = reg.push_blob("g/img", unique_bytes(500, "fresh"))
            young = reg.admin("gc", "--json").json  # all three within the grace
            self.assertEqual(young["blobs_removed"], 0)
            self.assertGreaterEqual(young["kept_in_grace"], 3)
            time.sleep(2.5)
            r = reg.request("HEAD", "/v2/g/img/blobs/%s" % dh)
            self.assertEqual(r.status, 200, r)
            reg.admin("gc")
            self.assertTrue(os.path.exists(content_path(reg, dh)))
            self.assertFalse(os.path.exists(content_path(reg, do)))
            self.assertFalse(os.path.exists(content_path(reg, fresh)))
            # the client that HEADed pushes its manifest without pushing the blob again
            config = reg.push_blob("g/img", b"{}")
            body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": {"mediaType": CONFIG, "digest": config, "size": 2},
                               "layers": [{"mediaType": LAYER, "digest": dh,
                                           "size": len(headed)}]}).encode()
            push_manifest(reg, "g/img", "v1", body, OCI_MANIFEST)
            r = reg.request("GET", "/v2/g/img/blobs/%s" % dh)
            self.assertEqual((r.status, sha256(r.body)), (200, dh))


    def test_a_push_or_mount_of_the_same_bytes_renews(self):
        with Registry(config={"storage": {"gc": {"grace": "2s"}}}) as reg:
            again, mounted, left = (unique_bytes(400, n) for n in ("again", "mounted", "left"))
            da, dm, dl = (reg.push_blob("r/a", b) for b in (again, mounted, left))
            time.sleep(2.5)
            reg.push_blob("r/b", again)  # its content exists: renewed, not written
            r = reg.request("POST", "/v2/r/c/blobs/uploads/?mount=%s&from=r/a" % dm)
            self.assertEqual(r.status, 201, r)
            result = reg.admin("gc", "--json").json
            gone = {(i["kind"], i["repository"], i["digest"]) for i in result["items"]}
            self.assertEqual(gone, {("link", "r/a", dl), ("blob", "", dl)}, result)
            for d in (da, dm):
                self.assertTrue(os.path.exists(content_path(reg, d)))


class GcWhilePushing(unittest.TestCase):
    """Collections in a loop while 8 clients push images (monolithic and chunked blobs,
    mounts, indexes, referrers): every image whose pushes all got 201 pulls whole afterwards,
    and once past the grace nothing unreferenced is left."""

    CLIENTS = 8
    ROUNDS = 8
    GRACE = 2  # seconds: longer than any client takes from a blob to its manifest

    def client(self, reg, n, done, failures):
        try:
            for i in range(self.ROUNDS):
                repo = "busy/c%d" % n
                hint = "%d-%d" % (n, i)
                digest, blobs, size = push_image(reg, repo, tag="t%d" % i, layers=2, hint=hint)
                # chunked upload of a further layer, then a manifest naming it
                data = unique_bytes(70000, "chunk" + hint)
                r = reg.request("POST", "/v2/%s/blobs/uploads/" % repo)
                assert r.status == 202, r
                loc = r.header("Location")
                r = reg.request("PATCH", loc, body=data[:40000],
                                headers={"Content-Type": "application/octet-stream"})
                assert r.status == 202, r
                loc = r.header("Location")
                r = reg.request("PUT", loc + ("&" if "?" in loc else "?") + "digest=" +
                                sha256(data), body=data[40000:],
                                headers={"Content-Type": "application/octet-stream"})
                assert r.status == 201, r
                m = json.loads(reg.request("GET", "/v2/%s/manifests/%s" % (repo, digest),
                                           headers={"Accept": OCI_MANIFEST}).body)
                m["layers"].append({"mediaType": LAYER, "digest": sha256(data),
                                    "size": len(data)})
                chunked = push_manifest(reg, repo, "c%d" % i, json.dumps(m).encode(),
                                        OCI_MANIFEST)
                # a mount into a second repository and the same manifest there
                other = "busy/m%d" % n
                for b in blobs:
                    r = reg.request("POST", "/v2/%s/blobs/uploads/?mount=%s&from=%s" %
                                    (other, b, repo))
                    assert r.status == 201, r
                body = reg.request("GET", "/v2/%s/manifests/%s" % (repo, digest),
                                   headers={"Accept": OCI_MANIFEST}).body
                push_manifest(reg, other, "t%d" % i, body, OCI_MANIFEST)
                # an index over the image, and a referrer of it
                index = push_index(reg, repo, "multi%d" % i, [(digest, size)])
                ref, _, _ = push_image(reg, repo, subject=(digest, size), hint="ref" + hint)
                done.append((repo, digest, index, chunked, ref, other))
                # and a previous image deleted, so there is garbage to collect
                if i > 0:
                    prev = [d for d in done if d[0] == repo][-2]
                    reg.request("DELETE", "/v2/%s/manifests/%s" % (repo, prev[3]))
                time.sleep(self.GRACE / 4)  # rounds spread past the grace
        except Exception as e:  # noqa: BLE001 - reported by the test
            failures.append(e)

    def test_gc_loop_during_pushes(self):
        grace = self.GRACE
        with Registry(config={"storage": {"gc": {"grace": "%ds" % grace}}}, threads=8) as reg:
            done, failures, runs = [], [], []
            clients = [threading.Thread(target=self.client, args=(reg, n, done, failures))
                       for n in range(self.CLIENTS)]
            for t in clients:
                t.start()
            while any(t.is_alive() for t in clients):
                runs.append(reg.admin("gc", "--json").json)
            for t in clients:
                t.join()
            self.assertEqual(failures, [])
            self.assertGreater(len(runs), 1)
            self.assertGreater(sum(r["blobs_removed"] for r in runs), 0, runs)
            for repo, digest, index, chunked, ref, other in done:
                for rp, d in ((repo, digest), (repo, index), (repo, ref), (other, digest)):
                    self.pull(reg, rp, d)
            time.sleep(grace + 0.5)
            reg.admin("gc")
            final = reg.admin("gc", "--json").json
            self.assertEqual((final["blobs_removed"], final["links_removed"]), (0, 0), final)
            # every content file left is named by some manifest or is a manifest
            names = set()
            for repo, digest, index, chunked, ref, other in done:
                for rp, d in ((repo, digest), (repo, index), (repo, ref), (other, digest)):
                    names |= self.pull(reg, rp, d)
            for sub in os.listdir(os.path.join(reg.data, "blobs", "sha256")):
                for f in os.listdir(os.path.join(reg.data, "blobs", "sha256", sub)):
                    self.assertIn("sha256:" + f, names | self.deleted_kept(reg, done))

    def deleted_kept(self, reg, done):
        """The chunked images still tagged (the last of each client's)."""
        names = set()
        for repo, digest, index, chunked, ref, other in done:
            r = reg.request("GET", "/v2/%s/manifests/%s" % (repo, chunked),
                            headers={"Accept": OCI_MANIFEST})
            if r.status == 200:
                names |= self.pull(reg, repo, chunked)
        return names

    def pull(self, reg, repo, digest):
        """Pull a manifest and everything it names, checking every digest; the digests."""
        r = reg.request("GET", "/v2/%s/manifests/%s" % (repo, digest),
                        headers={"Accept": OCI_MANIFEST + ", " + OCI_INDEX})
        self.assertEqual((r.status, sha256(r.body)), (200, digest), (repo, digest, r))
        m = json.loads(r.body)
        names = {digest}
        for child in m.get("manifests", []):
            names |= self.pull(reg, repo, child["digest"])
        for desc in ([m["config"]] if "config" in m else []) + m.get("layers", []):
            b = reg.request("GET", "/v2/%s/blobs/%s" % (repo, desc["digest"]))
            self.assertEqual((b.status, sha256(b.body)), (200, desc["digest"]),
                             (repo, desc["digest"]))
            names.add(desc["digest"])
        return names


if __name__ == "__main__":
    unittest.main()
