# SPDX-License-Identifier: Apache-2.0
"""SIGHUP reopens logging.output: contrib/logrotate/octoserve, run by the real logrotate
(pointed at this test's log, its postrotate signalling this test's responder), moves the
log; the same responder process, never restarted, writes on to a new file at the path."""
import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SRCDIR, Registry  # noqa: E402


def read(path):
    with open(path) as f:
        return f.read()


class LogRotateTest(unittest.TestCase):

    def test_contrib_logrotate_reopens_the_log(self):
        reg = Registry()
        reg.start()
        try:
            log = os.path.join(reg.tmp, "octoserve.log")
            self.assertEqual(reg.request("GET", "/v2/?before").status, 200)
            pids = reg.responder_pids()
            self.assertTrue(pids)
            conf = read(os.path.join(SRCDIR, "contrib/logrotate/octoserve"))
            self.assertIn("/var/log/octoserve/*.log {", conf)
            self.assertIn("pkill -HUP -x octoserve-fcgi", conf)
            conf = conf.replace("/var/log/octoserve/*.log", log).replace(
                "pkill -HUP -x octoserve-fcgi", "kill -HUP %s" % " ".join(map(str, pids)))
            conf_path = os.path.join(reg.tmp, "logrotate.conf")
            with open(conf_path, "w") as f:
                f.write(conf)
            subprocess.run(["logrotate", "-f", "-s", os.path.join(reg.tmp, "logrotate.state"),
                            conf_path], check=True)
            rotated = log + ".1"  # delaycompress: the newest rotation stays plain
            self.assertIn("/v2/?before", read(rotated))
            deadline = time.time() + 10
            while not os.path.exists(log) and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(reg.request("GET", "/v2/?after").status, 200)
            # the request's log line follows its response: wait for it (a loaded machine)
            deadline = time.time() + 10
            while "/v2/?after" not in read(log) and time.time() < deadline:
                time.sleep(0.05)
            self.assertEqual(reg.responder_pids(), pids)  # reopened, not restarted
            now = read(log)
            self.assertIn("/v2/?after", now)
            self.assertIn('"msg":"log reopened"', now)
            self.assertNotIn("/v2/?after", read(rotated))
            self.assertEqual(os.stat(log).st_mode & 0o777, 0o640)
            for line in now.splitlines():
                json.loads(line)  # whole lines only
            self.assertFalse(re.search(r"/v2/\?before", now))
        finally:
            reg.cleanup()


if __name__ == "__main__":
    unittest.main()
