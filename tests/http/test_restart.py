# SPDX-License-Identifier: Apache-2.0
"""A restart of the responder loses nothing. Behind nginx or Apache in the socket-activated
set-up of contrib/systemd (the supervisor holds the listening socket and hands it to each
responder on fd 0; here tests/http/fronts.py plays systemd): SIGTERM to the responder while
a large PATCH streams in and small requests keep coming, then a new responder on the same
socket. The PATCH ends 202 (the old responder finishes it), no small request fails (none
gets a 502: they wait in the socket's backlog), and the push then completes byte-exact.
(With fcgi.listen instead, the socket goes with the responder: OCTOTEST_RESTART_LISTEN=1 shows
the 502s.) lighttpd spawns its responders itself: there one restarts lighttpd gracefully."""
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Registry, sha256  # noqa: E402
from trickle import Trickle  # noqa: E402

SIZE = 64 << 20
ACTIVATION = os.environ.get("OCTOTEST_RESTART_LISTEN") is None  # set: fcgi.listen, to compare


class RestartTest(unittest.TestCase):

    def test_restart_loses_nothing(self):
        if os.environ.get("OCTOTEST_FRONT", "lighttpd") == "lighttpd":
            self.skipTest("lighttpd spawns its responders itself: restart lighttpd instead")
        reg = Registry(threads=4, activation=ACTIVATION)
        reg.start()
        stop, results = threading.Event(), []
        try:
            small = reg.push_blob("rs/r", b"small blob")
            loc = reg.request("POST", "/v2/rs/r/blobs/uploads/").header("Location")
            big = Trickle(reg.port, loc, SIZE, b"restart")
            big.send_upto(8 << 20)

            def prober():
                while not stop.is_set():
                    for method, path in (("GET", "/v2/"), ("HEAD", "/v2/rs/r/blobs/" + small)):
                        try:
                            results.append(reg.request(method, path, timeout=30).status)
                        except OSError as e:
                            results.append(repr(e))
            probes = threading.Thread(target=prober)
            probes.start()
            time.sleep(0.5)
            old = reg.responder_pids()
            self.assertEqual(len(old), 1)
            os.kill(old[0], signal.SIGTERM)
            status, headers, body = big.finish()  # the rest, to the stopping responder
            deadline = time.time() + 30
            while time.time() < deadline and reg.responder_pids() in ([], old):
                time.sleep(0.05)
            self.assertNotIn(reg.responder_pids(), ([], old), "no new responder")
            time.sleep(1)  # small requests to the new responder too
            stop.set()
            probes.join()
            self.assertEqual(status, 202, body)
            failed = [r for r in results if r != 200]
            self.assertEqual(failed, [], "of %d small requests" % len(results))
            self.assertGreater(len(results), 20)
            loc = headers["location"]
            r = reg.request("PUT", "%s%sdigest=%s" % (loc, "&" if "?" in loc else "?", big.digest()))
            self.assertEqual(r.status, 201, r)
            r = reg.request("HEAD", "/v2/rs/r/blobs/" + big.digest())
            self.assertEqual((r.status, r.header("Content-Length")), (200, str(SIZE)))
        finally:
            stop.set()
            reg.cleanup()


if __name__ == "__main__":
    unittest.main()
