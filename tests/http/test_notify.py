# SPDX-License-Identifier: Apache-2.0
"""Event notifications (notifications.endpoints, octoserve-admin serve): a receiver on
loopback gets every change made here, in order, each sequence number once except after a
kill -9 of the notifier (then repeated, and told apart by the number), through a receiver that
is down for a while; filters per endpoint; a down endpoint does not grow the notifier's memory;
delivery in stats and /metrics."""
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ADMIN_BIN, Registry, free_port, sanitized  # noqa: E402
from suite import unique_bytes  # noqa: E402

MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"


class Receiver:
    """An HTTP server on a loopback port that keeps every envelope POSTed to it."""

    def __init__(self, port, gate=None):
        self.port = port
        self.posts = []  # (time received, [event, ...], its X-Token)
        self.lock = threading.Lock()
        self.server = None
        self.gate = gate  # when set: each POST answers only once it is set
        self.entered = threading.Event()

    def start(self):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                assert self.headers["Content-Type"] == MEDIA_TYPE, self.headers
                with owner.lock:
                    owner.posts.append((time.time(), json.loads(body)["events"],
                                        self.headers.get("X-Token")))
                owner.entered.set()
                if owner.gate is not None:
                    owner.gate.wait(30)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def seqs(self):
        with self.lock:
            return [e["seq"] for _, events, _ in self.posts for e in events]


def journal_events(reg):
    return [json.loads(line) for line in reg.journal_lines() if line]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class NotifyTest(unittest.TestCase):

    def serve(self, reg):
        return subprocess.Popen([ADMIN_BIN, "-c", reg.config_path, "serve"], env=reg.env)

    def wait_for(self, what, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if what():
                return True
            time.sleep(0.05)
        return False

    def test_every_event_at_least_once_in_order_through_faults(self):
        everything, filtered = Receiver(free_port()).start(), Receiver(free_port()).start()
        endpoints = [
            {"name": "all", "url": "http://127.0.0.1:%d/events" % everything.port,
             "headers": {"X-Token": "s3cret"}, "backoff": "50ms", "max_backoff": "200ms",
             "batch": 7},
            {"name": "manifests", "url": "http://127.0.0.1:%d/" % filtered.port,
             "events": ["manifest.put"], "repositories": ["keep/*"]}]
        with Registry(config={"notifications": {"endpoints": endpoints}}) as reg:
            cursor = os.path.join(reg.data, "journal", "cursors", "notify-all")
            proc = self.serve(reg)
            try:
                self.assertTrue(self.wait_for(lambda: os.path.exists(cursor)))
                start = len(journal_events(reg))
                reg.push_manifest("keep/a", "v1")
                reg.push_manifest("drop/b", "v1")
                reg.request("DELETE", "/v2/drop/b/manifests/v1")
                last = lambda: journal_events(reg)[-1]["seq"]  # noqa: E731
                self.assertTrue(self.wait_for(lambda: last() in everything.seqs()))
                # the receiver goes away; pushes go on; the notifier retries
                everything.stop()
                delivered = everything.posts
                before = rss_kb(proc.pid)
                for i in range(150):
                    reg.push_blob("keep/a", unique_bytes(100, "down%d" % i))
                time.sleep(1)
                if not sanitized():  # ASan's quarantine keeps what was freed
                    self.assertLess(rss_kb(proc.pid) - before, 4096)  # nothing queued in memory
                stats = reg.admin("stats", "--json").json["notifications"]
                self.assertGreater(stats[0]["failures"], 0)
                self.assertIn("Couldn't connect", stats[0]["last_error"])
                # the notifier dies mid-way; more changes; the receiver returns; a new one starts
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                reg.push_manifest("keep/c", "v2")
                everything = Receiver(everything.port).start()
                proc = self.serve(reg)
                self.assertTrue(self.wait_for(lambda: last() in everything.seqs(), 60))
                reg.push_manifest("keep/d", "v3")
                self.assertTrue(self.wait_for(lambda: last() in everything.seqs()))
                self.assertTrue(self.wait_for(lambda: last() in filtered.seqs()))
            finally:
                proc.send_signal(signal.SIGTERM)
                self.assertEqual(proc.wait(timeout=15), 0)
                everything.stop()
            events = journal_events(reg)[start:]
            everything.posts = delivered + everything.posts
            got = everything.seqs()
            # every change since the notifier began, in order, and none twice: the kill came
            # while its POSTs failed, so no batch was sent without its cursor moving
            self.assertEqual(got, [e["seq"] for e in events])
            for _, batch, token in everything.posts:
                self.assertEqual(token, "s3cret")
                self.assertLessEqual(len(batch), 7)
            first = {e["seq"]: e for _, b, _ in everything.posts for e in b}
            put = next(e for e in events if e["type"] == "manifest.put" and e["repo"] == "keep/c")
            note = first[put["seq"]]
            self.assertEqual((note["action"], note["target"]["repository"], note["target"]["tag"]),
                             ("push", "keep/c", "v2"))
            self.assertEqual(note["target"]["mediaType"],
                             "application/vnd.oci.image.manifest.v1+json")
            with open(os.path.join(reg.data, "store.id")) as f:
                store_id = f.read().strip()
            self.assertEqual(note["id"], "%s-%d" % (store_id, put["seq"]))
            # the filtered endpoint: only manifest pushes to keep/*
            want = [e["seq"] for e in events if e["type"] == "manifest.put" and
                    e["repo"].startswith("keep/")]
            self.assertEqual(sorted(set(filtered.seqs())), want)
            filtered.stop()
            # the status is written after the receiver answered: wait for it to say so
            want_line = 'octoserve_notify_delivered_total{endpoint="manifests"} %d.000' % \
                len(filtered.seqs())
            deadline = time.time() + 10
            while True:
                metrics = reg.request("GET", "/metrics").body.decode()
                if want_line in metrics or time.time() > deadline:
                    break
                time.sleep(0.05)
            self.assertIn(want_line, metrics)
            self.assertIn('octoserve_notify_failures_total{endpoint="all"}', metrics)

    def test_redelivery_after_a_kill_is_told_apart_by_seq(self):
        """A kill -9 between a POST and the cursor's move sends that batch again: the
        receiver sees the same sequence numbers (and ids) twice, never a gap."""
        gate = threading.Event()
        slow = Receiver(free_port(), gate).start()
        endpoints = [{"name": "slow", "url": "http://127.0.0.1:%d/" % slow.port,
                      "timeout": "60s"}]
        with Registry(config={"notifications": {"endpoints": endpoints}}) as reg:
            cursor = os.path.join(reg.data, "journal", "cursors", "notify-slow")
            proc = self.serve(reg)
            self.assertTrue(self.wait_for(lambda: os.path.exists(cursor)))
            reg.push_manifest("r/x", "v1")
            self.assertTrue(slow.entered.wait(30))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            gate.set()
            proc = self.serve(reg)
            try:
                self.assertTrue(self.wait_for(lambda: len(slow.posts) >= 2))
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=15)
                slow.stop()
            first, again = slow.posts[0][1], slow.posts[1][1]
            # the batch in flight comes again from its first event (more may follow it now)
            ids = [e["id"] for e in first]
            self.assertEqual([e["id"] for e in again][:len(ids)], ids)


if __name__ == "__main__":
    unittest.main()
