# SPDX-License-Identifier: Apache-2.0
"""GET /metrics (metrics.endpoint) through the front: Prometheus text that Debian's
python3-prometheus-client parses, counting every request of every responder process that
serves the store (lighttpd max-procs 2 here), and never going down when a responder is
killed and respawned; store gauges equal to what the store holds; basic auth when
metrics.basic_auth is set; 404 when metrics.enabled is false."""
import base64
import os
import signal
import sys
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Debian's package, whatever python3 runs the tests (a pyenv one, say).
sys.path.append("/usr/lib/python3/dist-packages")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from harness import Registry  # noqa: E402
from suite import ResponseAssertions, log_events  # noqa: E402


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


def store_gauges(data):
    """The store gauges counted from the data directory itself."""
    blobs = [os.path.join(d, f) for d, _, files in os.walk(os.path.join(data, "blobs"))
             for f in files if not f.startswith(".")]
    repos = set()
    for d, _, files in os.walk(os.path.join(data, "repositories")):
        if os.sep + "_manifests" + os.sep + "revisions" + os.sep in d + os.sep and files:
            repos.add(d.split(os.sep + "_manifests")[0])
    uploads = [n for n in os.listdir(os.path.join(data, "uploads")) if len(n) == 36]
    return {"octoserve_store_blobs": len(blobs),
            "octoserve_store_blob_bytes": sum(os.path.getsize(b) for b in blobs),
            "octoserve_store_repositories": len(repos),
            "octoserve_uploads_in_flight": len(uploads)}


class MetricsTest(ResponseAssertions, unittest.TestCase):

    def wait_responders(self, reg, n, old=()):
        """The responders' PIDs once n are up (none of old) and the registry answers."""
        deadline = time.time() + 20
        while time.time() < deadline:
            pids = [p for p in reg.responder_pids() if p not in old]
            try:
                if len(pids) == n and reg.request("GET", "/v2/", timeout=5).status == 200:
                    return pids
            except OSError:
                pass
            time.sleep(0.1)
        self.fail("responders did not come up: %r" % reg.responder_pids())

    def test_shared_counters_survive_a_respawn(self):
        """lighttpd runs two responders (max-procs 2) that add to one set of counters;
        SIGKILL one (lighttpd respawns it), then both: no total goes down, and the store
        gauges stay what the store holds."""
        with Registry(procs=2) as reg:
            procs = 2 if reg.front_name == "lighttpd" else 1  # nginx, Apache: one, respawned
            pids = self.wait_responders(reg, procs)
            blobs = [os.urandom(10000 + i) for i in range(8)]
            with ThreadPoolExecutor(8) as pool:  # at once: both responders serve some
                digests = list(pool.map(lambda b: reg.push_blob("met/r", b), blobs))
                codes = list(pool.map(
                    lambda d: reg.request("GET", "/v2/met/r/blobs/" + d).status, digests * 4))
            self.assertEqual(codes, [200] * 32)
            self.assertEqual(reg.request("GET", "/v2/met/r/blobs/sha256:" + "0" * 64).status, 404)
            loc = reg.request("POST", "/v2/met/s/blobs/uploads/").header("Location")
            self.assertEqual(reg.request("POST", "/v2/met/s/blobs/uploads/").status, 202)
            reg.push_manifest("met/m", "v1")
            served = {e["pid"] for e in log_events(reg, "request")}
            self.assertEqual(served, set(pids))  # both responders answered requests

            m = scrape(reg)
            req = "octoserve_http_requests_total"
            self.assertEqual(value(m, req, method="POST", route="uploads", code="201"), 9)
            self.assertEqual(value(m, req, method="GET", route="blob", code="200"), 32)
            self.assertEqual(value(m, req, method="GET", route="blob", code="404"), 1)
            self.assertEqual(value(m, "octoserve_errors_total", code="BLOB_UNKNOWN"), 1)
            self.assertGreaterEqual(value(m, "octoserve_http_request_bytes_total",
                                          route="uploads"), sum(map(len, blobs)))
            self.assertEqual(value(m, "octoserve_http_request_duration_seconds_count",
                                   route="blob"), 33)
            self.assertEqual(value(m, "octoserve_http_request_duration_seconds_bucket",
                                   route="blob", le="+Inf"), 33)
            self.assertGreaterEqual(value(m, "octoserve_fsync_duration_seconds_count"), 16)
            gauges = store_gauges(reg.data)
            self.assertEqual(gauges["octoserve_store_repositories"], 1)
            self.assertEqual(gauges["octoserve_uploads_in_flight"], 2)
            self.assertEqual(gauges, {k: value(m, k) for k in gauges})
            self.assertEqual(counted(m), counted(scrape(reg)))  # whichever responder answers

            # A session the counters did not see (as if a responder died between making it
            # and counting it): only a census sees it, and only a process alone takes one.
            os.mkdir(os.path.join(reg.data, "uploads", "00000000-0000-4000-8000-000000000000"))
            # SIGKILL one responder (lighttpd respawns it), then both: nothing goes down
            before = m
            for killed in range(1, procs + 1):
                victims = pids[:killed]
                for pid in victims:
                    os.kill(pid, signal.SIGKILL)
                pids = self.wait_responders(reg, procs, old=victims)
                self.assertEqual(reg.request("GET", "/v2/met/r/blobs/" + digests[0]).status, 200)
                after = scrape(reg)
                lower = {k: (v, after.get(k, 0)) for k, v in before.items()
                         if after.get(k, 0) < v}
                self.assertEqual(lower, {})
                if killed < procs:  # the other one held the counters: no census
                    self.assertEqual({k: value(after, k) for k in gauges}, gauges)
                before = after
            self.assertEqual({k: value(after, k) for k in gauges}, store_gauges(reg.data))
            self.assertEqual(value(after, "octoserve_uploads_in_flight"), 3)
            self.assertEqual(value(after, req, method="GET", route="blob", code="200"), 32 + procs)
            self.assertEqual(reg.request("DELETE", loc).status, 204)
            self.assertEqual(value(scrape(reg), "octoserve_uploads_in_flight"), 2)

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
