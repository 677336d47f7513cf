#!/bin/sh
# Replay the request fuzz corpus and every regression (tests/fuzz/regressions/request), then the
# same inputs under a fixed number of deterministic mutations (tests/fuzz/replay.c).
set -eu
dir=$OCTOTEST_SRCDIR/tests/fuzz
set -- "$dir"/corpus/request/*
[ -d "$dir/regressions/request" ] && set -- "$@" "$dir"/regressions/request/*
FUZZ_ROUNDS=${FUZZ_ROUNDS:-2000} exec "$OCTOTEST_BUILDDIR/tests/fuzz/fuzz_request" "$@"
