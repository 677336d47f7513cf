#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Manifest, tag, catalog, referrers and delete endpoints through a real lighttpd + octoserve-fcgi.

distribution-spec end-3, end-7, end-8a/8b, end-9, end-12a/12b, "Listing Referrers", Docker's
/v2/_catalog, and the journal, checked status by status and header by header. One Registry
serves most tests; one with deletes disabled and one with storage.max_manifest_size = 1024
serve the cases that need them. Run: python3 tests/http/test_manifests.py [-v] [Class[.test]]
"""
import json
import os
import re
import socket
import sys
import threading
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Registry, sha256  # noqa: E402
from suite import API_VERSION, RegistryPool, RegistryTest, ResponseAssertions, enc, next_id, sha512, unique_bytes  # noqa: E402,F401

# ---------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------



OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_V1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_DATA = b"{}"
SBOM_TYPE = "application/vnd.example.sbom.v1+json"
SIG_TYPE = "application/vnd.example.signature.v1"

ALL_ACCEPT = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])
# Accept values a client might send; the registry must answer each with the stored type.
ACCEPTS = [None, "*/*", OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST, ALL_ACCEPT,
           DOCKER_MANIFEST + ", " + DOCKER_LIST + ";q=0.9, */*;q=0.1", "application/json",
           "text/plain"]

LINK_RE = re.compile(r'^<([^>]+)>;\s*rel="next"$')




def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()



def descriptor(media_type, data, **extra):
    d = {"mediaType": media_type, "digest": sha256(data), "size": len(data)}
    d.update(extra)
    return d


POOL = RegistryPool({
    "main": None,
    "nodelete": {"storage": {"delete_enabled": False}},
    "small": {"storage": {"max_manifest_size": 1024}},
})


def tearDownModule():
    POOL.close()


class ManifestTest(RegistryTest):
    """Base class of this suite: the shared registry, content builders and assertion helpers."""

    pool = POOL
    repo_prefix = "m"

    def murl(self, repo, ref):
        return "/v2/%s/manifests/%s" % (repo, ref)

    def put(self, repo, ref, body, ctype=OCI_MANIFEST, chunked=False, headers=None):
        h = {} if ctype is None else {"Content-Type": ctype}
        h.update(headers or {})
        return self.req("PUT", self.murl(repo, ref), body=body, headers=h, chunked=chunked)

    def push(self, repo, ref, body, ctype=OCI_MANIFEST, digest=None, **kw):
        """PUT a manifest and check the 201 (Location, Docker-Content-Digest)."""
        digest = digest or sha256(body)
        r = self.put(repo, ref, body, ctype, **kw)
        self.assertPushed(r, repo, digest)
        return digest

    # --- content builders -----------------------------------------------------------
    def image(self, repo, media_type=OCI_MANIFEST, layers=1, config_type=None,
              layer_type=None, **extra):
        """A manifest object whose config and layers are pushed to repo."""
        docker = media_type == DOCKER_MANIFEST
        config_type = config_type or (DOCKER_CONFIG if docker else OCI_CONFIG)
        layer_type = layer_type or (DOCKER_LAYER if docker else OCI_LAYER)
        config = dumps({"architecture": "amd64", "os": "linux",
                        "rootfs": {"type": "layers", "diff_ids": []},
                        "nonce": unique_bytes(8, "c").hex()})
        self.reg.push_blob(repo, config)
        m = {"schemaVersion": 2, "mediaType": media_type,
             "config": descriptor(config_type, config), "layers": []}
        for i in range(layers):
            data = unique_bytes(100 + i, "layer%d" % i)
            self.reg.push_blob(repo, data)
            m["layers"].append(descriptor(layer_type, data))
        m.update(extra)
        return m

    def artifact(self, repo, artifact_type=SBOM_TYPE, subject=None, annotations=None,
                 config_type=EMPTY_TYPE, media_in_body=True):
        """An OCI artifact manifest: empty config (or a typed one), one blob layer."""
        if config_type == EMPTY_TYPE:
            cdata = EMPTY_DATA
        else:
            cdata = dumps({"kind": config_type, "n": unique_bytes(4, "a").hex()})
        self.reg.push_blob(repo, cdata)
        payload = unique_bytes(50, "artifact")
        self.reg.push_blob(repo, payload)
        m = {"schemaVersion": 2}
        if media_in_body:
            m["mediaType"] = OCI_MANIFEST
        if artifact_type is not None:
            m["artifactType"] = artifact_type
        m["config"] = descriptor(config_type, cdata)
        m["layers"] = [descriptor("application/vnd.example.payload", payload)]
        if subject is not None:
            m["subject"] = subject
        if annotations is not None:
            m["annotations"] = annotations
        return m

    def pushed_image(self, repo, ref=None, media_type=OCI_MANIFEST, **extra):
        """Push an image manifest; returns (digest, body bytes)."""
        body = dumps(self.image(repo, media_type, **extra))
        digest = self.push(repo, ref or sha256(body), body, media_type)
        return digest, body

    # --- assertions -----------------------------------------------------------------
    def assertPushed(self, r, repo, digest):
        self.assertEqual(r.status, 201, r)
        self.assertApiVersion(r)
        self.assertEqual(r.header("Docker-Content-Digest"), digest, r)
        loc = r.header("Location")
        self.assertIsNotNone(loc, r)
        self.assertEqual(urllib.parse.urlsplit(loc).path, self.murl(repo, digest), r)

    def assertManifest(self, repo, ref, body, media_type, digest=None, accepts=ACCEPTS):
        """GET (with each Accept) returns exactly body as media_type; HEAD matches, no body."""
        digest = digest or sha256(body)
        for accept in accepts:
            h = {} if accept is None else {"Accept": accept}
            r = self.req("GET", self.murl(repo, ref), headers=h)
            self.assertEqual(r.status, 200, (accept, r))
            self.assertApiVersion(r)
            self.assertEqual(r.body, body, (accept, r))
            self.assertEqual(r.header("Content-Type"), media_type, (accept, r))
            self.assertEqual(r.header("Docker-Content-Digest"), digest, (accept, r))
            self.assertEqual(int(r.header("Content-Length")), len(body), (accept, r))
        r = self.req("HEAD", self.murl(repo, ref), headers={"Accept": ALL_ACCEPT})
        self.assertEqual(r.status, 200, r)
        self.assertApiVersion(r)
        self.assertEqual(r.body, b"", r)
        self.assertEqual(r.header("Content-Type"), media_type, r)
        self.assertEqual(r.header("Docker-Content-Digest"), digest, r)
        self.assertEqual(int(r.header("Content-Length")), len(body), r)

    def assertGone(self, repo, ref):
        self.assertNotFound(self.murl(repo, ref), "MANIFEST_UNKNOWN")

    def tags(self, repo, query=""):
        r = self.req("GET", "/v2/%s/tags/list%s" % (repo, query))
        self.assertEqual(r.status, 200, r)
        self.assertApiVersion(r)
        self.assertEqual((r.header("Content-Type") or "").split(";")[0], "application/json", r)
        doc = r.json()
        self.assertEqual(doc.get("name"), repo, r)
        self.assertIsInstance(doc.get("tags"), list, r)
        return doc["tags"], r

    def follow(self, first_url, key):
        """Follow Link rel="next" from first_url; returns (all items, number of pages)."""
        url, items, pages = first_url, [], 0
        while url is not None:
            pages += 1
            self.assertLess(pages, 1000, "pagination does not end")
            r = self.req("GET", url)
            self.assertEqual(r.status, 200, (url, r))
            got = r.json()[key]
            items.extend(got)
            link = r.header("Link")
            if link is None:
                url = None
            else:
                self.assertTrue(got, ("Link on an empty page", url, r))
                m = LINK_RE.match(link)
                self.assertIsNotNone(m, r)
                url = m.group(1)
                parts = urllib.parse.urlsplit(url)
                q = urllib.parse.parse_qs(parts.query)
                self.assertEqual(q.get("last"), [got[-1]], r)
        return items, pages

    def referrers(self, repo, digest, query=""):
        r = self.req("GET", "/v2/%s/referrers/%s%s" % (repo, digest, query))
        self.assertEqual(r.status, 200, r)
        self.assertApiVersion(r)
        self.assertEqual(r.header("Content-Type"), OCI_INDEX, r)
        doc = r.json()
        self.assertEqual(doc.get("schemaVersion"), 2, r)
        self.assertEqual(doc.get("mediaType"), OCI_INDEX, r)
        self.assertIsInstance(doc.get("manifests"), list, r)
        return doc["manifests"], r

    def journal(self):
        return [json.loads(line) for line in self.reg.journal_lines() if line]


# ---------------------------------------------------------------------------------------
# PUT / GET / HEAD
# ---------------------------------------------------------------------------------------

class TestPushPull(ManifestTest):

    def check_media_type(self, media_type, body_fn):
        for by in ("tag", "digest"):
            repo = self.repo(by)
            body = body_fn(repo)
            digest = sha256(body)
            ref = "v1.0" if by == "tag" else digest
            self.push(repo, ref, body, media_type)
            self.assertManifest(repo, ref, body, media_type)
            self.assertManifest(repo, digest, body, media_type, accepts=[None])
            if by == "digest":  # a push by digest creates no tag
                self.assertEqual(self.tags(repo)[0], [])
            else:
                self.assertEqual(self.tags(repo)[0], ["v1.0"])

    def test_oci_manifest(self):
        self.check_media_type(OCI_MANIFEST, lambda repo: dumps(self.image(repo, layers=2)))

    def test_docker_manifest(self):
        self.check_media_type(DOCKER_MANIFEST,
                              lambda repo: dumps(self.image(repo, DOCKER_MANIFEST, layers=2)))

    def index_body(self, repo, media_type, child_type):
        children = []
        for arch in ("amd64", "arm64"):
            d, b = self.pushed_image(repo, media_type=child_type)
            children.append({"mediaType": child_type, "digest": d, "size": len(b),
                             "platform": {"architecture": arch, "os": "linux"}})
        idx = {"schemaVersion": 2, "mediaType": media_type, "manifests": children}
        return dumps(idx)

    def test_oci_index(self):
        self.check_media_type(OCI_INDEX, lambda repo: self.index_body(repo, OCI_INDEX,
                                                                     OCI_MANIFEST))

    def test_docker_manifest_list(self):
        self.check_media_type(DOCKER_LIST, lambda repo: self.index_body(repo, DOCKER_LIST,
                                                                       DOCKER_MANIFEST))

    def test_index_of_indexes_and_empty_index(self):
        repo = self.repo()
        inner = self.index_body(repo, OCI_INDEX, OCI_MANIFEST)
        self.push(repo, sha256(inner), inner, OCI_INDEX)
        outer = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_INDEX, "digest": sha256(inner), "size": len(inner)}]})
        self.push(repo, "nested", outer, OCI_INDEX)
        self.assertManifest(repo, "nested", outer, OCI_INDEX)
        empty = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
        self.push(repo, "empty", empty, OCI_INDEX)
        self.assertManifest(repo, "empty", empty, OCI_INDEX)

    def test_oci_artifact(self):
        def body(repo):
            return dumps(self.artifact(repo, annotations={"org.example.k": "v"}))
        self.check_media_type(OCI_MANIFEST, body)

    def test_artifact_with_typed_config_and_no_layers(self):
        repo = self.repo()
        m = self.artifact(repo, artifact_type=None, config_type="application/vnd.example.cfg")
        m["layers"] = []
        body = dumps(m)
        self.push(repo, "cfg", body)
        self.assertManifest(repo, "cfg", body, OCI_MANIFEST)

    def test_bytes_stored_exactly(self):
        repo = self.repo()
        m = self.image(repo)
        # odd whitespace, unusual key order, escapes, unicode, trailing newline
        body = ('\n  {  "layers" :\t[ %s ] ,\r\n "config":%s,\n"schemaVersion" :2 ,'
                '"annotations": {"z":"\\u00e9t\\u00e9 \\/ ok","a":"\u00fcnic\u00f6de \u2603"},'
                '  "mediaType":"%s"   }\n\n'
                % (json.dumps(m["layers"][0], indent=7), json.dumps(m["config"], sort_keys=True),
                   OCI_MANIFEST)).encode("utf-8")
        self.assertNotEqual(dumps(json.loads(body)), body)
        digest = self.push(repo, "odd", body)
        self.assertManifest(repo, "odd", body, OCI_MANIFEST)
        self.assertManifest(repo, digest, body, OCI_MANIFEST, accepts=[DOCKER_MANIFEST])

    def test_docker_accept_for_oci_manifest_and_vice_versa(self):
        repo = self.repo()
        d1, b1 = self.pushed_image(repo, "oci", OCI_MANIFEST)
        d2, b2 = self.pushed_image(repo, "docker", DOCKER_MANIFEST)
        for accept in (DOCKER_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST + ", " + DOCKER_LIST):
            r = self.req("GET", self.murl(repo, "oci"), headers={"Accept": accept})
            self.assertEqual((r.status, r.header("Content-Type"), r.body),
                             (200, OCI_MANIFEST, b1), r)
        for accept in (OCI_MANIFEST, OCI_INDEX):
            r = self.req("GET", self.murl(repo, "docker"), headers={"Accept": accept})
            self.assertEqual((r.status, r.header("Content-Type"), r.body),
                             (200, DOCKER_MANIFEST, b2), r)

    def test_media_type_from_content_type_when_body_has_none(self):
        repo = self.repo()
        m = self.image(repo)
        del m["mediaType"]
        body = dumps(m)
        self.push(repo, "nomt", body, OCI_MANIFEST)
        self.assertManifest(repo, "nomt", body, OCI_MANIFEST)

    def test_content_type_parameters_ignored(self):
        repo = self.repo()
        body = dumps(self.image(repo))
        self.push(repo, "params", body, OCI_MANIFEST + "; charset=utf-8")
        self.assertManifest(repo, "params", body, OCI_MANIFEST, accepts=[None])

    def test_generic_content_type_accepted(self):
        repo = self.repo()
        body = dumps(self.image(repo, DOCKER_MANIFEST))
        self.push(repo, "json", body, "application/json")
        self.assertManifest(repo, "json", body, DOCKER_MANIFEST, accepts=[None])

    def test_chunked_put(self):
        repo = self.repo()
        body = dumps(self.image(repo, layers=3))
        self.push(repo, "chunked", [body[:10], body[10:77], body[77:]], chunked=True,
                  digest=sha256(body))
        self.assertManifest(repo, "chunked", body, OCI_MANIFEST, accepts=[None])

    def test_location_is_pullable(self):
        repo = self.repo()
        body = dumps(self.image(repo))
        r = self.put(repo, "loc", body)
        self.assertPushed(r, repo, sha256(body))
        path = urllib.parse.urlsplit(r.header("Location")).path
        g = self.req("GET", path)
        self.assertEqual((g.status, g.body), (200, body), g)

    def test_sha512_digest_reference(self):
        repo = self.repo()
        body = dumps(self.image(repo))
        d512 = sha512(body)
        r = self.put(repo, d512, body)
        self.assertPushed(r, repo, d512)
        self.assertManifest(repo, d512, body, OCI_MANIFEST, digest=d512, accepts=[None, "*/*"])
        # a wrong sha512 is refused like a wrong sha256
        self.assertError(self.put(repo, sha512(body + b" "), body), 400, "DIGEST_INVALID")

    def test_same_manifest_many_tags_and_retag(self):
        repo = self.repo()
        d1, b1 = self.pushed_image(repo, "a")
        self.push(repo, "b", b1)
        self.assertManifest(repo, "b", b1, OCI_MANIFEST, accepts=[None])
        d2, b2 = self.pushed_image(repo, "a")  # moves tag a
        self.assertManifest(repo, "a", b2, OCI_MANIFEST, accepts=[None])
        self.assertManifest(repo, "b", b1, OCI_MANIFEST, accepts=[None])
        self.assertManifest(repo, d1, b1, OCI_MANIFEST, accepts=[None])
        self.assertEqual(self.tags(repo)[0], ["a", "b"])

    def test_repush_identical_is_idempotent(self):
        repo = self.repo()
        d, b = self.pushed_image(repo, "x")
        self.push(repo, "x", b)
        self.push(repo, d, b)
        self.assertManifest(repo, "x", b, OCI_MANIFEST, accepts=[None])

    def test_manifest_not_visible_in_other_repository(self):
        repo, other = self.repo("a"), self.repo("b")
        d, b = self.pushed_image(repo, "t")
        self.reg.push_blob(other, b"x")  # other exists as a repository of blobs
        self.assertGone(other, d)

    def test_foreign_layer_with_urls_need_not_be_present(self):
        repo = self.repo()
        m = self.image(repo, DOCKER_MANIFEST)
        foreign = unique_bytes(300, "foreign")
        m["layers"].append(descriptor(DOCKER_FOREIGN, foreign,
                                      urls=["https://example.invalid/layer.tar.gz"]))
        body = dumps(m)
        self.push(repo, "foreign", body, DOCKER_MANIFEST)

    def test_four_megabyte_manifest_accepted(self):
        # spec: registries SHOULD accept manifests of at least 4 megabytes
        repo = self.repo()
        m = self.image(repo)
        m["annotations"] = {"big": ""}
        size = len(dumps(m))
        m["annotations"]["big"] = "x" * (4 * 1000 * 1000 - size)
        body = dumps(m)
        self.assertEqual(len(body), 4 * 1000 * 1000)
        self.push(repo, "big", body)
        self.assertManifest(repo, "big", body, OCI_MANIFEST, accepts=[None])


class TestSubject(ManifestTest):

    def test_subject_missing_is_accepted_with_oci_subject(self):
        repo = self.repo()
        ghost = dumps({"ghost": unique_bytes(8, "g").hex()})
        subject = descriptor(OCI_MANIFEST, ghost)
        body = dumps(self.artifact(repo, subject=subject))
        r = self.put(repo, sha256(body), body)
        self.assertPushed(r, repo, sha256(body))
        self.assertEqual(r.header("OCI-Subject"), subject["digest"], r)
        self.assertManifest(repo, sha256(body), body, OCI_MANIFEST, accepts=[None])
        self.assertError(self.req("GET", self.murl(repo, subject["digest"])), 404,
                         "MANIFEST_UNKNOWN")

    def test_subject_existing_by_tag_and_index_subject(self):
        repo = self.repo()
        sd, sb = self.pushed_image(repo, "base")
        body = dumps(self.artifact(repo, subject=descriptor(OCI_MANIFEST, sb)))
        r = self.put(repo, "sig", body)
        self.assertPushed(r, repo, sha256(body))
        self.assertEqual(r.header("OCI-Subject"), sd, r)
        idx = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [],
                     "subject": descriptor(OCI_MANIFEST, sb)})
        r = self.put(repo, "idx", idx, OCI_INDEX)
        self.assertPushed(r, repo, sha256(idx))
        self.assertEqual(r.header("OCI-Subject"), sd, r)

    def test_no_subject_no_header(self):
        repo = self.repo()
        body = dumps(self.image(repo))
        r = self.put(repo, "plain", body)
        self.assertPushed(r, repo, sha256(body))
        self.assertIsNone(r.header("OCI-Subject"), r)

    def test_invalid_subject_descriptor(self):
        repo = self.repo()
        for subject in ({"mediaType": OCI_MANIFEST, "digest": "sha256:nothex", "size": 1},
                        {"mediaType": OCI_MANIFEST, "size": 1},
                        {"mediaType": OCI_MANIFEST, "digest": sha256(b"x"), "size": -1},
                        "sha256:" + "0" * 64, []):
            body = dumps(self.artifact(repo, subject=subject))
            self.assertError(self.put(repo, "bad", body), 400, "MANIFEST_INVALID")
        self.assertError(self.req("GET", self.murl(repo, "bad")), 404, "MANIFEST_UNKNOWN")


class TestPutErrors(ManifestTest):

    def invalid(self, repo, body, ctype=OCI_MANIFEST, code="MANIFEST_INVALID", status=400,
                detail=None):
        """The PUT fails (by tag and by digest) and leaves nothing behind; detail: what the
        error's detail must say."""
        for ref in ("bad", sha256(body)):
            r = self.put(repo, ref, body, ctype)
            self.assertError(r, status, code, method="PUT")
            if detail is not None:
                self.assertEqual(r.json()["errors"][0]["detail"], detail)
            self.assertError(self.req("GET", self.murl(repo, ref)), 404, "MANIFEST_UNKNOWN")

    def test_digest_mismatch(self):
        repo = self.repo()
        body = dumps(self.image(repo))
        for wrong in (sha256(body + b"\n"), sha256(b"")):
            self.assertError(self.put(repo, wrong, body), 400, "DIGEST_INVALID")
            self.assertError(self.req("GET", self.murl(repo, wrong)), 404, "MANIFEST_UNKNOWN")
        self.assertError(self.req("GET", self.murl(repo, sha256(body))), 404,
                         "MANIFEST_UNKNOWN")

    def test_malformed_json(self):
        repo = self.repo()
        good = dumps(self.image(repo))
        for body in (b"", b"{", good[:-1], good + b"x", good + b"{}", b"[]", b"null", b"2",
                     b'"str"', good.replace(b'"schemaVersion"', b"schemaVersion"),
                     good.replace(b",", b",,", 1), b"\xef\xbb\xbf" + good):
            self.invalid(repo, body)

    def test_duplicate_keys(self):
        repo = self.repo()
        m = self.image(repo)
        good = dumps(m)
        top = good[:-1] + b',"schemaVersion":2}'
        self.invalid(repo, top)
        nested = good.replace(b'"config":{', b'"config":{"size":1,', 1)
        self.assertNotEqual(nested, good)
        self.invalid(repo, nested)
        ann = good[:-1] + b',"annotations":{"k":"v","k":"v"}}'
        self.invalid(repo, ann)
        # the same body without duplicates is fine
        self.push(repo, "ok", good[:-1] + b',"annotations":{"k":"v","l":"v"}}')

    def test_invalid_utf8(self):
        repo = self.repo()
        good = dumps(self.image(repo))
        for bad in (b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe2\x82"):
            body = good[:-1] + b',"annotations":{"k":"' + bad + b'"}}'
            self.invalid(repo, body)

    def test_media_type_inconsistent_with_content_type(self):
        repo = self.repo()
        oci = dumps(self.image(repo))
        docker = dumps(self.image(repo, DOCKER_MANIFEST))
        for body, ctype in ((oci, OCI_INDEX), (oci, DOCKER_MANIFEST), (docker, OCI_MANIFEST),
                            (docker, DOCKER_LIST)):
            self.invalid(repo, body, ctype)
        idx = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
        self.invalid(repo, idx, OCI_MANIFEST)
        self.invalid(repo, idx, DOCKER_LIST)

    def test_media_type_inconsistent_with_other_content_type(self):
        # Only application/json and application/octet-stream carry no claim about the body
        # (lib/manifest.c says so); any other Content-Type must agree with mediaType.
        repo = self.repo()
        oci = dumps(self.image(repo))
        for ctype in (OCI_CONFIG, "application/vnd.example.thing", DOCKER_V1_SIGNED,
                      "text/plain"):
            self.invalid(repo, oci, ctype)
        for ctype in ("application/json", "application/octet-stream"):
            self.push(repo, sha256(oci), oci, ctype)
            self.assertManifest(repo, sha256(oci), oci, OCI_MANIFEST, accepts=[None])

    def test_unknown_or_missing_media_type(self):
        repo = self.repo()
        m = self.image(repo)
        self.invalid(repo, dumps(dict(m, mediaType="application/vnd.example.thing")),
                     "application/vnd.example.thing")
        self.invalid(repo, dumps(dict(m, mediaType=DOCKER_V1_SIGNED)), DOCKER_V1_SIGNED)
        self.invalid(repo, dumps(dict(m, mediaType=7)))
        nomt = dict(m)
        del nomt["mediaType"]
        self.invalid(repo, dumps(nomt), None)
        self.invalid(repo, dumps(nomt), "application/vnd.example.thing")

    def test_schema_version(self):
        repo = self.repo()
        m = self.image(repo)
        for sv in (1, 3, 0, "2", 2.5, None, True):
            self.invalid(repo, dumps(dict(m, schemaVersion=sv)))
        no_sv = dict(m)
        del no_sv["schemaVersion"]
        self.invalid(repo, dumps(no_sv))

    def test_missing_or_invalid_config(self):
        repo = self.repo()
        m = self.image(repo)
        cfg = m["config"]
        no_cfg = dict(m)
        del no_cfg["config"]
        self.invalid(repo, dumps(no_cfg))
        for bad in (None, "x", [], {}, dict(cfg, digest="sha256:" + "G" * 64),
                    dict(cfg, digest=cfg["digest"].upper()), dict(cfg, digest="sha256:abc"),
                    dict(cfg, digest=cfg["digest"][7:]), dict(cfg, size=-1),
                    dict(cfg, size="12"), dict(cfg, size=1.5),
                    {"digest": cfg["digest"], "size": cfg["size"]},
                    {"mediaType": OCI_CONFIG, "size": cfg["size"]},
                    {"mediaType": OCI_CONFIG, "digest": cfg["digest"]},
                    dict(cfg, annotations={"k": 1}), dict(cfg, urls="http://x")):
            self.invalid(repo, dumps(dict(m, config=bad)))

    def test_invalid_layer_descriptors(self):
        repo = self.repo()
        m = self.image(repo, layers=2)
        lay = m["layers"][1]
        self.invalid(repo, dumps(dict(m, layers=None)))
        self.invalid(repo, dumps(dict(m, layers={"0": lay})))
        no_layers = dict(m)
        del no_layers["layers"]
        self.invalid(repo, dumps(no_layers))
        for bad in (dict(lay, digest="sha256:zz"), dict(lay, size=-5), dict(lay, size="100"),
                    dict(lay, mediaType=3), "layer", None):
            self.invalid(repo, dumps(dict(m, layers=[m["layers"][0], bad])))

    def test_descriptor_size_not_matching_blob(self):
        repo = self.repo()
        m = self.image(repo)
        m["layers"][0]["size"] += 1
        layer = m["layers"][0]
        self.invalid(repo, dumps(m), detail="blob %s has %d bytes, not %d" % (
            layer["digest"], layer["size"] - 1, layer["size"]))
        m = self.image(repo)
        m["config"]["size"] -= 1
        self.invalid(repo, dumps(m))

    def test_invalid_index(self):
        repo = self.repo()
        d, b = self.pushed_image(repo)
        child = {"mediaType": OCI_MANIFEST, "digest": d, "size": len(b)}
        base = {"schemaVersion": 2, "mediaType": OCI_INDEX}
        self.invalid(repo, dumps(base), OCI_INDEX)
        self.invalid(repo, dumps(dict(base, manifests={})), OCI_INDEX)
        self.invalid(repo, dumps(dict(base, manifests=[dict(child, digest="sha256:1")])),
                     OCI_INDEX)
        self.invalid(repo, dumps(dict(base, manifests=[dict(child, size=None)])), OCI_INDEX)
        self.invalid(repo, dumps(dict(base, manifests=[dict(child, platform="linux")])),
                     OCI_INDEX)
        self.invalid(repo, dumps(dict(base, manifests=[child], schemaVersion=1)), OCI_INDEX)
        self.push(repo, "ok", dumps(dict(base, manifests=[child])), OCI_INDEX)

    def test_invalid_annotations_and_artifact_type(self):
        repo = self.repo()
        m = self.image(repo)
        for extra in ({"annotations": {"k": 1}}, {"annotations": ["k"]},
                      {"annotations": "k=v"}, {"artifactType": 5}, {"artifactType": {}}):
            self.invalid(repo, dumps(dict(m, **extra)))

    def test_blob_missing_from_this_repository(self):
        repo, other = self.repo("this"), self.repo("other")
        cfg = dumps({"config": unique_bytes(8, "cfg").hex()})
        layer = unique_bytes(200, "layer")
        self.reg.push_blob(other, cfg)
        self.reg.push_blob(other, layer)
        m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
             "config": descriptor(OCI_CONFIG, cfg), "layers": [descriptor(OCI_LAYER, layer)]}
        body = dumps(m)
        self.push(other, "there", body)  # fine where the blobs are
        self.invalid(repo, body, code="MANIFEST_BLOB_UNKNOWN", status=404,
                     detail="blob %s is not in repository %s" % (sha256(cfg), repo))
        self.reg.push_blob(repo, cfg)  # config now here, layer still not
        self.invalid(repo, body, code="MANIFEST_BLOB_UNKNOWN", status=404,
                     detail="blob %s is not in repository %s" % (sha256(layer), repo))
        self.reg.push_blob(repo, layer)
        self.push(repo, "here", body)
        # a layer unknown to the whole registry
        m["layers"].append(descriptor(OCI_LAYER, unique_bytes(10, "nowhere")))
        self.invalid(repo, dumps(m), code="MANIFEST_BLOB_UNKNOWN", status=404)
        # same for a docker manifest
        dm = self.image(other, DOCKER_MANIFEST)
        self.push(other, "docker", dumps(dm), DOCKER_MANIFEST)
        self.invalid(repo, dumps(dm), DOCKER_MANIFEST, code="MANIFEST_BLOB_UNKNOWN", status=404)

    def test_index_child_missing(self):
        repo, other = self.repo("this"), self.repo("other")
        d, b = self.pushed_image(other, "child")
        here_d, here_b = self.pushed_image(repo, "child")
        for media, child_type in ((OCI_INDEX, OCI_MANIFEST), (DOCKER_LIST, DOCKER_MANIFEST)):
            idx = dumps({"schemaVersion": 2, "mediaType": media, "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": here_d, "size": len(here_b)},
                {"mediaType": child_type, "digest": d, "size": len(b)}]})
            self.invalid(repo, idx, media, code="MANIFEST_BLOB_UNKNOWN", status=404,
                         detail="manifest %s is not in repository %s" % (d, repo))
        # a blob (not a manifest) of this repository is no child manifest
        layer = unique_bytes(30, "l")
        self.reg.push_blob(repo, layer)
        idx = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": sha256(layer), "size": len(layer)}]})
        self.invalid(repo, idx, OCI_INDEX, code="MANIFEST_BLOB_UNKNOWN", status=404)

    def test_invalid_tag(self):
        repo = self.repo()
        body = dumps(self.image(repo))
        for tag in ("-lead", ".lead", "a" * 129, "a%21b", "%C3%A9t%C3%A9", "a%20b", "a+b"):
            r = self.put(repo, tag, body)
            self.assertError(r, 400, "MANIFEST_INVALID", method="PUT")
        r = self.req("GET", "/v2/%s/tags/list" % repo)
        self.assertError(r, 404, "NAME_UNKNOWN")
        # the longest valid tag and every valid character
        for tag in ("a" * 128, "_A-z.9_", "0"):
            self.push(repo, tag, body)
        self.assertEqual(self.tags(repo)[0], sorted(["a" * 128, "_A-z.9_", "0"]))

    def test_malformed_digest_reference_on_put(self):
        repo = self.repo()
        body = dumps(self.image(repo))
        hexd = sha256(body)[7:]
        for ref in ("sha256:" + hexd.upper(), "sha256:" + hexd[:-1], "md5:" + hexd[:32],
                    "sha256:", "sha256:" + hexd + "0"):
            r = self.put(repo, enc(ref), body)
            self.assertError(r, 400, {"DIGEST_INVALID", "MANIFEST_INVALID"}, method="PUT")


class TestParseBudget(ManifestTest):
    """jansson has no budget: 4 MiB of "{}," cost one responder 320 MB (eight at once:
    2.5 GB). A pre-scan refuses manifests of more than 400k JSON values, and the registry
    parses at most 400k values' worth at once, so eight hostile manifests in parallel keep
    the responder small, while large legitimate manifests still get 201."""
    kind = "main"

    def hostile(self, objects):
        head = '{"schemaVersion":2,"mediaType":"%s","manifests":[],"x":[' % OCI_INDEX
        return (head + ",".join(["{}"] * objects) + "]}").encode()

    def vmhwm_kb(self, reg):
        pid = reg.responder_pids()[0]
        with open("/proc/%d/status" % pid) as f:
            return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1))

    def test_hostile_manifests_in_parallel(self):
        reg = Registry(threads=8)
        reg.start()
        try:
            repo = self.repo()
            before = self.vmhwm_kb(reg)
            results = []

            def push(body, tag):
                r = reg.request("PUT", "/v2/%s/manifests/%s" % (repo, tag), body=body,
                                headers={"Content-Type": OCI_INDEX})
                results.append((len(body), r.status, r.body[:200]))
            # eight of the largest accepted (199k empty objects, ~600 KB) and eight 4 MiB ones
            bodies = [self.hostile(199000)] * 8 + [self.hostile(1398000)] * 8
            threads = [threading.Thread(target=push, args=(b, "h%d" % i))
                       for i, b in enumerate(bodies)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for size, status, body in results:
                if size > 1000000:
                    self.assertEqual(status, 400, body)
                    self.assertIn(b"too many JSON values", body)
                else:
                    self.assertEqual(status, 201, body)
            peak = self.vmhwm_kb(reg)
            print("VmHWM %d kB -> %d kB" % (before, peak), file=sys.stderr)
            if not os.environ.get("ASAN_OPTIONS"):  # sanitizers inflate memory
                self.assertLess(peak, 100 * 1024, "responder VmHWM %d kB (from %d)" % (peak, before))
        finally:
            reg.cleanup()

    def test_large_legitimate_manifests(self):
        """A 4 MiB index of 20k children and a 4 MiB annotation-heavy image: 201."""
        repo = self.repo()
        child = dumps(self.image(repo, layers=0))
        self.push(repo, sha256(child), child)
        entry = {"mediaType": OCI_MANIFEST, "digest": sha256(child), "size": len(child),
                 "platform": {"architecture": "amd64", "os": "linux"}}
        n = (4 * 1024 * 1024 - 200) // (len(dumps(entry)) + 1)
        index = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry] * n})
        self.assertGreater(len(index), 3900 * 1024)
        self.push(repo, "big-index", index, OCI_INDEX)
        m = self.image(repo, layers=0)
        m["annotations"] = {"k%06d" % i: "v" * 20 for i in range(120000)}
        body = dumps(m)
        self.assertGreater(len(body), 3800 * 1024)
        self.push(repo, "big-annotations", body)


class TestManifestSizeLimit(ManifestTest):
    kind = "small"

    def sized(self, repo, size):
        m = self.image(repo, layers=0)
        m["annotations"] = {"pad": ""}
        m["annotations"]["pad"] = "p" * (size - len(dumps(m)))
        body = dumps(m)
        self.assertEqual(len(body), size)
        return body

    def test_at_limit_accepted(self):
        repo = self.repo()
        body = self.sized(repo, 1024)
        self.push(repo, "limit", body)
        self.assertManifest(repo, "limit", body, OCI_MANIFEST, accepts=[None])

    def test_over_limit_413(self):
        repo = self.repo()
        for size in (1025, 4096, 70000):
            body = self.sized(repo, size)
            for ref in ("over", sha256(body)):
                r = self.put(repo, ref, body)
                self.assertError(r, 413, None, method="PUT")
                self.assertError(self.req("GET", self.murl(repo, ref)), 404, "MANIFEST_UNKNOWN")

    def test_over_limit_chunked_413(self):
        repo = self.repo()
        body = self.sized(repo, 3000)
        r = self.put(repo, "chunked", [body[i:i + 500] for i in range(0, len(body), 500)],
                     chunked=True)
        self.assertError(r, 413, None, method="PUT")
        self.assertError(self.req("GET", self.murl(repo, "chunked")), 404, "MANIFEST_UNKNOWN")
        small = self.sized(repo, 1000)
        self.push(repo, "chunked", [small[:600], small[600:]], chunked=True, digest=sha256(small))


class ChunkedManifestSpoolTest(ResponseAssertions, unittest.TestCase):
    """A chunked "manifest" far over storage.max_manifest_size is refused without the front
    spooling it whole first (lighttpd spools chunked bodies: it caps manifest paths)."""

    def test_huge_chunked_manifest_is_not_spooled(self):
        with Registry() as reg:
            s = socket.create_connection(("127.0.0.1", reg.port))
            s.sendall(b"PUT /v2/spool/r/manifests/x HTTP/1.1\r\nHost: t\r\n"
                      b"Content-Type: application/vnd.oci.image.manifest.v1+json\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n")
            chunk, spooled = b" " * 65536, 0
            try:
                for _ in range(320):  # 20 MiB
                    s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    spooled = max(spooled, tree_size(os.path.join(reg.run, "tmp")))
            except OSError:
                pass  # refused and closed early: fine
            s.settimeout(30)
            head = s.recv(4096)
            s.close()
            self.assertEqual(head.split(b"\r\n")[0].split()[1], b"413", head)
            self.assertLess(spooled, 6 << 20)


def tree_size(root):
    """Bytes in the regular files below root (0 if it does not exist)."""
    total = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


# ---------------------------------------------------------------------------------------
# GET errors
# ---------------------------------------------------------------------------------------

class TestGetErrors(ManifestTest):

    def test_unknown_tag_and_digest(self):
        repo = self.repo()
        self.pushed_image(repo, "known")
        for ref in ("unknown", sha256(b"nothing"), sha512(b"nothing")):
            for method in ("GET", "HEAD"):
                self.assertError(self.req(method, self.murl(repo, ref),
                                          headers={"Accept": ALL_ACCEPT}),
                                 404, "MANIFEST_UNKNOWN", method=method)

    def test_unknown_repository(self):
        repo = self.repo()
        for ref in ("latest", sha256(b"x")):
            for method in ("GET", "HEAD"):
                self.assertError(self.req(method, self.murl(repo, ref)), 404,
                                 {"MANIFEST_UNKNOWN", "NAME_UNKNOWN"}, method=method)

    def test_blob_digest_is_not_a_manifest(self):
        repo = self.repo()
        d = self.reg.push_blob(repo, unique_bytes(40, "b"))
        self.assertError(self.req("GET", self.murl(repo, d)), 404, "MANIFEST_UNKNOWN")

    def test_invalid_tag_characters(self):
        repo = self.repo()
        self.pushed_image(repo, "valid")
        for tag in ("-x", ".x", "a" * 129, "a%21", "%2E%2E", "a%2Fb", "%C3%A9"):
            r = self.req("GET", self.murl(repo, tag))
            self.assertIn(r.status, (400, 404), r)
            self.assertError(r, r.status, {"MANIFEST_UNKNOWN", "MANIFEST_INVALID",
                                           "NAME_INVALID"})

    def test_malformed_digest(self):
        repo = self.repo()
        d, _ = self.pushed_image(repo, "t")
        for ref in (d.upper(), d[:-1], d + "a", "sha256:", "md5:" + d[7:39],
                    "sha512:" + d[7:]):
            r = self.req("GET", self.murl(repo, enc(ref)))
            if r.status == 400:
                self.assertError(r, 400, "DIGEST_INVALID")
            else:
                self.assertError(r, 404, "MANIFEST_UNKNOWN")

    def test_sha512_and_sha256_addresses_are_distinct(self):
        repo = self.repo()
        body = dumps(self.image(repo))
        self.push(repo, sha512(body), body, digest=sha512(body))
        self.assertManifest(repo, sha512(body), body, OCI_MANIFEST, digest=sha512(body),
                            accepts=[None])
        r = self.req("GET", self.murl(repo, sha512(body + b" ")))
        self.assertError(r, 404, "MANIFEST_UNKNOWN")

    def test_method_not_allowed(self):
        repo = self.repo()
        for method in ("POST", "PATCH"):
            r = self.req(method, self.murl(repo, "latest"))
            self.assertError(r, 405, "UNSUPPORTED", method=method)
            self.assertIn("PUT", r.header("Allow") or "", r)


# ---------------------------------------------------------------------------------------
# Tags list
# ---------------------------------------------------------------------------------------

class TestTagsList(ManifestTest):

    def tagged_repo(self, tags):
        repo = self.repo()
        body = dumps(self.image(repo))
        for t in tags:
            self.push(repo, t, body)
        return repo

    TAGS = ["v2", "1.0", "latest", "_x", "1.0-rc1", "v10", "a-b", "a.b", "a_b", "0", "zz",
            "v1", "stable"]

    def test_sorted(self):
        repo = self.tagged_repo(self.TAGS)
        got, r = self.tags(repo)
        self.assertEqual(got, sorted(self.TAGS), r)
        self.assertIsNone(r.header("Link"), r)
        self.assertEqual(int(r.header("Content-Length")), len(r.body), r)

    def test_lexical_case_insensitive_order(self):
        # spec "Listing Tags": lexical order, i.e. case-insensitive alphanumeric order
        tags = ["beta", "Alpha", "gamma", "Delta", "epsilon", "Zeta", "v1", "V2"]
        repo = self.tagged_repo(tags)
        expect = sorted(tags, key=lambda s: (s.lower(), s))
        self.assertEqual(self.tags(repo)[0], expect)
        self.assertEqual(self.follow("/v2/%s/tags/list?n=3" % repo, "tags")[0], expect)

    def test_paginate_follow_links(self):
        repo = self.tagged_repo(self.TAGS)
        expect = sorted(self.TAGS)
        for n in (1, 2, 3, 5, 12):
            items, pages = self.follow("/v2/%s/tags/list?n=%d" % (repo, n), "tags")
            self.assertEqual(items, expect, n)
            self.assertEqual(pages, -(-len(expect) // n), n)
        for n in (13, 14, 1000, 10 ** 9):
            got, r = self.tags(repo, "?n=%d" % n)
            self.assertEqual(got, expect)
            self.assertIsNone(r.header("Link"), r)

    def test_link_header_exact(self):
        tags = ["a", "b", "c", "d", "e"]
        repo = self.tagged_repo(tags)
        got, r = self.tags(repo, "?n=2")
        self.assertEqual(got, ["a", "b"])
        self.assertEqual(r.header("Link"), '</v2/%s/tags/list?n=2&last=b>; rel="next"' % repo)
        got, r = self.tags(repo, "?n=2&last=b")
        self.assertEqual(got, ["c", "d"])
        self.assertEqual(r.header("Link"), '</v2/%s/tags/list?n=2&last=d>; rel="next"' % repo)
        got, r = self.tags(repo, "?n=2&last=d")
        self.assertEqual(got, ["e"])
        self.assertIsNone(r.header("Link"), r)

    def test_last(self):
        repo = self.tagged_repo(["a", "c", "e"])
        self.assertEqual(self.tags(repo, "?last=a")[0], ["c", "e"])
        self.assertEqual(self.tags(repo, "?last=b")[0], ["c", "e"])  # not itself a tag
        self.assertEqual(self.tags(repo, "?last=e")[0], [])
        self.assertEqual(self.tags(repo, "?last=zzz")[0], [])
        self.assertEqual(self.tags(repo, "?n=1&last=a")[0], ["c"])
        self.assertEqual(self.tags(repo, "?last=&n=10")[0], ["a", "c", "e"])

    def test_n_zero(self):
        repo = self.tagged_repo(["a", "b"])
        for q in ("?n=0", "?n=0&last=a"):
            got, r = self.tags(repo, q)
            self.assertEqual(got, [], r)
            self.assertIsNone(r.header("Link"), r)

    def test_bad_n(self):
        repo = self.tagged_repo(["a"])
        for n in ("-1", "abc", "", "1.5", "%201", "1x", "0x10", "+1", "1e3"):
            r = self.req("GET", "/v2/%s/tags/list?n=%s" % (repo, n))
            self.assertError(r, 400, None)

    def test_unknown_repository(self):
        for method in ("GET", "HEAD"):
            r = self.req(method, "/v2/%s/tags/list" % self.repo("nope"))
            self.assertError(r, 404, "NAME_UNKNOWN", method=method)

    def test_repository_without_tags(self):
        repo = self.repo()
        self.pushed_image(repo)  # by digest only
        got, r = self.tags(repo)
        self.assertEqual(got, [])
        self.assertIsNone(r.header("Link"), r)

    def test_many_tags(self):
        repo = self.repo()
        body = dumps(self.image(repo))
        tags = ["t%03d" % i for i in range(150)]
        for t in tags:
            self.push(repo, t, body)
        self.assertEqual(self.tags(repo)[0], tags)
        items, pages = self.follow("/v2/%s/tags/list?n=40" % repo, "tags")
        self.assertEqual(items, tags)
        self.assertEqual(pages, 4)


# ---------------------------------------------------------------------------------------
# Catalog
# ---------------------------------------------------------------------------------------

class TestCatalog(ManifestTest):

    def catalog(self, query=""):
        r = self.req("GET", "/v2/_catalog" + query)
        self.assertEqual(r.status, 200, r)
        self.assertApiVersion(r)
        self.assertEqual((r.header("Content-Type") or "").split(";")[0], "application/json", r)
        doc = r.json()
        self.assertIsInstance(doc.get("repositories"), list, r)
        return doc["repositories"], r

    def test_sorted_nested_and_paginated(self):
        prefix = "cat%d" % next_id()
        names = [prefix + s for s in ("/a", "/a/b", "/a/b/c", "/a-b", "/b", "/a.b/c", "/z/y/x/w",
                                      "/0")]
        for n in names:
            self.pushed_image(n, "t")
        blob_only = prefix + "/blobonly"
        self.reg.push_blob(blob_only, b"blob only")
        full, r = self.catalog()
        self.assertIsNone(r.header("Link"), r)
        self.assertEqual(full, sorted(full))
        self.assertEqual(len(full), len(set(full)))
        mine = [x for x in full if x.startswith(prefix + "/")]
        self.assertEqual(mine, sorted(names))
        for n in (1, 2, 3, 7):
            items, pages = self.follow("/v2/_catalog?n=%d" % n, "repositories")
            self.assertEqual(items, full, n)
            self.assertEqual(pages, -(-len(full) // n), n)

    def test_repository_without_manifests_is_not_listed(self):
        """The catalog lists repositories that hold manifests: not after the last is
        deleted (its tags and blob links stay behind), again once one is pushed."""
        repo = "cat%d/gone" % next_id()
        d1, _ = self.pushed_image(repo, "one")
        d2, _ = self.pushed_image(repo, "two")
        self.assertIn(repo, self.follow("/v2/_catalog?n=1000", "repositories")[0])
        for d in (d1, d2):
            self.assertEqual(self.req("DELETE", self.murl(repo, d)).status, 202)
        self.assertNotIn(repo, self.follow("/v2/_catalog?n=1000", "repositories")[0])
        self.pushed_image(repo, "three")
        self.assertIn(repo, self.follow("/v2/_catalog?n=1000", "repositories")[0])

    def test_link_last_and_n_zero(self):
        prefix = "cat%d" % next_id()
        for s in ("/a", "/b", "/c"):
            self.pushed_image(prefix + s, "t")
        got, r = self.catalog("?n=2&last=%s" % enc(prefix))
        self.assertEqual(got, [prefix + "/a", prefix + "/b"])
        self.assertEqual(r.header("Link"),
                         '</v2/_catalog?n=2&last=%s/b>; rel="next"' % prefix)
        got, r = self.catalog("?n=1&last=%s/b" % prefix)
        self.assertEqual(got, [prefix + "/c"])
        got, r = self.catalog("?n=0")
        self.assertEqual(got, [])
        self.assertIsNone(r.header("Link"), r)
        for n in ("-1", "x", ""):
            self.assertError(self.req("GET", "/v2/_catalog?n=" + n), 400, None)


# ---------------------------------------------------------------------------------------
# Referrers
# ---------------------------------------------------------------------------------------

class TestReferrers(ManifestTest):

    def setup_referrers(self):
        repo = self.repo()
        sd, sb = self.pushed_image(repo, "subject")
        subject = descriptor(OCI_MANIFEST, sb)
        out = {}
        a1 = dumps(self.artifact(repo, SBOM_TYPE, subject,
                                 {"org.opencontainers.image.created": "2024-01-01T00:00:00Z",
                                  "org.example.format": "json"}))
        out["a1"] = (self.push(repo, sha256(a1), a1), a1, SBOM_TYPE,
                     {"org.opencontainers.image.created": "2024-01-01T00:00:00Z",
                      "org.example.format": "json"}, OCI_MANIFEST)
        # no artifactType: the config's media type
        a2 = dumps(self.artifact(repo, None, subject, {"k": "v"},
                                 config_type="application/vnd.example.sig.config"))
        out["a2"] = (self.push(repo, "sig", a2), a2, "application/vnd.example.sig.config",
                     {"k": "v"}, OCI_MANIFEST)
        # an index without artifactType: none listed
        i1 = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [],
                    "subject": subject, "annotations": {"idx": "1"}})
        out["i1"] = (self.push(repo, sha256(i1), i1, OCI_INDEX), i1, None, {"idx": "1"},
                     OCI_INDEX)
        # an index with artifactType, no annotations
        i2 = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": SIG_TYPE,
                    "manifests": [], "subject": subject})
        out["i2"] = (self.push(repo, sha256(i2), i2, OCI_INDEX), i2, SIG_TYPE, None, OCI_INDEX)
        # a plain image without artifactType: its config type (the image config)
        a3 = self.image(repo, subject=subject)
        a3b = dumps(a3)
        out["a3"] = (self.push(repo, sha256(a3b), a3b), a3b, OCI_CONFIG, None, OCI_MANIFEST)
        # not referrers: no subject, another subject
        self.pushed_image(repo, "unrelated")
        other = dumps(self.artifact(repo, SBOM_TYPE, descriptor(OCI_MANIFEST, b"{}")))
        self.push(repo, sha256(other), other)
        return repo, sd, out

    def assertDescriptors(self, got, expected):
        by_digest = {d.get("digest"): d for d in got}
        self.assertEqual(len(by_digest), len(got), got)  # no duplicates
        self.assertEqual(set(by_digest), {e[0] for e in expected}, got)
        for digest, body, at, ann, mt in expected:
            d = by_digest[digest]
            want = {"mediaType": mt, "digest": digest, "size": len(body)}
            if at is not None:
                want["artifactType"] = at
            if ann is not None:
                want["annotations"] = ann
            self.assertEqual(d, want)

    def test_list(self):
        repo, sd, out = self.setup_referrers()
        got, r = self.referrers(repo, sd)
        self.assertIsNone(r.header("OCI-Filters-Applied"), r)
        self.assertEqual(int(r.header("Content-Length")), len(r.body), r)
        self.assertDescriptors(got, list(out.values()))
        h = self.req("HEAD", "/v2/%s/referrers/%s" % (repo, sd))
        self.assertEqual((h.status, h.body, h.header("Content-Type")), (200, b"", OCI_INDEX), h)

    def test_filter(self):
        repo, sd, out = self.setup_referrers()
        for q in ("?artifactType=" + SBOM_TYPE, "?artifactType=" + enc(SBOM_TYPE)):
            got, r = self.referrers(repo, sd, q)
            self.assertEqual(r.header("OCI-Filters-Applied"), "artifactType", r)
            self.assertDescriptors(got, [out["a1"]])
        got, r = self.referrers(repo, sd, "?artifactType=" + enc(OCI_CONFIG))
        self.assertEqual(r.header("OCI-Filters-Applied"), "artifactType", r)
        self.assertDescriptors(got, [out["a3"]])
        got, r = self.referrers(repo, sd, "?artifactType=" + enc(SIG_TYPE))
        self.assertDescriptors(got, [out["i2"]])
        got, r = self.referrers(repo, sd, "?artifactType=application/vnd.none")
        self.assertEqual(r.header("OCI-Filters-Applied"), "artifactType", r)
        self.assertEqual(got, [])

    def test_unknown_subject_empty_index(self):
        repo, sd, out = self.setup_referrers()
        for digest in (sha256(b"no such"), sha512(b"no such")):
            got, r = self.referrers(repo, digest)
            self.assertEqual(got, [], r)
        got, r = self.referrers(self.repo("nonexistent"), sd)
        self.assertEqual(got, [], r)
        # referrers are per repository
        other = self.repo("other")
        self.pushed_image(other, "x")
        self.assertEqual(self.referrers(other, sd)[0], [])

    def test_malformed_digest(self):
        repo, sd, out = self.setup_referrers()
        for bad in ("latest", sd.upper(), sd[:-1], "sha256:", "md5:" + sd[7:39], sd + "0"):
            r = self.req("GET", "/v2/%s/referrers/%s" % (repo, enc(bad)))
            self.assertError(r, 400, {"DIGEST_INVALID", "UNSUPPORTED"})

    def test_referrer_before_subject_and_no_duplicates(self):
        repo = self.repo()
        sub_body = dumps(self.image(repo))
        subject = descriptor(OCI_MANIFEST, sub_body)
        a = dumps(self.artifact(repo, SBOM_TYPE, subject))
        r = self.put(repo, "early", a)
        self.assertPushed(r, repo, sha256(a))
        self.assertEqual(r.header("OCI-Subject"), subject["digest"])
        self.push(repo, sha256(a), a)  # again, by digest
        self.push(repo, "again", a)
        self.push(repo, "subject", sub_body)
        got, _ = self.referrers(repo, subject["digest"])
        self.assertDescriptors(got, [(sha256(a), a, SBOM_TYPE, None, OCI_MANIFEST)])

    def test_empty_artifact_type(self):
        # distribution-spec: an empty or missing artifactType in a manifest means the config's
        # media type; in an index it means no artifactType. (Rejecting "" as an invalid
        # RFC 6838 type with MANIFEST_INVALID would be fine too.)
        repo = self.repo()
        sd, sb = self.pushed_image(repo, "subject")
        subject = descriptor(OCI_MANIFEST, sb)
        m = self.artifact(repo, "", subject, config_type="application/vnd.example.cfg")
        mb = dumps(m)
        i = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "artifactType": "",
                   "manifests": [], "subject": subject})
        expected = []
        for body, ctype, at in ((mb, OCI_MANIFEST, "application/vnd.example.cfg"),
                                (i, OCI_INDEX, None)):
            r = self.put(repo, sha256(body), body, ctype)
            if r.status == 201:
                expected.append((sha256(body), body, at, None, ctype))
            else:
                self.assertError(r, 400, "MANIFEST_INVALID", method="PUT")
        got, _ = self.referrers(repo, sd)
        self.assertDescriptors(got, expected)

    def test_sha512_subject(self):
        repo = self.repo()
        sub_body = dumps(self.image(repo))
        d512 = self.push(repo, sha512(sub_body), sub_body, digest=sha512(sub_body))
        subject = {"mediaType": OCI_MANIFEST, "digest": d512, "size": len(sub_body)}
        a = dumps(self.artifact(repo, SBOM_TYPE, subject))
        r = self.put(repo, "s512", a)
        self.assertPushed(r, repo, sha256(a))
        self.assertEqual(r.header("OCI-Subject"), d512, r)
        got, _ = self.referrers(repo, d512)
        self.assertDescriptors(got, [(sha256(a), a, SBOM_TYPE, None, OCI_MANIFEST)])


# ---------------------------------------------------------------------------------------
# Deletes
# ---------------------------------------------------------------------------------------

class TestDeletes(ManifestTest):

    def delete(self, repo, ref):
        r = self.req("DELETE", self.murl(repo, ref))
        self.assertEqual(r.status, 202, r)
        self.assertApiVersion(r)
        return r

    def test_delete_by_digest(self):
        repo = self.repo()
        m = self.image(repo, layers=2)
        body = dumps(m)
        d = self.push(repo, "a", body)
        self.push(repo, "b", body)
        other_d, other_b = self.pushed_image(repo, "c")
        self.delete(repo, d)
        self.assertGone(repo, d)
        self.assertGone(repo, "a")
        self.assertGone(repo, "b")
        self.assertEqual(self.tags(repo)[0], ["c"])
        self.assertManifest(repo, "c", other_b, OCI_MANIFEST, accepts=[None])
        # blobs stay until garbage collection
        for desc in [m["config"]] + m["layers"]:
            r = self.req("GET", "/v2/%s/blobs/%s" % (repo, desc["digest"]))
            self.assertEqual(r.status, 200, r)
            self.assertEqual(sha256(r.body), desc["digest"])
        self.assertError(self.req("DELETE", self.murl(repo, d)), 404, "MANIFEST_UNKNOWN",
                         method="DELETE")
        # pushing it again works and needs its blobs still linked
        self.push(repo, "a", body)
        self.assertManifest(repo, d, body, OCI_MANIFEST, accepts=[None])

    def test_delete_by_digest_leaves_retagged_tag(self):
        repo = self.repo()
        d1, b1 = self.pushed_image(repo, "moving")
        self.push(repo, "pinned", b1)
        d2, b2 = self.pushed_image(repo, "moving")  # "moving" now points at d2
        self.delete(repo, d1)
        self.assertGone(repo, "pinned")
        self.assertManifest(repo, "moving", b2, OCI_MANIFEST, accepts=[None])
        self.assertEqual(self.tags(repo)[0], ["moving"])

    def test_delete_by_tag(self):
        repo = self.repo()
        d, b = self.pushed_image(repo, "one")
        self.push(repo, "two", b)
        self.delete(repo, "one")
        self.assertGone(repo, "one")
        self.assertManifest(repo, d, b, OCI_MANIFEST, accepts=[None])
        self.assertManifest(repo, "two", b, OCI_MANIFEST, accepts=[None])
        self.assertEqual(self.tags(repo)[0], ["two"])
        self.assertError(self.req("DELETE", self.murl(repo, "one")), 404, "MANIFEST_UNKNOWN",
                         method="DELETE")

    def test_delete_unknown(self):
        repo, other = self.repo("a"), self.repo("b")
        d, b = self.pushed_image(other, "t")
        self.pushed_image(repo, "t")
        for ref in ("nosuchtag", sha256(b"nothing"), sha512(b"nothing"), d):
            self.assertError(self.req("DELETE", self.murl(repo, ref)), 404, "MANIFEST_UNKNOWN",
                             method="DELETE")
        self.assertManifest(other, d, b, OCI_MANIFEST, accepts=[None])  # untouched
        r = self.req("DELETE", self.murl(self.repo("nonexistent"), d))
        self.assertError(r, 404, {"MANIFEST_UNKNOWN", "NAME_UNKNOWN"}, method="DELETE")

    def test_delete_index_keeps_children(self):
        repo = self.repo()
        d, b = self.pushed_image(repo)
        idx = dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": d, "size": len(b)}]})
        di = self.push(repo, "multi", idx, OCI_INDEX)
        self.delete(repo, di)
        self.assertGone(repo, "multi")
        self.assertManifest(repo, d, b, OCI_MANIFEST, accepts=[None])

    def test_delete_removes_referrer_entry(self):
        repo = self.repo()
        sd, sb = self.pushed_image(repo, "subject")
        subject = descriptor(OCI_MANIFEST, sb)
        a1 = dumps(self.artifact(repo, SBOM_TYPE, subject))
        a2 = dumps(self.artifact(repo, SIG_TYPE, subject))
        d1 = self.push(repo, "sbom", a1)
        d2 = self.push(repo, sha256(a2), a2)
        self.assertEqual({x["digest"] for x in self.referrers(repo, sd)[0]}, {d1, d2})
        self.delete(repo, "sbom")  # a tag delete leaves the referrer
        self.assertEqual({x["digest"] for x in self.referrers(repo, sd)[0]}, {d1, d2})
        self.delete(repo, d1)
        self.assertEqual([x["digest"] for x in self.referrers(repo, sd)[0]], [d2])
        self.delete(repo, d2)
        self.assertEqual(self.referrers(repo, sd)[0], [])
        self.assertManifest(repo, "subject", sb, OCI_MANIFEST, accepts=[None])

    def test_delete_removes_referrer_entry_without_media_type_in_body(self):
        # mediaType is optional in the body (the Content-Type then says it): the referrers
        # entry must still go when such a manifest is deleted.
        repo = self.repo()
        sd, sb = self.pushed_image(repo, "subject")
        a = dumps(self.artifact(repo, SBOM_TYPE, descriptor(OCI_MANIFEST, sb),
                                media_in_body=False))
        d = self.push(repo, sha256(a), a, OCI_MANIFEST)
        self.assertEqual([x["digest"] for x in self.referrers(repo, sd)[0]], [d])
        self.delete(repo, d)
        self.assertGone(repo, d)
        self.assertEqual(self.referrers(repo, sd)[0], [])

    def test_delete_subject_keeps_referrers_of_other_subjects(self):
        repo = self.repo()
        s1d, s1b = self.pushed_image(repo, "s1")
        s2d, s2b = self.pushed_image(repo, "s2")
        a1 = dumps(self.artifact(repo, SBOM_TYPE, descriptor(OCI_MANIFEST, s1b)))
        a2 = dumps(self.artifact(repo, SBOM_TYPE, descriptor(OCI_MANIFEST, s2b)))
        d1, d2 = self.push(repo, sha256(a1), a1), self.push(repo, sha256(a2), a2)
        self.delete(repo, d1)
        self.assertEqual(self.referrers(repo, s1d)[0], [])
        self.assertEqual([x["digest"] for x in self.referrers(repo, s2d)[0]], [d2])


class TestDeletesDisabled(ManifestTest):
    kind = "nodelete"

    def test_405_unsupported(self):
        repo = self.repo()
        d, b = self.pushed_image(repo, "keep")
        for ref in ("keep", d, "nosuchtag", sha256(b"nothing")):
            r = self.req("DELETE", self.murl(repo, ref))
            self.assertError(r, 405, "UNSUPPORTED", method="DELETE")
            allow = [m.strip() for m in (r.header("Allow") or "").split(",")]
            self.assertIn("GET", allow, r)
            self.assertIn("PUT", allow, r)
            self.assertNotIn("DELETE", allow, r)
        self.assertManifest(repo, "keep", b, OCI_MANIFEST, accepts=[None])
        self.assertEqual(self.tags(repo)[0], ["keep"])


# ---------------------------------------------------------------------------------------
# Journal
# ---------------------------------------------------------------------------------------

class TestJournal(ManifestTest):

    def test_events(self):
        repo = self.repo()
        d, b = self.pushed_image(repo, "j1")
        self.push(repo, "j2", b)
        d2, b2 = self.pushed_image(repo)  # by digest: no tag
        self.assertEqual(self.req("DELETE", self.murl(repo, "j1")).status, 202)
        r = self.req("DELETE", self.murl(repo, d))
        self.assertEqual(r.status, 202, r)
        # failures leave no event
        self.assertEqual(self.put(repo, "bad", b"{").status, 400)
        self.assertEqual(self.req("DELETE", self.murl(repo, "gone")).status, 404)
        events = self.journal()
        seqs = [e["seq"] for e in events]
        self.assertEqual(seqs, sorted(set(seqs)), "seq not strictly increasing")
        self.assertGreaterEqual(seqs[0], 1)
        mine = [(e["type"], e.get("digest"), e.get("tag")) for e in events
                if e.get("repo") == repo and e["type"].startswith(("manifest", "tag"))]
        # a delete by digest journals itself, then each tag it takes with it
        self.assertEqual(mine, [("manifest.put", d, "j1"), ("manifest.put", d, "j2"),
                                ("manifest.put", d2, None), ("tag.delete", None, "j1"),
                                ("manifest.delete", d, None), ("tag.delete", None, "j2")])
        for e in events:
            self.assertIsInstance(e.get("time_ms"), int, e)
        # each event carries the records it wrote
        rev = "_manifests/revisions/sha256/" + d.split(":")[1]
        records = [e["records"] for e in events if e.get("repo") == repo
                   and e["type"].startswith(("manifest", "tag"))]
        self.assertEqual(records[0], [{"key": rev, "value": OCI_MANIFEST},
                                      {"key": "_manifests/tags/j1", "value": d}])
        self.assertEqual(records[3], [{"key": "_manifests/tags/j1", "tombstone": True}])
        self.assertEqual(records[4], [{"key": rev, "tombstone": True}])
        self.assertEqual(records[5], [{"key": "_manifests/tags/j2", "tombstone": True}])
        blob = [e for e in events if e.get("repo") == repo and e["type"] == "blob.put"][0]
        self.assertEqual(blob["records"][0]["key"],
                         "_layers/sha256/" + blob["digest"].split(":")[1])
        self.assertTrue(blob["records"][0]["value"].isdigit(), blob)


# ---------------------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------------------

class TestConcurrency(ManifestTest):

    def test_parallel_pushes_same_repo(self):
        repo = self.repo()
        threads_n, per = 8, 6
        # blobs first (shared), then manifests from 8 threads at once
        bodies = [[dumps(self.image(repo)) for _ in range(per)] for _ in range(threads_n)]
        errors, shared = [], []
        barrier = threading.Barrier(threads_n)

        def worker(t):
            try:
                barrier.wait()
                for i, body in enumerate(bodies[t]):
                    r = self.put(repo, "t%d-%d" % (t, i), body)
                    if r.status != 201 or r.header("Docker-Content-Digest") != sha256(body):
                        errors.append(r)
                    r = self.put(repo, "shared", body)
                    if r.status != 201:
                        errors.append(r)
                    else:
                        shared.append(sha256(body))
                    r = self.put(repo, sha256(body), body)
                    if r.status != 201:
                        errors.append(r)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(threads_n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        self.assertEqual(errors, [])
        expect = sorted(["t%d-%d" % (t, i) for t in range(threads_n) for i in range(per)] +
                        ["shared"])
        got, _ = self.tags(repo)
        self.assertEqual(got, expect)
        self.assertEqual(self.follow("/v2/%s/tags/list?n=7" % repo, "tags")[0], expect)
        for t in range(threads_n):
            for i, body in enumerate(bodies[t]):
                r = self.req("GET", self.murl(repo, "t%d-%d" % (t, i)))
                self.assertEqual((r.status, r.body), (200, body), r)
        r = self.req("GET", self.murl(repo, "shared"))
        self.assertEqual(r.status, 200, r)
        self.assertIn(sha256(r.body), shared)
        # no temporary files left in the tag directory
        tagdir = os.path.join(self.reg.data, "repositories", repo, "_manifests", "tags")
        self.assertEqual(sorted(os.listdir(tagdir)), expect)


if __name__ == "__main__":
    unittest.main()
