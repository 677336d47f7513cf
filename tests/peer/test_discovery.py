#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""DNS discovery (p2p.discovery.method "dns") through real daemons and a real DNS server:
dnsmasq in the foreground on a free loopback port, with nothing from the system (no
resolv.conf, no /etc/hosts), named to the daemons by p2p.discovery.dns_server, so no query
leaves the machine. Daemons without a bootstrap peer find each other through SRV records
naming their ports (a node whose own record names it otherwise than it advertises never lists
itself), a target's A and AAAA records both ("[::1]:port"), and A records with p2p.port on
127.0.0.2-4; a record added later (SIGHUP) is learned within a few discovery intervals; a
resolver that never answers leaves the daemon running, logs the failure once (not every
interval), and bootstrap peers still work."""
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from peers import Daemon, free_port, wait_for  # noqa: E402

DNSMASQ = "/usr/sbin/dnsmasq"
DOMAIN = "cluster.test"
SRV_NAME = "_octoserve._tcp." + DOMAIN
INTERVAL_S = 1
HEALTH = {"interval": "200ms", "timeout": "500ms", "failure_threshold": 3, "workers": 4}


def free_dns_port():
    """A loopback port free for both UDP and TCP (dnsmasq binds both)."""
    while True:
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def query_a(port, name, timeout=0.5):
    """The IPv4 addresses the server on port gives for name (A records), or None when it
    does not answer."""
    qid = os.getpid() & 0xFFFF
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    packet += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    packet += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, ("127.0.0.1", port))
        try:
            reply = s.recv(4096)
        except socket.timeout:
            return None
    _, _, _, ancount, _, _ = struct.unpack(">HHHHHH", reply[:12])
    at = len(packet)  # the question comes back as it was sent
    found = []
    for _ in range(ancount):
        at += 2 if reply[at] & 0xC0 == 0xC0 else reply.index(b"\0", at) + 1 - at
        rtype, _, _, rdlen = struct.unpack(">HHIH", reply[at:at + 10])
        at += 10
        if rtype == 1 and rdlen == 4:
            found.append(socket.inet_ntoa(reply[at:at + 4]))
        at += rdlen
    return sorted(found)


class Dnsmasq:
    """dnsmasq serving only the records given (dnsmasq options: --srv-host, --host-record)
    and an addn-hosts file (rewritten by hosts(), reread on SIGHUP), for DOMAIN alone."""

    def __init__(self, tmp, records=(), hosts=()):
        # dnsmasq started by root reads the hosts file as "nobody": a directory it may enter
        os.chmod(tmp, 0o711)
        tmp = os.path.join(tmp, "dns")
        os.makedirs(tmp, mode=0o755)
        self.port = free_dns_port()
        self.records = list(records)
        self.hosts_file = os.path.join(tmp, "dns-hosts")
        self.pid_file = os.path.join(tmp, "dnsmasq.pid")
        self.log = os.path.join(tmp, "dnsmasq.log")
        self.write_hosts(hosts)
        self.out = open(os.path.join(tmp, "dnsmasq.out"), "w")
        self.proc = subprocess.Popen(
            [DNSMASQ, "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
             "--bind-interfaces", "--listen-address=127.0.0.1", "--port=%d" % self.port,
             "--pid-file=" + self.pid_file, "--local=/%s/" % DOMAIN,
             "--addn-hosts=" + self.hosts_file, "--log-facility=" + self.log,
             "--log-queries"] + self.records,
            stdout=self.out, stderr=subprocess.STDOUT)
        if wait_for(lambda: query_a(self.port, "ready." + DOMAIN, 0.2) is not None or
                    self.proc.poll() is not None, 20) is None or self.proc.poll() is not None:
            self.stop()
            with open(self.out.name) as f:
                raise RuntimeError("dnsmasq did not start: %s" % f.read())

    def write_hosts(self, hosts):
        with open(self.hosts_file + ".new", "w") as f:
            f.write("".join("%s %s\n" % (ip, name) for ip, name in hosts))
        os.rename(self.hosts_file + ".new", self.hosts_file)

    def hosts(self, hosts):
        """Serve these (ip, name) pairs from now on."""
        self.write_hosts(hosts)
        self.proc.send_signal(signal.SIGHUP)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None
        self.out.close()


class DiscoveryTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="octoserve-dns-")
        self.daemons = []
        self.dns = None

    def tearDown(self):
        for d in self.daemons:
            d.stop(signal.SIGKILL)
        if self.dns is not None:
            self.dns.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def daemon(self, node_id, dns_name=None, dns_server=None, bootstrap=(), host="127.0.0.1",
               port=None, discovery=None, advertise=None):
        """A daemon on host:port; with dns_name, discovering through dns_server (by default
        the dnsmasq of the test) every INTERVAL_S."""
        p2p = {"bootstrap_peers": list(bootstrap), "health_check": HEALTH,
               "listen_address": host}
        if dns_name is not None:
            p2p["discovery"] = dict({"method": "dns", "dns_name": dns_name,
                                     "dns_server": dns_server or "127.0.0.1:%d" % self.dns.port,
                                     "interval": "%ds" % INTERVAL_S, "timeout": "2s"},
                                    **(discovery or {}))
        if advertise:
            p2p["advertise_address"] = advertise
        d = Daemon(self.tmp, node_id, p2p, port=port)
        d.address = "%s:%d" % (host, d.port)
        self.daemons.append(d)
        return d.start()

    def all_up(self, d, others):
        return d.states() == {o.node_id: "up" for o in others}

    def assert_all_know_each_other(self, nodes, timeout=30):
        took = wait_for(lambda: all(self.all_up(d, [o for o in nodes if o is not d])
                                    for d in nodes), timeout)
        self.assertIsNotNone(took, [(d.node_id, d.states()) for d in nodes])
        return took

    def test_srv_records_name_each_port(self):
        ports = [free_port() for _ in range(3)]
        self.dns = Dnsmasq(self.tmp, [
            "--srv-host=%s,n%d.%s,%d" % (SRV_NAME, i, DOMAIN, p) for i, p in enumerate(ports)] + [
            "--host-record=n%d.%s,127.0.0.1" % (i, DOMAIN) for i in range(3)])
        # srv0 advertises another name than the records give ("localhost" for 127.0.0.1):
        # its own record, once it answers as srv0, is no member
        nodes = [self.daemon("srv%d" % i, SRV_NAME, port=p,
                             advertise="localhost:%d" % p if i == 0 else None)
                 for i, p in enumerate(ports)]
        took = self.assert_all_know_each_other(nodes)
        self.assertIsNotNone(wait_for(lambda: '"msg":"an address of this node itself: skipped"'
                                      in nodes[0].log_text(), 10))
        for d in nodes:  # each member once, never the node itself
            ids = [m["id"] for m in d.status()["members"]]
            self.assertEqual(sorted(ids), sorted(o.node_id for o in nodes if o is not d))
        for d in nodes:  # every one of them found all three records itself
            self.assertIn('"msg":"DNS discovery found peers"', d.log_text())
            self.assertIn('"addresses":"%s"' % ",".join(sorted("127.0.0.1:%d" % p for p in ports)),
                          d.log_text())
            self.assertNotIn("DNS discovery failed", d.log_text())
        sys.stderr.write("\nthree daemons with no bootstrap peer, SRV records: all up %.2f s "
                         "after the last started\n" % took)

    def test_both_address_families_of_a_target(self):
        # the target has an A and an AAAA record; the daemon listens on 127.0.0.1 only, so
        # its IPv6 address is learned ("[::1]:port") and never answers
        target = self.daemon("dual-target")
        self.dns = Dnsmasq(self.tmp, ["--srv-host=%s,dual.%s,%d" % (SRV_NAME, DOMAIN, target.port),
                                      "--host-record=dual.%s,127.0.0.1,::1" % DOMAIN])
        d = self.daemon("dual", SRV_NAME)
        both = sorted(["127.0.0.1:%d" % target.port, "[::1]:%d" % target.port])
        self.assertIsNotNone(wait_for(lambda: sorted(m["address"] for m in (d.status() or {}).get(
            "members", [])) == both and d.states().get("dual-target") == "up", 20), d.status())
        self.assertIn('"addresses":"%s"' % ",".join(both), d.log_text())

    def test_a_records_with_the_peer_port(self):
        port = free_port()
        hosts = ["127.0.0.%d" % i for i in (2, 3, 4)]
        self.dns = Dnsmasq(self.tmp, ["--host-record=peers.%s,%s" % (DOMAIN, h) for h in hosts])
        self.assertEqual(query_a(self.dns.port, "peers." + DOMAIN), hosts)
        nodes = [self.daemon("a%d" % i, "peers." + DOMAIN, host=h, port=port)
                 for i, h in enumerate(hosts)]
        self.assert_all_know_each_other(nodes)
        for d in nodes:  # known at the addresses the records gave, with p2p.port
            self.assertEqual(sorted(m["address"] for m in d.status()["members"]),
                             sorted(o.address for o in nodes if o is not d))

    def test_a_record_added_later_is_learned(self):
        port = free_port()
        name = "peers." + DOMAIN
        self.dns = Dnsmasq(self.tmp, hosts=[("127.0.0.2", name), ("127.0.0.3", name)])
        a = self.daemon("late-a", name, host="127.0.0.2", port=port)
        b = self.daemon("late-b", name, host="127.0.0.3", port=port)
        # c discovers nothing and has no bootstrap peer: only a record names it
        c = self.daemon("late-c", host="127.0.0.4", port=port)
        self.assert_all_know_each_other([a, b])
        self.assertNotIn("late-c", a.states())
        self.assertNotIn("late-c", b.states())
        self.assertEqual(c.states(), {})
        self.dns.hosts([("127.0.0.2", name), ("127.0.0.3", name), ("127.0.0.4", name)])
        self.assertIsNotNone(wait_for(lambda: query_a(self.dns.port, name) ==
                                      ["127.0.0.2", "127.0.0.3", "127.0.0.4"], 10))
        took = self.assert_all_know_each_other([a, b, c], timeout=10 * INTERVAL_S + 10)
        sys.stderr.write("\na record added later: learned and up on every node %.2f s after "
                         "dnsmasq served it (discovery interval %d s)\n" % (took, INTERVAL_S))
        self.assertLess(took, 5 * INTERVAL_S + 5)

    def test_a_resolver_that_never_answers(self):
        # a UDP port that takes the queries and never answers them
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.settimeout(0.2)
        peer = self.daemon("mute-peer")
        d = self.daemon("mute", SRV_NAME, dns_server="127.0.0.1:%d" % silent.getsockname()[1],
                        bootstrap=[peer.address],
                        discovery={"interval": "300ms", "timeout": "300ms"})
        self.assertIsNotNone(wait_for(lambda: self.all_up(d, [peer]) and
                                      self.all_up(peer, [d]), 20))
        queries = 0
        t0 = time.monotonic()
        while queries < 12 and time.monotonic() - t0 < 30:  # several rounds of them
            try:
                silent.recv(512)
                queries += 1
            except socket.timeout:
                pass
        self.assertGreaterEqual(queries, 12)
        self.assertIsNone(d.proc.poll())  # still running
        failures = [line for line in d.log_text().splitlines() if "DNS discovery failed" in line]
        self.assertEqual(len(failures), 1, failures)  # once, not every interval
        self.assertIn("no answer within p2p.discovery.timeout", failures[0])
        self.assertIn('"name":"%s"' % SRV_NAME, failures[0])
        self.assertTrue(self.all_up(d, [peer]))  # the bootstrap peer still works
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
