#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `make install` into a staging directory (DESTDIR), then the installed files serve through
# lighttpd: the installed responder, example configuration and contrib/lighttpd files.
set -eu
stage=$(mktemp -d /tmp/octoserve-install-XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$stage"
}
trap cleanup EXIT
make -C "$OCTOTEST_BUILDDIR" install DESTDIR="$stage/root" >/dev/null
bin=$(find "$stage/root" -type f -name octoserve-fcgi)
config=$(find "$stage/root" -type f -path '*/octoserve/octoserve.json')
mkconf=$(find "$stage/root" -type f -path '*/contrib/lighttpd/mkconf.sh')
for f in "$bin" "$config" "$mkconf" \
	"$(dirname "$mkconf")/octoserve.conf" \
	"$(find "$stage/root" -type f -name octoserve-fcgi.8)" \
	"$(find "$stage/root" -type f -name octoserve-peer.8)" \
	"$(find "$stage/root" -type f -name octoserve-peer)" \
	"$(find "$stage/root" -type f -name octoserve-admin)" \
	"$(find "$stage/root" -type f -name octoserve-admin.8)" \
	"$(find "$stage/root" -type f -name octoserve.json.5)"; do
	[ -f "$f" ] || { echo "not installed: $f"; exit 1; }
done

"$(find "$stage/root" -type f -name octoserve-peer)" -c "$config" --check-config ||
	{ echo "the installed peer daemon refuses the installed configuration"; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export OCTOSERVE_SERVER_ADDRESS=127.0.0.1 OCTOSERVE_SERVER_PORT=$port
export OCTOSERVE_STORAGE_PATH="$stage/data" OCTOSERVE_LOG_OUTPUT="$stage/octoserve.log"
conf=$(sh "$mkconf" "$bin" "$stage/run" "$config")
lighttpd -D -f "$conf" &
pid=$!
i=0
until curl -sf "http://127.0.0.1:$port/v2/" >/dev/null; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "lighttpd did not come up"; exit 1; }
	sleep 0.1
done

admin=$(find "$stage/root" -type f -name octoserve-admin)
"$admin" -c "$config" check-config >/dev/null ||
	{ echo "the installed admin tool refuses the installed configuration"; exit 1; }
"$admin" -c "$config" stats | grep -q "^store $stage/data" ||
	{ echo "the installed admin tool does not read the store"; exit 1; }

head -c 1000000 /dev/urandom > "$stage/blob"
digest=sha256:$(sha256sum "$stage/blob" | cut -d' ' -f1)
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -T "$stage/blob" \
	-H 'Content-Type: application/octet-stream' \
	"http://127.0.0.1:$port/v2/installed/blobs/uploads?digest=$digest")
[ "$code" = 201 ] || { echo "push: $code"; exit 1; }
curl -sf -o "$stage/pulled" "http://127.0.0.1:$port/v2/installed/blobs/$digest"
cmp "$stage/blob" "$stage/pulled"
# the installed example configuration sends blobs with X-Sendfile
grep -q '"sendfile":1' "$stage/octoserve.log" || { echo "sendfile path not taken"; exit 1; }
echo "installed files serve: push 201, pull identical"

# The installed systemd units are valid (systemd-analyze verify; no systemd runs here) and
# name the installed responder: the copy checked points at the staged one.
if command -v systemd-analyze >/dev/null; then
	units=$(dirname "$(find "$stage/root" -type f -name octoserve-fcgi.service)")
	grep -q "ExecStart=$(echo "$bin" | sed "s|^$stage/root||") " "$units/octoserve-fcgi.service" ||
		{ echo "the installed unit does not name the installed responder"; exit 1; }
	mkdir "$stage/units"
	sed "s|ExecStart=[^ ]*|ExecStart=$bin|" "$units/octoserve-fcgi.service" > "$stage/units/octoserve-fcgi.service"
	cp "$units/octoserve-fcgi.socket" "$stage/units/"
	peer_bin=$(dirname "$bin")/octoserve-peer
	grep -q "ExecStart=$(echo "$peer_bin" | sed "s|^$stage/root||") " "$units/octoserve-peer.service" ||
		{ echo "the installed unit does not name the installed peer daemon"; exit 1; }
	sed "s|ExecStart=[^ ]*|ExecStart=$peer_bin|" "$units/octoserve-peer.service" > "$stage/units/octoserve-peer.service"
	admin_bin=$(dirname "$bin")/octoserve-admin
	grep -q "ExecStart=$(echo "$admin_bin" | sed "s|^$stage/root||") " "$units/octoserve-admin.service" ||
		{ echo "the installed unit does not name the installed admin tool"; exit 1; }
	sed "s|ExecStart=[^ ]*|ExecStart=$admin_bin|" "$units/octoserve-admin.service" > "$stage/units/octoserve-admin.service"
	systemd-analyze verify --man=no "$stage/units/octoserve-fcgi.socket" \
		"$stage/units/octoserve-fcgi.service" "$stage/units/octoserve-peer.service" \
		"$stage/units/octoserve-admin.service"
	echo "installed units verify"
fi
