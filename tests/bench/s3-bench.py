#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The store's content in S3 (make bench): workloads 1, 2, 3 and 5 of tests/bench/bench.py (a
512 MiB push, monolithic and in 8 MiB chunks; pulls whole, by half and by 64 KiB ranges; 32
clients pushing 50 small blobs and a manifest each) against Octoserve behind lighttpd with its
content in a bucket of a real single-node Ceph (tests/s3/ceph.py: mon, OSD, radosgw on
loopback, a fresh one each round), beside Octoserve's filesystem store, and beside Distribution
2.8 (Debian's docker-registry) with its S3 driver on the same radosgw and with its filesystem driver. Downloads
stream through both registries (Octoserve's storage.s3.redirect off, Distribution's redirect
disabled), so both do the same work. radosgw's own CPU is not counted in cpu s/GB (it serves
both). Prints medians [min-max] and the ratios octo-s3/dist-s3, octo-s3/octo-fs and
dist-s3/dist-fs."""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "s3"))

import bench  # noqa: E402
from ceph import Ceph  # noqa: E402

MiB = 1 << 20


class OctoFsTarget(bench.OctoserveTarget):
    def __init__(self, threads):
        super().__init__("lighttpd", threads)
        self.name = "octo-fs"


class OctoS3Target(bench.OctoserveTarget):
    def __init__(self, threads, ceph):
        super().__init__("lighttpd", threads)
        self.name = "octo-s3"
        self.ceph = ceph

    def start(self):
        os.environ["OCTOTEST_S3"] = json.dumps(self.ceph.settings())  # a bucket of its own
        try:
            self.reg = bench.harness.Registry(
                front="lighttpd", threads=self.threads,
                config={"fcgi": {"threads": self.threads},
                        "storage": {"s3": {"part_size": 10 * MiB}}})
        finally:
            del os.environ["OCTOTEST_S3"]
        self.reg.start()
        self.port = self.reg.port
        self.data_dir = self.reg.data
        return self


class DistFsTarget(bench.DistributionTarget):
    name = "dist-fs"


class DistS3Target(bench.DistributionTarget):
    """Distribution's S3 driver on the same radosgw, a bucket of its own, no redirects."""
    name = "dist-s3"

    def __init__(self, tmp, ceph):
        super().__init__(tmp, "distribution-s3")
        self.ceph = ceph

    def storage(self):
        s = self.ceph.settings()
        return """  s3:
    accesskey: {access_key}
    secretkey: {secret_key}
    region: {region}
    regionendpoint: {endpoint}
    forcepathstyle: true
    secure: false
    v4auth: true
    bucket: {bucket}
    chunksize: 10485760
    rootdirectory: /
  redirect:
    disable: true""".format(bucket=self.ceph.make_bucket("dist-" + os.urandom(6).hex()), **s)


class S3Bench(bench.Bench):
    WORKLOADS = {"1": "w1_push", "2": "w2_chunked", "3": "w3_pull", "5": "w5_pushes"}
    RATIO_COLS = ["s3/dist3", "s3/fs", "dist3/fs"]
    RATIO_KEYS = ["octo-s3/dist-s3", "octo-s3/octo-fs", "dist-s3/dist-fs"]

    @staticmethod
    def ratios(med):
        r = {}
        for a, b in (("octo-s3", "dist-s3"), ("octo-s3", "octo-fs"), ("dist-s3", "dist-fs")):
            if med.get(a) and med.get(b):
                r["%s/%s" % (a, b)] = med[a] / med[b]
        return r

    def make_targets(self, threads):
        return [OctoS3Target(threads, self.ceph), OctoFsTarget(threads),
                DistS3Target(self.tmp, self.ceph), DistFsTarget(self.tmp)]

    def run(self):
        """Each round on a Ceph and targets of its own: memstore keeps in RAM all that is
        written (a round's blobs, the sessions' objects, deleted objects until radosgw's
        collection), about 8 GB a round here."""
        self.tmp = tempfile.mkdtemp(prefix="octoserve-s3-bench-")
        self.www = os.path.join(self.tmp, "www")
        os.makedirs(os.path.join(self.www, "static"))
        try:
            for rnd in range(self.args.rounds or (1 if self.quick else 3)):
                print("round %d" % (rnd + 1), flush=True)
                self.ceph = Ceph(os.path.join(self.tmp, "ceph-%d" % rnd),
                                 memstore_bytes=16 << 30)
                self.targets = []
                try:
                    self.ceph.start()
                    self.targets = self.make_targets(self.args.threads)
                    for t in self.targets:
                        t.start()
                    for w, fn in self.WORKLOADS.items():
                        if self.args.only in (None, w):
                            getattr(self, fn)(rnd + 1)
                finally:
                    bench.stop_targets(self.targets)
                    self.ceph.stop()
                    shutil.rmtree(self.ceph.dir, ignore_errors=True)
        finally:
            if not self.args.keep:
                shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round, 64 MiB blobs, 8x10 small pushes")
    ap.add_argument("--rounds", type=int, help="rounds (default 3, --quick 1)")
    ap.add_argument("--only", choices=sorted(S3Bench.WORKLOADS), help="one workload")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--threads", type=int, default=8, help="fcgi.threads (8)")
    ap.add_argument("--duration", type=int, help="taken for make bench's BENCH_FLAGS: no timed runs here")
    ap.add_argument("--fcgi-bin", help="octoserve-fcgi to measure (default: the build's)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    args.null_responder = None
    tmp_bin = tempfile.mkdtemp(prefix="octoserve-s3-bench-bin-")
    failure = None
    started = time.time()
    b = None
    try:
        bench.prepare_binaries(args, tmp_bin)
        b = S3Bench(args)
        b.run()
    except bench.BenchFailure as e:
        failure = str(e)
        print("FAILED: " + failure, file=sys.stderr)
    finally:
        shutil.rmtree(tmp_bin, ignore_errors=True)
    if b is None:
        return 1
    return bench.report(b, args, started, failure, "Octoserve S3 benchmark",
                        "ratios of medians: octo-s3 over dist-s3 (s3/dist3), octo-s3 over "
                        "octo-fs (s3/fs), dist-s3 over dist-fs (dist3/fs)")


if __name__ == "__main__":
    sys.exit(main())
