#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Unit tests under injected faults (strace -e inject=): the store without openat2 (an old
# kernel or a seccomp filter: ENOSYS), so its O_NOFOLLOW walk must refuse every planted
# symlink on its own; and an upload rollback whose ftruncate fails.
set -eu
unit=$OCTOTEST_BUILDDIR/tests/unit
command -v strace >/dev/null || { echo "strace is not installed (apt-get install strace)"; exit 1; }
# LeakSanitizer cannot run under ptrace.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
echo "== test_store with openat2 failing (ENOSYS)"
strace -f -qq -o /dev/null -e trace=openat2 -e inject=openat2:error=ENOSYS "$unit/test_store"
echo "== test_upload with ftruncate failing (EIO)"
OCTO_TEST_FTRUNCATE_FAILS=1 strace -f -qq -o /dev/null -e trace=ftruncate \
	-e inject=ftruncate:error=EIO "$unit/test_upload"
