# SPDX-License-Identifier: Apache-2.0
"""Network namespaces for cluster tests that cut links between nodes: each node's peer
daemon runs in a namespace of its own, joined by a veth pair to a bridge in one more
namespace, at 198.18.0.<k> (the benchmarking range, inside the namespaces only). The web
fronts and responders stay in the host namespace on loopback (they need only the store), so
a client always reaches every node. A cut is the node's link set down inside its namespace.
Names carry a per-run prefix (the test's PID); namespaces of runs whose process is gone are
removed at start, and a run removes its own at the end, also when a test failed."""
import os
import re
import subprocess

PREFIX = "octo%d-" % os.getpid()
SUBNET = "198.18.0.%d"


def ip(*args, check=True):
    return subprocess.run(["ip"] + list(args), capture_output=True, text=True, check=check)


def remove_stale():
    """Namespaces of earlier runs whose process is gone (octo<pid>-…)."""
    for line in ip("netns", "list").stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"octo(\d+)-", name)
        if m and not os.path.exists("/proc/%s" % m.group(1)):
            ip("netns", "del", name, check=False)


class Net:
    """A bridge and n node namespaces; node k (1-based) at SUBNET % k."""

    def __init__(self, n, tag="p"):
        self.tag = tag
        self.bridge = PREFIX + tag + "br"
        self.names = []
        try:
            ip("netns", "add", self.bridge)
            ip("-n", self.bridge, "link", "add", "br0", "type", "bridge")
            ip("-n", self.bridge, "link", "set", "br0", "up")
            for k in range(1, n + 1):
                self.add(k)
        except Exception:
            self.close()
            raise

    def add(self, k):
        ns = PREFIX + self.tag + str(k)
        # interface names: at most 15 bytes, made in the bridge's namespace (not the host's)
        a, b = "v%da" % k, "v%db" % k
        ip("netns", "add", ns)
        self.names.append(ns)
        ip("-n", self.bridge, "link", "add", a, "type", "veth", "peer", "name", b)
        ip("-n", self.bridge, "link", "set", a, "netns", ns)
        ip("-n", self.bridge, "link", "set", b, "master", "br0")
        ip("-n", self.bridge, "link", "set", b, "up")
        ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", ns, "link", "set", a, "name", "eth0")
        ip("-n", ns, "addr", "add", SUBNET % k + "/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")

    def ns(self, k):
        return PREFIX + self.tag + str(k)

    def address(self, k):
        return SUBNET % k

    def wrap(self, k):
        """The command prefix that runs a program in node k's namespace (ip netns exec
        execs it: the program keeps the PID the test started)."""
        return ["ip", "netns", "exec", self.ns(k)]

    def cut(self, k):
        ip("-n", self.ns(k), "link", "set", "eth0", "down")

    def heal(self, k):
        ip("-n", self.ns(k), "link", "set", "eth0", "up")

    def close(self):
        for ns in self.names + [self.bridge]:
            ip("netns", "del", ns, check=False)
        self.names = []
