#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Write a minimal lighttpd.conf that serves Octoserve from the settings of an Octoserve
# configuration (server.address, server.port, storage.path, timeouts), for the quick start
# and the tests. usage: mkconf.sh OCTOSERVE_FCGI RUNDIR [CONFIG_JSON [PROCS [FRONT_USERS [TLS_PEM]]]]
# PROCS: responder processes lighttpd runs (default 1; each has fcgi.threads threads).
# FRONT_USERS: an htpasswd file lighttpd authenticates every request with, passing the user
# (for auth.trust_front; contrib/lighttpd/trust-front.conf); "" for none.
# TLS_PEM: a certificate and its key in one PEM file (contrib/mkcert.sh): lighttpd serves HTTPS.
# Environment (OCTOSERVE_*) overrides apply, as they do for the responder itself.
set -eu
bin=$1 rundir=$2 config=${3:-} procs=${4:-1} front_users=${5:-} tls_pem=${6:-}
here=$(cd "$(dirname "$0")" && pwd)
get() { if [ -n "$config" ]; then "$bin" -c "$config" --config-get "$1"; else "$bin" --config-get "$1"; fi; }

address=$(get server.address)
port=$(get server.port)
storage=$(get storage.path)
mkdir -p "$rundir/tmp" "$rundir/empty" "$storage/blobs"
storage=$(cd "$storage" && pwd)
rundir=$(cd "$rundir" && pwd)
seconds() { # a duration of --config-get ("30s", "2m", "1h", "1500ms") in whole seconds
	d=$(get "$1")
	case $d in
	*ms) echo $(( ${d%ms} / 1000 ));;
	*s) echo "${d%s}";;
	*m) echo $(( ${d%m} * 60 ));;
	*h) echo $(( ${d%h} * 3600 ));;
	*) echo "$d";;
	esac
}
manifest_kb=$(( ($(get storage.max_manifest_size) + 1023) / 1024 + 64 ))
read_s=$(seconds server.read_timeout)
write_s=$(seconds server.write_timeout)
idle_s=$(seconds server.idle_timeout)
shutdown_s=$(seconds server.shutdown_timeout)
# lighttpd starts the responder in another directory: hand it the absolute storage path.
cmd="/usr/bin/env OCTOSERVE_STORAGE_PATH=$storage $bin"
[ -n "$config" ] && cmd="$cmd -c $(cd "$(dirname "$config")" && pwd)/$(basename "$config")"
[ "$address" = localhost ] && address=127.0.0.1

cat > "$rundir/lighttpd.conf" <<CONF
# Written by contrib/lighttpd/mkconf.sh; edit the Octoserve configuration instead.
server.document-root = "$rundir/empty"
server.bind = "$address"
server.port = $port
server.pid-file = "$rundir/lighttpd.pid"
server.errorlog = "$rundir/lighttpd-error.log"
server.upload-dirs = ( "$rundir/tmp" )
server.max-read-idle = $read_s
server.max-write-idle = $write_s
server.max-keep-alive-idle = $idle_s
# A graceful stop (SIGINT) waits for requests in flight as long as the responder does
# (server.shutdown_timeout), not lighttpd's default 8 s.
server.feature-flags += ( "server.graceful-shutdown-timeout" => $shutdown_s )
var.octoserve_cmd = "$cmd"
var.octoserve_blobs = "$storage/blobs"
var.octoserve_socket = "$rundir/octoserve-fcgi.sock"
var.octoserve_manifest_kb = $manifest_kb
var.octoserve_procs = $procs
CONF
if [ -n "$front_users" ]; then
	cat >> "$rundir/lighttpd.conf" <<CONF
var.octoserve_front_users = "$front_users"
include "$here/trust-front.conf"
CONF
fi
if [ -n "$tls_pem" ]; then
	cat >> "$rundir/lighttpd.conf" <<CONF
server.modules += ( "mod_openssl" )
ssl.engine = "enable"
ssl.pemfile = "$tls_pem"
CONF
fi
echo "include \"$here/octoserve.conf\"" >> "$rundir/lighttpd.conf"

echo "$rundir/lighttpd.conf"
