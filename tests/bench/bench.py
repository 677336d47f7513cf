#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Octoserve benchmark (issue 5): Octoserve behind lighttpd and nginx, CNCF Distribution, and
the architecture's ceilings (the same fronts serving a plain file, and passing requests to a
do-nothing FastCGI responder, whose GET replies are as long as Octoserve's), all on loopback,
started in one run.

    python3 tests/bench/bench.py [--quick] [--rounds N] [--only W] [--json FILE]

Workloads (each against every target, alternating, --rounds rounds):
  1 push    one blob, monolithic: POST, then PUT with the body (curl -T)
  2 chunked the same in 8 MiB PATCH chunks with Content-Range, one connection (http.client)
  3 pull    GET of a blob (curl), ranged GET of its second half (curl), 200 random 64 KiB
            ranged GETs on one connection (http.client)
  4 small   64 connections: HEAD of a blob (hey), GET of a manifest by tag and GET tags/list
            of a repository with 1000 tags (wrk, with a Lua script that counts bad answers)
  5 pushes  32 clients each pushing 50 distinct 64 KiB blobs (POST + PUT) and a manifest
  6 memory  peak RSS (VmHWM) of everything serving, data-directory growth / distinct bytes;
            and what one idle responder thread costs (VmRSS of 72 threads less 8, over 64)
  7 slow    64 uploads trickling in at 400 B/s, then at 200 KB/s (Content-Length PATCHes),
            while GET /v2/, HEAD blob and GET manifest probe one at a time: p50 and p99
            (target p99 < 100 ms); every upload then ends in 201 with its digest
  8 slowdisk workload 5 against Octoserve on a slow disk: a registry of its own whose responder
            runs under strace, every fsync and fdatasync made SLOW_SYNC_US longer (network
            block storage, a disk with a write cache it flushes): what group commit is for
Every response is checked (status, Docker-Content-Digest, Range; bodies hashed after the
fact); any bad answer fails the run (exit 1). All content is random and new. Python 3
standard library; needs lighttpd, nginx, curl, wrk, hey, docker-registry (PACKAGES).
"""
import argparse
import hashlib
import http.client
import json
import mmap
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("OCTOTEST_SRCDIR", os.path.abspath(os.path.join(HERE, "../..")))
BUILDDIR = os.environ.get("OCTOTEST_BUILDDIR", SRCDIR)
DISTRIBUTION = shutil.which("docker-registry") or "/usr/bin/docker-registry"
LIGHTTPD = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MiB = 1024 * 1024
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
NULL_BODY_LEN = 67  # null-responder.c's fixed body and its digest
NULL_DIGEST = "sha256:0d050bc208831cfaa81b553841e9d40f8f60432083d5f0a3e623cac6d829a2b7"
DISTURBED_CORES = 0.10  # other processes using more than this (cores, on average): disturbed

harness = None  # tests/http/harness.py, imported once OCTOTEST_FCGI_BIN is settled
fronts = None
trickle = None
SLOW_UPLOADS = 64
SLOW_SYNC_US = 4000  # workload 8: what each fsync and fdatasync takes longer
STRACE = shutil.which("strace")
SLOW_RATES = (400, 200000)


class BenchFailure(Exception):
    """A wrong answer (or a target that would not start): the run fails."""


def check(cond, what, *detail):
    if not cond:
        raise BenchFailure(what + ("" if not detail else ": " + " ".join(str(d)[:300] for d in detail)))


def sha256_file(path, start=0):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(start)
        while True:
            b = f.read(8 * MiB)
            if not b:
                break
            h.update(b)
    return "sha256:" + h.hexdigest()


def wait_http(port, path, proc, what, timeout=20):
    if not fronts.wait_for_http(port, proc, path, timeout):
        raise BenchFailure("%s did not come up on port %d" % (what, port))


# ---------------------------------------------------------------- processes and /proc

def proc_stat(pid):
    """(comm, ppid, utime+stime ticks, starttime) of a process, or None."""
    f = fronts.proc_stat(pid)
    if f is None:
        return None
    return f[1], int(f[3]), int(f[13]) + int(f[14]), int(f[21])


def all_procs():
    out = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            st = proc_stat(int(e))
            if st is not None:
                out[int(e)] = st
    return out


def family(roots, procs=None):
    """The roots and every process below them, in procs (all_procs()) or /proc now."""
    procs = procs if procs is not None else all_procs()
    ppids = {pid: st[1] for pid, st in procs.items()}
    return {p for r in roots if r for p in [r] + fronts.descendants(r, ppids=ppids)}


def vm_hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_times():
    """/proc/stat: (user+nice+system, steal) in ticks over all CPUs."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2], (v[7] if len(v) > 7 else 0)


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def disk_usage(path):
    """(allocated bytes, apparent bytes, files) of a directory tree."""
    alloc = apparent = files = 0
    for root, dirs, names in os.walk(path):
        for n in dirs + names:
            try:
                st = os.lstat(os.path.join(root, n))
            except OSError:
                continue
            alloc += st.st_blocks * 512
            if not os.path.isdir(os.path.join(root, n)):
                apparent += st.st_size
                files += 1
    return alloc, apparent, files


# ---------------------------------------------------------------- targets

class Target:
    """Something serving on 127.0.0.1:port. kind: octoserve, distribution or ceiling."""
    name = kind = front = None
    port = None
    data_dir = None

    def start(self):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError

    def roots(self):
        raise NotImplementedError

    def pids(self):
        return family(self.roots())

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def conn(self, timeout=120):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    @property
    def registry(self):
        return self.kind != "ceiling"


class OctoserveTarget(Target):
    kind = "octoserve"

    def __init__(self, front, threads, wrap=None):
        self.front = front
        self.name = "octo-" + front
        self.threads = threads
        self.wrap = wrap  # a command the responder runs under (workload 8: strace)
        self.reg = None

    def start(self):
        self.reg = harness.Registry(front=self.front, threads=self.threads,
                                    config={"fcgi": {"threads": self.threads}})
        self.reg.start(wrap=self.wrap)
        self.port = self.reg.port
        self.data_dir = self.reg.data
        return self

    def stop(self):
        if self.reg is not None:
            self.reg.stop()

    def cleanup(self):
        if self.reg is not None:
            self.reg.cleanup()

    def roots(self):
        if self.reg is None or self.reg.proc is None:
            return []
        return [self.reg.proc.pid] + self.reg.responder_pids()


class DistributionTarget(Target):
    kind = "distribution"
    name = "distribution"
    front = None

    CONFIG = """version: 0.1
log:
  level: info
  formatter: text
storage:
{storage}
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: {secret}
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
"""

    def __init__(self, tmp, subdir="distribution"):
        self.dir = os.path.join(tmp, subdir)
        self.data_dir = os.path.join(self.dir, "data")
        self.proc = None

    def storage(self):
        """The storage driver's section of the configuration (indented under storage:)."""
        return "  filesystem:\n    rootdirectory: %s" % self.data_dir

    def start(self):
        os.makedirs(self.data_dir, exist_ok=True)
        self.port = harness.free_port()
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write(self.CONFIG.format(storage=self.storage(), port=self.port,
                                       secret=os.urandom(16).hex()))
        self.log = open(os.path.join(self.dir, "registry.log"), "ab")
        # the AWS SDK of the S3 driver reads AWS_* from the environment (AWS_CA_BUNDLE makes it
        # panic with Distribution's transport): the configuration alone says what to use
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.proc = subprocess.Popen([DISTRIBUTION, "serve", cfg], stdout=self.log, stderr=self.log,
                                     cwd=self.dir, env=env)
        wait_http(self.port, "/v2/", self.proc, "docker-registry")
        return self

    def stop(self):
        fronts.stop_process(self.proc, timeout=15)
        self.proc = None

    def cleanup(self):
        self.stop()

    def roots(self):
        return [self.proc.pid] if self.proc is not None else []


class LighttpdCeiling(Target):
    """lighttpd serving the static file and spawning null-responder (bin-path)."""
    kind = "ceiling"
    front = "lighttpd"
    name = "ceil-lighttpd"

    def __init__(self, tmp, www, null_bin, threads):
        self.dir = os.path.join(tmp, "ceil-lighttpd")
        self.www, self.null_bin, self.threads = www, null_bin, threads
        self.proc = None

    def start(self):
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        self.port = harness.free_port()
        text = fronts.fill(os.path.join(HERE, "lighttpd-ceiling.conf.in"),
                           (("@STATIC@", self.www), ("@PORT@", str(self.port)), ("@DIR@", self.dir),
                            ("@NULL@", self.null_bin), ("@THREADS@", str(self.threads))))
        conf = os.path.join(self.dir, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write(text)
        self.log = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen([LIGHTTPD, "-D", "-f", conf], cwd=self.dir, stdout=self.log,
                                     stderr=self.log)
        wait_http(self.port, "/v2/", self.proc, "lighttpd (ceiling)")
        return self

    def stop(self):
        spawned = fronts.descendants(self.proc.pid, self.null_bin) if self.proc is not None else []
        fronts.stop_process(self.proc, timeout=15)
        self.proc = None
        for pid in spawned:  # a null-responder lighttpd left behind
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    cleanup = stop

    def roots(self):
        return [self.proc.pid] if self.proc is not None else []


class NginxCeiling(Target):
    """nginx serving the static file and passing /v2/ to a standalone null-responder."""
    kind = "ceiling"
    front = "nginx"
    name = "ceil-nginx"

    def __init__(self, tmp, www, null_bin, threads):
        self.dir = os.path.join(tmp, "ceil-nginx")
        self.www, self.null_bin, self.threads = www, null_bin, threads
        self.proc = self.null = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        sock = os.path.join(self.dir, "null.sock")
        self.log = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.null = subprocess.Popen([self.null_bin, "-t", str(self.threads), "-l", "unix:" + sock],
                                     cwd=self.dir, stdout=self.log, stderr=self.log)
        deadline = time.time() + 10
        while not os.path.exists(sock):
            check(time.time() < deadline and self.null.poll() is None, "null-responder did not listen")
            time.sleep(0.02)
        user = fronts._default_user()
        if user is not None:
            os.chmod(sock, 0o666)
            fronts._make_traversable(self.dir)
            fronts._make_traversable(os.path.join(self.www, "static"))
        self.port = harness.free_port()
        text = fronts.fill(os.path.join(HERE, "nginx-ceiling.conf.in"),
                           (("@STATIC@", os.path.join(self.www, "static")), ("@PORT@", str(self.port)),
                            ("@DIR@", self.dir), ("@SOCKET@", sock),
                            ("@USER@", "user %s;" % user if user is not None else "")))
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(text)
        self.proc = subprocess.Popen([NGINX, "-p", self.dir + "/", "-c", conf, "-g", "daemon off;"],
                                     cwd=self.dir, stdout=self.log, stderr=self.log)
        wait_http(self.port, "/v2/", self.proc, "nginx (ceiling)")
        return self

    def stop(self):
        fronts.stop_process(self.proc, timeout=15)
        fronts.stop_process(self.null, timeout=3)
        self.proc = self.null = None

    cleanup = stop

    def roots(self):
        return [p.pid for p in (self.proc, self.null) if p is not None]


# ---------------------------------------------------------------- HTTP helpers

def request(conn, method, path, body=None, headers=None):
    hdrs = dict(headers or {})
    if body is None and method in ("POST", "PUT", "PATCH"):
        body = b""
    conn.request(method, path, body=body, headers=hdrs)
    r = conn.getresponse()
    data = r.read()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def location_path(loc):
    u = urllib.parse.urlsplit(loc)
    return u.path + ("?" + u.query if u.query else "")


def with_digest(path, digest):
    return path + ("&" if "?" in path else "?") + "digest=" + digest


def start_upload(conn, repo):
    st, h, b = request(conn, "POST", "/v2/%s/blobs/uploads/" % repo)
    check(st == 202 and "location" in h, "POST upload: want 202 with Location", st, b)
    return location_path(h["location"])


def check_digest_header(t, h, digest, what):
    if t.registry:
        check(h.get("docker-content-digest") == digest, what + ": Docker-Content-Digest",
              h.get("docker-content-digest"), "want", digest)


def curl(args):
    """Run curl; (status, headers of the last response, size, seconds)."""
    with tempfile.NamedTemporaryFile(prefix="bench-hdr-", dir="/dev/shm") as hf:
        out = subprocess.run(["curl", "-sS", "-D", hf.name, "-w", "%{http_code} %{size_download} %{time_total}",
                              "-H", "Expect:"] + args, capture_output=True, text=True)
        check(out.returncode == 0, "curl failed", out.returncode, out.stderr)
        with open(hf.name, "rb") as f:
            blocks = [b for b in f.read().decode("latin-1").split("\r\n\r\n") if b.strip()]
    headers = {}
    for line in (blocks[-1].split("\r\n")[1:] if blocks else []):
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    code, size, secs = out.stdout.split()
    return int(code), headers, int(size), float(secs)


def manifest_for(blobs, config):
    """An OCI image manifest: config and layers given as (digest, size)."""
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
         "config": {"mediaType": OCI_CONFIG, "digest": config[0], "size": config[1]},
         "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": s} for d, s in blobs]}
    return json.dumps(m, separators=(",", ":")).encode()


def new_config():
    return json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []},
                       "config": {"Labels": {"bench": os.urandom(16).hex()}}}).encode()


# ---------------------------------------------------------------- measurement

class Phase:
    """CPU of the serving processes, wall time, and what else ran, over one measurement."""

    def __init__(self, bench, target):
        self.bench, self.target = bench, target

    def __enter__(self):
        os.sync()  # nobody's dirty pages (ours, Distribution's) land in the next phase
        self.serving = self.bench.serving_pids()
        self.mine = self.target.pids()
        self.procs0 = all_procs()
        self.busy0, self.steal0 = cpu_times()
        self.self0 = os.times()
        self.load0 = loadavg()
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t0
        busy1, steal1 = cpu_times()
        self1 = os.times()
        procs1 = all_procs()
        self.bench.sample_rss()
        self.mine |= self.target.pids()
        serving = self.serving | self.bench.serving_pids()
        ours = serving | family([os.getpid()], procs1)
        d = {}
        for pid, (comm, ppid, ticks, start) in procs1.items():
            before = self.procs0.get(pid)  # the same process: same start time (kworkers rename)
            delta = ticks - (before[2] if before is not None and before[3] == start else 0)
            if delta > 0:
                d[pid] = (comm, ppid, delta)
        self.cpu = sum(v[2] for p, v in d.items() if p in self.mine) / CLK_TCK
        own = (self1.user + self1.system + self1.children_user + self1.children_system
               - self0_sum(self.self0))
        foreign = {p: v for p, v in d.items() if p not in ours and p != 2 and v[1] != 2}
        kernel = sum(v[2] for p, v in d.items() if p == 2 or v[1] == 2) / CLK_TCK
        self.other = sum(v[2] for v in foreign.values()) / CLK_TCK
        self.steal = (steal1 - self.steal0) / CLK_TCK
        self.info = {
            "wall_s": round(self.wall, 4), "cpu_s": round(self.cpu, 3),
            "client_cpu_s": round(own, 3), "kernel_threads_cpu_s": round(kernel, 3),
            "other_cpu_s": round(self.other, 3), "steal_s": round(self.steal, 3),
            "busy_total_s": round((busy1 - self.busy0) / CLK_TCK, 3),
            "loadavg": [self.load0, loadavg()],
        }
        w = max(self.wall, 0.001)
        if self.other / w > DISTURBED_CORES or self.steal / w > DISTURBED_CORES:
            top = sorted(foreign.items(), key=lambda kv: -kv[1][2])[:4]
            self.info["disturbed"] = "other processes %.2f cores, steal %.2f cores: %s" % (
                self.other / w, self.steal / w,
                ", ".join("%s[%d] %.2fs" % (v[0], p, v[2] / CLK_TCK) for p, v in top))
        return False


def self0_sum(t):
    return t.user + t.system + t.children_user + t.children_system


def stop_targets(targets):
    """Each target's cleanup, a failure said and the rest stopped all the same."""
    for t in targets:
        try:
            t.cleanup()
        except Exception as e:  # noqa: BLE001
            print("stopping %s: %r" % (t.name, e), file=sys.stderr)


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.blob_size = (64 if args.quick else 512) * MiB
        self.chunk = 8 * MiB
        self.duration = args.duration or (3 if args.quick else 10)
        self.clients = 8 if args.quick else 32
        self.per_client = 10 if args.quick else 50
        self.ntags = 100 if args.quick else 1000
        self.ranges = 200
        self.targets = []
        self.extra = []  # targets of one workload (8), started and stopped by it
        self.storage = self.idle_thread = None  # workload 6
        self.results = {}  # metric -> target -> [record per round]
        self.units = {}
        self.hwm = {}  # target -> {pid: VmHWM KiB}
        self.pushed = {}  # target -> {digest: size} of everything pushed
        self.fixtures = {}  # target -> what workload 4 reads
        self.disturbances = []

    # -- bookkeeping
    def serving_pids(self):
        s = set()
        for t in self.targets + self.extra:
            s |= t.pids()
        return s

    def sample_rss(self):
        for t in self.targets:
            m = self.hwm.setdefault(t.name, {})
            for p in t.pids():
                m[p] = max(m.get(p, 0), vm_hwm_kib(p))

    def record(self, metric, unit, target, rnd, value, phase, work=None, extra=None):
        """work: (GB moved) or (requests) for CPU per GB / per request."""
        rec = {"round": rnd, "value": value}
        rec.update(phase.info)
        if work is not None:
            amount, kind = work
            rec["cpu_per_" + kind] = phase.cpu / amount if amount else None
        rec.update(extra or {})
        self.results.setdefault(metric, {}).setdefault(target.name, []).append(rec)
        self.units[metric] = unit
        if "disturbed" in rec:
            self.disturbances.append("round %d, %s, %s: %s" % (rnd, metric, target.name, rec["disturbed"]))
        flag = " (disturbed)" if "disturbed" in rec else ""
        print("  %-22s %-14s %12.1f %s%s" % (metric, target.name, value, unit, flag), flush=True)

    def note_push(self, target, digest, size):
        self.pushed.setdefault(target.name, {})[digest] = size

    def order(self, rnd):
        k = rnd % len(self.targets)
        return self.targets[k:] + self.targets[:k]

    def new_file(self, path, size, half=False):
        """Random content of size bytes at path (fsynced): its digest (and the second half's)."""
        h, h2 = hashlib.sha256(), hashlib.sha256()
        with open(path, "wb") as f:
            done = 0
            while done < size:
                b = os.urandom(min(8 * MiB, size - done))
                f.write(b)
                h.update(b)
                if half and done >= size // 2:
                    h2.update(b)
                done += len(b)
            f.flush()
            os.fsync(f.fileno())
        return "sha256:" + h.hexdigest(), "sha256:" + h2.hexdigest()

    # -- client operations
    def push_monolithic(self, t, repo, path, digest, size):
        c = t.conn()
        try:
            loc = start_upload(c, repo)
        finally:
            c.close()
        st, h, _, _ = curl(["-o", "/dev/null", "-H", "Content-Type: application/octet-stream",
                            "-T", path, t.url(with_digest(loc, digest))])
        check(st == 201, "%s: monolithic PUT: want 201" % t.name, st, h)
        check_digest_header(t, h, digest, "%s: monolithic PUT" % t.name)

    def push_chunked(self, t, repo, path, digest, size):
        c = t.conn()
        try:
            loc = start_upload(c, repo)
            with open(path, "rb") as f:
                off = 0
                while off < size:
                    data = f.read(self.chunk)
                    end = off + len(data) - 1
                    st, h, b = request(c, "PATCH", loc, body=data, headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": "%d-%d" % (off, end)})
                    check(st == 202, "%s: PATCH %d-%d: want 202" % (t.name, off, end), st, b)
                    check(h.get("range") == "0-%d" % end, "%s: PATCH Range" % t.name, h.get("range"))
                    loc = location_path(h["location"]) if "location" in h else loc
                    off = end + 1
            st, h, b = request(c, "PUT", with_digest(loc, digest))
            check(st == 201, "%s: closing PUT: want 201" % t.name, st, b)
            check_digest_header(t, h, digest, "%s: closing PUT" % t.name)
        finally:
            c.close()

    def push_small(self, t, conn, repo, data, digest):
        loc = start_upload(conn, repo)
        st, h, b = request(conn, "PUT", with_digest(loc, digest), body=data,
                           headers={"Content-Type": "application/octet-stream"})
        check(st == 201, "%s: PUT blob: want 201" % t.name, st, b)
        check_digest_header(t, h, digest, "%s: PUT blob" % t.name)

    def put_manifest(self, t, conn, repo, ref, manifest):
        digest = harness.sha256(manifest)
        st, h, b = request(conn, "PUT", "/v2/%s/manifests/%s" % (repo, ref), body=manifest,
                           headers={"Content-Type": OCI_MANIFEST})
        check(st == 201, "%s: PUT manifest %s: want 201" % (t.name, ref), st, b)
        check_digest_header(t, h, digest, "%s: PUT manifest" % t.name)
        return digest

    # ---------------------------------------------------------- workloads
    def w1_push(self, rnd):
        """1: one new random blob per target, POST + PUT with the body (curl -T)."""
        self._push(rnd, "1 push", self.push_monolithic)

    def w2_chunked(self, rnd):
        """2: the same in 8 MiB PATCH chunks with Content-Range, on one connection."""
        self._push(rnd, "2 push chunked", self.push_chunked)

    def _push(self, rnd, metric, fn):
        src = os.path.join("/dev/shm", "octoserve-bench-push-%d" % os.getpid())
        try:
            for t in self.order(rnd):
                digest, _ = self.new_file(src, self.blob_size)
                with Phase(self, t) as ph:
                    fn(t, "bench/push", src, digest, self.blob_size)
                if t.registry:
                    self.verify_blob(t, "bench/push", digest, self.blob_size)
                    self.note_push(t, digest, self.blob_size)
                self.record(metric, "MB/s", t, rnd, self.blob_size / 1e6 / ph.wall, ph,
                            (self.blob_size / 1e9, "GB"))
        finally:
            if os.path.exists(src):
                os.unlink(src)

    def verify_blob(self, t, repo, digest, size):
        c = t.conn()
        try:
            st, h, _ = request(c, "HEAD", "/v2/%s/blobs/%s" % (repo, digest))
        finally:
            c.close()
        check(st == 200 and h.get("content-length") == str(size), "%s: HEAD after push" % t.name, st, h)
        check_digest_header(t, h, digest, "%s: HEAD after push" % t.name)

    def w3_pull(self, rnd):
        """3: GET of a new blob, ranged GET of its second half, 200 random 64 KiB ranges."""
        name = "pull-%d" % rnd
        src = os.path.join(self.www, "static", name)
        digest, half_digest = self.new_file(src, self.blob_size, half=True)
        os.chmod(src, 0o644)
        for t in self.targets:
            if t.registry:
                self.push_monolithic(t, "bench/pull", src, digest, self.blob_size)
                self.note_push(t, digest, self.blob_size)
        half = self.blob_size // 2
        out = os.path.join("/dev/shm", "octoserve-bench-pull-%d" % os.getpid())
        try:
            for t in self.order(rnd):
                path = "/v2/bench/pull/blobs/%s" % digest if t.registry else "/static/%s" % name
                # full GET
                # The body is checked by an untimed GET first; it also brings the blob into the
                # page cache, where the static file and Distribution's just-written copy already
                # are (Octoserve writes large uploads around the cache: its first GET reads the
                # disk). Timed to /dev/null (saving 512 MiB made curl the bottleneck); status,
                # size and digest header checked.
                st, h, n, _ = curl(["-o", out, t.url(path)])
                check(st == 200 and sha256_file(out) == digest, "%s: GET blob: body digest" % t.name)
                with Phase(self, t) as ph:
                    st, h, n, _ = curl(["-o", "/dev/null", t.url(path)])
                check(st == 200 and n == self.blob_size, "%s: GET blob: want 200 and all bytes" % t.name, st, n)
                check_digest_header(t, h, digest, "%s: GET blob" % t.name)
                self.record("3 pull", "MB/s", t, rnd, self.blob_size / 1e6 / ph.wall, ph,
                            (self.blob_size / 1e9, "GB"))
                # second half
                with Phase(self, t) as ph:
                    st, h, n, _ = curl(["-o", "/dev/null", "-H", "Range: bytes=%d-" % half, t.url(path)])
                check(st == 206 and n == self.blob_size - half, "%s: ranged GET: want 206" % t.name, st, n)
                check(h.get("content-range") == "bytes %d-%d/%d" % (half, self.blob_size - 1, self.blob_size),
                      "%s: ranged GET Content-Range" % t.name, h.get("content-range"))
                st, h, n, _ = curl(["-o", out, "-H", "Range: bytes=%d-" % half, t.url(path)])
                check(st == 206 and sha256_file(out) == half_digest, "%s: ranged GET: body digest" % t.name)
                self.record("3 pull half (Range)", "MB/s", t, rnd, (self.blob_size - half) / 1e6 / ph.wall, ph,
                            ((self.blob_size - half) / 1e9, "GB"))
                os.unlink(out)
                # random 64 KiB ranges on one connection
                offs = [random.randrange(0, self.blob_size - 65536) for _ in range(self.ranges)]
                bodies = []
                c = t.conn()
                try:
                    with Phase(self, t) as ph:
                        for o in offs:
                            st, h, b = request(c, "GET", path, headers={"Range": "bytes=%d-%d" % (o, o + 65535)})
                            bodies.append((st, h.get("content-range"), b))
                finally:
                    c.close()
                with open(src, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                    for o, (st, cr, b) in zip(offs, bodies):
                        check(st == 206 and cr == "bytes %d-%d/%d" % (o, o + 65535, self.blob_size),
                              "%s: 64 KiB range at %d: want 206" % (t.name, o), st, cr)
                        check(hashlib.sha256(b).digest() == hashlib.sha256(m[o:o + 65536]).digest(),
                              "%s: 64 KiB range at %d: body" % (t.name, o))
                self.record("3 pull 64 KiB ranges", "req/s", t, rnd, self.ranges / ph.wall, ph,
                            (self.ranges, "req"))
        finally:
            if os.path.exists(out):
                os.unlink(out)
            os.unlink(src)

    def setup_w4(self, t):
        """A blob, a manifest and ntags tags of it in bench/tags (untimed, once)."""
        repo = "bench/tags"
        if not t.registry:
            # The ceiling answers with as many bytes as Octoserve does (the registries' fixtures
            # are set up first): a shorter reply would measure a lighter workload.
            octo = next(self.fixtures[x.name] for x in self.targets if x.name.startswith("octo-"))
            m, n = octo["manifest_len"], octo["tags_len"]
            self.fixtures[t.name] = {"head": "/v2/null/blobs/" + NULL_DIGEST, "blob_digest": NULL_DIGEST,
                                     "blob_len": NULL_BODY_LEN,
                                     "manifest": "/v2/null/manifests/latest?size=%d" % m,
                                     "manifest_digest": NULL_DIGEST, "manifest_len": m,
                                     "tags": "/v2/null/tags/list?size=%d" % n, "tags_len": n}
            return
        c = t.conn()
        try:
            layer = os.urandom(65536)
            config = new_config()
            for b in (layer, config):
                self.push_small(t, c, repo, b, harness.sha256(b))
                self.note_push(t, harness.sha256(b), len(b))
            manifest = manifest_for([(harness.sha256(layer), len(layer))], (harness.sha256(config), len(config)))
            tags = ["latest"] + ["t%04d" % i for i in range(1, self.ntags)]
            for tag in tags:
                md = self.put_manifest(t, c, repo, tag, manifest)
            self.note_push(t, md, len(manifest))
            st, h, body = request(c, "GET", "/v2/%s/tags/list" % repo)
            check(st == 200 and "link" not in h, "%s: tags/list: want all tags in one 200" % t.name, st, h)
            got = json.loads(body)
            check(got.get("name") == repo and sorted(got.get("tags", [])) == sorted(tags),
                  "%s: tags/list content" % t.name, body[:200])
            st, h, mbody = request(c, "GET", "/v2/%s/manifests/latest" % repo, headers={"Accept": OCI_MANIFEST})
            check(st == 200 and harness.sha256(mbody) == md, "%s: GET manifest" % t.name, st, mbody[:200])
            check_digest_header(t, h, md, "%s: GET manifest" % t.name)
        finally:
            c.close()
        self.fixtures[t.name] = {"head": "/v2/%s/blobs/%s" % (repo, harness.sha256(layer)),
                                 "blob_digest": harness.sha256(layer), "blob_len": len(layer),
                                 "manifest": "/v2/%s/manifests/latest" % repo, "manifest_digest": md,
                                 "manifest_len": len(mbody), "tags": "/v2/%s/tags/list" % repo,
                                 "tags_len": len(body)}
        self.verify_blob(t, repo, harness.sha256(layer), len(layer))

    def w4_small(self, rnd):
        """4: 64 connections: HEAD blob (hey), GET manifest by tag and tags/list (wrk)."""
        for t in self.targets:
            if t.name not in self.fixtures:
                self.setup_w4(t)
        for t in self.order(rnd):
            fx = self.fixtures[t.name]
            with Phase(self, t) as ph:
                n, rate = self.hey(t.url(fx["head"]))
            self.record("4 HEAD blob (hey)", "req/s", t, rnd, rate, ph, (n, "req"))
            with Phase(self, t) as ph:
                n, rate, errs = self.wrk(t.url(fx["manifest"]), fx["manifest_len"], fx["manifest_digest"],
                                         OCI_MANIFEST)
            self.record("4 GET manifest (wrk)", "req/s", t, rnd, rate, ph, (n, "req"), {"socket_errors": errs})
            with Phase(self, t) as ph:
                n, rate, errs = self.wrk(t.url(fx["tags"]), fx["tags_len"], "", "")
            self.record("4 GET tags/list (wrk)", "req/s", t, rnd, rate, ph, (n, "req"), {"socket_errors": errs})

    def hey(self, url):
        out = subprocess.run(["hey", "-z", "%ds" % self.duration, "-c", "64", "-m", "HEAD", url],
                             capture_output=True, text=True)
        check(out.returncode == 0, "hey failed", out.stderr[-500:])
        codes = {int(c): int(n) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", out.stdout)}
        check(codes and set(codes) == {200}, "hey HEAD %s: non-200 answers" % url, codes)
        check("Error distribution" not in out.stdout, "hey HEAD %s: errors" % url,
              out.stdout[out.stdout.find("Error distribution"):][:500])
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))
        return sum(codes.values()), rate

    def wrk(self, url, length, digest, accept):
        env = dict(os.environ, BENCH_METHOD="GET", BENCH_ACCEPT=accept, BENCH_LENGTH=str(length),
                   BENCH_DIGEST=digest)
        out = subprocess.run(["wrk", "-t2", "-c64", "-d%ds" % self.duration, "-s",
                              os.path.join(HERE, "counting.lua"), url], capture_output=True, text=True, env=env)
        check(out.returncode == 0, "wrk failed", out.stderr[-500:])
        m = re.search(r"bench-result (\d+) (\d+) (\S+)", out.stdout)
        check(m is not None, "wrk: no result line", out.stdout[-500:])
        n, bad = int(m.group(1)), int(m.group(2))
        check(n > 0 and bad == 0, "wrk %s: %d of %d answers wrong (first: %s)" % (url, bad, n, m.group(3)))
        e = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out.stdout)
        errs = sum(int(x) for x in e.groups()) if e else 0
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out.stdout).group(1))
        return n, rate, errs

    def w5_pushes(self, rnd):
        """5: clients x per_client distinct 64 KiB blobs (POST + PUT) and a manifest each."""
        for t in self.order(rnd):
            self.small_pushes(t, rnd, "5 small pushes")

    def w8_slow_disk(self, rnd):
        """8: workload 5 against Octoserve whose every fsync and fdatasync takes SLOW_SYNC_US
        longer: each push's own syncs overlap with other pushes', the journal's are shared."""
        check(STRACE is not None, "workload 8 needs strace (apt-get install strace)")
        wrap = [STRACE, "-f", "--seccomp-bpf", "-qq", "-o", "/dev/null", "-e", "trace=fsync,fdatasync",
                "-e", "inject=fsync,fdatasync:delay_exit=%d" % SLOW_SYNC_US]
        fronts_ = ["lighttpd", "nginx"] if rnd % 2 else ["nginx", "lighttpd"]
        for front in fronts_:
            t = OctoserveTarget(front, self.args.threads, wrap=wrap).start()
            self.extra.append(t)
            try:
                self.small_pushes(t, rnd, "8 pushes, slow fsync")
            finally:
                self.extra.remove(t)
                t.cleanup()

    def small_pushes(self, t, rnd, metric):
        """clients x per_client distinct 64 KiB blobs and a manifest each, pushed to t at once."""
        work = []
        for i in range(self.clients):
            blobs = [os.urandom(65536) for _ in range(self.per_client)]
            config = new_config()
            blobs = [(b, harness.sha256(b)) for b in blobs]
            manifest = manifest_for([(d, len(b)) for b, d in blobs], (harness.sha256(config), len(config)))
            work.append(("bench/small-r%d-c%02d" % (rnd, i), blobs, config, manifest))
        errors = []
        barrier = threading.Barrier(self.clients + 1)

        def client(repo, blobs, config, manifest):
            try:
                c = t.conn()
                barrier.wait()
                for b, d in blobs:
                    self.push_small(t, c, repo, b, d)
                self.push_small(t, c, repo, config, harness.sha256(config))
                self.put_manifest(t, c, repo, "v1", manifest)
                c.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
                try:
                    barrier.abort()
                except threading.BrokenBarrierError:
                    pass

        threads = [threading.Thread(target=client, args=w) for w in work]
        for th in threads:
            th.start()
        with Phase(self, t) as ph:
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
            for th in threads:
                th.join()
        if errors:
            raise errors[0] if isinstance(errors[0], BenchFailure) else BenchFailure(
                "%s: small pushes: %r" % (t.name, errors[0]))
        nblobs = self.clients * self.per_client
        nreq = self.clients * (2 * (self.per_client + 1) + 1)
        if t.registry:
            self.verify_small(t, work)
        if t.registry and t not in self.extra:  # workload 6 weighs the targets' data directories
            for repo, blobs, config, manifest in work:
                for b, d in blobs:
                    self.note_push(t, d, len(b))
                self.note_push(t, harness.sha256(config), len(config))
                self.note_push(t, harness.sha256(manifest), len(manifest))
        self.record(metric, "blobs/s", t, rnd, nblobs / ph.wall, ph, (nreq, "req"),
                    {"requests_per_s": nreq / ph.wall})

    def verify_small(self, t, work):
        """After the fact: every manifest and 5 blobs of each client, fetched and hashed."""
        c = t.conn()
        try:
            for repo, blobs, config, manifest in work:
                st, h, b = request(c, "GET", "/v2/%s/manifests/v1" % repo, headers={"Accept": OCI_MANIFEST})
                check(st == 200 and b == manifest, "%s: %s manifest read back" % (t.name, repo), st)
                for blob, d in random.sample(blobs, min(5, len(blobs))):
                    st, h, b = request(c, "GET", "/v2/%s/blobs/%s" % (repo, d))
                    check(st == 200 and harness.sha256(b) == d, "%s: %s blob read back" % (t.name, repo), st)
        finally:
            c.close()

    def w6_memory_storage(self):
        """6: peak RSS of everything serving over the run; data growth / distinct bytes pushed."""
        self.sample_rss()
        out = {}
        for t in self.targets:
            rss = sum(self.hwm.get(t.name, {}).values()) / 1024
            entry = {"peak_rss_mib": round(rss, 1), "processes": len(self.hwm.get(t.name, {}))}
            if t.registry and t.data_dir:
                os.sync()
                alloc, apparent, files = disk_usage(t.data_dir)
                pushed = sum(self.pushed.get(t.name, {}).values())
                entry.update({"data_allocated_bytes": alloc, "data_apparent_bytes": apparent, "files": files,
                              "distinct_bytes_pushed": pushed,
                              "growth": alloc / pushed if pushed else None,
                              "growth_apparent": apparent / pushed if pushed else None})
            out[t.name] = entry
        return out

    # ---------------------------------------------------------- run
    def w7_slow(self, rnd):
        """7: SLOW_UPLOADS uploads trickling in at each of SLOW_RATES; probes meanwhile."""
        for t in self.order(rnd):
            if not t.registry:
                continue
            if t.name not in self.fixtures:
                self.setup_w4(t)
            fx = self.fixtures[t.name]
            probes = [("GET", "/v2/", {}), ("HEAD", fx["head"], {}),
                      ("GET", fx["manifest"], {"Accept": OCI_MANIFEST})]
            for rate in SLOW_RATES:
                c = t.conn()
                try:
                    locs = [start_upload(c, "bench/slow") for _ in range(SLOW_UPLOADS)]
                finally:
                    c.close()
                size = int(rate * (self.duration + 10))
                ups = [trickle.Trickle(t.port, loc, size, os.urandom(16)) for loc in locs]
                feeder = trickle.Feeder(ups, rate)
                bad = []
                try:
                    time.sleep(1)  # until all have arrived
                    with Phase(self, t) as ph:
                        lat = trickle.probe(t.port, probes, self.duration, 100, 10,
                                            lambda p, st, took: st == 200 or bad.append((p[:2], st)))
                    check(not bad, "%s: probes beside slow uploads failed" % t.name, bad[:3])
                    gone = [i for i, u in enumerate(ups) if u.answered()]
                    check(not gone, "%s: slow uploads answered before their end" % t.name, gone)
                finally:
                    feeder.stop()
                c = t.conn()
                try:
                    for u in ups:
                        st, h, _ = u.finish()
                        loc = h.get("location")
                        check(st == 202 and loc, "%s: slow PATCH: want 202" % t.name, st)
                        st, h, b = request(c, "PUT", with_digest(location_path(loc), u.digest()))
                        check(st == 201, "%s: PUT after slow PATCH: want 201" % t.name, st, b)
                        check_digest_header(t, h, u.digest(), "%s: slow upload" % t.name)
                        self.note_push(t, u.digest(), u.size)
                finally:
                    c.close()
                label = "%d B/s" % rate if rate < 1000 else "%d KB/s" % (rate // 1000)
                for q in (0.5, 0.99):
                    self.record("7 probe p%d, %d at %s" % (q * 100, SLOW_UPLOADS, label), "ms", t, rnd,
                                1000 * trickle.percentile(lat, q), ph, (len(lat), "req"))

    def idle_thread_memory(self):
        """6: VmRSS and VmSize of an idle responder with 72 threads less one with 8, per thread."""
        sizes = {}
        for n in (8, 72):
            reg = harness.Registry(threads=n, config={"fcgi": {"threads": n}})
            reg.start()
            try:
                time.sleep(1)
                pid = reg.responder_pids()[0]
                with open("/proc/%d/status" % pid) as f:
                    st = dict(line.split(":", 1) for line in f)
                check(int(st["Threads"]) >= n, "responder with %d threads has %s" % (n, st["Threads"]))
                sizes[n] = (int(st["VmRSS"].split()[0]), int(st["VmSize"].split()[0]))
            finally:
                reg.cleanup()
        return {"rss_kib": (sizes[72][0] - sizes[8][0]) / 64, "virtual_kib": (sizes[72][1] - sizes[8][1]) / 64}

    WORKLOADS = {"1": "w1_push", "2": "w2_chunked", "3": "w3_pull", "4": "w4_small", "5": "w5_pushes",
                 "7": "w7_slow", "8": "w8_slow_disk"}

    MEMORY = True  # workload 6 after the others

    def make_targets(self, threads):
        return [OctoserveTarget("lighttpd", threads), OctoserveTarget("nginx", threads),
                DistributionTarget(self.tmp),
                LighttpdCeiling(self.tmp, self.www, self.null_bin, threads),
                NginxCeiling(self.tmp, self.www, self.null_bin, threads)]

    def run(self):
        self.tmp = tempfile.mkdtemp(prefix="octoserve-bench-")
        self.www = os.path.join(self.tmp, "www")
        os.makedirs(os.path.join(self.www, "static"))
        self.targets = self.make_targets(self.args.threads)
        only = self.args.only
        rounds = self.args.rounds or (1 if self.quick else 3)
        try:
            for t in self.targets:
                t.start()
                print("started %-14s on 127.0.0.1:%d (pids %s)" % (t.name, t.port, sorted(t.pids())), flush=True)
            self.sample_rss()
            for rnd in range(rounds):
                print("round %d" % (rnd + 1), flush=True)
                for w, fn in self.WORKLOADS.items():
                    if only in (None, w):
                        getattr(self, fn)(rnd + 1)
            if only in (None, "6") and self.MEMORY:
                self.storage = self.w6_memory_storage()
                self.idle_thread = self.idle_thread_memory()
            else:
                self.storage = self.idle_thread = None
        finally:
            stop_targets(self.targets)
            if not self.args.keep:
                shutil.rmtree(self.tmp, ignore_errors=True)

    # ---------------------------------------------------------- report
    def summary(self):
        s = {}
        for metric, per in self.results.items():
            s[metric] = {}
            for name, recs in per.items():
                vals = [r["value"] for r in recs]
                cpu_key = next((k for k in recs[0] if k.startswith("cpu_per_")), None)
                cpus = [r[cpu_key] for r in recs if cpu_key and r.get(cpu_key) is not None]
                s[metric][name] = {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
                                   "n": len(vals), "disturbed_rounds": sum("disturbed" in r for r in recs)}
                if cpus:
                    s[metric][name][cpu_key] = statistics.median(cpus)
            s[metric]["ratios"] = self.ratios({n: v["median"] for n, v in s[metric].items()})
        return s

    @staticmethod
    def ratios(med):
        r = {}
        for f in ("lighttpd", "nginx"):
            o = med.get("octo-" + f)
            if o is None:
                continue
            if med.get("distribution"):
                r["octo-%s/distribution" % f] = o / med["distribution"]
            if med.get("ceil-" + f):
                r["octo-%s/ceil-%s" % (f, f)] = o / med["ceil-" + f]
        return r

    # the table's ratio columns: heading, and the key of ratios()
    RATIO_COLS = ["lh/dist", "ngx/dist", "lh/ceil", "ngx/ceil"]
    RATIO_KEYS = ["octo-lighttpd/distribution", "octo-nginx/distribution", "octo-lighttpd/ceil-lighttpd",
                  "octo-nginx/ceil-nginx"]

    def table(self, summary):
        names = [t.name for t in self.targets]
        ratio_cols, ratio_keys = self.RATIO_COLS, self.RATIO_KEYS
        lines = []
        head = "%-24s %-8s" % ("workload", "unit") + "".join("%22s" % n for n in names) + \
            "".join("%9s" % c for c in ratio_cols)
        lines += [head, "-" * len(head)]

        def fmt(v):
            return ("%.0f" % v) if abs(v) >= 100 else ("%.1f" % v) if abs(v) >= 10 else ("%.2f" % v) \
                if abs(v) >= 1 else ("%.3f" % v)

        for metric in sorted(summary):
            row = summary[metric]
            cells = []
            for n in names:
                v = row.get(n)
                if v is None:
                    cells.append("%22s" % "-")
                    continue
                mark = "!" if v["disturbed_rounds"] else ""
                if v["n"] > 1:
                    cells.append("%22s" % ("%s [%s-%s]%s" % (fmt(v["median"]), fmt(v["min"]), fmt(v["max"]), mark)))
                else:
                    cells.append("%22s" % (fmt(v["median"]) + mark))
            rr = row["ratios"]
            lines.append("%-24s %-8s" % (metric, self.units[metric]) + "".join(cells)
                         + "".join("%9s" % ("%.2f" % rr[k] if k in rr else "-") for k in ratio_keys))
            cpu_key = next((k for n in names if n in row for k in row[n] if k.startswith("cpu_per_")), None)
            if cpu_key:
                per = "GB" if cpu_key.endswith("GB") else "req"
                scale, unit = (1, "cpu s/GB") if per == "GB" else (1e6, "cpu us/rq")
                lines.append("%-24s %-8s" % ("", unit) + "".join(
                    "%22s" % (fmt(row[n][cpu_key] * scale) if n in row and cpu_key in row[n] else "-")
                    for n in names))
        if self.storage:
            rss = {n: v["peak_rss_mib"] for n, v in self.storage.items()}
            rr = self.ratios(rss)
            lines.append("%-24s %-8s" % ("6 peak RSS (serving)", "MiB") + "".join(
                "%22s" % fmt(rss[n]) for n in names) + "".join(
                "%9s" % ("%.2f" % rr[k] if k in rr else "-") for k in ratio_keys))
            g = {n: v["growth"] for n, v in self.storage.items() if v.get("growth")}
            rr = self.ratios(g)
            lines.append("%-24s %-8s" % ("6 data growth", "x") + "".join(
                "%22s" % ("%.4f" % g[n] if n in g else "-") for n in names) + "".join(
                "%9s" % ("%.2f" % rr[k] if k in rr else "-") for k in ratio_keys))
            ga = {n: v["growth_apparent"] for n, v in self.storage.items() if v.get("growth_apparent")}
            lines.append("%-24s %-8s" % ("  (apparent size)", "x") + "".join(
                "%22s" % ("%.4f" % ga[n] if n in ga else "-") for n in names))
        if self.idle_thread:
            lines.append("%-24s %-8s %21.1f  (virtual: %.0f KiB)" % (
                "6 idle responder thread", "KiB", self.idle_thread["rss_kib"], self.idle_thread["virtual_kib"]))
        return "\n".join(lines)


def versions():
    def first_line(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (out.stdout + out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return None
    return {"lighttpd": first_line([LIGHTTPD, "-v"]), "nginx": first_line([NGINX, "-v"]),
            "docker-registry": first_line([DISTRIBUTION, "--version"]), "wrk": first_line(["wrk", "-v"]),
            "curl": first_line(["curl", "--version"]), "python": sys.version.split()[0],
            "kernel": platform.release()}


def prepare_binaries(args, tmp_bin):
    """Snapshot octoserve-fcgi (others may rebuild it during the run) and build null-responder
    if no built one is given."""
    global harness, fronts, trickle
    src = args.fcgi_bin or os.environ.get("OCTOTEST_FCGI_BIN") or os.path.join(BUILDDIR, "fcgi/octoserve-fcgi")
    check(os.path.exists(src), "no octoserve-fcgi at %s (make fcgi/octoserve-fcgi)" % src)
    with open(src, "rb") as f:
        elf = f.read(4) == b"\x7fELF"
    fcgi = src
    if elf:
        fcgi = os.path.join(tmp_bin, "octoserve-fcgi")
        shutil.copy2(src, fcgi)
    os.environ["OCTOTEST_FCGI_BIN"] = fcgi
    sys.path.insert(0, os.path.join(SRCDIR, "tests/http"))
    import harness as h  # noqa: E402
    import fronts as fr  # noqa: E402
    import trickle as tr  # noqa: E402
    harness, fronts, trickle = h, fr, tr
    null = args.null_responder or os.path.join(BUILDDIR, "tests/bench/null-responder")
    csrc = os.path.join(HERE, "null-responder.c")
    if not os.path.exists(null) or os.path.getmtime(null) < os.path.getmtime(csrc):
        null = os.path.join(tmp_bin, "null-responder")
        subprocess.run(["gcc", "-O2", "-Wall", "-o", null, csrc, "-lfcgi", "-lpthread"], check=True)
    st = os.stat(src)
    with open(fcgi, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return null, {"path": src, "sha256": digest, "mtime": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(st.st_mtime))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round, 64 MiB blobs, 3 s runs, 8x10 small pushes")
    ap.add_argument("--rounds", type=int, help="rounds (default 3, --quick 1)")
    ap.add_argument("--only", choices=sorted(list(Bench.WORKLOADS) + ["6"]), help="one workload")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--threads", type=int, default=8, help="fcgi.threads / null-responder threads (8)")
    ap.add_argument("--duration", type=int, help="seconds per hey/wrk run (10, --quick 3)")
    ap.add_argument("--fcgi-bin", help="octoserve-fcgi to measure (default: the build's)")
    ap.add_argument("--null-responder", help="a built null-responder (default: build one)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    tmp_bin = tempfile.mkdtemp(prefix="octoserve-bench-bin-")
    bench = None
    failure = None
    started = time.time()
    try:
        null, binary = prepare_binaries(args, tmp_bin)
        bench = Bench(args)
        bench.null_bin = null
        bench.binary = binary
        bench.run()
    except BenchFailure as e:
        failure = str(e)
        print("FAILED: " + failure, file=sys.stderr)
    finally:
        shutil.rmtree(tmp_bin, ignore_errors=True)
    if bench is None:
        return 1
    return report(bench, args, started, failure, "Octoserve benchmark",
                  "ratios of medians: octo-lighttpd (lh) / octo-nginx (ngx) over distribution and"
                  " over the same front's ceiling")


def report(bench, args, started, failure, title, ratios):
    """The run's JSON (args.json) and its table on stdout; the exit status."""
    summary = bench.summary()
    doc = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
           "duration_s": round(time.time() - started, 1), "host": platform.node(), "cpus": os.cpu_count(),
           "args": vars(args), "octoserve_fcgi": getattr(bench, "binary", None), "versions": versions(),
           "sizes": {"blob": bench.blob_size, "chunk": bench.chunk, "duration_s": bench.duration,
                     "clients": bench.clients, "blobs_per_client": bench.per_client, "tags": bench.ntags},
           "failed": failure, "results": bench.results, "summary": summary,
           "memory_storage": getattr(bench, "storage", None),
           "idle_thread": getattr(bench, "idle_thread", None), "disturbances": bench.disturbances}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    print()
    print("%s, %s, %s, %d CPUs, %s round(s)%s" % (
        title, doc["date"], doc["host"], doc["cpus"], args.rounds or (1 if args.quick else 3),
        " (quick)" if args.quick else ""))
    print("median [min-max]; %s; '!' = a disturbed round" % ratios)
    print(bench.table(summary))
    if bench.disturbances:
        print("\nDisturbed phases:")
        for d in bench.disturbances:
            print("  " + d)
    if failure:
        print("\nFAILED: " + failure)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
