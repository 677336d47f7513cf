#!/bin/sh
# Replay the peer fuzz corpus and every regression (tests/fuzz/regressions/peer), then the
# same inputs under a fixed number of deterministic mutations (tests/fuzz/replay.c).
set -eu
dir=$OCTOTEST_SRCDIR/tests/fuzz
set -- "$dir"/corpus/peer/*
[ -d "$dir/regressions/peer" ] && set -- "$@" "$dir"/regressions/peer/*
FUZZ_ROUNDS=${FUZZ_ROUNDS:-2000} exec "$OCTOTEST_BUILDDIR/tests/fuzz/fuzz_peer" "$@"
