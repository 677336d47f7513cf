#!/bin/sh
# Replay the configuration fuzz corpus with deterministic mutations (see tests/fuzz/replay.c).
exec "$OCTOSERVE_BUILDDIR/tests/fuzz/fuzz_config" "$OCTOSERVE_SRCDIR"/tests/fuzz/corpus/config/*
