# SPDX-License-Identifier: Apache-2.0
"""Web fronts for the tests: nginx and Apache (mod_proxy_fcgi) in front of a standalone
octoserve-fcgi on a unix socket, plus a thin lighttpd one, each on a free loopback port.

Each front is built from its contrib site configuration with only the placeholders
@ADDRESS@, @PORT@, @SOCKET@ and @BLOBS@ substituted, wrapped in a minimal main
configuration (pid, logs, temporary paths, modules, the user) written into a directory of
its own; nothing else of the site configuration changes.

    front = NginxFront(tmp, port, config_path, data_dir, env=env)
    front.start()          # responder, then the front; returns when GET /v2/ answers 200
    ...                    # http://127.0.0.1:<front.port>/v2/
    front.responder_pid()  # the octoserve-fcgi process
    front.stop()           # the front, then the responder, each by PID

The responder is `octoserve-fcgi -c config_path` with OCTOSERVE_FCGI_LISTEN=unix:<sock>
and OCTOSERVE_STORAGE_PATH=<data_dir> on top of env, and OCTOSERVE_FCGI_SENDFILE:
sendfile=None (default) keeps env's value if it has one, else the front's header
(x-accel-redirect for nginx, x-sendfile for Apache); True forces the front's header,
False forces "none" (streamed through FastCGI). start(wrap=[...]) prefixes the
responder's command (e.g. strace); respawn=True restarts a responder that dies, as
systemd's Restart= would (nginx and Apache never start one themselves), counting
respawns in .respawns. It may run as root;
the fronts' workers run as `user` (www-data when we are root: Apache refuses to serve as
root), so the socket is made connectable (0666) and the directories above it and above the
data directory traversable (o+x) for them. Only 127.0.0.1 is contacted.
"""
import http.client
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import threading
import time

SRCDIR = os.environ.get("OCTOTEST_SRCDIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../..")))
BUILDDIR = os.environ.get("OCTOTEST_BUILDDIR", SRCDIR)
FCGI_BIN = os.environ.get("OCTOTEST_FCGI_BIN", os.path.join(BUILDDIR, "fcgi/octoserve-fcgi"))
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
LIGHTTPD = shutil.which("lighttpd") or "/usr/sbin/lighttpd"
APACHE_MODULES = os.environ.get("OCTOTEST_APACHE_MODULES", "/usr/lib/apache2/modules")


def _default_user():
    if os.geteuid() != 0:
        return None  # cannot switch anyway; the fronts run as we do
    for name in ("www-data", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    return None


def _make_traversable(path, stop="/"):
    """o+x on path and each ancestor below stop (mkdtemp makes 0700 directories)."""
    path = os.path.abspath(path)
    while path not in (stop, "/", ""):
        try:
            st = os.stat(path)
            if stat.S_ISDIR(st.st_mode) and not st.st_mode & stat.S_IXOTH:
                os.chmod(path, stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
        except OSError:
            pass
        path = os.path.dirname(path)


def wait_for_http(port, proc=None, path="/v2/", timeout=20, ca=None):
    """True once GET path on 127.0.0.1:port answers 200 (or 401: the registry answers, and wants
    a token); False if proc exits or time runs out. ca: HTTPS, trusting that CA file."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = connect(port, 5, ca)
            try:
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                if r.status in (200, 401):
                    return True
            finally:
                c.close()
        except (OSError, http.client.HTTPException):
            pass  # not up yet, or not HTTP: another suite's gRPC daemon on the port, say
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def connect(port, timeout, ca=None):
    """An HTTP connection to 127.0.0.1:port, or HTTPS trusting the CA file ca."""
    if ca is None:
        return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    import ssl
    return http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout,
                                       context=ssl.create_default_context(cafile=ca))


def stop_process(proc, timeout=30, inner=None):
    """SIGTERM, then SIGKILL after timeout seconds; reaps the process. inner: the PID of the
    process that proc wraps (e.g. strace, which SIGTERM only detaches), SIGTERMed first; then
    proc gets up to timeout seconds to exit with it."""
    if proc is None or proc.poll() is not None:
        return
    if inner is not None and inner != proc.pid:
        try:
            os.kill(inner, signal.SIGTERM)
            proc.wait(timeout=timeout)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def proc_stat(pid):
    """/proc/<pid>/stat as a list of strings, field n of proc(5) at index n - 1 (the command
    name without its parentheses), or None once the process is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    head, paren, tail = s.rpartition(")")
    if not paren:
        return None
    own, _, comm = head.partition("(")
    return [own.strip(), comm] + tail.split()


def _runs(pid, binary):
    """True when /proc/<pid>/exe resolves to binary (a real path)."""
    try:
        return os.path.realpath("/proc/%d/exe" % pid) == binary
    except OSError:
        return False


def descendants(pid, binary=None, ppids=None):
    """PIDs of the processes below pid (children, theirs, ...; not pid itself), nearest
    first; with binary, only those whose /proc/<pid>/exe resolves to that file. ppids: a
    {pid: parent PID} snapshot to walk instead of /proc as it is now."""
    if ppids is None:
        ppids = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                st = proc_stat(int(entry))
                if st is not None:
                    ppids[int(entry)] = int(st[3])
    children = {}
    for child, parent in sorted(ppids.items()):
        children.setdefault(parent, []).append(child)
    found, seen, todo = [], {pid}, list(children.get(pid, []))
    while todo:
        p = todo.pop(0)
        if p in seen:
            continue
        seen.add(p)
        found.append(p)
        todo.extend(children.get(p, []))
    if binary is not None:
        binary = os.path.realpath(binary)
        found = [p for p in found if _runs(p, binary)]
    return found


def fill(template, pairs):
    """The text of the file template with each (placeholder, value) of pairs substituted."""
    with open(template) as f:
        text = f.read()
    for token, value in pairs:
        text = text.replace(token, value)
    return text


class Front:
    """A standalone responder on a unix socket and a web front on 127.0.0.1:port."""

    name = None
    sendfile_mode = "none"  # OCTOSERVE_FCGI_SENDFILE with sendfile=True
    site_conf = None  # path under contrib/

    def __init__(self, tmp, port, config_path, data_dir, env=None, fcgi_bin=None,
                 address="127.0.0.1", user="default", sendfile=None, respawn=False,
                 activation=False, front_users=None):
        self.tmp = os.path.abspath(tmp)
        self.port = port
        self.address = address
        self.config_path = os.path.abspath(config_path)
        self.data_dir = os.path.abspath(data_dir)
        self.blobs = os.path.join(self.data_dir, "blobs")
        self.env = dict(os.environ if env is None else env)
        self.fcgi_bin = os.path.abspath(fcgi_bin or FCGI_BIN)
        self.user = _default_user() if user == "default" else user
        self.sendfile = sendfile  # None: env's OCTOSERVE_FCGI_SENDFILE, else the front's
        self.respawn = respawn  # restart a responder that dies (as systemd's Restart= would)
        # Socket activation, as contrib/systemd does: this object binds the socket once and
        # hands it to each responder on fd 0 (StandardInput=socket), so connections made
        # while one responder stops and the next starts wait in its backlog.
        self.activation = activation
        self.front_users = front_users  # an htpasswd file the front authenticates with
        self._listener = None
        self.respawns = 0
        self._wrap = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher = None
        self.dir = os.path.join(self.tmp, self.name)  # configs, logs, pid, socket, temp
        self.socket = os.path.join(self.dir, "fcgi.sock")
        self.proc = None  # the front's main process
        self.responder = None  # the responder's process (or the wrapper around it)

    # -- what the subclasses fill in
    def front_command(self):
        raise NotImplementedError

    def main_config(self, site_path):
        raise NotImplementedError

    # -- common machinery
    def responder_env(self):
        env = dict(self.env)
        if self.activation:
            env.pop("OCTOSERVE_FCGI_LISTEN", None)
        else:
            env["OCTOSERVE_FCGI_LISTEN"] = "unix:" + self.socket
        if self.sendfile is not None or "OCTOSERVE_FCGI_SENDFILE" not in env:
            env["OCTOSERVE_FCGI_SENDFILE"] = self.sendfile_mode if self.sendfile is not False else "none"
        env["OCTOSERVE_STORAGE_PATH"] = self.data_dir
        return env

    def site_config(self):
        """The contrib site configuration with the placeholders substituted, and with
        front_users its trust-front recipe (contrib/<front>/trust-front.conf) put where the
        site configuration says."""
        text = fill(os.path.join(SRCDIR, self.site_conf),
                    (("@ADDRESS@", self.address), ("@PORT@", str(self.port)),
                     ("@SOCKET@", self.socket), ("@BLOBS@", self.blobs)))
        if self.front_users is None:
            return text
        recipe = os.path.join(self.dir, "trust-front.conf")
        with open(recipe, "w") as f:
            f.write(fill(os.path.join(SRCDIR, os.path.dirname(self.site_conf), "trust-front.conf"),
                         (("@HTPASSWD@", self.front_users),)))
        before = text
        text = self.use_recipe(text, recipe)
        assert text != before, "the site configuration has no place for trust-front.conf"
        return text

    def use_recipe(self, text, recipe):
        raise NotImplementedError

    def write_configs(self):
        site = os.path.join(self.dir, "site.conf")
        with open(site, "w") as f:
            f.write(self.site_config())
        main = os.path.join(self.dir, self.name + ".conf")
        with open(main, "w") as f:
            f.write(self.main_config(site))
        return main

    def start_responder(self, wrap=None):
        os.makedirs(self.blobs, exist_ok=True)
        self._wrap = wrap
        if self.activation:
            if self._listener is None:
                try:
                    os.unlink(self.socket)
                except FileNotFoundError:
                    pass
                self._listener = socket.socket(socket.AF_UNIX)
                self._listener.bind(self.socket)
                self._listener.listen(128)
                os.chmod(self.socket, 0o666)
            self.responder = subprocess.Popen(
                (wrap or []) + [self.fcgi_bin, "-c", self.config_path],
                env=self.responder_env(), cwd=self.dir, stdin=self._listener.fileno())
            return
        try:
            os.unlink(self.socket)  # stale, from a responder that died
        except FileNotFoundError:
            pass
        proc = subprocess.Popen((wrap or []) + [self.fcgi_bin, "-c", self.config_path],
                                env=self.responder_env(), cwd=self.dir)
        self.responder = proc
        deadline = time.time() + 20
        while time.time() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("octoserve-fcgi exited with %d; see %s"
                                   % (proc.returncode, self.dir))
            if os.path.exists(self.socket):
                with socket.socket(socket.AF_UNIX) as s:
                    try:
                        s.connect(self.socket)
                        break
                    except OSError:
                        pass
            time.sleep(0.02)
        else:
            raise RuntimeError("octoserve-fcgi did not listen on %s" % self.socket)
        if self.user is not None:
            os.chmod(self.socket, 0o666)

    def _watch(self):
        while not self._stopping.wait(0.05):
            with self._lock:
                if self._stopping.is_set() or self.responder is None:
                    return
                if self.responder.poll() is None:
                    continue
                try:
                    self.start_responder(self._wrap)
                    self.respawns += 1
                except RuntimeError:
                    pass

    def start(self, wrap=None):
        """Start the responder (wrap, a list, prefixes its command, e.g. strace) and the
        front; return self once GET /v2/ answers 200 through the front."""
        os.makedirs(self.dir, exist_ok=True)
        if self.user is not None:
            _make_traversable(self.dir)
            _make_traversable(self.blobs)
        self._stopping.clear()
        try:
            self.start_responder(wrap)
            if self.respawn:
                self._watcher = threading.Thread(target=self._watch, daemon=True)
                self._watcher.start()
            conf = self.write_configs()
            self.proc = subprocess.Popen(self.front_command(conf), env=self.front_env(), cwd=self.dir)
            if wait_for_http(self.port, self.proc):
                return self
        except BaseException:
            self.stop()
            raise
        self.stop()
        raise RuntimeError("%s did not come up; see %s" % (self.name, self.dir))

    def front_env(self):
        env = dict(os.environ)
        env.pop("OCTOSERVE_FCGI_LISTEN", None)
        return env

    def stop(self):
        """Stop the front, then the responder, each by PID."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()
            self._watcher = None
        stop_process(self.proc)
        self.proc = None
        with self._lock:
            # under a wrapper (strace detaches on SIGTERM): the responder itself first
            stop_process(self.responder, inner=self.responder_pid())
            self.responder = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def responder_pid(self):
        """PID of the octoserve-fcgi process (below a start(wrap=...) wrapper if any)."""
        if self.responder is None:
            return None
        if _runs(self.responder.pid, os.path.realpath(self.fcgi_bin)):
            return self.responder.pid
        found = descendants(self.responder.pid, self.fcgi_bin)
        return found[0] if found else None

    def front_pid(self):
        return self.proc.pid if self.proc is not None else None

    def log_paths(self):
        return sorted(os.path.join(self.dir, n) for n in os.listdir(self.dir) if n.endswith(".log"))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class NginxFront(Front):
    name = "nginx"
    sendfile_mode = "x-accel-redirect"
    site_conf = "contrib/nginx/octoserve.conf"

    def main_config(self, site_path):
        d = self.dir
        user = "user %s;\n" % self.user if self.user is not None and os.geteuid() == 0 else ""
        return ("# written by tests/http/fronts.py around %s\n" % self.site_conf
                + user
                + "worker_processes 2;\n"
                "pid %s/nginx.pid;\n"
                "error_log %s/nginx-error.log info;\n"
                "events { worker_connections 1024; }\n"
                "http {\n"
                "\taccess_log %s/nginx-access.log;\n"
                "\tclient_body_temp_path %s/client_body_temp;\n"
                "\tfastcgi_temp_path %s/fastcgi_temp;\n"
                "\tproxy_temp_path %s/proxy_temp;\n"
                "\tuwsgi_temp_path %s/uwsgi_temp;\n"
                "\tscgi_temp_path %s/scgi_temp;\n"
                "\tinclude %s;\n"
                "}\n") % (d, d, d, d, d, d, d, d, site_path)

    def front_command(self, conf):
        return [NGINX, "-p", self.dir + "/", "-c", conf, "-g", "daemon off;"]

    def use_recipe(self, text, recipe):
        return text.replace("#include @TRUST_FRONT@;", "include %s;" % recipe)


class ApacheFront(Front):
    name = "apache"
    sendfile_mode = "x-sendfile"
    site_conf = "contrib/apache/octoserve.conf"
    modules = ("mpm_event", "authz_core", "env", "proxy", "proxy_fcgi", "headers", "xsendfile",
               "auth_basic", "authn_core", "authn_file", "authz_user")

    def main_config(self, site_path):
        d = self.dir
        os.makedirs(os.path.join(d, "empty"), exist_ok=True)
        lines = ["# written by tests/http/fronts.py around %s" % self.site_conf,
                 "ServerRoot %s" % d,
                 "ServerName 127.0.0.1",
                 "DefaultRuntimeDir %s" % d,
                 "PidFile %s/apache.pid" % d,
                 "Mutex file:%s default" % d,
                 "ErrorLog %s/apache-error.log" % d,
                 "LogLevel warn",
                 "DocumentRoot %s/empty" % d]
        if self.user is not None and os.geteuid() == 0:
            group = self.user
            try:
                import grp
                grp.getgrnam(group)
            except KeyError:
                group = "nogroup"
            lines += ["User %s" % self.user, "Group %s" % group]
        lines += ["LoadModule %s_module %s/mod_%s.so" % (m, APACHE_MODULES, m) for m in self.modules]
        lines += ["Include %s" % site_path, ""]
        return "\n".join(lines)

    def front_command(self, conf):
        return [APACHE, "-f", conf, "-DFOREGROUND"]

    def use_recipe(self, text, recipe):
        return text.replace("this line:\n\t\tRequire all granted\n",
                            "this line:\n\t\tInclude %s\n" % recipe, 1)

    def front_env(self):
        env = super().front_env()
        env.setdefault("APACHE_RUN_DIR", self.dir)  # silences apache2's envvars warnings
        return env


class LighttpdFront(Front):
    """lighttpd spawning the responder itself (contrib/lighttpd/mkconf.sh), for symmetry:
    server.port in the configuration must equal port."""
    name = "lighttpd"
    sendfile_mode = "x-sendfile"

    def start(self, wrap=None):
        os.makedirs(self.dir, exist_ok=True)
        env = self.responder_env()
        env.pop("OCTOSERVE_FCGI_LISTEN")  # lighttpd passes the socket on fd 0
        env["OCTOSERVE_SERVER_PORT"] = str(self.port)
        env["OCTOSERVE_SERVER_ADDRESS"] = self.address
        conf = subprocess.check_output(
            [os.path.join(SRCDIR, "contrib/lighttpd/mkconf.sh"), self.fcgi_bin, self.dir, self.config_path,
             "1"] + ([self.front_users] if self.front_users else []),
            env=env, text=True).strip()
        self.proc = subprocess.Popen((wrap or []) + [LIGHTTPD, "-D", "-f", conf], env=env)
        if wait_for_http(self.port, self.proc):
            return self
        self.stop()
        raise RuntimeError("lighttpd did not come up; see %s" % self.dir)

    def responder_pid(self):
        found = descendants(self.proc.pid, self.fcgi_bin) if self.proc is not None else []
        return found[0] if found else None


FRONTS = {"nginx": NginxFront, "apache": ApacheFront, "lighttpd": LighttpdFront}


def available(name):
    """True when the front's server (and for Apache its modules) is installed."""
    if name == "nginx":
        return os.path.exists(NGINX)
    if name == "apache":
        return os.path.exists(APACHE) and all(
            os.path.exists("%s/mod_%s.so" % (APACHE_MODULES, m)) for m in ApacheFront.modules)
    if name == "lighttpd":
        return os.path.exists(LIGHTTPD)
    return False
