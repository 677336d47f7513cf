#!/bin/sh
# Replay the manifest fuzz corpus and every regression (tests/fuzz/regressions/manifest), then the
# same inputs under a fixed number of deterministic mutations (tests/fuzz/replay.c).
set -eu
dir=$OCTOTEST_SRCDIR/tests/fuzz
set -- "$dir"/corpus/manifest/*
[ -d "$dir/regressions/manifest" ] && set -- "$@" "$dir"/regressions/manifest/*
FUZZ_ROUNDS=${FUZZ_ROUNDS:-2000} exec "$OCTOTEST_BUILDDIR/tests/fuzz/fuzz_manifest" "$@"
