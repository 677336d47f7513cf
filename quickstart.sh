#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Octoserve quick start on Debian 12 (as root):
#   ./quickstart.sh serve [-c FILE] [--tls]
#                                     install what is missing, build, run lighttpd + the
#                                     responder in the foreground on http://localhost:5000
#                                     (--tls: https, with a private CA in run/<port>/tls/)
#   ./quickstart.sh cluster [N]       N nodes (default 3) on this machine, each lighttpd + the
#                                     responder + the peer daemon: registries on ports
#                                     5001..5000+N, peer ports 6001..6000+N, stores in
#                                     ./data-node1..N; Ctrl-C stops them all
#   ./quickstart.sh check             the same set-up, then every test (non-zero on failure)
# OCTOSERVE_* environment variables override the configuration, as everywhere.
set -eu
caller=$(pwd)
cd "$(dirname "$0")"
top=$(pwd)

# What the build and the quick start use, by Debian package; `check` adds what the tests
# and `make bench` use: the peer daemon's gRPC client tests (Debian's grpcio and grpc-tools),
# the real clients (tests/clients/PACKAGES), nginx and Apache as
# fronts, strace for the durability and fault tests, dnsmasq-base's dnsmasq for the DNS discovery test (the
# dnsmasq package would also install a service on port 53), openssl for the mutual TLS test's certificates,
# iproute2's ip for the network namespaces of the partition test, Ceph's mon, OSD and radosgw
# (ceph-mon, ceph-osd, radosgw, ceph-common) for the S3 client's tests against a real gateway,
# logrotate for the log rotation test,
# systemd for systemd-analyze (the units are verified; systemd never runs), binutils'
# readelf and nm for the house tests, the benchmark's tools (tests/bench/PACKAGES). The sanitizer build uses gcc's
# libasan and libubsan, which build-essential brings.
PACKAGES="build-essential autoconf automake libtool pkg-config
libfcgi-dev libssl-dev libjansson-dev uuid-dev libcmocka-dev
libgrpc-dev libprotobuf-c-dev protobuf-c-compiler libc-ares-dev libcurl4-openssl-dev libcrypt-dev libxml2-dev
lighttpd lighttpd-mod-openssl openssl python3 curl procps apache2-utils"
TEST_PACKAGES="ceph-mon ceph-osd radosgw ceph-common strace faketime iproute2 dnsmasq-base openssl python3-grpcio python3-grpc-tools logrotate systemd python3-prometheus-client nginx apache2 libapache2-mod-xsendfile $(cat tests/clients/PACKAGES)
$(cat tests/bench/PACKAGES)"

say() { printf '%s\n' "quickstart: $*" >&2; }

install_packages() {
	missing=
	for p in $PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		say "missing packages:$missing (run as root, or apt-get install them)"
		exit 1
	fi
	say "installing:$missing"
	# Keep Debian's lighttpd service from starting on port 80: we run our own.
	policy=/usr/sbin/policy-rc.d
	created_policy=
	if [ ! -e $policy ]; then
		printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy && created_policy=1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q || true
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
	[ -n "$created_policy" ] && rm -f $policy
	# Debian's docker-registry (the benchmark's reference) enables a service on port 5000,
	# the quick start's port: keep it off.
	case " $missing " in *" docker-registry "*)
		systemctl disable --now docker-registry 2>/dev/null ||
			update-rc.d docker-registry disable 2>/dev/null || true;;
	esac
	return 0
}

build() {
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
		autoreconf -fi
	fi
	if [ ! -f Makefile ] || [ configure -nt Makefile ]; then
		./configure --enable-werror
	fi
	make -j"$(nproc)"
}

# Whether address:port can be bound (what lighttpd is about to do).
port_free() {
	python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))' "$1" "$2" 2>/dev/null
}

# Whether a responder listens on a socket in the run directory.
socket_busy() {
	python3 -c 'import glob, socket, sys
for path in glob.glob(sys.argv[1] + "/octoserve-fcgi.sock*"):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        sys.exit(0)
    except OSError:
        pass
    finally:
        s.close()
sys.exit(1)' "$1"
}

# One instance per port: its run directory (lighttpd.conf, the pid file, the responder's
# socket, lighttpd's spool) is run/<port>/, so two instances from one checkout never share
# a socket or a file. Relative paths (-c FILE, storage.path and auth.htpasswd.path in the file
# or the environment) are relative to the directory the quick start is run from.
serve() {
	config= tls=
	while [ $# -gt 0 ]; do
		case $1 in
		-c) config=$2; shift 2
		    case $config in /*) ;; *) config=$caller/$config;; esac;;
		--tls) tls=1; shift;;
		*) say "unknown option $1"; exit 2;;
		esac
	done
	if [ -z "${built:-}" ]; then
		install_packages
		build
	fi
	# Without -c, the example configuration: port 5000, ./data, X-Sendfile.
	[ -n "$config" ] || config=$top/contrib/octoserve.json
	bin=$top/fcgi/octoserve-fcgi
	get() { "$bin" -c "$config" --config-get "$1"; }
	address=$(get server.address) port=$(get server.port) storage=$(get storage.path)
	case $storage in /*) ;; *) OCTOSERVE_STORAGE_PATH=$caller/$storage; export OCTOSERVE_STORAGE_PATH;; esac
	users=$(get auth.htpasswd.path)
	case $users in /* | "") ;; *) OCTOSERVE_AUTH_HTPASSWD_PATH=$caller/$users; export OCTOSERVE_AUTH_HTPASSWD_PATH;; esac
	"$bin" -c "$config" --check-config
	[ "$address" = localhost ] && host=127.0.0.1 || host=$address
	rundir=$top/run/$port
	if [ -f "$rundir/lighttpd.pid" ] && kill -0 "$(cat "$rundir/lighttpd.pid")" 2>/dev/null; then
		say "an instance already serves port $port (pid $(cat "$rundir/lighttpd.pid"), $rundir)"
		exit 1
	fi
	# A stopping instance has let the port go but still finishes its requests, its responder
	# listening on the socket here: a new lighttpd would take that socket for its own, and
	# serve nothing once the old one exits.
	if socket_busy "$rundir"; then
		say "the instance on port $port is still stopping (finishing its requests, at most server.shutdown_timeout); start again once it has"
		exit 1
	fi
	if ! port_free "$host" "$port"; then
		say "cannot serve on $address:$port: the port is in use (set server.port or OCTOSERVE_SERVER_PORT)"
		exit 1
	fi
	# --tls: HTTPS with a private CA made once into run/<port>/tls/ (contrib/mkcert.sh), so
	# clients log in without insecure flags once they trust tls/ca.crt.
	scheme=http pem=
	if [ -n "$tls" ]; then
		sh contrib/mkcert.sh "$rundir/tls" "$address"
		scheme=https pem=$rundir/tls/server.pem
	fi
	conf=$(contrib/lighttpd/mkconf.sh "$bin" "$rundir" "$config" 1 "" "$pem")
	# Its own session: Ctrl-C reaches this shell only, which asks lighttpd to stop gracefully;
	# lighttpd then finishes the requests in flight and stops the responder itself.
	setsid lighttpd -D -f "$conf" &
	pid=$!
	stopping=
	trap 'stopping=1; kill -INT $pid 2>/dev/null || true' INT TERM
	i=0
	until curl -fso /dev/null ${pem:+--cacert "$rundir/tls/ca.crt"} "$scheme://$host:$port/livez"; do
		if ! kill -0 $pid 2>/dev/null || [ $i -ge 200 ]; then
			say "lighttpd did not start: see $rundir/lighttpd-error.log"
			kill $pid 2>/dev/null || true
			exit 1
		fi
		i=$((i + 1))
		sleep 0.1
	done
	# With p2p.enabled, the peer daemon beside it, on the same configuration and store.
	peer_pid=
	if [ "$(get p2p.enabled)" = true ]; then
		"$top/peer/octoserve-peer" -c "$config" &
		peer_pid=$!
		trap 'stopping=1; kill -INT $pid 2>/dev/null || true; kill -TERM $peer_pid 2>/dev/null || true' INT TERM
		say "peer daemon: node $(get p2p.node_id), peer port $(get p2p.port)"
	fi
	[ -z "$pem" ] || say "TLS: clients trust $rundir/tls/ca.crt (README, Authentication)"
	say "serving on $scheme://$address:$port, store $(get storage.path) (Ctrl-C stops)"
	status=0
	while kill -0 $pid 2>/dev/null; do
		wait $pid && status=0 || status=$?
	done
	if [ -n "$peer_pid" ]; then
		kill -TERM "$peer_pid" 2>/dev/null || true
		wait "$peer_pid" 2>/dev/null || true
	fi
	# a wait the signal interrupted says 130; lighttpd's own status, once seen, counts
	[ -n "$stopping" ] && [ $status -gt 128 ] && status=0
	say "stopped"
	return $status
}

# N nodes of one cluster on this machine, as the original's README sets up two: node K
# serves the registry on port QUICKSTART_PORT_BASE+K (5000+K) and the peer port on
# QUICKSTART_PEER_PORT_BASE+K (6000+K), its store in ./data-nodeK, every other node its
# bootstrap peer; its configuration (contrib/octoserve.json with those keys) goes to
# run/cluster-<base>/nodeK.json. Each node is a serve in the background (which cannot take
# SIGINT): Ctrl-C here sends each a SIGTERM, which stops its lighttpd and its daemon.
cluster() {
	n=${1:-3}
	case $n in '' | *[!0-9]*) say "cluster: N must be a number of nodes"; exit 2;; esac
	if [ "$n" -lt 1 ] || [ "$n" -gt 9 ]; then
		say "cluster: from 1 to 9 nodes"
		exit 2
	fi
	install_packages
	build
	built=1
	base=${QUICKSTART_PORT_BASE:-5000} peer_base=${QUICKSTART_PEER_PORT_BASE:-6000}
	dir=$top/run/cluster-$base
	mkdir -p "$dir"
	python3 - "$top/contrib/octoserve.json" "$dir" "$caller" "$n" "$base" "$peer_base" <<'EOF'
import json, os, sys
example, out, caller = sys.argv[1:4]
n, base, peer_base = map(int, sys.argv[4:7])
for k in range(1, n + 1):
    with open(example) as f:
        cfg = json.load(f)
    cfg["server"]["port"] = base + k
    cfg["storage"]["path"] = os.path.join(caller, "data-node%d" % k)
    cfg["p2p"] = {"enabled": True, "node_id": "node%d" % k, "port": peer_base + k,
                  "bootstrap_peers": ["127.0.0.1:%d" % (peer_base + j)
                                      for j in range(1, n + 1) if j != k]}
    with open(os.path.join(out, "node%d.json" % k), "w") as f:
        json.dump(cfg, f, indent=2)
EOF
	pids=
	k=1
	while [ "$k" -le "$n" ]; do
		(serve -c "$dir/node$k.json") &
		pids="$pids $!"
		k=$((k + 1))
	done
	trap 'for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done' INT TERM
	for p in $pids; do
		while kill -0 "$p" 2>/dev/null; do
			wait "$p" || true
		done
	done
	say "cluster stopped"
}

# The unit and HTTP suites again under ASan, LeakSanitizer and UBSan, in a copy of the tree
# (a tree configured in place refuses a second configure): make check-sanitized.
check_sanitized() {
	dir=$top/build-sanitizers
	rm -rf "$dir"
	make distdir distdir="$dir" >/dev/null
	(cd "$dir" && ./configure --enable-sanitizers --enable-werror >/dev/null &&
		make -j"$(nproc)" >/dev/null && make check-sanitized -j"$(nproc)" VERBOSE=1)
}

check() {
	PACKAGES="$PACKAGES $TEST_PACKAGES"
	install_packages
	build
	make check -j"$(nproc)" VERBOSE=1
	check_sanitized
}

case ${1:-} in
serve) shift; serve "$@";;
cluster) shift; cluster "$@";;
check) shift; check "$@";;
*) echo "usage: $0 serve [-c FILE] [--tls] | cluster [N] | check" >&2; exit 2;;
esac
