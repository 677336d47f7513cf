# SPDX-License-Identifier: Apache-2.0
"""Many slow uploads at once never keep reads waiting. Under the default configuration
(8 threads growing to 128, bodies capped at three quarters of them), 64 uploads with a
Content-Length body trickle in at ~400 B/s, and in a second run at ~200 KB/s; while they
are all in flight, at least 500 probes (GET /v2/, HEAD of a blob, GET of a manifest) over
at least 20 s must each succeed in under 2 s; then every upload ends in 201 with the
digest the test computed of what it sent. The latency figures belong to `make bench`;
this asserts success and a generous bound only. Run through each front."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Registry, sha256  # noqa: E402
from suite import ResponseAssertions, held  # noqa: E402
from trickle import Feeder, Trickle, percentile, probe  # noqa: E402

UPLOADS = 64
PROBE_SECONDS = 20
MIN_PROBES = 500
PROBE_BOUND = 2.0
# The harness lifts the session caps for its shared registries; these are the defaults.
DEFAULT_CAPS = {"storage": {"max_uploads": 4096, "max_uploads_per_client": 256}}


class TrickleTest(ResponseAssertions, unittest.TestCase):

    def run_trickles(self, rate):
        reg = Registry(threads=8, config=DEFAULT_CAPS)
        reg.start()
        uploads, feeder = [], None
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
                uploads.append(Trickle(reg.port, r.header("Location"), size, b"%d:%d" % (rate, i)))
            feeder = Feeder(uploads, rate)

            # Every upload reaches the responder and holds its session there.
            waiting, deadline = set(range(UPLOADS)), time.time() + 30
            while waiting and time.time() < deadline:
                waiting = {i for i in waiting if not held(reg, uploads[i].loc)}
                time.sleep(0.1)
            self.assertFalse(waiting, "uploads never reached the responder: %s" % sorted(waiting))

            def check(p, status, took):
                self.assertEqual(status, 200, p)
                self.assertLess(took, PROBE_BOUND, p)
            t_start = time.time()
            lat = probe(reg.port, [("GET", "/v2/", {}), ("HEAD", "/v2/load/r/blobs/" + blob, {}),
                                   ("GET", "/v2/load/r/manifests/v1", {})],
                        PROBE_SECONDS, MIN_PROBES, PROBE_BOUND, check)
            probed = time.time() - t_start

            # Still all in flight: none answered, each still holding its session.
            self.assertEqual([i for i, u in enumerate(uploads) if u.answered()], [])
            self.assertEqual([i for i, u in enumerate(uploads) if not held(reg, u.loc)], [])
            feeder.stop()
            sent = min(u.sent for u in uploads)
            sys.stderr.write(
                "%s, %d uploads at %d B/s (%d bytes each in flight): %d probes in %.1f s, "
                "p50 %.1f ms, p99 %.1f ms, max %.1f ms\n" % (
                    reg.front_name, UPLOADS, rate, sent, len(lat), probed,
                    1000 * percentile(lat, 0.5), 1000 * percentile(lat, 0.99), 1000 * max(lat)))
            self.assertGreater(sent, rate * PROBE_SECONDS / 2)  # they did trickle on

            for i, u in enumerate(uploads):
                status, headers, _ = u.finish()
                location = headers.get("location")
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
            if feeder is not None:
                feeder.stop()
            for u in uploads:
                u.close()
            reg.cleanup()

    def test_uploads_at_400_bytes_a_second(self):
        self.run_trickles(400)

    def test_uploads_at_200_kilobytes_a_second(self):
        self.run_trickles(200000)


if __name__ == "__main__":
    unittest.main()
