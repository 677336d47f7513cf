# SPDX-License-Identifier: Apache-2.0
"""No change escapes the journal: every handler journals its event before the change becomes
visible, so whatever goes wrong, the event is there or the change is not (a reader of an
event checks the store). Faults come from strace on the responder, limited to the journal
file (-P): every write to it fails with ENOSPC, or the responder is SIGKILLed at the write
or at the fdatasync of its line. Content is pushed first without strace; then the registry
restarts under it."""
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Registry, sha256  # noqa: E402
from suite import ResponseAssertions  # noqa: E402

STRACE = shutil.which("strace")
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


if __name__ == "__main__":
    unittest.main()
