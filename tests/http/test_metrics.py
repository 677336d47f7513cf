# SPDX-License-Identifier: Apache-2.0
"""GET /metrics (metrics.endpoint) through the front: Prometheus text that Debian's
python3-prometheus-client parses, counting every request of every responder process that
serves the store (two registries share one store here), and never going down when a
responder is killed and respawned; basic auth when metrics.basic_auth is set; 404 when
metrics.enabled is false."""
import base64
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Debian's package, whatever python3 runs the tests (a pyenv one, say).
sys.path.append("/usr/lib/python3/dist-packages")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from harness import Registry  # noqa: E402
from suite import ResponseAssertions  # noqa: E402


def scrape(reg, headers=None):
    """{(name, sorted labels): value} of one scrape."""
    r = reg.request("GET", "/metrics", headers=headers)
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4"), r
    out = {}
    for family in text_string_to_metric_families(r.body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def counted(samples):
    """The samples that one more scrape does not change: not the durations, nor those of the
    metrics route itself."""
    return {k: v for k, v in samples.items()
            if not k[0].startswith("octoserve_http_request_duration")
            and "metrics" not in dict(k[1]).get("route", "")}


class MetricsTest(ResponseAssertions, unittest.TestCase):

    def test_shared_counters_survive_a_respawn(self):
        a = Registry()
        a.start()
        b = Registry(config={"storage": {"path": a.data}})
        b.data = a.data  # the front's responder is told its store from here
        try:
            b.start()
            data = os.urandom(10000)
            d = a.push_blob("met/r", data)
            for _ in range(3):
                self.assertEqual(b.request("GET", "/v2/met/r/blobs/" + d).status, 200)
            self.assertEqual(b.request("GET", "/v2/met/r/blobs/sha256:" + "0" * 64).status, 404)
            m = scrape(a)  # a's scrape counts b's requests: one set of counters
            req = "octoserve_http_requests_total"
            self.assertEqual(value(m, req, method="POST", route="uploads", code="201"), 1)
            self.assertEqual(value(m, req, method="GET", route="blob", code="200"), 3)
            self.assertEqual(value(m, req, method="GET", route="blob", code="404"), 1)
            self.assertEqual(value(m, "octoserve_errors_total", code="BLOB_UNKNOWN"), 1)
            self.assertGreaterEqual(
                value(m, "octoserve_http_request_bytes_total", route="uploads"), len(data))
            self.assertEqual(value(m, "octoserve_http_request_duration_seconds_count",
                                   route="blob"), 4)
            self.assertEqual(value(m, "octoserve_http_request_duration_seconds_bucket",
                                   route="blob", le="+Inf"), 4)
            self.assertEqual(counted(m), counted(scrape(b)))

            # kill a's responder (lighttpd respawns it): nothing goes down
            before = scrape(b)
            for pid in a.responder_pids():
                os.kill(pid, signal.SIGKILL)
            deadline = time.time() + 20
            while time.time() < deadline:
                try:
                    if a.request("GET", "/v2/", timeout=5).status == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
            self.assertEqual(a.request("GET", "/v2/met/r/blobs/" + d).status, 200)
            after = scrape(b)
            lower = {k: (v, after.get(k, 0)) for k, v in before.items() if after.get(k, 0) < v}
            self.assertEqual(lower, {})
            self.assertEqual(value(after, req, method="GET", route="blob", code="200"), 4)
        finally:
            b.cleanup()
            a.cleanup()

    def test_basic_auth_and_disabled(self):
        cfg = {"metrics": {"basic_auth": {"username": "prom", "password": "s3cret:x"}}}
        with Registry(config=cfg) as reg:
            r = reg.request("GET", "/metrics")
            self.assertError(r, 401, "UNAUTHORIZED")
            self.assertEqual(r.header("WWW-Authenticate"), 'Basic realm="octoserve metrics"')
            for cred in (b"prom:wrong", b"prom", b"other:s3cret:x", b"prom:s3cret:"):
                auth = {"Authorization": "Basic " + base64.b64encode(cred).decode()}
                self.assertEqual(reg.request("GET", "/metrics", headers=auth).status, 401, cred)
            auth = {"Authorization": "Basic " + base64.b64encode(b"prom:s3cret:x").decode()}
            self.assertIn(("octoserve_http_requests_total",
                           (("code", "401"), ("method", "GET"), ("route", "metrics"))),
                          scrape(reg, auth))
            self.assertError(reg.request("POST", "/metrics", headers=auth), 405, "UNSUPPORTED",
                             "POST")
        with Registry(config={"metrics": {"enabled": False}}) as reg:
            self.assertEqual(reg.request("GET", "/metrics").status, 404)


if __name__ == "__main__":
    unittest.main()
