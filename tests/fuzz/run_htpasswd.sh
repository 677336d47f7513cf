#!/bin/sh
# Replay the htpasswd fuzz corpus and every regression (tests/fuzz/regressions/htpasswd), then
# the same inputs under a fixed number of deterministic mutations (tests/fuzz/replay.c).
set -eu
dir=$OCTOTEST_SRCDIR/tests/fuzz
set -- "$dir"/corpus/htpasswd/*
[ -d "$dir/regressions/htpasswd" ] && set -- "$@" "$dir"/regressions/htpasswd/*
FUZZ_ROUNDS=${FUZZ_ROUNDS:-2000} exec "$OCTOTEST_BUILDDIR/tests/fuzz/fuzz_htpasswd" "$@"
