#!/bin/sh
# Replay the auth fuzz corpus and every regression (tests/fuzz/regressions/auth), then
# the same inputs under a fixed number of deterministic mutations (tests/fuzz/replay.c).
set -eu
dir=$OCTOTEST_SRCDIR/tests/fuzz
set -- "$dir"/corpus/auth/*
[ -d "$dir/regressions/auth" ] && set -- "$@" "$dir"/regressions/auth/*
FUZZ_ROUNDS=${FUZZ_ROUNDS:-2000} exec "$OCTOTEST_BUILDDIR/tests/fuzz/fuzz_auth" "$@"
