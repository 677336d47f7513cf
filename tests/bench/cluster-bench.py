#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Octoserve cluster benchmark (issue 13), part of `make bench`: two real nodes on loopback,
each lighttpd + the responder + octoserve-peer on its own store.

  eager   the time from the 201 of a push on node 1 to the blob committed (verified, fsynced,
          renamed) on node 2, for 1 MiB and 100 MiB, over plaintext and over mutual TLS
          (p2p.tls, a CA and certificates made with openssl for the run)
  ceiling the same bytes over a bare gRPC stream between two processes (grpc-ceiling, on the
          daemon's rpc module), hashed, written and fdatasynced on the receiver: what the
          eager figures are held against (target: within 2x)
  lazy    a GET on node 2 of a 100 MiB blob that only node 1 holds: the time to the first
          byte and to the last (the body is hashed and checked)
  memory  VmRSS of an idle daemon, and the sender's peak RSS (VmHWM) over the 100 MiB pushes
  anti-entropy  10,000 tags and 10,000 blob links on node 1: how long node 2, started empty,
          takes to get them by anti-entropy alone, then the bytes on the wire between the
          two daemons per round (sync_interval 1 s) once nothing differs
  strong  three nodes, factor 2: an image (two 64 KiB blobs and a tagged manifest) pushed one
          after the other, in eventual and in strong mode; the ratio is what strong costs
  faults  three nodes, each daemon in a network namespace (tests/peer/netns.py), factor 2:
          node 3 cut off while node 1 takes 10 images, then healed: the time until node 3
          serves them all and the bytes the daemons moved for it (eventual); and in strong
          mode the pushes node 3 refuses while cut off, and the time after the heal until it
          serves what the majority took

Medians of --rounds rounds (3). Every blob is random and new; every body is checked.
"""
import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

SRCDIR = os.environ.get("OCTOTEST_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "peer"))
sys.path.insert(0, os.path.join(SRCDIR, "tests", "http"))

from peers import OCI, Daemon, Node, make_ca, make_cert, metrics, served  # noqa: E402
import netns  # noqa: E402

MiB = 1 << 20


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        st = dict(line.split(":", 1) for line in f)
    return int(st["VmRSS"].split()[0]) / 1024, int(st["VmHWM"].split()[0]) / 1024


def blob_file(node, digest):
    hexd = digest.split(":")[1]
    return os.path.join(node.reg.data, "blobs", "sha256", hexd[:2], hexd)


def until(what, timeout, step=0.002):
    t0 = time.monotonic()
    while not what():
        if time.monotonic() - t0 > timeout:
            raise RuntimeError("timed out")
        time.sleep(step)


def pair(tmp, strategy, tls=False):
    """Two nodes; with tls, each with a certificate for its id from a CA made here."""
    name = strategy + ("-tls" if tls else "")
    p2p = {"replication": {"strategy": strategy}}
    if tls:
        pki = os.path.join(tmp, "pki-" + name)
        os.makedirs(pki)
        make_ca(pki, "ca")
    ids = (name + "1", name + "2")
    conf = [dict(p2p, tls=make_cert(pki, "ca", i, i)) if tls else p2p for i in ids]
    n1 = Node(tmp, ids[0], p2p=conf[0])
    n2 = Node(tmp, ids[1], [n1.daemon.address], p2p=conf[1])
    until(lambda: n1.daemon.states().get(n2.node_id) == "up" and
          n2.daemon.states().get(n1.node_id) == "up", 30, 0.05)
    return n1, n2


def eager(tmp, rounds, out, tls=False):
    n1, n2 = pair(tmp, "eager", tls)
    over = "mTLS" if tls else "plain"
    try:
        for size in (MiB, 100 * MiB):
            times = []
            for _ in range(rounds):
                data = os.urandom(size)
                d = n1.reg.push_blob("bench/eager", data)
                t201 = time.monotonic()
                until(lambda: os.path.exists(blob_file(n2, d)), 300)
                times.append(time.monotonic() - t201)
                with open(blob_file(n2, d), "rb") as f:
                    if hashlib.sha256(f.read()).hexdigest() != d.split(":")[1]:
                        raise RuntimeError("node 2's copy is not the blob")
            out["eager %d MiB %s, 201 to committed on node 2" % (size // MiB, over)] = times
        out["sender daemon peak RSS, %s (MiB)" % over] = [rss_mib(n1.daemon.pid())[1]]
    finally:
        n1.close()
        n2.close()


def lazy(tmp, rounds, out):
    n1, n2 = pair(tmp, "lazy")
    first, last = [], []
    try:
        for _ in range(rounds):
            data = os.urandom(100 * MiB)
            d = n1.reg.push_blob("bench/lazy", data)
            path = "/v2/bench/lazy/blobs/" + d
            until(lambda: n2.reg.request("HEAD", path).status == 200, 30, 0.01)
            c = n2.reg.connection()
            t0 = time.monotonic()
            c.request("GET", path)
            resp = c.getresponse()
            h = hashlib.sha256(resp.read(1))
            first.append(time.monotonic() - t0)
            while True:
                b = resp.read(MiB)
                if not b:
                    break
                h.update(b)
            last.append(time.monotonic() - t0)
            c.close()
            if resp.status != 200 or "sha256:" + h.hexdigest() != d:
                raise RuntimeError("the lazy GET did not give the blob")
        out["lazy 100 MiB from a non-holder, first byte"] = first
        out["lazy 100 MiB from a non-holder, last byte"] = last
    finally:
        n1.close()
        n2.close()


def connection_bytes(pid, port):
    """bytes_sent + bytes_received of pid's TCP connection(s) to 127.0.0.1:port (ss -ti)."""
    r = subprocess.run(["ss", "-tinpH", "state", "established", "dst", "127.0.0.1:%d" % port],
                       capture_output=True, text=True, check=True).stdout
    total, lines = 0, r.splitlines()
    for i, line in enumerate(lines):
        if "pid=%d," % pid not in line:
            continue
        info = " ".join(lines[i:i + 2])
        for key in ("bytes_sent:", "bytes_received:"):
            if key in info:
                total += int(info.split(key, 1)[1].split()[0])
    return total


def anti_entropy(tmp, out, tags=10000, blobs=10000, rounds=10):
    """Two nodes whose records are the same (10,000 tags and 10,000 blob links): the bytes one
    anti-entropy round costs on the wire between them (node 2's channel to node 1, both ways,
    TCP payload), with health checks out of the way; and how long node 2, started empty, took
    to get the 20,000 records by anti-entropy alone."""
    p2p = {"replication": {"strategy": "lazy", "sync_interval": "1s"},
           "health_check": {"interval": "1h", "timeout": "5s", "failure_threshold": 3,
                            "workers": 2}}
    n1 = Node(tmp, "ae1", p2p=p2p)
    n2 = None
    try:
        body = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": n1.reg.push_blob("bench/ae", b"{}"), "size": 2},
            "layers": []}).encode()

        def fill(k):
            c = n1.reg.connection()
            for i in range(k, max(tags, blobs), 8):
                if i < blobs:
                    data = b"blob %d %s" % (i, os.urandom(8).hex().encode())
                    r = n1.reg.post_blob("bench/ae", data)
                    assert r.status == 201, r
                if i < tags:
                    r = n1.reg.request("PUT", "/v2/bench/ae/manifests/t%05d" % i, body=body,
                                       headers={"Content-Type":
                                                "application/vnd.oci.image.manifest.v1+json"},
                                       conn=c)
                    assert r.status == 201, r
            c.close()
        threads = [threading.Thread(target=fill, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        n2 = Node(tmp, "ae2", [n1.daemon.address], p2p=p2p)
        t0 = time.monotonic()
        until(lambda: n2.reg.request("GET", "/v2/bench/ae/tags/list?n=100000").status == 200 and
              len(n2.reg.request("GET", "/v2/bench/ae/tags/list?n=100000").json()["tags"]) ==
              tags, 600, 0.2)
        out["anti-entropy: 20,000 records to an empty node (s)"] = [time.monotonic() - t0]

        def quiet(node):
            st = node.daemon.status() or {}
            ae = st.get("anti_entropy", {})
            return ae.get("members") == 1 and ae.get("differing") == 0
        until(lambda: quiet(n1) and quiet(n2), 120, 0.2)
        pid = n2.daemon.pid()
        before, t_start = connection_bytes(pid, n1.daemon.port), time.monotonic()
        time.sleep(rounds)
        per = (connection_bytes(pid, n1.daemon.port) - before) / ((time.monotonic() - t_start) /
                                                                  1.0)
        out["anti-entropy round, nothing differs, bytes per peer"] = [per]
        if not quiet(n2):
            raise RuntimeError("the nodes differed during the measurement")
    finally:
        n1.close()
        if n2 is not None:
            n2.close()


def ceiling(tmp, rounds, out, tool, tls=False):
    """The bare gRPC ceiling (tests/bench/grpc-ceiling.c): the blob's bytes over a server
    stream between two processes, hashed, written and fdatasynced on the receiver."""
    over = "mTLS" if tls else "plain"
    creds, sides = [], ([], [])
    if tls:
        pki = os.path.join(tmp, "pki-ceiling")
        os.makedirs(pki, exist_ok=True)
        make_ca(pki, "ca")
        for who in ("server", "client"):
            c = make_cert(pki, "ca", who, who)
            sides[who == "client"].extend([c["cert"], c["key"], c["ca"]])
    for mib in (1, 100):
        srv = subprocess.Popen([tool, "serve", str(mib)] + sides[0], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
        try:
            port = int(srv.stdout.readline())
            times = []
            for _ in range(rounds):
                dest = os.path.join(tmp, "ceiling.out")
                r = subprocess.run([tool, "fetch", "127.0.0.1:%d" % port, str(mib), dest] +
                                   (sides[1] + ["server"] if tls else []),
                                   capture_output=True, text=True, check=True)
                times.append(float(r.stdout))
                os.unlink(dest)
            out["ceiling %d MiB %s, bare gRPC stream hashed + fdatasynced" % (mib, over)] = times
        finally:
            srv.stdin.close()
            srv.wait(timeout=30)


def image(node, repo, tag, size=64 * 1024):
    """Two random blobs and a manifest tagged tag, pushed to node; the image."""
    layer, config = os.urandom(size), os.urandom(size)
    for b in (layer, config):
        r = node.reg.post_blob(repo, b)
        if r.status != 201:
            raise RuntimeError("blob push: %r" % r)
    body = json.dumps({
        "schemaVersion": 2, "mediaType": OCI,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + hashlib.sha256(config).hexdigest(), "size": size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": "sha256:" + hashlib.sha256(layer).hexdigest(), "size": size}]
    }).encode()
    r = node.reg.request("PUT", "/v2/%s/manifests/%s" % (repo, tag), body=body,
                         headers={"Content-Type": OCI})
    return {"repo": repo, "tag": tag, "manifest": body, "blobs": [layer, config],
            "status": r.status}


def trio(tmp, name, mode, net=None):
    """Three nodes naming each other (the voters), factor 2, in mode; in net's namespaces."""
    port = 6000 if net else None
    addrs = (["%s:%d" % (net.address(k), port) for k in (1, 2, 3)] if net else None)
    nodes = []
    for k in (1, 2, 3):
        p2p = {"replication": {"consistency_mode": mode, "factor": 2, "sync_interval": "1s",
                               "strong_timeout": "5s"}}
        if net:
            p2p.update(listen_address=net.address(k), advertise_address=addrs[k - 1])
            peers = [a for a in addrs if a != addrs[k - 1]]
        else:
            peers = [n.daemon.address for n in nodes]
        nodes.append(Node(tmp, "%s%d" % (name, k), peers, port=port, p2p=p2p,
                          wrap=net.wrap(k) if net else None))
    if not net:  # the first two learn the later ones by their Health calls; voters need all
        for n in nodes:
            n.daemon.stop()
            with open(n.daemon.config) as f:
                cfg = json.load(f)
            cfg["p2p"]["bootstrap_peers"] = [m.daemon.address for m in nodes if m is not n]
            with open(n.daemon.config, "w") as f:
                json.dump(cfg, f)
            n.daemon.start().wait_started()
    ids = {n.node_id for n in nodes}
    until(lambda: all({m for m, st in n.daemon.states().items() if st == "up"} ==
                      ids - {n.node_id} for n in nodes), 30, 0.05)
    return nodes


def strong(tmp, rounds, out):
    for mode in ("eventual", "strong"):
        nodes = trio(tmp, "bench-" + mode, mode)
        try:
            times = []
            for r in range(rounds * 7):
                t0 = time.monotonic()
                img = image(nodes[r % 3], "bench/strong", "t%d" % r)
                if img["status"] != 201:
                    raise RuntimeError("%s push: %d" % (mode, img["status"]))
                times.append(time.monotonic() - t0)
            out["image push (2 x 64 KiB + manifest), %s" % mode] = times
        finally:
            for n in nodes:
                n.close()


def moved(nodes):
    """Bytes the daemons sent (changes) and fetched (blobs), summed over the nodes."""
    total = 0
    for n in nodes:
        for (name, labels), v in metrics(n).items():
            if name in ("octoserve_peer_sent_bytes_total", "octoserve_peer_fetched_bytes_total"):
                total += v
    return total


def faults(tmp, out):
    netns.remove_stale()
    for mode in ("eventual", "strong"):
        net = netns.Net(3, tag="b")
        nodes = []
        try:
            nodes = trio(tmp, "fault-" + mode, mode, net)
            n1, n3 = nodes[0], nodes[2]
            net.cut(3)
            until(lambda: n1.daemon.states().get(n3.node_id) == "down" and
                  n3.daemon.states().get(n1.node_id) == "down", 30, 0.05)
            before = moved(nodes)
            imgs = [image(n1, "bench/fault", "i%d" % i) for i in range(10)]
            if any(i["status"] != 201 for i in imgs):
                raise RuntimeError("a push on the majority side failed")
            if mode == "strong":
                refused = 0
                for i in range(10):
                    r = n3.reg.post_blob("bench/fault", os.urandom(1000))
                    refused += r.status == 503
                out["strong: pushes node 3 refused while cut off (of 10)"] = [refused]
            net.heal(3)
            t0 = time.monotonic()
            until(lambda: all(served(n3, i, by_tag=True) for i in imgs), 120, 0.05)
            took = time.monotonic() - t0
            out["%s: heal to node 3 serving the cut's 10 images" % mode] = [took]
            time.sleep(2)  # the rounds after: copies dropped, nothing else moves
            out["%s: bytes the daemons moved for them (MiB)" % mode] = [
                (moved(nodes) - before) / MiB]
        finally:
            for n in nodes:
                n.close()
            net.close()


def idle(tmp, out):
    d = Daemon(tmp, "idle").start()
    try:
        time.sleep(3)
        out["idle daemon RSS (MiB)"] = [rss_mib(d.proc.pid)[0]]
    finally:
        d.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--ceiling", help="tests/bench/grpc-ceiling, for the eager figures' ceiling")
    ap.add_argument("--only", help="run only these parts (comma-separated: idle, eager, "
                    "lazy, anti-entropy, strong, faults)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="octoserve-cluster-bench-")
    out = {}
    try:
        parts = set((args.only or "idle,eager,lazy,anti-entropy,strong,faults").split(","))
        if "idle" in parts:
            idle(tmp, out)
        if "eager" in parts:
            for tls in (False, True):
                if args.ceiling:
                    ceiling(tmp, args.rounds, out, args.ceiling, tls)
                eager(tmp, args.rounds, out, tls)
        if "lazy" in parts:
            lazy(tmp, args.rounds, out)
        if "anti-entropy" in parts:
            anti_entropy(tmp, out)
        if "strong" in parts:
            strong(tmp, args.rounds, out)
        if "faults" in parts:
            faults(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nOctoserve cluster benchmark, 2 or 3 nodes on loopback, medians of %d" % args.rounds)
    for k, v in out.items():
        unit = "" if "MiB)" in k or "bytes" in k or "(of" in k else " s"
        print("  %-52s %8.3f%s   %s" % (k, statistics.median(v), unit,
                                        " ".join("%.3f" % x for x in v)))
    for over in ("plain", "mTLS"):
        for mib in (1, 100):
            e = out.get("eager %d MiB %s, 201 to committed on node 2" % (mib, over))
            c = out.get("ceiling %d MiB %s, bare gRPC stream hashed + fdatasynced" % (mib, over))
            if e and c:
                print("  eager %3d MiB %-5s / its ceiling: x%.2f (target: within x2)" %
                      (mib, over, statistics.median(e) / statistics.median(c)))
    e, st = (out.get("image push (2 x 64 KiB + manifest), %s" % m) for m in ("eventual", "strong"))
    if e and st:
        print("  strong / eventual image push: x%.2f" % (statistics.median(st) / statistics.median(e)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
