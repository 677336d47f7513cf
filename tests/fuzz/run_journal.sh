#!/bin/sh
# Replay the journal fuzz corpus and every regression (tests/fuzz/regressions/journal), then the
# same inputs under a fixed number of deterministic mutations (tests/fuzz/replay.c).
set -eu
dir=$OCTOTEST_SRCDIR/tests/fuzz
set -- "$dir"/corpus/journal/*
[ -d "$dir/regressions/journal" ] && set -- "$@" "$dir"/regressions/journal/*
FUZZ_ROUNDS=${FUZZ_ROUNDS:-2000} exec "$OCTOTEST_BUILDDIR/tests/fuzz/fuzz_journal" "$@"
