# SPDX-License-Identifier: Apache-2.0
"""Real octoserve-peer daemons for tests: each with its own store, configuration and free
loopback port, started and stopped by PID."""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "http"))
from harness import Registry, free_port, wrapped_env  # noqa: E402

SRCDIR = os.environ.get("OCTOTEST_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILDDIR = os.environ.get("OCTOTEST_BUILDDIR", SRCDIR)
PEER = os.path.join(BUILDDIR, "peer", "octoserve-peer")

STARTED = '"msg":"peer daemon started"'
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def faketime_env(offset):
    """The daemon's clock offset (e.g. "+10m") by libfaketime preloaded into the daemon
    itself (the faketime command would fork it: a signal to the command would not reach
    it). Monotonic waits stay real."""
    return {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


class Daemon:
    def __init__(self, tmp, node_id, p2p=None, port=None):
        self.dir = os.path.join(tmp, node_id)
        os.makedirs(self.dir, exist_ok=True)
        self.node_id = node_id
        self.port = port or free_port()
        self.address = "127.0.0.1:%d" % self.port
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "peer.log")
        cfg = {"storage": {"path": self.data},
               "logging": {"output": self.log},
               "p2p": {"enabled": True, "node_id": node_id, "port": self.port}}
        for k, v in (p2p or {}).items():
            cfg["p2p"][k] = v
        self.config = os.path.join(self.dir, "octoserve.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f)
        self.proc = None
        self.wrapped = False

    def start(self, env=None, wrap=None):
        """env: variables added to the daemon's (e.g. faketime_env()); wrap: a command it
        runs under (strace, which passes signals on to it)."""
        self.wrapped = bool(wrap)
        self.starts_logged = self.log_text().count(STARTED)
        env = dict(os.environ, **(env or {}))
        if wrap or "LD_PRELOAD" in env:
            env = wrapped_env(env)
        self.proc = subprocess.Popen((wrap or []) + [PEER, "-c", self.config], env=env)
        return self

    def pid(self):
        """The daemon's own PID (under a wrap, the wrapper's child)."""
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    with open("/proc/%s/cmdline" % name, "rb") as f:
                        argv = f.read().split(b"\0")
                except OSError:
                    continue
                if argv[0] == PEER.encode() and self.config.encode() in argv:
                    return int(name)
        return None

    def wait_started(self, timeout=20):
        """Until the daemon logged this start (its port is bound); self."""
        t0 = time.monotonic()
        while self.log_text().count(STARTED) <= self.starts_logged:
            if time.monotonic() - t0 > timeout or self.proc.poll() is not None:
                raise RuntimeError("%s did not start: %s" % (self.node_id, self.log_text()))
            time.sleep(0.02)
        return self

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self, sig=signal.SIGTERM):
        own = self.pid() if self.proc is not None and self.wrapped else None
        if own is not None and own != self.proc.pid:
            os.kill(own, sig)  # under a wrap: the daemon itself (a killed strace leaves it)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            rc = self.proc.wait(timeout=30)
            self.proc = None
            return rc
        self.proc = None
        return None

    def status(self):
        """`octoserve-peer status --json`, or None while there is none yet."""
        r = subprocess.run([PEER, "-c", self.config, "status", "--json"], capture_output=True,
                           text=True)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def states(self):
        """{member id: state} as the daemon last wrote them (its status file, read
        directly: quicker to poll than the command)."""
        try:
            with open(os.path.join(self.data, "peer", "status.json")) as f:
                st = json.load(f)
        except (FileNotFoundError, ValueError):
            return {}
        return {m["id"]: m["state"] for m in st["members"]}


def make_ca(d, name):
    """A self-signed CA made with the openssl command: d/name.pem and d/name.key."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=" + name,
                    "-keyout", os.path.join(d, name + ".key"), "-out", os.path.join(d, name + ".pem")],
                   check=True, capture_output=True)


def make_cert(d, ca, name, san):
    """A certificate for the node id san (subjectAltName DNS:san) signed by the CA ca of
    make_ca: the p2p.tls section that uses it, with ca as the CA trusted."""
    cert, key = os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=" + san,
                    "-addext", "subjectAltName=DNS:" + san,
                    "-addext", "basicConstraints=critical,CA:FALSE",
                    "-CA", os.path.join(d, ca + ".pem"), "-CAkey", os.path.join(d, ca + ".key"),
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return {"cert": cert, "key": key, "ca": os.path.join(d, ca + ".pem")}


def metrics(node):
    """{(name, sorted labels): value} of one scrape of a Node's /metrics (Debian's
    python3-prometheus-client parses it)."""
    if "/usr/lib/python3/dist-packages" not in sys.path:
        sys.path.append("/usr/lib/python3/dist-packages")
    from prometheus_client.parser import text_string_to_metric_families
    r = node.reg.request("GET", "/metrics")
    assert r.status == 200, r
    out = {}
    for family in text_string_to_metric_families(r.body.decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def holders(ids, digest, factor):
    """lib/placement.c's rendezvous hashing, for tests to know where a blob belongs: the
    factor ids of highest weight (the first 8 bytes of sha256(id NUL digest))."""
    def weight(member):
        return int.from_bytes(hashlib.sha256(member.encode() + b"\0" + digest.encode())
                              .digest()[:8], "big")
    return set(sorted(ids, key=lambda m: (weight(m), m), reverse=True)[:factor])


def blob_file(node, digest):
    """Where a Node's store keeps a blob's content."""
    hexd = digest.split(":", 1)[1]
    return os.path.join(node.reg.data, "blobs", "sha256", hexd[:2], hexd)


def served(node, img, by_tag=False):
    """Whether node serves img ({"repo", "tag", "manifest", "blobs"}) byte for byte: its
    manifest (by digest, or by tag) and every blob."""
    ref = img["tag"] if by_tag else "sha256:" + hashlib.sha256(img["manifest"]).hexdigest()
    r = node.get("/v2/%s/manifests/%s" % (img["repo"], ref))
    if r.status != 200 or r.body != img["manifest"]:
        return False
    for b in img["blobs"]:
        r = node.get("/v2/%s/blobs/sha256:%s" % (img["repo"], hashlib.sha256(b).hexdigest()))
        if r.status != 200 or r.body != b:
            return False
    return True


def wait_for(what, timeout):
    """Poll what() until it is true; the seconds it took, or None at the timeout."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if what():
            return time.monotonic() - t0
        time.sleep(0.05)
    return None


HEALTH = {"interval": "200ms", "timeout": "1s", "failure_threshold": 2, "workers": 4}
OCI = "application/vnd.oci.image.manifest.v1+json"


def merged(base, extra):
    out = dict(base)
    for k, v in extra.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class Node:
    """A registry (web front + responder, tests/http/harness.py) and a peer daemon over one
    store, one node id; p2p (keys of the p2p section) goes to both."""

    def __init__(self, tmp, node_id, bootstrap=(), port=None, p2p=None, wrap=None,
                 storage=None, daemon_logging=None):
        """storage: keys of the storage section for both (a path elsewhere, say);
        daemon_logging: keys of the daemon's logging section (its level, say)."""
        self.node_id = node_id
        self.peer_port = port or free_port()
        self.reg = Registry(config={"p2p": merged({"enabled": True, "node_id": node_id},
                                                  p2p or {}), "storage": storage or {}})
        if storage and "path" in storage:
            self.reg.data = storage["path"]
        self.reg.__enter__()
        self.daemon = Daemon(tmp, node_id, merged({"bootstrap_peers": list(bootstrap),
                                                   "health_check": HEALTH}, p2p or {}),
                             port=self.peer_port)
        with open(self.daemon.config) as f:
            cfg = json.load(f)
        cfg["storage"] = merged(cfg["storage"], storage or {})
        cfg["storage"]["path"] = self.reg.data
        cfg["logging"] = merged(cfg.get("logging", {}), daemon_logging or {})
        with open(self.daemon.config, "w") as f:
            json.dump(cfg, f)
        self.daemon.data = self.reg.data
        self.daemon.start(wrap=wrap)

    def get(self, path, headers=None):
        return self.reg.request("GET", path, headers=headers or {"Accept": OCI})

    def close(self):
        self.daemon.stop(signal.SIGKILL)
        self.reg.__exit__(None, None, None)
