#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Offline, deterministic test images for the real-client tests (Python 3 standard library only).

Everything is built from Debian's busybox-static: a rootfs of /bin/busybox plus one symlink per
applet, written as a tar with mtime 0 and uid/gid 0, gzip'ed with mtime 0 and no file name.
The same busybox binary gives the same bytes and so the same digests on every run.

build_all(outdir) writes, under outdir:

  single/    OCI image layout, tag "v1": one linux/amd64 image (a), and tag "sig": an artifact (e),
             an OCI image manifest with artifactType, the empty config {} and one small layer,
             whose subject is image (a)
  multi/     OCI image layout, tag "v1": an OCI image index (b) of a linux/amd64 and a
             linux/arm64/v8 manifest (the arm64 one reuses the amd64 busybox layer, it is
             never run; only its config and its marker layer differ)
  docker/    a skopeo "dir:" directory holding a Docker schema 2 image (c) (manifest.json plus
             blobs named by hex digest), docker media types throughout
  docker-arm64/  the same for a linux/arm64/v8 Docker schema 2 image (for `docker manifest create`)
  big/       OCI image layout, tag "v1": busybox plus a ~100 MiB layer of seeded random bytes (d)
  rootfs.tar the plain busybox rootfs (not compressed), for `podman import` and `buildah add`

Each image carries a small marker layer with /etc/octoserve/<kind> so that a client pulling it
can be checked on file contents, not only on digests.

Run as a program (`images.py OUTDIR`) it builds everything and prints a JSON summary.
"""
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

ARTIFACT_TYPE = "application/vnd.octoserve.test.note.v1"
ARTIFACT_LAYER_TYPE = "application/vnd.octoserve.test.note.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"

BIG_SIZE = 100 * 1024 * 1024
BIG_SEED = 20240101
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(obj):
    """The JSON bytes we write for every manifest and config: compact, fixed key order."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


# --- busybox ---------------------------------------------------------------------------------

def find_busybox():
    """Path of busybox-static's binary: $OCTOTEST_BUSYBOX, else the installed package's file,
    else extracted from a busybox-static .deb (apt's cache, or `apt-get download`)."""
    env = os.environ.get("OCTOTEST_BUSYBOX")
    if env:
        return env
    try:
        files = subprocess.run(["dpkg", "-L", "busybox-static"], capture_output=True, text=True).stdout.split()
        for f in files:
            if f.endswith("/bin/busybox") and os.path.isfile(f):
                return f
    except OSError:
        pass
    tmp = tempfile.mkdtemp(prefix="octoserve-busybox-")
    debs = [os.path.join("/var/cache/apt/archives", f) for f in sorted(os.listdir("/var/cache/apt/archives"))
            if f.startswith("busybox-static_") and f.endswith(".deb")] if os.path.isdir("/var/cache/apt/archives") else []
    if not debs:
        subprocess.run(["apt-get", "download", "busybox-static"], cwd=tmp, check=True, capture_output=True)
        debs = [os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".deb")]
    subprocess.run(["dpkg-deb", "-x", debs[-1], os.path.join(tmp, "x")], check=True)
    return os.path.join(tmp, "x/bin/busybox")


def busybox_applets(busybox):
    out = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True).stdout
    return sorted(set(line.strip() for line in out.splitlines() if line.strip()) - {"bin/busybox"})


# --- deterministic tar and gzip ----------------------------------------------------------------

class Tar:
    """An in-memory tar whose bytes depend only on what is added, in order."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buf, mode="w", format=tarfile.PAX_FORMAT)
        self.files = {}  # path -> bytes of the regular files, for content checks

    def _info(self, name, kind, mode):
        ti = tarfile.TarInfo(name)
        ti.type = kind
        ti.mode = mode
        ti.mtime = 0
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        return ti

    def dir(self, name, mode=0o755):
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode))

    def file(self, name, data, mode=0o644):
        ti = self._info(name, tarfile.REGTYPE, mode)
        ti.size = len(data)
        self.tar.addfile(ti, io.BytesIO(data))
        self.files[name] = data

    def symlink(self, name, target):
        ti = self._info(name, tarfile.SYMTYPE, 0o777)
        ti.linkname = target
        self.tar.addfile(ti)

    def bytes(self):
        self.tar.close()
        return self.buf.getvalue()


def gzip_bytes(data, level=6):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=level, mtime=0) as g:
        g.write(data)
    return buf.getvalue()


class Layer:
    def __init__(self, tar_data, files, level=6):
        self.tar = tar_data
        self.diff_id = sha256(tar_data)
        self.gz = gzip_bytes(tar_data, level)
        self.digest = sha256(self.gz)
        self.size = len(self.gz)
        self.files = files  # path -> content of the regular files in this layer

    def descriptor(self, media_type=OCI_LAYER_GZIP):
        return {"mediaType": media_type, "digest": self.digest, "size": self.size}


def rootfs_tar(busybox_path):
    """The busybox rootfs as tar bytes, plus its regular files."""
    with open(busybox_path, "rb") as f:
        binary = f.read()
    applets = busybox_applets(busybox_path)
    t = Tar()
    dirs = {"bin", "dev", "etc", "proc", "root", "sbin", "sys", "tmp", "usr", "usr/bin", "usr/sbin", "var"}
    for a in applets:
        d = os.path.dirname(a)
        while d:
            dirs.add(d)
            d = os.path.dirname(d)
    for d in sorted(dirs):
        t.dir(d, 0o1777 if d == "tmp" else 0o755)
    t.file("bin/busybox", binary, 0o755)
    for a in applets:
        t.symlink(a, "/bin/busybox")
    t.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    t.file("etc/group", b"root:x:0:\n")
    return t.bytes(), t.files


def marker_layer(kind, extra=b""):
    t = Tar()
    t.dir("etc/octoserve")
    t.file("etc/octoserve/" + kind, b"octoserve test image: " + kind.encode() + b"\n" + extra)
    data = t.bytes()
    return Layer(data, t.files)


def big_layer():
    rnd = random.Random(BIG_SEED)
    payload = rnd.randbytes(BIG_SIZE)
    t = Tar()
    t.dir("data")
    t.file("data/random.bin", payload)
    data = t.bytes()
    # Random bytes do not compress: level 1 keeps the build fast.
    return Layer(data, {"data/random.bin": payload}, level=1)


# --- image objects -----------------------------------------------------------------------------

class Image:
    """One manifest with its config and layers (bytes kept in memory)."""

    def __init__(self, kind, manifest, media_type, config=None, layers=(), blobs=None):
        self.kind = kind
        self.manifest = manifest  # bytes, exactly as written and pushed
        self.media_type = media_type
        self.digest = sha256(manifest)
        self.size = len(manifest)
        self.config = config  # bytes
        self.config_digest = sha256(config) if config is not None else None
        self.layers = list(layers)  # Layer objects (or None for non-tar blobs)
        self.blobs = dict(blobs or {})  # digest -> bytes: every blob this image references
        self.children = []  # for an index: the child Images

    def descriptor(self, **extra):
        d = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        d.update(extra)
        return d

    def files(self):
        """path -> content over all layers (later layers win)."""
        out = {}
        for layer in self.layers:
            if layer is not None:
                out.update(layer.files)
        return out

    def summary(self):
        s = {"kind": self.kind, "mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.config_digest:
            s["config"] = self.config_digest
        if self.layers:
            s["layers"] = [layer.digest for layer in self.layers if layer is not None]
        if self.children:
            s["manifests"] = [c.summary() for c in self.children]
        return s


def image_config(arch, layers, variant=None, docker=False):
    cfg = {"created": "1970-01-01T00:00:00Z", "architecture": arch}
    if variant:
        cfg["variant"] = variant
    cfg["os"] = "linux"
    cfg["config"] = {"Env": [PATH_ENV], "Cmd": ["/bin/sh"]}
    cfg["rootfs"] = {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}
    cfg["history"] = [{"created": "1970-01-01T00:00:00Z", "created_by": "octoserve tests/clients/images.py"}
                      for _ in layers]
    return canonical(cfg)


def docker_canonical(obj):
    """Docker schema 2 manifests as the docker tools serialize them (Go's json.MarshalIndent with
    three spaces, descriptor fields in the order mediaType, size, digest). `docker manifest push`
    (20.10) re-serializes every platform manifest it pushes this way and PUTs it under the digest
    of the new bytes: only manifests already in this form keep their digest."""
    return json.dumps(obj, indent=3, ensure_ascii=False).encode()


def make_image(kind, layers, arch="amd64", variant=None, docker=False, annotations=None):
    config = image_config(arch, layers, variant, docker)
    if docker:
        m = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
             "config": {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": sha256(config)},
             "layers": [{"mediaType": DOCKER_LAYER_GZIP, "size": layer.size, "digest": layer.digest}
                        for layer in layers]}
        raw = docker_canonical(m)
    else:
        m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
             "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
             "layers": [layer.descriptor(OCI_LAYER_GZIP) for layer in layers]}
        if annotations:
            m["annotations"] = annotations
        raw = canonical(m)
    blobs = {sha256(config): config}
    for layer in layers:
        blobs[layer.digest] = layer.gz
    return Image(kind, raw, m["mediaType"], config, layers, blobs)


def make_index(kind, images):
    idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    for img, plat in images:
        idx["manifests"].append(img.descriptor(platform=plat))
    index = Image(kind, canonical(idx), OCI_INDEX)
    index.children = [img for img, _ in images]
    for img, _ in images:
        index.blobs.update(img.blobs)
        index.blobs[img.digest] = img.manifest
    return index


def make_artifact(kind, subject):
    note = canonical({"note": "octoserve test artifact", "subject": subject.digest})
    empty = b"{}"
    m = {"schemaVersion": 2,
         "mediaType": OCI_MANIFEST,
         "artifactType": ARTIFACT_TYPE,
         "config": {"mediaType": OCI_EMPTY, "digest": sha256(empty), "size": len(empty)},
         "layers": [{"mediaType": ARTIFACT_LAYER_TYPE, "digest": sha256(note), "size": len(note),
                     "annotations": {"org.opencontainers.image.title": "note.json"}}],
         "subject": subject.descriptor(),
         "annotations": {"org.opencontainers.image.created": "1970-01-01T00:00:00Z",
                         "org.octoserve.test": "artifact"}}
    art = Image(kind, canonical(m), OCI_MANIFEST, empty, [None], {sha256(empty): empty, sha256(note): note})
    art.artifact_type = ARTIFACT_TYPE
    art.note = note
    art.annotations = m["annotations"]
    return art


# --- writers -----------------------------------------------------------------------------------

def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_oci_layout(path, tagged):
    """tagged: list of (tag, Image). Writes an OCI image layout with every blob."""
    os.makedirs(os.path.join(path, "blobs/sha256"), exist_ok=True)
    _write(os.path.join(path, "oci-layout"), canonical({"imageLayoutVersion": "1.0.0"}))
    blobs = {}
    for _, img in tagged:
        blobs.update(img.blobs)
        blobs[img.digest] = img.manifest
    for digest, data in sorted(blobs.items()):
        _write(os.path.join(path, "blobs/sha256", digest.split(":", 1)[1]), data)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX,
             "manifests": [img.descriptor(annotations={REF_NAME: tag}) for tag, img in tagged]}
    _write(os.path.join(path, "index.json"), canonical(index))


def write_dir_transport(path, img):
    """A skopeo/containers-image "dir:" directory: manifest.json, blobs by hex digest."""
    os.makedirs(path, exist_ok=True)
    _write(os.path.join(path, "version"), b"Directory Transport Version: 1.1\n")
    _write(os.path.join(path, "manifest.json"), img.manifest)
    for digest, data in sorted(img.blobs.items()):
        _write(os.path.join(path, digest.split(":", 1)[1]), data)


def oci_archive(layout, out, name=None):
    """Tar an OCI layout (deterministically) for `ctr images import`; name, if given, is put in
    index.json as io.containerd.image.name on every entry."""
    t = tarfile.open(out, "w", format=tarfile.PAX_FORMAT)
    for root, dirs, files in os.walk(layout):
        dirs.sort()
        for fn in sorted(files):
            full = os.path.join(root, fn)
            rel = os.path.relpath(full, layout)
            with open(full, "rb") as f:
                data = f.read()
            if rel == "index.json" and name:
                idx = json.loads(data)
                for m in idx["manifests"]:
                    m.setdefault("annotations", {})["io.containerd.image.name"] = name
                data = canonical(idx)
            ti = tarfile.TarInfo(rel)
            ti.size = len(data)
            ti.mtime = 0
            ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    t.close()
    return out


class Images:
    """Everything build_all made, with the paths and the in-memory objects."""

    def __init__(self, outdir):
        self.outdir = outdir

    def summary(self):
        return {"outdir": self.outdir,
                "single": self.single.summary(), "artifact": self.artifact.summary(),
                "multi": self.multi.summary(), "docker": self.docker.summary(),
                "docker-arm64": self.docker_arm64.summary(), "big": self.big.summary(),
                "rootfs_tar": self.rootfs_tar_path}


def build_all(outdir, big=True):
    os.makedirs(outdir, exist_ok=True)
    r = Images(outdir)
    bb = find_busybox()
    rootfs, rootfs_files = rootfs_tar(bb)
    r.rootfs_files = rootfs_files
    r.rootfs_tar_path = os.path.join(outdir, "rootfs.tar")
    _write(r.rootfs_tar_path, rootfs)
    base = Layer(rootfs, rootfs_files)
    r.base = base

    # (a) single-arch OCI image and (e) the artifact whose subject it is
    r.single = make_image("single", [base, marker_layer("single")])
    r.artifact = make_artifact("artifact", r.single)
    r.single_dir = os.path.join(outdir, "single")
    write_oci_layout(r.single_dir, [("v1", r.single), ("sig", r.artifact)])

    # (b) multi-arch index: amd64 + arm64/v8 (same busybox bytes, never run)
    amd64 = make_image("multi-amd64", [base, marker_layer("multi-amd64")], arch="amd64")
    arm64 = make_image("multi-arm64", [base, marker_layer("multi-arm64")], arch="arm64", variant="v8")
    r.multi = make_index("multi", [(amd64, {"architecture": "amd64", "os": "linux"}),
                                   (arm64, {"architecture": "arm64", "os": "linux", "variant": "v8"})])
    r.multi_amd64, r.multi_arm64 = amd64, arm64
    r.multi_dir = os.path.join(outdir, "multi")
    write_oci_layout(r.multi_dir, [("v1", r.multi)])

    # (c) Docker schema 2, as a dir: transport directory
    r.docker = make_image("docker", [base, marker_layer("docker")], docker=True)
    r.docker_dir = os.path.join(outdir, "docker")
    write_dir_transport(r.docker_dir, r.docker)
    # and its arm64 sibling, for `docker manifest create` (Debian's docker 20.10 only takes
    # Docker schema 2 manifests into a list)
    r.docker_arm64 = make_image("docker-arm64", [base, marker_layer("docker-arm64")], arch="arm64",
                                variant="v8", docker=True)
    r.docker_arm64_dir = os.path.join(outdir, "docker-arm64")
    write_dir_transport(r.docker_arm64_dir, r.docker_arm64)

    # (d) ~100 MiB layer
    if big:
        r.big = make_image("big", [base, big_layer(), marker_layer("big")])
        r.big_dir = os.path.join(outdir, "big")
        write_oci_layout(r.big_dir, [("v1", r.big)])
    return r


def main(argv):
    if len(argv) != 2:
        print("usage: images.py OUTDIR", file=sys.stderr)
        return 2
    if os.path.exists(argv[1]):
        shutil.rmtree(argv[1])
    r = build_all(argv[1])
    json.dump(r.summary(), sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
