#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The responder, the peer daemon and the admin tool are built hardened (configure.ac): a read-only GOT resolved at start
# (relro, now), the stack protector, and fortified libc calls (not in sanitizer builds,
# which leave _FORTIFY_SOURCE out).
set -eu
fail=0
for bin in "$OCTOTEST_BUILDDIR/fcgi/octoserve-fcgi" "$OCTOTEST_BUILDDIR/peer/octoserve-peer" \
	"$OCTOTEST_BUILDDIR/admin/octoserve-admin"; do
	readelf -lW "$bin" | grep -q GNU_RELRO || { echo "FAIL: $bin: no GNU_RELRO segment"; fail=1; }
	readelf -dW "$bin" | grep -Eq 'BIND_NOW|Flags:.* NOW' ||
		{ echo "FAIL: $bin: not linked with -z now"; fail=1; }
	nm -D "$bin" | grep -q ' __stack_chk_fail' || { echo "FAIL: $bin: no stack protector"; fail=1; }
	if grep -q '^#define OCTO_SANITIZERS' "$OCTOTEST_BUILDDIR/autoconfig.h"; then
		echo "sanitizer build: _FORTIFY_SOURCE not expected"
	else
		nm -D "$bin" | grep -Eq ' __[a-z]+_chk' || { echo "FAIL: $bin: no fortified calls"; fail=1; }
	fi
done
[ $fail = 0 ] && echo "hardened: relro, now, stack protector, fortify"
exit $fail
