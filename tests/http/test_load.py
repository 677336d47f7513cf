# SPDX-License-Identifier: Apache-2.0
"""Many slow uploads at once never keep reads waiting. Under the default configuration
(8 threads growing to 128, bodies capped at three quarters of them), 64 uploads with a
Content-Length body trickle in at ~400 B/s, and in a second run at ~200 KB/s; while they
are all in flight, at least 500 probes (GET /v2/, HEAD of a blob, GET of a manifest) over
at least 20 s must each succeed in under 2 s; then every upload ends in 201 with the
digest the test computed of what it sent. The latency figures belong to `make bench`;
this asserts success and a generous bound only. Run through each front."""
import hashlib
import json
import os
import select
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Registry, sha256  # noqa: E402
from suite import ResponseAssertions, held  # noqa: E402

UPLOADS = 64
PROBE_SECONDS = 20
MIN_PROBES = 500
PROBE_BOUND = 2.0
TICK = 0.05
# The harness lifts the session caps for its shared registries; these are the defaults.
DEFAULT_CAPS = {"storage": {"max_uploads": 4096, "max_uploads_per_client": 256}}


class Trickle:
    """One upload: a PATCH whose Content-Length body is sent a little at a time on a
    connection of its own, from content made on the fly (a 64 KiB block of its own
    repeated), hashed as it goes."""

    def __init__(self, reg, loc, size, seed):
        self.loc, self.size, self.sent = loc, size, 0
        self.block = hashlib.sha512(seed).digest() * 1024
        self.hash = hashlib.sha256()
        self.sock = socket.create_connection(("127.0.0.1", reg.port))
        self.sock.settimeout(30)
        self.sock.sendall(("PATCH %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n"
                           "Content-Type: application/octet-stream\r\n\r\n"
                           % (loc, size)).encode())

    def send_upto(self, total, last=False):
        """Send up to total bytes in all; the last byte only with last (from finish())."""
        total = min(total, self.size if last else self.size - 1)
        while self.sent < total:
            at = self.sent % len(self.block)
            piece = self.block[at:at + min(total - self.sent, len(self.block) - at)]
            self.sock.sendall(piece)
            self.hash.update(piece)
            self.sent += len(piece)

    def answered(self):
        """Whether the front has answered already (the upload is no longer in flight)."""
        return bool(select.select([self.sock], [], [], 0)[0])

    def finish(self):
        """Send the rest at full speed; the status and Location of the answer."""
        self.send_upto(self.size, last=True)
        f = self.sock.makefile("rb")
        status = int(f.readline().split()[1])
        location = None
        while True:
            line = f.readline().strip()
            if not line:
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "location":
                location = value.strip()
        self.sock.close()
        return status, location

    def digest(self):
        return "sha256:" + self.hash.hexdigest()


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


class TrickleTest(ResponseAssertions, unittest.TestCase):

    def run_trickles(self, rate):
        reg = Registry(threads=8, config=DEFAULT_CAPS)
        reg.start()
        uploads, stop = [], threading.Event()
        try:
            blob = reg.push_blob("load/r", b"a probe blob")
            config = reg.push_blob("load/r", b"{}")
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": config, "size": 2},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                            "digest": blob, "size": 12}]}).encode()
            r = reg.request("PUT", "/v2/load/r/manifests/v1", body=manifest,
                            headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
            self.assertEqual(r.status, 201, r)
            size = int(rate * (PROBE_SECONDS + 15))
            for i in range(UPLOADS):
                r = reg.request("POST", "/v2/load/r/blobs/uploads/")
                self.assertEqual(r.status, 202, r)
                uploads.append(Trickle(reg, r.header("Location"), size, b"%d:%d" % (rate, i)))
            started = time.time()

            def sender():
                while not stop.is_set():
                    due = int(rate * (time.time() - started)) + 1
                    for u in uploads:
                        try:
                            u.send_upto(due)
                        except OSError:
                            pass  # cut: answered() tells
                    time.sleep(TICK)
            feeder = threading.Thread(target=sender, daemon=True)
            feeder.start()

            # Every upload reaches the responder and holds its session there.
            waiting, deadline = set(range(UPLOADS)), time.time() + 30
            while waiting and time.time() < deadline:
                waiting = {i for i in waiting if not held(reg, uploads[i].loc)}
                time.sleep(0.1)
            self.assertFalse(waiting, "uploads never reached the responder: %s" % sorted(waiting))

            probes = [("GET", "/v2/"), ("HEAD", "/v2/load/r/blobs/" + blob),
                      ("GET", "/v2/load/r/manifests/v1")]
            latency = {p: [] for p in probes}
            t_start, n = time.time(), 0
            while time.time() - t_start < PROBE_SECONDS or n < MIN_PROBES:
                method, path = probes[n % len(probes)]
                t0 = time.time()
                r = reg.request(method, path, timeout=PROBE_BOUND)
                took = time.time() - t0
                self.assertEqual(r.status, 200, (method, path, r))
                self.assertLess(took, PROBE_BOUND, (method, path))
                latency[probes[n % len(probes)]].append(took)
                n += 1
            probed = time.time() - t_start

            # Still all in flight: none answered, each still holding its session.
            self.assertEqual([i for i, u in enumerate(uploads) if u.answered()], [])
            self.assertEqual([i for i, u in enumerate(uploads) if not held(reg, u.loc)], [])
            stop.set()
            feeder.join()
            sent = min(u.sent for u in uploads)
            all_lat = [t for ts in latency.values() for t in ts]
            sys.stderr.write(
                "%s, %d uploads at %d B/s (%d bytes each in flight): %d probes in %.1f s, "
                "p50 %.1f ms, p99 %.1f ms, max %.1f ms\n" % (
                    reg.front_name, UPLOADS, rate, sent, n, probed,
                    1000 * percentile(all_lat, 0.5), 1000 * percentile(all_lat, 0.99),
                    1000 * max(all_lat)))
            self.assertGreater(sent, rate * PROBE_SECONDS / 2)  # they did trickle on

            for i, u in enumerate(uploads):
                status, location = u.finish()
                self.assertEqual(status, 202, i)
                r = reg.request("PUT", "%s%sdigest=%s" % (
                    location, "&" if "?" in location else "?", u.digest()))
                self.assertEqual(r.status, 201, (i, r))
                self.assertEqual(r.header("Docker-Content-Digest"), u.digest())
            for u in uploads[::16]:  # and the bytes read back are those sent
                r = reg.request("GET", "/v2/load/r/blobs/" + u.digest())
                self.assertEqual(sha256(r.body), u.digest())
                self.assertEqual(len(r.body), u.size)
        finally:
            stop.set()
            for u in uploads:
                u.sock.close()
            reg.cleanup()

    def test_uploads_at_400_bytes_a_second(self):
        self.run_trickles(400)

    def test_uploads_at_200_kilobytes_a_second(self):
        self.run_trickles(200000)


if __name__ == "__main__":
    unittest.main()
