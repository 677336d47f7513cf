#!/bin/sh
# Replay the request fuzz corpus with deterministic mutations (see tests/fuzz/replay.c).
exec "$OCTOSERVE_BUILDDIR/tests/fuzz/fuzz_request" "$OCTOSERVE_SRCDIR"/tests/fuzz/corpus/request/*
