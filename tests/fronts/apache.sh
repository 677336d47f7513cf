#!/bin/sh
# HTTP and real-client suites through Apache mod_proxy_fcgi (contrib/apache/octoserve.conf).
exec sh "$OCTOTEST_SRCDIR/tests/fronts/run-suites.sh" apache
