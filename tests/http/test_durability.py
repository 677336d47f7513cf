#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Durability of the blob write path, checked on the system calls the responder makes.

lighttpd (and the responder it spawns) runs under strace -ff, one trace file per thread.
A request is served start to finish by one worker thread (accept, body, store, journal,
response), so each thread's file is an exact order of what that request did. For every
response the registry marked 201 we check, in the serving thread and before the FastCGI
write that carries "Status: 201":

  * the upload's data file (uploads/<uuid>/data, fd found via openat) got fsync/fdatasync
    before it was renamed to blobs/<alg>/<xx>/<hex>;
  * the blobs/<alg>/<xx> directory was opened O_DIRECTORY and that fd fsync'ed after the
    rename;
  * every directory the request created (mkdir = 0) had its parent fsync'ed;
  * the repository link (_layers/<alg>/<hex>, a record) was written to a temporary file,
    synced, renamed into place and its directory fsync'ed after that;
  * the journal line naming the digest was written to journal/events and that fd got
    fdatasync/fsync after the write.

And for every PATCH acknowledged with 202 (Range end > 0): the session's data fd got
fdatasync and the new state file was synced before being renamed over uploads/<uuid>/state.

close, accept and accept4 are traced too, so an fd number is only ever attributed to the
file or connection it names at that moment. The store opens everything relative to
directory fds (openat2, openat, mkdirat, renameat); strace -y prints the path each fd
names, so every call is resolved to absolute paths.
"""
import os
import re
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Registry, sha256  # noqa: E402

STRACE = shutil.which("strace")
TRACE = ("fsync,fdatasync,rename,renameat,renameat2,write,writev,sendmsg,openat,openat2,mkdir,"
         "mkdirat,close,accept,accept4")
SYNCS = ("fsync", "fdatasync")

LINE_RE = re.compile(r"^(\d\d:\d\d:\d\d\.\d+) (\w+)\((.*)\)\s+= (-?\d+|\?)(?:<(.*)>)?")
STR_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')
FD_RE = re.compile(r"(-?\d+)<([^>]*)>")  # an fd argument under strace -y: 3</path>


class Call:
    def __init__(self, idx, time, name, args, ret, ret_path=None):
        self.idx = idx
        self.time = time
        self.name = name
        self.args = args
        self.ret = ret
        self.ret_path = ret_path  # what a returned fd names (strace -y)
        self.strings = [s for s in STR_RE.findall(args)]
        self.dirs = [p for _, p in FD_RE.findall(args)]

    def at_paths(self):
        """The paths a *at call names, each joined to its directory fd's path: mkdirat(d,
        name) gives [d/name], renameat(d1, old, d2, new) gives [d1/old, d2/new]; a call
        without directory fds gives its strings as they are."""
        names = [unescape(x) for x in self.strings]
        if self.name in ("mkdirat", "renameat", "renameat2") and len(self.dirs) == len(names):
            return [os.path.join(d, n) for d, n in zip(self.dirs, names)]
        return names

    def fd_arg(self):
        m = re.match(r"\s*(-?\d+)", self.args)
        return int(m.group(1)) if m else None

    def __repr__(self):
        return "%s %s(%s) = %s" % (self.time, self.name, self.args[:160], self.ret)


ESC_RE = re.compile(r'\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)')
ESC_CHARS = {"n": "\n", "r": "\r", "t": "\t", "v": "\v", "f": "\f", "a": "\a", "b": "\b"}


def unescape(s):
    """Undo strace's C escaping (\\r, \\n, \\", \\\\, \\NNN octal, \\xHH)."""
    def one(m):
        e = m.group(1)
        if e[0] == "x" and len(e) == 3:
            return chr(int(e[1:], 16))
        if e[0] in "01234567":
            return chr(int(e, 8))
        return ESC_CHARS.get(e, e)
    return ESC_RE.sub(one, s)


def parse_thread(path):
    """The calls of one thread's trace file, in order; fds resolved to what they named."""
    calls = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE_RE.match(line.rstrip("\n"))
            if not m:
                continue  # unfinished accept at exit, signals, +++ exited +++
            ret = m.group(4)
            calls.append(Call(len(calls), m.group(1), m.group(2), m.group(3),
                              int(ret) if ret != "?" else None, m.group(5)))
    # Resolve fds: an fd names what the last openat/accept returning it opened, until close.
    fds = {}
    for c in calls:
        c.target = None
        if c.name in ("openat", "openat2") and c.ret is not None and c.ret >= 0:
            c.path = c.ret_path
            fds[c.ret] = ("file", c.path, c)
        elif c.name in ("accept", "accept4") and c.ret is not None and c.ret >= 0:
            fds[c.ret] = ("conn", None, c)
        elif c.name == "close":
            c.target = fds.pop(c.fd_arg(), None)
        elif c.name in SYNCS + ("write", "writev", "sendmsg"):
            c.target = fds.get(c.fd_arg())
    return calls


def is_dir_open(c):
    return c.name in ("openat", "openat2") and c.ret is not None and c.ret >= 0 \
        and "O_DIRECTORY" in c.args


class TracedRegistry(unittest.TestCase):
    """A registry under strace -ff; subclasses push in do_pushes(), tests read the trace."""
    REPO = "durable/test"

    @classmethod
    def setUpClass(cls):
        if STRACE is None:
            raise RuntimeError("strace is not installed (apt-get install strace)")
        cls.reg = Registry(threads=2)
        cls.trace_prefix = os.path.join(cls.reg.tmp, "strace")
        cls.addClassCleanup(cls.reg.stop)
        cls.reg.start(wrap=[STRACE, "-ff", "-tt", "-y", "-s", "400", "-e", "trace=" + TRACE,
                            "-o", cls.trace_prefix])
        cls.root = os.path.realpath(cls.reg.data)
        # The responder's threads, while they are alive (strace -ff names files by TID).
        cls.responder_tids = set()
        for pid in cls.reg.responder_pids():
            cls.responder_tids.update(int(t) for t in os.listdir("/proc/%d/task" % pid))
        if not cls.responder_tids:
            raise RuntimeError("no responder process under strace")
        cls.pushed = []  # (digest, repo, kind)
        cls.patches = []  # (uuid, end offset acknowledged)
        cls.do_pushes()
        cls.reg.stop()  # lighttpd itself, then strace: with every trace file complete
        cls.threads = {}
        for name in os.listdir(cls.reg.tmp):
            if name.startswith("strace."):
                tid = int(name.split(".")[1])
                if tid in cls.responder_tids:
                    cls.threads[tid] = parse_thread(os.path.join(cls.reg.tmp, name))

    @classmethod
    def tearDownClass(cls):
        cls.reg.cleanup()

    @staticmethod
    def check(r, status):
        if r.status != status:
            raise AssertionError("expected %d, got %r" % (status, r))
        return r

    @classmethod
    def do_pushes(cls):
        reg, repo, check = cls.reg, cls.REPO, cls.check

        # 1. monolithic POST ?digest=
        data = os.urandom(300 * 1024) + b"monolithic"
        d = sha256(data)
        check(reg.post_blob(repo, data, d), 201)
        cls.pushed.append((d, repo, "monolithic"))

        # 2. POST, PATCH, PATCH, PUT ?digest= with an empty body
        # 3. POST, PATCH, PUT ?digest= carrying the last chunk
        for kind, final_in_put in (("post-patch-put", False), ("post-patch-put+body", True)):
            data = os.urandom(700 * 1024) + kind.encode()
            d = sha256(data)
            r = check(reg.request("POST", "/v2/%s/blobs/uploads/" % repo), 202)
            loc = r.header("location")
            uuid = loc.rsplit("/", 1)[1]
            cut = [0, 200 * 1024, 500 * 1024, len(data)]
            last = 2 if final_in_put else 3
            for a, b in zip(cut[:last], cut[1:last + 1]):
                r = check(reg.request("PATCH", loc, body=data[a:b], headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": "%d-%d" % (a, b - 1)}), 202)
                assert r.header("range") == "0-%d" % (b - 1), r
                cls.patches.append((uuid, b))
            body = data[cut[last]:] if final_in_put else b""
            check(reg.request("PUT", "%s?digest=%s" % (loc, d), body=body,
                              headers={"Content-Type": "application/octet-stream"}), 201)
            cls.pushed.append((d, repo, kind))

        # 4. the first blob again, into another repository: the store keeps its copy, but
        #    the new link and the journal line must still be durable before the 201.
        data_again = None  # re-derive from the store
        d0 = cls.pushed[0][0]
        hexd = d0.split(":", 1)[1]
        with open(os.path.join(cls.reg.data, "blobs", "sha256", hexd[:2], hexd), "rb") as f:
            data_again = f.read()
        check(reg.request("POST", "/v2/other/repo/blobs/uploads/?digest=%s" % d0,
                          body=data_again), 201)
        cls.pushed.append((d0, "other/repo", "dedup"))

    # -- helpers -------------------------------------------------------------------------

    def responses(self, status):
        """(tid, calls, index of the response write, accept index) for each FastCGI write
        carrying "Status: <status>" on an accepted connection."""
        out = []
        for tid, calls in self.threads.items():
            last_accept = None
            for c in calls:
                if c.name in ("accept", "accept4") and c.ret is not None and c.ret >= 0:
                    last_accept = c.idx
                if c.name in ("write", "writev", "sendmsg") and any(
                        "Status: %d\r\n" % status in unescape(s) for s in c.strings):
                    self.assertIsNotNone(c.target, "response write on an unknown fd: %r" % c)
                    self.assertEqual(c.target[0], "conn",
                                     "response written to a non-connection fd: %r" % c)
                    self.assertIsNotNone(last_accept)
                    out.append((tid, calls, c.idx, last_accept))
        return out

    def response_for_digest(self, digest, repo):
        hits = []
        for tid, calls, w, a in self.responses(201):
            text = "".join(calls[w].strings)
            if "/v2/%s/blobs/%s" % (repo, digest) in text:
                hits.append((tid, calls, w, a))
        self.assertEqual(len(hits), 1, "201 response writes for %s in %s: %d" % (
            digest, repo, len(hits)))
        return hits[0]

    def find_sync(self, calls, path, start, end, kinds=SYNCS):
        """Index of the first fsync/fdatasync in (start, end) on an fd naming path."""
        for c in calls[start + 1:end]:
            if c.name in kinds and c.ret == 0 and c.target and c.target[1] == path:
                return c.idx
        return None

    def assert_dir_synced_after(self, calls, directory, after, before, what):
        for c in calls[after + 1:before]:
            # the directory fd may have been opened before the change (openat relative to
            # it): an fsync after the change, on any fd of the directory, makes it durable
            if c.name == "fsync" and c.ret == 0 and c.target and c.target[1] == directory \
                    and is_dir_open(c.target[2]):
                return c.idx
        self.fail("%s: no fsync of directory %s (opened O_DIRECTORY) between %r and the "
                  "response %r" % (what, directory, calls[after], calls[before]))



class DurabilityTest(TracedRegistry):
    # -- tests ---------------------------------------------------------------------------

    def test_blob_data_synced_before_rename_and_dir_synced_after(self):
        for digest, repo, kind in self.pushed:
            if kind == "dedup":
                continue
            with self.subTest(kind=kind):
                tid, calls, w, a = self.response_for_digest(digest, repo)
                hexd = digest.split(":", 1)[1]
                blob_dir = os.path.join(self.root, "blobs", "sha256", hexd[:2])
                blob_path = os.path.join(blob_dir, hexd)
                renames = [c for c in calls[a + 1:w] if c.name.startswith("rename")
                           and c.ret == 0 and c.at_paths()[-1:] == [blob_path]]
                self.assertEqual(len(renames), 1, "%s: rename into %s before the 201: %r" % (
                    kind, blob_path, renames))
                ren = renames[0]
                src = ren.at_paths()[0]
                self.assertRegex(src, r"^%s/uploads/[0-9a-f-]{36}/data$" % re.escape(self.root))
                # The temporary file was opened in this request ...
                opens = [c for c in calls[a + 1:ren.idx] if c.name in ("openat", "openat2")
                         and c.ret is not None and c.ret >= 0 and c.path == src]
                self.assertTrue(opens, "%s: no openat of %s before its rename" % (kind, src))
                # ... and its fd synced after that open and before the rename.
                s = self.find_sync(calls, src, opens[-1].idx, ren.idx)
                self.assertIsNotNone(s, "%s: %s was renamed into the store without "
                                     "fsync/fdatasync of its data first" % (kind, src))
                # The directory now holding the blob was synced after the rename, before 201.
                self.assert_dir_synced_after(calls, blob_dir, ren.idx, w, kind)

    def test_final_chunk_synced_once(self):
        """The request that finishes an upload syncs its data once, at the commit: not also
        when it appends the body, and it writes no session state it removes right after."""
        for digest, repo, kind in self.pushed:
            if kind not in ("monolithic", "post-patch-put+body"):
                continue
            with self.subTest(kind=kind):
                tid, calls, w, a = self.response_for_digest(digest, repo)
                data = re.compile(r"^%s/uploads/[0-9a-f-]{36}/data$" % re.escape(self.root))
                syncs = [c for c in calls[a + 1:w] if c.name in SYNCS and c.ret == 0
                         and c.target and data.match(c.target[1])]
                self.assertEqual(len(syncs), 1, "%s: syncs of the session data: %r" % (
                    kind, syncs))
                state = [c for c in calls[a + 1:w] if c.name.startswith("rename")
                         and c.ret == 0 and c.at_paths()[-1].endswith("/state")]
                self.assertEqual(state, [], "%s: session state written by the final "
                                 "request" % kind)

    def test_new_directories_have_their_parent_synced(self):
        for digest, repo, kind in self.pushed:
            with self.subTest(kind=kind):
                tid, calls, w, a = self.response_for_digest(digest, repo)
                uploads = os.path.join(self.root, "uploads") + "/"
                hints = os.path.join(self.root, "blob-repos") + "/"
                for c in calls[a + 1:w]:
                    # A session directory is scratch space: its content reaches the store by
                    # a rename whose target directory is synced (checked above). The index of
                    # a blob's repositories is a hint whose loss costs an automatic mount.
                    if c.name in ("mkdir", "mkdirat") and c.ret == 0 and \
                            not c.at_paths()[0].startswith(uploads) and \
                            not (c.at_paths()[0] + "/").startswith(hints):
                        made = c.at_paths()[0]
                        self.assert_dir_synced_after(calls, os.path.dirname(made), c.idx, w,
                                                     "%s: mkdir %s" % (kind, made))

    def test_repository_link_record_synced(self):
        """The link is a record: written to a temporary file beside it, that file synced,
        renamed onto the link, and the directory synced, all before the 201."""
        for digest, repo, kind in self.pushed:
            with self.subTest(kind=kind, repo=repo):
                tid, calls, w, a = self.response_for_digest(digest, repo)
                hexd = digest.split(":", 1)[1]
                link_dir = os.path.join(self.root, "repositories", repo, "_layers", "sha256")
                link = os.path.join(link_dir, hexd)
                renames = [c for c in calls[a + 1:w] if c.name.startswith("rename")
                           and c.ret == 0 and c.at_paths()[-1:] == [link]]
                self.assertEqual(len(renames), 1, "%s: the link %s was not written in the "
                                 "request: %r" % (kind, link, renames))
                ren = renames[0]
                src = ren.at_paths()[0]
                self.assertRegex(src, r"^%s/\.%s\.tmp\.[0-9a-f]{32}$" % (
                    re.escape(link_dir), hexd))
                opens = [c for c in calls[a + 1:ren.idx] if c.name in ("openat", "openat2")
                         and c.ret is not None and c.ret >= 0 and c.path == src
                         and "O_CREAT" in c.args]
                self.assertTrue(opens, "%s: no openat of %s before its rename" % (kind, src))
                self.assertIsNotNone(self.find_sync(calls, src, opens[-1].idx, ren.idx),
                                     "%s: the link record was renamed unsynced" % kind)
                self.assert_dir_synced_after(calls, link_dir, ren.idx, w,
                                             "%s: link %s" % (kind, link))

    def test_journal_synced(self):
        journal = os.path.join(self.root, "journal", "events")
        for digest, repo, kind in self.pushed:
            with self.subTest(kind=kind, repo=repo):
                tid, calls, w, a = self.response_for_digest(digest, repo)
                writes = [c for c in calls[a + 1:w] if c.name in ("write", "writev")
                          and c.ret is not None and c.ret > 0 and c.target
                          and c.target[1] == journal and digest in "".join(c.strings)]
                self.assertEqual(len(writes), 1, "%s: journal writes naming %s: %r" % (
                    kind, digest, writes))
                line = unescape(writes[0].strings[0])
                self.assertIn('"repo":"%s"' % repo, line)
                s = self.find_sync(calls, journal, writes[0].idx, w)
                self.assertIsNotNone(s, "%s: journal line %r was not fdatasync'ed before the "
                                     "201" % (kind, line[:120]))

    def test_acknowledged_patch_is_synced(self):
        self.assertTrue(self.patches)
        acks = {}
        for tid, calls, w, a in self.responses(202):
            text = unescape("".join(calls[w].strings))
            m = re.search(r"uploads/([0-9a-f-]{36})\r\nRange: 0-(\d+)\r\n", text)
            if m and int(m.group(2)) > 0:
                acks[(m.group(1), int(m.group(2)) + 1)] = (calls, w, a)
        for uuid, end in self.patches:
            with self.subTest(uuid=uuid, end=end):
                self.assertIn((uuid, end), acks, "no 202 with Range 0-%d for %s" % (end - 1, uuid))
                calls, w, a = acks[(uuid, end)]
                udir = os.path.join(self.root, "uploads", uuid)
                state = os.path.join(udir, "state")
                renames = [c for c in calls[a + 1:w] if c.name.startswith("rename")
                           and c.ret == 0 and len(c.strings) >= 2 and c.at_paths()[1] == state]
                self.assertEqual(len(renames), 1, "state replaced %d times" % len(renames))
                ren = renames[0]
                tmp = ren.at_paths()[0]
                self.assertIsNotNone(self.find_sync(calls, tmp, a, ren.idx),
                                     "new state %s not synced before its rename" % tmp)
                self.assertIsNotNone(self.find_sync(calls, os.path.join(udir, "data"), a, ren.idx),
                                     "session data not synced before the state claimed it")


class RetryAfterCrashTest(TracedRegistry):
    """A push that finds its blob or link already on disk, left by an earlier request that
    was killed between creating the entry and syncing its directory (the client never got
    a 201 for it and retries). The store keeps that entry, so the retry's 201 is only
    durable if the retry syncs the entry's directory itself."""
    REPO = "durable/retry"

    @classmethod
    def place(cls, path, data=b""):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
            f.flush()
            os.fdatasync(f.fileno())  # the killed request synced the data before its rename

    @classmethod
    def do_pushes(cls):
        reg, repo, check = cls.reg, cls.REPO, cls.check
        # blob X: renamed into blobs/ by the killed request, blobs/sha256/xx never synced
        # blob Y: also linked by it, _layers/sha256 never synced after the link was created
        for kind in ("blob-left", "blob-and-link-left"):
            data = os.urandom(64 * 1024) + kind.encode()
            d = sha256(data)
            hexd = d.split(":", 1)[1]
            cls.place(os.path.join(cls.reg.data, "blobs", "sha256", hexd[:2], hexd), data)
            if kind == "blob-and-link-left":
                cls.place(os.path.join(cls.reg.data, "repositories", repo, "_layers", "sha256",
                                       hexd))
            check(reg.post_blob(repo, data, d), 201)
            cls.pushed.append((d, repo, kind))

    def test_existing_blob_directory_synced_before_201(self):
        for digest, repo, kind in self.pushed:
            with self.subTest(kind=kind):
                tid, calls, w, a = self.response_for_digest(digest, repo)
                hexd = digest.split(":", 1)[1]
                blob_dir = os.path.join(self.root, "blobs", "sha256", hexd[:2])
                self.assert_dir_synced_after(calls, blob_dir, a, w,
                                             "%s: blob found in the store" % kind)

    def test_existing_link_directory_synced_before_201(self):
        for digest, repo, kind in self.pushed:
            if kind != "blob-and-link-left":
                continue
            tid, calls, w, a = self.response_for_digest(digest, repo)
            link_dir = os.path.join(self.root, "repositories", repo, "_layers", "sha256")
            self.assert_dir_synced_after(calls, link_dir, a, w, "%s: link found" % kind)

    def test_journal_synced(self):
        DurabilityTest.test_journal_synced(self)


if __name__ == "__main__":
    unittest.main()
