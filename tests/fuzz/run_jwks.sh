#!/bin/sh
# Replay the jwks fuzz corpus and every regression (tests/fuzz/regressions/jwks), then
# the same inputs under a fixed number of deterministic mutations (tests/fuzz/replay.c).
set -eu
dir=$OCTOTEST_SRCDIR/tests/fuzz
set -- "$dir"/corpus/jwks/*
[ -d "$dir/regressions/jwks" ] && set -- "$@" "$dir"/regressions/jwks/*
FUZZ_ROUNDS=${FUZZ_ROUNDS:-2000} exec "$OCTOTEST_BUILDDIR/tests/fuzz/fuzz_jwks" "$@"
