#!/bin/sh
# Replay the manifest fuzz corpus with deterministic mutations (see tests/fuzz/replay.c).
exec "$OCTOSERVE_BUILDDIR/tests/fuzz/fuzz_manifest" "$OCTOSERVE_SRCDIR"/tests/fuzz/corpus/manifest/*
