#!/bin/sh
# Replay the config fuzz corpus and every regression (tests/fuzz/regressions/config), then the
# same inputs under a fixed number of deterministic mutations (tests/fuzz/replay.c).
set -eu
dir=$OCTOTEST_SRCDIR/tests/fuzz
set -- "$dir"/corpus/config/*
[ -d "$dir/regressions/config" ] && set -- "$@" "$dir"/regressions/config/*
FUZZ_ROUNDS=${FUZZ_ROUNDS:-2000} exec "$OCTOTEST_BUILDDIR/tests/fuzz/fuzz_config" "$@"
