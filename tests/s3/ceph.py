# SPDX-License-Identifier: Apache-2.0
"""Single-node Ceph (mon + memstore osd + radosgw) test fixture.

Stdlib only.  Runs as root, no systemd, loopback only; every file the
daemons write lives under one scratch directory; daemons are stopped by PID.

    from ceph_fixture import Ceph
    with Ceph("/tmp/some/dir") as c:      # or c = Ceph(d); c.start(); ...; c.stop()
        c.endpoint, c.access_key, c.secret_key, c.region

Requires the Debian 12 packages ceph-mon ceph-osd radosgw ceph-common.
"""

import datetime
import hashlib
import hmac
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

CONF_TEMPLATE = """\
[global]
fsid = {fsid}
mon host = [v2:127.0.0.1:{mon_v2},v1:127.0.0.1:{mon_v1}]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
ms mon client mode = crc
run dir = {d}/run
crash dir = {d}/crash
log file = {d}/log/$cluster-$name.log
mon cluster log file = {d}/log/$cluster.log
keyring = {d}/keyring
pid file =
admin socket =
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon data avail crit = 1
mon data avail warn = 2
paxos propose interval = 0.1
mon osd auto mark new in = true
osd crush chooseleaf type = 0

[mon]
mon data = {d}/mon/$cluster-$id
admin socket = {d}/run/$cluster-$name.asok
pid file = {d}/run/$name.pid

[osd]
osd objectstore = memstore
memstore device bytes = {memstore_bytes}
osd data = {d}/osd/$cluster-$id
admin socket = {d}/run/$cluster-$name.asok
pid file = {d}/run/$name.pid
osd op num shards = 1
osd op num threads per shard = 2

[client.rgw.a]
rgw data = {d}/rgw
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
admin socket = {d}/run/$cluster-$name.asok
pid file = {d}/run/$name.pid
rgw thread pool size = 16
rgw dynamic resharding = false
rgw exit timeout secs = {rgw_exit_timeout}
"""


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _sha256(b):
    return hashlib.sha256(b).hexdigest()


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def _signing_key(secret, date, region, service="s3"):
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def _canon_query(params):
    q = lambda s: urllib.parse.quote(s, safe="-_.~")
    return "&".join("%s=%s" % (q(k), q(v)) for k, v in sorted(params))


def sigv4_headers(method, url, access_key, secret_key, region, body=b"",
                  payload_hash=None, now=None):
    """Headers for a SigV4-signed request (header auth)."""
    u = urllib.parse.urlsplit(url)
    now = now or datetime.datetime.utcnow()
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    payload_hash = payload_hash or _sha256(body)
    headers = {"host": u.netloc, "x-amz-date": amz_date,
               "x-amz-content-sha256": payload_hash}
    signed = ";".join(sorted(headers))
    canon = "\n".join([
        method, urllib.parse.quote(u.path or "/", safe="/-_.~"),
        _canon_query(urllib.parse.parse_qsl(u.query, keep_blank_values=True)),
        "".join("%s:%s\n" % (k, headers[k]) for k in sorted(headers)),
        signed, payload_hash])
    scope = "%s/%s/s3/aws4_request" % (date, region)
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, _sha256(canon.encode())])
    sig = hmac.new(_signing_key(secret_key, date, region), sts.encode(),
                   hashlib.sha256).hexdigest()
    headers["authorization"] = (
        "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
        % (access_key, scope, signed, sig))
    return headers


def presign_url(method, url, access_key, secret_key, region, expires=300,
                now=None):
    """SigV4 query-string presigned URL (UNSIGNED-PAYLOAD, host signed)."""
    u = urllib.parse.urlsplit(url)
    now = now or datetime.datetime.utcnow()
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    scope = "%s/%s/s3/aws4_request" % (date, region)
    params = urllib.parse.parse_qsl(u.query, keep_blank_values=True) + [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", "%s/%s" % (access_key, scope)),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    cq = _canon_query(params)
    path = urllib.parse.quote(u.path or "/", safe="/-_.~")
    canon = "\n".join([method, path, cq, "host:%s\n" % u.netloc, "host",
                       "UNSIGNED-PAYLOAD"])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, _sha256(canon.encode())])
    sig = hmac.new(_signing_key(secret_key, date, region), sts.encode(),
                   hashlib.sha256).hexdigest()
    return "%s://%s%s?%s&X-Amz-Signature=%s" % (u.scheme, u.netloc, path, cq, sig)


class CephError(RuntimeError):
    pass


class Ceph:
    access_key = "OCTOSERVETESTKEY0001"
    secret_key = "octoserve-test-secret-key-0000000000000001"
    # radosgw uses whatever region the client puts in the credential scope;
    # "us-east-1" and the zonegroup name "default" both verify.
    region = "us-east-1"

    def __init__(self, directory, memstore_bytes=2 << 30, timeout=120,
                 rgw_exit_timeout=5):
        self.dir = os.path.abspath(directory)
        self.memstore_bytes = memstore_bytes
        self.timeout = timeout
        self.rgw_exit_timeout = rgw_exit_timeout
        self.conf = os.path.join(self.dir, "ceph.conf")
        self.procs = {}          # name -> Popen
        self.endpoint = None
        self.rgw_port = None
        self.timings = {}

    # -- helpers -------------------------------------------------------
    def _env(self):
        env = dict(os.environ)
        env["CEPH_CONF"] = self.conf
        return env

    def _run(self, *args, timeout=60, check=True):
        p = subprocess.run(list(args), cwd=self.dir, env=self._env(),
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise CephError("%s failed (%d): %s%s" % (
                " ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def ceph(self, *args, timeout=30, check=True):
        return self._run("ceph", "-c", self.conf, "--connect-timeout",
                         str(max(1, int(timeout) - 1)), *args,
                         timeout=timeout, check=check)

    def _spawn(self, name, *args):
        out = open(os.path.join(self.dir, "log", name + ".out"), "ab")
        p = subprocess.Popen(list(args), cwd=self.dir, env=self._env(),
                             stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, start_new_session=True)
        out.close()
        self.procs[name] = p
        with open(os.path.join(self.dir, "run", name + ".fixture.pid"), "w") as f:
            f.write("%d\n" % p.pid)
        return p

    def _check_alive(self):
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise CephError("%s exited with %s; see %s/log" %
                                (name, p.returncode, self.dir))

    def _wait(self, what, fn, deadline, interval=0.1):
        while True:
            self._check_alive()
            try:
                if fn():
                    return
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise CephError("timeout waiting for " + what)
            time.sleep(interval)

    def _http(self, method, path, headers=None, body=None, timeout=5):
        req = urllib.request.Request(self.endpoint + path, data=body,
                                     method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def signed(self, method, path, body=b""):
        h = sigv4_headers(method, self.endpoint + path, self.access_key,
                          self.secret_key, self.region, body)
        return self._http(method, path, h, body or None)

    def make_bucket(self, name):
        status, body = self.signed("PUT", "/" + name)
        if status != 200:
            raise CephError("creating bucket %s: %d %r" % (name, status, body))
        return name

    def stop_rgw(self):
        """Stop radosgw alone (SIGTERM by PID), the cluster underneath left running."""
        p = self.procs.pop("client.rgw.a")
        self._signal(p, signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            self._signal(p, signal.SIGKILL)
            p.wait()

    def start_rgw(self, timeout=60):
        """Start radosgw again on its port, and wait until it answers signed requests."""
        self._spawn("client.rgw.a", "radosgw", "-c", self.conf, "-f", "-n", "client.rgw.a")
        deadline = time.monotonic() + timeout
        self._wait("signed S3 request", lambda: self.signed("GET", "/")[0] == 200, deadline)

    def settings(self):
        """What tests/http/harness.py takes from $OCTOTEST_S3 to put a registry's store in a
        bucket of its own."""
        return {"endpoint": self.endpoint, "access_key": self.access_key,
                "secret_key": self.secret_key, "region": self.region}

    # -- lifecycle -----------------------------------------------------
    def start(self):
        t0 = time.monotonic()
        deadline = t0 + self.timeout
        try:
            self._start(deadline)
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - t0
        return self

    def _mark(self, name):
        self.timings[name] = time.monotonic() - self._t0

    def _start(self, deadline):
        self._t0 = time.monotonic()
        d = self.dir
        # a mon or osd left from an earlier start would make mkfs wait for it
        for sub in ("mon", "osd"):
            shutil.rmtree(os.path.join(d, sub), ignore_errors=True)
        for sub in ("run", "log", "crash", "rgw", "mon/ceph-a", "osd/ceph-0"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        mon_v2, mon_v1, self.rgw_port = free_port(), free_port(), free_port()
        while len({mon_v2, mon_v1, self.rgw_port}) < 3:
            mon_v1, self.rgw_port = free_port(), free_port()
        self.endpoint = "http://127.0.0.1:%d" % self.rgw_port
        fsid = str(uuid.uuid4())
        with open(self.conf, "w") as f:
            f.write(CONF_TEMPLATE.format(
                fsid=fsid, d=d, mon_v2=mon_v2, mon_v1=mon_v1,
                rgw_port=self.rgw_port, memstore_bytes=self.memstore_bytes,
                rgw_exit_timeout=self.rgw_exit_timeout))

        # mon
        monmap = os.path.join(d, "monmap")
        self._run("monmaptool", "--create", "--clobber", "--fsid", fsid,
                  "--addv", "a", "[v2:127.0.0.1:%d,v1:127.0.0.1:%d]"
                  % (mon_v2, mon_v1), monmap)
        self._run("ceph-mon", "-c", self.conf, "--mkfs", "-i", "a",
                  "--monmap", monmap)
        self._spawn("mon.a", "ceph-mon", "-c", self.conf, "-f", "-i", "a")
        # osd mkfs does not need the mon: do it while the mon comes up
        osd_uuid = str(uuid.uuid4())
        self._run("ceph-osd", "-c", self.conf, "-i", "0", "--mkfs",
                  "--osd-uuid", osd_uuid)
        self._mark("mon_spawned+osd_mkfs")
        # `ceph osd new` needs a working mon; it retries until connected
        self._wait("osd new", lambda: self.ceph(
            "osd", "new", osd_uuid, "0", timeout=15).stdout.strip() == "0",
            deadline)
        self._mark("osd_new")
        self._spawn("osd.0", "ceph-osd", "-c", self.conf, "-f", "-i", "0")
        # radosgw creates its pools itself; it blocks until the osd is up
        self._spawn("client.rgw.a", "radosgw", "-c", self.conf, "-f",
                    "-n", "client.rgw.a")
        self._wait("radosgw http", lambda: self._http("GET", "/", timeout=2)[0]
                   == 200, deadline)
        self._mark("rgw_http")
        self._run("radosgw-admin", "-c", self.conf, "user", "create",
                  "--uid=test", "--display-name=test",
                  "--access-key=" + self.access_key,
                  "--secret=" + self.secret_key, timeout=60)
        self._mark("user_created")
        self._wait("signed S3 request", lambda: self.signed("GET", "/")[0]
                   == 200, deadline)
        self._mark("s3_ready")

    def pids(self):
        return {n: p.pid for n, p in self.procs.items() if p.poll() is None}

    def stop(self, timeout=15):
        """SIGTERM every daemon by PID; SIGKILL whatever is left after timeout.

        One at a time, rgw -> osd -> mon: an rgw whose osd is gone hangs in
        shutdown until its exit alarm (rgw exit timeout secs); an osd whose mon
        is gone waits osd_mon_shutdown_timeout (5 s) for an ack.
        """
        t0 = time.monotonic()
        end = t0 + timeout
        for phase in (("client.rgw.a",), ("osd.0",), ("mon.a",)):
            names = [n for n in phase if n in self.procs]
            for n in names:
                self._signal(self.procs[n], signal.SIGTERM)
            for n in names:
                p = self.procs[n]
                try:
                    p.wait(max(0.0, end - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self._signal(p, signal.SIGKILL)
                    p.wait()
        self.procs.clear()
        self.timings["stop"] = time.monotonic() - t0

    @staticmethod
    def _signal(p, sig):
        if p.poll() is None:
            try:
                os.kill(p.pid, sig)
            except ProcessLookupError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
