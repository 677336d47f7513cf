# SPDX-License-Identifier: Apache-2.0
"""Benchmarks of the operations (`make bench`, after the others):

gc      a store of 100,000 blobs and 10,000 manifests (1,000 repositories, half the manifests
        untagged) on a tmpfs, written through the library (store-fill): the time and peak memory
        of `octoserve-admin gc --delete-untagged` (mark and sweep), of a dry run (mark only), and
        the pushes a second the registry serves beside a collection running in a loop, against
        the same pushes without one (medians of 4 rounds of 10 s each, in alternating order; the collections then walk the 5,000
        manifests and 50,000 blobs left).
notify  event notifications to a receiver on loopback: the lag (receipt less the event's time)
        and throughput at the highest push rate this machine sustains (8 pushing threads), and
        with a bench-only journal writer at 500 events a second.
auth    GETs of a manifest by tag (wrk, 16 connections) with a bearer token (ES256, the built-in
        issuer's; and RS256) against the same registry without authentication (medians of 3
        rounds of 8 s, in alternating order), and a login through the issuer (a token for a
        password, htpasswd at bcrypt cost 10; median of 9).

The store is on a tmpfs: what is measured is the walk, the hashing of records and the
unlinks, not the disk's fsyncs (which store-bench measures)."""
import argparse
import http.server
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "http"))
from harness import ADMIN_BIN, Registry, free_port, sha256  # noqa: E402
sys.path.insert(0, HERE)
from bench import vm_hwm_kib  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def run_admin(reg, *args):
    """octoserve-admin …: (its JSON result, peak RSS in KiB). The peak is its VmHWM, read every
    20 ms while it runs: wait4's ru_maxrss would count this (larger) process, whose memory
    the child had at the fork."""
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen([ADMIN_BIN, "-c", reg.config_path] + list(args), stdout=out,
                             env=reg.env)
        peak = 0
        while p.poll() is None:
            peak = max(peak, vm_hwm_kib(p.pid))
            time.sleep(0.02)
        assert p.returncode == 0, (args, p.returncode)
        out.seek(0)
        return json.loads(out.read()), peak


class Pusher:
    """threads pushing small images (two blobs and a manifest) as fast as they can."""

    def __init__(self, reg, threads=8):
        self.reg, self.threads, self.images = reg, threads, 0
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def one(self, n):
        i = 0
        while not self.stop.is_set():
            repo = "push/t%d" % n
            layer = os.urandom(512)
            config = b'{"n":%d,"t":%d,"r":"%s"}' % (i, n, os.urandom(4).hex().encode())
            for b in (layer, config):
                r = self.reg.post_blob(repo, b)
                assert r.status == 201, r
            body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": sha256(config), "size": len(config)},
                               "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                           "digest": sha256(layer), "size": len(layer)}]})
            r = self.reg.request("PUT", "/v2/%s/manifests/i%d" % (repo, i), body=body.encode(),
                                 headers={"Content-Type": OCI_MANIFEST})
            assert r.status == 201, r
            i += 1
            with self.lock:
                self.images += 1

    def run(self, seconds):
        self.stop.clear()
        self.images = 0
        ts = [threading.Thread(target=self.one, args=(n,)) for n in range(self.threads)]
        for t in ts:
            t.start()
        time.sleep(seconds)
        self.stop.set()
        for t in ts:
            t.join()
        return self.images / seconds


def tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", path], check=True)


def bench_gc(fill_bin, out):
    reg = Registry(config={"storage": {"gc": {"grace": "0s"},
                                       "min_free": {"bytes": 0, "inodes": 0}}}, threads=16)
    tmpfs(reg.data, "8g")
    try:
        t0 = time.time()
        filled = json.loads(subprocess.check_output(
            [fill_bin, reg.data, "fill", "1000", "10", "10", "2"]))
        fill_s = time.time() - t0
        dry, dry_rss = run_admin(reg, "gc", "--dry-run", "--delete-untagged", "--json")
        res, rss = run_admin(reg, "gc", "--delete-untagged", "--json")
        out["gc"] = {"store": filled, "fill_s": round(fill_s, 1),
                     "dry_run": {"mark_ms": dry["mark_ms"], "sweep_ms": dry["sweep_ms"],
                                 "peak_rss_kib": dry_rss},
                     "run": {"mark_ms": res["mark_ms"], "sweep_ms": res["sweep_ms"],
                             "peak_rss_kib": rss, "manifests_removed": res["manifests_removed"],
                             "links_removed": res["links_removed"],
                             "blobs_removed": res["blobs_removed"]}}
        print("gc of %(manifests)d manifests, %(blobs)d blobs:" % filled, flush=True)
        print("  dry run: mark %d ms, peak RSS %d KiB" % (dry["mark_ms"] + dry["sweep_ms"],
                                                         dry_rss))
        print("  gc: mark %d ms, sweep %d ms, peak RSS %d KiB; removed %d manifests, %d links, "
              "%d blobs" % (res["mark_ms"], res["sweep_ms"], rss, res["manifests_removed"],
                            res["links_removed"], res["blobs_removed"]), flush=True)
        # pushes beside collections in a loop (each walks the 5,000 manifests and 50,000 blobs
        # left, and what the pushes add), against pushes alone
        reg.start()
        pusher, alone, beside = Pusher(reg), [], []
        for rnd in range(4):  # alternating which goes first, so neither gains from order
            for beside_gc in ((False, True) if rnd % 2 == 0 else (True, False)):
                if not beside_gc:
                    alone.append(pusher.run(10))
                    continue
                stop, runs = threading.Event(), []

                def loop():
                    while not stop.is_set():
                        runs.append(run_admin(reg, "gc", "--json")[0])
                t = threading.Thread(target=loop)
                t.start()
                beside.append(pusher.run(10))
                stop.set()
                t.join()
        reg.stop()
        out["gc"]["pushes"] = {"alone_per_s": round(statistics.median(alone), 1),
                               "beside_gc_per_s": round(statistics.median(beside), 1),
                               "gc_runs_beside": len(runs)}
        print("  pushes (images of 2 blobs + manifest, 8 threads): %.1f/s alone, %.1f/s beside "
              "gc in a loop (ratio %.2f; the last round ran %d collections)" % (
                  statistics.median(alone), statistics.median(beside),
                  statistics.median(beside) / statistics.median(alone), len(runs)), flush=True)
    finally:
        reg.stop()
        subprocess.run(["umount", "-l", reg.data], stderr=subprocess.DEVNULL)
        reg.cleanup()


class Receiver:
    def __init__(self):
        self.port = free_port()
        self.lags, self.count = [], 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                events = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["events"]
                now = time.time()
                for e in events:
                    ts = time.mktime(time.strptime(e["timestamp"][:19], "%Y-%m-%dT%H:%M:%S"))
                    ts += int(e["timestamp"][20:23]) / 1000 - time.timezone
                    owner.lags.append(now - ts)
                owner.count += len(events)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def lag_summary(lags):
    lags = sorted(lags)
    return {"median_ms": round(1000 * statistics.median(lags), 1),
            "p99_ms": round(1000 * lags[int(len(lags) * 0.99) - 1], 1), "events": len(lags)}


def bench_notify(fill_bin, out):
    rec = Receiver()
    ep = [{"name": "bench", "url": "http://127.0.0.1:%d/" % rec.port, "batch": 100}]
    with Registry(config={"notifications": {"endpoints": ep}}, threads=16) as reg:
        serve = subprocess.Popen([ADMIN_BIN, "-c", reg.config_path, "serve"], env=reg.env)
        cursor = os.path.join(reg.data, "journal", "cursors", "notify-bench")
        while not os.path.exists(cursor):
            time.sleep(0.05)
        try:
            events = int(round(Pusher(reg).run(15) * 15)) * 3  # two blobs and a manifest each
            deadline = time.time() + 60
            while rec.count < events and time.time() < deadline:
                time.sleep(0.05)
            pushed = lag_summary(rec.lags)
            pushed["events_per_s"] = round(events / 15, 1)
            rec.lags, rec.count = [], 0
            written = json.loads(subprocess.check_output(
                [fill_bin, reg.data, "journal", "500", "10"]))
            deadline = time.time() + 60
            while rec.count < written["events"] and time.time() < deadline:
                time.sleep(0.05)
            paced = lag_summary(rec.lags)
            paced["events_per_s"] = 500
        finally:
            serve.terminate()
            serve.wait()
    out["notify"] = {"at_push_rate": pushed, "at_500_per_s": paced}
    print("notifications: at the push rate (%.0f events/s): lag median %.1f ms, p99 %.1f ms; "
          "at 500 events/s: median %.1f ms, p99 %.1f ms" % (
              pushed["events_per_s"], pushed["median_ms"], pushed["p99_ms"],
              paced["median_ms"], paced["p99_ms"]), flush=True)


def bench_auth(out):
    import base64
    import re
    tmp = tempfile.mkdtemp(prefix="octoserve-auth-bench-")
    users = os.path.join(tmp, "htpasswd")
    subprocess.run(["htpasswd", "-cbB", "-C", "10", users, "alice", "pw"], check=True, capture_output=True)
    rsa = os.path.join(tmp, "rsa.key")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", rsa], check=True, capture_output=True)
    basic = {"Authorization": "Basic " + base64.b64encode(b"alice:pw").decode()}
    setups = {"none": {}, "ES256": {"auth": {"htpasswd": {"path": users}}},
              "RS256": {"auth": {"htpasswd": {"path": users}, "token": {"signing_key": rsa}}}}
    regs, headers, rates, logins = {}, {}, {k: [] for k in setups}, []
    try:
        for name, cfg in setups.items():
            reg = regs[name] = Registry(cfg, threads=8).start()
            h = {}
            if cfg:
                r = reg.request("GET", "/auth/token?service=octoserve&scope=repository:bench/app:pull,push",
                                headers=basic)
                h = {"Authorization": "Bearer " + r.json()["token"]}
            headers[name] = h
            config = b"{}"
            assert reg.request("POST", "/v2/bench/app/blobs/uploads/?digest=" + sha256(config),
                               body=config, headers=h).status == 201
            body = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [],
                               "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                          "digest": sha256(config), "size": 2}}).encode()
            assert reg.request("PUT", "/v2/bench/app/manifests/v1", body=body,
                               headers=dict(h, **{"Content-Type": OCI_MANIFEST})).status == 201
        for rnd in range(3):
            for name in (list(setups) if rnd % 2 == 0 else list(reversed(list(setups)))):
                args = ["wrk", "-t2", "-c16", "-d8s"]
                for k, v in headers[name].items():
                    args += ["-H", "%s: %s" % (k, v)]
                res = subprocess.run(args + ["http://127.0.0.1:%d/v2/bench/app/manifests/v1" % regs[name].port],
                                     capture_output=True, text=True).stdout
                rates[name].append(float(re.search(r"Requests/sec:\s+([0-9.]+)", res).group(1)))
        for _ in range(9):
            t0 = time.monotonic()
            assert regs["ES256"].request("GET", "/auth/token?service=octoserve&scope=repository:bench/app:pull",
                                         headers=basic).status == 200
            logins.append(time.monotonic() - t0)
    finally:
        for reg in regs.values():
            reg.cleanup()
        subprocess.run(["rm", "-rf", tmp])
    med = {k: statistics.median(v) for k, v in rates.items()}
    out["auth"] = {"manifest_get_req_s": med, "rounds": rates,
                   "es256_vs_none": med["ES256"] / med["none"], "rs256_vs_none": med["RS256"] / med["none"],
                   "login_ms_median": statistics.median(logins) * 1000}
    print("auth: manifest GETs/s none %.0f, ES256 token %.0f (%.2f), RS256 token %.0f (%.2f); "
          "login %.1f ms" % (med["none"], med["ES256"], med["ES256"] / med["none"], med["RS256"],
                             med["RS256"] / med["none"], statistics.median(logins) * 1000), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fill", required=True, help="tests/bench/store-fill")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--only", choices=["gc", "notify", "auth"])
    args = ap.parse_args()
    out = {}
    if args.only in (None, "gc"):
        bench_gc(args.fill, out)
    if args.only in (None, "notify"):
        bench_notify(args.fill, out)
    if args.only in (None, "auth"):
        bench_auth(out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    tempfile.tempdir = None
    main()
