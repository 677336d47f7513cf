# SPDX-License-Identifier: Apache-2.0
"""The journal's order. No change escapes it: every handler journals its event before the
change becomes visible, so whatever goes wrong, the event is there or the change is not (a reader of an
event checks the store). Faults come from strace on the responder, limited to the journal
file (-P): every write to it fails with ENOSPC, or the responder is SIGKILLed at the write
or at the fdatasync of its line. Content is pushed first without strace; then the registry
restarts under it. And its clock never goes back: events pushed while the wall clock reads
2030 (faketime), then after it steps back to today, carry increasing clocks."""
import json
import os
import shutil
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Registry, sha256  # noqa: E402
from suite import ResponseAssertions  # noqa: E402

STRACE = shutil.which("strace")
FAKETIME = shutil.which("faketime")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@unittest.skipUnless(STRACE, "needs strace")
class JournalOrderTest(ResponseAssertions, unittest.TestCase):

    def setUp(self):
        self.reg = Registry()
        self.reg.start()
        self.addCleanup(self.reg.cleanup)
        self.layer = self.reg.push_blob("jo/r", b"a layer already there")
        self.manifest = self.reg.push_manifest("jo/r", "v1")
        self.events = os.path.join(self.reg.data, "journal", "events")

    def under(self, *inject):
        """Restart the registry with the journal's writes or syncs tampered with."""
        self.before = self.reg.journal_lines()
        self.reg.restart(wrap=[STRACE, "-f", "-qq", "-o", "/dev/null", "-P", self.events,
                               "-e", "trace=write,fdatasync"]
                         + [a for i in inject for a in ("-e", "inject=" + i)])

    def new_events(self):
        return [line for line in self.reg.journal_lines()[len(self.before) - 1:] if line]

    def manifest_body(self, tag):
        config = sha256(b"{}")
        return ('{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":'
                '"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},'
                '"layers":[],"annotations":{"t":"%s"}}' % (OCI_MANIFEST, config, tag)).encode()

    def test_failed_append_leaves_no_change(self):
        """The journal cannot append (ENOSPC): each change answers 507, and none is visible."""
        self.under("write:error=ENOSPC")
        reg = self.reg
        new = b"a blob the journal never heard of"
        self.assertError(reg.post_blob("jo/r", new), 507, "DENIED")
        self.assertEqual(reg.request("HEAD", "/v2/jo/r/blobs/" + sha256(new)).status, 404)
        r = reg.request("POST", "/v2/jo/other/blobs/uploads/?mount=%s&from=jo/r" % self.layer)
        self.assertEqual(r.status, 507, r)
        self.assertEqual(reg.request("HEAD", "/v2/jo/other/blobs/" + self.layer).status, 404)
        body = self.manifest_body("v2")
        r = reg.request("PUT", "/v2/jo/r/manifests/v2", body=body,
                        headers={"Content-Type": OCI_MANIFEST})
        self.assertEqual(r.status, 507, r)
        for ref in ("v2", sha256(body)):
            self.assertEqual(reg.request("HEAD", "/v2/jo/r/manifests/" + ref).status, 404, ref)
        for path in ("/v2/jo/r/manifests/v1", "/v2/jo/r/manifests/" + self.manifest,
                     "/v2/jo/r/blobs/" + self.layer):
            self.assertEqual(reg.request("DELETE", path).status, 507, path)
            self.assertEqual(reg.request("HEAD", path).status, 200, path)
        self.assertEqual(self.new_events(), [])

    def check_killed(self, inject, journalled):
        """SIGKILL at the journal's write or sync of a blob push: the link is not there;
        the event is there exactly when the kill came after its write."""
        self.under(inject)
        new = b"a blob pushed as the responder dies"
        d = sha256(new)
        try:
            r = self.reg.post_blob("jo/r", new)
            self.assertNotEqual(r.status, 201, r)
        except OSError:
            pass  # the connection went with the responder
        self.reg.restart()  # no strace: a responder that lives
        self.assertEqual(self.reg.request("HEAD", "/v2/jo/r/blobs/" + d).status, 404)
        named = [e for e in self.new_events() if d.encode() in e]
        self.assertEqual(len(named), 1 if journalled else 0, named)

    def test_killed_before_the_event(self):
        self.check_killed("write:signal=KILL", journalled=False)

    def test_killed_after_the_event(self):
        self.check_killed("fdatasync:signal=KILL", journalled=True)



@unittest.skipUnless(FAKETIME, "needs faketime")
class ClockTest(unittest.TestCase):

    def test_clock_survives_the_wall_stepping_back(self):
        with Registry() as reg:
            reg.restart(wrap=[FAKETIME, "2030-01-01 00:00:00"])
            reg.push_blob("clock/r", b"pushed in 2030")
            reg.push_blob("clock/r", b"and again")
            reg.restart()  # the wall clock back to today
            reg.push_blob("clock/r", b"pushed today")
            events = [json.loads(line) for line in reg.journal_lines() if line]
            clocks = [e["hlc"] for e in events]
            self.assertEqual(clocks, sorted(set(clocks)), clocks)  # strictly increasing
            ms = [c >> 16 for c in clocks]
            self.assertEqual(time.gmtime(ms[0] / 1000).tm_year, 2030)
            self.assertEqual(ms[-1], ms[-2], "the clock kept 2030's millisecond, counting on")
            self.assertLess(events[-1]["time_ms"], ms[-1])  # the wall time is recorded as it is
            self.assertEqual({e["store"] for e in events}, {events[0]["store"]})
            self.assertEqual(len(events[0]["store"]), 32)


class SegmentTest(unittest.TestCase):

    def test_journal_is_sealed_and_trimmed(self):
        """storage.journal_segment_size takes effect: the journal is sealed into segments as
        pushes go on, and without a consumer only the newest sealed one stays; the numbers
        run on across the seals."""
        with Registry(config={"storage": {"journal_segment_size": 4096}}) as reg:
            for i in range(60):
                reg.push_blob("seg/r", b"blob %d" % i)
            jdir = os.path.join(reg.data, "journal")
            sealed = sorted(n for n in os.listdir(jdir) if n.startswith("events."))
            self.assertEqual(len(sealed), 1, sealed)
            first = int(sealed[0].split(".")[1])
            with open(os.path.join(jdir, sealed[0]), "rb") as f:
                kept = f.read().split(b"\n")[:-1] + reg.journal_lines()[:-1]
            self.assertEqual([json.loads(line)["seq"] for line in kept],
                             list(range(first, 61)))
            self.assertGreater(first, 1)


if __name__ == "__main__":
    unittest.main()
