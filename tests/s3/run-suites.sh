#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The HTTP and real-client suites with the store's content in a bucket on a real Ceph
# (tests/s3/suites.py); the filesystem runs of the same suites are in HTTP_TESTS.
# Of test_blobs, test_gc and test_clients, the classes whose requests reach the
# store: routing, the limit on threads, timeouts, logs, sendfile, logins and TLS do not depend
# on where content lives, and the 1 GiB push measures the front's streaming (test_bucket
# pushes past a part as one body).
exec python3 "$OCTOTEST_SRCDIR/tests/s3/suites.py" \
	tests/http/test_blobs.py:BlobGetTest,TraversalTest,Sha512Test,UploadStartTest,UploadSessionTest,SessionLimitTest,MountTest,BlobDeleteTest,StreamingTest,LargeBodyTest.test_chunked_patch_100mib,ConcurrencyTest \
	tests/http/test_manifests.py tests/http/test_gc.py:GcCases,GraceTest \
	tests/clients/test_clients.py:TestSkopeo,TestPodmanBuildah,TestContainerd,TestDockerManifest
