#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The HTTP suites and the real-client suite through one web front (nginx or apache), each
# started from its contrib/ configuration by tests/http/fronts.py. usage: run-suites.sh FRONT
# For development, one front alone: OCTOTEST_FRONT=nginx python3 tests/http/test_blobs.py
set -u
OCTOTEST_FRONT=$1
export OCTOTEST_FRONT
status=0
for suite in tests/http/test_blobs.py tests/http/test_manifests.py tests/http/test_load.py tests/http/test_auth.py \
	tests/http/test_health.py tests/http/test_restart.py tests/http/test_metrics.py \
	tests/clients/test_clients.py; do
	echo "== $suite through $OCTOTEST_FRONT"
	python3 "$OCTOTEST_SRCDIR/$suite" || status=1
done
exit $status
