#!/bin/sh
# Replay the s3 fuzz corpus and every regression (tests/fuzz/regressions/s3), then
# the same inputs under a fixed number of deterministic mutations (tests/fuzz/replay.c).
set -eu
dir=$OCTOTEST_SRCDIR/tests/fuzz
set -- "$dir"/corpus/s3/*
[ -d "$dir/regressions/s3" ] && set -- "$@" "$dir"/regressions/s3/*
FUZZ_ROUNDS=${FUZZ_ROUNDS:-2000} exec "$OCTOTEST_BUILDDIR/tests/fuzz/fuzz_s3" "$@"
