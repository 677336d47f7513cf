#!/bin/sh
# Replay the event fuzz corpus and every regression (tests/fuzz/regressions/event), then the
# same inputs under a fixed number of deterministic mutations (tests/fuzz/replay.c).
set -eu
dir=$OCTOTEST_SRCDIR/tests/fuzz
set -- "$dir"/corpus/event/*
[ -d "$dir/regressions/event" ] && set -- "$@" "$dir"/regressions/event/*
FUZZ_ROUNDS=${FUZZ_ROUNDS:-2000} exec "$OCTOTEST_BUILDDIR/tests/fuzz/fuzz_event" "$@"
