#!/bin/sh
# HTTP and real-client suites through nginx (contrib/nginx/octoserve.conf).
exec sh "$OCTOTEST_SRCDIR/tests/fronts/run-suites.sh" nginx
