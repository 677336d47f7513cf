#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Membership through real daemons: nodes bootstrapped from one peer learn each other by
peer exchange; a node killed is seen down after failure_threshold missed checks and up
again once it answers; 20 daemons from one bootstrap peer all list each other (the time it
took is printed); `octoserve-peer status` shows it all, as a table and as JSON; a daemon
with p2p.enabled false refuses to run. A peer of another cluster (p2p.cluster_id), and one
whose clock runs ahead by more than p2p.max_clock_offset (under faketime), are refused on
both sides, with the reason logged, and never taken as up."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peers import FAKETIME_LIB, PEER, Daemon, faketime_env, free_port, wait_for  # noqa: E402

INTERVAL_MS = 200
SCALE_INTERVAL_MS = 1000  # the 20 daemons'
HEALTH = {"interval": "%dms" % INTERVAL_MS, "timeout": "500ms", "failure_threshold": 3,
          "workers": 4}


class MembershipTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="octoserve-members-")
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            d.stop(signal.SIGKILL)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def daemon(self, node_id, bootstrap=(), p2p=None, env=None, **kw):
        cfg = {"bootstrap_peers": list(bootstrap), "health_check": HEALTH}
        cfg.update(p2p or {})
        d = Daemon(self.tmp, node_id, cfg, **kw)
        self.daemons.append(d)
        return d.start(env)

    def all_up(self, d, others):
        return d.states() == {o.node_id: "up" for o in others}

    def test_three_nodes_learn_each_other_and_see_a_failure(self):
        n1 = self.daemon("n1")
        n2 = self.daemon("n2", [n1.address])
        n3 = self.daemon("n3", [n1.address])
        nodes = [n1, n2, n3]
        for d in nodes:  # n2 and n3 know each other only through n1
            self.assertIsNotNone(wait_for(lambda: self.all_up(d, [o for o in nodes if o is not d]),
                                          10), (d.node_id, d.status()))
        port = n3.port
        n3.stop(signal.SIGKILL)
        for d in (n1, n2):
            self.assertIsNotNone(wait_for(lambda: d.states().get("n3") == "down", 10),
                                 d.status())
            st = d.status()
            m = [m for m in st["members"] if m["id"] == "n3"][0]
            self.assertGreaterEqual(m["misses"], 3)
        i = self.daemons.index(n3)
        n3 = Daemon(self.tmp, "n3", {"bootstrap_peers": [n1.address], "health_check": HEALTH},
                    port=port).start()
        self.daemons[i] = n3
        for d in (n1, n2):
            self.assertIsNotNone(wait_for(lambda: d.states().get("n3") == "up", 10),
                                 d.status())
        # the table for people
        out = subprocess.run([PEER, "-c", n1.config, "status"], capture_output=True, text=True,
                             check=True).stdout
        self.assertIn("node n1 at %s" % n1.address, out)
        lines = out.splitlines()
        rows = {line.split()[0]: line.split()[2] for line in lines[2:-2]}
        self.assertEqual(rows, {"n2": "up", "n3": "up"}, out)
        self.assertEqual(lines[-2], "fetch queue: 0 blob(s) wanted from peers")
        self.assertTrue(lines[-1].startswith("last anti-entropy round: "), out)
        for d in nodes[:2]:
            self.assertEqual(d.stop(), 0)

    def test_twenty_daemons_from_one_bootstrap_peer(self):
        # at a 1 s interval: at 200 ms the fixed cost of 20 processes opening 380 channels on
        # two cores (about 0.4 s) would be most of the figure, not the protocol's intervals
        health = dict(HEALTH, interval="%dms" % SCALE_INTERVAL_MS)
        first = self.daemon("m00", p2p={"health_check": health})
        rest = [self.daemon("m%02d" % i, [first.address], p2p={"health_check": health})
                for i in range(1, 20)]
        nodes = [first] + rest
        # timed from the moment the last one has bound its port: 20 processes starting at
        # once on two cores take a while to exec and initialise, which is no part of the
        # membership protocol
        for d in nodes:
            d.wait_started(60)
        # generous: under the sanitizers, beside other suites, 20 daemons share two cores
        took = wait_for(lambda: all(self.all_up(d, [o for o in nodes if o is not d])
                                    for d in nodes), 150)
        self.assertIsNotNone(took, [(d.node_id, {k: v for k, v in d.states().items() if v != "up"},
                                     sorted({o.node_id for o in nodes} - {d.node_id} -
                                            set(d.states())))
                                    for d in nodes])
        sys.stderr.write("\n20 daemons from one bootstrap peer: all list each other %.2f s "
                         "after the last had bound its port (%.1f health intervals)\n" % (
                             took, took * 1000 / SCALE_INTERVAL_MS))

    def test_another_cluster_is_refused_on_both_sides(self):
        blue = self.daemon("blue1", p2p={"cluster_id": "blue"}).wait_started()
        blue2 = self.daemon("blue2", [blue.address], p2p={"cluster_id": "blue"})
        green = self.daemon("green1", [blue.address], p2p={"cluster_id": "green"})
        self.assertIsNotNone(wait_for(lambda: self.all_up(blue, [blue2]) and
                                      self.all_up(blue2, [blue]), 10))
        self.assertIsNotNone(wait_for(lambda: "another cluster" in green.log_text() and
                                      "another cluster" in blue.log_text(), 10))
        time.sleep(1)  # five more rounds: still refused, never learned
        self.assertNotIn("green1", blue.states())
        self.assertNotIn("green1", blue2.states())
        self.assertNotEqual(green.states().get("blue1"), "up")
        self.assertIn('"msg":"a peer refused this node"', green.log_text())
        self.assertIn('"msg":"a peer was refused"', blue.log_text())

    @unittest.skipUnless(os.path.exists(FAKETIME_LIB), "needs libfaketime (apt-get install faketime)")
    def test_a_clock_running_ahead_is_refused(self):
        now = self.daemon("now1").wait_started()
        # (libfaketime makes the ahead daemon's timed waits return at once: its health rounds
        # run back to back, and a failed connection would wait for gRPC's faked clock)
        ahead = self.daemon("ahead1", [now.address], env=faketime_env("+10m"))
        also_now = self.daemon("now2", [now.address])
        self.assertIsNotNone(wait_for(lambda: self.all_up(now, [also_now]), 10))
        self.assertIsNotNone(wait_for(lambda: "clock ahead" in now.log_text() and
                                      "clock ahead" in ahead.log_text(), 10),
                             (now.log_text()[-600:], ahead.log_text()[-600:]))
        time.sleep(1)
        self.assertNotIn("ahead1", now.states())
        self.assertNotEqual(ahead.states().get("now1"), "up")
        self.assertIn("the caller's clock runs more than p2p.max_clock_offset ahead",
                      ahead.log_text())

    def test_listen_and_advertise_address(self):
        # bound where p2p.listen_address says (another loopback address), and known to its
        # peers by the address it advertises
        a = self.daemon("la1", p2p={"listen_address": "127.0.0.2"}).wait_started()
        port = free_port()
        b = self.daemon("la2", ["127.0.0.2:%d" % a.port], port=port,
                        p2p={"advertise_address": "localhost:%d" % port})
        self.assertIsNotNone(wait_for(lambda: a.states().get("la2") == "up" and
                                      b.states().get("la1") == "up", 10))
        with socket.socket() as sk:
            self.assertNotEqual(sk.connect_ex(("127.0.0.1", a.port)), 0)  # not on 127.0.0.1
        self.assertEqual(a.status()["address"], "127.0.0.2:%d" % a.port)
        self.assertIn("open beyond loopback without TLS", a.log_text())
        self.assertNotIn("open beyond loopback", b.log_text())
        # a knows b by the address b advertises (from b's own calls), and b stays up there
        time.sleep(1)
        self.assertEqual({m["id"]: (m["address"], m["state"]) for m in a.status()["members"]},
                         {"la2": ("localhost:%d" % port, "up")})

    def test_disabled_refuses(self):
        d = Daemon(self.tmp, "off", {"enabled": False})
        r = subprocess.run([PEER, "-c", d.config], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("p2p.enabled is false", r.stderr)
        r = subprocess.run([PEER, "-c", d.config, "status"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no status", r.stderr)


if __name__ == "__main__":
    unittest.main()
