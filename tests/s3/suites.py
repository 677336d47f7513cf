#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The HTTP and real-client suites with the store's content in S3: one single-node Ceph
(tests/s3/ceph.py) for them all, each registry with a bucket of its own (tests/http/harness.py
reads $OCTOTEST_S3). usage: suites.py SUITE[:CLASS,...]... (paths under the source tree; the
classes, when given, are the ones run)"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("OCTOTEST_SRCDIR", os.path.abspath(os.path.join(HERE, "..", "..")))
sys.path.insert(0, HERE)

from ceph import Ceph  # noqa: E402


def main(suites):
    tmp = tempfile.mkdtemp(prefix="octoserve-s3-suites-")
    ceph = Ceph(os.path.join(tmp, "ceph")).start()
    status = 0
    try:
        env = dict(os.environ, OCTOTEST_S3=json.dumps(ceph.settings()))
        for arg in suites:
            suite, _, classes = arg.partition(":")
            print("== %s with its content in S3" % arg, flush=True)
            cmd = [sys.executable, os.path.join(SRCDIR, suite)] + \
                [c for c in classes.split(",") if c]
            if subprocess.call(cmd, env=env) != 0:
                status = 1
    finally:
        ceph.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
