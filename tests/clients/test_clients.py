#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Real registry clients against Octoserve: each test pushes with one client and pulls with another.

One lighttpd + responder (tests/http/harness.py) serves the whole module on a free loopback
port; images are built offline by images.py from Debian's busybox-static. Clients: skopeo,
podman, buildah, containerd's ctr (a containerd started here, root/state/socket in a temp dir,
stopped by PID), and Debian's docker CLI (`docker manifest` only; no engine). Every client gets
its own temporary storage and configuration: nothing is written to /var/lib/containers,
/etc/containers, ~/.docker or /run/containerd. Only 127.0.0.1 is contacted.

A client whose binary is missing skips its tests, except under CI (CI set in the environment),
where a missing client fails them: CI installs every package in tests/clients/PACKAGES.

Environment: OCTOTEST_CLIENT_IMAGES=DIR reuses (or builds once into) DIR instead of a fresh
temp dir; OCTOTEST_DOCKER=PATH picks the docker CLI (default /usr/bin/docker, Debian's).
"""
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "../http"))

import images  # noqa: E402
import fronts  # noqa: E402
from harness import Registry, sha256  # noqa: E402

CI = bool(os.environ.get("CI"))
CMD_TIMEOUT = 300

REG = None       # the Registry
IMG = None       # images.Images
HOST = None      # "127.0.0.1:PORT"
WORK = None      # a temp dir for the whole module
CONTAINERD = None


# --- helpers -----------------------------------------------------------------------------------

def find_tool(name):
    """Path of a client binary, or skip (fail under CI) when it is missing."""
    if name == "docker":
        # Debian's docker.io CLI first: /usr/local/bin may hold another docker on some machines.
        candidates = [os.environ.get("OCTOTEST_DOCKER"), "/usr/bin/docker", shutil.which("docker")]
    else:
        candidates = [shutil.which(name), "/usr/sbin/" + name, "/sbin/" + name]
    path = next((p for p in candidates if p and os.path.isfile(p) and os.access(p, os.X_OK)), None)
    if not path:
        msg = "%s is not installed (Debian packages: tests/clients/PACKAGES)" % name
        if CI:
            raise AssertionError(msg + "; CI installs every client, so this is a failure, not a skip")
        raise unittest.SkipTest(msg)
    return path


def run(cmd, env=None, timeout=CMD_TIMEOUT, check=True, binary=False, cwd=None, fail=False):
    """Run a command; on failure raise AssertionError with everything it printed. With
    fail=True the command must fail instead (a refused login, say): its output."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    t0 = time.time()
    p = subprocess.run(cmd, env=full_env, capture_output=True, timeout=timeout, cwd=cwd)
    if fail:
        if p.returncode == 0:
            raise AssertionError("command succeeded, and should not have: %s\n%s" % (
                " ".join(cmd), p.stdout.decode(errors="replace")[-2000:]))
        return p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    if check and p.returncode != 0:
        raise AssertionError("command failed (exit %d after %.1fs): %s\n--- stdout:\n%s\n--- stderr:\n%s" % (
            p.returncode, time.time() - t0, " ".join(cmd),
            p.stdout.decode(errors="replace")[-4000:], p.stderr.decode(errors="replace")[-4000:]))
    return p.stdout if binary else p.stdout.decode(errors="replace")


def read_tar(data):
    """{path: bytes | ('symlink', target) | ('dir',)} of a (possibly gzip'ed) layer."""
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as t:
        for m in t.getmembers():
            name = m.name[2:] if m.name.startswith("./") else m.name
            name = name.rstrip("/")
            if m.isfile():
                out[name] = t.extractfile(m).read()
            elif m.issym():
                out[name] = ("symlink", m.linkname)
            elif m.isdir():
                out[name] = ("dir",)
    return out


def merged_files(layer_blobs):
    """Regular files over the given layer blobs, later layers winning (no whiteouts used here)."""
    files = {}
    for blob in layer_blobs:
        for k, v in read_tar(blob).items():
            if isinstance(v, bytes):
                files[k] = v
    return files


def fresh_dir(prefix):
    return tempfile.mkdtemp(prefix=prefix, dir=WORK)


def unique_repo(test, suffix=""):
    """A repository name unique to this test (method name, lower-case, '-' separated)."""
    name = test.id().split(".")[-1].replace("test_", "").replace("_", "-")
    return "clients/" + name + (("-" + suffix) if suffix else "")


def containers_env(tmp, host=None, insecure=True):
    """Configuration files for skopeo/podman/buildah that keep them away from /etc/containers
    and /var/lib/containers, and mark our registry (host, by default the module's) insecure
    (plain HTTP) unless insecure is False (TLS, checked)."""
    reg_conf = os.path.join(tmp, "registries.conf")
    with open(reg_conf, "w") as f:
        f.write('unqualified-search-registries = []\nshort-name-mode = "disabled"\n\n'
                '[[registry]]\nlocation = "%s"\ninsecure = %s\n' % (host or HOST, "true" if insecure else "false"))
    storage_conf = os.path.join(tmp, "storage.conf")
    with open(storage_conf, "w") as f:
        f.write('[storage]\ndriver = "vfs"\ngraphroot = "%s/root"\nrunroot = "%s/runroot"\n' % (tmp, tmp))
    policy = os.path.join(tmp, "policy.json")
    with open(policy, "w") as f:
        json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
    tmpdir = os.path.join(tmp, "tmp")
    os.makedirs(tmpdir, exist_ok=True)
    auth = os.path.join(tmp, "auth.json")
    with open(auth, "w") as f:
        json.dump({"auths": {}}, f)
    return {"CONTAINERS_REGISTRIES_CONF": reg_conf, "CONTAINERS_STORAGE_CONF": storage_conf,
            "TMPDIR": tmpdir, "REGISTRY_AUTH_FILE": auth}, policy


class Skopeo:
    def __init__(self, host=None, insecure=True):
        self.bin = find_tool("skopeo")
        self.tmp = fresh_dir("skopeo-")
        self.env, self.policy = containers_env(self.tmp, host, insecure)

    def __call__(self, *args, **kw):
        return run([self.bin, "--policy", self.policy] + list(args), env=self.env, **kw)

    def copy(self, src, dst, *extra):
        return self("copy", "--src-tls-verify=false", "--dest-tls-verify=false", *extra, src, dst)

    def inspect_raw(self, ref):
        return self("inspect", "--raw", "--tls-verify=false", "docker://" + ref, binary=True)


class Podman:
    def __init__(self, host=None, insecure=True):
        self.bin = find_tool("podman")
        self.tmp = fresh_dir("pd-")
        self.env, _ = containers_env(self.tmp, host, insecure)
        self.base = [self.bin, "--root", self.tmp + "/root", "--runroot", self.tmp + "/runroot",
                     "--storage-driver", "vfs", "--tmpdir", self.tmp + "/libpod",
                     "--cgroup-manager", "cgroupfs", "--events-backend", "file"]

    def __call__(self, *args, **kw):
        return run(self.base + list(args), env=self.env, **kw)

    def image_files(self, ref, paths):
        """Contents of the given paths in the image's root filesystem (podman image mount)."""
        mnt = self("image", "mount", ref).strip()
        try:
            out = {}
            for p in paths:
                full = os.path.join(mnt, p)
                if os.path.islink(full):
                    out[p] = ("symlink", os.readlink(full))
                else:
                    with open(full, "rb") as f:
                        out[p] = f.read()
            return out
        finally:
            self("image", "unmount", ref)

    def inspect(self, ref):
        return json.loads(self("image", "inspect", ref))[0]


class Buildah:
    def __init__(self, host=None, insecure=True):
        self.bin = find_tool("buildah")
        self.tmp = fresh_dir("bd-")
        self.env, _ = containers_env(self.tmp, host, insecure)
        self.base = [self.bin, "--root", self.tmp + "/root", "--runroot", self.tmp + "/runroot",
                     "--storage-driver", "vfs"]

    def __call__(self, *args, **kw):
        return run(self.base + list(args), env=self.env, **kw)


class Containerd:
    """containerd with root, state and sockets under a temp dir; stopped by PID."""

    def __init__(self):
        self.containerd = find_tool("containerd")
        self.ctr_bin = find_tool("ctr")
        self.tmp = tempfile.mkdtemp(prefix="octoserve-ctd-")  # short path: the socket must fit
        self.sock = os.path.join(self.tmp, "c.sock")
        self.config = os.path.join(self.tmp, "config.toml")
        with open(self.config, "w") as f:
            f.write("""version = 2
root = "{t}/root"
state = "{t}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{t}/c.sock"
[ttrpc]
  address = "{t}/c.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "{t}/opt"
[plugins."io.containerd.metadata.v1.bolt"]
  content_sharing_policy = "isolated"
""".format(t=self.tmp))
        self.log = open(os.path.join(self.tmp, "containerd.log"), "wb")
        self.proc = subprocess.Popen([self.containerd, "--config", self.config],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            if os.path.exists(self.sock) and subprocess.run(
                    [self.ctr_bin, "--address", self.sock, "version"], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise AssertionError("containerd did not come up; log in %s" % self.log.name)

    def ctr(self, namespace, *args, **kw):
        return run([self.ctr_bin, "--address", self.sock, "--namespace", namespace] + list(args), **kw)

    def stop(self):
        fronts.stop_process(self.proc)
        self.proc = None
        self.log.close()
        # The native snapshotter bind-mounts while unpacking: make sure nothing is left mounted.
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f]
        for m in sorted((m for m in mounts if m.startswith(self.tmp + "/")), reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        if os.environ.get("OCTOTEST_KEEP_TMP") is None:
            shutil.rmtree(self.tmp, ignore_errors=True)


def containerd():
    global CONTAINERD
    if CONTAINERD is None:
        CONTAINERD = Containerd()
    return CONTAINERD


def docker_tool(tmp):
    """Debian's docker CLI with its configuration in tmp (no daemon is used)."""
    binary = find_tool("docker")
    cfg = os.path.join(tmp, "docker-config")
    os.makedirs(cfg, exist_ok=True)
    with open(os.path.join(cfg, "config.json"), "w") as f:
        json.dump({}, f)

    def docker(*args, **kw):
        # DOCKER_HOST points nowhere: only the CLI's own registry client is used, never a daemon.
        return run([binary] + list(args), env={"DOCKER_CONFIG": cfg, "DOCKER_HOST": "unix://" + tmp + "/none.sock"},
                   **kw)
    return docker


# --- module fixture ----------------------------------------------------------------------------

def setUpModule():
    global REG, IMG, HOST, WORK
    WORK = tempfile.mkdtemp(prefix="octoserve-cl-", dir="/tmp")  # short: podman wants runroot < 50 chars
    t0 = time.time()
    outdir = os.environ.get("OCTOTEST_CLIENT_IMAGES") or os.path.join(WORK, "images")
    try:
        images.find_busybox()
    except (OSError, subprocess.CalledProcessError, IndexError) as e:
        msg = "no busybox-static to build the test images from (%s)" % e
        if CI:
            raise AssertionError(msg)
        raise unittest.SkipTest(msg)
    IMG = images.build_all(outdir)
    sys.stderr.write("images built in %.1fs under %s\n" % (time.time() - t0, outdir))
    REG = Registry().start()
    HOST = "127.0.0.1:%d" % REG.port


def tearDownModule():
    global CONTAINERD
    if CONTAINERD is not None:
        CONTAINERD.stop()
        CONTAINERD = None
    if REG is not None:
        REG.cleanup()
    if WORK and os.environ.get("OCTOTEST_KEEP_TMP") is None:
        shutil.rmtree(WORK, ignore_errors=True)


class ClientTest(unittest.TestCase):
    maxDiff = 4000

    def setUp(self):
        self.t0 = time.time()

    def tearDown(self):
        sys.stderr.write("[%s: %.1fs] " % (self.id().split(".")[-1], time.time() - self.t0))

    # registry-side checks, straight over HTTP
    def get_manifest(self, repo, ref, accept=None):
        hdrs = {"Accept": accept or ", ".join([images.OCI_MANIFEST, images.OCI_INDEX, images.DOCKER_MANIFEST,
                                               images.DOCKER_LIST])}
        return REG.request("GET", "/v2/%s/manifests/%s" % (repo, ref), headers=hdrs)

    def assertStoredManifest(self, repo, ref, img_bytes, media_type):
        """GET and HEAD give back exactly the pushed bytes, with type, digest and length."""
        digest = sha256(img_bytes)
        for r in (self.get_manifest(repo, ref), self.get_manifest(repo, digest)):
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, img_bytes, "stored manifest differs from the pushed bytes")
            self.assertEqual(r.header("Content-Type"), media_type)
            self.assertEqual(r.header("Docker-Content-Digest"), digest)
        h = REG.request("HEAD", "/v2/%s/manifests/%s" % (repo, ref), headers={"Accept": media_type})
        self.assertEqual(h.status, 200, h)
        self.assertEqual(h.header("Docker-Content-Digest"), digest)
        self.assertEqual(int(h.header("Content-Length")), len(img_bytes))

    def assertTags(self, repo, tags):
        r = REG.request("GET", "/v2/%s/tags/list" % repo)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"name": repo, "tags": sorted(tags)})

    def assertBlobs(self, repo, img):
        for digest, data in img.blobs.items():
            r = REG.request("HEAD", "/v2/%s/blobs/%s" % (repo, digest))
            self.assertEqual(r.status, 200, (digest, r))
            self.assertEqual(int(r.header("Content-Length")), len(data))

    # the pulled side
    def assertOCILayoutHas(self, layout, img):
        """An OCI layout written by a client holds img byte for byte (manifest and blobs)."""
        with open(os.path.join(layout, "index.json"), "rb") as f:
            idx = json.load(f)
        digests = [m["digest"] for m in idx["manifests"]]
        self.assertIn(img.digest, digests)
        for digest, data in list(img.blobs.items()) + [(img.digest, img.manifest)]:
            with open(os.path.join(layout, "blobs/sha256", digest.split(":", 1)[1]), "rb") as f:
                got = f.read()
            self.assertEqual(sha256(got), digest)
            self.assertEqual(len(got), len(data))

    def assertRootfs(self, files, marker=None):
        """The busybox rootfs (and a marker file) in a {path: content} of a pulled image."""
        self.assertEqual(files["bin/busybox"], IMG.rootfs_files["bin/busybox"], "bin/busybox differs")
        self.assertEqual(files["etc/passwd"], IMG.rootfs_files["etc/passwd"])
        if marker:
            self.assertEqual(files["etc/octoserve/" + marker],
                             b"octoserve test image: " + marker.encode() + b"\n")


# --- skopeo ------------------------------------------------------------------------------------

class TestSkopeo(ClientTest):
    def test_skopeo_push_oci_pull_back_and_ctr_pull(self):
        """(a) skopeo oci: -> registry -> skopeo back to oci: byte for byte, and ctr pulls it."""
        skopeo = Skopeo()
        repo = unique_repo(self)
        ref = "%s/%s:v1" % (HOST, repo)
        skopeo.copy("oci:%s:v1" % IMG.single_dir, "docker://" + ref)
        self.assertStoredManifest(repo, "v1", IMG.single.manifest, images.OCI_MANIFEST)
        self.assertBlobs(repo, IMG.single)
        self.assertTags(repo, ["v1"])
        self.assertEqual(skopeo.inspect_raw(ref), IMG.single.manifest)
        tags = json.loads(skopeo("list-tags", "--tls-verify=false", "docker://%s/%s" % (HOST, repo)))
        self.assertEqual(tags["Tags"], ["v1"])

        back = os.path.join(skopeo.tmp, "back")
        skopeo.copy("docker://" + ref, "oci:%s:v1" % back)
        self.assertOCILayoutHas(back, IMG.single)

        # another client: containerd pulls by tag (HEAD, Docker-Content-Digest) and unpacks
        c = containerd()
        ns = "skopeo-single"
        c.ctr(ns, "images", "pull", "--plain-http", "--snapshotter", "native", ref)
        listed = c.ctr(ns, "images", "ls")
        self.assertIn(IMG.single.digest, listed)
        layers = [c.ctr(ns, "content", "get", layer.digest, binary=True) for layer in IMG.single.layers]
        self.assertEqual([sha256(b) for b in layers], [layer.digest for layer in IMG.single.layers])
        self.assertRootfs(merged_files(layers), "single")

    def test_skopeo_all_multiarch_index_podman_and_ctr_pull(self):
        """(b) skopeo --all pushes an OCI index; podman pulls linux/arm64, ctr all platforms."""
        skopeo = Skopeo()
        repo = unique_repo(self)
        ref = "%s/%s:v1" % (HOST, repo)
        skopeo.copy("oci:%s:v1" % IMG.multi_dir, "docker://" + ref, "--all")
        self.assertStoredManifest(repo, "v1", IMG.multi.manifest, images.OCI_INDEX)
        for child in IMG.multi.children:
            self.assertStoredManifest(repo, child.digest, child.manifest, images.OCI_MANIFEST)
        self.assertEqual(skopeo.inspect_raw(ref), IMG.multi.manifest)

        podman = Podman()
        podman("pull", "--tls-verify=false", "--platform", "linux/arm64", ref)
        info = podman.inspect(ref)
        self.assertEqual(info["Architecture"], "arm64")
        self.assertEqual(info["Id"].split(":")[-1], IMG.multi_arm64.config_digest.split(":")[1])
        files = podman.image_files(ref, ["bin/busybox", "etc/passwd", "etc/octoserve/multi-arm64"])
        self.assertRootfs(files, "multi-arm64")

        c = containerd()
        ns = "skopeo-multi"
        c.ctr(ns, "images", "pull", "--plain-http", "--snapshotter", "native", "--all-platforms", ref)
        self.assertIn(IMG.multi.digest, c.ctr(ns, "images", "ls"))
        for child in IMG.multi.children:
            self.assertEqual(c.ctr(ns, "content", "get", child.digest, binary=True), child.manifest)
            self.assertEqual(c.ctr(ns, "content", "get", child.config_digest, binary=True), child.config)
        # and one platform only, into a fresh namespace
        ns2 = "skopeo-multi-arm64"
        c.ctr(ns2, "images", "pull", "--plain-http", "--snapshotter", "native", "--platform", "linux/arm64", ref)
        marker = c.ctr(ns2, "content", "get", IMG.multi_arm64.layers[-1].digest, binary=True)
        self.assertEqual(merged_files([marker])["etc/octoserve/multi-arm64"], b"octoserve test image: multi-arm64\n")

    def test_skopeo_docker_schema2_podman_pull_docker_inspect(self):
        """(c) a Docker schema 2 image (dir: transport) via skopeo; podman pulls, docker inspects."""
        skopeo = Skopeo()
        repo = unique_repo(self)
        ref = "%s/%s:v1" % (HOST, repo)
        skopeo.copy("dir:" + IMG.docker_dir, "docker://" + ref)
        self.assertStoredManifest(repo, "v1", IMG.docker.manifest, images.DOCKER_MANIFEST)
        # no conversion whatever Accept says
        r = self.get_manifest(repo, "v1", accept=images.OCI_MANIFEST)
        self.assertEqual((r.status, r.header("Content-Type"), r.body), (200, images.DOCKER_MANIFEST, IMG.docker.manifest))

        podman = Podman()
        podman("pull", "--tls-verify=false", ref)
        info = podman.inspect(ref)
        self.assertIn("%s/%s@%s" % (HOST, repo, IMG.docker.digest), info["RepoDigests"])
        self.assertRootfs(podman.image_files(ref, ["bin/busybox", "etc/passwd", "etc/octoserve/docker"]), "docker")

        docker = docker_tool(fresh_dir("docker-"))
        got = json.loads(docker("manifest", "inspect", "--insecure", ref))
        self.assertEqual(got, json.loads(IMG.docker.manifest))

    def test_big_layer_skopeo_push_ctr_pull_ctr_push_skopeo_pull(self):
        """(d) ~100 MiB layer: skopeo pushes (one PATCH), ctr pulls (and re-pushes by mount);
        ctr pushes it from an imported archive (one PUT), skopeo pulls it back."""
        skopeo = Skopeo()
        repo = unique_repo(self)
        ref = "%s/%s:v1" % (HOST, repo)
        skopeo.copy("oci:%s:v1" % IMG.big_dir, "docker://" + ref)
        self.assertStoredManifest(repo, "v1", IMG.big.manifest, images.OCI_MANIFEST)
        big = IMG.big.layers[1]

        c = containerd()
        ns = "big"
        c.ctr(ns, "images", "pull", "--plain-http", "--snapshotter", "native", ref)
        got = c.ctr(ns, "content", "get", big.digest, binary=True)
        self.assertEqual(sha256(got), big.digest)
        self.assertEqual(hashlib.sha256(read_tar(got)["data/random.bin"]).digest(),
                         hashlib.sha256(big.files["data/random.bin"]).digest())
        del got

        # ctr pushes the pulled image elsewhere: containerd knows where the blobs came from and
        # mounts them (POST ?mount=D&from=R, raw) instead of uploading
        repo_mount = unique_repo(self, "mount")
        c.ctr(ns, "images", "push", "--plain-http", "%s/%s:v1" % (HOST, repo_mount), ref)
        self.assertStoredManifest(repo_mount, "v1", IMG.big.manifest, images.OCI_MANIFEST)
        self.assertBlobs(repo_mount, IMG.big)

        # ctr pushes the image imported from an archive (no source known: POST, then one PUT
        # carrying the whole 100 MiB); skopeo pulls it back byte for byte
        repo2 = unique_repo(self, "ctr")
        ref2 = "%s/%s:v1" % (HOST, repo2)
        ns2 = "big-import"
        archive = images.oci_archive(IMG.big_dir, os.path.join(fresh_dir("ctr-"), "big.tar"), name=ref2)
        c.ctr(ns2, "images", "import", "--snapshotter", "native", archive)
        os.unlink(archive)
        c.ctr(ns2, "images", "push", "--plain-http", ref2)
        self.assertStoredManifest(repo2, "v1", IMG.big.manifest, images.OCI_MANIFEST)
        back = os.path.join(skopeo.tmp, "back")
        skopeo.copy("docker://" + ref2, "oci:%s:v1" % back)
        self.assertOCILayoutHas(back, IMG.big)

    def test_artifact_subject_referrers(self):
        """(e) an artifact whose subject is image (a): skopeo pushes it byte for byte, the
        referrers API lists it (also when the artifact arrives before its subject)."""
        skopeo = Skopeo()
        art = IMG.artifact
        want = {"mediaType": images.OCI_MANIFEST, "digest": art.digest, "size": art.size,
                "artifactType": images.ARTIFACT_TYPE, "annotations": art.annotations}
        for order in ("subject-first", "artifact-first"):
            with self.subTest(order=order):
                repo = unique_repo(self, order)
                refs = {"v1": "%s/%s:v1" % (HOST, repo), "sig": "%s/%s:sig" % (HOST, repo)}
                tags = ["v1", "sig"] if order == "subject-first" else ["sig", "v1"]
                for tag in tags:
                    skopeo.copy("oci:%s:%s" % (IMG.single_dir, tag), "docker://" + refs[tag])
                self.assertStoredManifest(repo, "sig", art.manifest, images.OCI_MANIFEST)
                self.assertEqual(skopeo.inspect_raw(refs["sig"]), art.manifest)

                path = "/v2/%s/referrers/%s" % (repo, IMG.single.digest)
                r = REG.request("GET", path)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("Content-Type"), images.OCI_INDEX)
                body = r.json()
                self.assertEqual(body.get("schemaVersion"), 2)
                self.assertEqual(body.get("mediaType"), images.OCI_INDEX)
                self.assertEqual(body["manifests"], [want])

                q = "?artifactType=" + urllib.parse.quote(images.ARTIFACT_TYPE, safe="")
                r = REG.request("GET", path + q)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["manifests"], [want])
                self.assertEqual(r.header("OCI-Filters-Applied"), "artifactType")
                r = REG.request("GET", path + "?artifactType=application%2Fvnd.example.other")
                self.assertEqual(r.json()["manifests"], [])
                # nothing refers to the artifact itself
                r = REG.request("GET", "/v2/%s/referrers/%s" % (repo, art.digest))
                self.assertEqual((r.status, r.json()["manifests"]), (200, []))

        # another client pulls the artifact: containerd fetches it (no unpack: not an image)
        c = containerd()
        ns = "artifact"
        c.ctr(ns, "content", "fetch", "--plain-http", "%s/%s:sig" % (HOST, unique_repo(self, "subject-first")))
        self.assertEqual(c.ctr(ns, "content", "get", art.digest, binary=True), art.manifest)
        self.assertEqual(c.ctr(ns, "content", "get", sha256(art.note), binary=True), art.note)


# --- podman and buildah ------------------------------------------------------------------------

class TestPodmanBuildah(ClientTest):
    def test_podman_import_push_v2s2_skopeo_and_ctr_pull(self):
        """podman imports a rootfs tarball and pushes Docker schema 2; skopeo and ctr pull it."""
        podman = Podman()
        repo = unique_repo(self)
        ref = "%s/%s:v1" % (HOST, repo)
        podman("import", "--change", "CMD=/bin/sh", IMG.rootfs_tar_path, ref)
        digest_file = os.path.join(podman.tmp, "digest")
        podman("push", "--tls-verify=false", "--format", "v2s2", "--digestfile", digest_file, ref)
        with open(digest_file) as f:
            digest = f.read().strip()
        r = self.get_manifest(repo, "v1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), images.DOCKER_MANIFEST)
        self.assertEqual(r.header("Docker-Content-Digest"), digest)
        self.assertEqual(sha256(r.body), digest)
        manifest = r.json()
        self.assertEqual(manifest["mediaType"], images.DOCKER_MANIFEST)

        skopeo = Skopeo()
        back = os.path.join(skopeo.tmp, "back")
        skopeo.copy("docker://" + ref, "dir:" + back)
        with open(os.path.join(back, "manifest.json"), "rb") as f:
            self.assertEqual(sha256(f.read()), digest)
        layer_blobs = []
        for layer in manifest["layers"]:
            with open(os.path.join(back, layer["digest"].split(":")[1]), "rb") as f:
                layer_blobs.append(f.read())
            self.assertEqual(sha256(layer_blobs[-1]), layer["digest"])
        files = merged_files(layer_blobs)
        self.assertRootfs(files)
        self.assertEqual(read_tar(layer_blobs[0]).get("bin/sh"), ("symlink", "/bin/busybox"))

        c = containerd()
        ns = "podman-v2s2"
        c.ctr(ns, "images", "pull", "--plain-http", "--snapshotter", "native", ref)
        self.assertIn(digest, c.ctr(ns, "images", "ls"))
        blob = c.ctr(ns, "content", "get", manifest["layers"][0]["digest"], binary=True)
        self.assertEqual(blob, layer_blobs[0])

    def test_buildah_scratch_add_commit_push_podman_pull(self):
        """buildah from scratch + add + config + commit + push (OCI); podman and skopeo pull."""
        buildah = Buildah()
        repo = unique_repo(self)
        ref = "%s/%s:v1" % (HOST, repo)
        hello = b"hello from buildah\n"
        hello_path = os.path.join(buildah.tmp, "hello.txt")
        with open(hello_path, "wb") as f:
            f.write(hello)
        cid = buildah("from", "scratch").strip()
        buildah("add", cid, IMG.rootfs_tar_path, "/")
        buildah("add", cid, hello_path, "/etc/octoserve/buildah")
        buildah("config", "--cmd", "/bin/sh", "--arch", "amd64", "--os", "linux", cid)
        buildah("commit", cid, "localhost/" + repo + ":v1")
        digest_file = os.path.join(buildah.tmp, "digest")
        buildah("push", "--tls-verify=false", "--digestfile", digest_file, "localhost/" + repo + ":v1",
                "docker://" + ref)
        with open(digest_file) as f:
            digest = f.read().strip()
        r = self.get_manifest(repo, "v1")
        self.assertEqual((r.status, r.header("Content-Type"), r.header("Docker-Content-Digest")),
                         (200, images.OCI_MANIFEST, digest))

        podman = Podman()
        podman("pull", "--tls-verify=false", ref)
        info = podman.inspect(ref)
        self.assertIn("%s/%s@%s" % (HOST, repo, digest), info["RepoDigests"])
        files = podman.image_files(ref, ["bin/busybox", "etc/passwd", "etc/octoserve/buildah", "bin/sh"])
        self.assertRootfs(files)
        self.assertEqual(files["etc/octoserve/buildah"], hello)
        self.assertEqual(files["bin/sh"], ("symlink", "/bin/busybox"))

        skopeo = Skopeo()
        self.assertEqual(sha256(skopeo.inspect_raw(ref)), digest)


# --- containerd --------------------------------------------------------------------------------

class TestContainerd(ClientTest):
    def test_ctr_import_push_multiarch_skopeo_pull(self):
        """ctr imports the multi-arch OCI archive and pushes it; skopeo pulls it back (--all)."""
        c = containerd()
        repo = unique_repo(self)
        ref = "%s/%s:v1" % (HOST, repo)
        ns = "ctr-push"
        archive = images.oci_archive(IMG.multi_dir, os.path.join(fresh_dir("ctr-"), "multi.tar"), name=ref)
        c.ctr(ns, "images", "import", "--all-platforms", "--snapshotter", "native", archive)
        c.ctr(ns, "images", "push", "--plain-http", ref)
        self.assertStoredManifest(repo, "v1", IMG.multi.manifest, images.OCI_INDEX)
        for child in IMG.multi.children:
            self.assertStoredManifest(repo, child.digest, child.manifest, images.OCI_MANIFEST)
            self.assertBlobs(repo, child)

        skopeo = Skopeo()
        back = os.path.join(skopeo.tmp, "back")
        skopeo.copy("docker://" + ref, "oci:%s:v1" % back, "--all")
        self.assertOCILayoutHas(back, IMG.multi)

        # and one platform pushed on its own (ctr push --platform)
        repo2 = unique_repo(self, "amd64")
        ref2 = "%s/%s:v1" % (HOST, repo2)
        c.ctr(ns, "images", "tag", ref, ref2)
        c.ctr(ns, "images", "push", "--plain-http", "--platform", "linux/amd64", ref2)
        r = self.get_manifest(repo2, "v1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sha256(skopeo.inspect_raw(ref2)), r.header("Docker-Content-Digest"))
        amd = self.get_manifest(repo2, IMG.multi_amd64.digest)
        self.assertEqual((amd.status, amd.body), (200, IMG.multi_amd64.manifest))


# --- docker CLI (manifest commands only) -------------------------------------------------------

class TestDockerManifest(ClientTest):
    def test_docker_manifest_create_push_inspect(self):
        """docker manifest create/push/inspect --insecure builds a manifest list from two Docker
        schema 2 images in other repositories (blobs mounted across); skopeo and podman pull it."""
        docker = docker_tool(fresh_dir("docker-"))
        skopeo = Skopeo()
        src_amd = "%s/%s:v1" % (HOST, unique_repo(self, "amd64"))
        src_arm = "%s/%s:v1" % (HOST, unique_repo(self, "arm64"))
        skopeo.copy("dir:" + IMG.docker_dir, "docker://" + src_amd)
        skopeo.copy("dir:" + IMG.docker_arm64_dir, "docker://" + src_arm)
        repo = unique_repo(self, "list")
        ref = "%s/%s:v1" % (HOST, repo)
        docker("manifest", "create", "--insecure", ref, src_amd, src_arm)
        docker("manifest", "push", "--insecure", "--purge", ref)

        r = self.get_manifest(repo, "v1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), images.DOCKER_LIST)
        lst = r.json()
        self.assertEqual(lst["mediaType"], images.DOCKER_LIST)
        by_arch = {m["platform"]["architecture"]: m for m in lst["manifests"]}
        self.assertEqual(set(by_arch), {"amd64", "arm64"})
        self.assertEqual(by_arch["amd64"]["digest"], IMG.docker.digest)
        self.assertEqual(by_arch["arm64"]["digest"], IMG.docker_arm64.digest)
        self.assertEqual(by_arch["arm64"]["platform"].get("variant"), "v8")
        for img in (IMG.docker, IMG.docker_arm64):
            self.assertStoredManifest(repo, img.digest, img.manifest, images.DOCKER_MANIFEST)
            self.assertBlobs(repo, img)

        got = json.loads(docker("manifest", "inspect", "--insecure", ref))
        self.assertEqual(got, lst)
        self.assertEqual(sha256(skopeo.inspect_raw(ref)), r.header("Docker-Content-Digest"))

        podman = Podman()
        podman("pull", "--tls-verify=false", "--platform", "linux/arm64", ref)
        self.assertEqual(podman.inspect(ref)["Architecture"], "arm64")
        self.assertRootfs(podman.image_files(ref, ["bin/busybox", "etc/passwd", "etc/octoserve/docker-arm64"]),
                          "docker-arm64")


# --- authentication (auth.htpasswd, the built-in token issuer) ---------------------------------

AUTH_RULES = [
    {"repositories": "auth/*", "users": ["alice"], "actions": ["pull", "push", "delete"]},
    {"repositories": "public/*", "anonymous": True, "actions": ["pull"]},
    {"repositories": "public/*", "users": ["alice"], "actions": ["push"]},
]


class TestAuth(ClientTest):
    """Every client logs in through the built-in token issuer: a wrong password fails, the right
    one pushes and pulls; anonymous callers pull a public pattern and may not push to it."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = fresh_dir("auth-")
        users = os.path.join(cls.tmp, "htpasswd")
        run(["htpasswd", "-cbB", "-C", "5", users, "alice", "s3cret-Pw"])
        cls.reg = Registry({"auth": {"htpasswd": {"path": users}, "rules": AUTH_RULES}}).start()
        cls.host = "127.0.0.1:%d" % cls.reg.port

    @classmethod
    def tearDownClass(cls):
        with open(os.path.join(cls.reg.tmp, "octoserve.log")) as f:
            log = f.read()
        cls.reg.cleanup()
        # no password and no token ever reaches the log
        assert "s3cret-Pw" not in log and "eyJ" not in log, "a secret in the log"

    def test_podman_login_push_pull(self):
        podman = Podman(self.host)
        out = podman("login", "--tls-verify=false", "-u", "alice", "-p", "wrong", self.host, fail=True)
        self.assertNotIn("Login Succeeded", out)
        podman("login", "--tls-verify=false", "-u", "alice", "-p", "s3cret-Pw", self.host)
        ref = "%s/auth/podman:v1" % self.host
        podman("import", IMG.rootfs_tar_path, ref)
        podman("push", "--tls-verify=false", ref)
        podman("rmi", ref)
        podman("pull", "--tls-verify=false", ref)
        podman("logout", self.host)
        podman("push", "--tls-verify=false", ref, fail=True)
        r = self.reg.request("GET", "/v2/auth/podman/manifests/v1")
        self.assertEqual(r.status, 401, r)  # and still stored, behind the login
        self.assertIn("Bearer realm=", r.header("WWW-Authenticate"))

    def test_skopeo_and_buildah_creds_ctr_user(self):
        skopeo = Skopeo(self.host)
        ref = "%s/auth/skopeo:v1" % self.host
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:wrong",
               "oci:%s:v1" % IMG.single_dir, "docker://" + ref, fail=True)
        r = self.reg.request("GET", "/v2/auth/skopeo/tags/list")
        self.assertEqual(r.status, 401, r)
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:s3cret-Pw",
               "oci:%s:v1" % IMG.single_dir, "docker://" + ref)
        raw = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", "alice:s3cret-Pw",
                     "docker://" + ref, binary=True)
        self.assertEqual(raw, IMG.single.manifest)

        buildah = Buildah(self.host)
        cid = buildah("from", "scratch").strip()
        buildah("add", cid, IMG.rootfs_tar_path, "/")
        buildah("commit", cid, "localhost/auth/buildah:v1")
        buildah("push", "--tls-verify=false", "--creds", "alice:wrong",
                "localhost/auth/buildah:v1", "docker://%s/auth/buildah:v1" % self.host, fail=True)
        buildah("push", "--tls-verify=false", "--creds", "alice:s3cret-Pw",
                "localhost/auth/buildah:v1", "docker://%s/auth/buildah:v1" % self.host)
        buildah("login", "--tls-verify=false", "-u", "alice", "-p", "wrong", self.host, fail=True)
        buildah("login", "--tls-verify=false", "-u", "alice", "-p", "s3cret-Pw", self.host)
        buildah("push", "--tls-verify=false", "localhost/auth/buildah:v1",
                "docker://%s/auth/buildah:v2" % self.host)
        self.assertEqual(sha256(skopeo("inspect", "--raw", "--tls-verify=false", "--creds",
                                       "alice:s3cret-Pw", "docker://%s/auth/buildah:v2" % self.host,
                                       binary=True)),
                         sha256(skopeo("inspect", "--raw", "--tls-verify=false", "--creds",
                                       "alice:s3cret-Pw", "docker://%s/auth/buildah:v1" % self.host,
                                       binary=True)))

        c = containerd()
        ns = "auth-ctr"
        c.ctr(ns, "images", "pull", "--plain-http", "--user", "alice:wrong", ref, fail=True)
        c.ctr(ns, "images", "pull", "--plain-http", "--user", "alice:s3cret-Pw", ref)
        self.assertIn(IMG.single.digest, c.ctr(ns, "images", "ls"))
        ref2 = "%s/auth/ctr:v1" % self.host
        c.ctr(ns, "images", "tag", ref, ref2)
        c.ctr(ns, "images", "push", "--plain-http", "--user", "alice:s3cret-Pw", ref2)
        self.assertEqual(sha256(skopeo("inspect", "--raw", "--tls-verify=false", "--creds",
                                       "alice:s3cret-Pw", "docker://" + ref2, binary=True)),
                         IMG.single.digest)

    def test_skopeo_pushes_to_distribution_through_our_issuer(self):
        """Debian's docker-registry (Distribution 2.8) with auth.token whose realm is our issuer
        and whose rootcertbundle is a certificate of the key our store made: skopeo logs in
        with our users and pushes there; a wrong password does not."""
        from test_auth import start_distribution
        key = os.path.join(self.reg.data, "auth", "signing-key.pem")
        cert = os.path.join(self.tmp, "issuer.crt")
        run(["openssl", "req", "-x509", "-new", "-key", key, "-subj", "/CN=octoserve", "-days", "2",
             "-out", cert])
        proc, port = start_distribution(self.tmp, "http://%s/auth/token" % self.host, cert)
        try:
            dist = "127.0.0.1:%d" % port
            skopeo = Skopeo(dist)
            ref = "docker://%s/auth/dist:v1" % dist
            skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:wrong",
                   "oci:%s:v1" % IMG.single_dir, ref, fail=True)
            skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:s3cret-Pw",
                   "oci:%s:v1" % IMG.single_dir, ref)
            raw = skopeo("inspect", "--raw", "--tls-verify=false", "--creds", "alice:s3cret-Pw", ref,
                         binary=True)
            self.assertEqual(raw, IMG.single.manifest)
        finally:
            fronts.stop_process(proc, timeout=15)

    def test_anonymous_pull_public_push_refused(self):
        skopeo = Skopeo(self.host)
        ref = "%s/public/img:v1" % self.host
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:s3cret-Pw",
               "oci:%s:v1" % IMG.single_dir, "docker://" + ref)
        anon = Skopeo(self.host)
        back = os.path.join(anon.tmp, "back")
        anon.copy("docker://" + ref, "oci:%s:v1" % back)  # no credentials
        self.assertOCILayoutHas(back, IMG.single)
        c = containerd()
        c.ctr("auth-anon", "images", "pull", "--plain-http", "--snapshotter", "native", ref)
        anon("copy", "--dest-tls-verify=false", "oci:%s:v1" % IMG.single_dir,
             "docker://%s/public/anon:v1" % self.host, fail=True)
        r = self.reg.request("GET", "/v2/public/anon/tags/list")
        self.assertEqual(r.status, 404, r)  # anonymous may look, and nothing was pushed
        anon("copy", "--dest-tls-verify=false", "oci:%s:v1" % IMG.single_dir,
             "docker://%s/auth/anon:v1" % self.host, fail=True)
        self.assertEqual(self.reg.request("GET", "/v2/auth/anon/tags/list").status, 401)


class TestTls(ClientTest):
    """The quick start's TLS (contrib/mkcert.sh, lighttpd with mod_openssl) with authentication:
    each client trusts the private CA from a directory of this test's own (podman, skopeo and
    buildah --cert-dir, containerd's hosts.toml), never the system's, and logs in with no
    insecure flag; without the CA the same client refuses the registry."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = fresh_dir("tls-")
        users = os.path.join(cls.tmp, "htpasswd")
        run(["htpasswd", "-cbB", "-C", "5", users, "alice", "tls-Pw"])
        # the quick start's front, whichever front the suite runs through
        cls.reg = Registry({"auth": {"htpasswd": {"path": users}}}, front="lighttpd", tls=True).start()
        cls.host = "127.0.0.1:%d" % cls.reg.port
        cls.certs = os.path.join(cls.tmp, "certs")
        os.makedirs(cls.certs)
        shutil.copy(cls.reg.ca, os.path.join(cls.certs, "ca.crt"))

    @classmethod
    def tearDownClass(cls):
        with open(os.path.join(cls.reg.tmp, "octoserve.log")) as f:
            log = f.read()
        cls.reg.cleanup()
        assert "tls-Pw" not in log and "eyJ" not in log, "a secret in the log"

    def test_login_push_pull_over_tls(self):
        podman = Podman(self.host, insecure=False)
        podman("login", "-u", "alice", "-p", "tls-Pw", self.host, fail=True)  # no CA: refused
        podman("login", "--cert-dir", self.certs, "-u", "alice", "-p", "tls-Pw", self.host)
        ref = "%s/tls/podman:v1" % self.host
        podman("import", IMG.rootfs_tar_path, ref)
        podman("push", "--cert-dir", self.certs, ref)

        skopeo = Skopeo(self.host, insecure=False)
        sref = "docker://%s/tls/skopeo:v1" % self.host
        skopeo("copy", "--dest-creds", "alice:tls-Pw", "oci:%s:v1" % IMG.single_dir, sref, fail=True)
        digest_file = os.path.join(skopeo.tmp, "digest")
        skopeo("copy", "--dest-cert-dir", self.certs, "--dest-creds", "alice:tls-Pw",
               "--digestfile", digest_file, "oci:%s:v1" % IMG.single_dir, sref)
        raw = skopeo("inspect", "--raw", "--cert-dir", self.certs, "--creds", "alice:tls-Pw", sref,
                     binary=True)
        with open(digest_file) as f:
            self.assertEqual(sha256(raw), f.read().strip())

        buildah = Buildah(self.host, insecure=False)
        cid = buildah("from", "scratch").strip()
        buildah("add", cid, IMG.rootfs_tar_path, "/")
        buildah("commit", cid, "localhost/tls/buildah:v1")
        buildah("push", "--cert-dir", self.certs, "--creds", "alice:tls-Pw", "localhost/tls/buildah:v1",
                "docker://%s/tls/buildah:v1" % self.host)

        c = containerd()
        hosts = os.path.join(self.tmp, "hosts.d")
        os.makedirs(os.path.join(hosts, self.host), exist_ok=True)
        with open(os.path.join(hosts, self.host, "hosts.toml"), "w") as f:
            f.write('server = "https://%s"\n\n[host."https://%s"]\n  ca = "%s"\n'
                    '  capabilities = ["pull", "resolve", "push"]\n'
                    % (self.host, self.host, os.path.join(self.certs, "ca.crt")))
        ns = "tls"
        c.ctr(ns, "images", "pull", "--user", "alice:tls-Pw", sref[len("docker://"):], fail=True)
        c.ctr(ns, "images", "pull", "--hosts-dir", hosts, "--user", "alice:tls-Pw", sref[len("docker://"):])
        self.assertIn(sha256(raw), c.ctr(ns, "images", "ls"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
