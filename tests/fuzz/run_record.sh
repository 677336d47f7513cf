#!/bin/sh
# Replay the record fuzz corpus and every regression (tests/fuzz/regressions/record), then the
# same inputs under a fixed number of deterministic mutations (tests/fuzz/replay.c).
set -eu
dir=$OCTOTEST_SRCDIR/tests/fuzz
set -- "$dir"/corpus/record/*
[ -d "$dir/regressions/record" ] && set -- "$@" "$dir"/regressions/record/*
FUZZ_ROUNDS=${FUZZ_ROUNDS:-2000} exec "$OCTOTEST_BUILDDIR/tests/fuzz/fuzz_record" "$@"
