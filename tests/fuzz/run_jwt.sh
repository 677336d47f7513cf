#!/bin/sh
# Replay the jwt fuzz corpus and every regression (tests/fuzz/regressions/jwt), then
# the same inputs under a fixed number of deterministic mutations (tests/fuzz/replay.c).
set -eu
dir=$OCTOTEST_SRCDIR/tests/fuzz
set -- "$dir"/corpus/jwt/*
[ -d "$dir/regressions/jwt" ] && set -- "$@" "$dir"/regressions/jwt/*
FUZZ_ROUNDS=${FUZZ_ROUNDS:-2000} exec "$OCTOTEST_BUILDDIR/tests/fuzz/fuzz_jwt" "$@"
