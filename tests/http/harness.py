# SPDX-License-Identifier: Apache-2.0
"""Test harness: a real lighttpd spawning the real responder, on a free loopback port.

Registry() writes an Octoserve configuration (with overrides), has
contrib/lighttpd/mkconf.sh turn it into a lighttpd configuration, starts lighttpd in the
foreground and stops it by PID. Only 127.0.0.1 is ever contacted.
"""
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import urllib.request
import uuid
import sys

import fronts

SRCDIR = os.environ.get("OCTOTEST_SRCDIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
BUILDDIR = os.environ.get("OCTOTEST_BUILDDIR", SRCDIR)
FCGI_BIN = os.environ.get("OCTOTEST_FCGI_BIN", os.path.join(BUILDDIR, "fcgi/octoserve-fcgi"))
ADMIN_BIN = os.path.join(os.path.dirname(FCGI_BIN), "..", "admin", "octoserve-admin")
LIGHTTPD = shutil.which("lighttpd") or "/usr/sbin/lighttpd"


def sanitized():
    """Whether the programs under test are built with the sanitizers (their allocator keeps
    freed memory in quarantine, so resident sizes say nothing there)."""
    try:
        with open(os.path.join(BUILDDIR, "autoconfig.h")) as f:
            return "#define OCTO_SANITIZERS" in f.read()
    except OSError:
        return False


def wrapped_env(env):
    """env for a program run under a wrapper (strace) or with a preload (faketime): under
    the sanitizers LeakSanitizer cannot run under ptrace, and a preload comes before the
    ASan runtime, which ASan refuses unless told."""
    if not env.get("ASAN_OPTIONS"):
        return env
    return dict(env, ASAN_OPTIONS=env["ASAN_OPTIONS"] + ":detect_leaks=0:verify_asan_link_order=0")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_htpasswd(path, users):
    """path, a new htpasswd file of users ({name: password}) in bcrypt at its lowest cost (4):
    every login checks one, and the suites log in often."""
    for i, (user, pw) in enumerate(users.items()):
        subprocess.run(["htpasswd", "-bB", "-C", "4"] + (["-c"] if i == 0 else []) + [path, user, pw],
                       check=True, capture_output=True)


def deep_merge(base, extra):
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_merge(base[k], v)
        else:
            base[k] = v
    return base


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case name -> value (last one wins)
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body)

    def error_code(self):
        return self.json()["errors"][0]["code"]

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers, self.body[:200])


class TmpfsStore:
    """A registry whose store is a tmpfs of its own (size as mount takes it), mounted before
    the registry starts; `with TmpfsStore(reg) as reg:` starts it (unless start=False) and at
    the end stops it, unmounts and cleans up."""

    def __init__(self, reg, size="16m", start=True):
        self.reg, self.size, self.start = reg, size, start

    def __enter__(self):
        os.makedirs(self.reg.data)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + self.size, "tmpfs",
                        self.reg.data], check=True)
        return self.reg.start() if self.start else self.reg

    def __exit__(self, *exc):
        self.reg.stop()
        subprocess.run(["umount", "-l", self.reg.data], stderr=subprocess.DEVNULL)
        self.reg.cleanup()


# The store's content is in a bucket (tests/s3/suites.py): no content file on disk to send
# or to damage, only its placeholder.
IN_BUCKET = bool(os.environ.get("OCTOTEST_S3"))


def s3_bucket(s3):
    """storage.s3 for a fresh bucket on the object store $OCTOTEST_S3 describes
    (tests/s3/suites.py starts a Ceph and sets it)."""
    sys.path.insert(0, os.path.join(SRCDIR, "tests", "s3"))
    from ceph import sigv4_headers  # noqa: E402
    name = "t-" + uuid.uuid4().hex[:20]
    url = "%s/%s" % (s3["endpoint"], name)
    h = sigv4_headers("PUT", url, s3["access_key"], s3["secret_key"], s3["region"])
    req = urllib.request.Request(url, method="PUT", headers=h)
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200, r.status
    return {"endpoint": s3["endpoint"], "region": s3["region"], "bucket": name,
            "access_key": s3["access_key"], "secret_key": s3["secret_key"],
            "path_style": True, "part_size": 5 << 20}


class Registry:
    """A running web front + octoserve-fcgi. Use as a context manager.

    The front is lighttpd spawning the responder (bin-path), or with front="nginx" /
    "apache" (default: $OCTOTEST_FRONT) that server in front of a standalone responder
    (tests/http/fronts.py), each built from its contrib/ configuration."""

    def __init__(self, config=None, env=None, threads=4, front=None, activation=False, procs=1,
                 front_users=None, tls=False):
        self.front_name = front or os.environ.get("OCTOTEST_FRONT", "lighttpd")
        self.front = None
        self.activation = activation  # nginx/Apache: the socket-activated set-up of contrib/systemd
        self.procs = procs  # lighttpd: responder processes (max-procs)
        # an htpasswd file the front authenticates every request with (auth.trust_front)
        self.front_users = front_users
        self.tmp = tempfile.mkdtemp(prefix="octoserve-test-")
        # lighttpd serves HTTPS with a private CA (contrib/mkcert.sh): self.ca is its file
        self.ca = os.path.join(self.tmp, "tls", "ca.crt") if tls else None
        assert not tls or self.front_name == "lighttpd", "TLS is the quick start's: lighttpd only"
        self.data = os.path.join(self.tmp, "data")
        self.run = os.path.join(self.tmp, "run")
        self.port = free_port()
        cfg = {
            "server": {"address": "127.0.0.1", "port": self.port, "shutdown_timeout": "10s"},
            "fcgi": {"threads": threads, "sendfile": "x-sendfile"},
            # The suites share a registry and leave sessions open: caps are tested on
            # registries of their own (test_blobs.SessionLimitTest).
            "storage": {"path": self.data, "max_uploads": 1000000,
                        "max_uploads_per_client": 1000000},
            "logging": {"level": "info", "format": "json",
                        "output": os.path.join(self.tmp, "octoserve.log")},
        }
        if os.environ.get("OCTOTEST_S3"):  # the store's content in a bucket of its own
            cfg["storage"].update(type="s3", s3=s3_bucket(json.loads(os.environ["OCTOTEST_S3"])))
        deep_merge(cfg, config or {})
        self.config_path = os.path.join(self.tmp, "octoserve.json")
        with open(self.config_path, "w") as f:
            json.dump(cfg, f)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None

    def start(self, wrap=None):
        """Start the front; wrap (a list) prefixes the command that runs the responder,
        e.g. strace (for lighttpd, lighttpd's own command: it spawns the responder)."""
        env = wrapped_env(self.env) if wrap else self.env
        if self.front_name != "lighttpd":
            with open(self.config_path) as f:
                sendfile = json.load(f)["fcgi"].get("sendfile") != "none"
            self.front = fronts.FRONTS[self.front_name](
                self.tmp, self.port, self.config_path, self.data, env=env,
                respawn=True, sendfile=sendfile, activation=self.activation,
                front_users=self.front_users).start(wrap=wrap)
            self.proc = self.front.proc
            return self
        pem = ""
        if self.ca:
            subprocess.run(["sh", os.path.join(SRCDIR, "contrib/mkcert.sh"), os.path.dirname(self.ca),
                            "127.0.0.1"], check=True)
            pem = os.path.join(os.path.dirname(self.ca), "server.pem")
        conf = subprocess.check_output(
            [os.path.join(SRCDIR, "contrib/lighttpd/mkconf.sh"), FCGI_BIN, self.run, self.config_path,
             str(self.procs), self.front_users or "", pem],
            env=env, text=True).strip()
        self.proc = subprocess.Popen((wrap or []) + [LIGHTTPD, "-D", "-f", conf], env=env)
        if fronts.wait_for_http(self.port, self.proc, ca=self.ca):
            return self
        self.stop()
        raise RuntimeError("lighttpd did not come up; see %s" % self.run)

    def stop(self):
        if self.front is not None:
            self.front.stop()
            self.front = None
            self.proc = None
            return
        # Under a wrap (strace), SIGTERM to the wrapper only detaches it: stop lighttpd itself,
        # then the wrapper exits once its tracees have (strace: with every trace file complete).
        fronts.stop_process(self.proc, inner=self.lighttpd_pid())
        self.proc = None

    def restart(self, wrap=None):
        """Stop and start again on the same data directory, configuration and port."""
        self.stop()
        return self.start(wrap=wrap)

    def cleanup(self):
        self.stop()
        if os.environ.get("OCTOTEST_KEEP_TMP") is None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    def responder_pids(self):
        """PIDs of the octoserve-fcgi processes: those lighttpd spawned, anywhere below the
        started command (so also when start(wrap=...) put e.g. strace before lighttpd)."""
        if self.front is not None:
            return [p for p in [self.front.responder_pid()] if p]
        if self.proc is None:
            return []
        return sorted(fronts.descendants(self.proc.pid, FCGI_BIN))

    def lighttpd_pid(self):
        """lighttpd's own PID (from its pid file): not self.proc when start() got a wrap."""
        try:
            with open(os.path.join(self.run, "lighttpd.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def connection(self, timeout=60):
        return fronts.connect(self.port, timeout, self.ca)

    def request(self, method, path, body=None, headers=None, chunked=False, conn=None, timeout=60):
        """One request; body may be bytes or an iterable of bytes (with chunked=True)."""
        own = conn is None
        c = conn or self.connection(timeout)
        try:
            hdrs = dict(headers or {})
            if chunked:
                c.putrequest(method, path, skip_accept_encoding=True)
                for k, v in hdrs.items():
                    c.putheader(k, v)
                c.putheader("Transfer-Encoding", "chunked")
                c.endheaders()
                for piece in ([body] if isinstance(body, bytes) else body):
                    if piece:
                        c.send(b"%x\r\n%s\r\n" % (len(piece), piece))
                c.send(b"0\r\n\r\n")
            else:
                if body is None and method in ("POST", "PUT", "PATCH"):
                    body = b""
                c.request(method, path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            if own:
                c.close()

    # Conveniences for tests that need content in place.
    def post_blob(self, repo, data, digest=None):
        """A monolithic upload (POST ?digest=, the digest of data by default); the response."""
        return self.request("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, digest or sha256(data)),
                            body=data, headers={"Content-Type": "application/octet-stream"})

    def push_blob(self, repo, data):
        """A monolithic upload that must answer 201; the digest."""
        r = self.post_blob(repo, data)
        assert r.status == 201, r
        return sha256(data)

    def push_manifest(self, repo, tag):
        """An OCI image manifest with no layers and an empty config, tagged; the digest."""
        config = self.push_blob(repo, b"{}")
        body = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config, "size": 2},
            "layers": []}).encode()
        r = self.request("PUT", "/v2/%s/manifests/%s" % (repo, tag), body=body,
                         headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status == 201, r
        return sha256(body)

    def admin(self, *args, check=True, env=None):
        """octoserve-admin -c <this registry's configuration> args: the finished process, with
        .json the parsed output when args hold --json."""
        p = subprocess.run([ADMIN_BIN, "-c", self.config_path] + list(args), capture_output=True,
                           text=True, env=env or self.env, timeout=300)
        if check and p.returncode != 0:
            raise AssertionError("octoserve-admin %s: %d\n%s%s" % (
                " ".join(args), p.returncode, p.stdout, p.stderr))
        p.json = json.loads(p.stdout) if "--json" in args and p.stdout.strip() else None
        return p

    def journal_lines(self):
        """data/journal/events split at each newline: the last is b"" unless it ends torn."""
        with open(os.path.join(self.data, "journal", "events"), "rb") as f:
            return f.read().split(b"\n")
