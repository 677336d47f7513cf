#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The HTTP and real-client suites with the store's content in a bucket on a real Ceph
# (tests/s3/suites.py); the filesystem runs of the same suites are in HTTP_TESTS.
exec python3 "$OCTOTEST_SRCDIR/tests/s3/suites.py" tests/http/test_blobs.py \
	tests/http/test_manifests.py tests/http/test_gc.py:GcCases,GraceTest \
	tests/clients/test_clients.py
